//! Block signatures: the block-size and strong-length rules, computing a signature on every
//! core, and its compact byte format.

use std::ops::Range;

use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, Xxh3Default};

use crate::error::{Error, Format};
use crate::rolling::weak_sum;
use crate::varint::{self, Varint};

/// The smallest block size the automatic rule picks, as rsync's `BLOCK_SIZE`.
pub const MIN_BLOCK_SIZE: u32 = 700;

/// The largest block size, picked or asked for, as rsync's `MAX_BLOCK_SIZE` (protocol 30 on).
pub const MAX_BLOCK_SIZE: u32 = 128 * 1024;

/// The smallest block size that may be asked for. rsync's `-B` has no lower bound either;
/// tiny blocks only make the signature large and the delta slow.
pub const MIN_BLOCK_OVERRIDE: u32 = 1;

/// The shortest strong sum that may be asked for or decoded, in bytes.
pub const MIN_STRONG_LEN: u8 = 4;

/// The longest strong sum: a whole xxh3-128 hash.
pub const MAX_STRONG_LEN: u8 = 16;

/// The shortest strong sum the automatic rule picks (see [`strong_len`]).
const MIN_AUTO_STRONG_LEN: u8 = 8;

/// The odds the automatic strong length aims at, as a power of two: at most 2^-32 false
/// matches expected in a whole file, before the weak sum's own filtering (see [`strong_len`]).
const SAFETY_BITS: u32 = 32;

/// Data, in bytes, that one parallel task hashes at least; smaller tasks cost more to hand
/// out than to run.
const PAR_GRAIN: usize = 256 * 1024;

/// The first bytes of a serialised signature: a name and a format version.
const MAGIC: &[u8; 5] = b"PRSG\x01";

/// Length of the fixed part of the header that follows the varints: the strong length and
/// the file hash.
const HASH_LEN: usize = 16;

/// rsync's block-size rule: the square root of the length, rounded down to a multiple of 8,
/// at least [`MIN_BLOCK_SIZE`] and at most [`MAX_BLOCK_SIZE`].
///
/// A block of `√len` bytes balances the two costs of a delta: the signature grows with the
/// number of blocks (`len / b`), the literal data around each change grows with `b`.
///
/// ```
/// use prtools_delta::block_size;
///
/// assert_eq!(block_size(0), 700);
/// assert_eq!(block_size(1 << 20), 1024);
/// assert_eq!(block_size(1_000_000), 1000);
/// assert_eq!(block_size(1 << 40), 128 * 1024);
/// ```
pub fn block_size(len: u64) -> u32 {
    let root = isqrt(len) & !7;
    root.clamp(u64::from(MIN_BLOCK_SIZE), u64::from(MAX_BLOCK_SIZE)) as u32
}

/// The integer square root (`u64::isqrt` is newer than the workspace's Rust 1.80).
fn isqrt(n: u64) -> u64 {
    let mut r = (n as f64).sqrt() as u64;
    while r.checked_mul(r).is_none_or(|sq| sq > n) {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|sq| sq <= n) {
        r += 1;
    }
    r
}

/// `⌈log2 x⌉`, with `x = 0` taken as 1.
fn ceil_log2(x: u64) -> u32 {
    64 - x.max(1).wrapping_sub(1).leading_zeros()
}

/// The automatic strong-sum length, in bytes, for `len` bytes cut into blocks of
/// `block_size`, as rsync truncates its strong sums per file.
///
/// A false match needs a window whose weak sum and strong sum both equal a block's while its
/// bytes differ. Assume the worst for the weak sum, that it filters nothing, so that every
/// scanned position is compared with every block: with `P` positions, `B` blocks and `s`
/// strong bits, at most `P·B·2^-s` false matches are expected. Taking `P ≤ 4·len` (the data
/// scanned is at most four times the signed data) and asking for at most 2^-32 expected false
/// matches per file gives `s = 32 + log2(4·len) + log2(B)`, rounded up to whole bytes and
/// kept within 8..=16 bytes: 8 bytes up to about 1 MiB, 10 bytes at 1 GiB, 13 at 1 TiB. The
/// weak sum adds roughly 28 more bits of filtering on real data, and the blocks hash
/// catches what is left.
///
/// ```
/// use prtools_delta::{block_size, strong_len};
///
/// assert_eq!(strong_len(1000, block_size(1000)), 8);
/// assert_eq!(strong_len(1 << 30, block_size(1 << 30)), 10);
/// assert_eq!(strong_len(1 << 40, block_size(1 << 40)), 13);
/// ```
pub fn strong_len(len: u64, block_size: u32) -> u8 {
    let blocks = len.div_ceil(u64::from(block_size.max(1)));
    let bits = SAFETY_BITS + ceil_log2(len.saturating_mul(4)) + ceil_log2(blocks);
    (bits.div_ceil(8) as u8).clamp(MIN_AUTO_STRONG_LEN, MAX_STRONG_LEN)
}

