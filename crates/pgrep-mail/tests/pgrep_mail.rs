//! pgrep-mail, the real binary, against the real tools: GNU grep on the same trees and
//! grepmail's own expected outputs for its own test mailboxes.
//!
//! Data read in place (see shared/data/README.md):
//! - `../shared/data/grepmail/t/mailboxes` and `t/results`: grepmail's test mailboxes and
//!   what grepmail printed for each of its test cases;
//! - `../shared/data/notmuch/test/corpora/default`: a real nested Maildir.
//!
//! Each test works in a fresh folder of its own under the cargo target folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{pgrep_mail, scratch};

/// The shared test data, beside the project root.
fn data(rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        root.join("../shared/data"),
        PathBuf::from("/work/shared/data"),
    ];
    let base = candidates
        .iter()
        .find(|p| p.is_dir())
        .expect("shared/data beside the project root");
    base.join(rel)
}

/// grepmail's test folder: `t/mailboxes/...` and `t/results/...` are relative to it.
fn grepmail_dir() -> PathBuf {
    data("grepmail")
}

fn tool(name: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(name);
    cmd.current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the command starts")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts equality and prints both sides whole when they differ.
macro_rules! eqnice {
    ($expected:expr, $got:expr) => {{
        let (expected, got) = (&$expected, &$got);
        if expected != got {
            panic!("\nexpected:\n{expected}\ngot:\n{got}\n");
        }
    }};
}

/// Lines sorted, for comparing with `grep -r`, whose order is the directory's.
fn sorted(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------
// grepmail compatibility: each case names grepmail's results file, the grepmail command
// that produced it (from grepmail's t/*.t), and the pgrep-mail command for the same job.

struct Case {
    results: &'static str,
    grepmail: &'static [&'static str],
    ours: &'static [&'static str],
}

