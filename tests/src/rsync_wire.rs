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

/// A tree drawn from `seed` (the same seed, the same tree): nested folders with files of
/// a few sizes and modes, a file owned by someone else, hard-linked pairs, symlinks (one
/// dangling), an empty folder, a folder a later update deletes, a 600 KB file for a delta,
/// and mtimes in the past.
pub fn seeded_tree(tree: &Path, seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    use std::os::unix::fs::PermissionsExt;
    for dir in ["a/b/c", "a/d", "old/deeper", "empty", "z"] {
        std::fs::create_dir_all(tree.join(dir)).unwrap();
    }
    let dirs = ["", "a", "a/b", "a/b/c", "a/d", "z"];
    let mut files = Vec::new();
    for i in 0..24 {
        let dir = dirs[(next() % dirs.len() as u64) as usize];
        let name = format!("{dir}/file {i}.dat")
            .trim_start_matches('/')
            .to_string();
        let len = [0usize, 17, 700, 5000, 70_000][(next() % 5) as usize];
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        std::fs::write(tree.join(&name), data).unwrap();
        let mode = [0o644, 0o600, 0o755][(next() % 3) as usize];
        std::fs::set_permissions(tree.join(&name), std::fs::Permissions::from_mode(mode)).unwrap();
        files.push(name);
    }
    for (i, pair) in files.chunks(6).enumerate() {
        std::fs::hard_link(tree.join(&pair[0]), tree.join(format!("z/hard {i}"))).unwrap();
    }
    std::fs::write(tree.join("old/deeper/gone.txt"), "going\n").unwrap();
    std::fs::write(tree.join("old/gone too"), "going\n").unwrap();
    std::fs::write(tree.join("a/big.txt"), big_text(None)).unwrap();
    std::fs::write(tree.join("owned"), "someone else's\n").unwrap();
    std::os::unix::fs::chown(tree.join("owned"), Some(1234), Some(2345)).unwrap();
    std::os::unix::fs::symlink(&files[0], tree.join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", tree.join("a/dangling")).unwrap();
    set_old_times(tree);
}

/// The update of a [`seeded_tree`]: a line changed in the big file (a delta), a folder
/// gone, new files, a new hard link, a mode and every time changed.
pub fn change_seeded_tree(tree: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(tree.join("a/big.txt"), big_text(Some(40_000))).unwrap();
    std::fs::remove_dir_all(tree.join("old")).unwrap();
    std::fs::write(tree.join("a/d/new file"), "new\n").unwrap();
    std::fs::write(tree.join("new top"), "new too\n").unwrap();
    std::fs::hard_link(tree.join("new top"), tree.join("a/new top hard")).unwrap();
    std::fs::set_permissions(tree.join("owned"), std::fs::Permissions::from_mode(0o640)).unwrap();
    age(tree, "2024-02-03 04:05:06");
}

/// [`describe`](crate::describe) plus every entry's owner, group and mtime, and which
/// names share an inode (each with the first of its group, in name order).
pub fn snapshot(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = crate::describe(root);
    let mut firsts: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.push(format!(
                "{rel} {}:{} {}",
                meta.uid(),
                meta.gid(),
                meta.mtime()
            ));
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                all.push((rel, meta.ino()));
            }
        }
    }
    all.sort();
    for (rel, ino) in all {
        let first = firsts.entry(ino).or_insert_with(|| rel.clone());
        if *first != rel {
            out.push(format!("{rel} is a hard link of {first}"));
        }
    }
    out.sort();
    out
}
