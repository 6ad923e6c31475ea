//! What a receiving server must read that [`flist::Decoder`](crate::flist::Decoder)
//! refuses: hard-linked entries (`-H`) and folders sent without their contents (`-R`'s
//! implied folders, `-d`), and how a sender marks them on what
//! [`flist::Encoder`](crate::flist::Encoder) wrote.
//!
//! From protocol 30 the first entry of a hard-linked group carries `XMIT_HLINKED |
//! XMIT_HLINK_FIRST` and is sent whole; each later one carries `XMIT_HLINKED`, its name,
//! the index (in the order sent) of the first, and nothing more: it shares the first's
//! inode, so its size, time, mode and owner are the first's. A folder with
//! `XMIT_NO_CONTENT_DIR` is there only to hold what is named below it, so the receiver
//! deletes nothing in it.
//!
//! Below protocol 30 (28 and 29) the numbers are ints and longints rather than varints,
//! times have no nanoseconds, every hard-linked entry is sent whole and ends with its
//! device (unless `XMIT_SAME_DEV_pre30` says it is the last one's) and inode as
//! longints, which group the links; a folder with `XMIT_TOP_DIR` has its contents sent,
//! and so do the folders below it that follow it (rsync's `in_del_hier`).

use std::io::{self, Read};

use crate::checksum::Checksum;
use std::collections::HashMap;

use crate::codec::{get_byte, get_int, get_longint, get_varint, get_varlong, invalid, put_varint};
use crate::flist::{xmit, Entry, Keep};
use crate::flist_flags::FlagForm;

/// A hard-linked entry (`XMIT_HLINKED`, non-folders).
pub const HLINKED: u16 = 1 << 9;
/// The first of its hard-linked group (`XMIT_HLINK_FIRST`, protocol 30 on).
pub const HLINK_FIRST: u16 = 1 << 12;

/// The same device as the last hard-linked entry (`XMIT_SAME_DEV_pre30`, protocols 28
/// and 29).
pub const SAME_DEV_PRE30: u16 = 1 << 10;
/// A device's minor number in one byte (`XMIT_RDEV_MINOR_8_pre30`, protocols 28 and 29).
pub const RDEV_MINOR_8_PRE30: u16 = 1 << 11;

/// The longest name accepted from a peer.
const MAX_NAME: usize = 4096;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// One entry as received, with what the plain decoder leaves out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The entry; a later hard link has its first's attributes.
    pub entry: Entry,
    /// The index (in the order sent) of the first entry of its hard-linked group, its own
    /// for the first; `None` when it is not hard-linked.
    pub hlink: Option<u32>,
    /// A folder whose contents came with the list (false for `-R`'s implied folders).
    pub content_dir: bool,
    /// A regular file's checksum with `-c` (the session's, zero-padded; a later hard
    /// link's is its first's).
    pub checksum: Option<[u8; 16]>,
}

/// The receiving side's list decoder for lists that may hold hard links.
#[derive(Debug, Default)]
pub struct LinkDecoder {
    protocol: i32,
    keep: Keep,
    hard_links: bool,
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev_major: u32,
    last_name: Vec<u8>,
    /// Every entry so far, in the order sent, for later hard links to copy.
    seen: Vec<(Entry, Option<[u8; 16]>)>,
    /// `-c`: each regular file ends with its checksum, this long.
    checksums: Option<usize>,
    form: FlagForm,
    /// Below protocol 30: the last hard link's device, and each (device, inode)'s first
    /// entry.
    dev: i64,
    inodes: HashMap<(i64, i64), u32>,
    /// Below protocol 30: the folder whose contents are being sent, if any.
    del_hier: Option<Vec<u8>>,
}

impl LinkDecoder {
    /// A decoder for a session of `protocol` (28 to 32); `hard_links` is `-H`.
    pub fn new(protocol: i32, keep: Keep, hard_links: bool) -> LinkDecoder {
        LinkDecoder {
            protocol,
            keep,
            hard_links,
            ..LinkDecoder::default()
        }
    }

    /// With `-c`: each regular file's entry ends with its checksum, of the session's
    /// `kind`.
    pub fn with_checksums(mut self, on: bool, kind: Checksum) -> LinkDecoder {
        self.checksums = on.then_some(kind.sum_len());
        self
    }

