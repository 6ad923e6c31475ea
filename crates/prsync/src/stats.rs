//! Transfer totals and rsync's ways of printing them (`--stats`, and the two summary lines of
//! `-v`), with rsync's number formats (`-h` levels).
//!
//! Everything here counts what rsync counts, except the protocol byte counts (`File list
//! size`, `Total bytes sent/received`, `sent ... received ...`, `speedup`) and the two timing
//! lines: prsync's local copy speaks no protocol, so those are estimates of what rsync's
//! protocol would have carried (see [`Stats::bytes_sent`]). Over rsync's own protocol
//! (`--wire=rsync`) the bytes are counted as they cross ([`Stats::wire`]).

use std::time::Duration;

use crate::flist::{FileEntry, FileKind};

/// Counts by kind of entry, for the `(reg: 1, dir: 2, link: 3)` parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByKind {
    /// Regular files.
    pub reg: u64,
    /// Directories.
    pub dir: u64,
    /// Symlinks.
    pub link: u64,
    /// Devices.
    pub dev: u64,
    /// Fifos and sockets.
    pub special: u64,
}

impl ByKind {
    /// Counts one entry of `kind`.
    pub fn add(&mut self, kind: &FileKind) {
        match kind {
            FileKind::Regular { .. } => self.reg += 1,
            FileKind::Dir => self.dir += 1,
            FileKind::Symlink { .. } => self.link += 1,
            FileKind::Device { .. } => self.dev += 1,
            FileKind::Special => self.special += 1,
            FileKind::Missing => {}
        }
    }

    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.reg + self.dir + self.link + self.dev + self.special
    }

    /// `N (reg: a, dir: b)`, or `0`.
    fn show(&self, human: u8) -> String {
        let total = self.total();
        if total == 0 {
            return "0".into();
        }
        let parts: Vec<String> = [
            ("reg", self.reg),
            ("dir", self.dir),
            ("link", self.link),
            ("dev", self.dev),
            ("special", self.special),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}: {}", big_num(*n, human.min(1))))
        .collect();
        format!("{} ({})", big_num(total, human.min(1)), parts.join(", "))
    }
}

/// The totals of one run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Entries in the file list.
    pub files: ByKind,
    /// Entries made new on the receiver.
    pub created: ByKind,
    /// Entries deleted from the receiver.
    pub deleted: ByKind,
    /// Regular files whose data was sent.
    pub transferred: u64,
    /// Sizes of regular files plus lengths of symlink targets.
    pub total_size: u64,
    /// Sizes of the files sent.
    pub transferred_size: u64,
    /// Bytes sent as literal data.
    pub literal: u64,
    /// Bytes the receiver took from its old files.
    pub matched: u64,
    /// Estimated protocol bytes of the file list.
    pub flist_bytes: u64,
    /// Estimated file-data bytes on the wire (literal data and delta tokens).
    pub data_bytes: u64,
    /// Signature bytes the receiver sent.
    pub sum_bytes: u64,
    /// Time spent building the file list.
    pub flist_time: Duration,
    /// What the delta searches did, summed over the files.
    pub search: prtools_delta::SearchStats,
    /// The bytes that did cross rsync's protocol, sent and received, where there was one
    /// (`--wire=rsync`): these replace the estimates.
    pub wire: Option<(u64, u64)>,
}

impl Stats {
    /// Counts the file list.
    pub fn count_list(&mut self, list: &[FileEntry]) {
        for e in list {
            self.files.add(&e.kind);
            self.total_size += match &e.kind {
                FileKind::Regular { size } => *size,
                FileKind::Symlink { target } => target.len() as u64,
                _ => 0,
            };
            // rsync's file-list encoding: a flags byte, the name (sharing its prefix with the
            // previous one), size, mtime and mode as varints; about 10 bytes plus the name.
            self.flist_bytes += 10 + e.name.len() as u64;
        }
    }

    /// rsync's `Total bytes sent` as a sender would count it: file list, data, per-file
    /// headers and the end-of-run exchange. An estimate: prsync's local copy has no wire.
    pub fn bytes_sent(&self) -> u64 {
        if let Some((sent, _)) = self.wire {
            return sent;
        }
        self.flist_bytes + self.data_bytes + 16 * self.transferred + 40
    }

    /// rsync's `Total bytes received`: the receiver's requests and signatures. An estimate.
    pub fn bytes_received(&self) -> u64 {
        if let Some((_, received)) = self.wire {
            return received;
        }
        self.sum_bytes + 4 * (self.transferred + self.files.dir) + 16
    }

