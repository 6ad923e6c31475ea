//! Searching one file: read it, then grep its lines or its messages. A large file is cut
//! into pieces that the cores search at once, so that one big mbox keeps every core busy.
//! A large file is mapped; most line searches cut it at line boundaries and search each
//! piece a cache-sized chunk at a time ([`pieces`]); the others (line numbers, context,
//! `-m`, `--decode`, the message modes) cut it at message boundaries where there are some. A compressed file
//! is searched as it is decompressed, in bounded memory ([`stream`]).

pub mod budget;
pub mod gnu;
pub mod lines;
pub mod matcher;
pub mod messages;
pub mod perl;
pub mod pieces;
pub mod sparse;
pub mod spool;
pub mod stream;

use std::cell::Cell;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memchr::{memchr, memmem};
use rayon::prelude::*;

use crate::cli::BinaryFiles;
use crate::config::{Config, Report};
use crate::decompress::{self, Contents};
use crate::mbox::{self, Message};
use crate::walk::Item;
use lines::Want;
use messages::Hit;

/// Files at least this large are searched by every core at once.
const SPLIT_MIN: usize = 8 << 20;
/// Pieces per core: more than one evens out pieces that take longer than others.
const PIECES_PER_CORE: usize = 4;
/// GNU grep's read buffer: a file is binary to it from the buffer that holds a NUL on.
pub(crate) const GREP_BUFFER: usize = 96 << 10;

/// Where a file with its first NUL byte at `nul` becomes binary: after the last line that
/// ends a buffer's length or more before it. Lines before print as text, as grep's do
/// (it learns that a file is binary from the buffer that holds the NUL). The compressed
/// stream applies the same rule ([`stream`]), so a file prints the same packed or not.
pub(crate) fn binary_from(buf: &[u8], nul: usize, eol: u8) -> usize {
    let limit = nul.saturating_sub(GREP_BUFFER);
    memchr::memrchr(eol, &buf[..limit]).map_or(0, |i| i + 1)
}
/// How far past a cut point a message boundary is looked for before a line boundary will do.
const BOUNDARY_WINDOW: usize = 256 << 10;

/// What searching one item produced, for the writer to print in order.
#[derive(Default)]
pub struct Outcome {
    /// The name shown for it (`(standard input)` for standard input).
    pub name: Vec<u8>,
    /// Its top-level folder (`--per-folder`).
    pub top: Arc<str>,
    /// grep's output lines (line mode, `Report::Lines`).
    pub out: Vec<u8>,
    /// Selected lines (line mode); in message mode, matching messages not in `hits`,
    /// whose text is all of `spool` (a streamed file's, without `--unique`).
    pub count: u64,
    /// Matching messages (message mode).
    pub hits: Vec<Hit>,
    /// Whether a group of lines was printed (for `--` between files).
    pub printed: bool,
    /// Lines for standard error, without the `pgrep-mail: ` prefix.
    pub notes: Vec<String>,
    /// Whether it could not be searched.
    pub error: bool,
    /// Whether it was searched as a mailbox (message mode).
    pub mailbox: bool,
    /// A streamed file's output (its lines, or the text of its hits), which comes before
    /// `out`.
    pub spool: Option<spool::Spool>,
}

