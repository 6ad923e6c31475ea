//! Scanning source operands: entries, order, attributes and errors.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use common::{set_mtime, Scratch};
use prtools_sync::{scan, scan_as, scan_with, Entry, Kind, Mtime, RelPath, ScanError, ScanOptions};

const T1: Mtime = Mtime {
    secs: 1_600_000_000,
    nanos: 123_456_789,
};
const T2: Mtime = Mtime {
    secs: 1_500_000_001,
    nanos: 1,
};
const T3: Mtime = Mtime {
    secs: 1_400_000_002,
    nanos: 999_999_999,
};

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn rel(bytes: &[u8]) -> RelPath {
    RelPath::new(bytes).unwrap()
}

fn file(path: &[u8], size: u64, mode: u32, mtime: Mtime) -> Entry {
    Entry {
        path: rel(path),
        kind: Kind::File { size },
        mode,
        mtime,
    }
}

fn dir(path: &[u8], mode: u32, mtime: Mtime) -> Entry {
    Entry {
        path: rel(path),
        kind: Kind::Dir,
        mode,
        mtime,
    }
}

fn link(path: &[u8], target: &[u8], mtime: Mtime) -> Entry {
    Entry {
        path: rel(path),
        kind: Kind::Symlink {
            target: target.to_vec(),
        },
        mode: 0o777,
        mtime,
    }
}

/// Builds `tree/` with files, an empty dir, relative and dangling links, odd names and a
/// fifo, every mode and mtime set.
fn build_tree(s: &Scratch) -> std::path::PathBuf {
    let tree = s.join("tree");
    fs::create_dir_all(tree.join("empty")).unwrap();
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("a.txt"), "hello").unwrap();
    fs::write(tree.join("sub/d"), "0123456789").unwrap();
    symlink("../a.txt", tree.join("sub/link")).unwrap();
    symlink("nowhere/at/all", tree.join("sub/dangling")).unwrap();
    let odd = tree.join(OsStr::from_bytes(b"\xff\xfe bin"));
    fs::write(&odd, "").unwrap();
    let spaced = tree.join("with space\nnewline");
    fs::write(&spaced, "xyz").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();

    chmod(&tree.join("a.txt"), 0o4751);
    chmod(&tree.join("sub/d"), 0o600);
    chmod(&odd, 0o644);
    chmod(&spaced, 0o444);
    chmod(&tree.join("empty"), 0o1777);
    chmod(&tree.join("sub"), 0o750);
    chmod(&tree, 0o755);
    for p in [&tree.join("a.txt"), &odd, &spaced, &tree.join("sub/link")] {
        set_mtime(p, T1);
    }
    set_mtime(&tree.join("sub/d"), T2);
    set_mtime(&tree.join("sub/dangling"), T3);
    set_mtime(&tree.join("empty"), T2);
    set_mtime(&tree.join("sub"), T3);
    set_mtime(&tree, T1);
    tree
}

#[test]
fn a_tree_gives_every_entry_parents_first_sorted_by_name() {
    let s = Scratch::new("scan-tree");
    let tree = build_tree(&s);
    let got = scan(&tree, true).unwrap();
    let want = vec![
        dir(b"tree", 0o755, T1),
        file(b"tree/a.txt", 5, 0o4751, T1),
        dir(b"tree/empty", 0o1777, T2),
        dir(b"tree/sub", 0o750, T3),
        file(b"tree/sub/d", 10, 0o600, T2),
        link(b"tree/sub/dangling", b"nowhere/at/all", T3),
        link(b"tree/sub/link", b"../a.txt", T1),
        file(b"tree/with space\nnewline", 3, 0o444, T1),
        file(b"tree/\xff\xfe bin", 0, 0o644, T1),
    ];
    assert_eq!(got, want);
}

#[test]
fn special_files_are_skipped_and_reported() {
    let s = Scratch::new("scan-special");
    let tree = build_tree(&s);
    let opts = ScanOptions {
        recursive: true,
        ..ScanOptions::default()
    };
    let scanned = scan_with(&tree, &opts).unwrap();
    assert_eq!(scanned.skipped, [tree.join("fifo")]);
    let err = scan(&tree.join("fifo"), false).unwrap_err();
    assert!(matches!(err, ScanError::Special { .. }), "{err}");
}

#[test]
fn a_trailing_slash_or_dot_keeps_the_name() {
    let s = Scratch::new("scan-names");
    let tree = build_tree(&s);
    let names = |src: &Path| -> Vec<Vec<u8>> {
        scan(src, true)
            .unwrap()
            .into_iter()
            .map(|e| e.path.as_bytes().to_vec())
            .collect()
    };
    let plain = names(&tree);
    let mut slashed = tree.clone().into_os_string();
    slashed.push("/");
    assert_eq!(names(Path::new(&slashed)), plain);
    assert_eq!(names(&tree.join(".")), plain);
    assert_eq!(names(&tree.join("sub/..")), plain);
}

