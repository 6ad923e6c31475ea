//! prcp through the host's sftp server, for hosts where the agent cannot run (another
//! machine, a home mounted `noexec`, `--no-bootstrap`; see the transport's bootstrap) or with
//! `--sftp`.
//!
//! Every OpenSSH host serves sftp, so such a host still gets its copy, with the same names,
//! modes, quick check, output and exit codes as through the agent. What sftp cannot do the
//! way the agent does, and what is done instead:
//!
//! - **Atomic writes.** A file is written under a temp name in its target folder (the sync
//!   crate's `.<name>.prtools-<16 hex digits>`), given its mode and times, then renamed over
//!   the final name with `posix-rename@openssh.com` (the plain SFTP rename refuses to
//!   replace). A failed write removes the temp file; so does an interrupted one, once the
//!   run stops ([`finish_cleanups`]). Only a client killed outright (SIGKILL) leaves one
//!   behind, and it cannot carry the mark that lets the agent's sweep remove it.
//! - **Confinement.** The agent walks the destination by descriptor and never through a
//!   link. sftp has only path names, resolved by the server: each entry's own name is checked
//!   with `lstat` before it is used (a symlink where a folder of the tree goes is refused), so
//!   only a link planted between that check and the write could be followed.
//! - **Times.** SFTP version 3 carries whole seconds, so `-p` keeps mtimes to the second;
//!   the quick check compares a time without a fraction by seconds, so a second run finds
//!   such copies current. A symlink's own mtime is not set.
//! - **The umask.** The agent applies its own umask to modes without `-p`; here the server's
//!   is learnt once per host, from a folder it makes and removes.

use std::collections::hash_map::RandomState;
use std::future::poll_fn;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures_core::Stream;
use openssh_sftp_client::error::SftpErrorKind;
use openssh_sftp_client::fs::Fs;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder, Permissions};
use openssh_sftp_client::{
    Error as SftpError, Sftp, SftpAuxiliaryData, SftpOptions, UnixTimeStamp,
};
use prtools_sync::{
    quick_check_matches, Entry, Kind, Meta, Mtime, RelPath, ScanError, PERMISSION_BITS,
};
use prtools_transport::{Connection, HostError, KillHandle};
use tokio::task::JoinHandle;

use crate::client::{GatherInto, GatherOptions, LocalTree, PushFlags, Report};
use crate::plan::PushPlan;
use crate::protocol::CHUNK;

/// What the sync crate puts between a name and the random digits of its temp name.
const TEMP_MARK: &str = ".prtools-";

/// How long the removal of an interrupted write's temp file may take when the run stops.
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An sftp session with a host, over one channel of its ssh master.
pub(crate) struct Session {
    sftp: Sftp,
}

impl Session {
    /// Starts the host's sftp subsystem. `kill` learns that there is nothing to kill on the
    /// host: a timeout or an interrupt drops the channel, which ends the server.
    pub(crate) async fn open(conn: &Connection, kill: &KillHandle) -> Result<Session, HostError> {
        kill.nothing_to_kill();
        let mut process = conn.spawn_subsystem("sftp").await?;
        let (Some(stdin), Some(stdout)) = (process.stdin.take(), process.stdout.take()) else {
            return Err(HostError::Other("sftp: the channel has no pipes".into()));
        };
        // The channel's waiter rides along with the session, so that it lives as long as
        // anything (a pending cleanup among them) still uses the session.
        let sftp = Sftp::new_with_auxiliary(
            stdin,
            stdout,
            SftpOptions::new(),
            SftpAuxiliaryData::Boxed(Box::new(Mutex::new(process))),
        )
        .await
        .map_err(|e| {
            HostError::Other(format!(
                "sftp: cannot start the host's sftp server: {}; hint: the host's sshd needs \
                 `Subsystem sftp` in its sshd_config",
                describe(&e)
            ))
        })?;
        Ok(Session { sftp })
    }

    async fn close(self) {
        let _ = self.sftp.close().await;
    }
}

/// An sftp error in a user's words: the server's own message where it sent one.
fn describe(e: &SftpError) -> String {
    match e {
        SftpError::SftpError(_, msg) => msg.to_string(),
        other => other.to_string(),
    }
}

