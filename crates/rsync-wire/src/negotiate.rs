//! Checksum and compression names, agreed on in the handshake (rsync's compat.c,
//! `negotiate_the_strings`).
//!
//! Only when the server turned on varint flags (the client gave capability `v`): right
//! after the compatibility flags, and before the seed, each side sends a vstring of the
//! checksums it has, best first, unless `--checksum-choice` named one (the client then
//! gives the server the same option, so neither side sends); then, when `-z` is on with
//! no `--compress-choice` (nor `-zz`, which means zlibx), the same for compressions. Both
//! sides send before they read, so neither waits on the other. Then each side takes the
//! first name of *its own* list that the other listed ([`pick`]): two sides with the
//! same order (every rsync, and this crate, keep rsync's) agree without a second round.

use std::io::Read;

use crate::checksum::Checksum;
use crate::codec::{get_vstring, put_vstring};
use crate::compress;
use crate::handshake::HandshakeError;

/// The longest list read from a peer (rsync's buffer is 256 bytes with its NUL).
const MAX_LIST: usize = 255;

/// What one side negotiates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// `--checksum-choice`'s checksum, which is not negotiated; None to negotiate.
    pub checksum: Option<Checksum>,
    /// Whether compression names are negotiated (`-z` with no choice).
    pub compress: bool,
}

/// What the negotiation settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chosen {
    /// The negotiated checksum, None when it was not negotiated.
    pub checksum: Option<Checksum>,
    /// The negotiated compression name, None when it was not negotiated.
    pub compress: Option<&'static str>,
}

/// The first of `ours` (best first) that `theirs` (a peer's space-separated list)
/// names, in any case.
pub fn pick<'a>(ours: &[&'a str], theirs: &str) -> Option<&'a str> {
    let listed: Vec<&str> = theirs.split_ascii_whitespace().collect();
    ours.iter()
        .copied()
        .find(|name| listed.iter().any(|l| l.eq_ignore_ascii_case(name)))
}

/// Appends this side's lists, as `wants` says; `server` is which side this is (a client
/// leaves `none` out of its compressions, as rsync's does).
pub fn put_lists(out: &mut Vec<u8>, wants: &Wants, server: bool) {
    if wants.checksum.is_none() {
        put_vstring(out, Checksum::offer().as_bytes()).expect("the list is short");
    }
    if wants.compress {
        put_vstring(out, compress::offer(server).as_bytes()).expect("the list is short");
    }
}

/// Reads the peer's lists, as `wants` says (both sides want the same, from the same
/// options), and picks from each.
pub fn read_lists(
    r: &mut impl Read,
    wants: &Wants,
    server: bool,
) -> Result<Chosen, HandshakeError> {
    let mut chosen = Chosen::default();
    let peer = if server { "client" } else { "server" };
    if wants.checksum.is_none() {
        let theirs = read_list(r)?;
        let ours = Checksum::ALL.map(Checksum::name);
        let name = pick(&ours, &theirs).ok_or_else(|| HandshakeError::Negotiate {
            what: "checksum",
            peer,
            theirs: theirs.clone(),
            ours: Checksum::offer(),
        })?;
        chosen.checksum = Some(Checksum::by_name(name).expect("one of ours"));
    }
    if wants.compress {
        let theirs = read_list(r)?;
        chosen.compress =
            Some(
                compress::pick(&theirs).ok_or_else(|| HandshakeError::Negotiate {
                    what: "compress",
                    peer,
                    theirs: theirs.clone(),
                    ours: compress::offer(server).to_string(),
                })?,
            );
    }
    Ok(chosen)
}

fn read_list(r: &mut impl Read) -> Result<String, HandshakeError> {
    let bytes = get_vstring(r, MAX_LIST)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_takes_the_first_of_its_own_that_the_other_has() {
        let ours = ["xxh128", "xxh3", "xxh64", "md5"];
        assert_eq!(
            pick(&ours, "xxh128 xxh3 xxh64 md5 md4 sha1 none"),
            Some("xxh128")
        );
        // The peer's order does not matter to this side's pick.
        assert_eq!(pick(&ours, "md5 xxh64"), Some("xxh64"));
        assert_eq!(pick(&ours, "MD5"), Some("md5"));
        assert_eq!(pick(&ours, "md4 sha1 none"), None);
        assert_eq!(pick(&ours, ""), None);
        assert_eq!(pick(&ours, "xxh1280 md"), None);
    }

    #[test]
    fn lists_cross_and_both_sides_agree() {
        let wants = Wants {
            checksum: None,
            compress: true,
        };
        let mut from_client = Vec::new();
        put_lists(&mut from_client, &wants, false);
        assert_eq!(from_client, b"\x15xxh128 xxh3 xxh64 md5\x0azlibx zlib");
        let mut from_server = Vec::new();
        put_lists(&mut from_server, &wants, true);
        let on_server = read_lists(&mut &from_client[..], &wants, true).unwrap();
        let on_client = read_lists(&mut &from_server[..], &wants, false).unwrap();
        assert_eq!(on_server, on_client);
        assert_eq!(on_client.checksum, Some(Checksum::Xxh128));
        assert_eq!(on_client.compress, Some("zlibx"));
    }

    #[test]
    fn a_forced_checksum_sends_no_list_and_a_stock_rsyncs_lists_are_read() {
        let forced = Wants {
            checksum: Some(Checksum::Xxh3),
            compress: false,
        };
        let mut out = Vec::new();
        put_lists(&mut out, &forced, false);
        assert!(out.is_empty());
        let mut stock = Vec::new();
        put_vstring(&mut stock, b"xxh128 xxh3 xxh64 md5 md4 sha1 none").unwrap();
        put_vstring(&mut stock, b"zstd lz4 zlibx zlib none").unwrap();
        let wants = Wants {
            checksum: None,
            compress: true,
        };
        let got = read_lists(&mut &stock[..], &wants, false).unwrap();
        assert_eq!(got.checksum, Some(Checksum::Xxh128));
        assert_eq!(got.compress, Some("zlibx"));
    }

    #[test]
    fn no_name_in_common_is_named() {
        let mut stock = Vec::new();
        put_vstring(&mut stock, b"sha1 md4").unwrap();
        let err = read_lists(&mut &stock[..], &Wants::default(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Failed to negotiate a checksum choice: the server lists \"sha1 md4\", \
             this side \"xxh128 xxh3 xxh64 md5\""
        );
    }
}
