//! The sending server's file list: the paths the client named, as rsync lists them.
//!
//! `SRC/` lists as `.` and what is in it, `SRC` as its last component; with `-R` each
//! keeps its path (from after a `/./`, else all of it but a leading `/`), and the
//! folders on the way are sent as implied folders. Every kind of entry is listed,
//! whatever the options: the receiver skips what it does not keep (a symlink without
//! `-l`) and says so itself, as it does with rsync on this side.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use prtools_rsync_wire::flist::{self, Entry};
use prtools_rsync_wire::flist_links::Mark;
use prtools_sync::filter::FilterList;

/// An entry, the file it is read from, and how its encoding is marked.
pub(super) struct Item {
    pub(super) entry: Entry,
    pub(super) path: PathBuf,
    pub(super) mark: Option<Mark>,
    /// Device and inode of a non-folder with other links (`-H`).
    pub(super) inode: Option<(u64, u64)>,
    /// A symlink listed as what it points to (`--copy-unsafe-links`): its file is opened
    /// through the link.
    pub(super) followed: bool,
}

/// How rsync's sender says that an unsafe symlink it was to follow leads nowhere.
const NO_REFERENT: &str = "symlink has no referent:";

/// Whether a note of [`Listed`] is an error (the client prints it on stderr and the run
/// fails with 23), not information.
pub(super) fn is_error(note: &str) -> bool {
    note.starts_with("rsync:") || note.starts_with(NO_REFERENT)
}

/// The list, sorted as rsync sorts it, the problems met (for the client's stderr) and
/// rsync's I/O error bits (1: general; the receiver then deletes nothing).
pub(super) struct Listed {
    pub(super) items: Vec<Item>,
    pub(super) notes: Vec<String>,
    pub(super) io_error: i32,
}

/// What the client asked the listing to do.
pub(super) struct How<'a> {
    /// The session's protocol, whose order the list is sorted in.
    pub(super) protocol: i32,
    pub(super) recursive: bool,
    /// `-d`: a named folder's entries, folders among them without theirs.
    pub(super) dirs: bool,
    pub(super) relative: bool,
    pub(super) implied_dirs: bool,
    pub(super) hard_links: bool,
    /// `--copy-unsafe-links`: a link out of the transfer is listed as what it points to.
    pub(super) copy_unsafe_links: bool,
    /// `--fake-super`: a file's or folder's `%stat` attribute says its mode, device and
    /// owner (see [`crate::fake_super`]).
    pub(super) fake_super: bool,
    pub(super) filters: &'a FilterList,
    /// Whether a per-folder merge file may be read (rrsync's `--confine-root`).
    pub(super) readable: &'a dyn Fn(&Path) -> bool,
}

/// Lists `sources` (relative to the current folder, or absolute).
pub(super) fn list(sources: &[String], how: &How) -> Listed {
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
        let name: Vec<u8> = if how.relative {
            relative_name(bytes)
        } else if contents {
            b".".to_vec()
        } else {
            match path.file_name() {
                Some(n) => n.as_bytes().to_vec(),
                None => b".".to_vec(),
            }
        };
        if how.relative && how.implied_dirs && name != b"." {
            // The folders on the way, from the real ones above the path.
            let base_len = bytes.len() - trimmed(bytes).len();
            let parts: Vec<usize> = name
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c == b'/')
                .map(|(i, _)| i)
                .collect();
            for end in parts {
                let implied = &name[..end];
                let real = [&bytes[..base_len], implied].concat();
                let real = Path::new(OsStr::from_bytes(&real));
                implied_dir(real, implied, how.fake_super, &mut listed);
            }
        }
        // -d lists the entries of a folder named as `SRC/` (or `.`), and of no other.
        let depth = if how.recursive {
            usize::MAX
        } else if how.dirs && contents {
            1
        } else {
            0
        };
        add(path, name, true, depth, how, how.filters, &mut listed);
    }
    listed
        .items
        .sort_by(|a, b| flist::compare_at(how.protocol, &a.entry, &b.entry));
    listed.items.dedup_by(|a, b| a.entry.name == b.entry.name);
    if how.hard_links {
        mark_links(&mut listed.items);
    }
    listed
}

