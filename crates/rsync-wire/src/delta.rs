//! The sender's answer to a file's block sums: the token stream. Literal data goes as an
//! int length (at most 32 KiB a piece) and the bytes; a block of the old copy as the int
//! `-(index + 1)`; 0 ends the file, and the sum of the whole new file follows (the
//! session's [`Checksum`], as long as it is), which the receiver checks against what it
//! rebuilt. With `-z` the same tokens go coded by
//! [`deflate_tokens`](crate::deflate_tokens) ([`send_coded`], [`receive_coded`]).

use std::io::{self, Read, Write};

use crate::by_rolling::ByRolling;
use crate::checksum::{Checksum, FileSum, Rolling};
use crate::codec::{get_int, invalid};
use crate::deflate_tokens::{Decoder, Encoder, Token};
use crate::sums::{BlockSum, SumHead};

/// The most literal data one token carries (rsync's `CHUNK_SIZE`).
pub const CHUNK: usize = 32 * 1024;

/// What a file's tokens were made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaStats {
    /// Bytes sent as literal data.
    pub literal: u64,
    /// Bytes the receiver took from its old copy.
    pub matched: u64,
}

/// The checksum and seed settings block sums were made with.
#[derive(Clone, Copy, Debug)]
pub struct Seed {
    /// The session's checksum seed.
    pub seed: i32,
    /// Whether the seed goes before the block in MD5 sums (see
    /// [`Checksum::block_sum`]).
    pub first: bool,
    /// The session's strong checksum.
    pub sum: Checksum,
}

impl From<&crate::handshake::Session> for Seed {
    fn from(s: &crate::handshake::Session) -> Seed {
        Seed {
            seed: s.seed,
            first: s.seed_first(),
            sum: s.checksum,
        }
    }
}

/// Writes the tokens that rebuild `data` from the old copy described by `blocks`, then
/// the whole-file sum.
pub fn send(
    w: &mut impl Write,
    data: &[u8],
    blocks: &[BlockSum],
    seed: Seed,
) -> io::Result<DeltaStats> {
    send_coded(w, data, blocks, seed, None)
}

/// [`send`], with the tokens deflated by `coder` when the session has `-z` (see
/// [`deflate_tokens`](crate::deflate_tokens)).
pub fn send_coded(
    w: &mut impl Write,
    data: &[u8],
    blocks: &[BlockSum],
    seed: Seed,
    mut coder: Option<&mut Encoder>,
) -> io::Result<DeltaStats> {
    if let Some(c) = coder.as_deref_mut() {
        c.start();
    }
    let mut stats = DeltaStats::default();
    let mut last = 0usize;
    // The whole-file sum is taken as the search goes, over what it has just read, while
    // that is still in the cache: taken after the search, it read a 1 GiB file from
    // memory a second time, a quarter of the sender's CPU in a push.
    let mut whole = FileSum::new(seed.sum);
    let mut summed = 0usize;
    if let Some(blength) = blocks.first().map(|b| b.len).filter(|&l| l > 0) {
        let by_sum = ByRolling::new(blocks);
        let mut k = 0usize;
        let mut window = Rolling::new(&data[..blength.min(data.len())]);
        while k < data.len() {
            let n = blength.min(data.len() - k);
            let mut sum: Option<[u8; 16]> = None;
            let found = by_sum.candidates(blocks, window.value()).find(|&i| {
                let b = &blocks[i];
                b.len == n
                    && sum.get_or_insert_with(|| {
                        seed.sum.block_sum(&data[k..k + n], seed.seed, seed.first)
                    })[..b.strong.len()]
                        == b.strong[..]
            });
            if let Some(i) = found {
                literal(w, &data[last..k], &mut stats, coder.as_deref_mut())?;
                match coder.as_deref_mut() {
                    Some(c) => c.block(w, i as i32, &data[k..k + n])?,
                    None => w.write_all(&(-(i as i32 + 1)).to_le_bytes())?,
                }
                stats.matched += n as u64;
                k += n;
                last = k;
                whole.update(&data[summed..k]);
                summed = k;
                window = Rolling::new(&data[k..(k + blength).min(data.len())]);
                continue;
            }
            let next = (k + blength < data.len()).then(|| data[k + blength]);
            window.roll(data[k], next);
            k += 1;
        }
    }
    literal(w, &data[last..], &mut stats, coder.as_deref_mut())?;
    match coder {
        Some(c) => c.end(w)?,
        None => w.write_all(&0i32.to_le_bytes())?,
    }
    whole.update(&data[summed..]);
    w.write_all(&whole.finish())?;
    Ok(stats)
}

