//! Searching a compressed file, or compressed standard input, as it is decompressed, in a
//! window of bounded size: a few KiB of zstd can expand to many GiB, and anyone who can
//! write into a mail tree can leave such a file for whoever searches it.
//!
//! - **Line mode** reads a window at a time, searches the whole lines in it, and slides:
//!   what stays is the line not yet ended and the lines `-B` may still print. Line numbers,
//!   context, `--` between groups, `-m`, and the binary-file rule (a NUL byte anywhere
//!   makes the file binary; what was printed before it is found is dropped) carry from one
//!   window to the next ([`lines::Carry`]), so the output is that of one search over the
//!   whole contents. A line longer than [`WINDOW_MAX`] ends the file's search with an error
//!   naming the file and the limit.
//! - **Message modes** split the messages off as they arrive ([`mbox::message_in`] says
//!   when a message is settled). A message longer than [`WINDOW_MAX`] is reported and
//!   skipped, and the search goes on at the next one. With `--decode`, each message is
//!   decoded and its text flows into the line search; a message too long to decode is
//!   searched as stored.
//! - **Memory**: a stream reserves, before it starts, the most it can use (the window, the
//!   decoder's own memory, what decoding a message takes) from one budget shared by all
//!   search threads ([`budget`](super::budget)), and waits its turn when the budget is
//!   spent. Its output waits for the writer in a [`Spool`], on disk once it is large. So
//!   the peak stays under [`BUDGET`] plus what the process needs anyway, however many
//!   compressed files are in flight and whatever they expand to.
//! - **Decoder memory**: the decoder starts with the limits the common settings need
//!   ([`Limit::Small`]); a file made with a larger window or dictionary is searched again
//!   from its start with the larger limits and the larger reservation they need.
//!
//! Each stream is searched by one thread; other files use the other cores.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use memchr::{memchr, memrchr};

use super::budget::Budget;
use super::lines::{self, Carry, Want, SPILL_AT};
use super::messages;
use super::spool::Spool;
use super::Outcome;
use crate::config::{Config, Report};
use crate::decompress::{self, Format, Limit};
use crate::mbox::{self, Message};

/// The longest line, and the longest message, held in memory from a compressed file.
pub const WINDOW_MAX: usize = 32 << 20;

/// How much is decompressed between two searches: large enough that a search costs
/// nothing against it, small enough to stay in cache between the two.
const READ: usize = 1 << 20;

/// The memory all streams together may reserve. With the process's own few MiB, the peak
/// stays under 256 MiB.
pub const BUDGET: usize = 232 << 20;

/// The budget every stream reserves from.
static STREAMS: Budget = Budget::new(BUDGET);

/// Why a stream's search ended early.
enum Stop {
    /// Its decoder needs more memory than [`Limit::Small`] gives.
    NeedsLarge,
    /// It cannot go on, for this reason (lowercase, with what to do).
    Failed(String),
}

/// What a stream's search found, moved into its [`Outcome`] at the end: a search that is
/// started again leaves nothing behind.
#[derive(Default)]
struct Found {
    spool: Spool,
    count: u64,
    printed: bool,
    hits: Vec<messages::Hit>,
    notes: Vec<String>,
    mailbox: bool,
    /// Why it ended before the end of the file, if it did.
    failed: Option<String>,
    /// Whether some of it was not searched (said in `notes`).
    error: bool,
}

