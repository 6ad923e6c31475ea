//! Cases from rsync 3.5.0's own test suite (`testsuite/*_test.py`), each run through rsync and
//! prsync side by side: the debug counts of the delta search (hashsearch-chain), the
//! messages of a merge-file name that cannot fit and of a rule that ends in whitespace
//! (filter-merge-content-echo), a `--partial-dir` file updated where it is
//! (partial-protected-regular-retry-linux), `--delete` under `--files-from` or `-d`
//! (delete-missing-args-files-from), and symlinks hard-linked by `-H` and `--link-dest`
//! (link-dest-symlink-enotsup).

mod common;

use std::fs;

use common::{assert_same_trees, lines, set_mtime, Bed, Rng};

/// The `total:` line of `--debug=deltasum` (what `-vv` prints too), from one output.
fn total_line(out: &[u8]) -> Vec<u8> {
    let found: Vec<Vec<u8>> = lines(out)
        .into_iter()
        .filter(|l| l.starts_with(b"total: matches="))
        .collect();
    assert_eq!(found.len(), 1, "{}", String::from_utf8_lossy(out));
    found[0].clone()
}

/// `--debug=deltasum` and `-vv` end with rsync's count of the blocks found, the positions
/// that hit a block's weak sum, the strong sums that then differed, and the literal bytes.
/// On text that changed in a few places both tools count the same.
#[test]
fn deltasum_counts_the_search() {
    let bed = Bed::new("suite-deltasum");
    let mut rng = Rng::new(14);
    let new = rng.bytes(60_000);
    let mut old = new.clone();
    old.splice(20_000..20_000, *b"gone");
    old.drain(41_000..41_050);
    fs::write(bed.src().join("f"), &new).unwrap();
    fs::write(bed.src().join("g"), rng.bytes(9_000)).unwrap();
    set_mtime(&bed.src().join("f"), 1_600_000_000, 0);
    bed.on_dests("dst", |d| {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("f"), &old).unwrap();
    });
    let (r, p) = bed.both(&[
        b"-a",
        b"--no-whole-file",
        b"--debug=deltasum",
        b"{src}/",
        b"dst/",
    ]);
    assert_eq!((r.code, p.code), (0, 0));
    assert_eq!(
        String::from_utf8_lossy(&p.stdout),
        String::from_utf8_lossy(&r.stdout)
    );
    let [rd, pd] = bed.sides();
    assert_same_trees(&rd.join("dst"), &pd.join("dst"), "--debug=deltasum", true);
    // Nothing to send: every count is 0, and -vv says it too.
    let (r, p) = bed.both(&[b"-a", b"--no-whole-file", b"-vv", b"{src}/", b"dst/"]);
    assert_eq!(
        String::from_utf8_lossy(&total_line(&p.stdout)),
        String::from_utf8_lossy(&total_line(&r.stdout))
    );
    assert_eq!(
        total_line(&p.stdout),
        b"total: matches=0  hash_hits=0  false_alarms=0 data=0"
    );
}

/// rsync's issue #217: a basis of 8000 blocks that share one weak sum and never match, and
/// a new file whose every window has that weak sum. The strong sums compared per hit stay
/// bounded (rsync: at most 1024; prsync keeps identical blocks once and at most 16 of one
/// weak sum), and the file still arrives whole.
#[test]
fn one_weak_sum_in_every_block_is_a_bounded_search() {
    let bed = Bed::new("suite-hashchain");
    let block = 256;
    let mut decoy = vec![100u8; block];
    // +1, -2, +1: both of the weak sum's halves stay as they were, the strong sum changes.
    decoy[0] += 1;
    decoy[1] -= 2;
    decoy[2] += 1;
    let basis = decoy.repeat(8000);
    fs::write(bed.src().join("image.bin"), vec![100u8; 3000]).unwrap();
    bed.on_dests("dst", |d| {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("image.bin"), &basis).unwrap();
    });
    let args: &[&[u8]] = &[
        b"-a",
        b"--no-whole-file",
        b"--block-size=256",
        b"--debug=deltasum1",
        b"{src}/",
        b"dst/",
    ];
    let (r, p) = bed.both(args);
    assert_eq!((r.code, p.code), (0, 0));
    let (rl, pl) = (total_line(&r.stdout), total_line(&p.stdout));
    let (rl, pl) = (String::from_utf8_lossy(&rl), String::from_utf8_lossy(&pl));
    let counts = |l: &str| -> Vec<u64> {
        l.split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let (rc, pc) = (counts(&rl), counts(&pl));
    // Every position hits (the suite's rsync build counts 2745 hits with 1024 false alarms
    // each; Debian's 3.5.0 skips ahead after one), nothing is found, all is literal. With
    // the decoys kept once, prsync compares one strong sum per hit.
    assert_eq!(
        pc,
        [0, 3000 - 256 + 1, 3000 - 256 + 1, 3000],
        "prsync: {pl:?}"
    );
    assert_eq!((rc[0], rc[3]), (0, 3000), "rsync: {rl:?}");
    let [rd, pd] = bed.sides();
    assert_same_trees(&rd.join("dst"), &pd.join("dst"), "decoy chain", true);
}

