//! `--wire=rsync`: a push to hosts that have only a stock rsync, over rsync's own protocol
//! (crate prtools-rsync-wire) on the same remote shell, with no prsync agent on the host.
//!
//! This covers what a mirror needs: `-r -l -p -t -g -o -D`, `-i`, `-n`, `-W`, `-c` (the
//! list carries each regular file's checksum), `-B`, `--bwlimit`, `--out-format`,
//! `-z` (zlibx negotiated with an rsync 3.2 or later, else zlib; zlibx or zlib by
//! `--compress-choice`; see prtools-rsync-wire's `compress`), `--checksum-choice`
//! (xxh128, negotiated by default, xxh3, xxh64, md5), `--debug=NSTR`,
//! `--delete` and filter rules (sent to the server as rsync sends them: a receiving server
//! spares what they exclude, a sending one lists by them), a push to one host or many, or
//! a pull from one. Anything else is refused
//! with one line that names the option, rather than half-done.
//!
//! A push to many runs in the agent path's client, one connection per host: the sources
//! are listed once (by prsync's own sender), the list is encoded once per protocol version
//! and flag form (varint flags or not) and the same bytes go to every host that speaks it. There, with the default wire, a host
//! where the agent cannot run (another machine, a noexec home, `--no-bootstrap`) is served
//! by its rsync in the same run ([`serve`]).

mod filters;
mod link;
mod list;
mod pull;
mod push;
mod report;
mod shared_reads;

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prtools_rsync_wire::checksum::Checksum;
use prtools_rsync_wire::compress::Asked;
use prtools_rsync_wire::handshake::{self, HandshakeError, Session};
use prtools_rsync_wire::negotiate::Wants;
use prtools_rsync_wire::server_args::{self, ServerOptions};
use prtools_rsync_wire::PROTOCOL_NEWEST;
use prtools_transport::{
    shell_argv, CannotRun, Connection, HostError, Interrupt, KillHandle, Target,
};

use crate::cli::{DeleteMode, Options, Remote};
use crate::exit;
use crate::sender::LocalSender;

/// What prsync talks to on the hosts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Wire {
    /// prsync's own agent, uploaded to the host when it is missing
    #[default]
    Agent,
    /// the host's own rsync, over rsync's protocol (30 to 32)
    Rsync,
}

/// How long the host's rsync has to answer the handshake, beyond ssh's connect timeout.
const START_GRACE: Duration = Duration::from_secs(30);
/// How long the remote shell has to exit once the session is over.
const EXIT_GRACE: Duration = Duration::from_secs(30);
/// rsync's exit status for a timeout.
const TIMEOUT: i32 = 30;
/// rsync's exit status for vanished source files.
const VANISHED: i32 = 24;

/// Where a session's words go: the terminal for a run of one host, or the run's printer,
/// which prefixes each line with the host and folds the hosts' errors, for a run of many.
pub trait Voice: Send + Sync {
    /// Bytes for stdout: `-i` lines and the server's notices.
    fn out(&self, bytes: &[u8]);
    /// Bytes for stderr, as the server (or the sender) wrote them.
    fn err(&self, bytes: &[u8]);
    /// prsync's own line about `host`, without `prsync: ` and the host's name.
    fn note(&self, host: &str, line: &str);
}

/// A run of one host: stdout and stderr as rsync writes them.
pub struct Console;

impl Voice for Console {
    fn out(&self, bytes: &[u8]) {
        let _ = io::stdout().write_all(bytes);
    }

    fn err(&self, bytes: &[u8]) {
        let _ = io::stdout().flush();
        let _ = io::stderr().write_all(bytes);
    }

    fn note(&self, host: &str, line: &str) {
        let _ = io::stdout().flush();
        eprintln!("prsync: {host}: {line}");
    }
}

