//! The sender's index of the receiver's block sums by rolling sum, which the delta search
//! asks once for every byte it slides over: a chained hash table in two flat arrays, as
//! rsync's own `match.c` keeps, behind a bitmap of at most 32 KiB that stays in the L1
//! cache. A miss, the usual answer, is a multiply, a shift and a bit test; the table is
//! only read on a hit in the bitmap. A `HashMap<u32, Vec<usize>>` with std's SipHash was
//! a tenth of a 1 GiB push's CPU, spent on the bytes around each edit, and without the
//! bitmap half of what was left waited on the table's loads (256 KiB for 32,768 blocks).

use crate::sums::BlockSum;

/// The end of a chain.
const NONE: u32 = u32::MAX;

/// Blocks by rolling sum. Each chain holds the blocks whose sums share a slot, in index
/// order, so the first block that matches is the lowest, as before.
pub(crate) struct ByRolling {
    /// `32 - log2(slots)`: the slot is the top bits of the mixed sum.
    shift: u32,
    /// One bit per `2^-bit_shift` of the mixed sums' range: set where some block's sum
    /// falls, about one bit in eight.
    bits: Vec<u64>,
    /// `32 - log2(bits)`.
    bit_shift: u32,
    /// The first block of each slot's chain.
    heads: Vec<u32>,
    /// The next block in the same chain, by block.
    next: Vec<u32>,
}

impl ByRolling {
    /// Indexes `blocks`, with about two slots a block so that chains stay short.
    pub(crate) fn new(blocks: &[BlockSum]) -> ByRolling {
        let slots = (blocks.len() * 2).next_power_of_two().clamp(16, 1 << 24);
        let shift = 32 - slots.trailing_zeros();
        let bits = (slots * 4).min(1 << 18);
        let mut index = ByRolling {
            shift,
            bits: vec![0; bits / 64],
            bit_shift: 32 - bits.trailing_zeros(),
            heads: vec![NONE; slots],
            next: vec![NONE; blocks.len()],
        };
        for (i, b) in blocks.iter().enumerate().rev() {
            let mixed = mix(b.rolling);
            let slot = (mixed >> index.shift) as usize;
            index.next[i] = index.heads[slot];
            index.heads[slot] = i as u32;
            let bit = (mixed >> index.bit_shift) as usize;
            index.bits[bit / 64] |= 1 << (bit % 64);
        }
        index
    }

    /// The blocks of `blocks` (the ones indexed) whose rolling sum is `sum`, lowest first.
    #[inline]
    pub(crate) fn candidates<'a>(
        &'a self,
        blocks: &'a [BlockSum],
        sum: u32,
    ) -> impl Iterator<Item = usize> + 'a {
        let mixed = mix(sum);
        let bit = (mixed >> self.bit_shift) as usize;
        let mut at = if self.bits[bit / 64] & (1 << (bit % 64)) == 0 {
            NONE
        } else {
            self.heads[(mixed >> self.shift) as usize]
        };
        std::iter::from_fn(move || {
            while at != NONE {
                let i = at as usize;
                at = self.next[i];
                if blocks[i].rolling == sum {
                    return Some(i);
                }
            }
            None
        })
    }
}

/// Fibonacci hashing: the sum's low half is the byte sum, which clusters, so both halves
/// are mixed into the top bits, which pick the slot and the bit.
#[inline(always)]
fn mix(sum: u32) -> u32 {
    sum.wrapping_mul(0x9E37_79B1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(rolling: u32) -> BlockSum {
        BlockSum {
            rolling,
            strong: Vec::new(),
            len: 1,
        }
    }

    #[test]
    fn finds_every_block_with_the_sum_lowest_first() {
        // Many equal sums, sums that share a slot, and sums that differ only in the low
        // half, which the slot must still tell apart.
        let sums: Vec<u32> = (0..5000u32).map(|i| (i % 97) | ((i % 13) << 16)).collect();
        let blocks: Vec<BlockSum> = sums.iter().map(|&s| block(s)).collect();
        let index = ByRolling::new(&blocks);
        for probe in (0..120u32).flat_map(|lo| (0..15u32).map(move |hi| lo | (hi << 16))) {
            let want: Vec<usize> = (0..sums.len()).filter(|&i| sums[i] == probe).collect();
            let got: Vec<usize> = index.candidates(&blocks, probe).collect();
            assert_eq!(got, want, "sum {probe:#x}");
        }
    }

    #[test]
    fn no_blocks_finds_nothing() {
        let index = ByRolling::new(&[]);
        assert_eq!(index.candidates(&[], 7).count(), 0);
    }
}
