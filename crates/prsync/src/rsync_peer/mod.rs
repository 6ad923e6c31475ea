//! `--wire=rsync`: a push to a host that has only a stock rsync, over rsync's own protocol
//! (crate prtools-rsync-wire) on the same remote shell, with no prsync agent on the host.
//!
//! This first step covers what a mirror needs: `-r -l -p -t -g -o -D`, `-i`, `-n` (push
//! only), `-W` and `--delete`, a push to one host or a pull from one. Anything else is
//! refused with one line that names the option, rather than half-done.

mod link;
mod list;
mod pull;
mod push;

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use prtools_rsync_wire::handshake::{self, HandshakeError};
use prtools_rsync_wire::server_args::ServerOptions;
use prtools_rsync_wire::PROTOCOL_NEWEST;
use prtools_transport::{ssh_argv, Method, Target};

use crate::cli::{DeleteMode, Options, Remote};
use crate::exit;

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

/// Runs a push or a pull over rsync's protocol and returns rsync's exit status.
pub fn run(opts: &Options) -> i32 {
    let (host, pulling) = match &opts.remote {
        Remote::Push(hosts) if hosts.len() == 1 => (&hosts[0], false),
        Remote::Push(_) => {
            eprintln!("prsync: --wire=rsync pushes to one host for now; hint: run one prsync per host, or use --wire=agent");
            return exit::SYNTAX;
        }
        Remote::Pull(host) => (host, true),
        Remote::Local => return exit::SYNTAX,
    };
    if pulling && opts.dry_run {
        eprintln!("prsync: --wire=rsync does not do -n in a pull yet; hint: drop it, or use --wire=agent (the default)");
        return exit::SYNTAX;
    }
    if let Some(option) = unsupported(opts) {
        eprintln!("prsync: --wire=rsync does not do {option} yet; hint: drop it, or use --wire=agent (the default)");
        return exit::SYNTAX;
    }
    if opts.config.method != Method::Ssh {
        eprintln!("prsync: --wire=rsync runs the host's rsync through ssh only; hint: give -e 'ssh ...', or use --wire=agent");
        return exit::SYNTAX;
    }
    // The paths the server is given: the destination of a push, the sources of a pull.
    let typed: Vec<&OsStr> = if pulling {
        opts.sources.iter().map(|s| s.as_os_str()).collect()
    } else {
        vec![opts.dest.as_os_str()]
    };
    let mut paths = Vec::new();
    for path in typed {
        match std::str::from_utf8(path.as_bytes()) {
            Ok("") => paths.push(".".to_string()),
            Ok(p) => paths.push(p.to_string()),
            Err(_) => {
                eprintln!("prsync: --wire=rsync needs UTF-8 remote paths; hint: use --wire=agent");
                return exit::SYNTAX;
            }
        }
    }
    let listed = if pulling {
        list::Listed {
            items: Vec::new(),
            io_error: 0,
        }
    } else {
        list::list(opts)
    };
    let server = ServerOptions {
        server_sends: pulling,
        links: opts.links,
        whole_file: opts.whole_file,
        owner: opts.owner,
        group: opts.group,
        devices: opts.devices,
        specials: opts.specials,
        times: opts.times,
        perms: opts.perms,
        recursive: opts.recursive,
        itemize: u8::from(opts.itemize) + u8::from(opts.itemize_all),
        delete: opts.delete != DeleteMode::Off,
        dry_run: opts.dry_run,
        ..ServerOptions::default()
    };
    let program = opts.remote_path.as_deref().unwrap_or("rsync");
    let mut command = program.to_string();
    for arg in server.argv(&paths) {
        command.push(' ');
        command.push_str(&quote(&arg));
    }
    let target = Target::new(host.clone(), 0);
    let name = host.host.clone();
    let Some(argv) = ssh_argv(&target, &opts.config, &command) else {
        return exit::SYNTAX;
    };
    let mut link = match link::Link::start(&argv) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("prsync: cannot run ssh: {}", os_text(&e));
            return exit::UNREACHABLE;
        }
    };
    link.input.timeout = Some(opts.config.connect_timeout + START_GRACE);
    let session = match handshake::client(&mut link.input, &mut link.output, PROTOCOL_NEWEST) {
        Ok(s) => s,
        Err(e) => return failed_start(&mut link, &name, program, e),
    };
    link.release_stderr();
    link.input.timeout = opts.config.command_timeout;
    let result = if pulling {
        pull::run(&mut link, &session, opts)
    } else {
        push::run(&mut link, &session, &listed, opts)
    };
    let (code, _) = link.finish(EXIT_GRACE, false);
    match result {
        Ok(outcome) => match code {
            Some(0) => {
                let bits = outcome.io_error | outcome.remote_io_error;
                if bits & !2 != 0 {
                    exit::PARTIAL
                } else if bits != 0 {
                    VANISHED
                } else {
                    exit::OK
                }
            }
            Some(c) => c,
            None => {
                eprintln!("prsync: {name}: the remote rsync did not exit after the transfer and was stopped");
                exit::PROTOCOL
            }
        },
        Err((e, error_exit)) => match (code, error_exit) {
            (Some(c), _) if c != 0 => c,
            (_, Some(c)) if c != 0 => c,
            _ if e.kind() == io::ErrorKind::TimedOut => {
                eprintln!("prsync: {name}: {e}; hint: --timeout sets the bound");
                TIMEOUT
            }
            _ => {
                eprintln!("prsync: {name}: the rsync protocol broke: {e}");
                exit::PROTOCOL
            }
        },
    }
}

