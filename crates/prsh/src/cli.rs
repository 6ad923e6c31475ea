//! prsh's command line: the shared host and connection flags, then pdsh's and pssh's output
//! flags, then the command.

use std::path::PathBuf;

use clap::Parser;
use prtools_transport::{ConnArgs, HostArgs};

const EXAMPLES: &str = "\
Examples:
  prsh -w node[01-16] uptime            run on 16 hosts, output as `host: line`
  prsh -w node[1-64] -b uname -r        gather identical output, as `dshbak -c`
  prsh -g compute -x node7 -u 30 df -h  a group without node7, 30 s command timeout";

/// What `--help` shows; `--help-all` and the man page show every option.
const COMMON: &[&str] = &[
    "hosts",
    "exclude",
    "hostfile",
    "group",
    "fanout",
    "connect_timeout",
    "command_timeout",
    "user",
    "ssh_config",
    "no_prefix",
    "gather",
    "inline",
    "json",
    "command",
];

/// Run a command on many hosts at once.
#[derive(Debug, Parser)]
#[command(
    name = "prsh",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    about = "Run a command on many hosts at once (pdsh, pssh and clush in one)",
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = prtools_help::footer!("prsh"),
    after_long_help = "The exit status is the largest remote exit status; unreachable hosts count as 255.\n\n\
Letters that mean something else than in pdsh, kept for prsh's own options: -h is --hostfile \
(pdsh: help, here --help), -b gathers as dshbak -c (pdsh: batch mode, here --batch), -F is \
ssh's config file and -g a group (pdsh: genders), -i prints blocks as pssh -i (pdsh: \
canonical host names).",
    mut_args = prtools_help::common(COMMON)
)]
pub struct Cli {
    /// Which hosts (shared with prcp).
    #[command(flatten)]
    pub hosts: HostArgs,
    /// How to reach them (shared with prcp).
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print output without the `host: ` prefix
    #[arg(short = 'N', help_heading = "Output")]
    pub no_prefix: bool,
    /// Gather hosts with identical output under one header, as `pdsh | dshbak -c` (exit statuses are named on stderr)
    #[arg(short = 'b', help_heading = "Output")]
    pub gather: bool,
    /// Like -b, and gather standard error too (after standard output)
    #[arg(short = 'B', help_heading = "Output")]
    pub gather_stderr: bool,
    /// Print each host's output as one block when it finishes (as pssh -i)
    #[arg(short = 'i', help_heading = "Output")]
    pub inline: bool,
    /// Write each host's standard output to DIR/HOST
    #[arg(
        short = 'o',
        long = "outdir",
        value_name = "DIR",
        help_heading = "Output"
    )]
    pub outdir: Option<PathBuf>,
    /// Write each host's standard error to DIR/HOST
    #[arg(
        short = 'e',
        long = "errdir",
        value_name = "DIR",
        help_heading = "Output"
    )]
    pub errdir: Option<PathBuf>,
    /// Write one JSON object per host: host, status, stdout, stderr, seconds, error
    #[arg(long = "json", help_heading = "Output")]
    pub json: bool,
    /// The first Ctrl-C kills every command at once, as pdsh -b (batch mode)
    #[arg(long = "batch", help_heading = "Output")]
    pub batch: bool,
    /// Fail fast, as pdsh -k: once a host fails, kill the others, start no more, and exit 1
    #[arg(short = 'k', help_heading = "Output")]
    pub fail_fast: bool,
    /// Accepted for pdsh users; the largest exit status is always returned
    #[arg(short = 'S', help_heading = "Output")]
    pub largest_status: bool,
    /// Send standard input to every host's command as it arrives (as pssh -I); without it,
    /// as pdsh, standard input is not read
    #[arg(short = 'I', long = "send-input", help_heading = "Input")]
    pub send_input: bool,
    /// Do not read standard input: the default, kept for scripts that say so
    #[arg(short = 'n', help_heading = "Input", conflicts_with = "send_input")]
    pub no_stdin: bool,
    /// List the settings and the selected hosts, folded, and exit (as pdsh -q)
    #[arg(short = 'q', help_heading = "Hosts")]
    pub query: bool,
    /// List the settings and the selected hosts, one by one, and exit (as pdsh -Q)
    #[arg(short = 'Q', help_heading = "Hosts")]
    pub query_hosts: bool,
    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// Print the version
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// The command to run, as ssh takes it: the words are joined and run by the remote shell;
    /// without one, as pdsh, commands are read from standard input, one a line
    ///
    /// [`Cli::parse_args`] puts a `--` before its first word, so that its own flags stay its.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl Cli {
    /// Parses the command line as pdsh does: options end at the first word that is not an
    /// option or an option's value, and everything from there is the command, its own flags
    /// included, in every form an option may be written (`-f 4`, `-f4`, `-Rexec`, `-wnode1`,
    /// `--fanout=4`).
    ///
    /// clap alone takes the words after an attached value (`-Rexec ls -l /dev/null`) as
    /// options again, so that `-l` became the login user; the split is made here and handed
    /// to clap with a `--` between the two.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::CommandFactory;
        let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let at = command_start(&Cli::command(), &args);
        if at < args.len() && args[at] != "--" {
            args.insert(at, "--".into());
        }
        Cli::try_parse_from(&args)
    }
}

