//! Line mode over one large plain file, by every core at once, without mapping it.
//!
//! The file is cut into pieces at line boundaries, and each piece is read with `pread` a
//! [`CHUNK`] at a time into a buffer of its own and searched there, while the chunk is
//! still in the core's cache. Mapping the file instead costs a page-table entry for every
//! 4 KiB page, set up on first touch and torn down again at exit, and the search then reads
//! the pages from memory rather than from cache: for a large mbox the copy is cheaper.
//!
//! The results are those of searching the whole file as one buffer ([`super::search_lines`]
//! with its pieces), because every piece holds whole lines and the matcher never looks past
//! a line's newline (see [`super::matcher`]). Line numbers would need the line count of
//! every earlier piece, and context lines and `-m` the lines around a piece's edges, so
//! those searches take the whole-buffer path ([`applies`]).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use memchr::{memchr, memrchr};
use rayon::prelude::*;

use super::lines::{self, Want};
use super::{Outcome, PIECES_PER_CORE};
use crate::config::{Config, Report};

/// How much of a piece is read and searched at a time: small enough to stay in a core's
/// L2 cache between the copy and the search, large enough that the `pread` calls cost
/// nothing against the copy.
const CHUNK: usize = 256 << 10;

/// How much is read at a time while looking for the end of the line a cut point falls in.
const PROBE: usize = 4 << 10;

/// Whether a large file can be searched in pieces read on their own, with the results of
/// searching it whole.
pub fn applies(cfg: &Config) -> bool {
    !cfg.message_mode
        && !cfg.decode
        && cfg.threads > 1
        && cfg.eol == b'\n'
        && !cfg.byte_offset
        && cfg.binary == crate::cli::BinaryFiles::Binary
        && (cfg.report != Report::Lines
            || (!cfg.context() && cfg.max_count.is_none() && !cfg.line_number))
}

/// What one piece found.
#[derive(Default)]
struct Piece {
    count: u64,
    printed: bool,
    out: Vec<u8>,
    /// Whether the piece holds a NUL byte, which makes the whole file binary to grep (looked
    /// for only when lines are printed: nothing else depends on it).
    nul: bool,
    /// Whether a line to print was not valid UTF-8 (so not printed).
    encoding_error: bool,
}

/// Searches `file` (`len` bytes long), shown as `name`, into `o`. `shown` is the name to
/// prefix lines with, if lines carry one. The error is the reason a read failed.
pub fn search(
    cfg: &Config,
    file: &File,
    len: u64,
    name: &[u8],
    shown: Option<&[u8]>,
    o: &mut Outcome,
) -> Result<bool, String> {
    // grep prints the lines of a text file, and only says that a binary one (one with a NUL
    // byte anywhere) matches. Which one this is is known only once every piece has been
    // read, so the pieces print as for text until one of them meets a NUL and says so.
    let print = cfg.report == Report::Lines;
    let want = match cfg.report {
        Report::Lines => Want::Print,
        Report::Count => Want::Count,
        _ => Want::Any,
    };
    let io = |e: std::io::Error| crate::io_reason(&e);
    let pieces = cfg.threads * PIECES_PER_CORE;
    let mut bounds = vec![0u64];
    for k in 1..pieces as u64 {
        let cut = line_start_from(file, len / pieces as u64 * k, len).map_err(io)?;
        if cut > *bounds.last().unwrap_or(&0) && cut < len {
            bounds.push(cut);
        }
    }
    bounds.push(len);
    let binary = AtomicBool::new(false);
    let found = AtomicBool::new(false);
    let shared = Shared {
        cfg,
        file,
        shown,
        binary: &binary,
        found: &found,
    };
    let results: Vec<Piece> = bounds
        .par_windows(2)
        .map(|w| shared.piece(w[0], w[1], want))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    let is_binary = results.iter().any(|p| p.nul);
    if print && is_binary {
        // grep prints the lines before the buffer that holds the first NUL byte: which
        // those are is known from the whole file only, so it is searched whole (binary
        // files this large are rare).
        return Ok(false);
    }
    let mut encoding_error = false;
    for p in results {
        o.count += p.count;
        if !(print && is_binary) {
            o.printed |= p.printed;
            o.out.extend_from_slice(&p.out);
        }
        encoding_error |= p.encoding_error;
    }
    if let Some(max) = cfg.max_count {
        o.count = o.count.min(max);
    }
    if print
        && !is_binary
        && encoding_error
        && cfg.binary == crate::cli::BinaryFiles::Binary
        && o.count > 0
    {
        o.notes.push(format!(
            "{}: binary file matches",
            String::from_utf8_lossy(name)
        ));
    }
    if print && is_binary && o.count > 0 {
        // As the whole-buffer search, which stops at a binary file's first match.
        o.count = 1;
        o.notes.push(format!(
            "{}: binary file matches",
            String::from_utf8_lossy(name)
        ));
    }
    Ok(true)
}

