//! rsync's less common options: how deletions are bounded, how files are written and kept,
//! when a run must stop. They are parsed here, apart from cli.rs's core set, and resolved
//! into [`More`], which the receiver and the agent's command line read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgAction, Args};
use prtools_rsync_wire::checksum::Checksum;

/// The options, as typed.
#[derive(Clone, Debug, Default, Args)]
pub struct MoreArgs {
    /// Preserve executability (without -p: x bits follow the sender's)
    #[arg(short = 'E', long = "executability")]
    pub executability: bool,
    /// Omit symlinks from --times
    #[arg(short = 'J', long = "omit-link-times")]
    pub omit_link_times: bool,
    /// Force deletion of directories even if not empty
    #[arg(long = "force")]
    pub force: bool,
    /// Don't delete more than NUM files (exit 25 when the limit stopped some)
    #[arg(long = "max-delete", value_name = "NUM", allow_negative_numbers = true)]
    pub max_delete: Option<i64>,
    /// Change a limit relating to memory allocation (checked; prsync's memory is bounded)
    #[arg(long = "max-alloc", value_name = "SIZE")]
    pub max_alloc: Option<String>,
    /// Receiver attempts super-user activities (what root does anyway)
    #[arg(long = "super")]
    pub superuser: bool,
    /// Stop rsync at the specified point in time ([[YYYY-]MM-]DD]T]HH:MM, local time)
    #[arg(long = "stop-at", value_name = "y-m-dTh:m")]
    pub stop_at: Option<String>,
    /// Stop rsync after MINS minutes have elapsed
    #[arg(long = "stop-after", visible_alias = "time-limit", value_name = "MINS")]
    pub stop_after: Option<String>,
    /// Explicitly set compression level (zstd's levels, 1 to 22, zlib's 1 to 9; 0 sends data plain)
    #[arg(
        long = "compress-level",
        visible_alias = "zl",
        value_name = "NUM",
        allow_negative_numbers = true
    )]
    pub compress_level: Option<i32>,
    /// Choose the compression algorithm (prsync's own protocol has zstd, or none; rsync's, with --wire=rsync, zlibx and zlib)
    #[arg(long = "compress-choice", visible_alias = "zc", value_name = "STR")]
    pub compress_choice: Option<String>,
    /// Choose the checksum algorithm (prsync's own protocol has xxh128)
    #[arg(long = "checksum-choice", visible_alias = "cc", value_name = "STR")]
    pub checksum_choice: Option<String>,
    /// Set block/file checksum seed (accepted; xxh128 is not seeded)
    #[arg(long = "checksum-seed", value_name = "NUM")]
    pub checksum_seed: Option<u32>,
    /// Skip compressing files with suffix in LIST (accepted; zstd passes them through fast)
    #[arg(long = "skip-compress", value_name = "LIST")]
    pub skip_compress: Option<String>,
    /// Append data onto shorter files (what is there is taken as the start of the file)
    #[arg(long = "append")]
    pub append: bool,
    /// --append with the whole file checked, and sent again if the start differs
    #[arg(long = "append-verify")]
    pub append_verify: bool,
    /// Turn sequences of nulls into sparse blocks
    #[arg(short = 'S', long = "sparse")]
    pub sparse: bool,
    /// Allocate dest files before writing them
    #[arg(long = "preallocate")]
    pub preallocate: bool,
    /// Log what we're doing to the specified FILE
    #[arg(long = "log-file", value_name = "FILE")]
    pub log_file: Option<std::path::PathBuf>,
    /// Log updates using the specified FMT (default %i %n%L)
    #[arg(long = "log-file-format", value_name = "FMT")]
    pub log_file_format: Option<String>,
    /// Send OPTION to the remote side only (prsync's agent takes prsync's options)
    #[arg(short = 'M', long = "remote-option", value_name = "OPT", allow_hyphen_values = true, action = ArgAction::Append)]
    pub remote_option: Vec<std::ffi::OsString>,
    /// Find similar file for basis if no dest file
    #[arg(short = 'y', long = "fuzzy", action = ArgAction::Count)]
    pub fuzzy: u8,
    /// Set the accuracy for mod-time comparisons (seconds either way that count as equal)
    #[arg(
        short = '@',
        long = "modify-window",
        value_name = "NUM",
        allow_negative_numbers = true
    )]
    pub modify_window: Option<i64>,
    /// Force an older protocol version (accepted: prsync's two ends speak its own protocol)
    #[arg(long = "protocol", value_name = "NUM")]
    pub protocol: Option<u32>,
    /// List the files instead of copying them (also: a source given without a destination)
    #[arg(long = "list-only")]
    pub list_only: bool,
    /// Leave high-bit chars unescaped in output
    #[arg(short = '8', long = "8-bit-output")]
    pub eight_bit: bool,
    /// Use the old, unprotected splitting of remote names (a space separates two names)
    #[arg(long = "old-args", action = ArgAction::Count)]
    pub old_args: u8,
    /// Write a batched update to FILE (and FILE.sh, the command that replays it)
    #[arg(long = "write-batch", value_name = "FILE")]
    pub write_batch: Option<std::path::PathBuf>,
    /// Like --write-batch but w/o updating dest
    #[arg(long = "only-write-batch", value_name = "FILE")]
    pub only_write_batch: Option<std::path::PathBuf>,
    /// Read a batched update from FILE (- reads standard input)
    #[arg(long = "read-batch", value_name = "FILE")]
    pub read_batch: Option<std::path::PathBuf>,
    /// Delete missing source args from destination
    #[arg(long = "delete-missing-args")]
    pub delete_missing_args: bool,
    /// Preserve ACLs (implies --perms)
    #[arg(short = 'A', long = "acls")]
    pub acls: bool,
    /// Preserve extended attributes (-XX: rsync's own user.rsync.% ones too)
    #[arg(short = 'X', long = "xattrs", action = ArgAction::Count)]
    pub xattrs: u8,
    /// Store/recover privileged attrs using xattrs
    #[arg(long = "fake-super")]
    pub fake_super: bool,
    /// Preserve access (use) times
    #[arg(short = 'U', long = "atimes")]
    pub atimes: bool,
    /// Avoid changing the atime on opened files
    #[arg(long = "open-noatime")]
    pub open_noatime: bool,
}

