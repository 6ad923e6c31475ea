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
    after_long_help = "The exit status is the largest remote exit status; unreachable hosts count as 255.",
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
    /// Gather hosts with identical output and exit status under one header (as `dshbak -c`)
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
    /// Accepted for pdsh users; the largest exit status is always returned
    #[arg(short = 'S', help_heading = "Output")]
    pub largest_status: bool,
    /// Do not send standard input to the hosts
    #[arg(short = 'n', help_heading = "Input")]
    pub no_stdin: bool,
    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// Print the version
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// The command to run, as ssh takes it: the words are joined and run by the remote shell
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

impl Cli {
    /// Parses the command line. A command that starts with `-` is almost always a mistyped
    /// flag (`--jsn`), which the trailing COMMAND would otherwise swallow; it is parsed again
    /// strictly so that clap names the flag and suggests the nearest one.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let cli = Cli::try_parse_from(&args)?;
        if cli
            .command
            .first()
            .is_some_and(|word| word.starts_with('-'))
        {
            let strict = Cli::command().mut_arg("command", |a| {
                a.trailing_var_arg(false).allow_hyphen_values(false)
            });
            return Cli::from_arg_matches(&strict.try_get_matches_from(&args)?);
        }
        Ok(cli)
    }
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
        let cli = Cli::try_parse_from(["prsh", "-w", "n[1-2]", "ls", "-l", "-b"]).unwrap();
        assert_eq!(cli.command, ["ls", "-l", "-b"]);
        assert!(!cli.gather);
    }

    #[test]
    fn h_is_hostfile_not_help() {
        let cli = Cli::try_parse_from(["prsh", "-h", "hosts.txt", "true"]).unwrap();
        assert_eq!(cli.hosts.hostfile, [PathBuf::from("hosts.txt")]);
    }

    #[test]
    fn a_mistyped_flag_is_not_taken_for_the_command() {
        let err = Cli::parse_args(["prsh", "--jsn", "-w", "a", "true"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(err.to_string().contains("--json"), "{err}");
    }

    #[test]
    fn fanout_zero_is_refused() {
        let err = Cli::try_parse_from(["prsh", "-f", "0", "-w", "a", "true"]).unwrap_err();
        assert!(err.to_string().contains("fan-out must be at least 1"));
    }
}
