//! `-X`: which extended attributes travel and which a receiver may touch, as rsync decides
//! it on Linux, and the changes that make a destination's attributes the sender's.
//!
//! The sender lists every namespace but `system.` (ACLs live there, and `-A` owns them);
//! a receiver that is not root touches only `user.`, since the kernel lets no one else
//! set the others. rsync's own `user.rsync.%*` names travel with `-XX` only, and with
//! `--fake-super` the ones it keeps for itself (see [`crate::fake_super`]) never do.

use prtools_sync::Xattr;

use crate::fake_super;

/// Whether the sender lists attribute `name`: `all` is `-XX`.
pub fn sent(name: &[u8], all: bool, fake_super: bool) -> bool {
    let kept_back = name.starts_with(b"system.")
        || (fake_super && fake_super::is_own(name))
        || (!all && name.starts_with(b"user.rsync.%"));
    !kept_back
}

/// Whether a receiver compares, sets and removes attribute `name` on its side.
pub fn touched_here(name: &[u8], am_root: bool, fake_super: bool) -> bool {
    let namespace = match am_root {
        true => !name.starts_with(b"system."),
        false => name.starts_with(b"user."),
    };
    namespace && !(fake_super && fake_super::is_own(name))
}

/// What makes `have` into `want` (both sorted by name, both already limited to the names
/// this side touches): the attributes to set, and the names to remove.
pub fn changes<'a>(want: &'a [Xattr], have: &'a [Xattr]) -> (Vec<&'a Xattr>, Vec<&'a [u8]>) {
    let set = want.iter().filter(|w| !have.contains(w)).collect();
    let remove = have
        .iter()
        .filter(|(n, _)| !want.iter().any(|(w, _)| w == n))
        .map(|(n, _)| &n[..])
        .collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(n: &str, v: &str) -> Xattr {
        (n.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn namespaces_as_rsync_on_linux() {
        assert!(sent(b"user.foo", false, false));
        assert!(sent(b"trusted.foo", false, false));
        assert!(!sent(b"system.posix_acl_access", true, false));
        assert!(!sent(b"user.rsync.%stat", false, false));
        assert!(sent(b"user.rsync.%stat", true, false));
        assert!(!sent(b"user.rsync.%stat", true, true));
        assert!(sent(b"user.rsync.equal", false, true));
        assert!(!touched_here(b"trusted.foo", false, false));
        assert!(touched_here(b"trusted.foo", true, false));
        assert!(!touched_here(b"user.rsync.%stat", true, true));
    }

    #[test]
    fn changes_set_what_differs_and_remove_what_is_extra() {
        let want = [x("user.a", "1"), x("user.b", "2")];
        let have = [x("user.a", "1"), x("user.b", "old"), x("user.c", "3")];
        let (set, remove) = changes(&want, &have);
        assert_eq!(set, vec![&want[1]]);
        assert_eq!(remove, vec![&b"user.c"[..]]);
    }
}
