//! Expanding name lists as rdist does (its `expand.c`): variables, set arithmetic, then, for
//! source and except lists, csh's braces and globs on this machine.
//!
//! - `$X` and `${NAME}` are replaced by each value of the variable in turn, with the text
//!   around them kept: `/usr/lib/${EXLIB}` is one name per value of `EXLIB`. A variable
//!   that is not defined is an error (rdist silently drops it, which hides typos).
//! - `a + b`, `a - b` and `a & b` work on the lists after variables are replaced.
//! - `{a,b}` gives each alternative, whether or not such a file exists; `* ? [...]` match
//!   the names that exist (a leading `.` only explicitly). A name whose patterns match
//!   nothing is kept as written, as csh's `nonomatch`.
//! - `~` and `~/path` are matched against this user's home, and stay `~` in the result, so
//!   that each host reads them as its own home.

use std::collections::{HashMap, HashSet};

use super::ast::{List, Pos, SetOp, Word};
use super::lexer::QUOTE;
use super::{unquote, DistError};

/// How far a list is expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Variables only (notify, except_pat, install's destination).
    Vars,
    /// Variables and braces (host lists).
    Braces,
    /// Variables, braces and globs on this machine (sources, except, special's names).
    Shell,
}

/// How deep variables may refer to variables before it is called a loop.
const MAX_DEPTH: usize = 32;

/// The most names one list may expand to. Far more than any Distfile names, few enough to
/// hold in memory; braces and variables multiply, so a short line such as `{a,b}` thirty
/// times would otherwise ask for a billion names. Past this the list is refused, as the
/// hostlist crate refuses `node[1-1000000000]`.
pub const MAX_NAMES: usize = 1_000_000;

/// The error for a list past [`MAX_NAMES`].
fn too_many() -> String {
    format!("this expands to more than {MAX_NAMES} names; split the list or use fewer braces and variables")
}

/// The variables of a Distfile, with `-d` definitions taking precedence.
#[derive(Debug, Default)]
pub struct Env {
    vars: HashMap<String, List>,
    /// Names set with `-d`: the Distfile's own definitions of them are ignored.
    fixed: HashMap<String, List>,
    file: String,
}

impl Env {
    /// An empty set of variables for the Distfile `file` (used in error messages).
    pub fn new(file: &str) -> Env {
        Env {
            file: file.to_string(),
            ..Env::default()
        }
    }

    /// A `-d NAME=VALUE` definition, which wins over the Distfile's.
    pub fn fix(&mut self, name: &str, value: List) {
        self.fixed.insert(name.to_string(), value);
    }

