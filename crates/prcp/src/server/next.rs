//! The link from one host of a relay chain to the next: the next host's agent, started with
//! the command the client chose (an `ssh` to that host), fed every frame this agent reads,
//! and a thread that carries its replies up, each tagged with how far down it came from.

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::{Scope, ScopedJoinHandle};

use prtools_transport::{read_frame_blocking, write_frame_blocking};

use super::Upstream;
use crate::protocol::{decode, message, Frame, Hop, Reply, BATCH};

/// The next host's agent, as long as the link to it holds.
pub(super) struct Next {
    child: Child,
    /// None once a write failed: the reply thread reports why, and this host goes on alone.
    stdin: Option<BufWriter<ChildStdin>>,
}

impl Next {
    /// Starts the next host's agent and the thread that passes its replies up.
    pub(super) fn start<'scope, W: Write + Send>(
        scope: &'scope Scope<'scope, '_>,
        hop: &Hop,
        upstream: &'scope Upstream<W>,
    ) -> Result<Next, String> {
        let (program, args) = hop
            .command
            .split_first()
            .ok_or_else(|| format!("no command to reach {}", hop.host))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {program} to reach {}: {e}", hop.host))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("all three were piped");
        };
        let errors = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let host = hop.host.clone();
        scope.spawn(move || pass_replies_up(stdout, errors, upstream, &host));
        Ok(Next {
            child,
            stdin: Some(BufWriter::with_capacity(BATCH, stdin)),
        })
    }

    /// Passes a frame on, as it came (header and payload).
    pub(super) fn pass(&mut self, frame: &[u8]) {
        if let Some(stdin) = &mut self.stdin {
            if stdin.write_all(frame).is_err() {
                self.stdin = None;
            }
        }
    }

    pub(super) fn flush(&mut self) {
        if let Some(stdin) = &mut self.stdin {
            if stdin.flush().is_err() {
                self.stdin = None;
            }
        }
    }

    /// Closes the link: the next host finishes what it was sent, or, with `abort` (the client
    /// is gone), is stopped at once. Returns once the command has exited.
    pub(super) fn close(mut self, abort: bool) {
        if abort {
            let _ = self.child.kill();
        } else {
            self.flush();
        }
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Copies the next host's replies to this agent's client, each as `Relayed` one hop further
/// away, then says that nothing more will come from there, and why.
fn pass_replies_up<W: Write>(
    stdout: ChildStdout,
    errors: ScopedJoinHandle<'_, String>,
    upstream: &Upstream<W>,
    host: &str,
) {
    let mut from = BufReader::with_capacity(64 * 1024, stdout);
    let mut why = None;
    loop {
        let payload = match read_frame_blocking(&mut from) {
            Ok(Some(payload)) => payload,
            Ok(None) => break,
            Err(e) => {
                why = Some(format!("reading from {host}: {e}"));
                break;
            }
        };
        let reply = match decode::<Reply>(payload) {
            Ok(Frame::Message(Reply::Relayed { hop, reply })) => Reply::Relayed {
                hop: hop.saturating_add(1),
                reply,
            },
            Ok(Frame::Message(reply)) => Reply::Relayed {
                hop: 1,
                reply: Box::new(reply),
            },
            Ok(Frame::Data(_)) | Err(_) => {
                why = Some(format!("{host} sent a malformed reply"));
                break;
            }
        };
        let mut out = upstream.lock().unwrap_or_else(|e| e.into_inner());
        if write_frame_blocking(&mut *out, &message(&reply)).is_err() {
            return;
        }
        if from.buffer().is_empty() && out.flush().is_err() {
            return;
        }
    }
    // Closing our end makes a next host that is still writing stop, so its stderr ends.
    drop(from);
    let stderr = errors.join().unwrap_or_default();
    let why = why
        .or_else(|| {
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| format!("{host}: {}", l.trim()))
        })
        .unwrap_or_else(|| format!("the connection to {host} closed"));
    let mut out = upstream.lock().unwrap_or_else(|e| e.into_inner());
    let _ = write_frame_blocking(&mut *out, &message(&Reply::NextGone(why)));
    let _ = out.flush();
}
