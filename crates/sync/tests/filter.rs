//! Filter rules against the real rsync: the same tree, the same options, the same answer.
//!
//! Each case builds a tree of awkward names (spaces, dots, brackets, wildcard characters,
//! bytes that are not UTF-8) in a scratch folder, runs `rsync -r` with a set of filter
//! options over it, and compares what rsync sent (or deleted) with what a
//! [`FilterList`] built from the same options lets through, walking parents first and not
//! descending into excluded directories, as rsync's sender does.
//!
//! rsync must be installed; the test fails (it does not skip) when it is not.

mod common;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Command;

use common::Scratch;
use proptest::prelude::*;
use prtools_sync::filter::{Action, Delimiter, FilterList};

/// One command-line option, given to rsync and to a [`FilterList`] alike.
#[derive(Clone, Debug)]
enum Opt {
    Exclude(&'static [u8]),
    Include(&'static [u8]),
    Filter(&'static [u8]),
    /// `--exclude-from` a file with this content.
    ExcludeFrom(&'static [u8]),
    /// `--include-from` a file with this content.
    IncludeFrom(&'static [u8]),
    DeleteExcluded,
}

use Opt::{DeleteExcluded, Exclude as Ex, ExcludeFrom, Filter as F, Include as In, IncludeFrom};

/// Directories of the base tree, parents first.
const DIRS: &[&[u8]] = &[
    b"src",
    b"src/lib",
    b"src/lib/deep",
    b"src/foo",
    b"build",
    b"build/obj",
    b"docs",
    b"a b",
    b"a b/c d",
    b"[x]",
    b"[x]/y",
    b"x",
    b".hidden",
    b"foo",
    b"dir.d",
    b"dir.d/sub",
    b"x/build",
    b"Upper",
    b"caf\xe9",
];

/// Files of the base tree.
const FILES: &[&[u8]] = &[
    b"main.c",
    b"util.c",
    b"util.o",
    b"README",
    b"a.txt",
    b"b.TXT",
    b"ab.txt",
    b"notes 1.md",
    b"weird*name",
    b"q?",
    b"back\\slash",
    b"-dash",
    b"!bang",
    b"#hash",
    b"caf\xe9.c",
    b"src/main.c",
    b"src/main.o",
    b"src/lib/x.c",
    b"src/lib/x.h",
    b"src/lib/deep/bar.c",
    b"src/lib/deep/deeper.o",
    b"src/foo/bar.c",
    b"src/foo/bar",
    b"build/out",
    b"build/obj/a.o",
    b"docs/a.txt",
    b"docs/index.html",
    b"a b/c d/e f.txt",
    b"a b/g",
    b"[x]/y/z.c",
    b"[x]/x",
    b"x/build/junk.o",
    b"x/y.c",
    b".hidden/secret",
    b".dotfile",
    b"foo/bar",
    b"foo/foo",
    b"dir.d/conf",
    b"dir.d/sub/more.conf",
    b"Upper/Mixed.C",
    b"caf\xe9/men\xfc.txt",
];

/// Makes the base tree under `root`, plus extra entries from a fixed pseudo-random sequence,
/// so that names recur at several depths.
fn make_tree(root: &Path) {
    fs::create_dir_all(root).unwrap();
    for dir in DIRS {
        fs::create_dir_all(root.join(OsStr::from_bytes(dir))).unwrap();
    }
    for file in FILES {
        fs::write(root.join(OsStr::from_bytes(file)), b"x").unwrap();
    }
    let names: &[&[u8]] = &[
        b"foo", b"bar.c", b"x.o", b"lib", b"build", b"a b", b"[x]", b".h", b"q", b"deep",
    ];
    let mut dirs: Vec<Vec<u8>> = DIRS.iter().map(|d| d.to_vec()).collect();
    let mut seed: u64 = 0x5eed_f117e4;
    for _ in 0..40 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let parent = &dirs[(seed >> 33) as usize % dirs.len()];
        let name = names[(seed >> 17) as usize % names.len()];
        let path = [parent.as_slice(), b"/", name].concat();
        let full = root.join(OsStr::from_bytes(&path));
        if full.symlink_metadata().is_ok() {
            continue;
        }
        if seed & 1 == 0 {
            fs::create_dir(&full).unwrap();
            dirs.push(path);
        } else {
            fs::write(&full, b"y").unwrap();
        }
    }
}

/// Checks that rsync runs, with a message that says what to do if it does not.
fn rsync() -> Command {
    let mut cmd = Command::new("rsync");
    // No popt aliases from the user's ~/.popt, and none of rsync's environment switches.
    cmd.env("HOME", env!("CARGO_TARGET_TMPDIR"));
    for (key, _) in std::env::vars_os() {
        if key.as_bytes().starts_with(b"RSYNC_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn require_rsync() {
    let ok = rsync()
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        ok,
        "these tests compare with the real rsync, which did not run; \
         install it (apt-get install rsync)"
    );
}

/// rsync's options for `opts`, writing the `-from` files into `dir`.
fn rsync_args(opts: &[Opt], dir: &Path) -> Vec<OsString> {
    let mut args = Vec::new();
    for (i, opt) in opts.iter().enumerate() {
        let arg = |flag: &str, value: &[u8]| {
            let mut a = flag.as_bytes().to_vec();
            a.extend_from_slice(value);
            OsString::from_vec(a)
        };
        let file = |content: &[u8]| {
            let path = dir.join(format!("patterns-{i}"));
            fs::write(&path, content).unwrap();
            path.into_os_string().into_vec()
        };
        args.push(match opt {
            Opt::Exclude(p) => arg("--exclude=", p),
            Opt::Include(p) => arg("--include=", p),
            Opt::Filter(r) => arg("--filter=", r),
            Opt::ExcludeFrom(c) => arg("--exclude-from=", &file(c)),
            Opt::IncludeFrom(c) => arg("--include-from=", &file(c)),
            Opt::DeleteExcluded => "--delete-excluded".into(),
        });
    }
    args
}

/// Our list for `opts`.
fn our_list(opts: &[Opt]) -> FilterList {
    let mut list = FilterList::new();
    for opt in opts {
        match opt {
            Opt::Exclude(p) => list.push_exclude(p).unwrap(),
            Opt::Include(p) => list.push_include(p).unwrap(),
            Opt::Filter(r) => list.push_filter(r).unwrap(),
            Opt::ExcludeFrom(c) => list
                .read_from(*c, Action::Exclude, Delimiter::Lines)
                .unwrap(),
            Opt::IncludeFrom(c) => list
                .read_from(*c, Action::Include, Delimiter::Lines)
                .unwrap(),
            Opt::DeleteExcluded => list.set_delete_excluded(true),
        }
    }
    list
}

/// Undoes rsync's `\#ooo` escapes of bytes it will not print.
fn unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let octal = line
            .get(i + 2..i + 5)
            .filter(|d| d.iter().all(u8::is_ascii_digit));
        match octal {
            Some(d) if line[i] == b'\\' && line[i + 1] == b'#' => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 5;
            }
            _ => {
                out.push(line[i]);
                i += 1;
            }
        }
    }
    out
}

/// Runs rsync over `src` into `dst` and returns the names on lines whose `%i` starts with
/// `tag` (`>f`/`cd` for what was sent, `*deleting` for deletions), without trailing `/`.
fn run_rsync(extra: &[&str], opts: &[OsString], src: &Path, dst: &Path, tag: &[u8]) -> Names {
    let mut src_arg = src.as_os_str().to_owned();
    src_arg.push("/");
    let out = rsync()
        .args(["-r", "-8", "--out-format=%i|%n"])
        .args(extra)
        .args(opts)
        .arg(src_arg)
        .arg(dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rsync {opts:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = Names::new();
    for line in out.stdout.split(|&b| b == b'\n') {
        let Some(bar) = line.iter().position(|&b| b == b'|') else {
            continue;
        };
        let (item, name) = (&line[..bar], &line[bar + 1..]);
        let wanted = if tag == b"sent" {
            item.starts_with(b">f") || item.starts_with(b"cd")
        } else {
            item.starts_with(tag)
        };
        if !wanted {
            continue;
        }
        let name = name.strip_suffix(b"/").unwrap_or(name);
        if name != b"." && !name.is_empty() {
            names.insert(unescape(name));
        }
    }
    names
}

type Names = BTreeSet<Vec<u8>>;

/// The children of `dir` (a path relative to `root`), sorted, with whether each is a dir.
fn children(root: &Path, dir: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let full = if dir.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(dir))
    };
    let mut out: Vec<(Vec<u8>, bool)> = fs::read_dir(full)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_vec();
            let rel = if dir.is_empty() {
                name
            } else {
                [dir, b"/", &name].concat()
            };
            (rel, e.file_type().unwrap().is_dir())
        })
        .collect();
    out.sort();
    out
}

