//! A push over rsync's protocol: this side is the client and the sender; the host's
//! `rsync --server` receives (its generator asks for files, its receiver writes them).
//!
//! The order follows rsync's `client_run` for a sender: the filter list (only an empty
//! one, and only when the receiver deletes), the file list and the id lists, then one
//! answer per index the generator sends, through its two extra phases (redo and done),
//! and the goodbye. The answers are gathered and go when a frame is full or when the next
//! request has not come yet (see the link's `Incoming`): not one write per file.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use prtools_mapped::Mapped;
use prtools_rsync_wire::codec::{
    get_byte, get_int, get_shortint, get_varint, get_vstring, invalid, put_shortint, put_vstring,
};
use prtools_rsync_wire::counted::Counted;
use prtools_rsync_wire::delta::{self, Seed};
use prtools_rsync_wire::flist::Keep;
use prtools_rsync_wire::handshake::{compat, Session};
use prtools_rsync_wire::itemize::{self, Kind, Style};
use prtools_rsync_wire::mux::{Demux, Tag};
use prtools_rsync_wire::ndx::{NdxState, NDX_DEL_STATS, NDX_DONE};
use prtools_rsync_wire::sums::{read_blocks, SumHead};

use super::link::Link;
use super::list::{Item, Plan};
use super::report::{Log, Shown};
use super::shared_reads::SharedReads;
use super::Voice;
use crate::cli::Options;
use crate::stats::Stats;

/// rsync's I/O error bits.
const IOERR_GENERAL: i32 = 1;
const IOERR_VANISHED: i32 = 2;

/// How a push ended, when the stream held to the end.
#[derive(Debug, Default)]
pub struct Outcome {
    /// I/O error bits of this side (listing and reading the sources).
    pub io_error: i32,
    /// I/O error bits the server reported.
    pub remote_io_error: i32,
    /// The totals, for `-v` and `--stats`.
    pub stats: Stats,
}

/// What the message frames told, for after the session.
#[derive(Default)]
pub(super) struct Heard {
    pub(super) remote_io_error: i32,
    pub(super) error_exit: Option<i32>,
}

/// The sender could not open the file with this index: it sends nothing more for it.
#[derive(Debug)]
pub(super) struct NoSend(pub(super) i32);

impl std::fmt::Display for NoSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the sender skipped file {}", self.0)
    }
}

impl std::error::Error for NoSend {}

/// An index with its item flags, as the generator sends them.
pub(super) struct Request {
    pub(super) ndx: i32,
    pub(super) iflags: u32,
    pub(super) basis: Option<u8>,
    pub(super) xname: Option<Vec<u8>>,
}

/// Runs the session after the handshake. `Err` is a broken or refused stream; the remote
/// shell's exit status then says more.
pub fn run(
    link: &mut Link,
    session: &Session,
    plan: &Plan,
    opts: &Options,
    voice: &Arc<dyn Voice>,
) -> Result<Outcome, (io::Error, Option<i32>)> {
    let heard = Rc::new(RefCell::new(Heard::default()));
    let result = session_body(link, session, plan, opts, heard.clone(), voice);
    settle(result, &heard)
}

/// [`run`] for a push whose `--files-from` list is on the host (`:FILE`): after the filter
/// rules, the receiving server reads the list and sends its names, and only then is the
/// list made here, from those names below the one source folder, as rsync's sender does.
pub fn run_listed_there(
    link: &mut Link,
    session: &Session,
    opts: &Options,
    voice: &Arc<dyn Voice>,
) -> Result<Outcome, (io::Error, Option<i32>)> {
    let heard = Rc::new(RefCell::new(Heard::default()));
    let result = names_from_server(link, session, opts, &heard, voice).and_then(|names| {
        let base = opts.sources.first().cloned().unwrap_or_default();
        let listing = std::time::Instant::now();
        let opts = Options {
            sources: crate::cli::files_from_names(&names, true, false, &base),
            ..opts.clone()
        };
        let mut plan = Plan::new(super::list::list(&opts));
        plan.built = listing.elapsed();
        plan.rules_sent = true;
        session_body(link, session, &plan, &opts, heard.clone(), voice)
    });
    settle(result, &heard)
}