/// An sftp error as the agent's `std::io::Error` would read for the same failure, so that a
/// host served by sftp fails with the words it would fail with through the agent.
fn io_error(e: &SftpError) -> std::io::Error {
    match e {
        SftpError::SftpError(SftpErrorKind::NoSuchFile, _) => {
            std::io::Error::from_raw_os_error(libc::ENOENT)
        }
        SftpError::SftpError(SftpErrorKind::PermDenied, _) => {
            std::io::Error::from_raw_os_error(libc::EACCES)
        }
        other => std::io::Error::other(describe(other)),
    }
}

fn at(path: &Path, e: &SftpError) -> HostError {
    HostError::Other(format!("{}: {}", path.display(), io_error(e)))
}

fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::SftpError(SftpErrorKind::NoSuchFile, _))
}

/// A remote name from bytes.
fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(bytes.to_vec()))
}

/// The parent folder a remote path's entries go into: `.` (the sftp server's starting
/// folder, the home, as for the agent) for a bare name.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads sftp attributes as the sync crate's [`Meta`]; `None` for what prtools never makes
/// or replaces in place (it then reads as special, as a fifo does).
fn meta_of(meta: &MetaData, target: Option<Vec<u8>>) -> Meta {
    let mode = meta
        .permissions()
        .map_or(0, |p| p.as_raw().bits() & PERMISSION_BITS);
    let mtime = Mtime {
        secs: meta.modified().map_or(0, |t| i64::from(t.into_raw())),
        nanos: 0,
    };
    let file_type = meta.file_type();
    let (kind, special) = match file_type {
        Some(t) if t.is_dir() => (Kind::Dir, false),
        Some(t) if t.is_symlink() => (
            Kind::Symlink {
                target: target.unwrap_or_default(),
            },
            false,
        ),
        Some(t) if t.is_file() => (
            Kind::File {
                size: meta.len().unwrap_or(0),
            },
            false,
        ),
        _ => (
            Kind::File {
                size: meta.len().unwrap_or(0),
            },
            true,
        ),
    };
    Meta {
        kind,
        mode,
        mtime,
        special,
    }
}

fn is_dir(meta: &MetaData) -> bool {
    meta.file_type().is_some_and(|t| t.is_dir())
}

fn is_symlink(meta: &MetaData) -> bool {
    meta.file_type().is_some_and(|t| t.is_symlink())
}

/// A fresh temp name beside `path`, as the sync crate names its own (`is_temp_name` knows
/// it): hidden, recognisable, never a name the tree holds.
fn temp_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let name = path.file_name().map_or(&[][..], |n| n.as_bytes());
    // As the sync crate does: the name is cut so that the temp name stays within NAME_MAX.
    let kept = &name[..name.len().min(255 - 1 - TEMP_MARK.len() - 16)];
    let mut temp = b".".to_vec();
    temp.extend_from_slice(kept);
    temp.extend_from_slice(TEMP_MARK.as_bytes());
    temp.extend_from_slice(format!("{:016x}", hasher.finish()).as_bytes());
    parent_of(path).join(path_of(&temp))
}

