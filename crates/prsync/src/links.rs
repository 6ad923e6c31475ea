//! rsync's "unsafe" symlinks (`--safe-links`, `--copy-unsafe-links`): a link is unsafe when
//! its target is absolute, empty, or climbs with `..` above the top of the transfer from
//! where the link sits, even if it comes back down later. As in rsync 3.5.0, a `..` anywhere
//! but in the leading run of them (`a/../../x`, `d/..`) is unsafe outright: counting depth
//! through such a target trusts that `a` is a folder, which the receiver cannot know.

/// Whether the link named `name` (its path within the transfer) pointing at `target` is
/// unsafe.
pub fn is_unsafe(name: &[u8], target: &[u8]) -> bool {
    if target.is_empty() || target.starts_with(b"/") {
        return true;
    }
    let parts: Vec<&[u8]> = target
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let leading = parts.iter().take_while(|c| **c == b"..").count();
    if parts[leading..].iter().any(|c| *c == b"..") {
        return true;
    }
    // The folders above the link, within the transfer.
    let mut depth: i64 = name
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .count() as i64
        - 1;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_unsafe;

    #[test]
    fn tells_unsafe_links_as_rsync_does() {
        assert!(is_unsafe(b"abs", b"/etc/hostname"));
        assert!(is_unsafe(b"x", b""));
        assert!(is_unsafe(b"d/up", b"../../x"));
        assert!(is_unsafe(b"d/climb", b"../../top/d/f"));
        assert!(!is_unsafe(b"d/upok", b"../real/g"));
        assert!(!is_unsafe(b"d/ok", b"f"));
        assert!(!is_unsafe(b"./d/ok", b"./f"));
        assert!(is_unsafe(b"top", b"../x"));
        assert!(is_unsafe(b"d/e/back", b"a/a/a/../../../f"));
        assert!(is_unsafe(b"d/e/up", b"a/.."));
        assert!(!is_unsafe(b"d/e/up2", b"..//../f"));
    }
}
