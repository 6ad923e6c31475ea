//! The agent's framing: every message is a 4-byte big-endian length, then that many bytes.
//!
//! The length is checked before anything is allocated for it: a host that is broken, hostile,
//! or not running an agent at all (a login banner on stdout reads as a huge length) gets an
//! error naming the length and the limit, never a multi-gigabyte allocation. The payload
//! buffer then grows only as bytes really arrive, so even a length under the limit costs
//! memory only for data that was sent.
//!
//! The client side is async (it reads ssh channels inside the transport's runtime); the agent
//! side is blocking (it serves plain stdin and stdout with no runtime). Both share the header
//! checks below, so they accept and refuse exactly the same streams.
//!
//! ```
//! use prtools_transport::frame::{read_frame_blocking, write_frame_blocking};
//!
//! let mut wire = Vec::new();
//! write_frame_blocking(&mut wire, b"hello")?;
//! assert_eq!(wire, b"\0\0\0\x05hello");
//! let mut input = &wire[..];
//! assert_eq!(read_frame_blocking(&mut input)?, Some(b"hello".to_vec()));
//! assert_eq!(read_frame_blocking(&mut input)?, None);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest payload a frame may carry. Bulk data (file contents, deltas) is sent in
/// chunks well under this; anything bigger is a broken or foreign stream.
pub const MAX_FRAME: usize = 16 << 20;

/// Bytes of the length prefix. A sender that builds a payload in place leaves this much room
/// before it, and [`seal`] fills it in: the frame then goes out in one write, uncopied.
pub const HEADER: usize = 4;

/// How much of a payload is allocated before its bytes arrive: enough for a whole data
/// chunk in one allocation (growing a buffer copies it), small enough that a hostile length
/// cannot make a frame cost more than this before its bytes really come.
const INITIAL_CAPACITY: usize = 1024 * 1024;

/// Reads one frame; `Ok(None)` at a clean end of stream (between frames).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        let n = r.read(&mut header[filled..]).await?;
        if n == 0 {
            return end_in_header(filled);
        }
        filled += n;
    }
    let len = payload_len(header)?;
    let mut payload = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    r.take(len as u64).read_to_end(&mut payload).await?;
    check_complete(payload, len).map(Some)
}

/// Writes one frame. It does not flush: wrap unbuffered pipes in a `BufWriter` and flush
/// once a batch of frames is written.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    let header = header_for(payload)?;
    w.write_all(&header).await?;
    w.write_all(payload).await
}

/// Reads one frame from a blocking reader; `Ok(None)` at a clean end of stream.
pub fn read_frame_blocking<R: Read>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        match r.read(&mut header[filled..]) {
            Ok(0) => return end_in_header(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = payload_len(header)?;
    let mut payload = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    r.take(len as u64).read_to_end(&mut payload)?;
    check_complete(payload, len).map(Some)
}

/// Writes one frame to a blocking writer, without flushing (see [`write_frame`]).
pub fn write_frame_blocking<W: Write>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    let header = header_for(payload)?;
    w.write_all(&header)?;
    w.write_all(payload)
}

/// Writes the length header into the first [`HEADER`] bytes of `frame`, whose payload
/// follows them, and returns the whole frame, ready for one `write_all`.
pub fn seal(frame: &mut [u8]) -> io::Result<&[u8]> {
    let payload = frame.get(HEADER..).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a frame needs room for its header",
        )
    })?;
    let header = header_for(payload)?;
    frame[..HEADER].copy_from_slice(&header);
    Ok(frame)
}

/// One buffer that frame after frame is read into, for the bulk path: no allocation and no
/// zeroing per frame, and the frame is kept whole (header and payload, as it came), so a
/// relay passes it on in one write.
///
/// It grows to the largest frame seen, step by step as bytes really arrive, as
/// [`read_frame`] does.
#[derive(Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
    len: usize,
}

impl FrameBuf {
    /// An empty buffer.
    pub fn new() -> FrameBuf {
        FrameBuf::default()
    }

