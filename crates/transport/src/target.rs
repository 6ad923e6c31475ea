//! One host of a run, with its rank, and the user and port that apply to it.

use std::collections::{HashMap, HashSet};

use prtools_hostlist::HostSpec;

use crate::config::Config;

/// A host to run on; `rank` is its position in the selection (pdsh's `%n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// What the user wrote for this host.
    pub spec: HostSpec,
    /// Position in the selection, from 0.
    pub rank: usize,
    /// What output calls it: see [`Target::name`].
    name: String,
}

impl Target {
    /// A host of its own, named by its host name.
    pub fn new(spec: HostSpec, rank: usize) -> Target {
        let name = spec.host.clone();
        Target { spec, rank, name }
    }

    /// Numbers the hosts of a selection and names them. Hosts that share a host name and
    /// differ by user, port or transport (`root@n1` and `n1`, `10.0.0.1:3301` and
    /// `10.0.0.1:3302`) are named in full, so that no output, per-host file or gathered
    /// copy of one can be taken for, or overwrite, another's.
    pub fn from_specs(specs: Vec<HostSpec>) -> Vec<Target> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for spec in &specs {
            *seen.entry(spec.host.as_str()).or_default() += 1;
        }
        let shared: HashSet<String> = seen
            .into_iter()
            .filter(|&(_, count)| count > 1)
            .map(|(host, _)| host.to_string())
            .collect();
        specs
            .into_iter()
            .enumerate()
            .map(|(rank, spec)| {
                let mut target = Target::new(spec, rank);
                if shared.contains(&target.spec.host) {
                    let rcmd = target.spec.rcmd.as_deref().map(|r| format!("{r}:"));
                    target.name = format!("{}{}", rcmd.unwrap_or_default(), target.spec);
                }
                target
            })
            .collect()
    }

    /// The name output is labelled with: the host alone, as pdsh labels it, unless another
    /// host of the run has the same host name; then all that was written (`root@n1`,
    /// `n1:2222`). Names are unique within a run.
    pub fn name(&self) -> &str {
        &self.name
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(specs: &[&str]) -> Vec<String> {
        let specs = specs.iter().map(|s| s.parse().unwrap()).collect();
        Target::from_specs(specs)
            .iter()
            .map(|t| t.name().to_string())
            .collect()
    }

    #[test]
    fn hosts_that_share_a_name_are_named_in_full() {
        assert_eq!(names(&["n1", "n2"]), ["n1", "n2"]);
        assert_eq!(
            names(&["127.0.0.1:3301", "127.0.0.1:3302", "n3:22"]),
            ["127.0.0.1:3301", "127.0.0.1:3302", "n3"]
        );
        assert_eq!(names(&["root@node2", "node2"]), ["root@node2", "node2"]);
        let mut exec = HostSpec::new("n1");
        exec.rcmd = Some("exec".into());
        let targets = Target::from_specs(vec![exec, HostSpec::new("n1")]);
        assert_eq!(targets[0].name(), "exec:n1");
        assert_eq!(targets[1].name(), "n1");
    }
}
