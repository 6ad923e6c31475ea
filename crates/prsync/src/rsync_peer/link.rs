//! The remote shell running `rsync --server`, and its pipes as the session uses them.
//!
//! A thread drains the server's stdout into a channel, so that the server never blocks on
//! a full pipe while this side is busy writing a file's data (each side would wait for the
//! other); reads from the channel can be bounded in time. Another thread waits for the
//! remote shell to exit and says so on the same channel: a pipe that something else holds
//! open (a persistent ssh master it started) then ends a moment later instead of never.
//! The server's stderr is held until the handshake has worked: a host without rsync
//! prints the shell's "command not found", which prsync replaces with one line of its own.
//!
//! The remote shell is either an ssh process started here ([`Link::start`], a run of one
//! host) or a channel of the host's connection in the transport ([`Link::over`], a host of
//! a run of many, where the connection, the fan-out and the timeouts are the agent path's).

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prtools_rsync_wire::mux::{header, write_message, Tag, DATA_FRAME};
use prtools_transport::{KillHandle, RemoteProcess};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::Voice;

/// How long output is still awaited once the remote shell has exited.
const AFTER_EXIT: Duration = Duration::from_secs(2);
/// How long the rest of the remote shell's stderr is awaited once it has exited: a
/// persistent ssh master (ControlPersist) it started may hold the pipe open for good.
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// A running remote shell and the session's ends of its pipes.
pub struct Link {
    /// A local ssh process to kill, or None for a channel, which the caller stops.
    pid: Option<i32>,
    /// The remote shell's exit status, once the waiting thread has it.
    exit: Receiver<i32>,
    status: Option<i32>,
    /// The server's output.
    pub input: Incoming,
    /// The server's input.
    pub output: Outgoing,
    stderr: Arc<Mutex<Stderr>>,
    /// Says when the stderr thread has read to the end.
    stderr_done: Receiver<()>,
    voice: Arc<dyn Voice>,
}

/// The server's stderr: held until [`Link::release_stderr`], then passed on as it comes.
enum Stderr {
    Holding(Vec<u8>),
    Passing,
}

/// Takes `bytes` of the server's stderr: held, or said.
fn heard(state: &Mutex<Stderr>, voice: &dyn Voice, bytes: &[u8]) {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    match &mut *state {
        Stderr::Holding(held) => held.extend_from_slice(bytes),
        Stderr::Passing => voice.err(bytes),
    }
}

impl Link {
    /// Runs `rsync --server` in `process`, a channel of a host's connection, from inside the
    /// runtime that drives it; the session then runs on a blocking thread of that runtime.
    /// Its stderr starts with the pid marker, which goes to `kill`.
    pub fn over(mut process: RemoteProcess, kill: KillHandle, voice: Arc<dyn Voice>) -> Link {
        let handle = tokio::runtime::Handle::current();
        let stdin = process.stdin.take();
        let stdout = process.stdout.take();
        let err = process.stderr.take();
        let (tx, rx) = mpsc::channel();
        let exited_tx = tx.clone();
        let drained = stdout.map(|mut stdout| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match stdout.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
        });
        let stderr = Arc::new(Mutex::new(Stderr::Holding(Vec::new())));
        let held = stderr.clone();
        let (done_tx, stderr_done) = mpsc::channel();
        let said = voice.clone();
        let heard_all = tokio::spawn(async move {
            if let Some(err) = err {
                let mut reader = tokio::io::BufReader::new(err);
                let mut first = Vec::new();
                let _ = reader.read_until(b'\n', &mut first).await;
                if !kill.take_marker(first.strip_suffix(b"\n").unwrap_or(&first)) {
                    heard(&held, &*said, &first);
                }
                let mut buf = vec![0u8; 8 * 1024];
                while let Ok(n) = reader.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    heard(&held, &*said, &buf[..n]);
                }
            }
            let _ = done_tx.send(());
        });
        let (exit_tx, exit) = mpsc::channel();
        tokio::spawn(async move {
            // The exit status is read only once the output has ended. The ssh master can
            // pass it on before it has written the last of the output to the pipes, and
            // reading it drops the channel's session, on which the master drops what it has
            // not written yet: the server's last frames would be lost, as if it had stopped.
            if let Some(drained) = drained {
                let _ = drained.await;
            }
            let _ = heard_all.await;
            if let Ok(code) = process.wait().await {
                let _ = exit_tx.send(code);
            }
            let _ = exited_tx.send(Chunk::Exited);
        });
        let stdin = stdin.map(|inner| {
            Box::new(ChannelWrite {
                inner,
                handle: handle.clone(),
            }) as Box<dyn Write + Send>
        });
        let pipe = Pipe::new(stdin);
        Link {
            pid: None,
            exit,
            status: None,
            input: Incoming {
                rx,
                chunk: Vec::new(),
                pos: 0,
                timeout: None,
                exited: false,
                received: 0,
                out: pipe.clone(),
            },
            output: Outgoing { pipe },
            stderr,
            stderr_done,
            voice,
        }
    }

    /// Starts `argv` with its stdin, stdout and stderr piped here.
    pub fn start(argv: &[String], voice: Arc<dyn Voice>) -> io::Result<Link> {
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
                use std::os::unix::process::ExitStatusExt;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                let _ = exit_tx.send(code);
            }
            let _ = exited_tx.send(Chunk::Exited);
        });
        let stderr = Arc::new(Mutex::new(Stderr::Holding(Vec::new())));
        let held = stderr.clone();
        let (done_tx, stderr_done) = mpsc::channel();
        let said = voice.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 8 * 1024];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                heard(&held, &*said, &buf[..n]);
            }
            let _ = done_tx.send(());
        });
        let pipe = Pipe::new(Some(Box::new(stdin)));
        Ok(Link {
            pid: Some(pid),
            exit,
            status: None,
            input: Incoming {
                rx,
                chunk: Vec::new(),
                pos: 0,
                timeout: None,
                exited: false,
                received: 0,
                out: pipe.clone(),
            },
            output: Outgoing { pipe },
            stderr,
            stderr_done,
            voice,
        })
    }

    /// Prints what the server said on stderr so far, and from now on as it comes.
    pub fn release_stderr(&self) {
        let mut state = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if let Stderr::Holding(bytes) = &*state {
            self.voice.err(bytes);
        }
        *state = Stderr::Passing;
    }

    /// Ends the session: closes the server's input and waits up to `grace` for the remote
    /// shell to exit (then kills a local one; a channel's caller stops it). Its exit status,
    /// or None if it did not exit.
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
            self.voice.err(&held);
            Vec::new()
        };
        (status, held)
    }
}

