//! README.md's "Try it" section, pasted as a newcomer would: its commands run in order in one
//! fresh `bash` at the top of the checkout, and each block of them prints what the README
//! promises.
//!
//! The format is the one README.md explains to its reader: a ```` ```sh ```` block holds
//! commands; a ```` ```text ```` block right after it holds what they print, standard output
//! and error together, where a line `...` stands for any lines and `...` inside a line for any
//! text. A command block without one need only succeed.
//!
//! The walkthrough starts the named test cluster in `<workspace>/target/cluster`, so the test
//! refuses to run while one is up there (it would be someone's), and stops it whatever happens
//! once it has checked that.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prtools_tests::{assert_text_eq, Cluster};

/// The README section the test runs.
const SECTION: &str = "## Try it";

/// How long the whole walkthrough may take (the demo and the build are most of it).
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The line the script prints before each step, numbered from 1.
const STEP_MARK: &str = "### readme step ";
/// The line bash's ERR trap prints when a command fails.
const FAILED_MARK: &str = "### readme: failed";

/// One command block and what it promises to print.
#[derive(Debug)]
struct Step {
    /// The line of README.md the block starts on.
    line: usize,
    commands: String,
    expected: Option<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives in the workspace")
        .to_path_buf()
}

/// The command blocks of the section, in order, each with its output block.
fn steps(readme: &str) -> Vec<Step> {
    let start = readme
        .find(&format!("\n{SECTION}\n"))
        .unwrap_or_else(|| panic!("README.md has no '{SECTION}' section"));
    let first_line = readme[..start].lines().count() + 2;
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];

    let mut steps: Vec<Step> = Vec::new();
    let mut lines = section.lines().enumerate();
    let mut last_was_commands = false;
    while let Some((i, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let body = body.join("\n");
        let at = first_line + i;
        match info.trim() {
            "sh" => {
                steps.push(Step {
                    line: at,
                    commands: body,
                    expected: None,
                });
                last_was_commands = true;
            }
            "text" => {
                let step = steps
                    .last_mut()
                    .filter(|_| last_was_commands)
                    .unwrap_or_else(|| {
                        panic!("README.md:{at}: an output block must follow a command block")
                    });
                step.expected = Some(body);
                last_was_commands = false;
            }
            other => panic!(
                "README.md:{at}: '{other}' block in '{SECTION}': use ```sh for commands and \
                 ```text for what they print"
            ),
        }
    }
    steps
}

/// The whole walkthrough as one bash script: stop at the first failing command, name it, and
/// mark where each step's output starts.
fn script(steps: &[Step], root: &Path) -> String {
    let mut script = String::from("set -eE -o pipefail\n");
    script.push_str(&format!(
        "trap 'readme_status=$?; echo; echo \"{FAILED_MARK} with exit status $readme_status: \
         $BASH_COMMAND\"' ERR\n"
    ));
    script.push_str(&format!("cd '{}'\n", root.display()));
    for (n, step) in steps.iter().enumerate() {
        // The newline first: a step's output need not end with one.
        script.push_str(&format!("printf '\\n{STEP_MARK}{}\\n'\n", n + 1));
        script.push_str(&step.commands);
        script.push('\n');
    }
    script
}

/// The environment a newcomer's fresh shell would have, and what cargo needs to reuse this
/// build: no variable of this test run, of the tools (`WCOLL`, `PRTOOLS_*`), or of the shell.
fn clean_env(cmd: &mut Command) {
    cmd.env_clear();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let keep = matches!(
            name,
            "PATH"
                | "HOME"
                | "USER"
                | "LOGNAME"
                | "LANG"
                | "TMPDIR"
                | "XDG_RUNTIME_DIR"
                | "CARGO_HOME"
                | "CARGO_TARGET_DIR"
                | "CARGO_INCREMENTAL"
                | "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC_WRAPPER"
        ) || name.starts_with("LC_")
            || name.starts_with("RUSTUP_")
            || name.starts_with("CARGO_BUILD_")
            || name.starts_with("CARGO_PROFILE_");
        if keep {
            cmd.env(name, value);
        }
    }
    // The cargo running this test first, so that the walkthrough builds with the same one.
    if let Some(dir) = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|c| c.parent().map(Path::to_path_buf))
    {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).expect("PATH joins"));
    }
}

