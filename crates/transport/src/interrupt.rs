//! Ctrl-C and SIGTERM, seen by every host task at once.
//!
//! A signal must not simply end the process: the commands already started would live on
//! on the hosts. Instead every task watches this flag, kills its remote command, and the tool
//! exits after that with 128 + the signal number, as a shell reports it.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// A flag raised by the first SIGINT or SIGTERM; cheap to clone into every task.
#[derive(Clone)]
pub struct Interrupt(watch::Receiver<Option<i32>>);

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM. Must be called inside the tokio runtime.
    pub fn install() -> std::io::Result<Interrupt> {
        let (tx, rx) = watch::channel(None);
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let number = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            let _ = tx.send(Some(number));
            // Keep the handlers installed so a second signal does not kill us mid-cleanup.
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
        });
        Ok(Interrupt(rx))
    }

    /// A flag that is never raised, for library callers and tests.
    pub fn never() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        std::mem::forget(tx);
        Interrupt(rx)
    }

    /// The signal received so far, if any.
    pub fn received(&self) -> Option<i32> {
        *self.0.borrow()
    }

    /// Resolves when a signal arrives, with its number.
    pub async fn wait(&mut self) -> i32 {
        loop {
            if let Some(n) = *self.0.borrow_and_update() {
                return n;
            }
            if self.0.changed().await.is_err() {
                // The sender is gone: no signal can come any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The exit status a shell gives a process ended by this signal.
    pub fn exit_status(&self) -> Option<i32> {
        self.received().map(|n| 128 + n)
    }
}