    /// Reads the next frame from a blocking reader; false at a clean end of stream.
    pub fn read_blocking<R: Read>(&mut self, r: &mut R) -> io::Result<bool> {
        let mut header = [0u8; HEADER];
        let mut filled = 0;
        while filled < HEADER {
            match r.read(&mut header[filled..]) {
                Ok(0) => return end_in_header(filled).map(|_| false),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.len = payload_len(header)?;
        let end = HEADER + self.len;
        if self.buf.len() < HEADER {
            self.buf.resize(HEADER, 0);
        }
        self.buf[..HEADER].copy_from_slice(&header);
        let mut filled = HEADER;
        while filled < end {
            if self.buf.len() < end {
                let grown = (self.buf.len() * 2).max(HEADER + INITIAL_CAPACITY);
                self.buf.resize(grown.min(end), 0);
            }
            let upto = end.min(self.buf.len());
            r.read_exact(&mut self.buf[filled..upto]).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    truncated()
                } else {
                    e
                }
            })?;
            filled = upto;
        }
        Ok(true)
    }

    /// The payload of the frame last read.
    pub fn payload(&self) -> &[u8] {
        &self.buf[HEADER..HEADER + self.len]
    }

    /// The frame last read, header and payload, as it came.
    pub fn whole(&self) -> &[u8] {
        &self.buf[..HEADER + self.len]
    }
}

/// End of stream after `filled` header bytes: clean if none had arrived.
fn end_in_header(filled: usize) -> io::Result<Option<Vec<u8>>> {
    if filled == 0 {
        Ok(None)
    } else {
        Err(truncated())
    }
}

fn payload_len(header: [u8; HEADER]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header);
    match usize::try_from(len) {
        Ok(len) if len <= MAX_FRAME => Ok(len),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "agent frame of {len} bytes is over the limit of {MAX_FRAME} bytes; \
                 the remote side is not a prtools agent of this version"
            ),
        )),
    }
}

fn check_complete(payload: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
    if payload.len() == len {
        Ok(payload)
    } else {
        Err(truncated())
    }
}

