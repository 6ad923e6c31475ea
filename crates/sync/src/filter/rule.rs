//! One filter rule: its syntax and how its pattern meets a path.

use std::fmt;

use super::error::{FilterError, FilterErrorKind};
use super::wild::Wild;

/// What a rule does to the paths it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `-`, `exclude`, `H` (hide), `P` (protect): leave the path out of the transfer, or
    /// keep it from being deleted.
    Exclude,
    /// `+`, `include`, `S` (show), `R` (risk): take the path even if a later rule would
    /// leave it out, or let it be deleted.
    Include,
}

/// The two ends of a transfer, which keep separate rule lists.
///
/// The sender applies its rules while it builds the file list ("hide" and "show"); the
/// receiver applies its rules when it looks for files to delete ("protect" and "risk").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The side that reads the source tree and decides what goes into the transfer.
    Sender,
    /// The side that owns the destination and decides what `--delete` may remove.
    Receiver,
}

/// One include/exclude rule, as rsync's `--filter` takes it.
///
/// [`FilterRule::parse`] reads the full rule syntax; [`FilterList`](super::FilterList)
/// also takes the plain patterns of `--exclude` and `--include`. [`FilterRule::matches`]
/// applies rsync's pattern rules to one path; which side a rule acts on, and what wins when
/// several match, is the list's business.
///
/// ```
/// use prtools_sync::filter::{Action, FilterRule};
///
/// let rule = FilterRule::parse("- build/")?;
/// assert_eq!(rule.action(), Action::Exclude);
/// assert!(rule.matches(b"src/build", true));
/// assert!(!rule.matches(b"src/build", false)); // a trailing '/' matches directories only
/// assert_eq!(rule.to_string(), "- build/");
/// # Ok::<(), prtools_sync::filter::FilterError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterRule {
    action: Action,
    /// The `s` modifier, or `H`/`S`.
    sender: bool,
    /// The `r` modifier, or `P`/`R`.
    receiver: bool,
    /// The `!` modifier: the rule acts on the paths the pattern does *not* match.
    negate: bool,
    /// The `p` modifier: ignored inside a directory that is being deleted.
    perishable: bool,
    /// The `x` modifier: the rule names extended attributes (`-X`), not paths.
    xattr: bool,
    pattern: Pattern,
    /// Where the rule came from, which a trace says (see [`FilterRule::shown`]).
    source: Source,
}

/// Where a rule came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Source {
    /// An argument: the user's own words.
    #[default]
    Given,
    /// A file's words, which may be anyone's.
    File,
    /// `-C`'s names.
    Cvs,
}

/// What one `--filter` argument, or one line of a pattern file, asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Rule(FilterRule),
    /// `!` or `clear`: empty the list so far.
    Clear,
    /// `merge FILE`: the file's rules, read where the rule stands.
    Merge(Vec<u8>, super::merge::MergeMods),
    /// `dir-merge FILE`: the file's rules in each folder.
    DirMerge(Vec<u8>, super::merge::MergeMods),
    /// Several rules one argument stands for (`-C`: the CVS names).
    Many(Vec<Parsed>),
}

impl FilterRule {
    /// Parses one rule in `--filter` syntax: `RULE[,MODIFIERS] PATTERN`, where the space may
    /// also be an `_`, and anything after that one separator (spaces included) is the pattern.
    ///
    /// Rules: `-`/`exclude`, `+`/`include`, `H`/`hide`, `S`/`show`, `P`/`protect`,
    /// `R`/`risk`. Modifiers: `!` (act on what does not match), `s` (sender side only), `r`
    /// (receiver side only), `p` (perishable), `x` (the pattern names extended attributes,
    /// see [`FilterList::is_xattr_excluded`](super::FilterList::is_xattr_excluded)).
    /// `!`/`clear` empties a list and is not a rule: give it to
    /// [`FilterList::push_filter`](super::FilterList::push_filter), as `merge`, `dir-merge`
    /// and `-C`, which stand for other rules. The `/` modifier is refused with an error
    /// that says so.
    pub fn parse(rule: impl AsRef<[u8]>) -> Result<FilterRule, FilterError> {
        let text = rule.as_ref();
        match parse_full(text)? {
            Some(Parsed::Rule(rule)) => Ok(rule),
            Some(Parsed::Clear) => Err(FilterError::new(text, FilterErrorKind::ClearIsNotARule)),
            // Rules that stand for other rules belong to a list.
            Some(Parsed::Merge(..)) => Err(FilterError::new(text, FilterErrorKind::Merge)),
            Some(Parsed::DirMerge(..)) => Err(FilterError::new(text, FilterErrorKind::DirMerge)),
            Some(Parsed::Many(..)) => Err(FilterError::new(text, FilterErrorKind::Cvs)),
            None => Err(FilterError::new(text, FilterErrorKind::MissingPattern)),
        }
    }

