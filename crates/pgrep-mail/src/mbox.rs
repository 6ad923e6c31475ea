//! Splitting an mbox into messages, and writing a message as mbox.
//!
//! A message starts at a `From ` line that follows a blank line (or starts the file) and
//! carries a time (`13:17:17`), which is how grepmail's Mail::Mbox::MessageParser tells a
//! separator from a body line that happens to start with "From ". Two exceptions make a
//! `From ` line part of the body:
//!
//! - mboxcl2: a `Content-Length:` header that lands exactly on the next separator (or the
//!   end of the file) fixes the body length, so unescaped `From ` lines inside stay there;
//! - a multipart message runs to its closing boundary (`--BOUNDARY--`), so a mailbox
//!   forwarded as a `message/rfc822` attachment stays inside its message.
//!
//! CRLF mailboxes work the same way: a line holding only `\r` is blank.
//!
//! A large mbox is split for the cores by [`split_parallel`]: each core splits its own
//! stretch, starting at the first separator in it, and the stretches are joined in order,
//! resynchronising where one message ran past its stretch.

use std::sync::OnceLock;

use memchr::{memchr, memmem};
use rayon::prelude::*;

/// One message: `[start, end)` of the mailbox, with the header (the `From ` line, the
/// fields and the blank line after them) in `[start, header_end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// First byte (of the `From ` line, in an mbox).
    pub start: usize,
    /// First byte of the body.
    pub header_end: usize,
    /// One past the last byte (the next message's `From ` line, or the end of the file).
    pub end: usize,
}

/// Below this size a mailbox is split on one core.
const PARALLEL_SPLIT_MIN: usize = 4 << 20;

/// Whether `buf` is an mbox: its first line that is not blank is a `From ` separator.
pub fn is_mbox(buf: &[u8]) -> bool {
    let mut at = 0;
    while at < buf.len() && (buf[at] == b'\n' || buf[at] == b'\r') {
        at += 1;
    }
    buf[at..].starts_with(b"From ") && has_time(line_at(buf, at))
}

/// Whether `buf` looks like one message stored alone (Maildir, MH): it starts with a header
/// field (`Name: value`).
pub fn is_single_message(buf: &[u8]) -> bool {
    let line = line_at(buf, 0);
    match memchr(b':', line) {
        Some(colon) if colon > 0 => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// The line starting at `at`, without its newline.
fn line_at(buf: &[u8], at: usize) -> &[u8] {
    let rest = &buf[at..];
    &rest[..memchr(b'\n', rest).unwrap_or(rest.len())]
}

/// Whether a `From ` line carries a time, `:dd`.
fn has_time(line: &[u8]) -> bool {
    line.windows(3)
        .any(|w| w[0] == b':' && w[1].is_ascii_digit() && w[2].is_ascii_digit())
}

/// Whether the line starting at `at` (after a newline, or at 0) follows a blank line.
fn after_blank_line(buf: &[u8], at: usize) -> bool {
    if at == 0 {
        return true;
    }
    // buf[at - 1] is the previous line's '\n'.
    let p = at - 1;
    p == 0 || buf[p - 1] == b'\n' || (p >= 2 && buf[p - 1] == b'\r' && buf[p - 2] == b'\n')
}

/// Whether a message starts at `at`.
fn is_separator(buf: &[u8], at: usize) -> bool {
    buf[at..].starts_with(b"From ") && after_blank_line(buf, at) && has_time(line_at(buf, at))
}

/// The first separator at or after `from`.
pub fn next_separator(buf: &[u8], from: usize) -> Option<usize> {
    if from == 0 && is_separator(buf, 0) {
        return Some(0);
    }
    // Built once: a message's end is looked for from every message.
    static FINDER: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    let finder = FINDER.get_or_init(|| memmem::Finder::new(b"\nFrom "));
    let mut at = from.saturating_sub(1);
    while let Some(i) = finder.find(&buf[at..]) {
        let line = at + i + 1;
        if line >= from && is_separator(buf, line) {
            return Some(line);
        }
        at += i + 1;
    }
    None
}

/// The last separator in `[from, at]`, where `from` is a message's start and no message
/// starting in `[from, at]` has a field that lets it run past its next separator (see
/// [`stretching_field_at`]): every separator there starts a message, so the last one starts
/// the message that holds `at`. `from` when there is none after it.
pub fn last_separator(buf: &[u8], from: usize, at: usize) -> usize {
    static FINDER: OnceLock<memmem::FinderRev<'static>> = OnceLock::new();
    let finder = FINDER.get_or_init(|| memmem::FinderRev::new(b"\nFrom "));
    // A separator at `line <= at` has its "\nFrom " in [line - 1, line + 5).
    let mut end = buf.len().min(at + 5);
    while let Some(i) = finder.rfind(&buf[from..end]) {
        let line = from + i + 1;
        if is_separator(buf, line) {
            return line;
        }
        end = from + i + 5;
    }
    from
}

/// Whether the `-` at `i` is the one of a `Content-Length:` field, or of a `Content-Type:`
/// field whose value starts with "multipart" (both in any case, anywhere): the fields that
/// let [`message_at`] end a message past the next separator. Wherever `message_at` reads
/// one (the first `Content-Type:`, unfolded and trimmed), this finds it; it also finds them
/// in bodies and after the first, which only costs a closer look at their message.
pub fn stretching_field_at(buf: &[u8], i: usize) -> bool {
    if i < 7 || !buf[i - 7..i].eq_ignore_ascii_case(b"content") {
        return false;
    }
    let rest = &buf[i + 1..];
    if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"length:") {
        return true;
    }
    if rest.len() < 5 || !rest[..5].eq_ignore_ascii_case(b"type:") {
        return false;
    }
    // The value's first word, past blanks and folded line ends.
    let value = &rest[5..];
    let skip = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    value[skip..]
        .get(..9)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"multipart"))
}

