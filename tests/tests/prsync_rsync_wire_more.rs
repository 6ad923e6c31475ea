//! More of rsync's options over rsync's own protocol (`--wire=rsync`): the same transfer by
//! the stock rsync client and by prsync, against the stock rsync on a test host, must leave
//! the same trees and print the same lines (`-v`'s names and totals, `--stats`' block, `-i`
//! lines), but for what depends on the clock or on the exact bytes each client chose.
//!
//! prsync never asks for incremental recursion, so the rsync it is compared with is run
//! with `--no-inc-recursive`: its banner and the order of its lines are then the same.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use prtools_tests::rsync_wire::{assert_ok, prsync, rsync, set_old_times};
use prtools_tests::{assert_one_line_error, describe, text, TestCluster};

/// A small tree: nested files, a symlink, an empty folder, a file with a space, and
/// three names for one file (`-H`), all with mtimes in the past.
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("src");
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(tree.join("etc/conf.d/app with space.conf"), "x = 1\n").unwrap();
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(tree.join("etc/big.txt"), big).unwrap();
    std::fs::write(tree.join("name1"), "one file, three names\n").unwrap();
    std::fs::hard_link(tree.join("name1"), tree.join("name2")).unwrap();
    std::fs::hard_link(tree.join("name1"), tree.join("etc/name3")).unwrap();
    std::os::unix::fs::symlink("etc/hosts", tree.join("hosts")).unwrap();
    set_old_times(&tree);
    tree
}

