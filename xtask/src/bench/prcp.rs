//! prcp against pdcp, parallel-scp and clush --copy: a 256 MB file and a tree of 10,000
//! small files (1-16 KB), each staged to /tmp on 16 hosts. Every destination is emptied before
//! every run, so no tool is helped by what an earlier run left (prcp's quick check included).
//!
//! Each node's /tmp is a tmpfs for the bench: 16 hosts share this machine's one disk, and its
//! writeback of 16 copies of every payload varied more from run to run than the tools did.
//! On a real cluster every host has a disk of its own. `prcp --relay` is timed beside the
//! others but is not a peer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use prtools_testcluster::Cluster;

use super::{median, time_once, Contender};

const HOSTS: usize = 16;
const ROUNDS: usize = 3;
const LARGE_BYTES: usize = 256 << 20;
const SMALL_FILES: usize = 10_000;

/// Times prcp against its peers; `only` picks one payload (`large` or `tree`).
pub fn run(only: Option<&str>) -> Result<()> {
    crate::cargo(&["build", "--release", "--bins", "-p", "prcp"])?;
    let prcp = crate::target_dir().join("release/prcp");
    println!("starting a {HOSTS}-host test cluster");
    let cluster = Cluster::start_temp(HOSTS).context("starting the test cluster")?;
    for node in 1..=HOSTS {
        on_node(
            &cluster,
            node,
            "mount -t tmpfs -o size=8g prtools-bench /tmp",
        )?;
    }
    let client = cluster.dir().join("bench");
    std::fs::create_dir_all(&client)?;
    let hosts_file = client.join("hosts");
    std::fs::write(
        &hosts_file,
        (1..=HOSTS)
            .map(|i| format!("node{i}\n"))
            .collect::<String>(),
    )?;
    println!("writing the payloads");
    let large = client.join("large.bin");
    write_large(&large)?;
    let tree = client.join("tree");
    write_tree(&tree)?;
    let errors = client.join("stderr");

    // Upload the agent once, untimed: later runs find it cached, as on a real cluster.
    let warm = client.join("warm");
    std::fs::write(&warm, "x")?;
    time_once(
        &mut prcp_command(&prcp, cluster.ssh_config(), &client, &warm, false),
        &errors,
    )?;

    println!(
        "\n{:<12} {:<14} {:>9} {:>14}",
        "payload", "tool", "median", "vs best peer"
    );
    for (label, payload, recursive) in [("256 MB file", &large, false), ("10k files", &tree, true)]
    {
        let key = if recursive { "tree" } else { "large" };
        if only.is_some_and(|o| o != key) {
            continue;
        }
        let contenders = contenders(&prcp, &cluster, &client, &hosts_file, payload, recursive);
        let name = payload.file_name().expect("payloads have names").to_owned();
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        for _ in 0..ROUNDS {
            for (i, c) in contenders.iter().enumerate() {
                for node in 1..=HOSTS {
                    on_node(
                        &cluster,
                        node,
                        &format!("rm -rf /tmp/{}", name.to_string_lossy()),
                    )?;
                }
                times[i].push(time_once(&mut (c.build)(HOSTS), &errors).with_context(|| c.name)?);
            }
        }
        let walls: Vec<f64> = times.iter().map(|t| median(t).as_secs_f64()).collect();
        let best_peer = contenders
            .iter()
            .zip(&walls)
            .filter(|(c, _)| !c.name.starts_with("prcp"))
            .map(|(_, &wall)| wall)
            .fold(f64::INFINITY, f64::min);
        for (c, wall) in contenders.iter().zip(&walls) {
            println!(
                "{:<12} {:<14} {:>8.3}s {:>13.2}x",
                label,
                c.name,
                wall,
                wall / best_peer
            );
        }
        println!(
            "             target: prcp/best peer {:.2} ({})\n",
            walls[0] / best_peer,
            if recursive { "<= 0.5" } else { "<= 1" }
        );
    }
    cluster.down().context("stopping the test cluster")?;
    Ok(())
}

