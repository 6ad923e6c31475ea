//! The engine for patterns with back-references (`\(a\)\1`), which no automaton can match:
//! a back-tracking matcher over the parsed pattern, run on one line at a time, and only on
//! the lines that a regex-crate filter (the pattern with each `\N` replaced by a copy of its
//! group) has already found to hold a candidate. Most lines never reach it.
//!
//! It tries every way the pattern can match, so a line is found whenever some choice of
//! groups makes the back-references agree; with `longest` it keeps the longest match from a
//! start, as POSIX asks, within a step budget that keeps a pathological pattern from
//! running for ever (the longest found so far is then taken).

use super::parse::{decode, Look, Node, Set};
use crate::locale::{self, Locale};

#[derive(Debug, Clone)]
enum Inst {
    Char(u32),
    Byte(u8),
    Any,
    Set(Box<Set>),
    Look(Look),
    /// Try the first, then the second.
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Backref(usize),
    /// Remember where a loop's pass starts.
    Mark(usize),
    /// Fail unless the pass since the mark consumed something.
    Progress(usize),
    Match,
}

/// A compiled back-tracking program.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Vec<Inst>,
    slots: usize,
    loc: Locale,
    icase: bool,
    eol: u8,
}

/// Steps one longest-match search may take before it settles for what it has.
const LONGEST_BUDGET: usize = 1 << 22;

enum Frame {
    Try(usize, usize),
    Restore(usize, usize),
}

const UNSET: usize = usize::MAX;

impl Program {
    /// Compiles `node`. `groups` is the number of capture groups in it.
    pub fn new(node: &Node, groups: usize, loc: Locale, icase: bool, eol: u8) -> Program {
        let mut c = Compiler {
            insts: Vec::new(),
            marks: 0,
        };
        c.node(node);
        c.insts.push(Inst::Match);
        let slots = 2 * (groups + 1) + c.marks;
        let base = 2 * (groups + 1);
        // Marks live after the capture slots.
        for inst in &mut c.insts {
            if let Inst::Mark(k) | Inst::Progress(k) = inst {
                *k += base;
            }
        }
        Program {
            insts: c.insts,
            slots,
            loc,
            icase,
            eol,
        }
    }

    /// The leftmost match in `line` (one line, without its end) starting at or after
    /// `start`; with `longest`, the longest one from that start.
    pub fn find(&self, line: &[u8], start: usize, longest: bool) -> Option<(usize, usize)> {
        let mut slots = vec![UNSET; self.slots];
        let mut stack = Vec::new();
        let mut s = start;
        while s <= line.len() {
            if let Some(e) = self.run(line, s, false, &mut slots, &mut stack) {
                let e = if longest {
                    self.run(line, s, true, &mut slots, &mut stack).unwrap_or(e)
                } else {
                    e
                };
                return Some((s, e));
            }
            if s == line.len() {
                break;
            }
            s += self.char_len(line, s);
        }
        None
    }

    fn char_len(&self, line: &[u8], at: usize) -> usize {
        if self.loc.utf8 {
            decode(&line[at..]).map_or(1, |(_, l)| l)
        } else {
            1
        }
    }

    /// The character at `at`: `Ok(code point, length)`, or `Err(byte)` for an encoding error.
    fn char_at(&self, line: &[u8], at: usize) -> Option<Result<(u32, usize), u8>> {
        let b = *line.get(at)?;
        if !self.loc.utf8 || b < 0x80 {
            return Some(Ok((u32::from(b), 1)));
        }
        Some(decode(&line[at..]).ok_or(b))
    }

    fn char_before(&self, line: &[u8], at: usize) -> Option<u32> {
        if at == 0 {
            return None;
        }
        if !self.loc.utf8 || line[at - 1] < 0x80 {
            return Some(u32::from(line[at - 1]));
        }
        let from = at.saturating_sub(4);
        (from..at)
            .filter_map(|s| decode(&line[s..at]).filter(|&(_, l)| s + l == at))
            .map(|(c, _)| c)
            .next()
    }

