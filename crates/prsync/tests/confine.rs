//! The destination is a boundary: symlinks planted in it (`dest/sub -> /elsewhere`) are
//! replaced or deleted as rsync does, never written, read, listed or deleted through; and a
//! sender whose file list names paths outside the destination, or leads through such links,
//! changes nothing outside it.
//!
//! The first tests run rsync and prsync side by side (each side with its own `outside/`
//! folder beside `dest/`); the others drive the receiver with a hostile sender of their own.

mod common;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use common::{scratch, set_mtime, Bed};
use prsync::cli::{parse, Parsed};
use prsync::flist::{FileEntry, FileKind};
use prsync::receiver::{Dest, Receiver};
use prsync::sender::{Sender, Sent};
use prtools_delta::Signature;
use prtools_sync::Mtime;

/// Makes `outside/` beside each side's `dest/`, holding `keep` and `dir/inner`.
fn outsides(bed: &Bed) {
    bed.on_dests("outside", |o| {
        fs::create_dir_all(o.join("dir")).unwrap();
        fs::write(o.join("keep"), b"keep").unwrap();
        fs::write(o.join("dir/inner"), b"inner").unwrap();
    });
}

/// Asserts that each side's `outside/` is as [`outsides`] made it.
fn outsides_untouched(bed: &Bed, what: &str) {
    for side in bed.sides() {
        let o = side.join("outside");
        let names = common::describe(&o);
        let shown: Vec<String> = names
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            shown,
            ["", "dir", "dir/inner", "keep"],
            "{what}: {}",
            o.display()
        );
        assert_eq!(fs::read(o.join("keep")).unwrap(), b"keep", "{what}");
        assert_eq!(fs::read(o.join("dir/inner")).unwrap(), b"inner", "{what}");
        assert_eq!(fs::metadata(o.join("keep")).unwrap().nlink(), 1, "{what}");
    }
}

/// Plants in each side's `dest/`: `name -> <that side's outside>/target`, as a relative
/// link, so that both sides hold the same bytes where one survives (a dry run).
fn plant(bed: &Bed, name: &str, target: &str) {
    let up = "../".repeat(name.split('/').count());
    bed.on_dests("dest", |d| {
        let link = d.join(name);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink(format!("{up}outside/{target}"), &link).unwrap();
        assert!(link.exists(), "{} points to something", link.display());
    });
}

/// Whether both tools leave the same times: with `-a`, and not in a dry run (which leaves
/// the planted links with the times they were made at, one side after the other).
fn sets_times(args: &[&[u8]]) -> bool {
    args.iter()
        .any(|a| a.starts_with(b"-a") && !a.contains(&b'n'))
}

fn src_tree(bed: &Bed) {
    let src = bed.src();
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    fs::create_dir_all(src.join("a/b/c")).unwrap();
    fs::write(src.join("sub/file"), b"new file").unwrap();
    fs::write(src.join("sub/deeper/g"), b"g").unwrap();
    fs::write(src.join("a/b/c/file"), b"abc").unwrap();
    fs::write(src.join("keep"), b"not the outside one").unwrap();
    for p in [
        "sub/file",
        "sub/deeper/g",
        "sub/deeper",
        "sub",
        "a/b/c/file",
        "a/b/c",
        "a/b",
        "a",
        "keep",
        "",
    ] {
        set_mtime(&src.join(p), 1_500_000_000, 0);
    }
}

