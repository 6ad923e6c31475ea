//! `--compare-dest`, `--copy-dest` and `--link-dest`: folders beside the destination that
//! the receiver looks in for a file it lacks, as rsync's `try_dests_reg`/`try_dests_non` do.
//!
//! Each folder is tried in the order given, and the best match wins: a file of the same
//! kind (a basis for the delta), one that passes the quick check (it can be copied here
//! instead of sent), or one whose attributes match too (the first such ends the search). An
//! exact match is then left out (`--compare-dest`), hard-linked (`--link-dest`) or copied
//! (`--copy-dest`), all without an `-i` line, as rsync does.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use prtools_sync::{FileStat, RelPath, Root};

/// Which of the three options, which rsync does not let one mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AltKind {
    /// `--compare-dest`: an exact match is not put in the destination at all.
    Compare,
    /// `--copy-dest`: an exact match is copied from there rather than sent.
    Copy,
    /// `--link-dest`: an exact match is hard-linked from there.
    Link,
}

impl AltKind {
    /// The option's name, as typed.
    pub fn flag(self) -> &'static str {
        match self {
            AltKind::Compare => "--compare-dest",
            AltKind::Copy => "--copy-dest",
            AltKind::Link => "--link-dest",
        }
    }
}

/// The folders of one of the options, as given (a relative one is below the destination).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AltDest {
    /// Which option.
    pub kind: AltKind,
    /// The folders, in the order given.
    pub dirs: Vec<PathBuf>,
    /// `--insecure-links`: a folder's path is followed as it is (see [`AltDest::find`]).
    pub insecure: bool,
}

/// rsync's limit on the folders (`MAX_BASIS_DIRS`).
pub const MAX_DIRS: usize = 20;

/// How well a file in one of the folders matches the sender's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Same kind of file: a basis for the delta.
    Kind,
    /// It also passes the quick check: the data need not be sent.
    Data,
    /// Its attributes match too: nothing needs to change.
    Exact,
}

/// The best match found for one name.
#[derive(Clone, Debug)]
pub struct Found {
    /// How well it matches.
    pub level: Level,
    /// Where it is.
    pub path: PathBuf,
    /// What `lstat` said of it.
    pub stat: FileStat,
    /// Which of the folders it is in (rsync's basis type on the wire).
    pub dir: usize,
}

impl AltDest {
    /// Builds the option from the folders in the order typed; `None` when there are none,
    /// an error in rsync's words when the options are mixed or the folders too many.
    pub fn from_given(given: Vec<(AltKind, PathBuf)>) -> Result<Option<AltDest>, String> {
        let Some(&(kind, _)) = given.first() else {
            return Ok(None);
        };
        if let Some((other, _)) = given.iter().find(|(k, _)| *k != kind) {
            return Err(format!(
                "the {} option conflicts with the {} option",
                other.flag(),
                kind.flag()
            ));
        }
        if given.len() > MAX_DIRS {
            return Err(format!(
                "at most {MAX_DIRS} {} args may be specified",
                kind.flag()
            ));
        }
        Ok(Some(AltDest {
            kind,
            dirs: given.into_iter().map(|(_, dir)| dir).collect(),
            insecure: false,
        }))
    }

    /// The folders as the receiver looks in them: a relative one below the destination
    /// `dest_dir`, or, in a dry run whose destination does not exist yet, with one leading
    /// `../` taken as that missing folder's, as rsync's `check_alt_basis_dirs` does. A folder
    /// that is not there, or is not a folder, gets a warning in rsync's words (returned, for
    /// stderr). Unless `insecure`, a folder reached through another user's symlink is left
    /// out, as rsync 3.5 refuses such an operator path (see [`crate::trust`]).
    pub fn resolve(
        &self,
        dest_dir: &Path,
        dest_missing: bool,
        insecure: bool,
    ) -> (AltDest, Vec<String>) {
        let mut warnings = Vec::new();
        let here = std::env::current_dir().unwrap_or_default();
        let curr: PathBuf = here.join(dest_dir).components().collect();
        let dirs = self
            .dirs
            .iter()
            .filter_map(|dir| {
                let mut bytes = dir.as_os_str().as_bytes();
                if bytes.len() > 1 && bytes.ends_with(b"/") {
                    bytes = &bytes[..bytes.len() - 1];
                }
                let resolved = if bytes.starts_with(b"/") {
                    PathBuf::from(OsStr::from_bytes(bytes))
                } else {
                    let (base, rest) = match bytes.strip_prefix(b"../") {
                        Some(rest) if dest_missing => {
                            (curr.parent().unwrap_or(&curr).to_path_buf(), rest)
                        }
                        _ => (curr.clone(), bytes),
                    };
                    let mut joined = base.into_os_string().into_vec();
                    joined.push(b'/');
                    joined.extend_from_slice(rest);
                    PathBuf::from(OsString::from_vec(joined))
                };
                let problem = match std::fs::metadata(&resolved) {
                    Err(_) => Some("does not exist"),
                    Ok(m) if !m.is_dir() => Some("is not a dir"),
                    Ok(_) => None,
                };
                if let Some(problem) = problem {
                    let flag = self.kind.flag();
                    warnings.push(format!("{flag} arg {problem}: {}", resolved.display()));
                }
                if let Err(refused) = crate::trust::check_operator_path(&resolved, insecure) {
                    warnings.push(format!("prsync: {}: {refused}", self.kind.flag()));
                    return None;
                }
                Some(resolved)
            })
            .collect();
        let alt = AltDest {
            kind: self.kind,
            dirs,
            insecure,
        };
        (alt, warnings)
    }

