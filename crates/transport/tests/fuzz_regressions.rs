//! Streams from the `prcp_protocol` fuzz target's corpus (`fuzz/fuzz_targets/prcp_protocol.rs`,
//! which reads every stream with all three frame readers), replayed on stable with its
//! checks: the readers agree frame for frame and error for error, and none reads a byte past
//! the frame it returns, whatever sizes the reads come in.

use std::io::{self, Read};

use prtools_transport::frame::{read_frame_blocking, FrameBuf, HEADER};

/// A reader that hands out at most `step` bytes a read and counts them.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    taken: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len() - self.taken);
        buf[..n].copy_from_slice(&self.data[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

type Outcome = Result<Vec<u8>, (io::ErrorKind, String)>;

/// Every frame of `stream` read with `read_frame_blocking`, checking the bytes taken.
fn plain(stream: &[u8], step: usize) -> Vec<Outcome> {
    let mut input = Trickle {
        data: stream,
        step,
        taken: 0,
    };
    let mut out = Vec::new();
    let mut end = 0;
    loop {
        match read_frame_blocking(&mut input) {
            Ok(Some(frame)) => {
                end += HEADER + frame.len();
                assert_eq!(input.taken, end, "read past a frame");
                out.push(Ok(frame));
            }
            Ok(None) => return out,
            Err(e) => {
                out.push(Err((e.kind(), e.to_string())));
                return out;
            }
        }
    }
}

/// The same with one reused `FrameBuf`.
fn reused(stream: &[u8], step: usize) -> Vec<Outcome> {
    let mut input = Trickle {
        data: stream,
        step,
        taken: 0,
    };
    let mut frames = FrameBuf::new();
    let mut out = Vec::new();
    let mut end = 0;
    loop {
        match frames.read_blocking(&mut input) {
            Ok(true) => {
                end += frames.whole().len();
                assert_eq!(input.taken, end, "read past a frame");
                assert_eq!(&frames.whole()[HEADER..], frames.payload());
                out.push(Ok(frames.payload().to_vec()));
            }
            Ok(false) => return out,
            Err(e) => {
                out.push(Err((e.kind(), e.to_string())));
                return out;
            }
        }
    }
}

#[test]
fn corpus_streams_read_alike_in_any_read_size() {
    let streams: [&[u8]; 8] = [
        b"",
        b"\0\0\0\0",
        b"\0\0\0\x03abc\0\0\0\x01z",
        // A login banner where a header belongs.
        b"SSH-2.0-OpenSSH_9.2\r\n",
        // Ends inside the second header, then inside a payload.
        b"\0\0\0\x01a\0\0",
        b"\0\0\0\x0aonly5",
        // Just over the limit, then the largest length a header holds.
        b"\x01\0\0\x01",
        b"\xff\xff\xff\xff\0",
    ];
    for stream in streams {
        let expected = plain(stream, usize::MAX);
        for step in [1, 2, 3, 5, 7, usize::MAX] {
            assert_eq!(plain(stream, step), expected, "{stream:?} by {step}");
            assert_eq!(reused(stream, step), expected, "{stream:?} by {step}");
        }
    }
}

/// A big frame after a small one: the reused buffer grows and still returns exact frames.
#[test]
fn growing_frames_keep_their_bounds() {
    let mut stream = b"\0\0\0\x02hi".to_vec();
    let big = vec![7u8; 3 << 20];
    stream.extend((big.len() as u32).to_be_bytes());
    stream.extend(&big);
    stream.extend(b"\0\0\0\x01!");
    let frames = reused(&stream, 64 * 1024 + 3);
    assert_eq!(frames, plain(&stream, usize::MAX));
    assert_eq!(frames.len(), 3);
}
