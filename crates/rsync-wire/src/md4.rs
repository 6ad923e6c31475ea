//! MD4 (RFC 1320), the strong checksum of rsync's protocols 27 to 29: block sums and
//! whole-file sums below protocol 30 are MD4, with the session's seed mixed in (see
//! [`Checksum::Md4`](crate::checksum::Checksum::Md4)). Written from the RFC; its test
//! suite is this module's tests.

/// An MD4 computation in progress.
#[derive(Clone, Debug)]
pub struct Md4 {
    state: [u32; 4],
    /// Bytes waiting for a whole 64-byte block.
    buffer: [u8; 64],
    buffered: usize,
    /// Bytes taken in all.
    length: u64,
}

impl Default for Md4 {
    fn default() -> Self {
        Md4::new()
    }
}

impl Md4 {
    /// An empty sum.
    pub fn new() -> Md4 {
        Md4 {
            state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            buffer: [0; 64],
            buffered: 0,
            length: 0,
        }
    }

    /// Adds `data`.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 64 {
                return;
            }
            let block = self.buffer;
            self.compress(&block);
            self.buffered = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            self.compress(block.try_into().expect("64 bytes"));
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The 16-byte digest.
    pub fn finish(mut self) -> [u8; 16] {
        let bits = self.length.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let zeros = (55usize.wrapping_sub(self.buffered)) % 64;
        pad.resize(1 + zeros, 0);
        pad.extend_from_slice(&bits.to_le_bytes());
        let length = self.length;
        self.update(&pad);
        self.length = length;
        debug_assert_eq!(self.buffered, 0);
        let mut out = [0u8; 16];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The MD4 of `data` in one call.
    pub fn digest(data: &[u8]) -> [u8; 16] {
        let mut m = Md4::new();
        m.update(data);
        m.finish()
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut x = [0u32; 16];
        for (w, b) in x.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let [mut a, mut b, mut c, mut d] = self.state;
        let f = |x: u32, y: u32, z: u32| (x & y) | (!x & z);
        let g = |x: u32, y: u32, z: u32| (x & y) | (x & z) | (y & z);
        let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
        // Round 1: each step `a = (a + F(b,c,d) + X[k]) <<< s`, k in order.
        for i in 0..4 {
            let k = i * 4;
            a = a.wrapping_add(f(b, c, d)).wrapping_add(x[k]).rotate_left(3);
            d = d
                .wrapping_add(f(a, b, c))
                .wrapping_add(x[k + 1])
                .rotate_left(7);
            c = c
                .wrapping_add(f(d, a, b))
                .wrapping_add(x[k + 2])
                .rotate_left(11);
            b = b
                .wrapping_add(f(c, d, a))
                .wrapping_add(x[k + 3])
                .rotate_left(19);
        }
        // Round 2: G plus 0x5A827999, k by columns.
        const R2: u32 = 0x5A82_7999;
        for k in 0..4 {
            a = a
                .wrapping_add(g(b, c, d))
                .wrapping_add(x[k])
                .wrapping_add(R2)
                .rotate_left(3);
            d = d
                .wrapping_add(g(a, b, c))
                .wrapping_add(x[k + 4])
                .wrapping_add(R2)
                .rotate_left(5);
            c = c
                .wrapping_add(g(d, a, b))
                .wrapping_add(x[k + 8])
                .wrapping_add(R2)
                .rotate_left(9);
            b = b
                .wrapping_add(g(c, d, a))
                .wrapping_add(x[k + 12])
                .wrapping_add(R2)
                .rotate_left(13);
        }
        // Round 3: H plus 0x6ED9EBA1, k in the bit-reversed order 0 2 1 3.
        const R3: u32 = 0x6ED9_EBA1;
        for k in [0, 2, 1, 3] {
            a = a
                .wrapping_add(h(b, c, d))
                .wrapping_add(x[k])
                .wrapping_add(R3)
                .rotate_left(3);
            d = d
                .wrapping_add(h(a, b, c))
                .wrapping_add(x[k + 8])
                .wrapping_add(R3)
                .rotate_left(9);
            c = c
                .wrapping_add(h(d, a, b))
                .wrapping_add(x[k + 4])
                .wrapping_add(R3)
                .rotate_left(11);
            b = b
                .wrapping_add(h(c, d, a))
                .wrapping_add(x[k + 12])
                .wrapping_add(R3)
                .rotate_left(15);
        }
        for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_rfc_1320_test_suite() {
        let suite: [(&str, &str); 7] = [
            ("", "31d6cfe0d16ae931b73c59d7e0c089c0"),
            ("a", "bde52cb31de33e46245e05fbdbd6fb24"),
            ("abc", "a448017aaf21d8525fc10ae87aa6729d"),
            ("message digest", "d9130a8164549fe818874806e1c7014b"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "d79e1c308aa5bbcdeea8ed63df412da9",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "043f8582f241db351ce627e153e7f0e4",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "e33b4ddc9c38f2199c3e7b164fcc0536",
            ),
        ];
        for (text, want) in suite {
            assert_eq!(hex(Md4::digest(text.as_bytes())), want, "MD4({text:?})");
        }
    }

    #[test]
    fn pieces_of_any_size_give_the_one_call_sum() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for len in [0, 55, 56, 63, 64, 65, 127, 128, 1000] {
            let whole = Md4::digest(&data[..len]);
            for step in [1, 3, 64, 100] {
                let mut m = Md4::new();
                for piece in data[..len].chunks(step) {
                    m.update(piece);
                }
                assert_eq!(m.finish(), whole, "len {len} step {step}");
            }
        }
    }
}
