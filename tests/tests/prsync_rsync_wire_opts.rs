//! The receiver's options over rsync's own protocol (`--wire=rsync`): in a push they go to
//! the host's rsync in rsync's own words (`-I`, `-b`, `-u`, `--ignore-existing`,
//! `--delete-after`, `-M`...), in a pull this side does them; copies without `-r`, `-R`,
//! and `--files-from` lists here or on the host. Each case runs the stock rsync client and
//! prsync from the same state, against the stock rsync on a test host, and both must leave
//! the same tree and print the same lines.

use std::path::Path;

use prtools_tests::rsync_wire::{make_tree, set_old_times};
use prtools_tests::wire_compare::*;
use prtools_tests::{text, TestCluster};

#[test]
fn receiver_options_in_a_push_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push-opts");
    let src = make_tree(&scratch);
    let from = "SRC/";
    // -I: every file goes again, though size and time match.
    let (r, _) = push_both(
        &tc,
        &src,
        "ignore-times",
        true,
        no_prep,
        &["-ai", "-I"],
        from,
    );
    assert!(r.out.contains("<f......... etc/hosts"), "{}", r.out);
    assert_eq!(r.code, Some(0));
    // -b with a suffix, and --delete: the old copy and the deleted one are kept.
    let (r, dest) = push_both(
        &tc,
        &src,
        "backup",
        true,
        |d| {
            rewrite(d, "etc/hosts", "old hosts\n", "2023-01-01");
            rewrite(d, "stale", "gone soon\n", "2023-01-01");
        },
        &["-ai", "-b", "--suffix=.old", "--delete"],
        from,
    );
    assert_eq!(r.code, Some(0));
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/hosts.old")).unwrap(),
        "old hosts\n"
    );
    assert!(dest.join("stale.old").exists());
    // --backup-dir below the destination.
    let (_, dest) = push_both(
        &tc,
        &src,
        "backup-dir",
        true,
        |d| rewrite(d, "etc/hosts", "old hosts\n", "2023-01-01"),
        &["-ai", "--backup-dir=bak"],
        from,
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("bak/etc/hosts")).unwrap(),
        "old hosts\n"
    );
    // -u: a file newer on the host stays; an older one is replaced.
    let (_, dest) = push_both(
        &tc,
        &src,
        "update",
        true,
        |d| {
            rewrite(d, "etc/hosts", "newer here\n", "2030-01-01");
            rewrite(d, "etc/conf.d/app with space.conf", "older\n", "2020-01-01");
        },
        &["-ai", "-u"],
        from,
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/hosts")).unwrap(),
        "newer here\n"
    );
    // --ignore-existing and --size-only.
    for (name, args) in [
        ("ignore-existing", &["-ai", "--ignore-existing"][..]),
        ("size-only", &["-ai", "--size-only"][..]),
    ] {
        push_both(
            &tc,
            &src,
            name,
            true,
            |d| {
                rewrite(d, "etc/hosts", "127.0.0.9 localhost\n", "2023-01-01");
                std::fs::remove_file(d.join("etc/big.txt")).unwrap();
            },
            args,
            from,
        );
    }
    // --delete-after and --max-size: the big file is not sent.
    let (_, dest) = push_both(
        &tc,
        &src,
        "delete-after",
        false,
        no_prep,
        &["-ai", "--delete-after", "--max-size=1k"],
        from,
    );
    assert!(!dest.join("etc/big.txt").exists());
    // -M reaches the host's rsync as it is given: its log file is written there.
    // (Each run's log replaces the one before: prsync's is the one read.)
    let log = tc.cluster.node_tmp(1).join("remote-option.log");
    push_both(
        &tc,
        &src,
        "remote-option",
        false,
        |_| {
            let _ = std::fs::remove_file(&log);
        },
        &[
            "-a",
            "-M--log-file-format=%i %n",
            "-M--log-file=/tmp/remote-option.log",
        ],
        from,
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("etc/hosts"), "{log}");
}

