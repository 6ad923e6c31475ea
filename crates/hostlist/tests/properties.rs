//! Properties of folding and expanding over random host sets: what `fold` writes, `expand`
//! reads back as the same set, and folding twice changes nothing.

use std::collections::BTreeSet;

use proptest::prelude::*;
use prtools_hostlist::{expand, fold};

/// One host name: a prefix from a small set (so that names share prefixes and fold together),
/// a number with or without zero padding, and a suffix that may hold a number of its own.
fn host() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["n", "node", "rack1-n", "rack2-n", "a.b", "x9y", ""]);
    let suffix = prop::sample::select(vec!["", "", "", "-ib", ".eth0", "z"]);
    let numbered = (prefix, 0u64..40, 0usize..4, suffix)
        .prop_map(|(p, n, width, s)| format!("{p}{n:0width$}{s}"));
    prop_oneof![
        4 => numbered,
        1 => "[a-z][a-z0-9.-]{0,6}",
    ]
}

fn host_set() -> impl Strategy<Value = BTreeSet<String>> {
    prop::collection::btree_set(host(), 1..60)
}

proptest! {
    #[test]
    fn expand_reads_back_what_fold_writes(set in host_set()) {
        let folded = fold(&set);
        let back: BTreeSet<String> = expand(&folded).unwrap().into_iter().collect();
        prop_assert_eq!(back, set, "folded: {}", folded);
    }

    #[test]
    fn folding_is_idempotent(set in host_set()) {
        let once = fold(&set);
        let twice = fold(expand(&once).unwrap());
        prop_assert_eq!(twice, once);
    }

    #[test]
    fn fold_ignores_order_and_duplicates(set in host_set(), seed in any::<u64>()) {
        let mut shuffled: Vec<&String> = set.iter().chain(set.iter().take(3)).collect();
        // A cheap deterministic shuffle: sort by a hash of the name and the seed.
        shuffled.sort_by_key(|name| {
            name.bytes().fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        });
        prop_assert_eq!(fold(shuffled), fold(&set));
    }

    #[test]
    fn folding_never_gives_more_names(set in host_set()) {
        let folded = fold(&set);
        prop_assert!(folded.split(',').count() <= set.len());
    }

    #[test]
    fn expand_never_panics(expr in r"[a1\[\],/ -]{0,16}") {
        let _ = expand(&expr);
    }
}
