//! A build without the `acl` feature (no libacl to link, as `cargo xtask` builds itself
//! before it installs what the rest needs): the same calls as `acl.rs`, where a file has
//! no ACL beyond its mode and setting one is refused.

use std::io;
use std::path::Path;

use super::Root;
use crate::RelPath;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this build has no ACL support (built without the `acl` feature); rebuild with it",
    )
}

/// No ACL is read: the mode says it all.
pub fn read_acl(_path: &Path) -> io::Result<Option<String>> {
    Ok(None)
}

/// ACL text cannot be read without libacl.
pub fn canonical_acl(_text: &str) -> io::Result<String> {
    Err(unsupported())
}

impl Root {
    /// No ACL is read: the mode says it all.
    pub fn acl(&self, _rel: Option<&RelPath>) -> io::Result<Option<String>> {
        Ok(None)
    }

    /// Only the mode can be given; an ACL is refused.
    pub fn set_acl(
        &self,
        _rel: Option<&RelPath>,
        text: Option<&str>,
        _mode: u32,
    ) -> io::Result<()> {
        match text {
            None => Ok(()),
            Some(_) => Err(unsupported()),
        }
    }

    /// No default ACL is seen: the umask applies.
    pub fn default_acl_perms(&self, _rel: Option<&RelPath>) -> io::Result<Option<u32>> {
        Ok(None)
    }
}
