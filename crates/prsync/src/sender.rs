//! The sender: reads the source operands into a file list (rsync's operand rules, filters,
//! hard-link groups, `-c` sums) and answers the receiver's requests for file data, whole or
//! as a delta against the signature of the receiver's old copy.
//!
//! The receiver only ever sees [`FileEntry`]s and the bytes [`Sender::send`] writes, so a
//! sender on another host (prsync's agent) can stand in for [`LocalSender`].

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use prtools_delta::{Signature, SignatureOptions};
use prtools_sync::filter::{FilterErrorKind, FilterList};
use prtools_sync::{Mtime, Root};

use crate::exit::{FILE_IO, SYNTAX};
use crate::flist::{sort_and_dedup, FileEntry, FileKind};
use prtools_mapped::Mapped;

/// How much of a whole file is copied per read.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;

/// What the sender must know to build its file list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `-r`.
    pub recursive: bool,
    /// `-l`: symlinks as symlinks (else they are skipped, as rsync without `-l` does).
    pub links: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `-c`: hash every regular file.
    pub checksum: bool,
    /// `-L`: a symlink is sent as what it points to.
    pub copy_links: bool,
    /// `--chmod`: the permissions sent, as if the files had them.
    pub chmod: Option<crate::chmod::Chmod>,
    /// `-k`: a symlink to a folder is sent as that folder.
    pub copy_dirlinks: bool,
    /// `--copy-unsafe-links`: an unsafe symlink (see [`crate::links`]) is sent as what it
    /// points to.
    pub copy_unsafe_links: bool,
    /// `-R`: each source is named by its whole path (below a `/./` in it, if any).
    pub relative: bool,
    /// With `-R`, the folders on the way to each source are sent too (not with
    /// `--no-implied-dirs`).
    pub implied_dirs: bool,
    /// `-d`: a folder named without `-r` is sent itself, without what is in it.
    pub dirs: bool,
    /// `-m`: folders with nothing but folders below them are left out.
    pub prune_empty_dirs: bool,
    /// `--ignore-missing-args`: a source that is not there is no error.
    pub ignore_missing_args: bool,
    /// `--delete-missing-args`: a source that is not there is listed as missing, for the
    /// receiver to delete.
    pub delete_missing_args: bool,
    /// `-x`: a folder on another file system is sent empty; `-xx`: left out.
    pub one_file_system: u8,
    /// `-vv` or `--debug=FILTER`: each rule that decides a name is said, as rsync's
    /// `[sender] hiding file x because of pattern *.x`.
    pub trace_filters: bool,
    /// `-X` (1) or `-XX` (2): extended attributes go in the list.
    pub xattrs: u8,
    /// `--fake-super`: a `user.rsync.%stat` attribute says what a file is (see
    /// [`crate::fake_super`]).
    pub fake_super: bool,
    /// `-U`: access times go in the list.
    pub atimes: bool,
    /// `-A`: ACLs go in the list.
    pub acls: bool,
    /// `--open-noatime`: files are read without changing their access time.
    pub open_noatime: bool,
    /// `--insecure-links`: files are opened by their path as it is then, through whatever
    /// links it holds (see [`Confined`]).
    pub insecure_links: bool,
    /// `--confine-root`: a merge file that resolves outside this folder is not read.
    pub confine_root: Option<PathBuf>,
}

/// How a sent file's bytes went: for `--stats`' `Literal data` and `Matched data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Bytes sent as they are.
    pub literal: u64,
    /// Bytes the receiver copied from its old file.
    pub matched: u64,
    /// Bytes on the wire for this file (the delta stream, or the whole file).
    pub wire: u64,
    /// What the delta search did, for `--debug=deltasum`.
    pub search: prtools_delta::SearchStats,
}

/// The sender's half of a transfer, as the receiver sees it.
pub trait Sender {
    /// The file list, in rsync's order.
    fn file_list(&self) -> &[FileEntry];

    /// Writes the data of entry `index` to `out`: the whole file when `basis` is `None`, else
    /// an encoded delta against the file `basis` is the signature of.
    fn send(
        &mut self,
        index: usize,
        basis: Option<&Signature>,
        out: &mut dyn Write,
    ) -> io::Result<Sent>;

    /// What the receiver will want of these files, in the order it will ask: a sender
    /// across a network asks for several at once, so that small files do not each cost a
    /// round trip. The receiver may still skip some of them, and a delta is used only if
    /// the receiver asks with the same signature.
    fn prefetch(&mut self, wanted: Vec<(usize, Prefetch)>) {
        let _ = wanted;
    }

    /// Whether deltas asked for ahead ([`Sender::prefetch`]) save anything: only across a
    /// network, and only where the sender offers no signatures of its own (which it may
    /// be asked for, with file `probe`).
    fn takes_deltas_ahead(&mut self, probe: usize, options: &SignatureOptions) -> bool {
        let _ = (probe, options);
        false
    }

    /// The signature of entry `index` as it is now, for a receiver that rebuilds the file
    /// from its old copy and the ranges that copy lacks ([`Sender::send_ranges`]): the other
    /// direction of the rsync algorithm, in which one signature serves every host of a push
    /// and each host does its own search. `None` when this sender does not offer it; the
    /// receiver then sends its own signature instead, as rsync does.
    fn signature(
        &mut self,
        index: usize,
        options: &SignatureOptions,
    ) -> io::Result<Option<Arc<Signature>>> {
        let _ = (index, options);
        Ok(None)
    }

    /// Writes these byte ranges of entry `index`, back to back (after
    /// [`Sender::signature`]).
    fn send_ranges(
        &mut self,
        index: usize,
        ranges: &[Range<u64>],
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        let _ = (index, ranges, out);
        Err(io::Error::other("this sender does not send ranges"))
    }

    /// `--remove-source-files`: removes the source of entry `index`, now whole on the
    /// receiver, unless it changed since it was listed.
    fn remove_source(&mut self, index: usize) -> io::Result<()> {
        let _ = index;
        Err(io::Error::other("this sender does not remove its files"))
    }

