//! Bad input gives one line on stderr that names the problem, and a non-zero exit, never a
//! panic. These fail before anything connects, so they need no hosts.

use std::path::PathBuf;

fn prcp(args: &[&str]) -> (i32, String) {
    prtools_tests::run_refused(
        std::path::Path::new(env!("CARGO_BIN_EXE_prcp")),
        args,
        &scratch("home"),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prcp-cli-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_one_line(stderr: &str, needle: &str) {
    prtools_tests::assert_one_line_error("prcp", stderr, needle);
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
