//! rsync's `--partial-dir`: what arrived of an interrupted file is kept in a folder of its
//! own, beside the file (a relative folder, made when needed and removed once empty) or in
//! one place for every file (an absolute folder, by the file's last name). The next run
//! uses it as the basis of the file's delta, then removes it.
//!
//! A partial that is there takes the new file itself, as rsync 3.5.0's receiver writes it
//! ("one inplace", receiver.c): the partial is opened for writing where it is, rewritten,
//! and moved into place. That open goes through a walk of its own, component by component,
//! that never passes a symlink; when the open is refused (EACCES, which Linux's
//! `fs.protected_regular` gives an O_CREAT open of a file that another user owns in a
//! sticky folder) it is tried again without O_CREAT through a fresh walk, as rsync does,
//! so that a folder swapped for a symlink in between is refused, never followed.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use prtools_sync::{AtomicFile, Mtime, RelPath, Root};

use super::{rewind, unnamed_file, Basis, Receiver, Sender};
use crate::flist::FileEntry;

/// Where the partial file of one destination file is.
pub(super) struct PartialPlace {
    /// Its path: below the destination for a relative folder, below the absolute folder
    /// else.
    rel: RelPath,
    /// The relative folder's name, made beside the file when the partial is kept.
    subdir: Option<Vec<u8>>,
    /// The partial's own name.
    name: Vec<u8>,
}

impl<S: Sender, W: io::Write> Receiver<'_, S, W> {
    /// Where `rel`'s partial file goes, with `--partial-dir`.
    pub(super) fn partial_place(&self, rel: &RelPath) -> io::Result<Option<PartialPlace>> {
        let Some(dir) = &self.opts.partial_dir else {
            return Ok(None);
        };
        let bad = |e: prtools_sync::PathError| io::Error::new(io::ErrorKind::InvalidData, e);
        let name = rel.file_name().to_vec();
        if self.partial_root.is_some() {
            return Ok(Some(PartialPlace {
                rel: RelPath::new(name.clone()).map_err(bad)?,
                subdir: None,
                name,
            }));
        }
        let subdir = std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()).to_vec();
        let folder = match rel.parent() {
            Some(parent) => parent.join(&subdir).map_err(bad)?,
            None => RelPath::new(subdir.clone()).map_err(bad)?,
        };
        Ok(Some(PartialPlace {
            rel: folder.join(&name).map_err(bad)?,
            subdir: Some(subdir),
            name,
        }))
    }

    /// The root the partial's path is below.
    fn partial_folder(&self) -> io::Result<&Root> {
        match &self.partial_root {
            Some(root) => Ok(root),
            None => self.root(),
        }
    }

    /// Writes file `i` into its partial file, which is there (and `basis`, if any, reads),
    /// then moves it into place at `rel`: rsync's "one inplace" receiver. The partial is in
    /// a folder beside the file (a relative --partial-dir), so the move is a rename. With a basis the
    /// new file is built in an unnamed file first, since the delta reads the partial while
    /// the new bytes would overwrite it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_into_partial(
        &mut self,
        i: usize,
        e: &FileEntry,
        rel: &RelPath,
        place: &PartialPlace,
        basis: Option<Basis>,
        mode: u32,
        mtime: Option<Mtime>,
        here: bool,
    ) -> io::Result<()> {
        let root_path = self.partial_folder()?.path().to_path_buf();
        let mut out = open_partial_output(&root_path, &place.rel)?;
        let sent = match &basis {
            None if !self.opts.more.sparse => {
                rewind(&out)?;
                self.receive(i, None, &out)?
            }
            _ => {
                let mut built = unnamed_file(&self.dest.dir)?;
                let sent = self.receive(i, basis.as_ref(), &built)?;
                drop(basis);
                built.seek(io::SeekFrom::Start(0))?;
                rewind(&out)?;
                io::copy(&mut built, &mut out)?;
                sent
            }
        };
        self.account(sent);
        let len = out.stream_position()?;
        out.set_len(len)?;
        self.chown_file(&out, e)?;
        rustix::fs::fchmod(&out, rustix::fs::Mode::from_raw_mode(mode))?;
        if let Some(t) = mtime {
            filetime::set_file_handle_times(&out, None, Some(t.to_file_time()))?;
        }
        drop(out);
        if here {
            self.back_up(i, rel, super::Keep::Link)?;
        }
        self.root()?.rename(&place.rel, rel)?;
        self.drop_partial(place)
    }

    /// The partial file kept by an earlier run, to build the new file from.
    pub(super) fn partial_basis(&self, place: &PartialPlace) -> Option<File> {
        let root = self.partial_folder().ok()?;
        match root.metadata(Some(&place.rel)) {
            Ok(Some(m)) if m.is_file() && m.size > 0 => root.open_file(&place.rel).ok(),
            _ => None,
        }
    }

    /// A stop signal moves what was written of `file` to its partial place.
    pub(super) fn keep_partial_on_stop(&self, file: &AtomicFile, place: &PartialPlace) {
        file.keep_on_stop_in(
            self.partial_root.as_ref(),
            place.subdir.as_deref(),
            &place.name,
        );
    }

    /// After an error: what was written of `file` goes to its partial place.
    pub(super) fn keep_partial(&self, file: AtomicFile, place: &PartialPlace) -> io::Result<()> {
        file.keep_in(
            self.partial_root.as_ref(),
            place.subdir.as_deref(),
            &place.name,
        )
    }

    /// The file is whole: its partial, if one was there, goes, and a relative partial
    /// folder left empty goes too, as rsync removes them.
    pub(super) fn drop_partial(&self, place: &PartialPlace) -> io::Result<()> {
        let root = self.partial_folder()?;
        if root.metadata(Some(&place.rel))?.is_some() {
            root.remove(&place.rel)?;
        }
        if place.subdir.is_some() {
            if let Some(folder) = place.rel.parent() {
                if matches!(root.metadata(Some(&folder)), Ok(Some(m)) if m.is_dir()) {
                    // Not empty (other partials): it stays.
                    let _ = root.remove(&folder);
                }
            }
        }
        Ok(())
    }
}

