//! `--partial-dir` on the receiving server: a file's partial from an earlier, broken
//! run is the basis of its delta (sent as rsync's basis type 0x81, `FNAMECMP_PARTIAL_DIR`),
//! and is removed once the file is in, or found unchanged, as rsync's generator and
//! receiver do. A relative folder is beside each file and removed once empty; an
//! absolute one (rrsync pins it as `/proc/self/fd/N`) holds every file by its last name.
//!
//! With `--delay-updates` each received file waits in the (relative) partial folder and
//! all are moved into place at the end. Not built: keeping what came of a file when this
//! run breaks (this side drops its temp file), and either option with `--delete`, whose
//! passes would remove the partial folders (rsync's receiver keeps them out).

use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use prtools_rsync_wire::server_request::ServerRequest;
use prtools_sync::RelPath;

/// rsync's basis type for a partial file.
pub(super) const FNAMECMP_PARTIAL_DIR: u8 = 0x81;

/// A partial file that is there for an entry.
pub(super) struct Partial {
    pub(super) path: PathBuf,
    pub(super) meta: Metadata,
}

/// The regular file in the partial folder for `rel` (below `dest`), if there is one; a
/// symlink or anything else there is not a partial, as `link_stat` without following.
pub(super) fn find(req: &ServerRequest, dest: &Path, rel: &RelPath) -> Option<Partial> {
    let dir = req.partial_dir.as_deref()?;
    let name = rel.file_name();
    let name = std::ffi::OsStr::from_bytes(name);
    let path = if dir.starts_with('/') {
        Path::new(dir).join(name)
    } else {
        let parent = match rel.parent() {
            Some(p) => dest.join(p.as_path()),
            None => dest.to_path_buf(),
        };
        parent.join(dir).join(name)
    };
    let meta = std::fs::symlink_metadata(&path).ok()?;
    meta.is_file().then_some(Partial { path, meta })
}

/// Removes a partial that was used or is stale, and its relative folder once empty.
pub(super) fn remove(req: &ServerRequest, path: &Path) {
    let _ = std::fs::remove_file(path);
    let relative = req
        .partial_dir
        .as_deref()
        .is_some_and(|d| !d.starts_with('/'));
    if let (true, Some(dir)) = (relative, path.parent()) {
        let _ = std::fs::remove_dir(dir);
    }
}

/// `--delay-updates`: where a received file waits (its relative partial folder, made
/// 0700 as rsync makes it) until [`put_in_place`] moves every one at the end.
pub(super) fn waiting_place(
    req: &ServerRequest,
    root: &prtools_sync::Root,
    rel: &RelPath,
) -> std::io::Result<RelPath> {
    let dir = req.partial_dir.as_deref().unwrap_or(".~tmp~").as_bytes();
    let folder = match rel.parent() {
        Some(p) => p.join(dir),
        None => RelPath::new(dir.to_vec()),
    }
    .map_err(|e| std::io::Error::other(format!("a bad --partial-dir: {e}")))?;
    match root.create_dir(&folder, 0o700) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    folder
        .join(rel.file_name())
        .map_err(|e| std::io::Error::other(format!("a bad name: {e}")))
}

/// Moves the files that waited into place, as rsync's `handle_delayed_updates`, and
/// removes their emptied folders; returns the messages of what failed.
pub(super) fn put_in_place(
    req: &ServerRequest,
    dest: &Path,
    waiting: Vec<(RelPath, RelPath)>,
    backup: impl Fn(&RelPath) -> std::io::Result<()>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for (at, rel) in waiting {
        let (from, to) = (dest.join(at.as_path()), dest.join(rel.as_path()));
        let moved = match req.backup && std::fs::symlink_metadata(&to).is_ok() {
            true => backup(&rel),
            false => Ok(()),
        }
        .and_then(|()| std::fs::rename(&from, &to));
        if let Err(e) = moved {
            failed.push(format!(
                "rename \"{}\" -> \"{}\": {}",
                from.display(),
                to.display(),
                super::os_text(&e)
            ));
        }
        if let Some(folder) = from.parent() {
            let _ = std::fs::remove_dir(folder);
        }
    }
    failed
}
