//! prsh against the installed pdsh on the same command lines (issue 13): where pdsh's rules
//! differ from clap's or from ssh's, pdsh's win. `-R exec` runs each host's command on this
//! machine, so most of these need no test hosts.

use std::process::Command;

use prtools_tests::{assert_text_eq, bin, run, text};

/// The same arguments through pdsh and through prsh: exit status, stdout, stderr.
fn both(args: &[&str]) -> [(Option<i32>, String, String); 2] {
    [Command::new("pdsh"), Command::new(bin("prsh"))].map(|mut cmd| {
        let out = run(cmd
            .args(args)
            .env_remove("WCOLL")
            .env_remove("PDSH_RCMD_TYPE")
            .env("NO_COLOR", "1"));
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    })
}

#[test]
fn options_end_at_the_first_word_of_the_command() {
    for args in [
        &["-Rexec", "-w", "foo", "echo", "-l", "/dev/null"][..],
        &["-f4", "-Rexec", "-w", "foo", "echo", "-a"],
        &["-SRexec", "-wfoo", "echo", "-l", "x"],
        &["-lroot", "-Rexec", "-wfoo", "echo", "%u", "-l"],
        &["-R", "exec", "-w", "foo", "--", "echo", "-w", "bar"],
    ] {
        let [pdsh, prsh] = both(args);
        assert_eq!(pdsh.0, Some(0), "pdsh {args:?}: {}", pdsh.2);
        assert_eq!(prsh.0, pdsh.0, "{args:?}: {}", prsh.2);
        assert_text_eq!(pdsh.1, prsh.1);
    }
}

#[test]
fn exec_templates_escape_as_pdsh() {
    let [pdsh, prsh] = both(&["-Rexec", "-w", "foo", "echo", "100%%", "%%h", "%h:%n", "%x"]);
    assert_text_eq!("foo: 100% %h foo:0 %x\n", pdsh.1);
    assert_text_eq!(pdsh.1, prsh.1);
}

/// What a host printed is passed on byte for byte in every mode but the prefixed lines,
/// which end each line as pdsh's readers expect.
#[test]
fn output_keeps_its_bytes_in_every_mode() {
    let printf = ["printf", "abc\\ndef"];
    let exec = |extra: &[&str]| {
        let out = run(Command::new(bin("prsh"))
            .args(["-R", "exec", "-w", "foo"])
            .args(extra)
            .args(printf)
            .env("NO_COLOR", "1"));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out.stdout
    };
    let [pdsh, prsh] = both(&["-Rexec", "-w", "foo", "-N", "printf", "abc\\ndef"]);
    assert_text_eq!("abc\ndef", pdsh.1);
    assert_text_eq!(pdsh.1, prsh.1);
    assert_eq!(exec(&["-N"]), b"abc\ndef");
    assert_eq!(exec(&[]), b"foo: abc\nfoo: def\n");
    assert_eq!(
        exec(&["-b"]),
        b"----------------\nfoo\n----------------\nabc\ndef\n"
    );

    let dir = std::env::temp_dir().join(format!("prsh-bytes-{}", std::process::id()));
    exec(&["-o", dir.to_str().unwrap()]);
    let written = std::fs::read(dir.join("foo"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(written.unwrap(), b"abc\ndef");

    // A binary output of 1000 bytes comes back as 1000 bytes, in base64 when not UTF-8.
    let binary = run(Command::new(bin("prsh")).args([
        "-R",
        "exec",
        "-w",
        "foo",
        "--json",
        "sh",
        "-c",
        "head -c 1000 /dev/urandom",
    ]));
    let object: serde_json::Value = serde_json::from_slice(&binary.stdout).unwrap();
    let bytes = object["stdout_base64"].as_str().map(|b| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(b).unwrap()
    });
    assert_eq!(bytes.map(|b| b.len()), Some(1000), "{object}");
}

/// A `while read` loop over a host list runs every host: as pdsh, prsh does not read the
/// loop's standard input unless asked with -I.
#[test]
fn a_while_read_loop_runs_every_host() {
    for tool in [
        Command::new("pdsh").get_program().to_owned(),
        bin("prsh").into_os_string(),
    ] {
        let out = run(Command::new("bash")
            .arg("-c")
            .arg("printf 'a\\nb\\nc\\n' | while read h; do \"$0\" -Rexec -w \"$h\" echo %h; done")
            .arg(&tool)
            .env_remove("WCOLL"));
        assert_text_eq!("a: a\nb: b\nc: c\n", text(&out.stdout));
    }
}

/// -b gathers by output alone, as `pdsh | dshbak -c` does; the exit status is named on stderr.
#[test]
fn b_gathers_as_dshbak_whatever_the_exit_status() {
    let script = "echo same; test %h = n1";
    let dshbak = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "pdsh -Rexec -w n1,n2 sh -c '{script}' 2>/dev/null | dshbak -c"
        ))
        .env_remove("WCOLL"));
    let prsh =
        run(Command::new(bin("prsh")).args(["-Rexec", "-w", "n1,n2", "-b", "sh", "-c", script]));
    assert_text_eq!(
        "----------------\nn[1-2]\n----------------\nsame\n",
        text(&dshbak.stdout)
    );
    assert_text_eq!(text(&dshbak.stdout), text(&prsh.stdout));
    assert_eq!(prsh.status.code(), Some(1));
    assert_text_eq!("prsh: n2: exited with status 1\n", text(&prsh.stderr));
}

