//! The message modes over an mbox, pattern first: the pattern is searched over the whole
//! mailbox, a cache-sized chunk at a time, and a message is split off and tested only where
//! something in it could make it match. Most messages of a large mailbox hold no match, and
//! splitting each of them off cost more than the search itself: a look for the next
//! `\nFrom ` over every byte, and a look for encoded parts over every byte again.
//!
//! A message can match only if its stored bytes match, or if its decoded view differs from
//! them ([`crate::mime::decode`] decodes only a message whose header holds `=?` or which
//! names "base64" or "quoted-printable" somewhere). So a message holding neither a match of
//! the pattern nor one of those *marks* cannot match, and is skipped unsplit. The pattern
//! is searched over the whole chunk rather than each header and body alone; that finds
//! every match the parts would give, because nothing grep's languages write matches a line
//! end (see [`super::matcher`]), every part starts after a line end and ends after one, and
//! where a part's end differs from what follows it in the mailbox (an empty match just
//! after the last line end) the guard in [`applies`] keeps the pattern out.
//!
//! Where a message is, the skipped stretch must say too. The messages are a chain: each
//! ends where [`mbox::message_at`] says, and the next starts there. A message ends at its
//! next separator unless a `Content-Length:` or a multipart `Content-Type:` field carries it
//! further, past `From ` lines in its body that look like separators. Those fields are
//! marks too ([`mbox::stretching_field_at`]), so a stretch without marks holds only
//! messages that end at their next separator: every separator in it starts a message, and
//! the message around a match or mark starts at the last separator before it
//! ([`mbox::last_separator`]). That message is then split off exactly as the one-by-one
//! split does it, from a start known to be one, and tested as it tests it.
//!
//! A mailbox whose messages nearly all hold marks (MIME mail names its encodings in every
//! message) gains nothing from this, so a piece that finds itself testing most of what it
//! reads goes on one message at a time. The pieces of a large mailbox are searched on
//! every core and joined as [`mbox::split_parallel_with`] joins its stretches.

use memchr::{memchr, memrchr};
use rayon::prelude::*;

use super::messages;
use super::pieces::CHUNK;
use crate::config::Config;
use crate::mbox::{self, Message};

/// Below this size a mailbox is searched on one core.
const PARALLEL_MIN: usize = 4 << 20;

/// Once a piece has walked this far, it goes on one message at a time if it tested more
/// than half of what it walked: the pattern-first search then reads the mailbox twice for
/// little skipped.
const SWITCH_AFTER: usize = 1 << 20;

/// Whether the pattern-first search gives what testing every message gives. Not for `-v`
/// (every message without a match is selected), nor for the modes that stop early (they
/// test one message at a time already), nor for `-P` (a Perl pattern can match a line end,
/// so across the parts of a message), nor for `-z`. Nor for a pattern that matches an
/// empty line at the end of a buffer: the last line end of a header or body is followed by
/// nothing when the part is searched alone, and by the next part in the mailbox.
pub fn applies(cfg: &Config) -> bool {
    cfg.message_mode
        && !cfg.invert
        && messages::tests_all(cfg)
        && cfg.eol == b'\n'
        && !cfg.matcher.crosses_lines()
        && !cfg.matcher.is_match(b"")
        && !cfg.matcher.is_match(b"\n")
}

/// The selected messages of the mbox `buf`, in order, searched in about `pieces` pieces
/// at once. Only when [`applies`]. `mapped` says that `buf` is a read-only mapping of a
/// file, whose pages each piece maps in one call before it walks them
/// ([`super::pieces::populate`]) and gives back after ([`super::pieces::release`]).
pub fn select(cfg: &Config, buf: &[u8], pieces: usize, mapped: bool) -> Vec<Message> {
    let page = if mapped {
        super::pieces::page_size()
    } else {
        0
    };
    select_from(cfg, buf, pieces, PARALLEL_MIN, SWITCH_AFTER, page)
}