    /// A dry run would have asked for the whole of entry `index` here: what
    /// `--only-write-batch` records, since it changes nothing itself.
    fn would_send(&mut self, index: usize) -> io::Result<()> {
        let _ = index;
        Ok(())
    }

    /// The receiver is done with regular file `index`: a line to print after its own, if
    /// any (a batch replay says which of its files were not needed).
    fn settled(&mut self, index: usize) -> Option<String> {
        let _ = index;
        None
    }
}

/// What a receiver will want of a file ([`Sender::prefetch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// The whole file.
    Whole,
    /// A delta against the old copy whose signature (`Signature::to_bytes`) this is.
    Delta(Vec<u8>),
    /// The sender's signature of it (with `-B`'s block size), to search the old copy with.
    Signature(Option<u32>),
}

/// rsync's `-m`: drops every folder below which the list has nothing but folders (the
/// transfer root `.` stays).
fn prune_empty_dirs(list: &mut Vec<(FileEntry, usize)>) {
    let mut full: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for (e, _) in list.iter() {
        if e.is_dir() {
            continue;
        }
        let mut name: &[u8] = &e.name;
        while let Some(parent) = crate::flist::parent_of(name) {
            if !full.insert(parent.to_vec()) {
                break;
            }
            name = parent;
        }
    }
    list.retain(|(e, _)| !e.is_dir() || e.name == b"." || full.contains(&e.name));
}

/// A problem met while listing the sources; the list goes on without the path (rsync's
/// partial transfer, exit 23).
#[derive(Clone, Debug)]
pub struct ListError {
    /// What to show.
    pub message: String,
}

/// Where a file found by walking down from a source folder is read from: that folder
/// (`anchor`, an index into [`LocalSender`]'s anchors) and the file's path below it (its
/// name from byte `strip` on).
///
/// A file is read long after its folders were listed, and by then a user who can write in
/// the tree may have swapped one of them for a symlink to elsewhere: opened by its full path,
/// the file would be read from there and copied out to the destination. So, as rsync 3.5.0's
/// sender does, the path is resolved again beneath the folder the walk started from, where a
/// symlink that stays inside the tree is followed and one that leads out is refused (ELOOP).
/// `-L`, `-k`, `--copy-unsafe-links` (which follow links on purpose) and `--insecure-links`
/// keep the plain open by path, as in rsync.
///
/// The source folder is the user's own operand, opened by its path when its files are read
/// (rsync too changes into it by path): holding each open from the listing on would take a
/// descriptor per source folder for the whole run, which a `--files-from` of thousands of
/// folders would run out of. The last one opened is kept ([`AnchorCache`]), as files are
/// read in list order, folder by folder.
#[derive(Clone, Copy, Debug)]
struct Confined {
    anchor: usize,
    strip: usize,
}

/// The source folder a sender opened last, with its index among the anchors. Each clone of
/// a sender (one a host) starts with its own, so that the hosts' threads do not take turns
/// on one lock and undo each other's folder.
#[derive(Debug, Default)]
struct AnchorCache(std::sync::Mutex<Option<(usize, Arc<Root>)>>);

impl Clone for AnchorCache {
    fn clone(&self) -> Self {
        AnchorCache::default()
    }
}

/// One file's signature, made by the first host that asks (or why it could not be made).
type SharedSignature = OnceLock<Result<Arc<Signature>, String>>;

/// The sender for sources on this machine. Cloned for each host of a push to many: each
/// answers its own host's requests from the one listing.
#[derive(Clone, Debug)]
pub struct LocalSender {
    entries: Vec<FileEntry>,
    paths: Vec<PathBuf>,
    /// Where each entry's data is read from, when its folders were walked by the listing.
    confined: Vec<Option<Confined>>,
    /// The folders the listing walked down from (see [`Confined`]).
    anchors: Vec<PathBuf>,
    /// The last of them opened.
    anchor_cache: AnchorCache,
    /// Problems met while listing.
    pub errors: Vec<ListError>,
    /// Notices rsync prints on stdout (`skipping directory x`).
    pub notices: Vec<String>,
    /// The exit status rsync stops with when a per-folder rule file, or a merge file it
    /// names, cannot be read (11) or holds a bad rule (1): the list is then empty, and the
    /// reason is the last of [`LocalSender::errors`].
    pub fatal: Option<i32>,
    /// With [`LocalSender::share_signatures`]: each file's signature, made the first time a
    /// host asks and then shared by the clones that serve the other hosts.
    signatures: Option<Arc<Vec<SharedSignature>>>,
    /// `--bwlimit` on a local copy (across a network the data messages are paced instead).
    pacer: Option<crate::pace::Pacer>,
    /// `--open-noatime`.
    noatime: bool,
}

impl LocalSender {
    /// Holds a local copy to `--bwlimit`'s rate.
    pub fn pace(&mut self, pacer: crate::pace::Pacer) {
        self.pacer = Some(pacer);
    }

    /// Offers [`Sender::signature`]: for a push to many hosts, where each file's signature
    /// is made once here, whatever the number of hosts, and each host searches its own old
    /// copy. Call before cloning the sender for the hosts.
    pub fn share_signatures(&mut self) {
        self.signatures = Some(Arc::new(
            (0..self.entries.len()).map(|_| OnceLock::new()).collect(),
        ));
    }

