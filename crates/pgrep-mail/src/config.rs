//! What the search runs with, resolved once from the [`Cli`]: the compiled patterns, the
//! inputs, the output mode.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::cli::{BinaryFiles, Cli, ColorWhen, DevAction, DirAction};
use crate::date::DateRange;
use crate::search::matcher::{Matcher, PatternOptions, Syntax};

/// Where to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input, shown as `(standard input)`.
    Stdin,
    /// A file or folder as named (on the command line or by the default search).
    Path(PathBuf),
}

/// How a line-mode result is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The selected lines (with context), as grep.
    Lines,
    /// `-c`: a count per file.
    Count,
    /// `-l`: names of files with a selected line or message.
    FilesWith,
    /// `-L`: names of files without one.
    FilesWithout,
    /// `-q`: nothing.
    Quiet,
    /// `--messages` (or any message filter): whole messages, as mbox.
    Messages,
    /// `--count-messages`: `FILE: N`.
    CountMessages,
}

/// The message-mode filters.
#[derive(Debug, Default)]
pub struct MessageFilter {
    /// `--headers`: PATTERN must match the header.
    pub headers: bool,
    /// `--body`: PATTERN must match the body.
    pub body: bool,
    /// `--header FIELD=REGEX`, each required.
    pub fields: Vec<(String, Matcher)>,
    /// `--date`.
    pub date: Option<DateRange>,
    /// `--unique`.
    pub unique: bool,
    /// `--raw`: search the stored bytes, not decoded MIME text.
    pub raw: bool,
}

/// The resolved configuration.
pub struct Config {
    /// The pattern, compiled.
    pub matcher: Matcher,
    /// Whether the run works on messages rather than lines.
    pub message_mode: bool,
    /// The message filters (message mode only).
    pub filter: MessageFilter,
    /// What is printed.
    pub report: Report,
    /// `-v`.
    pub invert: bool,
    /// `-n`.
    pub line_number: bool,
    /// `-b`.
    pub byte_offset: bool,
    /// `-T`.
    pub initial_tab: bool,
    /// `-Z`: a NUL after file names.
    pub null: bool,
    /// The line end: `\n`, or NUL with `-z`.
    pub eol: u8,
    /// What binary files get.
    pub binary: BinaryFiles,
    /// Whether a line that is not valid UTF-8 makes a file binary (UTF-8 locales).
    pub utf8: bool,
    /// What standard input is called (`--label`).
    pub label: Vec<u8>,
    /// `--line-buffered`.
    pub line_buffered: bool,
    /// What a folder gets.
    pub directories: DirAction,
    /// What devices, FIFOs and sockets get.
    pub devices: DevAction,
    /// Symbolic links found while recursing are followed (`-R`, and pgrep-mail's default).
    pub follow_all: bool,
    /// `--include`, `--exclude`, `--exclude-from` and `--exclude-dir` globs.
    pub globs: crate::walk::Globs,
    /// `-r` without a PATH searches `.` and shows names without `./`.
    pub bare_dot: bool,
    /// The text between context groups; `None` with `--no-group-separator`.
    pub group_separator: Option<Vec<u8>>,
    /// A context option was given (even `-C 0`), so groups are separated.
    pub context_given: bool,
    /// Nothing can be selected (`-m 0`, `-f /dev/null`, `-v ''`), so grep opens no file.
    pub skip_read: bool,
    /// Whether lines carry their file's name.
    pub with_filename: bool,
    /// `-o`.
    pub only_matching: bool,
    /// `-s`.
    pub no_messages: bool,
    /// `-m`.
    pub max_count: Option<u64>,
    /// `-B`.
    pub before: usize,
    /// `-A`.
    pub after: usize,
    /// Colour escapes in the output.
    pub color: bool,
    /// `--decode`: line mode searches decoded message text.
    pub decode: bool,
    /// What to search, in order.
    pub inputs: Vec<Input>,
    /// The default folder used when no PATH was given, to be named on stderr.
    pub default_root: Option<PathBuf>,
    /// `--per-folder DIR`.
    pub per_folder: Option<PathBuf>,
    /// Worker threads.
    pub threads: usize,
}

impl Config {
    /// Context was asked for, so groups are separated by `--`.
    pub fn context(&self) -> bool {
        self.context_given
    }

