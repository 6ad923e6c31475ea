//! The token stream of `-z` with zlib or zlibx: what [`delta`](crate::delta) sends as
//! plain ints and bytes, coded so that literal data goes deflated and block references go
//! in a byte or a few.
//!
//! Each file's tokens are one raw deflate stream (a 32 KiB window, reset per file), cut
//! into pieces. A flag byte starts each piece:
//!
//! - `0x40 | high 6 bits of n`, then the low byte of n, then n (at most 16383) bytes of
//!   the deflate stream;
//! - `0x80 | r`: one block reference, `r` (0 to 63) past the last block of the previous
//!   reference; `0xC0 | r` the same, then a 16-bit count of the blocks that follow it in
//!   order (a run);
//! - `0x20`, then an int: a block reference by its number; `0x21` the same with a run;
//! - `0`: the end of the file's tokens (the whole-file sum then follows as it does
//!   without `-z`).
//!
//! A run of literal data ends with a sync flush, whose last four bytes (`00 00 ff ff`)
//! are left out: the receiver puts them back when the next flag is not more data, so
//! that it stands at a block boundary before each block reference.
//!
//! zlibx (rsync's "new" compression) stops there. zlib (rsync's default for `-z`)
//! also puts each matched block into both sides' deflate history, so that literal data
//! after it can point back into it. The receiver does so by inflating the block as a
//! stored block; rsync's own sender has a zlib patched with `Z_INSERT_ONLY`, which adds
//! to the history without output. miniz_oxide has no such mode, so this sender does what
//! rsync does when built against a system zlib: it deflates the block with a sync flush
//! and throws the output away. Both histories then hold the same bytes, which is all the
//! receiver's inflater relies on. Protocol 30 has a bug kept for compatibility: a block
//! longer than 65535 bytes is put in as pieces that all repeat its first bytes.

use std::io::{self, Read, Write};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::codec::{get_byte, get_int, invalid};

/// The end of a file's tokens.
const END_FLAG: u8 = 0;
/// A block reference by number (an int follows).
const TOKEN_LONG: u8 = 0x20;
/// A run by number (an int and a 16-bit count follow).
const TOKENRUN_LONG: u8 = 0x21;
/// Deflated data (6 high bits of the length in the flag, then a byte).
const DEFLATED_DATA: u8 = 0x40;
/// A block reference relative to the last one (6 bits).
const TOKEN_REL: u8 = 0x80;
/// A run relative to the last one (a 16-bit count follows).
const TOKENRUN_REL: u8 = 0xC0;
/// The most deflated bytes one piece carries: the length has 14 bits.
const MAX_DATA_COUNT: usize = 16383;
/// The most blocks one run may add after its first: the count has 16 bits.
const MAX_RUN: i32 = 65535;
/// The most block bytes put into the history in one go (a stored block's length).
const MAX_STORED: usize = 0xFFFF;
/// What a sync flush ends with, left off the wire.
const SYNC_TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];
/// How much literal data is deflated at once (rsync's `CHUNK_SIZE`).
const LITERAL_STEP: usize = 32 * 1024;

/// The two deflate codings of the token stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Matched blocks join the deflate history (rsync's default for `-z`).
    Zlib,
    /// They do not (`--new-compress`, `-zz`).
    Zlibx,
}

/// Codes one session's outgoing tokens, file after file.
pub struct Encoder {
    flavor: Flavor,
    protocol: i32,
    deflate: Compress,
    /// Deflated bytes not yet sent.
    pending: Vec<u8>,
    /// Where discarded output of history insertions goes.
    scratch: Vec<u8>,
    /// The run of block references not yet sent: its first and last block.
    run: Option<(i32, i32)>,
    /// The last block of the last reference sent.
    last_sent: i32,
}

impl Encoder {
    /// An encoder at `level` (1 to 9) for `protocol`.
    pub fn new(flavor: Flavor, level: u32, protocol: i32) -> Encoder {
        Encoder {
            flavor,
            protocol,
            deflate: Compress::new(Compression::new(level.clamp(1, 9)), false),
            pending: Vec::new(),
            scratch: Vec::new(),
            run: None,
            last_sent: 0,
        }
    }