/// The lines of an output that do not depend on the clock or on each client's own bytes
/// on the wire: the rate, the list's times and size, the byte counts and the speedup go.
fn steady(out: &str) -> Vec<String> {
    const VARY: [&str; 5] = [
        "File list size:",
        "File list generation time:",
        "File list transfer time:",
        "Total bytes sent:",
        "Total bytes received:",
    ];
    out.lines()
        .filter(|l| !VARY.iter().any(|v| l.starts_with(v)))
        .map(|l| {
            if l.starts_with("sent ") {
                "sent ...".to_string()
            } else if let Some((size, _)) = l.split_once("  speedup is ") {
                size.to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// The number on the line of `out` that starts with `label`.
fn number(out: &str, label: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{out}"));
    line[label.len()..]
        .trim()
        .trim_end_matches(" bytes")
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("no number in {line:?}"))
}

/// The inode numbers of `names` below `root`.
fn inodes(root: &Path, names: &[&str]) -> Vec<u64> {
    names
        .iter()
        .map(|n| std::fs::metadata(root.join(n)).unwrap().ino())
        .collect()
}

#[test]
fn verbose_stats_and_hard_links_in_a_push_print_and_leave_what_rsync_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("vpush");
    let src = make_tree(&scratch);
    let from = format!("{}/", src.display());
    let node = tc.cluster.node_tmp(1);
    let args = ["-aHv", "--stats"];
    let want = rsync(&tc, &args, &from, "node1:/tmp/by-rsync/");
    assert_ok(&want);
    let got = prsync(&tc, &args, &from, "node1:/tmp/by-prsync/");
    assert_ok(&got);
    assert_eq!(text(&got.stderr), "");
    let want_out = text(&want.stdout).replace("-rsync", "-prsync");
    let got_out = text(&got.stdout);
    assert!(want_out.contains("name2 => etc/name3"), "{want_out}");
    assert!(
        want_out.contains("Number of files: 11 (reg: 6, dir: 4, link: 1)"),
        "{want_out}"
    );
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert_eq!(
        describe(&node.join("by-prsync")),
        describe(&node.join("by-rsync"))
    );
    let names = ["name1", "name2", "etc/name3"];
    let linked = inodes(&node.join("by-prsync"), &names);
    assert!(linked.iter().all(|&i| i == linked[0]), "{linked:?}");
    // The byte counts are this run's own, and the two summaries agree on them.
    let sent = number(&got_out, "Total bytes sent:");
    assert!(sent > 200_000, "{got_out}");
    assert!(
        got_out.contains(&format!("\nsent {} bytes", group(sent))),
        "{got_out}"
    );

    // Again: nothing to send, and the hard links still hold after one name's change.
    std::fs::write(node.join("by-prsync/name1"), "changed there\n").unwrap();
    std::fs::write(node.join("by-rsync/name1"), "changed there\n").unwrap();
    let args = ["-aHiv", "--no-whole-file"];
    let want = rsync(&tc, &args, &from, "node1:/tmp/by-rsync/");
    assert_ok(&want);
    let got = prsync(&tc, &args, &from, "node1:/tmp/by-prsync/");
    assert_ok(&got);
    let want_out = text(&want.stdout).replace("-rsync", "-prsync");
    let got_out = text(&got.stdout);
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert_eq!(describe(&node.join("by-prsync")), describe(&src));
}

/// `12345` as rsync groups digits: `12,345`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn verbose_and_stats_in_a_pull_print_what_rsync_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("vpull");
    make_tree(&tc.cluster.node_tmp(1));
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
    let args = ["-av", "--stats"];
    let want = rsync(&tc, &args, "node1:/tmp/src/", by_rsync.to_str().unwrap());
    assert_ok(&want);
    let got = prsync(&tc, &args, "node1:/tmp/src/", by_prsync.to_str().unwrap());
    assert_ok(&got);
    assert_eq!(text(&got.stderr), "");
    let want_out = text(&want.stdout).replace("by-rsync", "by-prsync");
    let got_out = text(&got.stdout);
    assert!(
        want_out.contains("receiving file list ... done"),
        "{want_out}"
    );
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert_eq!(describe(&by_prsync), describe(&by_rsync));
    // A pull's byte counts are the server's, as rsync's client prints them.
    assert!(
        number(&got_out, "Total bytes received:") > 100_000,
        "{got_out}"
    );

    // A one-line change comes as a delta: matched and literal data as rsync counts them.
    let node_big = tc.cluster.node_tmp(1).join("src/etc/big.txt");
    let mut big = std::fs::read_to_string(&node_big).unwrap();
    big = big.replacen("line 10000\n", "this line changed\n", 1);
    std::fs::write(&node_big, big).unwrap();
    let args = ["-av", "--stats", "--no-whole-file"];
    let want = rsync(&tc, &args, "node1:/tmp/src/", by_rsync.to_str().unwrap());
    assert_ok(&want);
    let got = prsync(&tc, &args, "node1:/tmp/src/", by_prsync.to_str().unwrap());
    assert_ok(&got);
    let want_out = text(&want.stdout).replace("by-rsync", "by-prsync");
    let got_out = text(&got.stdout);
    assert!(number(&want_out, "Matched data:") > 0, "{want_out}");
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert_eq!(describe(&by_prsync), describe(&by_rsync));
    // The block sums this side sent are as short as rsync's generator makes them.
    let (want_sent, got_sent) = (
        number(&want_out, "Total bytes sent:"),
        number(&got_out, "Total bytes sent:"),
    );
    assert!(
        got_sent <= want_sent + want_sent / 10,
        "prsync sent {got_sent} bytes, rsync {want_sent}"
    );

    // With -H the three names stay one file here too, and stay so when one is replaced.
    let linked = scratch.join("linked");
    let names = ["name1", "name2", "etc/name3"];
    for _ in 0..2 {
        let got = prsync(&tc, &["-aH"], "node1:/tmp/src/", linked.to_str().unwrap());
        assert_ok(&got);
        assert_eq!(
            describe(&linked),
            describe(&tc.cluster.node_tmp(1).join("src"))
        );
        let inodes = inodes(&linked, &names);
        assert!(inodes.iter().all(|&i| i == inodes[0]), "{inodes:?}");
        std::fs::remove_file(linked.join("name2")).unwrap();
        std::fs::write(linked.join("name2"), "not linked\n").unwrap();
    }
}

#[test]
fn secluded_args_carry_a_path_the_remote_shell_would_split() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("secluded");
    let src = make_tree(&scratch);
    let node = tc.cluster.node_tmp(1);
    let odd = "/tmp/a b;$HOME'x/";
    let got = prsync(
        &tc,
        &["-as"],
        &format!("{}/", src.display()),
        &format!("node1:{odd}"),
    );
    assert_ok(&got);
    let landed = node.join("a b;$HOME'x");
    assert_eq!(describe(&landed), describe(&src));
    // And back, by a pull with -s from the same odd path.
    let back = scratch.join("back");
    let got = prsync(
        &tc,
        &["-ais"],
        &format!("node1:{odd}"),
        back.to_str().unwrap(),
    );
    assert_ok(&got);
    assert!(
        text(&got.stdout).contains(">f+++++++++ etc/hosts"),
        "{}",
        text(&got.stdout)
    );
    assert_eq!(describe(&back), describe(&src));
}