/// Searches the compressed `file` (of `format`), shown as `name`, into `o`.
pub fn search_file(
    cfg: &Config,
    name: &[u8],
    path: &Path,
    file: File,
    format: Format,
    o: &mut Outcome,
) {
    let shown = path.display().to_string();
    let mut limit = Limit::Small;
    loop {
        let open = |limit| -> Result<Box<dyn Read + Send + '_>, String> {
            (&file)
                .rewind()
                .map_err(|e| crate::io_reason(&e))
                .and_then(|()| {
                    decompress::decoder(format, &file, limit)
                        .map_err(|e| decompress::decode_reason(format, &e, &shown))
                })
        };
        match run(cfg, name, Some(path), format, limit, &shown, open) {
            Err(Stop::NeedsLarge) if limit == Limit::Small => limit = Limit::Large,
            Err(Stop::NeedsLarge) => {
                let e = std::io::Error::other("requires too much memory");
                o.failed(cfg, &shown, &decompress::decode_reason(format, &e, &shown));
                return;
            }
            Err(Stop::Failed(reason)) => {
                o.failed(cfg, &shown, &reason);
                return;
            }
            Ok(found) => {
                found.into_outcome(cfg, &shown, o);
                return;
            }
        }
    }
}

/// Searches compressed standard input (of `format`), which can be read once only, so with
/// the larger decoder limits from the start.
pub fn search_stdin(cfg: &Config, input: Box<dyn Read + Send>, format: Format, o: &mut Outcome) {
    let shown = "(standard input)";
    let mut input = Some(input);
    let open = |limit| -> Result<Box<dyn Read + Send>, String> {
        let input = input.take().expect("standard input is opened once");
        decompress::decoder(format, input, limit)
            .map_err(|e| decompress::decode_reason(format, &e, "-"))
    };
    match run(cfg, shown.as_bytes(), None, format, Limit::Large, "-", open) {
        Ok(found) => found.into_outcome(cfg, shown, o),
        Err(Stop::NeedsLarge) => {
            let e = std::io::Error::other("requires too much memory");
            o.failed(cfg, shown, &decompress::decode_reason(format, &e, "-"));
        }
        Err(Stop::Failed(reason)) => o.failed(cfg, shown, &reason),
    }
}

/// Searches plain standard input as it arrives, a window at a time, so that a search that
/// stops early (`-m`, `-q`) stops reading.
///
/// `start` is where standard input stood before it was read, if it can seek: once `-m`
/// is reached it is put back just past the last line selected, as grep does, so that the
/// next reader of a shared input (`{ grep -m1 x; cat; } < file`) goes on from there.
pub fn search_plain_stdin(
    cfg: &Config,
    name: &[u8],
    mut input: Box<dyn Read + Send>,
    start: Option<u64>,
    o: &mut Outcome,
) {
    let mut found = Found::default();
    let mut lines = Lines::new(cfg, name);
    // Standard input may be slow: its lines are searched as they come.
    lines.hold_back = false;
    loop {
        let room = match lines.room() {
            Ok(room) => room,
            Err(reason) => {
                found.failed = Some(reason);
                break;
            }
        };
        let want = room.len().min(READ);
        let n = loop {
            match input.read(&mut room[..want]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(crate::strerror(&e)),
                Ok(n) => break Ok(n),
            }
        };
        let n = match n {
            Ok(n) => n,
            Err(reason) => {
                found.failed = Some(reason);
                break;
            }
        };
        lines.win.len += n;
        let eof = n == 0;
        if !lines.search(eof) || eof {
            break;
        }
    }
    if let (Some(start), Some(at)) = (start, lines.carry.stopped_at) {
        if let Ok(to) = libc::off_t::try_from(start + at) {
            // SAFETY: lseek on descriptor 0 changes only its offset; a failure (not
            // seekable after all) leaves it where it is, which is what a pipe gets too.
            unsafe {
                libc::lseek(0, to, libc::SEEK_SET);
            }
        }
    }
    lines.into_found(&mut found);
    found.into_outcome(cfg, &String::from_utf8_lossy(name), o);
}

impl Found {
    fn into_outcome(mut self, cfg: &Config, shown: &str, o: &mut Outcome) {
        o.count = self.count;
        o.printed = self.printed;
        o.hits = self.hits;
        o.mailbox = self.mailbox;
        o.notes.append(&mut self.notes);
        o.error |= self.error;
        if let Some(reason) = self.failed.take() {
            o.failed(cfg, shown, &reason);
        }
        if let Some(reason) = self.spool.disk.error.take() {
            o.failed(cfg, shown, &reason);
        }
        if !self.spool.is_empty() {
            o.spool = Some(self.spool);
        }
    }
}