    /// Starts a file: a fresh deflate stream and block numbering.
    pub fn start(&mut self) {
        self.deflate.reset();
        self.pending.clear();
        self.run = None;
        self.last_sent = 0;
    }

    /// Sends literal data (all of it between two block references at once).
    pub fn literal(&mut self, w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.put_run(w)?;
        for piece in bytes.chunks(LITERAL_STEP) {
            deflate(
                &mut self.deflate,
                piece,
                FlushCompress::None,
                &mut self.pending,
            )?;
            // Keep at least the flush's tail back until the flush is done.
            while self.pending.len() > MAX_DATA_COUNT + SYNC_TAIL.len() {
                put_data(w, &self.pending[..MAX_DATA_COUNT])?;
                self.pending.drain(..MAX_DATA_COUNT);
            }
        }
        deflate(
            &mut self.deflate,
            &[],
            FlushCompress::Sync,
            &mut self.pending,
        )?;
        if !self.pending.ends_with(&SYNC_TAIL) {
            return Err(invalid(
                "the compressor's sync flush did not end as zlib's".into(),
            ));
        }
        self.pending.truncate(self.pending.len() - SYNC_TAIL.len());
        for piece in self.pending.chunks(MAX_DATA_COUNT) {
            put_data(w, piece)?;
        }
        self.pending.clear();
        Ok(())
    }

    /// Sends block reference `i`, whose bytes are `block`.
    pub fn block(&mut self, w: &mut impl Write, i: i32, block: &[u8]) -> io::Result<()> {
        self.run = match self.run {
            Some((first, last)) if i == last + 1 && i - first <= MAX_RUN => Some((first, i)),
            _ => {
                self.put_run(w)?;
                Some((i, i))
            }
        };
        if self.flavor == Flavor::Zlib {
            self.remember(block)?;
        }
        Ok(())
    }

    /// Ends the file's tokens.
    pub fn end(&mut self, w: &mut impl Write) -> io::Result<()> {
        self.put_run(w)?;
        w.write_all(&[END_FLAG])
    }

    /// Puts a matched block into the deflate history (see the module's docs).
    fn remember(&mut self, block: &[u8]) -> io::Result<()> {
        let mut at = 0;
        let mut left = block.len();
        while left > 0 {
            let n = left.min(MAX_STORED);
            self.scratch.clear();
            let piece = &block[at..at + n];
            deflate(
                &mut self.deflate,
                piece,
                FlushCompress::Sync,
                &mut self.scratch,
            )?;
            if self.protocol >= 31 {
                at += n;
            }
            left -= n;
        }
        Ok(())
    }

    fn put_run(&mut self, w: &mut impl Write) -> io::Result<()> {
        let Some((first, last)) = self.run.take() else {
            return Ok(());
        };
        let rel = first - self.last_sent;
        let more = last - first;
        let mut b = Vec::with_capacity(7);
        if (0..=63).contains(&rel) {
            b.push(if more == 0 { TOKEN_REL } else { TOKENRUN_REL } | rel as u8);
        } else {
            b.push(if more == 0 { TOKEN_LONG } else { TOKENRUN_LONG });
            b.extend_from_slice(&first.to_le_bytes());
        }
        if more != 0 {
            b.extend_from_slice(&(more as u16).to_le_bytes());
        }
        self.last_sent = last;
        w.write_all(&b)
    }
}

/// One token read back: literal data (in the decoder's buffer) or a block number.
pub enum Token<'a> {
    /// Literal data, inflated.
    Literal(&'a [u8]),
    /// Block `i` of the basis.
    Block(i32),
    /// The end of the file's tokens.
    End,
}

/// Reads one session's incoming tokens, file after file.
pub struct Decoder {
    flavor: Flavor,
    protocol: i32,
    inflate: Decompress,
    /// Deflated bytes read and not yet inflated.
    input: Vec<u8>,
    used: usize,
    /// Inflated bytes not yet handed out.
    output: Vec<u8>,
    /// Whether deflated data came since the last flag that was not data.
    after_data: bool,
    /// The block last referred to, and how many of its run are still to come.
    token: i32,
    run_left: i32,
    /// Whether the last inflate filled the output: the inflater may hold more.
    full: bool,
}

