//! The receiver's other changes inside a [`Root`]: owners, device nodes and fifos, hard links
//! and files rewritten in place. Each acts on its last component with an `*at` call that does
//! not follow a symlink there, after a walk that follows none on the way (see [`Root`]).

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::{rename_error, Root, SYMLINK_IN_PATH};
use crate::error::{errno_at, explained};
use crate::{temp, RelPath, PERMISSION_BITS};

impl Root {
    /// Sets the owner and/or group of `rel` (the root folder itself for `None`); `None` leaves
    /// that one as it is. A symlink gets a new owner itself (fchownat with
    /// AT_SYMLINK_NOFOLLOW, as lchown), never its target.
    ///
    /// `u32::MAX` is refused (EINVAL): to the kernel it means "leave unchanged", which is
    /// not what a peer that sends it asks for.
    pub fn chown(
        &self,
        rel: Option<&RelPath>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<()> {
        if uid == Some(u32::MAX) || gid == Some(u32::MAX) {
            return Err(explained(
                self.shown_at(rel),
                Errno::INVAL.into(),
                "cannot be given owner or group 4294967295 (it means 'unchanged' to the kernel)",
            ));
        }
        let (dir, name) = self.at(rel)?;
        rustix::fs::chownat(
            &dir,
            name,
            uid.map(Uid::from_raw),
            gid.map(Gid::from_raw),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| errno_at(self.shown_at(rel), e))
    }

    /// Makes a device node, fifo or socket at `rel` (rsync's `-D`): `mode` holds the type bits
    /// (`S_IFCHR`, `S_IFBLK`, `S_IFIFO` or `S_IFSOCK`) and the permission bits (less the umask,
    /// as mknod does), `rdev` the device number of a device. Any other type is refused, so
    /// that a peer cannot have a regular file or directory made this way. Whatever is at
    /// `rel` already is an error (EEXIST): remove it first.
    pub fn mknod(&self, rel: &RelPath, mode: u32, rdev: u64) -> io::Result<()> {
        let kind = FileType::from_raw_mode(mode);
        if !matches!(
            kind,
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket
        ) {
            return Err(explained(
                self.shown(rel),
                Errno::INVAL.into(),
                "cannot be made as a device, fifo or socket: the mode names another type",
            ));
        }
        let (dir, name) = self.parent(rel, false)?;
        let rdev = if kind == FileType::Fifo || kind == FileType::Socket {
            0
        } else {
            rdev
        };
        rustix::fs::mknodat(
            &dir,
            name,
            kind,
            Mode::from_raw_mode(mode & PERMISSION_BITS),
            rdev,
        )
        .map_err(|e| errno_at(self.shown(rel), e))
    }

    /// Makes `new` a hard link of `existing`, both inside the root, atomically replacing a
    /// file or symlink at `new` (a temp link renamed over it, as [`Root::symlink`] does), so
    /// that `new` is at every moment the old file or the linked one. A symlink at `existing`
    /// is linked itself, never followed (linkat without AT_SYMLINK_FOLLOW); a directory at
    /// `new` is an error that names it. Linking a name to its own inode changes nothing.
    pub fn hard_link(&self, existing: &RelPath, new: &RelPath) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(existing, false)?;
        self.link_at(&from_dir, from_name, &self.shown(existing), new)
    }

    /// Makes `new` a hard link of `name` in the folder `dir`, outside the root (rsync's
    /// `--link-dest` folders, which the caller opened by its own walk), replacing what is at
    /// `new` as [`Root::hard_link`] does; `shown` names it in errors. Only `new` is confined
    /// here; `name` is linked itself, never followed.
    pub fn hard_link_from(
        &self,
        dir: &impl AsFd,
        name: &[u8],
        shown: &Path,
        new: &RelPath,
    ) -> io::Result<()> {
        self.link_at(dir, name, shown, new)
    }

