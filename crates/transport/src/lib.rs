//! The transport every multi-host prtools tool builds on: which hosts, how to reach them,
//! how many at once, for how long, and how their output comes back.
//!
//! # Connections and multiplexing
//!
//! ssh is OpenSSH itself. For each host, one master connection is started (`ssh -M -f -N`,
//! see [`connect`](crate::Connection::open)) and every command of the run is a channel
//! multiplexed over it through the `openssh` crate's native mux client: one TCP connection and
//! one authentication per host, however many commands a tool runs there. With `--persist`
//! (`ControlPersist`) the master outlives the run, and the next run finds its socket and skips
//! the handshake entirely; a socket whose master died is detected and replaced.
//!
//! # Fan-out and `MaxSessions`
//!
//! `-f N` bounds how many hosts are worked on at once (default 64), which bounds local
//! processes and file descriptors. It is not a per-host limit: sshd allows 10 sessions per
//! connection by default (`MaxSessions`), so a tool opens at most a few channels per host and
//! a remote agent multiplexes its own work inside one.
//!
//! Each host in flight also costs this process several file descriptors, so a wide fan-out
//! can pass the soft open-file limit (`ulimit -n`); [`fit_fanout`] raises it at startup, or
//! lowers the fan-out, with a notice, to what the hard limit allows.
//!
//! # Authentication
//!
//! `BatchMode=yes` is always set, so a host that would ask for a password or to accept an
//! unknown host key fails at once with a message that says what to do, instead of hanging
//! the run on a prompt nobody sees. Host key checking is whatever the user's ssh config says.
//!
//! # Quoting
//!
//! A command is a shell command line, exactly as `ssh host 'cmd'` takes it: the remote user's
//! shell parses it. Tools join their command words with spaces, as ssh and pdsh do.
//!
//! # Killing what was started
//!
//! A timed-out or interrupted command is killed on the host (its whole process group), see
//! [`process`](crate::RemoteProcess): closing a channel alone would leave it running.
//!
//! # The agent
//!
//! prcp, prsync and prdist run a copy of themselves on each host (`--server`) and speak a
//! framed binary protocol to it over one channel. [`frame`] reads and writes those frames,
//! with every length checked against [`frame::MAX_FRAME`] before anything is allocated.
//! [`start_agent`] (and [`ensure_agent`], for a start by path) finds the agent on a host or
//! uploads the running executable into `~/.cache/prtools/<version>-<machine>-<hash>/` (same
//! `uname -sm` only), checked by SHA-256 before it is ever run; an upload removes the tool's
//! other builds for that machine there. `--remote-path` names an installed one instead.
//! Where the agent cannot run (another machine, a noexec home, `--no-bootstrap`),
//! [`try_start_agent`] says so as [`CannotRun`] rather than as a failed host, and a tool may
//! go in another way: prcp speaks to the host's sftp server ([`Connection::spawn_subsystem`]).
#![deny(missing_docs)]

mod args;
mod bootstrap;
mod cipher;
mod config;
mod connect;
mod control;
mod duration;
mod error;
mod event;
mod fanout;
pub mod frame;
mod gather;
mod interrupt;
mod limits;
mod pdsh_ssh;
mod pipe;
mod process;
mod progress;
mod run;
mod stdin;
mod target;

pub use args::{one_line_error, ConnArgs, HostArgs, LongConnArgs, LongHostArgs};
pub use bootstrap::{
    ensure_agent, exec_failure, start_agent, try_ensure_agent, try_start_agent, AgentOptions,
    AgentStart, CannotRun, LocalAgent, Placement, StartedAgent,
};
pub use config::{pdsh_ssh_args, Config, Method};
pub use connect::{shell_argv, ssh_argv, Connection};
pub use control::default_control_dir;
pub use duration::parse_duration;
pub use error::HostError;
pub use event::{Event, Stream};
pub use fanout::{for_each_host, HostResult};
pub use frame::{
    read_frame, read_frame_blocking, seal, write_frame, write_frame_blocking, FrameBuf, MAX_FRAME,
};
pub use gather::{failure_lines, gather};
pub use interrupt::Interrupt;
pub use limits::fit_fanout;
pub use pdsh_ssh::pdsh_ssh_template;
pub use pipe::widen_pipe;
pub use process::{
    read_agent_stderr, Input as RemoteInput, KillHandle, Output as RemoteOutput, RemoteProcess,
};
pub use progress::Progress;
pub use run::{run_command, CommandSpec};
pub use stdin::StdinFeed;
pub use target::Target;
