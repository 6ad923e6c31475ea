//! The compiled pattern, and which engine runs it:
//!
//! | pattern | engine |
//! |---|---|
//! | `-F`, one string, case kept, no `-w`/`-x` | memchr's memmem |
//! | `-F`, several strings, case kept, no `-w`/`-x` | aho-corasick, leftmost-longest |
//! | BRE/ERE without back-references, and `-F` with `-i`/`-w`/`-x` | the regex crate, on grep's tree written in its syntax ([`gnu::emit`]) |
//! | BRE/ERE with back-references, or (UTF-8 locale) with bytes that are not UTF-8 | the regex crate as a filter, then a back-tracking matcher on the lines it finds ([`gnu::backtrack`]) |
//! | `-P` | PCRE2, as GNU grep |
//!
//! The matcher runs over a whole buffer, not line by line: a line-at-a-time loop spends its
//! time finding line ends, while a buffer-wide search only looks for line ends around the
//! rare match. Nothing grep's languages write can match a line end; a PCRE pattern can
//! (`a\sb`), so the line search verifies such a match against its line alone (see
//! [`Matcher::crosses_lines`]).
//!
//! A large file whose lines are printed must also be tested for NUL bytes (grep's binary
//! test). For fixed strings, and regexes whose matches start with one of a few strings,
//! that begin with bytes uncommon in text, [`Matcher::match_or_nul`] finds the next match
//! start or NUL in one aho-corasick pass, so the file is read once ([`super::pieces`]).
//!
//! Where output shows a match's extent (`-o`, colour) it is POSIX's leftmost-longest, as
//! grep's: the regex crate finds the leftmost start, and a lazy DFA run in "all matches"
//! mode from that start finds the longest end.

use std::sync::{Mutex, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::{Anchored, Input};

use super::gnu::{self, backtrack::Program, parse::Dialect};
use super::perl::Perl;
use crate::locale::Locale;

/// Which language the patterns are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Syntax {
    /// `-G`: basic regular expressions (grep's default).
    #[default]
    Basic,
    /// `-E`: extended regular expressions.
    Extended,
    /// `-F`: fixed strings.
    Fixed,
    /// `-P`: Perl-compatible regular expressions.
    Perl,
}

/// How the patterns are to be read.
#[derive(Debug, Clone)]
pub struct PatternOptions {
    /// The language.
    pub syntax: Syntax,
    /// `-i`.
    pub ignore_case: bool,
    /// `-w`.
    pub word: bool,
    /// `-x`.
    pub line: bool,
    /// `$` also matches before `\r\n` (the message modes, where CRLF mailboxes are common).
    pub crlf: bool,
    /// The line end: `\n`, or NUL with `-z`.
    pub eol: u8,
    /// What a character is.
    pub locale: Locale,
    /// Whether match extents are shown (`-o`, colour), so must be leftmost-longest.
    pub longest: bool,
}

impl Default for PatternOptions {
    fn default() -> Self {
        PatternOptions {
            syntax: Syntax::Basic,
            ignore_case: false,
            word: false,
            line: false,
            crlf: false,
            eol: b'\n',
            locale: Locale::C,
            longest: false,
        }
    }
}

