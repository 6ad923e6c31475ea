//! Running one command on one host, streaming its output lines as events.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::connect::Connection;
use crate::error::HostError;
use crate::event::{Event, Stream};
use crate::interrupt::Interrupt;
use crate::process::{KillHandle, Output};
use crate::stdin::StdinFeed;

/// Read buffer for each output pipe. Kept small because there are two per host and readers
/// may touch the whole buffer on every read; long lines still arrive whole, since lines are
/// assembled in a growing buffer of their own.
const READ_BUFFER: usize = 8 * 1024;

/// How long a kill waits for a command's pid marker that has not arrived yet.
const MARKER_WAIT: Duration = Duration::from_secs(5);

/// What to run, and with which bounds.
pub struct CommandSpec<'a> {
    /// The command line, run by the remote user's shell.
    pub command: &'a str,
    /// What to send to the command's stdin, as it arrives; None gives it /dev/null.
    pub stdin: Option<StdinFeed>,
    /// Kill the command after this long.
    pub timeout: Option<Duration>,
}

/// Runs `spec` on `conn`, sending each output line to `events` tagged with the host's rank,
/// and returns the exit status. A timeout or an interrupt kills the command on the host
/// before this returns.
pub async fn run_command(
    conn: &Connection,
    spec: &CommandSpec<'_>,
    events: &mpsc::UnboundedSender<Event>,
    mut interrupt: Interrupt,
) -> Result<i32, HostError> {
    let kill = KillHandle::default();
    let mut process = conn
        .spawn(spec.command, spec.stdin.is_some(), &kill)
        .await?;
    let host = conn.target().rank;
    let stdin = process.stdin.take();
    let stdout = process.stdout.take();
    let stderr = process.stderr.take();
    let feed = async {
        if let (Some(pipe), Some(input)) = (stdin, &spec.stdin) {
            input.copy_to(pipe).await;
        }
    };
    let work = async {
        let pumps = async {
            tokio::join!(
                pump(stdout, host, Stream::Stdout, events, None),
                pump(stderr, host, Stream::Stderr, events, Some(&kill)),
            )
        };
        tokio::pin!(pumps);
        // The output ends when the command does, which for a command that does not read its
        // input may be long before the input ends: then the input is dropped unsent.
        let (out, err) = tokio::select! {
            both = &mut pumps => both,
            () = feed => pumps.await,
        };
        out.and(err)
            .map_err(|e| HostError::Other(format!("reading output failed: {e}")))?;
        // Only now: once the exit status is collected the mux client hangs up, and the master
        // stops copying whatever output it still holds into our pipes (openssh-rust/openssh
        // issue 103). Reading to EOF first is what makes the output complete.
        process.wait().await
    };
    let timeout = async {
        match spec.timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(work);
    let failure = tokio::select! {
        status = &mut work => return status,
        _ = timeout => HostError::CommandTimeout(spec.timeout.unwrap_or_default()),
        _ = interrupt.wait() => HostError::Interrupted,
    };
    // The pid marker may still be on its way (stderr can lag behind stdout): keep reading
    // until it is known, the command ends by itself, or the wait is clearly hopeless.
    tokio::select! {
        _ = kill.known() => {}
        _ = &mut work => {}
        _ = tokio::time::sleep(MARKER_WAIT) => {}
    }
    conn.kill(&kill).await;
    Err(failure)
}

/// Forwards whole lines from `pipe`, each with its newline. On stderr of an ssh command, the first line is the pid
/// marker: it goes to `kill`, not to the user.
async fn pump(
    pipe: Option<Output>,
    host: usize,
    stream: Stream,
    events: &mpsc::UnboundedSender<Event>,
    kill: Option<&KillHandle>,
) -> std::io::Result<()> {
    let Some(pipe) = pipe else { return Ok(()) };
    let mut reader = BufReader::with_capacity(READ_BUFFER, pipe);
    let mut first = true;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if std::mem::take(&mut first) && kill.is_some_and(|k| k.take_marker(text)) {
            continue;
        }
        let _ = events.send(Event::Line {
            host,
            stream,
            bytes: line,
        });
    }
}
