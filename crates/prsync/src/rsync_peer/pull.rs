//! A pull over rsync's protocol: the host's `rsync --server --sender` sends; this side is
//! rsync's generator (it walks the list, makes folders and links, and asks for the files
//! it lacks with the block sums of its old copies) and its receiver (it rebuilds each
//! file from the tokens into a temp file, checks the whole-file sum, and renames it into
//! place).
//!
//! rsync runs those two as processes; here they take turns: each file asked for is
//! received before the next is asked for. Answers to entries that need no data (a folder
//! made, a mode changed) come back from the sender on the same stream and are printed as
//! they arrive, so `-i` lines keep the list's order.
//!
//! Names from the server are checked before use: relative, no `..`, and every entry's
//! parent must itself be a folder of the list, so that a server cannot make this side
//! write through a symlink it sent.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use prtools_mapped::Mapped;
use prtools_rsync_wire::checksum::rolling;
use prtools_rsync_wire::codec::{get_varlong, invalid, put_int, put_shortint, put_varint};
use prtools_rsync_wire::counted::Counted;
use prtools_rsync_wire::deflate_tokens::Decoder as TokenDecoder;
use prtools_rsync_wire::delta;
use prtools_rsync_wire::filters::put_rules;
use prtools_rsync_wire::flist::{self, get_id_list, is_safe_name, Decoder, Entry};
use prtools_rsync_wire::flist_links::LinkDecoder;
use prtools_rsync_wire::handshake::Session;
use prtools_rsync_wire::itemize::{self, Kind, Style};
use prtools_rsync_wire::mux::Demux;
use prtools_rsync_wire::ndx::{NdxState, NDX_DEL_STATS, NDX_DONE};
use prtools_rsync_wire::sums::{block_length, head_for, strong_length, SumHead};
use prtools_sync::filter::FilterList;

use super::link::Link;
use super::push::{keep_of, on_message, read_request, settle, Heard, NoSend, Outcome, Request};
use super::report::{self, kind_of_entry, Log, Shown};
use super::Voice;
use crate::alt_dest::{AltDest, AltKind, Found, Level};
use crate::cli::{DeleteMode, Options};
use crate::exit;
use crate::idmap::{id_of, IdMap, Ids};
use crate::received_tree::{check_parents, children_of, parent_of};
use crate::stats::Stats;

/// rsync's I/O error bit for a general failure.
const IOERR_GENERAL: i32 = 1;

/// What deletions removed, by kind, for the deletion totals protocol 31 sends.
#[derive(Default)]
struct Deleted {
    files: i32,
    dirs: i32,
    links: i32,
    devices: i32,
    specials: i32,
}

/// The state of a pull between its steps.
struct Pull<'a> {
    opts: &'a Options,
    list: &'a [Entry],
    session: &'a Session,
    dest: PathBuf,
    ndx_out: NdxState,
    ndx_in: NdxState,
    deleted: Deleted,
    io_error: i32,
    /// Folders to give their mode, owner and time once their contents are in.
    dirs: Vec<(PathBuf, Entry)>,
    serial: u32,
    /// The list is one file and the destination names it (see [`run`]).
    single_file: bool,
    /// The session's inflater with -z, kept from file to file.
    coder: Option<TokenDecoder>,
    log: Log,
    voice: &'a dyn Voice,
    stats: Stats,
    /// The --compare-dest, --copy-dest or --link-dest folders, resolved.
    alt: Option<AltDest>,
    /// With -H, for each entry of the list after the first of its hard-linked group:
    /// that first's index, whose file it is linked to once that is in place.
    leaders: Vec<Option<usize>>,
    /// Files to ask for again, whole, in the redo phase.
    redo: Vec<usize>,
    /// The redo phase is on: a file that fails its check now is an error.
    redoing: bool,
    /// With -c: each regular file's checksum as the sender listed it, by name.
    sums: HashMap<Vec<u8>, [u8; 16]>,
    /// With -n: the folders a real run would make (`.` for the destination), whose
    /// contents are then all new, as rsync's `dry_missing_dir`.
    dry_made: HashSet<Vec<u8>>,
    /// With --delay-updates: each file received, where it waits, and where it goes.
    delayed: Vec<(PathBuf, PathBuf, Vec<u8>)>,
}

/// rsync's basis type for a file's copy in --partial-dir.
const FNAMECMP_PARTIAL_DIR: u8 = 0x81;

/// Where --delay-updates keeps the files received until the end, in each file's folder:
/// rsync's default partial folder.
const DELAY_DIR: &str = ".~tmp~";

/// Runs a pull after the handshake into the local `dest` as typed.
pub fn run(
    link: &mut Link,
    session: &Session,
    opts: &Options,
    voice: &Arc<dyn Voice>,
) -> Result<Outcome, (io::Error, Option<i32>)> {
    let heard = Rc::new(RefCell::new(Heard::default()));
    let result = body(link, session, opts, heard.clone(), voice);
    settle(result, &heard)
}

