//! rsync's filter rules: `--exclude`, `--include`, `--exclude-from`, `--include-from` and
//! `--filter`, with rsync's syntax and matching, so that a rule set written for rsync picks the
//! same files under prsync.
//!
//! # The list
//!
//! Rules are kept in the order they were given, all options together, and the first rule
//! that matches a path decides; a path no rule matches is taken. `!` empties the list so far.
//! A directory that is excluded is not read at all, so nothing below it is taken whatever later
//! rules say: a caller walks parents before children and does not descend into an excluded
//! directory ([`FilterList::is_excluded_with_parents`] does that walk for one path).
//!
//! ```
//! use prtools_sync::filter::FilterList;
//!
//! // rsync --include='*/' --include='*.c' --exclude='*': every directory, and .c files.
//! let mut rules = FilterList::new();
//! rules.push_include("*/")?;
//! rules.push_include("*.c")?;
//! rules.push_exclude("*")?;
//! assert!(!rules.is_excluded(b"src", true));
//! assert!(!rules.is_excluded(b"src/main.c", false));
//! assert!(rules.is_excluded(b"src/main.o", false));
//! # Ok::<(), prtools_sync::filter::FilterError>(())
//! ```
//!
//! # Patterns
//!
//! As rsync's man page ("PATTERN MATCHING RULES") says, and as its code does:
//!
//! - a pattern with no `/` (but a trailing one) and no `**` matches the last component;
//!   with a `/` in it, it matches the last components of the path (`a/b` matches `x/a/b`);
//!   with a leading `/`, it is anchored at the transfer root (`/a/b` matches only `a/b`);
//! - a trailing `/` matches directories only;
//! - `*` matches within a component, `**` across components, `?` one byte but `/`, `[...]` a
//!   class; a trailing `dir/***` matches `dir` and everything below it; a backslash escapes
//!   only in a pattern with a wildcard in it (see the `wild` module for the corners).
//!
//! Paths are raw bytes relative to the transfer root, `/`-separated, as in
//! [`RelPath::as_bytes`](crate::RelPath::as_bytes): names need not be UTF-8.
//!
//! # Two sides
//!
//! rsync applies the list twice: the sender to choose what to send ("hide" and "show"), the
//! receiver to choose what `--delete` may not remove ("protect" and "risk"). A plain `-`/`+`
//! rule acts on both; `H`/`S` (or the `s` modifier) only on the sender, `P`/`R` (or `r`) only on
//! the receiver. With `--delete-excluded` ([`FilterList::set_delete_excluded`]) the plain rules
//! act on the sender only, so excluded files on the receiver are deleted.
//! [`FilterList::is_excluded`] asks the sender's question, [`FilterList::is_protected`] the
//! receiver's, and [`FilterList::is_protected_in_deleted_dir`] the receiver's question inside a
//! directory that is itself being deleted, where perishable (`p`) rules do not count.
//!
//! # Merge files
//!
//! `merge FILE` (`.`) reads rules from a file where the rule stands (nested merges are
//! followed, 32 deep at most); `dir-merge FILE` (`:`, and so `-F`) is read in each folder
//! the caller walks, through [`FilterList::enter_dir`]; `-C` stands for CVS's names. An
//! error in a merge file says where it is, never what the file says.
//!
//! # What is not supported
//!
//! A `dir-merge` rule inside a per-folder merge file, and the `/` (absolute path) modifier,
//! are refused with a [`FilterError`] that names the rule and what
//! to use instead; nothing is silently ignored.

mod error;
mod merge;
mod rule;
mod wild;

use std::io::Read;
use std::os::unix::ffi::OsStrExt;

pub use error::{FilterError, FilterErrorKind};

/// rsync's `MAXPATHLEN` (Linux's `PATH_MAX`): a pattern must be shorter, and so must the
/// full name of a `dir-merge` file (its folder, a `/`, its name), or rsync refuses it.
pub const MAX_PATH: usize = 4096;
pub use merge::MergeMods;
pub use rule::{Action, FilterRule, Side};

use rule::{parse_full, parse_plain, Parsed};