#[test]
fn a_planted_folder_link_is_replaced_by_the_senders_folder() {
    for args in [
        &[&b"-ai"[..], b"{src}/", b"dest/"][..],
        &[b"-ai", b"--delete", b"{src}/", b"dest/"],
        &[b"-ai", b"--delete-after", b"{src}/", b"dest/"],
        &[b"-ai", b"--delete-before", b"{src}/", b"dest/"],
        &[b"-ai", b"--no-W", b"-c", b"{src}/", b"dest/"],
        &[b"-ai", b"--inplace", b"{src}/", b"dest/"],
    ] {
        let bed = Bed::new("confine-dir-link");
        src_tree(&bed);
        outsides(&bed);
        plant(&bed, "sub", "dir");
        plant(&bed, "a/b", "dir");
        let what = format!("{args:?}");
        let lines = bed.same(args, "dest");
        assert!(
            lines.iter().any(|l| l == b"cd+++++++++ sub/"),
            "{what}: {lines:?}"
        );
        for side in bed.sides() {
            let d = side.join("dest");
            assert!(fs::symlink_metadata(d.join("sub")).unwrap().is_dir());
            assert_eq!(fs::read(d.join("sub/file")).unwrap(), b"new file");
            assert_eq!(fs::read(d.join("a/b/c/file")).unwrap(), b"abc");
        }
        outsides_untouched(&bed, &what);
    }
}

#[test]
fn a_planted_file_link_is_replaced_never_written_through() {
    for args in [
        &[&b"-ai"[..], b"{src}/", b"dest/"][..],
        &[b"-ai", b"--inplace", b"{src}/", b"dest/"],
        &[b"-ai", b"--no-W", b"{src}/", b"dest/"],
        &[b"-ai", b"-c", b"{src}/", b"dest/"],
        &[b"-rlpi", b"{src}/", b"dest/"],
        &[b"-ain", b"{src}/", b"dest/"],
    ] {
        let bed = Bed::new("confine-file-link");
        src_tree(&bed);
        outsides(&bed);
        // Same name, and same size and mtime as the source's file: only lstat tells them
        // apart, and a stat through the link would find "nothing to do".
        plant(&bed, "keep", "keep");
        plant(&bed, "sub/file", "keep");
        let what = format!("{args:?}");
        bed.same_with(args, "dest", sets_times(args));
        outsides_untouched(&bed, &what);
    }
}

#[test]
fn delete_removes_planted_links_never_what_they_point_to() {
    for args in [
        &[&b"-ai"[..], b"--delete", b"{src}/", b"dest/"][..],
        &[b"-ai", b"--delete-before", b"{src}/", b"dest/"],
        &[b"-ai", b"--delete-after", b"{src}/", b"dest/"],
        &[b"-ain", b"--delete", b"{src}/", b"dest/"],
    ] {
        let bed = Bed::new("confine-delete");
        src_tree(&bed);
        outsides(&bed);
        bed.on_dests("dest", |d| {
            fs::create_dir_all(d.join("gone/deeper")).unwrap();
            fs::create_dir_all(d.join("sub")).unwrap();
        });
        plant(&bed, "link-to-dir", "dir");
        plant(&bed, "link-to-file", "keep");
        plant(&bed, "sub/extra-link", "dir");
        plant(&bed, "gone/deeper/link", "dir");
        plant(&bed, "gone/link", "keep");
        let what = format!("{args:?}");
        let lines = bed.same_with(args, "dest", sets_times(args));
        if args.contains(&&b"-ai"[..]) {
            for want in [
                &b"*deleting   link-to-dir"[..],
                b"*deleting   sub/extra-link",
                b"*deleting   gone/deeper/link",
            ] {
                assert!(lines.iter().any(|l| l == want), "{what}: {lines:?}");
            }
        }
        outsides_untouched(&bed, &what);
    }
}

#[test]
fn hard_links_are_never_made_to_or_through_planted_links() {
    let bed = Bed::new("confine-hlinks");
    src_tree(&bed);
    let src = bed.src();
    fs::hard_link(src.join("sub/file"), src.join("sub/deeper/h")).unwrap();
    fs::hard_link(src.join("sub/file"), src.join("h0")).unwrap();
    outsides(&bed);
    plant(&bed, "h0", "keep");
    plant(&bed, "sub", "dir");
    // Without times: both tools link late, into folders whose times they have set already.
    bed.same_with(&[b"-aiH", b"{src}/", b"dest/"], "dest", false);
    outsides_untouched(&bed, "-aiH");
}

