//! rsync and prsync on the same input, side by side: the same trees (contents, modes, owners,
//! mtimes to the nanosecond, symlinks, hard-link structure) and the same `-i` lines in the
//! same order. Every expected output is rsync's own, produced live.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{edit_source, litter, regular_files, set_mtime, tree, Bed, Rng};

#[test]
fn random_trees_first_copy_then_nothing_to_do() {
    for seed in 1..=3 {
        let (bed, _) = tree(&format!("first-{seed}"), seed);
        let first = bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
        assert!(first.len() > 10, "seed {seed}: a real tree was copied");
        let again = bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
        assert!(
            again.is_empty(),
            "seed {seed}: nothing to do the second time"
        );
    }
}

#[test]
fn random_trees_with_hard_links() {
    for seed in 4..=6 {
        let (bed, mut rng) = tree(&format!("hard-{seed}"), seed);
        bed.same(&[b"-aiH", b"{src}/", b"dst/"], "dst");
        bed.same(&[b"-aiH", b"{src}/", b"dst/"], "dst");
        edit_source(&bed.src(), &mut rng);
        bed.same(&[b"-aiH", b"{src}/", b"dst/"], "dst");
    }
}

#[test]
fn edits_are_itemized_and_applied() {
    for seed in 7..=9 {
        let (bed, mut rng) = tree(&format!("edits-{seed}"), seed);
        bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
        edit_source(&bed.src(), &mut rng);
        bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
        bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
    }
}

#[test]
fn checksum_finds_same_size_same_mtime_edits() {
    let (bed, mut rng) = tree("checksum", 10);
    bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
    edit_source(&bed.src(), &mut rng);
    bed.same(&[b"-ain", b"-c", b"{src}/", b"dst/"], "dst");
    bed.same(&[b"-aic", b"{src}/", b"dst/"], "dst");
    bed.same(&[b"-aic", b"{src}/", b"dst/"], "dst");
}

#[test]
fn delete_modes() {
    for (seed, flag) in [
        (11, &b"--delete"[..]),
        (12, b"--delete-before"),
        (13, b"--delete-after"),
        (14, b"--delete-during"),
        (15, b"--delete-delay"),
    ] {
        let (bed, mut rng) = tree(&format!("delete-{seed}"), seed);
        bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
        bed.on_dests("dst", litter);
        edit_source(&bed.src(), &mut rng);
        bed.same(&[b"-ain", flag, b"{src}/", b"dst/"], "dst");
        bed.same(&[b"-ai", flag, b"{src}/", b"dst/"], "dst");
        bed.same(&[b"-ai", flag, b"{src}/", b"dst/"], "dst");
    }
}

#[test]
fn excludes_and_filters() {
    let (bed, mut rng) = tree("filters", 15);
    fs::write(bed.root.join("rules"), b"- *.o\n+ f*\n").unwrap();
    let rules = bed.root.join("rules");
    let rules = format!("--exclude-from={}", rules.display());
    bed.same(
        &[b"-ai", b"--exclude=a*", b"--include=A*", b"{src}/", b"dst/"],
        "dst",
    );
    bed.on_dests("dst", litter);
    edit_source(&bed.src(), &mut rng);
    bed.same(
        &[
            b"-ai",
            b"--delete",
            b"--exclude=a*",
            rules.as_bytes(),
            b"{src}/",
            b"dst/",
        ],
        "dst",
    );
    bed.same(
        &[
            b"-ai",
            b"--delete",
            b"--delete-excluded",
            b"-f",
            b"- data*",
            b"{src}/",
            b"dst/",
        ],
        "dst",
    );
    bed.same(
        &[b"-ai", b"--delete", b"-f", b"P zz-*", b"{src}/", b"dst/"],
        "dst",
    );
}

#[test]
fn dry_run_changes_nothing() {
    let (bed, mut rng) = tree("dry-run", 16);
    bed.same(&[b"-ain", b"{src}/", b"dst/"], "dst");
    assert!(!bed.sides()[1].join("dst").exists());
    bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", litter);
    edit_source(&bed.src(), &mut rng);
    let before = common::describe(&bed.sides()[1].join("dst"));
    bed.same(&[b"-ain", b"--delete", b"{src}/", b"dst/"], "dst");
    assert_eq!(before, common::describe(&bed.sides()[1].join("dst")));
}

