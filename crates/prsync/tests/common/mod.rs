//! The harness of prsync's tests: a fresh folder per test, random trees from a seed, rsync and
//! prsync run side by side on the same input, and comparisons of their trees and `-i` lines.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty folder for one test, under Cargo's scratch space.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("prsync-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `program args` in `cwd` with a fixed UTF-8 locale (rsync's escaping depends on it).
pub fn run_in(program: &OsStr, args: &[&OsStr], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("LC_ALL", "C.UTF-8")
        .env_remove("RSYNC_RSH")
        .output()
        .expect("the program starts")
}

/// prsync's binary.
pub fn prsync_bin() -> &'static OsStr {
    OsStr::new(env!("CARGO_BIN_EXE_prsync"))
}

/// The outcome of one side.
#[derive(Debug)]
pub struct Side {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A test bed: `src/` with the input, `r/` where rsync writes, `p/` where prsync writes. Both
/// run with their own side folder as the working directory and the same relative operands,
/// so that their outputs can be compared byte for byte.
pub struct Bed {
    pub root: PathBuf,
    /// A remote shell that runs the far side here (`lh:PATH` operands reach it): rsync gets
    /// `-e SHELL`, prsync `--wire=rsync -e SHELL`, so that both talk to the stock
    /// `rsync --server` over rsync's protocol.
    shell: Option<PathBuf>,
}

impl Bed {
    pub fn new(name: &str) -> Bed {
        let root = scratch(name);
        fs::create_dir_all(root.join("src")).unwrap();
        fs::create_dir_all(root.join("r")).unwrap();
        fs::create_dir_all(root.join("p")).unwrap();
        Bed { root, shell: None }
    }

    /// A bed whose `lh:` operands reach the stock rsync through a remote shell that runs it
    /// on this machine, in the side's folder (see [`Bed::shell`]).
    pub fn over_rsync_wire(name: &str) -> Bed {
        let mut bed = Bed::new(name);
        let shell = bed.root.join("lsh");
        // Written by a child process: a test thread's open write handle, inherited by
        // another test's fork, would make the exec fail with ETXTBSY.
        let status = Command::new("sh")
            .args([
                "-c",
                r#"printf '#!/bin/sh\nshift\nexec sh -c "$*"\n' > "$1" && chmod 755 "$1""#,
                "sh",
            ])
            .arg(&shell)
            .status()
            .unwrap();
        assert!(status.success());
        bed.shell = Some(shell);
        bed
    }

    pub fn src(&self) -> PathBuf {
        self.root.join("src")
    }

    /// The two destination sides.
    pub fn sides(&self) -> [PathBuf; 2] {
        [self.root.join("r"), self.root.join("p")]
    }

    /// Runs rsync and prsync with `args`; `{src}` in an argument is replaced by the source
    /// folder's absolute path.
    pub fn both(&self, args: &[&[u8]]) -> (Side, Side) {
        let src = self.src();
        let args: Vec<Vec<u8>> = args
            .iter()
            .map(|a| replace(a, b"{src}", src.as_os_str().as_bytes()))
            .collect();
        let args: Vec<&OsStr> = args.iter().map(|a| OsStr::from_bytes(a)).collect();
        let [r, p] = self.sides();
        let (ro, po) = match &self.shell {
            None => (
                run_in(OsStr::new("rsync"), &args, &r),
                run_in(prsync_bin(), &args, &p),
            ),
            Some(shell) => {
                let mut rsync_args = vec![OsStr::new("-e"), shell.as_os_str()];
                rsync_args.extend(&args);
                let mut prsync_args = vec![OsStr::new("--wire=rsync")];
                prsync_args.extend(&rsync_args);
                (
                    run_in(OsStr::new("rsync"), &rsync_args, &r),
                    run_in(prsync_bin(), &prsync_args, &p),
                )
            }
        };
        let side = |o: Output| Side {
            code: o.status.code().unwrap_or(-1),
            stdout: o.stdout,
            stderr: o.stderr,
        };
        (side(ro), side(po))
    }