/// [`select`] with its sizes given, so that tests reach the joining of pieces and the
/// switch to one message at a time on small mailboxes.
#[doc(hidden)]
pub fn select_from(
    cfg: &Config,
    buf: &[u8],
    pieces: usize,
    min_len: usize,
    switch_after: usize,
    page: usize,
) -> Vec<Message> {
    let Some(first) = mbox::next_separator(buf, 0) else {
        return Vec::new();
    };
    let walk = |start: usize, stop: usize| Walk::new(cfg, buf, start, switch_after).run(stop);
    if buf.len() < min_len || pieces < 2 {
        return walk(first, buf.len()).0;
    }
    let mut starts: Vec<usize> = (0..pieces)
        .filter_map(|k| {
            if k == 0 {
                Some(first)
            } else {
                mbox::next_separator(buf, buf.len() / pieces * k)
            }
        })
        .collect();
    starts.dedup();
    let stop = |k: usize| starts.get(k + 1).copied().unwrap_or(buf.len());
    let walked: Vec<(Vec<Message>, usize)> = (0..starts.len())
        .into_par_iter()
        .map(|k| {
            let piece = &buf[starts[k]..stop(k)];
            if page != 0 {
                // SAFETY: `page` is not 0 only when `buf` is a read-only mapping of a file
                // ([`select`]), and the piece is part of it.
                unsafe { super::pieces::populate(piece, page) }
            }
            let walked = walk(starts[k], stop(k));
            if page != 0 {
                // SAFETY: as above.
                unsafe { super::pieces::release(piece, page) }
            }
            walked
        })
        .collect();
    // Each piece took its first separator for a message's start. It is one when the
    // pieces before reach it; when a message ran past it (a `Content-Length:` or a
    // multipart message holding `From ` lines), the piece is walked again from where that
    // message ended. A stretch after a piece's last tested message holds no marks, so the
    // chain reaches the next piece's start when the message ends before it.
    let mut chosen = Vec::new();
    let mut next = first;
    for (k, (mut found, end)) in walked.into_iter().enumerate() {
        let (start, stop) = (starts[k], stop(k));
        if next == start {
            chosen.append(&mut found);
            next = end.max(stop);
        } else if next < stop {
            let (mut again, end) = walk(next, stop);
            chosen.append(&mut again);
            next = end.max(stop);
        }
    }
    chosen
}

/// One piece's walk: where it stands in the chain of messages, and what it selected.
struct Walk<'a> {
    cfg: &'a Config,
    buf: &'a [u8],
    /// Where the walk started.
    start: usize,
    /// A message's start (or the piece's end): the messages before it are decided.
    chain: usize,
    /// Bytes of the messages tested so far.
    tested: usize,
    switch_after: usize,
    chosen: Vec<Message>,
}

impl<'a> Walk<'a> {
    fn new(cfg: &'a Config, buf: &'a [u8], start: usize, switch_after: usize) -> Self {
        Walk {
            cfg,
            buf,
            start,
            chain: start,
            tested: 0,
            switch_after,
            chosen: Vec::new(),
        }
    }

    /// Walks the messages that start before `stop`; returns the selected ones and where
    /// the last message tested ended (at or past the last match or mark before `stop`).
    fn run(mut self, stop: usize) -> (Vec<Message>, usize) {
        let mut at = self.start;
        while at < stop {
            let end = chunk_end(self.buf, at, stop);
            let mut next = LOOKS.map(|look| self.find(look, at, end));
            while let Some(found) = next.iter().flatten().min().copied() {
                let from = mbox::last_separator(self.buf, self.chain, found);
                self.test(from);
                if self.chain >= end {
                    break;
                }
                if self.chain - self.start >= self.switch_after
                    && self.tested * 2 > self.chain - self.start
                {
                    return self.one_by_one(stop);
                }
                // What was found from before the chain's end is still the first after it
                // unless it was inside the message just tested.
                for (look, n) in LOOKS.iter().zip(&mut next) {
                    if n.is_some_and(|n| n < self.chain) {
                        *n = self.find(*look, self.chain, end);
                    }
                }
            }
            at = end.max(self.chain);
        }
        (self.chosen, self.chain)
    }

