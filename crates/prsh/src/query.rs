//! `-q` and `-Q`: what a run would do, without running it, as pdsh prints it. Scripts read the
//! last line, the hosts: folded with `-q`, one by one with `-Q`.

use std::fmt::Write as _;

use prtools_hostlist::{fold, HostSpec};
use prtools_transport::{Config, Method};

/// The settings table, then `-- Target nodes --` and the hosts.
pub(crate) fn report(config: &Config, hosts: &[HostSpec], one_by_one: bool) -> String {
    let seconds = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_secs());
    let transport = match &config.method {
        Method::Ssh => "ssh".to_string(),
        Method::Exec { template } if template.is_empty() => "exec".to_string(),
        Method::Exec { template } => format!("exec {}", template.join(" ")),
    };
    let mut out = String::from("-- Generic options --\n");
    let rows = [
        (
            "Remote username",
            config
                .user
                .clone()
                .unwrap_or_else(|| "(ssh's default)".into()),
        ),
        ("Rcmd type", transport),
        (
            "Connect timeout (secs)",
            config.connect_timeout.as_secs().to_string(),
        ),
        (
            "Command timeout (secs)",
            seconds(config.command_timeout).to_string(),
        ),
        ("Fanout", config.fanout.to_string()),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "{name:<24}{value}");
    }
    let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    let list = if one_by_one {
        names.join(",")
    } else {
        fold(names.iter().copied())
    };
    let _ = write!(out, "\n-- Target nodes --\n{list}\n");
    out
}