/// Sends the filter rules, then reads the names the server sends from its `--files-from`
/// file: NUL-separated, ended by an empty one; framed from protocol 31, bare before.
fn names_from_server(
    link: &mut Link,
    session: &Session,
    opts: &Options,
    heard: &Rc<RefCell<Heard>>,
    voice: &Arc<dyn Voice>,
) -> io::Result<Vec<u8>> {
    let mut rules = Vec::new();
    super::list::put_rules_for(&mut rules, opts);
    link.output.frame();
    link.output.write_all(&rules)?;
    link.output.flush()?;
    let log = sender_log(opts, session);
    let said = voice.clone();
    let heard = heard.clone();
    let mut framed = Demux::new(&mut link.input, move |tag, body: Vec<u8>| {
        on_message(tag, body, &log, &heard, &*said)
    });
    let mut input: &mut dyn Read = if session.protocol >= 31 {
        &mut framed
    } else {
        framed.get_mut()
    };
    let mut names = Vec::new();
    loop {
        let b = get_byte(&mut input)?;
        if b == 0 && names.last().is_none_or(|&last| last == 0) {
            return Ok(names);
        }
        names.push(b);
    }
}

/// How this side, the sender, prints the server's lines: with symlink times as the
/// server's compatibility flags say.
fn sender_log(opts: &Options, session: &Session) -> Log {
    let style = Style {
        sending: true,
        times: opts.times,
        symlink_times: session.compat & compat::SYMLINK_TIMES != 0,
    };
    Log::new(opts, style)
}

/// A session's result with what its message frames told: the server's I/O error bits on
/// success, the exit status an error frame named on failure. Shared by push and pull.
pub(super) fn settle(
    result: io::Result<Outcome>,
    heard: &RefCell<Heard>,
) -> Result<Outcome, (io::Error, Option<i32>)> {
    let heard = heard.borrow();
    match result {
        Ok(mut outcome) => {
            outcome.remote_io_error = heard.remote_io_error;
            Ok(outcome)
        }
        Err(e) => Err((e, heard.error_exit)),
    }
}

/// Which attributes the file list carries, from the options: the same on both directions.
pub(super) fn keep_of(opts: &Options) -> Keep {
    Keep {
        uid: opts.owner,
        gid: opts.group,
        links: opts.links,
        devices: opts.devices,
        specials: opts.specials,
    }
}

