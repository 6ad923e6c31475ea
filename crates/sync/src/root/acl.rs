//! POSIX ACLs (rsync's `-A`), through the `exacl` crate (libacl).
//!
//! An ACL travels as exacl's text, one entry a line (`allow::user:alice:read,write`), and
//! only when it says more than the mode does (named users or groups, a mask, or a folder's
//! default ACL): a plain mode travels as the mode. libacl takes paths and follows a final
//! symlink, so inside a [`Root`] the entry is first opened with `O_PATH | O_NOFOLLOW`
//! through the confined walk, and the path handed on is that descriptor's
//! `/proc/self/fd/N`, which names the opened inode whatever its name holds by then.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::Root;
use crate::error::{at, errno_at};
use crate::RelPath;

/// The ACL of `path` (a final symlink is followed, as libacl does) as text, when it says
/// more than the mode; `None` when the mode says it all, or the file system has no ACLs.
pub fn read_acl(path: &Path) -> io::Result<Option<String>> {
    let entries = match exacl::getfacl(path, None) {
        Ok(entries) => entries,
        Err(e) if no_acls(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !entries.iter().any(extended) {
        return Ok(None);
    }
    let mut entries = entries;
    entries.sort();
    exacl::to_string(&entries).map(Some)
}

/// Whether an entry is one the mode cannot say: a named user or group, the mask, or part
/// of a default ACL.
fn extended(e: &exacl::AclEntry) -> bool {
    use exacl::AclEntryKind::{Group, Mask, User};
    e.flags.contains(exacl::Flag::DEFAULT)
        || e.kind == Mask
        || (matches!(e.kind, User | Group) && !e.name.is_empty())
}

/// Errors that mean "no ACLs here": the file system has none.
fn no_acls(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP))
}

/// Puts ACL text back in a canonical order, so that two texts of one ACL compare equal.
pub fn canonical_acl(text: &str) -> io::Result<String> {
    let mut entries = exacl::from_str(text)?;
    entries.sort();
    exacl::to_string(&entries)
}

impl Root {
    /// The ACL of `rel` (the root folder itself for `None`), as [`read_acl`] gives it; a
    /// symlink has none.
    pub fn acl(&self, rel: Option<&RelPath>) -> io::Result<Option<String>> {
        self.with_inode_path(rel, read_acl)
    }

    /// Gives `rel` the ACL `text` (from [`read_acl`]); `None` leaves only what `mode` says,
    /// removing any named entries and a folder's default ACL.
    pub fn set_acl(&self, rel: Option<&RelPath>, text: Option<&str>, mode: u32) -> io::Result<()> {
        let entries = match text {
            Some(text) => exacl::from_str(text)?,
            None => exacl::from_mode(mode),
        };
        self.with_inode_path(rel, |path| exacl::setfacl(&[path], &entries, None))
    }

    /// The permission bits the default ACL of folder `rel` gives what is made in it (the
    /// owner's, the mask's or else the owning group's, and others'); `None` when it has no
    /// default ACL, so that the umask applies.
    pub fn default_acl_perms(&self, rel: Option<&RelPath>) -> io::Result<Option<u32>> {
        use exacl::AclEntryKind::{Group, Mask, Other, User};
        let entries = match self.with_inode_path(rel, |path| {
            exacl::getfacl(path, exacl::AclOption::DEFAULT_ACL)
        }) {
            Ok(entries) => entries,
            Err(e) if no_acls(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if entries.is_empty() {
            return Ok(None);
        }
        let bits = |kind, shift: u32| -> Option<u32> {
            entries
                .iter()
                .find(|e| e.kind == kind && e.name.is_empty())
                .map(|e| (e.perms.bits() & 7) << shift)
        };
        let group = bits(Mask, 3).or_else(|| bits(Group, 3)).unwrap_or(0);
        Ok(Some(
            bits(User, 6).unwrap_or(0) | group | bits(Other, 0).unwrap_or(0),
        ))
    }

    /// Runs `f` on a path that names the inode at `rel` itself (see the module's docs).
    fn with_inode_path<T>(
        &self,
        rel: Option<&RelPath>,
        f: impl FnOnce(&Path) -> io::Result<T>,
    ) -> io::Result<T> {
        let (dir, name) = self.at(rel)?;
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())
            .map_err(|e| errno_at(self.shown_at(rel), e))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        f(&path).map_err(|e| at(self.shown_at(rel), e))
    }
}
