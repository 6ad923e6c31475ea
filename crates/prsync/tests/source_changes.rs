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

/// A `read` and an `mmap` that, the first time they are given the file named by
/// `SHRINK_PATH` (`mmap` only when `SHRINK_ON=mmap`), truncate that file: a read then finds
/// it empty, and a mapping finds its pages gone. Rust's `File::read` and memmap2 go through
/// the C library's functions, so this sees prsync as it sees rsync.
const SHRINK_SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int done;

static void shrink_if_wanted(int fd, const char *on)
{
    const char *want = getenv("SHRINK_PATH");
    const char *when = getenv("SHRINK_ON");
    char link[64], at[PATH_MAX];
    ssize_t n;
    if (done || !want || strcmp(when ? when : "read", on) != 0)
        return;
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

ssize_t read(int fd, void *buf, size_t len)
{
    static ssize_t (*next)(int, void *, size_t);
    if (!next)
        next = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    shrink_if_wanted(fd, "read");
    return next(fd, buf, len);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    static void *(*next)(void *, size_t, int, int, int, off_t);
    void *got;
    if (!next)
        next = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    got = next(addr, len, prot, flags, fd, off);
    if (fd >= 0 && got != MAP_FAILED)
        shrink_if_wanted(fd, "mmap");
    return got;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(addr, len, prot, flags, fd, off);
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
/// as it is read (`on` `read` or `mmap`).
fn run_shrinking(program: &OsStr, dir: &Path, so: &Path, on: &str) -> (Output, PathBuf) {
    let src = dir.join("src");
    let dest = dir.join("dest");
    fs::create_dir_all(&src).unwrap();
    let changing = src.join("01-changing.bin");
    fs::write(&changing, changing_bytes()).unwrap();
    fs::write(src.join("02-later.txt"), "later file must still transfer\n").unwrap();
    let out = Command::new(program)
        .arg("-a")
        .arg("--no-whole-file")
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dest.display()))
        .env("LD_PRELOAD", so)
        .env("SHRINK_PATH", fs::canonicalize(&changing).unwrap())
        .env("SHRINK_ON", on)
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
        let (out, dest) = run_shrinking(program, &dir.join(side), &so, "read");
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
    let so = shim(&dir);
    let side = dir.join("p");
    let dest = side.join("dest");
    fs::create_dir_all(&dest).unwrap();
    let old = changing_bytes()[..3 << 18].to_vec();
    fs::write(dest.join("01-changing.bin"), &old).unwrap();
    let (out, dest) = run_shrinking(prsync_bin(), &side, &so, "mmap");
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
