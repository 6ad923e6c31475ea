//! The command line as typed: grep's flags with grep's letters, then the mail options, all
//! long. [`crate::config::Config::resolve`] turns it into what the search runs with.
//!
//! `-h` is grep's `--no-filename`, so help is `--help` (and `--help-all`) only, as in grep.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Never colour
    #[value(alias = "no", alias = "none")]
    Never,
    /// Colour when standard output is a terminal (and `NO_COLOR` is unset)
    #[value(alias = "tty", alias = "if-tty")]
    Auto,
    /// Always colour
    #[value(alias = "yes", alias = "force")]
    Always,
}

const EXAMPLES: &str = "\
Examples:
  pgrep-mail -n 'disk quota' ~/Maildir                          lines, as grep -rn
  pgrep-mail --messages --body -i invoice ~/Mail                whole matching messages, as mbox
  pgrep-mail --messages --date 'since 2024-01-01' alice ~/Mail  messages since 2024 naming alice";

const NOTES: &str = "\
Without PATH, standard input is searched when it is not a terminal; otherwise $MAILDIR, then \
~/Maildir, then ~/Mail (the one used is named on standard error). Run as pgrep-mail, folders are \
searched recursively and symbolic links followed unless -r (links named on the command line only), \
-R or -d say otherwise; run under the name grep, egrep or fgrep (a link), it is GNU grep: a \
folder without -r is \"Is a directory\", and messages are worded as grep's. Compressed folders (.gz, .bz2, .xz, \
.zst) are searched as their contents, as they are decompressed, in at most 256 MiB of memory \
however far they expand: a line longer than 32 MiB ends a compressed file's search with an error, \
and a message longer than 32 MiB is reported and skipped (--decode searches it as stored); \
decompress such a file to search it whole.

Line mode (the default) is grep: the bytes as stored, grep's pattern languages (BRE by default, \
-E, -F, -P) with back-references and leftmost-longest matches, the locale's characters \
(LC_ALL, LC_CTYPE, LANG), grep's output and exit status (0 selected, 1 none, 2 error). The \
message modes take the same pattern languages. The message modes (--messages, --count-messages, --headers, --body, --header, \
--date, --unique) work on whole messages of mbox files (mboxrd, mboxcl2, CRLF) and Maildir or \
single-message files, search base64 and quoted-printable bodies and RFC 2047 headers decoded \
(--raw: as stored), and print each matching message whole, as mbox.

More examples:
  pgrep-mail --header From=alice --date 'since 2024-01-01' '' ~/Mail
  pgrep-mail --count-messages -F urgent inbox.mbox.gz";

/// What `--help` shows; `--help-all` and the man page show every option.
const COMMON: &[&str] = &[
    "regexp",
    "fixed_strings",
    "ignore_case",
    "word_regexp",
    "invert_match",
    "count",
    "files_with_matches",
    "line_number",
    "no_filename",
    "context",
    "messages",
    "count_messages",
    "headers",
    "body",
    "header",
    "date",
];

/// What `--binary-files` does with a binary file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BinaryFiles {
    /// Say "binary file matches" instead of printing its lines
    Binary,
    /// Search and print it as text (`-a`)
    Text,
    /// Take it as holding no match (`-I`)
    WithoutMatch,
}

/// What to do with a folder named or met (`-d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirAction {
    /// Read it as a file (grep: "Is a directory")
    Read,
    /// Skip it
    Skip,
    /// Search the files below it (`-r`)
    Recurse,
}

/// What to do with a device, FIFO or socket (`-D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevAction {
    /// Read it
    Read,
    /// Skip it
    Skip,
}

