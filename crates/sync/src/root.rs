//! The receiver's side: a destination folder that every write stays inside.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::{errno_at, explained};
use crate::{platform, temp, AtomicFile, Kind, Meta, Mtime, RelPath, PERMISSION_BITS};

#[cfg(feature = "acl")]
mod acl;
#[cfg(not(feature = "acl"))]
#[path = "root/no_acl.rs"]
mod acl;
mod attrs;
mod beneath;
mod change;
mod stat;
mod tree;

pub use acl::{canonical_acl, read_acl};
pub use attrs::{read_xattrs, Xattr};
pub use stat::FileStat;
pub use tree::DirEntry;

/// What a symlink met on the way to a path is told, in place of the OS's "Not a directory".
const SYMLINK_IN_PATH: &str = "is a symbolic link, which is never followed inside a \
                               destination; remove it, or make it a real directory";

/// A destination folder that every operation stays inside.
///
/// The folder is opened once, and every relative path is then walked component by component
/// with `openat(O_NOFOLLOW | O_DIRECTORY)` from that descriptor, and the last component is
/// acted on with an `*at` call that does not follow it either. So a symlink anywhere inside
/// the destination, whether it was there before or is planted by someone else during the run,
/// can never lead a write outside: the walk stops at it with an error that names it. Together
/// with [`RelPath`], which refuses `..` and absolute paths, this is what lets a receiver take
/// paths from a peer it does not trust.
///
/// The folder itself may be reached through symlinks (`/tmp` often is one): the user named
/// it, so it is trusted.
///
/// ```
/// use prtools_sync::{RelPath, Root};
/// use std::io::Write;
///
/// let dir = std::env::temp_dir().join(format!("prtools-root-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let root = Root::open(&dir)?;
/// let rel = RelPath::new("sub/file").unwrap();
/// root.create_dir_all(&rel.parent().unwrap())?;
/// let mut f = root.create_file(&rel)?;
/// f.write_all(b"hello")?;
/// f.commit(0o644, None, false)?;
/// assert_eq!(std::fs::read(dir.join("sub/file"))?, b"hello");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Root {
    fd: Arc<OwnedFd>,
    path: PathBuf,
    /// The path of the last walk and the folders it passed through, one a component: the
    /// next walk starts from the deepest one it shares (see [`Root::walk`]).
    last_walk: Mutex<Option<Walked>>,
    /// `-K`: a symlink to a folder, owned by root or by this user, is walked through.
    dirlinks: bool,
    /// A symlink on the way that stays inside the root is walked through (see
    /// [`Root::following_inner_links`]).
    inner_links: bool,
}

/// A walk's path and the folders it passed through, one a component.
type Walked = (Vec<u8>, Vec<Arc<OwnedFd>>);

/// A directory inside a [`Root`] reached by a confined walk (or the root itself), its
/// descriptor shared with the walk cache.
#[derive(Debug)]
pub(crate) enum Dir {
    Shared(Arc<OwnedFd>),
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Shared(fd) => fd.as_fd(),
        }
    }
}

