//! What a receiver needs of the confined destination besides writing files: full stat,
//! links, owners, device nodes, in-place files, listing and removing trees. Each is tried
//! with a symlink planted in the middle of the path and as the final component, and must
//! neither follow it nor touch anything outside the root.

mod common;

use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};

use common::{mtime_of, set_mtime, Scratch};
use prtools_sync::{raw_os_error, DirEntry, Mtime, RelPath, Root};

const T1: Mtime = Mtime {
    secs: 1_600_000_000,
    nanos: 123_456_789,
};

fn rel(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// A scratch folder with `root/` (the destination), `outside/` beside it holding
/// `outside/secret`, and two planted links: `root/mid -> outside` (a directory link in the
/// middle of paths) and `root/last -> outside/secret` (a final component).
fn planted(name: &str) -> (Scratch, Root) {
    let s = Scratch::new(name);
    fs::create_dir(s.join("root")).unwrap();
    fs::create_dir(s.join("outside")).unwrap();
    fs::write(s.join("outside/secret"), "secret").unwrap();
    fs::set_permissions(s.join("outside/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    symlink(s.join("outside"), s.join("root/mid")).unwrap();
    symlink(s.join("outside/secret"), s.join("root/last")).unwrap();
    let root = Root::open(&s.join("root")).unwrap();
    (s, root)
}

/// Asserts that `outside/` is as [`planted`] left it: same names, bytes, mode, owner, and
/// one name for the secret (no hard link to it inside the root).
fn outside_untouched(s: &Scratch) {
    assert_eq!(s.names("outside"), ["secret"]);
    let secret = s.join("outside/secret");
    let meta = fs::symlink_metadata(&secret).unwrap();
    let mine = fs::metadata(s.path()).unwrap();
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(
        (meta.uid(), meta.gid(), meta.nlink()),
        (mine.uid(), mine.gid(), 1)
    );
    assert!(fs::symlink_metadata(s.join("root/mid"))
        .unwrap()
        .is_symlink());
}

/// Linux's ELOOP, what a walk gives at a symlink it will not follow.
const ELOOP: i32 = 40;

/// True for the error a walk gives at a symlink it will not follow.
fn is_symlink_refusal(err: &std::io::Error) -> bool {
    err.to_string().contains("is a symbolic link") || raw_os_error(err) == Some(ELOOP)
}

/// Only root may give files away or make device nodes.
fn am_root(s: &Scratch) -> bool {
    fs::metadata(s.path()).unwrap().uid() == 0
}

#[test]
fn metadata_is_lstat_inside_the_root_only() {
    let (s, root) = planted("recv-metadata");
    fs::write(s.join("root/f"), "12345").unwrap();
    fs::set_permissions(s.join("root/f"), fs::Permissions::from_mode(0o2640)).unwrap();
    set_mtime(&s.join("root/f"), T1);
    fs::hard_link(s.join("root/f"), s.join("root/g")).unwrap();

    let f = root.metadata(Some(&rel("f"))).unwrap().unwrap();
    let std_f = fs::symlink_metadata(s.join("root/f")).unwrap();
    assert!(f.is_file() && !f.is_dir() && !f.is_symlink());
    assert_eq!(f.mode, std_f.mode());
    assert_eq!(f.mode & 0o7777, 0o2640);
    assert_eq!((f.size, f.mtime, f.nlink), (5, T1, 2));
    assert_eq!((f.uid, f.gid), (std_f.uid(), std_f.gid()));
    assert_eq!((f.dev, f.ino, f.rdev), (std_f.dev(), std_f.ino(), 0));
    let g = root.metadata(Some(&rel("g"))).unwrap().unwrap();
    assert!(f.same_inode(&g));

    // The final link is described as a link, not as what it points to.
    let last = root.metadata(Some(&rel("last"))).unwrap().unwrap();
    assert!(last.is_symlink());
    assert!(!last.same_inode(&f));
    let top = root.metadata(None).unwrap().unwrap();
    assert!(top.is_dir());
    assert_eq!(top.ino, fs::metadata(s.join("root")).unwrap().ino());

    assert_eq!(root.metadata(Some(&rel("nothing"))).unwrap(), None);
    assert_eq!(root.metadata(Some(&rel("nothing/x"))).unwrap(), None);
    assert_eq!(root.metadata(Some(&rel("f/x"))).unwrap(), None);
    // Through the link in the middle: refused, never the outside file's data.
    let err = root.metadata(Some(&rel("mid/secret"))).unwrap_err();
    assert!(is_symlink_refusal(&err), "{err}");
    outside_untouched(&s);
}

#[test]
fn read_link_gives_the_raw_target() {
    let (s, root) = planted("recv-readlink");
    use std::os::unix::ffi::OsStrExt;
    symlink(std::ffi::OsStr::from_bytes(b"../x\xff"), s.join("root/raw")).unwrap();
    assert_eq!(root.read_link(&rel("raw")).unwrap(), b"../x\xff");
    assert_eq!(
        root.read_link(&rel("last")).unwrap(),
        s.join("outside/secret").as_os_str().as_bytes()
    );
    symlink("secret", s.join("outside/link")).unwrap();
    assert!(root.read_link(&rel("mid/link")).is_err());
    fs::remove_file(s.join("outside/link")).unwrap();
    fs::write(s.join("root/f"), "").unwrap();
    assert_eq!(
        raw_os_error(&root.read_link(&rel("f")).unwrap_err()),
        Some(22)
    );
}

#[test]
fn chown_changes_links_themselves_and_never_leaves() {
    let (s, root) = planted("recv-chown");
    if !am_root(&s) {
        return;
    }
    fs::write(s.join("root/f"), "").unwrap();
    root.chown(Some(&rel("f")), Some(1234), Some(5678)).unwrap();
    let m = fs::metadata(s.join("root/f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    root.chown(Some(&rel("f")), None, Some(42)).unwrap();
    let m = fs::metadata(s.join("root/f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 42));

    // The final link gets the owner, not its target.
    root.chown(Some(&rel("last")), Some(1234), Some(1234))
        .unwrap();
    let l = fs::symlink_metadata(s.join("root/last")).unwrap();
    assert_eq!((l.uid(), l.gid()), (1234, 1234));
    assert!(root
        .chown(Some(&rel("mid/secret")), Some(1234), None)
        .is_err());
    let err = root
        .chown(Some(&rel("f")), Some(u32::MAX), None)
        .unwrap_err();
    assert_eq!(raw_os_error(&err), Some(22));

    root.chown(None, None, Some(77)).unwrap();
    assert_eq!(fs::metadata(s.join("root")).unwrap().gid(), 77);
    // Put the link back as root, for `outside_untouched`.
    root.chown(Some(&rel("last")), Some(0), Some(0)).unwrap();
    outside_untouched(&s);
}

#[test]
fn mknod_makes_fifos_and_devices_but_nothing_else() {
    let (s, root) = planted("recv-mknod");
    const S_IFIFO: u32 = 0o010000;
    const S_IFCHR: u32 = 0o020000;
    const S_IFREG: u32 = 0o100000;
    const S_IFDIR: u32 = 0o040000;
    root.mknod(&rel("fifo"), S_IFIFO | 0o640, 0).unwrap();
    let m = fs::symlink_metadata(s.join("root/fifo")).unwrap();
    assert!(m.file_type().is_fifo());
    assert!(root
        .metadata(Some(&rel("fifo")))
        .unwrap()
        .unwrap()
        .is_special());
    for bad in [S_IFREG | 0o644, S_IFDIR | 0o755, 0o644] {
        let err = root.mknod(&rel("bad"), bad, 0).unwrap_err();
        assert_eq!(raw_os_error(&err), Some(22), "{bad:o}");
    }
    // A final link is in the way (EEXIST), never replaced by or turned into a node outside.
    assert_eq!(
        raw_os_error(&root.mknod(&rel("last"), S_IFIFO | 0o600, 0).unwrap_err()),
        Some(17)
    );
    assert!(root.mknod(&rel("mid/fifo"), S_IFIFO | 0o600, 0).is_err());
    assert_eq!(s.names("root"), ["fifo", "last", "mid"]);
    outside_untouched(&s);

    if am_root(&s) {
        // /dev/null's number, 1:3: a device whose open would do no harm.
        let null = (1 << 8) | 3;
        root.mknod(&rel("null"), S_IFCHR | 0o600, null).unwrap();
        let m = fs::symlink_metadata(s.join("root/null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), null);
        let st = root.metadata(Some(&rel("null"))).unwrap().unwrap();
        assert!(st.is_device() && !st.is_special());
        assert_eq!(st.rdev, null);
        assert!(root.mknod(&rel("mid/null"), S_IFCHR | 0o600, null).is_err());
    }
}

#[test]
fn hard_link_links_inside_and_replaces_atomically() {
    let (s, root) = planted("recv-hardlink");
    fs::create_dir(s.join("root/d")).unwrap();
    fs::write(s.join("root/a"), "leader").unwrap();
    fs::write(s.join("root/d/old"), "old").unwrap();
    root.hard_link(&rel("a"), &rel("d/new")).unwrap();
    root.hard_link(&rel("a"), &rel("d/old")).unwrap();
    let ino = fs::metadata(s.join("root/a")).unwrap().ino();
    for p in ["root/d/new", "root/d/old"] {
        assert_eq!(fs::metadata(s.join(p)).unwrap().ino(), ino, "{p}");
    }
    assert_eq!(fs::metadata(s.join("root/a")).unwrap().nlink(), 3);
    // Linking a name to its own inode changes nothing and leaves no temp name.
    root.hard_link(&rel("a"), &rel("d/new")).unwrap();
    assert_eq!(s.names("root/d"), ["new", "old"]);

    // A final symlink as the existing side is linked itself, not its target.
    root.hard_link(&rel("last"), &rel("l2")).unwrap();
    assert!(fs::symlink_metadata(s.join("root/l2"))
        .unwrap()
        .is_symlink());
    root.remove(&rel("l2")).unwrap();
    // A final symlink as the new side is replaced, and the target keeps its one name.
    root.hard_link(&rel("a"), &rel("last")).unwrap();
    assert_eq!(
        fs::symlink_metadata(s.join("root/last")).unwrap().ino(),
        ino
    );
    // Through the link in the middle, on either side: refused.
    assert!(root.hard_link(&rel("mid/secret"), &rel("stolen")).is_err());
    assert!(root.hard_link(&rel("a"), &rel("mid/planted")).is_err());
    // A directory in the way is named, and no temp name is left.
    let err = root.hard_link(&rel("a"), &rel("d")).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(s.names("root"), ["a", "d", "last", "mid"]);
    assert_eq!(s.names("root/d"), ["new", "old"]);
    outside_untouched(&s);
}

#[test]
fn open_file_rw_rewrites_regular_files_in_place_only() {
    let (s, root) = planted("recv-rw");
    fs::write(s.join("root/f"), "old contents").unwrap();
    let ino = fs::metadata(s.join("root/f")).unwrap().ino();
    {
        let mut f = root.open_file_rw(&rel("f")).unwrap();
        let mut old = String::new();
        f.read_to_string(&mut old).unwrap();
        assert_eq!(old, "old contents");
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(b"new").unwrap();
        f.set_len(3).unwrap();
    }
    assert_eq!(fs::read(s.join("root/f")).unwrap(), b"new");
    assert_eq!(
        fs::metadata(s.join("root/f")).unwrap().ino(),
        ino,
        "same inode"
    );
    {
        let mut f = root.open_file_rw(&rel("made")).unwrap();
        f.write_all(b"x").unwrap();
    }
    let made = fs::metadata(s.join("root/made")).unwrap();
    assert_eq!(made.mode() & 0o777, 0o600);

    let err = root.open_file_rw(&rel("last")).unwrap_err();
    assert!(is_symlink_refusal(&err), "{err}");
    assert!(root.open_file_rw(&rel("mid/secret")).is_err());
    assert!(root.open_file_rw(&rel("mid/new")).is_err());
    // A dangling final link is not created through either.
    symlink(s.join("outside/created"), s.join("root/dangling")).unwrap();
    assert!(root.open_file_rw(&rel("dangling")).is_err());
    // A fifo is refused at once, not waited on.
    root.mknod(&rel("fifo"), 0o010600, 0).unwrap();
    let err = root.open_file_rw(&rel("fifo")).unwrap_err();
    assert!(err.to_string().ends_with("is not a regular file"), "{err}");
    fs::create_dir(s.join("root/d")).unwrap();
    assert!(root.open_file_rw(&rel("d")).is_err());
    outside_untouched(&s);
}

#[test]
fn read_dir_lists_links_as_links_and_never_through_them() {
    let (s, root) = planted("recv-readdir");
    fs::create_dir(s.join("root/d")).unwrap();
    fs::write(s.join("root/d/x"), "").unwrap();
    let mut top = root.read_dir(None).unwrap();
    top.sort_by(|a, b| a.name.cmp(&b.name));
    let entry = |name: &str, is_dir| DirEntry {
        name: name.as_bytes().to_vec(),
        is_dir,
    };
    assert_eq!(
        top,
        [entry("d", true), entry("last", false), entry("mid", false)]
    );
    assert_eq!(root.read_dir(Some(&rel("d"))).unwrap(), [entry("x", false)]);
    let err = root.read_dir(Some(&rel("mid"))).unwrap_err();
    assert!(is_symlink_refusal(&err), "{err}");
    assert!(root.read_dir(Some(&rel("mid/deeper"))).is_err());
    assert!(root.read_dir(Some(&rel("d/x"))).is_err());
}

#[test]
fn remove_tree_removes_links_in_the_tree_not_what_they_point_to() {
    let (s, root) = planted("recv-remove-tree");
    fs::create_dir_all(s.join("root/t/a/b")).unwrap();
    fs::write(s.join("root/t/a/b/f"), "").unwrap();
    fs::write(s.join("root/t/g"), "").unwrap();
    symlink(s.join("outside"), s.join("root/t/a/to-outside-dir")).unwrap();
    symlink(s.join("outside/secret"), s.join("root/t/a/b/to-secret")).unwrap();
    if am_root(&s) {
        // A directory nobody may read or write, which root may empty all the same.
        fs::set_permissions(s.join("root/t/a/b"), fs::Permissions::from_mode(0o000)).unwrap();
    }
    root.remove_tree(&rel("t")).unwrap();
    assert_eq!(s.names("root"), ["last", "mid"]);

    // The root's own links: each goes itself.
    root.remove_tree(&rel("mid")).unwrap();
    root.remove_tree(&rel("last")).unwrap();
    assert!(s.names("root").is_empty());
    root.remove_tree(&rel("nothing")).unwrap();
    symlink(s.join("outside"), s.join("root/mid")).unwrap();
    assert!(root.remove_tree(&rel("mid/secret")).is_err());
    outside_untouched(&s);
}

#[test]
fn the_root_itself_gets_mode_and_mtime_through_its_descriptor() {
    let (s, root) = planted("recv-root-attrs");
    root.set_root_mode(0o1750).unwrap();
    root.set_root_mtime(T1).unwrap();
    let m = fs::metadata(s.join("root")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o1750);
    assert_eq!(mtime_of(&s.join("root")), T1);
    // The folder that was opened, even once its path names another.
    fs::rename(s.join("root"), s.join("moved")).unwrap();
    fs::create_dir(s.join("root")).unwrap();
    root.set_root_mode(0o700).unwrap();
    assert_eq!(
        fs::metadata(s.join("moved")).unwrap().mode() & 0o7777,
        0o700
    );
    assert_ne!(fs::metadata(s.join("root")).unwrap().mode() & 0o7777, 0o700);
}
