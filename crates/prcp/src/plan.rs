//! What to push, worked out once for every host: the scanned sources, named both ways a
//! destination can ask for (inside a directory, or renamed to DEST's own name).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use prtools_sync::{scan, Entry, Kind, RelPath};

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

impl PushPlan {
    /// Scans every source; `dest` is the remote destination as typed.
    pub fn new(sources: &[PathBuf], dest: &str, recursive: bool) -> Result<PushPlan, String> {
        let mut into_dir = Vec::new();
        let mut local = Vec::new();
        for src in sources {
            let entries = scan(src, recursive).map_err(|e| e.to_string())?;
            let base = src.parent().unwrap_or(Path::new("."));
            for entry in entries {
                local.push(match entry.kind {
                    Kind::File { .. } => Some(base.join(entry.path.as_path())),
                    _ => None,
                });
                into_dir.push(entry);
            }
        }
        let renamed = match (sources.len(), dest_name(dest)) {
            (1, Some(name)) => Some(
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
