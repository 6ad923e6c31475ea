//! `cargo xtask bench pgrep-mail [SIZE_MIB]`: pgrep-mail against ripgrep, GNU grep and
//! grepmail on a generated corpus: a Maildir of about 5 KiB messages (200,000 for the
//! default 1024 MiB) and one mbox of the same size.
//!
//! Four searches on each (a literal, a case-insensitive literal, a regex, `-c`), then
//! `--messages` against grepmail. grepmail reads a few MB/s, so it and pgrep-mail are both
//! timed on the first `GREPMAIL_SLICE_MIB` of the mbox (cut at a message boundary), which
//! the table says.
//!
//! The corpus is deterministic (a fixed-seed generator) and lives in the target folder; it
//! is made once per size and reused. Every tool runs once untimed first, so all of them
//! read from the page cache.

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
/// How much of the mbox grepmail (and pgrep-mail, to compare) search.
const GREPMAIL_SLICE_MIB: u64 = 16;
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

/// Runs the benchmark; `args` may give the corpus size in MiB.
pub fn run(args: &[String]) -> Result<()> {
    let mib: u64 = match args.first() {
        Some(a) => a
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("bench pgrep-mail: '{a}' is not a size in MiB; try `cargo xtask bench pgrep-mail 64`"))?,
        None => DEFAULT_MIB,
    };
    crate::cargo(&["build", "--release", "--bins", "-p", "pgrep-mail"])?;
    let target = target_dir();
    let tool = target.join("release/pgrep-mail");
    let corpus = target.join(format!("bench-mail/{mib}MiB"));
    let (maildir, mbox, slice) = ensure_corpus(&corpus, mib << 20)?;
    for needed in ["rg", "grep", "grepmail"] {
        anyhow::ensure!(
            Command::new(needed).arg("--version").output().is_ok(),
            "bench pgrep-mail needs `{needed}`: apt-get install -y ripgrep grep grepmail"
        );
    }
    let errors = corpus.join("stderr");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\ncorpus: {} ({} messages), {}; {cores} cores; median of {ROUNDS} interleaved rounds",
        maildir.display(),
        count_files(&maildir),
        mbox.display()
    );

    let searches: [(&str, &[&str]); 4] = [
        ("literal", &["-F", "Opteron"]),
        ("-i literal", &["-i", "-F", "opteron"]),
        ("regex", &["-E", "Opteron [0-9]{4}[a-z]"]),
        ("-c literal", &["-c", "-F", "Opteron"]),
    ];
    println!(
        "\n{:<8} {:<12} {:<11} {:>9} {:>12}",
        "corpus", "search", "tool", "median", "vs pgrep-mail"
    );
    for (label, root) in [("Maildir", &maildir), ("mbox", &mbox)] {
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
            report(label, name, &tools, &errors)?;
        }
    }
    let slice_arg = slice.clone();
    let tool_m = tool.clone();
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
    report(
        &format!("{GREPMAIL_SLICE_MIB}MiB mbox"),
        "--messages",
        &tools,
        &errors,
    )?;
    let tool_full = tool.clone();
    let full = mbox.clone();
    let tools: Vec<Tool> = vec![(
        "pgrep-mail",
        Box::new(move || {
            let mut c = Command::new(&tool_full);
            c.args(["--messages", "Opteron"]).arg(&full);
            c
        }),
    )];
    report("mbox", "--messages", &tools, &errors)?;
    println!("\ntargets: Maildir no slower than rg (ratio <= 1.00); mbox at most 0.60x rg; --messages at least 20x faster than grepmail");
    Ok(())
}

/// A timed tool: its name, and how to make its command.
type Tool = (&'static str, Box<dyn Fn() -> Command>);

/// Times each tool, interleaved, and prints medians and ratios against the first.
fn report(corpus: &str, search: &str, tools: &[Tool], errors: &Path) -> Result<()> {
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
    let base = median(&times[0]).as_secs_f64();
    for (i, (name, _)) in tools.iter().enumerate() {
        let t = median(&times[i]).as_secs_f64();
        println!(
            "{corpus:<8} {search:<12} {name:<11} {t:>8.3}s {:>11.2}x",
            t / base
        );
    }
    Ok(())
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

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

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

/// Makes the corpus unless it is there already. Returns the Maildir, the mbox and the mbox
/// slice for grepmail.
fn ensure_corpus(dir: &Path, bytes: u64) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let maildir = dir.join("Maildir");
    let mbox = dir.join("all.mbox");
    let slice = dir.join("slice.mbox");
    let done = dir.join("complete");
    if done.exists() {
        return Ok((maildir, mbox, slice));
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
    let mut slice_out = Some(std::io::BufWriter::new(std::fs::File::create(&slice)?));
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
        for w in [Some(&mut out), slice_out.as_mut()].into_iter().flatten() {
            w.write_all(from_line.as_bytes())?;
            w.write_all(&msg)?;
            w.write_all(b"\n")?;
        }
        written += msg.len() as u64;
        i += 1;
        if written >= GREPMAIL_SLICE_MIB << 20 {
            if let Some(mut s) = slice_out.take() {
                s.flush()?;
            }
        }
    }
    out.flush()?;
    if let Some(mut s) = slice_out.take() {
        s.flush()?;
    }
    std::fs::write(&done, format!("{i} messages\n"))?;
    Ok((maildir, mbox, slice))
}