/// grep whole mail trees on every core, mbox and Maildir aware.
#[derive(Debug, Parser)]
#[command(
    name = "pgrep-mail",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
    infer_long_args = true,
    args_override_self = true,
    about = "grep whole mail trees on every core: mbox and Maildir aware, whole matching messages as grepmail",
    override_usage = "pgrep-mail [OPTIONS] PATTERN [PATH...]\n       pgrep-mail [OPTIONS] -e PATTERN... [PATH...]",
    help_template = prtools_help::TEMPLATE,
    before_help = EXAMPLES,
    after_help = prtools_help::footer!("pgrep-mail"),
    after_long_help = NOTES,
    mut_args = prtools_help::common(COMMON)
)]
pub struct Cli {
    /// Use PATTERN (repeatable; a newline separates patterns too)
    #[arg(short = 'e', long = "regexp", value_name = "PATTERN", action = ArgAction::Append, allow_hyphen_values = true, help_heading = "Patterns")]
    pub regexp: Vec<OsString>,
    /// Read patterns from FILE, one a line
    #[arg(short = 'f', long = "file", value_name = "FILE", action = ArgAction::Append, help_heading = "Patterns")]
    pub file: Vec<PathBuf>,
    /// PATTERN is a basic regular expression (the default)
    #[arg(short = 'G', long = "basic-regexp", help_heading = "Patterns")]
    pub basic_regexp: bool,
    /// PATTERN is an extended regular expression
    #[arg(short = 'E', long = "extended-regexp", help_heading = "Patterns")]
    pub extended_regexp: bool,
    /// PATTERN is a set of fixed strings, not a regex
    #[arg(short = 'F', long = "fixed-strings", help_heading = "Patterns")]
    pub fixed_strings: bool,
    /// PATTERN is a Perl-compatible regular expression (PCRE2)
    #[arg(short = 'P', long = "perl-regexp", help_heading = "Patterns")]
    pub perl_regexp: bool,
    /// Ignore case in patterns and data
    #[arg(
        short = 'i',
        long = "ignore-case",
        short_alias = 'y',
        overrides_with = "no_ignore_case",
        help_heading = "Patterns"
    )]
    pub ignore_case: bool,
    /// Do not ignore case (the default)
    #[arg(
        long = "no-ignore-case",
        overrides_with = "ignore_case",
        help_heading = "Patterns"
    )]
    pub no_ignore_case: bool,
    /// Match only whole words
    #[arg(short = 'w', long = "word-regexp", help_heading = "Patterns")]
    pub word_regexp: bool,
    /// Match only whole lines
    #[arg(short = 'x', long = "line-regexp", help_heading = "Patterns")]
    pub line_regexp: bool,
    /// Lines end with a NUL byte, not a newline
    #[arg(short = 'z', long = "null-data", help_heading = "Patterns")]
    pub null_data: bool,
    /// Select non-matching lines (in the message modes: non-matching messages)
    #[arg(short = 'v', long = "invert-match", help_heading = "Patterns")]
    pub invert_match: bool,

    /// Print only a count of selected lines per file
    #[arg(short = 'c', long = "count", help_heading = "Output")]
    pub count: bool,
    /// Print only the names of files with selected lines
    #[arg(short = 'l', long = "files-with-matches", help_heading = "Output")]
    pub files_with_matches: bool,
    /// Print only the names of files with no selected lines
    #[arg(short = 'L', long = "files-without-match", help_heading = "Output")]
    pub files_without_match: bool,
    /// Prefix each line with its line number
    #[arg(short = 'n', long = "line-number", help_heading = "Output")]
    pub line_number: bool,
    /// Prefix each line with the byte offset of its start (with -o: of the match)
    #[arg(short = 'b', long = "byte-offset", help_heading = "Output")]
    pub byte_offset: bool,
    /// Never prefix lines with the file name
    #[arg(
        short = 'h',
        long = "no-filename",
        overrides_with = "with_filename",
        help_heading = "Output"
    )]
    pub no_filename: bool,
    /// Always prefix lines with the file name
    #[arg(
        short = 'H',
        long = "with-filename",
        overrides_with = "no_filename",
        help_heading = "Output"
    )]
    pub with_filename: bool,
    /// Name standard input LABEL in the output
    #[arg(long = "label", value_name = "LABEL", help_heading = "Output")]
    pub label: Option<OsString>,
    /// End file names with a NUL byte instead of `:` or a newline
    #[arg(short = 'Z', long = "null", help_heading = "Output")]
    pub null: bool,
    /// Line up the lines after their prefixes with a tab
    #[arg(short = 'T', long = "initial-tab", help_heading = "Output")]
    pub initial_tab: bool,
    /// Print only the matched parts of lines, one a line
    #[arg(short = 'o', long = "only-matching", help_heading = "Output")]
    pub only_matching: bool,
    /// Print nothing; exit 0 at the first match
    #[arg(short = 'q', long = "quiet", alias = "silent", help_heading = "Output")]
    pub quiet: bool,
    /// Say nothing about missing or unreadable files
    #[arg(short = 's', long = "no-messages", help_heading = "Output")]
    pub no_messages: bool,
    /// Stop reading a file after NUM selected lines (messages in the message modes)
    #[arg(
        short = 'm',
        long = "max-count",
        value_name = "NUM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub max_count: Option<String>,
    /// Print NUM lines of context after each selected line
    #[arg(
        short = 'A',
        long = "after-context",
        value_name = "NUM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub after_context: Option<String>,
    /// Print NUM lines of context before each selected line
    #[arg(
        short = 'B',
        long = "before-context",
        value_name = "NUM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub before_context: Option<String>,
    /// Print NUM lines of context around each selected line (also -NUM)
    #[arg(
        short = 'C',
        long = "context",
        value_name = "NUM",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub context: Option<String>,
    /// Print SEP between groups of context lines (default `--`)
    #[arg(
        long = "group-separator",
        value_name = "SEP",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub group_separator: Option<OsString>,
    /// Print nothing between groups of context lines
    #[arg(long = "no-group-separator", help_heading = "Output")]
    pub no_group_separator: bool,
    /// Colour matches, file names and line numbers (GREP_COLORS sets the colours)
    #[arg(long = "color", alias = "colour", value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "auto", default_value = "never", help_heading = "Output")]
    pub color: ColorWhen,
    /// Write each line as soon as it is found
    #[arg(long = "line-buffered", help_heading = "Output")]
    pub line_buffered: bool,
    /// Search binary files as text
    #[arg(short = 'a', long = "text", help_heading = "Files")]
    pub text: bool,
    /// Take binary files as holding no match
    #[arg(short = 'I', help_heading = "Files")]
    pub no_binary: bool,
    /// What to do with binary files
    #[arg(long = "binary-files", value_name = "TYPE", help_heading = "Files")]
    pub binary_files: Option<BinaryFiles>,
    /// Accepted for grep users: bytes are never translated
    #[arg(short = 'U', long = "binary", help_heading = "Files")]
    pub binary: bool,
    /// Search the files below each folder; follow symbolic links named on the command line only
    #[arg(short = 'r', long = "recursive", help_heading = "Files")]
    pub recursive: bool,
    /// Search the files below each folder, following every symbolic link
    #[arg(short = 'R', long = "dereference-recursive", help_heading = "Files")]
    pub dereference_recursive: bool,
    /// What to do with a folder: read, skip or recurse
    #[arg(
        short = 'd',
        long = "directories",
        value_name = "ACTION",
        help_heading = "Files"
    )]
    pub directories: Option<DirAction>,
    /// What to do with devices, FIFOs and sockets: read or skip
    #[arg(
        short = 'D',
        long = "devices",
        value_name = "ACTION",
        help_heading = "Files"
    )]
    pub devices: Option<DevAction>,
    /// Search only files whose name matches GLOB
    #[arg(long = "include", value_name = "GLOB", action = ArgAction::Append, help_heading = "Files")]
    pub include: Vec<OsString>,
    /// Skip files whose name matches GLOB
    #[arg(long = "exclude", value_name = "GLOB", action = ArgAction::Append, help_heading = "Files")]
    pub exclude: Vec<OsString>,
    /// Skip files whose name matches a glob in FILE
    #[arg(long = "exclude-from", value_name = "FILE", action = ArgAction::Append, help_heading = "Files")]
    pub exclude_from: Vec<PathBuf>,
    /// `--include` (true) and `--exclude` (false) globs in the order given: the last one
    /// that matches a name decides, as in grep.
    #[arg(skip)]
    pub file_globs: Vec<(bool, OsString)>,
    /// Skip folders whose name matches GLOB
    #[arg(long = "exclude-dir", value_name = "GLOB", action = ArgAction::Append, help_heading = "Files")]
    pub exclude_dir: Vec<OsString>,

    /// Print each matching message whole, as mbox (grepmail's output)
    #[arg(long = "messages", help_heading = "Mail")]
    pub messages: bool,
    /// Print the number of matching messages per file, as `FILE: N` (grepmail -r)
    #[arg(long = "count-messages", help_heading = "Mail")]
    pub count_messages: bool,
    /// Match PATTERN in the header only (with --body: in both)
    #[arg(long = "headers", help_heading = "Mail")]
    pub headers: bool,
    /// Match PATTERN in the body only (with --headers: in both)
    #[arg(long = "body", help_heading = "Mail")]
    pub body: bool,
    /// Require a header FIELD whose value matches REGEX (repeatable; all must hold)
    #[arg(long = "header", value_name = "FIELD=REGEX", action = ArgAction::Append, help_heading = "Mail")]
    pub header: Vec<String>,
    /// Only messages dated `since DATE`, `before DATE`, `between DATE and DATE`, or in DATE
    ///
    /// A bare DATE is a day or a month (`Aug 1998`, `2024-05`); DATE is written as 2024-01-31,
    /// 1/31/2024 or `Jan 31 2024`; dates are UTC
    #[arg(long = "date", value_name = "SPEC", help_heading = "Mail")]
    pub date: Option<String>,
    /// Print each message once, by Message-ID (the first one found wins)
    #[arg(long = "unique", help_heading = "Mail")]
    pub unique: bool,
    /// In the message modes, search the bytes as stored, not decoded MIME text
    #[arg(long = "raw", help_heading = "Mail")]
    pub raw: bool,
    /// In line mode, search and print MIME-decoded text (line numbers count decoded lines)
    #[arg(long = "decode", help_heading = "Mail")]
    pub decode: bool,
    /// Write the results of each top-level folder to DIR/FOLDER, and all of them to DIR/all
    #[arg(long = "per-folder", value_name = "DIR", help_heading = "Mail")]
    pub per_folder: Option<PathBuf>,
    /// Search with NUM threads (default: one per core)
    #[arg(long = "threads", value_name = "NUM", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Mail")]
    pub threads: Option<u16>,

    /// `--help` and `--help-all`.
    #[command(flatten)]
    pub help: prtools_help::HelpFlags,
    /// Print version
    #[arg(short = 'V', long = "version")]
    pub version: bool,

    /// The pattern (unless -e or -f gives it), then the files and folders to search
    #[arg(value_name = "PATTERN] [PATH", allow_hyphen_values = false)]
    pub args: Vec<OsString>,
}