/// The options, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct More {
    /// `-E`.
    pub executability: bool,
    /// `-J`.
    pub omit_link_times: bool,
    /// `--force`: a non-empty folder in the way of a file goes, as with `--delete`.
    pub force: bool,
    /// `--max-delete`: at most this many deletions (a negative number is 0, as in rsync).
    pub max_delete: Option<u64>,
    /// `--stop-at`/`--stop-after`: when the run stops (exit 30).
    pub stop_at: Option<SystemTime>,
    /// `--append` (1) or `--append-verify` (2): a file already as long as the sender's or
    /// longer is left alone; a shorter one gets the rest (1), or is checked whole (2).
    pub append: u8,
    /// `--modify-window`: seconds apart that still count as the same time.
    pub modify_window: u64,
    /// `-y`: a missing file is built against the most alike one beside it.
    pub fuzzy: bool,
    /// `--debug=FUZZY`: the basis chosen is said.
    pub debug_fuzzy: bool,
    /// `--debug=FILTER`: each filter rule that decides a name is said.
    pub debug_filter: bool,
    /// `--debug=DELTASUM`: the delta search's counts are said at the end.
    pub debug_deltasum: bool,
    /// `--debug=NSTR`: the checksum and compressor in use are said, as rsync's negotiation
    /// lines.
    pub debug_nstr: bool,
    /// `--checksum-choice` named the checksum (rsync then says it was not negotiated).
    pub checksum_chosen: bool,
    /// `--compress-choice` named the compressor.
    pub compress_chosen: bool,
    /// `--compress-choice` as given (`zlib` and `zlibx` are for rsync's protocol).
    pub compress_choice: Option<String>,
    /// `--checksum-choice` as given (names but xxh128 are for rsync's protocol).
    pub checksum_choice: Option<String>,
    /// `-M`: options for the far side's command line.
    pub remote_options: Vec<Vec<u8>>,
    /// `--log-file`, on this side only.
    pub log_file: Option<std::path::PathBuf>,
    /// `--log-file-format`.
    pub log_file_format: Option<String>,
    /// `-S`: whole blocks of zeros in a new file become holes.
    pub sparse: bool,
    /// `--preallocate`: a file's space is reserved before it is written.
    pub preallocate: bool,
    /// `--compress-level` (zstd's level); `Some(0)` turns `-z` off, as in rsync.
    pub compress_level: Option<i32>,
    /// How names' bytes above 0x7f are printed: as they are with `-8`, else as the locale
    /// can show them (read once, here, for every line of the run).
    pub high_bytes: crate::itemize::HighBytes,
    /// `--list-only`: the sources are listed, and nothing is copied.
    pub list_only: bool,
    /// `--write-batch`, `--only-write-batch` or `--read-batch`.
    pub batch: Option<crate::batch::Batch>,
    /// `--files-from=host:FILE`: FILE, to be read on the transfer's remote host.
    pub remote_files_from: Option<Vec<u8>>,
    /// `-0`: the `--files-from` list is NUL-separated.
    pub from0: bool,
    /// `--delete-missing-args`: a source named that is not there is deleted from DEST.
    pub delete_missing_args: bool,
    /// `-A`: POSIX ACLs are sent and set (and `-p` is on).
    pub acls: bool,
    /// `-X` (1) or `-XX` (2): extended attributes are sent and set; with 2, rsync's own
    /// `user.rsync.%*` ones too.
    pub xattrs: u8,
    /// `--fake-super`: owner, group, special mode bits and device numbers live in the
    /// `user.rsync.%stat` attribute (see [`crate::fake_super`]), not in the inode.
    pub fake_super: bool,
    /// `--fake-super` on the sending side: in a local copy, where the receiver also takes
    /// `-M --fake-super`, the sender only the client's own.
    pub sender_fake_super: bool,
    /// `-U`: access times are sent and set.
    pub atimes: bool,
    /// `--open-noatime`: the sender reads files with `O_NOATIME`.
    pub open_noatime: bool,
}