/// The first byte of the body: after the first blank line at or after `start`.
pub fn header_end(buf: &[u8], start: usize, end: usize) -> usize {
    let mut at = start;
    while let Some(i) = memchr(b'\n', &buf[at..end]) {
        let nl = at + i;
        let next = &buf[nl + 1..end];
        if next.first() == Some(&b'\n') {
            return nl + 2;
        }
        if next.starts_with(b"\r\n") {
            return nl + 3;
        }
        at = nl + 1;
    }
    end
}

/// A header field's first value (unfolded, trimmed), found case-insensitively in `header`.
pub fn field(header: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut first = None;
    fields(header, name, |v| {
        first = Some(v);
        false
    });
    first
}

/// Calls `each` with every value of the field `name` (unfolded, trimmed) until it returns
/// false.
pub fn fields(header: &[u8], name: &str, mut each: impl FnMut(Vec<u8>) -> bool) {
    let mut at = 0;
    while at < header.len() {
        let line = line_at(header, at);
        let next = at + line.len() + 1;
        if line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            let mut value = line[name.len() + 1..].to_vec();
            let mut more = next;
            while more < header.len() && (header[more] == b' ' || header[more] == b'\t') {
                let cont = line_at(header, more);
                value.push(b' ');
                value.extend_from_slice(cont.trim_ascii());
                more += cont.len() + 1;
            }
            if !each(value.trim_ascii().to_vec()) {
                return;
            }
        }
        at = next;
    }
}

