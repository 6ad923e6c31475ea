//! The server's side of [`server_args`](crate::server_args): what a stock rsync client
//! asked for when it started `PROG --server [--sender] -BUNDLE [long options] . PATHS`.
//!
//! The bundle holds the single-letter options and ends with `e` and the client's
//! capability letters (`-logDtpre.iLsfxCIvu`); long options follow, then `.` (the folder
//! the paths are relative to) and the paths. Whatever is parsed here but not in
//! [`ServerRequest`]'s fields lands in `unsupported`, so that a server can refuse it by
//! name instead of doing half of what was asked.

use crate::compress::Asked;

/// What the client asked the server to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerRequest {
    /// `--sender`: the server sends (the client pulls).
    pub sender: bool,
    /// `-s`: the rest of the arguments come on stdin (see [`read_protected_args`]).
    pub protect_args: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-n`.
    pub dry_run: bool,
    /// `-l`.
    pub links: bool,
    /// `-o`.
    pub owner: bool,
    /// `-g`.
    pub group: bool,
    /// `-D` (devices; specials too unless `--no-specials`).
    pub devices: bool,
    /// Specials (`-D` without `--no-specials`, or `--specials`).
    pub specials: bool,
    /// `-t`.
    pub times: bool,
    /// `-p`.
    pub perms: bool,
    /// `-r`.
    pub recursive: bool,
    /// `-W`.
    pub whole_file: bool,
    /// `-H`.
    pub hard_links: bool,
    /// `-c`: files are compared by their checksum, which the list carries.
    pub checksum: bool,
    /// `-b` (or `--backup-dir`): what is replaced or deleted is kept.
    pub backup: bool,
    /// `--backup-dir=DIR`.
    pub backup_dir: Option<String>,
    /// `--suffix=SUF`.
    pub suffix: Option<String>,
    /// `-R`.
    pub relative: bool,
    /// `-d`: folders without their contents.
    pub dirs: bool,
    /// `--no-implied-dirs`.
    pub no_implied_dirs: bool,
    /// `--files-from`: `-` for names the client sends on the stream, else a file here.
    pub files_from: Option<String>,
    /// `--from0`: the names end in NUL, not newline.
    pub from0: bool,
    /// `-I`.
    pub ignore_times: bool,
    /// `--size-only`.
    pub size_only: bool,
    /// `--numeric-ids`.
    pub numeric_ids: bool,
    /// `--delete` (or `--delete-during`, `--delete-before`, `--delete-after`).
    pub delete: bool,
    /// When the receiver deletes.
    pub delete_when: DeleteWhen,
    /// Whether an option named when (`--delete-before`...): without one, protocols
    /// below 30 delete before, later ones during.
    pub delete_when_named: bool,
    /// `--delete-excluded` (which implies `--delete`): what the rules exclude goes too.
    pub delete_excluded: bool,
    /// `-u`: a newer file on the receiver is kept.
    pub update: bool,
    /// `--existing`: nothing new is made on the receiver.
    pub existing: bool,
    /// `--ignore-existing`: what the receiver has is kept.
    pub ignore_existing: bool,
    /// `-O`: folders' times are not kept.
    pub omit_dir_times: bool,
    /// `-J`: symlinks' times are not kept.
    pub omit_link_times: bool,
    /// `--drop-D` (rrsync's): devices and specials are listed but never made.
    pub drop_devices: bool,
    /// `--fake-super` (which a client never sends: a shim or `--rsync-path` puts it on the
    /// server's line): what only root may set (owner, group, special bits, the type and
    /// number of a device) is kept in, and read from, the `user.rsync.%stat` attribute.
    pub fake_super: bool,
    /// Where the server's messages go (`--stderr`, `--msgs2stderr`), when the client
    /// named it; see [`Stderr::settle`].
    pub stderr: Option<Stderr>,
    /// `--confine-root=DIR` (rrsync's): every path the server resolves stays inside it.
    pub confine_root: Option<String>,
    /// `--ignore-errors`.
    pub ignore_errors: bool,
    /// `--log-format=%i` is 1, `--log-format=%i%I` is 2: how much the generator itemizes.
    pub itemize: u8,
    /// `--partial-dir=DIR`: partials from a broken run are the basis of their files.
    pub partial_dir: Option<String>,
    /// `--delay-updates`: files are put in place together at the end (the partial
    /// folder, `.~tmp~` unless given, holds them until then).
    pub delay_updates: bool,
    /// `--log-file=FILE`: the server keeps rsync's log of what it changed there.
    pub log_file: Option<String>,
    /// `--log-file-format=FMT`.
    pub log_file_format: Option<String>,
    /// `--checksum-seed=N`.
    pub checksum_seed: Option<i32>,
    /// `--checksum-choice=NAME[,NAME]`, as given: the checksum is then not negotiated.
    pub checksum_choice: Option<String>,
    /// `-z`, `--compress-choice` (`--old-compress`, `--new-compress`),
    /// `--compress-level`: what compression the client asked for.
    pub compress: Asked,
    /// The capability letters after `e` (`.iLsfxCIvu`).
    pub client_info: String,
    /// The paths after the options: the first is the folder they are relative to (`.`).
    pub paths: Vec<String>,
    /// `--compare-dest`, `--copy-dest` and `--link-dest`, in the order given (rsync
    /// refuses a mix, and so does the server that reads them).
    pub basis_dirs: Vec<(BasisKind, String)>,
    /// `-K`: a symlink to a folder on the receiver stands for the folder.
    pub keep_dirlinks: bool,
    /// `--inplace`: a file is rewritten where it is, not through a temp file.
    pub inplace: bool,
    /// `--copy-unsafe-links`: a symlink that leads out of the transfer is sent as what
    /// it points to.
    pub copy_unsafe_links: bool,
    /// The options given that have no field here, as typed (`-z`, `-A`).
    pub unsupported: Vec<String>,
}

/// Which of rsync's basis-folder options named a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BasisKind {
    /// `--compare-dest`.
    Compare,
    /// `--copy-dest`.
    Copy,
    /// `--link-dest`.
    Link,
}

/// Where a server's messages go: rsync's `--stderr` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// Errors and warnings on the server's own stderr, which the remote shell carries to
    /// the client's (rsync's default since 3.2.4), the rest on the stream.
    Errors,
    /// Every message on stderr.
    All,
    /// Every message on the stream, for the client to print.
    Client,
}

impl Stderr {
    /// The mode a server uses: the one named, else errors on stderr, except that a client
    /// below protocol 29 may not have set stderr up, so it gets all on the stream.
    pub fn settle(named: Option<Stderr>, protocol: i32) -> Stderr {
        match named {
            Some(mode) => mode,
            None if protocol <= 28 => Stderr::Client,
            None => Stderr::Errors,
        }
    }

    /// `--stderr`'s value, abbreviated as rsync takes it.
    fn parse(value: &str) -> Option<Stderr> {
        let named = |word: &str| !value.is_empty() && word.starts_with(value);
        if named("errors") {
            Some(Stderr::Errors)
        } else if named("all") {
            Some(Stderr::All)
        } else if named("client") {
            Some(Stderr::Client)
        } else {
            None
        }
    }
}

/// When the receiving side deletes what the sender does not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeleteWhen {
    /// In each folder as the generator reaches it (rsync's default from protocol 30).
    #[default]
    During,
    /// In a pass over every folder before the transfer.
    Before,
    /// In a pass after the transfer (`--delete-delay` too: the same deletions, found
    /// during, done after).
    After,
}

/// Long options that take their value as the next argument when given without `=`.
const TAKES_VALUE: &[&str] = &[
    "--backup-dir",
    "--suffix",
    "--temp-dir",
    "--partial-dir",
    "--compare-dest",
    "--copy-dest",
    "--link-dest",
    "--checksum-choice",
    "--cc",
    "--compress-choice",
    "--zc",
    "--compress-level",
    "--zl",
    "--compress-threads",
    "--skip-compress",
    "--max-alloc",
    "--min-size",
    "--max-size",
    "--usermap",
    "--groupmap",
    "--iconv",
    "--confine-root",
    "--files-from",
    "--log-file",
    "--log-file-format",
    "--stderr",
];

/// Long options a server may take and do nothing about: they only change what it would
/// print, or bounds it does not need to keep.
const HARMLESS: &[&str] = &["--stats", "--partial", "--force", "--use-qsort", "--no-r"];

impl ServerRequest {
    /// Parses the arguments after the program name (`--server` first). `None` when they
    /// are not a stock rsync client's (prsync's own agent is started with `--server`
    /// alone).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Option<ServerRequest> {
        let mut args = args.iter().map(|a| a.as_ref());
        if args.next()? != "--server" {
            return None;
        }
        let mut req = ServerRequest::default();
        let mut saw_bundle = false;
        let mut options_over = false;
        let mut no_relative = false;
        while let Some(arg) = args.next() {
            if options_over
                || !req.paths.is_empty()
                || arg == "." && saw_bundle
                || !arg.starts_with('-')
            {
                req.paths.push(arg.to_string());
                continue;
            }
            if arg == "--" {
                // rrsync ends the options so: what follows is `.` and the paths.
                options_over = true;
                continue;
            }
            if arg == "--sender" {
                req.sender = true;
            } else if let Some(letters) = arg.strip_prefix("--") {
                let (name, value) = match letters.split_once('=') {
                    Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                    None => (arg.to_string(), None),
                };
                let value = match value {
                    Some(v) => Some(v),
                    None if TAKES_VALUE.contains(&name.as_str()) => args.next().map(String::from),
                    None => None,
                };
                match (name.as_str(), value.as_deref()) {
                    ("--delete", None) => req.delete = true,
                    ("--delete-during", None) => {
                        req.delete = true;
                        req.delete_when = DeleteWhen::During;
                        req.delete_when_named = true;
                    }
                    ("--delete-before", None) => {
                        req.delete = true;
                        req.delete_when = DeleteWhen::Before;
                        req.delete_when_named = true;
                    }
                    ("--delete-after", None) | ("--delete-delay", None) => {
                        req.delete = true;
                        req.delete_when = DeleteWhen::After;
                        req.delete_when_named = true;
                    }
                    ("--existing", None) => req.existing = true,
                    ("--delete-excluded", None) => {
                        req.delete = true;
                        req.delete_excluded = true;
                    }
                    ("--compare-dest", Some(d)) => {
                        req.basis_dirs.push((BasisKind::Compare, d.to_string()))
                    }
                    ("--copy-dest", Some(d)) => {
                        req.basis_dirs.push((BasisKind::Copy, d.to_string()))
                    }
                    ("--link-dest", Some(d)) => {
                        req.basis_dirs.push((BasisKind::Link, d.to_string()))
                    }
                    ("--inplace", None) => req.inplace = true,
                    ("--copy-unsafe-links", None) => req.copy_unsafe_links = true,
                    ("--no-implied-dirs", None) => req.no_implied_dirs = true,
                    ("--files-from", Some(f)) => req.files_from = Some(f.to_string()),
                    ("--from0", None) => req.from0 = true,
                    ("--backup-dir", Some(d)) => {
                        req.backup = true;
                        req.backup_dir = Some(d.to_string());
                    }
                    ("--suffix", Some(x)) => req.suffix = Some(x.to_string()),
                    ("--no-relative", None) => no_relative = true,
                    ("--drop-D", None) => req.drop_devices = true,
                    ("--no-drop-D", None) => req.drop_devices = false,
                    ("--fake-super", None) => req.fake_super = true,
                    ("--confine-root", Some(dir)) => req.confine_root = Some(dir.to_string()),
                    // What the server would print: the client prints its own.
                    ("--info" | "--debug", Some(_)) => {}
                    ("--ignore-existing", None) => req.ignore_existing = true,
                    ("--numeric-ids", None) => req.numeric_ids = true,
                    ("--size-only", None) => req.size_only = true,
                    ("--ignore-errors", None) => req.ignore_errors = true,
                    // In the order given, as rsync's options: a shim's `--no-D` before the
                    // client's bundle is undone by its `-D`.
                    ("--specials", None) => req.specials = true,
                    ("--no-specials", None) => req.specials = false,
                    ("--devices", None) => req.devices = true,
                    ("--no-devices", None) => req.devices = false,
                    ("--no-D", None) => {
                        req.devices = false;
                        req.specials = false;
                    }
                    ("--log-format", Some(f)) => {
                        req.itemize = if f.contains("%I") {
                            2
                        } else {
                            u8::from(f.contains("%i"))
                        }
                    }
                    ("--timeout", Some(_)) => {}
                    ("--new-compress", None) => req.compress.choice = Some("zlibx".into()),
                    ("--old-compress", None) => req.compress.choice = Some("zlib".into()),
                    ("--compress-choice" | "--zc", Some(c)) => {
                        req.compress.choice = Some(c.to_string())
                    }
                    ("--checksum-choice" | "--cc", Some(c)) => {
                        req.checksum_choice = Some(c.to_string())
                    }
                    ("--compress-level" | "--zl", Some(n)) => match n.parse() {
                        Ok(n) => req.compress.level = Some(n),
                        Err(_) => req.unsupported.push(arg.to_string()),
                    },
                    // Only zstd has threads; rsync 3.5 compresses every suffix alike.
                    ("--compress-threads" | "--skip-compress", Some(_)) => {}
                    ("--delay-updates", None) => req.delay_updates = true,
                    ("--partial-dir", Some(d)) => req.partial_dir = Some(d.to_string()),
                    ("--log-file", Some(f)) => req.log_file = Some(f.to_string()),
                    ("--log-file-format", Some(f)) => req.log_file_format = Some(f.to_string()),
                    ("--checksum-seed", Some(n)) => match n.parse() {
                        Ok(n) => req.checksum_seed = Some(n),
                        Err(_) => req.unsupported.push(arg.to_string()),
                    },
                    ("--msgs2stderr", None) => req.stderr = Some(Stderr::All),
                    ("--no-msgs2stderr", None) => req.stderr = Some(Stderr::Client),
                    ("--stderr", Some(mode)) => match Stderr::parse(mode) {
                        Some(mode) => req.stderr = Some(mode),
                        None => req.unsupported.push(arg.to_string()),
                    },
                    (n, None) if HARMLESS.contains(&n) => {}
                    _ => req.unsupported.push(arg.to_string()),
                }
            } else {
                saw_bundle = true;
                req.bundle(&arg[1..]);
            }
        }
        if req.delay_updates && req.partial_dir.is_none() {
            req.partial_dir = Some(".~tmp~".into());
        }
        // As rsync's server reads --files-from: -R (unless --no-relative) and -d.
        if req.files_from.is_some() {
            req.dirs = true;
            req.relative = !no_relative;
        } else if no_relative {
            req.relative = false;
        }
        Some(req)
    }

    /// Takes in one `-letters` argument.
    fn bundle(&mut self, letters: &str) {
        for (i, c) in letters.char_indices() {
            match c {
                'v' => self.verbose = self.verbose.saturating_add(1),
                's' => self.protect_args = true,
                'n' => self.dry_run = true,
                'l' => self.links = true,
                'o' => self.owner = true,
                'g' => self.group = true,
                'D' => {
                    self.devices = true;
                    self.specials = true;
                }
                't' => self.times = true,
                'p' => self.perms = true,
                'r' => self.recursive = true,
                'W' => self.whole_file = true,
                'I' => self.ignore_times = true,
                'u' => self.update = true,
                'H' => self.hard_links = true,
                'c' => self.checksum = true,
                'b' => self.backup = true,
                'R' => self.relative = true,
                'd' => self.dirs = true,
                'O' => self.omit_dir_times = true,
                'K' => self.keep_dirlinks = true,
                'J' => self.omit_link_times = true,
                'z' => self.compress.z = self.compress.z.saturating_add(1),
                'e' => {
                    self.client_info = letters[i + 1..].to_string();
                    return;
                }
                other => self.unsupported.push(format!("-{other}")),
            }
        }
    }

    /// Whether the client gave capability letter `c`.
    pub fn has_capability(&self, c: char) -> bool {
        self.client_info.contains(c)
    }
}

/// Reads the arguments a client with `-s` (`--secluded-args`) sends on stdin before the
/// handshake: NUL-terminated strings up to an empty one, the first of them a program
/// name to drop. They are the options and paths that would have followed the bundle on
/// the command line, kept from the remote shell's word splitting and globbing.
pub fn read_protected_args(r: &mut impl std::io::Read) -> std::io::Result<Vec<String>> {
    use crate::codec::{get_byte, invalid};
    let mut args = Vec::new();
    let mut arg = Vec::new();
    let mut total = 0usize;
    loop {
        let b = get_byte(r)?;
        total += 1;
        if total > 1 << 20 {
            return Err(invalid("more than 1 MiB of arguments".into()));
        }
        if b != 0 {
            arg.push(b);
            continue;
        }
        if arg.is_empty() {
            break;
        }
        let text = String::from_utf8(std::mem::take(&mut arg))
            .map_err(|_| invalid("an argument that is not UTF-8".into()))?;
        args.push(text);
    }
    if !args.is_empty() {
        args.remove(0);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_messages_go_is_read_as_rsync_reads_it() {
        let mode = |args: &[&str]| {
            let mut all = vec!["--server"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["-r", ".", "d"]);
            ServerRequest::parse(&all).unwrap().stderr
        };
        assert_eq!(mode(&[]), None);
        assert_eq!(mode(&["--msgs2stderr"]), Some(Stderr::All));
        assert_eq!(mode(&["--no-msgs2stderr"]), Some(Stderr::Client));
        assert_eq!(mode(&["--stderr=c"]), Some(Stderr::Client));
        assert_eq!(mode(&["--stderr", "errors"]), Some(Stderr::Errors));
        assert_eq!(Stderr::settle(None, 28), Stderr::Client);
        assert_eq!(Stderr::settle(None, 29), Stderr::Errors);
        assert_eq!(Stderr::settle(Some(Stderr::All), 28), Stderr::All);
        let bad = ServerRequest::parse(&["--server", "--stderr=x", "-r", ".", "d"]).unwrap();
        assert_eq!(bad.unsupported, vec!["--stderr=x".to_string()]);
    }

    #[test]
    fn a_stock_push_and_pull_read_back() {
        let push = ServerRequest::parse(&[
            "--server",
            "-logDtpre.iLsfxCIvu",
            "--log-format=%i",
            "--delete",
            ".",
            "/tmp/dst",
        ])
        .unwrap();
        assert!(!push.sender && push.links && push.owner && push.group && push.devices);
        assert!(push.specials && push.times && push.perms && push.recursive && push.delete);
        assert_eq!(push.itemize, 1);
        assert_eq!(push.client_info, ".iLsfxCIvu");
        assert_eq!(push.paths, [".", "/tmp/dst"]);
        assert!(push.unsupported.is_empty());

        let pull = ServerRequest::parse(&[
            "--server",
            "--sender",
            "-vlogDtpre.iLsfxCIvu",
            "--no-specials",
            ".",
            "a/",
            "b",
        ])
        .unwrap();
        assert!(pull.sender && pull.devices && !pull.specials);
        assert!(!pull.fake_super);
        assert_eq!(pull.verbose, 1);
        assert_eq!(pull.paths, [".", "a/", "b"]);
    }

    #[test]
    fn fake_super_and_drop_d_are_the_servers_own() {
        let req = ServerRequest::parse(&[
            "--server",
            "-logDtpre.iLsfxCIvu",
            "--fake-super",
            "--drop-D",
            ".",
            "d",
        ])
        .unwrap();
        assert!(req.fake_super && req.drop_devices && req.devices && req.specials);
        assert!(req.unsupported.is_empty());

        // rsync reads them in order: a shim's --no-D is undone by the bundle's -D, and
        // one after it holds.
        let before = ["--server", "--no-D", "-logDtpre.iLsfxCIvu", ".", "d"];
        let req = ServerRequest::parse(&before).unwrap();
        assert!(req.devices && req.specials);
        let after = ["--server", "-logDtpre.iLsfxCIvu", "--no-D", ".", "d"];
        let req = ServerRequest::parse(&after).unwrap();
        assert!(!req.devices && !req.specials && req.unsupported.is_empty());
        let req = ServerRequest::parse(&["--server", "--specials", "--no-devices", ".", "d"]);
        let req = req.unwrap();
        assert!(!req.devices && req.specials);
    }

    #[test]
    fn compression_is_read_as_rsyncs_client_sends_it() {
        let req = ServerRequest::parse(&[
            "--server",
            "-zre.iLsfxCIvu",
            "--compress-level=3",
            "--skip-compress=gz/jpg",
            ".",
            "d",
        ])
        .unwrap();
        assert!(req.unsupported.is_empty(), "{:?}", req.unsupported);
        assert_eq!((req.compress.z, req.compress.level), (1, Some(3)));
        let req = ServerRequest::parse(&["--server", "-re.iLsfxCIvu", "--new-compress", ".", "d"])
            .unwrap();
        assert_eq!(req.compress.choice.as_deref(), Some("zlibx"));
        let req = ServerRequest::parse(&[
            "--server",
            "-re.iLsfxCIvu",
            "--compress-choice=zstd",
            ".",
            "d",
        ])
        .unwrap();
        assert_eq!(req.compress.choice.as_deref(), Some("zstd"));
        assert!(req.compress.settle(None).is_err());
    }

    #[test]
    fn basis_folders_dirlinks_and_delete_excluded_are_read() {
        let req = ServerRequest::parse(&[
            "--server",
            "-Klogre.iLsfxCIvu",
            "--link-dest=/tmp/a",
            "--link-dest",
            "../b",
            "--delete-excluded",
            "--inplace",
            ".",
            "d/",
        ])
        .unwrap();
        assert!(req.unsupported.is_empty(), "{:?}", req.unsupported);
        assert!(req.keep_dirlinks && req.inplace);
        assert!(req.delete && req.delete_excluded);
        assert_eq!(req.delete_when, DeleteWhen::During);
        assert_eq!(
            req.basis_dirs,
            [
                (BasisKind::Link, "/tmp/a".to_string()),
                (BasisKind::Link, "../b".to_string())
            ]
        );
        assert_eq!(req.paths, [".", "d/"]);
    }

    #[test]
    fn the_agents_bare_server_flag_is_not_a_request() {
        assert_eq!(
            ServerRequest::parse(&["--server"]).map(|r| r.paths.len()),
            Some(0)
        );
        assert!(ServerRequest::parse(&["-a"]).is_none());
    }

    #[test]
    fn secluded_arguments_are_read_up_to_the_empty_one() {
        let wire = b"rsync\0--log-format=%i\0.\0a b/*\0\0rest";
        let mut r = &wire[..];
        let args = read_protected_args(&mut r).unwrap();
        assert_eq!(args, ["--log-format=%i", ".", "a b/*"]);
        assert_eq!(r, b"rest");
        let mut all = vec!["--server".to_string(), "-se.LsfxCIvu".to_string()];
        all.extend(args);
        let req = ServerRequest::parse(&all).unwrap();
        assert!(req.protect_args);
        assert_eq!(req.itemize, 1);
        assert_eq!(req.paths, [".", "a b/*"]);
    }

    #[test]
    fn options_without_a_field_are_kept_by_name() {
        let req = ServerRequest::parse(&[
            "--server",
            "-SAre.iLsfxCIvu",
            "--inplace",
            "--link-dest",
            "old",
            "--safe-links",
            "--backup-dir",
            "bak",
            "--timeout=9",
            ".",
            "d",
        ])
        .unwrap();
        assert_eq!(req.unsupported, ["-S", "-A", "--safe-links"]);
        assert!(req.inplace);
        assert_eq!(req.basis_dirs, [(BasisKind::Link, "old".to_string())]);
        assert_eq!(req.backup_dir.as_deref(), Some("bak"));
        assert!(req.backup);
        assert_eq!(req.paths, [".", "d"]);
        let rrsync = ServerRequest::parse(&["--server", "-re.iLsfxCIvu", "--", ".", "-x"]).unwrap();
        assert_eq!(rrsync.paths, [".", "-x"]);
        assert!(rrsync.unsupported.is_empty());
    }
}
