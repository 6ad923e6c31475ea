//! The rolling search: a hash table of a signature's blocks, the greedy scan, and the
//! parallel split of the scanned data into chunks.

use rayon::prelude::*;

use crate::rolling::{weak_sum, Rolling};
use crate::signature::{strong_sum, Signature};

/// Fibonacci hashing constant (2^32 / φ): multiplying the weak sum by it and keeping the top
/// bits spreads all 32 bits of the sum over the table, where rsync's low half alone (the plain
/// byte sum) clusters.
const MIX: u32 = 0x9E37_79B1;

/// The table never has fewer buckets than this, so the shift stays below 32.
const MIN_BUCKET_BITS: u32 = 4;

/// Nor more than this, so that `32 - bits >= 1` and the bucket starts fit `u32` indices.
const MAX_BUCKET_BITS: u32 = 31;

/// Filter bits per distinct block, at least: 32 to 64 bits each leave 1.5% to 3% of the
/// filter set, so that a window that is no block (almost all of them, where data differs) is
/// turned away by one bit test whose branch the CPU predicts right. Without the filter the
/// search asked whether the window's bucket was empty, which was a coin toss for the branch
/// predictor and cost about 8 ns a byte.
const FILTER_BITS_PER_BLOCK: usize = 32;

/// The filter has at most 2^30 bits (128 MiB), reached only by signatures of over 16 million
/// distinct blocks (2 TiB at the largest block size).
const MAX_FILTER_BITS: u32 = 30;

/// Distinct blocks kept in the table for any one weak sum. Real data almost never has two;
/// a hostile signature, or a disk image of blocks that differ only where the weak sum cannot
/// see it, could have thousands, and every position that hits that sum would compare the
/// window's strong sum with each: the search would be quadratic. Blocks beyond the cap are
/// never found: the result stays correct, only larger.
///
/// rsync 3.5.0 bounds the same walk per position (match.c's `MAX_CHAIN_LEN`, 1024 blocks of
/// one weak sum, issue #217) while it searches; cutting the table once, and keeping identical
/// blocks once, makes the bound 16 and costs nothing per position.
const MAX_SAME_WEAK: usize = 16;

/// Chunks of the scanned data are at least this long...
const MIN_CHUNK: usize = 4 << 20;

/// ...and at least this many blocks, so that the work lost where a chunk starts out of step
/// (up to a block of rolling) stays near 1%.
const CHUNK_BLOCKS: usize = 64;

/// How far, in blocks, the stitching of two chunks scans on sequentially to fall back in step
/// with the second chunk's own scan before it gives up and accepts a literal gap of less than
/// one block.
const REDO_BLOCKS: usize = 4;

/// Marks a block that is not in the table.
const NONE: u32 = u32::MAX;

/// What a search did, in the counts rsync's `--debug=deltasum` prints (match.c's `total:`
/// line): they show whether the weak sums of a file's blocks collide, and that the work
/// per position stays bounded when they do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Blocks found.
    pub matches: u64,
    /// Positions whose window had the weak sum of some block, so that its strong sum was
    /// taken.
    pub hash_hits: u64,
    /// Strong sums compared that differed: weak-sum collisions.
    pub false_alarms: u64,
}

impl std::ops::AddAssign for SearchStats {
    fn add_assign(&mut self, other: SearchStats) {
        self.matches += other.matches;
        self.hash_hits += other.hash_hits;
        self.false_alarms += other.false_alarms;
    }
}

/// A block of the signature found in the data searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Match {
    /// Where in the searched data the block starts.
    pub offset: u64,
    /// Which block of the signature it is.
    pub block: u32,
}

/// A [`Match`] with the whole xxh3-128 hash of the window found, which the zsync direction
/// keeps to check the rebuilt file without hashing it again ([`BlockMap`](crate::BlockMap)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub(crate) offset: u64,
    pub(crate) block: u32,
    pub(crate) strong: u128,
}

impl Hit {
    fn found(self) -> Match {
        Match {
            offset: self.offset,
            block: self.block,
        }
    }
}

