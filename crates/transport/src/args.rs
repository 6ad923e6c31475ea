//! The command-line flags that prsh and prcp share, defined once.
//!
//! These are the raw arguments as typed; [`HostArgs::selection`] and [`ConnArgs::config`] turn
//! them into what runs. prsync and prdist keep their classic tools' letters (DESIGN.md, Flags)
//! and build the same [`Config`] from their own flags.

use std::path::PathBuf;
use std::time::Duration;

use prtools_hostlist::Selection;

use crate::config::{pdsh_ssh_args, Config, Method};
use crate::control::default_control_dir;
use crate::duration::parse_duration;

/// Which hosts to run on, as pdsh spells it.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct HostArgs {
    /// Target hosts: `node[01-16,20]`, `user@host`, `^FILE`, `@GROUP`; may be repeated
    #[arg(short = 'w', value_name = "HOSTS", help_heading = "Hosts")]
    pub hosts: Vec<String>,
    /// Exclude these hosts (same syntax as -w)
    #[arg(short = 'x', value_name = "HOSTS", help_heading = "Hosts")]
    pub exclude: Vec<String>,
    /// Read target hosts from FILE, one `[user@]host[:port]` a line
    #[arg(
        short = 'h',
        long = "hostfile",
        value_name = "FILE",
        help_heading = "Hosts"
    )]
    pub hostfile: Vec<PathBuf>,
    /// Target the hosts of GROUP from ~/.config/prtools/groups or /etc/prtools/groups
    #[arg(short = 'g', value_name = "GROUP", help_heading = "Hosts")]
    pub group: Vec<String>,
}

impl HostArgs {
    /// What the user typed, ready for [`Selection::resolve`].
    pub fn selection(&self) -> Selection {
        Selection {
            include: self.hosts.clone(),
            exclude: self.exclude.clone(),
            hostfiles: self.hostfile.clone(),
            groups: self.group.clone(),
        }
    }
}

/// How to reach the hosts: transport, timeouts, fan-out, ssh options.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnArgs {
    /// Run on at most N hosts at once
    #[arg(short = 'f', value_name = "N", default_value = "64", value_parser = parse_fanout, help_heading = "Connection")]
    pub fanout: usize,
    /// Connect timeout in seconds
    #[arg(short = 't', value_name = "SECS", default_value = "10", value_parser = parse_duration, help_heading = "Connection")]
    pub connect_timeout: Duration,
    /// Command timeout in seconds; the remote command is killed when it expires
    #[arg(short = 'u', value_name = "SECS", value_parser = parse_duration, help_heading = "Connection")]
    pub command_timeout: Option<Duration>,
    /// Log in as USER (ssh -l)
    #[arg(short = 'l', value_name = "USER", help_heading = "Connection")]
    pub user: Option<String>,
    /// Connect to PORT (ssh -p)
    #[arg(long = "port", value_name = "N", help_heading = "Connection")]
    pub port: Option<u16>,
    /// Give OPTION to ssh as `-o OPTION` (as pssh -O); may be repeated
    #[arg(short = 'O', value_name = "OPTION", help_heading = "Connection")]
    pub ssh_options: Vec<String>,
    /// Read ssh settings from FILE instead of ~/.ssh/config (ssh -F)
    #[arg(short = 'F', value_name = "FILE", help_heading = "Connection")]
    pub ssh_config: Option<PathBuf>,
    /// Transport: `ssh`, `rsh`, `exec` (the command is run locally with %h, %u, %n replaced),
    /// or `exec 'CMD %h ...'` (CMD runs per host with the command appended); default
    /// `PDSH_RCMD_TYPE`, else prtools' own multiplexed ssh. prsh runs a named `-R ssh` as pdsh
    /// does, one ssh a host built from PDSH_SSH_ARGS and PDSH_SSH_ARGS_APPEND, which can then
    /// end only the local ssh on a timeout or Ctrl-C
    #[arg(short = 'R', value_name = "RCMD", help_heading = "Connection")]
    pub rcmd: Option<String>,
    /// Keep ssh connections open for DURATION after the run (e.g. 10m), so later runs skip the handshake
    #[arg(long = "persist", value_name = "DURATION", env = "PRTOOLS_PERSIST", value_parser = parse_duration, help_heading = "Connection")]
    pub persist: Option<Duration>,
}

