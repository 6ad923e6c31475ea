//! The receiver (rsync's generator and receiver in one): walks the sender's file list in
//! rsync's order, compares each entry with what the destination holds, itemizes, asks the
//! [`Sender`] for the data it lacks (whole, or as a delta against the signature of its old
//! copy), writes it through a temp file, links hard-link groups, deletes what the sender no
//! longer has, and sets attributes.
//!
//! Everything it learns about the source comes from [`FileEntry`]s and the bytes the sender
//! writes; every write goes through a [`Root`] (confined `*at` calls), so a sender on another
//! host can drive it unchanged.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use prtools_delta::{Patcher, Signature, SignatureOptions};
use prtools_sync::{Mtime, RelPath, Root};

use crate::cli::{DeleteMode, Options};
use crate::flist::{compare, parent_of, FileEntry, FileKind};
use crate::itemize::{self, Item};
use crate::sender::{os_reason, Sender};
use crate::stats::Stats;

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
    root: Option<Root>,
    out: W,
    utf8: bool,
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
}

impl<'a, S: Sender, W: Write> Receiver<'a, S, W> {
    /// A receiver writing into `dest`; `out` takes the `-i`/`-v` lines.
    pub fn new(opts: &'a Options, sender: &'a mut S, dest: Dest, out: W) -> io::Result<Self> {
        let root = if dest.dir.is_dir() {
            Some(Root::open(&dest.dir)?)
        } else {
            None
        };
        let mut children: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
        let mut groups: HashMap<u32, Group> = HashMap::new();
        for (i, e) in sender.file_list().iter().enumerate() {
            if let Some(parent) = parent_of(&e.name) {
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
            out,
            utf8: itemize::locale_is_utf8(),
            stats: Stats::default(),
            failed: false,
            groups,
            late: Vec::new(),
            missing_below: Vec::new(),
            skip_below: Vec::new(),
            dirs: Vec::new(),
            children,
            existed: HashSet::new(),
        })
    }

    fn list(&self) -> &[FileEntry] {
        self.sender.file_list()
    }

    /// Runs the whole transfer.
    pub fn run(&mut self) -> io::Result<()> {
        let n = self.list().len();
        for i in 0..n {
            if self.list()[i].is_dir() && matches!(self.lstat(i), Some(m) if m.is_dir()) {
                self.existed.insert(i);
            }
        }
        if self.opts.delete == DeleteMode::Before {
            for i in 0..n {
                if self.existed.contains(&i) {
                    self.delete_in_dir(i)?;
                }
            }
        }
        for i in 0..n {
            self.process(i)?;
            if self.opts.delete == DeleteMode::During && self.existed.contains(&i) {
                self.delete_in_dir(i)?;
            }
        }
        for g in std::mem::take(&mut self.late) {
            let group = self.groups.get_mut(&g).expect("late groups exist");
            group.late = false;
            let after = std::mem::take(&mut group.after);
            let before = std::mem::take(&mut group.before);
            for m in after.into_iter().chain(before.into_iter().rev()) {
                self.link_member(m, g)?;
            }
        }
        if self.opts.delete == DeleteMode::After {
            for i in 0..n {
                if self.existed.contains(&i) {
                    self.delete_in_dir(i)?;
                }
            }
        }
        self.finish_dirs();
        self.out.flush()
    }

    /// The path on disk of entry `i`.
    fn path_of(&self, i: usize) -> PathBuf {
        let name = &self.list()[i].name;
        if let Some(solo) = &self.dest.solo_name {
            return self.dest.dir.join(OsStr::from_bytes(solo));
        }
        if name == b"." {
            return self.dest.dir.clone();
        }
        self.dest.dir.join(OsStr::from_bytes(name))
    }

    /// The entry's path for the [`Root`]; `None` for the root itself.
    fn rel_of(&self, i: usize) -> Option<RelPath> {
        if let Some(solo) = &self.dest.solo_name {
            return RelPath::new(solo.clone()).ok();
        }
        let name = &self.list()[i].name;
        if name == b"." {
            return None;
        }
        RelPath::new(name.clone()).ok()
    }

    fn is_missing_below(&self, name: &[u8]) -> bool {
        self.missing_below.iter().any(|d| is_below(name, d))
    }

