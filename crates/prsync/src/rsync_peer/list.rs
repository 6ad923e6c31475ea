//! The sources as rsync's file list: each entry with the local path it is read from, made
//! from the one listing prsync's own sender makes (so a run to agent hosts and rsync hosts
//! walks the tree once), and encoded once for every host that speaks the same protocol.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prtools_rsync_wire::checksum::{Checksum, Digest, FileSum};
use prtools_rsync_wire::filters::put_rules;
use prtools_rsync_wire::flist::{self, put_id_list, Encoder, Entry};
use prtools_rsync_wire::flist_links::{mark, Mark};

use crate::cli::{DeleteMode, Options};
use crate::flist::FileKind;
use crate::idmap::{name_of, Ids};
use crate::sender::{LocalSender, Sender};

/// An entry and where it is here.
pub struct Item {
    /// The entry as sent.
    pub entry: Entry,
    /// The file it was made from.
    pub path: PathBuf,
    /// With `-H`: its hard-linked group (entries of one group share an inode).
    pub hlink: Option<u32>,
}

/// The list, sorted as rsync sorts it, and whether some of it could not be read
/// (rsync's general I/O error bit: the receiver then deletes nothing).
pub struct Listed {
    /// The entries.
    pub items: Vec<Item>,
    /// rsync's `io_error` bits (1: general).
    pub io_error: i32,
    /// The status to stop with before anything is sent (see [`LocalSender::fatal`]).
    pub fatal: Option<i32>,
}

/// Lists the sources with prsync's sender, saying its problems and notices as a local
/// copy does.
pub fn list(opts: &Options) -> Listed {
    let sender = LocalSender::list(&opts.sources, &crate::list_options(opts), &opts.filters);
    for e in &sender.errors {
        eprintln!("prsync: {}", e.message);
    }
    for n in &sender.notices {
        println!("{n}");
    }
    of_sender(&sender, opts)
}

/// The sender's listing as rsync's: `SRC/` is `.` and what is in it, `SRC` its own name,
/// and the folders named as sources carry rsync's top-folder mark.
pub fn of_sender(sender: &LocalSender, opts: &Options) -> Listed {
    let tops: BTreeSet<Vec<u8>> = opts
        .sources
        .iter()
        .map(|source| {
            let bytes = source.as_bytes();
            let contents = bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b".";
            match Path::new(source).file_name() {
                Some(n) if !contents => n.as_bytes().to_vec(),
                _ => b".".to_vec(),
            }
        })
        .collect();
    let mut items = Vec::with_capacity(sender.file_list().len());
    for (i, e) in sender.file_list().iter().enumerate() {
        let (size, rdev, link) = match &e.kind {
            FileKind::Regular { size } => (*size, 0, None),
            FileKind::Device { rdev } => (0, *rdev, None),
            FileKind::Symlink { target } => (0, 0, Some(target.clone())),
            FileKind::Dir | FileKind::Special => (0, 0, None),
            FileKind::Missing => continue,
        };
        let top = e.is_dir() && tops.contains(&e.name);
        items.push(Item {
            entry: Entry {
                name: e.name.clone(),
                mode: e.mode,
                size,
                mtime: e.mtime.secs,
                mtime_nsec: e.mtime.nanos,
                uid: e.uid,
                gid: e.gid,
                rdev,
                link,
                top,
            },
            path: sender.path(i).to_path_buf(),
            hlink: e.hlink,
        });
    }
    items.sort_by(|a, b| flist::compare(&a.entry, &b.entry));
    items.dedup_by(|a, b| a.entry.name == b.entry.name);
    Listed {
        items,
        io_error: i32::from(!sender.errors.is_empty()),
        fatal: sender.fatal,
    }
}

/// What decides a list's bytes beyond the list: the protocol version, whether entry
/// flags go as varints, and with `-c` the checksum each regular file's entry ends with.
type Form = (i32, bool, Option<Checksum>);

/// The list of a push and its bytes on the wire, shared by every host of the run.
pub struct Plan {
    /// The list.
    pub listed: Listed,
    /// How long making it took (`--stats`' `File list generation time`).
    pub built: Duration,
    /// What the list is sent as, by protocol version and whether entry flags go as
    /// varints (a stock rsync before 3.2 has no varint flags): made by the first host
    /// that speaks it, then the same bytes go to every other such host.
    encoded: Mutex<HashMap<Form, Arc<Vec<u8>>>>,
    /// The filter rules went before the list was made (a `--files-from` list read on the
    /// host comes after them): the encoded bytes hold only the list.
    pub rules_sent: bool,
    /// The small files' bytes, read once for all the hosts of a push to many.
    pub reads: Option<super::shared_reads::SharedReads>,
}