/// Refuses, with one line, what `--wire=rsync` cannot do for these options: the exit
/// status then, else None.
fn refuse(opts: &Options) -> Option<i32> {
    if let Remote::Pull(_) = opts.remote {
        if let Some(option) = pull_unsupported(opts) {
            eprintln!("prsync: --wire=rsync does not do {option} in a pull yet; hint: drop it, or use --wire=agent");
            return Some(exit::SYNTAX);
        }
    }
    if let Some(option) = unsupported(opts) {
        eprintln!(
            "prsync: --wire=rsync does not do {option} yet; hint: drop it, or use --wire=agent"
        );
        return Some(exit::SYNTAX);
    }
    if server_paths(opts).is_none() {
        eprintln!("prsync: --wire=rsync needs UTF-8 remote paths; hint: use --wire=agent");
        return Some(exit::SYNTAX);
    }
    if let Err(e) = asked(opts).settle(None) {
        eprintln!("prsync: --wire=rsync: {e}; hint: {COMPRESS_HINT}");
        return Some(exit::SYNTAX);
    }
    None
}

/// What to say when the compression asked for is not one rsync's protocol has here.
const COMPRESS_HINT: &str = "give --compress-choice=zlibx or zlib, or use --wire=agent";

/// `-z`, `--compress-choice` and `--compress-level`, as rsync's options give them.
fn asked(o: &Options) -> Asked {
    Asked {
        z: u8::from(o.compress),
        choice: o.more.compress_choice.clone(),
        level: o.more.compress_level,
    }
}

/// The paths the server is given: the destination of a push, the sources of a pull; None
/// when one is not UTF-8.
fn server_paths(opts: &Options) -> Option<Vec<String>> {
    let typed: Vec<&OsStr> = match opts.remote {
        Remote::Pull(_) => opts.sources.iter().map(|s| s.as_os_str()).collect(),
        _ => vec![opts.dest.as_os_str()],
    };
    typed
        .into_iter()
        .map(|path| match std::str::from_utf8(path.as_bytes()) {
            Ok("") => Some(".".to_string()),
            Ok(p) => Some(p.to_string()),
            Err(_) => None,
        })
        .collect()
}

/// What rsync is told to do, on what: the remote shell's command line, and with `-s` the
/// arguments written first on the connection (else nothing).
fn server_command(opts: &Options) -> (String, Vec<u8>) {
    let pulling = matches!(opts.remote, Remote::Pull(_));
    let server = ServerOptions {
        server_sends: pulling,
        verbose: opts.verbose,
        links: opts.links,
        whole_file: opts.whole_file,
        hard_links: opts.hard_links,
        prune_empty_dirs: opts.prune_empty_dirs,
        owner: opts.owner,
        group: opts.group,
        devices: opts.devices,
        specials: opts.specials,
        times: opts.times,
        perms: opts.perms,
        recursive: opts.recursive,
        itemize: server_itemize(opts),
        // rsync says --delete-excluded alone: it implies --delete.
        delete: opts.delete != DeleteMode::Off && !opts.filters.delete_excluded(),
        dry_run: opts.dry_run,
        partial: opts.partial,
        mkpath: opts.mkpath,
        compress: asked(opts),
        partial_dir: opts
            .partial_dir
            .as_ref()
            .and_then(|d| d.to_str())
            .map(str::to_string),
        secluded: opts.protect_args,
        long: long_options(opts, pulling),
        backups: opts.backup.is_some(),
        update: opts.update,
        dirs: opts.dirs,
        ignore_times: opts.ignore_times,
        checksum: opts.checksum,
        relative: opts.relative,
        one_file_system: opts.one_file_system,
        sparse: opts.more.sparse,
        keep_dirlinks: opts.keep_dirlinks,
        // rsync implies -O with backups beside the files, and then does not say it.
        omit_dir_times: opts.omit_dir_times && opts.backup.as_ref().is_none_or(|b| b.dir.is_some()),
        omit_link_times: opts.more.omit_link_times,
        executability: opts.more.executability,
        copy_links: opts.copy_links,
        copy_dirlinks: opts.copy_dirlinks,
    };
    let argv = server.argv(&server_paths(opts).unwrap_or_default());
    let (shell, preamble) = if opts.protect_args {
        server_args::secluded(&argv)
    } else {
        (argv, Vec::new())
    };
    let mut command = program(opts).to_string();
    for arg in shell {
        command.push(' ');
        command.push_str(&quote(&arg));
    }
    (command, preamble)
}