/// Where a scan stands: the block matched last (whose successor is tried first), and what
/// it has done so far.
#[derive(Clone, Copy, Debug, Default)]
struct Walk {
    prev: Option<u32>,
    tally: SearchStats,
}

/// One distinct block in the table: its weak sum (compared before anything else) and the
/// lowest block index with its sums.
#[derive(Clone, Copy, Debug)]
struct Entry {
    weak: u32,
    block: u32,
}

/// A signature made searchable: a hash table of its whole blocks, built once and shared by
/// every search (and every thread) that looks for them. [`find`](Matcher::find) is the
/// search; [`delta`](Matcher::delta) and [`block_map`](Matcher::block_map) build on it.
///
/// ```
/// use prtools_delta::{Match, Matcher, Signature, SignatureOptions};
///
/// let old = b"abcdefgh12345678ABCDEFGH".to_vec();
/// let sig = Signature::new(&old, &SignatureOptions { block_size: Some(8), ..Default::default() })?;
/// let found = Matcher::new(&sig).find(b"xyABCDEFGHabcdefgh");
/// assert_eq!(found, [Match { offset: 2, block: 2 }, Match { offset: 10, block: 0 }]);
/// # Ok::<(), prtools_delta::Error>(())
/// ```
//
// A window's weak sum is multiplied by `MIX`; the top bits of the product pick a bit of
// `filter`, set only for the weak sums of blocks, and when it is set, a bucket of the table.
// The table is a flat, sorted array of distinct blocks (`entries`) cut into buckets by
// `starts`, as compressed sparse rows. Identical blocks (a file of zeros has many) are kept
// once; `rep` maps each block to the one kept.
pub struct Matcher<'s> {
    sig: &'s Signature,
    filter: Vec<u64>,
    filter_shift: u32,
    shift: u32,
    starts: Vec<u32>,
    entries: Vec<Entry>,
    rep: Vec<u32>,
    chunk_len: usize,
}

impl std::fmt::Debug for Matcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("blocks", &self.sig.block_count())
            .field("distinct", &self.entries.len())
            .field("buckets", &(self.starts.len() - 1))
            .field("filter_bits", &(self.filter.len() * 64))
            .field("chunk_len", &self.chunk_len)
            .finish_non_exhaustive()
    }
}

impl<'s> Matcher<'s> {
    /// Builds the table for `sig`'s whole blocks (sorting them on every core).
    pub fn new(sig: &'s Signature) -> Matcher<'s> {
        let full = sig.full_blocks();
        let mut order: Vec<u32> = (0..full).collect();
        order.par_sort_unstable_by(|&a, &b| {
            sig.weak(a)
                .cmp(&sig.weak(b))
                .then_with(|| sig.strong(a).cmp(sig.strong(b)))
                .then(a.cmp(&b))
        });

        // Walk the sorted blocks: a run of equal (weak, strong) is one entry, represented by
        // its first (lowest) block; a weak sum's runs past MAX_SAME_WEAK are left out.
        let mut rep = vec![NONE; full as usize];
        let mut distinct = Vec::new();
        let mut same_weak = 0usize;
        for (i, &block) in order.iter().enumerate() {
            let prev = i.checked_sub(1).map(|i| order[i]);
            match prev {
                Some(p) if sig.weak(p) == sig.weak(block) && sig.strong(p) == sig.strong(block) => {
                    rep[block as usize] = rep[p as usize];
                    continue;
                }
                Some(p) if sig.weak(p) == sig.weak(block) => same_weak += 1,
                _ => same_weak = 1,
            }
            if same_weak <= MAX_SAME_WEAK {
                rep[block as usize] = block;
                distinct.push(Entry {
                    weak: sig.weak(block),
                    block,
                });
            }
        }

        let distinct_len = distinct.len();
        let bits = (distinct.len() * 2)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(MIN_BUCKET_BITS, MAX_BUCKET_BITS);
        let shift = 32 - bits;
        let buckets = 1usize << bits;
        // A counting sort by bucket; it is stable, so a bucket keeps the order by weak sum.
        let mut starts = vec![0u32; buckets + 1];
        for entry in &distinct {
            starts[bucket(entry.weak, shift) + 1] += 1;
        }
        for i in 0..buckets {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut entries = vec![Entry { weak: 0, block: 0 }; distinct.len()];
        for entry in distinct {
            let slot = &mut fill[bucket(entry.weak, shift)];
            entries[*slot as usize] = entry;
            *slot += 1;
        }
        let filter_bits = (distinct_len * FILTER_BITS_PER_BLOCK)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(6, MAX_FILTER_BITS);
        let filter_shift = 32 - filter_bits;
        let mut filter = vec![0u64; 1 << (filter_bits - 6)];
        for entry in &entries {
            let bit = (entry.weak.wrapping_mul(MIX) >> filter_shift) as usize;
            filter[bit >> 6] |= 1 << (bit & 63);
        }
        let chunk_len = MIN_CHUNK.max(CHUNK_BLOCKS * sig.block_size() as usize);
        Matcher {
            sig,
            filter,
            filter_shift,
            shift,
            starts,
            entries,
            rep,
            chunk_len,
        }
    }

    /// Sets the length of the chunks the parallel search cuts the data into (at least one
    /// byte). The default, at least 4 MiB and 64 blocks, keeps the work lost where a chunk
    /// starts out of step near 1%; tests set small chunks to cross many boundaries.
    pub fn with_chunk_len(mut self, len: usize) -> Matcher<'s> {
        self.chunk_len = len.max(1);
        self
    }

    /// The signature searched for.
    pub fn signature(&self) -> &'s Signature {
        self.sig
    }

