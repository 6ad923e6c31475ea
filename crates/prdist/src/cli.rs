//! prdist's command line: rdist 6's flags with rdist's meanings ([`Cli`], as typed), resolved
//! once into [`Args`] (what runs). `-h` is rdist's old `follow`, so help is `--help` and `--help-all` only.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::distfile::options::{valid_list, DistOpts};

const EXAMPLES: &str = "\
Examples:
  prdist                                  update every host of ./distfile (or ./Distfile)
  prdist -n -f conf.dist etc              print what the entries labelled `etc` would do
  prdist -c /etc/hosts root@node1:/etc    one host, no Distfile (rdist's quick form)";

const NOTES: &str = "\
More examples:
  prdist -M 16 -d HOSTS='(n1 n2)'         16 hosts at a time, a variable overridden
  prdist -P 'ssh -F ~/.ssh/lab' -m node3  one host, through another ssh config

Exit status: 0 when every host was updated, 1 when anything failed.

Where this processor has AES instructions and no ssh configuration chooses the cipher list, ssh is
asked for AES-GCM first, as prsync does (see prsync(1)).";

/// What `--help` shows; `--help-all` and the man page show every option.
const COMMON: &[&str] = &[
    "dry_run",
    "define",
    "distfile",
    "maxproc",
    "hosts",
    "distopts",
    "transport",
    "quick",
    "debug",
    "names",
];

const LONG_ABOUT: &str = "\
prdist reads an rdist 6 Distfile and keeps the files it names identical on many hosts. Hosts \
are updated in parallel (-M at a time); files are compared by size and mtime (byte for byte \
with compare) and sent as rsync deltas through prsync's agent.

A Distfile holds variable definitions and entries:
  NAME = ( name ... )
  [label:] SOURCES -> HOSTS  commands
  [label:] SOURCES :: STAMPFILE  commands

Lists are one name or ( names ), with one level of + (union), - (difference) or & \
(intersection); $X and ${NAME} expand variables; sources expand csh globs (* ? [ ] { }); ~ is \
the home on each side; # starts a comment. Commands: install [-oOPTS] [dest] ;  notify names ;  \
except names ;  except_pat regexps ;  special [names] \"shell command\" ;  cmdspecial [names] \
\"shell command\" ;. special runs on a host after each named file is updated there, with \
FILE, REMFILE and BASEFILE set; cmdspecial runs once per entry and host with FILES \
(colon-separated). Options: compare, remove, younger, whole, follow, ignlnks, verify, quiet, \
noexec, nodescend, savetargets, sparse, nochkowner, nochkgroup, nochkmode, numchkowner, \
numchkgroup (and chknfs, chkreadonly, chksym, defowner, defgroup, updateperm, accepted with no \
effect); the old letters -b -R -y -w -h -i -v -q -x -r -s work in install and on the command \
line. Every mistake in a Distfile is reported as FILE:LINE:COL.

Differences from rdist (rdist 6.1.5, compared on the Distfiles of crates/prdist/tests/golden; `cargo xtask golden rdist` records rdist's runs again):
  - notify: rdist mails, and prints `notify @HOST ( names )`, on every run, even when nothing changed; prdist only when files changed on that host, so a run from cron does not mail every host every time. A mail that cannot be sent exits 1 (rdist: 0, with the shell's complaint on stdout).
  - A failing special or cmdspecial: both print rdist's `HOST: REMOTE ERROR: shell returned N` (N is the exit status times 256) on stdout; prdist also names the command and its exit status on stderr and exits 1 (rdist exits 0), so that a script sees the failure.
  - special runs after all of the entry's files are in place on the host, not right after its own file: a daemon that a special restarts reads a whole new configuration, never half of one.
  - One file installed to a name that is a folder on the host: rdist removes the folder and puts the file in its place; prdist puts the file inside the folder, as cp does, and never removes a folder the Distfile did not name.
  - younger: rdist warns `SRC: Warning: remote copy is newer` for each newer copy it leaves; prdist leaves it in silence.
  - Lines come in name order; rdist walks folders in the file system's order. Hosts' lines are not interleaved mid-line in either.
  - Errors in a Distfile are FILE:LINE:COL, all of them in one run (rdist: `HOST: LOCAL ERROR: Error in distfile: line N: ...`, the first one).
  - `::` entries run on every run, cmdspecial included; rdist in its parallel mode often skips them (-M 1 helps), and 6.1.5 crashes on a cmdspecial in one.
  - mtimes are kept to the nanosecond; no local name resolution is needed (rdist needs every host in /etc/hosts or DNS); -d HOSTS='a b' is two names (rdist: one name with a space).
  - numchkowner or numchkgroup alone compares both owners and groups by number (prsync's --numeric-ids covers both).
  - Not supported: the history option (savetargets keeps one FILE.OLD).";

/// rdist's flags, as typed.
#[derive(Debug, Parser)]
#[command(
    name = "prdist",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    about = "Keep files identical on many hosts from an rdist 6 Distfile, in parallel, with delta transfer",
    override_usage = "\
prdist [-DFn] [-d var=value] [-f distfile] [-M maxproc] [-m host] [-o distopts]
              [-t timeout] [-P transport] [name ...]
       prdist [-DFn] -c name ... [login@]host[:dest]",
    long_about = LONG_ABOUT,
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = concat!(
        "A Distfile entry: `[label:] ( files ) -> ( hosts ) install [dest] ;` (--help-all: the syntax)\n\n",
        prtools_help::footer!("prdist")
    ),
    after_long_help = NOTES,
    mut_args = prtools_help::common(COMMON)
)]
pub struct Cli {
    /// Print debugging messages: the transfers as prsync command lines
    #[arg(short = 'D')]
    pub debug: bool,
    /// Update the hosts one at a time (no parallel updates)
    #[arg(short = 'F')]
    pub no_fork: bool,
    /// Print the commands without running them; change nothing
    #[arg(short = 'n')]
    pub dry_run: bool,
    /// Define VAR to be VALUE: a name, or ( names ); overrides the Distfile's definition
    #[arg(short = 'd', value_name = "VAR=VALUE", action = ArgAction::Append)]
    pub define: Vec<String>,
    /// Read the Distfile FILE (`-` for stdin); default ./distfile, then ./Distfile
    #[arg(short = 'f', value_name = "DISTFILE")]
    pub distfile: Option<String>,
    /// Update at most N hosts at once
    #[arg(short = 'M', value_name = "MAXPROC", default_value = "4", value_parser = parse_maxproc)]
    pub maxproc: usize,
    /// Update only HOST (may be repeated)
    #[arg(short = 'm', value_name = "HOST", action = ArgAction::Append)]
    pub hosts: Vec<String>,
    /// Distribution options for every install, comma-separated (remove,compare,...)
    #[arg(short = 'o', value_name = "DISTOPTS", action = ArgAction::Append)]
    pub distopts: Vec<String>,
    /// Connect timeout and timeout of special commands, in seconds
    #[arg(short = 't', value_name = "TIMEOUT")]
    pub timeout: Option<u64>,
    /// The remote shell: `ssh` with its options (`ssh -F cfg -p 2222`), or a program run as
    /// PROGRAM HOST COMMAND; a colon-separated list picks the first that exists
    #[arg(short = 'P', value_name = "TRANSPORT")]
    pub transport: Option<String>,
    /// The prdist agent to run on the hosts instead of uploading this one
    #[arg(short = 'p', value_name = "PATH")]
    pub agent_path: Option<String>,
    /// Local logging: facility=types[:facility=types...], as stdout=all:file=/tmp/log=change
    #[arg(short = 'l', value_name = "LOGOPTS")]
    pub local_log: Option<String>,
    /// Remote logging options (checked; the agent keeps no log of its own)
    #[arg(short = 'L', value_name = "LOGOPTS")]
    pub remote_log: Option<String>,
    /// Minimum free files on the target file system (not supported)
    #[arg(short = 'A', value_name = "NUM")]
    pub min_files: Option<u64>,
    /// Minimum free bytes on the target file system (not supported)
    #[arg(short = 'a', value_name = "NUM")]
    pub min_space: Option<u64>,
    /// The arguments are a small Distfile: name ... [login@]host[:dest]
    #[arg(short = 'c')]
    pub quick: bool,
    /// Print the version
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// Same as -o compare
    #[arg(short = 'b', hide = true)]
    pub old_b: bool,
    /// Same as -o follow
    #[arg(short = 'h', hide = true)]
    pub old_h: bool,
    /// Same as -o ignlnks
    #[arg(short = 'i', hide = true)]
    pub old_i: bool,
    /// Same as -o quiet
    #[arg(short = 'q', hide = true)]
    pub old_q: bool,
    /// Same as -o remove
    #[arg(short = 'R', hide = true)]
    pub old_cap_r: bool,
    /// Same as -o nodescend
    #[arg(short = 'r', hide = true)]
    pub old_r: bool,
    /// Same as -o savetargets
    #[arg(short = 's', hide = true)]
    pub old_s: bool,
    /// Same as -o verify
    #[arg(short = 'v', hide = true)]
    pub old_v: bool,
    /// Same as -o whole
    #[arg(short = 'w', hide = true)]
    pub old_w: bool,
    /// Same as -o noexec
    #[arg(short = 'x', hide = true)]
    pub old_x: bool,
    /// Same as -o younger
    #[arg(short = 'y', hide = true)]
    pub old_y: bool,
    /// Same as -o chknfs
    #[arg(short = 'N', hide = true)]
    pub old_cap_n: bool,
    /// Same as -o chkreadonly
    #[arg(short = 'O', hide = true)]
    pub old_cap_o: bool,
    /// Labels or source files to update (all entries when none)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

fn parse_maxproc(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("'{text}' is not a number of hosts, as in -M 8")),
        Ok(n) => Ok(n),
    }
}

/// Where the Distfile comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// Standard input (`-f -`).
    Stdin,
    /// The text made from `-c` arguments.
    Quick(String),
}

