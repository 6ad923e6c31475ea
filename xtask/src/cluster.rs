//! `cargo xtask cluster up [N] | status | down`: a local ssh test cluster to try the tools on
//! by hand, in `<workspace>/target/cluster`. The tests start their own (see the
//! prtools-testcluster crate); this one keeps running after xtask exits, until `down`.

use std::fs;
use std::path::PathBuf;

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
    match args[..] {
        ["up"] => up(DEFAULT_NODES),
        ["up", n] => match n.parse() {
            Ok(n) if n > 0 => up(n),
            _ => bail!("bad node count '{n}': expected a number above 0\n{USAGE}"),
        },
        ["status"] => status(),
        ["down"] => down(),
        _ => bail!("{USAGE}"),
    }
}

fn up(n: usize) -> anyhow::Result<()> {
    let dir = cluster_dir();
    if let Ok(cluster) = Cluster::attach(&dir) {
        if (1..=cluster.len()).any(|i| !cluster.processes(i).is_empty()) {
            bail!(
                "a test cluster is already running in {}\nhint: see it with `cargo xtask \
                 cluster status`, stop it with `cargo xtask cluster down`",
                dir.display()
            );
        }
    }
    // Whatever an earlier cluster left (its nodes are gone) would only confuse.
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let cluster = Cluster::start(&dir, n)
        .with_context(|| format!("cannot start a test cluster in {}", dir.display()))?;
    let config = cluster.ssh_config().display();
    println!(
        "started {} on 127.0.0.1, ports {}",
        folded(n),
        ports(&cluster)
    );
    println!("ssh config: {config}");
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

fn status() -> anyhow::Result<()> {
    let dir = cluster_dir();
    let Ok(cluster) = Cluster::attach(&dir) else {
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

fn down() -> anyhow::Result<()> {
    let dir = cluster_dir();
    match Cluster::attach(&dir) {
        Ok(cluster) => {
            let n = cluster.len();
            cluster
                .down()
                .with_context(|| format!("cannot stop the test cluster in {}", dir.display()))?;
            println!("stopped {}", folded(n));
        }
        Err(_) if !dir.exists() => {
            println!("no test cluster in {}", dir.display());
            return Ok(());
        }
        // A folder without a readable state file: nothing to stop, remove it all the same.
        Err(e) => eprintln!("xtask: {e}"),
    }
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
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
