//! Removing what killed runs left behind: their temp files.
//!
//! A run killed with SIGKILL (or with its host's power) cannot remove the temp file it was
//! writing, and the next run must not mistake another run's live temp file, or a user's own
//! file that only looks like one, for such a leftover.
//!
//! Every [`AtomicFile`](crate::AtomicFile) holds an exclusive `flock` on its temp file for as
//! long as it is open, and the kernel drops that lock when the writer dies, however it dies.
//! Once locked, the writer marks the file (see `temp::mark`: an xattr naming the temp name).
//! So a file is a leftover only if it has a temp name, is marked under that very name, and
//! its lock is free: a writer that has not locked its file yet has not marked it either, and
//! a user's file, however it is named, is not marked.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::errno_at;
use crate::{is_temp_name, temp, RelPath, Root};

impl Root {
    /// Removes the temp files (see [`is_temp_name`]) that prtools marked and no running
    /// writer holds from the directory `rel`, or from the root itself for `None`, and returns
    /// how many went. Only regular files are touched, never through a symlink.
    pub fn sweep_temps(&self, rel: Option<&RelPath>) -> io::Result<usize> {
        let (dir, shown) = match rel {
            Some(rel) => (
                self.walk(rel.as_bytes(), false)?,
                self.path().join(rel.as_path()),
            ),
            None => (self.top(), self.path().to_path_buf()),
        };
        // The walk's descriptors are O_PATH, which cannot list; "." opened from one can.
        let listing = rustix::fs::openat(
            &dir,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_at(&shown, e))?;
        let entries = rustix::fs::Dir::read_from(&listing).map_err(|e| errno_at(&shown, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| errno_at(&shown, e))?;
            let name = entry.file_name().to_bytes();
            if !is_temp_name(name)
                || !matches!(entry.file_type(), FileType::RegularFile | FileType::Unknown)
            {
                continue;
            }
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let Ok(fd) = rustix::fs::openat(&dir, name, flags, Mode::empty()) else {
                continue;
            };
            let Ok(stat) = rustix::fs::fstat(&fd) else {
                continue;
            };
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
                || !temp::is_marked(&fd, name)
            {
                continue;
            }
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => removed += 1,
                    Err(e) => return Err(errno_at(shown.join(OsStr::from_bytes(name)), e)),
                },
                // Held by a live writer, or a filesystem without locks: leave it.
                Err(_) => continue,
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("prtools-sweep-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        dir
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn leftovers_go_and_live_temp_files_stay() {
        let dir = scratch("live");
        let root = Root::open(&dir).unwrap();
        // A leftover: what a writer killed mid-file leaves, marked, with nobody holding it.
        let mut killed = root
            .create_file(&RelPath::new("sub/data").unwrap())
            .unwrap();
        killed.write_all(b"half a file").unwrap();
        killed.abandon();
        let leftover = names(&dir.join("sub")).pop().unwrap();
        assert!(is_temp_name(leftover.as_bytes()), "{leftover}");
        // The user's own files, and a live writer's temp file.
        std::fs::write(dir.join("sub/.data.prtools-notatemp"), b"x").unwrap();
        std::fs::write(dir.join("sub/data"), b"x").unwrap();
        let mut live = root
            .create_file(&RelPath::new("sub/other").unwrap())
            .unwrap();
        live.write_all(b"in progress").unwrap();

        let sub = RelPath::new("sub").unwrap();
        assert_eq!(root.sweep_temps(Some(&sub)).unwrap(), 1);
        assert!(!dir.join("sub").join(&leftover).exists());
        let names = names(&dir.join("sub"));
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.iter().any(|n| n.starts_with(".other.prtools-")));
        live.commit(0o644, None, false).unwrap();
        assert_eq!(
            std::fs::read(dir.join("sub/other")).unwrap(),
            b"in progress"
        );
        assert_eq!(root.sweep_temps(None).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_users_file_named_like_a_temp_file_is_not_swept() {
        let dir = scratch("own");
        let root = Root::open(&dir).unwrap();
        // Named as a temp file is, unlocked, old and full: only the mark is missing.
        let own = dir.join(".notes.prtools-0123456789abcdef");
        std::fs::write(&own, b"the user's notes").unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
        filetime::set_file_times(&own, old, old).unwrap();
        assert_eq!(root.sweep_temps(None).unwrap(), 0);
        assert_eq!(std::fs::read(&own).unwrap(), b"the user's notes");
        // Nor is a leftover's mark honoured under another name (a copy, a hard link).
        let mut killed = root.create_file(&RelPath::new("data").unwrap()).unwrap();
        killed.write_all(b"half").unwrap();
        killed.abandon();
        let leftover = names(&dir)
            .into_iter()
            .find(|n| n.starts_with(".data.prtools-"))
            .unwrap();
        let linked = dir.join(".copy.prtools-fedcba9876543210");
        std::fs::hard_link(dir.join(&leftover), &linked).unwrap();
        assert_eq!(root.sweep_temps(None).unwrap(), 1);
        assert!(linked.exists() && !dir.join(&leftover).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_finished_file_carries_no_mark() {
        let dir = scratch("finished");
        let root = Root::open(&dir).unwrap();
        let mut file = root.create_file(&RelPath::new("done").unwrap()).unwrap();
        file.write_all(b"whole").unwrap();
        file.commit(0o644, None, false).unwrap();
        let file = std::fs::File::open(dir.join("done")).unwrap();
        assert!(!temp::is_marked(&file, b"done"));
        assert_eq!(
            rustix::fs::fgetxattr(&file, "user.prtools.temp", &mut [0u8; 256][..]),
            Err(Errno::NODATA)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_temp_file_its_writer_has_not_marked_yet_stays() {
        let dir = scratch("fresh");
        let root = Root::open(&dir).unwrap();
        // What a writer has between its create and its lock: a fresh, empty, unmarked file.
        let empty = dir.join(".x.prtools-0123456789abcdef");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(root.sweep_temps(None).unwrap(), 0);
        assert!(empty.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_with_a_temp_name_is_not_followed_or_removed() {
        let dir = scratch("link");
        let root = Root::open(&dir).unwrap();
        let outside = dir.join("sub/target");
        std::fs::write(&outside, b"keep").unwrap();
        let link = dir.join(".y.prtools-0123456789abcdef");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert_eq!(root.sweep_temps(None).unwrap(), 0);
        assert!(link.symlink_metadata().is_ok());
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
