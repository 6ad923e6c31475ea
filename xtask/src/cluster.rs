//! `cargo xtask cluster up [N] | status | down`: a local ssh test cluster to try the tools on
//! by hand, in `<workspace>/target/cluster`. The tests start their own (see the
//! prtools-testcluster crate); this one keeps running after xtask exits, until `down`.
//!
//! Where the checkout cannot hold a cluster (under `/tmp`, or in a home other users cannot
//! enter), the cluster lives where `prtools_testcluster::home_for` puts it, and
//! `target/cluster` is a symbolic link to it, so that `target/cluster/ssh_config` is the
//! config wherever the checkout is.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use prtools_testcluster::Cluster;

/// Nodes started by `cluster up` without a count.
const DEFAULT_NODES: usize = 4;

const USAGE: &str = "usage: cargo xtask cluster up [N] | status | down";

/// `<workspace>/target/cluster`: outside /tmp, which every node hides behind its own.
fn cluster_dir() -> PathBuf {
    crate::workspace_root().join("target").join("cluster")
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = cluster_dir();
    match args[..] {
        ["up"] => up(&dir, DEFAULT_NODES),
        ["up", n] => match n.parse() {
            Ok(n) if n > 0 => up(&dir, n),
            _ => bail!("bad node count '{n}': expected a number above 0\n{USAGE}"),
        },
        ["status"] => status(&dir),
        ["down"] => down(&dir),
        _ => bail!("{USAGE}"),
    }
}

fn up(dir: &Path, n: usize) -> anyhow::Result<()> {
    crate::deps::ensure(crate::deps::Need::Cluster)?;
    if let Ok(cluster) = Cluster::attach(dir) {
        if (1..=cluster.len()).any(|i| !cluster.processes(i).is_empty()) {
            bail!(
                "a test cluster is already running in {}\nhint: see it with `cargo xtask \
                 cluster status`, stop it with `cargo xtask cluster down`",
                dir.display()
            );
        }
    }
    // Whatever an earlier cluster left (its nodes are gone) would only confuse.
    remove(dir)?;
    let home = place(dir)?;
    let cluster = Cluster::start(&home, n)
        .with_context(|| format!("cannot start a test cluster in {}", home.display()))?;
    let config = dir.join("ssh_config");
    let config = config.display();
    println!(
        "started {} on 127.0.0.1, ports {}",
        folded(n),
        ports(&cluster)
    );
    println!("ssh config: {config}");
    if home != dir {
        println!(
            "            (a link to {}: the checkout cannot hold the cluster's files)",
            home.display()
        );
    }
    println!("try:        ssh -F {config} node1 hostname");
    // The tools take the config as their classic tools do: no variable stands in for it.
    println!("            prsh -F {config} -w '{}' hostname", folded(n));
    println!("stop with:  cargo xtask cluster down");
    // Dropping a cluster from `Cluster::start` leaves its nodes running, as wanted here.
    Ok(())
}

fn ports(cluster: &Cluster) -> String {
    let ports: Vec<String> = (1..=cluster.len())
        .map(|i| cluster.port(i).to_string())
        .collect();
    ports.join(",")
}

/// The folder the cluster for `dir` lives in: `dir` itself, or a folder elsewhere that `dir`
/// is made a symbolic link to.
fn place(dir: &Path) -> anyhow::Result<PathBuf> {
    let parent = dir.parent().context("the cluster folder has a parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let home = prtools_testcluster::home_for(dir)?;
    if home != dir {
        std::os::unix::fs::symlink(&home, dir)
            .with_context(|| format!("cannot link {} to {}", dir.display(), home.display()))?;
    }
    Ok(home)
}

/// Removes `dir`, and the folder it links to when it is a link made by [`place`].
fn remove(dir: &Path) -> anyhow::Result<()> {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return Ok(());
    };
    if meta.is_symlink() {
        if let Ok(home) = fs::read_link(dir) {
            if home.exists() {
                fs::remove_dir_all(&home)
                    .with_context(|| format!("cannot remove {}", home.display()))?;
            }
        }
        fs::remove_file(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    } else {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

fn status(dir: &Path) -> anyhow::Result<()> {
    let Ok(cluster) = Cluster::attach(dir) else {
        println!("no test cluster in {}", dir.display());
        println!("hint: start one with `cargo xtask cluster up [N]`");
        return Ok(());
    };
    println!("test cluster in {}", cluster.dir().display());
    println!("ssh config: {}", cluster.ssh_config().display());
    for i in 1..=cluster.len() {
        let state = match cluster.processes(i).len() {
            0 => "down".to_string(),
            1 => "up, 1 process".to_string(),
            n => format!("up, {n} processes"),
        };
        println!(
            "node{i:<4} 127.0.0.1:{:<5}  sshd pid {:<7}  {state}",
            cluster.port(i),
            cluster.sshd_pid(i)
        );
    }
    Ok(())
}

fn down(dir: &Path) -> anyhow::Result<()> {
    match Cluster::attach(dir) {
        Ok(cluster) => {
            let n = cluster.len();
            cluster
                .down()
                .with_context(|| format!("cannot stop the test cluster in {}", dir.display()))?;
            println!("stopped {}", folded(n));
        }
        Err(_) if fs::symlink_metadata(dir).is_err() => {
            println!("no test cluster in {}", dir.display());
            return Ok(());
        }
        // A folder without a readable state file: nothing to stop, remove it all the same.
        Err(e) => eprintln!("xtask: {e}"),
    }
    remove(dir)?;
    println!("removed {}", dir.display());
    Ok(())
}

/// `node1` or `node[1-N]`, as the tools print host sets.
fn folded(n: usize) -> String {
    match n {
        1 => "node1".to_string(),
        n => format!("node[1-{n}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cluster up` and `down` for a checkout under /tmp: the cluster lives elsewhere, and
    /// `target/cluster/ssh_config` reaches it all the same.
    #[test]
    fn up_and_down_from_a_checkout_under_tmp() {
        let checkout = Path::new("/tmp").join(format!("prtools-xtask-{}", std::process::id()));
        let dir = checkout.join("target/cluster");
        up(&dir, 2).unwrap();
        let home = fs::read_link(&dir).unwrap();
        assert!(home.starts_with("/var/tmp"), "{home:?}");
        let out = std::process::Command::new("ssh")
            .arg("-F")
            .arg(dir.join("ssh_config"))
            .args(["-o", "BatchMode=yes", "node2", "hostname"])
            .output()
            .unwrap();
        let stopped = down(&dir);
        let _ = fs::remove_dir_all(&checkout);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "node2\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stopped.unwrap();
        assert!(!home.exists(), "{home:?} outlived `cluster down`");
    }
}