    /// Include or exclude.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The pattern as given, with its leading `/` if anchored and without the trailing `/`
    /// of a directory-only rule (see [`FilterRule::dir_only`]).
    pub fn pattern(&self) -> &[u8] {
        &self.pattern.text
    }

    /// Whether the pattern ended with `/`, so that it matches directories only.
    pub fn dir_only(&self) -> bool {
        self.pattern.dir_only
    }

    /// Whether the rule has the `!` modifier.
    pub fn negated(&self) -> bool {
        self.negate
    }

    /// Whether the rule has the `x` modifier: its pattern names extended attributes.
    pub fn is_xattr(&self) -> bool {
        self.xattr
    }

    /// Whether the rule has the `p` modifier: see
    /// [`FilterList::is_protected_in_deleted_dir`](super::FilterList::is_protected_in_deleted_dir).
    pub fn perishable(&self) -> bool {
        self.perishable
    }

    /// Whether the rule acts on `side`.
    ///
    /// A rule without a side (`-`, `+`, and everything from `--exclude` and `--include`) acts
    /// on both, unless `delete_excluded` (rsync's `--delete-excluded`) makes it sender-only.
    /// `s`, `H` and `S` are sender-only, `r`, `P` and `R` receiver-only, and `sr` is both
    /// whatever `--delete-excluded` says.
    pub fn applies_to(&self, side: Side, delete_excluded: bool) -> bool {
        if !self.sender && !self.receiver {
            return side == Side::Sender || !delete_excluded;
        }
        match side {
            Side::Sender => self.sender,
            Side::Receiver => self.receiver,
        }
    }

    /// Whether the rule matches `path`, a name relative to the transfer root (raw bytes,
    /// `/`-separated, no leading `/`), which is a directory if `is_dir`. A negated rule
    /// matches what its pattern does not. The root itself (the empty path) matches nothing.
    pub fn matches(&self, path: &[u8], is_dir: bool) -> bool {
        if path.is_empty() {
            return false;
        }
        if self.pattern.dir_only && !is_dir {
            return self.negate;
        }
        self.pattern.hits(path, is_dir) != self.negate
    }

    /// The rule with the side a merge rule's `s`/`r` gives the rules of its file, marked
    /// as read from a file.
    pub(crate) fn with_sides(mut self, mods: super::merge::MergeMods) -> FilterRule {
        self.sender |= mods.sender;
        self.receiver |= mods.receiver;
        self.source = Source::File;
        self
    }

    /// The pattern's length as typed (a directory-only rule's `/` included), which rsync
    /// holds to [`MAX_PATH`](super::MAX_PATH).
    pub(crate) fn pattern_len(&self) -> usize {
        self.pattern.text.len() + usize::from(self.pattern.dir_only)
    }

    /// rsync's `-- CAUTION: trailing whitespace!` trace (`--debug=FILTER`, `-vv`) of a rule
    /// the user gave whose pattern ends in a space or tab, which is then part of it and
    /// rarely meant: the rule as rsync's `add_rule` shows it. None for any other rule, and
    /// for a rule read from a file, since its words may be anyone's and even whether one
    /// ends in a space is theirs to know.
    pub fn whitespace_caution(&self) -> Option<Vec<u8>> {
        let last = *self.to_bytes().last()?;
        if self.source != Source::Given || !matches!(last, b' ' | b'\t') {
            return None;
        }
        let mut out = b"add_rule(".to_vec();
        out.extend(self.to_bytes());
        out.extend_from_slice(b") -- CAUTION: trailing whitespace!");
        Some(out)
    }