    /// With varint flags (the session's compat flag), or not.
    pub fn varint_flags(mut self, on: bool) -> LinkDecoder {
        self.form = FlagForm::of(on);
        self
    }

    /// Reads the next entry, or the end of the list with its I/O error bits.
    pub fn get(&mut self, r: &mut impl Read) -> io::Result<Result<Received, i32>> {
        let flags = match self.form.get(r)? {
            Ok(flags) => flags,
            Err(io_error) => return Ok(Err(io_error)),
        };
        let hlinked = self.hard_links && flags & HLINKED != 0;
        if flags & HLINKED != 0 && !self.hard_links {
            return Err(invalid("a hard-linked entry without -H".into()));
        }
        let shared = if flags & xmit::SAME_NAME != 0 {
            usize::from(get_byte(r)?)
        } else {
            0
        };
        let old = self.protocol < 30;
        let rest = if flags & xmit::LONG_NAME != 0 {
            self.num(r)?
        } else {
            i32::from(get_byte(r)?)
        };
        if shared > self.last_name.len() || rest < 0 || shared + rest as usize > MAX_NAME {
            return Err(invalid("a file-list name out of bounds".into()));
        }
        let mut name = self.last_name[..shared].to_vec();
        let start = name.len();
        name.resize(start + rest as usize, 0);
        r.read_exact(&mut name[start..])?;
        self.last_name.clone_from(&name);
        if hlinked && flags & HLINK_FIRST == 0 && !old {
            let first = get_varint(r)?;
            let (leader, checksum) = usize::try_from(first)
                .ok()
                .and_then(|i| self.seen.get(i))
                .ok_or_else(|| invalid(format!("a hard link to entry {first}, not yet sent")))?
                .clone();
            // The state the next entry is read against is the first's, as rsync's.
            self.mode = leader.mode;
            self.mtime = leader.mtime;
            self.uid = leader.uid;
            self.gid = leader.gid;
            let entry = Entry {
                name,
                top: false,
                ..leader
            };
            self.seen.push((entry.clone(), checksum));
            return Ok(Ok(Received {
                entry,
                hlink: Some(first as u32),
                content_dir: false,
                checksum,
            }));
        }
        let size = if old {
            get_longint(r)?
        } else {
            get_varlong(r, 3)?
        };
        if flags & xmit::SAME_TIME == 0 {
            self.mtime = if old {
                i64::from(get_int(r)? as u32)
            } else {
                get_varlong(r, 4)?
            };
        }
        let mtime_nsec = if flags & xmit::MOD_NSEC != 0 && self.protocol >= 31 {
            get_varint(r)? as u32
        } else {
            0
        };
        if flags & xmit::SAME_MODE == 0 {
            self.mode = get_int(r)? as u32;
        }
        let mode = self.mode;
        if self.keep.uid && flags & xmit::SAME_UID == 0 {
            self.uid = self.num(r)? as u32;
        }
        if self.keep.gid && flags & xmit::SAME_GID == 0 {
            self.gid = self.num(r)? as u32;
        }
        let kind = mode & S_IFMT;
        let device = self.keep.devices && matches!(kind, 0o020000 | 0o060000);
        let special =
            self.keep.specials && matches!(kind, 0o010000 | 0o140000) && self.protocol < 31;
        let mut rdev = 0u64;
        if device || special {
            if flags & xmit::SAME_RDEV_MAJOR == 0 {
                self.rdev_major = self.num(r)? as u32;
            }
            let minor = if !old {
                get_varint(r)? as u32
            } else if flags & RDEV_MINOR_8_PRE30 != 0 {
                u32::from(get_byte(r)?)
            } else {
                get_int(r)? as u32
            };
            let (major, minor) = (u64::from(self.rdev_major), u64::from(minor));
            rdev = ((major & 0xFFFF_F000) << 32)
                | ((major & 0xFFF) << 8)
                | ((minor & 0xFFFF_FF00) << 12)
                | (minor & 0xFF);
        }
        let link = if self.keep.links && kind == S_IFLNK {
            let len = self.num(r)?;
            if !(0..=MAX_NAME as i32).contains(&len) {
                return Err(invalid("a symlink target out of bounds".into()));
            }
            let mut t = vec![0u8; len as usize];
            r.read_exact(&mut t)?;
            Some(t)
        } else {
            None
        };
        let is_dir = kind == S_IFDIR;
        let mut group = None;
        if hlinked && old {
            if flags & SAME_DEV_PRE30 == 0 {
                self.dev = get_longint(r)?;
            }
            let ino = get_longint(r)?;
            let next = self.seen.len() as u32;
            group = Some(*self.inodes.entry((self.dev, ino)).or_insert(next));
        }
        let (top, content_dir) = if !is_dir {
            (false, false)
        } else if old {
            self.old_content_dir(&name, flags & xmit::TOP_DIR != 0)
        } else {
            let content = flags & xmit::NO_CONTENT_DIR == 0;
            (flags & xmit::TOP_DIR != 0 && content, content)
        };
        let entry = Entry {
            top,
            name,
            mode,
            size: size as u64,
            mtime: self.mtime,
            mtime_nsec,
            uid: self.uid,
            gid: self.gid,
            rdev,
            link,
        };
        let checksum = if let Some(len) = self.checksums.filter(|_| kind == 0o100000) {
            let mut sum = [0u8; 16];
            r.read_exact(&mut sum[..len])?;
            Some(sum)
        } else {
            None
        };
        let hlink = group.or_else(|| hlinked.then_some(self.seen.len() as u32));
        self.seen.push((entry.clone(), checksum));
        Ok(Ok(Received {
            entry,
            hlink,
            content_dir,
            checksum,
        }))
    }

