//! I/O errors that name the path they happened on.
//!
//! Every filesystem call of this crate returns a plain [`io::Error`], so that callers keep
//! using `?` and `ErrorKind`; inside it sits a [`PathIoError`] that holds the path and the
//! original error. Its message reads `/tmp/stage/big: No space left on device (os error 28)`,
//! which a caller prefixes with the host name, and [`raw_os_error`] still finds the errno
//! (`io::Error::new` alone would hide it) so that a caller can treat ENOSPC or EDQUOT apart.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// An I/O error on a path: what failed, where, and the OS's reason.
#[derive(Debug)]
pub struct PathIoError {
    path: PathBuf,
    detail: Option<&'static str>,
    source: io::Error,
}

impl PathIoError {
    /// The path the operation was about, as the user would write it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying error, with its errno.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for PathIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail {
            Some(detail) => write!(f, "{}: {detail}", self.path.display()),
            None => write!(f, "{}: {}", self.path.display(), self.source),
        }
    }
}

impl Error for PathIoError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// The errno behind `err`, looking through the path context this crate adds.
///
/// ```
/// use std::io;
/// use prtools_sync::{raw_os_error, Root};
///
/// let err = Root::open("/nonexistent/prtools-doc".as_ref()).unwrap_err();
/// assert_eq!(err.raw_os_error(), None); // hidden by the context...
/// assert_eq!(raw_os_error(&err), Some(2)); // ...but still there
/// assert_eq!(err.kind(), io::ErrorKind::NotFound);
/// assert_eq!(err.to_string(), "/nonexistent/prtools-doc: No such file or directory (os error 2)");
/// ```
pub fn raw_os_error(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<PathIoError>())
            .and_then(|e| e.source.raw_os_error())
    })
}

/// Wraps `err` with `path`, keeping its kind; an error that already names a path is kept as
/// it is, so that the innermost (most precise) path wins.
pub(crate) fn at(path: impl Into<PathBuf>, err: io::Error) -> io::Error {
    if err.get_ref().is_some_and(|inner| inner.is::<PathIoError>()) {
        return err;
    }
    let kind = err.kind();
    io::Error::new(
        kind,
        PathIoError {
            path: path.into(),
            detail: None,
            source: err,
        },
    )
}

/// Like [`at`], with a message of our own instead of the OS's terse one (the errno is kept).
pub(crate) fn explained(
    path: impl Into<PathBuf>,
    err: io::Error,
    detail: &'static str,
) -> io::Error {
    let kind = err.kind();
    io::Error::new(
        kind,
        PathIoError {
            path: path.into(),
            detail: Some(detail),
            source: err,
        },
    )
}

/// Converts a rustix errno into an `io::Error` on `path`.
pub(crate) fn errno_at(path: impl Into<PathBuf>, errno: rustix::io::Errno) -> io::Error {
    at(path, io::Error::from(errno))
}
