//! The delta crate's decoders and the code that acts on what they decode
//! (`crates/delta`): `Signature::from_bytes`, the patcher, the block map and the assembler.
//!
//! The input's first byte picks the mode and a piece size; the rest is up to three
//! NUL-separated parts.
//!
//! - Hostile signature: part 1 as a signature (it reads back to the same bytes), searched
//!   for in part 2 both ways (a delta, and a block map whose ranges lie inside the file and
//!   add up), then assembled with part 3 as the fetched bytes: the output is the declared
//!   length, or an error.
//! - Hostile delta: part 2 applied to part 1 as basis, whole and in pieces: both give the
//!   same result, and the count of bytes written is the bytes written.
//! - Round trip: part 2 made from part 1 with a delta (rsync's way) and with a block map
//!   (zsync's way), with a block size from the input and small parallel chunks; both must
//!   rebuild part 2 exactly, and every match must be a real copy of its block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prtools_delta::{
    assemble, patch, Matcher, Patcher, Signature, SignatureOptions, MIN_BLOCK_OVERRIDE,
};
use prtools_fuzz::parts;

fn hostile_signature(sig_bytes: &[u8], local: &[u8], fetched: &[u8], chunk: usize) {
    let Ok(sig) = Signature::from_bytes(sig_bytes) else {
        return;
    };
    assert_eq!(
        sig.to_bytes(),
        sig_bytes,
        "a signature reads back differently"
    );
    let matcher = Matcher::new(&sig).with_chunk_len(chunk);
    let delta = matcher.delta(local);
    assert_eq!(delta.target_len(), local.len() as u64);
    let _ = delta.to_bytes(local);

    let map = matcher.block_map(local);
    assert_eq!(map.block_count(), sig.block_count());
    let ranges = map.missing_ranges();
    let mut last = 0;
    for r in &ranges {
        assert!(
            r.start >= last && r.start < r.end && r.end <= sig.len(),
            "{ranges:?}"
        );
        last = r.end;
    }
    assert_eq!(
        map.missing_len(),
        ranges.iter().map(|r| r.end - r.start).sum::<u64>()
    );
    let mut out = Vec::new();
    if let Ok(n) = assemble(&sig, &map, local, fetched, &mut out) {
        assert_eq!(n, sig.len());
        assert_eq!(out.len() as u64, n);
    }
}

fn hostile_delta(basis: &[u8], stream: &[u8], piece: usize) {
    let mut whole = Vec::new();
    let one = patch(basis, stream, &mut whole);
    let mut patcher = Patcher::new(basis);
    let mut pieces = Vec::new();
    let mut fed = Ok(());
    for chunk in stream.chunks(piece) {
        fed = patcher.feed(chunk, &mut pieces);
        assert_eq!(patcher.written(), pieces.len() as u64);
        if fed.is_err() {
            break;
        }
    }
    let many = fed.and_then(|()| patcher.finish());
    match (&one, &many) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(*a, whole.len() as u64);
            assert_eq!(whole, pieces);
        }
        (Err(a), Err(b)) => {
            let _ = (a.to_string(), b.to_string());
        }
        _ => panic!("whole and in pieces disagree: {one:?} vs {many:?}"),
    }
}

fn round_trip(basis: &[u8], target: &[u8], block: u32, chunk: usize) {
    let options = SignatureOptions {
        block_size: Some(block),
        strong_len: None,
    };
    // rsync's way: the basis's signature, a delta of the target, the patch.
    let sig = Signature::new(basis, &options).expect("valid options");
    let matcher = Matcher::new(&sig).with_chunk_len(chunk);
    for m in matcher.find(target) {
        let range = sig.block_range(m.block);
        let len = (range.end - range.start) as usize;
        let at = m.offset as usize;
        assert_eq!(
            &target[at..at + len],
            &basis[range.start as usize..range.end as usize],
            "a false match: {m:?}"
        );
    }
    let stream = matcher.delta(target).to_bytes(target).expect("encode");
    let mut out = Vec::new();
    patch(basis, &stream, &mut out).expect("a delta of ours applies");
    assert_eq!(out, target);

    // zsync's way: the target's signature, searched in the basis, the missing ranges.
    let sig = Signature::new(target, &options).expect("valid options");
    let map = Matcher::new(&sig).with_chunk_len(chunk).block_map(basis);
    let fetched: Vec<u8> = map
        .missing_ranges()
        .into_iter()
        .flat_map(|r| target[r.start as usize..r.end as usize].iter().copied())
        .collect();
    let mut out = Vec::new();
    assemble(&sig, &map, basis, &fetched, &mut out).expect("a map of ours assembles");
    assert_eq!(out, target);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let p = parts(rest, 3);
    let piece = usize::from(first >> 2) + 1;
    match first & 3 {
        0 => hostile_signature(p[0], p[1], p[2], piece),
        1 => hostile_delta(p[0], p[1], piece),
        _ => {
            let block = MIN_BLOCK_OVERRIDE + u32::from(first >> 2) % 64;
            round_trip(p[0], p[1], block, piece);
        }
    }
});
