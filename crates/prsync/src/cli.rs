//! prsync's command line: rsync's flags with rsync's meanings (`-h` is human-readable, so help
//! is `--help` and `--help-all` only), parsed by clap into [`Cli`] (what was typed) and resolved once into
//! [`Options`] (what runs).
//!
//! Filter options (`--exclude`, `--include`, `--filter` and the `-from` files) act in the order
//! they were typed, whatever their kind, so they are read back from clap with their positions.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};
use prtools_hostlist::{Context, HostSpec};
use prtools_sync::filter::{Action, Delimiter, FilterList};
use prtools_transport::{Config, LongConnArgs, LongHostArgs};

use crate::exit;

const EXAMPLES: &str = "\
Examples:
  prsync -av src/ backup/                   copy what is in src into backup, as rsync
  prsync -ai --delete src/ node3:/srv/www/  mirror src on one host, itemizing each change
  prsync -a -w node[1-64] conf/ :/etc/app/  the same to 64 hosts at once (DEST is then :PATH)";

const NOTES: &str = "\
--no-OPTION turns an option off, or one that -a implies (-a --no-o, --no-D); of an option and its
--no- form, the later one wins. RSYNC_RSH names the remote shell when -e does not.
A trailing slash on SRC copies what is inside it; without one, SRC itself goes into DEST.
Exit status as rsync: 0 done, 1 usage error, 23 some files could not be transferred, 255 a host
could not be reached.
Where this processor has AES instructions and no ssh configuration chooses the cipher list (a
Ciphers line, -o Ciphers=, -e 'ssh -c ...'), ssh is asked for AES-GCM first: it costs the two ends
far less processor time per byte than OpenSSH's first choice, chacha20-poly1305.";

/// What `--help` shows; `--help-all` and the man page show every option.
const COMMON: &[&str] = &[
    "verbose",
    "quiet",
    "archive",
    "recursive",
    "itemize",
    "dry_run",
    "checksum",
    "delete",
    "exclude",
    "include",
    "partial_progress",
    "compress",
    "rsh",
    "stats",
    "hosts",
    "fanout",
];

