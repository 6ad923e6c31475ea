//! `--fake-super -A`: an ordinary user cannot give a file another user's ACL entries, so
//! the ACL is kept in two extended attributes instead, in rsync's packed form, so that
//! rsync and prsync read each other's: `user.rsync.%aacl` for the access ACL and
//! `user.rsync.%dacl` for a folder's default ACL.
//!
//! A value is four little-endian words (the owner's, the owning group's, the mask's and
//! others' permission bits, `0x80` where the entry is absent or the mode says it), then a
//! pair of words per named entry: the id, and the bits with the top bit set for a user.
//! The access ACL leaves out what the mode says (rsync's `rsync_acl_strip_perms`), so a
//! file whose ACL says no more than its mode has no `%aacl`.

use exacl::{AclEntry, AclEntryKind, Flag, Perm};

use crate::idmap::{self, Ids};

/// The attribute that holds the access ACL.
pub const ACCESS_NAME: &[u8] = b"user.rsync.%aacl";
/// The attribute that holds a folder's default ACL.
pub const DEFAULT_NAME: &[u8] = b"user.rsync.%dacl";

/// A word for an entry that is absent, or that the mode says.
const NO_ENTRY: u32 = 0x80;
/// The bit of a named entry's word that says it names a user, not a group.
const NAME_IS_USER: u32 = 1 << 31;

/// One ACL as rsync holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Packed {
    user: u32,
    group: u32,
    mask: u32,
    other: u32,
    /// (id, bits with [`NAME_IS_USER`] for a user), users first, each kind by id.
    names: Vec<(u32, u32)>,
}

/// The `%aacl` and `%dacl` values that stand for ACL text `text` (as
/// [`prtools_sync::read_acl`] gives it; `None`: what the mode says) on an entry of
/// `mode`; `None` where no attribute is to be kept.
pub fn pack(text: Option<&str>, mode: u32) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let entries = text
        .and_then(|t| exacl::from_str(t).ok())
        .unwrap_or_default();
    let (default, access): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.flags.contains(Flag::DEFAULT));
    let mut a = gather(&access);
    let group_bits = (mode >> 3) & 7;
    a.user = NO_ENTRY;
    a.other = NO_ENTRY;
    // The mask stays: rsync's sender leaves it out when the mode's group bits say it,
    // and its receiver puts those bits back before it stores the ACL.
    if a.mask == NO_ENTRY || a.group == group_bits {
        a.group = NO_ENTRY;
    }
    let trivial = a.group == NO_ENTRY && a.mask == NO_ENTRY && a.names.is_empty();
    let access = (!trivial).then(|| encode(&a));
    let default = (!default.is_empty()).then(|| encode(&gather(&default)));
    (access, default)
}

