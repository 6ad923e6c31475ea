//! `cargo xtask man`: man pages generated from the clap definitions, so that `--help`, the
//! man page and the completions (`cargo xtask dist`) come from one definition.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

/// Every tool's name and its clap command.
pub fn tools() -> Vec<(&'static str, clap::Command)> {
    vec![
        ("prsh", prsh::cli::Cli::command()),
        ("prcp", prcp::cli::Cli::command()),
        ("prsync", prsync::cli::Cli::command()),
        ("prdist", prdist::cli::Cli::command()),
        ("pgrep-mail", pgrep_mail::cli::Cli::command()),
    ]
}

/// Renders one man page in roff.
fn render(command: clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .context("rendering a man page")?;
    Ok(page)
}

fn man_dir() -> PathBuf {
    crate::workspace_root().join("man")
}

/// Writes `man/TOOL.1` for every tool; with `--check`, only says whether they are current.
pub fn run(args: &[String]) -> Result<()> {
    let dir = man_dir();
    if args.iter().any(|a| a == "--check") {
        let stale = stale_pages(&dir)?;
        anyhow::ensure!(
            stale.is_empty(),
            "stale man pages {stale:?}: run `cargo xtask man` and commit the result"
        );
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    for (name, command) in tools() {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, render(command)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The pages that differ from what `cargo xtask man` would write now.
pub fn stale_pages(dir: &Path) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (name, command) in tools() {
        let path = dir.join(format!("{name}.1"));
        let current = std::fs::read(&path).unwrap_or_default();
        if current != render(command)? {
            stale.push(path.display().to_string());
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_pages_are_current() {
        let stale = super::stale_pages(&super::man_dir()).unwrap();
        assert!(
            stale.is_empty(),
            "stale man pages {stale:?}: run `cargo xtask man` and commit the result"
        );
    }
}