#[test]
fn inplace_and_copy_dest_go_to_a_receiving_server() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("altdest");
    let src = make_tree(&scratch);
    let from = format!("{}/", src.display());
    let node = tc.cluster.node_tmp(1);
    // A folder on the host with one file as the source has it, one changed.
    let alt = node.join("alt");
    std::fs::create_dir_all(alt.join("etc")).unwrap();
    std::fs::copy(src.join("etc/hosts"), alt.join("etc/hosts")).unwrap();
    let when = std::fs::metadata(src.join("etc/hosts"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(alt.join("etc/hosts"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    for (dest, extra) in [("copy", None), ("inplace", Some("--inplace"))] {
        let mut args = vec!["-ai", "--copy-dest=/tmp/alt"];
        args.extend(extra);
        let want = rsync(&tc, &args, &from, &format!("node1:/tmp/{dest}-rsync/"));
        assert_ok(&want);
        let got = prsync(&tc, &args, &from, &format!("node1:/tmp/{dest}-prsync/"));
        assert_ok(&got);
        assert_eq!(
            text(&want.stdout).replace("-rsync", "-prsync"),
            text(&got.stdout)
        );
        let (by_rsync, by_prsync) = (
            node.join(format!("{dest}-rsync")),
            node.join(format!("{dest}-prsync")),
        );
        assert_eq!(describe(&by_prsync), describe(&by_rsync));
        assert_eq!(describe(&by_prsync), describe(&src));
        // Copied from the alternate folder, not linked to it.
        assert_ne!(
            inodes(&by_prsync, &["etc/hosts"]),
            inodes(&alt, &["etc/hosts"])
        );
    }
    // An update in place keeps the file's inode, as rsync's does.
    let before = inodes(&node.join("inplace-prsync"), &["etc/big.txt"]);
    std::fs::write(node.join("inplace-prsync/etc/big.txt"), "short\n").unwrap();
    let got = prsync(
        &tc,
        &["-a", "--inplace"],
        &from,
        "node1:/tmp/inplace-prsync/",
    );
    assert_ok(&got);
    assert_eq!(
        inodes(&node.join("inplace-prsync"), &["etc/big.txt"]),
        before
    );
    assert_eq!(describe(&node.join("inplace-prsync")), describe(&src));
}

#[test]
fn what_a_pull_cannot_do_yet_is_refused_in_one_line() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pullrefused");
    for (args, needle) in [
        (&["-a", "-x"][..], "does not do -x yet"),
        (
            &["-a", "-b", "--inplace"][..],
            "does not do -b with --inplace yet",
        ),
    ] {
        let dest = scratch.join("dest");
        let out = prsync(&tc, args, "node1:/tmp/", dest.to_str().unwrap());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_one_line_error("prsync", &text(&out.stderr), needle);
        assert!(!dest.exists());
    }
}

#[test]
fn inplace_and_copy_dest_in_a_pull_leave_what_rsync_leaves() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("altpull");
    let src = make_tree(&tc.cluster.node_tmp(1));
    // Here: etc/hosts as the host has it, and an older etc/big.txt with a line changed.
    let alt = scratch.join("alt");
    std::fs::create_dir_all(alt.join("etc")).unwrap();
    std::fs::copy(src.join("etc/hosts"), alt.join("etc/hosts")).unwrap();
    let when = std::fs::metadata(src.join("etc/hosts"))
        .unwrap()
        .modified()
        .unwrap();
    let hosts = std::fs::File::options()
        .write(true)
        .open(alt.join("etc/hosts"))
        .unwrap();
    hosts.set_modified(when).unwrap();
    let big = std::fs::read_to_string(src.join("etc/big.txt")).unwrap();
    std::fs::write(
        alt.join("etc/big.txt"),
        big.replacen("line 7\n", "seven\n", 1),
    )
    .unwrap();
    let copy_dest = format!("--copy-dest={}", alt.display());
    for (dest, extra) in [("copy", None), ("inplace", Some("--inplace"))] {
        let mut args = vec!["-av", copy_dest.as_str()];
        args.extend(extra);
        let (by_rsync, by_prsync) = (
            scratch.join(format!("{dest}-rsync")),
            scratch.join(format!("{dest}-prsync")),
        );
        let want = rsync(&tc, &args, "node1:/tmp/src/", by_rsync.to_str().unwrap());
        assert_ok(&want);
        let got = prsync(&tc, &args, "node1:/tmp/src/", by_prsync.to_str().unwrap());
        assert_ok(&got);
        assert_eq!(text(&got.stderr), "");
        assert_eq!(describe(&by_prsync), describe(&by_rsync));
        assert_eq!(describe(&by_prsync), describe(&src));
        assert_ne!(
            inodes(&by_prsync, &["etc/hosts"]),
            inodes(&alt, &["etc/hosts"])
        );
    }
    // An update in place keeps the file's inode, as rsync's does.
    let dest = scratch.join("inplace-prsync");
    let before = inodes(&dest, &["etc/big.txt"]);
    std::fs::write(
        dest.join("etc/big.txt"),
        big.replacen("line 9\n", "nine\n", 1),
    )
    .unwrap();
    let got = prsync(
        &tc,
        &["-a", "--inplace", "--no-whole-file"],
        "node1:/tmp/src/",
        dest.to_str().unwrap(),
    );
    assert_ok(&got);
    assert_eq!(inodes(&dest, &["etc/big.txt"]), before);
    assert_eq!(describe(&dest), describe(&src));
}

#[test]
fn prune_empty_dirs_in_a_push_leaves_what_rsync_leaves() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("prune");
    let src = make_tree(&scratch);
    std::fs::create_dir_all(src.join("deep/er/still empty")).unwrap();
    let from = format!("{}/", src.display());
    let node = tc.cluster.node_tmp(1);
    let args = ["-aiv", "-m"];
    let want = rsync(&tc, &args, &from, "node1:/tmp/m-rsync/");
    assert_ok(&want);
    let got = prsync(&tc, &args, &from, "node1:/tmp/m-prsync/");
    assert_ok(&got);
    let want_out = text(&want.stdout).replace("-rsync", "-prsync");
    let got_out = text(&got.stdout);
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert!(!node.join("m-prsync/deep").exists());
    assert_eq!(
        describe(&node.join("m-prsync")),
        describe(&node.join("m-rsync"))
    );

    // A pull prunes here, as rsync's receiver does.
    std::fs::create_dir_all(node.join("m-src/gone/chain")).unwrap();
    std::fs::create_dir_all(node.join("m-src/kept/sub")).unwrap();
    std::fs::write(node.join("m-src/kept/sub/file"), "x\n").unwrap();
    let args = ["-aiv", "-m"];
    let (by_rsync, by_prsync) = (scratch.join("m-rsync"), scratch.join("m-prsync"));
    let want = rsync(&tc, &args, "node1:/tmp/m-src/", by_rsync.to_str().unwrap());
    assert_ok(&want);
    let got = prsync(&tc, &args, "node1:/tmp/m-src/", by_prsync.to_str().unwrap());
    assert_ok(&got);
    let want_out = text(&want.stdout).replace("-rsync", "-prsync");
    let got_out = text(&got.stdout);
    assert_eq!(
        steady(&want_out),
        steady(&got_out),
        "{want_out}---\n{got_out}"
    );
    assert_eq!(describe(&by_prsync), describe(&by_rsync));
    assert!(!by_prsync.join("gone").exists());
    assert!(by_prsync.join("kept/sub/file").exists());
}

