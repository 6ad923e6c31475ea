//! The compiled pattern: memchr's memmem for one fixed string, aho-corasick for a set of
//! them, the regex crate for everything else.
//!
//! The matcher runs over a whole buffer, not line by line: a line-at-a-time loop spends its
//! time finding line ends, while a buffer-wide search only looks for line ends around the
//! rare match. A regex match may run across a newline (`a\sb`); the line search verifies
//! such a match against its line alone (see [`Matcher::crosses_lines`]).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};

/// How the patterns are to be read.
#[derive(Debug, Clone, Default)]
pub struct PatternOptions {
    /// `-F`: fixed strings.
    pub fixed: bool,
    /// `-i`.
    pub ignore_case: bool,
    /// `-w`.
    pub word: bool,
    /// `-x`.
    pub line: bool,
    /// `$` also matches before `\r\n` (the message modes, where CRLF mailboxes are common).
    pub crlf: bool,
}

enum Engine {
    /// One fixed string, case-sensitive.
    Memmem(Box<memmem::Finder<'static>>),
    /// Several fixed strings, or one with ASCII-only `-i`.
    Set(AhoCorasick),
    /// A regex. `group` is true when the match proper is capture group 1 (`-w`).
    Regex { re: Regex, group: bool },
}

/// A compiled search pattern.
pub struct Matcher {
    engine: Engine,
}

/// A pattern that does not compile, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong, lowercase.
    pub reason: String,
    /// The 1-based column of the problem, when known.
    pub column: Option<usize>,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad pattern '{}': {}", self.pattern, self.reason)?;
        if let Some(col) = self.column {
            write!(f, " at column {col}")?;
        }
        write!(f, "; use -F to search for it as a fixed string")
    }
}

impl std::error::Error for PatternError {}

impl Matcher {
    /// Compiles `patterns` (each already split at newlines). A match of any one is a match.
    pub fn new(patterns: &[String], opts: &PatternOptions) -> Result<Matcher, PatternError> {
        if opts.fixed && !opts.word && !opts.line {
            if patterns.len() == 1 && !opts.ignore_case {
                let finder = memmem::Finder::new(patterns[0].as_bytes()).into_owned();
                return Ok(Matcher {
                    engine: Engine::Memmem(Box::new(finder)),
                });
            }
            // A case-insensitive set goes to the regex engine, whose prefilter handles case
            // variants far faster than an ASCII-folding automaton.
            if !opts.ignore_case {
                let set = AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .ascii_case_insensitive(opts.ignore_case)
                    .build(patterns)
                    .map_err(|e| PatternError {
                        pattern: patterns.join("\n"),
                        reason: e.to_string().to_lowercase(),
                        column: None,
                    })?;
                return Ok(Matcher {
                    engine: Engine::Set(set),
                });
            }
        }
        for p in patterns {
            if !opts.fixed {
                check_syntax(p)?;
            }
        }
        let alternation = patterns
            .iter()
            .map(|p| {
                if opts.fixed {
                    regex::escape(p)
                } else {
                    format!("(?:{p})")
                }
            })
            .collect::<Vec<_>>()
            .join("|");
        let (source, group) = if opts.line {
            (format!("^(?:{alternation})$"), false)
        } else if opts.word {
            (format!(r"(?:^|\W)({alternation})(?:$|\W)"), true)
        } else {
            (alternation, false)
        };
        let re = RegexBuilder::new(&source)
            .multi_line(true)
            .crlf(opts.crlf)
            .case_insensitive(opts.ignore_case)
            .size_limit(64 << 20)
            .dfa_size_limit(64 << 20)
            .build()
            .map_err(|e| PatternError {
                pattern: patterns.join("\n"),
                reason: match e {
                    regex::Error::CompiledTooBig(_) => {
                        "too big once compiled; use fewer or simpler patterns".to_string()
                    }
                    other => first_line(&other.to_string()),
                },
                column: None,
            })?;
        Ok(Matcher {
            engine: Engine::Regex { re, group },
        })
    }

