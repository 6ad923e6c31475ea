//! rsync's `--chmod=CHMOD`: comma-separated modes, each maybe for folders only (`D`) or
//! files only (`F`), applied on the sending side as if the files had those permissions:
//! octal (`D2755`), or `[ugoa]*[-+=]` with `rwxXst` or a class to copy (`o=u`). With no class
//! letter, the bits the umask clears are left alone, as chmod(1) does.

/// The parsed rules, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chmod {
    rules: Vec<Rule>,
}

/// One comma-separated item, reduced to the masks it applies: clear `and`'s complement, set
/// `or`, then add (or, for `-`, clear) the bits copied from another class.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    dirs: bool,
    files: bool,
    and: u32,
    or: u32,
    /// The classes a copy reads (`0o100` u, `0o010` g, `0o001` o), and where it lands.
    copy_from: u32,
    copy_to: u32,
    /// The bits a copy may reach: the umask's complement when no class was named.
    copy_reach: u32,
    /// `-`: the copied bits are cleared rather than set.
    clears: bool,
    /// `X`: a file that no class could execute when the rules began gains no execute bit.
    keep_x: bool,
}

const ALL: u32 = 0o7777;

/// The setuid, setgid and sticky bits that go with the classes in `who`.
fn specials_of(who: u32) -> u32 {
    let mut bits = 0;
    if who & 0o100 != 0 {
        bits |= 0o4000;
    }
    if who & 0o010 != 0 {
        bits |= 0o2000;
    }
    if who & 0o001 != 0 {
        bits |= 0o1000;
    }
    bits
}

impl Chmod {
    /// Parses rsync's CHMOD text, under the process's umask; the error is rsync's words.
    pub fn parse(text: &str) -> Result<Chmod, String> {
        Chmod::parse_under(text, crate::receiver::umask())
    }

    /// [`Chmod::parse`] under `umask`.
    pub fn parse_under(text: &str, umask: u32) -> Result<Chmod, String> {
        let invalid = || format!("Invalid argument passed to --chmod ({text})");
        let mut rules = Vec::new();
        for item in text.split(',') {
            rules.push(parse_item(item.as_bytes(), umask).ok_or_else(invalid)?);
        }
        Ok(Chmod { rules })
    }

    /// The permissions of an entry whose own are `mode` (its type bits are kept).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        // `X` asks whether the entry could be executed before any rule ran, as rsync does.
        let could_execute = mode & 0o111 != 0;
        let mut perm = mode & ALL;
        for rule in &self.rules {
            if !(if is_dir { rule.dirs } else { rule.files }) {
                continue;
            }
            let mut copied = 0;
            for (class, shift) in [(0o100, 6), (0o010, 3), (0o001, 0)] {
                if rule.copy_from & class != 0 {
                    copied |= (perm >> shift) & 0o7;
                }
            }
            let copied = (rule.copy_to * copied) & rule.copy_reach;
            perm &= rule.and;
            perm |= if rule.keep_x && !could_execute && !is_dir {
                rule.or & !0o111
            } else {
                rule.or
            };
            if rule.clears {
                perm &= ALL & !copied;
            } else {
                perm |= copied;
            }
        }
        (mode & !ALL) | perm
    }
}

/// One item of CHMOD as rsync 3.5.0 reads it: `[DF]` then an octal mode, or
/// `[ugoa]*` one of `+-=` and either `[rwxXst]*` or one class to copy. `None` when invalid.
fn parse_item(item: &[u8], umask: u32) -> Option<Rule> {
    let (mut dirs, mut files) = (true, true);
    let mut rest = item;
    while let Some((&c, tail)) = rest.split_first() {
        match c {
            b'D' if dirs => files = false,
            b'F' if files => dirs = false,
            _ => break,
        }
        rest = tail;
    }
    let mut rule = Rule {
        dirs,
        files,
        and: ALL,
        or: 0,
        copy_from: 0,
        copy_to: 0,
        copy_reach: ALL,
        clears: false,
        keep_x: false,
    };
    if rest.first().is_some_and(|c| (b'0'..=b'7').contains(c)) {
        let mut value = 0u32;
        for &c in rest {
            if !(b'0'..=b'7').contains(&c) {
                return None;
            }
            value = value * 8 + u32::from(c - b'0');
            if value > ALL {
                return None;
            }
        }
        rule.and = 0;
        rule.or = value;
        return Some(rule);
    }
    let (mut who, mut top) = (0u32, 0u32);
    let at = rest.iter().position(|c| matches!(c, b'+' | b'-' | b'='))?;
    for &c in &rest[..at] {
        let (w, t) = match c {
            b'u' => (0o100, 0o4000),
            b'g' => (0o010, 0o2000),
            b'o' => (0o001, 0),
            b'a' => (0o111, 0o6000),
            _ => return None,
        };
        who |= w;
        top |= t;
    }
    let op = rest[at];
    let (mut what, mut specials, mut copy) = (0u32, 0u32, 0u32);
    for &c in &rest[at + 1..] {
        if copy != 0 {
            return None;
        }
        match c {
            b'r' => what |= 4,
            b'w' => what |= 2,
            b'x' => what |= 1,
            b'X' => {
                rule.keep_x = true;
                what |= 1;
            }
            b's' => specials |= if top != 0 { top } else { 0o4000 },
            b't' => specials |= 0o1000,
            b'u' | b'g' | b'o' if what == 0 && specials == 0 => {
                copy = match c {
                    b'u' => 0o100,
                    b'g' => 0o010,
                    _ => 0o001,
                }
            }
            _ => return None,
        }
    }
    let named = who != 0;
    let (where_, bits) = if named {
        (who, who * what)
    } else {
        (0o111, (0o111 * what) & !umask)
    };
    rule.copy_from = copy;
    rule.copy_to = where_;
    rule.copy_reach = if named { ALL } else { !umask & ALL };
    match op {
        b'+' => rule.or = bits | specials,
        b'-' => {
            rule.and = ALL & !(bits | specials);
            rule.clears = true;
        }
        _ => {
            let mut cleared = where_ * 7;
            if specials != 0 {
                cleared |= top;
            }
            if copy != 0 {
                cleared |= specials_of(where_);
            }
            rule.and = ALL & !cleared;
            rule.or = bits | specials;
        }
    }
    Some(rule)
}