    /// Runs both and asserts the same exit status, the same `-i` lines and the same trees
    /// below `dest` (relative to each side).
    pub fn same(&self, args: &[&[u8]], dest: &str) -> Vec<Vec<u8>> {
        self.same_with(args, dest, true)
    }

    /// [`Bed::same`], comparing mtimes only if `times` (without `-t` both tools leave the time
    /// of writing).
    pub fn same_with(&self, args: &[&[u8]], dest: &str, times: bool) -> Vec<Vec<u8>> {
        let (r, p) = self.both(args);
        let shown = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            r.code,
            p.code,
            "exit status of `{shown}`: rsync stderr: {}\nprsync stderr: {}",
            String::from_utf8_lossy(&r.stderr),
            String::from_utf8_lossy(&p.stderr)
        );
        assert_same_lines(&r.stdout, &p.stdout, &shown);
        let [rd, pd] = self.sides();
        assert_same_trees(&rd.join(dest), &pd.join(dest), &shown, times);
        lines(&r.stdout)
    }

    /// Applies `f` to both destination trees (so that both start from the same state).
    pub fn on_dests(&self, dest: &str, f: impl Fn(&Path)) {
        for side in self.sides() {
            f(&side.join(dest));
        }
    }
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

pub fn lines(out: &[u8]) -> Vec<Vec<u8>> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Compares outputs line for line, in order. rsync's generator, receiver and sender are
/// separate processes, so three kinds of lines race in its output from run to run:
/// `*deleting` lines, hard links made once their leader arrives (`h... => ...`), the
/// sender's `skipping non-regular file` notices, and the rest.
/// Each kind is compared on its own, exactly and in order; with no deletions and no hard
/// links that is the whole output, exactly.
pub fn assert_same_lines(rsync: &[u8], prsync: &[u8], what: &str) {
    let class = |l: &Vec<u8>| {
        if l.starts_with(b"*deleting") || l.starts_with(b"deleting ") {
            0
        } else if l.first() == Some(&b'h') && contains(l, b" => ") {
            1
        } else if l.starts_with(b"skipping ") {
            3
        } else {
            2
        }
    };
    let (r, p) = (lines(rsync), lines(prsync));
    for c in 0..4 {
        let rc: Vec<String> = r
            .iter()
            .filter(|l| class(l) == c)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let pc: Vec<String> = p
            .iter()
            .filter(|l| class(l) == c)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        assert!(
            rc == pc,
            "output of `{what}` differs\n--- rsync\n{}\n--- prsync\n{}",
            String::from_utf8_lossy(rsync),
            String::from_utf8_lossy(prsync)
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What a tree holds, per path: kind, permission bits, owner, mtime (ns), size, contents
/// hash, link target, and which earlier path shares its inode.
pub fn describe(root: &Path) -> BTreeMap<Vec<u8>, String> {
    describe_with(root, true)
}

fn describe_with(root: &Path, times: bool) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), Vec<Vec<u8>>> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let ft = meta.file_type();
        let key = rel.as_os_str().as_bytes().to_vec();
        let mut d = format!(
            "mode={:o} uid={} gid={}",
            meta.permissions().mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        if !key.is_empty() && times {
            d += &format!(" mtime={}.{:09}", meta.mtime(), meta.mtime_nsec());
        }
        if ft.is_dir() {
            d += " dir";
            for item in fs::read_dir(&path).unwrap() {
                stack.push(rel.join(item.unwrap().file_name()));
            }
        } else if ft.is_symlink() {
            let t = fs::read_link(&path).unwrap();
            d = format!("link -> {:?} uid={} gid={}", t, meta.uid(), meta.gid());
            if times {
                d += &format!(" mtime={}.{:09}", meta.mtime(), meta.mtime_nsec());
            }
        } else if ft.is_file() {
            let data = fs::read(&path).unwrap();
            d += &format!(" file size={} hash={:x}", data.len(), fxhash(&data));
            d += &format!(" nlink={}", meta.nlink());
        } else {
            d += &format!(" special rdev={}", meta.rdev());
        }
        if ft.is_file() && meta.nlink() > 1 {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(key.clone());
        }
        out.insert(key, d);
    }
    // Link structure: each member names the smallest path of its inode.
    for members in inodes.values() {
        let first = members.iter().min().unwrap().clone();
        for m in members {
            let d = out.get_mut(m).unwrap();
            *d += &format!(" linked-with={}", String::from_utf8_lossy(&first));
        }
    }
    out
}

fn fxhash(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn assert_same_trees(rsync: &Path, prsync: &Path, what: &str, times: bool) {
    let (r, p) = (describe_with(rsync, times), describe_with(prsync, times));
    if r != p {
        let mut diff = String::new();
        let keys: std::collections::BTreeSet<&Vec<u8>> = r.keys().chain(p.keys()).collect();
        for k in keys {
            let (a, b) = (r.get(k), p.get(k));
            if a != b {
                diff += &format!(
                    "{}:\n  rsync:  {a:?}\n  prsync: {b:?}\n",
                    String::from_utf8_lossy(k)
                );
            }
        }
        panic!("trees differ after `{what}`:\n{diff}");
    }
}

/// A small deterministic generator (xorshift64*), so that a failing seed can be rerun.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        // Compressible but not periodic: words from a small alphabet, like text and logs.
        (0..n)
            .map(|_| *self.pick(b"abcdefgh \n0123456789xyz"))
            .collect()
    }
}

/// Names that trip up printing and quoting: a space, a newline, bytes that are not UTF-8, a
/// tab, UTF-8, a backslash escape lookalike, a leading dash.
pub const ODD_NAMES: &[&[u8]] = &[
    b"with space",
    b"new\nline",
    b"bad\xff\xfe",
    b"tab\tname",
    "caf\u{e9}".as_bytes(),
    b"x\\#123y",
    b"-dash",
    b"a.b",
    b"a-b",
];

/// Sets a path's mtime, to the nanosecond.
pub fn set_mtime(path: &Path, secs: i64, nanos: u32) {
    filetime::set_symlink_file_times(
        path,
        filetime::FileTime::from_unix_time(secs, nanos),
        filetime::FileTime::from_unix_time(secs, nanos),
    )
    .unwrap();
}

/// Fills `dir` with a random tree: nested folders (some empty), files from empty to a few
/// hundred KiB, symlinks (some dangling), hard links, fifos, odd names, modes and mtimes.
pub fn random_tree(dir: &Path, rng: &mut Rng) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut files: Vec<PathBuf> = Vec::new();
    let count = 25 + rng.below(20);
    for n in 0..count {
        let parent = rng.pick(&dirs).clone();
        let name: Vec<u8> = if rng.below(4) == 0 {
            let mut v = rng.pick(ODD_NAMES).to_vec();
            v.extend_from_slice(format!("{n}").as_bytes());
            v
        } else {
            let stem = rng.pick(&["f", "data", "A", "z", "sub", "log", "a"]);
            format!("{stem}{}", rng.below(100)).into_bytes()
        };
        let path = parent.join(OsStr::from_bytes(&name));
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        match rng.below(12) {
            0..=2 if dirs.len() < 12 => {
                fs::create_dir(&path).unwrap();
                let mode = *rng.pick(&[0o755, 0o750, 0o700, 0o775]);
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
                dirs.push(path);
            }
            3 => {
                let target = if files.is_empty() || rng.below(3) == 0 {
                    b"../dangling/target".to_vec()
                } else {
                    rng.pick(&files).file_name().unwrap().as_bytes().to_vec()
                };
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).unwrap();
                set_mtime(&path, 1_500_000_000 + rng.below(1 << 20) as i64, 0);
            }
            4 if !files.is_empty() => {
                let other = rng.pick(&files).clone();
                fs::hard_link(&other, &path).unwrap();
            }
            5 if rng.below(3) == 0 => {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o644),
                    0,
                )
                .unwrap();
                set_mtime(&path, 1_600_000_000, 0);
            }
            _ => {
                let size = *rng.pick(&[0usize, 1, 13, 700, 4096, 5000, 70_000, 300_000]);
                fs::write(&path, rng.bytes(size)).unwrap();
                let mode = *rng.pick(&[0o644, 0o600, 0o755, 0o640, 0o444, 0o4755]);
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
                set_mtime(
                    &path,
                    1_400_000_000 + rng.below(1 << 28) as i64,
                    rng.below(1_000_000_000) as u32,
                );
                files.push(path);
            }
        }
    }
    // Folder times last: filling a folder changes its mtime.
    for d in dirs.iter().rev() {
        set_mtime(
            d,
            1_300_000_000 + rng.below(1 << 20) as i64,
            rng.below(1000) as u32,
        );
    }
    files
}

