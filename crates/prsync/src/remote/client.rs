//! The client of a remote transfer: reach the hosts over the transport (connections,
//! bootstrap of the agent, fan-out, timeouts), start `prsync --server` on each, and run the
//! half of the transfer that is here in blocking code over a bridge to the async channel.
//!
//! A push to many hosts lists the sources once; each host gets its own copy of that listing
//! to answer its receiver from. With more than one host, every line a host prints is
//! prefixed with its name, as pdsh does.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prtools_transport::{
    exec_failure, failure_lines, fit_fanout, for_each_host, try_start_agent, AgentOptions,
    AgentStart, CannotRun, Config, Connection, HostError, Interrupt, KillHandle, LocalAgent,
    Progress, RemoteInput, RemoteOutput, Target,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;

use super::peer::{serve_sender, unexpected, RemoteSender};
use super::server::{encode_list, receive_list};
use super::wire::{Job, Link, Msg, Shape, PROTOCOL};
use crate::cli::{Options, Remote};
use crate::exit;
use crate::rsync_peer::{self, Fleet, Voice, Wire};
use crate::sender::{LocalSender, Sender};

/// Capacity of the buffers on the client's end of an agent link.
const BUFFER: usize = 64 * 1024;

/// Runs a push or a pull and returns the exit status: the largest of the hosts' rsync
/// statuses, 255 for a host that could not be reached.
pub fn run(opts: &Options) -> i32 {
    let (runtime, agent) = match setup(opts) {
        Ok(ready) => ready,
        Err(why) => {
            eprintln!("prsync: {why}");
            return exit::FILE_IO;
        }
    };
    let listed;
    let opts = match &opts.more.remote_files_from {
        None => opts,
        Some(path) => match with_remote_list(&runtime, opts, &agent, path) {
            Ok(o) => {
                listed = o;
                &listed
            }
            Err((code, why)) => {
                eprintln!("prsync: {why}");
                return code;
            }
        },
    };
    match &opts.remote {
        Remote::Push(hosts) => {
            let mut config = opts.config.clone();
            match fit_fanout(&mut config, hosts.len(), "--fanout") {
                Ok(None) => {}
                Ok(Some(notice)) => eprintln!("prsync: {notice}"),
                Err(why) => {
                    eprintln!("prsync: {why}");
                    return exit::FILE_IO;
                }
            }
            // One bar for the run, as prcp's: by default when many hosts share the terminal,
            // and with --progress for one.
            let quiet = opts.quiet || !(opts.progress || hosts.len() > 1);
            let progress = Arc::new(Progress::new(hosts.len(), quiet));
            let printer = Printer::new(hosts.len() > 1, None, Some(progress.clone()));
            let said = printer.said.clone();
            let (results, status, signal) =
                runtime.block_on(push(opts, &config, hosts, agent, printer, progress));
            let status = finish(results.into_iter(), status, take(&said));
            // Interrupted: the status a shell gives a process ended by that signal.
            signal.unwrap_or(status)
        }
        Remote::Pull(host) => pull(&runtime, opts, host, &agent),
        Remote::Local => unreachable!("local copies do not come here"),
    }
}

/// The runtime that drives the channels, and this prsync described for upload as the agent.
fn setup(opts: &Options) -> Result<(tokio::runtime::Runtime, Arc<Agent>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let local = LocalAgent::current("prsync", env!("CARGO_PKG_VERSION"))
        .map_err(|e| format!("cannot read this prsync to upload it as the agent: {e}"))?;
    let options = AgentOptions {
        remote_path: opts.remote_path.clone(),
        no_bootstrap: opts.no_bootstrap,
    };
    Ok((runtime, Arc::new((local, options))))
}

/// What every host of a push shares.
struct PushJob {
    progress: Arc<Progress>,
    args: Vec<Vec<u8>>,
    shape: Shape,
    dest: Vec<u8>,
    listing: Listing,
    printer: Printer,
    /// Hosts served over rsync's protocol: all with `--wire=rsync`, else those where the
    /// agent cannot run.
    wire: Wire,
    fleet: Arc<Fleet>,
}

/// The sources' listing of a push: made on a blocking thread from the start of the run, and
/// awaited by each host once its agent is up.
struct Listing {
    pending: Mutex<Option<tokio::task::JoinHandle<Listed>>>,
    done: tokio::sync::OnceCell<Listed>,
}