/// Stops the named cluster when dropped, whether the walkthrough stopped it or not.
struct ClusterGuard(PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Ok(cluster) = Cluster::attach(&self.0) {
            if let Err(e) = cluster.down() {
                eprintln!(
                    "readme: cannot stop the cluster in {}: {e}",
                    self.0.display()
                );
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `got` reads as `pattern`, where a `...` line stands for any lines.
fn lines_match(pattern: &[&str], got: &[&str]) -> bool {
    match pattern.split_first() {
        None => got.is_empty(),
        Some((&"...", rest)) => (0..=got.len()).any(|skip| lines_match(rest, &got[skip..])),
        Some((first, rest)) => got
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && lines_match(rest, more)),
    }
}

/// Whether `line` reads as `pattern`, where `...` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("...").collect();
    let [first, middle @ .., last] = &parts[..] else {
        return pattern == line;
    };
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The lines of a block, trailing spaces and blank lines at the end dropped.
fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Each step's output, cut at the marks; the last entry may be a failed step's.
fn outputs(log: &str) -> Vec<String> {
    let mut outputs: Vec<String> = Vec::new();
    for line in log.lines() {
        if line.starts_with(STEP_MARK) {
            outputs.push(String::new());
        } else if let Some(out) = outputs.last_mut() {
            out.push_str(line);
            out.push('\n');
        }
    }
    outputs
}

#[test]
fn the_try_it_section_works_as_pasted() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let steps = steps(&readme);
    assert!(steps.len() >= 5, "too few steps in '{SECTION}': {steps:?}");
    for step in &steps {
        assert!(
            !step.commands.contains("cargo test"),
            "README.md:{}: the walkthrough must not run `cargo test` (this test is one)",
            step.line
        );
    }

    let cluster_dir = root.join("target").join("cluster");
    if let Ok(cluster) = Cluster::attach(&cluster_dir) {
        assert!(
            (1..=cluster.len()).all(|i| cluster.processes(i).is_empty()),
            "a test cluster is already running in {}: the README's `cargo xtask cluster up` \
             would refuse to start.\nhint: stop it with `cargo xtask cluster down` and run \
             this test again",
            cluster_dir.display()
        );
    }
    // From here on, whatever runs in target/cluster was started by this test.
    let _guard = ClusterGuard(cluster_dir);

    let scratch = root.join("target").join("readme-test");
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let script_path = scratch.join("walkthrough.sh");
    let log_path = scratch.join("walkthrough.log");
    std::fs::write(&script_path, script(&steps, &root)).expect("writing the script");
    // A file, not a pipe: ssh masters may hold the output open after bash has exited.
    let log = std::fs::File::create(&log_path).expect("the log");
    let mut bash = Command::new("bash");
    bash.args(["--noprofile", "--norc"])
        .arg(&script_path)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log"))
        .stderr(log);
    clean_env(&mut bash);
    let started = Instant::now();
    let mut child = bash.spawn().expect("bash starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for bash") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // A poll interval while the walkthrough runs, not a synchronisation.
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("readme: the walkthrough took {:.0?}", started.elapsed());
    let log = std::fs::read_to_string(&log_path).expect("the log");
    let outputs = outputs(&log);

    let failed = !matches!(status, Some(s) if s.success());
    if failed {
        let n = outputs.len().max(1);
        let step = &steps[n - 1];
        let why = match status {
            None => format!("did not finish within {TIMEOUT:?}"),
            Some(s) => format!("failed ({s})"),
        };
        panic!(
            "\nREADME.md:{}: step {n} {why}:\n{}\n\noutput:\n{}\n(whole log: {})",
            step.line,
            step.commands,
            outputs.last().map_or("", String::as_str),
            log_path.display()
        );
    }
    assert_eq!(
        outputs.len(),
        steps.len(),
        "every step should have run; log: {}",
        log_path.display()
    );
    for (n, (step, got)) in steps.iter().zip(&outputs).enumerate() {
        let Some(expected) = &step.expected else {
            continue;
        };
        if !lines_match(&lines(expected), &lines(got)) {
            eprintln!(
                "README.md:{}: step {} printed what its output block does not promise",
                step.line,
                n + 1
            );
            assert_text_eq!(expected.trim_end().to_string(), got.trim_end().to_string());
        }
    }
}

#[test]
fn ellipses_stand_for_any_lines_and_any_text() {
    let got = ["cargo: Finished", "started node[1-4], ports 1,2", "done"];
    assert!(lines_match(
        &["...", "started ..., ports ...", "done"],
        &got
    ));
    assert!(lines_match(&["...", "done"], &got));
    assert!(lines_match(&["..."], &[]));
    assert!(!lines_match(&["started ...", "done"], &got));
    assert!(!lines_match(&["...", "started node[1-4]"], &got));
    assert!(line_matches("a...c...e", "abcde"));
    assert!(!line_matches("ab...bc", "abc"));
    assert!(line_matches("exact", "exact"));
    assert!(!line_matches("exact", "exactly"));
}

#[test]
fn commands_pair_with_the_output_block_after_them() {
    let readme = "# x\n\n## Try it\n\n```sh\necho a\n```\n\ntext\n\n```text\na\n```\n\n\
                  ```sh\ntrue\n```\n\n## Next\n\n```sh\nnot this\n```\n";
    let steps = steps(readme);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].commands, "echo a");
    assert_eq!(steps[0].expected.as_deref(), Some("a"));
    assert_eq!(steps[0].line, 5);
    assert_eq!(steps[1].expected, None);
}
