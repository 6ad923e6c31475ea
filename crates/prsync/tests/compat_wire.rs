//! prsync speaking rsync's protocol (`--wire=rsync`) to a stock `rsync --server`, against the
//! stock rsync client talking to the same server, on the seeded trees of `compat.rs`: the
//! same trees and the same `-i` lines, pushes (`dst/` is `lh:dst/`) and pulls (`lh:src/`).
//! The remote shell runs the server on this machine, as rsync's own suite does with its
//! `lsh.sh`; `compat.rs` holds the local cases, and tests/tests/prsync_rsync_wire.rs the
//! cases over a real sshd.

mod common;

use common::{edit_source, litter, tree, Bed};

/// A seeded tree in a bed whose `lh:` operands go over rsync's protocol.
fn wire_tree(name: &str, seed: u64) -> (Bed, common::Rng) {
    let (plain, rng) = tree(&format!("{name}-seed"), seed);
    let bed = Bed::over_rsync_wire(name);
    std::fs::remove_dir(bed.src()).unwrap();
    std::fs::rename(plain.src(), bed.src()).unwrap();
    (bed, rng)
}

#[test]
fn random_trees_pushed_then_nothing_to_do() {
    for seed in 1..=3 {
        let (bed, _) = wire_tree(&format!("wire-first-{seed}"), seed);
        let first = bed.same(&[b"-ai", b"{src}/", b"lh:dst/"], "dst");
        assert!(first.len() > 10, "seed {seed}: a real tree was copied");
        let again = bed.same(&[b"-ai", b"{src}/", b"lh:dst/"], "dst");
        assert!(
            again.is_empty(),
            "seed {seed}: nothing to do the second time"
        );
    }
}

#[test]
fn random_trees_pulled_then_nothing_to_do() {
    for seed in 1..=3 {
        let (bed, _) = wire_tree(&format!("wire-pull-{seed}"), seed);
        let first = bed.same(&[b"-ai", b"lh:{src}/", b"dst/"], "dst");
        assert!(first.len() > 10, "seed {seed}: a real tree was copied");
        let again = bed.same(&[b"-ai", b"lh:{src}/", b"dst/"], "dst");
        assert!(
            again.is_empty(),
            "seed {seed}: nothing to do the second time"
        );
    }
}

#[test]
fn edits_are_itemized_and_applied_both_ways() {
    for (seed, pull) in [(7, false), (8, true), (9, false), (10, true)] {
        let (bed, mut rng) = wire_tree(&format!("wire-edits-{seed}"), seed);
        let (from, to): (&[u8], &[u8]) = if pull {
            (b"lh:{src}/", b"dst/")
        } else {
            (b"{src}/", b"lh:dst/")
        };
        bed.same(&[b"-ai", from, to], "dst");
        edit_source(&bed.src(), &mut rng);
        bed.same(&[b"-ai", from, to], "dst");
        bed.same(&[b"-ai", from, to], "dst");
    }
}

#[test]
fn delete_removes_what_the_source_lacks_both_ways() {
    for (seed, pull) in [(11, false), (12, true)] {
        let (bed, mut rng) = wire_tree(&format!("wire-delete-{seed}"), seed);
        let (from, to): (&[u8], &[u8]) = if pull {
            (b"lh:{src}/", b"dst/")
        } else {
            (b"{src}/", b"lh:dst/")
        };
        bed.same(&[b"-ai", from, to], "dst");
        bed.on_dests("dst", litter);
        edit_source(&bed.src(), &mut rng);
        let lines = bed.same(&[b"-ai", b"--delete", from, to], "dst");
        assert!(
            lines.iter().any(|l| l.starts_with(b"*deleting")),
            "seed {seed}: the litter was deleted"
        );
    }
}

