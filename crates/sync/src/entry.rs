//! File-list entries and what the destination holds: the vocabulary both ends share.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use crate::RelPath;

/// The permission bits of a mode (`rwx` for user, group and other, plus setuid, setgid and
/// sticky), without the file type.
pub const PERMISSION_BITS: u32 = 0o7777;

/// What a tree entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of `size` bytes.
    File {
        /// Length in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link, kept as a link: its target is copied as bytes and never followed.
    Symlink {
        /// What the link points to, exactly as `readlink` gives it.
        target: Vec<u8>,
    },
}

/// A modification time to the nanosecond, as `stat` gives it and `utimensat` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mtime {
    /// Seconds since the Unix epoch; negative before 1970.
    pub secs: i64,
    /// Nanoseconds within the second, below 1 000 000 000.
    pub nanos: u32,
}

impl Mtime {
    /// The modification time of `meta`.
    pub fn of(meta: &Metadata) -> Mtime {
        Mtime {
            secs: meta.mtime(),
            // st_mtime_nsec is always in 0..1e9, so it fits.
            nanos: meta.mtime_nsec() as u32,
        }
    }

    /// The same time as a [`filetime::FileTime`].
    pub fn to_file_time(self) -> filetime::FileTime {
        filetime::FileTime::from_unix_time(self.secs, self.nanos)
    }
}

/// One entry of a file list: what the sender has and the receiver should make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where it goes, relative to the destination.
    pub path: RelPath,
    /// File (with size), directory or symlink (with target).
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky ([`PERMISSION_BITS`]), not the
    /// file type.
    pub mode: u32,
    /// Modification time.
    pub mtime: Mtime,
}

/// What is at a path of the destination now, as [`Root::stat`](crate::Root::stat) found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// File, directory or symlink. A fifo, socket or device node reads as a file of its
    /// `st_size` with `special` set, so that callers replace it as they would replace a file.
    pub kind: Kind,
    /// Permission bits ([`PERMISSION_BITS`]).
    pub mode: u32,
    /// Modification time.
    pub mtime: Mtime,
    /// True for a fifo, socket or device node: prtools never makes these, so such a thing
    /// never matches a sent entry, and [`quick_check_matches`](crate::quick_check_matches)
    /// says so.
    pub special: bool,
}