    /// The rule, marked as read from a file.
    pub(crate) fn read_from_file(mut self) -> FilterRule {
        self.source = Source::File;
        self
    }

    /// The pattern as rsync's filter trace shows it: as given (a directory-only rule with
    /// its `/`), or, for a rule read from a file, where it came from, since a file's words
    /// may be anyone's (rsync 3.5.0's `rule_text`).
    pub fn shown(&self) -> Vec<u8> {
        if self.source == Source::File {
            return b"<rule from a file read earlier>".to_vec();
        }
        let mut out = self.pattern.text.clone();
        if self.pattern.dir_only {
            out.push(b'/');
        }
        if self.source == Source::Cvs {
            out.extend_from_slice(b" [global CVS]");
        }
        out
    }

    /// A rule read from a merge file in folder `dir`: an anchored pattern (`/x`) is
    /// anchored at that folder, not at the transfer root.
    pub(crate) fn anchored_below(mut self, dir: &[u8]) -> FilterRule {
        if dir.is_empty() || !self.pattern.text.starts_with(b"/") {
            return self;
        }
        let mut text = b"/".to_vec();
        for &b in dir {
            if self.pattern.wild.is_some() && matches!(b, b'*' | b'?' | b'[' | b'\\') {
                text.push(b'\\');
            }
            text.push(b);
        }
        text.extend_from_slice(&self.pattern.text);
        if self.pattern.dir_only {
            text.push(b'/');
        }
        self.pattern = Pattern::new(&text);
        self
    }

    /// The rule in `--filter` syntax, as bytes: `FilterRule::parse` reads it back to an equal
    /// rule. `H foo` comes back as `-s foo`, which is the same rule.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![match self.action {
            Action::Exclude => b'-',
            Action::Include => b'+',
        }];
        for (on, m) in [
            (self.negate, b'!'),
            (self.sender, b's'),
            (self.receiver, b'r'),
            (self.perishable, b'p'),
            (self.xattr, b'x'),
        ] {
            if on {
                out.push(m);
            }
        }
        out.push(b' ');
        out.extend_from_slice(&self.pattern.text);
        if self.pattern.dir_only {
            out.push(b'/');
        }
        out
    }
}

/// Shows the rule in `--filter` syntax, with bytes that are not UTF-8 replaced.
impl fmt::Display for FilterRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// A pattern with the facts rsync derives from its spelling, once, when the rule is added.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    /// Without the trailing `/` of a directory-only pattern, with a leading `/` if anchored.
    text: Vec<u8>,
    dir_only: bool,
    /// How many `/` the text holds, the leading one included: with none (and no `**`) the
    /// pattern is matched against the last component only.
    slash_count: usize,
    /// The compiled matcher, for a pattern that holds `*`, `?` or `[` anywhere; other
    /// patterns are compared as plain bytes, backslashes included.
    wild: Option<Wild>,
    /// The text holds `**`: it is matched against the whole path, and may start anywhere
    /// after a `/`.
    double_star: bool,
    /// The text starts with `**`: rsync puts a `/` before the path, so that `**/x` also
    /// matches `x` at the root.
    double_star_prefix: bool,
    /// The text ends with `***`: rsync puts a `/` after a directory's path, so that `dir/***`
    /// matches `dir` itself as well as everything below it.
    triple_star_suffix: bool,
}

