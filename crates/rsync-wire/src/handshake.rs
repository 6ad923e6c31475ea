//! The start of a session, before any framing: versions both ways, then (from protocol
//! 30) the server's compatibility flags, then (with varint flags) the checksum and
//! compression names of both sides ([`negotiate`](crate::negotiate)), then the checksum
//! seed.

use std::io::{self, Read, Write};

use crate::checksum::Checksum;
use crate::codec::{get_int, get_varint, put_int};
use crate::compress::Compression;
use crate::negotiate::{self, Chosen, Wants};
use crate::{PROTOCOL_NEWEST, PROTOCOL_OLDEST};

/// The capability letters prsync puts after `-e.` in the server's arguments (see
/// rsync's compat.c): `L` symlink times, `s` symlink name conversion, `f` safe file
/// lists, `x` no xattr shortcut, `C` the seed first in block sums, `I` in-place partial
/// dirs, `v` varint entry flags and the negotiation of checksum names (without it
/// protocol 30 and later use MD5, several times slower than xxh128). Left out on
/// purpose: `i` (incremental recursion: the file list comes in pieces interleaved with
/// the transfer), `u` (the names of id 0 in the id lists).
pub const CAPABILITIES: &str = ".LsfxCIv";

/// The server's `CF_*` compatibility flags.
pub mod compat {
    /// Incremental recursion.
    pub const INC_RECURSE: i32 = 1 << 0;
    /// The receiver can set symlink times.
    pub const SYMLINK_TIMES: i32 = 1 << 1;
    /// Symlink targets are converted with `--iconv`.
    pub const SYMLINK_ICONV: i32 = 1 << 2;
    /// An I/O error rides on the end-of-list marker.
    pub const SAFE_FLIST: i32 = 1 << 3;
    /// No xattr shortcut.
    pub const AVOID_XATTR_OPTIM: i32 = 1 << 4;
    /// The checksum seed goes before the block in MD5 sums.
    pub const CHKSUM_SEED_FIX: i32 = 1 << 5;
    /// `--inplace` with a partial dir.
    pub const INPLACE_PARTIAL_DIR: i32 = 1 << 6;
    /// Entry flags as varints, and checksum names negotiated.
    pub const VARINT_FLIST_FLAGS: i32 = 1 << 7;
    /// Id lists name id 0.
    pub const ID0_NAMES: i32 = 1 << 8;
}

/// What the handshake settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    /// The protocol both sides speak: the smaller of the two versions.
    pub protocol: i32,
    /// The version the server offered.
    pub remote_version: i32,
    /// The server's compatibility flags (0 below protocol 30).
    pub compat: i32,
    /// The seed mixed into block checksums.
    pub seed: i32,
    /// How file data is compressed (`-z`), None for plain tokens: settled from the
    /// options and [`Chosen::compress`] (see [`compress`](crate::compress)).
    pub compression: Option<Compression>,
    /// The strong checksum of block sums and whole-file sums (and `-c`'s).
    pub checksum: Checksum,
    /// What the names' negotiation settled (nothing without varint flags).
    pub chosen: Chosen,
}

impl Session {
    /// Whether the seed goes before the block in MD5 block sums.
    pub fn seed_first(&self) -> bool {
        self.compat & compat::CHKSUM_SEED_FIX != 0
    }

    /// Whether file-list entry flags go as varints (and the list ends with a varint 0
    /// and the I/O error bits), and names were negotiated.
    pub fn varint_flags(&self) -> bool {
        self.compat & compat::VARINT_FLIST_FLAGS != 0
    }

    /// A fresh index codec for one direction of this session (plain ints below 30).
    pub fn ndx(&self) -> crate::ndx::NdxState {
        crate::ndx::NdxState::for_protocol(self.protocol)
    }

    /// Whether item flags follow each index the generator and sender exchange (protocol
    /// 29 on); below, every index asked for is a transfer.
    pub fn iflags_follow(&self) -> bool {
        self.protocol >= 29
    }