    /// Looks for `name` in each folder (as [`AltDest::resolve`] gave them) and returns the
    /// best match: `same_kind` says whether what is there is of the entry's kind, `data_ok`
    /// whether it passes the quick check, `attrs_ok` whether its attributes match.
    ///
    /// The folders are the operator's, but what is below them may not be: a name is looked
    /// up through [`crate::trust::open_parent`], so another user's symlink on the way makes
    /// the name absent here (it is then sent, as rsync 3.5.0's `basis_link_stat` decides),
    /// with a warning.
    pub fn find(
        &self,
        name: &Path,
        same_kind: impl Fn(&FileStat) -> bool,
        data_ok: impl Fn(&Path, &FileStat) -> bool,
        attrs_ok: impl Fn(&Path, &FileStat) -> bool,
    ) -> Option<Found> {
        let mut best: Option<Found> = None;
        for (at, dir) in self.dirs.iter().enumerate() {
            let path = dir.join(name);
            let stat = match crate::trust::open_parent(&path, false, self.insecure) {
                Ok((parent, leaf)) => FileStat::of_name(&parent, &leaf),
                Err(e) => Err(e),
            };
            let stat = match stat {
                Ok(Some(stat)) => stat,
                Ok(None) => continue,
                Err(e) if crate::trust::is_refusal(&e) => {
                    eprintln!("prsync: {}: {e}", self.kind.flag());
                    continue;
                }
                Err(_) => continue,
            };
            if !same_kind(&stat) {
                continue;
            }
            let level = if !data_ok(&path, &stat) {
                Level::Kind
            } else if attrs_ok(&path, &stat) {
                Level::Exact
            } else {
                Level::Data
            };
            if best.as_ref().is_none_or(|b| level > b.level) {
                best = Some(Found {
                    level,
                    path,
                    stat,
                    dir: at,
                });
            }
            if level == Level::Exact {
                break;
            }
        }
        best
    }

    /// Opens the file at `path` (a match [`AltDest::find`] gave) for reading: through the
    /// folders' trust walk and never through a final symlink, as `find` looked at it. A
    /// folder on the way that another user swapped for a symlink since the look would
    /// otherwise have a copy read a file from wherever that link leads (rsync's
    /// copy-dest-symlink-readleak); the open then fails, and the file is sent.
    pub fn open(&self, path: &Path) -> io::Result<File> {
        let (dir, leaf) = crate::trust::open_parent(path, false, self.insecure)?;
        let flags = rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, leaf.as_slice(), flags, rustix::fs::Mode::empty())
            .map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("open {}: {}", path.display(), io::Error::from(e)),
                )
            })?;
        // Blocking again for the reads (a fifo was never opened: the match is a regular file).
        let _ = rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::empty());
        Ok(File::from(fd))
    }

    /// Hard-links the file at `path` (a match [`AltDest::find`] gave) to `rel` below
    /// `root` (`--link-dest`): the file is reached through the folders' trust walk, as it
    /// was looked at, so a folder on the way swapped for another user's link since cannot
    /// have a file from elsewhere linked into the destination.
    pub fn link(&self, root: &Root, path: &Path, rel: &RelPath) -> io::Result<()> {
        let (dir, leaf) = crate::trust::open_parent(path, false, self.insecure)?;
        root.hard_link_from(&dir, &leaf, path, rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_the_options_is_refused_in_rsyncs_words() {
        let given = |kinds: &[AltKind]| {
            kinds
                .iter()
                .map(|&k| (k, PathBuf::from("a")))
                .collect::<Vec<_>>()
        };
        use AltKind::*;
        assert_eq!(
            AltDest::from_given(given(&[Link, Link, Compare])).unwrap_err(),
            "the --compare-dest option conflicts with the --link-dest option"
        );
        assert_eq!(AltDest::from_given(Vec::new()).unwrap(), None);
        assert_eq!(
            AltDest::from_given(given(&[Copy; 21])).unwrap_err(),
            "at most 20 --copy-dest args may be specified"
        );
        let two = AltDest::from_given(given(&[Link, Link])).unwrap().unwrap();
        assert_eq!((two.kind, two.dirs.len()), (Link, 2));
    }
}
