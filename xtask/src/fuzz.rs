//! `cargo xtask fuzz SECONDS [TARGET...]`: runs every cargo-fuzz target in `fuzz/` (or the
//! ones named) for SECONDS each, one after another, each with one job, so that a shared
//! machine keeps its other cores.
//!
//! Each target starts from its saved corpus (`fuzz/corpus/TARGET`, kept out of git), the
//! seeds checked in under `fuzz/seeds/TARGET`, and, for the mail target, the real mailboxes
//! of `../shared/data` when they are there. A target that finds a crash leaves it in
//! `fuzz/artifacts/TARGET/`; the others still run, and the task fails at the end naming
//! every target that found something. CI does not run this: fuzzing takes minutes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// Every target of `fuzz/Cargo.toml`, in the order they run (a test keeps the two lists
/// the same).
pub const TARGETS: &[&str] = &[
    "hostlist",
    "distfile",
    "prcp_protocol",
    "prsync_wire",
    "delta",
    "mail",
    "filter",
];

/// Real data that seeds a target besides its own seeds, relative to the workspace root.
/// See `../shared/data/README.md` for where each comes from.
const SHARED_SEEDS: &[(&str, &str)] = &[
    ("mail", "../shared/data/grepmail/t/mailboxes"),
    ("mail", "../shared/data/notmuch/test/corpora"),
];

pub fn run(args: &[String]) -> Result<()> {
    let Some((seconds, names)) = args.split_first() else {
        bail!(
            "usage: cargo xtask fuzz SECONDS [TARGET...]; targets: {}",
            TARGETS.join(" ")
        );
    };
    let seconds: u64 = seconds.parse().ok().filter(|&s| s > 0).with_context(|| {
        format!("'{seconds}' is not a number of seconds: give one, as in `cargo xtask fuzz 60`")
    })?;
    let targets: Vec<&str> = if names.is_empty() {
        TARGETS.to_vec()
    } else {
        for name in names {
            ensure!(
                TARGETS.contains(&name.as_str()),
                "no fuzz target '{name}'; targets: {}",
                TARGETS.join(" ")
            );
        }
        names.iter().map(String::as_str).collect()
    };
    check_tools()?;
    let root = crate::workspace_root();
    let mut found = Vec::new();
    for target in targets {
        println!("fuzz: {target} for {seconds}s");
        if !fuzz_one(&root, target, seconds)? {
            found.push(target);
        }
    }
    ensure!(
        found.is_empty(),
        "fuzz targets {} found a failure: the input is in fuzz/artifacts/TARGET/; \
         reproduce it with `cargo +nightly fuzz run TARGET ARTIFACT`",
        found.join(", ")
    );
    Ok(())
}

/// Fails with one line naming the fix when the nightly toolchain or cargo-fuzz is missing.
fn check_tools() -> Result<()> {
    if !succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"])) {
        bail!("the nightly toolchain is missing: run `rustup toolchain install nightly`");
    }
    if !succeeds(Command::new("cargo").args(["+nightly", "fuzz", "--version"])) {
        bail!("cargo-fuzz is missing: run `cargo install cargo-fuzz`");
    }
    Ok(())
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs one target; false when it found a crash, a timeout or an out-of-memory input.
fn fuzz_one(root: &Path, target: &str, seconds: u64) -> Result<bool> {
    let corpus = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let mut dirs: Vec<PathBuf> = vec![corpus, root.join("fuzz/seeds").join(target)];
    dirs.extend(
        SHARED_SEEDS
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, dir)| root.join(dir))
            .filter(|dir| dir.is_dir()),
    );
    // `cargo` from PATH, not $CARGO: the rustup proxy is what understands `+nightly`.
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", target])
        .args(&dirs)
        .args(["--", &format!("-max_total_time={seconds}")])
        .current_dir(root)
        .status()
        .context("cannot start `cargo +nightly fuzz`")?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task runs what `fuzz/Cargo.toml` defines, no more and no less.
    #[test]
    fn targets_match_the_fuzz_manifest() {
        let manifest = std::fs::read_to_string(crate::workspace_root().join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
        let mut defined: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|name| *name != "prtools-fuzz")
            .collect();
        let mut listed = TARGETS.to_vec();
        defined.sort_unstable();
        listed.sort_unstable();
        assert_eq!(
            defined, listed,
            "update TARGETS in xtask/src/fuzz.rs to the [[bin]]s of fuzz/Cargo.toml"
        );
    }

    /// Every target has its checked-in seeds.
    #[test]
    fn every_target_has_seeds() {
        for target in TARGETS {
            let dir = crate::workspace_root().join("fuzz/seeds").join(target);
            let count = std::fs::read_dir(&dir).map_or(0, |d| d.count());
            assert!(count > 0, "no seeds in {}", dir.display());
        }
    }
}
