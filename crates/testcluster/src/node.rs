//! One test host: an sshd in its own mount and UTS namespace.

use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::files::{self, Layout, NodeState};
use crate::procfs;

/// The sshd every node runs. sshd re-executes itself for each connection, so it must be
/// started by absolute path anyway.
pub const SSHD: &str = "/usr/sbin/sshd";

/// How long one sshd may take to start listening.
const READY_DEADLINE: Duration = Duration::from_secs(10);

/// Pause between two readiness checks of a starting sshd.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Ports tried per node before giving up: another process may take a port between the moment
/// we find it free and the moment sshd binds it.
const PORT_ATTEMPTS: usize = 8;

/// Runs inside the node's fresh namespaces (`unshare -m -u --propagation private`), then
/// becomes the sshd, so that the pid we spawned is the sshd's.
///
/// `$1` hostname, `$2` folder to show as /tmp, `$3` the ~/.bashrc to hide (empty: none),
/// `$4` the empty file to hide it with, `$5` sshd, `$6` its config, `$7` the cluster's agent
/// cache, `$8` the `~/.cache/prtools` to show it as (empty: none), `$9` a home to cover with
/// a fresh `noexec` tmpfs (empty: none; [`NodeKind::NoexecHome`]).
///
/// The tmpfs goes on last: it hides the `~/.bashrc` and agent cache mounts below it, so such
/// a node gets neither (its home is empty, its cache its own, as on a host with a home of its
/// own).
const NODE_SCRIPT: &str = r#"set -e
hostname "$1"
mount --bind "$2" /tmp
if [ -n "$3" ]; then mount --bind "$4" "$3"; fi
if [ -n "$8" ]; then mount --bind "$7" "$8"; fi
if [ -n "$9" ]; then mount -t tmpfs -o noexec,nosuid,nodev,mode=0700,size=1g prtools-home "$9"; fi
exec "$5" -D -e -f "$6"
"#;

/// What kind of host a node is. Most are [`NodeKind::Normal`]; the others are hosts where
/// prtools' agent cannot run, as real clusters have them, for the fallbacks that serve them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeKind {
    /// A host like this machine.
    #[default]
    Normal,
    /// The users' home is a `noexec` file system (a tmpfs of the node's own, over `$HOME`),
    /// as on hardened sites: an upload into `~/.cache/prtools` lands, and cannot be run.
    NoexecHome,
    /// `uname` says another machine ([`other_machine`]): a wrapper first on the `PATH` that
    /// sshd gives every session. Nothing else differs, so it stands for an aarch64 node
    /// driven from an x86_64 one, sharing its home with the other nodes.
    OtherMachine,
    /// An [`NodeKind::OtherMachine`] whose sessions find no `rsync`: their `PATH` is one
    /// folder of links to the programs of the usual ones, all but rsync. Neither prtools'
    /// agent nor rsync's protocol can serve it, as on a minimal host of another machine.
    NoRsync,
}

/// The machine an [`NodeKind::OtherMachine`] node's `uname -m` reports: `aarch64`, or
/// `x86_64` where this machine is an aarch64 one.
pub fn other_machine() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "aarch64"
    }
}

/// The `uname` of an [`NodeKind::OtherMachine`] node: the real one, with this machine's name
/// replaced by the other's in whatever it prints.
fn uname_wrapper() -> String {
    format!(
        "#!/bin/sh\n\
         # prtools test cluster: this node reports another machine\n\
         m=$(/bin/uname -m)\n\
         /bin/uname \"$@\" | sed \"s/$m/{}/g\"\n",
        other_machine()
    )
}

/// The folders a session's `PATH` holds (sshd's default).
pub(crate) const DEFAULT_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Fills `bin` with a link to each program of [`DEFAULT_PATH`] (the first of a name wins,
/// as on a `PATH`) but rsync's, for a [`NodeKind::NoRsync`] node whose `PATH` is `bin`.
fn link_programs_but_rsync(bin: &Path) -> io::Result<()> {
    for dir in DEFAULT_PATH {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = bin.join(&name);
            if name == "rsync" || link.symlink_metadata().is_ok() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), &link)?;
        }
    }
    Ok(())
}

