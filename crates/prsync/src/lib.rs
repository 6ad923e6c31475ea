//! prsync: rsync's command line, behaviour and output over prtools' file-tree engine.
//!
//! # Two halves
//!
//! As in rsync, a transfer has a **sender** ([`sender`]: lists the sources in rsync's order
//! with rsync's filters, reads file data, computes deltas against signatures) and a
//! **receiver** ([`receiver`]: rsync's generator and receiver; compares with the destination,
//! itemizes, sends signatures of its old files, patches, links, deletes, sets attributes).
//! Between them pass only plain data: the file list ([`flist::FileEntry`]), per-file requests
//! (an index and an optional [`prtools_delta::Signature`]), and the bytes of a whole file or
//! of a delta stream. This version runs both halves in one process for local copies; the
//! remote agent (`prsync --server`) will carry the same items over prtools' framed protocol.
//!
//! # What matches rsync
//!
//! The resulting tree, and the `-i` lines byte for byte in rsync's order: the file list is
//! sorted as rsync's `f_name_cmp` (files before directories in each directory, directories
//! compared with a trailing `/`, depth first), which is the order rsync's generator visits.
//! rsync runs its generator, receiver and sender as separate processes, so three kinds of
//! lines race in its output: `*deleting` lines, hard links made once their leader arrives,
//! and the rest. prsync prints each kind in rsync's order; where rsync interleaves them
//! differently from run to run, prsync's choice is the generator's logical order.
//!
//! Quick check compares mtimes to the second, as rsync does, and sets them to the
//! nanosecond. Local copies send whole files unless `--no-whole-file` is given (rsync's
//! default); with it, each changed file goes as a delta against the old one.
#![deny(missing_docs)]

pub mod alt_dest;
pub mod backup;
pub mod batch;
pub mod chmod;
pub mod cli;
#[cfg(feature = "acl")]
pub mod fake_acl;
#[cfg(not(feature = "acl"))]
#[path = "fake_acl_none.rs"]
pub mod fake_acl;
pub mod fake_super;
pub mod flist;
pub mod idmap;
pub mod info;
pub mod itemize;
pub mod links;
pub mod list_only;
pub mod log_file;
pub mod more_options;
pub mod no_options;
pub mod out_format;
pub mod pace;
pub mod progress_line;
pub mod received_tree;
pub mod receiver;
pub mod remote;
pub mod rsync_peer;
pub mod rsync_server;
pub mod sender;
pub mod size_arg;
pub mod sparse;
pub mod stats;
pub mod trust;
pub mod version;
pub mod xattrs;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Instant;

use crate::cli::{Options, Remote};
use crate::receiver::{Dest, Receiver};
use crate::sender::{ListOptions, LocalSender, Sender};

/// rsync's exit codes.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Syntax or usage error.
    pub const SYNTAX: i32 = 1;
    /// Error in file I/O (the destination could not be made).
    pub const FILE_IO: i32 = 11;
    /// Errors selecting input/output files or folders (the destination cannot be used).
    pub const SELECT: i32 = 3;
    /// Error in the protocol with the other end.
    pub const PROTOCOL: i32 = 12;
    /// Stopped by SIGINT, SIGTERM or SIGHUP.
    pub const SIGNAL: i32 = 20;
    /// Partial transfer: some files could not be transferred.
    pub const PARTIAL: i32 = 23;
    /// `--stop-at` or `--stop-after` ended the run (rsync's "timeout").
    pub const TIME_LIMIT: i32 = 30;
    /// `--max-delete` stopped some deletions.
    pub const DELETE_LIMIT: i32 = 25;
    /// The remote shell failed: a host could not be reached.
    pub const UNREACHABLE: i32 = 255;
}