    /// Lists `sources` as rsync does: `dir/` (or `.`) sends what is in `dir`, under the
    /// transfer root `.`; `dir` sends `dir` itself and everything below it; several sources
    /// make one sorted list, the first source winning a name two of them give.
    pub fn list(sources: &[OsString], opts: &ListOptions, filters: &FilterList) -> LocalSender {
        let mut walker = Walker {
            opts,
            given: filters,
            merged: Vec::new(),
            found: Vec::new(),
            errors: Vec::new(),
            notices: Vec::new(),
            fatal: None,
            order: 0,
            ancestors: Vec::new(),
            shallow: false,
            listed_in: HashSet::new(),
            held: Vec::new(),
            anchor: None,
            anchors: Vec::new(),
        };
        for src in sources {
            walker.operand(src);
        }
        let Walker {
            mut found,
            errors,
            notices,
            anchors,
            listed_in,
            fatal,
            ..
        } = walker;
        // rsync stops at a rule file it cannot take: nothing is sent.
        if fatal.is_some() {
            found.clear();
        }
        // Without -r, a folder sent without what is in it has nothing in it deleted on the
        // receiver, as rsync's folders without FLAG_CONTENT_DIR.
        if !opts.recursive {
            for f in found.iter_mut().filter(|f| f.entry.is_dir()) {
                f.entry.implied |= !listed_in.contains(&f.entry.name);
            }
        }
        // The entries move into the ranking, and the sender's own parts wait by their index,
        // where every entry was cloned (2-4% of a 50,000-file no-op, in its memmoves).
        let mut ranked = Vec::with_capacity(found.len());
        let mut rest = Vec::with_capacity(found.len());
        for (i, f) in found.into_iter().enumerate() {
            ranked.push((f.entry, i));
            rest.push((f.path, f.confined, f.inode));
        }
        sort_and_dedup(&mut ranked);
        if opts.prune_empty_dirs {
            prune_empty_dirs(&mut ranked);
        }
        let mut entries = Vec::with_capacity(ranked.len());
        let mut paths = Vec::with_capacity(ranked.len());
        let mut confined = Vec::with_capacity(ranked.len());
        let mut inodes = Vec::with_capacity(ranked.len());
        for (entry, i) in ranked {
            entries.push(entry);
            paths.push(std::mem::take(&mut rest[i].0));
            confined.push(rest[i].1);
            inodes.push(rest[i].2);
        }
        if opts.hard_links {
            group_hard_links(&mut entries, &inodes);
        }
        let mut sender = LocalSender {
            entries,
            paths,
            confined,
            anchors,
            anchor_cache: AnchorCache::default(),
            errors,
            notices,
            fatal,
            signatures: None,
            pacer: None,
            noatime: opts.open_noatime,
        };
        if opts.checksum {
            sender.hash_files();
        }
        sender
    }

    /// The source path of entry `index`.
    pub fn path(&self, index: usize) -> &Path {
        &self.paths[index]
    }

    /// Opens entry `index`'s file for reading (see [`Confined`]); an error is the OS's
    /// reason alone, which the caller puts beside the path.
    fn open(&self, index: usize) -> io::Result<fs::File> {
        match self.confined[index] {
            Some(Confined { anchor, strip }) => {
                let rel = self.entries[index].name.get(strip..).unwrap_or_default();
                let opened = || {
                    let mut cache = self
                        .anchor_cache
                        .0
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    let root = match &*cache {
                        Some((at, root)) if *at == anchor => Arc::clone(root),
                        _ => {
                            let root = Arc::new(Root::open(&self.anchors[anchor])?);
                            *cache = Some((anchor, Arc::clone(&root)));
                            root
                        }
                    };
                    drop(cache);
                    root.open_file_beneath(rel, self.noatime)
                };
                opened().map_err(|e| match prtools_sync::raw_os_error(&e) {
                    Some(errno) => io::Error::from_raw_os_error(errno),
                    None => e,
                })
            }
            None => open_source(&self.paths[index], self.noatime),
        }
    }

    fn hash_files(&mut self) {
        for i in 0..self.entries.len() {
            if self.entries[i].is_regular() {
                match self.open(i).and_then(prtools_sync::hash_reader) {
                    Ok(h) => self.entries[i].checksum = Some(h),
                    Err(e) => self.errors.push(ListError {
                        message: format!("cannot read '{}': {e}", self.paths[i].display()),
                    }),
                }
            }
        }
    }
}

impl Sender for LocalSender {
    fn remove_source(&mut self, index: usize) -> io::Result<()> {
        let path = &self.paths[index];
        let e = &self.entries[index];
        let now = fs::symlink_metadata(path)?;
        // As rsync: an entry that changed since it was listed is not what was sent.
        let same = now.mtime() == e.mtime.secs
            && now.mode() & libc::S_IFMT == e.mode & libc::S_IFMT
            && match &e.kind {
                FileKind::Regular { size } => now.len() == *size,
                FileKind::Symlink { target } => {
                    fs::read_link(path)?.as_os_str().as_bytes() == target.as_slice()
                }
                FileKind::Device { rdev } => now.rdev() == *rdev,
                FileKind::Special => true,
                FileKind::Dir | FileKind::Missing => false,
            };
        if !same {
            return Err(io::Error::other(format!(
                "Skipping sender remove for changed file: {}",
                path.display()
            )));
        }
        fs::remove_file(path)
    }

    fn file_list(&self) -> &[FileEntry] {
        &self.entries
    }