/// The listing, with its messages encoded once for every host (see [`encode_list`]); `Err`
/// if they could not be.
type Listed = (LocalSender, Result<Vec<Vec<u8>>, String>);

impl Listing {
    fn new(pending: tokio::task::JoinHandle<Listed>) -> Listing {
        Listing {
            pending: Mutex::new(Some(pending)),
            done: tokio::sync::OnceCell::new(),
        }
    }

    /// The listing, once it is made.
    async fn get(&self) -> Result<&Listed, HostError> {
        self.done
            .get_or_try_init(|| async {
                let pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match pending {
                    Some(pending) => pending
                        .await
                        .map_err(|e| HostError::Other(format!("listing the sources failed: {e}"))),
                    None => Err(HostError::Other("listing the sources failed".into())),
                }
            })
            .await
    }

    /// The listing, after [`Listing::get`] has returned it.
    fn ready(&self) -> &Listed {
        self.done
            .get()
            .expect("the listing was awaited before the push")
    }
}

/// What a host of a push came to: its rsync status, or why it failed.
type HostOutcome = (String, Result<io::Result<i32>, HostError>);

/// Where the lines a tool built on prsync reads go: `(host, line)`, without the newline.
pub type LineSink = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// A push (`opts.remote` must be [`Remote::Push`]) whose hosts' output lines go to `sink`
/// instead of stdout: for tools built on prsync, such as prdist, which read the `-i` lines
/// to learn what changed where. Returns each host with its rsync status, or why it failed.
/// The caller has fitted `--fanout` to the open-file limit (prdist does, for its `-M`).
pub fn push_with_sink(opts: &Options, sink: LineSink) -> Vec<(String, Result<i32, String>)> {
    let Remote::Push(hosts) = &opts.remote else {
        return Vec::new();
    };
    let failed = |why: String| {
        hosts
            .iter()
            .map(|h| (h.host.clone(), Err(why.clone())))
            .collect()
    };
    let (runtime, agent) = match setup(opts) {
        Ok(ready) => ready,
        Err(why) => return failed(why),
    };
    let printer = Printer::new(true, Some(sink), None);
    let said = printer.said.clone();
    let progress = Arc::new(Progress::new(hosts.len(), true));
    let (results, _, _) =
        runtime.block_on(push(opts, &opts.config, hosts, agent, printer, progress));
    for line in failure_lines("prsync", &take(&said)) {
        eprintln!("{line}");
    }
    results
        .into_iter()
        .map(|(host, r)| {
            let r = match r {
                Ok(Ok(code)) => Ok(code),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (host, r)
        })
        .collect()
}

async fn push(
    opts: &Options,
    config: &Config,
    hosts: &[prtools_hostlist::HostSpec],
    agent: Arc<Agent>,
    printer: Printer,
    progress: Arc<Progress>,
) -> (Vec<HostOutcome>, i32, Option<i32>) {
    let targets = Target::from_specs(hosts.to_vec());
    if let Some(banner) = opts.list_banner(false).filter(|_| !opts.quiet) {
        printer.line(None, banner.as_bytes());
    }
    // The sources are listed on a blocking thread while the hosts connect and start their
    // agents: on a large tree each takes a good part of a no-op run, and neither needs the
    // other until the list is sent.
    let listing = {
        let (sources, list_options, filters, bar) = (
            opts.sources.clone(),
            crate::list_options(opts),
            opts.filters.clone(),
            progress.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut sender = LocalSender::list(&sources, &list_options, &filters);
            // Each changed file's signature is made once here and every host searches its
            // own old copy with it, so this machine's work per file does not grow with the
            // hosts.
            sender.share_signatures();
            // Said before any host is sent the list, so before any host's output; the hosts
            // connect meanwhile, so the run's bar may be up.
            bar.suspend(|| {
                for e in &sender.errors {
                    eprintln!("prsync: {}", e.message);
                }
            });
            let messages = encode_list(sender.file_list(), Vec::new(), Vec::new())
                .map_err(|e| format!("cannot encode the file list: {e}"));
            (sender, messages)
        })
    };
    let job = Arc::new(PushJob {
        progress: progress.clone(),
        args: opts.server_args(),
        shape: Shape {
            compress: opts.compress_level(),
            bwlimit: opts.bwlimit,
        },
        dest: opts.dest.as_bytes().to_vec(),
        listing: Listing::new(listing),
        printer,
        wire: opts.wire,
        fleet: Arc::new(Fleet::new(opts, targets.len())),
    });
    let list_job = job.clone();
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("prsync: cannot install signal handlers: {e}");
            return (Vec::new(), exit::FILE_IO, None);
        }
    };
    let job_progress = progress.clone();
    let timeout = config.command_timeout;
    let signalled = interrupt.clone();
    let results = for_each_host(
        &targets,
        config,
        &interrupt,
        move |conn, mut interrupt| {
            let (job, agent) = (job.clone(), agent.clone());
            async move {
                let host = conn.target().name().to_string();
                let started = match job.wire {
                    Wire::Rsync => None,
                    Wire::Agent => match start_agent(&conn, &agent, &job.printer).await? {
                        Ok(started) => Some(started),
                        // Served by its rsync instead (issue 18).
                        Err(cannot) => {
                            return by_rsync(&conn, &job, Some(cannot), &mut interrupt).await
                        }
                    },
                };
                let Some((process, input, output, stderr, kill)) = started else {
                    return by_rsync(&conn, &job, None, &mut interrupt).await;
                };
                job.listing.get().await?;
                let handle = Handle::current();
                let work = job.clone();
                let name = host.clone();
                let blocking = tokio::task::spawn_blocking(move || {
                    let mut link = bridge(input, output, handle);
                    push_one(&work, &mut link, &name)
                });
                // A timeout or a signal kills the agent on the host: its channel closes, and
                // the blocking half ends on its own. Nothing is left running there, and its
                // temp file goes with it.
                let pushed = async {
                    blocking
                        .await
                        .map_err(|e| HostError::Other(format!("push task failed: {e}")))
                };
                let code = conn.bounded(&kill, timeout, &mut interrupt, pushed).await?;
                let status = process.wait().await;
                let _ = stderr.await;
                // The placed agent's exec failed (a format or permission error): it cannot
                // run there and did nothing, so its rsync serves the host instead, and the
                // shell's complaint is not the host's failure.
                if let (Err(_), Ok(status), None) = (&code, &status, &agent.1.remote_path) {
                    if let Some(cannot) = exec_failure(*status, "") {
                        job.printer
                            .said
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .retain(|(h, _)| *h != host);
                        return by_rsync(&conn, &job, Some(cannot), &mut interrupt).await;
                    }
                }
                Ok(code)
            }
        },
        move |result| {
            let ok = matches!(result.result, Ok(Ok(0)));
            progress.host_done(ok);
        },
    )
    .await;
    job_progress.finish();
    // Every host may have failed before it needed the list: its problems are still said.
    let status = match list_job.listing.get().await {
        // A rule file that could not be taken: nothing was sent, and rsync's status.
        Ok((sender, _)) if sender.fatal.is_some() => sender.fatal.unwrap_or(exit::PARTIAL),
        Ok((sender, _)) if !sender.errors.is_empty() => exit::PARTIAL,
        Ok(_) => exit::OK,
        Err(e) => {
            eprintln!("prsync: {e}");
            exit::PARTIAL
        }
    };
    let results = results
        .into_iter()
        .map(|r| (r.target.name().to_string(), r.result))
        .collect();
    (results, status, signalled.exit_status())
}

