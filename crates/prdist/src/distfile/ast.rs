//! What a Distfile says, as parsed: names are still unexpanded (variables, globs, `~`).

use super::options::DistOpts;

/// A place in a Distfile, from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The text, with [`QUOTE`](super::lexer::QUOTE) marks before literal characters.
    pub text: String,
    /// Where it starts.
    pub pos: Pos,
}

/// rdist's one level of set arithmetic between two lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    /// `a + b`: union.
    Add,
    /// `a - b`: what is in a and not in b.
    Sub,
    /// `a & b`: what is in both.
    And,
}

/// A name list: `name`, `( a b c )`, or one of those `+ - &` another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    /// The first (or only) list.
    pub left: Vec<Word>,
    /// The operator and the second list.
    pub op: Option<(SetOp, Vec<Word>)>,
    /// Where the list starts.
    pub pos: Pos,
}

/// A command of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `install [options] [dest] ;`
    Install {
        /// Options given to this install.
        opts: DistOpts,
        /// The destination name, if given.
        dest: Option<List>,
        /// Where `install` is.
        pos: Pos,
    },
    /// `notify names ;`
    Notify(List),
    /// `except names ;`
    Except(List),
    /// `except_pat patterns ;`
    ExceptPat(List),
    /// `special [names] "command" ;`
    Special {
        /// The files it runs after; all when absent.
        names: Option<List>,
        /// The shell command.
        command: String,
    },
    /// `cmdspecial [names] "command" ;`
    CmdSpecial {
        /// The files it is about; all when absent.
        names: Option<List>,
        /// The shell command.
        command: String,
    },
}

/// What the entry does with its sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `-> hosts`: update the hosts.
    Hosts(List),
    /// `:: stampfile`: list what is newer than the stamp file.
    Stamp(Word),
}

/// One entry: `[label:] sources -> hosts commands` or `[label:] sources :: stamp commands`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The label, if any.
    pub label: Option<String>,
    /// The source list.
    pub sources: List,
    /// Hosts or stamp file.
    pub target: Target,
    /// The commands, in order.
    pub cmds: Vec<Cmd>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// One statement of a Distfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `NAME = list`
    Define {
        /// The variable.
        name: String,
        /// Its value, unexpanded.
        value: List,
        /// Where the name is.
        pos: Pos,
    },
    /// An entry.
    Entry(Entry),
}