impl Pattern {
    fn new(pattern: &[u8]) -> Pattern {
        let mut text = pattern.to_vec();
        let mut dir_only = false;
        // A lone "/" stays as it is (and matches nothing).
        if text.len() > 1 && text.ends_with(b"/") {
            text.pop();
            dir_only = true;
        }
        let slash_count = text.iter().filter(|&&b| b == b'/').count();
        let is_wild = text.iter().any(|&b| matches!(b, b'*' | b'?' | b'['));
        // rsync looks for "**" in the raw text, before escapes are read, and so do we.
        let double_star = is_wild && text.windows(2).any(|w| w == b"**");
        let double_star_prefix = double_star && text.starts_with(b"**");
        let triple_star_suffix = double_star && text.ends_with(b"***");
        let wild = is_wild.then(|| Wild::compile(text.strip_prefix(b"/").unwrap_or(&text)));
        Pattern {
            text,
            dir_only,
            slash_count,
            wild,
            double_star,
            double_star_prefix,
            triple_star_suffix,
        }
    }

    /// Whether the pattern itself (before `!` and the directory-only check) matches.
    fn hits(&self, path: &[u8], is_dir: bool) -> bool {
        let name = if self.slash_count == 0 && !self.double_star {
            match path.iter().rposition(|&b| b == b'/') {
                Some(i) => &path[i + 1..],
                None => path,
            }
        } else {
            path
        };
        let (anchored, pattern) = match self.text.strip_prefix(b"/") {
            Some(rest) => (true, rest),
            None => (false, &self.text[..]),
        };
        let Some(wild) = &self.wild else {
            return if anchored {
                name == pattern
            } else {
                name.ends_with(pattern)
                    && (name.len() == pattern.len() || name[name.len() - pattern.len() - 1] == b'/')
            };
        };
        let prefix = self.double_star_prefix;
        let suffix = is_dir && self.triple_star_suffix;
        let joined;
        let text = if prefix || suffix {
            let mut buf = Vec::with_capacity(name.len() + 2);
            if prefix {
                buf.push(b'/');
            }
            buf.extend_from_slice(name);
            if suffix {
                buf.push(b'/');
            }
            joined = buf;
            &joined[..]
        } else {
            name
        };
        if !anchored && self.slash_count > 0 && !self.double_star {
            // "a/b" and "a/*" match the last two components, wherever they are.
            match last_components(text, self.slash_count + 1) {
                Some(tail) => wild.matches_whole(tail),
                None => false,
            }
        } else if !anchored && !self.double_star_prefix && self.double_star {
            wild.matches_after_any_slash(text)
        } else {
            wild.matches_whole(text)
        }
    }
}

/// The last `n` components of `text`, or `None` if it has fewer.
fn last_components(text: &[u8], n: usize) -> Option<&[u8]> {
    let mut left = n;
    for (i, &b) in text.iter().enumerate().rev() {
        if b == b'/' {
            left -= 1;
            if left == 0 {
                return Some(&text[i + 1..]);
            }
        }
    }
    (left == 1).then_some(text)
}