    /// What the destination has at entry `i` now (not following a final symlink).
    fn lstat(&self, i: usize) -> Option<Metadata> {
        let name = &self.list()[i].name;
        if name == b"." && self.dest.created {
            return None;
        }
        if self.is_missing_below(name) {
            return None;
        }
        fs::symlink_metadata(self.path_of(i)).ok()
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
        let entry = self.list()[i].clone();
        if item.is_new {
            self.stats.created.add(&entry.kind);
        }
        if self.opts.itemize {
            if item.significant() {
                let line = itemize::line(item, &entry, hlink_target, self.utf8);
                self.print(&line);
            }
        } else if self.opts.verbose > 0
            && (item.is_new
                || item.transfer
                || item.hlink
                || ((item.local_change || entry.is_dir()) && item.significant()))
        {
            let mut line = itemize::escape(&entry.shown_name(), self.utf8);
            if let Some(t) = hlink_target {
                line.extend_from_slice(b" => ");
                line.extend(itemize::escape(t, self.utf8));
            } else if let FileKind::Symlink { target } = &entry.kind {
                line.extend_from_slice(b" -> ");
                line.extend(itemize::escape(target, self.utf8));
            }
            self.print(&line);
        }
    }

    /// The attribute columns of entry `e` against what is there (`meta`).
    fn attr_item(&self, e: &FileEntry, meta: &Metadata) -> Item {
        let o = self.opts;
        let keep_time = o.times;
        let mut item = Item {
            time_now: !o.times,
            ..Item::default()
        };
        if e.is_regular() && meta.is_file() && e.size() != meta.len() {
            item.size = true;
        }
        if keep_time && e.mtime.secs != meta.mtime() {
            item.time = true;
        }
        let is_link = matches!(e.kind, FileKind::Symlink { .. });
        if o.perms && !is_link && (e.mode & 0o7777) != (meta.mode() & 0o7777) {
            item.perms = true;
        }
        if o.owner && e.uid != meta.uid() {
            item.owner = true;
        }
        if o.group && e.gid != meta.gid() {
            item.group = true;
        }
        item
    }