/// The most a stream of `format` takes under `limit`.
fn reservation(cfg: &Config, format: Format, limit: Limit) -> usize {
    let window = WINDOW_MAX + READ;
    let mut bytes = window + decompress::decoder_memory(format, limit) + 2 * SPILL_AT;
    if (cfg.message_mode && !cfg.filter.raw) || cfg.decode {
        // mail-parser's decoded parts, and the text spliced from them.
        bytes += 2 * WINDOW_MAX;
    }
    if cfg.decode {
        // The decoded text's own line window.
        bytes += window;
    }
    bytes
}

/// Reserves memory for one stream, opens it with `open` and searches it.
fn run<'r>(
    cfg: &Config,
    name: &[u8],
    path: Option<&Path>,
    format: Format,
    limit: Limit,
    shown: &str,
    open: impl FnOnce(Limit) -> Result<Box<dyn Read + Send + 'r>, String>,
) -> Result<Found, Stop> {
    let Some(_reserved) = STREAMS.reserve(reservation(cfg, format, limit)) else {
        return Err(if limit == Limit::Small {
            Stop::NeedsLarge
        } else {
            Stop::Failed(format!(
                "searching it this way takes more memory than pgrep-mail allows itself ({} MiB); decompress it and search the result",
                STREAMS.total() >> 20
            ))
        });
    };
    let mut input = Input {
        reader: open(limit).map_err(Stop::Failed)?,
        format,
        limit,
        shown,
    };
    let mut found = Found::default();
    if cfg.message_mode {
        search_messages(cfg, name, path, &mut input, &mut found)?;
    } else if cfg.decode {
        search_decoded(cfg, name, &mut input, &mut found)?;
    } else {
        let mut lines = Lines::new(cfg, name);
        loop {
            let room = match lines.room() {
                Ok(room) => room,
                Err(reason) => {
                    found.failed = Some(reason);
                    break;
                }
            };
            let n = input.read(room)?;
            lines.win.len += n;
            let eof = n == 0;
            if !lines.search(eof) || eof {
                break;
            }
        }
        lines.into_found(&mut found);
    }
    Ok(found)
}

/// A decoder, with what its errors need.
struct Input<'r, 's> {
    reader: Box<dyn Read + Send + 'r>,
    format: Format,
    limit: Limit,
    shown: &'s str,
}

impl Input<'_, '_> {
    /// Fills as much of `buf` as [`READ`] and the input allow; 0 at the end.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Stop> {
        let want = buf.len().min(READ);
        let mut filled = 0;
        while filled < want {
            match self.reader.read(&mut buf[filled..want]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if decompress::needs_more_memory(&e) && self.limit == Limit::Small => {
                    return Err(Stop::NeedsLarge)
                }
                Err(e) => {
                    return Err(Stop::Failed(decompress::decode_reason(
                        self.format,
                        &e,
                        self.shown,
                    )))
                }
            }
        }
        Ok(filled)
    }
}

/// A window's storage: allocated as the data needs it, up to [`WINDOW_MAX`] and a read.
struct Buf {
    data: Vec<u8>,
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            data: Vec::new(),
            len: 0,
        }
    }

    /// The room after the data, grown when it is short; `None` when the window is full.
    /// It starts small: most compressed files in a Maildir are a few KiB.
    fn room(&mut self) -> Option<&mut [u8]> {
        let cap = WINDOW_MAX + READ;
        let short = self.data.len() - self.len < READ.min(self.data.len() / 2).max(1);
        if short && self.data.len() < cap {
            let grown = (self.data.len() * 2).clamp(64 << 10, cap);
            self.data.resize(grown, 0);
        }
        (self.len < WINDOW_MAX).then(|| &mut self.data[self.len..])
    }

    /// Drops the first `n` bytes.
    fn drop_front(&mut self, n: usize) {
        self.data.copy_within(n..self.len, 0);
        self.len -= n;
    }

    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// grep's line search over a stream, a window at a time.
