//! The other direction, zsync's: which blocks of a new file's signature does local data hold,
//! which byte ranges must be fetched, and rebuilding the new file from both.

use std::io::Write;
use std::ops::Range;

use xxhash_rust::xxh3::Xxh3Default;

use crate::error::Error;
use crate::matcher::Matcher;
use crate::output::{Output, Plain};
use crate::signature::Signature;

/// Marks a block not found.
const MISSING: u64 = u64::MAX;

/// For each block of a signature, where (if anywhere) some local data holds it.
///
/// Built by [`block_map`] or [`Matcher::block_map`] on the host that has the old data; then
/// [`missing_ranges`](BlockMap::missing_ranges) says what to ask the source for and an
/// [`Assembler`] writes the new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMap {
    /// Offset in the local data per block, [`MISSING`] if not found.
    offsets: Vec<u64>,
    /// The whole xxh3-128 hash of the local bytes each found block is taken from (0 for a
    /// missing one), kept from the search, so that the rebuilt file is checked
    /// ([`blocks_hash`](crate::blocks_hash)) without a second pass over the local data.
    hashes: Vec<u128>,
    len: u64,
    block_size: u32,
}

/// Finds which blocks of `sig` (the signature of the new file) `local` (the old file) holds,
/// on every core.
///
/// ```
/// use prtools_delta::{assemble, block_map, Signature, SignatureOptions};
///
/// let old = b"0123456789abcdef".repeat(64);
/// let new = [&old[..512], b"changed!", &old[520..]].concat();
/// let options = SignatureOptions { block_size: Some(128), ..Default::default() };
/// let sig = Signature::new(&new, &options)?; // on the source, sent to every host
///
/// let map = block_map(&sig, &old); // on each host
/// assert_eq!(map.missing_ranges(), [512..640]);
/// let fetched = &new[512..640]; // what the source sends back
///
/// let mut out = Vec::new();
/// assemble(&sig, &map, &old, fetched, &mut out)?;
/// assert_eq!(out, new);
/// # Ok::<(), prtools_delta::Error>(())
/// ```
pub fn block_map(sig: &Signature, local: &[u8]) -> BlockMap {
    Matcher::new(sig).block_map(local)
}

impl Matcher<'_> {
    /// Which blocks of this matcher's signature `local` holds: the search of
    /// [`find`](Matcher::find), where a found block also stands for every block with the same
    /// sums. Each block gets the first offset it was found at.
    pub fn block_map(&self, local: &[u8]) -> BlockMap {
        let sig = self.signature();
        let mut offsets = vec![MISSING; sig.block_count() as usize];
        let mut hashes = vec![0u128; sig.block_count() as usize];
        for m in self.find_hits(local).0 {
            for block in [Some(m.block), self.rep(m.block)].into_iter().flatten() {
                let slot = &mut offsets[block as usize];
                if *slot == MISSING {
                    *slot = m.offset;
                    hashes[block as usize] = m.strong;
                }
            }
        }
        for block in 0..sig.full_blocks() {
            if offsets[block as usize] == MISSING {
                if let Some(rep) = self.rep(block) {
                    offsets[block as usize] = offsets[rep as usize];
                    hashes[block as usize] = hashes[rep as usize];
                }
            }
        }
        BlockMap {
            offsets,
            hashes,
            len: sig.len(),
            block_size: sig.block_size(),
        }
    }
}

impl BlockMap {
    /// Number of blocks of the signature.
    pub fn block_count(&self) -> u32 {
        self.offsets.len() as u32
    }

    /// Where the local data holds block `block`, if it does.
    pub fn get(&self, block: u32) -> Option<u64> {
        self.offsets
            .get(block as usize)
            .copied()
            .filter(|&o| o != MISSING)
    }

    /// Number of blocks found locally.
    pub fn found_blocks(&self) -> u32 {
        self.offsets.iter().filter(|&&o| o != MISSING).count() as u32
    }

    /// Byte range of `block` in the new file.
    fn range(&self, block: usize) -> Range<u64> {
        let size = u64::from(self.block_size);
        let start = block as u64 * size;
        start..(start + size).min(self.len)
    }

    /// The byte ranges of the new file that the local data lacks, in order, adjacent missing
    /// blocks joined into one range: what to fetch from the source, which sends them back in
    /// this order for [`Assembler::feed`].
    pub fn missing_ranges(&self) -> Vec<Range<u64>> {
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for (block, &offset) in self.offsets.iter().enumerate() {
            if offset != MISSING {
                continue;
            }
            let range = self.range(block);
            match ranges.last_mut() {
                Some(last) if last.end == range.start => last.end = range.end,
                _ => ranges.push(range),
            }
        }
        ranges
    }

    /// Total length of [`missing_ranges`](BlockMap::missing_ranges).
    pub fn missing_len(&self) -> u64 {
        self.offsets
            .iter()
            .enumerate()
            .filter(|(_, &o)| o == MISSING)
            .map(|(block, _)| {
                let range = self.range(block);
                range.end - range.start
            })
            .sum()
    }
}