/// What runs: [`Cli`] resolved.
#[derive(Clone, Debug)]
pub struct Args {
    /// The Distfile.
    pub source: Source,
    /// `-d` definitions.
    pub defines: Vec<(String, String)>,
    /// `-o` and old letter options.
    pub opts: DistOpts,
    /// `-n`.
    pub dry_run: bool,
    /// `-D`.
    pub debug: bool,
    /// Hosts at once.
    pub maxproc: usize,
    /// `-m` hosts.
    pub hosts: Vec<String>,
    /// `-t`.
    pub timeout: Option<Duration>,
    /// `-P`, resolved to one command.
    pub transport: Option<String>,
    /// `-p`.
    pub agent_path: Option<String>,
    /// `-l`.
    pub local_log: Option<String>,
    /// Labels or files to update.
    pub names: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// A run.
    Run(Box<Args>),
    /// Help or version was printed; exit with this status.
    Exit(i32),
}

/// Parses and resolves a command line (the first item is the program name).
pub fn parse<I, T>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(Parsed::Exit(0));
        }
        Err(e) => {
            let line = prtools_transport::one_line_error("prdist", &e);
            return Err(line.strip_prefix("prdist: ").unwrap_or(&line).to_string());
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    if cli.version {
        println!(
            "prdist {} (rdist 6 Distfiles, prsync transfers)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(Parsed::Exit(0));
    }
    resolve(cli).map(|a| Parsed::Run(Box::new(a)))
}

fn resolve(cli: Cli) -> Result<Args, String> {
    if cli.min_files.is_some() || cli.min_space.is_some() {
        return Err(
            "-A and -a (free space checks on the hosts) are not supported; leave them out".into(),
        );
    }
    if let Some(spec) = &cli.remote_log {
        crate::output::check_remote(spec).map_err(|e| format!("-L {spec}: {e}"))?;
    }
    let mut opts = DistOpts::default();
    for list in &cli.distopts {
        let o = DistOpts::parse_list(list).map_err(|(_, item)| {
            format!(
                "-o {list}: bad option '{item}': the options are {}",
                valid_list()
            )
        })?;
        opts = opts.union(o);
    }
    let letters = [
        (cli.old_b, 'b'),
        (cli.old_h, 'h'),
        (cli.old_i, 'i'),
        (cli.old_q, 'q'),
        (cli.old_cap_r, 'R'),
        (cli.old_r, 'r'),
        (cli.old_s, 's'),
        (cli.old_v, 'v'),
        (cli.old_w, 'w'),
        (cli.old_x, 'x'),
        (cli.old_y, 'y'),
        (cli.old_cap_n, 'N'),
        (cli.old_cap_o, 'O'),
    ];
    for (on, c) in letters {
        if on {
            opts = opts.union(DistOpts::letter(c).expect("every old letter is known"));
        }
    }
    let mut defines = Vec::new();
    for d in &cli.define {
        let (name, value) = d
            .split_once('=')
            .ok_or_else(|| format!("-d {d}: write -d VAR=VALUE, as in -d HOSTS=(node1 node2)"))?;
        if name.is_empty() {
            return Err(format!("-d {d}: no variable name before '='"));
        }
        defines.push((name.to_string(), value.to_string()));
    }
    let mut names = cli.names;
    let source = if cli.quick {
        let text = quick_distfile(&names)?;
        names = Vec::new();
        Source::Quick(text)
    } else {
        match cli.distfile.as_deref() {
            Some("-") => Source::Stdin,
            Some(f) => Source::File(PathBuf::from(f)),
            None => {
                let found = ["distfile", "Distfile"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.exists());
                Source::File(found.ok_or(
                    "no distfile or Distfile here; name one with -f FILE, or use -c for a quick copy",
                )?)
            }
        }
    };
    let maxproc = if cli.no_fork { 1 } else { cli.maxproc };
    Ok(Args {
        source,
        defines,
        opts,
        dry_run: cli.dry_run,
        debug: cli.debug,
        maxproc,
        hosts: cli.hosts,
        timeout: cli.timeout.map(Duration::from_secs),
        transport: cli.transport.as_deref().map(pick_transport),
        agent_path: cli.agent_path,
        local_log: cli.local_log,
        names,
    })
}

/// `-P /usr/bin/ssh:/usr/bin/rsh` is a list of paths: the first that exists is used. A value
/// with options (`ssh -F cfg`) is one command.
fn pick_transport(value: &str) -> String {
    if value.contains(char::is_whitespace) || !value.contains(':') {
        return value.to_string();
    }
    value
        .split(':')
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| value.split(':').next().unwrap_or(value))
        .to_string()
}

