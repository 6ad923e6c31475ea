//! Getting the agent onto a host: find a usable copy, or upload this executable.
//!
//! prcp, prsync and prdist talk to a copy of themselves started on the host as
//! `<remote-path> --server`. Nothing has to be installed there first: the running executable
//! is uploaded once into `~/.cache/prtools/<version>-<hash>/<tool>` and reused by every later
//! run of the same build.
//!
//! # One remote command on a warm host
//!
//! [`start_agent`] first tries to start a cached copy directly, in the agent's own channel,
//! if the copy's *seal* holds; only when it does not does it fall back to the check (and the
//! upload) and start the agent in a second command. Every host of a run costs one channel
//! fewer than checking first, and none hashes a file of megabytes: on 16 hosts at once that
//! was a visible share of prdist's no-op run (issue 5).
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
//! Once a copy's hash has been checked on the host, the check writes its seal beside it,
//! `<tool>.seal`: `uname -sm` and the copy's device, inode, size, mtime and ctime, as GNU
//! `stat` prints them. Any change to the file (a write, a truncation, a chmod, a replacement)
//! changes its ctime or inode, which no user can set back, so a seal that still matches
//! proves the file is the one that was hashed. A host without GNU `stat` never matches and
//! is checked every run, as before.
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

/// Prints the SHA-256 of stdin as `HEX  -`: GNU coreutils' tool, else the Perl one that BSDs
/// and macOS ship.
const SHA256_OF_STDIN: &str = "{ sha256sum || shasum -a 256; } 2>/dev/null";

/// Shell code printing the seal of the file `$f`: `uname -sm`, then its device, inode, size,
/// mtime and ctime (see the module's Trust section). Fails without GNU `stat`.
const SEAL_OF_F: &str = "s=$(stat -L -c %d:%i:%s:%Y:%Z -- \"$f\" 2>/dev/null) && \
                          printf '%s %s\\n' \"$(uname -sm)\" \"$s\"";

/// Shell code that writes `$f`'s seal beside it, atomically; a failure only costs speed.
fn write_seal() -> String {
    format!(
        "{{ {SEAL_OF_F} >\"$f\".seal.$$ && mv -f \"$f\".seal.$$ \"$f\".seal || \
         rm -f \"$f\".seal.$$; }} 2>/dev/null"
    )
}

/// The stderr line the sealed start prints before it execs the cached agent, and the one it
/// prints when there is no sealed agent to exec.
const SEALED_STARTED: &[u8] = b"\x1eprtools-agent started";
const SEALED_MISSING: &[u8] = b"\x1eprtools-agent missing";

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

    /// The cache folder's name under `~/.cache/prtools`: `<version>-<hash prefix>`.
    fn cache_dir_name(&self) -> String {
        let prefix = self
            .sha256_hex
            .get(..DIR_HASH_DIGITS)
            .unwrap_or(&self.sha256_hex);
        format!("{}-{prefix}", self.version)
    }

    /// Shell code that sets `d` to the cache folder and `f` to the agent in it.
    fn shell_paths(&self) -> String {
        format!(
            "d=\"$HOME\"/.cache/prtools/{}; f=\"$d\"/{}",
            quote(&self.cache_dir_name()),
            quote(&self.tool)
        )
    }
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
/// Otherwise one remote command reads the host's `uname -sm` and hashes its cached copy
/// ([`Placement::Cached`] if it matches), and, unless `options.no_bootstrap`, a second one
/// uploads this executable ([`Placement::Uploaded`]). Errors name the fix, typically
/// `--remote-path`.
pub async fn ensure_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
) -> Result<(String, Placement), HostError> {
    if let Some(path) = &options.remote_path {
        return Ok((path.clone(), Placement::Given));
    }
    let probe = probe(conn, local).await?;
    if probe.uname != local.uname {
        return Err(HostError::Other(format!(
            "agent: remote is '{}', this {tool} is '{}'; install {tool} there and pass \
             --remote-path PATH",
            probe.uname,
            local.uname,
            tool = local.tool
        )));
    }
    let path = quote(&format!(
        "{}/.cache/prtools/{}/{}",
        probe.home,
        local.cache_dir_name(),
        local.tool
    ));
    if probe.sha256.as_deref() == Some(local.sha256_hex.as_str()) {
        return Ok((path, Placement::Cached));
    }
    if options.no_bootstrap {
        return Err(HostError::Other(format!(
            "agent: no {} {} on the host and --no-bootstrap forbids uploading; install it or \
             pass --remote-path PATH",
            local.tool, local.version
        )));
    }
    upload(conn, local).await?;
    Ok((path, Placement::Uploaded))
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
/// Tries the sealed cached copy first, in the agent's own channel (see the module's docs);
/// when there is none, or its seal does not match, checks and uploads as [`ensure_agent`]
/// does and starts it in a second command.
pub async fn start_agent(
    conn: &Connection,
    local: &LocalAgent,
    options: &AgentOptions,
    kill: &KillHandle,
) -> Result<StartedAgent, HostError> {
    if options.remote_path.is_none() {
        let sealed = format!(
            "{paths}; if [ -x \"$f\" ] && read -r k <\"$f\".seal 2>/dev/null && \
             [ \"$k\" = \"$({SEAL_OF_F})\" ]; then printf '\\036prtools-agent started\\n' >&2; \
             exec \"$f\" --server; fi; printf '\\036prtools-agent missing\\n' >&2",
            paths = local.shell_paths(),
        );
        let mut process = conn.spawn_bulk(&sealed, kill).await?;
        let err = process.stderr.take().expect("stderr is piped");
        let mut err = tokio::io::BufReader::new(err);
        if started_line(&mut err, kill).await {
            return Ok(StartedAgent {
                process,
                stderr: Box::new(err),
                placement: Placement::Cached,
            });
        }
        let _ = process.wait().await;
    }
    let (path, placement) = ensure_agent(conn, local, options).await?;
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
            placement,
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
        placement,
    })
}

