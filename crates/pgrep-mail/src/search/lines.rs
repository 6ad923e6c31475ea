//! grep's line mode over one buffer: find matches buffer-wide, widen each to its line, and
//! hand the selected lines to a [`Sink`] that does grep's counting, context, `-m`, `-o` and
//! prefixes.

use memchr::{memchr, memrchr};

use crate::config::Config;
use crate::output::Style;

/// What the caller wants from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Print the selected lines (grep's normal output).
    Print,
    /// Only count them.
    Count,
    /// Only learn whether there is one.
    Any,
}

/// The outcome of searching one buffer.
#[derive(Debug, Default)]
pub struct Found {
    /// Selected lines (capped by `-m`).
    pub count: u64,
    /// Whether a group of lines was printed (for `--` between files).
    pub printed: bool,
    /// Whether a line to print was not valid UTF-8 (so not printed).
    pub encoding_error: bool,
}

/// Searches `buf` (whose first line is line `first_line`), appending grep's output for it to
/// `out`. `name` is the file name to prefix, if lines carry one.
pub fn search(
    cfg: &Config,
    name: Option<&[u8]>,
    buf: &[u8],
    first_line: u64,
    base: u64,
    want: Want,
    out: &mut Vec<u8>,
) -> Found {
    let mut carry = Carry {
        line: first_line,
        ..Carry::default()
    };
    search_window(
        cfg,
        Window {
            name,
            buf,
            from: 0,
            base,
        },
        want,
        out,
        &mut |_| {},
        &mut carry,
    );
    Found {
        count: carry.count,
        printed: carry.printed,
        encoding_error: carry.encoding_error,
    }
}

/// Where a line search stands between two windows of one stream: what
/// [`search_window`] hands from one to the next so that the output is that of one search
/// over the whole stream.
#[derive(Debug, Default, Clone)]
pub struct Carry {
    /// Selected lines so far.
    pub count: u64,
    /// Whether a group of lines was printed.
    pub printed: bool,
    /// Whether no more lines are selected (`-m` reached, or [`Want::Any`] answered).
    pub done: bool,
    /// After-context lines still to print.
    pub after_left: usize,
    /// The stream offset just past the last printed line.
    pub last_printed: Option<u64>,
    /// The number of the line that starts the window.
    pub line: u64,
    /// Whether a line to print was not valid UTF-8 (so not printed).
    pub encoding_error: bool,
    /// The stream offset just past the line that reached `-m`.
    pub stopped_at: Option<u64>,
}

/// One window of a stream: `buf` holds whole lines (the last may lack its newline only at
/// the end of the stream); those before `from` were searched already and are kept for
/// `-B`; `buf[0]` is at stream offset `base`.
#[derive(Clone, Copy)]
pub struct Window<'a> {
    /// The file name to prefix, if lines carry one.
    pub name: Option<&'a [u8]>,
    /// The lines.
    pub buf: &'a [u8],
    /// Where the lines not yet searched start.
    pub from: usize,
    /// The stream offset of `buf[0]`.
    pub base: u64,
}

/// How much output a search holds before it hands it to its `spill`.
pub const SPILL_AT: usize = 1 << 20;

/// Searches the lines of `w.buf` from `w.from` on, carrying on from `carry` (and updating
/// it), and prints the after-context that falls inside the window. Output goes to `out`;
/// whenever it holds [`SPILL_AT`] bytes or more, `spill` is called to take it away, so
/// that a stream's output need not fit in memory.
pub fn search_window(
    cfg: &Config,
    w: Window,
    want: Want,
    out: &mut Vec<u8>,
    spill: &mut dyn FnMut(&mut Vec<u8>),
    carry: &mut Carry,
) {
    let buf = w.buf;
    let mut sink = Sink {
        cfg,
        style: Style { color: cfg.color },
        name: w.name,
        buf,
        base: w.base,
        out,
        spill,
        want,
        count: carry.count,
        ln_pos: 0,
        ln: carry.line,
        last_printed: carry.last_printed,
        after_left: carry.after_left,
        done: carry.done || cfg.max_count == Some(0),
        printed: carry.printed,
        encoding_error: carry.encoding_error,
        eol: cfg.eol,
        stopped_at: carry.stopped_at,
    };
    if cfg.invert {
        let mut pos = w.from;
        while !sink.done {
            let next = next_matching_line(cfg, buf, pos);
            let gap_end = next.map_or(buf.len(), |(s, _)| s);
            let mut at = pos;
            while at < gap_end && !sink.done {
                let e = memchr(cfg.eol, &buf[at..gap_end]).map_or(gap_end, |i| at + i + 1);
                sink.select(at, e);
                at = e;
            }
            match next {
                Some((_, e)) => pos = e,
                None => break,
            }
        }
    } else {
        let mut pos = w.from;
        while !sink.done {
            let Some((s, e)) = next_matching_line(cfg, buf, pos) else {
                break;
            };
            sink.select(s, e);
            pos = e;
        }
    }
    sink.finish();
    carry.count = sink.count;
    carry.printed = sink.printed;
    carry.done = sink.done;
    carry.after_left = sink.after_left;
    carry.last_printed = sink.last_printed;
    carry.encoding_error = sink.encoding_error;
    carry.stopped_at = sink.stopped_at;
}

