//! GNU grep's pattern languages: parsed here ([`parse`]), then run by the regex crate
//! ([`emit`] writes them in its syntax) or, for back-references, by a back-tracking
//! matcher ([`backtrack`]) behind a regex-crate filter.

pub mod backtrack;
pub mod emit;
pub mod parse;

use crate::locale::{self, Locale};
use parse::{Dialect, Error, Look, Node, Set};

/// Parses every pattern and joins them into one alternation, renumbering each pattern's
/// groups after those of the patterns before it (each `\N` names a group of its own
/// pattern). `word` and `line` add `-w`'s and `-x`'s edges. Returns the tree and its
/// number of groups.
pub fn parse_all(
    patterns: &[Vec<u8>],
    dialect: Option<Dialect>,
    loc: Locale,
    icase: bool,
    word: bool,
    line: bool,
    warnings: &mut Vec<String>,
) -> Result<(Node, usize), Error> {
    let mut alts = Vec::with_capacity(patterns.len());
    let mut groups = 0;
    for p in patterns {
        let mut node = match dialect {
            Some(d) => parse::parse(p, d, loc, icase, warnings)?,
            None => fixed(p, loc, icase),
        };
        let mut most = 0;
        renumber(&mut node, groups, &mut most);
        groups = groups.max(most);
        alts.push(node);
    }
    let node = if alts.len() == 1 {
        alts.pop().unwrap_or(Node::Empty)
    } else {
        Node::Alt(alts)
    };
    let node = if line {
        Node::Concat(vec![
            Node::Look(Look::LineStart),
            node,
            Node::Look(Look::LineEnd),
        ])
    } else if word {
        Node::Concat(vec![
            Node::Look(Look::LeftEdge),
            node,
            Node::Look(Look::RightEdge),
        ])
    } else {
        node
    };
    Ok((node, groups))
}

fn renumber(node: &mut Node, offset: usize, most: &mut usize) {
    match node {
        Node::Group(inner, i) => {
            *i += offset;
            *most = (*most).max(*i);
            renumber(inner, offset, most);
        }
        Node::Backref(i) => *i += offset,
        Node::Repeat(inner, _, _) => renumber(inner, offset, most),
        Node::Concat(v) | Node::Alt(v) => v.iter_mut().for_each(|n| renumber(n, offset, most)),
        _ => {}
    }
}

/// A fixed string (`-F`) as a tree, for `-i`, `-w` and `-x`, which the literal engines
/// do not do as grep does them.
fn fixed(s: &[u8], loc: Locale, icase: bool) -> Node {
    let mut items = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let (c, len) = if loc.utf8 {
            match parse::decode(&s[i..]) {
                Some(x) => x,
                None => {
                    items.push(Node::Byte(s[i]));
                    i += 1;
                    continue;
                }
            }
        } else {
            (u32::from(s[i]), 1)
        };
        i += len;
        let variants = if icase {
            locale::case_variants(loc, c)
        } else {
            vec![c]
        };
        items.push(if variants.len() > 1 {
            Node::Set(Set {
                negated: false,
                ranges: {
                    let mut r: Vec<(u32, u32)> = variants.into_iter().map(|v| (v, v)).collect();
                    r.sort_unstable();
                    r
                },
            })
        } else {
            Node::Char(c)
        });
    }
    Node::Concat(items)
}
