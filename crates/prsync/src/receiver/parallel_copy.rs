//! Rebuilding a big file on every core: the stretches of the new file that the old one
//! holds are copied into place by a few threads (the kernel copying page cache to page
//! cache), while the receiver's own thread fetches the missing ranges and writes them at
//! their places.
//!
//! On a big file with few changes nearly all of the new file is the old one's bytes, and
//! writing them is most of a transfer's work at the receiving end: about 1 GiB of page
//! cache to fill for issue 15's (a), where everything else (the search, the fetched
//! ranges) takes a fraction. One thread copying it left the other cores idle; the
//! stretches are independent, so each thread takes an equal share of the bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use prtools_delta::{BlockMap, Signature};

/// A file whose old bytes reused come to at least this many is rebuilt in parallel: below
/// it, starting threads costs more than they save.
pub(super) const PARALLEL_LEAST: u64 = 16 << 20;

/// At most this many bytes of new data are gathered before they are written.
const NEW_BUFFER: usize = 1 << 20;

/// A stretch of the new file that the old one holds, as one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    /// Where it goes in the new file.
    pub(super) to: u64,
    /// Where it is in the old file.
    pub(super) from: u64,
    pub(super) len: u64,
}

/// The stretches of the new file that `map` finds in the old one, adjacent blocks that are
/// adjacent in the old file too joined into one.
pub(super) fn runs(sig: &Signature, map: &BlockMap) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for block in 0..sig.block_count() {
        let Some(from) = map.get(block) else {
            continue;
        };
        let range = sig.block_range(block);
        let len = range.end - range.start;
        match runs.last_mut() {
            Some(last) if last.to + last.len == range.start && last.from + last.len == from => {
                last.len += len;
            }
            _ => runs.push(Run {
                to: range.start,
                from,
                len,
            }),
        }
    }
    runs
}

/// How many threads copy: one a core, at most 4 (the copy is bound by memory, and more
/// threads only contend for it).
pub(super) fn copy_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Copies every run from `basis` (whose bytes are also `local`) into place in `out`, on
/// `threads` threads, each taking an equal share of the bytes. `release`: the basis is the
/// file the new one replaces, and its pages are let go as they are copied (see
/// [`release_old`]).
pub(super) fn copy_runs(
    basis: &File,
    local: &[u8],
    out: &File,
    runs: &[Run],
    threads: usize,
    release: bool,
) -> io::Result<()> {
    let total: u64 = runs.iter().map(|r| r.len).sum();
    let threads = threads.max(1) as u64;
    std::thread::scope(|scope| {
        let shares: Vec<_> = (0..threads)
            .map(|k| {
                let (start, end) = (total * k / threads, total * (k + 1) / threads);
                scope.spawn(move || copy_share(basis, local, out, runs, start..end, release))
            })
            .collect();
        let mut result = Ok(());
        for share in shares {
            let done = share
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a copying thread failed")));
            if result.is_ok() {
                result = done;
            }
        }
        result
    })
}

/// Copies the bytes `share` of the runs, counted over all of them back to back.
fn copy_share(
    basis: &File,
    local: &[u8],
    out: &File,
    runs: &[Run],
    share: std::ops::Range<u64>,
    release: bool,
) -> io::Result<()> {
    let mut seen = 0u64;
    let mut kernel = true;
    for run in runs {
        let (run_start, run_end) = (seen, seen + run.len);
        seen = run_end;
        let (start, end) = (run_start.max(share.start), run_end.min(share.end));
        if start >= end {
            continue;
        }
        let skip = start - run_start;
        let (from, to, len) = (run.from + skip, run.to + skip, end - start);
        let copied = if kernel {
            copy_in_kernel(basis, from, out, to, len)?
        } else {
            0
        };
        if copied < len {
            // The kernel cannot copy between these files: through the map.
            kernel = false;
            let (from, to) = ((from + copied) as usize, to + copied);
            let bytes = local
                .get(from..from + (len - copied) as usize)
                .ok_or_else(|| io::Error::other("the old file shrank while it was read"))?;
            out.write_all_at(bytes, to)?;
        }
        if release {
            release_old(basis, local, from, len);
        }
    }
    Ok(())
}

