//! prdist against the real rdist 6 (`rdist -M 16`) and parallel-rsync (pssh): a Distfile of 5,000 files (50 folders of 100 files
//! of 2 KB) kept in sync on 16 hosts, 16 at a time. Two cases, each timed in rounds that
//! alternate the tools: nothing changed since the last run, and 1% of the files (50) edited.
//! Every tool syncs into its own folder on each host, so each sees the same edits. rdist runs
//! with a private /etc/hosts naming the test hosts (it resolves names itself) and an ssh
//! wrapper as its `-P`; where it is not installed (CI) its rows are skipped, with a line saying so.
//!
//! prdist keeps each host's ssh master for a few seconds after a run so its own steps can
//! share it; each cold run gets a control folder of its own, so no run starts with a master
//! left by the one before, however long the machine takes to close it.
//! A third row times prdist with `PRTOOLS_PERSIST` (masters kept between runs, the
//! transport's `--persist`), in a control folder of its own: what a site that runs prdist
//! from cron with persistent masters gets. The ratio to beat is the cold one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use prtools_testcluster::Cluster;

use super::{median, time_once};

const HOSTS: usize = 16;
const ROUNDS: usize = 5;
const DIRS: usize = 50;
const PER_DIR: usize = 100;
/// Files edited per round in the 1% case.
const EDITED: usize = DIRS * PER_DIR / 100;

/// Times prdist against parallel-rsync and prints medians and ratios.
pub fn run() -> Result<()> {
    crate::cargo(&["build", "--release", "--bins", "-p", "prdist"])?;
    let prdist = crate::target_dir().join("release/prdist");
    println!("starting a {HOSTS}-host test cluster");
    let cluster = Cluster::start_temp(HOSTS).context("starting the test cluster")?;
    let result = bench(&cluster, &prdist);
    cluster.down().context("stopping the test cluster")?;
    result
}