    /// Splits off the message starting at `from` and tests it, as the one-by-one split.
    fn test(&mut self, from: usize) {
        let m = mbox::message_at(self.buf, from);
        self.tested += m.end - m.start;
        if messages::matches(self.cfg, &self.buf[m.start..m.end], m.header_end - m.start) {
            self.chosen.push(m);
        }
        self.chain = m.end;
    }

    /// Tests every message from the chain's end on, until one ends at or past `stop`.
    fn one_by_one(mut self, stop: usize) -> (Vec<Message>, usize) {
        while self.chain < stop {
            self.test(self.chain);
        }
        (self.chosen, self.chain)
    }

    /// The first position in `[from, to)` where `look` finds something (`to` is a line's
    /// start: no match crosses a line end, and each mark starts at the byte it is found by).
    fn find(&self, look: Look, from: usize, to: usize) -> Option<usize> {
        let buf = self.buf;
        let hay = &buf[from..to];
        match look {
            Look::Match => self
                .cfg
                .matcher
                .find_at(&buf[..to], from)
                .map(|(start, _)| start),
            Look::Encoding if self.cfg.filter.raw => None,
            Look::Encoding => memchr::memchr2_iter(b'=', b'6', hay)
                .map(|i| from + i)
                .find(|&i| {
                    if buf[i] == b'=' {
                        buf.get(i + 1) == Some(&b'?')
                    } else {
                        buf.get(i + 1) == Some(&b'4') && crate::mime::base64_at(buf, i)
                    }
                }),
            Look::Dash => memchr::memchr_iter(b'-', hay).map(|i| from + i).find(|&i| {
                mbox::stretching_field_at(buf, i)
                    || (!self.cfg.filter.raw && crate::mime::quoted_printable_at(buf, i))
            }),
        }
    }
}

/// What a walk looks for, each on its own pass over a chunk (one pass for the three bytes
/// of the marks stopped at each twice as slowly as two passes).
#[derive(Debug, Clone, Copy)]
enum Look {
    /// A match of the pattern.
    Match,
    /// The `=` of `=?` or the `6` of "base64", which give a message a decoded view (not
    /// with `--raw`).
    Encoding,
    /// The `-` of "quoted-printable" (not with `--raw`), or of a field that can carry a
    /// message past a separator.
    Dash,
}

const LOOKS: [Look; 3] = [Look::Match, Look::Encoding, Look::Dash];