/// `--bwlimit` in KiB a second, rounded as rsync rounds it; None for no limit (0 too).
fn bwlimit_kib(opts: &Options) -> Option<u64> {
    opts.bwlimit.map(|b| (b + 512) / 1024).filter(|&k| k > 0)
}

/// rsync's `stdout_format_has_i` as a receiving server is told it: the `-i` count, or
/// with an `--out-format` the count with its low bit set when it has `%i`, else none.
fn server_itemize(opts: &Options) -> u8 {
    let count = u8::from(opts.itemize) + u8::from(opts.itemize_all);
    match &opts.out_format {
        Some(f) if f.has_item() => (count | 1).min(2),
        Some(_) => 0,
        None => count,
    }
}

/// The long options the server is given beyond [`ServerOptions`]' own, in the order rsync's
/// `server_options` gives them: a receiving server (`pulling` false) is told what it acts
/// on by itself, a sending one only what shapes its deltas.
fn long_options(opts: &Options, pulling: bool) -> Vec<String> {
    let mut long = Vec::new();
    let text = |p: &std::path::Path| p.to_string_lossy().into_owned();
    // A receiving server told of --out-format: what it needs to know of it, as rsync's
    // client says it (with %i, ServerOptions' --log-format says it).
    if let Some(format) = opts
        .out_format
        .as_ref()
        .filter(|f| !pulling && !f.has_item())
    {
        if format.has(b'o') {
            long.push("--log-format=%o".into());
        } else if opts.verbose == 0 {
            long.push("--log-format=X".into());
        }
    }
    // -B goes both ways: a receiving server's generator cuts its blocks by it, and a
    // sending one checks it against the sums it gets.
    if let Some(b) = opts.block_size {
        long.push(format!("-B{b}"));
    }
    // --bwlimit goes to the server too, in KiB a second, as rsync rounds it.
    if let Some(kib) = bwlimit_kib(opts) {
        long.push(format!("--bwlimit={kib}"));
    }
    if let Some(backup) = &opts.backup {
        // refuse() has made sure that the folder and the suffix are UTF-8.
        if let Some(dir) = &backup.dir {
            long.extend(["--backup-dir".to_string(), text(dir)]);
        }
        let default: &[u8] = if backup.dir.is_some() { b"" } else { b"~" };
        if backup.suffix != default {
            long.push(format!(
                "--suffix={}",
                String::from_utf8_lossy(&backup.suffix)
            ));
        }
    }
    if !pulling {
        let more = &opts.more;
        if let Some(n) = more.max_delete {
            long.push(format!(
                "--max-delete={}",
                if n == 0 { -1 } else { n as i64 }
            ));
        }
        if let Some(n) = opts.min_size {
            long.push(format!("--min-size={n}"));
        }
        if let Some(n) = opts.max_size {
            long.push(format!("--max-size={n}"));
        }
        match opts.delete {
            DeleteMode::Before => long.push("--delete-before".into()),
            DeleteMode::After => long.push("--delete-after".into()),
            DeleteMode::During | DeleteMode::Off => {}
        }
        if opts.filters.delete_excluded() {
            long.push("--delete-excluded".into());
        }
        if more.force {
            long.push("--force".into());
        }
        if opts.size_only {
            long.push("--size-only".into());
        }
    }
    if opts.stats && !pulling {
        long.push("--stats".to_string());
    }
    if opts.delay_updates && !pulling {
        long.push("--delay-updates".into());
    }
    if opts.copy_unsafe_links {
        long.push("--copy-unsafe-links".into());
    }
    if opts.safe_links {
        long.push("--safe-links".into());
    }
    if opts.numeric_ids {
        long.push("--numeric-ids".into());
    }
    // In a pull this side receives, and maps the ids itself.
    if !pulling {
        if let Some(map) = &opts.usermap {
            long.push(format!("--usermap={}", map.text()));
        }
        if let Some(map) = &opts.groupmap {
            long.push(format!("--groupmap={}", map.text()));
        }
    }
    if opts.ignore_existing && !pulling {
        long.push("--ignore-existing".into());
    }
    if opts.existing && !pulling {
        long.push("--existing".to_string());
    }
    if let Some(dir) = opts.temp_dir.as_ref().filter(|_| !pulling) {
        long.extend(["--temp-dir".to_string(), text(dir)]);
    }
    if let Some(alt) = opts.alt_dest.as_ref().filter(|_| !pulling) {
        for dir in &alt.dirs {
            // refuse() has made sure that each is UTF-8.
            long.push(format!("{}={}", alt.kind.flag(), dir.to_string_lossy()));
        }
    }
    if opts.inplace {
        long.push("--inplace".to_string());
    }
    if let Some(list) = &opts.more.remote_files_from {
        long.extend([
            "--files-from".into(),
            String::from_utf8_lossy(list).into_owned(),
        ]);
        if opts.more.from0 {
            long.push("--from0".into());
        }
        if !opts.relative {
            long.push("--no-relative".into());
        }
    }
    if opts.relative && !opts.implied_dirs {
        long.push("--no-implied-dirs".into());
    }
    if opts.more.preallocate && !pulling {
        long.push("--preallocate".into());
    }
    if opts.more.modify_window > 0 && !pulling {
        long.push(format!("--modify-window={}", opts.more.modify_window));
    }
    if let Some(choice) = &opts.more.checksum_choice {
        // As rsync's client: the server then lists no checksums either.
        long.push(format!("--checksum-choice={choice}"));
    }
    // Last, as rsync's -M: what the user gave the far side as it is.
    long.extend(
        opts.more
            .remote_options
            .iter()
            .map(|o| String::from_utf8_lossy(o).into_owned()),
    );
    long
}

