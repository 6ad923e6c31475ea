//! Where a [`Patcher`](crate::Patcher) or an [`Assembler`](crate::Assembler) writes the
//! rebuilt file.
//!
//! Most of a rebuilt file is usually the old file's bytes again. A plain writer takes them
//! as bytes like any other; a writer that has the old file open can copy them inside the
//! kernel instead (`copy_file_range`), which on Linux costs a fraction of copying them
//! through user space, and nothing at all on a filesystem that shares extents. This crate
//! does no I/O itself, so it only says which bytes come from the basis, and where.

use std::io::{self, Write};

/// The output of a rebuild: new bytes, and bytes of the basis (the old file).
pub trait Output {
    /// Appends bytes that came from the sender (literals, fetched ranges).
    fn write_new(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Appends `bytes`, which are the basis's bytes at `offset`: a writer with the basis at
    /// hand may copy them from there instead. By default, as new bytes.
    fn write_basis(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let _ = offset;
        self.write_new(bytes)
    }
}

/// Any [`Write`] as an [`Output`] that takes every byte as it is.
pub(crate) struct Plain<'a, W: Write + ?Sized>(pub(crate) &'a mut W);

impl<W: Write + ?Sized> Output for Plain<'_, W> {
    fn write_new(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_map, delta, Assembler, Patcher, Signature, SignatureOptions};

    /// Rebuilds the file from what it is told, checking that each basis piece is what the
    /// basis holds at the offset given.
    struct Checking<'a> {
        basis: &'a [u8],
        out: Vec<u8>,
        from_basis: usize,
    }

    impl Output for Checking<'_> {
        fn write_new(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.out.extend_from_slice(bytes);
            Ok(())
        }

        fn write_basis(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
            let at = offset as usize;
            assert_eq!(&self.basis[at..at + bytes.len()], bytes, "offset {offset}");
            self.from_basis += bytes.len();
            self.write_new(bytes)
        }
    }

    #[test]
    fn basis_bytes_come_with_their_offsets_both_ways() {
        let old: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut new = old.clone();
        new[70_000..70_100].fill(7);
        new.drain(150_000..150_500);
        let options = SignatureOptions {
            block_size: Some(1024),
            ..Default::default()
        };

        // rsync's direction: a delta applied to the old file.
        let sig = Signature::new(&old, &options).unwrap();
        let stream = delta(&sig, &new).to_bytes(&new).unwrap();
        let mut out = Checking {
            basis: &old,
            out: Vec::new(),
            from_basis: 0,
        };
        let mut patcher = Patcher::new(&old);
        patcher.feed_to(&stream, &mut out).unwrap();
        patcher.finish().unwrap();
        assert_eq!(out.out, new);
        assert!(out.from_basis > 190_000, "{}", out.from_basis);

        // zsync's: the new file's blocks found in the old one, the rest fetched.
        let sig = Signature::new(&new, &options).unwrap();
        let map = block_map(&sig, &old);
        let fetched: Vec<u8> = map
            .missing_ranges()
            .iter()
            .flat_map(|r| new[r.start as usize..r.end as usize].to_vec())
            .collect();
        let mut out = Checking {
            basis: &old,
            out: Vec::new(),
            from_basis: 0,
        };
        let mut assembler = Assembler::new(&sig, &map, &old).unwrap();
        assembler.feed_to(&fetched, &mut out).unwrap();
        assembler.finish_to(&mut out).unwrap();
        assert_eq!(out.out, new);
        assert!(out.from_basis > 190_000, "{}", out.from_basis);
    }
}
