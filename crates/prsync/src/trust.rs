//! rsync 3.5.0's guard on the destination's path: a symlink on the way to it must belong to
//! root or to the user running the copy. Another user's symlink could send the files (and
//! the deletions of `--delete`) anywhere that user likes, into folders only we may write.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

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

/// [`check_destination`] for another path the operator named (`--temp-dir`, `--backup-dir`,
/// `--files-from`...): the same rule, which `--insecure-links` lifts.
pub fn check_operator_path(path: &Path, insecure: bool) -> Result<(), String> {
    match insecure {
        true => Ok(()),
        false => check_destination(path),
    }
}

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