/// One host of a push served by its own rsync, over rsync's protocol (see
/// [`rsync_peer::serve`]): its lines go through the run's printer, and a failure is said
/// as the agents' are, folded with the other hosts'.
async fn by_rsync(
    conn: &Connection,
    job: &Arc<PushJob>,
    cannot: Option<CannotRun>,
    interrupt: &mut Interrupt,
) -> Result<io::Result<i32>, HostError> {
    let (sender, _) = job.listing.get().await?;
    let host = conn.target().name().to_string();
    let voice = Arc::new(HostVoice {
        job: job.clone(),
        host: host.clone(),
        out: Mutex::default(),
        err: Mutex::default(),
    });
    let served = rsync_peer::serve(
        conn,
        job.fleet.clone(),
        sender,
        cannot,
        voice.clone(),
        interrupt,
    )
    .await;
    voice.flush();
    match served? {
        Ok(code) => Ok(Ok(code)),
        Err((code, why)) => {
            voice.note(&host, &why);
            Ok(Ok(code))
        }
    }
}

/// A host served over rsync's protocol, as the run's printer shows it: its stdout lines
/// prefixed when there are many hosts, its stderr lines kept to be folded at the end as the
/// agents' are (printed as they come when it is the only host).
struct HostVoice {
    job: Arc<PushJob>,
    host: String,
    out: Mutex<Vec<u8>>,
    err: Mutex<Vec<u8>>,
}

