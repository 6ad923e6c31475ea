//! Files read whole, mapped rather than copied into memory, so that a multi-gigabyte file
//! costs page cache, not heap: prsync's delta search and basis, pgrep-mail's large mail
//! folders. A file that another process cuts short while it is mapped would kill the reader
//! with SIGBUS; here the lost pages read as zeros and [`Mapped::intact`] says so, so that
//! the reader can fail or read that one file again.

mod bus_guard;

use bus_guard::Guard;
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
                guard: Guard::none(),
                map: None,
            });
        }
        // SAFETY: the mapping is read-only and private to this process. Another process may
        // still change the file while it is mapped, which Rust cannot rule out: callers check
        // what they made from the bytes (prsync against whole-file hashes) or take the bytes
        // as a snapshot that may be torn, as a reader with read(2) would. A file cut short
        // makes reads past its new end fault: the guard turns those into zeros, and
        // `intact` tells.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file cut short under its mapping reads as zeros past its new end, and only its own
    /// mapping is marked; without the guard the read would end the test process (SIGBUS).
    #[test]
    fn a_file_cut_short_reads_zeros_and_is_marked() {
        let dir = std::env::temp_dir().join(format!("prtools-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cut, kept) = (dir.join("cut"), dir.join("kept"));
        for path in [&cut, &kept] {
            std::fs::File::create(path)
                .unwrap()
                .write_all(&vec![7u8; 3 << 16])
                .unwrap();
        }
        let (cut_file, kept_file) = (File::open(&cut).unwrap(), File::open(&kept).unwrap());
        let (cut_map, kept_map) = (
            Mapped::new(&cut_file).unwrap(),
            Mapped::new(&kept_file).unwrap(),
        );
        std::fs::OpenOptions::new()
            .write(true)
            .open(&cut)
            .unwrap()
            .set_len(1 << 16)
            .unwrap();
        let sum = |m: &Mapped| m.iter().map(|&b| u64::from(b)).sum::<u64>();
        assert_eq!(sum(&cut_map), 7 << 16);
        assert!(!cut_map.intact());
        assert_eq!(sum(&kept_map), 7 * (3 << 16));
        assert!(kept_map.intact());
        assert!(Mapped::new(&File::open(&cut).unwrap()).unwrap().intact());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
