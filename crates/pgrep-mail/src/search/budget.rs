//! The memory that streamed (compressed) files may take at once, shared by every search
//! thread. A streamed file reserves the most it can use (its window, the decoder's own
//! memory, what decoding a message may take) before it starts and returns it when done,
//! waiting its turn when the budget is spent; so the peak stays under the budget however
//! many compressed files are in flight and whatever they expand to.
//!
//! A reservation is taken whole, once, by a thread that holds no other, and a holder never
//! waits on anything but its own input: so every holder finishes, and a waiter always gets
//! its turn. Turns are first come, first served, so a large reservation is not starved by
//! a stream of small ones.

use std::sync::{Condvar, Mutex};

/// A budget of bytes.
pub struct Budget {
    total: usize,
    state: Mutex<State>,
    turn: Condvar,
}

struct State {
    free: usize,
    /// The next ticket to give out, and the ticket whose turn it is.
    next: u64,
    serving: u64,
}

/// Bytes reserved from a [`Budget`], returned when dropped.
pub struct Reservation<'b> {
    budget: &'b Budget,
    bytes: usize,
}

impl Budget {
    /// A budget of `total` bytes.
    pub const fn new(total: usize) -> Budget {
        Budget {
            total,
            state: Mutex::new(State {
                free: total,
                next: 0,
                serving: 0,
            }),
            turn: Condvar::new(),
        }
    }

    /// The whole budget.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Waits for `bytes` to be free and takes them; `None` if the budget is smaller.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        if bytes > self.total {
            return None;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = s.next;
        s.next += 1;
        while s.serving != ticket || s.free < bytes {
            s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.free -= bytes;
        s.serving += 1;
        drop(s);
        self.turn.notify_all();
        Some(Reservation {
            budget: self,
            bytes,
        })
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.state.lock().unwrap_or_else(|p| p.into_inner());
        s.free += self.bytes;
        drop(s);
        self.budget.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_enough_is_returned() {
        let b = Budget::new(10);
        assert!(b.reserve(11).is_none());
        let first = b.reserve(7).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| b.reserve(5).map(|r| r.bytes));
            // The waiter cannot have its 5 until the 7 are returned.
            drop(first);
            assert_eq!(waiter.join().unwrap(), Some(5));
        });
        assert_eq!(b.state.lock().unwrap().free, 10);
    }
}
