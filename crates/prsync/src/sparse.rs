//! rsync's `-S`/`--sparse` and `--preallocate`: how a new file's blocks are laid out. With
//! `-S` a run of zeros a whole block long is not written but left as a hole (or, in space
//! `--preallocate` reserved, punched out), so a disk image with large empty parts stays
//! small on the receiver.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use rustix::fs::FallocateFlags;

/// The size of a run of zeros that becomes a hole: the usual file-system block.
const HOLE: u64 = 4096;

/// Reserves `len` bytes for `file` (`--preallocate`); a file system that cannot is no error,
/// as rsync goes on without it.
pub fn preallocate(file: &File, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(file, FallocateFlags::KEEP_SIZE, 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Writes a new file from its start, leaving holes where whole blocks are zero. Call
/// [`SparseOut::finish`] at the end: a hole at the end needs the file's length set.
pub struct SparseOut<'f> {
    file: &'f File,
    /// Where the block being filled starts; all before it is written or a hole.
    done: u64,
    /// The bytes of that block so far, until it is whole.
    pending: Vec<u8>,
    /// Blocks reserved by `--preallocate` are punched out rather than skipped.
    punch: bool,
    /// With `punch`: the holes, punched once the file has its length (a file system may
    /// ignore a punch past the end of the file, where reserved space still is).
    holes: Vec<(u64, u64)>,
}

impl<'f> SparseOut<'f> {
    /// A writer at the start of the empty `file`.
    pub fn new(file: &'f File, punch: bool) -> Self {
        SparseOut {
            file,
            done: 0,
            pending: Vec::new(),
            punch,
            holes: Vec::new(),
        }
    }

    /// Writes what is left and sets the file's length to what was written, holes included.
    pub fn finish(mut self) -> io::Result<()> {
        let tail = std::mem::take(&mut self.pending);
        self.put_blocks(&tail)?;
        self.file.set_len(self.done)?;
        let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
        for &(at, len) in &self.holes {
            if rustix::fs::fallocate(self.file, flags, at, len).is_err() {
                // Without punching, the zeros are written: the same bytes, not sparse.
                self.file.write_all_at(&vec![0u8; len as usize], at)?;
            }
        }
        Ok(())
    }

    /// Writes `data`, which starts on a block boundary at `self.done`: runs of data in one
    /// write each, whole zero blocks as holes.
    fn put_blocks(&mut self, data: &[u8]) -> io::Result<()> {
        let zero = |b: &[u8]| b.len() as u64 == HOLE && b.iter().all(|&x| x == 0);
        let mut run_start = 0;
        let mut at = 0;
        while at < data.len() {
            let end = (at + HOLE as usize).min(data.len());
            if zero(&data[at..end]) {
                self.write_run(&data[run_start..at], run_start)?;
                self.hole(self.done + at as u64, HOLE)?;
                run_start = end;
            }
            at = end;
        }
        self.write_run(&data[run_start..], run_start)?;
        self.done += data.len() as u64;
        Ok(())
    }

    fn write_run(&self, run: &[u8], offset: usize) -> io::Result<()> {
        match run.is_empty() {
            true => Ok(()),
            false => self.file.write_all_at(run, self.done + offset as u64),
        }
    }

    fn hole(&mut self, at: u64, len: u64) -> io::Result<()> {
        if !self.punch {
            return Ok(());
        }
        match self.holes.last_mut() {
            Some((start, n)) if *start + *n == at => *n += len,
            _ => self.holes.push((at, len)),
        }
        Ok(())
    }
}

impl Write for SparseOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        if !self.pending.is_empty() {
            let take = (HOLE as usize - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() as u64 == HOLE {
                let block = std::mem::take(&mut self.pending);
                self.put_blocks(&block)?;
            }
        }
        let whole = rest.len() / HOLE as usize * HOLE as usize;
        self.put_blocks(&rest[..whole])?;
        self.pending.extend_from_slice(&rest[whole..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_blocks_become_holes_and_the_bytes_stay() {
        let dir = std::env::temp_dir().join(format!("prsync-sparse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let mut data = vec![0u8; 4 << 20];
        data[..5].copy_from_slice(b"head!");
        let n = data.len();
        data[n - 4..].copy_from_slice(b"tail");
        data[1 << 20..(1 << 20) + 3].copy_from_slice(b"mid");
        for punch in [false, true] {
            let file = File::create(&path).unwrap();
            if punch {
                preallocate(&file, n as u64).unwrap();
            }
            let mut out = SparseOut::new(&file, punch);
            for chunk in data.chunks(10_000) {
                out.write_all(chunk).unwrap();
            }
            out.finish().unwrap();
            drop(file);
            assert_eq!(std::fs::read(&path).unwrap(), data);
            let used = std::fs::metadata(&path).unwrap().blocks() * 512;
            assert!(used < 1 << 20, "punch {punch}: {used} bytes allocated");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