/// Parses `--filter` syntax; `None` for an empty rule, which rsync ignores.
pub(crate) fn parse_full(text: &[u8]) -> Result<Option<Parsed>, FilterError> {
    let err = |kind| FilterError::new(text, kind);
    let Some(&first) = text.first() else {
        return Ok(None);
    };
    // `at` is where rsync's cursor sits before it reads the modifiers: on the last byte of
    // the rule name, or on the comma after it.
    let (rule, at) = match first {
        b'c' => (b'!', long_name(text, b"clear")),
        b'd' => (b':', long_name(text, b"dir-merge")),
        b'e' => (b'-', long_name(text, b"exclude")),
        b'h' => (b'H', long_name(text, b"hide")),
        b'i' => (b'+', long_name(text, b"include")),
        b'm' => (b'.', long_name(text, b"merge")),
        b'p' => (b'P', long_name(text, b"protect")),
        b'r' => (b'R', long_name(text, b"risk")),
        b's' => (b'S', long_name(text, b"show")),
        b => (b, Some(usize::from(text.get(1) == Some(&b',')))),
    };
    let Some(mut at) = at else {
        return Err(err(FilterErrorKind::UnknownRule));
    };
    let (action, sender, receiver) = match rule {
        b'-' => (Action::Exclude, false, false),
        b'+' => (Action::Include, false, false),
        b'H' => (Action::Exclude, true, false),
        b'S' => (Action::Include, true, false),
        b'P' => (Action::Exclude, false, true),
        b'R' => (Action::Include, false, true),
        b'!' => {
            // `!` reads no modifiers; whatever follows the one separator is an error.
            if at + 1 < text.len() {
                return Err(err(FilterErrorKind::ClearWithPattern));
            }
            return Ok(Some(Parsed::Clear));
        }
        b'.' | b':' => return super::merge::parse_merge(text, rule == b':', at),
        _ => return Err(err(FilterErrorKind::UnknownRule)),
    };
    let side_in_name = sender || receiver;
    let mut cvs = false;
    let mut rule = FilterRule {
        action,
        sender,
        receiver,
        negate: false,
        perishable: false,
        xattr: false,
        pattern: Pattern::new(b""),
        source: Source::Given,
    };
    loop {
        at += 1;
        let Some(&m) = text.get(at) else { break };
        if m == b' ' || m == b'_' {
            at += 1;
            break;
        }
        match m {
            b'!' => rule.negate = true,
            b'p' => rule.perishable = true,
            b's' if !side_in_name => rule.sender = true,
            b'r' if !side_in_name => rule.receiver = true,
            b'/' => return Err(err(FilterErrorKind::AbsolutePath)),
            b'x' => rule.xattr = true,
            b'C' if !side_in_name => cvs = true,
            _ => return Err(err(FilterErrorKind::InvalidModifier(m))),
        }
    }
    let pattern = text.get(at..).unwrap_or_default();
    if cvs {
        // `-C`: CVS's default names (perishable, as rsync makes them), then the user's
        // `~/.cvsignore` and `$CVSIGNORE`.
        if !pattern.is_empty() {
            return Err(err(FilterErrorKind::Cvs));
        }
        let mut rules: Vec<Parsed> = Vec::new();
        let mut words = |text: &[u8], perishable: bool| {
            for word in text
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                let mut r = rule.clone();
                r.perishable |= perishable;
                r.source = Source::Cvs;
                r.pattern = Pattern::new(word);
                rules.push(Parsed::Rule(r));
            }
        };
        words(super::merge::CVS_DEFAULTS, true);
        if let Some(home) = std::env::var_os("HOME") {
            if let Ok(text) = std::fs::read(std::path::Path::new(&home).join(".cvsignore")) {
                words(&text, false);
            }
        }
        if let Some(env) = std::env::var_os("CVSIGNORE") {
            words(
                std::os::unix::ffi::OsStrExt::as_bytes(env.as_os_str()),
                false,
            );
        }
        return Ok(Some(Parsed::Many(rules)));
    }
    if pattern.is_empty() {
        return Err(err(FilterErrorKind::MissingPattern));
    }
    rule.pattern = Pattern::new(pattern);
    Ok(Some(Parsed::Rule(rule)))
}

/// Where rsync's cursor lands after a long rule name: on its last byte when a space, `_` or
/// the end follows, on the comma when modifiers follow; `None` if `text` is not that name.
fn long_name(text: &[u8], name: &[u8]) -> Option<usize> {
    let rest = text.strip_prefix(name)?;
    match rest.first() {
        None | Some(b'_') => Some(name.len() - 1),
        Some(b) if b.is_ascii_whitespace() || *b == 0x0b => Some(name.len() - 1),
        Some(b',') => Some(name.len()),
        Some(_) => None,
    }
}

/// Parses the plain patterns of `--exclude`, `--include` and their `-from` files, where the
/// only syntax is an optional `- ` or `+ ` prefix and a lone `!`; `None` for an empty one.
pub(crate) fn parse_plain(text: &[u8], default: Action) -> Result<Option<Parsed>, FilterError> {
    if text.is_empty() {
        return Ok(None);
    }
    let (action, pattern) = if let Some(rest) = text.strip_prefix(b"- ") {
        (Action::Exclude, rest)
    } else if let Some(rest) = text.strip_prefix(b"+ ") {
        (Action::Include, rest)
    } else if text == b"!" {
        return Ok(Some(Parsed::Clear));
    } else {
        (default, text)
    };
    if pattern.is_empty() {
        return Err(FilterError::new(text, FilterErrorKind::MissingPattern));
    }
    Ok(Some(parse_bare(pattern, action)))
}

