//! The two halves of a transfer across the agent link: [`RemoteSender`] stands in for the
//! sender on the receiving side, and [`serve_sender`] answers it on the sending side. The
//! receiver cannot tell a remote sender from a local one.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::rc::Rc;

use std::ops::Range;
use std::sync::Arc;

use prtools_delta::{Signature, SignatureOptions};
use prtools_transport::Progress;

use super::wire::{unzip, DataWriter, Link, Msg, Shape};
use crate::flist::FileEntry;
use crate::sender::{Prefetch, Sender, Sent};

/// A link shared by the sender stand-in and the receiver's output in one agent.
pub type Shared<R, W> = Rc<RefCell<Link<R, W>>>;

/// At most this many whole files asked for ahead of the receiver.
const AHEAD_FILES: usize = 64;

/// At most this many bytes of files asked for ahead, or arrived and not yet taken.
const AHEAD_BYTES: u64 = 4 << 20;

/// Asks sent together: a quarter of the window, so that the sender has work queued while
/// this side takes the answers it has.
const SEND_ASKS: usize = AHEAD_FILES / 4;

/// The sender on the other end of a link.
///
/// Files the receiver said it will want ([`Sender::prefetch`]) are asked for a window at a
/// time, so that their answers stream back while earlier ones are written; answers arrive in
/// the order asked, and one that comes before it is taken waits in memory (bounded by the
/// window). Any other request first takes in the answers still on their way.
pub struct RemoteSender<R: Read, W: Write> {
    list: Vec<FileEntry>,
    link: Shared<R, W>,
    /// Set once the sender has said it offers no signatures, so it is not asked again.
    no_signatures: bool,
    /// What to ask for ahead, in order.
    queue: VecDeque<(usize, Prefetch)>,
    /// Signatures asked for ahead and read, not yet taken.
    ready_signatures: HashMap<usize, io::Result<Option<Arc<Signature>>>>,
    /// The signatures the deltas asked for ahead were asked against.
    asked_against: HashMap<usize, Vec<u8>>,
    /// Asked for, answer not read yet: file data, or a signature (`true`).
    asked: VecDeque<(usize, bool)>,
    /// Answers read before they were taken.
    ready: HashMap<usize, io::Result<(Vec<u8>, Sent)>>,
    /// Bytes of the files asked for or waiting.
    ahead_bytes: u64,
    /// Asks written since [`RemoteSender::top_up`] last sent them.
    unsent: usize,
}

impl<R: Read, W: Write> RemoteSender<R, W> {
    /// A sender whose file list has arrived.
    pub fn new(list: Vec<FileEntry>, link: Shared<R, W>) -> Self {
        RemoteSender {
            list,
            link,
            no_signatures: false,
            queue: VecDeque::new(),
            asked_against: HashMap::new(),
            ready_signatures: HashMap::new(),
            asked: VecDeque::new(),
            ready: HashMap::new(),
            ahead_bytes: 0,
            unsent: 0,
        }
    }

    /// Asks for queued files while the window has room. The link sends what is written
    /// only before it waits (see [`Link::receive`]), which would leave the sender idle
    /// while this side takes the answers it already has; a batch of new asks goes out at
    /// once.
    fn top_up(&mut self) -> io::Result<()> {
        while self.asked.len() < AHEAD_FILES && self.ahead_bytes < AHEAD_BYTES {
            let Some((index, what)) = self.queue.pop_front() else {
                break;
            };
            match what {
                Prefetch::Whole => self.ask(index, None)?,
                Prefetch::Delta(signature) => self.ask(index, Some(signature))?,
                Prefetch::Signature(block_size) => self.ask_signature(index, block_size)?,
            }
        }
        if self.unsent >= SEND_ASKS {
            self.link.borrow_mut().flush()?;
            self.unsent = 0;
        }
        Ok(())
    }

