//! rsync's two block checksums: the rolling sum that finds candidate blocks at any
//! offset, and the strong sum (seeded) that confirms them; and the strong sum of a whole
//! file. The strong sum is one of rsync's [`Checksum`]s: xxh128 between two rsyncs that
//! negotiate, MD5 when they do not.
//!
//! rsync adds the bytes as *signed* chars, so a byte of 0x80 and up counts as negative:
//! the sums differ from an unsigned Adler-style sum on any such byte. prtools-delta's
//! vectorised fresh sum takes them signed for this crate ([`prtools_delta::signed_sums`]):
//! a fresh sum is taken after every matched block, so over an unchanged file it is a pass
//! over every byte, and the plain loop was the larger part of a push's search.

use md5::{Digest as _, Md5};
use xxhash_rust::{xxh3, xxh64};

use crate::md4::Md4;

/// The rolling sum of `block`, as rsync's `get_checksum1`: the low 16 bits hold the sum
/// of the bytes, the high 16 the sum of the running sums.
pub fn rolling(block: &[u8]) -> u32 {
    Rolling::new(block).value()
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
        let (s1, s2) = prtools_delta::signed_sums(window);
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

/// A strong checksum rsync can use for block sums and whole-file sums, in rsync 3.5.0's
/// order of preference (best first). Which one a session uses is negotiated by name
/// when both sides turned on varint flags (see [`negotiate`](crate::negotiate)), forced
/// by `--checksum-choice`, and else MD5.
///
/// MD4 is only what protocols 28 and 29 imply; SHA1 is left out. Neither is ever listed
/// in a negotiation, so a peer never picks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// XXH3, 128 bits: what two rsyncs 3.2 or later pick.
    Xxh128,
    /// XXH3, 64 bits.
    Xxh3,
    /// XXH64.
    Xxh64,
    /// MD5: protocol 30 and later when nothing is negotiated.
    Md5,
    /// MD4: protocols 28 and 29 (rsync's `CSUM_MD4_OLD`), never negotiated. Block sums
    /// take the session's seed after the block (when it is not 0); the whole-file sum
    /// that ends a file's data starts with `seed`'s 4 bytes, 0 or not; `seed: None` is
    /// the plain MD4 of `-c`'s list sums.
    Md4 {
        /// The seed the whole-file sum starts with.
        seed: Option<i32>,
    },
}

/// A checksum name that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// rsync has it, this crate does not.
    NotHere(String),
    /// No rsync has it.
    Unknown(String),
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::NotHere(name) => write!(
                f,
                "checksum {name} is not spoken here over rsync's protocol (xxh128, xxh3, xxh64 and md5 are)"
            ),
            NameError::Unknown(name) => write!(f, "unknown checksum name: {name}"),
        }
    }
}

impl Checksum {
    /// Every checksum this crate has, best first: the list it offers.
    pub const ALL: [Checksum; 4] = [
        Checksum::Xxh128,
        Checksum::Xxh3,
        Checksum::Xxh64,
        Checksum::Md5,
    ];