#[cfg(test)]
mod tests {
    use super::Chmod;

    /// Each case as rsync 3.5.0 left a file of 640, a folder of 750, a file of 600, a file of
    /// 4755, a file of 2755 and a folder of 1750 with `-rp --chmod=SPEC` under umask 022.
    #[test]
    fn applies_as_rsync_does() {
        let before = [
            (0o100640, false),
            (0o040750, true),
            (0o100600, false),
            (0o104755, false),
            (0o102755, false),
            (0o041750, true),
        ];
        for (spec, want) in [
            ("+w", [0o640, 0o750, 0o600, 0o4755, 0o2755, 0o1750]),
            ("a+w", [0o662, 0o772, 0o622, 0o4777, 0o2777, 0o1772]),
            ("Fo+r", [0o644, 0o750, 0o604, 0o4755, 0o2755, 0o1750]),
            ("Dg-x,Fu+x", [0o740, 0o740, 0o700, 0o4755, 0o2755, 0o1740]),
            ("u=rwX,go=rX", [0o644, 0o755, 0o644, 0o4755, 0o2755, 0o1755]),
            ("644", [0o644, 0o644, 0o644, 0o644, 0o644, 0o644]),
            ("D755,F600", [0o600, 0o755, 0o600, 0o600, 0o600, 0o755]),
            ("o=u", [0o646, 0o757, 0o606, 0o4757, 0o2757, 0o757]),
            ("+t", [0o1640, 0o1750, 0o1600, 0o5755, 0o3755, 0o1750]),
            ("ug+s", [0o6640, 0o6750, 0o6600, 0o6755, 0o6755, 0o7750]),
            ("go-rwx", [0o600, 0o700, 0o600, 0o4700, 0o2700, 0o1700]),
            ("a=", [0o0, 0o0, 0o0, 0o4000, 0o2000, 0o1000]),
            ("=r", [0o444, 0o444, 0o444, 0o4444, 0o2444, 0o1444]),
            ("o+X", [0o640, 0o751, 0o600, 0o4755, 0o2755, 0o1751]),
            ("D2755", [0o640, 0o2755, 0o600, 0o4755, 0o2755, 0o2755]),
            ("+s", [0o4640, 0o4750, 0o4600, 0o4755, 0o6755, 0o5750]),
            ("o+s", [0o4640, 0o4750, 0o4600, 0o4755, 0o6755, 0o5750]),
            ("u=g", [0o440, 0o550, 0o0, 0o555, 0o2555, 0o1550]),
            ("g=u", [0o660, 0o770, 0o660, 0o4775, 0o775, 0o1770]),
            ("g-o", [0o640, 0o750, 0o600, 0o4705, 0o2705, 0o1750]),
            ("g=o,o=", [0o600, 0o700, 0o600, 0o4750, 0o750, 0o1700]),
            ("a-X", [0o640, 0o640, 0o600, 0o4644, 0o2644, 0o1640]),
            ("a-x,a+X", [0o640, 0o751, 0o600, 0o4755, 0o2755, 0o1751]),
            ("u=rs", [0o4440, 0o4450, 0o4400, 0o4455, 0o6455, 0o5450]),
            ("g+u", [0o660, 0o770, 0o660, 0o4775, 0o2775, 0o1770]),
            ("-u", [0o0, 0o0, 0o0, 0o4000, 0o2000, 0o1000]),
        ] {
            let chmod = Chmod::parse_under(spec, 0o022).unwrap();
            let got = before.map(|(mode, is_dir)| chmod.apply(mode, is_dir) & 0o7777);
            assert_eq!(got, want, "{spec}");
        }
        for bad in [
            "u+rw-x", "q+r", "u+q", "", "DF+x", "FD+x", "g=ur", "u+r-x", "8", "17777",
        ] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
