//! Host expressions, hostfiles and groups files (`crates/hostlist`).
//!
//! The input is up to four NUL-separated parts: a `-w` value, a `-x` value, a hostfile and a
//! groups file. Checks: nothing panics; errors are one line with a column inside the text;
//! an expansion stays under `MAX_HOSTS` without duplicates, and folds back to the same set;
//! a single host prints back as it parses.
#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prtools_fuzz::{assert_one_line, parts};
use prtools_hostlist::{expand, fold, Context, HostSpec, Selection, MAX_HOSTS};

/// Folding a million names back is slow; the property is as well tested on fewer.
const FOLD_CHECK_MAX: usize = 10_000;

/// A private folder for the hostfile and groups file, made once per process.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("prtools-fuzz-hostlist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
}

fn check_expand(expr: &str) {
    match expand(expr) {
        Ok(names) => {
            assert!(names.len() <= MAX_HOSTS, "{} names", names.len());
            let set: HashSet<&String> = names.iter().collect();
            assert_eq!(set.len(), names.len(), "duplicates in {names:?}");
            if names.len() <= FOLD_CHECK_MAX && !names.is_empty() {
                let folded = fold(&names);
                let again = expand(&folded)
                    .unwrap_or_else(|e| panic!("fold gave {folded:?}, which expands to {e}"));
                let again: HashSet<&String> = again.iter().collect();
                assert_eq!(again, set, "fold gave {folded:?}");
            }
        }
        Err(e) => {
            assert_one_line(&e.to_string(), expr.as_bytes());
            if let Some(col) = e.column() {
                assert!(
                    col >= 1 && col <= expr.chars().count() + 1,
                    "column {col} of {expr:?}"
                );
            }
        }
    }
}

fn check_host(text: &str) {
    if let Ok(spec) = text.parse::<HostSpec>() {
        let shown = spec.to_string();
        let back: HostSpec = shown
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} printed as {shown:?}, which reads as {e}"));
        assert_eq!(back, spec, "{text:?} printed as {shown:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 4);
    let Ok(texts) = p
        .iter()
        .map(|b| std::str::from_utf8(b))
        .collect::<Result<Vec<&str>, _>>()
    else {
        return;
    };
    let (include, exclude, hostfile, groups) = (texts[0], texts[1], texts[2], texts[3]);
    check_expand(include);
    check_host(include);

    let dir = scratch();
    let hostfile_path = dir.join("hosts");
    let groups_path = dir.join("groups");
    std::fs::write(&hostfile_path, hostfile).expect("write hostfile");
    std::fs::write(&groups_path, groups).expect("write groups");
    let ctx = Context {
        wcoll: Some(hostfile_path.clone()),
        group_files: vec![groups_path],
    };
    let selections = [
        Selection {
            include: vec![include.to_string()],
            exclude: vec![exclude.to_string()],
            ..Selection::default()
        },
        Selection {
            hostfiles: vec![hostfile_path],
            groups: vec![exclude.to_string()],
            ..Selection::default()
        },
        // Nothing selected: WCOLL, the hostfile, is read.
        Selection::default(),
    ];
    for selection in selections {
        match selection.resolve(&ctx) {
            Ok(hosts) => {
                assert!(hosts.len() <= MAX_HOSTS);
                assert!(!hosts.is_empty(), "an empty selection must be an error");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
