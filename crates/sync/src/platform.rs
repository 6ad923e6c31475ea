//! The few calls whose race-free form differs between Linux and other Unixes.

use rustix::fd::BorrowedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Result;

/// Flags for opening each directory of a confined walk: never through a symlink, and on Linux
/// as O_PATH, which needs only search (`x`) permission, as ordinary path lookup does, so that
/// a `rwx-wx-wx` drop folder can be written below like any other. Every `*at` call takes such
/// a descriptor; only fsync needs a real one (see [`open_for_sync`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const DIR_WALK: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// See the Linux twin: elsewhere O_PATH is missing, so directories are opened for reading.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const DIR_WALK: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A descriptor of `dir` that fsync accepts (an O_PATH one does not).
pub(crate) fn open_for_sync(dir: BorrowedFd<'_>) -> Result<rustix::fd::OwnedFd> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Sets the permission bits of `dir/name` unless it is a symlink (whose bits mean nothing on
/// Linux), never following a symlink, even one swapped in while this runs.
///
/// Linux has no `lchmod` (`fchmodat(AT_SYMLINK_NOFOLLOW)` fails with EOPNOTSUPP before the
/// fchmodat2 call of 6.6), so this does what glibc does: open the name itself with
/// O_PATH|O_NOFOLLOW, which pins the inode without reading it, check that it is not a link,
/// and chmod it through its `/proc/self/fd` entry, which names that very inode. Without /proc
/// it opens the name for reading, again with O_NOFOLLOW, and uses fchmod.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn chmod_nofollow(dir: BorrowedFd<'_>, name: &[u8], mode: Mode) -> Result<()> {
    use rustix::fd::AsRawFd;
    use rustix::fs::FileType;
    use rustix::io::Errno;

    let pinned = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&pinned)?;
    if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
        return Ok(());
    }
    let proc_path = format!("/proc/self/fd/{}", pinned.as_raw_fd());
    match rustix::fs::chmod(proc_path.as_str(), mode) {
        Err(Errno::NOENT) => {}
        done => return done,
    }
    // O_NONBLOCK so that a fifo swapped in does not block the open; O_NOCTTY so that a
    // terminal does not become ours.
    let opened = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::fchmod(&opened, mode)
}

/// BSDs and macOS have a working `fchmodat(AT_SYMLINK_NOFOLLOW)`; a symlink is left alone to
/// match Linux.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn chmod_nofollow(dir: BorrowedFd<'_>, name: &[u8], mode: Mode) -> Result<()> {
    use rustix::fs::{AtFlags, FileType};

    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
        return Ok(());
    }
    rustix::fs::chmodat(dir, name, mode, AtFlags::SYMLINK_NOFOLLOW)
}