/// `-R`'s name for a source: from after its last `/./`, else the whole path without a
/// leading `/` or `./`, and without a trailing `/`.
fn relative_name(bytes: &[u8]) -> Vec<u8> {
    let name = trimmed(bytes);
    let name = name.strip_suffix(b"/.").unwrap_or(name);
    let name = name.strip_suffix(b"/").unwrap_or(name);
    if name.is_empty() || name == b"." {
        b".".to_vec()
    } else {
        name.to_vec()
    }
}

/// The part of a source that `-R` keeps: after the last `/./`, or without leading `/`s
/// and `./`s.
fn trimmed(bytes: &[u8]) -> &[u8] {
    if let Some(i) = bytes.windows(3).rposition(|w| w == b"/./") {
        return &bytes[i + 3..];
    }
    let mut b = bytes;
    loop {
        if let Some(rest) = b.strip_prefix(b"/") {
            b = rest;
        } else if let Some(rest) = b.strip_prefix(b"./") {
            b = rest;
        } else {
            return b;
        }
    }
}

/// Marks the hard-linked groups: the first of each in list order is sent whole, the
/// others point at it.
fn mark_links(items: &mut [Item]) {
    let mut first: HashMap<(u64, u64), u32> = HashMap::new();
    for (i, item) in items.iter_mut().enumerate() {
        if let Some(inode) = item.inode {
            match first.get(&inode) {
                Some(&f) => item.mark = Some(Mark::LaterLink(f)),
                None => {
                    first.insert(inode, i as u32);
                    item.mark = Some(Mark::FirstLink);
                }
            }
        }
    }
}

/// An implied folder of `-R`: the real folder's attributes, no contents.
fn implied_dir(path: &Path, name: &[u8], fake_super: bool, listed: &mut Listed) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    listed.items.push(Item {
        entry: faked(
            entry_of(name.to_vec(), &meta, None, false),
            path,
            fake_super,
        ),
        path: path.to_path_buf(),
        mark: Some(Mark::ImpliedDir),
        inode: None,
        followed: false,
    });
}

fn entry_of(name: Vec<u8>, meta: &std::fs::Metadata, link: Option<Vec<u8>>, top: bool) -> Entry {
    let ft = meta.file_type();
    Entry {
        name,
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
    }
}

/// `entry` (read from `path`) as its `%stat` attribute says it is, with `--fake-super`:
/// rsync's `x_lstat`. Only a regular file or a folder carries one; a file that says it
/// is a symlink holds the target.
fn faked(mut entry: Entry, path: &Path, fake_super: bool) -> Entry {
    let kind = entry.mode & libc::S_IFMT;
    if !fake_super || !(kind == libc::S_IFREG || kind == libc::S_IFDIR) {
        return entry;
    }
    let all = prtools_sync::read_xattrs(path).unwrap_or_default();
    if let Some(f) = crate::fake_super::FakeStat::among(&all) {
        if f.mode & libc::S_IFMT == libc::S_IFLNK {
            // rsync's stand-in for a symlink holds the target.
            let mut target = Vec::new();
            let read =
                std::fs::File::open(path).and_then(|file| file.take(4096).read_to_end(&mut target));
            if read.is_err() || kind != libc::S_IFREG {
                return entry;
            }
            entry.link = Some(target);
        }
        entry.mode = f.mode;
        entry.rdev = f.rdev;
        entry.uid = f.uid;
        entry.gid = f.gid;
    }
    entry
}

