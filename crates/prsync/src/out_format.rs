//! rsync's `--out-format` (and `--log-file-format`): a line a file, made from `%` escapes.
//! `-i` is this with `%i %n%L`, and `-v` with `%n%L`; a format with `%i` is printed where
//! `-i` would print, one without where `-v` names a file.

use std::time::{SystemTime, UNIX_EPOCH};

/// One escape: its letter, an optional width (left-aligned with `-`), and how many `'`
/// asked for grouped digits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Escape {
        letter: u8,
        left: bool,
        width: usize,
        grouped: bool,
    },
}

/// A parsed format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFormat {
    pieces: Vec<Piece>,
    text: String,
}

/// What a line may show of one entry.
pub struct Fields<'a> {
    /// The itemized change (`>f.st......`), or `*deleting  `.
    pub item: &'a [u8],
    /// The name as `-v` shows it (a folder with its `/`), escaped.
    pub name: &'a [u8],
    /// The name with the sender's folder in front (`src/.` for the top), escaped.
    pub full_name: &'a [u8],
    /// ` -> target` or ` => target`, escaped, or nothing.
    pub link: &'a [u8],
    /// The file's length.
    pub length: u64,
    /// The bytes of its data that were written: the file's length when it was sent, as
    /// a local copy sends it whole; `None` when nothing was sent.
    pub bytes: Option<u64>,
    /// The written file's whole-file hash (xxh3-128, rsync's default checksum), for `%C`.
    pub checksum: Option<u128>,
    /// `send`, `recv` or `del.`.
    pub operation: &'a str,
    /// Its modification time, in seconds.
    pub mtime: i64,
    /// Its `st_mode`.
    pub mode: u32,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
}

/// The escapes rsync knows; another letter is printed as typed, as rsync leaves it.
const LETTERS: &[u8] = b"abBcCfGhiIlLmMnopPtuU";