    fn ask(&mut self, index: usize, signature: Option<Vec<u8>>) -> io::Result<()> {
        self.link.borrow_mut().send(&Msg::Want {
            index: index as u32,
            signature: signature.clone(),
        })?;
        if let Some(signature) = signature {
            self.asked_against.insert(index, signature);
        }
        self.ahead_bytes += self.list[index].size();
        self.asked.push_back((index, false));
        self.unsent += 1;
        Ok(())
    }

    fn ask_signature(&mut self, index: usize, block_size: Option<u32>) -> io::Result<()> {
        self.link.borrow_mut().send(&Msg::WantSignature {
            index: index as u32,
            block_size,
        })?;
        self.asked.push_back((index, true));
        self.unsent += 1;
        Ok(())
    }

    /// Whether file data (`signature` false) or a signature of `index` is on its way.
    fn on_its_way(&self, index: usize, signature: bool) -> bool {
        self.asked.contains(&(index, signature))
    }

    /// Reads the next answer on its way into `ready` (or `ready_signatures`).
    fn read_one(&mut self) -> io::Result<()> {
        let Some((index, signature)) = self.asked.pop_front() else {
            return Ok(());
        };
        if signature {
            let answer = self.read_signature()?;
            self.ready_signatures.insert(index, answer);
            return Ok(());
        }
        let mut data = Vec::new();
        let answer = receive_data(&mut self.link.borrow_mut(), &mut data)?.map(|sent| (data, sent));
        self.ready.insert(index, answer);
        Ok(())
    }

    /// Reads one signature answer. The outer error is the link's; the inner one is the
    /// file's (the sender could not read it). A sender that offers none is not asked again.
    fn read_signature(&mut self) -> io::Result<io::Result<Option<Arc<Signature>>>> {
        match self.link.borrow_mut().receive()? {
            Msg::Signature(Some(bytes)) => Ok(Signature::from_bytes(&bytes)
                .map(|s| Some(Arc::new(s)))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))),
            Msg::Signature(None) => {
                self.no_signatures = true;
                Ok(Ok(None))
            }
            Msg::Failed(why) => Ok(Err(io::Error::other(why))),
            other => Err(unexpected("a signature", &other)),
        }
    }

    /// Takes in every answer still on its way, before a request of another kind.
    fn settle(&mut self) -> io::Result<()> {
        while !self.asked.is_empty() {
            self.read_one()?;
        }
        Ok(())
    }

    /// The whole file `index`, asked for ahead or now. Its answer streams straight to `out`
    /// unless it had to be read early.
    fn take(&mut self, index: usize, out: &mut dyn Write) -> io::Result<Sent> {
        let size = self.list[index].size();
        if let Some(answer) = self.ready.remove(&index) {
            self.ahead_bytes = self.ahead_bytes.saturating_sub(size);
            self.top_up()?;
            let (data, sent) = answer?;
            out.write_all(&data)?;
            return Ok(sent);
        }
        if !self.on_its_way(index, false) {
            self.queue
                .retain(|(q, what)| *q != index || matches!(what, Prefetch::Signature(_)));
            self.settle()?;
            self.ask(index, None)?;
        }
        while self.asked.front() != Some(&(index, false)) {
            self.read_one()?;
        }
        self.asked.pop_front();
        let sent = receive_data(&mut self.link.borrow_mut(), out)?;
        self.ahead_bytes = self.ahead_bytes.saturating_sub(size);
        self.top_up()?;
        sent
    }

    /// Sends a request answered with file data (a delta, or ranges) once the answers still
    /// on their way are in, and streams its answer to `out`.
    fn request_data(&mut self, request: &Msg, out: &mut dyn Write) -> io::Result<Sent> {
        self.settle()?;
        let sent = {
            let mut link = self.link.borrow_mut();
            link.send(request)?;
            receive_data(&mut link, out)?
        };
        self.top_up()?;
        sent
    }

    /// Reads the answers to files asked for and never taken, so that the sender is not left
    /// writing to a link nobody reads; call before ending the job.
    pub fn finish(&mut self) -> io::Result<()> {
        self.queue.clear();
        self.settle()?;
        self.ready.clear();
        self.ready_signatures.clear();
        Ok(())
    }
}

