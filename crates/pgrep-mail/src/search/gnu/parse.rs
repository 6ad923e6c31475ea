//! GNU grep's two regex languages, BRE (`-G`, the default) and ERE (`-E`), parsed into one
//! tree. The rules are GNU's, not POSIX's strictest: `\+ \? \|` and intervals in BRE; `\<
//! \> \b \B \w \W \s \S` and `` \` \' `` in both; a `*` with nothing before it, `a{1` and a
//! lone `)` in ERE are read as grep reads them; `[:space:]` outside brackets is an error.
//! Errors are worded as grep words them (`Unmatched ( or \(`), since scripts and grep's own
//! tests look for those words.

use crate::locale::{self, Locale};

/// An assertion about the place between two characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// `^` (and `` \` ``): the start of the line.
    LineStart,
    /// `$` (and `\'`): the end of the line.
    LineEnd,
    /// `\b`.
    Word,
    /// `\B`.
    NotWord,
    /// `\<`.
    WordStart,
    /// `\>`.
    WordEnd,
    /// Not preceded by a word character (`-w`).
    LeftEdge,
    /// Not followed by a word character (`-w`).
    RightEdge,
}

/// A set of characters: sorted, non-overlapping ranges, maybe negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// Matches the characters not in `ranges` (never the line end).
    pub negated: bool,
    /// The characters, as inclusive ranges.
    pub ranges: Vec<(u32, u32)>,
}

impl Set {
    fn new(mut ranges: Vec<(u32, u32)>, negated: bool) -> Set {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some((_, h)) if lo <= h.saturating_add(1) => *h = (*h).max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Set {
            negated,
            ranges: merged,
        }
    }

    /// Whether the set holds `c`.
    pub fn contains(&self, c: u32) -> bool {
        let inside = self
            .ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok();
        inside != self.negated
    }
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Matches the empty string.
    Empty,
    /// One character (a code point in UTF-8, else a byte).
    Char(u32),
    /// One byte that is not valid UTF-8, in a UTF-8 locale: it matches only itself.
    Byte(u8),
    /// `.`: any character but the line end.
    Any,
    /// A bracket expression or class escape.
    Set(Set),
    /// An assertion.
    Look(Look),
    /// `\( \)` or `( )`: capture group `index` (from 1).
    Group(Box<Node>, usize),
    /// `\N`.
    Backref(usize),
    /// One after the other.
    Concat(Vec<Node>),
    /// Any one of them.
    Alt(Vec<Node>),
    /// `min` to `max` (none: no limit) times.
    Repeat(Box<Node>, u32, Option<u32>),
}

impl Node {
    /// Whether it holds a byte that is not UTF-8 (in a UTF-8 locale), which must match only
    /// an encoding error in the text, never part of a character: the regex crate cannot
    /// tell the two apart.
    pub fn has_raw_byte(&self) -> bool {
        match self {
            Node::Byte(_) => true,
            Node::Group(n, _) | Node::Repeat(n, _, _) => n.has_raw_byte(),
            Node::Concat(v) | Node::Alt(v) => v.iter().any(Node::has_raw_byte),
            _ => false,
        }
    }

    /// Whether a back-reference is anywhere in it.
    pub fn has_backref(&self) -> bool {
        match self {
            Node::Backref(_) => true,
            Node::Group(n, _) | Node::Repeat(n, _, _) => n.has_backref(),
            Node::Concat(v) | Node::Alt(v) => v.iter().any(Node::has_backref),
            _ => false,
        }
    }
}

/// GNU's limit on an interval's counts (RE_DUP_MAX).
const DUP_MAX: u32 = 0x7fff;

/// How deep groups may nest before the pattern is refused, as grep refuses it, rather
/// than overflowing the stack.
const NEST_MAX: usize = 2000;

/// A pattern grep refuses, with grep's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub &'static str);

