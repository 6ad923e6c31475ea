//! rsync's `-i` lines (`>f.st...... name`) and its escaping of names that are not printable.

use crate::flist::{FileEntry, FileKind};

/// What happened to one entry, as rsync's generator records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// Nothing was there before (all attribute columns print `+`).
    pub is_new: bool,
    /// The data is sent (`>`).
    pub transfer: bool,
    /// Made or changed here without data (`c`), or hard-linked (`h` with `hlink`).
    pub local_change: bool,
    /// A hard link was made (`h`); the line ends with ` => target`.
    pub hlink: bool,
    /// Checksum (regular file) or target (symlink) differs: `c`.
    pub change: bool,
    /// Size differs: `s`.
    pub size: bool,
    /// Mtime differs: `t` (`T` when times are not kept and the time becomes "now").
    pub time: bool,
    /// Times are not kept, so a changed time shows as `T`.
    pub time_now: bool,
    /// Permissions differ: `p`.
    pub perms: bool,
    /// Owner differs: `o`.
    pub owner: bool,
    /// Group differs: `g`.
    pub group: bool,
    /// Access time differs (`-U`): `u`.
    pub atime: bool,
    /// The ACL differs (`-A`): `a`.
    pub acl: bool,
    /// Extended attributes differ (`-X`): `x`.
    pub xattr: bool,
}

impl Item {
    /// Whether rsync prints this item with `-i` (without `-v -v`): something changed, or a
    /// hard link was made.
    pub fn significant(&self) -> bool {
        self.is_new
            || self.transfer
            || self.change
            || self.size
            || self.time
            || self.perms
            || self.owner
            || self.group
            || self.atime
            || self.acl
            || self.xattr
            || self.hlink
    }

    /// Whether `-v` names this item (of a folder when `is_dir`): it was made, sent or
    /// linked, or it changed here and something about it did (rsync's name lines).
    pub fn named(&self, is_dir: bool) -> bool {
        self.is_new
            || self.transfer
            || self.hlink
            || ((self.local_change || is_dir) && self.significant())
    }

    /// The 11 columns `YXcstpoguax`.
    pub fn code(&self, entry: &FileEntry) -> String {
        let y = if self.hlink {
            'h'
        } else if self.local_change {
            'c'
        } else if self.transfer {
            '>'
        } else {
            '.'
        };
        let x = match entry.kind {
            FileKind::Regular { .. } => 'f',
            FileKind::Dir => 'd',
            FileKind::Symlink { .. } => 'L',
            FileKind::Device { .. } => 'D',
            FileKind::Special => 'S',
            // Never itemized: its lines are deletions.
            FileKind::Missing => '*',
        };
        let mut s = String::with_capacity(11);
        s.push(y);
        s.push(x);
        if self.is_new {
            s.push_str("+++++++++");
            return s;
        }
        let flag = |on: bool, c: char| if on { c } else { '.' };
        let rest = [
            flag(self.change, 'c'),
            flag(self.size, 's'),
            flag(self.time, if self.time_now { 'T' } else { 't' }),
            flag(self.perms, 'p'),
            flag(self.owner, 'o'),
            flag(self.group, 'g'),
            flag(self.atime, 'u'),
            flag(self.acl, 'a'),
            flag(self.xattr, 'x'),
        ];
        // rsync blanks the columns of an item shown although nothing in it changed.
        let blank = rest.iter().all(|&c| c == '.') && matches!(y, '.' | 'h' | 'c');
        for c in rest {
            s.push(if blank { ' ' } else { c });
        }
        s
    }
}

/// The `-i` line of an entry: code, name (a directory with `/`), and ` -> target` for a
/// symlink or ` => target` for a hard link. No newline.
pub fn line(
    item: &Item,
    entry: &FileEntry,
    hlink_target: Option<&[u8]>,
    high: HighBytes,
) -> Vec<u8> {
    let mut out = item.code(entry).into_bytes();
    out.push(b' ');
    out.extend(escape(&entry.shown_name(), high));
    if let Some(target) = hlink_target {
        out.extend_from_slice(b" => ");
        out.extend(escape(target, high));
    } else if let FileKind::Symlink { target } = &entry.kind {
        out.extend_from_slice(b" -> ");
        out.extend(escape(target, high));
    }
    out
}