/// `--debug=NSTR`'s lines, as rsync's client prints them once the seed is read: the
/// checksum, and the compression when the data is compressed; "negotiated" when the
/// handshake settled it, not an option.
fn nstr_lines(session: &Session) -> String {
    let how = |negotiated: bool| if negotiated { " negotiated" } else { "" };
    let mut lines = format!(
        "Client{} checksum: {}\n",
        how(session.chosen.checksum.is_some()),
        session.checksum.name()
    );
    if let Some(c) = session.compression {
        lines.push_str(&format!(
            "Client{} compress: {} (level {})\n",
            how(session.chosen.compress.is_some()),
            c.name(),
            c.level
        ));
    }
    lines
}

/// `--checksum-choice`'s checksum, None when it is to be negotiated (resolve() has
/// checked the name).
fn checksum_choice(opts: &Options) -> Option<Checksum> {
    let choice = opts.more.checksum_choice.as_deref()?;
    Checksum::choice(choice).ok().flatten()
}

/// The rsync to run on the hosts.
fn program(opts: &Options) -> &str {
    opts.remote_path.as_deref().unwrap_or("rsync")
}

/// Runs `--wire=rsync` and returns rsync's exit status: a push to one host or a pull from
/// one with ssh started here; a push to many through the agent path's client
/// (remote::client), which serves each host with [`serve`] on its connection.
pub fn run(opts: &Options) -> i32 {
    run_with(opts, None)
}