/// Runs a transfer and returns rsync's exit status. Errors are printed as `prsync: ...`.
pub fn run(opts: &Options) -> i32 {
    // What rsync says as it parses the rules given, before anything else.
    for note in opts.filters.notes() {
        eprintln!("{note}");
    }
    if opts.trace_filters() {
        for caution in opts
            .filters
            .rules()
            .iter()
            .filter_map(|r| r.whitespace_caution())
        {
            let _ = writeln!(
                std::io::stdout(),
                "[client] {}",
                String::from_utf8_lossy(&caution)
            );
        }
    }
    // Over rsync's protocol the names are settled in each host's handshake, and said
    // there (rsync_peer).
    let rsync_wire = opts.remote != Remote::Local && opts.wire == rsync_peer::Wire::Rsync;
    for line in opts.more.negotiation_lines(opts.compress_level()) {
        if !rsync_wire {
            let _ = writeln!(std::io::stdout(), "{line}");
        }
    }
    if opts.more.list_only && opts.remote != Remote::Local {
        eprintln!(
            "prsync: --list-only of a remote source is not built yet; \
             hint: list it with `prsh -w HOST ls -l PATH`"
        );
        return exit::SYNTAX;
    }
    if let Some(b) = opts.more.batch.as_ref().filter(|b| !b.writes()) {
        return batch::replay::run(opts, b);
    }
    if opts.remote != Remote::Local && opts.wire == rsync_peer::Wire::Rsync {
        return rsync_peer::run(opts);
    }
    if opts.remote != Remote::Local {
        return remote::client::run(opts);
    }
    let start = Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(banner) = opts.list_banner(false) {
        let _ = writeln!(out, "{banner}");
    }
    let mut sender = LocalSender::list(&opts.sources, &list_options(opts), &opts.filters);
    if let Some(code) = sender.fatal {
        let _ = out.flush();
        for e in &sender.errors {
            eprintln!("prsync: {}", e.message);
        }
        return code;
    }
    if opts.more.list_only {
        return list_only::print(opts, &sender, out);
    }
    if let Some(rate) = opts.bwlimit {
        sender.pace(pace::Pacer::new(rate));
    }
    let errors: Vec<String> = sender.errors.iter().map(|e| e.message.clone()).collect();
    let notices = sender.notices.clone();
    transfer(opts, &mut sender, &errors, &notices, start, out)
}

/// What the sender's listing needs from the options.
pub fn list_options(opts: &Options) -> ListOptions {
    ListOptions {
        recursive: opts.recursive,
        // A listing shows every kind, as rsync's does (a link's target only with -l).
        links: opts.links || opts.more.list_only,
        devices: opts.devices || opts.more.list_only,
        specials: opts.specials || opts.more.list_only,
        hard_links: opts.hard_links,
        checksum: opts.checksum,
        copy_links: opts.copy_links,
        chmod: opts.chmod.clone(),
        copy_dirlinks: opts.copy_dirlinks,
        copy_unsafe_links: opts.copy_unsafe_links,
        relative: opts.relative,
        implied_dirs: opts.implied_dirs,
        dirs: opts.dirs,
        prune_empty_dirs: opts.prune_empty_dirs,
        ignore_missing_args: opts.ignore_missing_args,
        delete_missing_args: opts.more.delete_missing_args,
        one_file_system: opts.one_file_system,
        trace_filters: opts.trace_filters(),
        xattrs: opts.more.xattrs,
        fake_super: opts.more.sender_fake_super,
        atimes: opts.more.atimes,
        acls: opts.more.acls,
        open_noatime: opts.more.open_noatime,
        insecure_links: opts.insecure_links,
        confine_root: opts.confine_root.clone(),
    }
}

/// The receiving half of a transfer from `sender` into `opts.dest`, printing to `out`: the
/// same whether the sender is here or on another host. `errors` and `notices` are what the
/// sender met while listing. Returns rsync's exit status.
pub fn transfer<S: Sender>(
    opts: &Options,
    sender: &mut S,
    errors: &[String],
    notices: &[String],
    start: Instant,
    out: impl Write,
) -> i32 {
    match opts.more.batch.as_ref().filter(|b| b.writes()) {
        Some(b) => batch::record::transfer(opts, b, sender, errors, notices, start, out),
        None => receive(opts, sender, errors, notices, start, out),
    }
}

