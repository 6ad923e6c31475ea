//! The client side of one host: start the agent, then push or gather through it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use prtools_sync::{Entry, Kind, RelPath, Root};
use prtools_transport::{
    exec_failure, read_agent_stderr, read_frame, seal, try_start_agent, write_frame, AgentOptions,
    AgentStart, CannotRun, Connection, HostError, KillHandle, LocalAgent, Placement, RemoteProcess,
};
use tokio::io::AsyncWriteExt;

use crate::plan::PushPlan;
use crate::protocol::{
    data_buffer, decode, message, Frame, PushHeader, Reply, Request, BATCH, DATA_START, PROTOCOL,
};
use prtools_transport::Progress;

/// Totals across hosts, for --stats.
#[derive(Default)]
pub struct Totals {
    /// Bytes of file data this machine sent.
    pub bytes_sent: AtomicU64,
    /// Files written on hosts.
    pub written: AtomicU64,
    /// Entries already up to date on hosts.
    pub skipped: AtomicU64,
    /// Agents uploaded.
    pub uploaded: AtomicU64,
    /// Hosts served through their sftp server, by name.
    pub sftp_hosts: std::sync::Mutex<Vec<String>>,
}

/// Where a host task reports what it moved.
pub struct Report<'a> {
    /// Totals for --stats.
    pub totals: &'a Totals,
    /// The run's progress bar.
    pub progress: &'a Progress,
    /// Where the host's agent is killed from, on a second Ctrl-C.
    pub kill: &'a KillHandle,
}

/// How a gather copies.
pub struct GatherOptions {
    /// -r
    pub recursive: bool,
    /// -p
    pub preserve: bool,
    /// --keep-setuid: with -p, keep the setuid and setgid bits too.
    pub keep_setuid: bool,
    /// --links: symlinks come as symlinks, not as what they point to.
    pub links: bool,
}

impl GatherOptions {
    /// The mode a gathered entry gets from the `mode` its host sent.
    ///
    /// Gathered files belong to whoever runs prcp, root often, so a setuid or setgid bit a
    /// host sends would make a local program that runs as that user: one compromised host
    /// could hand root on this machine to anyone who can run the file. So -p keeps the
    /// permission bits and the sticky bit (which grants nothing: Linux ignores it on files,
    /// and on a directory it only limits who may delete inside), but drops setuid and setgid
    /// unless --keep-setuid asks for them. Without -p, modes are at most 0755, as rpdcp's.
    fn mode(&self, mode: u32) -> u32 {
        match (self.preserve, self.keep_setuid) {
            (false, _) => mode & 0o755,
            (true, false) => mode & !SETID_BITS,
            (true, true) => mode,
        }
    }
}

/// S_ISUID | S_ISGID.
const SETID_BITS: u32 = 0o6000;

/// A running agent and the ends of its channel.
pub(crate) struct Agent {
    pub(crate) process: RemoteProcess,
    pub(crate) input: prtools_transport::RemoteInput,
    pub(crate) output: prtools_transport::RemoteOutput,
    pub(crate) stderr: tokio::task::JoinHandle<String>,
}

/// Where a host's agent comes from.
#[derive(Clone, Copy)]
pub enum AgentAt<'a> {
    /// A path on the host: a shell word as the bootstrap returns it (already quoted), or
    /// `--remote-path` as the user typed it, like rsync's `--rsync-path`. A relay needs it,
    /// to start the next host's agent.
    Path(&'a str),
    /// Wherever the bootstrap finds or places it, started in one remote command when the
    /// host's cached copy is sealed (see `prtools_transport::start_agent`).
    Placed(&'a LocalAgent, &'a AgentOptions),
}

/// How a host's push or gather ended when it did not fail.
pub enum Served {
    /// The agent did the work.
    ByAgent,
    /// The agent cannot run on the host, and nothing was done there yet: the caller may go
    /// in another way (sftp), or fail the host with [`CannotRun::error`].
    CannotRun(CannotRun),
}

