//! The cluster folder: where each file lives, what goes into it, and the state file that
//! lets a later process find the sshds again.
//!
//! ```text
//! DIR/
//!   ssh_config  known_hosts  user_key  user_key.pub  authorized_keys  cluster.state
//!   nodeI/
//!     sshd_config  host_key  host_key.pub  sshd.log
//!     tmp/      bind-mounted over /tmp inside nodeI
//!     bashrc    empty, bind-mounted over ~/.bashrc inside nodeI
//!     bin/uname a node of another machine only: first on its sessions' PATH
//!     bin/*     a node without rsync only: links to the other programs, its whole PATH
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Name of the state file, also the marker that a folder holds a cluster.
const STATE: &str = "cluster.state";

/// First line of the state file; a file without it is not ours.
const STATE_HEADER: &str = "# prtools-testcluster state: node port sshd-pid mount-namespace";

/// Paths of every file in a cluster folder.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// `dir` must be absolute: every path derived from it ends up in a config file.
    pub(crate) fn new(dir: PathBuf) -> Layout {
        debug_assert!(dir.is_absolute());
        Layout { dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    pub(crate) fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub(crate) fn user_key(&self) -> PathBuf {
        self.dir.join("user_key")
    }

    pub(crate) fn authorized_keys(&self) -> PathBuf {
        self.dir.join("authorized_keys")
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.dir.join(STATE)
    }

    /// What every node of the cluster shows as `~/.cache/prtools`.
    pub(crate) fn agent_cache(&self) -> PathBuf {
        self.dir.join("agent-cache")
    }

    pub(crate) fn node_dir(&self, node: usize) -> PathBuf {
        self.dir.join(format!("node{node}"))
    }

    pub(crate) fn node_tmp(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("tmp")
    }

    pub(crate) fn bashrc(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("bashrc")
    }

    /// What a [`NodeKind::OtherMachine`](crate::NodeKind) node puts first on its PATH.
    pub(crate) fn node_bin(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("bin")
    }

    pub(crate) fn sshd_config(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("sshd_config")
    }

    pub(crate) fn host_key(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("host_key")
    }

    pub(crate) fn log(&self, node: usize) -> PathBuf {
        self.node_dir(node).join("sshd.log")
    }
}

/// The public half of a key written by [`keygen`].
fn public(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a fresh ed25519 key pair at `key` and `key.pub`, replacing any old one (ssh-keygen
/// would otherwise ask whether to overwrite).
pub(crate) fn keygen(key: &Path, comment: &str) -> io::Result<()> {
    for path in [key.to_path_buf(), public(key)] {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let out = Command::new("ssh-keygen")
        .args(["-t", "ed25519", "-N", "", "-q", "-C", comment, "-f"])
        .arg(key)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run `ssh-keygen`: {e}\nhint: install openssh-client"),
            )
        })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`ssh-keygen -f {}` failed ({}): {}",
            key.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The `type base64` part of a public key file, without its comment.
pub(crate) fn read_public(key: &Path) -> io::Result<String> {
    let path = public(key);
    let text = fs::read_to_string(&path)?;
    let fields: Vec<&str> = text.split_whitespace().take(2).collect();
    if fields.len() != 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a public key", path.display()),
        ));
    }
    Ok(fields.join(" "))
}

/// The sshd_config of one node.
///
/// `MaxSessions` and `MaxStartups` stay at sshd's defaults on purpose: the tests must meet the
/// limits real hosts have. The sftp subsystem is served (in-process, `internal-sftp`), as
/// OpenSSH's stock config serves it: prcp falls back to it where its agent cannot run. With
/// `bin`, sessions get a PATH that starts with it.
/// `bin` goes first on the sessions' `PATH`; with `only_bin`, it is the whole `PATH`.
pub(crate) fn sshd_config(
    layout: &Layout,
    node: usize,
    port: u16,
    bin: Option<&Path>,
    only_bin: bool,
) -> String {
    let mut config = format!(
        "# prtools test cluster, node{node}: generated, rewritten on every start\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {host_key}\n\
         AuthorizedKeysFile {authorized_keys}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile none\n\
         LogLevel ERROR\n\
         Subsystem sftp internal-sftp\n",
        host_key = layout.host_key(node).display(),
        authorized_keys = layout.authorized_keys().display(),
    );
    match bin {
        Some(bin) if only_bin => {
            let _ = writeln!(config, "SetEnv PATH={}", bin.display());
        }
        Some(bin) => {
            // sshd's own default PATH, behind the wrapper.
            let _ = writeln!(
                config,
                "SetEnv PATH={}:{}",
                bin.display(),
                crate::node::DEFAULT_PATH.join(":")
            );
        }
        None => {}
    }
    config
}

