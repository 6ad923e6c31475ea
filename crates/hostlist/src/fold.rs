//! Folding host names back into the shortest expression: `node1,node2,node3,node7` becomes
//! `node[1-3,7]`, as `dshbak -c` and `clush -b` print them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::natural;

/// Folds host names into a host expression that [`expand`](crate::expand) turns back into the
/// same set of names.
///
/// Names fold on their last number (as clush does): names that agree on the text before and
/// after it share one bracket, so `rack1-n1..rack1-n4` becomes `rack1-n[1-4]` and `n1-ib,n2-ib`
/// becomes `n[1-2]-ib`. Zero padding is kept (`node01,node02` gives `node[01-02]`). Groups are
/// joined with commas and sorted naturally, so the result does not depend on the input order.
/// Duplicates and empty names are ignored.
///
/// ```
/// use prtools_hostlist::fold;
///
/// assert_eq!(fold(["node1", "node2", "node3", "node4", "node7"]), "node[1-4,7]");
/// assert_eq!(fold(["node02", "node01"]), "node[01-02]");
/// assert_eq!(fold(["b", "rack1-n2", "a", "rack1-n1", "rack2-n1"]), "a,b,rack1-n[1-2],rack2-n1");
/// ```
pub fn fold<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    // (text before the number, text after it) -> the numbers, as written.
    let mut groups: HashMap<(String, String), Vec<Num>> = HashMap::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut seen = HashSet::new();
    for name in names {
        let name = name.as_ref();
        if name.is_empty() || !seen.insert(name.to_string()) {
            continue;
        }
        match split_last_number(name) {
            Some((prefix, num, suffix)) => groups
                .entry((prefix.to_string(), suffix.to_string()))
                .or_default()
                .push(num),
            None => pieces.push(Piece {
                first: name.to_string(),
                text: name.to_string(),
            }),
        }
    }
    for ((prefix, suffix), nums) in groups {
        pieces.push(fold_group(&prefix, &suffix, nums));
    }
    pieces.sort_by(|a, b| natural::cmp(&a.first, &b.first));
    let texts: Vec<String> = pieces.into_iter().map(|p| p.text).collect();
    texts.join(",")
}

/// A number as it was written in a name.
#[derive(Clone, Copy, Debug)]
struct Num {
    value: u64,
    /// How many digits were written.
    len: usize,
    /// Written with leading zeros (`01`), so it can only come from a range padded to `len`.
    padded: bool,
}

/// One comma-separated part of the result, with the smallest name it stands for (the sort key).
struct Piece {
    first: String,
    text: String,
}

/// Splits a name around its last run of digits; `None` when it has none, or one too long to be
/// a number that [`expand`](crate::expand) reads (such a name folds as plain text).
fn split_last_number(name: &str) -> Option<(&str, Num, &str)> {
    let end = name.rfind(|c: char| c.is_ascii_digit())? + 1;
    // Where the run of digits starts: a byte count, so that a multi-byte character before
    // the digits is never cut (found by the hostlist fuzz target).
    let start = name[..end]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .len();
    let digits = &name[start..end];
    let value = digits.parse().ok()?;
    let num = Num {
        value,
        len: digits.len(),
        padded: digits.len() > 1 && digits.starts_with('0'),
    };
    Some((&name[..start], num, &name[end..]))
}

/// Folds the numbers of one prefix and suffix into `prefix[ranges]suffix`.
///
/// Numbers are split into widths so that every range expands back to exactly the names given:
/// width 0 holds numbers written without leading zeros; width `w` holds the numbers written
/// with `w` digits when some of them were zero-padded. An unpadded number of `w` digits joins
/// width `w` too (`09,10` is `[09-10]`), since padding it to `w` changes nothing.
fn fold_group(prefix: &str, suffix: &str, nums: Vec<Num>) -> Piece {
    let padded_widths: BTreeSet<usize> = nums.iter().filter(|n| n.padded).map(|n| n.len).collect();
    let mut by_width: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for n in &nums {
        let width = if n.padded || padded_widths.contains(&n.len) {
            n.len
        } else {
            0
        };
        by_width.entry(width).or_default().push(n.value);
    }
    let mut runs: Vec<String> = Vec::new();
    for (width, mut values) in by_width {
        values.sort_unstable();
        values.dedup();
        let mut i = 0;
        while i < values.len() {
            let lo = values[i];
            let mut hi = lo;
            while i + 1 < values.len() && hi.checked_add(1) == Some(values[i + 1]) {
                i += 1;
                hi = values[i];
            }
            i += 1;
            runs.push(if lo == hi {
                format!("{lo:0width$}")
            } else {
                format!("{lo:0width$}-{hi:0width$}")
            });
        }
    }
    runs.sort_by(|a, b| natural::cmp(a, b));
    let lowest = runs[0].split('-').next().unwrap_or_default();
    let first = format!("{prefix}{lowest}{suffix}");
    let text = if nums.len() == 1 {
        first.clone()
    } else {
        format!("{prefix}[{}]{suffix}", runs.join(","))
    };
    Piece { first, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_runs_and_singles() {
        assert_eq!(
            fold(["node1", "node2", "node3", "node4", "node7"]),
            "node[1-4,7]"
        );
        assert_eq!(fold(["node7"]), "node7");
        assert_eq!(fold(["n1", "n3", "n5"]), "n[1,3,5]");
    }

    #[test]
    fn keeps_padding() {
        assert_eq!(fold(["node01", "node02"]), "node[01-02]");
        assert_eq!(fold(["n08", "n09", "n10", "n11"]), "n[08-11]");
        assert_eq!(fold(["n1", "n01", "n2"]), "n[01,1-2]");
        assert_eq!(fold(["n0", "n1", "n00"]), "n[00,0-1]");
        assert_eq!(fold(["n099", "n100"]), "n[099-100]");
        assert_eq!(fold(["n99", "n100"]), "n[99-100]");
    }

    #[test]
    fn different_prefixes_and_suffixes_fold_apart() {
        assert_eq!(
            fold(["n2-ib", "n1", "n1-ib", "m3", "n2"]),
            "m3,n[1-2],n[1-2]-ib"
        );
    }

    #[test]
    fn folds_on_the_last_number() {
        let names = [
            "rack1-n1", "rack1-n2", "rack1-n3", "rack1-n4", "rack2-n1", "rack2-n2",
        ];
        assert_eq!(fold(names), "rack1-n[1-4],rack2-n[1-2]");
    }

    #[test]
    fn output_is_sorted_naturally_and_deduplicated() {
        assert_eq!(
            fold(["node10", "b", "node9", "a", "node10", "", "x10y"]),
            "a,b,node[9-10],x10y"
        );
        assert_eq!(fold(["rack10-n1", "rack9-n1"]), "rack9-n1,rack10-n1");
    }

    #[test]
    fn names_without_numbers_and_huge_numbers_stay_as_they_are() {
        assert_eq!(
            fold(["login", "n99999999999999999999999"]),
            "login,n99999999999999999999999"
        );
        assert_eq!(fold(Vec::<String>::new()), "");
    }

    #[test]
    fn top_of_u64_does_not_overflow() {
        assert_eq!(
            fold(["n18446744073709551614", "n18446744073709551615"]),
            "n[18446744073709551614-18446744073709551615]"
        );
    }
}
