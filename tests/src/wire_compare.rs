//! The two-client comparisons of the `--wire=rsync` option tests: the stock rsync client
//! and prsync run from the same state against the stock rsync on a test host, and what
//! each did ([`Result`]: status, lines, tree, owners) must be the same. Shared by
//! `prsync_rsync_wire_opts.rs` and `prsync_rsync_wire_opts2.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::rsync_wire::{prsync, rsync};
use crate::{describe, text, TestCluster};

/// What one client did: its exit status, its stdout, the tree it left (with each entry's
/// owner and group).
#[derive(Debug, PartialEq)]
pub struct Result {
    pub code: Option<i32>,
    pub out: String,
    pub tree: Vec<String>,
    pub owners: Vec<String>,
}

impl Result {
    /// What the run `out` did, its stdout shown as `lines`, to the tree at `dest`; with its
    /// stderr, as [`both`] takes them.
    pub fn of(out: &Output, lines: String, dest: &Path) -> (Result, String) {
        let result = Result {
            code: out.status.code(),
            out: lines,
            tree: describe(dest),
            owners: owners(dest),
        };
        (result, text(&out.stderr))
    }
}

/// `name uid:gid` for everything below `root`, sorted.
pub fn owners(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let out = std::process::Command::new("find")
        .arg(root)
        .arg("-mindepth")
        .arg("1")
        .output()
        .unwrap();
    let mut lines: Vec<String> = text(&out.stdout)
        .lines()
        .map(|p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            let rel = Path::new(p)
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            format!("{rel} {}:{}", m.uid(), m.gid())
        })
        .collect();
    lines.sort();
    lines
}

/// Runs `client` ("rsync", then "prsync") and asserts that both left the same result, as
/// `run` reports it with the client's stderr; returns prsync's.
pub fn both(label: &str, mut run: impl FnMut(&str) -> (Result, String)) -> Result {
    let (r, rerr) = run("rsync");
    let (p, perr) = run("prsync");
    assert_eq!(r, p, "{label}\nrsync said: {rerr}\nprsync said: {perr}");
    p
}

/// The client `who` (rsync or prsync) with `args`, from the sources in `from` (separated by
/// spaces) to `to`.
pub fn client(
    tc: &TestCluster,
    who: &str,
    args: &[&str],
    from: &str,
    to: &str,
) -> std::process::Output {
    // Several sources: all but the last go with the options.
    let mut sources: Vec<&str> = from.split(' ').collect();
    let last = sources.pop().unwrap();
    let args = [args, &sources[..]].concat();
    match who {
        "rsync" => rsync(tc, &args, last, to),
        _ => prsync(tc, &args, last, to),
    }
}

/// A push of `from` (`SRC` stands for `src`) by both clients into their own folder
/// `/tmp/{who}-{name}` on node1, first made as `seed` leaves it (a copy of the tree, then
/// `prep`), with `args`; the two results must be the same. Returns prsync's, and its folder.
pub fn push_both(
    tc: &TestCluster,
    src: &Path,
    name: &str,
    seed: bool,
    prep: impl Fn(&Path),
    args: &[&str],
    from: &str,
) -> (Result, PathBuf) {
    let from = from.replace("SRC", src.to_str().unwrap());
    let result = both(&format!("{name} {args:?}"), |who| {
        let dest = tc.cluster.node_tmp(1).join(format!("{who}-{name}"));
        if seed {
            let copy = std::process::Command::new("cp")
                .arg("-a")
                .arg(src)
                .arg(&dest)
                .status()
                .unwrap();
            assert!(copy.success());
        }
        prep(&dest);
        let out = client(tc, who, args, &from, &format!("node1:/tmp/{who}-{name}/"));
        Result::of(
            &out,
            text(&out.stdout).replace(&format!("/tmp/{who}-"), "/tmp/WHO-"),
            &dest,
        )
    });
    (
        result,
        tc.cluster.node_tmp(1).join(format!("prsync-{name}")),
    )
}

/// A pull of `from` on node1 (`SRC` stands for the tree's path there) by both clients into
/// their own folder in `scratch`, first made by `prep`; the results (the printed lines as
/// a set) must be the same.
pub fn pull_both(
    tc: &TestCluster,
    scratch: &Path,
    name: &str,
    prep: impl Fn(&Path),
    args: &[&str],
    from: &str,
    src_there: &str,
) -> Result {
    let from = format!("node1:{}", from.replace("SRC", src_there));
    both(&format!("{name} {args:?}"), |who| {
        let dest = scratch.join(format!("{who}-{name}"));
        std::fs::create_dir_all(&dest).unwrap();
        prep(&dest);
        let out = client(tc, who, args, &from, &format!("{}/", dest.display()));
        // The lines as a set: in a pull, rsync's `*deleting` lines and its itemized ones
        // come from two processes, in an order that varies.
        Result::of(&out, sorted_lines(&text(&out.stdout)), &dest)
    })
}

/// `text`'s lines, sorted.
pub fn sorted_lines(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// Rewrites `name` below `dest` with `body`, and gives it `when` as its mtime.
pub fn rewrite(dest: &Path, name: &str, body: &str, when: &str) {
    let path = dest.join(name);
    std::fs::write(&path, body).unwrap();
    let status = std::process::Command::new("touch")
        .args(["-h", "-d", when])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn no_prep(_: &Path) {}