    fn send(
        &mut self,
        index: usize,
        basis: Option<&Signature>,
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        let path = &self.paths[index];
        let at = |e: io::Error| io::Error::new(e.kind(), format!("'{}': {e}", path.display()));
        let mut file = self.open(index).map_err(at)?;
        match basis {
            None => {
                // No bigger than the file (and a byte to see its end): a buffer of the full
                // size, zeroed for each of 50,000 small files and each host, was the largest
                // cost of a first copy on the client.
                let listed = self.entries[index].size().saturating_add(1);
                let mut buf = vec![0u8; listed.min(COPY_BUFFER as u64) as usize];
                let opened = file.metadata().map_err(at)?.len();
                let mut total = 0u64;
                loop {
                    let n = match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(at(e)),
                    };
                    out.write_all(&buf[..n])?;
                    total += n as u64;
                    if let Some(pacer) = &mut self.pacer {
                        pacer.pace(n as u64, || {
                            let _ = out.flush();
                        });
                    }
                }
                // A file cut short while it was read (a log truncated under us) is not put in
                // place as if whole: the file fails, the run goes on and exits 23, as
                // rsync's sender reports its read errors.
                if total < opened {
                    return Err(shrank(path));
                }
                Ok(Sent {
                    literal: total,
                    matched: 0,
                    wire: total,
                    ..Sent::default()
                })
            }
            Some(sig) => {
                // The search needs the whole target at hand.
                let data = Mapped::new(&file).map_err(at)?;
                let delta = prtools_delta::delta(sig, &data);
                let mut counter = prtools_rsync_wire::counted::Counted::new(out);
                delta
                    .encode(&data, &mut counter)
                    .map_err(|e| io::Error::other(format!("'{}': {e}", path.display())))?;
                if !data.intact() {
                    return Err(shrank(path));
                }
                if let Some(pacer) = &mut self.pacer {
                    pacer.pace(counter.count, || {});
                }
                Ok(Sent {
                    literal: delta.literal_len(),
                    matched: delta.copied_len(),
                    wire: counter.count,
                    search: delta.search_stats(),
                })
            }
        }
    }

    fn signature(
        &mut self,
        index: usize,
        options: &SignatureOptions,
    ) -> io::Result<Option<Arc<Signature>>> {
        let Some(cache) = &self.signatures else {
            return Ok(None);
        };
        let path = &self.paths[index];
        cache[index]
            .get_or_init(|| {
                let data = self
                    .open(index)
                    .and_then(|f| Mapped::new(&f))
                    .map_err(|e| format!("'{}': {e}", path.display()))?;
                let sig = Signature::new(&data, options)
                    .map(Arc::new)
                    .map_err(|e| format!("'{}': {e}", path.display()))?;
                match data.intact() {
                    true => Ok(sig),
                    false => Err(shrank(path).to_string()),
                }
            })
            .clone()
            .map(Some)
            .map_err(io::Error::other)
    }

    fn send_ranges(
        &mut self,
        index: usize,
        ranges: &[Range<u64>],
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        use std::os::unix::fs::FileExt;
        let path = &self.paths[index];
        let at = |e: io::Error| io::Error::new(e.kind(), format!("'{}': {e}", path.display()));
        let file = self.open(index).map_err(at)?;
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut total = 0u64;
        for range in ranges {
            let mut at_offset = range.start;
            while at_offset < range.end {
                let want = (range.end - at_offset).min(COPY_BUFFER as u64) as usize;
                let n = file.read_at(&mut buf[..want], at_offset).map_err(at)?;
                if n == 0 {
                    return Err(at(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    )));
                }
                out.write_all(&buf[..n])?;
                at_offset += n as u64;
                total += n as u64;
            }
        }
        Ok(Sent {
            literal: total,
            matched: 0,
            wire: total,
            ..Sent::default()
        })
    }
}

/// One entry found, with what only the sender needs.
struct Found {
    entry: FileEntry,
    path: PathBuf,
    inode: Option<(u64, u64)>,
    confined: Option<Confined>,
}

struct Walker<'a> {
    opts: &'a ListOptions,
    /// The rules given; [`Walker::filters`] is what holds in the folder being walked.
    given: &'a FilterList,
    /// With `dir-merge` rules: the lists of the folders being walked that brought rules.
    merged: Vec<FilterList>,
    found: Vec<Found>,
    errors: Vec<ListError>,
    notices: Vec<String>,
    /// A rule file that could not be read or parsed: rsync stops with this status, and
    /// nothing is sent (see [`LocalSender::fatal`]).
    fatal: Option<i32>,
    order: usize,
    /// The folders being walked, by device and inode: with -L a link back up to one of them
    /// would make the walk endless.
    ancestors: Vec<(u64, u64)>,
    /// Listing one level only (`-d`): folders found are not descended into.
    shallow: bool,
    /// `-d`: the names of the folders whose entries were listed (`.` for the root), looked up
    /// once for each folder found: a `--files-from` of thousands of folders names as many.
    listed_in: HashSet<Vec<u8>>,
    /// The source folder being walked down from, while one is (see [`Confined`]).
    anchor: Option<Confined>,
    /// Every source folder walked down from.
    anchors: Vec<PathBuf>,
    /// In a confined walk, the folders being listed, innermost last, each with its path.
    held: Vec<(PathBuf, rustix::fd::OwnedFd)>,
}

impl<'a> Walker<'a> {
    /// The rules that hold in the folder being walked.
    fn filters(&self) -> &FilterList {
        self.merged.last().unwrap_or(self.given)
    }

    /// Whether the filters leave `name` out; with `-vv`, the rule that decided is said.
    fn excluded(&mut self, name: &[u8], is_dir: bool) -> bool {
        if !self.opts.trace_filters {
            return self.filters().is_excluded(name, is_dir);
        }
        let side = prtools_sync::filter::Side::Sender;
        let Some((excluded, shown)) = self.filters().trace(side, name, is_dir) else {
            return false;
        };
        self.notices.push(format!(
            "[sender] {} {} {} because of pattern {}",
            if excluded { "hiding" } else { "showing" },
            if is_dir { "directory" } else { "file" },
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(&shown)
        ));
        excluded
    }

    /// Reads the `dir-merge` files of folder `dir` (named `prefix`): true if they brought
    /// rules, which then hold until [`Walker::leave_dir`].
    fn enter_dir(&mut self, dir: &Path, prefix: &[u8]) -> bool {
        if !self.given.has_dir_merge() {
            return false;
        }
        let mut refused = Vec::new();
        let confine = self.opts.confine_root.clone();
        let mut read = |name: &[u8]| {
            let path = dir.join(OsStr::from_bytes(name));
            // A merge file reached through another user's symlink is not read, as rsync
            // 3.5 refuses it: its rules could hide what the owner of the tree wants sent.
            if let Err(why) = crate::trust::check_destination(&path) {
                refused.push(why);
                return None;
            }
            if let Some(root) = &confine {
                if !crate::trust::inside(root, &path) {
                    refused.push(format!(
                        "merge file {} resolves outside --confine-root {}; it is not read",
                        path.display(),
                        root.display()
                    ));
                    return None;
                }
            }
            fs::read(&path).ok()
        };
        // rsync's full name of the folder, which a merge file's name must fit beside.
        let full = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut long = Vec::new();
        let result = self.filters().enter_dir_at(
            prefix,
            Some(full.as_os_str().as_bytes()),
            &mut read,
            &mut long,
        );
        for why in refused.into_iter().chain(long) {
            self.errors.push(ListError { message: why });
        }
        match result {
            Ok(Some(list)) => {
                self.merged.push(list);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.errors.push(ListError {
                    message: format!("in a merge file of \"{}\": {e}", dir.display()),
                });
                let unread = matches!(e.kind(), FilterErrorKind::Merge | FilterErrorKind::Read);
                self.fatal = Some(if unread { FILE_IO } else { SYNTAX });
                false
            }
        }
    }

