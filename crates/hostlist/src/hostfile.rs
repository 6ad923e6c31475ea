//! Hostfiles (`-h FILE`, `^FILE`, `WCOLL`): one `[user@]host[:port]` or host expression a
//! line, `#include FILE` lines, `#` comments, blank lines ignored.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// One meaningful line of a hostfile.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Hosts, with the line's 1-based number for errors.
    Hosts(usize, String),
    /// `#include FILE`, as pdsh reads it: the hosts of FILE, here. A relative FILE is looked
    /// for beside the file that includes it.
    Include(PathBuf),
    /// A line that starts like `#include` but is not one (`#include a b`, `#included`,
    /// `#include` alone): ignored, with a warning, as pdsh does.
    Malformed(usize, String),
}

/// Reads a hostfile into its meaningful lines.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<Line>, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Hostfile {
        path: path.to_path_buf(),
        err,
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    Ok(meaningful_lines(&text)
        .into_iter()
        .map(|line| match line {
            Line::Include(file) if file.is_relative() => Line::Include(dir.join(file)),
            other => other,
        })
        .collect())
}

/// The non-blank, comment-free lines of a file, numbered from 1. A `#` starts a comment
/// anywhere on a line, since no host name can hold one; what is left is trimmed.
pub(crate) fn meaningful_lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let trimmed = line.trim();
            if trimmed.starts_with("#include") {
                let words: Vec<&str> = trimmed.split_whitespace().collect();
                return Some(match words[..] {
                    ["#include", file] => Line::Include(PathBuf::from(file)),
                    _ => Line::Malformed(i + 1, trimmed.to_string()),
                });
            }
            without_comment(line).map(|line| Line::Hosts(i + 1, line))
        })
        .collect()
}

/// The non-blank, comment-free lines of a file that knows no `#include` (a groups file),
/// numbered from 1.
pub(crate) fn plain_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| Some((i + 1, without_comment(line)?)))
        .collect()
}

/// A line without its `#` comment and surrounding blanks; None when nothing is left.
fn without_comment(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or_default().trim();
    (!line.is_empty()).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# cluster\n\nnode1\n  root@node2:22  # the odd one\n\t\nnode[3-4]\r\n#\n";
        assert_eq!(
            meaningful_lines(text),
            [
                Line::Hosts(3, "node1".to_string()),
                Line::Hosts(4, "root@node2:22".to_string()),
                Line::Hosts(6, "node[3-4]".to_string())
            ]
        );
    }

    #[test]
    fn include_lines_as_pdsh_reads_them() {
        let text = "a\n#include B\n#include B garbage\n#included A\n#include\n# include C\n";
        assert_eq!(
            meaningful_lines(text),
            [
                Line::Hosts(1, "a".to_string()),
                Line::Include(PathBuf::from("B")),
                Line::Malformed(3, "#include B garbage".to_string()),
                Line::Malformed(4, "#included A".to_string()),
                Line::Malformed(5, "#include".to_string()),
            ]
        );
    }

    #[test]
    fn a_missing_file_names_the_file() {
        let missing = Path::new("/nonexistent-prtools-hostlist-test/hosts");
        assert_eq!(
            read_lines(missing).unwrap_err().to_string(),
            "cannot read hostfile /nonexistent-prtools-hostlist-test/hosts: \
             No such file or directory (os error 2)"
        );
    }
}
