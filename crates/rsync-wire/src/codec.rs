//! rsync's integer encodings: fixed little-endian ints, and the variable-length `varint`
//! and `varlong` whose first byte says, by its leading one bits, how many more follow.
//!
//! Writers append to a `Vec<u8>` (a message is built whole, then framed); readers take
//! any [`Read`], so that they work on the demultiplexed stream and on plain bytes alike.

use std::io::{self, Read};

/// Appends a 4-byte little-endian int.
pub fn put_int(out: &mut Vec<u8>, x: i32) {
    out.extend_from_slice(&x.to_le_bytes());
}

/// Appends a 2-byte little-endian int (item flags).
pub fn put_shortint(out: &mut Vec<u8>, x: u16) {
    out.extend_from_slice(&x.to_le_bytes());
}

/// Appends a varint: 1 to 5 bytes.
pub fn put_varint(out: &mut Vec<u8>, x: i32) {
    put_var(out, &x.to_le_bytes(), 1);
}

/// Appends a varlong of at least `min_bytes` bytes (rsync uses 3 for sizes, 4 for times).
pub fn put_varlong(out: &mut Vec<u8>, x: i64, min_bytes: usize) {
    put_var(out, &x.to_le_bytes(), min_bytes);
}

/// The shared body of varint and varlong: drop the high zero bytes down to `min` data
/// bytes, then fold the count of extra bytes into the top bits of a leading byte, which
/// also carries the highest data byte when it fits beside them.
fn put_var(out: &mut Vec<u8>, le: &[u8], min: usize) {
    let n = le.len();
    let mut b = [0u8; 9];
    b[1..=n].copy_from_slice(le);
    let mut cnt = n;
    while cnt > min && b[cnt] == 0 {
        cnt -= 1;
    }
    let bit: u16 = 1 << (7 + min - cnt);
    if u16::from(b[cnt]) >= bit {
        cnt += 1;
        b[0] = !(bit - 1) as u8;
    } else if cnt > min {
        b[0] = b[cnt] | !(bit * 2 - 1) as u8;
    } else {
        b[0] = b[cnt];
    }
    out.extend_from_slice(&b[..cnt]);
}

/// Appends a length-prefixed string: one byte of length, or two (high bit set) past 127.
pub fn put_vstring(out: &mut Vec<u8>, s: &[u8]) -> io::Result<()> {
    let len = s.len();
    if len > 0x7FFF {
        return Err(invalid(format!(
            "a string of {len} bytes is too long to send"
        )));
    }
    if len > 0x7F {
        out.push((len / 0x100 + 0x80) as u8);
    }
    out.push(len as u8);
    out.extend_from_slice(s);
    Ok(())
}

/// How many bytes follow a varint's first byte: its leading one bits, at most 6.
fn extra_bytes(first: u8) -> usize {
    (first.leading_ones() as usize).min(6)
}