/// Removals of temp files whose writes were cut off (a timeout, a Ctrl-C): they run on the
/// runtime once the host's job is dropped, and the run waits for them before it exits.
static CLEANUPS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits (a while at most) for the removals of interrupted writes' temp files.
pub(crate) async fn finish_cleanups() {
    let pending: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&CLEANUPS));
    for task in pending {
        let _ = tokio::time::timeout(CLEANUP_WAIT, task).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A temp file on the host that is removed unless it was renamed into place: on an error
/// at once, when the job is dropped mid-write by a task that the run waits for.
struct TempGuard {
    fs: Option<Fs>,
    path: PathBuf,
}

impl TempGuard {
    fn new(fs: &Fs, path: PathBuf) -> TempGuard {
        TempGuard {
            fs: Some(fs.clone()),
            path,
        }
    }

    /// The temp file has its final name now: nothing to remove.
    fn disarm(mut self) {
        self.fs = None;
    }

    /// Removes the temp file now.
    async fn remove(mut self) {
        if let Some(mut fs) = self.fs.take() {
            let _ = fs.remove_file(&self.path).await;
        }
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(mut fs) = self.fs.take() {
            let path = std::mem::take(&mut self.path);
            let task = tokio::spawn(async move {
                let _ = fs.remove_file(&path).await;
            });
            lock(&CLEANUPS).push(task);
        }
    }
}

/// Pushes `plan` to `dest` on the host through its sftp server, as [`crate::client::push`]
/// does through the agent.
pub(crate) async fn push(
    conn: &Connection,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &Report<'_>,
) -> Result<(), HostError> {
    let session = Session::open(conn, report.kill).await?;
    let result = push_with(&session, plan, dest, flags, report).await;
    session.close().await;
    result
}

async fn push_with(
    session: &Session,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &Report<'_>,
) -> Result<(), HostError> {
    let mut fs = session.sftp.fs();
    let dest_path = PathBuf::from(dest);
    let into_dir = fs.metadata(&dest_path).await.is_ok_and(|m| is_dir(&m));
    let list = match (into_dir, &plan.renamed) {
        (true, _) => &plan.into_dir,
        (false, Some(renamed)) => renamed,
        (false, None) => return Err(not_a_folder(&mut fs, &dest_path).await),
    };
    let folder = if into_dir {
        dest_path.clone()
    } else {
        parent_of(&dest_path)
    };
    if !into_dir && !fs.metadata(&folder).await.is_ok_and(|m| is_dir(&m)) {
        return Err(not_a_folder(&mut fs, &folder).await);
    }
    let entries: Vec<Entry> = list
        .iter()
        .map(|wire| {
            wire.clone()
                .into_entry()
                .map_err(|e| HostError::Other(format!("refused: {e}")))
        })
        .collect::<Result<_, _>>()?;
    // Learnt when first needed: a run that writes nothing needs no write access here.
    let mut umask = Umask::Unknown;

    let mut want = Vec::new();
    let mut skipped = 0u64;
    for (index, entry) in entries.iter().enumerate() {
        let path = folder.join(entry.path.as_path());
        let existing = lstat(&mut fs, &path).await?;
        let current = existing
            .as_ref()
            .is_some_and(|meta| quick_check_matches(entry, meta));
        match &entry.kind {
            Kind::Dir => match existing.as_ref().map(|m| &m.kind) {
                Some(Kind::Dir) => {}
                None => {
                    let mut builder = fs.dir_builder();
                    builder.permissions(Permissions::from(0o700));
                    builder.create(&path).await.map_err(|e| at(&path, &e))?;
                }
                Some(Kind::Symlink { .. }) => return Err(through_link(&path)),
                Some(Kind::File { .. }) => {
                    return Err(HostError::Other(format!(
                        "{}: exists and is not a directory",
                        path.display()
                    )))
                }
            },
            Kind::Symlink { target } if !current || flags.force => {
                place_symlink(&mut fs, &path, target).await?;
            }
            Kind::File { .. } if !current || flags.force => want.push(index),
            _ => skipped += 1,
        }
    }
    let wanted: u64 = want.iter().map(|&i| plan.sizes[i]).sum();
    report.progress.add_total(wanted);

    let mut written = 0u64;
    for &index in &want {
        let entry = &entries[index];
        let path = folder.join(entry.path.as_path());
        let local = plan.local[index]
            .as_ref()
            .ok_or_else(|| HostError::Other("sftp: not a file".into()))?;
        let mode = if flags.preserve {
            entry.mode
        } else {
            entry.mode & 0o777 & !umask.get(&mut fs, &folder).await?
        };
        let hash = write_file(session, &mut fs, local, &path, mode, flags, entry, report).await?;
        if let Some(hash) = hash {
            let expected = plan.hash(index).map_err(HostError::Other)?;
            if hash != expected {
                return Err(HostError::Other(format!(
                    "verify failed: {} differs on the host",
                    entry.path.as_path().display()
                )));
            }
        }
        written += 1;
    }

    // Directories last, deepest first, as the agent does: writing inside one changes its
    // mtime, and a read-only mode would stop the writes.
    for entry in entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
        let path = folder.join(entry.path.as_path());
        let mode = if flags.preserve {
            entry.mode
        } else {
            entry.mode & !umask.get(&mut fs, &folder).await?
        };
        let mut attrs = MetaDataBuilder::new();
        attrs.permissions(Permissions::from(mode as u16));
        if flags.preserve {
            let now = fs
                .metadata(&path)
                .await
                .ok()
                .and_then(|m| m.accessed())
                .unwrap_or_else(UnixTimeStamp::unix_epoch);
            attrs.time(now, stamp(entry.mtime));
        }
        fs.set_metadata(&path, attrs.create())
            .await
            .map_err(|e| at(&path, &e))?;
    }
    report.totals.written.fetch_add(written, Ordering::Relaxed);
    report.totals.skipped.fetch_add(skipped, Ordering::Relaxed);
    Ok(())
}

