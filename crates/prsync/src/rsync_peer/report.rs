//! What `-v`, `-i` and `--stats` print of a session over rsync's protocol, as rsync's client
//! prints it: a line per entry in rsync's `log_item` formats (`%n%L` for `-v`, `%i %n%L`
//! with `-i`), which entries without data are shown (rsync's `maybe_log_item`), the
//! `deleting` lines, and the totals at the end, with the bytes that did cross the wire.
//!
//! This side never asks for incremental recursion, so the list's banner is the one rsync
//! prints without it (`building file list ... done`), as `rsync --no-inc-recursive` does.

use std::time::Instant;

use prtools_rsync_wire::flist::Entry;
use prtools_rsync_wire::itemize::{self, Kind, Style};

use super::Voice;
use crate::cli::Options;
use crate::flist::FileKind;
use crate::stats::Stats;

/// How entries are shown, from the options.
#[derive(Clone, Copy, Debug)]
pub(super) struct Log {
    /// `-i` count, capped at 2 (rsync's `stdout_format_has_i`).
    itemize: u8,
    /// Names are printed (`-v`, or `-i`).
    names: bool,
    /// `-vv` and more: rsync's `--info=name2`.
    name2: bool,
    style: Style,
}

impl Log {
    pub(super) fn new(opts: &Options, style: Style) -> Log {
        let itemize = u8::from(opts.itemize) + u8::from(opts.itemize_all);
        Log {
            itemize,
            names: itemize > 0 || (opts.names() && !opts.quiet),
            name2: opts.verbose > 1,
            style,
        }
    }

    /// Whether entries are shown at all (rsync's `--info=name` or `-i`).
    pub(super) fn names(&self) -> bool {
        self.names
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

    /// Prints an entry's line: `%i %n%L` with `-i`, else `%n%L`; a hard link shows
    /// ` => FIRST` where a symlink shows ` -> TARGET`.
    pub(super) fn print(
        &self,
        voice: &dyn Voice,
        iflags: u32,
        kind: Kind,
        name: &[u8],
        link: Option<&[u8]>,
        xname: Option<&[u8]>,
    ) {
        if !self.names {
            return;
        }
        let xname = xname.filter(|x| !x.is_empty());
        let shown_link = if xname.is_some() { None } else { link };
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
    /// `-v`.
    pub(super) fn deleted(&self, voice: &dyn Voice, kind: Kind, name: &[u8]) {
        if !self.names {
            return;
        }
        let line = if self.itemize > 0 {
            itemize::line(itemize::DELETED, kind, self.style, name, None)
        } else {
            let mut line = b"deleting ".to_vec();
            line.extend_from_slice(name);
            if kind == Kind::Dir && !name.ends_with(b"/") {
                line.push(b'/');
            }
            line
        };
        voice.out(&super::shown(line));
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
