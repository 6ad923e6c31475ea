//! The prsync step of `cargo xtask demo`: a 20 MB file synced to every host, then one line of
//! it changed and synced again, to show how few bytes the delta sends.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// Lines in the demo file: about 20 MB of numbered lines.
const LINES: usize = 1_000_000;

/// Runs the step against the cluster whose ssh config is `cfg`, with files under `dir`.
pub fn step(bin: &Path, cfg: &str, dir: &Path) -> Result<()> {
    let data = dir.join("dataset");
    std::fs::create_dir_all(&data)?;
    let text = |changed: Option<usize>| -> String {
        (0..LINES)
            .map(|i| match changed {
                Some(c) if c == i => "this line was edited\n".to_string(),
                _ => format!("sample {i:07} 0.{:06}\n", (i * 7919) % 1_000_000),
            })
            .collect()
    };
    std::fs::write(data.join("samples.txt"), text(None))?;
    let src = format!("{}/", data.display());
    let rsh = format!("ssh -F {cfg}");
    let run = |args: &[&str], keep: &dyn Fn(&str) -> bool| -> Result<()> {
        let mut shown = vec!["-e", "'ssh -F CONFIG'"];
        shown.extend_from_slice(args);
        println!("\n$ prsync {}", shown.join(" "));
        let out = Command::new(bin.join("prsync"))
            .arg("-e")
            .arg(&rsh)
            .args(args)
            .env("XDG_RUNTIME_DIR", dir)
            .output()
            .context("running prsync")?;
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| keep(l))
        {
            println!("{line}");
        }
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        println!("(exit status {})", out.status.code().unwrap_or(-1));
        Ok(())
    };
    println!("\n# prsync: rsync's command line to many hosts at once (-w, DEST is :PATH)");
    run(&["-ai", "-w", "node[1-4]", &src, ":/tmp/dataset"], &|_| {
        true
    })?;
    println!("\n# one line of the 20 MB file changes: each host gets a delta of a few KB");
    std::fs::write(data.join("samples.txt"), text(Some(LINES / 2)))?;
    run(
        &["-ai", "--stats", "-w", "node[1-4]", &src, ":/tmp/dataset"],
        &|l| l.contains(">f") || l.contains("Literal data") || l.contains("Matched data"),
    )?;
    Ok(())
}
