//! A preloaded library that cuts a file short at the moment a tool first reads or maps it,
//! so that "the file changed while it was read" is staged the same way every run, for the
//! tool under test and its peer alike (rsync's own source-change-size-continues test stages
//! it so too). Rust's `File::read` and memmap2 go through the C library's `read` and `mmap`,
//! so the library sees the tools as it sees rsync and grep.

use std::path::{Path, PathBuf};
use std::process::Command;

/// When the file is cut short.
#[derive(Clone, Copy, Debug)]
pub enum Shrink {
    /// Just before the first `read` of it.
    OnRead,
    /// Just after it is first mapped.
    OnMap,
}

/// A `read` and an `mmap` that, the first time they are given the file named by
/// `SHRINK_PATH` (`mmap` only when `SHRINK_ON=mmap`), truncate that file: a read then finds
/// it empty, and a mapping finds its pages gone.
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

/// Builds the library in `dir`, with the C compiler Rust links with.
pub fn build(dir: &Path) -> PathBuf {
    let c = dir.join("shrink.c");
    let so = dir.join("shrink.so");
    std::fs::write(&c, SHRINK_SHIM).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
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

/// Makes `cmd` run with the library `so` cutting `file` short `when`.
pub fn preload(cmd: &mut Command, so: &Path, file: &Path, when: Shrink) {
    let on = match when {
        Shrink::OnRead => "read",
        Shrink::OnMap => "mmap",
    };
    cmd.env("LD_PRELOAD", so)
        .env(
            "SHRINK_PATH",
            std::fs::canonicalize(file).expect("the file exists"),
        )
        .env("SHRINK_ON", on);
}