const CASES: &[Case] = &[
    // t/body.t
    Case {
        results: "body_handy",
        grepmail: &["-b", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &["--messages", "--body", "Handy", "t/mailboxes/mailarc-1.txt"],
    },
    Case {
        results: "body_my_dos",
        grepmail: &["-b", "my$", "t/mailboxes/mailarc-1-dos.txt"],
        ours: &[
            "--messages",
            "--body",
            "my$",
            "t/mailboxes/mailarc-1-dos.txt",
        ],
    },
    // t/header.t
    Case {
        results: "header_handy",
        grepmail: &["-h", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--headers",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "header_aarone",
        grepmail: &["-h", "^From.*aarone", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--headers",
            "^From.*aarone",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "header_body_handy",
        grepmail: &["-hb", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--headers",
            "--body",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "header_handy_dos",
        grepmail: &["-h", "Handy", "t/mailboxes/mailarc-1-dos.txt"],
        ours: &[
            "--messages",
            "--headers",
            "Handy",
            "t/mailboxes/mailarc-1-dos.txt",
        ],
    },
    // t/list.t
    Case {
        results: "list_handy",
        grepmail: &[
            "-l",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
        ours: &[
            "--messages",
            "-l",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    Case {
        results: "list_handy_dos",
        grepmail: &[
            "-l",
            "Handy",
            "t/mailboxes/mailarc-1-dos.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
        ours: &[
            "--messages",
            "-l",
            "Handy",
            "t/mailboxes/mailarc-1-dos.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    // t/not_match_uncompressed.t
    Case {
        results: "not_handy",
        grepmail: &["-v", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &["--messages", "-v", "Handy", "t/mailboxes/mailarc-1.txt"],
    },
    Case {
        results: "not_body_handy",
        grepmail: &["-bv", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "-v",
            "--body",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "not_header_handy",
        grepmail: &["-hv", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "-v",
            "--headers",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    // t/date.t (grepmail takes no pattern with -d; ours takes the empty pattern)
    Case {
        results: "date_1",
        grepmail: &["-d", "before July 15 1998", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--date",
            "before July 15 1998",
            "",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "date_2",
        grepmail: &[
            "Handy",
            "-d",
            "before July 9 1998",
            "t/mailboxes/mailarc-1.txt",
        ],
        ours: &[
            "--messages",
            "--date",
            "before July 9 1998",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "date_3",
        grepmail: &["-d", "before 7/15/1998", "t/mailboxes/mailarc-2.txt"],
        ours: &[
            "--messages",
            "--date",
            "before 7/15/1998",
            "",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    Case {
        results: "date_august",
        grepmail: &["-d", "Aug 1998", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--date",
            "Aug 1998",
            "",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    // t/match_compressed.t
    Case {
        results: "all_handy",
        grepmail: &["Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &["--messages", "Handy", "t/mailboxes/mailarc-1.txt"],
    },
    Case {
        results: "two_handy",
        grepmail: &[
            "Handy",
            "t/mailboxes/mailarc-1.txt.gz",
            "t/mailboxes/mailarc-2.txt",
        ],
        ours: &[
            "--messages",
            "Handy",
            "t/mailboxes/mailarc-1.txt.gz",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    Case {
        results: "all_luikeith",
        grepmail: &["From.*luikeith@egr.msu.edu", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "From.*luikeith@egr.msu.edu",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    // The same mailbox compressed with bzip2 and xz prints the same messages.
    Case {
        results: "all_handy",
        grepmail: &["Handy", "t/mailboxes/mailarc-1.txt.bz2"],
        ours: &["--messages", "Handy", "t/mailboxes/mailarc-1.txt.bz2"],
    },
    Case {
        results: "all_handy",
        grepmail: &["Handy", "t/mailboxes/mailarc-1.txt.xz"],
        ours: &["--messages", "Handy", "t/mailboxes/mailarc-1.txt.xz"],
    },
    // CRLF mailbox (t/match_compressed.t's dos variant)
    Case {
        results: "all_handy_dos",
        grepmail: &["Handy", "t/mailboxes/mailarc-1-dos.txt"],
        ours: &["--messages", "Handy", "t/mailboxes/mailarc-1-dos.txt"],
    },
    // t/count.t
    Case {
        results: "count_handy",
        grepmail: &[
            "-br",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
        ours: &[
            "--count-messages",
            "--body",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    Case {
        results: "count_handy_dos",
        grepmail: &[
            "-br",
            "Handy",
            "t/mailboxes/mailarc-1-dos.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
        ours: &[
            "--count-messages",
            "--body",
            "Handy",
            "t/mailboxes/mailarc-1-dos.txt",
            "t/mailboxes/mailarc-2.txt",
        ],
    },
    Case {
        results: "count_all",
        grepmail: &["-r", ".", "t/mailboxes/mailseparators.txt"],
        ours: &["--count-messages", ".", "t/mailboxes/mailseparators.txt"],
    },
    // t/functionality.t -u, t/match_words.t
    Case {
        results: "unique_handy",
        grepmail: &["-u", "Handy", "t/mailboxes/mailarc-1.txt"],
        ours: &[
            "--messages",
            "--unique",
            "Handy",
            "t/mailboxes/mailarc-1.txt",
        ],
    },
    Case {
        results: "match_word_let",
        grepmail: &["-w", "let", "t/mailboxes/mailarc-1.txt"],
        ours: &["--messages", "-w", "let", "t/mailboxes/mailarc-1.txt"],
    },
];

#[test]
fn grepmail_results_files() {
    let dir = grepmail_dir();
    let scratch = scratch("grepmail-results");
    for case in CASES {
        let expected = std::fs::read(dir.join("t/results").join(case.results)).unwrap();
        // The results file really is what this grepmail command prints (checks the mapping
        // from results file to command, which grepmail's t/*.t scripts define).
        let mut grepmail = tool("grepmail", &dir);
        grepmail.env("HOME", &scratch).args(case.grepmail);
        let theirs = run(&mut grepmail);
        eqnice!(text(&expected), text(&theirs.stdout));
        let ours = run(pgrep_mail(&dir).args(case.ours));
        assert_eq!(
            ours.status.code(),
            Some(0),
            "{}: {}",
            case.results,
            text(&ours.stderr)
        );
        assert!(
            ours.stderr.is_empty(),
            "{}: {}",
            case.results,
            text(&ours.stderr)
        );
        if expected != ours.stdout {
            panic!(
                "{} ({:?}):\nexpected:\n{}\ngot:\n{}",
                case.results,
                case.ours,
                text(&expected),
                text(&ours.stdout)
            );
        }
    }
}

#[test]
fn messages_from_standard_input_as_grepmail() {
    let dir = grepmail_dir();
    let mbox = std::fs::read(dir.join("t/mailboxes/mailarc-1.txt.gz")).unwrap();
    let mut child = pgrep_mail(&dir)
        .args(["--messages", "Handy"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&mbox).unwrap();
    let out = child.wait_with_output().unwrap();
    eqnice!(
        text(&std::fs::read(dir.join("t/results/all_handy")).unwrap()),
        text(&out.stdout)
    );
}

#[test]
fn messages_on_every_core_equal_one_core() {
    // A large mbox (> the parallel split size) made of grepmail's mailboxes repeated.
    let dir = scratch("big-mbox");
    let one = std::fs::read(grepmail_dir().join("t/mailboxes/mailarc-1.txt")).unwrap();
    let mut big = Vec::new();
    while big.len() < 20 << 20 {
        big.extend_from_slice(&one);
    }
    std::fs::write(dir.join("big.mbox"), &big).unwrap();
    for args in [
        &["--messages", "Handy", "big.mbox"][..],
        &["--count-messages", "-i", "library", "big.mbox"],
        &["--messages", "--body", "-v", "Handy", "big.mbox"],
    ] {
        let serial = run(pgrep_mail(&dir).arg("--threads=1").args(args));
        let parallel = run(pgrep_mail(&dir).arg("--threads=4").args(args));
        assert_eq!(serial.status.code(), Some(0));
        assert!(
            serial.stdout == parallel.stdout,
            "{args:?} differs on 4 threads"
        );
    }
    // The message count is the single file's count times the copies.
    let copies = big.len() / one.len();
    let out = run(pgrep_mail(&dir).args(["--count-messages", "Handy", "big.mbox"]));
    eqnice!(format!("big.mbox: {}\n", 7 * copies), text(&out.stdout));
}

// The message modes search an mbox pattern first and split off only the messages around a
// match or a mark (src/search/sparse.rs); these mailboxes hold what makes that subtle.

const NO_MATCH: &str = "From a@b Mon Jan  1 10:00:00 2001\nSubject: plain\n\nnothing here\n\n";
/// The match only in a base64 part, after decoding.
const IN_BASE64: &str = "From a@b Mon Jan  1 10:00:01 2001\nSubject: b64\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nYW4gaW52b2ljZSBoZXJlCg==\n--B--\n\n";
/// A `From ` line that is a separator but for `Content-Length:`, and the match after it.
const MBOXCL2: &str = "From a@b Mon Jan  1 10:00:02 2001\nContent-Length: 62\n\nFrom x@y Mon Jan  1 11:00:00 2001\nSubject: inner\n\nan invoice\n\n";
/// A forwarded mailbox inside a multipart message, the match after its `From ` line.
const FORWARDED: &str = "From a@b Mon Jan  1 10:00:03 2001\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: message/rfc822\n\nFrom inner@x Mon Jan  1 10:00:00 2001\nSubject: fwd\n\nan invoice\n--XX--\n\n";
/// A body line starting "From " that is no separator (no time), the match on it.
const FROM_IN_BODY: &str =
    "From a@b Mon Jan  1 10:00:04 2001\nSubject: hit\n\nFrom here on, an invoice\n\n";

fn edge_mailbox() -> String {
    [
        NO_MATCH,
        IN_BASE64,
        NO_MATCH,
        MBOXCL2,
        NO_MATCH,
        FORWARDED,
        FROM_IN_BODY,
        NO_MATCH,
    ]
    .concat()
}

#[test]
fn pattern_first_prints_whole_messages_around_matches() {
    let dir = scratch("pattern-first");
    std::fs::write(dir.join("box"), edge_mailbox()).unwrap();
    let matching = [IN_BASE64, MBOXCL2, FORWARDED, FROM_IN_BODY].concat();
    let out = run(pgrep_mail(&dir).args(["--messages", "invoice", "box"]));
    eqnice!(matching, text(&out.stdout));
    let out = run(pgrep_mail(&dir).args(["--messages", "-c", "invoice", "box"]));
    eqnice!("4\n", text(&out.stdout));
    let out = run(pgrep_mail(&dir).args(["--count-messages", "invoice", "box"]));
    eqnice!("box: 4\n", text(&out.stdout));
    // -v tests every message.
    let out = run(pgrep_mail(&dir).args(["--messages", "-v", "invoice", "box"]));
    eqnice!(NO_MATCH.repeat(4), text(&out.stdout));
    // As stored, the base64 part holds no match.
    let out = run(pgrep_mail(&dir).args(["--messages", "--raw", "invoice", "box"]));
    eqnice!(
        [MBOXCL2, FORWARDED, FROM_IN_BODY].concat(),
        text(&out.stdout)
    );
    let out = run(pgrep_mail(&dir).args(["--messages", "--body", "fwd", "box"]));
    eqnice!(FORWARDED, text(&out.stdout));
}

#[test]
fn pattern_first_on_every_core_equals_one_core() {
    // Large enough to be cut into pieces, whose cuts land inside the mboxcl2 and multipart
    // messages too.
    let dir = scratch("pattern-first-big");
    let one = edge_mailbox();
    let copies = (9 << 20) / one.len() + 1;
    std::fs::write(dir.join("big"), one.repeat(copies)).unwrap();
    for args in [
        &["--messages", "invoice", "big"][..],
        &["--messages", "--raw", "-i", "INVOICE", "big"],
        &["--count-messages", "-v", "invoice", "big"],
    ] {
        let serial = run(pgrep_mail(&dir).arg("--threads=1").args(args));
        for threads in ["--threads=2", "--threads=3", "--threads=7"] {
            let parallel = run(pgrep_mail(&dir).arg(threads).args(args));
            assert!(
                serial.stdout == parallel.stdout,
                "{args:?} differs with {threads}"
            );
        }
    }
    let out = run(pgrep_mail(&dir).args(["--count-messages", "invoice", "big"]));
    eqnice!(format!("big: {}\n", 4 * copies), text(&out.stdout));
    let out = run(pgrep_mail(&dir).args(["--count-messages", "-v", "invoice", "big"]));
    eqnice!(format!("big: {}\n", 4 * copies), text(&out.stdout));
    let out = run(pgrep_mail(&dir).args(["--messages", "--threads=4", "invoice", "big"]));
    eqnice!(
        [IN_BASE64, MBOXCL2, FORWARDED, FROM_IN_BODY]
            .concat()
            .repeat(copies),
        text(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------
// grep compatibility on one file: byte for byte.

#[test]
fn line_mode_is_grep_on_one_file() {
    let dir = grepmail_dir();
    let cases: &[&[&str]] = &[
        &["Handy"],
        &["-n", "Handy"],
        &["-i", "-n", "handy board"],
        &["-c", "Handy"],
        &["-v", "-c", "e"],
        &["-w", "let"],
        &["-x", ""],
        &["-o", "-n", "[A-Z][a-z]+ Board"],
        &["-m", "3", "-A", "2", "Handy"],
        &["-C", "2", "-n", "Wallace"],
        &["-B", "3", "library"],
        &["-A", "1", "-v", "-m", "5", "e"],
        &["-o", "-C", "1", "Wallace"],
        &["-F", "-e", "Handy", "-e", "(library)"],
        &["-F", "-i", "-e", "HANDY", "-e", "LIBRARY"],
        &["-H", "-e", "^Subject: .*[Hh]andy"],
        &["-h", "Handy"],
        &["-ow", "b[a-z]*"],
        &["--color=always", "-n", "-H", "Handy"],
        &["--color=always", "-C", "1", "-H", "-n", "library"],
        &["-l", "Handy"],
        &["-L", "Handy"],
        &["-c", "zzzzzz"],
        &["x\\sy"],
        &["e$"],
    ];
    for args in cases {
        let file = "t/mailboxes/mailarc-1.txt";
        // The same syntax for both: these patterns are written as EREs.
        let syntax: &[&str] = if args.contains(&"-F") { &[] } else { &["-E"] };
        let grep = run(tool("grep", &dir).args(syntax).args(*args).arg(file));
        let ours = run(pgrep_mail(&dir).args(syntax).args(*args).arg(file));
        assert_eq!(
            grep.status.code(),
            ours.status.code(),
            "{args:?}: exit status"
        );
        if grep.stdout != ours.stdout {
            panic!(
                "{args:?}:\ngrep:\n{}\npgrep-mail:\n{}",
                text(&grep.stdout),
                text(&ours.stdout)
            );
        }
    }
}

#[test]
fn large_file_lines_as_grep() {
    // Past the size at which the cores search a file in pieces, each read on its own.
    let dir = scratch("big-lines");
    let one = std::fs::read(grepmail_dir().join("t/mailboxes/mailarc-1.txt")).unwrap();
    let mut big = Vec::new();
    while big.len() < 9 << 20 {
        big.extend_from_slice(&one);
    }
    std::fs::write(dir.join("big.mbox"), &big).unwrap();
    big.extend_from_slice(b"Handy last line, no newline");
    std::fs::write(dir.join("no-newline.mbox"), &big).unwrap();
    // A line longer than the pieces' read buffer, on both sides of a match.
    let mut long = vec![b'a'; 3 << 20];
    long.extend_from_slice(b" Handy ");
    long.extend(std::iter::repeat_n(b'b', 3 << 20));
    long.push(b'\n');
    long.extend_from_slice(&big);
    std::fs::write(dir.join("long-lines.mbox"), &long).unwrap();
    let mut binary = b"\0\n".to_vec();
    binary.extend_from_slice(&big);
    std::fs::write(dir.join("binary.mbox"), &binary).unwrap();
    let cases: &[&[&str]] = &[
        &["Handy"],
        &["-c", "Handy"],
        &["-v", "-c", "e"],
        &["-i", "-o", "handy board"],
        &["-l", "Handy"],
        &["-L", "Handy"],
        &["-q", "Handy"],
        &["-c", "-x", ""],
        &["-m", "5", "-c", "Handy"],
        &["e$"],
        &["-n", "Handy"],
        &["-F", "-e", "Handy", "-e", "library"],
        &["-c", "zzzzzz"],
    ];
    for file in [
        "big.mbox",
        "no-newline.mbox",
        "long-lines.mbox",
        "binary.mbox",
    ] {
        for args in cases {
            let syntax: &[&str] = if args.contains(&"-F") { &[] } else { &["-E"] };
            let grep = run(tool("grep", &dir).args(syntax).args(*args).arg(file));
            let ours = run(pgrep_mail(&dir).arg("--threads=4").args(*args).arg(file));
            let what = format!("{args:?} {file}");
            // grep also ends a binary file's lines at its NUL bytes, which changes what -v
            // and -x select; pgrep-mail does not (nor did it before it searched in pieces).
            if !(file == "binary.mbox" && (args.contains(&"-v") || args.contains(&"-x"))) {
                assert_eq!(
                    grep.status.code(),
                    ours.status.code(),
                    "{what}: exit status"
                );
                assert!(
                    grep.stdout == ours.stdout,
                    "{what}: output differs from grep's"
                );
                eqnice!(
                    text(&grep.stderr).replace("grep: ", "pgrep-mail: "),
                    text(&ours.stderr)
                );
            }
            // One thread searches the file whole, in one buffer.
            let whole = run(pgrep_mail(&dir).arg("--threads=1").args(*args).arg(file));
            assert!(
                whole.stdout == ours.stdout,
                "{what}: pieces differ from whole"
            );
        }
    }
    // A NUL byte far from the start makes the file binary from grep's buffer that holds it
    // on, whichever piece holds it.
    big.extend_from_slice(b"\n\0\n");
    std::fs::write(dir.join("late-binary.mbox"), &big).unwrap();
    for args in [&["Handy"][..], &["-c", "Handy"], &["zzzzzz"]] {
        let whole = run(pgrep_mail(&dir)
            .arg("--threads=1")
            .args(args)
            .arg("late-binary.mbox"));
        let pieces = run(pgrep_mail(&dir)
            .arg("--threads=4")
            .args(args)
            .arg("late-binary.mbox"));
        assert_eq!(whole.status.code(), pieces.status.code(), "{args:?}");
        assert!(whole.stdout == pieces.stdout, "{args:?}: output differs");
        eqnice!(text(&whole.stderr), text(&pieces.stderr));
    }
}

#[test]
fn patterns_from_a_file() {
    let dir = scratch("pattern-file");
    std::fs::write(dir.join("patterns"), "Handy\nlibrary\n").unwrap();
    let mbox = grepmail_dir().join("t/mailboxes/mailarc-1.txt");
    let grep = run(tool("grep", &dir).arg("-f").arg("patterns").arg(&mbox));
    let ours = run(pgrep_mail(&dir).arg("-f").arg("patterns").arg(&mbox));
    eqnice!(text(&grep.stdout), text(&ours.stdout));
}

#[test]
fn crlf_mailbox_lines_as_grep() {
    let dir = grepmail_dir();
    for args in [&["-n", "my$"][..], &["-c", "Handy"], &["-o", "Board\r"]] {
        let grep = run(tool("grep", &dir)
            .args(args)
            .arg("t/mailboxes/mailarc-1-dos.txt"));
        let ours = run(pgrep_mail(&dir)
            .args(args)
            .arg("t/mailboxes/mailarc-1-dos.txt"));
        assert_eq!(grep.status.code(), ours.status.code(), "{args:?}");
        eqnice!(text(&grep.stdout), text(&ours.stdout));
    }
}

// ---------------------------------------------------------------------------------------
// grep -r on the real Maildir: -c, -l, -n (sorted: grep -r visits in directory order).

#[test]
fn maildir_tree_counts_lists_and_numbers_as_grep_r() {
    let corpus = data("notmuch/test/corpora");
    for args in [
        &["-r", "-c", "notmuch"][..],
        &["-r", "-l", "-i", "patch"],
        &["-r", "-n", "Subject:.*Maildir"],
        &["-r", "-L", "Carl"],
        &["-r", "-n", "-w", "-F", "-e", "mutt", "-e", "sup"],
        &["-r", "-c", "-v", "^>"],
    ] {
        let grep = run(tool("grep", &corpus).args(args).arg("default"));
        let ours = run(pgrep_mail(&corpus).args(args).arg("default"));
        assert_eq!(grep.status.code(), ours.status.code(), "{args:?}");
        eqnice!(sorted(&text(&grep.stdout)), sorted(&text(&ours.stdout)));
        // Ours is in sorted path order on every run.
        let again = run(pgrep_mail(&corpus).args(args).arg("default"));
        assert_eq!(ours.stdout, again.stdout);
    }
}

#[test]
fn maildir_messages_are_printed_as_mbox() {
    let corpus = data("notmuch/test/corpora");
    // Files whose header names the subject: one message each.
    let grep = run(tool("grep", &corpus)
        .args(["-r", "-l", "-E", "^Subject:.*notmuch"])
        .arg("default"));
    let files = text(&grep.stdout).lines().count();
    assert!(files > 5, "the corpus has such messages");
    let out =
        run(pgrep_mail(&corpus).args(["--messages", "--header", "Subject=notmuch", "", "default"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let separators = printed
        .lines()
        .filter(|l| l.starts_with("From ") && l.contains(':'))
        .count();
    assert_eq!(separators, files, "{printed}");
    // The output is itself an mbox that pgrep-mail reads back with the same messages.
    let dir = scratch("maildir-mbox");
    std::fs::write(dir.join("out.mbox"), &out.stdout).unwrap();
    let back = run(pgrep_mail(&dir).args(["--count-messages", "", "out.mbox"]));
    eqnice!(format!("out.mbox: {files}\n"), text(&back.stdout));
    // --count-messages per Maildir file, summed, agrees.
    let counts = run(pgrep_mail(&corpus).args([
        "--count-messages",
        "--header",
        "Subject=notmuch",
        "",
        "default",
    ]));
    let sum: usize = text(&counts.stdout)
        .lines()
        .map(|l| l.rsplit(": ").next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(sum, files);
}

#[test]
fn maildir_dates_and_unique() {
    let corpus = data("notmuch/test/corpora");
    let all = run(pgrep_mail(&corpus).args(["--messages", "-l", "", "default"]));
    let before = run(pgrep_mail(&corpus).args([
        "--messages",
        "-l",
        "--date",
        "before 2009-11-18",
        "",
        "default",
    ]));
    let after = run(pgrep_mail(&corpus).args([
        "--messages",
        "-l",
        "--date",
        "since 2009-11-18",
        "",
        "default",
    ]));
    let (all, before, after) = (text(&all.stdout), text(&before.stdout), text(&after.stdout));
    assert!(!before.is_empty() && !after.is_empty());
    assert_eq!(
        all.lines().count(),
        before.lines().count() + after.lines().count()
    );
    // --unique keeps one message per Message-ID: as many as grep finds distinct IDs.
    let ids = run(tool("grep", &corpus).args(["-r", "-h", "-i", "^Message-ID:", "default"]));
    let mut ids: Vec<String> = text(&ids.stdout)
        .lines()
        .map(|l| l[11..].trim().to_string())
        .collect();
    let files = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert!(ids.len() < files, "the corpus holds a duplicate");
    let total = |args: &[&str]| -> usize {
        let out = run(pgrep_mail(&corpus).args(args));
        text(&out.stdout)
            .lines()
            .map(|l| l.rsplit(": ").next().unwrap().parse::<usize>().unwrap())
            .sum()
    };
    assert_eq!(
        total(&["--count-messages", "--unique", "", "default"]),
        ids.len()
    );
    assert_eq!(total(&["--count-messages", "", "default"]), files);
}

#[test]
fn maildir_tmp_is_skipped_in_message_modes() {
    let dir = scratch("maildir-tmp");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join("box").join(sub)).unwrap();
    }
    std::fs::write(dir.join("box/cur/1:2,S"), "Subject: done\n\nneedle\n").unwrap();
    std::fs::write(dir.join("box/tmp/2"), "Subject: half\n\nneedle\n").unwrap();
    let out = run(pgrep_mail(&dir).args(["--messages", "-l", "needle", "box"]));
    eqnice!("box/cur/1:2,S\n", text(&out.stdout));
    // Line mode is grep -r: every file.
    let out = run(pgrep_mail(&dir).args(["-l", "needle", "box"]));
    eqnice!("box/cur/1:2,S\nbox/tmp/2\n", text(&out.stdout));
}

// ---------------------------------------------------------------------------------------
// MIME: decoded in the message modes, as stored in line mode.

const ENCODED: &str = "From a@b.c Mon Jan  1 10:00:00 2024\nSubject: =?utf-8?q?caf=C3=A9_order?=\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nc2VjcmV0IGludm9pY2UgbnVtYmVyIDQyCg==\n\n";

#[test]
fn message_modes_search_decoded_text() {
    let dir = scratch("mime");
    std::fs::write(dir.join("inbox"), ENCODED).unwrap();
    let out = run(pgrep_mail(&dir).args(["--messages", "--body", "invoice number", "inbox"]));
    eqnice!(ENCODED, text(&out.stdout));
    let out = run(pgrep_mail(&dir).args(["--count-messages", "--headers", "café", "inbox"]));
    eqnice!("inbox: 1\n", text(&out.stdout));
    // --raw: the bytes as stored.
    let out = run(pgrep_mail(&dir).args(["--messages", "--raw", "--body", "invoice", "inbox"]));
    assert_eq!(out.status.code(), Some(1));
    // Line mode is grep: no match in the stored bytes; --decode prints the decoded line.
    let out = run(pgrep_mail(&dir).args(["invoice", "inbox"]));
    assert_eq!(out.status.code(), Some(1));
    let out = run(pgrep_mail(&dir).args(["--decode", "-n", "invoice", "inbox"]));
    eqnice!("6:secret invoice number 42\n", text(&out.stdout));
}

// ---------------------------------------------------------------------------------------
// Compressed folders, --per-folder, standard input.

#[test]
fn compressed_folders_are_searched_as_their_contents() {
    let dir = grepmail_dir();
    let plain = run(pgrep_mail(&dir).args(["-n", "Handy", "t/mailboxes/mailarc-1.txt"]));
    for ext in ["gz", "bz2", "xz"] {
        let packed = run(pgrep_mail(&dir)
            .args(["-n", "Handy"])
            .arg(format!("t/mailboxes/mailarc-1.txt.{ext}")));
        eqnice!(text(&plain.stdout), text(&packed.stdout));
    }
    let scratch = scratch("zstd");
    let raw = std::fs::read(dir.join("t/mailboxes/mailarc-1.txt")).unwrap();
    let status = Command::new("zstd")
        .args(["-q", "-o"])
        .arg(scratch.join("box.zst"))
        .arg(dir.join("t/mailboxes/mailarc-1.txt"))
        .status();
    if status.is_ok_and(|s| s.success()) {
        let packed = run(pgrep_mail(&scratch).args(["-n", "Handy", "box.zst"]));
        eqnice!(text(&plain.stdout), text(&packed.stdout));
    } else {
        // No zstd program here: write the frame with the library the tool uses.
        std::fs::write(scratch.join("box.zst"), zstd_frame(&raw)).unwrap();
        let packed = run(pgrep_mail(&scratch).args(["-n", "Handy", "box.zst"]));
        eqnice!(text(&plain.stdout), text(&packed.stdout));
    }
}

#[test]
fn compressed_output_is_the_uncompressed_output() {
    // Compressed folders are searched as they are decompressed, a window at a time (about
    // 1 MiB); the same folder uncompressed, on one thread, is searched as one buffer. Every
    // mode prints the same bytes from both, across many windows: a 12 MiB mbox of
    // grepmail's mailboxes (LF and CRLF, mboxcl2, multipart, encoded bodies), one whose NUL
    // byte comes late, and one that is not a mailbox.
    let dir = scratch("compressed-same");
    let boxes = grepmail_dir().join("t/mailboxes");
    let mut mbox = Vec::new();
    while mbox.len() < 12 << 20 {
        for name in [
            "mailarc-1.txt",
            "mailarc-2.txt",
            "mailarc-3.txt",
            "mailarc-1-dos.txt",
        ] {
            mbox.extend_from_slice(&std::fs::read(boxes.join(name)).unwrap());
        }
    }
    let mut late_nul = mbox.clone();
    late_nul.extend_from_slice(b"\nHandy\0 at the end\n");
    let mut plain_text = b"no header here\n".to_vec();
    plain_text.extend_from_slice(&mbox[..1 << 20]);
    let files: [(&str, &[u8]); 3] = [
        ("box", &mbox),
        ("late-nul", &late_nul),
        ("text", &plain_text),
    ];
    for (name, data) in files {
        std::fs::write(dir.join(name), data).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, data).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
        std::fs::write(
            dir.join(format!("{name}.zst")),
            zstd::stream::encode_all(data, 1).unwrap(),
        )
        .unwrap();
    }
    let cases: &[&[&str]] = &[
        &["-n", "Handy"],
        &["-C", "3", "-n", "library"],
        &["-B", "4", "Handy"],
        &["-A", "5", "-n", "Wallace"],
        &["-c", "e"],
        &["-v", "-c", "e"],
        &["-o", "-n", "[A-Z][a-z]+ Board"],
        &["-m", "7", "-A", "3", "Handy"],
        &["-v", "-n", "-A", "1", "-m", "5", "e"],
        &["-x", "-n", ""],
        &["-w", "-c", "let"],
        &["--color=always", "-n", "-H", "Handy"],
        &["-l", "Handy"],
        &["-L", "Handy"],
        &["-q", "Handy"],
        &["--decode", "-n", "-C", "1", "the"],
        &["--messages", "Handy"],
        &["--messages", "--body", "-v", "Handy"],
        &["--count-messages", "-i", "library"],
        &["--messages", "--unique", "Handy"],
        &["--messages", "-m", "3", "Handy"],
        &["--messages", "--headers", "-i", "handy"],
        &["--messages", "--date", "since 1998-01-01", "-i", "board"],
        &["-l", "--messages", "Handy"],
    ];
    for (name, _) in files {
        for args in cases {
            let plain = run(pgrep_mail(&dir).arg("--threads=1").args(*args).arg(name));
            for ext in ["gz", "zst"] {
                let packed_name = format!("{name}.{ext}");
                let packed = run(pgrep_mail(&dir).args(*args).arg(&packed_name));
                let what = format!("{args:?} {packed_name}");
                assert_eq!(plain.status.code(), packed.status.code(), "{what}");
                let unname = |b: &[u8]| text(b).replace(&packed_name, name);
                assert!(
                    text(&plain.stdout) == unname(&packed.stdout),
                    "{what}: output differs from the uncompressed file's"
                );
                eqnice!(text(&plain.stderr), unname(&packed.stderr));
            }
        }
    }
    // Compressed standard input too.
    for args in [&["-n", "Handy"][..], &["--messages", "Handy"]] {
        let plain = run(pgrep_mail(&dir)
            .args(args)
            .stdin(std::fs::File::open(dir.join("box")).unwrap()));
        let packed = run(pgrep_mail(&dir)
            .args(args)
            .stdin(std::fs::File::open(dir.join("box.zst")).unwrap()));
        assert_eq!(plain.status.code(), Some(0));
        assert!(
            plain.stdout == packed.stdout,
            "{args:?} from standard input"
        );
    }
}

/// A zstd frame holding `data` uncompressed (raw blocks), so the test needs no encoder.
fn zstd_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58];
    let chunks: Vec<&[u8]> = data.chunks(100_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = u32::from(i + 1 == chunks.len());
        let header = last | ((chunk.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn per_folder_files_and_all() {
    let dir = scratch("per-folder");
    for (folder, body) in [("lists", "needle one\n"), ("work", "no\nneedle two\n")] {
        std::fs::create_dir_all(dir.join("mail").join(folder)).unwrap();
        std::fs::write(dir.join("mail").join(folder).join("box"), body).unwrap();
    }
    let out = run(pgrep_mail(&dir).args(["--per-folder", "res", "-n", "needle", "mail"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    eqnice!(
        "mail/lists/box:1:needle one\n",
        std::fs::read_to_string(dir.join("res/lists")).unwrap()
    );
    eqnice!(
        "mail/work/box:2:needle two\n",
        std::fs::read_to_string(dir.join("res/work")).unwrap()
    );
    eqnice!(
        "mail/lists/box:1:needle one\nmail/work/box:2:needle two\n",
        std::fs::read_to_string(dir.join("res/all")).unwrap()
    );
}

#[test]
fn r_and_upper_r_change_nothing() {
    let corpus = data("notmuch/test/corpora");
    let plain = run(pgrep_mail(&corpus).args(["-c", "notmuch", "default"]));
    for flag in ["-r", "-R"] {
        let out = run(pgrep_mail(&corpus).args([flag, "-c", "notmuch", "default"]));
        assert_eq!(plain.stdout, out.stdout);
    }
}

// ---------------------------------------------------------------------------------------
// Binary files, exit statuses, errors.

#[test]
fn binary_files_are_noted_as_grep_does() {
    let dir = scratch("binary");
    std::fs::write(dir.join("bin"), b"needle\0zz\nneedle\n").unwrap();
    std::fs::write(dir.join("txt"), b"needle\n").unwrap();
    for args in [
        &["needle", "bin", "txt"][..],
        &["-c", "needle", "bin", "txt"],
        &["-l", "needle", "bin"],
        &["zzz", "bin"],
    ] {
        let grep = run(tool("grep", &dir).args(args));
        let ours = run(pgrep_mail(&dir).args(args));
        assert_eq!(grep.status.code(), ours.status.code(), "{args:?}");
        eqnice!(text(&grep.stdout), text(&ours.stdout));
        eqnice!(
            text(&grep.stderr).replace("grep: ", "pgrep-mail: "),
            text(&ours.stderr)
        );
    }
}

#[test]
fn exit_statuses_are_greps() {
    let dir = scratch("status");
    std::fs::write(dir.join("a"), "alpha\n").unwrap();
    let cases: &[&[&str]] = &[
        &["alpha", "a"],
        &["beta", "a"],
        &["alpha", "a", "missing"],
        &["-q", "alpha", "a", "missing"],
        &["-q", "beta", "a", "missing"],
        &["-s", "alpha", "missing"],
        &["-s", "alpha", "a", "missing"],
    ];
    for args in cases {
        let grep = run(tool("grep", &dir).args(*args));
        let ours = run(pgrep_mail(&dir).args(*args));
        assert_eq!(grep.status.code(), ours.status.code(), "{args:?}");
        eqnice!(text(&grep.stdout), text(&ours.stdout));
        assert_eq!(
            grep.stderr.is_empty(),
            ours.stderr.is_empty(),
            "{args:?}: {}",
            text(&ours.stderr)
        );
    }
}

#[test]
fn many_files_keep_walk_order_and_q_stops() {
    // More files than the search threads hold at once, so batches finish out of order and
    // the walk waits for the printer.
    let dir = scratch("many-files");
    let mut expected = String::new();
    for folder in ["a", "b"] {
        std::fs::create_dir_all(dir.join("tree").join(folder)).unwrap();
        for i in 0..3000 {
            let name = format!("tree/{folder}/{i:05}");
            let body = if i % 7 == 0 { "needle\n" } else { "hay\n" };
            if i % 7 == 0 {
                expected.push_str(&format!("{name}:needle\n"));
            }
            std::fs::write(dir.join(&name), body).unwrap();
        }
    }
    let out = run(pgrep_mail(&dir).args(["--threads=3", "-r", "needle", "tree"]));
    assert_eq!(out.status.code(), Some(0));
    eqnice!(expected, text(&out.stdout));
    for (pattern, code) in [("needle", 0), ("hay", 0), ("zzz", 1)] {
        let out = run(pgrep_mail(&dir).args(["--threads=2", "-r", "-q", pattern, "tree"]));
        assert_eq!(out.status.code(), Some(code), "-q {pattern}");
        assert!(out.stdout.is_empty());
    }
}

/// Asserts one line `pgrep-mail: ...` on stderr naming `needle`, and no panic.
fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    prtools_tests::assert_one_line_error("pgrep-mail", &stderr, needle);
    let message = stderr.trim_end();
    assert!(!message.ends_with('.'), "{message}");
    assert!(
        message["pgrep-mail: ".len()..]
            .chars()
            .next()
            .is_some_and(|c| !c.is_uppercase()),
        "{message}"
    );
}

#[test]
fn bad_regex_says_where() {
    let dir = scratch("bad-regex");
    let out = run(pgrep_mail(&dir).args([r"Handy \(board", "."]));
    assert_one_line_error(
        &out,
        r"bad pattern 'Handy \(board': unmatched ( or \(; use -F",
    );
}

#[test]
fn missing_path_is_named() {
    let dir = scratch("missing");
    let out = run(pgrep_mail(&dir).args(["x", "no/such/mbox"]));
    assert_one_line_error(
        &out,
        "no/such/mbox: no such file or directory; check the path",
    );
}

#[test]
fn unreadable_entry_is_reported_and_the_search_goes_on() {
    let dir = scratch("dangling");
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    std::fs::write(dir.join("mail/a"), "needle\n").unwrap();
    std::fs::write(dir.join("mail/c"), "needle\n").unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.join("mail/b")).unwrap();
    let out = run(pgrep_mail(&dir).args(["needle", "mail"]));
    eqnice!("mail/a:needle\nmail/c:needle\n", text(&out.stdout));
    assert_one_line_error(
        &out,
        "mail/b: dangling symbolic link to '/nonexistent/target'; fix its target or remove it",
    );
    // -s silences it; the status still says something went wrong, as grep's.
    let out = run(pgrep_mail(&dir).args(["-s", "needle", "mail"]));
    assert!(out.stderr.is_empty());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn truncated_gzip_is_reported() {
    let dir = scratch("truncated");
    let gz = std::fs::read(grepmail_dir().join("t/mailboxes/mailarc-1.txt.gz")).unwrap();
    std::fs::write(dir.join("box.gz"), &gz[..gz.len() / 2]).unwrap();
    let out = run(pgrep_mail(&dir).args(["--messages", "Handy", "box.gz"]));
    assert_one_line_error(
        &out,
        "box.gz: gzip data is truncated; check it with `gzip -t box.gz`",
    );
}

#[test]
fn usage_errors_are_one_line() {
    let dir = scratch("usage");
    let out = run(pgrep_mail(&dir).args(["--mesages", "x"]));
    assert_one_line_error(&out, "--messages");
    let out = run(pgrep_mail(&dir).args(["--date", "after armageddon", "x", "f"]));
    assert_one_line_error(&out, "'armageddon' is not a date");
    let out = run(pgrep_mail(&dir).args(["--header", "Subject", "x", "f"]));
    assert_one_line_error(&out, "expected FIELD=REGEX");
    let out = run(&mut pgrep_mail(&dir));
    assert_one_line_error(&out, "no PATTERN given");
}

#[test]
fn standard_input_is_read_when_no_path() {
    let dir = scratch("stdin");
    let mut child = pgrep_mail(&dir)
        .args(["-n", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a\nb\nc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    eqnice!("2:b\n", text(&out.stdout));
}

#[test]
fn symlinked_folders_are_followed_and_loops_reported() {
    let dir = scratch("symlink-folders");
    std::fs::create_dir_all(dir.join("store/box")).unwrap();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    std::fs::write(dir.join("store/box/m"), "needle\n").unwrap();
    std::os::unix::fs::symlink("../store/box", dir.join("mail/linked")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("store/box/up")).unwrap();
    let out = run(pgrep_mail(&dir).args(["-l", "needle", "mail"]));
    eqnice!("mail/linked/m\n", text(&out.stdout));
    // A loop is a warning, as grep -R's: named once, the status is the search's.
    assert_eq!(out.status.code(), Some(0));
    eqnice!(
        "pgrep-mail: mail/linked/up: symbolic link loop; not followed\n",
        text(&out.stderr)
    );
}
