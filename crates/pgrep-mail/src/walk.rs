//! The files to search, in a stable order: each PATH as given, folders walked depth-first
//! with entries sorted by name (grep -r uses directory order, which differs between
//! machines; sorted output is the same everywhere).
//!
//! Symbolic links follow grep's rules: `-r` follows those named on the command line only,
//! `-R` (and pgrep-mail's default) follows all. A link back to a folder being walked is a
//! loop: reported once, as grep's warning, and not walked, so no file is searched twice.
//! `--include`, `--exclude` and `--exclude-dir` match names with the C library's `fnmatch`,
//! as grep's do.

use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use walkdir::{DirEntryExt, WalkDir};

use crate::cli::{DevAction, DirAction};
use crate::config::{Config, Input};

/// One thing to search, or one thing that could not be reached.
#[derive(Debug, Clone)]
pub enum Item {
    /// Standard input.
    Stdin,
    /// A file.
    File {
        /// Its path, as grep shows it (the PATH given, joined with the walked names).
        path: PathBuf,
        /// The top-level folder it belongs to (`--per-folder`), shared by its files.
        top: Arc<str>,
        /// Its inode number when the walk knows it without a `stat` (from the folder's
        /// entry, or the `stat` it made anyway): only a file with standard output's inode
        /// number need be `stat`ed to learn whether it is standard output's file.
        ino: Option<u64>,
    },
    /// A warning about a path that does not make the run fail (a link loop).
    Note {
        /// The path as shown.
        path: PathBuf,
        /// The warning.
        reason: String,
        /// The top-level folder it belongs to.
        top: Arc<str>,
    },
    /// A path that could not be read, with why.
    Error {
        /// The path as shown.
        path: PathBuf,
        /// Why, lowercase, with what to do.
        reason: String,
        /// The top-level folder it belongs to.
        top: Arc<str>,
    },
}

/// `--include`, `--exclude` and `--exclude-dir`.
#[derive(Debug, Default, Clone)]
pub struct Globs {
    /// Include (true) or exclude (false) globs, in the order given.
    files: Vec<(bool, std::ffi::CString)>,
    exclude_dir: Vec<std::ffi::CString>,
}

fn cstring(glob: &[u8]) -> Option<std::ffi::CString> {
    std::ffi::CString::new(glob).ok()
}

fn fnmatch(glob: &std::ffi::CStr, name: &[u8]) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and live across the call.
    unsafe { libc::fnmatch(glob.as_ptr(), name.as_ptr(), 0) == 0 }
}

impl Globs {
    /// The globs as given: `files` holds `--include` (true) and `--exclude` (false) in
    /// their order on the command line.
    pub fn new(files: &[(bool, std::ffi::OsString)], exclude_dir: &[std::ffi::OsString]) -> Globs {
        Globs {
            files: files
                .iter()
                .filter_map(|(inc, g)| cstring(g.as_bytes()).map(|c| (*inc, c)))
                .collect(),
            exclude_dir: exclude_dir
                .iter()
                .filter_map(|g| {
                    let b = g.as_bytes();
                    let trimmed = b.strip_suffix(b"/").filter(|t| !t.is_empty()).unwrap_or(b);
                    cstring(trimmed)
                })
                .collect(),
        }
    }

    /// Whether the file at `path` is left out: the last glob that matches its name (on the
    /// command line: or its whole path) decides; when none does, it is left out only if
    /// the first is an `--include`.
    fn skips_file(&self, path: &Path, command_line: bool) -> bool {
        if self.files.is_empty() {
            return false;
        }
        let base = path
            .file_name()
            .map_or(path.as_os_str().as_bytes(), |n| n.as_bytes());
        let whole = path.as_os_str().as_bytes();
        let hit = |g: &std::ffi::CStr| fnmatch(g, base) || (command_line && fnmatch(g, whole));
        match self.files.iter().rev().find(|(_, g)| hit(g)) {
            Some((include, _)) => !include,
            None => self.files[0].0,
        }
    }

    /// Whether the folder at `path` is left out (on the command line, its whole path is
    /// matched too).
    fn skips_dir(&self, path: &Path, command_line: bool) -> bool {
        if self.exclude_dir.is_empty() {
            return false;
        }
        let base = path
            .file_name()
            .map_or(path.as_os_str().as_bytes(), |n| n.as_bytes());
        let whole = path.as_os_str().as_bytes();
        self.exclude_dir
            .iter()
            .any(|g| fnmatch(g, base) || (command_line && fnmatch(g, whole)))
    }
}

/// Whether a file of this type is a device, FIFO or socket (`-D`).
fn is_device(ft: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    ft.is_block_device() || ft.is_char_device() || ft.is_fifo() || ft.is_socket()
}

/// What the walk hands each item to; it breaks to end the walk early.
pub type Visit<'a> = dyn FnMut(Item) -> ControlFlow<()> + 'a;

