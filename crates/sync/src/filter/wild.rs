//! rsync's wildcard matcher, compiled once per rule.
//!
//! rsync matches filter patterns with its own `wildmatch` (lib/wildmatch.c), not with
//! fnmatch or a glob library, and the differences show in real rule sets:
//!
//! - `*` stops at `/`, but two or more stars in a row (`**`, `***`) cross it;
//! - `[...]` never matches `/`, takes `!` or `^` for negation, ranges, backslash escapes and
//!   the twelve `[:name:]` classes (ASCII only, as in the C locale);
//! - a backslash escapes the next byte; a pattern that ends in a lone backslash, or holds an
//!   unclosed `[` or an unknown `[:name:]`, matches nothing at all;
//! - bytes are compared as they are, so names need not be UTF-8.
//!
//! `globset` and `regex` could express the single-string case, but not how rsync applies it
//! (the search from every `/` for a `**` pattern, the trailing-N-components rule, the `/`
//! rsync appends to a directory's name for `***`), and their escaping and class rules differ
//! in corners that users hit (`[]a]`, `[a-]`, `\` outside a wildcard pattern). The matcher is
//! small, and keeping its control flow the same as rsync's (including the two "give up early"
//! results) keeps every corner the same, and its cost bounded by what rsync's own costs.

/// One compiled pattern element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// A byte that must be there, escaped or not.
    Byte(u8),
    /// `?`: any byte but `/`.
    Any,
    /// `*` (`cross_slash == false`) or a run of two or more stars.
    Star { cross_slash: bool },
    /// `[...]`.
    Class(Class),
    /// A backslash at the very end: rsync compares the text against the terminating NUL,
    /// which fails wherever it is reached.
    Fail,
    /// An unclosed `[` or an unknown `[:name:]`: rsync gives up on the whole match.
    Abort,
}

/// A bracket expression.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClassItem {
    Byte(u8),
    Range(u8, u8),
    Named(Named),
}

/// The `[:name:]` classes rsync knows, with C-locale (ASCII) meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Named {
    Alnum,
    Alpha,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

impl Named {
    fn from_name(name: &[u8]) -> Option<Named> {
        Some(match name {
            b"alnum" => Named::Alnum,
            b"alpha" => Named::Alpha,
            b"blank" => Named::Blank,
            b"cntrl" => Named::Cntrl,
            b"digit" => Named::Digit,
            b"graph" => Named::Graph,
            b"lower" => Named::Lower,
            b"print" => Named::Print,
            b"punct" => Named::Punct,
            b"space" => Named::Space,
            b"upper" => Named::Upper,
            b"xdigit" => Named::Xdigit,
            _ => return None,
        })
    }

    fn contains(self, b: u8) -> bool {
        match self {
            Named::Alnum => b.is_ascii_alphanumeric(),
            Named::Alpha => b.is_ascii_alphabetic(),
            Named::Blank => b == b' ' || b == b'\t',
            Named::Cntrl => b.is_ascii_control(),
            Named::Digit => b.is_ascii_digit(),
            Named::Graph => b.is_ascii_graphic(),
            Named::Lower => b.is_ascii_lowercase(),
            Named::Print => b.is_ascii_graphic() || b == b' ',
            Named::Punct => b.is_ascii_punctuation(),
            // C's isspace also takes the vertical tab, which Rust's is_ascii_whitespace
            // leaves out.
            Named::Space => b.is_ascii_whitespace() || b == 0x0b,
            Named::Upper => b.is_ascii_uppercase(),
            Named::Xdigit => b.is_ascii_hexdigit(),
        }
    }
}

impl Class {
    fn matches(&self, b: u8) -> bool {
        let hit = self.items.iter().any(|item| match *item {
            ClassItem::Byte(c) => b == c,
            ClassItem::Range(lo, hi) => lo <= b && b <= hi,
            ClassItem::Named(named) => named.contains(b),
        });
        hit != self.negated && b != b'/'
    }
}

/// A compiled wildcard pattern (one that holds `*`, `?` or `[`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wild {
    tokens: Vec<Token>,
}

