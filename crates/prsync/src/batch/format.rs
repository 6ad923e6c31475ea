//! The batch file: header, file list, one record a file sent, end mark.
//!
//! ```text
//! MAGIC  VERSION:u32le  HEADER_LEN:u64le  postcard(Header)
//! ( 'F' INDEX:u32le ( LEN:u32le BYTES )* END:u32le )*     END = 0 whole, u32::MAX unreadable
//! 'E' RECORDS:u32le
//! ```
//!
//! Data goes in chunks because a file streams: its length is known only once it has been
//! read, and memory stays bounded whatever its size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::flist::FileEntry;
use crate::remote::wire::WireEntry;

/// The first bytes of every prsync batch.
pub const MAGIC: &[u8; 13] = b"prsync-batch\n";

/// Bumped when the format changes; a reader refuses any other.
pub const VERSION: u32 = 1;

/// A record's end: the data is whole.
const WHOLE: u32 = 0;
/// A record's end: the sender could not read the file, and the data is not to be used.
const UNREADABLE: u32 = u32::MAX;
/// The largest chunk a writer makes (and a reader believes).
const MAX_CHUNK: usize = 1 << 20;

/// The options a batch was written with that shape its file list, which a replay takes
/// from the batch whatever its own command line says, as rsync's stream flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    /// `-r`.
    pub recursive: bool,
    /// `-o`.
    pub owner: bool,
    /// `-g`.
    pub group: bool,
    /// `-l`.
    pub links: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `-c`.
    pub checksum: bool,
    /// `-d`.
    pub dirs: bool,
}

impl Flags {
    /// The flags of `opts`.
    pub fn of(opts: &crate::cli::Options) -> Flags {
        Flags {
            recursive: opts.recursive,
            owner: opts.owner,
            group: opts.group,
            links: opts.links,
            devices: opts.devices,
            specials: opts.specials,
            hard_links: opts.hard_links,
            checksum: opts.checksum,
            dirs: opts.dirs,
        }
    }

    /// Sets `opts` to these flags; returns rsync's words for each one changed.
    pub fn apply(&self, opts: &mut crate::cli::Options) -> Vec<String> {
        let mut said = Vec::new();
        for (want, have, name) in [
            (self.recursive, &mut opts.recursive, "--recurse (-r)"),
            (self.owner, &mut opts.owner, "--owner (-o)"),
            (self.group, &mut opts.group, "--group (-g)"),
            (self.links, &mut opts.links, "--links (-l)"),
            (self.devices, &mut opts.devices, "--devices (-D)"),
            (self.specials, &mut opts.specials, "--specials"),
            (self.hard_links, &mut opts.hard_links, "--hard-links (-H)"),
            (self.checksum, &mut opts.checksum, "--checksum (-c)"),
            (self.dirs, &mut opts.dirs, "--dirs (-d)"),
        ] {
            if *have != want {
                let verb = if want { "Setting" } else { "Clearing" };
                said.push(format!("{verb} the {name} option to match the batchfile."));
                *have = want;
            }
        }
        said
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    flags: Flags,
    list: Vec<WireEntry>,
}

/// A batch being written.
pub struct Writer {
    file: BufWriter<File>,
    path: PathBuf,
    records: u32,
}

impl Writer {
    /// Creates (or truncates) the batch at `path`, after the operator-path check.
    pub fn create(path: &Path, insecure: bool) -> Result<Writer, String> {
        let file = create_checked(path, 0o600, insecure)?;
        Ok(Writer {
            file: BufWriter::new(file),
            path: path.to_path_buf(),
            records: 0,
        })
    }

    /// Writes the header: the format, the flags and the file list.
    pub fn header(&mut self, flags: Flags, list: &[FileEntry]) -> io::Result<()> {
        let header = Header {
            flags,
            list: list.iter().map(WireEntry::from).collect(),
        };
        let bytes = postcard::to_allocvec(&header).map_err(io::Error::other)?;
        self.file.write_all(MAGIC)?;
        self.file.write_all(&VERSION.to_le_bytes())?;
        self.file.write_all(&(bytes.len() as u64).to_le_bytes())?;
        self.file.write_all(&bytes)
    }

    /// Starts the record of entry `index`; its data is written to what this returns.
    pub fn record(&mut self, index: usize) -> io::Result<Record<'_>> {
        self.file.write_all(b"F")?;
        self.file.write_all(&(index as u32).to_le_bytes())?;
        self.records += 1;
        Ok(Record {
            file: &mut self.file,
        })
    }

