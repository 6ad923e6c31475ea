//! Throwaway clusters of real ssh hosts on one machine, for prtools' tests.
//!
//! prtools drives OpenSSH, and a fake ssh would only test our idea of it. So the tests talk to
//! real `sshd`s: [`Cluster::start_temp`] starts `n` of them on `127.0.0.1` and writes an
//! `ssh_config` that names them `node1..nodeN`; `ssh -F CONFIG node2 hostname` prints `node2`.
//! `cargo xtask cluster up N` starts one by hand for poking at.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let cluster = prtools_testcluster::Cluster::start_temp(3)?;
//! let out = cluster.ssh(2).arg("hostname").output()?;
//! assert_eq!(out.stdout, b"node2\n");
//! # Ok(()) }
//! ```
//!
//! # What makes a node a host
//!
//! - **Its own mount and UTS namespace.** Each sshd is started through
//!   `unshare -m -u --propagation private`, so it can have its own hostname (`hostname`, `%h`
//!   in outputs, dshbak folding are all tested against `nodeI`) and its own mounts. This needs
//!   root; the tests run as root.
//! - **A private `/tmp`.** A folder of the cluster is bind-mounted over `/tmp` inside the node,
//!   so that "copy to `/tmp` on every host" writes N different folders, as on a real cluster,
//!   and [`Cluster::node_tmp`] shows the test what landed on which node. The cluster's own files
//!   therefore live outside `/tmp` (`target/tc/...`): the bind mount would hide them from sshd.
//! - **An agent cache of its own.** prcp, prsync and prdist upload themselves into
//!   `~/.cache/prtools` on a host, and an upload removes the other builds there. Every node of
//!   a cluster sees one folder of the cluster there ([`Cluster::agent_cache`]), as hosts that
//!   share a home folder do, so that tests and worktrees running side by side neither remove
//!   each other's agents nor find them already uploaded.
//! - **An empty `~/.bashrc`.** sshd runs every command through the login shell, and bash reads
//!   `~/.bashrc` for it. This machine's runs `pyenv init`, about 80 ms a command, which would
//!   swamp every timing; real nodes are clean. An empty file is bind-mounted over it, inside
//!   the node only.
//! - **Strict host keys.** Every node has its own host key, listed in the cluster's
//!   `known_hosts` as `nodeI` (`HostKeyAlias`), and the client config says
//!   `StrictHostKeyChecking yes`: a test that connects to the wrong node, or would prompt,
//!   fails, as it would against real hosts.
//! - **Hosts where prtools' agent cannot run**, when asked for ([`Cluster::start_temp_with`]):
//!   a home mounted `noexec` ([`NodeKind::NoexecHome`]), or a `uname` that reports another
//!   machine ([`NodeKind::OtherMachine`]), one of them with no rsync either
//!   ([`NodeKind::NoRsync`]). Every node serves the sftp subsystem.
//! - **sshd's defaults.** `MaxSessions` (10 channels per connection) and `MaxStartups` are
//!   left alone: prtools must live within the limits real hosts have.
//!
//! # The processes of a node
//!
//! The pid that [`Cluster::sshd_pid`] returns is the sshd itself (the namespace script ends in
//! `exec sshd`). Everything the sshd starts (sessions, shells, a `sleep 600` whose client was
//! killed) stays in its mount namespace, whatever process group or session it moves to, so a
//! node's processes are found by comparing `/proc/PID/ns/mnt`: [`Cluster::processes`] lists
//! them, [`Cluster::stop_node`] SIGKILLs them all (connections are then refused), and
//! [`Cluster::freeze_node`] SIGSTOPs them all (connections hang, as to a hung host).
//!
//! # Running side by side
//!
//! Test binaries and test threads start clusters at the same time. Each cluster gets its own
//! folder and ports. A port is found free by binding port 0 and closing it again, so another
//! process may take it before sshd binds it: a node is ready only once `/proc` shows *its*
//! sshd holding the listening socket, and an sshd that could not bind is started again on a
//! new port. Readiness is read from `/proc` rather than by connecting: a probe connection
//! would leave an `sshd: [accepted]` process in the node for a moment after the start.

#![deny(missing_docs)]

mod files;
mod node;
mod place;
mod procfs;

pub use node::{other_machine, NodeKind, SSHD};
pub use place::home_for;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use files::Layout;
use node::{Node, Spawn};

