//! Reading what is inside a [`Root`]: full `lstat` data and link targets, confined like the
//! writes, so that a peer's names cannot make the receiver look at (and report on) files
//! outside the destination either.

use std::io;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Stat};
use rustix::io::Errno;

use super::{is_absent, mtime_of, size_of, Root};
use crate::error::errno_at;
use crate::{Mtime, RelPath};

/// Everything `lstat` says about one entry inside a [`Root`], as [`Root::metadata`] gives it:
/// what a receiver compares (size, times, mode, owner) and what hard links and devices need
/// (device and inode numbers, link count, `st_rdev`). Plain numbers, the same on every
/// platform, so that they can be compared with what a peer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// The whole `st_mode`: the type bits (`S_IFMT`) and the permission bits.
    pub mode: u32,
    /// Length in bytes (of the target path, for a symlink).
    pub size: u64,
    /// Modification time.
    pub mtime: Mtime,
    /// Access time (rsync's `-U` compares it).
    pub atime: Mtime,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The device the entry is on.
    pub dev: u64,
    /// The inode number, unique within `dev`.
    pub ino: u64,
    /// How many names the inode has.
    pub nlink: u64,
    /// For a device node, the device it stands for; else 0.
    pub rdev: u64,
}

impl FileStat {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == FileType::RegularFile
    }

    /// True for a symbolic link (which no call of [`Root`] follows).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == FileType::Symlink
    }

    /// True for a character or block device.
    pub fn is_device(&self) -> bool {
        matches!(
            self.file_type(),
            FileType::CharacterDevice | FileType::BlockDevice
        )
    }

    /// True for a fifo or a socket.
    pub fn is_special(&self) -> bool {
        matches!(self.file_type(), FileType::Fifo | FileType::Socket)
    }

    /// True if `self` and `other` are one inode (hard links of each other, or one name).
    pub fn same_inode(&self, other: &FileStat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// What `lstat` says of `path`, a path the operator gave outside any root (rsync's
    /// `--compare-dest` folders); `None` if nothing is there.
    pub fn of_path(path: &Path) -> io::Result<Option<FileStat>> {
        match rustix::fs::lstat(path) {
            Ok(stat) => Ok(Some(FileStat::from_stat(&stat))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(errno_at(path, e)),
        }
    }

    /// What `lstat` says of `name` in the folder `dir` (an operator's folder opened by a
    /// walk of the caller's own); `None` if nothing is there.
    pub fn of_name(dir: impl rustix::fd::AsFd, name: &[u8]) -> io::Result<Option<FileStat>> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileStat::from_stat(&stat))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }

    // The field types of `struct stat` differ between architectures and platforms, so these
    // casts are no-ops on some targets and needed on others.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    pub(super) fn from_stat(stat: &Stat) -> FileStat {
        FileStat {
            mode: stat.st_mode as u32,
            size: size_of(stat),
            mtime: mtime_of(stat),
            atime: Mtime {
                secs: stat.st_atime as i64,
                // st_atime_nsec is always in 0..1e9, so it fits.
                nanos: stat.st_atime_nsec as u32,
            },
            uid: stat.st_uid as u32,
            gid: stat.st_gid as u32,
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            nlink: stat.st_nlink as u64,
            rdev: stat.st_rdev as u64,
        }
    }
}

impl Root {
    /// What is at `rel` now (the root folder itself for `None`), without following a final
    /// symlink: the receiver's `lstat`. `None` if nothing is there, also when a parent is
    /// missing or is a file; a symlink on the way is an error that names it, so that nothing
    /// outside the root is ever looked at, let alone reported on.
    pub fn metadata(&self, rel: Option<&RelPath>) -> io::Result<Option<FileStat>> {
        let (dir, name) = match self.at(rel) {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileStat::from_stat(&stat))),
            Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
            Err(e) => Err(errno_at(self.shown_at(rel), e)),
        }
    }

    /// The target of the symlink at `rel`, as raw bytes; an error if `rel` is not a symlink
    /// (EINVAL, as readlink) or a symlink is met on the way to it.
    pub fn read_link(&self, rel: &RelPath) -> io::Result<Vec<u8>> {
        let (dir, name) = self.parent(rel, false)?;
        rustix::fs::readlinkat(&dir, name, Vec::new())
            .map(|target| target.into_bytes())
            .map_err(|e| errno_at(self.shown(rel), e))
    }
}