    fn leave_dir(&mut self, entered: bool) {
        if entered {
            self.merged.pop();
        }
    }

    fn operand(&mut self, src: &OsStr) {
        if self.opts.relative {
            return self.operand_relative(src);
        }
        let bytes = src.as_bytes();
        let path = PathBuf::from(src);
        // rsync: a trailing slash (or a name that is `.`) means "what is inside".
        let contents = bytes.ends_with(b"/")
            || bytes == b"."
            || bytes.ends_with(b"/.")
            || bytes.ends_with(b"/..")
            || bytes == b"..";
        let meta = match if contents || self.opts.copy_links {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        } {
            Ok(m) => m,
            Err(e) => {
                let name = (!contents).then(|| last_name(bytes));
                return self.missing_operand(&path, &e, name);
            }
        };
        if contents && meta.is_dir() {
            if !self.opts.recursive {
                // -d: a folder named with a trailing slash (or `.`) sends what is in it.
                if self.opts.dirs {
                    self.add(b".".to_vec(), &path, &meta);
                    self.list_one_level(&path, b"");
                    return;
                }
                self.notices.push("skipping directory .".to_string());
                return;
            }
            self.add(b".".to_vec(), &path, &meta);
            self.walk(&path, b"");
            return;
        }
        self.operand_named(last_name(bytes), &path, &meta);
    }

    /// A source that cannot be looked at: an error, as rsync's `link_stat ... failed`, but
    /// with `--ignore-missing-args` nothing when it is not there, and with
    /// `--delete-missing-args` an entry that says so, listed as `name`.
    fn missing_operand(&mut self, path: &Path, e: &io::Error, name: Option<Vec<u8>>) {
        let gone = e.kind() == io::ErrorKind::NotFound;
        if let Some(name) = name.filter(|n| gone && self.opts.delete_missing_args && !n.is_empty())
        {
            self.found.push(Found {
                entry: FileEntry::new(name, FileKind::Missing, 0),
                path: path.to_path_buf(),
                inode: None,
                confined: None,
            });
            return;
        }
        if (self.opts.ignore_missing_args || self.opts.delete_missing_args) && gone {
            return;
        }
        self.errors.push(ListError {
            message: format!(
                "link_stat \"{}\" failed: {} (check the source path)",
                path.display(),
                os_reason(e)
            ),
        });
    }

    /// One source, found at `path`, listed as `name` with everything below it.
    fn operand_named(&mut self, name: Vec<u8>, path: &Path, meta: &Metadata) {
        if meta.is_dir() && !self.opts.recursive {
            if self.opts.dirs {
                self.add(name, path, meta);
                return;
            }
            self.notices.push(format!(
                "skipping directory {}",
                String::from_utf8_lossy(&name)
            ));
            return;
        }
        if self.excluded(&name, meta.is_dir()) {
            return;
        }
        if self.add(name.clone(), path, meta) && meta.is_dir() {
            self.walk(path, &name);
        }
    }

    /// A source under `-R`: named by its path, from after its last `/./` (a leading `./`
    /// also marks the transfer root, which is then sent as `.`), without leading and
    /// trailing slashes; each folder on the way is sent as an implied folder, for its
    /// attributes only, unless `--no-implied-dirs`.
    fn operand_relative(&mut self, src: &OsStr) {
        let bytes = src.as_bytes();
        let (start, dot_root) = match bytes.windows(3).rposition(|w| w == b"/./") {
            Some(i) => (i + 3, false),
            None if bytes.starts_with(b"./") => (2, true),
            None => (0, false),
        };
        // The name: components after the cut, without empty and `.` ones.
        let mut name: Vec<u8> = Vec::new();
        // Where each component of the name ends in `bytes`, for the implied folders' paths.
        let mut ends: Vec<(usize, usize)> = Vec::new();
        let mut at = start;
        for part in bytes[start..].split(|&b| b == b'/') {
            let end = at + part.len();
            if !part.is_empty() && part != b"." {
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(part);
                ends.push((end, name.len()));
            }
            at = end + 1;
        }
        let path = PathBuf::from(src);
        let meta = match if self.opts.copy_links {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        } {
            Ok(m) => m,
            Err(e) => return self.missing_operand(&path, &e, Some(name)),
        };
        if self.opts.implied_dirs {
            let mut implied: Vec<(Vec<u8>, PathBuf)> = Vec::new();
            if dot_root {
                implied.push((b".".to_vec(), PathBuf::from(".")));
            }
            for &(end, len) in ends.iter().take(ends.len().saturating_sub(1)) {
                let at = PathBuf::from(OsStr::from_bytes(&bytes[..end]));
                implied.push((name[..len].to_vec(), at));
            }
            for (dir, at) in implied {
                if let Ok(m) = fs::metadata(&at) {
                    if m.is_dir() && !self.excluded(&dir, true) {
                        self.add(dir, &at, &m);
                        if let Some(last) = self.found.last_mut() {
                            last.entry.implied = true;
                        }
                    }
                }
            }
        }
        if name.is_empty() {
            // `-R .` or `-R dir/./`: the transfer root itself, and what is in it.
            if meta.is_dir() && self.opts.recursive {
                self.add(b".".to_vec(), &path, &meta);
                self.walk(&path, b"");
            } else if meta.is_dir() && self.opts.dirs {
                self.add(b".".to_vec(), &path, &meta);
                self.list_one_level(&path, b"");
            }
            return;
        }
        // -d: a folder named with a trailing slash sends what is in it, one level.
        let contents = bytes.ends_with(b"/") || bytes.ends_with(b"/.");
        if contents && meta.is_dir() && !self.opts.recursive && self.opts.dirs {
            if !self.excluded(&name, true) && self.add(name.clone(), &path, &meta) {
                self.list_one_level(&path, &name);
            }
            return;
        }
        self.operand_named(name, &path, &meta);
    }