/// A line of a merge file read with a `-` or `+` modifier: the whole line is the pattern
/// (`+ x` excludes a file named "+ x"), as rsync reads such files without prefixes.
pub(crate) fn parse_bare(pattern: &[u8], action: Action) -> Parsed {
    Parsed::Rule(FilterRule {
        action,
        sender: false,
        receiver: false,
        negate: false,
        perishable: false,
        xattr: false,
        pattern: Pattern::new(pattern),
        source: Source::Given,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> FilterRule {
        FilterRule::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn kind(text: &str) -> FilterErrorKind {
        FilterRule::parse(text).unwrap_err().kind()
    }

    fn hit(pattern: &str, path: &str, is_dir: bool) -> bool {
        rule(&format!("- {pattern}")).matches(path.as_bytes(), is_dir)
    }

    #[test]
    fn short_and_long_names() {
        for (text, action, s, r) in [
            ("- a", Action::Exclude, false, false),
            ("+ a", Action::Include, false, false),
            ("exclude a", Action::Exclude, false, false),
            ("include a", Action::Include, false, false),
            ("H a", Action::Exclude, true, false),
            ("hide a", Action::Exclude, true, false),
            ("S a", Action::Include, true, false),
            ("show a", Action::Include, true, false),
            ("P a", Action::Exclude, false, true),
            ("protect a", Action::Exclude, false, true),
            ("R a", Action::Include, false, true),
            ("risk a", Action::Include, false, true),
            ("-_a", Action::Exclude, false, false),
            ("exclude_a", Action::Exclude, false, false),
        ] {
            let got = rule(text);
            assert_eq!(got.action(), action, "{text}");
            assert_eq!((got.sender, got.receiver), (s, r), "{text}");
            assert_eq!(got.pattern(), b"a", "{text}");
        }
    }

    #[test]
    fn modifiers() {
        let r = rule("-! */");
        assert!(r.negated() && r.dir_only());
        assert_eq!(r.pattern(), b"*");
        let r = rule("+sp foo");
        assert!(r.sender && !r.receiver && r.perishable());
        let r = rule("-,r foo");
        assert!(r.receiver && !r.sender);
        let r = rule("exclude,sr foo");
        assert!(r.sender && r.receiver);
        let r = rule("H,p foo");
        assert!(r.sender && r.perishable());
        let r = rule("P! foo");
        assert!(r.receiver && r.negated());
    }

    #[test]
    fn only_one_separator_is_eaten() {
        assert_eq!(rule("-  a").pattern(), b" a");
        assert_eq!(rule("-__a").pattern(), b"_a");
        assert_eq!(rule("- a ").pattern(), b"a ");
        assert_eq!(rule("- a b/").pattern(), b"a b");
    }

    #[test]
    fn trailing_slash_and_lone_slash() {
        let r = rule("- a//");
        assert!(r.dir_only());
        assert_eq!(r.pattern(), b"a/");
        let r = rule("- /");
        assert!(!r.dir_only());
        assert!(!r.matches(b"a", true));
    }

    #[test]
    fn refused_rules() {
        assert_eq!(kind("merge .rules"), FilterErrorKind::Merge);
        assert_eq!(kind(". .rules"), FilterErrorKind::Merge);
        assert_eq!(kind("dir-merge .rsync-filter"), FilterErrorKind::DirMerge);
        assert_eq!(kind(": /.rsync-filter"), FilterErrorKind::DirMerge);
        assert_eq!(kind(":C"), FilterErrorKind::DirMerge);
        assert_eq!(kind("-/ /etc/passwd"), FilterErrorKind::AbsolutePath);
        assert_eq!(kind("-C"), FilterErrorKind::Cvs);
        assert_eq!(kind("HC"), FilterErrorKind::InvalidModifier(b'C'));
        assert_eq!(kind("Hs foo"), FilterErrorKind::InvalidModifier(b's'));
        assert_eq!(kind("Pr foo"), FilterErrorKind::InvalidModifier(b'r'));
        assert_eq!(kind("-e foo"), FilterErrorKind::InvalidModifier(b'e'));
        assert_eq!(kind("-!foo"), FilterErrorKind::InvalidModifier(b'f'));
        assert_eq!(kind("excludes foo"), FilterErrorKind::UnknownRule);
        assert_eq!(kind("p foo"), FilterErrorKind::UnknownRule);
        assert_eq!(kind("x foo"), FilterErrorKind::UnknownRule);
        assert_eq!(
            kind("exclude\tfoo"),
            FilterErrorKind::InvalidModifier(b'\t')
        );
        assert_eq!(kind("-"), FilterErrorKind::MissingPattern);
        assert_eq!(kind("- "), FilterErrorKind::MissingPattern);
        assert_eq!(kind("exclude"), FilterErrorKind::MissingPattern);
        assert_eq!(kind("-,"), FilterErrorKind::MissingPattern);
        assert_eq!(kind(""), FilterErrorKind::MissingPattern);
        assert_eq!(kind("!"), FilterErrorKind::ClearIsNotARule);
        assert_eq!(kind("! x"), FilterErrorKind::ClearWithPattern);
        assert_eq!(kind("clear x"), FilterErrorKind::ClearWithPattern);
    }

    #[test]
    fn clear_forms() {
        for text in ["!", "clear", "clear,", "!,"] {
            assert_eq!(
                parse_full(text.as_bytes()).unwrap(),
                Some(Parsed::Clear),
                "{text}"
            );
        }
    }

    #[test]
    fn plain_patterns() {
        let plain = |t: &str, a| parse_plain(t.as_bytes(), a).unwrap();
        let Some(Parsed::Rule(r)) = plain("- foo", Action::Include) else {
            panic!()
        };
        assert_eq!((r.action(), r.pattern()), (Action::Exclude, &b"foo"[..]));
        let Some(Parsed::Rule(r)) = plain("+ foo", Action::Exclude) else {
            panic!()
        };
        assert_eq!(r.action(), Action::Include);
        // No other syntax: "P foo" and "-! x" are patterns.
        let Some(Parsed::Rule(r)) = plain("P foo", Action::Exclude) else {
            panic!()
        };
        assert_eq!(r.pattern(), b"P foo");
        let Some(Parsed::Rule(r)) = plain("!x", Action::Exclude) else {
            panic!()
        };
        assert_eq!(r.pattern(), b"!x");
        assert_eq!(plain("!", Action::Exclude), Some(Parsed::Clear));
        assert_eq!(plain("", Action::Exclude), None);
        let err = parse_plain(b"- ", Action::Exclude).unwrap_err();
        assert_eq!(err.kind(), FilterErrorKind::MissingPattern);
    }

    #[test]
    fn display_round_trips() {
        for text in ["- a", "+ b/", "-! */", "-sr x", "+p /a/**", "H y", "R z/"] {
            let r = rule(text);
            assert_eq!(rule(&r.to_string()), r, "{text}");
        }
        assert_eq!(rule("hide foo").to_string(), "-s foo");
        assert_eq!(rule("P foo").to_string(), "-r foo");
    }

    #[test]
    fn sides() {
        let plain = rule("- a");
        assert!(plain.applies_to(Side::Sender, false) && plain.applies_to(Side::Receiver, false));
        assert!(plain.applies_to(Side::Sender, true) && !plain.applies_to(Side::Receiver, true));
        let hide = rule("H a");
        assert!(hide.applies_to(Side::Sender, false) && !hide.applies_to(Side::Receiver, false));
        let protect = rule("P a");
        assert!(!protect.applies_to(Side::Sender, false));
        assert!(protect.applies_to(Side::Receiver, true));
        let both = rule("-sr a");
        assert!(both.applies_to(Side::Sender, true) && both.applies_to(Side::Receiver, true));
    }

    #[test]
    fn name_only_without_slash() {
        assert!(hit("foo", "foo", false));
        assert!(hit("foo", "a/b/foo", false));
        assert!(!hit("foo", "a/foo/b", false));
        assert!(!hit("foo", "xfoo", false));
        assert!(hit("*.o", "a/b.o", false));
        assert!(!hit("*.o", "a.o/b", false));
    }

    #[test]
    fn slash_matches_trailing_components() {
        assert!(hit("a/b", "a/b", false));
        assert!(hit("a/b", "x/a/b", false));
        assert!(!hit("a/b", "xa/b", false));
        assert!(!hit("a/b", "a/b/c", false));
        assert!(hit("a/*", "x/a/b", false));
        assert!(!hit("a/*", "xa/b", false));
        assert!(hit("foo/*/bar", "q/foo/1/bar", false));
        assert!(!hit("foo/*/bar", "foo/1/2/bar", false));
        assert!(!hit("a/*", "b", false));
    }

    #[test]
    fn leading_slash_anchors() {
        assert!(hit("/foo", "foo", false));
        assert!(!hit("/foo", "a/foo", false));
        assert!(hit("/a/*", "a/b", false));
        assert!(!hit("/a/*", "x/a/b", false));
        assert!(hit("/a/b", "a/b", true));
        assert!(!hit("/a/b", "x/a/b", true));
    }

    #[test]
    fn directory_only() {
        assert!(hit("foo/", "x/foo", true));
        assert!(!hit("foo/", "x/foo", false));
        assert!(hit("/x/", "x", true));
        // A negated directory-only rule takes every non-directory.
        let r = rule("-! */");
        assert!(r.matches(b"a/file", false));
        assert!(!r.matches(b"a/dir", true));
    }

    #[test]
    fn double_star() {
        assert!(hit("a/**", "a/b", false));
        assert!(hit("a/**", "x/a/b/c", false));
        assert!(!hit("a/**", "a", true));
        assert!(hit("/a/**", "a/b/c", false));
        assert!(!hit("/a/**", "x/a/b", false));
        assert!(hit("/foo/**/bar", "foo/x/bar", false));
        assert!(!hit("/foo/**/bar", "foo/bar", false));
        // A leading `**` also matches at the root: rsync puts a `/` before the path.
        assert!(hit("**/foo", "foo", false));
        assert!(hit("**/foo", "a/b/foo", false));
        // `**` with no slash still reaches the whole path.
        assert!(hit("x**", "x/y", false));
        assert!(hit("**.o", "a/b.o", false));
        assert!(hit("b**", "a/b/c", false));
    }

    #[test]
    fn triple_star() {
        assert!(hit("dir/***", "dir", true));
        assert!(hit("dir/***", "dir/a/b", false));
        assert!(hit("dir/***", "x/dir", true));
        assert!(!hit("dir/***", "dir", false));
        assert!(hit("/dir/***", "dir", true));
        assert!(!hit("/dir/***", "x/dir", true));
    }

    #[test]
    fn literal_backslash_without_wildcards() {
        // Without `*`, `?` or `[` a backslash is an ordinary byte...
        assert!(hit("a\\b", "a\\b", false));
        // ...and with one it escapes.
        assert!(hit("a\\b*", "ab", false));
        assert!(!hit("a\\b*", "a\\b", false));
    }

    #[test]
    fn root_matches_nothing() {
        assert!(!rule("- **").matches(b"", true));
        assert!(!rule("-! x").matches(b"", true));
    }

    #[test]
    fn last_components_counts_slashes() {
        assert_eq!(last_components(b"a/b/c", 2), Some(&b"b/c"[..]));
        assert_eq!(last_components(b"b/c", 2), Some(&b"b/c"[..]));
        assert_eq!(last_components(b"c", 2), None);
        assert_eq!(last_components(b"c", 1), Some(&b"c"[..]));
    }
}
