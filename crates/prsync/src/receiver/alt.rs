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
use crate::itemize::Item;
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
    Near(Item),
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
    pub(super) fn alt_match(&self, i: usize, e: &FileEntry) -> Option<Found> {
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

    /// For a hard-link member missing here, what the folders hold at its name that rsync
    /// itemizes the link against: with --link-dest the leader's own inode (the link then is
    /// `quiet`, shown only with -ii or -vv), else a file that passes the quick check.
    pub(super) fn alt_match_for_link(
        &self,
        i: usize,
        e: &FileEntry,
        leader: Option<&FileStat>,
    ) -> Option<(FileStat, bool)> {
        let kind = self.alt.as_ref()?.kind;
        let found = self.alt_match(i, e)?;
        match kind {
            AltKind::Link => leader
                .filter(|l| l.same_inode(&found.stat))
                .map(|_| (found.stat, true)),
            _ => (found.level != Level::Kind).then_some((found.stat, false)),
        }
    }

    /// rsync's quick check of `e` against what `path` holds (`m`), for any kind of entry.
    fn quick_check_at(&self, e: &FileEntry, m: &FileStat, path: &Path) -> bool {
        match &e.kind {
            FileKind::Regular { .. } => self
                .quick_check(e, m, || self.open_alt(path))
                .unwrap_or(false),
            FileKind::Symlink { target } => std::fs::read_link(path)
                .is_ok_and(|t| t.as_os_str().as_bytes() == target.as_slice()),
            FileKind::Device { rdev } => m.rdev == *rdev,
            FileKind::Dir | FileKind::Special => true,
            FileKind::Missing => false,
        }
    }

    /// rsync's `unchanged_attrs`: nothing the options keep differs, extended attributes
    /// (`-X`) included.
    pub(super) fn attrs_match(&self, e: &FileEntry, m: &FileStat, path: &Path) -> bool {
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
            // A link, device or fifo made anew shows `c` (rsync's ITEM_REPORT_CHANGE).
            item.change = found.level == Level::Kind || !e.is_dir();
            return Ok(AltOther::Near(item));
        }
        // What rsync's try_dests_non shows for an exact match, with -ii or -vv: a folder is
        // made here (`cd`), a --compare-dest entry is left out (`.L`), a --copy-dest one
        // made anew (`cL`). A --link-dest symlink is linked from there (`hL`); where the
        // destination refuses that (any errno: ENOTSUP, EPERM, EXDEV...) it is made anew
        // and said once, as a --copy-dest one, as rsync 3.5.0 falls back. Devices and
        // fifos are made anew, as an rsync built without hard-linked specials (-VV says so).
        let is_symlink = matches!(e.kind, FileKind::Symlink { .. });
        let (item, outcome) = match kind {
            AltKind::Compare if !e.is_dir() => (Item::default(), AltOther::Settled),
            AltKind::Link if is_symlink && self.link_alt_entry(i, &found.path)? => (
                Item {
                    local_change: true,
                    hlink: true,
                    ..Item::default()
                },
                AltOther::Settled,
            ),
            _ => (
                Item {
                    local_change: true,
                    ..Item::default()
                },
                AltOther::Silent,
            ),
        };
        self.report_alt_match(i, e, &item);
        Ok(outcome)
    }

    /// `--link-dest`: links what `path` (in one of the folders) holds to entry `i`'s name;
    /// false where the destination cannot (a dry run says it could, as rsync's does).
    fn link_alt_entry(&mut self, i: usize, path: &Path) -> io::Result<bool> {
        if self.opts.dry_run {
            return Ok(true);
        }
        let rel = self.rel_below(i)?;
        Ok(self.link_alt(path, &rel).is_ok())
    }

    /// An entry settled by an exact match in the folders: rsync itemizes it only with
    /// `-ii` or `-vv`, and without `-i` says it is up to date at `-vv`.
    fn report_alt_match(&mut self, i: usize, e: &FileEntry, item: &Item) {
        let itemizing =
            self.opts.itemize || self.opts.out_format.as_ref().is_some_and(|f| f.has_item());
        if itemizing {
            if self.opts.itemize_all {
                self.report(i, item, None);
            }
        } else if self.opts.names_uptodate() {
            self.say_uptodate(e, false);
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
            let item = Item {
                local_change: kind == AltKind::Link,
                hlink: kind == AltKind::Link,
                ..Item::default()
            };
            if kind == AltKind::Compare || dry_run {
                self.report_alt_match(i, e, &item);
                return Ok(AltFile::Settled);
            }
            if self.link_alt(&found.path, &rel).is_ok() {
                self.report_alt_match(i, e, &item);
                return Ok(AltFile::Settled);
            }
            // Not linkable here (another file system): copied, as rsync falls back to.
        } else if meta.is_some() {
            return Ok(AltFile::Nothing);
        } else if found.level == Level::Kind {
            return Ok(AltFile::Basis(found));
        }
        // Copied first, then said, as rsync's try_dests_reg: a copy that cannot open the
        // file (a folder on the way swapped for another user's link) is an error, and the
        // file is then sent instead.
        if !dry_run {
            if let Err(err) = self.copy_alt(i, e, &found.path) {
                self.fail(err.to_string());
                return Ok(AltFile::Nothing);
            }
        }
        let mut item = self.attr_item(e, &found.stat);
        item.local_change = true;
        item.time |= !self.opts.times;
        self.report(i, &item, None);
        if found.level == Level::Exact {
            self.report_uptodate(i, &item);
        }
        Ok(AltFile::Settled)
    }

    /// Copies the file at `path` (in one of the folders) to entry `i`'s name, through a temp
    /// file, with the sender's attributes.
    ///
    /// The file is opened again through the folders' trust walk (see [`AltDest::find`]),
    /// not by its path: a folder on the way that another user swapped for a symlink since
    /// the look would otherwise have the copy read a file from wherever that link leads
    /// (rsync's copy-dest-symlink-readleak). The open then fails, and the file is sent.
    ///
    /// [`AltDest::find`]: crate::alt_dest::AltDest::find
    fn copy_alt(&mut self, i: usize, e: &FileEntry, path: &Path) -> io::Result<()> {
        let mut from = self.open_alt(path)?;
        let rel = self.rel_below(i)?;
        let file = self.root()?.create_file(&rel)?;
        io::copy(&mut from, &mut file.file())?;
        self.chown_file(file.file(), e)?;
        let mode = self.new_mode(i, e, None);
        file.commit(mode, self.opts.times.then_some(e.mtime), false)
    }
}

impl<S: Sender, W: Write> Receiver<'_, S, W> {
    /// Opens the file at `path`, in one of the folders, for reading (see [`AltDest::open`]).
    ///
    /// [`AltDest::open`]: crate::alt_dest::AltDest::open
    fn open_alt(&self, path: &Path) -> io::Result<File> {
        match self.alt.as_ref() {
            Some(alt) => alt.open(path),
            None => Err(io::Error::other("no basis folders")),
        }
    }

    /// Hard-links the file at `path`, in one of the folders, to `rel` (see
    /// [`AltDest::link`]).
    ///
    /// [`AltDest::link`]: crate::alt_dest::AltDest::link
    fn link_alt(&self, path: &Path, rel: &prtools_sync::RelPath) -> io::Result<()> {
        match self.alt.as_ref() {
            Some(alt) => alt.link(self.root()?, path, rel),
            None => Err(io::Error::other("no basis folders")),
        }
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
        FileKind::Missing => false,
    }
}