    fn is_word(&self, c: Option<u32>) -> bool {
        c.is_some_and(|c| locale::is_word(self.loc, c))
    }

    fn look(&self, look: Look, line: &[u8], at: usize) -> bool {
        let before = self.is_word(self.char_before(line, at));
        let after = self.is_word(match self.char_at(line, at) {
            Some(Ok((c, _))) => Some(c),
            _ => None,
        });
        match look {
            Look::LineStart => at == 0,
            Look::LineEnd => at == line.len(),
            Look::Word => before != after,
            Look::NotWord => before == after,
            Look::WordStart => !before && after,
            Look::WordEnd => before && !after,
            Look::LeftEdge => !before,
            Look::RightEdge => !after,
        }
    }

    fn fold(&self, c: u32) -> u32 {
        locale::fold(self.loc, c)
    }

    /// Whether `line[a..a+len]` equals the text at `at`; the length matched.
    fn backref(&self, line: &[u8], a: usize, b: usize, at: usize) -> Option<usize> {
        let want = &line[a..b];
        if !self.icase {
            return line[at..].starts_with(want).then_some(want.len());
        }
        let (mut i, mut j) = (0, at);
        while i < want.len() {
            let x = self.char_at(want, i)?;
            let y = self.char_at(line, j)?;
            match (x, y) {
                (Ok((c, lc)), Ok((d, ld))) if self.fold(c) == self.fold(d) => {
                    i += lc;
                    j += ld;
                }
                (Err(c), Err(d)) if c == d => {
                    i += 1;
                    j += 1;
                }
                _ => return None,
            }
        }
        Some(j - at)
    }

