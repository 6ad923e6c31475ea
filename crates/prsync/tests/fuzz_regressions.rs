//! Inputs the `prsync_wire` fuzz target (`fuzz/fuzz_targets/prsync_wire.rs`) found or keeps
//! in its corpus, replayed on stable: what a hostile peer sends the agent must end in an
//! answer or an error, never a panic.

use std::fs;
use std::path::PathBuf;

use prsync::remote::peer::serve_sender;
use prsync::remote::wire::{Link, Msg, Shape};
use prsync::sender::{ListOptions, LocalSender};
use prtools_sync::filter::FilterList;
use prtools_transport::Progress;

/// The fuzz target's source tree: entries `.`, `a`, `empty`, `sub`, `sub/b`.
fn sender(name: &str) -> LocalSender {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prsync-fuzz-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("sub")).unwrap();
    let repeats: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8 + b'a').collect();
    fs::write(dir.join("a"), repeats).unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::write(dir.join("sub/b"), b"hello\n").unwrap();
    let opts = ListOptions {
        recursive: true,
        links: true,
        devices: false,
        specials: false,
        hard_links: false,
        checksum: false,
        copy_links: false,
        chmod: None,
        copy_dirlinks: false,
        copy_unsafe_links: false,
        relative: false,
        implied_dirs: true,
        dirs: false,
        prune_empty_dirs: false,
        ignore_missing_args: false,
        one_file_system: 0,
        ..ListOptions::default()
    };
    let mut source = dir.into_os_string();
    source.push("/");
    let mut sender = LocalSender::list(&[source], &opts, &FilterList::new());
    sender.share_signatures();
    sender
}

/// Runs the agent's sender loop on `stream`; returns its result and every message it sent.
fn serve(name: &str, stream: &[u8]) -> (std::io::Result<Option<i32>>, Vec<Msg>) {
    let mut sender = sender(name);
    let mut out = Vec::new();
    let result = {
        let mut link = Link::new(stream, &mut out);
        serve_sender(
            &mut sender,
            &mut link,
            Shape::default(),
            &Progress::new(1, true),
            |_| {},
        )
    };
    let mut sent = Vec::new();
    let mut replies = Link::new(&out[..], std::io::sink());
    while let Ok(msg) = replies.receive() {
        sent.push(msg);
    }
    (result, sent)
}

/// Found by prsync_wire: two `WantRanges` ranges of nearly 2^64 bytes each overflowed the
/// sum of their lengths (`attempt to add with overflow` in `serve_sender`). Now the file's
/// bytes run out, the agent answers `Failed`, and `Finish` ends the loop.
#[test]
fn want_ranges_whose_lengths_overflow() {
    let stream = b"\x00\x00\x00\x19\x06\x01\x02\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\
                   \x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00\x00\x01\x0d";
    let (result, sent) = serve("overflow", stream);
    assert_eq!(result.unwrap(), None);
    assert!(
        matches!(sent.last(), Some(Msg::Failed(_))),
        "expected a Failed answer, got {sent:?}"
    );
}

/// Frames `msgs` as a peer would send them.
fn stream_of(msgs: &[Msg]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut link = Link::new(&b""[..], &mut out);
        for msg in msgs {
            link.send(msg).unwrap();
        }
    }
    out
}

/// Corpus shapes: a delta against a signature of other data with one-byte blocks, a
/// signature request with a hostile block size, ranges past the end and out of order, and
/// indexes past the list. Each gets an answer or ends the loop with an error.
#[test]
fn hostile_requests_get_answers_or_errors() {
    let sig = prtools_delta::Signature::new(
        b"abcabcabc",
        &prtools_delta::SignatureOptions {
            block_size: Some(1),
            strong_len: None,
        },
    )
    .unwrap();
    let stream = stream_of(&[
        Msg::Want {
            index: 1,
            signature: Some(sig.to_bytes()),
        },
        Msg::WantSignature {
            index: 1,
            block_size: Some(0),
        },
        Msg::WantRanges {
            index: 1,
            ranges: vec![(4990, 6000), (10, 5)],
        },
        Msg::Finish,
    ]);
    let (result, sent) = serve("hostile", &stream);
    // The backwards range is refused as a protocol error, after the first two answers.
    assert!(result.is_err(), "{sent:?}");
    assert!(
        matches!(
            sent[..],
            [Msg::Data(_), .., Msg::Sent { .. }, Msg::Failed(_)]
        ),
        "{sent:?}"
    );

    for index in [5, u32::MAX] {
        let stream = stream_of(&[Msg::WantRanges {
            index,
            ranges: vec![],
        }]);
        assert!(serve("index", &stream).0.is_err());
    }
}
