//! The server's ends of the stream: stdout in rsync's frames, stdin read out of them.
//!
//! A stock rsync client reads while it writes (its I/O loop selects on both), so this
//! side may block on either pipe without the two waiting on each other.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prtools_rsync_wire::codec::{
    get_byte, get_int, get_shortint, get_varint, get_vstring, invalid, put_shortint, put_vstring,
};
use prtools_rsync_wire::itemize;
use prtools_rsync_wire::mux::{frame_data, write_message, Tag, DATA_FRAME};
use prtools_rsync_wire::ndx::{NdxState, NDX_DEL_STATS, NDX_DONE};
use prtools_rsync_wire::server_request::Stderr;
use prtools_sync::filter::FilterList;

/// What the client's message frames told.
#[derive(Default)]
pub(super) struct Heard {
    /// I/O error bits the client reported.
    pub(super) io_error: i32,
    /// The client stopped with an error.
    pub(super) error_exit: bool,
}

/// The sender could not open the file with this index and sends nothing for it.
#[derive(Debug)]
pub(super) struct NoSend(pub(super) i32);

impl std::fmt::Display for NoSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client skipped file {}", self.0)
    }
}

impl std::error::Error for NoSend {}

/// The index a sender said it skipped, if this error is that.
pub(super) fn no_send(e: &io::Error) -> Option<i32> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NoSend>())
        .map(|n| n.0)
}

/// Acts on a message frame from the client: its notices pass on to this side's stderr
/// (the client prints its own), the rest is kept or ends the read.
pub(super) fn on_message(tag: Tag, body: Vec<u8>, heard: &Arc<Mutex<Heard>>) -> io::Result<()> {
    let mut heard = heard.lock().unwrap_or_else(|e| e.into_inner());
    match tag {
        Tag::IoError => {
            heard.io_error |= get_int(&mut &body[..]).unwrap_or(1);
        }
        Tag::NoSend => {
            let ndx = get_int(&mut &body[..])?;
            return Err(io::Error::other(NoSend(ndx)));
        }
        Tag::ErrorExit => {
            heard.error_exit = true;
            return Err(io::Error::other("the client stopped with an error"));
        }
        _ => {}
    }
    Ok(())
}

/// stdout as rsync's frames: data gathered up to a frame, messages between.
pub(super) struct Out<W: Write> {
    inner: W,
    buf: Vec<u8>,
    /// Bytes written so far, frames and all.
    pub(super) written: u64,
    /// Which messages go to stderr instead of the stream.
    stderr: Stderr,
}

impl<W: Write> Out<W> {
    /// Frames on `inner`, with every message among them.
    pub(super) fn new(inner: W) -> Self {
        Out {
            inner,
            buf: Vec::new(),
            written: 0,
            stderr: Stderr::Client,
        }
    }

    /// Sends the messages `mode` names to this process's stderr, as rsync's server does
    /// with errors: the remote shell carries them to the client's stderr even when the
    /// client stops reading the stream (it died of a write to a server that stopped,
    /// say), where a frame would be lost.
    pub(super) fn stderr(mut self, mode: Stderr) -> Self {
        self.stderr = mode;
        self
    }

    fn on_stderr(&self, tag: Tag) -> bool {
        let error = matches!(
            tag,
            Tag::Error | Tag::ErrorXfer | Tag::Warning | Tag::ErrorSocket | Tag::ErrorUtf8
        );
        match self.stderr {
            Stderr::Errors => error,
            Stderr::All => error || tag == Tag::Info,
            Stderr::Client => false,
        }
    }

    /// Sends a message frame now, ahead of data still gathered, as rsync's messages
    /// overtake its buffered data: a client shows `*deleting` lines before the lines of
    /// entries asked about earlier but not yet sent, as it does with rsync here.
    pub(super) fn message(&mut self, tag: Tag, body: &[u8]) -> io::Result<()> {
        if self.on_stderr(tag) {
            let mut err = io::stderr().lock();
            err.write_all(body)?;
            return err.flush();
        }
        let mut out = Vec::new();
        write_message(&mut out, tag, body)?;
        self.written += out.len() as u64;
        self.inner.write_all(&out)?;
        self.inner.flush()
    }

    /// An error line for the client's stderr.
    pub(super) fn error(&mut self, line: &str) -> io::Result<()> {
        self.message(Tag::Error, format!("{line}\n").as_bytes())
    }

