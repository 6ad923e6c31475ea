//! Which compression a session's tokens use (`-z`), and how the two sides agree on it.
//!
//! rsync 3.5 knows `zstd lz4 zlibx zlib none`, best first. This crate codes zlib and
//! zlibx ([`deflate_tokens`](crate::deflate_tokens)); zstd and lz4 would need crates the
//! workspace does not carry, so they are refused by name.
//!
//! How the choice is made depends on the handshake. When the client gave capability
//! `v` and the server turned on varint flags, both sides send, after the compatibility
//! flags and before the seed, a vstring of the compressions they have in their order
//! (when `-z` is on with no `--compress-choice`), and each takes the first of its own
//! names that the other listed ([`pick`]): two rsyncs with the same order agree. Without
//! that (protocol 30, or a side that does not negotiate), `-z` means zlib, `-zz` and
//! `--new-compress` zlibx, and a `--compress-choice` goes to the server on its command
//! line ([`Asked::settle`]).

use std::fmt;

use crate::deflate_tokens::{Decoder, Encoder, Flavor};

/// The compression names this crate has, in rsync's order (best first).
const OURS: [(&str, Option<Flavor>); 3] = [
    ("zlibx", Some(Flavor::Zlibx)),
    ("zlib", Some(Flavor::Zlib)),
    ("none", None),
];

/// rsync's default level for zlib and zlibx.
const DEFAULT_LEVEL: u32 = 6;

/// A compression name that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    /// rsync has it, this crate does not.
    NotHere(String),
    /// No rsync has it.
    Unknown(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NotHere(name) => write!(
                f,
                "compression {name} is not spoken here over rsync's protocol (zlibx and zlib are)"
            ),
            NameError::Unknown(name) => write!(f, "unknown compress name: {name}"),
        }
    }
}

/// What a compression name stands for here: a flavor, or None for `none`.
pub fn by_name(name: &str) -> Result<Option<Flavor>, NameError> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, flavor)) = OURS.iter().find(|(n, _)| *n == lower) {
        return Ok(*flavor);
    }
    match lower.as_str() {
        "zstd" | "lz4" => Err(NameError::NotHere(name.to_string())),
        _ => Err(NameError::Unknown(name.to_string())),
    }
}

/// The list a side sends in the negotiation: a client leaves `none` out, as rsync's does.
pub fn offer(server: bool) -> &'static str {
    if server {
        "zlibx zlib none"
    } else {
        "zlibx zlib"
    }
}

/// The first of our names that `theirs` (the peer's space-separated list) has.
pub fn pick(theirs: &str) -> Option<&'static str> {
    crate::negotiate::pick(&OURS.map(|(name, _)| name), theirs)
}

/// A session's compression: how tokens are coded, at what level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
    /// zlib or zlibx.
    pub flavor: Flavor,
    /// 1 to 9 (what the sender deflates with).
    pub level: u32,
}

impl Compression {
    /// The name rsync says for it.
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Zlib => "zlib",
            Flavor::Zlibx => "zlibx",
        }
    }

    /// A sender's coder for the session.
    pub fn encoder(&self, protocol: i32) -> Encoder {
        Encoder::new(self.flavor, self.level, protocol)
    }

    /// A receiver's coder for the session.
    pub fn decoder(&self, protocol: i32) -> Decoder {
        Decoder::new(self.flavor, protocol)
    }
}

/// What the options asked for, as rsync's are given: `-z` (counted), a choice
/// (`--compress-choice`, `--old-compress`, `--new-compress`), a level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    /// How many `-z`.
    pub z: u8,
    /// The name chosen, if any (`auto` is as none given).
    pub choice: Option<String>,
    /// `--compress-level`.
    pub level: Option<i32>,
}

impl Asked {
    /// Whether the data is to be compressed at all, before names are settled: a level
    /// alone turns `-z` on too, as in rsync.
    pub fn on(&self) -> bool {
        self.z > 0 || self.choice().is_some() || self.level.is_some()
    }

    /// Whether the compression names are to be negotiated (when the handshake
    /// negotiates at all): on, with no choice given, and not `-zz` (which means zlibx,
    /// as `--new-compress`).
    pub fn negotiates(&self) -> bool {
        self.on() && self.choice().is_none() && self.z <= 1
    }

    fn choice(&self) -> Option<&str> {
        self.choice
            .as_deref()
            .filter(|c| !c.eq_ignore_ascii_case("auto"))
    }

