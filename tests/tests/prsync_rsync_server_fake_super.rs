//! `prsync --server --fake-super` (`--rsync-path='prsync --fake-super'`) under the stock
//! rsync client: a push keeps owners, special bits, devices, specials and symlinks in
//! rsync's `user.rsync.%stat` attribute, a pull reads them back, and rrsync's `--drop-D`
//! skips a device while the rest lands. Each run is made once with rsync on the host
//! and once with prsync there, and must print the same `-i` lines and leave the same
//! trees and attributes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;

use prtools_tests::rsync_wire::{assert_ok, rsync, set_old_times};
use prtools_tests::{assert_text_eq, bin, describe, text, TestCluster};

const STAT: &str = "user.rsync.%stat";

/// What a tree of rsync's stand-ins says: each entry as [`describe`] sees it, with its
/// owner and its `%stat` attribute.
fn described(root: &Path) -> Vec<String> {
    let mut out = describe(root);
    for line in &mut out {
        let rel = line
            .split(' ')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let stat = xattr::get(&path, STAT).ok().flatten().unwrap_or_default();
        line.push_str(&format!(
            " {}:{} [{}]",
            meta.uid(),
            meta.gid(),
            String::from_utf8_lossy(&stat)
        ));
    }
    out
}

/// A source with what only root may keep: another owner, setuid, a real device, a
/// device that is rsync's stand-in (an empty file and its `%stat`), a fifo, a symlink.
fn make_tree(src: &Path) {
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("owned"), "someone else's\n").unwrap();
    std::os::unix::fs::chown(src.join("owned"), Some(1234), Some(2345)).unwrap();
    std::fs::write(src.join("d/setuid"), "#!/bin/sh\n").unwrap();
    let setuid = std::os::unix::fs::PermissionsExt::from_mode(0o4755);
    std::fs::set_permissions(src.join("d/setuid"), setuid).unwrap();
    std::fs::write(src.join("fakedev"), "").unwrap();
    xattr::set(src.join("fakedev"), STAT, b"20644 1,3 1234:5678").unwrap();
    mknod(
        &src.join("null"),
        libc::S_IFCHR | 0o644,
        libc::makedev(1, 3),
    );
    mknod(&src.join("fifo"), libc::S_IFIFO | 0o640, 0);
    std::os::unix::fs::symlink("owned", src.join("link")).unwrap();
    set_old_times(src);
}

fn mknod(path: &Path, mode: u32, rdev: libc::dev_t) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mknod(c.as_ptr(), mode, rdev) }, 0);
}

/// The host's rsync as `--rsync-path`, or prsync, with `extra` server options.
fn remote(tc: &TestCluster, prsync: bool, extra: &str) -> String {
    let prog = match prsync {
        true => tc.host_path(&bin("prsync")).display().to_string(),
        false => "rsync".to_string(),
    };
    format!("--rsync-path={prog} {extra}")
}

/// The client's `-i` lines, the destination folders named alike.
fn items(out: &Output) -> String {
    assert_ok(out);
    assert_eq!(text(&out.stderr), "");
    text(&out.stdout).replace("by-prsync", "by-rsync")
}

