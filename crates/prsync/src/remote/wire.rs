//! What prsync and its agent say to each other: postcard messages inside the transport's
//! length-checked frames.
//!
//! A push (`SRC host:DEST`): the client sends `Hello` with the options and DEST, then the
//! file list; the agent runs the receiver, which asks for each file it lacks with `Want`
//! (with the signature of its old copy for a delta) and gets `Data` frames and `Sent`; the
//! receiver's lines come back as `Out`, and the agent ends with `Done`. A pull
//! (`host:SRC DEST`) is the same with the roles swapped: the agent lists and sends, the
//! client receives, and `Finish` tells the agent to go.

use std::io::{self, Read, Write};

use prtools_sync::Mtime;
use prtools_transport::frame::HEADER;
use prtools_transport::{read_frame_blocking, write_frame_blocking, Progress, MAX_FRAME};
use serde::{Deserialize, Serialize};

use crate::flist::{FileEntry, FileKind};
use crate::sender::Sent;

/// Bumped when messages change; each side refuses another.
pub const PROTOCOL: u32 = 4;

/// File bytes per `Data` message.
pub const CHUNK: usize = 256 * 1024;

/// Every message, both ways.
///
/// Byte payloads are `serde_bytes`: serde would otherwise write and read them as sequences,
/// one call per byte, which made file data cost more CPU than ssh's encryption of it. The
/// wire format is the same either way (postcard writes the length, then the bytes).
#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// Starts a job: the options as prsync flags, and what the agent does.
    Hello {
        /// [`PROTOCOL`] of the client.
        protocol: u32,
        /// Options for the agent's parser (filters as `--filter` rules).
        args: Vec<Vec<u8>>,
        /// What the agent does.
        job: Job,
    },
    /// Part of the file list.
    List(Vec<WireEntry>),
    /// The file list is complete; problems met while listing, for the receiver to print.
    EndList {
        /// Messages, one a problem.
        errors: Vec<String>,
        /// Notices (skipped non-regular files).
        notices: Vec<String>,
    },
    /// The receiver wants entry `index`: whole, or as a delta against this signature.
    Want {
        /// Index in the file list.
        index: u32,
        /// `Signature::to_bytes` of the receiver's old copy.
        #[serde(with = "serde_bytes")]
        signature: Option<Vec<u8>>,
    },
    /// The receiver asks for the signature of entry `index` as the sender has it (a push:
    /// one signature of each file serves every host).
    WantSignature {
        /// Index in the file list.
        index: u32,
        /// `-B`.
        block_size: Option<u32>,
    },
    /// `Signature::to_bytes`, or `None` when the sender does not offer signatures.
    Signature(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// The receiver asks for these byte ranges of entry `index`: what its old copy lacks.
    WantRanges {
        /// Index in the file list.
        index: u32,
        /// `(start, end)` byte offsets, in order.
        ranges: Vec<(u64, u64)>,
    },
    /// File bytes (whole, or the delta stream).
    Data(#[serde(with = "serde_bytes")] Vec<u8>),
    /// File bytes compressed with zstd (`-z`); at most [`CHUNK`] once decompressed.
    Zdata(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The data of the wanted entry is complete.
    Sent {
        /// Bytes sent as they are.
        literal: u64,
        /// Bytes the receiver copied from its old file.
        matched: u64,
        /// Bytes on the wire.
        wire: u64,
        /// The delta search's counts: blocks found, hash hits, false alarms
        /// (`--debug=deltasum`, printed where the receiver prints its summary).
        search: (u64, u64, u64),
    },
    /// The sender could not read the wanted entry.
    Failed(String),
    /// Bytes of the receiver's standard output (`-i`, `-v`, `--stats` lines).
    Out(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The agent's job is over, with rsync's exit status.
    Done(i32),
    /// A pull is over: the agent may exit.
    Finish,
}

/// What the agent is started for.
#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    /// Receive into DEST (a push).
    Receive {
        /// DEST as typed after `host:`.
        dest: Vec<u8>,
    },
    /// List and send these paths (a pull).
    Send {
        /// The remote sources as typed.
        sources: Vec<Vec<u8>>,
    },
    /// Send this file's bytes as `Data`, then `Done(0)` (`--files-from=host:FILE`).
    Read {
        /// FILE as typed after `host:`.
        path: Vec<u8>,
    },
}

/// A file-list entry as it travels.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireEntry {
    name: Vec<u8>,
    kind: u8,
    size: u64,
    target: Vec<u8>,
    rdev: u64,
    mode: u32,
    secs: i64,
    nanos: u32,
    uid: u32,
    gid: u32,
    hlink: Option<u32>,
    checksum: Option<u128>,
    implied: bool,
    // Protocol 4 adds these three at the end, so that the fields above keep their format.
    xattrs: Vec<(XattrBytes, XattrBytes)>,
    atime: Option<(i64, u32)>,
    acl: Option<String>,
}

/// An attribute's name or value, written as one length and the bytes (see [`Msg`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct XattrBytes(#[serde(with = "serde_bytes")] Vec<u8>);

impl From<&FileEntry> for WireEntry {
    fn from(e: &FileEntry) -> WireEntry {
        let (kind, size, target, rdev) = match &e.kind {
            FileKind::Regular { size } => (0, *size, Vec::new(), 0),
            FileKind::Dir => (1, 0, Vec::new(), 0),
            FileKind::Symlink { target } => (2, 0, target.clone(), 0),
            FileKind::Device { rdev } => (3, 0, Vec::new(), *rdev),
            FileKind::Special => (4, 0, Vec::new(), 0),
            FileKind::Missing => (5, 0, Vec::new(), 0),
        };
        WireEntry {
            name: e.name.clone(),
            kind,
            size,
            target,
            rdev,
            mode: e.mode,
            secs: e.mtime.secs,
            nanos: e.mtime.nanos,
            uid: e.uid,
            gid: e.gid,
            hlink: e.hlink,
            checksum: e.checksum,
            implied: e.implied,
            xattrs: e
                .xattrs
                .iter()
                .map(|(n, v)| (XattrBytes(n.clone()), XattrBytes(v.clone())))
                .collect(),
            atime: e.atime.map(|t| (t.secs, t.nanos)),
            acl: e.acl.clone(),
        }
    }
}

impl WireEntry {
    /// Checks an entry from the other side: `.`, or a relative path without `..`.
    pub fn into_entry(self) -> Result<FileEntry, String> {
        if self.name != b"." {
            prtools_sync::RelPath::new(self.name.clone())
                .map_err(|e| format!("refused a file-list name: {e}"))?;
        }
        let kind = match self.kind {
            0 => FileKind::Regular { size: self.size },
            1 => FileKind::Dir,
            2 => FileKind::Symlink {
                target: self.target,
            },
            3 => FileKind::Device { rdev: self.rdev },
            4 => FileKind::Special,
            5 => FileKind::Missing,
            other => return Err(format!("unknown file-list entry kind {other}")),
        };
        if self.nanos >= 1_000_000_000 {
            return Err("bad modification time in the file list".into());
        }
        if self.atime.is_some_and(|(_, n)| n >= 1_000_000_000) {
            return Err("bad access time in the file list".into());
        }
        Ok(FileEntry {
            name: self.name,
            kind,
            mode: self.mode,
            mtime: Mtime {
                secs: self.secs,
                nanos: self.nanos,
            },
            uid: self.uid,
            gid: self.gid,
            hlink: self.hlink,
            checksum: self.checksum,
            implied: self.implied,
            xattrs: self.xattrs.into_iter().map(|(n, v)| (n.0, v.0)).collect(),
            atime: self.atime.map(|(secs, nanos)| Mtime { secs, nanos }),
            acl: self.acl,
        })
    }
}

impl From<Sent> for Msg {
    fn from(s: Sent) -> Msg {
        Msg::Sent {
            literal: s.literal,
            matched: s.matched,
            wire: s.wire,
            search: (s.search.matches, s.search.hash_hits, s.search.false_alarms),
        }
    }
}

/// A message as a frame carries it (see [`Link::send_encoded`]).
pub fn encode(msg: &Msg) -> io::Result<Vec<u8>> {
    postcard::to_allocvec(msg).map_err(io::Error::other)
}

/// One end of the agent link, blocking.
///
/// Frames are read through a buffer of the link's own, so that it can tell whether the next
/// message is already here: only when it is not does [`Link::receive`] flush what this side
/// has written, and then wait. A side answering many requests (the sender serving a window
/// of files asked ahead) thus answers each batch in a few large writes instead of one write,
/// one wake-up of the other side and one ssh packet per message; with 16 hosts and 50,000
/// small files those were most of the client's CPU in a first copy.
pub struct Link<R: Read, W: Write> {
    input: R,
    output: W,
    /// Bytes read and not yet taken: `inbuf[start..end]`. It grows only as bytes arrive,
    /// up to one whole frame (at most `MAX_FRAME`, whose header is checked first).
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The least the link reads at a time (it reads more when a frame needs it).
const READ_AHEAD: usize = 64 * 1024;

impl<R: Read, W: Write> Link<R, W> {
    /// A link over these two streams (buffer the output; the input is read in large reads).
    pub fn new(input: R, output: W) -> Self {
        Link {
            input,
            output,
            inbuf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Sends one message; call [`Link::flush`] before waiting for an answer.
    pub fn send(&mut self, msg: &Msg) -> io::Result<()> {
        self.send_encoded(&encode(msg)?)
    }

    /// Sends a message [`encode`] made: for one message sent to many hosts, encoded once.
    pub fn send_encoded(&mut self, payload: &[u8]) -> io::Result<()> {
        write_frame_blocking(&mut self.output, payload)
    }

    /// Pushes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }

    /// The next message; an error at the end of the stream, which is never expected here.
    /// What this side wrote is flushed first unless the message has already arrived.
    pub fn receive(&mut self) -> io::Result<Msg> {
        loop {
            if let Some(payload) = self.buffered_frame()? {
                let msg = postcard::from_bytes(payload).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("malformed prsync message: {e}"),
                    )
                });
                self.start += HEADER + payload_len_of(&self.inbuf[self.start..]);
                return msg;
            }
            self.flush()?;
            if !self.fill()? {
                // The end of the stream: what is left is judged as the frame reader judges
                // it, so a cut stream gets the same error as ever.
                let mut rest = &self.inbuf[self.start..self.end];
                return match read_frame_blocking(&mut rest)? {
                    Some(_) => unreachable!("a whole frame is taken before reading more"),
                    None => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the other side hung up",
                    )),
                };
            }
        }
    }

    /// The payload of the next frame if all of it is in the buffer. A header over the
    /// limit is refused here, before anything is read for it.
    fn buffered_frame(&self) -> io::Result<Option<&[u8]>> {
        let have = &self.inbuf[self.start..self.end];
        if have.len() < HEADER {
            return Ok(None);
        }
        let len = payload_len_of(have);
        if len > MAX_FRAME {
            // The frame reader words the refusal.
            let mut header = &have[..HEADER];
            read_frame_blocking(&mut header)?;
        }
        Ok(have.get(HEADER..HEADER + len))
    }

    /// Reads what the input has (waiting for at least a byte); false at its end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = match self.end >= HEADER {
            // The rest of a frame whose length is known (and checked), or more.
            true => (HEADER + payload_len_of(&self.inbuf)).max(self.end + READ_AHEAD),
            false => self.end + READ_AHEAD,
        };
        if self.inbuf.len() < want {
            // Grows with what arrives: a large frame's room is made as its bytes come in,
            // one read's worth at a time.
            let grown = want
                .min(self.inbuf.len().max(READ_AHEAD) * 2)
                .max(self.end + READ_AHEAD);
            self.inbuf.resize(grown, 0);
        }
        loop {
            match self.input.read(&mut self.inbuf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The payload length a frame's header (the first [`HEADER`] bytes of `frame`) gives.
fn payload_len_of(frame: &[u8]) -> usize {
    let mut header = [0u8; HEADER];
    header.copy_from_slice(&frame[..HEADER]);
    u32::from_be_bytes(header) as usize
}

/// How file data goes on the wire: compressed or not, and how fast at most.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    /// `-z`: each chunk compressed with zstd, at this level.
    pub compress: Option<i32>,
    /// `--bwlimit`, bytes per second.
    pub bwlimit: Option<u64>,
}

/// zstd's level for `-z` without `--compress-level`: its default, fast enough that a gigabit
/// link stays the limit.
pub const ZSTD_LEVEL: i32 = 3;

/// A writer that turns bytes into `Data` (or `Zdata`) messages of at most [`CHUNK`], at most
/// as fast as the shape allows.
pub struct DataWriter<'a, R: Read, W: Write> {
    link: &'a mut Link<R, W>,
    buf: Vec<u8>,
    shape: Shape,
    pacer: Option<crate::pace::Pacer>,
    progress: &'a Progress,
    /// File bytes written so far, before compression.
    pub moved: u64,
}

