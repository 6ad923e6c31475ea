//! `prsync --server` on the far side of the stock rsync client (`rsync
//! --rsync-path=prsync`), over a real sshd: the same push and pull made once with rsync
//! on the host and once with prsync there must leave the same trees and make the client
//! print the same `-i` lines, at protocol 32 (rsync 3.2+ as the client) and 30
//! (`--protocol=30`, as rsync 3.0 speaks).

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use prtools_tests::rsync_server::{prsync_there, stock_client};
use prtools_tests::{assert_text_eq, describe, run, text, TestCluster};

/// A tree with what `rsync -a` keeps: nested files, modes, an owner that is not root's,
/// an empty folder, symlinks (one dangling), a name with a space, a 600 KB file for the
/// delta, a folder that a later run deletes, and mtimes in the past.
fn make_tree(tree: &Path) {
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::create_dir_all(tree.join("old/deeper")).unwrap();
    std::fs::write(tree.join("old/deeper/gone.txt"), "going\n").unwrap();
    std::fs::write(tree.join("old/gone too"), "going\n").unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(tree.join("etc/conf.d/app with space.conf"), "x = 1\n").unwrap();
    std::fs::write(tree.join("etc/big.txt"), big_text(None)).unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(tree.join("owned"), "someone else's\n").unwrap();
    std::os::unix::fs::chown(tree.join("owned"), Some(1234), Some(2345)).unwrap();
    std::fs::set_permissions(tree.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(
        tree.join("etc/conf.d"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    symlink("etc/hosts", tree.join("hosts")).unwrap();
    symlink("nowhere", tree.join("etc/dangling")).unwrap();
    age(tree, "2024-01-02 03:04:05.123456789");
}

/// 600 KB of numbered lines; `changed` replaces one of them.
fn big_text(changed: Option<usize>) -> String {
    (0..80_000)
        .map(|i| match changed {
            Some(c) if c == i => "this line changed\n".to_string(),
            _ => format!("line {i}\n"),
        })
        .collect()
}

/// Sets every mtime below `root` (and its own, links' too) to `when`.
fn age(root: &Path, when: &str) {
    let status = Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d", when, "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The update: a changed line in the big file, a folder gone, a new file, a mode and a
/// time changed.
fn change(src: &Path) {
    std::fs::write(src.join("etc/big.txt"), big_text(Some(40_000))).unwrap();
    std::fs::remove_dir_all(src.join("old")).unwrap();
    std::fs::write(src.join("etc/new file"), "new\n").unwrap();
    std::fs::set_permissions(
        src.join("etc/hosts"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    age(src, "2024-02-03 04:05:06");
}

/// [`describe`] plus every entry's owner, group and mtime, folders' and links' included.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = describe(root);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!(
                "{} {}:{} {}.{:09}",
                path.strip_prefix(root).unwrap().display(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// What the client printed, with the destination's name made the same.
fn shown(out: &Output, from: &str, to: &str) -> String {
    text(&out.stdout).replace(from, to)
}

/// The same first push, no-op push, and update with `--delete` (a delta for the big
/// file), once with rsync on the host and once with prsync there.
fn pushes_match_rsync(protocol: &[&str]) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let push = |remote: &str, args: &[&str], dest: &str| {
        let mut all = protocol.to_vec();
        all.extend_from_slice(args);
        stock_client(&tc, remote, &all, &from, &format!("node1:{dest}"))
    };

    let want = push("rsync", &["-ai"], "/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    assert!(text(&want.stdout).contains("<f+++++++++ etc/big.txt"));
    let got = push(&prsync, &["-ai"], "/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    assert_text_eq!(
        shown(&want, "/tmp/by-rsync", "/tmp/by-prsync"),
        text(&got.stdout)
    );
    assert_eq!(
        snapshot(&node.join("by-prsync")),
        snapshot(&node.join("by-rsync"))
    );

    // Nothing to do: nothing printed.
    let again = push(&prsync, &["-ai"], "/tmp/by-prsync/");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");

    change(&src);
    let args = ["-ai", "--delete", "--no-whole-file", "--stats"];
    let want = push("rsync", &args, "/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = push(&prsync, &args, "/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let (want_out, got_out) = (text(&want.stdout), text(&got.stdout));
    let items = |s: &str| -> String { s.split("\n\n").next().unwrap_or("").to_string() };
    assert!(want_out.contains("*deleting   old/"), "{want_out}");
    assert!(want_out.contains("<f.st...... etc/big.txt"), "{want_out}");
    assert_text_eq!(items(&want_out), items(&got_out));
    assert_eq!(
        snapshot(&node.join("by-prsync")),
        snapshot(&node.join("by-rsync"))
    );
    // The changed 600 KB file went as a delta against the sums prsync sent: the client's
    // own totals say how much was literal.
    let literal = |s: &str| -> u64 {
        let line = s
            .lines()
            .find(|l| l.starts_with("Literal data:"))
            .unwrap_or_else(|| panic!("no literal line in {s}"));
        line.split_whitespace()
            .nth(2)
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    assert!(literal(&got_out) < 40_000, "{got_out}");
    assert_eq!(literal(&got_out), literal(&want_out));
}

#[test]
fn a_stock_rsync_push_to_prsync_server_at_protocol_32_matches_rsync() {
    pushes_match_rsync(&[]);
}

#[test]
fn a_stock_rsync_push_to_prsync_server_at_protocol_30_matches_rsync() {
    pushes_match_rsync(&["--protocol=30"]);
}

/// The same first pull, and update with `--delete`, once from rsync on the host and
/// once from prsync there.
fn pulls_match_rsync(protocol: &[&str]) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull");
    let node = tc.cluster.node_tmp(1);
    let src = node.join("src");
    make_tree(&src);
    let prsync = prsync_there(&tc);
    let pull = |remote: &str, args: &[&str], dest: &Path| {
        let mut all = protocol.to_vec();
        all.extend_from_slice(args);
        stock_client(&tc, remote, &all, "node1:/tmp/src/", dest.to_str().unwrap())
    };
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
    for args in [&["-ai"][..], &["-ai", "--delete", "--no-whole-file"]] {
        let want = pull("rsync", args, &by_rsync);
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = pull(&prsync, args, &by_prsync);
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        assert_text_eq!(
            shown(
                &want,
                by_rsync.to_str().unwrap(),
                by_prsync.to_str().unwrap()
            ),
            text(&got.stdout)
        );
        assert_eq!(snapshot(&by_prsync), snapshot(&by_rsync));
        if args.len() == 1 {
            assert!(text(&got.stdout).contains(">f+++++++++ etc/big.txt"));
            change(&src);
        } else {
            assert!(text(&got.stdout).contains(">f.st...... etc/big.txt"));
            assert!(text(&got.stdout).contains("*deleting   old/"));
        }
    }
}

#[test]
fn a_stock_rsync_pull_from_prsync_server_at_protocol_32_matches_rsync() {
    pulls_match_rsync(&[]);
}

#[test]
fn a_stock_rsync_pull_from_prsync_server_at_protocol_30_matches_rsync() {
    pulls_match_rsync(&["--protocol=30"]);
}

#[test]
fn what_the_server_does_not_do_ends_with_one_line_and_no_hang() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("refused");
    let src = scratch.join("src");
    make_tree(&src);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    // An option not built: refused by name before anything is written.
    let out = stock_client(&tc, &prsync, &["-a", "--sparse"], &from, "node1:/tmp/x/");
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("prsync: --server does not do -S yet; hint: leave it out, or point --rsync-path at rsync"),
        "{err}"
    );
    assert!(!tc.cluster.node_tmp(1).join("x").exists());
    // What is refused after the handshake (a rule matched against the sender's absolute
    // path) reaches the client by the remote shell's stderr, as rsync's server sends its
    // errors. As rsync's sender, the server then hangs up without telling the client to
    // exit, which names the closed stream.
    let node_src = tc.cluster.node_tmp(1).join("src");
    make_tree(&node_src);
    for protocol in ["--protocol=30", "--protocol=32"] {
        let out = stock_client(
            &tc,
            &prsync,
            &["-a", protocol, "--filter=-/ /tmp/src/etc"],
            "node1:/tmp/src/",
            scratch.join("got").to_str().unwrap(),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(12), "{protocol}: {err}");
        assert!(
            err.contains("rsync: [prsync --server] bad filter rule '-/ /tmp/src/etc': the '/' modifier (match the absolute path) is not supported; hint: anchor the pattern at the transfer root with a leading '/', or point --rsync-path at rsync\n"),
            "{protocol}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // A missing source is rsync's partial transfer, named as rsync names it.
    let want = stock_client(
        &tc,
        "rsync",
        &["-a"],
        "node1:/tmp/missing",
        scratch.join("a").to_str().unwrap(),
    );
    let got = stock_client(
        &tc,
        &prsync,
        &["-a"],
        "node1:/tmp/missing",
        scratch.join("b").to_str().unwrap(),
    );
    assert_eq!(got.status.code(), want.status.code());
    assert_eq!(got.status.code(), Some(23));
    assert!(
        text(&got.stderr)
            .contains("link_stat \"/tmp/missing\" failed: No such file or directory (2)"),
        "{}",
        text(&got.stderr)
    );
}

/// Hard links (`-H`), filter rules, `-R`'s implied folders and `-s`'s arguments on
/// stdin, both ways, at protocol 31: the same trees and lines as with rsync on the host.
#[test]
fn hard_links_filters_relative_paths_and_secluded_args_match_rsync() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("more");
    let node = tc.cluster.node_tmp(1);
    let src = scratch.join("src");
    make_tree(&src);
    std::fs::hard_link(src.join("etc/hosts"), src.join("hosts.hard")).unwrap();
    std::fs::hard_link(src.join("etc/big.txt"), src.join("etc/conf.d/big.hard")).unwrap();
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    let cases: [&[&str]; 4] = [
        &["--protocol=31", "-aiH"],
        &["--protocol=31", "-aiH", "--exclude=*.conf", "--delete"],
        &["--protocol=31", "-ais", "--exclude=old/"],
        &["--protocol=30", "-aiH", "--no-whole-file"],
    ];
    for (round, args) in cases.iter().enumerate() {
        if round == 3 {
            // A new hard link to a changed file, and one link of a pair gone.
            change(&src);
            std::fs::hard_link(src.join("etc/big.txt"), src.join("zz.hard")).unwrap();
            std::fs::remove_file(src.join("hosts.hard")).unwrap();
        }
        for remote in ["rsync", prsync.as_str()] {
            let dest = if remote == "rsync" {
                "by-rsync"
            } else {
                "by-prsync"
            };
            let push = stock_client(&tc, remote, args, &from, &format!("node1:/tmp/{dest}/"));
            assert_eq!(
                push.status.code(),
                Some(0),
                "{args:?} {}",
                text(&push.stderr)
            );
            let pull_to = scratch.join(format!("pulled-{dest}"));
            let pull = stock_client(
                &tc,
                remote,
                args,
                &format!("node1:/tmp/{dest}/"),
                pull_to.to_str().unwrap(),
            );
            assert_eq!(
                pull.status.code(),
                Some(0),
                "{args:?} {}",
                text(&pull.stderr)
            );
            std::fs::write(
                scratch.join(format!("{dest}.out")),
                [
                    shown(&push, dest, "DEST"),
                    shown(&pull, pull_to.to_str().unwrap(), "PULLED").replace(dest, "DEST"),
                ]
                .concat(),
            )
            .unwrap();
        }
        let want = std::fs::read_to_string(scratch.join("by-rsync.out")).unwrap();
        let got = std::fs::read_to_string(scratch.join("by-prsync.out")).unwrap();
        assert_text_eq!(want, got);
        // A folder that gets a hard link at the end of the phase keeps the time of
        // that link, with rsync too: folders' own times are left out here.
        let files = |root: &Path| -> Vec<String> {
            snapshot(root)
                .into_iter()
                .filter(|l| {
                    let name = l.split(' ').next().unwrap_or("");
                    !root.join(name).is_dir() || l.ends_with(" 755") || l.ends_with(" 700")
                })
                .collect()
        };
        assert_eq!(
            files(&node.join("by-prsync")),
            files(&node.join("by-rsync")),
            "{args:?}"
        );
        assert_eq!(
            files(&scratch.join("pulled-by-prsync")),
            files(&scratch.join("pulled-by-rsync")),
            "{args:?}"
        );
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let there = node.join("by-prsync");
        if args.contains(&"-aiH") {
            assert_eq!(
                inode(&there.join("etc/big.txt")),
                inode(&there.join("etc/conf.d/big.hard"))
            );
        }
    }
    // -R: the path as named, its folders implied.
    let r_want = stock_client(
        &tc,
        "rsync",
        &["-aiR"],
        "node1:/tmp/by-rsync/./etc/conf.d",
        scratch.join("r-rsync").to_str().unwrap(),
    );
    let r_got = stock_client(
        &tc,
        &prsync,
        &["-aiR"],
        "node1:/tmp/by-rsync/./etc/conf.d",
        scratch.join("r-prsync").to_str().unwrap(),
    );
    assert_eq!(r_got.status.code(), Some(0), "{}", text(&r_got.stderr));
    assert_text_eq!(shown(&r_want, "r-rsync", "r-prsync"), text(&r_got.stdout));
    assert_eq!(
        snapshot(&scratch.join("r-prsync")),
        snapshot(&scratch.join("r-rsync"))
    );
}

/// prsync on both ends over rsync's protocol (`--wire=rsync` to `prsync --server`):
/// the same trees and lines as rsync on both ends.
#[test]
fn prsyncs_rsync_wire_client_and_server_agree_with_rsync_on_both_ends() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("both");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    for (round, args) in [&["-ai"][..], &["-ai", "--delete"]].iter().enumerate() {
        if round == 1 {
            change(&src);
        }
        let want = stock_client(&tc, "rsync", args, &from, "node1:/tmp/by-rsync/");
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = run(tc
            .prsync()
            .arg("--wire=rsync")
            .arg(format!("--rsync-path={prsync}"))
            .args(*args)
            .arg(&from)
            .arg("node1:/tmp/by-prsync/"));
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        assert_text_eq!(
            shown(&want, "/tmp/by-rsync", "/tmp/by-prsync"),
            text(&got.stdout)
        );
        assert_eq!(
            snapshot(&node.join("by-prsync")),
            snapshot(&node.join("by-rsync"))
        );
    }
    let pulled = scratch.join("pulled");
    let got = run(tc
        .prsync()
        .arg("--wire=rsync")
        .arg(format!("--rsync-path={prsync}"))
        .args(["-ai"])
        .arg("node1:/tmp/by-prsync/")
        .arg(&pulled));
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(snapshot(&pulled), snapshot(&node.join("by-rsync")));
}
