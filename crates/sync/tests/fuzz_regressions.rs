//! Rules from the `filter` fuzz target's seeds and corpus (`fuzz/fuzz_targets/filter.rs`),
//! replayed on stable with its checks: a parsed rule prints as a rule that parses back equal
//! (prsync hands its filters to the agent that way), errors are one line, and a path excluded
//! by itself is excluded with its parents too.

use prtools_sync::filter::{Action, Delimiter, FilterList, FilterRule};

#[test]
fn corpus_rules_print_and_parse_back_equal() {
    let rules: [&[u8]; 16] = [
        b"- *.o",
        b"+ */",
        b"-!p /a/**/b",
        b"H foo",
        b"P /keep",
        b"+ dir/***",
        b"- [a-c]?x\\*",
        b"-sr **/.git/",
        b"exclude,s  two spaces",
        b"-_under",
        b"- //",
        b"- a//",
        b"- \\",
        b"+ [",
        b"- \xff\xfe/",
        b"Rp ***",
    ];
    for text in rules {
        let rule = FilterRule::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let printed = rule.to_bytes();
        assert_eq!(
            FilterRule::parse(&printed).unwrap(),
            rule,
            "{text:?} as {printed:?}"
        );
    }
    for bad in [
        &b"!"[..],
        b"clear",
        b"merge x",
        b": x",
        b"-/ x",
        b"-x x",
        b"?",
        b"-\n x",
    ] {
        if let Err(e) = FilterRule::parse(bad) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}

#[test]
fn corpus_lists_exclude_a_path_with_its_parents() {
    let mut list = FilterList::new();
    for rule in ["- build/", "+ */", "+ *.c", "-! /src/***", "P /keep"] {
        list.push_filter(rule).unwrap();
    }
    list.read_from(
        &b"# c\r\n; c\r\n- tmp/\r\n+ *.rs\r\n*\n"[..],
        Action::Exclude,
        Delimiter::Lines,
    )
    .unwrap();
    list.read_from(&b"a\0- b/\0!\0c\n"[..], Action::Include, Delimiter::Nul)
        .unwrap();
    let paths: [&[u8]; 10] = [
        b"src/main.c",
        b"src/build/x.c",
        b"build",
        b"a/b/c",
        b"keep",
        b"x/.git/config",
        b"",
        b"/",
        b"a//b",
        b"\xff/tmp/y",
    ];
    for path in paths {
        for is_dir in [false, true] {
            if list.is_excluded(path, is_dir) {
                assert!(list.is_excluded_with_parents(path, is_dir), "{path:?}");
            }
            let _ = list.is_protected(path, is_dir);
            let _ = list.is_protected_in_deleted_dir(path, is_dir);
        }
    }
}
