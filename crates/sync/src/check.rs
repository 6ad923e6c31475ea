//! The quick check: deciding from metadata alone that a file need not be sent.

use crate::{Entry, Kind, Meta, Mtime};

/// True when the destination already has this entry as sent: same kind, and for a file the
/// same size and mtime (rsync's quick check); a directory matches a directory, a symlink a
/// symlink with the same target.
///
/// Mode is not compared: a file whose bits differ needs only a `chmod`, not its bytes again.
///
/// Mtimes are compared to the nanosecond, except that a side whose nanoseconds are zero is
/// compared by seconds alone. Some filesystems (FAT, old NFS, tar archives unpacked by old
/// tools) keep whole seconds only; without this a file copied there would never match and
/// would be sent again on every run.
///
/// ```
/// use prtools_sync::{quick_check_matches, Entry, Kind, Meta, Mtime, RelPath};
///
/// let mtime = Mtime { secs: 1_700_000_000, nanos: 5 };
/// let sent = Entry { path: RelPath::new("f")?, kind: Kind::File { size: 3 }, mode: 0o644, mtime };
/// let there = Meta { kind: Kind::File { size: 3 }, mode: 0o600, mtime, special: false };
/// assert!(quick_check_matches(&sent, &there));
/// # Ok::<(), prtools_sync::PathError>(())
/// ```
pub fn quick_check_matches(entry: &Entry, existing: &Meta) -> bool {
    if existing.special {
        return false;
    }
    match (&entry.kind, &existing.kind) {
        (Kind::File { size: sent }, Kind::File { size: there }) => {
            sent == there && same_mtime(entry.mtime, existing.mtime)
        }
        (Kind::Dir, Kind::Dir) => true,
        (Kind::Symlink { target: sent }, Kind::Symlink { target: there }) => sent == there,
        _ => false,
    }
}

/// Equal to the nanosecond, or to the second when either side has no fraction (see
/// [`quick_check_matches`]).
fn same_mtime(a: Mtime, b: Mtime) -> bool {
    a.secs == b.secs && (a.nanos == b.nanos || a.nanos == 0 || b.nanos == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RelPath;

    fn entry(kind: Kind, secs: i64, nanos: u32) -> Entry {
        Entry {
            path: RelPath::new("x").unwrap(),
            kind,
            mode: 0o644,
            mtime: Mtime { secs, nanos },
        }
    }

    fn meta(kind: Kind, secs: i64, nanos: u32) -> Meta {
        Meta {
            kind,
            mode: 0o644,
            mtime: Mtime { secs, nanos },
            special: false,
        }
    }

    #[test]
    fn files_match_on_size_and_mtime() {
        let f = |size| Kind::File { size };
        assert!(quick_check_matches(&entry(f(10), 5, 7), &meta(f(10), 5, 7)));
        assert!(!quick_check_matches(
            &entry(f(10), 5, 7),
            &meta(f(11), 5, 7)
        ));
        assert!(!quick_check_matches(
            &entry(f(10), 5, 7),
            &meta(f(10), 6, 7)
        ));
        assert!(!quick_check_matches(
            &entry(f(10), 5, 7),
            &meta(f(10), 5, 8)
        ));
        // A filesystem that keeps whole seconds only.
        assert!(quick_check_matches(&entry(f(10), 5, 7), &meta(f(10), 5, 0)));
    }

    #[test]
    fn dirs_and_symlinks() {
        let link = |t: &[u8]| Kind::Symlink { target: t.to_vec() };
        assert!(quick_check_matches(
            &entry(Kind::Dir, 1, 0),
            &meta(Kind::Dir, 9, 9)
        ));
        assert!(quick_check_matches(
            &entry(link(b"a"), 1, 0),
            &meta(link(b"a"), 2, 0)
        ));
        assert!(!quick_check_matches(
            &entry(link(b"a"), 1, 0),
            &meta(link(b"b"), 1, 0)
        ));
        assert!(!quick_check_matches(
            &entry(Kind::Dir, 1, 0),
            &meta(link(b"a"), 1, 0)
        ));
        assert!(!quick_check_matches(
            &entry(Kind::File { size: 0 }, 1, 0),
            &meta(Kind::Dir, 1, 0)
        ));
    }

    #[test]
    fn special_files_never_match() {
        let mut fifo = meta(Kind::File { size: 0 }, 1, 0);
        fifo.special = true;
        assert!(!quick_check_matches(
            &entry(Kind::File { size: 0 }, 1, 0),
            &fifo
        ));
    }
}
