//! `-P`: Perl-compatible patterns, run by PCRE2 itself, as GNU grep runs them. PCRE2
//! matches invalid UTF-8 input safely (the `pcre2` crate always asks for
//! `PCRE2_MATCH_INVALID_UTF`), so a buffer is searched whole, as with the other engines.

use pcre2::bytes::{Regex, RegexBuilder};

use super::matcher::PatternOptions;

/// A compiled `-P` pattern.
pub struct Perl {
    re: Regex,
}

impl Perl {
    /// Compiles the one pattern `-P` takes, with grep's `-i`, `-w` and `-x`.
    pub fn new(patterns: &[Vec<u8>], opts: &PatternOptions) -> Result<Perl, String> {
        if patterns.len() > 1 {
            return Err("the -P option only supports a single pattern".to_string());
        }
        let pattern = std::str::from_utf8(&patterns[0])
            .map_err(|_| "the -P pattern is not valid UTF-8".to_string())?;
        let wrapped = if opts.line {
            format!("^(?:{pattern})$")
        } else if opts.word {
            format!(r"(?<!\w)(?:{pattern})(?!\w)")
        } else {
            pattern.to_string()
        };
        let re = RegexBuilder::new()
            .caseless(opts.ignore_case)
            .multi_line(true)
            .utf(opts.locale.utf8)
            .ucp(opts.locale.utf8)
            .crlf(opts.crlf)
            .jit_if_available(true)
            .build(&wrapped)
            .map_err(|e| {
                let text = e.to_string();
                match text.rfind(": ") {
                    Some(at) => text[at + 2..].to_string(),
                    None => text,
                }
            })?;
        Ok(Perl { re })
    }

    /// The leftmost match at or after `start`. A search that PCRE2 gives up on (its match
    /// limit) counts as no match, as in grep, which then also says so.
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        match self.re.find_at(hay, start) {
            Ok(Some(m)) => Some((m.start(), m.end())),
            _ => None,
        }
    }
}