    /// Writes the end mark and makes sure every byte reached the file.
    pub fn finish(mut self) -> Result<(), String> {
        let result = (|| {
            self.file.write_all(b"E")?;
            self.file.write_all(&self.records.to_le_bytes())?;
            self.file.flush()?;
            self.file.get_ref().sync_all()
        })();
        result.map_err(|e| {
            format!(
                "batch file '{}' write error: {}",
                self.path.display(),
                crate::sender::os_reason(&e)
            )
        })
    }
}

/// The data of one file in a batch being written.
pub struct Record<'a> {
    file: &'a mut BufWriter<File>,
}

impl Record<'_> {
    /// Ends the record: `whole` when every byte of the file was written.
    pub fn end(self, whole: bool) -> io::Result<()> {
        let mark = if whole { WHOLE } else { UNREADABLE };
        self.file.write_all(&mark.to_le_bytes())
    }
}

impl Write for Record<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_CHUNK);
        if n == 0 {
            return Ok(0);
        }
        self.file.write_all(&(n as u32).to_le_bytes())?;
        self.file.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Opens `path` for writing, created with `mode` or truncated, unless another user's
/// symlink leads to it.
pub fn create_checked(path: &Path, mode: u32, insecure: bool) -> Result<File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    crate::trust::check_operator_path(path, insecure)
        .map_err(|e| format!("batch file '{shown}': {e}"))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            format!(
                "batch file '{shown}' open error: {}",
                crate::sender::os_reason(&e)
            )
        })
}

/// Where a file's data is in a batch being read.
#[derive(Clone, Copy, Debug)]
struct At {
    offset: u64,
    whole: bool,
}

/// A batch being read: checked whole when opened, so that a truncated or foreign one is
/// refused before the destination changes.
pub struct Reader {
    file: File,
    /// The options the batch was written with.
    pub flags: Flags,
    /// The file list.
    pub list: Vec<FileEntry>,
    records: HashMap<usize, At>,
    /// The entries recorded, in the order they were written.
    pub order: Vec<usize>,
}

impl Reader {
    /// Opens and checks the batch at `path` (`-`: standard input, kept in an unnamed
    /// temporary file so that records can be read in any order).
    pub fn open(path: &Path, insecure: bool) -> Result<Reader, String> {
        let shown = path.display();
        let file = if path.as_os_str() == "-" {
            stdin_copy().map_err(|e| {
                format!(
                    "cannot read the batch from standard input: {}",
                    crate::sender::os_reason(&e)
                )
            })?
        } else {
            crate::trust::check_operator_path(path, insecure)
                .map_err(|e| format!("batch file '{shown}': {e}"))?;
            let file = File::open(path).map_err(|e| {
                format!(
                    "batch file '{shown}' open error: {}",
                    crate::sender::os_reason(&e)
                )
            })?;
            let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
            if !regular {
                return Err(format!(
                    "batch file '{shown}' is not a regular file; hint: give the file \
                     --write-batch made"
                ));
            }
            file
        };
        Reader::check(file).map_err(|why| format!("batch file '{shown}' {why}"))
    }