/// What every node of one cluster is started with.
pub(crate) struct Spawn<'a> {
    pub(crate) layout: &'a Layout,
    /// Put the sshd in its own process group, so that it outlives the process that started it
    /// and a Ctrl-C in that terminal does not reach it (`cargo xtask cluster up`).
    pub(crate) detach: bool,
    /// The `~/.bashrc` to hide inside the node, if there is one.
    pub(crate) bashrc: Option<PathBuf>,
    /// The `~/.cache/prtools` to show the cluster's agent cache as, if there is a home.
    pub(crate) agent_cache: Option<PathBuf>,
    /// The home folder of the users the nodes let in, if there is one.
    pub(crate) home: Option<PathBuf>,
}

/// A mount namespace, held open: while we hold it, its inode number can not be reused by a
/// new namespace, so `/proc/PID/ns/mnt` matching `id` really means "in this node".
struct Namespace {
    id: String,
    _pin: File,
}

impl Namespace {
    fn of(pid: u32) -> io::Result<Namespace> {
        let pin = File::open(format!("/proc/{pid}/ns/mnt"))?;
        let id = procfs::mnt_ns(pid).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("process {pid} exited"))
        })?;
        Ok(Namespace { id, _pin: pin })
    }
}

/// A running (or stopped) test host.
pub(crate) struct Node {
    pub(crate) port: u16,
    pub(crate) pid: u32,
    /// `None` when the sshd was already gone at [`Node::attach`].
    ns: Option<Namespace>,
    /// Our child, to reap; `None` after stop and for nodes started by another process.
    child: Mutex<Option<Child>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-done worth refusing over.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A port that was free a moment ago.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

enum Outcome {
    Ready,
    Exited(ExitStatus),
}

/// Polls until the sshd listens on `port`, exits, or the deadline passes.
fn wait_ready(child: &mut Child, port: u16) -> io::Result<Outcome> {
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Outcome::Exited(status));
        }
        if procfs::listens_on(child.id(), port) {
            return Ok(Outcome::Ready);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("sshd did not listen on 127.0.0.1:{port} within {READY_DEADLINE:?}"),
            ));
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn read_log(path: &Path) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    if log.trim().is_empty() {
        "(sshd.log is empty)".to_string()
    } else {
        log.trim_end().to_string()
    }
}