/// Reads one byte.
pub fn get_byte(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// Reads a 4-byte little-endian int.
pub fn get_int(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

/// Appends a longint (protocols below 30): an int when it fits, else -1 and 8 bytes.
pub fn put_longint(out: &mut Vec<u8>, x: i64) {
    if (0..=0x7FFF_FFFF).contains(&x) {
        put_int(out, x as i32);
    } else {
        put_int(out, -1);
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Reads a longint: an int, or -1 and the 8-byte value.
pub fn get_longint(r: &mut impl Read) -> io::Result<i64> {
    let x = get_int(r)?;
    if x != -1 {
        return Ok(i64::from(x));
    }
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(i64::from_le_bytes(b))
}

/// Reads a 2-byte little-endian int.
pub fn get_shortint(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

/// Reads a varint.
pub fn get_varint(r: &mut impl Read) -> io::Result<i32> {
    let first = get_byte(r)?;
    let extra = extra_bytes(first);
    let mut u = [0u8; 8];
    if extra > 4 {
        return Err(invalid("a varint longer than 5 bytes".into()));
    }
    if extra > 0 {
        r.read_exact(&mut u[..extra])?;
        let bit = 1u16 << (8 - extra);
        u[extra] = first & (bit - 1) as u8;
    } else {
        u[0] = first;
    }
    Ok(i32::from_le_bytes([u[0], u[1], u[2], u[3]]))
}

/// Reads a varlong written with `min_bytes`.
pub fn get_varlong(r: &mut impl Read, min_bytes: usize) -> io::Result<i64> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head[..min_bytes])?;
    let mut u = [0u8; 9];
    u[..min_bytes - 1].copy_from_slice(&head[1..min_bytes]);
    let extra = extra_bytes(head[0]);
    if min_bytes + extra > 9 {
        return Err(invalid("a varlong longer than 9 bytes".into()));
    }
    if extra > 0 {
        r.read_exact(&mut u[min_bytes - 1..min_bytes - 1 + extra])?;
        let bit = 1u16 << (8 - extra);
        u[min_bytes + extra - 1] = head[0] & (bit - 1) as u8;
    } else {
        u[min_bytes - 1] = head[0];
    }
    let mut le = [0u8; 8];
    le.copy_from_slice(&u[..8]);
    Ok(i64::from_le_bytes(le))
}

/// Reads a length-prefixed string of at most `max` bytes.
pub fn get_vstring(r: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut len = usize::from(get_byte(r)?);
    if len & 0x80 != 0 {
        len = (len & 0x7F) * 0x100 + usize::from(get_byte(r)?);
    }
    if len > max {
        return Err(invalid(format!("a string of {len} bytes, more than {max}")));
    }
    let mut s = vec![0u8; len];
    r.read_exact(&mut s)?;
    Ok(s)
}

/// An error for bytes that break the protocol.
pub fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(x: i32) -> Vec<u8> {
        let mut v = Vec::new();
        put_varint(&mut v, x);
        v
    }

    #[test]
    fn varints_take_the_bytes_rsync_gives_them() {
        // Worked by hand from rsync's io.c: the leading byte's high bits count the
        // bytes that follow.
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(0x7F), [0x7F]);
        assert_eq!(varint(0x80), [0x80, 0x80]);
        assert_eq!(varint(0x3FFF), [0xBF, 0xFF]);
        assert_eq!(varint(0x4000), [0xC0, 0x00, 0x40]);
        assert_eq!(varint(-1), [0xF0, 0xFF, 0xFF, 0xFF, 0xFF]);
        for x in [
            0,
            1,
            127,
            128,
            255,
            256,
            0x3FFF,
            0x4000,
            0x1F_FFFF,
            0x20_0000,
            i32::MAX,
            -1,
            i32::MIN,
        ] {
            assert_eq!(get_varint(&mut &varint(x)[..]).unwrap(), x, "{x}");
        }
    }

    #[test]
    fn varlongs_round_trip_at_each_minimum() {
        for min in [3, 4] {
            for x in [
                0i64,
                1,
                0xFF_FFFF,
                0x100_0000,
                1_700_000_000,
                0x7FFF_FFFF_FFFF,
                i64::MAX,
                -1,
            ] {
                let mut v = Vec::new();
                put_varlong(&mut v, x, min);
                assert!(v.len() >= min);
                assert_eq!(get_varlong(&mut &v[..], min).unwrap(), x, "{x} min {min}");
            }
        }
        // A small size is its three bytes and no more.
        let mut v = Vec::new();
        put_varlong(&mut v, 5, 3);
        assert_eq!(v, [0, 5, 0]);
    }

    #[test]
    fn longints_are_ints_until_they_do_not_fit() {
        for x in [0i64, 5, 0x7FFF_FFFF, 0x8000_0000, 1 << 40] {
            let mut v = Vec::new();
            put_longint(&mut v, x);
            assert_eq!(v.len(), if x <= 0x7FFF_FFFF { 4 } else { 12 });
            assert_eq!(get_longint(&mut &v[..]).unwrap(), x);
        }
    }

    #[test]
    fn vstrings_take_a_second_length_byte_past_127() {
        let mut v = Vec::new();
        put_vstring(&mut v, b"md5").unwrap();
        assert_eq!(v, b"\x03md5");
        let long = vec![b'x'; 300];
        let mut v = Vec::new();
        put_vstring(&mut v, &long).unwrap();
        assert_eq!(&v[..2], [0x81, 0x2C]);
        assert_eq!(get_vstring(&mut &v[..], 1024).unwrap(), long);
        assert!(get_vstring(&mut &v[..], 100).is_err());
        assert!(put_vstring(&mut Vec::new(), &vec![0; 0x8000]).is_err());
    }

    #[test]
    fn a_truncated_int_is_an_error_not_a_guess() {
        assert!(get_int(&mut &[1u8, 2][..]).is_err());
        assert!(get_varint(&mut &[0x80u8][..]).is_err());
    }
}
