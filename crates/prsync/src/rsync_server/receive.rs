//! The receiving server (a client's push), in the order of rsync's `do_server_recv`: the
//! filter list (when deleting), the file list and id lists, the destination as rsync's
//! `get_local_name` picks it, then rsync's generator and receiver.
//!
//! rsync runs those two as processes; here they take turns, as prsync's `--wire=rsync`
//! pull does: each file asked for is received before the next is asked for. The client
//! prints the `-i` lines from the item flags sent here, and `*deleting` lines from the
//! deletion messages, so this side prints nothing itself.
//!
//! Writes go through prtools-sync's [`Root`]: files as a temp file renamed into place,
//! folders and symlinks made without following a symlink on the way, and every entry's
//! parent must be a folder of the list, so that a client cannot make this side write
//! through a symlink it sent.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use prtools_mapped::Mapped;
use prtools_rsync_wire::checksum::{rolling, Checksum, Digest, FileSum};
use prtools_rsync_wire::codec::{invalid, put_int, put_shortint, put_varint, put_vstring};
use prtools_rsync_wire::deflate_tokens::Decoder;
use prtools_rsync_wire::delta;
use prtools_rsync_wire::flist::{self, is_safe_name, Entry};
use prtools_rsync_wire::flist_links::LinkDecoder;
use prtools_rsync_wire::handshake::Session;
use prtools_rsync_wire::itemize;
use prtools_rsync_wire::mux::Tag;
use prtools_rsync_wire::ndx::{NdxState, NDX_DEL_STATS, NDX_DONE};
use prtools_rsync_wire::server_request::{DeleteWhen, ServerRequest};
use prtools_rsync_wire::sums::{block_length, head_for, strong_length, SumHead};
use prtools_sync::{Mtime, RelPath, Root};

mod alt;
mod fake;
mod merge;

use super::log::ServerLog;
use super::wire::{filter_list, no_send, read_filters, read_request, send_ndx, Heard, Out};
use crate::exit;
use crate::idmap::{id_of, Ids};
use crate::received_tree::{check_parents, children_of, DirRules};
use prtools_sync::filter::FilterList;

/// rsync's I/O error bit for a general failure.
const IOERR_GENERAL: i32 = 1;

/// What deletions removed, by kind, for the totals protocol 31 sends.
#[derive(Default)]
struct Deleted {
    files: i32,
    dirs: i32,
    links: i32,
    devices: i32,
    specials: i32,
}

/// The state of the receiving side between its steps.
struct Recv<'a, W: Write> {
    req: &'a ServerRequest,
    session: &'a Session,
    out: &'a Mutex<&'a mut Out<W>>,
    /// Files asked for, to the receiving thread, in the order asked.
    pending: Option<SyncSender<Pending>>,
    list: &'a [Entry],
    root: Option<Root>,
    /// The destination folder, as messages show it.
    dest: PathBuf,
    /// A single file written under another name (`rsync f host:newname`).
    rename: Option<Vec<u8>>,
    /// `-n` into a destination that does not exist: everything is new, nothing is made.
    all_new: bool,
    ndx_out: NdxState,
    deleted: Deleted,
    io_error: i32,
    /// Folders to give their mode and time once their contents are in.
    dirs: Vec<(Option<RelPath>, Entry)>,
    /// `--delete`, unless the client's list may be short.
    may_delete: bool,
    /// The names of the list that each folder holds.
    children: HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    /// The client's rules: what they exclude, `--delete` leaves alone.
    filters: FilterList,
    /// Each entry's hard-linked group (`-H`).
    groups: Vec<Option<u32>>,
    /// Each regular file's checksum (`-c`), zero-padded.
    sums: Vec<Option<[u8; 16]>>,
    /// Each group's last member in list order.
    last_of: HashMap<u32, usize>,
    /// Each group's member that holds the data, once it is here.
    done: HashMap<u32, usize>,
    /// Members waiting for their group's data holder, which they are then linked to.
    deferred: HashMap<u32, Vec<usize>>,
    /// Groups whose data holder is sent in this phase.
    in_transfer: HashSet<u32>,
    /// Members to link at the end of the phase, and whether each came before its
    /// group's data holder.
    after_phase: Vec<(usize, bool)>,
    /// Folders sent only to hold what is below them (`-R`): nothing in them is deleted.
    no_content: HashSet<Vec<u8>>,
    /// The second of a name sent twice: numbered, never acted on.
    inactive: Vec<bool>,
    am_root: bool,
    log: Option<&'a ServerLog>,
    /// `--compare-dest`, `--copy-dest` or `--link-dest`, resolved below the destination.
    alt: Option<crate::alt_dest::AltDest>,
    /// The rules in each folder, with its per-folder merge files (None: the client's
    /// rules hold everywhere).
    dir_rules: Option<DirRules>,
}