enum Engine {
    /// No pattern at all (`-f /dev/null`): nothing matches.
    Never,
    /// One fixed string, case-sensitive.
    Memmem(Box<memmem::Finder<'static>>),
    /// Several fixed strings.
    Set(AhoCorasick),
    /// A regex, and a DFA for the longest match from a start (when extents are shown).
    Regex {
        re: Regex,
        longest: Option<Box<Longest>>,
    },
    /// A pattern with back-references: a filter, then the back-tracker on each line.
    Backref {
        filter: Regex,
        prog: Box<Program>,
        eol: u8,
    },
    /// `-P`.
    Perl(Perl),
}

/// A lazy DFA that reports every match, run anchored to find the longest, and its caches
/// (one per thread at a time).
struct Longest {
    dfa: DFA,
    caches: Mutex<Vec<Cache>>,
}

impl Longest {
    fn end(&self, hay: &[u8], start: usize) -> Option<usize> {
        let mut cache = self
            .caches
            .lock()
            .ok()
            .and_then(|mut c| c.pop())
            .unwrap_or_else(|| self.dfa.create_cache());
        let input = Input::new(hay).range(start..).anchored(Anchored::Yes);
        let end = self
            .dfa
            .try_search_fwd(&mut cache, &input)
            .ok()
            .flatten()
            .map(|m| m.offset());
        if let Ok(mut c) = self.caches.lock() {
            c.push(cache);
        }
        end
    }
}

/// A compiled search pattern.
pub struct Matcher {
    engine: Engine,
    /// The strings of a fixed-string engine, to build [`Matcher::match_or_nul`] from.
    strings: Vec<Vec<u8>>,
    opts: PatternOptions,
    or_nul: OnceLock<Option<MatchOrNul>>,
}

/// A search for where the next match or NUL byte may start, whichever comes first: one
/// pass over a large file finds both what to print and whether the file is binary, where a
/// NUL test and then the search read every byte twice ([`super::pieces`]).
pub enum MatchOrNul {
    /// The fixed strings, and a NUL: exact.
    Set(AhoCorasick),
    /// Strings that every match of a regex starts with, and a NUL: where one is found a
    /// match may start, the line's own search says whether one does.
    Prefixes(AhoCorasick),
}

impl MatchOrNul {
    /// The leftmost position at or after `start` where a NUL byte is or a match may start.
    /// There is neither a NUL nor a match start before it.
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<usize> {
        let (MatchOrNul::Set(ac) | MatchOrNul::Prefixes(ac)) = self;
        ac.find(aho_corasick::Input::new(hay).span(start..hay.len()))
            .map(|m| m.start())
    }
}

/// Prefixes of the regex `source`, one of which starts each of its matches, when they are
/// few and long enough to find quickly: at most [`PREFIXES_MAX`] of at least
/// [`PREFIX_MIN`] bytes (their first [`PREFIX_KEEP`] bytes). The regex crate searches for
/// such prefixes too, but does not say which; they are worked out again here from the same
/// syntax tree.
fn prefixes(source: &str, opts: &PatternOptions) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(opts.locale.utf8)
        .utf8(false)
        .multi_line(true)
        .line_terminator(opts.eol)
        .crlf(opts.crlf)
        .build()
        .parse(source)
        .ok()?;
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    seq.keep_first_bytes(PREFIX_KEEP);
    seq.dedup();
    let literals = seq.literals()?;
    let usable = !literals.is_empty()
        && literals.len() <= PREFIXES_MAX
        && literals.iter().all(|l| l.as_bytes().len() >= PREFIX_MIN);
    let literals: Vec<Vec<u8>> = literals.iter().map(|l| l.as_bytes().to_vec()).collect();
    (usable && rare_starts(&literals)).then_some(literals)
}

/// Whether no string starts with a byte common in mail text (lower-case letters, digits,
/// blanks, common punctuation). The search for the strings and a NUL looks for their
/// first bytes, and a NUL is one byte long: strings that start with common bytes stop it
/// so often that a NUL test and then the engine's own search (which picks its rarest
/// bytes) are faster.
fn rare_starts(strings: &[Vec<u8>]) -> bool {
    strings.iter().all(|s| {
        s.first().is_some_and(|&b| {
            !(b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b.is_ascii_whitespace()
                || b".,;:-_'\"=/<>()[]".contains(&b))
        })
    })
}

/// See [`prefixes`]: aho-corasick's fastest search (Teddy) takes a few dozen strings, and a
/// string of one or two bytes is found too often to skip much.
const PREFIXES_MAX: usize = 48;
const PREFIX_MIN: usize = 3;
const PREFIX_KEEP: usize = 4;

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.engine {
            Engine::Never => "Matcher(never)",
            Engine::Memmem(_) => "Matcher(memmem)",
            Engine::Set(_) => "Matcher(aho-corasick)",
            Engine::Regex { .. } => "Matcher(regex)",
            Engine::Backref { .. } => "Matcher(back-tracking)",
            Engine::Perl(_) => "Matcher(pcre2)",
        })
    }
}

/// A pattern that does not compile: grep's words for why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong, as grep says it (`Unmatched ( or \(`).
    pub reason: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PatternError {}

