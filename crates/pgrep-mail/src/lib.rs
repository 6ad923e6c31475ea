//! pgrep-mail: grep whole mail trees on every core, mbox and Maildir aware.
//!
//! # Design
//!
//! - **Line mode is grep.** The bytes as stored, grep's flags, grep's output (`file:line:`
//!   prefixes, `--` between context groups, `-c`, `-l`, `-L`, `-o`, `-m`) and grep's exit
//!   status: 0 when something was selected, 1 when nothing was, 2 on an error.
//! - **Message modes are grepmail.** `--messages` and the mail filters split mboxes (mboxrd,
//!   mboxcl2, CRLF) and take Maildir files whole ([`mbox`], [`maildir`]), match PATTERN
//!   against the header, the body or both, decoded ([`mime`]) unless `--raw`, and print each
//!   matching message whole, as mbox.
//! - **Every core.** The walk ([`walk`]) lists the files in a stable sorted order; they are
//!   searched in parallel in batches by rayon and printed in that order, so the output never
//!   depends on thread timing. A large file is cut into pieces at message boundaries and
//!   its pieces are searched in parallel ([`search`]), where grep and ripgrep use one core
//!   per file.
//! - **The search loop** runs memchr's memmem (one fixed string), aho-corasick (several) or
//!   the regex crate over whole buffers and only looks for line ends around matches
//!   ([`search::matcher`], [`search::lines`]).
//! - **Compressed folders** (`.gz`, `.bz2`, `.xz`, `.zst`) are read as their contents
//!   ([`decompress`]).
//! - **Errors don't stop the run.** A file that cannot be read is named on standard error and
//!   the search goes on; the exit status is then 2, as grep's.

#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod date;
pub mod decompress;
pub mod maildir;
pub mod mbox;
pub mod mime;
pub mod output;
pub mod search;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use rayon::prelude::*;

use config::{Config, Report};
use output::Style;
use search::Outcome;

/// Files searched between two writes of output: enough to keep every core busy, few enough
/// that output starts soon and memory stays small.
const BATCH: usize = 512;

/// grep's exit statuses.
pub mod exit {
    /// Something was selected.
    pub const MATCH: i32 = 0;
    /// Nothing was selected.
    pub const NO_MATCH: i32 = 1;
    /// An error happened (and `-q` found nothing).
    pub const ERROR: i32 = 2;
}

/// Runs a search and returns the exit status. Errors that stop the run (bad output folder,
/// closed standard output) are returned; errors on single files are reported and counted.
pub fn run(cfg: Config) -> Result<i32> {
    if let Some(root) = &cfg.default_root {
        eprintln!("pgrep-mail: no PATH given, searching {}", root.display());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .context("starting the search threads")?;
    let mut writer = Writer::new(&cfg)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        // The walk runs beside the search and hands over files a batch at a time, so the
        // cores search while directories are still being read.
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<walk::Item>>(4);
        let walk_cfg = &cfg;
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            walk::each_item(walk_cfg, &mut |item| {
                batch.push(item);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    let _ = batches.send(full);
                }
            });
            let _ = batches.send(batch);
        });
        for batch in received {
            let outcomes: Vec<Outcome> = pool.install(|| {
                batch
                    .par_iter()
                    .map(|it| search::item(&cfg, it, &stop))
                    .collect()
            });
            for o in outcomes {
                writer.take(o)?;
                if cfg.report == Report::Quiet && writer.matched {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
            }
            writer.flush()?;
        }
        Ok(())
    })?;
    writer.flush()?;
    Ok(if writer.matched && cfg.report == Report::Quiet {
        exit::MATCH
    } else if writer.error {
        exit::ERROR
    } else if writer.matched {
        exit::MATCH
    } else {
        exit::NO_MATCH
    })
}

/// Prints outcomes in order, to standard output or to `--per-folder` files.
struct Writer<'c> {
    cfg: &'c Config,
    style: Style,
    stdout: std::io::BufWriter<std::io::StdoutLock<'static>>,
    folders: Option<(PathBuf, HashMap<String, File>)>,
    seen: HashSet<Vec<u8>>,
    printed_group: bool,
    matched: bool,
    error: bool,
}

impl<'c> Writer<'c> {
    fn new(cfg: &'c Config) -> Result<Writer<'c>> {
        let folders = match &cfg.per_folder {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!(
                        "--per-folder {}: cannot create it; name a folder you can write",
                        dir.display()
                    )
                })?;
                Some((dir.clone(), HashMap::new()))
            }
            None => None,
        };
        Ok(Writer {
            cfg,
            style: Style {
                color: cfg.color && folders.is_none(),
            },
            stdout: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock()),
            folders,
            seen: HashSet::new(),
            printed_group: false,
            matched: false,
            error: false,
        })
    }

    fn take(&mut self, o: Outcome) -> Result<()> {
        for note in &o.notes {
            self.stdout.flush()?;
            eprintln!("pgrep-mail: {note}");
        }
        self.error |= o.error;
        let cfg = self.cfg;
        let mut text = Vec::new();
        let n = if cfg.message_mode {
            let mut n = 0u64;
            for hit in o.hits {
                if let Some(id) = hit.id {
                    if !self.seen.insert(id) {
                        continue;
                    }
                }
                n += 1;
                text.extend_from_slice(&hit.text);
            }
            n
        } else {
            if cfg.report == Report::Lines && o.printed {
                if cfg.context() && self.printed_group {
                    self.style.group_separator(&mut text);
                }
                self.printed_group = true;
            }
            text.extend_from_slice(&o.out);
            o.count
        };
        self.matched |= n > 0;
        let name = cfg.with_filename.then_some(o.name.as_slice());
        match cfg.report {
            Report::Lines | Report::Messages | Report::Quiet => {}
            Report::Count => {
                if !o.error {
                    self.style.count_line(&mut text, name, n);
                }
            }
            Report::CountMessages => {
                if o.mailbox {
                    self.style.file(&mut text, &o.name);
                    text.extend_from_slice(format!(": {n}\n").as_bytes());
                }
            }
            Report::FilesWith => {
                if n > 0 {
                    self.style.file_line(&mut text, &o.name);
                }
            }
            Report::FilesWithout => {
                if n == 0 && !o.error {
                    self.style.file_line(&mut text, &o.name);
                }
            }
        }
        if text.is_empty() {
            return Ok(());
        }
        match &mut self.folders {
            None => self.stdout.write_all(&text)?,
            Some((dir, files)) => {
                for key in [o.top.as_str(), "all"] {
                    let file = match files.get_mut(key) {
                        Some(f) => f,
                        None => {
                            let path = dir.join(key);
                            let f = File::create(&path).with_context(|| {
                                format!(
                                    "--per-folder: cannot write {}; name a folder you can write",
                                    path.display()
                                )
                            })?;
                            files.entry(key.to_string()).or_insert(f)
                        }
                    };
                    file.write_all(&text)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.stdout.flush()?;
        Ok(())
    }
}

/// An I/O error's reason as pgrep-mail words it: lowercase, without the OS error number.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_string(),
    }
}

/// Whether an error is standard output closing early (`pgrep-mail ... | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A clap error as one line, `pgrep-mail: ...`, with clap's tip and a pointer to `--help`.
pub fn one_line_usage_error(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let tip = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("tip: "))
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    format!("pgrep-mail: {message}{tip}; see `pgrep-mail --help`")
}
