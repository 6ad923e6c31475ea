//! The sending server (`--server --sender`, a client's pull), in the order of rsync's
//! `do_server_sender`: the client's filter list, the file list and id lists, then one
//! answer per index its generator sends, through the redo and done phases, the totals,
//! and the goodbye.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prtools_mapped::Mapped;
use prtools_rsync_wire::codec::{put_int, put_longint, put_varlong};
use prtools_rsync_wire::delta::{self, Seed};
use prtools_rsync_wire::flist::{put_id_list_of, Encoder, Entry};
use prtools_rsync_wire::handshake::{compat, Session};
use prtools_rsync_wire::itemize;
use prtools_rsync_wire::mux::{Demux, Tag};
use prtools_rsync_wire::ndx::{NdxState, NDX_DONE};
use prtools_rsync_wire::server_request::ServerRequest;
use prtools_rsync_wire::sums::{read_blocks, SumHead};
use prtools_rsync_wire::PROTOCOL_OLDEST;

use super::list::{list, How, Listed};
use super::wire::{echo, filter_list, read_filters, read_request, send_ndx, Out};
use crate::exit;
use crate::idmap::{name_of, Ids};
use prtools_rsync_wire::flist_links::{mark, Mark};

/// rsync's I/O error bits.
const IOERR_GENERAL: i32 = 1;
const IOERR_VANISHED: i32 = 2;
/// rsync's exit status when some sources vanished.
pub(super) const VANISHED: i32 = 24;

