//! Line mode over one large file, by every core at once, a cache-sized chunk at a time.
//!
//! The file (mapped, see [`crate::decompress`]) is cut into pieces at line boundaries, and
//! each core walks its pieces. When lines are printed, grep's binary test (a NUL byte) must
//! read every byte too: where the pattern allows, one search finds the next match or NUL,
//! whichever comes first ([`MatchOrNul`]), and only the lines it stops at are searched
//! again. Otherwise a piece is walked a [`CHUNK`] at a time: a NUL test, then the search,
//! which reads the chunk from the core's cache, so the file crosses the memory bus once.
//! A NUL test over the whole file first, then the search, read it twice (each pass as slow
//! as the search itself), and `pread`ing each chunk into a buffer of its own spent most of
//! the time in the kernel's copy.
//!
//! The results are those of searching the whole file as one buffer ([`super::search_lines`]
//! with its pieces), because every piece holds whole lines and the matcher never looks past
//! a line's newline (see [`super::matcher`]). Line numbers would need the line count of
//! every earlier piece, and context lines and `-m` the lines around a piece's edges, so
//! those searches take the whole-buffer path ([`applies`]).

use std::sync::atomic::{AtomicBool, Ordering};

use memchr::{memchr, memrchr};
use rayon::prelude::*;

use super::lines::{self, Want};
use super::matcher::MatchOrNul;
use super::{Outcome, PIECES_PER_CORE};
use crate::config::{Config, Report};

/// How much of a piece is tested and searched at a time: small enough to stay in a core's
/// L2 cache between the NUL test and the search, large enough that the calls per chunk
/// cost nothing against the search.
pub(super) const CHUNK: usize = 256 << 10;

/// The largest piece: a core takes one at a time, so the last ones to finish end within
/// about a piece's search (a few milliseconds) of each other.
const PIECE_MAX: usize = 32 << 20;

/// Whether a large file can be searched in pieces on their own, with the results of
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

/// Searches `data` (a whole file), shown as `name`, into `o`. `shown` is the name to prefix
/// lines with, if lines carry one. `mapped` says that `data` is a read-only mapping of a
/// file: each piece's pages are then unmapped once searched ([`Shared::release`]). Returns
/// false, with `o` untouched, when lines are printed and the file turns out to be binary:
/// that search needs the whole buffer.
pub fn search(
    cfg: &Config,
    data: &[u8],
    mapped: bool,
    name: &[u8],
    shown: Option<&[u8]>,
    o: &mut Outcome,
) -> bool {
    // grep prints the lines of a text file, and only says that a binary one (one with a NUL
    // byte anywhere) matches. Which one this is is known only once every piece has been
    // read, so the pieces print as for text until one of them meets a NUL and says so.
    let print = cfg.report == Report::Lines;
    let want = match cfg.report {
        Report::Lines => Want::Print,
        Report::Count => Want::Count,
        _ => Want::Any,
    };
    // Pieces of at most PIECE_MAX even out the cores' shares when one is slowed (by other
    // work on the machine) near the end.
    let pieces = (cfg.threads * PIECES_PER_CORE).max(data.len() / PIECE_MAX);
    let len = data.len();
    let mut bounds = vec![0];
    for k in 1..pieces {
        let target = len / pieces * k;
        let cut = memchr(b'\n', &data[target - 1..]).map_or(len, |i| target + i);
        if cut > *bounds.last().unwrap_or(&0) && cut < len {
            bounds.push(cut);
        }
    }
    bounds.push(len);
    let binary = AtomicBool::new(false);
    let found = AtomicBool::new(false);
    let page = page_size();
    let shared = Shared {
        cfg,
        data,
        page: if mapped { page } else { 0 },
        shown,
        binary: &binary,
        found: &found,
    };
    let results: Vec<Piece> = bounds
        .par_windows(2)
        .map(|w| shared.piece(w[0], w[1], want))
        .collect();
    if print && results.iter().any(|p| p.nul) {
        // grep prints the lines before the buffer that holds the first NUL byte: which
        // those are is known from the whole file only, so it is searched whole (binary
        // files this large are rare).
        return false;
    }
    let mut encoding_error = false;
    for p in results {
        o.count += p.count;
        o.printed |= p.printed;
        o.out.extend_from_slice(&p.out);
        encoding_error |= p.encoding_error;
    }
    if let Some(max) = cfg.max_count {
        o.count = o.count.min(max);
    }
    if print && encoding_error && o.count > 0 {
        o.notes.push(format!(
            "{}: binary file matches",
            String::from_utf8_lossy(name)
        ));
    }
    true
}

