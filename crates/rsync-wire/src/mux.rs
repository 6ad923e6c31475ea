//! The multiplexed stream: after the handshake rsync sends everything in frames of a
//! 4-byte little-endian header, `((7 + tag) << 24) | length`, then `length` bytes. Tag 0
//! is the data stream; other tags are messages that may fall between any two data bytes,
//! so a reader must take them out as it reads and act on each at once (an error printed
//! late reads as belonging to the wrong file).

use std::io::{self, Read, Write};

use crate::codec::invalid;

/// What rsync adds to a tag in the header's top byte.
const MPLEX_BASE: u32 = 7;
/// The largest frame rsync accepts: the length has 24 bits.
const MAX_FRAME: usize = 0xFF_FFFF;
/// How much data one outgoing frame carries: rsync's own I/O buffer size keeps to this.
pub const DATA_FRAME: usize = 32 * 1024;

/// A frame's tag (rsync's `MSG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Bytes of the data stream.
    Data,
    /// An error about one file's transfer (exit 23 follows).
    ErrorXfer,
    /// A notice for standard output.
    Info,
    /// An error for standard error.
    Error,
    /// A warning for standard error.
    Warning,
    /// A socket error between rsync's own processes.
    ErrorSocket,
    /// A line for the log file only.
    Log,
    /// A line for the client only.
    Client,
    /// An error converting a name's characters.
    ErrorUtf8,
    /// The receiver asks the generator to redo a file.
    Redo,
    /// Transfer totals.
    Stats,
    /// The sender hit an I/O error (an int of error bits follows).
    IoError,
    /// A daemon's timeout.
    IoTimeout,
    /// Nothing: a keep-alive.
    Noop,
    /// The peer is exiting with an error (protocol 31 on; an int code may follow).
    ErrorExit,
    /// A file was updated (for `--remove-source-files`).
    Success,
    /// The receiver deleted a name (for `-i`'s `*deleting` lines).
    Deleted,
    /// The sender could not open a file that was asked for.
    NoSend,
    /// A tag this code does not know.
    Other(u8),
}

impl Tag {
    /// The tag from its number.
    pub fn from_code(code: u8) -> Tag {
        match code {
            0 => Tag::Data,
            1 => Tag::ErrorXfer,
            2 => Tag::Info,
            3 => Tag::Error,
            4 => Tag::Warning,
            5 => Tag::ErrorSocket,
            6 => Tag::Log,
            7 => Tag::Client,
            8 => Tag::ErrorUtf8,
            9 => Tag::Redo,
            10 => Tag::Stats,
            22 => Tag::IoError,
            33 => Tag::IoTimeout,
            42 => Tag::Noop,
            86 => Tag::ErrorExit,
            100 => Tag::Success,
            101 => Tag::Deleted,
            102 => Tag::NoSend,
            other => Tag::Other(other),
        }
    }

    /// The tag's number.
    pub fn code(self) -> u8 {
        match self {
            Tag::Data => 0,
            Tag::ErrorXfer => 1,
            Tag::Info => 2,
            Tag::Error => 3,
            Tag::Warning => 4,
            Tag::ErrorSocket => 5,
            Tag::Log => 6,
            Tag::Client => 7,
            Tag::ErrorUtf8 => 8,
            Tag::Redo => 9,
            Tag::Stats => 10,
            Tag::IoError => 22,
            Tag::IoTimeout => 33,
            Tag::Noop => 42,
            Tag::ErrorExit => 86,
            Tag::Success => 100,
            Tag::Deleted => 101,
            Tag::NoSend => 102,
            Tag::Other(code) => code,
        }
    }
}

/// A frame's header.
pub fn header(tag: Tag, len: usize) -> [u8; 4] {
    debug_assert!(len <= MAX_FRAME);
    (((MPLEX_BASE + u32::from(tag.code())) << 24) | len as u32).to_le_bytes()
}

/// Parses a frame's header into its tag and length.
pub fn parse_header(h: [u8; 4]) -> io::Result<(Tag, usize)> {
    let word = u32::from_le_bytes(h);
    let top = word >> 24;
    if top < MPLEX_BASE {
        return Err(invalid(format!(
            "a frame header {word:#010x} without rsync's multiplex mark"
        )));
    }
    Ok((
        Tag::from_code((top - MPLEX_BASE) as u8),
        (word & 0xFF_FFFF) as usize,
    ))
}

/// Appends `data` as data frames.
pub fn frame_data(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(DATA_FRAME) {
        out.extend_from_slice(&header(Tag::Data, chunk.len()));
        out.extend_from_slice(chunk);
    }
}

/// Writes one message frame.
pub fn write_message(w: &mut impl Write, tag: Tag, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(invalid(format!("a message of {} bytes", body.len())));
    }
    w.write_all(&header(tag, body.len()))?;
    w.write_all(body)
}

/// Reads the data stream out of frames, handing every message to `on_message` as it
/// comes; the handler's error ends the read (a peer's fatal error, say).
pub struct Demux<R, F> {
    inner: R,
    on_message: F,
    /// Data bytes left in the current data frame.
    left: usize,
    /// The stream is not framed (a client's below protocol 30): all of it is data.
    raw: bool,
}

