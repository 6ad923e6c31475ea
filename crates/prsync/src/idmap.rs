//! rsync's `--usermap`, `--groupmap` and `--chown`: the owner or group a received entry
//! gets, from the sender's id. A map is `FROM:TO[,FROM:TO...]`, the first match winning:
//! FROM is `*` (every id), a number or a range `LOW-HIGH`, a name or a wildcard pattern of
//! names, or empty (an id without a name); TO is a name or a number. Names are looked up
//! where the map is used, on the receiving side, as rsync's receiver looks them up.

use std::ffi::CString;

/// Users or groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ids {
    /// `--usermap`.
    Users,
    /// `--groupmap`.
    Groups,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum From {
    Any,
    Range(u32, u32),
    Name(Vec<u8>),
    Nameless,
}

/// A parsed map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMap {
    ids: Ids,
    rules: Vec<(From, u32)>,
    text: String,
    /// TO names this system does not know: their rules are left out, with a warning.
    pub unknown: Vec<String>,
}

impl IdMap {
    /// Parses `text`. A TO name this system does not know leaves its rule out and is kept
    /// in [`IdMap::unknown`] for the receiver's warning, as rsync's receiver warns.
    pub fn parse(ids: Ids, text: &str) -> Result<IdMap, String> {
        let option = match ids {
            Ids::Users => "--usermap",
            Ids::Groups => "--groupmap",
        };
        let mut rules = Vec::new();
        let mut unknown = Vec::new();
        for pair in text.split(',') {
            let Some((from, to)) = pair.rsplit_once(':') else {
                return Err(format!(
                    "No colon found in {option}: {pair}; hint: give FROM:TO, as in {option}=*:nobody"
                ));
            };
            let to_id = match to.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) if to.is_empty() => {
                    return Err(format!("No name found after colon {option}: {pair}"))
                }
                Err(_) => id_of(ids, to),
            };
            let from = if from == "*" {
                From::Any
            } else if from.is_empty() {
                From::Nameless
            } else if from.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                let (low, high) = from.split_once('-').unwrap_or((from, from));
                match (low.parse::<u32>(), high.parse::<u32>()) {
                    (Ok(l), Ok(h)) if l <= h => From::Range(l, h),
                    _ => return Err(format!("Invalid number in {option}: {from}")),
                }
            } else {
                From::Name(from.as_bytes().to_vec())
            };
            match to_id {
                Some(to) => rules.push((from, to)),
                None => unknown.push(format!("Unknown {option} name on receiver: {to}")),
            }
        }
        Ok(IdMap {
            ids,
            rules,
            text: text.to_string(),
            unknown,
        })
    }

    /// The map as typed, for the agent's command line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The id an entry of the sender's `id` gets. With `numeric` (`--numeric-ids`) no id
    /// has a name, as rsync's receiver then knows none.
    pub fn map(&self, id: u32, numeric: bool) -> u32 {
        let name = match numeric {
            true => None,
            false => name_of(self.ids, id),
        };
        self.rule_for(id, name.as_deref()).unwrap_or(id)
    }

    /// The id the first rule that matches the sender's `id` and `name` gives, if one
    /// does: a receiver that has the sender's names (rsync's id lists) asks so.
    pub fn rule_for(&self, id: u32, name: Option<&[u8]>) -> Option<u32> {
        let name = name.filter(|n| !n.is_empty());
        self.rules.iter().find_map(|(from, to)| {
            let hit = match from {
                From::Any => true,
                From::Range(l, h) => (*l..=*h).contains(&id),
                From::Nameless => name.is_none(),
                From::Name(pattern) => {
                    name.is_some_and(|n| prtools_sync::filter::wildmatch(pattern, n))
                }
            };
            hit.then_some(*to)
        })
    }
}