/// How a name's bytes above 0x7f are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HighBytes {
    /// As `\#ooo` escapes.
    Escaped,
    /// As they are where they form a printable UTF-8 character, else escaped.
    Utf8,
    /// As they are (`-8`).
    Raw,
}

/// What the locale can show, as without `-8`.
impl Default for HighBytes {
    fn default() -> HighBytes {
        HighBytes::of(false)
    }
}

impl HighBytes {
    /// rsync's choice: as they are with `-8`, else as the locale can show them.
    pub fn of(eight_bit: bool) -> HighBytes {
        if eight_bit {
            HighBytes::Raw
        } else if locale_is_utf8() {
            HighBytes::Utf8
        } else {
            HighBytes::Escaped
        }
    }
}

/// A name as rsync prints it: control bytes (but tab) as `\#ooo` in octal, a `\#` that
/// already looks like an escape too, and bytes above 0x7f as `high` says.
pub fn escape(name: &[u8], high: HighBytes) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        let looks_escaped = b == b'\\'
            && name.len() > i + 4
            && name[i + 1] == b'#'
            && name[i + 2..i + 5].iter().all(u8::is_ascii_digit);
        if b >= 0x80 && high == HighBytes::Raw {
            out.push(b);
            i += 1;
            continue;
        }
        if b >= 0x80 && high == HighBytes::Utf8 {
            if let Some(len) = printable_utf8_len(&name[i..]) {
                out.extend_from_slice(&name[i..i + len]);
                i += len;
                continue;
            }
        }
        if looks_escaped || (b < b' ' && b != b'\t') || b >= 0x80 {
            out.extend_from_slice(format!("\\#{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

/// The length of the UTF-8 character at the start of `s` if it is valid and printable (C1
/// controls U+0080..U+009F are not).
fn printable_utf8_len(s: &[u8]) -> Option<usize> {
    let len = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let ch = std::str::from_utf8(s.get(..len)?).ok()?.chars().next()?;
    if ('\u{80}'..='\u{9f}').contains(&ch) {
        return None;
    }
    Some(len)
}

/// Whether the locale's character set is UTF-8 (`LC_ALL`, then `LC_CTYPE`, then `LANG`),
/// which decides how rsync prints names with bytes above 0x7f.
fn locale_is_utf8() -> bool {
    for var in ["LC_ALL", "LC_CTYPE", "LANG"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                let v = v.to_ascii_lowercase();
                return v.contains("utf-8") || v.contains("utf8");
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> FileEntry {
        FileEntry::new(name.into(), FileKind::Regular { size: 1 }, 0o100644)
    }

    #[test]
    fn codes() {
        let f = file("x");
        let new = Item {
            is_new: true,
            transfer: true,
            ..Item::default()
        };
        assert_eq!(new.code(&f), ">f+++++++++");
        let t = Item {
            transfer: true,
            time: true,
            size: true,
            ..Item::default()
        };
        assert_eq!(t.code(&f), ">f.st......");
        let h = Item {
            local_change: true,
            hlink: true,
            ..Item::default()
        };
        assert_eq!(h.code(&f), "hf         ");
    }

    #[test]
    fn escapes_like_rsync() {
        assert_eq!(escape(b"new\nline", HighBytes::Utf8), b"new\\#012line");
        assert_eq!(escape(b"tab\tx", HighBytes::Utf8), b"tab\tx");
        assert_eq!(escape(b"bad\xff\xfe", HighBytes::Utf8), b"bad\\#377\\#376");
        assert_eq!(
            escape("utf-é".as_bytes(), HighBytes::Utf8),
            "utf-é".as_bytes()
        );
        assert_eq!(
            escape("utf-é".as_bytes(), HighBytes::Escaped),
            b"utf-\\#303\\#251"
        );
        assert_eq!(escape(b"x\\#123y", HighBytes::Utf8), b"x\\#134#123y");
        assert_eq!(escape(b"del\x7f", HighBytes::Escaped), b"del\x7f");
        assert_eq!(escape(b"hi\xf9\n", HighBytes::Raw), b"hi\xf9\\#012");
    }
}
