//! File-list entries as a sender writes them (protocol 28 to 32, flags as one or two
//! bytes or as a varint, see [`flist_flags`](crate::flist_flags); no incremental
//! recursion), rsync's sort order, and the id lists after the list.
//!
//! Each entry is written relative to the one before: the flags say which of mode, time,
//! owner and group repeat, and how many leading name bytes it shares with the last name.

use std::cmp::Ordering;

use crate::codec::{put_int, put_varint, put_varlong};
use crate::flist_flags::FlagForm;

/// Entry flags (`XMIT_*`).
pub mod xmit {
    /// A top folder of the transfer (or a dummy bit that keeps the flags non-zero).
    pub const TOP_DIR: u16 = 1 << 0;
    /// The mode repeats.
    pub const SAME_MODE: u16 = 1 << 1;
    /// A second flag byte follows.
    pub const EXTENDED_FLAGS: u16 = 1 << 2;
    /// The owner repeats.
    pub const SAME_UID: u16 = 1 << 3;
    /// The group repeats.
    pub const SAME_GID: u16 = 1 << 4;
    /// The name starts with bytes of the last one.
    pub const SAME_NAME: u16 = 1 << 5;
    /// The name's new part is longer than 255 bytes.
    pub const LONG_NAME: u16 = 1 << 6;
    /// The mtime repeats.
    pub const SAME_TIME: u16 = 1 << 7;
    /// The device's major number repeats.
    pub const SAME_RDEV_MAJOR: u16 = 1 << 8;
    /// A folder whose contents are not sent.
    pub const NO_CONTENT_DIR: u16 = 1 << 8;
    /// The list ends here, with I/O error bits after (with `EXTENDED_FLAGS` alone).
    pub const IO_ERROR_ENDLIST: u16 = 1 << 12;
    /// The mtime's nanoseconds follow (protocol 31 on).
    pub const MOD_NSEC: u16 = 1 << 13;
}

/// The file-type bits of a mode.
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
const S_IFBLK: u32 = 0o060000;

/// One entry of the list, as the sender found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path as sent: relative, `/`-separated, `.` for the top folder of `SRC/`.
    pub name: Vec<u8>,
    /// `st_mode`, type bits and all.
    pub mode: u32,
    /// `st_size` (folders and links too, as rsync sends them).
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// A device's number.
    pub rdev: u64,
    /// A symlink's target.
    pub link: Option<Vec<u8>>,
    /// A folder named on the command line (`SRC/`'s `.` or `SRC` itself).
    pub top: bool,
}

impl Entry {
    /// Whether this is a folder.
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    /// Whether this is a symlink.
    pub fn is_link(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
    /// Whether this is a device.
    pub fn is_device(&self) -> bool {
        matches!(self.mode & S_IFMT, S_IFCHR | S_IFBLK)
    }

    /// The kind its `-i` and log lines show.
    pub fn kind(&self) -> crate::itemize::Kind {
        use crate::itemize::Kind;
        if self.is_dir() {
            Kind::Dir
        } else if self.is_link() {
            Kind::Link
        } else if self.is_file() {
            Kind::File
        } else if self.is_device() {
            Kind::Device
        } else {
            Kind::Special
        }
    }
}

/// Which attributes the transfer keeps, so which fields entries carry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// `-o`.
    pub uid: bool,
    /// `-g`.
    pub gid: bool,
    /// `-l`.
    pub links: bool,
    /// `--devices`.
    pub devices: bool,
    /// `--specials`.
    pub specials: bool,
}

/// The state the next entry is written against.
#[derive(Debug, Default)]
pub struct Encoder {
    protocol: i32,
    keep: Keep,
    form: FlagForm,
    mode: u32,
    mtime: i64,
    uid: u32,
    gid: u32,
    rdev_major: u32,
    last_name: Vec<u8>,
    /// Below protocol 30: the device of the last hard-linked entry.
    last_dev: Option<u64>,
}

impl Encoder {
    /// An encoder for a session of `protocol` (28 to 32). Below 30 numbers go as ints
    /// and longints, mtimes in 4 bytes, and hard links with their device and inode
    /// ([`put_linked`](Self::put_linked)).
    pub fn new(protocol: i32, keep: Keep) -> Encoder {
        Encoder {
            protocol,
            keep,
            ..Encoder::default()
        }
    }

