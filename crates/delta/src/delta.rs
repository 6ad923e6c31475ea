//! Deltas: the copy and literal operations that turn a basis into a target, and their
//! encoding as a byte stream.

use std::io::{self, Write};

use xxhash_rust::xxh3::xxh3_128;

use crate::matcher::{Hit, Matcher, SearchStats};
use crate::signature::Signature;
use crate::varint;

/// The first bytes of an encoded delta: a name and a format version.
pub(crate) const MAGIC: &[u8; 5] = b"PRDL\x01";

/// Op tag: the end of the stream.
pub(crate) const TAG_END: u8 = 0;
/// Op tag: copy blocks of the basis (`block`, `count`).
pub(crate) const TAG_COPY: u8 = 1;
/// Op tag: literal bytes (`len`, then the bytes).
pub(crate) const TAG_LITERAL: u8 = 2;

/// One step of a delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Copy `count` consecutive blocks of the basis, starting with block `block`. The last
    /// block of the basis may be short; a copy that includes it ends where the basis ends.
    Copy {
        /// The first block copied.
        block: u32,
        /// How many blocks (at least one).
        count: u32,
    },
    /// Bytes the basis does not have: `len` bytes of the target at `offset`. The encoding
    /// carries the bytes themselves.
    Literal {
        /// Where the bytes are in the target.
        offset: u64,
        /// How many (at least one).
        len: u64,
    },
}

/// The difference between a basis (known only by its [`Signature`]) and a target, as a list
/// of operations that rebuild the target from the basis.
///
/// Literal operations refer to the target by range rather than holding its bytes, so a
/// delta of a multi-gigabyte file is small; [`encode`](Delta::encode) copies them out of the
/// target as it writes the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    ops: Vec<Op>,
    block_size: u32,
    basis_len: u64,
    target_len: u64,
    target_hash: u128,
    search: SearchStats,
}

/// Computes the delta that turns the basis `sig` was made from into `target`, on every core.
///
/// Shorthand for [`Matcher::new`] then [`Matcher::delta`]; build the [`Matcher`] once to
/// compare several targets with one signature.
///
/// ```
/// use prtools_delta::{delta, patch, Signature, SignatureOptions};
///
/// let basis = b"the quick brown fox jumps over the lazy dog".repeat(100);
/// let mut target = basis.clone();
/// target.splice(2000..2000, b"NEW".iter().copied());
///
/// let sig = Signature::new(&basis, &SignatureOptions { block_size: Some(64), ..Default::default() })?;
/// let delta = delta(&sig, &target);
/// assert!(delta.literal_len() < 200);
/// let bytes = delta.to_bytes(&target)?;
///
/// let mut rebuilt = Vec::new();
/// patch(&basis, &bytes, &mut rebuilt)?;
/// assert_eq!(rebuilt, target);
/// # Ok::<(), prtools_delta::Error>(())
/// ```
pub fn delta(sig: &Signature, target: &[u8]) -> Delta {
    Matcher::new(sig).delta(target)
}

impl Matcher<'_> {
    /// Computes the delta from this matcher's signature to `target`: the search of
    /// [`find`](Matcher::find) on every core, while one more task hashes `target` whole.
    pub fn delta(&self, target: &[u8]) -> Delta {
        let ((hits, search), target_hash) =
            rayon::join(|| self.find_hits(target), || xxh3_128(target));
        let sig = self.signature();
        Delta {
            ops: ops(sig, &hits, target.len() as u64),
            block_size: sig.block_size(),
            basis_len: sig.len(),
            target_len: target.len() as u64,
            target_hash,
            search,
        }
    }
}