/// A `--partial-dir` file that is there takes the new file and is moved into place, as
/// rsync 3.5.0's receiver does ("one inplace"; partial-protected-regular-retry-linux watches
/// its open): the finished file is the partial's inode, the partial folder goes, and the
/// tree is rsync's, with the file sent whole (a local copy) or as a delta.
#[test]
fn a_partial_is_rewritten_where_it_is_and_moved_into_place() {
    use std::os::unix::fs::MetadataExt;
    let bed = Bed::new("suite-one-inplace");
    let mut rng = Rng::new(30);
    let new = rng.bytes(70_000);
    let mut old = new[..50_000].to_vec();
    old.extend_from_slice(b"the rest never arrived");
    for name in ["whole", "delta"] {
        fs::write(bed.src().join(name), &new).unwrap();
        set_mtime(&bed.src().join(name), 1_600_000_000, 0);
    }
    set_mtime(&bed.src(), 1_600_000_000, 0);
    for (run, extra) in [("whole", &b"-W"[..]), ("delta", &b"--no-whole-file"[..])] {
        bed.on_dests(run, |d| {
            fs::create_dir_all(d.join("pdir")).unwrap();
            fs::write(d.join("pdir").join(run), &old).unwrap();
        });
        let inodes = bed.sides().map(|d| {
            fs::metadata(d.join(run).join("pdir").join(run))
                .unwrap()
                .ino()
        });
        let args: Vec<Vec<u8>> = vec![
            b"-rt".to_vec(),
            extra.to_vec(),
            b"--partial-dir=pdir".to_vec(),
            format!("--include=/{run}").into_bytes(),
            b"--exclude=/*".to_vec(),
            b"{src}/".to_vec(),
            format!("{run}/").into_bytes(),
        ];
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let (r, p) = bed.both(&args);
        assert_eq!(
            (r.code, p.code),
            (0, 0),
            "{}",
            String::from_utf8_lossy(&p.stderr)
        );
        let [rd, pd] = bed.sides();
        assert_same_trees(&rd.join(run), &pd.join(run), run, true);
        for (side, was) in bed.sides().iter().zip(inodes) {
            let now = fs::metadata(side.join(run).join(run)).unwrap();
            assert_eq!(now.ino(), was, "{run} in {}", side.display());
            assert!(!side.join(run).join("pdir").exists());
        }
        assert_eq!(fs::read(pd.join(run).join(run)).unwrap(), new);
    }
}

/// rsync's stderr lines without its closing `rsync error: ...` line, and prsync's without
/// their `prsync: ` prefix, to compare what each said.
fn said(stderr: &[u8], prefix: &[u8]) -> Vec<String> {
    lines(stderr)
        .into_iter()
        .filter(|l| !l.starts_with(b"rsync error: "))
        .map(|l| {
            let l = l.strip_prefix(prefix).unwrap_or(&l);
            String::from_utf8_lossy(l).into_owned()
        })
        .collect()
}

