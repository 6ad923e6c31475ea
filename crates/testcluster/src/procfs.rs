//! Finding and signalling the processes of a node through `/proc`.
//!
//! A node is its mount namespace: the sshd and everything sshd started (sessions, shells,
//! `sleep 600` left behind by a killed client, daemons that double-forked) share it, whatever
//! their process group or session. So "every process of node3" is "every process whose
//! `/proc/PID/ns/mnt` is node3's".

use std::fs;
use std::io;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How long killing or freezing a node may take before we give up.
const SIGNAL_DEADLINE: Duration = Duration::from_secs(10);

/// Pause between two scans while waiting for signals to take effect.
const SCAN_INTERVAL: Duration = Duration::from_millis(2);

/// The mount namespace of `pid`, as `mnt:[INODE]`; `None` once it has exited (a zombie has
/// left its namespaces) or when there is no such process.
pub(crate) fn mnt_ns(pid: u32) -> Option<String> {
    let link = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
    link.into_os_string().into_string().ok()
}

/// Our own mount namespace: the one namespace we must never empty.
pub(crate) fn own_mnt_ns() -> io::Result<String> {
    let link = fs::read_link("/proc/self/ns/mnt")?;
    Ok(link.to_string_lossy().into_owned())
}

/// The command line of `pid`, its arguments joined by spaces; empty for kernel threads and
/// zombies.
pub(crate) fn cmdline(pid: u32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    args.join(" ")
}

/// The one-letter state of `pid` from `/proc/PID/stat` (`R`, `S`, `T`, `Z`, ...).
fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces and parentheses: the state follows the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// Every live process in mount namespace `ns`.
pub(crate) fn pids_in(ns: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&pid| mnt_ns(pid).as_deref() == Some(ns))
        .collect();
    pids.sort_unstable();
    pids
}

fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The caller found
    // `pid` in the node's namespace a moment ago; if it has exited since, kill fails with
    // ESRCH (reusing the pid in between would take the whole pid space wrapping around).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Refuses to act on our own namespace: a node whose sshd never left it would otherwise
/// make us signal every process on the machine.
fn guard(ns: &str) -> io::Result<()> {
    if ns == own_mnt_ns()? {
        return Err(io::Error::other(format!(
            "refusing to signal mount namespace {ns}: it is the host's, not a test node's"
        )));
    }
    Ok(())
}

/// SIGKILLs every process in `ns` and returns once none is left alive (zombies may remain until
/// their parent reaps them; they hold no sockets or files). Scans again after each round:
/// a process may fork while we kill it.
pub(crate) fn kill_all(ns: &str) -> io::Result<()> {
    guard(ns)?;
    let deadline = Instant::now() + SIGNAL_DEADLINE;
    loop {
        let pids = pids_in(ns);
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("processes {pids:?} of {ns} survived SIGKILL for {SIGNAL_DEADLINE:?}"),
            ));
        }
        for pid in pids {
            signal(pid, libc::SIGKILL);
        }
        thread::sleep(SCAN_INTERVAL);
    }
}

/// SIGSTOPs every process in `ns` and returns once all of them are stopped; returns how many.
pub(crate) fn stop_all(ns: &str) -> io::Result<usize> {
    guard(ns)?;
    let deadline = Instant::now() + SIGNAL_DEADLINE;
    loop {
        let pids = pids_in(ns);
        let running: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&pid| !matches!(state(pid), Some('T' | 't') | None))
            .collect();
        if running.is_empty() {
            return Ok(pids.len());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("processes {running:?} of {ns} ignored SIGSTOP for {SIGNAL_DEADLINE:?}"),
            ));
        }
        for pid in running {
            signal(pid, libc::SIGSTOP);
        }
        thread::sleep(SCAN_INTERVAL);
    }
}

/// SIGCONTs every process in `ns`; returns how many.
pub(crate) fn continue_all(ns: &str) -> io::Result<usize> {
    guard(ns)?;
    let pids = pids_in(ns);
    for &pid in &pids {
        signal(pid, libc::SIGCONT);
    }
    Ok(pids.len())
}

/// Whether `pid` holds a socket listening on TCP `port`, which it then owns: nobody else can
/// listen there. For sshd this means it is past loading its config and keys, and connections
/// queue in the kernel until its accept loop takes them: the node is ready.
///
/// Asking the kernel instead of connecting leaves no trace in the node: a probe connection
/// would show up as an `sshd: [accepted]` process and in sshd's startup count for a moment
/// after the start returned.
pub(crate) fn listens_on(pid: u32, port: u16) -> bool {
    // The process's own sockets first: a few fds, cheap to list. `net/tcp` lists every TCP
    // socket of the network namespace, which all nodes share, so reading it costs as much as
    // the cluster is big; with hundreds of nodes polling it at once, those reads were most of
    // a cluster's start time. A starting sshd holds no socket until it is about to listen.
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let held: Vec<String> = fds
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| target.into_os_string().into_string().ok())
        .filter(|target| target.starts_with("socket:["))
        .collect();
    if held.is_empty() {
        return false;
    }
    // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`, addresses
    // as `HEXADDR:HEXPORT`, state 0A is LISTEN.
    let Ok(table) = fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let listening = fields
            .get(1)
            .and_then(|local| local.split_once(':'))
            .and_then(|(_, local_port)| u16::from_str_radix(local_port, 16).ok())
            == Some(port)
            && fields.get(3) == Some(&"0A");
        listening
            && fields
                .get(9)
                .is_some_and(|inode| held.iter().any(|s| s[8..s.len() - 1] == **inode))
    })
}

/// Kills every node whose sshd was started with a config under `dir`, with all its processes.
pub(crate) fn kill_sshds_of(dir: &Path) -> io::Result<()> {
    let needle = format!("{}/node", dir.display());
    let own = own_mnt_ns()?;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Ok(());
    };
    let sshds = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let cmdline = cmdline(pid);
            cmdline.contains(&needle) && cmdline.contains("sshd_config")
        });
    for pid in sshds {
        if let Some(ns) = mnt_ns(pid).filter(|ns| *ns != own) {
            kill_all(&ns)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert_eq!(mnt_ns(me).unwrap(), own_mnt_ns().unwrap());
        assert!(
            cmdline(me).contains("prtools_testcluster"),
            "{}",
            cmdline(me)
        );
        assert!(matches!(state(me), Some('R' | 'S')));
        assert!(pids_in(&own_mnt_ns().unwrap()).contains(&me));
    }

    #[test]
    fn finds_own_listening_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        assert!(listens_on(me, port));
        drop(listener);
        assert!(!listens_on(me, port));
    }

    #[test]
    fn refuses_own_namespace() {
        let err = kill_all(&own_mnt_ns().unwrap()).unwrap_err();
        assert!(err.to_string().contains("it is the host's"), "{err}");
    }
}
