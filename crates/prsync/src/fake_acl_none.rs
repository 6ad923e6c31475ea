//! `--fake-super -A` in a build without ACLs (see `fake_acl.rs`): there is no ACL text to
//! keep, so no attribute is kept or read.

/// The attribute that holds the access ACL.
pub const ACCESS_NAME: &[u8] = b"user.rsync.%aacl";
/// The attribute that holds a folder's default ACL.
pub const DEFAULT_NAME: &[u8] = b"user.rsync.%dacl";

/// Nothing to keep: this build reads no ACLs.
pub fn pack(_text: Option<&str>, _mode: u32) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    (None, None)
}

/// Nothing to read: this build sets no ACLs.
pub fn unpack(_access: Option<&[u8]>, _default: Option<&[u8]>, _mode: u32) -> Option<String> {
    None
}
