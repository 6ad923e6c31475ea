//! A source file that changes while it is sent: both tools run with a small preloaded
//! library that cuts the file to nothing just before the first read of it, so the race is
//! staged the same way every time (rsync's own source-change-size-continues test does so
//! too). The file fails with exit 23 and the rest of the list is still sent.

mod common;

use common::{prsync_bin, scratch};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A `read` that, the first time it is given the file named by `SHRINK_PATH`, truncates
/// that file first. Rust's `File::read` goes through the C library's `read`, so this sees
/// prsync's reads as it sees rsync's.
const SHRINK_SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int done;

ssize_t read(int fd, void *buf, size_t len)
{
    static ssize_t (*next)(int, void *, size_t);
    const char *want = getenv("SHRINK_PATH");
    if (!next)
        next = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    if (!done && want) {
        char link[64], at[PATH_MAX];
        ssize_t n;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, at, sizeof at - 1);
        if (n > 0) {
            at[n] = 0;
            if (strcmp(at, want) == 0) {
                done = 1;
                truncate(want, 0);
            }
        }
    }
    return next(fd, buf, len);
}
"#;

/// Builds the shim with the C compiler Rust links with.
fn shim(dir: &Path) -> PathBuf {
    let c = dir.join("shrink.c");
    let so = dir.join("shrink.so");
    fs::write(&c, SHRINK_SHIM).unwrap();
    let built = Command::new("cc")
        .args([OsStr::new("-shared"), OsStr::new("-fPIC"), OsStr::new("-o")])
        .arg(&so)
        .arg(&c)
        .arg("-ldl")
        .output()
        .expect("cc runs");
    assert!(
        built.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    so
}

/// Runs `program -a --no-whole-file SRC/ DEST/` on a fresh source whose first file shrinks
/// as it is read.
fn run_shrinking(program: &OsStr, dir: &Path, so: &Path) -> (Output, PathBuf) {
    let src = dir.join("src");
    let dest = dir.join("dest");
    fs::create_dir_all(&src).unwrap();
    let changing = src.join("01-changing.bin");
    fs::write(&changing, vec![7u8; 1 << 20]).unwrap();
    fs::write(src.join("02-later.txt"), "later file must still transfer\n").unwrap();
    let out = Command::new(program)
        .arg("-a")
        .arg("--no-whole-file")
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dest.display()))
        .env("LD_PRELOAD", so)
        .env("SHRINK_PATH", fs::canonicalize(&changing).unwrap())
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("the program starts");
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
    let so = shim(&dir);
    for (program, side) in [(OsStr::new("rsync"), "r"), (prsync_bin(), "p")] {
        let (out, dest) = run_shrinking(program, &dir.join(side), &so);
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