/// What every piece of one file shares.
struct Shared<'a> {
    cfg: &'a Config,
    data: &'a [u8],
    /// The page size when `data` is a read-only file mapping whose pages are given back as
    /// they are searched; 0 when it is not.
    page: usize,
    shown: Option<&'a [u8]>,
    /// Set when a piece meets a NUL byte: the pieces stop printing.
    binary: &'a AtomicBool,
    /// Set when a piece selects a line: enough for [`Want::Any`].
    found: &'a AtomicBool,
}

impl Shared<'_> {
    /// Searches the lines in `[start, end)` (both line starts), a chunk at a time.
    fn piece(&self, start: usize, end: usize, want: Want) -> Piece {
        let p = match self.cfg.matcher.match_or_nul() {
            Some(finder) if want == Want::Print && !self.cfg.invert => {
                self.piece_in_one_pass(start, end, finder)
            }
            _ => self.piece_by_chunks(start, end, want),
        };
        self.release(&self.data[start..end]);
        p
    }

    /// [`Shared::piece`] when lines are printed and a search for matches and NUL bytes at
    /// once is at hand: one pass finds both, and only the lines it stops at are searched
    /// again, alone.
    fn piece_in_one_pass(&self, start: usize, end: usize, finder: &MatchOrNul) -> Piece {
        let mut p = Piece::default();
        let hay = &self.data[..end];
        let mut at = start;
        while at < end {
            let Some(hit) = finder.find_at(hay, at) else {
                break;
            };
            if hit == end && (hit == start || hay[end - 1] == b'\n') {
                // An empty match after the last newline: there is no line there.
                break;
            }
            let line_start = memrchr(b'\n', &hay[at..hit]).map_or(at, |i| at + i + 1);
            let line_end = memchr(b'\n', &hay[hit..]).map_or(end, |i| hit + i + 1);
            let line = &hay[line_start..line_end];
            if memchr(0, line).is_some() {
                p.nul = true;
                self.binary.store(true, Ordering::Relaxed);
            }
            if self.binary.load(Ordering::Relaxed) {
                // Binary: the whole file is searched again (see [`search`]).
                p.out = Vec::new();
                break;
            }
            let found = lines::search(self.cfg, self.shown, line, 1, 0, Want::Print, &mut p.out);
            p.count += found.count;
            p.encoding_error |= found.encoding_error;
            p.printed |= found.printed;
            at = line_end;
        }
        p
    }

    /// [`Shared::piece`] a chunk at a time: a NUL test (when lines are printed) then the
    /// search, which reads the chunk from the core's cache.
    fn piece_by_chunks(&self, start: usize, end: usize, want: Want) -> Piece {
        let mut p = Piece::default();
        let mut at = start;
        while at < end {
            // The chunk ends after its last newline; a line longer than a chunk makes the
            // chunk as long as the line.
            let stop = if end - at <= CHUNK {
                end
            } else {
                let limit = at + CHUNK;
                match memrchr(b'\n', &self.data[at..limit]) {
                    Some(i) => at + i + 1,
                    None => memchr(b'\n', &self.data[limit..end]).map_or(end, |i| limit + i + 1),
                }
            };
            let text = &self.data[at..stop];
            at = stop;
            if want == Want::Print && memchr(0, text).is_some() {
                p.nul = true;
                self.binary.store(true, Ordering::Relaxed);
            }
            if want == Want::Print && self.binary.load(Ordering::Relaxed) {
                // Binary: the whole file is searched again (see [`search`]).
                break;
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
            if self.cfg.max_count.is_some_and(|m| p.count >= m) {
                break;
            }
        }
        if want == Want::Print && self.binary.load(Ordering::Relaxed) {
            p.out = Vec::new();
        }
        p
    }

    /// See [`release`]: only when `data` is a mapping.
    fn release(&self, text: &[u8]) {
        if self.page != 0 {
            // SAFETY: `page` is not 0 only when `data` is a read-only mapping of a file,
            // and `text` is part of `data`.
            unsafe { release(text, self.page) }
        }
    }
}