#[test]
fn trailing_slashes_and_several_sources() {
    let (bed, _) = tree("operands", 17);
    let src = bed.src();
    fs::create_dir_all(src.join("one/inner")).unwrap();
    fs::write(src.join("one/inner/x"), b"x").unwrap();
    fs::write(src.join("lone"), b"lone file").unwrap();
    for p in ["one/inner/x", "one/inner", "one", "lone", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same(&[b"-ai", b"{src}", b"a"], "a");
    bed.same(&[b"-ai", b"{src}/", b"b"], "b");
    bed.same(
        &[b"-ai", b"{src}/one", b"{src}/lone", b"{src}/one/", b"c/"],
        "c",
    );
    bed.same(&[b"-ai", b"{src}/lone", b"renamed"], "renamed");
    bed.same(&[b"-ai", b"{src}/lone", b"b/"], "b");
    bed.same(&[b"-ai", b"{src}/lone", b"newdir/"], "newdir");
    bed.same(&[b"-ai", b"{src}/one/inner/", b"{src}/one", b"d/"], "d");
}

#[test]
fn update_whole_file_inplace_and_delta_give_the_same_tree() {
    for (n, flags) in [
        &[&b"-aiu"[..]][..],
        &[b"-ai", b"--no-whole-file"],
        &[b"-ai", b"--no-W", b"-B", b"1024"],
        &[b"-ai", b"--inplace"],
        &[b"-ai", b"-W", b"--partial"],
    ]
    .iter()
    .enumerate()
    {
        let (bed, mut rng) = tree(&format!("modes-{n}"), 20 + n as u64);
        bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
        edit_source(&bed.src(), &mut rng);
        let mut args: Vec<&[u8]> = flags.to_vec();
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        bed.same(&args, "dst");
    }
}

#[test]
fn single_options_without_archive() {
    let (bed, mut rng) = tree("single", 30);
    bed.same(&[b"-rlptgoDi", b"{src}/", b"dst/"], "dst");
    edit_source(&bed.src(), &mut rng);
    bed.same(&[b"-rtiH", b"{src}/", b"dst/"], "dst");
    bed.same_with(&[b"-rlpi", b"{src}/", b"dst2/"], "dst2", false);
}

#[test]
fn owner_and_group_are_kept_as_root() {
    if !rustix::process::geteuid().is_root() {
        // rsync keeps owners only as root; as another user both skip -o alike, which the
        // other tests cover.
        return;
    }
    let (bed, _) = tree("owners", 31);
    for (n, f) in regular_files(&bed.src()).iter().enumerate() {
        std::os::unix::fs::lchown(f, Some(1000 + n as u32), Some(2000 + n as u32)).unwrap();
    }
    bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
    for f in regular_files(&bed.src()).iter().take(3) {
        std::os::unix::fs::lchown(f, Some(7), Some(8)).unwrap();
    }
    bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
}

#[test]
fn type_changes_replace_entries() {
    let bed = Bed::new("types");
    let src = bed.src();
    fs::create_dir_all(src.join("was-file")).unwrap();
    fs::write(src.join("was-file/x"), b"x").unwrap();
    fs::write(src.join("was-dir"), b"now a file").unwrap();
    fs::write(src.join("was-link"), b"now a file").unwrap();
    std::os::unix::fs::symlink("target", src.join("now-link")).unwrap();
    for p in [
        "was-file/x",
        "was-file",
        "was-dir",
        "was-link",
        "now-link",
        "",
    ] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.on_dests("dst", |d| {
        fs::create_dir_all(d.join("was-dir")).unwrap();
        fs::write(d.join("was-file"), b"old").unwrap();
        std::os::unix::fs::symlink("old", d.join("was-link")).unwrap();
        fs::write(d.join("now-link"), b"old").unwrap();
    });
    bed.same(&[b"-ai", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", |d| {
        fs::remove_file(d.join("was-dir")).unwrap();
        fs::create_dir_all(d.join("was-dir/full")).unwrap();
        fs::write(d.join("was-dir/full/f"), b"f").unwrap();
    });
    bed.same(&[b"-ai", b"--delete", b"{src}/", b"dst/"], "dst");
}

/// `--stats` lines that count what was done, and `-v` names; the protocol byte counts and
/// timings are estimates (see the stats module) and are left out.
#[test]
fn stats_and_verbose() {
    let (bed, mut rng) = tree("stats", 40);
    let counted = |out: &[u8]| -> Vec<Vec<u8>> {
        common::lines(out)
            .into_iter()
            .filter(|l| {
                [
                    &b"Number of"[..],
                    b"Total file size",
                    b"Total transferred file size",
                    b"Literal data",
                    b"Matched data",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            .collect()
    };
    let names = |out: &[u8]| -> Vec<Vec<u8>> {
        common::lines(out)
            .into_iter()
            .filter(|l| !l.starts_with(b"sent ") && !l.starts_with(b"total size is "))
            .collect()
    };
    let (r, p) = bed.both(&[b"-a", b"--stats", b"{src}/", b"dst/"]);
    assert_eq!(
        counted(&r.stdout).len(),
        8,
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert_eq!(counted(&r.stdout), counted(&p.stdout));
    // The rate is rsync's: the bytes over the run's whole clock seconds plus a half.
    let summary = String::from_utf8_lossy(&p.stdout).into_owned();
    let line = summary.lines().find(|l| l.starts_with("sent ")).unwrap();
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    let [sent, received, rate] = numbers[..] else {
        panic!("{line}");
    };
    let seconds = (sent + received) / rate - 0.5;
    assert!(
        (seconds - seconds.round()).abs() < 1e-3 && seconds > -1e-3,
        "{line}"
    );
    edit_source(&bed.src(), &mut rng);
    bed.on_dests("dst", litter);
    for args in [
        &[&b"-ah"[..], b"--stats", b"--delete", b"{src}/", b"dst/"][..],
        &[b"-a", b"--stats", b"{src}/", b"dst/"],
    ] {
        let (r, p) = bed.both(args);
        assert_eq!(counted(&r.stdout), counted(&p.stdout));
    }
    let (r, p) = bed.both(&[b"-av", b"{src}/", b"fresh/"]);
    assert_eq!(names(&r.stdout), names(&p.stdout));
    edit_source(&bed.src(), &mut rng);
    let (r, p) = bed.both(&[b"-avn", b"{src}/", b"fresh/"]);
    assert_eq!(names(&r.stdout), names(&p.stdout));
}

/// With `--no-whole-file`, one edit in a large file is sent as a delta: rsync's and prsync's
/// block sizes and matching agree, so `Literal data` and `Matched data` do too.
#[test]
fn delta_transfer_counts_match_rsync() {
    let bed = Bed::new("delta-stats");
    let mut rng = Rng::new(50);
    let big = bed.src().join("big");
    fs::write(&big, rng.bytes(3_000_000)).unwrap();
    set_mtime(&big, 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    let mut data = fs::read(&big).unwrap();
    data[100_000..100_002].copy_from_slice(b"XX");
    data.extend_from_slice(b"appended");
    fs::write(&big, data).unwrap();
    set_mtime(&big, 1_600_000_000, 0);
    let data_lines = |out: &[u8]| -> Vec<Vec<u8>> {
        common::lines(out)
            .into_iter()
            .filter(|l| l.starts_with(b"Literal data") || l.starts_with(b"Matched data"))
            .collect()
    };
    let (r, p) = bed.both(&[b"-a", b"--no-W", b"--stats", b"{src}/", b"dst/"]);
    assert_eq!(
        String::from_utf8_lossy(&data_lines(&r.stdout).concat()),
        String::from_utf8_lossy(&data_lines(&p.stdout).concat())
    );
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("dst"), &pd.join("dst"), "--no-W", true);
}

#[test]
fn copy_links_sends_what_links_point_to() {
    let bed = common::Bed::new("copy-links");
    let src = bed.src();
    std::fs::create_dir_all(src.join("real/sub")).unwrap();
    std::fs::write(src.join("real/sub/file"), b"inside\n").unwrap();
    std::fs::write(src.join("plain"), b"plain\n").unwrap();
    std::os::unix::fs::symlink("plain", src.join("to-file")).unwrap();
    std::os::unix::fs::symlink("real", src.join("to-dir")).unwrap();
    for path in ["real/sub/file", "plain", "real/sub", "real", "."] {
        common::set_mtime(&src.join(path), 1_600_000_000, 0);
    }
    let lines = bed.same(&[b"-aiL", b"{src}/", b"dst/"], "dst");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(b">f") && l.ends_with(b"to-file")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with(b"to-dir/sub/file")),
        "{lines:?}"
    );
    // A dangling link is an error (exit 23) unless the filters leave it out.
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();
    common::set_mtime(&src, 1_600_000_000, 0);
    bed.same(
        &[b"-aiL", b"--exclude=dangling", b"{src}/", b"dst2/"],
        "dst2",
    );
    bed.same(&[b"-aiL", b"{src}/", b"dst3/"], "dst3");
}

/// rsync's `--no-OPTION` forms and repeated options: of an option (or the `-a` that implies
/// it) and its `--no-` form, the later wins; an option typed twice is no error.
#[test]
fn no_options_and_repeated_options() {
    let (bed, _) = tree("no-options", 31);
    bed.same(&[b"--no-t", b"-ai", b"{src}/", b"d1/"], "d1");
    bed.same_with(&[b"-ai", b"--no-times", b"{src}/", b"d2/"], "d2", false);
    bed.same(
        &[b"-ai", b"--no-p", b"--no-o", b"--no-g", b"{src}/", b"d3/"],
        "d3",
    );
    bed.same(&[b"-a", b"-a", b"-i", b"--no-D", b"{src}/", b"d4/"], "d4");
    bed.same(
        &[
            b"-avv",
            b"--no-v",
            b"-i",
            b"--no-inc-recursive",
            b"{src}/",
            b"d5/",
        ],
        "d5",
    );
    bed.same(&[b"-a", b"--no-r", b"-i", b"{src}/", b"d6/"], "d6");
    bed.same(&[b"-ai", b"--no-l", b"{src}/", b"d7/"], "d7");
}

/// Two names of one file, copied apart first (no -H), then joined by `-H`: the joined name
/// itemizes with the attributes it takes from the file it is linked to, and a `T` when times
/// are not kept, as rsync prints `hf..T...... extra => config1`.
#[test]
fn hard_links_made_over_old_copies_itemize_as_rsync() {
    for (first, second) in [(&b"-iplr"[..], &b"-iplrH"[..]), (b"-iplrt", b"-iplrtH")] {
        let bed = Bed::new(&format!("hlink-over-{}", second.len()));
        let foo = bed.src().join("foo");
        fs::create_dir_all(&foo).unwrap();
        fs::write(foo.join("config1"), b"one\n").unwrap();
        fs::hard_link(foo.join("config1"), foo.join("extra")).unwrap();
        fs::write(foo.join("config2"), b"two\n").unwrap();
        set_mtime(&foo.join("config1"), 1_600_000_000, 0);
        set_mtime(&foo.join("config2"), 1_600_000_000, 0);
        bed.same_with(&[first, b"{src}/", b"dst/"], "dst", false);
        // The folders' times settle, so that only the files differ in what follows.
        bed.same_with(&[b"-a", b"-f", b"-! */", b"{src}/", b"dst/"], "dst", false);
        fs::write(foo.join("config1"), b"one, changed\n").unwrap();
        set_mtime(&foo.join("config1"), 1_600_000_100, 0);
        bed.same_with(&[second, b"{src}/", b"dst/"], "dst", false);
    }
}

/// A device replaced by one of the same kind with another number is a change of the old
/// entry (`cDc.T......` without -t, `cDc.t......` with it), not a new one.
#[test]
fn a_replaced_device_itemizes_as_a_change() {
    let bed = Bed::new("device-replaced");
    let make = |name: &str, minor: u32| {
        let path = bed.src().join(name);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::BlockDevice,
            rustix::fs::Mode::from_raw_mode(0o640),
            rustix::fs::makedev(105, minor),
        )
        .unwrap();
        set_mtime(&path, 1_600_000_000 + i64::from(minor), 0);
    };
    make("block", 71);
    make("block2", 72);
    make("block3", 73);
    bed.same(&[b"-ai", b"{src}/block", b"block"], "block");
    bed.same_with(&[b"-Di", b"{src}/block3", b"block"], "block", false);
    bed.same(&[b"-ai", b"{src}/block2", b"block"], "block");
}

/// With --delete, a folder's `*deleting` lines come before the folder's own `-i` line, as
/// rsync prints them, when the folder's time changed too.
#[test]
fn deletions_come_before_their_folders_line() {
    for mode in [&b"--delete"[..], b"--delete-before", b"--delete-after"] {
        let bed = Bed::new(&format!("delete-order{}", mode.len()));
        let src = bed.src();
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a"), b"a\n").unwrap();
        fs::write(src.join("sub/b"), b"b\n").unwrap();
        for path in [
            src.join("a"),
            src.join("sub/b"),
            src.join("sub"),
            src.clone(),
        ] {
            set_mtime(&path, 1_500_000_000, 0);
        }
        bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
        fs::remove_file(src.join("a")).unwrap();
        fs::remove_file(src.join("sub/b")).unwrap();
        set_mtime(&src.join("sub"), 1_577_836_800, 0);
        set_mtime(&src, 1_577_836_800, 0);
        bed.same(&[b"-ai", mode, b"{src}/", b"dst/"], "dst");
    }
}

/// What decides which files go: --existing, --ignore-existing, --size-only, -I, --max-size
/// and --min-size, on the same edited trees as rsync.
#[test]
fn options_that_choose_what_is_sent() {
    let cases: &[&[&[u8]]] = &[
        &[b"--existing"],
        &[b"--ignore-non-existing", b"--delete"],
        &[b"--ignore-existing"],
        &[b"--size-only"],
        &[b"-I"],
        &[b"--ignore-times", b"-c"],
        &[b"--max-size=4K"],
        &[b"--min-size=1.5kb-1"],
        &[b"--max-size=70k", b"--min-size=13"],
        &[b"--numeric-ids"],
    ];
    for (n, extra) in cases.iter().enumerate() {
        let (bed, mut rng) = tree(&format!("choose-{n}"), 40 + n as u64);
        bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
        edit_source(&bed.src(), &mut rng);
        let mut args: Vec<&[u8]> = vec![b"-ai"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        bed.same(&args, "dst");
        // Into an empty destination too: what is not there yet.
        args.pop();
        args.push(b"new/");
        bed.same(&args, "new");
    }
}

/// A SIZE that rsync refuses is refused in one line, exit 1.
#[test]
fn a_bad_size_is_refused() {
    let bed = Bed::new("bad-size");
    let (r, p) = bed.both(&[b"--max-size=abc", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (1, 1));
    let err = String::from_utf8_lossy(&p.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--max-size=abc is invalid"), "{err}");
}

/// A folder made inside a setgid folder keeps the setgid bit it inherits, without -p; with
/// -p it takes the source's mode, as rsync does.
#[test]
fn a_folder_made_in_a_setgid_folder_keeps_the_bit() {
    let bed = Bed::new("setgid");
    let src = bed.src();
    fs::create_dir_all(src.join("dir/sub")).unwrap();
    fs::write(src.join("dir/file"), b"x\n").unwrap();
    fs::set_permissions(src.join("dir"), fs::Permissions::from_mode(0o750)).unwrap();
    for (n, flags) in [&b"-ri"[..], b"-rpi"].into_iter().enumerate() {
        let dest = format!("dst{n}");
        bed.on_dests(&dest, |d| {
            fs::create_dir(d).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o2755)).unwrap();
        });
        let slash = format!("{dest}/");
        bed.same_with(&[flags, b"{src}/", slash.as_bytes()], &dest, false);
    }
}

/// A file written just before the run has the run's second as its mtime: the copy still
/// gets the source's nanoseconds, as rsync's does.
#[test]
fn a_file_written_just_before_the_run_keeps_its_nanoseconds() {
    let bed = Bed::new("fresh-mtime");
    fs::write(bed.src().join("fresh"), b"just written\n").unwrap();
    bed.same(&[b"-a", b"{src}/fresh", b"dst/"], "dst");
}

/// rsync 3.5.0 refuses a destination reached through another user's symlink (exit 3), and
/// writes nothing; `--insecure-links` follows it. A symlink of root's or our own is followed.
#[test]
fn a_destination_through_another_users_symlink_is_refused() {
    let bed = Bed::new("untrusted-link");
    fs::write(bed.src().join("f"), b"x\n").unwrap();
    set_mtime(&bed.src(), 1_600_000_000, 0);
    bed.on_dests("real", |d| fs::create_dir(d).unwrap());
    bed.on_dests("link", |d| {
        std::os::unix::fs::symlink("real", d).unwrap();
        std::os::unix::fs::lchown(d, Some(65534), Some(65534)).unwrap();
    });
    bed.on_dests("mine", |d| std::os::unix::fs::symlink("real", d).unwrap());
    let (r, p) = bed.both(&[b"-a", b"{src}/", b"link/"]);
    assert_eq!((r.code, p.code), (3, 3));
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(
        err.starts_with("prsync: refusing to follow a symlink owned by an untrusted user"),
        "{err}"
    );
    for side in bed.sides() {
        assert_eq!(fs::read_dir(side.join("real")).unwrap().count(), 0);
    }
    bed.same(&[b"-a", b"{src}/", b"mine/sub/"], "real");
    bed.same(&[b"-a", b"--insecure-links", b"{src}/", b"link/"], "real");
}

/// `--progress` into a pipe: the names as `-v` prints them and, after each file sent,
/// rsync's final progress line, whose counts (`xfr#`, `to-chk`) match rsync's; the rate and
/// the time are the run's own and are not compared.
#[test]
fn progress_lines_are_printed_into_a_pipe() {
    let bed = Bed::new("progress");
    let src = bed.src();
    for (name, size) in [("a", 70_000usize), ("b", 0), ("c", 300_000)] {
        fs::write(src.join(name), vec![7u8; size]).unwrap();
        set_mtime(&src.join(name), 1_600_000_000, 0);
    }
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
    set_mtime(&src, 1_600_000_000, 0);
    let normal = |out: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| {
                let last = l.rsplit('\r').next().unwrap_or(l);
                let words: Vec<&str> = last.split_whitespace().collect();
                if words.get(1) == Some(&"100%") {
                    // size, 100%, RATE, TIME, (xfr#N, to-chk=R/T)
                    format!("{} 100% RATE TIME {} {}", words[0], words[4], words[5])
                } else {
                    last.to_string()
                }
            })
            .collect()
    };
    let (r, p) = bed.both(&[b"-a", b"--progress", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (0, 0));
    let ours = normal(&p.stdout);
    assert_eq!(normal(&r.stdout), ours);
    assert!(
        ours.iter().any(|l| l.contains("(xfr#3, to-chk=1/5)")),
        "{ours:?}"
    );
}

/// `-k`, `--copy-unsafe-links` and `--safe-links` on links that stay inside the tree, leave
/// it, climb out and back, zigzag down and up, point at a folder, or at nothing.
#[test]
fn symlink_options_choose_which_links_are_followed_or_left_out() {
    let bed = Bed::new("link-options");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::create_dir_all(src.join("real")).unwrap();
    fs::write(src.join("d/f"), b"x\n").unwrap();
    fs::write(src.join("real/g"), b"y\n").unwrap();
    for (name, target) in [
        ("abs", "/etc/hostname"),
        ("d/up", "../../nowhere"),
        ("d/upok", "../real/g"),
        ("d/ok", "f"),
        ("d/dirlink", "../real"),
        ("d/climb", "../../link-options/src/real/g"),
        ("d/zigzag", "a/a/a/../../../f"),
        ("d/updot", "real/.."),
    ] {
        std::os::unix::fs::symlink(target, src.join(name)).unwrap();
        set_mtime(&src.join(name), 1_600_000_000, 0);
    }
    for dir in ["d", "real", "."] {
        set_mtime(&src.join(dir), 1_600_000_000, 0);
    }
    let cases: &[&[&[u8]]] = &[
        &[b"--safe-links"],
        &[b"--copy-unsafe-links"],
        &[b"-k"],
        &[b"-k", b"--safe-links"],
        &[b"--copy-dirlinks", b"--copy-unsafe-links"],
    ];
    for (n, extra) in cases.iter().enumerate() {
        let dest = format!("dst{n}/");
        let mut args: Vec<&[u8]> = vec![b"-ai"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[b"{src}/", dest.as_bytes()]);
        bed.same(&args, &dest);
    }
}

/// `--chmod`, with and without -p, on seeded trees: the permissions rsync gives.
#[test]
fn chmod_gives_the_permissions_rsync_gives() {
    let cases: &[&[&[u8]]] = &[
        &[b"-a", b"--chmod=u=rwX,go=rX"],
        &[b"-a", b"--chmod=D2755,F600"],
        &[b"-a", b"--chmod=o=u", b"--chmod=Fg-w"],
        &[b"-r", b"--chmod=a+w,+t"],
        &[b"-rt", b"--chmod=ug+s,o-rwx"],
        &[b"-a", b"--chmod=u=g,+s"],
        &[b"-a", b"--chmod=g=o,o=,a-X"],
    ];
    for (n, extra) in cases.iter().enumerate() {
        let (bed, _) = tree(&format!("chmod-{n}"), 60 + n as u64);
        let mut args: Vec<&[u8]> = vec![b"-i"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        bed.same_with(&args, "dst", extra.contains(&&b"-a"[..]));
    }
    let bed = Bed::new("chmod-bad");
    let (r, p) = bed.both(&[b"--chmod=u+rw-x", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (1, 1));
    let err = String::from_utf8_lossy(&p.stderr);
    assert!(
        err.contains("Invalid argument passed to --chmod (u+rw-x)"),
        "{err}"
    );
}

/// `--compare-dest`, `--copy-dest` and `--link-dest`: a file the folder holds as the source
/// has it is left out, copied or linked without a line; one that differs only in its
/// attributes is copied (`cf...p.....`); one that differs in data is sent against it
/// (`>f..t......`). The same lines and trees as rsync, into an empty destination and an
/// existing one, with the options that change what a match is.
#[test]
fn alternate_destinations_are_used_as_rsync_uses_them() {
    for (n, kind) in ["--compare-dest", "--copy-dest", "--link-dest"]
        .iter()
        .enumerate()
    {
        let (bed, mut rng) = tree(&format!("alt-dest-{n}"), 70 + n as u64);
        // The folder each side compares with: the source as it was before the edits.
        bed.same(&[b"-a", b"{src}/", b"alt/"], "alt");
        bed.same(&[b"-a", b"{src}/", b"old/"], "old");
        edit_source(&bed.src(), &mut rng);
        let opt = format!("{kind}=../alt");
        let missing = format!("{kind}=../missing");
        let runs: &[&[&[u8]]] = &[
            &[b"-ai"],
            &[b"-ain"],
            &[b"-aic"],
            &[b"-rli"],
            &[b"-ai", b"--no-whole-file"],
        ];
        for extra in runs {
            let mut args: Vec<&[u8]> = extra.to_vec();
            args.extend_from_slice(&[missing.as_bytes(), opt.as_bytes(), b"{src}/", b"new/"]);
            // Without -t both tools leave the time of writing.
            bed.same_with(&args, "new", extra[0].starts_with(b"-a"));
            bed.on_dests("new", |d| {
                let _ = fs::remove_dir_all(d);
            });
        }
        // Into a destination that has the old tree: only `--copy-dest` leaves it be.
        bed.same(&[b"-ai", opt.as_bytes(), b"{src}/", b"old/"], "old");
        if *kind == "--link-dest" {
            bed.same(&[b"-a", opt.as_bytes(), b"{src}/", b"new/"], "new");
            let [_, p] = bed.sides();
            let linked = regular_files(&p.join("new")).iter().any(|f| {
                let alt = p.join("alt").join(f.strip_prefix(p.join("new")).unwrap());
                fs::metadata(&alt).is_ok_and(|a| a.ino() == fs::metadata(f).unwrap().ino())
            });
            assert!(linked, "--link-dest made no hard link into alt/");
        }
    }
}

/// Mixing the three options is refused in rsync's words, with rsync's exit status.
#[test]
fn mixed_alternate_destinations_are_refused() {
    let bed = Bed::new("alt-dest-mixed");
    let (r, p) = bed.both(&[b"--link-dest=a", b"--compare-dest=b", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (1, 1));
    assert!(String::from_utf8_lossy(&p.stderr)
        .contains("the --compare-dest option conflicts with the --link-dest option"));
    assert!(String::from_utf8_lossy(&r.stderr)
        .contains("the --compare-dest option conflicts with the --link-dest option"));
}

/// `-vv` names what is already there (`x is uptodate`), and `-i` with `-vv` gives every
/// entry a line, as rsync's do; `-vv` counts twice however it is typed. The byte counts of
/// the summary are estimates, and are left out of the comparison.
#[test]
fn verbose_twice_names_what_is_uptodate() {
    let (bed, mut rng) = tree("vv", 80);
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    let named = |out: &[u8]| -> Vec<Vec<u8>> {
        common::lines(out)
            .into_iter()
            .filter(|l| !(l.starts_with(b"sent ") || l.starts_with(b"total")))
            .collect()
    };
    for args in [&[&b"-ivv"[..], b"-a"][..], &[b"-v", b"-v", b"-rlpt"]] {
        edit_source(&bed.src(), &mut rng);
        let mut args = args.to_vec();
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        let (r, p) = bed.both(&args);
        assert_eq!((r.code, p.code), (0, 0));
        let (mut r, mut p) = (named(&r.stdout), named(&p.stdout));
        assert!(r
            .iter()
            .any(|l| l.ends_with(b" is uptodate") || l.contains(&b' ')));
        // Without -i, rsync's generator names what is up to date while its receiver names
        // what arrives, and the two race: the same lines, in an order that varies.
        if !args.contains(&&b"-ivv"[..]) {
            r.sort();
            p.sort();
        }
        assert_eq!(
            r.iter()
                .map(|l| String::from_utf8_lossy(l))
                .collect::<Vec<_>>(),
            p.iter()
                .map(|l| String::from_utf8_lossy(l))
                .collect::<Vec<_>>()
        );
    }
}

/// `-R`: sources named by their paths below a `/./`, the folders on the way sent for their
/// attributes (not with `--no-implied-dirs`) and never deleted in; `--files-from` as a
/// list of such sources, with `-d`'s one level for a name ending in `/`, comments skipped
/// and `..` kept below the source. The same lines and trees as rsync.
#[test]
fn relative_paths_and_files_from_match_rsync() {
    let bed = Bed::new("relative");
    let src = bed.src();
    fs::create_dir_all(src.join("down/3/deep/sub")).unwrap();
    fs::create_dir_all(src.join("down/other/inner")).unwrap();
    fs::write(src.join("down/3/deep/f"), b"f\n").unwrap();
    fs::write(src.join("down/3/deep/sub/g"), b"g\n").unwrap();
    fs::write(src.join("down/other/h"), b"h\n").unwrap();
    fs::write(src.join("down/other/inner/i"), b"i\n").unwrap();
    fs::set_permissions(src.join("down/3"), fs::Permissions::from_mode(0o750)).unwrap();
    for (n, dir) in [
        "down/3/deep/sub",
        "down/3/deep",
        "down/3",
        "down/other/inner",
        "down/other",
        "down",
    ]
    .iter()
    .enumerate()
    {
        set_mtime(&src.join(dir), 1_600_000_000 + n as i64, 0);
    }
    let runs: &[(&[&[u8]], &str)] = &[
        (&[b"-aiR", b"{src}/./down/3/deep", b"d1/"], "d1"),
        (&[b"-aiR", b"{src}/./down/3/deep/f", b"d2/"], "d2"),
        (
            &[
                b"-aiR",
                b"--no-implied-dirs",
                b"{src}/./down/3/deep",
                b"d3/",
            ],
            "d3",
        ),
        (&[b"-aiR", b"{src}/down/./3/deep/", b"d4/"], "d4"),
        (
            &[b"-aiR", b"{src}/./down/3", b"{src}/./down/3/deep/f", b"d5/"],
            "d5",
        ),
    ];
    // With --no-implied-dirs, the folders above are made now, in both.
    for (args, dest) in runs {
        bed.same_with(args, dest, !args.contains(&&b"--no-implied-dirs"[..]));
    }
    // Extraneous files in the sent folder go; those in an implied one stay.
    bed.on_dests("d1", |d| {
        for junk in ["down/junk", "down/3/deep/junk"] {
            fs::write(d.join(junk), b"j").unwrap();
            set_mtime(&d.join(junk), 1_600_000_000, 0);
        }
    });
    bed.same(&[b"-aiR", b"--del", b"{src}/./down/3/deep", b"d1/"], "d1");
    let list = bed.root.join("list");
    fs::write(
        &list,
        b"down/3/deep/f\n# a comment\n/down/other/\n../down/3/deep/sub\n",
    )
    .unwrap();
    let from = format!("--files-from={}", list.display());
    bed.same(&[b"-ai", from.as_bytes(), b"{src}/", b"f1/"], "f1");
    bed.same(&[b"-air", from.as_bytes(), b"{src}/", b"f2/"], "f2");
    bed.same_with(
        &[
            b"-ai",
            b"--no-implied-dirs",
            from.as_bytes(),
            b"{src}",
            b"f3/",
        ],
        "f3",
        false,
    );
    // A name cut at its end (`down/./`) sends the folder's first level as the root.
    let cut = bed.root.join("list-cut");
    fs::write(&cut, b"down/./\ndown/./3/deep/\n").unwrap();
    let from_cut = format!("--files-from={}", cut.display());
    bed.same(&[b"-ai", from_cut.as_bytes(), b"{src}", b"f6/"], "f6");
    let list0 = bed.root.join("list0");
    fs::write(&list0, b"down/other/h\0down/3\0").unwrap();
    let from0 = format!("--files-from={}", list0.display());
    bed.same(
        &[b"-ai", b"--from0", from0.as_bytes(), b"{src}/", b"f4/"],
        "f4",
    );
    // One source folder only.
    let (r, p) = bed.both(&[from.as_bytes(), b"{src}/", b"{src}/", b"f5/"]);
    assert_eq!((r.code, p.code), (1, 1));
}

/// `--info=FLAGS` sets what is named as rsync's levels do, `--debug=FLAGS` is taken, and an
/// unknown word is refused in rsync's words, exit 1.
#[test]
fn info_and_debug_levels_as_rsync() {
    let (bed, mut rng) = tree("info", 90);
    let runs: &[&[&[u8]]] = &[
        &[b"-a", b"--info=name1"],
        &[b"-av", b"--info=name0,stats0"],
        &[b"-a", b"--info=NAME,progress0"],
        &[b"-ai", b"--debug=none", b"--debug=HLINK0,del0"],
    ];
    for (n, extra) in runs.iter().enumerate() {
        edit_source(&bed.src(), &mut rng);
        let mut args = extra.to_vec();
        let dest = format!("d{n}/");
        args.extend_from_slice(&[b"{src}/", dest.as_bytes()]);
        bed.same(&args, &dest);
    }
    for bad in [&b"--info=nam"[..], b"--debug=bogus3"] {
        let (r, p) = bed.both(&[bad, b"{src}/", b"x/"]);
        assert_eq!((r.code, p.code), (1, 1));
        let first = |s: &[u8]| {
            String::from_utf8_lossy(s)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        assert!(
            first(&p.stderr).ends_with(&first(&r.stderr)),
            "{}",
            first(&p.stderr)
        );
    }
}

/// `-b`, `--backup-dir` and `--suffix`: what is replaced or deleted is kept where rsync
/// keeps it, beside the file or under the backup folder, `--info=backup` names each, and
/// backups beside the files are not deleted by `--del`. The same lines and trees as rsync.
#[test]
fn backups_are_kept_where_rsync_keeps_them() {
    let bed = Bed::new("backup");
    let src = bed.src();
    fs::create_dir_all(src.join("deep")).unwrap();
    let write = |name: &str, text: &[u8], secs: i64| {
        fs::write(src.join(name), text).unwrap();
        set_mtime(&src.join(name), secs, 0);
    };
    write("name1", b"one\n", 1_600_000_000);
    write("deep/name2", b"two\n", 1_600_000_001);
    std::os::unix::fs::symlink("t", src.join("lnk")).unwrap();
    set_mtime(&src.join("lnk"), 1_600_000_050, 0);
    for dir in ["deep", ""] {
        set_mtime(&src.join(dir), 1_600_000_100, 0);
    }
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    let runs: &[(&[&[u8]], &str)] = &[
        (&[b"-ai", b"--info=backup", b"-b", b"--del"], "name1"),
        (
            &[
                b"-ai",
                b"--info=backup",
                b"--backup-dir=../bak",
                b"--delete-delay",
            ],
            "deep/name2",
        ),
        (
            &[
                b"-ai",
                b"--info=backup",
                b"--inplace",
                b"--no-whole-file",
                b"-b",
                b"--suffix=.old",
            ],
            "name1",
        ),
        (
            &[b"-avv", b"--backup-dir=bk2", b"--suffix=~x", b"--del"],
            "deep/name2",
        ),
    ];
    for (n, (args, changed)) in runs.iter().enumerate() {
        let mut text = fs::read(src.join(changed)).unwrap();
        text.extend_from_slice(format!("run {n}\n").as_bytes());
        write(changed, &text, 1_600_000_200 + n as i64);
        bed.on_dests("dst", |d| {
            fs::write(d.join(format!("junk{n}")), b"j").unwrap()
        });
        let mut args = args.to_vec();
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        let (r, p) = bed.both(&args);
        assert_eq!(
            (r.code, p.code),
            (0, 0),
            "{}",
            String::from_utf8_lossy(&p.stderr)
        );
        let keep = |out: &[u8]| -> Vec<Vec<u8>> {
            common::lines(out)
                .into_iter()
                .filter(|l| !(l.starts_with(b"sent ") || l.starts_with(b"total")))
                .collect()
        };
        let (mut rl, mut pl) = (keep(&r.stdout), keep(&p.stdout));
        // -vv without -i: rsync's generator and receiver race (see
        // `verbose_twice_names_what_is_uptodate`).
        if !args[0].contains(&b'i') {
            rl.sort();
            pl.sort();
        }
        assert_eq!(rl, pl, "run {n}");
        let [rd, pd] = bed.sides();
        for tree in ["dst", "bak", "dst/bk2"] {
            if rd.join(tree).exists() {
                common::assert_same_trees(&rd.join(tree), &pd.join(tree), tree, false);
            }
        }
    }
    // A backup folder on another file system (/dev/shm is a tmpfs): backups are copies.
    if Path::new("/dev/shm").is_dir() {
        let shm = PathBuf::from(format!("/dev/shm/prsync-backup-{}", std::process::id()));
        write("name1", b"cross\n", 1_600_000_300);
        bed.on_dests("dst", |d| fs::write(d.join("junk-x"), b"j").unwrap());
        let dir = format!("--backup-dir={}", shm.display());
        let (_, p) = bed.both(&[b"-a", b"--del", dir.as_bytes(), b"{src}/", b"dst/"]);
        let kept = fs::read_dir(&shm).map(|d| d.count()).unwrap_or(0);
        let _ = fs::remove_dir_all(&shm);
        assert_eq!(p.code, 0, "{}", String::from_utf8_lossy(&p.stderr));
        assert!(
            kept >= 2,
            "the old name1 and junk-x are kept in {}",
            shm.display()
        );
    }
}

/// `--delay-updates`: files wait in `.~tmp~` and go into place at the end, a stale file
/// left there by an earlier run is replaced, and nothing of `.~tmp~` is left; rsync's
/// opening line for lists it builds whole (`building file list ... done`) with it and with
/// the other options that turn its incremental list off.
#[test]
fn delayed_updates_and_list_banners_as_rsync() {
    let (bed, mut rng) = tree("delay", 95);
    bed.same(&[b"-ai", b"--delay-updates", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", |d| {
        fs::create_dir_all(d.join(".~tmp~")).unwrap();
        fs::write(d.join(".~tmp~/stale"), b"2\n").unwrap();
    });
    edit_source(&bed.src(), &mut rng);
    bed.on_dests("dst", |d| fs::remove_file(d.join(".~tmp~/stale")).unwrap());
    bed.same(
        &[b"-ai", b"--delay-updates", b"--del", b"{src}/", b"dst/"],
        "dst",
    );
    let [r, p] = bed.sides();
    assert!(!p.join("dst/.~tmp~").exists() && !r.join("dst/.~tmp~").exists());
    for (n, opt) in [
        &b"--delete-after"[..],
        b"--delete-before",
        b"--delete-delay",
        b"-d",
    ]
    .iter()
    .enumerate()
    {
        let dest = format!("b{n}/");
        let banner = |out: &[u8]| common::lines(out).into_iter().next();
        let (r, p) = bed.both(&[b"-v", b"-lpt", opt, b"{src}/", dest.as_bytes()]);
        assert_eq!(
            banner(&r.stdout),
            banner(&p.stdout),
            "{}",
            String::from_utf8_lossy(opt)
        );
    }
    let (r, p) = bed.both(&[b"-ai", b"--delay-updates", b"--inplace", b"{src}/", b"x/"]);
    assert_eq!((r.code, p.code), (1, 1));
}

/// `-T`: new files are written in the temp folder and moved into place, across file
/// systems too (`/dev/shm` is a tmpfs); nothing is left in it; a missing one is refused
/// with exit 1, as rsync refuses it.
#[test]
fn a_temp_dir_holds_files_until_they_are_whole() {
    let (bed, _) = tree("temp-dir", 96);
    let temp = bed.root.join("temp");
    fs::create_dir_all(&temp).unwrap();
    let local = format!("--temp-dir={}", temp.display());
    bed.same(&[b"-ai", local.as_bytes(), b"{src}/", b"d1/"], "d1");
    assert_eq!(
        fs::read_dir(&temp).unwrap().count(),
        0,
        "left in the temp folder"
    );
    if Path::new("/dev/shm").is_dir() {
        bed.same(&[b"-ai", b"-T", b"/dev/shm", b"{src}/", b"d2/"], "d2");
    }
    let (r, p) = bed.both(&[b"-a", b"-T", b"missing", b"{src}/", b"d3/"]);
    assert_eq!((r.code, p.code), (1, 1));
    assert!(String::from_utf8_lossy(&p.stderr).contains("The temp-dir does not exist: missing"));
}

/// `-m` leaves out folders with nothing but folders below them; `--remove-source-files`
/// removes each source file once it is whole on the destination (folders stay), as rsync
/// does. Across hosts it is refused for now, never half done.
#[test]
fn pruned_folders_and_removed_sources_as_rsync() {
    let bed = Bed::new("prune-remove");
    for side in ["r", "p"] {
        let src = bed.root.join(side).join("src");
        fs::create_dir_all(src.join("a/b/c")).unwrap();
        fs::create_dir_all(src.join("e/f")).unwrap();
        fs::write(src.join("a/b/c/x"), b"x\n").unwrap();
        fs::write(src.join("z"), b"z\n").unwrap();
        set_mtime(&src.join("z"), 1_600_000_000, 0);
    }
    bed.same_with(&[b"-aim", b"src/", b"d1/"], "d1", false);
    bed.same_with(
        &[b"-ai", b"--remove-source-files", b"src/", b"d2/"],
        "d2",
        false,
    );
    common::assert_same_trees(
        &bed.root.join("r/src"),
        &bed.root.join("p/src"),
        "src",
        false,
    );
    assert!(!bed.root.join("p/src/z").exists() && bed.root.join("p/src/a/b/c").is_dir());
    let (_, p) = bed.both(&[b"-a", b"--remove-source-files", b"src/", b"host:/tmp/x/"]);
    assert_eq!(p.code, 1);
    // --ignore-missing-args: a source that is not there is no error.
    bed.same_with(
        &[b"-ai", b"--ignore-missing-args", b"nope", b"d2/", b"d3/"],
        "d3",
        false,
    );
    let (r, p) = bed.both(&[b"-a", b"nope", b"d3/"]);
    assert_eq!((r.code, p.code), (23, 23));
}

/// `--info=help` and `--debug=help` list the words and exit 0, whatever else is given, as
/// rsync's (its own suite's first test asks for them); `--backup-dir` through another
/// user's symlink is refused, as rsync 3.5 refuses such an operator path.
#[test]
fn info_help_and_an_untrusted_backup_dir() {
    let bed = Bed::new("info-help");
    for ask in [&b"--info=help"[..], b"--debug=help"] {
        let (r, p) = bed.both(&[ask]);
        assert_eq!((r.code, p.code), (0, 0));
        assert!(p.stdout.starts_with(b"Use OPT or OPT1"));
    }
    let [_, p] = bed.sides();
    let elsewhere = bed.root.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, p.join("bak")).unwrap();
    // The link belongs to uid 65534 (nobody), not to root or this user.
    let c = std::ffi::CString::new(p.join("bak").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: lchown(2) reads the NUL-terminated path just made and touches nothing else.
    assert_eq!(unsafe { libc::lchown(c.as_ptr(), 65534, 65534) }, 0);
    fs::write(bed.src().join("f"), b"new").unwrap();
    fs::create_dir_all(p.join("dst")).unwrap();
    fs::write(p.join("dst/f"), b"old").unwrap();
    let out = common::run_in(
        common::prsync_bin(),
        &[
            std::ffi::OsStr::new("-a"),
            std::ffi::OsStr::new("--backup-dir=../bak"),
            bed.src().join("f").as_os_str(),
            std::ffi::OsStr::new("dst/"),
        ],
        &p,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}
