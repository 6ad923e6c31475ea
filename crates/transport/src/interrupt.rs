//! Ctrl-C and SIGTERM, seen by every host task at once, in two steps as pdsh has them.
//!
//! A signal must not simply end the process: the commands already started would live on
//! on the hosts. So a signal only raises a flag that every task watches:
//!
//! - The first Ctrl-C *stops*: no new host is started, the running ones finish, and the
//!   fan-out prints who is still running. A long run over many hosts is usually stopped
//!   because of what the first hosts showed, and killing the rest mid-write would leave
//!   them in a worse state than letting them finish.
//! - A second Ctrl-C, or a SIGTERM (a script or a service manager, which will not press
//!   twice), *kills*: every task kills its remote command, and the agents remove their temp
//!   files as they die. With a single host there is nothing to drain, so the first Ctrl-C
//!   already kills, as it does for ssh, scp and rsync.
//!
//! The tool exits with 128 + the first signal's number, as a shell reports it.
//!
//! The state is one per process, not one per [`Interrupt::install`]: prdist runs many pushes,
//! each of which installs, and a Ctrl-C during the first must still stop the later ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// What the process has been told so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Signals {
    /// The first signal's number.
    first: Option<i32>,
    /// Ctrl-Cs so far.
    interrupts: u32,
    /// A SIGTERM came: kill at once.
    terminated: bool,
    /// The tool itself asked to kill everything ([`Interrupt::abort`], pdsh's `-k`).
    aborted: bool,
}

impl Signals {
    fn kills(&self, immediate: bool) -> bool {
        self.terminated
            || self.aborted
            || self.interrupts >= 2
            || (immediate && self.interrupts >= 1)
    }
}

/// The process's signal state, shared by every runtime that installs a listener.
fn state() -> &'static watch::Sender<Signals> {
    static STATE: OnceLock<watch::Sender<Signals>> = OnceLock::new();
    STATE.get_or_init(|| watch::channel(Signals::default()).0)
}

/// Whether a listener task is alive. A listener lives in the runtime that installed it; when
/// that runtime ends, the next install starts another, and never two at once (each would
/// count every signal).
static LISTENING: AtomicBool = AtomicBool::new(false);

/// Clears [`LISTENING`] when the listener task is dropped with its runtime.
struct Listening;

impl Drop for Listening {
    fn drop(&mut self) {
        LISTENING.store(false, Ordering::SeqCst);
    }
}

/// The signal flag; cheap to clone into every task.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Signals>,
    /// The first Ctrl-C kills (one host: nothing to drain).
    immediate: bool,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM, unless a listener already runs. Must be
    /// called inside the tokio runtime.
    pub fn install() -> std::io::Result<Interrupt> {
        if !LISTENING.swap(true, Ordering::SeqCst) {
            let streams = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
            let (mut int, mut term) = streams.inspect_err(|_| {
                LISTENING.store(false, Ordering::SeqCst);
            })?;
            tokio::spawn(async move {
                let _alive = Listening;
                loop {
                    let terminated = tokio::select! {
                        _ = int.recv() => false,
                        _ = term.recv() => true,
                    };
                    record(terminated);
                }
            });
        }
        Ok(Interrupt {
            rx: state().subscribe(),
            immediate: false,
        })
    }

    /// A flag that is never raised, for library callers and tests.
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(Signals::default());
        std::mem::forget(tx);
        Interrupt {
            rx,
            immediate: false,
        }
    }

    /// This flag, but the first Ctrl-C already kills: for a run with one host, where there
    /// is nothing else to stop.
    pub fn immediate(mut self) -> Interrupt {
        self.immediate = true;
        self
    }

    /// The first signal received so far, if any: once set, no new host is started.
    pub fn received(&self) -> Option<i32> {
        self.rx.borrow().first
    }

    /// Whether running commands are to be killed now.
    pub fn kills(&self) -> bool {
        self.rx.borrow().kills(self.immediate)
    }

    /// Resolves when running commands are to be killed (a second Ctrl-C, a SIGTERM, or the
    /// first Ctrl-C of an [`immediate`](Interrupt::immediate) flag), with the first signal's
    /// number.
    pub async fn wait(&mut self) -> i32 {
        let immediate = self.immediate;
        self.until(|s| s.kills(immediate)).await
    }

    /// Resolves at the first signal, with its number, or at an [`abort`](Interrupt::abort):
    /// time to stop starting hosts.
    pub async fn stopped(&mut self) -> i32 {
        self.until(|s| s.first.is_some() || s.aborted).await
    }

    /// Kills every running command and starts no more, as a SIGTERM would, but without a
    /// signal to report: for a tool that fails fast (pdsh's `-k`) once one host has failed.
    pub fn abort(&self) {
        state().send_modify(|s| s.aborted = true);
    }

    async fn until(&mut self, done: impl Fn(&Signals) -> bool) -> i32 {
        loop {
            {
                let now = self.rx.borrow_and_update();
                if done(&now) {
                    return now.first.unwrap_or(libc::SIGINT);
                }
            }
            if self.rx.changed().await.is_err() {
                // The sender is gone: no signal can come any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The exit status a shell gives a process ended by the first signal.
    pub fn exit_status(&self) -> Option<i32> {
        self.received().map(|n| 128 + n)
    }
}

/// Counts one signal into the process's state.
fn record(terminated: bool) {
    state().send_modify(|s| {
        let number = if terminated {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        s.first.get_or_insert(number);
        if terminated {
            s.terminated = true;
        } else {
            s.interrupts += 1;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_interrupt_kills() {
        let mut s = Signals::default();
        assert!(!s.kills(false) && !s.kills(true));
        s.first = Some(libc::SIGINT);
        s.interrupts = 1;
        assert!(!s.kills(false), "one Ctrl-C lets running hosts finish");
        assert!(s.kills(true), "with one host the first Ctrl-C kills");
        s.interrupts = 2;
        assert!(s.kills(false));
    }

    #[test]
    fn a_term_kills_at_once() {
        let s = Signals {
            first: Some(libc::SIGTERM),
            interrupts: 0,
            terminated: true,
            aborted: false,
        };
        assert!(s.kills(false));
    }

    #[test]
    fn an_abort_kills_without_a_signal() {
        let s = Signals {
            aborted: true,
            ..Signals::default()
        };
        assert!(s.kills(false));
        assert_eq!(s.first, None);
    }
}