#[test]
fn shapes_of_a_push_without_r_and_with_lists_match_rsyncs() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push-shapes");
    let src = make_tree(&scratch);
    // Without -r: files named go, a folder named is skipped (or made, with -d).
    for (name, args) in [("no-r", &["-lptgoi"][..]), ("dirs", &["-lptgoi", "-d"][..])] {
        let (r, _) = push_both(
            &tc,
            &src,
            name,
            false,
            no_prep,
            args,
            "SRC/hosts SRC/etc SRC/etc/hosts",
        );
        assert_eq!(r.code, Some(0));
    }
    // -R keeps the path after the `/./`.
    let (_, dest) = push_both(
        &tc,
        &src,
        "relative",
        false,
        no_prep,
        &["-aiR"],
        "SRC/./etc/conf.d",
    );
    assert!(dest.join("etc/conf.d/app with space.conf").exists());
    // --files-from here, then on the host (`:FILE`), with names and a folder.
    let list = "etc/hosts\netc/conf.d/\n# a comment\n";
    std::fs::write(scratch.join("list"), list).unwrap();
    std::fs::write(tc.cluster.node_tmp(1).join("list"), list).unwrap();
    let local = format!("--files-from={}", scratch.join("list").display());
    let (r, dest) = push_both(
        &tc,
        &src,
        "files-from",
        false,
        no_prep,
        &["-ai", &local],
        "SRC/",
    );
    assert!(
        dest.join("etc/conf.d/app with space.conf").exists(),
        "{:?}",
        r.tree
    );
    assert!(!dest.join("etc/big.txt").exists());
    let (_, dest) = push_both(
        &tc,
        &src,
        "files-from-there",
        false,
        no_prep,
        &["-ai", "--files-from=:/tmp/list"],
        "SRC/",
    );
    assert!(dest.join("etc/hosts").exists());
    assert!(!dest.join("etc/big.txt").exists());
}

#[test]
fn receiver_options_in_a_pull_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-opts");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    std::fs::write(tc.cluster.node_tmp(1).join("list"), "etc/hosts\nhosts\n").unwrap();
    let src_there = "/tmp/tree/src";
    let copy = |d: &Path| {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(d)
            .status()
            .unwrap();
        assert!(status.success());
    };
    // -I: every file comes again.
    let r = pull_both(
        &tc,
        &scratch,
        "ignore-times",
        copy,
        &["-ai", "-I"],
        "SRC/",
        src_there,
    );
    assert!(r.out.contains(">f"), "{}", r.out);
    // -u, --ignore-existing, --size-only against a changed copy here.
    let changed = |d: &Path| {
        copy(d);
        rewrite(d, "etc/hosts", "newer here\n", "2030-01-01");
        rewrite(d, "etc/conf.d/app with space.conf", "x = 2\n", "2020-01-01");
        std::fs::remove_file(d.join("etc/big.txt")).unwrap();
    };
    for (name, args) in [
        ("update", &["-ai", "-u"][..]),
        ("ignore-existing", &["-ai", "--ignore-existing"][..]),
        ("size-only", &["-ai", "--size-only"][..]),
    ] {
        let r = pull_both(&tc, &scratch, name, changed, args, "SRC/", src_there);
        assert_eq!(r.code, Some(0), "{name}");
    }
    let kept = scratch.join("prsync-update/etc/hosts");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "newer here\n");
    // -R, and a --files-from list on the host (`:FILE`).
    let r = pull_both(
        &tc,
        &scratch,
        "relative",
        no_prep,
        &["-aiR"],
        "/tmp/tree/./src/etc",
        src_there,
    );
    assert!(
        r.tree.iter().any(|l| l.starts_with("src/etc/hosts ")),
        "{:?}",
        r.tree
    );
    let r = pull_both(
        &tc,
        &scratch,
        "files-from-there",
        no_prep,
        &["-ai", "--files-from=:/tmp/list"],
        "SRC/",
        src_there,
    );
    assert!(
        r.tree.iter().any(|l| l.starts_with("etc/hosts ")),
        "{:?}",
        r.tree
    );
    assert!(!r.tree.iter().any(|l| l.starts_with("etc/big.txt")));
}