/// What our list sends from `root`: rsync's sender walk.
fn our_sent(list: &FilterList, root: &Path) -> Names {
    let mut sent = Names::new();
    let mut todo = vec![Vec::new()];
    while let Some(dir) = todo.pop() {
        for (path, is_dir) in children(root, &dir) {
            if list.is_excluded(&path, is_dir) {
                continue;
            }
            if is_dir {
                todo.push(path.clone());
            }
            sent.insert(path);
        }
    }
    sent
}

/// What our list deletes from `dst` after sending `sent`: rsync's receiver with `--delete`.
///
/// For every directory in the transfer that the receiver has, each entry the sender did not
/// send is deleted unless protected; a deleted directory loses every entry not protected
/// (perishable rules ignored), and is itself removed only if nothing in it was kept.
fn our_deleted(list: &FilterList, sent: &Names, dst: &Path) -> Names {
    fn delete_contents(list: &FilterList, dst: &Path, dir: &[u8], deleted: &mut Names) -> bool {
        let mut emptied = true;
        for (path, is_dir) in children(dst, dir) {
            if list.is_protected_in_deleted_dir(&path, is_dir) {
                emptied = false;
                continue;
            }
            if is_dir && !delete_contents(list, dst, &path, deleted) {
                emptied = false;
                continue;
            }
            deleted.insert(path);
        }
        emptied
    }
    let mut deleted = Names::new();
    let scanned = std::iter::once(Vec::new()).chain(sent.iter().cloned());
    for dir in scanned {
        if !dst.join(OsStr::from_bytes(&dir)).is_dir() {
            continue;
        }
        for (path, is_dir) in children(dst, &dir) {
            if sent.contains(&path) || list.is_protected(&path, is_dir) {
                continue;
            }
            if !is_dir || delete_contents(list, dst, &path, &mut deleted) {
                deleted.insert(path);
            }
        }
    }
    deleted
}