/// Receives what the client sends; returns the exit status.
pub(super) fn run<W: Write + Send, R: Read + Send>(
    req: &ServerRequest,
    session: &Session,
    input: &mut R,
    out: &mut Out<W>,
    heard: &Arc<Mutex<Heard>>,
    log: Option<&ServerLog>,
    read: &std::sync::atomic::AtomicU64,
) -> io::Result<i32> {
    let mut filters = FilterList::new();
    // rsync 2.6's client sends no rules to a receiver with --delete-excluded.
    if req.delete && (!req.delete_excluded || session.protocol >= 29) {
        match filter_list(&read_filters(input, session.protocol)?) {
            Ok(f) => {
                filters = f;
                filters.set_delete_excluded(req.delete_excluded);
            }
            Err(what) => {
                out.error(&format!(
                    "rsync: [prsync --server] {what}, or point --rsync-path at rsync"
                ))?;
                out.flush()?;
                return Ok(super::UNSUPPORTED);
            }
        }
    }
    if let Some(file) = req.files_from.as_deref() {
        // `--files-from=HOST:FILE` on a push: the file is here, and the client builds
        // its list from the names this side sends.
        let mut text = match std::fs::read(file) {
            Ok(t) => t,
            Err(e) => {
                out.error(&format!(
                    "rsync: [Receiver] failed to open files-from file {file}: {}",
                    super::os_text(&e)
                ))?;
                out.flush()?;
                return Ok(exit::SYNTAX);
            }
        };
        if !req.from0 {
            for c in text.iter_mut().filter(|c| **c == b'\n' || **c == b'\r') {
                *c = 0;
            }
        }
        let ends_in_nul = text.last().is_none_or(|&c| c == 0);
        text.extend_from_slice(if ends_in_nul { b"\0" } else { b"\0\0" });
        if session.protocol < 31 {
            // rsync's server turns its frames off to send these, and its client reads
            // them so.
            out.unframed(&text)?;
        } else {
            out.write_all(&text)?;
            out.flush()?;
        }
    }
    if let Some(log) = log {
        log.line("receiving file list");
    }
    let keep = super::keep_of(req);
    let mut decoder = LinkDecoder::new(session.protocol, keep, req.hard_links)
        .varint_flags(session.varint_flags())
        .with_checksums(req.checksum, session.checksum);
    let mut received = Vec::new();
    let client_io_error = loop {
        match decoder.get(input)? {
            Ok(got) => {
                if !is_safe_name(&got.entry.name) {
                    return Err(invalid(format!(
                        "the client sent the unsafe name {:?}",
                        String::from_utf8_lossy(&got.entry.name)
                    )));
                }
                received.push(got);
            }
            Err(bits) => break bits,
        }
    };
    let mut users = HashMap::new();
    let mut groups = HashMap::new();
    let (user_list, group_list, old_io_error) = decoder.get_tail(input, req.numeric_ids)?;
    let client_io_error = client_io_error | old_io_error;
    if !req.numeric_ids {
        if keep.uid {
            users = id_map(Ids::Users, user_list);
        }
        if keep.gid {
            groups = id_map(Ids::Groups, group_list);
        }
    }
    for got in &mut received {
        let e = &mut got.entry;
        e.uid = users.get(&e.uid).copied().unwrap_or(e.uid);
        e.gid = groups.get(&e.gid).copied().unwrap_or(e.gid);
    }
    received.sort_by(|a, b| flist::compare_at(session.protocol, &a.entry, &b.entry));
    // A name sent twice keeps its place in the numbering, as in rsync's cleaned list,
    // but only one of them is acted on: the folder if one is, else the first.
    let mut inactive = vec![false; received.len()];
    let mut kept = 0usize;
    for i in 1..received.len() {
        if received[i].entry.name != received[kept].entry.name {
            kept = i;
            continue;
        }
        let content = received[i].content_dir || received[kept].content_dir;
        if received[i].entry.is_dir() && !received[kept].entry.is_dir() {
            inactive[kept] = true;
            kept = i;
        } else {
            inactive[i] = true;
        }
        received[kept].content_dir = content;
    }
    let no_content: HashSet<Vec<u8>> = received
        .iter()
        .zip(&inactive)
        .filter(|(r, &off)| !off && r.entry.is_dir() && !r.content_dir)
        .map(|(r, _)| r.entry.name.clone())
        .collect();
    // Hard-linked groups, by the index their first was sent with; each group's last
    // member in list order is the one that is made whatever is here (see link_role).
    let groups: Vec<Option<u32>> = received.iter().map(|r| r.hlink).collect();
    let mut last_of: HashMap<u32, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        if let Some(g) = g {
            last_of.insert(*g, i);
        }
    }
    let sums: Vec<Option<[u8; 16]>> = received.iter().map(|r| r.checksum).collect();
    let list: Vec<Entry> = received.into_iter().map(|r| r.entry).collect();
    check_parents(&list, "client")?;
    let client_io_error =
        client_io_error | heard.lock().unwrap_or_else(|e| e.into_inner()).io_error;

    let typed = req.paths.get(1).map(String::as_str).unwrap_or(".");
    let typed = if typed.is_empty() { "." } else { typed };
    if let Some(dir) = req.paths.first() {
        if let Err(e) = std::env::set_current_dir(dir) {
            out.error(&format!(
                "rsync: [Receiver] change_dir#4 \"{dir}\" failed: {}",
                super::os_text(&e)
            ))?;
            return Ok(exit::SELECT);
        }
    }
    if !super::confined(req, Path::new(typed)) {
        out.error(&format!(
            "rsync: [Receiver] \"{typed}\" is outside the --confine-root folder"
        ))?;
        return Ok(exit::SELECT);
    }
    let out = Mutex::new(out);
    let mut recv = Recv {
        req,
        session,
        out: &out,
        pending: None,
        list: &list,
        root: None,
        dest: PathBuf::from(typed),
        rename: None,
        all_new: false,
        ndx_out: session.ndx(),
        deleted: Deleted::default(),
        io_error: 0,
        dirs: Vec::new(),
        may_delete: false,
        children: HashMap::new(),
        filters,
        groups,
        sums,
        last_of,
        done: HashMap::new(),
        deferred: HashMap::new(),
        in_transfer: HashSet::new(),
        after_phase: Vec::new(),
        no_content,
        inactive,
        // SAFETY: geteuid has no preconditions and cannot fail.
        am_root: unsafe { libc::geteuid() } == 0,
        log,
        alt: None,
        dir_rules: None,
    };
    recv.dir_rules = DirRules::new(&recv.filters);
    let mut created = false;
    if !list.is_empty() {
        match recv.local_name(typed)? {
            Ok(c) => created = c,
            Err(code) => return Ok(code),
        }
    }
    match alt::resolve(&req.basis_dirs, &recv.dest, recv.all_new) {
        Ok(Some((alt, warnings))) => {
            for line in warnings {
                recv.out()
                    .message(Tag::Warning, format!("{line}\n").as_bytes())?;
            }
            recv.alt = Some(alt);
        }
        Ok(None) => {}
        Err(e) => {
            recv.out().error(&format!("rsync: [Receiver] {e}"))?;
            return Ok(exit::SYNTAX);
        }
    }
    let failed = AtomicI32::new(0);
    let waiting = Mutex::new(Vec::new());
    let incoming = Incoming {
        req,
        session,
        out: &out,
        root: recv.root.as_ref().map(Root::fork),
        dest: recv.dest.clone(),
        am_root: recv.am_root,
        failed: &failed,
        coder: RefCell::new(session.compression.map(|c| c.decoder(session.protocol))),
        log,
        waiting: &waiting,
    };
    let (tx, rx) = sync_channel(PIPELINE);
    recv.pending = Some(tx);
    let (phase_tx, phase_rx) = channel();
    std::thread::scope(|scope| -> io::Result<()> {
        let receiver = scope.spawn(move || {
            if let Err(e) = incoming.receive_all(input, rx, phase_tx) {
                // The stream is broken and the generator may be blocked writing to a
                // client that no longer reads: end the process with rsync's status.
                eprintln!("rsync: [prsync --server] the rsync protocol broke: {e}");
                std::process::exit(exit::PROTOCOL);
            }
        });
        let result = generate_all(
            &mut recv,
            &list,
            created,
            client_io_error,
            &phase_rx,
            &waiting,
        );
        recv.pending = None;
        result?;
        let _ = receiver.join();
        Ok(())
    })?;
    recv.finish_dirs()?;
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    send_ndx(&mut **o, &mut recv.ndx_out, NDX_DONE)?;
    o.flush()?;
    if let Some(log) = log {
        log.totals(o.written, read.load(Ordering::Relaxed), &list);
    }
    let io_error = recv.io_error | failed.load(Ordering::Relaxed);
    Ok(if io_error != 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

/// How many files may be asked for ahead of the one being received: enough to keep
/// the link busy with small files, few enough that their old copies' maps stay few.
const PIPELINE: usize = 64;

/// rsync's generator, after the list: every entry, the deletions, and the phases' ends,
/// each end awaited from the receiving thread as rsync's generator awaits its receiver.
fn generate_all<W: Write + Send>(
    recv: &mut Recv<'_, W>,
    list: &[Entry],
    created: bool,
    client_io_error: i32,
    phase_rx: &Receiver<()>,
    waiting: &Mutex<Vec<(RelPath, RelPath)>>,
) -> io::Result<()> {
    let req = recv.req;
    let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the receiver stopped");
    // rsync deletes nothing after a sender's I/O error: its list may be short.
    let may_delete = req.delete && (client_io_error == 0 || req.ignore_errors);
    recv.may_delete = may_delete && req.delete_when == DeleteWhen::During;
    recv.children = children_of(list);
    if may_delete && req.delete_when == DeleteWhen::Before {
        recv.delete_pass()?;
    }
    for (i, entry) in list.iter().enumerate() {
        if recv.inactive[i] {
            continue;
        }
        let fresh = created && entry.name == b".";
        let result = recv
            .generate(i as i32, entry, fresh)
            .and_then(|()| recv.link_waiting(i));
        if let Err(e) = result {
            if is_stream_error(&e) {
                return Err(e);
            }
            recv.io_error |= IOERR_GENERAL;
            recv.out().message(
                Tag::ErrorXfer,
                format!("rsync: [generator] {}\n", super::os_text(&e)).as_bytes(),
            )?;
        }
    }
    // The end of the first phase; once the client has answered it, every file asked
    // for is in, and the hard links waiting for them are made.
    let out = recv.out;
    {
        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
        send_ndx(&mut **o, &mut recv.ndx_out, NDX_DONE)?;
        o.flush()?;
    }
    phase_rx.recv().map_err(|_| stopped())?;
    recv.in_transfer.clear();
    recv.link_after_phase()?;
    let delayed = std::mem::take(&mut *waiting.lock().unwrap_or_else(|e| e.into_inner()));
    let dest = recv.dest.clone();
    let failed = super::partial::put_in_place(req, &dest, delayed, |r| backup(req, &dest, r));
    for line in failed {
        recv.io_error |= IOERR_GENERAL;
        recv.out().message(
            Tag::ErrorXfer,
            format!("rsync: [receiver] {line}\n").as_bytes(),
        )?;
    }
    if may_delete && req.delete_when == DeleteWhen::After {
        // rsync's generator waits for the redo phase first, and its output goes then.
        recv.out().flush()?;
        recv.delete_pass()?;
    }
    // No redo phase (a failed check is reported instead), the delay-updates phase, then
    // (protocol 31) the deletion totals.
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..recv.session.later_phases() {
        send_ndx(&mut **o, &mut recv.ndx_out, NDX_DONE)?;
    }
    if recv.session.protocol >= 31 {
        if req.delete {
            let mut b = Vec::new();
            recv.ndx_out.put(&mut b, NDX_DEL_STATS);
            let d = &recv.deleted;
            let plain = d.files - d.dirs - d.links - d.devices - d.specials;
            for n in [plain, d.dirs, d.links, d.devices, d.specials] {
                put_varint(&mut b, n);
            }
            o.write_all(&b)?;
        }
        send_ndx(&mut **o, &mut recv.ndx_out, NDX_DONE)?;
    }
    o.flush()?;
    Ok(())
}

/// A file asked for: what the receiving thread needs to rebuild it.
struct Pending {
    ndx: i32,
    rel: RelPath,
    path: PathBuf,
    entry: Entry,
    head: SumHead,
    basis: Option<Mapped>,
    /// The permission bits it gets.
    mode: u32,
    /// Its item flags, for the log.
    iflags: u32,
    /// The `--partial-dir` file it was rebuilt from, removed once it is in.
    partial: Option<PathBuf>,
}

/// rsync's receiver: reads the client's answers, rebuilds each file asked for into a
/// temp file beside it, checks its whole-file sum and renames it into place.
struct Incoming<'a, W: Write> {
    req: &'a ServerRequest,
    session: &'a Session,
    out: &'a Mutex<&'a mut Out<W>>,
    root: Option<Root>,
    /// The destination folder, which a relative --backup-dir is in.
    dest: PathBuf,
    am_root: bool,
    /// rsync's I/O error bits of what failed here.
    failed: &'a AtomicI32,
    /// The session's inflater with -z, kept from file to file.
    coder: RefCell<Option<Decoder>>,
    log: Option<&'a ServerLog>,
    /// `--delay-updates`: each file received, where it waits and where it goes.
    waiting: &'a Mutex<Vec<(RelPath, RelPath)>>,
}

