//! What host tasks report while they run, for one printer to turn into output.

use std::time::Duration;

use crate::error::HostError;

/// Which of the command's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One report from a host task. Lines are whole whatever their length, so the printer never
/// cuts or interleaves them.
#[derive(Debug)]
pub enum Event {
    /// A line of output from host number `host` (its rank).
    Line {
        /// Rank of the host.
        host: usize,
        /// Stdout or stderr.
        stream: Stream,
        /// The line as the host wrote it, its newline included; only the last line of a
        /// stream may lack one, and what is printed byte for byte must not gain one.
        bytes: Vec<u8>,
    },
    /// Host number `host` is finished.
    Done {
        /// Rank of the host.
        host: usize,
        /// Exit status, or why there is none.
        result: Result<i32, HostError>,
        /// Wall time from connect to finish.
        elapsed: Duration,
    },
}
