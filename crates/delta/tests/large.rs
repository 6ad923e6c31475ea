//! Larger files: an unchanged file is one copy; scattered edits cost little; the parallel
//! search gives the same delta as the sequential one.

use prtools_delta::{
    block_map, block_size, delta, patch, Matcher, Op, Signature, SignatureOptions,
};

/// Pseudo-random bytes (xorshift), so that blocks are distinct.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// 8 MiB plus a few bytes, so that the last block is short and the search is split in two
/// chunks.
const LEN: usize = (8 << 20) + 1234;

#[test]
fn an_unchanged_large_file_is_one_copy() {
    let data = noise(LEN, 1);
    let sig = Signature::new(&data, &SignatureOptions::default()).unwrap();
    assert_eq!(sig.block_size(), block_size(LEN as u64));
    let d = delta(&sig, &data);
    assert_eq!(
        d.ops(),
        [Op::Copy {
            block: 0,
            count: sig.block_count()
        }]
    );
    let stream = d.to_bytes(&data).unwrap();
    assert!(stream.len() < 48, "{} bytes", stream.len());
    let mut out = Vec::new();
    patch(&data, &stream, &mut out).unwrap();
    assert!(out == data);

    let map = block_map(&sig, &data);
    assert_eq!(map.found_blocks(), sig.block_count());
    assert!(map.missing_ranges().is_empty());
}

#[test]
fn scattered_edits_cost_a_block_or_two_each() {
    let basis = noise(LEN, 2);
    let mut target = basis.clone();
    let edits = 40;
    for i in 0..edits {
        let at = (i * 7919 * 1021 + 12_345) % (target.len() - 100);
        match i % 3 {
            0 => target[at..at + 10].copy_from_slice(b"overwrite!"),
            1 => drop(target.splice(at..at, *b"inserted")),
            _ => drop(target.drain(at..at + 33)),
        }
    }
    let sig = Signature::new(&basis, &SignatureOptions::default()).unwrap();
    let bs = u64::from(sig.block_size());
    let matcher = Matcher::new(&sig);
    let parallel = matcher.delta(&target);
    let sequential = Matcher::new(&sig).with_chunk_len(usize::MAX).delta(&target);
    assert_eq!(parallel, sequential);
    assert!(
        parallel.literal_len() <= edits as u64 * 2 * bs,
        "{} literal bytes",
        parallel.literal_len()
    );
    let stream = parallel.to_bytes(&target).unwrap();
    assert!((stream.len() as u64) < parallel.literal_len() + 2000);
    let mut out = Vec::new();
    patch(&basis, &stream, &mut out).unwrap();
    assert!(out == target);
}

#[test]
fn the_delta_does_not_depend_on_the_thread_count() {
    let basis = noise(3 << 20, 3);
    let mut target = basis.clone();
    target.splice(1 << 20..1 << 20, *b"one more thing");
    target.drain(2 << 20..(2 << 20) + 5000);
    let options = SignatureOptions {
        block_size: Some(1024),
        ..SignatureOptions::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let sig = Signature::new(&basis, &options).unwrap();
            let delta = Matcher::new(&sig).with_chunk_len(100_000).delta(&target);
            (sig, delta)
        })
    };
    let (sig1, delta1) = run(1);
    let (sig2, delta2) = run(2);
    assert_eq!(sig1, sig2);
    assert_eq!(delta1, delta2);
    assert!(
        delta1.literal_len() < 3 * 1024 + 14,
        "{}",
        delta1.literal_len()
    );
}
