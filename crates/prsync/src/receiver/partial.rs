//! rsync's `--partial-dir`: what arrived of an interrupted file is kept in a folder of its
//! own, beside the file (a relative folder, made when needed and removed once empty) or in
//! one place for every file (an absolute folder, by the file's last name). The next run
//! uses it as the basis of the file's delta, then removes it.

use std::fs::File;
use std::io;

use prtools_sync::{AtomicFile, RelPath, Root};

use super::{Receiver, Sender};

/// Where the partial file of one destination file is.
pub(super) struct PartialPlace {
    /// Its path: below the destination for a relative folder, below the absolute folder
    /// else.
    rel: RelPath,
    /// The relative folder's name, made beside the file when the partial is kept.
    subdir: Option<Vec<u8>>,
    /// The partial's own name.
    name: Vec<u8>,
}

impl<S: Sender, W: io::Write> Receiver<'_, S, W> {
    /// Where `rel`'s partial file goes, with `--partial-dir`.
    pub(super) fn partial_place(&self, rel: &RelPath) -> io::Result<Option<PartialPlace>> {
        let Some(dir) = &self.opts.partial_dir else {
            return Ok(None);
        };
        let bad = |e: prtools_sync::PathError| io::Error::new(io::ErrorKind::InvalidData, e);
        let name = rel.file_name().to_vec();
        if self.partial_root.is_some() {
            return Ok(Some(PartialPlace {
                rel: RelPath::new(name.clone()).map_err(bad)?,
                subdir: None,
                name,
            }));
        }
        let subdir = std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()).to_vec();
        let folder = match rel.parent() {
            Some(parent) => parent.join(&subdir).map_err(bad)?,
            None => RelPath::new(subdir.clone()).map_err(bad)?,
        };
        Ok(Some(PartialPlace {
            rel: folder.join(&name).map_err(bad)?,
            subdir: Some(subdir),
            name,
        }))
    }

    /// The root the partial's path is below.
    fn partial_folder(&self) -> io::Result<&Root> {
        match &self.partial_root {
            Some(root) => Ok(root),
            None => self.root(),
        }
    }

    /// The partial file kept by an earlier run, to build the new file from.
    pub(super) fn partial_basis(&self, place: &PartialPlace) -> Option<File> {
        let root = self.partial_folder().ok()?;
        match root.metadata(Some(&place.rel)) {
            Ok(Some(m)) if m.is_file() && m.size > 0 => root.open_file(&place.rel).ok(),
            _ => None,
        }
    }

    /// A stop signal moves what was written of `file` to its partial place.
    pub(super) fn keep_partial_on_stop(&self, file: &AtomicFile, place: &PartialPlace) {
        file.keep_on_stop_in(
            self.partial_root.as_ref(),
            place.subdir.as_deref(),
            &place.name,
        );
    }

    /// After an error: what was written of `file` goes to its partial place.
    pub(super) fn keep_partial(&self, file: AtomicFile, place: &PartialPlace) -> io::Result<()> {
        file.keep_in(
            self.partial_root.as_ref(),
            place.subdir.as_deref(),
            &place.name,
        )
    }

    /// The file is whole: its partial, if one was there, goes, and a relative partial
    /// folder left empty goes too, as rsync removes them.
    pub(super) fn drop_partial(&self, place: &PartialPlace) -> io::Result<()> {
        let root = self.partial_folder()?;
        if root.metadata(Some(&place.rel))?.is_some() {
            root.remove(&place.rel)?;
        }
        if place.subdir.is_some() {
            if let Some(folder) = place.rel.parent() {
                if matches!(root.metadata(Some(&folder)), Ok(Some(m)) if m.is_dir()) {
                    // Not empty (other partials): it stays.
                    let _ = root.remove(&folder);
                }
            }
        }
        Ok(())
    }
}
