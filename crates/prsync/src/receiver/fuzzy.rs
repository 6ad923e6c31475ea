//! rsync's `-y`/`--fuzzy`: a file the receiver lacks is built against the most alike file
//! in the same folder, so that a renamed or versioned file (`archive-v2.tar` beside
//! `archive-v1.tar`) costs a delta, not a whole copy. A file of the same size and time wins
//! at once; else the name closest by a weighted edit distance, the suffixes weighing ten
//! times, as rsync scores them.

use std::io;
use std::path::PathBuf;

use prtools_sync::{FileStat, RelPath};

use super::{Receiver, Sender};
use crate::flist::FileEntry;

/// One step of the distance: a whole unit, and a little more the farther the bytes are.
const UNIT: u64 = 1 << 16;

impl<S: Sender, W: io::Write> Receiver<'_, S, W> {
    /// The best basis for entry `i` (missing here) among the regular files beside it: its
    /// lstat, its path for opening, and its name below the transfer root.
    pub(super) fn fuzzy_basis(
        &mut self,
        i: usize,
        e: &FileEntry,
    ) -> io::Result<Option<(FileStat, PathBuf, Vec<u8>)>> {
        let rel = self.rel_below(i)?;
        let parent = rel.parent();
        let name = rel.file_name().to_vec();
        let listing = match self.root()?.read_dir(parent.as_ref()) {
            Ok(listing) => listing,
            Err(_) => return Ok(None),
        };
        let mut best: Option<(u64, RelPath, FileStat)> = None;
        for entry in listing {
            if entry.is_dir || entry.name == name {
                continue;
            }
            let at = match &parent {
                Some(p) => p.join(&entry.name),
                None => RelPath::new(entry.name.clone()),
            }
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            let Some(stat) = self.root()?.metadata(Some(&at))? else {
                continue;
            };
            if !stat.is_file() || stat.size == 0 {
                continue;
            }
            if stat.size == e.size() && stat.mtime.secs == e.mtime.secs {
                best = Some((0, at, stat));
                break;
            }
            let score =
                distance(&entry.name, &name) + 10 * distance(suffix(&entry.name), suffix(&name));
            if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                best = Some((score, at, stat));
            }
        }
        Ok(best.map(|(_, at, stat)| {
            let path = self.dest.dir.join(at.as_path());
            (stat, path, at.as_bytes().to_vec())
        }))
    }
}

/// What follows a name's last dot (not a leading one): the part the suffix weight is for.
fn suffix(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(0) | None => b"",
        Some(at) => &name[at + 1..],
    }
}

/// An edit distance in which each insertion, deletion or change costs a unit, plus the
/// byte's value for an insertion or deletion and the difference (when the first is larger)
/// for a change, so that near names score below far ones of the same length.
fn distance(a: &[u8], b: &[u8]) -> u64 {
    if a.is_empty() || b.is_empty() {
        let rest = if a.is_empty() { b } else { a };
        return rest.len() as u64 * UNIT + rest.iter().map(|&c| u64::from(c)).sum::<u64>();
    }
    // `row[j]`: the distance from the first i bytes of `a` to the first j + 1 of `b`.
    let mut row: Vec<u64> = (1..=b.len() as u64).map(|j| j * UNIT).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = i as u64 * UNIT;
        let mut left = (i as u64 + 1) * UNIT;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j];
            let change = match ca == cb {
                true => 0,
                false => UNIT + u64::from(ca.saturating_sub(cb)),
            };
            let best = (diag + change)
                .min(up + UNIT + u64::from(ca))
                .min(left + UNIT + u64::from(cb));
            diag = up;
            left = best;
            row[j] = best;
        }
    }
    row[b.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearer_names_score_lower() {
        let v2 = b"archive-v2.tar";
        let score = |n: &[u8]| distance(n, v2) + 10 * distance(suffix(n), suffix(v2));
        assert!(score(b"archive-v1.tar") < score(b"archive-old.tar"));
        assert!(score(b"archive-old.tar") < score(b"unrelated.dat"));
        assert_eq!(distance(b"abc", b"abc"), 0);
        assert_eq!(suffix(b".hidden"), b"");
        assert_eq!(suffix(b"rsync2.c"), b"c");
    }
}
