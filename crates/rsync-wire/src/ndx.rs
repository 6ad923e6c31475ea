//! File indexes on the wire. From protocol 30 an index is sent as its distance from the
//! previous one of the same sign: one byte for 1 to 253, `0xFE` and two bytes up to
//! 32767, else `0xFE` and four; negative ones (the special indexes) lead with `0xFF`, and
//! `NDX_DONE` is a single 0. Below protocol 30 every index is a plain 4-byte int
//! ([`NdxState::for_protocol`] picks the form).

use std::io::{self, Read};

use crate::codec::{get_byte, get_int, invalid, put_int};

/// The end of a phase.
pub const NDX_DONE: i32 = -1;
/// The end of the file lists (incremental recursion).
pub const NDX_FLIST_EOF: i32 = -2;
/// Deletion totals follow (protocol 31 on).
pub const NDX_DEL_STATS: i32 = -3;

/// One direction's index state: each side of a stream remembers the last index of each
/// sign it sent or read.
#[derive(Clone, Debug)]
pub struct NdxState {
    prev_positive: i32,
    prev_negative: i32,
    /// Protocols 28 and 29: each index a whole int.
    ints: bool,
}

impl Default for NdxState {
    fn default() -> Self {
        NdxState {
            prev_positive: -1,
            prev_negative: 1,
            ints: false,
        }
    }
}

impl NdxState {
    /// The index form of a session of `protocol`.
    pub fn for_protocol(protocol: i32) -> NdxState {
        NdxState {
            ints: protocol < 30,
            ..NdxState::default()
        }
    }

    /// Appends `ndx`.
    pub fn put(&mut self, out: &mut Vec<u8>, ndx: i32) {
        if self.ints {
            put_int(out, ndx);
            return;
        }
        let (diff, num) = if ndx >= 0 {
            let diff = ndx.wrapping_sub(self.prev_positive);
            self.prev_positive = ndx;
            (diff, ndx)
        } else if ndx == NDX_DONE {
            out.push(0);
            return;
        } else {
            out.push(0xFF);
            let num = ndx.wrapping_neg();
            let diff = num.wrapping_sub(self.prev_negative);
            self.prev_negative = num;
            (diff, num)
        };
        if diff > 0 && diff < 0xFE {
            out.push(diff as u8);
        } else if !(0..=0x7FFF).contains(&diff) {
            out.extend_from_slice(&[
                0xFE,
                ((num >> 24) as u8) | 0x80,
                num as u8,
                (num >> 8) as u8,
                (num >> 16) as u8,
            ]);
        } else {
            out.extend_from_slice(&[0xFE, (diff >> 8) as u8, diff as u8]);
        }
    }

    /// Reads an index.
    pub fn get(&mut self, r: &mut impl Read) -> io::Result<i32> {
        if self.ints {
            return get_int(r);
        }
        let mut b = get_byte(r)?;
        let negative = b == 0xFF;
        if negative {
            b = get_byte(r)?;
        } else if b == 0 {
            return Ok(NDX_DONE);
        }
        let prev = if negative {
            self.prev_negative
        } else {
            self.prev_positive
        };
        let num: u32 = if b == 0xFE {
            let (b0, b1) = (get_byte(r)?, get_byte(r)?);
            if b0 & 0x80 != 0 {
                let (b2, b3) = (get_byte(r)?, get_byte(r)?);
                u32::from_le_bytes([b1, b2, b3, b0 & 0x7F])
            } else {
                ((u32::from(b0) << 8) | u32::from(b1)).wrapping_add(prev as u32)
            }
        } else {
            u32::from(b).wrapping_add(prev as u32)
        };
        if num > i32::MAX as u32 {
            return Err(invalid(format!("file index {num} out of range")));
        }
        let num = num as i32;
        if negative {
            self.prev_negative = num;
            Ok(-num)
        } else {
            self.prev_positive = num;
            Ok(num)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_take_rsyncs_short_forms() {
        let mut w = NdxState::default();
        let mut v = Vec::new();
        w.put(&mut v, 0);
        w.put(&mut v, 1);
        w.put(&mut v, NDX_DONE);
        w.put(&mut v, 300);
        w.put(&mut v, 100_000);
        w.put(&mut v, 5);
        w.put(&mut v, NDX_DEL_STATS);
        assert_eq!(
            v,
            [
                1, // 0 - (-1)
                1, // 1 - 0
                0, // done
                0xFE, 0x01, 0x2B, // 299
                0xFE, 0x80, 0xA0, 0x86, 0x01, // 100000 whole
                0xFE, 0x80, 5, 0, 0, // back down: whole
                0xFF, 2, // -3: 3 - 1
            ]
        );
        let mut r = NdxState::default();
        let mut s = &v[..];
        for want in [0, 1, NDX_DONE, 300, 100_000, 5, NDX_DEL_STATS] {
            assert_eq!(r.get(&mut s).unwrap(), want);
        }
        assert!(s.is_empty());
    }

    #[test]
    fn below_protocol_30_an_index_is_an_int() {
        let mut w = NdxState::for_protocol(29);
        let mut v = Vec::new();
        w.put(&mut v, 5);
        w.put(&mut v, NDX_DONE);
        assert_eq!(v, [5, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        let mut r = NdxState::for_protocol(28);
        let mut s = &v[..];
        assert_eq!(r.get(&mut s).unwrap(), 5);
        assert_eq!(r.get(&mut s).unwrap(), NDX_DONE);
    }
}