// A hostile sender, driving the receiver directly.

/// A sender with a file list of its own making; every file it sends is `planted`.
struct Hostile(Vec<FileEntry>);

impl Sender for Hostile {
    fn file_list(&self) -> &[FileEntry] {
        &self.0
    }

    fn send(&mut self, _: usize, _: Option<&Signature>, out: &mut dyn Write) -> io::Result<Sent> {
        out.write_all(b"planted")?;
        Ok(Sent {
            literal: 7,
            matched: 0,
            wire: 7,
            ..Sent::default()
        })
    }
}

fn entry(name: &str, kind: FileKind) -> FileEntry {
    let mode = match kind {
        FileKind::Dir => 0o040755,
        FileKind::Regular { .. } => 0o100644,
        FileKind::Symlink { .. } => 0o120777,
        FileKind::Device { .. } => 0o020600,
        FileKind::Special => 0o010644,
        FileKind::Missing => 0,
    };
    FileEntry {
        mtime: Mtime {
            secs: 1_500_000_000,
            nanos: 0,
        },
        uid: 1234,
        gid: 1234,
        ..FileEntry::new(name.into(), kind, mode)
    }
}

fn dir(name: &str) -> FileEntry {
    entry(name, FileKind::Dir)
}

fn file(name: &str) -> FileEntry {
    entry(name, FileKind::Regular { size: 7 })
}

/// A scratch folder with `dest/` and `outside/` (holding `secret`, mode 0600), and links
/// planted in `dest/`: `mid -> outside` and `last -> outside/secret`.
fn hostile_bed(name: &str) -> std::path::PathBuf {
    let base = scratch(name);
    fs::create_dir_all(base.join("dest")).unwrap();
    fs::create_dir_all(base.join("outside")).unwrap();
    fs::write(base.join("outside/secret"), b"secret").unwrap();
    symlink(base.join("outside"), base.join("dest/mid")).unwrap();
    symlink(base.join("outside/secret"), base.join("dest/last")).unwrap();
    base
}

