//! One host of a run, with its rank, and the user and port that apply to it.

use prtools_hostlist::HostSpec;

use crate::config::Config;

/// A host to run on; `rank` is its position in the selection (pdsh's `%n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What the user wrote for this host.
    pub spec: HostSpec,
    /// Position in the selection, from 0.
    pub rank: usize,
}

impl Target {
    /// Numbers the hosts of a selection.
    pub fn from_specs(specs: Vec<HostSpec>) -> Vec<Target> {
        specs
            .into_iter()
            .enumerate()
            .map(|(rank, spec)| Target { spec, rank })
            .collect()
    }

    /// The name output is labelled with, as pdsh labels it: the host alone.
    pub fn name(&self) -> &str {
        &self.spec.host
    }

    /// The login user: the host's own `user@`, else `-l`, else ssh's default.
    pub fn user<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        self.spec.user.as_deref().or(config.user.as_deref())
    }

    /// The port: the host's own `:port`, else `--port`, else ssh's default.
    pub fn port(&self, config: &Config) -> Option<u16> {
        self.spec.port.or(config.port)
    }
}