/// rsync's flags, as typed.
#[derive(Debug, Parser)]
#[command(
    name = "prsync",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    // rsync takes an option typed twice (`-a -a`, a script's defaults plus the user's).
    args_override_self = true,
    about = "A fast, versatile file copying tool with rsync's options, output and delta transfer",
    override_usage = "prsync [OPTION]... SRC [SRC]... DEST",
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = prtools_help::footer!("prsync"),
    after_long_help = NOTES,
    mut_args = prtools_help::common(COMMON)
)]
pub struct Cli {
    /// Increase verbosity
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Suppress non-error messages
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Archive mode: -rlptgoD (no -H)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Recurse into directories
    #[arg(short = 'r', long = "recursive")]
    pub recursive: bool,
    /// Copy symlinks as symlinks
    #[arg(short = 'l', long = "links")]
    pub links: bool,
    /// Transform symlinks into the files and folders they point to
    #[arg(short = 'L', long = "copy-links")]
    pub copy_links: bool,
    /// Preserve hard links
    #[arg(short = 'H', long = "hard-links")]
    pub hard_links: bool,
    /// Preserve permissions
    #[arg(short = 'p', long = "perms")]
    pub perms: bool,
    /// Preserve modification times
    #[arg(short = 't', long = "times")]
    pub times: bool,
    /// Preserve group
    #[arg(short = 'g', long = "group")]
    pub group: bool,
    /// Preserve owner (super-user only)
    #[arg(short = 'o', long = "owner")]
    pub owner: bool,
    /// Same as --devices --specials
    #[arg(short = 'D')]
    pub devices_specials: bool,
    /// Preserve device files (super-user only)
    #[arg(long = "devices")]
    pub devices: bool,
    /// Preserve special files (fifos, sockets)
    #[arg(long = "specials")]
    pub specials: bool,
    /// Output a change-summary for all updates (rsync's YXcstpoguax strings)
    #[arg(short = 'i', long = "itemize-changes", action = ArgAction::Count)]
    pub itemize: u8,
    /// Perform a trial run with no changes made
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Skip based on checksum, not mod-time & size
    #[arg(short = 'c', long = "checksum")]
    pub checksum: bool,
    /// Skip files that are newer on the receiver
    #[arg(short = 'u', long = "update")]
    pub update: bool,
    /// Copy files whole (the default for local copies)
    #[arg(short = 'W', long = "whole-file", overrides_with = "no_whole_file")]
    pub whole_file: bool,
    /// Use the delta-transfer algorithm even for local copies
    #[arg(
        long = "no-whole-file",
        visible_alias = "no-W",
        overrides_with = "whole_file"
    )]
    pub no_whole_file: bool,
    /// Affect file and/or directory permissions (rsync's CHMOD: D/F, ugoa, +-=, rwxXst, octal)
    #[arg(long = "chmod", value_name = "CHMOD", action = ArgAction::Append)]
    pub chmod: Vec<String>,
    /// Transform symlink to directory into referent directory
    #[arg(short = 'k', long = "copy-dirlinks")]
    pub copy_dirlinks: bool,
    /// Don't cross filesystem boundaries (-xx: leave out the mount points too)
    #[arg(short = 'x', long = "one-file-system", action = ArgAction::Count)]
    pub one_file_system: u8,
    /// Treat symlinked dir on receiver as dir (root's or this user's links only)
    #[arg(short = 'K', long = "keep-dirlinks")]
    pub keep_dirlinks: bool,
    /// Only "unsafe" symlinks are transformed (absolute, or climbing out of the tree)
    #[arg(long = "copy-unsafe-links")]
    pub copy_unsafe_links: bool,
    /// Ignore symlinks that point outside the tree
    #[arg(long = "safe-links")]
    pub safe_links: bool,
    /// Follow symlinks of other users on the destination's path (they are refused)
    #[arg(long = "insecure-links")]
    pub insecure_links: bool,
    /// Refuse operator paths (merge files, --files-from, filter files) resolving outside DIR; not sent to the remote side
    #[arg(long = "confine-root", value_name = "DIR")]
    pub confine_root: Option<PathBuf>,
    /// Skip creating new files on the receiver
    #[arg(long = "existing", visible_alias = "ignore-non-existing")]
    pub existing: bool,
    /// Skip updating files that exist on the receiver
    #[arg(long = "ignore-existing")]
    pub ignore_existing: bool,
    /// Skip files that match in size
    #[arg(long = "size-only")]
    pub size_only: bool,
    /// Don't skip files that match size and time
    #[arg(short = 'I', long = "ignore-times")]
    pub ignore_times: bool,
    /// Don't transfer any file larger than SIZE
    #[arg(long = "max-size", value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Don't transfer any file smaller than SIZE
    #[arg(long = "min-size", value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Also compare destination files relative to DIR
    #[arg(long = "compare-dest", value_name = "DIR", action = ArgAction::Append)]
    pub compare_dest: Vec<PathBuf>,
    /// ... and include copies of unchanged files
    #[arg(long = "copy-dest", value_name = "DIR", action = ArgAction::Append)]
    pub copy_dest: Vec<PathBuf>,
    /// Hardlink to files in DIR when unchanged
    #[arg(long = "link-dest", value_name = "DIR", action = ArgAction::Append)]
    pub link_dest: Vec<PathBuf>,
    /// Create temporary files in directory DIR
    #[arg(short = 'T', long = "temp-dir", value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Prune empty directory chains from file-list
    #[arg(short = 'm', long = "prune-empty-dirs")]
    pub prune_empty_dirs: bool,
    /// Ignore missing source args without error
    #[arg(long = "ignore-missing-args")]
    pub ignore_missing_args: bool,
    /// Sender removes synchronized files (non-directory)
    #[arg(long = "remove-source-files")]
    pub remove_source_files: bool,
    /// Put all updated files into place at end
    #[arg(long = "delay-updates")]
    pub delay_updates: bool,
    /// Omit directories from --times
    #[arg(short = 'O', long = "omit-dir-times")]
    pub omit_dir_times: bool,
    /// Make backups (see --suffix & --backup-dir)
    #[arg(short = 'b', long = "backup")]
    pub backup: bool,
    /// Make backups into hierarchy based in DIR
    #[arg(long = "backup-dir", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Backup suffix (default ~ w/o --backup-dir)
    #[arg(long = "suffix", value_name = "SUFFIX", allow_hyphen_values = true)]
    pub suffix: Option<OsString>,
    /// Use relative path names
    #[arg(short = 'R', long = "relative")]
    pub relative: bool,
    /// Don't send implied dirs with --relative
    #[arg(long = "no-implied-dirs")]
    pub no_implied_dirs: bool,
    /// Transfer directories without recursing
    #[arg(short = 'd', long = "dirs")]
    pub dirs: bool,
    /// No space-splitting; the remote shell never sees the args (--wire=rsync; prsync's own protocol always)
    #[arg(short = 's', long = "protect-args", visible_alias = "secluded-args")]
    pub protect_args: bool,
    /// Read list of source-file names from FILE
    #[arg(long = "files-from", value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// All *-from/filter files are delimited by 0s
    #[arg(short = '0', long = "from0")]
    pub from0: bool,
    /// Create the destination's missing path components
    #[arg(long = "mkpath")]
    pub mkpath: bool,
    /// Update destination files in-place instead of through a temp file
    #[arg(long = "inplace")]
    pub inplace: bool,
    /// Delete extraneous files from destination dirs (during the transfer)
    #[arg(long = "delete")]
    pub delete: bool,
    /// Receiver deletes before the transfer
    #[arg(long = "delete-before")]
    pub delete_before: bool,
    /// Receiver deletes during the transfer (the default with --delete)
    #[arg(long = "delete-during", visible_alias = "del")]
    pub delete_during: bool,
    /// Receiver deletes after the transfer
    #[arg(long = "delete-after")]
    pub delete_after: bool,
    /// Find deletions during, delete after (as --delete-after: the same result and lines)
    #[arg(long = "delete-delay")]
    pub delete_delay: bool,
    /// Don't map uid/gid values by user/group name (prsync never does: ids go as numbers)
    #[arg(long = "numeric-ids")]
    pub numeric_ids: bool,
    /// Custom username mapping (FROM:TO,...; FROM a name, pattern, id, range or *)
    #[arg(long = "usermap", value_name = "STRING")]
    pub usermap: Option<String>,
    /// Custom groupname mapping (FROM:TO,...)
    #[arg(long = "groupmap", value_name = "STRING")]
    pub groupmap: Option<String>,
    /// Simple username/groupname mapping (USER:GROUP; implies -o and -g for what is given)
    #[arg(long = "chown", value_name = "USER:GROUP")]
    pub chown: Option<String>,
    /// Also delete excluded files from destination dirs
    #[arg(long = "delete-excluded")]
    pub delete_excluded: bool,
    /// Exclude files matching PATTERN
    #[arg(long = "exclude", allow_hyphen_values = true, value_name = "PATTERN", action = ArgAction::Append, help_heading = "Filters")]
    pub exclude: Vec<OsString>,
    /// Don't exclude files matching PATTERN
    #[arg(long = "include", allow_hyphen_values = true, value_name = "PATTERN", action = ArgAction::Append, help_heading = "Filters")]
    pub include: Vec<OsString>,
    /// Read exclude patterns from FILE (- for stdin)
    #[arg(long = "exclude-from", value_name = "FILE", action = ArgAction::Append, help_heading = "Filters")]
    pub exclude_from: Vec<PathBuf>,
    /// Read include patterns from FILE (- for stdin)
    #[arg(long = "include-from", value_name = "FILE", action = ArgAction::Append, help_heading = "Filters")]
    pub include_from: Vec<PathBuf>,
    /// Same as --filter='dir-merge /.rsync-filter'; repeated: --filter='- .rsync-filter'
    #[arg(short = 'F', action = ArgAction::Count, help_heading = "Filters")]
    pub filter_files: u8,
    /// Auto-ignore files in the same way CVS does
    #[arg(short = 'C', long = "cvs-exclude", help_heading = "Filters")]
    pub cvs_exclude: bool,
    /// Add a file-filtering RULE
    #[arg(short = 'f', long = "filter", allow_hyphen_values = true, value_name = "RULE", action = ArgAction::Append, help_heading = "Filters")]
    pub filter: Vec<OsString>,
    /// Keep partially transferred files
    #[arg(long = "partial")]
    pub partial: bool,
    /// Put a partially transferred file into DIR (beside the file, or one absolute folder)
    #[arg(long = "partial-dir", value_name = "DIR")]
    pub partial_dir: Option<PathBuf>,
    /// Show progress during transfer
    #[arg(long = "progress")]
    pub progress: bool,
    /// Same as --partial --progress
    #[arg(short = 'P')]
    pub partial_progress: bool,
    /// Force a fixed checksum block-size
    #[arg(short = 'B', long = "block-size", value_name = "SIZE")]
    pub block_size: Option<u64>,
    /// Compress file data during the transfer (zstd; rsync's zlib with --wire=rsync; local copies are not compressed)
    #[arg(short = 'z', long = "compress")]
    pub compress: bool,
    /// Limit the file data sent to each host to RATE (KiB/s, or with a K, M or G suffix)
    #[arg(long = "bwlimit", value_name = "RATE")]
    pub bwlimit: Option<String>,
    /// Specify the remote shell to use
    #[arg(short = 'e', long = "rsh", value_name = "COMMAND")]
    pub rsh: Option<String>,
    /// Specify the prsync to run on the remote machine
    #[arg(
        long = "rsync-path",
        visible_alias = "remote-path",
        value_name = "PROGRAM"
    )]
    pub rsync_path: Option<String>,
    /// Fine-grained informational verbosity (name, progress, stats; others accepted)
    #[arg(long = "info", value_name = "FLAGS", action = ArgAction::Append)]
    pub info: Vec<String>,
    /// Fine-grained debug verbosity (accepted; prsync prints no debug output)
    #[arg(long = "debug", value_name = "FLAGS", action = ArgAction::Append)]
    pub debug: Vec<String>,
    /// Output updates using the specified FORMAT (rsync's %n, %i, %L, %f, %l, %b, %o, %M...)
    #[arg(
        long = "out-format",
        visible_alias = "log-format",
        value_name = "FORMAT"
    )]
    pub out_format: Option<String>,
    /// Give some file-transfer stats
    #[arg(long = "stats")]
    pub stats: bool,
    /// Output numbers in a human-readable format (repeat for units of 1024)
    #[arg(short = 'h', long = "human-readable", action = ArgAction::Count)]
    pub human: u8,
    /// Print the version number (twice, -VV: what this build can do, as JSON)
    #[arg(short = 'V', long = "version", action = ArgAction::Count)]
    pub version: u8,
    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// `--no-OPTION`.
    #[command(flatten)]
    pub no: crate::no_options::NoOptions,
    /// rsync's less common options.
    #[command(flatten)]
    pub more: crate::more_options::MoreArgs,
    /// Which hosts, for `prsync -w HOSTS SRC... :DEST` (shared with the other tools).
    #[command(flatten)]
    pub hosts: LongHostArgs,
    /// How to reach them.
    #[command(flatten)]
    pub conn: LongConnArgs,
    /// Never upload the agent; fail on hosts that lack it
    #[arg(long = "no-bootstrap", help_heading = "Connection")]
    pub no_bootstrap: bool,
    /// What to talk to on the hosts: prsync's agent (uploaded when missing; a host where it
    /// cannot run, such as another machine or a noexec home, is served by its rsync), or
    /// the host's own rsync over rsync's protocol (a push hands the receiver's options to
    /// it as rsync does; a pull does fewer; -c, -B, --bwlimit and --out-format work both
    /// ways; what is not done is refused by name); an --rsync-path that names a stock rsync
    /// also chooses rsync's protocol
    #[arg(
        long = "wire",
        value_name = "PEER",
        value_enum,
        default_value = "agent",
        help_heading = "Connection"
    )]
    pub wire: crate::rsync_peer::Wire,
    /// SRC... DEST
    #[arg(value_name = "PATH", allow_hyphen_values = false)]
    pub paths: Vec<OsString>,
}

/// When `--delete` removes what the sender no longer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteMode {
    /// No deletion.
    Off,
    /// All deletions before any transfer.
    Before,
    /// Each directory's deletions just before its contents (rsync's default).
    During,
    /// All deletions after the transfer.
    After,
}