    /// The name rsync gives it.
    pub fn name(self) -> &'static str {
        match self {
            Checksum::Xxh128 => "xxh128",
            Checksum::Xxh3 => "xxh3",
            Checksum::Xxh64 => "xxh64",
            Checksum::Md5 => "md5",
            Checksum::Md4 { .. } => "md4",
        }
    }

    /// The checksum rsync names `name` (any case; `xxhash` is rsync's other name for
    /// xxh64).
    pub fn by_name(name: &str) -> Result<Checksum, NameError> {
        let lower = name.to_ascii_lowercase();
        if lower == "xxhash" {
            return Ok(Checksum::Xxh64);
        }
        if let Some(c) = Checksum::ALL.into_iter().find(|c| c.name() == lower) {
            return Ok(c);
        }
        match lower.as_str() {
            "md4" | "sha1" | "none" => Err(NameError::NotHere(name.to_string())),
            _ => Err(NameError::Unknown(name.to_string())),
        }
    }

    /// `--checksum-choice`'s value as rsync reads it: None for `auto` (negotiate), else
    /// the checksum, `auto` then meaning MD5 (what protocol 30 and later use when
    /// nothing is negotiated). `XFER,LIST` gives the transfer's and `-c`'s apart; this
    /// crate uses one for both, so the two must agree.
    pub fn choice(text: &str) -> Result<Option<Checksum>, NameError> {
        let mut parts = text.splitn(2, ',');
        let xfer = parts.next().unwrap_or("");
        let list = parts.next().unwrap_or(xfer);
        let auto = |p: &str| p.eq_ignore_ascii_case("auto");
        if auto(xfer) && auto(list) {
            return Ok(None);
        }
        let named = |p: &str| {
            if auto(p) {
                Ok(Checksum::Md5)
            } else {
                Checksum::by_name(p)
            }
        };
        let (xfer, list) = (named(xfer)?, named(list)?);
        if xfer != list {
            return Err(NameError::NotHere(text.to_string()));
        }
        Ok(Some(xfer))
    }

    /// The names this crate offers, best first, space-separated as they go on the wire.
    pub fn offer() -> String {
        Checksum::ALL.map(Checksum::name).join(" ")
    }

    /// How many bytes a sum has (rsync's `xfer_sum_len`): the whole-file sum that ends a
    /// file's data is this long, and a block sum at most this long.
    pub fn sum_len(self) -> usize {
        match self {
            Checksum::Xxh128 | Checksum::Md5 | Checksum::Md4 { .. } => 16,
            Checksum::Xxh3 | Checksum::Xxh64 => 8,
        }
    }

    /// The strong sum of a block (rsync's `get_checksum2`), zero-padded to 16 bytes. The
    /// xxhash family takes the seed as its own seed (sign-extended to 64 bits, as C
    /// converts rsync's int); MD5 gets the seed's 4 little-endian bytes before the block
    /// (`seed_first`, the compat flag rsync calls the seed fix) or after it, and none
    /// when the seed is 0.
    pub fn block_sum(self, block: &[u8], seed: i32, seed_first: bool) -> [u8; 16] {
        let wide_seed = seed as i64 as u64;
        let mut out = [0u8; 16];
        match self {
            Checksum::Xxh128 => out = xxh3::xxh3_128_with_seed(block, wide_seed).to_le_bytes(),
            Checksum::Xxh3 => {
                out[..8].copy_from_slice(&xxh3::xxh3_64_with_seed(block, wide_seed).to_le_bytes())
            }
            Checksum::Xxh64 => {
                out[..8].copy_from_slice(&xxh64::xxh64(block, wide_seed).to_le_bytes())
            }
            Checksum::Md5 => {
                let mut m = Md5::new();
                let seed_bytes = seed.to_le_bytes();
                if seed != 0 && seed_first {
                    m.update(seed_bytes);
                }
                m.update(block);
                if seed != 0 && !seed_first {
                    m.update(seed_bytes);
                }
                out = m.finalize().into();
            }
            Checksum::Md4 { .. } => {
                let mut m = Md4::new();
                m.update(block);
                if seed != 0 {
                    m.update(&seed.to_le_bytes());
                }
                out = m.finish();
            }
        }
        out
    }

    /// The checksum of `-c`'s list sums: the same, but MD4's is unseeded.
    pub fn for_list(self) -> Checksum {
        match self {
            Checksum::Md4 { .. } => Checksum::Md4 { seed: None },
            other => other,
        }
    }
}

/// A finished sum: as many bytes as its checksum has (it derefs to them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; 16],
    len: usize,
}

impl Digest {
    /// A sum of `len` bytes (at most 16) from the front of `bytes`.
    pub fn new(bytes: [u8; 16], len: usize) -> Digest {
        Digest {
            bytes,
            len: len.min(16),
        }
    }

    /// The sum zero-padded to 16 bytes, as lists of sums keep them.
    pub fn padded(&self) -> [u8; 16] {
        self.bytes
    }
}

impl std::ops::Deref for Digest {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The whole-file checksum that ends each file's data (and `-c`'s in the list): no
/// seed, whatever the checksum (rsync's `sum_init` ignores it but for MD4).
#[derive(Clone)]
pub struct FileSum(State);

#[derive(Clone)]
enum State {
    Xxh128(Box<xxh3::Xxh3>),
    Xxh3(Box<xxh3::Xxh3>),
    Xxh64(xxh64::Xxh64),
    Md5(Md5),
    Md4(Md4),
}

impl FileSum {
    /// An empty sum of `kind`.
    pub fn new(kind: Checksum) -> FileSum {
        FileSum(match kind {
            Checksum::Xxh128 => State::Xxh128(Box::default()),
            Checksum::Xxh3 => State::Xxh3(Box::default()),
            Checksum::Xxh64 => State::Xxh64(xxh64::Xxh64::new(0)),
            Checksum::Md5 => State::Md5(Md5::new()),
            Checksum::Md4 { seed } => {
                let mut m = Md4::new();
                if let Some(seed) = seed {
                    m.update(&seed.to_le_bytes());
                }
                State::Md4(m)
            }
        })
    }

