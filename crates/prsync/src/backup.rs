//! `-b/--backup`, `--backup-dir` and `--suffix`: what a run replaces or deletes is kept, as
//! rsync keeps it: beside itself with a suffix (`~` by default), or under the backup folder
//! at its own relative path (no suffix by default).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;

/// Where backups go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// `--backup-dir`, as given (a relative one is below the destination).
    pub dir: Option<PathBuf>,
    /// `--suffix`.
    pub suffix: Vec<u8>,
}

impl Backup {
    /// The options as typed; `None` without `-b` or `--backup-dir`. An empty suffix without
    /// a backup folder, or one with a slash, is refused in rsync's words.
    pub fn from_options(
        backup: bool,
        dir: Option<&Path>,
        suffix: Option<&[u8]>,
    ) -> Result<Option<Backup>, String> {
        if !backup && dir.is_none() {
            return Ok(None);
        }
        let suffix = match suffix {
            Some(s) => s.to_vec(),
            None if dir.is_some() => Vec::new(),
            None => b"~".to_vec(),
        };
        if suffix.contains(&b'/') {
            return Err(
                "--suffix cannot contain slashes: ".to_string() + &String::from_utf8_lossy(&suffix)
            );
        }
        if suffix.is_empty() && dir.is_none() {
            return Err("--suffix cannot be empty without --backup-dir".to_string());
        }
        Ok(Some(Backup {
            dir: dir.map(Path::to_path_buf),
            suffix,
        }))
    }

    /// Whether a file about to be deleted is itself a backup (its name ends in the suffix,
    /// and backups go beside the files): it is removed, not backed up again, as rsync's
    /// `is_backup_file` decides.
    pub fn is_backup_name(&self, name: &[u8]) -> bool {
        self.dir.is_none() && !self.suffix.is_empty() && name.ends_with(&self.suffix)
    }

    /// The filter rule rsync adds with `--backup` and no backup folder: the backups beside
    /// the files are never deleted.
    pub fn protect_rule(&self) -> Option<Vec<u8>> {
        match self.dir {
            None => Some([&b"P *"[..], &self.suffix].concat()),
            Some(_) => None,
        }
    }

    /// Where the backup of `name` (a path below the destination `dest_dir`) goes, and how
    /// rsync's `backed up NAME to WHERE` shows it.
    pub fn place(&self, dest_dir: &Path, name: &[u8]) -> (PathBuf, Vec<u8>) {
        use std::os::unix::ffi::OsStrExt;
        let with_suffix = [name, &self.suffix].concat();
        match &self.dir {
            None => (
                dest_dir.join(std::ffi::OsStr::from_bytes(&with_suffix)),
                with_suffix,
            ),
            Some(dir) => {
                let base = dest_dir.join(dir);
                let mut shown = dir.as_os_str().as_bytes().to_vec();
                while shown.len() > 1 && shown.ends_with(b"/") {
                    shown.pop();
                }
                shown.push(b'/');
                shown.extend_from_slice(&with_suffix);
                (base.join(std::ffi::OsStr::from_bytes(&with_suffix)), shown)
            }
        }
    }
}

/// A backup's place inside `--backup-dir`, reached by descriptor: the folder that holds it,
/// held open, and its name there.
///
/// The backup folder is the operator's path, walked by [`crate::trust::open_dir`] (made if
/// missing): root's and this user's symlinks on it are followed, another user's refused. The
/// folders below it mirror the destination's and are rsync's own, so, as rsync 3.5.0's
/// `copy_valid_path`, whatever is in the way of one of them (a symlink, whoever made it, or a
/// file) is removed and a real folder made there; each is opened with O_NOFOLLOW from the one
/// above, so another user who swaps one for a link to elsewhere during the run cannot have a
/// backup written there (rsync's backup-dir-symlink-race).
#[derive(Debug)]
pub struct Place {
    dir: OwnedFd,
    name: Vec<u8>,
}

