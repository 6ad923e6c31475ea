//! The one error type of the crate.

use std::fmt;
use std::io;

/// Which byte format a decoding error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A serialised [`Signature`](crate::Signature).
    Signature,
    /// An encoded delta stream (see [`Delta::encode`](crate::Delta::encode)).
    Delta,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Signature => "signature",
            Format::Delta => "delta stream",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Parameter errors come from options a user typed (`-B`); decoding errors name the format,
/// the byte offset and what was wrong, because their input crossed the wire and may be
/// broken or hostile; the check errors say that a result did not match its whole-file hash,
/// which is the last line of defence and is never skipped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A block size outside
    /// [`MIN_BLOCK_OVERRIDE`](crate::MIN_BLOCK_OVERRIDE)..=[`MAX_BLOCK_SIZE`](crate::MAX_BLOCK_SIZE)
    /// was asked for (prsync's `-B`), or read from a signature or delta header.
    BlockSize {
        /// The size that was asked for.
        size: u64,
    },
    /// A strong-sum length outside
    /// [`MIN_STRONG_LEN`](crate::MIN_STRONG_LEN)..=[`MAX_STRONG_LEN`](crate::MAX_STRONG_LEN).
    StrongLen {
        /// The length that was asked for, in bytes.
        len: u64,
    },
    /// The data has more blocks than a block index can name (2^32 - 1); a larger block
    /// size makes fewer blocks.
    TooManyBlocks {
        /// Length of the data.
        len: u64,
        /// The block size that was used.
        block_size: u32,
    },
    /// The input does not start with the magic bytes and version of the format.
    BadMagic {
        /// The format that was expected.
        format: Format,
    },
    /// The input ended in the middle of an item.
    Truncated {
        /// The format being decoded.
        format: Format,
        /// Offset at which more bytes were needed.
        offset: u64,
    },
    /// A field holds a value the format does not allow.
    Malformed {
        /// The format being decoded.
        format: Format,
        /// Offset of the offending field.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Bytes follow the end of a signature or of a delta stream's end marker.
    TrailingData {
        /// The format being decoded.
        format: Format,
        /// Offset of the first unexpected byte.
        offset: u64,
    },
    /// The basis given to the patcher is not the length the delta was made against: it
    /// changed after its signature was computed. Compute a new signature and delta.
    BasisLength {
        /// Length the delta expects.
        expected: u64,
        /// Length of the basis at hand.
        actual: u64,
    },
    /// A copy operation names blocks the basis does not have.
    CopyOutOfRange {
        /// First block of the copy.
        block: u64,
        /// Number of blocks copied.
        count: u64,
        /// Number of blocks in the basis.
        blocks: u64,
    },
    /// The operations would write more than the declared target length.
    TooLong {
        /// The declared length.
        declared: u64,
    },
    /// The input ended before the declared length was written, or before the stream's end
    /// marker.
    Incomplete {
        /// The declared length.
        declared: u64,
        /// Bytes written so far.
        written: u64,
    },
    /// A block map does not fit the signature or the local data it is used with.
    BlockMap {
        /// What does not fit.
        reason: &'static str,
    },
    /// The result does not match its whole-file xxh3-128 hash. Either an input changed while
    /// it was read, or (with odds given in the crate docs) a block matched by its sums but not
    /// by its bytes; retry with a full 16-byte strong sum
    /// ([`SignatureOptions::strong_len`](crate::SignatureOptions::strong_len)).
    HashMismatch {
        /// The expected hash.
        expected: u128,
        /// The hash of what was written.
        actual: u128,
    },
    /// Writing the output failed.
    Io(io::Error),
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BlockSize { size } => write!(
                f,
                "block size {size} is out of range: it must be {} to {} bytes",
                crate::MIN_BLOCK_OVERRIDE,
                crate::MAX_BLOCK_SIZE
            ),
            Error::StrongLen { len } => write!(
                f,
                "strong sum length {len} is out of range: it must be {} to {} bytes",
                crate::MIN_STRONG_LEN,
                crate::MAX_STRONG_LEN
            ),
            Error::TooManyBlocks { len, block_size } => write!(
                f,
                "{len} bytes make more than 2^32-1 blocks of {block_size} bytes: use a larger block size"
            ),
            Error::BadMagic { format } => {
                write!(f, "not a prtools {format}, or one of another version: bad magic bytes")
            }
            Error::Truncated { format, offset } => {
                write!(f, "{format} is truncated: more bytes needed at offset {offset}")
            }
            Error::Malformed { format, offset, reason } => {
                write!(f, "malformed {format} at offset {offset}: {reason}")
            }
            Error::TrailingData { format, offset } => {
                write!(f, "{format} has unexpected bytes after its end, at offset {offset}")
            }
            Error::BasisLength { expected, actual } => write!(
                f,
                "the basis is {actual} bytes but the delta was made against {expected} bytes: it changed after its signature was computed"
            ),
            Error::CopyOutOfRange { block, count, blocks } => write!(
                f,
                "delta copies blocks {block}..{} but the basis has only {blocks} blocks",
                block.saturating_add(*count)
            ),
            Error::TooLong { declared } => {
                write!(f, "delta writes more than its declared {declared} bytes")
            }
            Error::Incomplete { declared, written } => write!(
                f,
                "delta ended after {written} of its declared {declared} bytes"
            ),
            Error::BlockMap { reason } => write!(f, "block map does not fit: {reason}"),
            Error::HashMismatch { expected, actual } => write!(
                f,
                "result does not match its whole-file hash (expected {expected:032x}, got {actual:032x}): an input changed while it was read, or a block sum collided; retry with a full-length strong sum"
            ),
            Error::Io(err) => write!(f, "cannot write the result: {err}"),
        }
    }
}