impl MoreArgs {
    /// Checks and resolves the options, with rsync's words for what is wrong; `debug` is
    /// every `--debug` value given.
    pub fn resolve(&self, debug: &[String]) -> Result<More, String> {
        if let Some(text) = &self.max_alloc {
            let size = crate::size_arg::parse("--max-alloc", text)?;
            if size == 0 {
                return Err("max-alloc must be greater than zero".into());
            }
        }
        match self.protocol {
            Some(n) if n < 20 => return Err("--protocol must be at least 20 on the client.".into()),
            Some(n) if n > 32 => {
                return Err("--protocol must be no more than 32 on the client.".into())
            }
            _ => {}
        }
        let mut stop_at = None;
        if let Some(text) = &self.stop_after {
            let mins = text
                .parse::<u64>()
                .ok()
                .filter(|&m| m > 0 && m < u64::MAX / 60)
                .ok_or_else(|| format!("invalid --stop-after value: {text}"))?;
            stop_at = Some(SystemTime::now() + Duration::from_secs(mins * 60));
        }
        if let Some(text) = &self.stop_at {
            let at = parse_time(text).ok_or_else(|| format!("invalid --stop-at format: {text}"))?;
            if at <= SystemTime::now() {
                return Err(format!("--stop-at time is not in the future: {text}"));
            }
            stop_at = Some(at);
        }
        match self.compress_choice.as_deref() {
            // zlib and zlibx are rsync's protocol's (--wire=rsync): cli.rs refuses them
            // for the agent's.
            None | Some("zstd" | "auto" | "none" | "zlib" | "zlibx") => {}
            Some(other) => {
                return Err(format!(
                    "--compress-choice={other}: prsync's protocol compresses with zstd, \
                     rsync's (--wire=rsync) with zlibx or zlib; hint: give one of those, or none"
                ))
            }
        }
        if let Some(choice) = &self.checksum_choice {
            // One name, or the transfer's and -c's, comma separated: xxh128 for prsync's
            // protocol (cli.rs refuses the others there), any of rsync's that
            // prtools-rsync-wire has for --wire=rsync.
            if choice.split(',').count() > 2 || Checksum::choice(choice).is_err() {
                return Err(format!(
                    "--checksum-choice={choice}: prsync's protocol checksums with xxh128, \
                     rsync's (--wire=rsync) with xxh128, xxh3, xxh64 or md5; \
                     hint: give --checksum-choice=xxh128 or auto"
                ));
            }
        }
        let level = match self.compress_choice.as_deref() {
            Some("none") => Some(0),
            _ => self.compress_level,
        };
        if let Some(l) = level {
            if !(-131072..=22).contains(&l) {
                return Err(format!(
                    "--compress-level={l} is out of range; hint: give a zstd level from 1 to 22"
                ));
            }
        }
        let batch = match (&self.write_batch, &self.only_write_batch, &self.read_batch) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err("--write-batch and --read-batch can not be used together".into())
            }
            (_, Some(path), None) => Some((crate::batch::Mode::OnlyWrite, path)),
            (Some(path), None, None) => Some((crate::batch::Mode::Write, path)),
            (None, None, Some(path)) => Some((crate::batch::Mode::Read, path)),
            (None, None, None) => None,
        };
        Ok(More {
            remote_files_from: None,
            delete_missing_args: self.delete_missing_args,
            from0: false,
            batch: batch.map(|(mode, path)| crate::batch::Batch {
                mode,
                path: path.clone(),
                argv: Vec::new(),
                operands: Vec::new(),
            }),
            executability: self.executability,
            omit_link_times: self.omit_link_times,
            force: self.force,
            log_file: self.log_file.clone(),
            modify_window: self.modify_window.unwrap_or(0).max(0) as u64,
            fuzzy: self.fuzzy > 0,
            debug_fuzzy: crate::info::debug_level(debug, "fuzzy") > 0,
            debug_nstr: crate::info::debug_level(debug, "nstr") > 0,
            debug_filter: crate::info::debug_level(debug, "filter") > 0,
            debug_deltasum: crate::info::debug_level(debug, "deltasum") > 0,
            checksum_chosen: self
                .checksum_choice
                .as_deref()
                .is_some_and(|c| c.split(',').next() == Some("xxh128")),
            compress_chosen: self.compress_choice.as_deref() == Some("zstd"),
            compress_choice: self.compress_choice.clone(),
            checksum_choice: self.checksum_choice.clone(),
            remote_options: self
                .remote_option
                .iter()
                .map(|o| std::os::unix::ffi::OsStrExt::as_bytes(o.as_os_str()).to_vec())
                .collect(),
            log_file_format: self.log_file_format.clone(),
            append: match (self.append, self.append_verify) {
                (_, true) => 2,
                (true, false) => 1,
                _ => 0,
            },
            sparse: self.sparse,
            preallocate: self.preallocate,
            max_delete: self.max_delete.map(|n| n.max(0) as u64),
            stop_at,
            compress_level: level,
            high_bytes: crate::itemize::HighBytes::of(self.eight_bit),
            list_only: self.list_only,
            acls: self.acls,
            xattrs: self.xattrs.min(2),
            fake_super: self.fake_super,
            sender_fake_super: self.fake_super,
            atimes: self.atimes,
            open_noatime: self.open_noatime,
        })
    }

    /// `--old-args`, or `RSYNC_OLD_ARGS` set to anything but 0, as rsync reads it.
    pub fn old_args(&self) -> bool {
        self.old_args > 0
            || std::env::var("RSYNC_OLD_ARGS").is_ok_and(|v| !v.is_empty() && v != "0")
    }
}

