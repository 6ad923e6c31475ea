//! What the tests of `--wire=rsync` share: the stock rsync client and prsync over rsync's
//! protocol, each run against the stock rsync on a test host, and the parts of their
//! output that do not depend on the clock or on each client's own bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{run, text, TestCluster};

/// The remote shell both clients are given: ssh with the cluster's config.
pub fn shell(tc: &TestCluster) -> String {
    format!("ssh -F {}", tc.cluster.ssh_config().display())
}

/// The stock rsync client from `from` to `to`, without incremental recursion (prsync never
/// asks for it, so the banner and the order of lines are then the same).
pub fn rsync(tc: &TestCluster, args: &[&str], from: &str, to: &str) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(shell(tc))
        .arg("--no-inc-recursive")
        .args(args)
        .arg(from)
        .arg(to))
}

/// prsync over rsync's protocol from `from` to `to`.
pub fn prsync(tc: &TestCluster, args: &[&str], from: &str, to: &str) -> Output {
    run(tc.prsync().arg("--wire=rsync").args(args).arg(from).arg(to))
}

/// Fails with the run's stderr unless it exited 0.
pub fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A small tree with mtimes in the past: nested files, a symlink, an empty folder, a file
/// with a space in its name, and one big enough for several blocks.
pub fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("src");
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(tree.join("etc/conf.d/app with space.conf"), "x = 1\n").unwrap();
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(tree.join("etc/big.txt"), big).unwrap();
    std::os::unix::fs::symlink("etc/hosts", tree.join("hosts")).unwrap();
    set_old_times(&tree);
    tree
}

/// Gives everything below `tree` one mtime in the past, links themselves included.
pub fn set_old_times(tree: &Path) {
    age(tree, "2024-01-02 03:04:05");
}

/// Sets every mtime below `root` (and its own, links' too) to `when` (`touch -d`'s form).
pub fn age(root: &Path, when: &str) {
    let status = Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d", when, "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// 600 KB of numbered lines, a delta's worth of blocks; `changed` replaces one of them.
pub fn big_text(changed: Option<usize>) -> String {
    (0..80_000)
        .map(|i| match changed {
            Some(c) if c == i => "this line changed\n".to_string(),
            _ => format!("line {i}\n"),
        })
        .collect()
}
