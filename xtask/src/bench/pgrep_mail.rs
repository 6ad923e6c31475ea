//! `cargo xtask bench pgrep-mail [SIZE_MIB [CASE...]]`: pgrep-mail against ripgrep, GNU grep and
//! grepmail on a generated corpus: a Maildir of about 5 KiB messages (200,000 for the
//! default 1024 MiB) and one mbox of the same size.
//!
//! Four searches on each (a literal, a case-insensitive literal, a regex, `-c`), then a
//! BRE with a back-reference against GNU grep and `-F -f` with 10,000 words against rg and
//! grep, then `--messages` against grepmail, then the mbox compressed with zstd against
//! `zstdcat | rg` and `zstdcat | grep`, with pgrep-mail's peak memory there. The targets are relative to ripgrep, so the line searches
//! print each tool's time as a ratio to rg's, and `--messages` as a ratio to grepmail's.
//! grepmail reads a few MB/s, so it and pgrep-mail are both timed on the first
//! `GREPMAIL_SLICE_MIB` of the mbox (cut at a message boundary), which the table says.
//!
//! The cases are `lines` (the four searches on each corpus), `grep` (the back-reference and
//! `-F -f` rows), `messages` (against grepmail) and `zst` (the compressed mbox); naming
//! some runs only those, as in `cargo xtask bench pgrep-mail 1024 messages`, and naming
//! none runs them all.
//!
//! Every tool's output goes to a file, not /dev/null: GNU grep notices /dev/null and stops
//! at the first match. The corpus is deterministic (a fixed-seed generator) and lives in
//! the target folder (`CARGO_TARGET_DIR` when set); it is made once per size and reused.
//! Every tool runs once untimed first, so all of them read from the page cache. The load
//! average is printed before and after: with other work on the machine the figures mean
//! little.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{median, time_once};

/// Timed runs per tool and search.
const ROUNDS: usize = 5;
/// The default corpus size, for the Maildir and again for the mbox.
const DEFAULT_MIB: u64 = 1024;
/// How much of the mbox grepmail (and pgrep-mail, to compare) search: grepmail takes about
/// 1.5 s for it. On a slice of 16 or 64 MiB pgrep-mail takes 5 to 15 ms, much of it process
/// start-up and the mapping of the file, so the ratio measured those more than the search.
const GREPMAIL_SLICE_MIB: u64 = 256;
/// pgrep-mail's targets: at most this fraction of rg's time on the Maildir, and on the mbox
/// (where rg searches one file on one core, and pgrep-mail splits it for every core).
const MAILDIR_TARGET: f64 = 1.0;
const MBOX_TARGET: f64 = 0.6;
/// ...and at least this many times faster than grepmail at `--messages`.
const GREPMAIL_TARGET: f64 = 20.0;
/// Top-level folders of the Maildir, each a Maildir of its own.
const FOLDERS: &[&str] = &[
    "INBOX",
    "lists.hpc",
    "lists.kernel",
    "archive.2023",
    "archive.2024",
    "sent",
    "support",
    "alerts",
];

/// The cases that can be run alone, in the order they run.
const CASES: &[&str] = &["lines", "grep", "messages", "zst"];