    /// With varint flags (the session's compat flag), or not.
    pub fn varint_flags(mut self, on: bool) -> Encoder {
        self.form = FlagForm::of(on);
        self
    }

    /// The form this encoder writes flags in, for [`mark`](crate::flist_links::mark).
    pub fn form(&self) -> FlagForm {
        self.form
    }

    /// Appends `e`.
    pub fn put(&mut self, out: &mut Vec<u8>, e: &Entry) {
        self.put_with(out, e, None);
    }

    /// Below protocol 30, appends a hard-linked `e` whole, with `XMIT_HLINKED` and its
    /// `dev` and `ino`, which the receiver groups the links by. (From 30 a sender
    /// marks links with [`mark`](crate::flist_links::mark) instead.)
    pub fn put_linked(&mut self, out: &mut Vec<u8>, e: &Entry, dev: u64, ino: u64) {
        self.put_with(out, e, Some((dev, ino)));
    }

    fn put_with(&mut self, out: &mut Vec<u8>, e: &Entry, inode: Option<(u64, u64)>) {
        let old = self.protocol < 30;
        let mut flags: u16 = 0;
        // rsync sends a device one up, so that it is never 0.
        let mut dev_sent = None;
        if let Some((dev, _)) = inode.filter(|_| old) {
            flags |= crate::flist_links::HLINKED;
            if self.last_dev == Some(dev) {
                flags |= crate::flist_links::SAME_DEV_PRE30;
            } else {
                self.last_dev = Some(dev);
                dev_sent = Some(dev.wrapping_add(1));
            }
        }
        if e.is_dir() {
            // Contents go with every folder of a recursive list; `top` marks the ones named.
            if e.top {
                flags |= xmit::TOP_DIR;
            }
        }
        if e.mode == self.mode {
            flags |= xmit::SAME_MODE;
        } else {
            self.mode = e.mode;
        }
        let device = self.keep.devices && e.is_device();
        let special = self.keep.specials
            && matches!(e.mode & S_IFMT, 0o010000 | 0o140000)
            && self.protocol < 31;
        let (major, mut minor) = split_rdev(e.rdev);
        if device {
            if major == self.rdev_major {
                flags |= xmit::SAME_RDEV_MAJOR;
            } else {
                self.rdev_major = major;
            }
        } else if special {
            // Protocol 30 still sends a number for fifos and sockets: the last major, 0.
            flags |= xmit::SAME_RDEV_MAJOR;
            minor = 0;
        }
        if old && (device || special) && minor <= 0xFF {
            flags |= crate::flist_links::RDEV_MINOR_8_PRE30;
        }
        let first = self.last_name.is_empty();
        if !self.keep.uid || (e.uid == self.uid && !first) {
            flags |= xmit::SAME_UID;
        } else {
            self.uid = e.uid;
        }
        if !self.keep.gid || (e.gid == self.gid && !first) {
            flags |= xmit::SAME_GID;
        } else {
            self.gid = e.gid;
        }
        if e.mtime == self.mtime {
            flags |= xmit::SAME_TIME;
        } else {
            self.mtime = e.mtime;
        }
        if e.mtime_nsec != 0 && self.protocol >= 31 {
            flags |= xmit::MOD_NSEC;
        }
        let shared = e
            .name
            .iter()
            .zip(&self.last_name)
            .take(255)
            .take_while(|(a, b)| a == b)
            .count();
        let rest = &e.name[shared..];
        if shared > 0 {
            flags |= xmit::SAME_NAME;
        }
        if rest.len() > 255 {
            flags |= xmit::LONG_NAME;
        }
        self.form.put(out, flags, e.is_dir());
        if flags & xmit::SAME_NAME != 0 {
            out.push(shared as u8);
        }
        let num = |out: &mut Vec<u8>, x: i32| {
            if old {
                put_int(out, x)
            } else {
                put_varint(out, x)
            }
        };
        if flags & xmit::LONG_NAME != 0 {
            num(out, rest.len() as i32);
        } else {
            out.push(rest.len() as u8);
        }
        out.extend_from_slice(rest);
        if old {
            crate::codec::put_longint(out, e.size as i64);
        } else {
            put_varlong(out, e.size as i64, 3);
        }
        if flags & xmit::SAME_TIME == 0 {
            if old {
                put_int(out, e.mtime as u32 as i32);
            } else {
                put_varlong(out, e.mtime, 4);
            }
        }
        if flags & xmit::MOD_NSEC != 0 {
            put_varint(out, e.mtime_nsec as i32);
        }
        if flags & xmit::SAME_MODE == 0 {
            put_int(out, e.mode as i32);
        }
        if flags & xmit::SAME_UID == 0 {
            num(out, e.uid as i32);
        }
        if flags & xmit::SAME_GID == 0 {
            num(out, e.gid as i32);
        }
        if device || special {
            if flags & xmit::SAME_RDEV_MAJOR == 0 {
                num(out, major as i32);
            }
            if flags & crate::flist_links::RDEV_MINOR_8_PRE30 != 0 {
                out.push(minor as u8);
            } else {
                num(out, minor as i32);
            }
        }
        if self.keep.links {
            if let Some(target) = e.link.as_ref().filter(|_| e.is_link()) {
                num(out, target.len() as i32);
                out.extend_from_slice(target);
            }
        }
        if let Some((_, ino)) = inode.filter(|_| old) {
            if let Some(dev) = dev_sent {
                crate::codec::put_longint(out, dev as i64);
            }
            crate::codec::put_longint(out, ino as i64);
        }
        self.last_name.clear();
        self.last_name.extend_from_slice(&e.name);
    }

