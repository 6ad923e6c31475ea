//! Checked paths relative to a transfer root.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path relative to a transfer root, checked: not empty, not absolute, no `..`, no `.`, no
/// empty components, no NUL.
///
/// Every name a peer sends goes through [`RelPath::new`] before it touches the disk, so a
/// broken or hostile sender cannot name anything outside the destination by spelling alone
/// (symlinks inside the destination are the [`Root`](crate::Root)'s job). The bytes are kept
/// as they are: Unix names need not be UTF-8, and a copy must keep them byte for byte.
///
/// ```
/// use prtools_sync::RelPath;
///
/// let p = RelPath::new("etc/hosts")?;
/// assert_eq!(p.file_name(), b"hosts");
/// assert_eq!(p.parent(), Some(RelPath::new("etc")?));
///
/// let err = RelPath::new("../../etc/x").unwrap_err();
/// assert_eq!(err.to_string(), "unsafe path '../../etc/x': '..' is not allowed");
/// # Ok::<(), prtools_sync::PathError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// Checks `bytes` and keeps them as a relative path.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<RelPath, PathError> {
        let bytes = bytes.into();
        match check(&bytes) {
            None => Ok(RelPath(bytes)),
            Some(kind) => Err(PathError { path: bytes, kind }),
        }
    }

    /// The raw bytes, `/`-separated, as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The same bytes as a [`Path`], for joining onto a local folder or for display.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// `self/name`, where `name` is itself checked as a relative path (it may hold several
    /// components, but never `..` or a leading `/`).
    pub fn join(&self, name: &[u8]) -> Result<RelPath, PathError> {
        let tail = RelPath::new(name)?;
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + tail.0.len());
        bytes.extend_from_slice(&self.0);
        bytes.push(b'/');
        bytes.extend_from_slice(&tail.0);
        Ok(RelPath(bytes))
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// Everything before the last component; `None` for a single component, whose parent is
    /// the root itself.
    pub fn parent(&self) -> Option<RelPath> {
        let i = self.0.iter().rposition(|&b| b == b'/')?;
        Some(RelPath(self.0[..i].to_vec()))
    }

    /// The components in order; each is a non-empty name without `/`.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/')
    }
}

/// Shows the path as text, with bytes that are not UTF-8 replaced, for messages.
impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_path().display())
    }
}

/// Returns why `bytes` is not a safe relative path, or `None` if it is.
fn check(bytes: &[u8]) -> Option<PathErrorKind> {
    if bytes.is_empty() {
        return Some(PathErrorKind::Empty);
    }
    if bytes.contains(&0) {
        return Some(PathErrorKind::Nul);
    }
    if bytes[0] == b'/' {
        return Some(PathErrorKind::Absolute);
    }
    for component in bytes.split(|&b| b == b'/') {
        match component {
            b"" => return Some(PathErrorKind::EmptyComponent),
            b"." => return Some(PathErrorKind::Dot),
            b".." => return Some(PathErrorKind::DotDot),
            _ => {}
        }
    }
    None
}

/// A path that [`RelPath::new`] refused; it keeps the input so that the message can show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    path: Vec<u8>,
    kind: PathErrorKind,
}

impl PathError {
    /// The refused bytes.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// Why they were refused.
    pub fn kind(&self) -> PathErrorKind {
        self.kind
    }
}

/// Why a path is not a safe relative path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathErrorKind {
    /// No bytes at all: it would name the root itself.
    Empty,
    /// Starts with `/`: it would ignore the destination.
    Absolute,
    /// Holds a `..` component: it could climb out of the destination.
    DotDot,
    /// Holds a `.` component: harmless on its own, but two spellings of one path would let a
    /// peer name one file twice in a list, so only the plain spelling is taken.
    Dot,
    /// Holds `//` or ends with `/`.
    EmptyComponent,
    /// Holds a NUL byte, which no Unix name can hold.
    Nul,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = String::from_utf8_lossy(&self.path);
        let reason = match self.kind {
            PathErrorKind::Empty => "an empty path names nothing",
            PathErrorKind::Absolute => {
                "absolute paths are not allowed; name it relative to the destination"
            }
            PathErrorKind::DotDot => "'..' is not allowed",
            PathErrorKind::Dot => "'.' is not allowed",
            PathErrorKind::EmptyComponent => {
                "empty components ('//' or a trailing '/') are not allowed"
            }
            PathErrorKind::Nul => "a NUL byte is not allowed",
        };
        write!(f, "unsafe path '{}': {reason}", shown.escape_debug())
    }
}

impl std::error::Error for PathError {}

/// The components of `path` that a walk by hand moves through (not empty, not `.`), the first
/// one last: the walk pops the next one, and pushes a symlink's target in its place.
pub fn walk_parts(path: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .map(<[u8]>::to_vec)
        .collect();
    parts.reverse();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_and_parent() {
        let p = RelPath::new("a/b/c").unwrap();
        assert_eq!(p.file_name(), b"c");
        assert_eq!(p.parent().unwrap().as_bytes(), b"a/b");
        assert_eq!(p.parent().unwrap().parent().unwrap().as_bytes(), b"a");
        assert_eq!(RelPath::new("a").unwrap().parent(), None);
        assert_eq!(RelPath::new("a").unwrap().file_name(), b"a");
    }

    #[test]
    fn join_checks_the_tail() {
        let p = RelPath::new("a").unwrap();
        assert_eq!(p.join(b"b/c").unwrap().as_bytes(), b"a/b/c");
        assert_eq!(p.join(b"..").unwrap_err().kind(), PathErrorKind::DotDot);
        assert_eq!(p.join(b"/x").unwrap_err().kind(), PathErrorKind::Absolute);
    }

    #[test]
    fn components() {
        let p = RelPath::new("x/y z/w").unwrap();
        let got: Vec<&[u8]> = p.components().collect();
        assert_eq!(got, [&b"x"[..], b"y z", b"w"]);
    }
}
