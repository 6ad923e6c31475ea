//! The arguments a client gives `rsync --server`, in the order rsync's `server_options`
//! builds them: one bundle of single-letter options ending in `e` and the capability
//! letters, then the long options, then `.` and the paths.

use crate::compress::Asked;
use crate::handshake::CAPABILITIES;

/// The options that travel to the server.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The server sends (a pull).
    pub server_sends: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-n`.
    pub dry_run: bool,
    /// `-l`.
    pub links: bool,
    /// `-W`.
    pub whole_file: bool,
    /// `-o`.
    pub owner: bool,
    /// `-g`.
    pub group: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
    /// `-t`.
    pub times: bool,
    /// `-p`.
    pub perms: bool,
    /// `-r`.
    pub recursive: bool,
    /// `-i` count (one is `%i`, two also show unchanged entries).
    pub itemize: u8,
    /// `--delete`.
    pub delete: bool,
    /// `--partial`: a receiving server keeps what came of a file cut off.
    pub partial: bool,
    /// `--partial-dir=DIR`: and keeps it in DIR.
    pub partial_dir: Option<String>,
    /// `--mkpath`: a receiving server makes the folders above the destination (rsync
    /// 3.2.3 and later).
    pub mkpath: bool,
    /// `-z` and its choice and level.
    pub compress: Asked,
    /// `-H`: hard links are marked in the file list, and a receiving server links them.
    pub hard_links: bool,
    /// `-m`: told only to a receiving server (the client sends a pruned list).
    pub prune_empty_dirs: bool,
    /// `-s`: everything after the letters travels on the connection, not on the remote
    /// shell's command line (see [`ServerOptions::secluded`]).
    pub secluded: bool,
    /// `-b`: the receiver keeps what it replaces or deletes.
    pub backups: bool,
    /// `-u`: the receiver keeps files that are newer than the sender's.
    pub update: bool,
    /// `-d` without `-r`: folders named are made, without their contents.
    pub dirs: bool,
    /// `-I`: no quick check; every file is sent.
    pub ignore_times: bool,
    /// `-c`: files are compared by whole-file checksums (the sender puts them in the
    /// list), not by size and time.
    pub checksum: bool,
    /// `-R`: names keep the path they were given with.
    pub relative: bool,
    /// `-x` count: the walk stays on one file system.
    pub one_file_system: u8,
    /// `-S`: runs of zeros become holes.
    pub sparse: bool,
    /// `-K` (told to a receiving server): a symlink to a folder here stays one.
    pub keep_dirlinks: bool,
    /// `-O` (told to a receiving server): folders keep their own times.
    pub omit_dir_times: bool,
    /// `-J` (told to a receiving server): symlinks keep their own times.
    pub omit_link_times: bool,
    /// `-E` without `-p` (told to a receiving server): only the execute bits follow.
    pub executability: bool,
    /// `-L` (told to a sending server): symlinks are sent as what they point to.
    pub copy_links: bool,
    /// `-k` (told to a sending server): symlinks to folders are sent as folders.
    pub copy_dirlinks: bool,
    /// Further long options (`--inplace`, `--copy-dest=DIR`, `--stats` ...), as the
    /// client chose them for the server's role: they go as they are, before the paths.
    pub long: Vec<String>,
}

impl ServerOptions {
    /// The argv after the program: `--server ... . DEST` (or the sources of a pull).
    pub fn argv(&self, paths: &[String]) -> Vec<String> {
        let mut args = vec!["--server".to_string()];
        if self.server_sends {
            args.push("--sender".into());
        }
        let mut s = String::from("-");
        if self.secluded {
            s.push('s');
        }
        for _ in 0..self.verbose.min(9) {
            s.push('v');
        }
        let receiving = !self.server_sends;
        let letters = [
            (self.backups, 'b'),
            (self.update, 'u'),
            (self.dry_run, 'n'),
            (self.links, 'l'),
            (self.dirs && !self.recursive, 'd'),
            (self.keep_dirlinks && receiving, 'K'),
            (self.prune_empty_dirs && receiving, 'm'),
            (self.omit_dir_times && receiving, 'O'),
            (self.omit_link_times && receiving, 'J'),
            (self.copy_links && !receiving, 'L'),
            (self.copy_dirlinks && !receiving, 'k'),
            (self.whole_file, 'W'),
            (self.hard_links, 'H'),
            (self.owner, 'o'),
            (self.group, 'g'),
            (self.devices, 'D'),
            (self.times, 't'),
            (self.perms, 'p'),
            (self.executability && !self.perms && receiving, 'E'),
            (self.recursive, 'r'),
            (self.checksum, 'c'),
            (self.ignore_times, 'I'),
            (self.relative, 'R'),
            (self.one_file_system > 0, 'x'),
            (self.one_file_system > 1, 'x'),
            (self.sparse, 'S'),
        ];
        s.extend(letters.iter().filter(|(on, _)| *on).map(|(_, c)| c));
        let (bundle_z, compress_args) = self.compress.server_args();
        if bundle_z {
            s.push('z');
        }
        s.push('e');
        s.push_str(CAPABILITIES);
        args.push(s);
        if self.devices && !self.specials {
            args.push("--no-specials".into());
        } else if !self.devices && self.specials {
            args.push("--specials".into());
        }
        args.extend(compress_args);
        if !self.server_sends {
            match self.itemize {
                0 => {}
                1 => args.push("--log-format=%i".into()),
                _ => args.push("--log-format=%i%I".into()),
            }
        }
        // The receiver deletes: a sending server is not told.
        if self.delete && !self.server_sends {
            args.push("--delete".into());
        }
        // Only a receiving server keeps partial files; a pull's are this side's.
        if !self.server_sends {
            if let Some(dir) = &self.partial_dir {
                args.push(format!("--partial-dir={dir}"));
            } else if self.partial {
                args.push("--partial".into());
            }
        }
        if self.mkpath && !self.server_sends {
            args.push("--mkpath".into());
        }
        args.extend(self.long.iter().cloned());
        args.push(".".into());
        args.extend(paths.iter().cloned());
        args
    }
}

/// With `-s`, rsync's `send_protected_args`: the argv split after the letters, into what
/// the remote shell runs and the bytes the client writes first on the connection (before
/// the version): `rsync` and each later argument NUL-terminated (an empty one as `.`),
/// then an empty one. The paths then reach the server untouched by the remote shell.
pub fn secluded(argv: &[String]) -> (Vec<String>, Vec<u8>) {
    let cut = argv
        .iter()
        .position(|a| a.starts_with("-s"))
        .map_or(argv.len(), |i| i + 1);
    let mut bytes = b"rsync\0".to_vec();
    for arg in &argv[cut..] {
        bytes.extend_from_slice(if arg.is_empty() { b"." } else { arg.as_bytes() });
        bytes.push(0);
    }
    bytes.push(0);
    (argv[..cut].to_vec(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_itemize_delete_is_what_rsync_sends_but_for_the_capabilities() {
        // rsync 3.4 sends `--server -logDtpre.iLsfxCIvu --log-format=%i --delete . /d/`
        // for `-ai --delete`; prsync leaves out `i` and `u` (see handshake).
        let o = ServerOptions {
            links: true,
            owner: true,
            group: true,
            devices: true,
            specials: true,
            times: true,
            perms: true,
            recursive: true,
            itemize: 1,
            delete: true,
            ..ServerOptions::default()
        };
        assert_eq!(
            o.argv(&["/d/".into()]),
            [
                "--server",
                "-logDtpre.LsfxCIv",
                "--log-format=%i",
                "--delete",
                ".",
                "/d/"
            ]
        );
        let partial = ServerOptions {
            recursive: true,
            partial: true,
            ..ServerOptions::default()
        };
        assert_eq!(
            partial.argv(&["/d/".into()]),
            ["--server", "-re.LsfxCIv", "--partial", ".", "/d/"]
        );
        let mkpath = ServerOptions {
            recursive: true,
            mkpath: true,
            ..ServerOptions::default()
        };
        assert_eq!(
            mkpath.argv(&["/a/b/".into()]),
            ["--server", "-re.LsfxCIv", "--mkpath", ".", "/a/b/"]
        );
        let zlibx = ServerOptions {
            recursive: true,
            compress: Asked {
                z: 1,
                choice: Some("zlibx".into()),
                level: Some(9),
            },
            ..ServerOptions::default()
        };
        assert_eq!(
            zlibx.argv(&["/d/".into()]),
            [
                "--server",
                "-re.LsfxCIv",
                "--compress-level=9",
                "--new-compress",
                ".",
                "/d/"
            ]
        );
        let linked = ServerOptions {
            recursive: true,
            hard_links: true,
            verbose: 2,
            secluded: true,
            long: vec!["--inplace".into()],
            ..ServerOptions::default()
        };
        let argv = linked.argv(&["/a b/".into()]);
        assert_eq!(
            argv,
            ["--server", "-svvHre.LsfxCIv", "--inplace", ".", "/a b/"]
        );
        let (shell, wire) = secluded(&argv);
        assert_eq!(shell, ["--server", "-svvHre.LsfxCIv"]);
        assert_eq!(wire, b"rsync\0--inplace\0.\0/a b/\0\0");
        let pull = ServerOptions {
            server_sends: true,
            compress: Asked {
                z: 1,
                ..Asked::default()
            },
            times: true,
            specials: true,
            itemize: 1,
            delete: true,
            ..ServerOptions::default()
        };
        assert_eq!(
            pull.argv(&["src".into()]),
            [
                "--server",
                "--sender",
                "-tze.LsfxCIv",
                "--specials",
                ".",
                "src"
            ]
        );
    }
}