impl OutFormat {
    /// Parses `text`.
    pub fn parse(text: &str) -> OutFormat {
        let bytes = text.as_bytes();
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                lit.push(bytes[i]);
                i += 1;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'%') {
                lit.push(b'%');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            let mut left = false;
            let mut grouped = false;
            let mut width = 0usize;
            while let Some(&b) = bytes.get(j) {
                match b {
                    b'-' => left = true,
                    b'\'' => grouped = true,
                    b'0'..=b'9' => width = width * 10 + usize::from(b - b'0'),
                    _ => break,
                }
                j += 1;
            }
            match bytes.get(j) {
                Some(&letter) if LETTERS.contains(&letter) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Escape {
                        letter,
                        left,
                        width: width.min(4096),
                        grouped,
                    });
                    i = j + 1;
                }
                _ => {
                    lit.extend_from_slice(&bytes[i..j.min(bytes.len())]);
                    i = j;
                }
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        OutFormat {
            pieces,
            text: text.to_string(),
        }
    }

    /// The format as typed, for the agent's command line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it shows the itemized change: then it prints where `-i` would.
    pub fn has_item(&self) -> bool {
        self.has(b'i')
    }

    /// Whether it has the escape `%letter` (rsync's `log_format_has`).
    pub fn has(&self, letter: u8) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Escape { letter: l, .. } if *l == letter))
    }

    /// Whether it shows the file's checksum (`%C`), which is known only once the file is
    /// written: a sent file's line then waits for that, as rsync's does.
    pub fn has_checksum(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Escape { letter: b'C', .. }))
    }

    /// The line for one entry.
    pub fn render(&self, f: &Fields) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            let (letter, left, width, grouped) = match piece {
                Piece::Text(t) => {
                    out.extend_from_slice(t);
                    continue;
                }
                Piece::Escape {
                    letter,
                    left,
                    width,
                    grouped,
                } => (*letter, *left, *width, *grouped),
            };
            let number = |n: u64| match grouped {
                true => crate::stats::human_num(n, 1).into_bytes(),
                false => n.to_string().into_bytes(),
            };
            let value: Vec<u8> = match letter {
                b'n' => f.name.to_vec(),
                b'f' => f.full_name.to_vec(),
                b'L' => f.link.to_vec(),
                b'i' => f.item.to_vec(),
                b'l' => number(f.length),
                b'b' => number(f.bytes.unwrap_or(0)),
                b'o' => f.operation.as_bytes().to_vec(),
                b'M' => time_text(f.mtime).into_bytes(),
                b't' => time_text(now_secs()).replacen('-', " ", 1).into_bytes(),
                b'B' => perms_text(f.mode).into_bytes(),
                b'U' => f.uid.to_string().into_bytes(),
                b'G' => f.gid.to_string().into_bytes(),
                b'p' => std::process::id().to_string().into_bytes(),
                // The checksum bytes of a sent file (rsync's MD5, 16), and its whole-file
                // MD5, which prsync does not compute: blank, as rsync shows it for a file
                // it did not send.
                b'c' => number(if f.bytes.is_some() { 16 } else { 0 }),
                b'C' => match f.checksum {
                    Some(sum) => format!("{sum:032x}").into_bytes(),
                    None => b"                                ".to_vec(),
                },
                // The daemon's module: none over ssh. Its host, address, path and user
                // stay as typed, as rsync leaves them outside a daemon.
                b'm' => Vec::new(),
                other => vec![b'%', other],
            };
            let pad = width.saturating_sub(value.len());
            if !left {
                out.extend(std::iter::repeat_n(b' ', pad));
            }
            out.extend_from_slice(&value);
            if left {
                out.extend(std::iter::repeat_n(b' ', pad));
            }
        }
        out
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `YYYY/MM/DD-HH:MM:SS` in local time, as rsync's `%t` and `%M` show a time.
pub(crate) fn time_text(secs: i64) -> String {
    match crate::more_options::local_tm(secs) {
        Some(tm) => format!(
            "{:04}/{:02}/{:02}-{:02}:{:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        ),
        None => String::from("????/??/??-??:??:??"),
    }
}

/// `rwxr-xr-x`, with `s`/`S` and `t`/`T` as ls shows them.
pub(crate) fn perms_text(mode: u32) -> String {
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    let special =
        |x: u32, s: u32, on: char, off: char, plain: char| match (mode & x != 0, mode & s != 0) {
            (true, true) => on,
            (false, true) => off,
            (true, false) => plain,
            (false, false) => '-',
        };
    [
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's', 'S', 'x'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's', 'S', 'x'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't', 'T', 'x'),
    ]
    .iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            item: b">f+++++++++",
            name: b"dir/",
            full_name: b"src/dir",
            link: b"",
            length: 1234567,
            bytes: Some(99),
            checksum: Some(0xf4d0497cf9394caab34d1a3ab2bece70),
            operation: "send",
            mtime: 0,
            mode: 0o4755,
            uid: 7,
            gid: 8,
        }
    }

    #[test]
    fn escapes_widths_and_a_literal_percent() {
        let f = fields();
        let line = |fmt: &str| String::from_utf8(OutFormat::parse(fmt).render(&f)).unwrap();
        assert_eq!(line("100%% done %f"), "100% done src/dir");
        assert_eq!(line("%h %u %m."), "%h %u .");
        assert_eq!(line("%C"), "f4d0497cf9394caab34d1a3ab2bece70");
        assert_eq!(line("%i %n%L"), ">f+++++++++ dir/");
        assert_eq!(line("[%-6n][%6n]"), "[dir/  ][  dir/]");
        assert_eq!(
            line("%'l %l %b %o %U:%G %B"),
            "1,234,567 1234567 99 send 7:8 rwsr-xr-x"
        );
        assert_eq!(line("%q %"), "%q %");
        assert!(OutFormat::parse("%i").has_item() && !OutFormat::parse("%%i").has_item());
    }
}
