//! The confined destination: writes stay inside, replace atomically, and set attributes.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use common::{mtime_of, set_mtime, Scratch};
use prtools_sync::{hash_reader, raw_os_error, Kind, Meta, Mtime, RelPath, Root};

const T1: Mtime = Mtime {
    secs: 1_600_000_000,
    nanos: 123_456_789,
};
const T2: Mtime = Mtime {
    secs: 1_234_567_890,
    nanos: 42,
};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// A scratch folder with `root/` (the destination) and `outside/` beside it.
fn setup(name: &str) -> (Scratch, Root) {
    let s = Scratch::new(name);
    fs::create_dir(s.join("root")).unwrap();
    fs::create_dir(s.join("outside")).unwrap();
    let root = Root::open(&s.join("root")).unwrap();
    (s, root)
}

fn write(root: &Root, path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = root.create_file(&rel(path))?;
    f.write_all(bytes)?;
    f.commit(0o644, None, false)
}

#[test]
fn a_symlinked_folder_inside_the_root_never_leads_outside() {
    let (s, root) = setup("root-escape");
    symlink(s.join("outside"), s.join("root/a")).unwrap();

    let err = write(&root, "a/b/file", b"x").unwrap_err();
    let shown = s.join("root/a");
    assert!(
        err.to_string()
            .starts_with(&format!("{}: is a symbolic link", shown.display())),
        "{err}"
    );
    assert!(write(&root, "a/file", b"x").is_err());
    assert!(root.create_dir_all(&rel("a/b")).is_err());
    assert!(root.create_dir(&rel("a/b"), 0o755).is_err());
    assert!(root.symlink(&rel("a/l"), b"/etc/passwd").is_err());
    assert!(root.stat(&rel("a/file")).is_err());
    assert!(root.open_file(&rel("a/file")).is_err());
    assert!(root.set_mtime(&rel("a/x"), T1).is_err());
    assert!(s.names("outside").is_empty(), "{:?}", s.names("outside"));
    // The link itself is still there, untouched.
    assert_eq!(fs::read_link(s.join("root/a")).unwrap(), s.join("outside"));
}

#[test]
fn a_final_symlink_is_replaced_never_written_through() {
    let (s, root) = setup("root-final-link");
    let target = s.join("outside/target");
    fs::write(&target, "precious").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    symlink(&target, s.join("root/f")).unwrap();
    symlink(&target, s.join("root/g")).unwrap();
    let before = mtime_of(&target);

    assert!(root.open_file(&rel("f")).is_err());
    root.set_mode(&rel("f"), 0o777).unwrap(); // a no-op for a link
    root.set_mtime(&rel("f"), T1).unwrap(); // the link's own time
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
    assert_eq!(mtime_of(&target), before);

    write(&root, "f", b"new").unwrap();
    assert_eq!(fs::read(s.join("root/f")).unwrap(), b"new");
    assert!(fs::symlink_metadata(s.join("root/f")).unwrap().is_file());
    root.remove(&rel("g")).unwrap();
    assert!(fs::symlink_metadata(s.join("root/g")).is_err());
    assert_eq!(fs::read(&target).unwrap(), b"precious");
    assert_eq!(s.names("outside"), ["target"]);
}