/// What every piece of one file shares.
struct Shared<'a> {
    cfg: &'a Config,
    file: &'a File,
    shown: Option<&'a [u8]>,
    /// Set when a piece meets a NUL byte: the pieces stop printing.
    binary: &'a AtomicBool,
    /// Set when a piece selects a line: enough for [`Want::Any`].
    found: &'a AtomicBool,
}

impl Shared<'_> {
    /// Searches the lines in `[start, end)` (both line starts), a chunk at a time.
    fn piece(&self, start: u64, end: u64, mut want: Want) -> std::io::Result<Piece> {
        let mut p = Piece::default();
        let mut buf = vec![0u8; CHUNK];
        // buf[..kept] is the start of a line whose end is not read yet; `at` is the file
        // offset just past it.
        let mut kept = 0;
        let mut at = start;
        while at < end {
            if kept == buf.len() {
                // A line longer than the buffer.
                buf.resize(buf.len() * 2, 0);
            }
            let room = (buf.len() - kept).min(usize::try_from(end - at).unwrap_or(usize::MAX));
            let n = self.file.read_at(&mut buf[kept..kept + room], at)?;
            let last = n == 0 || at + n as u64 >= end;
            let filled = kept + n;
            at += n as u64;
            // Search up to the last whole line; the piece's last line ends at its end (or
            // the file's, which may lack a newline).
            let lines_end = if last {
                filled
            } else {
                match memrchr(b'\n', &buf[kept..filled]) {
                    Some(i) => kept + i + 1,
                    None => {
                        kept = filled;
                        continue;
                    }
                }
            };
            let text = &buf[..lines_end];
            if want == Want::Print && !p.nul && memchr(0, text).is_some() {
                p.nul = true;
                self.binary.store(true, Ordering::Relaxed);
            }
            if want == Want::Print && self.binary.load(Ordering::Relaxed) {
                // Binary: all that is left to learn is whether anything matches.
                p.out = Vec::new();
                want = Want::Any;
            }
            if want == Want::Any && self.found.load(Ordering::Relaxed) {
                break;
            }
            let found = lines::search(self.cfg, self.shown, text, 1, 0, want, &mut p.out);
            p.count += found.count;
            p.encoding_error |= found.encoding_error;
            p.printed |= found.printed;
            if p.count > 0 {
                self.found.store(true, Ordering::Relaxed);
            }
            if n == 0 || self.cfg.max_count.is_some_and(|m| p.count >= m) {
                break;
            }
            buf.copy_within(lines_end..filled, 0);
            kept = filled - lines_end;
        }
        Ok(p)
    }
}

/// The first line start at or after `target`: `target` itself when a line ends just before
/// it, else just past the next newline (or `len`).
fn line_start_from(file: &File, target: u64, len: u64) -> std::io::Result<u64> {
    if target == 0 {
        return Ok(0);
    }
    let mut buf = [0u8; PROBE];
    let mut at = target - 1;
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(len)
}