impl Link {
    /// Kills the remote shell unless it has exited (a local one: a channel's caller stops
    /// it through the connection).
    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        let Some(pid) = self.pid else { return };
        match self.exit.try_recv() {
            Ok(status) => self.status = Some(status),
            Err(_) => {
                // SAFETY: kill(2) has no memory effects. The pid is our child's, whose
                // status has not come: not reaped, or reaped an instant ago, too soon for
                // the pid to be handed to another process.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
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
    /// Bytes of the server's output read so far: rsync's `total_read`.
    received: u64,
    /// What this side has gathered for the server: sent before a read waits, since the
    /// server may be waiting for it.
    out: Arc<Mutex<Pipe>>,
}

impl Incoming {
    /// The next chunk, or why there is none.
    fn next(&mut self) -> Result<Chunk, RecvTimeoutError> {
        match self.rx.try_recv() {
            Ok(chunk) => return Ok(chunk),
            Err(mpsc::TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        // Nothing has come: what is gathered goes now. A failure to send shows in the
        // next write, and the server's end in this read.
        let _ = lock(&self.out).flush();
        let wait = if self.exited {
            Some(AFTER_EXIT)
        } else {
            self.timeout
        };
        match wait {
            Some(t) => self.rx.recv_timeout(t),
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }
}

impl Incoming {
    /// Bytes read from the server so far, frame headers included, as rsync counts them.
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.next() {
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
        self.received += n as u64;
        Ok(n)
    }
}

fn lock(pipe: &Mutex<Pipe>) -> std::sync::MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server's input: raw during the handshake, data frames after [`Outgoing::frame`].
/// Writes are gathered until a frame's worth, a flush, or a read that has to wait for the
/// server (as rsync's own buffering does): a file per write would cost a system call per
/// small file and host.
pub struct Outgoing {
    pipe: Arc<Mutex<Pipe>>,
}

/// The server's stdin and what is gathered for it.
struct Pipe {
    stdin: Option<Box<dyn Write + Send>>,
    /// What is gathered, framed as it comes once the stream is framed: the frames go out as
    /// they stand, with no second copy into a framed buffer at each send (memmove, that copy
    /// and the gathering one, was 1.5 of this side's 3.2 CPU-s in a first copy to 16 hosts).
    buf: Vec<u8>,
    framed: bool,
    /// Where the header of the data frame being filled sits in `buf`, once framed.
    open: Option<usize>,
    /// Bytes written to the server so far: rsync's `total_written`.
    sent: u64,
    /// `--bwlimit`: what paces the writes.
    limit: Option<Bucket>,
}

/// `--bwlimit`'s pacing, as rsync's `sleep_for_bwlimit`: the bytes written count as a debt
/// that drains at the rate; once it stands for a tenth of a second or more, the writer
/// sleeps it off. Writes go in pieces of at most `piece` bytes, so that none is a burst.
struct Bucket {
    /// Bytes a second.
    rate: u64,
    piece: usize,
    /// Bytes written and not yet drained.
    debt: u64,
    prior: Option<Instant>,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate: rate.max(1),
            // rsync's bwlimit_writemax: an eighth of a second's worth, at least 512 bytes.
            piece: ((rate / 8) as usize).max(512),
            debt: 0,
            prior: None,
        }
    }

    /// Counts `n` bytes just written, and sleeps while they are over the rate.
    fn wrote(&mut self, n: usize) {
        let now = Instant::now();
        self.debt += n as u64;
        if let Some(prior) = self.prior {
            let drained = (now - prior).as_micros() as u64 * self.rate / 1_000_000;
            self.debt = self.debt.saturating_sub(drained);
        }
        let owed = Duration::from_micros(self.debt * 1_000_000 / self.rate);
        if owed < Duration::from_millis(100) {
            self.prior = Some(now);
            return;
        }
        std::thread::sleep(owed);
        let after = Instant::now();
        // What the sleep overshot is owed back, as rsync counts it.
        let slept = after - now;
        self.debt = owed.saturating_sub(slept).as_micros() as u64 * self.rate / 1_000_000;
        self.prior = Some(after);
    }
}

impl Pipe {
    fn new(stdin: Option<Box<dyn Write + Send>>) -> Arc<Mutex<Pipe>> {
        Arc::new(Mutex::new(Pipe {
            stdin,
            buf: Vec::new(),
            framed: false,
            open: None,
            sent: 0,
            limit: None,
        }))
    }

    fn stdin(&mut self) -> io::Result<&mut Box<dyn Write + Send>> {
        self.stdin
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the link is closed"))
    }

    fn send(&mut self) -> io::Result<()> {
        self.close_frame();
        if self.buf.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.buf);
        self.sent += bytes.len() as u64;
        let result = self.put(&bytes);
        // The buffer is kept for the next gathering.
        self.buf = bytes;
        self.buf.clear();
        result
    }

    /// Gathers `data`, in data frames once framed; sends each frame's worth as it fills.
    fn gather(&mut self, mut data: &[u8]) -> io::Result<()> {
        if !self.framed {
            self.buf.extend_from_slice(data);
            if self.buf.len() >= DATA_FRAME {
                self.send()?;
            }
            return Ok(());
        }
        while !data.is_empty() {
            let open = match self.open {
                Some(open) => open,
                None => {
                    self.buf.extend_from_slice(&[0; 4]);
                    *self.open.insert(self.buf.len() - 4)
                }
            };
            let filled = self.buf.len() - open - 4;
            let take = data.len().min(DATA_FRAME - filled);
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if filled + take == DATA_FRAME {
                self.send()?;
            }
        }
        Ok(())
    }

    /// Writes the header of the frame being filled, or drops it if nothing came.
    fn close_frame(&mut self) {
        if let Some(open) = self.open.take() {
            let len = self.buf.len() - open - 4;
            if len == 0 {
                self.buf.truncate(open);
            } else {
                self.buf[open..open + 4].copy_from_slice(&header(Tag::Data, len));
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.stdin()?.flush()
    }

    /// Writes `bytes` to the server, paced by `--bwlimit` when it is given.
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(piece) = self.limit.as_ref().map(|b| b.piece) else {
            return self.stdin()?.write_all(bytes);
        };
        for chunk in bytes.chunks(piece) {
            let stdin = self.stdin()?;
            stdin.write_all(chunk)?;
            stdin.flush()?;
            if let Some(bucket) = self.limit.as_mut() {
                bucket.wrote(chunk.len());
            }
        }
        Ok(())
    }
}

impl Outgoing {
    /// From now on, data goes in frames.
    pub fn frame(&mut self) {
        let mut pipe = lock(&self.pipe);
        pipe.framed = true;
        // What was gathered and not sent goes in the first frame, as it always did.
        if !pipe.buf.is_empty() {
            pipe.buf.splice(0..0, [0; 4]);
            pipe.open = Some(0);
        }
    }

    /// Sends a message frame, after the data written before it.
    pub fn message(&mut self, tag: Tag, body: &[u8]) -> io::Result<()> {
        let mut pipe = lock(&self.pipe);
        pipe.send()?;
        let mut out = Vec::new();
        write_message(&mut out, tag, body)?;
        pipe.sent += out.len() as u64;
        pipe.put(&out)
    }

    /// `--bwlimit`: from now on, writes are paced to `rate` bytes a second.
    pub fn limit(&mut self, rate: u64) {
        lock(&self.pipe).limit = Some(Bucket::new(rate));
    }

    /// Bytes written to the server so far (gathered ones not yet), frame headers included.
    pub fn sent(&self) -> u64 {
        lock(&self.pipe).sent
    }

    /// Closes the pipe (after sending what is gathered): the server sees the end.
    pub fn close(&mut self) {
        let mut pipe = lock(&self.pipe);
        let _ = pipe.send();
        pipe.stdin = None;
    }
}

impl Write for Outgoing {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        lock(&self.pipe).gather(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        lock(&self.pipe).flush()
    }
}

/// A channel's stdin written from a blocking thread, while the runtime's thread drives it.
struct ChannelWrite {
    inner: prtools_transport::RemoteInput,
    handle: tokio::runtime::Handle,
}

impl Write for ChannelWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handle.block_on(self.inner.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.handle.block_on(self.inner.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.handle.block_on(self.inner.flush())
    }
}