impl Matcher {
    /// Compiles `patterns` (each already split at line ends). A match of any one is a
    /// match. Warnings grep prints about the patterns go to `warnings`.
    pub fn new(
        patterns: &[Vec<u8>],
        opts: &PatternOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Matcher, PatternError> {
        let engine = Matcher::engine(patterns, opts, warnings)?;
        let strings = match engine {
            Engine::Memmem(_) | Engine::Set(_) => patterns.to_vec(),
            _ => Vec::new(),
        };
        Ok(Matcher {
            engine,
            strings,
            opts: opts.clone(),
            or_nul: OnceLock::new(),
        })
    }

    fn engine(
        patterns: &[Vec<u8>],
        opts: &PatternOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Engine, PatternError> {
        let err = |reason: String| PatternError {
            pattern: String::from_utf8_lossy(&patterns.join(&b'\n')).into_owned(),
            reason,
        };
        if patterns.is_empty() {
            return Ok(Engine::Never);
        }
        if opts.syntax == Syntax::Perl {
            return Ok(Engine::Perl(Perl::new(patterns, opts).map_err(err)?));
        }
        let plain_fixed = opts.syntax == Syntax::Fixed && !opts.word && !opts.line;
        let no_case = |p: &[u8]| !p.iter().any(u8::is_ascii_alphabetic) && p.is_ascii();
        // In a UTF-8 locale a string that is not UTF-8 must not match inside a character.
        let bytes_ok = !opts.locale.utf8 || patterns.iter().all(|p| std::str::from_utf8(p).is_ok());
        if plain_fixed && bytes_ok && (!opts.ignore_case || patterns.iter().all(|p| no_case(p))) {
            if patterns.len() == 1 {
                let finder = memmem::Finder::new(&patterns[0]).into_owned();
                return Ok(Engine::Memmem(Box::new(finder)));
            }
            let set = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .map_err(|e| err(e.to_string()))?;
            return Ok(Engine::Set(set));
        }
        let dialect = match opts.syntax {
            Syntax::Basic => Some(Dialect::Basic),
            Syntax::Extended => Some(Dialect::Extended),
            _ => None,
        };
        let (node, groups) = gnu::parse_all(
            patterns,
            dialect,
            opts.locale,
            opts.ignore_case,
            opts.word,
            opts.line,
            warnings,
        )
        .map_err(|e| err(e.0.to_string()))?;
        let source = gnu::emit::regex_source(&node, opts.locale.utf8, opts.eol);
        let re = build_regex(&source, opts).map_err(err)?;
        if node.has_backref() || node.has_raw_byte() {
            let prog = Program::new(&node, groups, opts.locale, opts.ignore_case, opts.eol);
            return Ok(Engine::Backref {
                filter: re,
                prog: Box::new(prog),
                eol: opts.eol,
            });
        }
        let longest = if opts.longest {
            longest_dfa(&source, opts)
        } else {
            None
        };
        Ok(Engine::Regex { re, longest })
    }

    /// The leftmost match in `hay` that starts at or after `start`, as `(start, end)`.
    #[inline]
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        match &self.engine {
            Engine::Never => None,
            Engine::Memmem(f) => f
                .find(&hay[start..])
                .map(|i| (start + i, start + i + f.needle().len())),
            Engine::Set(ac) => {
                let input = aho_corasick::Input::new(hay).span(start..hay.len());
                ac.find(input).map(|m| (m.start(), m.end()))
            }
            Engine::Regex { re, .. } => re.find_at(hay, start).map(|m| (m.start(), m.end())),
            Engine::Backref { filter, prog, eol } => {
                let mut pos = start;
                loop {
                    let m = filter.find_at(hay, pos)?;
                    let ls = memchr::memrchr(*eol, &hay[..m.start()]).map_or(0, |i| i + 1);
                    let le = memchr::memchr(*eol, &hay[m.start()..])
                        .map_or(hay.len(), |i| m.start() + i);
                    let from = pos.max(ls) - ls;
                    if let Some((s, e)) = prog.find(&hay[ls..le], from, false) {
                        return Some((ls + s, ls + e));
                    }
                    if le >= hay.len() {
                        return None;
                    }
                    pos = le + 1;
                }
            }
            Engine::Perl(p) => p.find_at(hay, start),
        }
    }

    /// The search for a match or a NUL byte, built on first use, when the engine has one:
    /// fixed strings and regexes without back-references. Where it reports a position,
    /// either a NUL byte is there or a match starts there; there is neither before it.
    pub fn match_or_nul(&self) -> Option<&MatchOrNul> {
        self.or_nul
            .get_or_init(|| match &self.engine {
                Engine::Memmem(_) | Engine::Set(_) if rare_starts(&self.strings) => {
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(self.strings.iter().map(Vec::as_slice).chain([&b"\0"[..]]))
                        .ok()
                        .map(MatchOrNul::Set)
                }
                Engine::Regex { re, .. } => prefixes(re.as_str(), &self.opts).and_then(|p| {
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(p.iter().map(Vec::as_slice).chain([&b"\0"[..]]))
                        .ok()
                        .map(MatchOrNul::Prefixes)
                }),
                _ => None,
            })
            .as_ref()
    }

    /// Whether `hay` holds a match anywhere.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match &self.engine {
            Engine::Never => false,
            Engine::Memmem(f) => f.find(hay).is_some(),
            Engine::Set(ac) => ac.is_match(hay),
            Engine::Regex { re, .. } => re.is_match(hay),
            _ => self.find_at(hay, 0).is_some(),
        }
    }

    /// Whether a match found by [`Matcher::find_at`] must be checked against its line alone:
    /// only a PCRE pattern can match across a line end.
    pub fn crosses_lines(&self) -> bool {
        matches!(self.engine, Engine::Perl(_))
    }

    /// Every non-empty match in one line (for `-o` and colour), in order, each the longest
    /// from its start.
    pub fn find_parts(&self, line: &[u8], mut each: impl FnMut(usize, usize)) {
        let mut at = 0;
        while at <= line.len() {
            let Some((s, mut e)) = self.find_at(line, at) else {
                break;
            };
            match &self.engine {
                Engine::Regex {
                    longest: Some(l), ..
                } => {
                    if let Some(end) = l.end(line, s) {
                        e = e.max(end);
                    }
                }
                Engine::Backref { prog, .. } => {
                    if let Some((_, end)) = prog.find(line, s, true) {
                        e = e.max(end);
                    }
                }
                _ => {}
            }
            if e > s {
                each(s, e);
                at = e;
            } else {
                at = e + 1;
            }
        }
    }
}

