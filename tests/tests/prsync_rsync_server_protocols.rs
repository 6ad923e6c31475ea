//! `prsync --server` on the far side of the stock rsync client at the protocols rsync
//! 2.6 (28) and 2.6.4 to 2.6.9 (29) speak, and at 30 beside them: a seeded tree pushed
//! (or pulled) with `-aH`, then updated with `--delete` and a delta, must leave the same
//! tree and make the client print the same lines as with rsync on the host. Below 28 the
//! server refuses in one line that names what it speaks.

use std::process::Output;

use prtools_tests::rsync_server::{prsync_there, stock_client};
use prtools_tests::rsync_wire::{change_seeded_tree, seeded_tree, snapshot};
use prtools_tests::{assert_text_eq, text, TestCluster};

/// The stock rsync client through the cluster's ssh, the host running `remote`; without
/// incremental recursion, which `prsync --server` never turns on (at 30 the banner of
/// `-v` would differ; below 30 there is none).
fn rsync(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    let args: Vec<&str> = std::iter::once("--no-inc-recursive")
        .chain(args.iter().copied())
        .collect();
    stock_client(tc, remote, &args, from, to)
}

/// What the client printed before its totals, with the destination's name made the same.
fn items(out: &Output, from: &str, to: &str) -> String {
    let all = text(&out.stdout).replace(from, to);
    all.split("\n\n").next().unwrap_or("").to_string()
}

/// The `Literal data:` total of a run with `--stats`.
fn literal(out: &Output) -> u64 {
    let all = text(&out.stdout);
    let line = all
        .lines()
        .find(|l| l.starts_with("Literal data:"))
        .unwrap_or_else(|| panic!("no literal line in {all}"));
    line.split_whitespace()
        .nth(2)
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

fn pushes_match_rsync(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push");
    let src = scratch.join("src");
    seeded_tree(&src, protocol as u64);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let proto = format!("--protocol={protocol}");
    let push = |remote: &str, args: &[&str], dest: &str| {
        let mut all = vec![proto.as_str()];
        all.extend_from_slice(args);
        rsync(&tc, remote, &all, &from, &format!("node1:{dest}"))
    };
    let runs: [&[&str]; 5] = [
        // New files, hard links made, -v's lines.
        &["-aHiv"],
        // The update as a dry run: what would go, nothing changed.
        &["-aHvn", "--delete"],
        // The update: deletions, a delta of the big file, new hard links.
        &["-aHi", "--delete", "--no-whole-file", "--stats"],
        // Nothing left to do.
        &["-aHi", "--delete"],
        // Rules (below 29 an exclude goes without its `- `): what they exclude goes.
        &[
            "-aHi",
            "--delete-excluded",
            "--exclude=file 1*",
            "--include=+ z/",
        ],
    ];
    for (i, args) in runs.into_iter().enumerate() {
        if i == 1 {
            change_seeded_tree(&src);
        }
        let want = push("rsync", args, "/tmp/by-rsync/");
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = push(&prsync, args, "/tmp/by-prsync/");
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        assert_text_eq!(
            items(&want, "/tmp/by-rsync", "/tmp/by-prsync"),
            items(&got, "/tmp/by-prsync", "/tmp/by-prsync")
        );
        assert_eq!(
            snapshot(&node.join("by-prsync")),
            snapshot(&node.join("by-rsync"))
        );
        match i {
            0 => {
                let shown = text(&got.stdout);
                assert!(shown.contains("a/big.txt"), "{shown}");
                assert!(shown.contains("=> "), "{shown}");
            }
            2 => {
                assert!(items(&want, "", "").contains("deleting"));
                // The changed 600 KB file went as a delta against the sums prsync sent.
                assert!(literal(&got) < 40_000, "{}", text(&got.stdout));
                assert_eq!(literal(&got), literal(&want));
            }
            4 => {
                assert!(items(&want, "", "").contains("deleting"));
                let left = snapshot(&node.join("by-prsync"));
                assert!(!left.iter().any(|l| l.contains("file 1")), "{left:?}");
            }
            _ => {}
        }
    }
}

#[test]
fn a_stock_rsync_push_to_prsync_server_at_protocol_28_matches_rsync() {
    pushes_match_rsync(28);
}

#[test]
fn a_stock_rsync_push_to_prsync_server_at_protocol_29_matches_rsync() {
    pushes_match_rsync(29);
}

#[test]
fn a_stock_rsync_push_to_prsync_server_at_protocol_30_matches_rsync() {
    pushes_match_rsync(30);
}

/// The same pulls from a seeded tree on the host, once from rsync there and once from
/// prsync. The client's receiver and generator print from two processes, so on a pull
/// the order of their lines follows the timing: the lines are compared as sets.
fn pulls_match_rsync(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull");
    let node = tc.cluster.node_tmp(1);
    let src = node.join("src");
    seeded_tree(&src, 100 + protocol as u64);
    let prsync = prsync_there(&tc);
    let proto = format!("--protocol={protocol}");
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
    let pull = |remote: &str, args: &[&str], dest: &std::path::Path| {
        let mut all = vec![proto.as_str()];
        all.extend_from_slice(args);
        rsync(&tc, remote, &all, "node1:/tmp/src/", dest.to_str().unwrap())
    };
    let lines = |s: String| -> Vec<String> {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let runs: [&[&str]; 5] = [
        &["-aHiv"],
        &["-aHin", "--delete"],
        &["-aHi", "--delete", "--no-whole-file", "--stats"],
        &["-aHi", "--delete"],
        &[
            "-aHi",
            "--delete-excluded",
            "--exclude=file 1*",
            "--include=+ z/",
        ],
    ];
    for (i, args) in runs.into_iter().enumerate() {
        if i == 1 {
            change_seeded_tree(&src);
        }
        let want = pull("rsync", args, &by_rsync);
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = pull(&prsync, args, &by_prsync);
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        let (w, g) = (by_rsync.to_str().unwrap(), by_prsync.to_str().unwrap());
        assert_eq!(lines(items(&want, w, g)), lines(items(&got, g, g)));
        assert_eq!(snapshot(&by_prsync), snapshot(&by_rsync));
        if i == 2 {
            assert!(items(&want, "", "").contains("deleting"));
            assert!(literal(&got) < 40_000, "{}", text(&got.stdout));
        }
        if i == 4 {
            assert!(items(&want, "", "").contains("deleting"));
            let left = snapshot(&by_prsync);
            assert!(!left.iter().any(|l| l.contains("file 1")), "{left:?}");
        }
    }
}

#[test]
fn a_stock_rsync_pull_from_prsync_server_at_protocol_28_matches_rsync() {
    pulls_match_rsync(28);
}

#[test]
fn a_stock_rsync_pull_from_prsync_server_at_protocol_29_matches_rsync() {
    pulls_match_rsync(29);
}

#[test]
fn a_stock_rsync_pull_from_prsync_server_at_protocol_30_matches_rsync() {
    pulls_match_rsync(30);
}

#[test]
fn a_client_below_protocol_28_is_refused_in_one_line() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("old");
    let src = scratch.join("src");
    seeded_tree(&src, 27);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let out = rsync(
        &tc,
        &prsync,
        &["-a", "--protocol=27"],
        &from,
        "node1:/tmp/x/",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("prsync: --server speaks rsync protocol 28 to 32 and the client speaks 27"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!tc.cluster.node_tmp(1).join("x").exists());
}
