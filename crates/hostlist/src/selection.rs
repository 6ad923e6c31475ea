//! What the user typed on the command line (`-w`, `-x`, `-h`, `-g`), resolved once into the
//! hosts to run on.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::context::Context;
use crate::error::Error;
use crate::host::HostSpec;
use crate::resolver::{Resolver, Sink};

/// What the user typed on the command line, before resolution.
///
/// Each field holds the values of one flag in the order given; the binaries fill it from their
/// parsed arguments and call [`Selection::resolve`] once.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Each `-w` value: an expression that may hold `^file`, `@group` and a `user@` prefix
    /// (`user@node[1-3]`), and `:port` after a name.
    pub include: Vec<String>,
    /// Each `-x` value: hosts to leave out, written as `-w` values are.
    pub exclude: Vec<String>,
    /// Each `-h`/`--hostfile` value.
    pub hostfiles: Vec<PathBuf>,
    /// Each `-g` value: group names, comma-separated, with or without `@`.
    pub groups: Vec<String>,
}

impl Selection {
    /// True when nothing selects hosts: no `-w`, `-h` or `-g`. This is exactly when
    /// [`resolve`](Selection::resolve) falls back to `WCOLL`; `-x` alone selects nothing, so it
    /// does not count.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.hostfiles.is_empty() && self.groups.is_empty()
    }

    /// Resolves to the hosts to run on; uses `WCOLL` only when include, hostfiles and groups
    /// are all empty. What was ignored on the way (a malformed `#include` line) is lost: the
    /// tools call [`Selection::resolve_with`] to print it.
    pub fn resolve(&self, ctx: &Context) -> Result<Vec<HostSpec>, Error> {
        self.resolve_with(ctx, &mut |_| {})
    }

    /// [`Selection::resolve`], handing each warning to `warn`.
    ///
    /// Hosts come in the order `-w` values, then hostfiles, then groups, each in the order
    /// written, duplicates removed (the first kept). Then, as pdsh does wherever they were
    /// written, the exclusions (`-x` values, and `-name`, `-^file` in `-w` values) remove every
    /// host whose name matches, whatever its user or port; `-/regex/` removes the names that
    /// match; `/regex/` keeps only those that match. A `-w` value of `-` reads host lists from
    /// standard input, one or more a line. An empty result is an error, since running on no
    /// host is never what was meant.
    pub fn resolve_with(
        &self,
        ctx: &Context,
        warn: &mut dyn FnMut(String),
    ) -> Result<Vec<HostSpec>, Error> {
        let mut resolver = Resolver::new(ctx);
        let mut sink = Sink::default();
        for text in &self.include {
            if text == "-" {
                for line in std::io::stdin().lines() {
                    let line = line.map_err(|err| Error::Hostfile {
                        path: "-".into(),
                        err,
                    })?;
                    for list in line.split_whitespace() {
                        resolver.list(list, &mut sink, false)?;
                    }
                }
            } else {
                resolver.list(text, &mut sink, false)?;
            }
        }
        for path in &self.hostfiles {
            resolver.hostfile(path, &mut sink.include)?;
        }
        for text in &self.groups {
            resolver.group_arg(text, &mut sink.include)?;
        }
        if self.is_empty() {
            if let Some(path) = &ctx.wcoll {
                resolver.hostfile(path, &mut sink.include)?;
            }
        }
        for text in &self.exclude {
            resolver.list(text, &mut sink, true)?;
        }
        for warning in resolver.warnings.drain(..) {
            warn(warning);
        }
        let excluded = sink.exclude.into_vec()?;
        let names: HashSet<&str> = excluded.iter().map(|h| h.host.as_str()).collect();
        let mut hosts = sink.include.into_vec()?;
        hosts.retain(|h| {
            !names.contains(h.host.as_str())
                && !sink.drop.iter().any(|re| re.is_match(&h.host))
                && sink.keep.iter().all(|re| re.is_match(&h.host))
        });
        if hosts.is_empty() {
            return Err(Error::NoHosts);
        }
        Ok(hosts)
    }
}
