//! `cargo xtask golden rdist`: runs the real rdist 6 on every case of
//! `crates/prdist/tests/golden/cases` against a fresh test cluster and writes what it did
//! (output, exit status, resulting trees, provenance) to `CASE.rdist` beside the case. The
//! `golden` test of prdist runs prdist on the same cases and compares; it needs no rdist.
//!
//! rdist resolves host names itself before it calls its remote shell, so it runs with a
//! private `/etc/hosts` naming the cluster's `nodeI` (a mount namespace of its own; the
//! system's file is not touched), and its remote shell is a wrapper adding the cluster's
//! `ssh -F`. rdist is built from `../shared/compat/rdist/build`.

#[path = "../../crates/prdist/tests/golden/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use prtools_testcluster::Cluster;

/// Runs `golden rdist`.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("rdist") => rdist(&args[1..]),
        _ => bail!("usage: cargo xtask golden rdist [CASE...]"),
    }
}

/// Where rdist is, or why the golden files cannot be made here.
fn find_rdist() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("rdist"))
        .find(|p| p.is_file())
        .context(
            "rdist is not installed; the golden files need the real rdist 6\n\
             hint: build it with `../shared/compat/rdist/build` (installs /usr/local/bin/rdist)",
        )
}

fn rdist(only: &[String]) -> Result<()> {
    let rdist = find_rdist()?;
    let version = Command::new(&rdist).arg("-V").output()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let crate_dir = crate::workspace_root().join("crates/prdist");
    let cases_dir = harness::cases_dir(&crate_dir);
    let cases = harness::load_all(&cases_dir).map_err(anyhow::Error::msg)?;
    println!("starting a {}-host test cluster", harness::NODES);
    let cluster = Cluster::start_temp(harness::NODES).context("starting the test cluster")?;
    let result = write_all(&cluster, &rdist, &version, &cases, &cases_dir, only);
    cluster.down().context("stopping the test cluster")?;
    result
}

fn write_all(
    cluster: &Cluster,
    rdist: &Path,
    version: &str,
    cases: &[harness::Case],
    cases_dir: &Path,
    only: &[String],
) -> Result<()> {
    let dir = cluster.dir().join("golden");
    std::fs::create_dir_all(&dir)?;
    let hosts = dir.join("hosts");
    let names: Vec<String> = (1..=harness::NODES).map(|i| format!("node{i}")).collect();
    std::fs::write(&hosts, format!("127.0.0.1 localhost {}\n", names.join(" ")))?;
    let rsh = dir.join("rsh");
    std::fs::write(
        &rsh,
        format!(
            "#!/bin/sh\nexec ssh -F {} \"$@\"\n",
            cluster.ssh_config().display()
        ),
    )?;
    std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let place = harness::Place {
        local: dir.join("local"),
        node_tmp: (1..=harness::NODES).map(|n| cluster.node_tmp(n)).collect(),
    };
    let tool = |args: &[String]| {
        // A private /etc/hosts for rdist alone: a mount namespace of its own.
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
            .arg(&hosts)
            .arg(rdist)
            .arg("-P")
            .arg(&rsh)
            .args(args);
        cmd
    };
    let mut written = 0;
    for case in cases {
        if !only.is_empty() && !only.contains(&case.name) {
            continue;
        }
        let got = harness::run_case(case, &place, &tool).map_err(anyhow::Error::msg)?;
        let mut file = harness::Sections::default();
        file.push(
            "provenance",
            &format!(
                "made by `cargo xtask golden rdist` on {} with {version}\n\
                 run as `rdist -P SSH-WRAPPER ARGS` in the local folder, with an /etc/hosts naming \
                 node1..node{} (127.0.0.1): each a test-cluster sshd with a private /tmp\n\
                 normalised: the local folder's path is $LOCAL, this machine's name at the start \
                 of a line $HOST; output lines sorted; mtimes after 2021 show as `new`\n",
                harness::today(),
                harness::NODES
            ),
        );
        file.0.extend(got.0);
        let path = cases_dir.join(format!("{}.rdist", case.name));
        std::fs::write(&path, file.render())?;
        println!("{}: written", path.display());
        written += 1;
    }
    anyhow::ensure!(written > 0, "no case named {}", only.join(" or "));
    println!("{written} golden files written");
    Ok(())
}