    /// Appends the end of the list. I/O error bits ride on it (rsync's safe file list,
    /// which the `f` capability and protocol 31 turn on), so that the receiver knows the
    /// list may be short and deletes nothing.
    pub fn end(&self, out: &mut Vec<u8>, io_error: i32) {
        self.form.put_end(out, io_error);
    }
}

/// Linux's split of a device number.
fn split_rdev(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 32) & 0xFFFF_F000) | ((rdev >> 8) & 0xFFF);
    let minor = ((rdev >> 12) & 0xFFFF_FF00) | (rdev & 0xFF);
    (major as u32, minor as u32)
}

/// Appends an id list (`(id, name)` pairs; id 0 is never listed) and its end.
pub fn put_id_list(out: &mut Vec<u8>, ids: &[(u32, Vec<u8>)]) {
    put_id_list_of(out, ids, true);
}

/// [`put_id_list`] with the ids as varints (protocol 30 on) or ints (before).
pub fn put_id_list_of(out: &mut Vec<u8>, ids: &[(u32, Vec<u8>)], varints: bool) {
    let num = |out: &mut Vec<u8>, x: i32| {
        if varints {
            put_varint(out, x)
        } else {
            put_int(out, x)
        }
    };
    for (id, name) in ids.iter().filter(|(id, _)| *id != 0) {
        let name = &name[..name.len().min(255)];
        num(out, *id as i32);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
    }
    num(out, 0);
}

/// rsync's order for a file list (protocol 29 on): names compared byte by byte, with a
/// folder's name counting as if it ended in `/`, and at each level the files of a folder
/// before its subfolders; `.` first of all.
pub fn compare(a: &Entry, b: &Entry) -> Ordering {
    key(a).cmp(&key(b))
}

/// The order of a file list at `protocol`: [`compare`]'s from 29, and below it the
/// whole names compared byte by byte (so a folder comes right before what it holds,
/// its files and subfolders mixed).
pub fn compare_at(protocol: i32, a: &Entry, b: &Entry) -> Ordering {
    if protocol < 29 {
        a.name.cmp(&b.name)
    } else {
        compare(a, b)
    }
}

/// Sorts a list into [`compare`]'s order.
pub fn sort(list: &mut [Entry]) {
    list.sort_by(compare);
}

