//! rsync's merge rules: `merge FILE` (`.`) reads more rules from a file once, where the
//! rule stands; `dir-merge FILE` (`:`, and so `-F`) reads FILE in every folder the sender
//! walks, and its rules hold in that folder and below, ahead of what the folders above
//! gave. `-C` is the CVS list: `-C` rules (the default names, `~/.cvsignore`,
//! `$CVSIGNORE`) and a `:C` dir-merge of each folder's `.cvsignore`.

use super::error::{FilterError, FilterErrorKind};
use super::rule::{parse_bare, parse_full, Action, FilterRule, Parsed};
use super::{FilterList, MAX_PATH};

/// rsync's names CVS ignores by default (its `DEFAULT_CVSIGNORE`).
pub(crate) const CVS_DEFAULTS: &[u8] = b"RCS SCCS CVS CVS.adm RCSLOG cvslog.* tags TAGS \
    .make.state .nse_depinfo *~ #* .#* ,* _$* *$ *.old *.bak *.BAK *.orig *.rej .del-* *.a \
    *.olb *.o *.obj *.so *.exe *.Z *.elc *.ln core .svn/ .git/ .hg/ .bzr/";

/// How a merge file's lines are read, from the rule's modifiers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeMods {
    /// `-` or `+`: each line is a plain pattern of that kind, not a rule.
    pub(crate) default: Option<Action>,
    /// `n`: the rules do not hold in subfolders.
    pub(crate) no_inherit: bool,
    /// `e`: the merge file itself is not sent.
    pub(crate) exclude_self: bool,
    /// `w`: words, not lines (spaces split them).
    pub(crate) word_split: bool,
    /// `C`: CVS's `.cvsignore` syntax (`n`, `-`, `w`).
    pub(crate) cvs: bool,
    /// `s`/`r`: the rules act on that side only.
    pub(crate) sender: bool,
    pub(crate) receiver: bool,
}

impl MergeMods {
    /// The modifiers as rsync writes them after the rule's name, in its order.
    fn letters(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.cvs {
            out.push(b'C');
        } else {
            for (on, m) in [(self.no_inherit, b'n'), (self.word_split, b'w')] {
                if on {
                    out.push(m);
                }
            }
            match self.default {
                Some(Action::Exclude) => out.push(b'-'),
                Some(Action::Include) => out.push(b'+'),
                None => {}
            }
        }
        for (on, m) in [
            (self.exclude_self, b'e'),
            (self.sender, b's'),
            (self.receiver, b'r'),
        ] {
            if on {
                out.push(m);
            }
        }
        out
    }
}

/// A `dir-merge` rule in a list: which file, and where its rules stand in the list now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirMerge {
    pub(crate) file: Vec<u8>,
    pub(crate) mods: MergeMods,
    /// The index in the list where the rules read for the folder being walked begin.
    pub(crate) at: usize,
    /// How many rules read from merge files are there now.
    pub(crate) count: usize,
    /// For a `dir-merge` rule found in another one's file, that one's file name: its rules
    /// stand inside that file's rules, and go when those go.
    pub(crate) parent: Option<Vec<u8>>,
    /// The rule came out of a file, so its file name is that file's words: messages show
    /// where it came from instead.
    pub(crate) from_file: bool,
    /// Its name has been checked against [`MAX_PATH`] in the first folder it was read in,
    /// where rsync sets a `dir-merge` up.
    pub(crate) set_up: bool,
    /// How long a name rsync puts after each folder's: a name with a `/` that fits when it
    /// is set up is cut to its last component then, else it stays whole.
    pub(crate) name_len: usize,
}

impl DirMerge {
    /// The merge's name as a message may show it: itself, or where it came from.
    fn shown(&self, name: &[u8]) -> String {
        match self.from_file {
            true => "<rule from a file read earlier>".to_string(),
            false => String::from_utf8_lossy(name).into_owned(),
        }
    }
}

impl DirMerge {
    /// The rule in `--filter` syntax, for the other end's command line.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"dir-merge".to_vec();
        let letters = self.mods.letters();
        if !letters.is_empty() {
            out.push(b',');
            out.extend(letters);
        }
        out.push(b' ');
        out.extend_from_slice(&self.file);
        out
    }
}

