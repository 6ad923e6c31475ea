//! A source file that changes while it is sent, staged by a preloaded library that cuts
//! it to nothing as it is first read or mapped (`prtools_tests::shrink`). The file fails
//! with exit 23 and the rest of the list is still sent.

mod common;

use common::{prsync_bin, scratch};
use prtools_tests::shrink::{self, Shrink};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `program -a --no-whole-file SRC/ DEST/` on a fresh source whose first file shrinks
/// as it is read or mapped (`when`).
fn run_shrinking(program: &OsStr, dir: &Path, so: &Path, when: Shrink) -> (Output, PathBuf) {
    let src = dir.join("src");
    let dest = dir.join("dest");
    fs::create_dir_all(&src).unwrap();
    let changing = src.join("01-changing.bin");
    fs::write(&changing, changing_bytes()).unwrap();
    fs::write(src.join("02-later.txt"), "later file must still transfer\n").unwrap();
    let mut cmd = Command::new(program);
    cmd.arg("-a")
        .arg("--no-whole-file")
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dest.display()))
        .env("LC_ALL", "C.UTF-8");
    shrink::preload(&mut cmd, so, &changing, when);
    let out = cmd.output().expect("the program starts");
    assert_eq!(
        fs::metadata(&changing).unwrap().len(),
        0,
        "the shim cut the file short"
    );
    (out, dest)
}

#[test]
fn a_source_that_shrinks_while_read_fails_with_23_and_the_rest_is_sent() {
    let dir = scratch("source-shrinks");
    let so = shrink::build(&dir);
    for (program, side) in [(OsStr::new("rsync"), "r"), (prsync_bin(), "p")] {
        let (out, dest) = run_shrinking(program, &dir.join(side), &so, Shrink::OnRead);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(23), "{side}: {stderr}");
        assert!(stderr.contains("read errors mapping"), "{side}: {stderr}");
        assert_eq!(
            fs::read_to_string(dest.join("02-later.txt")).unwrap(),
            "later file must still transfer\n",
            "{side}"
        );
        // rsync sends the file again, empty now; prsync leaves it out. Neither keeps a
        // megabyte that the source no longer has.
        let kept = fs::metadata(dest.join("01-changing.bin")).map_or(0, |m| m.len());
        assert_eq!(kept, 0, "{side}");
    }
}

/// A megabyte that is not all one byte, so that a delta has blocks to find.
fn changing_bytes() -> Vec<u8> {
    (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A source mapped for the delta search and then cut short (logrotate's `copytruncate`)
/// made prsync die of SIGBUS, leaving its temp file. Now that file fails with exit 23, the
/// old copy stays whole, and nothing is left behind. rsync reads instead of mapping, so
/// this case is prsync's alone.
#[test]
fn a_mapped_source_cut_short_fails_the_file_and_keeps_the_old_copy() {
    let dir = scratch("source-shrinks-mapped");
    let so = shrink::build(&dir);
    let side = dir.join("p");
    let dest = side.join("dest");
    fs::create_dir_all(&dest).unwrap();
    let old = changing_bytes()[..3 << 18].to_vec();
    fs::write(dest.join("01-changing.bin"), &old).unwrap();
    let (out, dest) = run_shrinking(prsync_bin(), &side, &so, Shrink::OnMap);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(23), "{stderr}");
    assert!(
        stderr.contains("the file shrank while it was read"),
        "{stderr}"
    );
    assert_eq!(fs::read(dest.join("01-changing.bin")).unwrap(), old);
    let mut names: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["01-changing.bin", "02-later.txt"]);
}