    /// Bytes outside the frames, after what is gathered: below protocol 31 rsync sends
    /// `--files-from` names so, its framing off for them.
    pub(super) fn unframed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.send()?;
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)?;
        self.inner.flush()
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(self.buf.len() + self.buf.len() / DATA_FRAME * 4 + 4);
        frame_data(&mut out, &self.buf);
        self.buf.clear();
        self.written += out.len() as u64;
        self.inner.write_all(&out)
    }
}

impl<W: Write> Write for Out<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= DATA_FRAME {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.inner.flush()
    }
}

/// Reads one filter list (rsync's `recv_filter_list`): length-prefixed rules up to a 0.
/// Below protocol 29 the rules are rsync 2.6's: `+ ` or `- ` in front or not (an
/// exclude), and `!` alone clears; they come back in today's form.
pub(super) fn read_filters(r: &mut impl Read, protocol: i32) -> io::Result<Vec<Vec<u8>>> {
    let mut rules: Vec<Vec<u8>> = Vec::new();
    loop {
        let len = get_int(r)?;
        if len == 0 {
            if protocol < 29 {
                for rule in &mut rules {
                    if !(rule.starts_with(b"+ ") || rule.starts_with(b"- ") || rule == b"!") {
                        rule.splice(0..0, *b"- ");
                    }
                }
            }
            return Ok(rules);
        }
        if !(0..=8192).contains(&len) || rules.len() > 100_000 {
            return Err(invalid(format!("a filter rule of {len} bytes")));
        }
        let mut rule = vec![0u8; len as usize];
        r.read_exact(&mut rule)?;
        rules.push(rule);
    }
}

/// An index with its item flags, as a generator sends them (rsync's
/// `read_ndx_and_attrs`).
pub(super) struct Request {
    pub(super) ndx: i32,
    pub(super) iflags: u32,
    pub(super) basis: Option<u8>,
    pub(super) xname: Option<Vec<u8>>,
}

/// The next index and its attributes, after any deletion totals. Without `iflags`
/// (protocol 28) only the index comes, and it asks for a transfer.
pub(super) fn read_request(
    input: &mut impl Read,
    ndx_in: &mut NdxState,
    iflags: bool,
) -> io::Result<Request> {
    let ndx = loop {
        let ndx = ndx_in.get(input)?;
        if ndx >= 0 || ndx == NDX_DONE {
            break ndx;
        }
        if ndx == NDX_DEL_STATS {
            for _ in 0..5 {
                get_varint(input)?;
            }
            continue;
        }
        return Err(invalid(format!("an unexpected file index {ndx}")));
    };
    if ndx == NDX_DONE || !iflags {
        return Ok(Request {
            ndx,
            iflags: if ndx == NDX_DONE {
                0
            } else {
                itemize::TRANSFER
            },
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

/// Sends an index and its attributes back.
/// Without `iflags` (protocol 28) the index goes alone.
pub(super) fn echo(
    out: &mut impl Write,
    ndx_out: &mut NdxState,
    req: &Request,
    iflags: bool,
) -> io::Result<()> {
    let mut b = Vec::new();
    ndx_out.put(&mut b, req.ndx);
    if !iflags {
        return out.write_all(&b);
    }
    put_shortint(&mut b, req.iflags as u16);
    if let Some(basis) = req.basis {
        b.push(basis);
    }
    if let Some(xname) = &req.xname {
        put_vstring(&mut b, xname)?;
    }
    out.write_all(&b)
}

/// Sends one index alone (`NDX_DONE`, say).
pub(super) fn send_ndx(out: &mut impl Write, ndx_out: &mut NdxState, ndx: i32) -> io::Result<()> {
    let mut b = Vec::new();
    ndx_out.put(&mut b, ndx);
    out.write_all(&b)
}

/// Counts the bytes read through it, for the totals a sender reports.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The client's rules as prsync's filter list, or why one is not taken (a stock client
/// sends only rules rsync parses, so that is one prsync does not do). Per-folder merge files (`dir-merge`, `-F`,
/// `:C`) stay in it, to be read by the side that walks the tree, as rsync does.
pub(super) fn filter_list(rules: &[Vec<u8>]) -> Result<FilterList, String> {
    let mut list = FilterList::new();
    for rule in rules {
        list.push_filter(rule).map_err(|e| e.to_string())?;
    }
    Ok(list)
}