fn header_for(payload: &[u8]) -> io::Result<[u8; HEADER]> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "agent frame of {} bytes is over the limit of {MAX_FRAME} bytes",
                payload.len()
            ),
        ));
    }
    // Fits: MAX_FRAME is below u32::MAX.
    Ok((payload.len() as u32).to_be_bytes())
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "agent stream ended inside a frame",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an async read on a fresh current-thread runtime.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    type ReadResult = io::Result<Option<Vec<u8>>>;

    /// Reads one frame from `wire` both ways: blocking, then async.
    fn read_both(wire: &[u8]) -> (ReadResult, ReadResult) {
        let blocking = read_frame_blocking(&mut &wire[..]);
        let mut input = wire;
        let nonblocking = block_on(read_frame(&mut input));
        (blocking, nonblocking)
    }

    fn assert_err(result: ReadResult, kind: io::ErrorKind, needle: &str) {
        match result {
            Err(e) => {
                assert_eq!(e.kind(), kind, "{e}");
                assert!(e.to_string().contains(needle), "'{needle}' not in: {e}");
            }
            Ok(frame) => panic!("expected an error, got {frame:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let payloads: [&[u8]; 3] = [b"one", &[0xff; 70_000], b"three"];
        let mut wire = Vec::new();
        for p in payloads {
            write_frame_blocking(&mut wire, p).unwrap();
        }
        let mut async_wire = Vec::new();
        block_on(async {
            for p in payloads {
                write_frame(&mut async_wire, p).await.unwrap();
            }
        });
        assert_eq!(wire, async_wire);

        let mut input = &wire[..];
        for p in payloads {
            assert_eq!(read_frame_blocking(&mut input).unwrap().unwrap(), p);
        }
        assert!(read_frame_blocking(&mut input).unwrap().is_none());

        let mut input = &wire[..];
        block_on(async {
            for p in payloads {
                assert_eq!(read_frame(&mut input).await.unwrap().unwrap(), p);
            }
            assert!(read_frame(&mut input).await.unwrap().is_none());
        });
    }

    #[test]
    fn empty_payload() {
        let mut wire = Vec::new();
        write_frame_blocking(&mut wire, b"").unwrap();
        assert_eq!(wire, [0, 0, 0, 0]);
        let (a, b) = read_both(&wire);
        assert_eq!(a.unwrap(), Some(Vec::new()));
        assert_eq!(b.unwrap(), Some(Vec::new()));
    }

    #[test]
    fn clean_eof() {
        let (a, b) = read_both(b"");
        assert!(a.unwrap().is_none());
        assert!(b.unwrap().is_none());
    }

    #[test]
    fn oversize_length_refused() {
        // "SSH-" read as a length: what a stray banner on stdout looks like. No payload
        // follows, so an attempt to read it would fail with a different error.
        for header in [*b"SSH-", u32::MAX.to_be_bytes(), [0x01, 0, 0, 1]] {
            let len = u32::from_be_bytes(header);
            let (a, b) = read_both(&header);
            for result in [a, b] {
                assert_err(result, io::ErrorKind::InvalidData, &len.to_string());
            }
        }
        let (a, _) = read_both(&[0x01, 0, 0, 1]);
        assert_err(a, io::ErrorKind::InvalidData, "limit of 16777216 bytes");
    }

    #[test]
    fn largest_frame_accepted() {
        let payload = vec![7u8; MAX_FRAME];
        let mut wire = Vec::new();
        write_frame_blocking(&mut wire, &payload).unwrap();
        assert_eq!(
            read_frame_blocking(&mut &wire[..]).unwrap().unwrap().len(),
            MAX_FRAME
        );
    }

    #[test]
    fn oversize_write_refused() {
        let payload = vec![0u8; MAX_FRAME + 1];
        let err = write_frame_blocking(&mut Vec::new(), &payload).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = block_on(write_frame(&mut Vec::new(), &payload)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn truncated_header() {
        let (a, b) = read_both(&[0, 0]);
        assert_err(a, io::ErrorKind::UnexpectedEof, "ended inside a frame");
        assert_err(b, io::ErrorKind::UnexpectedEof, "ended inside a frame");
    }

    #[test]
    fn truncated_payload() {
        let (a, b) = read_both(b"\0\0\0\x0aonly5");
        assert_err(a, io::ErrorKind::UnexpectedEof, "ended inside a frame");
        assert_err(b, io::ErrorKind::UnexpectedEof, "ended inside a frame");
    }

    #[test]
    fn frame_buf_reuses_one_buffer_and_keeps_the_frame_whole() {
        let mut wire = Vec::new();
        let big = vec![9u8; 3 * INITIAL_CAPACITY + 5];
        for payload in [&b"ab"[..], &big, b"", b"xyz"] {
            write_frame_blocking(&mut wire, payload).unwrap();
        }
        let mut input = &wire[..];
        let mut frames = FrameBuf::new();
        let mut seen = Vec::new();
        while frames.read_blocking(&mut input).unwrap() {
            let mut again = Vec::new();
            write_frame_blocking(&mut again, frames.payload()).unwrap();
            assert_eq!(frames.whole(), &again[..]);
            seen.push(frames.payload().to_vec());
        }
        assert_eq!(seen, [b"ab".to_vec(), big, vec![], b"xyz".to_vec()]);
    }

    #[test]
    fn frame_buf_refuses_what_read_frame_refuses() {
        for wire in [&b"\0\0"[..], b"\0\0\0\x0aonly5", b"\xff\xff\xff\xff"] {
            let mut frames = FrameBuf::new();
            let err = frames.read_blocking(&mut &wire[..]).unwrap_err();
            let plain = read_frame_blocking(&mut &wire[..]).unwrap_err();
            assert_eq!(err.kind(), plain.kind());
            assert_eq!(err.to_string(), plain.to_string());
        }
    }

    #[test]
    fn sealed_frames_read_back() {
        let mut buf = vec![0u8; HEADER + 3];
        buf[HEADER..].copy_from_slice(b"abc");
        let frame = seal(&mut buf).unwrap().to_vec();
        assert_eq!(
            read_frame_blocking(&mut &frame[..]).unwrap().unwrap(),
            b"abc"
        );
        assert!(seal(&mut [0u8; 2]).is_err());
    }
}
