//! A command started on a host, over a mux channel or as a local exec process, and how to
//! kill it there.
//!
//! Closing an ssh channel does not stop a command that has no terminal: sshd only closes its
//! pipes, and `sleep 600` would live on. So every ssh command first prints its process group
//! id on stderr (sshd starts each session with `setsid`, so the shell's pid is its group), and
//! a timeout or an interrupt kills that whole group through a second channel.

use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::Notify;

use openssh::{Session, Stdio as SshStdio};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::process::Command;

use crate::connect::{Connection, Kind};
use crate::error::HostError;
use crate::target::Target;

/// The first stderr line of every ssh command: an unprintable prefix that no real output
/// starts with, then the process group id.
pub(crate) const PID_MARKER: &[u8] = b"\x1eprtools-pid ";

/// Why a command ended without an exit status when its host went away mid-command.
const CONNECTION_LOST: &str = "connection to the host was lost";

/// How long a killed command gets between SIGTERM and SIGKILL.
const KILL_GRACE_TENTHS: u32 = 20;

/// Boxed stdio ends, so that ssh channels and local pipes look the same to callers.
pub type Input = Box<dyn AsyncWrite + Send + Unpin>;
/// See [`Input`].
pub type Output = Box<dyn AsyncRead + Send + Unpin>;

/// A running command; take its pipes, then [`wait`](RemoteProcess::wait).
pub struct RemoteProcess {
    /// The command's stdin, if it was asked for.
    pub stdin: Option<Input>,
    /// The command's stdout.
    pub stdout: Option<Output>,
    /// The command's stderr; for ssh it starts with the pid marker line.
    pub stderr: Option<Output>,
    waiter: Waiter,
}

enum Waiter {
    Mux(openssh::Child<Arc<Session>>),
    Local(tokio::process::Child),
}

impl RemoteProcess {
    /// The process behind an ssh channel, its pipes taken (a null one is `None`); `wide`
    /// widens the pipes that carry bulk data (see [`crate::widen_pipe`]).
    fn of_channel(mut child: openssh::Child<Arc<Session>>, wide: bool) -> RemoteProcess {
        if wide {
            if let Some(stdin) = child.stdin() {
                crate::pipe::widen_pipe(stdin);
            }
            if let Some(stdout) = child.stdout() {
                crate::pipe::widen_pipe(stdout);
            }
        }
        RemoteProcess {
            stdin: child.stdin().take().map(|s| Box::new(s) as Input),
            stdout: child.stdout().take().map(|s| Box::new(s) as Output),
            stderr: child.stderr().take().map(|s| Box::new(s) as Output),
            waiter: Waiter::Mux(child),
        }
    }
}

/// Where to send the kill: the remote process group (learnt from the marker) or the local
/// exec process group.
#[derive(Clone, Default)]
pub struct KillHandle(Arc<(Mutex<Slot>, Notify)>);

/// What a [`KillHandle`] knows.
#[derive(Clone, Copy, Default)]
enum Slot {
    /// Nothing yet: a marker may be on its way.
    #[default]
    Unknown,
    /// This process group.
    Pid(u32),
    /// No process group will come: the work runs in a channel that ends when it is dropped
    /// (a subsystem, such as sftp).
    Nothing,
}

impl KillHandle {
    /// Records the process group to kill.
    pub fn set(&self, pid: u32) {
        self.put(Slot::Pid(pid));
    }

    /// Says that there is no process to kill on the host: the work runs in a channel that
    /// ends when it is dropped ([`Connection::spawn_subsystem`]). A timeout or an interrupt
    /// then stops at once, instead of waiting for a pid marker that never comes.
    pub fn nothing_to_kill(&self) {
        self.put(Slot::Nothing);
    }

