//! Peak memory of a tool run, sampled from /proc while it runs.
//!
//! Two figures, because each alone misleads. `own` is the tool's own process (its VmHWM, peak
//! resident memory), which is what the tool itself costs. `tree` is the largest sum of
//! proportional memory (PSS, so that the libraries every ssh shares count once), at any one
//! moment, of the tool, everything it started, and the ssh masters it daemonized (found by
//! `marker` in their command line, started after the run began): pdsh's 64 ssh children and
//! prsh's 64 ssh masters both count.

use std::collections::HashMap;
use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How often /proc is read while the tool runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Peak memory of one run, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// The tool's own process.
    pub own_kib: u64,
    /// The tool, its descendants and its daemonized masters, at the worst moment.
    pub tree_kib: u64,
}

struct Proc {
    ppid: i32,
    start: u64,
}

/// Runs `cmd` to completion, sampling its memory; fails if it fails.
pub fn measure(cmd: &mut Command, marker: &str) -> Result<Memory> {
    super::workdir::enter(cmd)?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id() as i32;
    let started = table().get(&pid).map(|p| p.start).unwrap_or(0);
    let mut peak = Memory::default();
    loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak.own_kib = peak.own_kib.max(hwm);
        }
        peak.tree_kib = peak.tree_kib.max(tree_kib(pid, started, marker));
        let mut status = 0;
        // SAFETY: pid is our own child; WNOHANG returns at once, reaping it if it is done.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if waited == pid {
            if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                bail!("{:?} failed while measuring memory", cmd.get_program());
            }
            super::workdir::leave(cmd)?;
            return Ok(peak);
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory of `root`, its descendants, and processes started since `started` whose
/// command line contains `marker`.
fn tree_kib(root: i32, started: u64, marker: &str) -> u64 {
    let procs = table();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, p) in &procs {
        children.entry(p.ppid).or_default().push(pid);
    }
    let mut counted: Vec<i32> = vec![root];
    for (&pid, p) in &procs {
        if pid != root && p.start >= started && cmdline(pid).contains(marker) {
            counted.push(pid);
        }
    }
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = counted.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if procs.contains_key(&pid) {
            total += pss_kib(pid);
        }
        counted.extend(children.get(&pid).into_iter().flatten());
    }
    total
}

fn pss_kib(pid: i32) -> u64 {
    let Ok(rollup) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return 0;
    };
    rollup
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn table() -> HashMap<i32, Proc> {
    let mut procs = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return procs;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which may itself contain spaces and ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // proc_pid_stat(5): field 4 is ppid, 22 starttime; `fields` starts at field 3.
        let (Some(ppid), Some(start)) = (
            fields.get(1).and_then(|f| f.parse().ok()),
            fields.get(19).and_then(|f| f.parse().ok()),
        ) else {
            continue;
        };
        procs.insert(pid, Proc { ppid, start });
    }
    procs
}

fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
