//! More options over rsync's own protocol (`--wire=rsync`), each done as the stock rsync
//! client does it against the same `rsync --server`: `-c` both ways (the list carries each
//! file's checksum), `-B`, `--out-format`, and the pull's own receiver options. Each case
//! runs the stock rsync client and prsync from the same state, against the stock rsync on
//! a test host, and both must leave the same tree and print the same lines.

use std::path::Path;

use prtools_tests::rsync_wire::{make_tree, set_old_times};
use prtools_tests::wire_compare::*;
use prtools_tests::{describe, run, text, TestCluster};

/// A copy of `src`'s contents into `d`.
fn copy_of(src: &Path) -> impl Fn(&Path) + '_ {
    move |d: &Path| {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", src.display()))
            .arg(d)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// What `-c` catches and the quick check does not: a file of the same size and time with
/// other bytes (sent again), and one with the same bytes and another time (only its time
/// is set).
fn same_size_and_time_other_bytes(d: &Path) {
    rewrite(
        d,
        "etc/hosts",
        "127.0.0.9 localhost\n",
        "2024-01-02 03:04:05",
    );
    rewrite(d, "etc/conf.d/app with space.conf", "x = 1\n", "2020-01-01");
}

#[test]
fn checksum_in_a_push_sends_the_sums_in_the_list() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push-c");
    let src = make_tree(&scratch);
    let (r, dest) = push_both(
        &tc,
        &src,
        "checksum",
        true,
        same_size_and_time_other_bytes,
        &["-ai", "-c"],
        "SRC/",
    );
    assert_eq!(r.code, Some(0));
    assert!(r.out.contains("<fc........ etc/hosts"), "{}", r.out);
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n"
    );
    // With -H too: a later hard link's sum is not sent.
    std::fs::hard_link(src.join("etc/hosts"), src.join("hosts.hard")).unwrap();
    let (r, _) = push_both(
        &tc,
        &src,
        "checksum-hard",
        false,
        no_prep,
        &["-aiH", "-c"],
        "SRC/",
    );
    assert_eq!(r.code, Some(0));
    assert!(r.out.contains("hosts.hard => etc/hosts"), "{}", r.out);
}

#[test]
fn checksum_in_a_pull_compares_the_listed_sums() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-c");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    let copy = copy_of(&src);
    let prep = |d: &Path| {
        copy(d);
        same_size_and_time_other_bytes(d);
    };
    let r = pull_both(
        &tc,
        &scratch,
        "checksum",
        prep,
        &["-ai", "-c"],
        "SRC/",
        "/tmp/tree/src",
    );
    assert_eq!(r.code, Some(0));
    assert!(r.out.contains(">fc"), "{}", r.out);
    let got = std::fs::read_to_string(scratch.join("prsync-checksum/etc/hosts")).unwrap();
    assert_eq!(got, "127.0.0.1 localhost\n");
    // Without -c the quick check leaves it.
    let r = pull_both(
        &tc,
        &scratch,
        "quick",
        prep,
        &["-ai"],
        "SRC/",
        "/tmp/tree/src",
    );
    assert!(!r.out.contains("etc/hosts"), "{}", r.out);
}