/// The rule of a merge's `e` modifier: its file's last name, excluded.
pub(crate) fn exclude_name(file: &[u8]) -> Result<FilterRule, FilterError> {
    let name = file.rsplit(|&b| b == b'/').next().unwrap_or(file);
    let mut rule = b"- ".to_vec();
    rule.extend_from_slice(name);
    match parse_full(&rule)? {
        Some(Parsed::Rule(rule)) => Ok(rule),
        _ => Err(FilterError::new(&rule, FilterErrorKind::MissingPattern)),
    }
}

/// Parses the rest of a merge rule (`at` is rsync's cursor after its name): modifiers, one
/// separator, the file name.
pub(crate) fn parse_merge(
    text: &[u8],
    per_dir: bool,
    mut at: usize,
) -> Result<Option<Parsed>, FilterError> {
    let err = |kind| FilterError::new(text, kind);
    let mut mods = MergeMods::default();
    loop {
        at += 1;
        let Some(&m) = text.get(at) else { break };
        if m == b' ' || m == b'_' {
            at += 1;
            break;
        }
        match m {
            b'-' => mods.default = Some(Action::Exclude),
            b'+' => mods.default = Some(Action::Include),
            b'n' => mods.no_inherit = true,
            b'e' => mods.exclude_self = true,
            b'w' => mods.word_split = true,
            b'C' => {
                mods.cvs = true;
                mods.no_inherit = true;
                mods.word_split = true;
                mods.default = Some(Action::Exclude);
            }
            b's' => mods.sender = true,
            b'r' => mods.receiver = true,
            b'/' => return Err(err(FilterErrorKind::AbsolutePath)),
            _ => return Err(err(FilterErrorKind::InvalidModifier(m))),
        }
    }
    let mut file = text.get(at..).unwrap_or_default().to_vec();
    if file.is_empty() {
        match mods.cvs {
            true => file = b".cvsignore".to_vec(),
            false => return Err(err(FilterErrorKind::MissingPattern)),
        }
    }
    Ok(Some(match per_dir {
        true => {
            // A leading `/` (as -F has it) names the file in each folder all the same.
            let file = file.strip_prefix(b"/").map(<[u8]>::to_vec).unwrap_or(file);
            Parsed::DirMerge(file, mods)
        }
        false => Parsed::Merge(file, mods),
    }))
}

/// How deep merge files may name merge files, as rsync's `MAX_MERGE_DEPTH`: a file that
/// merges itself stops here with an error, not a stack overflow.
const MAX_DEPTH: usize = 32;

