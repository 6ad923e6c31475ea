//! `prsync --server` under the stock rsync client (`rsync --rsync-path=prsync`), for the
//! options issue 18 left refused: each run is made once with rsync on the host and once
//! with prsync there, and must leave the same trees, print the same lines and write the
//! same logs.

use std::path::Path;
use std::process::{Command, Output};

use prtools_tests::rsync_server::{prsync_there, stock_client};
use prtools_tests::{assert_text_eq, describe, run, text, TestCluster};

/// A small tree: files at two depths, a symlink, a folder.
fn make_tree(src: &Path) {
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("a"), "alpha\n").unwrap();
    std::fs::write(src.join("d/b"), "bravo\n").unwrap();
    std::fs::write(src.join("d/e/c"), "charlie ".repeat(5000)).unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
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
        stock_client(&tc, remote, &args, &from, &format!("node1:/tmp/{who}/"))
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
    let out = stock_client(
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
    let want = stock_client(&tc, "rsync", &args, &from, "node1:/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = stock_client(&tc, &prsync, &args, &from, "node1:/tmp/by-prsync/");
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
    let want = stock_client(&tc, "rsync", &args, &from, "node1:/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = stock_client(&tc, &prsync, &args, &from, "node1:/tmp/by-prsync/");
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
    let out = stock_client(
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

/// The client's `-i` lines: its output up to the totals.
fn items(o: &Output) -> String {
    text(&o.stdout)
        .split("\n\n")
        .next()
        .unwrap_or("")
        .to_string()
}

/// Sets a file's mtime, so that a basis folder's copy matches the source's or not.
fn set_mtime(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap();
}

/// Gives the source's folders an old time: folders made here in the same second as
/// theirs would otherwise get a `t` in one run and not in the other.
fn age_dirs(src: &Path) {
    for dir in [".", "d", "d/e"] {
        let out = run(Command::new("touch")
            .args(["-m", "-d", "@1500000000"])
            .arg(src.join(dir)));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

#[test]
fn basis_folders_on_a_push_leave_rsyncs_trees_and_lines() {
    use std::os::unix::fs::MetadataExt;
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("alt-dest");
    let src = scratch.join("src");
    make_tree(&src);
    std::fs::write(src.join("f"), "foxtrot ".repeat(3000)).unwrap();
    for name in ["a", "d/b", "f", "d/e/c"] {
        set_mtime(&src.join(name), 1_600_000_000);
    }
    let node = tc.cluster.node_tmp(1);
    // alt1 (absolute) holds exact copies of a and d/b; alt2 (relative to the
    // destination) an older f with other data, a basis for the delta, and d/e/c with
    // only its time changed, which --copy-dest copies and the others itemize.
    std::fs::create_dir_all(node.join("alt1/d")).unwrap();
    std::fs::create_dir_all(node.join("alt2/d/e")).unwrap();
    std::fs::copy(src.join("a"), node.join("alt1/a")).unwrap();
    std::fs::copy(src.join("d/b"), node.join("alt1/d/b")).unwrap();
    std::fs::write(node.join("alt2/f"), "foxtrot ".repeat(2900)).unwrap();
    std::fs::copy(src.join("d/e/c"), node.join("alt2/d/e/c")).unwrap();
    set_mtime(&node.join("alt1/a"), 1_600_000_000);
    set_mtime(&node.join("alt1/d/b"), 1_600_000_000);
    set_mtime(&node.join("alt2/f"), 1_500_000_000);
    set_mtime(&node.join("alt2/d/e/c"), 1_500_000_000);
    // A symlink and a fifo as the source has them, which rsync's try_dests_non links,
    // leaves out or makes anew without a line; and a symlink to elsewhere.
    std::os::unix::fs::symlink("a", node.join("alt1/l")).unwrap();
    std::os::unix::fs::symlink("elsewhere", node.join("alt2/m")).unwrap();
    std::os::unix::fs::symlink("d/b", src.join("m")).unwrap();
    for made in [src.join("p"), node.join("alt1/p")] {
        let out = run(Command::new("mkfifo").arg(&made));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for aged in [
        src.join("l"),
        node.join("alt1/l"),
        src.join("p"),
        node.join("alt1/p"),
    ] {
        let out = run(Command::new("touch")
            .args(["-h", "-m", "-d", "@1500000000"])
            .arg(&aged));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    age_dirs(&src);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    for kind in ["--compare-dest", "--copy-dest", "--link-dest"] {
        for itemize in ["-ai", "-aii"] {
            let mut args = vec![itemize, "--no-whole-file"];
            let alt1 = format!("{kind}=/tmp/alt1");
            let alt2 = format!("{kind}=../alt2");
            args.extend([alt1.as_str(), alt2.as_str()]);
            let mut outs = Vec::new();
            for (remote, who) in [("rsync", "by-rsync"), (prsync.as_str(), "by-prsync")] {
                let _ = std::fs::remove_dir_all(node.join(who));
                // One file is here already, with other data, to be replaced.
                std::fs::create_dir_all(node.join(who)).unwrap();
                std::fs::write(node.join(who).join("a"), "old").unwrap();
                let out = stock_client(&tc, remote, &args, &from, &format!("node1:/tmp/{who}/"));
                assert_eq!(out.status.code(), Some(0), "{kind}: {}", text(&out.stderr));
                outs.push(out);
            }
            let (want, got) = (&outs[0], &outs[1]);
            assert_eq!(text(&got.stderr), "", "{kind}");
            assert!(items(want).contains("f.st...... f"), "{}", items(want));
            assert!(items(want).contains(" m -> d/b"), "{}", items(want));
            assert_text_eq!(items(want), items(got));
            for name in ["d/b", "l", "p"] {
                let linked = std::fs::symlink_metadata(node.join("by-prsync").join(name))
                    .map(|m| m.ino())
                    .ok();
                let alt = std::fs::symlink_metadata(node.join("alt1").join(name))
                    .unwrap()
                    .ino();
                assert_eq!(linked == Some(alt), kind == "--link-dest", "{kind} {name}");
            }
            // The fifo is made by all but --compare-dest; it goes before the trees are
            // read, as reading one would wait for a writer.
            for who in ["by-rsync", "by-prsync"] {
                let fifo = node.join(who).join("p");
                let made = std::fs::symlink_metadata(&fifo)
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()));
                assert_eq!(made, kind != "--compare-dest", "{kind} {who}");
                let _ = std::fs::remove_file(fifo);
            }
            assert_eq!(
                describe(&node.join("by-prsync")),
                describe(&node.join("by-rsync")),
                "{kind} {itemize}"
            );
        }
    }

    // Mixed options are refused in rsync's words, and nothing is written.
    let _ = std::fs::remove_dir_all(node.join("by-prsync"));
    let out = stock_client(
        &tc,
        &prsync,
        &["-a", "--link-dest=/tmp/alt1", "--compare-dest=/tmp/alt2"],
        &from,
        "node1:/tmp/by-prsync/",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("conflicts with the --link-dest option"),
        "{err}"
    );
}

#[test]
fn keep_dirlinks_and_inplace_on_a_push_are_rsyncs() {
    use std::os::unix::fs::MetadataExt;
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("dirlinks");
    let src = scratch.join("src");
    make_tree(&src);
    age_dirs(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    for who in ["by-rsync", "by-prsync"] {
        // d is a symlink to a real folder here, and d/b a file with a second link.
        let dest = node.join(who);
        std::fs::create_dir_all(dest.join("real/e")).unwrap();
        std::os::unix::fs::symlink("real", dest.join("d")).unwrap();
        std::fs::write(dest.join("real/b"), "old data").unwrap();
        std::fs::hard_link(dest.join("real/b"), dest.join("b-twin")).unwrap();
    }
    let args = ["-ai", "-K", "--inplace", "--no-whole-file"];
    let want = stock_client(&tc, "rsync", &args, &from, "node1:/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = stock_client(&tc, &prsync, &args, &from, "node1:/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    assert!(items(&want).contains("d/e/c"), "{}", items(&want));
    assert_text_eq!(items(&want), items(&got));
    // The link is kept, the files went through it, and d/b was rewritten in place.
    let dest = node.join("by-prsync");
    assert!(std::fs::symlink_metadata(dest.join("d"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(dest.join("b-twin")).unwrap(), b"bravo\n");
    assert_eq!(
        std::fs::metadata(dest.join("b-twin")).unwrap().ino(),
        std::fs::metadata(dest.join("real/b")).unwrap().ino()
    );
    assert_eq!(describe(&dest), describe(&node.join("by-rsync")));
}

/// A tree with per-folder filter files, as rsync's own exclude test builds them.
fn make_filtered_tree(src: &Path) {
    make_tree(src);
    std::fs::write(src.join("x.o"), "object").unwrap();
    std::fs::write(src.join("d/x.tmp"), "temp").unwrap();
    std::fs::write(src.join("d/e/y.o"), "object").unwrap();
    std::fs::write(src.join("d/e/keep.o"), "kept").unwrap();
    std::fs::write(src.join(".rsync-filter"), "- *.o\n").unwrap();
    std::fs::write(src.join("d/.rsync-filter"), "- *.tmp\n").unwrap();
    std::fs::write(src.join("d/e/.rsync-filter"), "+ keep.o\n").unwrap();
    std::fs::write(src.join("d/.excl"), "b\n").unwrap();
}

#[test]
fn per_folder_merge_files_on_a_pull_are_read_as_rsync_reads_them() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    let src = node.join("merge-src");
    make_filtered_tree(&src);
    let scratch = tc.scratch("merge-pull");
    let prsync = prsync_there(&tc);
    for filters in [
        &["-F"][..],
        &["-FF"],
        &["--filter=: .rsync-filter"],
        &["--filter=:e .rsync-filter"],
        &["--filter=dir-merge,- .excl", "--filter=:n .rsync-filter"],
        &["-f", "dir-merge,-_.excl"],
    ] {
        let mut args = vec!["-ai"];
        args.extend(filters);
        let mut outs = Vec::new();
        for (remote, who) in [("rsync", "by-rsync"), (prsync.as_str(), "by-prsync")] {
            let to = scratch.join(who);
            let _ = std::fs::remove_dir_all(&to);
            let out = stock_client(
                &tc,
                remote,
                &args,
                "node1:/tmp/merge-src/",
                &format!("{}/", to.display()),
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{filters:?}: {}",
                text(&out.stderr)
            );
            outs.push(out);
        }
        assert_eq!(text(&outs[1].stderr), "", "{filters:?}");
        assert_text_eq!(
            items(&outs[0]).replace("by-rsync", "by-prsync"),
            items(&outs[1])
        );
        assert_eq!(
            describe(&scratch.join("by-prsync")),
            describe(&scratch.join("by-rsync")),
            "{filters:?}"
        );
    }
    // The rules were read: -F left out what the files exclude.
    let _ = std::fs::remove_dir_all(scratch.join("by-prsync"));
    let to = format!("{}/", scratch.join("by-prsync").display());
    let out = stock_client(&tc, &prsync, &["-a", "-F"], "node1:/tmp/merge-src/", &to);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!scratch.join("by-prsync/x.o").exists());
    assert!(!scratch.join("by-prsync/d/x.tmp").exists());
    assert!(scratch.join("by-prsync/d/e/keep.o").exists());
}

#[test]
fn per_folder_merge_files_on_a_push_protect_from_delete_as_with_rsync() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("merge-push");
    let src = scratch.join("src");
    make_tree(&src);
    age_dirs(&src);
    let node = tc.cluster.node_tmp(1);
    let prsync = prsync_there(&tc);
    let from = format!("{}/", src.display());
    for filters in [
        &["--delete", "-F"][..],
        &["--delete-before", "--filter=:- .keep"],
    ] {
        let mut outs = Vec::new();
        for (remote, who) in [("rsync", "by-rsync"), (prsync.as_str(), "by-prsync")] {
            // What is here only: the receiver's own merge files decide what --delete spares.
            let dest = node.join(who);
            let _ = std::fs::remove_dir_all(&dest);
            std::fs::create_dir_all(dest.join("d/e")).unwrap();
            std::fs::write(dest.join(".rsync-filter"), "- *.log\n").unwrap();
            std::fs::write(dest.join("d/.keep"), "*.bak\n").unwrap();
            for name in ["x.log", "x.bak", "d/y.log", "d/y.bak", "d/e/z.bak", "gone"] {
                std::fs::write(dest.join(name), "here only").unwrap();
                set_mtime(&dest.join(name), 1_500_000_000);
            }
            let mut args = vec!["-ai"];
            args.extend(filters);
            let out = stock_client(&tc, remote, &args, &from, &format!("node1:/tmp/{who}/"));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{filters:?}: {}",
                text(&out.stderr)
            );
            outs.push(out);
        }
        assert_eq!(text(&outs[1].stderr), "", "{filters:?}");
        assert!(text(&outs[0].stdout).contains("*deleting"), "{filters:?}");
        // The `*deleting` lines are messages and the file lines data: how the two
        // interleave across folders depends on when the server's buffers go out, so the
        // lines are compared as a set.
        let sorted = |o: &Output| {
            let mut lines: Vec<String> = items(o).lines().map(String::from).collect();
            lines.sort();
            lines.join("\n")
        };
        assert_text_eq!(sorted(&outs[0]), sorted(&outs[1]));
        assert_eq!(
            describe(&node.join("by-prsync")),
            describe(&node.join("by-rsync")),
            "{filters:?}"
        );
    }
}

#[test]
fn a_merge_file_outside_the_confine_root_is_not_read() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    let root = node.join("confined");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(node.join("outside-secret"), "secretword\n").unwrap();
    std::fs::write(root.join("secretword"), "x").unwrap();
    std::fs::write(root.join("sub/dropped"), "x").unwrap();
    std::fs::write(root.join("sub/.rsync-filter"), "dropped\n").unwrap();
    let scratch = tc.scratch("confine-merge");
    let prsync = prsync_there(&tc);
    for (filter, kept, dropped) in [
        (":-s ../outside-secret", "secretword", None),
        (":-s .rsync-filter", "secretword", Some("sub/dropped")),
    ] {
        let to = scratch.join("pulled");
        let _ = std::fs::remove_dir_all(&to);
        let out = stock_client(
            &tc,
            &prsync,
            &[
                "-r",
                &format!("--filter={filter}"),
                "-M--confine-root=/tmp/confined",
            ],
            "node1:/tmp/confined/",
            &format!("{}/", to.display()),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{filter}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("secretword"));
        assert!(to.join(kept).exists(), "{filter}: {:?}", describe(&to));
        if let Some(dropped) = dropped {
            assert!(!to.join(dropped).exists(), "{filter}: {:?}", describe(&to));
        }
    }
}

#[test]
fn copy_unsafe_links_on_a_pull_sends_what_they_point_to() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    let src = node.join("links-src");
    std::fs::create_dir_all(src.join("in")).unwrap();
    std::fs::create_dir_all(node.join("links-out")).unwrap();
    std::fs::write(node.join("links-out/f"), "outside").unwrap();
    std::fs::write(src.join("in/f"), "inside").unwrap();
    std::os::unix::fs::symlink("../../links-out/f", src.join("in/unsafe")).unwrap();
    std::os::unix::fs::symlink("../links-out", src.join("unsafe-dir")).unwrap();
    std::os::unix::fs::symlink("f", src.join("in/safe")).unwrap();
    std::os::unix::fs::symlink("../nowhere", src.join("dangling")).unwrap();
    let scratch = tc.scratch("copy-unsafe");
    let prsync = prsync_there(&tc);
    let mut outs = Vec::new();
    for (remote, who) in [("rsync", "by-rsync"), (prsync.as_str(), "by-prsync")] {
        let out = stock_client(
            &tc,
            remote,
            &["-ai", "--copy-unsafe-links"],
            "node1:/tmp/links-src/",
            &format!("{}/", scratch.join(who).display()),
        );
        // The dangling one is an error for both.
        assert_eq!(out.status.code(), Some(23), "{}", text(&out.stderr));
        outs.push(out);
    }
    assert_text_eq!(
        items(&outs[0]).replace("by-rsync", "by-prsync"),
        items(&outs[1])
    );
    let err = |o: &Output| text(&o.stderr).lines().next().unwrap_or("").to_string();
    assert_eq!(err(&outs[0]), err(&outs[1]));
    assert_eq!(
        std::fs::read(scratch.join("by-prsync/unsafe-dir/f")).unwrap(),
        b"outside"
    );
    assert_eq!(
        describe(&scratch.join("by-prsync")),
        describe(&scratch.join("by-rsync"))
    );
}
