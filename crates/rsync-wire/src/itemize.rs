//! Item flags (`ITEM_*`), sent by the generator with each index, and the `-i` line a
//! client prints for them, as rsync's `%i %n%L`.

/// The access time changed.
pub const REPORT_ATIME: u32 = 1 << 0;
/// The checksum differs (or a link's target).
pub const REPORT_CHANGE: u32 = 1 << 1;
/// The size changed (regular files).
pub const REPORT_SIZE: u32 = 1 << 2;
/// The link's time could not be set (symlinks).
pub const REPORT_TIMEFAIL: u32 = 1 << 2;
/// The mtime changed.
pub const REPORT_TIME: u32 = 1 << 3;
/// The permissions changed.
pub const REPORT_PERMS: u32 = 1 << 4;
/// The owner changed.
pub const REPORT_OWNER: u32 = 1 << 5;
/// The group changed.
pub const REPORT_GROUP: u32 = 1 << 6;
/// The ACL changed.
pub const REPORT_ACL: u32 = 1 << 7;
/// An xattr changed.
pub const REPORT_XATTR: u32 = 1 << 8;
/// The creation time changed.
pub const REPORT_CRTIME: u32 = 1 << 10;
/// A basis-type byte follows the flags.
pub const BASIS_TYPE_FOLLOWS: u32 = 1 << 11;
/// A name follows the flags.
pub const XNAME_FOLLOWS: u32 = 1 << 12;
/// The entry is new.
pub const IS_NEW: u32 = 1 << 13;
/// Changed on the receiver without data (a link, a folder...).
pub const LOCAL_CHANGE: u32 = 1 << 14;
/// Data is wanted: a sum head follows.
pub const TRANSFER: u32 = 1 << 15;
/// Shown as `?` (no basis data).
pub const MISSING_DATA: u32 = 1 << 16;
/// Shown as `*deleting`.
pub const DELETED: u32 = 1 << 17;

/// The flags that make an entry worth a line under one `-i`.
pub const SIGNIFICANT: u32 = !(BASIS_TYPE_FOLLOWS | XNAME_FOLLOWS | LOCAL_CHANGE);

/// What kind of entry a line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symlink.
    Link,
    /// A device.
    Device,
    /// A fifo or socket.
    Special,
}

/// How the flags read for this transfer.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// This side sends (`<`), as a client pushing; else `>`.
    pub sending: bool,
    /// `-t` is on (else a changed time shows as `T`).
    pub times: bool,
    /// The receiver sets symlink times.
    pub symlink_times: bool,
}

/// The eleven characters of `%i`.
pub fn flags_text(iflags: u32, kind: Kind, style: Style) -> String {
    if iflags & DELETED != 0 {
        return "*deleting  ".into();
    }
    let on = |bit: u32, c: u8| if iflags & bit != 0 { c } else { b'.' };
    let mut c = [b'.'; 11];
    c[0] = if iflags & LOCAL_CHANGE != 0 {
        if iflags & XNAME_FOLLOWS != 0 {
            b'h'
        } else {
            b'c'
        }
    } else if iflags & TRANSFER == 0 {
        b'.'
    } else if style.sending {
        b'<'
    } else {
        b'>'
    };
    let time = if style.times { b't' } else { b'T' };
    match kind {
        Kind::Link => {
            c[1] = b'L';
            c[3] = b'.';
            c[4] = if iflags & REPORT_TIME == 0 {
                b'.'
            } else if !style.times || !style.symlink_times || iflags & REPORT_TIMEFAIL != 0 {
                b'T'
            } else {
                b't'
            };
        }
        _ => {
            c[1] = match kind {
                Kind::Dir => b'd',
                Kind::Special => b'S',
                Kind::Device => b'D',
                _ => b'f',
            };
            c[3] = on(REPORT_SIZE, b's');
            c[4] = on(REPORT_TIME, time);
        }
    }
    c[2] = on(REPORT_CHANGE, b'c');
    c[5] = on(REPORT_PERMS, b'p');
    c[6] = on(REPORT_OWNER, b'o');
    c[7] = on(REPORT_GROUP, b'g');
    c[8] = match (iflags & REPORT_ATIME != 0, iflags & REPORT_CRTIME != 0) {
        (false, false) => b'.',
        (true, true) => b'b',
        (true, false) => b'u',
        (false, true) => b'n',
    };
    c[9] = on(REPORT_ACL, b'a');
    c[10] = on(REPORT_XATTR, b'x');
    if iflags & (IS_NEW | MISSING_DATA) != 0 {
        let fill = if iflags & IS_NEW != 0 { b'+' } else { b'?' };
        c[2..].fill(fill);
    } else if matches!(c[0], b'.' | b'h' | b'c') && c[2..].iter().all(|&x| x == b'.') {
        c[2..].fill(b' ');
    }
    String::from_utf8_lossy(&c).into_owned()
}

