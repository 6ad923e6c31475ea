//! `cargo xtask bench prsh`: prsh against pdsh, parallel-ssh and clush, in one run, on one
//! test cluster, with medians and ratios.
//!
//! Runs are interleaved round by round (every tool once, then again) so that drift in the
//! machine's load affects every tool alike. Peak memory is the `ru_maxrss` that wait4 reports
//! for the tool's process tree (the largest single process in it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use prtools_testcluster::Cluster;

/// Timed runs per tool and host count.
const ROUNDS: usize = 7;
const HOST_COUNTS: [usize; 2] = [16, 64];

/// One tool's way of running `true` on `n` hosts.
struct Contender {
    name: &'static str,
    build: Box<dyn Fn(usize) -> Command>,
}

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    max_rss_kib: u64,
}

/// Runs the benchmark named by `args` (only `prsh` exists so far).
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("prsh") | None => bench_prsh(),
        Some(other) => bail!("unknown benchmark '{other}': the benchmarks are: prsh"),
    }
}

fn bench_prsh() -> Result<()> {
    crate::cargo(&["build", "--release", "--bins", "-p", "prsh"])?;
    let prsh = crate::workspace_root().join("target/release/prsh");
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
    println!(
        "\n{:>5}  {:<22} {:>10} {:>12} {:>16}",
        "hosts", "tool", "median", "peak RSS", "time vs prsh"
    );
    for &n in &HOST_COUNTS {
        let hosts_file = client.join(format!("hosts{n}"));
        std::fs::write(
            &hosts_file,
            (1..=n).map(|i| format!("node{i}\n")).collect::<String>(),
        )?;
        // Prime the persistent masters for the warm runs (not timed).
        sample(&mut (contenders[1].build)(n))?;
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); contenders.len()];
        for _ in 0..ROUNDS {
            for (i, c) in contenders.iter().enumerate() {
                samples[i].push(sample(&mut (c.build)(n)).with_context(|| c.name)?);
            }
        }
        let medians: Vec<Sample> = samples.iter().map(|s| median(s)).collect();
        let cold = medians[0].wall.as_secs_f64();
        for (c, m) in contenders.iter().zip(&medians) {
            println!(
                "{:>5}  {:<22} {:>9.3}s {:>8.1} MiB {:>15.2}x",
                n,
                c.name,
                m.wall.as_secs_f64(),
                m.max_rss_kib as f64 / 1024.0,
                m.wall.as_secs_f64() / cold
            );
        }
        let pdsh = medians[2].wall.as_secs_f64();
        println!(
            "       targets: cold prsh/pdsh {:.2} (<= 1), warm prsh/pdsh {:.2} (<= 0.25), \
             prsh/pdsh peak RSS {:.2} (< 1)\n",
            cold / pdsh,
            medians[1].wall.as_secs_f64() / pdsh,
            medians[0].max_rss_kib as f64 / medians[2].max_rss_kib as f64
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

/// Runs a command once, returning its wall time and peak memory; fails if it fails.
fn sample(cmd: &mut Command) -> Result<Sample> {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data that wait4 fills in; zeroed is a valid initial value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unwaited child; both pointers are valid for the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        bail!("{:?} failed: {}", cmd.get_program(), stderr.trim());
    }
    Ok(Sample {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

fn median(samples: &[Sample]) -> Sample {
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|s| s.wall);
    let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
    rss.sort_unstable();
    Sample {
        wall: sorted[sorted.len() / 2].wall,
        max_rss_kib: rss[rss.len() / 2],
    }
}