#[test]
fn filters_and_deletions_in_a_pull_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-filters");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    // Per-folder rules on the sender: etc/ leaves out big.txt.
    std::fs::write(src.join("etc/.rsync-filter"), "- big.txt\n").unwrap();
    std::fs::create_dir_all(src.join("new/deeper")).unwrap();
    std::fs::write(src.join("new/deeper/file"), "new\n").unwrap();
    set_old_times(&src);
    let src_there = "/tmp/tree/src";
    // Extra files here; this side's own per-folder rules protect one of them.
    let extras = |d: &Path| {
        std::fs::create_dir_all(d.join("etc/old")).unwrap();
        std::fs::write(d.join("etc/stale"), "stale\n").unwrap();
        std::fs::write(d.join("etc/keep.local"), "mine\n").unwrap();
        std::fs::write(d.join("etc/old/inside"), "old\n").unwrap();
        std::fs::write(d.join("etc/.rsync-filter"), "P *.local\n").unwrap();
        std::fs::write(d.join("gone.o"), "object\n").unwrap();
        // Times of their own, the same for both clients' runs.
        let status = std::process::Command::new("find")
            .arg(d)
            .args([
                "-exec",
                "touch",
                "-h",
                "-d",
                "2023-05-06 07:08:09",
                "{}",
                "+",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    };
    for (name, args) in [
        ("dir-merge", &["-ai", "-F", "--delete"][..]),
        ("delete-before", &["-ai", "-F", "--delete-before"][..]),
        ("delete-after", &["-ai", "-F", "--delete-after"][..]),
        (
            "delete-excluded",
            &["-ai", "--exclude=*.o", "--delete-excluded"][..],
        ),
        ("existing", &["-ai", "--existing", "--delete"][..]),
        ("chmod", &["-ai", "--chmod=Du+w,Fo-r,Fg+w"][..]),
        ("omit-dir-times", &["-aiO"][..]),
    ] {
        let r = pull_both(&tc, &scratch, name, extras, args, "SRC/", src_there);
        assert_eq!(r.code, Some(0), "{name}");
    }
    let kept = scratch.join("prsync-dir-merge/etc");
    assert!(kept.join("keep.local").exists());
    assert!(!kept.join("stale").exists());
    assert!(!kept.join("big.txt").exists());
    assert!(!scratch.join("prsync-delete-excluded/gone.o").exists());
    assert!(!scratch.join("prsync-existing/new").exists());
    // -R from an absolute path: the names land below the destination.
    let r = pull_both(
        &tc,
        &scratch,
        "relative-abs",
        no_prep,
        &["-aiR"],
        "SRC/etc/conf.d",
        src_there,
    );
    assert!(
        r.tree
            .iter()
            .any(|l| l.starts_with("tmp/tree/src/etc/conf.d/app with space.conf ")),
        "{:?}",
        r.tree
    );
}

#[test]
fn ids_go_by_number_or_by_map_as_rsync_sends_them() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("ids");
    let src = make_tree(&scratch);
    // An owner with a name on both sides, and ids with no name at all.
    let chown = |path: &Path, uid: u32, gid: u32| {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    };
    chown(&src.join("etc/hosts"), 65534, 65534);
    chown(&src.join("etc/big.txt"), 54321, 54322);
    for (name, args) in [
        ("numeric", &["-ai", "--numeric-ids"][..]),
        ("usermap", &["-ai", "--usermap=nobody:daemon,54321:1"][..]),
        ("chown", &["-ai", "--chown=daemon:daemon"][..]),
    ] {
        let (r, _) = push_both(&tc, &src, name, false, no_prep, args, "SRC/");
        assert_eq!(r.code, Some(0), "{name}");
    }
    let there = tc.cluster.node_tmp(1).join("prsync-chown");
    assert!(
        owners(&there).iter().all(|l| l.ends_with(" 1:1")),
        "{:?}",
        owners(&there)
    );
    let r = pull_both(
        &tc,
        &scratch,
        "pull-numeric",
        no_prep,
        &["-ai", "--numeric-ids"],
        "/tmp/prsync-numeric/",
        "",
    );
    assert!(
        r.owners.iter().any(|l| l == "etc/big.txt 54321:54322"),
        "{:?}",
        r.owners
    );
    // A pull maps on this side, as rsync's receiver: by the sender's names, numbers and
    // ranges, the first rule that matches winning, nameless ids by an empty FROM.
    for (name, args) in [
        (
            "pull-usermap",
            &["-ai", "--usermap=nobody:daemon,54000-55000:2,*:3"][..],
        ),
        ("pull-groupmap", &["-ai", "--groupmap=:4,nog*:5"][..]),
        ("pull-chown", &["-ai", "--chown=daemon:daemon"][..]),
        (
            "pull-numeric-map",
            &["-ai", "--numeric-ids", "--usermap=65534:6"][..],
        ),
    ] {
        let r = pull_both(
            &tc,
            &scratch,
            name,
            no_prep,
            args,
            "/tmp/prsync-numeric/",
            "",
        );
        assert_eq!(r.code, Some(0), "{name}");
        let want = match name {
            "pull-usermap" => "etc/big.txt 2:54322",
            "pull-groupmap" => "etc/big.txt 54321:4",
            "pull-chown" => "etc/big.txt 1:1",
            _ => "etc/hosts 6:65534",
        };
        assert!(r.owners.iter().any(|l| l == want), "{name}: {:?}", r.owners);
    }
}

