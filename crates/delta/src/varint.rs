//! Unsigned LEB128 integers, as the wire formats use them: seven bits a byte, low bits
//! first, the high bit set on every byte but the last. Only the shortest form is accepted, so
//! every value has one encoding and a decoder never reads more than [`MAX_LEN`] bytes.

/// The longest encoding of a `u64`.
pub(crate) const MAX_LEN: usize = 10;

/// Appends the encoding of `value` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// How many bytes [`put`] writes for `value`.
pub(crate) fn len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// What [`get`] found at the start of its input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Varint {
    /// A value and the number of bytes it took.
    Value(u64, usize),
    /// The input ends inside the integer.
    Incomplete,
    /// The bytes are no shortest-form `u64`.
    Invalid(&'static str),
}

/// Reads one integer from the start of `input`.
pub(crate) fn get(input: &[u8]) -> Varint {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(MAX_LEN) {
        let low = u64::from(byte & 0x7f);
        if i == MAX_LEN - 1 && byte > 1 {
            return Varint::Invalid("integer does not fit in 64 bits");
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Varint::Invalid("integer is not in its shortest form");
            }
            return Varint::Value(value, i + 1);
        }
    }
    if input.len() >= MAX_LEN {
        Varint::Invalid("integer does not fit in 64 bits")
    } else {
        Varint::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_length() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, value);
            assert_eq!(out.len(), len(value), "{value}");
            assert_eq!(get(&out), Varint::Value(value, out.len()));
            for cut in 0..out.len() {
                assert_eq!(get(&out[..cut]), Varint::Incomplete);
            }
        }
    }

    #[test]
    fn refuses_long_and_overflowing_forms() {
        assert!(matches!(get(&[0x80, 0x00]), Varint::Invalid(_)));
        assert!(matches!(get(&[0xff; 10]), Varint::Invalid(_)));
        assert!(matches!(get(&[0xff; 11]), Varint::Invalid(_)));
        let mut max = vec![0xff; 9];
        max.push(0x02);
        assert!(matches!(get(&max), Varint::Invalid(_)));
    }
}