fn build_regex(source: &str, opts: &PatternOptions) -> Result<Regex, String> {
    RegexBuilder::new(source)
        .unicode(opts.locale.utf8)
        .multi_line(true)
        .line_terminator(opts.eol)
        .crlf(opts.crlf)
        .size_limit(256 << 20)
        .dfa_size_limit(64 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "Regular expression too big".to_string(),
            other => other.to_string(),
        })
}

fn longest_dfa(source: &str, opts: &PatternOptions) -> Option<Box<Longest>> {
    let syntax = regex_automata::util::syntax::Config::new()
        .unicode(opts.locale.utf8)
        .utf8(false)
        .multi_line(true)
        .line_terminator(opts.eol)
        .crlf(opts.crlf);
    let dfa = DFA::builder()
        .configure(
            DFA::config()
                .match_kind(regex_automata::MatchKind::All)
                .unicode_word_boundary(true),
        )
        .syntax(syntax)
        .build(source)
        .ok()?;
    Some(Box::new(Longest {
        dfa,
        caches: Mutex::new(Vec::new()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &[&str], opts: PatternOptions) -> Matcher {
        let p: Vec<Vec<u8>> = p.iter().map(|s| s.as_bytes().to_vec()).collect();
        Matcher::new(&p, &opts, &mut Vec::new()).unwrap()
    }

    fn parts(m: &Matcher, line: &str) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        m.find_parts(line.as_bytes(), |s, e| v.push((s, e)));
        v
    }

    #[test]
    fn one_literal_uses_memmem() {
        let opts = PatternOptions {
            syntax: Syntax::Fixed,
            ..Default::default()
        };
        let m = m(&["bc"], opts);
        assert!(matches!(m.engine, Engine::Memmem(_)));
        assert_eq!(m.find_at(b"abcabc", 2), Some((4, 6)));
    }

    #[test]
    fn literal_set_is_leftmost_longest() {
        let opts = PatternOptions {
            syntax: Syntax::Fixed,
            ..Default::default()
        };
        let set = m(&["cc", "ccc"], opts);
        assert!(matches!(set.engine, Engine::Set(_)));
        assert_eq!(parts(&set, "a bb ccc"), [(5, 8)]);
    }

    #[test]
    fn regex_extents_are_leftmost_longest() {
        let opts = PatternOptions {
            syntax: Syntax::Extended,
            longest: true,
            ..Default::default()
        };
        assert_eq!(parts(&m(&["a|ab"], opts.clone()), "xab"), [(1, 3)]);
        assert_eq!(parts(&m(&["cc", "ccc"], opts), "a bb ccc"), [(5, 8)]);
    }

    #[test]
    fn back_references_use_the_back_tracker() {
        let m = m(&[r"\(ab*\)\1"], PatternOptions::default());
        assert!(matches!(m.engine, Engine::Backref { .. }));
        assert_eq!(m.find_at(b"abab\nabbab\nabbabb\n", 0), Some((0, 4)));
        assert_eq!(m.find_at(b"abab\nabbab\nabbabb\n", 1), Some((11, 17)));
    }

    #[test]
    fn word_parts_are_the_words() {
        let opts = PatternOptions {
            word: true,
            ..Default::default()
        };
        assert_eq!(
            parts(&m(&["a"], opts), "a,a ab a"),
            [(0, 1), (2, 3), (7, 8)]
        );
    }

    #[test]
    fn no_pattern_matches_nothing() {
        let m = Matcher::new(&[], &PatternOptions::default(), &mut Vec::new()).unwrap();
        assert!(!m.is_match(b"x\n"));
    }

    #[test]
    fn bad_regex_is_worded_as_grep() {
        let err = Matcher::new(
            &[b"ab\\(c".to_vec()],
            &PatternOptions::default(),
            &mut Vec::new(),
        )
        .err()
        .unwrap();
        assert_eq!(err.to_string(), r"Unmatched ( or \(");
    }
}