impl ConnArgs {
    /// The transport the user named: `-R`, else `PDSH_RCMD_TYPE` as pdsh reads it; None for
    /// prtools' own.
    pub fn named_rcmd(&self) -> Option<String> {
        self.rcmd.clone().or_else(|| {
            std::env::var("PDSH_RCMD_TYPE")
                .ok()
                .filter(|rcmd| !rcmd.is_empty())
        })
    }

    /// Resolves the flags into a [`Config`], or says which flag is wrong.
    pub fn config(&self) -> Result<Config, String> {
        Ok(Config {
            method: Method::parse(self.named_rcmd().as_deref().unwrap_or("ssh"))?,
            ssh_config: self.ssh_config.clone(),
            user: self.user.clone(),
            port: self.port,
            ssh_options: self.ssh_options.clone(),
            connect_timeout: self.connect_timeout,
            command_timeout: self.command_timeout,
            fanout: self.fanout,
            persist: self.persist.filter(|d| !d.is_zero()),
            control_dir: default_control_dir(),
            exec_words: Vec::new(),
            fail_fast: false,
            ssh_args: pdsh_env_ssh_args(),
            bulk: false,
        })
    }
}

/// `PDSH_SSH_ARGS` and `PDSH_SSH_ARGS_APPEND`, as pdsh reads them (see [`pdsh_ssh_args`]).
fn pdsh_env_ssh_args() -> Vec<String> {
    let var = |name| std::env::var(name).ok();
    pdsh_ssh_args(
        var("PDSH_SSH_ARGS").as_deref(),
        var("PDSH_SSH_ARGS_APPEND").as_deref(),
    )
}

fn parse_fanout(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("fan-out must be at least 1, as in -f 32".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a number of hosts, as in -f 32")),
    }
}

/// Formats a clap error as the one line a user reads: `TOOL: what is wrong (tip)`.
///
/// clap prints usage and a blank line after each error; scripts and people both want one
/// line that names the flag, so keep clap's first line and its "did you mean" tip.
pub fn one_line_error(tool: &str, err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    // The message is the first paragraph (a missing argument is named on the next line).
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let tip = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("tip: "))
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    format!("{tool}: {message}{tip}; see `{tool} --help`")
}

/// Which hosts to run on, with rsync's spelling: its single letters (`-x`, `-h`, `-g`) mean
/// other things there, so only `-w` is kept and the rest are long flags (DESIGN.md, Flags).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct LongHostArgs {
    /// Target hosts: `node[01-16,20]`, `user@host`, `^FILE`, `@GROUP`; DEST is then `:PATH`
    #[arg(
        short = 'w',
        long = "hosts",
        value_name = "HOSTS",
        help_heading = "Hosts"
    )]
    pub hosts: Vec<String>,
    /// Exclude these hosts (same syntax as --hosts)
    #[arg(long = "exclude-hosts", value_name = "HOSTS", help_heading = "Hosts")]
    pub exclude_hosts: Vec<String>,
    /// Read target hosts from FILE, one `[user@]host[:port]` a line
    #[arg(long = "hostfile", value_name = "FILE", help_heading = "Hosts")]
    pub hostfile: Vec<PathBuf>,
    /// Target the hosts of GROUP from ~/.config/prtools/groups or /etc/prtools/groups
    #[arg(long = "group-hosts", value_name = "GROUP", help_heading = "Hosts")]
    pub group_hosts: Vec<String>,
}

impl LongHostArgs {
    /// What the user typed, ready for [`Selection::resolve`].
    pub fn selection(&self) -> Selection {
        Selection {
            include: self.hosts.clone(),
            exclude: self.exclude_hosts.clone(),
            hostfiles: self.hostfile.clone(),
            groups: self.group_hosts.clone(),
        }
    }
}