/// Lists every file under the inputs.
pub fn items(cfg: &Config) -> Vec<Item> {
    let mut out = Vec::new();
    let _ = each_item(cfg, &mut |item| {
        out.push(item);
        ControlFlow::Continue(())
    });
    out
}

/// Calls `out` with every file under the inputs, in order, as the walk finds them (so that
/// searching can start before the walk ends), until `out` breaks.
pub fn each_item(cfg: &Config, out: &mut Visit) -> ControlFlow<()> {
    for input in &cfg.inputs {
        match input {
            Input::Stdin => out(Item::Stdin)?,
            Input::Path(root) => walk_root(cfg, root, out)?,
        }
    }
    ControlFlow::Continue(())
}

fn walk_root(cfg: &Config, root: &Path, out: &mut Visit) -> ControlFlow<()> {
    let root_name: Arc<str> = match root.file_name() {
        Some(n) => n.to_string_lossy().into(),
        None => root.display().to_string().into(),
    };
    let grep = crate::grep_words();
    match std::fs::metadata(root) {
        Err(e) => out(Item::Error {
            path: root.to_path_buf(),
            reason: if grep {
                crate::strerror(&e)
            } else {
                match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        if std::fs::symlink_metadata(root).is_ok() {
                            "dangling symbolic link; fix its target or remove it".to_string()
                        } else {
                            "no such file or directory; check the path".to_string()
                        }
                    }
                    _ => crate::io_reason(&e),
                }
            },
            top: root_name,
        }),
        Ok(meta) if !meta.is_dir() => {
            if cfg.globs.skips_file(root, true)
                || (cfg.devices == DevAction::Skip && is_device(meta.file_type()))
            {
                return ControlFlow::Continue(());
            }
            out(Item::File {
                path: root.to_path_buf(),
                top: root_name,
                ino: Some(meta.ino()),
            })
        }
        Ok(_) => match cfg.directories {
            DirAction::Skip => ControlFlow::Continue(()),
            DirAction::Read => out(Item::Error {
                path: root.to_path_buf(),
                reason: if grep {
                    "Is a directory".to_string()
                } else {
                    "is a directory; add -r to search the files below it".to_string()
                },
                top: root_name,
            }),
            DirAction::Recurse => {
                if cfg.globs.skips_dir(root, true) && root != Path::new(".") {
                    return ControlFlow::Continue(());
                }
                walk_dir(cfg, root, root, &root_name, false, out)
            }
        },
    }
}

/// The top-level folder of the files met, remembered so that the files of one folder share
/// one name rather than each holding a copy (`--per-folder` reads it), and so that finding
/// it costs a comparison of bytes rather than a parse of the path for each of them.
#[derive(Default)]
struct Tops {
    /// `ROOT/TOP/`, the start of the paths of the files below `top`.
    prefix: Vec<u8>,
    top: Option<Arc<str>>,
}

impl Tops {
    /// The top-level folder of `path` below `root`, or `root_name` for `root` itself.
    fn of(&mut self, root: &Path, path: &Path, root_name: &Arc<str>) -> Arc<str> {
        if let Some(top) = &self.top {
            if path.as_os_str().as_bytes().starts_with(&self.prefix) {
                return top.clone();
            }
        }
        let Some(name) = top_of(root, path) else {
            return root_name.clone();
        };
        let top: Arc<str> = name.to_string_lossy().into();
        // The walk joins names to `root`, so every path below the folder starts so.
        self.prefix.clear();
        let root = root.as_os_str().as_bytes();
        self.prefix
            .extend_from_slice(root.strip_suffix(b"/").unwrap_or(root));
        self.prefix.push(b'/');
        self.prefix.extend_from_slice(name.as_bytes());
        self.prefix.push(b'/');
        self.top = Some(top.clone());
        top
    }
}