/// An mtime as SFTP version 3 carries it: whole seconds since 1970, in 32 bits.
fn stamp(mtime: Mtime) -> UnixTimeStamp {
    u32::try_from(mtime.secs)
        .ok()
        .and_then(UnixTimeStamp::from_raw)
        .unwrap_or_else(UnixTimeStamp::unix_epoch)
}

/// The server's umask, once learnt.
enum Umask {
    Unknown,
    Known(u32),
}

impl Umask {
    async fn get(&mut self, fs: &mut Fs, folder: &Path) -> Result<u32, HostError> {
        if let Umask::Known(mask) = self {
            return Ok(*mask);
        }
        let mask = server_umask(fs, folder).await?;
        *self = Umask::Known(mask);
        Ok(mask)
    }
}

/// The server's umask: what it takes off a folder it makes with no mode asked for (0777).
async fn server_umask(fs: &mut Fs, folder: &Path) -> Result<u32, HostError> {
    let probe = temp_beside(&folder.join("umask"));
    fs.create_dir(&probe).await.map_err(|e| at(folder, &e))?;
    let meta = fs.metadata(&probe).await;
    let _ = fs.remove_dir(&probe).await;
    let mode = meta
        .map_err(|e| at(folder, &e))?
        .permissions()
        .map_or(0o755, |p| p.as_raw().bits() & 0o777);
    Ok(0o777 & !mode)
}

/// What is at `path` itself (a link is not followed), or `None`.
async fn lstat(fs: &mut Fs, path: &Path) -> Result<Option<Meta>, HostError> {
    match fs.symlink_metadata(path).await {
        Ok(meta) => {
            let target = if is_symlink(&meta) {
                let link = fs.read_link(path).await.map_err(|e| at(path, &e))?;
                Some(link.into_os_string().into_vec())
            } else {
                None
            };
            Ok(Some(meta_of(&meta, target)))
        }
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(at(path, &e)),
    }
}

fn through_link(path: &Path) -> HostError {
    HostError::Other(format!(
        "{} is a symbolic link; refusing to write through it; hint: remove the link, or make \
         it a real directory",
        path.display()
    ))
}

/// Why `path` cannot hold the copies, in the agent's words.
async fn not_a_folder(fs: &mut Fs, path: &Path) -> HostError {
    let shown = path.display();
    HostError::Other(if fs.symlink_metadata(path).await.is_ok() {
        format!("'{shown}' exists and is not a directory; name a folder, or remove it first")
    } else {
        format!(
            "no such folder '{shown}' (No such file or directory); create it first, e.g. \
             `prsh mkdir -p {shown}`"
        )
    })
}

/// Makes a symlink under a temp name, then renames it over `path`.
async fn place_symlink(fs: &mut Fs, path: &Path, target: &[u8]) -> Result<(), HostError> {
    let temp = temp_beside(path);
    // OpenSSH's server takes SSH_FXP_SYMLINK's two paths the other way round from the
    // draft (target first); the crate sends them in OpenSSH's order.
    fs.symlink(path_of(target), &temp)
        .await
        .map_err(|e| at(path, &e))?;
    let guard = TempGuard::new(fs, temp.clone());
    match fs.rename(&temp, path).await {
        Ok(()) => {
            guard.disarm();
            Ok(())
        }
        Err(e) => {
            guard.remove().await;
            Err(at(path, &e))
        }
    }
}