impl More {
    /// The flags the agent needs to do the same on its end.
    pub fn server_args(&self) -> Vec<Vec<u8>> {
        let mut args = Vec::new();
        for (on, flag) in [
            (self.executability, "-E"),
            (self.omit_link_times, "-J"),
            (self.force, "--force"),
            (self.fuzzy, "-y"),
            (self.debug_fuzzy, "--debug=FUZZY"),
            (self.debug_filter, "--debug=FILTER"),
            (self.debug_deltasum, "--debug=DELTASUM"),
            (self.sparse, "-S"),
            (self.preallocate, "--preallocate"),
            (self.high_bytes == crate::itemize::HighBytes::Raw, "-8"),
            (self.delete_missing_args, "--delete-missing-args"),
            (self.acls, "-A"),
            (self.xattrs > 0, "-X"),
            (self.xattrs > 1, "-X"),
            (self.fake_super, "--fake-super"),
            (self.atimes, "-U"),
            (self.open_noatime, "--open-noatime"),
        ] {
            if on {
                args.push(flag.as_bytes().to_vec());
            }
        }
        match self.append {
            1 => args.push(b"--append".to_vec()),
            2 => args.push(b"--append-verify".to_vec()),
            _ => {}
        }
        if let Some(n) = self.max_delete {
            args.push(format!("--max-delete={n}").into_bytes());
        }
        if let Some(at) = self.stop_at {
            // As whole minutes left, rounded up: the agent's clock is its own.
            let left = at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs();
            args.push(format!("--stop-after={}", left.div_ceil(60).max(1)).into_bytes());
        }
        if self.modify_window > 0 {
            args.push(format!("--modify-window={}", self.modify_window).into_bytes());
        }
        if let Some(l) = self.compress_level {
            args.push(format!("--compress-level={l}").into_bytes());
        }
        // Last, so that they win over what the client chose, as rsync's -M does.
        args.extend(self.remote_options.iter().cloned());
        args
    }

