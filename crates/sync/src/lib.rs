/*!
The file-tree engine of prtools: what `prcp`, `prsync` and `prdist` do with local files on both
ends of a transfer. It knows nothing of hosts or the wire; it turns a source operand into a
file list, and carries a file list out inside a destination folder that it never leaves.

# The sender: scanning

[`scan`] reads one source operand as cp and pdcp do: a file is one [`Entry`], a directory
(with `-r`) is itself and everything below it, parents first and sorted by name, so a
receiver can make each entry the moment it arrives. Symlinks are sent as links, never
followed. Names are [`RelPath`]s: raw bytes (Unix names need not be UTF-8), checked to be
relative, without `.`, `..` or empty components.

# The receiver: a confined root

A receiver takes paths from a peer it may not trust (a broken or hostile host, or a
destination where other users can plant symlinks). Two things keep every write inside the
destination the user named:

- [`RelPath::new`] refuses `..`, absolute paths and the like before anything touches the disk;
- [`Root`] opens the destination once and walks each path from that descriptor, one component
  at a time, with `O_NOFOLLOW`, then acts with `*at` calls that do not follow a final symlink.
  A symlink anywhere inside the destination, there from the start or planted mid-run, stops
  the walk with an error that names it.

Reading goes the same way as writing, since a receiver must not look through a planted link
either (and report on, or hash, what it finds): [`Root::metadata`] is its `lstat`, with
[`Root::read_link`], [`Root::read_dir`] and [`Root::open_file`]; owners, links, device nodes,
in-place rewrites and deletions have [`Root::chown`], [`Root::hard_link`], [`Root::mknod`],
[`Root::open_file_rw`], [`Root::remove`] and [`Root::remove_tree`].

Files are written by [`Root::create_file`] under a temp name beside the final one and renamed
over it by [`AtomicFile::commit`], so a destination file is the old one or the new one, never
a part, whatever happens to the run.

```
use prtools_sync::{scan, quick_check_matches, Kind, RelPath, Root};
use std::io::Write;

let base = std::env::temp_dir().join(format!("prtools-sync-doc-{}", std::process::id()));
let (src, dst) = (base.join("src"), base.join("dst"));
std::fs::create_dir_all(src.join("conf"))?;
std::fs::create_dir_all(&dst)?;
std::fs::write(src.join("conf/app.ini"), "x = 1\n")?;

let root = Root::open(&dst)?;
for entry in scan(&src.join("conf"), true).unwrap() {
    if let Some(there) = root.stat(&entry.path)? {
        if quick_check_matches(&entry, &there) {
            continue;
        }
    }
    match &entry.kind {
        Kind::Dir => root.create_dir(&entry.path, 0o700)?,
        Kind::File { .. } => {
            let source = src.join(entry.path.as_path());
            let mut out = root.create_file(&entry.path)?;
            out.write_all(&std::fs::read(source)?)?;
            out.commit(entry.mode, Some(entry.mtime), false)?;
        }
        Kind::Symlink { target } => root.symlink(&entry.path, target)?,
    }
}
assert_eq!(std::fs::read_to_string(dst.join("conf/app.ini"))?, "x = 1\n");
# std::fs::remove_dir_all(&base)?;
# Ok::<(), std::io::Error>(())
```

# Filters

[`filter`] holds rsync's include/exclude rules (`--exclude`, `--include`, `--filter` and the
`-from` files), with rsync's syntax and matching: the sender asks
[`FilterList::is_excluded`](filter::FilterList::is_excluded) for each path, the receiver
[`FilterList::is_protected`](filter::FilterList::is_protected) before it deletes one.

# Errors

Filesystem calls return [`std::io::Error`]s whose message starts with the full path
(`/tmp/stage/big: No space left on device (os error 28)`), which a caller prefixes with the
host; the kind is kept, and [`raw_os_error`] finds the errno under the added context.
[`ScanError`] and [`PathError`] keep the input and say what to do
(`'src' is a directory; add -r to copy it`).
*/

#![deny(missing_docs)]

mod atomic;
mod check;
mod cleanup;
mod entry;
mod error;
pub mod filter;
mod hash;
mod platform;
mod relpath;
mod root;
mod scan;
mod sweep;
mod temp;

pub use atomic::AtomicFile;
pub use check::quick_check_matches;
pub use cleanup::{remove_temps_on_signal, ListedTemp, StopKeep};
pub use entry::{Entry, Kind, Meta, Mtime, PERMISSION_BITS};
pub use error::{raw_os_error, PathIoError};
pub use hash::hash_reader;
pub use relpath::{walk_parts, PathError, PathErrorKind, RelPath};
pub use root::{canonical_acl, read_acl, read_xattrs, DirEntry, FileStat, Root, Xattr};
pub use scan::{scan, scan_as, scan_with, ScanError, ScanOptions, Scanned};
pub use temp::is_temp_name;