/// `--progress` output without what depends on the clock: the rate, and the lines rsync
/// writes while a file is still on its way (they end in `\r`, and come as time passes).
fn progress_steady(out: &str) -> Vec<String> {
    out.split_inclusive(['\n', '\r'])
        .filter(|seg| !(seg.ends_with('\r') && seg.contains('%')))
        .map(|seg| {
            seg.split_whitespace()
                .map(|w| if w.ends_with("B/s") { "RATE" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn progress_prints_rsyncs_lines_both_ways() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("progress");
    let src = make_tree(&scratch);
    let mut seen = Vec::new();
    for who in ["rsync", "prsync"] {
        let push = client(
            &tc,
            who,
            &["-a", "--progress"],
            &format!("{}/", src.display()),
            &format!("node1:/tmp/{who}-progress/"),
        );
        let pull = client(
            &tc,
            who,
            &["-a", "--progress"],
            &format!("node1:/tmp/{who}-progress/"),
            &format!("{}/", scratch.join(format!("{who}-back")).display()),
        );
        assert_eq!(
            (push.status.code(), pull.status.code()),
            (Some(0), Some(0)),
            "{who}"
        );
        let pull_out = text(&pull.stdout).replace(&format!("{who}-back"), "WHO-back");
        seen.push((
            progress_steady(&text(&push.stdout)),
            progress_steady(&pull_out),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[1].0.iter().any(|l| l.contains("(xfr#1, to-chk=")),
        "{:?}",
        seen[1].0
    );
    assert!(
        seen[1].0.iter().any(|l| l.contains("files to consider")),
        "{:?}",
        seen[1].0
    );
}

/// A pull stopped by a signal mid-file leaves no temp file, as rsync's receiver does, and
/// exits 20; with `--partial` what came is kept under the file's name (also when `-T`
/// put the temp file elsewhere), with `--partial-dir` in that folder.
#[test]
fn a_stopped_pull_leaves_no_temp_file() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("stopped");
    let there = tc.cluster.node_tmp(1).join("big");
    std::fs::create_dir_all(&there).unwrap();
    // Sparse: quick to make, and long enough on the wire to be stopped midway.
    std::fs::File::create(there.join("big.bin"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let temps = scratch.join("temps");
    std::fs::create_dir_all(&temps).unwrap();
    let temp_dir = format!("--temp-dir={}", temps.display());
    for (name, args) in [
        ("plain", &["-a"][..]),
        ("partial", &["-a", "--partial"][..]),
        ("partial-dir", &["-a", "--partial-dir=.part"][..]),
        ("temp-dir", &["-a", "--partial", &temp_dir][..]),
    ] {
        let dest = scratch.join(name);
        std::fs::create_dir_all(&dest).unwrap();
        let written_in = if name == "temp-dir" { &temps } else { &dest };
        let mut child = prtools_tests::spawn(
            tc.prsync()
                .arg("--wire=rsync")
                .args(args)
                .arg("node1:/tmp/big/")
                .arg(format!("{}/", dest.display())),
        );
        prtools_tests::wait_for_temp_file(written_in, ".big.bin.", 1 << 20);
        // SAFETY: kill with a valid pid and signal number.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(20), "{name}");
        let left: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let kept_at = match name {
            "plain" => {
                assert!(left.is_empty(), "{left:?}");
                continue;
            }
            "partial-dir" => {
                assert_eq!(left, [".part"]);
                dest.join(".part/big.bin")
            }
            _ => {
                assert_eq!(left, ["big.bin"]);
                dest.join("big.bin")
            }
        };
        let kept = std::fs::metadata(&kept_at).unwrap().len();
        assert!(kept > 0 && kept < 1 << 30, "{name}: {kept}");
    }
    assert_eq!(std::fs::read_dir(&temps).unwrap().count(), 0);
}
