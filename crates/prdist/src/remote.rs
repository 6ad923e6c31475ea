//! Shell commands on the hosts (`mkdir -p` before a transfer, `special` and `cmdspecial`
//! after it), through prtools' transport: each host's commands run in order on one
//! connection, hosts in parallel up to `-M`.
//!
//! The transfer and these commands share one ssh master per host: prdist asks for a short
//! `ControlPersist` (see [`SHARED_MASTER_LINGER`]), so the master the first step starts is
//! found and reused by the next ones, and ends by itself soon after the run.

use std::collections::HashMap;
use std::time::Duration;

use prtools_hostlist::HostSpec;
use prtools_transport::{
    for_each_host, run_command, CommandSpec, Config, Event, HostError, Interrupt, Target,
};
use tokio::sync::mpsc;

/// How long a host's ssh master outlives its last command: long enough to be reused by the
/// next step of the run, short enough that nothing is left behind for long.
pub const SHARED_MASTER_LINGER: Duration = Duration::from_secs(3);

/// What one command printed and how it ended.
#[derive(Clone, Debug)]
pub struct Ran {
    /// Its exit status.
    pub status: i32,
    /// Its stdout and stderr lines, in the order they came per stream.
    pub lines: Vec<String>,
}

/// Runs each host's commands in order (`jobs[host]`); hosts without commands are not
/// contacted. Returns, per host name, the commands' results, or why the host failed.
pub fn run_on_hosts(
    hosts: &[HostSpec],
    config: &Config,
    jobs: &HashMap<String, Vec<String>>,
) -> HashMap<String, Result<Vec<Ran>, String>> {
    let specs: Vec<HostSpec> = hosts
        .iter()
        .filter(|h| jobs.get(&h.host).is_some_and(|j| !j.is_empty()))
        .cloned()
        .collect();
    if specs.is_empty() {
        return HashMap::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return specs
                .iter()
                .map(|h| {
                    (
                        h.host.clone(),
                        Err(format!("cannot start the async runtime: {e}")),
                    )
                })
                .collect()
        }
    };
    let targets = Target::from_specs(specs);
    let jobs = std::sync::Arc::new(jobs.clone());
    let timeout = config.command_timeout;
    runtime.block_on(async move {
        let interrupt = Interrupt::install().unwrap_or_else(|_| Interrupt::never());
        let results = for_each_host(
            &targets,
            config,
            &interrupt,
            move |conn, interrupt| {
                let jobs = jobs.clone();
                async move {
                    let host = conn.target().name().to_string();
                    let mut done = Vec::new();
                    for command in jobs.get(&host).into_iter().flatten() {
                        let (tx, mut rx) = mpsc::unbounded_channel();
                        let spec = CommandSpec {
                            command,
                            stdin: None,
                            timeout,
                        };
                        let status = run_command(&conn, &spec, &tx, interrupt.clone()).await?;
                        drop(tx);
                        let mut lines = Vec::new();
                        while let Some(event) = rx.recv().await {
                            if let Event::Line { bytes, .. } = event {
                                let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                                lines.push(String::from_utf8_lossy(line).into_owned());
                            }
                        }
                        done.push(Ran { status, lines });
                    }
                    Ok::<_, HostError>(done)
                }
            },
            |_| {},
        )
        .await;
        results
            .into_iter()
            .map(|r| {
                (
                    r.target.name().to_string(),
                    r.result.map_err(|e| e.to_string()),
                )
            })
            .collect()
    })
}

/// Quotes `text` for the remote shell: `'...'`, with `'` written as `'\''`.
pub fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("/tmp/etc/hosts"), "/tmp/etc/hosts");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
