//! Natural ordering of host names: `node2` before `node10`.
//!
//! Folded output is sorted this way so that it reads as an administrator counts and is the
//! same whatever order the hosts arrived in.

use std::cmp::Ordering;

/// Compares two names with runs of digits compared as numbers; equal runs such as `1` and `01`
/// fall back to the plain byte order at the end, so that the order is total.
pub(crate) fn cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let (dx, rest_x) = digit_run(x);
                let (dy, rest_y) = digit_run(y);
                let (nx, ny) = (strip_zeros(dx), strip_zeros(dy));
                // Without leading zeros, a longer run is a larger number; runs of one length
                // compare digit by digit. No parsing, so no run is too long.
                let order = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
                if order != Ordering::Equal {
                    return order;
                }
                (x, y) = (rest_x, rest_y);
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

/// Splits off the leading run of ASCII digits.
fn digit_run(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    s.split_at(end)
}

/// The digits without leading zeros.
fn strip_zeros(digits: &[u8]) -> &[u8] {
    let start = digits
        .iter()
        .position(|&b| b != b'0')
        .unwrap_or(digits.len());
    &digits[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| cmp(a, b));
        v
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(
            sorted(&[
                "node10",
                "node2",
                "node1",
                "a",
                "node1-ib",
                "rack10-n1",
                "rack9-n2"
            ]),
            [
                "a",
                "node1",
                "node1-ib",
                "node2",
                "node10",
                "rack9-n2",
                "rack10-n1"
            ]
        );
    }

    #[test]
    fn padding_breaks_ties_in_byte_order() {
        assert_eq!(cmp("n01", "n1"), Ordering::Less);
        assert_eq!(cmp("n01", "n01"), Ordering::Equal);
        assert_eq!(cmp("n001x", "n1y"), Ordering::Less);
    }

    #[test]
    fn long_runs_do_not_overflow() {
        assert_eq!(
            cmp("n123456789012345678901234567890", "n99999999999999999999"),
            Ordering::Greater
        );
    }
}