/// Parses grep's command line (see [`grep_argv`]), keeping the order of `--include` and
/// `--exclude`.
pub fn parse_grep(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().try_get_matches_from(grep_argv(argv))?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    let mut order: Vec<(usize, bool, OsString)> = Vec::new();
    for (id, include) in [("include", true), ("exclude", false)] {
        if let (Some(idx), Some(vals)) = (matches.indices_of(id), matches.get_many::<OsString>(id))
        {
            order.extend(idx.zip(vals).map(|(i, v)| (i, include, v.clone())));
        }
    }
    order.sort_by_key(|(i, _, _)| *i);
    cli.file_globs = order.into_iter().map(|(_, inc, v)| (inc, v)).collect();
    Ok(cli)
}

/// GNU grep's long options: an abbreviation of one of them means it, as in grep, even
/// where it is also the start of one of pgrep-mail's mail options (`--coun` is `--count`,
/// not ambiguous with `--count-messages`).
const GREP_LONGS: &[&str] = &[
    "after-context",
    "basic-regexp",
    "before-context",
    "binary-files",
    "byte-offset",
    "binary",
    "color",
    "colour",
    "context",
    "count",
    "devices",
    "directories",
    "dereference-recursive",
    "exclude",
    "exclude-from",
    "exclude-dir",
    "extended-regexp",
    "file",
    "files-with-matches",
    "files-without-match",
    "fixed-strings",
    "group-separator",
    "help",
    "include",
    "ignore-case",
    "no-ignore-case",
    "initial-tab",
    "label",
    "line-buffered",
    "line-number",
    "line-regexp",
    "max-count",
    "no-filename",
    "no-group-separator",
    "no-messages",
    "null",
    "null-data",
    "only-matching",
    "perl-regexp",
    "quiet",
    "recursive",
    "regexp",
    "invert-match",
    "silent",
    "text",
    "version",
    "with-filename",
    "word-regexp",
];