fn body(
    link: &mut Link,
    session: &Session,
    opts: &Options,
    heard: Rc<RefCell<Heard>>,
    voice: &Arc<dyn Voice>,
) -> io::Result<Outcome> {
    let style = Style {
        sending: false,
        times: opts.times,
        // This side receives, and sets symlink times.
        symlink_times: true,
    };
    let log = Log::new(opts, style);
    let keep = keep_of(opts);
    let out = &mut link.output;
    out.frame();
    // The rules the sending server lists by.
    let mut b = Vec::new();
    put_rules(&mut b, &super::filters::for_server(&opts.filters, false));
    out.write_all(&b)?;
    out.flush()?;

    let heard_in = heard.clone();
    let said = voice.clone();
    let in_log = log.clone();
    let mut input = Demux::new(&mut link.input, move |tag, body: Vec<u8>| {
        on_message(tag, body, &in_log, &heard_in, &*said)
    });
    let list_start = input.get_mut().received();

    let varint = session.varint_flags();
    let mut decoder = Decoder::new(session.protocol, keep).varint_flags(varint);
    // With -H: each hard-linked entry's group, by name (the index of its first as sent).
    // With -c, each regular file's entry ends with its checksum.
    let mut linked = (opts.hard_links || opts.checksum).then(|| {
        LinkDecoder::new(session.protocol, keep, opts.hard_links)
            .varint_flags(varint)
            .with_checksums(opts.checksum, session.checksum)
    });
    let mut groups_of: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut sums: HashMap<Vec<u8>, [u8; 16]> = HashMap::new();
    let mut list = Vec::new();
    let remote_io_error = loop {
        let next = match &mut linked {
            Some(d) => d.get(&mut input)?.map(|r| (r.entry, r.hlink, r.checksum)),
            None => decoder.get(&mut input)?.map(|e| (e, None, None)),
        };
        match next {
            Ok((mut entry, group, sum)) => {
                // --chmod acts on the modes as they come, as rsync's receiver does.
                if let Some(chmod) = opts
                    .chmod
                    .as_ref()
                    .filter(|_| !entry.is_link() && entry.mode != 0)
                {
                    entry.mode = chmod.apply(entry.mode, entry.is_dir());
                }
                // With -R, an absolute source's names come with their leading slash;
                // they land below the destination all the same, as rsync's.
                if opts.relative && entry.name.len() > 1 && entry.name.starts_with(b"/") {
                    let slashes = entry.name.iter().take_while(|&&b| b == b'/').count();
                    entry.name.drain(..slashes);
                }
                if !is_safe_name(&entry.name) {
                    return Err(invalid(format!(
                        "the server sent the unsafe name {:?}",
                        String::from_utf8_lossy(&entry.name)
                    )));
                }
                if let Some(g) = group {
                    groups_of.insert(entry.name.clone(), g);
                }
                if let Some(sum) = sum {
                    sums.insert(entry.name.clone(), sum);
                }
                list.push(entry);
            }
            Err(bits) => break bits,
        }
    };
    // --numeric-ids: no names come, and ids stay as they are (but for --usermap,
    // --groupmap and --chown's rules by number).
    let users = if keep.uid && !opts.numeric_ids {
        get_id_list(&mut input)?
    } else {
        Vec::new()
    };
    let groups = if keep.gid && !opts.numeric_ids {
        get_id_list(&mut input)?
    } else {
        Vec::new()
    };
    let users = IdMapping::new(Ids::Users, users, opts.usermap.as_ref(), !opts.numeric_ids);
    let groups = IdMapping::new(
        Ids::Groups,
        groups,
        opts.groupmap.as_ref(),
        !opts.numeric_ids,
    );
    for map in [&opts.usermap, &opts.groupmap].into_iter().flatten() {
        for warning in &map.unknown {
            voice.err(format!("{warning}\n").as_bytes());
        }
    }
    for e in &mut list {
        e.uid = users.local(e.uid);
        e.gid = groups.local(e.gid);
    }
    let mut stats = Stats {
        flist_bytes: input.get_mut().received() - list_start,
        ..Stats::default()
    };
    flist::sort(&mut list);
    check_parents(&list, "server")?;
    let leaders = leaders_of(&list, &groups_of);
    report::banner(opts, true, list.len(), &**voice);
    if list.is_empty() {
        // Nothing to receive (the sender said why): rsync's client then only waits for
        // the server to exit.
        return Ok(Outcome {
            io_error: 0,
            remote_io_error,
            stats,
        });
    }
    report::count_list(&mut stats, list.iter());

    let typed = opts.dest.as_bytes();
    let shown = String::from_utf8_lossy(typed.strip_suffix(b"/").unwrap_or(typed)).into_owned();
    let dest = PathBuf::from(&opts.dest);
    let mut created = false;
    let here = std::fs::metadata(&dest).ok();
    // rsync's rule for one file: a destination that is not a folder and does not end in a
    // slash is the file's own new name.
    let single_file = list.len() == 1
        && !list[0].is_dir()
        && !typed.ends_with(b"/")
        && !here.as_ref().is_some_and(|h| h.is_dir());
    let missing = here.is_none() && std::fs::symlink_metadata(&dest).is_err();
    // --mkpath: the folders above the destination are made first, as rsync's
    // get_local_name makes them (the destination too when it names the folder of many).
    let trailing = typed.ends_with(b"/");
    let slash = typed.iter().rposition(|&b| b == b'/');
    if opts.mkpath && missing && (slash.is_some() || list.len() > 1) {
        let whole = list.len() > 1 && !trailing;
        let upto = if whole {
            typed.len()
        } else {
            slash.unwrap_or(0)
        };
        let made = make_path(Path::new(OsStr::from_bytes(&typed[..upto])))?;
        if made > 0 && log.chatty() {
            let named = if whole { typed } else { &typed[..upto] };
            let s = if made == 1 { "y" } else { "ies" };
            voice.out(
                format!(
                    "created {made} director{s} for {}\n",
                    String::from_utf8_lossy(named)
                )
                .as_bytes(),
            );
        }
    }
    let missing = missing && std::fs::symlink_metadata(&dest).is_err();
    // -n: nothing is made; what would be made below a missing destination is all new.
    let mut dry_made = HashSet::new();
    if missing && !single_file {
        if opts.dry_run {
            dry_made.insert(b".".to_vec());
        } else {
            std::fs::create_dir_all(&dest)?;
        }
        created = true;
        if log.chatty() {
            voice.out(format!("created directory {shown}\n").as_bytes());
        }
    }
    let alt = opts.alt_dest.as_ref().map(|alt| {
        let (alt, warnings) = alt.resolve(&dest, false, alt.insecure);
        for w in warnings {
            voice.err(format!("{w}\n").as_bytes());
        }
        alt
    });
    let mut pull = Pull {
        opts,
        list: &list,
        session,
        dest,
        ndx_out: NdxState::default(),
        ndx_in: NdxState::default(),
        deleted: Deleted::default(),
        io_error: 0,
        dirs: Vec::new(),
        serial: 0,
        single_file,
        coder: session.compression.map(|c| c.decoder(session.protocol)),
        log,
        voice: &**voice,
        stats,
        alt,
        leaders,
        redo: Vec::new(),
        redoing: false,
        sums,
        dry_made,
        delayed: Vec::new(),
    };
    // -T: the folder must be there before anything is asked for, as rsync's receiver
    // checks it.
    if let Some(dir) = &opts.temp_dir {
        let shown = dir.display();
        match std::fs::metadata(pull.root().join(dir)) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(super::fatal(
                    exit::SYNTAX,
                    format!("The temp-dir is not a directory: {shown}"),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(super::fatal(
                    exit::SYNTAX,
                    format!("The temp-dir does not exist: {shown}"),
                ))
            }
            Err(e) => {
                return Err(super::fatal(
                    exit::FILE_IO,
                    format!("Failed to stat temp-dir {shown}: {}", super::os_text(&e)),
                ))
            }
        }
    }
    // --backup-dir: said as rsync's receiver says it once the list is in (-vv).
    if let Some(dir) = opts.backup.as_ref().and_then(|b| b.dir.as_ref()) {
        let mut shown = dir.as_os_str().as_bytes();
        while let Some(rest) = shown.strip_prefix(b"./") {
            shown = rest;
        }
        while shown.len() > 1 && shown.ends_with(b"/") {
            shown = &shown[..shown.len() - 1];
        }
        let shown = String::from_utf8_lossy(shown).into_owned();
        let said = opts.info.backup.map_or(opts.verbose > 1, |l| l > 0) && !opts.quiet;
        match std::fs::metadata(pull.root().join(dir)) {
            Ok(m) if !m.is_dir() => {
                return Err(super::fatal(
                    exit::SYNTAX,
                    format!("The backup-dir is not a directory: {shown}"),
                ))
            }
            Ok(_) if said => voice.out(format!("backup_dir is {shown}\n").as_bytes()),
            Err(_) if said => voice.out(format!("(new) backup_dir is {shown}\n").as_bytes()),
            _ => {}
        }
    }
    // rsync deletes nothing after a sender's I/O error: its list may be short.
    let may_delete = opts.delete != DeleteMode::Off && remote_io_error == 0;
    let pruned = if opts.prune_empty_dirs {
        pruned(&list, &opts.filters)
    } else {
        vec![false; list.len()]
    };
    let kept: Vec<Entry> = list
        .iter()
        .zip(&pruned)
        .filter(|(_, &p)| !p)
        .map(|(e, _)| e.clone())
        .collect();
    let children = children_of(&kept);
    // --delete-before and --delete-after: one pass over the list's folders, before any
    // file is asked for or after the last one came; else each folder as it is reached.
    let delete_pass = |pull: &mut Pull| -> io::Result<()> {
        for entry in kept.iter().filter(|e| e.is_dir()) {
            let path = pull.path_of(&entry.name);
            pull.delete_extras(&path, &entry.name, &children)?;
        }
        Ok(())
    };
    if may_delete && opts.delete == DeleteMode::Before {
        delete_pass(&mut pull)?;
    }
    for (i, entry) in list.iter().enumerate() {
        if pruned[i] {
            continue;
        }
        let path = pull.path_of(&entry.name);
        let fresh = created && entry.name == b".";
        pull.generate(out, &mut input, i as i32, entry, &path, fresh)?;
        if entry.is_dir() && may_delete && opts.delete == DeleteMode::During {
            pull.delete_extras(&path, &entry.name, &children)?;
        }
    }
    // The end of the first phase; the sender says it is through the same way.
    pull.send_ndx(out, NDX_DONE)?;
    out.flush()?;
    pull.pump(&mut input)?;
    // The redo phase: a file whose whole-file sum did not match (a block its short sums
    // matched differed) comes again, whole. Then the end of the run.
    pull.redoing = true;
    for ndx in std::mem::take(&mut pull.redo) {
        let e = &list[ndx];
        let path = pull.path_of(&e.name);
        let mut b = Vec::new();
        pull.ndx_out.put(&mut b, ndx as i32);
        put_shortint(&mut b, itemize::TRANSFER as u16);
        let head = SumHead::default();
        head.put(&mut b);
        out.write_all(&b)?;
        out.flush()?;
        pull.pump_file(&mut input, ndx as i32, e, &path, &[], &head)?;
    }
    // --delay-updates: the files received go into place together, once all have come,
    // as rsync's receiver moves them when its last phase begins.
    pull.put_delayed();
    if may_delete && opts.delete == DeleteMode::After {
        delete_pass(&mut pull)?;
    }
    pull.send_ndx(out, NDX_DONE)?;
    pull.send_ndx(out, NDX_DONE)?;
    if session.protocol >= 31 {
        if opts.delete != DeleteMode::Off {
            let mut b = Vec::new();
            pull.ndx_out.put(&mut b, NDX_DEL_STATS);
            let d = &pull.deleted;
            let plain = d.files - d.dirs - d.links - d.devices - d.specials;
            for n in [plain, d.dirs, d.links, d.devices, d.specials] {
                put_varint(&mut b, n);
            }
            out.write_all(&b)?;
        }
        pull.send_ndx(out, NDX_DONE)?;
    }
    out.flush()?;
    pull.pump(&mut input)?;
    pull.pump(&mut input)?;
    // The sender's totals: bytes read, written, the list's size, its build and send times
    // (in milliseconds). What it read is what this side sent, and the other way round.
    let mut totals = [0i64; 5];
    for t in totals.iter_mut() {
        *t = get_varlong(&mut input, 3)?;
    }
    let [read, written, size, build_ms, _] = totals.map(|t| t.max(0) as u64);
    pull.stats.wire = Some((read, written));
    pull.stats.total_size = size;
    pull.stats.flist_time = std::time::Duration::from_millis(build_ms);
    pull.send_ndx(out, NDX_DONE)?;
    out.flush()?;
    if session.protocol >= 31 {
        pull.pump(&mut input)?;
    }
    pull.finish_dirs();
    let mut stats = std::mem::take(&mut pull.stats);
    let d = &pull.deleted;
    report::count_deleted(
        &mut stats,
        [
            (d.files - d.dirs - d.links - d.devices - d.specials) as u64,
            d.dirs as u64,
            d.links as u64,
            d.devices as u64,
            d.specials as u64,
        ],
    );
    Ok(Outcome {
        io_error: pull.io_error,
        remote_io_error,
        stats,
    })
}