impl Wild {
    /// Compiles `pattern`, which has no leading `/` (the caller strips the anchor).
    pub(crate) fn compile(pattern: &[u8]) -> Wild {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            match pattern[i] {
                b'\\' => match pattern.get(i + 1) {
                    Some(&b) => {
                        tokens.push(Token::Byte(b));
                        i += 2;
                    }
                    None => {
                        tokens.push(Token::Fail);
                        i += 1;
                    }
                },
                b'?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                b'*' => {
                    let run = pattern[i..].iter().take_while(|&&b| b == b'*').count();
                    tokens.push(Token::Star {
                        cross_slash: run > 1,
                    });
                    i += run;
                }
                b'[' => match compile_class(pattern, i + 1) {
                    Some((class, end)) => {
                        tokens.push(Token::Class(class));
                        i = end + 1;
                    }
                    None => {
                        // rsync reaches the bad class only after matching what comes
                        // before it, but then gives up; nothing after it can matter.
                        tokens.push(Token::Abort);
                        break;
                    }
                },
                b => {
                    tokens.push(Token::Byte(b));
                    i += 1;
                }
            }
        }
        Wild { tokens }
    }

    /// Whether the whole of `text` matches, from its start.
    pub(crate) fn matches_whole(&self, text: &[u8]) -> bool {
        do_match(&self.tokens, text) == Outcome::Match
    }

    /// Whether the pattern matches `text` from its start or, failing that, from just after
    /// any `/` in it: how rsync applies a pattern holding a `**` that is not at its start.
    pub(crate) fn matches_after_any_slash(&self, text: &[u8]) -> bool {
        match do_match(&self.tokens, text) {
            Outcome::Match => return true,
            Outcome::AbortAll => return false,
            Outcome::NoMatch | Outcome::AbortToStarStar => {}
        }
        for (i, &b) in text.iter().enumerate() {
            if b != b'/' {
                continue;
            }
            match do_match(&self.tokens, &text[i + 1..]) {
                Outcome::Match => return true,
                Outcome::AbortAll => return false,
                Outcome::NoMatch | Outcome::AbortToStarStar => {}
            }
        }
        false
    }
}

/// Parses the class whose body starts at `start` (just after `[`); returns it and the index
/// of its closing `]`, or `None` when rsync would give up on it.
///
/// The rules are rsync's: a `]` right after `[` or `[!` is a member; `-` makes a range only
/// between two members and not before the closing `]`; `\` escapes the next byte; `[:` opens
/// a named class only if a `:]` closes it before the next `]`, and is a plain `[` otherwise.
fn compile_class(pattern: &[u8], start: usize) -> Option<(Class, usize)> {
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let mut p = start;
    let mut negated = false;
    if at(p) == b'!' || at(p) == b'^' {
        negated = true;
        p += 1;
    }
    let mut items = Vec::new();
    // The last plain member, which can start a range; 0 when there is none (rsync's prev_ch).
    let mut prev: u8 = 0;
    loop {
        let mut ch = at(p);
        if p >= pattern.len() {
            return None;
        }
        if ch == b'\\' {
            p += 1;
            if p >= pattern.len() {
                return None;
            }
            ch = pattern[p];
            items.push(ClassItem::Byte(ch));
        } else if ch == b'-' && prev != 0 && p + 1 < pattern.len() && pattern[p + 1] != b']' {
            p += 1;
            let mut hi = pattern[p];
            if hi == b'\\' {
                p += 1;
                if p >= pattern.len() {
                    return None;
                }
                hi = pattern[p];
            }
            items.push(ClassItem::Range(prev, hi));
            ch = 0;
        } else if ch == b'[' && at(p + 1) == b':' {
            let name_start = p + 2;
            let close = pattern[name_start..].iter().position(|&b| b == b']')? + name_start;
            if close > name_start && pattern[close - 1] == b':' {
                let named = Named::from_name(&pattern[name_start..close - 1])?;
                items.push(ClassItem::Named(named));
                p = close;
                ch = 0;
            } else {
                // Not a `[:name:]`: the `[` is a member and the `:` is read next.
                items.push(ClassItem::Byte(b'['));
            }
        } else {
            items.push(ClassItem::Byte(ch));
        }
        prev = ch;
        p += 1;
        if p >= pattern.len() {
            return None;
        }
        if pattern[p] == b']' {
            return Some((Class { negated, items }, p));
        }
    }
}

/// rsync's four match results: the two "abort" ones let a caller stop trying other starting
/// points early, and keeping them keeps the matcher's answers identical to rsync's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    NoMatch,
    Match,
    /// The text ran out, or the pattern is malformed: no later start can match either.
    AbortAll,
    /// A single `*` met a `/`: only an enclosing `**` can still help.
    AbortToStarStar,
}

