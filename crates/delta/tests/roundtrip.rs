//! Property tests: random files with random edits, through both directions, must come back
//! byte for byte; the parallel search must stay nearly as good as the sequential one.

use proptest::prelude::*;
use prtools_delta::{
    assemble, Assembler, Delta, Matcher, Op, Patcher, Signature, SignatureOptions,
};

/// One edit of a file; positions and lengths are taken modulo the file's current length.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Overwrite(usize, Vec<u8>),
    Move(usize, usize, usize),
    Append(Vec<u8>),
    Truncate(usize),
}

fn edit(bytes: impl Strategy<Value = u8> + Clone) -> impl Strategy<Value = Edit> {
    let run = move |max| proptest::collection::vec(bytes.clone(), 1..max);
    prop_oneof![
        (any::<usize>(), run(64)).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1..300usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), run(32)).prop_map(|(at, b)| Edit::Overwrite(at, b)),
        (any::<usize>(), 1..500usize, any::<usize>()).prop_map(|(f, n, t)| Edit::Move(f, n, t)),
        run(200).prop_map(Edit::Append),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(data: &mut Vec<u8>, edit: &Edit) {
    let pos = |at: usize, len: usize| at % (len + 1);
    match edit {
        Edit::Insert(at, bytes) => {
            let at = pos(*at, data.len());
            data.splice(at..at, bytes.iter().copied());
        }
        Edit::Delete(at, n) => {
            let at = pos(*at, data.len());
            let end = (at + n).min(data.len());
            data.drain(at..end);
        }
        Edit::Overwrite(at, bytes) => {
            let at = pos(*at, data.len());
            let end = (at + bytes.len()).min(data.len());
            data[at..end].copy_from_slice(&bytes[..end - at]);
        }
        Edit::Move(from, n, to) => {
            let from = pos(*from, data.len());
            let end = (from + n).min(data.len());
            let moved: Vec<u8> = data.drain(from..end).collect();
            let to = pos(*to, data.len());
            data.splice(to..to, moved);
        }
        Edit::Append(bytes) => data.extend_from_slice(bytes),
        Edit::Truncate(n) => {
            let keep = pos(*n, data.len());
            data.truncate(keep);
        }
    }
}

/// A basis, a target made from it by edits, a block size (`None`: the rule) and a chunk
/// length for the parallel search.
type Case = (Vec<u8>, Vec<u8>, Option<u32>, usize);

fn case(bytes: impl Strategy<Value = u8> + Clone + 'static) -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(bytes.clone(), 0..4000),
        proptest::collection::vec(edit(bytes), 0..6),
        prop_oneof![1 => Just(None), 4 => (1u32..=96).prop_map(Some)],
        1usize..3000,
    )
        .prop_map(|(basis, edits, block, chunk)| {
            let mut target = basis.clone();
            for e in &edits {
                apply(&mut target, e);
            }
            (basis, target, block, chunk)
        })
}

fn signature(data: &[u8], block: Option<u32>) -> Signature {
    let options = SignatureOptions {
        block_size: block,
        ..SignatureOptions::default()
    };
    Signature::new(data, &options).unwrap()
}

/// Encodes `delta`, patches `basis` with the stream fed in `frame`-sized pieces.
fn rebuild(basis: &[u8], target: &[u8], delta: &Delta, frame: usize) -> Vec<u8> {
    let stream = delta.to_bytes(target).unwrap();
    assert_eq!(stream.len() as u64, delta.encoded_len());
    let mut patcher = Patcher::new(basis);
    let mut out = Vec::new();
    for piece in stream.chunks(frame.max(1)) {
        patcher.feed(piece, &mut out).unwrap();
    }
    assert_eq!(patcher.finish().unwrap(), target.len() as u64);
    out
}

/// Checks the ops of a delta cover the target exactly, in order.
fn check_ops(sig: &Signature, delta: &Delta) {
    let mut pos = 0u64;
    for op in delta.ops() {
        match *op {
            Op::Copy { block, count } => {
                assert!(count >= 1 && block + count <= sig.block_count());
                pos += (block..block + count)
                    .map(|b| u64::from(sig.block_len(b)))
                    .sum::<u64>();
            }
            Op::Literal { offset, len } => {
                assert!(len >= 1);
                assert_eq!(offset, pos);
                pos += len;
            }
        }
    }
    assert_eq!(pos, delta.target_len());
}