/// Whether `text` matches the rsync wildcard `pattern` as a whole (`*`, `?`, `[...]`), for
/// other users of rsync's patterns (`--usermap` names).
pub fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    wild::Wild::compile(pattern).matches_whole(text)
}

/// How a pattern file separates its entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delimiter {
    /// One entry a line; `\n` and `\r` both end a line, so CRLF files work.
    #[default]
    Lines,
    /// Entries end with a NUL byte, as with rsync's `--from0` (`-0`).
    Nul,
}

/// The ordered rules of one transfer, built from the command line in order.
///
/// Build it with one call per option, in the order the options were given; then ask
/// [`FilterList::is_excluded`] for every path the sender meets (parents first) and
/// [`FilterList::is_protected`] for every path the receiver would delete.
#[derive(Clone, Debug, Default)]
pub struct FilterList {
    rules: Vec<FilterRule>,
    delete_excluded: bool,
    /// The `dir-merge` rules, with where their files' rules go (see [`FilterList::enter_dir`]).
    dir_merges: Vec<merge::DirMerge>,
    /// What rsync says of the rules as it adds them, and then goes on (see
    /// [`FilterList::notes`]).
    notes: Vec<String>,
}

impl FilterList {
    /// An empty list, which excludes nothing.
    pub fn new() -> FilterList {
        FilterList::default()
    }

    /// Adds `--exclude=PATTERN`.
    ///
    /// The pattern has no rule syntax, except what rsync also reads here: a leading `+ `
    /// makes it an include, a leading `- ` an exclude, and a lone `!` empties the list. An
    /// empty pattern adds nothing, as in rsync.
    pub fn push_exclude(&mut self, pattern: impl AsRef<[u8]>) -> Result<(), FilterError> {
        self.push_parsed(parse_plain(pattern.as_ref(), Action::Exclude)?)
    }

    /// Adds `--include=PATTERN`; the same syntax as [`FilterList::push_exclude`].
    pub fn push_include(&mut self, pattern: impl AsRef<[u8]>) -> Result<(), FilterError> {
        self.push_parsed(parse_plain(pattern.as_ref(), Action::Include)?)
    }

    /// Adds `--filter=RULE` (`-f`): one rule in the full syntax of [`FilterRule::parse`],
    /// or `!`/`clear`, which empties the list. An empty rule adds nothing, as in rsync.
    ///
    /// ```
    /// use prtools_sync::filter::FilterList;
    ///
    /// let mut rules = FilterList::new();
    /// rules.push_filter("- *.o")?;
    /// rules.push_filter("!")?;
    /// rules.push_filter("P /keep")?;
    /// assert!(!rules.is_excluded(b"x.o", false));
    /// assert!(!rules.is_excluded(b"keep", false)); // P protects, it does not hide
    /// assert!(rules.is_protected(b"keep", false));
    /// # Ok::<(), prtools_sync::filter::FilterError>(())
    /// ```
    pub fn push_filter(&mut self, rule: impl AsRef<[u8]>) -> Result<(), FilterError> {
        self.push_parsed(parse_full(rule.as_ref())?)
    }

    /// Adds a rule parsed before.
    pub fn push_rule(&mut self, rule: FilterRule) {
        self.rules.push(rule);
    }