/// How to reach the hosts, with rsync's spelling: `-e 'ssh -p N -o OPT'` carries the ssh
/// settings, `--contimeout` and `--timeout` the bounds, `--fanout` the width.
#[derive(Clone, Debug, clap::Args)]
pub struct LongConnArgs {
    /// Run on at most N hosts at once
    #[arg(long = "fanout", value_name = "N", default_value = "64", value_parser = parse_fanout, help_heading = "Connection")]
    pub fanout: usize,
    /// Connect timeout in seconds
    #[arg(long = "contimeout", value_name = "SECS", default_value = "10", value_parser = parse_duration, help_heading = "Connection")]
    pub connect_timeout: Duration,
    /// Give up on a host after SECS seconds
    #[arg(long = "timeout", value_name = "SECS", value_parser = parse_duration, help_heading = "Connection")]
    pub command_timeout: Option<Duration>,
    /// Keep ssh connections open for DURATION after the run (e.g. 10m)
    #[arg(long = "persist", value_name = "DURATION", env = "PRTOOLS_PERSIST", value_parser = parse_duration, help_heading = "Connection")]
    pub persist: Option<Duration>,
}

impl LongConnArgs {
    /// Resolves the flags and rsync's `-e COMMAND` into a [`Config`], or says what is wrong.
    ///
    /// `-e 'ssh ...'` keeps ssh's own options (`-p`, `-l`, `-F`, `-i`, `-o`, `-c`, `-m`, `-J`,
    /// and flags that change nothing here, such as `-q`, `-T`, `-x`, `-C`), which prtools gives
    /// to its ssh master; any other program runs per host as `PROGRAM ARGS... HOST COMMAND`.
    pub fn config(&self, rsh: Option<&str>) -> Result<Config, String> {
        let mut config = Config {
            connect_timeout: self.connect_timeout,
            command_timeout: self.command_timeout,
            fanout: self.fanout,
            persist: self.persist.filter(|d| !d.is_zero()),
            ..Config::default()
        };
        let Some(rsh) = rsh else {
            return Ok(config);
        };
        let words: Vec<&str> = rsh.split_whitespace().collect();
        let Some((program, args)) = words.split_first() else {
            return Err("-e '': name a remote shell, as in -e 'ssh -p 2222'".into());
        };
        if program.rsplit('/').next().is_none_or(|p| p != "ssh") {
            let mut template: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            template.push("%h".into());
            config.method = Method::Exec { template };
            return Ok(config);
        }
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("-e '{rsh}': {flag} needs a value"))
            };
            match arg {
                "-p" => {
                    let port = value("-p")?;
                    config.port = Some(
                        port.parse()
                            .map_err(|_| format!("-e '{rsh}': '{port}' is not a port number"))?,
                    );
                }
                "-l" => config.user = Some(value("-l")?),
                "-F" => config.ssh_config = Some(PathBuf::from(value("-F")?)),
                "-o" => config.ssh_options.push(value("-o")?),
                "-c" => config.ssh_options.push(format!("Ciphers={}", value("-c")?)),
                "-m" => config.ssh_options.push(format!("MACs={}", value("-m")?)),
                "-J" => config
                    .ssh_options
                    .push(format!("ProxyJump={}", value("-J")?)),
                "-i" => config
                    .ssh_options
                    .push(format!("IdentityFile={}", value("-i")?)),
                "-q" | "-T" | "-x" | "-C" | "-4" | "-6" | "-a" | "-k" => {}
                other => {
                    return Err(format!(
                        "-e '{rsh}': ssh option '{other}' is not supported here; give it as \
                         -e 'ssh -o NAME=VALUE' or in ~/.ssh/config"
                    ))
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(rsh: &str) -> Result<Config, String> {
        LongConnArgs {
            fanout: 8,
            connect_timeout: Duration::from_secs(3),
            command_timeout: None,
            persist: None,
        }
        .config(Some(rsh))
    }

    #[test]
    fn rsync_e_reaches_the_ssh_settings() {
        let c = long("ssh -p 2222 -l admin -F /etc/cfg -o Compression=no -i /k -q -c aes256-ctr")
            .unwrap();
        assert_eq!(c.method, Method::Ssh);
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.user.as_deref(), Some("admin"));
        assert_eq!(c.ssh_config, Some(PathBuf::from("/etc/cfg")));
        assert_eq!(
            c.ssh_options,
            ["Compression=no", "IdentityFile=/k", "Ciphers=aes256-ctr"]
        );
        assert_eq!(c.fanout, 8);
        assert!(matches!(
            long("rsh -l u").unwrap().method,
            Method::Exec { .. }
        ));
        assert!(long("ssh -p").unwrap_err().contains("-p needs a value"));
        assert!(long("ssh -L 1:2:3")
            .unwrap_err()
            .contains("'-L' is not supported"));
    }
}