/// Unmaps the whole pages of `text`, searched, from the page table (the file's pages
/// stay in the page cache). Unmapping a 1 GiB file's 262,144 pages costs about a
/// twentieth of the search, and at exit or at the mapping's drop one core would do it
/// alone after the search; done as each piece is searched, every core unmaps what it
/// searched while the others search. Each call costs the other cores a TLB flush, so it is
/// made once a piece, not once a chunk. The memory stays mapped: a later read (the
/// whole-file search of a binary file, a matching message copied out) faults the same bytes
/// in again.
///
/// # Safety
///
/// `text` must lie inside a read-only mapping of a file, and `page` be the page size.
pub(super) unsafe fn release(text: &[u8], page: usize) {
    let start = text.as_ptr() as usize;
    let from = start.div_ceil(page) * page;
    let to = (start + text.len()) / page * page;
    if to > from {
        // SAFETY: `[from, to)` is whole pages inside `text`, part of a read-only mapping of
        // a file (the caller's promise). MADV_DONTNEED drops their page-table entries only;
        // as nothing was written to them, reading them again reads the same bytes of the
        // file, so every reference into the mapping stays valid. A failure only leaves the
        // pages mapped.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
        }
    }
}

/// Maps the pages of `text` in one call, where reading them would fault them in one
/// fault-around window (16 pages) at a time: a 256 MiB mailbox took about 6,000 faults, and
/// each costs more the busier the machine. Kernels before 5.14 refuse the request, and the
/// pages then fault in as they are read.
///
/// # Safety
///
/// `text` must lie inside a read-only mapping of a file, and `page` be the page size.
pub(super) unsafe fn populate(text: &[u8], page: usize) {
    let start = text.as_ptr() as usize;
    let from = start / page * page;
    let to = start + text.len();
    if to > from {
        // SAFETY: `[from, to)` lies inside the mapping that holds `text` (a mapping starts
        // on a page and ends on one, so the page that holds `text`'s first byte is in it).
        // MADV_POPULATE_READ only reads the file's pages into the page table, as reading
        // them would; a failure changes nothing.
        unsafe {
            libc::madvise(
                from as *mut libc::c_void,
                to - from,
                libc::MADV_POPULATE_READ,
            );
        }
    }
}