/// Numbers the temp clusters of this process.
static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A set of running test hosts `node1..nodeN`. Nodes are numbered from 1 everywhere.
///
/// A cluster from [`Cluster::start_temp`] is stopped and its folder removed when it is
/// dropped; one from [`Cluster::start`] keeps running until [`Cluster::down`].
pub struct Cluster {
    layout: Layout,
    ssh_config: PathBuf,
    nodes: Vec<Node>,
    /// What each node is; all [`NodeKind::Normal`] for an attached cluster.
    kinds: Vec<NodeKind>,
    temp: bool,
    down: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// `<workspace>/target/tc`, where temp clusters live.
fn temp_root() -> PathBuf {
    // This crate is `<workspace>/crates/testcluster`.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    workspace.join("target").join("tc")
}

/// Creates `dir` and its parents, and opens `dir` to every user whatever the umask: sshd reads
/// `authorized_keys` in there as the user who logs in, `nobody` among them.
fn create_shared_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
}

/// Whether a process with this pid exists (in any state).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the temp clusters of test processes that died without dropping them (killed by a
/// timeout, or by Ctrl-C): their sshds would otherwise run forever.
fn sweep_stale_temp(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, _)) = name.to_str().and_then(|name| name.split_once('-')) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || alive(pid) {
            continue;
        }
        // Found by command line, not by state file: the process may have died before writing
        // it. Another process may sweep the same folder at the same time: both kill the same
        // processes, one of the removals fails; neither matters.
        let _ = procfs::kill_sshds_of(&entry.path());
        let _ = fs::remove_dir_all(entry.path());
    }
}

impl Cluster {
    /// Starts `n` nodes with their files in `dir`, which is created.
    ///
    /// `dir` must not be under `/tmp`: every node mounts its own folder over `/tmp`, which
    /// would hide the cluster's files from its sshd. The nodes keep running after the cluster
    /// is dropped, and after this process exits; [`Cluster::attach`] finds them again and
    /// [`Cluster::down`] stops them.
    pub fn start(dir: &Path, n: usize) -> io::Result<Cluster> {
        Cluster::start_in(dir, &vec![NodeKind::Normal; n], false)
    }

    /// Starts `n` nodes in a fresh folder under `<workspace>/target/tc`; they are stopped and
    /// the folder removed when the cluster is dropped.
    ///
    /// A cluster that is never dropped (kept in a `static`, or its test process killed)
    /// outlives its process; the next `start_temp`, in any process, stops it and removes its
    /// folder, which is named after the dead process's pid.
    ///
    /// Where `target/tc` cannot hold a cluster (a checkout under `/tmp` or under a folder other
    /// users cannot enter), the clusters live where [`home_for`] puts them.
    pub fn start_temp(n: usize) -> io::Result<Cluster> {
        Cluster::start_temp_in(&temp_root(), n)
    }

    /// [`Cluster::start_temp`] with one node of each kind in `kinds`, in order: node `i` is
    /// `kinds[i - 1]`.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// use prtools_testcluster::{Cluster, NodeKind};
    /// let cluster = Cluster::start_temp_with(&[NodeKind::Normal, NodeKind::OtherMachine])?;
    /// let out = cluster.ssh(2).arg("uname -m").output()?;
    /// assert_eq!(out.stdout, format!("{}\n", prtools_testcluster::other_machine()).as_bytes());
    /// # Ok(()) }
    /// ```
    pub fn start_temp_with(kinds: &[NodeKind]) -> io::Result<Cluster> {
        Cluster::start_temp_kinds(&temp_root(), kinds)
    }

    /// [`Cluster::start_temp`] for clusters meant for `root` rather than `target/tc`, as for a
    /// checkout elsewhere.
    pub fn start_temp_in(root: &Path, n: usize) -> io::Result<Cluster> {
        Cluster::start_temp_kinds(root, &vec![NodeKind::Normal; n])
    }

