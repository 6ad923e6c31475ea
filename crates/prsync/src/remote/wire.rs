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
use prtools_transport::{read_frame_blocking, write_frame_blocking, Progress};
use serde::{Deserialize, Serialize};

use crate::flist::{FileEntry, FileKind};
use crate::sender::Sent;

/// Bumped when messages change; each side refuses another.
pub const PROTOCOL: u32 = 3;

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
}

impl From<&FileEntry> for WireEntry {
    fn from(e: &FileEntry) -> WireEntry {
        let (kind, size, target, rdev) = match &e.kind {
            FileKind::Regular { size } => (0, *size, Vec::new(), 0),
            FileKind::Dir => (1, 0, Vec::new(), 0),
            FileKind::Symlink { target } => (2, 0, target.clone(), 0),
            FileKind::Device { rdev } => (3, 0, Vec::new(), *rdev),
            FileKind::Special => (4, 0, Vec::new(), 0),
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
            other => return Err(format!("unknown file-list entry kind {other}")),
        };
        if self.nanos >= 1_000_000_000 {
            return Err("bad modification time in the file list".into());
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
        })
    }
}

impl From<Sent> for Msg {
    fn from(s: Sent) -> Msg {
        Msg::Sent {
            literal: s.literal,
            matched: s.matched,
            wire: s.wire,
        }
    }
}

/// One end of the agent link, blocking.
pub struct Link<R: Read, W: Write> {
    input: R,
    output: W,
}

impl<R: Read, W: Write> Link<R, W> {
    /// A link over these two streams (buffer them).
    pub fn new(input: R, output: W) -> Self {
        Link { input, output }
    }

    /// Sends one message; call [`Link::flush`] before waiting for an answer.
    pub fn send(&mut self, msg: &Msg) -> io::Result<()> {
        let payload = postcard::to_allocvec(msg).map_err(io::Error::other)?;
        write_frame_blocking(&mut self.output, &payload)
    }

    /// Pushes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }

    /// The next message; an error at the end of the stream, which is never expected here.
    pub fn receive(&mut self) -> io::Result<Msg> {
        self.flush()?;
        match read_frame_blocking(&mut self.input)? {
            Some(payload) => postcard::from_bytes(&payload).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed prsync message: {e}"),
                )
            }),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the other side hung up",
            )),
        }
    }
}

/// How file data goes on the wire: compressed or not, and how fast at most.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shape {
    /// `-z`: each chunk compressed with zstd.
    pub compress: bool,
    /// `--bwlimit`, bytes per second.
    pub bwlimit: Option<u64>,
}

/// zstd's level for `-z`: its default, fast enough that a gigabit link stays the limit.
const ZSTD_LEVEL: i32 = 3;

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
            buf: Vec::with_capacity(CHUNK),
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
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.moved += data.len() as u64;
        self.progress.moved(data.len() as u64);
        let msg = if self.shape.compress {
            Msg::Zdata(zstd::bulk::compress(&data, ZSTD_LEVEL)?)
        } else {
            Msg::Data(data)
        };
        let wire = match &msg {
            Msg::Zdata(z) | Msg::Data(z) => z.len() as u64,
            _ => 0,
        };
        self.link.send(&msg)?;
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
            name: b"ok".to_vec(),
            kind: FileKind::Dir,
            mode: 0o40755,
            mtime: Mtime { secs: 1, nanos: 0 },
            uid: 0,
            gid: 0,
            hlink: None,
            checksum: None,
            implied: false,
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