/// The rules of merge-file `text`, read as `mods` say; a `merge` rule in it is followed
/// (its file found by `read`), up to [`MAX_DEPTH`] files deep; a `dir-merge` rule is
/// returned where it stands. An error never shows the file's words, which may be anyone's
/// (the file is named by a rule a peer may choose).
pub(crate) fn rules_of(
    text: &[u8],
    mods: MergeMods,
    read: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    depth: usize,
) -> Result<Vec<Parsed>, FilterError> {
    let mut out = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let words: Vec<&[u8]> = match mods.word_split {
            true => line
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .collect(),
            false => vec![line],
        };
        for word in words {
            if word.is_empty() || (mods.default.is_none() && matches!(word[0], b'#' | b';')) {
                continue;
            }
            let parsed = match mods.default {
                // Only CVS's files clear the list with a `!`.
                Some(_) if mods.cvs && word == b"!" => Some(Parsed::Clear),
                Some(action) => Some(parse_bare(word, action)),
                None => parse_full(word).map_err(|e| e.at_line(line_no).in_file())?,
            };
            match parsed {
                // rsync discards a pattern it could not hold (with a warning that does not
                // show it: the file's words are not ours to print).
                Some(Parsed::Rule(rule)) if rule.pattern_len() >= MAX_PATH => {}
                Some(Parsed::Merge(name, _) | Parsed::DirMerge(name, _))
                    if name.len() >= MAX_PATH => {}
                Some(Parsed::Rule(rule)) => out.push(Parsed::Rule(rule.with_sides(mods))),
                Some(Parsed::Merge(file, inner)) => {
                    if depth + 1 >= MAX_DEPTH {
                        return Err(FilterError::depth_limit(MAX_DEPTH));
                    }
                    let Some(text) = read(&file) else {
                        let gone = std::io::Error::from_raw_os_error(libc::ENOENT);
                        return Err(FilterError::hidden_merge_file(gone).nested_at(line_no));
                    };
                    let nested = rules_of(&text, inner, read, depth + 1);
                    out.extend(nested.map_err(|e| e.nested_at(line_no))?);
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
    }
    Ok(out)
}

impl FilterList {
    /// The `dir-merge` rules of the list as given, each with the index of the rule it
    /// stands before and its text as rsync sends it to the other side (`:` and the
    /// modifiers in rsync's order, a space, the file), and whether it acts on the sender
    /// and on the receiver only.
    pub fn dir_merge_rules(&self) -> Vec<(usize, Vec<u8>, bool, bool)> {
        self.dir_merges
            .iter()
            .filter(|m| m.parent.is_none())
            .map(|m| {
                let text = [&b":"[..], &m.mods.letters(), b" ", &m.file].concat();
                (m.at, text, m.mods.sender, m.mods.receiver)
            })
            .collect()
    }

    /// The list that holds in folder `dir` (a path below the transfer root, empty for the
    /// root itself), whose parent's list is this one: each `dir-merge` file found in it by
    /// `read` adds its rules ahead of those the folders above gave (or in their place, for
    /// `n`). A `dir-merge` rule in such a file is read in this folder and below, its rules
    /// standing where the rule stood, as rsync nests them (a name already merged is not
    /// merged twice). `None` when nothing changes, so that the caller keeps this list.
    pub fn enter_dir(
        &self,
        dir: &[u8],
        read: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<Option<FilterList>, FilterError> {
        self.enter_dir_at(dir, None, read, &mut Vec::new())
    }

    /// [`FilterList::enter_dir`], where `full` is the folder's full path (as rsync builds
    /// it, from `/`): a `dir-merge` file whose full name would be [`MAX_PATH`] bytes or more
    /// is not read there, and `errors` gets rsync's words for it, which make the run's
    /// status 23. `merge-file name overflows: NAME` once, in the first folder, for a name
    /// with a `/` (which rsync makes a full path then), and `cannot add local filter rules
    /// in long-named directory: PATH` in each folder where it does not fit. A name that
    /// came from a file is shown as where it came from.
    pub fn enter_dir_at(
        &self,
        dir: &[u8],
        full: Option<&[u8]>,
        read: &mut dyn FnMut(&[u8]) -> Option<Vec<u8>>,
        errors: &mut Vec<String>,
    ) -> Result<Option<FilterList>, FilterError> {
        if self.dir_merges.is_empty() {
            return Ok(None);
        }
        let mut list = self.clone();
        let mut changed = false;
        // rsync's `dirbuf`: the folder with a `/` after it.
        let base = full.map(|full| {
            let mut base = full.to_vec();
            if !base.ends_with(b"/") {
                base.push(b'/');
            }
            base
        });
        // Merges found in files read here join the end, and are read here too.
        let mut k = 0;
        while k < list.dir_merges.len() {
            let mut merge = list.dir_merges[k].clone();
            if let Some(base) = &base {
                if !merge.set_up {
                    merge.set_up = true;
                    merge.name_len = merge.file.len();
                    if merge.file.contains(&b'/') {
                        if base.len() + merge.file.len() >= MAX_PATH {
                            errors.push(format!(
                                "merge-file name overflows: {}",
                                merge.shown(&merge.file)
                            ));
                        } else {
                            let last = merge.file.rsplit(|&b| b == b'/').next();
                            merge.name_len = last.map_or(0, <[u8]>::len);
                        }
                    }
                    list.dir_merges[k] = merge.clone();
                    changed = true;
                }
                if base.len() + merge.name_len >= MAX_PATH {
                    // What fits of the full name, as rsync's truncating copy leaves it.
                    let mut name = base.clone();
                    name.extend_from_slice(&merge.file);
                    name.truncate(MAX_PATH - 1);
                    errors.push(format!(
                        "cannot add local filter rules in long-named directory: {}",
                        merge.shown(&name)
                    ));
                    k += 1;
                    continue;
                }
            }
            let mut nested = Vec::new();
            let fresh = match read(&merge.file) {
                Some(text) => {
                    let mut rules = Vec::new();
                    // A bad rule is located in the file, by its full name where that is
                    // known, unless the name itself came from a file.
                    let located = |e: FilterError| match merge.from_file {
                        true => e,
                        false => {
                            let mut name = base.clone().unwrap_or_default();
                            name.extend_from_slice(&merge.file);
                            e.in_named_file(&name)
                        }
                    };
                    for parsed in rules_of(&text, merge.mods, read, 0).map_err(located)? {
                        match parsed {
                            Parsed::Rule(rule) => rules.push(rule.anchored_below(dir)),
                            // `!` in a merge file clears what the file said so far.
                            Parsed::Clear => {
                                rules.clear();
                                nested.clear();
                            }
                            Parsed::DirMerge(file, mods) => {
                                // `e`: the file's own name is left out too, by a rule that
                                // follows the merge's and, like it, came from this file.
                                if mods.exclude_self {
                                    rules.push(exclude_name(&file)?.read_from_file());
                                }
                                let at = rules.len() - usize::from(mods.exclude_self);
                                nested.push((at, file, mods));
                            }
                            Parsed::Merge(..) | Parsed::Many(..) => {}
                        }
                    }
                    rules
                }
                None if merge.mods.no_inherit && merge.count > 0 => Vec::new(),
                None => {
                    k += 1;
                    continue;
                }
            };
            changed = true;
            list.splice_merge(k, fresh);
            for (pos, file, mods) in nested {
                if list.dir_merges.iter().any(|m| m.file == file) {
                    continue;
                }
                list.dir_merges.push(DirMerge {
                    file,
                    mods,
                    at: list.dir_merges[k].at + pos,
                    count: 0,
                    parent: Some(merge.file.clone()),
                    from_file: true,
                    set_up: false,
                    name_len: 0,
                });
            }
            k += 1;
        }
        Ok(changed.then_some(list))
    }

    /// Puts `fresh` rules in merge `k`'s place: ahead of what it held, or instead of it for
    /// `n` (and then the merges nested in what it held go too). The places of the others
    /// move to match.
    fn splice_merge(&mut self, k: usize, fresh: Vec<FilterRule>) {
        let merge = self.dir_merges[k].clone();
        let old = merge.at..merge.at + merge.count;
        let added = fresh.len();
        let mut new = fresh;
        if merge.mods.no_inherit {
            let inside = self.descendants(&merge.file);
            let mut i = 0;
            self.dir_merges.retain(|_| {
                i += 1;
                !inside.contains(&(i - 1))
            });
        } else {
            new.extend(self.rules[old.clone()].iter().cloned());
        }
        let k = self
            .dir_merges
            .iter()
            .position(|m| m.file == merge.file)
            .expect("the merge itself stays");
        let delta = new.len() as isize - merge.count as isize;
        self.rules.splice(old.clone(), new);
        let inside = self.descendants(&merge.file);
        let ancestors = self.ancestors(&merge.file);
        for (j, m) in self.dir_merges.iter_mut().enumerate() {
            if j == k {
                m.count = (m.count as isize + delta) as usize;
            } else if inside.contains(&j) {
                m.at += added;
            } else if ancestors.contains(&j) {
                m.count = (m.count as isize + delta) as usize;
            } else if m.at >= old.end && !(m.at == old.end && old.is_empty() && j < k) {
                m.at = (m.at as isize + delta) as usize;
            }
        }
    }

    /// The indexes of the merges nested, at any depth, in `file`'s rules.
    fn descendants(&self, file: &[u8]) -> Vec<usize> {
        (0..self.dir_merges.len())
            .filter(|&j| self.ancestors_of(j).any(|a| a == file))
            .collect()
    }

    /// The indexes of the merges `file`'s rules stand inside.
    fn ancestors(&self, file: &[u8]) -> Vec<usize> {
        let Some(k) = self.dir_merges.iter().position(|m| m.file == file) else {
            return Vec::new();
        };
        let names: Vec<Vec<u8>> = self.ancestors_of(k).map(<[u8]>::to_vec).collect();
        (0..self.dir_merges.len())
            .filter(|&j| names.contains(&self.dir_merges[j].file))
            .collect()
    }

    /// The file names of the merges merge `j` stands inside, nearest first.
    fn ancestors_of(&self, j: usize) -> impl Iterator<Item = &[u8]> {
        let mut next = self.dir_merges[j].parent.as_deref();
        std::iter::from_fn(move || {
            let name = next?;
            next = self
                .dir_merges
                .iter()
                .find(|m| m.file == name)
                .and_then(|m| m.parent.as_deref());
            Some(name)
        })
    }

    /// The rules as `--filter` arguments, `dir-merge` rules where they stand, for the
    /// other end, which rebuilds the same list from them.
    pub fn to_args(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut merges = self.dir_merges.iter().peekable();
        for (i, rule) in self.rules.iter().enumerate() {
            while let Some(m) = merges.next_if(|m| m.at == i) {
                out.push(m.to_bytes());
            }
            out.push(rule.to_bytes());
        }
        out.extend(merges.map(DirMerge::to_bytes));
        out
    }
}
