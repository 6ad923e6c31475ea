//! The messages prcp and its agent exchange, inside transport frames.
//!
//! Each frame's first byte says what it holds: a message (postcard-encoded [`Request`] or
//! [`Reply`]) or raw file bytes. File contents never pass through serde: they are the bulk of
//! every transfer and go as they are.
//!
//! A push is: `Push` → `Ready` (tells the client whether DEST is a directory, which decides
//! the names) → `Entries`… `EndOfList` → `Want` (files that fail the quick check) → for each
//! wanted file `FileStart`, data frames, `FileEnd` → `Stored` per file → `Finish` → `Summary`.
//! A gather is: `Gather` → per entry `Entry` (files followed by data frames and `EndFile`) →
//! `EndOfTree`. Everything the other side names is checked before use: paths become
//! [`RelPath`]s or are refused.

use serde::{Deserialize, Serialize};

use prtools_sync::{Entry, Kind, Mtime, RelPath};
use prtools_transport::frame::HEADER;

/// Bumped when messages change; the agent refuses a client of another protocol.
pub const PROTOCOL: u32 = 3;

/// Largest data frame prcp sends; well under the transport's frame limit.
pub const CHUNK: usize = 256 * 1024;

/// Capacity of the buffers that batch small frames (three messages a file) before a pipe
/// sees them. Smaller than a data frame on purpose: a buffered writer or reader hands a
/// request at least its own size straight through, so file bytes are never copied into one.
pub const BATCH: usize = 64 * 1024;

const TAG_MESSAGE: u8 = 0;
const TAG_DATA: u8 = 1;

/// Client to agent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Start a push.
    Push(PushHeader),
    /// Start a push here and pass every frame of it on to `next[0]`, which is told to pass it
    /// on to the rest. Every host of the chain decides for itself which files it needs and
    /// what DEST means there; the client sends the union of what they want.
    Relay {
        /// The push, as for `Push`.
        header: PushHeader,
        /// DEST's last component: the new name of the top entry where DEST is not a directory.
        rename: Option<Vec<u8>>,
        /// The hosts after this one, in order.
        next: Vec<Hop>,
    },
    /// Part of the file list.
    Entries(Vec<WireEntry>),
    /// The file list is complete.
    EndOfList,
    /// Data frames for entry `index` follow.
    FileStart {
        /// Index in the file list.
        index: u32,
    },
    /// The data of the current file is complete.
    FileEnd,
    /// Nothing more to send.
    Finish,
    /// Start a gather of these paths.
    Gather {
        /// Protocol version of the client.
        protocol: u32,
        /// Remote paths as typed.
        paths: Vec<Vec<u8>>,
        /// Descend into directories.
        recursive: bool,
        /// Send symlinks as symlinks (`--links`); else what they point to, as rpdcp.
        links: bool,
    },
}

/// What starts a push.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushHeader {
    /// Protocol version of the client.
    pub protocol: u32,
    /// The destination as typed.
    pub dest: Vec<u8>,
    /// How many source operands there are.
    pub sources: u32,
    /// Keep modes and mtimes.
    pub preserve: bool,
    /// Ignore the quick check.
    pub force: bool,
    /// Hash every stored file.
    pub verify: bool,
    /// The client can rename the top entry to DEST's name (one source, DEST has a name), so
    /// a DEST that is not a directory is fine; else it must be one, and the agent says so.
    pub renames: bool,
}

/// The next host of a relay chain, as the host before it reaches it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hop {
    /// The host's name, for messages.
    pub host: String,
    /// The command that starts its agent with stdin and stdout as the link: an `ssh` argv.
    pub command: Vec<String>,
}

/// Agent to client.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The push may begin; `into_dir` when DEST is a directory that entries go inside.
    Ready {
        /// DEST is an existing directory.
        into_dir: bool,
    },
    /// Indexes of the files to send.
    Want(Vec<u32>),
    /// Entry `index` is in place; `hash` with --verify.
    Stored {
        /// Index in the file list.
        index: u32,
        /// xxh3-128 of what was written.
        hash: Option<u128>,
    },
    /// Totals of a push.
    Summary {
        /// Files written.
        written: u64,
        /// Entries already up to date.
        skipped: u64,
    },
    /// An entry of a gather; a file's data frames and `EndFile` follow.
    Entry(WireEntry),
    /// The current gathered file is complete.
    EndFile,
    /// The gather is complete.
    EndOfTree,
    /// The agent stops: why.
    Fatal(String),
    /// A reply of the host `hop` places further down a relay chain (1 is the next host).
    Relayed {
        /// Distance down the chain.
        hop: u32,
        /// What that host said: never another `Relayed` (see [`relayed_reply`]).
        #[serde(deserialize_with = "relayed_reply")]
        reply: Box<Reply>,
    },
    /// Nothing more will come from the hosts after this one in a relay chain: the link to the
    /// next host ended, and why. Those that have not finished are served directly.
    NextGone(String),
}

