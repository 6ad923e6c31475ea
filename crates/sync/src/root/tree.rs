//! Listing and removing whole directories inside a [`Root`], for `--delete`.
//!
//! Both hold a descriptor of each directory they work in, opened with O_NOFOLLOW from its
//! parent's descriptor, and act on names with `*at` calls that never follow a symlink. So a
//! symlink inside the tree (to `/etc`, say) is listed and removed as the link it is, and a
//! directory swapped for a symlink during the walk stops it with an error instead of
//! leading it outside.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Root, SYMLINK_IN_PATH};
use crate::error::{errno_at, explained};
use crate::RelPath;

/// One name in a directory, as [`Root::read_dir`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, raw bytes, one component (never `.` or `..`).
    pub name: Vec<u8>,
    /// True for a directory; a symlink to one is not (it is never followed).
    pub is_dir: bool,
}

impl Root {
    /// The names in the directory `rel` (the root folder itself for `None`), in no particular
    /// order, without `.` and `..`. A symlink at `rel` or on the way to it is an error that
    /// names it: what a link points to is never listed.
    pub fn read_dir(&self, rel: Option<&RelPath>) -> io::Result<Vec<DirEntry>> {
        let shown = self.shown_at(rel);
        let dir = match rel {
            Some(rel) => self.walk(rel.as_bytes(), false)?,
            None => self.top(),
        };
        list(dir.as_fd(), &shown)
    }

    /// Removes `rel` and, if it is a directory, everything in it, deepest first; a symlink,
    /// at `rel` or anywhere below, is removed itself and never followed. Nothing there is
    /// fine (someone else removed it). For callers that need not see each removal; rsync's
    /// `--delete`, which itemizes each one, lists with [`Root::read_dir`] and removes with
    /// [`Root::remove`] instead.
    ///
    /// Each level holds one descriptor while its subdirectories are removed, so a tree
    /// deeper than the open-file limit stops with EMFILE, leaving what it could not reach.
    pub fn remove_tree(&self, rel: &RelPath) -> io::Result<()> {
        self.forget_walks();
        let (dir, name) = self.parent(rel, false)?;
        remove_entry(dir.as_fd(), name, &self.shown(rel))
    }
}

/// The names in the directory `dir` (a descriptor of any kind, O_PATH too); `shown` is its
/// path, for messages.
fn list(dir: rustix::fd::BorrowedFd<'_>, shown: &Path) -> io::Result<Vec<DirEntry>> {
    // A walk's descriptors are O_PATH, which cannot list; "." opened from one can.
    let listing = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| errno_at(shown, e))?;
    let entries = rustix::fs::Dir::read_from(&listing).map_err(|e| errno_at(shown, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| errno_at(shown, e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            // Some filesystems do not fill in d_type: ask, without following.
            FileType::Unknown => rustix::fs::statat(&listing, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
            _ => false,
        };
        names.push(DirEntry {
            name: name.to_vec(),
            is_dir,
        });
    }
    Ok(names)
}

/// Removes `name` in `dir`, with everything in it if it is a directory.
fn remove_entry(dir: rustix::fd::BorrowedFd<'_>, name: &[u8], shown: &Path) -> io::Result<()> {
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(errno_at(shown, e)),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(errno_at(shown, e)),
        };
    }
    // O_NOFOLLOW|O_DIRECTORY: if a symlink was swapped in since the stat, this fails (ELOOP
    // or ENOTDIR) rather than opening what it points to.
    let sub = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => explained(shown, e.into(), SYMLINK_IN_PATH),
        e => errno_at(shown, e),
    })?;
    // All names first: removing while reading may make readdir skip some.
    for entry in list(sub.as_fd(), shown)? {
        let below = shown.join(OsStr::from_bytes(&entry.name));
        remove_entry(sub.as_fd(), &entry.name, &below)?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(errno_at(shown, e)),
    }
}
