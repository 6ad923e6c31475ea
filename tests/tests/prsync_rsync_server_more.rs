//! `prsync --server` under the stock rsync client (`rsync --rsync-path=prsync`), for the
//! options issue 18 left refused: each run is made once with rsync on the host and once
//! with prsync there, and must leave the same trees, print the same lines and write the
//! same logs.

use std::path::Path;
use std::process::{Command, Output};

use prtools_tests::{assert_text_eq, bin, describe, run, text, TestCluster};

/// A small tree: files at two depths, a symlink, a folder.
fn make_tree(src: &Path) {
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("a"), "alpha\n").unwrap();
    std::fs::write(src.join("d/b"), "bravo\n").unwrap();
    std::fs::write(src.join("d/e/c"), "charlie ".repeat(5000)).unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
}

/// The stock rsync client from `from` to `to` through the cluster's ssh, the host
/// running `remote` as its rsync.
fn rsync(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(format!("ssh -F {}", tc.cluster.ssh_config().display()))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

/// prsync as the host sees it.
fn prsync_there(tc: &TestCluster) -> String {
    tc.host_path(&bin("prsync")).display().to_string()
}

/// A log's lines without their `DATE TIME [PID] ` stamps, with `mine` for `theirs`, the
/// byte counts of the totals left out, sorted: rsync logs a sent file when its receiver
/// process has it, which races its generator's lines.
fn log_lines(log: &Path, theirs: &str, mine: &str) -> Vec<String> {
    let body = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<String> = body
        .lines()
        .map(|l| {
            let (_, rest) = l.split_once("] ").expect("a stamped line");
            let rest = rest.replace(theirs, mine);
            match rest.split_once("total size") {
                Some((_, size)) if rest.starts_with("sent ") => format!("totals, size{size}"),
                _ => rest,
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn log_file_on_a_push_is_written_as_rsyncs_server_writes_it() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("log-file");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let push = |remote: &str, who: &str, extra: &[&str]| {
        let mut args = vec!["-ai".to_string(), "--no-whole-file".to_string()];
        args.push(format!("-M--log-file=/tmp/{who}.log"));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rsync(&tc, remote, &args, &from, &format!("node1:/tmp/{who}/"))
    };
    for (round, extra) in [&[][..], &["-M--log-file-format=%o %n %l"]]
        .iter()
        .enumerate()
    {
        if round == 1 {
            std::fs::write(src.join("d/b"), "bravo, changed\n").unwrap();
        }
        let want = push("rsync", "by-rsync", extra);
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = push(&prsync, "by-prsync", extra);
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        assert_text_eq!(
            text(&want.stdout).replace("by-rsync", "by-prsync"),
            text(&got.stdout)
        );
    }
    assert_eq!(
        describe(&node.join("by-prsync")),
        describe(&node.join("by-rsync"))
    );
    let want = log_lines(&node.join("by-rsync.log"), "by-rsync", "by-prsync");
    assert!(want.contains(&">f+++++++++ d/e/c".to_string()), "{want:?}");
    assert!(want.contains(&"recv d/b 15".to_string()), "{want:?}");
    assert_eq!(log_lines(&node.join("by-prsync.log"), "", ""), want);

    // A log the server cannot open: one line, and nothing written.
    let out = rsync(
        &tc,
        &prsync,
        &["-a", "-M--log-file=/tmp/no-such-folder/x.log"],
        &from,
        "node1:/tmp/unlogged/",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("prsync: --server: failed to open log-file /tmp/no-such-folder/x.log"),
        "{err}"
    );
    assert!(!node.join("unlogged").exists());
}

/// The client's `--stats` line for the data sent as it is.
fn literal(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("Literal data:"))
        .unwrap_or_else(|| panic!("no literal line in {out}"));
    line.split_whitespace()
        .nth(2)
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

#[test]
fn partial_dir_partials_are_the_basis_and_are_removed_as_with_rsync() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("partial-dir");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let big = std::fs::read(src.join("d/e/c")).unwrap();
    for who in ["by-rsync", "by-prsync"] {
        // What an earlier, broken run left: half of the big file, and a stale partial
        // of a file that is already whole here.
        let dest = node.join(who);
        std::fs::create_dir_all(dest.join("d/e/.part")).unwrap();
        std::fs::create_dir_all(dest.join("d/.part")).unwrap();
        std::fs::write(dest.join("d/e/.part/c"), &big[..big.len() / 2]).unwrap();
        std::fs::write(dest.join("d/.part/b"), "stale").unwrap();
        let copied = run(Command::new("cp")
            .arg("-p")
            .arg(src.join("d/b"))
            .arg(dest.join("d/b")));
        assert!(copied.status.success());
    }
    let args = ["-ai", "--no-whole-file", "--stats", "--partial-dir=.part"];
    let want = rsync(&tc, "rsync", &args, &from, "node1:/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = rsync(&tc, &prsync, &args, &from, "node1:/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let items = |o: &Output| {
        text(&o.stdout)
            .split("\n\n")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        items(&want).contains("<f+++++++++ d/e/c"),
        "{}",
        items(&want)
    );
    assert_text_eq!(items(&want), items(&got));
    // Half the big file came from its partial, and the partials are gone.
    let (want_out, got_out) = (text(&want.stdout), text(&got.stdout));
    assert!(literal(&got_out) < big.len() as u64 * 3 / 4, "{got_out}");
    assert_eq!(literal(&got_out), literal(&want_out));
    assert!(!node.join("by-prsync/d/e/.part").exists());
    assert!(!node.join("by-prsync/d/.part").exists());
    assert_eq!(
        describe(&node.join("by-prsync")),
        describe(&node.join("by-rsync"))
    );
}

#[test]
fn delay_updates_puts_files_in_place_at_the_end_as_rsync_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("delay-updates");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let big = std::fs::read(src.join("d/e/c")).unwrap();
    for who in ["by-rsync", "by-prsync"] {
        // An old file to replace, and a partial in rsync's default delay folder.
        let dest = node.join(who);
        std::fs::create_dir_all(dest.join("d/e/.~tmp~")).unwrap();
        std::fs::write(dest.join("d/e/.~tmp~/c"), &big[..big.len() / 2]).unwrap();
        std::fs::write(dest.join("d/b"), "old").unwrap();
        // An old time: written in the same clock tick as the source's, it would have the
        // same mtime, and rsync's line would lose its `t`.
        std::fs::File::options()
            .write(true)
            .open(dest.join("d/b"))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000))
            .unwrap();
    }
    let args = ["-ai", "--no-whole-file", "--stats", "--delay-updates"];
    let want = rsync(&tc, "rsync", &args, &from, "node1:/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = rsync(&tc, &prsync, &args, &from, "node1:/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let items = |o: &Output| {
        text(&o.stdout)
            .split("\n\n")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert!(items(&want).contains("<f.st...... d/b"), "{}", items(&want));
    assert_text_eq!(items(&want), items(&got));
    let (want_out, got_out) = (text(&want.stdout), text(&got.stdout));
    assert_eq!(literal(&got_out), literal(&want_out));
    assert_eq!(
        std::fs::read(node.join("by-prsync/d/b")).unwrap(),
        b"bravo\n"
    );
    assert!(!node.join("by-prsync/d/.~tmp~").exists());
    assert!(!node.join("by-prsync/d/e/.~tmp~").exists());
    assert_eq!(
        describe(&node.join("by-prsync")),
        describe(&node.join("by-rsync"))
    );

    // With --delete the delay folders would be deleted too: refused in one line.
    let out = rsync(
        &tc,
        &prsync,
        &["-a", "--delay-updates", "--delete"],
        &from,
        "node1:/tmp/by-prsync/",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "prsync: --server does not do --partial-dir or --delay-updates with --delete yet"
        ),
        "{err}"
    );
}
