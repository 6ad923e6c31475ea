//! `prsync --server` for a stock rsync client: `rsync --rsync-path=prsync SRC host:DST`
//! (the client sends, this side receives) and `rsync --rsync-path=prsync host:SRC DST`
//! (`--server --sender`: this side sends), so that prsync can stand where scripts and
//! rrsync-style forced commands expect rsync.
//!
//! prsync's own client starts its agent with `--server` alone; a stock client always
//! adds its option bundle, `.` and the paths, which is how [`main`](crate) tells the two
//! apart. The protocol pieces are crate prtools-rsync-wire's; this module runs the
//! server's roles on stdin and stdout: after the handshake every byte goes in rsync's
//! frames (but `--files-from` names below protocol 31, as rsync sends them). Errors and
//! warnings go to stderr, which the remote shell carries to the client's, as rsync 3.2.4
//! and later send them (`--stderr=errors`; on the stream as error frames with
//! `--stderr=client`, or for a client below protocol 29).
//!
//! Both roles speak protocols 28 to 32 (below 30 as rsync 2.6 does: MD4 sums, no
//! negotiation, and at 28 no item flags, so that with `-v` the server prints its own
//! lines) and take `-rlptgoD`, `-H`, `-c`, `-R`, `-d`,
//! `-n`, `-W`, `-I`, `-u`, `-b` (`--backup-dir`, `--suffix`), `--log-file` (receiving),
//! `--partial-dir` (as a basis) and `--delay-updates` (not with `--delete`), `--delete` (before, during, after, delay), `--existing`, `--ignore-existing`, `--size-only`, `--numeric-ids`,
//! `--compare-dest`, `--copy-dest` and `--link-dest` (receiving), `-K` and `--inplace`
//! (receiving), `--copy-unsafe-links` (sending), filter rules with their per-folder merge
//! files (read by `list.rs` when sending, by `receive/merge.rs` for `--delete` and
//! `--delete-excluded`), `--files-from`, `-s`, rrsync's `--confine-root` and `--drop-D`,
//! and `--fake-super` on the server's own line (`--rsync-path='prsync --fake-super'`; see
//! `receive/fake.rs`). The server never turns on incremental recursion (see prtools-rsync-wire's
//! `server_handshake`): a client then sends the list whole, and its `-v` says `building
//! file list` as with an rsync 3.0 server. It turns on varint flags for a client that asks
//! (every rsync 3.2 and later), and the two then negotiate the checksum (xxh128 between
//! this server and a stock rsync; xxh3, xxh64 and md5 with `--checksum-choice`) and, for
//! plain `-z`, the compression.
//!
//! `-z` codes the file data as rsync's zlibx (what plain `-z` negotiates here) or zlib
//! (`--old-compress`, `--compress-choice=zlib`, or a client that does not negotiate)
//! token streams; zstd and lz4 are refused by name, and never listed.
//!
//! What is not built (`-A`, `-X`, `-S`...) is refused before the handshake, with one line on stderr (which the
//! remote shell carries to the client) and rsync's exit status for an unsupported option,
//! as rsync does with an option it does not know: never a hang or half a transfer.

mod list;
mod log;
mod partial;
mod receive;
mod send;
mod wire;

use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prtools_rsync_wire::checksum::Checksum;
use prtools_rsync_wire::flist::Keep;
use prtools_rsync_wire::handshake::{HandshakeError, Session};
use prtools_rsync_wire::mux::Demux;
use prtools_rsync_wire::negotiate::Wants;
use prtools_rsync_wire::server_handshake;
use prtools_rsync_wire::server_request::{read_protected_args, DeleteWhen, ServerRequest, Stderr};
use prtools_rsync_wire::{PROTOCOL_NEWEST, PROTOCOL_OLDEST, PROTOCOL_OLDEST_SERVED};

use crate::exit;

/// rsync's exit status for an option the server does not support.
const UNSUPPORTED: i32 = 4;

/// Whether these arguments (after the program's name) are a stock rsync client's: rsync
/// takes `--server` anywhere on the line, as a shim puts its own options first
/// (`exec prsync --fake-super "$@"`); prsync's agent is started with `--server` alone.
pub fn is_rsync_request(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--server") && args.len() > 1
}

