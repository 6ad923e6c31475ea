//! Helpers the fuzz targets share: splitting one input into several, a reader that counts
//! what was taken from it, and the checks every error message must pass.

use std::io::{self, Read};

/// Splits `data` at NUL bytes into at most `n` parts; the last part keeps any further NULs.
/// Missing parts are empty, so every input gives exactly `n`.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0).collect();
    out.resize(n, &[]);
    out
}

/// A reader over a slice that counts the bytes handed out and hands them out in pieces of
/// at most `step`, as a pipe does: decoders must not assume a read fills their buffer.
pub struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    /// Bytes read so far.
    pub taken: usize,
}

impl<'a> Trickle<'a> {
    /// A reader of `data`, `step` bytes at a time at most (0 counts as 1).
    pub fn new(data: &'a [u8], step: usize) -> Trickle<'a> {
        Trickle {
            data,
            step: step.max(1),
            taken: 0,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len() - self.taken);
        buf[..n].copy_from_slice(&self.data[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

/// Panics unless `message` is one line: prtools prints every error as one line, and a
/// message built from hostile input must not let it start another (a forged `host: ok`).
/// Inputs that themselves hold a line break may show it, so `input` is consulted.
pub fn assert_one_line(message: &str, input: &[u8]) {
    if !input.contains(&b'\n') && !input.contains(&b'\r') {
        assert!(
            !message.contains('\n') && !message.contains('\r'),
            "error message of more than one line: {message:?}"
        );
    }
}