    /// A `NAME = list` line of the Distfile.
    pub fn define(&mut self, name: &str, value: List, pos: Pos) -> Result<(), DistError> {
        if self.fixed.contains_key(name) {
            return Ok(());
        }
        if self.vars.contains_key(name) {
            return Err(DistError::new(
                &self.file,
                pos,
                format!("variable '{name}' is defined twice; rdist allows one definition"),
            ));
        }
        self.vars.insert(name.to_string(), value);
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<&List> {
        self.fixed.get(name).or_else(|| self.vars.get(name))
    }

    /// Expands a list to names, without [`QUOTE`] marks.
    pub fn expand(&self, list: &List, mode: Mode) -> Result<Vec<String>, DistError> {
        let names = self.vars_of_list(list, 0)?;
        let names = match mode {
            Mode::Vars => names,
            Mode::Braces => {
                let mut out = Vec::new();
                for (name, pos) in names {
                    for alt in braces(&name).map_err(|m| self.err(pos, m))? {
                        out.push((alt, pos));
                    }
                    if out.len() > MAX_NAMES {
                        return Err(self.err(pos, too_many()));
                    }
                }
                out
            }
            Mode::Shell => {
                let mut out = Vec::new();
                for (name, pos) in names {
                    for n in glob_name(&name).map_err(|m| self.err(pos, m))? {
                        out.push((n, pos));
                    }
                    if out.len() > MAX_NAMES {
                        return Err(self.err(pos, too_many()));
                    }
                }
                out
            }
        };
        Ok(names.into_iter().map(|(n, _)| unquote(&n)).collect())
    }

    fn err(&self, pos: Pos, message: String) -> DistError {
        DistError::new(&self.file, pos, message)
    }

    /// Variables replaced and set arithmetic done; names keep their quote marks.
    fn vars_of_list(&self, list: &List, depth: usize) -> Result<Vec<(String, Pos)>, DistError> {
        let left = self.vars_of_words(&list.left, depth)?;
        let Some((op, right)) = &list.op else {
            return Ok(left);
        };
        let right = self.vars_of_words(right, depth)?;
        // Sets, not scans: both sides may hold many names.
        let right_names: HashSet<String> = right.iter().map(|(r, _)| unquote(r)).collect();
        let in_right = |n: &String| right_names.contains(&unquote(n));
        let mut out: Vec<(String, Pos)> = Vec::new();
        match op {
            SetOp::Add => {
                let mut seen = HashSet::new();
                for item in left.iter().chain(right.iter()) {
                    if seen.insert(unquote(&item.0)) {
                        out.push(item.clone());
                    }
                }
            }
            SetOp::Sub => out.extend(left.iter().filter(|(n, _)| !in_right(n)).cloned()),
            SetOp::And => out.extend(left.iter().filter(|(n, _)| in_right(n)).cloned()),
        }
        Ok(out)
    }

    fn vars_of_words(&self, words: &[Word], depth: usize) -> Result<Vec<(String, Pos)>, DistError> {
        let mut out = Vec::new();
        for w in words {
            self.vars_of_text(&w.text, w.pos, w.pos, depth, &mut out)?;
        }
        Ok(out)
    }

    /// Replaces the first variable of `text` by each of its values and goes on with the
    /// rest; `at` is where `text` starts in the file, for columns of errors.
    fn vars_of_text(
        &self,
        text: &str,
        word: Pos,
        at: Pos,
        depth: usize,
        out: &mut Vec<(String, Pos)>,
    ) -> Result<(), DistError> {
        let chars: Vec<char> = text.chars().collect();
        let Some(dollar) =
            (0..chars.len()).find(|&i| chars[i] == '$' && (i == 0 || chars[i - 1] != QUOTE))
        else {
            out.push((text.to_string(), word));
            return Ok(());
        };
        let here = Pos {
            line: at.line,
            col: at.col + dollar,
        };
        if depth > MAX_DEPTH {
            return Err(self.err(here, "variables refer to each other in a loop".into()));
        }
        let (name, tail) = match chars.get(dollar + 1) {
            None => return Err(self.err(here, "no variable name after '$'".into())),
            Some('{') => {
                let Some(close) = (dollar + 2..chars.len()).find(|&i| chars[i] == '}') else {
                    return Err(self.err(here, "unmatched '{' after '$': missing '}'".into()));
                };
                (
                    chars[dollar + 2..close].iter().collect::<String>(),
                    close + 1,
                )
            }
            Some(c) => (c.to_string(), dollar + 2),
        };
        if name.is_empty() {
            return Err(self.err(here, "no variable name in '${}'".into()));
        }
        let Some(value) = self.lookup(&name) else {
            let hint =
                if name.len() == 1 && chars.get(dollar + 2).is_some_and(|c| c.is_alphanumeric()) {
                    format!("; for a longer name write ${{{}...}}", name)
                } else {
                    String::new()
                };
            return Err(self.err(
                here,
                format!("undefined variable '{name}': define it with `{name} = ( ... )` or -d {name}=VALUE{hint}"),
            ));
        };
        let prefix: String = chars[..dollar].iter().collect();
        let suffix: String = chars[tail..].iter().collect();
        for (v, _) in self.vars_of_list(value, depth + 1)? {
            // The suffix may hold more variables; values are not expanded again.
            let mut rest = Vec::new();
            let tail_at = Pos {
                line: at.line,
                col: at.col + tail,
            };
            self.vars_of_text(&suffix, word, tail_at, depth + 1, &mut rest)?;
            if out.len() + rest.len() > MAX_NAMES {
                return Err(self.err(here, too_many()));
            }
            for (r, _) in rest {
                out.push((format!("{prefix}{v}{r}"), word));
            }
        }
        Ok(())
    }
}

/// csh's brace expansion: `a{b,c{d,e}}f` is `abf acdf acef`; `{` and `{}` alone stay.
pub fn braces(name: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = name.chars().collect();
    if name == "{" || name == "{}" {
        return Ok(vec![name.to_string()]);
    }
    let Some(open) =
        (0..chars.len()).find(|&i| chars[i] == '{' && (i == 0 || chars[i - 1] != QUOTE))
    else {
        return Ok(vec![name.to_string()]);
    };
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut close = None;
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            QUOTE => i += 1,
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            '{' => depth += 1,
            '}' if depth == 0 => {
                close = Some(i);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => commas.push(i),
            _ => {}
        }
        i += 1;
    }
    let Some(close) = close else {
        return Err(format!("missing '}}' in '{}'", unquote(name)));
    };
    let prefix: String = chars[..open].iter().collect();
    let suffix: String = chars[close + 1..].iter().collect();
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let alt: String = chars[pair[0] + 1..pair[1]].iter().collect();
        out.extend(braces(&format!("{prefix}{alt}{suffix}"))?);
        if out.len() > MAX_NAMES {
            return Err(format!("'{}': {}", unquote(name), too_many()));
        }
    }
    Ok(out)
}

