//! Opening a path beneath a folder, following the symlinks on the way only while they stay
//! inside it: what rsync 3.5.0 does where the user's own tree may hold links (the sender's
//! source, `-R --no-implied-dirs`' destination path), and what a confined walk that follows
//! no link at all would refuse.
//!
//! On Linux this is `openat2(RESOLVE_BENEATH)`: the kernel resolves the whole path and fails
//! (EXDEV) as soon as any step, a `..` or a link's target, would leave the folder. Where that
//! call is missing (a kernel before 5.6, a seccomp filter that answers ENOSYS) the same is
//! done by hand: one held descriptor a folder, a link's target spliced into what is left of
//! the path, `..` popping a held folder, and every open made with O_NOFOLLOW, so that a link
//! swapped in between the look and the open is refused, never followed.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::platform;
use crate::relpath::walk_parts;

/// How many links one resolution may go through, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// How often `openat2` is retried when the kernel saw a rename race during the lookup.
const RACE_RETRIES: usize = 8;

/// Opens `path` (relative, `/`-separated) beneath `dir` with `flags`, following each symlink
/// on the way, and the last component's too unless `flags` has O_NOFOLLOW, as long as it
/// leads to somewhere beneath `dir`. A link that leads out (an absolute target, or `..`
/// above `dir`) fails with ELOOP, as rsync's own resolver refuses it.
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> Result<OwnedFd, Errno> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::ResolveFlags;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let path = if path.is_empty() { &b"."[..] } else { path };
        for _ in 0..RACE_RETRIES {
            match rustix::fs::openat2(dir, path, flags, Mode::empty(), resolve) {
                Err(Errno::AGAIN) => continue,
                // Not there (an old kernel, a container's filter): by hand below.
                Err(Errno::NOSYS) => break,
                Err(Errno::XDEV) => return Err(Errno::LOOP),
                other => return other,
            }
        }
    }
    walk_beneath(dir, path, flags)
}

/// [`open_beneath`] by hand, one component at a time.
pub(crate) fn walk_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
) -> Result<OwnedFd, Errno> {
    // What is left of the path, its next component last.
    let mut todo: Vec<Vec<u8>> = walk_parts(path);
    // The folders entered below `dir`, the current one last.
    let mut held: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    let follow_last = !flags.contains(OFlags::NOFOLLOW);
    while let Some(name) = todo.pop() {
        let last = todo.is_empty();
        let here = held.last().map_or(dir, |fd| fd.as_fd());
        if name == b".." {
            if held.pop().is_none() {
                return Err(Errno::LOOP);
            }
            if last {
                let here = held.last().map_or(dir, |fd| fd.as_fd());
                return rustix::fs::openat(here, ".", flags, Mode::empty());
            }
            continue;
        }
        let stat = match rustix::fs::statat(here, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Some(stat),
            // Not there: an open that creates it may still succeed, and a missing folder
            // fails below with the OS's own reason.
            Err(Errno::NOENT) => None,
            Err(e) => return Err(e),
        };
        let is_link = stat.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
        if is_link && (!last || follow_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::LOOP);
            }
            let target = rustix::fs::readlinkat(here, name.as_slice(), Vec::new())?.into_bytes();
            if target.starts_with(b"/") {
                return Err(Errno::LOOP);
            }
            // The target's components come before what was left of the path.
            let spliced = walk_parts(&target);
            if last && spliced.is_empty() {
                todo.push(b".".to_vec());
            }
            todo.extend(spliced);
            continue;
        }
        if last {
            return rustix::fs::openat(
                here,
                name.as_slice(),
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            );
        }
        let next = rustix::fs::openat(here, name.as_slice(), platform::DIR_WALK, Mode::empty())?;
        held.push(next);
    }
    // Only `.` components: the folder itself.
    let here = held.last().map_or(dir, |fd| fd.as_fd());
    rustix::fs::openat(here, ".", flags, Mode::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// The kernel's resolution and the walk by hand agree: links inside are followed, a
    /// `..` back into the folder is fine, and every way out is ELOOP.
    #[test]
    fn follows_inner_links_and_refuses_the_way_out() {
        let top = std::env::temp_dir().join(format!("prtools-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        let root = top.join("root");
        std::fs::create_dir_all(root.join("real/deep")).unwrap();
        std::fs::create_dir_all(top.join("outside")).unwrap();
        std::fs::write(root.join("real/deep/file"), b"in").unwrap();
        std::fs::write(top.join("outside/file"), b"out").unwrap();
        symlink("real", root.join("in")).unwrap();
        symlink("../real/deep", root.join("real/sideways")).unwrap();
        symlink("../outside", root.join("up")).unwrap();
        symlink(top.join("outside"), root.join("abs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let dir = rustix::fs::open(&root, platform::DIR_WALK, Mode::empty()).unwrap();
        let read = OFlags::RDONLY | OFlags::CLOEXEC;
        for open in [open_beneath, walk_beneath] {
            let content = |path: &str, flags| {
                open(dir.as_fd(), path.as_bytes(), flags).map(|fd| {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s).unwrap();
                    s
                })
            };
            assert_eq!(content("in/deep/file", read).unwrap(), "in");
            assert_eq!(content("real/sideways/file", read).unwrap(), "in");
            assert_eq!(content("in/sideways/../deep/./file", read).unwrap(), "in");
            assert_eq!(content("up/file", read), Err(Errno::LOOP));
            assert_eq!(content("abs/file", read), Err(Errno::LOOP));
            assert_eq!(content("real/../../outside/file", read), Err(Errno::LOOP));
            assert_eq!(content("loop/file", read), Err(Errno::LOOP));
            // O_NOFOLLOW governs the last component only.
            assert!(content("in", read | OFlags::NOFOLLOW | OFlags::DIRECTORY).is_err());
            assert!(open(dir.as_fd(), b"in", read | OFlags::DIRECTORY).is_ok());
            assert!(open(dir.as_fd(), b"", read | OFlags::DIRECTORY).is_ok());
        }
        let _ = std::fs::remove_dir_all(&top);
    }
}
