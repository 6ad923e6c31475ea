//! The prdist step of `cargo xtask demo`: an rdist Distfile that keeps /tmp/etc identical
//! on 4 hosts; one edit here, then a copy changed by hand on one host, each followed by a
//! run in which the `special` command runs only where its file changed.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// Runs the step against the cluster whose ssh config is `cfg`, with files under `dir`.
pub fn step(
    bin: &Path,
    cfg: &str,
    dir: &Path,
    node_tmp: &dyn Fn(usize) -> std::path::PathBuf,
) -> Result<()> {
    crate::cargo(&["build", "--bins", "-p", "prdist"])?;
    let work = dir.join("dist");
    let etc = work.join("etc");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("hosts"), "10.0.0.1 node1\n10.0.0.2 node2\n")?;
    std::fs::write(etc.join("resolv.conf"), "nameserver 10.0.0.53\n")?;
    std::fs::write(etc.join("sshd_config"), "PermitRootLogin no\n")?;
    let e = etc.display();
    let distfile = format!(
        "HOSTS = ( node1 node2 node3 node4 )\n\n\
         etc: {e} -> ${{HOSTS}}\n\
         \tinstall -oremove /tmp/etc ;\n\
         \tspecial {e}/sshd_config \"echo reload sshd: $REMFILE changed\" ;\n"
    );
    std::fs::write(work.join("Distfile"), &distfile)?;
    println!(
        "\n# prdist: an rdist 6 Distfile, hosts updated in parallel (-M), files sent as deltas"
    );
    println!(
        "$ cat Distfile\n{}",
        distfile.replace(&e.to_string(), "SRC/etc")
    );
    let run = |args: &[&str]| -> Result<()> {
        println!("\n$ prdist -P 'ssh -F CONFIG' {}", args.join(" "));
        let out = Command::new(bin.join("prdist"))
            .arg("-P")
            .arg(format!("ssh -F {cfg}"))
            .args(args)
            .current_dir(&work)
            .env("XDG_RUNTIME_DIR", dir)
            .output()
            .context("running prdist")?;
        print!(
            "{}",
            String::from_utf8_lossy(&out.stdout).replace(&e.to_string(), "SRC/etc")
        );
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!("(exit status {})", out.status.code().unwrap_or(-1));
        Ok(())
    };
    run(&["-n"])?;
    run(&["-M", "4"])?;
    println!("\n# one edit here: every host gets it, and the special runs on each");
    std::fs::write(
        etc.join("sshd_config"),
        "PermitRootLogin no\nPasswordAuthentication no\n",
    )?;
    run(&["-M", "4"])?;
    println!("\n# someone edits node3's copy by hand: only node3 is updated, its special runs");
    std::fs::write(node_tmp(3).join("etc/sshd_config"), "PermitRootLogin yes\n")?;
    run(&["-M", "4"])?;
    Ok(())
}