/// `--chown=USER:GROUP` as the two maps it stands for (`*:USER`, `*:GROUP`); an empty side
/// maps nothing.
pub fn chown_maps(text: &str) -> Result<(Option<IdMap>, Option<IdMap>), String> {
    let (user, group) = text.split_once(':').unwrap_or((text, ""));
    let user = match user {
        "" => None,
        u => Some(IdMap::parse(Ids::Users, &format!("*:{u}"))?),
    };
    let group = match group {
        "" => None,
        g => Some(IdMap::parse(Ids::Groups, &format!("*:{g}"))?),
    };
    Ok((user, group))
}

/// The id of a user or group name here.
pub(crate) fn id_of(ids: Ids, name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    match ids {
        Ids::Users => {
            // SAFETY: getpwnam_r fills `pw` and `buf` (of the length given) and sets
            // `found` to `pw` or null; nothing outlives the call but the copied id.
            let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            let rc = unsafe {
                libc::getpwnam_r(
                    c.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                )
            };
            (rc == 0 && !found.is_null()).then_some(pw.pw_uid)
        }
        Ids::Groups => {
            // SAFETY: as above, with getgrnam_r and a group.
            let mut gr: libc::group = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::group = std::ptr::null_mut();
            let rc = unsafe {
                libc::getgrnam_r(
                    c.as_ptr(),
                    &mut gr,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                )
            };
            (rc == 0 && !found.is_null()).then_some(gr.gr_gid)
        }
    }
}

/// The name of a user or group id here, if it has one.
pub(crate) fn name_of(ids: Ids, id: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 16 * 1024];
    let name = match ids {
        Ids::Users => {
            // SAFETY: getpwuid_r fills `pw` and `buf`; `pw_name` points into `buf`, which
            // lives until the name is copied below.
            let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            let rc = unsafe {
                libc::getpwuid_r(id, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found)
            };
            (rc == 0 && !found.is_null()).then_some(pw.pw_name)?
        }
        Ids::Groups => {
            // SAFETY: as above, with getgrgid_r; `gr_name` points into `buf`.
            let mut gr: libc::group = unsafe { std::mem::zeroed() };
            let mut found: *mut libc::group = std::ptr::null_mut();
            let rc = unsafe {
                libc::getgrgid_r(id, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut found)
            };
            (rc == 0 && !found.is_null()).then_some(gr.gr_name)?
        }
    };
    // SAFETY: the name is a NUL-terminated string inside `buf`, still alive here.
    Some(
        unsafe { std::ffi::CStr::from_ptr(name) }
            .to_bytes()
            .to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_by_id_range_name_and_namelessness() {
        let map = IdMap::parse(Ids::Users, "5000-5001:7,root:8,*:9").unwrap();
        assert_eq!(map.map(5001, false), 7);
        assert_eq!(map.map(0, false), 8);
        assert_eq!(map.map(0, true), 9);
        let map = IdMap::parse(Ids::Groups, ":3").unwrap();
        assert_eq!(map.map(0, false), 0);
        assert_eq!(map.map(0, true), 3);
        assert_eq!(map.map(4_000_000, false), 3);
        let map = IdMap::parse(Ids::Users, "ro*:11").unwrap();
        assert_eq!(map.map(0, false), 11);
    }

    #[test]
    fn bad_maps_are_refused_in_rsyncs_words() {
        assert!(IdMap::parse(Ids::Users, "nocolon")
            .unwrap_err()
            .starts_with("No colon"));
        let map = IdMap::parse(Ids::Users, "*:no-such-user-here,*:5").unwrap();
        assert_eq!(
            map.unknown,
            ["Unknown --usermap name on receiver: no-such-user-here"]
        );
        assert_eq!(map.map(1, false), 5);
        assert_eq!(IdMap::parse(Ids::Users, "*:root").unwrap().map(5, false), 0);
        let (u, g) = chown_maps(":0").unwrap();
        assert!(u.is_none() && g.is_some_and(|g| g.map(5, false) == 0));
    }
}