/// Rebuilds a file from its tokens: literal data, and blocks of `basis` cut as `head`
/// says, written to `out` in order. Returns whether the whole-file sum (of the session's
/// `kind`) that ends the tokens matches what was written (a mismatch means the basis
/// changed underneath, or the data was damaged: rsync then fetches the file again,
/// whole).
pub fn receive(
    r: &mut impl Read,
    basis: &[u8],
    head: &SumHead,
    kind: Checksum,
    out: &mut impl Write,
) -> io::Result<bool> {
    receive_coded(r, basis, head, kind, out, None)
}

/// [`receive`], with the tokens inflated by `coder` when the session has `-z`.
pub fn receive_coded(
    r: &mut impl Read,
    basis: &[u8],
    head: &SumHead,
    kind: Checksum,
    out: &mut impl Write,
    coder: Option<&mut Decoder>,
) -> io::Result<bool> {
    if let Some(c) = coder {
        return receive_deflated(r, basis, head, kind, out, c);
    }
    let mut sum = FileSum::new(kind);
    let mut piece = Vec::new();
    loop {
        let token = get_int(r)?;
        if token == 0 {
            break;
        }
        if token > 0 {
            let len = token as usize;
            if len > CHUNK {
                return Err(invalid(format!("a literal piece of {len} bytes")));
            }
            piece.resize(len, 0);
            r.read_exact(&mut piece)?;
            sum.update(&piece);
            out.write_all(&piece)?;
        } else {
            let block = basis_block(basis, head, -(token as i64) - 1)?;
            sum.update(block);
            out.write_all(block)?;
        }
    }
    matches_sum(r, sum)
}

/// Reads the whole-file sum that ends a file's tokens: whether it is `sum`'s.
fn matches_sum(r: &mut impl Read, sum: FileSum) -> io::Result<bool> {
    let got = sum.finish();
    let mut want = [0u8; 16];
    r.read_exact(&mut want[..got.len()])?;
    Ok(*got == want[..got.len()])
}

fn receive_deflated(
    r: &mut impl Read,
    basis: &[u8],
    head: &SumHead,
    kind: Checksum,
    out: &mut impl Write,
    coder: &mut Decoder,
) -> io::Result<bool> {
    coder.start();
    let mut sum = FileSum::new(kind);
    loop {
        match coder.next(r)? {
            Token::End => break,
            Token::Literal(piece) => {
                sum.update(piece);
                out.write_all(piece)?;
            }
            Token::Block(i) => {
                let block = basis_block(basis, head, i64::from(i))?;
                sum.update(block);
                out.write_all(block)?;
                coder.saw_block(block)?;
            }
        }
    }
    matches_sum(r, sum)
}

/// Block `i` of the basis, checked against the sums' shape and the basis's length.
fn basis_block<'a>(basis: &'a [u8], head: &SumHead, i: i64) -> io::Result<&'a [u8]> {
    if !(0..i64::from(head.count)).contains(&i) {
        return Err(invalid(format!("block {i} of {}", head.count)));
    }
    let start = i as usize * head.blength as usize;
    let end = start + head.block_len(i as i32);
    basis
        .get(start..end)
        .ok_or_else(|| invalid(format!("block {i} past the basis's end")))
}