/// The `-i` lines and `--stats`' literal and matched counts of a run's stdout: what says
/// how each file went, without the times and rates.
fn delta_lines(out: &str) -> String {
    out.lines()
        .filter(|l| {
            l.starts_with('<')
                || l.starts_with('>')
                || l.starts_with("Literal data:")
                || l.starts_with("Matched data:")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The number in `--stats`' `Literal data: N bytes` line.
fn literal(lines: &str) -> u64 {
    lines
        .lines()
        .find_map(|l| l.strip_prefix("Literal data: "))
        .and_then(|l| l.split(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap()
}

/// `etc/big.txt` with one of its lines changed, so that a delta moves it.
fn one_line_changed(d: &Path) {
    let body: String = (0..20_000)
        .map(|i| {
            if i == 10_000 {
                "this line changed\n".to_string()
            } else {
                format!("line {i}\n")
            }
        })
        .collect();
    rewrite(d, "etc/big.txt", &body, "2023-01-01");
}

#[test]
fn block_size_shapes_the_delta_both_ways() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("block-size");
    let src = make_tree(&scratch);
    let args = ["-ai", "--no-whole-file", "--stats", "-B8192"];
    // A push: the server's generator cuts its blocks by -B.
    let pushed = both("push -B", |who| {
        let dest = tc.cluster.node_tmp(1).join(format!("{who}-bs"));
        copy_of(&src)(&dest);
        one_line_changed(&dest);
        let out = client(
            &tc,
            who,
            &args,
            &format!("{}/", src.display()),
            &format!("node1:/tmp/{who}-bs/"),
        );
        Result::of(&out, delta_lines(&text(&out.stdout)), &dest)
    });
    assert_eq!(pushed.code, Some(0));
    // The changed line's block goes whole: 8 KiB of it, where rsync's own 700-byte
    // blocks would send less than 1 KiB.
    assert!(literal(&pushed.out) >= 4096, "{}", pushed.out);
    // A pull: this side's generator cuts them.
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src_there = make_tree(&there);
    let pulled = both("pull -B", |who| {
        let dest = scratch.join(format!("{who}-bs-pull"));
        std::fs::create_dir_all(&dest).unwrap();
        copy_of(&src_there)(&dest);
        one_line_changed(&dest);
        let out = client(
            &tc,
            who,
            &args,
            "node1:/tmp/tree/src/",
            &format!("{}/", dest.display()),
        );
        Result::of(&out, delta_lines(&text(&out.stdout)), &dest)
    });
    assert_eq!(pulled.code, Some(0));
    assert!(literal(&pulled.out) >= 4096, "{}", pulled.out);
}

/// A copy that differs from the tree: a file rewritten, one gone, one extra (deleted).
fn drifted(d: &Path) {
    rewrite(d, "etc/hosts", "old hosts\n", "2023-01-01");
    std::fs::remove_file(d.join("etc/conf.d/app with space.conf")).unwrap();
    rewrite(d, "stale", "gone soon\n", "2023-01-01");
}

/// The formats tried: every escape a line of rsync's shows the same way whoever prints
/// it, with %i and without (then `deleting NAME` for a deletion), with %o, and %b (the
/// bytes each file's transfer took on the stream).
const FORMATS: [&str; 4] = [
    "--out-format=%o|%i|%n%L|%l|%f|%M|%B",
    "--out-format=[%n%L] %-10l.",
    "--out-format=%o %n",
    "--out-format=%i %n %b",
];

#[test]
fn out_format_in_a_push_prints_rsyncs_lines() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push-out-format");
    let src = make_tree(&scratch);
    for (i, format) in FORMATS.iter().enumerate() {
        let name = format!("fmt{i}");
        let seed = copy_of(&src);
        let prep = |d: &Path| {
            std::fs::create_dir_all(d).unwrap();
            seed(d);
            drifted(d);
        };
        let (r, _) = push_both(
            &tc,
            &src,
            &name,
            false,
            prep,
            &["-a", "--delete", format],
            "SRC/",
        );
        assert_eq!(r.code, Some(0));
        assert!(r.out.contains("etc/hosts"), "{format}: {}", r.out);
        assert!(r.out.contains("stale"), "{format}: {}", r.out);
    }
    let (r, _) = push_both(
        &tc,
        &src,
        "fmt-ii",
        false,
        no_prep,
        &["-a", "-ii", "--out-format=%i %n"],
        "SRC/",
    );
    assert!(r.out.contains("cd+++++++++ etc/"), "{}", r.out);
}

#[test]
fn out_format_in_a_pull_prints_rsyncs_lines() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-out-format");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    for (i, format) in FORMATS.iter().enumerate() {
        let name = format!("fmt{i}");
        let seed = copy_of(&src);
        let prep = |d: &Path| {
            seed(d);
            drifted(d);
        };
        let args = ["-a", "--delete", format];
        let r = pull_both(&tc, &scratch, &name, prep, &args, "SRC/", "/tmp/tree/src");
        assert_eq!(r.code, Some(0));
        assert!(r.out.contains("etc/hosts"), "{format}: {}", r.out);
        assert!(r.out.contains("stale"), "{format}: {}", r.out);
    }
}

#[test]
fn pull_max_size_min_size_and_mkpath_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-sizes");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    make_tree(&there);
    let src_there = "/tmp/tree/src";
    // --max-size and --min-size: what is out of bounds stays as it is here (--info=skip says so).
    for (name, args) in [
        ("max-size", &["-ai", "--max-size=1k"][..]),
        ("min-size", &["-ai", "--min-size=10"][..]),
        (
            "max-size-skip",
            &["-ai", "--info=skip", "--max-size=1k", "--min-size=10"][..],
        ),
    ] {
        let r = pull_both(&tc, &scratch, name, no_prep, args, "SRC/", src_there);
        assert_eq!(r.code, Some(0), "{name}");
    }
    assert!(!scratch.join("prsync-max-size/etc/big.txt").exists());
    assert!(scratch.join("prsync-max-size/etc/hosts").exists());
    assert!(!scratch
        .join("prsync-min-size/etc/conf.d/app with space.conf")
        .exists());
    // --mkpath: the folders above the destination are made, for a tree and for one file.
    for (name, from, to) in [
        ("mkpath-tree", "SRC/", "a/b/c/"),
        ("mkpath-tree-bare", "SRC/", "a/b/c"),
        ("mkpath-file", "SRC/etc/hosts", "x/y/hosts.copy"),
    ] {
        let from = format!("node1:{}", from.replace("SRC", src_there));
        let r = both(name, |who| {
            let root = scratch.join(format!("{who}-{name}"));
            std::fs::create_dir_all(&root).unwrap();
            let out = client(
                &tc,
                who,
                &["-ai", "--mkpath"],
                &from,
                &format!("{}/{to}", root.display()),
            );
            Result::of(
                &out,
                text(&out.stdout).replace(&format!("/{who}-"), "/WHO-"),
                &root,
            )
        });
        assert_eq!(r.code, Some(0), "{name}");
        assert!(r.out.contains("created"), "{name}: {}", r.out);
    }
}

