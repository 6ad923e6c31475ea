//! Turns parsed lists into hosts: reads hostfiles, looks up groups (once each), and guards
//! against groups that include themselves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::context::{tilde, Context};
use crate::error::{Error, FileKind};
use crate::expand::dedup;
use crate::group::Groups;
use crate::host::HostSpec;
use crate::hostfile::{read_lines, Line};
use crate::list::{parse_group_arg, parse_list, Entry, Target};
use crate::MAX_HOSTS;

/// Hosts in first-seen order, duplicates removed (the first kept) by [`HostSet::into_vec`];
/// more than [`MAX_HOSTS`] distinct hosts is an error.
///
/// Duplicates are removed in batches, when the list doubles or passes the limit, rather than
/// through a set that would hold a second copy of every host: a million hosts stay one
/// million strings.
#[derive(Debug, Default)]
pub(crate) struct HostSet {
    hosts: Vec<HostSpec>,
    /// Length after the last removal of duplicates.
    distinct: usize,
}

impl HostSet {
    /// Adds a host; duplicates go at the next batch.
    pub(crate) fn push(&mut self, host: HostSpec) -> Result<(), Error> {
        self.hosts.push(host);
        if self.hosts.len() > MAX_HOSTS.max(2 * self.distinct) {
            self.dedup()?;
        }
        Ok(())
    }

    /// Removes duplicates, keeping the first of each, and checks the limit.
    fn dedup(&mut self) -> Result<(), Error> {
        dedup(&mut self.hosts);
        self.distinct = self.hosts.len();
        if self.distinct > MAX_HOSTS {
            return Err(Error::TooManyHosts { limit: MAX_HOSTS });
        }
        Ok(())
    }

    /// The distinct hosts, in order.
    pub(crate) fn into_vec(mut self) -> Result<Vec<HostSpec>, Error> {
        self.dedup()?;
        Ok(self.hosts)
    }
}

/// What the `-w` and `-x` values of a selection name, before they are put together: pdsh
/// applies exclusions and `/regex/` filters to the whole list, wherever they were written.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    /// Hosts to run on.
    pub(crate) include: HostSet,
    /// Hosts to leave out (`-x`, `-name`, `-^file`).
    pub(crate) exclude: HostSet,
    /// Only hosts whose name matches every one of these stay (`/regex/`).
    pub(crate) keep: Vec<regex::Regex>,
    /// Hosts whose name matches any of these go (`-/regex/`, `-x /regex/`).
    pub(crate) drop: Vec<regex::Regex>,
}

/// Resolves lists for one [`Selection`](crate::Selection); keeps what it has read so that a
/// group named many times is read and expanded once.
pub(crate) struct Resolver<'a> {
    ctx: &'a Context,
    /// The groups files, read at the first `@group`; a selection without groups reads none.
    groups: Option<Groups>,
    /// Groups already expanded.
    done: HashMap<String, Rc<Vec<HostSpec>>>,
    /// Groups being expanded, outermost first, to catch a group that includes itself.
    stack: Vec<String>,
    /// Hostfiles being read, outermost first, to catch one that `#include`s itself.
    files: Vec<PathBuf>,
    /// What was ignored along the way (malformed `#include` lines), for the tool to print.
    pub(crate) warnings: Vec<String>,
}