    /// A number the list sends as a varint from protocol 30, as an int before.
    fn num(&self, r: &mut impl Read) -> io::Result<i32> {
        if self.protocol < 30 {
            get_int(r)
        } else {
            get_varint(r)
        }
    }

    /// Below protocol 30, whether a folder is a top one and has its contents sent: a
    /// top folder does, and starts a hierarchy whose folders do too, up to the first
    /// folder outside it.
    fn old_content_dir(&mut self, name: &[u8], top: bool) -> (bool, bool) {
        if top {
            let mut hier = name.to_vec();
            if hier == b"." {
                hier.clear();
            } else if hier.ends_with(b"/.") {
                hier.truncate(hier.len() - 2);
            }
            self.del_hier = Some(hier);
            return (true, true);
        }
        let inside = self.del_hier.as_ref().is_some_and(|h| {
            h.is_empty() || (name.starts_with(h) && name.get(h.len()) == Some(&b'/'))
        });
        if !inside {
            self.del_hier = None;
        }
        (false, inside)
    }

    /// Reads what follows the entries: the id lists `keep` and `numeric_ids` call for
    /// (user, then group), and below protocol 30 the sender's I/O error bits.
    pub fn get_tail(
        &self,
        r: &mut impl Read,
        numeric_ids: bool,
    ) -> io::Result<(IdList, IdList, i32)> {
        let mut users = Vec::new();
        let mut groups = Vec::new();
        if !numeric_ids {
            if self.keep.uid {
                users = crate::flist::get_id_list_of(r, self.protocol >= 30)?;
            }
            if self.keep.gid {
                groups = crate::flist::get_id_list_of(r, self.protocol >= 30)?;
            }
        }
        let io_error = if self.protocol < 30 { get_int(r)? } else { 0 };
        Ok((users, groups, io_error))
    }
}

/// An id list: each id with its name.
pub type IdList = Vec<(u32, Vec<u8>)>;

/// How a sender marks one entry it encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The first of a hard-linked group.
    FirstLink,
    /// A later member of a hard-linked group: the index (in the order sent) of the first.
    LaterLink(u32),
    /// A folder sent only to hold what is named below it (`-R`'s implied folders).
    ImpliedDir,
    /// A folder sent without its contents (`-d`'s folders inside the one named).
    NoContentDir,
}

