//! A parsed pattern written out in the regex crate's syntax, for the fast engines. Every
//! character is written as an escape, so nothing in the user's pattern is read twice, and
//! nothing written can match the line end (grep matches within lines).

use std::fmt::Write;

use super::parse::{Look, Node, Set};

/// Writes `node` for the regex crate. `utf8` says whether the regex runs in Unicode mode;
/// `eol` is the line end byte. A back-reference (which the regex crate lacks) is written
/// as a copy of its group, so the result matches at least what `node` matches: a filter
/// in front of the back-tracking engine.
pub fn regex_source(node: &Node, utf8: bool, eol: u8) -> String {
    let mut groups: Vec<Option<Node>> = Vec::new();
    collect_groups(node, &mut groups);
    let mut out = String::new();
    emit(node, utf8, eol, &groups, &mut out);
    out
}

fn collect_groups(node: &Node, groups: &mut Vec<Option<Node>>) {
    match node {
        Node::Group(inner, i) => {
            if groups.len() <= *i {
                groups.resize(*i + 1, None);
            }
            groups[*i] = Some((**inner).clone());
            collect_groups(inner, groups);
        }
        Node::Repeat(inner, _, _) => collect_groups(inner, groups),
        Node::Concat(v) | Node::Alt(v) => v.iter().for_each(|n| collect_groups(n, groups)),
        _ => {}
    }
}

fn char_escape(c: u32, utf8: bool, out: &mut String) {
    if utf8 {
        let _ = write!(out, "\\x{{{c:X}}}");
    } else {
        let _ = write!(out, "\\x{c:02X}");
    }
}

fn emit(node: &Node, utf8: bool, eol: u8, groups: &[Option<Node>], out: &mut String) {
    match node {
        Node::Empty => out.push_str("(?:)"),
        Node::Char(c) => char_escape(*c, utf8, out),
        Node::Byte(b) => {
            let _ = write!(out, "(?-u:\\x{b:02X})");
        }
        Node::Any => {
            out.push_str("[^");
            char_escape(u32::from(eol), utf8, out);
            out.push(']');
        }
        Node::Set(set) => emit_set(set, utf8, eol, out),
        Node::Look(look) => out.push_str(match look {
            Look::LineStart => "(?m:^)",
            Look::LineEnd => "(?m:$)",
            Look::Word => r"\b",
            Look::NotWord => r"\B",
            Look::WordStart => r"\b{start}",
            Look::WordEnd => r"\b{end}",
            Look::LeftEdge => r"\b{start-half}",
            Look::RightEdge => r"\b{end-half}",
        }),
        Node::Group(inner, _) => {
            out.push('(');
            emit(inner, utf8, eol, groups, out);
            out.push(')');
        }
        Node::Backref(n) => {
            out.push_str("(?:");
            match groups.get(*n).and_then(Option::as_ref) {
                Some(g) => emit(g, utf8, eol, groups, out),
                None => out.push_str("(?:)"),
            }
            out.push(')');
        }
        Node::Concat(v) => {
            for n in v {
                emit(n, utf8, eol, groups, out);
            }
        }
        Node::Alt(v) => {
            out.push_str("(?:");
            for (i, n) in v.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                emit(n, utf8, eol, groups, out);
            }
            out.push(')');
        }
        Node::Repeat(inner, min, max) => {
            out.push_str("(?:");
            emit(inner, utf8, eol, groups, out);
            out.push(')');
            match (min, max) {
                (0, None) => out.push('*'),
                (1, None) => out.push('+'),
                (0, Some(1)) => out.push('?'),
                (m, None) => {
                    let _ = write!(out, "{{{m},}}");
                }
                (m, Some(n)) => {
                    let _ = write!(out, "{{{m},{n}}}");
                }
            }
        }
    }
}

fn emit_set(set: &Set, utf8: bool, eol: u8, out: &mut String) {
    let max = if utf8 { 0x10FFFF } else { 0xFF };
    let eol = u32::from(eol);
    // The regex crate takes no surrogates; the line end is never in a set.
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut push = |lo: u32, hi: u32| {
        let hi = hi.min(max);
        if lo > hi {
            return;
        }
        for (a, b) in split_out(lo, hi, if utf8 { Some((0xD800, 0xDFFF)) } else { None }) {
            for (c, d) in split_out(a, b, Some((eol, eol))) {
                ranges.push((c, d));
            }
        }
    };
    if set.negated {
        // Written as its complement, so that the line end can be left out of both.
        let mut next = 0u32;
        for &(lo, hi) in &set.ranges {
            if lo > next {
                push(next, lo - 1);
            }
            next = next.max(hi.saturating_add(1));
        }
        if next <= max {
            push(next, max);
        }
    } else {
        for &(lo, hi) in &set.ranges {
            push(lo, hi);
        }
    }
    if ranges.is_empty() {
        // Matches nothing.
        out.push_str(if utf8 {
            r"[^\x00-\x{10FFFF}]"
        } else {
            r"(?-u:[^\x00-\xFF])"
        });
        return;
    }
    out.push('[');
    for (lo, hi) in ranges {
        char_escape(lo, utf8, out);
        if hi > lo {
            out.push('-');
            char_escape(hi, utf8, out);
        }
    }
    out.push(']');
}

/// `[lo, hi]` without the range `cut`.
fn split_out(lo: u32, hi: u32, cut: Option<(u32, u32)>) -> Vec<(u32, u32)> {
    let Some((a, b)) = cut else {
        return vec![(lo, hi)];
    };
    if hi < a || lo > b {
        return vec![(lo, hi)];
    }
    let mut v = Vec::new();
    if lo < a {
        v.push((lo, a - 1));
    }
    if hi > b {
        v.push((b + 1, hi));
    }
    v
}
