//! pgrep-mail run as `grep` (a link of that name, as a drop-in is installed) against the
//! installed GNU grep: each case is a small shell script run twice in fresh, identical
//! folders, once with GNU grep first on `PATH` and once with pgrep-mail, and standard
//! output (bytes), standard error and the exit status must be the same.
//!
//! One test per behaviour of GNU grep that pgrep-mail promises (issue 16): pattern
//! languages, back-references, leftmost-longest extents, odd EREs, locales, options,
//! colours, `-m`, binary files, recursion and links, and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{pgrep_mail, scratch};

/// Files every case starts with.
const SETUP: &[(&str, &[u8])] = &[
    (
        "words",
        b"a+b\nab\naab\nf(x)\nfx\nabcabc\nxx\nx{2}\nfoo foo\nfoo bar\nword wordy\n",
    ),
    (
        "lines",
        b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n",
    ),
    (
        "mail",
        b"From: alice\nSubject: disk quota\n\nYour disk quota is full.\n",
    ),
    (
        "accents",
        "caf\u{e9}\nCAF\u{c9}\nna\u{ef}ve\nplain\n\u{e0} la\n".as_bytes(),
    ),
    ("invalid", b"good line\nbad \xff line\nlast good line\n"),
    ("binary", b"text\0more\nneedle\n"),
    ("high", b"\x80\n\xe9t\xe9\nascii\n"),
];

/// A folder holding a `grep` that is `target`, for the front of `PATH`.
fn bin_with_grep(name: &str, target: &Path) -> PathBuf {
    let bin = scratch(name);
    std::os::unix::fs::symlink(target, bin.join("grep")).unwrap();
    bin
}

fn gnu_grep() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v grep"])
        .output()
        .expect("sh runs");
    let path = String::from_utf8(out.stdout).unwrap();
    std::fs::canonicalize(path.trim()).expect("GNU grep is installed")
}

/// Runs `script` with `sh` in a fresh copy of the setup, `grep` being `bin/grep`.
fn run_in(dir: &Path, bin: &Path, locpath: &Path, script: &str) -> Output {
    for (name, data) in SETUP {
        std::fs::write(dir.join(name), data).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("LC_ALL", "C")
        .env("LOCPATH", locpath)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs")
}

/// The locales the cases ask for, built once into a private folder (as grep's own suite
/// does), so that the test needs none installed system-wide.
fn locales() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grep-compat-locales");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, source) in [("en_US.UTF-8", "en_US"), ("tr_TR.UTF-8", "tr_TR")] {
            if !dir.join(name).exists() {
                let status = Command::new("localedef")
                    .args(["-i", source, "-f", "UTF-8"])
                    .arg(dir.join(name))
                    .status()
                    .expect("localedef runs (package `locales`)");
                assert!(
                    dir.join(name).exists(),
                    "localedef could not build {name}: {status}"
                );
            }
        }
        dir
    })
    .clone()
}

/// Asserts that `script` does the same with pgrep-mail as `grep` as with GNU grep.
fn same(case: &str, script: &str) {
    let locpath = locales();
    let gnu_bin = bin_with_grep(&format!("gc-bin-gnu-{case}"), &gnu_grep());
    let ours_exe = PathBuf::from(pgrep_mail(Path::new(".")).get_program());
    let our_bin = bin_with_grep(&format!("gc-bin-ours-{case}"), &ours_exe);
    let gnu = run_in(
        &scratch(&format!("gc-gnu-{case}")),
        &gnu_bin,
        &locpath,
        script,
    );
    let ours = run_in(
        &scratch(&format!("gc-ours-{case}")),
        &our_bin,
        &locpath,
        script,
    );
    let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        gnu.stdout == ours.stdout && gnu.stderr == ours.stderr && gnu.status == ours.status,
        "{case}: `{script}`\nGNU grep ({}):\n{}{}\npgrep-mail ({}):\n{}{}",
        gnu.status,
        show(&gnu.stdout),
        show(&gnu.stderr),
        ours.status,
        show(&ours.stdout),
        show(&ours.stderr),
    );
}