#[test]
fn fake_super_push_and_pull_keep_rsyncs_stat_attribute() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("fake-super");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let from = format!("{}/", src.display());
    let push = |prsync: bool, dest: &str| {
        let path = remote(&tc, prsync, "--fake-super");
        let args = ["--fake-super", "-rlptgoDi", path.as_str()];
        rsync(&tc, &args, &from, &format!("node1:/tmp/{dest}/"))
    };
    let want = items(&push(false, "by-rsync"));
    assert!(want.contains("cD+++++++++ fakedev"), "{want}");
    assert_text_eq!(want, items(&push(true, "by-prsync")));
    let theirs = described(&node.join("by-rsync"));
    for kept in [
        "fakedev 644 0 ",
        "[20644 1,3 1234:5678]",
        "[20644 1,3 0:0]",
        "[10640 0,0 0:0]",
        "[100644 0,0 1234:2345]",
        "[104755 0,0 0:0]",
        "[120777 0,0 0:0]",
    ] {
        assert!(
            theirs.iter().any(|l| l.contains(kept)),
            "{kept}: {theirs:#?}"
        );
    }
    assert_eq!(described(&node.join("by-prsync")), theirs);

    // A second push of a changed source: the stored mode, device and group are compared.
    xattr::set(src.join("fakedev"), STAT, b"20600 1,4 1234:5679").unwrap();
    let setuid = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(src.join("d/setuid"), setuid).unwrap();
    set_old_times(&src);
    let want = items(&push(false, "by-rsync"));
    assert!(want.contains("cDc..p.g... fakedev"), "{want}");
    assert_text_eq!(want, items(&push(true, "by-prsync")));
    let theirs = described(&node.join("by-rsync"));
    assert_eq!(described(&node.join("by-prsync")), theirs);

    // A pull of what rsync stored: the sender reads the attributes back, and the
    // client keeps them as its own.
    let pull = |prsync: bool, dest: &str| {
        let path = remote(&tc, prsync, "--fake-super");
        let args = ["--fake-super", "-rlptgoDi", path.as_str()];
        let to = scratch.join(dest);
        rsync(
            &tc,
            &args,
            "node1:/tmp/by-rsync/",
            &format!("{}/", to.display()),
        )
    };
    let want = items(&pull(false, "pulled-by-rsync"));
    assert!(want.contains("cD+++++++++ null"), "{want}");
    assert!(want.contains("cL+++++++++ link -> owned"), "{want}");
    assert_text_eq!(want, items(&pull(true, "pulled-by-prsync")));
    let pulled = described(&scratch.join("pulled-by-rsync"));
    assert!(
        pulled.iter().any(|l| l.contains("[20600 1,4 1234:5679]")),
        "{pulled:#?}"
    );
    assert_eq!(described(&scratch.join("pulled-by-prsync")), pulled);
}

#[test]
fn drop_d_skips_a_device_and_lands_the_rest_as_rsync_does() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("drop-d");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let from = format!("{}/", src.display());
    let push = |prsync: bool, dest: &str| {
        // What rrsync's forced command runs on the receiving side.
        let path = remote(&tc, prsync, "--fake-super --drop-D");
        let args = ["--fake-super", "-rlptgoDv", "--specials", path.as_str()];
        rsync(&tc, &args, &from, &format!("node1:/tmp/{dest}/"))
    };
    let want = push(false, "by-rsync");
    assert_ok(&want);
    let got = push(true, "by-prsync");
    assert_ok(&got);
    let names = |o: &Output| -> Vec<String> {
        let mut lines: Vec<String> = text(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("sent ") && !l.starts_with("total size"))
            .map(|l| l.replace("by-prsync", "by-rsync"))
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(names(&got), names(&want));
    let theirs = described(&node.join("by-rsync"));
    for gone in ["fakedev", "null", "fifo"] {
        assert!(!theirs.iter().any(|l| l.starts_with(gone)), "{theirs:#?}");
    }
    assert!(
        theirs.iter().any(|l| l.starts_with("owned ")),
        "{theirs:#?}"
    );
    assert_eq!(described(&node.join("by-prsync")), theirs);

    // Without --drop-D the same push makes the stand-ins: the skip above is its doing.
    let path = remote(&tc, true, "--fake-super");
    let args = ["--fake-super", "-rlptgoD", path.as_str()];
    assert_ok(&rsync(&tc, &args, &from, "node1:/tmp/undropped/"));
    let made = described(&node.join("undropped"));
    assert!(made.iter().any(|l| l.starts_with("fakedev ")), "{made:#?}");

    // A shim's --no-D comes before the client's bundle, whose -D undoes it: rsync then
    // makes the devices all the same, and so does prsync.
    for (prsync, dest) in [(false, "no-d-rsync"), (true, "no-d-prsync")] {
        let path = remote(&tc, prsync, "--fake-super --no-D");
        let args = ["--fake-super", "-rlptgoD", path.as_str()];
        assert_ok(&rsync(&tc, &args, &from, &format!("node1:/tmp/{dest}/")));
    }
    let theirs = described(&node.join("no-d-rsync"));
    assert!(theirs.iter().any(|l| l.starts_with("null ")), "{theirs:#?}");
    assert_eq!(described(&node.join("no-d-prsync")), theirs);
}