/// The strong sum of a block: xxh3-128, little-endian, of which a signature keeps the first
/// [`Signature::strong_len`] bytes.
#[inline]
pub(crate) fn strong_sum(block: &[u8]) -> [u8; 16] {
    xxh3_128(block).to_le_bytes()
}

/// The check of a whole file in the zsync direction: the xxh3-128 of the whole xxh3-128
/// hashes of its blocks (16 bytes each, little-endian), in order, given here one by one.
///
/// A hash of the file itself would cost one more pass over all of it on each end, the
/// source's beside its block hashes and the receiver's over what it writes, though both
/// have just hashed every block: the source to sign it, the receiver to find it. Over the
/// block hashes it costs nothing more, and it still checks every byte: a block found by a
/// false match of its stored prefix differs in its whole hash, and so does a fetched block
/// the source changed after signing.
pub fn blocks_hash(hashes: impl IntoIterator<Item = u128>) -> u128 {
    let mut hasher = Xxh3Default::new();
    for hash in hashes {
        hasher.update(&hash.to_le_bytes());
    }
    hasher.digest128()
}

/// Choices for [`Signature::new`]; the default picks both by rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignatureOptions {
    /// A fixed block size (prsync's `-B`) instead of [`block_size`]'s rule.
    pub block_size: Option<u32>,
    /// A fixed strong-sum length in bytes instead of [`strong_len`]'s rule; 16 keeps whole
    /// xxh3-128 sums, for a retry after a [`HashMismatch`](Error::HashMismatch).
    pub strong_len: Option<u8>,
}

impl SignatureOptions {
    /// Checks a block size typed by a user, as prsync's `-B` parser should.
    ///
    /// ```
    /// use prtools_delta::SignatureOptions;
    ///
    /// assert_eq!(SignatureOptions::check_block_size(4096)?, 4096);
    /// let err = SignatureOptions::check_block_size(1 << 20).unwrap_err();
    /// assert_eq!(err.to_string(), "block size 1048576 is out of range: it must be 1 to 131072 bytes");
    /// # Ok::<(), prtools_delta::Error>(())
    /// ```
    pub fn check_block_size(size: u64) -> Result<u32, Error> {
        if (u64::from(MIN_BLOCK_OVERRIDE)..=u64::from(MAX_BLOCK_SIZE)).contains(&size) {
            Ok(size as u32)
        } else {
            Err(Error::BlockSize { size })
        }
    }

    /// Checks a strong-sum length.
    pub fn check_strong_len(len: u64) -> Result<u8, Error> {
        if (u64::from(MIN_STRONG_LEN)..=u64::from(MAX_STRONG_LEN)).contains(&len) {
            Ok(len as u8)
        } else {
            Err(Error::StrongLen { len })
        }
    }
}

/// The block sums of one file: what a side sends so that the other can find which of its
/// bytes the first already holds.
///
/// Blocks are [`block_size`](Signature::block_size) bytes, the last one shorter when the
/// length is not a multiple. Each has a 32-bit weak sum (rsync's rolling sum) and the first
/// [`strong_len`](Signature::strong_len) bytes of its xxh3-128 hash; the signature also keeps
/// the [`blocks_hash`] of the whole file, so that whoever rebuilds the file can check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    len: u64,
    block_size: u32,
    strong_len: u8,
    blocks_hash: u128,
    weak: Vec<u32>,
    strong: Vec<u8>,
}

