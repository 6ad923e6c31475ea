//! `--date SPEC`: the spec grepmail takes (`before`, `since`/`after`, `between … and …`,
//! or a bare day or month), and the date of a message: its `Date:` header, else the date on
//! its mbox `From ` line, as grepmail does. Times without a zone are UTC.

use anyhow::{bail, Result};
use chrono::{Datelike, NaiveDate, NaiveDateTime};

/// A range of Unix times; the ends are exclusive, as grepmail compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Messages must be later than this.
    pub after: Option<i64>,
    /// Messages must be earlier than this.
    pub before: Option<i64>,
}

impl DateRange {
    /// Parses a `--date` spec.
    pub fn parse(spec: &str) -> Result<DateRange> {
        let s = spec.trim();
        let lower = s.to_ascii_lowercase();
        let fix = "write it as 2024-01-31, 1/31/2024 or 'Jan 31 2024'";
        if let Some(rest) = strip_word(&lower, s, "before") {
            let t = parse_date(rest)
                .ok_or_else(|| anyhow::anyhow!("--date: '{rest}' is not a date; {fix}"))?;
            return Ok(DateRange {
                after: None,
                before: Some(t),
            });
        }
        if let Some(rest) =
            strip_word(&lower, s, "since").or_else(|| strip_word(&lower, s, "after"))
        {
            let t = parse_date(rest)
                .ok_or_else(|| anyhow::anyhow!("--date: '{rest}' is not a date; {fix}"))?;
            return Ok(DateRange {
                after: Some(t),
                before: None,
            });
        }
        if let Some(rest) = strip_word(&lower, s, "between") {
            let lower_rest = rest.to_ascii_lowercase();
            let Some(at) = lower_rest.find(" and ") else {
                bail!("--date '{spec}': expected 'between DATE and DATE'");
            };
            let (a, b) = (&rest[..at], &rest[at + 5..]);
            let a = parse_date(a.trim())
                .ok_or_else(|| anyhow::anyhow!("--date: '{}' is not a date; {fix}", a.trim()))?;
            let b = parse_date(b.trim())
                .ok_or_else(|| anyhow::anyhow!("--date: '{}' is not a date; {fix}", b.trim()))?;
            return Ok(DateRange {
                after: Some(a.min(b)),
                before: Some(a.max(b)),
            });
        }
        if let Some((start, end)) = parse_span(s) {
            // A whole day or month: from its first second to its last, inclusive.
            return Ok(DateRange {
                after: Some(start - 1),
                before: Some(end),
            });
        }
        bail!("--date '{spec}': not a date spec; use 'since DATE', 'before DATE', 'between DATE and DATE' or a day or month, with DATE as 2024-01-31")
    }

    /// Whether `time` lies inside.
    pub fn contains(&self, time: i64) -> bool {
        self.after.is_none_or(|a| time > a) && self.before.is_none_or(|b| time < b)
    }
}

fn strip_word<'a>(lower: &str, original: &'a str, word: &str) -> Option<&'a str> {
    let rest = lower.strip_prefix(word)?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(original[word.len()..].trim())
}

/// Years before this are taken for a misreading.
const MIN_YEAR: i32 = 1900;

/// Day formats a user types, most specific first.
const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%b %d %Y",
    "%B %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%a %b %d %Y",
    "%a, %d %b %Y",
];

/// Date-and-time formats a user types.
const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%b %d %Y %H:%M:%S",
    "%b %d %Y %H:%M",
];

/// A user's date as a Unix time (UTC midnight when no time is given).
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(text) {
        return Some(t.timestamp());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    // chrono lets a space in a format match no space, so "Aug 1998" would read as day 19
    // of the year 98: a plausible year is required.
    for f in DATETIME_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, f) {
            if t.year() >= MIN_YEAR {
                return Some(t.and_utc().timestamp());
            }
        }
    }
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(text, f) {
            if d.year() >= MIN_YEAR {
                return Some(midnight(d));
            }
        }
    }
    None
}

/// A bare day or month as `[first second, first second after)`.
fn parse_span(text: &str) -> Option<(i64, i64)> {
    if let Some(day) = parse_date(text) {
        return Some((day, day + 86_400));
    }
    // A month: "Aug 1998", "August 1998", "1998-08".
    for f in ["%b %Y %d", "%B %Y %d", "%Y-%m %d"] {
        if let Ok(d) = NaiveDate::parse_from_str(&format!("{text} 1"), f) {
            let next = if d.month() == 12 {
                NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)?
            };
            return Some((midnight(d), midnight(next)));
        }
    }
    None
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0)
}

/// The date on an mbox `From ` line (`From addr Wed Jul  1 13:17:17 1998`), which is the
/// asctime format in UTC, sometimes with a zone or without seconds.
pub fn from_line_date(line: &[u8]) -> Option<i64> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let rest = line.strip_prefix("From ")?.trim_start();
    // Skip the envelope sender.
    let rest = rest.split_once(char::is_whitespace)?.1;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let joined = words.join(" ");
    for f in ["%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M %Y"] {
        if let Ok((t, _)) = NaiveDateTime::parse_and_remainder(&joined, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    // With a zone between time and year: "Sat Sep  1 20:58 EDT 2001".
    if words.len() >= 6 {
        let without_zone = [&words[..4], &words[5..6]].concat().join(" ");
        for f in ["%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M %Y"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(&without_zone, f) {
                return Some(t.and_utc().timestamp());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        midnight(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn grepmail_specs() {
        assert_eq!(
            DateRange::parse("before July 15 1998").unwrap().before,
            Some(day(1998, 7, 15))
        );
        assert_eq!(
            DateRange::parse("before 7/15/1998").unwrap().before,
            Some(day(1998, 7, 15))
        );
        assert_eq!(
            DateRange::parse("since 2024-01-01").unwrap().after,
            Some(day(2024, 1, 1))
        );
        let aug = DateRange::parse("Aug 1998").unwrap();
        assert!(aug.contains(day(1998, 8, 1)) && aug.contains(day(1998, 8, 31)));
        assert!(!aug.contains(day(1998, 9, 1)) && !aug.contains(day(1998, 7, 31)));
    }

    #[test]
    fn between_swaps_backwards_dates() {
        let r = DateRange::parse("between 2024-02-01 and 2024-01-01").unwrap();
        assert_eq!(
            (r.after, r.before),
            (Some(day(2024, 1, 1)), Some(day(2024, 2, 1)))
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_forms() {
        let err = DateRange::parse("after armageddon")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'armageddon' is not a date"), "{err}");
    }

    #[test]
    fn from_lines() {
        assert_eq!(
            from_line_date(b"From a@b  Wed Jul  1 13:17:17 1998\n"),
            Some(day(1998, 7, 1) + 13 * 3600 + 17 * 60 + 17)
        );
        assert_eq!(
            from_line_date(b"From d@c Sat Sep  1 20:58 EDT 2001"),
            Some(day(2001, 9, 1) + 20 * 3600 + 58 * 60)
        );
    }
}
