//! Groups files: `name: hosts` lines, `#` comments, read in order so that the user's file
//! (`~/.config/prtools/groups`) can override the site's (`/etc/prtools/groups`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, FileKind, SyntaxKind};
use crate::hostfile::plain_lines;
use crate::list::is_group_char;

/// Where a group is defined and the hosts it names, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Definition {
    /// The groups file that defines it.
    pub(crate) path: PathBuf,
    /// 1-based line number.
    pub(crate) line: usize,
    /// The text after the `:`: host lists separated by commas or spaces, as clush's groups
    /// files allow.
    pub(crate) hosts: String,
}

/// The groups of all groups files, the first definition of each name kept.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    defs: HashMap<String, Definition>,
}

impl Groups {
    /// Reads every groups file in order. A file that does not exist is skipped: a machine
    /// usually has one of the two, or none.
    pub(crate) fn load(files: &[PathBuf]) -> Result<Groups, Error> {
        let mut groups = Groups::default();
        for path in files {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(Error::GroupsFile {
                        path: path.clone(),
                        err,
                    })
                }
            };
            groups.add_file(path, &text)?;
        }
        Ok(groups)
    }

    /// Adds the definitions of one file, keeping earlier ones.
    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), Error> {
        for (line, content) in plain_lines(text) {
            let (name, hosts) =
                parse_line(&content).map_err(|err| err.in_file(FileKind::Groups, path, line))?;
            self.defs.entry(name.to_string()).or_insert(Definition {
                path: path.to_path_buf(),
                line,
                hosts: hosts.to_string(),
            });
        }
        Ok(())
    }

    /// The definition of `name`, if any file has one.
    pub(crate) fn get(&self, name: &str) -> Option<&Definition> {
        self.defs.get(name)
    }
}

/// Splits `name: hosts`, checking the name.
fn parse_line(line: &str) -> Result<(&str, &str), Error> {
    let Some((name, hosts)) = line.split_once(':') else {
        return Err(Error::syntax(line, line.len(), SyntaxKind::MissingColon));
    };
    let trimmed = name.trim_end();
    if trimmed.is_empty() {
        return Err(Error::syntax(line, 0, SyntaxKind::MissingGroup));
    }
    if let Some((i, c)) = trimmed.char_indices().find(|&(_, c)| !is_group_char(c)) {
        return Err(Error::syntax(line, i, SyntaxKind::BadGroupDef(c)));
    }
    Ok((trimmed, hosts.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(files: &[(&str, &str)]) -> Result<Groups, Error> {
        let mut groups = Groups::default();
        for (path, text) in files {
            groups.add_file(Path::new(path), text)?;
        }
        Ok(groups)
    }

    #[test]
    fn first_definition_wins() {
        let g = groups(&[
            ("user", "# mine\nweb: w[1-2]\n"),
            ("site", "web: other\ndb : d1 d2, d3   # spaces too\n"),
        ])
        .unwrap();
        let web = g.get("web").unwrap();
        assert_eq!(
            (web.path.to_str(), web.line, web.hosts.as_str()),
            (Some("user"), 2, "w[1-2]")
        );
        let db = g.get("db").unwrap();
        assert_eq!(
            (db.path.to_str(), db.line, db.hosts.as_str()),
            (Some("site"), 2, "d1 d2, d3")
        );
        assert!(g.get("nope").is_none());
    }

    #[test]
    fn bad_lines_name_file_line_and_column() {
        assert_eq!(
            groups(&[("g", "ok: a\nweb w1\n")]).unwrap_err().to_string(),
            "groups file 'g' line 2: bad groups line 'web w1': column 7: \
             missing ':' after the group name, write 'name: node[1-4]'"
        );
        assert_eq!(
            groups(&[("g", "we b: w1\n")]).unwrap_err().to_string(),
            "groups file 'g' line 1: bad groups line 'we b: w1': column 3: \
             ' ' cannot be part of a group name, use letters, digits, '-', '_' or '.'"
        );
        assert_eq!(groups(&[("g", ": w1")]).unwrap_err().column(), Some(1));
    }

    #[test]
    fn missing_files_are_skipped() {
        let g = Groups::load(&[PathBuf::from("/nonexistent-prtools-hostlist-test/groups")]);
        assert!(g.unwrap().get("x").is_none());
    }
}