/// Every regular file below `dir`, sorted (a stable order for seeded edits).
pub fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in fs::read_dir(&d).unwrap() {
            let item = item.unwrap();
            let ft = item.file_type().unwrap();
            if ft.is_dir() {
                stack.push(item.path());
            } else if ft.is_file() {
                out.push(item.path());
            }
        }
    }
    out.sort();
    out
}

/// Seeded edits of a source tree: same-size rewrites that keep the mtime (only `-c` sees
/// them), size changes, touched mtimes, chmods, removals, new files.
pub fn edit_source(src: &Path, rng: &mut Rng) {
    let files = regular_files(src);
    for (n, f) in files.iter().enumerate() {
        let meta = fs::metadata(f).unwrap();
        match rng.below(8) {
            0 if meta.len() > 0 => {
                let mtime = filetime::FileTime::from_last_modification_time(&meta);
                let mut data = fs::read(f).unwrap();
                let at = rng.below(data.len() as u64) as usize;
                data[at] = data[at].wrapping_add(1);
                fs::write(f, data).unwrap();
                filetime::set_file_mtime(f, mtime).unwrap();
            }
            1 => {
                let mut data = fs::read(f).unwrap();
                let extra = 1 + rng.below(3000) as usize;
                data.extend_from_slice(&rng.bytes(extra));
                fs::write(f, data).unwrap();
                set_mtime(f, 1_700_000_000 + n as i64, 5);
            }
            2 => set_mtime(f, 1_650_000_000 + n as i64, 123),
            3 => fs::set_permissions(f, fs::Permissions::from_mode(0o600)).unwrap(),
            4 if rng.below(2) == 0 => fs::remove_file(f).unwrap(),
            _ => {}
        }
    }
    let new = src.join(format!("new{}", rng.below(1000)));
    fs::write(&new, rng.bytes(2000)).unwrap();
    set_mtime(&new, 1_690_000_000, 0);
    // Edits made the folders' mtimes "now". rsync compares times in whole seconds and leaves
    // a time that is off by less than one alone, so a source time within the second of the
    // run would make each tool's result depend on when it ran: give folders fixed times.
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for item in fs::read_dir(&d).unwrap() {
            let item = item.unwrap();
            if item.file_type().unwrap().is_dir() {
                dirs.push(item.path());
            }
        }
        set_mtime(&d, 1_310_000_000 + rng.below(1000) as i64, 7);
    }
}

/// Extra entries in a destination, which only `--delete` removes.
pub fn litter(dest: &Path) {
    fs::create_dir_all(dest.join("extra-dir/deeper")).unwrap();
    fs::write(dest.join("extra-dir/deeper/f"), b"x").unwrap();
    fs::write(dest.join("extra-dir/g"), b"y").unwrap();
    fs::write(dest.join("extra.o"), b"z").unwrap();
    fs::write(dest.join("zz-extra"), b"w").unwrap();
    for p in [
        "extra-dir/deeper/f",
        "extra-dir/g",
        "extra.o",
        "zz-extra",
        "extra-dir/deeper",
    ] {
        set_mtime(&dest.join(p), 1_200_000_000, 0);
    }
    set_mtime(&dest.join("extra-dir"), 1_200_000_000, 0);
}

pub fn tree(name: &str, seed: u64) -> (Bed, Rng) {
    let bed = Bed::new(name);
    let mut rng = Rng::new(seed);
    random_tree(&bed.src(), &mut rng);
    (bed, rng)
}