/// Each component of the path, a folder's (and every leading one) as (1, `name/`), the
/// last of a non-folder as (0, `name`): comparing these in turn is rsync's comparison.
fn key(e: &Entry) -> Vec<(u8, Vec<u8>)> {
    if e.name == b"." {
        return Vec::new();
    }
    let parts: Vec<&[u8]> = e.name.split(|&c| c == b'/').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i < last || e.is_dir() {
                let mut s = p.to_vec();
                s.push(b'/');
                (1, s)
            } else {
                (0, p.to_vec())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, mode: u32) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            mode,
            size: 3,
            mtime: 1_700_000_000,
            mtime_nsec: 0,
            uid: 0,
            gid: 0,
            rdev: 0,
            link: None,
            top: name == ".",
        }
    }

    #[test]
    fn files_come_before_folders_and_a_folder_sorts_as_name_slash() {
        let mut list = vec![
            entry("b", S_IFDIR | 0o755),
            entry("a.b", S_IFDIR | 0o755),
            entry("a", S_IFDIR | 0o755),
            entry("a/x", S_IFREG | 0o644),
            entry("z", S_IFREG | 0o644),
            entry("a/y", S_IFDIR | 0o755),
            entry("a/y/1", S_IFREG | 0o644),
            entry("a/zz", S_IFREG | 0o644),
            entry(".", S_IFDIR | 0o755),
            entry("a-b", S_IFREG | 0o644),
        ];
        sort(&mut list);
        let names: Vec<_> = list
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect();
        assert_eq!(
            names,
            [".", "a-b", "z", "a.b", "a", "a/x", "a/zz", "a/y", "a/y/1", "b"]
        );
    }

    #[test]
    fn entries_repeat_nothing_the_last_one_said() {
        let keep = Keep {
            uid: true,
            gid: true,
            links: true,
            ..Keep::default()
        };
        let mut enc = Encoder::new(31, keep);
        let mut out = Vec::new();
        let mut top = entry(".", S_IFDIR | 0o755);
        top.uid = 1000;
        top.gid = 100;
        enc.put(&mut out, &top);
        // flags: TOP_DIR; name "." (1 byte); size; time; mode; uid; gid.
        let mut want = vec![xmit::TOP_DIR as u8, 1, b'.'];
        put_varlong(&mut want, 3, 3);
        put_varlong(&mut want, 1_700_000_000, 4);
        put_int(&mut want, (S_IFDIR | 0o755) as i32);
        put_varint(&mut want, 1000);
        put_varint(&mut want, 100);
        assert_eq!(out, want);

        let mut link = entry("./l", S_IFLNK | 0o777);
        link.uid = 1000;
        link.gid = 100;
        link.link = Some(b"target".to_vec());
        link.mtime_nsec = 5;
        out.clear();
        enc.put(&mut out, &link);
        let flags = xmit::SAME_UID
            | xmit::SAME_GID
            | xmit::SAME_TIME
            | xmit::SAME_NAME
            | xmit::MOD_NSEC
            | xmit::EXTENDED_FLAGS;
        let mut want = flags.to_le_bytes().to_vec();
        want.extend_from_slice(&[1, 2, b'/', b'l']);
        put_varlong(&mut want, 3, 3);
        put_varint(&mut want, 5);
        put_int(&mut want, (S_IFLNK | 0o777) as i32);
        put_varint(&mut want, 6);
        want.extend_from_slice(b"target");
        assert_eq!(out, want);
    }

    #[test]
    fn a_plain_file_like_the_last_never_writes_a_zero_flag_byte() {
        let mut enc = Encoder::new(30, Keep::default());
        let mut out = Vec::new();
        enc.put(&mut out, &entry("x", S_IFREG | 0o644));
        out.clear();
        enc.put(&mut out, &entry("y", S_IFREG | 0o644));
        assert_eq!(
            out[0],
            (xmit::SAME_MODE | xmit::SAME_UID | xmit::SAME_GID | xmit::SAME_TIME) as u8
        );
        // With nothing repeated but the keep-nothing owner bits, still not zero.
        let mut enc = Encoder::new(
            30,
            Keep {
                uid: true,
                gid: true,
                ..Keep::default()
            },
        );
        out.clear();
        let mut e = entry("q", S_IFREG | 0o600);
        e.mtime = 0;
        enc.put(&mut out, &e);
        assert_ne!(out[0], 0);
    }

    #[test]
    fn the_end_carries_io_errors_when_there_are_some() {
        let enc = Encoder::new(30, Keep::default());
        let mut out = Vec::new();
        enc.end(&mut out, 0);
        assert_eq!(out, [0]);
        out.clear();
        enc.end(&mut out, 1);
        assert_eq!(out, [0x04, 0x10, 1]);
    }

    #[test]
    fn id_lists_leave_out_root_and_end_with_zero() {
        let mut out = Vec::new();
        put_id_list(&mut out, &[(0, b"root".to_vec()), (1000, b"ann".to_vec())]);
        let mut want = Vec::new();
        put_varint(&mut want, 1000);
        want.extend_from_slice(b"\x03ann");
        want.push(0);
        assert_eq!(out, want);
    }
}