// The read buffer of the current search thread, reused from file to file (see
// [`decompress::read_path`]). It is taken out while a file is searched and put back after,
// so that a thread that picks up another file while it waits (rayon steals work inside the
// parallel search of a large file) finds an empty buffer rather than a borrowed one.
thread_local! {
    static READ_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A read buffer larger than this (grown for an unusually large file that could not be
/// mapped) is freed after use rather than kept by its thread.
const READ_BUF_KEEP_MAX: usize = 4 << 20;

/// Searches one item. `stop` is set once `-q` has its answer; later items are skipped.
pub fn item(cfg: &Config, item: Item, stop: &AtomicBool) -> Outcome {
    let mut o = Outcome::default();
    match item {
        Item::Stdin => {
            let label = cfg.label.as_slice();
            o.name = label.to_vec();
            o.top = Arc::from(String::from_utf8_lossy(label).as_ref());
            let whole = cfg.message_mode
                || cfg.decode
                || !(cfg.max_count.is_some() || cfg.report == Report::Quiet);
            // SAFETY: lseek with SEEK_CUR and offset 0 only asks where descriptor 0 stands.
            let start = unsafe { libc::lseek(0, 0, libc::SEEK_CUR) };
            let start = u64::try_from(start).ok();
            if is_the_output(cfg, std::fs::metadata("/dev/stdin").ok()) {
                o.failed(cfg, String::from_utf8_lossy(label), ALSO_OUTPUT);
                return o;
            }
            match decompress::read_stdin(whole) {
                Ok(decompress::Stdin::Plain(data)) => {
                    search_data(cfg, label, None, &data, false, &mut o)
                }
                Ok(decompress::Stdin::Compressed(input, format)) => {
                    stream::search_stdin(cfg, input, format, &mut o)
                }
                Ok(decompress::Stdin::Stream(input)) => {
                    stream::search_plain_stdin(cfg, label, input, start, &mut o)
                }
                Err(reason) => o.failed(cfg, String::from_utf8_lossy(label), &reason),
            }
        }
        Item::File { path, top, ino } => {
            o.top = top;
            let path = match cfg.bare_dot.then(|| path.strip_prefix("./")) {
                Some(Ok(rest)) => rest.to_path_buf(),
                _ => path,
            };
            let maybe_output = output_file().is_some_and(|(_, out)| ino.is_none_or(|i| i == out));
            if maybe_output && is_the_output(cfg, std::fs::metadata(&path).ok()) {
                o.failed(cfg, path.display(), ALSO_OUTPUT);
            } else if !stop.load(Ordering::Relaxed) {
                let mut buf = READ_BUF.take();
                search_file(cfg, &path, &mut buf, &mut o);
                if buf.len() <= READ_BUF_KEEP_MAX {
                    READ_BUF.set(buf);
                }
            }
            // The path becomes the name shown, without a copy.
            o.name = shown_name(cfg, path);
        }
        Item::Note { path, reason, top } => {
            o.top = top;
            if !cfg.no_messages {
                o.notes.push(format!("{}: {reason}", path.display()));
            }
            o.name = shown_name(cfg, path);
            return o;
        }
        Item::Error { path, reason, top } => {
            o.top = top;
            let name = shown_name(cfg, path);
            o.failed(cfg, String::from_utf8_lossy(&name), &reason);
            o.name = name;
            return o;
        }
    }
    let found = o.count > 0 || !o.hits.is_empty();
    if found && cfg.report == Report::Quiet {
        stop.store(true, Ordering::Relaxed);
    }
    o
}

/// Standard output's file, when it is a regular file: an input that is the same file would
/// grow as it is read, for ever.
fn output_file() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    static OUT: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    *OUT.get_or_init(|| {
        let meta = std::fs::metadata("/dev/stdout").ok()?;
        meta.file_type().is_file().then(|| (meta.dev(), meta.ino()))
    })
}

/// Whether `meta` is standard output's own file, and the search would print lines of it
/// (grep refuses that; `-q`, `-l`, `-L`, `-c` and `-m 1` print none, so are let through).
fn is_the_output(cfg: &Config, meta: Option<std::fs::Metadata>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(out) = output_file() else {
        return false;
    };
    let prints = cfg.report == Report::Lines && cfg.max_count.is_none_or(|m| m > 1);
    prints && meta.is_some_and(|m| (m.dev(), m.ino()) == out)
}

const ALSO_OUTPUT: &str = "input file is also the output";

/// The name a file is shown by: its path, without the `./` that `-r` with no PATH adds.
fn shown_name(cfg: &Config, path: std::path::PathBuf) -> Vec<u8> {
    let name = path.into_os_string().into_vec();
    if cfg.bare_dot {
        if let Some(rest) = name.strip_prefix(b"./") {
            return rest.to_vec();
        }
    }
    name
}

impl Outcome {
    /// Records that `shown` could not be searched, and why.
    fn failed(&mut self, cfg: &Config, shown: impl std::fmt::Display, reason: &str) {
        self.error = true;
        if !cfg.no_messages {
            self.notes.push(format!("{shown}: {reason}"));
        }
    }
}

/// Reads and searches the file at `path`, reading into `buf`.
fn search_file(cfg: &Config, path: &Path, buf: &mut Vec<u8>, o: &mut Outcome) {
    let name = path.as_os_str().as_bytes();
    match decompress::read_path(path, buf, true) {
        Ok(Contents::Whole(decompress::Data::Mapped(data))) => {
            search_data(cfg, name, Some(path), &data, true, o);
            if !data.intact() {
                // Cut short by another process while it was searched (a mail client
                // compacting the folder): what was found past the new end was zeros. It
                // is searched again as it is now, read, as grep would have read it.
                drop(data);
                *o = Outcome {
                    name: std::mem::take(&mut o.name),
                    top: o.top.clone(),
                    ..Outcome::default()
                };
                match decompress::read_path(path, buf, false) {
                    Ok(Contents::Whole(data)) => {
                        search_data(cfg, name, Some(path), &data, false, o)
                    }
                    Ok(Contents::Compressed { .. }) => o.failed(
                        cfg,
                        path.display(),
                        "changed while it was searched; search it again",
                    ),
                    Err(reason) => o.failed(cfg, path.display(), &reason),
                }
            }
        }
        Ok(Contents::Whole(data)) => search_data(cfg, name, Some(path), &data, false, o),
        Ok(Contents::Compressed { file, format }) => {
            stream::search_file(cfg, name, path, file, format, o)
        }
        Err(reason) => o.failed(cfg, path.display(), &reason),
    }
}

/// Searches the bytes of a file (at `path`) or of standard input, shown as `name`. `mapped`
/// says that `data` is a read-only mapping of the file, whose pages may be given back as
/// they are searched (see [`pieces`]).
fn search_data(
    cfg: &Config,
    name: &[u8],
    path: Option<&Path>,
    data: &[u8],
    mapped: bool,
    o: &mut Outcome,
) {
    if cfg.message_mode {
        search_messages(cfg, name, path, data, mapped, o);
    } else {
        search_lines(cfg, name, data, mapped, o);
    }
}

fn search_lines(cfg: &Config, name: &[u8], data: &[u8], mapped: bool, o: &mut Outcome) {
    let shown = cfg.with_filename.then_some(name);
    if data.len() >= SPLIT_MIN
        && pieces::applies(cfg)
        && pieces::search(cfg, data, mapped, name, shown, o)
    {
        return;
    }
    let decoded;
    let buf: &[u8] = if cfg.decode {
        decoded = decoded_text(data);
        decoded.as_deref().unwrap_or(data)
    } else {
        data
    };
    // Only printed lines and `-I` depend on whether the file is binary: spare the others a
    // pass over the file.
    let needs_binary = cfg.report == Report::Lines || cfg.binary == BinaryFiles::WithoutMatch;
    let mut binary =
        needs_binary && cfg.eol != 0 && cfg.binary != BinaryFiles::Text && has_nul(buf);
    if binary && cfg.binary == BinaryFiles::WithoutMatch {
        return;
    }
    let want = match cfg.report {
        Report::Lines if binary => Want::Any,
        Report::Lines => Want::Print,
        Report::Count => Want::Count,
        _ => Want::Any,
    };
    let splittable = (want != Want::Print || (!cfg.context() && cfg.max_count.is_none()))
        && !cfg.byte_offset
        && cfg.eol == b'\n';
    let mut encoding_error = false;
    if buf.len() >= SPLIT_MIN
        && cfg.threads > 1
        && splittable
        && !(binary && cfg.report == Report::Lines)
    {
        let bounds = piece_bounds(buf, cfg.threads * PIECES_PER_CORE);
        let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let mut first_lines = vec![1u64; pieces.len()];
        if cfg.line_number && want == Want::Print {
            let newlines: Vec<u64> = pieces
                .par_iter()
                .map(|&(s, e)| memchr::memchr_iter(b'\n', &buf[s..e]).count() as u64)
                .collect();
            for i in 1..pieces.len() {
                first_lines[i] = first_lines[i - 1] + newlines[i - 1];
            }
        }
        let results: Vec<(lines::Found, Vec<u8>)> = pieces
            .par_iter()
            .zip(first_lines)
            .map(|(&(s, e), first)| {
                let mut out = Vec::new();
                let found = lines::search(cfg, shown, &buf[s..e], first, s as u64, want, &mut out);
                (found, out)
            })
            .collect();
        for (found, out) in results {
            o.count += found.count;
            o.printed |= found.printed;
            o.out.extend_from_slice(&out);
            encoding_error |= found.encoding_error;
        }
        if let Some(max) = cfg.max_count {
            o.count = o.count.min(max);
        }
    } else if binary && cfg.report == Report::Lines {
        // grep reads a buffer at a time and learns that a file is binary from the buffer
        // that holds its first NUL byte: the lines before that buffer print as text.
        let nul = memchr(0, buf).unwrap_or(0);
        let cut = binary_from(buf, nul, cfg.eol);
        let text = lines::search(cfg, shown, &buf[..cut], 1, 0, Want::Print, &mut o.out);
        o.count = text.count;
        o.printed = text.printed;
        encoding_error = text.encoding_error;
        if cfg.max_count.is_none_or(|m| o.count < m) {
            let rest = lines::search(
                cfg,
                shown,
                &buf[cut..],
                1,
                cut as u64,
                Want::Any,
                &mut o.out,
            );
            o.count += rest.count;
            binary = rest.count > 0;
        } else {
            binary = false;
        }
    } else {
        let found = lines::search(cfg, shown, buf, 1, 0, want, &mut o.out);
        o.count = found.count;
        o.printed = found.printed;
        encoding_error = found.encoding_error;
    }
    let said = binary || (encoding_error && cfg.binary == BinaryFiles::Binary);
    if said && o.count > 0 && cfg.report == Report::Lines {
        o.notes.push(format!(
            "{}: binary file matches",
            String::from_utf8_lossy(name)
        ));
    }
}

fn search_messages(
    cfg: &Config,
    name: &[u8],
    path: Option<&Path>,
    data: &[u8],
    mapped: bool,
    o: &mut Outcome,
) {
    let pieces = cfg.threads * PIECES_PER_CORE;
    if mbox::is_mbox(data) && sparse::applies(cfg) {
        o.mailbox = true;
        let chosen = sparse::select(cfg, data, pieces, mapped);
        o.hits = messages::hits(cfg, data, &chosen, false);
        return;
    }
    if mbox::is_mbox(data) && messages::tests_all(cfg) {
        // Each message is tested by the core that splits it off, while it is still in that
        // core's cache: a large mbox is then read from memory once, not twice.
        let tested = mbox::split_parallel_with(data, pieces, &|m: &Message| {
            messages::matches(cfg, &data[m.start..m.end], m.header_end - m.start)
        });
        o.mailbox = true;
        let chosen = tested.iter().filter(|(_, keep)| *keep).map(|(m, _)| m);
        o.hits = messages::hits(cfg, data, chosen, false);
        return;
    }
    let (msgs, alone) = if mbox::is_mbox(data) {
        (mbox::split_parallel(data, pieces), false)
    } else if mbox::is_single_message(data) {
        let header_end = mbox::header_end(data, 0, data.len());
        (
            vec![Message {
                start: 0,
                header_end,
                end: data.len(),
            }],
            true,
        )
    } else {
        let metadata = path
            .and_then(Path::parent)
            .is_some_and(crate::maildir::is_maildir);
        if !cfg.no_messages && !metadata && !data.is_empty() {
            o.notes.push(format!(
                "{}: not a mailbox (no `From ` line, no header), skipped",
                String::from_utf8_lossy(name)
            ));
        }
        return;
    };
    o.mailbox = true;
    o.hits = messages::search(cfg, data, &msgs, alone);
}

/// The decoded text of a mailbox or message for `--decode`, or `None` when it is neither or
/// nothing in it is encoded.
fn decoded_text(data: &[u8]) -> Option<Vec<u8>> {
    let msgs = if mbox::is_mbox(data) {
        mbox::split(data)
    } else if mbox::is_single_message(data) {
        vec![Message {
            start: 0,
            header_end: mbox::header_end(data, 0, data.len()),
            end: data.len(),
        }]
    } else {
        return None;
    };
    let mut out = Vec::with_capacity(data.len());
    let mut changed = false;
    let mut at = 0;
    for m in msgs {
        out.extend_from_slice(&data[at..m.start]);
        match crate::mime::decode(&data[m.start..m.end], m.header_end - m.start) {
            Some(d) => {
                out.extend_from_slice(&d.text);
                changed = true;
            }
            None => out.extend_from_slice(&data[m.start..m.end]),
        }
        at = m.end;
    }
    out.extend_from_slice(&data[at..]);
    changed.then_some(out)
}

/// Whether `buf` holds a NUL byte, which makes it binary to grep.
fn has_nul(buf: &[u8]) -> bool {
    if buf.len() >= SPLIT_MIN {
        buf.par_chunks(1 << 20).any(|c| memchr(0, c).is_some())
    } else {
        memchr(0, buf).is_some()
    }
}

/// Cut points that split `buf` into about `pieces` pieces, each ending at a message
/// boundary when one is near, else at a line boundary.
fn piece_bounds(buf: &[u8], pieces: usize) -> Vec<usize> {
    let mut bounds = vec![0];
    let finder = memmem::Finder::new(b"\n\nFrom ");
    for k in 1..pieces {
        let target = (buf.len() / pieces * k).max(*bounds.last().unwrap_or(&0));
        let window = &buf[target..buf.len().min(target + BOUNDARY_WINDOW)];
        let cut = finder
            .find(window)
            .map(|i| target + i + 2)
            .or_else(|| memchr(b'\n', &buf[target..]).map(|i| target + i + 1))
            .unwrap_or(buf.len());
        if cut > *bounds.last().unwrap_or(&0) && cut < buf.len() {
            bounds.push(cut);
        }
    }
    bounds.push(buf.len());
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_message_boundaries() {
        let mut buf = Vec::new();
        for i in 0..2000 {
            buf.extend_from_slice(
                format!("From u{i} Mon Jan  1 00:00:00 2001\nSubject: x\n\nbody\n\n").as_bytes(),
            );
        }
        let bounds = piece_bounds(&buf, 8);
        assert_eq!(bounds.len(), 9);
        for b in &bounds[1..8] {
            assert!(buf[*b..].starts_with(b"From "), "cut at {b}");
        }
    }
}
