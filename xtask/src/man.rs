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

/// Renders one man page in roff: clap_mangen's page, with the examples `--help` starts with
/// (the command's `before_help`, which clap_mangen leaves out) as an EXAMPLES section.
fn render(command: clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .context("rendering a man page")?;
    let mut page = String::from_utf8(page).context("a man page is UTF-8")?;
    if let Some(examples) = command.get_before_help() {
        let section = examples_section(&examples.to_string());
        // After the options and notes, before VERSION, as man pages order them.
        let at = page.find("\n.SH VERSION").map_or(page.len(), |i| i + 1);
        page.insert_str(at, &section);
    }
    Ok(page.into_bytes())
}

/// `Examples:` and its indented lines as a roff section, the lines kept as written.
fn examples_section(text: &str) -> String {
    let mut roff = roff::Roff::new();
    roff.control("SH", ["EXAMPLES"]).control("nf", []);
    for line in text.lines().skip_while(|l| l.trim() == "Examples:") {
        roff.text([roff::roman(line.strip_prefix("  ").unwrap_or(line))]);
    }
    roff.control("fi", []);
    // `render` escapes dashes and apostrophes as clap_mangen does; the page already opens
    // with the preamble that defines the apostrophe, so only the section is kept.
    let rendered = roff.render();
    let start = rendered
        .find(".SH EXAMPLES")
        .expect("the section was written");
    rendered[start..].to_string()
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
    fn every_option_and_the_examples_are_in_the_man_pages() {
        for (name, command) in super::tools() {
            let page = String::from_utf8(super::render(command.clone()).unwrap()).unwrap();
            assert!(page.contains(".SH EXAMPLES"), "{name}");
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    let flag = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
                    assert!(page.contains(&flag), "{name}: {flag} missing");
                }
                // An option `--help` hides keeps its description here.
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                let first = help.lines().next().unwrap_or_default();
                let first = first
                    .replace('\\', "\\\\")
                    .replace('-', "\\-")
                    .replace('\'', "\\*(Aq");
                assert!(page.contains(&first), "{name}: '{first}' missing");
            }
        }
    }

    #[test]
    fn man_pages_are_current() {
        let stale = super::stale_pages(&super::man_dir()).unwrap();
        assert!(
            stale.is_empty(),
            "stale man pages {stale:?}: run `cargo xtask man` and commit the result"
        );
    }
}
