//! rsync's two block checksums: the rolling sum that finds candidate blocks at any
//! offset, and the MD5 (seeded) that confirms them; and MD5 of a whole file.
//!
//! rsync adds the bytes as *signed* chars, so a byte of 0x80 and up counts as negative:
//! the sums differ from an unsigned Adler-style sum on any such byte, which is why this
//! crate keeps its own instead of prtools-delta's.

use md5::{Digest, Md5};

/// The rolling sum of `block`, as rsync's `get_checksum1`: the low 16 bits hold the sum
/// of the bytes, the high 16 the sum of the running sums.
pub fn rolling(block: &[u8]) -> u32 {
    let (mut s1, mut s2) = (0u32, 0u32);
    for &b in block {
        s1 = s1.wrapping_add(b as i8 as i32 as u32);
        s2 = s2.wrapping_add(s1);
    }
    (s1 & 0xFFFF).wrapping_add(s2 << 16)
}

/// A rolling sum over a window that slides one byte at a time.
#[derive(Clone, Copy, Debug)]
pub struct Rolling {
    s1: u32,
    s2: u32,
    len: u32,
}

impl Rolling {
    /// The sum of `window`.
    pub fn new(window: &[u8]) -> Rolling {
        let (mut s1, mut s2) = (0u32, 0u32);
        for &b in window {
            s1 = s1.wrapping_add(b as i8 as i32 as u32);
            s2 = s2.wrapping_add(s1);
        }
        Rolling {
            s1,
            s2,
            len: window.len() as u32,
        }
    }

    /// The sum as sent on the wire.
    pub fn value(&self) -> u32 {
        (self.s1 & 0xFFFF).wrapping_add(self.s2 << 16)
    }

    /// Slides the window: `out` leaves at the front, `inp` (if any) joins at the back; at
    /// the end of the data the window only shrinks.
    pub fn roll(&mut self, out: u8, inp: Option<u8>) {
        let out = out as i8 as i32 as u32;
        self.s1 = self.s1.wrapping_sub(out);
        self.s2 = self.s2.wrapping_sub(self.len.wrapping_mul(out));
        match inp {
            Some(b) => {
                self.s1 = self.s1.wrapping_add(b as i8 as i32 as u32);
                self.s2 = self.s2.wrapping_add(self.s1);
            }
            None => self.len -= 1,
        }
    }
}

/// The strong sum of a block: MD5 with the seed's 4 little-endian bytes before the block
/// (`seed_first`, the compat flag rsync calls the seed fix) or after it; no seed bytes
/// when the seed is 0.
pub fn strong(block: &[u8], seed: i32, seed_first: bool) -> [u8; 16] {
    let mut m = Md5::new();
    let seed_bytes = seed.to_le_bytes();
    if seed != 0 && seed_first {
        m.update(seed_bytes);
    }
    m.update(block);
    if seed != 0 && !seed_first {
        m.update(seed_bytes);
    }
    m.finalize().into()
}

/// The whole-file checksum that ends each file's data: plain MD5, no seed.
#[derive(Clone, Default)]
pub struct FileSum(Md5);

impl FileSum {
    /// Adds bytes of the file, in order.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The sum.
    pub fn finish(self) -> [u8; 16] {
        self.0.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_over_127_count_as_negative_as_in_rsync() {
        // s1 = 1 + 2 + 3 = 6; s2 = 1 + 3 + 6 = 10.
        assert_eq!(rolling(&[1, 2, 3]), 6 + (10 << 16));
        // 0xFF is -1: s1 = -1, s2 = -1.
        assert_eq!(rolling(&[0xFF]), 0xFFFF + (0xFFFF_FFFFu32 << 16));
        assert_eq!(rolling(&[]), 0);
    }

    #[test]
    fn a_rolled_sum_equals_the_sum_of_the_new_window() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 37 % 251) as u8).collect();
        let n = 64;
        let mut r = Rolling::new(&data[..n]);
        for k in 1..data.len() {
            let end = (k + n).min(data.len());
            r.roll(data[k - 1], (k + n <= data.len()).then(|| data[k + n - 1]));
            assert_eq!(r.value(), rolling(&data[k..end]), "offset {k}");
        }
    }

    #[test]
    fn the_seed_goes_where_the_flag_says() {
        let a = strong(b"block", 7, true);
        let b = strong(b"block", 7, false);
        assert_ne!(a, b);
        let mut m = Md5::new();
        m.update(7i32.to_le_bytes());
        m.update(b"block");
        assert_eq!(a, <[u8; 16]>::from(m.finalize()));
        assert_eq!(strong(b"block", 0, true), strong(b"block", 0, false));
        // MD5 of "abc", the RFC 1321 test vector.
        let mut f = FileSum::default();
        f.update(b"ab");
        f.update(b"c");
        assert_eq!(
            f.finish(),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
    }
}