/// Writes one file: a temp file beside `path`, filled from `local`, given its mode (and
/// with -p its mtime), renamed over `path`. With --verify, returns the xxh3-128 of what the
/// host holds, read back.
#[allow(clippy::too_many_arguments)]
async fn write_file(
    session: &Session,
    fs: &mut Fs,
    local: &Path,
    path: &Path,
    mode: u32,
    flags: &PushFlags,
    entry: &Entry,
    report: &Report<'_>,
) -> Result<Option<u128>, HostError> {
    let mut source = std::fs::File::open(local)
        .map_err(|e| HostError::Other(format!("{}: {e}", local.display())))?;
    let temp = temp_beside(path);
    let mut file = session
        .sftp
        .options()
        .write(true)
        .create_new(true)
        .open(&temp)
        .await
        .map_err(|e| at(path, &e))?;
    let guard = TempGuard::new(fs, temp.clone());
    let filled = async {
        loop {
            // A buffer of its own each time, handed over whole: the crate's copying write
            // serialises data a byte at a time, six times slower than OpenSSH's sftp.
            let mut buf = vec![0u8; CHUNK];
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HostError::Other(format!("{}: {e}", local.display()))),
            };
            buf.truncate(n);
            file.write_all_zero_copy(&mut [bytes::Bytes::from(buf)])
                .await
                .map_err(|e| at(path, &e))?;
            report
                .totals
                .bytes_sent
                .fetch_add(n as u64, Ordering::Relaxed);
            report.progress.moved(n as u64);
        }
        // Mode after the writes, which would clear setuid and setgid.
        let mut attrs = MetaDataBuilder::new();
        attrs.permissions(Permissions::from((mode & PERMISSION_BITS) as u16));
        if flags.preserve {
            let accessed = file
                .metadata()
                .await
                .ok()
                .and_then(|m| m.accessed())
                .unwrap_or_else(UnixTimeStamp::unix_epoch);
            attrs.time(accessed, stamp(entry.mtime));
        }
        file.set_metadata(attrs.create())
            .await
            .map_err(|e| at(path, &e))?;
        file.close().await.map_err(|e| at(path, &e))?;
        fs.rename(&temp, path)
            .await
            .map_err(|e| rename_error(path, &e))
    }
    .await;
    if let Err(e) = filled {
        guard.remove().await;
        return Err(e);
    }
    guard.disarm();
    if !flags.verify {
        return Ok(None);
    }
    read_back_hash(session, path).await.map(Some)
}

/// A failed rename in the agent's words where a folder is in the way.
fn rename_error(path: &Path, e: &SftpError) -> HostError {
    at(path, e)
}

