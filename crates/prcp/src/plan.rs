//! What to push, worked out once for every host: the scanned sources, named both ways a
//! destination can ask for (inside a directory, or renamed to DEST's own name).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use std::os::unix::ffi::OsStrExt;

use prtools_sync::{scan_with, Entry, Kind, RelPath, ScanOptions};

use crate::protocol::WireEntry;

/// The sources of a push and where each entry's bytes come from.
pub struct PushPlan {
    /// Entries as they go inside a directory DEST.
    pub into_dir: Vec<WireEntry>,
    /// Entries renamed to DEST's file name, when DEST is not a directory (one source only).
    pub renamed: Option<Vec<WireEntry>>,
    /// Local file for each entry (same index in both lists); None for dirs and symlinks.
    pub local: Vec<Option<PathBuf>>,
    /// Sizes, for totals.
    pub sizes: Vec<u64>,
    /// xxh3-128 of each file, computed the first time a host asks (with --verify).
    pub hashes: Vec<OnceLock<Result<u128, String>>>,
    /// How many source operands there were.
    pub sources: u32,
}

/// How a push reads its sources.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// -r: descend into folders.
    pub recursive: bool,
    /// --links: symlinks go as symlinks. Without it they go as what they point to, as pdcp
    /// and scp copy them.
    pub links: bool,
    /// A folder written with a trailing `/` gives what is inside it, not itself: pdcp's rule
    /// for `-w` pushes. scp's syntax keeps scp's rule, where the slash changes nothing.
    pub contents: bool,
}

impl PushPlan {
    /// Scans every source; `dest` is the remote destination as typed.
    pub fn new(sources: &[PathBuf], dest: &str, reading: Reading) -> Result<PushPlan, String> {
        let options = ScanOptions {
            recursive: reading.recursive,
            follow_links: !reading.links,
            ..ScanOptions::default()
        };
        let mut into_dir = Vec::new();
        let mut local = Vec::new();
        let mut inside = false;
        for src in sources {
            let entries = scan_with(src, &options)
                .map_err(|e| scan_error(e, reading))?
                .entries;
            let base = src.parent().unwrap_or(Path::new("."));
            let strip = reading.contents
                && src.as_os_str().as_bytes().ends_with(b"/")
                && entries.first().is_some_and(|e| e.kind == Kind::Dir);
            inside |= strip;
            for entry in entries.into_iter().skip(usize::from(strip)) {
                local.push(match entry.kind {
                    Kind::File { .. } => Some(base.join(entry.path.as_path())),
                    _ => None,
                });
                into_dir.push(if strip { below_top(&entry)? } else { entry });
            }
        }
        // What is inside a folder has no one top entry to rename: DEST must be a folder, as
        // pdcp wants it (the agent says so when it is not).
        let renamed = match (sources.len(), dest_name(dest), inside) {
            (1, Some(name), false) => Some(
                into_dir
                    .iter()
                    .map(|e| rename_top(e, &name).map(|e| WireEntry::from(&e)))
                    .collect::<Result<Vec<_>, String>>()?,
            ),
            _ => None,
        };
        let sizes = into_dir
            .iter()
            .map(|e| match e.kind {
                Kind::File { size } => size,
                _ => 0,
            })
            .collect();
        let hashes = into_dir.iter().map(|_| OnceLock::new()).collect();
        Ok(PushPlan {
            into_dir: into_dir.iter().map(WireEntry::from).collect(),
            renamed,
            local,
            sizes,
            hashes,
            sources: sources.len() as u32,
        })
    }

    /// Checks a host's `Want`: every index must name a file of the list (a broken or hostile
    /// agent could name a directory, or one past the end).
    pub fn check_wanted(&self, want: &[u32]) -> Result<(), String> {
        if want
            .iter()
            .all(|&i| matches!(self.local.get(i as usize), Some(Some(_))))
        {
            Ok(())
        } else {
            Err("agent protocol error: expected a file index".into())
        }
    }

    /// The local file's hash, computed once for all hosts.
    pub fn hash(&self, index: usize) -> Result<u128, String> {
        self.hashes[index]
            .get_or_init(|| {
                let path = self.local[index]
                    .as_ref()
                    .ok_or_else(|| "not a file".to_string())?;
                std::fs::File::open(path)
                    .and_then(prtools_sync::hash_reader)
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .clone()
    }
}

/// A scan error, with the way out of a link loop.
fn scan_error(e: prtools_sync::ScanError, reading: Reading) -> String {
    match e {
        prtools_sync::ScanError::Loop { .. } if !reading.links => {
            format!("{e}; copy with --links to keep links as links")
        }
        e => e.to_string(),
    }
}

/// `entry` without its top component: what is inside a source folder goes straight into
/// DEST.
fn below_top(entry: &Entry) -> Result<Entry, String> {
    let bytes = entry.path.as_bytes();
    let rest = match bytes.iter().position(|&b| b == b'/') {
        Some(at) => &bytes[at + 1..],
        None => bytes,
    };
    Ok(Entry {
        path: RelPath::new(rest.to_vec()).map_err(|e| e.to_string())?,
        ..entry.clone()
    })
}

/// The last component of a remote path, if it has one (`/tmp/x/` and `/` have none).
pub fn dest_name(dest: &str) -> Option<RelPath> {
    if dest.ends_with('/') {
        return None;
    }
    let name = dest.rsplit('/').next()?;
    RelPath::new(name.as_bytes().to_vec()).ok()
}

/// `entry` with its top component renamed to `name` (DEST is not a directory: cp renames).
pub fn rename_top(entry: &Entry, name: &RelPath) -> Result<Entry, String> {
    let bytes = entry.path.as_bytes();
    let rest = bytes.iter().position(|&b| b == b'/').map(|at| &bytes[at..]);
    let mut path = name.as_bytes().to_vec();
    if let Some(rest) = rest {
        path.extend_from_slice(rest);
    }
    Ok(Entry {
        path: RelPath::new(path).map_err(|e| e.to_string())?,
        ..entry.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[WireEntry]) -> Vec<String> {
        list.iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect()
    }

    #[test]
    fn a_trailing_slash_gives_what_is_inside_only_where_asked() {
        let dir = std::env::temp_dir().join(format!("prcp-plan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/sub")).unwrap();
        std::fs::write(dir.join("src/sub/b"), "b").unwrap();
        let slashed = PathBuf::from(format!("{}/", dir.join("src").display()));
        let pdcp = Reading {
            recursive: true,
            contents: true,
            ..Reading::default()
        };
        let plan = PushPlan::new(std::slice::from_ref(&slashed), "/tmp/x", pdcp).unwrap();
        assert_eq!(names(&plan.into_dir), ["sub", "sub/b"]);
        assert!(plan.renamed.is_none(), "DEST must be a folder");
        assert_eq!(plan.local[1], Some(dir.join("src/sub/b")));
        let scp = Reading {
            contents: false,
            ..pdcp
        };
        let plan = PushPlan::new(&[slashed], "/tmp/x", scp).unwrap();
        assert_eq!(names(&plan.into_dir), ["src", "src/sub", "src/sub/b"]);
        assert_eq!(
            names(plan.renamed.as_ref().unwrap()),
            ["x", "x/sub", "x/sub/b"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
