//! What `-v`, `-i` and `--stats` print of a session over rsync's protocol, as rsync's client
//! prints it: a line per entry in rsync's `log_item` formats (`%n%L` for `-v`, `%i %n%L`
//! with `-i`), which entries without data are shown (rsync's `maybe_log_item`), the
//! `deleting` lines, and the totals at the end, with the bytes that did cross the wire.
//!
//! This side never asks for incremental recursion, so the list's banner is the one rsync
//! prints without it (`building file list ... done`), as `rsync --no-inc-recursive` does.

use std::sync::Arc;
use std::time::Instant;

use prtools_rsync_wire::flist::Entry;
use prtools_rsync_wire::itemize::{self, Kind, Style};

use super::Voice;
use crate::cli::Options;
use crate::flist::FileKind;
use crate::out_format::{Fields, OutFormat};
use crate::stats::Stats;

/// How entries are shown, from the options.
#[derive(Clone, Debug)]
pub(super) struct Log {
    /// rsync's `stdout_format_has_i`, capped at 2: the `-i` count, or with an
    /// `--out-format` that has `%i`, the count with its low bit set.
    itemize: u8,
    /// Names are printed (`-v`, `-i` or `--out-format`).
    names: bool,
    /// `-v` or `-i`: what rsync's client says beyond the entries (`created directory`).
    chatty: bool,
    /// `-vv` and more: rsync's `--info=name2`.
    name2: bool,
    style: Style,
    /// `--out-format`'s format, which then makes every entry's line.
    format: Option<Arc<OutFormat>>,
}

impl Log {
    pub(super) fn new(opts: &Options, style: Style) -> Log {
        let count = u8::from(opts.itemize) + u8::from(opts.itemize_all);
        let format = opts.out_format.clone().map(Arc::new);
        // As rsync's options: a format with %i shows what -i would (twice with -ii), one
        // without it shows no flags whatever -i says.
        let itemize = match &format {
            Some(f) if f.has_item() => (count | 1).min(2),
            Some(_) => 0,
            None => count,
        };
        let chatty = itemize > 0 || (opts.names() && !opts.quiet);
        Log {
            itemize,
            names: chatty || format.is_some(),
            chatty,
            name2: opts.verbose > 1,
            style,
            format,
        }
    }

    /// Whether lines about the run beyond its entries are shown (`-v` or `%i`).
    pub(super) fn chatty(&self) -> bool {
        self.chatty
    }

    /// Whether an entry the receiver needed no data for is shown (rsync's
    /// `maybe_log_item`): `xname` is the hard link's first, or an alternate folder's name.
    pub(super) fn shows_untransferred(&self, iflags: u32, is_dir: bool, xname: &[u8]) -> bool {
        if !self.names {
            return false;
        }
        let significant = iflags & itemize::SIGNIFICANT & 0xffff != 0;
        let see_item = self.itemize > 0
            && (significant || !xname.is_empty() || self.itemize > 1 || self.name2);
        let local_change = iflags & itemize::LOCAL_CHANGE != 0 && significant;
        see_item || local_change || !xname.is_empty() || (is_dir && significant)
    }