fn session_body(
    link: &mut Link,
    session: &Session,
    plan: &Plan,
    opts: &Options,
    heard: Rc<RefCell<Heard>>,
    voice: &Arc<dyn Voice>,
) -> io::Result<Outcome> {
    let protocol = session.protocol;
    let listed = &plan.listed;
    let mut outcome = Outcome {
        io_error: listed.io_error,
        ..Outcome::default()
    };
    let log = sender_log(opts, session);
    super::report::banner(opts, false, listed.items.len(), &**voice);
    let stats = &mut outcome.stats;
    super::report::count_list(stats, listed.items.iter().map(|i| &i.entry));
    let out = &mut link.output;
    out.frame();
    let before = out.sent();
    let sums = opts.checksum.then_some(session.checksum);
    out.write_all(&plan.encoded(protocol, session.varint_flags(), sums, opts))?;
    out.flush()?;
    stats.flist_bytes = out.sent() - before;
    stats.flist_time = plan.built;

    let heard_in = heard.clone();
    let said = voice.clone();
    let in_log = log.clone();
    let mut input = Demux::new(&mut link.input, move |tag, body: Vec<u8>| {
        on_message(tag, body, &in_log, &heard_in, &*said)
    });
    let mut deleted = [0u64; 5];
    let (mut ndx_in, mut ndx_out) = (NdxState::default(), NdxState::default());
    let mut phase = 0;
    // Each small file is read into this, one after the other, unless the hosts share them.
    let mut small = Vec::new();
    let reads = plan.reads.as_ref();
    // One deflate coder for the session with -z: its tokens are one stream per file.
    let mut coder = session.compression.map(|c| c.encoder(session.protocol));
    loop {
        let req = read_counting(&mut input, &mut ndx_in, &mut deleted)?;
        if req.ndx == NDX_DONE {
            phase += 1;
            if phase > 2 {
                break;
            }
            let mut b = Vec::new();
            ndx_out.put(&mut b, NDX_DONE);
            out.write_all(&b)?;
            out.flush()?;
            continue;
        }
        let item = listed.items.get(req.ndx as usize).ok_or_else(|| {
            invalid(format!(
                "the server asked for file {} of {}",
                req.ndx,
                listed.items.len()
            ))
        })?;
        if req.iflags & itemize::IS_NEW != 0 {
            outcome
                .stats
                .created
                .add(&super::report::kind_of_entry(&item.entry));
        }
        if req.iflags & itemize::TRANSFER == 0 {
            let xname = req.xname.as_deref().unwrap_or_default();
            if log.shows_untransferred(req.iflags, item.entry.is_dir(), xname) {
                print_item(&req, item, &log, &**voice, 0);
            }
            echo(out, &mut ndx_out, &req)?;
            continue;
        }
        if phase == 2 {
            return Err(invalid(
                "the server asked for a file after the redo phase".into(),
            ));
        }
        if opts.dry_run {
            print_item(&req, item, &log, &**voice, 0);
            echo(out, &mut ndx_out, &req)?;
            continue;
        }
        let head = SumHead::read(&mut input)?;
        let blocks = read_blocks(&mut input, &head)?;
        let ndx = req.ndx as usize;
        let file = match Source::open(&item.path, ndx, item.entry.size, &mut small, reads) {
            Ok(file) => file,
            Err(e) => {
                if e.kind() == io::ErrorKind::NotFound {
                    outcome.io_error |= IOERR_VANISHED;
                    voice.err(
                        format!("file has vanished: \"{}\"\n", item.path.display()).as_bytes(),
                    );
                } else {
                    outcome.io_error |= IOERR_GENERAL;
                    voice.err(
                        format!(
                            "prsync: send_files failed to open \"{}\": {}\n",
                            item.path.display(),
                            super::os_text(&e)
                        )
                        .as_bytes(),
                    );
                }
                out.message(Tag::NoSend, &req.ndx.to_le_bytes())?;
                continue;
            }
        };
        let began = std::time::Instant::now();
        let mut counted = Counted::new(&mut *out);
        echo(&mut counted, &mut ndx_out, &req)?;
        let mut b = Vec::new();
        head.put(&mut b);
        counted.write_all(&b)?;
        let sent = delta::send_coded(
            &mut counted,
            file.bytes(&small),
            &blocks,
            Seed::from(session),
            coder.as_mut(),
        )?;
        let wrote = counted.count;
        let stats = &mut outcome.stats;
        stats.transferred += 1;
        stats.transferred_size += item.entry.size;
        stats.literal += sent.literal;
        stats.matched += sent.matched;
        print_item(&req, item, &log, &**voice, wrote);
        if opts.progress {
            let done = crate::progress_line::Done {
                size: item.entry.size,
                took: began.elapsed(),
                xfr: stats.transferred,
                index: req.ndx as usize,
                total: listed.items.len(),
            };
            voice.out(crate::progress_line::line(&done, opts.human).as_bytes());
        }
    }
    if outcome.io_error != listed.io_error {
        out.message(Tag::IoError, &outcome.io_error.to_le_bytes())?;
    }
    let mut b = Vec::new();
    ndx_out.put(&mut b, NDX_DONE);
    out.write_all(&b)?;
    out.flush()?;
    // rsync's client sender takes its totals here, before the goodbye.
    outcome.stats.wire = Some((out.sent(), input.get_mut().received()));
    // The goodbye: from protocol 31 the generator says done twice, with an answer between.
    expect_done(&mut input, &mut ndx_in, &mut deleted)?;
    if protocol >= 31 {
        let mut b = Vec::new();
        ndx_out.put(&mut b, NDX_DONE);
        out.write_all(&b)?;
        out.flush()?;
        expect_done(&mut input, &mut ndx_in, &mut deleted)?;
    }
    super::report::count_deleted(&mut outcome.stats, deleted);
    Ok(outcome)
}

/// Files up to this size are read into memory; larger ones are mapped. A map per small
/// file costs more than it saves: each one is an mmap and an munmap (whose TLB flush
/// reaches every core that runs one of the hosts' threads), where a read is one copy.
const READ_WHOLE: u64 = 256 * 1024;

/// A file's data for the delta: read into the caller's buffer, read once for all the
/// hosts of a push to many, or mapped.
enum Source {
    Read,
    Shared(Arc<Vec<u8>>),
    Mapped(Mapped),
}

impl Source {
    /// Opens `path`, file `ndx` of the list, of `size` bytes when it was listed, reading
    /// it into `small` when it is small, or taking the bytes another host's session read
    /// when the push shares its reads.
    fn open(
        path: &std::path::Path,
        ndx: usize,
        size: u64,
        small: &mut Vec<u8>,
        shared: Option<&SharedReads>,
    ) -> io::Result<Source> {
        if size > READ_WHOLE {
            return Ok(Source::Mapped(Mapped::new(&std::fs::File::open(path)?)?));
        }
        if let Some(shared) = shared {
            return Ok(Source::Shared(shared.get(ndx, || std::fs::read(path))?));
        }
        small.clear();
        std::fs::File::open(path)?.read_to_end(small)?;
        Ok(Source::Read)
    }