/// Runs the benchmark; `args` may give the corpus size in MiB, then the cases to run
/// (all when none is named).
pub fn run(args: &[String]) -> Result<()> {
    let named: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    if let Some(other) = named.iter().find(|c| !CASES.contains(c)) {
        anyhow::bail!(
            "bench pgrep-mail: '{other}' is not a case; the cases are {}, as in `cargo xtask bench pgrep-mail 1024 messages`",
            CASES.join(", ")
        );
    }
    let wants = |case: &str| named.is_empty() || named.contains(&case);
    let mib: u64 = match args.first() {
        Some(a) => a
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("bench pgrep-mail: '{a}' is not a size in MiB; try `cargo xtask bench pgrep-mail 64`"))?,
        None => DEFAULT_MIB,
    };
    crate::cargo(&["build", "--release", "--bins", "-p", "pgrep-mail"])?;
    let target = crate::target_dir();
    let tool = target.join("release/pgrep-mail");
    anyhow::ensure!(
        tool.is_file(),
        "bench pgrep-mail: no {} after the build; is the target folder set elsewhere (build.target-dir)?",
        tool.display()
    );
    let corpus = target.join(format!("bench-mail/{mib}MiB"));
    let (maildir, mbox) = ensure_corpus(&corpus, mib << 20)?;
    let errors = corpus.join("stderr");
    if named == ["zst"] {
        println!("\nload average {}", load_average());
        let verdicts = compressed(&tool, &mbox, &errors)?;
        println!("\nload average after: {}\n", load_average());
        for v in verdicts {
            println!("{v}");
        }
        return Ok(());
    }
    let slice = ensure_slice(&corpus, &mbox, GREPMAIL_SLICE_MIB << 20)?;
    for needed in ["rg", "grep", "grepmail"] {
        anyhow::ensure!(
            Command::new(needed).arg("--version").output().is_ok(),
            "bench pgrep-mail needs `{needed}`: apt-get install -y ripgrep grep grepmail"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\ncorpus: {} ({} messages), {} ({} MiB); {cores} cores; median of {ROUNDS} interleaved rounds; load average {}",
        maildir.display(),
        count_files(&maildir),
        mbox.display(),
        std::fs::metadata(&mbox)?.len() >> 20,
        load_average()
    );

    let searches: [(&str, &[&str]); 4] = [
        ("literal", &["-F", "Opteron"]),
        ("-i literal", &["-i", "-F", "opteron"]),
        ("regex", &["-E", "Opteron [0-9]{4}[a-z]"]),
        ("-c literal", &["-c", "-F", "Opteron"]),
    ];
    println!(
        "\n{:<14} {:<12} {:<11} {:>9} {:>8}",
        "corpus", "search", "tool", "median", "ratio"
    );
    let mut verdicts = Vec::new();
    let line_cases = if wants("lines") {
        &[
            ("Maildir", &maildir, MAILDIR_TARGET),
            ("mbox", &mbox, MBOX_TARGET),
        ][..]
    } else {
        &[]
    };
    for &(label, root, target) in line_cases {
        for (name, flags) in searches {
            let pm = {
                let (t, f, r) = (tool.clone(), flags, root.clone());
                move || {
                    let mut c = Command::new(&t);
                    c.arg("-r").args(f).arg(&r);
                    c
                }
            };
            let rg = {
                let (f, r) = (flags, root.clone());
                move || {
                    let mut c = Command::new("rg");
                    c.args(["--no-config", "--no-ignore", "--hidden", "--no-heading"])
                        .args(f.iter().filter(|a| **a != "-E"))
                        .arg(&r);
                    c
                }
            };
            let grep = {
                let (f, r) = (flags, root.clone());
                move || {
                    let mut c = Command::new("grep");
                    c.env("LC_ALL", "C.UTF-8").arg("-r").args(f).arg(&r);
                    c
                }
            };
            let tools: Vec<Tool> = vec![
                ("pgrep-mail", Box::new(pm)),
                ("rg", Box::new(rg)),
                ("grep -r", Box::new(grep)),
            ];
            let t = report(label, name, &tools, "rg", &errors)?;
            let ratio = t[0] / t[1];
            verdicts.push(format!(
                "{label} {name}: pgrep-mail {ratio:.2}x rg (target <= {target:.2}x): {}",
                if ratio <= target { "met" } else { "MISSED" }
            ));
        }
    }
    if wants("grep") {
        verdicts.extend(grep_language_cases(
            &tool, &maildir, &mbox, &corpus, &errors,
        )?);
    }
    if wants("messages") {
        verdicts.extend(messages_case(&tool, &mbox, &slice, &errors)?);
    }
    if wants("zst") {
        verdicts.extend(compressed(&tool, &mbox, &errors)?);
    }
    println!("\nload average after: {}\n", load_average());
    for v in verdicts {
        println!("{v}");
    }
    Ok(())
}

/// `--messages` against grepmail on the slice, then pgrep-mail alone on the whole mbox.
/// Returns the verdict.
fn messages_case(tool: &Path, mbox: &Path, slice: &Path, errors: &Path) -> Result<Vec<String>> {
    let mut verdicts = Vec::new();
    let slice = slice.to_path_buf();
    let slice_arg = slice.clone();
    let tool_m = tool.to_path_buf();
    let tools: Vec<Tool> = vec![
        (
            "pgrep-mail",
            Box::new(move || {
                let mut c = Command::new(&tool_m);
                c.args(["--messages", "Opteron"]).arg(&slice_arg);
                c
            }),
        ),
        (
            "grepmail",
            Box::new({
                let s = slice.clone();
                move || {
                    let mut c = Command::new("grepmail");
                    c.arg("Opteron").arg(&s);
                    c
                }
            }),
        ),
    ];
    let slice_label = format!("{}MiB mbox", std::fs::metadata(&slice)?.len() >> 20);
    let t = report(&slice_label, "--messages", &tools, "grepmail", errors)?;
    let faster = t[1] / t[0];
    verdicts.push(format!(
        "{slice_label} --messages: pgrep-mail {faster:.1}x faster than grepmail (grepmail {:.3}s; target >= {GREPMAIL_TARGET:.0}x): {}",
        t[1],
        if faster >= GREPMAIL_TARGET { "met" } else { "MISSED" }
    ));
    let tool_full = tool.to_path_buf();
    let full = mbox.to_path_buf();
    let tools: Vec<Tool> = vec![(
        "pgrep-mail",
        Box::new(move || {
            let mut c = Command::new(&tool_full);
            c.args(["--messages", "Opteron"]).arg(&full);
            c
        }),
    )];
    report("mbox", "--messages", &tools, "pgrep-mail", errors)?;
    Ok(verdicts)
}