struct Lines<'c> {
    cfg: &'c Config,
    name: &'c [u8],
    shown: Option<&'c [u8]>,
    win: Buf,
    /// Where the lines not yet searched start.
    from: usize,
    /// The stream offset of the window's first byte.
    base: u64,
    carry: Carry,
    want: Want,
    /// Whether a NUL byte was met.
    binary: bool,
    /// Lines selected before it was.
    count_at_binary: u64,
    /// Whether lines are held back a buffer's length (compressed files; see `search`).
    hold_back: bool,
    spool: Spool,
}

impl<'c> Lines<'c> {
    fn new(cfg: &'c Config, name: &'c [u8]) -> Lines<'c> {
        Lines {
            cfg,
            name,
            shown: cfg.with_filename.then_some(name),
            win: Buf::new(),
            from: 0,
            base: 0,
            carry: Carry {
                line: 1,
                ..Carry::default()
            },
            want: match cfg.report {
                Report::Lines => Want::Print,
                Report::Count => Want::Count,
                _ => Want::Any,
            },
            binary: false,
            count_at_binary: 0,
            hold_back: true,
            spool: Spool::default(),
        }
    }

    /// Searches the lines from `self.from` up to `end` (a line start, or the end).
    fn search_range(&mut self, end: usize) {
        if end <= self.from {
            return;
        }
        if !self.carry.done || self.carry.after_left > 0 {
            let window = lines::Window {
                name: self.shown,
                buf: &self.win.data[..end],
                from: self.from,
                base: self.base,
            };
            let disk = &mut self.spool.disk;
            lines::search_window(
                self.cfg,
                window,
                self.want,
                &mut self.spool.mem,
                &mut |mem| disk.take(mem),
                &mut self.carry,
            );
        }
    }

    /// Room to read into; the error when the line not yet ended fills the window.
    fn room(&mut self) -> Result<&mut [u8], String> {
        let (base, from) = (self.base, self.from);
        self.win.room().ok_or_else(|| {
            format!(
                "the line at byte {} is longer than {} MiB, the longest pgrep-mail holds in memory from a compressed file; decompress the file and search the result",
                base + from as u64,
                WINDOW_MAX >> 20
            )
        })
    }

    /// Adds `bytes` to the stream, searching as the window fills. False once nothing more
    /// is wanted.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<bool, String> {
        while !bytes.is_empty() {
            let room = self.room()?;
            let n = room.len().min(bytes.len()).min(READ);
            room[..n].copy_from_slice(&bytes[..n]);
            self.win.len += n;
            bytes = &bytes[n..];
            if !self.search(false) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Searches the whole lines not yet searched (at the end, `eof`, the rest) and slides
    /// the window. False once nothing more is wanted.
    fn search(&mut self, eof: bool) -> bool {
        let print = self.cfg.report == Report::Lines;
        let nul_is_binary = print
            && self.cfg.eol != 0
            && self.cfg.binary != crate::cli::BinaryFiles::Text
            && !self.binary;
        // A compressed file holds back the last buffer's length of lines: a NUL byte in it
        // makes them binary (see `super::binary_from`), as in the file searched whole.
        let held = if self.hold_back && nul_is_binary && !eof {
            super::GREP_BUFFER
        } else {
            0
        };
        let end = if eof {
            self.win.len
        } else {
            let upto = self.win.len.saturating_sub(held);
            if upto <= self.from {
                return true;
            }
            match memrchr(self.cfg.eol, &self.win.bytes()[self.from..upto]) {
                Some(i) => self.from + i + 1,
                None => return true,
            }
        };
        let scan_to = if self.hold_back { self.win.len } else { end };
        let mut text_end = end;
        if nul_is_binary {
            if let Some(np) = memchr(0, &self.win.bytes()[self.from..scan_to]) {
                let at = self.from + np;
                let cut = if self.hold_back {
                    super::binary_from(self.win.bytes(), at, self.cfg.eol)
                } else {
                    memrchr(self.cfg.eol, &self.win.bytes()[self.from..at])
                        .map_or(self.from, |i| self.from + i + 1)
                };
                text_end = cut.clamp(self.from, end);
            }
        }
        self.search_range(text_end);
        if text_end < end {
            self.binary = true;
            self.want = Want::Any;
            self.count_at_binary = self.carry.count;
            self.from = text_end;
            self.search_range(end);
        }
        self.from = end;
        // As grep, reading stops once -m is reached: a NUL byte after that is not looked for.
        let more = !self.carry.done || self.carry.after_left > 0;
        if !more {
            return false;
        }
        let keep = self.context_start();
        if self.cfg.line_number {
            self.carry.line +=
                memchr::memchr_iter(self.cfg.eol, &self.win.bytes()[..keep]).count() as u64;
        }
        self.win.drop_front(keep);
        self.from -= keep;
        self.base += keep as u64;
        true
    }

    /// Where the lines `-B` may still print start: up to `-B` lines before `from`, none
    /// that were printed already.
    fn context_start(&self) -> usize {
        let buf = self.win.bytes();
        let floor = self
            .carry
            .last_printed
            .map_or(0, |lp| lp.saturating_sub(self.base) as usize)
            .min(self.from);
        let before = if self.want == Want::Print {
            self.cfg.before
        } else {
            0
        };
        let mut at = self.from;
        for _ in 0..before {
            if at <= floor {
                break;
            }
            at = memrchr(self.cfg.eol, &buf[floor..at - 1]).map_or(floor, |i| floor + i + 1);
        }
        at
    }

    fn into_found(self, found: &mut Found) {
        found.count = self.carry.count;
        found.printed = self.carry.printed;
        let said = (self.binary && self.carry.count > self.count_at_binary)
            || (self.carry.encoding_error
                && self.cfg.binary == crate::cli::BinaryFiles::Binary
                && self.carry.count > 0);
        if said && self.cfg.report == Report::Lines {
            found.notes.push(format!(
                "{}: binary file matches",
                String::from_utf8_lossy(self.name)
            ));
        }
        found.spool = self.spool;
    }
}

