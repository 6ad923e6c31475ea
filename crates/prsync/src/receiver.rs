//! The receiver (rsync's generator and receiver in one): walks the sender's file list in
//! rsync's order, compares each entry with what the destination holds, itemizes, asks the
//! [`Sender`] for the data it lacks (whole, or as a delta against the signature of its old
//! copy), writes it through a temp file, links hard-link groups, deletes what the sender no
//! longer has, and sets attributes.
//!
//! Everything it learns about the source comes from [`FileEntry`]s and the bytes the sender
//! writes, so a sender on another host (which may be broken or hostile) can drive it
//! unchanged. Hence the rules this module keeps:
//!
//! - every name of the list is checked with [`RelPath::new`] before anything touches the
//!   disk (no `..`, no absolute path, no empty component; `.` only as the destination folder
//!   itself), and a list that breaks this is refused whole;
//! - every filesystem call below the destination goes through its [`Root`]: reads (`lstat`,
//!   `readlink`, listing, the basis of a delta) as well as writes, links, owners, modes,
//!   times and deletions. Each walks from the destination's descriptor without following a
//!   symlink, so a symlink inside the destination (`dest/sub -> /etc`) is replaced or
//!   deleted as the link it is, as rsync does, and never read, written or listed through.
//!
//! The one call by path is opening the destination folder itself, which the user named.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use prtools_delta::{Assembler, Patcher, Signature, SignatureOptions};
use prtools_sync::filter::FilterList;
use prtools_sync::{FileStat, RelPath, Root};

use crate::cli::{DeleteMode, Options};
use crate::flist::{compare, parent_of, FileEntry, FileKind};
use crate::itemize::{self, Item};
use crate::sender::{os_reason, Prefetch, Sender};
use crate::stats::Stats;
use prtools_mapped::Mapped;

mod alt;
mod attrs;
mod fuzzy;
mod parallel_copy;
mod partial;
use alt::{AltFile, AltOther};

/// The largest file the sender is asked to send ahead (see [`Sender::prefetch`]): above
/// this a round trip is small beside the transfer itself.
const PREFETCH_LARGEST: u64 = 256 * 1024;

/// What a file being rebuilt collects before each write: the delta's ops and the fetched
/// ranges come in pieces of any size, and the disk wants few large writes. Blocks copied from
/// the old file in runs longer than this go straight to the file.
const WRITE_BUFFER: usize = 1 << 20;

/// rsync's partial folder for `--delay-updates`.
pub const DELAY_FOLDER: &[u8] = b".~tmp~";

/// How `-b` keeps a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Moved away: it is being deleted or replaced by another kind.
    Move,
    /// Hard-linked: the new file is renamed over the name next, leaving the link.
    Link,
    /// Copied: `--inplace` is about to rewrite the file itself.
    Copy,
}

/// The file a new one is built from: its `lstat`, and its path when it is not the one at
/// the entry's own name.
type Old<'p> = (&'p FileStat, Option<&'p std::path::Path>);

/// Where the names of the file list land.
#[derive(Debug)]
pub struct Dest {
    /// The folder the names are below.
    pub dir: PathBuf,
    /// A lone file copied under another name (`prsync -a file newname`).
    pub solo_name: Option<Vec<u8>>,
    /// The folder was made by this run (so `.` is itemized as new), or would be (dry run).
    pub created: bool,
}

/// A hard-link group's progress.
#[derive(Debug, Default)]
struct Group {
    /// The member that is complete on the destination, which the others link to.
    done: Option<usize>,
    /// The leader was sent in this (real) run: rsync links the others once the receiver has
    /// finished it, which comes after the generator's pass.
    late: bool,
    /// Members met before the leader, missing; linked in reverse order when it is done.
    before: Vec<usize>,
    /// Members met after a late leader; linked in order when it is done.
    after: Vec<usize>,
    /// The group's last member in the list: it is sent if every member is missing.
    last: usize,
}

/// The receiving side of one transfer.
pub struct Receiver<'a, S: Sender, W: Write> {
    opts: &'a Options,
    sender: &'a mut S,
    dest: Dest,
    /// The destination folder; `None` when it does not exist (a dry run that would make it).
    root: Option<Root>,
    /// Where each entry of the list lands below the root (`None`: the root itself), checked.
    rels: Vec<Option<RelPath>>,
    /// With [`Dest::solo_name`]: where the lone entry lands instead.
    solo: Option<RelPath>,
    out: W,
    utf8: itemize::HighBytes,
    /// The groups this process may give a file when it is not root (its own and its
    /// supplementary ones); `None` as root, who may give any.
    my_groups: Option<Vec<u32>>,
    /// Totals for `--stats`.
    pub stats: Stats,
    /// Set when any entry failed (exit 23).
    pub failed: bool,
    groups: HashMap<u32, Group>,
    late: Vec<u32>,
    /// Names below which nothing exists on the destination (made or replaced in a dry run).
    missing_below: Vec<Vec<u8>>,
    /// Directories that could not be made: nothing below them is tried.
    skip_below: Vec<Vec<u8>>,
    /// Directories whose times (and restrictive modes) are set once everything is in.
    dirs: Vec<usize>,
    /// For each directory in the list, the names of its entries (for deletion).
    children: HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    /// Directories that existed as directories before this run touched them.
    existed: HashSet<usize>,
    /// What the first look of [`Receiver::run`] found at each entry it looked at.
    seen: Vec<Option<Option<FileStat>>>,
    /// `--compare-dest`, `--copy-dest` or `--link-dest`, its folders resolved.
    alt: Option<crate::alt_dest::AltDest>,
    /// `-vv`: the names of files sent from the folder being walked. rsync's receiver names
    /// a file once its data has arrived, by when its generator has named the rest of the
    /// folder (`x is uptodate`), so these follow the folder's other lines.
    sent_names: Vec<Vec<u8>>,
    /// The last folder [`Receiver::make_parents`] made sure of.
    parents_made: Option<RelPath>,
    /// `--delay-updates`: files waiting in a `.~tmp~` folder, with their place, entry, and
    /// whether an old file is there (for `-b`).
    delayed: Vec<(RelPath, RelPath, usize, bool)>,
    /// `--delay-updates`: the `.~tmp~` folders this run uses.
    delay_folders: Vec<RelPath>,
    /// `-T`: the folder new files are written in before they are moved into place.
    temp_root: Option<Root>,
    /// Deletions `--max-delete` held back (rsync's `skipped_deletes`).
    pub skipped_deletes: u64,
    /// Set while a folder is emptied to make way for another kind of entry.
    making_room: bool,
    /// `-K`: the folder entries that are symlinks here, kept and written through.
    kept_dirlinks: HashSet<usize>,
    /// Set while a file is written against a `-y` basis.
    fuzzy_now: bool,
    /// `--log-file`: where each updated entry is logged too.
    pub log: Option<crate::log_file::LogFile>,
    /// `--partial-dir` when it is absolute: the one folder every partial file goes to.
    partial_root: Option<Root>,
    /// `--out-format` with `%C`: the line of the file being sent, and its itemized change,
    /// printed once the file is written.
    waiting_line: Option<(usize, Vec<u8>)>,
    /// Running as root: `-X` touches every namespace but `system.`, not only `user.`.
    am_root: bool,
}

