//! The resolved transport settings: what runs, after the flags have been read.

use std::path::PathBuf;
use std::time::Duration;

/// How a command reaches a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// OpenSSH, one multiplexed master connection per host.
    Ssh,
    /// Run a local program per host. `template` is its argv with `%h` (host), `%u` (user) and
    /// `%n` (rank) replaced; the remote command is appended as one argument when it is not
    /// empty. An empty template means the command words themselves are the template, as with
    /// `pdsh -R exec`.
    Exec {
        /// The argv before substitution.
        template: Vec<String>,
    },
}

impl Method {
    /// Parses `-R`: `ssh`, `rsh`, `exec`, or `exec CMD %h ...`.
    pub fn parse(text: &str) -> Result<Method, String> {
        let mut words = text.split_whitespace();
        match words.next() {
            Some("ssh") if words.next().is_none() => Ok(Method::Ssh),
            Some("rsh") if words.next().is_none() => Ok(Method::Exec {
                template: vec!["rsh".into(), "-l".into(), "%u".into(), "%h".into()],
            }),
            Some("exec") => Ok(Method::Exec {
                template: words.map(String::from).collect(),
            }),
            _ => Err(format!(
                "unknown transport '-R {text}': use ssh, rsh, exec, or exec 'CMD %h ...'"
            )),
        }
    }
}

/// Everything the transport needs to reach the hosts of one run.
#[derive(Clone, Debug)]
pub struct Config {
    /// ssh, or a local program per host.
    pub method: Method,
    /// `ssh -F FILE`; None reads `~/.ssh/config` as ssh does.
    pub ssh_config: Option<PathBuf>,
    /// `ssh -l USER` for hosts that do not name their own user.
    pub user: Option<String>,
    /// `ssh -p PORT` for hosts that do not name their own port.
    pub port: Option<u16>,
    /// Each given to ssh as `-o OPTION`.
    pub ssh_options: Vec<String>,
    /// Bound on connecting and authenticating (`ssh -o ConnectTimeout`).
    pub connect_timeout: Duration,
    /// Bound on the remote command; None waits for ever.
    pub command_timeout: Option<Duration>,
    /// How many hosts run at once.
    pub fanout: usize,
    /// Keep masters alive this long after the run (`ControlPersist`); None closes them.
    pub persist: Option<Duration>,
    /// Where control sockets live (0700).
    pub control_dir: PathBuf,
    /// The command's words, for hosts reached by `-R exec` (or `exec:host`) without a
    /// template: pdsh then runs the words themselves as each host's argv, `%h` and all.
    pub exec_words: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            method: Method::Ssh,
            ssh_config: None,
            user: None,
            port: None,
            ssh_options: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
            fanout: 64,
            persist: None,
            control_dir: crate::control::default_control_dir(),
            exec_words: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcmd_forms() {
        assert_eq!(Method::parse("ssh"), Ok(Method::Ssh));
        assert_eq!(Method::parse("exec"), Ok(Method::Exec { template: vec![] }));
        assert_eq!(
            Method::parse("exec ssh -F cfg %h"),
            Ok(Method::Exec {
                template: vec!["ssh".into(), "-F".into(), "cfg".into(), "%h".into()]
            })
        );
        assert!(Method::parse("telnet")
            .unwrap_err()
            .contains("use ssh, rsh, exec"));
    }
}
