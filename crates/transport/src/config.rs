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
            // pdsh's rcmd module for testing pdcp (tests/test-modules/pcptest.c): the command
            // runs locally in a folder named after the host. pdsh's own suite copies with it.
            Some("pcptest") if words.next().is_none() => Ok(Method::Exec {
                template: vec![
                    "sh".into(),
                    "-c".into(),
                    "cd -- \"$0\" && eval \"$1\"".into(),
                    "%h".into(),
                ],
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
    /// pdsh -k: once a host fails, start no more hosts.
    pub fail_fast: bool,
    /// Extra ssh arguments from `PDSH_SSH_ARGS` and `PDSH_SSH_ARGS_APPEND`, given to every
    /// ssh after the run's own options (see [`pdsh_ssh_args`]).
    pub ssh_args: Vec<String>,
    /// The run moves file data: ssh is asked for AES-GCM first where this processor has AES
    /// instructions and no ssh configuration chose the cipher list (see `cipher.rs`).
    pub bulk: bool,
}

/// The ssh arguments pdsh takes from its environment, so that a set-up written for pdsh
/// (`PDSH_SSH_ARGS_APPEND="-F cluster.conf"`) reaches the same hosts through prtools.
///
/// pdsh builds its ssh command from `PDSH_SSH_ARGS` (default `-2 -a -x -l%u %h`) followed by
/// `PDSH_SSH_ARGS_APPEND`, with `%u` and `%h` replaced. prtools names the host and user
/// itself, so the words that carry `%h` or `%u` (and a `-l` before `%u`) are left out; the
/// rest are kept as ssh options, split on white space as pdsh splits them.
pub fn pdsh_ssh_args(args: Option<&str>, append: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in [args, append].into_iter().flatten() {
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let word = words[i];
            if word == "-l" && words.get(i + 1).is_some_and(|w| w.contains("%u")) {
                i += 2;
                continue;
            }
            if !word.contains("%h") && !word.contains("%u") {
                out.push(word.to_string());
            }
            i += 1;
        }
    }
    out
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
            fail_fast: false,
            ssh_args: Vec::new(),
            bulk: false,
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

    #[test]
    fn pdsh_ssh_args_keep_ssh_options_and_drop_host_and_user() {
        assert_eq!(
            pdsh_ssh_args(Some("-2 -a -x -l%u %h"), Some("-F /etc/c -o Port=22")),
            ["-2", "-a", "-x", "-F", "/etc/c", "-o", "Port=22"]
        );
        assert_eq!(
            pdsh_ssh_args(Some("-p 2222 -l %u %h"), None),
            ["-p", "2222"]
        );
        assert!(pdsh_ssh_args(None, Some("   ")).is_empty());
    }
}
