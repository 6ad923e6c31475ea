//! rsync 3.5.0's guard on the destination's path: a symlink on the way to it must belong to
//! root or to the user running the copy. Another user's symlink could send the files (and
//! the deletions of `--delete`) anywhere that user likes, into folders only we may write.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use prtools_sync::walk_parts;
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// How many symlinks a path may lead through, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// Follows `dest` one component at a time, as the kernel would, and refuses it if a symlink
/// on the way belongs to neither root nor this user. What does not exist yet ends the walk:
/// it will be made, not followed.
pub fn check_destination(dest: &Path) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    let start = if dest.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?
    };
    let mut todo: Vec<PathBuf> = components(dest);
    todo.reverse();
    let mut at = start;
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part.as_os_str() == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => return Ok(()),
        };
        if !meta.file_type().is_symlink() {
            at = next;
            continue;
        }
        if meta.uid() != 0 && meta.uid() != me {
            return Err(format!(
                "refusing to follow a symlink owned by an untrusted user: {} (uid {}); hint: \
                 use --insecure-links only if every folder on the path is trusted",
                next.display(),
                meta.uid()
            ));
        }
        links += 1;
        if links > MAX_LINKS {
            return Ok(());
        }
        let target = std::fs::read_link(&next).map_err(|e| e.to_string())?;
        if target.is_absolute() {
            at = PathBuf::from("/");
        }
        for part in components(&target).into_iter().rev() {
            todo.push(part);
        }
    }
    Ok(())
}

/// `--confine-root`: whether `path`, as it resolves now (symlinks and all, or its nearest
/// existing parent when it is still to be made), is inside `root`.
pub fn inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = std::fs::canonicalize(root) else {
        return false;
    };
    let mut at = path.to_path_buf();
    loop {
        if let Ok(real) = std::fs::canonicalize(&at) {
            return real.starts_with(&root);
        }
        if !at.pop() || at.as_os_str().is_empty() {
            return std::env::current_dir().is_ok_and(|d| d.starts_with(&root));
        }
    }
}

/// [`check_destination`] for another path the operator named (`--temp-dir`, `--backup-dir`,
/// `--files-from`...): the same rule, which `--insecure-links` lifts.
pub fn check_operator_path(path: &Path, insecure: bool) -> Result<(), String> {
    match insecure {
        true => Ok(()),
        false => check_destination(path),
    }
}

/// Opens the folder `path`, an operator's path (`--backup-dir`, a `--copy-dest` folder), by
/// descriptor under the same rule as [`check_destination`]: a symlink on the way that root or
/// this user owns is followed, another user's is refused (ELOOP, with a message that names
/// it). Each step is an `openat` with O_NOFOLLOW from the folder before, so a link swapped in
/// after the look is refused, never followed, which a check of the path and an open of it
/// afterwards cannot promise. With `create`, missing folders are made (mode 0777 less the
/// umask, as `mkdir -p`). `insecure` (`--insecure-links`) opens the path as it is.
pub fn open_dir(path: &Path, create: bool, insecure: bool) -> io::Result<OwnedFd> {
    let shown = |e: Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{}: {}", path.display(), io::Error::from(e)),
        )
    };
    if insecure {
        if create {
            std::fs::create_dir_all(path)?;
        }
        let follow = DIR_FLAGS.difference(OFlags::NOFOLLOW);
        return rustix::fs::open(path, follow, Mode::empty()).map_err(shown);
    }
    let me = rustix::process::geteuid().as_raw();
    let start = if path.is_absolute() { "/" } else { "." };
    let mut at = rustix::fs::open(start, DIR_FLAGS, Mode::empty()).map_err(shown)?;
    let mut todo: Vec<Vec<u8>> = walk_parts(path.as_os_str().as_bytes());
    let mut links = 0;
    while let Some(name) = todo.pop() {
        let stat = match rustix::fs::statat(&at, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&at, name.as_slice(), Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(shown(e)),
                }
                rustix::fs::statat(&at, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
            }
            other => other,
        }
        .map_err(shown)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
            at = rustix::fs::openat(&at, name.as_slice(), DIR_FLAGS, Mode::empty())
                .map_err(shown)?;
            continue;
        }
        #[allow(clippy::unnecessary_cast)]
        let owner = stat.st_uid as u32;
        if owner != 0 && owner != me {
            return Err(io::Error::other(format!(
                "{REFUSAL}: {} (uid {owner}) \
                     on the way to {}; hint: use --insecure-links only if every folder on the \
                     path is trusted",
                String::from_utf8_lossy(&name),
                path.display()
            )));
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(shown(Errno::LOOP));
        }
        let target = rustix::fs::readlinkat(&at, name.as_slice(), Vec::new())
            .map_err(shown)?
            .into_bytes();
        if target.starts_with(b"/") {
            at = rustix::fs::open("/", DIR_FLAGS, Mode::empty()).map_err(shown)?;
        }
        todo.extend(walk_parts(&target));
    }
    Ok(at)
}

/// Whether `e` is [`open_dir`]'s refusal of another user's symlink, rather than the OS's
/// reason for a missing or unreadable folder.
pub fn is_refusal(e: &io::Error) -> bool {
    e.to_string().starts_with(REFUSAL)
}

/// How [`open_dir`]'s refusal begins.
const REFUSAL: &str = "refusing to follow a symlink owned by an untrusted user";

/// [`open_dir`] for the folder holding `path`, and `path`'s last component: where an
/// operator's file is looked at or made, the component itself acted on with an `*at` call.
pub fn open_parent(path: &Path, create: bool, insecure: bool) -> io::Result<(OwnedFd, Vec<u8>)> {
    let bytes = path.as_os_str().as_bytes();
    let (dir, name) = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &bytes[1..]),
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (&b"."[..], bytes),
    };
    let dir = open_dir(Path::new(OsStr::from_bytes(dir)), create, insecure)?;
    Ok((dir, name.to_vec()))
}

/// How the folders of [`open_dir`] are opened: never through a symlink, and on Linux as
/// O_PATH, which needs only search permission, as a lookup does.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// See the Linux twin: elsewhere O_PATH is missing, so folders are opened for reading.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The normal and `..` components of `path` (`.` and the root say nothing here).
fn components(path: &Path) -> Vec<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}
