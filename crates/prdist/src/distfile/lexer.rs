//! Splits a Distfile into tokens, with rdist 6's rules (its `gram.y` lexer):
//!
//! - blanks and newlines only separate; `#` starts a comment at the start of a token;
//! - `= ; + & ( )` are tokens of their own, `->` and `::`/`:` too, and a lone `-`;
//! - a word runs to the next blank or one of `" ' ( ) = ; :`; a backslash before one of
//!   `[ ] { } * ? $` keeps that character literal (it is marked with [`QUOTE`]), before any
//!   other character it is dropped;
//! - outside parentheses, a word that starts with `-` is an install option (`-oremove`, `-R`);
//! - `"..."` is a shell string: it may cross lines (a newline becomes a space), `\"` puts a
//!   quote in it.

use super::ast::Pos;
use super::DistError;

/// Marks the next character of a word as literal: not a glob, brace or `$` character.
pub const QUOTE: char = '\u{E000}';

/// The characters a backslash keeps literal in a word.
const QUOTABLE: &str = "[]{}*?$";

/// What ends a word (after its first character).
const WORD_END: &str = " \"'\t()=;:\n";

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A name: a file, host, variable or label, with [`QUOTE`] marks.
    Name(String),
    /// A `"shell string"`.
    Str(String),
    /// An install option word (`-oremove,compare`, `-R`).
    Opt(String),
    /// `install`
    Install,
    /// `notify`
    Notify,
    /// `except`
    Except,
    /// `except_pat`
    ExceptPat,
    /// `special`
    Special,
    /// `cmdspecial`
    CmdSpecial,
    /// `->`
    Arrow,
    /// `::`
    DColon,
    /// `:`
    Colon,
    /// `=`
    Eq,
    /// `;`
    Semi,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `&`
    Amp,
    /// `(`
    LParen,
    /// `)`
    RParen,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("'{}'", super::unquote(n)),
            Tok::Str(_) => "a string".into(),
            Tok::Opt(o) => format!("option '{o}'"),
            Tok::Install => "'install'".into(),
            Tok::Notify => "'notify'".into(),
            Tok::Except => "'except'".into(),
            Tok::ExceptPat => "'except_pat'".into(),
            Tok::Special => "'special'".into(),
            Tok::CmdSpecial => "'cmdspecial'".into(),
            Tok::Arrow => "'->'".into(),
            Tok::DColon => "'::'".into(),
            Tok::Colon => "':'".into(),
            Tok::Eq => "'='".into(),
            Tok::Semi => "';'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Amp => "'&'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Where its first character is.
    pub pos: Pos,
}

