//! `--bwlimit`: what has been sent, over the time since the transfer began, stays within the
//! rate. One pacer serves the network (the data messages) and local copies (the file bytes).

use std::time::{Duration, Instant};

/// Counts bytes and holds the sender back when it runs ahead of the rate.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Bytes a second.
    rate: u64,
    started: Instant,
    sent: u64,
}

impl Pacer {
    /// A pacer for `rate` bytes a second, from now.
    pub fn new(rate: u64) -> Pacer {
        Pacer {
            rate: rate.max(1),
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Counts `n` more bytes; if they are ahead of the rate, calls `before_wait` (to flush
    /// what is buffered, so that the bytes go before the pause) and waits until they fit.
    pub fn pace(&mut self, n: u64, before_wait: impl FnOnce()) {
        self.sent += n;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.started.elapsed()) {
            before_wait();
            // Throttling, not synchronisation: the limit is a rate over time.
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_ahead_of_the_rate() {
        let mut pacer = Pacer::new(1 << 30);
        let mut flushed = false;
        pacer.pace(1, || flushed = true);
        assert!(!flushed, "one byte at 1 GiB/s is not ahead");
        let mut pacer = Pacer::new(1000);
        pacer.pace(10, || flushed = true);
        assert!(flushed, "10 bytes at once at 1000 bytes/s are ahead");
    }
}
