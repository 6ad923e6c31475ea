//! The server's half of [`handshake`](crate::handshake): it sends its version, takes the
//! smaller, then chooses the compatibility flags from the client's capability letters and
//! sends them and the checksum seed.
//!
//! The server decides, so it turns on only what the rest of this crate speaks: never
//! incremental recursion (the list goes whole), never varint entry flags (which would
//! also negotiate checksum names: without them protocol 30 and later use MD5), never id-0
//! names. A stock client follows whatever flags it is sent.

use std::io::{Read, Write};

use crate::codec::{get_int, put_int, put_varint};
use crate::handshake::{compat, HandshakeError, Session};
use crate::{PROTOCOL_NEWEST, PROTOCOL_OLDEST};

/// The flags a server of this crate sends to a client that gave `client_info` (the
/// letters after `e` in its option bundle).
pub fn compat_for(client_info: &str) -> i32 {
    let mut flags = compat::SYMLINK_TIMES;
    for (letter, flag) in [
        ('f', compat::SAFE_FLIST),
        ('x', compat::AVOID_XATTR_OPTIM),
        ('C', compat::CHKSUM_SEED_FIX),
        ('I', compat::INPLACE_PARTIAL_DIR),
    ] {
        if client_info.contains(letter) {
            flags |= flag;
        }
    }
    flags
}

/// Runs the server's side: both versions cross, then (from protocol 30) the flags, then
/// `seed`. A client older than protocol 30 is refused after the versions cross, so that
/// it can say so itself.
pub fn server(
    r: &mut impl Read,
    w: &mut impl Write,
    client_info: &str,
    seed: i32,
) -> Result<Session, HandshakeError> {
    let mut out = Vec::new();
    put_int(&mut out, PROTOCOL_NEWEST);
    w.write_all(&out)?;
    w.flush()?;
    let remote_version = get_int(r)?;
    if !(PROTOCOL_OLDEST..=40).contains(&remote_version) {
        return Err(HandshakeError::Version(remote_version));
    }
    let protocol = remote_version.min(PROTOCOL_NEWEST);
    let flags = compat_for(client_info);
    out.clear();
    put_varint(&mut out, flags);
    put_int(&mut out, seed);
    w.write_all(&out)?;
    w.flush()?;
    Ok(Session {
        protocol,
        remote_version,
        compat: flags,
        seed,
        compression: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake;

    #[test]
    fn the_client_half_reads_what_the_server_half_writes() {
        let mut to_client = Vec::new();
        let session = server(
            &mut &31i32.to_le_bytes()[..],
            &mut to_client,
            ".iLsfxCIvu",
            77,
        )
        .unwrap();
        assert_eq!(session.protocol, 31);
        assert!(session.seed_first());
        let seen = handshake::client(&mut &to_client[..], &mut Vec::new(), 31).unwrap();
        assert_eq!(seen.compat, session.compat);
        assert_eq!(seen.seed, 77);
        // What the client asked for but this crate does not speak stays off.
        assert_eq!(
            session.compat & (compat::INC_RECURSE | compat::VARINT_FLIST_FLAGS | compat::ID0_NAMES),
            0
        );
    }

    #[test]
    fn an_old_client_is_refused() {
        let err = server(&mut &29i32.to_le_bytes()[..], &mut Vec::new(), "", 1).unwrap_err();
        assert!(matches!(err, HandshakeError::Version(29)));
    }
}
