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

/// The temp files that exist now: each one's folder descriptor and name, by a number.
static LIVE: Mutex<BTreeMap<u64, (RawFd, Vec<u8>)>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

fn live() -> MutexGuard<'static, BTreeMap<u64, (RawFd, Vec<u8>)>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists a temp file; `dir` must stay open until [`forget`] is called with the number.
pub(crate) fn register(dir: RawFd, temp: &[u8]) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    live().insert(id, (dir, temp.to_vec()));
    id
}

/// Takes a temp file off the list: it was renamed into place or removed.
pub(crate) fn forget(id: u64) {
    live().remove(&id);
}

/// The signals that stop an agent: SIGTERM from a kill, SIGINT and SIGHUP from a terminal.
const STOPS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// From now on, a stop signal removes every listed temp file and exits with 128 + its number.
///
/// Call it first thing in `main`, before any other thread starts: the signals are blocked in
/// this thread, and threads started later inherit that, so only the waiting thread gets them.
pub fn remove_temps_on_signal() -> std::io::Result<()> {
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
            for (dir, name) in list.values() {
                if let Ok(name) = std::ffi::CString::new(name.as_slice()) {
                    // SAFETY: `dir` is open while listed (the list is locked, so no file can
                    // be dropped meanwhile); `name` is a valid C string.
                    unsafe { libc::unlinkat(*dir, name.as_ptr(), 0) };
                }
            }
            // SAFETY: ends the process at once, holding the lock so no file is renamed into
            // place after its temp file was removed.
            unsafe { libc::_exit(128 + signal) };
        })?;
    Ok(())
}