/// grep's languages where they cost most: a BRE with a back-reference (pgrep-mail's
/// back-tracking engine behind its regex filter) against GNU grep, and `-F -f` with
/// 10,000 words against rg and grep. Returns the verdicts.
fn grep_language_cases(
    tool: &Path,
    maildir: &Path,
    mbox: &Path,
    corpus: &Path,
    errors: &Path,
) -> Result<Vec<String>> {
    let words = corpus.join("words-10000");
    if !words.exists() {
        // Made-up words that are nowhere in the corpus, and one that is.
        let mut text = String::new();
        for i in 0..9_999u64 {
            text.push_str(&format!(
                "q{:x}zw{}\n",
                i.wrapping_mul(2_654_435_761) % 1_000_003,
                i
            ));
        }
        text.push_str("Opteron\n");
        std::fs::write(&words, text)?;
    }
    let mut verdicts = Vec::new();
    for (label, root) in [("Maildir", maildir), ("mbox", mbox)] {
        // A back-reference: "Opteron" then a repeated digit.
        let backref: &[&str] = &["-c", r"Opteron [0-9]*\([0-9]\)\1"];
        let pm = {
            let (t, r) = (tool.to_path_buf(), root.to_path_buf());
            move || {
                let mut c = Command::new(&t);
                c.arg("-r").args(backref).arg(&r);
                c
            }
        };
        let grep = {
            let r = root.to_path_buf();
            move || {
                let mut c = Command::new("grep");
                c.env("LC_ALL", "C.UTF-8").arg("-r").args(backref).arg(&r);
                c
            }
        };
        let tools: Vec<Tool> = vec![("pgrep-mail", Box::new(pm)), ("grep -r", Box::new(grep))];
        let t = report(label, "BRE \\1", &tools, "grep -r", errors)?;
        let ratio = t[0] / t[1];
        verdicts.push(format!(
            "{label} BRE back-reference: pgrep-mail {ratio:.2}x grep (target <= 1.00x): {}",
            if ratio <= 1.0 { "met" } else { "MISSED" }
        ));

        let pm = {
            let (t, r, w) = (tool.to_path_buf(), root.to_path_buf(), words.clone());
            move || {
                let mut c = Command::new(&t);
                c.args(["-r", "-c", "-F", "-f"]).arg(&w).arg(&r);
                c
            }
        };
        let rg = {
            let (r, w) = (root.to_path_buf(), words.clone());
            move || {
                let mut c = Command::new("rg");
                c.args(["--no-config", "--no-ignore", "--hidden", "-c", "-F", "-f"])
                    .arg(&w)
                    .arg(&r);
                c
            }
        };
        let grep = {
            let (r, w) = (root.to_path_buf(), words.clone());
            move || {
                let mut c = Command::new("grep");
                c.env("LC_ALL", "C.UTF-8")
                    .args(["-r", "-c", "-F", "-f"])
                    .arg(&w)
                    .arg(&r);
                c
            }
        };
        let tools: Vec<Tool> = vec![
            ("pgrep-mail", Box::new(pm)),
            ("rg", Box::new(rg)),
            ("grep -r", Box::new(grep)),
        ];
        let t = report(label, "-F -f 10k", &tools, "rg", errors)?;
        let ratio = t[0] / t[1];
        verdicts.push(format!(
            "{label} -F -f 10,000 words: pgrep-mail {ratio:.2}x rg, {:.2}x grep (target <= 1.00x rg): {}",
            t[0] / t[2],
            if ratio <= 1.0 { "met" } else { "MISSED" }
        ));
    }
    Ok(verdicts)
}