impl HostVoice {
    /// Says what is left of a last line without its newline.
    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if !out.is_empty() {
            self.job.printer.out(Some(&self.host), &mut out, b"");
        }
        drop(out);
        let rest = std::mem::take(&mut *self.err.lock().unwrap_or_else(|e| e.into_inner()));
        if !rest.is_empty() {
            self.said(&rest);
        }
    }

    fn said(&self, line: &[u8]) {
        let line = line.strip_prefix(b"prsync: ").unwrap_or(line);
        self.job
            .printer
            .said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                self.host.clone(),
                String::from_utf8_lossy(line).into_owned(),
            ));
    }
}

impl Voice for HostVoice {
    fn out(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        self.job.printer.out(Some(&self.host), &mut out, bytes);
    }

    fn err(&self, bytes: &[u8]) {
        if !self.job.printer.prefix {
            let _ = io::stdout().flush();
            let _ = io::stderr().write_all(bytes);
            return;
        }
        let mut err = self.err.lock().unwrap_or_else(|e| e.into_inner());
        err.extend_from_slice(bytes);
        while let Some(end) = err.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = err.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            if !line.is_empty() {
                self.said(line);
            }
        }
    }

    fn note(&self, _host: &str, line: &str) {
        self.said(line.as_bytes());
    }
}

/// One host of a push: send the list, answer the receiver until it is done.
fn push_one<R: Read, W: Write>(
    job: &PushJob,
    link: &mut Link<R, W>,
    host: &str,
) -> io::Result<i32> {
    link.send(&Msg::Hello {
        protocol: PROTOCOL,
        args: job.args.clone(),
        job: Job::Receive {
            dest: job.dest.clone(),
        },
    })?;
    let (sender, messages) = job.listing.ready();
    for message in messages.as_ref().map_err(|e| io::Error::other(e.clone()))? {
        link.send_encoded(message)?;
    }
    link.flush()?;
    let mut sender = sender.clone();
    let mut lines = Vec::new();
    let done = serve_sender(&mut sender, link, job.shape, &job.progress, |bytes| {
        job.printer.out(Some(host), &mut lines, bytes)
    })?;
    job.printer.out(Some(host), &mut lines, b"");
    done.ok_or_else(|| unexpected("Done", &Msg::Finish))
}

/// A pull from one host. The receiver is blocking code that borrows the options, so it runs
/// on a scoped thread while this thread drives the channel in the runtime.
fn pull(
    runtime: &tokio::runtime::Runtime,
    opts: &Options,
    host: &prtools_hostlist::HostSpec,
    agent: &Agent,
) -> i32 {
    let start = Instant::now();
    let (name, printer, setup) = connect_one(runtime, opts, host, agent);
    let (conn, (process, input, output, stderr, kill)) = match setup {
        Ok(Ok(s)) => s,
        // Served by its rsync instead (issue 18).
        Ok(Err(cannot)) => return rsync_peer::pull_instead(opts, &name, &cannot),
        Err(e) => return finish([(name, Err(e))].into_iter(), exit::OK, Vec::new()),
    };
    if let Some(banner) = opts.list_banner(true).filter(|_| !opts.quiet) {
        printer.line(None, banner.as_bytes());
    }
    let interrupt = match runtime.block_on(async { Interrupt::install() }) {
        Ok(interrupt) => interrupt.immediate(),
        Err(e) => {
            eprintln!("prsync: cannot install signal handlers: {e}");
            return exit::FILE_IO;
        }
    };
    let handle = runtime.handle().clone();
    let (result, stopped) = std::thread::scope(|scope| {
        let (tell, mut done) = tokio::sync::oneshot::channel();
        scope.spawn(move || {
            let _ = tell.send(pull_one(opts, bridge(input, output, handle), start));
        });
        runtime.block_on(async {
            // A timeout or a signal kills the agent: the channel closes, the receiver's reads
            // fail, and its temp file goes with it.
            let receiver_stopped = || io::Error::other("the receiver stopped");
            match stop_on(&conn, &kill, &mut done, interrupt.clone(), opts).await {
                Ok(result) => (result.unwrap_or_else(|_| Err(receiver_stopped())), None),
                Err(why) => (
                    done.await.unwrap_or_else(|_| Err(receiver_stopped())),
                    Some(why),
                ),
            }
        })
    });
    runtime.block_on(async {
        let _ = process.wait().await;
        let _ = stderr.await;
        conn.close().await;
    });
    match stopped {
        Some(e) => {
            let status = finish([(name, Err(e))].into_iter(), exit::OK, Vec::new());
            interrupt.exit_status().unwrap_or(status)
        }
        None => finish([(name, Ok(result))].into_iter(), exit::OK, Vec::new()),
    }
}

