//! A reader or writer that counts the bytes through it: rsync's `%b` is what one file's
//! transfer read or wrote, and its totals what a whole run did.

use std::io::{self, Read, Write};

/// `inner`, counting what is read from or written to it.
pub struct Counted<T> {
    inner: T,
    /// The bytes read or written so far.
    pub count: u64,
}

impl<T> Counted<T> {
    /// Counts from zero.
    pub fn new(inner: T) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_ways() {
        let mut w = Counted::new(Vec::new());
        w.write_all(b"hello").unwrap();
        assert_eq!(w.count, 5);
        let mut r = Counted::new(&b"abc"[..]);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        assert_eq!(r.count, 2);
    }
}
