//! `--files-from` through `prsync --server`, both ways, at the protocols stock clients
//! speak: from protocol 31 the names travel in rsync's frames, below it outside them (the
//! client's list on a pull, the host's list on a push). And a server that stops part-way
//! ends as rsync's does: the client prints the server's error line and exits with its
//! status, with no hang.
//!
//! Each case runs the stock rsync client twice from the same state: once with rsync on
//! the host, once with prsync there (`--rsync-path`).

use std::path::Path;
use std::process::Output;

use prtools_tests::rsync_server::{prsync_there, stock_client_fed};
use prtools_tests::rsync_wire::{make_tree, snapshot};
use prtools_tests::{text, TestCluster};

/// The names both clients are given: a file, a symlink, a name with a space, a folder.
const NAMES: &str = "etc/hosts\nhosts\netc/conf.d/app with space.conf\nempty\n";

/// What the two servers gave: status, the client's stdout (with `to`, the destination as
/// the client named it, made the same) and the tree made.
fn outcome(out: &Output, to: &str, dest: &Path) -> (Option<i32>, String, Vec<String>) {
    let tree = if dest.exists() {
        snapshot(dest)
    } else {
        Vec::new()
    };
    (
        out.status.code(),
        text(&out.stdout).replace(to, "DEST"),
        tree,
    )
}

#[test]
fn a_files_from_pull_matches_rsync_at_every_protocol() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("ff-pull");
    let node = tc.cluster.node_tmp(1);
    make_tree(&node);
    let prsync = prsync_there(&tc);
    for protocol in ["--protocol=29", "--protocol=30", "--protocol=32"] {
        let args = ["-ai", protocol, "--files-from=-"];
        let mut seen = Vec::new();
        for remote in ["rsync", prsync.as_str()] {
            let dest = scratch.join(format!("{protocol}-{}", seen.len()));
            let out = stock_client_fed(
                &tc,
                remote,
                &args,
                "node1:/tmp/src/",
                dest.to_str().unwrap(),
                NAMES,
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{remote} {protocol}: {}",
                text(&out.stderr)
            );
            seen.push(outcome(&out, dest.to_str().unwrap(), &dest));
        }
        assert_eq!(
            seen[1], seen[0],
            "prsync --server against rsync, {protocol}"
        );
        assert!(
            seen[1].1.contains("etc/conf.d/app with space.conf"),
            "{}",
            seen[1].1
        );
    }
}

#[test]
fn a_push_with_the_hosts_files_from_list_matches_rsync_at_every_protocol() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("ff-push");
    let src = make_tree(&scratch);
    std::fs::write(tc.cluster.node_tmp(1).join("list"), NAMES).unwrap();
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    for protocol in ["--protocol=29", "--protocol=30", "--protocol=32"] {
        let args = ["-ai", protocol, "--files-from=node1:/tmp/list"];
        let mut seen = Vec::new();
        for remote in ["rsync", prsync.as_str()] {
            let name = format!("{}-{}", &protocol[11..], seen.len());
            let to = format!("node1:/tmp/{name}/");
            let out = stock_client_fed(&tc, remote, &args, &from, &to, "");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{remote} {protocol}: {}",
                text(&out.stderr)
            );
            seen.push(outcome(
                &out,
                &format!("/tmp/{name}"),
                &tc.cluster.node_tmp(1).join(name),
            ));
        }
        assert_eq!(
            seen[1], seen[0],
            "prsync --server against rsync, {protocol}"
        );
        assert!(seen[1].1.contains("<f+++++++++ etc/hosts"), "{}", seen[1].1);
    }
}

/// The server's error lines on `out`'s stderr: those of its role (`[sender]` in a pull,
/// `[Receiver]` in a push). The client's own (a closed stream, or a write that met one,
/// whichever it hit first) name its roles, and rsync's server adds an `rsync error:` line.
fn failures(out: &Output, role: &str) -> Vec<String> {
    let mine = format!("rsync: [{role}] ");
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with(&mine))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_server_that_stops_part_way_ends_as_rsyncs_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("ff-stop");
    let src = make_tree(&scratch);
    let from = format!("{}/", src.display());
    std::fs::write(tc.cluster.node_tmp(1).join("afile"), "not a folder\n").unwrap();
    let prsync = prsync_there(&tc);
    for protocol in ["--protocol=30", "--protocol=32"] {
        let mut seen = Vec::new();
        for remote in ["rsync", prsync.as_str()] {
            // A sender that stops: the --files-from base is not there (status 3 on the
            // host). rsync's sender only hangs up, so the client, still sending its list,
            // names the closed stream; the error line reaches it by the remote shell's
            // stderr, never lost with the stream.
            let dest = scratch.join(format!("{protocol}-{}", seen.len()));
            let args = ["-a", protocol, "--files-from=-"];
            let pull = stock_client_fed(
                &tc,
                remote,
                &args,
                "node1:/tmp/nowhere/",
                dest.to_str().unwrap(),
                NAMES,
            );
            // A receiver that stops: the destination's parent is a file.
            let push = stock_client_fed(
                &tc,
                remote,
                &["-a", protocol],
                &from,
                "node1:/tmp/afile/sub/",
                "",
            );
            seen.push((
                pull.status.code(),
                failures(&pull, "sender"),
                push.status.code(),
                failures(&push, "Receiver"),
            ));
        }
        assert_eq!(
            seen[1], seen[0],
            "prsync --server against rsync, {protocol}"
        );
        assert_eq!(seen[1].0, Some(12), "{protocol}");
        assert_eq!(seen[1].1, ["rsync: [sender] change_dir \"/tmp/nowhere/\" failed: No such file or directory (2)"]);
        // From protocol 31 the receiver's status reaches the client (MSG_ERROR_EXIT).
        let status = if protocol.ends_with("32") { 3 } else { 12 };
        assert_eq!(seen[1].2, Some(status), "{protocol}");
        assert_eq!(
            seen[1].3,
            ["rsync: [Receiver] ERROR: cannot stat destination \"/tmp/afile/sub/\": Not a directory (20)"]
        );
    }
}
