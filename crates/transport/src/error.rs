//! Why a host failed, in words a user can act on.
//!
//! Messages are short and lowercase because they are folded across hosts into lines such as
//! `prsh: node[3,9]: connection refused`; the hosts that share a message share a line.

use std::fmt;
use std::time::Duration;

/// What went wrong on one host. One host's failure never ends the run; it becomes exit
/// status 255 for that host and a folded line on stderr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostError {
    /// Nothing listens on the ssh port: sshd is down or the port is wrong (`--port`).
    Refused,
    /// The host did not answer within `-t`: it is down, frozen or firewalled.
    ConnectTimeout(Duration),
    /// The host key is unknown or changed; run `ssh HOST` once to check and accept it.
    HostKey,
    /// Authentication failed in batch mode; set up a key (`ssh-copy-id`) or an agent.
    Auth(String),
    /// The host name did not resolve; check the spelling or the ssh config.
    Resolve,
    /// The command ran longer than `-u` and was killed on the host.
    CommandTimeout(Duration),
    /// The run was interrupted (Ctrl-C or SIGTERM) and the command was killed on the host.
    Interrupted,
    /// A Ctrl-C came before this host was started, so it was not.
    NotStarted,
    /// The command was killed by a signal: the number when it is known (a local `-R exec`
    /// process), none through ssh's multiplexed channels, which carry no signal.
    Killed(Option<i32>),
    /// With -k, an earlier host failed before this one was started, so it was not; the
    /// failed host is named on its own line.
    Skipped,
    /// Anything else, with ssh's or the system's own words.
    Other(String),
}

impl HostError {
    /// Reads the reason out of what ssh printed when the master failed.
    pub fn from_ssh_log(log: &str, connect_timeout: Duration) -> HostError {
        let lines: Vec<&str> = log
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
            .collect();
        let all = lines.join("\n");
        if all.contains("Connection refused") {
            HostError::Refused
        } else if all.contains("timed out") {
            HostError::ConnectTimeout(connect_timeout)
        } else if all.contains("Host key verification failed")
            || all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            HostError::HostKey
        } else if let Some(line) = lines.iter().find(|l| l.contains("Permission denied")) {
            HostError::Auth(line.to_string())
        } else if all.contains("Could not resolve hostname") {
            HostError::Resolve
        } else {
            let last = lines
                .last()
                .copied()
                .unwrap_or("ssh failed without a message");
            HostError::Other(last.strip_prefix("ssh: ").unwrap_or(last).to_string())
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Refused => f.write_str("connection refused"),
            HostError::ConnectTimeout(d) => {
                write!(f, "connect timed out after {}", seconds(*d))
            }
            HostError::HostKey => f.write_str(
                "host key verification failed; run `ssh HOST` once to check and accept the key",
            ),
            HostError::Auth(line) => write!(
                f,
                "{}; set up a key with `ssh-copy-id` (passwords cannot be asked for in batch mode)",
                line.trim_end_matches('.')
            ),
            HostError::Resolve => f.write_str("could not resolve host name"),
            HostError::CommandTimeout(d) => {
                // pdsh's words first, which scripts grep for.
                write!(
                    f,
                    "command timeout (timed out after {}, killed)",
                    seconds(*d)
                )
            }
            HostError::Interrupted => f.write_str("interrupted, command killed"),
            HostError::NotStarted => f.write_str("not started: interrupted"),
            HostError::Killed(Some(signal)) => write!(f, "killed by signal {signal}"),
            HostError::Killed(None) => f.write_str("killed by a signal"),
            HostError::Skipped => f.write_str("not started: another host failed (-k)"),
            HostError::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for HostError {}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ssh_logs() {
        let t = Duration::from_secs(3);
        assert_eq!(
            HostError::from_ssh_log(
                "ssh: connect to host 127.0.0.1 port 22: Connection refused\n",
                t
            ),
            HostError::Refused
        );
        assert_eq!(
            HostError::from_ssh_log("Connection timed out during banner exchange\n", t),
            HostError::ConnectTimeout(t)
        );
        assert_eq!(
            HostError::from_ssh_log("Host key verification failed.\n", t),
            HostError::HostKey
        );
        assert_eq!(
            HostError::ConnectTimeout(Duration::from_millis(1500)).to_string(),
            "connect timed out after 1.5s"
        );
    }
}