/// What runs: [`Cli`] resolved.
#[derive(Clone, Debug)]
pub struct Options {
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `-r`.
    pub recursive: bool,
    /// `-l`.
    pub links: bool,
    /// `-L`.
    pub copy_links: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `-s`: with `--wire=rsync`, the server's arguments go on the connection, not on the
    /// remote shell's command line (prsync's own protocol always carries them so).
    pub protect_args: bool,
    /// `-p`.
    pub perms: bool,
    /// `-t`.
    pub times: bool,
    /// `-g`.
    pub group: bool,
    /// `-o`, only when running as root (as rsync: others cannot chown) or with
    /// `--fake-super`, which keeps the owner in an attribute.
    pub owner: bool,
    /// `--super` (`Some(true)`) or `--no-super` (`Some(false)`), the later typed: whether
    /// the receiver does what root may, whoever runs it; `None` leaves it to the user.
    pub super_user: Option<bool>,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-i` given.
    pub itemize: bool,
    /// `-ii`, or `-i` with `-vv`: unchanged entries get a line too.
    pub itemize_all: bool,
    /// `-n`.
    pub dry_run: bool,
    /// `-c`.
    pub checksum: bool,
    /// `-u`.
    pub update: bool,
    /// Whole files rather than deltas (rsync's default for local copies).
    pub whole_file: bool,
    /// `--inplace`.
    pub inplace: bool,
    /// `--mkpath`.
    pub mkpath: bool,
    /// When to delete.
    pub delete: DeleteMode,
    /// `--partial` (or `-P`).
    pub partial: bool,
    /// `--partial-dir` (or `RSYNC_PARTIAL_DIR` with `--partial`).
    pub partial_dir: Option<PathBuf>,
    /// `--progress` (or `-P`).
    pub progress: bool,
    /// `-B`.
    pub block_size: Option<u32>,
    /// `--stats`.
    pub stats: bool,
    /// rsync's human-readable level: 1 by default (digits grouped), 2 units of 1000, 3 of 1024.
    pub human: u8,
    /// The filter rules, in the order typed.
    pub filters: FilterList,
    /// The source operands, as typed (a trailing slash matters).
    pub sources: Vec<OsString>,
    /// The destination operand, as typed (after `host:` for a push).
    pub dest: OsString,
    /// Where the other end of the transfer is.
    pub remote: Remote,
    /// How to reach remote hosts.
    pub config: Config,
    /// `--rsync-path`: the agent to run on the hosts instead of uploading this prsync.
    pub remote_path: Option<String>,
    /// `--no-bootstrap`.
    pub no_bootstrap: bool,
    /// `--wire`: prsync's agent or the host's rsync.
    pub wire: crate::rsync_peer::Wire,
    /// `--chmod`, every one given, in order.
    pub chmod: Option<crate::chmod::Chmod>,
    /// The `--chmod` texts, for the agent's command line.
    pub chmod_text: Vec<String>,
    /// `-k`.
    pub copy_dirlinks: bool,
    /// `-K`.
    pub keep_dirlinks: bool,
    /// `-x` count.
    pub one_file_system: u8,
    /// `--numeric-ids`: ids have no names for `--usermap`/`--groupmap`.
    pub numeric_ids: bool,
    /// `--usermap`, or `--chown`'s user.
    pub usermap: Option<crate::idmap::IdMap>,
    /// `--groupmap`, or `--chown`'s group.
    pub groupmap: Option<crate::idmap::IdMap>,
    /// `--copy-unsafe-links`.
    pub copy_unsafe_links: bool,
    /// `--safe-links`: the receiver leaves out unsafe symlinks.
    pub safe_links: bool,
    /// `--insecure-links`: another user's symlink on the destination's path is followed.
    pub insecure_links: bool,
    /// `--confine-root`: operator paths must resolve inside this folder.
    pub confine_root: Option<PathBuf>,
    /// `--existing`: files, links and folders not there are not made.
    pub existing: bool,
    /// `--ignore-existing`: files already there are left as they are.
    pub ignore_existing: bool,
    /// `--size-only`: the quick check compares sizes alone.
    pub size_only: bool,
    /// `-I`: the quick check never says "unchanged" by size and time.
    pub ignore_times: bool,
    /// `--max-size`, in bytes.
    pub max_size: Option<u64>,
    /// `--min-size`, in bytes.
    pub min_size: Option<u64>,
    /// This is the agent receiving a push: what it sends shows as `<f...` in `-i` lines, the
    /// pushing side's view, as rsync prints a push.
    pub pushed: bool,
    /// `-z`: file data crosses the network compressed with zstd.
    pub compress: bool,
    /// `--bwlimit`, in bytes per second.
    pub bwlimit: Option<u64>,
    /// `--compare-dest`, `--copy-dest` or `--link-dest`, with their folders.
    pub alt_dest: Option<crate::alt_dest::AltDest>,
    /// `-R` (also implied by `--files-from`).
    pub relative: bool,
    /// With `-R`: the folders on the way to each source are sent (not `--no-implied-dirs`).
    pub implied_dirs: bool,
    /// `-d` (also implied by `--files-from`).
    pub dirs: bool,
    /// The `--info` levels given.
    pub info: crate::info::Info,
    /// `-b`, `--backup-dir`, `--suffix`.
    pub backup: Option<crate::backup::Backup>,
    /// `-O`, also implied by `-b` without `--backup-dir`, as in rsync: folders keep the time
    /// of their last change.
    pub omit_dir_times: bool,
    /// `--delay-updates`.
    pub delay_updates: bool,
    /// Whether rsync would list incrementally (see [`Options::list_banner`]).
    pub inc_recursive: bool,
    /// `-T`: new files are written in this folder (below the destination if relative),
    /// then moved into place.
    pub temp_dir: Option<PathBuf>,
    /// `-m`.
    pub prune_empty_dirs: bool,
    /// `--remove-source-files`.
    pub remove_source_files: bool,
    /// `--ignore-missing-args`.
    pub ignore_missing_args: bool,
    /// rsync's less common options (`-E`, `-J`, `--force`, `--max-delete`, `--stop-at`...).
    pub more: crate::more_options::More,
    /// `--out-format`: each updated entry's line, in place of `-i`'s and `-v`'s.
    pub out_format: Option<crate::out_format::OutFormat>,
    /// What `--out-format`'s `%f` puts before a name: the one local source's folder.
    pub source_prefix: Option<Vec<u8>>,
}

/// Where the other end of a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Both ends on this machine.
    Local,
    /// Sources here, DEST on these hosts (`host:DEST`, or `-w HOSTS ... :DEST`).
    Push(Vec<HostSpec>),
    /// Sources on this host (`host:SRC...`), DEST here.
    Pull(HostSpec),
}

impl Options {
    /// Whether names are printed as they go: `-v`, or `--progress`, which rsync makes print
    /// them too (without `-v`'s summary at the end).
    pub fn names(&self) -> bool {
        match self.info.name {
            Some(level) => level > 0,
            None => self.verbose > 0 || self.progress,
        }
    }

    /// The line that opens `-v`'s output (or `--progress`'s, whatever `--info=name` says),
    /// by rsync's rules: its incremental recursion, which `--delete-before`,
    /// `--delete-after` and `--delay-updates` turn off, says `... incremental file list`;
    /// without it, a recursive (or `-d`) list says `... file list ... done`; a list of
    /// named files alone says nothing. `pull`: this side receives the list.
    pub fn list_banner(&self, pull: bool) -> Option<&'static str> {
        if !(self.verbose > 0 || self.progress) {
            return None;
        }
        match (self.inc_recursive, self.recursive || self.dirs, pull) {
            (true, _, false) => Some("sending incremental file list"),
            (true, _, true) => Some("receiving incremental file list"),
            (false, true, false) => Some("building file list ... done"),
            (false, true, true) => Some("receiving file list ... done"),
            (false, false, _) => None,
        }
    }

    /// The zstd level file data crosses the network with, when it is compressed: `-z`, or a
    /// `--compress-level` or `--compress-choice` that imply it, unless `--compress-level=0`
    /// or `--compress-choice=none` turn it off, as in rsync.
    pub fn compress_level(&self) -> Option<i32> {
        match self.more.compress_level {
            Some(0) => None,
            level => (self.compress || level.is_some() || self.more.compress_chosen)
                .then(|| level.unwrap_or(crate::remote::wire::ZSTD_LEVEL)),
        }
    }

    /// The `--info=skip` level: why a file is skipped is said from 1 (`-vv`).
    pub fn skip_level(&self) -> u8 {
        self.info.skip.unwrap_or(u8::from(self.verbose > 1))
    }

    /// Whether each filter rule that decides a name is said (`--debug=FILTER`, which `-vv`
    /// sets), by the sender as it lists and by the receiver before it deletes.
    pub fn trace_filters(&self) -> bool {
        self.more.debug_filter || self.verbose > 1
    }

    /// Whether the delta search's `total:` counts are said at the end (`--debug=DELTASUM`,
    /// which `-vv` sets), as rsync's sender says them once it has sent every file.
    pub fn trace_deltasum(&self) -> bool {
        self.more.debug_deltasum || self.verbose > 1
    }

    /// rsync's `am_root`: whether the receiver may do what root may (set any group, make
    /// devices).
    pub fn am_root(&self) -> bool {
        self.super_user
            .unwrap_or_else(|| rustix::process::geteuid().is_root())
    }

    /// Whether what is already up to date is named too: `-vv`, or `--info=name2`.
    pub fn names_uptodate(&self) -> bool {
        self.info.name.map_or(self.verbose > 1, |level| level > 1)
    }

    /// Whether the closing `sent ... received ...` lines are printed: `-v`, `--stats`, or
    /// `--info=stats`.
    pub fn summary(&self) -> bool {
        self.info
            .stats
            .map_or(self.stats || self.verbose > 0, |level| level > 0)
    }

    /// The options as flags for the agent's parser: what decides how the far end lists,
    /// compares, writes and prints. Filters go as `--filter` rules, so that `--exclude-from`
    /// files are read here, where they are.
    pub fn server_args(&self) -> Vec<Vec<u8>> {
        let mut args: Vec<Vec<u8>> = Vec::new();
        let mut flag = |on: bool, f: &str| {
            if on {
                args.push(f.as_bytes().to_vec());
            }
        };
        for _ in 0..self.verbose {
            flag(true, "-v");
        }
        flag(self.quiet, "-q");
        flag(self.recursive, "-r");
        flag(self.links, "-l");
        flag(self.copy_links, "-L");
        flag(self.hard_links, "-H");
        flag(self.perms, "-p");
        flag(self.times, "-t");
        flag(self.group, "-g");
        flag(self.owner, "-o");
        flag(self.super_user == Some(true), "--super");
        flag(self.super_user == Some(false), "--no-super");
        flag(self.devices, "--devices");
        flag(self.specials, "--specials");
        flag(self.itemize, "-i");
        flag(self.itemize_all, "-i");
        flag(self.dry_run, "-n");
        flag(self.checksum, "-c");
        flag(self.update, "-u");
        flag(self.whole_file, "-W");
        flag(!self.whole_file, "--no-W");
        flag(self.inplace, "--inplace");
        flag(self.mkpath, "--mkpath");
        flag(self.delete == DeleteMode::Before, "--delete-before");
        flag(self.delete == DeleteMode::During, "--delete-during");
        flag(self.delete == DeleteMode::After, "--delete-after");
        flag(self.filters.delete_excluded(), "--delete-excluded");
        flag(self.partial, "--partial");
        flag(self.stats, "--stats");
        flag(self.compress, "-z");
        flag(self.insecure_links, "--insecure-links");
        flag(self.copy_dirlinks, "-k");
        flag(self.keep_dirlinks, "-K");
        for _ in 0..self.one_file_system {
            flag(true, "-x");
        }
        flag(self.copy_unsafe_links, "--copy-unsafe-links");
        flag(self.safe_links, "--safe-links");
        flag(self.existing, "--existing");
        flag(self.ignore_existing, "--ignore-existing");
        flag(self.size_only, "--size-only");
        flag(self.ignore_times, "-I");
        flag(self.relative, "-R");
        flag(self.omit_dir_times, "-O");
        flag(self.delay_updates, "--delay-updates");
        flag(self.prune_empty_dirs, "-m");
        flag(self.ignore_missing_args, "--ignore-missing-args");
        flag(self.relative && !self.implied_dirs, "--no-implied-dirs");
        flag(self.dirs, "-d");
        for _ in 1..self.human {
            flag(true, "-h");
        }
        if self.info != crate::info::Info::default() {
            let level = |l: Option<u8>| l.map(|l| l.to_string());
            let mut words = Vec::new();
            for (word, l) in [
                ("name", level(self.info.name)),
                ("progress", level(self.info.progress)),
                ("stats", level(self.info.stats)),
                ("backup", level(self.info.backup)),
            ] {
                if let Some(l) = l {
                    words.push(format!("{word}{l}"));
                }
            }
            args.push(format!("--info={}", words.join(",")).into_bytes());
        }
        for text in &self.chmod_text {
            args.push(format!("--chmod={text}").into_bytes());
        }
        if let Some(n) = self.max_size {
            args.push(format!("--max-size={n}").into_bytes());
        }
        if let Some(n) = self.min_size {
            args.push(format!("--min-size={n}").into_bytes());
        }
        if let Some(alt) = &self.alt_dest {
            for dir in &alt.dirs {
                let mut arg = format!("{}=", alt.kind.flag()).into_bytes();
                arg.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
                args.push(arg);
            }
        }
        if let Some(backup) = &self.backup {
            args.push(b"-b".to_vec());
            if let Some(dir) = &backup.dir {
                let mut arg = b"--backup-dir=".to_vec();
                arg.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
                args.push(arg);
            }
            args.push([&b"--suffix="[..], &backup.suffix].concat());
        }
        if let Some(dir) = &self.partial_dir {
            let mut arg = b"--partial-dir=".to_vec();
            arg.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
            args.push(arg);
        }
        if let Some(dir) = &self.temp_dir {
            let mut arg = b"--temp-dir=".to_vec();
            arg.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
            args.push(arg);
        }
        if let Some(b) = self.block_size {
            args.push(format!("--block-size={b}").into_bytes());
        }
        if let Some(rate) = self.bwlimit {
            args.push(format!("--bwlimit={}K", rate.div_ceil(1024)).into_bytes());
        }
        for rule in self.filters.to_args() {
            let mut arg = b"--filter=".to_vec();
            arg.extend(rule);
            args.push(arg);
        }
        args.extend(self.more.server_args());
        if self.numeric_ids {
            args.push(b"--numeric-ids".to_vec());
        }
        if let Some(map) = &self.usermap {
            args.push(format!("--usermap={}", map.text()).into_bytes());
        }
        if let Some(map) = &self.groupmap {
            args.push(format!("--groupmap={}", map.text()).into_bytes());
        }
        if let Some(format) = &self.out_format {
            args.push(format!("--out-format={}", format.text()).into_bytes());
        }
        args
    }
}

/// Parses the flags a client sent its agent (see [`Options::server_args`]).
pub fn parse_server_args(args: &[Vec<u8>]) -> Result<Options> {
    use std::os::unix::ffi::OsStringExt;
    let argv = std::iter::once(OsString::from("prsync"))
        .chain(args.iter().map(|a| OsString::from_vec(a.clone())))
        .chain(["--".into(), ".".into(), ".".into()]);
    match parse(argv)? {
        Parsed::Run(opts) => Ok(*opts),
        Parsed::Exit(_) => bail!("the client sent no transfer options"),
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// A transfer.
    Run(Box<Options>),
    /// Help or version was printed; exit with this status.
    Exit(i32),
}

/// Parses and resolves a command line (the first item is the program name).
pub fn parse<I, T>(args: I) -> Result<Parsed>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) if !e.use_stderr() => {
            // --help: clap prints it; exit 0 as rsync does.
            let _ = e.print();
            return Ok(Parsed::Exit(0));
        }
        Err(e) => bail!("{}", one_line(&e)),
    };
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| anyhow::anyhow!(one_line(&e)))?;
    crate::no_options::apply(&mut cli, &matches);
    match cli.version {
        0 => {}
        1 => {
            print!("{}", crate::version::text());
            return Ok(Parsed::Exit(0));
        }
        _ => {
            print!("{}", crate::version::json());
            return Ok(Parsed::Exit(0));
        }
    }
    for (values, option) in [(&cli.info, "--info"), (&cli.debug, "--debug")] {
        if let Some(text) = crate::info::help(values, option) {
            print!("{text}");
            return Ok(Parsed::Exit(0));
        }
    }
    let filters = filters_in_order(&matches, cli.cvs_exclude)?;
    let alt_dest = alt_dest_in_order(&matches)?;
    let mut opts = resolve(cli, filters, alt_dest)?;
    if let Some(batch) = &mut opts.more.batch {
        // FILE.sh repeats the command line as typed, without its operands: found from the
        // end, as rsync finds them (clap's indices count `--opt=value` as two).
        let mut operands: Vec<&std::ffi::OsStr> =
            matches.get_raw("paths").into_iter().flatten().collect();
        for (i, arg) in args.iter().enumerate().skip(1).rev() {
            if operands.last() == Some(&arg.as_os_str()) {
                operands.pop();
                batch.operands.insert(0, i);
            }
        }
        batch.argv = args;
    }
    Ok(Parsed::Run(Box::new(opts)))
}

/// `--compare-dest`, `--copy-dest` and `--link-dest` in the order typed, which rsync's
/// error for mixing them follows.
fn alt_dest_in_order(m: &ArgMatches) -> Result<Option<crate::alt_dest::AltDest>> {
    use crate::alt_dest::{AltDest, AltKind};
    let mut given: Vec<(usize, AltKind, PathBuf)> = Vec::new();
    for (id, kind) in [
        ("compare_dest", AltKind::Compare),
        ("copy_dest", AltKind::Copy),
        ("link_dest", AltKind::Link),
    ] {
        if let (Some(values), Some(indices)) = (m.get_raw(id), m.indices_of(id)) {
            for (v, i) in values.zip(indices) {
                given.push((i, kind, PathBuf::from(v)));
            }
        }
    }
    given.sort_by_key(|(i, _, _)| *i);
    AltDest::from_given(given.into_iter().map(|(_, k, d)| (k, d)).collect())
        .map_err(anyhow::Error::msg)
}

/// clap's error as one line, without the `prsync: ` the caller adds. An option prsync lacks
/// is named in rsync's words (`--foo: unknown option`), which scripts and rsync's own test
/// suite look for to tell a missing feature from a failed run.
fn one_line(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) {
            let option = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
            return format!("{option}: unknown option; see `prsync --help`");
        }
    }
    let line = prtools_transport::one_line_error("prsync", err);
    line.strip_prefix("prsync: ").unwrap_or(&line).to_string()
}

/// The filter options in the order they were typed.
fn filters_in_order(m: &ArgMatches, cvs: bool) -> Result<FilterList> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    enum Item {
        Exclude(OsString),
        Include(OsString),
        ExcludeFrom(PathBuf),
        IncludeFrom(PathBuf),
        Filter(OsString),
    }
    let mut items: Vec<(usize, Item)> = Vec::new();
    let mut take = |id: &str, make: &dyn Fn(OsString) -> Item| {
        if let (Some(values), Some(indices)) = (m.get_raw(id), m.indices_of(id)) {
            for (v, i) in values.zip(indices) {
                items.push((i, make(v.to_os_string())));
            }
        }
    };
    take("exclude", &Item::Exclude);
    take("include", &Item::Include);
    take("exclude_from", &|v| Item::ExcludeFrom(v.into()));
    take("include_from", &|v| Item::IncludeFrom(v.into()));
    take("filter", &Item::Filter);
    // -F, where typed: the first is a dir-merge of .rsync-filter, the second leaves the
    // files themselves out, as in rsync.
    if m.value_source("filter_files") == Some(clap::parser::ValueSource::CommandLine) {
        let at: Vec<usize> = m.indices_of("filter_files").into_iter().flatten().collect();
        let count = usize::from(m.get_count("filter_files"));
        let first = at.first().copied().unwrap_or(0);
        for k in 0..count.min(2) {
            let rule = [&b"dir-merge /.rsync-filter"[..], b"- .rsync-filter"][k];
            let i = at.get(k).copied().unwrap_or(first);
            items.push((i, Item::Filter(OsString::from_vec(rule.to_vec()))));
        }
    }
    items.sort_by_key(|(i, _)| *i);
    // -C: CVS's rules go after all the others, each folder's .cvsignore first.
    if cvs {
        items.push((usize::MAX, Item::Filter(":C".into())));
        items.push((usize::MAX, Item::Filter("-C".into())));
    }

    let mut list = FilterList::new();
    for (_, item) in items {
        match item {
            Item::Exclude(p) => list.push_exclude(p.as_bytes())?,
            Item::Include(p) => list.push_include(p.as_bytes())?,
            Item::Filter(r) => list.push_filter(r.as_bytes())?,
            Item::ExcludeFrom(f) => read_rules(&mut list, &f, Action::Exclude, m)?,
            Item::IncludeFrom(f) => read_rules(&mut list, &f, Action::Include, m)?,
        }
    }
    Ok(list)
}

fn read_rules(
    list: &mut FilterList,
    file: &std::path::Path,
    action: Action,
    m: &ArgMatches,
) -> Result<()> {
    let confine = m
        .get_one::<PathBuf>("confine_root")
        .filter(|d| d.is_absolute() && d.as_path() != Path::new("/"));
    trusted_path(
        file,
        "filter file",
        m.get_flag("insecure_links"),
        confine.map(PathBuf::as_path),
    )?;
    let result = if file.as_os_str() == "-" {
        list.read_from(std::io::stdin().lock(), action, Delimiter::Lines)
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot read filter file '{}'", file.display()))?;
        list.read_from(f, action, Delimiter::Lines)
    };
    result.with_context(|| format!("in filter file '{}'", file.display()))
}

fn resolve(
    mut cli: Cli,
    mut filters: FilterList,
    alt_dest: Option<crate::alt_dest::AltDest>,
) -> Result<Options> {
    let confine_root = confine_root(&cli)?;
    let mut paths = std::mem::take(&mut cli.paths);
    if cli.more.read_batch.is_some() {
        crate::batch::check_read_options(&cli, &mut paths)?;
    } else if paths.len() == 1 || (cli.more.list_only && !paths.is_empty()) {
        // As rsync: a source alone is listed, not copied (the destination is then unused).
        cli.more.list_only = true;
        if paths.len() == 1 {
            paths.push(OsString::from("."));
        }
        // A folder named without -r is listed itself, as with -d.
        cli.dirs |= !cli.recursive;
    }
    if paths.len() < 2 && cli.more.read_batch.is_none() {
        bail!(
            "missing SRC or DEST: give at least one source and a destination, as in \
             `prsync -a src/ dst/`; see `prsync --help`"
        );
    }
    let mut dest = paths.pop().expect("two or more paths");
    // --files-from=host:FILE is read on the transfer's remote host, once it is reached.
    let transfer_host = remote_part(&dest).or_else(|| paths.first().and_then(|p| remote_part(p)));
    // `:FILE`, with no host, is on the transfer's remote host, as in rsync.
    let list_host = cli.files_from.as_deref().and_then(|f| {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(f.as_os_str());
        match bytes.first() {
            Some(b':') => Some(transfer_host.clone().unwrap_or_default()),
            _ => remote_part(f.as_os_str()),
        }
    });
    if list_host.is_some() && list_host != transfer_host {
        bail!(
            "--files-from hostname is not the same as the transfer hostname; hint: name the              host of the remote SRC or DEST, or a local file"
        );
    }
    let (remote, sources) = remote_operands(&cli, paths, &mut dest)?;
    let mut remote_list = None;
    let paths = match &cli.files_from {
        Some(file) if list_host.is_some() => {
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(file.as_os_str());
            let colon = bytes.iter().position(|&b| b == b':').unwrap_or(0);
            remote_list = Some(bytes[colon + 1..].to_vec());
            if sources.len() != 1 {
                bail!(
                    "--files-from takes one source folder, which the names listed are below, \
                     and a destination, as in `prsync -a --files-from=host:list src/ host:dst/`"
                );
            }
            sources
        }
        Some(file) => files_from(
            file,
            cli.from0,
            cli.insecure_links,
            confine_root.as_deref(),
            &sources,
        )?,
        None => sources,
    };
    let block_size = match cli.block_size {
        None => None,
        Some(n) => Some(
            prtools_delta::SignatureOptions::check_block_size(n)
                .map_err(|e| anyhow::anyhow!("-B {n}: {e}"))?,
        ),
    };
    let delete_after = cli.delete_after || cli.delete_delay;
    let delete_asked = cli.delete || cli.delete_before || cli.delete_during || delete_after;
    let delete_asked = delete_asked || cli.delete_excluded;
    let when = [cli.delete_before, cli.delete_during, delete_after]
        .iter()
        .filter(|&&b| b)
        .count();
    if when > 1 {
        bail!("choose one of --delete-before, --delete-during and --delete-after");
    }
    let delete = if !delete_asked {
        DeleteMode::Off
    } else if cli.delete_before {
        DeleteMode::Before
    } else if delete_after {
        DeleteMode::After
    } else {
        DeleteMode::During
    };
    // --files-from: the names listed, below the one source (see `no_options::apply` for -r).
    let files_from = cli.files_from.is_some();
    let recursive = cli.recursive;
    // As rsync: --files-from implies --dirs, under which the names listed are what is
    // deleted (with --delete-missing-args) and a folder sent with its entries is swept.
    if delete != DeleteMode::Off && !recursive && !cli.dirs && !files_from {
        bail!(
            "--delete does not work without --recursive (-r) or --dirs (-d).\n\
             hint: add -r (or -a) to delete throughout the tree, or -d for one level"
        );
    }
    filters.set_delete_excluded(cli.delete_excluded);
    let backup = crate::backup::Backup::from_options(
        cli.backup,
        cli.backup_dir.as_deref(),
        cli.suffix
            .as_ref()
            .map(|s| std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str())),
    )
    .map_err(anyhow::Error::msg)?;
    if cli.remove_source_files && remote != Remote::Local {
        bail!(
            "--remove-source-files works on copies on this machine only so far; hint: copy \
             first, then remove the sources once the copy checks out"
        );
    }
    if cli.delay_updates && cli.inplace {
        bail!("--inplace cannot be used with --delay-updates");
    }
    // As rsync: the folders where updates wait are neither sent nor deleted.
    if cli.delay_updates {
        filters.push_filter(b"- .~tmp~/")?;
    }
    // As rsync: backups beside the files are never deleted.
    if let Some(rule) = backup.as_ref().and_then(|b| b.protect_rule()) {
        if delete != DeleteMode::Off && !cli.delete_excluded {
            filters.push_filter(&rule)?;
        }
    }
    // --super tries what root may as anyone, --no-super leaves it as root (rsync's am_root).
    let super_user = match (cli.more.superuser, cli.no.no_super > 0) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    };
    let am_root = super_user.unwrap_or_else(|| rustix::process::geteuid().is_root());
    let bwlimit = match cli.bwlimit.as_deref() {
        None => None,
        Some(text) => parse_rate(text)?,
    };
    let size = |flag: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| crate::size_arg::parse(flag, t))
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let max_size = size("--max-size", &cli.max_size)?;
    let chmod = match cli.chmod.is_empty() {
        true => None,
        false => {
            Some(crate::chmod::Chmod::parse(&cli.chmod.join(",")).map_err(anyhow::Error::msg)?)
        }
    };
    let min_size = size("--min-size", &cli.min_size)?;
    let info = crate::info::parse_info(&cli.info).map_err(anyhow::Error::msg)?;
    crate::info::check_debug(&cli.debug).map_err(anyhow::Error::msg)?;
    let _ = exit::OK;
    let mut more = cli.more.resolve(&cli.debug).map_err(anyhow::Error::msg)?;
    if let Some(zlib) = more
        .compress_choice
        .as_deref()
        .filter(|c| c.starts_with("zlib"))
    {
        if remote != Remote::Local && cli.wire == crate::rsync_peer::Wire::Agent {
            bail!(
                "--compress-choice={zlib} is rsync's protocol's, and prsync's agent compresses \
                 with zstd; hint: give --wire=rsync, or --compress-choice=zstd"
            );
        }
    }
    if let Some(choice) = more.checksum_choice.as_deref() {
        let rsync_only = !matches!(
            prtools_rsync_wire::checksum::Checksum::choice(choice),
            Ok(None | Some(prtools_rsync_wire::checksum::Checksum::Xxh128))
        );
        if rsync_only && (remote == Remote::Local || cli.wire == crate::rsync_peer::Wire::Agent) {
            bail!(
                "--checksum-choice={choice}: prsync's protocol checksums with xxh128; \
                 hint: give --checksum-choice=xxh128, or --wire=rsync for rsync's names"
            );
        }
    }
    crate::batch::check_write_options(&cli, &mut more, &remote)?;
    more.remote_files_from = remote_list;
    more.from0 = cli.from0;
    // A local copy's receiver takes -M's options too, as rsync's forked receiver parses
    // them; of those, --fake-super is the one that decides how it writes.
    if remote == Remote::Local && more.remote_options.iter().any(|o| o == b"--fake-super") {
        more.fake_super = true;
    }
    let (usermap, groupmap) = id_maps(&cli).map_err(anyhow::Error::msg)?;
    let partial_dir = partial_dir(&cli)?;
    if let Some(dir) = partial_dir.as_ref().filter(|d| d.is_relative()) {
        // As rsync: the folders are not sent, and so not deleted either.
        let mut rule = b"- ".to_vec();
        rule.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
        rule.push(b'/');
        filters.push_filter(&rule)?;
    }
    let source_prefix = match paths.as_slice() {
        [one] => Some(source_prefix(std::os::unix::ffi::OsStrExt::as_bytes(
            one.as_os_str(),
        ))),
        _ => None,
    };
    // As rsync: -e, else $RSYNC_RSH.
    let rsh = cli
        .rsh
        .clone()
        .or_else(|| std::env::var("RSYNC_RSH").ok().filter(|v| !v.is_empty()));
    Ok(Options {
        verbose: if cli.quiet { 0 } else { cli.verbose },
        quiet: cli.quiet,
        recursive,
        links: (cli.links || cli.archive) && !cli.copy_links,
        copy_links: cli.copy_links,
        hard_links: cli.hard_links,
        protect_args: cli.protect_args,
        perms: cli.perms || cli.archive || more.acls,
        times: cli.times || cli.archive,
        group: cli.group || cli.archive || groupmap.is_some(),
        owner: (cli.owner || cli.archive || usermap.is_some()) && (am_root || more.fake_super),
        super_user,
        devices: (cli.devices || cli.devices_specials || cli.archive)
            && (am_root || more.fake_super),
        specials: cli.specials || cli.devices_specials || cli.archive,
        itemize: cli.itemize > 0 && !cli.quiet,
        itemize_all: (cli.itemize > 1
            || (cli.itemize > 0 && info.name.map_or(cli.verbose > 1, |level| level > 1)))
            && !cli.quiet,
        // As rsync: --only-write-batch is a dry run that records; -n writes no batch.
        dry_run: cli.dry_run
            || more
                .batch
                .as_ref()
                .is_some_and(|b| b.mode == crate::batch::Mode::OnlyWrite),
        checksum: cli.checksum,
        update: cli.update,
        // As rsync: whole files between local paths, deltas across a network.
        whole_file: if remote == Remote::Local {
            !cli.no_whole_file
        } else {
            cli.whole_file
        },
        // --append writes into the file itself, as rsync's implies --inplace.
        inplace: cli.inplace || more.append > 0,
        mkpath: cli.mkpath,
        delete,
        partial: cli.partial || cli.partial_progress || partial_dir.is_some(),
        partial_dir,
        progress: (cli.progress || cli.partial_progress || info.progress.is_some_and(|l| l > 0))
            && !cli.quiet,
        block_size,
        stats: cli.stats || info.stats.is_some_and(|l| l > 1),
        human: 1 + cli.human,
        filters,
        sources: paths,
        dest,
        config: Config {
            bulk: true,
            ..cli
                .conn
                .config(rsh.as_deref())
                .map_err(anyhow::Error::msg)?
        },
        remote,
        remote_path: cli.rsync_path.clone(),
        compress: cli.compress,
        bwlimit,
        no_bootstrap: cli.no_bootstrap,
        wire: cli.wire,
        pushed: false,
        chmod,
        chmod_text: cli.chmod.clone(),
        copy_dirlinks: cli.copy_dirlinks,
        keep_dirlinks: cli.keep_dirlinks,
        one_file_system: cli.one_file_system,
        numeric_ids: cli.numeric_ids,
        usermap,
        groupmap,
        copy_unsafe_links: cli.copy_unsafe_links,
        safe_links: cli.safe_links,
        insecure_links: cli.insecure_links,
        confine_root: confine_root.clone(),
        existing: cli.existing,
        ignore_existing: cli.ignore_existing,
        size_only: cli.size_only,
        ignore_times: cli.ignore_times,
        max_size,
        min_size,
        alt_dest,
        info,
        delay_updates: cli.delay_updates,
        temp_dir: cli.temp_dir.clone(),
        prune_empty_dirs: cli.prune_empty_dirs,
        remove_source_files: cli.remove_source_files,
        ignore_missing_args: cli.ignore_missing_args,
        inc_recursive: recursive
            && !(cli.delete_before
                || cli.delete_after
                || cli.delay_updates
                || cli.prune_empty_dirs),
        omit_dir_times: cli.omit_dir_times || backup.as_ref().is_some_and(|b| b.dir.is_none()),
        backup,
        relative: cli.relative || files_from,
        implied_dirs: !cli.no_implied_dirs,
        dirs: cli.dirs || files_from,
        more,
        out_format: cli
            .out_format
            .as_deref()
            .map(crate::out_format::OutFormat::parse),
        source_prefix,
    })
}

/// `--partial-dir`, or `RSYNC_PARTIAL_DIR` with `--partial`, as rsync takes them: `.` or
/// nothing is none, and `--inplace` cannot go with one.
fn partial_dir(cli: &Cli) -> Result<Option<PathBuf>> {
    let from_env = || {
        (cli.partial || cli.partial_progress)
            .then(|| std::env::var_os("RSYNC_PARTIAL_DIR"))
            .flatten()
            .map(PathBuf::from)
    };
    let Some(dir) = cli.partial_dir.clone().or_else(from_env) else {
        return Ok(None);
    };
    if dir.as_os_str().is_empty() || dir.as_os_str() == "." {
        return Ok(None);
    }
    if cli.more.append || cli.more.append_verify {
        bail!("--append cannot be used with --partial-dir");
    }
    if cli.inplace {
        bail!("--inplace cannot be used with --partial-dir");
    }
    if dir.is_relative()
        && dir
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        bail!(
            "--partial-dir={}: a relative partial folder stays beside each file; hint: give \
             a name without '..', or an absolute path",
            dir.display()
        );
    }
    Ok(Some(dir))
}

/// `--usermap`, `--groupmap` and `--chown`, which stands for both: given together with a
/// map of the same side, they conflict, as in rsync.
type IdMaps = (Option<crate::idmap::IdMap>, Option<crate::idmap::IdMap>);
fn id_maps(cli: &Cli) -> Result<IdMaps, String> {
    use crate::idmap::{chown_maps, IdMap, Ids};
    let (chown_user, chown_group) = match &cli.chown {
        Some(text) => chown_maps(text)?,
        None => (None, None),
    };
    let user = match (&cli.usermap, chown_user) {
        (Some(_), Some(_)) => return Err("--chown conflicts with --usermap".into()),
        (Some(text), None) => Some(IdMap::parse(Ids::Users, text)?),
        (None, chown) => chown,
    };
    let group = match (&cli.groupmap, chown_group) {
        (Some(_), Some(_)) => return Err("--chown conflicts with --groupmap".into()),
        (Some(text), None) => Some(IdMap::parse(Ids::Groups, text)?),
        (None, chown) => chown,
    };
    Ok((user, group))
}

/// The folder `%f` puts before the names a source sends: the source itself with a trailing
/// slash (its contents are sent), else the folder it is in.
fn source_prefix(source: &[u8]) -> Vec<u8> {
    if source.ends_with(b"/") {
        return source.to_vec();
    }
    match source.iter().rposition(|&b| b == b'/') {
        Some(at) => source[..=at].to_vec(),
        None => Vec::new(),
    }
}

/// `--confine-root` as rsync takes it: absolute, never with `--insecure-links` (whose open
/// skips the walk that keeps to the root), and `/` confines nothing.
fn confine_root(cli: &Cli) -> Result<Option<PathBuf>> {
    match &cli.confine_root {
        None => Ok(None),
        Some(dir) if !dir.is_absolute() => {
            bail!("--confine-root must be an absolute path; hint: give the full path of the folder")
        }
        Some(_) if cli.insecure_links => {
            bail!("--insecure-links cannot be combined with --confine-root; hint: drop one of them")
        }
        Some(dir) if dir == Path::new("/") => Ok(None),
        Some(dir) => Ok(Some(dir.clone())),
    }
}

/// Refuses a file the user named (`what`) that is reached through another user's symlink,
/// as rsync 3.5 refuses such operator paths (see [`crate::trust`]), or that resolves
/// outside `--confine-root`.
fn trusted_path(file: &Path, what: &str, insecure: bool, confine: Option<&Path>) -> Result<()> {
    if file.as_os_str() == "-" {
        return Ok(());
    }
    crate::trust::check_operator_path(file, insecure)
        .map_err(|e| anyhow::anyhow!("{what} '{}': {e}", file.display()))?;
    match confine {
        Some(root) if !crate::trust::inside(root, file) => bail!(
            "{what} '{}' resolves outside --confine-root {}",
            file.display(),
            root.display()
        ),
        _ => Ok(()),
    }
}

/// `--files-from=FILE` (`-` for stdin): each name listed, one a line (a NUL with
/// `--from0`), becomes a source below the one folder given, cut at `/./` for `-R` as rsync
/// does: `base/./name`, or `base/name` when the name has its own `/./`.
fn files_from(
    file: &Path,
    from0: bool,
    insecure: bool,
    confine: Option<&Path>,
    sources: &[OsString],
) -> Result<Vec<OsString>> {
    use std::io::Read;
    let [base] = sources else {
        bail!(
            "--files-from takes one source folder, which the names in '{}' are below, and a \
             destination, as in `prsync -a --files-from=list src/ dst/`",
            file.display()
        );
    };
    trusted_path(file, "--files-from file", insecure, confine)?;
    let mut text = Vec::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut text))
    };
    read.with_context(|| format!("cannot read --files-from file '{}'", file.display()))?;
    Ok(files_from_names(&text, from0, true, base))
}

/// The sources named in a `--files-from` list (`text`), below the source folder `base`.
/// `comments`: lines that start with `#` or `;` name nothing, as in a local list (rsync
/// takes a list read on the remote host as it is).
pub fn files_from_names(
    text: &[u8],
    from0: bool,
    comments: bool,
    base: &OsString,
) -> Vec<OsString> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let base = base.as_bytes();
    let base = match base.strip_suffix(b"/") {
        Some(b) if !b.is_empty() => b,
        _ => base,
    };
    let split = if from0 { 0 } else { b'\n' };
    text.split(|&b| b == split)
        // Blank lines and comments (`#`, `;`) name nothing, as in rsync.
        .filter(|line| {
            !line.is_empty() && !(comments && (line.starts_with(b"#") || line.starts_with(b";")))
        })
        .map(|line| {
            let (cut, mut name): (&[u8], Vec<u8>) = match line.windows(3).any(|w| w == b"/./") {
                true => (b"/", clamped(line, true)),
                false => (b"/./", clamped(line, false)),
            };
            // A trailing slash asks for what is in the folder (`-d`).
            if line.ends_with(b"/") && !name.is_empty() {
                name.push(b'/');
            }
            OsString::from_vec([base, cut, &name].concat())
        })
        .collect()
}