/// Which language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `-G`.
    Basic,
    /// `-E`.
    Extended,
}

/// Parses `pattern` (bytes, as typed) in `dialect`. `icase` folds literals and sets.
/// Warnings grep 3.8 prints (`* at start of expression`, `stray \ before x`) are pushed
/// onto `warnings`.
pub fn parse(
    pattern: &[u8],
    dialect: Dialect,
    loc: Locale,
    icase: bool,
    warnings: &mut Vec<String>,
) -> Result<Node, Error> {
    let mut p = Parser {
        s: pattern,
        i: 0,
        ere: dialect == Dialect::Extended,
        loc,
        icase,
        groups: 0,
        closed: Vec::new(),
        depth: 0,
        warnings,
    };
    let node = p.alternation()?;
    if p.i < p.s.len() {
        // Only an unmatched close paren stops the top level.
        return Err(Error(r"Unmatched ) or \)"));
    }
    Ok(node)
}

struct Parser<'a, 'w> {
    s: &'a [u8],
    i: usize,
    ere: bool,
    loc: Locale,
    icase: bool,
    groups: usize,
    /// The groups closed so far (a back-reference may only name one of them).
    closed: Vec<usize>,
    depth: usize,
    warnings: &'w mut Vec<String>,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_alt(&self) -> bool {
        if self.ere {
            self.peek() == Some(b'|')
        } else {
            self.s[self.i..].starts_with(b"\\|")
        }
    }

    fn at_close(&self) -> bool {
        if self.ere {
            self.peek() == Some(b')') && self.depth > 0
        } else {
            self.s[self.i..].starts_with(b"\\)")
        }
    }

    fn alternation(&mut self) -> Result<Node, Error> {
        let mut alts = vec![self.concat()?];
        while self.at_alt() {
            self.i += if self.ere { 1 } else { 2 };
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, Error> {
        let mut items: Vec<Node> = Vec::new();
        let start = self.i;
        loop {
            if self.i >= self.s.len() || self.at_alt() || self.at_close() {
                break;
            }
            if !self.ere && self.s[self.i..].starts_with(b"\\)") {
                return Err(Error(r"Unmatched ) or \)"));
            }
            let c = self.s[self.i];
            // A repetition operator with nothing to repeat.
            let leading = items.is_empty()
                || matches!(items.last(), Some(Node::Look(Look::LineStart)) if self.i == start + 1 && self.s[start] == b'^');
            if self.ere && leading && matches!(c, b'*' | b'+' | b'?') {
                self.warnings
                    .push(format!("{} at start of expression", c as char));
                self.i += 1;
                continue;
            }
            if self.ere && leading && c == b'{' {
                if let Some((_, _, len)) = self.interval(self.i + 1)? {
                    self.warnings
                        .push("{...} at start of expression".to_string());
                    self.i += 1 + len;
                } else {
                    self.i += 1;
                }
                continue;
            }
            if !self.ere && c == b'*' && items.is_empty() {
                // A BRE's leading `*` is literal.
                self.i += 1;
                let star = self.literal(u32::from(b'*'));
                let star = self.repeats(star)?;
                items.push(star);
                continue;
            }
            let atom = self.atom(items.is_empty())?;
            let atom = self.repeats(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// Applies the repetition operators that follow an atom.
    fn repeats(&mut self, mut atom: Node) -> Result<Node, Error> {
        loop {
            let rest = &self.s[self.i..];
            let (min, max, len) = if rest.starts_with(b"*") {
                (0, None, 1)
            } else if self.ere && rest.starts_with(b"+") || !self.ere && rest.starts_with(b"\\+") {
                (1, None, if self.ere { 1 } else { 2 })
            } else if self.ere && rest.starts_with(b"?") || !self.ere && rest.starts_with(b"\\?") {
                (0, Some(1), if self.ere { 1 } else { 2 })
            } else if self.ere && rest.starts_with(b"{") {
                match self.interval(self.i + 1)? {
                    Some((min, max, len)) => (min, max, 1 + len),
                    // `a{1` and `a{x`: the brace is a literal.
                    None => return Ok(atom),
                }
            } else if !self.ere && rest.starts_with(b"\\{") {
                match self.interval(self.i + 2)? {
                    Some((min, max, len)) => (min, max, 2 + len),
                    None => return Err(Error(r"Unmatched \{")),
                }
            } else {
                return Ok(atom);
            };
            self.i += len;
            if matches!(atom, Node::Look(_)) && !self.ere {
                // `^*` in a BRE: the star is literal.
                return Ok(Node::Concat(vec![atom, self.literal(u32::from(b'*'))]));
            }
            atom = Node::Repeat(Box::new(atom), min, max);
        }
    }

    /// Reads `m}`, `m,}`, `,n}`, `m,n}` (BRE: with `\}`) at `at`: the counts and the length
    /// read. `None` when it is not an interval (ERE: then `{` is a literal).
    fn interval(&self, at: usize) -> Result<Option<(u32, Option<u32>, usize)>, Error> {
        let s = self.s;
        let mut i = at;
        let number = |i: &mut usize| -> Option<u64> {
            let start = *i;
            let mut n: u64 = 0;
            while *i < s.len() && s[*i].is_ascii_digit() {
                n = (n * 10 + u64::from(s[*i] - b'0')).min(u64::from(u32::MAX));
                *i += 1;
            }
            (*i > start).then_some(n)
        };
        let min = number(&mut i);
        let max = if s.get(i) == Some(&b',') {
            i += 1;
            number(&mut i).map(Some)
        } else {
            Some(min)
        };
        let close: &[u8] = if self.ere { b"}" } else { b"\\}" };
        if !s[i.min(s.len())..].starts_with(close) {
            if self.ere {
                return Ok(None);
            }
            if i >= s.len() || (min.is_none() && max == Some(None)) {
                return Err(Error(r"Unmatched \{"));
            }
            return Err(Error(r"Invalid content of \{\}"));
        }
        i += close.len();
        let (min, max) = match (min, max) {
            (None, Some(None)) => return Err(Error(r"Invalid content of \{\}")),
            (min, Some(max)) => (min.unwrap_or(0), max),
            (min, None) => (min.unwrap_or(0), None),
        };
        if let Some(max) = max {
            if max < min {
                return Err(Error(r"Invalid content of \{\}"));
            }
            if max > u64::from(DUP_MAX) {
                return Err(Error("Regular expression too big"));
            }
        }
        if min > u64::from(DUP_MAX) {
            return Err(Error("Regular expression too big"));
        }
        Ok(Some((min as u32, max.map(|m| m as u32), i - at)))
    }

    fn literal(&self, c: u32) -> Node {
        if self.icase {
            let variants = locale::case_variants(self.loc, c);
            if variants.len() > 1 {
                return Node::Set(Set::new(
                    variants.into_iter().map(|v| (v, v)).collect(),
                    false,
                ));
            }
        }
        Node::Char(c)
    }

    /// The next character of the pattern: a code point (UTF-8), a byte, or an invalid byte.
    fn next_char(&mut self) -> Node {
        let (node, len) = self.char_at(self.i);
        self.i += len;
        node
    }

    fn char_at(&self, at: usize) -> (Node, usize) {
        let b = self.s[at];
        if !self.loc.utf8 || b < 0x80 {
            return (Node::Char(u32::from(b)), 1);
        }
        match decode(&self.s[at..]) {
            Some((c, len)) => (Node::Char(c), len),
            None => (Node::Byte(b), 1),
        }
    }

    fn atom(&mut self, first: bool) -> Result<Node, Error> {
        let c = self.s[self.i];
        match c {
            b'.' => {
                self.i += 1;
                Ok(Node::Any)
            }
            b'[' => {
                self.i += 1;
                self.bracket()
            }
            b'^' if self.ere || first => {
                self.i += 1;
                Ok(Node::Look(Look::LineStart))
            }
            b'$' if self.ere || self.bre_dollar_is_anchor() => {
                self.i += 1;
                Ok(Node::Look(Look::LineEnd))
            }
            b'(' if self.ere => {
                self.i += 1;
                self.group()
            }
            b'{' if self.ere => {
                // Not an interval (that was handled after the atom): a literal.
                self.i += 1;
                Ok(self.literal(u32::from(b'{')))
            }
            b'\\' => self.escape(),
            _ => {
                let node = self.next_char();
                Ok(match node {
                    Node::Char(c) => self.literal(c),
                    other => other,
                })
            }
        }
    }

    /// A BRE's `$` anchors only at the end of the pattern or of a group or alternative.
    fn bre_dollar_is_anchor(&self) -> bool {
        let rest = &self.s[self.i + 1..];
        rest.is_empty() || rest.starts_with(b"\\)") || rest.starts_with(b"\\|")
    }

    fn group(&mut self) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > NEST_MAX {
            return Err(Error("stack overflow"));
        }
        self.groups += 1;
        let index = self.groups;
        let inner = self.alternation()?;
        let close: &[u8] = if self.ere { b")" } else { b"\\)" };
        if !self.s[self.i..].starts_with(close) {
            return Err(Error(r"Unmatched ( or \("));
        }
        self.i += close.len();
        self.depth -= 1;
        self.closed.push(index);
        Ok(Node::Group(Box::new(inner), index))
    }

    fn escape(&mut self) -> Result<Node, Error> {
        let Some(&c) = self.s.get(self.i + 1) else {
            return Err(Error("Trailing backslash"));
        };
        self.i += 2;
        let word_set = |p: &Self, negated: bool| {
            let mut r = locale::class_ranges(p.loc, "alnum");
            r.push((u32::from(b'_'), u32::from(b'_')));
            Node::Set(Set::new(r, negated))
        };
        Ok(match c {
            b'(' if !self.ere => return self.group(),
            b'{' if !self.ere => {
                // `\{` with nothing to repeat: GNU reads it as a literal brace.
                self.literal(u32::from(b'{'))
            }
            b'1'..=b'9' => {
                let n = usize::from(c - b'0');
                if !self.closed.contains(&n) {
                    return Err(Error("Invalid back reference"));
                }
                Node::Backref(n)
            }
            b'<' => Node::Look(Look::WordStart),
            b'>' => Node::Look(Look::WordEnd),
            b'b' => Node::Look(Look::Word),
            b'B' => Node::Look(Look::NotWord),
            b'`' => Node::Look(Look::LineStart),
            b'\'' => Node::Look(Look::LineEnd),
            b'w' => word_set(self, false),
            b'W' => word_set(self, true),
            b's' => Node::Set(Set::new(locale::class_ranges(self.loc, "space"), false)),
            b'S' => Node::Set(Set::new(locale::class_ranges(self.loc, "space"), true)),
            _ => {
                let special = b".[]*^$\\+?{}()|/-".contains(&c);
                if !special {
                    if c.is_ascii_whitespace() {
                        self.warnings
                            .push("stray \\ before white space".to_string());
                    } else if c.is_ascii_graphic() {
                        self.warnings.push(format!("stray \\ before {}", c as char));
                    } else if c < 0x80 {
                        self.warnings
                            .push("stray \\ before unprintable character".to_string());
                    }
                }
                self.i -= 1;
                match self.next_char() {
                    Node::Char(c) => self.literal(c),
                    other => other,
                }
            }
        })
    }

    fn bracket(&mut self) -> Result<Node, Error> {
        const UNMATCHED: Error = Error("Unmatched [, [^, [:, [., or [=");
        let start = self.i;
        if start == self.s.len() {
            // A `[` that ends the pattern.
            return Err(Error("Invalid regular expression"));
        }
        let negated = self.peek() == Some(b'^');
        if negated {
            self.i += 1;
        }
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut first = true;
        let mut folded_class = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(UNMATCHED);
            };
            if c == b']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            let lo = if c == b'[' && matches!(self.s.get(self.i + 1), Some(b':' | b'.' | b'=')) {
                let kind = self.s[self.i + 1];
                let body_start = self.i + 2;
                let Some(len) = self.s[body_start..]
                    .windows(2)
                    .position(|w| w[0] == kind && w[1] == b']')
                else {
                    return Err(UNMATCHED);
                };
                let body = &self.s[body_start..body_start + len];
                self.i = body_start + len + 2;
                match kind {
                    b':' => {
                        let name = std::str::from_utf8(body).unwrap_or("");
                        if !locale::is_class_name(name) {
                            return Err(Error("Invalid character class name"));
                        }
                        let name = if self.icase && (name == "upper" || name == "lower") {
                            folded_class = true;
                            "alpha"
                        } else {
                            name
                        };
                        ranges.extend(locale::class_ranges(self.loc, name));
                        continue;
                    }
                    b'=' => {
                        let c = self.one_char(body)?;
                        ranges.extend(equivalents(self.loc, c).into_iter().map(|e| (e, e)));
                        continue;
                    }
                    _ => self.one_char(body)?,
                }
            } else {
                match self.next_char() {
                    Node::Char(c) => c,
                    Node::Byte(b) => u32::from(b),
                    _ => unreachable!("next_char gives a character or a byte"),
                }
            };
            // A range?
            if self.peek() == Some(b'-') && self.s.get(self.i + 1).is_some_and(|&n| n != b']') {
                self.i += 1;
                let hi = if self.s[self.i..].starts_with(b"[.") {
                    let body_start = self.i + 2;
                    let Some(len) = self.s[body_start..].windows(2).position(|w| w == b".]") else {
                        return Err(UNMATCHED);
                    };
                    let body = self.s[body_start..body_start + len].to_vec();
                    self.i = body_start + len + 2;
                    self.one_char(&body)?
                } else if self.s[self.i..].starts_with(b"[=") || self.s[self.i..].starts_with(b"[:")
                {
                    return Err(Error("Invalid range end"));
                } else {
                    match self.next_char() {
                        Node::Char(c) => c,
                        Node::Byte(b) => u32::from(b),
                        _ => unreachable!("next_char gives a character or a byte"),
                    }
                };
                if hi < lo {
                    return Err(Error("Invalid range end"));
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        let body = &self.s[start..self.i - 1];
        if body.len() >= 2 && body[0] == b':' && body[body.len() - 1] == b':' && !negated {
            return Err(Error(
                "character class syntax is [[:space:]], not [:space:]",
            ));
        }
        if self.icase && !folded_class {
            let mut extra = Vec::new();
            for &(lo, hi) in &ranges {
                if hi - lo > 0x3000 {
                    continue;
                }
                for c in lo..=hi {
                    for v in locale::case_variants(self.loc, c) {
                        if v != c {
                            extra.push((v, v));
                        }
                    }
                }
            }
            ranges.extend(extra);
        }
        Ok(Node::Set(Set::new(ranges, negated)))
    }

    /// The one character a collating symbol or equivalence class names.
    fn one_char(&self, body: &[u8]) -> Result<u32, Error> {
        let c = if self.loc.utf8 {
            decode(body)
                .filter(|&(_, len)| len == body.len())
                .map(|(c, _)| c)
        } else {
            (body.len() == 1).then(|| u32::from(body[0]))
        };
        c.ok_or(Error("Invalid collation character"))
    }
}

/// The characters that share `c`'s base letter: `[[=a=]]` holds `à á â ã ä å ā ...`. The
/// C library keeps this in its collation tables, which it does not expose; these are the
/// Latin letters with their accents, which is what the equivalence classes of the common
/// locales hold.
fn equivalents(loc: Locale, c: u32) -> Vec<u32> {
    // Each class holds a letter in both cases with its accented forms: the common
    // locales give them all one primary weight.
    const TABLE: &[&str] = &[
        "aàáâãäåāăąAÀÁÂÃÄÅĀĂĄ",
        "cçćĉċčCÇĆĈĊČ",
        "eèéêëēĕėęěEÈÉÊËĒĔĖĘĚ",
        "iìíîïĩīĭįIÌÍÎÏĨĪĬĮ",
        "nñńņňNÑŃŅŇ",
        "oòóôõöøōŏőOÒÓÔÕÖØŌŎŐ",
        "uùúûüũūŭůűųUÙÚÛÜŨŪŬŮŰŲ",
        "yýÿŷYÝŸŶ",
    ];
    if !loc.utf8 || !loc.collates {
        return vec![c];
    }
    for class in TABLE {
        let members: Vec<u32> = class.chars().map(u32::from).collect();
        if members.contains(&c) {
            return members;
        }
    }
    vec![c]
}

/// Decodes one UTF-8 character at the start of `s`: the code point and its length.
pub fn decode(s: &[u8]) -> Option<(u32, usize)> {
    let b0 = *s.first()?;
    if b0 < 0x80 {
        return Some((u32::from(b0), 1));
    }
    let (len, init) = match b0 {
        0xC2..=0xDF => (2, u32::from(b0 & 0x1F)),
        0xE0..=0xEF => (3, u32::from(b0 & 0x0F)),
        0xF0..=0xF4 => (4, u32::from(b0 & 0x07)),
        _ => return None,
    };
    if s.len() < len {
        return None;
    }
    let mut c = init;
    for &b in &s[1..len] {
        if b & 0xC0 != 0x80 {
            return None;
        }
        c = (c << 6) | u32::from(b & 0x3F);
    }
    let min = [0, 0, 0x80, 0x800, 0x10000][len];
    if c < min || c > 0x10FFFF || (0xD800..=0xDFFF).contains(&c) {
        return None;
    }
    Some((c, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, d: Dialect) -> Result<Node, Error> {
        parse(s.as_bytes(), d, Locale::C, false, &mut Vec::new())
    }

    #[test]
    fn bre_plus_is_literal_and_escaped_plus_repeats() {
        assert_eq!(
            p("a+", Dialect::Basic).unwrap(),
            Node::Concat(vec![Node::Char(97), Node::Char(43)])
        );
        assert_eq!(
            p(r"a\+", Dialect::Basic).unwrap(),
            Node::Repeat(Box::new(Node::Char(97)), 1, None)
        );
    }

    #[test]
    fn errors_are_worded_as_grep() {
        assert_eq!(p(r"\(", Dialect::Basic), Err(Error(r"Unmatched ( or \(")));
        assert_eq!(
            p("[b-a]", Dialect::Extended),
            Err(Error("Invalid range end"))
        );
        assert_eq!(
            p(r"\1", Dialect::Basic),
            Err(Error("Invalid back reference"))
        );
        assert_eq!(
            p("[[:foo:]]", Dialect::Basic),
            Err(Error("Invalid character class name"))
        );
        assert!(p("[:space:]", Dialect::Basic).is_err());
    }

    #[test]
    fn odd_ere_is_literal_where_grep_reads_it_so() {
        assert_eq!(
            p("a{1", Dialect::Extended).unwrap(),
            Node::Concat(vec![Node::Char(97), Node::Char(123), Node::Char(49)])
        );
        assert_eq!(p(")", Dialect::Extended).unwrap(), Node::Char(41));
        assert_eq!(
            p("a{,2}", Dialect::Extended).unwrap(),
            Node::Repeat(Box::new(Node::Char(97)), 0, Some(2))
        );
    }
}