pub(crate) async fn start_agent(
    conn: &Connection,
    at: AgentAt<'_>,
    report: &Report<'_>,
) -> Result<Agent, HostError> {
    match start_or_not(conn, at, report).await? {
        Ok(agent) => Ok(agent),
        Err(cannot) => Err(match at {
            AgentAt::Placed(local, _) => cannot.error(local),
            AgentAt::Path(_) => HostError::Other(cannot.reason()),
        }),
    }
}

/// Starts the agent, or says why it cannot run on the host (see [`Served::CannotRun`]).
async fn start_or_not(
    conn: &Connection,
    at: AgentAt<'_>,
    report: &Report<'_>,
) -> Result<Result<Agent, CannotRun>, HostError> {
    let kill = report.kill;
    let (mut process, err) = match at {
        AgentAt::Path(path) => {
            let mut process = conn.spawn_bulk(&format!("{path} --server"), kill).await?;
            let err = process.stderr.take().expect("stderr is piped");
            (process, err)
        }
        AgentAt::Placed(local, options) => {
            let started = match try_start_agent(conn, local, options, kill).await? {
                AgentStart::Started(started) => started,
                AgentStart::CannotRun(cannot) => return Ok(Err(cannot)),
            };
            if started.placement == Placement::Uploaded {
                report.totals.uploaded.fetch_add(1, Ordering::Relaxed);
            }
            (started.process, started.stderr)
        }
    };
    let input = process.stdin.take().expect("stdin was asked for");
    let output = process.stdout.take().expect("stdout is piped");
    let kill = kill.clone();
    let stderr = tokio::spawn(async move {
        // Takes the pid marker if it is still there (a path given), else reads it all.
        let text = read_agent_stderr(err, &kill).await;
        String::from_utf8_lossy(&text)
            .lines()
            .collect::<Vec<_>>()
            .join("; ")
    });
    Ok(Ok(Agent {
        process,
        input,
        output,
        stderr,
    }))
}

impl Agent {
    pub(crate) async fn send(&mut self, request: &Request) -> Result<(), HostError> {
        write_frame(&mut self.input, &message(request))
            .await
            .map_err(|e| self.lost(e))
    }

    pub(crate) async fn flush(&mut self) -> Result<(), HostError> {
        self.input.flush().await.map_err(|e| self.lost(e))
    }

    async fn reply(&mut self) -> Result<Frame<Reply>, HostError> {
        match read_frame(&mut self.output).await {
            Ok(Some(payload)) => match decode(payload).map_err(HostError::Other)? {
                Frame::Message(Reply::Fatal(why)) => Err(HostError::Other(why)),
                frame => Ok(frame),
            },
            Ok(None) => Err(HostError::Other(EXITED_EARLY.into())),
            Err(e) => Err(self.lost(e)),
        }
    }

    fn lost(&self, e: std::io::Error) -> HostError {
        lost(e)
    }

    /// Waits for the agent to exit; its stderr explains a failure.
    pub(crate) async fn finish(self) -> Result<(), HostError> {
        let (status, stderr) = self.ended().await?;
        match status {
            0 => Ok(()),
            code if stderr.is_empty() => Err(HostError::Other(format!("agent exited with {code}"))),
            _ => Err(HostError::Other(stderr)),
        }
    }

    /// Waits for the agent to exit: its exit status and stderr.
    async fn ended(self) -> Result<(i32, String), HostError> {
        drop(self.input);
        let status = self.process.wait().await?;
        let stderr = self.stderr.await.unwrap_or_default();
        Ok((status, stderr))
    }

    /// The agent ended before its first reply (`why`): an exec that failed with a format or
    /// permission error means it cannot run on the host (issue 18, point 5), where the
    /// bootstrap placed it; anything else is the host's failure, in the agent's words.
    async fn ended_early(self, at: AgentAt<'_>, why: String) -> Result<Served, HostError> {
        let (status, stderr) = self.ended().await?;
        if let AgentAt::Placed(..) = at {
            if let Some(cannot) = exec_failure(status, &stderr) {
                return Ok(Served::CannotRun(cannot));
            }
        }
        Err(match status {
            0 => HostError::Other(why),
            code if stderr.is_empty() => HostError::Other(format!("agent exited with {code}")),
            _ => HostError::Other(stderr),
        })
    }
}