/// A `--files-from` name kept below the source folder, as rsync keeps it: leading slashes
/// and `.` go, and a `..` takes off the component before it or, at the top, nothing. With
/// `keep_cut`, a `/./` (the `-R` cut) stays where it is.
fn clamped(name: &[u8], keep_cut: bool) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut cut_at = None;
    for (n, part) in name.split(|&b| b == b'/').enumerate() {
        match part {
            b"" => {}
            b"." if keep_cut && n > 0 && cut_at.is_none() => cut_at = Some(parts.len()),
            b"." => {}
            b".." => {
                if cut_at.is_none_or(|c| parts.len() > c) {
                    parts.pop();
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            out.push(b'/');
        }
        if n > 0 && cut_at == Some(n) {
            out.extend_from_slice(b"./");
        }
        out.extend_from_slice(part);
    }
    // A cut at the very end (`from/./`): the folder itself is the transfer root.
    if cut_at.is_some_and(|c| c > 0 && c == parts.len()) {
        out.extend_from_slice(b"/.");
    }
    out
}

/// Sorts the operands into a local copy, a push (`host:DEST`, or `:DEST` with `-w`) or a
/// pull (`host:SRC...`), leaving the paths without their `host:`.
fn remote_operands(
    cli: &Cli,
    sources: Vec<OsString>,
    dest: &mut OsString,
) -> Result<(Remote, Vec<OsString>)> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let selection = cli.hosts.selection();
    let strip = |p: &OsString| -> OsString {
        let bytes = p.as_bytes();
        let colon = bytes.iter().position(|&b| b == b':').unwrap_or(0);
        OsString::from_vec(bytes[colon + 1..].to_vec())
    };
    // `rsync://host/module` and `host::module`, as a source or the destination.
    let daemon = |p: &OsString| {
        let bytes = p.as_bytes();
        let colon = bytes.iter().position(|&b| b == b':');
        bytes.starts_with(b"rsync://")
            || (remote_part(p).is_some() && colon.is_some_and(|c| bytes.get(c + 1) == Some(&b':')))
    };
    if let Some(p) = sources
        .iter()
        .chain(std::iter::once(&*dest))
        .find(|p| daemon(p))
    {
        bail!(
            "'{}': rsync daemons are not supported; use host:path over ssh",
            p.to_string_lossy()
        );
    }
    if !selection.is_empty() {
        if !dest.as_bytes().starts_with(b":") {
            bail!(
                "with --hosts, DEST is ':PATH' on every host, as in `prsync -a -w node[1-8] src/ :/tmp/dst/`"
            );
        }
        if let Some(p) = sources.iter().find(|p| remote_part(p).is_some()) {
            bail!(
                "'{}': with --hosts the sources are local paths",
                p.to_string_lossy()
            );
        }
        let hosts = selection
            .resolve(&Context::from_env())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        *dest = strip(dest);
        return Ok((Remote::Push(hosts), sources));
    }
    if let Some(host) = remote_part(dest) {
        if let Some(p) = sources.iter().find(|p| remote_part(p).is_some()) {
            bail!(
                "'{}' and '{}' are both remote: copy between a host and this machine",
                p.to_string_lossy(),
                dest.to_string_lossy()
            );
        }
        let spec = host_spec(&host)?;
        *dest = strip(dest);
        // `host:` alone is the remote home folder, where the agent starts.
        if dest.is_empty() {
            *dest = OsString::from(".");
        }
        return Ok((Remote::Push(vec![spec]), sources));
    }
    let hosts: Vec<Option<String>> = sources.iter().map(|p| remote_part(p)).collect();
    let Some(Some(first)) = hosts.first().cloned() else {
        if hosts.iter().any(Option::is_some) {
            bail!("mixing local and host:path sources is not supported; copy them in two runs");
        }
        return Ok((Remote::Local, sources));
    };
    if hosts.iter().any(|h| h.as_deref() != Some(first.as_str())) {
        bail!("all host:path sources must be on the same host; copy them in separate runs");
    }
    let spec = host_spec(&first)?;
    let mut paths: Vec<OsString> = sources.iter().map(strip).collect();
    if cli.more.old_args() {
        // --old-args: the remote shell splits a name at spaces, as rsync before 3.2.4 let it.
        paths = paths
            .iter()
            .flat_map(|p| {
                p.as_bytes()
                    .split(u8::is_ascii_whitespace)
                    .filter(|w| !w.is_empty())
                    .map(|w| OsString::from_vec(w.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    Ok((Remote::Pull(spec), paths))
}

/// rsync's `--bwlimit RATE`: KiB per second, or with a `K`, `M` or `G` suffix (powers of
/// 1024, a trailing `B`/`iB` allowed); 0 means no limit.
fn parse_rate(text: &str) -> Result<Option<u64>> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.trim_end_matches("IB").trim_end_matches('B');
    let (digits, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => t.split_at(at),
        None => (t, "K"),
    };
    let scale: u64 = match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => bail!("--bwlimit={text}: give a rate in KiB/s, as in --bwlimit=500 or --bwlimit=2M"),
    };
    let value: f64 = digits.parse().map_err(|_| {
        anyhow::anyhow!(
            "--bwlimit={text}: give a rate in KiB/s, as in --bwlimit=500 or --bwlimit=2M"
        )
    })?;
    if !value.is_finite() || value < 0.0 {
        bail!("--bwlimit={text}: give a rate in KiB/s, as in --bwlimit=500 or --bwlimit=2M");
    }
    let rate = (value * scale as f64) as u64;
    Ok((rate > 0).then_some(rate))
}

fn host_spec(host: &str) -> Result<HostSpec> {
    host.parse()
        .map_err(|e| anyhow::anyhow!("bad host '{host}': {e}"))
}

/// The host of an rsync remote operand (`host:path`, `user@host:path`, `host::module`,
/// `rsync://`), or `None` for a local path. As rsync: a colon after a slash is part of a path.
pub fn remote_part(arg: &std::ffi::OsStr) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = arg.as_bytes();
    if bytes.starts_with(b"rsync://") {
        return Some(String::from_utf8_lossy(&bytes[8..]).into_owned());
    }
    let colon = bytes.iter().position(|&b| b == b':')?;
    let slash = bytes.iter().position(|&b| b == b'/');
    if slash.is_some_and(|s| s < colon) || colon == 0 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[..colon]).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_from_names_stay_below_the_source() {
        let c = |n: &str, cut| String::from_utf8(clamped(n.as_bytes(), cut)).unwrap();
        assert_eq!(c("/file", false), "file");
        assert_eq!(c("../keep", false), "keep");
        assert_eq!(c("a/../../b/./c/", false), "b/c");
        assert_eq!(c("x/./y/z", true), "x/./y/z");
        assert_eq!(c("x/./../y", true), "x/./y");
        assert_eq!(c("from/./", true), "from/.");
    }

    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(std::iter::once("prsync").chain(args.iter().copied())).unwrap() {
            Parsed::Run(o) => *o,
            Parsed::Exit(_) => panic!("no transfer"),
        }
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
        assert_eq!(prtools_help::unknown_ids(&Cli::command(), COMMON), [""; 0]);
    }

    #[test]
    fn archive_expands_and_h_is_human() {
        let o = run(&["-ah", "a", "b"]);
        assert!(o.recursive && o.links && o.perms && o.times && o.group && o.specials);
        assert!(!o.hard_links);
        assert_eq!(o.human, 2);
        assert!(o.whole_file);
        assert!(!run(&["-a", "--no-W", "a", "b"]).whole_file);
    }

    #[test]
    fn filters_keep_their_order_across_kinds() {
        let o = run(&["-r", "--include", "keep.o", "--exclude", "*.o", "a", "b"]);
        assert!(!o.filters.is_excluded(b"keep.o", false));
        assert!(o.filters.is_excluded(b"x.o", false));
        let o = run(&["-r", "--exclude", "*.o", "-f", "+ keep.o", "a", "b"]);
        assert!(o.filters.is_excluded(b"keep.o", false));
    }

    #[test]
    fn delete_modes() {
        assert_eq!(
            run(&["-r", "--delete", "a", "b"]).delete,
            DeleteMode::During
        );
        assert_eq!(
            run(&["-r", "--delete-after", "a", "b"]).delete,
            DeleteMode::After
        );
        assert_eq!(run(&["-r", "a", "b"]).delete, DeleteMode::Off);
    }

    #[test]
    fn remote_operands() {
        assert_eq!(remote_part("host:/x".as_ref()).as_deref(), Some("host"));
        assert_eq!(remote_part("./a:b".as_ref()), None);
        assert_eq!(remote_part("plain".as_ref()), None);
        let push = run(&["-a", "src", "root@node1:/tmp"]);
        assert!(matches!(&push.remote, Remote::Push(h) if h.len() == 1 && h[0].host == "node1"));
        assert_eq!(push.dest, "/tmp");
        assert!(!push.whole_file, "deltas across a network, as rsync");
        let pull = run(&["-a", "node2:/etc/", "node2:/var/x", "dst"]);
        assert_eq!(pull.remote, Remote::Pull("node2".parse().unwrap()));
        assert_eq!(pull.sources, ["/etc/", "/var/x"]);
        let many = run(&["-a", "-w", "n[1-3]", "src/", ":/tmp/d"]);
        assert!(matches!(&many.remote, Remote::Push(h) if h.len() == 3));
        let err = parse(["prsync", "-a", "-w", "n1", "src", "/tmp"]).unwrap_err();
        assert!(err.to_string().contains("':PATH'"), "{err}");
        let err = parse(["prsync", "-a", "a:/x", "b:/y", "dst"]).unwrap_err();
        assert!(err.to_string().contains("same host"), "{err}");
    }

    #[test]
    fn bwlimit_rates() {
        assert_eq!(parse_rate("500").unwrap(), Some(500 * 1024));
        assert_eq!(parse_rate("2M").unwrap(), Some(2 << 20));
        assert_eq!(parse_rate("1.5k").unwrap(), Some(1536));
        assert_eq!(parse_rate("0").unwrap(), None);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5X").is_err());
    }

    #[test]
    fn server_args_round_trip() {
        let o = run(&[
            "-aHv",
            "--delete",
            "-i",
            "--exclude",
            "*.o",
            "--no-W",
            "a",
            "h:b",
        ]);
        let back = parse_server_args(&o.server_args()).unwrap();
        assert!(back.recursive && back.hard_links && back.itemize && !back.whole_file);
        assert_eq!(back.verbose, 1);
        assert_eq!(back.delete, DeleteMode::During);
        assert!(back.filters.is_excluded(b"x.o", false));
    }
}