/// Whether `name` has an unquoted glob character.
fn has_glob(name: &str) -> bool {
    let mut quoted = false;
    for c in name.chars() {
        if quoted {
            quoted = false;
            continue;
        }
        match c {
            QUOTE => quoted = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// This user's home, for `~` in sources.
pub fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/".into())
}

/// Braces, then globs, of one name (with quote marks in and out). Names that match nothing
/// are kept as written.
fn glob_name(name: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for alt in braces(name)? {
        if !has_glob(&alt) {
            out.push(alt);
            continue;
        }
        // `~` is this user's home here; results keep the `~`.
        let (base, rest) = match alt.strip_prefix('~') {
            Some(r) if r.is_empty() || r.starts_with('/') => (Some(home()), r.to_string()),
            _ => (None, alt.clone()),
        };
        let mut pattern = String::new();
        if let Some(h) = &base {
            pattern.push_str(&glob::Pattern::escape(h));
        }
        let mut quoted = false;
        let mut star = false;
        for c in rest.chars() {
            if quoted {
                pattern.push_str(&glob::Pattern::escape(&c.to_string()));
                quoted = false;
                star = false;
            } else if c == QUOTE {
                quoted = true;
            } else {
                // csh has no `**`: a run of stars is one star. The glob crate would read
                // `/**` as every file below `/` (the distfile fuzz target's first timeout)
                // and refuse `a**b`.
                if !(c == '*' && star) {
                    pattern.push(c);
                }
                star = c == '*';
            }
        }
        let paths =
            glob_paths(&pattern).map_err(|e| format!("bad pattern '{}': {e}", unquote(&alt)))?;
        for text in paths {
            let shown = match &base {
                Some(h) => format!("~{}", text.strip_prefix(h.as_str()).unwrap_or(&text)),
                None => text,
            };
            out.push(shown);
        }
    }
    if out.is_empty() {
        out.push(name.to_string());
    }
    Ok(out)
}

/// The paths that match `pattern`, a glob pattern in the glob crate's syntax with no `**`,
/// found one directory level per component, as csh does: wildcards stay inside a component,
/// a leading `.` must be written, and each directory's matches come in name order.
///
/// `glob::glob_with` does this walk too, but glob 0.3.4 panics on a directory entry whose name
/// is not UTF-8 when leading dots must be literal (the distfile fuzz target found it through
/// `/*/*/*`); here such names are skipped, as the glob crate's own matching skips them.
fn glob_paths(pattern: &str) -> Result<Vec<String>, glob::PatternError> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut found = vec![if pattern.starts_with('/') { "/" } else { "" }.to_string()];
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    // A trailing `/` asks for directories only.
    let dirs_only = pattern.ends_with('/');
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len() && !dirs_only;
        let matcher = glob::Pattern::new(component)?;
        let mut next = Vec::new();
        for dir in &found {
            let join = |name: &str| {
                if dir.is_empty() || dir.ends_with('/') {
                    format!("{dir}{name}")
                } else {
                    format!("{dir}/{name}")
                }
            };
            let wild = component.contains(['*', '?', '[']);
            if !wild {
                let path = join(component);
                let exists = if last {
                    std::fs::symlink_metadata(&path).is_ok()
                } else {
                    std::path::Path::new(&path).is_dir()
                };
                if exists {
                    next.push(path);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| matcher.matches_with(name, options))
                .collect();
            names.sort_unstable();
            for name in names {
                let path = join(&name);
                if last || std::path::Path::new(&path).is_dir() {
                    next.push(path);
                }
            }
        }
        found = next;
    }
    // A pattern of slashes alone names the root, which the walk has not checked: keep the
    // glob crate's answer of nothing, so that the name is kept as written.
    if components.is_empty() {
        found.clear();
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_nest_and_keep_order() {
        assert_eq!(braces("a{b,c{d,e}}f").unwrap(), ["abf", "acdf", "acef"]);
        assert_eq!(braces("{}").unwrap(), ["{}"]);
        assert!(braces("a{b").unwrap_err().contains("missing '}'"));
        assert_eq!(
            braces(&format!("a{QUOTE}{{b}}")).unwrap(),
            [format!("a{QUOTE}{{b}}")]
        );
    }

    #[test]
    fn globs_match_existing_names_or_stay() {
        let dir = std::env::temp_dir().join(format!("prdist-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["a.h", "b.h", ".hidden.h", "c.c", "sub/d.h"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let d = dir.display();
        let got = glob_name(&format!("{d}/{{*.h,sub/*.h,none/*.h}}")).unwrap();
        assert_eq!(
            got,
            [
                format!("{d}/a.h"),
                format!("{d}/b.h"),
                format!("{d}/sub/d.h")
            ]
        );
        assert_eq!(
            glob_name(&format!("{d}/*.x")).unwrap(),
            [format!("{d}/*.x")]
        );
        assert_eq!(
            glob_name(&format!("{d}/?.c")).unwrap(),
            [format!("{d}/c.c")]
        );
        assert_eq!(glob_name(&format!("{d}/[ab].h")).unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