/// The index of the command's first word in `args` (`args[0]` is the program), or of the `--`
/// that stands before it; `args.len()` when there is no command.
fn command_start(command: &clap::Command, args: &[std::ffi::OsString]) -> usize {
    let takes_value = |arg: &clap::Arg| {
        arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
    };
    let mut i = 1;
    while i < args.len() {
        let Some(word) = args[i].to_str() else {
            return i;
        };
        if word == "--" || word == "-" || !word.starts_with('-') {
            return i;
        }
        if let Some(long) = word.strip_prefix("--") {
            let needs_next = !long.contains('=')
                && command
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .is_some_and(takes_value);
            i += if needs_next { 2 } else { 1 };
            continue;
        }
        // A cluster of short options; the first that takes a value takes the rest of the
        // word, or the next word when the rest is empty.
        let mut next = 1;
        for (at, short) in word.char_indices().skip(1) {
            let Some(arg) = command
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
            else {
                // Not ours: clap names it and suggests the nearest option.
                break;
            };
            if takes_value(arg) {
                if at + short.len_utf8() == word.len() {
                    next = 2;
                }
                break;
            }
        }
        i += next;
    }
    args.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
        assert_eq!(prtools_help::unknown_ids(&Cli::command(), COMMON), [""; 0]);
    }

    #[test]
    fn command_keeps_its_own_flags() {
        let cli = Cli::parse_args(["prsh", "-w", "n[1-2]", "ls", "-l", "-b"]).unwrap();
        assert_eq!(cli.command, ["ls", "-l", "-b"]);
        assert!(!cli.gather);
    }

    #[test]
    fn h_is_hostfile_not_help() {
        let cli = Cli::parse_args(["prsh", "-h", "hosts.txt", "true"]).unwrap();
        assert_eq!(cli.hosts.hostfile, [PathBuf::from("hosts.txt")]);
    }

    #[test]
    fn a_mistyped_flag_is_not_taken_for_the_command() {
        let err = Cli::parse_args(["prsh", "--jsn", "-w", "a", "true"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(err.to_string().contains("--json"), "{err}");
    }

    /// pdsh stops reading options at the command's first word, whichever way a value is
    /// attached to its option.
    #[test]
    fn options_end_at_the_command_in_every_form() {
        for args in [
            &["prsh", "-Rexec", "-w", "foo", "ls", "-l", "/dev/null"][..],
            &["prsh", "-f4", "-w", "foo", "ls", "-l", "/dev/null"],
            &["prsh", "-lroot", "-wfoo", "ls", "-l", "/dev/null"],
            &["prsh", "-SRexec", "-wfoo", "ls", "-l", "/dev/null"],
            &[
                "prsh",
                "--port=22",
                "--outdir",
                "o",
                "-w",
                "foo",
                "ls",
                "-l",
                "/dev/null",
            ],
            &["prsh", "-w", "foo", "--", "ls", "-l", "/dev/null"],
            &["prsh", "-Nbw", "foo", "ls", "-l", "/dev/null"],
        ] {
            let cli = Cli::parse_args(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(cli.command, ["ls", "-l", "/dev/null"], "{args:?}");
            assert_eq!(cli.hosts.hosts, ["foo"], "{args:?}");
            let user = args.contains(&"-lroot").then(|| "root".to_string());
            assert_eq!(cli.conn.user, user, "{args:?}");
        }
        let cli = Cli::parse_args(["prsh", "-f4", "-w", "foo", "uname", "-a"]).unwrap();
        assert_eq!(cli.command, ["uname", "-a"]);
        let cli = Cli::parse_args(["prsh", "-w", "-", "uname"]).unwrap();
        assert_eq!(cli.hosts.hosts, ["-"]);
        assert_eq!(cli.command, ["uname"]);
    }

    #[test]
    fn fanout_zero_is_refused() {
        let err = Cli::parse_args(["prsh", "-f", "0", "-w", "a", "true"]).unwrap_err();
        assert!(err.to_string().contains("fan-out must be at least 1"));
    }
}
