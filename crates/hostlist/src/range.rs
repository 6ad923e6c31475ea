//! One bracket of a host expression, `[01-16,20,1-9/2]`: its ranges, how many numbers they
//! give, and the numbers themselves.

use crate::error::{Error, SyntaxKind};
use crate::scan::Scanner;

/// One `lo[-hi[/step]]` inside brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NumRange {
    /// First number.
    pub(crate) lo: u64,
    /// Last number that may be reached (it is not when the step jumps over it).
    pub(crate) hi: u64,
    /// Distance between numbers, at least 1.
    pub(crate) step: u64,
    /// Zero-padded width taken from `lo` as written: `01` pads every number to 2 digits, `1`
    /// pads none. pdsh and clush both take the padding from the start of the range.
    pub(crate) width: usize,
}

impl NumRange {
    /// How many numbers the range gives. `u128` so that no range can overflow the count.
    pub(crate) fn count(&self) -> u128 {
        u128::from((self.hi - self.lo) / self.step) + 1
    }

    /// The numbers, in order, without building them all first.
    pub(crate) fn values(&self) -> impl Iterator<Item = u64> {
        let (hi, step) = (self.hi, self.step);
        std::iter::successors(Some(self.lo), move |&v| {
            v.checked_add(step).filter(|&next| next <= hi)
        })
    }
}

/// Parses the inside of a bracket; the scanner stands just after `[` and is left just after
/// the closing `]`.
pub(crate) fn parse_set(sc: &mut Scanner<'_>) -> Result<Vec<NumRange>, Error> {
    if sc.peek() == Some(']') {
        return Err(sc.error_at(sc.pos, SyntaxKind::EmptyRange));
    }
    let mut ranges = Vec::new();
    loop {
        ranges.push(parse_range(sc)?);
        match sc.peek() {
            Some(',') => sc.bump(),
            Some(']') => {
                sc.bump();
                return Ok(ranges);
            }
            None => return Err(sc.error_at_end(SyntaxKind::Unclosed)),
            Some(c) => return Err(sc.error_at(sc.pos, SyntaxKind::Unexpected(c))),
        }
    }
}

/// Parses one `lo[-hi[/step]]`.
fn parse_range(sc: &mut Scanner<'_>) -> Result<NumRange, Error> {
    let lo_at = sc.pos;
    let (lo_text, lo) = number(sc)?;
    let (hi_text, hi) = if sc.eat('-') {
        number(sc)?
    } else {
        (lo_text, lo)
    };
    let hi_end = sc.pos;
    let step = if sc.peek() == Some('/') {
        if hi_end == lo_at + lo_text.len() {
            return Err(sc.error_at(sc.pos, SyntaxKind::StepWithoutRange));
        }
        sc.bump();
        let step_at = sc.pos;
        let (_, step) = number(sc)?;
        if step == 0 {
            return Err(sc.error_at(step_at, SyntaxKind::ZeroStep));
        }
        step
    } else {
        1
    };
    if lo > hi {
        // The fix is the whole item with this one range turned around, so that it can be
        // pasted back as it is.
        let item = &sc.full[sc.item.clone()];
        let (before, after) = (lo_at - sc.item.start, hi_end - sc.item.start);
        let fix = format!("{}{hi_text}-{lo_text}{}", &item[..before], &item[after..]);
        return Err(sc.error_at(
            lo_at,
            SyntaxKind::Backwards {
                lo: lo_text.to_string(),
                hi: hi_text.to_string(),
                fix,
            },
        ));
    }
    let width = if lo_text.len() > 1 && lo_text.starts_with('0') {
        lo_text.len()
    } else {
        0
    };
    Ok(NumRange {
        lo,
        hi,
        step,
        width,
    })
}

/// Reads one number, as written and as a value.
fn number<'a>(sc: &mut Scanner<'a>) -> Result<(&'a str, u64), Error> {
    let at = sc.pos;
    let text = sc.digits();
    if text.is_empty() {
        return Err(match sc.peek() {
            None => sc.error_at_end(SyntaxKind::Unclosed),
            Some(c) => sc.error_at(at, SyntaxKind::ExpectedNumber(c)),
        });
    }
    let value = text
        .parse()
        .map_err(|_| sc.error_at(at, SyntaxKind::NumberTooLarge(text.to_string())))?;
    Ok((text, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text`, which must start just after a `[`.
    fn set(text: &str) -> Result<Vec<NumRange>, String> {
        let mut sc = Scanner::new(text, 0..text.len());
        parse_set(&mut sc).map_err(|e| e.to_string())
    }

    fn r(lo: u64, hi: u64, step: u64, width: usize) -> NumRange {
        NumRange {
            lo,
            hi,
            step,
            width,
        }
    }

    #[test]
    fn parses_numbers_ranges_and_steps() {
        assert_eq!(
            set("01-16,20,1-9/2]").unwrap(),
            vec![r(1, 16, 1, 2), r(20, 20, 1, 0), r(1, 9, 2, 0)]
        );
    }

    #[test]
    fn zero_alone_is_not_padding() {
        assert_eq!(set("0-3]").unwrap(), vec![r(0, 3, 1, 0)]);
        assert_eq!(set("00-3]").unwrap(), vec![r(0, 3, 1, 2)]);
    }

    #[test]
    fn counts_and_values() {
        let odd = r(1, 9, 2, 0);
        assert_eq!(odd.count(), 5);
        assert_eq!(odd.values().collect::<Vec<_>>(), vec![1, 3, 5, 7, 9]);
        let jump = r(1, 10, 4, 0);
        assert_eq!(jump.count(), 3);
        assert_eq!(jump.values().collect::<Vec<_>>(), vec![1, 5, 9]);
    }

    #[test]
    fn values_stop_at_the_top_of_u64() {
        let top = r(u64::MAX - 1, u64::MAX, 1, 0);
        assert_eq!(
            top.values().collect::<Vec<_>>(),
            vec![u64::MAX - 1, u64::MAX]
        );
        assert_eq!(r(0, u64::MAX, 1, 0).count(), 1 << 64);
    }
}
