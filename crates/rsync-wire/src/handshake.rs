//! The start of a session, before any framing: versions both ways, then (from protocol
//! 30) the server's compatibility flags, then the checksum seed.

use std::io::{self, Read, Write};

use crate::codec::{get_int, get_varint, put_int};
use crate::compress::Compression;
use crate::{PROTOCOL_NEWEST, PROTOCOL_OLDEST};

/// The capability letters prsync puts after `-e.` in the server's arguments (see
/// rsync's compat.c): `L` symlink times, `s` symlink name conversion, `f` safe file
/// lists, `x` no xattr shortcut, `C` the seed first in block sums, `I` in-place partial
/// dirs. Left out on purpose: `i` (incremental recursion: the file list comes in pieces
/// interleaved with the transfer), `v` (varint flags and checksum-name negotiation; MD5
/// is then used), `u` (the names of id 0 in the id lists).
pub const CAPABILITIES: &str = ".LsfxCI";

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
    /// options when nothing is negotiated (see [`compress`](crate::compress)).
    pub compression: Option<Compression>,
}

impl Session {
    /// Whether the seed goes before the block in MD5 block sums.
    pub fn seed_first(&self) -> bool {
        self.compat & compat::CHKSUM_SEED_FIX != 0
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
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// Runs the client's side: sends `offer` (30 to 32), reads the server's version, flags
/// and seed.
pub fn client(
    r: &mut impl Read,
    w: &mut impl Write,
    offer: i32,
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
    let unasked = compat::INC_RECURSE | compat::VARINT_FLIST_FLAGS | compat::ID0_NAMES;
    if compat & unasked != 0 {
        return Err(HandshakeError::Flags(compat & unasked));
    }
    let seed = get_int(r)?;
    Ok(Session {
        protocol,
        remote_version,
        compat,
        seed,
        compression: None,
    })
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
        let s = client(&mut &wire[..], &mut sent, 32).unwrap();
        assert_eq!(sent, 32i32.to_le_bytes());
        assert_eq!(
            s,
            Session {
                protocol: 31,
                remote_version: 31,
                compat: 0x2e,
                seed: 12345,
                compression: None,
            }
        );
        assert!(s.seed_first());
        let s = client(&mut &server_says(36, 0, 1)[..], &mut Vec::new(), 32).unwrap();
        assert_eq!(s.protocol, 32);
    }

    #[test]
    fn an_old_server_or_a_chatty_shell_is_named() {
        let err = client(&mut &server_says(29, 0, 0)[..], &mut Vec::new(), 32).unwrap_err();
        assert!(
            err.to_string().contains("speaks rsync protocol 29"),
            "{err}"
        );
        let err = client(&mut &b"hello world\n"[..], &mut Vec::new(), 32).unwrap_err();
        assert!(err.to_string().contains("\"hell\""), "{err}");
        let err = client(&mut &server_says(32, 0x80, 0)[..], &mut Vec::new(), 32).unwrap_err();
        assert!(matches!(err, HandshakeError::Flags(0x80)));
        let err = client(&mut &[32u8, 0][..], &mut Vec::new(), 32).unwrap_err();
        assert!(matches!(err, HandshakeError::Io(_)));
    }
}