    /// Adds everything below the directory `dir`, whose entries are named `prefix/...`
    /// (just `...` for the root).
    fn walk(&mut self, dir: &Path, prefix: &[u8]) {
        let top = self.anchor_at(dir, prefix);
        self.walk_from(dir, prefix);
        if top {
            self.anchor = None;
        }
    }

    /// Starts a walk down from the source folder `dir` (its entries named `prefix/...`),
    /// unless one is under way: the folder its files will be read beneath (see
    /// [`Confined`]). True if this began one.
    fn anchor_at(&mut self, dir: &Path, prefix: &[u8]) -> bool {
        let o = self.opts;
        if self.anchor.is_some()
            || o.copy_links
            || o.copy_dirlinks
            || o.copy_unsafe_links
            || o.insecure_links
        {
            return false;
        }
        self.anchors.push(dir.to_path_buf());
        self.anchor = Some(Confined {
            anchor: self.anchors.len() - 1,
            strip: if prefix.is_empty() {
                0
            } else {
                prefix.len() + 1
            },
        });
        true
    }

    fn walk_from(&mut self, dir: &Path, prefix: &[u8]) {
        if self.fatal.is_some() {
            return;
        }
        let id = fs::metadata(dir).map(|m| (m.dev(), m.ino())).ok();
        if let Some(id) = id {
            if self.ancestors.contains(&id) {
                self.errors.push(ListError {
                    message: format!(
                        "\"{}\" leads back to a folder it is in; not descending (a symlink loop with -L)",
                        dir.display()
                    ),
                });
                return;
            }
            self.ancestors.push(id);
        }
        let entered = self.enter_dir(dir, prefix);
        self.walk_below(dir, prefix, id.map(|(dev, _)| dev));
        self.leave_dir(entered);
        if id.is_some() {
            self.ancestors.pop();
        }
    }

