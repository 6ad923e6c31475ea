//! `cargo xtask bench prsh|prcp|prdist|prsync|pgrep-mail`: each tool against its peers, in one run, on one test
//! cluster, with medians and ratios.
//!
//! Runs are interleaved round by round (every tool once, then again) so that drift in the
//! machine's load affects every tool alike.

mod memory;
mod pgrep_mail;
mod prcp;
mod prdist;
mod prsh;
mod prsync;
mod workdir;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One tool's way of doing the benchmark's job on `n` hosts.
pub(crate) struct Contender {
    pub name: &'static str,
    pub build: Box<dyn Fn(usize) -> Command>,
}

/// Runs the benchmark named by `args`.
pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("prsh") | None => prsh::run(),
        Some("prcp") => prcp::run(args.get(1).map(String::as_str)),
        Some("pgrep-mail") => pgrep_mail::run(&args[1..]),
        Some("prdist") => prdist::run(),
        Some("prsync") => prsync::run(&args[1..]),
        Some(other) => {
            bail!("unknown benchmark '{other}': the benchmarks are: prsh, prcp, prdist, prsync, pgrep-mail")
        }
    }
}

/// Runs a command once and returns its wall time; fails, with its stderr, if it fails.
pub(crate) fn time_once(cmd: &mut Command, errors: &Path) -> Result<Duration> {
    let stderr = std::fs::File::create(errors)?;
    workdir::enter(cmd)?;
    let start = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let wall = start.elapsed();
    workdir::leave(cmd)?;
    if !status.success() {
        let text = std::fs::read_to_string(errors).unwrap_or_default();
        bail!("{:?} failed: {}", cmd.get_program(), text.trim());
    }
    Ok(wall)
}

pub(crate) fn median<T: Copy + Ord>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}