fn rsync_direction((basis, target, block, chunk): Case, check_size: bool) {
    let sig = signature(&basis, block);
    let sig = Signature::from_bytes(&sig.to_bytes()).unwrap();
    let sequential = Matcher::new(&sig).with_chunk_len(usize::MAX).delta(&target);
    let parallel = Matcher::new(&sig).with_chunk_len(chunk).delta(&target);
    for delta in [&sequential, &parallel] {
        check_ops(&sig, delta);
        assert_eq!(rebuild(&basis, &target, delta, chunk % 50), target);
    }
    if check_size {
        // Each chunk boundary may cost at most one block of literal data.
        let chunks = (target.len() / chunk).max(1) as u64;
        let slack = chunks * u64::from(sig.block_size());
        assert!(
            parallel.literal_len() <= sequential.literal_len() + slack,
            "parallel {} sequential {} slack {slack}",
            parallel.literal_len(),
            sequential.literal_len()
        );
    }
}

fn zsync_direction((old, new, block, chunk): Case) {
    let sig = signature(&new, block);
    let map = Matcher::new(&sig).with_chunk_len(chunk).block_map(&old);
    for b in 0..sig.block_count() {
        if let Some(at) = map.get(b) {
            let range = sig.block_range(b);
            let at = at as usize;
            assert_eq!(
                &old[at..at + (range.end - range.start) as usize],
                &new[range.start as usize..range.end as usize]
            );
        }
    }
    let ranges = map.missing_ranges();
    assert_eq!(
        ranges.iter().map(|r| r.end - r.start).sum::<u64>(),
        map.missing_len()
    );
    let fetched: Vec<u8> = ranges
        .iter()
        .flat_map(|r| new[r.start as usize..r.end as usize].iter().copied())
        .collect();

    let mut out = Vec::new();
    assert_eq!(
        assemble(&sig, &map, &old, &fetched, &mut out).unwrap(),
        new.len() as u64
    );
    assert_eq!(out, new);

    // The same, fed in pieces.
    let mut assembler = Assembler::new(&sig, &map, &old).unwrap();
    let mut out = Vec::new();
    for piece in fetched.chunks(chunk % 37 + 1) {
        assembler.feed(piece, &mut out).unwrap();
    }
    assembler.finish(&mut out).unwrap();
    assert_eq!(out, new);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn patch_rebuilds_random_edits(case in case(any::<u8>())) {
        rsync_direction(case, true);
    }

    #[test]
    fn patch_rebuilds_low_entropy_edits(case in case(0u8..3)) {
        rsync_direction(case, false);
    }

    #[test]
    fn assemble_rebuilds_random_edits(case in case(any::<u8>())) {
        zsync_direction(case);
    }

    #[test]
    fn assemble_rebuilds_low_entropy_edits(case in case(0u8..3)) {
        zsync_direction(case);
    }

    #[test]
    fn signature_bytes_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        block in 1u32..200,
        strong in 4u8..=16,
    ) {
        let options = SignatureOptions { block_size: Some(block), strong_len: Some(strong) };
        let sig = Signature::new(&data, &options).unwrap();
        let bytes = sig.to_bytes();
        prop_assert_eq!(bytes.len(), sig.encoded_len());
        prop_assert_eq!(Signature::from_bytes(&bytes).unwrap(), sig);
    }
}

#[test]
fn empty_files_and_files_smaller_than_a_block() {
    let cases: [(&[u8], &[u8]); 6] = [
        (b"", b""),
        (b"", b"new"),
        (b"old", b""),
        (b"small", b"small"),
        (b"small", b"smaller"),
        (b"0123456789", b"x0123456789"),
    ];
    for (basis, target) in cases {
        for block in [None, Some(1), Some(4), Some(64)] {
            let case = (basis.to_vec(), target.to_vec(), block, 3);
            rsync_direction(case.clone(), true);
            zsync_direction(case);
        }
    }
}
