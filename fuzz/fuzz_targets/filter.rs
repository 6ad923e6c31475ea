//! rsync filter rules (`crates/sync/src/filter`): `--filter`, `--exclude`, `--include` and
//! `--exclude-from` files, then matching.
//!
//! The input is three NUL-separated parts: rules one a line (the first byte of each line
//! picks `--filter`, `--exclude` or `--include`), a pattern file, and paths to match, one a
//! line. Checks: nothing panics; a parsed rule prints as a rule that parses back equal (the
//! agent gets prsync's filters that way); errors are one line; a path excluded by itself is
//! excluded with its parents too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prtools_fuzz::{assert_one_line, parts};
use prtools_sync::filter::{Action, Delimiter, FilterList, FilterRule};

/// Paths matched per input.
const MAX_PATHS: usize = 16;

fn check_rule(text: &[u8]) {
    match FilterRule::parse(text) {
        Ok(rule) => {
            let printed = rule.to_bytes();
            let back = FilterRule::parse(&printed).unwrap_or_else(|e| {
                panic!("{text:?} printed as {printed:?}, which does not parse: {e}")
            });
            assert_eq!(back, rule, "{text:?} printed as {printed:?}");
        }
        Err(e) => assert_one_line(&e.to_string(), text),
    }
}

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let mut list = FilterList::new();
    for line in p[0].split(|&b| b == b'\n') {
        let Some((&how, rule)) = line.split_first() else {
            continue;
        };
        check_rule(rule);
        let added = match how % 3 {
            0 => list.push_filter(rule),
            1 => list.push_exclude(rule),
            _ => list.push_include(rule),
        };
        if let Err(e) = added {
            assert_one_line(&e.to_string(), rule);
        }
    }
    let (default, delimiter) = match p[1].first().map(|b| b % 4) {
        Some(0) => (Action::Exclude, Delimiter::Lines),
        Some(1) => (Action::Include, Delimiter::Lines),
        Some(2) => (Action::Exclude, Delimiter::Nul),
        _ => (Action::Include, Delimiter::Nul),
    };
    if let Err(e) = list.read_from(p[1], default, delimiter) {
        let _ = e.to_string();
    }
    list.set_delete_excluded(p[2].first().is_some_and(|b| b & 1 == 1));
    for line in p[2].split(|&b| b == b'\n').take(MAX_PATHS) {
        for is_dir in [false, true] {
            let alone = list.is_excluded(line, is_dir);
            let walked = list.is_excluded_with_parents(line, is_dir);
            assert!(!alone || walked, "excluded alone but not with its parents");
            let _ = list.is_protected(line, is_dir);
            let _ = list.is_protected_in_deleted_dir(line, is_dir);
        }
    }
});