#[test]
fn bwlimit_paces_the_data_both_ways() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("bwlimit");
    let src = make_tree(&scratch);
    // 200 KiB of data at 100 KiB a second: two seconds, less a tenth of a second of slack
    // and the first writes' burst.
    let args = ["-ai", "--bwlimit=100"];
    let slow = |label: &str, took: std::time::Duration| {
        assert!(took.as_millis() >= 1200, "{label} took {took:?}");
    };
    let pushed = both("push --bwlimit", |who| {
        let started = std::time::Instant::now();
        let out = client(
            &tc,
            who,
            &args,
            &format!("{}/", src.display()),
            &format!("node1:/tmp/{who}-bw/"),
        );
        slow(who, started.elapsed());
        let dest = tc.cluster.node_tmp(1).join(format!("{who}-bw"));
        Result::of(
            &out,
            text(&out.stdout).replace(&format!("/tmp/{who}-"), "/tmp/WHO-"),
            &dest,
        )
    });
    assert_eq!(pushed.code, Some(0));
    // A pull: the sending server is told, and paces its own writes.
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    make_tree(&there);
    let pulled = pull_both(
        &tc,
        &scratch,
        "bw-pull",
        |_| {},
        &args,
        "SRC/",
        "/tmp/tree/src",
    );
    assert_eq!(pulled.code, Some(0));
    let started = std::time::Instant::now();
    let dest = scratch.join("again");
    let out = client(
        &tc,
        "prsync",
        &args,
        "node1:/tmp/tree/src/",
        &format!("{}/", dest.display()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    slow("prsync's pull", started.elapsed());
}

#[test]
fn pull_keep_dirlinks_and_safe_links_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-links");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    // Links that point out of the tree, and one that stays in it.
    std::os::unix::fs::symlink("/etc/passwd", src.join("etc/abs")).unwrap();
    std::os::unix::fs::symlink("../../up", src.join("etc/climb")).unwrap();
    std::os::unix::fs::symlink("../hosts", src.join("etc/conf.d/inside")).unwrap();
    // The links made their folders' times now: back to the past, or whether a client
    // itemizes a folder's time depends on the clock's second turning before its run.
    set_old_times(&src);
    let src_there = "/tmp/tree/src";
    let r = pull_both(
        &tc,
        &scratch,
        "safe-links",
        no_prep,
        &["-ai", "--info=name", "--safe-links"],
        "SRC/",
        src_there,
    );
    assert_eq!(r.code, Some(0));
    assert!(
        r.out
            .contains("ignoring unsafe symlink \"etc/abs\" -> \"/etc/passwd\""),
        "{}",
        r.out
    );
    assert!(
        r.tree.iter().any(|l| l.starts_with("etc/conf.d/inside ")),
        "{:?}",
        r.tree
    );
    assert!(
        !r.tree.iter().any(|l| l.starts_with("etc/abs ")),
        "{:?}",
        r.tree
    );
    // -K: a symlink here to a folder stays, and what the list has in the folder goes
    // into the folder it points to.
    let dirlink = |d: &Path| {
        std::fs::create_dir_all(d.join("real-etc")).unwrap();
        std::os::unix::fs::symlink("real-etc", d.join("etc")).unwrap();
    };
    let r = pull_both(
        &tc,
        &scratch,
        "keep-dirlinks",
        dirlink,
        &["-ai", "-K"],
        "SRC/",
        src_there,
    );
    assert_eq!(r.code, Some(0));
    assert!(
        r.tree.contains(&"etc -> real-etc".to_string()),
        "{:?}",
        r.tree
    );
    assert!(
        r.tree.iter().any(|l| l.starts_with("real-etc/hosts ")),
        "{:?}",
        r.tree
    );
    // Without -K the link is replaced by the folder.
    let r = pull_both(
        &tc,
        &scratch,
        "no-keep-dirlinks",
        dirlink,
        &["-ai"],
        "SRC/",
        src_there,
    );
    assert!(
        r.tree.iter().any(|l| l.starts_with("etc/ ")),
        "{:?}",
        r.tree
    );
}