    /// Renames `from` to `to`, both inside the root, replacing a file or symlink at `to`
    /// (rsync's `--delay-updates`, which moves finished files into place at the end).
    pub fn rename(&self, from: &RelPath, to: &RelPath) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(from, false)?;
        let (to_dir, to_name) = self.parent(to, false)?;
        rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name)
            .map_err(|e| rename_error(self.shown(to), e))
    }

    /// Renames `from`, inside `other` (a folder on the same file system, such as an
    /// absolute `--partial-dir`), to `to` inside this root, replacing a file there.
    pub fn rename_from(&self, other: &Root, from: &RelPath, to: &RelPath) -> io::Result<()> {
        let (from_dir, from_name) = other.parent(from, false)?;
        let (to_dir, to_name) = self.parent(to, false)?;
        rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name)
            .map_err(|e| rename_error(self.shown(to), e))
    }

    /// Moves the entry at `rel` to `to`, a path outside the root that the operator named
    /// (rsync's backups), replacing a file there; with `keep`, `to` becomes a hard link of
    /// it instead and `rel` stays. Only `rel` is confined; `to`'s folder must exist.
    pub fn move_out(&self, rel: &RelPath, to: &Path, keep: bool) -> io::Result<()> {
        let (dir, name) = self.parent(rel, false)?;
        let to_name = to.as_os_str().as_bytes();
        if !keep {
            return rustix::fs::renameat(&dir, name, rustix::fs::CWD, to_name)
                .map_err(|e| errno_at(self.shown(rel), e));
        }
        let link = || rustix::fs::linkat(&dir, name, rustix::fs::CWD, to_name, AtFlags::empty());
        match link() {
            Err(Errno::EXIST) => {
                rustix::fs::unlinkat(rustix::fs::CWD, to_name, AtFlags::empty())
                    .map_err(|e| errno_at(to, e))?;
                link().map_err(|e| errno_at(self.shown(rel), e))
            }
            other => other.map_err(|e| errno_at(self.shown(rel), e)),
        }
    }

    fn link_at(
        &self,
        from_dir: &impl AsFd,
        from_name: &[u8],
        shown: &Path,
        new: &RelPath,
    ) -> io::Result<()> {
        let (to_dir, to_name) = self.parent(new, false)?;
        for _ in 0..temp::TRIES {
            let tmp = temp::temp_name(to_name);
            match rustix::fs::linkat(
                from_dir,
                from_name,
                &to_dir,
                tmp.as_slice(),
                AtFlags::empty(),
            ) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(errno_at(shown, e)),
            }
            let renamed = rustix::fs::renameat(&to_dir, tmp.as_slice(), &to_dir, to_name);
            // Both on error and when `new` already was this inode (rename then does nothing,
            // as POSIX says), the temp name is left over: it is only a name, remove it.
            let leftover = rustix::fs::statat(&to_dir, tmp.as_slice(), AtFlags::SYMLINK_NOFOLLOW);
            if leftover.is_ok() {
                let _ = rustix::fs::unlinkat(&to_dir, tmp.as_slice(), AtFlags::empty());
            }
            return renamed.map_err(|e| rename_error(self.shown(new), e));
        }
        Err(explained(
            self.shown(new),
            Errno::EXIST.into(),
            "no free temporary name beside it; remove old '.*.prtools-*' files",
        ))
    }

    /// Opens the regular file at `rel` for reading and writing, making it (empty, mode 0600)
    /// if nothing is there: rsync's `--inplace`, which rewrites the file itself rather than
    /// a temp file. O_NOFOLLOW, so a symlink there is an error and never written through,
    /// as is anything that is not a regular file (a fifo or device is refused before a byte
    /// moves; O_NONBLOCK keeps a fifo from hanging the open).
    pub fn open_file_rw(&self, rel: &RelPath) -> io::Result<File> {
        let (dir, name) = self.parent(rel, false)?;
        let flags = OFlags::RDWR
            | OFlags::CREATE
            | OFlags::NOFOLLOW
            | OFlags::NONBLOCK
            | OFlags::NOCTTY
            | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o600)).map_err(
            |e| match e {
                Errno::LOOP => explained(self.shown(rel), e.into(), SYMLINK_IN_PATH),
                e => errno_at(self.shown(rel), e),
            },
        )?;
        self.regular_only(rel, fd, OFlags::RDWR)
    }

    /// `fd` as a blocking [`File`] if it is a regular file, else an error that names `rel`.
    pub(super) fn regular_only(
        &self,
        rel: &RelPath,
        fd: OwnedFd,
        flags: OFlags,
    ) -> io::Result<File> {
        let stat = rustix::fs::fstat(&fd).map_err(|e| errno_at(self.shown(rel), e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(explained(
                self.shown(rel),
                Errno::INVAL.into(),
                "is not a regular file",
            ));
        }
        rustix::fs::fcntl_setfl(&fd, flags).map_err(|e| errno_at(self.shown(rel), e))?;
        Ok(File::from(fd))
    }
}