/// Lets go of the old file's pages in `from..from + len`, once copied: this process's
/// map of them (the search read the whole old file through it), then the page cache.
///
/// The rename that puts the new file in place drops the old one, and with it every page
/// of it still cached, on one thread while the run waits: about 0.35 s for issue 15's
/// (a), after its writeback was taken out of the rename (see [`start_writeback`]). Let go
/// here, that work is shared by the copying threads. Only advice: a page another process
/// maps or dirtied stays, and a page read again later is read from the file.
fn release_old(basis: &File, local: &[u8], from: u64, len: u64) {
    // SAFETY: sysconf reads a constant of the system.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => return,
    };
    let start = from.div_ceil(page) * page;
    let end = (from + len).min(local.len() as u64) / page * page;
    if start >= end {
        return;
    }
    // SAFETY: `start..end` lies inside the map, whose start is page aligned, so the range
    // is whole pages of it. The map is a read-only shared map of the file: MADV_DONTNEED
    // only drops this process's page-table entries, and a later read of these bytes maps
    // them in again from the file, the same bytes, so nothing that borrows the map sees
    // a change.
    unsafe {
        libc::madvise(
            local.as_ptr().add(start as usize) as *mut libc::c_void,
            (end - start) as usize,
            libc::MADV_DONTNEED,
        );
    }
    let _ = rustix::fs::fadvise(
        basis,
        start,
        std::num::NonZeroU64::new(end - start),
        rustix::fs::Advice::DontNeed,
    );
}

/// Bytes copied between two kicks of the new file's writeback (see [`start_writeback`]).
const WRITE_BEHIND: u64 = 8 << 20;

