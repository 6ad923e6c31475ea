//! Names for the temporary files and links written beside their final names.
//!
//! A temp name is `.<name>.prtools-<16 hex digits>`: hidden, next to the file it becomes (so
//! the final rename stays within one directory and one filesystem, which is what makes it
//! atomic), and recognisable, so that a later run or a cleanup can tell leftovers of a
//! crashed run from the user's own dot files.

use std::sync::atomic::{AtomicU64, Ordering};

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