impl Place {
    /// Opens the place of `name` (a path below the destination `dest_dir`, with its suffix
    /// already added) under the backup folder `dir`. `mode_of` gives the mode that a folder
    /// made below the backup folder takes (by its path below the destination), if any.
    pub fn open(
        dest_dir: &Path,
        dir: &Path,
        name: &[u8],
        insecure: bool,
        mode_of: impl Fn(&[u8]) -> Option<u32>,
    ) -> std::io::Result<Place> {
        use rustix::fs::{AtFlags, FileType, Mode, OFlags};
        use rustix::io::Errno;
        let base = dest_dir.join(dir);
        let mut at = crate::trust::open_dir(&base, true, insecure)?;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let parts: Vec<&[u8]> = name
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty())
            .collect();
        let Some((leaf, folders)) = parts.split_last() else {
            return Err(std::io::Error::other("an empty name has no backup place"));
        };
        let mut below = Vec::new();
        for part in folders {
            if !below.is_empty() {
                below.push(b'/');
            }
            below.extend_from_slice(part);
            let shown = |e: Errno| {
                let path = base.join(std::ffi::OsStr::from_bytes(&below));
                std::io::Error::other(format!(
                    "backup mkdir {} failed: {}",
                    path.display(),
                    std::io::Error::from(e)
                ))
            };
            let mut made = false;
            let next = loop {
                match rustix::fs::openat(&at, *part, flags, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if !made => {}
                    Err(Errno::NOTDIR | Errno::LOOP) if !made => {
                        let stat = rustix::fs::statat(&at, *part, AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(shown)?;
                        if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                            continue;
                        }
                        rustix::fs::unlinkat(&at, *part, AtFlags::empty()).map_err(shown)?;
                    }
                    Err(e) => return Err(shown(e)),
                }
                match rustix::fs::mkdirat(&at, *part, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => made = true,
                    Err(e) => return Err(shown(e)),
                }
            };
            // A folder made here takes the mode of the destination's, as rsync copies its
            // attributes: set through a descriptor of its own, never through a name.
            if let Some(mode) = mode_of(&below).filter(|_| made) {
                let read = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                if let Ok(fd) = rustix::fs::openat(&at, *part, read, Mode::empty()) {
                    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777));
                }
            }
            at = next;
        }
        Ok(Place {
            dir: at,
            name: leaf.to_vec(),
        })
    }

    /// A path that names the place through the held folder (`/proc/self/fd/N/NAME`), for the
    /// calls that take a path: whatever is renamed or swapped on the way since, it leads to
    /// the folder that was opened.
    pub fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()));
        path.push(std::ffi::OsStr::from_bytes(&self.name));
        path
    }
}

/// Empties a backup's place, as rsync makes way for a backup: what is there goes, a folder
/// with everything below it. Returns what went below the place (names relative to it, a
/// folder after its contents, each folder's entries in reverse list order) with their
/// `st_mode`, which rsync reports as deletions; the place itself goes unreported.
pub fn clear_place(to: &Path) -> std::io::Result<Vec<(Vec<u8>, u32)>> {
    let mut removed = Vec::new();
    match std::fs::symlink_metadata(to) {
        Ok(meta) if meta.is_dir() => {
            clear_dir(to, b"", &mut removed)?;
            std::fs::remove_dir(to)?;
        }
        Ok(_) => std::fs::remove_file(to)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(removed)
}

fn clear_dir(dir: &Path, prefix: &[u8], removed: &mut Vec<(Vec<u8>, u32)>) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Not following a symlink: DirEntry::metadata is an lstat.
        let mode = entry.metadata()?.mode();
        entries.push((entry.file_name().as_bytes().to_vec(), mode));
    }
    let is_dir = |mode: u32| mode & libc::S_IFMT == libc::S_IFDIR;
    entries.sort_by(|a, b| crate::flist::compare(&a.0, is_dir(a.1), &b.0, is_dir(b.1)));
    for (leaf, mode) in entries.into_iter().rev() {
        let path = dir.join(std::ffi::OsStr::from_bytes(&leaf));
        let name = [prefix, &leaf].concat();
        if is_dir(mode) {
            clear_dir(&path, &[&name[..], b"/"].concat(), removed)?;
            std::fs::remove_dir(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        removed.push((name, mode));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_folders_and_refusals() {
        let plain = Backup::from_options(true, None, None).unwrap().unwrap();
        assert_eq!(plain.protect_rule().unwrap(), b"P *~");
        let (path, shown) = plain.place(Path::new("dst"), b"a/b");
        assert_eq!((path, shown), (PathBuf::from("dst/a/b~"), b"a/b~".to_vec()));
        let dir = Backup::from_options(false, Some(Path::new("../bak/")), None)
            .unwrap()
            .unwrap();
        assert_eq!(dir.protect_rule(), None);
        let (path, shown) = dir.place(Path::new("dst"), b"a/b");
        assert_eq!(path, PathBuf::from("dst/../bak/a/b"));
        assert_eq!(shown, b"../bak/a/b");
        assert!(Backup::from_options(true, None, Some(b"")).is_err());
        assert!(Backup::from_options(true, None, Some(b"x/y")).is_err());
        assert_eq!(Backup::from_options(false, None, None).unwrap(), None);
    }
}