    /// Lists what is in `dir` (on file system `dev`, when known) and walks its folders.
    fn walk_below(&mut self, dir: &Path, prefix: &[u8], dev: Option<u64>) {
        let held = self.held.len();
        let reader = match self.open_listed(dir) {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(ListError {
                    message: format!("opendir \"{}\" failed: {}", dir.display(), os_reason(&e)),
                });
                return;
            }
        };
        self.list_below(reader, dir, prefix, dev);
        self.held.truncate(held);
    }

    /// Opens the folder `dir` to list it. In a confined walk (see [`Confined`]) a folder
    /// below the source folder is opened from the folder above it, held open since it was
    /// listed, without following a symlink: a folder swapped for a link out of the tree
    /// between its listing and its own (rsync's sender-scan-dir-escape) is refused, not
    /// listed. The folder is then read through its `/proc/self/fd` link, which names that
    /// very folder; without /proc it is read by its path, as before.
    fn open_listed(&mut self, dir: &Path) -> io::Result<fs::ReadDir> {
        use rustix::fs::{Mode, OFlags};
        use std::os::fd::AsRawFd;
        if self.anchor.is_none() {
            return fs::read_dir(dir);
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = self
            .held
            .last()
            .filter(|(p, _)| Some(p.as_path()) == dir.parent());
        let fd = match (parent, dir.file_name()) {
            (Some((_, parent)), Some(leaf)) => {
                rustix::fs::openat(parent, leaf, flags | OFlags::NOFOLLOW, Mode::empty())?
            }
            // The source folder itself, as the user named it.
            _ => rustix::fs::open(dir, flags, Mode::empty())?,
        };
        let reader = fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .or_else(|_| fs::read_dir(dir))?;
        self.held.push((dir.to_path_buf(), fd));
        Ok(reader)
    }

    /// [`Walker::walk_below`] once `dir` is open.
    fn list_below(&mut self, reader: fs::ReadDir, dir: &Path, prefix: &[u8], dev: Option<u64>) {
        let mut names: Vec<fs::DirEntry> = Vec::new();
        for item in reader {
            match item {
                Ok(item) => names.push(item),
                Err(e) => self.errors.push(ListError {
                    message: format!("readdir \"{}\" failed: {}", dir.display(), os_reason(&e)),
                }),
            }
        }
        // rsync looks at a folder's entries in the order the folder gives them (its errors
        // and filter trace come in that order), and lists them all before it descends into
        // any of its folders, in list order.
        let mut kept = Vec::new();
        let mut below = Vec::new();
        for item in names {
            let leaf = item.file_name();
            let path = dir.join(&leaf);
            let leaf = leaf.into_vec();
            let name = if prefix.is_empty() {
                leaf
            } else {
                [prefix, b"/", &leaf].concat()
            };
            // Looked at from the folder's own descriptor (an fstatat of the leaf), where a
            // stat of the whole path walked every component again, once per level of depth.
            let meta = match item.metadata() {
                // -L, -k, --copy-unsafe-links: what the link points to, as rsync sends it.
                Ok(m) if m.file_type().is_symlink() && self.follows(&name, &path) => {
                    match fs::metadata(&path) {
                        Ok(target) => target,
                        // A dangling link the filters leave out is no error, as in rsync.
                        Err(_) if self.filters().is_excluded(&name, false) => continue,
                        Err(_) => {
                            self.errors.push(ListError {
                                message: format!("symlink has no referent: \"{}\"", path.display()),
                            });
                            continue;
                        }
                    }
                }
                Ok(m) => m,
                Err(e) => {
                    self.errors.push(ListError {
                        message: format!(
                            "readlink_stat(\"{}\") failed: {}",
                            path.display(),
                            os_reason(&e)
                        ),
                    });
                    continue;
                }
            };
            if self.excluded(&name, meta.is_dir()) {
                continue;
            }
            // -x: a folder another file system is mounted on is sent as an empty folder
            // (-xx: not at all), as rsync's --one-file-system.
            let mount = meta.is_dir()
                && self.opts.one_file_system > 0
                && dev.is_some_and(|d| d != meta.dev());
            if mount && self.opts.one_file_system > 1 {
                continue;
            }
            kept.push((name, path, meta, mount));
        }
        // Added by name: what the receiver says of them (`skipping non-regular file`)
        // comes in list order.
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, path, meta, mount) in kept {
            if self.add(name.clone(), &path, &meta) && meta.is_dir() && !mount {
                below.push((path, name));
            }
        }
        if self.shallow {
            return;
        }
        below.sort_by(|a: &(PathBuf, Vec<u8>), b| crate::flist::compare(&a.1, true, &b.1, true));
        if below.len() > 1 && !self.given.has_dir_merge() {
            return self.walk_each_apart(below);
        }
        for (path, name) in below {
            self.walk_from(&path, &name);
        }
    }

    /// Walks the folders `below` (named, in list order) of the folder being listed, each
    /// on its own walker, on every core, then takes what each found in that order: the same
    /// entries, errors and notices, in the same order, as walking them one after another.
    ///
    /// The walk of the sources was one thread of a no-op push of 50,000 files, and the
    /// agent waits for its list: 130 ms of 250 in a warm run, two thirds of it in the
    /// kernel's `statx` and `getdents`, which the folders of a tree can do side by side.
    /// Not with `dir-merge` rules, whose files are read as each folder is entered.
    fn walk_each_apart(&mut self, below: Vec<(PathBuf, Vec<u8>)>) {
        use rayon::prelude::*;
        let this = &*self;
        let walked: Vec<Result<Walker, (PathBuf, Vec<u8>)>> = below
            .into_par_iter()
            .map(|(path, name)| {
                let mut walker = this.fork().ok_or((path.clone(), name.clone()))?;
                walker.walk_from(&path, &name);
                Ok(walker)
            })
            .collect();
        for walked in walked {
            match walked {
                Ok(mut walker) => {
                    self.found.append(&mut walker.found);
                    self.errors.append(&mut walker.errors);
                    self.notices.append(&mut walker.notices);
                    self.order += walker.order;
                }
                // No descriptor to spare for another walker: walked here, in its turn.
                Err((path, name)) => self.walk_from(&path, &name),
            }
        }
    }

    /// A walker for one folder below the one being listed, starting with nothing found,
    /// holding its own copy of that folder's descriptor (see [`Walker::open_listed`]);
    /// `None` if the descriptor cannot be copied.
    fn fork(&self) -> Option<Walker<'a>> {
        let held = match self.held.last() {
            Some((path, fd)) => vec![(path.clone(), fd.try_clone().ok()?)],
            None => Vec::new(),
        };
        Some(Walker {
            opts: self.opts,
            given: self.given,
            merged: self.merged.clone(),
            found: Vec::new(),
            errors: Vec::new(),
            notices: Vec::new(),
            fatal: None,
            order: 0,
            ancestors: self.ancestors.clone(),
            shallow: self.shallow,
            listed_in: HashSet::new(),
            anchor: self.anchor,
            anchors: Vec::new(),
            held,
        })
    }

    /// `-d`: what is in the folder `dir`, named `prefix/...`, without going further down.
    fn list_one_level(&mut self, dir: &Path, prefix: &[u8]) {
        let top = self.anchor_at(dir, prefix);
        self.listed_in.insert(match prefix {
            b"" => b".".to_vec(),
            p => p.to_vec(),
        });
        self.shallow = true;
        let dev = fs::metadata(dir).map(|m| m.dev()).ok();
        let entered = self.enter_dir(dir, prefix);
        self.walk_below(dir, prefix, dev);
        self.leave_dir(entered);
        self.shallow = false;
        if top {
            self.anchor = None;
        }
    }

    /// Whether the symlink `name` at `path` is sent as what it points to.
    fn follows(&self, name: &[u8], path: &Path) -> bool {
        let o = self.opts;
        o.copy_links
            || (o.copy_dirlinks && fs::metadata(path).is_ok_and(|m| m.is_dir()))
            || (o.copy_unsafe_links
                && fs::read_link(path)
                    .is_ok_and(|t| crate::links::is_unsafe(name, t.as_os_str().as_bytes())))
    }

    /// Adds one entry; false if its kind is not sent (then nothing below it is either).
    fn add(&mut self, name: Vec<u8>, path: &Path, meta: &Metadata) -> bool {
        let real = meta.file_type();
        let mut xattrs = Vec::new();
        if self.opts.xattrs > 0 || self.opts.fake_super {
            match prtools_sync::read_xattrs(path) {
                Ok(found) => xattrs = found,
                Err(e) => self.errors.push(ListError {
                    message: format!(
                        "get_xattr_names: llistxattr(\"{}\") failed: {}",
                        path.display(),
                        os_reason(&e)
                    ),
                }),
            }
        }
        // --fake-super: a plain file may stand for a device, with another owner and mode.
        let fake = match self.opts.fake_super
            && !(real.is_block_device()
                || real.is_char_device()
                || real.is_fifo()
                || real.is_socket())
        {
            true => crate::fake_super::FakeStat::among(&xattrs),
            false => None,
        };
        let (mode, uid, gid, rdev) = match fake {
            Some(f) => (f.mode, f.uid, f.gid, f.rdev),
            None => (meta.mode(), meta.uid(), meta.gid(), meta.rdev()),
        };
        let type_bits = mode & libc::S_IFMT;
        let is_device = type_bits == libc::S_IFBLK || type_bits == libc::S_IFCHR;
        let is_special = type_bits == libc::S_IFIFO || type_bits == libc::S_IFSOCK;
        let kind = if is_device {
            if !self.opts.devices {
                self.notices.push(format!(
                    "skipping non-regular file \"{}\"",
                    String::from_utf8_lossy(&name)
                ));
                return false;
            }
            FileKind::Device { rdev }
        } else if is_special {
            if !self.opts.specials {
                self.notices.push(format!(
                    "skipping non-regular file \"{}\"",
                    String::from_utf8_lossy(&name)
                ));
                return false;
            }
            FileKind::Special
        } else if real.is_file() {
            FileKind::Regular { size: meta.len() }
        } else if real.is_dir() {
            FileKind::Dir
        } else {
            if !self.opts.links {
                self.notices.push(format!(
                    "skipping non-regular file \"{}\"",
                    String::from_utf8_lossy(&name)
                ));
                return false;
            }
            match fs::read_link(path) {
                Ok(t) => FileKind::Symlink {
                    target: t.into_os_string().into_vec(),
                },
                Err(e) => {
                    self.errors.push(ListError {
                        message: format!(
                            "readlink \"{}\" failed: {}",
                            path.display(),
                            os_reason(&e)
                        ),
                    });
                    return false;
                }
            }
        };
        // The kind decides the type bits a receiver sees, whatever a %stat said.
        let mode = match &kind {
            FileKind::Regular { .. } => (mode & !libc::S_IFMT) | libc::S_IFREG,
            FileKind::Dir => (mode & !libc::S_IFMT) | libc::S_IFDIR,
            FileKind::Symlink { .. } => (mode & !libc::S_IFMT) | libc::S_IFLNK,
            _ => mode,
        };
        // --fake-super -A: the ACL is what rsync packed in attributes, not the inode's own.
        let fake_acl = (self.opts.fake_super && self.opts.acls).then(|| {
            let find = |want: &[u8]| xattrs.iter().find(|(n, _)| n == want).map(|(_, v)| &v[..]);
            let access = find(crate::fake_acl::ACCESS_NAME);
            crate::fake_acl::unpack(access, find(crate::fake_acl::DEFAULT_NAME), mode)
        });
        if self.opts.xattrs == 0 {
            xattrs.clear();
        }
        let all = self.opts.xattrs > 1;
        let fake_super = self.opts.fake_super;
        let filters = self.filters();
        xattrs.retain(|(n, _)| {
            crate::xattrs::sent(n, all, fake_super)
                && !filters.is_xattr_excluded(prtools_sync::filter::Side::Sender, n)
        });
        let ft = real;
        let acl = match self.opts.acls && !matches!(kind, FileKind::Symlink { .. }) {
            true if fake_acl.is_some() => fake_acl.flatten(),
            true => match prtools_sync::read_acl(path) {
                Ok(acl) => acl,
                Err(e) => {
                    self.errors.push(ListError {
                        message: format!(
                            "get_acl: sys_acl_get_file({}, ACL_TYPE_ACCESS): {}",
                            path.display(),
                            os_reason(&e)
                        ),
                    });
                    None
                }
            },
            false => None,
        };
        // -H: regular files and symlinks that share an inode, as rsync on Linux links both.
        let linkable = ft.is_file() || matches!(kind, FileKind::Symlink { .. });
        let inode = (linkable && meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
        self.found.push(Found {
            entry: FileEntry {
                name,
                kind,
                mode: match &self.opts.chmod {
                    Some(chmod) => chmod.apply(mode, ft.is_dir()),
                    None => mode,
                },
                mtime: Mtime::of(meta),
                uid,
                gid,
                hlink: None,
                checksum: None,
                implied: false,
                xattrs,
                acl,
                atime: self.opts.atimes.then(|| Mtime {
                    secs: meta.atime(),
                    nanos: meta.atime_nsec() as u32,
                }),
            },
            path: path.to_path_buf(),
            inode,
            confined: self.anchor,
        });
        self.order += 1;
        true
    }
}