/// Rewrites the entry [`Encoder::put`](crate::flist::Encoder::put) just appended at
/// `out[start..]` as `mark` says, its flags in `form` (the encoder's
/// [`form`](crate::flist::Encoder::form)). A later hard link keeps its flags and name and
/// loses the rest for the first's index: the encoder's state after it is that of its
/// inode, the first's, which is what the receiver takes too.
pub fn mark(out: &mut Vec<u8>, start: usize, mark: Mark, form: FlagForm) -> io::Result<()> {
    let bad = || invalid("an entry to mark that the encoder did not write".into());
    let entry = out.split_off(start);
    let mut flags = 0u16;
    let header_len = form.rewrite(&entry, out, |f| {
        flags = match mark {
            Mark::FirstLink => f | HLINKED | HLINK_FIRST,
            Mark::LaterLink(_) => f | HLINKED,
            Mark::ImpliedDir => f | xmit::TOP_DIR | xmit::NO_CONTENT_DIR,
            Mark::NoContentDir => (f & !xmit::TOP_DIR) | xmit::NO_CONTENT_DIR,
        };
        flags
    })?;
    let mut body = entry[header_len..].to_vec();
    if let Mark::LaterLink(first) = mark {
        // Keep the name (shared-prefix byte, length, bytes), then the first's index.
        let mut at = 0usize;
        if flags & xmit::SAME_NAME != 0 {
            at += 1;
        }
        let rest = if flags & xmit::LONG_NAME != 0 {
            let mut r = body.get(at..).ok_or_else(bad)?;
            let before = r.len();
            let n = get_varint(&mut r)? as usize;
            at += before - r.len();
            n
        } else {
            let n = usize::from(*body.get(at).ok_or_else(bad)?);
            at += 1;
            n
        };
        at += rest;
        if at > body.len() {
            return Err(bad());
        }
        body.truncate(at);
        put_varint(&mut body, first as i32);
    }
    out.extend_from_slice(&body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flist::Encoder;

    fn entry(name: &str, mode: u32, mtime: i64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            mode,
            size: 5,
            mtime,
            mtime_nsec: 0,
            uid: 7,
            gid: 8,
            rdev: 0,
            link: None,
            top: false,
        }
    }

    #[test]
    fn hard_links_and_implied_folders_read_back() {
        let keep = Keep {
            uid: true,
            gid: true,
            links: true,
            devices: true,
            specials: true,
        };
        for (protocol, varint) in [
            (30, false),
            (31, false),
            (32, false),
            (30, true),
            (32, true),
        ] {
            let list = [
                (entry("a", 0o040755, 9), Some(Mark::ImpliedDir)),
                (entry("a/b", 0o040700, 10), None),
                (entry("a/b/one", 0o100644, 11), Some(Mark::FirstLink)),
                (entry("a/b/other", 0o100600, 12), None),
                (entry("a/b/two", 0o100644, 11), Some(Mark::LaterLink(2))),
                (entry("a/b/z", 0o100600, 12), None),
            ];
            let mut enc = Encoder::new(protocol, keep).varint_flags(varint);
            let mut wire = Vec::new();
            for (e, m) in &list {
                let start = wire.len();
                enc.put(&mut wire, e);
                if let Some(m) = m {
                    mark(&mut wire, start, *m, enc.form()).unwrap();
                }
            }
            enc.end(&mut wire, 0);
            let mut dec = LinkDecoder::new(protocol, keep, true).varint_flags(varint);
            let mut r = &wire[..];
            let mut got = Vec::new();
            while let Ok(e) = dec.get(&mut r).unwrap() {
                got.push(e);
            }
            assert!(r.is_empty());
            assert_eq!(got.len(), list.len());
            assert!(!got[0].content_dir && got[1].content_dir);
            assert_eq!(got[2].hlink, Some(2));
            assert_eq!(got[4].hlink, Some(2));
            assert_eq!(got[4].entry.name, b"a/b/two");
            assert_eq!(got[4].entry.mode, 0o100644);
            assert_eq!(got[3].hlink, None);
            for (i, (want, _)) in list.iter().enumerate() {
                assert_eq!(got[i].entry.name, want.name, "protocol {protocol}");
                assert_eq!(got[i].entry.mtime, want.mtime, "protocol {protocol}");
                assert_eq!(got[i].entry.mode, want.mode, "protocol {protocol}");
            }
        }
    }

    #[test]
    fn below_protocol_30_links_go_whole_with_their_inode_and_read_back_grouped() {
        let keep = Keep {
            uid: true,
            gid: true,
            links: true,
            devices: true,
            specials: true,
        };
        for protocol in [28, 29] {
            let mut big = entry("a/big", 0o100644, 0x9000_0000);
            big.size = 5 << 32;
            let mut dev = entry("a/dev", 0o020600, 11);
            dev.rdev = (8 << 8) | 300 & 0xFF | ((300 & !0xFF) << 12);
            let mut link = entry("a/l", 0o120777, 11);
            link.link = Some(b"target".to_vec());
            let mut top = entry("a", 0o040755, 9);
            top.top = true;
            let list = [
                (top, None),
                (big, None),
                (dev, None),
                (link, None),
                (entry("a/one", 0o100644, 11), Some((3, 77))),
                (entry("a/other", 0o100600, 12), Some((3, 78))),
                (entry("a/two", 0o100644, 11), Some((3, 77))),
                (entry("b", 0o040755, 9), None),
            ];
            let mut enc = Encoder::new(protocol, keep);
            let mut wire = Vec::new();
            for (e, inode) in &list {
                match inode {
                    Some((dev, ino)) => enc.put_linked(&mut wire, e, *dev, *ino),
                    None => enc.put(&mut wire, e),
                }
            }
            enc.end(&mut wire, 0);
            crate::flist::put_id_list_of(&mut wire, &[(7, b"seven".to_vec())], false);
            crate::flist::put_id_list_of(&mut wire, &[], false);
            wire.extend_from_slice(&5i32.to_le_bytes());
            let mut dec = LinkDecoder::new(protocol, keep, true);
            let mut r = &wire[..];
            let mut got = Vec::new();
            while let Ok(e) = dec.get(&mut r).unwrap() {
                got.push(e);
            }
            let (users, groups, io_error) = dec.get_tail(&mut r, false).unwrap();
            assert!(r.is_empty());
            assert_eq!(users, [(7, b"seven".to_vec())]);
            assert!(groups.is_empty());
            assert_eq!(io_error, 5);
            assert_eq!(got.len(), list.len());
            for (i, (want, _)) in list.iter().enumerate() {
                assert_eq!(got[i].entry, *want, "protocol {protocol} entry {i}");
            }
            assert_eq!(got[4].hlink, Some(4));
            assert_eq!(got[5].hlink, Some(5));
            assert_eq!(got[6].hlink, Some(4));
            assert_eq!(got[1].hlink, None);
            // The named folder has its contents; the one after it, outside, not.
            assert!(got[0].content_dir && !got[7].content_dir);
        }
    }

    #[test]
    fn checksums_follow_regular_files_and_later_links_share_their_firsts() {
        let mut enc = Encoder::new(31, Keep::default()).varint_flags(true);
        let mut wire = Vec::new();
        let sum = [7u8; 8];
        for (e, m) in [
            (entry("d", 0o040755, 1), None),
            (entry("f", 0o100644, 1), Some(Mark::FirstLink)),
            (entry("g", 0o100644, 1), Some(Mark::LaterLink(1))),
        ] {
            let start = wire.len();
            enc.put(&mut wire, &e);
            if let Some(m) = m {
                mark(&mut wire, start, m, enc.form()).unwrap();
            }
            if e.mode & 0o170000 == 0o100000 && !matches!(m, Some(Mark::LaterLink(_))) {
                wire.extend_from_slice(&sum);
            }
        }
        enc.end(&mut wire, 0);
        // xxh3's sums are 8 bytes.
        let mut dec = LinkDecoder::new(31, Keep::default(), true)
            .varint_flags(true)
            .with_checksums(true, Checksum::Xxh3);
        let mut r = &wire[..];
        let got: Vec<_> = (0..3).map(|_| dec.get(&mut r).unwrap().unwrap()).collect();
        let padded = [7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(got[0].checksum, None);
        assert_eq!(got[1].checksum, Some(padded));
        assert_eq!(got[2].checksum, Some(padded));
        assert_eq!(dec.get(&mut r).unwrap(), Err(0));
    }

    #[test]
    fn a_link_to_an_entry_not_sent_is_refused() {
        let mut wire = vec![0x04 | 0x20, 0x02, 0, 1, b'x'];
        put_varint(&mut wire, 5);
        let err = LinkDecoder::new(31, Keep::default(), true)
            .get(&mut &wire[..])
            .unwrap_err();
        assert!(err.to_string().contains("not yet sent"), "{err}");
    }
}