    /// The session's compression, from a negotiated name or else from the options as
    /// rsync reads them when nothing is negotiated. None: the tokens go plain (nothing
    /// asked, `none`, or level 0, which turns zlib off as in rsync).
    pub fn settle(&self, negotiated: Option<&str>) -> Result<Option<Compression>, NameError> {
        if !self.on() {
            return Ok(None);
        }
        let name =
            negotiated
                .or(self.choice())
                .unwrap_or(if self.z > 1 { "zlibx" } else { "zlib" });
        let Some(flavor) = by_name(name)? else {
            return Ok(None);
        };
        let level = match self.level {
            Some(0) => return Ok(None),
            Some(l) if l < 0 => DEFAULT_LEVEL,
            Some(l) => (l as u32).min(9),
            None => DEFAULT_LEVEL,
        };
        Ok(Some(Compression { flavor, level }))
    }

    /// The arguments that tell a stock `rsync --server` the same, as rsync's client
    /// writes them: `z` in the bundle for zlib, the rest as long options.
    pub fn server_args(&self) -> (bool, Vec<String>) {
        let mut long = Vec::new();
        if let Some(l) = self.level.filter(|_| self.on()) {
            long.push(format!("--compress-level={l}"));
        }
        let settled = self.settle(None).ok().flatten();
        let bundle_z = self.on() && settled.is_some_and(|c| c.flavor == Flavor::Zlib);
        match (self.choice(), settled.map(|c| c.flavor)) {
            (_, Some(Flavor::Zlibx)) => long.push("--new-compress".into()),
            (Some(_), Some(Flavor::Zlib)) => long.push("--old-compress".into()),
            _ => {}
        }
        (bundle_z, long)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_best_of_a_stock_rsyncs_list_is_zlibx() {
        assert_eq!(pick("zstd lz4 zlibx zlib none"), Some("zlibx"));
        assert_eq!(pick("zstd lz4 zlib none"), Some("zlib"));
        assert_eq!(pick("ZLIB"), Some("zlib"));
        assert_eq!(pick("zstd lz4"), None);
        assert_eq!(pick(""), None);
    }

    #[test]
    fn only_plain_z_or_a_bare_level_negotiates() {
        let asked = |z, choice: Option<&str>, level| Asked {
            z,
            choice: choice.map(String::from),
            level,
        };
        assert!(asked(1, None, None).negotiates());
        assert!(asked(0, None, Some(3)).negotiates());
        assert!(asked(1, Some("auto"), None).negotiates());
        assert!(!asked(0, None, None).negotiates());
        assert!(!asked(2, None, None).negotiates());
        assert!(!asked(1, Some("zlib"), None).negotiates());
    }

    #[test]
    fn options_settle_as_rsyncs_do_without_negotiation() {
        let asked = |z, choice: Option<&str>, level| Asked {
            z,
            choice: choice.map(String::from),
            level,
        };
        let got = |a: Asked| a.settle(None).map(|c| c.map(|c| (c.name(), c.level)));
        assert_eq!(got(asked(0, None, None)), Ok(None));
        assert_eq!(got(asked(1, None, None)), Ok(Some(("zlib", 6))));
        assert_eq!(got(asked(2, None, None)), Ok(Some(("zlibx", 6))));
        assert_eq!(got(asked(0, None, Some(3))), Ok(Some(("zlib", 3))));
        assert_eq!(got(asked(1, None, Some(0))), Ok(None));
        assert_eq!(got(asked(1, None, Some(40))), Ok(Some(("zlib", 9))));
        assert_eq!(got(asked(1, Some("none"), None)), Ok(None));
        assert_eq!(got(asked(1, Some("auto"), None)), Ok(Some(("zlib", 6))));
        assert_eq!(
            got(asked(1, Some("zstd"), None)),
            Err(NameError::NotHere("zstd".into()))
        );
        assert_eq!(
            got(asked(0, Some("gzip"), None)),
            Err(NameError::Unknown("gzip".into()))
        );
        let negotiated = asked(1, None, None).settle(Some("zlibx")).unwrap().unwrap();
        assert_eq!(negotiated.flavor, Flavor::Zlibx);
    }

    #[test]
    fn the_server_is_told_as_rsyncs_client_tells_it() {
        let args = |z, choice: Option<&str>, level| {
            Asked {
                z,
                choice: choice.map(String::from),
                level,
            }
            .server_args()
        };
        assert_eq!(args(0, None, None), (false, vec![]));
        assert_eq!(args(1, None, None), (true, vec![]));
        assert_eq!(args(2, None, None), (false, vec!["--new-compress".into()]));
        assert_eq!(
            args(1, Some("zlib"), Some(4)),
            (
                true,
                vec!["--compress-level=4".into(), "--old-compress".into()]
            )
        );
        assert_eq!(
            args(1, Some("zlibx"), None),
            (false, vec!["--new-compress".into()])
        );
    }
}
