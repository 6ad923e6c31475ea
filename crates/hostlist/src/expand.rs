//! Host expressions: comma lists of names with numeric brackets, `a,node[01-16,20],rack[1-2]-n[1-4]`.
//!
//! Parsing is split from expansion on purpose: a parsed [`Pattern`] knows how many names it
//! gives, so that an expression too large to hold is refused before a single name is built.

use std::collections::HashSet;
use std::fmt::Write;
use std::hash::Hash;
use std::ops::Range;

use crate::error::{Error, SyntaxKind};
use crate::range::{parse_set, NumRange};
use crate::scan::Scanner;
use crate::MAX_HOSTS;

/// Expands a host expression into host names: ranges and comma lists, no files or groups.
///
/// Brackets hold numbers, ranges and steps (`[01-16,20,1-9/2]`); zero padding is kept from the
/// start of each range; several brackets in one name give every combination, the last bracket
/// varying fastest. Spaces around names are ignored. Duplicates are removed, first occurrence
/// kept. `^file`, `@group` and `user@` mean nothing here; [`Selection`](crate::Selection)
/// reads those.
///
/// An expression that would give more than [`MAX_HOSTS`] names fails before any is built.
///
/// ```
/// use prtools_hostlist::expand;
///
/// assert_eq!(expand("node[01-03,10]")?, ["node01", "node02", "node03", "node10"]);
/// assert_eq!(expand("rack[1-2]-n[1-2]")?, ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]);
/// assert_eq!(expand("n[1-9/4],a,n1")?, ["n1", "n5", "n9", "a"]);
/// assert_eq!(
///     expand("node[9-1]").unwrap_err().to_string(),
///     "bad host list 'node[9-1]': column 6: range 9-1 goes backwards, write node[1-9]"
/// );
/// # Ok::<(), prtools_hostlist::Error>(())
/// ```
pub fn expand(expr: &str) -> Result<Vec<String>, Error> {
    let patterns = split(expr, 0..expr.len())?
        .into_iter()
        .map(|item| parse_pattern(expr, item))
        .collect::<Result<Vec<_>, _>>()?;
    let count = check_limit(expr, &patterns, MAX_HOSTS)?;
    let mut names = Vec::with_capacity(count);
    for pattern in &patterns {
        pattern.push_names(&mut names);
    }
    dedup(&mut names);
    Ok(names)
}

/// One name of a comma list, parsed: text and brackets in the order they were written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// Byte offset of the name in the input, for errors about the name as a whole.
    start: usize,
    parts: Vec<Part>,
}

/// A piece of a [`Pattern`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// Text copied into every name.
    Text(String),
    /// A bracket; `open` is the byte offset of its `[`, where errors about its size point.
    Set { ranges: Vec<NumRange>, open: usize },
}

impl Pattern {
    /// Appends every name the pattern gives to `out`, the last bracket varying fastest.
    pub(crate) fn push_names(&self, out: &mut Vec<String>) {
        fn walk(parts: &[Part], buf: &mut String, out: &mut Vec<String>) {
            let Some((first, rest)) = parts.split_first() else {
                out.push(buf.clone());
                return;
            };
            let len = buf.len();
            match first {
                Part::Text(text) => {
                    buf.push_str(text);
                    walk(rest, buf, out);
                    buf.truncate(len);
                }
                Part::Set { ranges, .. } => {
                    for range in ranges {
                        for value in range.values() {
                            // Writing to a String cannot fail.
                            let _ = write!(buf, "{value:0width$}", width = range.width);
                            walk(rest, buf, out);
                            buf.truncate(len);
                        }
                    }
                }
            }
        }
        walk(&self.parts, &mut String::new(), out);
    }
}

