//! Bad input gives one line on stderr that names the problem, and a non-zero exit, never a
//! panic. These fail before anything connects, so they need no hosts.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn prcp(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prcp"))
        .args(args)
        .env_remove("WCOLL")
        .stdin(Stdio::null())
        .output()
        .expect("prcp runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prcp-cli-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_one_line(stderr: &str, needle: &str) {
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line expected, got:\n{stderr}"
    );
    assert!(stderr.starts_with("prcp: "), "{stderr}");
    assert!(stderr.contains(needle), "'{needle}' not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_source() {
    let (code, err) = prcp(&["-w", "node1", "/nonexistent/src", "/tmp"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "/nonexistent/src");
}

#[test]
fn directory_without_r() {
    let dir = scratch("dir");
    let (code, err) = prcp(&["-w", "node1", dir.to_str().unwrap(), "/tmp"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "-r");
}

#[test]
fn bad_host_expression() {
    let file = scratch("file").join("f");
    std::fs::write(&file, "x").unwrap();
    let (code, err) = prcp(&["-w", "node[5-", file.to_str().unwrap(), "/tmp"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "node[5-");
}

#[test]
fn too_few_operands() {
    let (code, err) = prcp(&["-w", "node1", "/tmp"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "SRC... DEST");
}

#[test]
fn gather_into_a_missing_local_folder() {
    let (code, err) = prcp(&["--gather", "-w", "node1", "/etc/hosts", "/nonexistent/dir"]);
    assert_ne!(code, 0);
    assert_one_line(&err, "/nonexistent/dir");
}
