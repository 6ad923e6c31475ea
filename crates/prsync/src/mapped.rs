//! Files read whole for the rsync algorithm, mapped rather than copied into memory, so a
//! multi-gigabyte file costs page cache, not heap.

use std::fs::File;
use std::io;

/// A file's bytes, mapped (or empty: a zero-length file cannot be mapped).
pub enum Mapped {
    /// The mapping.
    Map(memmap2::Mmap),
    /// A file of no bytes.
    Empty,
}

impl Mapped {
    /// Maps `file` for reading.
    pub fn new(file: &File) -> io::Result<Mapped> {
        if file.metadata()?.len() == 0 {
            return Ok(Mapped::Empty);
        }
        // SAFETY: the mapping is read-only and private to this process. Another process may
        // still change the file while it is mapped, which Rust cannot rule out; what the
        // bytes are used for is checked against a whole-file hash (the delta's and the block
        // map's), so a file changed mid-read is caught and sent again whole, as rsync does.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Mapped::Map(map))
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Mapped::Map(map) => map,
            Mapped::Empty => &[],
        }
    }
}