/// rdist's `-c name ... [login@]host[:dest]` as the Distfile it stands for:
/// `( name ... ) -> [login@]host install [dest] ;`.
fn quick_distfile(args: &[String]) -> Result<String, String> {
    let Some((target, names)) = args.split_last().filter(|(_, n)| !n.is_empty()) else {
        return Err("-c needs names and a host: prdist -c name ... [login@]host[:dest]".into());
    };
    let (host, dest) = match target.split_once(':') {
        Some((h, d)) => (h, Some(d)),
        None => (target.as_str(), None),
    };
    if host.is_empty() {
        return Err(format!("-c: no host in '{target}'"));
    }
    let word = |w: &str| -> String {
        let mut out = String::new();
        for c in w.chars() {
            if " \t\"'()=;:#\\".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let names: Vec<String> = names.iter().map(|n| word(n)).collect();
    Ok(format!(
        "( {} ) -> {}\n\tinstall {};\n",
        names.join(" "),
        word(host),
        dest.filter(|d| !d.is_empty())
            .map(|d| format!("{} ", word(d)))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> Args {
        match parse(std::iter::once("prdist").chain(argv.iter().copied())).unwrap() {
            Parsed::Run(a) => *a,
            Parsed::Exit(_) => panic!("no run"),
        }
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
        assert_eq!(prtools_help::unknown_ids(&Cli::command(), COMMON), [""; 0]);
    }

    #[test]
    fn rdist_flags() {
        let a = args(&[
            "-n",
            "-f",
            "-",
            "-d",
            "H=(a b)",
            "-M",
            "8",
            "-m",
            "n1",
            "-m",
            "n2",
            "-oremove",
            "-o",
            "compare",
            "-b",
            "-t",
            "30",
            "-P",
            "ssh -F cfg",
            "lab",
        ]);
        assert!(a.dry_run);
        assert_eq!(a.source, Source::Stdin);
        assert_eq!(a.defines, [("H".to_string(), "(a b)".to_string())]);
        assert_eq!(a.maxproc, 8);
        assert_eq!(a.hosts, ["n1", "n2"]);
        assert_eq!(a.opts.list(), "compare,remove");
        assert_eq!(a.timeout, Some(Duration::from_secs(30)));
        assert_eq!(a.transport.as_deref(), Some("ssh -F cfg"));
        assert_eq!(a.names, ["lab"]);
        assert_eq!(args(&["-F", "-f", "x"]).maxproc, 1);
        assert_eq!(args(&["-f", "x"]).maxproc, 4);
    }

    #[test]
    fn quick_form() {
        let a = args(&["-c", "/etc/hosts", "/etc/motd", "root@node1:/tmp/x"]);
        assert_eq!(
            a.source,
            Source::Quick("( /etc/hosts /etc/motd ) -> root@node1\n\tinstall /tmp/x ;\n".into())
        );
        assert!(a.names.is_empty());
        let a = args(&["-c", "/etc/hosts", "node1"]);
        assert_eq!(
            a.source,
            Source::Quick("( /etc/hosts ) -> node1\n\tinstall ;\n".into())
        );
        assert!(parse(["prdist", "-c", "node1"])
            .unwrap_err()
            .contains("-c needs names"));
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse(["prdist", "-o", "bogus", "-f", "x"])
            .unwrap_err()
            .contains("bad option 'bogus'"));
        assert!(parse(["prdist", "-M", "0"]).unwrap_err().contains("-M 8"));
        assert!(parse(["prdist", "-d", "X", "-f", "x"])
            .unwrap_err()
            .contains("-d VAR=VALUE"));
        assert!(parse(["prdist", "-a", "5", "-f", "x"])
            .unwrap_err()
            .contains("not supported"));
        assert!(parse(["prdist", "--bogus"])
            .unwrap_err()
            .contains("--bogus"));
    }
}