/// `--ABBREV[=V]` written out as the one grep option it abbreviates, if there is one and
/// it is not already a whole option name of ours.
fn expand_grep_long(arg: &[u8]) -> Option<OsString> {
    use clap::CommandFactory;
    let body = arg.strip_prefix(b"--")?;
    let (name, value) = match body.iter().position(|&b| b == b'=') {
        Some(at) => (&body[..at], Some(&body[at..])),
        None => (body, None),
    };
    let name = std::str::from_utf8(name).ok()?;
    if name.is_empty() {
        return None;
    }
    let ours = Cli::command();
    if ours.get_arguments().any(|a| a.get_long() == Some(name)) {
        return None;
    }
    let mut hits = GREP_LONGS.iter().filter(|l| l.starts_with(name));
    let first = hits.next()?;
    // grep's own ambiguities (`--no` for several) stay for clap to report.
    let all_same_meaning = hits.all(|h| h == first);
    if !all_same_meaning {
        return None;
    }
    let mut out = OsString::from(format!("--{first}"));
    if let Some(v) = value {
        use std::os::unix::ffi::OsStrExt;
        out.push(std::ffi::OsStr::from_bytes(v));
    }
    Some(out)
}

/// Options whose value may be the next argument, which `-NUM` must not be looked for in.
const TAKES_VALUE: &[u8] = b"efmABCdD";