/// Turns matches into operations: gaps become literals, and a match that follows the
/// previous one in both the target and the basis extends its copy. A block with the same
/// bytes as the previous copy's successor (a run of zero blocks, say) is taken as that
/// successor, so such runs coalesce too.
fn ops(sig: &Signature, matches: &[Hit], target_len: u64) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut pos = 0u64;
    for m in matches {
        if m.offset > pos {
            ops.push(Op::Literal {
                offset: pos,
                len: m.offset - pos,
            });
        } else if let Some(Op::Copy { block, count }) = ops.last_mut() {
            let next = *block + *count;
            if next < sig.block_count() && sig.same_block(next, m.block) {
                *count += 1;
                pos = m.offset + u64::from(sig.block_len(next));
                continue;
            }
        }
        ops.push(Op::Copy {
            block: m.block,
            count: 1,
        });
        pos = m.offset + u64::from(sig.block_len(m.block));
    }
    if pos < target_len {
        ops.push(Op::Literal {
            offset: pos,
            len: target_len - pos,
        });
    }
    ops
}

impl Delta {
    /// What the search for the basis's blocks did (`--debug=deltasum`'s counts).
    pub fn search_stats(&self) -> SearchStats {
        self.search
    }

    /// The operations, in target order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The block size of the basis's signature.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Length of the basis the delta applies to.
    pub fn basis_len(&self) -> u64 {
        self.basis_len
    }

    /// Length of the target it rebuilds.
    pub fn target_len(&self) -> u64 {
        self.target_len
    }

    /// The xxh3-128 hash of the target, which the patcher checks.
    pub fn target_hash(&self) -> u128 {
        self.target_hash
    }

    /// Bytes the delta carries as literals.
    pub fn literal_len(&self) -> u64 {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Literal { len, .. } => *len,
                Op::Copy { .. } => 0,
            })
            .sum()
    }

    /// Bytes of the target that come from the basis.
    pub fn copied_len(&self) -> u64 {
        self.target_len - self.literal_len()
    }

    /// Length of the encoded stream.
    pub fn encoded_len(&self) -> u64 {
        let header = MAGIC.len()
            + varint::len(u64::from(self.block_size))
            + varint::len(self.basis_len)
            + varint::len(self.target_len)
            + 16;
        let ops: u64 = self
            .ops
            .iter()
            .map(|op| match *op {
                Op::Copy { block, count } => {
                    1 + varint::len(u64::from(block)) as u64 + varint::len(u64::from(count)) as u64
                }
                Op::Literal { len, .. } => 1 + varint::len(len) as u64 + len,
            })
            .sum();
        header as u64 + ops + 1
    }

    /// Writes the delta as a byte stream (format in the crate docs), taking the literal
    /// bytes from `target`, which must be the data the delta was computed from.
    ///
    /// Fails with [`Error::Io`](crate::Error::Io) if writing fails, or (kind
    /// `InvalidInput`) if `target` has another length.
    pub fn encode<W: Write>(&self, target: &[u8], mut out: W) -> Result<(), crate::Error> {
        if target.len() as u64 != self.target_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the delta was computed for {} bytes of target, not {}",
                    self.target_len,
                    target.len()
                ),
            )
            .into());
        }
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(MAGIC);
        varint::put(&mut head, u64::from(self.block_size));
        varint::put(&mut head, self.basis_len);
        varint::put(&mut head, self.target_len);
        head.extend_from_slice(&self.target_hash.to_le_bytes());
        for op in &self.ops {
            match *op {
                Op::Copy { block, count } => {
                    head.push(TAG_COPY);
                    varint::put(&mut head, u64::from(block));
                    varint::put(&mut head, u64::from(count));
                }
                Op::Literal { offset, len } => {
                    head.push(TAG_LITERAL);
                    varint::put(&mut head, len);
                    out.write_all(&head)?;
                    head.clear();
                    out.write_all(&target[offset as usize..(offset + len) as usize])?;
                }
            }
            // Copy ops are a few bytes each: gather them into larger writes.
            if head.len() >= 4096 {
                out.write_all(&head)?;
                head.clear();
            }
        }
        head.push(TAG_END);
        out.write_all(&head)?;
        Ok(())
    }

    /// [`encode`](Delta::encode) into a new vector.
    pub fn to_bytes(&self, target: &[u8]) -> Result<Vec<u8>, crate::Error> {
        let mut out = Vec::with_capacity(self.encoded_len() as usize);
        self.encode(target, &mut out)?;
        Ok(out)
    }
}