    fn put(&self, slot: Slot) {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner()) = slot;
        self.0 .1.notify_one();
    }

    /// Takes the pid marker when `line` (the first line of an ssh command's stderr, without
    /// its newline) is one, and says whether it was: the marker is for killing, not for the
    /// user.
    pub fn take_marker(&self, line: &[u8]) -> bool {
        let pid = line
            .strip_prefix(PID_MARKER)
            .and_then(|pid| std::str::from_utf8(pid).ok())
            .and_then(|pid| pid.trim().parse().ok());
        match pid {
            Some(pid) => {
                self.set(pid);
                true
            }
            None => false,
        }
    }

    fn slot(&self) -> Slot {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> Option<u32> {
        match self.slot() {
            Slot::Pid(pid) => Some(pid),
            Slot::Unknown | Slot::Nothing => None,
        }
    }

    /// Resolves once the process group is known, or that there is none. The marker travels
    /// on stderr, which may lag behind stdout, so a kill decided from stdout must wait for it.
    pub async fn known(&self) {
        while let Slot::Unknown = self.slot() {
            self.0 .1.notified().await;
        }
    }
}

impl RemoteProcess {
    /// Waits for the command and returns its exit status; a command killed by a signal is
    /// [`HostError::Killed`], which the tools count as 255, as ssh does.
    pub async fn wait(self) -> Result<i32, HostError> {
        match self.waiter {
            Waiter::Mux(child) => {
                let session = child.session();
                match child.wait().await {
                    Ok(status) => Ok(status.code().unwrap_or(255)),
                    // openssh turns exit status 127 into this error; for a shell command it
                    // is a status like any other (`command not found`), which ssh and pdsh -S
                    // pass on.
                    Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok(127)
                    }
                    // No exit status: the command was killed by a signal, or the connection
                    // to the host is gone. The mux protocol cannot tell them apart; the master
                    // can, as it exits with its connection.
                    Err(openssh::Error::RemoteProcessTerminated) => match session.check().await {
                        Ok(()) => Err(HostError::Killed(None)),
                        Err(_) => Err(HostError::Other(CONNECTION_LOST.into())),
                    },
                    Err(e) => Err(HostError::Other(format!("ssh channel failed: {e}"))),
                }
            }
            Waiter::Local(mut child) => match child.wait().await {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    status.code().ok_or(HostError::Killed(status.signal()))
                }
                Err(e) => Err(HostError::Other(format!("wait failed: {e}"))),
            },
        }
    }
}

impl Connection {
    /// Whether a command started here prints the pid marker as its first stderr line: over
    /// ssh it does; a local exec process is killed by its own process group and prints none.
    pub(crate) fn marks_pid(&self) -> bool {
        matches!(self.kind, Kind::Mux { .. })
    }

    /// Starts `command` (a shell command line, as ssh takes it) on the host. With `stdin`
    /// false the command reads /dev/null. An agent's channel, which carries bulk data, is
    /// started with [`Connection::spawn_bulk`] instead.
    pub async fn spawn(
        &self,
        command: &str,
        stdin: bool,
        kill: &KillHandle,
    ) -> Result<RemoteProcess, HostError> {
        self.start(command, stdin, kill, false).await
    }

