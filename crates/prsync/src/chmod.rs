//! rsync's `--chmod=CHMOD`: comma-separated modes, each maybe for folders only (`D`) or
//! files only (`F`), applied on the sending side as if the files had those permissions:
//! octal (`D2755`), or `[ugoa]*[-+=]` with `rwxXst` or a class to copy (`o=u`). With no class
//! letter, the bits the umask clears are left alone, as chmod(1) does.

/// The parsed rules, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chmod {
    rules: Vec<Rule>,
    /// The umask when parsed (a rule without a class leaves its bits alone).
    umask: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    dirs: bool,
    files: bool,
    change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Octal(u32),
    Symbolic {
        /// The bits the class letters name; `None` for none given.
        who: Option<u32>,
        op: u8,
        perms: Perms,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Perms {
    /// `r`, `w`, `x`, `s`, `t` as bits for every class.
    bits: u32,
    /// `X`: execute for folders and for files some class may already execute.
    big_x: bool,
    /// `u`, `g` or `o` after the operator: that class's bits now.
    copy: Option<u32>,
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    /// Parses rsync's CHMOD text, under the process's umask; the error is rsync's words.
    pub fn parse(text: &str) -> Result<Chmod, String> {
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
        rustix::process::umask(old);
        Chmod::parse_under(text, old.bits())
    }

    /// [`Chmod::parse`] under `umask`.
    pub fn parse_under(text: &str, umask: u32) -> Result<Chmod, String> {
        let invalid = || format!("Invalid argument passed to --chmod ({text})");
        let mut rules = Vec::new();
        for item in text.split(',') {
            let (dirs, files, rest) = match item.as_bytes().first() {
                Some(b'D') => (true, false, &item[1..]),
                Some(b'F') => (false, true, &item[1..]),
                _ => (true, true, item),
            };
            let change = if !rest.is_empty() && rest.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                Change::Octal(u32::from_str_radix(rest, 8).map_err(|_| invalid())? & 0o7777)
            } else {
                let at = rest.find(['+', '-', '=']).ok_or_else(invalid)?;
                let (who_text, tail) = rest.split_at(at);
                let mut who = None;
                for c in who_text.bytes() {
                    let bits = match c {
                        b'u' => USER,
                        b'g' => GROUP,
                        b'o' => OTHER,
                        b'a' => USER | GROUP | OTHER,
                        _ => return Err(invalid()),
                    };
                    who = Some(who.unwrap_or(0) | bits);
                }
                let op = tail.as_bytes()[0];
                let mut perms = Perms::default();
                for c in tail[1..].bytes() {
                    match c {
                        b'r' => perms.bits |= 0o444,
                        b'w' => perms.bits |= 0o222,
                        b'x' => perms.bits |= 0o111,
                        b'X' => perms.big_x = true,
                        b's' => perms.bits |= 0o6000,
                        b't' => perms.bits |= 0o1000,
                        b'u' if perms.copy.is_none() => perms.copy = Some(6),
                        b'g' if perms.copy.is_none() => perms.copy = Some(3),
                        b'o' if perms.copy.is_none() => perms.copy = Some(0),
                        _ => return Err(invalid()),
                    }
                }
                Change::Symbolic { who, op, perms }
            };
            rules.push(Rule {
                dirs,
                files,
                change,
            });
        }
        Ok(Chmod { rules, umask })
    }

    /// The permissions of an entry whose own are `mode` (its type bits are kept).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let umask = self.umask;
        let mut perm = mode & 0o7777;
        for rule in &self.rules {
            if !(if is_dir { rule.dirs } else { rule.files }) {
                continue;
            }
            perm = match &rule.change {
                Change::Octal(v) => *v,
                Change::Symbolic { who, op, perms } => {
                    let mut bits = perms.bits;
                    if perms.big_x && (is_dir || perm & 0o111 != 0) {
                        bits |= 0o111;
                    }
                    if let Some(shift) = perms.copy {
                        bits |= ((perm >> shift) & 0o7) * 0o111;
                    }
                    let (mask, reach) = match who {
                        Some(w) => (*w, *w),
                        // No class: every class, but not the bits the umask clears.
                        None => (0o7777, 0o7777 & !(umask & 0o777)),
                    };
                    let bits = bits & reach;
                    match op {
                        b'+' => perm | bits,
                        b'-' => perm & !bits,
                        // `=` sets the classes' rwx; their setuid, setgid and sticky bits
                        // stay unless named, as rsync leaves them.
                        _ => (perm & !(mask & 0o777)) | bits,
                    }
                }
            };
        }
        (mode & !0o7777) | perm
    }
}

#[cfg(test)]
mod tests {
    use super::Chmod;

    /// Each case as rsync 3.5.0 left a file of 640, a folder of 750 and a file of 600 with
    /// `-rp --chmod=SPEC` under umask 022.
    #[test]
    fn applies_as_rsync_does() {
        for (spec, want) in [
            ("+w", [0o640, 0o750, 0o600]),
            ("a+w", [0o662, 0o772, 0o622]),
            ("Fo+r", [0o644, 0o750, 0o604]),
            ("Dg-x,Fu+x", [0o740, 0o740, 0o700]),
            ("u=rwX,go=rX", [0o644, 0o755, 0o644]),
            ("644", [0o644, 0o644, 0o644]),
            ("D755,F600", [0o600, 0o755, 0o600]),
            ("o=u", [0o646, 0o757, 0o606]),
            ("+t", [0o1640, 0o1750, 0o1600]),
            ("ug+s", [0o6640, 0o6750, 0o6600]),
            ("go-rwx", [0o600, 0o700, 0o600]),
            ("a=", [0, 0, 0]),
            ("=r", [0o444, 0o444, 0o444]),
            ("o+X", [0o640, 0o751, 0o600]),
            ("D2755", [0o640, 0o2755, 0o600]),
        ] {
            let chmod = Chmod::parse_under(spec, 0o022).unwrap();
            let got = [
                chmod.apply(0o100640, false) & 0o7777,
                chmod.apply(0o040750, true) & 0o7777,
                chmod.apply(0o100600, false) & 0o7777,
            ];
            assert_eq!(got, want, "{spec}");
        }
        for bad in ["u+rw-x", "q+r", "u+q", ""] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