/// The ACL text that the `%aacl` and `%dacl` values (`None`: absent) stand for on an entry
/// of `mode`, as [`prtools_sync::read_acl`] would give it had the ACL been set; `None`
/// when the mode says it all or a value is not rsync's.
pub fn unpack(access: Option<&[u8]>, default: Option<&[u8]>, mode: u32) -> Option<String> {
    let mut entries = Vec::new();
    if let Some(mut a) = access.and_then(decode) {
        let group_bits = (mode >> 3) & 7;
        if a.user == NO_ENTRY {
            a.user = (mode >> 6) & 7;
        }
        if a.group == NO_ENTRY {
            a.group = group_bits;
        }
        if a.other == NO_ENTRY {
            a.other = mode & 7;
        }
        if a.mask == NO_ENTRY && !a.names.is_empty() {
            a.mask = group_bits;
        }
        if a.mask != NO_ENTRY || !a.names.is_empty() {
            entries.extend(spread(&a, None));
        }
    }
    if let Some(d) = default.and_then(decode) {
        entries.extend(spread(&d, Some(Flag::DEFAULT)));
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort();
    exacl::to_string(&entries).ok()
}

/// The words of the entries of one ACL.
fn gather(entries: &[AclEntry]) -> Packed {
    let mut p = Packed {
        user: NO_ENTRY,
        group: NO_ENTRY,
        mask: NO_ENTRY,
        other: NO_ENTRY,
        names: Vec::new(),
    };
    for e in entries.iter().filter(|e| e.allow) {
        let bits = e.perms.bits() & 7;
        match (e.kind, e.name.is_empty()) {
            (AclEntryKind::User, true) => p.user = bits,
            (AclEntryKind::Group, true) => p.group = bits,
            (AclEntryKind::Mask, _) => p.mask = bits,
            (AclEntryKind::Other, _) => p.other = bits,
            (AclEntryKind::User, false) => {
                if let Some(id) = id_of(Ids::Users, &e.name) {
                    p.names.push((id, bits | NAME_IS_USER));
                }
            }
            (AclEntryKind::Group, false) => {
                if let Some(id) = id_of(Ids::Groups, &e.name) {
                    p.names.push((id, bits));
                }
            }
            _ => {}
        }
    }
    p.names
        .sort_by_key(|&(id, bits)| (bits & NAME_IS_USER == 0, id));
    p
}

/// The entries `p` stands for, each with `flags`.
fn spread(p: &Packed, flags: Option<Flag>) -> Vec<AclEntry> {
    let perms = |bits: u32| Perm::from_bits_truncate(bits & 7);
    let mut out = Vec::new();
    if p.user != NO_ENTRY {
        out.push(AclEntry::allow_user("", perms(p.user), flags));
    }
    if p.group != NO_ENTRY {
        out.push(AclEntry::allow_group("", perms(p.group), flags));
    }
    if p.mask != NO_ENTRY {
        out.push(AclEntry::allow_mask(perms(p.mask), flags));
    }
    if p.other != NO_ENTRY {
        out.push(AclEntry::allow_other(perms(p.other), flags));
    }
    for &(id, bits) in &p.names {
        out.push(match bits & NAME_IS_USER != 0 {
            true => AclEntry::allow_user(&name_of(Ids::Users, id), perms(bits), flags),
            false => AclEntry::allow_group(&name_of(Ids::Groups, id), perms(bits), flags),
        });
    }
    out
}

/// rsync's packed bytes of `p`.
fn encode(p: &Packed) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 8 * p.names.len());
    for word in [p.user, p.group, p.mask, p.other] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for &(id, bits) in &p.names {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
    }
    out
}

/// What rsync's packed bytes say; `None` for a length rsync would not write.
fn decode(value: &[u8]) -> Option<Packed> {
    if value.len() < 16 || !(value.len() - 16).is_multiple_of(8) {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes(value[at..at + 4].try_into().unwrap_or_default());
    let names = (16..value.len())
        .step_by(8)
        .map(|at| (word(at), word(at + 4)))
        .collect();
    Some(Packed {
        user: word(0),
        group: word(4),
        mask: word(8),
        other: word(12),
        names,
    })
}

/// The id an ACL entry names: exacl gives a name, or the number where the id has none.
fn id_of(ids: Ids, name: &str) -> Option<u32> {
    name.parse().ok().or_else(|| idmap::id_of(ids, name))
}

/// The name exacl would give id `id`: its name here, else the number.
fn name_of(ids: Ids, id: u32) -> String {
    idmap::name_of(ids, id)
        .and_then(|n| String::from_utf8(n).ok())
        .unwrap_or_else(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_user_packs_as_rsync_does_and_reads_back() {
        let text = "allow::user::read,write\nallow::user:0:read,write,execute\n\
                    allow::group::read\nallow::mask::read,write,execute\nallow::other::read\n";
        let (access, default) = pack(Some(text), 0o100674);
        let access = access.expect("a named entry is kept");
        assert_eq!(default, None);
        // The owner and others are the mode's; the owning group (r--) is not the mode's
        // group bits (rwx); the mask; then uid 0 with rwx and the user bit.
        let words = [NO_ENTRY, 4, 7, NO_ENTRY, 0, 7 | NAME_IS_USER];
        let want: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(access, want);
        let back = unpack(Some(&access), None, 0o100674).unwrap();
        let again = pack(Some(&back), 0o100674);
        assert_eq!(again.0.as_deref(), Some(&access[..]));
    }

    #[test]
    fn a_plain_mode_keeps_nothing_and_a_default_acl_keeps_all_four() {
        assert_eq!(pack(None, 0o100644), (None, None));
        let text = "allow:default:user::read,write,execute\nallow:default:group::read\n\
                    allow:default:other::read\n";
        let (access, default) = pack(Some(text), 0o40755);
        assert_eq!(access, None);
        let default = default.unwrap();
        assert_eq!(default.len(), 16);
        assert_eq!(&default[8..12], &NO_ENTRY.to_le_bytes());
        let back = unpack(None, Some(&default), 0o40755).unwrap();
        assert!(back.contains("default:user::read,write,execute"), "{back}");
        assert_eq!(unpack(Some(b"short"), None, 0o644), None);
    }
}
