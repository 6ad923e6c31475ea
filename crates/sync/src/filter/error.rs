//! Why a filter rule or a pattern file was refused.

use std::error::Error;
use std::fmt;
use std::io;

/// A filter rule that could not be taken, or a pattern file that could not be read.
///
/// It keeps the rule as it was given (and the line, for a pattern file) so that the message
/// shows what the user typed, and says what to write instead:
///
/// ```
/// use prtools_sync::filter::{FilterErrorKind, FilterList};
///
/// let mut list = FilterList::new();
/// let err = list.push_filter("-q *.o").unwrap_err();
/// assert_eq!(err.kind(), FilterErrorKind::InvalidModifier(b'q'));
/// assert!(err.to_string().starts_with("bad filter rule '-q *.o': invalid modifier 'q'"));
/// let err = list.push_filter("merge /no/such/rules").unwrap_err();
/// assert_eq!(err.kind(), FilterErrorKind::Merge);
/// assert!(err.to_string().starts_with("failed to open merge file '/no/such/rules': "));
/// ```
#[derive(Debug)]
pub struct FilterError {
    rule: Vec<u8>,
    line: Option<usize>,
    kind: FilterErrorKind,
    io: Option<io::Error>,
    /// For a rule from a merge file the command line named: that file's name.
    file: Option<Vec<u8>>,
    /// For a rule from a merge file another merge file named: the line of this one that
    /// named it (the file's own name is not shown; it may come from the file's words).
    named_at: Option<usize>,
}

/// What was wrong with a filter rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterErrorKind {
    /// The rule does not start with a rule name rsync knows (`-`, `+`, `exclude`, `H`, ...).
    UnknownRule,
    /// A modifier after the rule name that rsync does not allow there (the byte is kept),
    /// such as `s` after `H` (which already names its side) or `e` after `-`.
    InvalidModifier(u8),
    /// A rule that needs a pattern and has none (`-`, `- `, `exclude`).
    MissingPattern,
    /// `!` (`clear`) followed by something: it clears the list and takes no pattern.
    ClearWithPattern,
    /// `!` given where one rule was wanted ([`FilterRule::parse`](super::FilterRule::parse)):
    /// it is an action on a list, see [`FilterList::push_filter`](super::FilterList::push_filter).
    ClearIsNotARule,
    /// `merge` (`.`) where it cannot be read.
    Merge,
    /// A merge rule inside a per-directory merge file, which prsync does not follow.
    DirMerge,
    /// The `/` modifier (match against the absolute path on the sender) is not supported.
    AbsolutePath,
    /// The `C` modifier given with a pattern: `-C` stands for the CVS names alone.
    Cvs,
    /// Reading a pattern file failed; [`FilterError::io_error`] holds the reason.
    Read,
    /// Merge files that name each other too deep (a file that merges itself).
    MergeDepth,
}

impl FilterError {
    pub(crate) fn new(rule: &[u8], kind: FilterErrorKind) -> FilterError {
        FilterError {
            rule: rule.to_vec(),
            line: None,
            kind,
            io: None,
            file: None,
            named_at: None,
        }
    }

    pub(crate) fn read(err: io::Error) -> FilterError {
        FilterError {
            io: Some(err),
            ..FilterError::new(b"", FilterErrorKind::Read)
        }
    }

    /// A `merge` file that could not be read.
    pub(crate) fn merge_file(file: &[u8], err: io::Error) -> FilterError {
        FilterError {
            io: Some(err),
            ..FilterError::new(file, FilterErrorKind::Merge)
        }
    }

    /// A merge file named in a merge file's words that could not be read: its name is not
    /// shown, only where it was named.
    pub(crate) fn hidden_merge_file(err: io::Error) -> FilterError {
        FilterError {
            io: Some(err),
            ..FilterError::new(HIDDEN, FilterErrorKind::Merge)
        }
    }

    /// `merge` files naming each other deeper than `max`.
    pub(crate) fn depth_limit(max: usize) -> FilterError {
        let text = format!("merge-file include depth limit ({max}) exceeded");
        FilterError::new(text.as_bytes(), FilterErrorKind::MergeDepth)
    }

    /// The error of a rule read from a merge file: its words are not shown, only where it
    /// was, since the file may be one the user cannot read otherwise.
    pub(crate) fn in_file(mut self) -> FilterError {
        if self.io.is_none() && self.kind != FilterErrorKind::MergeDepth {
            self.rule = HIDDEN.to_vec();
        }
        self
    }

    /// An error from a merge file named at line `line` of the one being read: rsync points
    /// at that line, the only place the user can act on.
    pub(crate) fn nested_at(mut self, line: usize) -> FilterError {
        if self.rule == HIDDEN {
            self.named_at = Some(line);
            self.line = None;
        }
        self
    }