impl<'a> Resolver<'a> {
    /// A resolver that reads the files `ctx` names.
    pub(crate) fn new(ctx: &'a Context) -> Resolver<'a> {
        Resolver {
            ctx,
            groups: None,
            done: HashMap::new(),
            stack: Vec::new(),
            files: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Adds what a `-w` value (or, `excluding`, a `-x` value) names to `sink`, where `^file`,
    /// `-name` and `/regex/` may be written.
    pub(crate) fn list(
        &mut self,
        text: &str,
        sink: &mut Sink,
        excluding: bool,
    ) -> Result<(), Error> {
        for entry in parse_list(text, true)? {
            let out = entry.negate || excluding;
            match entry.target {
                Target::Regex(regex) if out => sink.drop.push(regex),
                Target::Regex(regex) => sink.keep.push(regex),
                _ if out => self.entries(vec![entry], &mut sink.exclude)?,
                _ => self.entries(vec![entry], &mut sink.include)?,
            }
        }
        Ok(())
    }

    /// Adds the hosts of a hostfile, and of the files it `#include`s.
    pub(crate) fn hostfile(&mut self, path: &Path, out: &mut HostSet) -> Result<(), Error> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.files.contains(&key) {
            return Err(Error::IncludeCycle {
                path: path.to_path_buf(),
            });
        }
        self.files.push(key);
        let result = self.hostfile_lines(path, out);
        self.files.pop();
        result
    }

    fn hostfile_lines(&mut self, path: &Path, out: &mut HostSet) -> Result<(), Error> {
        for line in read_lines(path)? {
            match line {
                Line::Hosts(number, text) => {
                    let entries = parse_list(&text, false)
                        .map_err(|err| err.in_file(FileKind::Hostfile, path, number))?;
                    self.entries(entries, out)?;
                }
                Line::Include(file) => self.hostfile(&file, out)?,
                Line::Malformed(number, text) => self.warnings.push(format!(
                    "{}:{number}: ignoring '{text}': write `#include FILE`",
                    path.display()
                )),
            }
        }
        Ok(())
    }

    /// Adds the hosts of the groups a `-g` value names.
    pub(crate) fn group_arg(&mut self, text: &str, out: &mut HostSet) -> Result<(), Error> {
        for pattern in parse_group_arg(text)? {
            let mut names = Vec::new();
            pattern.push_names(&mut names);
            for name in names {
                for host in self.group(&name)?.iter() {
                    out.push(host.clone())?;
                }
            }
        }
        Ok(())
    }

    /// Adds the hosts of parsed entries, giving each host the user and port written beside
    /// its entry unless it has its own (`root@^file` does not override `bob@n1` in the file).
    fn entries(&mut self, entries: Vec<Entry>, out: &mut HostSet) -> Result<(), Error> {
        for Entry {
            user,
            port,
            target,
            rcmd,
            ..
        } in entries
        {
            let with_defaults = |mut host: HostSpec| {
                if host.user.is_none() {
                    host.user.clone_from(&user);
                }
                host.port = host.port.or(port);
                if host.rcmd.is_none() {
                    host.rcmd.clone_from(&rcmd);
                }
                host
            };
            match target {
                // Filters apply to the whole selection; the caller keeps them.
                Target::Regex(_) => {}
                Target::Hosts(pattern) => {
                    let mut names = Vec::new();
                    pattern.push_names(&mut names);
                    for name in names {
                        out.push(with_defaults(HostSpec::new(name)))?;
                    }
                }
                Target::File(path) => {
                    let mut hosts = HostSet::default();
                    self.hostfile(&path, &mut hosts)?;
                    for host in hosts.into_vec()? {
                        out.push(with_defaults(host))?;
                    }
                }
                Target::Groups(pattern) => {
                    let mut names = Vec::new();
                    pattern.push_names(&mut names);
                    for name in names {
                        for host in self.group(&name)?.iter() {
                            out.push(with_defaults(host.clone()))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The hosts of one group, expanded once and remembered.
    fn group(&mut self, name: &str) -> Result<Rc<Vec<HostSpec>>, Error> {
        if let Some(hosts) = self.done.get(name) {
            return Ok(Rc::clone(hosts));
        }
        if let Some(at) = self.stack.iter().position(|g| g == name) {
            let mut chain = self.stack[at..].to_vec();
            chain.push(name.to_string());
            return Err(Error::GroupCycle { chain });
        }
        let def = match self.groups()?.get(name) {
            Some(def) => def.clone(),
            None => return Err(self.unknown(name)),
        };
        self.stack.push(name.to_string());
        let mut hosts = HostSet::default();
        // Entries are separated by commas or spaces; a comma beside a space is one separator.
        let result = def
            .hosts
            .split_whitespace()
            .map(|chunk| chunk.trim_matches(','))
            .filter(|chunk| !chunk.is_empty())
            .try_for_each(|text| {
                let entries = parse_list(text, false)
                    .map_err(|err| err.in_file(FileKind::Groups, &def.path, def.line))?;
                self.entries(entries, &mut hosts)
            });
        self.stack.pop();
        result?;
        let hosts = Rc::new(hosts.into_vec()?);
        self.done.insert(name.to_string(), Rc::clone(&hosts));
        Ok(hosts)
    }

    /// The groups files, read on first use.
    fn groups(&mut self) -> Result<&Groups, Error> {
        if self.groups.is_none() {
            self.groups = Some(Groups::load(&self.ctx.group_files)?);
        }
        Ok(self.groups.get_or_insert_with(Groups::default))
    }

    /// The error for a group no file defines, naming the files as the user would type them.
    fn unknown(&self, name: &str) -> Error {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Error::UnknownGroup {
            name: name.to_string(),
            files: self
                .ctx
                .group_files
                .iter()
                .map(|path| tilde(path, home.as_deref()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_set_keeps_the_first() {
        let mut set = HostSet::default();
        set.push(HostSpec::new("b")).unwrap();
        set.push(HostSpec::new("a")).unwrap();
        set.push(HostSpec::new("b")).unwrap();
        assert_eq!(
            set.into_vec().unwrap(),
            [HostSpec::new("b"), HostSpec::new("a")]
        );
    }
}