/// Line mode with `--decode`: each message's decoded text flows into the line search.
fn search_decoded(
    cfg: &Config,
    name: &[u8],
    input: &mut Input,
    found: &mut Found,
) -> Result<(), Stop> {
    let mut lines = Lines::new(cfg, name);
    let mut split = Split::new();
    loop {
        let more = match split.next(input)? {
            Event::End => break,
            Event::Gap(bytes) => lines.feed(bytes),
            Event::Message {
                raw, header_end, ..
            } => match crate::mime::decode(raw, header_end) {
                Some(d) => lines.feed(&d.text),
                None => lines.feed(raw),
            },
            Event::TooLarge { at } => {
                found.notes.push(format!(
                    "{}: the message at byte {at} is longer than {} MiB, the longest pgrep-mail decodes from a compressed file; it was searched as stored",
                    String::from_utf8_lossy(name),
                    WINDOW_MAX >> 20
                ));
                Ok(true)
            }
            Event::NotMailbox => Ok(true),
        };
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(reason) => {
                found.failed = Some(reason);
                break;
            }
        }
    }
    if found.failed.is_none() {
        lines.search(true);
    }
    lines.into_found(found);
    Ok(())
}

/// The message modes over a stream.
fn search_messages(
    cfg: &Config,
    name: &[u8],
    path: Option<&Path>,
    input: &mut Input,
    found: &mut Found,
) -> Result<(), Stop> {
    let stop_at_first = matches!(
        cfg.report,
        Report::Quiet | Report::FilesWith | Report::FilesWithout
    ) && !cfg.filter.unique;
    let mut split = Split::new();
    let mut chosen = 0u64;
    loop {
        match split.next(input)? {
            Event::End => break,
            Event::Gap(_) => {}
            Event::Message {
                raw,
                header_end,
                alone,
            } => {
                if cfg.max_count.is_some_and(|max| chosen >= max) {
                    break;
                }
                if !messages::matches(cfg, raw, header_end) {
                    continue;
                }
                chosen += 1;
                let m = Message {
                    start: 0,
                    header_end,
                    end: raw.len(),
                };
                for mut hit in messages::hits(cfg, raw, [&m], alone) {
                    let start = found.spool.len();
                    found.spool.write(&hit.text);
                    if hit.id.is_some() {
                        // `--unique` needs each message's id to tell whether to print it.
                        hit.span = Some((start, found.spool.len()));
                        hit.text = Vec::new();
                        found.hits.push(hit);
                    } else {
                        // A count rather than a hit each: a GiB of small messages would
                        // otherwise need a GiB of hits.
                        found.count += 1;
                    }
                }
                if stop_at_first {
                    break;
                }
            }
            Event::TooLarge { at } => {
                found.notes.push(format!(
                    "{}: the message at byte {at} is longer than {} MiB, the longest pgrep-mail holds in memory from a compressed file; it was skipped: decompress the file to search it",
                    String::from_utf8_lossy(name),
                    WINDOW_MAX >> 20
                ));
                found.error = true;
                if split.mailbox && matches!(split.state, State::Raw) {
                    // A message stored alone: nothing follows it.
                    break;
                }
            }
            Event::NotMailbox => {
                let metadata = path
                    .and_then(Path::parent)
                    .is_some_and(crate::maildir::is_maildir);
                if !cfg.no_messages && !metadata && !split.empty {
                    found.notes.push(format!(
                        "{}: not a mailbox (no `From ` line, no header), skipped",
                        String::from_utf8_lossy(name)
                    ));
                }
                break;
            }
        }
    }
    found.mailbox = split.mailbox;
    Ok(())
}