/// Pushes `plan` to `dest` on the host behind `conn`, through the agent `at`.
pub async fn push(
    conn: &Connection,
    at: AgentAt<'_>,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &Report<'_>,
) -> Result<Served, HostError> {
    let totals = report.totals;
    let mut agent = match start_or_not(conn, at, report).await? {
        Ok(agent) => agent,
        Err(cannot) => return Ok(Served::CannotRun(cannot)),
    };
    let started = match agent.send(&Request::Push(flags.header(dest, plan))).await {
        Ok(()) => match agent.flush().await {
            Ok(()) => agent.reply().await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let into_dir = match started {
        Ok(Frame::Message(Reply::Ready { into_dir })) => into_dir,
        Ok(_) => return Err(protocol_error("Ready")),
        // An agent that never started (a wrong -e PATH) says why on stderr; whether the
        // request met a closed pipe or the reply an end depends on timing.
        Err(HostError::Other(why)) if why == EXITED_EARLY || why.starts_with(LOST) => {
            return agent.ended_early(at, why).await
        }
        Err(e) => return Err(e),
    };
    let list = match (into_dir, &plan.renamed) {
        (true, _) => &plan.into_dir,
        (false, Some(renamed)) => renamed,
        (false, None) => {
            return Err(HostError::Other(format!(
                "target '{dest}' is not a directory"
            )))
        }
    };
    for batch in list.chunks(1024) {
        agent.send(&Request::Entries(batch.to_vec())).await?;
    }
    agent.send(&Request::EndOfList).await?;
    agent.flush().await?;
    let want = match agent.reply().await? {
        Frame::Message(Reply::Want(want)) => want,
        _ => return Err(protocol_error("Want")),
    };
    plan.check_wanted(&want).map_err(HostError::Other)?;
    let wanted: u64 = want.iter().map(|&i| plan.sizes[i as usize]).sum();
    report.progress.add_total(wanted);

    let Agent {
        process,
        input,
        mut output,
        stderr,
    } = agent;
    let mut input = tokio::io::BufWriter::with_capacity(BATCH, input);
    let send = async {
        send_files(&mut input, plan, &want, |_, n| {
            totals.bytes_sent.fetch_add(n, Ordering::Relaxed);
            report.progress.moved(n);
        })
        .await?;
        Ok::<_, HostError>(input.into_inner())
    };
    let receive = async {
        loop {
            let payload = read_frame(&mut output).await.map_err(lost)?;
            let Some(payload) = payload else {
                return Err(HostError::Other(EXITED_EARLY.into()));
            };
            match decode(payload).map_err(HostError::Other)? {
                Frame::Message(Reply::Stored { index, hash }) => {
                    if flags.verify {
                        let expected = plan.hash(index as usize).map_err(HostError::Other)?;
                        if hash != Some(expected) {
                            return Err(HostError::Other(format!(
                                "verify failed: {} differs on the host",
                                String::from_utf8_lossy(&list[index as usize].path)
                            )));
                        }
                    }
                }
                Frame::Message(Reply::Summary { written, skipped }) => {
                    totals.written.fetch_add(written, Ordering::Relaxed);
                    totals.skipped.fetch_add(skipped, Ordering::Relaxed);
                    return Ok(());
                }
                Frame::Message(Reply::Fatal(why)) => return Err(HostError::Other(why)),
                _ => return Err(protocol_error("Stored or Summary")),
            }
        }
    };
    // The receiver decides: a Fatal reply explains better than the broken pipe it causes.
    let (sent, received) = tokio::join!(send, receive);
    received?;
    let input = sent?;
    Agent {
        process,
        input,
        output,
        stderr,
    }
    .finish()
    .await
    .map(|()| Served::ByAgent)
}

/// Sends the files at `indexes` of `plan`, then `Finish`, through `input`; `sent` hears of
/// every chunk (file index, bytes). Frames are small and many (three for every file), so `input` batches them
/// before the pipe to the ssh master sees them.
pub(crate) async fn send_files(
    input: &mut tokio::io::BufWriter<prtools_transport::RemoteInput>,
    plan: &PushPlan,
    indexes: &[u32],
    sent: impl Fn(u32, u64),
) -> Result<(), HostError> {
    let mut buf = data_buffer();
    for &index in indexes {
        let path = plan.local[index as usize]
            .as_ref()
            .ok_or_else(|| protocol_error("a file index"))?;
        let mut file = std::fs::File::open(path).map_err(|e| local_error(path, e))?;
        write_frame(input, &message(&Request::FileStart { index }))
            .await
            .map_err(lost)?;
        loop {
            let n = file
                .read(&mut buf[DATA_START..])
                .map_err(|e| local_error(path, e))?;
            if n == 0 {
                break;
            }
            let frame = seal(&mut buf[..DATA_START + n]).map_err(lost)?;
            input.write_all(frame).await.map_err(lost)?;
            sent(index, n as u64);
        }
        write_frame(input, &message(&Request::FileEnd))
            .await
            .map_err(lost)?;
    }
    write_frame(input, &message(&Request::Finish))
        .await
        .map_err(lost)?;
    input.flush().await.map_err(lost)
}

/// The copy flags a push needs.
pub struct PushFlags {
    /// -p
    pub preserve: bool,
    /// --force
    pub force: bool,
    /// --verify
    pub verify: bool,
}

impl PushFlags {
    /// What starts a push of `plan` to `dest`.
    pub fn header(&self, dest: &str, plan: &PushPlan) -> PushHeader {
        PushHeader {
            protocol: PROTOCOL,
            dest: dest.as_bytes().to_vec(),
            sources: plan.sources,
            preserve: self.preserve,
            force: self.force,
            verify: self.verify,
            renames: plan.renamed.is_some(),
        }
    }
}

/// Where gathered files go on this machine.
pub enum GatherInto {
    /// LOCALDIR/NAME.HOST (rpdcp).
    Suffixed {
        /// LOCALDIR.
        dir: PathBuf,
        /// The suffix.
        host: String,
    },
    /// LOCALDIR/HOST/NAME.
    HostDir {
        /// LOCALDIR.
        dir: PathBuf,
    },
    /// One host, scp style: into `dir`, the top entry renamed to `name` when given.
    Plain {
        /// Where the entries go.
        dir: PathBuf,
        /// The new name of the single top entry.
        name: Option<RelPath>,
    },
}

/// Gathers `paths` from the host behind `conn`.
pub async fn gather(
    conn: &Connection,
    at: AgentAt<'_>,
    paths: &[String],
    options: &GatherOptions,
    into: &GatherInto,
    report: &Report<'_>,
) -> Result<Served, HostError> {
    let mut agent = match start_or_not(conn, at, report).await? {
        Ok(agent) => agent,
        Err(cannot) => return Ok(Served::CannotRun(cannot)),
    };
    let request = Request::Gather {
        protocol: PROTOCOL,
        paths: paths.iter().map(|p| p.as_bytes().to_vec()).collect(),
        recursive: options.recursive,
        links: options.links,
    };
    // An agent that has already answered and exited makes this write fail; what it sent
    // explains more than the broken pipe, so the replies are read either way.
    let sent = match agent.send(&request).await {
        Ok(()) => agent.flush().await,
        Err(e) => Err(e),
    };
    let mut first = false;
    match receive_tree(&mut agent, conn, options, into, report, &mut first).await {
        Ok(()) => {
            sent?;
            agent.finish().await.map(|()| Served::ByAgent)
        }
        // Nothing came: the agent may never have started (a failed exec).
        Err(HostError::Other(why)) if !first && why == EXITED_EARLY => {
            agent.ended_early(at, why).await
        }
        Err(e) => Err(match (e, sent) {
            (HostError::Other(why), Err(send)) if why == EXITED_EARLY => send,
            (e, _) => e,
        }),
    }
}

pub(crate) const EXITED_EARLY: &str = "agent exited early";

/// Receives gathered entries until `EndOfTree`, writing them under their local names.
async fn receive_tree(
    agent: &mut Agent,
    conn: &Connection,
    options: &GatherOptions,
    into: &GatherInto,
    report: &Report<'_>,
    replied: &mut bool,
) -> Result<(), HostError> {
    let mut tree = LocalTree::open(conn.target().name(), options, into)?;
    loop {
        let reply = agent.reply().await?;
        *replied = true;
        let entry = match reply {
            Frame::Message(Reply::Entry(wire)) => wire
                .into_entry()
                .map_err(|e| HostError::Other(format!("refused from agent: {e}")))?,
            Frame::Message(Reply::EndOfTree) => break,
            _ => return Err(protocol_error("Entry")),
        };
        let Some(mut file) = tree.entry(entry, report)? else {
            continue;
        };
        loop {
            match agent.reply().await? {
                Frame::Data(bytes) => file.write(&bytes, report)?,
                Frame::Message(Reply::EndFile) => break,
                _ => return Err(protocol_error("file data")),
            }
        }
        file.commit(options)?;
    }
    tree.finish();
    Ok(())
}

/// Where a gather puts what one host sends, however it comes (the agent's frames, or sftp):
/// LOCALDIR (or LOCALDIR/HOST), every entry under its local name, walked from the folder's
/// descriptor and never through a link.
pub(crate) struct LocalTree<'a> {
    root: Root,
    folder: PathBuf,
    options: &'a GatherOptions,
    into: &'a GatherInto,
    /// Directories made, for their modes and mtimes once everything is inside.
    dirs: Vec<(RelPath, Entry)>,
}

/// A gathered file being written: a temp file beside its final name until [`commit`].
///
/// [`commit`]: GatheredFile::commit
pub(crate) struct GatheredFile {
    file: prtools_sync::AtomicFile,
    shown: PathBuf,
    entry: Entry,
}

impl<'a> LocalTree<'a> {
    /// Opens LOCALDIR, and the host's folder in it with `--gather-dirs`.
    pub(crate) fn open(
        host: &str,
        options: &'a GatherOptions,
        into: &'a GatherInto,
    ) -> Result<LocalTree<'a>, HostError> {
        let (dir, host_dir) = match into {
            GatherInto::Suffixed { dir, .. } | GatherInto::Plain { dir, .. } => (dir, None),
            GatherInto::HostDir { dir } => (dir, Some(host)),
        };
        // LOCALDIR was named by the user and is trusted as named; every name below it, the
        // per-host folder included, is walked from its descriptor and never through a link.
        let root = Root::open(dir).map_err(|e| local_error(dir, e))?;
        let root = match host_dir {
            None => root,
            Some(host) => {
                let rel = RelPath::new(host.as_bytes().to_vec()).map_err(|e| {
                    HostError::Other(format!("cannot use '{host}' as a folder name: {e}"))
                })?;
                root.open_subdir(&rel, true)
                    .map_err(|e| local_error(&dir.join(host), e))?
            }
        };
        let folder = root.path().to_path_buf();
        Ok(LocalTree {
            root,
            folder,
            options,
            into,
            dirs: Vec::new(),
        })
    }

    /// Places one entry the host sent; a file comes back open, to be filled and committed.
    pub(crate) fn entry(
        &mut self,
        entry: Entry,
        report: &Report<'_>,
    ) -> Result<Option<GatheredFile>, HostError> {
        let rel = local_name(&entry.path, self.into)?;
        let shown = self.folder.join(rel.as_path());
        match &entry.kind {
            Kind::Dir => {
                self.root
                    .create_dir(&rel, 0o700)
                    .map_err(|e| local_error(&shown, e))?;
                self.dirs.push((rel, entry));
                Ok(None)
            }
            Kind::Symlink { target } => {
                self.root
                    .symlink(&rel, target)
                    .map_err(|e| local_error(&shown, e))?;
                Ok(None)
            }
            Kind::File { size } => {
                report.progress.add_total(*size);
                let file = self
                    .root
                    .create_file(&rel)
                    .map_err(|e| local_error(&shown, e))?;
                Ok(Some(GatheredFile { file, shown, entry }))
            }
        }
    }

    /// Gives the directories their modes (and with -p their mtimes), deepest first, now that
    /// nothing more is written inside them.
    pub(crate) fn finish(self) {
        for (rel, entry) in self.dirs.iter().rev() {
            let _ = self.root.set_mode(rel, self.options.mode(entry.mode));
            if self.options.preserve {
                let _ = self.root.set_mtime(rel, entry.mtime);
            }
        }
    }
}