/// [`run`] for a host whose agent cannot run (`cannot`), or with `--wire=rsync` (None).
fn run_with(opts: &Options, cannot: Option<&CannotRun>) -> i32 {
    if let Some(code) = refuse(opts) {
        return code;
    }
    let (host, pulling) = match &opts.remote {
        Remote::Push(hosts) if hosts.len() == 1 => (&hosts[0], false),
        Remote::Push(_) => return crate::remote::client::run(opts),
        Remote::Pull(host) => (host, true),
        Remote::Local => return exit::SYNTAX,
    };
    let listing = Instant::now();
    // A --files-from list on the host is read there: the list is made once its names come.
    let mut plan = list::Plan::new(if pulling || opts.more.remote_files_from.is_some() {
        list::Listed {
            items: Vec::new(),
            io_error: 0,
            fatal: None,
        }
    } else {
        list::list(opts)
    });
    plan.built = listing.elapsed();
    // A rule file that cannot be taken stops the run before the host is reached, as rsync.
    if let Some(code) = plan.listed.fatal {
        return code;
    }
    let (command, preamble) = server_command(opts);
    let target = Target::new(host.clone(), 0);
    let name = host.host.clone();
    let argv = match shell_argv(&target, &opts.config, &command) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("prsync: {name}: {e}");
            return exit::SYNTAX;
        }
    };
    let voice: Arc<dyn Voice> = Arc::new(Console);
    let mut link = match link::Link::start(&argv, voice.clone()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("prsync: cannot run {}: {}", argv[0], os_text(&e));
            return exit::UNREACHABLE;
        }
    };
    match session(&mut link, opts, &plan, &preamble, cannot, &voice) {
        Ok(code) => code,
        Err(Ended::Failed(code, why)) => {
            voice.note(&name, &why);
            code
        }
        Err(Ended::Hung) => {
            voice.note(
                &name,
                "the remote rsync did not exit after the transfer and was stopped",
            );
            exit::PROTOCOL
        }
    }
}

/// A pull from `host`, whose agent cannot run there (`cannot`), over rsync's protocol
/// instead: [`run`], unless the options ask for what that does not do yet.
pub fn pull_instead(opts: &Options, host: &str, cannot: &CannotRun) -> i32 {
    let refused = if let Some(option) = pull_unsupported(opts) {
        Some(option)
    } else if server_paths(opts).is_none() {
        Some("paths that are not UTF-8")
    } else {
        unsupported(opts)
    };
    if let Some(option) = refused {
        eprintln!(
            "prsync: {host}: prsync's agent cannot run there ({}) and rsync's protocol here does \
             not do {option} yet; hint: drop it, or install prsync there and pass --rsync-path PATH",
            cannot.reason()
        );
        return exit::SYNTAX;
    }
    run_with(opts, Some(cannot))
}

/// How a session ended when it did not end well.
enum Ended {
    /// With this status, for this reason (a line for [`Voice::note`]).
    Failed(i32, String),
    /// The remote shell did not exit: a channel must be stopped by its caller.
    Hung,
}