/// What [`Split::next`] found.
enum Event<'a> {
    /// Bytes that are no message's (before an mbox's first message, in a message too long
    /// to hold, or a whole file that is not a mailbox), for `--decode` to pass on.
    Gap(&'a [u8]),
    /// A message, header in `[0, header_end)`; `alone` when it is a file's only message,
    /// stored without a `From ` line.
    Message {
        raw: &'a [u8],
        header_end: usize,
        alone: bool,
    },
    /// The message at stream offset `at` is longer than the window; its bytes follow as
    /// gaps.
    TooLarge { at: u64 },
    /// The stream is neither an mbox nor a message; its bytes follow as gaps.
    NotMailbox,
    /// The end.
    End,
}

enum State {
    /// The kind of file is not known yet.
    Start,
    /// Looking for a separator at or after this window position.
    Seek(usize),
    /// A message starts the window.
    Message,
    /// The whole file is one message.
    Single,
    /// Everything left is a gap.
    Raw,
    Done,
}

/// An mbox, or a message stored alone, split into messages as it is decompressed.
struct Split {
    win: Buf,
    base: u64,
    eof: bool,
    state: State,
    /// Bytes to drop before the next event: the last event's.
    consumed: usize,
    /// Whether the stream is a mailbox (an mbox or a message).
    mailbox: bool,
    /// Whether the stream is empty.
    empty: bool,
}

impl Split {
    fn new() -> Split {
        Split {
            win: Buf::new(),
            base: 0,
            eof: false,
            state: State::Start,
            consumed: 0,
            mailbox: false,
            empty: false,
        }
    }

