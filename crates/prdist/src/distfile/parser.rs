//! rdist 6's Distfile grammar, by recursive descent:
//!
//! ```text
//! file    := stmt*
//! stmt    := NAME '=' list
//!          | [NAME ':'] list '->' list cmd*
//!          | [NAME ':'] list '::' NAME cmd*
//! list    := nlist [('+' | '-' | '&') nlist]
//! nlist   := NAME | '(' NAME* ')'
//! cmd     := 'install' OPTION* [list] ';'   | 'notify' list ';'
//!          | 'except' list ';'              | 'except_pat' list ';'
//!          | 'special' [list] STRING ';'    | 'cmdspecial' [list] STRING ';'
//! ```
//!
//! Every error is kept with its place, and parsing resumes after the next `;`, so one run
//! reports all the mistakes of a Distfile.

use super::ast::{Cmd, Entry, List, Pos, SetOp, Stmt, Target, Word};
use super::lexer::{Tok, Token};
use super::options::{valid_list, DistOpts};
use super::DistError;

/// Parses tokens into statements; returns what parsed and every error met.
pub fn parse(tokens: Vec<Token>, file: &str, end: Pos) -> (Vec<Stmt>, Vec<DistError>) {
    let mut p = Parser {
        tokens,
        at: 0,
        file: file.to_string(),
        end,
        errors: Vec::new(),
    };
    let mut stmts = Vec::new();
    while p.at < p.tokens.len() {
        match p.stmt() {
            Ok(s) => stmts.push(s),
            Err(e) => {
                p.errors.push(e);
                p.recover();
            }
        }
    }
    (stmts, p.errors)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    file: String,
    /// Where the text ends, for errors at end of file.
    end: Pos,
    errors: Vec<DistError>,
}

type Result<T> = std::result::Result<T, DistError>;

