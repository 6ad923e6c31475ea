//! Opening, reusing and closing the connection to one host.
//!
//! For ssh, prtools starts the OpenSSH master itself (`ssh -M -f -N`) and then speaks the
//! multiplexing protocol to it with the `openssh` crate's native mux client. Starting the master
//! ourselves, rather than through `openssh::SessionBuilder`, is what lets `-O OPTION` reach ssh
//! (the builder has no way to pass arbitrary options), lets `--persist` choose
//! `ControlPersist`, and leaves `StrictHostKeyChecking` to the user's ssh config instead of
//! forcing a value: host key checking is never silently changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;
use tokio::process::Command;

use crate::cipher;
use crate::config::{Config, Method};
use crate::control::{ensure_private_dir, private_socket, shared_socket};
use crate::error::HostError;
use crate::target::Target;

/// How long a master that belongs to one run lingers if prtools dies without closing it.
/// Long enough that a slow stdin or a long fan-out queue never finds it gone mid-run.
const PRIVATE_MASTER_LINGER: &str = "ControlPersist=60";

/// A way to run commands on one host: a multiplexed ssh master, or a local exec template.
pub struct Connection {
    pub(crate) target: Target,
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    Mux {
        session: Arc<Session>,
        /// Close the master when the run is done: it was started for this run only.
        owned: bool,
    },
    Exec {
        template: Vec<String>,
        user: String,
        /// Append the remote command to the template: false when the template is the
        /// command's own words ([`Config::exec_words`]).
        append: bool,
    },
}

impl Connection {
    /// Connects to `target`: reuses a live persistent master, else starts one, within
    /// `config.connect_timeout`.
    ///
    /// A host written `TYPE:host` is reached by its own `TYPE` (pdsh's `exec:node[1-4]`),
    /// whatever `-R` says.
    pub async fn open(target: &Target, config: &Config) -> Result<Connection, HostError> {
        let kind = match &method_of(target, config)? {
            Method::Ssh => open_mux(target, config).await?,
            Method::Exec { template } => Kind::Exec {
                template: if template.is_empty() {
                    config.exec_words.clone()
                } else {
                    template.clone()
                },
                append: !template.is_empty(),
                user: target
                    .user(config)
                    .map(String::from)
                    .unwrap_or_else(local_user),
            },
        };
        Ok(Connection {
            target: target.clone(),
            kind,
        })
    }

    /// The host this connection reaches.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Ends the connection unless it is meant to persist. Errors are ignored: the run's
    /// results are already known, and a master that will not close times out by itself.
    pub async fn close(self) {
        if let Kind::Mux {
            session,
            owned: true,
        } = self.kind
        {
            if let Ok(session) = Arc::try_unwrap(session) {
                let _ = session.close().await;
            }
        }
    }
}

async fn open_mux(target: &Target, config: &Config) -> Result<Kind, HostError> {
    ensure_private_dir(&config.control_dir).map_err(|e| HostError::Other(e.to_string()))?;
    let shared = shared_socket(config, target);
    if let Some(session) = resume(&shared).await {
        return Ok(Kind::Mux {
            session: Arc::new(session),
            owned: false,
        });
    }
    let (socket, persist, owned) = match config.persist {
        Some(d) => (
            shared,
            format!("ControlPersist={}", d.as_secs().max(1)),
            false,
        ),
        None => (
            private_socket(config, target),
            PRIVATE_MASTER_LINGER.to_string(),
            true,
        ),
    };
    launch_master(target, config, &socket, &persist).await?;
    Ok(Kind::Mux {
        session: Arc::new(Session::resume_mux(socket.into_boxed_path(), None)),
        owned,
    })
}

/// A live master at `socket`, or None; a dead socket is removed, never trusted.
async fn resume(socket: &Path) -> Option<Session> {
    if !socket.exists() {
        return None;
    }
    let session = Session::resume_mux(socket.to_path_buf().into_boxed_path(), None);
    if session.check().await.is_ok() {
        return Some(session);
    }
    let _ = fs::remove_file(socket);
    None
}

