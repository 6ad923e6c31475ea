//! The crate's one error type and the exact words it prints.
//!
//! Every message is one line, lowercase, without a trailing period, keeps what the user typed
//! and ends with what to do about it, so that a binary can print it after its own name
//! (`prsh: bad host list 'node[5-': column 8: unclosed range, missing ']'`) as it is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a host expression, a hostfile, a group or a whole selection could not be resolved.
///
/// The message is complete on its own: [`source`](std::error::Error::source) is `None`, so
/// that a chain printed by `anyhow` does not repeat the operating system's words twice. The
/// `io::Error` is still reachable through the variant's `err` field.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An expression does not parse, or expands to more than [`MAX_HOSTS`](crate::MAX_HOSTS).
    Syntax {
        /// The text as the user wrote it: one `-w` value, one hostfile line, one group entry.
        input: String,
        /// 1-based column, in characters, of the character at fault; one past the end when
        /// something is missing at the end.
        column: usize,
        /// What is wrong there.
        kind: SyntaxKind,
    },
    /// A hostfile (`-h FILE`, `^FILE` or `WCOLL`) could not be read.
    Hostfile {
        /// The file as it was named.
        path: PathBuf,
        /// What the operating system said.
        err: io::Error,
    },
    /// A hostfile `#include`s itself, directly or through others.
    IncludeCycle {
        /// The file named a second time.
        path: PathBuf,
    },
    /// A groups file exists but could not be read. A groups file that does not exist is not an
    /// error: it is skipped, as most machines have only one of the two.
    GroupsFile {
        /// The file as it was named.
        path: PathBuf,
        /// What the operating system said.
        err: io::Error,
    },
    /// A line of a hostfile or a groups file does not parse; `err` says why.
    InFile {
        /// Which kind of file holds the line.
        file: FileKind,
        /// The file as it was named.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The error in that line, usually [`Error::Syntax`].
        err: Box<Error>,
    },
    /// `@name` or `-g name` names a group that no groups file defines.
    UnknownGroup {
        /// The group that was asked for, without `@`.
        name: String,
        /// The groups files that were searched, in order, as they are shown to the user
        /// (with `~` for the home folder).
        files: Vec<String>,
    },
    /// A group includes itself, directly or through other groups.
    GroupCycle {
        /// The groups on the way, the first repeated at the end: `["a", "b", "a"]`.
        chain: Vec<String>,
    },
    /// The selection as a whole holds more than this many distinct hosts.
    TooManyHosts {
        /// The limit, [`MAX_HOSTS`](crate::MAX_HOSTS).
        limit: usize,
    },
    /// Nothing selected any host, or `-x` removed them all.
    NoHosts,
}

/// The kinds of file whose lines [`Error::InFile`] points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A list of hosts: `-h FILE`, `^FILE` or `WCOLL`.
    Hostfile,
    /// A groups file with `name: hosts` lines.
    Groups,
}

