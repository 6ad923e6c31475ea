//! The push job of an agent: take the file list, say which files are needed, write them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use prtools_sync::{quick_check_matches, AtomicFile, Entry, Kind, RelPath, Root};

use super::{path_of, place, Link};
use crate::plan::rename_top;
use crate::protocol::{Frame, PushHeader, Reply, Request};

pub(super) struct PushJob {
    preserve: bool,
    force: bool,
    verify: bool,
    /// In a relay chain: the stream carries every file some host of the chain wants, so
    /// files not wanted here are passed over; and DEST's naming is decided here, with this
    /// new top name where DEST is not a directory.
    relay: Option<Option<RelPath>>,
}

impl PushJob {
    pub(super) fn new(header: &PushHeader, relay: Option<Option<RelPath>>) -> PushJob {
        PushJob {
            preserve: header.preserve,
            force: header.force,
            verify: header.verify,
            relay,
        }
    }

    pub(super) fn run<R: Read, W: Write>(
        &self,
        link: &mut Link<'_, R, W>,
        header: &PushHeader,
    ) -> Result<(), String> {
        let dest = path_of(header.dest.clone());
        let into_dir = dest.is_dir();
        if !into_dir && !header.renames {
            return Err(not_a_folder(&dest));
        }
        let folder = if into_dir {
            dest.to_path_buf()
        } else {
            match dest.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            }
        };
        if !folder.is_dir() {
            return Err(not_a_folder(&folder));
        }
        let root = Root::open(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        link.send(&Reply::Ready { into_dir })?;

        let mut entries = receive_list(link)?;
        if let (Some(rename), false) = (&self.relay, into_dir) {
            let name = rename
                .as_ref()
                .ok_or_else(|| format!("target '{}' is not a directory", dest.display()))?;
            entries = entries
                .iter()
                .map(|e| rename_top(e, name))
                .collect::<Result<_, _>>()?;
        }
        let umask = current_umask();
        let mut want = Vec::new();
        let mut skipped = 0;
        for (index, entry) in entries.iter().enumerate() {
            let existing = root
                .stat(&entry.path)
                .map_err(|e| format!("{}: {e}", folder.join(entry.path.as_path()).display()))?;
            let current = existing
                .as_ref()
                .is_some_and(|meta| quick_check_matches(entry, meta));
            match &entry.kind {
                Kind::Dir => root
                    .create_dir(&entry.path, 0o700)
                    .map_err(|e| place(&folder, &entry.path, e))?,
                Kind::Symlink { target } if !current || self.force => {
                    root.symlink(&entry.path, target)
                        .map_err(|e| place(&folder, &entry.path, e))?;
                    if self.preserve {
                        root.set_mtime(&entry.path, entry.mtime)
                            .map_err(|e| place(&folder, &entry.path, e))?;
                    }
                }
                Kind::File { .. } if !current || self.force => want.push(index as u32),
                _ => skipped += 1,
            }
        }
        link.send(&Reply::Want(want.clone()))?;
        // What killed runs left in the folders this push writes to. Best effort: a folder
        // that cannot be listed is no reason to fail the copy.
        let _ = root.sweep_temps(None);
        for entry in entries.iter().filter(|e| e.kind == Kind::Dir) {
            let _ = root.sweep_temps(Some(&entry.path));
        }

        let mut written = 0;
        let mut next = want.iter().copied().peekable();
        loop {
            match link.request()? {
                Frame::Message(Request::FileStart { index }) => {
                    if next.peek() != Some(&index) {
                        if self.relay.is_some() && (index as usize) < entries.len() {
                            pass_over(link)?;
                            continue;
                        }
                        return Err(format!("agent: file {index} was not asked for"));
                    }
                    next.next();
                    let entry = &entries[index as usize];
                    let file = root
                        .create_file(&entry.path)
                        .map_err(|e| place(&folder, &entry.path, e))?;
                    let hash = self.receive_file(link, &root, &folder, entry, file, umask)?;
                    written += 1;
                    link.send(&Reply::Stored { index, hash })?;
                }
                Frame::Message(Request::Finish) => break,
                _ => return Err("agent: unexpected message during the transfer".into()),
            }
        }
        if next.next().is_some() {
            return Err("agent: client finished before sending every file".into());
        }
        // Directories last, deepest first: writing into a directory changes its mtime, and a
        // read-only mode would stop the writes.
        for entry in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
            let mode = if self.preserve {
                entry.mode
            } else {
                entry.mode & !umask
            };
            root.set_mode(&entry.path, mode)
                .map_err(|e| place(&folder, &entry.path, e))?;
            if self.preserve {
                root.set_mtime(&entry.path, entry.mtime)
                    .map_err(|e| place(&folder, &entry.path, e))?;
            }
        }
        link.send(&Reply::Summary { written, skipped })?;
        link.flush()
    }

    fn receive_file<R: Read, W: Write>(
        &self,
        link: &mut Link<'_, R, W>,
        root: &Root,
        folder: &Path,
        entry: &Entry,
        mut file: AtomicFile,
        umask: u32,
    ) -> Result<Option<u128>, String> {
        loop {
            match link.request()? {
                Frame::Data(bytes) => file
                    .write_all(bytes)
                    .map_err(|e| place(folder, &entry.path, e))?,
                Frame::Message(Request::FileEnd) => break,
                Frame::Message(_) => return Err("agent: unexpected message inside a file".into()),
            }
        }
        let mode = if self.preserve {
            entry.mode
        } else {
            entry.mode & 0o777 & !umask
        };
        let mtime = self.preserve.then_some(entry.mtime);
        file.commit(mode, mtime, false)
            .map_err(|e| place(folder, &entry.path, e))?;
        if !self.verify {
            return Ok(None);
        }
        let stored = root
            .open_file(&entry.path)
            .map_err(|e| place(folder, &entry.path, e))?;
        prtools_sync::hash_reader(stored)
            .map(Some)
            .map_err(|e| place(folder, &entry.path, e))
    }
}

/// Why `path` cannot hold the copies, in the words scripts grep pdcp's and scp's messages
/// for ("No such file or directory", "not a directory"), and what to do.
fn not_a_folder(path: &Path) -> String {
    let shown = path.display();
    if std::fs::symlink_metadata(path).is_ok() {
        format!("'{shown}' exists and is not a directory; name a folder, or remove it first")
    } else {
        format!(
            "no such folder '{shown}' (No such file or directory); create it first, e.g. \
             `prsh mkdir -p {shown}`"
        )
    }
}

/// Skips a file another host of the relay chain wants (it has already been passed on).
fn pass_over<R: Read, W: Write>(link: &mut Link<'_, R, W>) -> Result<(), String> {
    loop {
        match link.request()? {
            Frame::Data(_) => {}
            Frame::Message(Request::FileEnd) => return Ok(()),
            Frame::Message(_) => return Err("agent: unexpected message inside a file".into()),
        }
    }
}

fn receive_list<R: Read, W: Write>(link: &mut Link<'_, R, W>) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    loop {
        match link.request()? {
            Frame::Message(Request::Entries(batch)) => {
                for wire in batch {
                    entries.push(wire.into_entry().map_err(|e| format!("refused: {e}"))?);
                }
            }
            Frame::Message(Request::EndOfList) => return Ok(entries),
            _ => return Err("agent: expected the file list".into()),
        }
    }
}

/// The process umask, which applies to files made without -p as it does for cp.
fn current_umask() -> u32 {
    // SAFETY: umask(2) only swaps the process's mask; it is restored at once. The agent's
    // only other thread (in a relay chain) creates no files.
    let mask = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(mask) };
    mask as u32
}