/// The multipart boundary named in a header, if the message is multipart.
fn multipart_boundary(header: &[u8]) -> Option<Vec<u8>> {
    let value = field(header, "Content-Type")?;
    let lower = value.to_ascii_lowercase();
    if !lower.starts_with(b"multipart") {
        return None;
    }
    let at = memmem::find(&lower, b"boundary")?;
    let rest = value[at + 8..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let boundary = if let Some(quoted) = rest.strip_prefix(b"\"") {
        &quoted[..memchr(b'"', quoted)?]
    } else {
        let end = rest
            .iter()
            .position(|&b| b == b';' || b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        &rest[..end]
    };
    (!boundary.is_empty()).then(|| boundary.to_vec())
}

/// The message that starts at `start`.
pub fn message_at(buf: &[u8], start: usize) -> Message {
    let body = header_end(buf, start, buf.len());
    let header = &buf[start..body];
    // mboxcl2: trust Content-Length when it lands on a separator or the end.
    if let Some(n) = field(header, "Content-Length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok())
    {
        let end = body.saturating_add(n);
        if end == buf.len() {
            return Message {
                start,
                header_end: body,
                end,
            };
        }
        if end < buf.len() {
            for skip in [0usize, 1, 2] {
                let at = end + skip;
                if at < buf.len()
                    && buf[end..at].iter().all(|&b| b == b'\n' || b == b'\r')
                    && is_separator(buf, at)
                {
                    return Message {
                        start,
                        header_end: body,
                        end: at,
                    };
                }
            }
        }
    }
    let mut search = body;
    if let Some(boundary) = multipart_boundary(header) {
        let mut closing = b"\n--".to_vec();
        closing.extend_from_slice(&boundary);
        closing.extend_from_slice(b"--");
        if let Some(i) = memmem::find(&buf[body.saturating_sub(1)..], &closing) {
            search = body.saturating_sub(1) + i + closing.len();
        }
    }
    let end = next_separator(buf, search.max(start + 1)).unwrap_or(buf.len());
    Message {
        start,
        header_end: body,
        end,
    }
}

/// The message that starts at `start` of a window onto a stream that may go on past
/// `buf` (unless `eof`), or `None` when what follows the window could still change it:
/// [`message_at`] on the whole stream gives the same message whenever this gives one.
///
/// What [`message_at`] decides from bytes past the window: the end of the header (a blank
/// line), whether a `Content-Length:` lands on a separator (which needs that separator's
/// whole line), the closing boundary of a multipart message, and the next separator. A
/// separator it does find is final, since a `From ` line's time stays found however the
/// line goes on.
///
/// `full` says the window cannot grow: a `Content-Length:` or a closing boundary that
/// would be past it could only make the message longer than the window, so it is not
/// waited for, and the message ends at the next separator.
pub fn message_in(buf: &[u8], start: usize, eof: bool, full: bool) -> Option<Message> {
    if eof {
        return Some(message_at(buf, start));
    }
    let body = header_end(buf, start, buf.len());
    if body == buf.len() {
        return None;
    }
    let header = &buf[start..body];
    if let Some(n) = field(header, "Content-Length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok())
    {
        // The separator may start up to two bytes past the end, and its line must be whole.
        let end = body.saturating_add(n);
        let settled = end
            .checked_add(2)
            .filter(|&at| at < buf.len())
            .is_some_and(|at| memchr(b'\n', &buf[at..]).is_some());
        if !settled && !full {
            return None;
        }
    }
    if let Some(boundary) = multipart_boundary(header).filter(|_| !full) {
        let mut closing = b"\n--".to_vec();
        closing.extend_from_slice(&boundary);
        closing.extend_from_slice(b"--");
        memmem::find(&buf[body.saturating_sub(1)..], &closing)?;
    }
    let m = message_at(buf, start);
    (m.end < buf.len()).then_some(m)
}

/// Every message of an mbox, in order. Bytes before the first separator are not a message.
pub fn split(buf: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let Some(mut at) = next_separator(buf, 0) else {
        return out;
    };
    while at < buf.len() {
        let m = message_at(buf, at);
        at = m.end;
        out.push(m);
    }
    out
}

/// [`split`] on every core, for large mailboxes.
pub fn split_parallel(buf: &[u8], pieces: usize) -> Vec<Message> {
    split_parallel_with(buf, pieces, &|_| ())
        .into_iter()
        .map(|(m, ())| m)
        .collect()
}

/// [`split_parallel`], calling `each` on every message (on the core that split it off,
/// while the message is in that core's cache), with what it returned.
pub fn split_parallel_with<T: Send>(
    buf: &[u8],
    pieces: usize,
    each: &(dyn Fn(&Message) -> T + Sync),
) -> Vec<(Message, T)> {
    split_parallel_from(buf, pieces, PARALLEL_SPLIT_MIN, each)
}

/// [`split_parallel_with`] with the size below which one core splits given: the fuzz target
/// sets it to 0, so that the stretch joining is tried on small inputs, where it must give
/// what [`split`] gives.
#[doc(hidden)]
pub fn split_parallel_from<T: Send>(
    buf: &[u8],
    pieces: usize,
    min_len: usize,
    each: &(dyn Fn(&Message) -> T + Sync),
) -> Vec<(Message, T)> {
    let with = |m: Message| {
        let t = each(&m);
        (m, t)
    };
    if buf.len() < min_len || pieces < 2 {
        return split(buf).into_par_iter().map(with).collect();
    }
    let Some(first) = next_separator(buf, 0) else {
        return Vec::new();
    };
    let mut starts: Vec<usize> = (0..pieces)
        .filter_map(|k| {
            if k == 0 {
                Some(first)
            } else {
                next_separator(buf, buf.len() / pieces * k)
            }
        })
        .collect();
    starts.dedup();
    let lists: Vec<Vec<(Message, T)>> = (0..starts.len())
        .into_par_iter()
        .map(|k| {
            let stop = starts.get(k + 1).copied().unwrap_or(buf.len());
            let mut out = Vec::new();
            let mut at = starts[k];
            while at < stop {
                let m = message_at(buf, at);
                at = m.end;
                out.push(with(m));
            }
            out
        })
        .collect();
    // Join the stretches; where a message ran past its stretch, skip what it swallowed and
    // split again until the boundaries agree.
    let mut out = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    let mut next = first;
    for list in lists {
        for (m, t) in list {
            while next < m.start {
                let again = message_at(buf, next);
                next = again.end;
                out.push(with(again));
            }
            if next == m.start {
                next = m.end;
                out.push((m, t));
            }
        }
    }
    while next < buf.len() {
        let again = message_at(buf, next);
        next = again.end;
        out.push(with(again));
    }
    out
}

/// Appends a message stored alone (Maildir) to `out` as an mboxrd message: a `From ` line
/// made from its sender and date, `From ` lines of the body quoted with `>`, and a blank
/// line after it.
pub fn write_as_mbox(raw: &[u8], out: &mut Vec<u8>) {
    let body_at = header_end(raw, 0, raw.len());
    let header = &raw[..body_at];
    let sender = field(header, "Return-Path")
        .or_else(|| field(header, "From"))
        .and_then(|v| address(&v))
        .unwrap_or_else(|| b"MAILER-DAEMON".to_vec());
    let date = field(header, "Date")
        .and_then(|d| {
            chrono::DateTime::parse_from_rfc2822(std::str::from_utf8(&d).ok()?.trim()).ok()
        })
        .map(|d| d.with_timezone(&chrono::Utc).naive_utc())
        .unwrap_or_default();
    out.extend_from_slice(b"From ");
    out.extend_from_slice(&sender);
    out.extend_from_slice(
        date.format(" %a %b %e %H:%M:%S %Y\n")
            .to_string()
            .as_bytes(),
    );
    let mut at = 0;
    while at < raw.len() {
        let line = line_at(raw, at);
        let quoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
        if at >= body_at && line[quoted..].starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
        at += line.len() + 1;
    }
    out.push(b'\n');
}

/// The address in a `From:` or `Return-Path:` value.
fn address(value: &[u8]) -> Option<Vec<u8>> {
    let addr = match (memchr(b'<', value), memchr(b'>', value)) {
        (Some(a), Some(b)) if b > a + 1 => &value[a + 1..b],
        _ => value
            .split(|b| b.is_ascii_whitespace())
            .find(|w| w.contains(&b'@'))?,
    };
    (!addr.is_empty() && !addr.iter().any(u8::is_ascii_whitespace)).then(|| addr.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[u8] = b"From a@b Mon Jan  1 00:00:00 2001\nSubject: one\n\nbody\nFrom here on\n\nFrom c@d Tue Jan  2 00:00:00 2001\nSubject: two\n\nbody two\n";

    #[test]
    fn separators_need_a_blank_line_and_a_time() {
        let msgs = split(TWO);
        assert_eq!(msgs.len(), 2);
        assert_eq!(&TWO[msgs[1].start..msgs[1].start + 8], b"From c@d");
        assert_eq!(&TWO[msgs[0].header_end..msgs[0].header_end + 4], b"body");
    }

    #[test]
    fn crlf_blank_lines_count() {
        let crlf: Vec<u8> = TWO
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        assert_eq!(split(&crlf).len(), 2);
    }

    #[test]
    fn content_length_keeps_from_lines_in_the_body() {
        let cl2 = b"From a@b Mon Jan  1 00:00:00 2001\nContent-Length: 19\n\nx\n\nFrom y 10:00:00\n\nFrom c@d Tue Jan  2 00:00:00 2001\n\nz\n";
        let msgs = split(cl2);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
    }

    #[test]
    fn multipart_runs_to_its_closing_boundary() {
        let mp = b"From a@b Mon Jan  1 00:00:00 2001\nContent-Type: multipart/mixed;\n boundary=\"XX\"\n\n--XX\nContent-Type: message/rfc822\n\nFrom inner@x Mon Jan  1 00:00:00 2001\nSubject: in\n\n--XX--\n\nFrom c@d Tue Jan  2 00:00:00 2001\n\nz\n";
        assert_eq!(split(mp).len(), 2);
    }

    #[test]
    fn parallel_split_agrees_with_sequential() {
        let mut big = Vec::new();
        let mut i = 0;
        while big.len() < PARALLEL_SPLIT_MIN * 2 {
            big.extend_from_slice(format!("From u{i}@x Mon Jan  1 00:00:{:02} 2001\nSubject: {i}\n\nline\nFrom not a separator\n\n", i % 60).as_bytes());
            i += 1;
        }
        assert_eq!(split_parallel(&big, 7), split(&big));
    }

    #[test]
    fn maildir_message_becomes_mboxrd() {
        let mut out = Vec::new();
        write_as_mbox(
            b"From: A <a@b.c>\nDate: Wed, 18 Nov 2009 01:02:38 +0600\n\nFrom me\n>From you\n",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From a@b.c Tue Nov 17 19:02:38 2009\nFrom: A <a@b.c>\nDate: Wed, 18 Nov 2009 01:02:38 +0600\n\n>From me\n>>From you\n\n"
        );
    }
}
