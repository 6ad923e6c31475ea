//! Inputs the `hostlist` fuzz target (`fuzz/fuzz_targets/hostlist.rs`) found or keeps in its
//! corpus, replayed on stable with the target's checks: expansions fold back to the same set,
//! errors are one line with a column inside the expression.

use std::collections::BTreeSet;

use prtools_hostlist::{expand, fold, HostSpec};

/// Expands `expr`, folds the names and expands the fold: the same set must come back.
fn round_trip(expr: &str) -> BTreeSet<String> {
    let names = expand(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    let set: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(set.len(), names.len(), "duplicates from {expr:?}");
    let folded = fold(&names);
    let back: BTreeSet<String> = expand(&folded)
        .unwrap_or_else(|e| panic!("{expr:?} folded to {folded:?}: {e}"))
        .into_iter()
        .collect();
    assert_eq!(back, set, "{expr:?} folded to {folded:?}");
    set
}

/// Found by the hostlist target: a name whose last digits follow a multi-byte character
/// (`ґ9`) made `fold` slice inside the character and panic.
#[test]
fn fold_keeps_a_multibyte_character_before_the_number() {
    let set = round_trip("oort@@node[2-4]ґ9t");
    assert_eq!(set.len(), 3);
    assert_eq!(fold(["nodeґ9", "nodeґ10", "é1"]), "nodeґ[9-10],é1");
}

/// Corners the target's corpus keeps: padding across widths, steps, nested brackets and
/// names with several numbers.
#[test]
fn corpus_expressions_fold_back() {
    for expr in [
        "a,node[01-02],rack[1-2]-n1",
        "node[001-010,099-101],x[8-12]y[1-2]",
        "n[1-9/4],n[08-11]",
        "r[1-2]-n[09-10]-ib,r3",
        "x[0-0],x[00-01],x[000]",
        "[1-3]",
        "日本[1-2]語",
    ] {
        round_trip(expr);
    }
}

/// Errors stay on one line and point inside the expression.
#[test]
fn corpus_errors_point_inside_the_expression() {
    for expr in [
        "node[5-", "n[1-2,]", "n[[1]]", "a,,b", "n[9-1]", "n[1-4/0]", "@", "x]",
    ] {
        if let Err(e) = expand(expr) {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text:?}");
            if let Some(col) = e.column() {
                assert!(col >= 1 && col <= expr.chars().count() + 1, "{text}");
            }
        }
    }
    for host in ["root@node1:22", "[::1]:22", "fe80::1", "a@b@c", "h:"] {
        if let Ok(spec) = host.parse::<HostSpec>() {
            assert_eq!(spec.to_string().parse::<HostSpec>().unwrap(), spec);
        }
    }
}