impl Signature {
    /// Computes the signature of `data`, hashing its blocks on every core of the current
    /// rayon pool.
    ///
    /// Fails only on a bad option or on data of more than 2^32-1 blocks (512 TiB at the
    /// largest block size).
    pub fn new(data: &[u8], options: &SignatureOptions) -> Result<Signature, Error> {
        let len = data.len() as u64;
        let block_size = match options.block_size {
            Some(size) => SignatureOptions::check_block_size(u64::from(size))?,
            None => block_size(len),
        };
        let strong_len = match options.strong_len {
            Some(n) => SignatureOptions::check_strong_len(u64::from(n))?,
            None => strong_len(len, block_size),
        };
        let blocks = len.div_ceil(u64::from(block_size));
        if blocks > u64::from(u32::MAX) {
            return Err(Error::TooManyBlocks { len, block_size });
        }
        let blocks = blocks as usize;
        let sl = usize::from(strong_len);
        let mut weak = vec![0u32; blocks];
        let mut strong = vec![0u8; blocks * sl];
        // The whole hashes, for `blocks_hash`: 16 bytes a block, where the signature keeps
        // 4 + `sl` (at least 12).
        let mut whole = vec![0u128; blocks];
        let grain = (PAR_GRAIN / block_size as usize).max(1);
        weak.par_iter_mut()
            .zip(strong.par_chunks_mut(sl))
            .zip(whole.par_iter_mut())
            .zip(data.par_chunks(block_size as usize))
            .with_min_len(grain)
            .for_each(|(((weak, strong), whole), block)| {
                *weak = weak_sum(block);
                let sum = strong_sum(block);
                strong.copy_from_slice(&sum[..sl]);
                *whole = u128::from_le_bytes(sum);
            });
        Ok(Signature {
            len,
            block_size,
            strong_len,
            blocks_hash: blocks_hash(whole),
            weak,
            strong,
        })
    }

    /// Length of the signed data.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the signed data was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block size.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Number of blocks, the last one perhaps short.
    pub fn block_count(&self) -> u32 {
        self.weak.len() as u32
    }

    /// Number of whole blocks: the ones the rolling search looks for anywhere. A short last
    /// block is looked for only at the end of the data searched.
    pub fn full_blocks(&self) -> u32 {
        (self.len / u64::from(self.block_size)) as u32
    }

    /// The byte range of block `block` in the signed data.
    ///
    /// The range is empty for a block past the end.
    pub fn block_range(&self, block: u32) -> Range<u64> {
        let size = u64::from(self.block_size);
        let start = (u64::from(block) * size).min(self.len);
        start..(start + size).min(self.len)
    }

    /// Length of block `block` in bytes (0 past the end).
    pub fn block_len(&self, block: u32) -> u32 {
        let range = self.block_range(block);
        (range.end - range.start) as u32
    }

    /// Length of the stored strong sums, in bytes.
    pub fn strong_len(&self) -> u8 {
        self.strong_len
    }

    /// The [`blocks_hash`] of the signed data: what a file rebuilt from this signature is
    /// checked against.
    pub fn blocks_hash(&self) -> u128 {
        self.blocks_hash
    }

    /// The weak sum of block `block`.
    ///
    /// # Panics
    ///
    /// If `block >= self.block_count()`.
    pub fn weak(&self, block: u32) -> u32 {
        self.weak[block as usize]
    }

    /// The (truncated) strong sum of block `block`.
    ///
    /// # Panics
    ///
    /// If `block >= self.block_count()`.
    pub fn strong(&self, block: u32) -> &[u8] {
        let sl = usize::from(self.strong_len);
        let start = block as usize * sl;
        &self.strong[start..start + sl]
    }

    /// Whether `window` has block `block`'s sums, given its precomputed strong sum.
    #[inline]
    pub(crate) fn strong_is(&self, block: u32, strong: &[u8; 16]) -> bool {
        self.strong(block) == &strong[..usize::from(self.strong_len)]
    }