/// Opens the partial file `rel` below `root` for writing where it is (no truncation: the
/// caller rewrites it), as rsync's receiver opens it: O_CREAT first, and on EACCES once more
/// without, each through its own walk. Never through a symlink, and only a regular file.
fn open_partial_output(root: &Path, rel: &RelPath) -> io::Result<File> {
    let shown = root.join(rel.as_path());
    let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC;
    let file = match open_leaf(root, rel, flags | libc::O_CREAT) {
        // fs.protected_regular refuses O_CREAT on an existing file of another user in a
        // sticky folder, and lets the plain open through.
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => open_leaf(root, rel, flags),
        other => other,
    };
    let file = file
        .map_err(|e| io::Error::new(e.kind(), format!("open {} failed: {e}", shown.display())))?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "open {} failed: not a regular file",
            shown.display()
        )));
    }
    Ok(file)
}

/// Walks to `rel`'s folder from `root` (opened afresh, so that a folder swapped since an
/// earlier walk is seen) and opens its last component with `flags`, mode 0600.
fn open_leaf(root: &Path, rel: &RelPath, flags: i32) -> io::Result<File> {
    let bytes = rel.as_bytes();
    let (folder, name) = match bytes.iter().rposition(|&b| b == b'/') {
        Some(k) => (&bytes[..k], &bytes[k + 1..]),
        None => (&b""[..], bytes),
    };
    let mut dir = File::open(root)?.into();
    for component in folder.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        dir = enter(&dir, component)?;
    }
    let name = c_name(name)?;
    // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string, both alive for
    // the call; the mode argument is what O_CREAT reads.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o600 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// The folder `name` inside `dir`, looked at before it is entered: a symlink is refused
/// (the walk never follows one, whoever owns it), as is anything but a folder.
fn enter(dir: &OwnedFd, name: &[u8]) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    let shown = String::from_utf8_lossy(name);
    // SAFETY: an all-zero `stat` is a valid value of the plain C struct that fstatat fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is open, `c` NUL-terminated and `st` writable, all for the call.
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {}
        libc::S_IFLNK => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "'{shown}' is a symlink, which the partial folder is never reached through"
                ),
            ))
        }
        _ => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
    }
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: as for fstatat above.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `name` for a C call (a checked path component holds no NUL; this says so if one did).
fn c_name(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}
