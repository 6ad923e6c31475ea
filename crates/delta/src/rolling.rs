//! The weak, rolling sum: rsync's two running sums.
//!
//! For a window `w[0..n]`, `s1 = Σ w[k]` and `s2 = Σ (n - k) * w[k]`, both kept modulo 2^32,
//! and the sum is `(s1 mod 2^16) | (s2 mod 2^16) << 16`, as rsync's `get_checksum1`. Moving
//! the window one byte, dropping `out` and taking `in`, is two additions on the loop-carried
//! path: `s1 += in - out; s2 += s1 - n * out`. The crate docs say why this sum and not a
//! polynomial one.

/// Lanes of the fresh computation: 16 one-byte lanes fill a 128-bit vector.
const LANES: usize = 16;

/// Chunks of [`LANES`] bytes summed in 16-bit lanes before they are added into 32-bit ones.
/// After `m` chunks a lane's byte sum is at most `255 m` and its sum of earlier byte sums at
/// most `255 m (m - 1) / 2`, which fits 16 bits up to `m = 23`; 16 chunks (256 bytes) keep a
/// margin. 16-bit lanes do twice the work per vector add of 32-bit ones.
const ROUND: usize = 16;

/// The state of the weak sum over a window of fixed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rolling {
    s1: u32,
    s2: u32,
    len: u32,
}

impl Rolling {
    /// Sums a fresh window. This runs once per matched block (the search jumps a whole block
    /// after a match and starts anew), so on an unchanged file it is a large part of the
    /// work: it is written so that it vectorises.
    ///
    /// Split the window into `m` chunks of [`LANES`] bytes. Lane `j` keeps `l[j]`, the sum of
    /// its bytes so far, and `p[j]`, the sum of the earlier values of `l[j]`; after all chunks
    /// `p[j] = Σ (m - 1 - c) * w[16c + j]`, so the weight `n - k = 16 (m - 1 - c) + 16 - j` of
    /// byte `k = 16c + j` gives `s2 = 16 Σ p + Σ (16 - j) l[j]`. The lanes are summed
    /// [`ROUND`] chunks at a time in 16 bits; a round of `m` chunks adds `m · l32 + p16` to
    /// `p32` (each of its chunks saw the earlier rounds' `l32`) and `l16` to `l32`. The
    /// remaining bytes are appended one at a time (`s1 += b; s2 += s1`).
    pub(crate) fn new(window: &[u8]) -> Rolling {
        Rolling::of(window, sums(window, 0))
    }

    /// [`Rolling::new`] by the portable code alone, for the tests that compare the two.
    #[cfg(test)]
    fn new_portable(window: &[u8]) -> Rolling {
        Rolling::of(window, sums_portable(window, 0))
    }

    fn of(window: &[u8], (s1, s2): (u32, u32)) -> Rolling {
        Rolling {
            s1,
            s2,
            len: window.len() as u32,
        }
    }

    /// Moves the window one byte on: `out` leaves at the front, `input` enters at the back.
    #[inline(always)]
    pub(crate) fn roll(&mut self, out: u8, input: u8) {
        let out = u32::from(out);
        self.s1 = self.s1.wrapping_add(u32::from(input)).wrapping_sub(out);
        // `len * out` does not depend on the sums, so only two additions are on the path
        // from one byte to the next.
        self.s2 = self
            .s2
            .wrapping_sub(self.len.wrapping_mul(out))
            .wrapping_add(self.s1);
    }

    /// The 32-bit weak sum of the current window.
    #[inline(always)]
    pub(crate) fn digest(&self) -> u32 {
        (self.s1 & 0xffff) | (self.s2 << 16)
    }
}

/// rsync's `get_checksum1` sums `(s1, s2)` of `window`, for prtools-rsync-wire, which
/// speaks rsync's protocol and must agree with it bit for bit: rsync adds the bytes as
/// *signed* chars (0x80 and up count as negative), where this crate's own sum takes them
/// unsigned.
///
/// A signed byte is its top bit flipped, less 128: `b as i8 = (b ^ 0x80) - 128`. So the
/// sums are the unsigned ones of the flipped bytes (flipped in the vector, at no cost),
/// less 128 once per byte in `s1` and `128 (n - k)` for byte `k` in `s2`, in all
/// `128 n (n + 1) / 2`, modulo 2^32 as the definition.
pub fn signed_sums(window: &[u8]) -> (u32, u32) {
    let (s1, s2) = sums(window, 0x80);
    let n = window.len() as u64;
    let tri = (n * (n + 1) / 2) as u32;
    (
        s1.wrapping_sub((n as u32).wrapping_mul(128)),
        s2.wrapping_sub(tri.wrapping_mul(128)),
    )
}