    /// The block kept in the table for whole block `block`, if any.
    pub(crate) fn rep(&self, block: u32) -> Option<u32> {
        self.rep.get(block as usize).copied().filter(|&r| r != NONE)
    }

    /// The table entries whose bucket `weak` falls in.
    #[inline(always)]
    fn bucket(&self, weak: u32) -> &[Entry] {
        let b = bucket(weak, self.shift);
        let lo = self.starts[b] as usize;
        let hi = self.starts[b + 1] as usize;
        &self.entries[lo..hi]
    }

    /// The block `window` is, if any. `prev` is the block matched just before, whose
    /// successor is preferred among blocks with the same bytes, so that runs of identical
    /// blocks coalesce into one copy.
    #[inline(always)]
    fn lookup(
        &self,
        weak: u32,
        window: &[u8],
        prev: Option<u32>,
        tally: &mut SearchStats,
    ) -> Option<(u32, u128)> {
        if !self.filter_hit(weak) {
            return None;
        }
        self.lookup_table(weak, window, prev, tally)
    }

    /// Whether some block may have weak sum `weak` (false positives about 1.5% to 3%).
    #[inline(always)]
    fn filter_hit(&self, weak: u32) -> bool {
        let bit = (weak.wrapping_mul(MIX) >> self.filter_shift) as usize;
        self.filter[bit >> 6] & (1 << (bit & 63)) != 0
    }

    /// The part of [`lookup`](Matcher::lookup) past the filter, kept out of line so that the
    /// byte loop stays small.
    ///
    /// The walk is bounded whatever the signature: a bucket is sorted by weak sum, so the
    /// blocks of `weak` are found by bisection past any others that share the bucket, and
    /// there are at most [`MAX_SAME_WEAK`] of them. A position thus costs at most one strong
    /// sum and `MAX_SAME_WEAK + 1` comparisons, where rsync walks up to 1024 chain entries.
    #[inline(never)]
    fn lookup_table(
        &self,
        weak: u32,
        window: &[u8],
        prev: Option<u32>,
        tally: &mut SearchStats,
    ) -> Option<(u32, u128)> {
        let bucket = self.bucket(weak);
        let from = bucket.partition_point(|e| e.weak < weak);
        let same = bucket[from..]
            .iter()
            .take(MAX_SAME_WEAK)
            .take_while(|e| e.weak == weak)
            .count();
        let candidates = &bucket[from..from + same];
        if candidates.is_empty() {
            return None;
        }
        tally.hash_hits += 1;
        let strong = strong_sum(window);
        let whole = u128::from_le_bytes(strong);
        if let Some(next) = prev.and_then(|p| p.checked_add(1)) {
            if next < self.sig.full_blocks() && self.sig.weak(next) == weak {
                if self.sig.strong_is(next, &strong) {
                    return Some((next, whole));
                }
                tally.false_alarms += 1;
            }
        }
        for e in candidates {
            if self.sig.strong_is(e.block, &strong) {
                return Some((e.block, whole));
            }
            tally.false_alarms += 1;
        }
        None
    }

