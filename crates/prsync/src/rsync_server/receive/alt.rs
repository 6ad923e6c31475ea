//! `--compare-dest`, `--copy-dest` and `--link-dest` on the receiving server: the folders
//! of [`crate::alt_dest`] (resolved below the destination, as rsync's receiver does),
//! looked in as rsync's generator does, `try_dests_reg` for a regular file and
//! `try_dests_non` for a folder or a symlink, with the item flags it sends for each
//! outcome: the client prints the `-i` lines from them.

use std::fs::Metadata;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use prtools_rsync_wire::codec::{put_shortint, put_vstring};
use prtools_rsync_wire::flist::Entry;
use prtools_rsync_wire::itemize;
use prtools_rsync_wire::server_request::BasisKind;
use prtools_sync::{FileStat, Mtime, RelPath};

use super::{file_sum, Recv};
use crate::alt_dest::{AltDest, AltKind, Found, Level};

/// What the folders did for a regular file the generator is at.
pub(super) enum AltFile {
    /// Nothing: the file takes the usual path.
    Nothing,
    /// Settled: left out, linked or copied from the folders (and itemized).
    Settled,
    /// A file of the folders is the basis of the delta, and the flags compare with it.
    Basis(Found),
}

/// What the folders did for a symlink, device or fifo the destination lacks.
pub(super) enum AltNon {
    /// Nothing: it is made and itemized as new.
    Nothing,
    /// Settled: left out (`--compare-dest`) or linked from the folders.
    Settled,
    /// Made, without a line.
    Silent,
    /// Made, and itemized with these flags against what the folders hold.
    Near(u32),
}

/// The client's basis folders as prsync's, resolved below the destination `dest`; the
/// warnings rsync gives for a folder that is not there go to the client's stderr.
pub(super) fn resolve(
    given: &[(BasisKind, String)],
    dest: &std::path::Path,
    dest_missing: bool,
) -> Result<Option<(AltDest, Vec<String>)>, String> {
    let given = given
        .iter()
        .map(|(kind, dir)| {
            let kind = match kind {
                BasisKind::Compare => AltKind::Compare,
                BasisKind::Copy => AltKind::Copy,
                BasisKind::Link => AltKind::Link,
            };
            (kind, std::path::PathBuf::from(dir))
        })
        .collect();
    Ok(AltDest::from_given(given)?.map(|alt| alt.resolve(dest, dest_missing, false)))
}

