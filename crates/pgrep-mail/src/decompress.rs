//! Reading a file: a plain one whole, read into a buffer reused from file to file when
//! small, mapped when large; a `.gz`, `.bz2`, `.xz` or `.zst` folder (named so and starting
//! with that format's magic bytes; standard input is recognised by its magic bytes alone)
//! as a stream of its decompressed contents ([`Contents::Compressed`], [`decoder`]), never
//! whole: a few KiB of zstd can expand to many GiB.
//!
//! Most files in a mail tree are Maildir messages of a few KiB, so what a file costs before
//! it is searched is what the search of a Maildir costs: a small file is opened, read into
//! the caller's buffer by one `read` (a second one, returning nothing, says the file ended)
//! and closed; nothing is allocated and its size is never asked for. Only a file that fills
//! the first read is `stat`ed, to choose between reading on and mapping it.

use std::cell::RefCell;
use std::ffi::CString;
use std::fs::File;
use std::io::{BufRead, Read, Seek};
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use prtools_mapped::Mapped;

/// Files at least this large are mapped rather than read: the copy into a buffer would cost
/// as much as the search. Small files are read, because a mapping costs more to set up.
const MMAP_MIN: u64 = 1 << 20;

/// What the first read of a file asks for. Mail files are mostly far smaller, so they
/// arrive whole in this read; a file that fills it is `stat`ed to learn its size.
pub const FIRST_READ: usize = 128 << 10;

/// A file's bytes.
pub enum Data<'b> {
    /// Mapped in place.
    Mapped(Mapped),
    /// Read into the caller's buffer.
    Borrowed(&'b [u8]),
    /// Read (or decompressed) into memory of its own.
    Owned(Vec<u8>),
}

impl Deref for Data<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Borrowed(b) => b,
            Data::Owned(v) => v,
        }
    }
}

/// What [`read_path`] found.
pub enum Contents<'b> {
    /// The file's bytes, whole.
    Whole(Data<'b>),
    /// A compressed file, open at its start.
    Compressed {
        /// The file.
        file: File,
        /// Its format.
        format: Format,
    },
}

/// The compressed formats searched transparently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip (`.gz`), every member.
    Gzip,
    /// bzip2 (`.bz2`), every stream.
    Bzip2,
    /// xz (`.xz`), every stream.
    Xz,
    /// Zstandard (`.zst`), every frame.
    Zstd,
}

impl Format {
    fn by_magic(head: &[u8]) -> Option<Format> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::Gzip)
        } else if head.starts_with(b"BZh") {
            Some(Format::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::Xz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::Zstd)
        } else {
            None
        }
    }

    fn by_name(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "gz" => Some(Format::Gzip),
            "bz2" => Some(Format::Bzip2),
            "xz" => Some(Format::Xz),
            "zst" => Some(Format::Zstd),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
        }
    }

    fn test_command(self) -> &'static str {
        match self {
            Format::Gzip => "gzip -t",
            Format::Bzip2 => "bzip2 -t",
            Format::Xz => "xz -t",
            Format::Zstd => "zstd -t",
        }
    }
}