    /// The greedy rolling search, rsync's: at position `p`, if the block-sized window there
    /// is a block, record it and go on at `p + block_size`; otherwise roll one byte on.
    ///
    /// Matches start before `limit`. Before a position is examined, `stop` may end the scan
    /// there. Returns where the scan ended: the first position of its path at or past `limit`
    /// (which a match may have jumped past), or the one `stop` ended it at.
    ///
    /// The path from any position is fixed by the data, which is what lets chunks be scanned
    /// apart and stitched: two paths that meet at one position go on together.
    fn scan<F: FnMut(usize) -> bool>(
        &self,
        data: &[u8],
        start: usize,
        limit: usize,
        mut stop: F,
        walk: &mut Walk,
        out: &mut Vec<Hit>,
    ) -> usize {
        let bs = self.sig.block_size() as usize;
        if start >= limit {
            return start;
        }
        if self.entries.is_empty() {
            return limit;
        }
        // Windows fit at positions below `fits`; at or past it nothing can match, and the
        // path steps byte by byte to `limit`.
        let fits = (data.len() + 1).saturating_sub(bs);
        let step_end = limit.min(fits);
        let mut p = start;
        'jump: loop {
            if p >= limit {
                return p;
            }
            if p >= step_end {
                return limit;
            }
            if stop(p) {
                return p;
            }
            let mut roll = Rolling::new(&data[p..p + bs]);
            if let Some((block, strong)) =
                self.lookup(roll.digest(), &data[p..p + bs], walk.prev, &mut walk.tally)
            {
                out.push(Hit {
                    offset: p as u64,
                    block,
                    strong,
                });
                walk.prev = Some(block);
                p += bs;
                continue 'jump;
            }
            // Roll on to each later position `q` up to `step_end`: the byte at `q - 1` leaves
            // the window, the one at `q - 1 + bs` enters. Zipped slices rather than indexing
            // leave the loop without bounds checks.
            let base = p;
            let steps = step_end - 1 - base;
            let leaving = &data[base..base + steps];
            let entering = &data[base + bs..base + bs + steps];
            for (k, (&gone, &new)) in leaving.iter().zip(entering).enumerate() {
                let q = base + k + 1;
                if stop(q) {
                    return q;
                }
                roll.roll(gone, new);
                let weak = roll.digest();
                if self.filter_hit(weak) {
                    if let Some((block, strong)) =
                        self.lookup_table(weak, &data[q..q + bs], walk.prev, &mut walk.tally)
                    {
                        out.push(Hit {
                            offset: q as u64,
                            block,
                            strong,
                        });
                        walk.prev = Some(block);
                        p = q + bs;
                        continue 'jump;
                    }
                }
            }
            return limit;
        }
    }

    /// Finds the signature's blocks in `data`: the matches of rsync's greedy search, in
    /// order, never overlapping, searched on every core of the current rayon pool.
    ///
    /// Whole blocks are found anywhere; a short last block only at the very end of `data`.
    ///
    /// The data is cut into chunks of about [`with_chunk_len`](Matcher::with_chunk_len)
    /// bytes; the result is the same whatever the number of threads.
    pub fn find(&self, data: &[u8]) -> Vec<Match> {
        self.find_hits(data).0.into_iter().map(Hit::found).collect()
    }

    /// [`find`](Matcher::find), each match with the whole hash of its window, and what the
    /// search did: its hash hits and false alarms count the work of every chunk's scan,
    /// stitching included, so a file of over one chunk may count a few positions twice.
    pub(crate) fn find_hits(&self, data: &[u8]) -> (Vec<Hit>, SearchStats) {
        self.find_chunked(data, self.chunk_len)
    }

    /// [`find`](Matcher::find) on one thread, with no split: the reference the parallel
    /// search is measured against.
    pub fn find_sequential(&self, data: &[u8]) -> Vec<Match> {
        self.find_chunked(data, usize::MAX)
            .0
            .into_iter()
            .map(Hit::found)
            .collect()
    }

    fn find_chunked(&self, data: &[u8], chunk: usize) -> (Vec<Hit>, SearchStats) {
        let chunks = (data.len() / chunk).max(1);
        let bound = |i: usize| (i as u128 * data.len() as u128 / chunks as u128) as usize;
        let scanned: Vec<(Vec<Hit>, usize, SearchStats)> = (0..chunks)
            .into_par_iter()
            .map(|i| {
                let mut out = Vec::new();
                let mut walk = Walk::default();
                let end = self.scan(data, bound(i), bound(i + 1), |_| false, &mut walk, &mut out);
                (out, end, walk.tally)
            })
            .collect();
        let mut tally = SearchStats::default();
        let scanned = scanned
            .into_iter()
            .map(|(out, end, t)| {
                tally += t;
                (out, end)
            })
            .collect();
        let mut matches = self.stitch(data, scanned, bound, &mut tally);
        self.find_tail(data, &mut matches, &mut tally);
        tally.matches = matches.len() as u64;
        (matches, tally)
    }

    /// Joins the chunks' matches into the sequential search's.
    ///
    /// `at` is where the sequential path stands, past every match kept so far. Chunk `i`'s
    /// own path starts at its first byte `s`. If `at <= s`, the paths are one: keep all of
    /// the chunk's matches. Otherwise a match ran over the boundary; if the chunk's path
    /// visits `at` too (it is not strictly inside one of the chunk's matches), the paths meet
    /// there: keep the chunk's matches from `at` on. If not, scan on sequentially from `at`
    /// until the two paths meet, and keep the chunk's matches from there. In periodic data
    /// (all zeros, say) the paths can run side by side one phase apart and never meet; after
    /// [`REDO_BLOCKS`] blocks the sequential scan gives up and takes the chunk's matches that
    /// start past it, leaving a gap of less than one block as literal data.
    fn stitch(
        &self,
        data: &[u8],
        scanned: Vec<(Vec<Hit>, usize)>,
        bound: impl Fn(usize) -> usize,
        tally: &mut SearchStats,
    ) -> Vec<Hit> {
        let bs = self.sig.block_size() as usize;
        let mut matches: Vec<Hit> = Vec::with_capacity(scanned.iter().map(|c| c.0.len()).sum());
        let mut at = 0usize;
        for (i, (chunk, end)) in scanned.into_iter().enumerate() {
            if at <= bound(i) {
                matches.extend(chunk);
                at = at.max(end);
                continue;
            }
            if at >= end {
                continue;
            }
            // The chunk's matches are sorted and `bs` long; `inside(p)` says whether `p`
            // is strictly inside one, i.e. off the chunk's path.
            let mut first = chunk.partition_point(|m| m.offset as usize + bs <= at);
            let mut from = at;
            let inside =
                |first: usize, p: usize| chunk.get(first).is_some_and(|m| (m.offset as usize) < p);
            if inside(first, at) {
                let mut walk = Walk {
                    prev: matches.last().map(|m| m.block),
                    tally: SearchStats::default(),
                };
                let limit = end.min(at + REDO_BLOCKS * bs);
                from = self.scan(
                    data,
                    at,
                    limit,
                    |p| {
                        while chunk
                            .get(first)
                            .is_some_and(|m| m.offset as usize + bs <= p)
                        {
                            first += 1;
                        }
                        !inside(first, p)
                    },
                    &mut walk,
                    &mut matches,
                );
                *tally += walk.tally;
            }
            let keep = chunk.partition_point(|m| (m.offset as usize) < from);
            matches.extend_from_slice(&chunk[keep..]);
            at = end.max(from);
        }
        matches
    }

    /// Looks for a short last block at the end of `data`, where a file's last block is when
    /// the file has not changed there.
    fn find_tail(&self, data: &[u8], matches: &mut Vec<Hit>, tally: &mut SearchStats) {
        let sig = self.sig;
        let tail = sig.full_blocks();
        if tail == sig.block_count() {
            return;
        }
        let len = sig.block_len(tail) as usize;
        let Some(start) = data.len().checked_sub(len) else {
            return;
        };
        let covered = matches
            .last()
            .map_or(0, |m| m.offset as usize + sig.block_len(m.block) as usize);
        let window = &data[start..];
        if start >= covered && weak_sum(window) == sig.weak(tail) {
            tally.hash_hits += 1;
            let strong = strong_sum(window);
            if sig.strong_is(tail, &strong) {
                matches.push(Hit {
                    offset: start as u64,
                    block: tail,
                    strong: u128::from_le_bytes(strong),
                });
            } else {
                tally.false_alarms += 1;
            }
        }
    }
}