/// The fresh sums of `window`'s bytes, each XORed with `flip` first: by AVX2 where the
/// CPU has it, else by the portable code.
fn sums(window: &[u8], flip: u8) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    if window.len() >= AVX2_LANES && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above (std caches the answer).
        return unsafe { sums_avx2(window, flip) };
    }
    sums_portable(window, flip)
}

/// [`sums`] in plain code that the compiler vectorises for any x86-64 (SSE2).
fn sums_portable(window: &[u8], flip: u8) -> (u32, u32) {
    let mut l32 = [0u32; LANES];
    let mut p32 = [0u32; LANES];
    let whole = window.len() / LANES * LANES;
    for round in window[..whole].chunks(LANES * ROUND) {
        let mut l = [0u16; LANES];
        let mut p = [0u16; LANES];
        let chunks = round.chunks_exact(LANES);
        let m = chunks.len() as u32;
        for chunk in chunks {
            for j in 0..LANES {
                p[j] = p[j].wrapping_add(l[j]);
                l[j] = l[j].wrapping_add(u16::from(chunk[j] ^ flip));
            }
        }
        for j in 0..LANES {
            p32[j] = p32[j]
                .wrapping_add(l32[j].wrapping_mul(m))
                .wrapping_add(u32::from(p[j]));
            l32[j] = l32[j].wrapping_add(u32::from(l[j]));
        }
    }
    let mut s1 = 0u32;
    let mut s2 = 0u32;
    for j in 0..LANES {
        s1 = s1.wrapping_add(l32[j]);
        s2 = s2
            .wrapping_add(p32[j].wrapping_mul(LANES as u32))
            .wrapping_add(l32[j].wrapping_mul((LANES - j) as u32));
    }
    for &b in &window[whole..] {
        s1 = s1.wrapping_add(u32::from(b ^ flip));
        s2 = s2.wrapping_add(s1);
    }
    (s1, s2)
}

/// Bytes of one AVX2 vector.
#[cfg(target_arch = "x86_64")]
const AVX2_LANES: usize = 32;

/// The fresh sums `(s1, s2)` of `window` (each byte XORed with `flip`) with AVX2's byte instructions, about four times
/// the speed of the portable code (40 against 10 GB/s on data in cache, which is the case
/// for the searches and signatures: they hash the same block right after): the weak sum of
/// every block of a file is the larger half of the CPU a signature costs without it.
///
/// Per 32-byte chunk `c` of `m`: `sad` adds the 32 bytes (`s1`) in four 64-bit lanes;
/// `maddubs` multiplies byte `j` by its weight in the chunk, `32 - j`, and adds pairs into
/// 16-bit lanes (at most `255 · (32 + 31)`, no saturation), which `madd` by ones adds in
/// 32-bit lanes. A byte `k = 32c + j` weighs `32 (m - 1 - c) + (32 - j)` within the whole
/// chunks; the first part is 32 times the sum, over chunks, of the byte sums of the chunks
/// before, which `ps` gathers one chunk behind `s1`. The bytes after the last whole chunk
/// are appended one at a time, each also adding the whole sum so far once more, which
/// gives the earlier bytes their remaining weight. Every sum wraps at 2^32, as the
/// definition's.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sums_avx2(window: &[u8], flip: u8) -> (u32, u32) {
    use std::arch::x86_64::*;
    let whole = window.len() / AVX2_LANES * AVX2_LANES;
    let weights = _mm256_setr_epi8(
        32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10,
        9, 8, 7, 6, 5, 4, 3, 2, 1,
    );
    let ones = _mm256_set1_epi16(1);
    let flip_all = _mm256_set1_epi8(flip as i8);
    let zero = _mm256_setzero_si256();
    let mut s1 = zero;
    let mut ps = zero;
    let mut s2 = zero;
    for chunk in window[..whole].chunks_exact(AVX2_LANES) {
        // SAFETY: `chunk` is 32 readable bytes; the load has no alignment requirement.
        let loaded = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
        let v = _mm256_xor_si256(loaded, flip_all);
        ps = _mm256_add_epi32(ps, s1);
        s1 = _mm256_add_epi32(s1, _mm256_sad_epu8(v, zero));
        let pairs = _mm256_maddubs_epi16(v, weights);
        s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(pairs, ones));
    }
    let lanes = |v: __m256i| -> u32 {
        let mut out = [0u32; 8];
        // SAFETY: `out` is 32 writable bytes; the store has no alignment requirement.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
        out.iter().fold(0u32, |a, &b| a.wrapping_add(b))
    };
    // `sad`'s 64-bit lanes hold at most 32 · 255 a chunk in their low halves; added as 32-bit
    // lanes, the high halves stay zero (a 32-bit add carries nothing into them).
    let mut sum1 = lanes(s1);
    let mut sum2 = lanes(s2).wrapping_add(lanes(ps).wrapping_mul(AVX2_LANES as u32));
    for &b in &window[whole..] {
        sum1 = sum1.wrapping_add(u32::from(b ^ flip));
        sum2 = sum2.wrapping_add(sum1);
    }
    (sum1, sum2)
}

