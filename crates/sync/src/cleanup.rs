//! Temp files removed when the process is told to stop.
//!
//! An agent killed on the host (a second Ctrl-C, a `--timeout`) gets SIGTERM before SIGKILL.
//! Dying by the default action would leave the temp files of the files it was writing; the
//! next run's sweep would remove them, but a user who pressed Ctrl-C twice expects no
//! leftovers now. So every [`AtomicFile`](crate::AtomicFile) is listed here while it exists,
//! and [`remove_temps_on_signal`] removes the listed ones when a stop signal comes, then exits.
//!
//! The signals are taken by one thread with `sigwait`, not by a handler: a handler may not
//! take a lock or allocate, and this one must read the list.

use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// A temp file that exists now.
struct Live {
    /// Its folder's descriptor.
    dir: RawFd,
    temp: Vec<u8>,
    /// With rsync's `--partial`: where what was written goes at a stop, instead of being
    /// removed.
    keep_as: Option<Keep>,
}

/// Where a temp file is kept at a stop: `name` in the folder `into` (its own folder when
/// `None`), inside `subdir` of it, made if missing (rsync's relative `--partial-dir`).
pub(crate) struct Keep {
    pub(crate) into: Option<RawFd>,
    pub(crate) subdir: Option<Vec<u8>>,
    pub(crate) name: Vec<u8>,
}

/// The temp files that exist now, by a number.
static LIVE: Mutex<BTreeMap<u64, Live>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

fn live() -> MutexGuard<'static, BTreeMap<u64, Live>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists a temp file; `dir` must stay open until [`forget`] is called with the number.
pub(crate) fn register(dir: RawFd, temp: &[u8]) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let temp = temp.to_vec();
    live().insert(
        id,
        Live {
            dir,
            temp,
            keep_as: None,
        },
    );
    id
}

/// At a stop, the listed temp file `id` is renamed to where `keep` says, not removed; the
/// folder `keep.into` must stay open while the file is listed.
pub(crate) fn keep_on_stop(id: u64, keep: Keep) {
    if let Some(entry) = live().get_mut(&id) {
        entry.keep_as = Some(keep);
    }
}

/// Renames the temp file `temp` in `dir` to where `keep` says; a missing `subdir` is made.
/// Plain libc calls: this also runs on the stop-signal thread.
pub(crate) fn move_to_keep(dir: RawFd, temp: &[u8], keep: &Keep) -> std::io::Result<()> {
    use std::ffi::CString;
    let bad = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let temp = CString::new(temp).map_err(bad)?;
    let name = CString::new(keep.name.as_slice()).map_err(bad)?;
    let into = keep.into.unwrap_or(dir);
    let mut opened = None;
    if let Some(sub) = &keep.subdir {
        let sub = CString::new(sub.as_slice()).map_err(bad)?;
        // SAFETY: `into` is an open folder and `sub` a valid C string; the new descriptor
        // is closed below.
        let fd = unsafe {
            libc::mkdirat(into, sub.as_ptr(), 0o700);
            libc::openat(
                into,
                sub.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        opened = Some(fd);
    }
    let target = opened.unwrap_or(into);
    // SAFETY: both folders are open, the names valid C strings.
    let rc = unsafe { libc::renameat(dir, temp.as_ptr(), target, name.as_ptr()) };
    let result = match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    if let Some(fd) = opened {
        // SAFETY: `fd` was opened above and is not used after.
        unsafe { libc::close(fd) };
    }
    result
}

/// Takes a temp file off the list: it was renamed into place or removed.
pub(crate) fn forget(id: u64) {
    live().remove(&id);
}

/// A temp file made by path, outside [`AtomicFile`](crate::AtomicFile) (the receiver of a
/// pull over rsync's protocol writes so), listed while it lives: a stop signal removes it,
/// or with a [`StopKeep`] (rsync's `--partial`, `--partial-dir`) moves it there. Dropping
/// the guard takes it off the list (the file was renamed into place or removed).
pub struct ListedTemp {
    id: u64,
    /// The folder, open while the file is listed.
    _dir: std::fs::File,
    /// The folder it would be kept in, when not its own, open while it is listed.
    _keep_in: Option<std::fs::File>,
}

/// Where a listed temp file goes at a stop, instead of being removed.
pub struct StopKeep<'a> {
    /// The folder (the temp's own when `None`), opened when the temp is listed.
    pub folder: Option<&'a std::path::Path>,
    /// A folder inside it, made at the stop if missing (rsync's `--partial-dir`).
    pub subdir: Option<&'a [u8]>,
    /// The name it is kept under.
    pub name: &'a [u8],
}

impl ListedTemp {
    /// Lists `temp`, a name in the folder `dir`.
    pub fn new(
        dir: &std::path::Path,
        temp: &[u8],
        keep: Option<StopKeep<'_>>,
    ) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let folder = std::fs::File::open(dir)?;
        // A keeping folder that cannot be opened (an absolute --partial-dir's parent that
        // is missing) leaves the file to be removed, as rsync removes what it cannot keep.
        let keep_in = keep
            .as_ref()
            .and_then(|k| k.folder)
            .map(std::fs::File::open);
        let keep = keep.filter(|_| !matches!(keep_in, Some(Err(_))));
        let keep_in = keep_in.and_then(Result::ok);
        let id = register(folder.as_raw_fd(), temp);
        if let Some(k) = keep {
            keep_on_stop(
                id,
                Keep {
                    into: keep_in.as_ref().map(|f| f.as_raw_fd()),
                    subdir: k.subdir.map(<[u8]>::to_vec),
                    name: k.name.to_vec(),
                },
            );
        }
        Ok(ListedTemp {
            id,
            _dir: folder,
            _keep_in: keep_in,
        })
    }
}

impl Drop for ListedTemp {
    fn drop(&mut self) {
        forget(self.id);
    }
}

/// The signals that stop an agent: SIGTERM from a kill, SIGINT and SIGHUP from a terminal.
const STOPS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// From now on, a stop signal removes every listed temp file (or keeps it under its final
/// name, see [`keep_on_stop`]) and exits with `exit`, or 128 + the signal's number.
///
/// Call it first thing in `main`, before any other thread starts: the signals are blocked in
/// this thread, and threads started later inherit that, so only the waiting thread gets them.
pub fn remove_temps_on_signal(exit: Option<i32>) -> std::io::Result<()> {
    // SAFETY: sigset_t is plain C data, initialised by sigemptyset before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in STOPS {
            libc::sigaddset(&mut set, signal);
        }
    }
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let blocked = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if blocked != 0 {
        return Err(std::io::Error::from_raw_os_error(blocked));
    }
    std::thread::Builder::new()
        .name("stop-signals".into())
        .spawn(move || {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` and `signal` are valid for the call; sigwait only fails for an
            // invalid set, which this is not.
            while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
            let list = live();
            for entry in list.values() {
                let Ok(temp) = std::ffi::CString::new(entry.temp.as_slice()) else {
                    continue;
                };
                // `dir` is open while listed (the list is locked, so no file can be dropped
                // meanwhile).
                let kept = entry
                    .keep_as
                    .as_ref()
                    .is_some_and(|keep| move_to_keep(entry.dir, &entry.temp, keep).is_ok());
                if !kept {
                    // SAFETY: as above; the name is a valid C string.
                    unsafe { libc::unlinkat(entry.dir, temp.as_ptr(), 0) };
                }
            }
            // SAFETY: ends the process at once, holding the lock so no file is renamed into
            // place after its temp file was removed.
            unsafe { libc::_exit(exit.unwrap_or(128 + signal)) };
        })?;
    Ok(())
}