/// What is wrong at the column an [`Error::Syntax`] points at.
///
/// The `Display` of each kind is the part of the message after the column, and names the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// The whole list is empty (`""`).
    EmptyList,
    /// One name of a comma list is empty (`a,,b`, `a,`).
    EmptyHost,
    /// Brackets with nothing inside (`node[]`).
    EmptyRange,
    /// A `[` is never closed (`node[5-`).
    Unclosed,
    /// A `]` was never opened (`node5]`).
    Unopened,
    /// Something other than a number where a number belongs (`node[a-3]`).
    ExpectedNumber(char),
    /// A character that cannot follow a number inside brackets (`node[1x]`).
    Unexpected(char),
    /// A range whose end is below its start (`node[9-1]`).
    Backwards {
        /// The start as written.
        lo: String,
        /// The end as written.
        hi: String,
        /// The same host name with the range turned around.
        fix: String,
    },
    /// A step of zero (`node[1-9/0]`).
    ZeroStep,
    /// A step on a single number (`node[5/2]`).
    StepWithoutRange,
    /// A number that does not fit in 64 bits.
    NumberTooLarge(String),
    /// The expression gives more hosts than [`MAX_HOSTS`](crate::MAX_HOSTS).
    TooMany {
        /// How many hosts the expression gives, counted up to the bracket that passed the limit.
        count: u128,
        /// The limit.
        limit: usize,
    },
    /// Whitespace inside a host name (`node 1`).
    Space,
    /// A control character inside a host name.
    Control(char),
    /// `^` with no file name after it.
    MissingFile,
    /// `^FILE` inside a hostfile or a group, where files are not read, so that files cannot
    /// include each other in circles.
    FileNotAllowed,
    /// `@` with no group name after it.
    MissingGroup,
    /// A character that cannot be part of a group name.
    BadGroupChar(char),
    /// `@host` with nothing before the `@` where a user name belongs.
    MissingUser,
    /// A user or port with no host name.
    MissingHost,
    /// A port that is not a number from 1 to 65535.
    BadPort(String),
    /// A character that one host name cannot hold (ranges and lists belong to [`expand`](crate::expand)).
    HostChar(char),
    /// A groups file line without `:` between the name and its hosts.
    MissingColon,
    /// A `/regex/` that does not compile, with the regex crate's reason.
    BadRegex(String),
    /// A character that cannot be part of the group name a groups file line defines.
    BadGroupDef(char),
}

impl Error {
    /// Builds a syntax error for the character at byte offset `at` of `input`.
    pub(crate) fn syntax(input: &str, at: usize, kind: SyntaxKind) -> Error {
        let at = at.min(input.len());
        Error::Syntax {
            input: input.to_string(),
            column: input[..at].chars().count() + 1,
            kind,
        }
    }

    /// The column a syntax error points at, looking through [`Error::InFile`]; `None` for
    /// errors that are not about one character.
    pub fn column(&self) -> Option<usize> {
        match self {
            Error::Syntax { column, .. } => Some(*column),
            Error::InFile { err, .. } => err.column(),
            _ => None,
        }
    }

    /// Places a syntax error at a line of a file; other errors already say where they come
    /// from and are returned as they are.
    pub(crate) fn in_file(self, file: FileKind, path: &std::path::Path, line: usize) -> Error {
        match self {
            Error::Syntax { .. } => Error::InFile {
                file,
                path: path.to_path_buf(),
                line,
                err: Box::new(self),
            },
            other => other,
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Syntax {
                input,
                column,
                kind,
            } => {
                let what = match kind {
                    SyntaxKind::MissingColon | SyntaxKind::BadGroupDef(_) => "bad groups line",
                    _ => "bad host list",
                };
                // Control characters are escaped so that the message stays one line.
                write!(f, "{what} '")?;
                for c in input.chars() {
                    if c.is_control() {
                        write!(f, "{}", c.escape_default())?;
                    } else {
                        write!(f, "{c}")?;
                    }
                }
                write!(f, "': column {column}: {kind}")
            }
            Error::Hostfile { path, err } => {
                // `FILE: No such file or directory`, as pdsh says it and scripts grep for it.
                write!(f, "cannot read hostfile {}: {err}", path.display())
            }
            Error::IncludeCycle { path } => write!(
                f,
                "hostfile {} includes itself through #include; remove the loop",
                path.display()
            ),
            Error::GroupsFile { path, err } => {
                write!(f, "cannot read groups file '{}': {err}", path.display())
            }
            Error::InFile {
                file,
                path,
                line,
                err,
            } => write!(f, "{file} '{}' line {line}: {err}", path.display()),
            Error::UnknownGroup { name, files } => match files.as_slice() {
                [] => write!(
                    f,
                    "unknown group '{name}': no groups file is set up, \
                     create ~/.config/prtools/groups with a line '{name}: node[1-4]'"
                ),
                [one] => write!(
                    f,
                    "unknown group '{name}': not defined in {one}, \
                     add a line '{name}: node[1-4]' to it"
                ),
                [first @ .., last] => write!(
                    f,
                    "unknown group '{name}': not defined in {} or {last}, \
                     add a line '{name}: node[1-4]' to one of them",
                    first.join(", ")
                ),
            },
            Error::GroupCycle { chain } => {
                let first = chain.first().map(String::as_str).unwrap_or_default();
                let path: Vec<String> = chain.iter().map(|g| format!("@{g}")).collect();
                write!(
                    f,
                    "group '{first}' includes itself through {}, remove one of these references",
                    path.join(" -> ")
                )
            }
            Error::TooManyHosts { limit } => write!(
                f,
                "selection has more than {limit} hosts, split the run into smaller host lists"
            ),
            Error::NoHosts => f.write_str(
                "no remote hosts specified: give -w HOSTS, -h FILE, -g GROUP or set WCOLL",
            ),
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Hostfile => "hostfile",
            FileKind::Groups => "groups file",
        })
    }
}