    /// Runs from `start`: the end of the first match found, or with `longest` of the
    /// longest.
    fn run(
        &self,
        line: &[u8],
        start: usize,
        longest: bool,
        slots: &mut [usize],
        stack: &mut Vec<Frame>,
    ) -> Option<usize> {
        slots.iter_mut().for_each(|s| *s = UNSET);
        stack.clear();
        stack.push(Frame::Try(0, start));
        let mut best = None;
        let mut steps = 0usize;
        while let Some(frame) = stack.pop() {
            let (mut pc, mut at) = match frame {
                Frame::Restore(slot, old) => {
                    slots[slot] = old;
                    continue;
                }
                Frame::Try(pc, at) => (pc, at),
            };
            loop {
                steps += 1;
                if longest && steps > LONGEST_BUDGET {
                    return best;
                }
                match &self.insts[pc] {
                    Inst::Match => {
                        if !longest {
                            return Some(at);
                        }
                        if best.is_none_or(|b| at > b) {
                            best = Some(at);
                        }
                        break;
                    }
                    Inst::Char(want) => match self.char_at(line, at) {
                        Some(Ok((c, l))) if c == *want => {
                            at += l;
                            pc += 1;
                        }
                        _ => break,
                    },
                    Inst::Byte(want) => match self.char_at(line, at) {
                        Some(Err(b)) if b == *want => {
                            at += 1;
                            pc += 1;
                        }
                        _ => break,
                    },
                    Inst::Any => match self.char_at(line, at) {
                        Some(Ok((c, l))) if c != u32::from(self.eol) => {
                            at += l;
                            pc += 1;
                        }
                        _ => break,
                    },
                    Inst::Set(set) => match self.char_at(line, at) {
                        Some(Ok((c, l))) if c != u32::from(self.eol) && set.contains(c) => {
                            at += l;
                            pc += 1;
                        }
                        _ => break,
                    },
                    Inst::Look(look) => {
                        if !self.look(*look, line, at) {
                            break;
                        }
                        pc += 1;
                    }
                    Inst::Split(a, b) => {
                        stack.push(Frame::Try(*b, at));
                        pc = *a;
                    }
                    Inst::Jmp(to) => pc = *to,
                    Inst::Save(slot) | Inst::Mark(slot) => {
                        stack.push(Frame::Restore(*slot, slots[*slot]));
                        slots[*slot] = at;
                        pc += 1;
                    }
                    Inst::Progress(slot) => {
                        if slots[*slot] == at {
                            break;
                        }
                        pc += 1;
                    }
                    Inst::Backref(n) => {
                        let (a, b) = (slots[2 * n], slots[2 * n + 1]);
                        if a == UNSET || b == UNSET || b < a {
                            break;
                        }
                        match self.backref(line, a, b, at) {
                            Some(l) => {
                                at += l;
                                pc += 1;
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        best
    }
}

struct Compiler {
    insts: Vec<Inst>,
    marks: usize,
}

impl Compiler {
    fn node(&mut self, node: &Node) {
        match node {
            Node::Empty => {}
            Node::Char(c) => self.insts.push(Inst::Char(*c)),
            Node::Byte(b) => self.insts.push(Inst::Byte(*b)),
            Node::Any => self.insts.push(Inst::Any),
            Node::Set(s) => self.insts.push(Inst::Set(Box::new(s.clone()))),
            Node::Look(l) => self.insts.push(Inst::Look(*l)),
            Node::Group(inner, i) => {
                self.insts.push(Inst::Save(2 * i));
                self.node(inner);
                self.insts.push(Inst::Save(2 * i + 1));
            }
            Node::Backref(n) => self.insts.push(Inst::Backref(*n)),
            Node::Concat(v) => v.iter().for_each(|n| self.node(n)),
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (i, n) in v.iter().enumerate() {
                    if i + 1 < v.len() {
                        let split = self.insts.len();
                        self.insts.push(Inst::Split(split + 1, 0));
                        self.node(n);
                        jumps.push(self.insts.len());
                        self.insts.push(Inst::Jmp(0));
                        let next = self.insts.len();
                        self.insts[split] = Inst::Split(split + 1, next);
                    } else {
                        self.node(n);
                    }
                }
                let end = self.insts.len();
                for j in jumps {
                    self.insts[j] = Inst::Jmp(end);
                }
            }
            Node::Repeat(inner, min, max) => {
                for _ in 0..*min {
                    self.node(inner);
                }
                match max {
                    None => {
                        let mark = self.marks;
                        self.marks += 1;
                        let head = self.insts.len();
                        self.insts.push(Inst::Split(head + 1, 0));
                        self.insts.push(Inst::Mark(mark));
                        self.node(inner);
                        self.insts.push(Inst::Progress(mark));
                        self.insts.push(Inst::Jmp(head));
                        let out = self.insts.len();
                        self.insts[head] = Inst::Split(head + 1, out);
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.insts.len());
                            self.insts.push(Inst::Split(0, 0));
                            self.node(inner);
                        }
                        let out = self.insts.len();
                        for s in splits {
                            self.insts[s] = Inst::Split(s + 1, out);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse, Dialect};
    use super::*;

    fn find(p: &str, line: &str, longest: bool) -> Option<(usize, usize)> {
        let node = parse(
            p.as_bytes(),
            Dialect::Basic,
            Locale::C,
            false,
            &mut Vec::new(),
        )
        .unwrap();
        Program::new(&node, 9, Locale::C, false, b'\n').find(line.as_bytes(), 0, longest)
    }

    #[test]
    fn back_references_must_agree() {
        assert_eq!(find(r"\(a*\)b\1", "xaabaa", false), Some((1, 6)));
        assert_eq!(find(r"^\(.\)\1$", "ab", false), None);
        assert_eq!(find(r"\(.\)\1", "abb", false), Some((1, 3)));
    }

    #[test]
    fn longest_keeps_the_longest_from_the_leftmost_start() {
        assert_eq!(find(r"\(a\|ab\)\(c\|bcd\)", "abcd", true), Some((0, 4)));
        assert_eq!(find(r"\(\)*x", "x", false), Some((0, 1)));
    }
}
