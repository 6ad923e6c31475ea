//! Getting the agent onto a host: find a usable copy, or upload this executable.
//!
//! prcp, prsync and prdist talk to a copy of themselves started on the host as
//! `<remote-path> --server`. Nothing has to be installed there first: the running executable
//! is uploaded once into `~/.cache/prtools/<version>-<machine>-<hash>/<tool>` and reused by
//! every later run of the same build.
//!
//! The work on the host is done by the shell scripts in `bootstrap/`, run by `sh` whatever
//! the user's login shell is: `start.sh` checks the cached copy and starts it, `probe.sh`
//! checks it for a caller that starts it by path later, `upload.sh` places a new one.
//!
//! # One remote command on a warm host
//!
//! [`start_agent`] checks the cached copy and starts it in the agent's own channel, in one
//! remote command. Only when there is no good copy does it upload one (a second command) and
//! start again (a third). The check costs a hash of megabytes only when the copy's *seal*
//! does not hold; on 16 hosts at once that hash was a visible share of prdist's no-op run
//! (issue 5).
//!
//! # Trust
//!
//! The cache folder is keyed by the version and the first 16 hex digits of the executable's
//! SHA-256, but a copy is never trusted by its name: the check hashes the whole file on the
//! host and compares all 64 digits, so a truncated or altered copy is uploaded again. An
//! upload is written to a temp name, hashed there, and only then made executable and renamed
//! into place, so nothing ever runs a partial or corrupted upload. SHA-256 because every
//! host has `sha256sum` (or `shasum -a 256`), and no other strong hash tool is that common.
//!
//! The check opens the copy once, checks what it opened, and execs that open file
//! (`/proc/self/fd/3`): a copy renamed over it, or removed, between the check and the start
//! changes nothing. Where /proc is missing it execs the name, in the same command. Only
//! [`ensure_agent`]'s callers start the copy by name, in a later command.
//!
//! A copy whose hash the check found right gets a seal, `<tool>.seal`: `uname -sm` and the
//! copy's device, inode, size, mtime and ctime, the times to the nanosecond (GNU `stat`).
//! While the seal matches the open copy, the check skips the hash. A write, a truncation or
//! a chmod sets the file's ctime to the current time, which no user can set back (short of
//! setting the clock back), and a replacement is a new inode. The ctime has the granularity
//! of the file system's clock (a few milliseconds on Linux, whole seconds on some), so a
//! seal is only written when the copy's ctime is strictly older than that of a file made
//! just before the hash began: whatever changes the copy from then on, even within the same
//! tick, leaves a ctime the seal does not hold, and the copy is hashed again. The upload
//! itself leaves no seal (its rename has just set the ctime); the start that follows it
//! seals. A seal is written only on a host whose `uname -sm` is this build's.
//!
//! A seal says the file is unchanged since it was hashed, no more: whoever can write the
//! cache can write a seal for their own file, as they can edit `~/.bashrc`. A host without
//! GNU `stat` (or whose `stat` prints no sub-second times) never gets a seal, and is hashed
//! every run.
//!
//! # Only what is used
//!
//! Each upload removes the other builds of the same tool from the cache, in the same remote
//! command: rebuilds would otherwise pile up (4.4 GB of debug agents were found on one
//! machine). Another run of another build may be using one of them at that moment:
//!
//! - an agent already running runs on (its file lives until it exits), and a start execs the
//!   file it opened;
//! - an upload or a check in progress holds a shared `flock` on its folder, and a removal
//!   takes an exclusive one without waiting, so a folder in use is skipped;
//! - a path handed out by [`ensure_agent`] (prcp's relays start agents by path, later) is
//!   leased for an hour (`<tool>.lease`), and a leased folder is skipped too.
//!
//! Without `flock(1)` or /proc nothing is removed. Only folders named like a build that hold
//! this tool are candidates: `ctl` and other tools' folders stay.
//!
//! # Shared home folders
//!
//! On a cluster, many hosts usually mount one home folder, and a run uploads to all of them
//! at once. Each upload writes its own temp file (a random name) and ends with `mv -f`,
//! which is atomic within a folder: racing uploads of the same build all put identical bytes
//! in place, and a host that checks meanwhile sees either no file or a whole one.
//!
//! # Only the same platform
//!
//! An upload is only sensible where this executable can run, so the host's `uname -sm` must
//! equal this machine's. Elsewhere the user installs a build for that platform and names it
//! with `--remote-path`.
//!
//! # Hosts where the agent cannot run
//!
//! Another `uname -sm`, a home mounted `noexec` (the copy is there, mode 755, and `test -x`
//! still refuses it), an exec that fails with a format or permission error (exit status 126),
//! `--no-bootstrap` with no cached copy, or no `$HOME`: on such a host the agent cannot run,
//! but the host is not broken. [`try_start_agent`] says so as [`AgentStart::CannotRun`], not
//! as a failed host, so that a tool can go in another way (prcp through the host's sftp
//! server); [`start_agent`] turns it into the host's error, for tools that have no other way.