/// Walks the folder `dir` below `root`. Links are not followed by the walk itself, which
/// spares a `stat` per file (readdir says what each entry is); a link found is skipped
/// (`-r`) or resolved here, and a linked folder is walked in turn unless it is one of the
/// folders it sits in (a loop). `linked` says whether `dir` was reached through a link.
fn walk_dir(
    cfg: &Config,
    root: &Path,
    dir: &Path,
    root_name: &Arc<str>,
    linked: bool,
    out: &mut Visit,
) -> ControlFlow<()> {
    let skip_tmp = cfg.message_mode;
    let mut tops = Tops::default();
    let walker = WalkDir::new(dir)
        .follow_links(linked)
        // By name: the entries of one folder are its path joined with each name, so their
        // paths, compared as bytes, sort as their names do. Comparing the paths spares
        // `sort_by_file_name`'s parsing of both paths at every comparison, which costs as
        // much as the rest of the walk in a Maildir of thousands of messages.
        .sort_by(|a, b| {
            a.path()
                .as_os_str()
                .as_bytes()
                .cmp(b.path().as_os_str().as_bytes())
        })
        .into_iter()
        .filter_entry(|e| {
            let dir = e.file_type().is_dir();
            let excluded = e.depth() > 0 && cfg.globs.skips_dir(e.path(), false);
            let delivery = skip_tmp && crate::maildir::is_delivery_folder(e.path());
            !(dir && (excluded || delivery))
        });
    let grep = crate::grep_words();
    for entry in walker {
        // Only `--per-folder` reads the top-level folder.
        let mut top = |p: &Path| match cfg.per_folder {
            Some(_) => tops.of(root, p, root_name),
            None => root_name.clone(),
        };
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) if e.path_is_symlink() && !cfg.follow_all && e.depth() > 0 => {}
            Ok(e) if e.path_is_symlink() && !linked && e.depth() > 0 => {
                match std::fs::metadata(e.path()) {
                    Ok(m) if m.is_dir() => {
                        if cfg.globs.skips_dir(e.path(), false) {
                            continue;
                        }
                        if is_ancestor(e.path(), &m) {
                            out(Item::Note {
                                top: top(e.path()),
                                reason: loop_warning(grep),
                                path: e.into_path(),
                            })?;
                            continue;
                        }
                        walk_dir(cfg, root, e.path(), root_name, true, out)?
                    }
                    Ok(m) => {
                        if cfg.globs.skips_file(e.path(), false)
                            || (cfg.devices == DevAction::Skip && is_device(m.file_type()))
                        {
                            continue;
                        }
                        out(Item::File {
                            top: top(e.path()),
                            path: e.into_path(),
                            ino: Some(m.ino()),
                        })?
                    }
                    Err(err) => {
                        let path = e.into_path();
                        out(Item::Error {
                            top: top(&path),
                            reason: if grep {
                                crate::strerror(&err)
                            } else {
                                dangling(&path)
                            },
                            path,
                        })?;
                    }
                }
            }
            Ok(e) => {
                if cfg.globs.skips_file(e.path(), false) {
                    continue;
                }
                // Devices are read, as grep -r reads them, only when asked (`-D read`
                // given as such is grep's default; a walk meets few of them).
                if is_device(e.file_type()) && cfg.devices == DevAction::Skip {
                    continue;
                }
                // A folder's entry holds the inode number of what it names, which for a
                // link the walk follows is the link's, not its target's.
                let ino = (!linked && !e.path_is_symlink()).then(|| e.ino());
                out(Item::File {
                    top: top(e.path()),
                    path: e.into_path(),
                    ino,
                })?
            }
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.to_path_buf());
                if e.loop_ancestor().is_some() {
                    out(Item::Note {
                        top: top(&path),
                        path,
                        reason: loop_warning(grep),
                    })?;
                    continue;
                }
                let reason = if std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.file_type().is_symlink())
                    && std::fs::metadata(&path).is_err()
                {
                    if grep {
                        "No such file or directory".to_string()
                    } else {
                        dangling(&path)
                    }
                } else if grep {
                    e.io_error()
                        .map(crate::strerror)
                        .unwrap_or_else(|| "cannot be read".to_string())
                } else {
                    e.io_error()
                        .map(crate::io_reason)
                        .unwrap_or_else(|| "cannot be read".to_string())
                };
                out(Item::Error {
                    top: top(&path),
                    path,
                    reason,
                })?;
            }
        }
    }
    ControlFlow::Continue(())
}

fn loop_warning(grep: bool) -> String {
    if grep {
        "warning: recursive directory loop".to_string()
    } else {
        "symbolic link loop; not followed".to_string()
    }
}

/// Whether the folder a link at `link` leads to (`meta`) is one the link sits in: walking
/// it would search those files again.
fn is_ancestor(link: &Path, meta: &std::fs::Metadata) -> bool {
    let key = (meta.dev(), meta.ino());
    let mut at = link.parent();
    while let Some(dir) = at {
        let dir_path = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(m) = std::fs::metadata(dir_path) {
            if (m.dev(), m.ino()) == key {
                return true;
            }
        }
        if dir.as_os_str().is_empty() {
            break;
        }
        at = dir.parent();
    }
    // Above the path as given: the working folder's own ancestors.
    if link.is_relative() {
        if let Ok(cwd) = std::env::current_dir() {
            let mut at = Some(cwd.as_path());
            while let Some(dir) = at {
                if let Ok(m) = std::fs::metadata(dir) {
                    if (m.dev(), m.ino()) == key {
                        return true;
                    }
                }
                at = dir.parent();
            }
        }
    }
    false
}

fn dangling(path: &Path) -> String {
    match std::fs::read_link(path) {
        Ok(t) => format!(
            "dangling symbolic link to '{}'; fix its target or remove it",
            t.display()
        ),
        Err(_) => "dangling symbolic link; fix its target or remove it".to_string(),
    }
}

/// The first name of `path` below `root`.
fn top_of<'p>(root: &Path, path: &'p Path) -> Option<&'p std::ffi::OsStr> {
    match path.strip_prefix(root).ok()?.components().next()? {
        Component::Normal(name) => Some(name),
        _ => None,
    }
}