/// Reads `path` whole into `buf` (which is reused: its contents are overwritten and it
/// grows as needed), or maps it when it is large and `may_map`. A compressed one is returned
/// open at its start, as [`Contents::Compressed`]. The error is the reason, lowercase, with
/// what to do about it.
pub fn read_path<'b>(
    path: &Path,
    buf: &'b mut Vec<u8>,
    may_map: bool,
) -> Result<Contents<'b>, String> {
    let mut file = open_file(path).map_err(|e| open_reason(path, &e))?;
    // `buf` is kept initialised to its full length (zeroed once, when it grows), so that
    // reads go straight into it; `filled` says how much of it is this file's.
    if buf.len() < FIRST_READ {
        buf.resize(FIRST_READ, 0);
    }
    let mut filled = read_some(&mut file, &mut buf[..FIRST_READ])?;
    if let Some(format) = Format::by_name(path) {
        if Format::by_magic(&buf[..filled]) == Some(format) {
            file.seek(std::io::SeekFrom::Start(0))
                .map_err(|e| crate::io_reason(&e))?;
            return Ok(Contents::Compressed { file, format });
        }
    }
    if filled == FIRST_READ {
        // Larger than most mail files: its size decides how to read it. (A folder opens
        // fine but fails the read above with "is a directory", so it never gets here.)
        let meta = file.metadata().map_err(|e| crate::io_reason(&e))?;
        if may_map && meta.is_file() && meta.len() >= MMAP_MIN {
            // A folder cut short while it is mapped reads as zeros past its new end, and
            // says so (`Mapped::intact`): the caller then reads it again.
            if let Ok(m) = Mapped::new(&file) {
                return Ok(Contents::Whole(Data::Mapped(m)));
            }
        }
        // Room for the whole file and the read that finds its end.
        let want = usize::try_from(meta.len())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if want > buf.len() {
            buf.resize(want, 0);
        }
    }
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match read_some(&mut file, &mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(Contents::Whole(Data::Borrowed(&buf[..filled])))
}

/// The folder of the last file this thread opened, held open (`O_PATH`), so that the next
/// file of the same folder is opened by its name alone (`openat`).
struct Folder {
    path: Vec<u8>,
    fd: OwnedFd,
}

thread_local! {
    static FOLDER: RefCell<Option<Folder>> = const { RefCell::new(None) };
}

/// Opens `path` for reading, as `File::open` does. Opening by the whole path costs the
/// kernel a look-up of each of its folders: in a Maildir of small files that is a tenth of
/// the run. The files of a batch mostly share their folder, so the folder is opened once
/// and each file by its name in it.
fn open_file(path: &Path) -> std::io::Result<File> {
    let bytes = path.as_os_str().as_bytes();
    let Some(slash) = memchr::memrchr(b'/', bytes) else {
        return File::open(path);
    };
    let dir = if slash == 0 {
        &b"/"[..]
    } else {
        &bytes[..slash]
    };
    let name = &bytes[slash + 1..];
    // A name with its NUL, in a buffer on the stack: every file name fits (NAME_MAX).
    let mut c_name = [0u8; 256];
    if name.is_empty() || name.len() >= c_name.len() || name.contains(&0) {
        return File::open(path);
    }
    c_name[..name.len()].copy_from_slice(name);
    FOLDER.with(|folder| {
        let mut folder = folder.borrow_mut();
        if folder.as_ref().is_none_or(|f| f.path != dir) {
            *folder = None;
            let Ok(c_dir) = CString::new(dir) else {
                return File::open(path);
            };
            // SAFETY: `c_dir` is a NUL-terminated string that outlives the call.
            let fd = unsafe {
                libc::open(
                    c_dir.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                // The whole path's open then says what is wrong, as it would have.
                return File::open(path);
            }
            // SAFETY: `fd` was just opened and nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            *folder = Some(Folder {
                path: dir.to_vec(),
                fd,
            });
        }
        let dir_fd = folder.as_ref().map_or(libc::AT_FDCWD, |f| f.fd.as_raw_fd());
        // SAFETY: `c_name` is NUL-terminated (the name is shorter than the buffer and holds
        // no NUL) and `dir_fd` is open while `folder` is borrowed.
        let fd = unsafe {
            libc::openat(
                dir_fd,
                c_name.as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(unsafe { File::from_raw_fd(fd) })
    })
}

/// One `read` into `buf`, retried when a signal interrupts it.
fn read_some(file: &mut File, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(crate::io_reason(&e)),
        }
    }
}

/// Standard input: whole when plain, open when compressed.
pub enum Stdin {
    /// Its bytes.
    Plain(Vec<u8>),
    /// A compressed stream, from its start.
    Compressed(Box<dyn Read + Send>, Format),
    /// Plain, left open to be searched as it arrives (`-m`, `-q`: `yes | grep -m1 y`
    /// returns).
    Stream(Box<dyn Read + Send>),
}

