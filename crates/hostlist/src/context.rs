//! Where hostfiles and groups come from, read from the environment once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where files and groups come from; [`Context::from_env`] reads `WCOLL` and `HOME`.
///
/// Resolution takes the context as an argument rather than reading the environment itself, so
/// that tests, and programs that configure hosts another way, decide what is read.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The hostfile to use when nothing else selects hosts (pdsh's `WCOLL`).
    pub wcoll: Option<PathBuf>,
    /// Groups files, searched in order; the first that defines a group wins.
    pub group_files: Vec<PathBuf>,
}

impl Context {
    /// The context of this process: `WCOLL` if set and not empty, and the groups files
    /// `~/.config/prtools/groups` (when `HOME` is set) then `/etc/prtools/groups`.
    pub fn from_env() -> Self {
        Context::from_vars(std::env::var_os("WCOLL"), std::env::var_os("HOME"))
    }

    /// [`Context::from_env`] with the variables given, so that it can be tested without
    /// touching the process environment.
    fn from_vars(wcoll: Option<OsString>, home: Option<OsString>) -> Self {
        let mut group_files = Vec::new();
        if let Some(home) = home.filter(|h| !h.is_empty()) {
            group_files.push(Path::new(&home).join(".config/prtools/groups"));
        }
        group_files.push(PathBuf::from("/etc/prtools/groups"));
        Context {
            wcoll: wcoll.filter(|w| !w.is_empty()).map(PathBuf::from),
            group_files,
        }
    }
}

/// Shows a path as the user would type it: `~/...` under the home folder.
pub(crate) fn tilde(path: &Path, home: Option<&Path>) -> String {
    match home
        .filter(|h| !h.as_os_str().is_empty())
        .and_then(|h| path.strip_prefix(h).ok())
    {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wcoll_and_home() {
        let ctx = Context::from_vars(Some("/etc/hosts.pdsh".into()), Some("/home/ann".into()));
        assert_eq!(ctx.wcoll, Some(PathBuf::from("/etc/hosts.pdsh")));
        assert_eq!(
            ctx.group_files,
            [
                PathBuf::from("/home/ann/.config/prtools/groups"),
                PathBuf::from("/etc/prtools/groups")
            ]
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let ctx = Context::from_vars(Some("".into()), Some("".into()));
        assert_eq!(ctx.wcoll, None);
        assert_eq!(ctx.group_files, [PathBuf::from("/etc/prtools/groups")]);
    }

    #[test]
    fn from_env_always_searches_the_site_file() {
        let ctx = Context::from_env();
        assert_eq!(
            ctx.group_files.last(),
            Some(&PathBuf::from("/etc/prtools/groups"))
        );
    }

    #[test]
    fn home_becomes_a_tilde() {
        let home = Path::new("/home/ann");
        assert_eq!(
            tilde(Path::new("/home/ann/.config/prtools/groups"), Some(home)),
            "~/.config/prtools/groups"
        );
        assert_eq!(
            tilde(Path::new("/etc/prtools/groups"), Some(home)),
            "/etc/prtools/groups"
        );
        assert_eq!(
            tilde(Path::new("/home/annie/g"), Some(home)),
            "/home/annie/g"
        );
        assert_eq!(tilde(Path::new("/x/g"), None), "/x/g");
    }
}
