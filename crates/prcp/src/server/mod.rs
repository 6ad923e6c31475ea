//! The agent: `prcp --server`, run by prcp on the remote side, speaking frames on its stdin
//! and stdout. Blocking I/O and no runtime: it serves one client and one job, then exits.
//!
//! In a relay chain (`--relay`) the agent also starts the next host's agent and passes it
//! every frame it reads, before using the frame itself; a second thread carries the next
//! host's replies back up. Either way the job itself is the same push.

mod gather;
mod next;
mod push;

use std::ffi::OsString;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prtools_sync::RelPath;
use prtools_transport::{seal, write_frame_blocking, FrameBuf};

use crate::protocol::{
    decode_slice, message, Frame, Hop, PushHeader, Reply, Request, BATCH, PROTOCOL,
};

use next::Next;
use push::PushJob;

/// The agent's reply stream, shared with the thread that passes a relay chain's replies up.
type Upstream<W> = Mutex<BufWriter<W>>;

/// Serves one job from `input`, answering on `output`. An error has already been sent to the
/// client as `Fatal` when possible; it is returned so the agent exits non-zero.
pub fn serve<R: Read, W: Write + Send>(input: R, output: W) -> Result<(), String> {
    let output = Mutex::new(BufWriter::with_capacity(BATCH, output));
    std::thread::scope(|scope| {
        let mut link = Link {
            input: BufReader::with_capacity(BATCH, input),
            frames: FrameBuf::new(),
            output: &output,
            next: None,
            upstream_closed: false,
        };
        let result = match link.request() {
            Ok(Frame::Message(Request::Push(header))) => check_protocol(header.protocol)
                .and_then(|()| PushJob::new(&header, None).run(&mut link, &header)),
            Ok(Frame::Message(Request::Relay {
                header,
                rename,
                next,
            })) => match check_protocol(header.protocol) {
                Ok(()) => return relay(scope, &mut link, &header, rename, next),
                Err(e) => Err(e),
            },
            Ok(Frame::Message(Request::Gather {
                protocol,
                paths,
                recursive,
                links,
            })) => check_protocol(protocol)
                .and_then(|()| gather::gather(&mut link, paths, recursive, links)),
            Ok(_) => Err("agent: expected a push or a gather to start".into()),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            let _ = link.send(&Reply::Fatal(e.clone()));
            let _ = link.flush();
        }
        result
    })
}

/// One host of a relay chain: starts the next host's agent, serves the push here while
/// passing every frame on, and keeps passing frames on after a failure here, so that one
/// host's full disk does not cost the hosts behind it their copy.
fn relay<'scope, R: Read, W: Write + Send>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    link: &mut Link<'scope, R, W>,
    header: &PushHeader,
    rename: Option<Vec<u8>>,
    mut hops: Vec<Hop>,
) -> Result<(), String> {
    if !hops.is_empty() {
        let hop = hops.remove(0);
        let request = Request::Relay {
            header: header.clone(),
            rename: rename.clone(),
            next: hops,
        };
        match Next::start(scope, &hop, link.output) {
            Ok(mut next) => {
                let mut frame = Vec::new();
                let _ = write_frame_blocking(&mut frame, &message(&request));
                next.pass(&frame);
                link.next = Some(next);
            }
            Err(why) => link.send(&Reply::NextGone(why))?,
        }
    }
    let rename = match rename.map(RelPath::new) {
        Some(Ok(name)) => Some(name),
        Some(Err(e)) => return link.fail(format!("refused: {e}")),
        None => None,
    };
    let result = PushJob::new(header, Some(rename)).run(link, header);
    match result {
        Ok(()) => {
            link.close_next();
            Ok(())
        }
        Err(e) => link.fail(e),
    }
}

fn check_protocol(protocol: u32) -> Result<(), String> {
    if protocol == PROTOCOL {
        Ok(())
    } else {
        Err(format!(
            "agent speaks protocol {PROTOCOL}, client {protocol}: use the same prcp version on both sides"
        ))
    }
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

fn place(folder: &Path, rel: &RelPath, e: std::io::Error) -> String {
    let shown = folder.join(rel.as_path()).display().to_string();
    let text = e.to_string();
    // The sync crate's errors already start with the path; naming it twice read as
    // `/tmp/s3: /tmp/s3: exists and is not a directory`.
    if text.starts_with(&shown) {
        text
    } else {
        format!("{shown}: {text}")
    }
}

/// The agent's two ends, and in a relay chain the link to the next host.
struct Link<'a, R: Read, W: Write> {
    input: BufReader<R>,
    /// The frame last read.
    frames: FrameBuf,
    output: &'a Upstream<W>,
    next: Option<Next>,
    /// The client's end closed before `Finish`.
    upstream_closed: bool,
}

impl<R: Read, W: Write> Link<'_, R, W> {
    /// The next request. Everything written is flushed before a read that would block, so
    /// that neither the client nor the next host waits for bytes sitting in a buffer here.
    fn request(&mut self) -> Result<Frame<Request, &[u8]>, String> {
        if self.input.buffer().is_empty() {
            self.flush()?;
        }
        match self.frames.read_blocking(&mut self.input) {
            Ok(true) => {
                if let Some(next) = &mut self.next {
                    next.pass(self.frames.whole());
                }
                decode_slice(self.frames.payload())
            }
            Ok(false) => {
                self.upstream_closed = true;
                Err("client hung up".into())
            }
            Err(e) => {
                self.upstream_closed = true;
                Err(format!("reading from client: {e}"))
            }
        }
    }

    fn send(&mut self, reply: &Reply) -> Result<(), String> {
        let mut output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        write_frame_blocking(&mut *output, &message(reply))
            .map_err(|e| format!("writing to client: {e}"))
    }

    /// Sends a data frame built in a [`crate::protocol::data_buffer`], in one write.
    fn send_data(&mut self, frame: &mut [u8]) -> Result<(), String> {
        let frame = seal(frame).map_err(|e| e.to_string())?;
        let mut output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        output
            .write_all(frame)
            .map_err(|e| format!("writing to client: {e}"))
    }

    fn flush(&mut self) -> Result<(), String> {
        if let Some(next) = &mut self.next {
            next.flush();
        }
        let mut output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        output
            .flush()
            .map_err(|e| format!("writing to client: {e}"))
    }

    /// Reports a failure here, then goes on passing the client's frames to the next host
    /// until the client finishes, and returns the failure.
    fn fail(&mut self, why: String) -> Result<(), String> {
        let _ = self.send(&Reply::Fatal(why.clone()));
        if self.next.is_some() {
            while !self.upstream_closed {
                match self.request() {
                    Ok(Frame::Message(Request::Finish)) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        self.close_next();
        let _ = self.flush();
        Err(why)
    }

    /// Ends the link to the next host: it finishes what it was sent, or is stopped at once
    /// when the client is gone.
    fn close_next(&mut self) {
        let _ = self.flush();
        if let Some(next) = self.next.take() {
            next.close(self.upstream_closed);
        }
    }
}