#[test]
fn stat_does_not_follow_a_final_symlink() {
    let (s, root) = setup("root-stat");
    fs::create_dir(s.join("root/d")).unwrap();
    symlink("d", s.join("root/l")).unwrap();
    set_mtime(&s.join("root/l"), T2);
    fs::write(s.join("root/f"), "12345").unwrap();
    fs::set_permissions(s.join("root/f"), fs::Permissions::from_mode(0o2640)).unwrap();
    set_mtime(&s.join("root/f"), T1);

    let l = root.stat(&rel("l")).unwrap().unwrap();
    assert_eq!(
        l.kind,
        Kind::Symlink {
            target: b"d".to_vec()
        }
    );
    assert_eq!(l.mtime, T2);
    assert_eq!(
        root.stat(&rel("f")).unwrap().unwrap(),
        Meta {
            kind: Kind::File { size: 5 },
            mode: 0o2640,
            mtime: T1,
            special: false
        }
    );
    assert_eq!(root.stat(&rel("d")).unwrap().unwrap().kind, Kind::Dir);
    assert_eq!(root.stat(&rel("nothing")).unwrap(), None);
    assert_eq!(root.stat(&rel("nothing/below")).unwrap(), None);
    assert_eq!(root.stat(&rel("f/below")).unwrap(), None);
    // Through the link is not inside the root as far as the walk goes.
    assert!(root.stat(&rel("l/x")).is_err());
}

#[test]
fn a_dropped_file_leaves_the_old_content_and_no_temp_file() {
    let (s, root) = setup("root-drop");
    fs::write(s.join("root/f"), "old").unwrap();
    {
        let mut f = root.create_file(&rel("f")).unwrap();
        f.write_all(b"half of the new").unwrap();
        assert_eq!(s.names("root").len(), 2, "the temp file sits beside it");
        let temp = s.names("root").into_iter().find(|n| n != "f").unwrap();
        assert!(temp.starts_with(".f.prtools-"), "{temp}");
        assert!(prtools_sync::is_temp_name(temp.as_bytes()));
        let mode = fs::metadata(s.join("root").join(&temp)).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(s.names("root"), ["f"]);
    assert_eq!(fs::read(s.join("root/f")).unwrap(), b"old");
    {
        let _f = root.create_file(&rel("new")).unwrap();
    }
    assert_eq!(s.names("root"), ["f"]);
}

#[test]
fn commit_replaces_atomically_and_sets_mode_and_mtime() {
    let (s, root) = setup("root-commit");
    fs::create_dir(s.join("root/dir")).unwrap();
    let path = s.join("root/dir/f");
    fs::write(&path, "old").unwrap();
    let mut reader = fs::File::open(&path).unwrap();

    let mut f = root.create_file(&rel("dir/f")).unwrap();
    f.write_all(b"new contents").unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        b"old",
        "nothing shows before commit"
    );
    f.commit(0o4750, Some(T1), true).unwrap();

    assert_eq!(fs::read(&path).unwrap(), b"new contents");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o4750);
    assert_eq!(mtime_of(&path), T1);
    assert_eq!(s.names("root/dir"), ["f"]);
    // A reader of the old file keeps the old bytes: it was replaced, not rewritten.
    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, "old");
    assert_eq!(
        root.stat(&rel("dir/f")).unwrap().unwrap(),
        Meta {
            kind: Kind::File { size: 12 },
            mode: 0o4750,
            mtime: T1,
            special: false
        }
    );
}

#[test]
fn commit_over_a_directory_names_it_and_cleans_up() {
    let (s, root) = setup("root-commit-dir");
    fs::create_dir(s.join("root/d")).unwrap();
    let err = write(&root, "d", b"x").unwrap_err();
    let want = format!("{}: is a directory", s.join("root/d").display());
    assert!(err.to_string().starts_with(&want), "{err}");
    assert_eq!(s.names("root"), ["d"]);
}

#[test]
fn symlink_replaces_a_file_atomically() {
    let (s, root) = setup("root-symlink");
    fs::write(s.join("root/x"), "file").unwrap();
    root.symlink(&rel("x"), b"../somewhere\xff").unwrap();
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(
        fs::read_link(s.join("root/x"))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        b"../somewhere\xff"
    );
    root.symlink(&rel("x"), b"again").unwrap();
    assert_eq!(
        fs::read_link(s.join("root/x")).unwrap().to_str(),
        Some("again")
    );
    assert_eq!(s.names("root"), ["x"]);
    fs::create_dir(s.join("root/d")).unwrap();
    assert!(root.symlink(&rel("d"), b"t").is_err());
    assert_eq!(s.names("root"), ["d", "x"]);
}