/// One host's session on a started link: the handshake, the push or pull, the end. The
/// status, said lines (the server's, through `voice`) included. `preamble` is what `-s`
/// writes before the version; `cannot` is why the agent could not run there, for a host
/// that falls back to rsync.
fn session(
    link: &mut link::Link,
    opts: &Options,
    plan: &list::Plan,
    preamble: &[u8],
    cannot: Option<&CannotRun>,
    voice: &Arc<dyn Voice>,
) -> Result<i32, Ended> {
    let pulling = matches!(opts.remote, Remote::Pull(_));
    let started = Instant::now();
    link.input.timeout = Some(opts.config.connect_timeout + START_GRACE);
    // --bwlimit paces this side's writes as rsync's own.
    if let Some(kib) = bwlimit_kib(opts) {
        link.output.limit(kib * 1024);
    }
    // The server is told -z's choice (if any) on its command line; plain -z's name is
    // negotiated when the server turns varint flags on.
    let compress = asked(opts);
    compress
        .settle(None)
        .map_err(|e| Ended::Failed(exit::SYNTAX, format!("{e}; hint: {COMPRESS_HINT}")))?;
    let wants = Wants {
        checksum: checksum_choice(opts),
        compress: compress.negotiates(),
    };
    if !preamble.is_empty() {
        if let Err(e) = link.output.write_all(preamble) {
            let e = HandshakeError::Io(e);
            return Err(failed_start(link, program(opts), cannot, e, voice));
        }
    }
    let mut session =
        match handshake::client(&mut link.input, &mut link.output, PROTOCOL_NEWEST, &wants) {
            Ok(s) => s,
            Err(e) => return Err(failed_start(link, program(opts), cannot, e, voice)),
        };
    session.compression = compress
        .settle(session.chosen.compress)
        .map_err(|e| Ended::Failed(exit::SYNTAX, format!("{e}; hint: {COMPRESS_HINT}")))?;
    if opts.more.debug_nstr {
        voice.out(nstr_lines(&session).as_bytes());
    }
    link.release_stderr();
    link.input.timeout = opts.config.command_timeout;
    let result = if pulling {
        pull::run(link, &session, opts, voice)
    } else if opts.more.remote_files_from.is_some() {
        push::run_listed_there(link, &session, opts, voice)
    } else {
        push::run(link, &session, plan, opts, voice)
    };
    let (code, _) = link.finish(EXIT_GRACE, false);
    if let Ok(outcome) = &result {
        report::totals(opts, &outcome.stats, session.protocol, started, &**voice);
    }
    // This side stopped itself: its own status and line, whatever the server did after.
    if let Err((e, _)) = &result {
        if let Some(f) = e.get_ref().and_then(|i| i.downcast_ref::<Fatal>()) {
            return Err(Ended::Failed(f.code, f.line.clone()));
        }
    }
    match result {
        Ok(outcome) => match code {
            Some(0) => {
                let bits = outcome.io_error | outcome.remote_io_error;
                Ok(if bits & !2 != 0 {
                    exit::PARTIAL
                } else if bits != 0 {
                    VANISHED
                } else {
                    exit::OK
                })
            }
            Some(c) => Ok(c),
            None => Err(Ended::Hung),
        },
        Err((e, error_exit)) => match (code, error_exit) {
            // This side failed first, and the server stopped because it hung up: what
            // failed here is the news.
            (Some(c), None) if c != 0 && failed_here(&e) => Err(Ended::Failed(c, os_text(&e))),
            (Some(c), _) if c != 0 => Ok(c),
            (_, Some(c)) if c != 0 => Ok(c),
            _ if e.kind() == io::ErrorKind::TimedOut => Err(Ended::Failed(
                TIMEOUT,
                format!("{e}; hint: --timeout sets the bound"),
            )),
            _ => Err(Ended::Failed(
                exit::PROTOCOL,
                format!("the rsync protocol broke: {e}"),
            )),
        },
    }
}

/// A run this side stops itself, as rsync's `exit_cleanup` after its own error line: the
/// status and the line, carried in an `io::Error` up to [`session`].
#[derive(Debug)]
pub(super) struct Fatal {
    pub(super) code: i32,
    pub(super) line: String,
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for Fatal {}

/// An error that stops the run with `code`, said as `line`.
pub(super) fn fatal(code: i32, line: String) -> io::Error {
    io::Error::other(Fatal { code, line })
}

/// Whether a session's error is this side's own (a file it could not read or write), not
/// the stream ending because the server stopped first.
fn failed_here(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Other
    )
}

/// Says why the handshake failed, in one line, with the exit status. What the remote side
/// said explains a failed connection, and goes to `voice` first.
fn failed_start(
    link: &mut link::Link,
    program: &str,
    cannot: Option<&CannotRun>,
    e: HandshakeError,
    voice: &Arc<dyn Voice>,
) -> Ended {
    let (code, stderr) = link.finish(Duration::from_secs(5), true);
    let said = String::from_utf8_lossy(&stderr);
    let missing = code == Some(127)
        || said.contains("command not found")
        || said.contains(&format!("{program}: not found"));
    if missing {
        return Ended::Failed(
            exit::PROTOCOL,
            match cannot {
                Some(cannot) => format!(
                    "no rsync on the host and prsync's agent cannot run there ({}); hint: \
                     install rsync on the host",
                    cannot.reason()
                ),
                None => "no rsync on the host; hint: install rsync there, or let prsync \
                         upload its agent (--wire=agent)"
                    .to_string(),
            },
        );
    }
    // After a refused version, what the server said is only its complaint that this side
    // hung up.
    if matches!(e, HandshakeError::Io(_)) {
        voice.err(&stderr);
    }
    if code == Some(255) {
        return Ended::Failed(exit::UNREACHABLE, "ssh could not reach the host".into());
    }
    match e {
        HandshakeError::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            Ended::Failed(TIMEOUT, "the remote rsync did not answer in time".into())
        }
        HandshakeError::Io(_) => Ended::Failed(
            exit::PROTOCOL,
            "the remote rsync closed the connection before the handshake".into(),
        ),
        other => Ended::Failed(exit::PROTOCOL, format!("{other}; hint: use --wire=agent")),
    }
}