    /// Empties the list, as a `!` rule does.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.dir_merges.clear();
    }

    /// Adds the patterns of an `--exclude-from` (`default` [`Action::Exclude`]) or
    /// `--include-from` ([`Action::Include`]) file, in order.
    ///
    /// One pattern an entry, each read as [`FilterList::push_exclude`] reads it (so `- ` and
    /// `+ ` prefixes and `!` work); empty entries and entries starting with `#` or `;` are
    /// skipped. Nothing is trimmed: a trailing space is part of the pattern, as in rsync.
    /// For rsync's `FILE` of `-`, pass [`std::io::stdin`]. On an error, the rules before the
    /// bad entry have been added; the error names its line.
    pub fn read_from(
        &mut self,
        mut reader: impl Read,
        default: Action,
        delimiter: Delimiter,
    ) -> Result<(), FilterError> {
        let mut data = Vec::new();
        reader.read_to_end(&mut data).map_err(FilterError::read)?;
        let mut line = 1;
        let mut start = 0;
        for end in 0..=data.len() {
            let at_end = end == data.len();
            let b = if at_end { b'\n' } else { data[end] };
            let ends_entry = match delimiter {
                Delimiter::Lines => b == b'\n' || b == b'\r',
                Delimiter::Nul => b == 0,
            };
            if !ends_entry && !at_end {
                continue;
            }
            let entry = &data[start..end];
            start = end + 1;
            if !entry.is_empty() && entry[0] != b'#' && entry[0] != b';' {
                let parsed = parse_plain(entry, default).map_err(|e| e.at_line(line))?;
                self.push_parsed(parsed.map(|p| match p {
                    Parsed::Rule(rule) => Parsed::Rule(rule.read_from_file()),
                    other => other,
                }))?;
            }
            if b == b'\n' || (delimiter == Delimiter::Nul && b == 0) {
                line += 1;
            }
        }
        Ok(())
    }

    /// Sets rsync's `--delete-excluded`: the rules without a side act on the sender only,
    /// so that what they exclude is deleted on the receiver instead of protected.
    pub fn set_delete_excluded(&mut self, on: bool) {
        self.delete_excluded = on;
    }

    /// Whether `--delete-excluded` is set.
    pub fn delete_excluded(&self) -> bool {
        self.delete_excluded
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[FilterRule] {
        &self.rules
    }

    /// Whether the list has no rules (it then excludes and protects nothing).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule that decides `path` on `side`: the first one acting on that side that
    /// matches. `None` means no rule matched, and the path is taken (sender) or may be
    /// deleted (receiver). Useful for telling the user which rule left a file out.
    pub fn first_match(&self, side: Side, path: &[u8], is_dir: bool) -> Option<&FilterRule> {
        self.decide(side, path, is_dir, true)
    }

    /// The sender's question: is `path` left out of the transfer? Ask it for each path,
    /// parents first, and do not descend into an excluded directory.
    pub fn is_excluded(&self, path: &[u8], is_dir: bool) -> bool {
        excluding(self.first_match(Side::Sender, path, is_dir))
    }

    /// [`FilterList::is_excluded`] for `path` and each directory above it, for a caller
    /// that meets a path without having walked down to it: rsync never reads an excluded
    /// directory, so nothing below one is sent.
    pub fn is_excluded_with_parents(&self, path: &[u8], is_dir: bool) -> bool {
        path.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .any(|(i, _)| self.is_excluded(&path[..i], true))
            || self.is_excluded(path, is_dir)
    }

    /// The receiver's question: may `--delete` not remove `path`, which is on the receiver
    /// but not in the sender's list? A protected directory is left whole, contents and all.
    pub fn is_protected(&self, path: &[u8], is_dir: bool) -> bool {
        excluding(self.decide(Side::Receiver, path, is_dir, true))
    }

    /// [`FilterList::is_protected`] for a path inside a directory that `--delete` is
    /// removing (because the sender no longer has it), where rsync skips perishable (`p`)
    /// rules. A path still protected here keeps its directory (and the directories above
    /// it, up to the one being removed) from being deleted.
    pub fn is_protected_in_deleted_dir(&self, path: &[u8], is_dir: bool) -> bool {
        excluding(self.decide(Side::Receiver, path, is_dir, false))
    }

    /// rsync's `-vv` filter trace for `path` on `side` (`--debug=FILTER`): whether the
    /// rule that decides excludes it, and that rule as the trace shows it, with the
    /// per-folder merge file it came from (`*.o [per-dir .rsync-filter]`); `None` when no
    /// rule matches.
    pub fn trace(&self, side: Side, path: &[u8], is_dir: bool) -> Option<(bool, Vec<u8>)> {
        let at = self.rules.iter().position(|rule| {
            !rule.is_xattr()
                && rule.applies_to(side, self.delete_excluded)
                && rule.matches(path, is_dir)
        })?;
        let rule = &self.rules[at];
        let mut shown = rule.shown();
        if let Some(merge) = self
            .dir_merges
            .iter()
            .rev()
            .find(|m| (m.at..m.at + m.count).contains(&at))
        {
            shown.extend_from_slice(b" [per-dir ");
            shown.extend_from_slice(&merge.file);
            shown.push(b']');
        }
        Some((excluding(Some(rule)), shown))
    }

    /// `-X`: is the extended attribute `name` (`user.foo`) left alone on `side`? Only the
    /// `x` rules count, as in rsync, where `-f'-x system.*'` keeps a name out of both the
    /// sender's list and what the receiver removes.
    pub fn is_xattr_excluded(&self, side: Side, name: &[u8]) -> bool {
        let rule = self.rules.iter().find(|rule| {
            rule.is_xattr()
                && rule.applies_to(side, self.delete_excluded)
                && rule.matches(name, false)
        });
        excluding(rule)
    }

    fn decide(
        &self,
        side: Side,
        path: &[u8],
        is_dir: bool,
        with_perishable: bool,
    ) -> Option<&FilterRule> {
        self.rules.iter().find(|rule| {
            !rule.is_xattr()
                && (with_perishable || !rule.perishable())
                && rule.applies_to(side, self.delete_excluded)
                && rule.matches(path, is_dir)
        })
    }

    /// The warnings of the rules added so far, which rsync prints on stderr as it parses
    /// them and goes on: `discarding over-long filter: PATTERN` for a pattern of
    /// [`MAX_PATH`] bytes or more, which is left out of the list. A pattern from a file is
    /// shown as where it came from, not as its words.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn push_parsed(&mut self, parsed: Option<Parsed>) -> Result<(), FilterError> {
        match parsed {
            Some(Parsed::Rule(rule)) if rule.pattern_len() >= MAX_PATH => {
                self.notes.push(format!(
                    "discarding over-long filter: {}",
                    String::from_utf8_lossy(&rule.shown())
                ));
            }
            Some(Parsed::Rule(rule)) => self.rules.push(rule),
            Some(Parsed::Merge(name, _) | Parsed::DirMerge(name, _)) if name.len() >= MAX_PATH => {
                self.notes.push(format!(
                    "discarding over-long filter: {}",
                    String::from_utf8_lossy(&name)
                ));
            }
            Some(Parsed::Clear) => self.clear(),
            Some(Parsed::Many(all)) => {
                for p in all {
                    self.push_parsed(Some(p))?;
                }
            }
            // `merge FILE`: read now, from where the rule was given.
            Some(Parsed::Merge(file, mods)) => {
                let text = read_merge_file(&file).map_err(|e| FilterError::merge_file(&file, e))?;
                let mut read = |name: &[u8]| read_merge_file(name).ok();
                let rules = merge::rules_of(&text, mods, &mut read, 0);
                for p in rules.map_err(|e| e.in_named_file(&file))? {
                    let dir_merges = self.dir_merges.len();
                    self.push_parsed(Some(p))?;
                    // A dir-merge rule of a file names a file of that file's choosing.
                    for m in &mut self.dir_merges[dir_merges..] {
                        m.from_file = true;
                    }
                }
                if mods.exclude_self {
                    self.push_exclude_name(&file)?;
                }
            }
            Some(Parsed::DirMerge(file, mods)) => {
                self.dir_merges.push(merge::DirMerge {
                    file: file.clone(),
                    mods,
                    at: self.rules.len(),
                    count: 0,
                    parent: None,
                    from_file: false,
                    set_up: false,
                    name_len: 0,
                });
                if mods.exclude_self {
                    self.push_exclude_name(&file)?;
                }
            }
            None => {}
        }
        Ok(())
    }

    /// `e`: the merge file's own name, left out of the transfer.
    fn push_exclude_name(&mut self, file: &[u8]) -> Result<(), FilterError> {
        self.rules.push(merge::exclude_name(file)?);
        Ok(())
    }

    /// Whether a `dir-merge` rule is in the list: then each folder may bring rules.
    pub fn has_dir_merge(&self) -> bool {
        !self.dir_merges.is_empty()
    }
}