/// The state the next entry is read against: the receiving twin of [`Encoder`].
#[derive(Debug, Default)]
pub struct Decoder {
    protocol: i32,
    keep: Keep,
    form: FlagForm,
    mode: u32,
    mtime: i64,
    mtime_nsec: u32,
    uid: u32,
    gid: u32,
    rdev_major: u32,
    last_name: Vec<u8>,
}

/// The longest name accepted from a peer.
const MAX_NAME: usize = 4096;

impl Decoder {
    /// A decoder for a session of `protocol` (30 to 32).
    pub fn new(protocol: i32, keep: Keep) -> Decoder {
        Decoder {
            protocol,
            keep,
            ..Decoder::default()
        }
    }

    /// With varint flags (the session's compat flag), or not.
    pub fn varint_flags(mut self, on: bool) -> Decoder {
        self.form = FlagForm::of(on);
        self
    }

    /// Reads the next entry, or the end of the list.
    pub fn get(&mut self, r: &mut impl std::io::Read) -> std::io::Result<Result<Entry, i32>> {
        use crate::codec::{get_byte, get_int, get_varint, get_varlong, invalid};
        let flags = match self.form.get(r)? {
            Ok(flags) => flags,
            Err(io_error) => return Ok(Err(io_error)),
        };
        if flags & (1 << 9) != 0 {
            return Err(invalid(
                "a hard-linked entry, which was not asked for".into(),
            ));
        }
        let shared = if flags & xmit::SAME_NAME != 0 {
            usize::from(get_byte(r)?)
        } else {
            0
        };
        let rest = if flags & xmit::LONG_NAME != 0 {
            get_varint(r)?
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
        let size = get_varlong(r, 3)?;
        if flags & xmit::SAME_TIME == 0 {
            self.mtime = get_varlong(r, 4)?;
        }
        let mtime_nsec = if flags & xmit::MOD_NSEC != 0 && self.protocol >= 31 {
            get_varint(r)? as u32
        } else {
            0
        };
        self.mtime_nsec = mtime_nsec;
        if flags & xmit::SAME_MODE == 0 {
            self.mode = get_int(r)? as u32;
        }
        let mode = self.mode;
        if self.keep.uid && flags & xmit::SAME_UID == 0 {
            self.uid = get_varint(r)? as u32;
        }
        if self.keep.gid && flags & xmit::SAME_GID == 0 {
            self.gid = get_varint(r)? as u32;
        }
        let kind = mode & S_IFMT;
        let device = self.keep.devices && matches!(kind, S_IFCHR | S_IFBLK);
        let special =
            self.keep.specials && matches!(kind, 0o010000 | 0o140000) && self.protocol < 31;
        let mut rdev = 0u64;
        if device || special {
            if flags & xmit::SAME_RDEV_MAJOR == 0 {
                self.rdev_major = get_varint(r)? as u32;
            }
            let minor = get_varint(r)? as u32;
            rdev = join_rdev(self.rdev_major, minor);
        }
        let link = if self.keep.links && kind == S_IFLNK {
            let len = get_varint(r)?;
            if !(0..=MAX_NAME as i32).contains(&len) {
                return Err(invalid("a symlink target out of bounds".into()));
            }
            let mut t = vec![0u8; len as usize];
            r.read_exact(&mut t)?;
            Some(t)
        } else {
            None
        };
        self.last_name.clone_from(&name);
        Ok(Ok(Entry {
            top: kind == S_IFDIR && flags & xmit::TOP_DIR != 0,
            name,
            mode,
            size: size as u64,
            mtime: self.mtime,
            mtime_nsec,
            uid: self.uid,
            gid: self.gid,
            rdev,
            link,
        }))
    }
}

/// Linux's device number from its parts.
fn join_rdev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xFFFF_F000) << 32)
        | ((major & 0xFFF) << 8)
        | ((minor & 0xFFFF_FF00) << 12)
        | (minor & 0xFF)
}