#[test]
fn set_mtime_on_a_symlink_changes_the_link_not_the_target() {
    let (s, root) = setup("root-link-mtime");
    fs::write(s.join("root/target"), "t").unwrap();
    set_mtime(&s.join("root/target"), T2);
    root.symlink(&rel("l"), b"target").unwrap();
    root.set_mtime(&rel("l"), T1).unwrap();
    assert_eq!(mtime_of(&s.join("root/l")), T1);
    assert_eq!(mtime_of(&s.join("root/target")), T2);
    root.set_mtime(&rel("target"), T1).unwrap();
    assert_eq!(mtime_of(&s.join("root/target")), T1);
}

#[test]
fn set_mode_sets_every_permission_bit() {
    let (s, root) = setup("root-mode");
    fs::write(s.join("root/f"), "").unwrap();
    fs::create_dir(s.join("root/d")).unwrap();
    root.set_mode(&rel("f"), 0o6711).unwrap();
    root.set_mode(&rel("d"), 0o1750).unwrap();
    assert_eq!(
        fs::metadata(s.join("root/f")).unwrap().mode() & 0o7777,
        0o6711
    );
    assert_eq!(
        fs::metadata(s.join("root/d")).unwrap().mode() & 0o7777,
        0o1750
    );
    // Even a file nobody may read (as root the open would pass anyway; the path must not
    // need it).
    root.set_mode(&rel("f"), 0o000).unwrap();
    root.set_mode(&rel("f"), 0o640).unwrap();
    assert_eq!(
        fs::metadata(s.join("root/f")).unwrap().mode() & 0o7777,
        0o640
    );
}

#[test]
fn directories_are_made_kept_or_refused() {
    let (s, root) = setup("root-dirs");
    root.create_dir_all(&rel("a/b/c")).unwrap();
    assert!(s.join("root/a/b/c").is_dir());
    root.create_dir(&rel("a/b/c"), 0o700).unwrap(); // existing: fine
    root.create_dir(&rel("a/new"), 0o700).unwrap();
    assert_eq!(
        fs::metadata(s.join("root/a/new")).unwrap().mode() & 0o777,
        0o700
    );

    fs::write(s.join("root/a/file"), "x").unwrap();
    let err = root.create_dir(&rel("a/file"), 0o755).unwrap_err();
    let want = format!(
        "{}: exists and is not a directory",
        s.join("root/a/file").display()
    );
    assert!(err.to_string().starts_with(&want), "{err}");
    root.create_dir_replacing(&rel("a/file"), 0o755).unwrap();
    assert!(s.join("root/a/file").is_dir());

    let err = root.create_dir(&rel("missing/x"), 0o755).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: No such file or directory (os error 2)",
            s.join("root/missing").display()
        )
    );
    assert_eq!(raw_os_error(&err), Some(2));
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn remove_takes_files_links_and_empty_dirs() {
    let (s, root) = setup("root-remove");
    fs::create_dir_all(s.join("root/full/x")).unwrap();
    fs::create_dir(s.join("root/empty")).unwrap();
    fs::write(s.join("root/f"), "").unwrap();
    symlink("full", s.join("root/l")).unwrap();
    root.remove(&rel("f")).unwrap();
    root.remove(&rel("l")).unwrap();
    root.remove(&rel("empty")).unwrap();
    assert!(root.remove(&rel("full")).is_err());
    assert!(root.remove(&rel("nothing")).is_err());
    assert_eq!(s.names("root"), ["full"]);
    assert_eq!(s.names("root/full"), ["x"]);
}

#[test]
fn open_file_reads_regular_files_only() {
    let (s, root) = setup("root-open");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(s.join("root/f"), &data).unwrap();
    fs::create_dir(s.join("root/d")).unwrap();
    let h = hash_reader(root.open_file(&rel("f")).unwrap()).unwrap();
    assert_eq!(h, hash_reader(&data[..]).unwrap());
    let err = root.open_file(&rel("d")).unwrap_err();
    assert!(err.to_string().ends_with("is not a regular file"), "{err}");
}

