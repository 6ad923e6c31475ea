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
    replace_section(&mut page, "SYNOPSIS", &synopsis(&command));
    if let Some(examples) = command.get_before_help() {
        let section = examples_section(&examples.to_string());
        // After the options and notes, before VERSION, as man pages order them.
        let at = page.find("\n.SH VERSION").map_or(page.len(), |i| i + 1);
        page.insert_str(at, &section);
    }
    Ok(page.into_bytes())
}

/// Replaces the section `name` of a rendered page (its `.SH` line up to the next one) with
/// `section`.
fn replace_section(page: &mut String, name: &str, section: &str) {
    let heading = format!(".SH {name}\n");
    let Some(start) = page.find(&heading) else {
        return;
    };
    let end = page[start + heading.len()..]
        .find("\n.SH ")
        .map_or(page.len(), |i| start + heading.len() + i + 1);
    page.replace_range(start..end, section);
}

/// The SYNOPSIS section, each option with its value's name (`[-w HOSTS]`, `[-N]`): clap_mangen
/// leaves the names out, so that options that take a value look like flags.
fn synopsis(command: &clap::Command) -> String {
    let mut line = vec![roff::bold(command.get_name())];
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let names: Vec<String> = match arg.get_value_names() {
            Some(names) => names.iter().map(ToString::to_string).collect(),
            None => vec![arg.get_id().as_str().to_uppercase()],
        };
        let repeated = matches!(
            arg.get_action(),
            clap::ArgAction::Count | clap::ArgAction::Append
        );
        line.push(roff::roman(" "));
        if arg.is_positional() {
            let name = names.join(" ");
            let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
            let dots = if many { "..." } else { "" };
            if arg.is_required_set() {
                line.extend([roff::italic(name), roff::roman(dots)]);
            } else {
                line.extend([
                    roff::roman("["),
                    roff::italic(name),
                    roff::roman(format!("]{dots}")),
                ]);
            }
            continue;
        }
        line.push(roff::roman("["));
        let spellings: Vec<String> = arg
            .get_short()
            .map(|c| format!("-{c}"))
            .into_iter()
            .chain(arg.get_long().map(|l| format!("--{l}")))
            .collect();
        for (i, spelling) in spellings.iter().enumerate() {
            if i > 0 {
                line.push(roff::roman("|"));
            }
            line.push(roff::bold(spelling));
        }
        if arg.get_action().takes_values() {
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            let long_only = arg.get_short().is_none();
            let (open, close) = match (optional, long_only) {
                (true, _) => ("[=", "]"),
                (false, true) => ("=", ""),
                (false, false) => (" ", ""),
            };
            line.extend([
                roff::roman(open),
                roff::italic(names.join(" ")),
                roff::roman(close),
            ]);
        }
        line.push(roff::roman(if repeated { "]..." } else { "]" }));
    }
    let mut roff = roff::Roff::new();
    roff.control("SH", ["SYNOPSIS"]).text(line);
    let rendered = roff.render();
    let start = rendered
        .find(".SH SYNOPSIS")
        .expect("the section was written");
    rendered[start..].to_string()
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

    /// Each option that takes a value shows the value's name in the SYNOPSIS, and a flag shows
    /// none: `[-w HOSTS]`, `[-N]`, never `[-w ]`.
    #[test]
    fn synopsis_names_the_values() {
        for (name, command) in super::tools() {
            let synopsis = super::synopsis(&command);
            assert!(!synopsis.contains(" \\fR]"), "{name}: {synopsis}");
            for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
                let Some(short) = arg.get_short() else {
                    continue;
                };
                let shown = format!("\\fB\\-{short}\\fR");
                if arg.get_action().takes_values() {
                    let value = arg.get_value_names().unwrap()[0].to_string();
                    // The value follows the last spelling: `[-h|--hostfile FILE]`.
                    let last = arg.get_long().map_or_else(
                        || shown.clone(),
                        |long| format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-")),
                    );
                    assert!(
                        synopsis.contains(&format!("{last} \\fI{value}\\fR")),
                        "{name}: -{short} without {value}: {synopsis}"
                    );
                } else {
                    let end = if arg.get_long().is_some() { "|" } else { "]" };
                    let flag = format!("[{shown}{end}");
                    assert!(synopsis.contains(&flag), "{name}: -{short}");
                }
            }
        }
        let prsh = super::synopsis(&super::tools()[0].1);
        assert!(prsh.contains("[\\fB\\-w\\fR \\fIHOSTS\\fR]..."), "{prsh}");
        assert!(prsh.contains(" [\\fB\\-N\\fR] "), "{prsh}");
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