    async fn start(
        &self,
        command: &str,
        stdin: bool,
        kill: &KillHandle,
        wide: bool,
    ) -> Result<RemoteProcess, HostError> {
        match &self.kind {
            Kind::Mux { session, .. } => {
                let line = format!("printf '\\036prtools-pid %d\\n' \"$$\" >&2; {command}");
                let mut cmd = Session::to_raw_command(session.clone(), line);
                cmd.stdin(if stdin {
                    SshStdio::piped()
                } else {
                    SshStdio::null()
                })
                .stdout(SshStdio::piped())
                .stderr(SshStdio::piped());
                let child = cmd
                    .spawn()
                    .await
                    .map_err(|e| HostError::Other(format!("cannot start command: {e}")))?;
                Ok(RemoteProcess::of_channel(child, wide))
            }
            Kind::Exec {
                template,
                user,
                append,
            } => {
                let argv = exec_argv(
                    &self.target,
                    template,
                    user,
                    if *append { command } else { "" },
                );
                let Some((program, args)) = argv.split_first() else {
                    return Err(HostError::Other(
                        "empty exec command; give one, as in -R exec ssh %h CMD".into(),
                    ));
                };
                let mut cmd = Command::new(program);
                cmd.args(args)
                    .stdin(if stdin {
                        std::process::Stdio::piped()
                    } else {
                        std::process::Stdio::null()
                    })
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .process_group(0)
                    .kill_on_drop(true);
                let mut child = cmd
                    .spawn()
                    .map_err(|e| HostError::Other(format!("cannot run '{program}': {e}")))?;
                if let Some(pid) = child.id() {
                    kill.set(pid);
                }
                Ok(RemoteProcess {
                    stdin: child.stdin.take().map(|s| Box::new(s) as Input),
                    stdout: child.stdout.take().map(|s| Box::new(s) as Output),
                    stderr: child.stderr.take().map(|s| Box::new(s) as Output),
                    waiter: Waiter::Local(child),
                })
            }
        }
    }

    /// Starts the ssh subsystem `name` (`sftp`) on the host, its stdin and stdout piped, its
    /// stderr dropped. A subsystem runs no shell, so there is no pid marker and no process
    /// group: dropping the channel ends it (see [`KillHandle::nothing_to_kill`]). Only over
    /// ssh: a `-R exec` command has no subsystems.
    pub async fn spawn_subsystem(&self, name: &str) -> Result<RemoteProcess, HostError> {
        let Kind::Mux { session, .. } = &self.kind else {
            return Err(HostError::Other(format!(
                "the {name} subsystem needs ssh; drop -R exec"
            )));
        };
        let mut cmd = Session::to_subsystem(session.clone(), name);
        cmd.stdin(SshStdio::piped())
            .stdout(SshStdio::piped())
            .stderr(SshStdio::null());
        let child = cmd
            .spawn()
            .await
            .map_err(|e| HostError::Other(format!("cannot start the {name} subsystem: {e}")))?;
        Ok(RemoteProcess::of_channel(child, true))
    }

    /// [`Connection::spawn`] for a channel that carries bulk data (an agent's): its pipes to
    /// the ssh master are widened (see [`crate::widen_pipe`]). Only there: a command's output
    /// gains nothing from it.
    pub async fn spawn_bulk(
        &self,
        command: &str,
        kill: &KillHandle,
    ) -> Result<RemoteProcess, HostError> {
        self.start(command, true, kill, true).await
    }

    /// Awaits a host's `work`, or kills its remote command (by `kill`) when `timeout`
    /// passes or the run is to be killed (see [`Interrupt`](crate::Interrupt)), and says why.
    /// The one bound every agent-driving tool puts on a host.
    pub async fn bounded<T>(
        &self,
        kill: &KillHandle,
        timeout: Option<Duration>,
        interrupt: &mut crate::Interrupt,
        work: impl std::future::Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        let limit = timeout.unwrap_or(Duration::MAX);
        let why = tokio::select! {
            done = work => return done,
            _ = tokio::time::sleep(limit) => HostError::CommandTimeout(limit),
            _ = interrupt.wait() => HostError::Interrupted,
        };
        self.stop(kill).await;
        Err(why)
    }

    /// Kills a command whose pid marker may still be on its way on stderr: waits for it a
    /// few seconds at most (a command that never printed one was never started), then
    /// [`kill`](Connection::kill)s. For agents, whose stderr is read by
    /// [`read_agent_stderr`].
    pub async fn stop(&self, handle: &KillHandle) {
        let _ = tokio::time::timeout(MARKER_WAIT, handle.known()).await;
        self.kill(handle).await;
    }