    fn bytes<'a>(&'a self, small: &'a [u8]) -> &'a [u8] {
        match self {
            Source::Read => small,
            Source::Shared(data) => data,
            Source::Mapped(map) => map,
        }
    }
}

pub(super) fn expect_done(
    input: &mut impl Read,
    ndx_in: &mut NdxState,
    deleted: &mut [u64; 5],
) -> io::Result<()> {
    let req = read_counting(input, ndx_in, deleted)?;
    if req.ndx != NDX_DONE {
        return Err(invalid(format!(
            "file {} asked for at the end of the run",
            req.ndx
        )));
    }
    Ok(())
}

/// The next index and its attributes (rsync's `read_ndx_and_attrs`), after any deletion
/// totals.
pub(super) fn read_request(input: &mut impl Read, ndx_in: &mut NdxState) -> io::Result<Request> {
    read_counting(input, ndx_in, &mut [0; 5])
}

/// [`read_request`], adding the deletion totals a receiving server sends (files, folders,
/// links, devices, specials) to `deleted`.
fn read_counting(
    input: &mut impl Read,
    ndx_in: &mut NdxState,
    deleted: &mut [u64; 5],
) -> io::Result<Request> {
    let ndx = loop {
        let ndx = ndx_in.get(input)?;
        if ndx >= 0 || ndx == NDX_DONE {
            break ndx;
        }
        if ndx == NDX_DEL_STATS {
            for count in deleted.iter_mut() {
                *count += get_varint(input)?.max(0) as u64;
            }
            continue;
        }
        return Err(invalid(format!("an unexpected file index {ndx}")));
    };
    if ndx == NDX_DONE {
        return Ok(Request {
            ndx,
            iflags: 0,
            basis: None,
            xname: None,
        });
    }
    let iflags = u32::from(get_shortint(input)?);
    let basis = if iflags & itemize::BASIS_TYPE_FOLLOWS != 0 {
        Some(get_byte(input)?)
    } else {
        None
    };
    let xname = if iflags & itemize::XNAME_FOLLOWS != 0 {
        Some(get_vstring(input, 4096)?)
    } else {
        None
    };
    Ok(Request {
        ndx,
        iflags,
        basis,
        xname,
    })
}

/// Sends the index and its attributes back, as the receiver expects before each answer.
pub(super) fn echo(out: &mut impl Write, ndx_out: &mut NdxState, req: &Request) -> io::Result<()> {
    let mut b = Vec::new();
    ndx_out.put(&mut b, req.ndx);
    put_shortint(&mut b, req.iflags as u16);
    if let Some(basis) = req.basis {
        b.push(basis);
    }
    if let Some(xname) = &req.xname {
        put_vstring(&mut b, xname)?;
    }
    out.write_all(&b)
}

/// Prints `item`'s line; `bytes` is what its transfer wrote (`%b`).
fn print_item(req: &Request, item: &Item, log: &Log, voice: &dyn Voice, bytes: u64) {
    log.print(
        voice,
        req.iflags,
        &item.entry,
        &Shown {
            bytes,
            ..Shown::sent(item)
        },
        req.xname.as_deref(),
    );
}

/// Acts on a message from the server as rsync's client does: notices to stdout, errors
/// and warnings to stderr, deletions as `-i` lines.
pub(super) fn on_message(
    tag: Tag,
    body: Vec<u8>,
    log: &Log,
    heard: &Rc<RefCell<Heard>>,
    voice: &dyn Voice,
) -> io::Result<()> {
    match tag {
        Tag::Info | Tag::Client => voice.out(&body),
        Tag::Error | Tag::ErrorXfer | Tag::Warning | Tag::ErrorSocket | Tag::ErrorUtf8 => {
            voice.err(&body)
        }
        Tag::Deleted => {
            // A folder's name comes with its terminating NUL.
            let (name, kind) = match body.strip_suffix(b"\0") {
                Some(name) => (name, Kind::Dir),
                None => (&body[..], Kind::File),
            };
            // The server says no more than the name: rsync's %B then shows no bits.
            log.deleted(voice, kind, name, 0);
        }
        Tag::IoError => {
            let bits = get_int(&mut &body[..]).unwrap_or(IOERR_GENERAL);
            heard.borrow_mut().remote_io_error |= bits;
        }
        Tag::NoSend => {
            let ndx = get_int(&mut &body[..])?;
            return Err(io::Error::other(NoSend(ndx)));
        }
        Tag::ErrorExit => {
            let code = get_int(&mut &body[..]).ok();
            heard.borrow_mut().error_exit = Some(code.unwrap_or(0));
            return Err(io::Error::other("the remote rsync stopped with an error"));
        }
        _ => {}
    }
    Ok(())
}