impl<'a, R: Read, W: Write> DataWriter<'a, R, W> {
    /// Writes into `link`, telling `progress` of every chunk.
    pub fn new(link: &'a mut Link<R, W>, shape: Shape, progress: &'a Progress) -> Self {
        DataWriter {
            link,
            // Grown as bytes come: most files are far smaller than a chunk.
            buf: Vec::new(),
            shape,
            pacer: shape.bwlimit.map(crate::pace::Pacer::new),
            progress,
            moved: 0,
        }
    }
}

impl<R: Read, W: Write> Write for DataWriter<'_, R, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.moved += data.len() as u64;
        self.progress.moved(data.len() as u64);
        let msg = if let Some(level) = self.shape.compress {
            let z = zstd::bulk::compress(&data, level)?;
            self.buf = data;
            Msg::Zdata(z)
        } else {
            Msg::Data(data)
        };
        let wire = match &msg {
            Msg::Zdata(z) | Msg::Data(z) => z.len() as u64,
            _ => 0,
        };
        self.link.send(&msg)?;
        // The chunk's buffer serves the next one.
        if let Msg::Data(data) = msg {
            self.buf = data;
        }
        self.buf.clear();
        if let Some(pacer) = &mut self.pacer {
            let link = &mut self.link;
            pacer.pace(wire, || {
                link.flush().ok();
            });
        }
        Ok(())
    }
}