    /// Kills the command's process group on the host: SIGTERM, then SIGKILL after a grace
    /// period, and returns when it is gone (or the host cannot be reached).
    pub async fn kill(&self, handle: &KillHandle) {
        let Some(pid) = handle.get() else { return };
        match &self.kind {
            Kind::Mux { session, .. } => {
                let script = format!(
                    "kill -TERM -- -{pid} 2>/dev/null; i=0; \
                     while kill -0 -- -{pid} 2>/dev/null && [ $i -lt {KILL_GRACE_TENTHS} ]; \
                     do sleep 0.1; i=$((i+1)); done; kill -KILL -- -{pid} 2>/dev/null; true"
                );
                let mut cmd = Session::to_raw_command(session.clone(), script);
                cmd.stdin(SshStdio::null())
                    .stdout(SshStdio::null())
                    .stderr(SshStdio::null());
                let bound = Duration::from_millis(100 * u64::from(KILL_GRACE_TENTHS) + 5000);
                let _ = tokio::time::timeout(bound, cmd.status()).await;
            }
            Kind::Exec { .. } => kill_local_group(pid).await,
        }
    }
}

/// How long [`Connection::stop`] waits for the pid marker.
const MARKER_WAIT: Duration = Duration::from_secs(5);

/// Reads an agent's stderr to its end: the pid marker of the first line goes to `kill` at
/// once (a timeout or a Ctrl-C needs it while the agent runs), the rest is returned.
pub async fn read_agent_stderr(err: Output, kill: &KillHandle) -> Vec<u8> {
    let mut reader = tokio::io::BufReader::new(err);
    let mut text = Vec::new();
    let _ = reader.read_until(b'\n', &mut text).await;
    if kill.take_marker(text.strip_suffix(b"\n").unwrap_or(&text)) {
        text.clear();
    }
    let _ = reader.read_to_end(&mut text).await;
    text
}

async fn kill_local_group(pid: u32) {
    let Ok(pgid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals a process group; it has no memory effects.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    for _ in 0..KILL_GRACE_TENTHS {
        // SAFETY: signal 0 only checks that the group still exists.
        if unsafe { libc::kill(-pgid, 0) } != 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// The argv of an exec transport: the template with `%h`, `%u`, `%n` and `%%` replaced,
/// and the command appended as one argument when there is one.
pub(crate) fn exec_argv(
    target: &Target,
    template: &[String],
    user: &str,
    command: &str,
) -> Vec<String> {
    let rank = target.rank.to_string();
    // pdsh's rule: `-l%u` only when the remote user is not the local one.
    let local = crate::connect::local_user();
    let mut argv: Vec<String> = template
        .iter()
        .filter(|word| !(*word == "-l%u" && user == local))
        .map(|word| expand_template(word, &target.spec.host, user, &rank))
        .collect();
    if !command.is_empty() {
        argv.push(command.to_string());
    }
    argv
}

/// One word of a `-R exec` template with pdsh's escapes replaced in one pass: `%h` host, `%u`
/// user, `%n` rank and `%%` a `%`. A value is never read for escapes again, so a `%` in a
/// host name stays as it is; any other `%` is kept.
fn expand_template(word: &str, host: &str, user: &str, rank: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let rest = chars.clone().next();
        let value = match rest {
            Some('h') => host,
            Some('u') => user,
            Some('n') => rank,
            Some('%') => "%",
            _ => {
                out.push('%');
                continue;
            }
        };
        out.push_str(value);
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand_template;

    #[test]
    fn template_escapes_as_pdsh() {
        let expand = |word| expand_template(word, "node1", "root", "3");
        assert_eq!(expand("%u@%h#%n"), "root@node1#3");
        assert_eq!(expand("100%%"), "100%");
        assert_eq!(expand("%%h"), "%h");
        assert_eq!(expand("%x %"), "%x %");
        assert_eq!(expand_template("%h", "a%u", "root", "0"), "a%u");
    }
}