/// Sends what the client asked for; returns the exit status.
pub(super) fn run<W: Write, R: Read, F: FnMut(Tag, Vec<u8>) -> io::Result<()>>(
    req: &ServerRequest,
    session: &Session,
    input: &mut Demux<R, F>,
    out: &mut Out<W>,
    read: &Arc<AtomicU64>,
) -> io::Result<i32> {
    let started = std::time::Instant::now();
    let filters = match filter_list(&read_filters(input, session.protocol)?) {
        Ok(f) => f,
        Err(what) => {
            out.error(&format!(
                "rsync: [prsync --server] {what}, or point --rsync-path at rsync"
            ))?;
            out.flush()?;
            return Ok(super::UNSUPPORTED);
        }
    };
    let (dir, sources) = match req.paths.split_first() {
        Some((dir, rest)) => (dir.as_str(), rest.to_vec()),
        None => {
            out.error("rsync: [prsync --server] no folder to send from")?;
            return Ok(exit::SYNTAX);
        }
    };
    if let Err(e) = std::env::set_current_dir(dir) {
        out.error(&format!(
            "rsync: [sender] change_dir#3 \"{dir}\" failed: {}",
            super::os_text(&e)
        ))?;
        out.flush()?;
        return Ok(exit::SELECT);
    }
    let sources = if let Some(from) = req.files_from.as_deref() {
        // --files-from: the names, relative to the one folder given.
        let names = match from {
            // Below protocol 31 the client forwards the names outside its frames.
            "-" if session.protocol < 31 => {
                split_names(&read_names(input.between_frames()?)?, true, false)
            }
            "-" => split_names(&read_names(input)?, true, false),
            file => match std::fs::read(file) {
                Ok(text) => split_names(&text, req.from0, true),
                Err(e) => {
                    out.error(&format!(
                        "rsync: [sender] failed to open files-from file {file}: {}",
                        super::os_text(&e)
                    ))?;
                    out.flush()?;
                    return Ok(exit::SYNTAX);
                }
            },
        };
        if let Some(base) = sources.first() {
            if let Err(e) = std::env::set_current_dir(base) {
                out.error(&format!(
                    "rsync: [sender] change_dir \"{base}\" failed: {}",
                    super::os_text(&e)
                ))?;
                out.flush()?;
                return Ok(exit::SELECT);
            }
        }
        names
    } else if sources.is_empty() {
        vec![".".to_string()]
    } else if req.protect_args {
        // No remote shell globbed these: rsync's server does it itself.
        sources.iter().flat_map(|s| glob(s)).collect()
    } else {
        sources
    };
    if let Some(outside) = sources
        .iter()
        .find(|s| !super::confined(req, std::path::Path::new(s.as_str())))
    {
        out.error(&format!(
            "rsync: [sender] \"{outside}\" is outside the --confine-root folder"
        ))?;
        out.flush()?;
        return Ok(exit::SELECT);
    }
    let listed = list(
        &sources,
        &How {
            protocol: session.protocol,
            recursive: req.recursive,
            dirs: req.dirs,
            relative: req.relative,
            // rsync 3's receiver wants every parent in the list, so the folders on the
            // way go even with --no-implied-dirs.
            implied_dirs: true,
            hard_links: req.hard_links,
            copy_unsafe_links: req.copy_unsafe_links,
            fake_super: req.fake_super,
            filters: &filters,
            readable: &|path| super::confined(req, path),
        },
    );
    for note in &listed.notes {
        let tag = if super::list::is_error(note) {
            Tag::ErrorXfer
        } else {
            Tag::Info
        };
        out.message(tag, format!("{note}\n").as_bytes())?;
    }
    let build_ms = started.elapsed().as_millis() as i64;
    let sent_at = std::time::Instant::now();
    let keep = super::keep_of(req);
    let safe_flist = session.compat & compat::SAFE_FLIST != 0 || session.protocol >= 31;
    let ignore = req.ignore_errors;
    let mut buf = Vec::new();
    let mut enc = Encoder::new(session.protocol, keep).varint_flags(session.varint_flags());
    let old = session.protocol < PROTOCOL_OLDEST;
    for item in &listed.items {
        let start = buf.len();
        match (old, item.mark, item.inode) {
            // Below 30 a hard link goes whole with its inode, and a folder without
            // contents as a plain (not top) folder.
            (true, Some(Mark::FirstLink | Mark::LaterLink(_)), Some((dev, ino))) => {
                enc.put_linked(&mut buf, &item.entry, dev, ino)
            }
            (true, Some(Mark::ImpliedDir | Mark::NoContentDir), _) => {
                let plain = Entry {
                    top: false,
                    ..item.entry.clone()
                };
                enc.put(&mut buf, &plain)
            }
            (true, _, _) => enc.put(&mut buf, &item.entry),
            (false, Some(m), _) => {
                enc.put(&mut buf, &item.entry);
                mark(&mut buf, start, m, enc.form())?;
            }
            (false, None, _) => enc.put(&mut buf, &item.entry),
        }
        let abbreviated = !old && matches!(item.mark, Some(Mark::LaterLink(_)));
        if req.checksum && item.entry.is_file() && !abbreviated {
            buf.extend_from_slice(&super::receive::file_sum(
                &item.path,
                session.checksum.for_list(),
            ));
        }
        if buf.len() >= 64 * 1024 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    let end_bits = if safe_flist && !ignore {
        listed.io_error
    } else {
        0
    };
    enc.end(&mut buf, end_bits);
    if !req.numeric_ids {
        if keep.uid {
            put_id_list_of(&mut buf, &names(&listed, Ids::Users), session.varints());
        }
        if keep.gid {
            put_id_list_of(&mut buf, &names(&listed, Ids::Groups), session.varints());
        }
    }
    if old {
        // Below 30 the I/O error bits follow the lists.
        put_int(&mut buf, if ignore { 0 } else { listed.io_error });
    }
    out.write_all(&buf)?;
    if !old && !safe_flist && listed.io_error != 0 && !ignore {
        out.message(Tag::IoError, &listed.io_error.to_le_bytes())?;
    }
    out.flush()?;
    let xfer_ms = sent_at.elapsed().as_millis() as i64;
    if listed.items.is_empty() {
        // rsync's sender ends here: the client sees the empty list and stops.
        return Ok(status(listed.io_error));
    }

    let mut io_error = listed.io_error;
    let (mut ndx_in, mut ndx_out) = (session.ndx(), session.ndx());
    let mut phase = 0;
    // One deflate coder for the session with -z: its tokens are one stream per file.
    let mut coder = session.compression.map(|c| c.encoder(session.protocol));
    loop {
        let r = read_request(input, &mut ndx_in, session.iflags_follow())?;
        if r.ndx == NDX_DONE {
            phase += 1;
            if phase > session.later_phases() {
                break;
            }
            send_ndx(out, &mut ndx_out, NDX_DONE)?;
            out.flush()?;
            continue;
        }
        let item = listed.items.get(r.ndx as usize).ok_or_else(|| {
            prtools_rsync_wire::codec::invalid(format!(
                "the client asked for file {} of {}",
                r.ndx,
                listed.items.len()
            ))
        })?;
        if r.iflags & itemize::TRANSFER == 0 || req.dry_run {
            echo(out, &mut ndx_out, &r, session.iflags_follow())?;
            out.flush()?;
            continue;
        }
        if phase == 2 {
            return Err(prtools_rsync_wire::codec::invalid(
                "the client asked for a file after the redo phase".into(),
            ));
        }
        let head = SumHead::read(input)?;
        let blocks = read_blocks(input, &head)?;
        let file = match open(&item.path, item.followed) {
            Ok(map) => map,
            Err(e) => {
                if e.kind() == io::ErrorKind::NotFound {
                    io_error |= IOERR_VANISHED;
                    out.message(
                        Tag::Warning,
                        format!("file has vanished: \"{}\"\n", item.path.display()).as_bytes(),
                    )?;
                } else {
                    io_error |= IOERR_GENERAL;
                    out.message(
                        Tag::ErrorXfer,
                        format!(
                            "rsync: [sender] send_files failed to open \"{}\": {}\n",
                            item.path.display(),
                            super::os_text(&e)
                        )
                        .as_bytes(),
                    )?;
                }
                if !old {
                    // Below 30 the receiver just never hears of it.
                    out.message(Tag::NoSend, &r.ndx.to_le_bytes())?;
                }
                continue;
            }
        };
        echo(out, &mut ndx_out, &r, session.iflags_follow())?;
        let mut b = Vec::new();
        head.put(&mut b);
        out.write_all(&b)?;
        delta::send_coded(out, &file, &blocks, Seed::from(session), coder.as_mut())?;
        out.flush()?;
    }
    if io_error != listed.io_error && !ignore && !old {
        out.message(Tag::IoError, &io_error.to_le_bytes())?;
    }
    send_ndx(out, &mut ndx_out, NDX_DONE)?;
    // The totals the client prints with --stats: read, written, size, list times.
    let total_size: u64 = listed
        .items
        .iter()
        .filter(|i| i.entry.is_file() || i.entry.is_link())
        .map(|i| i.entry.size)
        .sum();
    // Protocol 28 has no list times; below 30 the numbers are longints.
    let mut b = Vec::new();
    let totals = [
        read.load(Ordering::Relaxed) as i64,
        out.written as i64,
        total_size as i64,
        build_ms,
        xfer_ms,
    ];
    let count = if session.protocol >= 29 { 5 } else { 3 };
    for n in &totals[..count] {
        if old {
            put_longint(&mut b, *n);
        } else {
            put_varlong(&mut b, *n, 3);
        }
    }
    out.write_all(&b)?;
    out.flush()?;
    // The goodbye: from protocol 31 the client says done twice, with an answer between.
    expect_done(input, &mut ndx_in)?;
    if session.protocol >= 31 {
        send_ndx(out, &mut ndx_out, NDX_DONE)?;
        out.flush()?;
        expect_done(input, &mut ndx_in)?;
    }
    Ok(status(io_error))
}

fn expect_done(input: &mut impl Read, ndx_in: &mut NdxState) -> io::Result<()> {
    let r = read_request(input, ndx_in, true)?;
    if r.ndx != NDX_DONE {
        return Err(prtools_rsync_wire::codec::invalid(format!(
            "file {} asked for at the end of the run",
            r.ndx
        )));
    }
    Ok(())
}

/// Opens a listed regular file without following a symlink swapped in since the list
/// (unless the list `followed` the symlink there, by `--copy-unsafe-links`).
fn open(path: &std::path::Path, followed: bool) -> io::Result<Mapped> {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = if followed { 0 } else { libc::O_NOFOLLOW };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(path)?;
    Mapped::new(&f)
}

/// rsync's exit status for these I/O error bits.
fn status(io_error: i32) -> i32 {
    if io_error & !IOERR_VANISHED != 0 {
        exit::PARTIAL
    } else if io_error != 0 {
        VANISHED
    } else {
        exit::OK
    }
}

/// The names of the owners (or groups) in the list, for the receiver to map.
fn names(listed: &Listed, ids: Ids) -> Vec<(u32, Vec<u8>)> {
    let mut seen = std::collections::BTreeSet::new();
    for item in &listed.items {
        seen.insert(match ids {
            Ids::Users => item.entry.uid,
            Ids::Groups => item.entry.gid,
        });
    }
    seen.into_iter()
        .filter(|&id| id != 0)
        .filter_map(|id| name_of(ids, id).map(|n| (id, n)))
        .collect()
}

/// The names `pattern` matches, sorted, or the pattern itself when nothing does (as a
/// shell leaves it).
fn glob(pattern: &str) -> Vec<String> {
    if !pattern.contains(['*', '?', '[']) {
        return vec![pattern.to_string()];
    }
    let Ok(c) = std::ffi::CString::new(pattern) else {
        return vec![pattern.to_string()];
    };
    // SAFETY: glob_t is plain data that glob(3) fills; all-zero is its documented start.
    let mut g: libc::glob_t = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and outlives the call; `g` is freed below.
    let rc = unsafe { libc::glob(c.as_ptr(), libc::GLOB_NOCHECK, None, &mut g) };
    let mut out = Vec::new();
    if rc == 0 {
        for i in 0..g.gl_pathc {
            // SAFETY: glob(3) set gl_pathc NUL-terminated strings in gl_pathv.
            let p = unsafe { std::ffi::CStr::from_ptr(*g.gl_pathv.add(i)) };
            out.push(p.to_string_lossy().into_owned());
        }
    }
    // SAFETY: `g` was filled by glob(3) above (or left zeroed, which globfree accepts).
    unsafe { libc::globfree(&mut g) };
    if out.is_empty() {
        out.push(pattern.to_string());
    }
    out
}

/// The names a client forwards for `--files-from=-`: NUL-terminated, up to an empty one.
fn read_names(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut last = 0u8;
    loop {
        let mut b = [0u8; 1];
        input.read_exact(&mut b)?;
        if b[0] == 0 && (last == 0) {
            return Ok(all);
        }
        if all.len() > 64 << 20 {
            return Err(prtools_rsync_wire::codec::invalid(
                "more than 64 MiB of --files-from names".into(),
            ));
        }
        all.push(b[0]);
        last = b[0];
    }
}

/// A files-from text as names: NUL- or line-separated, empty ones dropped, and (for a
/// file read here) `#` and `;` comment lines too, as rsync reads them.
fn split_names(text: &[u8], nul: bool, comments: bool) -> Vec<String> {
    text.split(|&c| {
        if nul {
            c == 0
        } else {
            c == b'\n' || c == b'\r' || c == 0
        }
    })
    .filter(|n| !n.is_empty())
    .filter(|n| !(comments && !nul && (n[0] == b'#' || n[0] == b';')))
    .map(|n| String::from_utf8_lossy(n).into_owned())
    .collect()
}