/// Writes a new file from the blocks the local data holds and the missing ranges fetched
/// from the source, fed in pieces as they arrive, and checks the new file against the
/// signature's [`blocks_hash`](crate::blocks_hash): a found block by the hash the search
/// took of it, a fetched one by hashing it here. The local data is never read here, only
/// handed to the [`Output`], which may copy it in the kernel.
///
/// The fetched bytes are the [`missing_ranges`](BlockMap::missing_ranges), in order, back to
/// back. As with [`Patcher`](crate::Patcher), the output is only known good when
/// [`finish`](Assembler::finish) returns `Ok`.
pub struct Assembler<'a> {
    sig: &'a Signature,
    map: &'a BlockMap,
    local: &'a [u8],
    /// The next block to write or to start fetching.
    block: usize,
    /// Bytes of the missing block being fetched (the one before `block`) still to come.
    fetching: u64,
    written: u64,
    /// Of the whole hashes of the blocks written, for [`blocks_hash`](crate::blocks_hash).
    hasher: Xxh3Default,
    /// Of the bytes of the missing block being fetched.
    block_hasher: Xxh3Default,
}

/// Writes the new file from `local` and `fetched` (the missing ranges back to back) to
/// `out` and checks it; returns its length. See [`Assembler`].
pub fn assemble<W: Write>(
    sig: &Signature,
    map: &BlockMap,
    local: &[u8],
    fetched: &[u8],
    mut out: W,
) -> Result<u64, Error> {
    let mut assembler = Assembler::new(sig, map, local)?;
    assembler.feed(fetched, &mut out)?;
    assembler.finish(&mut out)
}

impl std::fmt::Debug for Assembler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembler")
            .field("len", &self.sig.len())
            .field("block", &self.block)
            .field("fetching", &self.fetching)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<'a> Assembler<'a> {
    /// An assembler of the file `sig` describes. Fails if `map` was not made for `sig`, or
    /// places a block outside `local`.
    pub fn new(
        sig: &'a Signature,
        map: &'a BlockMap,
        local: &'a [u8],
    ) -> Result<Assembler<'a>, Error> {
        if map.len != sig.len() || map.block_size != sig.block_size() {
            return Err(Error::BlockMap {
                reason: "it was made for another signature",
            });
        }
        for (block, &offset) in map.offsets.iter().enumerate() {
            let len = u64::from(sig.block_len(block as u32));
            if offset != MISSING
                && offset
                    .checked_add(len)
                    .is_none_or(|end| end > local.len() as u64)
            {
                return Err(Error::BlockMap {
                    reason: "it places a block past the end of the local data",
                });
            }
        }
        Ok(Assembler {
            sig,
            map,
            local,
            block: 0,
            fetching: 0,
            written: 0,
            hasher: Xxh3Default::new(),
            block_hasher: Xxh3Default::new(),
        })
    }

    /// Bytes of the new file written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Takes the next piece of the fetched bytes, and writes all that can be written.
    ///
    /// After an error the output is incomplete: drop the assembler.
    pub fn feed<W: Write + ?Sized>(&mut self, fetched: &[u8], out: &mut W) -> Result<(), Error> {
        self.feed_to(fetched, &mut Plain(out))
    }

    /// [`feed`](Assembler::feed) to an [`Output`], which is told which bytes are the local
    /// data's, so that it can copy them from there.
    pub fn feed_to<O: Output + ?Sized>(
        &mut self,
        mut fetched: &[u8],
        out: &mut O,
    ) -> Result<(), Error> {
        loop {
            if self.fetching == 0 {
                self.write_local(out)?;
                if self.block == self.map.offsets.len() {
                    if !fetched.is_empty() {
                        return Err(Error::TooLong {
                            declared: self.sig.len(),
                        });
                    }
                    return Ok(());
                }
                // At a missing block (never empty: only an empty file has one, and it
                // has no blocks): fetch it.
                self.fetching = u64::from(self.sig.block_len(self.block as u32));
                self.block += 1;
                self.block_hasher.reset();
            }
            if fetched.is_empty() {
                return Ok(());
            }
            let take = self.fetching.min(fetched.len() as u64) as usize;
            let bytes = &fetched[..take];
            out.write_new(bytes)?;
            self.block_hasher.update(bytes);
            self.written += take as u64;
            fetched = &fetched[take..];
            self.fetching -= take as u64;
            if self.fetching == 0 {
                let hash = self.block_hasher.digest128();
                self.hasher.update(&hash.to_le_bytes());
            }
        }
    }

    /// Writes what remains from the local data and checks the whole file against the
    /// signature's length and hash; returns the length.
    pub fn finish<W: Write + ?Sized>(self, out: &mut W) -> Result<u64, Error> {
        self.finish_to(&mut Plain(out))
    }

    /// [`finish`](Assembler::finish) to an [`Output`].
    pub fn finish_to<O: Output + ?Sized>(mut self, out: &mut O) -> Result<u64, Error> {
        self.feed_to(&[], out)?;
        if self.fetching > 0 || self.block < self.map.offsets.len() {
            return Err(Error::Incomplete {
                declared: self.sig.len(),
                written: self.written,
            });
        }
        let actual = self.hasher.digest128();
        if actual != self.sig.blocks_hash() {
            return Err(Error::HashMismatch {
                expected: self.sig.blocks_hash(),
                actual,
            });
        }
        Ok(self.written)
    }

    /// Writes the run of found blocks from the current one on, each stretch that is
    /// contiguous in the local data as one write.
    fn write_local<O: Output + ?Sized>(&mut self, out: &mut O) -> Result<(), Error> {
        let local = self.local;
        while let Some(start) = self.map.get(self.block as u32) {
            let mut end = start;
            while self.map.get(self.block as u32) == Some(end) {
                end += u64::from(self.sig.block_len(self.block as u32));
                self.hasher
                    .update(&self.map.hashes[self.block].to_le_bytes());
                self.block += 1;
            }
            // Checked in `new`: every found block lies inside `local`.
            let bytes = &local[start as usize..end as usize];
            out.write_basis(bytes, start)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }
}