/// The page size, for [`release`] and [`populate`].
pub(super) fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the system.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        let words = ["pgrep-mail", "--threads", "2"].iter().chain(args);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(words).unwrap();
        Config::resolve_with(cli, &|_| None, true, false).unwrap()
    }

    /// Lines with a line longer than a chunk in the middle, and a last one with no newline.
    fn lines() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..40_000 {
            data.extend_from_slice(format!("line {i} needle\n").as_bytes());
            if i == 20_000 {
                data.extend(std::iter::repeat_n(b'x', CHUNK * 3));
                data.extend_from_slice(b" needle\n");
            }
        }
        data.extend_from_slice(b"last needle");
        data
    }

    fn run(args: &[&str], data: &[u8], mapped: bool) -> Option<Outcome> {
        let mut o = Outcome::default();
        search(&cfg(args), data, mapped, b"f", None, &mut o).then_some(o)
    }

    /// Every chunk ends at a line end, even one with a line longer than a chunk, and the
    /// pieces together search every line once.
    #[test]
    fn long_lines_and_chunks_count_every_line_once() {
        let data = lines();
        assert_eq!(
            run(&["-c", "needle", "f"], &data, false).unwrap().count,
            40_002
        );
        let o = run(&["needle", "f"], &data, false).unwrap();
        assert_eq!(o.out.iter().filter(|&&b| b == b'\n').count(), 40_002);
        assert!(o.out.ends_with(b"last needle\n"));
        assert_eq!(
            run(&["-c", "-m", "7", "needle", "f"], &data, false)
                .unwrap()
                .count,
            7
        );
    }

    /// The one-pass search (for patterns whose matches start with uncommon bytes) prints
    /// what the whole buffer's search prints, and leaves a file with a NUL to it.
    #[test]
    fn one_pass_prints_as_the_whole_buffer() {
        let mut data = Vec::new();
        for i in 0..60_000 {
            let line = match i % 7 {
                0 => format!("Needle {i} here\n"),
                3 => format!("an Other one, Needle{i}\n"),
                5 => format!("K\u{e9}lvin {i} Needle\n"),
                _ => format!("plain line {i}\n"),
            };
            data.extend_from_slice(line.as_bytes());
        }
        data.extend_from_slice(b"Needle last, no newline");
        let cases: &[&[&str]] = &[
            &["-F", "Needle"],
            &["-F", "-e", "Needle", "-e", "Other"],
            &["-E", "Needle [0-9]+"],
            &["-w", "Needle"],
            &["-x", "Needle 7 here"],
            &["-o", "-E", "Needle[0-9]*"],
            &["--color=always", "-E", "Other|Needle"],
            &["-F", "needle"],
            &["-E", "(Needle|Other) 1"],
        ];
        for args in cases {
            let mut args = args.to_vec();
            args.push("f");
            let cfg = cfg(&args);
            let whole = {
                let mut out = Vec::new();
                lines::search(&cfg, None, &data, 1, 0, Want::Print, &mut out);
                out
            };
            let o = run(&args, &data, false).unwrap();
            assert!(o.out == whole, "{args:?}");
            let mut binary = data.clone();
            let at = binary.len() / 2;
            binary[at] = 0;
            assert!(run(&args, &binary, false).is_none(), "{args:?} with a NUL");
        }
        let has = |args: &[&str]| cfg(args).matcher.match_or_nul().is_some();
        assert!(has(&["-F", "Needle", "f"]) && has(&["-E", "Needle [0-9]+", "f"]));
        assert!(!has(&["-F", "needle", "f"]) && !has(&["-E", "[a-z]+", "f"]));
    }

    /// A mapped file whose searched pages were given back reads the same when searched
    /// again, and a binary one (a NUL in a later piece) is left to the whole-file search.
    #[test]
    fn released_pages_read_the_same_again() {
        let dir = std::env::temp_dir().join(format!("pgrep-mail-pieces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut data = lines();
        let text = dir.join("text");
        std::fs::write(&text, &data).unwrap();
        let at = data.len() * 3 / 4;
        data[at] = 0;
        let binary = dir.join("binary");
        std::fs::write(&binary, &data).unwrap();
        let map = |path: &std::path::Path| {
            prtools_mapped::Mapped::new(&std::fs::File::open(path).unwrap()).unwrap()
        };
        let text_map = map(&text);
        let want = run(&["needle", "f"], &text_map, false).unwrap().out;
        for _ in 0..2 {
            assert!(run(&["needle", "f"], &text_map, true).unwrap().out == want);
        }
        let binary_map = map(&binary);
        assert!(run(&["needle", "f"], &binary_map, true).is_none());
        assert!(binary_map[..] == data[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
