//! prcp's command line: the shared host and connection flags, pdcp's copy flags, and the
//! agent flags.

use clap::Parser;
use prtools_transport::{ConnArgs, HostArgs};

const EXAMPLES: &str = "\
Examples:
  prcp -w node[01-16] -r -p ./inputs /tmp/stage     copy a tree to /tmp/stage on 16 hosts
  prcp --gather -w node[1-8] /var/log/syslog logs/  save logs/syslog.node1 ... syslog.node8
  prcp -r node3:/etc/ssh ./ssh-node3                one host, scp syntax (also local -> host:path)";

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
    after_long_help = "The exit status is 0 when every host succeeded, 1 when a copy failed, 255 when a host was unreachable.",
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
    #[arg(short = 'q', help_heading = "Output")]
    pub quiet: bool,
    /// Print transfer totals when done (files, bytes sent, agents uploaded)
    #[arg(long = "stats", help_heading = "Output")]
    pub stats: bool,
    /// Run the agent from PATH on the hosts instead of uploading this prcp
    #[arg(long = "remote-path", value_name = "PATH", help_heading = "Agent")]
    pub remote_path: Option<String>,
    /// Never upload the agent; fail on hosts that lack it
    #[arg(long = "no-bootstrap", help_heading = "Agent")]
    pub no_bootstrap: bool,
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
    fn copy_flags() {
        let cli = Cli::try_parse_from(["prcp", "-w", "n[1-2]", "-rp", "a", "b", "/tmp"]).unwrap();
        assert!(cli.recursive && cli.preserve);
        assert_eq!(cli.paths, ["a", "b", "/tmp"]);
    }
}