/// A `dir-merge` name that fits the rule but not a full path once its folder is put before
/// it (rsync's MAXPATHLEN, 4096): rsync says so, without the name when a file gave it, and
/// ends with status 23; a pattern of 4096 bytes or more is discarded with a warning that
/// shows it when the user typed it.
#[test]
fn merge_names_and_patterns_too_long_for_a_path() {
    use std::os::unix::ffi::OsStrExt;
    let bed = Bed::new("suite-merge-overflow");
    let src = bed.src();
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/f"), "x\n").unwrap();
    // The folder's full name with its '/' and the merge file's name reach 4096 + 2.
    let base = src.as_os_str().as_bytes().len() + 1;
    let name = format!("sub/FROM-A-FILE-{}", "Q".repeat(4096 + 2 - base - 16));
    fs::write(src.join(".rsync-filter"), format!(": {name}\n")).unwrap();
    let (r, p) = bed.both(&[b"-r", b"-F", b"{src}/", b"dst/"]);
    assert_eq!(
        (r.code, p.code),
        (23, 23),
        "{}",
        String::from_utf8_lossy(&p.stderr)
    );
    let (rs, ps) = (said(&r.stderr, b"rsync: "), said(&p.stderr, b"prsync: "));
    assert_eq!(ps, rs);
    assert_eq!(
        ps[0],
        "merge-file name overflows: <rule from a file read earlier>"
    );
    assert!(!String::from_utf8_lossy(&p.stderr).contains("FROM-A-FILE"));

    // The user's own over-long pattern is shown whole, and the run goes on.
    fs::remove_file(src.join(".rsync-filter")).unwrap();
    let long = format!("--filter=- ARGLONG-{}", "Q".repeat(4200));
    let (r, p) = bed.both(&[b"-r", long.as_bytes(), b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (0, 0));
    assert_eq!(said(&p.stderr, b"prsync: "), said(&r.stderr, b"rsync: "));
    assert!(String::from_utf8_lossy(&p.stderr).starts_with("discarding over-long filter: ARGLONG-"));
}

/// `--debug=FILTER` (and `-vv`) warn of a rule the user typed that ends in whitespace,
/// which is part of its pattern; never of one read from a file, whose words stay hidden.
#[test]
fn trailing_whitespace_in_a_given_rule_is_cautioned() {
    let bed = Bed::new("suite-caution");
    fs::write(bed.src().join("f"), "x\n").unwrap();
    let (r, p) = bed.both(&[
        b"-r",
        b"--debug=FILTER1",
        b"--filter=- my-own-rule ",
        b"{src}/",
        b"dst/",
    ]);
    assert_eq!((r.code, p.code), (0, 0));
    assert_eq!(
        String::from_utf8_lossy(&p.stdout),
        String::from_utf8_lossy(&r.stdout)
    );
    assert_eq!(
        lines(&p.stdout),
        [b"[client] add_rule(- my-own-rule ) -- CAUTION: trailing whitespace!".to_vec()]
    );
    fs::write(bed.src().join(".rsync-filter"), "- trailing-ws-probe \n").unwrap();
    let (_, p) = bed.both(&[b"-r", b"-F", b"--debug=FILTER1", b"{src}/", b"dst/"]);
    let out = String::from_utf8_lossy(&p.stdout);
    assert!(
        !out.contains("CAUTION") && !out.contains("trailing-ws-probe"),
        "{out}"
    );
}

/// `:e NAME` in a per-folder merge file also leaves NAME out, by a rule that came from
/// that file: `-vv` says which file hid it, never the pattern.
#[test]
fn exclude_self_of_a_merge_named_in_a_merge_file() {
    let bed = Bed::new("suite-exclude-self");
    let src = bed.src();
    fs::write(src.join("f"), "keep\n").unwrap();
    fs::write(src.join("excl-self-x9"), "hidden\n").unwrap();
    fs::write(src.join(".rsync-filter"), ":e excl-self-[x]9\n").unwrap();
    let (r, p) = bed.both(&[b"-r", b"-F", b"-vv", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (0, 0));
    let because = |out: &[u8]| -> Vec<Vec<u8>> {
        lines(out)
            .into_iter()
            .filter(|l| l.windows(10).any(|w| w == b"because of"))
            .collect()
    };
    assert_eq!(because(&p.stdout), because(&r.stdout));
    assert!(!because(&p.stdout).is_empty());
    assert!(!String::from_utf8_lossy(&p.stdout).contains("[x]"));
    let [rd, pd] = bed.sides();
    assert_same_trees(&rd.join("dst"), &pd.join("dst"), "-F -vv", false);
    assert!(!pd.join("dst/excl-self-x9").exists());

    // A bad rule of a per-folder file is located by the file, not shown.
    fs::write(src.join(".rsync-filter"), "Zbad-perdir\n").unwrap();
    let (r, p) = bed.both(&[b"-r", b"-F", b"{src}/", b"dst/"]);
    assert!(r.code != 0 && p.code != 0);
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(
        err.contains("/.rsync-filter line 1") && !err.contains("Zbad"),
        "{err}"
    );
}

/// rsync's delete-missing-args-files-from: `--files-from` implies `--dirs`, so `--delete`
/// is allowed without `-r` and the names listed that the source lacks (a file, a folder
/// with something in it) are deleted, while nothing else in DEST goes. With `-d` alone a
/// folder sent with a trailing slash is swept, one named without it or found inside is
/// not; a `.` line in the list sends the root's entries and sweeps it. Without `-r` or `-d`
/// `--delete` is refused in rsync's words.
#[test]
fn delete_without_recursion_under_files_from_and_dirs() {
    let bed = Bed::new("suite-delete-dirs");
    let src = bed.src();
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("keep.txt"), "keep-me\n").unwrap();
    fs::write(src.join("sub/a"), "a\n").unwrap();
    for f in ["keep.txt", "sub/a"] {
        set_mtime(&src.join(f), 1_500_000_000, 0);
    }
    let fill = |d: &std::path::Path| {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d.join("ghostdir")).unwrap();
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("keep.txt"), "stale\n").unwrap();
        fs::write(d.join("ghost.txt"), "delete-me-file\n").unwrap();
        fs::write(d.join("ghostdir/inner"), "delete-me-dir\n").unwrap();
        fs::write(d.join("extra"), "not listed\n").unwrap();
        fs::write(d.join("sub/extra2"), "below\n").unwrap();
    };
    fs::write(bed.root.join("list"), "keep.txt\nghost.txt\nghostdir\n").unwrap();
    fs::write(bed.root.join("list-dot"), ".\nsub\nsub/a\n").unwrap();
    let runs: [&[&[u8]]; 5] = [
        &[
            b"-ai",
            b"--delete",
            b"--delete-missing-args",
            b"--files-from=../list",
            b"{src}/",
            b"dst/",
        ],
        &[
            b"-ai",
            b"--delete",
            b"--files-from=../list-dot",
            b"{src}/",
            b"dst/",
        ],
        &[b"-dti", b"--delete", b"{src}/", b"dst/"],
        &[b"-dti", b"--delete", b"{src}", b"dst/"],
        &[b"-dti", b"--delete-after", b"{src}/sub/", b"dst/sub/"],
    ];
    for args in runs {
        bed.on_dests("dst", fill);
        // The filled trees' times are each side's own.
        bed.same_with(args, "dst", false);
    }
    let [_, p] = bed.sides();
    assert!(!p.join("dst/sub/extra2").exists() && p.join("dst/keep.txt").exists());

    // The first run, again: what the issue asked for.
    bed.on_dests("dst", fill);
    let lines = bed.same_with(runs[0], "dst", false);
    assert!(
        lines.contains(&b"*deleting   ghostdir/".to_vec()),
        "{lines:?}"
    );
    for gone in ["ghost.txt", "ghostdir"] {
        assert!(!p.join("dst").join(gone).exists(), "{gone}");
    }
    assert!(p.join("dst/extra").exists() && p.join("dst/sub/extra2").exists());

    let (r, p) = bed.both(&[b"-t", b"--delete", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (1, 1));
    let first = |err: &[u8], prefix: &[u8]| said(err, prefix).into_iter().next();
    assert_eq!(
        first(&p.stderr, b"prsync: "),
        first(&r.stderr, b"rsync: "),
        "{}",
        String::from_utf8_lossy(&p.stderr)
    );
    assert_eq!(
        first(&p.stderr, b"prsync: ").as_deref(),
        Some("--delete does not work without --recursive (-r) or --dirs (-d).")
    );
}

