//! Names for the temporary files and links written beside their final names.
//!
//! A temp name is `.<name>.prtools-<16 hex digits>`: hidden, next to the file it becomes (so
//! the final rename stays within one directory and one filesystem, which is what makes it
//! atomic), and recognisable, so that a file list can leave leftovers of a crashed run out.
//!
//! A name alone does not make a file ours to delete: anyone may name a file so, or copy a
//! tree holding one. So a temp file that prtools writes also carries a mark, the extended
//! attribute `user.prtools.temp` holding its own name, set while its writer holds the lock,
//! and taken off before the file gets its final name; only a marked file is ever swept (see
//! `Root::sweep_temps`). A user's file can carry it only if someone set it on purpose, with
//! write access to that file. Where a filesystem has no user xattrs (ramfs, some network
//! filesystems) the mark fails, the copy goes on unmarked, and its leftovers are never swept:
//! the mark fails safe, as keeping a file is.

use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fd::AsFd;
use rustix::fs::XattrFlags;

/// What sits between the original name and the random digits.
const MARK: &[u8] = b".prtools-";

/// Hex digits of randomness at the end.
const RANDOM_DIGITS: usize = 16;

/// How much of the original name is kept. Names may be up to 255 bytes (NAME_MAX); the dot,
/// the mark and the digits take 26, so a longer name is cut to stay within the limit.
const KEPT_NAME: usize = 255 - 1 - MARK.len() - RANDOM_DIGITS;

/// How many names are tried before giving up when each one already exists.
pub(crate) const TRIES: usize = 16;

/// A fresh temp name for `name`.
pub(crate) fn temp_name(name: &[u8]) -> Vec<u8> {
    let kept = &name[..name.len().min(KEPT_NAME)];
    let mut out = Vec::with_capacity(1 + kept.len() + MARK.len() + RANDOM_DIGITS);
    out.push(b'.');
    out.extend_from_slice(kept);
    out.extend_from_slice(MARK);
    out.extend_from_slice(format!("{:016x}", random()).as_bytes());
    out
}

/// True for a temp name of [`Root::create_file`](crate::Root::create_file) or
/// [`Root::symlink`](crate::Root::symlink) (`.<name>.prtools-<16 hex digits>`): the
/// leftovers of an interrupted run, which a cleanup may remove and a file list should not
/// carry.
pub fn is_temp_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(b".") else {
        return false;
    };
    if rest.len() < MARK.len() + RANDOM_DIGITS {
        return false;
    }
    let (head, digits) = rest.split_at(rest.len() - RANDOM_DIGITS);
    head.ends_with(MARK)
        && digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The extended attribute that marks a temp file as prtools' own.
const XATTR: &str = "user.prtools.temp";

/// Marks the temp file `fd`, named `temp`, as prtools' own. Call it only while holding the
/// file's lock: a marked file without a lock then has no writer. Best effort: a filesystem
/// without user xattrs leaves it unmarked, and so never swept.
pub(crate) fn mark(fd: impl AsFd, temp: &[u8]) {
    let _ = rustix::fs::fsetxattr(fd, XATTR, temp, XattrFlags::CREATE);
}

/// Takes the mark off before the file gets its final name, so that a finished file carries
/// nothing of prtools. Should that fail, the mark names the temp name, not the final one, so
/// a sweep still never takes the file.
pub(crate) fn unmark(fd: impl AsFd) {
    let _ = rustix::fs::fremovexattr(fd, XATTR);
}

/// True if the file `fd`, found under the name `name`, carries the mark of a temp file
/// prtools wrote under that name.
pub(crate) fn is_marked(fd: impl AsFd, name: &[u8]) -> bool {
    // One byte more than a name can have, so a longer value is no match rather than an error.
    let mut value = [0u8; 256];
    matches!(
        rustix::fs::fgetxattr(fd, XATTR, &mut value[..]),
        Ok(len) if &value[..len] == name
    )
}

/// 64 unpredictable bits, so that nobody who can write into the destination can plant the
/// next temp name first; O_EXCL makes a clash safe, this makes it unlikely. Should the kernel
/// refuse (no getrandom before Linux 3.17), a counter still keeps the names of one process
/// apart, and the caller retries on a clash.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 8];
    match rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()) {
        Ok(8) => u64::from_ne_bytes(bytes),
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            xxhash_rust::xxh3::xxh3_64(
                &[count, nanos, u64::from(std::process::id())]
                    .map(u64::to_ne_bytes)
                    .concat(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hidden_marked_and_recognised() {
        let t = temp_name(b"data.bin");
        assert!(t.starts_with(b".data.bin.prtools-"));
        assert_eq!(t.len(), b".data.bin.prtools-".len() + 16);
        assert!(is_temp_name(&t));
        assert_ne!(temp_name(b"x"), temp_name(b"x"));
        assert!(!is_temp_name(b".bashrc"));
        assert!(!is_temp_name(b"data.bin.prtools-0123456789abcdef"));
        assert!(!is_temp_name(b".x.prtools-0123456789abcdeg"));
    }

    #[test]
    fn long_names_stay_within_name_max() {
        let long = vec![b'n'; 255];
        let t = temp_name(&long);
        assert_eq!(t.len(), 255);
        assert!(is_temp_name(&t));
    }
}