    /// `--debug=NSTR`'s lines, as rsync's client prints them once the algorithms are
    /// settled: the checksum always, the compressor when data is compressed (`level`).
    pub fn negotiation_lines(&self, level: Option<i32>) -> Vec<String> {
        if !self.debug_nstr {
            return Vec::new();
        }
        let how = |chosen: bool| if chosen { "" } else { " negotiated" };
        let mut lines = vec![format!(
            "Client{} checksum: xxh128",
            how(self.checksum_chosen)
        )];
        if let Some(level) = level {
            lines.push(format!(
                "Client{} compress: zstd (level {level})",
                how(self.compress_chosen)
            ));
        }
        lines
    }

    /// Whether two mtimes (in seconds) count as the same: equal, or within
    /// `--modify-window` of each other.
    pub fn same_time(&self, a: i64, b: i64) -> bool {
        a.abs_diff(b) <= self.modify_window
    }

    /// Whether mtime `a` is later than `b` by more than `--modify-window`.
    pub fn newer(&self, a: i64, b: i64) -> bool {
        a > b && !self.same_time(a, b)
    }

    /// Whether the run has reached `--stop-at`/`--stop-after`.
    pub fn time_is_up(&self) -> bool {
        self.stop_at.is_some_and(|at| SystemTime::now() >= at)
    }
}

/// The permission bits `-E` gives a file that keeps its own mode (no `-p`): the execute
/// bits follow the sender's, as rsync sets them: where the sender's file is executable and
/// this one is not, x goes wherever r is; where it is not, every x goes.
pub fn executable_like(sender_mode: u32, mode: u32) -> u32 {
    let sender_x = sender_mode & 0o111 != 0;
    let here_x = mode & 0o111 != 0;
    match (sender_x, here_x) {
        (true, false) => mode | ((mode & 0o444) >> 2),
        (false, true) => mode & !0o111,
        _ => mode,
    }
}