/// [`transfer`] without a batch to write.
pub(crate) fn receive<S: Sender>(
    opts: &Options,
    sender: &mut S,
    errors: &[String],
    notices: &[String],
    start: Instant,
    mut out: impl Write,
) -> i32 {
    let flist_time = start.elapsed();
    let mut log = match &opts.more.log_file {
        Some(path) => {
            let format = opts.more.log_file_format.as_deref();
            match log_file::LogFile::open(path, format, opts.insecure_links) {
                Ok(log) => Some(log),
                Err(message) => {
                    let _ = out.flush();
                    eprintln!("prsync: {message}");
                    return exit::FILE_IO;
                }
            }
        }
        None => None,
    };
    if let Some(log) = &mut log {
        log.line(b"building file list");
    }
    let mut partial = false;
    for e in errors {
        let _ = out.flush();
        eprintln!("prsync: {e}");
        partial = true;
    }
    let dest = match destination(opts, sender.file_list()) {
        Ok(d) => d,
        Err((code, message)) => {
            let _ = out.flush();
            eprintln!("prsync: {message}");
            return code;
        }
    };
    // The sender's notices come first, as rsync's come while it lists.
    if !opts.quiet {
        for n in notices {
            let _ = writeln!(out, "{n}");
        }
    }
    if dest.created
        && !opts.quiet
        && (opts.names() || opts.itemize || opts.out_format.as_ref().is_some_and(|f| f.has_item()))
    {
        let shown = trim_slashes(opts.dest.as_bytes());
        let _ = out.write_all(b"created directory ");
        let _ = out.write_all(&itemize::escape(shown, opts.more.high_bytes));
        let _ = out.write_all(b"\n");
    }
    if let Some(dir) = opts.backup.as_ref().and_then(|b| b.dir.as_ref()) {
        let shown = opts.info.backup.map_or(opts.verbose > 1, |l| l > 0);
        if shown && !opts.quiet && !dest.dir.join(dir).exists() {
            let _ = writeln!(out, "(new) backup_dir is {}", dir.display());
        }
    }
    if opts.verbose > 1 && !opts.quiet {
        let _ = match opts.whole_file {
            true => writeln!(
                out,
                "delta-transmission disabled for local transfer or --whole-file"
            ),
            false => writeln!(out, "delta-transmission enabled"),
        };
    }
    if let Err((code, message)) = receiver_folders(opts, &dest.dir) {
        let _ = out.flush();
        eprintln!("prsync: {message}");
        return code;
    }
    let mut receiver = match Receiver::new(opts, sender, dest, &mut out) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("prsync: {e}");
            return exit::FILE_IO;
        }
    };
    receiver.log = log;
    if let Err(e) = receiver.run() {
        eprintln!("prsync: {e}");
        return match opts.more.time_is_up() {
            true => exit::TIME_LIMIT,
            false => exit::PARTIAL,
        };
    }
    let failed = receiver.failed;
    let skipped_deletes = receiver.skipped_deletes;
    let mut log = receiver.log.take();
    let mut stats = std::mem::take(&mut receiver.stats);
    drop(receiver);
    stats.count_list(sender.file_list());
    stats.flist_time = flist_time;
    if let Some(log) = &mut log {
        let line = format!(
            "sent {} bytes  received {} bytes  total size {}",
            stats::human_num(stats.bytes_sent(), opts.human),
            stats::human_num(stats.bytes_received(), opts.human),
            stats::human_num(stats.total_size, opts.human)
        );
        log.line(line.as_bytes());
    }
    if opts.trace_deltasum() {
        let _ = out.write_all(stats.deltasum_line().as_bytes());
    }
    if opts.stats && !opts.quiet {
        let _ = out.write_all(stats.stats_block(opts.human).as_bytes());
    }
    if opts.summary() && !opts.quiet {
        let only_batch = opts
            .more
            .batch
            .as_ref()
            .is_some_and(|b| b.mode == batch::Mode::OnlyWrite);
        let note = match (only_batch, opts.dry_run) {
            (true, _) => " (BATCH ONLY)",
            (false, true) => " (DRY RUN)",
            (false, false) => "",
        };
        let summary = stats.summary(opts.human, start.elapsed(), note);
        let _ = out.write_all(summary.as_bytes());
    }
    let _ = out.flush();
    // rsync ends with "some files/attrs were not transferred (code 23)"; each problem has
    // had its own `prsync:` line already, and the status says the rest.
    if skipped_deletes > 0 {
        eprintln!("Deletions stopped due to --max-delete limit ({skipped_deletes} skipped)");
    }
    if failed || partial {
        return exit::PARTIAL;
    }
    if skipped_deletes > 0 {
        return exit::DELETE_LIMIT;
    }
    exit::OK
}

