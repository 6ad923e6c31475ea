//! A mapped file that another process cuts short (a log truncated by logrotate's
//! `copytruncate`) makes every read past its new end raise SIGBUS, which kills the process
//! and leaves its temp files behind. This guard turns such a read into zeros and a mark on
//! the mapping, so the user of the bytes can see they are not the file's and fail that one
//! file, as rsync reports read errors on a file and goes on.
//!
//! The handler only acts on addresses inside a mapping registered here; any other SIGBUS is
//! passed on to the handler that was there before (Rust's own), as if this one did not exist.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// Mappings that may be alive at once; one more is still made, only not guarded.
const SLOTS: usize = 256;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    faults: AtomicUsize,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        faults: AtomicUsize::new(0),
    }
}; SLOTS];

static PAGE: AtomicUsize = AtomicUsize::new(4096);
static BEFORE: OnceLock<libc::sigaction> = OnceLock::new();
static INSTALL: Once = Once::new();

/// A registered mapping; dropped before the mapping is unmapped.
pub struct Guard(Option<usize>);

impl Guard {
    /// No mapping (an empty file): always intact.
    pub fn none() -> Guard {
        Guard(None)
    }

    /// Registers the `len` bytes mapped at `start`.
    pub fn register(start: *const u8, len: usize) -> Guard {
        if len == 0 {
            return Guard(None);
        }
        INSTALL.call_once(install);
        for (n, slot) in TABLE.iter().enumerate() {
            if slot
                .start
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.faults.store(0, Ordering::Relaxed);
                slot.len.store(len, Ordering::Relaxed);
                slot.start.store(start as usize, Ordering::Release);
                return Guard(Some(n));
            }
        }
        Guard(None)
    }

    /// Whether every byte read so far was the file's (no read fell past a new end).
    pub fn intact(&self) -> bool {
        self.0
            .is_none_or(|n| TABLE[n].faults.load(Ordering::Acquire) == 0)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            TABLE[n].len.store(0, Ordering::Relaxed);
            TABLE[n].start.store(0, Ordering::Release);
        }
    }
}

fn install() {
    // SAFETY: sysconf and sigaction are called with valid arguments; the old action is
    // written to a zeroed struct this function owns.
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE);
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        let mut old: libc::sigaction = std::mem::zeroed();
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = on_bus as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut new.sa_mask);
        if libc::sigaction(libc::SIGBUS, &new, &mut old) == 0 {
            let _ = BEFORE.set(old);
        }
    }
}

/// Maps zeros from the faulting page to the end of its mapping (every later page is past
/// the new end too, so one fault covers them), marks the mapping, and returns to the read.
extern "C" fn on_bus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in &TABLE {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Relaxed);
        if start == 0 || start == usize::MAX || addr < start || addr >= start + len {
            continue;
        }
        let from = addr & !(page - 1);
        let end = (start + len + page - 1) & !(page - 1);
        // SAFETY: the range lies inside a live private read-only mapping of this process,
        // which nothing else points into but the reader that faulted.
        let zeros = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            slot.faults.fetch_add(1, Ordering::AcqRel);
            return;
        }
        break;
    }
    pass_on(sig, info, ctx);
}

/// Hands a SIGBUS that is not a shrunk mapping's to the handler from before, or to the
/// default action (the read runs again and the process ends as without this guard).
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let before = BEFORE.get().map(|a| (a.sa_sigaction, a.sa_flags));
    match before {
        Some((handler, flags)) if handler != libc::SIG_DFL && handler != libc::SIG_IGN => {
            if flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the old action was installed as an SA_SIGINFO handler.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(handler) };
                f(sig, info, ctx);
            } else {
                // SAFETY: the old action was installed as a plain handler.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
                f(sig);
            }
        }
        _ => {
            // SAFETY: restoring the default action is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
        }
    }
}
