//! `-P`: Perl-compatible patterns, run by PCRE2 itself, as GNU grep runs them: one line
//! (with `-z`, one NUL-ended record) at a time, so that `^`, `$` and `\s` see the line
//! alone, as in grep. PCRE2 matches invalid UTF-8 input safely (the `pcre2` crate always
//! asks for `PCRE2_MATCH_INVALID_UTF`).
//!
//! A search PCRE2 gives up on (its backtracking limit) is an error, as in grep: it is
//! reported once and the run ends with status 2.

use std::sync::atomic::{AtomicBool, Ordering};

use pcre2::bytes::{Regex, RegexBuilder};

use super::matcher::PatternOptions;

/// A compiled `-P` pattern.
pub struct Perl {
    re: Regex,
    eol: u8,
}

/// `pattern` with each `$` that is an anchor (not escaped, not in a class) as `\z`.
fn dollar_end_only(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first in a class is a member.
                if let Some(n) = chars.next() {
                    out.push(n);
                    if n == '^' {
                        if let Some(m) = chars.next() {
                            out.push(m);
                        }
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '$' if !in_class => out.push_str("\\z"),
            _ => out.push(c),
        }
    }
    out
}

/// Set once PCRE2 has given up on a search.
static GAVE_UP: AtomicBool = AtomicBool::new(false);

/// Whether PCRE2 gave up on a search (the run's status is then 2).
pub fn gave_up() -> bool {
    GAVE_UP.load(Ordering::Relaxed)
}

impl Perl {
    /// Compiles the one pattern `-P` takes, with grep's `-i`, `-w` and `-x`.
    pub fn new(patterns: &[Vec<u8>], opts: &PatternOptions) -> Result<Perl, String> {
        if patterns.len() > 1 {
            return Err("the -P option only supports a single pattern".to_string());
        }
        let pattern = std::str::from_utf8(&patterns[0])
            .map_err(|_| "the -P pattern is not valid UTF-8".to_string())?;
        // With -z a record may hold newlines, and grep's `$` is the record's end only
        // (PCRE2_DOLLAR_ENDONLY, which the pcre2 crate does not offer): written as `\z`.
        let pattern = if opts.eol == 0 {
            dollar_end_only(pattern)
        } else {
            pattern.to_string()
        };
        let wrapped = if opts.line {
            format!("^(?:{pattern})$")
        } else if opts.word {
            format!(r"(?<!\w)(?:{pattern})(?!\w)")
        } else {
            pattern
        };
        let re = RegexBuilder::new()
            .caseless(opts.ignore_case)
            .utf(opts.locale.utf8)
            .ucp(opts.locale.utf8)
            .crlf(opts.crlf)
            .jit_if_available(true)
            // grep lets the JIT stack grow for deeply nested patterns, so does this.
            .max_jit_stack_size(Some(64 << 20))
            .build(&wrapped)
            .map_err(|e| {
                let text = e.to_string();
                match text.rfind(": ") {
                    Some(at) => text[at + 2..].to_string(),
                    None => text,
                }
            })?;
        Ok(Perl { re, eol: opts.eol })
    }

    /// The leftmost match at or after `start`, each line searched alone.
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        let mut ls = memchr::memrchr(self.eol, &hay[..start]).map_or(0, |i| i + 1);
        loop {
            let le = memchr::memchr(self.eol, &hay[ls..]).map_or(hay.len(), |i| ls + i);
            let from = start.max(ls) - ls;
            match self.re.find_at(&hay[ls..le], from) {
                Ok(Some(m)) => return Some((ls + m.start(), ls + m.end())),
                Ok(None) => {}
                Err(e) => {
                    if !GAVE_UP.swap(true, Ordering::Relaxed) {
                        let text = e.to_string();
                        let why = if text.contains("backtrack") || text.contains("match limit") {
                            "exceeded PCRE's backtracking limit".to_string()
                        } else {
                            text
                        };
                        eprintln!("{}: {why}", crate::prog());
                    }
                }
            }
            if le >= hay.len() {
                return None;
            }
            ls = le + 1;
        }
    }
}
