//! prsync against rsync 3.5.0 where a symlink sits on a path that a run reads or writes
//! through: the ones rsync follows (they stay in the tree, or are the operator's own) and the
//! ones it refuses (they lead out, or another user planted them). rsync's own suite stages
//! these as races against a flipping thread; here the link is planted before the run, which
//! reaches the same check deterministically.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use common::{set_mtime, Bed};

/// The uid of the "other user" who plants links: nobody, neither root nor us.
const OTHER_UID: u32 = 65534;

/// Makes the symlink `link` -> `target`, belonging to the other user.
fn plant_foreign_link(target: &Path, link: &Path) {
    symlink(target, link).unwrap();
    std::os::unix::fs::lchown(link, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
}

/// `-R --no-implied-dirs` writes through a symlink the destination has on the path when it
/// stays inside the destination (its folders are not sent, so the destination's path is used
/// as it is); one that leads out, by an absolute target or by `..`, is refused and nothing
/// lands outside; with implied folders the link is replaced by a real folder.
#[test]
fn no_implied_dirs_follows_only_the_links_that_stay_inside() {
    let bed = Bed::new("races-no-implied-link");
    fs::create_dir_all(bed.src().join("path")).unwrap();
    fs::write(bed.src().join("path/file"), b"NEW\n").unwrap();
    set_mtime(&bed.src().join("path/file"), 1_500_000_000, 0);
    set_mtime(&bed.src().join("path"), 1_500_000_000, 0);
    for (dest, extra) in [
        ("noimplied", &[&b"--no-implied-dirs"[..]][..]),
        ("implied", &[]),
    ] {
        bed.on_dests("", |side| {
            fs::create_dir_all(side.join(dest).join("real")).unwrap();
            symlink("real", side.join(dest).join("path")).unwrap();
            set_mtime(&side.join(dest).join("real"), 1_500_000_000, 0);
        });
        let mut args: Vec<&[u8]> = vec![b"-aiR"];
        args.extend_from_slice(extra);
        let dest_arg = format!("{dest}/");
        args.extend_from_slice(&[b"{src}/./path/file", dest_arg.as_bytes()]);
        // The folder written into gets the time of writing on each side.
        bed.same_with(&args, dest, false);
    }
    let [_, p] = bed.sides();
    assert_eq!(fs::read(p.join("noimplied/real/file")).unwrap(), b"NEW\n");
    assert!(!p.join("implied/path").is_symlink());

    // Links that lead out of the destination: refused (exit 23), nothing written outside.
    let shared_outside = bed.root.join("outside");
    fs::create_dir_all(&shared_outside).unwrap();
    let absolute = shared_outside.to_str().unwrap().to_string();
    for (dest, target) in [("out-abs", absolute.as_str()), ("out-up", "../outside")] {
        bed.on_dests("", |side| {
            fs::create_dir_all(side.join(dest)).unwrap();
            fs::create_dir_all(side.join("outside")).unwrap();
            symlink(target, side.join(dest).join("path")).unwrap();
        });
        let dest_arg = format!("{dest}/");
        let args: [&[u8]; 4] = [
            b"-aiR",
            b"--no-implied-dirs",
            b"{src}/./path/file",
            dest_arg.as_bytes(),
        ];
        bed.same_with(&args, dest, false);
        let (_, p) = bed.both(&args);
        assert_eq!(p.code, 23, "{}", String::from_utf8_lossy(&p.stderr));
        for outside in [
            &shared_outside,
            &bed.sides()[0].join("outside"),
            &bed.sides()[1].join("outside"),
        ] {
            assert_eq!(
                fs::read_dir(outside).unwrap().count(),
                0,
                "{}",
                outside.display()
            );
        }
    }
}

/// A source folder listed as a folder and swapped for a symlink to elsewhere before its files
/// are read (rsync's symlink-race-source, whose flipping thread this swap stands in for) is
/// not read through: the file is resolved again beneath the source folder the listing walked
/// down from, where that link leads out, and the send fails (exit 23 in a run) rather than
/// copy what is outside. A link that stays inside the source is followed, and
/// `--insecure-links` opens the path as it is, as rsync 3.5.0 does.
#[test]
fn a_source_folder_swapped_for_a_link_after_listing_is_not_read_through() {
    use prsync::sender::{ListOptions, LocalSender, Sender};
    use prtools_sync::filter::FilterList;

    let dir = common::scratch("races-source-swap");
    let src = dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::create_dir_all(dir.join("outside")).unwrap();
    fs::write(src.join("sub/loot"), b"in-tree\n").unwrap();
    fs::write(dir.join("outside/loot"), b"SECRET\n").unwrap();
    let source = format!("{}/", src.display());
    let list = |insecure_links| {
        let opts = ListOptions {
            recursive: true,
            links: true,
            insecure_links,
            ..ListOptions::default()
        };
        LocalSender::list(&[source.clone().into()], &opts, &FilterList::new())
    };
    let mut confined = list(false);
    let mut insecure = list(true);
    let loot = confined
        .file_list()
        .iter()
        .position(|e| e.name == b"sub/loot")
        .unwrap();

    // Listed as a folder; now a link out of the tree.
    fs::rename(src.join("sub"), src.join("real")).unwrap();
    symlink("../outside", src.join("sub")).unwrap();
    let mut out = Vec::new();
    let err = confined.send(loot, None, &mut out).unwrap_err();
    assert!(
        err.to_string()
            .contains("Too many levels of symbolic links"),
        "{err}"
    );
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    insecure.send(loot, None, &mut out).unwrap();
    assert_eq!(out, b"SECRET\n");

    // A link that stays inside the source is followed.
    fs::remove_file(src.join("sub")).unwrap();
    symlink("real", src.join("sub")).unwrap();
    out.clear();
    confined.send(loot, None, &mut out).unwrap();
    assert_eq!(out, b"in-tree\n");
}

/// A `--copy-dest` folder whose subfolder is another user's symlink to elsewhere (rsync's
/// copy-dest-symlink-readleak flips one in after the look; planted before the run, the look
/// itself meets it): the file there, an exact match, is neither copied nor used, and the
/// file is sent, as rsync 3.5.0 refuses the link. So with `--link-dest` (nothing from
/// elsewhere is linked in) and `--compare-dest`. A link of root's own is followed.
#[test]
fn alt_dest_refuses_another_users_link_below_the_folder() {
    let bed = Bed::new("races-alt-dest-foreign");
    let base = &bed.root;
    fs::create_dir_all(bed.src().join("sub")).unwrap();
    fs::create_dir_all(base.join("cdroot")).unwrap();
    fs::create_dir_all(base.join("outside")).unwrap();
    for (path, data) in [
        (bed.src().join("sub/f0"), &b"SRC\n"[..]),
        (bed.src().join("sub/f1"), b"ONE\n"),
        (base.join("outside/f0"), b"SRC\n"),
    ] {
        fs::write(&path, data).unwrap();
        set_mtime(&path, 1_000_000_000, 0);
    }
    set_mtime(&bed.src().join("sub"), 1_000_000_000, 0);
    set_mtime(&bed.src(), 1_000_000_000, 0);
    let link = base.join("cdroot/sub");
    for option in ["--copy-dest", "--link-dest", "--compare-dest"] {
        let alt = format!("{option}={}", base.join("cdroot").display());
        let args: [&[u8]; 4] = [b"-ai", alt.as_bytes(), b"{src}/", b"dst/"];
        let fresh = || bed.on_dests("", |side| drop(fs::remove_dir_all(side.join("dst"))));

        let _ = fs::remove_file(&link);
        plant_foreign_link(&base.join("outside"), &link);
        fresh();
        let (_, got) = bed.both(&args);
        assert!(
            String::from_utf8_lossy(&got.stderr).contains("untrusted user"),
            "{option}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        fresh();
        let lines = bed.same(&args, "dst");
        assert!(
            lines.contains(&b">f+++++++++ sub/f0".to_vec()),
            "{option}: {lines:?}"
        );
        let [_, p] = bed.sides();
        assert_eq!(fs::read(p.join("dst/sub/f0")).unwrap(), b"SRC\n");

        // Root's own link: followed, and f0 is settled from there without a line.
        fs::remove_file(&link).unwrap();
        symlink(base.join("outside"), &link).unwrap();
        fresh();
        let lines = bed.same(&args, "dst");
        assert!(
            !lines.contains(&b">f+++++++++ sub/f0".to_vec()),
            "{option}: {lines:?}"
        );
    }
}

/// `--backup-dir` whose `sub` folder is another user's symlink to elsewhere (rsync's
/// backup-dir-symlink-race flips one in during the run; planted before it, the backup meets
/// it all the same): the backups are not written through it. As rsync 3.5.0, the link is
/// replaced by a real folder (with the mode of the destination's, here 0777 from --chmod)
/// and the backups land there; nothing outside changes.
#[test]
fn backup_dir_is_not_written_through_another_users_link() {
    let bed = Bed::new("races-backup-dir-foreign");
    fs::create_dir_all(bed.src().join("sub")).unwrap();
    for i in 0..3 {
        fs::write(bed.src().join(format!("sub/f{i}")), b"payload\n").unwrap();
    }
    let outside = bed.root.join("outside");
    bed.on_dests("", |side| {
        fs::create_dir_all(side.join("dst/sub")).unwrap();
        fs::create_dir_all(side.join("backup")).unwrap();
        for i in 0..3 {
            fs::write(side.join(format!("dst/sub/f{i}")), b"different\n").unwrap();
        }
        let _ = fs::create_dir(&outside);
        let _ = fs::remove_file(side.join("backup/sub"));
        plant_foreign_link(&outside, &side.join("backup/sub"));
    });
    for i in 0..3 {
        let sentinel = outside.join(format!("f{i}"));
        fs::write(&sentinel, b"do-not-touch\n").unwrap();
        fs::set_permissions(&sentinel, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let args: [&[u8]; 7] = [
        b"-a",
        b"-bi",
        b"--chmod=777",
        b"--backup-dir=../backup",
        b"--omit-dir-times",
        b"{src}/",
        b"dst/",
    ];
    bed.same_with(&args, "", false);
    let [_, p] = bed.sides();
    assert!(!p.join("backup/sub").is_symlink());
    assert_eq!(fs::read(p.join("backup/sub/f0")).unwrap(), b"different\n");
    for i in 0..3 {
        let sentinel = outside.join(format!("f{i}"));
        assert_eq!(fs::read(&sentinel).unwrap(), b"do-not-touch\n");
        let mode = fs::metadata(&sentinel).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// The listing opens each folder below the source from the folder above it, by descriptor
/// and without following a symlink, never by its path: so a folder swapped for a link out of
/// the tree after the folder above was read (rsync's sender-scan-dir-escape, which races a
/// flipper for it) is refused, not listed. Seen in the system calls (strace), which a race
/// would only show now and then.
#[test]
fn the_listing_opens_each_folder_from_the_one_above_without_following_links() {
    let dir = common::scratch("races-listing-by-descriptor");
    let src = dir.join("src");
    for sub in ["d0/d1/d2", "d3"] {
        fs::create_dir_all(src.join(sub)).unwrap();
        fs::write(src.join(sub).join("f"), b"x").unwrap();
    }
    let out = std::process::Command::new("strace")
        .args(["-f", "-e", "trace=openat,open", "-o"])
        .arg(dir.join("trace"))
        .arg(common::prsync_bin())
        .args(["-a", "src/", "dst/"])
        .current_dir(&dir)
        .output()
        .expect("strace runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = fs::read_to_string(dir.join("trace")).unwrap();
    let folder_opens = |name: &str| {
        trace
            .lines()
            .filter(|l| l.contains("O_DIRECTORY") && !l.contains("O_PATH"))
            .filter(|l| l.contains(&format!("\"{name}\"")) || l.contains(&format!("/{name}\"")))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for name in ["d0", "d1", "d2", "d3"] {
        let opens = folder_opens(name);
        assert!(
            !opens.is_empty()
                && opens.iter().all(|l| !l.contains("AT_FDCWD")
                    && l.contains("O_NOFOLLOW")
                    && l.contains(&format!(", \"{name}\","))),
            "{name} should be opened from its parent's descriptor with O_NOFOLLOW:\n{}",
            opens.join("\n")
        );
    }
    assert_eq!(fs::read(dir.join("dst/d0/d1/d2/f")).unwrap(), b"x");
}
