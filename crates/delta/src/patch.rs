//! Applying an encoded delta to a basis: a push decoder that takes the stream in pieces of
//! any size, as frames arrive, and checks everything it reads.

use std::io::Write;

use xxhash_rust::xxh3::Xxh3Default;

use crate::delta::{MAGIC, TAG_COPY, TAG_END, TAG_LITERAL};
use crate::error::{Error, Format};
use crate::output::{Output, Plain};
use crate::signature::SignatureOptions;
use crate::varint::{self, Varint};

/// The longest header or op header: magic, three varints and the hash. Partial items are
/// gathered in a buffer this long, never more.
const PENDING: usize = 64;

const FORMAT: Format = Format::Delta;

/// The header of a delta stream.
#[derive(Clone, Copy, Debug)]
struct Header {
    block_size: u32,
    target_len: u64,
    target_hash: u128,
}

/// What the decoder expects next.
#[derive(Clone, Copy, Debug)]
enum State {
    Header,
    Op,
    Literal { left: u64 },
    Done,
}

/// One parsed item.
enum Item {
    Header(Header, u64),
    Copy(u64, u64),
    Literal(u64),
    End,
}

/// Rebuilds a target from a basis and an encoded delta, fed in pieces.
///
/// Every byte written has been checked against the declared target length before it is
/// written, and no allocation depends on a length read from the stream. The output is only
/// known good when [`finish`](Patcher::finish) returns `Ok`: write it to a temporary file and
/// rename that into place only then.
///
/// ```
/// use prtools_delta::{delta, Patcher, Signature, SignatureOptions};
///
/// let basis = vec![1u8; 5000];
/// let target = [&basis[..3000], b"new", &basis[3000..]].concat();
/// let sig = Signature::new(&basis, &SignatureOptions::default())?;
/// let stream = delta(&sig, &target).to_bytes(&target)?;
///
/// let mut patcher = Patcher::new(&basis);
/// let mut out = Vec::new();
/// for frame in stream.chunks(7) {
///     patcher.feed(frame, &mut out)?;
/// }
/// assert_eq!(patcher.finish()?, target.len() as u64);
/// assert_eq!(out, target);
/// # Ok::<(), prtools_delta::Error>(())
/// ```
pub struct Patcher<'b> {
    basis: &'b [u8],
    state: State,
    /// Valid once the state has left [`State::Header`].
    header: Header,
    pending: [u8; PENDING],
    pending_len: usize,
    /// Offset in the stream of the first pending byte (or of the next byte).
    offset: u64,
    written: u64,
    hasher: Xxh3Default,
}

/// Applies the encoded delta `delta` to `basis`, writing the target to `out`; returns the
/// number of bytes written. See [`Patcher`] for the checks.
pub fn patch<W: Write>(basis: &[u8], delta: &[u8], mut out: W) -> Result<u64, Error> {
    let mut patcher = Patcher::new(basis);
    patcher.feed(delta, &mut out)?;
    patcher.finish()
}

