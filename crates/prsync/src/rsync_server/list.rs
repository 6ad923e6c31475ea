//! The sending server's file list: the paths the client named, as rsync lists them.
//!
//! `SRC/` lists as `.` and what is in it, `SRC` as its last component. Every kind of
//! entry is listed, whatever the options: the receiver skips what it does not keep
//! (a symlink without `-l`) and says so itself, as it does with rsync on this side.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use prtools_rsync_wire::flist::{self, Entry};
use prtools_sync::filter::FilterList;

/// An entry and the file it is read from.
pub(super) struct Item {
    pub(super) entry: Entry,
    pub(super) path: PathBuf,
}

/// The list, sorted as rsync sorts it, the problems met (for the client's stderr) and
/// rsync's I/O error bits (1: general; the receiver then deletes nothing).
pub(super) struct Listed {
    pub(super) items: Vec<Item>,
    pub(super) notes: Vec<String>,
    pub(super) io_error: i32,
}

/// Lists `sources` (relative to the current folder, or absolute).
pub(super) fn list(sources: &[String], recursive: bool, filters: &FilterList) -> Listed {
    let mut listed = Listed {
        items: Vec::new(),
        notes: Vec::new(),
        io_error: 0,
    };
    for source in sources {
        let bytes = source.as_bytes();
        let path = if source.is_empty() {
            Path::new(".")
        } else {
            Path::new(source)
        };
        let contents =
            bytes.is_empty() || bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b".";
        let name: Vec<u8> = if contents {
            b".".to_vec()
        } else {
            match path.file_name() {
                Some(n) => n.as_bytes().to_vec(),
                None => b".".to_vec(),
            }
        };
        add(path, name, true, recursive, filters, &mut listed);
    }
    listed
        .items
        .sort_by(|a, b| flist::compare(&a.entry, &b.entry));
    listed.items.dedup_by(|a, b| a.entry.name == b.entry.name);
    listed
}

fn add(
    path: &Path,
    name: Vec<u8>,
    top: bool,
    recursive: bool,
    filters: &FilterList,
    listed: &mut Listed,
) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            listed.notes.push(format!(
                "rsync: [sender] link_stat \"{}\" failed: {}",
                shown(path),
                super::os_text(&e)
            ));
            listed.io_error |= 1;
            return;
        }
    };
    let ft = meta.file_type();
    // The client's rules: an excluded folder is not read at all.
    if name != b"." && filters.is_excluded(&name, ft.is_dir()) {
        return;
    }
    if ft.is_dir() && !recursive {
        listed.notes.push(format!(
            "skipping directory {}",
            String::from_utf8_lossy(&name)
        ));
        return;
    }
    let link = if ft.is_symlink() {
        match std::fs::read_link(path) {
            Ok(t) => Some(t.as_os_str().as_bytes().to_vec()),
            Err(e) => {
                listed.notes.push(format!(
                    "rsync: [sender] readlink \"{}\" failed: {}",
                    shown(path),
                    super::os_text(&e)
                ));
                listed.io_error |= 1;
                return;
            }
        }
    } else {
        None
    };
    listed.items.push(Item {
        entry: Entry {
            name: name.clone(),
            mode: meta.mode(),
            size: if ft.is_file() || ft.is_dir() || ft.is_symlink() {
                meta.size()
            } else {
                0
            },
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev(),
            link,
            top: top && ft.is_dir(),
        },
        path: path.to_path_buf(),
    });
    if !ft.is_dir() {
        return;
    }
    let mut children = match std::fs::read_dir(path) {
        Ok(d) => d.collect::<Vec<_>>(),
        Err(e) => {
            listed.notes.push(format!(
                "rsync: [sender] opendir \"{}\" failed: {}",
                shown(path),
                super::os_text(&e)
            ));
            listed.io_error |= 1;
            return;
        }
    };
    children.sort_by_key(|c| c.as_ref().ok().map(|c| c.file_name()));
    for child in children {
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                listed.notes.push(format!(
                    "rsync: [sender] readdir \"{}\" failed: {}",
                    shown(path),
                    super::os_text(&e)
                ));
                listed.io_error |= 1;
                continue;
            }
        };
        let base = child.file_name();
        let child_name = if name == b"." {
            base.as_bytes().to_vec()
        } else {
            [&name[..], b"/", base.as_bytes()].concat()
        };
        add(
            &path.join(OsStr::from_bytes(base.as_bytes())),
            child_name,
            false,
            recursive,
            filters,
            listed,
        );
    }
}

/// A path as rsync's messages show it, in the folder it was started in.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    format!("{}", full.display())
}
