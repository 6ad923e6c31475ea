//! The output of a streamed (compressed) file, kept until the writer reaches it: in memory
//! while it is small, then in an unnamed temporary file. The search threads finish files
//! out of order and the writer prints them in order, so a file's output waits; a
//! compressed folder can expand to any size, and so can its output (every line of 10 GB
//! may match), so waiting output must not be held in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use super::lines::SPILL_AT;

/// A file's output: what `disk` holds, then `mem`.
#[derive(Default)]
pub struct Spool {
    /// The output not yet moved to disk.
    pub mem: Vec<u8>,
    /// The output moved to disk.
    pub disk: Disk,
}

/// The part of a [`Spool`] on disk.
#[derive(Default)]
pub struct Disk {
    file: Option<File>,
    len: u64,
    /// Why the output could not be kept, if it could not.
    pub error: Option<String>,
}

impl Disk {
    /// Moves `mem` to the file (made at the first call), leaving `mem` empty.
    pub fn take(&mut self, mem: &mut Vec<u8>) {
        if self.error.is_none() {
            if let Err(e) = self.append(mem) {
                self.error = Some(format!(
                    "cannot keep its output in {} ({}); set TMPDIR to a folder with room",
                    std::env::temp_dir().display(),
                    crate::io_reason(&e)
                ));
            }
        }
        mem.clear();
    }

    fn append(&mut self, mem: &[u8]) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(unnamed_temp_file()?),
        };
        file.write_all(mem)?;
        self.len += mem.len() as u64;
        Ok(())
    }
}

impl Spool {
    /// Bytes held, on disk and in memory: where the next byte goes.
    pub fn len(&self) -> u64 {
        self.disk.len + self.mem.len() as u64
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `bytes`, moving what is held to disk once it is large.
    pub fn write(&mut self, bytes: &[u8]) {
        self.mem.extend_from_slice(bytes);
        self.settle();
    }

    /// Moves what is held in memory to disk once it is large.
    pub fn settle(&mut self) {
        if self.mem.len() >= SPILL_AT {
            self.disk.take(&mut self.mem);
        }
    }

    /// Forgets everything held.
    pub fn clear(&mut self) {
        self.mem.clear();
        if let Some(f) = &mut self.disk.file {
            let _ = f.set_len(0);
            let _ = f.seek(SeekFrom::Start(0));
        }
        self.disk.len = 0;
    }

    /// Hands the bytes in `[start, end)` to `each`, a piece at a time.
    pub fn copy_range(
        &mut self,
        start: u64,
        end: u64,
        each: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut at = start;
        if at < self.disk.len {
            let file = self.disk.file.as_mut().expect("bytes on disk have a file");
            file.seek(SeekFrom::Start(at))?;
            let mut buf = vec![0u8; SPILL_AT];
            while at < end.min(self.disk.len) {
                let want = (end.min(self.disk.len) - at).min(buf.len() as u64) as usize;
                file.read_exact(&mut buf[..want])?;
                each(&buf[..want])?;
                at += want as u64;
            }
        }
        if at < end {
            let from = (at - self.disk.len) as usize;
            each(&self.mem[from..(end - self.disk.len) as usize])?;
        }
        Ok(())
    }
}

/// A temporary file that has no name, so nothing is left behind however the run ends.
fn unnamed_temp_file() -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    let unnamed = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir);
    if let Ok(f) = unnamed {
        return Ok(f);
    }
    // Filesystems without O_TMPFILE: a private name, removed at once.
    let path = dir.join(format!(
        ".pgrep-mail-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_span_disk_and_memory() {
        let mut s = Spool::default();
        let big: Vec<u8> = (0..SPILL_AT + 10).map(|i| (i % 251) as u8).collect();
        s.write(&big);
        s.write(b"tail");
        assert!(s.disk.len > 0 && !s.mem.is_empty());
        let mut got = Vec::new();
        let end = s.len();
        s.copy_range(5, end, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        let mut want = big[5..].to_vec();
        want.extend_from_slice(b"tail");
        assert_eq!(got, want);
        s.clear();
        assert!(s.is_empty());
    }
}