/// A `merge` file named on the command line (or in one it merges): `-` is stdin.
fn read_merge_file(file: &[u8]) -> std::io::Result<Vec<u8>> {
    if file == b"-" {
        let mut text = Vec::new();
        std::io::stdin().lock().read_to_end(&mut text)?;
        return Ok(text);
    }
    std::fs::read(std::ffi::OsStr::from_bytes(file))
}

fn excluding(rule: Option<&FilterRule>) -> bool {
    rule.is_some_and(|r| r.action() == Action::Exclude)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(filters: &[&str]) -> FilterList {
        let mut list = FilterList::new();
        for f in filters {
            list.push_filter(f).unwrap();
        }
        list
    }

    #[test]
    fn first_match_wins() {
        let l = list(&["+ keep.o", "- *.o"]);
        assert!(!l.is_excluded(b"keep.o", false));
        assert!(l.is_excluded(b"x.o", false));
        let l = list(&["- *.o", "+ keep.o"]);
        assert!(l.is_excluded(b"keep.o", false));
    }

    #[test]
    fn clear_empties_what_came_before() {
        let mut l = list(&["- a", "!", "- b"]);
        assert!(!l.is_excluded(b"a", false));
        assert!(l.is_excluded(b"b", false));
        l.push_exclude("!").unwrap();
        assert!(l.is_empty());
        l.push_include("- c").unwrap();
        assert!(l.is_excluded(b"c", false));
        l.push_exclude("+ c").unwrap();
        assert_eq!(l.rules().len(), 2);
        assert!(l.is_excluded(b"c", false));
    }

    #[test]
    fn empty_options_add_nothing() {
        let mut l = FilterList::new();
        l.push_exclude("").unwrap();
        l.push_include("").unwrap();
        l.push_filter("").unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn parents_are_checked() {
        let l = list(&["- /build/", "+ *.c"]);
        assert!(!l.is_excluded(b"build/x.c", false));
        assert!(l.is_excluded_with_parents(b"build/x.c", false));
        assert!(l.is_excluded_with_parents(b"build", true));
        assert!(!l.is_excluded_with_parents(b"src/build", true));
    }

    #[test]
    fn sides_and_delete_excluded() {
        let mut l = list(&["- *.o", "H *.tmp", "P *.log", "-sr *.keep"]);
        assert!(l.is_excluded(b"a.o", false) && l.is_protected(b"a.o", false));
        assert!(l.is_excluded(b"a.tmp", false) && !l.is_protected(b"a.tmp", false));
        assert!(!l.is_excluded(b"a.log", false) && l.is_protected(b"a.log", false));
        l.set_delete_excluded(true);
        assert!(l.is_excluded(b"a.o", false) && !l.is_protected(b"a.o", false));
        assert!(l.is_protected(b"a.log", false));
        assert!(l.is_excluded(b"a.keep", false) && l.is_protected(b"a.keep", false));
    }

    #[test]
    fn risk_overrides_a_later_protect() {
        let l = list(&["R important.o", "- *.o"]);
        assert!(l.is_excluded(b"important.o", false));
        assert!(!l.is_protected(b"important.o", false));
        assert_eq!(
            l.first_match(Side::Receiver, b"important.o", false)
                .map(|r| r.to_string()),
            Some("+r important.o".to_string())
        );
    }

    #[test]
    fn perishable_rules_do_not_protect_in_deleted_dirs() {
        let l = list(&["-p *.o", "- *.keep"]);
        assert!(l.is_protected(b"d/x.o", false));
        assert!(!l.is_protected_in_deleted_dir(b"d/x.o", false));
        assert!(l.is_protected_in_deleted_dir(b"d/x.keep", false));
    }

    #[test]
    fn pattern_files() {
        let text = b"# comment\n; comment too\n\n*.o\n+ keep.c\n- *.c\r\nspaced \n!x\n";
        let mut l = FilterList::new();
        l.read_from(&text[..], Action::Exclude, Delimiter::Lines)
            .unwrap();
        let got: Vec<String> = l.rules().iter().map(|r| r.to_string()).collect();
        assert_eq!(got, ["- *.o", "+ keep.c", "- *.c", "- spaced ", "- !x"]);

        let mut l = FilterList::new();
        l.read_from(&b"a\0# c\0+ b\0\0"[..], Action::Include, Delimiter::Nul)
            .unwrap();
        let got: Vec<String> = l.rules().iter().map(|r| r.to_string()).collect();
        assert_eq!(got, ["+ a", "+ b"]);

        let mut l = list(&["- x"]);
        l.read_from(&b"!\nz\n"[..], Action::Include, Delimiter::Lines)
            .unwrap();
        let got: Vec<String> = l.rules().iter().map(|r| r.to_string()).collect();
        assert_eq!(got, ["+ z"]);
    }

    #[test]
    fn pattern_file_errors_name_the_line() {
        let mut l = FilterList::new();
        let err = l
            .read_from(&b"a\r\n# x\nb\n- \n"[..], Action::Exclude, Delimiter::Lines)
            .unwrap_err();
        assert_eq!(err.kind(), FilterErrorKind::MissingPattern);
        assert_eq!(err.line(), Some(4));
        assert_eq!(
            err.to_string(),
            "bad filter rule '- ' (line 4): the rule has no pattern; hint: put a space or '_' \
             and the pattern after the rule, as in '- *.o'"
        );
        assert_eq!(l.rules().len(), 2);
    }

    #[test]
    fn read_errors_are_reported() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let err = FilterList::new()
            .read_from(Broken, Action::Exclude, Delimiter::Lines)
            .unwrap_err();
        assert_eq!(err.kind(), FilterErrorKind::Read);
        assert_eq!(err.to_string(), "cannot read filter rules: disk on fire");
        assert!(err.io_error().is_some());
    }

    /// A `dir-merge` rule in a folder's merge file is read there and below, its rules where
    /// the rule stood: ahead of the rules after it in that file, behind those before it.
    #[test]
    fn dir_merge_rules_nest_in_merge_files() {
        let l = list(&["dir-merge .outer", "- *.x"]);
        let mut read_root = |name: &[u8]| -> Option<Vec<u8>> {
            match name {
                b".outer" => Some(b"+ keep.x\ndir-merge .inner\n- *.y\n".to_vec()),
                b".inner" => Some(b"+ keep.y\n- *.z\n".to_vec()),
                _ => None,
            }
        };
        let root = l.enter_dir(b"", &mut read_root).unwrap().unwrap();
        assert!(!root.is_excluded(b"keep.x", false) && root.is_excluded(b"a.x", false));
        assert!(!root.is_excluded(b"keep.y", false) && root.is_excluded(b"a.y", false));
        assert!(root.is_excluded(b"a.z", false));
        // Below, the inner file of the subfolder comes ahead of the root's inner rules, and
        // both stay ahead of the outer file's `- *.y`.
        let mut read_sub = |name: &[u8]| -> Option<Vec<u8>> {
            (name == b".inner").then(|| b"+ sub.z\n- keep.y\n".to_vec())
        };
        let sub = root.enter_dir(b"s", &mut read_sub).unwrap().unwrap();
        assert!(!sub.is_excluded(b"s/sub.z", false) && sub.is_excluded(b"s/a.z", false));
        assert!(sub.is_excluded(b"s/keep.y", false) && !sub.is_excluded(b"s/keep.x", false));
        assert!(sub.is_excluded(b"s/a.y", false) && sub.is_excluded(b"s/a.x", false));
        // An outer file that names the inner one again does not merge it twice.
        let mut again = |name: &[u8]| -> Option<Vec<u8>> {
            (name == b".outer").then(|| b"dir-merge .inner\n".to_vec())
        };
        let deeper = sub.enter_dir(b"s/t", &mut again).unwrap().unwrap();
        assert_eq!(deeper.dir_merges.len(), 2);
        assert!(deeper.is_excluded(b"s/t/keep.y", false));
    }

    #[test]
    fn dir_merge_files_hold_in_their_folder_and_below() {
        let mut l = list(&["- *.tmp", "dir-merge .rules", "- *.o"]);
        assert_eq!(
            l.to_args(),
            [&b"- *.tmp"[..], b"dir-merge .rules", b"- *.o"]
        );
        let files = |dir: &'static [u8]| {
            move |name: &[u8]| -> Option<Vec<u8>> {
                assert_eq!(name, b".rules");
                match dir {
                    b"" => Some(b"+ keep.o\n- /top-only\n".to_vec()),
                    b"a" => Some(b"- *.c\n".to_vec()),
                    _ => None,
                }
            }
        };
        let root = l.enter_dir(b"", &mut files(b"")).unwrap().unwrap();
        assert!(!root.is_excluded(b"keep.o", false) && root.is_excluded(b"x.o", false));
        assert!(root.is_excluded(b"top-only", false) && !root.is_excluded(b"a/top-only", false));
        let a = root.enter_dir(b"a", &mut files(b"a")).unwrap().unwrap();
        assert!(a.is_excluded(b"a/x.c", false) && !a.is_excluded(b"a/keep.o", false));
        assert!(root.enter_dir(b"b", &mut files(b"b")).unwrap().is_none());
        // `n`: what a folder's file says does not hold below it.
        l = list(&["dir-merge,n .rules"]);
        let root = l.enter_dir(b"", &mut files(b"")).unwrap().unwrap();
        let b = root.enter_dir(b"b", &mut files(b"b")).unwrap().unwrap();
        assert!(!b.is_excluded(b"b/top-only", false) && b.rules().is_empty());
        // `-C`: CVS's names, perishable; `:C` reads `.cvsignore` files word by word.
        let l = list(&["-C", ":C"]);
        assert!(l.is_excluded(b"x.o", false) && l.is_excluded(b"d/.git", true));
        assert!(!l.is_protected_in_deleted_dir(b"x.o", false));
        assert_eq!(l.to_args().last().unwrap(), b"dir-merge,C .cvsignore");
        let mut read = |name: &[u8]| (name == b".cvsignore").then(|| b"a b\n".to_vec());
        let d = l.enter_dir(b"d", &mut read).unwrap().unwrap();
        assert!(d.is_excluded(b"d/a", false) && d.is_excluded(b"d/b", false));
    }

    /// A bad rule in a merge file is located, never echoed: by the file's name and line
    /// when the command line named the file, by the line that named it when another merge
    /// file did (whose words chose the name, so it is not shown either).
    #[test]
    fn merge_file_errors_say_where_not_what() {
        let dir = std::env::temp_dir().join(format!("prtools-filter-where-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        std::fs::write(path("rules"), "- ok\nSECRET-words\n").unwrap();
        std::fs::write(path("outer"), format!("- ok\n. {}\n", path("inner"))).unwrap();
        std::fs::write(path("inner"), "SECRET-words\n").unwrap();
        std::fs::write(path("gone"), ". SECRET-name\n").unwrap();
        let err = |file: &str| {
            let mut l = FilterList::new();
            l.push_filter(format!(". {}", path(file)))
                .unwrap_err()
                .to_string()
        };
        let direct = err("rules");
        assert!(direct.starts_with(&format!("bad filter rule in {} line 2: ", path("rules"))));
        let nested = err("outer");
        assert!(nested.contains(&format!("a file named at {} line 2", path("outer"))));
        assert!(!nested.contains("inner"));
        let missing = err("gone");
        assert!(missing.starts_with("failed to open a merge file named in a file named at"));
        for text in [direct, nested, missing] {
            assert!(!text.contains("SECRET"), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_messages() {
        let msg = |r: &str| FilterRule::parse(r).unwrap_err().to_string();
        assert_eq!(
            msg("dir-merge .rsync-filter"),
            "bad filter rule 'dir-merge .rsync-filter': a merge rule inside a per-directory \
             merge file is not followed; hint: put those rules in the file itself"
        );
        assert_eq!(
            msg("-q x"),
            "bad filter rule '-q x': invalid modifier 'q'; hint: after '-' or '+' the modifiers \
             are '!', 'p', 's' and 'r'; 'H', 'S', 'P' and 'R' name their side already, so they \
             take only '!' and 'p'"
        );
        assert_eq!(
            msg("! x"),
            "bad filter rule '! x': '!' clears the list and takes no pattern; hint: to match \
             names that start with '!', write '- !name'"
        );
        assert!(msg("zap x").starts_with("bad filter rule 'zap x': unknown rule; hint:"));
    }
}