/// Every entry below `root` with its mtime (`describe` leaves folders' out): what a dry
/// run must leave as it found it.
fn snapshot(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut all = describe(root);
    let out = std::process::Command::new("find")
        .arg(root)
        .output()
        .unwrap();
    for p in text(&out.stdout).lines() {
        let m = std::fs::symlink_metadata(p).unwrap();
        all.push(format!("{p} {} {:o}", m.mtime(), m.mode()));
    }
    all
}

#[test]
fn pull_dry_run_prints_rsyncs_lines_and_writes_nothing() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-dry");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    std::fs::hard_link(src.join("etc/hosts"), src.join("hosts.hard")).unwrap();
    // The link made the top folder's time now: back to the past, or whether a client
    // itemizes `./` in "dry-new" (its fresh destination made now) depends on whether the
    // clock's second turned between the two, for each client on its own.
    set_old_times(&src);
    let src_there = "/tmp/tree/src";
    let seed = copy_of(&src);
    let drift = |d: &Path| {
        seed(d);
        drifted(d);
        // A file where the list has a folder, and a folder where it has a file.
        std::fs::remove_dir(d.join("empty")).unwrap();
        rewrite(d, "empty", "a file\n", "2023-01-01");
        std::fs::remove_file(d.join("etc/hosts")).unwrap();
        std::fs::create_dir_all(d.join("etc/hosts/inner")).unwrap();
        // The top folder as the host has it: whether stock rsync itemizes a top folder
        // whose time differs, in a dry run, varies from run to run.
        let status = std::process::Command::new("touch")
            .args(["-d", "2024-01-02 03:04:05"])
            .arg(d)
            .status()
            .unwrap();
        assert!(status.success());
    };
    for (name, prep, args) in [
        ("dry-new", &no_prep as &dyn Fn(&Path), &["-ain"][..]),
        ("dry-drift", &drift, &["-ain", "--delete"][..]),
        ("dry-hard", &drift, &["-ainH", "--delete"][..]),
        ("dry-v", &drift, &["-anv", "--delete"][..]),
    ] {
        let mut before = Vec::new();
        let r = both(name, |who| {
            let dest = scratch.join(format!("{who}-{name}"));
            std::fs::create_dir_all(&dest).unwrap();
            prep(&dest);
            let was = snapshot(&dest);
            let from = format!("node1:{src_there}/");
            let out = client(&tc, who, args, &from, &format!("{}/", dest.display()));
            assert_eq!(snapshot(&dest), was, "{who} {name} changed the destination");
            before = was;
            let lines = text(&out.stdout);
            // The totals' rates and times are the clock's.
            let lines: Vec<&str> = lines
                .lines()
                .filter(|l| !l.starts_with("sent ") && !l.starts_with("total size"))
                .collect();
            Result::of(&out, sorted_lines(&lines.join("\n")), &dest)
        });
        assert_eq!(r.code, Some(0), "{name}");
        assert!(!before.is_empty() || name == "dry-new");
        assert!(r.out.contains("etc/hosts"), "{name}: {}", r.out);
    }
    // Into a destination that is not there: it is not made.
    let r = both("dry-missing", |who| {
        let dest = scratch.join(format!("{who}-missing"));
        let from = format!("node1:{src_there}/");
        let out = client(&tc, who, &["-ain"], &from, &format!("{}/", dest.display()));
        assert!(!dest.exists(), "{who} made {}", dest.display());
        let result = Result {
            code: out.status.code(),
            out: text(&out.stdout).replace(&format!("/{who}-"), "/WHO-"),
            tree: Vec::new(),
            owners: Vec::new(),
        };
        (result, text(&out.stderr))
    });
    assert!(r.out.contains("created directory"), "{}", r.out);
}

