//! The server's half of [`handshake`](crate::handshake): it sends its version, takes the
//! smaller, then chooses the compatibility flags from the client's capability letters and
//! sends them and the checksum seed.
//!
//! The server decides, so it turns on only what the rest of this crate speaks: never
//! incremental recursion (the list goes whole), never id-0 names; varint entry flags when
//! the client asks (`v`), and with them the checksum and compression names are
//! negotiated ([`negotiate`](crate::negotiate)) before the seed goes. A stock client
//! follows whatever flags it is sent.

use std::io::{Read, Write};

use crate::checksum::Checksum;
use crate::codec::{get_int, put_int, put_varint};
use crate::handshake::{compat, HandshakeError, Session};
use crate::negotiate::{self, Chosen, Wants};
use crate::{PROTOCOL_NEWEST, PROTOCOL_OLDEST, PROTOCOL_OLDEST_SERVED};

/// The flags a server of this crate sends to a client that gave `client_info` (the
/// letters after `e` in its option bundle).
pub fn compat_for(client_info: &str) -> i32 {
    let mut flags = compat::SYMLINK_TIMES;
    for (letter, flag) in [
        ('f', compat::SAFE_FLIST),
        ('x', compat::AVOID_XATTR_OPTIM),
        ('C', compat::CHKSUM_SEED_FIX),
        ('I', compat::INPLACE_PARTIAL_DIR),
        ('v', compat::VARINT_FLIST_FLAGS),
    ] {
        if client_info.contains(letter) {
            flags |= flag;
        }
    }
    flags
}

/// Runs the server's side: both versions cross, then (from protocol 30) the flags, then
/// with varint flags the name lists `wants` says, then `seed`. Below protocol 30 only the
/// seed follows the versions, and the checksum is MD4. A client older than
/// [`PROTOCOL_OLDEST_SERVED`] is refused after the versions cross, so that it can say so
/// itself.
pub fn server(
    r: &mut impl Read,
    w: &mut impl Write,
    client_info: &str,
    seed: i32,
    wants: &Wants,
) -> Result<Session, HandshakeError> {
    let mut out = Vec::new();
    put_int(&mut out, PROTOCOL_NEWEST);
    w.write_all(&out)?;
    w.flush()?;
    let remote_version = get_int(r)?;
    if !(PROTOCOL_OLDEST_SERVED..=40).contains(&remote_version) {
        return Err(HandshakeError::Version(remote_version));
    }
    let protocol = remote_version.min(PROTOCOL_NEWEST);
    let flags = if protocol >= PROTOCOL_OLDEST {
        compat_for(client_info)
    } else {
        0
    };
    out.clear();
    if protocol >= PROTOCOL_OLDEST {
        put_varint(&mut out, flags);
    }
    let mut chosen = Chosen::default();
    if flags & compat::VARINT_FLIST_FLAGS != 0 {
        negotiate::put_lists(&mut out, wants, true);
        w.write_all(&out)?;
        w.flush()?;
        out.clear();
        chosen = negotiate::read_lists(r, wants, true)?;
    }
    put_int(&mut out, seed);
    w.write_all(&out)?;
    w.flush()?;
    let mut session = Session {
        protocol,
        remote_version,
        compat: flags,
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
    use crate::handshake;

    #[test]
    fn the_client_half_reads_what_the_server_half_writes() {
        let wants = Wants {
            checksum: None,
            compress: true,
        };
        // The client's version and lists, as it sends them before it reads anything.
        let mut from_client = 31i32.to_le_bytes().to_vec();
        negotiate::put_lists(&mut from_client, &wants, false);
        let mut to_client = Vec::new();
        let session = server(
            &mut &from_client[..],
            &mut to_client,
            ".iLsfxCIvu",
            77,
            &wants,
        )
        .unwrap();
        assert_eq!(session.protocol, 31);
        assert!(session.seed_first());
        assert!(session.varint_flags());
        assert_eq!(session.checksum, Checksum::Xxh128);
        assert_eq!(session.chosen.compress, Some("zlibx"));
        let seen = handshake::client(&mut &to_client[..], &mut Vec::new(), 31, &wants).unwrap();
        assert_eq!(seen.compat, session.compat);
        assert_eq!(seen.seed, 77);
        assert_eq!(seen.chosen, session.chosen);
        // What the client asked for but this crate does not speak stays off.
        assert_eq!(
            session.compat & (compat::INC_RECURSE | compat::ID0_NAMES),
            0
        );
    }

    #[test]
    fn without_v_nothing_is_negotiated_and_md5_stays() {
        let mut to_client = Vec::new();
        let wants = Wants::default();
        let session = server(
            &mut &32i32.to_le_bytes()[..],
            &mut to_client,
            ".LsfxCI",
            3,
            &wants,
        )
        .unwrap();
        assert!(!session.varint_flags());
        assert_eq!(session.checksum, Checksum::Md5);
        // Version, one flag byte, seed: no lists.
        assert_eq!(to_client.len(), 4 + 1 + 4);
    }

    #[test]
    fn an_old_client_is_refused() {
        let err = server(
            &mut &27i32.to_le_bytes()[..],
            &mut Vec::new(),
            "",
            1,
            &Wants::default(),
        )
        .unwrap_err();
        assert!(matches!(err, HandshakeError::Version(27)));
    }

    #[test]
    fn below_30_only_the_seed_follows_and_md4_is_the_sum() {
        let mut to_client = Vec::new();
        let session = server(
            &mut &28i32.to_le_bytes()[..],
            &mut to_client,
            "",
            9,
            &Wants::default(),
        )
        .unwrap();
        assert_eq!(session.protocol, 28);
        assert_eq!(session.compat, 0);
        assert_eq!(session.checksum, Checksum::Md4 { seed: Some(9) });
        assert!(!session.iflags_follow());
        assert_eq!(session.later_phases(), 1);
        // Version, seed.
        assert_eq!(to_client, [32, 0, 0, 0, 9, 0, 0, 0]);
    }
}