use std::collections::hash_map::RandomState;
use std::ffi::CStr;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::connect::Connection;
use crate::error::HostError;
use crate::process::{KillHandle, Output, RemoteProcess, PID_MARKER};

/// How many bytes of the executable are read and sent at a time.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// Hex digits of the hash that name the cache folder: enough that two builds never share
/// one, short enough to read in a path.
const DIR_HASH_DIGITS: usize = 16;

/// How often [`start_agent`] uploads before it gives up on a host whose copy keeps
/// disappearing between the upload and the start (other builds' uploads pruning it, each
/// time in that moment).
const MAX_UPLOADS: usize = 3;

/// The functions and variables every script uses.
const COMMON_SH: &str = include_str!("bootstrap/common.sh");
/// Checks the cached copy and starts it, or says why not.
const START_SH: &str = include_str!("bootstrap/start.sh");
/// Checks the cached copy for a caller that starts it by path.
const PROBE_SH: &str = include_str!("bootstrap/probe.sh");
/// Places an uploaded copy and prunes other builds.
const UPLOAD_SH: &str = include_str!("bootstrap/upload.sh");

/// The stderr line `start.sh` prints before it execs the cached agent, and the start of the
/// one it prints when it does not (then a tab, `uname -sm`, a tab, `$HOME`).
const STARTED: &[u8] = b"\x1eprtools-agent started";
const MISSING: &[u8] = b"\x1eprtools-agent missing\t";

/// Why the agent cannot run on a host that is otherwise fine: a tool may reach it another
/// way (prcp through sftp). See the module's docs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CannotRun {
    /// The host's `uname -sm` is not this build's.
    OtherMachine {
        /// The host's `uname -sm`.
        remote: String,
        /// This build's.
        local: String,
    },
    /// The copy in the host's cache cannot be executed: a home mounted `noexec`, or an exec
    /// that failed with a format or permission error (the shell's words).
    NotExecutable(String),
    /// `--no-bootstrap`, and the host has no cached copy.
    NoBootstrap,
    /// `$HOME` is not set on the host, so there is no cache to upload to.
    NoHome,
    /// The remote path given (`--rsync-path`, `--remote-path`) names another program: its
    /// `--version` said so (`rsync  version 3.2.7 ...`), as a stock rsync's does.
    GivenIsOther {
        /// The path as given.
        path: String,
        /// The first words of its `--version` line: `rsync version 3.2.7`.
        said: String,
    },
}

impl CannotRun {
    /// Why, in a few words, for a tool that went another way and names the hosts it served so.
    pub fn reason(&self) -> String {
        match self {
            CannotRun::OtherMachine { remote, .. } => format!("remote is '{remote}'"),
            CannotRun::NotExecutable(_) => "its home runs no programs (noexec)".into(),
            CannotRun::NoBootstrap => "no agent there and --no-bootstrap".into(),
            CannotRun::NoHome => "$HOME is not set there".into(),
            CannotRun::GivenIsOther { path, said } => format!("'{path}' there is {said}"),
        }
    }

    /// The host's error, for a tool that has no other way in: what to do about it.
    pub fn error(&self, local: &LocalAgent) -> HostError {
        let tool = &local.tool;
        HostError::Other(match self {
            CannotRun::OtherMachine { remote, local } => format!(
                "agent: remote is '{remote}', this {tool} is '{local}'; install {tool} there \
                 and pass --remote-path PATH"
            ),
            CannotRun::NotExecutable(why) if why.is_empty() => format!(
                "agent: cannot run {tool} from ~/.cache/prtools on the host (is the home \
                 mounted noexec?); install {tool} there and pass --remote-path PATH"
            ),
            CannotRun::NotExecutable(why) => format!(
                "agent: cannot run {tool} on the host: {why}; install {tool} there and pass \
                 --remote-path PATH"
            ),
            CannotRun::NoBootstrap => format!(
                "agent: no {tool} {} on the host and --no-bootstrap forbids uploading; install \
                 it or pass --remote-path PATH",
                local.version
            ),
            CannotRun::NoHome => "agent: $HOME is not set on the host, so there is no cache \
                                  to upload to; pass --remote-path PATH"
                .into(),
            CannotRun::GivenIsOther { path, said } => format!(
                "agent: '{path}' on the host is {said}, not {tool}; pass the path of {tool} \
                 there, or leave the option out"
            ),
        })
    }
}