impl Node {
    /// Prepares node `node`'s folder and host key, then starts its sshd, on a new port if
    /// another process took the first one.
    pub(crate) fn start(spawn: &Spawn, node: usize, kind: NodeKind) -> io::Result<Node> {
        let layout = spawn.layout;
        let bin = match kind {
            NodeKind::OtherMachine | NodeKind::NoRsync => {
                let bin = layout.node_bin(node);
                fs::create_dir_all(&bin)?;
                let uname = bin.join("uname");
                fs::write(&uname, uname_wrapper())?;
                fs::set_permissions(&uname, fs::Permissions::from_mode(0o755))?;
                if kind == NodeKind::NoRsync {
                    link_programs_but_rsync(&bin)?;
                }
                Some(bin)
            }
            _ => None,
        };
        let noexec_home = match kind {
            NodeKind::NoexecHome => spawn.home.as_deref(),
            _ => None,
        };
        let tmp = layout.node_tmp(node);
        fs::create_dir_all(&tmp)?;
        // As /tmp is: world-writable, sticky.
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
        File::create(layout.bashrc(node))?;
        files::keygen(&layout.host_key(node), &format!("node{node}"))?;

        let log = layout.log(node);
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let config = layout.sshd_config(node);
            fs::write(
                &config,
                files::sshd_config(
                    layout,
                    node,
                    port,
                    bin.as_deref(),
                    kind == NodeKind::NoRsync,
                ),
            )?;
            let mut cmd = Command::new("unshare");
            cmd.args(["-m", "-u", "--propagation", "private", "--"])
                .args(["sh", "-c", NODE_SCRIPT, "sh"])
                .arg(format!("node{node}"))
                .arg(&tmp)
                .arg(spawn.bashrc.as_deref().unwrap_or(Path::new("")))
                .arg(layout.bashrc(node))
                .arg(SSHD)
                .arg(&config)
                .arg(layout.agent_cache())
                .arg(spawn.agent_cache.as_deref().unwrap_or(Path::new("")))
                .arg(noexec_home.unwrap_or(Path::new("")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log)?);
            if spawn.detach {
                cmd.process_group(0);
            }
            let mut child = cmd.spawn().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run `unshare`: {e}\nhint: install util-linux"),
                )
            })?;
            let pid = child.id();
            match wait_ready(&mut child, port) {
                Ok(Outcome::Ready) => {
                    let ns = Namespace::of(pid).and_then(|ns| {
                        if ns.id == procfs::own_mnt_ns()? {
                            return Err(io::Error::other(
                                "sshd runs in our own mount namespace, `unshare -m` had no effect",
                            ));
                        }
                        Ok(ns)
                    });
                    let ns = match ns {
                        Ok(ns) => ns,
                        Err(e) => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err(e);
                        }
                    };
                    return Ok(Node {
                        port,
                        pid,
                        ns: Some(ns),
                        child: Mutex::new(Some(child)),
                    });
                }
                Ok(Outcome::Exited(status)) => {
                    let log = read_log(&log);
                    if log.contains("Address already in use") {
                        continue;
                    }
                    return Err(io::Error::other(format!(
                        "sshd exited at start ({status}), its log {}:\n{log}",
                        layout.log(node).display()
                    )));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "{e}, its log {}:\n{}",
                            layout.log(node).display(),
                            read_log(&log)
                        ),
                    ));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free port after {PORT_ATTEMPTS} tries: other processes took each one first"
            ),
        ))
    }

    /// Finds the node that an earlier process started, as its state file describes it. The
    /// recorded pid counts only if it is still that node's sshd: pids get reused.
    pub(crate) fn attach(layout: &Layout, node: usize, state: &NodeState) -> Node {
        let config = layout.sshd_config(node);
        let ours = procfs::cmdline(state.pid).contains(&*config.to_string_lossy());
        let ns = Namespace::of(state.pid)
            .ok()
            .filter(|ns| ours && ns.id == state.mnt_ns);
        Node {
            port: state.port,
            pid: state.pid,
            ns,
            child: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> NodeState {
        NodeState {
            port: self.port,
            pid: self.pid,
            mnt_ns: self
                .ns
                .as_ref()
                .map_or_else(|| "mnt:[0]".to_string(), |ns| ns.id.clone()),
        }
    }

    /// Every live process of the node, sshd included.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.ns
            .as_ref()
            .map_or_else(Vec::new, |ns| procfs::pids_in(&ns.id))
    }

    /// Kills every process of the node and reaps the sshd if it is our child.
    ///
    /// Every process is stopped before any is killed, as a power cut would: killed one by
    /// one, a shell could outlive its child and report `Killed` over a session that is still
    /// open (CI saw `node88: bash: line 1: 379 Killed cat` once pids had wrapped, so the
    /// child was killed before its parent).
    pub(crate) fn stop(&self) -> io::Result<()> {
        let mut child = lock(&self.child);
        if let Some(ns) = &self.ns {
            procfs::stop_all(&ns.id)?;
            procfs::kill_all(&ns.id)?;
        }
        if let Some(mut child) = child.take() {
            // Already dead if it was in the namespace; kill anyway in case it never got there.
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// SIGSTOPs every process of the node; returns how many.
    pub(crate) fn freeze(&self) -> io::Result<usize> {
        self.ns
            .as_ref()
            .map_or(Ok(0), |ns| procfs::stop_all(&ns.id))
    }

    /// SIGCONTs every process of the node; returns how many.
    pub(crate) fn thaw(&self) -> io::Result<usize> {
        self.ns
            .as_ref()
            .map_or(Ok(0), |ns| procfs::continue_all(&ns.id))
    }
}
