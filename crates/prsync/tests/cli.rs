//! Bad input gives one `prsync: ...` line on stderr and rsync's exit status, never a panic;
//! `--help` fits a terminal and starts with the common uses.

mod common;

use std::ffi::OsStr;
use std::fs;

use common::{prsync_bin, run_in, scratch};

/// Runs prsync and rsync with the same arguments in `dir`; returns both exit statuses and
/// prsync's stderr.
fn both(dir: &std::path::Path, args: &[&str]) -> (i32, i32, String) {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let p = run_in(prsync_bin(), &args, dir);
    let r = run_in(OsStr::new("rsync"), &args, dir);
    (
        p.status.code().unwrap_or(-1),
        r.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&p.stderr).into_owned(),
    )
}

fn assert_one_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr:?}");
    assert!(lines[0].starts_with("prsync: "), "{stderr:?}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

#[test]
fn missing_source() {
    let dir = scratch("cli-missing");
    let (p, r, err) = both(&dir, &["-a", "/nonexistent/prsync-src", "dst/"]);
    assert_eq!(p, r);
    assert_eq!(p, 23);
    assert_one_line(&err, "/nonexistent/prsync-src");
}

#[test]
fn bad_option() {
    let dir = scratch("cli-option");
    let (p, r, err) = both(&dir, &["-a", "--no-such-option", "a", "b"]);
    assert_eq!((p, r), (1, 1));
    assert_one_line(&err, "--no-such-option");
}

/// No path at all is a usage error; a source alone is listed, as rsync lists it (a missing
/// one is then a partial transfer, exit 23).
#[test]
fn missing_operands() {
    let dir = scratch("cli-operands");
    let (p, _, err) = both(&dir, &["-a"]);
    assert_eq!(p, 1);
    assert_one_line(&err, "DEST");
    let (p, r, err) = both(&dir, &["-a", "onlyone"]);
    assert_eq!((p, r), (23, 23));
    assert_one_line(&err, "onlyone");
}

#[test]
fn destination_parent_missing() {
    let dir = scratch("cli-dest-parent");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/f"), "x").unwrap();
    let (p, r, err) = both(&dir, &["-a", "src/", "/nonexistent/prsync/dst/"]);
    assert_eq!((p, r), (11, 11));
    assert_one_line(&err, "/nonexistent/prsync/dst");
}

#[test]
fn destination_below_a_file() {
    let dir = scratch("cli-dest-file");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("afile"), "x").unwrap();
    let (p, r, err) = both(&dir, &["-a", "src/", "afile/sub/"]);
    assert_eq!((p, r), (3, 3));
    assert_one_line(&err, "afile/sub");
}

#[test]
fn unwritable_destination_file_is_a_partial_transfer() {
    let dir = scratch("cli-unwritable");
    fs::create_dir_all(dir.join("src/x")).unwrap();
    fs::write(dir.join("src/x/f"), "x").unwrap();
    // A non-empty folder where the file `x/f` must go: without --delete neither tool may
    // remove it, so that one entry fails and the rest is copied.
    fs::create_dir_all(dir.join("dst/x/f/inner")).unwrap();
    let (p, r, err) = both(&dir, &["-a", "src/", "dst/"]);
    assert_eq!((p, r), (23, 23));
    assert_one_line(&err, "x/f");
}

#[test]
fn operands_on_two_hosts_are_refused_clearly() {
    let dir = scratch("cli-remote");
    let args: Vec<&OsStr> = ["-a", "node1:/tmp/x", "node2:/tmp/y"]
        .iter()
        .map(OsStr::new)
        .collect();
    let out = run_in(prsync_bin(), &args, &dir);
    assert_eq!(out.status.code(), Some(1));
    assert_one_line(&String::from_utf8_lossy(&out.stderr), "both remote");
}

