//! The agent framing (`crates/transport/src/frame.rs`) and prcp's messages
//! (`crates/prcp/src/protocol.rs`), as a hostile host would send them.
//!
//! The input's first byte sets how many bytes each read returns (as a pipe may); the rest is
//! the stream. Checks: the three frame readers (blocking, `FrameBuf`, async) agree frame for
//! frame and error for error; none reads past the frame it returns; every payload decodes to
//! a message, data or an error, never a panic; an entry that passes its check has a safe
//! relative path; a decoded message encodes and decodes to the same message.
#![no_main]

use std::io;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prcp::protocol::{decode, decode_slice, message, Frame, Reply, Request, WireEntry};
use prtools_fuzz::Trickle;
use prtools_transport::frame::{read_frame, read_frame_blocking, FrameBuf, HEADER, MAX_FRAME};

/// Frames read before the stream is left: inputs are small, this only bounds the loops.
const MAX_FRAMES: usize = 64;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

/// A frame or the kind and text of the error that ended the stream.
type Outcome = Result<Vec<u8>, (io::ErrorKind, String)>;

fn blocking(stream: &[u8], step: usize) -> Vec<Outcome> {
    let mut input = Trickle::new(stream, step);
    let mut out = Vec::new();
    let mut end = 0;
    while out.len() < MAX_FRAMES {
        match read_frame_blocking(&mut input) {
            Ok(Some(frame)) => {
                assert!(frame.len() <= MAX_FRAME);
                end += HEADER + frame.len();
                assert_eq!(input.taken, end, "read past the frame");
                out.push(Ok(frame));
            }
            Ok(None) => break,
            Err(e) => {
                out.push(Err((e.kind(), e.to_string())));
                break;
            }
        }
    }
    out
}

fn frame_buf(stream: &[u8], step: usize) -> Vec<Outcome> {
    let mut input = Trickle::new(stream, step);
    let mut frames = FrameBuf::new();
    let mut out = Vec::new();
    let mut end = 0;
    while out.len() < MAX_FRAMES {
        match frames.read_blocking(&mut input) {
            Ok(true) => {
                let payload = frames.payload().to_vec();
                let whole = frames.whole();
                assert_eq!(&whole[HEADER..], &payload[..]);
                assert_eq!(whole[..HEADER], (payload.len() as u32).to_be_bytes());
                end += whole.len();
                assert_eq!(input.taken, end, "read past the frame");
                out.push(Ok(payload));
            }
            Ok(false) => break,
            Err(e) => {
                out.push(Err((e.kind(), e.to_string())));
                break;
            }
        }
    }
    out
}

fn nonblocking(stream: &[u8]) -> Vec<Outcome> {
    runtime().block_on(async {
        let mut input = stream;
        let mut out = Vec::new();
        while out.len() < MAX_FRAMES {
            match read_frame(&mut input).await {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err((e.kind(), e.to_string())));
                    break;
                }
            }
        }
        out
    })
}

fn check_entry(entry: WireEntry) {
    if let Ok(e) = entry.into_entry() {
        let path = e.path.as_bytes();
        assert!(!path.is_empty() && !path.starts_with(b"/") && !path.contains(&0));
        assert!(
            path.split(|&b| b == b'/')
                .all(|c| c != b".." && c != b"." && !c.is_empty()),
            "unsafe path accepted: {path:?}"
        );
        assert!(e.mtime.nanos < 1_000_000_000);
    }
}

fn check_reply(reply: Reply) {
    match reply {
        Reply::Entry(e) => check_entry(e),
        Reply::Relayed { reply, .. } => check_reply(*reply),
        _ => {}
    }
}

fn check_payload(payload: &[u8]) {
    // The slice decoder and the owning one agree.
    let owned = decode::<Request>(payload.to_vec());
    let sliced = decode_slice::<Request>(payload);
    match (&owned, &sliced) {
        (Ok(Frame::Data(a)), Ok(Frame::Data(b))) => assert_eq!(&a[..], *b),
        (Ok(Frame::Message(a)), Ok(Frame::Message(b))) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"))
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("decode and decode_slice disagree"),
    }
    if let Ok(Frame::Message(request)) = owned {
        let again = decode::<Request>(message(&request));
        let Ok(Frame::Message(again)) = again else {
            panic!("{request:?} does not read back");
        };
        assert_eq!(format!("{request:?}"), format!("{again:?}"));
        if let Request::Entries(entries) = request {
            entries.into_iter().for_each(check_entry);
        }
    }
    if let Ok(Frame::Message(reply)) = decode::<Reply>(payload.to_vec()) {
        let shown = format!("{reply:?}");
        match decode::<Reply>(message(&reply)) {
            Ok(Frame::Message(again)) => assert_eq!(shown, format!("{again:?}")),
            _ => panic!("{shown} does not read back"),
        }
        check_reply(reply);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = if step == 0 {
        usize::MAX
    } else {
        usize::from(step % 17)
    };
    let a = blocking(stream, step);
    let b = frame_buf(stream, step);
    let c = nonblocking(stream);
    assert_eq!(a, b, "read_frame_blocking and FrameBuf disagree");
    assert_eq!(a, c, "read_frame_blocking and read_frame disagree");
    for frame in a.iter().flatten() {
        check_payload(frame);
    }
});
