//! The remote shell running `rsync --server`, and its pipes as the session uses them.
//!
//! A thread drains the server's stdout into a channel, so that the server never blocks on
//! a full pipe while this side is busy writing a file's data (each side would wait for the
//! other); reads from the channel can be bounded in time. Another thread waits for the
//! remote shell to exit and says so on the same channel: a pipe that something else holds
//! open (a persistent ssh master it started) then ends a moment later instead of never.
//! The server's stderr is held until the handshake has worked: a host without rsync
//! prints the shell's "command not found", which prsync replaces with one line of its own.

use std::io::{self, Read, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prtools_rsync_wire::mux::{frame_data, write_message, Tag, DATA_FRAME};

/// How long output is still awaited once the remote shell has exited.
const AFTER_EXIT: Duration = Duration::from_secs(2);
/// How long the rest of the remote shell's stderr is awaited once it has exited: a
/// persistent ssh master (ControlPersist) it started may hold the pipe open for good.
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// A running remote shell and the session's ends of its pipes.
pub struct Link {
    pid: i32,
    /// The remote shell's exit status, once the waiting thread has it.
    exit: Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    /// The server's output.
    pub input: Incoming,
    /// The server's input.
    pub output: Outgoing,
    stderr: Arc<Mutex<Stderr>>,
    /// Says when the stderr thread has read to the end.
    stderr_done: Receiver<()>,
}

/// The server's stderr: held until [`Link::release_stderr`], then passed on as it comes.
enum Stderr {
    Holding(Vec<u8>),
    Passing,
}

impl Link {
    /// Starts `argv` with its stdin, stdout and stderr piped here.
    pub fn start(argv: &[String]) -> io::Result<Link> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::other("no remote shell to run"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(mut stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the remote shell's pipes were not made"));
        };
        let (tx, rx) = mpsc::channel();
        let exited_tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let pid = child.id() as i32;
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
            let _ = exited_tx.send(Chunk::Exited);
        });
        let stderr = Arc::new(Mutex::new(Stderr::Holding(Vec::new())));
        let held = stderr.clone();
        let (done_tx, stderr_done) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8 * 1024];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut state = held.lock().unwrap_or_else(|e| e.into_inner());
                match &mut *state {
                    Stderr::Holding(bytes) => bytes.extend_from_slice(&buf[..n]),
                    Stderr::Passing => {
                        let _ = io::stderr().write_all(&buf[..n]);
                    }
                }
            }
            let _ = done_tx.send(());
        });
        Ok(Link {
            pid,
            exit,
            status: None,
            input: Incoming {
                rx,
                chunk: Vec::new(),
                pos: 0,
                timeout: None,
                exited: false,
            },
            output: Outgoing {
                stdin: Some(stdin),
                buf: Vec::new(),
                framed: false,
            },
            stderr,
            stderr_done,
        })
    }

    /// Prints what the server said on stderr so far, and from now on as it comes.
    pub fn release_stderr(&self) {
        let mut state = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if let Stderr::Holding(bytes) = &*state {
            let _ = io::stderr().write_all(bytes);
        }
        *state = Stderr::Passing;
    }

    /// Ends the session: closes the server's input and waits up to `grace` for the remote
    /// shell to exit (then kills it). Its exit status, or None if it had to be killed.
    /// What the server still said on stderr is printed (or, with `keep_stderr`, returned).
    pub fn finish(&mut self, grace: Duration, keep_stderr: bool) -> (Option<i32>, Vec<u8>) {
        self.output.close();
        let status = match self.exit.recv_timeout(grace) {
            Ok(status) => Some(status),
            Err(_) => {
                self.kill();
                let _ = self.exit.recv_timeout(AFTER_EXIT);
                None
            }
        };
        self.status = status;
        // The remote shell is gone, so its stderr has ended (or soon will): what it said
        // is complete once the thread has read it all.
        let _ = self.stderr_done.recv_timeout(STDERR_GRACE);
        let mut state = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let held = match std::mem::replace(&mut *state, Stderr::Passing) {
            Stderr::Holding(bytes) => bytes,
            Stderr::Passing => Vec::new(),
        };
        drop(state);
        let held = if keep_stderr {
            held
        } else {
            let _ = io::stderr().write_all(&held);
            Vec::new()
        };
        let code = status.map(|s| {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        });
        (code, held)
    }
}

impl Link {
    /// Kills the remote shell unless it has exited.
    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.exit.try_recv() {
            Ok(status) => self.status = Some(status),
            Err(_) => {
                // SAFETY: kill(2) has no memory effects. The pid is our child's, whose
                // status has not come: not reaped, or reaped an instant ago, too soon for
                // the pid to be handed to another process.
                unsafe {
                    libc::kill(self.pid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the draining threads send.
enum Chunk {
    /// Bytes of the server's output.
    Data(Vec<u8>),
    /// The remote shell has exited.
    Exited,
}

/// The server's output, read from the draining thread's channel.
pub struct Incoming {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
    /// The longest a read waits for the server; None waits as long as the link is up.
    pub timeout: Option<Duration>,
    /// The remote shell has exited: what it wrote is all here within [`AFTER_EXIT`].
    exited: bool,
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            let wait = if self.exited {
                Some(AFTER_EXIT)
            } else {
                self.timeout
            };
            let next = match wait {
                Some(t) => self.rx.recv_timeout(t),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(Chunk::Data(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Chunk::Exited) => self.exited = true,
                Err(RecvTimeoutError::Timeout) if self.exited => return Ok(0),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the remote rsync sent nothing in time",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The server's input: raw during the handshake, data frames after [`Outgoing::frame`].
/// Writes are gathered until a frame's worth or a flush.
pub struct Outgoing {
    stdin: Option<ChildStdin>,
    buf: Vec<u8>,
    framed: bool,
}

impl Outgoing {
    /// From now on, data goes in frames.
    pub fn frame(&mut self) {
        self.framed = true;
    }

    /// Sends a message frame, after the data written before it.
    pub fn message(&mut self, tag: Tag, body: &[u8]) -> io::Result<()> {
        self.send()?;
        let mut out = Vec::new();
        write_message(&mut out, tag, body)?;
        self.pipe()?.write_all(&out)
    }

    fn pipe(&mut self) -> io::Result<&mut ChildStdin> {
        self.stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the link is closed"))
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buf);
        if self.framed {
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / DATA_FRAME * 4 + 4);
            frame_data(&mut out, &bytes);
            self.pipe()?.write_all(&out)
        } else {
            self.pipe()?.write_all(&bytes)
        }
    }

    /// Closes the pipe (after sending what is gathered): the server sees the end.
    pub fn close(&mut self) {
        let _ = self.send();
        self.stdin = None;
    }
}

impl Write for Outgoing {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= DATA_FRAME {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.pipe()?.flush()
    }
}