/// Splits `full[span]` at the commas outside brackets, trims spaces around each name, and
/// refuses empty names. A comma inside brackets belongs to the bracket, so `n[1,3],m` is two
/// names; a bracket left open keeps the rest of the input, for the name parser to report.
pub(crate) fn split(full: &str, span: Range<usize>) -> Result<Vec<Range<usize>>, Error> {
    if full[span.clone()].trim().is_empty() {
        return Err(Error::syntax(full, span.start, SyntaxKind::EmptyList));
    }
    let mut items = Vec::new();
    let mut start = span.start;
    let mut in_bracket = false;
    for (i, c) in full[span.clone()].char_indices() {
        let i = span.start + i;
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            ',' if !in_bracket => {
                items.push(trimmed(full, start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(trimmed(full, start..span.end)?);
    Ok(items)
}

/// `full[item]` without surrounding spaces; an error if nothing is left.
fn trimmed(full: &str, item: Range<usize>) -> Result<Range<usize>, Error> {
    let text = &full[item.clone()];
    let start = item.start + (text.len() - text.trim_start().len());
    let end = item.end - (text.len() - text.trim_end().len());
    if start >= end {
        return Err(Error::syntax(full, item.start, SyntaxKind::EmptyHost));
    }
    Ok(start..end)
}

/// Parses one name of a list, `full[item]`, into text and brackets.
pub(crate) fn parse_pattern(full: &str, item: Range<usize>) -> Result<Pattern, Error> {
    let mut sc = Scanner::new(full, item.clone());
    let mut parts = Vec::new();
    let mut text = String::new();
    while let Some(c) = sc.peek() {
        let at = sc.pos;
        sc.bump();
        match c {
            '[' => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                let ranges = parse_set(&mut sc)?;
                parts.push(Part::Set { ranges, open: at });
            }
            ']' => return Err(sc.error_at(at, SyntaxKind::Unopened)),
            c if c.is_whitespace() => return Err(sc.error_at(at, SyntaxKind::Space)),
            c if c.is_control() => return Err(sc.error_at(at, SyntaxKind::Control(c))),
            c => text.push(c),
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(Pattern {
        start: item.start,
        parts,
    })
}

/// Counts the names the patterns give, and fails at the first bracket that takes the total past
/// `limit`. Counting is arithmetic on the ranges, so `node[1-99999999999]` is refused at once.
pub(crate) fn check_limit(full: &str, patterns: &[Pattern], limit: usize) -> Result<usize, Error> {
    let limit_wide = limit as u128;
    let too_many =
        |at: usize, count: u128| Error::syntax(full, at, SyntaxKind::TooMany { count, limit });
    let mut total: u128 = 0;
    for pattern in patterns {
        let mut product: u128 = 1;
        for part in &pattern.parts {
            if let Part::Set { ranges, open } = part {
                // Each range counts at most 2^64 and the product so far is at most `limit`,
                // so neither the sum nor the product can overflow a u128.
                let sum: u128 = ranges.iter().map(NumRange::count).sum();
                product *= sum;
                if total + product > limit_wide {
                    return Err(too_many(*open, total + product));
                }
            }
        }
        total += product;
        if total > limit_wide {
            return Err(too_many(pattern.start, total));
        }
    }
    // `total` is at most `limit` here, which is a usize.
    Ok(total as usize)
}

/// Removes later duplicates, keeping the first of each in place.
///
/// Borrows the items into the set rather than cloning them, which matters for a million names.
pub(crate) fn dedup<T: Hash + Eq>(items: &mut Vec<T>) {
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().map(|item| seen.insert(item)).collect()
    };
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full message of the error `expand` gives.
    fn err(expr: &str) -> String {
        expand(expr).unwrap_err().to_string()
    }

    #[test]
    fn plain_names_and_comma_lists() {
        assert_eq!(expand("a").unwrap(), ["a"]);
        assert_eq!(
            expand("a,b,node[1-3]").unwrap(),
            ["a", "b", "node1", "node2", "node3"]
        );
        assert_eq!(expand(" a , b ").unwrap(), ["a", "b"]);
    }

    #[test]
    fn padding_is_kept() {
        let hosts = expand("node[01-16,20]").unwrap();
        assert_eq!(hosts.len(), 17);
        assert_eq!(hosts[0], "node01");
        assert_eq!(hosts[15], "node16");
        assert_eq!(hosts[16], "node20");
        assert_eq!(expand("n[08-10]").unwrap(), ["n08", "n09", "n10"]);
        assert_eq!(
            expand("n[098-101]").unwrap(),
            ["n098", "n099", "n100", "n101"]
        );
    }

    #[test]
    fn padding_is_a_minimum_width() {
        assert_eq!(expand("n[8-10]").unwrap(), ["n8", "n9", "n10"]);
        assert_eq!(expand("n[98-100/2]").unwrap(), ["n98", "n100"]);
        assert_eq!(expand("n[09-100/91]").unwrap(), ["n09", "n100"]);
    }

    #[test]
    fn several_brackets_give_the_product_in_order() {
        assert_eq!(
            expand("rack[1-2]-n[1-4]").unwrap(),
            [
                "rack1-n1", "rack1-n2", "rack1-n3", "rack1-n4", "rack2-n1", "rack2-n2", "rack2-n3",
                "rack2-n4"
            ]
        );
        assert_eq!(expand("[1-2][5,7]x").unwrap(), ["15x", "17x", "25x", "27x"]);
    }

    #[test]
    fn steps() {
        assert_eq!(expand("n[1-9/2]").unwrap(), ["n1", "n3", "n5", "n7", "n9"]);
        assert_eq!(expand("n[1-10/3]").unwrap(), ["n1", "n4", "n7", "n10"]);
        assert_eq!(expand("n[01-05/2]").unwrap(), ["n01", "n03", "n05"]);
    }

    #[test]
    fn suffixes_and_single_numbers() {
        assert_eq!(expand("n[1-2]-ib").unwrap(), ["n1-ib", "n2-ib"]);
        assert_eq!(expand("n[07]").unwrap(), ["n07"]);
        assert_eq!(expand("[1-3]").unwrap(), ["1", "2", "3"]);
    }

    #[test]
    fn duplicates_keep_the_first() {
        assert_eq!(
            expand("b,a,b,n[1-3],n2,n[3]").unwrap(),
            ["b", "a", "n1", "n2", "n3"]
        );
        assert_eq!(expand("n[1-3,2-4]").unwrap(), ["n1", "n2", "n3", "n4"]);
    }

    #[test]
    fn unclosed_range() {
        assert_eq!(
            err("node[5-"),
            "bad host list 'node[5-': column 8: unclosed range, missing ']'"
        );
        assert_eq!(
            err("node[5"),
            "bad host list 'node[5': column 7: unclosed range, missing ']'"
        );
        assert_eq!(
            err("node["),
            "bad host list 'node[': column 6: unclosed range, missing ']'"
        );
        assert_eq!(
            err("a,n[1,2"),
            "bad host list 'a,n[1,2': column 8: unclosed range, missing ']'"
        );
    }

    #[test]
    fn backwards_range() {
        assert_eq!(
            err("node[9-1]"),
            "bad host list 'node[9-1]': column 6: range 9-1 goes backwards, write node[1-9]"
        );
        assert_eq!(
            err("a,n[3,09-01/2]-x"),
            "bad host list 'a,n[3,09-01/2]-x': column 7: range 09-01 goes backwards, \
             write n[3,01-09/2]-x"
        );
    }

    #[test]
    fn not_a_number() {
        assert_eq!(
            err("node[a-3]"),
            "bad host list 'node[a-3]': column 6: expected a number but found 'a', \
             ranges hold digits as in node[1-4]"
        );
        assert_eq!(expand("node[1-]").unwrap_err().column(), Some(8));
        assert_eq!(expand("node[1,]").unwrap_err().column(), Some(8));
        assert_eq!(expand("n[1[2]]").unwrap_err().column(), Some(4));
    }

    #[test]
    fn unexpected_after_number() {
        assert_eq!(
            err("node[1x]"),
            "bad host list 'node[1x]': column 7: unexpected 'x' in range, \
             write ranges as in node[1-4,7,10-20/2]"
        );
    }

    #[test]
    fn empty_lists() {
        assert_eq!(
            err(""),
            "bad host list '': column 1: empty host list, give at least one host name"
        );
        assert_eq!(
            err("  "),
            "bad host list '  ': column 1: empty host list, give at least one host name"
        );
        assert_eq!(
            err("a,,b"),
            "bad host list 'a,,b': column 3: empty host name, remove the extra ','"
        );
        assert_eq!(expand("a,").unwrap_err().column(), Some(3));
        assert_eq!(expand(",a").unwrap_err().column(), Some(1));
        assert_eq!(
            err("node[]"),
            "bad host list 'node[]': column 6: empty brackets, put numbers inside as in node[1-4]"
        );
    }

    #[test]
    fn unbalanced_close() {
        assert_eq!(
            err("node]"),
            "bad host list 'node]': column 5: unbalanced ']', missing '['"
        );
        assert_eq!(expand("n[1]]").unwrap_err().column(), Some(5));
        assert_eq!(expand("a,b]c").unwrap_err().column(), Some(4));
    }

    #[test]
    fn steps_must_advance_and_need_a_range() {
        assert_eq!(
            err("n[1-9/0]"),
            "bad host list 'n[1-9/0]': column 7: step 0 never advances, use a step of 1 or more"
        );
        assert_eq!(
            err("n[5/2]"),
            "bad host list 'n[5/2]': column 4: a step needs a range, write it as in node[1-9/2]"
        );
    }

    #[test]
    fn numbers_must_fit() {
        assert_eq!(
            err("n[99999999999999999999]"),
            "bad host list 'n[99999999999999999999]': column 3: number 99999999999999999999 is too \
             large, the largest is 18446744073709551615"
        );
        assert_eq!(
            expand("n[18446744073709551615]").unwrap(),
            ["n18446744073709551615"]
        );
    }

    #[test]
    fn spaces_inside_names() {
        assert_eq!(
            err("node 1"),
            "bad host list 'node 1': column 5: unexpected space in a host name, separate hosts with ','"
        );
        assert_eq!(expand("a\u{1}").unwrap_err().column(), Some(2));
        assert_eq!(
            err("a\nb"),
            "bad host list 'a\\nb': column 2: unexpected space in a host name, separate hosts with ','"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(expand("é,n[9-1]").unwrap_err().column(), Some(5));
    }

    #[test]
    fn too_many_hosts_fail_before_allocating() {
        assert_eq!(
            err("node[0-1000001]"),
            "bad host list 'node[0-1000001]': column 5: expands to 1000002 hosts, more than the \
             limit of 1000000, split it into smaller lists"
        );
        assert_eq!(
            err("a[1-1000]b[1-1001]"),
            "bad host list 'a[1-1000]b[1-1001]': column 11: expands to 1001000 hosts, more than \
             the limit of 1000000, split it into smaller lists"
        );
        assert_eq!(
            expand("a[1-600000],b[1-600000]").unwrap_err().column(),
            Some(14)
        );
        // Far past memory: refused by arithmetic, instantly.
        assert_eq!(
            expand("n[0-18446744073709551615][0-18446744073709551615]")
                .unwrap_err()
                .column(),
            Some(2)
        );
    }

    #[test]
    fn a_million_hosts_is_allowed() {
        let hosts = expand("node[1-1000000]").unwrap();
        assert_eq!(hosts.len(), 1_000_000);
        assert_eq!(hosts[0], "node1");
        assert_eq!(hosts[999_999], "node1000000");
    }

    #[test]
    fn dedup_keeps_first_positions() {
        let mut v = vec![3, 1, 3, 2, 1];
        dedup(&mut v);
        assert_eq!(v, [3, 1, 2]);
    }
}
