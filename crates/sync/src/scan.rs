//! The sender's side: turning a source operand into a file list.

use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::{Entry, Kind, Mtime, RelPath, PERMISSION_BITS};

/// How to scan one source operand; [`scan`] and [`scan_as`] cover the usual cases.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Descend into a directory operand (`-r`); without it a directory is an error, as in cp.
    pub recursive: bool,
    /// Follow the operand itself when it is a symlink (cp's `-H`): copy what it points to,
    /// under the link's name. Links below the operand are never followed.
    pub follow_top: bool,
    /// Follow every symlink, the operand's and those below it, as pdcp and scp do: a link is
    /// stored as what it points to, under the link's name, and a link to a directory is
    /// descended. A dangling link is an error (there is nothing to copy), and so is a loop,
    /// which would otherwise never end.
    pub follow_links: bool,
    /// Store the operand under this name instead of its own base name (copying `SRC` to a
    /// `DEST` that is not an existing directory).
    pub name: Option<RelPath>,
}

/// What a scan found.
#[derive(Clone, Debug, Default)]
pub struct Scanned {
    /// The entries, parents before children, by name within a directory.
    pub entries: Vec<Entry>,
    /// Fifos, sockets and device nodes below the operand, which were left out: callers may
    /// say "skipping non-regular file" as rsync does.
    pub skipped: Vec<PathBuf>,
}

/// Scans one source operand as cp and pdcp do.
///
/// A file gives one entry named by its file name. A directory needs `recursive` and gives the
/// directory itself (named by its base name) and everything below it, parents before children,
/// sorted by name within a directory, so that a receiver can make each entry as it arrives.
/// Symlinks are entries of their own and are never followed, the operand included (see
/// [`ScanOptions::follow_top`] for cp's `-H`, [`ScanOptions::follow_links`] for pdcp's and
/// scp's way); a trailing `/` on an operand does follow it, as
/// the kernel does for any path. Fifos, sockets and devices below the operand are left out;
/// use [`scan_with`] to learn which.
///
/// An operand without a name of its own (`.`, `..`, `dir/..`) is named by the folder it
/// resolves to; only `/` has none and needs [`scan_as`].
pub fn scan(src: &Path, recursive: bool) -> Result<Vec<Entry>, ScanError> {
    let opts = ScanOptions {
        recursive,
        ..ScanOptions::default()
    };
    scan_with(src, &opts).map(|s| s.entries)
}

/// Like [`scan`], but the operand is stored as `name`: the top entry is `name` and everything
/// below it is under `name/`.
pub fn scan_as(src: &Path, recursive: bool, name: RelPath) -> Result<Vec<Entry>, ScanError> {
    let opts = ScanOptions {
        recursive,
        name: Some(name),
        ..ScanOptions::default()
    };
    scan_with(src, &opts).map(|s| s.entries)
}

/// [`scan`] with every option, also reporting what was skipped.
pub fn scan_with(src: &Path, opts: &ScanOptions) -> Result<Scanned, ScanError> {
    let cannot_read = |source| ScanError::Read {
        path: src.to_path_buf(),
        source,
    };
    let mut meta = fs::symlink_metadata(src).map_err(cannot_read)?;
    if meta.file_type().is_symlink() && (opts.follow_top || opts.follow_links) {
        meta = fs::metadata(src).map_err(cannot_read)?;
    }
    if meta.is_dir() && !opts.recursive {
        return Err(ScanError::IsDirectory { path: src.into() });
    }
    let name = match &opts.name {
        Some(name) => name.clone(),
        None => base_name(src)?,
    };
    let mut scanned = Scanned::default();
    let top = match entry_for(src, &meta, name.clone())? {
        Some(top) => top,
        None => return Err(ScanError::Special { path: src.into() }),
    };
    let is_dir = top.kind == Kind::Dir;
    scanned.entries.push(top);
    if is_dir {
        walk_below(src, &name, opts.follow_links, &mut scanned)?;
    }
    Ok(scanned)
}