/// How much one inflate call may produce.
const INFLATE_STEP: usize = 64 * 1024;

impl Decoder {
    /// A decoder for `protocol`.
    pub fn new(flavor: Flavor, protocol: i32) -> Decoder {
        Decoder {
            flavor,
            protocol,
            inflate: Decompress::new(false),
            input: Vec::new(),
            used: 0,
            output: vec![0; INFLATE_STEP],
            after_data: false,
            token: 0,
            run_left: 0,
            full: false,
        }
    }

    /// Starts a file.
    pub fn start(&mut self) {
        self.inflate.reset(false);
        self.input.clear();
        self.used = 0;
        self.after_data = false;
        self.token = 0;
        self.run_left = 0;
        self.full = false;
    }

    /// The next token. After a [`Token::Block`], the caller hands the block's bytes to
    /// [`Decoder::saw_block`].
    pub fn next(&mut self, r: &mut impl Read) -> io::Result<Token<'_>> {
        loop {
            if self.run_left > 0 {
                self.run_left -= 1;
                self.token = self
                    .token
                    .checked_add(1)
                    .ok_or_else(|| invalid("a block run past the largest number".into()))?;
                return Ok(Token::Block(self.token));
            }
            if self.used < self.input.len() || self.full {
                let made = self.inflate_some()?;
                if made > 0 {
                    return Ok(Token::Literal(&self.output[..made]));
                }
                continue;
            }
            let flag = get_byte(r)?;
            if flag & 0xC0 == DEFLATED_DATA {
                let n = (usize::from(flag & 0x3F) << 8) | usize::from(get_byte(r)?);
                self.input.resize(n, 0);
                r.read_exact(&mut self.input)?;
                self.used = 0;
                self.after_data = true;
                continue;
            }
            if self.after_data {
                // The flush's tail, left off by the sender: an empty stored block, after
                // which the inflater stands at a block boundary with nothing held back.
                self.after_data = false;
                let (used, made, _) = self.inflate_raw(&SYNC_TAIL)?;
                if used != SYNC_TAIL.len() || made != 0 {
                    return Err(invalid("the compressed stream lost its sync".into()));
                }
            }
            if flag == END_FLAG {
                return Ok(Token::End);
            }
            return self.reference(r, flag);
        }
    }

    /// Takes a block the sender referred to into the history (zlib only).
    pub fn saw_block(&mut self, block: &[u8]) -> io::Result<()> {
        if self.flavor != Flavor::Zlib {
            return Ok(());
        }
        let mut at = 0;
        let mut left = block.len();
        while left > 0 {
            let n = left.min(MAX_STORED);
            let len = (n as u16).to_le_bytes();
            let mut stored = vec![0, len[0], len[1], !len[0], !len[1]];
            stored.extend_from_slice(&block[at..at + n]);
            let mut input = &stored[..];
            loop {
                let (used, made, _) = self.inflate_raw(input)?;
                input = &input[used..];
                if input.is_empty() && made < self.output.len() {
                    break;
                }
                if used == 0 && made == 0 {
                    return Err(invalid("the compressed stream lost its sync".into()));
                }
            }
            if self.protocol >= 31 {
                at += n;
            }
            left -= n;
        }
        Ok(())
    }

    fn reference(&mut self, r: &mut impl Read, flag: u8) -> io::Result<Token<'static>> {
        let (first, run) = match flag {
            f if f & 0x80 != 0 => (
                self.token
                    .checked_add(i32::from(f & 0x3F))
                    .ok_or_else(|| invalid("a block past the largest number".into()))?,
                f & 0x40 != 0,
            ),
            TOKEN_LONG | TOKENRUN_LONG => {
                let t = get_int(r)?;
                if t < 0 {
                    return Err(invalid(format!("block number {t}")));
                }
                (t, flag == TOKENRUN_LONG)
            }
            other => return Err(invalid(format!("a token flag {other:#x}"))),
        };
        self.token = first;
        if run {
            let more = i32::from(u16::from_le_bytes([get_byte(r)?, get_byte(r)?]));
            if more == 0 {
                return Err(invalid("an empty block run".into()));
            }
            self.run_left = more;
        }
        Ok(Token::Block(first))
    }

    /// Inflates what is left of `input` into `output`; the bytes made.
    fn inflate_some(&mut self) -> io::Result<usize> {
        let input = std::mem::take(&mut self.input);
        let result = self.inflate_raw(&input[self.used..]);
        self.input = input;
        let (used, made, _) = result?;
        self.used += used;
        self.full = made == self.output.len();
        if used == 0 && made == 0 && self.used < self.input.len() {
            return Err(invalid("the compressed data went nowhere".into()));
        }
        Ok(made)
    }

    fn inflate_raw(&mut self, input: &[u8]) -> io::Result<(usize, usize, Status)> {
        let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
        let status = self
            .inflate
            .decompress(input, &mut self.output, FlushDecompress::None)
            .map_err(|e| invalid(format!("compressed data that does not inflate: {e}")))?;
        if status == Status::StreamEnd {
            return Err(invalid("a final deflate block in the token stream".into()));
        }
        Ok((
            (self.inflate.total_in() - in0) as usize,
            (self.inflate.total_out() - out0) as usize,
            status,
        ))
    }
}

