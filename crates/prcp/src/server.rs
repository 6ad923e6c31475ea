//! The agent: `prcp --server`, run by prcp on the remote side, speaking frames on its stdin
//! and stdout. Blocking I/O and no runtime: it serves one client and one job, then exits.

use std::ffi::OsString;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use prtools_sync::{quick_check_matches, scan, AtomicFile, Entry, Kind, RelPath, Root};
use prtools_transport::{read_frame_blocking, write_frame_blocking};

use crate::protocol::{self, decode, message, Frame, Reply, Request, WireEntry, CHUNK, PROTOCOL};

/// Serves one job from `input`, answering on `output`. An error has already been sent to the
/// client as `Fatal` when possible; it is returned so the agent exits non-zero.
pub fn serve(input: impl Read, output: impl Write) -> Result<(), String> {
    let mut link = Link {
        input: BufReader::with_capacity(2 * CHUNK, input),
        output: BufWriter::with_capacity(2 * CHUNK, output),
    };
    let result = match link.request() {
        Ok(Frame::Message(Request::Push {
            protocol,
            dest,
            sources,
            preserve,
            force,
            verify,
        })) => check_protocol(protocol).and_then(|()| {
            let job = PushJob {
                preserve,
                force,
                verify,
            };
            job.run(&mut link, &path_of(dest), sources)
        }),
        Ok(Frame::Message(Request::Gather {
            protocol,
            paths,
            recursive,
        })) => check_protocol(protocol).and_then(|()| gather(&mut link, paths, recursive)),
        Ok(_) => Err("agent: expected a push or a gather to start".into()),
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        let _ = link.send(&Reply::Fatal(e.clone()));
        let _ = link.output.flush();
    }
    result
}

fn check_protocol(protocol: u32) -> Result<(), String> {
    if protocol == PROTOCOL {
        Ok(())
    } else {
        Err(format!(
            "agent speaks protocol {PROTOCOL}, client {protocol}: use the same prcp version on both sides"
        ))
    }
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

struct Link<R: Read, W: Write> {
    input: BufReader<R>,
    output: BufWriter<W>,
}

impl<R: Read, W: Write> Link<R, W> {
    fn request(&mut self) -> Result<Frame<Request>, String> {
        match read_frame_blocking(&mut self.input) {
            Ok(Some(payload)) => decode(payload),
            Ok(None) => Err("client hung up".into()),
            Err(e) => Err(format!("reading from client: {e}")),
        }
    }

    fn send(&mut self, reply: &Reply) -> Result<(), String> {
        write_frame_blocking(&mut self.output, &message(reply))
            .map_err(|e| format!("writing to client: {e}"))
    }

    /// Sends a data frame built in a [`protocol::data_buffer`].
    fn send_frame(&mut self, frame: &[u8]) -> Result<(), String> {
        write_frame_blocking(&mut self.output, frame).map_err(|e| format!("writing to client: {e}"))
    }

    fn flush(&mut self) -> Result<(), String> {
        self.output
            .flush()
            .map_err(|e| format!("writing to client: {e}"))
    }
}

struct PushJob {
    preserve: bool,
    force: bool,
    verify: bool,
}

impl PushJob {
    fn run<R: Read, W: Write>(
        &self,
        link: &mut Link<R, W>,
        dest: &Path,
        sources: u32,
    ) -> Result<(), String> {
        let into_dir = dest.is_dir();
        if !into_dir && sources > 1 {
            return Err(format!(
                "target '{}' is not a directory; create it first or copy one source",
                dest.display()
            ));
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
            return Err(format!(
                "destination folder '{}' does not exist; create it first (e.g. `prsh mkdir -p {}`)",
                folder.display(),
                folder.display()
            ));
        }
        let root = Root::open(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        link.send(&Reply::Ready { into_dir })?;
        link.flush()?;

        let entries = receive_list(link)?;
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
        link.flush()?;

        let mut written = 0;
        let mut next = want.iter().copied().peekable();
        loop {
            match link.request()? {
                Frame::Message(Request::FileStart { index }) => {
                    if next.next() != Some(index) {
                        return Err(format!("agent: file {index} was not asked for"));
                    }
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
        link: &mut Link<R, W>,
        root: &Root,
        folder: &Path,
        entry: &Entry,
        mut file: AtomicFile,
        umask: u32,
    ) -> Result<Option<u128>, String> {
        loop {
            match link.request()? {
                Frame::Data(bytes) => file
                    .write_all(&bytes)
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

fn receive_list<R: Read, W: Write>(link: &mut Link<R, W>) -> Result<Vec<Entry>, String> {
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

fn place(folder: &Path, rel: &RelPath, e: std::io::Error) -> String {
    format!("{}: {e}", folder.join(rel.as_path()).display())
}

fn gather<R: Read, W: Write>(
    link: &mut Link<R, W>,
    paths: Vec<Vec<u8>>,
    recursive: bool,
) -> Result<(), String> {
    for path in paths.into_iter().map(path_of) {
        let entries = scan(&path, recursive).map_err(|e| e.to_string())?;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root = Root::open(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in &entries {
            link.send(&Reply::Entry(WireEntry::from(entry)))?;
            if let Kind::File { .. } = entry.kind {
                let mut file = root
                    .open_file(&entry.path)
                    .map_err(|e| place(&folder, &entry.path, e))?;
                let mut buf = protocol::data_buffer();
                loop {
                    let n = file
                        .read(&mut buf[protocol::DATA_START..])
                        .map_err(|e| place(&folder, &entry.path, e))?;
                    if n == 0 {
                        break;
                    }
                    link.send_frame(&buf[..protocol::DATA_START + n])?;
                }
                link.send(&Reply::EndFile)?;
            }
        }
    }
    link.send(&Reply::EndOfTree)?;
    link.flush()
}

/// The process umask, which applies to files made without -p as it does for cp.
fn current_umask() -> u32 {
    // SAFETY: umask(2) only swaps the process's mask; it is restored at once, and the agent
    // is single-threaded.
    let mask = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(mask) };
    mask as u32
}