/// Makes `path` and the folders above it that are missing: how many it made.
fn make_path(path: &Path) -> io::Result<usize> {
    let mut made = 0;
    let mut at = Some(path);
    while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
        if std::fs::symlink_metadata(p).is_ok() {
            break;
        }
        made += 1;
        at = p.parent();
    }
    std::fs::create_dir_all(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("mkdir {} failed: {}", path.display(), super::os_text(&e)),
        )
    })?;
    Ok(made)
}

/// The sender's ids as this side's, as rsync's receiver maps them: by the first
/// `--usermap`/`--groupmap` rule that matches the id or its sender's name, else by name
/// (a name unknown here, or an id without one, keeps its number).
struct IdMapping<'a> {
    names: HashMap<u32, Vec<u8>>,
    by_name: HashMap<u32, u32>,
    rules: Option<&'a IdMap>,
    /// Names came (no `--numeric-ids`).
    named: bool,
}

impl<'a> IdMapping<'a> {
    fn new(ids: Ids, list: Vec<(u32, Vec<u8>)>, rules: Option<&'a IdMap>, named: bool) -> Self {
        let by_name = list
            .iter()
            .filter(|(id, _)| *id != 0)
            .filter_map(|(id, name)| Some((*id, id_of(ids, std::str::from_utf8(name).ok()?)?)))
            .collect();
        IdMapping {
            names: list.into_iter().collect(),
            by_name,
            rules,
            named,
        }
    }

    fn local(&self, id: u32) -> u32 {
        // rsync 3.1 and later send id 0's name too (this client does not ask for it):
        // root's, which a nameless rule then does not match.
        let root: &[u8] = b"root";
        let name = match self.names.get(&id) {
            Some(n) => Some(n.as_slice()),
            None => (id == 0 && self.named).then_some(root),
        };
        self.rules
            .and_then(|r| r.rule_for(id, name))
            .or_else(|| self.by_name.get(&id).copied())
            .unwrap_or(id)
    }
}

/// `-m` as rsync's receiver prunes its list: a folder below the top with nothing but
/// folders in it, at any depth, is left out, unless the rules exclude its name (rsync
/// then keeps it and the folders above it). True for each entry left out.
fn pruned(list: &[Entry], filters: &FilterList) -> Vec<bool> {
    let mut keep: HashSet<&[u8]> = HashSet::new();
    for e in list.iter().filter(|e| e.name != b".") {
        if e.is_dir() && !filters.is_excluded(&e.name, true) {
            continue;
        }
        let mut name = &e.name[..];
        keep.insert(name);
        while let Some(i) = name.iter().rposition(|&c| c == b'/') {
            name = &name[..i];
            keep.insert(name);
        }
    }
    list.iter()
        .map(|e| e.is_dir() && e.name != b"." && !keep.contains(&e.name[..]))
        .collect()
}

/// With -H, each entry's group's first in the sorted list, for all but that first (which
/// is received or made as any other entry).
fn leaders_of(list: &[Entry], groups_of: &HashMap<Vec<u8>, u32>) -> Vec<Option<usize>> {
    let mut first: HashMap<u32, usize> = HashMap::new();
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let group = *groups_of.get(&e.name)?;
            match first.get(&group) {
                Some(&leader) => Some(leader),
                None => {
                    first.insert(group, i);
                    None
                }
            }
        })
        .collect()
}

