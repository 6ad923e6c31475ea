//! Whole-file hashes for `--verify` and `-c`.

use std::io::{self, Read};

use xxhash_rust::xxh3::Xxh3;

/// How much is read per call: large enough that the syscall cost vanishes next to hashing
/// (xxh3 runs at many GB/s), small enough to stay in L2 cache.
const HASH_BUFFER: usize = 256 * 1024;

/// xxh3-128 of everything `r` yields, read in fixed-size pieces so that memory stays constant
/// whatever the file size.
///
/// xxh3 is not a cryptographic hash: it detects corruption and changed files, not a peer that
/// crafts collisions on purpose, which is all that comparing two copies needs.
///
/// ```
/// let h = prtools_sync::hash_reader(&b"hello"[..])?;
/// assert_eq!(h, xxhash_rust::xxh3::xxh3_128(b"hello"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn hash_reader(mut r: impl Read) -> io::Result<u128> {
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; HASH_BUFFER];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hasher.digest128()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn streaming_equals_one_shot_across_buffer_edges() {
        let data: Vec<u8> = (0..HASH_BUFFER * 2 + 17)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        assert_eq!(hash_reader(&data[..]).unwrap(), xxh3_128(&data));
        assert_eq!(hash_reader(&b""[..]).unwrap(), xxh3_128(b""));
        assert_ne!(
            hash_reader(&b"a"[..]).unwrap(),
            hash_reader(&b"b"[..]).unwrap()
        );
    }

    #[test]
    fn read_errors_pass_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(5))
            }
        }
        assert_eq!(hash_reader(Broken).unwrap_err().raw_os_error(), Some(5));
    }
}