/// Serves one rsync client on stdin and stdout; returns the exit status.
pub fn serve(args: &[OsString]) -> i32 {
    // `--server` first, the rest in the order given: options before it are the server's
    // too (and one it does not take is refused by name, as any other).
    let first = args.iter().position(|a| a == "--server").unwrap_or(0);
    let ordered = args[first..=first]
        .iter()
        .chain(&args[..first])
        .chain(&args[first + 1..]);
    let mut text = Vec::new();
    for a in ordered {
        match a.to_str() {
            Some(s) => text.push(s.to_string()),
            None => {
                eprintln!("prsync: --server needs UTF-8 arguments; hint: rename the paths, or run rsync on this host");
                return exit::SYNTAX;
            }
        }
    }
    let mut stdin = BufReader::with_capacity(256 * 1024, io::stdin());
    let Some(mut req) = ServerRequest::parse(&text) else {
        eprintln!("prsync: --server was not started by an rsync client; hint: run `rsync --rsync-path=prsync ...`");
        return exit::SYNTAX;
    };
    if req.protect_args {
        // `-s`: the options after the bundle, the `.` and the paths come on stdin.
        match read_protected_args(&mut stdin) {
            Ok(more) => {
                text.extend(more);
                match ServerRequest::parse(&text) {
                    Some(r) => req = r,
                    None => return exit::SYNTAX,
                }
            }
            Err(e) => {
                eprintln!("prsync: --server could not read the client's arguments: {e}");
                return exit::PROTOCOL;
            }
        }
    }
    if let Some(refused) = refused(&req) {
        eprintln!(
            "prsync: --server does not do {refused} yet; hint: leave it out, or point --rsync-path at rsync"
        );
        return UNSUPPORTED;
    }
    if let Err(e) = req.compress.settle(None) {
        eprintln!(
            "prsync: --server: {e}; hint: give the client --compress-choice=zlibx, or point --rsync-path at rsync"
        );
        return UNSUPPORTED;
    }
    let checksum = match req.checksum_choice.as_deref().map(Checksum::choice) {
        None => None,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!(
                "prsync: --server: {e}; hint: give the client --checksum-choice=xxh128, or point --rsync-path at rsync"
            );
            return UNSUPPORTED;
        }
    };
    let wants = Wants {
        checksum,
        compress: req.compress.negotiates(),
    };
    let log = match log::ServerLog::open(&req) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("prsync: --server: {e}; hint: name a file the server may write, or leave --log-file out");
            return exit::FILE_IO;
        }
    };
    let seed = req.checksum_seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i32)
            .unwrap_or(0);
        now ^ ((std::process::id() as i32) << 6)
    });
    // A client may have left our ends of its pipes non-blocking (they can be shared
    // with the remote shell): this side blocks on them, so a full pipe must wait, not
    // fail with EAGAIN.
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO] {
        // SAFETY: fcntl(2) on descriptors this process was started with; F_GETFL and
        // F_SETFL touch only the status flags.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    let mut stdout = BufWriter::with_capacity(64 * 1024, io::stdout());
    let handshake =
        server_handshake::server(&mut stdin, &mut stdout, &req.client_info, seed, &wants);
    let session = match handshake {
        Ok(s) => match req.compress.settle(s.chosen.compress) {
            Ok(compression) => Session { compression, ..s },
            Err(e) => {
                eprintln!("prsync: --server: {e}");
                return UNSUPPORTED;
            }
        },
        Err(HandshakeError::Version(v)) if (0..100).contains(&v) => {
            eprintln!("prsync: --server speaks rsync protocol {PROTOCOL_OLDEST_SERVED} to {PROTOCOL_NEWEST} and the client speaks {v}; hint: use rsync 2.6.0 or later, or a --protocol of {PROTOCOL_OLDEST_SERVED} or more");
            return exit::PROTOCOL;
        }
        Err(e) => {
            eprintln!("prsync: --server: the handshake failed: {e}");
            return exit::PROTOCOL;
        }
    };
    if session.protocol < PROTOCOL_OLDEST && req.delete && !req.delete_when_named {
        // rsync's default below protocol 30.
        req.delete_when = DeleteWhen::Before;
    }
    let heard = Arc::new(Mutex::new(wire::Heard::default()));
    let heard_in = heard.clone();
    let read = Arc::new(AtomicU64::new(0));
    let counted = wire::Counting {
        inner: stdin,
        count: read.clone(),
    };
    let mut input = Demux::new(counted, move |tag, body| {
        wire::on_message(tag, body, &heard_in)
    })
    .framed(session.client_frames());
    let mut out = wire::Out::new(stdout).stderr(Stderr::settle(req.stderr, session.protocol));
    let result = if req.sender {
        send::run(&req, &session, &mut input, &mut out, &read)
    } else {
        receive::run(
            &req,
            &session,
            &mut input,
            &mut out,
            &heard,
            log.as_ref(),
            &read,
        )
    };
    let code = match result {
        Ok(code) if finished(code) => return code,
        Ok(code) => code,
        Err(e) => {
            if heard.lock().unwrap_or_else(|e| e.into_inner()).error_exit {
                return exit::PARTIAL;
            }
            let line = format!("rsync: [prsync --server] the rsync protocol broke: {e}");
            if out.error(&line).is_err() {
                eprintln!("{line}");
                return exit::PROTOCOL;
            }
            exit::PROTOCOL
        }
    };
    stop(&mut out, session.protocol, req.sender, code);
    code
}