/// Reads an agent's end before its first reply: exit status 126 from the shell that was to
/// exec it means the exec failed with a format or permission error (`Exec format error`,
/// `Permission denied`), so the agent cannot run there; `stderr` is the shell's words.
/// Only for an agent the bootstrap placed: one named by `--remote-path` is the user's.
pub fn exec_failure(status: i32, stderr: &str) -> Option<CannotRun> {
    (status == EXEC_FAILED).then(|| CannotRun::NotExecutable(failure(status, stderr)))
}

/// The exit status of a shell whose exec found the file but could not run it.
const EXEC_FAILED: i32 = 126;

/// How to find or place the agent on the hosts (from `--remote-path` / `--no-bootstrap`).
#[derive(Clone, Debug, Default)]
pub struct AgentOptions {
    /// `--remote-path PATH`: run this agent on every host, exactly as written (it is pasted
    /// into the remote command line, so it may be `~/bin/prcp` or `sudo prcp`); no checks,
    /// no upload.
    pub remote_path: Option<String>,
    /// `--no-bootstrap`: use a cached copy if there is one, but never upload.
    pub no_bootstrap: bool,
}

/// The local executable to upload, described once per run.
#[derive(Clone, Debug)]
pub struct LocalAgent {
    /// The file whose bytes are uploaded.
    pub path: PathBuf,
    /// The tool's name, e.g. `prcp`: the file name on the host and the name in messages.
    pub tool: String,
    /// The tool's version, e.g. `0.1.0`.
    pub version: String,
    /// SHA-256 of the file, 64 lowercase hex digits.
    pub sha256_hex: String,
    /// `uname -sm` of this machine, e.g. `Linux x86_64`.
    pub uname: String,
}

impl LocalAgent {
    /// Describes the running executable (`std::env::current_exe`).
    pub fn current(tool: &str, version: &str) -> io::Result<LocalAgent> {
        LocalAgent::from_file(&std::env::current_exe()?, tool, version)
    }

    /// Describes the executable at `path`, to be uploaded as `tool` of `version`.
    pub fn from_file(path: &Path, tool: &str, version: &str) -> io::Result<LocalAgent> {
        let mut file = File::open(path).map_err(|e| annotate(e, path))?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher).map_err(|e| annotate(e, path))?;
        Ok(LocalAgent {
            path: path.to_path_buf(),
            tool: tool.to_string(),
            version: version.to_string(),
            sha256_hex: hex(&hasher.finalize()),
            uname: local_uname()?,
        })
    }

    /// The cache folder's name under `~/.cache/prtools`: `<version>-<machine>-<hash
    /// prefix>`, the machine being `uname -sm` with `-` for its space (`Linux-x86_64`). A
    /// home shared by x86_64 and aarch64 nodes holds each machine's build of a version side
    /// by side, and an upload prunes only its own machine's older builds.
    pub fn cache_dir_name(&self) -> String {
        let prefix = self
            .sha256_hex
            .get(..DIR_HASH_DIGITS)
            .unwrap_or(&self.sha256_hex);
        format!("{}-{}-{prefix}", self.version, machine_slug(&self.uname))
    }

    /// The remote command that runs `script` (after the common part) for this agent, with
    /// `more` as its further arguments.
    fn script(&self, script: &str, more: &[&str]) -> String {
        let mut body = compact(COMMON_SH);
        body.push_str(&compact(script));
        let mut command = format!("exec sh -c {} prtools", quote(&body));
        for arg in [
            self.cache_dir_name().as_str(),
            &self.tool,
            &self.uname,
            &self.sha256_hex,
        ]
        .into_iter()
        .chain(more.iter().copied())
        {
            command.push(' ');
            command.push_str(&quote(arg));
        }
        command
    }

    /// Checks that a host's `uname -sm` and `$HOME` allow an upload.
    fn accept(&self, uname: &str, home: &str) -> Result<(), CannotRun> {
        if uname != self.uname {
            return Err(CannotRun::OtherMachine {
                remote: uname.to_string(),
                local: self.uname.clone(),
            });
        }
        if home.is_empty() {
            return Err(CannotRun::NoHome);
        }
        Ok(())
    }
}

