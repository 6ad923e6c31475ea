//! rsync's `--progress` line for a finished file:
//! `\r      3,000,000 100%    1.38GB/s    0:00:00 (xfr#1, to-chk=5/7)`, printed whether or not
//! stdout is a terminal, as rsync prints it (scripts and logs read it from a pipe).

use std::time::Duration;

use crate::stats::human_num;

/// Where a finished file stands in the run.
pub struct Done {
    /// Bytes of the file.
    pub size: u64,
    /// Time its transfer took.
    pub took: Duration,
    /// Files transferred so far, this one included.
    pub xfr: u64,
    /// The file's place in the list.
    pub index: usize,
    /// The list's length (the transfer root `.` counts).
    pub total: usize,
}

/// The line, with its leading `\r` and trailing newline; `human` is rsync's `-h` level.
pub fn line(done: &Done, human: u8) -> String {
    let ms = done.took.as_millis().max(1) as f64;
    let mut rate = done.size as f64 * 1000.0 / ms / 1024.0;
    let units = if rate > 1024.0 * 1024.0 {
        rate /= 1024.0 * 1024.0;
        "GB/s"
    } else if rate > 1024.0 {
        rate /= 1024.0;
        "MB/s"
    } else {
        "kB/s"
    };
    let secs = done.took.as_secs();
    let left = done.total.saturating_sub(done.index + 1);
    format!(
        "\r{:>15} 100% {rate:>7.2}{units} {:>4}:{:02}:{:02} (xfr#{}, to-chk={left}/{})\n",
        human_num(done.size, human),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        done.xfr,
        done.total
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_rsyncs() {
        let done = Done {
            size: 3_000_000,
            took: Duration::from_millis(2),
            xfr: 1,
            index: 1,
            total: 7,
        };
        assert_eq!(
            line(&done, 1),
            "\r      3,000,000 100%    1.40GB/s    0:00:00 (xfr#1, to-chk=5/7)\n"
        );
    }
}
