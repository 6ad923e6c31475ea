//! Inputs from the `delta` fuzz target's corpus (`fuzz/fuzz_targets/delta.rs`), replayed on
//! stable with its checks: a decoded signature reads back to its bytes and its block map
//! stays inside the file; a delta gives the same result whole and in pieces; both ways of
//! rebuilding a file give it back exactly, with tiny blocks and tiny parallel chunks.

use prtools_delta::{assemble, patch, Matcher, Patcher, Signature, SignatureOptions};

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

/// A signature of `len` bytes in blocks of `block`, every block claiming the same sums.
fn forged_signature(len: u64, block: u64, strong_len: u8) -> Vec<u8> {
    let mut out = b"PRSG\x01".to_vec();
    out.extend(varint(len));
    out.extend(varint(block));
    out.push(strong_len);
    out.extend([0u8; 16]);
    for _ in 0..len.div_ceil(block.max(1)) {
        out.extend(0x1234_5678u32.to_le_bytes());
        out.extend(vec![b's'; strong_len as usize]);
    }
    out
}

/// A forged signature searched for in data, both ways, then assembled from junk.
#[test]
fn forged_signatures_stay_inside_the_file() {
    for (len, block, strong) in [(16, 8, 8), (5, 1, 4), (131_073, 131_072, 16), (0, 1, 4)] {
        let bytes = forged_signature(len, block, strong);
        let sig = Signature::from_bytes(&bytes).unwrap();
        assert_eq!(sig.to_bytes(), bytes);
        for local in [&b""[..], b"abcdefghabcdefgh-tail", &[0u8; 4096]] {
            for chunk in [1, 3, 64] {
                let matcher = Matcher::new(&sig).with_chunk_len(chunk);
                let delta = matcher.delta(local);
                assert_eq!(delta.target_len(), local.len() as u64);
                let map = matcher.block_map(local);
                let ranges = map.missing_ranges();
                assert!(ranges.iter().all(|r| r.start < r.end && r.end <= sig.len()));
                let mut out = Vec::new();
                if let Ok(n) = assemble(&sig, &map, local, b"fetched", &mut out) {
                    assert_eq!(n, sig.len());
                    assert_eq!(out.len() as u64, n);
                }
            }
        }
    }
    // Trailing bytes, a short record and a zero block size are refused.
    let mut long = forged_signature(16, 8, 8);
    long.push(0);
    assert!(Signature::from_bytes(&long).is_err());
    let good = forged_signature(16, 8, 8);
    assert!(Signature::from_bytes(&good[..good.len() - 1]).is_err());
    assert!(Signature::from_bytes(&forged_signature(0, 0, 8)).is_err());
}

/// Hostile deltas give the same answer fed whole and fed a byte, or a few, at a time.
#[test]
fn hostile_deltas_agree_whole_and_in_pieces() {
    let header = |block: u64, basis: u64, target: u64| {
        let mut out = b"PRDL\x01".to_vec();
        out.extend(varint(block));
        out.extend(varint(basis));
        out.extend(varint(target));
        out.extend([0u8; 16]);
        out
    };
    let basis = b"0123456789abcdef";
    let mut streams = Vec::new();
    // Copy two blocks and a literal: right length, wrong hash.
    streams.push(
        [
            header(8, 16, 21),
            vec![1, 0, 2, 2, 5],
            b"hello".to_vec(),
            vec![0],
        ]
        .concat(),
    );
    // A copy far past the basis, and a count that overflows.
    streams.push([header(8, 16, 99), vec![1, 7], varint(1 << 40), vec![0]].concat());
    streams.push(
        [
            header(8, 16, 99),
            vec![1],
            varint(u64::MAX),
            varint(u64::MAX),
            vec![0],
        ]
        .concat(),
    );
    // A literal longer than the declared target, an unknown op, data after the end.
    streams.push([header(8, 16, 2), vec![2, 5], b"hello".to_vec(), vec![0]].concat());
    streams.push([header(8, 16, 0), vec![9]].concat());
    streams.push([header(8, 16, 0), vec![0, 0]].concat());
    // A ten-byte varint that does not fit, and a non-minimal one.
    streams.push([b"PRDL\x01".to_vec(), vec![0xff; 10], vec![1]].concat());
    streams.push([b"PRDL\x01".to_vec(), vec![0x88, 0x00]].concat());
    for stream in streams {
        let mut whole = Vec::new();
        let one = patch(basis, &stream, &mut whole);
        for piece in [1, 2, 7] {
            let mut patcher = Patcher::new(basis);
            let mut out = Vec::new();
            let mut fed = Ok(());
            for chunk in stream.chunks(piece) {
                fed = patcher.feed(chunk, &mut out);
                assert_eq!(patcher.written(), out.len() as u64);
                if fed.is_err() {
                    break;
                }
            }
            let many = fed.and_then(|()| patcher.finish());
            assert_eq!(one.is_ok(), many.is_ok(), "{stream:?} by {piece}");
            assert!(out.len() <= 99);
        }
        assert!(one.is_err(), "{stream:?} applied");
    }
}

/// Periodic and almost-periodic data with one-byte to odd block sizes and chunks of a few
/// bytes, where the parallel search must stitch chunk paths that never meet.
#[test]
fn periodic_data_rebuilds_exactly_both_ways() {
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            b"ab".repeat(300),
            [b"b".to_vec(), b"ab".repeat(300)].concat(),
        ),
        (vec![0; 1000], vec![0; 999]),
        (b"abcabd".repeat(50), b"abdabc".repeat(50)),
        (Vec::new(), b"new".to_vec()),
        (b"old".to_vec(), Vec::new()),
    ];
    for (basis, target) in cases {
        for block in [1, 2, 3, 7, 64] {
            let options = SignatureOptions {
                block_size: Some(block),
                strong_len: None,
            };
            for chunk in [1, 5, 33] {
                let sig = Signature::new(&basis, &options).unwrap();
                let matcher = Matcher::new(&sig).with_chunk_len(chunk);
                for m in matcher.find(&target) {
                    let r = sig.block_range(m.block);
                    let at = m.offset as usize;
                    let len = (r.end - r.start) as usize;
                    assert_eq!(
                        &target[at..at + len],
                        &basis[r.start as usize..r.end as usize]
                    );
                }
                let stream = matcher.delta(&target).to_bytes(&target).unwrap();
                let mut out = Vec::new();
                patch(&basis, &stream, &mut out).unwrap();
                assert_eq!(out, target);

                let sig = Signature::new(&target, &options).unwrap();
                let map = Matcher::new(&sig).with_chunk_len(chunk).block_map(&basis);
                let fetched: Vec<u8> = map
                    .missing_ranges()
                    .into_iter()
                    .flat_map(|r| target[r.start as usize..r.end as usize].to_vec())
                    .collect();
                let mut out = Vec::new();
                assemble(&sig, &map, &basis, &fetched, &mut out).unwrap();
                assert_eq!(out, target);
            }
        }
    }
}
