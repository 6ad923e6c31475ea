//! Bad input gives one line on stderr that names the problem and a non-zero exit, never a
//! panic. These need no hosts: they fail before anything connects.

use std::path::PathBuf;

fn prsh(args: &[&str]) -> (i32, String) {
    prtools_tests::run_refused(
        std::path::Path::new(env!("CARGO_BIN_EXE_prsh")),
        args,
        &scratch("home"),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prsh-cli-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_one_line(stderr: &str, needle: &str) {
    prtools_tests::assert_one_line_error("prsh", stderr, needle);
}

#[test]
fn bad_host_expression() {
    let (code, err) = prsh(&["-w", "node[5-", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "node[5-");
}

#[test]
fn backwards_range() {
    let (code, err) = prsh(&["-w", "node[9-1]", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "node[9-1]");
}

#[test]
fn missing_hostfile() {
    let (code, err) = prsh(&["-h", "/nonexistent/hosts", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "/nonexistent/hosts");
}

#[test]
fn unknown_group() {
    let (code, err) = prsh(&["-g", "nosuchgroup", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "nosuchgroup");
}

#[test]
fn zero_fanout() {
    let (code, err) = prsh(&["-f", "0", "-w", "a", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "fan-out must be at least 1");
}

#[test]
fn no_hosts() {
    let (code, err) = prsh(&["true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "no remote hosts");
}

#[test]
fn unknown_transport() {
    let (code, err) = prsh(&["-R", "telnet", "-w", "a", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "-R telnet");
}

#[test]
fn mistyped_flag_gets_a_suggestion() {
    let (code, err) = prsh(&["--jsn", "-w", "a", "true"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "--json");
}

/// Without a command, as pdsh, the commands come from standard input: none here.
#[test]
fn no_command_reads_commands_from_stdin() {
    let (code, err) = prsh(&["-w", "a"]);
    assert_eq!((code, err.as_str()), (0, ""));
}