#[test]
fn existing_updates_only_what_is_there_both_ways() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("existing");
    let src = make_tree(&scratch);
    let node = tc.cluster.node_tmp(1);
    // What each destination holds before: an old etc/hosts, nothing else.
    let seed = |dest: &Path| {
        std::fs::create_dir_all(dest.join("etc")).unwrap();
        std::fs::write(dest.join("etc/hosts"), "old\n").unwrap();
    };
    for dest in ["e-rsync", "e-prsync"] {
        seed(&node.join(dest));
        seed(&scratch.join(dest));
    }
    let args = ["-av", "--existing"];
    let from = format!("{}/", src.display());
    let want = rsync(&tc, &args, &from, "node1:/tmp/e-rsync/");
    assert_ok(&want);
    let got = prsync(&tc, &args, &from, "node1:/tmp/e-prsync/");
    assert_ok(&got);
    assert_eq!(
        describe(&node.join("e-prsync")),
        describe(&node.join("e-rsync"))
    );
    assert!(!node.join("e-prsync/name1").exists());
    make_tree(&node);
    let (by_rsync, by_prsync) = (scratch.join("e-rsync"), scratch.join("e-prsync"));
    let want = rsync(&tc, &args, "node1:/tmp/src/", by_rsync.to_str().unwrap());
    assert_ok(&want);
    let got = prsync(&tc, &args, "node1:/tmp/src/", by_prsync.to_str().unwrap());
    assert_ok(&got);
    assert_eq!(describe(&by_prsync), describe(&by_rsync));
    assert_eq!(
        std::fs::read(by_prsync.join("etc/hosts")).unwrap(),
        std::fs::read(src.join("etc/hosts")).unwrap()
    );
    assert!(!by_prsync.join("name1").exists());
}

