//! rsync's less common options, rsync and prsync side by side on the same input: the same
//! trees, `-i` lines and exit status (see compat.rs for the core set).

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{assert_same_trees, set_mtime, Bed};

fn chmod(path: &std::path::Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `-E` without `-p`: a file that keeps its own mode takes the sender's execute bits (x
/// where r is, or none), on a transfer and on a file left as it is.
#[test]
fn executability_follows_the_senders_x_bits() {
    let bed = Bed::new("more-exec");
    let src = bed.src();
    fs::write(src.join("1"), "#!/bin/sh\necho one\n").unwrap();
    fs::write(src.join("2"), "#!/bin/sh\necho two\n").unwrap();
    chmod(&src.join("1"), 0o1700);
    chmod(&src.join("2"), 0o600);
    // Fixed times: a folder made within its source's second is left alone by rsync, so a
    // time of "now" would make the two tools' trees differ by chance.
    for p in ["1", "2", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same_with(&[b"-ri", b"{src}/", b"dst/"], "dst", false);
    chmod(&src.join("1"), 0o600);
    chmod(&src.join("2"), 0o601);
    bed.on_dests("dst", |d| chmod(&d.join("2"), 0o604));
    bed.same_with(&[b"-ri", b"{src}/", b"dst/"], "dst", false);
    bed.same_with(&[b"-riE", b"{src}/", b"dst/"], "dst", false);
    let [_, p] = bed.sides();
    assert_eq!(fs::metadata(p.join("dst/2")).unwrap().mode() & 0o777, 0o705);
    // Unchanged files (-t makes them so) get only their x bits set: `.f...p.....`.
    bed.same(&[b"-rti", b"{src}/", b"t/"], "t");
    chmod(&src.join("1"), 0o755);
    let lines = bed.same(&[b"-rtiE", b"{src}/", b"t/"], "t");
    assert_eq!(lines, vec![b".f...p..... 1".to_vec()]);
}

/// `--max-delete=N` deletes N entries and keeps the rest, says how many it skipped, and
/// exits 25; a non-empty folder in the way of a file goes with `--force` only.
#[test]
fn max_delete_and_force() {
    let bed = Bed::new("more-maxdel");
    let src = bed.src();
    for n in 1..=3 {
        fs::write(src.join(format!("f{n}")), format!("{n}\n")).unwrap();
        set_mtime(&src.join(format!("f{n}")), 1_500_000_000, 0);
    }
    set_mtime(&src, 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", |d| {
        for n in 1..=5 {
            fs::write(d.join(format!("extra{n}")), b"e\n").unwrap();
            set_mtime(&d.join(format!("extra{n}")), 1_600_000_000, 0);
        }
    });
    bed.same(
        &[b"-ai", b"--delete", b"--max-delete=2", b"{src}/", b"dst/"],
        "dst",
    );
    let (r, p) = bed.both(&[b"-a", b"--delete", b"--max-delete=1", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (25, 25));
    let said = b"Deletions stopped due to --max-delete limit (2 skipped)\n";
    assert!(r.stderr.windows(said.len()).any(|w| w == said));
    assert!(p.stderr.windows(said.len()).any(|w| w == said));
    // -1 is "delete nothing", as 0 is.
    bed.same(
        &[b"-ai", b"--delete", b"--max-delete=-1", b"{src}/", b"dst/"],
        "dst",
    );

    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f"), b"now a file\n").unwrap();
    set_mtime(&src.join("d/f"), 1_600_000_000, 0);
    set_mtime(&src.join("d"), 1_600_000_000, 0);
    bed.on_dests("dst", |d| {
        fs::create_dir_all(d.join("d/f/deep")).unwrap();
        fs::write(d.join("d/f/deep/occupant"), b"blocker\n").unwrap();
    });
    let (r, p) = bed.both(&[b"-a", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (23, 23));
    bed.same(&[b"-ai", b"--force", b"{src}/", b"dst/"], "dst");
}

/// `-J` leaves symlinks with the time they were made, `-t` keeping the others'.
#[test]
fn omit_link_times() {
    let bed = Bed::new("more-omit-links");
    let src = bed.src();
    fs::write(src.join("f"), b"f\n").unwrap();
    std::os::unix::fs::symlink("f", src.join("link")).unwrap();
    set_mtime(&src.join("f"), 1_400_000_000, 0);
    set_mtime(&src.join("link"), 1_400_000_000, 0);
    set_mtime(&src, 1_400_000_000, 0);
    bed.same_with(&[b"-rltiJ", b"{src}/", b"dst/"], "dst", false);
    for side in bed.sides() {
        let link = fs::symlink_metadata(side.join("dst/link")).unwrap();
        assert_ne!(link.mtime(), 1_400_000_000, "{}", side.display());
        let file = fs::metadata(side.join("dst/f")).unwrap();
        assert_eq!(file.mtime(), 1_400_000_000, "{}", side.display());
    }
}

/// `--stop-at` in the past, `--stop-after` that is not a number of minutes and
/// `--max-alloc=0` are usage errors (exit 1) in rsync's words; a time to come lets the run
/// finish; `--compress-level`, `--compress-choice=zstd`, `--skip-compress` and `--super`
/// are taken.
#[test]
fn time_limits_and_accepted_tuning() {
    let bed = Bed::new("more-limits");
    fs::write(bed.src().join("f"), b"f\n").unwrap();
    set_mtime(&bed.src().join("f"), 1_500_000_000, 0);
    set_mtime(&bed.src(), 1_500_000_000, 0);
    for (args, said) in [
        (
            &[&b"--stop-at=2000-01-01T00:00"[..], b"{src}/", b"dst/"][..],
            &b"--stop-at time is not in the future: 2000-01-01T00:00"[..],
        ),
        (
            &[&b"--stop-after=soon"[..], b"{src}/", b"dst/"][..],
            &b"invalid --stop-after value: soon"[..],
        ),
    ] {
        let (r, p) = bed.both(args);
        assert_eq!((r.code, p.code), (1, 1));
        for side in [&r, &p] {
            assert!(
                side.stderr.windows(said.len()).any(|w| w == said),
                "{}",
                String::from_utf8_lossy(&side.stderr)
            );
        }
    }
    // rsync 3.5.0's own check (its suite's max-alloc-zero-rejected); the rsync installed
    // here may be older and take it, so prsync alone is asked.
    let (_, p) = bed.both(&[b"--max-alloc=0", b"{src}/", b"ma/"]);
    assert_eq!(p.code, 1);
    assert_eq!(p.stderr, b"prsync: max-alloc must be greater than zero\n");
    bed.same(&[b"-ai", b"--stop-after=60", b"{src}/", b"dst/"], "dst");
    bed.same(&[b"-ai", b"--stop-at=23:59", b"{src}/", b"d2/"], "d2");
    bed.same(
        &[
            b"-aiz",
            b"--compress-level=9",
            b"--compress-choice=zstd",
            b"--skip-compress=gz/jpg",
            b"--super",
            b"{src}/",
            b"d3/",
        ],
        "d3",
    );
}

/// `-b --delete`: an extraneous file is backed up as it goes, but one that is already a
/// backup (its name ends in the suffix) is only removed, never backed up again.
#[test]
fn deleting_a_backup_does_not_back_it_up() {
    let bed = Bed::new("more-backup-delete");
    fs::write(bed.src().join("kept"), b"k\n").unwrap();
    set_mtime(&bed.src().join("kept"), 1_500_000_000, 0);
    set_mtime(&bed.src(), 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", |d| {
        for (name, text) in [("plain", "extraneous\n"), ("stale~", "already a backup\n")] {
            fs::write(d.join(name), text).unwrap();
            set_mtime(&d.join(name), 1_600_000_000, 0);
        }
    });
    bed.same(
        &[
            b"-ai",
            b"-b",
            b"--delete",
            b"--filter=R *~",
            b"{src}/",
            b"dst/",
        ],
        "dst",
    );
    let [_, p] = bed.sides();
    assert!(p.join("dst/plain~").exists() && !p.join("dst/stale~~").exists());
}

/// `-K`: a symlink to a folder on the receiver, where the sender has a folder, is kept and
/// written through; where the sender has a file, the file replaces it; without `-K` a real
/// folder replaces it.
#[test]
fn keep_dirlinks() {
    let bed = Bed::new("more-keep-dirlinks");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f"), b"X\n").unwrap();
    fs::write(src.join("top"), b"top\n").unwrap();
    for p in ["d/f", "d", "top", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    for (dest, args) in [
        ("kept", &[&b"-aiK"[..], b"{src}/", b"kept/"][..]),
        ("plain", &[&b"-ai"[..], b"{src}/", b"plain/"][..]),
    ] {
        bed.on_dests(dest, |d| {
            fs::create_dir_all(d.join("target")).unwrap();
            set_mtime(&d.join("target"), 1_400_000_000, 0);
            std::os::unix::fs::symlink("target", d.join("d")).unwrap();
        });
        // The folder behind a kept link gets the time of its last write (in both tools), so
        // times are compared below, on the link, which takes the sender's.
        bed.same_with(args, dest, dest == "plain");
        bed.same_with(args, dest, dest == "plain");
    }
    for side in bed.sides() {
        let link = fs::symlink_metadata(side.join("kept/d")).unwrap();
        assert!(link.is_symlink() && link.mtime() == 1_500_000_000);
    }
    let [_, p] = bed.sides();
    assert_eq!(fs::read(p.join("kept/target/f")).unwrap(), b"X\n");
    assert!(fs::symlink_metadata(p.join("plain/d")).unwrap().is_dir());

    fs::remove_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d"), b"FILE\n").unwrap();
    bed.same_with(&[b"-aiK", b"{src}/", b"kept/"], "kept", false);
    assert_eq!(fs::read(p.join("kept/d")).unwrap(), b"FILE\n");
}

/// `-K` follows only links that root or this user made: one of another user (here uid
/// 65534) could send the writes anywhere, so it is refused, as rsync 3.5 refuses it.
#[test]
fn keep_dirlinks_refuses_another_users_link() {
    let bed = Bed::new("more-keep-dirlinks-untrusted");
    fs::create_dir_all(bed.src().join("d")).unwrap();
    fs::write(bed.src().join("d/f"), b"X\n").unwrap();
    let [_, p] = bed.sides();
    let elsewhere = bed.root.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::create_dir_all(p.join("dst")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, p.join("dst/d")).unwrap();
    let c = std::ffi::CString::new(p.join("dst/d").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: lchown(2) reads the NUL-terminated path just made and touches nothing else.
    assert_eq!(unsafe { libc::lchown(c.as_ptr(), 65534, 65534) }, 0);
    let (_, p_out) = bed.both(&[b"-aK", b"{src}/", b"dst/"]);
    assert_ne!(p_out.code, 0);
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

/// `--out-format`: with `%i` its lines come where `-i`'s would (deletions too), without it
/// where `-v` names a file (and deletions as `deleting NAME`); `%%` is one percent sign,
/// widths pad, and the escapes a daemon fills stay as typed. `%l` of a folder and `%b`
/// (rsync counts its protocol's bytes) are left out: prsync differs there.
#[test]
fn out_format_lines() {
    let bed = Bed::new("more-out-format");
    let src = bed.src();
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a"), b"hi\n").unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
    for p in ["a", "l", "sub", ""] {
        set_mtime(&src.join(p), 1_600_000_000, 0);
    }
    let format = b"--out-format=[%o] [%n] [%f] [%L] [%i] [%B] [%M] [%U:%G] [%c] [%h%a%m%P%u] [%-5n|%5n] 100%%";
    let src_arg = format!("{}/", src.display()).into_bytes();
    bed.same(&[b"-a", format, &src_arg, b"dst/"], "dst");
    fs::write(src.join("a"), b"hello\n").unwrap();
    set_mtime(&src.join("a"), 1_600_000_001, 0);
    bed.on_dests("dst", |d| {
        fs::remove_dir(d.join("sub")).unwrap();
        fs::create_dir(d.join("x")).unwrap();
    });
    bed.same(
        &[
            b"-a",
            b"--delete",
            b"--out-format=[%o] [%n] [%i]",
            b"{src}/",
            b"dst/",
        ],
        "dst",
    );
    bed.on_dests("dst", |d| fs::create_dir(d.join("y")).unwrap());
    bed.same(
        &[
            b"-ai",
            b"--delete",
            b"--out-format=[%n]",
            b"{src}/",
            b"dst/",
        ],
        "dst",
    );
    bed.same(&[b"-a", b"--out-format=%n!", b"{src}", b"d2/"], "d2");
    // %C: a sent file's whole-file hash (xxh3-128, as rsync 3.2+ reports it), blank else.
    bed.same(&[b"-a", b"--out-format=%C %n", b"{src}/", b"d3/"], "d3");
}

/// `-x`: a folder another file system is mounted on goes as an empty folder, and `-xx`
/// leaves it out. Both tools run in one private mount namespace (`unshare -m`), where a
/// tmpfs is mounted inside the source; the host's mounts are not touched.
#[test]
fn one_file_system() {
    let bed = Bed::new("more-one-fs");
    let src = bed.src();
    fs::create_dir_all(src.join("mnt")).unwrap();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/a"), b"a\n").unwrap();
    // Fixed times: rsync leaves a folder whose time is within the same second alone.
    for p in ["d/a", "d", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    let [r, p] = bed.sides();
    let script =         "mount -t tmpfs prtools-test \"$1/mnt\" && echo x >\"$1/mnt/f\" && mkdir \"$1/mnt/sub\" && \
         touch -d @1500000000 \"$1/mnt\" && \
         for x in -x -xx; do \
           (cd \"$2\" && rsync -ai $x \"$1/\" dst$x/ >out$x 2>&1; echo $? >>out$x) && \
           (cd \"$3\" && \"$4\" -ai $x \"$1/\" dst$x/ >out$x 2>&1; echo $? >>out$x) || exit 1; \
         done";
    let status = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&src)
        .arg(&r)
        .arg(&p)
        .arg(common::prsync_bin())
        .status()
        .unwrap();
    assert!(status.success());
    for x in ["-x", "-xx"] {
        let rout = fs::read(r.join(format!("out{x}"))).unwrap();
        let pout = fs::read(p.join(format!("out{x}"))).unwrap();
        common::assert_same_lines(&rout, &pout, x);
        common::assert_same_trees(
            &r.join(format!("dst{x}")),
            &p.join(format!("dst{x}")),
            x,
            true,
        );
    }
    assert!(p.join("dst-x/mnt").is_dir() && !p.join("dst-x/mnt/f").exists());
    assert!(!p.join("dst-xx/mnt").exists() && p.join("dst-xx/d/a").exists());
}

/// `--usermap`, `--groupmap` and `--chown` (run as root): ids, ranges, names, patterns, `*`
/// and the empty FROM (an id without a name, which with `--numeric-ids` is every id).
#[test]
fn user_and_group_maps() {
    let bed = Bed::new("more-idmap");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    for (name, uid, gid) in [("a", 5000, 5002), ("b", 5001, 0), ("d/c", 0, 5003)] {
        fs::write(src.join(name), name).unwrap();
        std::os::unix::fs::chown(src.join(name), Some(uid), Some(gid)).unwrap();
        set_mtime(&src.join(name), 1_500_000_000, 0);
    }
    for p in ["d", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    let cases: [&[&[u8]]; 6] = [
        &[b"--usermap=5000-5001:1,root:2", b"--groupmap=*:3"],
        &[b"--usermap=ro*:7", b"--groupmap=5002:8,:9"],
        &[b"--numeric-ids", b"--groupmap=:9"],
        &[b"--chown=nobody:0"],
        &[b"--chown=:4"],
        &[b"--chown=6:"],
    ];
    for (n, maps) in cases.iter().enumerate() {
        let dest = format!("dst{n}/");
        let mut args: Vec<&[u8]> = vec![b"-ai"];
        args.extend_from_slice(maps);
        args.extend_from_slice(&[b"{src}/", dest.as_bytes()]);
        bed.same(&args, &dest);
    }
    // rsync 3.5.0 refuses the two together; the rsync installed here may be older, so
    // prsync alone is asked.
    let (_, p) = bed.both(&[b"-a", b"--chown=1:1", b"--usermap=*:1", b"{src}/", b"x/"]);
    assert_eq!(p.code, 1);
    assert_eq!(p.stderr, b"prsync: --chown conflicts with --usermap\n");
    // A TO name nobody has here: a warning, and the rule is left out.
    let (r, p) = bed.both(&[
        b"-a",
        b"--usermap=*:no-such-user-anywhere",
        b"{src}/",
        b"y/",
    ]);
    assert_eq!((r.code, p.code), (0, 0));
    assert_eq!(r.stderr, p.stderr);
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("y"), &pd.join("y"), "y", true);
}

/// `--partial-dir`: a partial file an interrupted run kept (beside the file in a relative
/// folder, or by name in an absolute one) is the basis of the next run, which removes it,
/// and the relative folder once empty; `--inplace` cannot go with it.
#[test]
fn partial_dir_is_the_next_runs_basis() {
    let bed = Bed::new("more-partial-dir");
    let src = bed.src();
    fs::create_dir_all(src.join("d1/d2")).unwrap();
    let data: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(src.join("d1/d2/f"), &data).unwrap();
    for p in ["d1/d2/f", "d1/d2", "d1", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    let abs = bed.root.join("partials");
    for side in bed.sides() {
        fs::create_dir_all(side.join("rel/d1/d2/.rsync-partial")).unwrap();
        fs::write(side.join("rel/d1/d2/.rsync-partial/f"), &data[..250_000]).unwrap();
    }
    bed.same(
        &[
            b"-ai",
            b"--no-whole-file",
            b"--partial-dir=.rsync-partial",
            b"{src}/",
            b"rel/",
        ],
        "rel",
    );
    for side in bed.sides() {
        assert!(!side.join("rel/d1/d2/.rsync-partial").exists());
    }
    // The absolute folder is one for both tools: each run in turn finds its partial there.
    let abs_arg = format!("--partial-dir={}", abs.display()).into_bytes();
    for (n, side) in bed.sides().iter().enumerate() {
        fs::create_dir_all(&abs).unwrap();
        fs::write(abs.join("f"), &data[..100_000]).unwrap();
        let tool = match n {
            0 => std::ffi::OsStr::new("rsync"),
            _ => common::prsync_bin(),
        };
        let args: Vec<&std::ffi::OsStr> = vec![
            std::ffi::OsStr::new("-a"),
            std::ffi::OsStr::new("--no-whole-file"),
            std::ffi::OsStr::from_bytes(&abs_arg),
            std::ffi::OsStr::from_bytes(b"../src/"),
            std::ffi::OsStr::new("abs/"),
        ];
        let out = common::run_in(tool, &args, side);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!abs.join("f").exists(), "side {n} left its partial");
        assert_eq!(fs::read(side.join("abs/d1/d2/f")).unwrap(), data);
    }
    let (_, p) = bed.both(&[b"-a", b"--inplace", b"--partial-dir=x", b"{src}/", b"y/"]);
    assert_eq!(p.code, 1);
    assert_eq!(
        p.stderr,
        b"prsync: --inplace cannot be used with --partial-dir\n"
    );
}

/// `-S`: a file with a large hole arrives with the hole, the bytes the same; with
/// `--preallocate` too, the reserved zeros are punched out, as rsync's are.
#[test]
fn sparse_files_keep_their_holes() {
    let bed = Bed::new("more-sparse");
    let src = bed.src();
    fs::create_dir_all(src.join("d1/d2")).unwrap();
    let holey = src.join("d1/d2/holey");
    {
        use std::os::unix::fs::FileExt;
        let f = fs::File::create(&holey).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"tail", (4 << 20) - 4).unwrap();
    }
    for p in ["d1/d2/holey", "d1/d2", "d1", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    for (dest, extra) in [("s", &b"-S"[..]), ("sp", b"--preallocate")] {
        let d = format!("{dest}/");
        let args: Vec<&[u8]> = match dest {
            "s" => vec![b"-ai", extra, b"{src}/", d.as_bytes()],
            _ => vec![b"-ai", b"-S", extra, b"{src}/", d.as_bytes()],
        };
        bed.same(&args, dest);
        for side in bed.sides() {
            let used = fs::metadata(side.join(dest).join("d1/d2/holey"))
                .unwrap()
                .blocks()
                * 512;
            assert!(used < 1 << 20, "{}: {used} bytes allocated", side.display());
        }
    }
    // In place: an update that brings a run of zeros punches the old blocks out.
    let full: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8 | 1).collect();
    fs::write(&holey, &full).unwrap();
    set_mtime(&holey, 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"ip/"], "ip");
    let mut zeroed = full.clone();
    zeroed[200_000..800_000].fill(0);
    fs::write(&holey, &zeroed).unwrap();
    set_mtime(&holey, 1_500_000_100, 0);
    bed.same(
        &[
            b"-ai",
            b"--inplace",
            b"-S",
            b"--no-whole-file",
            b"{src}/",
            b"ip/",
        ],
        "ip",
    );
    for side in bed.sides() {
        let used = fs::metadata(side.join("ip/d1/d2/holey")).unwrap().blocks() * 512;
        assert!(used < 600_000, "{}: {used} bytes allocated", side.display());
    }
}

/// `--append`: a shorter file gets only the rest (its start is trusted, even when wrong),
/// one as long or longer is left alone; `--append-verify` ends with the sender's bytes
/// (rsync gets there by a second pass, with a warning prsync does not print).
#[test]
fn append_and_append_verify() {
    let bed = Bed::new("more-append");
    let src = bed.src();
    let data: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    fs::write(src.join("f"), &data).unwrap();
    fs::write(src.join("g"), &data[..5000]).unwrap();
    for p in ["f", "g", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    let seed = |dest: &str| {
        bed.on_dests(dest, |d| {
            fs::create_dir_all(d).unwrap();
            let mut start = data[..8000].to_vec();
            start[..2].copy_from_slice(b"XX");
            fs::write(d.join("f"), start).unwrap();
            fs::write(d.join("g"), vec![7u8; 5000]).unwrap();
            set_mtime(&d.join("f"), 1_400_000_000, 0);
            set_mtime(&d.join("g"), 1_400_000_000, 0);
            set_mtime(d, 1_400_000_000, 0);
        })
    };
    seed("a");
    bed.same(&[b"-ai", b"--append", b"{src}/", b"a/"], "a");
    let [_, p] = bed.sides();
    assert_eq!(&fs::read(p.join("a/f")).unwrap()[8000..], &data[8000..]);
    assert_eq!(&fs::read(p.join("a/f")).unwrap()[..2], b"XX");
    assert_eq!(fs::read(p.join("a/g")).unwrap(), vec![7u8; 5000]);
    seed("v");
    let (r, pv) = bed.both(&[b"-a", b"--append-verify", b"{src}/", b"v/"]);
    assert_eq!((r.code, pv.code), (0, 0));
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("v"), &pd.join("v"), "--append-verify", true);
    assert_eq!(fs::read(pd.join("v/f")).unwrap(), data);
}

/// `-F` reads each folder's `.rsync-filter` (its rules hold there and below, anchored at
/// that folder, ahead of the folder above's), `-FF` leaves the files out too, `-C` adds
/// CVS's names and each folder's `.cvsignore`; `--delete` keeps what the destination's own
/// `.rsync-filter` files exclude.
#[test]
fn per_folder_filter_files() {
    let bed = Bed::new("more-dir-merge");
    let src = bed.src();
    fs::create_dir_all(src.join("a/b")).unwrap();
    fs::create_dir_all(src.join("c")).unwrap();
    fs::write(src.join(".rsync-filter"), "- *.o\n+ keep.tmp\n- /top.txt\n").unwrap();
    fs::write(src.join("a/.rsync-filter"), "- *.tmp\n- /x\n").unwrap();
    fs::write(src.join("c/.cvsignore"), "x\n").unwrap();
    for f in [
        "top.txt",
        "x.o",
        "a/top.txt",
        "a/x",
        "a/y.o",
        "a/keep.tmp",
        "a/z.tmp",
        "a/b/x",
        "a/b/q.tmp",
        "c/x",
        "core",
        "a/b/f.bak",
    ] {
        fs::write(src.join(f), f).unwrap();
    }
    let mut all = vec![
        ".rsync-filter",
        "a/.rsync-filter",
        "c/.cvsignore",
        "a/b",
        "c",
        "a",
        "",
    ];
    all.extend([
        "top.txt",
        "x.o",
        "a/top.txt",
        "a/x",
        "a/y.o",
        "a/keep.tmp",
        "a/z.tmp",
    ]);
    all.extend(["a/b/x", "a/b/q.tmp", "c/x", "core", "a/b/f.bak"]);
    for f in all {
        set_mtime(&src.join(f), 1_500_000_000, 0);
    }
    for (n, opts) in [
        &[&b"-F"[..]][..],
        &[b"-FF"],
        &[b"-C"],
        &[b"-FC"],
        &[b"-F", b"--filter=-_*.bak"],
    ]
    .iter()
    .enumerate()
    {
        let dest = format!("d{n}/");
        let mut args: Vec<&[u8]> = vec![b"-ai"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[b"{src}/", dest.as_bytes()]);
        bed.same(&args, &dest);
    }
    // The destination's .rsync-filter files protect what they exclude from --delete.
    bed.on_dests("d0", |d| {
        for f in ["extra.o", "a/extra.tmp", "a/b/extra", "c/extra"] {
            fs::write(d.join(f), b"x").unwrap();
        }
    });
    let (r, p) = bed.both(&[b"-a", b"--delete", b"-F", b"{src}/", b"d0/"]);
    assert_eq!((r.code, p.code), (0, 0));
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("d0"), &pd.join("d0"), "--delete -F", false);
    assert!(pd.join("d0/extra.o").exists() && pd.join("d0/a/extra.tmp").exists());
    assert!(!pd.join("d0/a/b/extra").exists() && !pd.join("d0/c/extra").exists());
}

/// `--log-file`: stamped lines (`YYYY/MM/DD HH:MM:SS [PID] `), `building file list`, an
/// entry's line in `--log-file-format` (`%i %n%L` by default) with names escaped, the
/// deletions, and the byte counts (which are prsync's own, and not compared).
#[test]
fn log_file_lines() {
    let bed = Bed::new("more-log-file");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("a"), b"a\n").unwrap();
    fs::write(src.join("d/b"), b"b\n").unwrap();
    fs::write(src.join(OsStr::from_bytes(b"c0_\x1b_esc")), b"x").unwrap();
    std::os::unix::fs::symlink("a", src.join("l")).unwrap();
    for p in ["a", "d/b", "d", "l", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    set_mtime(
        &src.join(OsStr::from_bytes(b"c0_\x1b_esc")),
        1_500_000_000,
        0,
    );
    let logs = bed.sides().map(|side| side.join("log"));
    let log_arg = b"--log-file=log";
    bed.same(&[b"-a", log_arg, b"{src}/", b"t/"], "t");
    bed.on_dests("t", |d| fs::write(d.join("extra"), b"x").unwrap());
    bed.same(&[b"-a", b"--delete", log_arg, b"{src}/", b"t/"], "t");
    bed.same(
        &[
            b"-a",
            log_arg,
            b"--log-file-format=%o %n%L",
            b"{src}/d/",
            b"t2/",
        ],
        "t2",
    );
    let lines = |path: &std::path::Path| -> Vec<Vec<u8>> {
        let text = fs::read(path).unwrap();
        text.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                // `2026/12/06 06:29:42 [23863] `: a date, a time and a pid.
                let at = l.windows(2).position(|w| w == b"] ").expect("stamped") + 2;
                assert_eq!(l[4], b'/');
                assert_eq!(l[13], b':');
                l[at..].to_vec()
            })
            .filter(|l| !l.starts_with(b"sent "))
            .collect()
    };
    let (r, p) = (lines(&logs[0]), lines(&logs[1]));
    assert_eq!(
        r.iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>(),
        p.iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(p.iter().any(|l| l == b">f+++++++++ c0_\\#033_esc"));
    assert!(p.iter().any(|l| l == b"*deleting   extra"));
}

/// `-y`: a file missing here is built against the most alike file beside it (same size
/// and time first, else the nearest name, suffixes weighing most); `--debug=FUZZY` says
/// which, in rsync's words.
#[test]
fn fuzzy_basis_is_the_nearest_name() {
    let bed = Bed::new("more-fuzzy");
    let src = bed.src();
    fs::create_dir_all(src.join("d1/d2")).unwrap();
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
        .collect();
    fs::write(src.join("d1/d2/archive-v2.tar"), &data).unwrap();
    for p in ["d1/d2/archive-v2.tar", "d1/d2", "d1", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.on_dests("t", |d| {
        fs::create_dir_all(d.join("d1/d2")).unwrap();
        let mut older = data[..280_000].to_vec();
        older.extend_from_slice(b"older tail data");
        fs::write(d.join("d1/d2/archive-v1.tar"), older).unwrap();
        fs::write(d.join("d1/d2/archive-old.tar"), &data[..200_000]).unwrap();
        fs::write(d.join("d1/d2/unrelated.dat"), b"nothing alike".repeat(1000)).unwrap();
        for f in ["archive-v1.tar", "archive-old.tar", "unrelated.dat", ""] {
            set_mtime(&d.join("d1/d2").join(f), 1_400_000_000, 0);
        }
    });
    let (r, p) = bed.both(&[
        b"-ai",
        b"--fuzzy",
        b"--no-whole-file",
        b"--debug=FUZZY",
        b"{src}/",
        b"t/",
    ]);
    assert_eq!((r.code, p.code), (0, 0));
    // rsync's debug line comes from its generator process, so where it falls among the
    // other lines is chance: the lines are compared as sets.
    let sorted = |out: &[u8]| {
        let mut lines = common::lines(out);
        lines.sort();
        lines
    };
    assert_eq!(sorted(&r.stdout), sorted(&p.stdout));
    let want = b"fuzzy basis selected for d1/d2/archive-v2.tar: d1/d2/archive-v1.tar".to_vec();
    assert!(sorted(&p.stdout).contains(&want));
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("t"), &pd.join("t"), "--fuzzy", true);
}

/// `--modify-window`: times that far apart or nearer count as the same, in the quick check
/// and in the itemized time.
#[test]
fn modify_window() {
    let bed = Bed::new("more-modify-window");
    let src = bed.src();
    fs::write(src.join("f"), b"same\n").unwrap();
    set_mtime(&src.join("f"), 1_500_000_000, 0);
    set_mtime(&src, 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"t/"], "t");
    bed.on_dests("t", |d| set_mtime(&d.join("f"), 1_500_000_001, 0));
    assert_eq!(bed.same(&[b"-ain", b"{src}/", b"t/"], "t").len(), 1);
    assert!(bed
        .same(&[b"-ain", b"--modify-window=2", b"{src}/", b"t/"], "t")
        .is_empty());
    bed.same(&[b"-ai", b"-@", b"1", b"{src}/", b"t/"], "t");
}

