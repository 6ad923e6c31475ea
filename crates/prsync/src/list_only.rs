//! `--list-only`, and a source given without a destination: rsync lists the files in an
//! `ls -l` shape and copies nothing. Scripts parse these lines, so each field is rsync's:
//! the type and permissions, the size (a folder's and a link's from `lstat`), the local
//! modification time, and the name (a link with its target).

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use crate::cli::Options;
use crate::flist::{FileEntry, FileKind};
use crate::itemize::{escape, HighBytes};
use crate::sender::{LocalSender, Sender};

/// Lists what `sender` found, in list order; the exit status is 23 if some of it could not
/// be listed, as for a transfer.
pub fn print(opts: &Options, sender: &LocalSender, mut out: impl Write) -> i32 {
    let high = opts.more.high_bytes;
    for (i, e) in sender.file_list().iter().enumerate() {
        // A folder's size is its own `st_size`, which the list does not carry.
        let size = match e.kind {
            FileKind::Dir => std::fs::symlink_metadata(sender.path(i)).map_or(0, |m| m.size()),
            _ => listed_size(e),
        };
        let _ = out.write_all(&line(e, size, opts.human, high, opts.links));
    }
    let _ = out.flush();
    for e in &sender.errors {
        eprintln!("prsync: {}", e.message);
    }
    if let Some(code) = sender.fatal {
        code
    } else if sender.errors.is_empty() {
        0
    } else {
        crate::exit::PARTIAL
    }
}

/// The size rsync shows for a non-folder: a file's length, a link's target length.
fn listed_size(e: &FileEntry) -> u64 {
    match &e.kind {
        FileKind::Regular { size } => *size,
        FileKind::Symlink { target } => target.len() as u64,
        _ => 0,
    }
}

/// One entry's line.
fn line(e: &FileEntry, size: u64, human: u8, high: HighBytes, targets: bool) -> Vec<u8> {
    let kind = match e.mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let width = if human > 0 { 14 } else { 11 };
    let mut out = format!(
        "{kind}{} {:>width$} {} ",
        crate::out_format::perms_text(e.mode),
        crate::stats::human_num(size, human),
        crate::out_format::time_text(e.mtime.secs).replacen('-', " ", 1),
    )
    .into_bytes();
    out.extend(escape(&e.name, high));
    if let (FileKind::Symlink { target }, true) = (&e.kind, targets) {
        out.extend_from_slice(b" -> ");
        out.extend(escape(target, high));
    }
    out.push(b'\n');
    out
}
