//! Which entries run on which hosts (labels and file names of the command line, `-m`), and
//! what `-n` prints for them, as rdist does: hosts in the order they first appear, each with
//! all of its entries, then the `::` entries.

use prtools_hostlist::HostSpec;

use crate::cli::Args;
use crate::distfile::{Distfile, Entry, Install, Target};

/// One entry to run.
#[derive(Clone, Debug)]
pub struct Step {
    /// The entry.
    pub entry: Entry,
    /// Its hosts that were selected (none for a `::` entry).
    pub hosts: Vec<HostSpec>,
    /// The source names asked for on the command line, when the entry was chosen by them.
    pub only: Option<Vec<String>>,
}

impl Step {
    /// The install commands, or the one rdist does when there is none.
    pub fn installs(&self, cli: crate::distfile::options::DistOpts) -> Vec<Install> {
        if self.entry.installs.is_empty() {
            vec![Install {
                opts: cli,
                dest: None,
                pos: self.entry.pos,
            }]
        } else {
            self.entry.installs.clone()
        }
    }

    /// The sources this step sends.
    pub fn files(&self) -> Vec<String> {
        self.entry
            .sources
            .iter()
            .filter(|s| self.only.as_ref().is_none_or(|o| o.contains(s)))
            .cloned()
            .collect()
    }
}

/// The steps of a run, in Distfile order.
pub fn select(dist: &Distfile, args: &Args) -> Result<Vec<Step>, String> {
    let mut chosen: Vec<(usize, Option<Vec<String>>)> = Vec::new();
    if args.names.is_empty() {
        chosen = (0..dist.entries.len()).map(|i| (i, None)).collect();
    } else {
        for name in &args.names {
            let labelled: Vec<usize> = (0..dist.entries.len())
                .filter(|&i| dist.entries[i].label.as_deref() == Some(name))
                .collect();
            let by_file: Vec<usize> = (0..dist.entries.len())
                .filter(|&i| dist.entries[i].sources.contains(name))
                .collect();
            if labelled.is_empty() && by_file.is_empty() {
                return Err(format!(
                    "'{name}' is neither a label nor a source file of the Distfile"
                ));
            }
            for i in labelled {
                match chosen.iter_mut().find(|(c, _)| *c == i) {
                    Some(c) => c.1 = None,
                    None => chosen.push((i, None)),
                }
            }
            for i in by_file {
                match chosen.iter_mut().find(|(c, _)| *c == i) {
                    Some((_, Some(only))) => only.push(name.clone()),
                    Some((_, None)) => {}
                    None => chosen.push((i, Some(vec![name.clone()]))),
                }
            }
        }
        chosen.sort_by_key(|(i, _)| *i);
    }
    let mut steps = Vec::new();
    let mut met: Vec<&str> = Vec::new();
    for (i, only) in chosen {
        let entry = dist.entries[i].clone();
        let hosts = match &entry.target {
            Target::Stamp(_) => Vec::new(),
            Target::Hosts(names) => {
                let mut specs = Vec::new();
                for name in names {
                    let spec: HostSpec = name.parse().map_err(|e| {
                        format!(
                            "bad host '{name}' in the entry at line {}: {e}",
                            entry.pos.line
                        )
                    })?;
                    let asked = args.hosts.iter().find(|m| *m == name || **m == spec.host);
                    if let Some(m) = asked {
                        met.push(m);
                    }
                    let wanted = args.hosts.is_empty() || asked.is_some();
                    if wanted && !specs.contains(&spec) {
                        specs.push(spec);
                    }
                }
                if specs.is_empty() {
                    continue;
                }
                specs
            }
        };
        steps.push(Step { entry, hosts, only });
    }
    // rdist says nothing and exits 0 for a mistyped -m; nothing would run, so say so.
    if let Some(m) = args.hosts.iter().find(|m| !met.contains(&m.as_str())) {
        return Err(format!(
            "-m {m}: no entry of the Distfile sends to this host; check the name against \
             the Distfile's host lists"
        ));
    }
    Ok(steps)
}

/// What `prdist -n` prints: per host, `updating host NAME` and an `install` line per file;
/// then `comparing dates:` lines for the `::` entries.
pub fn dry_run(steps: &[Step], args: &Args) -> Vec<String> {
    let mut lines = Vec::new();
    let mut order: Vec<String> = Vec::new();
    for s in steps {
        for h in &s.hosts {
            let name = h.to_string();
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    for host in &order {
        for s in steps
            .iter()
            .filter(|s| s.hosts.iter().any(|h| h.to_string() == *host))
        {
            lines.push(format!("updating host {host}"));
            for install in s.installs(args.opts) {
                // rdist writes `-o` even with no options: `install -o SRC DEST`.
                let flag = format!(" -o{}", install.opts.list());
                let verb = if install.opts.has("verify") {
                    "verify"
                } else {
                    "install"
                };
                for f in s.files() {
                    let dest = install.dest.as_deref().unwrap_or(&f);
                    lines.push(format!("{verb}{flag} {f} {dest}"));
                }
            }
            // rdist -n prints no notify line (golden case dry_run): nothing is mailed.
        }
    }
    for s in steps.iter().filter(|s| s.hosts.is_empty()) {
        for f in s.files() {
            lines.push(format!("comparing dates: {f}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distfile::{read, ReadOptions};

    fn args(names: &[&str], hosts: &[&str]) -> Args {
        match crate::cli::parse(
            ["prdist", "-f", "x"]
                .into_iter()
                .chain(hosts.iter().flat_map(|h| ["-m", h]))
                .chain(names.iter().copied()),
        )
        .unwrap()
        {
            crate::cli::Parsed::Run(a) => *a,
            _ => panic!(),
        }
    }

    const TEXT: &str =
        "etc: ( /tmp/a /tmp/b ) -> ( n1 root@n2 )\n\tinstall -oremove /tmp/c ;\n\tnotify ops ;\n\
                        web: /tmp/w -> n2\n/tmp/s :: /tmp/stamp\n";

    #[test]
    fn dry_run_prints_what_rdist_n_prints() {
        let dist = read(TEXT, "D", &ReadOptions::default()).unwrap();
        let a = args(&[], &[]);
        let steps = select(&dist, &a).unwrap();
        assert_eq!(
            dry_run(&steps, &a),
            [
                "updating host n1",
                "install -oremove /tmp/a /tmp/c",
                "install -oremove /tmp/b /tmp/c",
                "updating host root@n2",
                "install -oremove /tmp/a /tmp/c",
                "install -oremove /tmp/b /tmp/c",
                "updating host n2",
                "install -o /tmp/w /tmp/w",
                "comparing dates: /tmp/s",
            ]
        );
    }

    #[test]
    fn labels_files_and_hosts_select() {
        let dist = read(TEXT, "D", &ReadOptions::default()).unwrap();
        let steps = select(&dist, &args(&["web"], &[])).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].entry.label.as_deref(), Some("web"));
        let steps = select(&dist, &args(&["/tmp/b"], &[])).unwrap();
        assert_eq!(steps[0].files(), ["/tmp/b"]);
        let steps = select(&dist, &args(&[], &["n2"])).unwrap();
        assert_eq!(steps[0].hosts.len(), 1);
        assert_eq!(steps[0].hosts[0].to_string(), "root@n2");
        assert!(select(&dist, &args(&["nope"], &[]))
            .unwrap_err()
            .contains("neither a label nor a source"));
    }
}
