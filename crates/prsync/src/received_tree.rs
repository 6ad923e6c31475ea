//! What a receiver of rsync's protocol knows of the tree a list describes, shared by the
//! two of them prsync has: `prsync --server` receiving from a stock client, and a
//! `--wire=rsync` pull receiving from a stock server. Each checks that the sender's list
//! is a tree (nothing below a symlink or a file) and finds what each folder holds. The
//! server also keeps the rules of each folder's merge files here ([`DirRules`]); the pull
//! reads them afresh at each folder, which rsync's suite (exclude-lsh, `--delete-before`)
//! showed it must: a folder's rules go once an earlier deletion removed its merge file.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prtools_rsync_wire::flist::Entry;
use prtools_sync::filter::FilterList;

/// The parent of a list name (`.` for a top-level one).
pub fn parent_of(name: &[u8]) -> &[u8] {
    crate::flist::parent_of(name).unwrap_or(b".")
}

/// Refuses an entry whose parent is not a folder of the list (top-level ones sit in the
/// destination itself): a name below a symlink the list holds would be written through
/// it. `sender` names the other side in the error ("client", "server").
pub fn check_parents(list: &[Entry], sender: &str) -> io::Result<()> {
    let dirs: HashSet<&[u8]> = list
        .iter()
        .filter(|e| e.is_dir())
        .map(|e| &e.name[..])
        .collect();
    for e in list.iter().filter(|e| e.name != b".") {
        let parent = parent_of(&e.name);
        if parent != b"." && !dirs.contains(parent) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the {sender} sent {:?} inside something that is not a folder of the list",
                    String::from_utf8_lossy(&e.name)
                ),
            ));
        }
    }
    Ok(())
}

/// The names of the list that each folder holds.
pub fn children_of(list: &[Entry]) -> HashMap<Vec<u8>, HashSet<Vec<u8>>> {
    let mut map: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
    for e in list.iter().filter(|e| e.name != b".") {
        let base = match e.name.iter().rposition(|&c| c == b'/') {
            Some(i) => e.name[i + 1..].to_vec(),
            None => e.name.clone(),
        };
        map.entry(parent_of(&e.name).to_vec())
            .or_default()
            .insert(base);
    }
    map
}

/// The rules in effect in each folder of the receiver's own tree when the given rules
/// have per-folder merge files (`dir-merge`, `-F`, `:C`): as rsync's receiver, the merge
/// files of a folder's copy here and of those above it, which protect what they exclude
/// from deletion (or, with `--delete-excluded`, let it go). Each folder's rules are kept,
/// so that every merge file is read once, not once for each folder below it: what
/// `prsync --server` receiving does.
pub struct DirRules {
    given: Arc<FilterList>,
    at: HashMap<Vec<u8>, Arc<FilterList>>,
}

/// How the receiver reaches its copy of the tree: the path here of a list name, and
/// whether a merge file may be read (confined, not through another user's symlink).
pub struct Here<'a> {
    /// The path here of a list name (`.`: the destination).
    pub path_of: &'a dyn Fn(&[u8]) -> io::Result<PathBuf>,
    /// Whether the merge file at a path may be read.
    pub may_read: &'a dyn Fn(&Path) -> bool,
}

impl DirRules {
    /// The rules of a receiver given `given`; None when they have no per-folder merge
    /// files, and `given` holds everywhere.
    pub fn new(given: &FilterList) -> Option<DirRules> {
        given.has_dir_merge().then(|| DirRules {
            given: Arc::new(given.clone()),
            at: HashMap::new(),
        })
    }

    /// The rules that hold in folder `name` (`.` for the destination). What could not be
    /// taken (a merge file's bad rule, a name too long) goes to `errors` in rsync's words,
    /// and the rules above hold there.
    pub fn rules_in(
        &mut self,
        name: &[u8],
        here: &Here<'_>,
        errors: &mut Vec<String>,
    ) -> io::Result<Arc<FilterList>> {
        if let Some(list) = self.at.get(name) {
            return Ok(list.clone());
        }
        let (above, prefix) = match name {
            b"." => (self.given.clone(), &b""[..]),
            _ => (self.rules_in(parent_of(name), here, errors)?, name),
        };
        let dir = (here.path_of)(name)?;
        let mut read = |file: &[u8]| {
            let path = dir.join(OsStr::from_bytes(file));
            if !(here.may_read)(&path) {
                return None;
            }
            std::fs::read(&path).ok()
        };
        let full = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
        let list = match above.enter_dir_at(
            prefix,
            Some(full.as_os_str().as_bytes()),
            &mut read,
            errors,
        ) {
            Ok(Some(list)) => Arc::new(list),
            Ok(None) => above,
            Err(e) => {
                errors.push(format!("in a merge file of \"{}\": {e}", dir.display()));
                above
            }
        };
        self.at.insert(name.to_vec(), list.clone());
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: u32) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            mode,
            size: 0,
            mtime: 0,
            mtime_nsec: 0,
            uid: 0,
            gid: 0,
            rdev: 0,
            link: None,
            top: false,
        }
    }

    #[test]
    fn nothing_is_written_through_a_symlink_or_file_of_the_list() {
        let dir = 0o040755;
        let fine = [
            entry(".", dir),
            entry("a", dir),
            entry("a/f", 0o100644),
            entry("top", 0o100644),
        ];
        assert!(check_parents(&fine, "client").is_ok());
        // "l" is a symlink of the list: a file below it would be written through it.
        let through_link = [entry("l", 0o120777), entry("l/authorized_keys", 0o100644)];
        let err = check_parents(&through_link, "server").unwrap_err();
        assert!(
            err.to_string()
                .contains("the server sent \"l/authorized_keys\""),
            "{err}"
        );
        // Nor below a file, nor below a folder the list never named.
        let below_file = [entry("f", 0o100644), entry("f/x", 0o100644)];
        assert!(check_parents(&below_file, "client").is_err());
        assert!(check_parents(&[entry("x/y", 0o100644)], "client").is_err());
        let kids = children_of(&fine);
        assert!(kids[&b"."[..]].contains(&b"a"[..]));
        assert!(kids[&b"a"[..]].contains(&b"f"[..]));
    }

    #[test]
    fn each_merge_file_is_read_once_and_holds_below_its_folder() {
        let root = std::env::temp_dir().join(format!("prsync-dir-rules-{}", std::process::id()));
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join(".rules"), "- *.o\n").unwrap();
        std::fs::write(root.join("a/.rules"), "- *.tmp\n").unwrap();
        let mut given = FilterList::default();
        given.push_filter(": .rules").unwrap();
        let mut rules = DirRules::new(&given).expect("a dir-merge rule");
        assert!(DirRules::new(&FilterList::default()).is_none());
        let reads = std::cell::Cell::new(0);
        let path_of = |name: &[u8]| Ok(root.join(OsStr::from_bytes(name)));
        let may_read = |_: &Path| {
            reads.set(reads.get() + 1);
            true
        };
        let here = Here {
            path_of: &path_of,
            may_read: &may_read,
        };
        let mut errors = Vec::new();
        let deep = rules.rules_in(b"a/b", &here, &mut errors).unwrap();
        assert!(deep.is_protected(b"a/b/x.o", false));
        assert!(deep.is_protected(b"a/b/x.tmp", false));
        let top = rules.rules_in(b".", &here, &mut errors).unwrap();
        assert!(top.is_protected(b"x.o", false));
        assert!(!top.is_protected(b"x.tmp", false));
        rules.rules_in(b"a", &here, &mut errors).unwrap();
        assert_eq!(reads.get(), 3, "one read a folder");
        assert!(errors.is_empty(), "{errors:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