    /// Prints entry `e`'s line: `--out-format`'s, else `%i %n%L` with `-i`, else `%n%L`;
    /// a hard link shows ` => FIRST` where a symlink shows ` -> TARGET`. `shown` is what
    /// `%f` and `%l` show.
    pub(super) fn print(
        &self,
        voice: &dyn Voice,
        iflags: u32,
        e: &Entry,
        shown: &Shown,
        xname: Option<&[u8]>,
    ) {
        if !self.names {
            return;
        }
        let (kind, name, link) = (e.kind(), &e.name[..], e.link.as_deref());
        let xname = xname.filter(|x| !x.is_empty());
        let shown_link = if xname.is_some() { None } else { link };
        if let Some(format) = &self.format {
            let mut shown_name = name.to_vec();
            if kind == Kind::Dir && !name.ends_with(b"/") {
                shown_name.push(b'/');
            }
            let mut tail = Vec::new();
            match (xname, kind, shown_link) {
                (Some(first), _, _) => {
                    tail.extend_from_slice(b" => ");
                    tail.extend_from_slice(first);
                }
                (None, Kind::Link, Some(target)) => {
                    tail.extend_from_slice(b" -> ");
                    tail.extend_from_slice(target);
                }
                _ => {}
            }
            let item = itemize::flags_text(iflags, kind, self.style).into_bytes();
            let line = format.render(&Fields {
                item: &item,
                name: &shown_name,
                full_name: &shown.full,
                link: &tail,
                length: shown.length,
                bytes: (iflags & itemize::TRANSFER != 0).then_some(shown.bytes),
                checksum: None,
                operation: if self.style.sending { "send" } else { "recv" },
                mtime: e.mtime,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
            });
            voice.out(&super::shown(line));
            return;
        }
        let mut line = if self.itemize > 0 {
            itemize::line(iflags, kind, self.style, name, shown_link)
        } else {
            let mut line = name.to_vec();
            if kind == Kind::Dir && !name.ends_with(b"/") {
                line.push(b'/');
            }
            if let (Kind::Link, Some(target)) = (kind, shown_link) {
                line.extend_from_slice(b" -> ");
                line.extend_from_slice(target);
            }
            line
        };
        if let Some(first) = xname {
            line.extend_from_slice(b" => ");
            line.extend_from_slice(first);
        }
        voice.out(&super::shown(line));
    }

    /// Prints the line of a deletion: `*deleting   NAME` with `-i`, `deleting NAME` with
    /// `-v`; with `--out-format`, its own line when it has `%i` or `%o` (rsync's
    /// `log_delete`), else `deleting NAME`.
    /// `mode` is what was deleted, as `%B` shows it (0 when the server deleted it).
    pub(super) fn deleted(&self, voice: &dyn Voice, kind: Kind, name: &[u8], mode: u32) {
        if !self.names {
            return;
        }
        let mut shown_name = name.to_vec();
        if kind == Kind::Dir && !name.ends_with(b"/") {
            shown_name.push(b'/');
        }
        let line = match &self.format {
            Some(format) if self.itemize > 0 || format.has(b'o') => {
                let item = itemize::flags_text(itemize::DELETED, kind, self.style).into_bytes();
                format.render(&Fields {
                    item: &item,
                    name: &shown_name,
                    full_name: name,
                    link: b"",
                    length: 0,
                    bytes: None,
                    checksum: None,
                    operation: "del.",
                    mtime: 0,
                    mode,
                    uid: 0,
                    gid: 0,
                })
            }
            Some(_) => [&b"deleting "[..], &shown_name].concat(),
            None if self.itemize > 0 => {
                itemize::line(itemize::DELETED, kind, self.style, name, None)
            }
            None => [&b"deleting "[..], &shown_name].concat(),
        };
        voice.out(&super::shown(line));
    }
}

/// What `--out-format` shows of an entry beyond the list's own fields.
pub(super) struct Shown {
    /// `%f`: the name with the folder it was sent from (a sender's), or the name.
    pub(super) full: Vec<u8>,
    /// `%l`: the length as the sender's rsync has it (a folder's and a link's own size).
    pub(super) length: u64,
    /// `%b`: the bytes the file's transfer took on the stream, as rsync counts them: from
    /// its index when sending, from its block sums' head when receiving, to its
    /// whole-file sum (none in a dry run).
    pub(super) bytes: u64,
}

impl Shown {
    /// An entry received here: its name and the length that came in the list.
    pub(super) fn received(e: &Entry) -> Shown {
        Shown {
            full: e.name.clone(),
            length: e.size,
            bytes: 0,
        }
    }