/// rsync's `--stop-at` time: `[[[YY]YY-]MM-]DD]T]HH:MM` or a date alone, in local time. A
/// time given without a date is the next one to come; parts left out are today's.
fn parse_time(text: &str) -> Option<SystemTime> {
    let (date, time) = match text.find(['T', 't']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None if text.contains(':') => ("", Some(text.trim_start_matches(':'))),
        None => (text, None),
    };
    let num = |s: &str| -> Option<i32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let dates: Vec<i32> = match date {
        "" => Vec::new(),
        d => d.split(['-', '/']).map(num).collect::<Option<_>>()?,
    };
    let (hour, min) = match time {
        None | Some("") => (0, 0),
        Some(t) => {
            let (h, m) = t.split_once(':')?;
            (num(h)?, num(m)?)
        }
    };
    if dates.len() > 3 || (time.is_none() && dates.is_empty()) || hour > 23 || min > 59 {
        return None;
    }
    let now = SystemTime::now();
    let today = local_tm(now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)?;
    let mut tm = today;
    tm.tm_sec = 0;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_isdst = -1;
    let given = dates.len();
    if given >= 1 {
        tm.tm_mday = dates[given - 1];
    }
    if given >= 2 {
        tm.tm_mon = dates[given - 2] - 1;
    }
    if given == 3 {
        let y = dates[0];
        tm.tm_year = if y < 100 {
            let mut y = y;
            while y < today.tm_year {
                y += 100;
            }
            y
        } else {
            y - 1900
        };
    }
    if !(0..12).contains(&tm.tm_mon) || !(1..=31).contains(&tm.tm_mday) {
        return None;
    }
    // Parts not given roll forward (day, then month, then year) until the time is ahead.
    for _ in 0..400 {
        let at = make_time(tm)?;
        if at > now || given == 3 {
            return Some(at);
        }
        match given {
            0 => tm.tm_mday += 1,
            1 => tm.tm_mon += 1,
            _ => tm.tm_year += 1,
        }
    }
    None
}

/// `secs` since the epoch as the local calendar has them.
pub(crate) fn local_tm(secs: i64) -> Option<libc::tm> {
    let secs = secs as libc::time_t;
    // SAFETY: localtime_r writes the zeroed tm it is given and reads only `secs`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    ok.then_some(tm)
}

fn make_time(mut tm: libc::tm) -> Option<SystemTime> {
    // SAFETY: mktime normalizes the tm it owns here and returns a plain number.
    let t = unsafe { libc::mktime(&mut tm) };
    (t >= 0).then(|| UNIX_EPOCH + Duration::from_secs(t as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executability_follows_the_sender() {
        assert_eq!(executable_like(0o755, 0o604), 0o705);
        assert_eq!(executable_like(0o600, 0o700), 0o600);
        assert_eq!(executable_like(0o700, 0o700), 0o700);
        assert_eq!(executable_like(0o644, 0o644), 0o644);
    }

    #[test]
    fn stop_at_takes_rsyncs_forms_and_refuses_the_past() {
        assert!(parse_time("23:59").is_some());
        assert!(parse_time("T23:59").is_some());
        assert!(parse_time("2099-01-01T00:00").is_some());
        assert!(parse_time("12-31T12:00").is_some());
        assert!(parse_time("x").is_none());
        assert!(parse_time("25:00").is_none());
        let args = MoreArgs {
            stop_at: Some("2000-01-01T00:00".into()),
            ..MoreArgs::default()
        };
        let err = args.resolve(&[]).unwrap_err();
        assert!(err.contains("not in the future"), "{err}");
    }

    #[test]
    fn max_alloc_zero_is_refused_in_rsyncs_words() {
        let args = MoreArgs {
            max_alloc: Some("0".into()),
            ..MoreArgs::default()
        };
        assert_eq!(
            args.resolve(&[]).unwrap_err(),
            "max-alloc must be greater than zero"
        );
    }
}

#[cfg(test)]
mod attr_tests {
    use crate::cli::{parse, Options, Parsed};

    fn run(args: &[&str]) -> Options {
        match parse(std::iter::once("prsync").chain(args.iter().copied())).unwrap() {
            Parsed::Run(o) => *o,
            Parsed::Exit(_) => panic!("no transfer"),
        }
    }

    #[test]
    fn attribute_options_and_their_no_forms() {
        let o = run(&["-aXXAU", "--fake-super", "--open-noatime", "a", "b"]);
        let m = &o.more;
        assert!(m.acls && m.atimes && m.fake_super && m.open_noatime && o.perms);
        assert_eq!(m.xattrs, 2);
        let back = crate::cli::parse_server_args(&o.server_args()).unwrap();
        assert_eq!(back.more.xattrs, 2);
        assert!(back.more.acls && back.more.atimes && back.more.fake_super);
        let o = run(&["-aXAU", "--no-X", "--no-acls", "--no-U", "a", "b"]);
        assert_eq!(o.more.xattrs, 0);
        assert!(!o.more.acls && !o.more.atimes);
        // -A implies -p, as in rsync.
        assert!(run(&["-rA", "a", "b"]).perms);
    }
}
