//! The sum head and block checksums a generator sends for the old copy of a file.

use std::io::{self, Read};

use crate::codec::{get_int, invalid, put_int};

/// The largest block rsync uses from protocol 30 on.
pub const MAX_BLOCK_SIZE: i32 = 1 << 17;
/// Most blocks this code takes in one sum list (a 16 TiB file at the largest block size).
const MAX_COUNT: i32 = 1 << 27;

/// How the old copy was cut into blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SumHead {
    /// How many blocks.
    pub count: i32,
    /// Each block's length, but for the last.
    pub blength: i32,
    /// How many bytes of each block's strong sum are sent.
    pub s2length: i32,
    /// The last block's length, when shorter (0 if not).
    pub remainder: i32,
}

impl SumHead {
    /// Reads a head, refusing values that no rsync sends.
    pub fn read(r: &mut impl Read) -> io::Result<SumHead> {
        let head = SumHead {
            count: get_int(r)?,
            blength: get_int(r)?,
            s2length: get_int(r)?,
            remainder: get_int(r)?,
        };
        if !(0..=MAX_COUNT).contains(&head.count)
            || !(0..=MAX_BLOCK_SIZE).contains(&head.blength)
            || (head.count > 0 && head.blength == 0)
            || !(0..=16).contains(&head.s2length)
            || !(0..=head.blength).contains(&head.remainder)
        {
            return Err(invalid(format!("a bad checksum head {head:?}")));
        }
        Ok(head)
    }

    /// Appends the head.
    pub fn put(&self, out: &mut Vec<u8>) {
        put_int(out, self.count);
        put_int(out, self.blength);
        put_int(out, self.s2length);
        put_int(out, self.remainder);
    }

    /// The length of block `i`.
    pub fn block_len(&self, i: i32) -> usize {
        if i == self.count - 1 && self.remainder != 0 {
            self.remainder as usize
        } else {
            self.blength as usize
        }
    }
}

/// One block of the old copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockSum {
    /// Its rolling sum.
    pub rolling: u32,
    /// The first `s2length` bytes of its strong sum.
    pub strong: Vec<u8>,
    /// Its length.
    pub len: usize,
}

/// Reads the blocks that follow `head`.
pub fn read_blocks(r: &mut impl Read, head: &SumHead) -> io::Result<Vec<BlockSum>> {
    let mut blocks = Vec::with_capacity(head.count.min(1 << 16) as usize);
    for i in 0..head.count {
        let rolling = get_int(r)? as u32;
        let mut strong = vec![0u8; head.s2length as usize];
        r.read_exact(&mut strong)?;
        blocks.push(BlockSum {
            rolling,
            strong,
            len: head.block_len(i),
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_and_its_blocks_read_back() {
        let head = SumHead {
            count: 2,
            blength: 700,
            s2length: 2,
            remainder: 100,
        };
        let mut v = Vec::new();
        head.put(&mut v);
        put_int(&mut v, 11);
        v.extend_from_slice(&[1, 2]);
        put_int(&mut v, -2);
        v.extend_from_slice(&[3, 4]);
        let mut s = &v[..];
        let back = SumHead::read(&mut s).unwrap();
        assert_eq!(back, head);
        let blocks = read_blocks(&mut s, &back).unwrap();
        assert_eq!(blocks[0].len, 700);
        assert_eq!(blocks[1].len, 100);
        assert_eq!(blocks[1].rolling, 0xFFFF_FFFE);
        assert_eq!(blocks[1].strong, [3, 4]);
    }

    #[test]
    fn impossible_heads_are_refused() {
        for bad in [
            [-1, 700, 2, 0],
            [1, 0, 2, 0],
            [1, 700, 17, 0],
            [1, 700, 2, 800],
        ] {
            let mut v = Vec::new();
            for x in bad {
                put_int(&mut v, x);
            }
            assert!(SumHead::read(&mut &v[..]).is_err(), "{bad:?}");
        }
    }
}

/// The block length a receiver picks for a basis of `len` bytes: 700 bytes up to 490,000,
/// then about the square root (a multiple of 8), as rsync does, so that the number of
/// blocks and the size of each grow together.
pub fn block_length(len: u64) -> i32 {
    const BLOCK_SIZE: u64 = 700;
    if len <= BLOCK_SIZE * BLOCK_SIZE {
        return BLOCK_SIZE as i32;
    }
    let root = (len as f64).sqrt() as u64;
    ((root & !7).max(BLOCK_SIZE)).min(MAX_BLOCK_SIZE as u64) as i32
}

/// The head for a basis of `len` bytes cut into `blength` blocks, with whole 16-byte strong sums.
pub fn head_for(len: u64, blength: i32) -> SumHead {
    let b = blength as u64;
    SumHead {
        count: len.div_ceil(b) as i32,
        blength,
        s2length: 16,
        remainder: (len % b) as i32,
    }
}

/// How many bytes of each block's strong sum a generator sends for a basis of `len` bytes
/// in `blength` blocks, as rsync's `sum_sizes_sqroot` sizes them: enough bits that a
/// false match stays unlikely for a file that size (10 bits of bias, two a doubling of
/// the file, less one a doubling of the block, less the rolling sum's 32), from 2 to
/// `sum_len` (the session's checksum's length, 16 at most).
pub fn strong_length(len: u64, blength: i32, sum_len: usize) -> i32 {
    let mut bits: i32 = 10;
    let mut l = len;
    while {
        l >>= 1;
        l != 0
    } {
        bits += 2;
    }
    let mut c = blength;
    while {
        c >>= 1;
        c != 0 && bits != 0
    } {
        bits -= 1;
    }
    ((bits + 1 - 32 + 7) / 8).clamp(2, sum_len.min(16) as i32)
}

#[cfg(test)]
mod length_tests {
    use super::*;

    #[test]
    fn blocks_grow_with_the_file() {
        assert_eq!(block_length(0), 700);
        assert_eq!(block_length(490_000), 700);
        assert_eq!(block_length(1 << 20), 1024);
        assert_eq!(block_length(1 << 40), MAX_BLOCK_SIZE);
        let h = head_for(1500, 700);
        assert_eq!((h.count, h.remainder), (3, 100));
        assert_eq!(h.block_len(2), 100);
        assert_eq!(head_for(1400, 700).remainder, 0);
    }

    #[test]
    fn strong_sums_are_as_long_as_rsync_sends_them() {
        // rsync 3.5.0 sends 2 bytes up to some MB (10,461 bytes of sums for 3 MB), more
        // as files grow.
        assert_eq!(strong_length(1000, 700, 16), 2);
        assert_eq!(strong_length(3_000_000, block_length(3_000_000), 16), 2);
        assert_eq!(strong_length(1 << 40, block_length(1 << 40), 16), 6);
        assert_eq!(strong_length(u64::MAX, MAX_BLOCK_SIZE, 16), 11);
        // xxh3 and xxh64 sums are 8 bytes: no block sum is longer.
        assert_eq!(strong_length(u64::MAX, MAX_BLOCK_SIZE, 8), 8);
    }
}
