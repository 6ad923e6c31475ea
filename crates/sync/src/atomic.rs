//! Files that appear whole or not at all.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fd::AsFd;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{at, errno_at, explained};
use crate::root::{rename_error, Dir};
use crate::{cleanup, platform, temp, Mtime, PERMISSION_BITS};

/// A file being written under a temp name beside its final name, made by
/// [`Root::create_file`](crate::Root::create_file).
///
/// Nothing is visible under the final name until [`AtomicFile::commit`] renames the finished
/// file over it in one step, so a reader (or a crash, a full disk, a killed connection) sees
/// the old file or the new one, never a part. Dropping it without a commit removes the temp
/// file, so an error path needs no cleanup of its own.
///
/// Write errors name the final path: `/tmp/stage/big: No space left on device (os error
/// 28)`; [`raw_os_error`](crate::raw_os_error) still gives the errno.
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    dir: Dir,
    name: Vec<u8>,
    temp: Vec<u8>,
    shown: PathBuf,
    committed: bool,
    /// Its number on the list of temp files a stop signal removes.
    listed: u64,
    /// Where the final name is, when the temp file is in another folder (rsync's
    /// `--temp-dir`); else beside it, in `dir`.
    target: Option<Dir>,
}

impl AtomicFile {
    /// Creates a temp file for `dir/name`; `shown` is the final path, for messages. It is
    /// open for reading too, so that what was written can be read back (rsync's
    /// `--inplace` writes it over the old file rather than renaming it).
    pub(crate) fn create(dir: Dir, name: &[u8], shown: PathBuf) -> io::Result<AtomicFile> {
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..temp::TRIES {
            let temp = temp::temp_name(name);
            match rustix::fs::openat(&dir, temp.as_slice(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => {
                    // Held while the file is open, and dropped by the kernel when this
                    // process dies: how a later sweep tells a leftover from live work (see
                    // `Root::sweep_temps`). Marked only once locked, so a marked file whose
                    // lock is free has lost its writer; a filesystem without locks, or
                    // without xattrs, leaves the file unmarked and only loses the sweep.
                    if rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                        .is_ok()
                    {
                        temp::mark(&fd, &temp);
                    }
                    let listed = cleanup::register(dir.as_fd().as_raw_fd(), &temp);
                    return Ok(AtomicFile {
                        file: File::from(fd),
                        dir,
                        name: name.to_vec(),
                        temp,
                        shown,
                        committed: false,
                        listed,
                        target: None,
                    });
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(errno_at(shown, e)),
            }
        }
        Err(explained(
            shown,
            Errno::EXIST.into(),
            "no free temporary name beside it; remove old '.*.prtools-*' files",
        ))
    }

    /// Like [`AtomicFile::create`], but the temp file is made in `temp_dir` (rsync's
    /// `--temp-dir`) and [`AtomicFile::commit`] moves it to `name` in `target`.
    pub(crate) fn create_elsewhere(
        temp_dir: Dir,
        target: Dir,
        name: &[u8],
        shown: PathBuf,
    ) -> io::Result<AtomicFile> {
        let mut file = AtomicFile::create(temp_dir, name, shown)?;
        file.target = Some(target);
        Ok(file)
    }

    /// The final path, as messages show it.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The open temp file, for calls that `Write` does not cover (`set_len` to preallocate,
    /// `copy_file_range` from a source).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Finishes the file: sets `mode` (permission bits) and, if given, the mtime, fsyncs it
    /// if `fsync` is set, and renames it over the final name, replacing a file or symlink
    /// there. A directory at the final name is an error that names it.
    ///
    /// With `fsync`, the directory is synced after the rename too, so that the new name
    /// survives a power cut, not just the bytes.
    pub fn commit(mut self, mode: u32, mtime: Option<Mtime>, fsync: bool) -> io::Result<()> {
        temp::unmark(&self.file);
        // Mode before the rename: the file is never visible with the wrong bits. Setuid and
        // setgid go on last of all, after the writes, which would clear them.
        rustix::fs::fchmod(&self.file, Mode::from_raw_mode(mode & PERMISSION_BITS))
            .map_err(|e| errno_at(&self.shown, e))?;
        if let Some(mtime) = mtime {
            filetime::set_file_handle_times(&self.file, None, Some(mtime.to_file_time()))
                .map_err(|e| at(&self.shown, e))?;
        }
        if fsync {
            self.file.sync_all().map_err(|e| at(&self.shown, e))?;
        }
        let target = self.target.as_ref().unwrap_or(&self.dir);
        match rustix::fs::renameat(
            &self.dir,
            self.temp.as_slice(),
            target,
            self.name.as_slice(),
        ) {
            Ok(()) => {}
            // A temp folder on another file system: copied beside the final name, then
            // renamed over it there, so that the name still changes in one step.
            Err(Errno::XDEV) if self.target.is_some() => {
                return self.commit_by_copy(mode, mtime, fsync)
            }
            Err(e) => return Err(rename_error(self.shown.clone(), e)),
        }
        self.committed = true;
        cleanup::forget(self.listed);
        if fsync {
            let parent = self.shown.parent().unwrap_or(&self.shown);
            platform::open_for_sync(self.dir.as_fd())
                .and_then(rustix::fs::fsync)
                .map_err(|e| errno_at(parent, e))?;
        }
        Ok(())
    }
}

impl AtomicFile {
    /// [`AtomicFile::commit`] across file systems: the bytes copied into a temp file beside
    /// the final name, which is committed; this one is then removed.
    fn commit_by_copy(self, mode: u32, mtime: Option<Mtime>, fsync: bool) -> io::Result<()> {
        let target = match &self.target {
            Some(Dir::Shared(fd)) => Dir::Shared(std::sync::Arc::clone(fd)),
            None => unreachable!("only a file with a target is copied"),
        };
        let written = rustix::fs::openat(
            &self.dir,
            self.temp.as_slice(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_at(&self.shown, e))?;
        let mut beside = AtomicFile::create(target, &self.name, self.shown.clone())?;
        io::copy(&mut File::from(written), &mut beside)?;
        beside.commit(mode, mtime, fsync)
        // `self` is dropped here, uncommitted: its temp file goes.
    }
}

#[cfg(test)]
impl AtomicFile {
    /// Closes the file as a killed writer's death would: the temp file stays, marked, and
    /// its lock is free.
    pub(crate) fn abandon(mut self) {
        cleanup::forget(self.listed);
        self.committed = true;
    }
}

impl AtomicFile {
    /// rsync's `--partial`: if a stop signal comes before the commit, what was written so
    /// far takes the final name instead of being removed (see `remove_temps_on_signal`).
    pub fn keep_on_stop(&self) {
        let keep = cleanup::Keep {
            into: None,
            subdir: None,
            name: self.name.clone(),
        };
        cleanup::keep_on_stop(self.listed, keep);
    }

    /// rsync's `--partial-dir`: if a stop signal comes before the commit, what was written
    /// so far goes to `name` in `folder` (a [`Root`](crate::Root) of its own, for an
    /// absolute partial folder), or in `subdir` beside the final name, made if missing.
    pub fn keep_on_stop_in(
        &self,
        folder: Option<&crate::Root>,
        subdir: Option<&[u8]>,
        name: &[u8],
    ) {
        cleanup::keep_on_stop(self.listed, self.keep(folder, subdir, name));
    }

    /// `--partial-dir` after an error: what was written is moved where
    /// [`AtomicFile::keep_on_stop_in`] would move it, instead of being removed.
    pub fn keep_in(
        mut self,
        folder: Option<&crate::Root>,
        subdir: Option<&[u8]>,
        name: &[u8],
    ) -> io::Result<()> {
        temp::unmark(&self.file);
        let keep = self.keep(folder, subdir, name);
        cleanup::move_to_keep(self.dir.as_fd().as_raw_fd(), &self.temp, &keep)
            .map_err(|e| at(&self.shown, e))?;
        self.committed = true;
        cleanup::forget(self.listed);
        Ok(())
    }

    fn keep(
        &self,
        folder: Option<&crate::Root>,
        subdir: Option<&[u8]>,
        name: &[u8],
    ) -> cleanup::Keep {
        cleanup::Keep {
            into: folder.map(|f| f.raw_fd()),
            subdir: subdir.map(<[u8]>::to_vec),
            name: name.to_vec(),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf).map_err(|e| at(&self.shown, e))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.file
            .write_vectored(bufs)
            .map_err(|e| at(&self.shown, e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| at(&self.shown, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: drop cannot report, and a leftover is recognisable by its name
            // (`is_temp_name`) for a later cleanup.
            let _ = rustix::fs::unlinkat(&self.dir, self.temp.as_slice(), AtFlags::empty());
            cleanup::forget(self.listed);
        }
    }
}