/// rsync's link-dest-symlink-enotsup, and what it stands on: rsync 3.5.0 on Linux
/// hard-links symlinks. With `-H` symlinks that share an inode arrive linked (`hL... =>`,
/// over a file there with `hL..tp.....`); with `--link-dest` an unchanged symlink is linked
/// from the folder, one that differs is made anew (`cLc.t......`, as a fifo is); where the
/// folder is on another file system the link fails (EXDEV) and the symlink is made anew,
/// said once. Trees (inodes shared included) and `-i` lines as rsync's.
#[test]
fn symlinks_are_hard_linked_by_h_and_link_dest() {
    use std::os::unix::fs::{symlink, MetadataExt};
    let bed = Bed::new("suite-symlink-hlinks");
    let (src, ld) = (bed.src(), bed.root.join("ld"));
    fs::create_dir_all(&ld).unwrap();
    for d in [&src, &ld] {
        fs::write(d.join("reg"), "REGULAR-CONTENT").unwrap();
        symlink("some-target", d.join("sym")).unwrap();
        symlink("t", d.join("a")).unwrap();
        fs::hard_link(d.join("a"), d.join("b")).unwrap();
        symlink("q", d.join("c")).unwrap();
        symlink("other", d.join("changed")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            d.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
    }
    fs::hard_link(src.join("c"), src.join("d")).unwrap();
    for d in [&src, &ld] {
        for f in ["reg", "sym", "a", "c", "changed", "fifo"] {
            set_mtime(&d.join(f), 1_600_000_000, 0);
        }
    }
    // These two differ in time only.
    set_mtime(&ld.join("changed"), 1_500_000_000, 0);
    set_mtime(&ld.join("fifo"), 1_500_000_000, 0);
    // The same folder on another file system (tmpfs), where no link to it can be made.
    let far = std::path::PathBuf::from(format!(
        "/dev/shm/prsync-suite-hlinks-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&far);
    let copied = common::run_in(
        std::ffi::OsStr::new("cp"),
        &[std::ffi::OsStr::new("-a"), ld.as_os_str(), far.as_os_str()],
        &bed.root,
    );
    assert!(copied.status.success());
    assert_ne!(
        fs::metadata(&far).unwrap().dev(),
        fs::metadata(&ld).unwrap().dev(),
        "/dev/shm must be another file system for the EXDEV case"
    );
    let near = format!("--link-dest={}", ld.display());
    let away = format!("--link-dest={}", far.display());
    let runs: Vec<Vec<&[u8]>> = vec![
        vec![b"-aiH"],
        vec![b"-aiHn"],
        vec![b"-aiH", near.as_bytes()],
        vec![b"-aiiH", near.as_bytes()],
        vec![b"-aiHn", near.as_bytes()],
        vec![b"-ai", near.as_bytes()],
        vec![b"-aiiH", away.as_bytes()],
        vec![b"-ai", away.as_bytes()],
    ];
    let [_, p] = bed.sides();
    for args in &runs {
        bed.on_dests("dst", |d| {
            let _ = fs::remove_dir_all(d);
        });
        let mut args = args.clone();
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        bed.same(&args, "dst");
        let linked = |name: &str, to: &std::path::Path| {
            let ino = |p: &std::path::Path| fs::symlink_metadata(p).unwrap().ino();
            ino(&p.join("dst").join(name)) == ino(&to.join(name))
        };
        if args.contains(&near.as_bytes()) && !args.contains(&&b"-aiHn"[..]) {
            assert!(linked("sym", &ld) && linked("reg", &ld) && !linked("changed", &ld));
        }
        if args.contains(&away.as_bytes()) {
            assert!(!linked("sym", &far) && p.join("dst/sym").is_symlink());
        }
    }
    let _ = fs::remove_dir_all(&far);

    // A member over a file of another kind: compared with it, then linked.
    bed.on_dests("dst", |d| {
        let _ = fs::remove_dir_all(d);
        fs::create_dir_all(d).unwrap();
        symlink("t", d.join("a")).unwrap();
        fs::write(d.join("b"), "a file\n").unwrap();
    });
    let lines = bed.same(&[b"-aiH", b"{src}/", b"dst/"], "dst");
    assert!(lines.contains(&b"hL..tp..... b => a".to_vec()), "{lines:?}");
}