/// Connects to the one `host` of a pull (or of a remote `--files-from`) and starts the
/// agent there: the host's name, the printer for its lines, and the connection with the
/// started agent, or why the agent cannot run there (a connection whose agent did not
/// start is closed).
fn connect_one(
    runtime: &tokio::runtime::Runtime,
    opts: &Options,
    host: &prtools_hostlist::HostSpec,
    agent: &Agent,
) -> (String, Printer, OneHost) {
    let target = Target::from_specs(vec![host.clone()]).remove(0);
    let name = target.name().to_string();
    let printer = Printer::new(false, None, None);
    let setup = runtime.block_on(async {
        let conn = Connection::open(&target, &opts.config).await?;
        match start_agent(&conn, agent, &printer).await {
            Ok(Ok(started)) => Ok(Ok((conn, started))),
            Ok(Err(cannot)) => {
                conn.close().await;
                Ok(Err(cannot))
            }
            Err(e) => {
                conn.close().await;
                Err(e)
            }
        }
    });
    (name, printer, setup)
}

/// `--files-from=host:FILE`: the options with the sources FILE names, FILE read by an agent
/// on the transfer's one host.
fn with_remote_list(
    runtime: &tokio::runtime::Runtime,
    opts: &Options,
    agent: &Agent,
    path: &[u8],
) -> Result<Options, (i32, String)> {
    let host = match &opts.remote {
        Remote::Pull(host) => host,
        Remote::Push(hosts) if hosts.len() == 1 => &hosts[0],
        _ => {
            return Err((
                exit::SYNTAX,
                "--files-from=host:FILE needs a transfer with that one host; hint: copy the \
                 list here and give --files-from=FILE"
                    .into(),
            ))
        }
    };
    let (name, _, setup) = connect_one(runtime, opts, host, agent);
    let (conn, (process, input, output, stderr, _kill)) = setup
        .and_then(|s| s.map_err(|cannot| cannot.error(&agent.0)))
        .map_err(|e| (exit::UNREACHABLE, format!("{name}: {e}")))?;
    let handle = runtime.handle().clone();
    let text = std::thread::scope(|scope| {
        let (tell, done) = tokio::sync::oneshot::channel();
        scope.spawn(move || {
            let _ = tell.send(read_one(opts, bridge(input, output, handle), path));
        });
        runtime.block_on(async {
            done.await
                .unwrap_or_else(|_| Err("the agent stopped".to_string()))
        })
    });
    runtime.block_on(async {
        let _ = process.wait().await;
        let _ = stderr.await;
        conn.close().await;
    });
    let text = text.map_err(|why| (exit::FILE_IO, format!("{name}: {why}")))?;
    let mut opts = opts.clone();
    let [base] = opts.sources.as_slice() else {
        unreachable!("the command line has one source with --files-from")
    };
    opts.sources = crate::cli::files_from_names(&text, opts.more.from0, false, base);
    Ok(opts)
}

/// Asks the agent for the bytes of `path`.
fn read_one<R: Read, W: Write>(
    opts: &Options,
    mut link: Link<R, W>,
    path: &[u8],
) -> Result<Vec<u8>, String> {
    let broken = |e: io::Error| format!("the agent link broke: {e}");
    link.send(&Msg::Hello {
        protocol: PROTOCOL,
        args: opts.server_args(),
        job: Job::Read {
            path: path.to_vec(),
        },
    })
    .map_err(broken)?;
    link.flush().map_err(broken)?;
    let mut text = Vec::new();
    loop {
        match link.receive().map_err(broken)? {
            Msg::Data(bytes) => text.extend_from_slice(&bytes),
            Msg::Done(_) => return Ok(text),
            Msg::Failed(why) => return Err(why),
            other => return Err(unexpected("Data", &other).to_string()),
        }
    }
}