/// Runs each script as its own case, named `name-N`.
fn all_same(name: &str, scripts: &[&str]) {
    for (i, script) in scripts.iter().enumerate() {
        same(&format!("{name}-{i}"), script);
    }
}

#[test]
fn bre_is_the_default_with_gnu_extensions() {
    all_same(
        "bre",
        &[
            "grep 'a+b' words",
            "grep 'f(x)' words",
            r"grep 'x\{2\}' words",
            r"grep 'a\+b' words",
            r"grep -o 'a\?b' words",
            r"grep 'fx\|xx' words",
            r"grep '\<wor' words",
            r"grep -o 'word\>' words",
            r"grep -c '\bx\B' words",
            r"grep -o '\w\W\w' words",
            r"grep -o 'o\so' words; grep -c '\S' words",
            r"grep -o '\`a.' words; grep -o 'b\'\'' words",
            "grep -o '*a' words; grep '^*' words",
        ],
    );
}

#[test]
fn matcher_options_pick_the_language() {
    all_same(
        "matchers",
        &[
            "grep -G 'a+b' words",
            "grep -E 'a+b' words",
            "grep -F 'f(x)' words",
            r"grep -P 'a\d*b|f\(x\)' words",
            "grep -E -F x words; echo $?",
            r"grep -P -e a -e b words; echo $?",
        ],
    );
}

#[test]
fn back_references_in_bre_and_ere() {
    all_same(
        "backrefs",
        &[
            r"grep '\(abc\)\1' words",
            r"grep -E '(foo) \1' words",
            r"grep -E -o '(a)\1' words",
            r"grep -i -E '(FOO) \1' words",
            r"grep -w '\(foo\) \1' words",
            r"grep '\(a\)\2' words; echo $?",
        ],
    );
}

#[test]
fn extents_are_leftmost_longest() {
    all_same(
        "longest",
        &[
            "echo 'a bb ccc' | grep -o -e cc -e ccc",
            "echo 'a bb ccc' | grep -F -o -e cc -e ccc",
            "echo 'xabcd' | grep -E -o 'a|ab|abc'",
            "echo 'abcd' | grep --color=always -E 'ab|abcd'",
            "grep -w -o 'word' words",
            "echo 'foo foobar' | grep -w -E -o 'foo|foobar'",
        ],
    );
}

#[test]
fn odd_eres_read_as_grep_reads_them() {
    all_same(
        "odd-ere",
        &[
            "echo 'a{1 x' | grep -E 'a{1'",
            "echo 'a{1 {1' | grep -E -o '{1'",
            "echo 'aaa' | grep -E -o 'a{,2}'",
            "echo 'x)' | grep -E ')'",
            "echo '*a' | grep -E -o '*a'",
            "echo x | grep -E '[[:foo:]]'; echo $?",
            "echo x | grep '[:space:]'; echo $?",
            "echo x | grep -E 'a{2,1}'; echo $?",
            "echo x | grep '['; echo $?",
            r"echo x | grep '\('; echo $?",
            r"echo x | grep 'a\'; echo $?",
            "echo x | grep '[b-a]'; echo $?",
        ],
    );
}

#[test]
fn locales_decide_what_a_character_is() {
    all_same(
        "locales",
        &[
            "LC_ALL=en_US.UTF-8 grep '^[[:lower:]]*$' accents",
            "LC_ALL=en_US.UTF-8 grep -i 'café' accents",
            "LC_ALL=en_US.UTF-8 grep -o '[[=a=]]' accents",
            "LC_ALL=en_US.UTF-8 grep -c '^.....$' accents",
            "printf 'I\\n\\304\\260\\ni\\n\\304\\261\\n' | LC_ALL=tr_TR.UTF-8 grep -i i",
            "printf 'I\\n\\304\\260\\ni\\n\\304\\261\\n' | LC_ALL=en_US.UTF-8 grep -i i",
            "printf '\\200\\n' | LC_ALL=C grep .",
            "LC_ALL=C grep -c . high; LC_ALL=en_US.UTF-8 grep -c . high",
            "LC_ALL=en_US.UTF-8 grep line invalid; echo $?",
            "LC_ALL=en_US.UTF-8 grep -a line invalid",
        ],
    );
}

