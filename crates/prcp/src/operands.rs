//! What the path operands mean: a pdcp-style push to the selected hosts, an rpdcp-style
//! gather, or rcp/scp syntax (`[user@]host:path`) for one host or a third-party copy.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use prtools_hostlist::HostSpec;
use prtools_sync::RelPath;

use crate::cli::Cli;

/// The resolved operands of a run.
#[derive(Debug)]
pub enum Operands {
    /// Local sources to `dest` on the hosts (the selection, or the one scp-style host).
    Push {
        /// None: the -w/-h/-g/WCOLL selection.
        hosts: Option<Vec<HostSpec>>,
        /// Local sources.
        sources: Vec<PathBuf>,
        /// Remote destination.
        dest: String,
    },
    /// Remote paths from the hosts into a local folder.
    Gather {
        /// None: the -w/-h/-g/WCOLL selection.
        hosts: Option<Vec<HostSpec>>,
        /// Remote paths.
        paths: Vec<String>,
        /// Local folder.
        dir: PathBuf,
        /// --gather-dirs.
        per_host_dirs: bool,
        /// scp style: Some(None) keeps names, Some(Some(name)) renames the single source.
        plain_name: Option<Option<RelPath>>,
    },
    /// scp-style `host1:path... host2:path`: through this machine.
    ThirdParty {
        /// Where the sources are.
        from: HostSpec,
        /// Remote source paths.
        paths: Vec<String>,
        /// Where they go.
        to: HostSpec,
        /// Remote destination.
        dest: String,
    },
}

impl Operands {
    /// The hosts the operands name themselves (scp syntax); None for the -w/-h/-g/WCOLL
    /// selection.
    pub fn hosts(&self) -> Option<Vec<HostSpec>> {
        match self {
            Operands::Push { hosts, .. } | Operands::Gather { hosts, .. } => hosts.clone(),
            Operands::ThirdParty { from, to, .. } => Some(vec![from.clone(), to.clone()]),
        }
    }

    /// The sources and the destination, as typed, for `-q`.
    pub fn files(&self) -> (Vec<String>, String) {
        match self {
            Operands::Push { sources, dest, .. } => (
                sources.iter().map(|s| s.display().to_string()).collect(),
                dest.clone(),
            ),
            Operands::Gather { paths, dir, .. } => (paths.clone(), dir.display().to_string()),
            Operands::ThirdParty { paths, dest, .. } => (paths.clone(), dest.clone()),
        }
    }
}

/// `[user@]host:path` as scp reads it: a colon before any slash.
fn remote(operand: &str) -> Option<(HostSpec, String)> {
    let (host, path) = operand.split_once(':')?;
    if host.is_empty() || host.contains('/') {
        return None;
    }
    let spec: HostSpec = host.parse().ok()?;
    let path = if path.is_empty() { "." } else { path };
    Some((spec, path.to_string()))
}

impl Operands {
    /// Reads the operands of `cli`, or says what is wrong with them.
    pub fn parse(cli: &Cli) -> Result<Operands> {
        let paths = &cli.paths;
        if paths.len() < 2 {
            bail!("give SRC... DEST to push, or --gather REMOTE_SRC... LOCALDIR to gather; see `prcp --help`");
        }
        let (last, firsts) = paths.split_last().expect("two or more");
        let selected = !cli.hosts.selection().is_empty();
        let remotes: Vec<Option<(HostSpec, String)>> = paths.iter().map(|p| remote(p)).collect();
        let any_remote = !cli.gather && remotes.iter().any(Option::is_some);
        if cli.gather || cli.gather_dirs {
            distinct_names(firsts)?;
            return Ok(Operands::Gather {
                hosts: None,
                paths: firsts.to_vec(),
                dir: PathBuf::from(last),
                per_host_dirs: cli.gather_dirs,
                plain_name: None,
            });
        }
        if !any_remote {
            return Ok(Operands::Push {
                hosts: None,
                sources: firsts.iter().map(PathBuf::from).collect(),
                dest: last.clone(),
            });
        }
        if selected {
            bail!("host:path operands name their host; leave out -w/-h/-g, or give plain paths with -w");
        }
        let (sources, dest) = remotes.split_at(remotes.len() - 1);
        match &dest[0] {
            Some((to, dest)) if sources.iter().all(Option::is_none) => Ok(Operands::Push {
                hosts: Some(vec![to.clone()]),
                sources: firsts.iter().map(PathBuf::from).collect(),
                dest: dest.clone(),
            }),
            Some((to, dest)) => Ok(Operands::ThirdParty {
                from: one_host(sources)?,
                paths: sources.iter().flatten().map(|(_, p)| p.clone()).collect(),
                to: to.clone(),
                dest: dest.clone(),
            }),
            None => {
                let from = one_host(sources)?;
                let dir = PathBuf::from(last);
                let (dir, plain_name) = if dir.is_dir() {
                    (dir, Some(None))
                } else if sources.len() == 1 {
                    split_name(&dir)?
                } else {
                    bail!("target '{last}' is not a directory; create it first");
                };
                Ok(Operands::Gather {
                    hosts: Some(vec![from]),
                    paths: sources.iter().flatten().map(|(_, p)| p.clone()).collect(),
                    dir,
                    per_host_dirs: false,
                    plain_name,
                })
            }
        }
    }
}