impl Root {
    /// Opens the destination folder `dir`; an error if it is missing or not a directory.
    pub fn open(dir: &Path) -> io::Result<Root> {
        let flags = platform::DIR_WALK.difference(OFlags::NOFOLLOW);
        let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| match e {
            Errno::NOTDIR => explained(
                dir,
                e.into(),
                "is not a directory; name an existing directory as the destination",
            ),
            e => errno_at(dir, e),
        })?;
        Ok(Root {
            fd: Arc::new(fd),
            path: dir.to_path_buf(),
            last_walk: Mutex::new(None),
            dirlinks: false,
            inner_links: false,
        })
    }

    /// Opens the directory `rel` inside this root as a root of its own, making it first
    /// (and any missing folder above it, as [`Root::create_dir_all`]) when `create` is set.
    ///
    /// This is how a tool adds a name of its own to a folder the user gave (prcp's
    /// `LOCALDIR/HOST`): [`Root::open`] on the joined path would follow a symlink someone
    /// planted under that name, and write wherever it points. Here the walk from this root's
    /// descriptor never follows one, so a link at `rel` or above it is an error (ELOOP) that
    /// names it, and an existing real directory is opened as it is.
    pub fn open_subdir(&self, rel: &RelPath, create: bool) -> io::Result<Root> {
        let Dir::Shared(fd) = self.walk(rel.as_bytes(), create)?;
        Ok(Root {
            fd,
            path: self.shown(rel),
            last_walk: Mutex::new(None),
            dirlinks: self.dirlinks,
            inner_links: self.inner_links,
        })
    }

    /// The same folder with a walk cache of its own, for a thread that looks at its own part
    /// of the tree: threads sharing one cache would take turns on its lock and each undo
    /// the walk the other just made.
    pub fn fork(&self) -> Root {
        Root {
            fd: Arc::clone(&self.fd),
            path: self.path.clone(),
            last_walk: Mutex::new(None),
            dirlinks: self.dirlinks,
            inner_links: self.inner_links,
        }
    }

    /// The same folder, where a walk goes through a symlink to a folder instead of stopping
    /// at it: rsync's `-K`, by which the user says the destination's links are theirs. A
    /// link owned by anyone but root or this user is still refused (rsync 3.5's "untrusted
    /// user" rule), so another user cannot point the writes elsewhere.
    pub fn keeping_dirlinks(mut self) -> Root {
        self.dirlinks = true;
        self
    }

    /// The same folder, where a walk goes through a symlink on the way as long as where it
    /// leads is inside this folder too (a link that leads out, by an absolute target or by
    /// `..` above the folder, is still refused): rsync's receiver with `-R
    /// --no-implied-dirs`, whose folders above a name are not sent, so that the destination's
    /// own path is used as it is, and rsync 3.5.0 follows such a link there while refusing
    /// one that would take the files out of the tree.
    pub fn following_inner_links(mut self) -> Root {
        self.inner_links = true;
        self
    }

    /// With [`Root::keeping_dirlinks`]: what the symlink at `rel` leads to, when it is a
    /// trusted link to a folder; `None` when it is not a link or not to a folder, and an
    /// error when another user owns it.
    pub fn dir_behind_link(&self, rel: &RelPath) -> io::Result<Option<FileStat>> {
        if !self.dirlinks {
            return Ok(None);
        }
        let (dir, name) = self.parent(rel, false)?;
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(link) if is_trusted_link(&link) => {}
            Ok(link) if FileType::from_raw_mode(link.st_mode) == FileType::Symlink => {
                return Err(explained(
                    self.shown(rel),
                    Errno::PERM.into(),
                    "is a symlink owned by another user, which -K never follows; remove it, \
                     or make it a real directory",
                ))
            }
            _ => return Ok(None),
        }
        match rustix::fs::statat(&dir, name, AtFlags::empty()) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                Ok(Some(FileStat::from_stat(&stat)))
            }
            _ => Ok(None),
        }
    }

    /// The folder's descriptor, for the stop-signal cleanup, which outlives no `Root`'s use.
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&*self.fd)
    }

    /// The folder as it was named to [`Root::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The full path of `rel`, for messages.
    fn shown(&self, rel: &RelPath) -> PathBuf {
        self.path.join(rel.as_path())
    }

    /// The full path of `rel`, or of the root itself for `None`, for messages.
    fn shown_at(&self, rel: Option<&RelPath>) -> PathBuf {
        match rel {
            Some(rel) => self.shown(rel),
            None => self.path.clone(),
        }
    }

    /// What is at `rel` now, without following a final symlink; `None` if nothing is there
    /// (also when a parent is missing or is a file). A symlink on the way is an error.
    pub fn stat(&self, rel: &RelPath) -> io::Result<Option<Meta>> {
        let (dir, name) = match self.parent(rel, false) {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let stat = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(errno_at(self.shown(rel), e)),
        };
        let (kind, special) = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => (
                Kind::File {
                    size: size_of(&stat),
                },
                false,
            ),
            FileType::Directory => (Kind::Dir, false),
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&dir, name, Vec::new())
                    .map_err(|e| errno_at(self.shown(rel), e))?;
                let target = target.into_bytes();
                (Kind::Symlink { target }, false)
            }
            _ => (
                Kind::File {
                    size: size_of(&stat),
                },
                true,
            ),
        };
        Ok(Some(Meta {
            kind,
            mode: stat.st_mode & PERMISSION_BITS,
            mtime: mtime_of(&stat),
            special,
        }))
    }

    /// Makes the directory `rel` with `mode` (less the umask, as mkdir does). Its parent must
    /// exist (see [`Root::create_dir_all`]). An existing directory is fine and left as it is;
    /// anything else there is an error that names it (see [`Root::create_dir_replacing`]), and
    /// a symlink there is refused with ELOOP, as a walk refuses one, never followed.
    ///
    /// A directory whose mode lacks owner write cannot be filled afterwards: make it `0o700`
    /// and call [`Root::set_mode`] once its contents are in, as rsync does.
    pub fn create_dir(&self, rel: &RelPath, mode: u32) -> io::Result<()> {
        self.make_dir(rel, mode, false)
    }

    /// Like [`Root::create_dir`], but a file, symlink or special file at `rel` is removed
    /// first (rsync's behaviour; cp's is [`Root::create_dir`]). A symlink is removed, never
    /// followed, even if it points to a directory.
    pub fn create_dir_replacing(&self, rel: &RelPath, mode: u32) -> io::Result<()> {
        self.make_dir(rel, mode, true)
    }

    fn make_dir(&self, rel: &RelPath, mode: u32, replace: bool) -> io::Result<()> {
        let (dir, name) = self.parent(rel, false)?;
        let mode = Mode::from_raw_mode(mode & PERMISSION_BITS);
        let exists = match rustix::fs::mkdirat(&dir, name, mode) {
            Ok(()) => return Ok(()),
            Err(Errno::EXIST) => Errno::EXIST,
            Err(e) => return Err(errno_at(self.shown(rel), e)),
        };
        let stat = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| errno_at(self.shown(rel), e))?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        if kind == FileType::Directory {
            return Ok(());
        }
        if !replace && kind == FileType::Symlink {
            // ELOOP, as a walk meeting the link gives: callers tell a planted link apart by it.
            return Err(explained(
                self.shown(rel),
                Errno::LOOP.into(),
                SYMLINK_IN_PATH,
            ));
        }
        if !replace {
            return Err(explained(
                self.shown(rel),
                exists.into(),
                "exists and is not a directory; remove it first",
            ));
        }
        rustix::fs::unlinkat(&dir, name, AtFlags::empty())
            .and_then(|()| rustix::fs::mkdirat(&dir, name, mode))
            .map_err(|e| errno_at(self.shown(rel), e))
    }

    /// Makes `rel` and every missing directory above it (mode `0o777` less the umask, as
    /// `mkdir -p`). Existing directories are fine; a symlink or file in the way is an error.
    pub fn create_dir_all(&self, rel: &RelPath) -> io::Result<()> {
        self.walk(rel.as_bytes(), true).map(drop)
    }

    /// Starts writing the file `rel` as a temp file beside it; see [`AtomicFile`].
    ///
    /// The temp file (`.<name>.prtools-<random>`) is made with O_CREAT|O_EXCL|O_NOFOLLOW and
    /// mode 0600, so nothing planted under its name is opened and nobody else can read the
    /// bytes before [`AtomicFile::commit`] sets the real mode. The parent must exist.
    pub fn create_file(&self, rel: &RelPath) -> io::Result<AtomicFile> {
        let (dir, name) = self.parent(rel, false)?;
        AtomicFile::create(dir, name, self.shown(rel))
    }

    /// [`Root::create_file`], with the temp file made in the folder `temp` instead (rsync's
    /// `--temp-dir`); the commit moves it here, copying it across file systems.
    pub fn create_file_in(&self, rel: &RelPath, temp: &Root) -> io::Result<AtomicFile> {
        let (dir, name) = self.parent(rel, false)?;
        AtomicFile::create_elsewhere(temp.top(), dir, name, self.shown(rel))
    }

    /// Makes a symlink at `rel` pointing to `target`, atomically replacing a file or symlink
    /// that was there (a temp symlink renamed over it); a directory there is an error.
    pub fn symlink(&self, rel: &RelPath, target: &[u8]) -> io::Result<()> {
        let (dir, name) = self.parent(rel, false)?;
        for _ in 0..temp::TRIES {
            let tmp = temp::temp_name(name);
            match rustix::fs::symlinkat(target, &dir, tmp.as_slice()) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(errno_at(self.shown(rel), e)),
            }
            return rustix::fs::renameat(&dir, tmp.as_slice(), &dir, name).map_err(|e| {
                // Best effort: the link is useless now, and an error here changes nothing.
                let _ = rustix::fs::unlinkat(&dir, tmp.as_slice(), AtFlags::empty());
                rename_error(self.shown(rel), e)
            });
        }
        Err(explained(
            self.shown(rel),
            Errno::EXIST.into(),
            "no free temporary name beside it; remove old '.*.prtools-*' files",
        ))
    }

    /// Sets the permission bits of `rel` (including setuid, setgid, sticky); a no-op for a
    /// symlink. A final symlink is never followed, even one swapped in during the call.
    pub fn set_mode(&self, rel: &RelPath, mode: u32) -> io::Result<()> {
        self.chmod_at(Some(rel), mode)
    }

    /// Sets the permission bits of the root folder itself (rsync's `.` entry), through the
    /// descriptor opened by [`Root::open`]: if the folder's path has been renamed or replaced
    /// since, the folder that was opened is the one changed, never what the path names now.
    pub fn set_root_mode(&self, mode: u32) -> io::Result<()> {
        self.chmod_at(None, mode)
    }

    fn chmod_at(&self, rel: Option<&RelPath>, mode: u32) -> io::Result<()> {
        let (dir, name) = self.at(rel)?;
        let mode = Mode::from_raw_mode(mode & PERMISSION_BITS);
        platform::chmod_nofollow(dir.as_fd(), name, mode)
            .map_err(|e| errno_at(self.shown_at(rel), e))
    }

    /// Sets the modification time of `rel`, leaving its access time alone; for a symlink the
    /// link's own time changes (utimensat with AT_SYMLINK_NOFOLLOW), not its target's.
    pub fn set_mtime(&self, rel: &RelPath, mtime: Mtime) -> io::Result<()> {
        self.utime_at(Some(rel), mtime)
    }

    /// Sets the modification time of the root folder itself, through its descriptor (see
    /// [`Root::set_root_mode`]); the access time is left alone.
    pub fn set_root_mtime(&self, mtime: Mtime) -> io::Result<()> {
        self.utime_at(None, mtime)
    }

    /// Sets the access time of `rel` (the root folder itself for `None`; a symlink's own),
    /// leaving its modification time alone (rsync's `-U`).
    pub fn set_atime(&self, rel: Option<&RelPath>, atime: Mtime) -> io::Result<()> {
        let (dir, name) = self.at(rel)?;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: atime.secs,
                tv_nsec: atime.nanos.into(),
            },
            last_modification: Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
        };
        rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| errno_at(self.shown_at(rel), e))
    }

    fn utime_at(&self, rel: Option<&RelPath>, mtime: Mtime) -> io::Result<()> {
        let (dir, name) = self.at(rel)?;
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: mtime.secs,
                tv_nsec: mtime.nanos.into(),
            },
        };
        rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| errno_at(self.shown_at(rel), e))
    }

    /// Removes the file, symlink (not its target) or empty directory at `rel`.
    pub fn remove(&self, rel: &RelPath) -> io::Result<()> {
        let (dir, name) = self.parent(rel, false)?;
        let stat = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| errno_at(self.shown(rel), e))?;
        let flags = match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory => {
                self.forget_walks();
                AtFlags::REMOVEDIR
            }
            _ => AtFlags::empty(),
        };
        rustix::fs::unlinkat(&dir, name, flags).map_err(|e| errno_at(self.shown(rel), e))
    }

    /// Opens the regular file at `rel` for reading, confined like the rest: a symlink there or
    /// on the way is an error, as is anything that is not a regular file.
    pub fn open_file(&self, rel: &RelPath) -> io::Result<File> {
        let (dir, name) = self.parent(rel, false)?;
        // O_NONBLOCK so that a fifo does not hang the open before it can be refused.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP => explained(self.shown(rel), e.into(), SYMLINK_IN_PATH),
            e => errno_at(self.shown(rel), e),
        })?;
        self.regular_only(rel, fd, OFlags::RDONLY)
    }

    /// Opens the regular file at `rel` (a `/`-separated path below the root) for reading,
    /// following a symlink on the way only while it stays inside the root, and never one
    /// at `rel` itself; with `noatime`, without changing its access time where the kernel
    /// allows it (the file's owner, or root).
    ///
    /// This is rsync 3.5.0's sender: the tree was listed with every folder a folder, and a
    /// folder swapped for a link to elsewhere before its files are read must not make the
    /// read leave the tree (a link that leads out is ELOOP), while a link the user keeps
    /// inside it, as `-R` may name one on the way, is followed.
    pub fn open_file_beneath(&self, rel: &[u8], noatime: bool) -> io::Result<File> {
        let shown = || self.path.join(OsStr::from_bytes(rel));
        // O_NONBLOCK so that a fifo does not hang the open before it can be refused.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let opened = match noatime {
            true => match beneath::open_beneath(self.fd.as_fd(), rel, flags | OFlags::NOATIME) {
                Err(Errno::PERM) => beneath::open_beneath(self.fd.as_fd(), rel, flags),
                other => other,
            },
            false => beneath::open_beneath(self.fd.as_fd(), rel, flags),
        };
        let fd = opened.map_err(|e| errno_at(shown(), e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| errno_at(shown(), e))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(explained(
                shown(),
                Errno::INVAL.into(),
                "is not a regular file",
            ));
        }
        // Blocking again, keeping O_NOATIME, which F_SETFL would clear as well.
        let now = rustix::fs::fcntl_getfl(&fd).map_err(|e| errno_at(shown(), e))?;
        rustix::fs::fcntl_setfl(&fd, now.difference(OFlags::NONBLOCK))
            .map_err(|e| errno_at(shown(), e))?;
        Ok(File::from(fd))
    }

    /// The root folder itself, as a walk would start from it.
    pub(crate) fn top(&self) -> Dir {
        Dir::Shared(Arc::clone(&self.fd))
    }

    /// The directory holding `rel` and `rel`'s last component.
    fn parent<'r>(&self, rel: &'r RelPath, create: bool) -> io::Result<(Dir, &'r [u8])> {
        let bytes = rel.as_bytes();
        match bytes.iter().rposition(|&b| b == b'/') {
            None => Ok((Dir::Shared(Arc::clone(&self.fd)), bytes)),
            Some(i) => Ok((self.walk(&bytes[..i], create)?, &bytes[i + 1..])),
        }
    }

    /// Like [`Root::parent`], where `None` is the root itself: its own descriptor and `.`,
    /// which an `*at` call with AT_SYMLINK_NOFOLLOW resolves to that very folder.
    fn at<'r>(&self, rel: Option<&'r RelPath>) -> io::Result<(Dir, &'r [u8])> {
        match rel {
            Some(rel) => self.parent(rel, false),
            None => Ok((self.top(), b".")),
        }
    }

    /// Opens the directory `path` (checked, `/`-separated) component by component, never
    /// through a symlink, making missing ones if `create` is set.
    ///
    /// The folders passed through are kept open, so that the next walk starts from the
    /// deepest one it shares: the next file of the same folder costs nothing, a folder
    /// beside it one open, and a tree walked in a file list's order (or its reverse) about
    /// one open per folder, not one per file per level. What they hold was
    /// reached by a confined walk, and stays the directory it was whatever is renamed later,
    /// as any open descriptor does: a symlink planted in its place is never followed, and a
    /// local user who moves the folder itself elsewhere (which takes write access to both
    /// places) moves where its files land, as with the descriptor of any single walk, only
    /// for longer. This root's own removals of a directory forget it ([`Root::forget_walks`]),
    /// so a folder removed and made again is walked afresh.
    pub(crate) fn walk(&self, path: &[u8], create: bool) -> io::Result<Dir> {
        let mut walks = self.walks();
        // The folder the last walk reached: the next file of a folder, which is most of
        // a tree's files. Taken before anything is copied, where the general case below
        // built a chain, a shown path and a new key for it, four allocations for each
        // file a no-op of 50,000 files looks at.
        if let Some((last, fds)) = &*walks {
            if let (true, Some(fd)) = (last.as_slice() == path, fds.last()) {
                return Ok(Dir::Shared(Arc::clone(fd)));
            }
        }
        // The folders the last walk passed through, as far as this path shares them.
        let mut chain: Vec<Arc<OwnedFd>> = Vec::new();
        let mut shared = 0;
        if let Some((last, fds)) = &*walks {
            for (k, (a, b)) in path
                .split(|&b| b == b'/')
                .zip(last.split(|&b| b == b'/'))
                .enumerate()
            {
                if a != b {
                    break;
                }
                chain.push(Arc::clone(&fds[k]));
                shared += a.len() + 1;
            }
        }
        let mut shown = self.path.clone();
        if shared > 0 {
            shown.push(OsStr::from_bytes(&path[..shared - 1]));
        }
        let rest = path.get(shared..).unwrap_or_default();
        // Where the component being walked starts in `path`.
        let mut start = shared;
        for name in rest.split(|&b| b == b'/').filter(|_| !rest.is_empty()) {
            let end = start + name.len();
            start = end + 1;
            shown.push(OsStr::from_bytes(name));
            let dir = chain.last().unwrap_or(&self.fd);
            let opened = match rustix::fs::openat(dir, name, platform::DIR_WALK, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o777)) {
                        // Someone else may have made it in between: fine, it is opened below.
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(errno_at(shown, e)),
                    }
                    rustix::fs::openat(dir, name, platform::DIR_WALK, Mode::empty())
                }
                other => other,
            };
            let opened = match opened {
                Err(Errno::NOTDIR | Errno::LOOP) if self.dirlinks => {
                    through_dirlink(dir, name).ok_or(Errno::LOOP)
                }
                // Resolved again from the root as a whole, so that a link's `..` is measured
                // against the root, not against the folder the link is in.
                Err(Errno::NOTDIR | Errno::LOOP) if self.inner_links => {
                    match beneath::open_beneath(
                        self.fd.as_fd(),
                        &path[..end],
                        platform::DIR_WALK.difference(OFlags::NOFOLLOW),
                    ) {
                        Err(Errno::XDEV) => Err(Errno::LOOP),
                        other => other,
                    }
                }
                other => other,
            };
            let opened = opened
                .map_err(|e| walk_error(&Dir::Shared(Arc::clone(dir)), name, shown.clone(), e))?;
            chain.push(Arc::new(opened));
        }
        let Some(fd) = chain.last().cloned() else {
            return Ok(Dir::Shared(Arc::clone(&self.fd)));
        };
        *walks = Some((path.to_vec(), chain));
        Ok(Dir::Shared(fd))
    }

    fn walks(&self) -> std::sync::MutexGuard<'_, Option<Walked>> {
        // A walk cannot panic while holding the lock, and the cache is only a shortcut.
        self.last_walk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the directory the last walk reached: called by every removal of a directory,
    /// which may be it or above it.
    pub(crate) fn forget_walks(&self) {
        *self.walks() = None;
    }
}

