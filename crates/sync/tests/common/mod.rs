//! A fresh scratch folder per test, under cargo's temp dir for integration tests.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use prtools_sync::Mtime;

/// A folder of its own for one test, emptied first and removed when dropped, so that tests
/// run in parallel and a rerun never sees an earlier run's files.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `name` must be unique among the tests of the crate (the test's own name is).
    pub fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("prtools-sync-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }

    /// The names in `dir` below the scratch folder, sorted.
    pub fn names(&self, dir: impl AsRef<Path>) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The mtime of `path`, not following a symlink.
pub fn mtime_of(path: &Path) -> Mtime {
    Mtime::of(&fs::symlink_metadata(path).unwrap())
}

/// Sets the mtime of `path` (not following a symlink), access time to the same.
pub fn set_mtime(path: &Path, mtime: Mtime) {
    let t = mtime.to_file_time();
    filetime::set_symlink_file_times(path, t, t).unwrap();
}