impl<W: Write + Send> Recv<'_, W> {
    /// rsync's `itemize` of entry `e` against what is at a name (given by its size, time,
    /// mode and owners), for the attributes the options keep: `given` plus what differs.
    pub(super) fn differ(&self, e: &Entry, at: &FileStat, given: u32) -> u32 {
        let mut iflags = given;
        if e.is_file() && e.size != at.size {
            iflags |= itemize::REPORT_SIZE;
        }
        if self.keeps_time(e) {
            if at.mtime.secs != e.mtime {
                iflags |= itemize::REPORT_TIME;
            }
        } else if given & (itemize::TRANSFER | itemize::LOCAL_CHANGE) != 0 && given & MATCHED == 0 {
            iflags |= itemize::REPORT_TIME;
        }
        if self.req.perms && !e.is_link() && (at.mode & 0o7777) != (e.mode & 0o7777) {
            iflags |= itemize::REPORT_PERMS;
        }
        if self.req.owner && self.am_root && at.uid != e.uid {
            iflags |= itemize::REPORT_OWNER;
        }
        if self.req.group && at.gid != e.gid {
            iflags |= itemize::REPORT_GROUP;
        }
        iflags & !MATCHED
    }

    /// The best match for entry `e` (at `rel` below the destination, `None` for the
    /// destination itself) in the folders.
    fn alt_find(&self, ndx: i32, e: &Entry, rel: Option<&RelPath>) -> Option<Found> {
        let alt = self.alt.as_ref()?;
        alt.find(
            rel.map_or(std::path::Path::new("."), RelPath::as_path),
            |m| same_kind(e, m),
            |path, m| self.alt_data_ok(ndx, e, path, m),
            |_, m| self.alt_attrs_ok(e, m),
        )
    }

    /// rsync's `quick_check_ok` of entry `e` against what `path` in the folders holds.
    fn alt_data_ok(&self, ndx: i32, e: &Entry, path: &std::path::Path, m: &FileStat) -> bool {
        if e.is_file() {
            if m.size != e.size {
                return false;
            }
            if self.req.checksum {
                return self.sums.get(ndx as usize).copied().flatten()
                    == Some(file_sum(path, self.session.checksum).padded());
            }
            return self.req.size_only || (!self.req.ignore_times && m.mtime.secs == e.mtime);
        }
        if e.is_link() {
            let target = e.link.as_deref().unwrap_or_default();
            return std::fs::read_link(path).is_ok_and(|t| t.as_os_str().as_bytes() == target);
        }
        !e.is_device() || m.rdev == e.rdev
    }

    /// rsync's `unchanged_attrs`: nothing the options keep differs.
    fn alt_attrs_ok(&self, e: &Entry, m: &FileStat) -> bool {
        let time = self.req.times && !(e.is_link() && self.req.omit_link_times);
        let differs = (time && m.mtime.secs != e.mtime)
            || (self.req.perms && !e.is_link() && (m.mode & 0o7777) != (e.mode & 0o7777))
            || (self.req.owner && self.am_root && m.uid != e.uid)
            || (self.req.group && m.gid != e.gid);
        !differs
    }

    /// rsync's `try_dests_reg` for the regular file `e` (entry `ndx`, at `r`), with what
    /// the destination holds at its name (`here`, a regular file or nothing).
    pub(super) fn alt_file(
        &mut self,
        ndx: i32,
        e: &Entry,
        r: &RelPath,
        here: Option<&Metadata>,
    ) -> io::Result<AltFile> {
        let Some(kind) = self.alt.as_ref().map(|a| a.kind) else {
            return Ok(AltFile::Nothing);
        };
        if here.is_some() && kind == AltKind::Copy {
            return Ok(AltFile::Nothing);
        }
        let Some(found) = self.alt_find(ndx, e, Some(r)) else {
            return Ok(AltFile::Nothing);
        };
        let dry = self.req.dry_run;
        if found.level == Level::Exact && kind != AltKind::Copy {
            if let Some(h) = here {
                if kind == AltKind::Link && h.dev() == found.stat.dev && h.ino() == found.stat.ino {
                    return Ok(AltFile::Nothing);
                }
                if !dry && self.root()?.remove(r).is_err() {
                    return Ok(AltFile::Nothing);
                }
            }
            if kind == AltKind::Compare || dry {
                let iflags = self.differ(e, &found.stat, 0);
                return self.tell(ndx, iflags).map(|()| AltFile::Settled);
            }
            let linked = match self.alt.as_ref() {
                Some(alt) => alt.link(self.root()?, &found.path, r).is_ok(),
                None => false,
            };
            if linked {
                // Shown with -ii or -vv only, as a local change whose name is empty.
                if self.req.itemize > 0 && (self.req.itemize > 1 || self.req.verbose > 1) {
                    let iflags = self.differ(e, &found.stat, itemize::LOCAL_CHANGE | MATCHED);
                    self.tell_xname(ndx, iflags, b"")?;
                }
                return Ok(AltFile::Settled);
            }
            // Not linkable here (another file system): copied, as rsync falls back to.
        } else if here.is_some() {
            return Ok(AltFile::Nothing);
        } else if found.level == Level::Kind {
            return Ok(AltFile::Basis(found));
        }
        if !dry {
            if let Err(err) = self.copy_alt(e, r, &found.path) {
                // rsync's generator then sends the file as if the folders had nothing.
                self.io_error |= super::IOERR_GENERAL;
                let line = format!("rsync: [generator] {}\n", super::super::os_text(&err));
                self.out()
                    .message(prtools_rsync_wire::mux::Tag::ErrorXfer, line.as_bytes())?;
                return Ok(AltFile::Nothing);
            }
        }
        let iflags = self.differ(e, &found.stat, itemize::LOCAL_CHANGE);
        self.tell(ndx, iflags)?;
        Ok(AltFile::Settled)
    }

    /// rsync's `try_dests_non` for a folder the destination lacks: `None` when the
    /// folders hold nothing of its kind; else the flags it is itemized with (sent only
    /// with -ii or -vv when the match is exact).
    pub(super) fn alt_dir(
        &mut self,
        ndx: i32,
        e: &Entry,
        r: Option<&RelPath>,
    ) -> Option<(u32, bool)> {
        let found = self.alt_find(ndx, e, r)?;
        if found.level == Level::Exact {
            let iflags = self.differ(e, &found.stat, itemize::LOCAL_CHANGE | MATCHED);
            return Some((iflags, self.shows_exact()));
        }
        Some((self.differ(e, &found.stat, itemize::LOCAL_CHANGE), true))
    }

    /// Whether rsync's `try_dests_non` itemizes an exact match: with `-ii`, or `-i` and
    /// `-vv`.
    fn shows_exact(&self) -> bool {
        self.req.itemize > 0 && (self.req.itemize > 1 || self.req.verbose > 1)
    }

    /// rsync's `try_dests_non` for a symlink, device or fifo (entry `ndx`, at `r`) the
    /// destination lacks. An exact match is linked from the folders with `--link-dest`,
    /// left out with `--compare-dest` and made without a line with `--copy-dest`; it
    /// is itemized only with -ii or -vv. A lesser match is made and itemized against it.
    pub(super) fn alt_non(&mut self, ndx: i32, e: &Entry, r: &RelPath) -> io::Result<AltNon> {
        let Some(kind) = self.alt.as_ref().map(|a| a.kind) else {
            return Ok(AltNon::Nothing);
        };
        let Some(found) = self.alt_find(ndx, e, Some(r)) else {
            return Ok(AltNon::Nothing);
        };
        if found.level != Level::Exact {
            let given = itemize::LOCAL_CHANGE | itemize::REPORT_CHANGE;
            return Ok(AltNon::Near(self.differ(e, &found.stat, given)));
        }
        let mut linked = false;
        let mut cannot = false;
        if kind == AltKind::Link {
            linked = self.req.dry_run
                || match self.alt.as_ref() {
                    Some(alt) => alt.link(self.root()?, &found.path, r).is_ok(),
                    None => false,
                };
            cannot = !linked;
        }
        if self.shows_exact() {
            let given = match kind {
                AltKind::Compare => 0,
                _ => itemize::LOCAL_CHANGE,
            };
            let iflags = self.differ(e, &found.stat, given | MATCHED);
            if linked {
                self.tell_xname(ndx, iflags, b"")?;
            } else {
                self.tell(ndx, iflags)?;
            }
        }
        // Where the destination cannot link it, it is made anew, as rsync falls back to.
        Ok(match kind {
            AltKind::Copy => AltNon::Silent,
            _ if cannot => AltNon::Silent,
            _ => AltNon::Settled,
        })
    }

    /// Copies the file at `path` (in the folders) to `r`, through a temp file, with the
    /// sender's attributes, as rsync's `copy_altdest_file`.
    fn copy_alt(&mut self, e: &Entry, r: &RelPath, path: &std::path::Path) -> io::Result<()> {
        let alt = self
            .alt
            .as_ref()
            .ok_or_else(|| io::Error::other("no basis folders"))?;
        let mut from = alt.open(path)?;
        let file = self.root()?.create_file(r)?;
        io::copy(&mut from, &mut file.file())?;
        let mode = if self.req.perms {
            e.mode & 0o7777
        } else {
            e.mode & 0o777 & !crate::receiver::umask()
        };
        let mtime = self.req.times.then_some(Mtime {
            secs: e.mtime,
            nanos: e.mtime_nsec,
        });
        file.commit(mode, mtime, false)?;
        let path = self.full(Some(r));
        self.set_owner(&path, e, None);
        Ok(())
    }

    /// Sends an entry's flags with a name after them (an empty one for a `--link-dest`
    /// match, which the client shows as a local change with no `=>`).
    fn tell_xname(&mut self, ndx: i32, iflags: u32, xname: &[u8]) -> io::Result<()> {
        if let (Some(log), Some(e)) = (self.log, self.list.get(ndx as usize)) {
            log.entry(iflags, e, false);
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        put_shortint(&mut b, (iflags | itemize::XNAME_FOLLOWS) as u16);
        put_vstring(&mut b, xname)?;
        self.out().write_all(&b)
    }
}

/// rsync's `ITEM_MATCHED`: an exact match's line gets no `t` for a time not kept. Never
/// sent (it is above the 16 bits of the wire's flags).
const MATCHED: u32 = 1 << 18;

/// Whether what is at a name in the folders (`m`) is of the entry's kind.
fn same_kind(e: &Entry, m: &FileStat) -> bool {
    (m.mode & 0o170000) == (e.mode & 0o170000)
}
