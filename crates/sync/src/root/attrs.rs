//! Extended attributes (rsync's `-X`), read and written without following a final symlink
//! and, inside a [`Root`], through the confined walk like every other change.
//!
//! The `xattr` crate takes paths. Inside a root, the path given to it is the walked parent
//! folder's descriptor as `/proc/self/fd/N` plus the last component: the kernel resolves the
//! descriptor to the folder the walk reached (not whatever its name holds now), and the
//! `l*xattr` calls the crate makes do not follow the last component, so no symlink planted
//! in the destination can lead an attribute write outside it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::AsFd;

use super::Root;
use crate::error::at;
use crate::RelPath;

/// One extended attribute: its full name (`user.foo`) and its value.
pub type Xattr = (Vec<u8>, Vec<u8>);

/// The extended attributes of `path` itself (a final symlink is not followed), sorted by
/// name. A file system that has none, or a name that vanished while it was read, gives
/// fewer, never an error.
pub fn read_xattrs(path: &Path) -> io::Result<Vec<Xattr>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names {
        match xattr::get(path, &name) {
            Ok(Some(value)) => out.push((name.as_bytes().to_vec(), value)),
            Ok(None) => {}
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort();
    Ok(out)
}

/// Errors that mean "no such attributes here" rather than a failure: the file system has
/// none (ENOTSUP), or the name went between list and get (ENODATA).
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::ENODATA))
}

impl Root {
    /// The extended attributes of `rel` (the root folder itself for `None`), sorted by name,
    /// as [`read_xattrs`] reads them.
    pub fn xattrs(&self, rel: Option<&RelPath>) -> io::Result<Vec<Xattr>> {
        self.with_xattr_path(rel, read_xattrs)
    }

    /// Sets the extended attribute `name` of `rel` to `value`.
    pub fn set_xattr(&self, rel: Option<&RelPath>, name: &[u8], value: &[u8]) -> io::Result<()> {
        self.with_xattr_path(rel, |path| xattr::set(path, OsStr::from_bytes(name), value))
    }

    /// Removes the extended attribute `name` of `rel`; one already gone is no error.
    pub fn remove_xattr(&self, rel: Option<&RelPath>, name: &[u8]) -> io::Result<()> {
        self.with_xattr_path(rel, |path| {
            match xattr::remove(path, OsStr::from_bytes(name)) {
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => Ok(()),
                other => other,
            }
        })
    }

    /// Runs `f` on the confined path of `rel` (see the module's docs) while the walked
    /// folder's descriptor is held; its error names `rel` as the user knows it.
    fn with_xattr_path<T>(
        &self,
        rel: Option<&RelPath>,
        f: impl FnOnce(&Path) -> io::Result<T>,
    ) -> io::Result<T> {
        let (dir, name) = self.at(rel)?;
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
        path.push(OsStr::from_bytes(name));
        let result = f(&path);
        drop(dir);
        result.map_err(|e| at(self.shown_at(rel), e))
    }
}
