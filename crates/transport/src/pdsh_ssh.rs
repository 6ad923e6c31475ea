//! `-R ssh` as pdsh runs it: one `ssh` process per host, its arguments built from
//! `PDSH_SSH_ARGS` and `PDSH_SSH_ARGS_APPEND`, so that scripts and wrappers written for
//! pdsh's ssh module see the command lines they expect.
//!
//! prtools' own transport (no `-R`) keeps one multiplexed master per host and kills a remote
//! command on a timeout or a Ctrl-C. This one, as pdsh, can only end the local ssh; it is
//! chosen by naming it, with `-R ssh` or `PDSH_RCMD_TYPE=ssh`.

use crate::config::Config;

/// pdsh's default `PDSH_SSH_ARGS`, without the `-2` modern ssh no longer needs.
const DEFAULT_ARGS: &str = "-a -x -l%u %h";

/// The exec template of pdsh's ssh module for `config`: ssh, prtools' fixed options (batch
/// mode, the connect timeout, `-F`, `-p`, `-O`), then `append`, then `args` (default
/// [`DEFAULT_ARGS`]) with `-l%u` put before `%h` when it is missing and `%h` put last when it
/// is missing. The process layer drops `-l%u` when the user is the local one, as pdsh does.
pub fn pdsh_ssh_template(config: &Config, args: Option<&str>, append: Option<&str>) -> Vec<String> {
    let mut template = vec![
        "ssh".to_string(),
        "-oBatchMode=yes".to_string(),
        format!(
            "-oConnectTimeout={}",
            config.connect_timeout.as_secs().max(1)
        ),
    ];
    if let Some(file) = &config.ssh_config {
        let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        template.extend(["-F".to_string(), file.display().to_string()]);
    }
    if let Some(port) = config.port {
        template.extend(["-p".to_string(), port.to_string()]);
    }
    for option in &config.ssh_options {
        template.push(format!("-o{option}"));
    }
    template.extend(
        append
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from),
    );
    let mut words: Vec<String> = args
        .unwrap_or(DEFAULT_ARGS)
        .split_whitespace()
        .map(String::from)
        .collect();
    let host_at = words.iter().position(|w| w.contains("%h"));
    if !words.iter().any(|w| w.contains("%u")) {
        words.insert(host_at.unwrap_or(words.len()), "-l%u".to_string());
    }
    if host_at.is_none() {
        words.push("%h".to_string());
    }
    template.extend(words);
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(args: Option<&str>, append: Option<&str>) -> String {
        let config = Config::default();
        let template = pdsh_ssh_template(&config, args, append);
        template[3..].join(" ")
    }

    #[test]
    fn args_as_pdsh_builds_them() {
        assert_eq!(tail(None, None), "-a -x -l%u %h");
        assert_eq!(tail(Some("-p 922 -l%u %h"), None), "-p 922 -l%u %h");
        assert_eq!(tail(Some("-p 888 %h"), None), "-p 888 -l%u %h");
        assert_eq!(tail(Some("-p 777"), None), "-p 777 -l%u %h");
        assert_eq!(
            tail(Some("-x -a -l%u %h"), Some("-p 922")),
            "-p 922 -x -a -l%u %h"
        );
        let head = pdsh_ssh_template(&Config::default(), None, None);
        assert_eq!(head[..3], ["ssh", "-oBatchMode=yes", "-oConnectTimeout=10"]);
    }
}
