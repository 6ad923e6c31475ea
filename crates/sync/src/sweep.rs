//! Removing what killed runs left behind: their temp files.
//!
//! A run killed with SIGKILL (or with its host's power) cannot remove the temp file it was
//! writing, and the next run must not mistake another run's live temp file for such a
//! leftover. Every [`AtomicFile`](crate::AtomicFile) therefore holds an exclusive `flock` on
//! its temp file for as long as it is open, and the kernel drops that lock when the writer
//! dies, however it dies: a temp file that can be locked has no writer.
//!
//! One window remains: a writer creates its temp file and locks it in two calls. A temp file
//! that is still empty and was changed in the last few seconds may be in that window, so it
//! is left for a later run.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::errno_at;
use crate::{is_temp_name, RelPath, Root};

/// How young an empty temp file must be to be taken for one whose writer has not locked it yet.
const FRESH: Duration = Duration::from_secs(10);

impl Root {
    /// Removes the temp files (see [`is_temp_name`]) that no running writer holds from the
    /// directory `rel`, or from the root itself for `None`, and returns how many went. Only
    /// regular files are touched, never through a symlink.
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
                || (stat.st_size == 0 && changed_within(&stat, FRESH))
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

fn changed_within(stat: &rustix::fs::Stat, age: Duration) -> bool {
    let changed = SystemTime::UNIX_EPOCH
        + Duration::new(stat.st_ctime.max(0) as u64, stat.st_ctime_nsec as u32);
    SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|elapsed| elapsed < age)
        || changed > SystemTime::now()
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

    #[test]
    fn leftovers_go_and_live_temp_files_stay() {
        let dir = scratch("live");
        let root = Root::open(&dir).unwrap();
        // A leftover: a temp name with bytes in it and nobody holding it.
        let leftover = dir.join("sub/.data.prtools-0123456789abcdef");
        std::fs::write(&leftover, b"half a file").unwrap();
        // The user's own files, and a live writer's temp file.
        std::fs::write(dir.join("sub/.data.prtools-notatemp"), b"x").unwrap();
        std::fs::write(dir.join("sub/data"), b"x").unwrap();
        let mut live = root
            .create_file(&RelPath::new("sub/other").unwrap())
            .unwrap();
        live.write_all(b"in progress").unwrap();

        let sub = RelPath::new("sub").unwrap();
        assert_eq!(root.sweep_temps(Some(&sub)).unwrap(), 1);
        assert!(!leftover.exists());
        let mut names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
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
    fn a_fresh_empty_temp_file_may_be_about_to_be_locked() {
        let dir = scratch("fresh");
        let root = Root::open(&dir).unwrap();
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