impl std::fmt::Debug for Patcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patcher")
            .field("basis_len", &self.basis.len())
            .field("state", &self.state)
            .field("offset", &self.offset)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<'b> Patcher<'b> {
    /// A patcher that copies blocks out of `basis`.
    pub fn new(basis: &'b [u8]) -> Patcher<'b> {
        Patcher {
            basis,
            state: State::Header,
            header: Header {
                block_size: 1,
                target_len: 0,
                target_hash: 0,
            },
            pending: [0; PENDING],
            pending_len: 0,
            offset: 0,
            written: 0,
            hasher: Xxh3Default::new(),
        }
    }

    /// Bytes of the target written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Decodes the next piece of the stream, writing what it can to `out`.
    ///
    /// After an error the stream is broken and the output incomplete: drop the patcher (it
    /// stays safe to call, but what it reads next means nothing).
    pub fn feed<W: Write + ?Sized>(&mut self, input: &[u8], out: &mut W) -> Result<(), Error> {
        self.feed_to(input, &mut Plain(out))
    }

    /// [`feed`](Patcher::feed) to an [`Output`], which is told which bytes are copies of the
    /// basis, so that it can copy them from there.
    pub fn feed_to<O: Output + ?Sized>(
        &mut self,
        mut input: &[u8],
        out: &mut O,
    ) -> Result<(), Error> {
        while !input.is_empty() {
            match self.state {
                State::Done => {
                    return Err(Error::TrailingData {
                        format: FORMAT,
                        offset: self.offset,
                    })
                }
                State::Literal { left } => {
                    let take = left.min(input.len() as u64) as usize;
                    self.write(&input[..take], out)?;
                    input = &input[take..];
                    self.offset += take as u64;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Op
                    } else {
                        State::Literal { left }
                    };
                }
                State::Header | State::Op => {
                    let have = self.pending_len;
                    let take = (PENDING - have).min(input.len());
                    self.pending[have..have + take].copy_from_slice(&input[..take]);
                    let parsed = match self.state {
                        State::Header => parse_header(&self.pending[..have + take], self.offset)?,
                        _ => parse_op(&self.pending[..have + take], self.offset)?,
                    };
                    match parsed {
                        None if have + take == PENDING => {
                            // Items are shorter than the buffer, so this cannot happen; but
                            // a decoder of hostile input must not loop on it either.
                            return Err(malformed(self.offset, "item too long"));
                        }
                        None => {
                            self.pending_len = have + take;
                            input = &input[take..];
                        }
                        Some((item, used)) => {
                            // The item was incomplete with `have` bytes, so `used > have`.
                            input = &input[used - have..];
                            self.pending_len = 0;
                            let at = self.offset;
                            self.offset += used as u64;
                            self.apply(item, at, out)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: checks that it was complete, that the declared length was written,
    /// and that what was written has the declared whole-file hash. Returns the length.
    pub fn finish(self) -> Result<u64, Error> {
        if !matches!(self.state, State::Done) {
            return Err(Error::Truncated {
                format: FORMAT,
                offset: self.offset + self.pending_len as u64,
            });
        }
        let header = self.header;
        if self.written != header.target_len {
            return Err(Error::Incomplete {
                declared: header.target_len,
                written: self.written,
            });
        }
        let actual = self.hasher.digest128();
        if actual != header.target_hash {
            return Err(Error::HashMismatch {
                expected: header.target_hash,
                actual,
            });
        }
        Ok(self.written)
    }

    fn apply<O: Output + ?Sized>(&mut self, item: Item, at: u64, out: &mut O) -> Result<(), Error> {
        match item {
            Item::Header(header, basis_len) => {
                if basis_len != self.basis.len() as u64 {
                    return Err(Error::BasisLength {
                        expected: basis_len,
                        actual: self.basis.len() as u64,
                    });
                }
                self.header = header;
                self.state = State::Op;
            }
            Item::Copy(block, count) => {
                let size = u64::from(self.header.block_size);
                let len = self.basis.len() as u64;
                let blocks = len.div_ceil(size);
                if count == 0 {
                    return Err(malformed(at + 1, "copy of zero blocks"));
                }
                if block.checked_add(count).is_none_or(|end| end > blocks) {
                    return Err(Error::CopyOutOfRange {
                        block,
                        count,
                        blocks,
                    });
                }
                // In range: block * size < len, so neither product overflows.
                let start = block * size;
                let end = (block + count).saturating_mul(size).min(len);
                self.check_room(end - start)?;
                let basis = self.basis;
                let bytes = &basis[start as usize..end as usize];
                out.write_basis(bytes, start)?;
                self.account(bytes);
            }
            Item::Literal(len) => {
                if len == 0 {
                    return Err(malformed(at + 1, "empty literal"));
                }
                self.check_room(len)?;
                self.state = State::Literal { left: len };
            }
            Item::End => self.state = State::Done,
        }
        Ok(())
    }

    /// Refuses output past the declared length, before anything is written.
    fn check_room(&self, len: u64) -> Result<(), Error> {
        let declared = self.header.target_len;
        if self
            .written
            .checked_add(len)
            .is_none_or(|end| end > declared)
        {
            return Err(Error::TooLong { declared });
        }
        Ok(())
    }

    fn write<O: Output + ?Sized>(&mut self, bytes: &[u8], out: &mut O) -> Result<(), Error> {
        out.write_new(bytes)?;
        self.account(bytes);
        Ok(())
    }

    /// Counts and hashes bytes written.
    fn account(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
    }
}

fn malformed(offset: u64, reason: &'static str) -> Error {
    Error::Malformed {
        format: FORMAT,
        offset,
        reason,
    }
}

/// Reads varints from a pending buffer.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: u64,
}

impl Fields<'_> {
    /// The next varint; `Ok(None)` if the buffer ends inside it.
    fn varint(&mut self) -> Result<Option<u64>, Error> {
        match varint::get(&self.bytes[self.pos..]) {
            Varint::Value(value, used) => {
                self.pos += used;
                Ok(Some(value))
            }
            Varint::Incomplete => Ok(None),
            Varint::Invalid(reason) => Err(malformed(self.base + self.pos as u64, reason)),
        }
    }
}

/// Parses the header at the start of `bytes` (which start at stream offset `base`).
fn parse_header(bytes: &[u8], base: u64) -> Result<Option<(Item, usize)>, Error> {
    let magic = bytes.len().min(MAGIC.len());
    if bytes[..magic] != MAGIC[..magic] {
        return Err(Error::BadMagic { format: FORMAT });
    }
    if magic < MAGIC.len() {
        return Ok(None);
    }
    let mut fields = Fields {
        bytes,
        pos: MAGIC.len(),
        base,
    };
    let size_at = base + fields.pos as u64;
    let Some(size) = fields.varint()? else {
        return Ok(None);
    };
    let block_size = SignatureOptions::check_block_size(size)
        .map_err(|_| malformed(size_at, "block size out of range"))?;
    let Some(basis_len) = fields.varint()? else {
        return Ok(None);
    };
    let Some(target_len) = fields.varint()? else {
        return Ok(None);
    };
    let Some(hash) = bytes.get(fields.pos..fields.pos + 16) else {
        return Ok(None);
    };
    let mut le = [0u8; 16];
    le.copy_from_slice(hash);
    let header = Header {
        block_size,
        target_len,
        target_hash: u128::from_le_bytes(le),
    };
    Ok(Some((Item::Header(header, basis_len), fields.pos + 16)))
}

/// Parses an op header at the start of `bytes` (which start at stream offset `base`).
fn parse_op(bytes: &[u8], base: u64) -> Result<Option<(Item, usize)>, Error> {
    let mut fields = Fields {
        bytes,
        pos: 1,
        base,
    };
    let item = match bytes[0] {
        TAG_END => Item::End,
        TAG_COPY => {
            let Some(block) = fields.varint()? else {
                return Ok(None);
            };
            let Some(count) = fields.varint()? else {
                return Ok(None);
            };
            Item::Copy(block, count)
        }
        TAG_LITERAL => {
            let Some(len) = fields.varint()? else {
                return Ok(None);
            };
            Item::Literal(len)
        }
        _ => return Err(malformed(base, "unknown operation")),
    };
    Ok(Some((item, fields.pos)))
}