impl Plan {
    /// A plan for `listed`.
    pub fn new(listed: Listed) -> Plan {
        Plan {
            listed,
            built: Duration::ZERO,
            encoded: Mutex::new(HashMap::new()),
            rules_sent: false,
            reads: None,
        }
    }

    /// What the client sends the receiving server before its first request: the filter
    /// rules (only when the receiver deletes, which must spare what they exclude, or
    /// prunes), the
    /// file list and the id lists, at `protocol`, with varint flags or not, and with `-c`
    /// each regular file's checksum of kind `sums` (the session's).
    pub fn encoded(
        &self,
        protocol: i32,
        varint_flags: bool,
        sums: Option<Checksum>,
        opts: &Options,
    ) -> Arc<Vec<u8>> {
        let mut cache = self.encoded.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry((protocol, varint_flags, sums))
            .or_insert_with(|| Arc::new(self.encode(protocol, varint_flags, sums, opts)))
            .clone()
    }

    fn encode(
        &self,
        protocol: i32,
        varint_flags: bool,
        sums: Option<Checksum>,
        opts: &Options,
    ) -> Vec<u8> {
        let keep = super::push::keep_of(opts);
        let mut buf = Vec::new();
        // A receiver that deletes or prunes (-m) reads the rules first.
        if !self.rules_sent {
            put_rules_for(&mut buf, opts);
        }
        let mut enc = Encoder::new(protocol, keep).varint_flags(varint_flags);
        // With -H, the index (in the list's order) of each group's first entry.
        let mut firsts: HashMap<u32, u32> = HashMap::new();
        for (i, item) in self.listed.items.iter().enumerate() {
            let start = buf.len();
            enc.put(&mut buf, &item.entry);
            let mut later_link = false;
            if let Some(group) = item.hlink.filter(|_| opts.hard_links) {
                let m = match firsts.get(&group) {
                    Some(&first) => Mark::LaterLink(first),
                    None => {
                        firsts.insert(group, i as u32);
                        Mark::FirstLink
                    }
                };
                later_link = matches!(m, Mark::LaterLink(_));
                mark(&mut buf, start, m, enc.form()).expect("the entry to mark was just encoded");
            }
            // -c: a regular file's entry ends with its checksum (a later hard link's is its
            // first's, and is not sent), as rsync's send_file_entry writes it.
            if let Some(kind) = sums.filter(|_| item.entry.is_file() && !later_link) {
                buf.extend_from_slice(&file_sum(&item.path, kind));
            }
        }
        enc.end(&mut buf, self.listed.io_error);
        // --numeric-ids: the ids go without names.
        if keep.uid && !opts.numeric_ids {
            put_id_list(&mut buf, &names(&self.listed, Ids::Users));
        }
        if keep.gid && !opts.numeric_ids {
            put_id_list(&mut buf, &names(&self.listed, Ids::Groups));
        }
        buf
    }
}

/// The checksum of a file's data as `-c` compares it: all zeros when it cannot be read
/// (which then never matches, and the file is sent).
pub fn file_sum(path: &Path, kind: Checksum) -> Digest {
    let unread = Digest::new([0; 16], kind.sum_len());
    let Ok(mut f) = std::fs::File::open(path) else {
        return unread;
    };
    let mut sum = FileSum::new(kind);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return sum.finish(),
            Ok(n) => sum.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return unread,
        }
    }
}

/// The filter rules a receiving server reads before the list: only one that deletes, which
/// must spare what they exclude, or prunes (`-m`) is sent any.
pub fn put_rules_for(buf: &mut Vec<u8>, opts: &Options) {
    if opts.delete != DeleteMode::Off || opts.prune_empty_dirs {
        put_rules(buf, &super::filters::for_server(&opts.filters, true));
    }
}

/// The names of the owners (or groups) in the list, for the receiver to map.
fn names(listed: &Listed, ids: Ids) -> Vec<(u32, Vec<u8>)> {
    let mut seen = BTreeSet::new();
    for item in &listed.items {
        seen.insert(match ids {
            Ids::Users => item.entry.uid,
            Ids::Groups => item.entry.gid,
        });
    }
    seen.into_iter()
        .filter(|&id| id != 0)
        .filter_map(|id| name_of(ids, id).map(|n| (id, n)))
        .collect()
}
