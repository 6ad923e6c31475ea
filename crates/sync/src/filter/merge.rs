//! rsync's merge rules: `merge FILE` (`.`) reads more rules from a file once, where the
//! rule stands; `dir-merge FILE` (`:`, and so `-F`) reads FILE in every folder the sender
//! walks, and its rules hold in that folder and below, ahead of what the folders above
//! gave. `-C` is the CVS list: `-C` rules (the default names, `~/.cvsignore`,
//! `$CVSIGNORE`) and a `:C` dir-merge of each folder's `.cvsignore`.

use super::error::{FilterError, FilterErrorKind};
use super::rule::{parse_bare, parse_full, Action, FilterRule, Parsed};
use super::FilterList;

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
    /// The modifiers as rsync writes them after the rule's name.
    fn letters(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.cvs {
            out.push(b'C');
        } else {
            match self.default {
                Some(Action::Exclude) => out.push(b'-'),
                Some(Action::Include) => out.push(b'+'),
                None => {}
            }
            for (on, m) in [(self.no_inherit, b'n'), (self.word_split, b'w')] {
                if on {
                    out.push(m);
                }
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
        if self.dir_merges.is_empty() {
            return Ok(None);
        }
        let mut list = self.clone();
        let mut changed = false;
        // Merges found in files read here join the end, and are read here too.
        let mut k = 0;
        while k < list.dir_merges.len() {
            let merge = list.dir_merges[k].clone();
            let mut nested = Vec::new();
            let fresh = match read(&merge.file) {
                Some(text) => {
                    let mut rules = Vec::new();
                    for parsed in rules_of(&text, merge.mods, read, 0)? {
                        match parsed {
                            Parsed::Rule(rule) => rules.push(rule.anchored_below(dir)),
                            // `!` in a merge file clears what the file said so far.
                            Parsed::Clear => {
                                rules.clear();
                                nested.clear();
                            }
                            Parsed::DirMerge(file, mods) => nested.push((rules.len(), file, mods)),
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
