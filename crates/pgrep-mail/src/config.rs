//! What the search runs with, resolved once from the [`Cli`]: the compiled patterns, the
//! inputs, the output mode.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use regex::bytes::{Regex, RegexBuilder};

use crate::cli::{Cli, ColorWhen};
use crate::date::DateRange;
use crate::search::matcher::{Matcher, PatternOptions};

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
    pub fields: Vec<(String, Regex)>,
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
    /// Context lines are on, so groups are separated by `--`.
    pub fn context(&self) -> bool {
        self.before > 0 || self.after > 0
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
        let mut args = cli.args.into_iter();
        let mut patterns: Vec<String> = Vec::new();
        let from_flags = !cli.regexp.is_empty() || !cli.file.is_empty();
        for p in &cli.regexp {
            patterns.extend(p.split('\n').map(str::to_string));
        }
        for file in &cli.file {
            let text = if file == Path::new("-") {
                std::io::read_to_string(std::io::stdin())
                    .context("reading patterns from standard input")?
            } else {
                std::fs::read_to_string(file).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: {}; -f needs a readable file of patterns, one a line",
                        file.display(),
                        crate::io_reason(&e)
                    )
                })?
            };
            patterns.extend(text.lines().map(str::to_string));
        }
        if !from_flags {
            let Some(p) = args.next() else {
                bail!("no PATTERN given; usage: pgrep-mail [OPTIONS] PATTERN [PATH...] (see `pgrep-mail --help`)");
            };
            let p = p.into_string().map_err(|p| {
                anyhow::anyhow!("pattern {p:?} is not valid UTF-8; give it as UTF-8")
            })?;
            patterns.extend(p.split('\n').map(str::to_string));
        }
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
        let opts = PatternOptions {
            fixed: cli.fixed_strings,
            ignore_case: cli.ignore_case,
            word: cli.word_regexp,
            line: cli.line_regexp,
            crlf: message_mode,
        };
        let matcher = Matcher::new(&patterns, &opts)?;

        let mut fields = Vec::new();
        for spec in &cli.header {
            let Some((name, re)) = spec.split_once('=') else {
                bail!("--header '{spec}': expected FIELD=REGEX, as in --header 'Subject=invoice'");
            };
            let name = name.trim().trim_end_matches(':');
            if name.is_empty() {
                bail!("--header '{spec}': the field name is empty; write it as FIELD=REGEX");
            }
            let compiled = RegexBuilder::new(re)
                .case_insensitive(cli.ignore_case)
                .build()
                .map_err(|_| {
                    let err = Matcher::new(&[re.to_string()], &PatternOptions::default())
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| format!("bad pattern '{re}'"));
                    anyhow::anyhow!("--header '{spec}': {err}")
                })?;
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

        let mut paths: Vec<PathBuf> = args.map(PathBuf::from).collect();
        let mut default_root = None;
        let inputs = if paths.is_empty() {
            if !stdin_is_terminal {
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
                || inputs.iter().any(|i| match i {
                    Input::Path(p) => p.is_dir(),
                    Input::Stdin => false,
                })
        };
        let context = cli.context.unwrap_or(0);
        let color = match cli.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                stdout_is_terminal
                    && env("NO_COLOR").is_none()
                    && env("TERM").is_some_and(|t| t != "dumb")
            }
        };
        let threads = cli.threads.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
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
            with_filename,
            only_matching: cli.only_matching,
            no_messages: cli.no_messages,
            max_count: cli.max_count,
            before: cli.before_context.unwrap_or(context),
            after: cli.after_context.unwrap_or(context),
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
