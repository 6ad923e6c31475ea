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
//! - **Every core.** The walk ([`walk`]) lists the files in a stable sorted order and hands
//!   them, a small batch at a time, to rayon's threads as it goes; the batches are printed
//!   in walk order whatever order they finish in, so the output never depends on thread
//!   timing. A large file is cut into pieces at message boundaries and its pieces are
//!   searched in parallel ([`search`]), where grep and ripgrep use one core per file.
//! - **Little per file.** A Maildir is mostly small files, so what each costs besides the
//!   search decides the speed: it is read into a buffer each thread reuses, with no `stat`
//!   ([`decompress`]), its name moves from the walk to the output without a copy, and no
//!   thread waits for a batch to end before starting the next.
//! - **The search loop** runs memchr's memmem (one fixed string), aho-corasick (several),
//!   the regex crate (grep's BRE and ERE, parsed by [`search::gnu`] and written in its
//!   syntax), a back-tracker behind a regex filter (back-references), or PCRE2 (`-P`) over
//!   whole buffers and only looks for line ends around matches ([`search::matcher`] has the
//!   table, [`search::lines`]). Characters, classes and case are the locale's ([`locale`]).
//! - **Run as `grep`** (a link named `grep`, `egrep` or `fgrep`), pgrep-mail is GNU grep down
//!   to its messages and its rules for folders (`Is a directory` without `-r`); run as
//!   pgrep-mail it searches folders recursively and words its messages with hints.
//! - **Compressed folders** (`.gz`, `.bz2`, `.xz`, `.zst`) are searched as they are
//!   decompressed, a window at a time, in memory bounded whatever they expand to
//!   ([`decompress`], [`search::stream`]).
//! - **Errors don't stop the run.** A file that cannot be read is named on standard error and
//!   the search goes on; the exit status is then 2, as grep's.

#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod date;
pub mod decompress;
pub mod locale;
pub mod maildir;
pub mod mbox;
pub mod mime;
pub mod output;
pub mod search;
pub mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use anyhow::{Context, Result};

use config::{Config, Report};
use output::Style;
use search::Outcome;

/// Files a search thread takes at a time. Handing over a batch costs a spawn and a
/// message, so a batch holds a few dozen Maildir messages; few enough that the cores share
/// the files evenly and output starts soon.
const BATCH: usize = 64;

