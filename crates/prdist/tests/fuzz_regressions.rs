//! Inputs the `distfile` fuzz target (`fuzz/fuzz_targets/distfile.rs`) found or keeps in its
//! corpus, replayed on stable: reading a Distfile ends, in a Distfile or in errors that are
//! one line each and point inside the text.

use std::path::PathBuf;

use prdist::distfile::{read, ReadOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prdist-fuzz-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sources(text: &str) -> Vec<String> {
    let dist = read(text, "Distfile", &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
    dist.entries[0].sources.clone()
}

/// Found by the distfile target (a timeout): the source `/**` went to the glob crate as
/// written, which reads `**` as every file below, so prdist walked the whole machine. csh,
/// whose globs rdist uses, has no `**`: stars in a row are one star.
#[test]
fn stars_in_a_row_match_as_one_star() {
    let dir = scratch("stars");
    std::fs::create_dir_all(dir.join("a/deep/er")).unwrap();
    std::fs::write(dir.join("a/deep/er/f.conf"), "").unwrap();
    std::fs::write(dir.join("b.conf"), "").unwrap();
    let d = dir.display();
    let one = sources(&format!("{d}/* -> n\n"));
    assert_eq!(one.len(), 2, "{one:?}");
    assert_eq!(sources(&format!("{d}/** -> n\n")), one);
    assert_eq!(sources(&format!("{d}/***/ -> n\n")).len(), 1);
    // The glob crate refuses `**` inside a component; csh reads it as `*`.
    assert_eq!(
        sources(&format!("{d}/b**conf -> n\n")),
        [format!("{d}/b.conf")]
    );
    // A quoted star stays a star character.
    assert_eq!(sources(&format!("{d}/\\** -> n\n")).len(), 1);

    // The input as found: a root-wide source and a stamp target.
    let _ = read("/**::\\\x1c\x1c", "Distfile", &ReadOptions::default());
}

/// Braces and variables multiply: thirty `{a,b}` would ask for a billion names and exhaust
/// memory, and set arithmetic compared every name with every other. Past a million names a
/// list is now refused, with one line that says so. (Found while reading the expansion for
/// the distfile target's findings; 2^21 is enough to show the limit.)
#[test]
fn lists_that_multiply_past_a_million_names_are_refused() {
    let braces = "{a,b}".repeat(21);
    for text in [
        format!("/x{braces} -> n\n"),
        format!("/x -> ( n{braces} )\n"),
        // 36 names to the fourth power.
        "A = ( a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 )\n\
         B = ${A}${A}${A}${A}\n${B} -> n\n"
            .to_string(),
    ] {
        let errors = read(&text, "Distfile", &ReadOptions::default()).unwrap_err();
        let shown = errors[0].to_string();
        assert!(shown.contains("more than 1000000 names"), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
    }
    // Large but legal: a hundred thousand names, and a union of two such lists.
    let text = "A = ( 0 1 2 3 4 5 6 7 8 9 )\nB = ${A}${A}${A}${A}${A}\nC = ${B} + ${B}\n/x -> n\n\texcept ${C} ;\n";
    let dist = read(text, "Distfile", &ReadOptions::default()).unwrap();
    assert_eq!(dist.entries[0].except.len(), 100_000);
}

/// Found by the distfile target on its rerun (after the `**` fix): `/*/*/*` walked into a
/// folder holding a name that is not UTF-8, and glob 0.3.4 panics on such a name when a
/// leading dot must be written (`to_str().unwrap()` in its walk). prdist now walks the
/// components itself: such names are skipped, the rest still match, and hidden names still
/// need their dot.
#[test]
fn a_name_that_is_not_utf8_does_not_stop_a_glob() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("not-utf8");
    std::fs::create_dir_all(dir.join("d/sub")).unwrap();
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"d/bad\xff\xfe")), "").unwrap();
    std::fs::write(dir.join("d/good"), "").unwrap();
    std::fs::write(dir.join("d/.hidden"), "").unwrap();
    std::fs::write(dir.join("d/sub/f"), "").unwrap();
    let d = dir.display();
    assert_eq!(
        sources(&format!("{d}/*/* -> n\n")),
        [format!("{d}/d/good"), format!("{d}/d/sub")]
    );
    assert_eq!(
        sources(&format!("{d}/d/.* -> n\n")),
        [format!("{d}/d/.hidden")]
    );
    assert_eq!(
        sources(&format!("{d}//d/*/ -> n\n")),
        [format!("{d}/d/sub")]
    );
    assert_eq!(
        sources(&format!("{d}/d/s?b/f -> n\n")),
        [format!("{d}/d/sub/f")]
    );
    // Nothing matches: the name is kept as written.
    assert_eq!(
        sources(&format!("{d}/none/* -> n\n")),
        [format!("{d}/none/*")]
    );
}