/// The weak sum of one block.
pub(crate) fn weak_sum(block: &[u8]) -> u32 {
    Rolling::new(block).digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, written as plainly as possible.
    fn reference(window: &[u8]) -> u32 {
        let n = window.len() as u64;
        let s1: u64 = window.iter().map(|&b| u64::from(b)).sum();
        let s2: u64 = window
            .iter()
            .enumerate()
            .map(|(k, &b)| (n - k as u64) * u64::from(b))
            .sum();
        ((s1 & 0xffff) | ((s2 & 0xffff) << 16)) as u32
    }

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn fresh_sum_matches_the_definition() {
        for len in [
            0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 700, 1000, 4096, 4097, 131_072,
        ] {
            let data = bytes(len, len as u64);
            assert_eq!(weak_sum(&data), reference(&data), "len {len}");
            let ff = vec![0xff; len];
            assert_eq!(weak_sum(&ff), reference(&ff), "0xff len {len}");
        }
    }

    /// The AVX2 sums and the portable ones agree, at every length around the vector width
    /// and on bytes that push the 16-bit pair sums to their largest.
    #[test]
    fn both_fresh_sums_agree() {
        let data = bytes(140_000, 3);
        let ff = vec![0xff; 140_000];
        for len in (0..200).chain([700, 1023, 32_768, 32_799, 131_072, 140_000]) {
            for d in [&data, &ff] {
                let w = &d[..len];
                let portable = Rolling::new_portable(w);
                assert_eq!(Rolling::new(w), portable, "len {len}");
                assert_eq!(portable.digest(), reference(w), "len {len}");
            }
        }
    }

    /// rsync's sums, bytes taken as signed chars, by the definition.
    fn signed_reference(window: &[u8]) -> (u32, u32) {
        let (mut s1, mut s2) = (0u32, 0u32);
        for &b in window {
            s1 = s1.wrapping_add(b as i8 as i32 as u32);
            s2 = s2.wrapping_add(s1);
        }
        (s1, s2)
    }

    #[test]
    fn signed_sums_match_the_definition() {
        let data = bytes(140_000, 11);
        let ff = vec![0xff; 140_000];
        let high = vec![0x80; 140_000];
        for len in (0..200).chain([700, 1023, 32_768, 32_799, 131_072, 140_000]) {
            for d in [&data, &ff, &high] {
                let w = &d[..len];
                assert_eq!(signed_sums(w), signed_reference(w), "len {len}");
                let (s1, s2) = signed_sums(w);
                let portable = sums_portable(w, 0x80);
                let n = len as u64;
                let fixed = (
                    portable.0.wrapping_sub((n as u32).wrapping_mul(128)),
                    portable
                        .1
                        .wrapping_sub(((n * (n + 1) / 2) as u32).wrapping_mul(128)),
                );
                assert_eq!((s1, s2), fixed, "portable, len {len}");
            }
        }
    }

    #[test]
    fn rolling_equals_fresh() {
        let data = bytes(5000, 7);
        for n in [1, 8, 16, 700, 1023] {
            let mut r = Rolling::new(&data[..n]);
            for p in 1..data.len() - n {
                r.roll(data[p - 1], data[p + n - 1]);
                assert_eq!(r, Rolling::new(&data[p..p + n]), "n {n} p {p}");
            }
        }
    }
}