/// Whether an entry that is not transferred gets a line (rsync's `maybe_log_item` on a
/// client): flags that matter, or `-ii`.
pub fn shows_untransferred(iflags: u32, itemize_all: bool) -> bool {
    iflags & SIGNIFICANT != 0 || itemize_all
}

/// The whole `-i` line, without its newline: flags, the name (a folder's with `/`), and a
/// link's ` -> target`.
pub fn line(iflags: u32, kind: Kind, style: Style, name: &[u8], link: Option<&[u8]>) -> Vec<u8> {
    let mut out = flags_text(iflags, kind, style).into_bytes();
    out.push(b' ');
    out.extend_from_slice(name);
    if kind == Kind::Dir && !name.ends_with(b"/") {
        out.push(b'/');
    }
    if let (Kind::Link, Some(target)) = (kind, link) {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUSH: Style = Style {
        sending: true,
        times: true,
        symlink_times: true,
    };

    fn show(iflags: u32, kind: Kind, name: &str, link: Option<&str>) -> String {
        String::from_utf8(line(
            iflags,
            kind,
            PUSH,
            name.as_bytes(),
            link.map(str::as_bytes),
        ))
        .unwrap()
    }

    #[test]
    fn lines_read_as_rsyncs_client_prints_them() {
        assert_eq!(
            show(TRANSFER | IS_NEW, Kind::File, "a", None),
            "<f+++++++++ a"
        );
        assert_eq!(
            show(LOCAL_CHANGE | IS_NEW, Kind::Dir, ".", None),
            "cd+++++++++ ./"
        );
        assert_eq!(
            show(LOCAL_CHANGE | IS_NEW, Kind::Link, "l", Some("t")),
            "cL+++++++++ l -> t"
        );
        assert_eq!(
            show(
                TRANSFER | REPORT_SIZE | REPORT_TIME,
                Kind::File,
                "big",
                None
            ),
            "<f.st...... big"
        );
        assert_eq!(show(REPORT_TIME, Kind::Dir, "d", None), ".d..t...... d/");
        assert_eq!(show(0, Kind::File, "same", None), ".f          same");
        assert_eq!(show(DELETED, Kind::Dir, "gone/", None), "*deleting   gone/");
        assert_eq!(
            show(
                TRANSFER | REPORT_PERMS | REPORT_OWNER | REPORT_GROUP,
                Kind::File,
                "x",
                None
            ),
            "<f...pog... x"
        );
    }

    #[test]
    fn times_without_t_show_as_capital_t() {
        let style = Style {
            sending: false,
            times: false,
            symlink_times: true,
        };
        assert_eq!(
            flags_text(TRANSFER | REPORT_TIME, Kind::File, style),
            ">f..T......"
        );
        assert!(!shows_untransferred(LOCAL_CHANGE | XNAME_FOLLOWS, false));
        assert!(shows_untransferred(0, true));
        assert!(shows_untransferred(REPORT_TIME, false));
    }
}