async fn launch_master(
    target: &Target,
    config: &Config,
    socket: &Path,
    persist: &str,
) -> Result<(), HostError> {
    let log = log_path(socket);
    let _ = fs::remove_file(socket);
    let _ = fs::remove_file(&log);
    let common = common_options(target, config);
    let mut ssh = Command::new("ssh");
    ssh.args(&common);
    if config.bulk {
        ssh.args(cipher::options(&common, &target.spec.host).await);
    }
    ssh.arg("-o").arg("ControlMaster=yes");
    ssh.arg("-o").arg(persist);
    ssh.arg("-S").arg(socket);
    ssh.arg("-E").arg(&log);
    ssh.args(["-f", "-N", "--"]).arg(&target.spec.host);
    ssh.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // Each master in a session of its own, as parallel-ssh starts each of its ssh: Linux
    // shares the processor between sessions first (autogroup), so on a busy machine the
    // handshakes of a whole fan-out, one session, got the share of a single process. They are
    // the bulk of a cold run (OpenSSH's default key exchange costs ~60 ms of processor each):
    // a cold prdist to 16 hosts took 1.9 s against parallel-rsync's 1.3 s while other builds
    // ran, 1.1 s in sessions of their own. No prompt is lost: BatchMode is on, and an
    // interrupt reaches ssh through `kill_on_drop`, not through the terminal.
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of this process; it can
    // fail only where the child already leads a process group, which a fresh child does not.
    unsafe {
        ssh.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = ssh
        .spawn()
        .map_err(|e| HostError::Other(format!("cannot run ssh: {e}; is OpenSSH installed?")))?;
    // ssh enforces ConnectTimeout on the TCP connect and the banner; this bound also covers a
    // host that stalls later in the key exchange.
    let bound = config.connect_timeout + Duration::from_secs(1);
    let status = match tokio::time::timeout(bound, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(HostError::Other(format!("ssh failed: {e}"))),
        Err(_) => {
            let _ = child.kill().await;
            let _ = fs::remove_file(&log);
            return Err(HostError::ConnectTimeout(config.connect_timeout));
        }
    };
    let text = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    if status.success() {
        Ok(())
    } else {
        Err(HostError::from_ssh_log(&text, config.connect_timeout))
    }
}

/// The options every ssh prtools starts gets, ours first because ssh keeps the first value it
/// sees for each option: no prompts, a bounded connect, then what the user asked for.
fn common_options(target: &Target, config: &Config) -> Vec<String> {
    let mut args = vec![
        "-o".to_string(),
        "BatchMode=yes".to_string(),
        "-o".to_string(),
        format!("ConnectTimeout={}", config.connect_timeout.as_secs().max(1)),
    ];
    if let Some(file) = &config.ssh_config {
        // A relay host runs this command from another folder, so a relative path would
        // name another file there.
        let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        args.extend(["-F".to_string(), file.display().to_string()]);
    }
    if let Some(user) = target.user(config) {
        args.extend(["-l".to_string(), user.to_string()]);
    }
    if let Some(port) = target.port(config) {
        args.extend(["-p".to_string(), port.to_string()]);
    }
    for option in &config.ssh_options {
        args.extend(["-o".to_string(), option.clone()]);
    }
    args.extend(config.ssh_args.iter().cloned());
    args
}

/// The argv of a one-off `ssh HOST COMMAND` with the run's settings (`-F`, `-l`, `-p`, `-O`,
/// BatchMode, ConnectTimeout) and no master: what a relay host runs to reach the next host,
/// where this machine's control sockets do not exist. None unless the run uses ssh.
pub fn ssh_argv(target: &Target, config: &Config, command: &str) -> Option<Vec<String>> {
    if config.method != Method::Ssh {
        return None;
    }
    let mut argv = vec!["ssh".to_string(), "-T".to_string()];
    argv.extend(common_options(target, config));
    argv.extend([
        "--".to_string(),
        target.spec.host.clone(),
        command.to_string(),
    ]);
    Some(argv)
}

fn log_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".log");
    PathBuf::from(name)
}

/// The argv that runs `command` on `target` as a process of its own, with no master: ssh's
/// ([`ssh_argv`]), or the `-e`/`-R exec` program's with its `%h`, `%u` and `%n` replaced,
/// which rsync users give as their remote shell (`-e 'lsh.sh'`, `-e rsh`). A host written
/// `TYPE:host` goes by its own `TYPE`.
pub fn shell_argv(
    target: &Target,
    config: &Config,
    command: &str,
) -> Result<Vec<String>, HostError> {
    match method_of(target, config)? {
        Method::Ssh => {
            let ssh = Config {
                method: Method::Ssh,
                ..config.clone()
            };
            let mut argv = ssh_argv(target, &ssh, command).unwrap_or_default();
            if let Some(keep) = config.persist {
                argv.splice(2..2, persisting(target, config, keep)?);
            }
            if config.bulk {
                let common = common_options(target, config);
                argv.splice(2..2, cipher::options_blocking(&common, &target.spec.host));
            }
            Ok(argv)
        }
        Method::Exec { template } => {
            let user = target
                .user(config)
                .map(String::from)
                .unwrap_or_else(local_user);
            let argv = if template.is_empty() {
                crate::process::exec_argv(target, &config.exec_words, &user, "")
            } else {
                crate::process::exec_argv(target, &template, &user, command)
            };
            if argv.is_empty() {
                return Err(HostError::Other(
                    "empty exec command; give one, as in -e 'ssh -p 2222'".into(),
                ));
            }
            Ok(argv)
        }
    }
}

/// The options that make a remote shell of a run with `--persist` go through the host's
/// shared master, the one [`Connection`]s of the agent path use too, and start it when there
/// is none (`ControlMaster=auto`, ssh's own way, as `rsync -e 'ssh -o ControlMaster=auto
/// -o ControlPersist=..'` does). Without them a one-host `--wire=rsync` run paid a new
/// connection every time, `--persist` or not.
fn persisting(target: &Target, config: &Config, keep: Duration) -> Result<[String; 6], HostError> {
    ensure_private_dir(&config.control_dir).map_err(|e| HostError::Other(e.to_string()))?;
    let socket = shared_socket(config, target);
    Ok([
        "-o".to_string(),
        "ControlMaster=auto".to_string(),
        "-o".to_string(),
        format!("ControlPersist={}", keep.as_secs().max(1)),
        "-S".to_string(),
        socket.display().to_string(),
    ])
}

/// How `target` is reached: its own `TYPE:` (pdsh's `exec:node[1-4]`), else `-R`/`-e`'s.
fn method_of(target: &Target, config: &Config) -> Result<Method, HostError> {
    match target.spec.rcmd.as_deref() {
        Some(own) => Method::parse(own).map_err(HostError::Other),
        None => Ok(config.method.clone()),
    }
}

/// The local user's name, the remote one when nothing else names it.
pub(crate) fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}