/// Runs a shell command inside node `node`'s mount namespace, where its /tmp is.
fn on_node(cluster: &Cluster, node: usize, command: &str) -> Result<()> {
    let status = Command::new("nsenter")
        .arg("-t")
        .arg(cluster.sshd_pid(node).to_string())
        .args(["-m", "sh", "-c", command])
        .status()
        .context("running nsenter")?;
    anyhow::ensure!(status.success(), "node{node}: `{command}` failed");
    Ok(())
}

fn prcp_command(prcp: &Path, config: &Path, client: &Path, src: &Path, recursive: bool) -> Command {
    let mut cmd = Command::new(prcp);
    cmd.env("XDG_RUNTIME_DIR", client)
        .arg("-F")
        .arg(config)
        .args(["--quiet", "-w", &format!("node[1-{HOSTS}]")]);
    if recursive {
        cmd.arg("-r");
    }
    cmd.arg(src).arg("/tmp/");
    cmd
}

fn contenders(
    prcp: &Path,
    cluster: &Cluster,
    client: &Path,
    hosts_file: &Path,
    src: &Path,
    recursive: bool,
) -> Vec<Contender> {
    let config = cluster.ssh_config().to_path_buf();
    let r: &[&str] = if recursive { &["-r"] } else { &[] };
    let r: Vec<String> = r.iter().map(|s| s.to_string()).collect();
    let src = src.to_path_buf();
    let (prcp, client) = (prcp.to_path_buf(), client.to_path_buf());
    let (relay_prcp, relay_client) = (prcp.clone(), client.clone());
    let (c0, c1, c2, c3) = (config.clone(), config.clone(), config.clone(), config);
    let (s0, s1, s2, s3) = (src.clone(), src.clone(), src.clone(), src);
    let (relay_config, relay_src) = (c0.clone(), s0.clone());
    let (r1, r2) = (r.clone(), r);
    let hosts_file: PathBuf = hosts_file.to_path_buf();
    vec![
        Contender {
            name: "prcp",
            build: Box::new(move |_| prcp_command(&prcp, &c0, &client, &s0, recursive)),
        },
        Contender {
            name: "prcp --relay",
            build: Box::new(move |_| {
                let mut cmd = prcp_command(
                    &relay_prcp,
                    &relay_config,
                    &relay_client,
                    &relay_src,
                    recursive,
                );
                cmd.arg("--relay");
                cmd
            }),
        },
        Contender {
            name: "pdcp -R ssh",
            build: Box::new(move |n| {
                let mut cmd = Command::new("pdcp");
                cmd.env("PDSH_SSH_ARGS_APPEND", format!("-F {}", c1.display()))
                    .args([
                        "-R",
                        "ssh",
                        "-f",
                        &n.to_string(),
                        "-w",
                        &format!("node[1-{n}]"),
                    ])
                    .args(&r1)
                    .arg(&s1)
                    .arg("/tmp/");
                cmd
            }),
        },
        Contender {
            name: "parallel-scp",
            build: Box::new(move |n| {
                let mut cmd = Command::new("parallel-scp");
                cmd.args(["-p", &n.to_string(), "-x", &format!("-F {}", c2.display())])
                    .arg("-h")
                    .arg(&hosts_file)
                    .args(&r2)
                    .arg(&s2)
                    .arg("/tmp/");
                cmd
            }),
        },
        Contender {
            name: "clush --copy",
            build: Box::new(move |n| {
                let mut cmd = Command::new("clush");
                cmd.args(["-f", &n.to_string(), "-o", &format!("-F {}", c3.display())])
                    .args(["-w", &format!("node[1-{n}]"), "--copy"])
                    .arg(&s3)
                    .args(["--dest", "/tmp/"]);
                cmd
            }),
        },
    ]
}

/// 256 MB that no compression or deduplication can shortcut (xorshift bytes).
fn write_large(path: &Path) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..LARGE_BYTES / block.len() {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(())
}

/// 10,000 files of 1-16 KB in 100 folders.
fn write_tree(root: &Path) -> Result<()> {
    for i in 0..SMALL_FILES {
        let dir = root.join(format!("d{:02}", i % 100));
        std::fs::create_dir_all(&dir)?;
        let size = 1024 + (i * 7919) % (15 * 1024);
        std::fs::write(dir.join(format!("f{i:05}")), vec![(i % 251) as u8; size])?;
    }
    Ok(())
}