/// `-K`: the folder the symlink `name` in `dir` leads to, when root or this user owns it.
fn through_dirlink(dir: &OwnedFd, name: &[u8]) -> Option<OwnedFd> {
    let link = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if !is_trusted_link(&link) {
        return None;
    }
    let follow = platform::DIR_WALK.difference(OFlags::NOFOLLOW);
    rustix::fs::openat(dir, name, follow, Mode::empty()).ok()
}

/// A symlink that root or this user made: the ones `-K` may follow.
#[allow(clippy::unnecessary_cast)]
fn is_trusted_link(stat: &Stat) -> bool {
    let uid = stat.st_uid as u32;
    FileType::from_raw_mode(stat.st_mode) == FileType::Symlink
        && (uid == 0 || uid == rustix::process::geteuid().as_raw())
}

/// Why the walk could not enter `name`: a symlink gets a message of its own (with ELOOP, so
/// that [`Root::stat`] does not mistake it for absence), anything else the OS's reason.
fn walk_error(dir: &Dir, name: &[u8], shown: PathBuf, e: Errno) -> io::Error {
    if matches!(e, Errno::NOTDIR | Errno::LOOP) {
        if let Ok(stat) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                return explained(shown, Errno::LOOP.into(), SYMLINK_IN_PATH);
            }
        }
    }
    errno_at(shown, e)
}

/// A rename onto `shown` failed; a directory in the way gets a message that says so.
pub(crate) fn rename_error(shown: PathBuf, e: Errno) -> io::Error {
    match e {
        Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST => explained(
            shown,
            e.into(),
            "is a directory, so a file or symlink cannot replace it; remove it first",
        ),
        e => errno_at(shown, e),
    }
}

/// Nothing there: a missing component, or a file where a directory was expected.
fn is_absent(e: &io::Error) -> bool {
    let errno = crate::raw_os_error(e);
    errno == Some(Errno::NOENT.raw_os_error()) || errno == Some(Errno::NOTDIR.raw_os_error())
}

// The field types of `struct stat` differ between architectures (c_long here, i64 there), so
// these casts are no-ops on some targets and needed on others.
#[allow(clippy::unnecessary_cast)]
fn mtime_of(stat: &Stat) -> Mtime {
    Mtime {
        secs: stat.st_mtime as i64,
        nanos: stat.st_mtime_nsec as u32,
    }
}

#[allow(clippy::unnecessary_cast)]
fn size_of(stat: &Stat) -> u64 {
    stat.st_size as u64
}
