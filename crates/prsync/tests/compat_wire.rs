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

/// The operands of a push (`dst/` on the far side) or a pull (`src/` there).
fn operands(pull: bool) -> (&'static [u8], &'static [u8]) {
    if pull {
        (b"lh:{src}/", b"dst/")
    } else {
        (b"{src}/", b"lh:dst/")
    }
}

#[test]
fn random_trees_then_nothing_to_do_both_ways() {
    for (seed, pull) in [(1, false), (2, false), (3, true), (4, true)] {
        let (bed, _) = wire_tree(&format!("wire-first-{seed}"), seed);
        let (from, to) = operands(pull);
        let first = bed.same(&[b"-ai", from, to], "dst");
        assert!(first.len() > 10, "seed {seed}: a real tree was copied");
        let again = bed.same(&[b"-ai", from, to], "dst");
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
        let (from, to) = operands(pull);
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
        let (from, to) = operands(pull);
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
        let (from, to) = operands(pull);
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
        let (from, to) = operands(pull);
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

/// `--rsync-path` naming a stock rsync, without `--wire`: prsync asks it for its version,
/// finds rsync, and speaks rsync's protocol to it, push and pull, where before the agent's
/// start ran `rsync --server` bare and printed rsync's whole help text.
#[test]
fn rsync_path_naming_a_stock_rsync_goes_over_its_protocol() {
    use std::ffi::{OsStr, OsString};
    let (bed, _) = wire_tree("wire-rsync-path", 18);
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v rsync"])
        .output()
        .unwrap();
    let path = format!(
        "--rsync-path={}",
        String::from_utf8_lossy(&found.stdout).trim()
    );
    let shell = bed.root.join("lsh");
    let src = format!("{}/", bed.src().display());
    let [r, p] = bed.sides();
    // Each leg run by rsync (plain) and prsync (with `--rsync-path`), then compared.
    let leg = |from: &str, to: &str, what: &str| {
        let run = |side: &std::path::Path, tool: &OsStr, extra: Option<&str>| {
            let mut a: Vec<OsString> = vec!["-e".into(), shell.clone().into()];
            a.extend(extra.map(OsString::from));
            a.extend(["-ai".into(), from.into(), to.into()]);
            common::run_in(
                tool,
                &a.iter().map(|a| a.as_os_str()).collect::<Vec<_>>(),
                side,
            )
        };
        let ro = run(&r, OsStr::new("rsync"), None);
        let po = run(&p, common::prsync_bin(), Some(&path));
        assert_eq!(ro.status.code(), Some(0), "{what}");
        assert_eq!(po.status.code(), Some(0), "{what}");
        assert!(
            po.stderr.is_empty(),
            "{what}: {}",
            String::from_utf8_lossy(&po.stderr)
        );
        common::assert_same_lines(&ro.stdout, &po.stdout, what);
    };
    leg(&src, "lh:dst/", "push");
    common::assert_same_trees(&r.join("dst"), &p.join("dst"), "push", true);
    leg("lh:dst/", "back/", "pull");
    common::assert_same_trees(&r.join("back"), &p.join("back"), "pull", true);
}
