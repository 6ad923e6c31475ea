//! `cargo xtask demo`: a throwaway 4-host cluster on this machine, and every tool at work on
//! it, each command printed before its output as a user would type it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use prtools_testcluster::Cluster;

/// Builds the tools, starts the cluster, runs the steps, stops the cluster.
pub fn run() -> Result<()> {
    // Before the build: a missing sshd should not cost a newcomer a minute of compiling first.
    crate::deps::ensure(crate::deps::Need::Cluster)?;
    crate::cargo(&[
        "build",
        "--bins",
        "-p",
        "prsh",
        "-p",
        "prcp",
        "-p",
        "prsync",
        "-p",
        "prdist",
        "-p",
        "pgrep-mail",
    ])?;
    let bin = crate::target_dir().join("debug");
    println!("starting a 4-host test cluster (sshd in namespaces, private /tmp each)");
    let cluster = Cluster::start_temp(4).context("starting the test cluster")?;
    let result = steps(&cluster, &bin);
    cluster.down().context("stopping the test cluster")?;
    result
}

fn steps(cluster: &Cluster, bin: &Path) -> Result<()> {
    let cfg = cluster.ssh_config().display().to_string();
    let client = cluster.dir().join("demo");
    std::fs::create_dir_all(&client)?;
    let tool = |name: &str, args: &[&str]| -> Result<()> {
        println!("\n$ {name} {}", shell_words(args));
        let status = Command::new(bin.join(name))
            .arg("-F")
            .arg(&cfg)
            .args(args)
            .env("XDG_RUNTIME_DIR", &client)
            .stdin(std::process::Stdio::null())
            .status()
            .with_context(|| format!("running {name}"))?;
        println!("(exit status {})", status.code().unwrap_or(-1));
        Ok(())
    };
    let show = |args: &[&str]| tool("prsh", args);
    println!(
        "\n# prsh: run a command on every host at once (-F points at the cluster's ssh config)"
    );
    show(&["-w", "node[1-4]", "hostname"])?;
    println!("\n# -b gathers hosts with identical output, as pdsh | dshbak -c");
    show(&["-w", "node[1-4]", "-b", "uname -sr"])?;
    println!("\n# each host has a private /tmp: stage a file and list it");
    show(&[
        "-w",
        "node[1-4]",
        "echo hello from $(hostname) > /tmp/hello; cat /tmp/hello",
    ])?;
    println!("\n# the exit status is the largest remote one; failures are named, folded");
    show(&["-w", "node[1-4]", "exit $(hostname | tr -dc 0-9)"])?;
    println!(
        "\n# prcp: stage a tree into /tmp on every host (the agent is uploaded once, then cached)"
    );
    let tree = client.join("inputs");
    std::fs::create_dir_all(tree.join("conf"))?;
    std::fs::write(tree.join("conf/app.toml"), "threads = 8\n")?;
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\necho ready\n")?;
    let tree_arg = tree.display().to_string();
    tool(
        "prcp",
        &["-w", "node[1-4]", "-r", "-p", "--stats", &tree_arg, "/tmp"],
    )?;
    show(&["-w", "node[1-4]", "-b", "find /tmp/inputs | sort"])?;
    println!("\n# prcp --gather: bring a file back from every host as NAME.HOST, as rpdcp");
    let back = client.join("gathered");
    std::fs::create_dir_all(&back)?;
    let back_arg = back.display().to_string();
    tool(
        "prcp",
        &["--gather", "-w", "node[1-4]", "/tmp/hello", &back_arg],
    )?;
    let mut names: Vec<String> = std::fs::read_dir(&back)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    println!("{}: {}", back.display(), names.join(" "));
    crate::demo_sync::step(bin, &cfg, &client)?;
    crate::demo_dist::step(bin, &cfg, &client, &|n| cluster.node_tmp(n))?;
    println!("\n# a host that is down is refused and named; the others complete");
    cluster.stop_node(3)?;
    show(&["-w", "node[1-4]", "-t", "3", "uptime -p || uptime"])?;
    crate::demo_mail::step(bin, &client)?;
    Ok(())
}

/// The arguments as a user would type them, quoted where the shell needs it.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./[],=@%:".contains(c))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