/// Says why the handshake failed, in one line, and returns the exit status.
fn failed_start(link: &mut link::Link, host: &str, program: &str, e: HandshakeError) -> i32 {
    let (code, stderr) = link.finish(Duration::from_secs(5), true);
    let said = String::from_utf8_lossy(&stderr);
    let missing = code == Some(127)
        || said.contains("command not found")
        || said.contains(&format!("{program}: not found"));
    if missing {
        eprintln!(
            "prsync: {host} has no rsync: install rsync there, or let prsync upload its agent"
        );
        return exit::PROTOCOL;
    }
    // What the remote side said explains a failed connection; after a refused version it
    // is only the server's complaint that this side hung up.
    if matches!(e, HandshakeError::Io(_)) {
        let _ = io::Write::write_all(&mut io::stderr(), &stderr);
    }
    if code == Some(255) {
        eprintln!("prsync: {host}: ssh could not reach the host");
        return exit::UNREACHABLE;
    }
    match e {
        HandshakeError::Io(io) if io.kind() == io::ErrorKind::TimedOut => {
            eprintln!("prsync: {host}: the remote rsync did not answer in time");
            TIMEOUT
        }
        HandshakeError::Io(_) => {
            eprintln!(
                "prsync: {host}: the remote rsync closed the connection before the handshake"
            );
            exit::PROTOCOL
        }
        other => {
            eprintln!("prsync: {host}: {other}; hint: use --wire=agent");
            exit::PROTOCOL
        }
    }
}

/// The first option given that `--wire=rsync` cannot do yet.
fn unsupported(o: &Options) -> Option<&'static str> {
    let checks: &[(bool, &'static str)] = &[
        (!o.recursive, "a copy without -r (or -a)"),
        (o.verbose > 0, "-v"),
        (o.progress, "--progress"),
        (o.stats, "--stats"),
        (o.checksum, "-c"),
        (o.update, "-u"),
        (o.inplace, "--inplace"),
        (o.partial || o.partial_dir.is_some(), "--partial"),
        (o.block_size.is_some(), "-B"),
        (o.compress, "-z"),
        (o.bwlimit.is_some(), "--bwlimit"),
        (
            !o.filters.is_empty(),
            "filter rules (--exclude, --include, --filter)",
        ),
        (o.hard_links, "-H"),
        (o.copy_links, "-L"),
        (o.copy_unsafe_links, "--copy-unsafe-links"),
        (o.safe_links, "--safe-links"),
        (o.copy_dirlinks, "-k"),
        (o.keep_dirlinks, "-K"),
        (o.relative, "-R"),
        (o.backup.is_some(), "-b"),
        (
            o.alt_dest.is_some(),
            "--compare-dest, --copy-dest or --link-dest",
        ),
        (o.temp_dir.is_some(), "-T"),
        (o.chmod.is_some(), "--chmod"),
        (
            o.usermap.is_some() || o.groupmap.is_some(),
            "--usermap, --groupmap or --chown",
        ),
        (o.numeric_ids, "--numeric-ids"),
        (o.existing, "--existing"),
        (o.ignore_existing, "--ignore-existing"),
        (o.size_only, "--size-only"),
        (o.ignore_times, "-I"),
        (
            o.max_size.is_some() || o.min_size.is_some(),
            "--max-size or --min-size",
        ),
        (o.remove_source_files, "--remove-source-files"),
        (o.prune_empty_dirs, "-m"),
        (o.out_format.is_some(), "--out-format"),
        (o.omit_dir_times, "-O"),
        (o.delay_updates, "--delay-updates"),
        (o.mkpath, "--mkpath"),
        (o.one_file_system > 0, "-x"),
        (o.super_user.is_some(), "--super or --no-super"),
        (
            matches!(o.delete, DeleteMode::Before | DeleteMode::After),
            "--delete-before or --delete-after",
        ),
        (
            o.more != crate::more_options::More::default(),
            "one of the options given",
        ),
    ];
    checks.iter().find(|(on, _)| *on).map(|(_, name)| *name)
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