impl<'a, W: Write + Send> Incoming<'a, W> {
    /// Reads up to the client's last done (the end of its sending, and from protocol 31
    /// its goodbye), telling the generator of each.
    fn receive_all(
        &self,
        input: &mut impl Read,
        pending: Receiver<Pending>,
        phases: Sender<()>,
    ) -> io::Result<()> {
        // A done per phase, then its last (and from protocol 31 the goodbye's).
        let last = self.session.later_phases() + 1 + usize::from(self.session.protocol >= 31);
        let mut ndx_in = self.session.ndx();
        let iflags = self.session.iflags_follow();
        let mut dones = 0;
        let next = |ndx: i32| -> io::Result<Pending> {
            let p = pending
                .recv()
                .map_err(|_| invalid(format!("data for file {ndx}, which was not asked for")))?;
            if p.ndx != ndx {
                return Err(invalid(format!(
                    "file {ndx} came while file {} was awaited",
                    p.ndx
                )));
            }
            Ok(p)
        };
        loop {
            let r = match read_request(input, &mut ndx_in, iflags) {
                Ok(r) => r,
                Err(e) => match no_send(&e) {
                    Some(n) => {
                        // The client could not open it: nothing comes for it.
                        next(n)?;
                        self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
                        continue;
                    }
                    None => return Err(e),
                },
            };
            if r.ndx == NDX_DONE {
                dones += 1;
                let _ = phases.send(());
                if dones == last {
                    return Ok(());
                }
                continue;
            }
            if r.iflags & itemize::TRANSFER == 0 || self.req.dry_run {
                continue;
            }
            let p = next(r.ndx)?;
            self.receive_file(input, p)?;
        }
    }

    fn out(&self) -> MutexGuard<'a, &'a mut Out<W>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One file's tokens into a temp file, checked and renamed into place.
    fn receive_file(&self, input: &mut impl Read, p: Pending) -> io::Result<()> {
        let echoed = SumHead::read(input)?;
        if echoed != p.head {
            return Err(invalid("the client changed the block sums' shape".into()));
        }
        let basis: &[u8] = p.basis.as_deref().unwrap_or(&[]);
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| io::Error::other("the destination is not there"));
        let at = match self.req.delay_updates {
            true => root.and_then(|root| super::partial::waiting_place(self.req, root, &p.rel)),
            false => Ok(p.rel.clone()),
        };
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| io::Error::other("the destination is not there"));
        let file = at
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))
            .and_then(|at| root.and_then(|root| root.create_file(at)));
        let mut file = match file {
            Ok(f) => f,
            Err(err) => {
                // The data comes all the same: read it past, then say why it went nowhere.
                let mut coder = self.coder.borrow_mut();
                delta::receive_coded(
                    input,
                    basis,
                    &p.head,
                    self.session.checksum,
                    &mut io::sink(),
                    coder.as_mut(),
                )?;
                self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
                return self.out().message(
                    Tag::ErrorXfer,
                    format!("rsync: [receiver] {}\n", super::os_text(&err)).as_bytes(),
                );
            }
        };
        let ok = {
            let mut w = io::BufWriter::with_capacity(256 * 1024, &mut file);
            let mut coder = self.coder.borrow_mut();
            let kind = self.session.checksum;
            let ok = delta::receive_coded(input, basis, &p.head, kind, &mut w, coder.as_mut())?;
            match w.flush() {
                Ok(()) => ok,
                Err(err) => {
                    drop(w);
                    self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
                    return self.out().message(
                        Tag::ErrorXfer,
                        format!(
                            "rsync: [receiver] write failed on \"{}\": {}\n",
                            p.path.display(),
                            super::os_text(&err)
                        )
                        .as_bytes(),
                    );
                }
            }
        };
        if !ok {
            drop(file);
            self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
            return self.out().message(
                Tag::ErrorXfer,
                format!(
                    "rsync: [receiver] \"{}\" failed verification -- update discarded\n",
                    p.path.display()
                )
                .as_bytes(),
            );
        }
        let e = &p.entry;
        let mtime = self.req.times.then_some(Mtime {
            secs: e.mtime,
            nanos: e.mtime_nsec,
        });
        if !self.req.delay_updates && self.req.backup && std::fs::symlink_metadata(&p.path).is_ok()
        {
            if let Err(err) = backup(self.req, &self.dest, &p.rel) {
                self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
                return self.out().message(
                    Tag::ErrorXfer,
                    format!(
                        "rsync: [receiver] backup failed: {}\n",
                        super::os_text(&err)
                    )
                    .as_bytes(),
                );
            }
        }
        let in_place = self.req.inplace
            && !self.req.delay_updates
            && std::fs::symlink_metadata(&p.path).is_ok_and(|m| m.is_file());
        let committed = match (in_place, self.root.as_ref()) {
            (true, Some(root)) => rewrite_in_place(root, &p.rel, file, p.mode, mtime),
            _ => file.commit(p.mode, mtime, false),
        };
        if let Err(err) = committed {
            self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
            return self.out().message(
                Tag::ErrorXfer,
                format!("rsync: [receiver] {}\n", super::os_text(&err)).as_bytes(),
            );
        }
        let written = match (&at, self.req.delay_updates) {
            (Ok(at), true) => {
                self.waiting
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((at.clone(), p.rel.clone()));
                self.dest.join(at.as_path())
            }
            _ => p.path.clone(),
        };
        if self.req.fake_super {
            let kept = match (&at, self.root.as_ref()) {
                (Ok(at), Some(root)) => fake::keep(self.req, root, Some(at), e, Some(p.mode)),
                _ => Ok(()),
            };
            if let Err(err) = kept {
                self.failed.fetch_or(IOERR_GENERAL, Ordering::Relaxed);
                return self.out().message(
                    Tag::ErrorXfer,
                    format!("rsync: [receiver] {}\n", super::os_text(&err)).as_bytes(),
                );
            }
        } else {
            let uid = (self.req.owner && self.am_root).then_some(e.uid);
            let gid = self.req.group.then_some(e.gid);
            if uid.is_some() || gid.is_some() {
                let _ = std::os::unix::fs::lchown(&written, uid, gid);
            }
        }
        if let (Some(partial), false) = (&p.partial, self.req.delay_updates) {
            super::partial::remove(self.req, partial);
        }
        if let Some(log) = self.log {
            log.entry(p.iflags, e, true);
        }
        Ok(())
    }
}

/// `--inplace`: the file rebuilt in `built` is written over the one at `rel` itself, which
/// keeps its inode (and so its other hard links), as rsync's in-place receiver leaves it.
/// The rebuild goes through a temp file all the same: the old data is the basis of the
/// delta, and must not be overwritten while the delta still reads it.
fn rewrite_in_place(
    root: &Root,
    rel: &RelPath,
    built: prtools_sync::AtomicFile,
    mode: u32,
    mtime: Option<Mtime>,
) -> io::Result<()> {
    use std::io::Seek;
    let mut from = built.file();
    from.seek(io::SeekFrom::Start(0))?;
    let mut to = root.open_file_rw(rel)?;
    let len = io::copy(&mut from, &mut to)?;
    to.set_len(len)?;
    drop(to);
    root.set_mode(rel, mode)?;
    if let Some(mtime) = mtime {
        root.set_mtime(rel, mtime)?;
    }
    Ok(())
}