/// The client config naming the nodes `node1..nodeN`, for `ssh -F`.
pub(crate) fn ssh_config(layout: &Layout, ports: &[u16]) -> String {
    let mut out =
        String::from("# prtools test cluster: generated, use with `ssh -F THIS_FILE nodeI`\n");
    for (i, port) in ports.iter().enumerate() {
        let node = i + 1;
        // HostKeyAlias makes the known_hosts lines `nodeI ssh-ed25519 ...` whatever the port.
        let _ = write!(
            out,
            "\nHost node{node}\n\
             \x20   HostName 127.0.0.1\n\
             \x20   Port {port}\n\
             \x20   User root\n\
             \x20   IdentityFile {key}\n\
             \x20   IdentitiesOnly yes\n\
             \x20   UserKnownHostsFile {known_hosts}\n\
             \x20   HostKeyAlias node{node}\n\
             \x20   StrictHostKeyChecking yes\n\
             \x20   LogLevel ERROR\n",
            key = layout.user_key().display(),
            known_hosts = layout.known_hosts().display(),
        );
    }
    out
}

/// `nodeI ssh-ed25519 AAAA...` for every node.
pub(crate) fn known_hosts(layout: &Layout, n: usize) -> io::Result<String> {
    let mut out = String::new();
    for node in 1..=n {
        let key = read_public(&layout.host_key(node))?;
        let _ = writeln!(out, "node{node} {key}");
    }
    Ok(out)
}

/// What a later process needs to find a node again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeState {
    pub(crate) port: u16,
    pub(crate) pid: u32,
    /// `mnt:[INODE]`, as `readlink /proc/PID/ns/mnt` prints it.
    pub(crate) mnt_ns: String,
}

pub(crate) fn write_state(layout: &Layout, nodes: &[NodeState]) -> io::Result<()> {
    let mut out = format!("{STATE_HEADER}\n");
    for (i, node) in nodes.iter().enumerate() {
        let _ = writeln!(out, "{} {} {} {}", i + 1, node.port, node.pid, node.mnt_ns);
    }
    // Write beside, then rename: a reader never sees half a state file.
    let tmp = layout.dir().join(format!("{STATE}.new"));
    fs::write(&tmp, out)?;
    fs::rename(tmp, layout.state())
}

/// Reads the state file; `Ok(None)` when there is none.
pub(crate) fn read_state(layout: &Layout) -> io::Result<Option<Vec<NodeState>>> {
    let path = layout.state();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |line: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad line in {}: '{line}'", path.display()),
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some(STATE_HEADER) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} is not a prtools test cluster state file",
                path.display()
            ),
        ));
    }
    let mut nodes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        let [node, port, pid, mnt_ns] = fields[..] else {
            return Err(bad(line));
        };
        if node.parse::<usize>().ok() != Some(nodes.len() + 1) || !mnt_ns.starts_with("mnt:[") {
            return Err(bad(line));
        }
        nodes.push(NodeState {
            port: port.parse().map_err(|_| bad(line))?,
            pid: pid.parse().map_err(|_| bad(line))?,
            mnt_ns: mnt_ns.to_string(),
        });
    }
    Ok(Some(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/tc")
            .join(format!("state-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let layout = Layout::new(dir.clone());
        assert_eq!(read_state(&layout).unwrap(), None);
        let nodes = vec![
            NodeState {
                port: 40001,
                pid: 17,
                mnt_ns: "mnt:[4026532177]".into(),
            },
            NodeState {
                port: 40002,
                pid: 18,
                mnt_ns: "mnt:[4026532178]".into(),
            },
        ];
        write_state(&layout, &nodes).unwrap();
        assert_eq!(read_state(&layout).unwrap(), Some(nodes));
        fs::write(layout.state(), "hello\n").unwrap();
        let err = read_state(&layout).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a prtools test cluster state file"),
            "{err}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ssh_config_names_nodes() {
        let layout = Layout::new(PathBuf::from("/c"));
        let cfg = ssh_config(&layout, &[40001, 40002]);
        assert!(
            cfg.contains("\nHost node2\n    HostName 127.0.0.1\n    Port 40002\n"),
            "{cfg}"
        );
        assert!(cfg.contains("    HostKeyAlias node1\n"), "{cfg}");
        assert!(cfg.contains("    IdentityFile /c/user_key\n"), "{cfg}");
        assert!(
            cfg.contains("    UserKnownHostsFile /c/known_hosts\n"),
            "{cfg}"
        );
    }
}
