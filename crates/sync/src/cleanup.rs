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
    /// With rsync's `--partial`: the name what was written goes to at a stop, instead of
    /// being removed.
    keep_as: Option<Vec<u8>>,
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

/// At a stop, the listed temp file `id` is renamed to `name` (in its folder), not removed.
pub(crate) fn keep_on_stop(id: u64, name: &[u8]) {
    if let Some(entry) = live().get_mut(&id) {
        entry.keep_as = Some(name.to_vec());
    }
}

/// Takes a temp file off the list: it was renamed into place or removed.
pub(crate) fn forget(id: u64) {
    live().remove(&id);
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
                let keep = entry
                    .keep_as
                    .as_ref()
                    .and_then(|name| std::ffi::CString::new(name.as_slice()).ok());
                // SAFETY: `dir` is open while listed (the list is locked, so no file can be
                // dropped meanwhile); the names are valid C strings.
                unsafe {
                    match keep {
                        Some(name) => {
                            libc::renameat(entry.dir, temp.as_ptr(), entry.dir, name.as_ptr())
                        }
                        None => libc::unlinkat(entry.dir, temp.as_ptr(), 0),
                    }
                };
            }
            // SAFETY: ends the process at once, holding the lock so no file is renamed into
            // place after its temp file was removed.
            unsafe { libc::_exit(exit.unwrap_or(128 + signal)) };
        })?;
    Ok(())
}