/// Waits for `done`, or kills the agent at `--timeout` or a signal and says why.
async fn stop_on<T>(
    conn: &Connection,
    kill: &KillHandle,
    done: &mut tokio::sync::oneshot::Receiver<T>,
    mut interrupt: Interrupt,
    opts: &Options,
) -> Result<Result<T, tokio::sync::oneshot::error::RecvError>, HostError> {
    let received = async { Ok(done.await) };
    conn.bounded(kill, opts.config.command_timeout, &mut interrupt, received)
        .await
}

fn pull_one<R: Read, W: Write>(
    opts: &Options,
    mut link: Link<R, W>,
    start: Instant,
) -> io::Result<i32> {
    link.send(&Msg::Hello {
        protocol: PROTOCOL,
        args: opts.server_args(),
        job: Job::Send {
            sources: opts.sources.iter().map(|s| s.as_bytes().to_vec()).collect(),
        },
    })?;
    let (list, errors, notices) = receive_list(&mut link)?;
    let link = std::rc::Rc::new(std::cell::RefCell::new(link));
    let mut sender = RemoteSender::new(list, link.clone());
    let stdout = io::stdout();
    let out = BufWriter::new(stdout.lock());
    let code = crate::transfer(opts, &mut sender, &errors, &notices, start, out);
    sender.finish()?;
    let mut link = link.borrow_mut();
    link.send(&Msg::Finish)?;
    link.flush()?;
    Ok(code)
}

/// The local executable and how to place it.
type Agent = (LocalAgent, AgentOptions);

/// The one host of a pull: its connection and started agent, or why the agent cannot run.
type OneHost = Result<Result<(Connection, Started), CannotRun>, HostError>;

type Started = (
    prtools_transport::RemoteProcess,
    RemoteInput,
    RemoteOutput,
    tokio::task::JoinHandle<()>,
    KillHandle,
);

/// Places and starts the agent, or says why it cannot run on the host; its stderr lines are
/// printed as they come.
async fn start_agent(
    conn: &Connection,
    agent: &Agent,
    printer: &Printer,
) -> Result<Result<Started, CannotRun>, HostError> {
    let kill = KillHandle::default();
    let started = match try_start_agent(conn, &agent.0, &agent.1, &kill).await? {
        AgentStart::Started(started) => started,
        AgentStart::CannotRun(cannot) => return Ok(Err(cannot)),
    };
    let mut process = started.process;
    let input = process.stdin.take().expect("stdin was asked for");
    let output = process.stdout.take().expect("stdout is piped");
    let mut err = started.stderr;
    let host = printer.prefix.then(|| conn.target().name().to_string());
    let said = printer.said.clone();
    let stderr = tokio::spawn(async move {
        // The agent's own lines are printed when it is done.
        let mut text = Vec::new();
        let _ = err.read_to_end(&mut text).await;
        let lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        match host {
            // Many hosts: kept, to be folded with the failures at the end of the run.
            Some(host) => {
                let mut said = said.lock().unwrap_or_else(|e| e.into_inner());
                for line in lines {
                    let line = line.strip_prefix(b"prsync: ").unwrap_or(line);
                    said.push((host.clone(), String::from_utf8_lossy(line).into_owned()));
                }
            }
            // One host: as rsync prints them.
            None => {
                let mut out = io::stderr().lock();
                for line in lines {
                    let _ = out.write_all(line).and_then(|()| out.write_all(b"\n"));
                }
            }
        }
    });
    Ok(Ok((process, input, output, stderr, kill)))
}

