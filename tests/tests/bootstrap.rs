//! The agent cache on a host, as the real tools leave it: one build per tool, and never a
//! copy that differs from the build that runs it.
//!
//! A new build is simulated by a copy of the built tool with bytes appended: its SHA-256,
//! which covers the whole file, and so its cache folder are its own, and an ELF runs the same
//! with a tail it never loads.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use prtools_tests::{bin, run, text, TestCluster};

/// A copy of `tool` tagged with `tag`, in the test's scratch folder.
fn build(tc: &TestCluster, tool: &str, tag: &str) -> PathBuf {
    let path = tc.scratch("builds").join(format!("{tool}-{tag}"));
    let mut bytes = std::fs::read(bin(tool)).unwrap();
    bytes.extend_from_slice(format!("\nprtools test build {tag}\n").as_bytes());
    prtools_tests::write_executable(&path, &bytes);
    path
}

/// The cache folder a build lands in: its version, this machine and the first 16 hex
/// digits of the SHA-256 of the whole file.
fn folder_of(exe: &Path) -> String {
    let tool = exe.file_name().unwrap().to_str().unwrap();
    prtools_transport::LocalAgent::from_file(exe, tool, env!("CARGO_PKG_VERSION"))
        .unwrap()
        .cache_dir_name()
}

fn sha256(bytes_on: &Path) -> String {
    let out = Command::new("sha256sum").arg(bytes_on).output().unwrap();
    text(&out.stdout)[..64].to_string()
}

/// Runs build `exe` of prcp: copies a small file to `/tmp/f` on node1, with `--stats`, and
/// returns its `agents uploaded:` count.
fn prcp_to_node1(tc: &TestCluster, exe: &Path) -> u32 {
    let file = tc.scratch("src").join("f");
    std::fs::write(&file, "x").unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("-F").arg(tc.cluster.ssh_config());
    tc.isolate(&mut cmd);
    let out = run(cmd
        .args(["-w", "node1", "--stats"])
        .arg(&file)
        .arg("/tmp/f"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("agents uploaded:"))
        .unwrap_or_else(|| panic!("no 'agents uploaded:' in {stdout}"))
        .trim()
        .parse()
        .unwrap()
}

/// Runs build `exe` of prsync: pushes a small file to node1.
fn prsync_to_node1(tc: &TestCluster, exe: &Path) {
    let file = tc.scratch("src").join("g");
    std::fs::write(&file, "y").unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("-e")
        .arg(format!("ssh -F {}", tc.cluster.ssh_config().display()));
    tc.isolate(&mut cmd);
    let out = run(cmd.arg(&file).arg("node1:/tmp/g"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Runs `command` on node1 and returns its stdout; it must succeed.
fn on_node1(tc: &TestCluster, command: &str) -> String {
    let out = tc.cluster.ssh(1).arg(command).output().unwrap();
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn three_builds_leave_one_agent_per_tool() {
    let tc = TestCluster::start(1);
    // The control sockets' folder and a folder of the user's are no agents: they stay.
    on_node1(&tc, "mkdir -p ~/.cache/prtools/ctl ~/.cache/prtools/mine");
    let syncs = [build(&tc, "prsync", "a"), build(&tc, "prsync", "b")];
    for exe in &syncs {
        prsync_to_node1(&tc, exe);
    }
    let copies = [
        build(&tc, "prcp", "1"),
        build(&tc, "prcp", "2"),
        build(&tc, "prcp", "3"),
    ];
    for exe in &copies {
        assert_eq!(
            prcp_to_node1(&tc, exe),
            1,
            "{} was not uploaded",
            exe.display()
        );
    }
    let listing = on_node1(&tc, "ls -A ~/.cache/prtools");
    let mut expected = vec![
        folder_of(&copies[2]),
        folder_of(&syncs[1]),
        "ctl".to_string(),
        "mine".to_string(),
    ];
    expected.sort();
    let mut got: Vec<&str> = listing.lines().collect();
    got.sort();
    assert_eq!(got, expected);
    // The one left is the last build, whole.
    let cached = tc
        .cluster
        .agent_cache()
        .join(folder_of(&copies[2]))
        .join("prcp");
    assert_eq!(sha256(&cached), sha256(&copies[2]));
}

/// The cached agent changed in place, one byte, in the same second as the ctime its seal
/// records, with its mtime set back: what a careful attacker or a stray `dd` does. Only the
/// ctime, which nobody can set back, tells, and only to the nanosecond; the next run must
/// upload again, not run a copy whose SHA-256 differs from its own.
#[test]
fn a_same_second_change_to_the_cached_agent_is_caught() {
    use std::os::unix::fs::{FileExt, MetadataExt};

    let tc = TestCluster::start(1);
    let exe = build(&tc, "prcp", "tampered");
    let cached = tc.cluster.agent_cache().join(folder_of(&exe)).join("prcp");
    let seal = cached.with_extension("seal");
    assert_eq!(prcp_to_node1(&tc, &exe), 1);
    // The change must land in the second the seal recorded, as an attacker who watches for
    // the seal would make it: a try that falls into the next second is made again.
    let mut in_time = false;
    for _ in 0..20 {
        // A harmless change (a chmod), then a run that checks and seals again (or uploads
        // again, after a try that missed its second).
        std::fs::set_permissions(&cached, std::fs::Permissions::from_mode(0o755)).unwrap();
        prcp_to_node1(&tc, &exe);
        let Ok(sealed) = std::fs::read_to_string(&seal) else {
            continue;
        };
        let sealed_ctime = sealed.trim_end().rsplit(':').next().unwrap().to_string();
        let before = std::fs::metadata(&cached).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&cached)
            .unwrap();
        // The last byte: the tag, not the code, so the changed copy still runs.
        file.write_at(b"X", before.len() - 1).unwrap();
        drop(file);
        let touched = Command::new("touch")
            .arg("-d")
            .arg(format!("@{}.{:09}", before.mtime(), before.mtime_nsec()))
            .arg(&cached)
            .status()
            .unwrap();
        assert!(touched.success());
        let after = std::fs::metadata(&cached).unwrap();
        if sealed_ctime.split('.').next() == Some(&after.ctime().to_string()) {
            in_time = true;
            break;
        }
    }
    assert!(in_time, "no change landed in its seal's second");
    assert_ne!(sha256(&cached), sha256(&exe));

    assert_eq!(prcp_to_node1(&tc, &exe), 1, "the changed copy was run");
    assert_eq!(sha256(&cached), sha256(&exe));
    assert_eq!(prcp_to_node1(&tc, &exe), 0);
}