impl GatheredFile {
    /// Appends bytes the host sent.
    pub(crate) fn write(&mut self, bytes: &[u8], report: &Report<'_>) -> Result<(), HostError> {
        std::io::Write::write_all(&mut self.file, bytes)
            .map_err(|e| local_error(&self.shown, e))?;
        report.progress.moved(bytes.len() as u64);
        Ok(())
    }

    /// Gives the file its mode (and with -p its mtime) and its final name.
    pub(crate) fn commit(self, options: &GatherOptions) -> Result<(), HostError> {
        let mode = options.mode(self.entry.mode);
        self.file
            .commit(mode, options.preserve.then_some(self.entry.mtime), false)
            .map_err(|e| local_error(&self.shown, e))
    }
}

/// The local name of a gathered entry: its top component gets the host suffix (rpdcp), or a
/// new name (scp style).
fn local_name(path: &RelPath, into: &GatherInto) -> Result<RelPath, HostError> {
    let bytes = path.as_bytes();
    let split = bytes.iter().position(|&b| b == b'/').unwrap_or(bytes.len());
    let (top, rest) = bytes.split_at(split);
    let new_top = match into {
        GatherInto::Suffixed { host, .. } => {
            let mut top = top.to_vec();
            top.push(b'.');
            top.extend_from_slice(host.as_bytes());
            top
        }
        GatherInto::Plain {
            name: Some(name), ..
        } => name.as_bytes().to_vec(),
        _ => top.to_vec(),
    };
    let mut out = new_top;
    out.extend_from_slice(rest);
    RelPath::new(out).map_err(|e| HostError::Other(format!("refused from agent: {e}")))
}