/// `uname -sm` as a folder name: `-` for a space, `_` for anything but letters, digits,
/// `.`, `_` and `-` (upload.sh's `prune` makes the same).
fn machine_slug(uname: &str) -> String {
    uname
        .chars()
        .map(|c| match c {
            ' ' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => c,
            _ => '_',
        })
        .collect()
}

/// A script without its comments, blank lines and indentation: it travels on every command
/// line, and shows in `ps` on the host.
fn compact(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for line in script.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// What [`ensure_agent`] did on a host; a tool reports uploads with `--stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `--remote-path` named the agent; nothing was checked.
    Given,
    /// A verified copy was already in the host's cache.
    Cached,
    /// This executable was uploaded into the host's cache.
    Uploaded,
}

/// Finds or places a usable agent on `conn`'s host and returns how to run it: a word for the
/// remote shell, to be pasted as is before ` --server`.
///
/// With `options.remote_path` that path is returned unchecked ([`Placement::Given`]).
/// Otherwise one remote command reads the host's `uname -sm` and checks its cached copy
/// ([`Placement::Cached`] if it is right), and, unless `options.no_bootstrap`, a second one
/// uploads this executable ([`Placement::Uploaded`]). Either way the copy is leased for an
/// hour, so that no other build's upload removes it before the caller starts it. Errors name
/// the fix, typically `--remote-path`.
///
/// The copy is started later, by name: [`start_agent`] checks and starts in one command
/// instead, and is the one to use when the caller does not need a path.
pub async fn ensure_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
) -> Result<(String, Placement), HostError> {
    match try_ensure_agent(conn, local, options).await? {
        Ok(found) => Ok(found),
        Err(cannot) => Err(cannot.error(local)),
    }
}

/// [`ensure_agent`] that tells a host where the agent cannot run ([`CannotRun`]) from a
/// failed one: the inner `Err` is the former.
pub async fn try_ensure_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
) -> Result<Result<(String, Placement), CannotRun>, HostError> {
    if let Some(path) = &options.remote_path {
        return Ok(Ok((path.clone(), Placement::Given)));
    }
    let probe = probe(conn, local).await?;
    if let Err(cannot) = local.accept(&probe.uname, &probe.home) {
        return Ok(Err(cannot));
    }
    let path = quote(&format!(
        "{}/.cache/prtools/{}/{}",
        probe.home,
        local.cache_dir_name(),
        local.tool
    ));
    match probe.state {
        Cached::Verified => return Ok(Ok((path, Placement::Cached))),
        Cached::NotExecutable => return Ok(Err(CannotRun::NotExecutable(String::new()))),
        Cached::No => {}
    }
    if options.no_bootstrap {
        return Ok(Err(CannotRun::NoBootstrap));
    }
    if let Uploaded::NotExecutable = upload(conn, local, Lease::Take).await? {
        return Ok(Err(CannotRun::NotExecutable(String::new())));
    }
    Ok(Ok((path, Placement::Uploaded)))
}

/// A started agent: its process (stdin and stdout still in it) and the rest of its stderr,
/// past the transport's own lines.
pub struct StartedAgent {
    /// The agent; its `stdin` and `stdout` are the protocol channel.
    pub process: RemoteProcess,
    /// The agent's own stderr.
    pub stderr: Output,
    /// How the agent got there.
    pub placement: Placement,
}

/// Starts `<agent> --server` on `conn`'s host, placing the agent first if it must, and
/// records its process group in `kill`.
///
/// One remote command checks the cached copy (its seal, else its hash) and execs the very
/// file it checked (see the module's docs). When there is no good copy, it uploads this
/// executable, unless `options.no_bootstrap`, and starts again. With `options.remote_path`
/// the agent is started as given.
pub async fn start_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
    kill: &KillHandle,
) -> Result<StartedAgent, HostError> {
    match try_start_agent(conn, local, options, kill).await? {
        AgentStart::Started(agent) => Ok(agent),
        AgentStart::CannotRun(cannot) => Err(cannot.error(local)),
    }
}

