//! The agent: `prsync --server`, speaking [`wire`](super::wire) messages on stdin and stdout.
//! Its stderr carries the receiver's `prsync: ...` lines back through ssh as they are.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::rc::Rc;
use std::time::Instant;

use super::peer::{serve_sender, unexpected, OutWriter, RemoteSender};
use super::wire::{encode, Job, Link, Msg, Shape, WireEntry, PROTOCOL};
use crate::cli::parse_server_args;
use crate::flist::FileEntry;
use crate::sender::{LocalSender, Sender};

/// Capacity of the agent's stdin and stdout buffers.
const BUFFER: usize = 64 * 1024;

/// Serves one job and returns the agent's exit status.
pub fn serve() -> i32 {
    // Before any thread starts (see the function): a kill leaves no temp file behind.
    if let Err(e) = prtools_sync::remove_temps_on_signal(None) {
        eprintln!("prsync agent: cannot take stop signals: {e}");
        return crate::exit::FILE_IO;
    }
    prtools_transport::widen_pipe(&io::stdin());
    prtools_transport::widen_pipe(&io::stdout());
    let link = Link::new(
        BufReader::with_capacity(BUFFER, io::stdin()),
        BufWriter::with_capacity(BUFFER, io::stdout()),
    );
    match job(link) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("prsync agent: {e}");
            crate::exit::PROTOCOL
        }
    }
}

fn job<R: Read, W: Write>(mut link: Link<R, W>) -> io::Result<i32> {
    let (args, job) = match link.receive()? {
        Msg::Hello {
            protocol,
            args,
            job,
        } => {
            if protocol != PROTOCOL {
                return Err(io::Error::other(format!(
                    "agent speaks protocol {PROTOCOL}, client {protocol}: use the same prsync version on both sides"
                )));
            }
            (args, job)
        }
        other => return Err(unexpected("Hello", &other)),
    };
    let mut opts = parse_server_args(&args).map_err(|e| io::Error::other(format!("{e:#}")))?;
    match job {
        Job::Receive { dest } => {
            opts.dest = OsString::from_vec(dest);
            opts.pushed = true;
            let (list, errors, notices) = receive_list(&mut link)?;
            let link = Rc::new(RefCell::new(link));
            let mut sender = RemoteSender::new(list, link.clone());
            let out = OutWriter { link: link.clone() };
            let code = crate::transfer(&opts, &mut sender, &errors, &notices, Instant::now(), out);
            sender.finish()?;
            let mut link = link.borrow_mut();
            link.send(&Msg::Done(code))?;
            link.flush()?;
            Ok(code)
        }
        Job::Send { sources } => {
            opts.sources = sources.into_iter().map(OsString::from_vec).collect();
            let mut sender =
                LocalSender::list(&opts.sources, &crate::list_options(&opts), &opts.filters);
            let errors = sender.errors.iter().map(|e| e.message.clone()).collect();
            send_list(
                &mut link,
                sender.file_list(),
                errors,
                sender.notices.clone(),
            )?;
            let shape = Shape {
                compress: opts.compress_level(),
                bwlimit: opts.bwlimit,
            };
            let silent = prtools_transport::Progress::new(0, true);
            serve_sender(&mut sender, &mut link, shape, &silent, |_| {})?;
            Ok(crate::exit::OK)
        }
        Job::Read { path } => send_file(&mut link, &path, opts.insecure_links),
    }
}

/// `--files-from=host:FILE` on this host: the file's bytes, or why they cannot be had.
fn send_file<R: Read, W: Write>(
    link: &mut Link<R, W>,
    path: &[u8],
    insecure: bool,
) -> io::Result<i32> {
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
    let read = crate::trust::check_operator_path(path, insecure)
        .map_err(io::Error::other)
        .and_then(|()| std::fs::read(path));
    match read {
        Ok(bytes) => {
            for chunk in bytes.chunks(super::wire::CHUNK) {
                link.send(&Msg::Data(chunk.to_vec()))?;
            }
            link.send(&Msg::Done(crate::exit::OK))?;
            link.flush()?;
            Ok(crate::exit::OK)
        }
        Err(e) => {
            link.send(&Msg::Failed(format!(
                "cannot read --files-from file '{}': {}",
                path.display(),
                crate::sender::os_reason(&e)
            )))?;
            link.flush()?;
            Ok(crate::exit::FILE_IO)
        }
    }
}

