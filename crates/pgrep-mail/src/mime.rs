//! The decoded view of a message, which the message modes search unless `--raw`: the
//! stored bytes with every RFC 2047 encoded header value replaced by its text, and every
//! base64 or quoted-printable text part replaced by its decoded text (in UTF-8). Everything
//! else stays as stored (boundaries, part headers, binary attachments), so a message with
//! nothing encoded is searched exactly as grepmail searches it.
//!
//! mail-parser does the MIME work; this module only splices its results into place.

use std::sync::OnceLock;

use mail_parser::{Encoding, HeaderValue, MessageParser, PartType};
use memchr::memmem;

/// A message as a reader sees it, with the header in `[0, header_end)`.
pub struct Decoded {
    /// The message text.
    pub text: Vec<u8>,
    /// Where its body starts.
    pub header_end: usize,
}

/// Whether `msg` names a transfer encoding worth decoding, "base64" or "quoted-printable",
/// in any case: the test that decides whether a message is parsed at all, so it runs over
/// every byte of every message searched. An ASCII-case-insensitive automaton finds the two
/// words by their letters, which are common; this finds the bytes that have no case ("64"
/// and "-", rare in text) with memchr's vector search and compares the letters around them,
/// several times faster, with the same answer.
fn names_encoding(msg: &[u8]) -> bool {
    static SIXTY_FOUR: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    let sixty_four = SIXTY_FOUR.get_or_init(|| memmem::Finder::new(b"64"));
    sixty_four.find_iter(msg).any(|i| base64_at(msg, i))
        || memchr::memchr_iter(b'-', msg).any(|i| quoted_printable_at(msg, i))
}

/// Whether the "64" at `i` ends "base64" (in any case). [`names_encoding`] and the
/// pattern-first search ([`crate::search::sparse`]) share it, so a message that needs its
/// decoded view is one the latter looks at.
pub(crate) fn base64_at(buf: &[u8], i: usize) -> bool {
    i >= 4 && buf[i - 4..i].eq_ignore_ascii_case(b"base")
}

/// Whether the `-` at `i` is the one of "quoted-printable" (in any case); see [`base64_at`].
pub(crate) fn quoted_printable_at(buf: &[u8], i: usize) -> bool {
    i >= 6
        && buf[i - 6..i].eq_ignore_ascii_case(b"quoted")
        && buf
            .get(i + 1..i + 10)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"printable"))
}

/// The decoded view of `msg` (whose header ends at `header_end`), or `None` when nothing
/// in it is encoded, so the stored bytes are the view.
pub fn decode(msg: &[u8], header_end: usize) -> Option<Decoded> {
    static ENCODED_WORD: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    let encoded_word = ENCODED_WORD.get_or_init(|| memmem::Finder::new(b"=?"));
    let header_words = encoded_word.find(&msg[..header_end]).is_some();
    let body_encoded = names_encoding(msg);
    if !header_words && !body_encoded {
        return None;
    }
    // mail-parser wants the message without its mbox `From ` line.
    let skip = if msg.starts_with(b"From ") {
        memchr::memchr(b'\n', msg).map_or(msg.len(), |i| i + 1)
    } else {
        0
    };
    let parsed = MessageParser::new()
        .with_mime_headers()
        .default_header_text()
        .parse(&msg[skip..])?;
    let mut splices: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    if header_words {
        if let Some(root) = parsed.parts.first() {
            for h in &root.headers {
                let (start, end) = (skip + h.offset_start as usize, skip + h.offset_end as usize);
                if end > header_end || memmem::find(&msg[start..end], b"=?").is_none() {
                    continue;
                }
                let text = match &h.value {
                    HeaderValue::Text(t) => t.to_string(),
                    HeaderValue::TextList(list) => list.join(", "),
                    _ => continue,
                };
                let stored = &msg[start..end];
                let ending: &[u8] = if stored.ends_with(b"\r\n") {
                    b"\r\n"
                } else {
                    b"\n"
                };
                let mut value = Vec::with_capacity(text.len() + 3);
                value.push(b' ');
                value.extend_from_slice(text.as_bytes());
                value.extend_from_slice(ending);
                splices.push((start, end, value));
            }
        }
    }
    if body_encoded {
        for part in &parsed.parts {
            if part.encoding == Encoding::None {
                continue;
            }
            let text = match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
                _ => continue,
            };
            let (start, end) = (
                skip + part.offset_body as usize,
                skip + part.offset_end as usize,
            );
            if start < header_end || end > msg.len() || start > end {
                continue;
            }
            let mut value = text.to_vec();
            if !value.ends_with(b"\n") && msg[..end].ends_with(b"\n") {
                value.push(b'\n');
            }
            splices.push((start, end, value));
        }
    }
    if splices.is_empty() {
        return None;
    }
    splices.sort_by_key(|s| s.0);
    let mut text = Vec::with_capacity(msg.len());
    let mut at = 0;
    let mut new_header_end = header_end;
    for (start, end, value) in splices {
        if start < at {
            continue;
        }
        text.extend_from_slice(&msg[at..start]);
        text.extend_from_slice(&value);
        if end <= header_end {
            new_header_end = new_header_end + value.len() - (end - start);
        }
        at = end;
    }
    text.extend_from_slice(&msg[at..]);
    Some(Decoded {
        text,
        header_end: new_header_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(msg: &[u8]) -> (String, String) {
        let end = crate::mbox::header_end(msg, 0, msg.len());
        let d = decode(msg, end).expect("something to decode");
        let text = String::from_utf8(d.text).unwrap();
        (
            text[..d.header_end].to_string(),
            text[d.header_end..].to_string(),
        )
    }

    #[test]
    fn encoded_words_are_decoded_in_place() {
        let (header, body) =
            view(b"From x 10:00:00\nSubject: =?utf-8?q?J=C3=B6rg_was_here?=\nTo: a@b\n\nplain\n");
        assert_eq!(
            header,
            "From x 10:00:00\nSubject: J\u{f6}rg was here\nTo: a@b\n\n"
        );
        assert_eq!(body, "plain\n");
    }

    #[test]
    fn base64_body_is_decoded() {
        let (_, body) =
            view(b"Subject: x\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQK\n");
        assert_eq!(body, "hello world\n");
    }

    #[test]
    fn quoted_printable_part_is_decoded_between_boundaries() {
        let msg = b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 au lait=\n s\n--B--\n";
        let (_, body) = view(msg);
        assert!(body.contains("caf\u{e9} au lait s"), "{body}");
        assert!(body.starts_with("--B\nContent-Type: text/plain"), "{body}");
        assert!(body.ends_with("--B--\n"), "{body}");
    }

    #[test]
    fn encodings_are_named_in_any_case() {
        for named in [
            &b"Content-Transfer-Encoding: BASE64"[..],
            b"base64",
            b"x: Quoted-Printable\n",
            b"QUOTED-PRINTABLE",
        ] {
            assert!(names_encoding(named), "{}", String::from_utf8_lossy(named));
        }
        for not in [
            &b"64 base 64"[..],
            b"base6",
            b"quoted-printabl",
            b"-printable",
            b"quoted printable",
            b"",
        ] {
            assert!(!names_encoding(not), "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn nothing_encoded_needs_no_view() {
        assert!(decode(b"Subject: x\n\nbody\n", 12).is_none());
    }
}
