//! How a file-list entry's flags, and the list's end, go on the wire: one or two bytes
//! (`XMIT_EXTENDED_FLAGS` says a second follows), or with varint flags (compat flag
//! `CF_VARINT_FLIST_FLAGS`, the client's capability `v`) one varint.
//!
//! Both forms must never send flags of 0 for an entry, since 0 ends the list. The byte
//! form ends with a 0 byte, or with `EXTENDED_FLAGS | IO_ERROR_ENDLIST` and a varint of
//! I/O error bits when there are some (rsync's safe file list); the varint form always
//! ends with a varint 0 and a varint of the bits, 0 when there are none.

use std::io::{self, Read};

use crate::codec::{get_byte, get_varint, invalid, put_varint};
use crate::flist::xmit;

/// The form flags take, settled by the handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlagForm {
    /// One byte, or two with `EXTENDED_FLAGS`.
    #[default]
    Bytes,
    /// One varint.
    Varint,
}

impl FlagForm {
    /// The form for a session with (`true`) or without varint flags.
    pub fn of(varint: bool) -> FlagForm {
        if varint {
            FlagForm::Varint
        } else {
            FlagForm::Bytes
        }
    }

    /// Appends an entry's `flags`. In byte form a plain file with none borrows the
    /// top-dir bit (meaningless on a non-folder) and a folder with none takes the
    /// second byte; in varint form either takes `EXTENDED_FLAGS` alone, as rsync does.
    pub fn put(self, out: &mut Vec<u8>, mut flags: u16, is_dir: bool) {
        match self {
            FlagForm::Varint => {
                let sent = if flags == 0 {
                    xmit::EXTENDED_FLAGS
                } else {
                    flags
                };
                put_varint(out, i32::from(sent));
            }
            FlagForm::Bytes => {
                if flags == 0 && !is_dir {
                    flags |= xmit::TOP_DIR;
                }
                if flags & 0xFF00 != 0 || flags == 0 {
                    flags |= xmit::EXTENDED_FLAGS;
                    out.extend_from_slice(&flags.to_le_bytes());
                } else {
                    out.push(flags as u8);
                }
            }
        }
    }

    /// Appends the end of the list with its I/O error bits.
    pub fn put_end(self, out: &mut Vec<u8>, io_error: i32) {
        match self {
            FlagForm::Varint => {
                put_varint(out, 0);
                put_varint(out, io_error);
            }
            FlagForm::Bytes if io_error == 0 => out.push(0),
            FlagForm::Bytes => {
                out.extend_from_slice(
                    &(xmit::EXTENDED_FLAGS | xmit::IO_ERROR_ENDLIST).to_le_bytes(),
                );
                put_varint(out, io_error);
            }
        }
    }

    /// Reads an entry's flags, or the end of the list: `Err` with its I/O error bits
    /// (at least 1 when the byte form's error end came, which says the list is short).
    pub fn get(self, r: &mut impl Read) -> io::Result<Result<u16, i32>> {
        match self {
            FlagForm::Varint => {
                let flags = get_varint(r)?;
                if flags == 0 {
                    return Ok(Err(get_varint(r)?));
                }
                u16::try_from(flags).map(Ok).map_err(|_| {
                    invalid(format!(
                        "file-list flags {flags:#x} that were not asked for"
                    ))
                })
            }
            FlagForm::Bytes => {
                let first = get_byte(r)?;
                if first == 0 {
                    return Ok(Err(0));
                }
                let mut flags = u16::from(first);
                if flags & xmit::EXTENDED_FLAGS != 0 {
                    flags |= u16::from(get_byte(r)?) << 8;
                }
                if flags == xmit::EXTENDED_FLAGS | xmit::IO_ERROR_ENDLIST {
                    return Ok(Err(get_varint(r)?.max(1)));
                }
                Ok(Ok(flags))
            }
        }
    }

    /// Rewrites the flags at the front of `entry` (as [`put`](Self::put) wrote them)
    /// with `change`; returns how many bytes they took before.
    pub fn rewrite(
        self,
        entry: &[u8],
        out: &mut Vec<u8>,
        change: impl FnOnce(u16) -> u16,
    ) -> io::Result<usize> {
        let mut r = entry;
        let flags = self
            .get(&mut r)?
            .map_err(|_| invalid("an entry to mark that the encoder did not write".into()))?;
        let used = entry.len() - r.len();
        match self {
            FlagForm::Varint => {
                // EXTENDED_FLAGS alone was only a stand-in for no flags.
                let plain = if flags == xmit::EXTENDED_FLAGS {
                    0
                } else {
                    flags
                };
                self.put(out, change(plain), false);
            }
            FlagForm::Bytes => {
                let flags = change(flags) | xmit::EXTENDED_FLAGS;
                out.extend_from_slice(&flags.to_le_bytes());
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_flags_never_send_zero_and_end_with_the_error_bits() {
        let mut out = Vec::new();
        FlagForm::Varint.put(&mut out, 0, false);
        FlagForm::Varint.put(&mut out, xmit::SAME_MODE | xmit::MOD_NSEC, false);
        FlagForm::Varint.put_end(&mut out, 0);
        FlagForm::Varint.put_end(&mut out, 5);
        let mut r = &out[..];
        let get = |r: &mut &[u8]| FlagForm::Varint.get(r).unwrap();
        assert_eq!(get(&mut r), Ok(xmit::EXTENDED_FLAGS));
        assert_eq!(get(&mut r), Ok(xmit::SAME_MODE | xmit::MOD_NSEC));
        assert_eq!(get(&mut r), Err(0));
        assert_eq!(get(&mut r), Err(5));
        assert!(r.is_empty());
        // Two bytes for the flags past 0x7f, and 0 then 0 for a clean end.
        let mut out = Vec::new();
        FlagForm::Varint.put(&mut out, xmit::SAME_TIME, false);
        FlagForm::Varint.put_end(&mut out, 0);
        assert_eq!(out, [0x80, 0x80, 0, 0]);
    }

    #[test]
    fn byte_flags_are_as_before() {
        let mut out = Vec::new();
        FlagForm::Bytes.put(&mut out, 0, false);
        FlagForm::Bytes.put(&mut out, 0, true);
        FlagForm::Bytes.put_end(&mut out, 0);
        assert_eq!(out, [xmit::TOP_DIR as u8, xmit::EXTENDED_FLAGS as u8, 0, 0]);
    }

    #[test]
    fn flags_past_sixteen_bits_are_refused() {
        let mut out = Vec::new();
        put_varint(&mut out, 1 << 17);
        assert!(FlagForm::Varint.get(&mut &out[..]).is_err());
    }

    #[test]
    fn a_rewrite_drops_the_stand_in_for_no_flags() {
        let mut entry = Vec::new();
        FlagForm::Varint.put(&mut entry, 0, false);
        entry.push(9);
        let mut out = Vec::new();
        let used = FlagForm::Varint
            .rewrite(&entry, &mut out, |f| f | xmit::TOP_DIR)
            .unwrap();
        assert_eq!((used, out), (1, vec![xmit::TOP_DIR as u8]));
    }
}
