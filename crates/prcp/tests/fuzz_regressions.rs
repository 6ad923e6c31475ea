//! Inputs for prcp's message decoder that the `prcp_protocol` fuzz target
//! (`fuzz/fuzz_targets/prcp_protocol.rs`) exercises, replayed on stable: whatever a host
//! sends decodes to a message, data or an error, never a panic or a stack overflow.

use prcp::protocol::{data, decode, decode_slice, message, Frame, Reply, Request, WireEntry};

/// A `Reply` payload of `depth` nested `Relayed { hop: 1, .. }` around `EndOfTree`, encoded
/// by hand as postcard lays it out (tag byte, variant index, hop, ...).
fn nested_relayed(depth: usize) -> Vec<u8> {
    const RELAYED: u8 = 8;
    const END_OF_TREE: u8 = 6;
    let mut payload = vec![0];
    for _ in 0..depth {
        payload.extend([RELAYED, 1]);
    }
    payload.push(END_OF_TREE);
    payload
}

/// Found while writing the prcp_protocol target (reproduced with its binary; its inputs
/// are too short to reach the depth): 200,000 nested `Relayed` replies in one 400 kB frame
/// made the derived decoder recurse until the stack overflowed, aborting the client. One
/// level is all the protocol uses; a second is now refused.
#[test]
fn nested_relayed_replies_are_refused_not_followed() {
    let err = decode::<Reply>(nested_relayed(200_000)).err();
    assert!(err.is_some_and(|e| e.starts_with("malformed agent message")));
    assert!(decode::<Reply>(nested_relayed(2)).is_err());
    match decode::<Reply>(nested_relayed(1)) {
        Ok(Frame::Message(Reply::Relayed { hop: 1, reply })) => {
            assert!(matches!(*reply, Reply::EndOfTree))
        }
        _ => panic!("one level of Relayed must decode"),
    }
    // A refusal leaves nothing behind: the next reply of the thread still decodes.
    let again = message(&Reply::Relayed {
        hop: 3,
        reply: Box::new(Reply::Want(vec![1, 2])),
    });
    assert!(matches!(
        decode::<Reply>(again),
        Ok(Frame::Message(Reply::Relayed { hop: 3, .. }))
    ));
}

fn entry(path: &[u8], kind: u8, nanos: u32) -> WireEntry {
    WireEntry {
        path: path.to_vec(),
        kind,
        size: 1,
        mode: 0o100644,
        secs: -1,
        nanos,
        target: b"../../etc/passwd".to_vec(),
    }
}

/// Corpus shapes of the file list: only a safe relative path, a known kind and a real
/// time pass the check, and what passes keeps its permission bits only.
#[test]
fn corpus_entries_are_checked_before_use() {
    for bad in [
        &b""[..],
        b".",
        b"..",
        b"a/../b",
        b"/abs",
        b"a//b",
        b"a/./b",
        b"a\0b",
        b"a/",
    ] {
        assert!(entry(bad, 0, 0).into_entry().is_err(), "{bad:?} accepted");
    }
    assert!(entry(b"ok", 3, 0).into_entry().is_err());
    assert!(entry(b"ok", 0, 1_000_000_000).into_entry().is_err());
    let fine = entry(b"dir/l", 2, 999_999_999).into_entry().unwrap();
    assert_eq!(fine.mode, 0o644);
    assert_eq!(fine.path.as_bytes(), b"dir/l");
}

/// Corpus payloads: every one decodes the same way owned and borrowed, to a message, data or
/// a one-line error, and a message encodes back to the same bytes.
#[test]
fn corpus_payloads_decode_alike_owned_and_borrowed() {
    let mut payloads = vec![
        Vec::new(),
        vec![7],
        vec![0],
        vec![0, 0xff, 0xff, 0xff, 0xff, 0xff],
        // Entries claiming 2^32 items with no bytes behind them.
        vec![0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f],
        // A Fatal reply whose text would forge a second line.
        message(&Reply::Fatal("disk full\nnode2: ok".into())),
        message(&Request::Entries(vec![entry(b"a/b", 0, 5)])),
        message(&Request::Gather {
            protocol: 3,
            paths: vec![b"/etc".to_vec(), Vec::new()],
            recursive: true,
            links: false,
        }),
        data(b""),
        data(b"\0\0\0\x05hello"),
    ];
    payloads.push(payloads[6][..payloads[6].len() - 1].to_vec());
    for payload in payloads {
        let owned = decode::<Request>(payload.clone());
        let sliced = decode_slice::<Request>(&payload);
        match (owned, sliced) {
            (Ok(Frame::Data(a)), Ok(Frame::Data(b))) => assert_eq!(&a[..], b),
            (Ok(Frame::Message(a)), Ok(Frame::Message(b))) => {
                assert_eq!(format!("{a:?}"), format!("{b:?}"));
                assert_eq!(message(&a), payload);
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                assert!(!a.contains('\n'), "{a}");
            }
            _ => panic!("owned and borrowed decoding disagree on {payload:?}"),
        }
        let _ = decode::<Reply>(payload);
    }
}