/// The last line of `-Q`, the hosts one by one, for the same selection through both tools.
fn selected(args: &[&str], dir: &std::path::Path) -> [String; 2] {
    [Command::new("pdsh"), Command::new(bin("prsh"))].map(|mut cmd| {
        let out = run(cmd
            .arg("-Q")
            .args(args)
            .current_dir(dir)
            .env_remove("WCOLL"));
        let stdout = text(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_string();
        format!(
            "{:?} {last} {}",
            out.status.code(),
            text(&out.stderr).lines().count()
        )
    })
}

/// pdsh's host-list operators, in -w, -x, host files and their #include lines (issue 13).
#[test]
fn host_list_operators_select_as_pdsh() {
    let dir = std::env::temp_dir().join(format!("prsh-operators-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("wcoll"), "foo[9-11]\nfoo12\n").unwrap();
    std::fs::write(dir.join("sub/A"), "foo1\n#include B\n").unwrap();
    std::fs::write(dir.join("sub/B"), "foo2 # a comment\n").unwrap();
    for args in [
        &["-w", "foo[9-11],-foo10"][..],
        &["-w", "foo[8-12],-^wcoll"],
        &["-w", "foo[0-20],/0$/"],
        &["-w", "foo[0-20],-/[1-9]$/"],
        &["-w", "foo[0-20]", "-x/[1-9]$/"],
        &["-w", "foo[0-20]", "-w-/[1-9]$/"],
        &["-w", "foo1,bar1", "-w/^foo/"],
        &["-w", "foo[8-13]", "-x^wcoll"],
        &["-w", "^sub/A"],
        &["-w", "exec:foo[1-3]"],
    ] {
        let [pdsh, prsh] = selected(args, &dir);
        assert_eq!(pdsh, prsh, "{args:?}");
    }
    // With nothing left, both say so and fail.
    let out = run(Command::new(bin("prsh")).args(["-w", "node1,-node1", "true"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("prsh: no remote hosts specified"));
    // `-w -` reads the hosts from standard input.
    let out = run(Command::new("sh")
        .arg("-c")
        .arg("echo foo1,foo2 | \"$0\" -Q -w - -w foo4 | tail -1")
        .arg(bin("prsh")));
    assert_text_eq!("foo1,foo2,foo4\n", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `exec:` before hosts reaches them by -R exec, whatever -R says, user and all.
#[test]
fn rcmd_prefixes_choose_the_transport_per_host() {
    let [pdsh, prsh] = both(&["-S", "-w", "exec:bar@foo[1-3]", "test", "%u", "=", "bar"]);
    assert_eq!(pdsh.0, Some(0));
    assert_eq!(prsh.0, Some(0), "{}", prsh.2);
}

/// A folder holding an `ssh` that prints its arguments, as pdsh's own suite fakes ssh, to
/// put first in PATH.
fn echoing_ssh() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("prsh-fake-ssh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ssh = dir.join("ssh");
    prtools_tests::write_executable(&ssh, b"#!/bin/sh\necho \"$@\"\n");
    dir
}

/// The environment, the extra arguments, and what the fake ssh must be given.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);

/// A named -R ssh runs ssh per host as pdsh does: PDSH_SSH_ARGS, PDSH_SSH_ARGS_APPEND,
/// DSHPATH, -l only for another user.
#[test]
fn a_named_ssh_transport_builds_pdshs_command_lines() {
    let dir = echoing_ssh();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    let cases: [Case; 5] = [
        (
            &[("PDSH_SSH_ARGS", "-p 922 -l%u %h")],
            &["-luser"],
            "-p 922 -luser foo hostname",
        ),
        (
            &[("PDSH_SSH_ARGS", "-p 777")],
            &["-ltestuser"],
            "-p 777 -ltestuser foo hostname",
        ),
        (
            &[
                ("PDSH_SSH_ARGS_APPEND", "-p 922"),
                ("PDSH_SSH_ARGS", "-x -a -l%u %h"),
            ],
            &["-lfoouser"],
            "-p 922 -x -a -lfoouser foo hostname",
        ),
        (
            &[("DSHPATH", "/test/path")],
            &[],
            "foo PATH=/test/path; hostname",
        ),
        (&[], &[], "-a -x foo hostname"),
    ];
    for (env, args, expected) in cases {
        for tool in [
            std::ffi::OsString::from("pdsh"),
            bin("prsh").into_os_string(),
        ] {
            let out = run(Command::new(&tool)
                .args(["-Rssh", "-wfoo"])
                .args(args)
                .arg("hostname")
                .env("PATH", &path)
                .env_remove("PDSH_SSH_ARGS")
                .env_remove("PDSH_SSH_ARGS_APPEND")
                .env_remove("DSHPATH")
                .envs(env.iter().copied()));
            let stdout = text(&out.stdout);
            assert!(
                stdout.contains(expected),
                "{tool:?} {env:?} {args:?}: {stdout}"
            );
            assert!(
                !stdout.contains("-l") || !args.is_empty(),
                "{tool:?}: {stdout}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// -k fails fast, with exit status 1, as pdsh -k; -S returns the largest status.
#[test]
fn fail_fast_and_largest_status_as_pdsh() {
    for (flag, expected) in [("-k", 1), ("-S", 7)] {
        let [pdsh, prsh] = both(&[
            flag,
            "-Rexec",
            "-w",
            "a,b",
            "sh",
            "-c",
            "test %h = b && exit 7; true",
        ]);
        assert_eq!(pdsh.0, Some(expected), "pdsh {flag}: {}", pdsh.2);
        assert_eq!(prsh.0, Some(expected), "prsh {flag}: {}", prsh.2);
    }
}
