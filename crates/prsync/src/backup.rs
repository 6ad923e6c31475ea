//! `-b/--backup`, `--backup-dir` and `--suffix`: what a run replaces or deletes is kept, as
//! rsync keeps it: beside itself with a suffix (`~` by default), or under the backup folder
//! at its own relative path (no suffix by default).

use std::path::{Path, PathBuf};

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

/// Empties a backup's place, as rsync makes way for a backup: what is there goes, a folder
/// with everything below it. Returns what went below the place (names relative to it, a
/// folder after its contents, each folder's entries in reverse list order), which rsync
/// reports as deletions; the place itself goes unreported.
pub fn clear_place(to: &Path) -> std::io::Result<Vec<(Vec<u8>, std::fs::FileType)>> {
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

fn clear_dir(
    dir: &Path,
    prefix: &[u8],
    removed: &mut Vec<(Vec<u8>, std::fs::FileType)>,
) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name().as_bytes().to_vec(), entry.file_type()?));
    }
    entries.sort_by(|a, b| crate::flist::compare(&a.0, a.1.is_dir(), &b.0, b.1.is_dir()));
    for (leaf, kind) in entries.into_iter().rev() {
        let path = dir.join(std::ffi::OsStr::from_bytes(&leaf));
        let name = [prefix, &leaf].concat();
        if kind.is_dir() {
            clear_dir(&path, &[&name[..], b"/"].concat(), removed)?;
            std::fs::remove_dir(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        removed.push((name, kind));
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