impl<R: Read, F: FnMut(Tag, Vec<u8>) -> io::Result<()>> Demux<R, F> {
    /// A reader of the frames on `inner`.
    pub fn new(inner: R, on_message: F) -> Self {
        Demux {
            inner,
            on_message,
            left: 0,
            raw: false,
        }
    }

    /// As [`new`](Self::new), or (`framed` false) a reader that passes the stream
    /// through whole, as a client's stream to a receiving server below protocol 30 is.
    pub fn framed(mut self, framed: bool) -> Self {
        self.raw = !framed;
        self
    }

    /// The stream under the frames.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The stream under the frames, when no data frame is part-read: below protocol 31
    /// an rsync client stops framing while it forwards `--files-from` names, so those
    /// are read from here. An error if the last frame still holds data, which would be
    /// read out of order.
    pub fn between_frames(&mut self) -> io::Result<&mut R> {
        if self.left > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} bytes of a data frame before unframed data", self.left),
            ));
        }
        Ok(&mut self.inner)
    }
}

impl<R: Read, F: FnMut(Tag, Vec<u8>) -> io::Result<()>> Read for Demux<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.raw {
            return self.inner.read(buf);
        }
        while self.left == 0 {
            let mut h = [0u8; 4];
            self.inner.read_exact(&mut h)?;
            let (tag, len) = parse_header(h)?;
            if tag == Tag::Data {
                self.left = len;
                continue;
            }
            let mut body = vec![0u8; len];
            self.inner.read_exact(&mut body)?;
            (self.on_message)(tag, body)?;
        }
        let want = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside a data frame",
            ));
        }
        self.left -= got;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_puts_the_tag_plus_seven_in_the_top_byte() {
        assert_eq!(header(Tag::Data, 5), [5, 0, 0, 7]);
        assert_eq!(header(Tag::Info, 0x010203), [3, 2, 1, 9]);
        assert_eq!(parse_header([3, 2, 1, 9]).unwrap(), (Tag::Info, 0x010203));
        assert_eq!(
            parse_header(header(Tag::Deleted, 4)).unwrap(),
            (Tag::Deleted, 4)
        );
        assert!(parse_header([0, 0, 0, 6]).is_err());
        for code in 0..=255u8 {
            assert_eq!(Tag::from_code(code).code(), code);
        }
    }

    #[test]
    fn messages_between_data_reach_the_handler_in_order() {
        let mut wire = Vec::new();
        frame_data(&mut wire, b"hel");
        write_message(&mut wire, Tag::Info, b"one\n").unwrap();
        frame_data(&mut wire, b"");
        write_message(&mut wire, Tag::Error, b"two\n").unwrap();
        frame_data(&mut wire, b"lo");
        let mut seen = Vec::new();
        let mut out = Vec::new();
        {
            let mut demux = Demux::new(&wire[..], |tag, body| {
                seen.push((tag, body));
                Ok(())
            });
            demux.read_to_end(&mut out).unwrap_or_default();
            let mut five = [0u8; 5];
            let mut again = Demux::new(&wire[..], |_, _| Ok(()));
            again.read_exact(&mut five).unwrap();
            assert_eq!(&five, b"hello");
        }
        assert_eq!(
            seen,
            vec![
                (Tag::Info, b"one\n".to_vec()),
                (Tag::Error, b"two\n".to_vec())
            ]
        );
    }

    #[test]
    fn big_data_is_cut_into_frames() {
        let data = vec![7u8; DATA_FRAME * 2 + 10];
        let mut wire = Vec::new();
        frame_data(&mut wire, &data);
        assert_eq!(wire.len(), data.len() + 3 * 4);
        let mut back = vec![0u8; data.len()];
        Demux::new(&wire[..], |_, _| Ok(()))
            .read_exact(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_handler_error_stops_the_read() {
        let mut wire = Vec::new();
        write_message(&mut wire, Tag::ErrorExit, &[]).unwrap();
        frame_data(&mut wire, b"x");
        let mut one = [0u8; 1];
        let err = Demux::new(&wire[..], |_, _| Err(io::Error::other("peer quit")))
            .read_exact(&mut one)
            .unwrap_err();
        assert_eq!(err.to_string(), "peer quit");
    }

    #[test]
    fn unframed_data_is_read_only_after_a_whole_frame() {
        let mut wire = Vec::new();
        frame_data(&mut wire, b"abc");
        wire.extend_from_slice(b"raw\0\0");
        let mut demux = Demux::new(&wire[..], |_, _| Ok(()));
        let mut two = [0u8; 2];
        demux.read_exact(&mut two).unwrap();
        assert!(demux.between_frames().is_err());
        let mut one = [0u8; 1];
        demux.read_exact(&mut one).unwrap();
        let mut rest = Vec::new();
        demux
            .between_frames()
            .unwrap()
            .read_to_end(&mut rest)
            .unwrap();
        assert_eq!(rest, b"raw\0\0");
    }
}
