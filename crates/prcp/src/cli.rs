//! prcp's command line: the shared host and connection flags, pdcp's copy flags, and the
//! agent flags.

use clap::Parser;
use prtools_transport::{ConnArgs, HostArgs};

const EXAMPLES: &str = "\
Examples:
  prcp -w node[01-16] -r -p ./inputs /tmp/stage     copy a tree to /tmp/stage on 16 hosts
  prcp --gather -w node[1-8] /var/log/syslog logs/  save logs/syslog.node1 ... syslog.node8
  prcp -r node3:/etc/ssh ./ssh-node3                one host, scp syntax (also local -> host:path)";

/// The end of `--help-all` and of the man page.
const NOTES: &str = "\
The exit status is 0 when every host succeeded, 1 when a copy failed, 255 when a host was unreachable.

As pdcp and scp, prcp copies what a symlink points to, named on the command line or inside a -r tree; --links keeps links as links. A source folder written with a trailing / puts what is inside it into DEST when the hosts come from -w, -h, -g or WCOLL, as pdcp does; in scp syntax (SRC host:DEST) the slash changes nothing, as in scp.

pdcp's letters that mean something else here: -F is ssh's config file (pdcp: a genders file), -g a host group from the groups file (pdcp: a genders query), -h a host file (pdcp: help; use --help). -q lists the settings and exits, as in pdcp; --quiet hides the progress bar. -e PATH is --remote-path. pdcp's -d, -M, -L, -N, -X, -i, -a and -A (debug output, modules, genders) are not supported.

Where prcp's agent cannot run on a host (another machine, as uname -sm says; a home mounted noexec; --no-bootstrap with no agent there), prcp copies to and from it through the host's sftp server instead, in the same run and with the same results, except that -p keeps mtimes there to the second (SFTP carries no fractions). --stats names the hosts served so; --no-sftp makes them fail instead; --sftp uses sftp on every host.

PDSH_SSH_ARGS_APPEND and PDSH_SSH_ARGS add options to every ssh prcp starts, as pdsh reads them (%h and %u words are left out: prcp names the host and user itself).

Where this processor has AES instructions and no ssh configuration chooses the cipher list (a Ciphers line in ssh_config, -O Ciphers=), ssh is asked for AES-GCM first: it costs the two ends far less processor time per byte than OpenSSH's first choice, chacha20-poly1305.";

/// What `--help` shows; `--help-all` and the man page show every option.
const COMMON: &[&str] = &[
    "hosts",
    "exclude",
    "hostfile",
    "group",
    "fanout",
    "connect_timeout",
    "user",
    "ssh_config",
    "recursive",
    "preserve",
    "verify",
    "relay",
    "gather",
    "gather_dirs",
    "paths",
];