/// Lists `path` as `name`, and what is in it `depth` levels down, by the rules
/// `filters` (the client's, with the per-folder merge files of the folders above).
fn add(
    path: &Path,
    name: Vec<u8>,
    top: bool,
    depth: usize,
    how: &How,
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
    let was_link = meta.file_type().is_symlink();
    let meta = match follow_unsafe(path, &name, meta, how) {
        Ok(m) => m,
        Err(_) => {
            listed
                .notes
                .push(format!("{NO_REFERENT} \"{}\"", shown(path)));
            listed.io_error |= 1;
            return;
        }
    };
    let ft = meta.file_type();
    // The client's rules: an excluded folder is not read at all.
    if name != b"." && filters.is_excluded(&name, ft.is_dir()) {
        return;
    }
    if ft.is_dir() && depth == 0 && !how.dirs {
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
    let no_content = ft.is_dir() && depth == 0;
    listed.items.push(Item {
        entry: faked(
            entry_of(name.clone(), &meta, link, top),
            path,
            how.fake_super,
        ),
        path: path.to_path_buf(),
        mark: no_content.then_some(Mark::NoContentDir),
        inode: (!ft.is_dir() && meta.nlink() > 1).then(|| (meta.dev(), meta.ino())),
        followed: was_link && !ft.is_symlink(),
    });
    if !ft.is_dir() || depth == 0 {
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
    let prefix: &[u8] = if name == b"." { b"" } else { &name };
    let merged = enter_dir(path, prefix, filters, how, listed);
    let filters = merged.as_ref().unwrap_or(filters);
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
            depth.saturating_sub(1),
            how,
            filters,
            listed,
        );
    }
}

/// The rules that hold in the folder `dir` (named `prefix` in the list): `filters` with
/// what the folder's per-folder merge files (`dir-merge`, `-F`, `:C`) add, as rsync's
/// `push_local_filters`; `None` when they add nothing. A merge file outside what the
/// server may read (rrsync's `--confine-root`), or reached through another user's
/// symlink, is not read: its rules could tell the client what it holds.
fn enter_dir(
    dir: &Path,
    prefix: &[u8],
    filters: &FilterList,
    how: &How,
    listed: &mut Listed,
) -> Option<FilterList> {
    if !filters.has_dir_merge() {
        return None;
    }
    let mut read = |file: &[u8]| {
        let path = dir.join(OsStr::from_bytes(file));
        if !(how.readable)(&path) || crate::trust::check_destination(&path).is_err() {
            return None;
        }
        std::fs::read(&path).ok()
    };
    let full = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut errors = Vec::new();
    let result = filters.enter_dir_at(
        prefix,
        Some(full.as_os_str().as_bytes()),
        &mut read,
        &mut errors,
    );
    for why in errors {
        listed.notes.push(format!("rsync: [sender] {why}"));
        listed.io_error |= 1;
    }
    match result {
        Ok(list) => list,
        Err(e) => {
            listed.notes.push(format!(
                "rsync: [sender] in a merge file of \"{}\": {e}",
                shown(dir)
            ));
            listed.io_error |= 1;
            None
        }
    }
}

/// `--copy-unsafe-links`: what an unsafe symlink (see [`crate::links::is_unsafe`]) points
/// to, as rsync's `readlink_stat`; anything else as `lstat` said (`meta`).
fn follow_unsafe(
    path: &Path,
    name: &[u8],
    meta: std::fs::Metadata,
    how: &How,
) -> std::io::Result<std::fs::Metadata> {
    if !how.copy_unsafe_links || !meta.file_type().is_symlink() {
        return Ok(meta);
    }
    let target = std::fs::read_link(path)?;
    if crate::links::is_unsafe(name, target.as_os_str().as_bytes()) {
        return std::fs::metadata(path);
    }
    Ok(meta)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_start_after_a_dot_folder_or_the_root() {
        assert_eq!(relative_name(b"/a/b/c"), b"a/b/c");
        assert_eq!(relative_name(b"/a/./b/c/"), b"b/c");
        assert_eq!(relative_name(b"./x"), b"x");
        assert_eq!(relative_name(b"/"), b".");
        assert_eq!(trimmed(b"/a/./b"), b"b");
    }
}
