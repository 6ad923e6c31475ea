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
    Never,
    /// Colour when standard output is a terminal (and `NO_COLOR` is unset)
    Auto,
    /// Always colour
    Always,
}

const EXAMPLES: &str = "\
Examples:
  pgrep-mail -n 'disk quota' ~/Maildir                          lines, as grep -rn
  pgrep-mail --messages --body -i invoice ~/Mail                whole matching messages, as mbox
  pgrep-mail --messages --date 'since 2024-01-01' alice ~/Mail  messages since 2024 naming alice";

const NOTES: &str = "\
Without PATH, standard input is searched when it is not a terminal; otherwise $MAILDIR, then \
~/Maildir, then ~/Mail (the one used is named on standard error). The search is always recursive \
(-r and -R change nothing) and symbolic links are followed. Compressed folders (.gz, .bz2, .xz, \
.zst) are searched as their contents, as they are decompressed, in at most 256 MiB of memory \
however far they expand: a line longer than 32 MiB ends a compressed file's search with an error, \
and a message longer than 32 MiB is reported and skipped (--decode searches it as stored); \
decompress such a file to search it whole.

Line mode (the default) is grep: the bytes as stored, grep's output and exit status (0 selected, \
1 none, 2 error). The message modes (--messages, --count-messages, --headers, --body, --header, \
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

/// grep whole mail trees on every core, mbox and Maildir aware.
#[derive(Debug, Parser)]
#[command(
    name = "pgrep-mail",
    version,
    disable_help_flag = true,
    disable_version_flag = true,
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
    pub regexp: Vec<String>,
    /// Read patterns from FILE, one a line
    #[arg(short = 'f', long = "file", value_name = "FILE", action = ArgAction::Append, help_heading = "Patterns")]
    pub file: Vec<PathBuf>,
    /// PATTERN is a set of fixed strings, not a regex
    #[arg(short = 'F', long = "fixed-strings", help_heading = "Patterns")]
    pub fixed_strings: bool,
    /// PATTERN is an extended regex (the default; the syntax is Rust's regex crate)
    #[arg(short = 'E', long = "extended-regexp", help_heading = "Patterns")]
    pub extended_regexp: bool,
    /// Ignore case in patterns and data
    #[arg(short = 'i', long = "ignore-case", help_heading = "Patterns")]
    pub ignore_case: bool,
    /// Match only whole words
    #[arg(short = 'w', long = "word-regexp", help_heading = "Patterns")]
    pub word_regexp: bool,
    /// Match only whole lines
    #[arg(short = 'x', long = "line-regexp", help_heading = "Patterns")]
    pub line_regexp: bool,
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
        help_heading = "Output"
    )]
    pub max_count: Option<u64>,
    /// Print NUM lines of context after each selected line
    #[arg(
        short = 'A',
        long = "after-context",
        value_name = "NUM",
        help_heading = "Output"
    )]
    pub after_context: Option<usize>,
    /// Print NUM lines of context before each selected line
    #[arg(
        short = 'B',
        long = "before-context",
        value_name = "NUM",
        help_heading = "Output"
    )]
    pub before_context: Option<usize>,
    /// Print NUM lines of context around each selected line
    #[arg(
        short = 'C',
        long = "context",
        value_name = "NUM",
        help_heading = "Output"
    )]
    pub context: Option<usize>,
    /// Colour matches, file names and line numbers
    #[arg(long = "color", alias = "colour", value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "always", default_value = "auto", help_heading = "Output")]
    pub color: ColorWhen,
    /// Accepted for grep users: the search is always recursive
    #[arg(short = 'r', long = "recursive", help_heading = "Output")]
    pub recursive: bool,
    /// Accepted for grep users: the search is always recursive and follows links
    #[arg(short = 'R', long = "dereference-recursive", help_heading = "Output")]
    pub dereference_recursive: bool,

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
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// The pattern (unless -e or -f gives it), then the files and folders to search
    #[arg(value_name = "PATTERN] [PATH", allow_hyphen_values = false)]
    pub args: Vec<OsString>,
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
    fn color_without_value_is_always() {
        assert_eq!(parse(&["--color", "x"]).color, ColorWhen::Always);
        assert_eq!(parse(&["--color=never", "x"]).color, ColorWhen::Never);
        assert_eq!(parse(&["x"]).color, ColorWhen::Auto);
    }

    #[test]
    fn context_numbers() {
        let cli = parse(&["-A", "2", "-B1", "-C", "3", "x"]);
        assert_eq!(
            (cli.after_context, cli.before_context, cli.context),
            (Some(2), Some(1), Some(3))
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