/// The mbox compressed with zstd, searched as it is decompressed: pgrep-mail against
/// `zstdcat | rg` and `zstdcat | grep` (zgrep reads gzip only: it searches a `.zst` file's
/// compressed bytes), then pgrep-mail's peak memory. Returns the verdicts.
fn compressed(tool: &Path, mbox: &Path, errors: &Path) -> Result<Vec<String>> {
    for needed in ["zstd", "rg"] {
        anyhow::ensure!(
            Command::new(needed).arg("--version").output().is_ok(),
            "bench pgrep-mail needs `{needed}`: apt-get install -y zstd ripgrep"
        );
    }
    let zst = mbox.with_extension("mbox.zst");
    if !zst.exists() {
        println!("compressing {} with zstd -3 (once)", mbox.display());
        let partial = zst.with_extension("partial");
        let status = Command::new("zstd")
            .args(["-q", "-f", "-3", "-T0", "-o"])
            .arg(&partial)
            .arg(mbox)
            .status()?;
        anyhow::ensure!(status.success(), "zstd failed on {}", mbox.display());
        std::fs::rename(&partial, &zst)?;
    }
    let label = format!("{}MiB .zst", std::fs::metadata(mbox)?.len() >> 20);
    let mut verdicts = Vec::new();
    for (name, flags) in [
        ("literal", &["-F", "Opteron"][..]),
        ("-c literal", &["-c", "-F", "Opteron"]),
    ] {
        let pm = {
            let (t, z) = (tool.to_path_buf(), zst.clone());
            move || {
                let mut c = Command::new(&t);
                c.args(flags).arg(&z);
                c
            }
        };
        let piped = |searcher: &'static str| {
            let z = zst.clone();
            move || {
                let mut c = Command::new("sh");
                c.env("LC_ALL", "C.UTF-8")
                    .arg("-c")
                    .arg(format!("zstdcat \"$1\" | {searcher} {}", flags.join(" ")))
                    .arg("sh")
                    .arg(&z);
                c
            }
        };
        let tools: Vec<Tool> = vec![
            ("pgrep-mail", Box::new(pm)),
            ("zstdcat|rg", Box::new(piped("rg --no-config"))),
            ("zstdcat|grep", Box::new(piped("grep"))),
        ];
        let t = report(&label, name, &tools, "zstdcat|rg", errors)?;
        verdicts.push(format!(
            "{label} {name}: pgrep-mail {:.2}x zstdcat|rg, {:.2}x zstdcat|grep",
            t[0] / t[1],
            t[0] / t[2]
        ));
    }
    let peak = super::memory::measure(
        Command::new(tool).args(["-F", "Opteron"]).arg(&zst),
        "pgrep-mail-bench-no-such-marker",
    )?;
    verdicts.push(format!(
        "{label}: pgrep-mail peak resident memory {} MiB (bound 256 MiB)",
        peak.own_kib >> 10
    ));
    Ok(verdicts)
}

/// A timed tool: its name, and how to make its command.
type Tool = (&'static str, Box<dyn Fn() -> Command>);

/// Times each tool, interleaved, and prints medians and ratios against the tool named
/// `base`. Returns the medians, in seconds, in the order of `tools`.
fn report(
    corpus: &str,
    search: &str,
    tools: &[Tool],
    base: &str,
    errors: &Path,
) -> Result<Vec<f64>> {
    let sink = errors.with_file_name("stdout");
    for (name, build) in tools {
        time_once(&mut to_file(build(), &sink), errors)
            .with_context(|| format!("warming up {name}"))?;
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); tools.len()];
    for _ in 0..ROUNDS {
        for (i, (name, build)) in tools.iter().enumerate() {
            times[i].push(
                time_once(&mut to_file(build(), &sink), errors)
                    .with_context(|| format!("{name} ({search})"))?,
            );
        }
    }
    let medians: Vec<f64> = times.iter().map(|t| median(t).as_secs_f64()).collect();
    let at = tools
        .iter()
        .position(|(name, _)| *name == base)
        .expect("the base tool is one of the tools");
    for (i, (name, _)) in tools.iter().enumerate() {
        let t = medians[i];
        println!(
            "{corpus:<14} {search:<12} {name:<11} {t:>8.3}s {:>7.2}x {base}",
            t / medians[at]
        );
    }
    Ok(medians)
}

/// `cmd` with its output sent to a file. Not /dev/null: GNU grep notices /dev/null and
/// stops at the first match, which would time nothing.
fn to_file(cmd: Command, file: &Path) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("exec \"$@\" > \"$BENCH_STDOUT\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("BENCH_STDOUT", file);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` (relative to the workspace, where
/// [`crate::cargo`] runs cargo) or the workspace's `target`.
fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

/// A small deterministic generator (xorshift64*), so every run and machine gets the same
/// corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: &[&str] = &[
    "ker", "nel", "node", "clus", "ter", "mem", "ory", "sched", "job", "queue", "slot", "rack",
    "disk", "quo", "ta", "mount", "lus", "tre", "net", "work", "port", "host", "pat", "ch", "fix",
    "build", "test", "run", "time", "out", "user", "group", "file", "sys", "tem", "log", "mail",
    "list", "core", "dump", "page", "cache", "swap", "load",
];

