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
}

/// Searches `buf` (whose first line is line `first_line`), appending grep's output for it to
/// `out`. `name` is the file name to prefix, if lines carry one.
pub fn search(
    cfg: &Config,
    name: Option<&[u8]>,
    buf: &[u8],
    first_line: u64,
    want: Want,
    out: &mut Vec<u8>,
) -> Found {
    let mut sink = Sink {
        cfg,
        style: Style { color: cfg.color },
        name,
        buf,
        out,
        want,
        count: 0,
        ln_pos: 0,
        ln: first_line,
        last_printed: None,
        after_left: 0,
        done: false,
        printed: false,
    };
    if cfg.max_count == Some(0) {
        return Found::default();
    }
    if cfg.invert {
        let mut pos = 0;
        loop {
            let next = next_matching_line(cfg, buf, pos);
            let gap_end = next.map_or(buf.len(), |(s, _)| s);
            let mut at = pos;
            while at < gap_end && !sink.done {
                let e = memchr(b'\n', &buf[at..gap_end]).map_or(gap_end, |i| at + i + 1);
                sink.select(at, e);
                at = e;
            }
            match next {
                Some((_, e)) if !sink.done => pos = e,
                _ => break,
            }
        }
    } else {
        let mut pos = 0;
        while !sink.done {
            let Some((s, e)) = next_matching_line(cfg, buf, pos) else {
                break;
            };
            sink.select(s, e);
            pos = e;
        }
    }
    sink.finish();
    Found {
        count: sink.count,
        printed: sink.printed,
    }
}

/// The next line at or after `pos` (a line start) that holds a match, as `[start, end)`
/// with the newline.
fn next_matching_line(cfg: &Config, buf: &[u8], mut pos: usize) -> Option<(usize, usize)> {
    let m = &cfg.matcher;
    loop {
        if pos > buf.len() {
            return None;
        }
        let (ms, me) = m.find_at(buf, pos)?;
        if ms == buf.len() && (buf.is_empty() || buf[buf.len() - 1] == b'\n') {
            // An empty match after the last newline: there is no line there.
            return None;
        }
        let ls = memrchr(b'\n', &buf[pos..ms]).map_or(pos, |i| pos + i + 1);
        let content_end = memchr(b'\n', &buf[ms..]).map_or(buf.len(), |i| ms + i);
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

struct Sink<'a> {
    cfg: &'a Config,
    style: Style,
    name: Option<&'a [u8]>,
    buf: &'a [u8],
    out: &'a mut Vec<u8>,
    want: Want,
    count: u64,
    /// `ln` is the number of the line that starts at `ln_pos`.
    ln_pos: usize,
    ln: u64,
    /// The end of the last printed line.
    last_printed: Option<usize>,
    after_left: usize,
    done: bool,
    printed: bool,
}

impl Sink<'_> {
    fn select(&mut self, s: usize, e: usize) {
        self.count += 1;
        let capped = self.cfg.max_count.is_some_and(|m| self.count >= m);
        if self.want != Want::Print {
            self.done = capped || self.want == Want::Any;
            return;
        }
        if let Some(lp) = self.last_printed {
            if self.after_left > 0 {
                self.context_lines(lp, s, self.after_left);
            }
        }
        let floor = self.last_printed.unwrap_or(0);
        let mut ctx = s;
        for _ in 0..self.cfg.before {
            if ctx <= floor {
                break;
            }
            ctx = memrchr(b'\n', &self.buf[floor..ctx - 1]).map_or(floor, |i| floor + i + 1);
        }
        if self.cfg.context() && self.printed && Some(ctx) != self.last_printed {
            self.style.group_separator(self.out);
        }
        if ctx < s {
            self.context_lines(ctx, s, usize::MAX);
        }
        self.line(s, e, b':');
        self.printed = true;
        self.last_printed = Some(e);
        self.after_left = self.cfg.after;
        self.done = capped;
    }

    /// Prints up to `limit` context lines from `from` (a line start) to `to`.
    fn context_lines(&mut self, from: usize, to: usize, limit: usize) {
        let mut at = from;
        let mut n = 0;
        while at < to && n < limit {
            let e = memchr(b'\n', &self.buf[at..to]).map_or(to, |i| at + i + 1);
            self.line(at, e, b'-');
            self.last_printed = Some(e);
            if self.after_left > 0 {
                self.after_left -= 1;
            }
            n += 1;
            at = e;
        }
    }

    fn line_number(&mut self, at: usize) -> u64 {
        self.ln += memchr::memchr_iter(b'\n', &self.buf[self.ln_pos..at]).count() as u64;
        self.ln_pos = at;
        self.ln
    }

    fn prefix(&mut self, at: usize, sep: u8) {
        if let Some(name) = self.name {
            self.style.file(self.out, name);
            self.style.sep(self.out, sep);
        }
        if self.cfg.line_number {
            let n = self.line_number(at);
            self.style.line_number(self.out, n);
            self.style.sep(self.out, sep);
        }
    }

    fn line(&mut self, s: usize, e: usize, sep: u8) {
        let buf = self.buf;
        let content = &buf[s..if e > s && buf[e - 1] == b'\n' {
            e - 1
        } else {
            e
        }];
        let selected = sep == b':';
        if self.cfg.only_matching {
            if !selected || self.cfg.invert {
                return;
            }
            let mut parts = Vec::new();
            self.cfg
                .matcher
                .find_parts(content, |a, b| parts.push((a, b)));
            for (a, b) in parts {
                self.prefix(s, sep);
                self.style.matched(self.out, &content[a..b]);
                self.out.push(b'\n');
            }
            return;
        }
        self.prefix(s, sep);
        if self.style.color && selected && !self.cfg.invert {
            let mut last = 0;
            let style = self.style;
            let out = &mut *self.out;
            self.cfg.matcher.find_parts(content, |a, b| {
                out.extend_from_slice(&content[last..a]);
                style.matched(out, &content[a..b]);
                last = b;
            });
            out.extend_from_slice(&content[last..]);
        } else {
            self.out.extend_from_slice(content);
        }
        self.out.push(b'\n');
    }

    fn finish(&mut self) {
        if self.want == Want::Print && self.after_left > 0 {
            if let Some(lp) = self.last_printed {
                self.context_lines(lp, self.buf.len(), self.after_left);
            }
        }
    }
}