/// What [`try_start_agent`] found on a host.
// Made once a host and moved once: boxing the agent would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum AgentStart {
    /// The agent runs.
    Started(StartedAgent),
    /// It cannot run there, and why: the host may be reached another way.
    CannotRun(CannotRun),
}

/// [`start_agent`] that tells a host where the agent cannot run ([`AgentStart::CannotRun`])
/// from a failed one. An exec that fails after the start (format or permission error) shows
/// only in how the agent ends: see [`exec_failure`].
pub async fn try_start_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
    kill: &KillHandle,
) -> Result<AgentStart, HostError> {
    if let Some(path) = &options.remote_path {
        if let Some(said) = given_is_other(conn, path, &local.tool).await? {
            let path = path.clone();
            return Ok(AgentStart::CannotRun(CannotRun::GivenIsOther {
                path,
                said,
            }));
        }
        return start_given(conn, path, kill).await.map(AgentStart::Started);
    }
    let mut uploads = 0;
    loop {
        let mut process = conn.spawn_bulk(&local.script(START_SH, &[]), kill).await?;
        let err = process.stderr.take().expect("stderr is piped");
        let mut err = tokio::io::BufReader::new(err);
        let (uname, home) = match verdict(&mut err, kill).await {
            Verdict::Started => {
                return Ok(AgentStart::Started(StartedAgent {
                    process,
                    stderr: Box::new(err),
                    placement: if uploads > 0 {
                        Placement::Uploaded
                    } else {
                        Placement::Cached
                    },
                }));
            }
            Verdict::Missing {
                noexec: true,
                uname,
                ..
            } if uname == local.uname => {
                let _ = process.wait().await;
                return Ok(AgentStart::CannotRun(CannotRun::NotExecutable(
                    String::new(),
                )));
            }
            Verdict::Missing { uname, home, .. } => (uname, home),
            Verdict::Ended(said) => {
                let status = process.wait().await?;
                return Err(HostError::Other(format!(
                    "agent: cannot check the host for {}: {}",
                    local.tool,
                    failure(status, &strip_marker(&said))
                )));
            }
        };
        let _ = process.wait().await;
        if let Err(cannot) = local.accept(&uname, &home) {
            return Ok(AgentStart::CannotRun(cannot));
        }
        if options.no_bootstrap {
            return Ok(AgentStart::CannotRun(CannotRun::NoBootstrap));
        }
        if uploads == MAX_UPLOADS {
            return Err(HostError::Other(format!(
                "agent: the uploaded {tool} was gone or changed before it could start, \
                 {MAX_UPLOADS} times; something on the host keeps removing \
                 ~/.cache/prtools/{}/{tool}",
                local.cache_dir_name(),
                tool = local.tool,
            )));
        }
        if let Uploaded::NotExecutable = upload(conn, local, Lease::None).await? {
            return Ok(AgentStart::CannotRun(CannotRun::NotExecutable(
                String::new(),
            )));
        }
        uploads += 1;
    }
}

/// Starts the agent that `--remote-path` names, as written.
/// Asks the program at the given remote path for its `--version` and returns its first
/// words when they are another program's version banner (a stock rsync's `rsync  version
/// 3.2.7  protocol version 31`); None when they name the tool or are no banner, or when it
/// says nothing on stdout (a missing program, whose start then fails with its own words).
async fn given_is_other(
    conn: &Connection,
    path: &str,
    tool: &str,
) -> Result<Option<String>, HostError> {
    let probe = KillHandle::default();
    let mut process = conn
        .spawn(&format!("{path} --version"), false, &probe)
        .await?;
    let mut head = Vec::new();
    if let Some(out) = process.stdout.take() {
        let _ = out.take(4096).read_to_end(&mut head).await;
    }
    let _ = process.wait().await;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let words: Vec<String> = String::from_utf8_lossy(line)
        .split_whitespace()
        .take(3)
        .map(String::from)
        .collect();
    // Only a version banner counts (`rsync  version 3.2.7 ...`): a program that answers
    // with anything else (a hostile or broken agent echoing its frames) is started as
    // given, and judged by what it does then.
    let banner = words.get(1).is_some_and(|w| w == "version");
    Ok(match words.first() {
        Some(first) if banner && first != tool => Some(words.join(" ")),
        _ => None,
    })
}