#[test]
fn binary_file_options() {
    all_same(
        "binary",
        &[
            "grep needle binary; echo $?",
            "grep -a needle binary",
            "grep -I needle binary; echo $?",
            "grep --binary-files=without-match needle binary; echo $?",
            "grep --binary-files=text -c e binary",
            "grep -U needle lines binary",
            "grep -c needle binary",
        ],
    );
}

#[test]
fn output_options() {
    all_same(
        "output",
        &[
            "printf 'a\\0b\\0ab\\0' | grep -z a | od -c",
            "grep -Z -l o lines words | od -c",
            "grep -Z -c o lines words | od -c",
            "grep -b e lines; grep -b -o e lines",
            "grep -T -n e lines words",
            "grep -T e lines /dev/null",
            "echo hi | grep --label=stdin -H hi",
            "grep --line-buffered e lines",
            "grep -2 four lines",
            "grep -C1 --group-separator=XX -e two -e six lines",
            "grep -C1 --no-group-separator -e two -e six lines",
            "grep -C0 -e two -e four lines",
            "grep -y ONE lines; grep -i --no-ignore-case ONE lines; echo $?",
            "grep --ignore ONE lines; grep --coun e lines",
            "grep -n -e two -A1 -B 1 lines",
        ],
    );
}

#[test]
fn colours() {
    all_same(
        "colours",
        &[
            "grep --color=auto two lines",
            "grep --color=always -n -H two lines",
            "GREP_COLORS='mt=01;32:fn=34:ln=33:se=35' grep --color=always -n -H two lines",
            "GREP_COLOR='01;36' grep --color=always two lines",
            "grep --color=always -C1 -e two lines",
        ],
    );
}

#[test]
fn max_count_stops_reading() {
    all_same(
        "max-count",
        &[
            "yes x | grep -m1 x",
            "grep -m 0 x no-such-file; echo $?",
            "grep -m2 e lines; grep -m2 -c e lines",
            "{ grep -m1 e; cat; } < lines",
            "grep -m1 -A2 e lines",
        ],
    );
}

#[test]
fn no_pattern_and_empty_patterns() {
    all_same(
        "patterns",
        &[
            "grep -f /dev/null lines; echo $?",
            "grep -v -f /dev/null lines | head -2",
            "grep -L -f /dev/null lines no-such-file; echo $?",
            "grep -c '' lines",
            "printf 'two\\nsix\\n' > pats; grep -f pats lines",
            "grep -e two -e '' -c lines",
        ],
    );
}

#[test]
fn files_folders_and_links() {
    all_same(
        "files",
        &[
            "mkdir d; echo aaa > d/a; grep aaa d; echo $?",
            "mkdir d; echo aaa > d/a; cd d && grep -r aaa; echo $?",
            "mkdir d; echo aaa > d/a; grep -d skip aaa d lines; echo $?",
            "mkdir -p d/x; echo aaa > d/a; echo aaa > d/x/b; echo aaa > d/c.txt; \
             grep -r --include='*.txt' aaa d; grep -r --exclude='a' aaa d | sort; \
             grep -r --exclude-dir=x aaa d | sort",
            "mkdir d; echo aaa > d/a; echo b > ex; grep -r --exclude-from=ex aaa d",
            "mkfifo f; grep -D skip x f; echo $?",
            "mkdir -p d/sub; echo aaa > d/a; ln -s a d/link; ln -s .. d/sub/up; \
             grep -r aaa d | sort; echo $?",
            "mkdir -p d/sub; echo aaa > d/a; ln -s a d/link; ln -s .. d/sub/up; \
             grep -R aaa d 2>&1 | sort; echo $?",
            "mkdir -p d; echo aaa > d/a; ln -s nowhere d/dangling; grep -R aaa d; echo $?",
            "grep x no-such-file; echo $?; grep -s x no-such-file; echo $?",
            "grep e lines >> lines; echo $?",
            "grep -q e lines >> lines; echo $?",
        ],
    );
}
