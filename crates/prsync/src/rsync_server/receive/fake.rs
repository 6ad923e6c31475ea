//! `--fake-super` on the receiving server (`--rsync-path='prsync --fake-super'`, or a
//! shim that adds it): nothing is chowned and no device or special is made; a device or
//! special lands as an empty file only this user may read (a symlink as one that holds
//! its target, as rsync's on Linux, which keeps no user attribute on a symlink), and what the inode cannot
//! say (another owner, setuid, the type and number of a device) goes in the
//! `user.rsync.%stat` attribute, as with rsync (see [`crate::fake_super`]). The generator
//! compares the entries sent with what that attribute says.

use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;

use prtools_rsync_wire::flist::Entry;
use prtools_rsync_wire::server_request::ServerRequest;
use prtools_sync::{RelPath, Root};

use crate::fake_super::FakeStat;

/// What `lstat` says of `here` (at `rel` in `root`), or with `--fake-super` what its
/// `%stat` attribute says, where it has one: rsync's `x_lstat`.
pub(super) fn seen(
    req: &ServerRequest,
    root: Option<&Root>,
    rel: Option<&RelPath>,
    here: &Metadata,
) -> FakeStat {
    let real = FakeStat {
        mode: here.mode(),
        rdev: here.rdev(),
        uid: here.uid(),
        gid: here.gid(),
    };
    if !req.fake_super || !(here.is_file() || here.is_dir()) {
        return real;
    }
    root.and_then(|r| r.xattrs(rel).ok())
        .and_then(|all| FakeStat::among(&all))
        .unwrap_or(real)
}

/// Makes rsync's stand-in for a device or special at `rel`: an empty file with mode 0600.
pub(super) fn make_placeholder(root: &Root, rel: &RelPath) -> io::Result<()> {
    root.create_file(rel)?.commit(0o600, None, false)
}

/// Makes rsync's stand-in for a symlink at `rel` (a symlink holds no user attribute): a
/// file with mode 0600 that holds the target.
pub(super) fn make_link(root: &Root, rel: &RelPath, target: &[u8]) -> io::Result<()> {
    let mut file = root.create_file(rel)?;
    file.write_all(target)?;
    file.commit(0o600, None, false)
}

/// The target a symlink's stand-in at `rel` holds (see [`make_link`]).
pub(super) fn link_target(root: &Root, rel: &RelPath) -> io::Result<Vec<u8>> {
    let mut target = Vec::new();
    root.open_file(rel)?.take(4096).read_to_end(&mut target)?;
    Ok(target)
}

/// Keeps entry `e`'s mode, device and owner for what is at `rel` now, as rsync's
/// `set_stat_xattr`: `perms` are the permission bits it was given here (`None`: `-p`'s,
/// or without `-p` those it has). Without `-o` or `-g` the owner or group it has stays.
pub(super) fn keep(
    req: &ServerRequest,
    root: &Root,
    rel: Option<&RelPath>,
    e: &Entry,
    perms: Option<u32>,
) -> io::Result<()> {
    let Some(now) = root.metadata(rel)? else {
        return Ok(());
    };
    if now.is_symlink() {
        return Ok(());
    }
    let has = FakeStat::among(&root.xattrs(rel)?).unwrap_or(FakeStat {
        mode: now.mode,
        rdev: now.rdev,
        uid: now.uid,
        gid: now.gid,
    });
    let perms = perms.unwrap_or(if req.perms { e.mode } else { has.mode });
    let want = FakeStat {
        mode: (e.mode & libc::S_IFMT) | (perms & 0o7777),
        rdev: if e.is_device() { e.rdev } else { 0 },
        uid: if req.owner { e.uid } else { has.uid },
        gid: if req.group { e.gid } else { has.gid },
    };
    want.store(root, rel, now)
}