fn secret_untouched(base: &Path) {
    let secret = base.join("outside/secret");
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
    let m = fs::metadata(&secret).unwrap();
    let mine = fs::metadata(base).unwrap();
    assert_eq!((m.nlink(), m.uid(), m.gid()), (1, mine.uid(), mine.gid()));
    let mut names: Vec<_> = fs::read_dir(base.join("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["secret"]);
}

/// Runs a receiver into `base/dest` with prsync's `args` against `list`: the error of
/// `Receiver::new` or `run`, else whether an entry failed.
fn receive(base: &Path, args: &[&str], list: Vec<FileEntry>) -> io::Result<bool> {
    let argv = ["prsync"].iter().chain(args).chain(&["src", "dest"]);
    let Parsed::Run(opts) = parse(argv.copied()).unwrap() else {
        panic!("no transfer");
    };
    let mut sender = Hostile(list);
    let dest = Dest {
        dir: base.join("dest"),
        solo_name: None,
        created: false,
    };
    let mut out = Vec::new();
    let mut receiver = Receiver::new(&opts, &mut sender, dest, &mut out)?;
    receiver.run()?;
    Ok(receiver.failed)
}

#[test]
fn a_list_naming_paths_outside_is_refused_whole() {
    let base = hostile_bed("hostile-names");
    for bad in [
        "../escape",
        "/tmp/abs",
        "a//b",
        "a/./b",
        "a/../../b",
        "",
        "sub/",
    ] {
        let list = vec![dir("."), file("fine"), file(bad)];
        let err = receive(&base, &["-a"], list).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("refusing the sender's file list: unsafe path"),
            "{bad}: {err}"
        );
        assert!(!base.join("dest/fine").exists(), "{bad}: nothing is done");
    }
    let err = receive(&base, &["-a"], vec![file(".")]).unwrap_err();
    assert!(err.to_string().contains("only a directory"), "{err}");
    assert!(!base.join("escape").exists());
    secret_untouched(&base);
}

/// Entries that lead through `mid` (planted) and through `own`, a link the list itself makes
/// (to `outside/` too), in an order no honest sender uses.
fn through_links(base: &Path) -> Vec<FileEntry> {
    let member = |name: &str, group| FileEntry {
        hlink: Some(group),
        ..file(name)
    };
    let own = FileKind::Symlink {
        target: base.join("outside").into_os_string().into_encoded_bytes(),
    };
    let link = FileKind::Symlink {
        target: b"x".to_vec(),
    };
    vec![
        dir("."),
        // Data, a new file, a folder, a link, a fifo, all below the planted link.
        file("mid/secret"),
        file("mid/new"),
        dir("mid/dir"),
        entry("mid/link", link),
        entry("mid/fifo", FileKind::Special),
        // A hard-link group whose first member is outside.
        member("mid/secret", 1),
        member("linked", 1),
        // A member met before `own` exists, linked late, once `own` leads outside.
        member("own/late", 2),
        // The list's own link, then entries through it.
        entry("own", own),
        file("own/secret"),
        file("own/new"),
        dir("own/dir"),
        member("z", 2),
    ]
}

#[test]
fn entries_through_planted_links_fail_and_touch_nothing_outside() {
    for args in [
        &["-a"][..],
        &["-aH"],
        &["-a", "--inplace"],
        &["-a", "--no-W", "-c"],
        &["-a", "--delete"],
        &["-an"],
    ] {
        let base = hostile_bed("hostile-through");
        let failed = receive(&base, args, through_links(&base));
        assert!(failed.as_ref().is_ok_and(|&f| f), "{args:?}: {failed:?}");
        secret_untouched(&base);
    }
}

#[test]
fn a_planted_final_link_is_replaced_and_its_target_kept() {
    let base = hostile_bed("hostile-final");
    // A file, with --inplace too: the link goes, a new file takes its name.
    for args in [&["-a"][..], &["-a", "--inplace"], &["-a", "--no-W"]] {
        let _ = fs::remove_file(base.join("dest/last"));
        symlink(base.join("outside/secret"), base.join("dest/last")).unwrap();
        let failed = receive(&base, args, vec![dir("."), file("last")]).unwrap();
        assert!(!failed, "{args:?}");
        assert_eq!(fs::read(base.join("dest/last")).unwrap(), b"planted");
        secret_untouched(&base);
    }
    // The same link as the sender has: only the link's own owner and time may change.
    let _ = fs::remove_file(base.join("dest/last"));
    let target = base
        .join("outside/secret")
        .into_os_string()
        .into_encoded_bytes();
    symlink(base.join("outside/secret"), base.join("dest/last")).unwrap();
    let link = entry("last", FileKind::Symlink { target });
    assert!(!receive(&base, &["-a"], vec![dir("."), link]).unwrap());
    secret_untouched(&base);
}

/// A "missing" entry deletes only with `--delete-missing-args`, and then only what is in
/// DEST: a planted link goes as a link, never what it points to.
#[test]
fn a_missing_entry_deletes_only_when_asked_and_only_below_dest() {
    let base = hostile_bed("hostile-missing");
    fs::write(base.join("dest/kept"), b"k").unwrap();
    let list = || {
        vec![
            dir("."),
            entry("kept", FileKind::Missing),
            entry("last", FileKind::Missing),
            entry("mid", FileKind::Missing),
        ]
    };
    assert!(!receive(&base, &["-a"], list()).unwrap());
    assert!(base.join("dest/kept").exists() && base.join("dest/mid").exists());
    assert!(!receive(&base, &["-a", "--delete-missing-args"], list()).unwrap());
    for gone in ["kept", "last", "mid"] {
        assert!(
            fs::symlink_metadata(base.join("dest").join(gone)).is_err(),
            "{gone}"
        );
    }
    secret_untouched(&base);
}

/// `--confine-root` (rsync 3.5.0): a merge file that a per-folder rule file names is read
/// only if it resolves inside the root. Inside, the copy is rsync's; a link out of the root
/// is not followed, and the run says so and fails; a relative root, or one with
/// `--insecure-links`, is refused in rsync's words.
#[test]
fn confine_root_keeps_merge_files_inside_it() {
    let bed = Bed::new("confine-root");
    let src = bed.src();
    for name in ["plain", "word"] {
        fs::write(src.join(name), b"x\n").unwrap();
    }
    fs::write(src.join("in-list"), b"plain\n").unwrap();
    fs::write(src.join("../outside-list"), b"word\n").unwrap();
    symlink("../outside-list", src.join("out-link")).unwrap();
    set_mtime(&src, 1_600_000_000, 0);
    let root = format!("--confine-root={}", src.display());
    let args: [&[u8]; 5] = [
        b"-r",
        root.as_bytes(),
        b"--filter=:s .rsync-filter",
        b"{src}/",
        b"d/",
    ];
    fs::write(src.join(".rsync-filter"), b"merge,- in-list\n").unwrap();
    // Without -t each side keeps its own times.
    bed.same_with(&args, "d", false);
    let [_, p] = bed.sides();
    assert!(!p.join("d/plain").exists());
    assert!(p.join("d/word").exists());

    fs::write(src.join(".rsync-filter"), b"merge,- out-link\n").unwrap();
    let (r, p) = bed.both(&[
        b"-r",
        root.as_bytes(),
        b"--filter=:s .rsync-filter",
        b"{src}/",
        b"e/",
    ]);
    assert_ne!(r.code, 0);
    assert_ne!(p.code, 0);
    let said = String::from_utf8_lossy(&p.stderr);
    assert!(said.contains("resolves outside --confine-root"), "{said}");

    for (args, words) in [
        (
            &[b"-r" as &[u8], b"--confine-root=rel", b"{src}/", b"f/"][..],
            "--confine-root must be an absolute path",
        ),
        (
            &[
                b"-r" as &[u8],
                b"--insecure-links",
                root.as_bytes(),
                b"{src}/",
                b"f/",
            ][..],
            "--insecure-links cannot be combined with --confine-root",
        ),
    ] {
        let (r, p) = bed.both(args);
        assert_eq!((r.code, p.code), (1, 1));
        let said = String::from_utf8_lossy(&p.stderr);
        assert!(said.starts_with(&format!("prsync: {words}")), "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
}

/// A per-folder rule file whose rules cannot be taken stops the run before anything is
/// sent or deleted, with rsync's status: 11 for a merge file it names that cannot be read,
/// 1 for a rule rsync does not know. Before, prsync said so and went on without those
/// rules, sending what they would have left out.
#[test]
fn a_rule_file_that_cannot_be_taken_stops_the_run() {
    let bed = Bed::new("bad-rule-file");
    let src = bed.src();
    fs::write(src.join("secret"), b"x\n").unwrap();
    set_mtime(&src, 1_600_000_000, 0);
    for (rules, code) in [(&b"merge,- not-there\n"[..], 11), (&b"bogus rule\n"[..], 1)] {
        fs::write(src.join(".rsync-filter"), rules).unwrap();
        bed.on_dests("d", |d| {
            let _ = fs::remove_dir_all(d);
            fs::create_dir(d).unwrap();
            fs::write(d.join("keep"), b"keep\n").unwrap();
        });
        let args: [&[u8]; 5] = [
            b"-r",
            b"--delete",
            b"--filter=:s .rsync-filter",
            b"{src}/",
            b"d/",
        ];
        let (r, p) = bed.both(&args);
        assert_eq!((r.code, p.code), (code, code));
        for side in bed.sides() {
            assert!(side.join("d/keep").exists());
            assert!(!side.join("d/secret").exists());
        }
    }
}