/// `--backup-dir` on another file system: what is replaced is made anew there, a fifo as
/// a fifo and a symlink as a symlink (reading the fifo would wait forever), a regular file
/// copied. Run in a private mount namespace with a tmpfs as the backup folder.
#[test]
fn backups_across_file_systems_keep_each_kind() {
    let bed = Bed::new("more-backup-xdev");
    let src = bed.src();
    fs::write(src.join("reg"), b"gen1\ngen1\n").unwrap();
    fs::write(src.join("fifo"), b"replaces the fifo\n").unwrap();
    std::os::unix::fs::symlink("target-gen2", src.join("lnk")).unwrap();
    let [r, p] = bed.sides();
    for side in [&r, &p] {
        fs::create_dir_all(side.join("dst")).unwrap();
        fs::create_dir_all(side.join("bak")).unwrap();
        fs::write(side.join("dst/reg"), b"gen1\n").unwrap();
        std::os::unix::fs::symlink("target-gen1", side.join("dst/lnk")).unwrap();
        let c = std::ffi::CString::new(side.join("dst/fifo").into_os_string().into_encoded_bytes())
            .unwrap();
        // SAFETY: mkfifo(3) reads the NUL-terminated path just made.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    let script = "for side in \"$2\" \"$3\"; do mount -t tmpfs prtools-test \"$side/bak\" || exit 1; done; \
         (cd \"$2\" && timeout 60 rsync -rlpD -b --backup-dir=../bak/b \"$1/\" dst/) || exit 2; \
         (cd \"$3\" && timeout 60 \"$4\" -rlpD -b --backup-dir=../bak/b \"$1/\" dst/) || exit 3; \
         for side in \"$2\" \"$3\"; do \
           (cd \"$side/bak/b\" && stat -c '%F %s %N' fifo lnk reg && cat reg) >\"$side/seen\" || exit 4; \
         done";
    let status = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&src)
        .arg(&r)
        .arg(&p)
        .arg(common::prsync_bin())
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    let seen = |side: &std::path::Path| fs::read_to_string(side.join("seen")).unwrap();
    assert_eq!(seen(&r), seen(&p));
    assert!(
        seen(&p).starts_with("fifo 0 'fifo'\nsymbolic link"),
        "{}",
        seen(&p)
    );
}

/// `--backup-dir` where a folder (with files in it) already sits at a backup's place: the
/// folder goes and the backup takes its place, for a replaced file and for a deleted one.
#[test]
fn a_backup_replaces_what_is_at_its_place() {
    let bed = Bed::new("more-backup-over-folder");
    fs::write(bed.src().join("f"), b"one\n").unwrap();
    set_mtime(&bed.src().join("f"), 1_500_000_000, 0);
    set_mtime(&bed.src(), 1_500_000_000, 0);
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    fs::write(bed.src().join("f"), b"two, longer\n").unwrap();
    bed.on_dests("", |side| {
        fs::write(side.join("dst/gone"), b"extraneous\n").unwrap();
        set_mtime(&side.join("dst/gone"), 1_600_000_000, 0);
        for name in ["bak/f/inner", "bak/gone/inner"] {
            fs::create_dir_all(side.join(name)).unwrap();
            fs::write(side.join(name).join("x"), b"x\n").unwrap();
        }
    });
    let args: &[&[u8]] = &[
        b"-ai",
        b"--delete-delay",
        b"--backup-dir=../bak",
        b"{src}/",
        b"dst/",
    ];
    bed.same(args, "dst");
    let [r, p] = bed.sides();
    assert_same_trees(&r.join("bak"), &p.join("bak"), "the backup folder", true);
    assert_eq!(fs::read(p.join("bak/gone")).unwrap(), b"extraneous\n");
}

/// `--safe-links -b`: a symlink on the destination that leads out of the tree is replaced
/// but not carried into the backups; a safe one is backed up.
#[test]
fn safe_links_keeps_no_unsafe_backup() {
    let bed = Bed::new("more-backup-safe-links");
    for name in ["escape", "inside", "keep"] {
        fs::write(bed.src().join(name), b"a file now\n").unwrap();
        set_mtime(&bed.src().join(name), 1_500_000_000, 0);
    }
    set_mtime(&bed.src(), 1_500_000_000, 0);
    bed.on_dests("", |side| {
        fs::create_dir_all(side.join("dst")).unwrap();
        std::os::unix::fs::symlink("../../sensitive", side.join("dst/escape")).unwrap();
        std::os::unix::fs::symlink("keep", side.join("dst/inside")).unwrap();
    });
    let args: &[&[u8]] = &[b"-ai", b"-b", b"--safe-links", b"{src}/", b"dst/"];
    bed.same(args, "dst");
    let [_, p] = bed.sides();
    assert!(!p.join("dst/escape~").exists() && p.join("dst/inside~").is_symlink());
}

/// `--debug=NSTR` says the checksum and compressor as rsync's client does, whether named
/// (`--checksum-choice`, `--compress-choice`) or negotiated; a compress level or choice
/// implies `-z`, and `none` turns it off.
#[test]
fn negotiation_lines_and_algorithm_choices() {
    let bed = Bed::new("more-nstr");
    fs::write(bed.src().join("f"), b"data\n").unwrap();
    set_mtime(&bed.src().join("f"), 1_500_000_000, 0);
    set_mtime(&bed.src(), 1_500_000_000, 0);
    let cases: &[&[&[u8]]] = &[
        &[b"-az"],
        &[b"-a", b"--compress-level=9"],
        &[b"-a", b"--compress-choice=zstd"],
        &[b"-az", b"--zc=none"],
        &[
            b"-ac",
            b"--checksum-choice=xxh128",
            b"--checksum-seed=12345",
        ],
        &[b"-a", b"--cc=auto"],
    ];
    for (n, extra) in cases.iter().enumerate() {
        let dest = format!("dst{n}/");
        let mut args: Vec<&[u8]> = extra.to_vec();
        args.extend_from_slice(&[b"--debug=NSTR", b"{src}/", dest.as_bytes()]);
        let lines = bed.same(&args, &dest);
        assert!(
            lines.iter().any(|l| l.ends_with(b"checksum: xxh128")),
            "{lines:?}"
        );
    }
    let (_, p) = bed.both(&[b"-a", b"--checksum-choice=md5", b"{src}/", b"bad/"]);
    assert_eq!(p.code, 1);
    assert!(String::from_utf8_lossy(&p.stderr).contains("hint: give --checksum-choice=xxh128"));
}

/// `--list-only`, and a source without a destination, list the files in rsync's `ls -l`
/// shape (every kind; a link's target with -l; -h sizes) and copy nothing; `-8` prints a
/// name's high bytes as they are.
#[test]
fn list_only_lines_and_eight_bit_names() {
    let bed = Bed::new("more-list-only");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f0"), vec![b'x'; 5000]).unwrap();
    fs::write(src.join(OsStr::from_bytes(b"hi\xf9name")), b"x\n").unwrap();
    std::os::unix::fs::symlink("d/f0", src.join("lnk")).unwrap();
    let c = std::ffi::CString::new(src.join("fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for name in ["d/f0", "d", "lnk", "fifo", "."] {
        set_mtime(&src.join(name), 1_500_000_000, 0);
    }
    let cases: &[&[&[u8]]] = &[
        &[b"--list-only", b"-r", b"{src}/", b"dst/"],
        &[b"{src}/"],
        &[b"-a", b"{src}/"],
        &[b"-h", b"{src}"],
        &[b"-ai", b"-8", b"-n", b"{src}/", b"dst8/"],
    ];
    for args in cases {
        let (r, p) = bed.both(args);
        assert_eq!(
            (r.code, p.code),
            (0, 0),
            "{:?}",
            String::from_utf8_lossy(&p.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&p.stdout)
        );
    }
    let [_, p] = bed.sides();
    assert!(!p.join("dst").exists() && !p.join("dst8").exists());
}

/// `--info=skip` (and `-vv`) say why each file is skipped, as rsync words it: newer with
/// `--update`, existing with `--ignore-existing` (level 2 says how it differs), over or
/// under a size limit, or not made with `--existing`.
#[test]
fn skipped_files_are_said() {
    let bed = Bed::new("more-info-skip");
    let src = bed.src();
    fs::create_dir_all(src.join("newdir")).unwrap();
    for (name, text, secs) in [
        ("big", &b"0123456789ab"[..], 1_500_000_000),
        ("small", b"1", 1_500_000_000),
        ("older", b"older here\n", 1_400_000_000),
        ("same", b"same\n", 1_500_000_000),
        ("changed", b"changed\n", 1_500_000_000),
        ("new", b"new\n", 1_500_000_000),
        ("newdir/f", b"f\n", 1_500_000_000),
    ] {
        fs::write(src.join(name), text).unwrap();
        set_mtime(&src.join(name), secs, 0);
    }
    bed.on_dests("", |side| {
        let d = side.join("dst");
        fs::create_dir_all(&d).unwrap();
        for (name, text) in [
            ("older", &b"newer there\n"[..]),
            ("same", b"same\n"),
            ("changed", b"other content\n"),
            ("big", b"x"),
            ("small", b"x"),
        ] {
            fs::write(d.join(name), text).unwrap();
            set_mtime(&d.join(name), 1_500_000_000, 0);
        }
    });
    let cases: &[&[&[u8]]] = &[
        &[
            b"-a",
            b"--info=skip",
            b"--update",
            b"--max-size=11",
            b"--min-size=2",
        ],
        &[b"-a", b"--info=skip2", b"--ignore-existing"],
        &[b"-a", b"--info=skip", b"--existing", b"--ignore-existing"],
    ];
    for extra in cases {
        let mut args: Vec<&[u8]> = extra.to_vec();
        args.extend_from_slice(&[b"-n", b"{src}/", b"dst/"]);
        let lines = bed.same(&args, "dst");
        let said = |what: &[u8]| {
            lines
                .iter()
                .any(|l| l.windows(what.len()).any(|w| w == what))
        };
        assert!(
            (said(b" is newer") && said(b"is over max-size") && said(b"is under min-size"))
                || said(b"same exists (uptodate)")
                || said(b"not creating new directory"),
            "{lines:?}"
        );
    }
}

/// `-H` with `--copy-dest`, `--link-dest` and `--compare-dest`: a hard-link group's first
/// member is settled from the folders before the others are put off, the others link to
/// it (itemized against what the folders hold), and `-vv` or `-ii` show what the folders
/// settled (`cd`, `cf`, `hf`, `.f`) where `-i` shows nothing.
#[test]
fn hard_links_and_alt_dest_itemize_as_rsync() {
    let bed = Bed::new("more-hlink-alt");
    let src = bed.src();
    fs::create_dir_all(src.join("foo")).unwrap();
    fs::create_dir_all(src.join("bar/baz")).unwrap();
    fs::write(src.join("foo/config1"), vec![b'a'; 3000]).unwrap();
    fs::write(src.join("foo/config2"), vec![b'b'; 3000]).unwrap();
    fs::write(src.join("bar/baz/data"), b"data\n").unwrap();
    fs::hard_link(src.join("foo/config1"), src.join("foo/extra")).unwrap();
    for name in [
        "foo/config1",
        "foo/config2",
        "bar/baz/data",
        "foo",
        "bar/baz",
        "bar",
        ".",
    ] {
        set_mtime(&src.join(name), 1_500_000_000, 0);
    }
    bed.same(&[b"-aH", b"{src}/", b"base/"], "base");
    for (n, kind) in ["--copy-dest", "--link-dest", "--compare-dest"]
        .iter()
        .enumerate()
    {
        // (-vv would add rsync's delta-search totals, which prsync does not count yet.)
        let levels: [&[&[u8]]; 4] = [
            &[b"-i"],
            &[b"-ii"],
            &[b"--info=name2"],
            &[b"-i", b"--info=name2"],
        ];
        for (m, verbosity) in levels.iter().enumerate() {
            for dry in [false, true] {
                let dest = format!("to-{n}-{m}-{dry}/");
                let alt = format!("{kind}=../base");
                let mut args: Vec<&[u8]> = vec![b"-aH", alt.as_bytes()];
                args.extend_from_slice(verbosity);
                if dry {
                    args.push(b"-n");
                }
                args.extend_from_slice(&[b"{src}/", dest.as_bytes()]);
                bed.same(&args, &dest);
            }
        }
    }
}

/// `--no-super` as root: the receiver does what a user who is not root does (owners are
/// not kept, devices not made), and read-only extraneous files still go with
/// `--delete-delay`; `--super` after it wins.
#[test]
fn no_super_receives_as_a_user() {
    let bed = Bed::new("more-no-super");
    let src = bed.src();
    fs::write(src.join("owned"), b"o\n").unwrap();
    let c = std::ffi::CString::new(src.join("owned").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let c = std::ffi::CString::new(src.join("fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for name in ["owned", "fifo", "."] {
        set_mtime(&src.join(name), 1_500_000_000, 0);
    }
    bed.on_dests("", |side| {
        fs::create_dir_all(side.join("dst")).unwrap();
        let old = side.join("dst/read-only-extra");
        fs::write(&old, b"x\n").unwrap();
        chmod(&old, 0o444);
    });
    bed.same(
        &[b"-ai", b"--no-super", b"--delete-delay", b"{src}/", b"dst/"],
        "dst",
    );
    bed.same(
        &[b"-ai", b"--no-super", b"--super", b"{src}/", b"dst2/"],
        "dst2",
    );
}

/// file's rule with the file's name, and -C's names as the global CVS list.
#[test]
fn filter_trace_names_the_deciding_rule() {
    let bed = Bed::new("more-filter-trace");
    let src = bed.src();
    fs::create_dir_all(src.join("sub")).unwrap();
    for name in [
        "f",
        "a.o",
        "sub/b.o",
        "secret-marker",
        "sub/c.c",
        ".rsync-filter",
    ] {
        fs::write(src.join(name), b"x\n").unwrap();
    }
    fs::write(src.join(".rsync-filter"), b"- sec[r]et-marker\n").unwrap();
    fs::write(bed.root.join("excl"), b"*.c\n").unwrap();
    let excl = format!("--exclude-from={}", bed.root.join("excl").display());
    for name in [
        "f",
        "a.o",
        "sub/b.o",
        "secret-marker",
        "sub/c.c",
        ".rsync-filter",
        "sub",
        ".",
    ] {
        set_mtime(&src.join(name), 1_500_000_000, 0);
    }
    bed.on_dests("", |side| {
        fs::create_dir_all(side.join("dst/sub")).unwrap();
        // (Only in the top folder: where deletions below it fall among the names is a
        // matter of rsync's processes' timing.)
        // Fixed times: those left alone are compared, and the two sides are written a
        // clock tick apart now and then.
        for name in ["x.o", "gone", "y.o", "keep"] {
            fs::write(side.join("dst").join(name), b"z\n").unwrap();
            set_mtime(&side.join("dst").join(name), 1_400_000_000, 0);
        }
        set_mtime(&side.join("dst/sub"), 1_400_000_000, 0);
    });
    let cases: &[&[&[u8]]] = &[
        &[b"-F", b"--exclude=*.o", b"--include=f", b"--filter=R keep"],
        &[excl.as_bytes(), b"-C", b"--exclude=sub/"],
    ];
    for (n, extra) in cases.iter().enumerate() {
        let mut args: Vec<&[u8]> = vec![b"-rti", b"--debug=FILTER", b"--delete"];
        args.extend_from_slice(extra);
        if n > 0 {
            args.push(b"-n");
        }
        args.extend_from_slice(&[b"{src}/", b"dst/"]);
        let lines = bed.same(&args, "dst");
        let said = |what: &[u8]| lines.iter().any(|l| l.starts_with(what));
        assert!(
            said(b"[sender] hiding file") && said(b"[generator] "),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.windows(6).any(|w| w == b"sec[r]")));
    }
}

/// `--delay-updates` with `--partial-dir`: the new files wait in the partial folder (beside
/// them for a relative one, by name in an absolute one) and go into place at the end; an
/// absolute folder stays, a relative one goes once empty.
#[test]
fn delay_updates_waits_in_the_partial_dir() {
    let bed = Bed::new("more-delay-partial");
    fs::create_dir_all(bed.src().join("d")).unwrap();
    for name in ["a", "d/b"] {
        fs::write(bed.src().join(name), format!("{name}\n")).unwrap();
        set_mtime(&bed.src().join(name), 1_500_000_000, 0);
    }
    for name in ["d", "."] {
        set_mtime(&bed.src().join(name), 1_500_000_000, 0);
    }
    let [r, p] = bed.sides();
    for side in [&r, &p] {
        fs::create_dir_all(side.join("abs-partial")).unwrap();
    }
    bed.same(
        &[
            b"-ai",
            b"--delay-updates",
            b"--partial-dir=.wait",
            b"{src}/",
            b"rel/",
        ],
        "rel",
    );
    let abs =
        |side: &std::path::Path| format!("--partial-dir={}", side.join("abs-partial").display());
    // Each side gets its own absolute folder: run them one at a time.
    let (ra, pa) = (abs(&r), abs(&p));
    let src = format!("{}/", bed.src().display());
    let run = |program: &OsStr, arg: &str, cwd: &std::path::Path| {
        let args = [
            OsStr::new("-a"),
            OsStr::new("--delay-updates"),
            OsStr::new(arg),
            OsStr::new(&src),
            OsStr::new("abs/"),
        ];
        common::run_in(program, &args, cwd)
    };
    assert!(run(OsStr::new("rsync"), &ra, &r).status.success());
    assert!(run(common::prsync_bin(), &pa, &p).status.success());
    assert_same_trees(
        &r,
        &p,
        "--delay-updates with an absolute --partial-dir",
        false,
    );
    assert_eq!(fs::read(p.join("abs/d/b")).unwrap(), b"d/b\n");
}

/// Batch mode: `--only-write-batch` records a transfer and leaves DEST alone, `--read-batch`
/// replays it (and says which recorded files it did not need on a second replay),
/// `--write-batch` transfers and records, and its batch brings an older copy of DEST to the
/// same tree, with `--delete` and `-H`: the same lines and trees as rsync's batches make.
#[test]
fn batch_write_and_replay() {
    use common::{random_tree, regular_files, Rng};
    let bed = Bed::new("more-batch");
    let mut rng = Rng::new(14);
    random_tree(&bed.src(), &mut rng);
    for side in bed.sides() {
        fs::create_dir(side.join("dst")).unwrap();
    }
    bed.same(
        &[b"-aiH", b"--only-write-batch=B", b"{src}/", b"dst/"],
        "dst",
    );
    for side in bed.sides() {
        assert_eq!(fs::read_dir(side.join("dst")).unwrap().count(), 0);
    }
    bed.same(&[b"-aiH", b"--read-batch=B", b"dst/"], "dst");
    // Again: nothing to do, and each recorded file is said to be skipped. rsync's replay
    // also repeats the recorded lines of folders and symlinks, which prsync does not.
    let (r, p) = bed.both(&[b"-aiH", b"--read-batch=B", b"dst/"]);
    assert_eq!((r.code, p.code), (0, 0));
    let skipped = |out: &[u8]| -> Vec<Vec<u8>> {
        common::lines(out)
            .into_iter()
            .filter(|l| l.starts_with(b"(Skipping batched update for "))
            .collect()
    };
    assert!(!skipped(&p.stdout).is_empty());
    assert_eq!(skipped(&r.stdout), skipped(&p.stdout));
    assert_eq!(common::lines(&p.stdout), skipped(&p.stdout));

    bed.same(&[b"-aH", b"dst/", b"old/"], "old");
    let files = regular_files(&bed.src());
    for (n, f) in files.iter().enumerate().step_by(3) {
        fs::write(f, format!("changed {n}\n")).unwrap();
        set_mtime(f, 1_700_000_000 + n as i64, 0);
    }
    fs::remove_file(&files[1]).unwrap();
    set_mtime(files[1].parent().unwrap(), 1_700_000_000, 0);
    bed.same(
        &[b"-aiH", b"--delete", b"--write-batch=C", b"{src}/", b"dst/"],
        "dst",
    );
    bed.same(&[b"-aiH", b"--delete", b"--read-batch=C", b"old/"], "old");
    let [r, p] = bed.sides();
    common::assert_same_trees(&r.join("dst"), &p.join("old"), "replayed batch", true);
}

/// What is not prsync's whole batch is refused before DEST changes, with one line and
/// rsync's exit status 11: rsync's own batch, a truncated one, one that is not a regular
/// file, and one behind another user's symlink; `-` reads the batch from standard input.
#[test]
fn batch_refuses_what_it_did_not_write() {
    let bed = Bed::new("more-batch-refuse");
    fs::write(bed.src().join("f"), b"payload\n").unwrap();
    let [r, p] = bed.sides();
    let (rs, ps) = bed.both(&[b"-a", b"--write-batch=B", b"{src}/", b"dst/"]);
    assert_eq!((rs.code, ps.code), (0, 0));
    let prsync = |args: &[&str]| {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        common::run_in(common::prsync_bin(), &args, &p)
    };
    let refused = |args: &[&str], said: &str| {
        let out = prsync(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(11), "{args:?}: {err}");
        assert!(
            err.contains(said) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(!p.join("new").exists(), "{args:?} made DEST");
    };
    let rsyncs = r.join("B").display().to_string();
    refused(
        &["-a", &format!("--read-batch={rsyncs}"), "new/"],
        "is not a prsync batch",
    );
    let whole = fs::read(p.join("B")).unwrap();
    fs::write(p.join("T"), &whole[..whole.len() - 3]).unwrap();
    refused(&["-a", "--read-batch=T", "new/"], "is truncated");
    refused(
        &["-a", "--read-batch=/dev/null", "new/"],
        "is not a regular file",
    );
    std::os::unix::fs::symlink(p.join("B"), p.join("L")).unwrap();
    std::os::unix::fs::lchown(p.join("L"), Some(65534), Some(65534)).unwrap();
    refused(&["-a", "--read-batch=L", "new/"], "untrusted user");

    let mut child = std::process::Command::new(common::prsync_bin())
        .args(["-a", "--read-batch=-", "new/"])
        .current_dir(&p)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &whole).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(fs::read(p.join("new/f")).unwrap(), b"payload\n");
}

/// `--remove-source-files` removes every non-folder it settled, symlinks and fifos as well
/// as files (already there or sent), and leaves the source as folders alone, as rsync does;
/// a symlink changed since it was listed stays.
#[test]
fn remove_source_files_leaves_only_folders() {
    let bed = Bed::new("more-remove-source");
    for side in ["r", "p"] {
        let src = bed.root.join(side).join("src");
        fs::create_dir_all(src.join("d/e")).unwrap();
        fs::write(src.join("f"), b"f\n").unwrap();
        fs::write(src.join("d/g"), b"g\n").unwrap();
        std::os::unix::fs::symlink("f", src.join("link")).unwrap();
        std::os::unix::fs::symlink("../nowhere", src.join("d/dangling")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("d/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        for p in ["f", "d/g", "link", "d/dangling", "d/fifo", "d/e", "d", ""] {
            set_mtime(&src.join(p), 1_500_000_000, 0);
        }
    }
    // d/ is there already; f and link are sent.
    bed.same(
        &[b"-a", b"--exclude=/f", b"--exclude=/link", b"src/", b"dst/"],
        "dst",
    );
    bed.same(&[b"-ai", b"--remove-source-files", b"src/", b"dst/"], "dst");
    let [r, p] = bed.sides();
    common::assert_same_trees(&r.join("src"), &p.join("src"), "src", false);
    assert!(p.join("src/d/e").is_dir());
    let left: Vec<_> = fs::read_dir(p.join("src/d")).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// `--delete-missing-args`: a source named that is not there deletes what has its name in
/// DEST (a folder with something in it only with `--force`), named on the command line or
/// in `--files-from`, as rsync does.
#[test]
fn delete_missing_args_as_rsync() {
    let bed = Bed::new("more-delete-missing");
    let src = bed.src();
    fs::write(src.join("a"), b"a\n").unwrap();
    set_mtime(&src.join("a"), 1_500_000_000, 0);
    set_mtime(&src, 1_500_000_000, 0);
    let fill = |d: &std::path::Path| {
        fs::create_dir_all(d.join("c/d")).unwrap();
        fs::write(d.join("b"), b"b\n").unwrap();
        fs::write(d.join("c/d/x"), b"x\n").unwrap();
        std::os::unix::fs::symlink("a", d.join("l")).unwrap_or(());
    };
    bed.same(&[b"-a", b"{src}/", b"dst/"], "dst");
    bed.on_dests("dst", fill);
    let names: [&[u8]; 5] = [b"{src}/a", b"{src}/b", b"{src}/c", b"{src}/l", b"{src}/zz"];
    let with = |extra: &[&'static [u8]]| -> Vec<Vec<u8>> {
        let mut args: Vec<&[u8]> = vec![b"-ai", b"--delete-missing-args"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&names);
        args.push(b"dst/");
        // The filled trees' times are each side's own.
        bed.same_with(&args, "dst", false)
    };
    let lines = with(&[b"-n"]);
    assert!(lines.contains(&b"*deleting   b".to_vec()), "{lines:?}");
    with(&[]);
    bed.on_dests("dst", fill);
    with(&[b"--force"]);
    let [_, p] = bed.sides();
    assert!(!p.join("dst/c").exists() && p.join("dst/a").exists());

    bed.on_dests("dst", fill);
    fs::write(bed.root.join("list"), b"a\nb\nl\nzz\n").unwrap();
    bed.same_with(
        &[
            b"-ai",
            b"--delete-missing-args",
            b"--files-from=../list",
            b"{src}/",
            b"dst/",
        ],
        "dst",
        false,
    );
}

/// Each path of a tree with its `user.` attributes (name, value), sorted.
type TreeXattrs = Vec<(String, Vec<(String, Vec<u8>)>)>;

/// Every `user.` attribute below `root`, per path (symlinks not followed), sorted.
fn user_xattrs(root: &std::path::Path) -> TreeXattrs {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for item in fs::read_dir(&path).unwrap() {
                stack.push(rel.join(item.unwrap().file_name()));
            }
        }
        let mut attrs: Vec<(String, Vec<u8>)> = xattr::list(&path)
            .unwrap()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.starts_with("user."))
            .map(|n| {
                let v = xattr::get(&path, &n).unwrap().unwrap_or_default();
                (n, v)
            })
            .collect();
        attrs.sort();
        out.push((rel.display().to_string(), attrs));
    }
    out.sort();
    out
}

/// Asserts that both sides' `dest` trees hold the same `user.` attributes, and returns them.
fn same_xattrs(bed: &Bed, dest: &str) -> TreeXattrs {
    let [r, p] = bed.sides();
    let (rx, px) = (user_xattrs(&r.join(dest)), user_xattrs(&p.join(dest)));
    assert_eq!(rx, px, "user xattrs of {dest}: rsync, then prsync");
    rx
}

fn setx(path: &std::path::Path, name: &str, value: &str) {
    xattr::set(path, name, value.as_bytes()).unwrap();
}

/// `-X`: attributes of files and folders arrive, a destination's extra ones go, a changed
/// one is itemized `x` (and nothing else of an unchanged file is touched); the filters' `x`
/// rules keep names out on both sides; rsync's own `user.rsync.%` names travel with `-XX`
/// only.
#[test]
fn xattrs_are_kept_and_itemized() {
    let bed = Bed::new("more-xattrs");
    let src = bed.src();
    fs::create_dir_all(src.join("d/sub")).unwrap();
    for (f, text) in [("f1", "one\n"), ("f2", "two\n"), ("d/f3", "three\n")] {
        fs::write(src.join(f), text).unwrap();
    }
    setx(&src.join("f1"), "user.short", "s");
    setx(&src.join("f1"), "user.long", &"long value ".repeat(40));
    setx(&src.join("d"), "user.dir", "a folder's");
    setx(&src.join("d/f3"), "user.keep", "k");
    setx(&src.join("d/f3"), "user.skip-me", "filtered");
    setx(&src.join("f2"), "user.rsync.%own", "only with -XX");
    std::os::unix::fs::symlink("f1", src.join("link")).unwrap();
    for p in ["f1", "f2", "d/f3", "d/sub", "d", "link", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same(&[b"-aiX", b"{src}/", b"dst/"], "dst");
    let got = same_xattrs(&bed, "dst");
    assert!(got.iter().any(|(p, a)| p == "d" && a.len() == 1), "{got:?}");
    assert!(got
        .iter()
        .all(|(_, a)| a.iter().all(|(n, _)| n != "user.rsync.%own")));

    // A changed value, an extra name here, and an unchanged file: one `x` line each.
    setx(&src.join("f1"), "user.short", "changed");
    bed.on_dests("dst", |d| setx(&d.join("d/f3"), "user.extra", "remove me"));
    let lines = bed.same(&[b"-aiX", b"{src}/", b"dst/"], "dst");
    assert_eq!(
        lines,
        vec![b".f........x f1".to_vec(), b".f........x d/f3".to_vec()]
    );
    same_xattrs(&bed, "dst");

    // x rules: a name excluded is neither sent nor removed here.
    bed.on_dests("dst", |d| setx(&d.join("f2"), "user.skip-local", "stays"));
    bed.same(&[b"-aiX", b"-f-x_user.skip*", b"{src}/", b"x/"], "x");
    bed.same(&[b"-aiX", b"-f-x_user.skip*", b"{src}/", b"dst/"], "dst");
    let got = same_xattrs(&bed, "dst");
    assert!(got
        .iter()
        .any(|(p, a)| p == "f2" && a.iter().any(|(n, _)| n == "user.skip-local")));
    same_xattrs(&bed, "x");

    // -XX: rsync's own names too.
    bed.same(&[b"-aiXX", b"{src}/", b"xx/"], "xx");
    let got = same_xattrs(&bed, "xx");
    assert!(got
        .iter()
        .any(|(p, a)| p == "f2" && a.iter().any(|(n, _)| n == "user.rsync.%own")));
}

/// `--fake-super`: another owner, a device and a fifo arrive as plain files with rsync's
/// `user.rsync.%stat` (the same bytes rsync writes), and a second run finds them up to
/// date; read back with `--fake-super`, they are what was sent.
#[test]
fn fake_super_keeps_what_only_root_may_set_in_an_xattr() {
    let bed = Bed::new("more-fake-super");
    let src = bed.src();
    fs::write(src.join("owned"), b"someone else's\n").unwrap();
    std::os::unix::fs::chown(src.join("owned"), Some(5000), Some(5002)).unwrap();
    chmod(&src.join("owned"), 0o4755);
    let node = |name: &str, kind: rustix::fs::FileType, dev: u64| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join(name),
            kind,
            rustix::fs::Mode::from_raw_mode(0o644),
            dev,
        )
        .unwrap();
    };
    node(
        "char",
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::makedev(41, 67),
    );
    node("fifo", rustix::fs::FileType::Fifo, 0);
    fs::create_dir_all(src.join("d")).unwrap();
    chmod(&src.join("d"), 0o1777);
    for p in ["owned", "char", "fifo", "d", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same(&[b"-ai", b"--fake-super", b"{src}/", b"fake/"], "fake");
    let got = same_xattrs(&bed, "fake");
    let stat = |path: &str| -> String {
        let attrs = &got.iter().find(|(p, _)| p == path).unwrap().1;
        let (_, v) = attrs.iter().find(|(n, _)| n == "user.rsync.%stat").unwrap();
        String::from_utf8_lossy(v).into_owned()
    };
    assert_eq!(stat("char"), "20644 41,67 0:0");
    assert_eq!(stat("owned"), "104755 0,0 5000:5002");
    assert_eq!(stat("d"), "41777 0,0 0:0");
    let [_, p] = bed.sides();
    assert!(fs::symlink_metadata(p.join("fake/fifo")).unwrap().is_file());
    // Up to date as the attribute tells it.
    let lines = bed.same(&[b"-ai", b"--fake-super", b"{src}/", b"fake/"], "fake");
    assert!(lines.is_empty(), "{lines:?}");
    // Read back with --fake-super at both (local) ends: the sender takes each file for what
    // its attribute says, and the receiver stores the same attribute anew.
    let again = bed.root.join("again");
    let out = common::run_in(
        common::prsync_bin(),
        &[
            OsStr::new("-ai"),
            OsStr::new("--fake-super"),
            p.join("fake/").as_os_str(),
            again.as_os_str(),
        ],
        &bed.root,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(user_xattrs(&again), user_xattrs(&p.join("fake")));
}

/// `-U` gives each file the sender's access time; `--open-noatime` reads the sources
/// without moving theirs, which a plain read would (relatime moves an atime older than the
/// mtime).
#[test]
fn atimes_and_open_noatime() {
    let bed = Bed::new("more-atimes");
    let src = bed.src();
    fs::write(src.join("f"), b"read me\n").unwrap();
    let old = filetime::FileTime::from_unix_time(981_220_662, 0);
    let mtime = filetime::FileTime::from_unix_time(1_500_000_000, 0);
    filetime::set_file_times(src.join("f"), old, mtime).unwrap();
    set_mtime(&src, 1_500_000_000, 0);
    // Looked at before the trees are compared, which reads the files.
    let (r, p) = bed.both(&[b"-ai", b"-U", b"--open-noatime", b"{src}/", b"dst/"]);
    assert_eq!((r.code, p.code), (0, 0));
    common::assert_same_lines(&r.stdout, &p.stdout, "-ai -U --open-noatime");
    let atime = |p: &std::path::Path| fs::metadata(p).unwrap().atime();
    assert_eq!(
        atime(&src.join("f")),
        981_220_662,
        "the source was read quietly"
    );
    for side in bed.sides() {
        assert_eq!(
            atime(&side.join("dst/f")),
            981_220_662,
            "{}",
            side.display()
        );
    }
    let [rd, pd] = bed.sides();
    common::assert_same_trees(&rd.join("dst"), &pd.join("dst"), "-U", true);
    // Reading the copies to compare them moved their atimes: the next run says `u`.
    let lines = bed.same(
        &[b"-ai", b"-U", b"--open-noatime", b"{src}/", b"dst/"],
        "dst",
    );
    assert_eq!(lines, vec![b".f......u.. f".to_vec()]);
}

/// Each path below `root` with its ACL as exacl prints it, canonically ordered.
fn acls_of(root: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            for item in fs::read_dir(&path).unwrap() {
                stack.push(rel.join(item.unwrap().file_name()));
            }
        }
        let mut entries = exacl::getfacl(&path, None).unwrap();
        entries.sort();
        out.push((
            rel.display().to_string(),
            exacl::to_string(&entries).unwrap(),
        ));
    }
    out.sort();
    out
}

/// `-A`: named entries, a mask and a folder's default ACL arrive as rsync sets them; one
/// entry changed on the sender is itemized `a`, and a stale one here is taken away.
#[test]
fn acls_are_kept_and_itemized() {
    let bed = Bed::new("more-acls");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("f"), b"f\n").unwrap();
    fs::write(src.join("plain"), b"p\n").unwrap();
    let acl = |text: &str| exacl::from_str(text).unwrap();
    let file_acl = "allow::user::read,write\nallow::group::read\nallow::other::read\n\
                    allow::user:1234:read,write\nallow::mask::read,write\n";
    exacl::setfacl(&[src.join("f")], &acl(file_acl), None).unwrap();
    let dir_acl = "allow::user::read,write,execute\nallow::group::read,execute\n\
                   allow::other::read,execute\nallow:default:user::read,write,execute\n\
                   allow:default:group::read\nallow:default:other::\n\
                   allow:default:user:1234:read,write\nallow:default:mask::read,write\n";
    exacl::setfacl(&[src.join("d")], &acl(dir_acl), None).unwrap();
    for p in ["f", "plain", "d", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same(&[b"-aiA", b"{src}/", b"dst/"], "dst");
    let [r, p] = bed.sides();
    assert_eq!(acls_of(&r.join("dst")), acls_of(&p.join("dst")));
    assert!(acls_of(&p.join("dst"))
        .iter()
        .any(|(n, a)| n == "f" && a.contains("user:1234:read,write")));

    // The named entry loses write (the mask, and so the mode, stay): an `a` line; a
    // named entry added here to a file whose ACL is plain goes.
    let changed = file_acl.replace("user:1234:read,write", "user:1234:read");
    exacl::setfacl(&[src.join("f")], &acl(&changed), None).unwrap();
    let stale = "allow::user::read,write\nallow::group::read\nallow::other::read\n\
                 allow::user:4321:read\nallow::mask::read\n";
    bed.on_dests("dst", |d| {
        exacl::setfacl(&[d.join("plain")], &acl(stale), None).unwrap();
        chmod(&d.join("plain"), 0o644);
    });
    let lines = bed.same(&[b"-aiA", b"{src}/", b"dst/"], "dst");
    assert!(lines.contains(&b".f.......a. f".to_vec()), "{lines:?}");
    assert_eq!(acls_of(&r.join("dst")), acls_of(&p.join("dst")));
    assert_eq!(acls_of(&p.join("dst")), acls_of(&src));
}

/// `-A --fake-super` on the receiver (`-M--fake-super` in a local copy): the ACLs are kept
/// in rsync's `user.rsync.%aacl` and `%dacl` attributes, the same bytes rsync writes, and
/// not set on the inodes; a sender with `--fake-super` reads them back from there (in a
/// local copy the receiver then keeps them in attributes too, as rsync's forked receiver
/// inherits the option); a folder whose default ACL went loses its `%dacl`. (rsync's suite: fake-super-acl-xattr.)
#[test]
fn fake_super_keeps_acls_in_rsyncs_attributes() {
    let bed = Bed::new("more-fake-acls");
    let src = bed.src();
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("f"), b"f\n").unwrap();
    fs::write(src.join("d/g"), b"g\n").unwrap();
    let acl = |text: &str| exacl::from_str(text).unwrap();
    let file_acl = "allow::user::read,write\nallow::group::read\nallow::other::read\n\
                    allow::user:1234:read,write,execute\nallow::group:99:read\n\
                    allow::mask::read,write,execute\n";
    exacl::setfacl(&[src.join("f")], &acl(file_acl), None).unwrap();
    let dir_acl = "allow::user::read,write,execute\nallow::group::read,execute\n\
                   allow::other::read,execute\nallow:default:user::read,write,execute\n\
                   allow:default:group::read\nallow:default:other::\n\
                   allow:default:user:1234:read,write\nallow:default:mask::read,write\n";
    exacl::setfacl(&[src.join("d")], &acl(dir_acl), None).unwrap();
    for p in ["f", "d/g", "d", ""] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    let receiving = [&b"-aiA"[..], b"-M--fake-super", b"{src}/", b"fake/"];
    bed.same(&receiving, "fake");
    let got = same_xattrs(&bed, "fake");
    let names = |path: &str| -> Vec<String> {
        let attrs = &got.iter().find(|(p, _)| p == path).unwrap().1;
        attrs.iter().map(|(n, _)| n.clone()).collect()
    };
    assert_eq!(names("f"), ["user.rsync.%aacl"]);
    assert_eq!(names("d"), ["user.rsync.%dacl"]);
    let [r, p] = bed.sides();
    // Not on the inode: the ACL there is what the mode says.
    assert_eq!(acls_of(&r.join("fake")), acls_of(&p.join("fake")));
    assert!(!acls_of(&p.join("fake"))
        .iter()
        .any(|(_, a)| a.contains("1234")));
    // Up to date as the attributes tell it.
    let lines = bed.same(&receiving, "fake");
    assert!(lines.is_empty(), "{lines:?}");

    // Both ends --fake-super: the sender reads the attributes, the receiver stores them.
    bed.same(
        &[
            b"-aiA",
            b"--fake-super",
            b"-M--fake-super",
            b"fake/",
            b"again/",
        ],
        "again",
    );
    assert_eq!(same_xattrs(&bed, "again"), got);

    // The folder's default ACL goes: so does its %dacl, with an `a` line.
    exacl::setfacl(&[src.join("d")], &[], exacl::AclOption::DEFAULT_ACL).unwrap();
    set_mtime(&src.join("d"), 1_500_000_000, 0);
    let lines = bed.same(&receiving, "fake");
    assert!(lines.contains(&b".d.......a. d/".to_vec()), "{lines:?}");
    let after = same_xattrs(&bed, "fake");
    assert!(
        after.iter().any(|(p, a)| p == "d" && a.is_empty()),
        "{after:?}"
    );
}