/// The next line at or after `pos` (a line start) that holds a match, as `[start, end)`
/// with the newline.
fn next_matching_line(cfg: &Config, buf: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let m = &cfg.matcher;
    let eol = cfg.eol;
    loop {
        if pos > buf.len() {
            return None;
        }
        let (ms, me) = m.find_at(buf, pos)?;
        if ms == buf.len() && (buf.is_empty() || buf[buf.len() - 1] == eol) {
            // An empty match after the last newline: there is no line there.
            return None;
        }
        let ls = memrchr(eol, &buf[pos..ms]).map_or(pos, |i| pos + i + 1);
        let content_end = memchr(eol, &buf[ms..]).map_or(buf.len(), |i| ms + i);
        let le = (content_end + 1).min(buf.len());
        if m.crosses_lines() && me > content_end && !m.is_match(&buf[ls..content_end]) {
            pos = le;
            if le == buf.len() {
                return None;
            }
            continue;
        }
        return Some((ls, le));
    }
}

fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Spaces that right-align `n` in `width` columns.
fn pad(out: &mut Vec<u8>, width: usize, n: u64) {
    for _ in digits(n)..width {
        out.push(b' ');
    }
}

struct Sink<'a> {
    cfg: &'a Config,
    style: Style,
    name: Option<&'a [u8]>,
    buf: &'a [u8],
    /// The stream offset of `buf[0]`.
    base: u64,
    out: &'a mut Vec<u8>,
    spill: &'a mut dyn FnMut(&mut Vec<u8>),
    want: Want,
    count: u64,
    /// `ln` is the number of the line that starts at `ln_pos`.
    ln_pos: usize,
    ln: u64,
    /// The stream offset just past the last printed line.
    last_printed: Option<u64>,
    after_left: usize,
    done: bool,
    printed: bool,
    encoding_error: bool,
    eol: u8,
    stopped_at: Option<u64>,
}