/// Batches handed out and not yet printed, per search thread. A batch that finishes before
/// an earlier one waits for it; this bounds the memory such waiting output takes, and how
/// far the walk runs ahead. The walk reads and sorts a whole folder before it hands out the
/// first of its files, so the search threads need work queued to cover that: a few
/// thousand small files each, a few milliseconds.
const IN_FLIGHT_PER_THREAD: usize = 64;

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
    if cfg.skip_read {
        // Nothing can be selected: grep opens nothing, and -L names every file.
        let mut failed = false;
        if cfg.report == Report::FilesWithout {
            let mut out = std::io::stdout().lock();
            for input in &cfg.inputs {
                let name = match input {
                    config::Input::Stdin => cfg.label.clone(),
                    config::Input::Path(p) => {
                        // -L opens each file (but reads none): a missing one is an error.
                        if let Err(e) = std::fs::metadata(p) {
                            if !cfg.no_messages {
                                out.flush()?;
                                eprintln!("{}: {}: {}", prog(), p.display(), strerror(&e));
                            }
                            failed = true;
                            continue;
                        }
                        p.as_os_str().as_encoded_bytes().to_vec()
                    }
                };
                out.write_all(&name)?;
                out.write_all(if cfg.null { b"\0" } else { b"\n" })?;
            }
            out.flush()?;
        }
        return Ok(if failed { exit::ERROR } else { exit::NO_MATCH });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .context("starting the search threads")?;
    let mut writer = Writer::new(&cfg)?;
    let stop = AtomicBool::new(false);
    // The walk runs on this thread and hands each batch of files to the pool as soon as it
    // is full, so the cores search while folders are still being read; this thread prints
    // what comes back, in walk order, between folders and once the walk is done.
    pool.in_place_scope(|scope| -> Result<()> {
        let (done, finished) = mpsc::channel::<(u64, Vec<Outcome>)>();
        let mut order = InOrder {
            writer: &mut writer,
            finished,
            waiting: BTreeMap::new(),
            sent: 0,
            printed: 0,
            limit: (cfg.threads * IN_FLIGHT_PER_THREAD) as u64,
            stop: &stop,
        };
        let (cfg, stop) = (&cfg, &stop);
        let send = |batch: Vec<walk::Item>, order: &mut InOrder| {
            let mut reply = Reply {
                seq: order.sent,
                outcomes: Vec::with_capacity(batch.len()),
                done: done.clone(),
            };
            order.sent += 1;
            scope.spawn(move |_| {
                for it in batch {
                    reply.outcomes.push(search::item(cfg, it, stop));
                }
            });
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut failed = None;
        let walked = walk::each_item(cfg, &mut |item| {
            batch.push(item);
            if batch.len() == BATCH {
                send(
                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    &mut order,
                );
                if let Err(e) = order.print_ready() {
                    failed = Some(e);
                    return ControlFlow::Break(());
                }
            }
            if order.writer.done() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Some(e) = failed {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        if walked.is_continue() && !batch.is_empty() {
            send(batch, &mut order);
        }
        order.print_rest()
    })?;
    writer.flush()?;
    writer.error |= search::perl::gave_up();
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

/// Prints the batches of outcomes that come back from the search threads in the order they
/// were sent, holding back those that finish early.
struct InOrder<'w, 'c> {
    writer: &'w mut Writer<'c>,
    finished: mpsc::Receiver<(u64, Vec<Outcome>)>,
    /// Finished batches waiting for an earlier one, by number.
    waiting: BTreeMap<u64, Vec<Outcome>>,
    /// Batches sent, and printed (the next to print).
    sent: u64,
    printed: u64,
    /// How many batches may be sent and not printed.
    limit: u64,
    stop: &'w AtomicBool,
}

impl InOrder<'_, '_> {
    /// Prints every batch that is ready, waiting for more while too many are out.
    fn print_ready(&mut self) -> Result<()> {
        while let Ok((seq, outcomes)) = self.finished.try_recv() {
            self.waiting.insert(seq, outcomes);
        }
        self.print_waiting()?;
        while self.sent - self.printed >= self.limit && !self.writer.done() {
            self.wait_one()?;
        }
        Ok(())
    }

    /// Prints every batch still out, waiting for each.
    fn print_rest(&mut self) -> Result<()> {
        self.print_waiting()?;
        while self.printed < self.sent && !self.writer.done() {
            self.wait_one()?;
        }
        Ok(())
    }

    /// Waits for one batch to finish, then prints what it makes ready.
    fn wait_one(&mut self) -> Result<()> {
        // Output waits in the buffer only while nothing is ready to join it.
        self.writer.flush()?;
        let (seq, outcomes) = self
            .finished
            .recv()
            .expect("a batch sent is always answered");
        self.waiting.insert(seq, outcomes);
        self.print_waiting()
    }

    fn print_waiting(&mut self) -> Result<()> {
        while let Some(outcomes) = self.waiting.remove(&self.printed) {
            self.printed += 1;
            for o in outcomes {
                if self.writer.done() {
                    self.stop.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                self.writer.take(o)?;
            }
        }
        Ok(())
    }
}

/// A batch's outcomes, sent back when the batch is done with, even if its search panicked
/// (the panic then ends the run when the scope ends, rather than leaving the printer
/// waiting for the batch forever).
struct Reply {
    seq: u64,
    outcomes: Vec<Outcome>,
    done: mpsc::Sender<(u64, Vec<Outcome>)>,
}

impl Drop for Reply {
    fn drop(&mut self) {
        // The receiver outlives every batch: the scope waits for them all.
        let _ = self
            .done
            .send((self.seq, std::mem::take(&mut self.outcomes)));
    }
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
    /// The text for one outcome, kept from outcome to outcome: with `-c` every file of a
    /// Maildir adds a line, and each would otherwise cost an allocation.
    text: Vec<u8>,
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
            text: Vec::new(),
        })
    }

    fn take(&mut self, mut o: Outcome) -> Result<()> {
        for note in &o.notes {
            self.stdout.flush()?;
            eprintln!("{}: {note}", prog());
        }
        self.error |= o.error;
        let cfg = self.cfg;
        let mut text = std::mem::take(&mut self.text);
        text.clear();
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
                if let (Some((start, end)), Some(spool)) = (hit.span, &mut o.spool) {
                    self.write(&o.top, &text)?;
                    text.clear();
                    spool.copy_range(start, end, &mut |b| self.write(&o.top, b))?;
                }
            }
            if o.count > 0 {
                n += o.count;
                if let Some(spool) = &mut o.spool {
                    let end = spool.len();
                    spool.copy_range(0, end, &mut |b| self.write(&o.top, b))?;
                }
            }
            n
        } else {
            if cfg.report == Report::Lines && o.printed {
                if let (true, true, Some(sep)) =
                    (cfg.context(), self.printed_group, &cfg.group_separator)
                {
                    self.style.group_separator(&mut text, sep);
                }
                self.printed_group = true;
            }
            if let Some(spool) = &mut o.spool {
                self.write(&o.top, &text)?;
                text.clear();
                let end = spool.len();
                spool.copy_range(0, end, &mut |b| self.write(&o.top, b))?;
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
                    self.style.count_line(&mut text, name, n, cfg.null);
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
                    self.style.file_line(&mut text, &o.name, cfg.null);
                }
            }
            Report::FilesWithout => {
                if n == 0 && !o.error {
                    self.style.file_line(&mut text, &o.name, cfg.null);
                }
            }
        }
        let written = self.write(&o.top, &text);
        self.text = text;
        written
    }

    /// Writes one outcome's `text`, to standard output or to the files of its top-level
    /// folder `top` and of all.
    fn write(&mut self, top: &str, text: &[u8]) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        match &mut self.folders {
            None => {
                self.stdout.write_all(text)?;
                if self.cfg.line_buffered {
                    self.stdout.flush()?;
                }
            }
            Some((dir, files)) => {
                for key in [top, "all"] {
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
                    file.write_all(text)?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.stdout.flush()?;
        Ok(())
    }

    /// Whether the answer is known and nothing more is printed (`-q` after a match).
    fn done(&self) -> bool {
        self.cfg.report == Report::Quiet && self.matched
    }
}

static PROG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Takes the program's name from `argv[0]`: run as `grep` (or `egrep`, `fgrep`), through a
/// link, pgrep-mail is GNU grep, down to its messages; else it is pgrep-mail.
pub fn set_prog(argv0: &std::ffi::OsStr) {
    let name = std::path::Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = if matches!(name.as_str(), "grep" | "egrep" | "fgrep") {
        "grep".to_string()
    } else {
        "pgrep-mail".to_string()
    };
    let _ = PROG.set(name);
}

/// The name messages start with: `grep` or `pgrep-mail`.
pub fn prog() -> &'static str {
    PROG.get().map_or("pgrep-mail", String::as_str)
}

/// Whether pgrep-mail runs as grep (see [`set_prog`]).
pub fn grep_words() -> bool {
    prog() == "grep"
}

/// An I/O error as grep words it: the C library's text (`No such file or directory`).
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
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

/// `--version`'s first line. Run as grep, its last word is the GNU grep version whose
/// behaviour it follows, which is what scripts (and grep's own tests) read from it.
pub fn version_line() -> String {
    let ours = env!("CARGO_PKG_VERSION");
    if grep_words() {
        format!("grep (pgrep-mail {ours}) 3.8")
    } else {
        format!("pgrep-mail {ours}")
    }
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
    let prog = prog();
    format!("{prog}: {message}{tip}; see `{prog} --help`")
}
