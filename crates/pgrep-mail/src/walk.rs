//! The files to search, in a stable order: each PATH as given, folders walked depth-first
//! with entries sorted by name (grep -r uses directory order, which differs between
//! machines; sorted output is the same everywhere). Symbolic links are followed, so `-r`
//! and `-R` are the same; walkdir detects link loops.

use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use walkdir::WalkDir;

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
    match std::fs::metadata(root) {
        Err(e) => out(Item::Error {
            path: root.to_path_buf(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => {
                    if std::fs::symlink_metadata(root).is_ok() {
                        "dangling symbolic link; fix its target or remove it".to_string()
                    } else {
                        "no such file or directory; check the path".to_string()
                    }
                }
                _ => crate::io_reason(&e),
            },
            top: root_name,
        }),
        Ok(meta) if !meta.is_dir() => out(Item::File {
            path: root.to_path_buf(),
            top: root_name,
        }),
        Ok(_) => walk_dir(cfg, root, root, &root_name, false, out),
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
/// spares a `stat` per file (readdir says what each entry is); a link found is resolved
/// here, and a linked folder is walked with links followed, so that walkdir catches loops.
fn walk_dir(
    cfg: &Config,
    root: &Path,
    dir: &Path,
    root_name: &Arc<str>,
    follow: bool,
    out: &mut Visit,
) -> ControlFlow<()> {
    let skip_tmp = cfg.message_mode;
    let mut tops = Tops::default();
    let walker = WalkDir::new(dir)
        .follow_links(follow)
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
            !(skip_tmp && e.file_type().is_dir() && crate::maildir::is_delivery_folder(e.path()))
        });
    for entry in walker {
        let mut top = |p: &Path| tops.of(root, p, root_name);
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) if e.path_is_symlink() && !follow => match std::fs::metadata(e.path()) {
                Ok(m) if m.is_dir() => walk_dir(cfg, root, e.path(), root_name, true, out)?,
                Ok(_) => out(Item::File {
                    top: top(e.path()),
                    path: e.into_path(),
                })?,
                Err(_) => {
                    let path = e.into_path();
                    out(Item::Error {
                        top: top(&path),
                        reason: dangling(&path),
                        path,
                    })?;
                }
            },
            Ok(e) => out(Item::File {
                top: top(e.path()),
                path: e.into_path(),
            })?,
            Err(e) => {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| dir.to_path_buf());
                let reason = if e.loop_ancestor().is_some() {
                    "symbolic link loop; not followed".to_string()
                } else if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
                    && std::fs::metadata(&path).is_err()
                {
                    dangling(&path)
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
