//! The remote shell running `rsync --server`, and its pipes as the session uses them.
//!
//! A thread drains the server's stdout into a channel, so that the server never blocks on
//! a full pipe while this side is busy writing a file's data (each side would wait for the
//! other); reads from the channel can be bounded in time. The server's stderr is held
//! until the handshake has worked: a host without rsync prints the shell's "command not
//! found", which prsync replaces with one line of its own.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prtools_rsync_wire::mux::{frame_data, write_message, Tag, DATA_FRAME};

/// How often a finished session looks whether the remote shell has exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// A running remote shell and the session's ends of its pipes.
pub struct Link {
    child: Child,
    /// The server's output.
    pub input: Incoming,
    /// The server's input.
    pub output: Outgoing,
    stderr: Arc<Mutex<Stderr>>,
    stderr_thread: Option<JoinHandle<()>>,
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
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Stderr::Holding(Vec::new())));
        let held = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
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
        });
        Ok(Link {
            child,
            input: Incoming {
                rx,
                chunk: Vec::new(),
                pos: 0,
                timeout: None,
            },
            output: Outgoing {
                stdin: Some(stdin),
                buf: Vec::new(),
                framed: false,
            },
            stderr,
            stderr_thread: Some(stderr_thread),
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
        let deadline = Instant::now() + grace;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(EXIT_POLL),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        // The remote shell is gone, so its stderr has ended (or soon will): what it said
        // is complete once the thread has read it all.
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
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

impl Drop for Link {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server's output, read from the draining thread's channel.
pub struct Incoming {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The longest a read waits for the server; None waits as long as the link is up.
    pub timeout: Option<Duration>,
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            let next = match self.timeout {
                Some(t) => self.rx.recv_timeout(t),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
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