fn do_match(tokens: &[Token], text: &[u8]) -> Outcome {
    let mut t = 0;
    for (k, token) in tokens.iter().enumerate() {
        let star = matches!(token, Token::Star { .. });
        if t == text.len() && !star {
            return Outcome::AbortAll;
        }
        match token {
            Token::Byte(b) => {
                if text[t] != *b {
                    return Outcome::NoMatch;
                }
            }
            Token::Any => {
                if text[t] == b'/' {
                    return Outcome::NoMatch;
                }
            }
            Token::Class(class) => {
                if !class.matches(text[t]) {
                    return Outcome::NoMatch;
                }
            }
            Token::Fail => return Outcome::NoMatch,
            Token::Abort => return Outcome::AbortAll,
            Token::Star { cross_slash } => {
                let rest = &tokens[k + 1..];
                if rest.is_empty() {
                    // A trailing `**` takes everything; a trailing `*` only a last component.
                    return if *cross_slash || !text[t..].contains(&b'/') {
                        Outcome::Match
                    } else {
                        Outcome::NoMatch
                    };
                }
                // What follows the stars needs at least one byte, so rsync never tries it at
                // the end of the text.
                while t < text.len() {
                    match do_match(rest, &text[t..]) {
                        Outcome::NoMatch => {
                            if !*cross_slash && text[t] == b'/' {
                                return Outcome::AbortToStarStar;
                            }
                        }
                        Outcome::AbortToStarStar if *cross_slash => {}
                        other => return other,
                    }
                    t += 1;
                }
                return Outcome::AbortAll;
            }
        }
        t += 1;
    }
    if t == text.len() {
        Outcome::Match
    } else {
        Outcome::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(pattern: &str, text: &str) -> bool {
        Wild::compile(pattern.as_bytes()).matches_whole(text.as_bytes())
    }

    #[test]
    fn star_stops_at_slash() {
        assert!(whole("*.c", "main.c"));
        assert!(whole("*", ""));
        assert!(!whole("*.c", "src/main.c"));
        assert!(whole("src/*.c", "src/main.c"));
        assert!(!whole("a*b", "a/b"));
        assert!(whole("a*", "abc"));
        assert!(!whole("a*", "ab/c"));
    }

    #[test]
    fn double_star_crosses_slash() {
        assert!(whole("**", "a/b/c"));
        assert!(whole("a/**/z", "a/b/c/z"));
        assert!(whole("a/**/z", "a/b/z"));
        // rsync's `**/` needs at least the slash: `/foo/**/bar` does not match `/foo/bar`.
        assert!(!whole("a/**/z", "a/z"));
        assert!(whole("a**z", "a/b/z"));
        assert!(whole("a***", "a/b"));
        assert!(whole("**.o", "x/y.o"));
    }

    #[test]
    fn question_mark() {
        assert!(whole("?.c", "a.c"));
        assert!(!whole("?.c", ".c"));
        assert!(!whole("a?b", "a/b"));
        assert!(whole("???", "abc"));
        assert!(!whole("???", "abcd"));
    }

    #[test]
    fn classes() {
        assert!(whole("[abc].o", "b.o"));
        assert!(!whole("[abc].o", "d.o"));
        assert!(whole("[a-c]", "b"));
        assert!(whole("[!a-c]", "d"));
        assert!(whole("[^a-c]", "d"));
        assert!(!whole("[^a-c]", "a"));
        assert!(whole("[]a]", "]"));
        assert!(whole("[!]a]", "b"));
        assert!(!whole("[!]a]", "]"));
        assert!(whole("[a-]", "-"));
        assert!(whole("[a-]", "a"));
        assert!(whole("[a\\]]", "]"));
        assert!(whole("[[:digit:]]x", "7x"));
        assert!(!whole("[[:digit:]]x", "ax"));
        assert!(whole("[[:alpha:][:digit:]]", "Q"));
        assert!(whole("[[:space:]]", " "));
        assert!(whole("[[:upper:]]", "Q"));
        assert!(!whole("[[:upper:]]", "q"));
        // `[[:x]` is not a named class: `[`, `:` and `x` are members.
        assert!(whole("[[:x]", ":"));
        assert!(whole("[[:x]", "["));
        // A class never matches a slash, even negated.
        assert!(!whole("a[!x]b", "a/b"));
        assert!(!whole("a[/]b", "a/b"));
        // Bytes beyond ASCII compare as bytes.
        assert!(Wild::compile(b"[\xe0-\xef]*").matches_whole(b"\xe9t\xe9"));
        assert!(!Wild::compile(b"[[:alpha:]]").matches_whole(b"\xe9"));
    }

    #[test]
    fn malformed_patterns_match_nothing() {
        assert!(!whole("a[b", "a[b"));
        assert!(!whole("a[b", "ab"));
        assert!(!whole("[[:nope:]]", "n"));
        assert!(!whole("x*\\", "x\\"));
        assert!(!whole("[", "["));
    }

    #[test]
    fn escapes() {
        assert!(whole("\\*", "*"));
        assert!(!whole("\\*", "a"));
        assert!(whole("a\\?*", "a?bc"));
        assert!(whole("\\[x]*", "[x]y"));
        assert!(whole("\\\\*", "\\a"));
    }

    #[test]
    fn after_any_slash() {
        let w = Wild::compile(b"b/**");
        assert!(w.matches_after_any_slash(b"a/b/c"));
        assert!(w.matches_after_any_slash(b"b/c"));
        assert!(!w.matches_after_any_slash(b"ab/c"));
        let w = Wild::compile(b"x*/**/y");
        assert!(w.matches_after_any_slash(b"q/xx/1/y"));
        assert!(!w.matches_after_any_slash(b"q/xx/y"));
    }

    #[test]
    fn many_stars_stay_fast() {
        // rsync's early aborts keep a pathological pattern from going exponential; ours
        // follows the same control flow.
        let pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let text = "a".repeat(60);
        assert!(!whole(pattern, &text));
        let pattern = "**a**a**a**a**a**a**a**a**b";
        let text = "a/".repeat(30);
        assert!(!whole(pattern, &text));
    }
}
