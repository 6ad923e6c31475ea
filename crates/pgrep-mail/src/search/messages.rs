//! The message modes over one mailbox: which messages match PATTERN where it was asked
//! (`--headers`, `--body`, both, or either), `--header` fields, and `--date`.
//!
//! The pattern runs over the whole header and the whole body, not line by line, as grepmail
//! runs it (so `^` and `$` are line anchors and `$` also matches before `\r\n`).

use std::borrow::Cow;

use rayon::prelude::*;

use crate::config::{Config, Report};
use crate::mbox::{self, Message};

/// Below this many messages a mailbox is searched on one core.
const PARALLEL_MESSAGES_MIN: usize = 256;

/// A matching message.
pub struct Hit {
    /// Its Message-ID (or its whole header when it has none), for `--unique`.
    pub id: Option<Vec<u8>>,
    /// The message as mbox, for `--messages`.
    pub text: Vec<u8>,
    /// Where the text is in the outcome's spool instead (a streamed file's), as
    /// `[start, end)`.
    pub span: Option<(u64, u64)>,
}

/// Whether every message is tested, not only those before the answer is known (`-m`, `-q`,
/// `-l`, `-L` stop early), so that the messages can be tested in parallel.
pub fn tests_all(cfg: &Config) -> bool {
    cfg.max_count.is_none()
        && !matches!(
            cfg.report,
            Report::Quiet | Report::FilesWith | Report::FilesWithout
        )
}

/// The matching messages of `buf`, in order. `alone` says `buf` is a single message stored
/// alone (Maildir, MH), which is printed with a `From ` line made for it.
pub fn search(cfg: &Config, buf: &[u8], msgs: &[Message], alone: bool) -> Vec<Hit> {
    let keep = |m: &Message| matches(cfg, &buf[m.start..m.end], m.header_end - m.start);
    let chosen: Vec<&Message> = if tests_all(cfg) && msgs.len() >= PARALLEL_MESSAGES_MIN {
        let flags: Vec<bool> = msgs.par_iter().map(keep).collect();
        msgs.iter()
            .zip(flags)
            .filter(|(_, k)| *k)
            .map(|(m, _)| m)
            .collect()
    } else {
        let stop_at_first = matches!(
            cfg.report,
            Report::Quiet | Report::FilesWith | Report::FilesWithout
        ) && !cfg.filter.unique;
        let mut chosen = Vec::new();
        for m in msgs {
            if cfg.max_count.is_some_and(|max| chosen.len() as u64 >= max) {
                break;
            }
            if keep(m) {
                chosen.push(m);
                if stop_at_first {
                    break;
                }
            }
        }
        chosen
    };
    hits(cfg, buf, chosen, alone)
}

/// The hits for the `chosen` messages of `buf`.
pub fn hits<'m>(
    cfg: &Config,
    buf: &[u8],
    chosen: impl IntoIterator<Item = &'m Message>,
    alone: bool,
) -> Vec<Hit> {
    chosen
        .into_iter()
        .map(|m| {
            let raw = &buf[m.start..m.end];
            let header = &raw[..m.header_end - m.start];
            let id = cfg.filter.unique.then(|| message_id(header));
            let mut text = Vec::new();
            if cfg.report == Report::Messages {
                if alone {
                    mbox::write_as_mbox(raw, &mut text);
                } else {
                    text.extend_from_slice(raw);
                }
            }
            Hit {
                id,
                text,
                span: None,
            }
        })
        .collect()
}

/// Whether one message (`raw`, header in `[0, header_end)`) is selected.
pub fn matches(cfg: &Config, raw: &[u8], header_end: usize) -> bool {
    let f = &cfg.filter;
    let stored_header = &raw[..header_end];
    let (text, header_end): (Cow<[u8]>, usize) = if f.raw {
        (Cow::Borrowed(raw), header_end)
    } else {
        match crate::mime::decode(raw, header_end) {
            Some(d) => (Cow::Owned(d.text), d.header_end),
            None => (Cow::Borrowed(raw), header_end),
        }
    };
    let (header, body) = text.split_at(header_end);
    let m = &cfg.matcher;
    let found = match (f.headers, f.body) {
        (false, false) => m.is_match(header) || m.is_match(body),
        (true, false) => m.is_match(header),
        (false, true) => m.is_match(body),
        (true, true) => m.is_match(header) && m.is_match(body),
    };
    if found == cfg.invert {
        return false;
    }
    for (name, re) in &f.fields {
        let mut ok = false;
        mbox::fields(header, name, |v| {
            ok = re.is_match(&v);
            !ok
        });
        if !ok {
            return false;
        }
    }
    if let Some(range) = &f.date {
        match message_date(stored_header) {
            Some(t) if range.contains(t) => {}
            _ => return false,
        }
    }
    true
}

/// A message's date: its `Date:` header, else its `From ` line.
pub fn message_date(header: &[u8]) -> Option<i64> {
    if let Some(date) = mbox::field(header, "Date") {
        if let Some(t) = std::str::from_utf8(&date)
            .ok()
            .and_then(mail_parser::DateTime::parse_rfc822)
        {
            return Some(t.to_timestamp());
        }
    }
    if header.starts_with(b"From ") {
        let line = &header[..memchr::memchr(b'\n', header).unwrap_or(header.len())];
        return crate::date::from_line_date(line);
    }
    None
}

/// The Message-ID without its angle brackets, or the whole header when there is none (as
/// grepmail does, so identical copies still count as one).
fn message_id(header: &[u8]) -> Vec<u8> {
    match mbox::field(header, "Message-ID") {
        Some(v) if !v.is_empty() => {
            let v = v.strip_prefix(b"<").unwrap_or(&v);
            let end = memchr::memchr(b'>', v).unwrap_or(v.len());
            v[..end].to_vec()
        }
        _ => header.to_vec(),
    }
}