/// Folds the failed hosts on stderr and computes the exit status: the largest rsync status
/// of the hosts, 255 for a host that could not be reached, 12 for a broken agent link.
///
/// `said` is what the agents printed on stderr, by host. Each host is named once: with what
/// its agent said (a broken link is only the end of that story), then why it failed here.
/// Hosts that said the same are folded on one line, however many there are.
fn finish(
    results: impl Iterator<Item = (String, Result<io::Result<i32>, HostError>)>,
    mut status: i32,
    said: Vec<(String, String)>,
) -> i32 {
    let mut by_host: HashMap<String, Vec<String>> = HashMap::new();
    for (host, line) in said {
        by_host.entry(host).or_default().push(line);
    }
    let mut failures = Vec::new();
    for (host, result) in results {
        let said = by_host.remove(&host).map(|lines| lines.join("; "));
        let reason = match result {
            Ok(Ok(code)) => {
                status = status.max(code);
                said
            }
            Ok(Err(e)) => {
                status = status.max(exit::PROTOCOL);
                Some(said.unwrap_or_else(|| e.to_string()))
            }
            Err(e) => {
                status = status.max(exit::UNREACHABLE);
                Some(match said {
                    Some(said) => format!("{said}; {e}"),
                    None => e.to_string(),
                })
            }
        };
        if let Some(reason) = reason {
            failures.push((host, reason));
        }
    }
    let mut err = io::stderr().lock();
    for line in failure_lines("prsync", &failures) {
        let _ = writeln!(err, "{line}");
    }
    status
}

/// What the agents of a run of many hosts printed on stderr: `(host, line)`, the line
/// without its `prsync: `.
type Said = Arc<Mutex<Vec<(String, String)>>>;

/// Takes what the agents said so far.
fn take(said: &Said) -> Vec<(String, String)> {
    std::mem::take(&mut *said.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Prints what hosts send, whole lines at a time, prefixed with the host when there are
/// several; or hands the lines to a sink.
struct Printer {
    prefix: bool,
    /// The agents' stderr lines, when there are several hosts.
    said: Said,
    stdout: Mutex<()>,
    sink: Option<LineSink>,
    /// The run's bar, kept out of the way of the lines.
    progress: Option<Arc<Progress>>,
}

impl Printer {
    fn new(prefix: bool, sink: Option<LineSink>, progress: Option<Arc<Progress>>) -> Printer {
        Printer {
            prefix,
            said: Said::default(),
            stdout: Mutex::new(()),
            sink,
            progress,
        }
    }

    /// Runs `print` with the bar, if any, out of the way.
    fn clear_of_bar(&self, print: impl FnOnce()) {
        match &self.progress {
            Some(p) => p.suspend(print),
            None => print(),
        }
    }

    /// One line from this machine or a host.
    fn line(&self, host: Option<&str>, line: &[u8]) {
        if let Some(sink) = &self.sink {
            sink(host.unwrap_or(""), line);
            return;
        }
        let _lock = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        self.clear_of_bar(|| {
            let mut out = io::stdout().lock();
            if let (true, Some(h)) = (self.prefix, host) {
                let _ = write!(out, "{h}: ");
            }
            let _ = out.write_all(line);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        });
    }

    /// Bytes a host printed: complete lines go out now, the rest waits in `pending`; empty
    /// `bytes` flushes what is pending.
    fn out(&self, host: Option<&str>, pending: &mut Vec<u8>, bytes: &[u8]) {
        pending.extend_from_slice(bytes);
        if !self.prefix && self.sink.is_none() {
            self.clear_of_bar(|| {
                let mut out = io::stdout().lock();
                let _ = out.write_all(pending);
                let _ = out.flush();
            });
            pending.clear();
            return;
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            self.line(host, &line[..line.len() - 1]);
        }
        if bytes.is_empty() && !pending.is_empty() {
            let rest = std::mem::take(pending);
            self.line(host, &rest);
        }
    }
}

/// Blocking `Read` and `Write` over the async ends of an agent channel, for code that runs
/// on a blocking thread while the runtime's own thread drives the channel.
fn bridge(
    input: RemoteInput,
    output: RemoteOutput,
    handle: Handle,
) -> Link<BufReader<SyncRead>, BufWriter<SyncWrite>> {
    Link::new(
        BufReader::with_capacity(
            BUFFER,
            SyncRead {
                inner: output,
                handle: handle.clone(),
            },
        ),
        BufWriter::with_capacity(
            BUFFER,
            SyncWrite {
                inner: input,
                handle,
            },
        ),
    )
}

struct SyncRead {
    inner: RemoteOutput,
    handle: Handle,
}

impl Read for SyncRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.handle.block_on(self.inner.read(buf))
    }
}

struct SyncWrite {
    inner: RemoteInput,
    handle: Handle,
}

impl Write for SyncWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handle.block_on(self.inner.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.handle.block_on(self.inner.flush())
    }
}
