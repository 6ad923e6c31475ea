//! A cursor over one item of a host list that remembers the whole input.
//!
//! Errors must quote the whole value the user typed and point at a column in it, while the
//! parsers work on one comma-separated item at a time; the scanner carries both, so that no
//! parser has to translate offsets.

use std::ops::Range;

use crate::error::{Error, SyntaxKind};

/// Reads `full[item]` one character at a time; `pos` is a byte offset into `full`.
pub(crate) struct Scanner<'a> {
    /// The whole text the user typed, quoted by errors.
    pub(crate) full: &'a str,
    /// The bytes of `full` this scanner may read.
    pub(crate) item: Range<usize>,
    /// The next byte to read.
    pub(crate) pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `full[item]`.
    pub(crate) fn new(full: &'a str, item: Range<usize>) -> Scanner<'a> {
        Scanner {
            full,
            pos: item.start,
            item,
        }
    }

    /// The next character, if the item has one left.
    pub(crate) fn peek(&self) -> Option<char> {
        self.full[self.pos..self.item.end].chars().next()
    }

    /// Steps over the next character.
    pub(crate) fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    /// Steps over the next character if it is `c`.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.bump();
        }
        found
    }

    /// Reads a run of ASCII digits, which may be empty.
    pub(crate) fn digits(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        &self.full[start..self.pos]
    }

    /// An error at byte offset `at` of the whole input.
    pub(crate) fn error_at(&self, at: usize, kind: SyntaxKind) -> Error {
        Error::syntax(self.full, at, kind)
    }

    /// An error at the end of the item: something is missing there.
    pub(crate) fn error_at_end(&self, kind: SyntaxKind) -> Error {
        self.error_at(self.item.end, kind)
    }
}