    /// The leftmost match in `hay` that starts at or after `start`, as `(start, end)`.
    /// With `-w` this is the whole match including the boundary characters; use
    /// [`Matcher::find_parts`] for the word itself.
    #[inline]
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        match &self.engine {
            Engine::Memmem(f) => f
                .find(&hay[start..])
                .map(|i| (start + i, start + i + f.needle().len())),
            Engine::Set(ac) => {
                let input = aho_corasick::Input::new(hay).span(start..hay.len());
                ac.find(input).map(|m| (m.start(), m.end()))
            }
            Engine::Regex { re, .. } => re.find_at(hay, start).map(|m| (m.start(), m.end())),
        }
    }

    /// Whether `hay` holds a match anywhere.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match &self.engine {
            Engine::Memmem(f) => f.find(hay).is_some(),
            Engine::Set(ac) => ac.is_match(hay),
            Engine::Regex { re, .. } => re.is_match(hay),
        }
    }

    /// Whether a match found by [`Matcher::find_at`] must be checked against its line alone:
    /// only a regex can match across a newline.
    pub fn crosses_lines(&self) -> bool {
        matches!(self.engine, Engine::Regex { .. })
    }

    /// Every non-empty match proper in one line (for `-o` and colour), in order.
    pub fn find_parts(&self, line: &[u8], mut each: impl FnMut(usize, usize)) {
        let mut at = 0;
        while at <= line.len() {
            let found = match &self.engine {
                Engine::Regex { re, group: true } => re
                    .captures_at(line, at)
                    .and_then(|c| c.get(1))
                    .map(|m| (m.start(), m.end())),
                _ => self.find_at(line, at),
            };
            let Some((s, e)) = found else { break };
            if e > s {
                each(s, e);
                at = e;
            } else {
                at = e + 1;
            }
        }
    }
}

/// Parses `pattern` alone to report a syntax error with its column, which the regex crate
/// only gives as a multi-line picture.
fn check_syntax(pattern: &str) -> Result<(), PatternError> {
    let mut parser = regex_syntax::ast::parse::Parser::new();
    if let Err(e) = parser.parse(pattern) {
        return Err(PatternError {
            pattern: pattern.to_string(),
            reason: e.kind().to_string(),
            column: Some(pattern[..e.span().start.offset].chars().count() + 1),
        });
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| text.lines().next().unwrap_or("invalid").to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &[&str], opts: PatternOptions) -> Matcher {
        Matcher::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &opts).unwrap()
    }

    #[test]
    fn one_literal_uses_memmem() {
        let m = m(
            &["bc"],
            PatternOptions {
                fixed: true,
                ..Default::default()
            },
        );
        assert!(matches!(m.engine, Engine::Memmem(_)));
        assert_eq!(m.find_at(b"abcabc", 2), Some((4, 6)));
    }

    #[test]
    fn literal_set_uses_aho_corasick() {
        let set = m(
            &["x", "bc"],
            PatternOptions {
                fixed: true,
                ..Default::default()
            },
        );
        assert!(matches!(set.engine, Engine::Set(_)));
        assert_eq!(set.find_at(b"abcx", 0), Some((1, 3)));
        // Ignoring case, the regex engine's prefilter is faster.
        let folded = m(
            &["x", "BC"],
            PatternOptions {
                fixed: true,
                ignore_case: true,
                ..Default::default()
            },
        );
        assert!(matches!(folded.engine, Engine::Regex { .. }));
        assert_eq!(folded.find_at(b"abcx", 0), Some((1, 3)));
    }

    #[test]
    fn word_parts_skip_the_boundaries() {
        let m = m(
            &["a"],
            PatternOptions {
                word: true,
                ..Default::default()
            },
        );
        let mut parts = Vec::new();
        m.find_parts(b"a,a ab a", |s, e| parts.push((s, e)));
        assert_eq!(parts, [(0, 1), (2, 3), (7, 8)]);
    }

    #[test]
    fn bad_regex_names_the_column() {
        let err = Matcher::new(&["ab(c".to_string()], &PatternOptions::default())
            .err()
            .unwrap();
        assert_eq!(err.column, Some(3));
        assert!(
            err.to_string()
                .starts_with("bad pattern 'ab(c': unclosed group"),
            "{err}"
        );
    }
}