/// Deflates all of `input` into `out` with `flush`, growing `out` as needed.
fn deflate(
    c: &mut Compress,
    mut input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        out.reserve(input.len() + input.len() / 512 + 64);
        let before = c.total_in();
        c.compress_vec(input, out, flush)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

fn put_data(w: &mut impl Write, piece: &[u8]) -> io::Result<()> {
    let n = piece.len();
    w.write_all(&[DEFLATED_DATA | (n >> 8) as u8, n as u8])?;
    w.write_all(piece)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{rolling, Checksum};
    use crate::delta::{receive_coded, send_coded, Seed};
    use crate::sums::{head_for, BlockSum};

    const SEED: Seed = Seed {
        seed: 7,
        first: true,
        sum: Checksum::Md5,
    };

    fn sums_of(old: &[u8], blength: usize) -> Vec<BlockSum> {
        old.chunks(blength)
            .map(|b| BlockSum {
                rolling: rolling(b),
                strong: SEED.sum.block_sum(b, SEED.seed, SEED.first)[..16].to_vec(),
                len: b.len(),
            })
            .collect()
    }

    fn text(lines: usize, changed: &[usize]) -> Vec<u8> {
        (0..lines)
            .map(|i| {
                if changed.contains(&i) {
                    format!("line {i} was changed here, {}\n", i * 7919)
                } else {
                    format!("line {i} of a text that deflates well\n")
                }
            })
            .collect::<String>()
            .into_bytes()
    }

    /// Noise that deflate cannot shrink (a xorshift stream).
    fn noise(len: usize, mut x: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Sends `new` against `old`'s sums and rebuilds it, both sides keeping their coder
    /// across `files` files as a session does; the bytes on the wire per file.
    fn round_trip(flavor: Flavor, protocol: i32, old: &[u8], new: &[u8], files: usize) -> usize {
        let blength = 700;
        let blocks = sums_of(old, blength);
        let head = head_for(old.len() as u64, blength as i32);
        let mut enc = Encoder::new(flavor, 6, protocol);
        let mut dec = Decoder::new(flavor, protocol);
        let mut wire = Vec::new();
        for _ in 0..files {
            send_coded(&mut wire, new, &blocks, SEED, Some(&mut enc)).unwrap();
        }
        let mut r = &wire[..];
        for _ in 0..files {
            let mut out = Vec::new();
            assert!(receive_coded(&mut r, old, &head, SEED.sum, &mut out, Some(&mut dec)).unwrap());
            assert!(out == new, "rebuilt {} bytes of {}", out.len(), new.len());
        }
        assert!(r.is_empty(), "{} bytes left", r.len());
        wire.len() / files
    }

    #[test]
    fn both_flavors_rebuild_a_changed_file_at_each_protocol() {
        let old = text(15_000, &[]);
        let new = text(15_000, &[10, 7_000, 7_001, 14_999]);
        for flavor in [Flavor::Zlib, Flavor::Zlibx] {
            for protocol in [30, 31, 32] {
                let sent = round_trip(flavor, protocol, &old, &new, 3);
                assert!(sent < 4_000, "{flavor:?} at {protocol}: {sent} bytes");
            }
        }
    }

    #[test]
    fn a_whole_file_shrinks_unless_it_is_noise() {
        let plain = text(20_000, &[]);
        let sent = round_trip(Flavor::Zlib, 32, &[], &plain, 1);
        assert!(sent * 10 < plain.len(), "{sent} of {}", plain.len());
        let random = noise(300_000, 0x9E37_79B9_7F4A_7C15);
        let sent = round_trip(Flavor::Zlibx, 31, &[], &random, 2);
        assert!(sent > random.len() && sent < random.len() + random.len() / 50);
    }

    #[test]
    fn zlib_lets_new_data_point_back_into_matched_blocks() {
        // The new file is the old one, then a copy of its start with a byte changed
        // every 600 (so that no block of it matches): with zlib the copy deflates
        // against the matched blocks in the history; with zlibx it cannot.
        let old = noise(20_000, 42);
        let mut new = old.clone();
        let mut copy = old[..10_000].to_vec();
        for i in (0..copy.len()).step_by(600) {
            copy[i] ^= 0x5A;
        }
        new.extend_from_slice(&copy);
        let zlib = round_trip(Flavor::Zlib, 31, &old, &new, 1);
        let zlibx = round_trip(Flavor::Zlibx, 31, &old, &new, 1);
        assert!(zlib < 1_000, "zlib sent {zlib}");
        assert!(zlibx > 10_000, "zlibx sent {zlibx}");
    }

    #[test]
    fn runs_and_far_blocks_use_every_reference_form() {
        // Many blocks in order (runs longer than one), then one far back (a long token).
        let old = noise(700 * 200, 5);
        let mut new = old[700 * 150..].to_vec();
        new.extend_from_slice(b"x");
        new.extend_from_slice(&old[..700]);
        new.extend_from_slice(&old[700 * 3..700 * 4]);
        for flavor in [Flavor::Zlib, Flavor::Zlibx] {
            let sent = round_trip(flavor, 32, &old, &new, 1);
            assert!(sent < 100, "{flavor:?}: {sent}");
        }
        let mut w = Vec::new();
        let mut enc = Encoder::new(Flavor::Zlibx, 6, 32);
        enc.start();
        for i in [3, 4, 5, 100, 2, 2] {
            enc.block(&mut w, i, &[]).unwrap();
        }
        enc.end(&mut w).unwrap();
        assert_eq!(
            w,
            [
                TOKENRUN_REL | 3,
                2,
                0,
                TOKEN_LONG,
                100,
                0,
                0,
                0,
                TOKEN_LONG,
                2,
                0,
                0,
                0,
                TOKEN_REL,
                END_FLAG
            ]
        );
    }

    #[test]
    fn damaged_streams_are_errors_not_panics() {
        let old = text(2_000, &[]);
        let head = head_for(old.len() as u64, 700);
        for wire in [
            vec![DEFLATED_DATA, 3, 0xFF, 0xFF, 0xFF, END_FLAG],
            vec![0x13],
            vec![TOKEN_LONG, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![TOKEN_REL | 63, TOKEN_REL | 63, TOKEN_REL | 63],
            vec![TOKENRUN_REL, 0, 0],
            vec![DEFLATED_DATA, 10, 1, 2],
        ] {
            let mut dec = Decoder::new(Flavor::Zlib, 31);
            let got = receive_coded(
                &mut &wire[..],
                &old,
                &head,
                SEED.sum,
                &mut Vec::new(),
                Some(&mut dec),
            );
            assert!(got.is_err(), "{wire:?}");
        }
    }
}
