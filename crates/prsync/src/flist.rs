//! The file list: what the sender has, in rsync's order, as plain data that can cross a wire.

use std::cmp::Ordering;

use prtools_sync::Mtime;

/// What a file-list entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file of `size` bytes.
    Regular {
        /// Length in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symbolic link with its target, as bytes.
    Symlink {
        /// What `readlink` gives.
        target: Vec<u8>,
    },
    /// A character or block device (`mode` says which) with its device number.
    Device {
        /// `st_rdev`.
        rdev: u64,
    },
    /// A fifo or socket (`mode` says which).
    Special,
    /// A source named on the command line that is not there (`--delete-missing-args`):
    /// what has its name on the receiver is deleted.
    Missing,
}

impl FileKind {
    /// The kind of what has the `st_mode` `mode`, without what only the list carries (a
    /// size, a target, a device number): what the deletion counters tell apart.
    pub fn of_mode(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink { target: Vec::new() },
            libc::S_IFREG => FileKind::Regular { size: 0 },
            libc::S_IFBLK | libc::S_IFCHR => FileKind::Device { rdev: 0 },
            _ => FileKind::Special,
        }
    }
}

/// One entry of the file list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The path below the transfer root, `/`-separated raw bytes; `.` is the root itself
    /// (a source given with a trailing slash).
    pub name: Vec<u8>,
    /// What it is.
    pub kind: FileKind,
    /// The whole `st_mode`: type and permission bits.
    pub mode: u32,
    /// Modification time.
    pub mtime: Mtime,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// With `-H`: entries with the same group number are hard links to one inode. Only set
    /// when the group has two or more entries in the list.
    pub hlink: Option<u32>,
    /// With `-c`: the whole-file hash of a regular file.
    pub checksum: Option<u128>,
    /// A folder sent for its attributes only, not with what is in it: with `-R` one on the
    /// way to a source (rsync's implied directories), without `-r` one named without a
    /// trailing slash. Nothing in it is deleted.
    pub implied: bool,
    /// With `-X`: the extended attributes the receiver sets, sorted by name (what the
    /// namespace rules and the filters' `x` rules left in).
    pub xattrs: Vec<prtools_sync::Xattr>,
    /// With `-U`: the access time.
    pub atime: Option<Mtime>,
    /// With `-A`: the ACL, in exacl's text, when it says more than the mode (see
    /// [`prtools_sync::read_acl`]).
    pub acl: Option<String>,
}