/// The xxh3-128 of the file at `path` on the host, as `prtools_sync::hash_reader` computes
/// it: what --verify compares with the local file's.
async fn read_back_hash(session: &Session, path: &Path) -> Result<u128, HostError> {
    let mut file = session.sftp.open(path).await.map_err(|e| at(path, &e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    loop {
        match file.read(CHUNK as u32, bytes::BytesMut::new()).await {
            Ok(Some(bytes)) => hasher.update(&bytes),
            Ok(None) => break,
            Err(e) => return Err(at(path, &e)),
        }
    }
    let _ = file.close().await;
    Ok(hasher.digest128())
}

/// Gathers `paths` from the host through its sftp server, as [`crate::client::gather`]
/// does through the agent.
pub(crate) async fn gather(
    conn: &Connection,
    paths: &[String],
    options: &GatherOptions,
    into: &GatherInto,
    report: &Report<'_>,
) -> Result<(), HostError> {
    let session = Session::open(conn, report.kill).await?;
    let result = gather_with(&session, conn.target().name(), paths, options, into, report).await;
    session.close().await;
    result
}

async fn gather_with(
    session: &Session,
    host: &str,
    paths: &[String],
    options: &GatherOptions,
    into: &GatherInto,
    report: &Report<'_>,
) -> Result<(), HostError> {
    let mut tree = LocalTree::open(host, options, into)?;
    let mut fs = session.sftp.fs();
    for path in paths {
        let path = PathBuf::from(path);
        let folder = parent_of(&path);
        let Some(name) = path.file_name().map(|n| n.as_bytes().to_vec()) else {
            return Err(scan_error(ScanError::NoName { path }));
        };
        let top = RelPath::new(name).map_err(|error| {
            scan_error(ScanError::Name {
                path: path.clone(),
                error,
            })
        })?;
        let mut walk = Walk {
            fs: &mut fs,
            session,
            options,
            folder: &folder,
            tree: &mut tree,
            report,
            ancestors: Vec::new(),
        };
        walk.visit(&top, true).await?;
    }
    tree.finish();
    Ok(())
}

fn scan_error(e: ScanError) -> HostError {
    HostError::Other(e.to_string())
}

/// One gathered operand's walk: entries in the order the agent's scan gives them (a folder,
/// then what is in it, by name).
struct Walk<'w, 't> {
    fs: &'w mut Fs,
    session: &'w Session,
    options: &'w GatherOptions,
    folder: &'w Path,
    tree: &'w mut LocalTree<'t>,
    report: &'w Report<'w>,
    /// The real paths of the folders above, to stop a link loop.
    ancestors: Vec<PathBuf>,
}

impl Walk<'_, '_> {
    async fn visit(&mut self, rel: &RelPath, top: bool) -> Result<(), HostError> {
        let path = self.folder.join(rel.as_path());
        let read = |e: &SftpError| {
            scan_error(ScanError::Read {
                path: path.clone(),
                source: io_error(e),
            })
        };
        let own = self
            .fs
            .symlink_metadata(&path)
            .await
            .map_err(|e| read(&e))?;
        let followed = is_symlink(&own) && !self.options.links;
        let meta = if followed {
            self.fs.metadata(&path).await.map_err(|e| read(&e))?
        } else {
            own
        };
        let target = if is_symlink(&meta) {
            let link = self.fs.read_link(&path).await.map_err(|e| read(&e))?;
            Some(link.into_os_string().into_vec())
        } else {
            None
        };
        let found = meta_of(&meta, target);
        if found.special {
            return Err(scan_error(ScanError::Special { path }));
        }
        let entry = Entry {
            path: rel.clone(),
            kind: found.kind.clone(),
            mode: found.mode,
            mtime: found.mtime,
        };
        match found.kind {
            Kind::Dir if !self.options.recursive && top => {
                Err(scan_error(ScanError::IsDirectory { path }))
            }
            Kind::Dir => {
                let real = self.fs.canonicalize(&path).await.map_err(|e| read(&e))?;
                if let Some(ancestor) = self.ancestors.iter().find(|a| **a == real) {
                    return Err(scan_error(ScanError::Loop {
                        path,
                        ancestor: ancestor.clone(),
                    }));
                }
                self.tree.entry(entry, self.report)?;
                if !self.options.recursive {
                    return Ok(());
                }
                let names = self.list(&path).await.map_err(|e| read(&e))?;
                self.ancestors.push(real);
                for name in names {
                    let child = rel.join(&name).map_err(|error| {
                        scan_error(ScanError::Name {
                            path: path.join(path_of(&name)),
                            error,
                        })
                    })?;
                    Box::pin(self.visit(&child, false)).await?;
                }
                self.ancestors.pop();
                Ok(())
            }
            Kind::Symlink { .. } => {
                self.tree.entry(entry, self.report)?;
                Ok(())
            }
            Kind::File { .. } => {
                let Some(mut local) = self.tree.entry(entry, self.report)? else {
                    return Ok(());
                };
                let mut file = self.session.sftp.open(&path).await.map_err(|e| read(&e))?;
                loop {
                    match file.read(CHUNK as u32, bytes::BytesMut::new()).await {
                        Ok(Some(bytes)) => local.write(&bytes, self.report)?,
                        Ok(None) => break,
                        Err(e) => return Err(read(&e)),
                    }
                }
                let _ = file.close().await;
                local.commit(self.options)
            }
        }
    }

    /// The names in folder `path`, sorted as the agent's scan sorts them, without `.` and
    /// `..` and without temp files of interrupted runs.
    async fn list(&mut self, path: &Path) -> Result<Vec<Vec<u8>>, SftpError> {
        let dir = self.fs.open_dir(path).await?;
        let entries = dir.read_dir();
        let mut entries = std::pin::pin!(entries);
        let mut names = Vec::new();
        while let Some(entry) = poll_fn(|cx| entries.as_mut().poll_next(cx)).await {
            let entry = entry?;
            let name = entry.filename().as_os_str().as_bytes().to_vec();
            if name == b"." || name == b".." || prtools_sync::is_temp_name(&name) {
                continue;
            }
            names.push(name);
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_the_sync_crates() {
        let temp = temp_beside(Path::new("/tmp/stage/run.sh"));
        assert_eq!(temp.parent(), Some(Path::new("/tmp/stage")));
        let name = temp.file_name().unwrap().as_bytes();
        assert!(prtools_sync::is_temp_name(name), "{}", temp.display());
        assert!(name.starts_with(b".run.sh.prtools-"));
        let long = "x".repeat(255);
        let temp = temp_beside(Path::new(&long));
        assert_eq!(temp.parent(), Some(Path::new(".")));
        assert!(temp.file_name().unwrap().len() <= 255);
        assert_ne!(temp_beside(Path::new("a")), temp_beside(Path::new("a")));
    }

    #[test]
    fn whole_second_mtimes() {
        let t = Mtime {
            secs: 1_600_000_000,
            nanos: 123,
        };
        assert_eq!(stamp(t).into_raw(), 1_600_000_000);
        assert_eq!(
            stamp(Mtime { secs: -5, nanos: 0 }).into_raw(),
            UnixTimeStamp::unix_epoch().into_raw()
        );
    }
}