    /// The phases after the first: the redo phase, and from protocol 29 the
    /// delay-updates one; each ends with a done from the generator and from the sender.
    pub fn later_phases(&self) -> usize {
        if self.protocol >= 29 {
            2
        } else {
            1
        }
    }

    /// Whether the client's stream to a receiving server is framed (protocol 30 on);
    /// below it comes raw, and only the server's stream is framed.
    pub fn client_frames(&self) -> bool {
        self.protocol >= 30
    }

    /// Whether numbers in the file list are varints (protocol 30 on) rather than ints
    /// and longints.
    pub fn varints(&self) -> bool {
        self.protocol >= 30
    }

    /// The checksum both sides use, from `--checksum-choice` (`forced`), else what was
    /// negotiated, else MD5 (protocol 30 and later without negotiation).
    pub(crate) fn settle_checksum(&mut self, forced: Option<Checksum>) {
        if self.protocol < 30 {
            self.checksum = Checksum::Md4 {
                seed: Some(self.seed),
            };
            return;
        }
        self.checksum = forced.or(self.chosen.checksum).unwrap_or(Checksum::Md5);
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub enum HandshakeError {
    /// The stream failed or ended.
    Io(io::Error),
    /// The server's version is outside 30 to 32 (or is not a version at all, as when a
    /// login script prints text first).
    Version(i32),
    /// The server turned on something prsync did not ask for and cannot follow.
    Flags(i32),
    /// The two sides have no checksum (or compression) name in common.
    Negotiate {
        /// `checksum` or `compress`.
        what: &'static str,
        /// `server` or `client`: the other side.
        peer: &'static str,
        /// The other side's list.
        theirs: String,
        /// This side's.
        ours: String,
    },
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Io(e) => write!(f, "{e}"),
            HandshakeError::Version(v) if (0..=99).contains(v) => write!(
                f,
                "it speaks rsync protocol {v}, and prsync speaks {PROTOCOL_OLDEST} to {PROTOCOL_NEWEST} (rsync 3.0.0 or later)"
            ),
            HandshakeError::Version(v) => write!(
                f,
                "it answered {:?} where rsync sends its protocol version: is the remote shell clean?",
                String::from_utf8_lossy(&v.to_le_bytes())
            ),
            HandshakeError::Flags(c) => write!(
                f,
                "its rsync set compatibility flags {c:#x} that prsync did not ask for"
            ),
            HandshakeError::Negotiate {
                what,
                peer,
                theirs,
                ours,
            } => write!(
                f,
                "Failed to negotiate a {what} choice: the {peer} lists {theirs:?}, this side {ours:?}"
            ),
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// Runs the client's side: sends `offer` (30 to 32), reads the server's version and
/// flags, crosses the name lists `wants` says when the server turned varint flags on,
/// and reads the seed.
pub fn client(
    r: &mut impl Read,
    w: &mut impl Write,
    offer: i32,
    wants: &Wants,
) -> Result<Session, HandshakeError> {
    let mut out = Vec::new();
    put_int(&mut out, offer);
    w.write_all(&out)?;
    w.flush()?;
    let remote_version = get_int(r)?;
    let protocol = offer.min(remote_version);
    // rsync itself talks to versions from 20 to 40; this code speaks 30 to 32, and takes
    // a newer server down to 32 as rsync does.
    if !(PROTOCOL_OLDEST..=40).contains(&remote_version) {
        return Err(HandshakeError::Version(remote_version));
    }
    let compat = get_varint(r)?;
    let unasked = compat::INC_RECURSE | compat::ID0_NAMES;
    if compat & unasked != 0 {
        return Err(HandshakeError::Flags(compat & unasked));
    }
    let mut chosen = Chosen::default();
    if compat & compat::VARINT_FLIST_FLAGS != 0 {
        let mut out = Vec::new();
        negotiate::put_lists(&mut out, wants, false);
        w.write_all(&out)?;
        w.flush()?;
        chosen = negotiate::read_lists(r, wants, false)?;
    }
    let seed = get_int(r)?;
    let mut session = Session {
        protocol,
        remote_version,
        compat,
        seed,
        compression: None,
        checksum: Checksum::Md5,
        chosen,
    };
    session.settle_checksum(wants.checksum);
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::put_varint;

    fn server_says(version: i32, flags: i32, seed: i32) -> Vec<u8> {
        let mut v = Vec::new();
        put_int(&mut v, version);
        put_varint(&mut v, flags);
        put_int(&mut v, seed);
        v
    }

    #[test]
    fn the_smaller_version_wins_and_flags_and_seed_are_read() {
        let mut sent = Vec::new();
        let wire = server_says(31, 0x2e, 12345);
        let s = client(&mut &wire[..], &mut sent, 32, &Wants::default()).unwrap();
        assert_eq!(sent, 32i32.to_le_bytes());
        assert_eq!(
            s,
            Session {
                protocol: 31,
                remote_version: 31,
                compat: 0x2e,
                seed: 12345,
                compression: None,
                checksum: Checksum::Md5,
                chosen: Chosen::default(),
            }
        );
        assert!(s.seed_first());
        let s = client(
            &mut &server_says(36, 0, 1)[..],
            &mut Vec::new(),
            32,
            &Wants::default(),
        )
        .unwrap();
        assert_eq!(s.protocol, 32);
    }

    #[test]
    fn an_old_server_or_a_chatty_shell_is_named() {
        let none = Wants::default();
        let err = client(&mut &server_says(29, 0, 0)[..], &mut Vec::new(), 32, &none).unwrap_err();
        assert!(
            err.to_string().contains("speaks rsync protocol 29"),
            "{err}"
        );
        let err = client(&mut &b"hello world\n"[..], &mut Vec::new(), 32, &none).unwrap_err();
        assert!(err.to_string().contains("\"hell\""), "{err}");
        let err = client(
            &mut &server_says(32, 0x101, 0)[..],
            &mut Vec::new(),
            32,
            &none,
        )
        .unwrap_err();
        assert!(matches!(err, HandshakeError::Flags(0x101)));
        let err = client(&mut &[32u8, 0][..], &mut Vec::new(), 32, &none).unwrap_err();
        assert!(matches!(err, HandshakeError::Io(_)));
    }

    #[test]
    fn with_varint_flags_the_lists_cross_before_the_seed() {
        let mut wire = Vec::new();
        put_int(&mut wire, 32);
        put_varint(&mut wire, 0xae);
        crate::codec::put_vstring(&mut wire, b"xxh128 xxh3 xxh64 md5 md4 none").unwrap();
        put_int(&mut wire, -9);
        let mut sent = Vec::new();
        let s = client(&mut &wire[..], &mut sent, 32, &Wants::default()).unwrap();
        assert!(s.varint_flags());
        assert_eq!(s.checksum, Checksum::Xxh128);
        assert_eq!(s.chosen.checksum, Some(Checksum::Xxh128));
        assert_eq!(s.seed, -9);
        assert_eq!(&sent[4..], b"\x15xxh128 xxh3 xxh64 md5");
        // --checksum-choice: nothing crosses, the choice holds.
        let mut wire = Vec::new();
        put_int(&mut wire, 31);
        put_varint(&mut wire, 0xae);
        put_int(&mut wire, 5);
        let forced = Wants {
            checksum: Some(Checksum::Xxh64),
            compress: false,
        };
        let mut sent = Vec::new();
        let s = client(&mut &wire[..], &mut sent, 32, &forced).unwrap();
        assert_eq!(
            (s.checksum, s.chosen.checksum, sent.len()),
            (Checksum::Xxh64, None, 4)
        );
    }
}