/// rsync's `make_backup`: moves what is at `rel` (below `dest`) aside, to `NAME~` (or
/// `--suffix`) beside it, or to the same place below `--backup-dir` (a relative one is
/// below the destination), making the folders on the way there. A folder on the way
/// that is a symlink is refused, so that a backup cannot be sent out of its folder.
fn backup(req: &ServerRequest, dest: &Path, rel: &RelPath) -> io::Result<()> {
    let from = dest.join(rel.as_path());
    let suffix = req.suffix.clone().unwrap_or_else(|| {
        if req.backup_dir.is_some() {
            String::new()
        } else {
            "~".into()
        }
    });
    let mut name = rel.file_name().to_vec();
    name.extend_from_slice(suffix.as_bytes());
    // The path that failed goes in the error: with rrsync's pinned /proc/self/fd/N
    // folders it tells which of the client's folders could not be used.
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("\"{}\": {}", path.display(), super::os_text(&e)),
            )
        }
    };
    let to = match req.backup_dir.as_deref() {
        Some(dir) => {
            let top = dest.join(dir);
            let backups = Root::open(&top)
                .or_else(|_| {
                    std::fs::create_dir_all(&top)?;
                    Root::open(&top)
                })
                .map_err(at(&top))?;
            if let Some(parent) = rel.parent() {
                backups
                    .create_dir_all(&parent)
                    .map_err(at(&top.join(parent.as_path())))?;
            }
            let mut to = top.join(rel.as_path());
            to.set_file_name(OsStr::from_bytes(&name));
            to
        }
        None => from.with_file_name(OsStr::from_bytes(&name)),
    };
    let meta = std::fs::symlink_metadata(&from).map_err(at(&from))?;
    if req.inplace && meta.is_file() {
        // The file itself is rewritten next, so the backup is a copy (with its time).
        let _ = std::fs::remove_file(&to);
        std::fs::copy(&from, &to).map_err(at(&to))?;
        let mtime = filetime::FileTime::from_last_modification_time(&meta);
        return filetime::set_file_mtime(&to, mtime).map_err(at(&to));
    }
    std::fs::rename(&from, &to).map_err(at(&to))
}

/// The checksum of a file's data (the session's `kind`), as `-c` compares it and sends
/// it in the list (all zeros if it cannot be read, which then never matches).
pub(super) fn file_sum(path: &Path, kind: Checksum) -> Digest {
    let mut sum = FileSum::new(kind);
    let unread = Digest::new([0; 16], kind.sum_len());
    let Ok(mut f) = std::fs::File::open(path) else {
        return unread;
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return sum.finish(),
            Ok(n) => sum.update(&buf[..n]),
            Err(_) => return unread,
        }
    }
}

/// The head rsync's generator sends for a basis of `len` bytes: its block length, and
/// only as many bytes of each block's strong sum as the file's size calls for (at least
/// 2, at most the checksum's `sum_len`), so that the sums cost what they cost with rsync
/// on this side.
fn short_head(len: u64, sum_len: usize) -> SumHead {
    let mut head = head_for(len, block_length(len));
    head.s2length = strong_length(len, head.blength, sum_len);
    head
}

/// A file's write failed while the stream held: the run goes on without it.
#[derive(Debug)]
struct FileError(io::Error);

/// The stream failed inside a file's data: the run cannot go on.
#[derive(Debug)]
struct StreamError(io::Error);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", super::os_text(&self.0))
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for FileError {}
impl std::error::Error for StreamError {}

impl From<FileError> for io::Error {
    fn from(e: FileError) -> io::Error {
        io::Error::new(e.0.kind(), e)
    }
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> io::Error {
        io::Error::new(e.0.kind(), e)
    }
}

/// Whether an error is the stream's (end the run) rather than one entry's: a broken or
/// closed stream, bytes that break the protocol, or a failure inside a file's data.
fn is_stream_error(e: &io::Error) -> bool {
    if let Some(inner) = e.get_ref() {
        if inner.is::<FileError>() {
            return false;
        }
        if inner.is::<StreamError>() || no_send(e).is_some() {
            return true;
        }
    }
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::BrokenPipe
    )
}

/// Remote ids by name to local ids, as rsync maps them (a name unknown here keeps its id).
fn id_map(ids: Ids, list: Vec<(u32, Vec<u8>)>) -> HashMap<u32, u32> {
    list.into_iter()
        .filter_map(|(id, name)| {
            let local = id_of(ids, std::str::from_utf8(&name).ok()?)?;
            Some((id, local))
        })
        .collect()
}

fn rel(name: &[u8]) -> io::Result<RelPath> {
    RelPath::new(name.to_vec()).map_err(|e| invalid(format!("a bad name: {e}")))
}

