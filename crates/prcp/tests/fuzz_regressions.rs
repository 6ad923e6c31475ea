//! Inputs for prcp's message decoder that the `prcp_protocol` fuzz target
//! (`fuzz/fuzz_targets/prcp_protocol.rs`) exercises, replayed on stable: whatever a host
//! sends decodes to a message, data or an error, never a panic or a stack overflow.

use prcp::protocol::{decode, message, Frame, Reply};

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