/// grep's command line as clap reads it: `-NUM` (context) becomes `--context=NUM`. The
/// rest passes as it is.
pub fn grep_argv(argv: Vec<OsString>) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::with_capacity(argv.len());
    let mut value_next = false;
    let mut rest = false;
    for (i, arg) in argv.into_iter().enumerate() {
        let b = arg.as_bytes();
        if i == 0 || rest || value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        if b == b"--" {
            rest = true;
        } else if let Some(full) = expand_grep_long(b) {
            value_next = !full.as_bytes().contains(&b'=')
                && [
                    "--regexp",
                    "--file",
                    "--max-count",
                    "--after-context",
                    "--before-context",
                    "--context",
                    "--directories",
                    "--devices",
                    "--label",
                    "--include",
                    "--exclude",
                    "--exclude-from",
                    "--exclude-dir",
                    "--group-separator",
                    "--binary-files",
                ]
                .iter()
                .any(|n| full.as_bytes() == n.as_bytes());
            out.push(full);
            continue;
        } else if b.len() > 1 && b[0] == b'-' && b[1..].iter().all(u8::is_ascii_digit) {
            let mut v = OsString::from("--context=");
            v.push(std::ffi::OsStr::from_bytes(&b[1..]));
            out.push(v);
            continue;
        } else if b.starts_with(b"--") {
            let long = &b[2..];
            value_next = !long.contains(&b'=')
                && [
                    "regexp",
                    "file",
                    "max-count",
                    "after-context",
                    "before-context",
                    "context",
                    "directories",
                    "devices",
                    "label",
                    "include",
                    "exclude",
                    "exclude-from",
                    "exclude-dir",
                    "group-separator",
                    "binary-files",
                ]
                .iter()
                .any(|name| long.len() >= 3 && name.as_bytes().starts_with(long));
        } else if b.len() > 1 && b[0] == b'-' {
            // In a cluster, the first letter that takes a value takes the rest, or the next
            // argument when it ends the cluster.
            if let Some(at) = b[1..].iter().position(|c| TAKES_VALUE.contains(c)) {
                value_next = at + 2 == b.len();
            }
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pgrep-mail").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
        assert_eq!(prtools_help::unknown_ids(&Cli::command(), COMMON), [""; 0]);
    }

    #[test]
    fn minus_num_is_context() {
        let argv = |v: &[&str]| grep_argv(v.iter().map(OsString::from).collect());
        assert_eq!(argv(&["g", "-2", "x"]), ["g", "--context=2", "x"]);
        assert_eq!(argv(&["g", "-e", "-2", "x"]), ["g", "-e", "-2", "x"]);
        assert_eq!(argv(&["g", "--", "-2"]), ["g", "--", "-2"]);
    }

    #[test]
    fn h_is_no_filename_not_help() {
        assert!(parse(&["-h", "x"]).no_filename);
    }

    #[test]
    fn last_of_h_and_upper_h_wins() {
        let cli = parse(&["-h", "-H", "x"]);
        assert!(cli.with_filename && !cli.no_filename);
    }

    #[test]
    fn grep_letters_combine() {
        let cli = parse(&["-rinc", "x", "dir"]);
        assert!(cli.recursive && cli.ignore_case && cli.line_number && cli.count);
        assert_eq!(cli.args, ["x", "dir"]);
    }

    #[test]
    fn repeated_e_keeps_order() {
        assert_eq!(parse(&["-e", "a", "-e", "-b"]).regexp, ["a", "-b"]);
    }

    #[test]
    fn long_options_may_be_abbreviated_and_repeated() {
        let cli = parse(&["--ignore", "--count", "-c", "x"]);
        assert!(cli.ignore_case && cli.count);
        assert!(parse(&["-y", "x"]).ignore_case);
        assert!(!parse(&["-i", "--no-ignore-case", "x"]).ignore_case);
    }

    #[test]
    fn color_without_value_is_auto() {
        assert_eq!(parse(&["--color", "x"]).color, ColorWhen::Auto);
        assert_eq!(parse(&["--color=always", "x"]).color, ColorWhen::Always);
        assert_eq!(parse(&["x"]).color, ColorWhen::Never);
    }

    #[test]
    fn context_numbers() {
        let cli = parse(&["-A", "2", "-B1", "-C", "3", "x"]);
        assert_eq!(
            (cli.after_context, cli.before_context, cli.context),
            (Some("2".into()), Some("1".into()), Some("3".into()))
        );
    }

    #[test]
    fn header_filters_repeat() {
        assert_eq!(
            parse(&["--header", "From=a", "--header", "To=b", "x"]).header,
            ["From=a", "To=b"]
        );
    }

    #[test]
    fn zero_threads_is_refused() {
        assert!(Cli::try_parse_from(["pgrep-mail", "--threads", "0", "x"]).is_err());
    }
}