    /// The `--stats` block, from its leading blank line to `Total bytes received`.
    pub fn stats_block(&self, human: u8) -> String {
        let n = |v: u64| human_num(v, human);
        let mut s = String::new();
        s.push('\n');
        s += &format!("Number of files: {}\n", self.files.show(human));
        s += &format!("Number of created files: {}\n", self.created.show(human));
        s += &format!("Number of deleted files: {}\n", self.deleted.show(human));
        s += &format!(
            "Number of regular files transferred: {}\n",
            big_num(self.transferred, human.min(1))
        );
        s += &format!("Total file size: {} bytes\n", n(self.total_size));
        s += &format!(
            "Total transferred file size: {} bytes\n",
            n(self.transferred_size)
        );
        s += &format!("Literal data: {} bytes\n", n(self.literal));
        s += &format!("Matched data: {} bytes\n", n(self.matched));
        s += &format!("File list size: {}\n", n(self.flist_bytes));
        s += &format!(
            "File list generation time: {:.3} seconds\n",
            self.flist_time.as_secs_f64()
        );
        s += "File list transfer time: 0.000 seconds\n";
        s += &format!("Total bytes sent: {}\n", n(self.bytes_sent()));
        s += &format!("Total bytes received: {}\n", n(self.bytes_received()));
        s
    }

    /// rsync's `--debug=deltasum` line (match.c's `match_report`): the blocks found, the
    /// positions whose weak sum hit, the strong sums that then differed, and the literal
    /// bytes, over the whole run. Plain digits, whatever `-h` says, as rsync's.
    pub fn deltasum_line(&self) -> String {
        format!(
            "total: matches={}  hash_hits={}  false_alarms={} data={}\n",
            self.search.matches, self.search.hash_hits, self.search.false_alarms, self.literal
        )
    }

    /// The two summary lines of `-v` and `--stats`, after a blank line; `note` ends the
    /// second (` (DRY RUN)`, ` (BATCH ONLY)` or nothing).
    pub fn summary(&self, human: u8, elapsed: Duration, note: &str) -> String {
        let (sent, recv) = (self.bytes_sent(), self.bytes_received());
        // rsync's rate: the bytes over the run's length in whole clock seconds plus half
        // a second, so that a run within one second divides by 0.5.
        let whole = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let now = std::time::SystemTime::now();
        let began = now.checked_sub(elapsed).unwrap_or(now);
        let secs = 0.5 + whole(now).saturating_sub(whole(began)) as f64;
        let rate = (sent + recv) as f64 / secs;
        let speedup = if sent + recv == 0 {
            0.0
        } else {
            self.total_size as f64 / (sent + recv) as f64
        };
        format!(
            "\nsent {} bytes  received {} bytes  {} bytes/sec\ntotal size is {}  speedup is {}{}\n",
            human_num(sent, human),
            human_num(recv, human),
            human_dnum(rate, human),
            human_num(self.total_size, human),
            big_dnum(speedup, 1),
            note
        )
    }
}

/// An integer at rsync's human-readable level: 0 plain, 1 with `,` between groups of three
/// digits, 2 in units of 1000 (`3.01M`), 3 in units of 1024.
pub fn human_num(v: u64, level: u8) -> String {
    if level >= 2 {
        let mult = if level == 2 { 1000.0 } else { 1024.0 };
        if v as f64 >= mult {
            return scaled(v as f64, mult);
        }
    }
    big_num(v, level)
}

/// A rate at rsync's human-readable level (two decimals).
fn human_dnum(v: f64, level: u8) -> String {
    if level >= 2 {
        let mult = if level == 2 { 1000.0 } else { 1024.0 };
        if v >= mult {
            return scaled(v, mult);
        }
    }
    big_dnum(v, level)
}

fn scaled(mut v: f64, mult: f64) -> String {
    const UNITS: &[u8] = b" KMGTPEZY";
    let mut unit = 0;
    while v >= mult && unit + 1 < UNITS.len() {
        v /= mult;
        unit += 1;
    }
    format!("{v:.2}{}", UNITS[unit] as char)
}

/// Digits grouped by three with `,` (level 1 and up), as rsync's `do_big_num`.
fn big_num(v: u64, level: u8) -> String {
    let digits = v.to_string();
    if level == 0 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with two decimals and grouped digits.
fn big_dnum(v: f64, level: u8) -> String {
    let s = format!("{v:.2}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, "00"));
    let int: u64 = int.parse().unwrap_or(0);
    format!("{}.{frac}", big_num(int, level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_rsync() {
        assert_eq!(human_num(3_012_348, 1), "3,012,348");
        assert_eq!(human_num(175, 1), "175");
        assert_eq!(human_num(3_012_345, 2), "3.01M");
        assert_eq!(human_num(999, 2), "999");
        assert_eq!(big_dnum(1156.0, 1), "1,156.00");
        assert_eq!(human_num(1234, 0), "1234");
    }

    #[test]
    fn kinds() {
        let mut k = ByKind::default();
        assert_eq!(k.show(1), "0");
        k.add(&FileKind::Regular { size: 1 });
        k.add(&FileKind::Dir);
        k.add(&FileKind::Dir);
        assert_eq!(k.show(1), "3 (reg: 1, dir: 2)");
    }
}