#[test]
fn a_file_is_one_entry_named_by_its_file_name() {
    let s = Scratch::new("scan-file");
    let tree = build_tree(&s);
    assert_eq!(
        scan(&tree.join("sub/d"), false).unwrap(),
        [file(b"d", 10, 0o600, T2)]
    );
    // -r changes nothing for a file.
    assert_eq!(
        scan(&tree.join("sub/d"), true).unwrap(),
        [file(b"d", 10, 0o600, T2)]
    );
}

#[test]
fn scan_as_renames_the_top() {
    let s = Scratch::new("scan-as");
    let tree = build_tree(&s);
    let got = scan_as(&tree.join("sub"), true, rel(b"x/y")).unwrap();
    let paths: Vec<&[u8]> = got.iter().map(|e| e.path.as_bytes()).collect();
    assert_eq!(paths, [&b"x/y"[..], b"x/y/d", b"x/y/dangling", b"x/y/link"]);
    let one = scan_as(&tree.join("a.txt"), false, rel(b"renamed")).unwrap();
    assert_eq!(one, [file(b"renamed", 5, 0o4751, T1)]);
}

#[test]
fn a_top_symlink_is_a_link_unless_follow_top() {
    let s = Scratch::new("scan-follow-top");
    let tree = build_tree(&s);
    let top = s.join("top");
    symlink(&tree, &top).unwrap();
    set_mtime(&top, T3);
    assert_eq!(
        scan(&top, true).unwrap(),
        [link(b"top", tree.as_os_str().as_bytes(), T3)]
    );
    let opts = ScanOptions {
        recursive: true,
        follow_top: true,
        ..ScanOptions::default()
    };
    let followed = scan_with(&top, &opts).unwrap().entries;
    assert_eq!(followed[0], dir(b"top", 0o755, T1));
    assert_eq!(followed[1], file(b"top/a.txt", 5, 0o4751, T1));
    assert_eq!(followed.len(), 9);
    // Links below the top stay links even then.
    assert!(followed.contains(&link(b"top/sub/link", b"../a.txt", T1)));
}

#[test]
fn follow_links_copies_what_links_point_to_and_stops_at_a_loop() {
    let s = Scratch::new("scan-follow-links");
    let src = s.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/b"), "bee").unwrap();
    fs::write(s.join("outside"), "out").unwrap();
    symlink(s.join("outside"), src.join("abs")).unwrap();
    symlink("sub", src.join("dirlink")).unwrap();
    let opts = ScanOptions {
        recursive: true,
        follow_links: true,
        ..ScanOptions::default()
    };
    let names = |entries: &[Entry]| -> Vec<(String, bool)> {
        entries
            .iter()
            .map(|e| {
                let name = String::from_utf8_lossy(e.path.as_bytes()).into_owned();
                (name, matches!(e.kind, Kind::File { .. }))
            })
            .collect()
    };
    let entries = scan_with(&src, &opts).unwrap().entries;
    let files = |list: &[(String, bool)]| -> Vec<String> {
        list.iter()
            .filter(|(_, f)| *f)
            .map(|(n, _)| n.clone())
            .collect()
    };
    // The links are gone: the absolute one is the file it names, the one to a folder is a
    // folder with that folder's files.
    assert_eq!(
        files(&names(&entries)),
        ["src/abs", "src/dirlink/b", "src/sub/b"]
    );
    assert!(entries
        .iter()
        .all(|e| !matches!(e.kind, Kind::Symlink { .. })));

    // A link back up the tree ends the scan with an error naming it, not a hang.
    symlink("..", src.join("sub/up")).unwrap();
    let err = scan_with(&src, &opts).unwrap_err();
    assert!(matches!(err, ScanError::Loop { .. }), "{err}");
    assert!(err.to_string().contains("symlink loop"), "{err}");

    // A dangling link has nothing to copy.
    fs::remove_file(src.join("sub/up")).unwrap();
    symlink("nowhere", src.join("dangling")).unwrap();
    let err = scan_with(&src, &opts).unwrap_err();
    assert!(err.to_string().contains("dangling"), "{err}");
}

#[test]
fn a_directory_without_recursive_is_an_error() {
    let s = Scratch::new("scan-no-r");
    let src = s.join("src");
    fs::create_dir(&src).unwrap();
    let err = scan(&src, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("'{}' is a directory; add -r to copy it", src.display())
    );
    assert!(matches!(err, ScanError::IsDirectory { .. }));
}

#[test]
fn a_missing_source_is_an_error_with_the_os_reason() {
    let s = Scratch::new("scan-missing");
    let x = s.join("x");
    let err = scan(&x, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read '{}': No such file or directory (os error 2)",
            x.display()
        )
    );
    assert_eq!(err.path(), x);
    match err {
        ScanError::Read { source, .. } => assert_eq!(source.raw_os_error(), Some(2)),
        other => panic!("wrong error {other:?}"),
    }
}

#[test]
fn the_root_directory_has_no_name() {
    let err = scan(Path::new("/"), true).unwrap_err();
    assert!(matches!(err, ScanError::NoName { .. }), "{err}");
    assert!(err.to_string().starts_with("'/' has no name"), "{err}");
}