impl<'a, S: Sender, W: Write> Receiver<'a, S, W> {
    /// A receiver writing into `dest`; `out` takes the `-i`/`-v` lines.
    ///
    /// Every name of the sender's list is checked first: one that could lead outside the
    /// destination is an error, and nothing is done.
    pub fn new(opts: &'a Options, sender: &'a mut S, dest: Dest, out: W) -> io::Result<Self> {
        let rels = checked_names(sender.file_list())?;
        for map in [&opts.usermap, &opts.groupmap].into_iter().flatten() {
            for warning in &map.unknown {
                eprintln!("{warning}");
            }
        }
        let solo = match &dest.solo_name {
            Some(name) => Some(RelPath::new(name.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot use the destination name: {e}"),
                )
            })?),
            None => None,
        };
        // -K: a trusted symlink to a folder is walked through. -R --no-implied-dirs: the
        // folders above a name are not sent, so the destination's own path is used as it
        // is, through a symlink that stays inside the destination, never one that leads out
        // (rsync 3.5.0's no-implied-dirs-symlink and relative-mkpath-symlink).
        let inner_links = opts.relative && !opts.implied_dirs;
        let root = match Root::open(&dest.dir).map(|r| match (opts.keep_dirlinks, inner_links) {
            (true, _) => r.keeping_dirlinks(),
            (false, true) => r.following_inner_links(),
            (false, false) => r,
        }) {
            Ok(root) => Some(root),
            // Not there (yet): a dry run that would make it, or nothing to do. Each entry
            // that needs it says so.
            Err(e)
                if matches!(
                    prtools_sync::raw_os_error(&e),
                    Some(libc::ENOENT | libc::ENOTDIR)
                ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        let mut out = out;
        let alt = match &opts.alt_dest {
            Some(alt) => {
                let (alt, warnings) = alt.resolve(
                    &dest.dir,
                    opts.dry_run && root.is_none(),
                    opts.insecure_links,
                );
                // After what stdout has so far, as rsync's lines come.
                if !warnings.is_empty() {
                    let _ = out.flush();
                }
                for warning in warnings {
                    eprintln!("{warning}");
                }
                Some(alt)
            }
            None => None,
        };
        // -T: relative to the destination, as rsync's receiver takes it from there.
        let temp_root = match &opts.temp_dir {
            Some(dir) => Some(Root::open(&dest.dir.join(dir))?),
            None => None,
        };
        // An absolute --partial-dir: its last folder is made if missing, as rsync makes it.
        let partial_root = match opts.partial_dir.as_deref().filter(|d| d.is_absolute()) {
            Some(dir) if opts.dry_run => Root::open(dir).ok(),
            Some(dir) => {
                match std::fs::create_dir(dir) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                Some(Root::open(dir)?)
            }
            None => None,
        };
        let mut children: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
        let mut groups: HashMap<u32, Group> = HashMap::new();
        // The names of each folder, for --delete alone: without it they were a name's copy
        // and a hash-set insert for every entry of a no-op run, for nothing.
        let deletes = opts.delete != DeleteMode::Off;
        for (i, e) in sender.file_list().iter().enumerate() {
            if let Some(parent) = parent_of(&e.name).filter(|_| deletes) {
                children
                    .entry(parent.to_vec())
                    .or_default()
                    .insert(e.name.clone());
            }
            if let Some(g) = e.hlink {
                groups.entry(g).or_default().last = i;
            }
        }
        Ok(Receiver {
            opts,
            sender,
            dest,
            root,
            rels,
            solo,
            out,
            utf8: opts.more.high_bytes,
            my_groups: my_groups(opts.am_root()),
            stats: Stats::default(),
            failed: false,
            groups,
            late: Vec::new(),
            missing_below: Vec::new(),
            skip_below: Vec::new(),
            dirs: Vec::new(),
            children,
            existed: HashSet::new(),
            seen: Vec::new(),
            alt,
            sent_names: Vec::new(),
            parents_made: None,
            delayed: Vec::new(),
            delay_folders: Vec::new(),
            temp_root,
            skipped_deletes: 0,
            making_room: false,
            kept_dirlinks: HashSet::new(),
            waiting_line: None,
            am_root: rustix::process::geteuid().is_root(),
            partial_root,
            log: None,
            fuzzy_now: false,
        })
    }

    fn list(&self) -> &[FileEntry] {
        self.sender.file_list()
    }

    /// Runs the whole transfer.
    pub fn run(&mut self) -> io::Result<()> {
        let n = self.list().len();
        // One look at each folder and small file before anything changes: which folders
        // exist (and get their leftovers swept), which small files will be wanted whole
        // (the sender may send them ahead). What it finds is kept for the entry's own turn
        // (`lstat_once`), so that a no-op run stats each of them once, not twice.
        self.seen = vec![None; n];
        let looked: Vec<usize> = (0..n)
            .filter(|&i| {
                let e = &self.list()[i];
                e.is_dir() || (e.is_regular() && e.hlink.is_none() && e.size() <= PREFETCH_LARGEST)
            })
            .collect();
        let found = self.first_look(&looked);
        let mut wanted: Vec<(usize, Prefetch)> = Vec::new();
        let mut changed = Vec::new();
        for (i, found) in looked.into_iter().zip(found) {
            if self.list()[i].is_dir() {
                if matches!(found, Ok(Some(m)) if m.is_dir()) {
                    self.existed.insert(i);
                }
            } else if matches!(found, Ok(None)) {
                wanted.push((i, Prefetch::Whole));
            } else if let Ok(Some(m)) = &found {
                if self.delta_ahead(i, m) {
                    changed.push(i);
                }
            }
            // Errors are not kept: the entry's turn looks again and reports them.
            if let Ok(found) = found {
                self.seen[i] = Some(found);
            }
        }
        if !self.opts.dry_run {
            self.ask_deltas_ahead(changed, &mut wanted);
            self.sender.prefetch(wanted);
        }
        if self.opts.delete == DeleteMode::Before {
            for i in 0..n {
                if self.deletes_in(i) {
                    self.delete_in_dir(i)?;
                }
            }
        }
        for i in 0..n {
            if self.opts.more.time_is_up() {
                self.out.flush()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "stopping at requested limit",
                ));
            }
            // A folder's extraneous entries go before its own line, as rsync prints them;
            // the folder is compared as it was before they went, as rsync's stat of it is.
            if self.opts.delete == DeleteMode::During && self.deletes_in(i) {
                let before = self.lstat_once(i);
                self.delete_in_dir(i)?;
                self.process_as(i, before)?;
            } else {
                self.process(i)?;
            }
        }
        self.flush_sent_names();
        self.finish_delayed();
        for g in std::mem::take(&mut self.late) {
            let group = self.groups.get_mut(&g).expect("late groups exist");
            group.late = false;
            let after = std::mem::take(&mut group.after);
            let before = std::mem::take(&mut group.before);
            for m in after.into_iter().chain(before.into_iter().rev()) {
                self.link_or_fail(m, g);
            }
        }
        if self.opts.delete == DeleteMode::After {
            for i in 0..n {
                if self.deletes_in(i) {
                    self.delete_in_dir(i)?;
                }
            }
        }
        self.finish_dirs();
        self.out.flush()
    }

    /// Whether small file `i`, found here as `m`, will plainly be sent as a delta against
    /// `m`: no option that picks another basis or skips it, and the quick check says it
    /// changed.
    fn delta_ahead(&self, i: usize, m: &FileStat) -> bool {
        let o = self.opts;
        let e = &self.list()[i];
        !(o.whole_file
            || o.checksum
            || o.inplace
            || o.ignore_existing
            || o.partial_dir.is_some()
            || o.alt_dest.is_some()
            || o.more.fuzzy
            || o.more.append > 0
            || o.max_size.is_some_and(|max| e.size() > max)
            || o.min_size.is_some_and(|min| e.size() < min)
            || (o.update && o.more.newer(m.mtime.secs, e.mtime.secs)))
            && m.is_file()
            && m.size > 0
            && !self.unchanged(i, e, m).unwrap_or(true)
    }

    /// What the changed files will need (merged into `wanted`, in list order), so that a
    /// sender across a network sends it ahead instead of one round trip at a time: a sender
    /// that offers no signatures makes their deltas against the signatures made here; one
    /// that does sends its signatures, which each old copy is then searched with.
    fn ask_deltas_ahead(&mut self, changed: Vec<usize>, wanted: &mut Vec<(usize, Prefetch)>) {
        let options = SignatureOptions {
            block_size: self.opts.block_size,
            strong_len: None,
        };
        let Some(&first) = changed.first() else {
            return;
        };
        if !self.sender.takes_deltas_ahead(first, &options) {
            // The first one's signature came with the question.
            for i in changed.into_iter().skip(1) {
                wanted.push((i, Prefetch::Signature(self.opts.block_size)));
            }
            wanted.sort_by_key(|(i, _)| *i);
            return;
        }
        for i in changed {
            let Ok(rel) = self.rel_below(i) else { continue };
            let Ok(file) = self.root().and_then(|r| r.open_file(&rel)) else {
                continue;
            };
            let Ok(map) = Mapped::new(&file) else {
                continue;
            };
            if let Ok(sig) = Signature::new(&map, &options) {
                wanted.push((i, Prefetch::Delta(sig.to_bytes())));
            }
        }
        wanted.sort_by_key(|(i, _)| *i);
    }

    /// `--info=skip`: says that file `e` is skipped, and `why` (after its name).
    fn say_skipped(&mut self, e: &FileEntry, why: &str) {
        if self.opts.skip_level() > 0 {
            let mut line = itemize::escape(&e.name, self.utf8);
            line.extend_from_slice(why.as_bytes());
            self.print(&line);
        }
    }

    /// `--info=skip2`'s word on how an existing file `m` differs from entry `i` (`e`).
    fn how_it_differs(&self, i: usize, e: &FileEntry, m: &FileStat) -> io::Result<&'static str> {
        Ok(if !m.is_file() {
            " (type change)"
        } else if !self.unchanged(i, e, m)? {
            if self.opts.checksum {
                " (sum change)"
            } else {
                " (file change)"
            }
        } else if !self.attrs_match(e, m, &self.dest.dir.join(self.rel_below(i)?.as_path())) {
            " (attr change)"
        } else {
            " (uptodate)"
        })
    }

    /// `-b`: keeps what is at entry `i`'s name before this run replaces it.
    fn back_up(&mut self, i: usize, rel: &RelPath, keep: Keep) -> io::Result<bool> {
        let name = match &self.solo {
            Some(solo) => solo.as_bytes().to_vec(),
            None => self.list()[i].name.clone(),
        };
        self.back_up_name(&name, rel, keep)
    }

    /// `-b`: keeps what is at `name` (`rel` in the root) before this run replaces or deletes
    /// it, at its backup place; false without `-b`, when nothing is kept.
    fn back_up_name(&mut self, name: &[u8], rel: &RelPath, keep: Keep) -> io::Result<bool> {
        let Some(backup) = &self.opts.backup else {
            return Ok(false);
        };
        if self.opts.dry_run {
            return Ok(false);
        }
        let (to, shown) = backup.place(&self.dest.dir, name);
        if self.opts.links && self.opts.safe_links && self.keeps_unsafe_link(name, rel)? {
            return Ok(false);
        }
        // --backup-dir: the place is reached by descriptor and named through the folder
        // held open (see backup::Place), which lives until the backup is made.
        let place = match &backup.dir {
            Some(dir) => {
                let root = self.root()?;
                let perms = self.opts.perms;
                let mode_of = |below: &[u8]| {
                    let rel = RelPath::new(below.to_vec()).ok()?;
                    let meta = root.metadata(Some(&rel)).ok()??;
                    (perms && meta.is_dir()).then_some(meta.mode)
                };
                let with_suffix = [name, &backup.suffix[..]].concat();
                Some(crate::backup::Place::open(
                    &self.dest.dir,
                    dir,
                    &with_suffix,
                    self.opts.insecure_links,
                    mode_of,
                )?)
            }
            None => None,
        };
        let to = place.as_ref().map_or(to, crate::backup::Place::path);
        let copy = |this: &mut Self| -> io::Result<()> {
            this.clear_backup_place(&to, &shown)?;
            let from = this.dest.dir.join(rel.as_path());
            let meta = std::fs::symlink_metadata(&from)?;
            let kind = meta.file_type();
            // As rsync's make_backup: a link or a special file is made anew; only a regular
            // file's bytes are copied (reading a fifo would wait for a writer forever).
            if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
                return Ok(());
            }
            if !kind.is_file() {
                use std::os::unix::fs::MetadataExt;
                let mode = rustix::fs::FileType::from_raw_mode(meta.mode());
                let perms = rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777);
                rustix::fs::mknodat(rustix::fs::CWD, &to, mode, perms, meta.rdev())?;
            } else {
                std::fs::copy(&from, &to)?;
            }
            filetime::set_symlink_file_times(
                &to,
                filetime::FileTime::from_last_access_time(&meta),
                filetime::FileTime::from_last_modification_time(&meta),
            )
        };
        match keep {
            Keep::Copy => copy(self)?,
            Keep::Move | Keep::Link => {
                let root = self.root()?;
                let mut moved = root.move_out(rel, &to, keep == Keep::Link);
                // Something already at the backup's place (a folder, even a full one) is
                // removed and the move tried again, as rsync's make_backup does.
                if let Err(e) = &moved {
                    let errno = prtools_sync::raw_os_error(e);
                    if matches!(errno, Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST)) {
                        self.clear_backup_place(&to, &shown)?;
                        moved = self.root()?.move_out(rel, &to, keep == Keep::Link);
                    }
                }
                match moved {
                    // Another file system: the backup is a copy (and a move removes the
                    // original after it).
                    Err(e) if prtools_sync::raw_os_error(&e) == Some(libc::EXDEV) => {
                        copy(self)?;
                        if keep == Keep::Move {
                            self.root()?.remove(rel)?;
                        }
                    }
                    other => other?,
                }
            }
        }
        if self
            .opts
            .info
            .backup
            .map_or(self.opts.verbose > 1, |l| l > 0)
        {
            let mut line = b"backed up ".to_vec();
            line.extend(itemize::escape(name, self.utf8));
            line.extend_from_slice(b" to ");
            line.extend(itemize::escape(&shown, self.utf8));
            self.print(&line);
        }
        Ok(true)
    }

    /// Makes way for a backup at `to` (`shown` as the lines name it): what was below a
    /// folder there is reported deleted, as rsync reports it.
    fn clear_backup_place(&mut self, to: &std::path::Path, shown: &[u8]) -> io::Result<()> {
        for (below, mode) in crate::backup::clear_place(to)? {
            let mut name = [shown, b"/", &below[..]].concat();
            let kind = FileKind::of_mode(mode);
            if kind == FileKind::Dir {
                name.push(b'/');
            }
            self.stats.deleted.add(&kind);
            self.report_delete(&name);
        }
        Ok(())
    }

    /// `--safe-links` with `-b`: whether what is at `name` is an unsafe symlink, which is
    /// not kept (rsync 3.5.0 will not carry a link that leads out of the tree into the
    /// backups); it is said with `-v`, as an unsafe link from the sender is.
    fn keeps_unsafe_link(&mut self, name: &[u8], rel: &RelPath) -> io::Result<bool> {
        let root = self.root()?;
        if !root.metadata(Some(rel))?.is_some_and(|m| m.is_symlink()) {
            return Ok(false);
        }
        let target = root.read_link(rel)?;
        if !crate::links::is_unsafe(name, &target) {
            return Ok(false);
        }
        if self.opts.verbose > 0 {
            let line = format!(
                "not backing up unsafe symlink \"{}\" -> \"{}\"",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(&target)
            );
            self.print(line.as_bytes());
        }
        Ok(true)
    }

    /// Whether `--delete` looks in folder `i`: one that was there, and was sent with its
    /// contents (not a folder `-R` only implied).
    fn deletes_in(&self, i: usize) -> bool {
        self.existed.contains(&i) && !self.list()[i].implied
    }

    /// `-R --no-implied-dirs`: the folders above entry `i` that are not on the destination
    /// are made (`mkdir -p`, without a line), as rsync's receiver does.
    fn make_parents(&mut self, i: usize) -> io::Result<()> {
        let Some(parent) = self.rel_of(i).and_then(RelPath::parent) else {
            return Ok(());
        };
        if self.parents_made.as_ref() == Some(&parent) {
            return Ok(());
        }
        let root = self.root()?;
        if root.metadata(Some(&parent))?.is_none() {
            root.create_dir_all(&parent)?;
        }
        self.parents_made = Some(parent);
        Ok(())
    }

    /// [`Receiver::lstat`] of each of `entries`, before anything has changed, on every core:
    /// in a no-op run of a large tree this look is most of the receiver's time, and it is
    /// all waiting on the file system. A folder found gets what a killed run left in it
    /// swept (see `Root::sweep_temps`; best effort, and not in a dry run).
    fn first_look(&self, entries: &[usize]) -> Vec<io::Result<Option<FileStat>>> {
        use rayon::prelude::*;
        /// Entries a thread takes at a time: neighbours in the list share folders, which a
        /// thread's walk cache then opens once.
        const LOOK_CHUNK: usize = 256;
        let Some(root) = &self.root else {
            return entries.iter().map(|_| Ok(None)).collect();
        };
        let list = self.list();
        let (rels, solo) = (&self.rels, self.solo.as_ref());
        let root_is_new = self.dest.created;
        let sweep = !self.opts.dry_run;
        entries
            .par_chunks(LOOK_CHUNK)
            .map_init(
                || root.fork(),
                |root, chunk| {
                    chunk
                        .iter()
                        .map(|&i| {
                            // As `lstat` has it; nothing is missing below anything yet.
                            if list[i].name == b"." && root_is_new {
                                return Ok(None);
                            }
                            let rel = solo.or(rels[i].as_ref());
                            let found = root.metadata(rel);
                            if sweep
                                && list[i].is_dir()
                                && matches!(&found, Ok(Some(m)) if m.is_dir())
                            {
                                let _ = root.sweep_temps(rel);
                            }
                            found
                        })
                        .collect::<Vec<_>>()
                },
            )
            .flatten()
            .collect()
    }

    /// The entry's path for the [`Root`]; `None` for the root itself.
    fn rel_of(&self, i: usize) -> Option<&RelPath> {
        match &self.solo {
            Some(solo) => Some(solo),
            None => self.rels[i].as_ref(),
        }
    }

    /// The entry's path for the [`Root`], for a change that cannot apply to the root itself
    /// (which [`checked_names`] lets only a directory be).
    fn rel_below(&self, i: usize) -> io::Result<RelPath> {
        self.rel_of(i).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the destination folder itself cannot be replaced",
            )
        })
    }

    fn is_missing_below(&self, name: &[u8]) -> bool {
        self.missing_below.iter().any(|d| is_below(name, d))
    }

    /// What the destination has at entry `i` now (not following a final symlink); an error
    /// if a symlink stands on the way to it.
    fn lstat(&self, i: usize) -> io::Result<Option<FileStat>> {
        let name = &self.list()[i].name;
        if name == b"." && self.dest.created {
            return Ok(None);
        }
        if self.is_missing_below(name) {
            return Ok(None);
        }
        match &self.root {
            Some(root) => root.metadata(self.rel_of(i)),
            None => Ok(None),
        }
    }

    /// [`Receiver::lstat`], answered from the first look of [`Receiver::run`] when it took
    /// one. Nothing the run did since can have changed what it found at a listed name: a
    /// folder above it replaced by this run was not a folder then (so nothing was found
    /// below it, as now), deletions take only names the list does not have, and hard links
    /// to an entry are made after its turn. A dry run's "would be gone" still wins. A file
    /// with other names is looked at again: setting the time or mode of one of its names
    /// earlier in the run changed it (rsync's itemize test: `foo/extra` linked to
    /// `foo/config1` on the destination).
    fn lstat_once(&mut self, i: usize) -> io::Result<Option<FileStat>> {
        match self.seen.get_mut(i).and_then(Option::take) {
            Some(found)
                if !self.is_missing_below(&self.list()[i].name)
                    && found.is_none_or(|m| m.is_dir() || m.nlink < 2) =>
            {
                Ok(found)
            }
            _ => self.lstat(i),
        }
    }

    fn print(&mut self, line: &[u8]) {
        // A closed stdout must not stop the transfer; the exit status tells the rest.
        let _ = self.out.write_all(line);
        let _ = self.out.write_all(b"\n");
    }

    /// Reports a failed entry on stderr; the run goes on and exits 23.
    fn fail(&mut self, message: String) {
        let _ = self.out.flush();
        eprintln!("prsync: {message}");
        self.failed = true;
    }

    /// Prints an item the way `-i` or `-v` want it.
    fn report(&mut self, i: usize, item: &Item, hlink_target: Option<&[u8]>) {
        let item = &self.with_attr_columns(i, item);
        let entry = self.list()[i].clone();
        if item.is_new {
            self.stats.created.add(&entry.kind);
        }
        if let Some(mut log) = self.log.take() {
            let shown = match log.format.has_item() {
                true => item.significant(),
                false => item.is_new || item.transfer || item.hlink || item.significant(),
            };
            if shown {
                let code = self.shown_code(item, &entry);
                let line = self.out_line(
                    &log.format,
                    &entry,
                    &code,
                    item.transfer,
                    hlink_target,
                    None,
                );
                log.line(&line);
            }
            self.log = Some(log);
        }
        if let Some(format) = &self.opts.out_format {
            let shown = match format.has_item() {
                true => item.significant() || self.opts.itemize_all,
                false => item.named(entry.is_dir()),
            };
            if shown && !self.opts.quiet {
                let code = self.shown_code(item, &entry);
                if format.has_checksum() && item.transfer && !self.opts.dry_run {
                    self.waiting_line = Some((i, code));
                } else {
                    let line =
                        self.out_line(format, &entry, &code, item.transfer, hlink_target, None);
                    self.print(&line);
                }
            }
        } else if self.opts.itemize {
            if item.significant() || self.opts.itemize_all {
                let mut line = itemize::line(item, &entry, hlink_target, self.utf8);
                if self.opts.pushed && line.first() == Some(&b'>') {
                    line[0] = b'<';
                }
                self.print(&line);
            }
        } else if self.opts.names() && item.named(entry.is_dir()) {
            let mut line = itemize::escape(&entry.shown_name(), self.utf8);
            if let Some(t) = hlink_target {
                line.extend_from_slice(b" => ");
                line.extend(itemize::escape(t, self.utf8));
            } else if let FileKind::Symlink { target } = &entry.kind {
                line.extend_from_slice(b" -> ");
                line.extend(itemize::escape(target, self.utf8));
            }
            // A link's name line is rsync's generator's, which reaches the terminal
            // through the sender after the folder's `is uptodate` lines, as a sent file's.
            if self.opts.names_uptodate() && (item.transfer || hlink_target.is_some()) {
                self.sent_names.push(line);
            } else {
                self.print(&line);
            }
        }
    }

    /// The itemized change of `entry` as this side shows it: a file an agent receives from a
    /// pushing client is `<f...`, the client's view, as rsync prints a push.
    fn shown_code(&self, item: &Item, entry: &FileEntry) -> Vec<u8> {
        let mut code = item.code(entry).into_bytes();
        if self.opts.pushed && code.first() == Some(&b'>') {
            code[0] = b'<';
        }
        code
    }

    /// The `--out-format` line of `entry`, whose itemized change is `code`.
    fn out_line(
        &self,
        format: &crate::out_format::OutFormat,
        entry: &FileEntry,
        code: &[u8],
        transferred: bool,
        hlink_target: Option<&[u8]>,
        checksum: Option<u128>,
    ) -> Vec<u8> {
        let name = itemize::escape(&entry.shown_name(), self.utf8);
        let mut link = Vec::new();
        let mut length = entry.size();
        if let Some(t) = hlink_target {
            link.extend_from_slice(b" => ");
            link.extend(itemize::escape(t, self.utf8));
        } else if let FileKind::Symlink { target } = &entry.kind {
            link.extend_from_slice(b" -> ");
            link.extend(itemize::escape(target, self.utf8));
            length = target.len() as u64;
        }
        // %f: the name with the sender's folder in front, as the local sender knows it,
        // without a leading slash, as rsync prints it.
        let full = match (&self.opts.source_prefix, self.opts.pushed) {
            (Some(prefix), false) => [prefix, &entry.name[..]].concat(),
            _ => entry.name.clone(),
        };
        let start = full.iter().position(|&b| b != b'/').unwrap_or(full.len());
        let full_name = itemize::escape(&full[start..], self.utf8);
        let fields = crate::out_format::Fields {
            item: code,
            name: &name,
            full_name: &full_name,
            link: &link,
            length,
            bytes: transferred.then(|| entry.size()),
            checksum,
            operation: match self.opts.remote {
                crate::cli::Remote::Pull(_) => "recv",
                _ => "send",
            },
            mtime: entry.mtime.secs,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
        };
        format.render(&fields)
    }

    /// `--out-format` with `%C`: the line of file `i`, just written, with its hash.
    fn print_written_line(&mut self, i: usize, code: &[u8]) -> io::Result<()> {
        let Some(format) = self.opts.out_format.as_ref() else {
            return Ok(());
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        let mut file = self.root()?.open_file(&self.rel_below(i)?)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match io::Read::read(&mut file, &mut buf)? {
                0 => break,
                n => hasher.update(&buf[..n]),
            }
        }
        let entry = self.list()[i].clone();
        let line = self.out_line(format, &entry, code, true, None, Some(hasher.digest128()));
        self.print(&line);
        Ok(())
    }

    /// Prints the names of the files sent in the folder just done (see `sent_names`).
    fn flush_sent_names(&mut self) {
        for line in std::mem::take(&mut self.sent_names) {
            self.print(&line);
        }
    }

    /// The lines of a link, device or fifo: its `-i`/`-v` line unless the `--*-dest`
    /// folders made it `silent`ly, and `-vv`'s `is uptodate` when nothing had to be `made`.
    fn report_made(&mut self, i: usize, item: &Item, silent: bool, made: bool) {
        if !silent {
            self.report(i, item, None);
        }
        if !made {
            self.report_uptodate(i, item);
        }
    }

    /// `-vv` without `-i`: an entry whose data is already there is named, with ` is
    /// uptodate` when none of its attributes (`item`) change either, as rsync's
    /// `set_file_attrs` reports it.
    fn report_uptodate(&mut self, i: usize, item: &Item) {
        if !self.opts.names_uptodate() || self.opts.itemize {
            return;
        }
        let item = &self.with_attr_columns(i, item);
        let changed = item.time || item.perms || item.owner || item.group || item.acl || item.xattr;
        let e = self.list()[i].clone();
        self.say_uptodate(&e, changed);
    }

    /// `-vv`'s line for an entry whose data is already there: its name (a folder's with a
    /// `/`, the root as `./`), then ` is uptodate` unless its attributes change.
    fn say_uptodate(&mut self, e: &FileEntry, attrs_change: bool) {
        let mut line = itemize::escape(&e.name, self.utf8);
        if e.is_dir() {
            line.push(b'/');
        }
        if !attrs_change {
            line.extend_from_slice(b" is uptodate");
        }
        self.print(&line);
    }

    /// The attribute columns of entry `e` against what is there (`meta`).
    fn attr_item(&self, e: &FileEntry, meta: &FileStat) -> Item {
        let o = self.opts;
        let keep_time = o.times;
        let mut item = Item {
            time_now: !o.times,
            ..Item::default()
        };
        if e.is_regular() && meta.is_file() && e.size() != meta.size {
            item.size = true;
        }
        let omitted = (e.is_dir() && o.omit_dir_times)
            || (matches!(e.kind, FileKind::Symlink { .. }) && o.more.omit_link_times);
        if keep_time && !omitted && !o.more.same_time(e.mtime.secs, meta.mtime.secs) {
            item.time = true;
        }
        // rsync compares a symlink's bits too (lchmod exists on Linux); they differ only from
        // what is not a symlink (an -H member linked over a file, `hL..tp.....`).
        let is_link = matches!(e.kind, FileKind::Symlink { .. }) && meta.is_symlink();
        if o.perms && !is_link && (e.mode & 0o7777) != (meta.mode & 0o7777) {
            item.perms = true;
        }
        if !o.perms && o.more.executability && e.is_regular() && meta.is_file() {
            let want = crate::more_options::executable_like(e.mode, meta.mode & 0o7777);
            item.perms = want != meta.mode & 0o7777;
        }
        if o.owner && self.uid_of(e) != meta.uid {
            item.owner = true;
        }
        if self.gid_for(self.gid_of(e)).is_some_and(|g| g != meta.gid) {
            item.group = true;
        }
        item
    }

    fn process(&mut self, i: usize) -> io::Result<()> {
        let meta = self.lstat_once(i).map(|m| m.map(|m| self.fake_view(i, m)));
        self.process_as(i, meta)
    }

    /// [`Receiver::process`] with what is at entry `i`'s name already looked up.
    fn process_as(&mut self, i: usize, meta: io::Result<Option<FileStat>>) -> io::Result<()> {
        let entry = self.list()[i].clone();
        if i > 0 && parent_of(&entry.name) != parent_of(&self.list()[i - 1].name) {
            self.flush_sent_names();
        }
        if self.opts.relative && !self.opts.implied_dirs && !self.opts.dry_run {
            if let Err(e) = self.make_parents(i) {
                let shown = String::from_utf8_lossy(&entry.name).into_owned();
                self.fail(format!(
                    "cannot make the folders above {shown}: {}",
                    os_reason(&e)
                ));
                return Ok(());
            }
        }
        if self.skip_below.iter().any(|d| is_below(&entry.name, d)) {
            return Ok(());
        }
        let result = match meta {
            Err(e) => Err(e),
            // --existing: nothing new is made, nor anything inside a folder not made.
            Ok(None) if self.opts.existing && entry.name != b"." => {
                if entry.is_dir() {
                    self.skip_below.push(entry.name.clone());
                }
                if self.opts.skip_level() > 0 {
                    let what = if entry.is_dir() { "directory" } else { "file" };
                    let mut line = format!("not creating new {what} \"").into_bytes();
                    line.extend(itemize::escape(&entry.name, self.utf8));
                    line.push(b'"');
                    self.print(&line);
                }
                Ok(())
            }
            Ok(meta) => match &entry.kind {
                FileKind::Dir => self.do_dir(i, &entry, meta),
                FileKind::Regular { .. } => self.do_file(i, &entry, meta).map(|()| {
                    if let Some(line) = self.sender.settled(i).filter(|_| !self.opts.quiet) {
                        self.print(line.as_bytes());
                    }
                }),
                FileKind::Symlink { target } => self.do_symlink(i, &entry, meta, target),
                FileKind::Device { .. } | FileKind::Special => self.do_special(i, &entry, meta),
                FileKind::Missing => self.do_missing(i, &entry, meta),
            },
        };
        let result = result.and_then(|()| self.finish_entry(i));
        if let Err(e) = result {
            let shown = String::from_utf8_lossy(&entry.name).into_owned();
            if entry.is_dir() {
                self.skip_below.push(entry.name.clone());
                self.fail(format!(
                    "cannot make directory {shown}: {}; skipping everything in it",
                    os_reason(&e)
                ));
            } else {
                self.fail(format!("cannot update {shown}: {}", os_reason(&e)));
            }
        }
        Ok(())
    }

    fn do_dir(&mut self, i: usize, e: &FileEntry, meta: Option<FileStat>) -> io::Result<()> {
        // -K: a symlink to a folder where the sender has a folder is kept, and used as one.
        let meta = match (&meta, self.rel_of(i)) {
            (Some(m), Some(rel)) if m.is_symlink() && self.opts.keep_dirlinks => {
                match self.root()?.dir_behind_link(rel) {
                    Ok(Some(dir)) => {
                        self.kept_dirlinks.insert(i);
                        Some(dir)
                    }
                    Ok(None) => meta,
                    Err(err) => {
                        self.fail(err.to_string());
                        self.skip_below.push(e.name.clone());
                        return Ok(());
                    }
                }
            }
            _ => meta,
        };
        match meta {
            Some(m) if m.is_dir() => {
                let item = self.attr_item(e, &m);
                self.report(i, &item, None);
                if !self.opts.dry_run {
                    self.set_owner(i, e, &m)?;
                    if self.opts.perms && item.perms {
                        self.set_mode(i, e.mode | 0o700)?;
                    }
                }
                self.dirs.push(i);
            }
            other => {
                if let Some(m) = other {
                    if !self.make_way(i, &m, "directory")? {
                        return Ok(());
                    }
                }
                let new = Item {
                    is_new: true,
                    local_change: true,
                    ..Item::default()
                };
                match self.alt_other(i, e)? {
                    AltOther::Nothing => self.report(i, &new, None),
                    AltOther::Near(item) => self.report(i, &item, None),
                    AltOther::Settled | AltOther::Silent => {}
                }
                if self.opts.dry_run {
                    self.missing_below.push(e.name.clone());
                } else {
                    // The root itself was made (or found) before the run began.
                    if let Some(rel) = self.rel_of(i) {
                        self.root()?.create_dir_replacing(rel, 0o700)?;
                    }
                    self.set_owner_new(i, e)?;
                }
                self.dirs.push(i);
            }
        }
        Ok(())
    }

    fn root(&self) -> io::Result<&Root> {
        self.root.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("'{}' does not exist", self.dest.dir.display()),
            )
        })
    }

    /// Removes what is at entry `i` so that something of another kind can go there, as
    /// rsync does. A non-empty directory goes only with `--delete` (its contents are
    /// itemized as deleted); else it is an error and `false`.
    fn make_way(&mut self, i: usize, meta: &FileStat, what: &str) -> io::Result<bool> {
        let name = self.list()[i].name.clone();
        let rel = self.rel_below(i)?;
        if meta.is_dir() {
            let empty = self.root()?.read_dir(Some(&rel))?.is_empty();
            if !empty && self.opts.delete == DeleteMode::Off && !self.opts.more.force {
                let shown = String::from_utf8_lossy(&name).into_owned();
                self.fail(format!(
                    "cannot delete non-empty directory: {shown}; could not make way for new \
                     {what}: {shown} (add --force to replace it)"
                ));
                return Ok(false);
            }
            // Making way is not bounded by --max-delete, as in rsync.
            self.making_room = true;
            let emptied = self.delete_contents(&name, &rel);
            self.making_room = false;
            emptied?;
            if self.opts.dry_run {
                self.missing_below.push(name);
            } else {
                self.root()?.remove(&rel)?;
            }
        } else if self.opts.dry_run {
            self.missing_below.push(name);
        } else if !self.back_up(i, &rel, Keep::Move)? {
            self.root()?.remove(&rel)?;
        }
        Ok(true)
    }

    /// A symlink; with `-H`, one that shares its inode with others in the list is made by
    /// the first of them met and linked to from the rest, as rsync on Linux links them.
    fn do_symlink(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<FileStat>,
        target: &[u8],
    ) -> io::Result<()> {
        let Some(g) = e.hlink.filter(|_| self.opts.hard_links) else {
            return self.make_symlink(i, e, meta, target);
        };
        if self.groups[&g].done.is_some() {
            return self.link_member(i, g);
        }
        self.make_symlink(i, e, meta, target)?;
        // Left out (--safe-links, --compare-dest): the next member leads.
        let here = self.opts.dry_run || self.lstat(i)?.is_some_and(|m| m.is_symlink());
        if here {
            self.groups.get_mut(&g).expect("group").done = Some(i);
        }
        Ok(())
    }

    fn make_symlink(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<FileStat>,
        target: &[u8],
    ) -> io::Result<()> {
        // --safe-links: decided here, where the link would be made, so that no sender can
        // plant one that leads out of the destination.
        if self.opts.safe_links && crate::links::is_unsafe(&e.name, target) {
            if self.opts.verbose > 0 {
                let line = format!(
                    "ignoring unsafe symlink \"{}\" -> \"{}\"",
                    String::from_utf8_lossy(&e.name),
                    String::from_utf8_lossy(target)
                );
                self.print(line.as_bytes());
            }
            return Ok(());
        }
        let mut item = Item::default();
        let mut make = true;
        let mut silent = false;
        match &meta {
            Some(m) if m.is_symlink() => {
                let old = self.root()?.read_link(&self.rel_below(i)?)?;
                item = self.attr_item(e, m);
                if old == target {
                    make = false;
                } else {
                    // Kept before the line, as rsync's generator keeps it.
                    self.back_up(i, &self.rel_below(i)?, Keep::Move)?;
                    item.local_change = true;
                    item.change = true;
                }
            }
            Some(m) => {
                if !self.make_way(i, m, "symlink")? {
                    return Ok(());
                }
                item.is_new = true;
                item.local_change = true;
            }
            None => match self.alt_other(i, e)? {
                AltOther::Settled => return Ok(()),
                AltOther::Silent => silent = true,
                AltOther::Near(near) => item = near,
                AltOther::Nothing => {
                    item.is_new = true;
                    item.local_change = true;
                }
            },
        }
        self.report_made(i, &item, silent, make);
        if self.opts.dry_run {
            return Ok(());
        }
        let rel = self.rel_below(i)?;
        if make {
            self.root()?.symlink(&rel, target)?;
        }
        if make || item.owner || item.group {
            self.set_owner_new(i, e)?;
        }
        // As rsync: a link's time is compared in whole seconds, so a link made in the
        // second its source was made keeps its own time.
        let own = match make {
            true => self.root()?.metadata(Some(&rel))?.map(|m| m.mtime.secs),
            false => None,
        };
        let keep_time = self.opts.times && !self.opts.more.omit_link_times;
        if keep_time && (make || item.time) && own != Some(e.mtime.secs) {
            self.root()?.set_mtime(&rel, e.mtime)?;
        }
        self.source_done(i, e);
        Ok(())
    }

    fn do_special(&mut self, i: usize, e: &FileEntry, meta: Option<FileStat>) -> io::Result<()> {
        let same_type = |m: &FileStat| {
            let want = e.mode & libc::S_IFMT;
            let have = m.mode & libc::S_IFMT;
            want == have
                && (m.is_special() || m.is_device())
                && match e.kind {
                    FileKind::Device { rdev } => rdev == m.rdev,
                    _ => true,
                }
        };
        let mut item = Item::default();
        let mut silent = false;
        let make = match &meta {
            Some(m) if same_type(m) => {
                item = self.attr_item(e, m);
                false
            }
            // The same kind of device with another number is replaced as a change of the
            // old one (`cDc.t......`), as rsync itemizes it, not as a new entry.
            Some(m) if m.is_device() && (m.mode & libc::S_IFMT) == (e.mode & libc::S_IFMT) => {
                item = self.attr_item(e, m);
                item.change = true;
                item.local_change = true;
                item.time |= !self.opts.times;
                if !self.make_way(i, m, "special file")? {
                    return Ok(());
                }
                true
            }
            Some(m) => {
                if !self.make_way(i, m, "special file")? {
                    return Ok(());
                }
                true
            }
            None => {
                match self.alt_other(i, e)? {
                    AltOther::Nothing => {}
                    AltOther::Settled => return Ok(()),
                    AltOther::Silent => silent = true,
                    AltOther::Near(near) => item = near,
                }
                true
            }
        };
        if make && !item.change && !item.local_change {
            item.is_new = true;
            item.local_change = true;
        }
        self.report_made(i, &item, silent, make);
        if self.opts.dry_run {
            return Ok(());
        }
        if make {
            let rdev = match e.kind {
                FileKind::Device { rdev } => rdev,
                _ => 0,
            };
            // Owner-only until the attributes below are set.
            let mode = (e.mode & libc::S_IFMT) | 0o600;
            let rel = self.rel_below(i)?;
            if self.opts.more.fake_super {
                // An inert empty file stands for it; its %stat attribute says what it is.
                self.root()?.create_file(&rel)?.commit(0o600, None, false)?;
            } else {
                self.root()?.mknod(&rel, mode, rdev)?;
            }
        }
        self.set_attrs_by_path(i, e, make, &item)?;
        self.source_done(i, e);
        Ok(())
    }

    /// `--delete-missing-args`: what has the name of a source that is not there goes, as
    /// rsync deletes it: a folder with something in it only with `--force` (or `--delete`).
    /// Only when asked: a sender's list alone deletes nothing.
    fn do_missing(&mut self, i: usize, e: &FileEntry, meta: Option<FileStat>) -> io::Result<()> {
        let Some(meta) = meta.filter(|_| self.opts.more.delete_missing_args) else {
            return Ok(());
        };
        let rel = self.rel_below(i)?;
        if meta.is_dir()
            && self.opts.delete == DeleteMode::Off
            && !self.opts.more.force
            && !self.root()?.read_dir(Some(&rel))?.is_empty()
        {
            if !self.opts.quiet {
                let line = format!(
                    "cannot delete non-empty directory: {}",
                    String::from_utf8_lossy(&itemize::escape(&e.name, self.utf8))
                );
                self.print(line.as_bytes());
            }
            return Ok(());
        }
        self.delete_item(&e.name, &rel, &meta, meta.is_dir())?;
        Ok(())
    }

    /// `--remove-source-files`: entry `i`, now as the sender has it here (a file, symlink,
    /// device or special, as rsync counts them), goes from the source.
    fn source_done(&mut self, i: usize, e: &FileEntry) {
        if !self.opts.remove_source_files || self.opts.dry_run {
            return;
        }
        if let Err(err) = self.sender.remove_source(i) {
            let shown = String::from_utf8_lossy(&e.name).into_owned();
            self.fail(format!(
                "cannot remove the source of {shown}: {}",
                os_reason(&err)
            ));
        }
    }

    fn do_file(&mut self, i: usize, e: &FileEntry, meta: Option<FileStat>) -> io::Result<()> {
        if let Some(g) = e.hlink.filter(|_| self.opts.hard_links) {
            return self.do_member(i, g, e, meta);
        }
        // --remove-source-files: a file sent, or already here, goes from the source.
        if self.file_normally(i, e, meta)?.is_some() {
            self.source_done(i, e);
        }
        Ok(())
    }

    /// The usual path of a regular file. Returns whether the file is now complete on the
    /// destination (`Some(true)`), was sent (`Some(false)`), or is skipped (`None`).
    fn file_normally(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<FileStat>,
    ) -> io::Result<Option<bool>> {
        let o = self.opts;
        let size = e.size();
        // In rsync's order, each said with --info=skip.
        if let Some(m) = meta.as_ref().filter(|_| o.ignore_existing) {
            if o.skip_level() > 1 {
                let how = self.how_it_differs(i, e, m)?;
                self.say_skipped(e, &format!(" exists{how}"));
            } else {
                self.say_skipped(e, " exists");
            }
            return Ok(None);
        }
        if o.max_size.is_some_and(|max| size > max) {
            self.say_skipped(e, " is over max-size");
            return Ok(None);
        }
        if o.min_size.is_some_and(|min| size < min) {
            self.say_skipped(e, " is under min-size");
            return Ok(None);
        }
        let meta = match meta {
            Some(m) if !m.is_file() => {
                if !self.make_way(i, &m, "regular file")? {
                    return Ok(None);
                }
                None
            }
            other => other,
        };
        match self.alt_file(i, e, meta.as_ref())? {
            AltFile::Nothing => {}
            AltFile::Settled => return Ok(Some(true)),
            // Compared with the basis, as rsync itemizes a file sent against one.
            AltFile::Basis(found) => {
                let mut item = self.attr_item(e, &found.stat);
                item.transfer = true;
                item.change = self.opts.checksum;
                item.time |= !self.opts.times;
                self.report(i, &item, None);
                self.send_file(i, e, Some((&found.stat, Some(&found.path))))?;
                return Ok(Some(false));
            }
        }
        let Some(m) = meta else {
            let item = Item {
                is_new: true,
                transfer: true,
                ..Item::default()
            };
            self.report(i, &item, None);
            let fuzzy = match self.opts.more.fuzzy && !self.opts.whole_file {
                true => self.fuzzy_basis(i, e)?,
                false => None,
            };
            match fuzzy {
                Some((stat, path, shown)) => {
                    if self.opts.more.debug_fuzzy {
                        let mut line = b"fuzzy basis selected for ".to_vec();
                        line.extend(itemize::escape(&e.name, self.utf8));
                        line.extend_from_slice(b": ");
                        line.extend(itemize::escape(&shown, self.utf8));
                        self.print(&line);
                    }
                    self.fuzzy_now = true;
                    let sent = self.send_file(i, e, Some((&stat, Some(&path))));
                    self.fuzzy_now = false;
                    sent?;
                }
                None => self.send_file(i, e, None)?,
            }
            return Ok(Some(false));
        };
        if self.opts.update && self.opts.more.newer(m.mtime.secs, e.mtime.secs) {
            self.say_skipped(e, " is newer");
            return Ok(None);
        }
        if self.unchanged(i, e, &m)? {
            let item = self.attr_item(e, &m);
            self.report(i, &item, None);
            self.report_uptodate(i, &item);
            if !self.opts.dry_run {
                self.set_attrs_by_path(i, e, false, &item)?;
            }
            return Ok(Some(true));
        }
        // --append: a file as long as the sender's, or longer, is left as it is.
        if self.opts.more.append > 0 && m.size >= e.size() {
            return Ok(None);
        }
        let mut item = self.attr_item(e, &m);
        item.transfer = true;
        item.change = self.opts.checksum;
        if !self.opts.times {
            item.time = true;
        }
        if self.opts.more.append == 1 {
            self.report(i, &item, None);
            self.append_file(i, e, &m)?;
            return Ok(Some(false));
        }
        // --inplace rewrites the file itself: -b copies it first, before its line, as rsync.
        if self.opts.inplace {
            let rel = self.rel_below(i)?;
            self.back_up(i, &rel, Keep::Copy)?;
        }
        self.report(i, &item, None);
        self.send_file(i, e, Some((&m, None)))?;
        Ok(Some(false))
    }

    /// rsync's quick check: same size and, by `-c`, same checksum, else the same mtime to the
    /// second (rsync compares whole seconds).
    fn unchanged(&self, i: usize, e: &FileEntry, m: &FileStat) -> io::Result<bool> {
        self.quick_check(e, m, || self.root()?.open_file(&self.rel_below(i)?))
    }

    /// [`Receiver::unchanged`] against the file `m` that `open` opens, wherever it is.
    fn quick_check(
        &self,
        e: &FileEntry,
        m: &FileStat,
        open: impl FnOnce() -> io::Result<File>,
    ) -> io::Result<bool> {
        if e.size() != m.size {
            return Ok(false);
        }
        // As rsync: -c decides alone, then --size-only, then -I.
        if self.opts.checksum {
            let theirs = e.checksum;
            let ours = open().and_then(prtools_sync::hash_reader)?;
            return Ok(theirs == Some(ours));
        }
        if self.opts.size_only {
            return Ok(true);
        }
        Ok(!self.opts.ignore_times && self.opts.more.same_time(e.mtime.secs, m.mtime.secs))
    }

    /// A member of a hard-link group (see `hlink.c` in rsync for the rules copied here).
    fn do_member(
        &mut self,
        i: usize,
        g: u32,
        e: &FileEntry,
        meta: Option<FileStat>,
    ) -> io::Result<()> {
        let group = self
            .groups
            .get_mut(&g)
            .expect("groups are made for every hlink");
        if group.late {
            group.after.push(i);
            return Ok(());
        }
        if group.done.is_some() {
            return self.link_member(i, g);
        }
        let is_last = group.last == i;
        let usable = matches!(&meta, Some(m) if m.is_file());
        // As rsync: the --*-dest folders are tried before a missing member is put off.
        let in_alt = meta.is_none() && self.alt_match(i, e).is_some();
        if !usable && !is_last && !in_alt {
            self.groups.get_mut(&g).expect("group").before.push(i);
            return Ok(());
        }
        let missing = meta.is_none();
        let Some(complete) = self.file_normally(i, e, meta)? else {
            return Ok(());
        };
        // A member --compare-dest left out is not here to link to: the next one leads.
        if complete
            && missing
            && self.alt.as_ref().map(|a| a.kind) == Some(crate::alt_dest::AltKind::Compare)
        {
            return Ok(());
        }
        let group = self.groups.get_mut(&g).expect("group");
        group.done = Some(i);
        if !complete && !self.opts.dry_run {
            group.late = true;
            self.late.push(g);
            return Ok(());
        }
        let before = std::mem::take(&mut group.before);
        for m in before.into_iter().rev() {
            self.link_or_fail(m, g);
        }
        Ok(())
    }

    /// [`Receiver::link_member`], reporting a failure as member `i`'s own (exit 23) rather
    /// than ending the run or blaming the entry that finished the group.
    fn link_or_fail(&mut self, i: usize, g: u32) {
        if let Err(e) = self.link_member(i, g) {
            let shown = String::from_utf8_lossy(&self.list()[i].name).into_owned();
            self.fail(format!("cannot link {shown}: {}", os_reason(&e)));
        }
    }

    /// Links member `i` to its group's finished member, unless it already is that file.
    fn link_member(&mut self, i: usize, g: u32) -> io::Result<()> {
        let leader = self.groups[&g].done.expect("a finished member");
        let e = self.list()[i].clone();
        let target_name = self.list()[leader].name.clone();
        let meta = self.lstat(i)?;
        let leader_rel = self.rel_below(leader)?;
        let leader_meta = match &self.root {
            Some(root) => root.metadata(Some(&leader_rel))?,
            None => None,
        };
        // A dry run made no leader: rsync looks at the one the folders hold instead (for a
        // file; a symlink leader it linked from them is looked for here, and not found).
        let leader_meta = match leader_meta {
            None if self.opts.dry_run && e.is_regular() => {
                let leader_entry = self.list()[leader].clone();
                self.alt_match(leader, &leader_entry).map(|f| f.stat)
            }
            found => found,
        };
        if let (Some(m), Some(l)) = (&meta, &leader_meta) {
            if m.same_inode(l) {
                let item = Item {
                    hlink: true,
                    ..Item::default()
                };
                if self.opts.itemize_all {
                    self.report(i, &item, None);
                }
                self.report_uptodate(i, &item);
                return Ok(());
            }
        }
        // A symlink member is compared with whatever is there (rsync's `hL..tp.....` for a
        // file it replaces), a file member with a file.
        let mut item = match &meta {
            Some(m) if m.is_file() || (!e.is_regular() && !m.is_dir()) => self.attr_item(&e, m),
            Some(m) => {
                if !self.make_way(i, m, "hard link")? {
                    return Ok(());
                }
                Item {
                    is_new: true,
                    ..Item::default()
                }
            }
            None => match self.alt_match_for_link(i, &e, leader_meta.as_ref()) {
                // Compared with what the folders hold, as rsync's hard_link_check does.
                Some((stat, quiet)) => {
                    let mut item = self.attr_item(&e, &stat);
                    item.local_change = true;
                    item.hlink = true;
                    if !self.make_link(i, &leader_rel, &target_name)? {
                        return Ok(());
                    }
                    if !quiet || self.opts.itemize_all {
                        self.report(i, &item, Some(&target_name));
                    } else {
                        self.report_uptodate(i, &Item::default());
                    }
                    return Ok(());
                }
                None => Item {
                    is_new: true,
                    ..Item::default()
                },
            },
        };
        item.local_change = true;
        item.hlink = true;
        // A local change whose time is not kept shows `T`, as rsync's itemize has it.
        item.time |= !self.opts.times;
        if self.make_link(i, &leader_rel, &target_name)? {
            self.report(i, &item, Some(&target_name));
        }
        Ok(())
    }

    /// Links entry `i` to `leader_rel` (named `leader` in the list; not in a dry run); an old
    /// file there is replaced in one step (a temp link renamed over it). A link the
    /// destination refuses is said in rsync's words and fails the run (exit 23), as rsync's
    /// `hard_link_one`; false then, and the entry is not itemized.
    fn make_link(&mut self, i: usize, leader_rel: &RelPath, leader: &[u8]) -> io::Result<bool> {
        if self.opts.dry_run {
            return Ok(true);
        }
        let rel = self.rel_below(i)?;
        match self.root()?.hard_link(leader_rel, &rel) {
            Ok(()) => Ok(true),
            Err(err) => {
                let name = String::from_utf8_lossy(&self.list()[i].name).into_owned();
                let leader = String::from_utf8_lossy(leader).into_owned();
                self.fail(format!(
                    "link \"{name}\" => {leader} failed: {}",
                    os_reason(&err)
                ));
                Ok(false)
            }
        }
    }

    /// Gets the data of entry `i` from the sender and writes it; `old` is the file there
    /// now, the basis for a delta, or one at the path given (a `--*-dest` folder's).
    fn send_file(&mut self, i: usize, e: &FileEntry, old: Option<Old>) -> io::Result<()> {
        self.stats.transferred += 1;
        self.stats.transferred_size += e.size();
        if self.opts.dry_run {
            return self.sender.would_send(i);
        }
        let started = std::time::Instant::now();
        self.write_file(i, e, old)?;
        if let Some((at, code)) = self.waiting_line.take().filter(|(at, _)| *at == i) {
            self.print_written_line(at, &code)?;
        }
        if self.opts.progress {
            let done = crate::progress_line::Done {
                size: e.size(),
                took: started.elapsed(),
                xfr: self.stats.transferred,
                index: i,
                total: self.list().len(),
            };
            let line = crate::progress_line::line(&done, self.opts.human);
            let _ = self.out.write_all(line.as_bytes());
        }
        Ok(())
    }

    /// `--append`: only the bytes past the end of what is there (`m`) are asked for and
    /// written after it; the start is taken as it is, as rsync takes it.
    fn append_file(&mut self, i: usize, e: &FileEntry, m: &FileStat) -> io::Result<()> {
        self.stats.transferred += 1;
        self.stats.transferred_size += e.size();
        if self.opts.dry_run {
            return Ok(());
        }
        let rel = self.rel_below(i)?;
        let mut f = self.root()?.open_file_rw(&rel)?;
        f.seek(io::SeekFrom::Start(m.size))?;
        let rest = m.size..e.size();
        let sent = self
            .sender
            .send_ranges(i, std::slice::from_ref(&rest), &mut f)?;
        self.account(sent);
        self.chown_file(&f, e)?;
        let mode = self.new_mode(i, e, Some(m));
        rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(mode))?;
        if self.opts.times {
            filetime::set_file_handle_times(&f, None, Some(e.mtime.to_file_time()))?;
        }
        Ok(())
    }

    /// The data of [`Receiver::send_file`]: asked for, received and put in place.
    fn write_file(&mut self, i: usize, e: &FileEntry, old: Option<Old>) -> io::Result<()> {
        let rel = self.rel_below(i)?;
        let partial = self.partial_place(&rel)?;
        let from_partial = partial.as_ref().and_then(|place| self.partial_basis(place));
        // A partial that is there takes the new file, as rsync 3.5.0's receiver writes it
        // (partial.rs), whether or not it is the delta's basis. Not from an absolute
        // --partial-dir, which may be on another file system than the file, where the
        // partial could not be renamed into place.
        let into_partial = from_partial.is_some()
            && self.partial_root.is_none()
            && !self.opts.inplace
            && !self.opts.delay_updates;
        let from_partial = from_partial.filter(|_| !self.opts.whole_file);
        let basis = match old {
            // --partial-dir: what an interrupted run kept is the basis, in place of the
            // old file.
            _ if from_partial.is_some() => {
                let file = from_partial.expect("checked");
                let map = Mapped::new(&file)?;
                Some(Basis {
                    file,
                    map,
                    replaced: false,
                })
            }
            Some((m, at)) if !self.opts.whole_file && m.size > 0 => {
                let file = match at {
                    Some(path) => File::open(path)?,
                    None => self.root()?.open_file(&rel)?,
                };
                let map = Mapped::new(&file)?;
                Some(Basis {
                    file,
                    map,
                    // The old file itself, with no other name, and not written over.
                    replaced: at.is_none() && m.nlink < 2 && !self.opts.inplace,
                })
            }
            _ => None,
        };
        // The file there now, which -b keeps.
        let here = matches!(old, Some((m, None)) if m.is_file());
        let old = old.map(|(m, _)| m);
        // -y's basis is no old file here: the file gets a new file's mode, as in rsync
        // (a --*-dest basis lends its own, as rsync's does).
        let mode = self.new_mode(i, e, old.filter(|_| !self.fuzzy_now));
        let mtime = self.opts.times.then_some(e.mtime);
        if let Some(place) = partial.as_ref().filter(|_| into_partial) {
            return self.write_into_partial(i, e, &rel, place, basis, mode, mtime, here);
        }
        if self.opts.inplace {
            let mut f = self.root()?.open_file_rw(&rel)?;
            // -S in place: the old blocks under a run of zeros are punched out.
            let sparse = self.opts.more.sparse;
            let sent = match &basis {
                // No old bytes are read: the new ones go straight over them.
                None if sparse => {
                    let mut out = crate::sparse::SparseOut::new(&f, true);
                    let sent = self.sender.send(i, None, &mut out)?;
                    out.finish()?;
                    f.seek(io::SeekFrom::End(0))?;
                    sent
                }
                None => self.sender.send(i, None, &mut f)?,
                // The delta reads the old bytes while the new ones are written: the new
                // file is built in an unnamed file beside it first, then copied over it.
                Some(_) => {
                    let mut built = unnamed_file(&self.dest.dir)?;
                    let sent = self.receive(i, basis.as_ref(), &built)?;
                    drop(basis);
                    built.seek(io::SeekFrom::Start(0))?;
                    if sparse {
                        let mut out = crate::sparse::SparseOut::new(&f, true);
                        io::copy(&mut built, &mut out)?;
                        out.finish()?;
                        f.seek(io::SeekFrom::End(0))?;
                    } else {
                        io::copy(&mut built, &mut f)?;
                    }
                    sent
                }
            };
            self.account(sent);
            let len = f.stream_position()?;
            f.set_len(len)?;
            self.chown_file(&f, e)?;
            rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(mode))?;
            if let Some(t) = mtime {
                filetime::set_file_handle_times(&f, None, Some(t.to_file_time()))?;
            }
            return Ok(());
        }
        // --delay-updates: finished in the folder's `.~tmp~`, moved into place at the end.
        let delayed = match self.opts.delay_updates {
            true => Some(self.delay_place(&rel)?),
            false => None,
        };
        let file = match (&self.temp_root, &delayed) {
            (Some(temp), None) => self.root()?.create_file_in(&rel, temp)?,
            (_, Some(place)) => self.delay_root()?.create_file(place)?,
            (None, None) => self.root()?.create_file(&rel)?,
        };
        if self.opts.more.preallocate {
            crate::sparse::preallocate(file.file(), e.size())?;
        }
        match &partial {
            Some(place) => self.keep_partial_on_stop(&file, place),
            // A stop signal (Ctrl-C) keeps what arrived too, as the error below does.
            None if self.opts.partial && basis.is_none() && self.temp_root.is_none() => {
                file.keep_on_stop()
            }
            None => {}
        }
        let sent = match self.receive(i, basis.as_ref(), file.file()) {
            Ok(sent) => sent,
            // --partial-dir: what arrived goes to the partial folder, whatever the basis.
            Err(err) if partial.is_some() && file.file().metadata()?.len() > 0 => {
                drop(basis);
                self.keep_partial(file, partial.as_ref().expect("checked"))?;
                return Err(err);
            }
            // --partial: what arrived of a whole file replaces the old one, as rsync keeps
            // it, so that the next run sends only the rest. A copy that starts from the old
            // file is never cut short: the temp file goes, and the old file stays.
            Err(err)
                if self.opts.partial && basis.is_none() && file.file().metadata()?.len() > 0 =>
            {
                drop(basis);
                file.commit(mode & 0o7777, None, false)?;
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        self.account(sent);
        self.chown_file(file.file(), e)?;
        // Set unless the new file's own time ("now") is already it, to the nanosecond: a
        // file written just before the run has the same second, and rsync still keeps its
        // nanoseconds.
        let mtime = mtime.filter(|t| {
            file.file().metadata().map_or(true, |m| {
                (m.mtime(), m.mtime_nsec()) != (t.secs, i64::from(t.nanos))
            })
        });
        drop(basis);
        if let Some(place) = delayed {
            // Waiting in the partial folder, where it took the partial file's place: it is
            // moved, not dropped, at the end.
            file.commit(mode, mtime, false)?;
            self.delayed.push((place, rel, i, here));
            return Ok(());
        } else {
            if here && !self.opts.inplace {
                self.back_up(i, &rel, Keep::Link)?;
            }
            file.commit(mode, mtime, false)?;
        }
        match &partial {
            Some(place) => self.drop_partial(place),
            None => Ok(()),
        }
    }

    /// `--delay-updates`: where the new `rel` waits: in rsync's partial folder, the
    /// `--partial-dir` (by its name in an absolute one) or else `.~tmp~`, beside it (made
    /// here if need be).
    fn delay_place(&mut self, rel: &RelPath) -> io::Result<RelPath> {
        let bad = |e: prtools_sync::PathError| io::Error::new(io::ErrorKind::InvalidData, e);
        if self.partial_root.is_some() {
            return RelPath::new(rel.file_name().to_vec()).map_err(bad);
        }
        let name = match &self.opts.partial_dir {
            Some(dir) => std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()),
            None => DELAY_FOLDER,
        };
        let folder = match rel.parent() {
            Some(parent) => parent.join(name).map_err(bad)?,
            None => RelPath::new(name.to_vec()).map_err(bad)?,
        };
        if !self.delay_folders.contains(&folder) {
            match self.root()?.create_dir(&folder, 0o700) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            self.delay_folders.push(folder.clone());
        }
        folder.join(rel.file_name()).map_err(bad)
    }

    /// The root the `--delay-updates` places are below: an absolute `--partial-dir`, else
    /// the destination.
    fn delay_root(&self) -> io::Result<&Root> {
        match &self.partial_root {
            Some(root) => Ok(root),
            None => self.root(),
        }
    }

    /// `--delay-updates`: moves every finished file into place (keeping `-b`'s backup of
    /// the old one first), then removes the `.~tmp~` folders.
    fn finish_delayed(&mut self) {
        for (place, rel, i, here) in std::mem::take(&mut self.delayed) {
            let moved = (|| -> io::Result<()> {
                if here {
                    self.back_up(i, &rel, Keep::Link)?;
                }
                match &self.partial_root {
                    Some(staged) => self.root()?.rename_from(staged, &place, &rel),
                    None => self.root()?.rename(&place, &rel),
                }
            })();
            if let Err(e) = moved {
                let shown = String::from_utf8_lossy(&self.list()[i].name).into_owned();
                self.fail(format!("cannot put {shown} in place: {}", os_reason(&e)));
            }
        }
        for folder in std::mem::take(&mut self.delay_folders) {
            if let Ok(root) = self.root() {
                let _ = root.remove(&folder);
            }
        }
    }

    fn account(&mut self, sent: crate::sender::Sent) {
        self.stats.literal += sent.literal;
        self.stats.matched += sent.matched;
        self.stats.data_bytes += sent.wire;
        self.stats.search += sent.search;
    }

    /// Asks the sender for file `i` and writes the new contents to `out`, as they arrive:
    /// with an old copy (`basis`), from the blocks of it the new file reuses, found either
    /// here against the sender's signature of the new file or by the sender against the
    /// signature of the old one; else whole.
    ///
    /// Nothing of the file is held here beyond [`WRITE_BUFFER`]: the output is only known
    /// good at the end (the whole-file hash), so `out` is a file that can be emptied and
    /// written again, which is what the second try (the file whole) does.
    fn receive(
        &mut self,
        i: usize,
        basis: Option<&Basis>,
        mut out: &File,
    ) -> io::Result<crate::sender::Sent> {
        let Some(basis) = basis else {
            if self.opts.more.sparse {
                let mut sparse = crate::sparse::SparseOut::new(out, self.opts.more.preallocate);
                let sent = self.sender.send(i, None, &mut sparse)?;
                sparse.finish()?;
                return Ok(sent);
            }
            return self.sender.send(i, None, &mut out);
        };
        let options = SignatureOptions {
            block_size: self.opts.block_size,
            strong_len: None,
        };
        if let Some(sig) = self.sender.signature(i, &options)? {
            if let Some(sent) = self.receive_ranges(i, &sig, basis, out)? {
                return Ok(sent);
            }
            rewind(out)?;
            return self.sender.send(i, None, &mut out);
        }
        let sig = Signature::new(&basis.map, &options).map_err(io::Error::other)?;
        self.stats.sum_bytes += sig.encoded_len() as u64;
        let mut writer = PatchWriter {
            patcher: Patcher::new(&basis.map),
            out: FileOutput::new(out, &basis.file),
        };
        let sent = self.sender.send(i, Some(&sig), &mut writer)?;
        let PatchWriter {
            patcher,
            out: mut written,
        } = writer;
        let checked = patcher.finish();
        written.flush()?;
        match checked {
            Ok(_) => Ok(sent),
            // A false block match, or the file changed while it was read: send it
            // whole, as rsync's second pass does.
            Err(_) => {
                rewind(out)?;
                self.sender.send(i, None, &mut out)
            }
        }
    }

    /// Rebuilds file `i` from the blocks of `basis` that the new file's signature `sig`
    /// finds in it, fetching only the ranges it lacks, and writes it to `out` as they come.
    /// `None` when the result does not check out (the source changed meanwhile): the caller
    /// then fetches the file whole.
    fn receive_ranges(
        &mut self,
        i: usize,
        sig: &Signature,
        basis: &Basis,
        out: &File,
    ) -> io::Result<Option<crate::sender::Sent>> {
        self.stats.sum_bytes += sig.encoded_len() as u64;
        let before = basis_stamp(&basis.file)?;
        let map = prtools_delta::block_map(sig, &basis.map);
        let invalid = |e: prtools_delta::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        let mut assembler = Assembler::new(sig, &map, &basis.map).map_err(invalid)?;
        let threads = parallel_copy::copy_threads();
        if threads > 1 && sig.len() - map.missing_len() >= parallel_copy::PARALLEL_LEAST {
            let runs = parallel_copy::runs(sig, &map);
            let mut positional = parallel_copy::Positional::new(out);
            let (copied, sent) = std::thread::scope(|scope| {
                let copier = scope.spawn(|| {
                    parallel_copy::copy_runs(
                        &basis.file,
                        &basis.map,
                        out,
                        &runs,
                        threads,
                        basis.replaced,
                    )
                });
                let mut writer = AssembleWriter {
                    assembler: &mut assembler,
                    out: &mut positional,
                };
                let sent = self
                    .sender
                    .send_ranges(i, &map.missing_ranges(), &mut writer);
                let copied = copier
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a copying thread failed")));
                (copied, sent)
            });
            let mut sent = sent?;
            copied?;
            let checked = assembler.finish_to(&mut positional);
            positional.flush()?;
            if checked.is_err() || basis_stamp(&basis.file)? != before {
                return Ok(None);
            }
            sent.literal = map.missing_len();
            sent.matched = sig.len() - map.missing_len();
            return Ok(Some(sent));
        }
        let mut buffered = FileOutput::new(out, &basis.file);
        let mut sent = {
            let mut writer = AssembleWriter {
                assembler: &mut assembler,
                out: &mut buffered,
            };
            self.sender
                .send_ranges(i, &map.missing_ranges(), &mut writer)?
        };
        let checked = assembler.finish_to(&mut buffered);
        buffered.flush()?;
        // The assembler trusts the hashes the search took of the old file's blocks and
        // never reads them again: an old file written to meanwhile is caught here.
        if checked.is_err() || basis_stamp(&basis.file)? != before {
            return Ok(None);
        }
        sent.literal = map.missing_len();
        sent.matched = sig.len() - map.missing_len();
        Ok(Some(sent))
    }

    /// The permission bits a written file gets: the sender's with `-p`; else the old file's,
    /// or for a new file the sender's less the umask, or what the folder's default ACL
    /// allows (rsync's rule).
    fn new_mode(&self, i: usize, e: &FileEntry, old: Option<&FileStat>) -> u32 {
        if self.opts.perms {
            return e.mode & 0o7777;
        }
        match old {
            Some(m) if self.opts.more.executability => {
                crate::more_options::executable_like(e.mode, m.mode & 0o7777)
            }
            Some(m) => m.mode & 0o7777,
            None => e.mode & 0o777 & self.new_perms(i),
        }
    }

    fn chown_file(&self, f: &std::fs::File, e: &FileEntry) -> io::Result<()> {
        // --fake-super keeps the owner in an attribute (see `finish_entry`).
        if self.opts.more.fake_super {
            return Ok(());
        }
        let uid = self.opts.owner.then_some(self.uid_of(e));
        let gid = self.gid_for(self.gid_of(e));
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::fchown(f, uid, gid)
    }

    fn set_owner(&self, i: usize, e: &FileEntry, m: &FileStat) -> io::Result<()> {
        if self.opts.more.fake_super {
            return Ok(());
        }
        let uid = (self.opts.owner && m.uid != self.uid_of(e)).then_some(self.uid_of(e));
        let gid = self.gid_for(self.gid_of(e)).filter(|&g| m.gid != g);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        self.root()?.chown(self.rel_of(i), uid, gid)
    }

    fn set_owner_new(&self, i: usize, e: &FileEntry) -> io::Result<()> {
        if self.opts.more.fake_super {
            return Ok(());
        }
        let uid = self.opts.owner.then_some(self.uid_of(e));
        let gid = self.gid_for(self.gid_of(e));
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        self.root()?.chown(self.rel_of(i), uid, gid)
    }

    /// The owner entry `e` gets: the sender's, through `--usermap`/`--chown`.
    fn uid_of(&self, e: &FileEntry) -> u32 {
        match &self.opts.usermap {
            Some(map) => map.map(e.uid, self.opts.numeric_ids),
            None => e.uid,
        }
    }

    /// The group entry `e` gets: the sender's, through `--groupmap`/`--chown`.
    fn gid_of(&self, e: &FileEntry) -> u32 {
        match &self.opts.groupmap {
            Some(map) => map.map(e.gid, self.opts.numeric_ids),
            None => e.gid,
        }
    }

    /// The group to give a name: the sender's with -g, where this process may give it (as
    /// root, or as a member of it); else none, and the name keeps the group it was made
    /// with, as rsync does for a user who is not root.
    fn gid_for(&self, gid: u32) -> Option<u32> {
        let allowed = self
            .my_groups
            .as_ref()
            .is_none_or(|mine| mine.contains(&gid));
        (self.opts.group && allowed).then_some(gid)
    }

    fn set_mode(&self, i: usize, mode: u32) -> io::Result<()> {
        if let Some(linked) = self.dirlink_target(i)? {
            return linked.set_root_mode(mode & 0o7777);
        }
        match self.rel_of(i) {
            Some(rel) => self.root()?.set_mode(rel, mode & 0o7777),
            None => self.root()?.set_root_mode(mode & 0o7777),
        }
    }

    /// Owner, mode and mtime of a file, device or special that is not rewritten.
    fn set_attrs_by_path(&self, i: usize, e: &FileEntry, new: bool, item: &Item) -> io::Result<()> {
        if new || item.owner || item.group {
            self.set_owner_new(i, e)?;
        }
        if item.perms && !self.opts.perms {
            // -E alone: only the execute bits change.
            let now = self.root()?.metadata(self.rel_of(i))?;
            if let Some(m) = now {
                let mode = crate::more_options::executable_like(e.mode, m.mode & 0o7777);
                self.set_mode(i, mode)?;
            }
        } else if (new && self.opts.perms) || item.perms {
            self.set_mode(i, e.mode)?;
        } else if new {
            self.set_mode(i, e.mode & 0o777 & self.new_perms(i))?;
        }
        if self.opts.times && (new || item.time) {
            match self.rel_of(i) {
                Some(rel) => self.root()?.set_mtime(rel, e.mtime)?,
                None => self.root()?.set_root_mtime(e.mtime)?,
            }
        }
        Ok(())
    }

    /// Sets the modes and mtimes of the directories, deepest first, now that nothing more is
    /// written inside them.
    fn finish_dirs(&mut self) {
        if self.opts.dry_run {
            return;
        }
        for i in std::mem::take(&mut self.dirs).into_iter().rev() {
            let e = self.list()[i].clone();
            let result = (|| -> io::Result<()> {
                // One look tells both whether the mode and the time need setting: a no-op
                // run of a large tree changes nothing and so calls nothing more, as rsync.
                let now = self.root()?.metadata(self.rel_of(i))?;
                let mode = if self.opts.perms {
                    Some(e.mode & 0o7777)
                } else if self.existed.contains(&i) {
                    None
                } else {
                    // A folder made inside a setgid folder keeps the setgid bit the kernel
                    // gave it, as rsync leaves it without -p.
                    let inherited = now.as_ref().map_or(0, |m| m.mode & libc::S_ISGID);
                    Some((e.mode & 0o777 & self.new_perms(i)) | inherited)
                };
                if let Some(mode) = mode {
                    if now.is_none_or(|m| m.mode & 0o7777 != mode) {
                        self.set_mode(i, mode)?;
                    }
                }
                if self.opts.more.fake_super {
                    if let Some(m) = self.root()?.metadata(self.rel_of(i))? {
                        self.set_fake_stat(self.rel_of(i), &e, m)?;
                    }
                }
                self.dir_time(i, &e, now)?;
                self.set_atime(self.rel_of(i), &e)
            })();
            if let Err(err) = result {
                let shown = String::from_utf8_lossy(&e.name).into_owned();
                self.fail(format!(
                    "failed to set attributes of {shown}: {}",
                    os_reason(&err)
                ));
            }
        }
    }

    /// Sets the mtime of directory entry `i`, unless `now` (what is there) already has it.
    fn dir_time(&self, i: usize, e: &FileEntry, now: Option<FileStat>) -> io::Result<()> {
        if !self.opts.times || self.opts.omit_dir_times {
            return Ok(());
        }
        // rsync compares whole seconds here too: a folder whose time is off by less than a
        // second is left alone.
        if matches!(now, Some(m) if self.opts.more.same_time(m.mtime.secs, e.mtime.secs)) {
            return Ok(());
        }
        match self.rel_of(i) {
            Some(rel) => self.root()?.set_mtime(rel, e.mtime),
            None => self.root()?.set_root_mtime(e.mtime),
        }
    }

    /// `-K`: the folder a kept symlink (entry `i`) leads to, whose mode is the folder's to
    /// set, as rsync's chmod goes through the link (its time is the link's own, as rsync's).
    fn dirlink_target(&self, i: usize) -> io::Result<Option<Root>> {
        match (self.kept_dirlinks.contains(&i), self.rel_of(i)) {
            (true, Some(rel)) => self.root()?.open_subdir(rel, false).map(Some),
            _ => Ok(None),
        }
    }

    /// Deletes what is in the destination directory of entry `i` but not in the list, as
    /// rsync's `delete_in_dir`: names the list has (of any kind) are kept, as are names the
    /// filters protect; the rest goes, in reverse list order.
    fn delete_in_dir(&mut self, i: usize) -> io::Result<()> {
        if self.dest.solo_name.is_some() {
            return Ok(());
        }
        let dir_name = self.list()[i].name.clone();
        let dir_rel = self.rel_of(i).cloned();
        let listed = self.children.get(&dir_name).cloned().unwrap_or_default();
        let found = match self.root().and_then(|r| r.read_dir(dir_rel.as_ref())) {
            Ok(found) => found,
            // Say so and go on, as rsync does: the rest of the transfer is not at stake.
            Err(e) => {
                let shown = String::from_utf8_lossy(&dir_name).into_owned();
                self.fail(format!(
                    "cannot list {shown} to delete in it: {}",
                    os_reason(&e)
                ));
                return Ok(());
            }
        };
        let merged = self.merged_filters(dir_rel.as_ref());
        let trace = self.opts.trace_filters();
        // As rsync's generator: the folder is read, in the order it gives, with what the
        // filters protect left out (its filter trace comes in that order); what is left and
        // not in the list goes, last name first.
        let mut extra = Vec::new();
        for entry in found {
            let full = if dir_name == b"." {
                entry.name.clone()
            } else {
                [&dir_name[..], b"/", &entry.name[..]].concat()
            };
            let filters = merged.as_ref().unwrap_or(&self.opts.filters);
            if trace {
                let side = prtools_sync::filter::Side::Receiver;
                if let Some((protected, shown)) = filters.trace(side, &full, entry.is_dir) {
                    let mut line = format!(
                        "[generator] {} {} ",
                        if protected { "protecting" } else { "risking" },
                        if entry.is_dir { "directory" } else { "file" },
                    )
                    .into_bytes();
                    line.extend(itemize::escape(&full, self.utf8));
                    line.extend_from_slice(b" because of pattern ");
                    line.extend_from_slice(&shown);
                    self.print(&line);
                }
            }
            if !listed.contains(&full) && !filters.is_protected(&full, entry.is_dir) {
                extra.push((entry.name, full, entry.is_dir));
            }
        }
        extra.sort_by(|a, b| compare(&a.0, a.2, &b.0, b.2));
        for (_, full, is_dir) in extra.into_iter().rev() {
            let result = match RelPath::new(full.clone()) {
                Ok(rel) => match self.root()?.metadata(Some(&rel)) {
                    Ok(Some(meta)) => self.delete_item(&full, &rel, &meta, is_dir).map(drop),
                    // Gone meanwhile: nothing to delete.
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            };
            if let Err(e) = result {
                let shown = String::from_utf8_lossy(&full).into_owned();
                self.fail(format!("delete_file: {shown} failed: {}", os_reason(&e)));
            }
        }
        Ok(())
    }

    /// With `dir-merge` rules: the list that holds in the destination folder at `dir_rel`
    /// (the root for `None`), from the merge files found here in it and the folders above, as rsync's
    /// receiver reads its own copies of them before it deletes.
    fn merged_filters(&self, dir_rel: Option<&RelPath>) -> Option<FilterList> {
        if !self.opts.filters.has_dir_merge() {
            return None;
        }
        let root = self.root().ok()?;
        let mut list: Option<FilterList> = None;
        let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
        if let Some(rel) = dir_rel {
            let bytes = rel.as_bytes();
            for (k, &b) in bytes.iter().enumerate() {
                if b == b'/' {
                    prefixes.push(bytes[..k].to_vec());
                }
            }
            prefixes.push(bytes.to_vec());
        }
        for prefix in prefixes {
            let mut read = |name: &[u8]| {
                let path = match prefix.is_empty() {
                    true => name.to_vec(),
                    false => [&prefix[..], b"/", name].concat(),
                };
                let rel = RelPath::new(path).ok()?;
                let mut text = Vec::new();
                io::Read::read_to_end(&mut root.open_file(&rel).ok()?, &mut text).ok()?;
                Some(text)
            };
            let current = list.as_ref().unwrap_or(&self.opts.filters);
            if let Ok(Some(next)) = current.enter_dir(&prefix, &mut read) {
                list = Some(next);
            }
        }
        list
    }

    /// Deletes one item (a directory with its contents); itemizes each removal.
    /// `name` is the item as the list names it (for output and filters), `rel` where it is.
    /// True when it stays: something in it is protected, or `--max-delete` was reached.
    fn delete_item(
        &mut self,
        name: &[u8],
        rel: &RelPath,
        meta: &FileStat,
        is_dir: bool,
    ) -> io::Result<bool> {
        if is_dir && self.delete_contents(name, rel)? {
            return Ok(true);
        }
        let limit = self.opts.more.max_delete.filter(|_| !self.making_room);
        if limit.is_some_and(|max| self.stats.deleted.total() >= max) {
            self.skipped_deletes += 1;
            return Ok(true);
        }
        if is_dir {
            if !self.opts.dry_run {
                self.root()?.remove(rel)?;
            }
        } else if !self.opts.dry_run {
            let already = self
                .opts
                .backup
                .as_ref()
                .is_some_and(|b| b.is_backup_name(name));
            if already || !self.back_up_name(name, rel, Keep::Move)? {
                self.root()?.remove(rel)?;
            }
        }
        self.stats.deleted.add(&FileKind::of_mode(meta.mode));
        let mut shown = name.to_vec();
        if is_dir {
            shown.push(b'/');
        }
        self.report_delete(&shown);
        Ok(false)
    }

    /// Deletes everything inside the directory `name` at `rel`; true if something there is
    /// protected and stays (so the directory must stay too).
    ///
    /// This walks the tree itself, rather than calling [`Root::remove_tree`], because each
    /// removal is itemized in rsync's order, filters may protect some, and a dry run removes
    /// nothing; each step is still a confined call, so a symlink in the tree is deleted as a
    /// link and never followed.
    fn delete_contents(&mut self, name: &[u8], rel: &RelPath) -> io::Result<bool> {
        let mut kept = false;
        for (leaf, is_dir) in self.sorted_dir(Some(rel))?.into_iter().rev() {
            let full = [name, b"/", &leaf[..]].concat();
            if self.opts.filters.is_protected_in_deleted_dir(&full, is_dir) {
                kept = true;
                continue;
            }
            let child = rel
                .join(&leaf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let Some(meta) = self.root()?.metadata(Some(&child))? else {
                continue;
            };
            kept |= self.delete_item(&full, &child, &meta, is_dir)?;
        }
        Ok(kept)
    }

    /// The entries of a destination directory (the root for `None`), in rsync's order.
    fn sorted_dir(&self, rel: Option<&RelPath>) -> io::Result<Vec<(Vec<u8>, bool)>> {
        let mut names: Vec<(Vec<u8>, bool)> = self
            .root()?
            .read_dir(rel)?
            .into_iter()
            .map(|d| (d.name, d.is_dir))
            .collect();
        names.sort_by(|a, b| compare(&a.0, a.1, &b.0, b.1));
        Ok(names)
    }

    fn report_delete(&mut self, shown: &[u8]) {
        let name = itemize::escape(shown, self.utf8);
        if let Some(log) = &mut self.log {
            log.line(&deletion_line(None, &name, log.format.has_item()));
        }
        let line = match &self.opts.out_format {
            Some(format) if format.has_item() => Some(deletion_line(Some(format), &name, true)),
            Some(_) => (!self.opts.quiet).then(|| deletion_line(None, &name, false)),
            None if self.opts.itemize => Some(deletion_line(None, &name, true)),
            None => (self.opts.verbose > 0).then(|| deletion_line(None, &name, false)),
        };
        if let Some(line) = line {
            self.print(&line);
        }
    }
}

/// A deletion's line: `--out-format`'s (with `%i`) when given, else `-i`'s `*deleting   NAME`
/// when `itemized`, else `-v`'s `deleting NAME`.
fn deletion_line(
    format: Option<&crate::out_format::OutFormat>,
    name: &[u8],
    itemized: bool,
) -> Vec<u8> {
    if let Some(format) = format {
        return format.render(&crate::out_format::Fields {
            item: b"*deleting  ",
            name,
            full_name: name,
            link: b"",
            length: 0,
            bytes: None,
            checksum: None,
            operation: "del.",
            mtime: 0,
            mode: 0,
            uid: 0,
            gid: 0,
        });
    }
    let lead: &[u8] = if itemized {
        b"*deleting   "
    } else {
        b"deleting "
    };
    [lead, name].concat()
}

/// Feeds fetched ranges to an [`Assembler`], which writes the rebuilt file.
struct AssembleWriter<'a, 'b, 'o, O: prtools_delta::Output> {
    assembler: &'a mut Assembler<'b>,
    out: &'o mut O,
}

