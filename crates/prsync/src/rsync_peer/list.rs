//! The sources as rsync's file list: each entry with the local path it is read from.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use prtools_rsync_wire::flist::{self, Entry};

use crate::cli::Options;

/// An entry and where it is here.
pub struct Item {
    /// The entry as sent.
    pub entry: Entry,
    /// The file it was made from.
    pub path: PathBuf,
}

/// The list, sorted as rsync sorts it, and whether some of it could not be read
/// (rsync's general I/O error bit: the receiver then deletes nothing).
pub struct Listed {
    /// The entries.
    pub items: Vec<Item>,
    /// rsync's `io_error` bits (1: general).
    pub io_error: i32,
}

/// Lists the sources: `SRC/` as `.` and what is in it, `SRC` as its own name.
pub fn list(opts: &Options) -> Listed {
    let mut listed = Listed {
        items: Vec::new(),
        io_error: 0,
    };
    for source in &opts.sources {
        let bytes = source.as_bytes();
        let path = Path::new(source);
        let contents = bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b".";
        let name: Vec<u8> = if contents {
            b".".to_vec()
        } else {
            match path.file_name() {
                Some(n) => n.as_bytes().to_vec(),
                None => b".".to_vec(),
            }
        };
        add(opts, path, name, true, &mut listed);
    }
    listed
        .items
        .sort_by(|a, b| flist::compare(&a.entry, &b.entry));
    listed.items.dedup_by(|a, b| a.entry.name == b.entry.name);
    listed
}

fn add(opts: &Options, path: &Path, name: Vec<u8>, top: bool, listed: &mut Listed) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "prsync: link_stat \"{}\" failed: {}",
                path.display(),
                super::os_text(&e)
            );
            listed.io_error |= 1;
            return;
        }
    };
    let ft = meta.file_type();
    let wanted = ft.is_file()
        || ft.is_dir()
        || (ft.is_symlink() && opts.links)
        || ((ft.is_block_device() || ft.is_char_device()) && opts.devices)
        || ((ft.is_fifo() || ft.is_socket()) && opts.specials);
    if !wanted {
        return;
    }
    let link = if ft.is_symlink() {
        match std::fs::read_link(path) {
            Ok(t) => Some(t.as_os_str().as_bytes().to_vec()),
            Err(e) => {
                eprintln!(
                    "prsync: readlink \"{}\" failed: {}",
                    path.display(),
                    super::os_text(&e)
                );
                listed.io_error |= 1;
                return;
            }
        }
    } else {
        None
    };
    let entry = Entry {
        name: name.clone(),
        mode: meta.mode(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev(),
        link,
        top: top && ft.is_dir(),
    };
    listed.items.push(Item {
        entry,
        path: path.to_path_buf(),
    });
    if !ft.is_dir() || !opts.recursive {
        return;
    }
    let dir = match std::fs::read_dir(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "prsync: opendir \"{}\" failed: {}",
                path.display(),
                super::os_text(&e)
            );
            listed.io_error |= 1;
            return;
        }
    };
    for child in dir {
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "prsync: readdir \"{}\" failed: {}",
                    path.display(),
                    super::os_text(&e)
                );
                listed.io_error |= 1;
                continue;
            }
        };
        let base = child.file_name();
        let child_name = if name == b"." {
            base.as_bytes().to_vec()
        } else {
            let mut n = name.clone();
            n.push(b'/');
            n.extend_from_slice(base.as_bytes());
            n
        };
        add(
            opts,
            &path.join(OsStr::from_bytes(base.as_bytes())),
            child_name,
            false,
            listed,
        );
    }
}