impl Sink<'_> {
    fn select(&mut self, s: usize, e: usize) {
        self.count += 1;
        let capped = self.cfg.max_count.is_some_and(|m| self.count >= m);
        if capped {
            self.stopped_at = Some(self.base + e as u64);
        }
        if self.want != Want::Print {
            self.done = capped || self.want == Want::Any;
            return;
        }
        if self.after_left > 0 {
            if let Some(lp) = self.local(self.last_printed) {
                self.context_lines(lp, s, self.after_left);
            }
        }
        let floor = self.local(self.last_printed).unwrap_or(0);
        let mut ctx = s;
        for _ in 0..self.cfg.before {
            if ctx <= floor {
                break;
            }
            ctx = memrchr(self.eol, &self.buf[floor..ctx - 1]).map_or(floor, |i| floor + i + 1);
        }
        if let (true, true, Some(sep)) = (
            self.cfg.context(),
            self.printed && Some(self.base + ctx as u64) != self.last_printed,
            &self.cfg.group_separator,
        ) {
            self.style.group_separator(self.out, sep);
        }
        if ctx < s {
            self.context_lines(ctx, s, usize::MAX);
        }
        self.line(s, e, b':');
        self.printed = true;
        self.last_printed = Some(self.base + e as u64);
        self.after_left = self.cfg.after;
        self.done = capped;
    }

    /// Prints up to `limit` context lines from `from` (a line start) to `to`.
    fn context_lines(&mut self, from: usize, to: usize, limit: usize) {
        let mut at = from;
        let mut n = 0;
        while at < to && n < limit {
            let e = memchr(self.eol, &self.buf[at..to]).map_or(to, |i| at + i + 1);
            self.line(at, e, b'-');
            self.last_printed = Some(self.base + e as u64);
            if self.after_left > 0 {
                self.after_left -= 1;
            }
            n += 1;
            at = e;
        }
    }

    /// A stream offset as a position in the window; one before the window is its start
    /// (the window keeps every line that context may need).
    fn local(&self, at: Option<u64>) -> Option<usize> {
        at.map(|a| a.saturating_sub(self.base) as usize)
    }

    /// Hands the output to the spill once it is large.
    fn settle(&mut self) {
        if self.out.len() >= SPILL_AT {
            (self.spill)(self.out);
        }
    }

    fn line_number(&mut self, at: usize) -> u64 {
        self.ln += memchr::memchr_iter(self.eol, &self.buf[self.ln_pos..at]).count() as u64;
        self.ln_pos = at;
        self.ln
    }

    /// The prefix of the line at `at`: file name, line number, byte offset of `offset`
    /// (the line's start, or with `-o` the match's), and with `-T` a tab before a
    /// non-empty line.
    fn prefix(&mut self, at: usize, offset: usize, sep: u8, empty: bool) {
        let cfg = self.cfg;
        if let Some(name) = self.name {
            self.style.file(self.out, name);
            if cfg.null {
                self.out.push(0);
            } else {
                self.style.sep(self.out, sep);
            }
        }
        // With -T, grep pads numbers to the width of the file's size plus one.
        let width = if cfg.initial_tab {
            digits(self.base + self.buf.len() as u64 + 1)
        } else {
            0
        };
        if cfg.line_number {
            let n = self.line_number(at);
            pad(self.out, width, n);
            self.style.line_number(self.out, n);
            self.style.sep(self.out, sep);
        }
        if cfg.byte_offset {
            let n = self.base + offset as u64;
            pad(self.out, width, n);
            self.style.byte_offset(self.out, n);
            self.style.sep(self.out, sep);
        }
        if cfg.initial_tab && !empty && (self.name.is_some() || cfg.line_number || cfg.byte_offset)
        {
            self.out.push(b'\t');
        }
    }

    fn line(&mut self, s: usize, e: usize, sep: u8) {
        let buf = self.buf;
        let eol = self.eol;
        let content = &buf[s..if e > s && buf[e - 1] == eol { e - 1 } else { e }];
        let selected = sep == b':';
        let cfg = self.cfg;
        if cfg.utf8
            && cfg.binary != crate::cli::BinaryFiles::Text
            && std::str::from_utf8(content).is_err()
        {
            // grep: a line that is not text in this locale is not printed, and the file
            // then "matches" as a binary one (said at its end).
            self.encoding_error = true;
            return;
        }
        if cfg.only_matching {
            // -o prints the matches of the lines that hold some: with -v those are the
            // context lines, as in grep.
            if selected == cfg.invert {
                return;
            }
            cfg.matcher.find_parts(content, |a, b| {
                self.prefix(s, s + a, sep, false);
                self.style.matched(self.out, &content[a..b]);
                self.out.push(eol);
                self.settle();
            });
            return;
        }
        self.prefix(s, s, sep, content.is_empty());
        if self.style.color && selected && !cfg.invert {
            let mut last = 0;
            cfg.matcher.find_parts(content, |a, b| {
                self.out.extend_from_slice(&content[last..a]);
                self.style.matched(self.out, &content[a..b]);
                last = b;
                self.settle();
            });
            self.out.extend_from_slice(&content[last..]);
        } else {
            self.out.extend_from_slice(content);
        }
        self.out.push(eol);
        self.settle();
    }

    fn finish(&mut self) {
        if self.want == Want::Print && self.after_left > 0 {
            if let Some(lp) = self.local(self.last_printed) {
                self.context_lines(lp, self.buf.len(), self.after_left);
            }
        }
    }
}