/// Adds everything below the directory `src` (stored as `name`) to `scanned`.
fn walk_below(
    src: &Path,
    name: &RelPath,
    follow: bool,
    scanned: &mut Scanned,
) -> Result<(), ScanError> {
    // The top was already found to be a directory (perhaps through a link the caller chose to
    // follow), so walkdir may open it as one; below it, links stay links unless `follow`.
    // walkdir remembers the directories above each one it enters, so a link back up the tree
    // ends the walk with a loop error instead of running for ever.
    let walk = WalkDir::new(src)
        .min_depth(1)
        .follow_links(follow)
        .follow_root_links(true)
        .sort_by_file_name();
    for item in walk {
        let item = item.map_err(|e| walk_error(src, e))?;
        let below = item.path().strip_prefix(src).unwrap_or(item.path());
        // Names read from a directory hold no '/', NUL, '.' or '..', so this cannot fail for a
        // real tree; a failure would be a bug worth a clear message, not a panic.
        let path = name
            .join(below.as_os_str().as_bytes())
            .map_err(|e| ScanError::Name {
                path: item.path().into(),
                error: e,
            })?;
        let meta = item.metadata().map_err(|e| walk_error(src, e))?;
        match entry_for(item.path(), &meta, path)? {
            Some(entry) => scanned.entries.push(entry),
            None => scanned.skipped.push(item.into_path()),
        }
    }
    Ok(())
}

/// The entry for `path` with metadata `meta` (not followed), or `None` for a special file.
fn entry_for(path: &Path, meta: &Metadata, name: RelPath) -> Result<Option<Entry>, ScanError> {
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        Kind::File { size: meta.len() }
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|source| ScanError::Read {
            path: path.into(),
            source,
        })?;
        Kind::Symlink {
            target: target.into_os_string().into_vec(),
        }
    } else {
        return Ok(None);
    };
    Ok(Some(Entry {
        path: name,
        kind,
        mode: meta.mode() & PERMISSION_BITS,
        mtime: Mtime::of(meta),
    }))
}

/// The name an operand is stored under: its last component, or for `.` and `..` (which
/// have none) the last component of the folder they resolve to.
fn base_name(src: &Path) -> Result<RelPath, ScanError> {
    let resolved;
    let name = match src.file_name() {
        Some(name) => name,
        None => {
            resolved = fs::canonicalize(src).map_err(|source| ScanError::Read {
                path: src.into(),
                source,
            })?;
            resolved
                .file_name()
                .ok_or_else(|| ScanError::NoName { path: src.into() })?
        }
    };
    RelPath::new(name.as_bytes()).map_err(|error| ScanError::Name {
        path: src.into(),
        error,
    })
}

fn walk_error(src: &Path, err: walkdir::Error) -> ScanError {
    let path = err.path().unwrap_or(src).to_path_buf();
    if let Some(ancestor) = err.loop_ancestor() {
        return ScanError::Loop {
            path,
            ancestor: ancestor.to_path_buf(),
        };
    }
    let source = err
        .into_io_error()
        .unwrap_or_else(|| io::Error::other("filesystem loop"));
    ScanError::Read { path, source }
}

/// Why a source operand could not be scanned; each message names the path.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScanError {
    /// A directory given without `-r`.
    IsDirectory {
        /// The operand as given.
        path: PathBuf,
    },
    /// The operand or something below it could not be read (missing, no permission, I/O).
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The OS's reason.
        source: io::Error,
    },
    /// The operand is a fifo, socket or device node, which prtools does not copy.
    Special {
        /// The operand as given.
        path: PathBuf,
    },
    /// Following symlinks led back into a directory above: the tree would never end.
    Loop {
        /// The link that leads back.
        path: PathBuf,
        /// The directory it leads back to.
        ancestor: PathBuf,
    },
    /// The operand has no name to store it under (`/`).
    NoName {
        /// The operand as given.
        path: PathBuf,
    },
    /// A name that is not a safe relative path (should not happen for names read from disk).
    Name {
        /// The path whose name was refused.
        path: PathBuf,
        /// What was wrong with it.
        error: crate::PathError,
    },
}

impl ScanError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScanError::IsDirectory { path }
            | ScanError::Read { path, .. }
            | ScanError::Special { path }
            | ScanError::NoName { path }
            | ScanError::Loop { path, .. }
            | ScanError::Name { path, .. } => path,
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::IsDirectory { path } => {
                write!(f, "'{}' is a directory; add -r to copy it", path.display())
            }
            ScanError::Read { path, source } => {
                write!(f, "cannot read '{}': {source}", path.display())
            }
            ScanError::Special { path } => write!(
                f,
                "'{}' is not a regular file, directory or symlink; only those are copied",
                path.display()
            ),
            ScanError::NoName { path } => write!(
                f,
                "'{}' has no name to copy it under; copy what is inside it, or name a \
                 destination that does not exist yet",
                path.display()
            ),
            ScanError::Name { path, error } => write!(f, "'{}': {error}", path.display()),
            ScanError::Loop { path, ancestor } => write!(
                f,
                "'{}' is a symlink loop: it leads back to '{}'",
                path.display(),
                ancestor.display()
            ),
        }
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScanError::Read { source, .. } => Some(source),
            ScanError::Name { error, .. } => Some(error),
            _ => None,
        }
    }
}