    /// Resolves the command line. `env` looks up environment variables (tests pass their
    /// own); `stdin_is_terminal` and `stdout_is_terminal` say what the streams are.
    pub fn resolve(cli: Cli) -> Result<Config> {
        let env = |name: &str| std::env::var_os(name);
        Config::resolve_with(
            cli,
            &env,
            std::io::stdin().is_terminal(),
            std::io::stdout().is_terminal(),
        )
    }

    /// [`Config::resolve`] with its surroundings given.
    pub fn resolve_with(
        cli: Cli,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
        stdin_is_terminal: bool,
        stdout_is_terminal: bool,
    ) -> Result<Config> {
        let grep_words = crate::grep_words();
        let mut args = cli.args.into_iter();
        let eol = if cli.null_data { b'\0' } else { b'\n' };
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let from_flags = !cli.regexp.is_empty() || !cli.file.is_empty();
        let split = |p: &[u8], out: &mut Vec<Vec<u8>>| {
            out.extend(p.split(|&b| b == b'\n').map(<[u8]>::to_vec));
        };
        for p in &cli.regexp {
            split(p.as_bytes(), &mut patterns);
        }
        for file in &cli.file {
            let text = if file == Path::new("-") {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                    .context("reading patterns from standard input")?;
                v
            } else {
                std::fs::read(file).map_err(|e| {
                    if grep_words {
                        anyhow::anyhow!("{}: {}", file.display(), crate::strerror(&e))
                    } else {
                        anyhow::anyhow!(
                            "{}: {}; -f needs a readable file of patterns, one a line",
                            file.display(),
                            crate::io_reason(&e)
                        )
                    }
                })?
            };
            // An empty file holds no pattern; a file of one newline holds the empty one.
            if !text.is_empty() {
                split(text.strip_suffix(b"\n").unwrap_or(&text), &mut patterns);
            }
        }
        if !from_flags {
            let Some(p) = args.next() else {
                if grep_words {
                    bail!("usage: grep [OPTION]... PATTERNS [FILE]...; try 'grep --help' for more information");
                }
                bail!("no PATTERN given; usage: pgrep-mail [OPTIONS] PATTERN [PATH...] (see `pgrep-mail --help`)");
            };
            split(p.as_bytes(), &mut patterns);
        }
        let syntaxes = [
            (cli.basic_regexp, Syntax::Basic),
            (cli.extended_regexp, Syntax::Extended),
            (cli.fixed_strings, Syntax::Fixed),
            (cli.perl_regexp, Syntax::Perl),
        ];
        let chosen: Vec<Syntax> = syntaxes.iter().filter(|s| s.0).map(|s| s.1).collect();
        if chosen.len() > 1 {
            bail!("conflicting matchers specified");
        }
        let syntax = chosen.first().copied().unwrap_or(Syntax::Basic);
        let message_mode = cli.messages
            || cli.count_messages
            || cli.headers
            || cli.body
            || !cli.header.is_empty()
            || cli.date.is_some()
            || cli.unique;
        if cli.raw && !message_mode {
            bail!("--raw applies to the message modes; add --messages (line mode already searches the bytes as stored)");
        }
        if cli.decode && message_mode {
            bail!("--decode applies to line mode; the message modes search decoded text already (--raw turns that off)");
        }
        let color = match cli.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                stdout_is_terminal
                    && env("NO_COLOR").is_none()
                    && env("TERM").is_some_and(|t| t != "dumb")
            }
        };
        if color {
            let old = env("GREP_COLOR").filter(|v| !v.is_empty());
            if let Some(v) = &old {
                let v = v.to_string_lossy();
                eprintln!(
                    "{}: warning: GREP_COLOR='{v}' is deprecated; use GREP_COLORS='mt={v}'",
                    crate::prog()
                );
            }
            crate::output::set_colors(env("GREP_COLORS"), old);
        }
        let locale = crate::locale::current();
        let opts = PatternOptions {
            syntax,
            ignore_case: cli.ignore_case,
            word: cli.word_regexp,
            line: cli.line_regexp,
            crlf: message_mode,
            eol,
            locale,
            longest: cli.only_matching || color,
        };
        let mut warnings = Vec::new();
        let matcher = Matcher::new(&patterns, &opts, &mut warnings).map_err(|e| {
            if grep_words {
                anyhow::anyhow!("{}", e.reason)
            } else {
                let mut reason = e.reason.clone();
                if let Some(first) = reason.get(..1) {
                    let lower = first.to_lowercase();
                    reason.replace_range(..1, &lower);
                }
                anyhow::anyhow!(
                    "bad pattern '{}': {reason}; use -F to search for it as a fixed string",
                    e.pattern
                )
            }
        })?;
        for w in warnings {
            eprintln!("{}: warning: {w}", crate::prog());
        }

        let mut fields = Vec::new();
        for spec in &cli.header {
            let Some((name, re)) = spec.split_once('=') else {
                bail!("--header '{spec}': expected FIELD=REGEX, as in --header 'Subject=invoice'");
            };
            let name = name.trim().trim_end_matches(':');
            if name.is_empty() {
                bail!("--header '{spec}': the field name is empty; write it as FIELD=REGEX");
            }
            let field_opts = PatternOptions {
                word: false,
                line: false,
                longest: false,
                ..opts.clone()
            };
            let compiled = Matcher::new(&[re.as_bytes().to_vec()], &field_opts, &mut Vec::new())
                .map_err(|e| anyhow::anyhow!("--header '{spec}': {e}"))?;
            fields.push((name.to_string(), compiled));
        }
        let date = match &cli.date {
            Some(spec) => Some(DateRange::parse(spec)?),
            None => None,
        };

        let report = if cli.quiet {
            Report::Quiet
        } else if cli.files_with_matches {
            Report::FilesWith
        } else if cli.files_without_match {
            Report::FilesWithout
        } else if cli.count_messages {
            Report::CountMessages
        } else if cli.count {
            Report::Count
        } else if message_mode {
            Report::Messages
        } else {
            Report::Lines
        };

        let recursive = cli.recursive || cli.dereference_recursive;
        let directories = match cli.directories {
            Some(d) => d,
            None if recursive => DirAction::Recurse,
            // pgrep-mail searches mail folders; grep reads a folder as a file.
            None if grep_words => DirAction::Read,
            None => DirAction::Recurse,
        };
        let recursing = directories == DirAction::Recurse;
        let follow_all = cli.dereference_recursive || !(cli.recursive || grep_words);
        let mut paths: Vec<PathBuf> = args.map(PathBuf::from).collect();
        let mut default_root = None;
        let mut bare_dot = false;
        let inputs = if paths.is_empty() {
            if recursing && (grep_words || recursive) {
                // grep -r with no FILE searches the working folder.
                bare_dot = true;
                vec![Input::Path(PathBuf::from("."))]
            } else if !stdin_is_terminal || grep_words {
                vec![Input::Stdin]
            } else {
                let root = default_mail_root(env)?;
                default_root = Some(root.clone());
                paths.push(root.clone());
                vec![Input::Path(root)]
            }
        } else {
            paths
                .iter()
                .map(|p| {
                    if p == Path::new("-") {
                        Input::Stdin
                    } else {
                        Input::Path(p.clone())
                    }
                })
                .collect()
        };
        let with_filename = if cli.no_filename {
            false
        } else if cli.with_filename {
            true
        } else {
            inputs.len() > 1
                || (recursing
                    && inputs.iter().any(|i| match i {
                        Input::Path(p) => p.is_dir(),
                        Input::Stdin => false,
                    }))
        };
        let number = |what: &str, v: &Option<String>| -> Result<Option<usize>> {
            match v {
                None => Ok(None),
                Some(t) => match t.trim().parse::<u64>() {
                    Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
                    Err(_) => bail!("{t}: invalid {what} argument"),
                },
            }
        };
        let context = number("context length", &cli.context)?;
        let before = number("context length", &cli.before_context)?;
        let after = number("context length", &cli.after_context)?;
        let max_count = match &cli.max_count {
            None => None,
            Some(t) => match t.trim().parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(n) => Some(n as u64),
                Err(_) => bail!("invalid max count"),
            },
        };
        let threads = cli.threads.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let binary = if cli.text {
            BinaryFiles::Text
        } else if cli.no_binary {
            BinaryFiles::WithoutMatch
        } else {
            cli.binary_files.unwrap_or(BinaryFiles::Binary)
        };
        let mut file_globs = cli.file_globs.clone();
        if file_globs.is_empty() {
            // Built without the command line's order (tests): includes, then excludes.
            file_globs.extend(cli.include.iter().map(|g| (true, g.clone())));
            file_globs.extend(cli.exclude.iter().map(|g| (false, g.clone())));
        }
        for file in &cli.exclude_from {
            let text = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), crate::strerror(&e)))?;
            file_globs.extend(
                text.split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| (false, OsString::from_vec(l.to_vec()))),
            );
        }
        let globs = crate::walk::Globs::new(&file_globs, &cli.exclude_dir);
        Ok(Config {
            matcher,
            message_mode,
            filter: MessageFilter {
                headers: cli.headers,
                body: cli.body,
                fields,
                date,
                unique: cli.unique,
                raw: cli.raw,
            },
            report,
            invert: cli.invert_match,
            line_number: cli.line_number,
            byte_offset: cli.byte_offset,
            initial_tab: cli.initial_tab,
            null: cli.null,
            eol,
            binary,
            utf8: locale.utf8,
            label: cli
                .label
                .map(|l| l.into_vec())
                .unwrap_or_else(|| b"(standard input)".to_vec()),
            line_buffered: cli.line_buffered,
            directories,
            devices: cli.devices.unwrap_or(DevAction::Read),
            follow_all,
            globs,
            bare_dot,
            group_separator: if cli.no_group_separator {
                None
            } else {
                Some(
                    cli.group_separator
                        .map(|s| s.into_vec())
                        .unwrap_or_else(|| b"--".to_vec()),
                )
            },
            context_given: context.is_some() || before.is_some() || after.is_some(),
            skip_read: !message_mode
                && (max_count == Some(0)
                    || (patterns.is_empty() && !cli.invert_match)
                    || (cli.invert_match
                        && syntax != Syntax::Perl
                        && !cli.word_regexp
                        && !cli.line_regexp
                        && patterns.iter().any(Vec::is_empty))),
            with_filename,
            only_matching: cli.only_matching,
            no_messages: cli.no_messages,
            max_count,
            before: before.or(context).unwrap_or(0),
            after: after.or(context).unwrap_or(0),
            color,
            decode: cli.decode,
            inputs,
            default_root,
            per_folder: cli.per_folder,
            threads,
        })
    }
}