/// Gathered paths are saved under their last component, so two with the same one would
/// overwrite each other's copies (rpdcp lets them): refused before anything moves.
fn distinct_names(paths: &[String]) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for path in paths {
        let name = Path::new(path.trim_end_matches('/'))
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        if let Some(first) = seen.insert(name.clone(), path) {
            bail!("'{first}' and '{path}' would both be saved as '{name}'; gather them in separate runs");
        }
    }
    Ok(())
}

/// All sources must be on one host, and all must be remote.
fn one_host(sources: &[Option<(HostSpec, String)>]) -> Result<HostSpec> {
    let mut hosts = sources.iter().map(|s| s.as_ref().map(|(h, _)| h));
    let Some(Some(first)) = hosts.next() else {
        bail!("mixing local and host:path sources is not supported; copy them in two runs");
    };
    if hosts.any(|h| h != Some(first)) {
        bail!("all host:path sources must be on the same host; copy them in separate runs");
    }
    Ok(first.clone())
}

/// `dir/name` of a local target that does not exist yet.
fn split_name(target: &Path) -> Result<(PathBuf, Option<Option<RelPath>>)> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| RelPath::new(n.as_bytes().to_vec()).ok());
    let Some(name) = name else {
        bail!(
            "cannot copy to '{}': give a file or folder name",
            target.display()
        );
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "local folder '{}' does not exist; create it first",
            parent.display()
        );
    }
    Ok((parent, Some(Some(name))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Operands> {
        let mut all = vec!["prcp"];
        all.extend_from_slice(args);
        Operands::parse(&Cli::try_parse_from(all).unwrap())
    }

    #[test]
    fn pdcp_push() {
        match parse(&["-w", "n[1-2]", "a", "b", "/tmp"]).unwrap() {
            Operands::Push {
                hosts,
                sources,
                dest,
            } => {
                assert!(hosts.is_none());
                assert_eq!(sources.len(), 2);
                assert_eq!(dest, "/tmp");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scp_forms() {
        assert!(matches!(
            parse(&["a", "root@node1:/tmp/x"]).unwrap(),
            Operands::Push { hosts: Some(_), .. }
        ));
        assert!(matches!(
            parse(&["node1:/etc/hosts", "node2:/tmp/"]).unwrap(),
            Operands::ThirdParty { .. }
        ));
        assert!(matches!(
            parse(&["node1:/etc/hosts", "."]).unwrap(),
            Operands::Gather {
                plain_name: Some(None),
                ..
            }
        ));
        // A slash before the colon makes it a local path, as in scp.
        assert!(matches!(
            parse(&["-w", "n1", "./a:b", "/tmp"]).unwrap(),
            Operands::Push { hosts: None, .. }
        ));
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(parse(&["onlyone"])
            .unwrap_err()
            .to_string()
            .contains("SRC... DEST"));
        assert!(parse(&["-w", "n1", "a", "node1:/x"])
            .unwrap_err()
            .to_string()
            .contains("leave out -w"));
        assert!(parse(&["node1:/a", "node2:/b", "."])
            .unwrap_err()
            .to_string()
            .contains("same host"));
        let clash = parse(&[
            "--gather",
            "-w",
            "n1",
            "/var/log/syslog",
            "/tmp/syslog/",
            ".",
        ])
        .unwrap_err()
        .to_string();
        assert!(clash.contains("both be saved as 'syslog'"), "{clash}");
    }
}