/// The receiver's other folders, below the destination `dest` when relative: `-T`'s must be
/// a folder (exit 1, rsync's words, checked where rsync's receiver checks it), and neither
/// it nor `--backup-dir` may be reached through another user's symlink (exit 3), so that
/// nobody else can send the new files or the backups where they like.
fn receiver_folders(opts: &Options, dest: &std::path::Path) -> Result<(), (i32, String)> {
    if let Some(dir) = &opts.temp_dir {
        let at = dest.join(dir);
        match std::fs::metadata(&at) {
            Err(_) => {
                return Err((
                    exit::SYNTAX,
                    format!("The temp-dir does not exist: {}", dir.display()),
                ))
            }
            Ok(m) if !m.is_dir() => {
                return Err((
                    exit::SYNTAX,
                    format!("The temp-dir is not a directory: {}", dir.display()),
                ))
            }
            Ok(_) => {}
        }
        trust::check_operator_path(&at, opts.insecure_links)
            .map_err(|m| (exit::SELECT, format!("--temp-dir: {m}")))?;
    }
    if let Some(dir) = opts.partial_dir.as_ref().filter(|d| d.is_absolute()) {
        trust::check_operator_path(dir, opts.insecure_links)
            .map_err(|m| (exit::SELECT, format!("--partial-dir: {m}")))?;
    }
    if let Some(dir) = opts.backup.as_ref().and_then(|b| b.dir.as_ref()) {
        trust::check_operator_path(&dest.join(dir), opts.insecure_links)
            .map_err(|m| (exit::SELECT, format!("--backup-dir: {m}")))?;
    }
    Ok(())
}

/// Where the list goes, by rsync's rules: into DEST when it is a directory; a lone file
/// to DEST itself when DEST is not a directory and has no trailing slash; else DEST is made
/// (its last component only, as rsync does).
fn destination(opts: &Options, list: &[flist::FileEntry]) -> Result<Dest, (i32, String)> {
    let dest = PathBuf::from(&opts.dest);
    trust::check_operator_path(&dest, opts.insecure_links).map_err(|m| (exit::SELECT, m))?;
    let bytes = opts.dest.as_bytes();
    if opts.mkpath && !opts.dry_run {
        // --mkpath: the folders above DEST (DEST itself too when it ends in a slash), so
        // that the rules below find what they expect, as rsync 3.2.3's --mkpath does.
        let above = if bytes.ends_with(b"/") {
            Some(dest.as_path())
        } else {
            dest.parent().filter(|p| !p.as_os_str().is_empty())
        };
        if let Some(above) = above {
            if let Err(e) = std::fs::create_dir_all(above) {
                return Err((
                    exit::FILE_IO,
                    format!(
                        "mkdir -p \"{}\" failed: {}",
                        above.display(),
                        sender::os_reason(&e)
                    ),
                ));
            }
        }
    }
    if let Err(e) = std::fs::metadata(&dest) {
        if e.raw_os_error() == Some(libc::ENOTDIR) {
            return Err((
                exit::SELECT,
                format!(
                    "cannot stat destination \"{}\": {} (a part of the path is a file)",
                    dest.display(),
                    sender::os_reason(&e)
                ),
            ));
        }
    }
    if dest.is_dir() {
        return Ok(Dest {
            dir: dest,
            solo_name: None,
            created: false,
        });
    }
    let solo = list.len() == 1 && !list[0].is_dir() && !bytes.ends_with(b"/");
    if solo {
        let trimmed = trim_slashes(bytes);
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(0) => (PathBuf::from("/"), trimmed[1..].to_vec()),
            Some(i) => (
                PathBuf::from(OsStr::from_bytes(&trimmed[..i])),
                trimmed[i + 1..].to_vec(),
            ),
            None => (PathBuf::from("."), trimmed.to_vec()),
        };
        return Ok(Dest {
            dir,
            solo_name: Some(name),
            created: false,
        });
    }
    if dest.symlink_metadata().is_ok() {
        return Err((
            exit::SYNTAX,
            format!(
                "destination '{}' must be a directory when copying more than 1 file; name a \
                 directory",
                dest.display()
            ),
        ));
    }
    // Nothing to copy (a folder skipped without -r): rsync still makes DEST when it ends in a
    // slash, which says it is a folder.
    if list.is_empty() && !bytes.ends_with(b"/") {
        return Ok(Dest {
            dir: dest,
            solo_name: None,
            created: false,
        });
    }
    if !opts.dry_run {
        if let Err(e) = std::fs::create_dir(&dest) {
            return Err((
                exit::FILE_IO,
                format!(
                    "mkdir \"{}\" failed: {} (its parent folder must exist)",
                    dest.display(),
                    sender::os_reason(&e)
                ),
            ));
        }
    }
    Ok(Dest {
        dir: dest,
        solo_name: None,
        created: true,
    })
}

fn trim_slashes(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 1 && bytes[end - 1] == b'/' {
        end -= 1;
    }
    &bytes[..end]
}