/// A daemon's module, as a source or as the destination, `rsync://` or `host::`, is refused
/// in one line before anything is listed or sent (a push to one used to try to resolve
/// `localhost/module/` as a host name, after printing "sending incremental file list").
#[test]
fn a_daemon_module_anywhere_is_refused_in_one_line() {
    let dir = scratch("cli-daemon");
    fs::create_dir_all(dir.join("src")).unwrap();
    for operands in [
        ["src/", "rsync://localhost/mod/"],
        ["src/", "localhost::mod/"],
        ["rsync://localhost/mod/", "dst/"],
        ["localhost::mod/f", "dst/"],
    ] {
        let mut args = vec![OsStr::new("-av")];
        args.extend(operands.iter().map(OsStr::new));
        let out = run_in(prsync_bin(), &args, &dir);
        assert_eq!(out.status.code(), Some(1), "{operands:?}");
        assert!(out.stdout.is_empty(), "{operands:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_one_line(&stderr, "rsync daemons are not supported");
        assert!(stderr.contains(operands[0]) || stderr.contains(operands[1]));
    }
    assert!(!dir.join("dst").exists());
}

#[test]
fn help_fits_a_terminal_and_starts_with_examples() {
    let dir = scratch("cli-help");
    let out = run_in(prsync_bin(), &[OsStr::new("--help")], &dir);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    let examples = text.find("Examples:").expect("examples");
    let first = text[examples..].lines().nth(1).unwrap();
    assert!(first.contains("prsync -av src/ backup/"), "{first}");
    // -h is rsync's human-readable, never help.
    let out = run_in(
        prsync_bin(),
        &[
            OsStr::new("-h"),
            OsStr::new("/nonexistent/x"),
            OsStr::new("y"),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(23));
}

/// rsync's test suite and scripts probe an option with `rsync --OPTION --version`, and take
/// "unknown option" on stderr with a non-zero exit as "not built": prsync says it in rsync's
/// words, for long and short options alike.
#[test]
fn an_option_not_built_is_an_unknown_option_in_rsyncs_words() {
    let dir = scratch("cli-unknown");
    for option in ["--no-such-option", "--no-such-option=3", "-Y"] {
        let (p, r, err) = both(&dir, &[option, "--version"]);
        assert_eq!((p, r), (1, 1), "{option}");
        let name = option.split('=').next().unwrap();
        assert_one_line(&err, &format!("prsync: {name}: unknown option"));
    }
    // A known option with --version is a version print, as rsync's probe expects.
    let (p, r, _) = both(&dir, &["--inplace", "--version"]);
    assert_eq!((p, r), (0, 0));
}

/// `--version` starts as rsync's does, with the protocol number scripts read to learn which
/// options the command line takes.
#[test]
fn version_names_the_protocol_as_rsync_does() {
    let dir = scratch("cli-version");
    for program in [prsync_bin(), OsStr::new("rsync")] {
        let out = run_in(program, &[OsStr::new("--version")], &dir);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or_default();
        assert!(first.ends_with("  protocol version 32"), "{first}");
    }
}

/// `-VV` is JSON whose capabilities carry rsync's own names (the suite greps for
/// `"ACLs": true`), each answered for prsync; a name rsync does not print would never match.
#[test]
fn vv_names_capabilities_as_rsync_does() {
    let dir = scratch("cli-vv");
    let json = |program: &OsStr| -> serde_json::Value {
        let out = run_in(program, &[OsStr::new("-VV")], &dir);
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice(&out.stdout).expect("-VV prints JSON")
    };
    let ours = json(prsync_bin());
    let theirs = json(OsStr::new("rsync"));
    let names = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v["capabilities"]
            .as_object()
            .expect("capabilities")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(names(&ours), names(&theirs));
    assert_eq!(ours["capabilities"]["ACLs"], true);
    assert_eq!(ours["capabilities"]["xattrs"], true);
    assert_eq!(ours["capabilities"]["atimes"], true);
    assert_eq!(ours["capabilities"]["hardlinks"], true);
    assert_eq!(ours["program"], "prsync");
}
