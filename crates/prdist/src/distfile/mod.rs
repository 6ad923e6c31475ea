//! Distfiles: rdist 6's language, read into [`Distfile`].
//!
//! [`lexer`] splits the text, [`parser`] builds the statements of [`ast`], and [`resolve`]
//! expands every name list ([`expand`]) into plain names and checks what can only be checked
//! then (undefined variables, regular expressions, one install destination). Every error is
//! a [`DistError`] that prints as `FILE:LINE:COL: what is wrong`, and all of them are
//! reported, not just the first.

pub mod ast;
pub mod bre;
pub mod expand;
pub mod lexer;
pub mod options;
pub mod parser;

use std::fmt;

use ast::{Cmd, Pos, Stmt};
use expand::{Env, Mode};
use options::DistOpts;

/// A mistake in a Distfile, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistError {
    /// The Distfile's name as given (`-` for stdin).
    pub file: String,
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl DistError {
    /// An error at `pos` of `file`.
    pub fn new(file: &str, pos: Pos, message: String) -> DistError {
        DistError {
            file: file.to_string(),
            pos,
            message,
        }
    }
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

/// Removes the quote marks of a name.
pub fn unquote(text: &str) -> String {
    text.chars().filter(|&c| c != lexer::QUOTE).collect()
}

/// An `except_pat` pattern, compiled.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// As written (after variables).
    pub text: String,
    /// The compiled expression.
    pub regex: regex::Regex,
}

/// A `special` or `cmdspecial` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Special {
    /// The source files it is about; `None` for all.
    pub names: Option<Vec<String>>,
    /// The shell command.
    pub command: String,
}

/// An `install` command, expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Install {
    /// Its options (the command line's `-o` added).
    pub opts: DistOpts,
    /// The destination, if given.
    pub dest: Option<String>,
    /// Where it is.
    pub pos: Pos,
}

/// Where an entry sends its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// To these hosts (`[login@]host`).
    Hosts(Vec<String>),
    /// A list of the files newer than this stamp file.
    Stamp(String),
}

/// One entry with every list expanded.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The label, if any.
    pub label: Option<String>,
    /// The source files and folders (a `~` stays for the home of each side).
    pub sources: Vec<String>,
    /// Hosts or stamp file.
    pub target: Target,
    /// The install commands; an entry without one installs each source under its own name.
    pub installs: Vec<Install>,
    /// Who to mail about changes.
    pub notify: Vec<String>,
    /// Source paths not to send.
    pub except: Vec<String>,
    /// Regular expressions of source paths not to send.
    pub except_pat: Vec<Pattern>,
    /// `special` commands, in order.
    pub specials: Vec<Special>,
    /// `cmdspecial` commands, in order.
    pub cmdspecials: Vec<Special>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// A Distfile, read and expanded.
#[derive(Clone, Debug, Default)]
pub struct Distfile {
    /// The entries in the order written.
    pub entries: Vec<Entry>,
}

/// Everything that shapes how a Distfile reads, besides its text.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// `-d NAME=VALUE` definitions.
    pub defines: Vec<(String, String)>,
    /// `-o` options of the command line, added to every install.
    pub opts: DistOpts,
}

/// Reads a Distfile's text: parses it and expands its lists. `file` names it in errors.
pub fn read(text: &str, file: &str, options: &ReadOptions) -> Result<Distfile, Vec<DistError>> {
    let (stmts, mut errors) = parse_text(text, file);
    let mut env = Env::new(file);
    for (name, value) in &options.defines {
        match define_value(name, value) {
            Ok(list) => env.fix(name, list),
            Err(e) => errors.push(e),
        }
    }
    let mut dist = Distfile::default();
    for stmt in stmts {
        match stmt {
            Stmt::Define { name, value, pos } => {
                if let Err(e) = env.define(&name, value, pos) {
                    errors.push(e);
                }
            }
            Stmt::Entry(entry) => match resolve(&env, entry, file, options.opts) {
                Ok(e) => dist.entries.push(e),
                Err(mut e) => errors.append(&mut e),
            },
        }
    }
    if errors.is_empty() {
        Ok(dist)
    } else {
        errors.sort_by_key(|e| e.pos);
        errors.dedup();
        Err(errors)
    }
}