#[test]
fn pull_temp_dir_does_what_rsyncs_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-temp-dir");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    let temp = scratch.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let seed = copy_of(&src);
    let prep = |d: &Path| {
        seed(d);
        drifted(d);
        one_line_changed(d);
        std::fs::create_dir_all(d.join("tmp")).unwrap();
    };
    // An absolute folder, one named from the destination, and, when there is one, one on
    // another file system (the file is copied over). One that climbs with `..`: every
    // file fails alone (rsync 3.5.0's mkstemp refuses the path) and the run goes on,
    // status 23. One that is not there stops the run before anything is asked for,
    // status 1.
    let shm = Path::new("/dev/shm");
    let mut cases = vec![
        ("abs", temp.display().to_string(), 0),
        ("rel", "tmp".to_string(), 0),
        ("climbs", "../temp".to_string(), 23),
        ("missing", "nowhere".to_string(), 1),
    ];
    if shm.is_dir() {
        cases.push(("other-fs", shm.display().to_string(), 0));
    }
    for (name, dir, status) in cases {
        let t = format!("--temp-dir={dir}");
        let r = pull_both(
            &tc,
            &scratch,
            name,
            prep,
            &["-ai", &t],
            "SRC/",
            "/tmp/tree/src",
        );
        assert_eq!(r.code, Some(status), "{name}");
        if status != 0 {
            continue;
        }
        assert!(
            r.out.contains(">f.st...... etc/big.txt"),
            "{name}: {}",
            r.out
        );
        assert_eq!(std::fs::read_dir(&temp).unwrap().count(), 0, "{name}");
        let rel = scratch.join(format!("prsync-{name}/tmp"));
        assert_eq!(std::fs::read_dir(rel).unwrap().count(), 0, "{name}");
    }
    let missing = run(tc
        .prsync()
        .args([
            "--wire=rsync",
            "-a",
            "--temp-dir=nowhere",
            "node1:/tmp/tree/src/",
        ])
        .arg(scratch.join("prsync-missing")));
    assert!(
        text(&missing.stderr).contains("The temp-dir does not exist: nowhere\n"),
        "{}",
        text(&missing.stderr)
    );
    let climbs = run(tc
        .prsync()
        .args([
            "--wire=rsync",
            "-a",
            "--temp-dir=../temp",
            "node1:/tmp/tree/src/",
        ])
        .arg(scratch.join("prsync-climbs")));
    assert!(
        text(&climbs.stderr).contains("/.big.txt.")
            && text(&climbs.stderr).contains("failed: Invalid argument (22)"),
        "{}",
        text(&climbs.stderr)
    );
}

#[test]
fn pull_delay_updates_does_what_rsyncs_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-delay");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    let seed = copy_of(&src);
    let prep = |d: &Path| {
        seed(d);
        drifted(d);
        one_line_changed(d);
    };
    for (name, args) in [
        ("delay", &["-ai", "--delay-updates"][..]),
        ("delay-delete", &["-ai", "--delay-updates", "--delete"][..]),
        (
            "delay-delete-after",
            &["-ai", "--delay-updates", "--delete-after"][..],
        ),
    ] {
        let r = pull_both(&tc, &scratch, name, prep, args, "SRC/", "/tmp/tree/src");
        assert_eq!(r.code, Some(0), "{name}");
        assert!(
            r.out.contains(">f.st...... etc/big.txt"),
            "{name}: {}",
            r.out
        );
        // No waiting folder is left.
        assert!(
            !r.tree.iter().any(|l| l.contains(".~tmp~")),
            "{name}: {:?}",
            r.tree
        );
    }
    // A waiting folder already here is rsync's partial folder: --delete spares it.
    let kept = |d: &Path| {
        prep(d);
        std::fs::create_dir_all(d.join("etc/.~tmp~")).unwrap();
        rewrite(d, "etc/.~tmp~/leftover", "x\n", "2023-01-01");
    };
    let args = ["-ai", "--delay-updates", "--delete"];
    let r = pull_both(
        &tc,
        &scratch,
        "delay-kept",
        kept,
        &args,
        "SRC/",
        "/tmp/tree/src",
    );
    assert_eq!(r.code, Some(0));
    assert!(
        r.tree.iter().any(|l| l.starts_with("etc/.~tmp~/leftover ")),
        "{:?}",
        r.tree
    );
}