    fn start_temp_kinds(root: &Path, kinds: &[NodeKind]) -> io::Result<Cluster> {
        let root = home_for(root)?;
        create_shared_dir(&root)?;
        // Canonical, as the paths in the sshds' command lines that the sweep looks for.
        let root = root.canonicalize()?;
        sweep_stale_temp(&root);
        loop {
            let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = root.join(format!("{}-{count}", std::process::id()));
            // create_dir, not create_dir_all: a folder left by an earlier process with our pid
            // must not be reused.
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            return match Cluster::start_in(&dir, kinds, true) {
                Ok(cluster) => Ok(cluster),
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    Err(e)
                }
            };
        }
    }

    fn start_in(dir: &Path, kinds: &[NodeKind], temp: bool) -> io::Result<Cluster> {
        let n = kinds.len();
        if n == 0 {
            return Err(invalid(
                "a test cluster needs at least one node".to_string(),
            ));
        }
        // SAFETY: geteuid(2) has no arguments and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a test cluster needs root: each node is an sshd in its own mount namespace\n\
                 hint: run the tests as root",
            ));
        }
        if !Path::new(node::SSHD).exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found\nhint: `cargo xtask deps` installs it (`apt-get install \
                     openssh-server`)",
                    node::SSHD
                ),
            ));
        }
        let dir = std::path::absolute(dir)?;
        if let Some(why) = place::unfit(&dir)? {
            return Err(invalid(format!(
                "cannot start a test cluster in {}: {why}\nhint: start it in the folder \
                 `home_for` gives",
                dir.display()
            )));
        }
        create_shared_dir(&dir)?;
        let dir = dir.canonicalize()?;
        let layout = Layout::new(dir);
        if let Some(running) = Cluster::attach(layout.dir())
            .ok()
            .filter(|cluster| cluster.nodes.iter().any(|node| !node.pids().is_empty()))
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "a test cluster is already running in {}\nhint: stop it first with \
                     `Cluster::down` (`cargo xtask cluster down`)",
                    running.dir().display()
                ),
            ));
        }
        // sshd's privilege separation folder; a fresh machine has none.
        fs::create_dir_all("/run/sshd")?;

        files::keygen(&layout.user_key(), "prtools-testcluster")?;
        let user_key = files::read_public(&layout.user_key())?;
        fs::write(layout.authorized_keys(), format!("{user_key}\n"))?;
        // Read by sshd as each user who logs in, whatever our umask made it.
        fs::set_permissions(
            layout.authorized_keys(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )?;

        let home = std::env::var_os("HOME").map(PathBuf::from);
        let bashrc = home
            .as_ref()
            .map(|home| home.join(".bashrc"))
            .filter(|bashrc| bashrc.is_file());
        fs::create_dir_all(layout.agent_cache())?;
        // The mount point must exist; an empty folder in the real home is all it takes.
        let agent_cache = match &home {
            Some(home) => {
                let cache = home.join(".cache/prtools");
                fs::create_dir_all(&cache)?;
                Some(cache)
            }
            None => None,
        };
        let spawn = Spawn {
            layout: &layout,
            detach: !temp,
            bashrc,
            agent_cache,
            home: home.clone(),
        };
        // One thread a node: 64 sshds start in about the time one takes.
        let started: Vec<io::Result<Node>> = thread::scope(|scope| {
            let threads: Vec<_> = (1..=n)
                .map(|i| {
                    let spawn = &spawn;
                    let kind = kinds[i - 1];
                    scope.spawn(move || Node::start(spawn, i, kind))
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err(io::Error::other("starting thread panicked")))
                })
                .collect()
        });
        let mut nodes = Vec::with_capacity(n);
        let mut failure = None;
        for (i, result) in started.into_iter().enumerate() {
            match result {
                Ok(node) => nodes.push(node),
                Err(e) if failure.is_none() => {
                    failure = Some(io::Error::new(
                        e.kind(),
                        format!("cannot start test host node{}: {e}", i + 1),
                    ));
                }
                Err(_) => {}
            }
        }
        if let Some(e) = failure {
            for node in &nodes {
                let _ = node.stop();
            }
            return Err(e);
        }

        let mut cluster = Cluster {
            ssh_config: layout.ssh_config(),
            layout,
            nodes,
            kinds: kinds.to_vec(),
            temp,
            down: false,
        };
        if let Err(e) = cluster.write_files() {
            let _ = cluster.shut_down();
            return Err(e);
        }
        Ok(cluster)
    }

    /// Writes what the clients and a later [`Cluster::attach`] read, once the ports are known.
    fn write_files(&self) -> io::Result<()> {
        let states: Vec<_> = self.nodes.iter().map(Node::state).collect();
        files::write_state(&self.layout, &states)?;
        let known_hosts = files::known_hosts(&self.layout, self.len())?;
        fs::write(self.layout.known_hosts(), known_hosts)?;
        let ports: Vec<u16> = self.nodes.iter().map(|node| node.port).collect();
        fs::write(&self.ssh_config, files::ssh_config(&self.layout, &ports))
    }

    /// Finds the cluster that [`Cluster::start`] left running in `dir`, possibly in another
    /// process, from the state file there. Nodes whose sshd is gone count as stopped.
    pub fn attach(dir: &Path) -> io::Result<Cluster> {
        let dir = dir.canonicalize().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("no test cluster in {}: {e}", dir.display()),
            )
        })?;
        let layout = Layout::new(dir);
        let Some(states) = files::read_state(&layout)? else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no test cluster in {}: it has no {}",
                    layout.dir().display(),
                    layout.state().display()
                ),
            ));
        };
        let nodes: Vec<Node> = states
            .iter()
            .enumerate()
            .map(|(i, state)| Node::attach(&layout, i + 1, state))
            .collect();
        Ok(Cluster {
            ssh_config: layout.ssh_config(),
            layout,
            kinds: vec![NodeKind::Normal; nodes.len()],
            nodes,
            temp: false,
            down: false,
        })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The host names, `node1..nodeN`, as the ssh config knows them.
    pub fn hosts(&self) -> Vec<String> {
        (1..=self.len()).map(|i| format!("node{i}")).collect()
    }

    /// The client config that names the nodes, for `ssh -F`.
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// The folder holding the cluster's keys, configs, logs and node folders.
    pub fn dir(&self) -> &Path {
        self.layout.dir()
    }

    fn node(&self, node: usize) -> &Node {
        match node.checked_sub(1).and_then(|i| self.nodes.get(i)) {
            Some(n) => n,
            None => panic!(
                "no node{node}: the cluster has node1..node{} (nodes count from 1)",
                self.len()
            ),
        }
    }

    /// What kind of host node `node` is.
    pub fn kind(&self, node: usize) -> NodeKind {
        let _ = self.node(node);
        self.kinds[node - 1]
    }

    /// The port node `node` listens on, on 127.0.0.1.
    ///
    /// # Panics
    ///
    /// For a node the cluster doesn't have, as every method taking a node does.
    pub fn port(&self, node: usize) -> u16 {
        self.node(node).port
    }

    /// The folder on this machine that is `/tmp` inside node `node`.
    pub fn node_tmp(&self, node: usize) -> PathBuf {
        let _ = self.node(node);
        self.layout.node_tmp(node)
    }

    /// The folder on this machine that every node shows as `~/.cache/prtools`, where the
    /// agents are uploaded.
    pub fn agent_cache(&self) -> PathBuf {
        self.layout.agent_cache()
    }

    /// The pid of node `node`'s sshd (the listener every connection goes to).
    pub fn sshd_pid(&self, node: usize) -> u32 {
        self.node(node).pid
    }

    /// `ssh -F CONFIG -o BatchMode=yes nodeI`: add the remote command and run it.
    pub fn ssh(&self, node: usize) -> Command {
        let _ = self.node(node);
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "BatchMode=yes"])
            .arg(format!("node{node}"));
        cmd
    }

    /// Kills node `node`: its sshd and every process it started. New connections are then
    /// refused, open ones break. Stopping a stopped node does nothing.
    pub fn stop_node(&self, node: usize) -> io::Result<()> {
        self.node(node)
            .stop()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot stop node{node}: {e}")))
    }

    /// SIGSTOPs every process of node `node`, its sshd first of all: new connections and open
    /// ones hang, as with a hung host, until [`Cluster::thaw_node`].
    pub fn freeze_node(&self, node: usize) -> io::Result<()> {
        match self.node(node).freeze() {
            Ok(0) => Err(not_running(node)),
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot freeze node{node}: {e}"),
            )),
        }
    }

    /// SIGCONTs every process of node `node`, undoing [`Cluster::freeze_node`].
    pub fn thaw_node(&self, node: usize) -> io::Result<()> {
        match self.node(node).thaw() {
            Ok(0) => Err(not_running(node)),
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot thaw node{node}: {e}"),
            )),
        }
    }

    /// The command lines (arguments joined by spaces) of every live process of node `node`,
    /// sshd included; empty once the node is stopped.
    pub fn processes(&self, node: usize) -> Vec<String> {
        self.process_table(node)
            .into_iter()
            .map(|(_, cmdline)| cmdline)
            .collect()
    }

    /// Like [`Cluster::processes`], with each process's pid, for tests that must tell a
    /// process from a new one with the same command line.
    pub fn process_table(&self, node: usize) -> Vec<(u32, String)> {
        self.node(node)
            .pids()
            .into_iter()
            .map(|pid| (pid, procfs::cmdline(pid)))
            .filter(|(_, cmdline)| !cmdline.is_empty())
            .collect()
    }

    /// Stops every node. A temp cluster also removes its folder; the folder of one from
    /// [`Cluster::start`] stays (`cargo xtask cluster down` removes it).
    pub fn down(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> io::Result<()> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        let mut result = Ok(());
        for i in 1..=self.len() {
            if let Err(e) = self.stop_node(i) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        if self.temp && result.is_ok() {
            result = fs::remove_dir_all(self.dir()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot remove {}: {e}", self.dir().display()),
                )
            });
        }
        result
    }
}

fn not_running(node: usize) -> io::Error {
    io::Error::other(format!("node{node} is not running"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.temp {
            if let Err(e) = self.shut_down() {
                // Drop cannot fail; the next start_temp sweeps what is left.
                eprintln!("prtools-testcluster: {e}");
            }
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir())
            .field(
                "ports",
                &self.nodes.iter().map(|n| n.port).collect::<Vec<_>>(),
            )
            .field("temp", &self.temp)
            .finish()
    }
}