/// Parses without expanding: the statements and every syntax error.
pub fn parse_text(text: &str, file: &str) -> (Vec<Stmt>, Vec<DistError>) {
    let (tokens, mut errors) = lexer::tokenize(text, file);
    let lines = text.split('\n').count();
    let last = text.rsplit('\n').next().unwrap_or("").chars().count();
    let end = Pos {
        line: lines,
        col: last + 1,
    };
    let (stmts, mut more) = parser::parse(tokens, file, end);
    errors.append(&mut more);
    errors.sort_by_key(|e| e.pos);
    (stmts, errors)
}

/// The list of a `-d NAME=VALUE`: empty, one name, or `( names )`.
fn define_value(name: &str, value: &str) -> Result<ast::List, DistError> {
    let file = format!("-d {name}");
    let (tokens, mut errors) = lexer::tokenize(value, &file);
    if let Some(e) = errors.pop() {
        return Err(e);
    }
    let mut words = Vec::new();
    for t in tokens {
        match t.tok {
            lexer::Tok::Name(n) | lexer::Tok::Opt(n) => words.push(ast::Word {
                text: n,
                pos: t.pos,
            }),
            lexer::Tok::LParen | lexer::Tok::RParen => {}
            other => {
                return Err(DistError::new(
                    &file,
                    t.pos,
                    format!(
                        "unexpected {} in the value: give a name or ( names )",
                        other.describe()
                    ),
                ))
            }
        }
    }
    Ok(ast::List {
        left: words,
        op: None,
        pos: Pos { line: 1, col: 1 },
    })
}

/// The names of an expansion, its error kept for later.
fn keep(errors: &mut Vec<DistError>, r: Result<Vec<String>, DistError>) -> Vec<String> {
    r.unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    })
}

fn resolve(
    env: &Env,
    entry: ast::Entry,
    file: &str,
    cli_opts: DistOpts,
) -> Result<Entry, Vec<DistError>> {
    let mut errors = Vec::new();
    let sources = keep(&mut errors, env.expand(&entry.sources, Mode::Shell));
    let target = match &entry.target {
        ast::Target::Hosts(list) => {
            Target::Hosts(keep(&mut errors, env.expand(list, Mode::Braces)))
        }
        ast::Target::Stamp(word) => {
            let list = ast::List {
                left: vec![word.clone()],
                op: None,
                pos: word.pos,
            };
            let names = keep(&mut errors, env.expand(&list, Mode::Vars));
            Target::Stamp(names.into_iter().next().unwrap_or_default())
        }
    };
    let mut out = Entry {
        label: entry.label,
        sources,
        target,
        installs: Vec::new(),
        notify: Vec::new(),
        except: Vec::new(),
        except_pat: Vec::new(),
        specials: Vec::new(),
        cmdspecials: Vec::new(),
        pos: entry.pos,
    };
    for cmd in entry.cmds {
        match cmd {
            Cmd::Install { opts, dest, pos } => {
                let dest = match dest {
                    None => None,
                    Some(list) => {
                        let names = keep(&mut errors, env.expand(&list, Mode::Vars));
                        if names.len() > 1 {
                            errors.push(DistError::new(
                                file,
                                list.pos,
                                format!(
                                    "install takes one destination, this names {}: {}",
                                    names.len(),
                                    names.join(" ")
                                ),
                            ));
                        }
                        names.into_iter().next()
                    }
                };
                out.installs.push(Install {
                    opts: opts.union(cli_opts),
                    dest,
                    pos,
                });
            }
            Cmd::Notify(list) => out
                .notify
                .extend(keep(&mut errors, env.expand(&list, Mode::Vars))),
            Cmd::Except(list) => out
                .except
                .extend(keep(&mut errors, env.expand(&list, Mode::Shell))),
            Cmd::ExceptPat(list) => {
                let names = keep(&mut errors, env.expand(&list, Mode::Vars));
                for (text, word) in names.into_iter().zip(list.left.iter().cycle()) {
                    match bre::compile(&text) {
                        Ok(regex) => out.except_pat.push(Pattern { text, regex }),
                        Err(why) => errors.push(DistError::new(
                            file,
                            word.pos,
                            format!("bad regular expression '{text}': {why}"),
                        )),
                    }
                }
            }
            Cmd::Special { names, command } => {
                let names = names.map(|l| keep(&mut errors, env.expand(&l, Mode::Shell)));
                out.specials.push(Special { names, command });
            }
            Cmd::CmdSpecial { names, command } => {
                let names = names.map(|l| keep(&mut errors, env.expand(&l, Mode::Shell)));
                out.cmdspecials.push(Special { names, command });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