impl FileEntry {
    /// An entry of `kind` with `mode` and nothing else known: root's, of the epoch, with
    /// nothing of `-H`, `-c`, `-X`, `-U` or `-A`. What the sender lists for a source that
    /// is not there (`--delete-missing-args`), and where tests' entries start from, so that
    /// a new field is given its default in one place.
    pub fn new(name: Vec<u8>, kind: FileKind, mode: u32) -> FileEntry {
        FileEntry {
            name,
            kind,
            mode,
            mtime: Mtime { secs: 0, nanos: 0 },
            uid: 0,
            gid: 0,
            hlink: None,
            checksum: None,
            implied: false,
            xattrs: Vec::new(),
            atime: None,
            acl: None,
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    /// True for a regular file.
    pub fn is_regular(&self) -> bool {
        matches!(self.kind, FileKind::Regular { .. })
    }

    /// The size of a regular file, else 0.
    pub fn size(&self) -> u64 {
        match self.kind {
            FileKind::Regular { size } => size,
            _ => 0,
        }
    }

    /// The name as rsync prints it: a directory with a trailing `/`.
    pub fn shown_name(&self) -> Vec<u8> {
        let mut n = self.name.clone();
        if self.is_dir() {
            n.push(b'/');
        }
        n
    }
}

/// The parent of `name` (`.` for a top-level name, `None` for `.` itself).
pub fn parent_of(name: &[u8]) -> Option<&[u8]> {
    if name == b"." {
        return None;
    }
    Some(match name.iter().rposition(|&b| b == b'/') {
        Some(i) => &name[..i],
        None => b".",
    })
}

/// rsync's file-list order (`f_name_cmp`, protocol 29 and later), which is also the order in
/// which rsync's generator visits and itemizes entries:
///
/// - `.` (the root) first;
/// - within one directory, every non-directory before every directory;
/// - non-directories by their bytes; directories by their bytes with a `/` appended, so
///   `a.b/` sorts before `a/` ('.' is 0x2e, '/' 0x2f);
/// - a directory right before its contents (depth first).
pub fn compare(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> Ordering {
    // Component by component, without allocating: a sort of a large list makes about
    // n log n comparisons, and splitting names into vectors for each one cost more than the
    // stat walk that built the list.
    let (mut ca, mut cb) = (components(a).peekable(), components(b).peekable());
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let x_dir = ca.peek().is_some() || a_dir;
                let y_dir = cb.peek().is_some() || b_dir;
                let ord = match (x_dir, y_dir) {
                    (false, true) => Ordering::Less,
                    (true, false) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                    (true, true) => cmp_with_slash(x, y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Compares two components as if each had a `/` appended.
fn cmp_with_slash(x: &[u8], y: &[u8]) -> Ordering {
    let n = x.len().min(y.len());
    let slash = |c: &[u8]| c.get(n).copied().unwrap_or(b'/');
    x[..n]
        .cmp(&y[..n])
        .then_with(|| slash(x).cmp(&slash(y)))
        .then_with(|| x.len().cmp(&y.len()))
}

/// The components of a list name; none for `.`, the root.
fn components(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let name: &[u8] = if name == b"." { &[] } else { name };
    // `split` gives one empty part for an empty slice; the root has none.
    name.split(|&c| c == b'/').filter(move |_| !name.is_empty())
}

/// Sorts a list into rsync's order and drops later duplicates of a name (rsync keeps the
/// first source that names a path, but a folder sent with its contents over one only
/// implied by `-R`).
pub fn sort_and_dedup(list: &mut Vec<(FileEntry, usize)>) {
    list.sort_by(|(a, ai), (b, bi)| {
        compare(&a.name, a.is_dir(), &b.name, b.is_dir()).then(ai.cmp(bi))
    });
    list.dedup_by(|later, earlier| {
        if later.0.name != earlier.0.name {
            return false;
        }
        if earlier.0.implied && !later.0.implied {
            std::mem::swap(later, earlier);
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(items: &[(&str, bool)]) -> Vec<String> {
        let mut v: Vec<(&str, bool)> = items.to_vec();
        v.sort_by(|a, b| compare(a.0.as_bytes(), a.1, b.0.as_bytes(), b.1));
        v.iter()
            .map(|(n, d)| format!("{n}{}", if *d { "/" } else { "" }))
            .collect()
    }

    #[test]
    fn files_before_dirs_and_dirs_with_a_slash() {
        let got = sorted(&[
            ("a", true),
            ("a.b", true),
            ("a-b", true),
            ("f", false),
            ("a/x", false),
            ("a.b/y", false),
            (".", true),
            ("f.b", false),
            ("a/sub", true),
            ("a/z", false),
        ]);
        assert_eq!(
            got,
            ["./", "f", "f.b", "a-b/", "a.b/", "a.b/y", "a/", "a/x", "a/z", "a/sub/"]
        );
    }

    /// The first version, which split names into vectors: the order is rsync's by its
    /// tests above, and the faster one must give the same on any names.
    fn compare_by_split(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> Ordering {
        let split = |n: &[u8]| -> Vec<Vec<u8>> {
            if n == b"." {
                Vec::new()
            } else {
                n.split(|&c| c == b'/').map(<[u8]>::to_vec).collect()
            }
        };
        let (ca, cb) = (split(a), split(b));
        for i in 0.. {
            match (ca.get(i), cb.get(i)) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let x_dir = i + 1 < ca.len() || a_dir;
                    let y_dir = i + 1 < cb.len() || b_dir;
                    let ord = match (x_dir, y_dir) {
                        (false, true) => Ordering::Less,
                        (true, false) => Ordering::Greater,
                        (false, false) => x.cmp(y),
                        (true, true) => [&x[..], b"/"].concat().cmp(&[&y[..], b"/"].concat()),
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
            }
        }
        unreachable!()
    }

    #[test]
    fn compare_agrees_with_splitting_names() {
        let names: [&[u8]; 14] = [
            b".", b"a", b"a.b", b"a-b", b"a/b", b"a/b/c", b"a.b/c", b"b", b"a/", b"ab", b"a/b.c",
            b"a\xff", b"a/b/", b"z/a",
        ];
        for a in names {
            for b in names {
                for (ad, bd) in [(false, false), (false, true), (true, false), (true, true)] {
                    assert_eq!(
                        compare(a, ad, b, bd),
                        compare_by_split(a, ad, b, bd),
                        "{:?} {ad} {:?} {bd}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of(b"a/b/c"), Some(&b"a/b"[..]));
        assert_eq!(parent_of(b"a"), Some(&b"."[..]));
        assert_eq!(parent_of(b"."), None);
    }
}
