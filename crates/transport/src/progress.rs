//! One progress bar for the whole run, on a terminal: bytes, rate, ETA, and hosts done and
//! failed. Per-host bars would scroll a 64-host run off the screen; what a user wants to know
//! is how much is left and whether hosts are failing.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The run's progress; silent when not on a terminal or with -q.
pub struct Progress {
    bar: Option<ProgressBar>,
    hosts: u64,
    done: AtomicU64,
    failed: AtomicU64,
}

impl Progress {
    /// A bar for `hosts` hosts, shown only when stderr is a terminal and `quiet` is off.
    pub fn new(hosts: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let progress = Progress {
            bar,
            hosts: hosts as u64,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        };
        progress.show_hosts();
        progress
    }

    /// More bytes are to be moved (a host's share, once it says what it needs).
    pub fn add_total(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(bytes);
        }
    }

    /// Bytes moved.
    pub fn moved(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// A host finished, well or not.
    pub fn host_done(&self, ok: bool) {
        if ok {
            self.done.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.show_hosts();
    }

    fn show_hosts(&self) {
        if let Some(bar) = &self.bar {
            let done = self.done.load(Ordering::Relaxed);
            let failed = self.failed.load(Ordering::Relaxed);
            bar.set_message(format!("hosts {done}/{} done, {failed} failed", self.hosts));
        }
    }

    /// Runs `print` with the bar out of the way, so that lines written to the terminal while
    /// it shows do not run into it.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the bar before the run's own messages are printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
