//! grep's locale rules: what a character is, what the classes hold and how case folds, all
//! asked of the C library's locale (`setlocale(LC_ALL, "")`), as GNU grep does, so that
//! `[[:lower:]]` in `en_US.UTF-8`, `i` in `tr_TR.UTF-8` and `\351` in `fr_FR.ISO-8859-1`
//! mean what they mean to grep on the same machine.
//!
//! Two kinds of locale matter: UTF-8 ones, where a character is a code point and a byte
//! that is not valid UTF-8 is an encoding error (which makes a file binary), and the
//! others, where every byte is a character (the C locale, ISO-8859-*, KOI8-R). Other
//! multibyte encodings (EUC-JP, Shift_JIS) are searched as bytes.

use std::ffi::{c_char, c_int, CStr};
use std::sync::OnceLock;

/// The C library's wide character type for the ctype functions.
type WInt = u32;
/// The handle `wctype` returns.
type WCtype = std::ffi::c_ulong;

extern "C" {
    fn wctype(name: *const c_char) -> WCtype;
    fn iswctype(wc: WInt, desc: WCtype) -> c_int;
    fn towupper(wc: WInt) -> WInt;
    fn towlower(wc: WInt) -> WInt;
}

/// The locale the search runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    /// Characters are UTF-8 code points.
    pub utf8: bool,
    /// Turkish case rules (`i`/`İ`, `ı`/`I`).
    pub turkish: bool,
    /// Accented letters collate with their base letter (`[[=a=]]` holds `á`): a language's
    /// locale, not C.UTF-8.
    pub collates: bool,
}

impl Locale {
    /// The C locale: bytes, ASCII classes.
    pub const C: Locale = Locale {
        utf8: false,
        turkish: false,
        collates: false,
    };
}

static CURRENT: OnceLock<Locale> = OnceLock::new();

/// Sets the process locale from the environment (`LC_ALL`, `LC_CTYPE`, `LANG`), once, and
/// says what it is.
pub fn current() -> Locale {
    *CURRENT.get_or_init(|| {
        // SAFETY: called once, before the search threads start (the config is resolved
        // first), and the strings passed are NUL-terminated literals. The pointers returned
        // are read at once and not kept.
        unsafe {
            let set = libc::setlocale(libc::LC_ALL, c"".as_ptr());
            if set.is_null() {
                return Locale::C;
            }
            let codeset = libc::nl_langinfo(libc::CODESET);
            let utf8 = !codeset.is_null() && {
                let c = CStr::from_ptr(codeset).to_bytes().to_ascii_lowercase();
                c == b"utf-8" || c == b"utf8"
            };
            let name = libc::setlocale(libc::LC_CTYPE, std::ptr::null());
            let turkish = !name.is_null() && {
                let n = CStr::from_ptr(name).to_bytes();
                n.starts_with(b"tr_") || n.starts_with(b"az_")
            };
            let collate = libc::setlocale(libc::LC_COLLATE, std::ptr::null());
            let collates = !collate.is_null() && {
                let n = CStr::from_ptr(collate).to_bytes();
                !(n.starts_with(b"C") || n.starts_with(b"POSIX"))
            };
            Locale {
                utf8,
                turkish,
                collates,
            }
        }
    })
}

/// A POSIX character class name (`alpha`, `digit`, ...), as `[[:NAME:]]` names it.
pub fn is_class_name(name: &str) -> bool {
    matches!(
        name,
        "alpha"
            | "upper"
            | "lower"
            | "digit"
            | "xdigit"
            | "space"
            | "print"
            | "punct"
            | "graph"
            | "cntrl"
            | "blank"
            | "alnum"
    )
}

/// The members of class `name` as sorted ranges of characters (code points in a UTF-8
/// locale, bytes otherwise), as the C library classifies them.
pub fn class_ranges(loc: Locale, name: &str) -> Vec<(u32, u32)> {
    let cname = std::ffi::CString::new(name).expect("class names hold no NUL");
    // SAFETY: `cname` is NUL-terminated and lives across the call.
    let desc = unsafe { wctype(cname.as_ptr()) };
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut add = |c: u32| match out.last_mut() {
        Some((_, hi)) if *hi + 1 == c => *hi = c,
        _ => out.push((c, c)),
    };
    if loc.utf8 {
        // Past these, the C library's tables hold no letters, digits or spaces.
        for c in (0..0x32000u32).chain(0xE0000..0xE1000) {
            // SAFETY: iswctype takes any wint_t.
            if unsafe { iswctype(c, desc) } != 0 {
                add(c);
            }
        }
    } else {
        for b in 0..=255u32 {
            if byte_in_class(b as u8, name) {
                add(b);
            }
        }
    }
    out
}