/// The bytes of a `Zdata` message, refusing more than [`CHUNK`] (a hostile peer cannot make
/// a small message into a large allocation).
pub fn unzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    zstd::bulk::decompress(bytes, CHUNK).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad compressed file data: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_chunks_round_trip_and_bombs_are_refused() {
        let data = vec![7u8; CHUNK];
        let z = zstd::bulk::compress(&data, ZSTD_LEVEL).unwrap();
        assert!(z.len() < 1000);
        assert_eq!(unzip(&z).unwrap(), data);
        let bomb = zstd::bulk::compress(&vec![0u8; 4 * CHUNK], ZSTD_LEVEL).unwrap();
        assert!(unzip(&bomb).is_err());
        assert!(unzip(b"not zstd").is_err());
    }

    /// A writer that counts its flushes.
    #[derive(Default)]
    struct Flushes(std::rc::Rc<std::cell::Cell<usize>>);

    impl Write for Flushes {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            self.0.set(self.0.get() + 1);
            Ok(())
        }
    }

    fn frames(msgs: &[Msg]) -> Vec<u8> {
        let mut wire = Vec::new();
        for msg in msgs {
            write_frame_blocking(&mut wire, &postcard::to_allocvec(msg).unwrap()).unwrap();
        }
        wire
    }

    #[test]
    fn a_link_flushes_only_before_it_waits() {
        let big = vec![5; 3 * READ_AHEAD];
        let wire = frames(&[Msg::Done(1), Msg::Finish, Msg::Data(big.clone())]);
        let flushes = Flushes::default();
        let count = flushes.0.clone();
        let mut link = Link::new(&wire[..], flushes);
        assert!(matches!(link.receive().unwrap(), Msg::Done(1)));
        assert_eq!(count.get(), 1, "nothing had arrived: flushed, then read");
        link.send(&Msg::Finish).unwrap();
        assert!(matches!(link.receive().unwrap(), Msg::Finish));
        assert_eq!(count.get(), 1, "the answer was already here: no flush");
        // A frame larger than a read arrives in several; each wait flushes first.
        assert!(matches!(link.receive().unwrap(), Msg::Data(d) if d == big));
        let after_data = count.get();
        assert!(after_data > 1);
        let end = link.receive().unwrap_err();
        assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(count.get(), after_data + 1);
    }

    #[test]
    fn a_link_refuses_cut_and_oversized_frames_as_the_frame_reader_does() {
        let whole = frames(&[Msg::Data(vec![1; 100])]);
        for cut in [2, HEADER, HEADER + 50] {
            let mut link = Link::new(&whole[..cut], std::io::sink());
            let got = link.receive().unwrap_err().to_string();
            let want = read_frame_blocking(&mut &whole[..cut])
                .unwrap_err()
                .to_string();
            assert_eq!(got, want);
        }
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let mut link = Link::new(&huge[..], std::io::sink());
        let got = link.receive().unwrap_err().to_string();
        assert!(got.contains("over the limit"), "{got}");
        assert!(
            link.inbuf.len() <= 2 * READ_AHEAD,
            "nothing is allocated for it"
        );
    }

    #[test]
    fn byte_payloads_keep_the_wire_format_of_a_sequence() {
        // What an agent of the same PROTOCOL built before `serde_bytes` sends and reads.
        #[derive(Serialize)]
        enum Before {
            _Hello,
            _List,
            _EndList,
            _Want,
            _WantSignature,
            Signature(Option<Vec<u8>>),
            _WantRanges,
            Data(Vec<u8>),
        }
        let bytes = vec![0u8, 1, 127, 128, 255];
        assert_eq!(
            postcard::to_allocvec(&Msg::Data(bytes.clone())).unwrap(),
            postcard::to_allocvec(&Before::Data(bytes.clone())).unwrap()
        );
        assert_eq!(
            postcard::to_allocvec(&Msg::Signature(Some(bytes.clone()))).unwrap(),
            postcard::to_allocvec(&Before::Signature(Some(bytes.clone()))).unwrap()
        );
        let old = postcard::to_allocvec(&Before::Data(bytes.clone())).unwrap();
        assert!(matches!(postcard::from_bytes(&old).unwrap(), Msg::Data(b) if b == bytes));
    }

    #[test]
    fn hostile_names_are_refused() {
        let mut e = WireEntry::from(&FileEntry {
            mtime: Mtime { secs: 1, nanos: 0 },
            ..FileEntry::new(b"ok".to_vec(), FileKind::Dir, 0o40755)
        });
        assert!(e.clone().into_entry().is_ok());
        for bad in [&b"../x"[..], b"/etc/passwd", b"a/../../b", b""] {
            e.name = bad.to_vec();
            assert!(e.clone().into_entry().is_err(), "{bad:?}");
        }
        e.name = b".".to_vec();
        assert!(e.into_entry().is_ok());
    }
}