/// Opens a source file for reading; with `--open-noatime` (`noatime`) without changing its
/// access time, where the kernel allows it (the file's owner, or root), as rsync does.
fn open_source(path: &Path, noatime: bool) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if noatime {
        match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME)
            .open(path)
        {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
            other => return other,
        }
    }
    fs::File::open(path)
}

/// Gives entries that share an inode a common group number (the index of the group's first
/// entry); an inode met only once in the list stays a plain file.
fn group_hard_links(entries: &mut [FileEntry], inodes: &[Option<(u64, u64)>]) {
    let mut groups: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, inode) in inodes.iter().enumerate() {
        if let Some(key) = inode {
            groups.entry(*key).or_default().push(i);
        }
    }
    for members in groups.values() {
        if members.len() > 1 {
            let id = members[0] as u32;
            for &m in members {
                entries[m].hlink = Some(id);
            }
        }
    }
}

/// A source's name in the list: its last component.
fn last_name(bytes: &[u8]) -> Vec<u8> {
    let trimmed = trim_slashes(bytes);
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => trimmed[i + 1..].to_vec(),
        None => trimmed.to_vec(),
    }
}

fn trim_slashes(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 1 && bytes[end - 1] == b'/' {
        end -= 1;
    }
    &bytes[..end]
}

/// A source file that another process cut short while it was read: that file fails
/// (exit 23) in rsync's words, and the rest of the run goes on.
fn shrank(path: &Path) -> io::Error {
    io::Error::other(format!(
        "read errors mapping \"{}\": the file shrank while it was read",
        path.display()
    ))
}

/// The OS's reason as rsync words it: `No such file or directory (2)`.
pub fn os_reason(e: &io::Error) -> String {
    match prtools_sync::raw_os_error(e) {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text)
                .to_string();
            format!("{text} ({code})")
        }
        None => e.to_string(),
    }
}