/// The first `bytes` of `mbox` and the rest of the message there, as a file of its own
/// (made once), for grepmail. The whole mbox when it is smaller.
fn ensure_slice(dir: &Path, mbox: &Path, bytes: u64) -> Result<PathBuf> {
    if std::fs::metadata(mbox)?.len() <= bytes {
        return Ok(mbox.to_path_buf());
    }
    let slice = dir.join(format!("slice-{}MiB.mbox", bytes >> 20));
    if slice.exists() {
        return Ok(slice);
    }
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(mbox)?, bytes + (1 << 20)),
        &mut head,
    )?;
    // Messages end with a blank line, and the next starts with `From `.
    let cut = head[bytes as usize..]
        .windows(7)
        .position(|w| w == b"\n\nFrom ")
        .map_or(head.len(), |i| bytes as usize + i + 2);
    let partial = dir.join("slice.partial");
    std::fs::write(&partial, &head[..cut])?;
    std::fs::rename(&partial, &slice)?;
    Ok(slice)
}

/// Makes the corpus unless it is there already. Returns the Maildir and the mbox.
fn ensure_corpus(dir: &Path, bytes: u64) -> Result<(PathBuf, PathBuf)> {
    let maildir = dir.join("Maildir");
    let mbox = dir.join("all.mbox");
    let done = dir.join("complete");
    if done.exists() {
        return Ok((maildir, mbox));
    }
    println!(
        "generating {} MiB of mail in {} (once)",
        bytes >> 20,
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    for folder in FOLDERS {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(folder).join(sub))?;
        }
    }
    let words: Vec<String> = {
        let mut rng = Rng(0x5eed_0001);
        (0..2000)
            .map(|_| {
                let n = 1 + rng.below(3);
                (0..n)
                    .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                    .collect()
            })
            .collect()
    };
    let mut rng = Rng(0x5eed_0002);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&mbox)?);
    let (mut written, mut i) = (0u64, 0u64);
    let mut msg = Vec::with_capacity(16 << 10);
    while written < bytes {
        msg.clear();
        let day = 1 + i % 28;
        let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
        let sender = &words[rng.below(words.len() as u64) as usize];
        writeln!(msg, "Return-Path: <{sender}@example.org>")?;
        writeln!(msg, "From: {sender} <{sender}@example.org>")?;
        writeln!(msg, "To: hpc-users@example.org")?;
        let subject: Vec<&str> = (0..5)
            .map(|_| words[rng.below(words.len() as u64) as usize].as_str())
            .collect();
        writeln!(msg, "Subject: Re: {}", subject.join(" "))?;
        writeln!(msg, "Date: Mon, {day} Jan 2024 {h:02}:{m:02}:{s:02} +0000")?;
        writeln!(
            msg,
            "Message-ID: <{i}.{}@example.org>",
            rng.next() % 1_000_000
        )?;
        writeln!(msg, "Content-Type: text/plain; charset=us-ascii\n")?;
        let lines = 40 + rng.below(60);
        for _ in 0..lines {
            let mut line = String::new();
            while line.len() < 60 {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&words[rng.below(words.len() as u64) as usize]);
            }
            // About one line in 3,000 names the needle, in one of its cases.
            if rng.below(3000) == 0 {
                let needle = ["Opteron", "OPTERON", "opteron"][rng.below(3) as usize];
                line.push_str(&format!(
                    " {needle} {}{}",
                    1000 + rng.below(9000),
                    ["a", "x", " node"][rng.below(3) as usize]
                ));
            }
            writeln!(msg, "{line}")?;
        }
        let folder = FOLDERS[(i % FOLDERS.len() as u64) as usize];
        let sub = if i % 10 == 0 { "new" } else { "cur" };
        std::fs::write(
            maildir
                .join(folder)
                .join(sub)
                .join(format!("{}.{i}.bench:2,S", 1_700_000_000 + i)),
            &msg,
        )?;
        let from_line =
            format!("From {sender}@example.org Mon Jan {day:>2} {h:02}:{m:02}:{s:02} 2024\n");
        out.write_all(from_line.as_bytes())?;
        out.write_all(&msg)?;
        out.write_all(b"\n")?;
        written += msg.len() as u64;
        i += 1;
    }
    out.flush()?;
    std::fs::write(&done, format!("{i} messages\n"))?;
    Ok((maildir, mbox))
}