async fn start_given(
    conn: &Connection,
    path: &str,
    kill: &KillHandle,
) -> Result<StartedAgent, HostError> {
    let mut process = conn.spawn_bulk(&format!("{path} --server"), kill).await?;
    let err = process.stderr.take().expect("stderr is piped");
    // Only an ssh command prints the pid marker first. A local exec transport prints none,
    // and the agent writes nothing to stderr until it exits, which it does only after the
    // request this caller sends once we return: waiting for a first line there hung every
    // first run over `-R exec` (issue 13).
    if !conn.marks_pid() {
        return Ok(StartedAgent {
            process,
            stderr: err,
            placement: Placement::Given,
        });
    }
    let mut err = tokio::io::BufReader::new(err);
    let mut first = Vec::new();
    let _ = err.read_until(b'\n', &mut first).await;
    let stderr: Output = if kill.take_marker(first.strip_suffix(b"\n").unwrap_or(&first)) {
        Box::new(err)
    } else {
        // No marker where one was due: the line is the agent's own.
        Box::new(AsyncReadExt::chain(std::io::Cursor::new(first), err))
    };
    Ok(StartedAgent {
        process,
        stderr,
        placement: Placement::Given,
    })
}

/// What `start.sh` said.
enum Verdict {
    /// It execs the agent; the rest of stderr is the agent's.
    Started,
    /// No good copy; the host's `uname -sm` and `$HOME`, and whether a copy is there that
    /// cannot be executed (a noexec home).
    Missing {
        uname: String,
        home: String,
        noexec: bool,
    },
    /// It ended without a verdict; what it printed.
    Ended(Vec<u8>),
}

/// Reads `start.sh`'s stderr up to its verdict, handing the pid marker to `kill` on the way.
/// Anything else the remote shell printed first (a noisy login script) is dropped, unless no
/// verdict comes: then it may say why.
async fn verdict<R: tokio::io::AsyncBufRead + Unpin>(err: &mut R, kill: &KillHandle) -> Verdict {
    let mut said = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match err.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return Verdict::Ended(said),
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text == STARTED {
            return Verdict::Started;
        }
        if let Some(rest) = text.strip_prefix(MISSING) {
            let rest = String::from_utf8_lossy(rest);
            let mut fields = rest.split('\t');
            let uname = fields.next().unwrap_or_default().to_string();
            let home = fields.next().unwrap_or_default().to_string();
            return Verdict::Missing {
                uname,
                home,
                noexec: fields.next() == Some("noexec"),
            };
        }
        if !kill.take_marker(text) {
            said.extend_from_slice(&line);
        }
    }
}

/// What the check command found on the host.
struct Probe {
    uname: String,
    home: String,
    state: Cached,
}

/// The cached copy, as the probe found it.
enum Cached {
    /// This build's (its seal held or its hash matched), and now leased.
    Verified,
    /// There, and not executable even with its x bit: a noexec home.
    NotExecutable,
    /// Missing or not this build's.
    No,
}

/// One remote command: `uname -sm`, `$HOME`, and whether the cached copy is right.
async fn probe(conn: &Connection, local: &LocalAgent) -> Result<Probe, HostError> {
    let (status, stdout, stderr) = run_remote(conn, &local.script(PROBE_SH, &[]), None).await?;
    let text = String::from_utf8_lossy(&stdout);
    let mut lines = text.lines();
    let (Some(uname), Some(home)) = (lines.next(), lines.next()) else {
        return Err(HostError::Other(format!(
            "agent: cannot check the host for {}: {}",
            local.tool,
            failure(status, &stderr)
        )));
    };
    Ok(Probe {
        uname: uname.trim().to_string(),
        home: home.to_string(),
        state: match lines.next() {
            Some("verified") => Cached::Verified,
            Some("noexec") => Cached::NotExecutable,
            _ => Cached::No,
        },
    })
}

/// Whether an upload leases the copy (see the module's docs).
#[derive(Clone, Copy)]
enum Lease {
    /// The caller starts it by path, later.
    Take,
    /// The caller starts it at once, through `start.sh`.
    None,
}

/// One remote command: stream the executable into a temp file, check its hash, then make it
/// executable and rename it into place, and remove the other builds of the tool. Anything
/// that fails removes the temp file.
/// What an upload left on the host.
enum Uploaded {
    /// A copy that runs.
    Runnable,
    /// A copy in place that cannot be executed: the home is mounted noexec.
    NotExecutable,
}

