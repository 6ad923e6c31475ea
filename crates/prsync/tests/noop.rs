//! A run that finds nothing to do costs a look per entry, not one per path component or
//! two per file: counted in system calls (strace), which a slow receiver cannot hide.

mod common;

use std::fs;
use std::process::Command;

use common::{prsync_bin, scratch};

/// Folders and files of the tree: 4 levels of 3 folders (120 folders), 5 files in each.
const LEVELS: usize = 4;
const FANOUT: usize = 3;
const FILES_PER_DIR: usize = 5;

fn make(dir: &std::path::Path, level: usize) -> (usize, usize) {
    fs::create_dir_all(dir).unwrap();
    let mut counts = (1, 0);
    for f in 0..FILES_PER_DIR {
        fs::write(dir.join(format!("f{f}")), format!("{f}")).unwrap();
        counts.1 += 1;
    }
    if level < LEVELS {
        for d in 0..FANOUT {
            let (dirs, files) = make(&dir.join(format!("d{d}")), level + 1);
            counts.0 += dirs;
            counts.1 += files;
        }
    }
    counts
}

/// The system calls of `prsync ARGS` (strace), one a line.
fn trace(args: &[&str], cwd: &std::path::Path) -> String {
    let out = Command::new("strace")
        .args(["-f", "-o", "trace"])
        .arg(prsync_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("strace runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read_to_string(cwd.join("trace")).unwrap()
}

#[test]
fn a_no_op_run_looks_at_each_entry_once() {
    let dir = scratch("noop-syscalls");
    let (dirs, files) = make(&dir.join("src"), 0);
    let first = Command::new(prsync_bin())
        .args(["-a", "src/", "dst/"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(first.success());

    let trace = trace(&["-a", "--no-whole-file", "src/", "dst/"], &dir);
    // Both sides look at a file by its name in its folder's descriptor: the sender once as
    // it lists it, the receiver once as it compares it.
    let file_stats = trace
        .lines()
        .filter(|l| l.contains("stat") && l.contains(", \"f") && !l.contains("AT_FDCWD"))
        .count();
    assert_eq!(
        file_stats,
        2 * files,
        "the sender and the receiver should each stat each of the {files} files once"
    );
    // Walks into a folder (O_PATH opens of a `d` name): each folder is entered about
    // once, whatever its depth and however many files it holds.
    let walks = trace
        .lines()
        .filter(|l| l.contains("openat(") && l.contains(", \"d") && l.contains("O_PATH"))
        .count();
    assert!(
        walks <= 2 * dirs,
        "{walks} walks into folders for {dirs} folders and {files} files"
    );
    // And nothing is changed: no mode, time or owner is set on a tree that has them.
    for call in ["chmod", "utimensat", "chown", "rename", "unlink"] {
        assert!(
            !trace
                .lines()
                .any(|l| l.contains(call) && !l.contains("/proc/self")),
            "a no-op run called {call}"
        );
    }
}