/// Whether a role's status is that of a transfer run to its goodbye (rsync's
/// `shutting_down`): all is done, or some files failed or vanished. Any other status is a
/// stop part-way, after an error line the client has yet to read.
fn finished(code: i32) -> bool {
    matches!(code, exit::OK | exit::PARTIAL | send::VANISHED)
}

/// Stops part-way as rsync's server does over a remote shell (`_exit_cleanup`, with
/// its error lines already on stderr): from protocol 31 the receiver tells the client to
/// exit with this status (`MSG_ERROR_EXIT`); a sender, or an older receiver before the
/// transfer, only hangs up, and the client names the closed stream (status 12), as with
/// rsync. Then it lingers a moment, as rsync's does, so that the client has read what
/// was sent before the pipes close.
fn stop<W: io::Write>(out: &mut wire::Out<W>, protocol: i32, sender: bool, code: i32) {
    use std::io::Write;
    if !sender && protocol >= 31 {
        let _ = out.message(prtools_rsync_wire::mux::Tag::ErrorExit, &code.to_le_bytes());
    }
    let _ = out.flush();
    std::thread::sleep(LINGER);
}

/// How long rsync's server waits before it closes after an error.
const LINGER: std::time::Duration = std::time::Duration::from_millis(100);

/// The first thing asked for that this server does not do.
fn refused(req: &ServerRequest) -> Option<String> {
    if let Some(opt) = req.unsupported.first() {
        return Some(opt.clone());
    }
    if req.partial_dir.is_some() && req.delete {
        // rsync's receiver keeps its partial folders out of the deletions.
        return Some("--partial-dir or --delay-updates with --delete".into());
    }
    if req.delay_updates
        && (req.hard_links
            || req
                .partial_dir
                .as_deref()
                .is_some_and(|d| d.starts_with('/')))
    {
        return Some("--delay-updates with -H or an absolute --partial-dir".into());
    }
    if !req.sender && req.copy_unsafe_links {
        return Some("--copy-unsafe-links when it receives (a push)".into());
    }
    if req.sender && req.log_file.is_some() {
        return Some("--log-file when it sends (a pull)".into());
    }
    if req
        .confine_root
        .as_deref()
        .is_some_and(|d| !d.starts_with('/'))
    {
        return Some("a relative --confine-root".into());
    }
    if req.client_info.starts_with(|c: char| c.is_ascii_digit()) {
        // A pre-release sub-protocol, whose flags come as a byte.
        return Some(format!("the client capabilities {:?}", req.client_info));
    }
    None
}

/// rrsync's `--confine-root`: whether `path` (as it resolves now, symlinks and all, or
/// its nearest existing parent when it is still to be made) is inside the root.
fn confined(req: &ServerRequest, path: &std::path::Path) -> bool {
    req.confine_root
        .as_deref()
        .is_none_or(|root| crate::trust::inside(std::path::Path::new(root), path))
}

/// Which attributes the file list carries.
fn keep_of(req: &ServerRequest) -> Keep {
    Keep {
        uid: req.owner,
        gid: req.group,
        links: req.links,
        devices: req.devices,
        specials: req.specials,
    }
}

/// An OS error as rsync prints one: `No such file or directory (2)`.
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text.replace(&format!(" (os error {code})"), &format!(" ({code})")),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_start_is_told_from_an_rsync_clients() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(!is_rsync_request(&os(&["--server"])));
        assert!(is_rsync_request(&os(&[
            "--server",
            "-logDtpre.iLsfxCIvu",
            ".",
            "d"
        ])));
        assert!(!is_rsync_request(&os(&["-a", "x", "y"])));
        assert!(is_rsync_request(&os(&[
            "--fake-super",
            "--server",
            "-logDtpre.iLsfxCIvu",
            ".",
            "d"
        ])));
    }
}