    /// Reads more into the window; false when it is full.
    fn fill(&mut self, input: &mut Input) -> Result<bool, Stop> {
        let Some(room) = self.win.room() else {
            return Ok(false);
        };
        let n = input.read(room)?;
        self.win.len += n;
        self.eof = n == 0;
        Ok(true)
    }

    fn full(&self) -> bool {
        self.win.len >= WINDOW_MAX
    }

    /// The next event.
    fn next(&mut self, input: &mut Input) -> Result<Event<'_>, Stop> {
        self.win.drop_front(self.consumed);
        self.base += self.consumed as u64;
        self.consumed = 0;
        loop {
            let buf = self.win.bytes();
            let len = buf.len();
            match self.state {
                State::Start => {
                    // The first line that is not blank decides, once it is whole.
                    let at = buf
                        .iter()
                        .position(|&b| b != b'\n' && b != b'\r')
                        .unwrap_or(len);
                    let whole = memchr(b'\n', &buf[at..]).is_some();
                    if !whole && !self.eof && !self.full() {
                        self.fill(input)?;
                        continue;
                    }
                    self.empty = len == 0;
                    self.state = if mbox::is_mbox(buf) {
                        self.mailbox = true;
                        State::Seek(0)
                    } else if mbox::is_single_message(buf) {
                        self.mailbox = true;
                        State::Single
                    } else {
                        self.state = State::Raw;
                        return Ok(Event::NotMailbox);
                    };
                }
                State::Seek(from) => {
                    // Only whole lines can be told to be separators or not.
                    let end = if self.eof {
                        len
                    } else {
                        memrchr(b'\n', buf).map_or(0, |i| i + 1)
                    };
                    if let Some(p) = mbox::next_separator(&buf[..end], from) {
                        self.state = State::Message;
                        if p > 0 {
                            self.consumed = p;
                            return Ok(Event::Gap(&self.win.bytes()[..p]));
                        }
                        continue;
                    }
                    if self.eof {
                        self.state = State::Done;
                        self.consumed = len;
                        return Ok(Event::Gap(&self.win.bytes()[..len]));
                    }
                    // Keep the last bytes looked at, which tell whether the next line
                    // follows a blank one.
                    let looked = if end > 0 { end } else { len };
                    let drop = looked.saturating_sub(3);
                    if drop > 0 {
                        self.state = State::Seek(looked - drop);
                        self.consumed = drop;
                        return Ok(Event::Gap(&self.win.bytes()[..drop]));
                    }
                    self.fill(input)?;
                }
                State::Message => {
                    if len == 0 && self.eof {
                        self.state = State::Done;
                        continue;
                    }
                    let full = self.full();
                    if let Some(m) = mbox::message_in(buf, 0, self.eof, full) {
                        self.consumed = m.end;
                        return Ok(Event::Message {
                            raw: &self.win.bytes()[..m.end],
                            header_end: m.header_end,
                            alone: false,
                        });
                    }
                    if full {
                        self.state = State::Seek(1);
                        return Ok(Event::TooLarge { at: self.base });
                    }
                    self.fill(input)?;
                }
                State::Single => {
                    if self.eof {
                        self.state = State::Done;
                        self.consumed = len;
                        let buf = self.win.bytes();
                        return Ok(Event::Message {
                            raw: buf,
                            header_end: mbox::header_end(buf, 0, len),
                            alone: true,
                        });
                    }
                    if self.full() {
                        self.state = State::Raw;
                        return Ok(Event::TooLarge { at: self.base });
                    }
                    self.fill(input)?;
                }
                State::Raw => {
                    if len > 0 {
                        self.consumed = len;
                        return Ok(Event::Gap(&self.win.bytes()[..len]));
                    }
                    if self.eof {
                        self.state = State::Done;
                        continue;
                    }
                    self.fill(input)?;
                }
                State::Done => return Ok(Event::End),
            }
        }
    }
}