/// Reads an id list (as [`put_id_list`] writes it): `(id, name)` pairs.
pub fn get_id_list(r: &mut impl std::io::Read) -> std::io::Result<Vec<(u32, Vec<u8>)>> {
    get_id_list_of(r, true)
}

/// [`get_id_list`] with the ids as varints (protocol 30 on) or ints (before).
pub fn get_id_list_of(
    r: &mut impl std::io::Read,
    varints: bool,
) -> std::io::Result<Vec<(u32, Vec<u8>)>> {
    use crate::codec::{get_byte, get_int, get_varint, invalid};
    let mut out = Vec::new();
    loop {
        let id = if varints { get_varint(r)? } else { get_int(r)? };
        if id == 0 {
            return Ok(out);
        }
        if out.len() > 1 << 20 {
            return Err(invalid("an id list without end".into()));
        }
        let len = usize::from(get_byte(r)?);
        let mut name = vec![0u8; len];
        r.read_exact(&mut name)?;
        out.push((id as u32, name));
    }
}

/// Whether a name from a peer stays inside the destination: relative, no `..`, no empty
/// parts (`.` alone is the destination itself).
pub fn is_safe_name(name: &[u8]) -> bool {
    if name == b"." {
        return true;
    }
    !name.is_empty()
        && !name.starts_with(b"/")
        && name
            .split(|&c| c == b'/')
            .all(|part| !part.is_empty() && part != b"." && part != b"..")
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    fn entry(name: &str, mode: u32, mtime: i64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            mode,
            size: 12_345,
            mtime,
            mtime_nsec: 0,
            uid: 1000,
            gid: 100,
            rdev: 0,
            link: None,
            top: name == ".",
        }
    }

    #[test]
    fn what_the_encoder_writes_the_decoder_reads() {
        let keep = Keep {
            uid: true,
            gid: true,
            links: true,
            devices: true,
            specials: true,
        };
        for protocol in [30, 31, 32] {
            let mut list = vec![
                entry(".", S_IFDIR | 0o755, 1_700_000_000),
                entry("a", S_IFREG | 0o644, 1_700_000_000),
                entry("ab", S_IFREG | 0o600, 5),
                entry(&"n".repeat(300), S_IFREG | 0o600, 5),
            ];
            list[2].mtime_nsec = 77;
            list[3].uid = 0;
            let mut link = entry("l", S_IFLNK | 0o777, 9);
            link.link = Some(b"../t".to_vec());
            list.push(link);
            let mut dev = entry("d", S_IFCHR | 0o600, 9);
            dev.rdev = join_rdev(8, 300);
            dev.size = 0;
            list.push(dev);
            let mut enc = Encoder::new(protocol, keep);
            let mut wire = Vec::new();
            for e in &list {
                enc.put(&mut wire, e);
            }
            enc.end(&mut wire, 0);
            let mut dec = Decoder::new(protocol, keep);
            let mut r = &wire[..];
            for want in &list {
                let mut want = want.clone();
                if protocol < 31 {
                    want.mtime_nsec = 0;
                }
                assert_eq!(
                    dec.get(&mut r).unwrap().unwrap(),
                    want,
                    "protocol {protocol}"
                );
            }
            assert_eq!(dec.get(&mut r).unwrap(), Err(0));
            assert!(r.is_empty());
        }
        let mut wire = Vec::new();
        Encoder::new(31, keep).end(&mut wire, 5);
        assert_eq!(Decoder::new(31, keep).get(&mut &wire[..]).unwrap(), Err(5));
    }

    #[test]
    fn id_lists_and_names_from_a_peer_are_checked() {
        let mut wire = Vec::new();
        put_id_list(&mut wire, &[(7, b"seven".to_vec())]);
        assert_eq!(
            get_id_list(&mut &wire[..]).unwrap(),
            vec![(7, b"seven".to_vec())]
        );
        for good in [&b"."[..], b"a", b"a/b c", b"..a/b.."] {
            assert!(is_safe_name(good), "{good:?}");
        }
        for bad in [
            &b""[..],
            b"/etc",
            b"a/../b",
            b"..",
            b"a//b",
            b"a/./b",
            b"a/",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }
}