/// Sends a file list, in batches, then `EndList`.
pub fn send_list<R: Read, W: Write>(
    link: &mut Link<R, W>,
    list: &[FileEntry],
    errors: Vec<String>,
    notices: Vec<String>,
) -> io::Result<()> {
    for message in encode_list(list, errors, notices)? {
        link.send_encoded(&message)?;
    }
    link.flush()
}

/// The messages of [`send_list`], encoded: a push to many hosts encodes its list once and
/// sends these same bytes to every host, where converting and encoding 50,000 entries again
/// for each host was most of the client's own CPU in a no-op after ssh's.
pub fn encode_list(
    list: &[FileEntry],
    errors: Vec<String>,
    notices: Vec<String>,
) -> io::Result<Vec<Vec<u8>>> {
    // A batch ends at 1024 entries or at about LIST_BYTES: with -X or -A an entry carries
    // its attributes (values up to 64 KiB each), and a batch must stay well inside a frame.
    const LIST_ENTRIES: usize = 1024;
    const LIST_BYTES: usize = 4 << 20;
    let mut messages = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for entry in list {
        bytes += wire_size(entry);
        batch.push(WireEntry::from(entry));
        if batch.len() == LIST_ENTRIES || bytes >= LIST_BYTES {
            messages.push(encode(&Msg::List(std::mem::take(&mut batch)))?);
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        messages.push(encode(&Msg::List(batch))?);
    }
    messages.push(encode(&Msg::EndList { errors, notices })?);
    Ok(messages)
}

/// About what `entry` takes on the wire: its names, link target and attributes, and a
/// little for the numbers.
fn wire_size(entry: &FileEntry) -> usize {
    let target = match &entry.kind {
        crate::flist::FileKind::Symlink { target } => target.len(),
        _ => 0,
    };
    let xattrs: usize = entry
        .xattrs
        .iter()
        .map(|(n, v)| n.len() + v.len() + 8)
        .sum();
    entry.name.len() + target + xattrs + entry.acl.as_ref().map_or(0, String::len) + 64
}

/// Receives a file list, checking every name.
pub fn receive_list<R: Read, W: Write>(
    link: &mut Link<R, W>,
) -> io::Result<(Vec<FileEntry>, Vec<String>, Vec<String>)> {
    let mut list = Vec::new();
    loop {
        match link.receive()? {
            Msg::List(batch) => {
                for wire in batch {
                    list.push(
                        wire.into_entry()
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
                    );
                }
            }
            Msg::EndList { errors, notices } => return Ok((list, errors, notices)),
            other => return Err(unexpected("the file list", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::FileKind;

    /// 1024 entries with 60 KiB of attributes each would be 60 MiB in one batch, past a
    /// frame's 16 MiB: the list goes in smaller batches, and arrives whole.
    #[test]
    fn a_list_heavy_with_attributes_fits_the_frames() {
        let entry = |n: usize| FileEntry {
            mtime: prtools_sync::Mtime { secs: 1, nanos: 0 },
            xattrs: vec![(b"user.big".to_vec(), vec![b'x'; 60 << 10])],
            ..FileEntry::new(
                format!("f{n}").into_bytes(),
                FileKind::Regular { size: 1 },
                0o100644,
            )
        };
        let list: Vec<FileEntry> = (0..1024).map(entry).collect();
        let mut wire = Vec::new();
        send_list(
            &mut Link::new(io::empty(), &mut wire),
            &list,
            Vec::new(),
            Vec::new(),
        )
        .unwrap();
        let mut link = Link::new(&wire[..], io::sink());
        let (got, _, _) = receive_list(&mut link).unwrap();
        assert_eq!(got, list);
    }
}