#[test]
fn open_refuses_what_is_not_a_directory() {
    let s = Scratch::new("root-open-file");
    fs::write(s.join("f"), "").unwrap();
    let err = Root::open(&s.join("f")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: is not a directory; name an existing directory as the destination",
            s.join("f").display()
        )
    );
    assert_eq!(raw_os_error(&err), Some(20));
    let missing = Root::open(&s.join("missing")).unwrap_err();
    assert_eq!(raw_os_error(&missing), Some(2));
}

#[test]
fn an_atomic_file_knows_its_final_path() {
    let (s, root) = setup("root-final-path");
    let mut f = root.create_file(&rel("f")).unwrap();
    f.write_all(b"ok").unwrap();
    assert_eq!(f.path(), s.join("root/f"));
    assert_eq!(f.file().metadata().unwrap().len(), 2);
    drop(f);
    assert!(s.names("root").is_empty());
}

#[test]
fn a_root_is_shared_between_threads() {
    let (s, root) = setup("root-threads");
    std::thread::scope(|scope| {
        for i in 0..8 {
            let root = &root;
            scope.spawn(move || write(root, &format!("f{i}"), b"x").unwrap());
        }
    });
    assert_eq!(s.names("root").len(), 8);
}

#[test]
fn a_subdir_is_made_or_opened_as_a_root_but_never_through_a_symlink() {
    const ELOOP: i32 = 40;
    let (s, root) = setup("root-subdir");
    let made = root.open_subdir(&rel("new"), true).unwrap();
    assert_eq!(made.path(), s.join("root/new"));
    write(&made, "f", b"x").unwrap();
    assert_eq!(fs::read(s.join("root/new/f")).unwrap(), b"x");

    // A real directory the user made is opened as it is.
    fs::create_dir(s.join("root/mine")).unwrap();
    write(&root.open_subdir(&rel("mine"), false).unwrap(), "g", b"y").unwrap();
    assert_eq!(fs::read(s.join("root/mine/g")).unwrap(), b"y");
    let err = root.open_subdir(&rel("missing"), false).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);

    // A planted link is refused whether or not the caller would make the folder, and so is
    // create_dir onto it: nothing lands where it points.
    symlink(s.join("outside"), s.join("root/planted")).unwrap();
    let shown = format!("{}: is a symbolic link", s.join("root/planted").display());
    for create in [true, false] {
        let err = root.open_subdir(&rel("planted"), create).unwrap_err();
        assert_eq!(raw_os_error(&err), Some(ELOOP), "{err}");
        assert!(err.to_string().starts_with(&shown), "{err}");
    }
    let err = root.create_dir(&rel("planted"), 0o700).unwrap_err();
    assert_eq!(raw_os_error(&err), Some(ELOOP), "{err}");
    assert!(err.to_string().starts_with(&shown), "{err}");
    assert!(s.names("outside").is_empty(), "{:?}", s.names("outside"));
}

#[test]
fn a_folder_removed_and_made_again_is_written_afresh_not_through_the_old_one() {
    let (s, root) = setup("walk-cache");
    root.create_dir_all(&rel("a/b")).unwrap();
    write(&root, "a/b/one", b"1").unwrap();
    // The last walk reached a/b; removing it (and a) must not leave writes going there.
    root.remove(&rel("a/b/one")).unwrap();
    root.remove(&rel("a/b")).unwrap();
    root.remove_tree(&rel("a")).unwrap();
    root.create_dir_all(&rel("a/b")).unwrap();
    write(&root, "a/b/two", b"2").unwrap();
    assert_eq!(fs::read(s.join("root/a/b/two")).unwrap(), b"2");
    assert!(root.metadata(Some(&rel("a/b/two"))).unwrap().is_some());
}