/// The bucket of weak sum `weak` in a table of `2^(32 - shift)` buckets.
#[inline(always)]
fn bucket(weak: u32, shift: u32) -> usize {
    (weak.wrapping_mul(MIX) >> shift) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SignatureOptions;

    fn sig(data: &[u8], block: u32) -> Signature {
        let options = SignatureOptions {
            block_size: Some(block),
            ..SignatureOptions::default()
        };
        Signature::new(data, &options).unwrap()
    }

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn identical_blocks_are_kept_once() {
        let data = vec![0u8; 64 * 10];
        let sig = sig(&data, 64);
        let m = Matcher::new(&sig);
        assert_eq!(m.entries.len(), 1);
        assert!((0..10).all(|b| m.rep(b) == Some(0)));
        // The successor of the previous match is preferred, so the blocks come in order.
        let found = m.find_sequential(&data);
        let blocks: Vec<u32> = found.iter().map(|m| m.block).collect();
        assert_eq!(blocks, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn shifted_data_is_found() {
        let basis = noise(10_000, 1);
        let mut target = b"inserted".to_vec();
        target.extend_from_slice(&basis);
        let sig = sig(&basis, 100);
        let found = Matcher::new(&sig).find_sequential(&target);
        assert_eq!(found.len(), 100);
        for (i, m) in found.iter().enumerate() {
            assert_eq!(
                *m,
                Match {
                    offset: 8 + 100 * i as u64,
                    block: i as u32
                }
            );
        }
    }

    #[test]
    fn short_last_block_only_at_the_end() {
        let basis = noise(1050, 2);
        let sig = sig(&basis, 100);
        let m = Matcher::new(&sig);
        let found = m.find_sequential(&basis);
        assert_eq!(
            found.last(),
            Some(&Match {
                offset: 1000,
                block: 10
            })
        );
        let mut longer = basis.clone();
        longer.push(0);
        let found = m.find_sequential(&longer);
        assert_eq!(found.len(), 10);
    }

    #[test]
    fn chunks_stitch_to_the_sequential_result() {
        let basis = noise(50_000, 3);
        let mut target = basis.clone();
        for (at, len) in [(777, 5), (12_345, 300), (30_000, 1)] {
            target.splice(at..at, noise(len, at as u64));
        }
        target.drain(40_000..40_123);
        let sig = sig(&basis, 128);
        let m = Matcher::new(&sig);
        let sequential = m.find_sequential(&target);
        for chunk in [1, 50, 127, 128, 129, 1000, 4096, 49_999] {
            let m = Matcher::new(&sig).with_chunk_len(chunk);
            assert_eq!(m.find(&target), sequential, "chunk {chunk}");
        }
    }

    #[test]
    fn stitching_rescans_when_a_chunk_jumps_out_of_phase() {
        // Blocks of 8: P, Q = P[4..] + I, T = I + J, U = K. The target P I J K matches P, T, U
        // in sequence; a chunk that starts at byte 2 or 4 instead finds Q at 4, which jumps
        // over 8, where the sequential search finds T.
        let n = noise(20, 9);
        let (p, i, j, k) = (&n[0..8], &n[8..12], &n[12..16], &n[16..20]);
        let k = [k, &noise(4, 10)[..]].concat();
        let basis = [p, &p[4..], i, i, j, &k].concat();
        let target = [p, i, j, &k].concat();
        let sig = sig(&basis, 8);
        let expected = vec![
            Match {
                offset: 0,
                block: 0,
            },
            Match {
                offset: 8,
                block: 2,
            },
            Match {
                offset: 16,
                block: 3,
            },
        ];
        assert_eq!(Matcher::new(&sig).find_sequential(&target), expected);
        for chunk in 1..target.len() {
            let m = Matcher::new(&sig).with_chunk_len(chunk);
            assert_eq!(m.find(&target), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn periodic_data_loses_at_most_a_block_per_chunk() {
        let basis = vec![0u8; 64 * 100];
        let target = vec![0u8; 64 * 100 + 3];
        let sig = sig(&basis, 64);
        let m = Matcher::new(&sig);
        let sequential = m.find_sequential(&target);
        assert_eq!(sequential.len(), 100);
        let chunked = Matcher::new(&sig).with_chunk_len(1000).find(&target);
        let chunks = target.len() / 1000;
        assert!(
            chunked.len() + chunks >= sequential.len(),
            "{} of {}",
            chunked.len(),
            sequential.len()
        );
        for pair in chunked.windows(2) {
            assert!(pair[0].offset + 64 <= pair[1].offset);
        }
    }

    /// A block of the constant byte 100 with `(+a, -2a, +a)` at `at..at + 3`: the weak sum
    /// cannot see the change (both of its sums move by zero), the strong sum does.
    fn decoy(block: usize, at: usize, a: u8) -> Vec<u8> {
        let mut b = vec![100u8; block];
        b[at] += a;
        b[at + 1] -= 2 * a;
        b[at + 2] += a;
        b
    }

    #[test]
    fn many_blocks_of_one_weak_sum_cost_a_bounded_walk() {
        // 40 * 150 = 6000 distinct blocks, all of one weak sum, none of them the constant
        // run searched for: rsync's issue #217. Every position hits, and each may compare
        // at most MAX_SAME_WEAK + 1 strong sums, not 6000.
        let block = 256;
        let basis: Vec<u8> = (1..=40)
            .flat_map(|a| (0..150).map(move |at| decoy(block, at, a)))
            .flatten()
            .collect();
        let sig = sig(&basis, block as u32);
        let target = vec![100u8; 3000];
        let (hits, stats) = Matcher::new(&sig).find_hits(&target);
        assert!(hits.is_empty());
        assert_eq!(stats.hash_hits, (3000 - block + 1) as u64);
        assert!(stats.false_alarms <= stats.hash_hits * (MAX_SAME_WEAK as u64 + 1));
        assert!(stats.false_alarms >= stats.hash_hits * MAX_SAME_WEAK as u64);
        // A block kept in the table is still found among all that collide with it.
        let m = Matcher::new(&sig);
        let kept = (0..6000).find(|&b| m.rep(b) == Some(b)).unwrap() as usize;
        let mut target = basis[kept * block..(kept + 1) * block].to_vec();
        target.extend_from_slice(&[100u8; 500]);
        let (hits, stats) = m.find_hits(&target);
        assert_eq!(hits.len(), 1);
        assert_eq!(stats.matches, 1);
    }

    #[test]
    fn counts_match_rsyncs_on_plain_data() {
        // An unchanged file with a few bytes inserted: every block is found by the one
        // position that hits it, and no strong sum differs.
        let basis = noise(100 * 64 + 10, 4);
        let mut target = basis.clone();
        target.splice(1024..1024, *b"new");
        let sig = sig(&basis, 64);
        let (hits, stats) = Matcher::new(&sig).find_hits(&target);
        assert_eq!(hits.len(), 101);
        assert_eq!(
            stats,
            SearchStats {
                matches: 101,
                hash_hits: 101,
                false_alarms: 0
            }
        );
    }
}
