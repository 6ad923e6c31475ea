//! Every tool's `--help` fits a terminal and starts with the three most common uses;
//! `--help-all` lists every option.

use std::collections::BTreeSet;
use std::process::Command;

use prtools_tests::{bin, run, text, TOOLS};

/// The most lines `--help` may take: one screen.
const MAX_LINES: usize = 40;
/// The widest line `--help` may print; clap wraps to the terminal, and to 100 columns when
/// standard output is not one, as here.
const MAX_COLUMNS: usize = 100;

/// What `tool FLAG` prints, with no terminal and no `COLUMNS` to wrap to.
fn help(tool: &str, flag: &str) -> String {
    let out = run(Command::new(bin(tool))
        .arg(flag)
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{tool} {flag}: {}",
        text(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{tool} {flag}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The flags a help page lists: the first words of the option lines, which start with a dash
/// after at most six spaces (descriptions and their wrapped lines are indented further).
fn flags(page: &str) -> BTreeSet<String> {
    page.lines()
        .map(|l| (l.len() - l.trim_start().len(), l.trim_start()))
        .filter(|(indent, l)| *indent <= 6 && l.starts_with('-'))
        .map(|(_, l)| l)
        .flat_map(|l| {
            l.split([' ', ','])
                .take_while(|w| w.is_empty() || w.starts_with('-'))
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_end_matches("...").to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn help_fits_a_terminal_and_starts_with_three_examples() {
    for tool in TOOLS {
        let page = help(tool, "--help");
        let lines: Vec<&str> = page.lines().collect();
        assert!(
            lines.len() <= MAX_LINES,
            "{tool}: {} lines:\n{page}",
            lines.len()
        );
        for line in &lines {
            assert!(
                line.chars().count() <= MAX_COLUMNS,
                "{tool}: a line over {MAX_COLUMNS} columns: {line:?}"
            );
        }
        // A one-line description, the usage, then the examples.
        assert!(
            !lines[0].is_empty() && lines[1].is_empty(),
            "{tool}:\n{page}"
        );
        assert!(
            lines[2].starts_with(&format!("Usage: {tool} ")),
            "{tool}:\n{page}"
        );
        let examples = lines
            .iter()
            .position(|l| *l == "Examples:")
            .unwrap_or_else(|| panic!("{tool}: no examples:\n{page}"));
        let uses: Vec<&&str> = lines[examples + 1..]
            .iter()
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(uses.len(), 3, "{tool}: three examples expected:\n{page}");
        for line in uses {
            assert!(line.starts_with(&format!("  {tool}")), "{tool}: {line:?}");
        }
        let first_option = lines
            .iter()
            .position(|l| l.trim_start().starts_with('-'))
            .unwrap_or_else(|| panic!("{tool}: no options:\n{page}"));
        assert!(
            examples < first_option,
            "{tool}: options before examples:\n{page}"
        );
        // The last line names the full list.
        let last = lines.last().unwrap();
        assert!(
            last.contains(&format!("`{tool} --help-all`"))
                && last.contains(&format!("`man {tool}`")),
            "{tool}: the last line should point at --help-all and the man page: {last:?}"
        );
    }
}

#[test]
fn help_all_lists_what_help_hides() {
    for tool in TOOLS {
        let short = flags(&help(tool, "--help"));
        let all = flags(&help(tool, "--help-all"));
        assert!(short.len() >= 5, "{tool}: {short:?}");
        let missing: Vec<_> = short.difference(&all).collect();
        assert!(
            missing.is_empty(),
            "{tool}: in --help, not in --help-all: {missing:?}"
        );
        let hidden: Vec<_> = all.difference(&short).collect();
        assert!(
            !hidden.is_empty(),
            "{tool}: --help-all shows nothing --help hides"
        );
        assert!(
            all.contains("--help-all") && all.contains("--help"),
            "{tool}: {all:?}"
        );
    }
}