/// Starts writing `len` bytes of `out` at `at` to disk, without waiting for it.
///
/// Otherwise the whole new file is still dirty when it is renamed over the old one, and
/// ext4 (`auto_da_alloc`) flushes it in the rename itself: for issue 15's (a) that rename
/// took 0.9 s of a 2 s run, one thread waiting while the disk took 1 GiB. Started as each
/// piece is copied, that writing overlaps the copy, and the rename finds little left.
/// Only a hint: a file system without it simply writes later.
fn start_writeback(out: &File, at: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its plain integer arguments; an fd that is not
    // a regular file's, or a range past the end, is an error return, never undefined.
    unsafe {
        libc::sync_file_range(
            out.as_raw_fd(),
            at as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Copies `len` bytes of `basis` at `from` to `out` at `to` in the kernel; how many it
/// copied (fewer when the kernel cannot copy between these files, or the basis shrank).
fn copy_in_kernel(
    basis: &File,
    mut from: u64,
    out: &File,
    mut to: u64,
    len: u64,
) -> io::Result<u64> {
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(WRITE_BEHIND) as usize;
        let at = to;
        match rustix::fs::copy_file_range(basis, Some(&mut from), out, Some(&mut to), want) {
            Ok(0) => break,
            Ok(n) => {
                done += n as u64;
                start_writeback(out, at, n as u64);
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::OPNOTSUPP,
            ) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Where the [`Assembler`](prtools_delta::Assembler) writes while the runs are copied on
/// other threads: new bytes go to their place in the file, gathered up to [`NEW_BUFFER`];
/// old bytes are only counted, the copying threads write them.
pub(super) struct Positional<'f> {
    out: &'f File,
    /// Where the next byte of the new file goes.
    at: u64,
    /// New bytes not written yet, which go at `at - pending.len()`.
    pending: Vec<u8>,
}

impl<'f> Positional<'f> {
    pub(super) fn new(out: &'f File) -> Self {
        Positional {
            out,
            at: 0,
            pending: Vec::new(),
        }
    }

    pub(super) fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let start = self.at - self.pending.len() as u64;
            self.out.write_all_at(&self.pending, start)?;
            self.pending.clear();
        }
        Ok(())
    }
}

impl prtools_delta::Output for Positional<'_> {
    fn write_new(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.pending.len() + bytes.len() > NEW_BUFFER {
            self.flush()?;
        }
        if bytes.len() >= NEW_BUFFER {
            self.out.write_all_at(bytes, self.at)?;
        } else {
            self.pending.extend_from_slice(bytes);
        }
        self.at += bytes.len() as u64;
        Ok(())
    }

    fn write_basis(&mut self, bytes: &[u8], _offset: u64) -> io::Result<()> {
        self.flush()?;
        self.at += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prtools_delta::{block_map, Assembler, SignatureOptions};
    use std::io::Read;

    fn noise(len: usize, mut x: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Rebuilds `new` from `old` the parallel way, in a temp dir, and returns what was
    /// written.
    fn rebuild(old: &[u8], new: &[u8], block: u32, threads: usize) -> Vec<u8> {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "prsync-parallel-copy-{}-{case}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old"), old).unwrap();
        let basis = File::open(dir.join("old")).unwrap();
        let out = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join("new"))
            .unwrap();
        let options = SignatureOptions {
            block_size: Some(block),
            strong_len: None,
        };
        let sig = Signature::new(new, &options).unwrap();
        let map = block_map(&sig, old);
        let fetched: Vec<u8> = map
            .missing_ranges()
            .iter()
            .flat_map(|r| new[r.start as usize..r.end as usize].iter().copied())
            .collect();
        let runs = runs(&sig, &map);
        copy_runs(&basis, old, &out, &runs, threads, threads == 2).unwrap();
        let mut positional = Positional::new(&out);
        let mut assembler = Assembler::new(&sig, &map, old).unwrap();
        for piece in fetched.chunks(777) {
            assembler.feed_to(piece, &mut positional).unwrap();
        }
        assembler.finish_to(&mut positional).unwrap();
        positional.flush().unwrap();
        let mut written = Vec::new();
        File::open(dir.join("new"))
            .unwrap()
            .read_to_end(&mut written)
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        written
    }

    /// Edits on and across block boundaries, an insertion that shifts every later block,
    /// a cut, and an old file shorter and longer than the new one, each rebuilt on 1 to 3
    /// threads whose shares split runs anywhere.
    #[test]
    fn rebuilds_every_kind_of_change_on_any_number_of_threads() {
        let block = 1024usize;
        let old = noise(64 * block + 300, 1);
        let mut cases: Vec<(&str, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut at_boundary = old.clone();
        at_boundary[8 * block - 2..8 * block + 2].copy_from_slice(b"EDIT");
        at_boundary[20 * block..21 * block].copy_from_slice(&noise(block, 9));
        cases.push(("edits at block boundaries", old.clone(), at_boundary));
        let inserted = [&old[..5 * block + 7], b"inserted", &old[5 * block + 7..]].concat();
        cases.push(("an insertion that shifts alignment", old.clone(), inserted));
        let cut = [&old[..3 * block], &old[3 * block + 100..]].concat();
        cases.push(("a cut", old.clone(), cut));
        cases.push((
            "an old file shorter",
            old[..30 * block].to_vec(),
            old.clone(),
        ));
        let longer = [&old[..], &noise(10 * block, 4)].concat();
        cases.push(("an old file longer", longer, old.clone()));
        cases.push(("no change", old.clone(), old.clone()));
        for (what, old, new) in &cases {
            for threads in 1..=3 {
                assert!(
                    rebuild(old, new, block as u32, threads) == *new,
                    "{what}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn runs_join_blocks_adjacent_in_both_files() {
        let block = 100usize;
        let old = noise(10 * block, 2);
        // Blocks 0-3 in place, then 6-9 of the old file, then 4-5.
        let new = [
            &old[..4 * block],
            &old[6 * block..],
            &old[4 * block..6 * block],
        ]
        .concat();
        let options = SignatureOptions {
            block_size: Some(block as u32),
            strong_len: None,
        };
        let sig = Signature::new(&new, &options).unwrap();
        let map = block_map(&sig, &old);
        let b = block as u64;
        assert_eq!(
            runs(&sig, &map),
            [
                Run {
                    to: 0,
                    from: 0,
                    len: 4 * b
                },
                Run {
                    to: 4 * b,
                    from: 6 * b,
                    len: 4 * b
                },
                Run {
                    to: 8 * b,
                    from: 4 * b,
                    len: 2 * b
                },
            ]
        );
    }
}
