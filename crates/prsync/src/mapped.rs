//! Files read whole for the rsync algorithm, mapped rather than copied into memory, so a
//! multi-gigabyte file costs page cache, not heap.

use crate::bus_guard::Guard;
use std::fs::File;
use std::io;

/// A file's bytes, mapped (or empty: a zero-length file cannot be mapped).
pub struct Mapped {
    // Declared first so that it is dropped (unregistered) before the mapping goes.
    guard: Guard,
    map: Option<memmap2::Mmap>,
}

impl Mapped {
    /// Maps `file` for reading.
    pub fn new(file: &File) -> io::Result<Mapped> {
        if file.metadata()?.len() == 0 {
            return Ok(Mapped {
                guard: Guard::register(std::ptr::null(), 0),
                map: None,
            });
        }
        // SAFETY: the mapping is read-only and private to this process. Another process may
        // still change the file while it is mapped, which Rust cannot rule out; what the
        // bytes are used for is checked against a whole-file hash (the delta's and the block
        // map's), so a file changed mid-read is caught and sent again whole, as rsync does.
        // A file cut short makes reads past its new end fault: the guard turns those into
        // zeros, and `intact` tells.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Mapped {
            guard: Guard::register(map.as_ptr(), map.len()),
            map: Some(map),
        })
    }

    /// Whether every byte read so far was the file's: false once a read fell past the end
    /// of a file that another process cut short while it was mapped.
    pub fn intact(&self) -> bool {
        self.guard.intact()
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
