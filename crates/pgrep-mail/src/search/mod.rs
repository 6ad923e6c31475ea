//! Searching one file: read it (decompressing), then grep its lines or its messages. A
//! large file is cut into pieces that the cores search at once, at message boundaries where
//! there are some, so that one big mbox keeps every core busy.

pub mod lines;
pub mod matcher;
pub mod messages;

use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use memchr::{memchr, memmem};
use rayon::prelude::*;

use crate::config::{Config, Report};
use crate::decompress;
use crate::mbox::{self, Message};
use crate::walk::Item;
use lines::Want;
use messages::Hit;

/// Files at least this large are searched by every core at once.
const SPLIT_MIN: usize = 8 << 20;
/// Pieces per core: more than one evens out pieces that take longer than others.
const PIECES_PER_CORE: usize = 4;
/// How far past a cut point a message boundary is looked for before a line boundary will do.
const BOUNDARY_WINDOW: usize = 256 << 10;

/// What searching one item produced, for the writer to print in order.
#[derive(Default)]
pub struct Outcome {
    /// The name shown for it (`(standard input)` for standard input).
    pub name: Vec<u8>,
    /// Its top-level folder (`--per-folder`).
    pub top: String,
    /// grep's output lines (line mode, `Report::Lines`).
    pub out: Vec<u8>,
    /// Selected lines (line mode).
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
}

/// Searches one item. `stop` is set once `-q` has its answer; later items are skipped.
pub fn item(cfg: &Config, item: &Item, stop: &AtomicBool) -> Outcome {
    let mut o = Outcome::default();
    let data = match item {
        Item::Stdin => {
            o.name = b"(standard input)".to_vec();
            o.top = "(standard input)".to_string();
            decompress::read_stdin()
        }
        Item::File { path, top } => {
            o.name = path.as_os_str().as_bytes().to_vec();
            o.top = top.clone();
            if stop.load(Ordering::Relaxed) {
                return o;
            }
            decompress::read_path(path)
        }
        Item::Error { path, reason, top } => {
            o.name = path.as_os_str().as_bytes().to_vec();
            o.top = top.clone();
            o.error = true;
            if !cfg.no_messages {
                o.notes.push(format!("{}: {reason}", path.display()));
            }
            return o;
        }
    };
    let data = match data {
        Ok(d) => d,
        Err(reason) => {
            o.error = true;
            if !cfg.no_messages {
                o.notes
                    .push(format!("{}: {reason}", String::from_utf8_lossy(&o.name)));
            }
            return o;
        }
    };
    if cfg.message_mode {
        search_messages(cfg, item, &data, &mut o);
    } else {
        search_lines(cfg, &data, &mut o);
    }
    let found = o.count > 0 || !o.hits.is_empty();
    if found && cfg.report == Report::Quiet {
        stop.store(true, Ordering::Relaxed);
    }
    o
}

fn search_lines(cfg: &Config, data: &[u8], o: &mut Outcome) {
    let decoded;
    let buf: &[u8] = if cfg.decode {
        decoded = decoded_text(data);
        decoded.as_deref().unwrap_or(data)
    } else {
        data
    };
    let binary = has_nul(buf);
    let want = match cfg.report {
        Report::Lines if binary => Want::Any,
        Report::Lines => Want::Print,
        Report::Count => Want::Count,
        _ => Want::Any,
    };
    let name = cfg.with_filename.then_some(o.name.as_slice());
    let splittable = want != Want::Print || (!cfg.context() && cfg.max_count.is_none());
    if buf.len() >= SPLIT_MIN && cfg.threads > 1 && splittable {
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
                let found = lines::search(cfg, name, &buf[s..e], first, want, &mut out);
                (found, out)
            })
            .collect();
        for (found, out) in results {
            o.count += found.count;
            o.printed |= found.printed;
            o.out.extend_from_slice(&out);
        }
        if let Some(max) = cfg.max_count {
            o.count = o.count.min(max);
        }
    } else {
        let found = lines::search(cfg, name, buf, 1, want, &mut o.out);
        o.count = found.count;
        o.printed = found.printed;
    }
    if binary && o.count > 0 && cfg.report == Report::Lines {
        o.notes.push(format!(
            "{}: binary file matches",
            String::from_utf8_lossy(&o.name)
        ));
    }
}

fn search_messages(cfg: &Config, item: &Item, data: &[u8], o: &mut Outcome) {
    let (msgs, alone) = if mbox::is_mbox(data) {
        (
            mbox::split_parallel(data, cfg.threads * PIECES_PER_CORE),
            false,
        )
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
        let metadata = matches!(item, Item::File { path, .. }
            if path.parent().is_some_and(crate::maildir::is_maildir));
        if !cfg.no_messages && !metadata && !data.is_empty() {
            o.notes.push(format!(
                "{}: not a mailbox (no `From ` line, no header), skipped",
                String::from_utf8_lossy(&o.name)
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
