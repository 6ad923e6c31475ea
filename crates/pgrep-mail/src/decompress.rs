//! Reading a file whole: mapped when large, read when small, decompressed when it is a
//! `.gz`, `.bz2`, `.xz` or `.zst` folder (named so and starting with that format's magic
//! bytes; standard input is recognised by its magic bytes alone).

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

/// Files at least this large are mapped rather than read: the copy into a buffer would cost
/// as much as the search. Small files are read, because a mapping costs more to set up.
const MMAP_MIN: u64 = 1 << 20;

/// A file's bytes.
pub enum Data {
    /// Mapped in place.
    Mapped(Mmap),
    /// Read (or decompressed) into memory.
    Owned(Vec<u8>),
}

impl Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }
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

/// Reads `path` whole. The error is the reason, lowercase, with what to do about it.
pub fn read_path(path: &Path) -> Result<Data, String> {
    let mut file = File::open(path).map_err(|e| open_reason(path, &e))?;
    let meta = file.metadata().map_err(|e| crate::io_reason(&e))?;
    if meta.is_dir() {
        return Err("is a directory".to_string());
    }
    let named = Format::by_name(path);
    let data = if meta.len() >= MMAP_MIN && meta.is_file() {
        // SAFETY: the mapping is read-only and private to this process. A file truncated
        // while mapped would fault on access; grep tools accept that risk for mail folders
        // (ripgrep maps files the same way), and pgrep-mail never writes the files it reads.
        match unsafe { Mmap::map(&file) } {
            Ok(m) => Data::Mapped(m),
            Err(_) => Data::Owned(read_all(&mut file, meta.len())?),
        }
    } else {
        Data::Owned(read_all(&mut file, meta.len())?)
    };
    match named {
        Some(format) if Format::by_magic(&data) == Some(format) => {
            decompress(format, &data, &path.display().to_string()).map(Data::Owned)
        }
        _ => Ok(data),
    }
}

/// Reads standard input whole, decompressing it when it starts with a known magic.
pub fn read_stdin() -> Result<Data, String> {
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

fn read_all(file: &mut File, size_hint: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(size_hint as usize + 1);
    file.read_to_end(&mut buf)
        .map_err(|e| crate::io_reason(&e))?;
    Ok(buf)
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