    fn check(file: File) -> Result<Reader, String> {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = BufReader::new(&file);
        let mut magic = [0u8; MAGIC.len()];
        if input.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(
                "is not a prsync batch; hint: replay it with the program that \
                        wrote it"
                    .into(),
            );
        }
        let truncated = || "is truncated; hint: write the batch again".to_string();
        let version = read_u32(&mut input).map_err(|_| truncated())?;
        if version != VERSION {
            return Err(format!(
                "has format {version}, this prsync reads format {VERSION}; hint: replay it \
                 with the prsync that wrote it"
            ));
        }
        let len = read_u64(&mut input).map_err(|_| truncated())?;
        let mut pos = (MAGIC.len() + 4 + 8) as u64;
        if len > size.saturating_sub(pos) {
            return Err(truncated());
        }
        let mut bytes = vec![0u8; len as usize];
        input.read_exact(&mut bytes).map_err(|_| truncated())?;
        pos += len;
        let header: Header =
            postcard::from_bytes(&bytes).map_err(|_| "has a damaged header".to_string())?;
        let list = header
            .list
            .into_iter()
            .map(WireEntry::into_entry)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("has a bad file list: {e}"))?;
        let mut records = HashMap::new();
        let mut order = Vec::new();
        loop {
            let mut tag = [0u8];
            input.read_exact(&mut tag).map_err(|_| truncated())?;
            pos += 1;
            match &tag {
                b"F" => {
                    let index = read_u32(&mut input).map_err(|_| truncated())? as usize;
                    pos += 4;
                    if index >= list.len() || !list[index].is_regular() {
                        return Err(format!("has data for no file of its list ({index})"));
                    }
                    let offset = pos;
                    let whole = loop {
                        let n = read_u32(&mut input).map_err(|_| truncated())?;
                        pos += 4;
                        match n {
                            WHOLE => break true,
                            UNREADABLE => break false,
                            n if n as usize > MAX_CHUNK => {
                                return Err("has a damaged record".into())
                            }
                            n => {
                                if u64::from(n) > size.saturating_sub(pos) {
                                    return Err(truncated());
                                }
                                input.seek_relative(i64::from(n)).map_err(|_| truncated())?;
                                pos += u64::from(n);
                            }
                        }
                    };
                    records.insert(index, At { offset, whole });
                    order.push(index);
                }
                b"E" => {
                    let count = read_u32(&mut input).map_err(|_| truncated())?;
                    if count as usize != order.len() {
                        return Err("is damaged (its record count is wrong)".into());
                    }
                    break;
                }
                _ => return Err("has a damaged record".into()),
            }
        }
        drop(input);
        Ok(Reader {
            file,
            flags: header.flags,
            list,
            records,
            order,
        })
    }

    /// Whether the batch holds the data of entry `index`.
    pub fn has(&self, index: usize) -> bool {
        self.records.contains_key(&index)
    }

    /// Writes the recorded data of entry `index` to `out`; returns its length.
    pub fn copy_to(&mut self, index: usize, out: &mut dyn Write) -> io::Result<u64> {
        let name = String::from_utf8_lossy(&self.list[index].name).into_owned();
        let at = self.records.get(&index).copied().ok_or_else(|| {
            io::Error::other(format!(
                "'{name}' is not in the batch (the destination differs from the one it \
                 was written for)"
            ))
        })?;
        if !at.whole {
            return Err(io::Error::other(format!(
                "'{name}': the sender could not read it when the batch was written"
            )));
        }
        let mut input = BufReader::new(&self.file);
        input.seek(SeekFrom::Start(at.offset))?;
        let mut buf = vec![0u8; crate::sender::COPY_BUFFER];
        let mut total = 0u64;
        loop {
            let n = read_u32(&mut input)? as usize;
            if n == WHOLE as usize {
                return Ok(total);
            }
            let mut left = n;
            while left > 0 {
                let take = left.min(buf.len());
                input.read_exact(&mut buf[..take])?;
                out.write_all(&buf[..take])?;
                left -= take;
            }
            total += n as u64;
        }
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    input.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Standard input, copied into an unnamed file in the temporary folder.
fn stdin_copy() -> io::Result<File> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::FromRawFd;
    let dir = std::env::temp_dir();
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call; open returns a new fd
    // or -1, and a new fd is owned by the File made from it alone.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_TMPFILE | libc::O_RDWR, 0o600) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: see above; nothing else holds `fd`.
    let mut file = unsafe { File::from_raw_fd(fd) };
    io::copy(&mut io::stdin().lock(), &mut file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::FileKind;
    use prtools_sync::Mtime;

    fn entry(name: &str, kind: FileKind) -> FileEntry {
        FileEntry {
            mtime: Mtime {
                secs: 1_500_000_000,
                nanos: 0,
            },
            ..FileEntry::new(name.into(), kind, 0o100644)
        }
    }

    #[test]
    fn a_batch_reads_back_and_every_cut_of_it_is_refused() {
        let dir = std::env::temp_dir().join(format!("prsync-batch-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b");
        let list = vec![
            entry(".", FileKind::Dir),
            entry("f", FileKind::Regular { size: 5 }),
            entry("g", FileKind::Regular { size: 0 }),
        ];
        let mut w = Writer::create(&path, false).unwrap();
        let flags = Flags {
            recursive: true,
            ..Flags::default()
        };
        w.header(flags, &list).unwrap();
        let mut r = w.record(1).unwrap();
        r.write_all(b"hel").unwrap();
        r.write_all(b"lo").unwrap();
        r.end(true).unwrap();
        w.record(2).unwrap().end(false).unwrap();
        w.finish().unwrap();

        let mut read = Reader::open(&path, false).unwrap();
        assert_eq!(
            (read.flags, &read.list, &read.order),
            (flags, &list, &vec![1, 2])
        );
        let mut out = Vec::new();
        assert_eq!(read.copy_to(1, &mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
        assert!(read.copy_to(2, &mut out).is_err());
        assert!(read.copy_to(0, &mut out).is_err());

        let whole = std::fs::read(&path).unwrap();
        let cut = dir.join("cut");
        for len in 0..whole.len() {
            std::fs::write(&cut, &whole[..len]).unwrap();
            let err = Reader::open(&cut, false)
                .err()
                .expect("a cut batch is refused");
            assert!(
                err.contains("is truncated") || err.contains("is not a prsync batch"),
                "{len}: {err}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