    /// Adds bytes of the file, in order.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Xxh128(s) | State::Xxh3(s) => s.update(data),
            State::Xxh64(s) => s.update(data),
            State::Md5(s) => s.update(data),
            State::Md4(s) => s.update(data),
        }
    }

    /// The sum.
    pub fn finish(self) -> Digest {
        let mut out = [0u8; 16];
        let len = match self.0 {
            State::Xxh128(s) => {
                out = s.digest128().to_le_bytes();
                16
            }
            State::Xxh3(s) => {
                out[..8].copy_from_slice(&s.digest().to_le_bytes());
                8
            }
            State::Xxh64(s) => {
                out[..8].copy_from_slice(&s.digest().to_le_bytes());
                8
            }
            State::Md5(s) => {
                out = s.finalize().into();
                16
            }
            State::Md4(s) => {
                out = s.finish();
                16
            }
        };
        Digest::new(out, len)
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
        let md5 = |b: &[u8], seed, first| Checksum::Md5.block_sum(b, seed, first);
        let a = md5(b"block", 7, true);
        let b = md5(b"block", 7, false);
        assert_ne!(a, b);
        let mut m = Md5::new();
        m.update(7i32.to_le_bytes());
        m.update(b"block");
        assert_eq!(a, <[u8; 16]>::from(m.finalize()));
        assert_eq!(md5(b"block", 0, true), md5(b"block", 0, false));
        // MD5 of "abc", the RFC 1321 test vector.
        let mut f = FileSum::new(Checksum::Md5);
        f.update(b"ab");
        f.update(b"c");
        assert_eq!(
            *f.finish(),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
    }

    #[test]
    fn xxhash_sums_are_little_endian_low_half_first_and_as_long_as_rsyncs() {
        // The reference vectors of the empty input, seed 0.
        let empty = |c: Checksum| FileSum::new(c).finish().to_vec();
        assert_eq!(empty(Checksum::Xxh64), 0xEF46DB3751D8E999u64.to_le_bytes());
        assert_eq!(empty(Checksum::Xxh3), 0x2D06800538D394C2u64.to_le_bytes());
        assert_eq!(
            empty(Checksum::Xxh128),
            0x99AA06D3014798D86001C324468D497Fu128.to_le_bytes()
        );
        for c in Checksum::ALL {
            let mut f = FileSum::new(c);
            f.update(b"hello ");
            f.update(b"world");
            let whole = f.finish();
            assert_eq!(whole.len(), c.sum_len(), "{}", c.name());
            // Unseeded whole-file sums are the block sums with seed 0, in one piece.
            assert_eq!(
                *whole,
                c.block_sum(b"hello world", 0, true)[..c.sum_len()],
                "{}",
                c.name()
            );
        }
    }

    #[test]
    fn a_negative_seed_is_sign_extended_as_c_converts_it() {
        let got = Checksum::Xxh64.block_sum(b"data", -2, true);
        assert_eq!(got[..8], xxh64::xxh64(b"data", u64::MAX - 1).to_le_bytes());
        assert_eq!(got[8..], [0; 8]);
        let got = Checksum::Xxh128.block_sum(b"data", -2, false);
        assert_eq!(
            got,
            xxh3::xxh3_128_with_seed(b"data", u64::MAX - 1).to_le_bytes()
        );
        assert_ne!(got, Checksum::Xxh128.block_sum(b"data", 0, false));
    }

    #[test]
    fn names_are_rsyncs_and_unknown_ones_are_told_apart() {
        assert_eq!(Checksum::offer(), "xxh128 xxh3 xxh64 md5");
        assert_eq!(Checksum::by_name("XXH3"), Ok(Checksum::Xxh3));
        assert_eq!(Checksum::by_name("xxhash"), Ok(Checksum::Xxh64));
        assert_eq!(
            Checksum::by_name("md4"),
            Err(NameError::NotHere("md4".into()))
        );
        assert_eq!(
            Checksum::by_name("crc"),
            Err(NameError::Unknown("crc".into()))
        );
        assert_eq!(Checksum::choice("auto"), Ok(None));
        assert_eq!(Checksum::choice("auto,auto"), Ok(None));
        assert_eq!(Checksum::choice("xxh3"), Ok(Some(Checksum::Xxh3)));
        assert_eq!(Checksum::choice("md5,auto"), Ok(Some(Checksum::Md5)));
        assert_eq!(Checksum::choice("xxh3,xxh3"), Ok(Some(Checksum::Xxh3)));
        assert!(Checksum::choice("xxh3,md5").is_err());
        assert!(Checksum::choice("sha1").is_err());
    }
}
