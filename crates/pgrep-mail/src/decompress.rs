//! Reading a file whole: read into a buffer reused from file to file when small, mapped
//! when large, decompressed when it is a `.gz`, `.bz2`, `.xz` or `.zst` folder (named so
//! and starting with that format's magic bytes; standard input is recognised by its magic
//! bytes alone). A large plain file can instead be left open for the caller to read in
//! pieces ([`Contents::Large`]).
//!
//! Most files in a mail tree are Maildir messages of a few KiB, so what a file costs before
//! it is searched is what the search of a Maildir costs: a small file is opened, read into
//! the caller's buffer by one `read` (a second one, returning nothing, says the file ended)
//! and closed; nothing is allocated and its size is never asked for. Only a file that fills
//! the first read is `stat`ed, to choose between reading on and mapping it.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

/// Files at least this large are mapped rather than read: the copy into a buffer would cost
/// as much as the search. Small files are read, because a mapping costs more to set up.
const MMAP_MIN: u64 = 1 << 20;

/// What the first read of a file asks for. Mail files are mostly far smaller, so they
/// arrive whole in this read; a file that fills it is `stat`ed to learn its size.
pub const FIRST_READ: usize = 128 << 10;

/// A file's bytes.
pub enum Data<'b> {
    /// Mapped in place.
    Mapped(Mmap),
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
    /// A plain (not compressed) regular file at least as large as asked, left unread.
    Large {
        /// The file, open.
        file: File,
        /// Its size when it was opened.
        len: u64,
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
/// grows as needed), or maps it when it is large. A regular file of at least `large_min`
/// bytes that is not compressed is returned unread, as [`Contents::Large`]. The error is
/// the reason, lowercase, with what to do about it.
pub fn read_path<'b>(
    path: &Path,
    buf: &'b mut Vec<u8>,
    large_min: Option<u64>,
) -> Result<Contents<'b>, String> {
    let mut file = File::open(path).map_err(|e| open_reason(path, &e))?;
    // `buf` is kept initialised to its full length (zeroed once, when it grows), so that
    // reads go straight into it; `filled` says how much of it is this file's.
    if buf.len() < FIRST_READ {
        buf.resize(FIRST_READ, 0);
    }
    let mut filled = read_some(&mut file, &mut buf[..FIRST_READ])?;
    if filled == FIRST_READ {
        // Larger than most mail files: its size decides how to read it. (A folder opens
        // fine but fails the read above with "is a directory", so it never gets here.)
        let meta = file.metadata().map_err(|e| crate::io_reason(&e))?;
        if meta.is_file() && meta.len() >= MMAP_MIN {
            let compressed =
                Format::by_name(path).is_some_and(|f| Format::by_magic(&buf[..filled]) == Some(f));
            if !compressed && large_min.is_some_and(|min| meta.len() >= min) {
                return Ok(Contents::Large {
                    file,
                    len: meta.len(),
                });
            }
            // SAFETY: the mapping is read-only and private to this process. A file truncated
            // while mapped would fault on access; grep tools accept that risk for mail
            // folders (ripgrep maps files the same way), and pgrep-mail never writes the
            // files it reads.
            if let Ok(m) = unsafe { Mmap::map(&file) } {
                return finish(path, Data::Mapped(m)).map(Contents::Whole);
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
    finish(path, Data::Borrowed(&buf[..filled])).map(Contents::Whole)
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

/// `data`, decompressed when `path` names a compressed format and `data` starts with its
/// magic bytes.
fn finish<'b>(path: &Path, data: Data<'b>) -> Result<Data<'b>, String> {
    match Format::by_name(path) {
        Some(format) if Format::by_magic(&data) == Some(format) => {
            decompress(format, &data, &path.display().to_string()).map(Data::Owned)
        }
        _ => Ok(data),
    }
}

/// Reads standard input whole, decompressing it when it starts with a known magic.
pub fn read_stdin() -> Result<Data<'static>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| crate::io_reason(&e))?;
    match Format::by_magic(&buf) {
        Some(format) => decompress(format, &buf, "-").map(Data::Owned),
        None => Ok(Data::Owned(buf)),
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

/// Decompresses `data` whole.
pub fn decompress(format: Format, data: &[u8], shown: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    let result = match format {
        Format::Gzip => flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out),
        Format::Bzip2 => bzip2::read::MultiBzDecoder::new(data).read_to_end(&mut out),
        Format::Xz => liblzma::read::XzDecoder::new_multi_decoder(data).read_to_end(&mut out),
        Format::Zstd => {
            zstd::stream::read::Decoder::new(data).and_then(|mut d| d.read_to_end(&mut out))
        }
    };
    match result {
        Ok(_) => Ok(out),
        Err(e) => {
            let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "truncated".to_string()
            } else {
                format!("corrupt ({})", crate::io_reason(&e))
            };
            Err(format!(
                "{} data is {what}; check it with `{} {shown}`",
                format.name(),
                format.test_command()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
}