    fn process(&mut self, i: usize) -> io::Result<()> {
        let entry = self.list()[i].clone();
        if self.skip_below.iter().any(|d| is_below(&entry.name, d)) {
            return Ok(());
        }
        let meta = self.lstat(i);
        let result = match &entry.kind {
            FileKind::Dir => self.do_dir(i, &entry, meta),
            FileKind::Regular { .. } => self.do_file(i, &entry, meta),
            FileKind::Symlink { target } => self.do_symlink(i, &entry, meta, target),
            FileKind::Device { .. } | FileKind::Special => self.do_special(i, &entry, meta),
        };
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

    fn do_dir(&mut self, i: usize, e: &FileEntry, meta: Option<Metadata>) -> io::Result<()> {
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
                let item = Item {
                    is_new: true,
                    local_change: true,
                    ..Item::default()
                };
                self.report(i, &item, None);
                if self.opts.dry_run {
                    self.missing_below.push(e.name.clone());
                } else {
                    // The root itself was made (or found) before the run began.
                    if let Some(rel) = self.rel_of(i) {
                        self.root()?.create_dir_replacing(&rel, 0o700)?;
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
    fn make_way(&mut self, i: usize, meta: &Metadata, what: &str) -> io::Result<bool> {
        let name = self.list()[i].name.clone();
        if meta.is_dir() {
            let path = self.path_of(i);
            let empty = fs::read_dir(&path)?.next().is_none();
            if !empty && self.opts.delete == DeleteMode::Off {
                let shown = String::from_utf8_lossy(&name).into_owned();
                self.fail(format!(
                    "cannot delete non-empty directory: {shown}; could not make way for new \
                     {what}: {shown} (add --delete to replace it)"
                ));
                return Ok(false);
            }
            self.delete_contents(&name, &path)?;
            if self.opts.dry_run {
                self.missing_below.push(name);
            } else {
                fs::remove_dir(&path)?;
            }
        } else if self.opts.dry_run {
            self.missing_below.push(name);
        } else {
            fs::remove_file(self.path_of(i))?;
        }
        Ok(true)
    }

    fn do_symlink(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<Metadata>,
        target: &[u8],
    ) -> io::Result<()> {
        let mut item = Item::default();
        let mut make = true;
        match &meta {
            Some(m) if m.file_type().is_symlink() => {
                let old = fs::read_link(self.path_of(i))?.into_os_string().into_vec();
                item = self.attr_item(e, m);
                if old == target {
                    make = false;
                } else {
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
            None => {
                item.is_new = true;
                item.local_change = true;
            }
        }
        self.report(i, &item, None);
        if self.opts.dry_run {
            return Ok(());
        }
        let rel = self.rel_of(i).ok_or_else(|| io::Error::other("no name"))?;
        if make {
            self.root()?.symlink(&rel, target)?;
        }
        if make || item.owner || item.group {
            self.set_owner_new(i, e)?;
        }
        if self.opts.times && (make || item.time) {
            self.root()?.set_mtime(&rel, e.mtime)?;
        }
        Ok(())
    }

    fn do_special(&mut self, i: usize, e: &FileEntry, meta: Option<Metadata>) -> io::Result<()> {
        let same_type = |m: &Metadata| {
            let ft = m.file_type();
            let want = e.mode & libc::S_IFMT;
            let have = m.mode() & libc::S_IFMT;
            want == have
                && (ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device())
                && match e.kind {
                    FileKind::Device { rdev } => rdev == m.rdev(),
                    _ => true,
                }
        };
        let mut item = Item::default();
        let make = match &meta {
            Some(m) if same_type(m) => {
                item = self.attr_item(e, m);
                false
            }
            Some(m) => {
                if !self.make_way(i, m, "special file")? {
                    return Ok(());
                }
                true
            }
            None => true,
        };
        if make {
            item.is_new = true;
            item.local_change = true;
        }
        self.report(i, &item, None);
        if self.opts.dry_run {
            return Ok(());
        }
        if make {
            let rdev = match e.kind {
                FileKind::Device { rdev } => rdev,
                _ => 0,
            };
            let path = self.path_of(i);
            let ft = rustix::fs::FileType::from_raw_mode(e.mode);
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                ft,
                rustix::fs::Mode::from_raw_mode(0o600),
                rdev,
            )
            .map_err(io::Error::from)?;
        }
        self.set_attrs_by_path(i, e, make, &item)
    }

    fn do_file(&mut self, i: usize, e: &FileEntry, meta: Option<Metadata>) -> io::Result<()> {
        if let Some(g) = e.hlink.filter(|_| self.opts.hard_links) {
            return self.do_member(i, g, e, meta);
        }
        self.file_normally(i, e, meta).map(drop)
    }

    /// The usual path of a regular file. Returns whether the file is now complete on the
    /// destination (`Some(true)`), was sent (`Some(false)`), or is skipped (`None`).
    fn file_normally(
        &mut self,
        i: usize,
        e: &FileEntry,
        meta: Option<Metadata>,
    ) -> io::Result<Option<bool>> {
        let meta = match meta {
            Some(m) if !m.is_file() => {
                if !self.make_way(i, &m, "regular file")? {
                    return Ok(None);
                }
                None
            }
            other => other,
        };
        let Some(m) = meta else {
            let item = Item {
                is_new: true,
                transfer: true,
                ..Item::default()
            };
            self.report(i, &item, None);
            self.send_file(i, e, None)?;
            return Ok(Some(false));
        };
        if self.opts.update && m.mtime() > e.mtime.secs {
            return Ok(None);
        }
        if self.unchanged(i, e, &m)? {
            let item = self.attr_item(e, &m);
            self.report(i, &item, None);
            if !self.opts.dry_run {
                self.set_attrs_by_path(i, e, false, &item)?;
            }
            return Ok(Some(true));
        }
        let mut item = self.attr_item(e, &m);
        item.transfer = true;
        item.change = self.opts.checksum;
        if !self.opts.times {
            item.time = true;
        }
        self.report(i, &item, None);
        self.send_file(i, e, Some(&m))?;
        Ok(Some(false))
    }

    /// rsync's quick check: same size and, by `-c`, same checksum, else the same mtime to the
    /// second (rsync compares whole seconds).
    fn unchanged(&self, i: usize, e: &FileEntry, m: &Metadata) -> io::Result<bool> {
        if e.size() != m.len() {
            return Ok(false);
        }
        if self.opts.checksum {
            let theirs = e.checksum;
            let ours = fs::File::open(self.path_of(i)).and_then(prtools_sync::hash_reader)?;
            return Ok(theirs == Some(ours));
        }
        Ok(e.mtime.secs == m.mtime())
    }

    /// A member of a hard-link group (see `hlink.c` in rsync for the rules copied here).
    fn do_member(
        &mut self,
        i: usize,
        g: u32,
        e: &FileEntry,
        meta: Option<Metadata>,
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
        if !usable && !is_last {
            group.before.push(i);
            return Ok(());
        }
        let Some(complete) = self.file_normally(i, e, meta)? else {
            return Ok(());
        };
        let group = self.groups.get_mut(&g).expect("group");
        group.done = Some(i);
        if !complete && !self.opts.dry_run {
            group.late = true;
            self.late.push(g);
            return Ok(());
        }
        let before = std::mem::take(&mut group.before);
        for m in before.into_iter().rev() {
            self.link_member(m, g)?;
        }
        Ok(())
    }

    /// Links member `i` to its group's finished member, unless it already is that file.
    fn link_member(&mut self, i: usize, g: u32) -> io::Result<()> {
        let leader = self.groups[&g].done.expect("a finished member");
        let e = self.list()[i].clone();
        let target_name = self.list()[leader].name.clone();
        let meta = self.lstat(i);
        let leader_meta = fs::symlink_metadata(self.path_of(leader)).ok();
        if let (Some(m), Some(l)) = (&meta, &leader_meta) {
            if m.dev() == l.dev() && m.ino() == l.ino() {
                return Ok(());
            }
        }
        let mut item = match &meta {
            Some(m) if m.is_file() => self.attr_item(&e, m),
            Some(m) => {
                if !self.make_way(i, m, "hard link")? {
                    return Ok(());
                }
                Item {
                    is_new: true,
                    ..Item::default()
                }
            }
            None => Item {
                is_new: true,
                ..Item::default()
            },
        };
        item.local_change = true;
        item.hlink = true;
        self.report(i, &item, Some(&target_name));
        if self.opts.dry_run {
            return Ok(());
        }
        let path = self.path_of(i);
        if matches!(&meta, Some(m) if m.is_file()) {
            fs::remove_file(&path)?;
        }
        let rel = self.rel_of(i).ok_or_else(|| io::Error::other("no name"))?;
        // Confinement: both names are checked relative paths, and the root walk refuses a
        // symlinked parent before the link is made.
        if let Some(parent) = rel.parent() {
            if self.root()?.stat(&parent)?.is_none() {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
        }
        fs::hard_link(self.path_of(leader), &path)
    }

    /// Gets the data of entry `i` from the sender and writes it; `old` is the file there
    /// now, the basis for a delta.
    fn send_file(&mut self, i: usize, e: &FileEntry, old: Option<&Metadata>) -> io::Result<()> {
        self.stats.transferred += 1;
        self.stats.transferred_size += e.size();
        if self.opts.progress && !self.opts.itemize && self.opts.verbose == 0 {
            let shown = itemize::escape(&e.name, self.utf8);
            self.print(&shown);
        }
        if self.opts.dry_run {
            return Ok(());
        }
        let rel = self.rel_of(i).ok_or_else(|| io::Error::other("no name"))?;
        let basis = match old {
            Some(m) if !self.opts.whole_file && m.len() > 0 => {
                let mut data = Vec::with_capacity(m.len() as usize);
                self.root()?.open_file(&rel)?.read_to_end(&mut data)?;
                Some(data)
            }
            _ => None,
        };
        let signature = match &basis {
            Some(data) => {
                let options = SignatureOptions {
                    block_size: self.opts.block_size,
                    strong_len: None,
                };
                let sig = Signature::new(data, &options).map_err(io::Error::other)?;
                self.stats.sum_bytes += sig.encoded_len() as u64;
                Some(sig)
            }
            None => None,
        };
        let mode = self.new_mode(e, old);
        let mtime = self.opts.times.then_some(e.mtime);
        if self.opts.inplace {
            let mut data = Vec::new();
            let sent = self.receive(i, signature.as_ref(), basis.as_deref(), &mut data)?;
            self.account(sent);
            let path = self.path_of(i);
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            f.write_all(&data)?;
            f.set_len(data.len() as u64)?;
            f.seek(io::SeekFrom::Start(0))?;
            self.chown_file(&f, e)?;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            if let Some(t) = mtime {
                filetime::set_file_handle_times(&f, None, Some(t.to_file_time()))?;
            }
            return Ok(());
        }
        let mut file = self.root()?.create_file(&rel)?;
        let sent = self.receive(i, signature.as_ref(), basis.as_deref(), &mut file)?;
        self.account(sent);
        self.chown_file(file.file(), e)?;
        // As rsync: the time is set only when it differs in whole seconds from the new
        // file's own ("now").
        let mtime = mtime.filter(|t| file.file().metadata().map_or(true, |m| m.mtime() != t.secs));
        file.commit(mode, mtime, false)
    }

    fn account(&mut self, sent: crate::sender::Sent) {
        self.stats.literal += sent.literal;
        self.stats.matched += sent.matched;
        self.stats.data_bytes += sent.wire;
    }

    /// Asks the sender for file `i` and writes the new contents to `out`.
    fn receive(
        &mut self,
        i: usize,
        signature: Option<&Signature>,
        basis: Option<&[u8]>,
        out: &mut dyn Write,
    ) -> io::Result<crate::sender::Sent> {
        match (signature, basis) {
            (Some(sig), Some(basis)) => {
                let mut patched = Vec::new();
                let mut writer = PatchWriter {
                    patcher: Patcher::new(basis),
                    out: &mut patched,
                };
                let sent = self.sender.send(i, Some(sig), &mut writer)?;
                match writer.patcher.finish() {
                    Ok(_) => {
                        out.write_all(&patched)?;
                        Ok(sent)
                    }
                    // A false block match, or the file changed while it was read: send it
                    // whole, as rsync's second pass does.
                    Err(_) => self.sender.send(i, None, out),
                }
            }
            _ => self.sender.send(i, None, out),
        }
    }

    /// The permission bits a written file gets: the sender's with `-p`; else the old file's,
    /// or for a new file the sender's less the umask (rsync's rule).
    fn new_mode(&self, e: &FileEntry, old: Option<&Metadata>) -> u32 {
        if self.opts.perms {
            return e.mode & 0o7777;
        }
        match old {
            Some(m) => m.mode() & 0o7777,
            None => e.mode & 0o777 & !umask(),
        }
    }

    fn chown_file(&self, f: &fs::File, e: &FileEntry) -> io::Result<()> {
        let uid = self.opts.owner.then_some(e.uid);
        let gid = self.opts.group.then_some(e.gid);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::fchown(f, uid, gid)
    }

    fn set_owner(&self, i: usize, e: &FileEntry, m: &Metadata) -> io::Result<()> {
        let uid = (self.opts.owner && m.uid() != e.uid).then_some(e.uid);
        let gid = (self.opts.group && m.gid() != e.gid).then_some(e.gid);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::lchown(self.path_of(i), uid, gid)
    }

    fn set_owner_new(&self, i: usize, e: &FileEntry) -> io::Result<()> {
        let uid = self.opts.owner.then_some(e.uid);
        let gid = self.opts.group.then_some(e.gid);
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::lchown(self.path_of(i), uid, gid)
    }

    fn set_mode(&self, i: usize, mode: u32) -> io::Result<()> {
        match self.rel_of(i) {
            Some(rel) => self.root()?.set_mode(&rel, mode & 0o7777),
            None => fs::set_permissions(&self.dest.dir, fs::Permissions::from_mode(mode & 0o7777)),
        }
    }

    /// Owner, mode and mtime of a file, device or special that is not rewritten.
    fn set_attrs_by_path(&self, i: usize, e: &FileEntry, new: bool, item: &Item) -> io::Result<()> {
        if new || item.owner || item.group {
            self.set_owner_new(i, e)?;
        }
        if (new && self.opts.perms) || item.perms {
            self.set_mode(i, e.mode)?;
        } else if new {
            self.set_mode(i, e.mode & 0o777 & !umask())?;
        }
        if self.opts.times && (new || item.time) {
            match self.rel_of(i) {
                Some(rel) => self.root()?.set_mtime(&rel, e.mtime)?,
                None => set_dir_mtime(&self.dest.dir, e.mtime)?,
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
                let mode = if self.opts.perms {
                    e.mode & 0o7777
                } else if self.existed.contains(&i) {
                    return self.dir_time(i, &e);
                } else {
                    e.mode & 0o777 & !umask()
                };
                self.set_mode(i, mode)?;
                self.dir_time(i, &e)
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

    fn dir_time(&self, i: usize, e: &FileEntry) -> io::Result<()> {
        if !self.opts.times {
            return Ok(());
        }
        // rsync compares whole seconds here too: a folder whose time is off by less than a
        // second is left alone.
        if fs::symlink_metadata(self.path_of(i)).is_ok_and(|m| m.mtime() == e.mtime.secs) {
            return Ok(());
        }
        match self.rel_of(i) {
            Some(rel) => self.root()?.set_mtime(&rel, e.mtime),
            None => set_dir_mtime(&self.dest.dir, e.mtime),
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
        let path = self.path_of(i);
        let listed = self.children.get(&dir_name).cloned().unwrap_or_default();
        let mut extra = Vec::new();
        for (name, is_dir) in sorted_dir(&path)? {
            let full = if dir_name == b"." {
                name.clone()
            } else {
                [&dir_name[..], b"/", &name[..]].concat()
            };
            if listed.contains(&full) || self.opts.filters.is_protected(&full, is_dir) {
                continue;
            }
            extra.push((full, is_dir, path.join(OsStr::from_bytes(&name))));
        }
        for (full, is_dir, p) in extra.into_iter().rev() {
            let meta = match fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if let Err(e) = self.delete_item(&full, &p, &meta, is_dir) {
                let shown = String::from_utf8_lossy(&full).into_owned();
                self.fail(format!("delete_file: {shown} failed: {}", os_reason(&e)));
            }
        }
        Ok(())
    }

    /// Deletes one item (a directory with its contents); itemizes each removal.
    fn delete_item(
        &mut self,
        name: &[u8],
        path: &Path,
        meta: &Metadata,
        is_dir: bool,
    ) -> io::Result<()> {
        if is_dir {
            let kept = self.delete_contents(name, path)?;
            if kept {
                return Ok(());
            }
            if !self.opts.dry_run {
                fs::remove_dir(path)?;
            }
        } else if !self.opts.dry_run {
            fs::remove_file(path)?;
        }
        self.stats.deleted.add(&kind_of(meta));
        let mut shown = name.to_vec();
        if is_dir {
            shown.push(b'/');
        }
        self.report_delete(&shown);
        Ok(())
    }

    /// Deletes everything inside the directory `name` at `path`; true if something there is
    /// protected and stays (so the directory must stay too).
    fn delete_contents(&mut self, name: &[u8], path: &Path) -> io::Result<bool> {
        let mut kept = false;
        for (leaf, is_dir) in sorted_dir(path)?.into_iter().rev() {
            let full = [name, b"/", &leaf[..]].concat();
            if self.opts.filters.is_protected_in_deleted_dir(&full, is_dir) {
                kept = true;
                continue;
            }
            let p = path.join(OsStr::from_bytes(&leaf));
            let meta = fs::symlink_metadata(&p)?;
            self.delete_item(&full, &p, &meta, is_dir)?;
        }
        Ok(kept)
    }

    fn report_delete(&mut self, shown: &[u8]) {
        let name = itemize::escape(shown, self.utf8);
        if self.opts.itemize {
            let mut line = b"*deleting   ".to_vec();
            line.extend(name);
            self.print(&line);
        } else if self.opts.verbose > 0 {
            let mut line = b"deleting ".to_vec();
            line.extend(name);
            self.print(&line);
        }
    }
}

/// Feeds a delta stream to a [`Patcher`] as the sender writes it.
struct PatchWriter<'b, 'o> {
    patcher: Patcher<'b>,
    out: &'o mut Vec<u8>,
}

impl Write for PatchWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.patcher
            .feed(buf, self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// True if `name` is inside the directory `dir` (any name is inside `.`).
fn is_below(name: &[u8], dir: &[u8]) -> bool {
    (dir == b"." && name != b".")
        || (name.len() > dir.len() && name.starts_with(dir) && name[dir.len()] == b'/')
}

/// The entries of a destination directory, in rsync's order.
fn sorted_dir(path: &Path) -> io::Result<Vec<(Vec<u8>, bool)>> {
    let mut names = Vec::new();
    for item in fs::read_dir(path)? {
        let item = item?;
        let is_dir = item.file_type()?.is_dir();
        names.push((item.file_name().into_vec(), is_dir));
    }
    names.sort_by(|a, b| compare(&a.0, a.1, &b.0, b.1));
    Ok(names)
}

fn kind_of(meta: &Metadata) -> FileKind {
    let ft = meta.file_type();
    if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_symlink() {
        FileKind::Symlink { target: Vec::new() }
    } else if ft.is_file() {
        FileKind::Regular { size: 0 }
    } else if ft.is_block_device() || ft.is_char_device() {
        FileKind::Device { rdev: 0 }
    } else {
        FileKind::Special
    }
}

fn set_dir_mtime(path: &Path, mtime: Mtime) -> io::Result<()> {
    filetime::set_symlink_file_times(
        path,
        filetime::FileTime::from_last_access_time(&fs::metadata(path)?),
        mtime.to_file_time(),
    )
}

/// The process umask (read by setting it and putting it back; nothing else runs meanwhile).
fn umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    rustix::process::umask(old);
    old.bits()
}
