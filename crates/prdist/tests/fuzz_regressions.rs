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