async fn upload(
    conn: &Connection,
    local: &LocalAgent,
    lease: Lease,
) -> Result<Uploaded, HostError> {
    let tmp = format!(".{}.tmp.{:016x}", local.tool, random_u64());
    let lease = match lease {
        Lease::Take => "1",
        Lease::None => "0",
    };
    let command = local.script(UPLOAD_SH, &[&tmp, lease]);
    let file = File::open(&local.path).map_err(|e| {
        HostError::Other(format!("agent: cannot read {}: {e}", local.path.display()))
    })?;
    let (status, stdout, stderr) = run_remote(conn, &command, Some(file)).await?;
    if status == 0 {
        Ok(if stdout.split(|&b| b == b'\n').any(|l| l == b"noexec") {
            Uploaded::NotExecutable
        } else {
            Uploaded::Runnable
        })
    } else {
        Err(HostError::Other(format!(
            "agent: upload failed: {}",
            failure(status, &stderr)
        )))
    }
}

/// Runs `command` on the host, feeding it `input` if given, and returns its exit status,
/// stdout and stderr (without the pid marker line). All three streams are serviced at once,
/// so a command that fails early or writes much is never stuck on a full pipe.
async fn run_remote(
    conn: &Connection,
    command: &str,
    input: Option<File>,
) -> Result<(i32, Vec<u8>, String), HostError> {
    let mut process = conn
        .spawn(command, input.is_some(), &KillHandle::default())
        .await?;
    let stdin = process.stdin.take();
    let feed = async {
        let (Some(mut pipe), Some(mut file)) = (stdin, input) else {
            return Ok(());
        };
        let mut chunk = vec![0u8; UPLOAD_CHUNK];
        loop {
            // A blocking read, but of a local executable that is almost always in the page
            // cache: microseconds per chunk, cheaper than a thread hop.
            let n = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // The command may have failed and closed its stdin (mkdir refused): its stderr
            // says why, so a write error here is not the error to report.
            if pipe.write_all(&chunk[..n]).await.is_err() {
                return Ok(());
            }
        }
        let _ = pipe.shutdown().await;
        Ok(())
    };
    let (fed, stdout, stderr) = tokio::join!(
        feed,
        read_all(process.stdout.take()),
        read_all(process.stderr.take())
    );
    let io_error = |e: io::Error| HostError::Other(format!("agent: remote command failed: {e}"));
    fed.map_err(io_error)?;
    let stdout = stdout.map_err(io_error)?;
    let stderr = stderr.map_err(io_error)?;
    // Only after both outputs reached EOF, as in `run_command`: collecting the status first
    // can cut the output short.
    let status = process.wait().await?;
    Ok((status, stdout, strip_marker(&stderr)))
}

async fn read_all(pipe: Option<Output>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

/// The stderr text without the pid marker line ssh commands start with.
fn strip_marker(stderr: &[u8]) -> String {
    let rest = match stderr.strip_prefix(PID_MARKER) {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |i| &rest[i + 1..]),
        None => stderr,
    };
    String::from_utf8_lossy(rest).into_owned()
}

/// The remote command's own words if it said anything, else its exit status.
fn failure(status: i32, stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        format!("exit status {status}")
    } else {
        text.lines().map(str::trim).collect::<Vec<_>>().join("; ")
    }
}

