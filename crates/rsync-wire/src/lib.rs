//! rsync's wire protocol, versions 30 to 32, as plain pieces with no I/O policy, so that
//! prsync can talk to a stock `rsync --server` on a host that has no prtools agent; and
//! for `prsync --server` facing a stock client also 28 and 29 (rsync 2.6), whose
//! differences sit behind the [`Session`](handshake::Session)'s protocol: no
//! compatibility flags or negotiation, indexes as ints ([`ndx`]), ints and longints in
//! the file list, [`md4`] sums, no item flags at 28, one phase fewer at 28, and the
//! client's stream unframed ([`mux::Demux::framed`]).
//!
//! The pieces follow one rsync session from the client's side:
//!
//! 1. [`handshake`]: both sides send their protocol version as a 4-byte little-endian
//!    int and use the smaller; from 30 on the server then sends its compatibility flags
//!    (a varint, chosen from the capability letters the client put after `-e.` in the
//!    server's arguments), then with varint flags both sides' checksum and compression
//!    names ([`negotiate`]), and last the checksum seed (an int). prsync sends
//!    `.LsfxCIv`: no `i` (no incremental recursion, so the file list goes whole, once);
//!    `v` gives varint entry flags ([`flist_flags`]) and xxh128 sums with a stock rsync.
//! 2. [`mux`]: after the handshake every byte travels in frames of a 4-byte header (tag
//!    plus 7 in the top byte, length in the low three). Tag 0 carries the data stream;
//!    the others are messages (errors, notices, deleted names) that the receiving side
//!    prints or acts on wherever they fall.
//! 3. [`flist`]: each entry is sent relative to the one before it (same mode, same time,
//!    shared name prefix...), both sides sort the list the same way ([`flist::sort`]),
//!    and files are then named by their index in that order ([`ndx`]).
//! 4. [`sums`] and [`delta`]: for each file it wants, the receiver's generator sends the
//!    block checksums of its old copy (a rolling sum and a truncated strong sum each, of
//!    the session's [`checksum::Checksum`]); the sender answers with literal data and
//!    block references, ending with the strong sum of the whole new file.
//!    With `-z` the tokens go deflated ([`deflate_tokens`]: rsync's zlib or zlibx), as
//!    [`compress`] settles from the options.
//! 5. [`itemize`]: the generator sends item flags with each index; the client turns them
//!    into `-i`'s `<f+++++++++` lines as rsync does.
#![deny(missing_docs)]

mod by_rolling;
pub mod checksum;
pub mod codec;
pub mod compress;
pub mod counted;
pub mod deflate_tokens;
pub mod delta;
pub mod filters;
pub mod flist;
pub mod flist_flags;
pub mod flist_links;
pub mod handshake;
pub mod itemize;
pub mod md4;
pub mod mux;
pub mod ndx;
pub mod negotiate;
pub mod server_args;
pub mod server_handshake;
pub mod server_request;
pub mod sums;

/// The newest protocol spoken here, and the one offered.
pub const PROTOCOL_NEWEST: i32 = 32;
/// The oldest protocol spoken here as a client (prsync to a stock `rsync --server`).
pub const PROTOCOL_OLDEST: i32 = 30;
/// The oldest protocol spoken here as a server (`prsync --server` to a stock client):
/// 28 and 29 too, with their ints for varints, MD4 sums and no compatibility flags.
pub const PROTOCOL_OLDEST_SERVED: i32 = 28;
