//! The receiver's side of `--compare-dest`, `--copy-dest` and `--link-dest` (see
//! [`crate::alt_dest`]): what it does with the best match the folders hold for an entry.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use prtools_sync::FileStat;

use super::Receiver;
use crate::alt_dest::{AltKind, Found, Level};
use crate::flist::{FileEntry, FileKind};
use crate::sender::Sender;

/// What the folders say of a folder, link, device or fifo the destination lacks.
pub(super) enum AltOther {
    /// Nothing: it is made and itemized as new.
    Nothing,
    /// Nothing more to do: left out, or linked from the folders.
    Settled,
    /// Made without a line.
    Silent,
    /// Made, and itemized as this change of what the folders hold.
    Near(crate::itemize::Item),
}

/// What the folders did for a regular file.
pub(super) enum AltFile {
    /// Nothing: the file takes the usual path.
    Nothing,
    /// The file is settled: left out, linked or copied from the folders.
    Settled,
    /// A file of the folders is the basis of the delta; the file is sent against it.
    Basis(Found),
}

impl<S: Sender, W: Write> Receiver<'_, S, W> {
    /// The best match for entry `i` in the folders, if any.
    fn alt_match(&self, i: usize, e: &FileEntry) -> Option<Found> {
        let alt = self.alt.as_ref()?;
        let name = match &self.solo {
            Some(solo) => solo.as_path().to_path_buf(),
            None => PathBuf::from(OsStr::from_bytes(&self.list()[i].name)),
        };
        alt.find(
            &name,
            |m| same_kind(e, m),
            |path, m| self.quick_check_at(e, m, path),
            |path, m| self.attrs_match(e, m, path),
        )
    }

    /// rsync's quick check of `e` against what `path` holds (`m`), for any kind of entry.
    fn quick_check_at(&self, e: &FileEntry, m: &FileStat, path: &Path) -> bool {
        match &e.kind {
            FileKind::Regular { .. } => {
                self.quick_check(e, m, || File::open(path)).unwrap_or(false)
            }
            FileKind::Symlink { target } => std::fs::read_link(path)
                .is_ok_and(|t| t.as_os_str().as_bytes() == target.as_slice()),
            FileKind::Device { rdev } => m.rdev == *rdev,
            FileKind::Dir | FileKind::Special => true,
        }
    }

    /// rsync's `unchanged_attrs`: nothing the options keep differs, extended attributes
    /// (`-X`) included.
    fn attrs_match(&self, e: &FileEntry, m: &FileStat, path: &Path) -> bool {
        let item = self.attr_item(e, m);
        !(item.time || item.perms || item.owner || item.group) && self.xattrs_match_at(e, path)
    }

    /// rsync's `try_dests_non` for a folder, link, device or fifo the destination lacks.
    /// An exact match in the folders makes it without a line (with `--compare-dest` not at
    /// all, unless it is a folder; with `--link-dest` a non-folder is linked from there); a
    /// lesser match is itemized against what the folders hold.
    pub(super) fn alt_other(&mut self, i: usize, e: &FileEntry) -> io::Result<AltOther> {
        let Some(kind) = self.alt.as_ref().map(|a| a.kind) else {
            return Ok(AltOther::Nothing);
        };
        let Some(found) = self.alt_match(i, e) else {
            return Ok(AltOther::Nothing);
        };
        if found.level != Level::Exact {
            let mut item = self.attr_item(e, &found.stat);
            item.local_change = true;
            item.change = found.level == Level::Kind;
            return Ok(AltOther::Near(item));
        }
        if e.is_dir() {
            return Ok(AltOther::Silent);
        }
        match kind {
            AltKind::Compare => Ok(AltOther::Settled),
            AltKind::Copy => Ok(AltOther::Silent),
            AltKind::Link if self.opts.dry_run => Ok(AltOther::Settled),
            AltKind::Link => {
                let rel = self.rel_below(i)?;
                // A destination that cannot link one makes it, as with --copy-dest.
                match self.root()?.hard_link_from(&found.path, &rel) {
                    Ok(()) => Ok(AltOther::Settled),
                    Err(_) => Ok(AltOther::Silent),
                }
            }
        }
    }

    /// rsync's `try_dests_reg` for the regular file `e` (entry `i`), with what the
    /// destination holds at its name (`meta`, a regular file or nothing).
    pub(super) fn alt_file(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<&FileStat>,
    ) -> io::Result<AltFile> {
        let Some(kind) = self.alt.as_ref().map(|a| a.kind) else {
            return Ok(AltFile::Nothing);
        };
        if meta.is_some() && kind == AltKind::Copy {
            return Ok(AltFile::Nothing);
        }
        let Some(found) = self.alt_match(i, e) else {
            return Ok(AltFile::Nothing);
        };
        let dry_run = self.opts.dry_run;
        if found.level == Level::Exact && kind != AltKind::Copy {
            let rel = self.rel_below(i)?;
            if let Some(m) = meta {
                if kind == AltKind::Link && m.same_inode(&found.stat) {
                    return Ok(AltFile::Nothing);
                }
                if !dry_run {
                    self.root()?.remove(&rel)?;
                }
            }
            if kind == AltKind::Compare || dry_run {
                return Ok(AltFile::Settled);
            }
            if self.root()?.hard_link_from(&found.path, &rel).is_ok() {
                return Ok(AltFile::Settled);
            }
            // Not linkable here (another file system): copied, as rsync falls back to.
        } else if meta.is_some() {
            return Ok(AltFile::Nothing);
        } else if found.level == Level::Kind {
            return Ok(AltFile::Basis(found));
        }
        let mut item = self.attr_item(e, &found.stat);
        item.local_change = true;
        item.time |= !self.opts.times;
        self.report(i, &item, None);
        if !dry_run {
            self.copy_alt(i, e, &found.path)?;
        }
        Ok(AltFile::Settled)
    }

    /// Copies the file at `path` (in one of the folders) to entry `i`'s name, through a temp
    /// file, with the sender's attributes.
    fn copy_alt(&mut self, i: usize, e: &FileEntry, path: &Path) -> io::Result<()> {
        let mut from = File::open(path)?;
        let rel = self.rel_below(i)?;
        let file = self.root()?.create_file(&rel)?;
        io::copy(&mut from, &mut file.file())?;
        self.chown_file(file.file(), e)?;
        let mode = self.new_mode(i, e, None);
        file.commit(mode, self.opts.times.then_some(e.mtime), false)
    }
}

/// Whether what is at a name in the folders (`m`) is of the entry's kind.
fn same_kind(e: &FileEntry, m: &FileStat) -> bool {
    match e.kind {
        FileKind::Regular { .. } => m.is_file(),
        FileKind::Dir => m.is_dir(),
        FileKind::Symlink { .. } => m.is_symlink(),
        FileKind::Device { .. } => m.is_device() && (m.mode & 0o170000) == (e.mode & 0o170000),
        FileKind::Special => m.is_special(),
    }
}