/// `s` as one word for a POSIX shell: in single quotes, each `'` written as `'\''`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name part no other upload picks: the standard library's randomly keyed hasher, fed
/// with a per-process counter, the pid and the time. The remote side appends its own pid
/// too, since hosts that share a home folder share nothing else.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// `uname -sm` of this machine.
fn local_uname() -> io::Result<String> {
    // SAFETY: utsname is plain C data; all-zero bytes are a valid (empty) value.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a valid, writable utsname for the duration of the call.
    if unsafe { libc::uname(&mut name) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success uname fills both fields with NUL-terminated strings that fit them.
    let (sysname, machine) = unsafe {
        (
            CStr::from_ptr(name.sysname.as_ptr()),
            CStr::from_ptr(name.machine.as_ptr()),
        )
    };
    Ok(format!(
        "{} {}",
        sysname.to_string_lossy(),
        machine.to_string_lossy()
    ))
}

fn annotate(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn strips_the_pid_marker() {
        let mut stderr = PID_MARKER.to_vec();
        stderr.extend_from_slice(b"123\nmkdir: Permission denied\n");
        assert_eq!(strip_marker(&stderr), "mkdir: Permission denied\n");
        assert_eq!(strip_marker(b"no marker\n"), "no marker\n");
        let mut only = PID_MARKER.to_vec();
        only.extend_from_slice(b"123\n");
        assert_eq!(strip_marker(&only), "");
    }

    #[test]
    fn uname_is_like_the_command() {
        let out = std::process::Command::new("uname")
            .arg("-sm")
            .output()
            .unwrap();
        assert_eq!(
            local_uname().unwrap(),
            String::from_utf8(out.stdout).unwrap().trim()
        );
    }

    #[test]
    fn hashes_like_sha256sum() {
        let path = Path::new("/bin/sh");
        let agent = LocalAgent::from_file(path, "prcp", "0.1.0").unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(path)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(agent.sha256_hex, text.split_whitespace().next().unwrap());
        assert_eq!(
            agent.cache_dir_name(),
            format!(
                "0.1.0-{}-{}",
                machine_slug(&local_uname().unwrap()),
                &agent.sha256_hex[..16]
            )
        );
    }

    /// Runs `code` after the common part of the scripts, in `sh`, as the host would.
    fn common_sh(code: &str) -> std::process::Output {
        let script = compact(COMMON_SH) + &compact(code);
        std::process::Command::new("sh")
            .args(["-c", &script, "prtools", "n", "t", "u", "s"])
            .env("HOME", "/nonexistent")
            .output()
            .unwrap()
    }

    #[test]
    fn times_compare_to_the_nanosecond() {
        let before = |a: &str, b: &str| common_sh(&format!("before {a} {b}")).status.success();
        assert!(before("1796504844.333985416", "1796504844.333985417"));
        assert!(before("1796504843.999999999", "1796504844.000000000"));
        // The same tick is not before: a change in it could follow the hash.
        assert!(!before("1796504844.333985416", "1796504844.333985416"));
        assert!(!before("1796504844.333985417", "1796504844.333985416"));
        // Anything but two stamps' times never seals.
        assert!(!before("", "1796504844.333985416"));
        assert!(!before("1796504844.333985416", ""));
        assert!(!before("17965x4844.333985416", "1796504845.333985416"));
    }

    #[test]
    fn a_stamp_has_nanosecond_times_or_is_empty() {
        let out = common_sh("stamp /bin/sh; stamp /nonexistent");
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let fields: Vec<&str> = lines[0].split(':').collect();
        assert_eq!(fields.len(), 5, "{text}");
        for time in &fields[3..] {
            let (seconds, nanos) = time.split_once('.').unwrap();
            assert!(seconds.parse::<u64>().is_ok(), "{text}");
            assert_eq!(nanos.len(), 9, "{text}");
        }
    }

    #[test]
    fn scripts_travel_without_comments_or_indentation() {
        assert_eq!(
            compact("# why\n  a=1\n\n    # more\n  b=2 # kept\n"),
            "a=1\nb=2 # kept\n"
        );
        for script in [COMMON_SH, START_SH, PROBE_SH, UPLOAD_SH] {
            assert!(!compact(script).contains("\n#"));
        }
    }

    #[test]
    fn only_a_failed_exec_means_the_agent_cannot_run() {
        assert_eq!(
            exec_failure(126, "sh: 1: exec: /x: Exec format error\n"),
            Some(CannotRun::NotExecutable(
                "sh: 1: exec: /x: Exec format error".into()
            ))
        );
        assert_eq!(exec_failure(1, "prcp agent: disk full\n"), None);
        assert_eq!(exec_failure(0, ""), None);
    }

    #[test]
    fn the_start_verdict_says_noexec() {
        let read = |text: &[u8]| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(verdict(&mut &text[..], &KillHandle::default()))
        };
        let mut line = MISSING.to_vec();
        line.extend_from_slice(b"Linux x86_64\t/root\tnoexec\n");
        match read(&line) {
            Verdict::Missing {
                uname,
                home,
                noexec,
            } => assert_eq!(
                (uname.as_str(), home.as_str(), noexec),
                ("Linux x86_64", "/root", true)
            ),
            _ => panic!("not a missing verdict"),
        }
        let mut line = MISSING.to_vec();
        line.extend_from_slice(b"Linux aarch64\t/root\t\n");
        assert!(matches!(
            read(&line),
            Verdict::Missing { noexec: false, .. }
        ));
    }

    #[test]
    fn failure_prefers_the_remote_words() {
        assert_eq!(failure(1, "  \n"), "exit status 1");
        assert_eq!(
            failure(1, "mkdir: cannot create\n  disk full\n"),
            "mkdir: cannot create; disk full"
        );
    }
}