/// The pid of the ssh master listening on `socket` for node1, from `ssh -O check`, or None.
fn master_pid(tc: &TestCluster, socket: &Path) -> Option<String> {
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(tc.cluster.ssh_config())
        .arg("-S")
        .arg(socket)
        .args(["-O", "check", "node1"])
        .output()
        .expect("ssh runs");
    let said = text(&out.stderr);
    out.status
        .success()
        .then(|| {
            said.split("pid=")
                .nth(1)?
                .split(')')
                .next()
                .map(String::from)
        })
        .flatten()
}

/// `--persist` keeps the connection of a one-host `--wire=rsync` run, as it does for the
/// agent's: the first run leaves a master on the control folder's shared socket, the next
/// `--wire=rsync` run and a prsh run go through that same master.
#[test]
fn persist_keeps_a_wire_rsync_connection_for_the_next_run() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("persist");
    let src = make_tree(&scratch);
    let from = format!("{}/", src.display());
    assert_ok(&prsync(
        &tc,
        &["-a", "--persist", "60"],
        &from,
        "node1:/tmp/p1/",
    ));
    let sockets: Vec<PathBuf> = std::fs::read_dir(tc.control_dir())
        .expect("the control folder was made")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
        })
        .collect();
    assert_eq!(sockets.len(), 1, "one master's socket: {sockets:?}");
    let first = master_pid(&tc, &sockets[0]).expect("a master is kept after the run");

    assert_ok(&prsync(
        &tc,
        &["-a", "--persist", "60"],
        &from,
        "node1:/tmp/p2/",
    ));
    assert_eq!(master_pid(&tc, &sockets[0]), Some(first.clone()));
    let prsh = prtools_tests::run(
        tc.tool("prsh")
            .args(["--persist", "60", "-w", "node1", "true"]),
    );
    assert_eq!(prsh.status.code(), Some(0), "{}", text(&prsh.stderr));
    assert_eq!(
        master_pid(&tc, &sockets[0]),
        Some(first),
        "prsh used another master"
    );
    assert_eq!(
        describe(&tc.cluster.node_tmp(1).join("p1")),
        describe(&tc.cluster.node_tmp(1).join("p2"))
    );
    let _ = std::process::Command::new("ssh")
        .arg("-F")
        .arg(tc.cluster.ssh_config())
        .arg("-S")
        .arg(&sockets[0])
        .args(["-O", "exit", "node1"])
        .output();
}