/// Splits `text` into tokens. Errors (an unterminated string) are collected, and lexing
/// goes on after them.
pub fn tokenize(text: &str, file: &str) -> (Vec<Token>, Vec<DistError>) {
    let mut lx = Lexer {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        col: 1,
        depth: 0,
    };
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    loop {
        match lx.next_token() {
            Ok(Some(t)) => tokens.push(t),
            Ok(None) => break,
            Err((pos, message)) => errors.push(DistError::new(file, pos, message)),
        }
    }
    (tokens, errors)
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: usize,
    col: usize,
    /// Parenthesis depth: words starting with `-` are options only outside parentheses.
    depth: i32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, (Pos, String)> {
        loop {
            match self.peek() {
                None => return Ok(None),
                Some(' ' | '\t' | '\n' | '\r') => {
                    self.bump();
                }
                Some('#') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some(_) => break,
            }
        }
        let pos = self.pos();
        let c = self.bump().expect("a character is there");
        let tok = match c {
            '=' => Tok::Eq,
            ';' => Tok::Semi,
            '+' => Tok::Plus,
            '&' => Tok::Amp,
            '(' => {
                self.depth += 1;
                Tok::LParen
            }
            ')' => {
                self.depth -= 1;
                Tok::RParen
            }
            '-' if self.peek() == Some('>') => {
                self.bump();
                Tok::Arrow
            }
            ':' if self.peek() == Some(':') => {
                self.bump();
                Tok::DColon
            }
            ':' => Tok::Colon,
            '"' => return self.string(pos).map(|s| Some(Token { tok: s, pos })),
            first => self.word(first),
        };
        Ok(Some(Token { tok, pos }))
    }

    fn string(&mut self, start: Pos) -> Result<Tok, (Pos, String)> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err((
                        start,
                        "unterminated string: missing the closing '\"'".to_string(),
                    ))
                }
                Some('"') => return Ok(Tok::Str(text)),
                Some('\\') => match self.bump() {
                    None => text.push('\\'),
                    Some('\n') => text.push(' '),
                    Some(c) => text.push(c),
                },
                // rdist sends the command on one line.
                Some('\n') => text.push(' '),
                Some(c) => text.push(c),
            }
        }
    }

    fn word(&mut self, first: char) -> Tok {
        let mut text = String::new();
        let mut c = first;
        loop {
            if c == '\\' {
                match self.bump() {
                    Some(next) => {
                        if QUOTABLE.contains(next) {
                            text.push(QUOTE);
                        }
                        text.push(next);
                    }
                    None => text.push('\\'),
                }
            } else {
                text.push(c);
            }
            match self.peek() {
                Some(n) if !WORD_END.contains(n) && n != '\r' => {
                    self.bump();
                    c = n;
                }
                _ => break,
            }
        }
        if text == "-" {
            return Tok::Minus;
        }
        if text.starts_with('-') && self.depth <= 0 {
            return Tok::Opt(text);
        }
        match text.as_str() {
            "install" => Tok::Install,
            "notify" => Tok::Notify,
            "except" => Tok::Except,
            "except_pat" => Tok::ExceptPat,
            "special" => Tok::Special,
            "cmdspecial" => Tok::CmdSpecial,
            _ => Tok::Name(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        let (t, e) = tokenize(text, "t");
        assert!(e.is_empty(), "{e:?}");
        t.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn punctuation_and_words() {
        assert_eq!(
            toks("a -> b :: c : d = ( e ) + - & ;"),
            vec![
                Tok::Name("a".into()),
                Tok::Arrow,
                Tok::Name("b".into()),
                Tok::DColon,
                Tok::Name("c".into()),
                Tok::Colon,
                Tok::Name("d".into()),
                Tok::Eq,
                Tok::LParen,
                Tok::Name("e".into()),
                Tok::RParen,
                Tok::Plus,
                Tok::Minus,
                Tok::Amp,
                Tok::Semi
            ]
        );
    }

    #[test]
    fn comments_keywords_options_and_strings() {
        assert_eq!(
            toks("# c\ninstall -oremove x; special \"a\nb \\\"c\\\"\" ;"),
            vec![
                Tok::Install,
                Tok::Opt("-oremove".into()),
                Tok::Name("x".into()),
                Tok::Semi,
                Tok::Special,
                Tok::Str("a b \"c\"".into()),
                Tok::Semi
            ]
        );
        // Inside parentheses a leading '-' is a name.
        assert_eq!(
            toks("( -x )"),
            vec![Tok::LParen, Tok::Name("-x".into()), Tok::RParen]
        );
    }

    #[test]
    fn backslash_quotes_glob_characters() {
        assert_eq!(
            toks(r"\\.o\$ a\*b"),
            vec![
                Tok::Name(format!("\\.o{QUOTE}$")),
                Tok::Name(format!("a{QUOTE}*b"))
            ]
        );
    }

    #[test]
    fn positions_count_lines_and_columns() {
        let (t, _) = tokenize("a\n  b", "t");
        assert_eq!(t[1].pos, Pos { line: 2, col: 3 });
    }

    #[test]
    fn unterminated_string_is_an_error_at_its_quote() {
        let (_, e) = tokenize("x -> y\n  special \"oops", "Distfile");
        assert_eq!(
            e[0].to_string(),
            "Distfile:2:11: unterminated string: missing the closing '\"'"
        );
    }
}