/// Reads one file's answer to its end, writing its data to `out`. The outer error is the
/// link's (it cannot go on); the inner one is this file's: the sender could not read it, or
/// `out` could not take it. Either way the whole answer has been read, so the link stays in
/// step for the next file.
fn receive_data<R: Read, W: Write>(
    link: &mut Link<R, W>,
    out: &mut dyn Write,
) -> io::Result<io::Result<Sent>> {
    let mut failed = None;
    let mut write = |bytes: &[u8]| {
        if failed.is_none() {
            failed = out.write_all(bytes).err();
        }
    };
    loop {
        match link.receive()? {
            Msg::Data(bytes) => write(&bytes),
            Msg::Zdata(bytes) => write(&unzip(&bytes)?),
            Msg::Sent {
                literal,
                matched,
                wire,
                search: (matches, hash_hits, false_alarms),
            } => {
                return Ok(match failed {
                    Some(e) => Err(e),
                    None => Ok(Sent {
                        literal,
                        matched,
                        wire,
                        search: prtools_delta::SearchStats {
                            matches,
                            hash_hits,
                            false_alarms,
                        },
                    }),
                })
            }
            Msg::Failed(why) => return Ok(Err(io::Error::other(why))),
            other => return Err(unexpected("file data", &other)),
        }
    }
}

impl<R: Read, W: Write> Sender for RemoteSender<R, W> {
    fn file_list(&self) -> &[FileEntry] {
        &self.list
    }

    fn send(
        &mut self,
        index: usize,
        basis: Option<&Signature>,
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        let ahead = self.asked_against.remove(&index);
        let asked = self.ready.contains_key(&index) || self.on_its_way(index, false);
        match basis {
            // A whole file, or a delta asked for ahead against this very signature.
            None if ahead.is_none() => self.take(index, out),
            Some(basis) if asked && ahead.is_some_and(|a| a == basis.to_bytes()) => {
                self.take(index, out)
            }
            _ if asked => {
                // Asked ahead for another kind: that answer is read and dropped.
                self.take(index, &mut io::sink())?;
                self.send(index, basis, out)
            }
            None => self.take(index, out),
            Some(basis) => self.request_data(
                &Msg::Want {
                    index: index as u32,
                    signature: Some(basis.to_bytes()),
                },
                out,
            ),
        }
    }

    fn takes_deltas_ahead(&mut self, probe: usize, options: &SignatureOptions) -> bool {
        match self.signature(probe, options) {
            Ok(None) => true,
            // Kept for the receiver's own ask.
            answer => {
                self.ready_signatures.insert(probe, answer);
                false
            }
        }
    }

    fn prefetch(&mut self, wanted: Vec<(usize, Prefetch)>) {
        self.queue = wanted
            .into_iter()
            .filter(|(i, _)| *i < self.list.len())
            .collect();
        // An error here shows again on the first real request.
        let _ = self.top_up();
    }

    fn signature(
        &mut self,
        index: usize,
        options: &SignatureOptions,
    ) -> io::Result<Option<Arc<Signature>>> {
        if let Some(answer) = self.ready_signatures.remove(&index) {
            self.top_up()?;
            return answer;
        }
        if self.on_its_way(index, true) {
            while self.asked.front() != Some(&(index, true)) {
                self.read_one()?;
            }
            self.asked.pop_front();
            let answer = self.read_signature()?;
            self.top_up()?;
            return answer;
        }
        if self.no_signatures {
            return Ok(None);
        }
        self.settle()?;
        self.link.borrow_mut().send(&Msg::WantSignature {
            index: index as u32,
            block_size: options.block_size,
        })?;
        self.read_signature()?
    }

    fn send_ranges(
        &mut self,
        index: usize,
        ranges: &[Range<u64>],
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        self.request_data(
            &Msg::WantRanges {
                index: index as u32,
                ranges: ranges.iter().map(|r| (r.start, r.end)).collect(),
            },
            out,
        )
    }
}