fn show(names: &Names) -> Vec<String> {
    names
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

/// Compares the sender's choice for one option set; returns a message on a difference.
fn compare_sent(scratch: &Scratch, case: usize, opts: &[Opt]) -> Result<(), String> {
    let dir = scratch.join(format!("case-{case}"));
    fs::create_dir_all(&dir).unwrap();
    let args = rsync_args(opts, &dir);
    let theirs = run_rsync(
        &["--dry-run"],
        &args,
        &scratch.join("src"),
        &dir.join("dst"),
        b"sent",
    );
    let ours = our_sent(&our_list(opts), &scratch.join("src"));
    fs::remove_dir_all(&dir).unwrap();
    if ours == theirs {
        return Ok(());
    }
    Err(format!(
        "options {args:?}\n  only rsync sent: {:?}\n  only we sent: {:?}",
        show(&theirs.difference(&ours).cloned().collect()),
        show(&ours.difference(&theirs).cloned().collect()),
    ))
}

/// The option sets the sender comparison runs, one feature or classic recipe each.
fn sender_cases() -> Vec<Vec<Opt>> {
    vec![
        // Plain names and suffixes.
        vec![Ex(b"*.o")],
        vec![Ex(b"foo")],
        vec![Ex(b"bar")],
        vec![Ex(b"README ")],
        vec![Ex(b"a b")],
        vec![Ex(b"notes 1.md")],
        // Anchoring and directory-only rules.
        vec![Ex(b"/build")],
        vec![Ex(b"build")],
        vec![Ex(b"build/")],
        vec![Ex(b"/x/build/")],
        vec![Ex(b"/foo/")],
        vec![Ex(b"/main.c")],
        vec![Ex(b"src/main.c")],
        vec![Ex(b"lib/x.c")],
        vec![Ex(b"foo/bar")],
        vec![Ex(b"/*/*/")],
        vec![Ex(b"*/")],
        // Wildcards.
        vec![Ex(b"src/*")],
        vec![Ex(b"*/foo/*")],
        vec![Ex(b"foo/*/bar.c")],
        vec![Ex(b"lib/**")],
        vec![Ex(b"/src/**/bar.c")],
        vec![Ex(b"/src/**")],
        vec![Ex(b"**/deep")],
        vec![Ex(b"**/foo")],
        vec![Ex(b"**.c")],
        vec![Ex(b"src**")],
        vec![Ex(b"s*/**/x*")],
        vec![Ex(b"dir.d/***")],
        vec![In(b"/src/***"), Ex(b"*")],
        vec![In(b"lib/***"), In(b"*/"), Ex(b"*")],
        vec![Ex(b"?.txt")],
        vec![Ex(b"??")],
        vec![Ex(b"[ab]*")],
        vec![Ex(b"[!a-m]*")],
        vec![Ex(b"[^.]*")],
        vec![Ex(b"[[:upper:]]*")],
        vec![Ex(b"*[[:digit:]]*")],
        vec![Ex(b"[]x[]*")],
        vec![Ex(b"[x]")],
        vec![Ex(b"\\[x\\]")],
        vec![Ex(b"\\[x]")],
        vec![Ex(b"weird\\*name")],
        vec![Ex(b"weird*")],
        vec![Ex(b"q\\?")],
        vec![Ex(b"back\\slash")],
        vec![Ex(b"back\\\\slash*")],
        vec![Ex(b"a[b")],
        vec![Ex(b"[[:nope:]]*")],
        vec![Ex(b".*")],
        vec![Ex(b"caf\xe9*")],
        vec![Ex(b"*\xfc*")],
        vec![Ex(b"[\xe0-\xef]*")],
        // Order, include-before-exclude and the classic recipes.
        vec![In(b"*/"), In(b"*.c"), Ex(b"*")],
        vec![In(b"src/"), In(b"src/main.c"), Ex(b"*")],
        vec![
            In(b"/src/"),
            In(b"/src/lib/"),
            In(b"/src/lib/x.h"),
            Ex(b"*"),
        ],
        vec![In(b"x.c"), Ex(b"*.c"), Ex(b"lib/")],
        vec![Ex(b"*.c"), In(b"x.c")],
        vec![In(b".hidden/"), Ex(b".*")],
        vec![Ex(b"build/"), In(b"build/out")],
        // `!`, `- ` and `+ ` inside --exclude/--include, and --filter syntax.
        vec![Ex(b"*.o"), Ex(b"!"), Ex(b"*.c")],
        vec![Ex(b"*.o"), In(b"!"), Ex(b"*.txt")],
        vec![Ex(b"!bang")],
        vec![Ex(b"+ foo"), Ex(b"*")],
        vec![In(b"- *.c")],
        vec![F(b"- *.c"), F(b"+ */"), F(b"- *")],
        vec![F(b"exclude *.o"), F(b"include_*.c"), F(b"-_*")],
        vec![F(b"-! */")],
        vec![F(b"-! *.c"), F(b"+ *")],
        vec![F(b"+! */"), F(b"- *")],
        vec![F(b"- *.o"), F(b"!"), F(b"- *.txt")],
        vec![F(b"- *.o"), F(b"clear"), F(b"- src/")],
        vec![F(b"H *.c"), F(b"P *.o")],
        vec![F(b"hide /docs"), F(b"S *.h"), F(b"- *.h")],
        vec![F(b"-s *.c"), F(b"-r *.o")],
        vec![F(b"exclude,s a b"), F(b"+,r *.o")],
        vec![F(b"R *"), F(b"- *.txt")],
        vec![F(b"-p *.o")],
        vec![F(b"-  a b")],
        vec![F(b"- -dash"), F(b"- #hash")],
        // Pattern files, with comments, blank lines, CRLF and prefixes.
        vec![ExcludeFrom(
            b"# objects\n*.o\n\n; docs too\n/docs/\r\n+ keep\n- *.txt\n",
        )],
        vec![IncludeFrom(b"*/\n*.c\n# the rest goes\n- *\n")],
        vec![ExcludeFrom(b"*.o\n!\n*.c\n"), Ex(b"README")],
        vec![In(b"*.h"), ExcludeFrom(b"lib/\n #notacomment\n#comment\n")],
    ]
}

#[test]
fn sender_matches_rsync() {
    require_rsync();
    let scratch = Scratch::new("filter-sender");
    make_tree(&scratch.join("src"));
    let failures: Vec<String> = sender_cases()
        .iter()
        .enumerate()
        .filter_map(|(i, opts)| compare_sent(&scratch, i, opts).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} option sets differ from rsync:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Extra entries on the receiver that the sender lacks, for the deletion comparison.
const DST_EXTRA_DIRS: &[&[u8]] = &[b"gone", b"gone/sub", b"gone/sub/deeper", b"old dir"];
const DST_EXTRA_FILES: &[&[u8]] = &[
    b"old.o",
    b"old.c",
    b"keep.log",
    b"notes.tmp",
    b"src/stale.o",
    b"src/stale.c",
    b"src/lib/deep/gone.log",
    b"build/obj/b.o",
    b"gone/x.o",
    b"gone/y.c",
    b"gone/sub/z.log",
    b"gone/sub/deeper/w.o",
    b"old dir/a.tmp",
    b"x/build/other.o",
];

fn compare_deleted(scratch: &Scratch, case: usize, opts: &[Opt]) -> Result<(), String> {
    let dir = scratch.join(format!("case-{case}"));
    let dst = dir.join("dst");
    make_tree(&dst);
    for d in DST_EXTRA_DIRS {
        fs::create_dir_all(dst.join(OsStr::from_bytes(d))).unwrap();
    }
    for f in DST_EXTRA_FILES {
        fs::write(dst.join(OsStr::from_bytes(f)), b"z").unwrap();
    }
    let list = our_list(opts);
    let src = scratch.join("src");
    let sent = our_sent(&list, &src);
    let ours = our_deleted(&list, &sent, &dst);
    let args = rsync_args(opts, &dir);
    // A real run, not --dry-run: a dry run reports a directory as deleted even when
    // protected files inside it keep the real rmdir from happening.
    let theirs = run_rsync(&["--delete"], &args, &src, &dst, b"*deleting");
    fs::remove_dir_all(&dir).unwrap();
    if ours == theirs {
        return Ok(());
    }
    Err(format!(
        "options {args:?}\n  only rsync deleted: {:?}\n  only we deleted: {:?}",
        show(&theirs.difference(&ours).cloned().collect()),
        show(&ours.difference(&theirs).cloned().collect()),
    ))
}

#[test]
fn deletions_match_rsync() {
    require_rsync();
    let scratch = Scratch::new("filter-delete");
    make_tree(&scratch.join("src"));
    // The receiver also lacks some of what the sender has.
    let cases: Vec<Vec<Opt>> = vec![
        vec![],
        vec![Ex(b"*.o")],
        vec![Ex(b"*.o"), DeleteExcluded],
        vec![F(b"-sr *.o"), DeleteExcluded],
        vec![F(b"P *.log")],
        vec![F(b"P *.log"), Ex(b"*.o"), DeleteExcluded],
        vec![F(b"H *.tmp")],
        vec![F(b"-p *.o")],
        vec![F(b"-p *.o"), F(b"- *.log")],
        vec![F(b"R gone/**"), Ex(b"*.o")],
        vec![F(b"P /gone/sub/")],
        vec![F(b"P /gone/sub/"), F(b"-p *.o")],
        vec![Ex(b"gone/")],
        vec![F(b"-! */")],
        vec![F(b"P *"), F(b"R *.c")],
        vec![F(b"R *.c"), F(b"P *")],
        vec![F(b"protect old dir"), F(b"risk *.o"), F(b"hide *.c")],
        vec![ExcludeFrom(b"*.tmp\n*.log\n"), DeleteExcluded],
        vec![In(b"*/"), In(b"*.c"), Ex(b"*")],
        vec![In(b"*/"), In(b"*.c"), Ex(b"*"), DeleteExcluded],
    ];
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, opts)| compare_deleted(&scratch, i, opts).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} option sets differ from rsync:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Patterns for random rule sets: each feature, in spellings that interact.
const POOL: &[&[u8]] = &[
    b"*.c",
    b"*.o",
    b"foo",
    b"foo/",
    b"/foo",
    b"src/",
    b"/src/",
    b"lib/**",
    b"**/x*",
    b"*/",
    b"dir.d/***",
    b"/src/***",
    b"?.txt",
    b"[ab]*",
    b"[!a-z]*",
    b"a b/",
    b"build",
    b"x/*",
    b"*/bar*",
    b"**",
    b"*",
    b".*",
    b"[x]",
    b"\\[x]/",
    b"deep/*.o",
    b"/*.txt",
    b"s*/**/x*",
    b"**.o",
    b"caf\xe9*",
];

fn random_opt() -> impl Strategy<Value = Opt> {
    let pattern = prop::sample::select(POOL.to_vec());
    (0..6u8, pattern).prop_map(|(kind, p)| {
        // Each rule's text has to outlive the test case; the pool is small and static,
        // so leaking the few combined strings is harmless.
        let rule = |prefix: &[u8]| -> &'static [u8] { [prefix, p].concat().leak() };
        match kind {
            0 | 1 => Opt::Exclude(p),
            2 | 3 => Opt::Include(p),
            4 => Opt::Filter(rule(b"-! ")),
            _ => Opt::Filter(rule(b"H ")),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random rule sets over the same tree: rsync and we send the same paths.
    #[test]
    fn random_rule_sets_match_rsync(opts in prop::collection::vec(random_opt(), 1..5)) {
        require_rsync();
        let scratch = Scratch::new("filter-random");
        make_tree(&scratch.join("src"));
        let result = compare_sent(&scratch, 0, &opts);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