/// Whether byte `b` is in class `name` in the current single-byte locale.
fn byte_in_class(b: u8, name: &str) -> bool {
    let c = b as c_int;
    // SAFETY: the is* functions take any value of unsigned char.
    unsafe {
        (match name {
            "alpha" => libc::isalpha(c),
            "upper" => libc::isupper(c),
            "lower" => libc::islower(c),
            "digit" => libc::isdigit(c),
            "xdigit" => libc::isxdigit(c),
            "space" => libc::isspace(c),
            "print" => libc::isprint(c),
            "punct" => libc::ispunct(c),
            "graph" => libc::isgraph(c),
            "cntrl" => libc::iscntrl(c),
            "blank" => libc::isblank(c),
            _ => libc::isalnum(c),
        }) != 0
    }
}

/// Characters whose upper case is shared with others but that no other character lowers
/// to, so that they are only found by asking about each (GNU's list, from Unicode).
const LONESOME_LOWER: &[u32] = &[
    0x00B5, 0x0131, 0x017F, 0x01C5, 0x01C8, 0x01CB, 0x01F2, 0x0345, 0x03C2, 0x03D0, 0x03D1, 0x03D5,
    0x03D6, 0x03F0, 0x03F1, 0x03F5, 0x1E9B, 0x1FBE,
];

/// `c` and the characters that match it when case is ignored, as grep folds them.
pub fn case_variants(loc: Locale, c: u32) -> Vec<u32> {
    let mut out = vec![c];
    let push = |v: u32, out: &mut Vec<u32>| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    if loc.utf8 {
        // SAFETY: towupper and towlower take any wint_t.
        let (up, low) = unsafe { (towupper(c), towlower(c)) };
        push(up, &mut out);
        push(low, &mut out);
        // SAFETY: as above.
        push(unsafe { towlower(up) }, &mut out);
        for &l in LONESOME_LOWER {
            // SAFETY: as above.
            if unsafe { towupper(l) } == up {
                push(l, &mut out);
            }
        }
    } else if c < 256 {
        // SAFETY: toupper and tolower take any value of unsigned char.
        let (up, low) = unsafe {
            (
                libc::toupper(c as c_int) as u32,
                libc::tolower(c as c_int) as u32,
            )
        };
        push(up & 0xFF, &mut out);
        push(low & 0xFF, &mut out);
    }
    out
}

/// `c` in lower case, for comparing back-references with `-i`.
pub fn fold(loc: Locale, c: u32) -> u32 {
    if loc.utf8 {
        // SAFETY: towlower and towupper take any wint_t.
        unsafe { towlower(towupper(c)) }
    } else if c < 256 {
        // SAFETY: tolower takes any value of unsigned char.
        unsafe { libc::tolower(c as c_int) as u32 & 0xFF }
    } else {
        c
    }
}

/// Whether `c` is a word character (`[_[:alnum:]]`) in the locale.
pub fn is_word(loc: Locale, c: u32) -> bool {
    if c == u32::from(b'_') {
        return true;
    }
    if loc.utf8 {
        static ALNUM: OnceLock<WCtype> = OnceLock::new();
        // SAFETY: the name is a NUL-terminated literal; iswctype takes any wint_t.
        let desc = *ALNUM.get_or_init(|| unsafe { wctype(c"alnum".as_ptr()) });
        unsafe { iswctype(c, desc) != 0 }
    } else {
        c < 256 && byte_in_class(c as u8, "alnum")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_locale_classes_are_ascii() {
        let digits = class_ranges(Locale::C, "digit");
        assert_eq!(digits, [(u32::from(b'0'), u32::from(b'9'))]);
        assert!(case_variants(Locale::C, u32::from(b'a')).contains(&u32::from(b'A')));
    }
}