impl fmt::Display for SyntaxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxKind::EmptyList => f.write_str("empty host list, give at least one host name"),
            SyntaxKind::EmptyHost => f.write_str("empty host name, remove the extra ','"),
            SyntaxKind::EmptyRange => {
                f.write_str("empty brackets, put numbers inside as in node[1-4]")
            }
            SyntaxKind::Unclosed => f.write_str("unclosed range, missing ']'"),
            SyntaxKind::Unopened => f.write_str("unbalanced ']', missing '['"),
            SyntaxKind::ExpectedNumber(c) => write!(
                f,
                "expected a number but found '{c}', ranges hold digits as in node[1-4]"
            ),
            SyntaxKind::Unexpected(c) => write!(
                f,
                "unexpected '{c}' in range, write ranges as in node[1-4,7,10-20/2]"
            ),
            SyntaxKind::Backwards { lo, hi, fix } => {
                write!(f, "range {lo}-{hi} goes backwards, write {fix}")
            }
            SyntaxKind::ZeroStep => f.write_str("step 0 never advances, use a step of 1 or more"),
            SyntaxKind::StepWithoutRange => {
                f.write_str("a step needs a range, write it as in node[1-9/2]")
            }
            SyntaxKind::NumberTooLarge(n) => {
                write!(f, "number {n} is too large, the largest is {}", u64::MAX)
            }
            SyntaxKind::TooMany { count, limit } => write!(
                f,
                "expands to {count} hosts, more than the limit of {limit}, \
                 split it into smaller lists"
            ),
            SyntaxKind::Space => {
                f.write_str("unexpected space in a host name, separate hosts with ','")
            }
            SyntaxKind::Control(c) => write!(
                f,
                "unexpected control character {:?} in a host name, remove it",
                c
            ),
            SyntaxKind::BadRegex(why) => write!(f, "bad regular expression: {why}"),
            SyntaxKind::MissingFile => {
                f.write_str("missing file name after '^', write ^/path/to/hostfile")
            }
            SyntaxKind::FileNotAllowed => {
                f.write_str("^file is read only from -w and -x values, list the hosts here instead")
            }
            SyntaxKind::MissingGroup => f.write_str("missing group name after '@', write @name"),
            SyntaxKind::BadGroupChar(c) | SyntaxKind::BadGroupDef(c) => write!(
                f,
                "'{c}' cannot be part of a group name, use letters, digits, '-', '_' or '.'"
            ),
            SyntaxKind::MissingUser => f.write_str("missing user name before '@', write user@host"),
            SyntaxKind::MissingHost => f.write_str("missing host name, write [user@]host[:port]"),
            SyntaxKind::BadPort(p) => write!(
                f,
                "port '{p}' is not a number from 1 to 65535, write host:22"
            ),
            SyntaxKind::HostChar(c) if c.is_whitespace() => {
                f.write_str("unexpected space in a host name, give one host")
            }
            SyntaxKind::HostChar(c) => write!(
                f,
                "'{c}' cannot be part of one host name, expand ranges and lists first"
            ),
            SyntaxKind::MissingColon => {
                f.write_str("missing ':' after the group name, write 'name: node[1-4]'")
            }
        }
    }
}