#[test]
fn excludes_reach_the_server_both_ways() {
    for (seed, pull) in [(13, false), (14, true)] {
        let (bed, _) = wire_tree(&format!("wire-exclude-{seed}"), seed);
        let (from, to): (&[u8], &[u8]) = if pull {
            (b"lh:{src}/", b"dst/")
        } else {
            (b"{src}/", b"lh:dst/")
        };
        bed.same(&[b"-ai", from, to], "dst");
        bed.on_dests("dst", litter);
        // Mtimes are left out: a litter folder that keeps an excluded entry loses its other
        // one, so each tool leaves it the time of its own run.
        let lines = bed.same_with(
            &[
                b"-ai",
                b"--delete",
                b"--exclude=*.o",
                b"--exclude=d*/",
                from,
                to,
            ],
            "dst",
            false,
        );
        assert!(
            !lines.iter().any(|l| l.ends_with(b"extra.o")),
            "seed {seed}: the excluded litter was spared"
        );
    }
}

#[test]
fn a_dry_run_push_changes_nothing() {
    let (bed, mut rng) = wire_tree("wire-dry-run", 16);
    bed.same(&[b"-ain", b"{src}/", b"lh:dst/"], "dst");
    assert!(!bed.sides()[1].join("dst").exists());
    bed.same(&[b"-ai", b"{src}/", b"lh:dst/"], "dst");
    bed.on_dests("dst", litter);
    edit_source(&bed.src(), &mut rng);
    let before = common::describe(&bed.sides()[1].join("dst"));
    bed.same(&[b"-ain", b"--delete", b"{src}/", b"lh:dst/"], "dst");
    assert_eq!(before, common::describe(&bed.sides()[1].join("dst")));
}

#[test]
fn trailing_slashes_and_several_sources_both_ways() {
    let (bed, _) = wire_tree("wire-operands", 17);
    let src = bed.src();
    std::fs::create_dir_all(src.join("one/inner")).unwrap();
    std::fs::write(src.join("one/inner/x"), b"x").unwrap();
    std::fs::write(src.join("lone"), b"lone file").unwrap();
    for p in ["one/inner/x", "one/inner", "one", "lone", ""] {
        common::set_mtime(&src.join(p), 1_500_000_000, 0);
    }
    bed.same(&[b"-ai", b"{src}", b"lh:a"], "a");
    bed.same(&[b"-ai", b"{src}/", b"lh:b"], "b");
    bed.same(&[b"-ai", b"{src}/lone", b"lh:renamed"], "renamed");
    bed.same(&[b"-ai", b"{src}/lone", b"lh:b/"], "b");
    bed.same(&[b"-ai", b"lh:{src}/one", b"c/"], "c");
    bed.same(&[b"-ai", b"lh:{src}/lone", b"pulled"], "pulled");
    bed.same(&[b"-ai", b"lh:{src}/one/", b"c/"], "c");
}

#[test]
fn type_changes_replace_entries_both_ways() {
    for pull in [false, true] {
        let bed = Bed::over_rsync_wire(&format!("wire-types-{pull}"));
        let src = bed.src();
        std::fs::create_dir_all(src.join("was-file")).unwrap();
        std::fs::write(src.join("was-file/x"), b"x").unwrap();
        std::fs::write(src.join("was-dir"), b"now a file").unwrap();
        std::fs::write(src.join("was-link"), b"now a file").unwrap();
        std::os::unix::fs::symlink("target", src.join("now-link")).unwrap();
        for p in [
            "was-file/x",
            "was-file",
            "was-dir",
            "was-link",
            "now-link",
            "",
        ] {
            common::set_mtime(&src.join(p), 1_500_000_000, 0);
        }
        let (from, to): (&[u8], &[u8]) = if pull {
            (b"lh:{src}/", b"dst/")
        } else {
            (b"{src}/", b"lh:dst/")
        };
        bed.on_dests("dst", |d| {
            std::fs::create_dir_all(d.join("was-dir")).unwrap();
            std::fs::write(d.join("was-file"), b"old").unwrap();
            std::os::unix::fs::symlink("old", d.join("was-link")).unwrap();
            std::fs::write(d.join("now-link"), b"old").unwrap();
        });
        bed.same(&[b"-ai", from, to], "dst");
        bed.on_dests("dst", |d| {
            std::fs::remove_file(d.join("was-dir")).unwrap();
            std::fs::create_dir_all(d.join("was-dir/full")).unwrap();
            std::fs::write(d.join("was-dir/full/f"), b"f").unwrap();
        });
        bed.same(&[b"-ai", b"--delete", from, to], "dst");
    }
}