pub(crate) fn protocol_error(expected: &str) -> HostError {
    HostError::Other(format!("agent protocol error: expected {expected}"))
}

/// How every lost agent channel starts its message.
const LOST: &str = "agent connection lost";

pub(crate) fn lost(e: std::io::Error) -> HostError {
    HostError::Other(format!("{LOST}: {e}"))
}

/// A local read or write on `path` failed. The sync crate's errors name their path already
/// (the most precise one), others get `path`. A symlink met on the way (ELOOP from the
/// confined walk: planted in LOCALDIR under a name prcp writes, or inside a gathered tree)
/// gets a message of its own, naming the link itself.
fn local_error(path: &Path, e: std::io::Error) -> HostError {
    let named = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<prtools_sync::PathIoError>())
        .map(|inner| inner.path());
    if prtools_sync::raw_os_error(&e) == Some(libc::ELOOP) {
        return HostError::Other(format!(
            "{} is a symbolic link; refusing to gather into it; hint: remove the link, or \
             make it a real directory",
            named.unwrap_or(path).display()
        ));
    }
    if named.is_some() {
        return HostError::Other(e.to_string());
    }
    let shown = path.display().to_string();
    let text = e.to_string();
    // The sync crate's errors may already start with the path: name it once.
    if text.starts_with(&shown) {
        HostError::Other(text)
    } else {
        HostError::Other(format!("{shown}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::GatherOptions;

    #[test]
    fn gathered_modes_drop_setuid_and_setgid_unless_kept() {
        let options = |preserve, keep_setuid| GatherOptions {
            recursive: false,
            preserve,
            keep_setuid,
            links: false,
        };
        assert_eq!(options(false, false).mode(0o7777), 0o755);
        assert_eq!(options(true, false).mode(0o7777), 0o1777);
        assert_eq!(options(true, false).mode(0o2750), 0o750);
        assert_eq!(options(true, true).mode(0o7777), 0o7777);
    }
}