#[test]
fn pull_backups_do_what_rsyncs_do() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-backup");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    let seed = copy_of(&src);
    let prep = |d: &Path| {
        seed(d);
        drifted(d);
        one_line_changed(d);
        // A symlink that changes, and an old backup beside the files.
        std::fs::remove_file(d.join("hosts")).unwrap();
        std::os::unix::fs::symlink("elsewhere", d.join("hosts")).unwrap();
        rewrite(d, "old~", "an old backup\n", "2023-01-01");
    };
    for (name, args) in [
        ("backup", &["-ai", "--info=backup", "-b", "--delete"][..]),
        (
            "suffix",
            &["-ai", "--info=backup", "-b", "--suffix=.old", "--delete"][..],
        ),
        (
            "backup-dir",
            &["-ai", "--info=backup", "--backup-dir=bak", "--delete"][..],
        ),
        ("delay-backup", &["-ai", "-b", "--delay-updates"][..]),
    ] {
        let r = pull_both(&tc, &scratch, name, prep, args, "SRC/", "/tmp/tree/src");
        assert_eq!(r.code, Some(0), "{name}");
    }
    let dest = scratch.join("prsync-backup");
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/hosts~")).unwrap(),
        "old hosts\n"
    );
    assert!(dest.join("stale~").exists());
    assert!(dest.join("old~").exists());
    let dest = scratch.join("prsync-backup-dir");
    assert_eq!(
        std::fs::read_to_string(dest.join("bak/etc/hosts")).unwrap(),
        "old hosts\n"
    );
    assert!(dest.join("bak/stale").exists());
}

#[test]
fn pull_partial_dir_takes_the_kept_copy_as_the_basis() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull-partial-dir");
    let there = tc.cluster.node_tmp(1).join("tree");
    std::fs::create_dir_all(&there).unwrap();
    let src = make_tree(&there);
    let big = std::fs::read(src.join("etc/big.txt")).unwrap();
    // What a cut-off run kept of etc/big.txt (missing here): its first half.
    let kept = |d: &Path, dir: &Path| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("big.txt"), &big[..big.len() / 2]).unwrap();
        std::fs::create_dir_all(d.join("etc")).unwrap();
    };
    let args = ["-ai", "--stats", "--partial-dir=.part"];
    let r = both("relative", |who| {
        let dest = scratch.join(format!("{who}-rel"));
        kept(&dest, &dest.join("etc/.part"));
        let from = "node1:/tmp/tree/src/";
        let out = client(&tc, who, &args, from, &format!("{}/", dest.display()));
        Result::of(&out, delta_lines(&text(&out.stdout)), &dest)
    });
    assert_eq!(r.code, Some(0));
    // Half the file came from the kept copy, and the copy and its folder are gone.
    assert!(literal(&r.out) < big.len() as u64 / 2 + 4096, "{}", r.out);
    assert!(!r.tree.iter().any(|l| l.contains(".part")), "{:?}", r.tree);
    // An absolute folder: one for all the files.
    let r = both("absolute", |who| {
        let dest = scratch.join(format!("{who}-abs"));
        let part = scratch.join(format!("{who}-part"));
        kept(&dest, &part);
        let from = "node1:/tmp/tree/src/";
        let pd = format!("--partial-dir={}", part.display());
        let out = client(
            &tc,
            who,
            &["-ai", "--stats", &pd],
            from,
            &format!("{}/", dest.display()),
        );
        assert_eq!(std::fs::read_dir(&part).unwrap().count(), 0, "{who}");
        Result::of(&out, delta_lines(&text(&out.stdout)), &dest)
    });
    assert_eq!(r.code, Some(0));
    assert!(literal(&r.out) < big.len() as u64 / 2 + 4096, "{}", r.out);
}