fn bench(cluster: &Cluster, prdist: &Path) -> Result<()> {
    let client = cluster.dir().join("bench-dist");
    let tree = client.join("tree");
    for d in 0..DIRS {
        let dir = tree.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..PER_DIR {
            std::fs::write(dir.join(format!("f{f:03}.conf")), content(d, f, 0))?;
        }
    }
    let hosts: Vec<String> = (1..=HOSTS).map(|i| format!("node{i}")).collect();
    let distfile = client.join("Distfile");
    std::fs::write(
        &distfile,
        format!(
            "HOSTS = ( {} )\n{} -> ${{HOSTS}}\n\tinstall /tmp/dist ;\n",
            hosts.join(" "),
            tree.display()
        ),
    )?;
    let hosts_file = client.join("hosts");
    std::fs::write(&hosts_file, hosts.join("\n") + "\n")?;
    let errors = client.join("stderr");
    let cfg = cluster.ssh_config();
    let cold_runs = std::cell::Cell::new(0);
    let prdist_cmd = || {
        // A fresh control folder: cold, whatever a master of the last run is still doing.
        cold_runs.set(cold_runs.get() + 1);
        let dir = client.join(format!("cold-{}", cold_runs.get()));
        let _ = std::fs::create_dir_all(&dir);
        let mut c = Command::new(prdist);
        c.env("XDG_RUNTIME_DIR", dir)
            .env_remove("PRTOOLS_PERSIST")
            .arg("-P")
            .arg(format!("ssh -F {}", cfg.display()))
            .args(["-q", "-M", &HOSTS.to_string(), "-f"])
            .arg(&distfile);
        c
    };
    let warm_dir = client.join("warm");
    std::fs::create_dir_all(&warm_dir)?;
    let warm_cmd = || {
        let mut c = prdist_cmd();
        c.env("XDG_RUNTIME_DIR", &warm_dir)
            .env("PRTOOLS_PERSIST", "10m");
        c
    };
    let rdist = rdist_path();
    let rdist_distfile = client.join("Distfile.rdist");
    std::fs::write(
        &rdist_distfile,
        format!(
            "HOSTS = ( {} )\n{} -> ${{HOSTS}}\n\tinstall /tmp/rdist ;\n",
            hosts.join(" "),
            tree.display()
        ),
    )?;
    let etc_hosts = client.join("etc-hosts");
    std::fs::write(
        &etc_hosts,
        format!("127.0.0.1 localhost {}\n", hosts.join(" ")),
    )?;
    let rsh = client.join("rsh");
    std::fs::write(
        &rsh,
        format!("#!/bin/sh\nexec ssh -F {} \"$@\"\n", cfg.display()),
    )?;
    std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let rdist_cmd = |rdist: &Path| {
        // rdist resolves host names itself: a private /etc/hosts, in a mount namespace.
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
            .arg(&etc_hosts)
            .arg(rdist)
            .arg("-P")
            .arg(&rsh)
            .args(["-M", &HOSTS.to_string(), "-f"])
            .arg(&rdist_distfile);
        c
    };
    match &rdist {
        Some(path) => println!("rdist: {}", path.display()),
        None => println!(
            "rdist: not installed, its rows are skipped (build it with ../shared/compat/rdist/build)"
        ),
    }
    let prs_cmd = || {
        let mut c = Command::new("parallel-rsync");
        c.arg("-h")
            .arg(&hosts_file)
            .args(["-p", &HOSTS.to_string(), "-a", "-S"])
            .arg(format!("-F {}", cfg.display()))
            .arg(format!("{}/", tree.display()))
            .arg("/tmp/prs/");
        c
    };
    // First copies (and prdist's agent upload), untimed.
    time_once(&mut prdist_cmd(), &errors)?;
    time_once(&mut prs_cmd(), &errors)?;
    time_once(&mut warm_cmd(), &errors)?;
    if let Some(r) = &rdist {
        time_once(&mut rdist_cmd(r), &errors)?;
    }
    check_same(cluster, &tree, rdist.is_some())?;

    println!(
        "\n{:<18} {:<16} {:>9} {:>16}",
        "case", "tool", "median", "prdist / peer"
    );
    let mut generation = 0;
    for case in ["nothing changed", "1% changed"] {
        let mut times: [Vec<Duration>; 4] = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            if case != "nothing changed" {
                generation += 1;
                for i in 0..EDITED {
                    let n = (round * EDITED + i) * 97 % (DIRS * PER_DIR);
                    let (d, f) = (n / PER_DIR, n % PER_DIR);
                    let path = tree.join(format!("d{d:02}/f{f:03}.conf"));
                    std::fs::write(path, content(d, f, generation))?;
                }
            }
            times[0].push(time_once(&mut prdist_cmd(), &errors)?);
            times[1].push(time_once(&mut prs_cmd(), &errors)?);
            times[2].push(time_once(&mut warm_cmd(), &errors)?);
            if let Some(r) = &rdist {
                times[3].push(time_once(&mut rdist_cmd(r), &errors)?);
            }
        }
        check_same(cluster, &tree, rdist.is_some())?;
        let m = [median(&times[0]), median(&times[1]), median(&times[2])];
        if !times[3].is_empty() {
            let r = median(&times[3]);
            println!("{case:<18} {:<16} {:>8.3}s", "rdist -M 16", r.as_secs_f64());
            println!(
                "{case:<18} {:<16} {:>8.3}s {:>15.2}x",
                "prdist (vs rdist)",
                m[0].as_secs_f64(),
                m[0].as_secs_f64() / r.as_secs_f64()
            );
            println!(
                "{case:<18} {:<16} {:>8.3}s {:>15.2}x",
                "--persist (rdist)",
                m[2].as_secs_f64(),
                m[2].as_secs_f64() / r.as_secs_f64()
            );
        }
        println!(
            "{case:<18} {:<16} {:>8.3}s {:>15.2}x",
            "prdist",
            m[0].as_secs_f64(),
            m[0].as_secs_f64() / m[1].as_secs_f64()
        );
        println!(
            "{case:<18} {:<16} {:>8.3}s",
            "parallel-rsync",
            m[1].as_secs_f64()
        );
        println!(
            "{case:<18} {:<16} {:>8.3}s {:>15.2}x",
            "prdist --persist",
            m[2].as_secs_f64(),
            m[2].as_secs_f64() / m[1].as_secs_f64()
        );
    }
    Ok(())
}

/// 2 KB of text for file `f` of folder `d`, different for each generation of edits.
fn content(d: usize, f: usize, generation: usize) -> String {
    let line = format!("key_{d}_{f} = value {generation}\n");
    line.repeat(2048 / line.len() + 1)
}

/// Where rdist is installed, if it is.
fn rdist_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("rdist"))
        .find(|p| p.is_file())
}

/// Every tool's copies on every host match the source.
fn check_same(cluster: &Cluster, tree: &Path, rdist: bool) -> Result<()> {
    let sample: PathBuf = tree.join("d07/f042.conf");
    let want = std::fs::read(&sample)?;
    let dests: &[&str] = if rdist {
        &["dist", "prs", "rdist"]
    } else {
        &["dist", "prs"]
    };
    for n in 1..=HOSTS {
        for dest in dests {
            let got = std::fs::read(cluster.node_tmp(n).join(dest).join("d07/f042.conf"))
                .with_context(|| format!("node{n}: /tmp/{dest} was not synced"))?;
            anyhow::ensure!(got == want, "node{n}: /tmp/{dest} differs from the source");
        }
    }
    Ok(())
}