/// Reads standard input whole, or, when it starts with a known magic, leaves it to be
/// decompressed as a stream.
pub fn read_stdin(whole: bool) -> Result<Stdin, String> {
    let mut input = std::io::BufReader::with_capacity(FIRST_READ, std::io::stdin());
    // The magic is at most 6 bytes, and a pipe may hand over fewer at a time.
    let mut head = Vec::new();
    while head.len() < 6 {
        let got = input.fill_buf().map_err(|e| crate::io_reason(&e))?;
        if got.is_empty() {
            break;
        }
        let n = got.len().min(6 - head.len());
        head.extend_from_slice(&got[..n]);
        input.consume(n);
    }
    let rest = std::io::Cursor::new(head).chain(input);
    match Format::by_magic(rest.get_ref().0.get_ref()) {
        Some(format) => Ok(Stdin::Compressed(Box::new(rest), format)),
        None if !whole => Ok(Stdin::Stream(Box::new(rest))),
        None => {
            let mut buf = Vec::new();
            let mut rest = rest;
            rest.read_to_end(&mut buf)
                .map_err(|e| crate::io_reason(&e))?;
            Ok(Stdin::Plain(buf))
        }
    }
}

fn open_reason(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        if let Ok(target) = std::fs::read_link(path) {
            return format!(
                "dangling symbolic link to '{}'; fix its target or remove it",
                target.display()
            );
        }
        return "no such file or directory; check the path".to_string();
    }
    crate::io_reason(e)
}

/// How much memory a decoder may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// What the common settings need: zstd windows up to 8 MiB (levels 1 to 19), xz
    /// dictionaries up to 8 MiB (`xz -6`, the default).
    Small,
    /// The most pgrep-mail decompresses: zstd windows up to 128 MiB (`--long`,
    /// `--ultra -22`; zstd's own default limit), xz dictionaries up to 64 MiB (`xz -9`).
    Large,
}

/// zstd window logs, and xz memory limits, for each [`Limit`].
const ZSTD_WINDOW_LOG: [u32; 2] = [23, 27];
const XZ_MEMLIMIT: [u64; 2] = [10 << 20, 72 << 20];

impl Limit {
    fn at(self) -> usize {
        match self {
            Limit::Small => 0,
            Limit::Large => 1,
        }
    }
}

/// The most memory the decoder of `format` takes under `limit`: its window or dictionary,
/// its tables and its input buffer.
pub fn decoder_memory(format: Format, limit: Limit) -> usize {
    match format {
        // A 32 KiB window and the inflate tables.
        Format::Gzip => 1 << 20,
        // bzip2 -9 blocks take about 3.7 MB to decode.
        Format::Bzip2 => 6 << 20,
        Format::Xz => XZ_MEMLIMIT[limit.at()] as usize + (1 << 20),
        Format::Zstd => (1usize << ZSTD_WINDOW_LOG[limit.at()]) + (2 << 20),
    }
}

/// A reader of the decompressed contents of `input`, every member, stream or frame of it,
/// whose decoder takes no more memory than `limit` allows (input that needs more fails
/// with an error [`needs_more_memory`] recognises).
pub fn decoder<'r>(
    format: Format,
    input: impl Read + Send + 'r,
    limit: Limit,
) -> std::io::Result<Box<dyn Read + Send + 'r>> {
    Ok(match format {
        Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Format::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        Format::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT[limit.at()],
                liblzma::stream::CONCATENATED,
            )?;
            Box::new(liblzma::read::XzDecoder::new_stream(input, stream))
        }
        Format::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(input)?;
            d.window_log_max(ZSTD_WINDOW_LOG[limit.at()])?;
            Box::new(d)
        }
    })
}

/// Whether a decoder failed because its input needs more memory than its [`Limit`].
pub fn needs_more_memory(e: &std::io::Error) -> bool {
    let xz = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<liblzma::stream::Error>())
        .is_some_and(|x| matches!(x, liblzma::stream::Error::MemLimit));
    // zstd's error name for a window past `window_log_max`.
    xz || e.to_string().contains("requires too much memory")
}