impl<O: prtools_delta::Output> Write for AssembleWriter<'_, '_, '_, O> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.assembler
            .feed_to(buf, self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds a delta stream to a [`Patcher`] as the sender writes it.
struct PatchWriter<'b, 'o> {
    patcher: Patcher<'b>,
    out: FileOutput<'o>,
}

impl Write for PatchWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.patcher
            .feed_to(buf, &mut self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The old file a delta is applied to: open, for copies in the kernel, and mapped, for the
/// search and the hashes (page cache, not heap, whatever its size).
struct Basis {
    file: File,
    map: Mapped,
    /// The file the new one replaces, gone once it is in place: its pages need not stay.
    replaced: bool,
}

/// Runs of the basis at least this long are copied by the kernel (`copy_file_range`): below
/// it, a system call per run would cost more than the copy it saves.
const KERNEL_COPY_LEAST: usize = 64 * 1024;

/// A rebuilt file being written: new bytes through a [`WRITE_BUFFER`], long runs of the old
/// file copied from it by the kernel, which on Linux takes a fraction of the time of copying
/// them through user space (page cache to page cache, no faults on the map), and shares the
/// extents on filesystems that can.
///
/// The bytes were hashed from the map of the same file when the search found them; a
/// process that writes to the old file in between is caught by its times (`basis_stamp`),
/// except one that writes through a shared map and keeps its times, as with any reader of
/// a file that is being written.
struct FileOutput<'f> {
    buffer: BufWriter<&'f File>,
    out: &'f File,
    basis: &'f File,
    /// Cleared when the kernel cannot copy between these files (another filesystem on an
    /// old kernel, a filesystem without support): then every byte goes through the buffer.
    kernel_copy: bool,
}

impl<'f> FileOutput<'f> {
    fn new(out: &'f File, basis: &'f File) -> Self {
        FileOutput {
            buffer: BufWriter::with_capacity(WRITE_BUFFER, out),
            out,
            basis,
            kernel_copy: true,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.buffer.flush()
    }

    /// Copies `len` bytes of the basis from `offset` to the end of the output; how many it
    /// copied (fewer if the basis shrank, or none when the kernel cannot).
    fn copy_in_kernel(&mut self, mut offset: u64, len: usize) -> io::Result<usize> {
        self.buffer.flush()?;
        let mut done = 0;
        while done < len {
            match rustix::fs::copy_file_range(
                self.basis,
                Some(&mut offset),
                self.out,
                None,
                len - done,
            ) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(
                    rustix::io::Errno::XDEV
                    | rustix::io::Errno::NOSYS
                    | rustix::io::Errno::INVAL
                    | rustix::io::Errno::OPNOTSUPP,
                ) if done == 0 => {
                    self.kernel_copy = false;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }
}

impl prtools_delta::Output for FileOutput<'_> {
    fn write_new(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buffer.write_all(bytes)
    }

    fn write_basis(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let copied = if self.kernel_copy && bytes.len() >= KERNEL_COPY_LEAST {
            self.copy_in_kernel(offset, bytes.len())?
        } else {
            0
        };
        self.buffer.write_all(&bytes[copied..])
    }
}

/// What changes when a file is written to or cut: its size, data and status times.
fn basis_stamp(file: &File) -> io::Result<(u64, i64, i64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok((
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// Empties a file written by a first try that did not check out, for the second.
fn rewind(mut file: &File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(io::SeekFrom::Start(0))?;
    Ok(())
}

/// A file with no name in `dir` (`O_TMPFILE`), gone when it is closed: scratch space on the
/// destination's disk, so that even --inplace never holds a file in memory.
fn unnamed_file(dir: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
}

/// True if `name` is inside the directory `dir` (any name is inside `.`).
fn is_below(name: &[u8], dir: &[u8]) -> bool {
    (dir == b"." && name != b".")
        || (name.len() > dir.len() && name.starts_with(dir) && name[dir.len()] == b'/')
}

/// Checks every name of the sender's list and returns where each lands below the root
/// (`None` for `.`, the root itself). A name that could leave the destination (`..`, an
/// absolute path, an empty component) or a `.` that is not a directory refuses the whole
/// list: such a sender is broken or hostile, and nothing it sent is acted on.
fn checked_names(list: &[FileEntry]) -> io::Result<Vec<Option<RelPath>>> {
    let refuse = |message: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("refusing the sender's file list: {message}"),
        )
    };
    list.iter()
        .map(|e| {
            if e.name == b"." {
                return match e.kind {
                    FileKind::Dir => Ok(None),
                    _ => Err(refuse(
                        "'.' names the destination folder, which only a directory can be"
                            .to_string(),
                    )),
                };
            }
            RelPath::new(e.name.clone())
                .map(Some)
                .map_err(|err| refuse(err.to_string()))
        })
        .collect()
}

/// The process umask (read by setting it and putting it back; nothing else runs meanwhile).
pub(crate) fn umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    rustix::process::umask(old);
    old.bits()
}

/// See [`Receiver::gid_for`]: `None` for root, else this process's groups.
fn my_groups(am_root: bool) -> Option<Vec<u32>> {
    if am_root {
        return None;
    }
    let mut mine: Vec<u32> = rustix::process::getgroups()
        .map(|groups| groups.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    mine.push(rustix::process::getegid().as_raw());
    Some(mine)
}