    /// An entry sent from here, as rsync's sender shows it: the path it was read from,
    /// cleaned of `.` and doubled slashes (but a top folder's trailing `/.`), without a
    /// leading slash; the length what `lstat` says of it.
    pub(super) fn sent(item: &super::list::Item) -> Shown {
        use std::os::unix::ffi::OsStrExt;
        let mut parts: Vec<&[u8]> = item
            .path
            .as_os_str()
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
            .collect();
        if item.entry.name == b"." || parts.is_empty() {
            parts.push(b".");
        }
        let length = if item.entry.is_file() {
            item.entry.size
        } else {
            std::fs::symlink_metadata(&item.path).map_or(0, |m| m.len())
        };
        Shown {
            full: parts.join(&b'/'),
            length,
            bytes: 0,
        }
    }
}

/// The banner `-v` prints once the list of `count` entries is made (`pull`: received).
/// With `--progress` rsync counts instead of saying `done`: the sender every hundred
/// entries as it lists, then both the total.
pub(super) fn banner(opts: &Options, pull: bool, count: usize, voice: &dyn Voice) {
    if opts.quiet || !(opts.verbose > 0 || opts.progress) || !(opts.recursive || opts.dirs) {
        return;
    }
    let mut text = String::from(if pull {
        "receiving file list ... "
    } else {
        "building file list ... "
    });
    if !opts.progress {
        text.push_str("done\n");
    } else {
        if !pull {
            text.push('\n');
            for k in (0..count).step_by(100) {
                text.push_str(&format!(" {k} files...\r"));
            }
        }
        let s = if count == 1 { " " } else { "s " };
        text.push_str(&format!("{count} file{s}to consider\n"));
    }
    voice.out(text.as_bytes());
}

/// Prints the totals the options ask for: `--stats`'s block (without the deletions
/// before protocol 31, which does not count them), then `-v`'s two lines.
pub(super) fn totals(
    opts: &Options,
    stats: &Stats,
    protocol: i32,
    started: Instant,
    voice: &dyn Voice,
) {
    if opts.quiet {
        return;
    }
    if opts.stats {
        let block = stats.stats_block(opts.human);
        let block: String = block
            .split_inclusive('\n')
            .filter(|line| protocol >= 31 || !line.starts_with("Number of deleted files"))
            .collect();
        voice.out(block.as_bytes());
    }
    if opts.summary() {
        let note = if opts.dry_run { " (DRY RUN)" } else { "" };
        voice.out(
            stats
                .summary(opts.human, started.elapsed(), note)
                .as_bytes(),
        );
    }
}

/// The entry's kind as the totals count it.
pub(super) fn kind_of_entry(e: &Entry) -> FileKind {
    match e.kind() {
        Kind::Dir => FileKind::Dir,
        Kind::Link => FileKind::Symlink {
            target: e.link.clone().unwrap_or_default(),
        },
        Kind::File => FileKind::Regular { size: e.size },
        Kind::Device => FileKind::Device { rdev: e.rdev },
        Kind::Special => FileKind::Special,
    }
}

/// Counts the list: its entries by kind, and rsync's total size (files' sizes and links'
/// target lengths).
pub(super) fn count_list<'a>(stats: &mut Stats, list: impl Iterator<Item = &'a Entry>) {
    for e in list {
        stats.files.add(&kind_of_entry(e));
        if e.is_file() {
            stats.total_size += e.size;
        } else if let Some(target) = e.link.as_ref().filter(|_| e.is_link()) {
            stats.total_size += target.len() as u64;
        }
    }
}

/// Adds the deletion totals a receiving server sent: entries (of every kind), folders,
/// links, devices, specials, as protocol 31 counts them.
pub(super) fn count_deleted(stats: &mut Stats, deleted: [u64; 5]) {
    let [plain, dirs, links, devices, specials] = deleted;
    let d = &mut stats.deleted;
    d.reg += plain;
    d.dir += dirs;
    d.link += links;
    d.dev += devices;
    d.special += specials;
}