    /// An error from the merge file `file`, which the command line named.
    pub(crate) fn in_named_file(mut self, file: &[u8]) -> FilterError {
        if self.rule == HIDDEN {
            self.file = Some(file.to_vec());
        }
        self
    }

    /// Where a rule whose words are hidden was, in rsync's words.
    fn place(&self) -> String {
        match (&self.file, self.named_at, self.line) {
            (Some(f), Some(n), _) => {
                format!("a file named at {} line {n}", String::from_utf8_lossy(f))
            }
            (Some(f), None, Some(n)) => format!("{} line {n}", String::from_utf8_lossy(f)),
            (Some(f), None, None) => String::from_utf8_lossy(f).into_owned(),
            (None, Some(n), _) => format!("a file read earlier (named at its line {n})"),
            (None, None, Some(n)) => format!("a file read earlier (line {n})"),
            (None, None, None) => "a file read earlier".to_string(),
        }
    }

    pub(crate) fn at_line(mut self, line: usize) -> FilterError {
        self.line = Some(line);
        self
    }

    /// The rule as given, raw bytes.
    pub fn rule(&self) -> &[u8] {
        &self.rule
    }

    /// The line (from 1) of the pattern file the rule was read from, if it came from one.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What was wrong.
    pub fn kind(&self) -> FilterErrorKind {
        self.kind
    }

    /// The I/O error of a [`FilterErrorKind::Read`].
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(err) = &self.io {
            if self.kind == FilterErrorKind::Merge {
                if self.rule == HIDDEN {
                    return write!(
                        f,
                        "failed to open a merge file named in {}: {err}",
                        self.place()
                    );
                }
                let file = String::from_utf8_lossy(&self.rule);
                return write!(f, "failed to open merge file '{file}': {err}");
            }
            return write!(f, "cannot read filter rules: {err}");
        }
        if self.kind == FilterErrorKind::MergeDepth {
            return f.write_str(&String::from_utf8_lossy(&self.rule));
        }
        let rule = String::from_utf8_lossy(&self.rule);
        match self.rule.as_slice() {
            HIDDEN => write!(f, "bad filter rule in {}", self.place())?,
            _ => {
                write!(f, "bad filter rule '{}'", rule.escape_debug())?;
                if let Some(line) = self.line {
                    write!(f, " (line {line})")?;
                }
            }
        }
        let why = match self.kind {
            FilterErrorKind::UnknownRule => {
                "unknown rule; hint: start it with '-', '+', 'H', 'S', 'P', 'R' or '!', \
                 or a long name such as 'exclude', then a space and the pattern"
                    .to_string()
            }
            FilterErrorKind::InvalidModifier(m) => format!(
                "invalid modifier '{}'; hint: after '-' or '+' the modifiers are '!', 'p', \
                 's' and 'r'; 'H', 'S', 'P' and 'R' name their side already, so they take \
                 only '!' and 'p'",
                (m as char).escape_debug()
            ),
            FilterErrorKind::MissingPattern => "the rule has no pattern; hint: put a space or \
                 '_' and the pattern after the rule, as in '- *.o'"
                .to_string(),
            FilterErrorKind::ClearWithPattern => "'!' clears the list and takes no pattern; \
                 hint: to match names that start with '!', write '- !name'"
                .to_string(),
            FilterErrorKind::ClearIsNotARule => "'!' clears the list rather than being a rule; \
                 hint: give it to FilterList::push_filter"
                .to_string(),
            FilterErrorKind::Merge => "the merge file cannot be read".to_string(),
            FilterErrorKind::DirMerge => "a merge rule inside a per-directory merge file is not \
                 followed; hint: put those rules in the file itself"
                .to_string(),
            FilterErrorKind::AbsolutePath => "the '/' modifier (match the absolute path) is not \
                 supported; hint: anchor the pattern at the transfer root with a leading '/'"
                .to_string(),
            FilterErrorKind::Cvs => "'-C' stands for CVS's list of names and takes no \
                 pattern; hint: give '-C' alone, and the pattern in a rule of its own"
                .to_string(),
            FilterErrorKind::Read => "cannot be read".to_string(),
            FilterErrorKind::MergeDepth => String::new(),
        };
        write!(f, ": {why}")
    }
}

/// What stands for a rule whose words are not shown.
const HIDDEN: &[u8] = b"\0file";

impl Error for FilterError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        // A merge file's reason is in the message already.
        match self.kind {
            FilterErrorKind::Merge => None,
            _ => self.io.as_ref().map(|e| e as &(dyn Error + 'static)),
        }
    }
}