/// Stage files to many hosts at once, and gather them back.
#[derive(Debug, Parser)]
#[command(
    name = "prcp",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    about = "Stage files to many hosts at once, and gather them back (pdcp, rpdcp and scp in one)",
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = prtools_help::footer!("prcp"),
    after_long_help = NOTES,
    mut_args = prtools_help::common(COMMON)
)]
pub struct Cli {
    /// Which hosts (shared with prsh).
    #[command(flatten)]
    pub hosts: HostArgs,
    /// How to reach them (shared with prsh).
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Copy directories recursively
    #[arg(short = 'r', help_heading = "Copy")]
    pub recursive: bool,
    /// Keep modes and modification times (a gather drops setuid and setgid: see --keep-setuid)
    #[arg(short = 'p', help_heading = "Copy")]
    pub preserve: bool,
    /// With -p on a gather, keep the setuid and setgid bits the hosts send (root only). Without
    /// it a gather drops them, since a gathered file belongs to the user who runs prcp
    #[arg(long = "keep-setuid", requires = "preserve", help_heading = "Copy")]
    pub keep_setuid: bool,
    /// Copy symlinks as symlinks (as rsync's --links). Without it a link is copied as what it
    /// points to, on the command line and inside -r trees, as pdcp and scp do; a link loop
    /// is an error
    #[arg(long = "links", help_heading = "Copy")]
    pub links: bool,
    /// Copy files even when size and modification time already match
    #[arg(long = "force", help_heading = "Copy")]
    pub force: bool,
    /// Check an xxh3-128 hash of every copied file on every host
    #[arg(long = "verify", help_heading = "Copy")]
    pub verify: bool,
    /// Broadcast through the hosts: each passes the stream on to the next as it writes its copy
    /// (the hosts must reach each other with ssh)
    #[arg(long = "relay", help_heading = "Copy")]
    pub relay: bool,
    /// With --relay, how many chains this machine feeds: it sends each byte this many times
    #[arg(
        long = "relay-width",
        value_name = "N",
        default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Copy"
    )]
    pub relay_width: u32,
    /// Pull REMOTE_SRC... from every host into LOCALDIR as NAME.HOST (as rpdcp)
    #[arg(long = "gather", help_heading = "Copy")]
    pub gather: bool,
    /// With --gather, save as LOCALDIR/HOST/NAME instead (HOST is made when missing; a
    /// symlink there is refused, never followed)
    #[arg(long = "gather-dirs", help_heading = "Copy")]
    pub gather_dirs: bool,
    /// Print no progress
    #[arg(long = "quiet", help_heading = "Output")]
    pub quiet: bool,
    /// List the option settings and the target hosts, then exit without copying (pdcp -q)
    #[arg(short = 'q', short_alias = 'Q', help_heading = "Output")]
    pub show_settings: bool,
    /// Leave the host name out of the lines that report a host's failure (as pdcp -N)
    #[arg(short = 'N', help_heading = "Output")]
    pub no_prefix: bool,
    /// Stop starting hosts after the first one fails (pdsh -k); hosts not started are named
    #[arg(short = 'k', help_heading = "Connection")]
    pub fail_fast: bool,
    /// Batch mode: one Ctrl-C kills the copies on every host, instead of letting the
    /// running ones finish (pdcp -b)
    #[arg(short = 'b', help_heading = "Connection")]
    pub batch: bool,
    /// Print transfer totals when done (files, bytes sent, agents uploaded)
    #[arg(long = "stats", help_heading = "Output")]
    pub stats: bool,
    /// Run the agent from PATH on the hosts instead of uploading this prcp (pdcp -e)
    #[arg(
        short = 'e',
        long = "remote-path",
        value_name = "PATH",
        help_heading = "Agent"
    )]
    pub remote_path: Option<String>,
    /// Never upload the agent; hosts that lack it are served through their sftp server (or
    /// fail, with --no-sftp)
    #[arg(long = "no-bootstrap", help_heading = "Agent")]
    pub no_bootstrap: bool,
    /// Copy through each host's sftp server instead of the agent. Without it, sftp serves
    /// only the hosts where the agent cannot run: another machine (uname -sm), a home mounted
    /// noexec, --no-bootstrap with no agent there. -p keeps mtimes to the second only
    #[arg(
        long = "sftp",
        conflicts_with_all = ["no_sftp", "remote_path", "relay"],
        help_heading = "Agent"
    )]
    pub sftp: bool,
    /// Never fall back to a host's sftp server: a host where the agent cannot run fails
    #[arg(long = "no-sftp", help_heading = "Agent")]
    pub no_sftp: bool,
    /// Run as the agent on stdin/stdout (started by prcp itself on the remote side)
    #[arg(long = "server", hide = true)]
    pub server: bool,
    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// Print the version
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// SRC... DEST to push; REMOTE_SRC... LOCALDIR with --gather; or [user@]host:path operands
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
}

impl Cli {
    /// Parses the process's command line.
    pub fn try_parse_args() -> Result<Cli, clap::Error> {
        Cli::try_parse()
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
    fn pdcp_letters() {
        let cli = Cli::try_parse_from([
            "prcp",
            "-q",
            "-b",
            "-k",
            "-e",
            "/opt/prcp",
            "-w",
            "n1",
            "a",
            "/tmp",
        ])
        .unwrap();
        assert!(cli.show_settings && cli.batch && cli.fail_fast && !cli.quiet);
        assert_eq!(cli.remote_path.as_deref(), Some("/opt/prcp"));
        // pdcp accepts -Q for -q too.
        assert!(
            Cli::try_parse_from(["prcp", "-Q", "a", "b"])
                .unwrap()
                .show_settings
        );
        let cli = Cli::try_parse_from(["prcp", "--quiet", "--links", "a", "b"]).unwrap();
        assert!(cli.quiet && cli.links && !cli.show_settings);
    }

    #[test]
    fn sftp_flags() {
        let cli = Cli::try_parse_from(["prcp", "--sftp", "a", "b"]).unwrap();
        assert!(cli.sftp && !cli.no_sftp);
        let cli = Cli::try_parse_from(["prcp", "--no-sftp", "a", "b"]).unwrap();
        assert!(cli.no_sftp && !cli.sftp);
        for clash in [
            ["--sftp", "--no-sftp"],
            ["--sftp", "--remote-path=/x"],
            ["--sftp", "--relay"],
        ] {
            let err = Cli::try_parse_from(["prcp", clash[0], clash[1], "a", "b"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
    }

    #[test]
    fn copy_flags() {
        let cli = Cli::try_parse_from(["prcp", "-w", "n[1-2]", "-rp", "a", "b", "/tmp"]).unwrap();
        assert!(cli.recursive && cli.preserve);
        assert_eq!(cli.paths, ["a", "b", "/tmp"]);
    }
}
