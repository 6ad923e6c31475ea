/*!
The rsync algorithm for prtools: block signatures, a rolling search that uses every core,
delta streams and patching. Pure: inputs are byte slices (callers mmap large files), outputs
go to a [`std::io::Write`], and nothing here opens a file or a socket.

# Two directions, one search

The search answers one question: *where in data `D` are the blocks of signature `S`?*
([`Matcher::find`], yielding [`Match`]es of block index and offset). Both ways of moving a
file are built on it:

- **rsync's** (prsync to one host): the receiver sends the [`Signature`] of its old file, the
  basis; the sender searches its new file for the basis's blocks and sends a [`Delta`] of copy
  and literal operations ([`delta`], [`Delta::encode`]); the receiver rebuilds the new file
  with [`patch`] or a [`Patcher`].
- **zsync's** (prsync and prdist to many hosts): the source computes the signature of the
  *new* file once and sends the same bytes to every host; each host searches its old file for
  the new file's blocks ([`block_map`]), asks for the [`missing_ranges`](BlockMap::missing_ranges),
  and writes the new file from its own blocks and the fetched bytes ([`assemble`], [`Assembler`]).
  The source hashes once, not once per host.

```
use prtools_delta::{delta, patch, Signature, SignatureOptions};

let basis: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
let mut target = basis.clone();
target[50_000..50_010].copy_from_slice(b"0123456789");

let sig = Signature::new(&basis, &SignatureOptions::default())?;
let wire = Signature::from_bytes(&sig.to_bytes())?; // crosses the network
let delta = delta(&wire, &target);
let stream = delta.to_bytes(&target)?;             // crosses back
assert!(stream.len() < 1_000);

let mut rebuilt = Vec::new();
patch(&basis, &stream, &mut rebuilt)?;
assert_eq!(rebuilt, target);
# Ok::<(), prtools_delta::Error>(())
```

# Blocks

The block size follows rsync: `√len` rounded down to a multiple of 8, at least
[`MIN_BLOCK_SIZE`] (700) and at most [`MAX_BLOCK_SIZE`] (128 KiB) ([`block_size`]); prsync's
`-B` overrides it ([`SignatureOptions::block_size`], checked by
[`SignatureOptions::check_block_size`]). The last block is short when the length is not a
multiple; whole blocks are found anywhere, a short last block only at the very end of the data
searched (as rsync), so data appended to a file costs less than one block of the old tail.

# Checksums

**Weak, rolling: rsync's sum.** `s1 = Σ w[k]`, `s2 = Σ (n - k) w[k]` modulo 2^32, the sum
being `s1 mod 2^16 | (s2 mod 2^16) << 16`. Rolling it one byte is two dependent additions.
A polynomial (Rabin-Karp) hash, librsync's choice, spreads structured data better, but puts a
multiply on the path from each byte to the next, and its fresh sum over a block, which the
search takes once per matched block, vectorises less well on baseline x86-64 (no 32-bit
vector multiply before SSE4.1); rsync's vectorises into widening adds. By our estimate
rsync's sum keeps about 28 useful bits on text at 700-byte blocks, where the byte sum `s1`
clusters, and a false weak hit costs only one strong hash of the window, so strong hashes
stay rare (a few per MB of text).

Every position's weak sum is multiplied by a Fibonacci constant, so that all 32 bits count
and not the clustered `s1` alone. The top bits of the product test one bit of a filter set for
the blocks' sums, 32 to 64 bits a block, so that almost every window of changed data is turned
away by one load and a branch the CPU predicts right; the rest go on to a hash table of the
distinct blocks (identical blocks, such as runs of zeros, are kept once, and a weak sum shared
by more than 16 distinct blocks keeps only 16, so that a hostile signature cannot make each
position cost thousands of comparisons).

**Strong: xxh3-128, truncated per file.** A window whose weak sum hits is hashed with xxh3-128
and compared with the block's stored prefix. The prefix length follows rsync's idea of
growing with the file ([`strong_len`]): assume the weak sum filters nothing, so that each of
`P ≤ 4·len` scanned positions meets each of `B` blocks, and ask for at most 2^-32 expected
false matches per file: `32 + log2(4·len) + log2(B)` bits, in whole bytes, 8 to 16: 8 bytes
up to about 1 MiB, 10 at 1 GiB, 13 at 1 TiB. With the weak sum's own filtering the real odds
are far smaller, and the signature costs 4 + 8 to 16 bytes a block (rsync: 4 + 2 to 16).

**Whole file: xxh3-128.** A [`Delta`] carries the xxh3-128 of its target, a [`Signature`]
its [`blocks_hash`]: the xxh3-128 of its blocks' whole xxh3-128 hashes, which the signing
side has at hand and the rebuilding side too (the search hashed each block it found), so
that neither end reads the whole file once more to check it. [`Patcher::finish`] and
[`Assembler::finish`] check what they wrote against it and fail with
[`Error::HashMismatch`] when it differs: an input changed while it was read, or a false
match got through (a block found by its stored prefix differs in its whole hash). As rsync, the caller then retries with 16-byte strong sums
(`SignatureOptions { strong_len: Some(16), .. }`), or sends the whole file.

These are checks against accident, not against an adversary: xxh3 is not a cryptographic
hash. A peer that can choose the data can send any bytes anyway; what a hostile peer can do
to this crate is bounded by the decoders below.

# The parallel search

rsync searches on one thread. Here the searched data is cut into chunks (at least 4 MiB and
64 blocks), each searched on its own rayon task with the same greedy rule: if the window at
`p` is a block, record it and jump to `p + block`, else roll one byte on. The path of that
search from a position is fixed by the data, so two paths that meet at a position go on
together. A chunk's search starts at the chunk's first byte; the sequential path enters the
chunk where the previous chunk's last match ended, usually a few bytes in, where the chunk's
own path (stepping byte by byte over the partial block) meets it. The stitching keeps the
chunk's matches from there on. When the chunk's path jumped over that position (a match that
starts out of phase), the stitching scans on sequentially until the paths meet, which gives
exactly the sequential result; in periodic data the paths may never meet, and after four
blocks it takes the chunk's next match instead, sending less than one block as literal. The
result never depends on the number of threads. Signature hashing splits by blocks.

# Wire formats

Integers named *varint* are unsigned LEB128 in their shortest form (at most 10 bytes);
hashes and weak sums are little-endian. Both formats are hand-rolled rather than serde and
postcard: postcard would spend five bytes on a random 32-bit weak sum, and a fixed-width
layout lets the decoder check the whole length before it allocates anything.

**Signature** ([`Signature::to_bytes`], [`Signature::from_bytes`]):

```text
"PRSG" 0x01                 magic and version
varint len                  length of the signed data
varint block_size           1 ..= 131072
u8     strong_len           4 ..= 16
[16]   blocks hash          xxh3-128 of the blocks' whole xxh3-128 hashes (blocks_hash)
then ceil(len / block_size) records of
  u32  weak sum
  [strong_len] strong sum   first bytes of the block's xxh3-128
```

**Delta** ([`Delta::encode`], [`patch`]):

```text
"PRDL" 0x01                 magic and version
varint block_size           of the basis's signature
varint basis_len            the patcher refuses a basis of another length
varint target_len           the patcher refuses to write more, or to finish with less
[16]   target hash          xxh3-128 of the target
ops, each a tag byte:
  0x01 varint block, varint count   copy blocks block .. block+count of the basis
  0x02 varint len, len bytes        literal bytes
  0x00                              end; nothing may follow
```

Consecutive blocks are coalesced into one copy, so an unchanged file is one copy op and a
delta of about 40 bytes. Both decoders take input that may be hostile (they are fuzzed): they
never panic, never allocate by a length field (the signature decoder checks that the declared
blocks account for exactly the bytes given; the patcher streams literals through and buffers
at most 64 bytes of a header), refuse a copy outside the basis and any output past the
declared length, and report the byte offset of what is wrong.
*/

#![deny(missing_docs)]

mod blockmap;
mod delta;
mod error;
mod matcher;
mod output;
mod patch;
mod rolling;
mod signature;
mod varint;

pub use crate::blockmap::{assemble, block_map, Assembler, BlockMap};
pub use crate::delta::{delta, Delta, Op};
pub use crate::error::{Error, Format};
pub use crate::matcher::{Match, Matcher, SearchStats};
pub use crate::output::Output;
pub use crate::patch::{patch, Patcher};
pub use crate::rolling::signed_sums;
pub use crate::signature::{
    block_size, blocks_hash, strong_len, Signature, SignatureOptions, MAX_BLOCK_SIZE,
    MAX_STRONG_LEN, MIN_BLOCK_OVERRIDE, MIN_BLOCK_SIZE, MIN_STRONG_LEN,
};