/// Reads the reply inside a `Relayed`, refusing a `Relayed` inside that one.
///
/// Each host of a chain rewrites the hop count rather than wrapping again, so one level is
/// all the protocol uses; without this limit a hostile host could send a frame of nested
/// `Relayed`s that the derived decoder follows until the stack overflows, which aborts the
/// client (found by reading the prcp_protocol fuzz target's types; its regression test is in
/// `tests/fuzz_regressions.rs`). The derived code gives no depth to look at, so a
/// thread-local flag marks that a relayed reply is being read.
fn relayed_reply<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Box<Reply>, D::Error> {
    thread_local!(static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if INSIDE.get() {
        return Err(serde::de::Error::custom(
            "a relayed reply inside a relayed reply",
        ));
    }
    INSIDE.set(true);
    let reply = Reply::deserialize(d);
    INSIDE.set(false);
    reply.map(Box::new)
}

/// An entry as it travels: plain fields, checked into an [`Entry`] on arrival.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireEntry {
    /// Relative path bytes.
    pub path: Vec<u8>,
    /// 0 file, 1 directory, 2 symlink.
    pub kind: u8,
    /// File size.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds.
    pub secs: i64,
    /// Modification time, nanoseconds.
    pub nanos: u32,
    /// Symlink target.
    pub target: Vec<u8>,
}

impl From<&Entry> for WireEntry {
    fn from(e: &Entry) -> WireEntry {
        let (kind, size, target) = match &e.kind {
            Kind::File { size } => (0, *size, Vec::new()),
            Kind::Dir => (1, 0, Vec::new()),
            Kind::Symlink { target } => (2, 0, target.clone()),
        };
        WireEntry {
            path: e.path.as_bytes().to_vec(),
            kind,
            size,
            mode: e.mode,
            secs: e.mtime.secs,
            nanos: e.mtime.nanos,
            target,
        }
    }
}

impl WireEntry {
    /// Checks an entry from the other side: its path must be a safe relative path.
    pub fn into_entry(self) -> Result<Entry, String> {
        let path = RelPath::new(self.path).map_err(|e| e.to_string())?;
        let kind = match self.kind {
            0 => Kind::File { size: self.size },
            1 => Kind::Dir,
            2 => Kind::Symlink {
                target: self.target,
            },
            other => return Err(format!("unknown entry kind {other}")),
        };
        if self.nanos >= 1_000_000_000 {
            return Err("bad modification time".into());
        }
        Ok(Entry {
            path,
            kind,
            mode: self.mode & 0o7777,
            mtime: Mtime {
                secs: self.secs,
                nanos: self.nanos,
            },
        })
    }
}

/// A decoded frame: file bytes as an owned [`Chunk`], or borrowed from a reused buffer.
pub enum Frame<M, D = Chunk> {
    /// A message.
    Message(M),
    /// File bytes.
    Data(D),
}

/// File bytes as they arrived: the frame payload, read past its tag byte without copying.
pub struct Chunk(Vec<u8>);

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[1..]
    }
}

/// A buffer for reading file bytes straight into a data frame: room for the frame header,
/// the tag already in place, and the bytes from `DATA_START` on. Once the transport's `seal`
/// writes the header, the frame goes out in one write, uncopied.
pub fn data_buffer() -> Vec<u8> {
    let mut buf = vec![0u8; DATA_START + CHUNK];
    buf[HEADER] = TAG_DATA;
    buf
}

/// Where file bytes start in a [`data_buffer`]: after the frame header and the tag.
pub const DATA_START: usize = HEADER + 1;

/// Encodes a message frame payload.
pub fn message<M: Serialize>(m: &M) -> Vec<u8> {
    let mut out = vec![TAG_MESSAGE];
    // Serialising plain enums of integers, vectors and strings into a Vec cannot fail.
    out.extend(postcard::to_allocvec(m).unwrap_or_default());
    out
}

/// Encodes a data frame payload.
pub fn data(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(TAG_DATA);
    out.extend_from_slice(bytes);
    out
}

/// Decodes a frame payload read into a reused buffer, refusing anything malformed.
pub fn decode_slice<M: for<'de> Deserialize<'de>>(
    payload: &[u8],
) -> Result<Frame<M, &[u8]>, String> {
    match payload.first() {
        Some(&TAG_MESSAGE) => postcard::from_bytes(&payload[1..])
            .map(Frame::Message)
            .map_err(|e| format!("malformed agent message: {e}")),
        Some(&TAG_DATA) => Ok(Frame::Data(&payload[1..])),
        Some(tag) => Err(format!("unknown agent frame tag {tag}")),
        None => Err("empty agent frame".into()),
    }
}

/// Decodes a frame payload, refusing anything malformed.
pub fn decode<M: for<'de> Deserialize<'de>>(payload: Vec<u8>) -> Result<Frame<M>, String> {
    match decode_slice(&payload)? {
        Frame::Message(m) => Ok(Frame::Message(m)),
        Frame::Data(_) => Ok(Frame::Data(Chunk(payload))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let payload = message(&Reply::Want(vec![1, 5, 9]));
        match decode::<Reply>(payload).unwrap() {
            Frame::Message(Reply::Want(v)) => assert_eq!(v, [1, 5, 9]),
            _ => panic!("wrong frame"),
        }
        match decode::<Reply>(data(b"abc")).unwrap() {
            Frame::Data(d) => assert_eq!(&*d, b"abc"),
            _ => panic!("wrong frame"),
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [&b"../../etc/x"[..], b"/etc/passwd", b"a/../../b", b""] {
            let wire = WireEntry {
                path: bad.to_vec(),
                kind: 0,
                size: 1,
                mode: 0o644,
                secs: 0,
                nanos: 0,
                target: vec![],
            };
            assert!(wire.into_entry().is_err(), "{:?} accepted", bad);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<Request>(vec![0, 0xff, 0xff, 0xff]).is_err());
        assert!(decode::<Request>(vec![7]).is_err());
        assert!(decode::<Request>(vec![]).is_err());
    }
}
