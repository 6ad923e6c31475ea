//! `--fake-super`: what only root may set on an inode (owner, group, setuid/setgid/sticky,
//! the type and number of a device node) is kept in the `user.rsync.%stat` extended
//! attribute of a plain file instead, in rsync's own format, so that a tree backed up by an
//! ordinary user comes back whole, and rsync and prsync read each other's.
//!
//! The value is `MODE MAJOR,MINOR UID:GID`, the mode in octal with its type bits
//! (`20644 41,67 0:0` is a character device). A file whose inode already says all of it
//! has no such attribute.

use std::io;

use prtools_sync::{FileStat, RelPath, Root, Xattr};

/// The attribute's name (Linux keeps user attributes in the `user.` namespace).
pub const STAT_NAME: &[u8] = b"user.rsync.%stat";

/// The names rsync keeps to itself with `--fake-super` (the stat and the two ACLs it
/// would store): never sent, never removed from a destination.
pub fn is_own(name: &[u8]) -> bool {
    matches!(
        name,
        b"user.rsync.%stat" | b"user.rsync.%aacl" | b"user.rsync.%dacl"
    )
}

/// What a `%stat` attribute says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeStat {
    /// The whole mode, type bits included.
    pub mode: u32,
    /// The device number of a device node, else 0.
    pub rdev: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl FakeStat {
    /// Reads rsync's `%o %d,%d %d:%d`; `None` for anything else.
    pub fn parse(value: &[u8]) -> Option<FakeStat> {
        let text = std::str::from_utf8(value).ok()?;
        let mut words = text.split(' ');
        let mode = u32::from_str_radix(words.next()?, 8).ok()?;
        let (major, minor) = words.next()?.split_once(',')?;
        let (uid, gid) = words.next()?.split_once(':')?;
        if words.next().is_some() {
            return None;
        }
        Some(FakeStat {
            mode,
            rdev: rustix::fs::makedev(major.parse().ok()?, minor.parse().ok()?),
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
        })
    }

    /// The attribute's value, as rsync writes it.
    pub fn value(&self) -> Vec<u8> {
        format!(
            "{:o} {},{} {}:{}",
            self.mode,
            rustix::fs::major(self.rdev),
            rustix::fs::minor(self.rdev),
            self.uid,
            self.gid
        )
        .into_bytes()
    }

    /// The `%stat` among `xattrs`, if there is a readable one.
    pub fn among(xattrs: &[Xattr]) -> Option<FakeStat> {
        xattrs
            .iter()
            .find(|(n, _)| n == STAT_NAME)
            .and_then(|(_, v)| FakeStat::parse(v))
    }

    /// Keeps `self` for the entry at `rel` in `root` (the root folder itself for `None`),
    /// which is `now` as `lstat` says, as rsync's `set_stat_xattr`: the inode gets the
    /// permission bits with the owner's read and write (and search, for a folder) added,
    /// so that this user can always read it back; what it cannot hold (another owner,
    /// setuid, a device) goes in the `%stat` attribute, which is removed when the inode
    /// says it all. A symlink, which holds no user attributes, is left alone.
    pub fn store(&self, root: &Root, rel: Option<&RelPath>, now: FileStat) -> io::Result<()> {
        if now.is_symlink() {
            return Ok(());
        }
        let stored = FakeStat::among(&root.xattrs(rel)?);
        let owner_bits = if now.is_dir() { 0o700 } else { 0o600 };
        let real = (now.mode & libc::S_IFMT) | (self.mode & 0o777) | owner_bits;
        if now.mode & (libc::S_IFMT | 0o7777) != real {
            match rel {
                Some(rel) => root.set_mode(rel, real)?,
                None => root.set_root_mode(real)?,
            }
        }
        let rdev_now = if now.is_device() { now.rdev } else { 0 };
        if real == self.mode && rdev_now == self.rdev && now.uid == self.uid && now.gid == self.gid
        {
            if stored.is_some() {
                root.remove_xattr(rel, STAT_NAME)?;
            }
            return Ok(());
        }
        if stored != Some(*self) {
            root.set_xattr(rel, STAT_NAME, &self.value())?;
        }
        Ok(())
    }

    /// `stat` as the attribute makes it look (rsync's `x_lstat`): only a regular file, a
    /// folder or a symlink carries one; a real device or fifo is what it is.
    pub fn overlay(stat: &mut FileStat, xattrs: &[Xattr]) {
        if stat.is_device() || stat.is_special() {
            return;
        }
        if let Some(f) = FakeStat::among(xattrs) {
            stat.mode = f.mode;
            stat.rdev = f.rdev;
            stat.uid = f.uid;
            stat.gid = f.gid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_rsyncs_format() {
        let f = FakeStat::parse(b"20644 41,67 5000:5002").unwrap();
        assert_eq!(f.mode, 0o20644);
        assert_eq!(rustix::fs::major(f.rdev), 41);
        assert_eq!(rustix::fs::minor(f.rdev), 67);
        assert_eq!((f.uid, f.gid), (5000, 5002));
        assert_eq!(f.value(), b"20644 41,67 5000:5002");
        assert_eq!(FakeStat::parse(b"100644 0,0 1"), None);
        assert_eq!(FakeStat::parse(b"x 0,0 1:1"), None);
    }
}