/// What every host of a push to many over rsync's protocol shares: the options, the
/// server's command line, and the list (made from the run's one listing when the first
/// such host needs it).
pub struct Fleet {
    opts: Options,
    /// How many hosts the push goes to, for the plan's shared reads.
    hosts: usize,
    command: String,
    preamble: Vec<u8>,
    plan: OnceLock<list::Plan>,
}

impl Fleet {
    /// The fleet of a push to `hosts` hosts.
    pub fn new(opts: &Options, hosts: usize) -> Fleet {
        let (command, preamble) = server_command(opts);
        Fleet {
            opts: opts.clone(),
            hosts,
            command,
            preamble,
            plan: OnceLock::new(),
        }
    }
}

/// Serves one host of a push to many over rsync's protocol, on its connection: `cannot` is
/// why its agent could not run (None with `--wire=rsync`), `sender` the run's listing.
/// Lines go to `voice`; the host's rsync status comes back, or `Err` with the line that
/// says why it failed (with the status it counts as).
pub async fn serve(
    conn: &Connection,
    fleet: Arc<Fleet>,
    sender: &LocalSender,
    cannot: Option<CannotRun>,
    voice: Arc<dyn Voice>,
    interrupt: &mut Interrupt,
) -> Result<Result<i32, (i32, String)>, HostError> {
    if let Some(cannot) = &cannot {
        if let Some(option) = unsupported(&fleet.opts) {
            return Ok(Err((
                exit::SYNTAX,
                format!(
                    "prsync's agent cannot run there ({}) and rsync's protocol here does not do \
                      {option} yet; hint: drop it, or install prsync there and pass \
                     --rsync-path PATH",
                    cannot.reason()
                ),
            )));
        }
        if server_paths(&fleet.opts).is_none() {
            return Ok(Err((
                exit::SYNTAX,
                format!(
                    "prsync's agent cannot run there ({}) and rsync's protocol needs a UTF-8 \
                     destination; hint: install prsync there and pass --rsync-path PATH",
                    cannot.reason()
                ),
            )));
        }
    }
    fleet.plan.get_or_init(|| {
        let mut plan = list::Plan::new(list::of_sender(sender, &fleet.opts));
        plan.reads = shared_reads::SharedReads::new(fleet.hosts);
        plan
    });
    let kill = KillHandle::default();
    let process = conn.spawn_bulk(&fleet.command, &kill).await?;
    let mut link = link::Link::over(process, kill.clone(), voice.clone());
    let work = async move {
        tokio::task::spawn_blocking(move || {
            let plan = fleet
                .plan
                .get()
                .expect("the plan was made before the session");
            let ended = session(
                &mut link,
                &fleet.opts,
                plan,
                &fleet.preamble,
                cannot.as_ref(),
                &voice,
            );
            drop(link);
            ended
        })
        .await
        .map_err(|e| HostError::Other(format!("push task failed: {e}")))
    };
    match conn.bounded(&kill, None, interrupt, work).await? {
        Ok(code) => Ok(Ok(code)),
        Err(Ended::Failed(code, why)) => Ok(Err((code, why))),
        Err(Ended::Hung) => {
            conn.stop(&kill).await;
            Ok(Err((
                exit::PROTOCOL,
                "the remote rsync did not exit after the transfer and was stopped".into(),
            )))
        }
    }
}

/// The first option given that a pull over rsync's protocol cannot do yet.
fn pull_unsupported(o: &Options) -> Option<&'static str> {
    (o.partial_dir.is_some() && o.inplace).then_some("--partial-dir with --inplace")
}

