//! Hostfiles (`-h FILE`, `^FILE`, `WCOLL`): one `[user@]host[:port]` or host expression a
//! line, `#` comments, blank lines ignored.

use std::path::Path;

use crate::error::Error;

/// Reads a hostfile into its meaningful lines, each with its 1-based line number for errors.
///
/// A `#` starts a comment anywhere on a line, since no host name can hold one; what is left is
/// trimmed, and lines left empty are skipped.
pub(crate) fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Hostfile {
        path: path.to_path_buf(),
        err,
    })?;
    Ok(meaningful_lines(&text))
}

/// The non-blank, comment-free lines of a file, numbered from 1.
pub(crate) fn meaningful_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.split('#').next().unwrap_or_default().trim();
            (!line.is_empty()).then(|| (i + 1, line.to_string()))
        })
        .collect()
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
                (3, "node1".to_string()),
                (4, "root@node2:22".to_string()),
                (6, "node[3-4]".to_string())
            ]
        );
    }

    #[test]
    fn a_missing_file_names_the_file() {
        let missing = Path::new("/nonexistent-prtools-hostlist-test/hosts");
        assert_eq!(
            read_lines(missing).unwrap_err().to_string(),
            "cannot read hostfile '/nonexistent-prtools-hostlist-test/hosts': \
             No such file or directory (os error 2)"
        );
    }
}
