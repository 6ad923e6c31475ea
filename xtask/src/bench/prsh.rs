//! prsh against pdsh, parallel-ssh and clush: `true` on 16 and 64 hosts, cold and warm.
//! Memory is measured in separate, untimed rounds (see [`super::memory`]), because reading
//! /proc while a tool runs would slow the timed ones.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use prtools_testcluster::Cluster;

use super::{median, memory, time_once, Contender};

/// Timed runs per tool and host count.
const ROUNDS: usize = 7;
/// Untimed runs per tool and host count that sample memory.
const MEMORY_ROUNDS: usize = 3;
const HOST_COUNTS: [usize; 2] = [16, 64];

/// Times prsh against its peers.
pub fn run() -> Result<()> {
    crate::cargo(&["build", "--release", "--bins", "-p", "prsh"])?;
    let prsh = crate::target_dir().join("release/prsh");
    let max = *HOST_COUNTS.iter().max().unwrap_or(&16);
    println!("starting a {max}-host test cluster");
    let cluster = Cluster::start_temp(max).context("starting the test cluster")?;
    let config = cluster.ssh_config().to_path_buf();
    let client = cluster.dir().join("bench");
    std::fs::create_dir_all(&client)?;
    let hostfile = client.join("hosts");
    std::fs::write(
        &hostfile,
        (1..=max).map(|i| format!("node{i}\n")).collect::<String>(),
    )?;

    let contenders = contenders(&prsh, &config, &client);
    let marker = client.display().to_string();
    let errors = client.join("stderr");
    println!(
        "\n{:>5}  {:<22} {:>9} {:>13} {:>14} {:>13}",
        "hosts", "tool", "median", "own peak RSS", "all (PSS)", "time vs prsh"
    );
    for &n in &HOST_COUNTS {
        let hosts_file = client.join(format!("hosts{n}"));
        std::fs::write(
            &hosts_file,
            (1..=n).map(|i| format!("node{i}\n")).collect::<String>(),
        )?;
        // Prime the persistent masters for the warm runs (not timed).
        time_once(&mut (contenders[1].build)(n), &errors)?;
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        for _ in 0..ROUNDS {
            for (i, c) in contenders.iter().enumerate() {
                times[i].push(time_once(&mut (c.build)(n), &errors).with_context(|| c.name)?);
            }
        }
        let mut memory: Vec<Vec<memory::Memory>> = vec![Vec::new(); contenders.len()];
        for _ in 0..MEMORY_ROUNDS {
            for (i, c) in contenders.iter().enumerate() {
                memory[i].push(memory::measure(&mut (c.build)(n), &marker)?);
            }
        }
        let walls: Vec<f64> = times.iter().map(|t| median(t).as_secs_f64()).collect();
        let own: Vec<u64> = memory
            .iter()
            .map(|m| median(&m.iter().map(|m| m.own_kib).collect::<Vec<_>>()))
            .collect();
        let tree: Vec<u64> = memory
            .iter()
            .map(|m| median(&m.iter().map(|m| m.tree_kib).collect::<Vec<_>>()))
            .collect();
        for (i, c) in contenders.iter().enumerate() {
            println!(
                "{:>5}  {:<22} {:>8.3}s {:>9} KiB {:>10} KiB {:>12.2}x",
                n,
                c.name,
                walls[i],
                own[i],
                tree[i],
                walls[i] / walls[0]
            );
        }
        println!(
            "       targets: cold prsh/pdsh time {:.2} (<= 1), warm prsh/pdsh time {:.2} (<= 0.25), \
             prsh/pdsh own peak RSS {:.2} (< 1), all processes {:.2}\n",
            walls[0] / walls[2],
            walls[1] / walls[2],
            own[0] as f64 / own[2] as f64,
            tree[0] as f64 / tree[2] as f64
        );
    }
    cluster.down().context("stopping the test cluster")?;
    Ok(())
}

fn contenders(prsh: &Path, config: &Path, client: &Path) -> Vec<Contender> {
    let (p1, c1, x1) = (
        prsh.to_path_buf(),
        config.to_path_buf(),
        client.to_path_buf(),
    );
    let (p2, c2, x2) = (p1.clone(), c1.clone(), x1.clone());
    let (c3, c4, c5) = (c1.clone(), c1.clone(), c1.clone());
    let x5 = x1.clone();
    vec![
        Contender {
            name: "prsh (cold)",
            build: Box::new(move |n| {
                let mut cmd = Command::new(&p1);
                cmd.env("XDG_RUNTIME_DIR", x1.join("cold"))
                    .arg("-F")
                    .arg(&c1)
                    .args(["-w", &format!("node[1-{n}]"), "true"]);
                cmd
            }),
        },
        Contender {
            name: "prsh --persist (warm)",
            build: Box::new(move |n| {
                let mut cmd = Command::new(&p2);
                cmd.env("XDG_RUNTIME_DIR", x2.join("warm"))
                    .arg("-F")
                    .arg(&c2)
                    .args(["--persist", "10m", "-w", &format!("node[1-{n}]"), "true"]);
                cmd
            }),
        },
        Contender {
            name: "pdsh -R ssh",
            build: Box::new(move |n| {
                let mut cmd = Command::new("pdsh");
                cmd.env("PDSH_SSH_ARGS_APPEND", format!("-F {}", c3.display()))
                    .args(["-R", "ssh", "-f", &n.to_string()])
                    .args(["-w", &format!("node[1-{n}]"), "true"]);
                cmd
            }),
        },
        Contender {
            name: "parallel-ssh",
            build: Box::new(move |n| {
                let mut cmd = Command::new("parallel-ssh");
                cmd.args(["-p", &n.to_string(), "-x", &format!("-F {}", c4.display())])
                    .arg("-h")
                    .arg(x5.join(format!("hosts{n}")))
                    .arg("true");
                cmd
            }),
        },
        Contender {
            name: "clush",
            build: Box::new(move |n| {
                let mut cmd = Command::new("clush");
                cmd.args(["-f", &n.to_string(), "-o", &format!("-F {}", c5.display())])
                    .args(["-w", &format!("node[1-{n}]"), "true"]);
                cmd
            }),
        },
    ]
}
