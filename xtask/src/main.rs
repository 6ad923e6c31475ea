//! Project automation, run as `cargo xtask TASK [ARGS]` (an alias in `.cargo/config.toml`).
//!
//! Each task is a module; this file only picks one. Tasks are Rust rather than shell scripts
//! so that they run wherever cargo does and share code with the tests.

mod bench;
mod cluster;
mod demo;
mod demo_dist;
mod demo_mail;
mod demo_sync;
mod deps;
mod dist;
mod fuzz;
mod golden;
mod man;

use std::process::ExitCode;

/// Every task, with the line `cargo xtask` prints for it.
const TASKS: &[(&str, &str)] = &[
    (
        "cluster",
        "start, inspect or stop the local ssh test cluster (up [N] | status | down)",
    ),
    (
        "demo",
        "build the tools, start a 4-host cluster, show every tool at work, stop it",
    ),
    (
        "deps",
        "install what the test hosts (cluster) or the tests need when it is missing",
    ),
    (
        "man",
        "write man/*.1 from the clap definitions (--check: only compare)",
    ),
    (
        "dist",
        "build the release tarball: binaries, man pages, completions, README, LICENSE",
    ),
    (
        "bench",
        "time the tools against their peers on a test cluster (prsh)",
    ),
    (
        "golden",
        "run the real rdist on prdist's golden cases and record what it did (golden rdist [CASE])",
    ),
    (
        "fuzz",
        "run every cargo-fuzz target for SECONDS each, one at a time (needs nightly)",
    ),
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("cluster") => cluster::run(&rest),
        Some("demo") => demo::run(),
        Some("deps") => deps::run(&rest),
        Some("man") => man::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("dist") => dist::run(),
        Some("fuzz") => fuzz::run(&rest),
        Some("golden") => golden::run(&rest),
        Some("help" | "-h" | "--help") => {
            print!("{}", usage());
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown task '{other}'\n{}", usage().trim_end()),
        None => anyhow::bail!("no task given\n{}", usage().trim_end()),
    }
}

fn usage() -> String {
    let mut out = String::from("usage: cargo xtask TASK [ARGS]\n\ntasks:\n");
    for (name, about) in TASKS {
        out.push_str(&format!("  {name:<10} {about}\n"));
    }
    out
}

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set and not empty (relative to the workspace,
/// as cargo takes it), else `target/` in the workspace.
pub fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Runs cargo with `args` in the workspace, failing if it fails.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()?;
    anyhow::ensure!(status.success(), "`cargo {}` failed", args.join(" "));
    Ok(())
}