/// What the receiver prints, sent to the other end as `Out` messages.
pub struct OutWriter<R: Read, W: Write> {
    /// The link to the client.
    pub link: Shared<R, W>,
}

impl<R: Read, W: Write> Write for OutWriter<R, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.link.borrow_mut().send(&Msg::Out(bytes.to_vec()))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Answers `Want`s with `sender`'s data until `Finish` (or, for a pushing client, `Done`,
/// which is returned).
pub fn serve_sender<R: Read, W: Write>(
    sender: &mut dyn Sender,
    link: &mut Link<R, W>,
    shape: Shape,
    progress: &Progress,
    mut on_out: impl FnMut(&[u8]),
) -> io::Result<Option<i32>> {
    loop {
        match link.receive()? {
            Msg::Want { index, signature } => {
                let index = index as usize;
                if index >= sender.file_list().len() {
                    return Err(unexpected(
                        "a file-list index",
                        &Msg::Want {
                            index: index as u32,
                            signature: None,
                        },
                    ));
                }
                let signature = match signature.map(|s| Signature::from_bytes(&s)) {
                    Some(Ok(s)) => Some(s),
                    Some(Err(e)) => {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                    }
                    None => None,
                };
                let size = sender.file_list()[index].size();
                progress.add_total(size);
                let sent = {
                    let mut data = DataWriter::new(link, shape, progress);
                    let sent = sender.send(index, signature.as_ref(), &mut data);
                    data.flush()?;
                    // A delta is smaller than the file it makes: the rest counts as done.
                    progress.moved(size.saturating_sub(data.moved));
                    sent
                };
                match sent {
                    Ok(sent) => link.send(&Msg::from(sent))?,
                    Err(e) => link.send(&Msg::Failed(e.to_string()))?,
                }
            }
            Msg::WantSignature { index, block_size } => {
                check_index(sender, index)?;
                let options = SignatureOptions {
                    block_size,
                    strong_len: None,
                };
                match sender.signature(index as usize, &options) {
                    Ok(sig) => link.send(&Msg::Signature(sig.map(|s| s.to_bytes())))?,
                    Err(e) => link.send(&Msg::Failed(e.to_string()))?,
                }
            }
            Msg::WantRanges { index, ranges } => {
                check_index(sender, index)?;
                if ranges.iter().any(|&(start, end)| start > end) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "prsync protocol error: a range that ends before it starts",
                    ));
                }
                let ranges: Vec<Range<u64>> = ranges.into_iter().map(|(s, e)| s..e).collect();
                // Saturating: a hostile peer's ranges may add up past u64 (found by the
                // prsync_wire fuzz target); only the progress total depends on the sum.
                progress.add_total(
                    ranges
                        .iter()
                        .map(|r| r.end - r.start)
                        .fold(0, u64::saturating_add),
                );
                let sent = {
                    let mut data = DataWriter::new(link, shape, progress);
                    let sent = sender.send_ranges(index as usize, &ranges, &mut data);
                    data.flush()?;
                    sent
                };
                match sent {
                    Ok(sent) => link.send(&Msg::from(sent))?,
                    Err(e) => link.send(&Msg::Failed(e.to_string()))?,
                }
            }
            Msg::Out(bytes) => on_out(&bytes),
            Msg::Finish => return Ok(None),
            Msg::Done(code) => return Ok(Some(code)),
            other => return Err(unexpected("a request for file data", &other)),
        }
    }
}

/// Refuses a file-list index the sender does not have.
fn check_index(sender: &dyn Sender, index: u32) -> io::Result<()> {
    if (index as usize) < sender.file_list().len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("prsync protocol error: no file {index} in the list"),
        ))
    }
}

/// A protocol error naming what was expected.
pub fn unexpected(expected: &str, got: &Msg) -> io::Error {
    let name = format!("{got:?}");
    let name = name
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("?")
        .to_string();
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("prsync protocol error: expected {expected}, got {name}"),
    )
}