/// The end of the chunk starting at `at`: after its last line end, at most [`CHUNK`] on
/// (unless one line is longer), and at most `stop`.
fn chunk_end(buf: &[u8], at: usize, stop: usize) -> usize {
    if stop - at <= CHUNK {
        return stop;
    }
    let limit = at + CHUNK;
    match memrchr(b'\n', &buf[at..limit]) {
        Some(i) => at + i + 1,
        None => memchr(b'\n', &buf[limit..stop]).map_or(stop, |i| limit + i + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        let words = ["pgrep-mail"].iter().chain(args).chain(&["box"]);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(words).unwrap();
        Config::resolve_with(cli, &|_| None, true, false).unwrap()
    }

    /// What testing every message of the one-by-one split selects.
    fn one_by_one(cfg: &Config, buf: &[u8]) -> Vec<Message> {
        mbox::split(buf)
            .into_iter()
            .filter(|m| messages::matches(cfg, &buf[m.start..m.end], m.header_end - m.start))
            .collect()
    }

    /// Messages of every kind that moves a message's end or changes what is searched: a
    /// match only in a base64 or quoted-printable part, or in an encoded header word;
    /// `From ` lines inside bodies that a `Content-Length:` or a multipart message keeps
    /// there (with the match after them, so that the last separator before the match is
    /// not the message's start); a `Content-Length:` that lands nowhere; body lines that
    /// start with "From " but are no separators.
    const KINDS: &[&str] = &[
        "From a@b Mon Jan  1 10:00:00 2001\nSubject: plain\n\nnothing to see\n\n",
        "From a@b Mon Jan  1 10:00:01 2001\nSubject: hit\n\nan invoice here\n\n",
        "From a@b Mon Jan  1 10:00:02 2001\nSubject: b64\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nYW4gaW52b2ljZSBoZXJlCg==\n--B--\n\n",
        "From a@b Mon Jan  1 10:00:03 2001\nSubject: qp\nContent-Transfer-Encoding: Quoted-Printable\n\nan inv=\noice here\n\n",
        "From a@b Mon Jan  1 10:00:04 2001\nSubject: =?utf-8?b?dGhlIGludm9pY2U=?=\n\nbody\n\n",
        "From a@b Mon Jan  1 10:00:05 2001\nContent-Length: 62\n\nFrom x@y Mon Jan  1 11:00:00 2001\nSubject: inner\n\nan invoice\n\n",
        "From a@b Mon Jan  1 10:00:07 2001\ncontent-type: Multipart/mixed;\n boundary=XX\n\n--XX\nContent-Type: message/rfc822\n\nFrom inner@x Mon Jan  1 10:00:00 2001\nSubject: fwd\n\nan invoice\n--XX--\n\n",
        "From a@b Mon Jan  1 10:00:08 2001\nContent-Length: 9999\n\nbody\n\nFrom q@r Mon Jan  1 10:00:09 2001\n\nan invoice\n\n",
        "From a@b Mon Jan  1 10:00:10 2001\nSubject: from lines\n\nFrom here on\nFrom there 10:00:00 on\nan invoice\n\n",
        "From a@b Mon Jan  1 10:00:11 2001\r\nSubject: crlf\r\n\r\nan invoice\r\n\r\n",
        "From a@b Mon Jan  1 10:00:12 2001\r\nSubject: crlf plain\r\n\r\nnothing\r\n\r\n",
        "From a@b Mon Jan  1 10:00:13 2001\nSubject: names base64 in text only\n\nsee base64 and =? and quoted-printable, no invoice\n\n",
        "From a@b Mon Jan  1 10:00:14 2001\nSubject: b64 alone\nContent-Transfer-Encoding: BASE64\n\nYW4gaW52b2ljZSBoZXJlCg==\n\n",
    ];

    /// A mailbox of `n` messages of the kinds above, in an order set by `seed`.
    fn mailbox(seed: u64, n: usize) -> Vec<u8> {
        let mut state = seed | 1;
        let mut buf = b"junk before the first separator\n\n".to_vec();
        for _ in 0..n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            buf.extend_from_slice(KINDS[(state % KINDS.len() as u64) as usize].as_bytes());
        }
        buf
    }

    const SEARCHES: &[&[&str]] = &[
        &["--messages", "invoice"],
        &["--messages", "-c", "invoice"],
        &["--count-messages", "-i", "INVOICE"],
        &["--messages", "--raw", "invoice"],
        &["--messages", "--body", "-w", "invoice"],
        &["--messages", "--headers", "invoice"],
        &["--messages", "--headers", "--body", "-E", "invoice|inner"],
        &["--messages", "-F", "-e", "an invoice", "-e", "From there"],
        &["--messages", "-E", "^an invoice$"],
        &["--messages", "-x", "body"],
        &["--messages", r"\(in\)voice.*\1"],
        &["--messages", "--header", "Subject=crlf", "invoice"],
        &["--messages", "-E", r"\bplain\b"],
        &["--messages", "no such words"],
    ];

    #[test]
    fn pattern_first_selects_what_every_message_tested_selects() {
        for seed in 1..40 {
            let buf = mailbox(seed, 60);
            for args in SEARCHES {
                let cfg = cfg(args);
                assert!(applies(&cfg), "{args:?}");
                let want = one_by_one(&cfg, &buf);
                for pieces in 1..=6 {
                    for switch_after in [0, 300, usize::MAX] {
                        let got = select_from(&cfg, &buf, pieces, 0, switch_after, 0);
                        assert!(
                            got == want,
                            "seed {seed}, {args:?}, {pieces} pieces, switch after {switch_after}:\n{got:?}\n{want:?}"
                        );
                    }
                }
            }
        }
    }

    /// Each kind alone, and each after a plain message and before one: the match after a
    /// `From ` line that is not a message's start selects the whole message around it.
    #[test]
    fn every_kind_alone_and_between_others() {
        let cfg = cfg(&["--messages", "invoice"]);
        for kind in KINDS {
            for buf in [kind.to_string(), [KINDS[0], kind, KINDS[0]].concat()] {
                let buf = buf.as_bytes();
                assert_eq!(
                    select_from(&cfg, buf, 3, 0, usize::MAX, 0),
                    one_by_one(&cfg, buf),
                    "{kind}"
                );
            }
        }
        let selected = |kind: &str| !select(&cfg, kind.as_bytes(), 1, false).is_empty();
        assert!(selected(KINDS[2]), "a match only in a base64 part");
        assert!(selected(KINDS[12]), "a match only in a base64 body");
        assert!(
            selected(KINDS[3]),
            "a match only in a quoted-printable body"
        );
        assert!(selected(KINDS[4]), "a match only in an encoded header word");
        let inner = [KINDS[5], KINDS[6]].concat();
        let chosen = select(&cfg, inner.as_bytes(), 1, false);
        assert_eq!(
            chosen.iter().map(|m| m.start).collect::<Vec<_>>(),
            [0, KINDS[5].len()],
            "the whole mboxcl2 and multipart messages, from their own `From ` lines"
        );
    }

    /// `-v`, `-P`, `-z`, the modes that stop early and patterns that match an empty last
    /// line keep testing every message.
    #[test]
    fn what_it_does_not_apply_to() {
        for args in [
            &["--messages", "-v", "invoice"][..],
            &["--messages", "-P", "invoice"],
            &["--messages", "-z", "invoice"],
            &["--messages", "-l", "invoice"],
            &["--messages", "-m", "1", "invoice"],
            &["--messages", "-q", "invoice"],
            &["--messages", ""],
            &["--messages", "-E", "x*"],
            &["--messages", "^$"],
            &["--messages", "^"],
        ] {
            assert!(!applies(&cfg(args)), "{args:?}");
        }
    }

    #[test]
    fn the_last_separator_skips_body_lines() {
        let buf = KINDS[8].as_bytes();
        let at = buf.len() - 4;
        assert_eq!(mbox::last_separator(buf, 0, at), 0);
        let two = [KINDS[0], KINDS[8]].concat();
        let at = two.len() - 4;
        assert_eq!(mbox::last_separator(two.as_bytes(), 0, at), KINDS[0].len());
        assert_eq!(
            mbox::last_separator(two.as_bytes(), 0, KINDS[0].len()),
            KINDS[0].len()
        );
        assert_eq!(
            mbox::last_separator(two.as_bytes(), 0, KINDS[0].len() - 1),
            0
        );
    }

    #[test]
    fn stretching_fields_are_found_in_any_case_and_fold() {
        let at = |s: &str| {
            let i = s.find('-').unwrap();
            mbox::stretching_field_at(s.as_bytes(), i)
        };
        assert!(at("Content-Length: 12"));
        assert!(at("content-LENGTH:"));
        assert!(at("Content-Type: multipart/mixed"));
        assert!(at("CONTENT-TYPE:\n\t MultiPart/alternative"));
        assert!(!at("Content-Type: text/plain"));
        assert!(!at("Content-Transfer-Encoding: 7bit"));
        assert!(!at("Content-Type: multi"));
        assert!(!at("x-Length: 3"));
    }
}
