//! The files to search, in a stable order: each PATH as given, folders walked depth-first
//! with entries sorted by name (grep -r uses directory order, which differs between
//! machines; sorted output is the same everywhere). Symbolic links are followed, so `-r`
//! and `-R` are the same; walkdir detects link loops.

use std::path::{Component, Path, PathBuf};

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
        /// The top-level folder it belongs to (`--per-folder`).
        top: String,
    },
    /// A path that could not be read, with why.
    Error {
        /// The path as shown.
        path: PathBuf,
        /// Why, lowercase, with what to do.
        reason: String,
        /// The top-level folder it belongs to.
        top: String,
    },
}

/// Lists every file under the inputs.
pub fn items(cfg: &Config) -> Vec<Item> {
    let mut out = Vec::new();
    each_item(cfg, &mut |item| out.push(item));
    out
}

/// Calls `out` with every file under the inputs, in order, as the walk finds them (so that
/// searching can start before the walk ends).
pub fn each_item(cfg: &Config, out: &mut dyn FnMut(Item)) {
    for input in &cfg.inputs {
        match input {
            Input::Stdin => out(Item::Stdin),
            Input::Path(root) => walk_root(cfg, root, out),
        }
    }
}

fn walk_root(cfg: &Config, root: &Path, out: &mut dyn FnMut(Item)) {
    let root_name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| root.display().to_string());
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

/// Walks the folder `dir` below `root`. Links are not followed by the walk itself, which
/// spares a `stat` per file (readdir says what each entry is); a link found is resolved
/// here, and a linked folder is walked with links followed, so that walkdir catches loops.
fn walk_dir(
    cfg: &Config,
    root: &Path,
    dir: &Path,
    root_name: &str,
    follow: bool,
    out: &mut dyn FnMut(Item),
) {
    let skip_tmp = cfg.message_mode;
    let walker = WalkDir::new(dir)
        .follow_links(follow)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(skip_tmp && e.file_type().is_dir() && crate::maildir::is_delivery_folder(e.path()))
        });
    for entry in walker {
        let top = |p: &Path| top_of(root, p).unwrap_or_else(|| root_name.to_string());
        match entry {
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) if e.path_is_symlink() && !follow => match std::fs::metadata(e.path()) {
                Ok(m) if m.is_dir() => walk_dir(cfg, root, e.path(), root_name, true, out),
                Ok(_) => out(Item::File {
                    top: top(e.path()),
                    path: e.into_path(),
                }),
                Err(_) => {
                    let path = e.into_path();
                    out(Item::Error {
                        top: top(&path),
                        reason: dangling(&path),
                        path,
                    });
                }
            },
            Ok(e) => out(Item::File {
                top: top(e.path()),
                path: e.into_path(),
            }),
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
                });
            }
        }
    }
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
fn top_of(root: &Path, path: &Path) -> Option<String> {
    match path.strip_prefix(root).ok()?.components().next()? {
        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    }
}