fn literal(
    w: &mut impl Write,
    bytes: &[u8],
    stats: &mut DeltaStats,
    coder: Option<&mut Encoder>,
) -> io::Result<()> {
    if let Some(c) = coder {
        stats.literal += bytes.len() as u64;
        return c.literal(w, bytes);
    }
    for piece in bytes.chunks(CHUNK) {
        w.write_all(&(piece.len() as i32).to_le_bytes())?;
        w.write_all(piece)?;
    }
    stats.literal += bytes.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::rolling;
    use crate::codec::get_int;
    use std::io::Read;

    const SEED: Seed = Seed {
        seed: 0x1234,
        first: true,
        sum: Checksum::Md5,
    };

    fn sums_of(old: &[u8], blength: usize, s2: usize) -> Vec<BlockSum> {
        old.chunks(blength)
            .map(|b| BlockSum {
                rolling: rolling(b),
                strong: SEED.sum.block_sum(b, SEED.seed, SEED.first)[..s2].to_vec(),
                len: b.len(),
            })
            .collect()
    }

    /// Rebuilds the new file from the tokens, as a receiver does, checking the end sum.
    fn apply(old: &[u8], blength: usize, tokens: &[u8]) -> Vec<u8> {
        let mut r = tokens;
        let mut out = Vec::new();
        loop {
            let t = get_int(&mut r).unwrap();
            if t == 0 {
                break;
            }
            if t > 0 {
                let mut piece = vec![0u8; t as usize];
                r.read_exact(&mut piece).unwrap();
                out.extend_from_slice(&piece);
            } else {
                let i = (-t - 1) as usize;
                let end = ((i + 1) * blength).min(old.len());
                out.extend_from_slice(&old[i * blength..end]);
            }
        }
        let mut sum = [0u8; 16];
        r.read_exact(&mut sum).unwrap();
        let mut f = FileSum::new(Checksum::Md5);
        f.update(&out);
        assert_eq!(sum[..], *f.finish());
        assert!(r.is_empty());
        out
    }

    fn text(lines: usize, changed: Option<usize>) -> Vec<u8> {
        (0..lines)
            .map(|i| match changed {
                Some(c) if c == i => "this line changed, and is longer\n".to_string(),
                _ => format!("line {i} \u{e9}\n"),
            })
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_changed_line_costs_about_a_block_and_the_rest_is_matched() {
        let old = text(20_000, None);
        let new = text(20_000, Some(9_000));
        let blocks = sums_of(&old, 700, 2);
        let mut tokens = Vec::new();
        let stats = send(&mut tokens, &new, &blocks, SEED).unwrap();
        assert_eq!(apply(&old, 700, &tokens), new);
        assert!(stats.literal < 2 * 700, "{stats:?}");
        assert_eq!(stats.literal + stats.matched, new.len() as u64);
    }

    #[test]
    fn the_short_last_block_and_shifted_data_still_match() {
        let old = text(3_000, None);
        let mut new = b"a few new bytes in front ".to_vec();
        new.extend_from_slice(&old);
        let blocks = sums_of(&old, 512, 16);
        let mut tokens = Vec::new();
        let stats = send(&mut tokens, &new, &blocks, SEED).unwrap();
        assert_eq!(apply(&old, 512, &tokens), new);
        assert_eq!(stats.literal, 25);
    }

    #[test]
    fn what_send_writes_receive_rebuilds_and_checks() {
        let old = text(5_000, None);
        let new = text(5_000, Some(100));
        let head = crate::sums::head_for(old.len() as u64, 512);
        let blocks = sums_of(&old, 512, 16);
        let mut tokens = Vec::new();
        send(&mut tokens, &new, &blocks, SEED).unwrap();
        let mut out = Vec::new();
        let md5 = Checksum::Md5;
        assert!(receive(&mut &tokens[..], &old, &head, md5, &mut out).unwrap());
        assert_eq!(out, new);
        // A damaged sum is told, not hidden.
        let last = tokens.len() - 1;
        tokens[last] ^= 1;
        assert!(!receive(&mut &tokens[..], &old, &head, md5, &mut Vec::new()).unwrap());
        // A block past the basis is refused.
        let mut bad = Vec::new();
        bad.extend_from_slice(&(-1000i32).to_le_bytes());
        assert!(receive(&mut &bad[..], &old, &head, md5, &mut Vec::new()).is_err());
    }

    #[test]
    fn each_checksum_matches_and_ends_with_a_sum_its_length() {
        let old = text(4_000, None);
        let new = text(4_000, Some(50));
        let head = crate::sums::head_for(old.len() as u64, 512);
        for kind in Checksum::ALL {
            let seed = Seed { sum: kind, ..SEED };
            let blocks: Vec<BlockSum> = old
                .chunks(512)
                .map(|b| BlockSum {
                    rolling: rolling(b),
                    strong: kind.block_sum(b, seed.seed, seed.first)[..8].to_vec(),
                    len: b.len(),
                })
                .collect();
            let mut tokens = Vec::new();
            let stats = send(&mut tokens, &new, &blocks, seed).unwrap();
            assert!(stats.matched > 0, "{}", kind.name());
            let mut out = Vec::new();
            let mut r = &tokens[..];
            assert!(receive(&mut r, &old, &head, kind, &mut out).unwrap());
            assert!(
                r.is_empty(),
                "{}: the sum is {} bytes",
                kind.name(),
                kind.sum_len()
            );
            assert_eq!(out, new);
        }
    }

    #[test]
    fn no_blocks_or_no_data_sends_the_file_whole() {
        let new = vec![0xC3u8; CHUNK * 2 + 5];
        let mut tokens = Vec::new();
        let stats = send(&mut tokens, &new, &[], SEED).unwrap();
        assert_eq!(stats.literal, new.len() as u64);
        assert_eq!(apply(&[], 1, &tokens), new);
        // Three literal pieces, the end, the sum.
        assert_eq!(tokens.len(), new.len() + 3 * 4 + 4 + 16);
        let mut tokens = Vec::new();
        send(&mut tokens, &[], &sums_of(b"old", 700, 2), SEED).unwrap();
        assert_eq!(apply(b"old", 700, &tokens), b"");
    }
}