/// Reads the sealed start's stderr up to its verdict, handing the pid marker to `kill` on the
/// way, and says whether the agent was started. Anything else the remote shell printed
/// first (a noisy login script) is dropped.
async fn started_line<R: tokio::io::AsyncBufRead + Unpin>(err: &mut R, kill: &KillHandle) -> bool {
    let mut line = Vec::new();
    loop {
        line.clear();
        match err.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text == SEALED_STARTED {
            return true;
        }
        if text == SEALED_MISSING {
            return false;
        }
        kill.take_marker(text);
    }
}

/// What the check command found on the host.
struct Probe {
    uname: String,
    home: String,
    /// The cached copy's SHA-256, if it exists and is an executable file.
    sha256: Option<String>,
}

/// One remote command: `uname -sm`, `$HOME`, and the hash of the cached copy, one a line.
async fn probe(conn: &Connection, local: &LocalAgent) -> Result<Probe, HostError> {
    // A copy whose hash matches gets its seal, so the next run starts it without this.
    let command = format!(
        "{}; uname -sm; printf '%s\\n' \"$HOME\"; \
         if [ -f \"$f\" ] && [ -x \"$f\" ]; then h=$({SHA256_OF_STDIN} <\"$f\"); \
         printf '%s\\n' \"$h\"; if [ \"${{h%% *}}\" = {} ]; then {}; fi; fi; true",
        local.shell_paths(),
        quote(&local.sha256_hex),
        write_seal()
    );
    let (status, stdout, stderr) = run_remote(conn, &command, None).await?;
    let text = String::from_utf8_lossy(&stdout);
    let mut lines = text.lines();
    let (Some(uname), Some(home)) = (lines.next(), lines.next()) else {
        return Err(HostError::Other(format!(
            "agent: cannot check the host for {}: {}",
            local.tool,
            failure(status, &stderr)
        )));
    };
    if home.is_empty() {
        return Err(HostError::Other(
            "agent: $HOME is not set on the host, so there is no cache to upload to; \
             pass --remote-path PATH"
                .into(),
        ));
    }
    let sha256 = lines
        .next()
        .and_then(|line| line.split_whitespace().next())
        .map(str::to_ascii_lowercase);
    Ok(Probe {
        uname: uname.trim().to_string(),
        home: home.to_string(),
        sha256,
    })
}

/// One remote command: stream the executable into a temp file, check its hash, then make it
/// executable and rename it into place. Anything that fails removes the temp file.
async fn upload(conn: &Connection, local: &LocalAgent) -> Result<(), HostError> {
    let tmp = format!(".{}.tmp.{:016x}", local.tool, random_u64());
    let expected = quote(&local.sha256_hex);
    let command = format!(
        "{paths}; t=\"$d\"/{tmp}.$$; \
         mkdir -p \"$d\" && cat >\"$t\" || {{ rm -f \"$t\"; exit 1; }}; \
         h=$({SHA256_OF_STDIN} <\"$t\"); h=${{h%% *}}; \
         if [ \"$h\" != {expected} ]; then rm -f \"$t\"; \
         echo \"sha256 of the uploaded copy is ${{h:-unknown}}, expected \"{expected} >&2; \
         exit 1; fi; \
         chmod 755 \"$t\" && mv -f \"$t\" \"$f\" || {{ rm -f \"$t\"; exit 1; }}; {seal}",
        paths = local.shell_paths(),
        tmp = quote(&tmp),
        seal = write_seal(),
    );
    let file = File::open(&local.path).map_err(|e| {
        HostError::Other(format!("agent: cannot read {}: {e}", local.path.display()))
    })?;
    let (status, _, stderr) = run_remote(conn, &command, Some(file)).await?;
    if status == 0 {
        Ok(())
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
            format!("0.1.0-{}", &agent.sha256_hex[..16])
        );
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