    /// Whether blocks `a` and `b` have the same length and sums, and so (short of a
    /// collision) the same bytes.
    #[inline]
    pub(crate) fn same_block(&self, a: u32, b: u32) -> bool {
        a == b
            || (self.block_len(a) == self.block_len(b)
                && self.weak(a) == self.weak(b)
                && self.strong(a) == self.strong(b))
    }

    /// Length of [`to_bytes`](Signature::to_bytes)'s result.
    pub fn encoded_len(&self) -> usize {
        MAGIC.len()
            + varint::len(self.len)
            + varint::len(u64::from(self.block_size))
            + 1
            + HASH_LEN
            + self.weak.len() * (4 + usize::from(self.strong_len))
    }

    /// The signature in its compact byte format (see the crate docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        varint::put(&mut out, self.len);
        varint::put(&mut out, u64::from(self.block_size));
        out.push(self.strong_len);
        out.extend_from_slice(&self.blocks_hash.to_le_bytes());
        let sl = usize::from(self.strong_len);
        for (weak, strong) in self.weak.iter().zip(self.strong.chunks_exact(sl)) {
            out.extend_from_slice(&weak.to_le_bytes());
            out.extend_from_slice(strong);
        }
        out
    }

    /// Reads a signature written by [`to_bytes`](Signature::to_bytes).
    ///
    /// The input may be hostile: every field is checked, the block count is derived from
    /// the declared length and block size and must account for exactly the bytes that
    /// follow, so nothing is allocated beyond the size of the input itself.
    ///
    /// ```
    /// use prtools_delta::{Signature, SignatureOptions};
    ///
    /// let sig = Signature::new(b"hello, world", &SignatureOptions::default())?;
    /// assert_eq!(Signature::from_bytes(&sig.to_bytes())?, sig);
    /// assert!(Signature::from_bytes(b"PRSG\x01\x80").is_err());
    /// # Ok::<(), prtools_delta::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature, Error> {
        let format = Format::Signature;
        if bytes.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(bytes) {
                Error::Truncated {
                    format,
                    offset: bytes.len() as u64,
                }
            } else {
                Error::BadMagic { format }
            });
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::BadMagic { format });
        }
        let mut pos = MAGIC.len();
        let next_varint = |pos: &mut usize| match varint::get(&bytes[*pos..]) {
            Varint::Value(value, used) => {
                *pos += used;
                Ok(value)
            }
            Varint::Incomplete => Err(Error::Truncated {
                format,
                offset: bytes.len() as u64,
            }),
            Varint::Invalid(reason) => Err(Error::Malformed {
                format,
                offset: *pos as u64,
                reason,
            }),
        };
        let len = next_varint(&mut pos)?;
        let size_at = pos as u64;
        let size = next_varint(&mut pos)?;
        let block_size =
            SignatureOptions::check_block_size(size).map_err(|_| Error::Malformed {
                format,
                offset: size_at,
                reason: "block size out of range",
            })?;
        let Some(fixed) = bytes.get(pos..pos + 1 + HASH_LEN) else {
            return Err(Error::Truncated {
                format,
                offset: bytes.len() as u64,
            });
        };
        let strong_len = SignatureOptions::check_strong_len(u64::from(fixed[0])).map_err(|_| {
            Error::Malformed {
                format,
                offset: pos as u64,
                reason: "strong sum length out of range",
            }
        })?;
        let mut hash = [0u8; HASH_LEN];
        hash.copy_from_slice(&fixed[1..]);
        pos += 1 + HASH_LEN;

        let blocks = len.div_ceil(u64::from(block_size));
        let entry = 4 + u64::from(strong_len);
        let rest = (bytes.len() - pos) as u64;
        if blocks > u64::from(u32::MAX) || blocks.saturating_mul(entry) > rest {
            return Err(Error::Truncated {
                format,
                offset: bytes.len() as u64,
            });
        }
        if blocks * entry < rest {
            return Err(Error::TrailingData {
                format,
                offset: (pos as u64) + blocks * entry,
            });
        }
        let sl = usize::from(strong_len);
        let mut weak = Vec::with_capacity(blocks as usize);
        let mut strong = Vec::with_capacity(blocks as usize * sl);
        for record in bytes[pos..].chunks_exact(4 + sl) {
            weak.push(u32::from_le_bytes([
                record[0], record[1], record[2], record[3],
            ]));
            strong.extend_from_slice(&record[4..]);
        }
        Ok(Signature {
            len,
            block_size,
            strong_len,
            blocks_hash: u128::from_le_bytes(hash),
            weak,
            strong,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_rule() {
        assert_eq!(block_size(0), 700);
        assert_eq!(block_size(700 * 700), 700);
        // √len below 700 still gives 700; above, it is rounded down to a multiple of 8.
        assert_eq!(block_size(704 * 704 - 1), 700);
        assert_eq!(block_size(704 * 704), 704);
        assert_eq!(block_size(711 * 711), 704);
        assert_eq!(block_size(712 * 712), 712);
        assert_eq!(block_size(1 << 30), 32_768);
        assert_eq!(block_size(256 << 20), 16_384);
        assert_eq!(block_size(131_072 * 131_072), 131_072);
        assert_eq!(block_size(u64::MAX), MAX_BLOCK_SIZE);
        for len in (0..40)
            .map(|i| 1u64 << i)
            .chain([3, 999_999, 123_456_789_012])
        {
            let b = block_size(len);
            assert!((MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&b), "{len}: {b}");
            assert!(b == MIN_BLOCK_SIZE || b.is_multiple_of(8), "{len}: {b}");
            assert!(
                u64::from(b) * u64::from(b) <= len.max(700 * 700),
                "{len}: {b}"
            );
        }
    }

    #[test]
    fn isqrt_is_exact() {
        for n in [
            0,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            u64::MAX,
            u64::MAX - 1,
            (1 << 32) - 1,
            1 << 32,
        ] {
            let r = isqrt(n);
            assert!(
                r * r <= n && (r + 1).checked_mul(r + 1).is_none_or(|s| s > n),
                "{n}"
            );
        }
    }

    #[test]
    fn block_size_override() {
        let data = vec![7u8; 10_000];
        let options = SignatureOptions {
            block_size: Some(1024),
            ..SignatureOptions::default()
        };
        let sig = Signature::new(&data, &options).unwrap();
        assert_eq!(sig.block_size(), 1024);
        assert_eq!(sig.block_count(), 10);
        assert_eq!(sig.full_blocks(), 9);
        assert_eq!(sig.block_len(9), 10_000 - 9 * 1024);
        for bad in [0, MAX_BLOCK_SIZE + 1] {
            let options = SignatureOptions {
                block_size: Some(bad),
                ..SignatureOptions::default()
            };
            assert!(matches!(
                Signature::new(&data, &options),
                Err(Error::BlockSize { .. })
            ));
        }
        let options = SignatureOptions {
            strong_len: Some(17),
            ..SignatureOptions::default()
        };
        assert!(matches!(
            Signature::new(&data, &options),
            Err(Error::StrongLen { len: 17 })
        ));
    }

    #[test]
    fn strong_len_rule() {
        assert_eq!(strong_len(0, 700), 8);
        assert_eq!(strong_len(1 << 20, 1024), 8);
        assert_eq!(strong_len(16 << 20, 4096), 9);
        assert_eq!(strong_len(256 << 20, 16_384), 10);
        assert_eq!(strong_len(u64::MAX, 1), 16);
    }

    #[test]
    fn sums_are_per_block() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let options = SignatureOptions {
            block_size: Some(1000),
            strong_len: Some(16),
        };
        let sig = Signature::new(&data, &options).unwrap();
        let whole: Vec<u8> = data
            .chunks(1000)
            .flat_map(|b| xxh3_128(b).to_le_bytes())
            .collect();
        assert_eq!(sig.blocks_hash(), xxh3_128(&whole));
        for (i, block) in data.chunks(1000).enumerate() {
            assert_eq!(sig.weak(i as u32), weak_sum(block));
            assert_eq!(sig.strong(i as u32), &strong_sum(block)[..]);
        }
        assert_eq!(sig.to_bytes().len(), sig.encoded_len());
    }
}