/// The first option given that `--wire=rsync` cannot do yet. In a push this side only
/// lists and sends: what the receiver does goes to the server in rsync's own words (see
/// [`long_options`]), and what shapes the list is done by prsync's own lister. A pull's
/// receiver is this side, and does less.
fn unsupported(o: &Options) -> Option<&'static str> {
    let pulling = matches!(o.remote, Remote::Pull(_));
    let utf8 = |p: &std::path::Path| p.to_str().is_some();
    let checks: &[(bool, &'static str)] = &[
        (
            o.more
                .remote_files_from
                .as_ref()
                .is_some_and(|f| std::str::from_utf8(f).is_err()),
            "a --files-from=HOST:FILE name that is not UTF-8",
        ),
        (
            o.partial_dir.as_ref().is_some_and(|d| d.to_str().is_none()),
            "a --partial-dir that is not UTF-8",
        ),
        (
            o.backup.is_some() && o.inplace && pulling,
            "-b with --inplace",
        ),
        (
            o.backup.as_ref().is_some_and(|b| {
                b.dir.as_deref().is_some_and(|d| !utf8(d))
                    || std::str::from_utf8(&b.suffix).is_err()
            }),
            "a --backup-dir or --suffix that is not UTF-8",
        ),
        (
            o.alt_dest
                .as_ref()
                .is_some_and(|a| a.dirs.iter().any(|d| d.to_str().is_none())),
            "a --compare-dest, --copy-dest or --link-dest folder that is not UTF-8",
        ),
        (
            o.temp_dir.as_deref().is_some_and(|d| !utf8(d)),
            "a --temp-dir that is not UTF-8",
        ),
        (o.remove_source_files, "--remove-source-files"),
        (o.one_file_system > 0 && pulling, "-x"),
        (o.super_user.is_some(), "--super or --no-super"),
        (
            o.more
                .remote_options
                .iter()
                .any(|r| std::str::from_utf8(r).is_err()),
            "a -M option that is not UTF-8",
        ),
        (
            more_unsupported(&o.more, pulling),
            "one of the options given",
        ),
    ];
    checks.iter().find(|(on, _)| *on).map(|(_, name)| *name)
}

/// Whether `more` holds an option `--wire=rsync` cannot do yet: compression is settled
/// apart; a push also hands the receiver's options to the server, and lists as
/// `--fake-super` reads.
fn more_unsupported(more: &crate::more_options::More, pulling: bool) -> bool {
    use crate::more_options::More;
    let mut rest = More {
        compress_level: None,
        compress_chosen: false,
        compress_choice: None,
        checksum_chosen: false,
        checksum_choice: None,
        debug_nstr: false,
        remote_options: Vec::new(),
        omit_link_times: false,
        from0: false,
        remote_files_from: None,
        ..more.clone()
    };
    if !pulling {
        rest = More {
            executability: false,
            force: false,
            max_delete: None,
            modify_window: 0,
            sparse: false,
            preallocate: false,
            fake_super: false,
            sender_fake_super: false,
            ..rest
        };
    }
    rest != More::default()
}

/// An `-i` line (without its newline) as rsync's client prints it: control bytes but tab,
/// and bytes the locale cannot show, as `\#ooo` (`-8` is not spoken on this wire).
fn shown(line: Vec<u8>) -> Vec<u8> {
    static HIGH: OnceLock<crate::itemize::HighBytes> = OnceLock::new();
    let mut line = crate::itemize::escape(&line, *HIGH.get_or_init(Default::default));
    line.push(b'\n');
    line
}

/// `arg` for the remote shell: as it is when it holds nothing the shell would read (but a
/// `~`, which the remote shell expands as it does for rsync), else in single quotes.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^~".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// An OS error as rsync prints one: `No such file or directory (2)`.
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text.replace(&format!(" (os error {code})"), &format!(" ({code})")),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_when_the_shell_would_read_them() {
        assert_eq!(quote("--log-format=%i"), "--log-format=%i");
        assert_eq!(quote("/tmp/a b/"), "'/tmp/a b/'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("~/backup/"), "~/backup/");
    }

    #[test]
    fn os_errors_read_as_rsyncs() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(os_text(&e), "No such file or directory (2)");
    }
}
