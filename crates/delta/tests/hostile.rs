//! The decoders take bytes from the network: every broken or hostile input must end in a
//! clear error, never a panic, a huge allocation or output past the declared size.

use std::io::{self, Write};
use std::ops::Range;

use proptest::prelude::*;
use prtools_delta::{
    assemble, block_map, delta, patch, Error, Format, Patcher, Signature, SignatureOptions,
};

/// LEB128, written here independently of the crate.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A delta stream header.
fn header(block_size: u64, basis_len: u64, target_len: u64, hash: u128) -> Vec<u8> {
    let mut out = b"PRDL\x01".to_vec();
    out.extend(varint(block_size));
    out.extend(varint(basis_len));
    out.extend(varint(target_len));
    out.extend(hash.to_le_bytes());
    out
}

fn copy(block: u64, count: u64) -> Vec<u8> {
    let mut out = vec![1];
    out.extend(varint(block));
    out.extend(varint(count));
    out
}

fn literal(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![2];
    out.extend(varint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

fn hash(data: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(data)
}

/// A writer that counts what it is given and fails the test past `max` bytes.
struct Bounded {
    written: u64,
    max: u64,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written += buf.len() as u64;
        assert!(
            self.written <= self.max,
            "wrote {} past the declared {}",
            self.written,
            self.max
        );
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const BASIS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn run(stream: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    patch(BASIS, stream, &mut out).map(|_| out)
}

#[test]
fn a_hand_written_stream_applies() {
    let target = b"0123456789abcdefHELLO";
    let mut s = header(8, BASIS.len() as u64, target.len() as u64, hash(target));
    s.extend(copy(0, 2));
    s.extend(literal(b"HELLO"));
    s.push(0);
    assert_eq!(run(&s).unwrap(), target);
    // The short last block (4 bytes) is copied to the end of the basis, not past it.
    let mut s = header(8, BASIS.len() as u64, 12, hash(&BASIS[24..]));
    s.extend(copy(3, 2));
    s.push(0);
    assert_eq!(run(&s).unwrap(), &BASIS[24..]);
}

#[test]
fn bad_magic_and_version() {
    for bad in [&b"XRDL\x01"[..], b"PRDL\x02", b"prdl", b"\x00"] {
        assert!(
            matches!(
                run(bad),
                Err(Error::BadMagic {
                    format: Format::Delta
                })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Signature::from_bytes(b"PRSG\x02"),
        Err(Error::BadMagic { .. })
    ));
}

#[test]
fn every_truncation_is_refused() {
    let target = b"0123456789abcdefHELLO";
    let mut s = header(8, BASIS.len() as u64, target.len() as u64, hash(target));
    s.extend(copy(0, 2));
    s.extend(literal(b"HELLO"));
    s.push(0);
    for cut in 0..s.len() {
        let err = run(&s[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    format: Format::Delta,
                    ..
                }
            ),
            "cut {cut}: {err}"
        );
    }
    let sig = Signature::new(
        BASIS,
        &SignatureOptions {
            block_size: Some(8),
            ..Default::default()
        },
    )
    .unwrap()
    .to_bytes();
    for cut in 0..sig.len() {
        let err = Signature::from_bytes(&sig[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated {
                    format: Format::Signature,
                    ..
                }
            ),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn copies_outside_the_basis_are_refused() {
    // 36 bytes in blocks of 8: blocks 0..=4.
    for (block, count) in [
        (5, 1),
        (4, 2),
        (0, 6),
        (u64::MAX, 1),
        (1, u64::MAX),
        (u64::MAX, u64::MAX),
    ] {
        let mut s = header(8, BASIS.len() as u64, 1000, 0);
        s.extend(copy(block, count));
        s.push(0);
        let err = run(&s).unwrap_err();
        assert!(
            matches!(err, Error::CopyOutOfRange { blocks: 5, .. }),
            "{block} {count}: {err}"
        );
    }
    let mut s = header(8, BASIS.len() as u64, 1000, 0);
    s.extend(copy(5, 1));
    assert_eq!(
        run(&s).unwrap_err().to_string(),
        "delta copies blocks 5..6 but the basis has only 5 blocks"
    );
    // An empty basis has no blocks at all.
    let mut s = header(8, 0, 8, 0);
    s.extend(copy(0, 1));
    assert!(matches!(
        patch(b"", &s, io::sink()),
        Err(Error::CopyOutOfRange { blocks: 0, .. })
    ));
}

#[test]
fn output_past_the_declared_length_is_refused_before_it_is_written() {
    // A copy that would overshoot.
    let mut s = header(8, BASIS.len() as u64, 10, 0);
    s.extend(copy(0, 2));
    let mut out = Bounded {
        written: 0,
        max: 10,
    };
    assert!(matches!(
        patch(BASIS, &s, &mut out),
        Err(Error::TooLong { declared: 10 })
    ));
    assert_eq!(out.written, 0);
    // A literal whose declared length overshoots, with or without its bytes.
    let mut s = header(8, BASIS.len() as u64, 4, 0);
    s.extend(literal(b"hello"));
    let mut out = Bounded { written: 0, max: 4 };
    assert!(matches!(
        patch(BASIS, &s, &mut out),
        Err(Error::TooLong { declared: 4 })
    ));
    let mut s = header(8, BASIS.len() as u64, 4, 0);
    s.push(2);
    s.extend(varint(u64::MAX));
    assert!(matches!(run(&s), Err(Error::TooLong { declared: 4 })));
    // Several ops that add up past it.
    let mut s = header(8, BASIS.len() as u64, 20, 0);
    for _ in 0..3 {
        s.extend(copy(1, 1));
    }
    let mut out = Bounded {
        written: 0,
        max: 20,
    };
    assert!(matches!(
        patch(BASIS, &s, &mut out),
        Err(Error::TooLong { declared: 20 })
    ));
    assert_eq!(out.written, 16);
}

#[test]
fn huge_declared_lengths_allocate_nothing() {
    // A target of 2^63 bytes and a literal of 2^62: the patcher streams, so it just waits
    // for bytes that never come.
    let mut s = header(8, BASIS.len() as u64, 1 << 63, 0);
    s.push(2);
    s.extend(varint(1 << 62));
    s.extend_from_slice(b"only a few bytes");
    let err = run(&s).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    // A signature that claims 2^60 bytes in blocks of one byte, followed by nothing.
    let mut sig = b"PRSG\x01".to_vec();
    sig.extend(varint(1 << 60));
    sig.extend(varint(1));
    sig.push(8);
    sig.extend([0; 16]);
    sig.extend([0; 12]);
    assert!(matches!(
        Signature::from_bytes(&sig),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn malformed_fields() {
    let ok = header(8, BASIS.len() as u64, 0, hash(b""));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        ([&ok[..], &[9]].concat(), "unknown operation"),
        ([&ok[..], &copy(0, 0)[..]].concat(), "copy of zero blocks"),
        ([&ok[..], &[2, 0]].concat(), "empty literal"),
        (
            [&ok[..], &[1, 0x80, 0x00, 1]].concat(),
            "integer is not in its shortest form",
        ),
        (
            [&ok[..], &[2], &[0xff; 10][..]].concat(),
            "integer does not fit in 64 bits",
        ),
        (header(0, 36, 0, 0), "block size out of range"),
        (header(128 * 1024 + 1, 36, 0, 0), "block size out of range"),
    ];
    for (stream, reason) in cases {
        match run(&stream) {
            Err(Error::Malformed {
                format: Format::Delta,
                reason: got,
                ..
            }) => assert_eq!(got, reason),
            other => panic!("{reason}: {other:?}"),
        }
    }
    let err = run(&[&ok[..], &[7]].concat()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "malformed delta stream at offset {}: unknown operation",
            ok.len()
        )
    );
}

#[test]
fn end_marker_length_and_hash_are_checked() {
    let target = b"0123HELLO";
    let good = |ops: &[Vec<u8>], len: u64, hash: u128| {
        let mut s = header(4, BASIS.len() as u64, len, hash);
        for op in ops {
            s.extend(op);
        }
        s
    };
    let ops = [copy(0, 1), literal(b"HELLO")];
    // No end marker.
    let s = good(&ops, 9, hash(target));
    assert!(matches!(run(&s), Err(Error::Truncated { .. })));
    // Bytes after it.
    let mut s = good(&ops, 9, hash(target));
    s.extend([0, 0]);
    let at = s.len() as u64 - 1;
    assert!(matches!(run(&s), Err(Error::TrailingData { offset, .. }) if offset == at));
    // Fewer bytes than declared.
    let mut s = good(&ops, 10, hash(target));
    s.push(0);
    assert!(matches!(
        run(&s),
        Err(Error::Incomplete {
            declared: 10,
            written: 9
        })
    ));
    // The wrong bytes.
    let mut s = good(&[copy(0, 1), literal(b"HELLo")], 9, hash(target));
    s.push(0);
    let err = run(&s).unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    assert!(err
        .to_string()
        .starts_with("result does not match its whole-file hash"));
}

#[test]
fn a_basis_of_another_length_is_refused() {
    let sig = Signature::new(BASIS, &SignatureOptions::default()).unwrap();
    let target = b"0123456789abcdefghijklmnopqrstuvwxyz!";
    let stream = delta(&sig, target).to_bytes(target).unwrap();
    let err = patch(&BASIS[1..], &stream, io::sink()).unwrap_err();
    assert!(matches!(
        err,
        Error::BasisLength {
            expected: 36,
            actual: 35
        }
    ));
    assert_eq!(
        err.to_string(),
        "the basis is 35 bytes but the delta was made against 36 bytes: it changed after its signature was computed"
    );
}

#[test]
fn signature_fields_are_checked() {
    let sig = Signature::new(
        BASIS,
        &SignatureOptions {
            block_size: Some(8),
            ..Default::default()
        },
    )
    .unwrap()
    .to_bytes();
    // Magic (5), len (1), block size (1), strong length at offset 7.
    let mut bad = sig.clone();
    bad[6] = 0;
    assert!(matches!(
        Signature::from_bytes(&bad),
        Err(Error::Malformed {
            reason: "block size out of range",
            offset: 6,
            ..
        })
    ));
    for strong in [0, 3, 17, 255] {
        let mut bad = sig.clone();
        bad[7] = strong;
        assert!(
            matches!(
                Signature::from_bytes(&bad),
                Err(Error::Malformed { offset: 7, .. })
                    | Err(Error::Truncated { .. })
                    | Err(Error::TrailingData { .. })
            ),
            "{strong}"
        );
    }
    let mut bad = sig.clone();
    bad[7] = 17;
    assert_eq!(
        Signature::from_bytes(&bad).unwrap_err().to_string(),
        "malformed signature at offset 7: strong sum length out of range"
    );
    let mut long = sig.clone();
    long.push(0);
    assert!(matches!(
        Signature::from_bytes(&long),
        Err(Error::TrailingData { offset, .. }) if offset == sig.len() as u64
    ));
}

#[test]
fn assembling_refuses_wrong_inputs() {
    let old = BASIS.repeat(20);
    let mut new = old.clone();
    new[100..110].copy_from_slice(b"XXXXXXXXXX");
    let options = SignatureOptions {
        block_size: Some(16),
        ..Default::default()
    };
    let sig = Signature::new(&new, &options).unwrap();
    let map = block_map(&sig, &old);
    let missing = map.missing_ranges();
    assert_eq!(
        missing,
        vec![Range {
            start: 96,
            end: 112
        }]
    );
    let fetched = &new[96..112];
    // Too little, too much, the wrong bytes.
    assert!(matches!(
        assemble(&sig, &map, &old, &fetched[1..], io::sink()),
        Err(Error::Incomplete { .. })
    ));
    let more = [fetched, b"!"].concat();
    assert!(matches!(
        assemble(&sig, &map, &old, &more, io::sink()),
        Err(Error::TooLong { .. })
    ));
    let wrong = [&fetched[1..], b"!"].concat();
    assert!(matches!(
        assemble(&sig, &map, &old, &wrong, io::sink()),
        Err(Error::HashMismatch { .. })
    ));
    // A map made for another signature, or used with other local data.
    let other = Signature::new(
        &new,
        &SignatureOptions {
            block_size: Some(32),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        assemble(&other, &map, &old, fetched, io::sink()),
        Err(Error::BlockMap { .. })
    ));
    assert!(matches!(
        assemble(&sig, &map, &old[..100], fetched, io::sink()),
        Err(Error::BlockMap { .. })
    ));
}

/// A block found by a false match of its stored prefix (here a signature whose record for
/// one block holds the sums of other bytes, as a prefix collision would) is caught by the
/// blocks hash, though the assembler never reads the bytes it copies.
#[test]
fn assembling_catches_a_block_found_by_a_false_match() {
    let old = BASIS.repeat(20);
    let mut new = old.clone();
    new[96..112].copy_from_slice(b"0123456789abcdef");
    let options = SignatureOptions {
        block_size: Some(16),
        strong_len: Some(8),
    };
    let sig = Signature::new(&new, &options).unwrap();
    let of_old = Signature::new(&old, &options).unwrap();
    // The records are the last 4 + 8 bytes a block: block 6's takes old's.
    let mut bytes = sig.to_bytes();
    let old_bytes = of_old.to_bytes();
    let record = 4 + 8;
    let at = bytes.len() - (sig.block_count() as usize - 6) * record;
    bytes[at..at + record].copy_from_slice(&old_bytes[at..at + record]);
    let forged = Signature::from_bytes(&bytes).unwrap();
    let map = block_map(&forged, &old);
    assert!(map.missing_ranges().is_empty(), "block 6 is found in old");
    let mut out = Vec::new();
    assert!(matches!(
        assemble(&forged, &map, &old, &[], &mut out),
        Err(Error::HashMismatch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Random bytes, after a valid header or not: an error or a checked result, never a
    /// panic, never more output than declared.
    #[test]
    fn random_streams_never_panic(
        with_header in any::<bool>(),
        declared in 0u64..100,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut s = if with_header { header(8, BASIS.len() as u64, declared, 0) } else { Vec::new() };
        s.extend(body);
        let mut out = Bounded { written: 0, max: if with_header { declared } else { 0 } };
        let _ = patch(BASIS, &s, &mut out);
        let _ = Signature::from_bytes(&s);
    }

    /// A valid stream with bytes flipped, cut or inserted, fed in random frames.
    #[test]
    fn mutated_streams_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        frame in 1usize..20,
    ) {
        let target = b"0123456789abcdefHELLO, world, 0123456789";
        let sig = Signature::new(BASIS, &SignatureOptions { block_size: Some(8), ..Default::default() }).unwrap();
        let mut s = delta(&sig, target).to_bytes(target).unwrap();
        let mut sig_bytes = sig.to_bytes();
        for (at, byte) in &flips {
            let i = at % s.len();
            s[i] ^= byte;
            let j = at % sig_bytes.len();
            sig_bytes[j] ^= byte;
        }
        s.truncate(cut % (s.len() + 1));
        let mut patcher = Patcher::new(BASIS);
        let mut out = Vec::new();
        let fed = s.chunks(frame).try_for_each(|piece| patcher.feed(piece, &mut out));
        if fed.is_ok() {
            if let Ok(len) = patcher.finish() {
                prop_assert_eq!(len, out.len() as u64);
            }
        }
        let _ = Signature::from_bytes(&sig_bytes);
    }
}