impl Pull<'_> {
    fn path_of(&self, name: &[u8]) -> PathBuf {
        if name == b"." || self.single_file {
            self.dest.clone()
        } else {
            self.dest.join(OsStr::from_bytes(name))
        }
    }

    fn send_ndx(&mut self, out: &mut impl Write, ndx: i32) -> io::Result<()> {
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        out.write_all(&b)
    }

    /// Tells the sender about an entry that needs no data, when `-i` would show it: it
    /// sends the flags back, and the line is printed when they arrive.
    fn tell(&mut self, out: &mut impl Write, ndx: i32, iflags: u32) -> io::Result<()> {
        if iflags & itemize::IS_NEW != 0 {
            self.stats
                .created
                .add(&kind_of_entry(&self.list[ndx as usize]));
        }
        // rsync's generator tells what -vv or -ii show too.
        if iflags & itemize::SIGNIFICANT == 0 && !self.opts.itemize_all && self.opts.verbose < 2 {
            return Ok(());
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        put_shortint(&mut b, iflags as u16);
        out.write_all(&b)
    }

    /// rsync's `itemize`: the flags for what differs between the entry and what is here.
    fn differences(&self, e: &Entry, here: &Metadata) -> u32 {
        let mut iflags = 0;
        if e.is_file() && e.size != here.size() {
            iflags |= itemize::REPORT_SIZE;
        }
        if self.opts.times && !(e.is_dir() && self.opts.omit_dir_times) && here.mtime() != e.mtime {
            iflags |= itemize::REPORT_TIME;
        }
        if self.opts.perms && !e.is_link() && (here.mode() & 0o7777) != (e.mode & 0o7777) {
            iflags |= itemize::REPORT_PERMS;
        }
        if self.opts.owner && here.uid() != e.uid {
            iflags |= itemize::REPORT_OWNER;
        }
        if self.opts.group && here.gid() != e.gid {
            iflags |= itemize::REPORT_GROUP;
        }
        iflags
    }

    fn generate(
        &mut self,
        out: &mut super::link::Outgoing,
        input: &mut impl Read,
        ndx: i32,
        e: &Entry,
        path: &Path,
        fresh: bool,
    ) -> io::Result<()> {
        let below_made = self.dry_made.contains(parent_of(&e.name))
            || (e.name == b"." && self.dry_made.contains(&b"."[..]));
        let mut here = if below_made {
            None
        } else {
            std::fs::symlink_metadata(path).ok()
        };
        // -K: a symlink here to a folder stands for the folder the list has there.
        if e.is_dir() && self.opts.keep_dirlinks && here.as_ref().is_some_and(|h| h.is_symlink()) {
            if let Some(dir) = std::fs::metadata(path).ok().filter(|m| m.is_dir()) {
                here = Some(dir);
            }
        }
        // --existing: nothing new is made here, so nothing below a new folder either.
        if self.opts.existing && here.is_none() && !fresh {
            if self.opts.skip_level() > 0 {
                let what = if e.is_dir() { "directory" } else { "file" };
                let line = format!(
                    "not creating new {what} \"{}\"\n",
                    String::from_utf8_lossy(&e.name)
                );
                self.voice.out(line.as_bytes());
            }
            return Ok(());
        }
        // --ignore-existing: what is here stays, but a folder is still gone into.
        let into_dir = e.is_dir() && here.as_ref().is_some_and(|h| h.is_dir());
        if self.opts.ignore_existing && here.is_some() && !into_dir {
            self.skipped(e, "exists");
            return Ok(());
        }
        if e.is_dir() {
            if let Some(h) = here.as_ref().filter(|h| !h.is_dir()) {
                let h = h.clone();
                self.delete_one(path, &e.name, &h, true)?;
                here = None;
            }
            let iflags = match (&here, fresh) {
                (Some(h), false) => self.differences(e, h),
                _ => {
                    if here.is_none() && self.opts.dry_run {
                        self.dry_made.insert(e.name.clone());
                    } else if here.is_none() {
                        std::fs::create_dir(path)?;
                    }
                    itemize::LOCAL_CHANGE | itemize::IS_NEW
                }
            };
            if !self.opts.dry_run {
                self.set_owner(path, e, here.as_ref());
                self.dirs.push((path.to_path_buf(), e.clone()));
            }
            return self.tell(out, ndx, iflags);
        }
        // -n: a later hard link is shown against what is here, folder or not, as rsync's
        // hard_link_check sees it before anything is made room for.
        let was_here = here.clone();
        if let Some(h) = here.as_ref().filter(|h| h.is_dir()) {
            let h = h.clone();
            self.delete_one(path, &e.name, &h, true)?;
            here = None;
        }
        if let Some(leader) = self.leaders.get(ndx as usize).copied().flatten() {
            let seen = if self.opts.dry_run { &was_here } else { &here };
            return self.link_to_leader(e, path, seen.as_ref(), leader);
        }
        if e.is_link() {
            let target = e.link.clone().unwrap_or_default();
            // --safe-links: a link that points out of the transfer is not made.
            if self.opts.safe_links && crate::links::is_unsafe(&e.name, &target) {
                if self.opts.names() && !self.opts.quiet {
                    let line = format!(
                        "ignoring unsafe symlink \"{}\" -> \"{}\"\n",
                        String::from_utf8_lossy(&e.name),
                        String::from_utf8_lossy(&target)
                    );
                    self.voice.out(line.as_bytes());
                }
                return Ok(());
            }
            let same = here.as_ref().is_some_and(|h| h.file_type().is_symlink())
                && std::fs::read_link(path)
                    .is_ok_and(|t| t.as_os_str().as_bytes() == target.as_slice());
            let iflags = if same {
                self.differences(e, here.as_ref().unwrap())
            } else {
                let was_link = here.as_ref().is_some_and(|h| h.file_type().is_symlink());
                if !self.opts.dry_run {
                    if here.is_some() {
                        self.remove_or_back_up(&e.name, path)?;
                    }
                    std::os::unix::fs::symlink(OsStr::from_bytes(&target), path)?;
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
            self.set_attrs(path, e, true)?;
            return self.tell(out, ndx, iflags);
        }
        if !e.is_file() {
            let same = here.as_ref().is_some_and(|h| {
                (h.mode() & 0o170000) == (e.mode & 0o170000)
                    && (!e.is_device() || h.rdev() == e.rdev)
            });
            let iflags = if same {
                self.differences(e, here.as_ref().unwrap())
            } else {
                if let Some(h) = here.clone() {
                    self.delete_one(path, &e.name, &h, true)?;
                }
                let c = std::ffi::CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| invalid("a name with a NUL byte".into()))?;
                // SAFETY: `c` is a NUL-terminated path that lives across the call.
                let rc = if self.opts.dry_run {
                    0
                } else {
                    unsafe {
                        libc::mknod(c.as_ptr(), e.mode as libc::mode_t, e.rdev as libc::dev_t)
                    }
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                itemize::LOCAL_CHANGE | itemize::IS_NEW
            };
            self.set_attrs(path, e, false)?;
            return self.tell(out, ndx, iflags);
        }
        // --max-size and --min-size: a file out of bounds is left as it is here.
        if self.opts.max_size.is_some_and(|max| e.size > max) {
            self.skipped(e, "is over max-size");
            return Ok(());
        }
        if self.opts.min_size.is_some_and(|min| e.size < min) {
            self.skipped(e, "is under min-size");
            return Ok(());
        }
        // A regular file: unchanged by size and time, or asked for.
        let basis = here.as_ref().filter(|h| h.is_file());
        if let Some(h) = here.as_ref().filter(|h| !h.is_file()) {
            let h = h.clone();
            self.delete_one(path, &e.name, &h, true)?;
        }
        // --partial-dir: what a cut-off run kept of this file is the basis, as rsync's
        // generator takes it (the sender is told the basis came from there).
        let partial = self
            .partial_of(path)
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()));
        if let Some(h) = basis {
            // -u: a file newer here than the sender's stays.
            if self.opts.update && h.mtime() > e.mtime {
                self.skipped(e, "is newer");
                return Ok(());
            }
            // -c: the same size and checksum, whatever the time (rsync's quick_check_ok).
            let same = h.size() == e.size
                && if self.opts.checksum {
                    self.sums.get(&e.name).is_some_and(|sum| {
                        super::list::file_sum(path, self.session.checksum).padded() == *sum
                    })
                } else {
                    self.opts.size_only || (!self.opts.ignore_times && h.mtime() == e.mtime)
                };
            if same {
                // What a cut-off run kept is not needed any more.
                if let Some(p) = partial.as_ref().filter(|_| !self.opts.dry_run) {
                    let _ = std::fs::remove_file(p);
                    self.drop_partial_dir(p);
                }
                let iflags = self.differences(e, h);
                self.set_attrs(path, e, false)?;
                return self.tell(out, ndx, iflags);
            }
        }
        // A file missing here may be in the --compare-dest, --copy-dest or --link-dest
        // folders: as the sender has it, it is left out, copied or linked; else one of its
        // kind there is the delta's basis.
        let mut basis_path = basis.map(|_| path.to_path_buf());
        if partial.is_some() {
            basis_path.clone_from(&partial);
        } else if basis.is_none() {
            if let Some(found) = self.alt_match(e) {
                if found.level == Level::Kind {
                    basis_path = Some(found.path);
                } else {
                    return self.settle_from_alt(e, path, &found);
                }
            }
        }
        let mut iflags = itemize::TRANSFER
            | match basis {
                Some(h) => self.differences(e, h),
                None => itemize::IS_NEW,
            };
        // -c: a file sent is one whose checksum differs (rsync's generator says so).
        if self.opts.checksum {
            iflags |= itemize::REPORT_CHANGE;
        }
        if basis.is_none() {
            self.stats.created.reg += 1;
        }
        if partial.is_some() {
            iflags |= itemize::BASIS_TYPE_FOLLOWS;
        }
        let mut b = Vec::new();
        self.ndx_out.put(&mut b, ndx);
        put_shortint(&mut b, iflags as u16);
        if partial.is_some() {
            b.push(FNAMECMP_PARTIAL_DIR);
        }
        // -n: the sender echoes the request, with no data, and the line is printed then.
        if self.opts.dry_run {
            out.write_all(&b)?;
            out.flush()?;
            let req = self.await_echo(input, ndx)?;
            if let Some(req) = req {
                self.stats.transferred += 1;
                self.stats.transferred_size += e.size;
                self.print(req.iflags, e);
            }
            return Ok(());
        }
        let map = match basis_path.filter(|_| !self.opts.whole_file) {
            Some(from) => std::fs::File::open(from).and_then(|f| Mapped::new(&f)).ok(),
            None => None,
        };
        let head = match &map {
            Some(m) if !m.is_empty() => {
                let len = m.len() as u64;
                // -B: the blocks are that long, as rsync's sum_sizes_sqroot takes it.
                let blength = self
                    .opts
                    .block_size
                    .map_or_else(|| block_length(len), |b| b as i32);
                let mut head = head_for(len, blength);
                // Only as much of each strong sum as rsync sends: the whole-file sum
                // still checks the result.
                let checksum = self.session.checksum;
                head.s2length = strong_length(len, head.blength, checksum.sum_len());
                head.put(&mut b);
                let keep = head.s2length as usize;
                for block in m.chunks(head.blength as usize) {
                    put_int(&mut b, rolling(block) as i32);
                    let sum =
                        checksum.block_sum(block, self.session.seed, self.session.seed_first());
                    b.extend_from_slice(&sum[..keep]);
                }
                head
            }
            _ => {
                let head = SumHead::default();
                head.put(&mut b);
                head
            }
        };
        out.write_all(&b)?;
        out.flush()?;
        let basis_bytes: &[u8] = map.as_deref().unwrap_or(&[]);
        self.pump_file(input, ndx, e, path, basis_bytes, &head)
    }

    /// What rsync says of an entry left alone by `--ignore-existing` or `-u`, with
    /// `--info=skip` (`-v` gives it).
    fn skipped(&self, e: &Entry, why: &str) {
        if self.opts.skip_level() > 0 {
            let line = format!("{} {why}\n", String::from_utf8_lossy(&e.name));
            self.voice.out(line.as_bytes());
        }
    }

    /// A later name of a hard-linked group (-H): linked to the group's first, received
    /// before it in the list's order, unless it already is that file; shown as rsync shows
    /// it (`hf+++++++++ NAME => FIRST`).
    fn link_to_leader(
        &mut self,
        e: &Entry,
        path: &Path,
        here: Option<&Metadata>,
        leader: usize,
    ) -> io::Result<()> {
        let list = self.list;
        let first = &list[leader].name;
        let first_path = self.path_of(first);
        // -n: the link is not made, only shown.
        if self.opts.dry_run {
            let linked = std::fs::symlink_metadata(&first_path)
                .ok()
                .is_some_and(|t| here.is_some_and(|h| h.dev() == t.dev() && h.ino() == t.ino()));
            if linked {
                return Ok(());
            }
            let mut iflags = itemize::LOCAL_CHANGE | itemize::XNAME_FOLLOWS;
            match here {
                Some(h) => iflags |= self.differences(e, h),
                None => {
                    iflags |= itemize::IS_NEW;
                    self.stats.created.add(&kind_of_entry(e));
                }
            }
            self.log
                .print(self.voice, iflags, e, &Shown::received(e), Some(first));
            return Ok(());
        }
        let Ok(target) = std::fs::symlink_metadata(&first_path) else {
            // The first could not be made: the reason has been said.
            self.io_error |= IOERR_GENERAL;
            return Ok(());
        };
        if here.is_some_and(|h| h.dev() == target.dev() && h.ino() == target.ino()) {
            return Ok(());
        }
        if here.is_some() {
            std::fs::remove_file(path)?;
        }
        std::fs::hard_link(&first_path, path)?;
        let mut iflags = itemize::LOCAL_CHANGE | itemize::XNAME_FOLLOWS;
        if here.is_none() {
            iflags |= itemize::IS_NEW;
            self.stats.created.add(&kind_of_entry(e));
        }
        self.log
            .print(self.voice, iflags, e, &Shown::received(e), Some(first));
        Ok(())
    }

    /// The best match for a regular file `e` in the --compare-dest, --copy-dest or
    /// --link-dest folders, as rsync's `try_dests_reg` looks.
    fn alt_match(&self, e: &Entry) -> Option<Found> {
        let alt = self.alt.as_ref()?;
        let opts = self.opts;
        alt.find(
            Path::new(OsStr::from_bytes(&e.name)),
            |st| st.is_file(),
            |_, st| st.size == e.size && st.mtime.secs == e.mtime,
            |_, st| {
                (!opts.perms || st.mode & 0o7777 == e.mode & 0o7777)
                    && (!opts.owner || st.uid == e.uid)
                    && (!opts.group || st.gid == e.gid)
            },
        )
    }

    /// A file the alternate folders hold as the sender has it: left out with
    /// --compare-dest, hard-linked with --link-dest (when its attributes match too), else
    /// copied, all without a line, as rsync does.
    fn settle_from_alt(&mut self, e: &Entry, path: &Path, found: &Found) -> io::Result<()> {
        let kind = self.alt.as_ref().map(|a| a.kind);
        if self.opts.dry_run {
            return Ok(());
        }
        match kind {
            Some(AltKind::Compare) => Ok(()),
            Some(AltKind::Link) if found.level == Level::Exact => {
                std::fs::hard_link(&found.path, path)
            }
            _ => {
                self.serial += 1;
                let mut temp_name = b".".to_vec();
                temp_name.extend_from_slice(path.file_name().map_or(&b""[..], |n| n.as_bytes()));
                temp_name.extend_from_slice(
                    format!(".{}.{}", std::process::id(), self.serial).as_bytes(),
                );
                let temp = path.with_file_name(OsStr::from_bytes(&temp_name));
                let copied = std::fs::copy(&found.path, &temp)
                    .and_then(|_| self.set_attrs(&temp, e, false))
                    .and_then(|_| std::fs::rename(&temp, path));
                if copied.is_err() {
                    let _ = std::fs::remove_file(&temp);
                }
                copied
            }
        }
    }

    /// Reads the sender's answers to entries that needed no data, printing them, until
    /// the end of a phase.
    fn pump(&mut self, input: &mut impl Read) -> io::Result<()> {
        let list = self.list;
        loop {
            let req = match read_request(input, &mut self.ndx_in) {
                Ok(r) => r,
                Err(e) if no_send(&e).is_some() => continue,
                Err(e) => return Err(e),
            };
            if req.ndx == NDX_DONE {
                return Ok(());
            }
            let e = list
                .get(req.ndx as usize)
                .ok_or_else(|| invalid(format!("the server answered for file {}", req.ndx)))?;
            if req.iflags & itemize::TRANSFER != 0 {
                return Err(invalid(format!(
                    "data for file {} that was not asked for now",
                    req.ndx
                )));
            }
            self.told(req.iflags, e);
        }
    }

    /// Prints an entry the sender echoed, if rsync shows it (`maybe_log_item`).
    fn told(&self, iflags: u32, e: &Entry) {
        if self.log.shows_untransferred(iflags, e.is_dir(), b"") {
            self.print(iflags, e);
        }
    }

    fn print(&self, iflags: u32, e: &Entry) {
        self.log
            .print(self.voice, iflags, e, &Shown::received(e), None);
    }

    /// The folder the destination's names are below: the destination, or the folder of
    /// the one file it names.
    fn root(&self) -> PathBuf {
        if self.single_file {
            match self.dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            }
        } else {
            self.dest.clone()
        }
    }

    /// The list name of what is at `path` (its own name for a destination that names
    /// one file).
    fn name_below(&self, name: &[u8]) -> Vec<u8> {
        if self.single_file {
            self.dest
                .file_name()
                .map_or_else(|| name.to_vec(), |n| n.as_bytes().to_vec())
        } else {
            name.to_vec()
        }
    }

    /// -b: moves what is at `path` (list name `name`, not a folder) to its backup, as
    /// rsync's make_backup: beside it with the suffix, or at its own path below
    /// --backup-dir (the folders there made with the destination's modes); -vv says
    /// `backed up NAME to WHERE`.
    fn back_up(&mut self, name: &[u8], path: &Path) -> io::Result<()> {
        let Some(backup) = self.opts.backup.as_ref() else {
            return Ok(());
        };
        let root = self.root();
        let name = self.name_below(name);
        let (to, shown) = backup.place(&root, &name);
        let place = match &backup.dir {
            Some(dir) => {
                let perms = self.opts.perms;
                let mode_of = |below: &[u8]| {
                    let meta = std::fs::symlink_metadata(root.join(OsStr::from_bytes(below)));
                    meta.ok().filter(|m| perms && m.is_dir()).map(|m| m.mode())
                };
                let with_suffix = [&name[..], &backup.suffix[..]].concat();
                Some(crate::backup::Place::open(
                    &root,
                    dir,
                    &with_suffix,
                    self.opts.insecure_links,
                    mode_of,
                )?)
            }
            None => None,
        };
        let to = place.as_ref().map_or(to, crate::backup::Place::path);
        crate::backup::clear_place(&to)?;
        match std::fs::rename(path, &to) {
            // --backup-dir on another file system: the file is copied there.
            Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
                let meta = std::fs::symlink_metadata(path)?;
                if meta.is_symlink() {
                    std::os::unix::fs::symlink(std::fs::read_link(path)?, &to)?;
                } else {
                    std::fs::copy(path, &to)?;
                    let t = filetime::FileTime::from_last_modification_time(&meta);
                    filetime::set_file_mtime(&to, t)?;
                }
                std::fs::remove_file(path)?;
            }
            other => other?,
        }
        if self
            .opts
            .info
            .backup
            .map_or(self.opts.verbose > 1, |l| l > 0)
        {
            let line = format!(
                "backed up {} to {}\n",
                String::from_utf8_lossy(&name),
                String::from_utf8_lossy(&shown)
            );
            self.voice.out(line.as_bytes());
        }
        Ok(())
    }

    /// Removes what is at `path` (not a folder) for something else, or keeps it as its
    /// backup with -b (a backup itself, beside the files, is just removed).
    fn remove_or_back_up(&mut self, name: &[u8], path: &Path) -> io::Result<()> {
        let backs_up = self
            .opts
            .backup
            .as_ref()
            .is_some_and(|b| !b.is_backup_name(name));
        if backs_up {
            self.back_up(name, path)
        } else {
            std::fs::remove_file(path)
        }
    }

    /// --partial-dir: where a cut-off run keeps what came of the file at `path` (a
    /// relative folder beside the file, an absolute one for all).
    fn partial_of(&self, path: &Path) -> Option<PathBuf> {
        let dir = self.opts.partial_dir.as_ref()?;
        let base = path.file_name()?;
        Some(if dir.is_absolute() {
            dir.join(base)
        } else {
            path.with_file_name(dir).join(base)
        })
    }

    /// Removes a relative --partial-dir folder once it is empty, as rsync's receiver does.
    fn drop_partial_dir(&self, partial: &Path) {
        let relative = self
            .opts
            .partial_dir
            .as_ref()
            .is_some_and(|d| d.is_relative());
        if let Some(dir) = partial.parent().filter(|_| relative) {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// --delay-updates: moves a received file (`temp`) into the waiting folder beside
    /// `path`, made if need be, to go into place at the end.
    fn stage(&mut self, temp: &Path, path: &Path, base: &[u8], name: &[u8]) -> io::Result<()> {
        // In --partial-dir when one is given, as rsync's.
        let waits = self
            .partial_of(path)
            .unwrap_or_else(|| path.with_file_name(DELAY_DIR).join(OsStr::from_bytes(base)));
        let dir = waits.parent().unwrap_or(Path::new(".")).to_path_buf();
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "Unable to create partial-dir for {}: {}",
                        String::from_utf8_lossy(base),
                        super::os_text(&e)
                    ),
                ))
            }
            _ => {}
        }
        std::fs::rename(temp, &waits)?;
        self.delayed
            .push((waits, path.to_path_buf(), name.to_vec()));
        Ok(())
    }

    /// --delay-updates: every waiting file into place, and the waiting folders away.
    fn put_delayed(&mut self) {
        for (waits, path, name) in std::mem::take(&mut self.delayed) {
            let backed = if self.opts.backup.is_some()
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
            {
                self.back_up(&name, &path)
            } else {
                Ok(())
            };
            if let Err(err) = backed.and_then(|_| std::fs::rename(&waits, &path)) {
                self.io_error |= IOERR_GENERAL;
                self.voice.err(
                    format!(
                        "prsync: rename failed for \"{}\" (from {}): {}\n",
                        path.display(),
                        waits.display(),
                        super::os_text(&err)
                    )
                    .as_bytes(),
                );
                continue;
            }
            if let Some(dir) = waits.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    /// Reads the answers until file `ndx`'s echo, printing those before it: None when the
    /// sender could not send it (its reason was said).
    fn await_echo(&mut self, input: &mut impl Read, ndx: i32) -> io::Result<Option<Request>> {
        loop {
            let req = match read_request(input, &mut self.ndx_in) {
                Ok(r) => r,
                Err(err) => match no_send(&err) {
                    Some(n) if n == ndx => {
                        self.io_error |= IOERR_GENERAL;
                        return Ok(None);
                    }
                    Some(_) => continue,
                    None => return Err(err),
                },
            };
            if req.ndx == ndx {
                return Ok(Some(req));
            }
            if req.ndx == NDX_DONE || req.iflags & itemize::TRANSFER != 0 {
                return Err(invalid(format!(
                    "file {} came while file {ndx} was awaited",
                    req.ndx
                )));
            }
            // An entry told before this one comes back: its line.
            let list = self.list;
            let told = list
                .get(req.ndx as usize)
                .ok_or_else(|| invalid(format!("the server answered for file {}", req.ndx)))?;
            self.told(req.iflags, told);
        }
    }

    /// Receives file `ndx`: the answers before it are printed; its tokens become a temp
    /// file beside it, checked and renamed into place.
    fn pump_file(
        &mut self,
        input: &mut impl Read,
        ndx: i32,
        e: &Entry,
        path: &Path,
        basis: &[u8],
        head: &SumHead,
    ) -> io::Result<()> {
        let Some(req) = self.await_echo(input, ndx)? else {
            return Ok(());
        };
        // rsync's %b counts from here to the whole-file sum.
        let mut input = Counted::new(input);
        let echoed = SumHead::read(&mut input)?;
        if echoed != *head {
            return Err(invalid("the sender changed the block sums' shape".into()));
        }
        let began = std::time::Instant::now();
        self.serial += 1;
        let base = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let mut temp_name = b".".to_vec();
        temp_name.extend_from_slice(&base);
        temp_name.extend_from_slice(format!(".{}.{}", std::process::id(), self.serial).as_bytes());
        // --inplace writes the file itself: the sender was told, and takes no block from
        // before where this side writes.
        let inplace = self.opts.inplace;
        // -T: the temp file is made in that folder (a relative one from the destination's
        // folder, as rsync's receiver, which works from there), and moved into place.
        let temp_dir = self.opts.temp_dir.as_ref().map(|d| {
            let root = if self.single_file {
                self.dest.parent().unwrap_or(Path::new("")).to_path_buf()
            } else {
                self.dest.clone()
            };
            root.join(d)
        });
        let temp = if inplace {
            path.to_path_buf()
        } else if let Some(dir) = &temp_dir {
            dir.join(OsStr::from_bytes(&temp_name))
        } else {
            path.with_file_name(OsStr::from_bytes(&temp_name))
        };
        let checksum = self.session.checksum;
        let opened = if inplace {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&temp)
        } else if self
            .opts
            .temp_dir
            .as_ref()
            .is_some_and(|d| d.components().any(|c| c == Component::ParentDir))
        {
            // rsync 3.5.0 makes its temp files by a path that may not climb with `..`.
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
        };
        let file = match opened {
            Ok(file) => file,
            Err(err) => {
                // One file fails, as with rsync's receiver: said, counted, its data read
                // past, and the run goes on.
                let call = if inplace { "open" } else { "mkstemp" };
                self.voice.err(
                    format!(
                        "prsync: {call} \"{}\" failed: {}\n",
                        temp.display(),
                        super::os_text(&err)
                    )
                    .as_bytes(),
                );
                self.io_error |= IOERR_GENERAL;
                delta::receive_coded(
                    &mut input,
                    basis,
                    head,
                    checksum,
                    &mut io::sink(),
                    self.coder.as_mut(),
                )?;
                return Ok(());
            }
        };
        // A stop signal removes it, or with --partial keeps what came where an error
        // keeps it (below): under the file's name, or in --partial-dir.
        let file_dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let partial_dir = self.opts.partial_dir.as_deref().map(Path::as_os_str);
        let keep = self.opts.partial.then(|| {
            let (folder, subdir) = match partial_dir {
                Some(d) if Path::new(d).is_absolute() => (
                    Path::new(d).parent(),
                    Path::new(d).file_name().map(OsStr::as_bytes),
                ),
                Some(d) => (Some(file_dir), Some(d.as_bytes())),
                None => (Some(file_dir), None),
            };
            prtools_sync::StopKeep {
                folder,
                subdir,
                name: &base,
            }
        });
        let _listed = match (inplace, temp.parent()) {
            (false, Some(dir)) => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                Some(prtools_sync::ListedTemp::new(dir, &temp_name, keep)?)
            }
            _ => None,
        };
        let mut w = Tally {
            inner: io::BufWriter::new(file),
            basis,
            literal: 0,
            matched: 0,
        };
        let result = delta::receive_coded(
            &mut input,
            basis,
            head,
            checksum,
            &mut w,
            self.coder.as_mut(),
        )
        .and_then(|ok| {
            w.flush()?;
            Ok(ok)
        });
        let (literal, matched) = (w.literal, w.matched);
        let written = literal + matched;
        let file = w.inner.into_inner().map_err(|e| e.into_error());
        let result = result.and_then(|ok| {
            if inplace {
                file?.set_len(written)?;
            }
            Ok(ok)
        });
        let ok = match result {
            Ok(ok) => ok,
            Err(err) => {
                // --partial: what came is kept under the file's name, as rsync keeps it,
                // or in --partial-dir.
                let keep_at = match self.partial_of(path) {
                    Some(p) => {
                        if let Some(d) = p.parent() {
                            let _ = std::fs::DirBuilder::new().mode(0o700).create(d);
                        }
                        Some(p)
                    }
                    None => Some(path.to_path_buf()),
                };
                let kept = !inplace
                    && self.opts.partial
                    && written > 0
                    && keep_at.is_some_and(|to| std::fs::rename(&temp, to).is_ok());
                if !inplace && !kept {
                    let _ = std::fs::remove_file(&temp);
                }
                return Err(err);
            }
        };
        if !ok {
            if !inplace {
                let _ = std::fs::remove_file(&temp);
            }
            if !self.redoing {
                self.redo.push(ndx as usize);
                return Ok(());
            }
            self.io_error |= IOERR_GENERAL;
            eprintln!(
                "prsync: {:?} failed verification: the data did not match its checksum",
                String::from_utf8_lossy(&e.name)
            );
            return Ok(());
        }
        self.set_attrs(&temp, e, false)?;
        if !inplace && self.opts.delay_updates {
            let waits = self.stage(&temp, path, &base, &e.name);
            if let Err(err) = waits {
                let _ = std::fs::remove_file(&temp);
                return Err(err);
            }
        } else if !inplace {
            // -b: the file replaced is kept as its backup first.
            if self.opts.backup.is_some()
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
            {
                if let Err(err) = self.back_up(&e.name, path) {
                    let _ = std::fs::remove_file(&temp);
                    return Err(err);
                }
            }
            match std::fs::rename(&temp, path) {
                // A -T folder on another file system: the file is copied over, as rsync's
                // robust_rename copies it, and given its attributes again.
                Err(err) if err.raw_os_error() == Some(libc::EXDEV) => {
                    let copied =
                        std::fs::copy(&temp, path).and_then(|_| self.set_attrs(path, e, false));
                    let _ = std::fs::remove_file(&temp);
                    copied?;
                }
                other => other?,
            }
        }
        // --partial-dir: the copy a cut-off run kept is done with.
        if let Some(p) = self
            .partial_of(path)
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        {
            let _ = std::fs::remove_file(&p);
            self.drop_partial_dir(&p);
        }
        self.stats.transferred += 1;
        self.stats.transferred_size += e.size;
        self.stats.literal += literal;
        self.stats.matched += matched;
        let shown = Shown {
            bytes: input.count,
            ..Shown::received(e)
        };
        self.log.print(self.voice, req.iflags, e, &shown, None);
        if self.opts.progress {
            let done = crate::progress_line::Done {
                size: e.size,
                took: began.elapsed(),
                xfr: self.stats.transferred,
                index: ndx as usize,
                total: self.list.len(),
            };
            let line = crate::progress_line::line(&done, self.opts.human);
            self.voice.out(line.as_bytes());
        }
        Ok(())
    }

    fn set_owner(&self, path: &Path, e: &Entry, here: Option<&Metadata>) {
        if self.opts.dry_run {
            return;
        }
        let uid = self.opts.owner.then_some(e.uid);
        let gid = self.opts.group.then_some(e.gid);
        let fits = |want: Option<u32>, have: u32| want.is_none_or(|w| w == have);
        let same = here.is_some_and(|h| fits(uid, h.uid()) && fits(gid, h.gid()));
        if (uid.is_some() || gid.is_some()) && !same {
            let _ = std::os::unix::fs::lchown(path, uid, gid);
        }
    }

    /// Gives `path` the entry's owner, group, mode and time, as the options keep them.
    fn set_attrs(&mut self, path: &Path, e: &Entry, link: bool) -> io::Result<()> {
        if self.opts.dry_run {
            return Ok(());
        }
        self.set_owner(path, e, None);
        if self.opts.perms && !link {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode & 0o7777))?;
        }
        // -O and -J: folders and symlinks keep their own times.
        let keep_time =
            (e.is_dir() && self.opts.omit_dir_times) || (link && self.opts.more.omit_link_times);
        if self.opts.times && !keep_time {
            // utimensat without following, for every kind: filetime's `set_file_times`
            // opens the path, which blocks for ever on a FIFO and can act on a device.
            let t = filetime::FileTime::from_unix_time(e.mtime, e.mtime_nsec);
            filetime::set_symlink_file_times(path, t, t)?;
        }
        Ok(())
    }

    /// Folders get their mode and time last, deepest first, after their contents.
    fn finish_dirs(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, e) in dirs.iter().rev() {
            if let Err(err) = self.set_attrs(path, e, false) {
                self.io_error |= IOERR_GENERAL;
                eprintln!(
                    "prsync: cannot set the attributes of \"{}\": {}",
                    path.display(),
                    super::os_text(&err)
                );
            }
        }
    }

    /// The rules that hold in folder `name` here: the given ones and, with dir-merge rules,
    /// those of each merge file in this folder and the ones above it, read here as a
    /// receiving rsync reads them before it deletes (None: the given ones hold). A merge
    /// file reached through another user's symlink is not read (as the sender's are not).
    /// Each call reads the merge files as they are now, ancestors included: rsync's suite
    /// (exclude-lsh, --delete-before) needs the rules of a folder whose merge file an
    /// earlier deletion removed to go with it, which rules kept by folder
    /// ([`DirRules`](crate::received_tree::DirRules), as the server's) did not do.
    fn filters_in(&self, name: &[u8]) -> Option<FilterList> {
        let given = &self.opts.filters;
        if !given.has_dir_merge() {
            return None;
        }
        let mut list = given.clone();
        let mut folders = vec![Vec::new()];
        if name != b"." {
            let mut at = Vec::new();
            for part in name.split(|&b| b == b'/') {
                if !at.is_empty() {
                    at.push(b'/');
                }
                at.extend_from_slice(part);
                folders.push(at.clone());
            }
        }
        for folder in folders {
            let dir = if folder.is_empty() {
                self.path_of(b".")
            } else {
                self.path_of(&folder)
            };
            let mut read = |file: &[u8]| {
                let path = dir.join(OsStr::from_bytes(file));
                crate::trust::check_destination(&path).ok()?;
                std::fs::read(path).ok()
            };
            let full = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
            let mut long = Vec::new();
            match list.enter_dir_at(
                &folder,
                Some(full.as_os_str().as_bytes()),
                &mut read,
                &mut long,
            ) {
                Ok(Some(inner)) => list = inner,
                Ok(None) => {}
                Err(e) => {
                    let line = format!("prsync: in a merge file of \"{}\": {e}\n", dir.display());
                    self.voice.err(line.as_bytes());
                }
            }
        }
        Some(list)
    }

    /// rsync's `delete_in_dir`: what is in this folder here but not in the list goes, in
    /// reverse list order, a folder's contents before the folder.
    fn delete_extras(
        &mut self,
        dir: &Path,
        name: &[u8],
        children: &HashMap<Vec<u8>, HashSet<Vec<u8>>>,
    ) -> io::Result<()> {
        let keep = children.get(name);
        let mut extras = Vec::new();
        let listing = match std::fs::read_dir(dir) {
            Ok(l) => l,
            // Not made here (--existing, or a dry run): nothing in it to delete.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        for child in listing {
            let child = child?;
            let base = child.file_name().as_bytes().to_vec();
            if keep.is_some_and(|k| k.contains(&base)) {
                continue;
            }
            // --delay-updates' waiting folder is not the sender's to delete.
            if self.opts.delay_updates && base == DELAY_DIR.as_bytes() {
                continue;
            }
            let meta = std::fs::symlink_metadata(child.path())?;
            let rel = if name == b"." {
                base.clone()
            } else {
                [name, b"/", &base].concat()
            };
            extras.push(listed_entry(rel, &meta));
        }
        flist::sort(&mut extras);
        let opts = self.opts;
        let merged = self.filters_in(name);
        let filters = merged.as_ref().unwrap_or(&opts.filters);
        for e in extras.iter().rev() {
            // What the rules exclude here is not the sender's to delete.
            if filters.is_protected(&e.name, e.is_dir()) {
                continue;
            }
            let path = self.path_of(&e.name);
            let meta = std::fs::symlink_metadata(&path)?;
            self.delete_one(&path, &e.name, &meta, false)?;
        }
        Ok(())
    }

    /// Deletes one name here (a folder with all it holds), printing `*deleting` lines.
    /// False when a folder stays, for what the filter rules protect in it. `make_room`: the
    /// name goes for an entry of another kind, which rsync neither prints nor counts as a
    /// deletion (what a folder held still is).
    fn delete_one(
        &mut self,
        path: &Path,
        name: &[u8],
        meta: &Metadata,
        make_room: bool,
    ) -> io::Result<bool> {
        if meta.is_dir() {
            let mut inside = Vec::new();
            for child in std::fs::read_dir(path)? {
                let child = child?;
                let rel = [name, b"/", child.file_name().as_bytes()].concat();
                inside.push(listed_entry(rel, &std::fs::symlink_metadata(child.path())?));
            }
            flist::sort(&mut inside);
            let mut kept = false;
            let opts = self.opts;
            let merged = self.filters_in(name);
            let filters = merged.as_ref().unwrap_or(&opts.filters);
            for e in inside.iter().rev() {
                // A protected name inside keeps it, and so the folder too.
                if filters.is_protected_in_deleted_dir(&e.name, e.is_dir()) {
                    kept = true;
                    continue;
                }
                let p = self.path_of(&e.name);
                let m = std::fs::symlink_metadata(&p)?;
                if !self.delete_one(&p, &e.name, &m, false)? {
                    kept = true;
                }
            }
            if kept {
                let mut line = b"cannot delete non-empty directory: ".to_vec();
                line.extend_from_slice(name);
                line.push(b'\n');
                self.voice.out(&line);
                return Ok(false);
            }
            if !self.opts.dry_run {
                std::fs::remove_dir(path)?;
            }
            if make_room {
                return Ok(true);
            }
            self.deleted.dirs += 1;
        } else {
            if !self.opts.dry_run {
                self.remove_or_back_up(name, path)?;
            }
            if make_room {
                return Ok(true);
            }
            let ft = meta.file_type();
            if ft.is_symlink() {
                self.deleted.links += 1;
            } else if ft.is_block_device() || ft.is_char_device() {
                self.deleted.devices += 1;
            } else if !ft.is_file() {
                self.deleted.specials += 1;
            }
        }
        self.deleted.files += 1;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        self.log.deleted(self.voice, kind, name, meta.mode());
        Ok(true)
    }
}

/// Counts what a file is rebuilt from, for `--stats`: [`delta::receive`] writes a block it
/// takes from the basis as a slice of the basis itself, so bytes written from inside the
/// basis's memory are matched data, and all others came as literal data.
struct Tally<'a, W> {
    inner: W,
    basis: &'a [u8],
    literal: u64,
    matched: u64,
}

impl<W: Write> Write for Tally<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let start = self.basis.as_ptr() as usize;
        let at = buf.as_ptr() as usize;
        if at >= start && at < start + self.basis.len() {
            self.matched += n as u64;
        } else {
            self.literal += n as u64;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
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

/// The index a sender said it skipped, if this error is that.
fn no_send(e: &io::Error) -> Option<i32> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NoSend>())
        .map(|n| n.0)
}
