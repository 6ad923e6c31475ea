//! What the user typed on the command line (`-w`, `-x`, `-h`, `-g`), resolved once into the
//! hosts to run on.

use std::collections::HashSet;
use std::path::PathBuf;

use crate::context::Context;
use crate::error::Error;
use crate::host::HostSpec;
use crate::resolver::{HostSet, Resolver};

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
    /// are all empty.
    ///
    /// Hosts come in the order `-w` values, then hostfiles, then groups, each in the order
    /// written, duplicates removed (the first kept). `-x` then removes every host whose name
    /// matches, whatever its user or port. An empty result is an error, since running on no
    /// host is never what was meant.
    pub fn resolve(&self, ctx: &Context) -> Result<Vec<HostSpec>, Error> {
        let mut resolver = Resolver::new(ctx);
        let mut hosts = HostSet::default();
        for text in &self.include {
            resolver.list(text, &mut hosts)?;
        }
        for path in &self.hostfiles {
            resolver.hostfile(path, &mut hosts)?;
        }
        for text in &self.groups {
            resolver.group_arg(text, &mut hosts)?;
        }
        if self.is_empty() {
            if let Some(path) = &ctx.wcoll {
                resolver.hostfile(path, &mut hosts)?;
            }
        }
        let mut excluded = HostSet::default();
        for text in &self.exclude {
            resolver.list(text, &mut excluded)?;
        }
        let excluded = excluded.into_vec()?;
        let names: HashSet<&str> = excluded.iter().map(|h| h.host.as_str()).collect();
        let mut hosts = hosts.into_vec()?;
        hosts.retain(|h| !names.contains(h.host.as_str()));
        if hosts.is_empty() {
            return Err(Error::NoHosts);
        }
        Ok(hosts)
    }
}