/// `$MAILDIR`, then `~/Maildir`, then `~/Mail`: the first that exists.
fn default_mail_root(env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(dir) = env("MAILDIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.exists() {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    if let Some(home) = env("HOME").filter(|h| !h.is_empty()) {
        for name in ["Maildir", "Mail"] {
            let dir = Path::new(&home).join(name);
            if dir.exists() {
                return Ok(dir);
            }
            tried.push(dir.display().to_string());
        }
    }
    if tried.is_empty() {
        tried.push("$MAILDIR, ~/Maildir, ~/Mail".to_string());
    }
    bail!(
        "no PATH given and no mail folder found (tried {}); name a file or folder to search",
        tried.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Result<Config> {
        let cli =
            Cli::try_parse_from(std::iter::once("pgrep-mail").chain(args.iter().copied())).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| {
            env.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        };
        Config::resolve_with(cli, &lookup, true, false)
    }

    #[test]
    fn with_e_every_argument_is_a_path() {
        let cfg = resolve(&["-e", "x", "a", "b"], &[]).unwrap();
        assert_eq!(
            cfg.inputs,
            [Input::Path("a".into()), Input::Path("b".into())]
        );
        assert!(cfg.with_filename);
    }

    #[test]
    fn maildir_variable_comes_first() {
        let dir = std::env::temp_dir();
        let cfg = resolve(
            &["x"],
            &[("MAILDIR", dir.to_str().unwrap()), ("HOME", "/nonexistent")],
        )
        .unwrap();
        assert_eq!(cfg.default_root.as_deref(), Some(dir.as_path()));
    }

    #[test]
    fn no_mail_folder_names_what_was_tried() {
        let err = resolve(&["x"], &[("HOME", "/nonexistent")])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/nonexistent/Maildir, /nonexistent/Mail"),
            "{err}"
        );
    }

    #[test]
    fn a_message_filter_prints_messages() {
        let cfg = resolve(&["--date", "since 2024-01-01", "x", "f"], &[]).unwrap();
        assert!(cfg.message_mode);
        assert_eq!(cfg.report, Report::Messages);
    }

    #[test]
    fn header_filter_needs_an_equals_sign() {
        let err = resolve(&["--header", "Subject", "x", "f"], &[])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("expected FIELD=REGEX"), "{err}");
    }
}