impl<'a, W: Write + Send> Recv<'a, W> {
    /// The stream to the client, shared with the receiving thread's messages.
    fn out(&self) -> MutexGuard<'a, &'a mut Out<W>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// rsync's `get_local_name`: the destination is a folder to fill (made if the list
    /// holds more than one entry, or the name ends in `/`), or, for a single file, the
    /// name to write it as. `Ok(true)` when the folder was made; `Err` an exit status.
    fn local_name(&mut self, typed: &str) -> io::Result<Result<bool, i32>> {
        let path = Path::new(typed);
        let trailing = typed.ends_with('/');
        let total = self.list.len();
        let here = std::fs::metadata(path);
        match &here {
            Ok(m) if m.is_dir() => {
                self.root = Some(self.open_root(path)?);
                return Ok(Ok(false));
            }
            Ok(_) if total > 1 => {
                self.out().error("rsync: [Receiver] ERROR: destination must be a directory when copying more than 1 file")?;
                return Ok(Err(exit::SELECT));
            }
            Ok(_) if self.list[0].is_dir() => {
                self.out().error(
                    "rsync: [Receiver] ERROR: cannot overwrite non-directory with a directory",
                )?;
                return Ok(Err(exit::SELECT));
            }
            Ok(_) => {}
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                self.out().error(&format!(
                    "rsync: [Receiver] ERROR: cannot stat destination \"{typed}\": {}",
                    super::os_text(e)
                ))?;
                return Ok(Err(exit::SELECT));
            }
            Err(_) => {}
        }
        if here.is_err() && (total > 1 || trailing) {
            let shown = typed.trim_end_matches('/');
            let shown = if shown.is_empty() { "/" } else { shown };
            if !self.req.dry_run {
                if let Err(e) = std::fs::create_dir(shown) {
                    self.out().error(&format!(
                        "rsync: [Receiver] mkdir \"{}\" failed: {}",
                        shown,
                        super::os_text(&e)
                    ))?;
                    return Ok(Err(exit::FILE_IO));
                }
            }
            if self.req.verbose > 0 || self.req.itemize > 0 {
                self.out()
                    .message(Tag::Info, format!("created directory {shown}\n").as_bytes())?;
            }
            if let Some(log) = self.log {
                log.line(&format!("created directory {shown}"));
            }
            if self.req.dry_run {
                self.all_new = true;
            } else {
                self.root = Some(self.open_root(Path::new(shown))?);
            }
            return Ok(Ok(true));
        }
        // One file, written as the name given.
        let (parent, base) = match typed.rsplit_once('/') {
            Some(("", base)) => ("/", base),
            Some((parent, base)) => (parent, base),
            None => (".", typed),
        };
        self.dest = PathBuf::from(parent);
        self.rename = Some(base.as_bytes().to_vec());
        match self.open_root(Path::new(parent)) {
            Ok(r) => self.root = Some(r),
            Err(e) if self.req.dry_run && e.kind() == io::ErrorKind::NotFound => {
                self.all_new = true
            }
            Err(e) => {
                self.out().error(&format!(
                    "rsync: [Receiver] change_dir#3 \"{parent}\" failed: {}",
                    super::os_text(&e)
                ))?;
                return Ok(Err(exit::SELECT));
            }
        }
        Ok(Ok(false))
    }

    /// The destination as a [`Root`]: with `-K`, one whose walks go through the trusted
    /// symlinks to folders that the destination holds, as rsync's receiver keeps them.
    fn open_root(&self, path: &Path) -> io::Result<Root> {
        let root = Root::open(path)?;
        Ok(match self.req.keep_dirlinks {
            true => root.keeping_dirlinks(),
            false => root,
        })
    }

    /// The entry's place below the destination (`None` for the destination itself).
    fn rel_of(&self, e: &Entry) -> io::Result<Option<RelPath>> {
        if let Some(name) = &self.rename {
            return rel(name).map(Some);
        }
        if e.name == b"." {
            return Ok(None);
        }
        rel(&e.name).map(Some)
    }

    fn full(&self, rel: Option<&RelPath>) -> PathBuf {
        match rel {
            Some(r) => self.dest.join(OsStr::from_bytes(r.as_bytes())),
            None => self.dest.clone(),
        }
    }

    fn root(&self) -> io::Result<&Root> {
        self.root
            .as_ref()
            .ok_or_else(|| io::Error::other("the destination is not there (a dry run)"))
    }

    /// Sends the flags of an entry that needs no data, when the client would show them.
    fn tell(&mut self, ndx: i32, iflags: u32) -> io::Result<()> {
        if let (Some(log), Some(e)) = (self.log, self.list.get(ndx as usize)) {
            log.entry(iflags, e, false);
        }
        if !self.session.iflags_follow() {
            return self.tell_as_text(ndx, iflags, None);
        }
        let all = self.req.itemize > 1 || self.req.verbose > 1;
        if iflags & itemize::SIGNIFICANT == 0 && !all {
            return Ok(());
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        put_shortint(&mut b, iflags as u16);
        self.out().write_all(&b)
    }

    /// Protocol 28, which has no item flags: with `-v` rsync's generator says itself
    /// what it made without data: `NAME/` for a folder made or changed, `NAME ->
    /// TARGET` for a symlink made, `NAME` for a device or special file made, `NAME =>
    /// FIRST` for a hard link made; nothing for a file whose attributes alone changed.
    fn tell_as_text(&mut self, ndx: i32, iflags: u32, first: Option<&[u8]>) -> io::Result<()> {
        let Some(e) = self.list.get(ndx as usize) else {
            return Ok(());
        };
        if self.req.verbose == 0 {
            return Ok(());
        }
        let made = iflags & (itemize::IS_NEW | itemize::REPORT_CHANGE) != 0;
        let name = String::from_utf8_lossy(&e.name);
        let text = match (first, &e.link) {
            (Some(first), _) if !first.is_empty() => {
                format!("{name} => {}\n", String::from_utf8_lossy(first))
            }
            (Some(_), _) => return Ok(()),
            (None, _) if e.is_dir() && iflags & itemize::SIGNIFICANT != 0 => format!("{name}/\n"),
            (None, Some(target)) if made => {
                format!("{name} -> {}\n", String::from_utf8_lossy(target))
            }
            (None, None) if made && !e.is_dir() && e.mode & 0o170000 != 0o100000 => {
                format!("{name}\n")
            }
            _ => return Ok(()),
        };
        self.out().message(Tag::Info, text.as_bytes())
    }

    /// Whether the entry's mtime is kept: `-t`, but for folders with `-O` and symlinks
    /// with `-J`.
    fn keeps_time(&self, e: &Entry) -> bool {
        // -b without --backup-dir implies -O, as rsync: the backups change the folders.
        let omit_dirs =
            self.req.omit_dir_times || (self.req.backup && self.req.backup_dir.is_none());
        self.req.times && !(e.is_dir() && omit_dirs) && !(e.is_link() && self.req.omit_link_times)
    }

    /// After entry `i`: if it became its hard-linked group's data holder, the members
    /// that waited for one are linked to it now, as rsync's `finish_hard_link` does.
    fn link_waiting(&mut self, i: usize) -> io::Result<()> {
        let Some(group) = self.groups.get(i).copied().flatten() else {
            return Ok(());
        };
        if self.done.contains_key(&group)
            || self.deferred.get(&group).is_some_and(|d| d.contains(&i))
        {
            return Ok(());
        }
        self.done.insert(group, i);
        let waiting = self.deferred.remove(&group).unwrap_or_default();
        if self.in_transfer.contains(&group) {
            self.after_phase
                .extend(waiting.into_iter().map(|j| (j, true)));
            return Ok(());
        }
        self.link_all(i, waiting)
    }

    /// Links members `waiting` to their group's data holder `holder`.
    fn link_all(&mut self, holder: usize, waiting: Vec<usize>) -> io::Result<()> {
        let i = holder;
        let list = self.list;
        for j in waiting {
            let e = &list[j];
            let r = self.rel_of(e)?;
            let path = self.full(r.as_ref());
            let here = std::fs::symlink_metadata(&path).ok();
            if !self.link_to_first(j as i32, e, i, &path, here.as_ref())? {
                self.io_error |= IOERR_GENERAL;
            }
        }
        Ok(())
    }

    /// The end of the first phase: the members of groups whose data came in it are
    /// linked now, in list order.
    fn link_after_phase(&mut self) -> io::Result<()> {
        let mut waiting = std::mem::take(&mut self.after_phase);
        // rsync's finish_hard_link order: group by group as their data holders came;
        // in each, the members that came after the holder in list order, then those
        // that waited before it, nearest first.
        let holder_of = |j: usize| {
            self.groups
                .get(j)
                .copied()
                .flatten()
                .and_then(|g| self.done.get(&g).copied())
        };
        waiting.sort_by_key(|&(j, before)| {
            let key = if before { usize::MAX - j } else { j };
            (holder_of(j), before, key)
        });
        for (j, _) in waiting {
            let Some(group) = self.groups.get(j).copied().flatten() else {
                continue;
            };
            let Some(&holder) = self.done.get(&group) else {
                continue;
            };
            let result = self.link_all(holder, vec![j]);
            if let Err(e) = result {
                if is_stream_error(&e) {
                    return Err(e);
                }
                self.io_error |= IOERR_GENERAL;
                self.out().message(
                    Tag::ErrorXfer,
                    format!("rsync: [generator] {}\n", super::os_text(&e)).as_bytes(),
                )?;
            }
        }
        Ok(())
    }

    /// Sends the flags of a hard link made (or found) here, with the name of its group's
    /// first, which the client shows as `=> NAME`.
    fn tell_link(&mut self, ndx: i32, iflags: u32, first: &[u8]) -> io::Result<()> {
        if !self.session.iflags_follow() {
            return self.tell_as_text(ndx, iflags, Some(first));
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        put_shortint(&mut b, (iflags | itemize::XNAME_FOLLOWS) as u16);
        put_vstring(&mut b, first)?;
        self.out().write_all(&b)
    }

    /// rsync's `hard_link_check` for a later member of a hard-linked group: linked to
    /// its group's first, which list order made (or found) before it. `false` when the
    /// first is not there, and the entry is then made as if it were the first.
    fn link_to_first(
        &mut self,
        ndx: i32,
        e: &Entry,
        leader: usize,
        path: &Path,
        here: Option<&Metadata>,
    ) -> io::Result<bool> {
        let list = self.list;
        let first = &list[leader];
        let first_rel = self.rel_of(first)?;
        let first_path = self.full(first_rel.as_ref());
        let first_meta = std::fs::symlink_metadata(&first_path);
        let dry = self.req.dry_run;
        let Ok(first_meta) = first_meta else {
            if dry {
                let iflags = itemize::LOCAL_CHANGE
                    | match here {
                        Some(h) => self.differences(e, h),
                        None => itemize::IS_NEW,
                    };
                self.tell_link(ndx, iflags, &first.name)?;
                return Ok(true);
            }
            return Ok(false);
        };
        if let Some(h) = here {
            if h.dev() == first_meta.dev() && h.ino() == first_meta.ino() {
                // Linked already: a line (with no name after it) only for what -i
                // shows of the group's changes.
                let iflags = itemize::LOCAL_CHANGE | self.differences(e, h);
                let all = self.req.itemize > 1 || self.req.verbose > 1;
                if iflags & itemize::SIGNIFICANT != 0 || all {
                    self.tell_link(ndx, iflags, b"")?;
                }
                return Ok(true);
            }
        }
        let iflags = itemize::LOCAL_CHANGE
            | match here {
                Some(h) => self.differences(e, h),
                None => itemize::IS_NEW,
            };
        if !dry {
            if let Some(h) = here.filter(|h| h.is_dir()) {
                let h = h.clone();
                let r = rel(&e.name)?;
                self.delete_one(&r, &e.name, &h)?;
            }
            let base = path
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            let temp = path.with_file_name(OsStr::from_bytes(
                &[
                    b".",
                    &base[..],
                    format!(".prtools-hl{}", std::process::id()).as_bytes(),
                ]
                .concat(),
            ));
            let _ = std::fs::remove_file(&temp);
            std::fs::hard_link(&first_path, &temp).map_err(FileError)?;
            if let Err(err) = std::fs::rename(&temp, path) {
                let _ = std::fs::remove_file(&temp);
                return Err(FileError(err).into());
            }
        }
        self.tell_link(ndx, iflags, &first.name)?;
        Ok(true)
    }

    /// Whether owners are kept: as root, or with `--fake-super` in the `%stat` attribute.
    fn privileged(&self) -> bool {
        self.am_root || self.req.fake_super
    }

    /// What is here for entry `e` as the generator compares it (see [`fake::seen`]).
    fn seen(&self, e: &Entry, here: &Metadata) -> crate::fake_super::FakeStat {
        let rel = self.rel_of(e).ok().flatten();
        fake::seen(self.req, self.root.as_ref(), rel.as_ref(), here)
    }

    /// rsync's `itemize`: the flags for what differs between the entry and what is here.
    fn differences(&self, e: &Entry, here: &Metadata) -> u32 {
        let mut iflags = 0;
        if e.is_file() && e.size != here.size() {
            iflags |= itemize::REPORT_SIZE;
        }
        if self.keeps_time(e) && here.mtime() != e.mtime {
            iflags |= itemize::REPORT_TIME;
        }
        let seen = self.seen(e, here);
        if self.req.perms && !e.is_link() && (seen.mode & 0o7777) != (e.mode & 0o7777) {
            iflags |= itemize::REPORT_PERMS;
        }
        if self.req.owner && self.privileged() && seen.uid != e.uid {
            iflags |= itemize::REPORT_OWNER;
        }
        if self.req.group && seen.gid != e.gid {
            iflags |= itemize::REPORT_GROUP;
        }
        iflags
    }

    fn generate(&mut self, ndx: i32, e: &Entry, fresh: bool) -> io::Result<()> {
        let rel = self.rel_of(e)?;
        let path = self.full(rel.as_ref());
        let dry = self.req.dry_run;
        let mut here = if self.all_new {
            None
        } else {
            std::fs::symlink_metadata(&path).ok()
        };
        if rel.is_some() {
            // --existing makes nothing new (a missing folder's contents are missing too);
            // --ignore-existing leaves alone what is here, but for a folder it enters.
            if self.req.existing && here.is_none() {
                return self.skipped(&format!(
                    "not creating new {} \"{}\"",
                    if e.is_dir() { "directory" } else { "file" },
                    String::from_utf8_lossy(&e.name)
                ));
            }
            if self.req.ignore_existing
                && here.as_ref().is_some_and(|h| !(e.is_dir() && h.is_dir()))
            {
                return self.skipped(&format!("{} exists", String::from_utf8_lossy(&e.name)));
            }
        }
        if e.is_dir() && self.req.keep_dirlinks {
            // -K: a trusted symlink to a folder is the folder (another user's is refused).
            if let (Some(r), true) = (
                rel.as_ref(),
                here.as_ref().is_some_and(|h| h.file_type().is_symlink()),
            ) {
                if self.root()?.dir_behind_link(r)?.is_some() {
                    here = std::fs::metadata(&path).ok();
                }
            }
        }
        if e.is_dir() {
            if let (Some(h), Some(r)) = (here.as_ref().filter(|h| !h.is_dir()), rel.as_ref()) {
                let h = h.clone();
                self.delete_one(r, &e.name, &h)?;
                here = None;
            }
            let mut shown = true;
            let iflags = match (&here, fresh) {
                (Some(h), false) => self.differences(e, h),
                _ => {
                    if let (None, Some(r), false) = (&here, rel.as_ref(), dry) {
                        self.root()?.create_dir(r, (e.mode & 0o7777) | 0o700)?;
                    }
                    // rsync's try_dests_non: a folder the basis folders hold is itemized
                    // against theirs, an exact match only with -ii or -vv.
                    match self.alt_dir(ndx, e, rel.as_ref()) {
                        Some((iflags, show)) => {
                            shown = show;
                            iflags
                        }
                        None => itemize::LOCAL_CHANGE | itemize::IS_NEW,
                    }
                }
            };
            if !dry {
                self.set_owner(&path, e, here.as_ref());
            }
            // rsync's deletion messages overtake the folder's own line.
            if self.may_delete && here.is_some() && !fresh && !self.no_content.contains(&e.name) {
                let children = std::mem::take(&mut self.children);
                let result = self.delete_extras(rel.as_ref(), &e.name, &children);
                self.children = children;
                result?;
            }
            if !dry {
                self.dirs.push((rel, e.clone()));
            }
            if !shown {
                return Ok(());
            }
            return self.tell(ndx, iflags);
        }
        let Some(r) = rel else {
            return Err(invalid("a non-folder named \".\"".into()));
        };
        if let Some(group) = self.groups.get(ndx as usize).copied().flatten() {
            // rsync's order: a member is linked to its group's data holder once there is
            // one; before that, a member missing here waits, unless it is the last, and
            // the first member that is here (or the last) becomes the holder.
            if self.in_transfer.contains(&group) {
                self.after_phase.push((ndx as usize, false));
                return Ok(());
            }
            if let Some(&holder) = self.done.get(&group) {
                if self.link_to_first(ndx, e, holder, &path, here.as_ref())? {
                    return Ok(());
                }
            } else if here.is_none() && self.last_of.get(&group) != Some(&(ndx as usize)) {
                self.deferred.entry(group).or_default().push(ndx as usize);
                return Ok(());
            }
        }
        if let Some(h) = here.as_ref().filter(|h| h.is_dir()) {
            let h = h.clone();
            self.delete_one(&r, &e.name, &h)?;
            here = None;
        }
        if e.is_link() {
            if !self.req.links {
                return self.skip_nonregular(e);
            }
            let target = e.link.clone().unwrap_or_default();
            let alt = match here {
                None => self.alt_non(ndx, e, &r)?,
                Some(_) => alt::AltNon::Nothing,
            };
            if let alt::AltNon::Settled = alt {
                return Ok(());
            }
            let was_link = here.as_ref().is_some_and(|h| match self.req.fake_super {
                true => h.is_file() && self.seen(e, h).mode & libc::S_IFMT == libc::S_IFLNK,
                false => h.file_type().is_symlink(),
            });
            let same = was_link
                && match self.req.fake_super {
                    true => fake::link_target(self.root()?, &r),
                    false => std::fs::read_link(&path).map(|t| t.into_os_string().into_vec()),
                }
                .is_ok_and(|t| t == target);
            let iflags = if same {
                self.differences(e, here.as_ref().unwrap())
            } else {
                if !dry {
                    if here.is_some() && self.req.backup {
                        backup(self.req, &self.dest, &r)?;
                    }
                    match self.req.fake_super {
                        true => fake::make_link(self.root()?, &r, &target)?,
                        false => self.root()?.symlink(&r, &target)?,
                    }
                }
                let mut f = itemize::LOCAL_CHANGE;
                if was_link {
                    f |= itemize::REPORT_CHANGE
                        | self.differences(e, here.as_ref().unwrap()) & itemize::REPORT_TIME;
                } else {
                    f |= itemize::IS_NEW;
                }
                f
            };
            if !dry {
                self.set_attrs(&r, &path, e, true)?;
            }
            return match alt {
                alt::AltNon::Silent | alt::AltNon::Settled => Ok(()),
                alt::AltNon::Near(iflags) => self.tell(ndx, iflags),
                alt::AltNon::Nothing => self.tell(ndx, iflags),
            };
        }
        if !e.is_file() {
            // Devices need root (or --fake-super); rrsync's --drop-D makes neither kind.
            let wanted = !self.req.drop_devices
                && if e.is_device() {
                    self.req.devices && self.privileged()
                } else {
                    self.req.specials
                };
            if !wanted {
                return self.skip_nonregular(e);
            }
            let alt = match here {
                None => self.alt_non(ndx, e, &r)?,
                Some(_) => alt::AltNon::Nothing,
            };
            if let alt::AltNon::Settled = alt {
                return Ok(());
            }
            let seen = here.as_ref().map(|h| self.seen(e, h));
            let same_kind = seen.is_some_and(|s| (s.mode & 0o170000) == (e.mode & 0o170000));
            let same = same_kind && seen.is_some_and(|s| !e.is_device() || s.rdev == e.rdev);
            let iflags = if same {
                self.differences(e, here.as_ref().unwrap())
            } else {
                // rsync's atomic_create: what is here is replaced without a deletion line,
                // and one of the same kind is itemized as changed from what it was.
                let changed = match (&here, same_kind) {
                    (Some(h), true) => {
                        itemize::LOCAL_CHANGE | itemize::REPORT_CHANGE | self.differences(e, h)
                    }
                    _ => itemize::LOCAL_CHANGE | itemize::IS_NEW,
                };
                match here.clone() {
                    Some(h) if self.req.backup => self.delete_one(&r, &e.name, &h)?,
                    Some(_) if !dry && !self.req.fake_super => self.root()?.remove(&r)?,
                    _ => {}
                }
                if !dry && self.req.fake_super {
                    fake::make_placeholder(self.root()?, &r)?;
                } else if !dry {
                    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
                        .map_err(|_| invalid("a name with a NUL byte".into()))?;
                    // SAFETY: `c` is a NUL-terminated path that lives across the call.
                    let rc = unsafe {
                        libc::mknod(c.as_ptr(), e.mode as libc::mode_t, e.rdev as libc::dev_t)
                    };
                    if rc != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                changed
            };
            if !dry {
                self.set_attrs(&r, &path, e, false)?;
            }
            return match alt {
                alt::AltNon::Silent | alt::AltNon::Settled => Ok(()),
                alt::AltNon::Near(iflags) => self.tell(ndx, iflags),
                alt::AltNon::Nothing => self.tell(ndx, iflags),
            };
        }
        // A regular file: unchanged by the quick check, or asked for.
        let basis = here.as_ref().filter(|h| h.is_file());
        if let Some(h) = here.as_ref().filter(|h| !h.is_file()) {
            let h = h.clone();
            self.delete_one(&r, &e.name, &h)?;
        }
        if let Some(h) = basis.filter(|h| self.req.update && e.mtime < h.mtime()) {
            let _ = h;
            return self.skipped(&format!("{} is newer", String::from_utf8_lossy(&e.name)));
        }
        let mut alt_basis = None;
        match self.alt_file(ndx, e, &r, basis)? {
            alt::AltFile::Settled => return Ok(()),
            alt::AltFile::Basis(found) => alt_basis = Some(found),
            alt::AltFile::Nothing => {}
        }
        let partial = match dry {
            true => None,
            false => super::partial::find(self.req, &self.dest, &r),
        };
        // A partial is a better basis than one of the basis folders' files, as rsync's.
        let alt_basis = alt_basis.filter(|_| partial.is_none());
        if let Some(h) = basis {
            let same = h.size() == e.size
                && if self.req.checksum {
                    self.sums.get(ndx as usize).copied().flatten()
                        == Some(file_sum(&path, self.session.checksum.for_list()).padded())
                } else {
                    !self.req.ignore_times && (self.req.size_only || h.mtime() == e.mtime)
                };
            if same {
                if let Some(p) = &partial {
                    super::partial::remove(self.req, &p.path);
                }
                let iflags = self.differences(e, h);
                if !dry {
                    self.set_attrs(&r, &path, e, false)?;
                }
                return self.tell(ndx, iflags);
            }
        }
        let checked = if self.req.checksum {
            itemize::REPORT_CHANGE
        } else {
            0
        };
        // A partial is the basis, and the client is told so; the flags still compare
        // with what is at the name, as rsync's itemize of `real_sx`.
        let cmp = partial.as_ref().map(|p| &p.meta).or(basis);
        let iflags = itemize::TRANSFER
            | checked
            | match (basis, &alt_basis) {
                (Some(h), _) => self.differences(e, h),
                (None, Some(found)) => self.differ(e, &found.stat, 0),
                (None, None) => itemize::IS_NEW,
            }
            | match (&partial, &alt_basis) {
                (None, None) => 0,
                _ => itemize::BASIS_TYPE_FOLLOWS,
            };
        if let Some(group) = self.groups.get(ndx as usize).copied().flatten() {
            // Its group's other members wait for the end of the phase, as rsync's wait
            // for the receiver to finish the file (a dry run's finishes at once).
            if !dry {
                self.in_transfer.insert(group);
            }
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        // Protocol 28 has no item flags: the index alone asks for the data, and the
        // basis is this side's own business.
        let iflags_follow = self.session.iflags_follow();
        if iflags_follow {
            put_shortint(&mut b, iflags as u16);
            if partial.is_some() {
                b.push(super::partial::FNAMECMP_PARTIAL_DIR);
            } else if let Some(found) = &alt_basis {
                // rsync's FNAMECMP_BASIS_DIR_LOW plus the folder's place.
                b.push(found.dir as u8);
            }
        }
        if dry {
            if let Some(log) = self.log {
                log.entry(iflags, e, true);
            }
            // No sums: the client answers with the flags alone.
            return self.out().write_all(&b);
        }
        let cmp_path = partial.as_ref().map_or(&path, |p| &p.path);
        let map = match (cmp, &alt_basis) {
            _ if self.req.whole_file => None,
            (Some(_), _) => std::fs::File::open(cmp_path)
                .and_then(|f| Mapped::new(&f))
                .ok(),
            (None, Some(found)) => self
                .alt
                .as_ref()
                .and_then(|alt| alt.open(&found.path).ok())
                .and_then(|f| Mapped::new(&f).ok()),
            (None, None) => None,
        };
        let head = match &map {
            Some(m) if !m.is_empty() => {
                let kind = self.session.checksum;
                let head = short_head(m.len() as u64, kind.sum_len());
                head.put(&mut b);
                for block in m.chunks(head.blength as usize) {
                    put_int(&mut b, rolling(block) as i32);
                    b.extend_from_slice(
                        &kind.block_sum(block, self.session.seed, self.session.seed_first())
                            [..head.s2length as usize],
                    );
                }
                head
            }
            _ => {
                let head = SumHead::default();
                head.put(&mut b);
                head
            }
        };
        let mode = if self.req.perms {
            e.mode & 0o7777
        } else {
            match (basis, &alt_basis) {
                (Some(h), _) => h.mode() & 0o7777,
                (None, Some(found)) => found.stat.mode & 0o7777,
                (None, None) => e.mode & 0o777 & !crate::receiver::umask(),
            }
        };
        let pending = Pending {
            ndx,
            rel: r,
            path,
            entry: e.clone(),
            head,
            basis: map,
            mode,
            iflags,
            partial: partial.map(|p| p.path),
        };
        // The receiving thread learns of the file before the client can answer for it;
        // when it has too many waiting, what is asked so far goes out first, so that
        // the answers that make room can come.
        let tx = self
            .pending
            .as_ref()
            .ok_or_else(|| io::Error::other("no receiver"))?;
        match tx.try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Full(pending)) => {
                self.out().flush()?;
                tx.send(pending).map_err(|_| {
                    io::Error::new(io::ErrorKind::BrokenPipe, "the receiver stopped")
                })?;
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the receiver stopped",
                ))
            }
        }
        self.out().write_all(&b)
    }

    /// An entry left alone on purpose: said at `-vv`, as rsync's `--info=skip`.
    fn skipped(&mut self, line: &str) -> io::Result<()> {
        if self.req.verbose > 1 {
            self.out()
                .message(Tag::Info, format!("{line}\n").as_bytes())?;
        }
        Ok(())
    }

    /// The receiver's "skipping non-regular file" for a kind the options do not keep.
    fn skip_nonregular(&mut self, e: &Entry) -> io::Result<()> {
        if self.req.verbose > 0 {
            self.out().message(
                Tag::Info,
                format!(
                    "skipping non-regular file \"{}\"\n",
                    String::from_utf8_lossy(&e.name)
                )
                .as_bytes(),
            )?;
        }
        Ok(())
    }

    fn set_owner(&self, path: &Path, e: &Entry, here: Option<&Metadata>) {
        if self.req.fake_super {
            // The owner goes in the `%stat` attribute, with the mode (see `fake`).
            return;
        }
        let uid = (self.req.owner && self.am_root).then_some(e.uid);
        let gid = self.req.group.then_some(e.gid);
        let fits = |want: Option<u32>, have: u32| want.is_none_or(|w| w == have);
        let same = here.is_some_and(|h| fits(uid, h.uid()) && fits(gid, h.gid()));
        if (uid.is_some() || gid.is_some()) && !same {
            let _ = std::os::unix::fs::lchown(path, uid, gid);
        }
    }

    /// Gives an entry its owner, group, mode and time, as the options keep them.
    fn set_attrs(&mut self, r: &RelPath, path: &Path, e: &Entry, link: bool) -> io::Result<()> {
        self.set_owner(path, e, None);
        let root = self.root()?;
        if self.req.fake_super {
            fake::keep(self.req, root, Some(r), e, None)?;
        } else if self.req.perms && !link {
            root.set_mode(r, e.mode & 0o7777)?;
        }
        if self.keeps_time(e) {
            root.set_mtime(
                r,
                Mtime {
                    secs: e.mtime,
                    nanos: e.mtime_nsec,
                },
            )?;
        }
        Ok(())
    }

    /// Folders get their mode and time last, deepest first, after their contents.
    fn finish_dirs(&mut self) -> io::Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, e) in dirs.iter().rev() {
            let Some(root) = self.root.as_ref() else {
                break;
            };
            let mtime = Mtime {
                secs: e.mtime,
                nanos: e.mtime_nsec,
            };
            let result = match rel {
                _ if self.req.fake_super => fake::keep(self.req, root, rel.as_ref(), e, None)
                    .and_then(|()| match (rel, self.keeps_time(e)) {
                        (_, false) => Ok(()),
                        (Some(r), true) => root.set_mtime(r, mtime),
                        (None, true) => root.set_root_mtime(mtime),
                    }),
                Some(r) => (if self.req.perms {
                    root.set_mode(r, e.mode & 0o7777)
                } else {
                    Ok(())
                })
                .and_then(|()| {
                    if self.keeps_time(e) {
                        root.set_mtime(r, mtime)
                    } else {
                        Ok(())
                    }
                }),
                None => (if self.req.perms {
                    root.set_root_mode(e.mode & 0o7777)
                } else {
                    Ok(())
                })
                .and_then(|()| {
                    if self.keeps_time(e) {
                        root.set_root_mtime(mtime)
                    } else {
                        Ok(())
                    }
                }),
            };
            if let Err(err) = result {
                self.io_error |= IOERR_GENERAL;
                self.out().message(
                    Tag::ErrorXfer,
                    format!("rsync: [generator] {}\n", super::os_text(&err)).as_bytes(),
                )?;
            }
        }
        Ok(())
    }

    /// `--delete-before` and `--delete-after`: every folder of the list that is here, in
    /// list order, loses what the list does not hold.
    fn delete_pass(&mut self) -> io::Result<()> {
        if self.all_new || self.root.is_none() {
            return Ok(());
        }
        let children = std::mem::take(&mut self.children);
        let list = self.list;
        let no_content = std::mem::take(&mut self.no_content);
        for e in list
            .iter()
            .filter(|e| e.is_dir() && !no_content.contains(&e.name))
        {
            let rel = self.rel_of(e)?;
            let is_dir =
                std::fs::symlink_metadata(self.full(rel.as_ref())).is_ok_and(|m| m.is_dir());
            if is_dir {
                self.delete_extras(rel.as_ref(), &e.name, &children)?;
            }
        }
        self.children = children;
        self.no_content = no_content;
        Ok(())
    }

    /// rsync's `delete_in_dir`: what is in this folder here but not in the list goes, in
    /// reverse list order, a folder's contents before the folder.
    fn delete_extras(
        &mut self,
        dir: Option<&RelPath>,
        name: &[u8],
        children: &HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    ) -> io::Result<()> {
        if self.rename.is_some() {
            return Ok(());
        }
        let keep = children.get(name);
        let mut extras = Vec::new();
        let Ok(read) = std::fs::read_dir(self.full(dir)) else {
            return Ok(());
        };
        let merged = self.rules_in(name)?;
        let filters = merged.as_deref().unwrap_or(&self.filters);
        for child in read {
            let child = child?;
            let base = child.file_name().as_bytes().to_vec();
            if keep.is_some_and(|k| k.contains(&base)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(child.path())?;
            let rel = if name == b"." {
                base.clone()
            } else {
                [name, b"/", &base].concat()
            };
            if filters.is_protected(&rel, meta.is_dir()) {
                continue;
            }
            extras.push(listed_entry(rel, &meta));
        }
        extras.sort_by(|a, b| flist::compare_at(self.session.protocol, a, b));
        for e in extras.iter().rev() {
            let r = rel(&e.name)?;
            let meta = std::fs::symlink_metadata(self.full(Some(&r)))?;
            self.delete_one(&r, &e.name, &meta)?;
        }
        Ok(())
    }

    /// Deletes one name here (a folder with all it holds) and tells the client.
    fn delete_one(&mut self, r: &RelPath, name: &[u8], meta: &Metadata) -> io::Result<()> {
        if self.req.dry_run {
            // Nothing goes, but the client is told of all that would, contents first.
            if meta.is_dir() {
                let mut inside = Vec::new();
                if let Ok(read) = std::fs::read_dir(self.full(Some(r))) {
                    for child in read.flatten() {
                        let rel_name = [name, b"/", child.file_name().as_bytes()].concat();
                        if let Ok(m) = std::fs::symlink_metadata(child.path()) {
                            inside.push(listed_entry(rel_name, &m));
                        }
                    }
                }
                inside.sort_by(|a, b| flist::compare_at(self.session.protocol, a, b));
                for e in inside.iter().rev() {
                    let cr = rel(&e.name)?;
                    if let Ok(m) = std::fs::symlink_metadata(self.full(Some(&cr))) {
                        self.delete_one(&cr, &e.name, &m)?;
                    }
                }
            }
            return self.told_deleted(name, meta);
        }
        if meta.is_dir() {
            let mut inside = Vec::new();
            for child in std::fs::read_dir(self.full(Some(r)))? {
                let child = child?;
                let rel_name = [name, b"/", child.file_name().as_bytes()].concat();
                inside.push(listed_entry(
                    rel_name,
                    &std::fs::symlink_metadata(child.path())?,
                ));
            }
            inside.sort_by(|a, b| flist::compare_at(self.session.protocol, a, b));
            for e in inside.iter().rev() {
                let cr = rel(&e.name)?;
                let m = std::fs::symlink_metadata(self.full(Some(&cr)))?;
                self.delete_one(&cr, &e.name, &m)?;
            }
        }
        if meta.is_dir() {
            if let Err(e) = self.root()?.remove(r) {
                if prtools_sync::raw_os_error(&e) == Some(libc::ENOTEMPTY) {
                    // What stays in it (a backup, a protected file) keeps it, as rsync.
                    return self.out().message(
                        Tag::Info,
                        format!(
                            "cannot delete non-empty directory: {}\n",
                            String::from_utf8_lossy(name)
                        )
                        .as_bytes(),
                    );
                }
                return Err(e);
            }
        } else if !self.req.backup {
            self.root()?.remove(r)?;
        } else {
            backup(self.req, &self.dest, r)?;
        }
        let ft = meta.file_type();
        if meta.is_dir() {
            self.deleted.dirs += 1;
        } else if ft.is_symlink() {
            self.deleted.links += 1;
        } else if ft.is_block_device() || ft.is_char_device() {
            self.deleted.devices += 1;
        } else if !ft.is_file() {
            self.deleted.specials += 1;
        }
        self.deleted.files += 1;
        self.told_deleted(name, meta)
    }

    /// The client prints `*deleting` lines from these; a folder's name ends in a NUL.
    fn told_deleted(&mut self, name: &[u8], meta: &Metadata) -> io::Result<()> {
        if !self.session.iflags_follow() {
            // Protocol 28: rsync's generator prints the line itself.
            if self.req.verbose == 0 && self.req.itemize == 0 {
                return Ok(());
            }
            // With -i rsync 3.5.0's server leaves the name out of these lines at
            // protocol 28 (its `%i %n` reads an empty name there): the client shows
            // the same here.
            let text = if self.req.itemize > 0 {
                "*deleting  \n".to_string()
            } else {
                let slash = if meta.is_dir() { "/" } else { "" };
                format!("deleting {}{slash}\n", String::from_utf8_lossy(name))
            };
            return self.out().message(Tag::Info, text.as_bytes());
        }
        let mut body = name.to_vec();
        if meta.is_dir() {
            body.push(0);
        }
        self.out().message(Tag::Deleted, &body)
    }
}

/// An entry for what is here, for sorting it as rsync would.
fn listed_entry(name: Vec<u8>, meta: &Metadata) -> Entry {
    Entry {
        name,
        mode: meta.mode(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: 0,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: 0,
        link: None,
        top: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_as_short_as_rsyncs_for_the_size() {
        // rsync's generator: 2 bytes of the strong sum for small files, more as they grow.
        assert_eq!(short_head(10_000, 16).s2length, 2);
        assert_eq!(short_head(10_000, 16).blength, 700);
        assert!(short_head(1 << 34, 16).s2length > 2);
        assert!(short_head(1 << 34, 16).s2length <= 16);
    }
}