/// Why the decompressed contents of `shown` could not be read, and what to do.
pub fn decode_reason(format: Format, e: &std::io::Error, shown: &str) -> String {
    if needs_more_memory(e) {
        let made = match format {
            Format::Zstd => "a zstd window larger than 128 MiB (`zstd --long=28` or more)",
            _ => "an xz dictionary larger than 64 MiB",
        };
        let command = match format {
            Format::Zstd => "zstd -dc --long=31",
            _ => "xz -dc",
        };
        return format!(
            "made with {made}, which takes more memory to decompress than pgrep-mail allows; decompress it (`{command} {shown} > FILE`) and search the result"
        );
    }
    let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "truncated".to_string()
    } else {
        format!("corrupt ({})", crate::io_reason(e))
    };
    format!(
        "{} data is {what}; check it with `{} {shown}`",
        format.name(),
        format.test_command()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Files opened through the held folder are the files the whole path names, whichever
    /// folder was held before, and a missing one is the same error.
    #[test]
    fn files_open_by_name_in_the_held_folder() {
        let dir = std::env::temp_dir().join(format!("pgrep-mail-open-{}", std::process::id()));
        for sub in ["a", "b"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            std::fs::write(dir.join(sub).join("m"), sub).unwrap();
        }
        std::os::unix::fs::symlink("a/m", dir.join("link")).unwrap();
        let read = |p: &Path| {
            let mut text = String::new();
            open_file(p).unwrap().read_to_string(&mut text).unwrap();
            text
        };
        for sub in ["a", "b", "a", "a"] {
            assert_eq!(read(&dir.join(sub).join("m")), sub);
        }
        assert_eq!(read(&dir.join("link")), "a");
        let missing = open_file(&dir.join("a/none")).err().unwrap();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        let not_a_folder = open_file(&dir.join("a/m/x")).err().unwrap();
        assert_eq!(
            not_a_folder.raw_os_error(),
            File::open(dir.join("a/m/x")).err().unwrap().raw_os_error()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn decompress(format: Format, data: &[u8], shown: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        decoder(format, data, Limit::Small)
            .and_then(|mut d| d.read_to_end(&mut out))
            .map_err(|e| decode_reason(format, &e, shown))?;
        Ok(out)
    }

    #[test]
    fn gzip_round_trip_and_truncation() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"From a 10:00:00\n\nhello\n").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(
            decompress(Format::Gzip, &gz, "x.gz").unwrap(),
            b"From a 10:00:00\n\nhello\n"
        );
        let err = decompress(Format::Gzip, &gz[..gz.len() - 6], "x.gz").unwrap_err();
        assert_eq!(err, "gzip data is truncated; check it with `gzip -t x.gz`");
    }

    #[test]
    fn zstd_round_trip() {
        let z = zstd::stream::encode_all(&b"mail\n"[..], 1).unwrap();
        assert_eq!(Format::by_magic(&z), Some(Format::Zstd));
        assert_eq!(decompress(Format::Zstd, &z, "x.zst").unwrap(), b"mail\n");
    }

    #[test]
    fn a_window_past_the_limit_needs_more_memory() {
        // A frame that declares a 16 MiB window (window descriptor: exponent 14).
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(24))
            .unwrap();
        enc.write_all(&vec![b'a'; 1 << 20]).unwrap();
        let z = enc.finish().unwrap();
        let err = decoder(Format::Zstd, &z[..], Limit::Small)
            .and_then(|mut d| d.read_to_end(&mut Vec::new()))
            .unwrap_err();
        assert!(needs_more_memory(&err), "{err}");
        let mut out = Vec::new();
        decoder(Format::Zstd, &z[..], Limit::Large)
            .and_then(|mut d| d.read_to_end(&mut out))
            .unwrap();
        assert_eq!(out.len(), 1 << 20);
    }
}