const COMMANDS: &str = "install, notify, except, except_pat, special or cmdspecial";

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.tokens.get(self.at + n).map(|t| &t.tok)
    }

    fn pos(&self) -> Pos {
        self.tokens.get(self.at).map_or(self.end, |t| t.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn error(&self, pos: Pos, message: impl Into<String>) -> DistError {
        DistError::new(&self.file, pos, message.into())
    }

    /// What stands here, for "expected X, found Y".
    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end of the file".to_string(), Tok::describe)
    }

    /// Skips past the next `;` (or to the end), after an error.
    fn recover(&mut self) {
        while let Some(t) = self.next() {
            if t.tok == Tok::Semi {
                break;
            }
        }
    }

    fn stmt(&mut self) -> Result<Stmt> {
        let start = self.pos();
        let mut label = None;
        if let Some(Tok::Name(name)) = self.peek() {
            let name = name.clone();
            match self.peek_at(1) {
                Some(Tok::Eq) => {
                    self.at += 2;
                    let value = self.list()?;
                    return Ok(Stmt::Define {
                        name: super::unquote(&name),
                        value,
                        pos: start,
                    });
                }
                Some(Tok::Colon) => {
                    self.at += 2;
                    label = Some(super::unquote(&name));
                }
                _ => {}
            }
        }
        let sources = match self.peek() {
            Some(Tok::Name(_) | Tok::LParen) => self.list()?,
            _ => {
                return Err(self.error(
                    self.pos(),
                    format!(
                        "expected a variable definition or an entry (SOURCES -> HOSTS or \
                         SOURCES :: STAMPFILE), found {}",
                        self.found()
                    ),
                ))
            }
        };
        let target = match self.peek() {
            Some(Tok::Arrow) => {
                self.at += 1;
                match self.peek() {
                    Some(Tok::Name(_) | Tok::LParen) => Target::Hosts(self.list()?),
                    _ => {
                        return Err(self.error(
                            self.pos(),
                            format!("expected host names after '->', found {}", self.found()),
                        ))
                    }
                }
            }
            Some(Tok::DColon) => {
                self.at += 1;
                match self.next() {
                    Some(Token {
                        tok: Tok::Name(n),
                        pos,
                    }) => Target::Stamp(Word { text: n, pos }),
                    _ => {
                        self.at -= 1;
                        return Err(self.error(
                            self.pos(),
                            format!("expected a time stamp file after '::', found {}", {
                                self.found()
                            }),
                        ));
                    }
                }
            }
            _ => {
                return Err(self.error(
                    self.pos(),
                    format!(
                        "expected '->' or '::' after the source list, found {}",
                        self.found()
                    ),
                ))
            }
        };
        let cmds = self.cmds();
        Ok(Stmt::Entry(Entry {
            label,
            sources,
            target,
            cmds,
            pos: start,
        }))
    }

    /// The commands of an entry, up to the next statement. An error in one command is
    /// recorded and the next command is tried.
    fn cmds(&mut self) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        loop {
            let result = match self.peek() {
                Some(Tok::Install) => self.install(),
                Some(Tok::Notify) => self.simple(Tok::Notify),
                Some(Tok::Except) => self.simple(Tok::Except),
                Some(Tok::ExceptPat) => self.simple(Tok::ExceptPat),
                Some(Tok::Special) => self.special(false),
                Some(Tok::CmdSpecial) => self.special(true),
                Some(Tok::Opt(o)) => {
                    let o = o.clone();
                    Err(self.error(
                        self.pos(),
                        format!("option '{o}' outside an install command; write `install {o} ;`"),
                    ))
                }
                Some(Tok::Name(name)) if self.looks_like_command() => {
                    let name = super::unquote(name);
                    Err(self.error(
                        self.pos(),
                        format!("unknown command '{name}': the commands are {COMMANDS}"),
                    ))
                }
                _ => return cmds,
            };
            match result {
                Ok(c) => cmds.push(c),
                Err(e) => {
                    self.errors.push(e);
                    self.recover();
                }
            }
        }
    }

    /// Whether the name here starts a command (it runs to a `;` before any `->`, `::`, `=`
    /// or `:`) rather than the next statement.
    fn looks_like_command(&self) -> bool {
        for t in &self.tokens[self.at..] {
            match t.tok {
                Tok::Semi => return true,
                Tok::Arrow | Tok::DColon | Tok::Eq | Tok::Colon => return false,
                _ => {}
            }
        }
        false
    }

    fn expect_semi(&mut self, what: &str) -> Result<()> {
        if self.peek() == Some(&Tok::Semi) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(
                self.pos(),
                format!(
                    "expected ';' to end the {what} command, found {}",
                    self.found()
                ),
            ))
        }
    }

    fn install(&mut self) -> Result<Cmd> {
        let pos = self.pos();
        self.at += 1;
        let mut opts = DistOpts::default();
        while let Some(Tok::Opt(word)) = self.peek() {
            let word = word.clone();
            opts = opts.union(self.option(&word, self.pos())?);
            self.at += 1;
        }
        let dest = match self.peek() {
            Some(Tok::Name(_) | Tok::LParen) => Some(self.list()?),
            _ => None,
        };
        self.expect_semi("install")?;
        Ok(Cmd::Install { opts, dest, pos })
    }

    /// One option word of an install command: `-oLIST` or an old letter (`-R`).
    fn option(&self, word: &str, pos: Pos) -> Result<DistOpts> {
        let body = &word[1..];
        if let Some(list) = body.strip_prefix('o') {
            if list.is_empty() {
                return Err(self.error(
                    pos,
                    "option '-o' needs a list of options, as in -oremove,compare",
                ));
            }
            return DistOpts::parse_list(list).map_err(|(offset, item)| {
                let at = Pos {
                    line: pos.line,
                    col: pos.col + 2 + offset,
                };
                self.error(
                    at,
                    format!(
                        "bad option '{item}' in '{word}': the options are {}",
                        valid_list()
                    ),
                )
            });
        }
        let mut chars = body.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => DistOpts::letter(c).ok_or_else(|| {
                self.error(
                    pos,
                    format!(
                        "unknown option '{word}': use -oNAME[,NAME...] or one of -b -R -v -w -y \
                         -h -i -q -x -N -O -s -r"
                    ),
                )
            }),
            _ => Err(self.error(
                pos,
                format!("unknown option '{word}': use -oNAME[,NAME...], as in -oremove,compare"),
            )),
        }
    }

    fn simple(&mut self, which: Tok) -> Result<Cmd> {
        let what = which.describe().trim_matches('\'').to_string();
        self.at += 1;
        match self.peek() {
            Some(Tok::Name(_) | Tok::LParen) => {}
            _ => {
                return Err(self.error(
                    self.pos(),
                    format!("{what} needs a list of names, found {}", self.found()),
                ))
            }
        }
        let list = self.list()?;
        self.expect_semi(&what)?;
        Ok(match which {
            Tok::Notify => Cmd::Notify(list),
            Tok::Except => Cmd::Except(list),
            _ => Cmd::ExceptPat(list),
        })
    }

    fn special(&mut self, cmd: bool) -> Result<Cmd> {
        let what = if cmd { "cmdspecial" } else { "special" };
        self.at += 1;
        let names = match self.peek() {
            Some(Tok::Name(_) | Tok::LParen) => Some(self.list()?),
            _ => None,
        };
        let command = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            _ => {
                return Err(self.error(
                    self.pos(),
                    format!(
                        "{what} needs a shell command in double quotes, as in \
                         {what} \"/etc/rc.d/sshd reload\" ; found {}",
                        self.found()
                    ),
                ))
            }
        };
        self.at += 1;
        self.expect_semi(what)?;
        Ok(if cmd {
            Cmd::CmdSpecial { names, command }
        } else {
            Cmd::Special { names, command }
        })
    }

    fn list(&mut self) -> Result<List> {
        let pos = self.pos();
        let left = self.nlist()?;
        let op = match self.peek() {
            Some(Tok::Plus) => Some(SetOp::Add),
            Some(Tok::Minus) => Some(SetOp::Sub),
            Some(Tok::Amp) => Some(SetOp::And),
            _ => None,
        };
        let op = match op {
            Some(op) => {
                self.at += 1;
                match self.peek() {
                    Some(Tok::Name(_) | Tok::LParen) => Some((op, self.nlist()?)),
                    _ => {
                        return Err(self.error(
                            self.pos(),
                            format!(
                                "expected a list after the set operator, found {}",
                                self.found()
                            ),
                        ))
                    }
                }
            }
            None => None,
        };
        Ok(List { left, op, pos })
    }

    fn nlist(&mut self) -> Result<Vec<Word>> {
        match self.next() {
            Some(Token {
                tok: Tok::Name(n),
                pos,
            }) => Ok(vec![Word { text: n, pos }]),
            Some(Token {
                tok: Tok::LParen,
                pos: open,
            }) => {
                let mut words = Vec::new();
                loop {
                    match self.peek() {
                        Some(Tok::Name(n)) => {
                            words.push(Word {
                                text: n.clone(),
                                pos: self.pos(),
                            });
                            self.at += 1;
                        }
                        Some(Tok::RParen) => {
                            self.at += 1;
                            return Ok(words);
                        }
                        _ => {
                            return Err(self.error(
                                open,
                                format!("unterminated '(': missing ')' before {}", self.found()),
                            ))
                        }
                    }
                }
            }
            _ => {
                self.at -= 1;
                Err(self.error(
                    self.pos(),
                    format!("expected a name or '(', found {}", self.found()),
                ))
            }
        }
    }
}
