//! Where master control sockets live, and how a host's socket is named.
//!
//! A persistent master must be found again by the next run, so its socket name is derived from
//! everything that makes two connections interchangeable (user, host, port, ssh config file,
//! `-o` options). Unix socket paths are limited to 108 bytes, so the name is a short hash, not
//! the host name itself.
//!
//! Whoever can reach a control socket, or put one where we look for it, runs our commands
//! or reads their output: the folder must be ours alone. Without `$XDG_RUNTIME_DIR` and `$HOME`
//! it is a predictable name in the shared temp dir, which another user can create first, so
//! a folder that is already there is checked, never trusted (see [`ensure_private_dir`]).

use std::collections::hash_map::DefaultHasher;
use std::ffi::OsStr;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::config::Config;
use crate::target::Target;

/// `$XDG_RUNTIME_DIR/prtools`, else `~/.cache/prtools/ctl`, else `prtools-ctl-<uid>` in the
/// temp dir (`$TMPDIR`, else `/tmp`).
pub fn default_control_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(run).join("prtools");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".cache/prtools/ctl");
    }
    std::env::temp_dir().join(format!("prtools-ctl-{}", euid()))
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Why a control folder cannot be used; the message names the folder, the part of its path
/// at fault when that is a parent, and what to do.
#[derive(Debug)]
pub struct ControlDirError {
    folder: PathBuf,
    path: PathBuf,
    kind: Problem,
}

#[derive(Debug)]
enum Problem {
    Io(io::Error),
    Symlink,
    NotDir,
    Owner(u32),
    Mode(u32),
    SharedParent,
}

impl fmt::Display for ControlDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let folder = self.folder.display();
        let path = self.path.display();
        // "control folder F" or "P, a parent of control folder F,", as the subject.
        let what = if self.path == self.folder {
            format!("control folder {folder}")
        } else {
            format!("{path}, a parent of control folder {folder},")
        };
        const ELSEWHERE: &str = "hint: remove it, or set XDG_RUNTIME_DIR to a folder of your own";
        match &self.kind {
            Problem::Io(e) if self.path == self.folder => {
                write!(f, "cannot create control folder {folder}: {e}")
            }
            Problem::Io(e) => write!(f, "cannot create control folder {folder}: {path}: {e}"),
            Problem::Symlink => write!(f, "{what} is a symlink; {ELSEWHERE}"),
            Problem::NotDir => write!(f, "{what} is not a folder; {ELSEWHERE}"),
            Problem::Owner(uid) => write!(
                f,
                "{what} belongs to uid {uid}, not to you (uid {}); {ELSEWHERE}",
                euid()
            ),
            Problem::Mode(mode) => write!(
                f,
                "{what} is open to others (mode {mode:o}); hint: `chmod 700 {path}`"
            ),
            Problem::SharedParent => write!(
                f,
                "control folder {folder} would be in {path}, which others can write to and \
                 which is not sticky, so they could swap it; hint: set XDG_RUNTIME_DIR to a \
                 folder of your own"
            ),
        }
    }
}

impl std::error::Error for ControlDirError {}

/// Creates the control folder (and its missing parents) private to this user, and refuses
/// one that is not: whoever can reach a control socket can run commands as us on the host,
/// and whoever owns the folder can put a fake master in it.
///
/// The folder itself and every parent made here must be a real folder (not a symlink), owned
/// by our euid, with no access for group or others. Parents that were already there are the
/// user's own layout (`$HOME`, `$XDG_RUNTIME_DIR`, `/tmp`) and are taken as they are, symlinks
/// included, except inside a world-writable folder such as `/tmp`: there anyone can create a
/// name first, so what is there must be ours or root's and no symlink, and the world-writable
/// folder must be sticky, or others could rename our folder away after this check.
///
/// Each component is opened from its parent's descriptor and checked with `fstat` on what was
/// opened, so nothing can be swapped between the check and the open.
pub fn ensure_private_dir(dir: &Path) -> Result<(), ControlDirError> {
    let me = euid();
    let components: Vec<Component> = dir.components().collect();
    let last = components
        .iter()
        .rposition(|c| matches!(c, Component::Normal(_) | Component::ParentDir));
    let fail = |path: &Path, kind| ControlDirError {
        folder: dir.to_path_buf(),
        path: path.to_path_buf(),
        kind,
    };
    let path_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let (start, mut shown) = if dir.is_absolute() {
        ("/", PathBuf::from("/"))
    } else {
        (".", PathBuf::new())
    };
    let mut at = rustix::fs::open(start, path_flags, Mode::empty())
        .map_err(|e| fail(Path::new(start), Problem::Io(e.into())))?;
    // The mode of the folder we are in: if others can write to it, what is in it may be theirs.
    let mut parent_mode = rustix::fs::fstat(&at)
        .map_err(|e| fail(Path::new(start), Problem::Io(e.into())))?
        .st_mode;
    for (i, &component) in components.iter().enumerate() {
        let name: &OsStr = match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => OsStr::new(".."),
            Component::Normal(name) => name,
        };
        shown.push(component);
        let parent = &at;
        let shared = parent_mode & 0o002 != 0;
        // Others can rename anything in such a folder, our path included, after this check.
        if shared && parent_mode & 0o1000 == 0 {
            let mut folder = shown.clone();
            folder.pop();
            return Err(fail(&folder, Problem::SharedParent));
        }
        let created = match rustix::fs::statat(parent, name.as_bytes(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => false,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(parent, name.as_bytes(), Mode::from_raw_mode(0o700)) {
                    Ok(()) => true,
                    Err(Errno::EXIST) => false,
                    Err(e) => return Err(fail(&shown, Problem::Io(e.into()))),
                }
            }
            Err(e) => return Err(fail(&shown, Problem::Io(e.into()))),
        };
        let is_last = Some(i) == last;
        // Ours alone: the folder itself and what this call made.
        let private = created || is_last;
        let checked = private || shared;
        let flags = if checked {
            path_flags | OFlags::NOFOLLOW
        } else {
            path_flags
        };
        let fd =
            rustix::fs::openat(parent, name.as_bytes(), flags, Mode::empty()).map_err(|e| {
                let link = rustix::fs::statat(parent, name.as_bytes(), AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                match e {
                    _ if checked && link => fail(&shown, Problem::Symlink),
                    Errno::NOTDIR => fail(&shown, Problem::NotDir),
                    e => fail(&shown, Problem::Io(e.into())),
                }
            })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| fail(&shown, Problem::Io(e.into())))?;
        if checked {
            let owner = stat.st_uid;
            if owner != me && (private || owner != 0) {
                return Err(fail(&shown, Problem::Owner(owner)));
            }
            if private && stat.st_mode & 0o077 != 0 {
                return Err(fail(&shown, Problem::Mode(stat.st_mode & 0o7777)));
            }
        }
        parent_mode = stat.st_mode;
        at = fd;
    }
    Ok(())
}

/// The socket a persistent master for `target` listens on, shared by every run.
pub fn shared_socket(config: &Config, target: &Target) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    target.user(config).hash(&mut hasher);
    target.spec.host.hash(&mut hasher);
    target.port(config).hash(&mut hasher);
    config.ssh_config.hash(&mut hasher);
    config.ssh_options.hash(&mut hasher);
    config.control_dir.join(format!("{:016x}", hasher.finish()))
}

/// A socket for a master that lives only as long as this run, so that two runs at once
/// never close each other's connection.
pub fn private_socket(config: &Config, target: &Target) -> PathBuf {
    config
        .control_dir
        .join(format!("r{}-{}", std::process::id(), target.rank))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A fresh folder for one test, removed when the test ends (also when it fails).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, mode: u32) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("prtools-control-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_folder_and_the_parents_made_for_it_are_private() {
        let base = Scratch::new("made", 0o755);
        let dir = base.0.join("cache/prtools/ctl");
        ensure_private_dir(&dir).unwrap();
        for made in ["cache", "cache/prtools", "cache/prtools/ctl"] {
            assert_eq!(mode(&base.0.join(made)), 0o700, "{made}");
        }
        // The second run finds it as the first left it.
        ensure_private_dir(&dir).unwrap();
    }

    #[test]
    fn a_folder_someone_else_made_in_a_shared_folder_is_refused() {
        let tmp = Scratch::new("planted", 0o1777);
        let dir = tmp.0.join("prtools-ctl-0");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(4242), Some(4242)).unwrap();
        let e = ensure_private_dir(&dir).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "control folder {} belongs to uid 4242, not to you (uid {}); hint: remove it, \
                 or set XDG_RUNTIME_DIR to a folder of your own",
                dir.display(),
                euid()
            )
        );
        // A parent someone else made there is refused as well, before anything is made in it.
        let parent = tmp.0.join("theirs");
        std::fs::create_dir(&parent).unwrap();
        std::os::unix::fs::chown(&parent, Some(4242), Some(4242)).unwrap();
        let e = ensure_private_dir(&parent.join("ctl"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "{}, a parent of control folder {}, belongs to uid 4242",
                parent.display(),
                parent.join("ctl").display()
            )),
            "{e}"
        );
        assert!(!parent.join("ctl").exists());
    }

    #[test]
    fn a_symlink_in_place_of_the_folder_is_refused() {
        let tmp = Scratch::new("link", 0o1777);
        let target = tmp.0.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = tmp.0.join("prtools-ctl-0");
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let e = ensure_private_dir(&dir).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "control folder {} is a symlink; hint:",
                dir.display()
            )),
            "{e}"
        );
        // Made by this call below a symlinked parent: refused the same way.
        let e = ensure_private_dir(&dir.join("sub"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a symlink"), "{e}");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_of_ours_open_to_others_is_refused_and_left_as_it_is() {
        let base = Scratch::new("open", 0o755);
        let dir = base.0.join("ctl");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&dir).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "control folder {0} is open to others (mode 755); hint: `chmod 700 {0}`",
                dir.display()
            )
        );
        assert_eq!(mode(&dir), 0o755);
    }

    #[test]
    fn a_world_writable_parent_without_the_sticky_bit_is_refused() {
        let tmp = Scratch::new("unsticky", 0o777);
        let e = ensure_private_dir(&tmp.0.join("ctl"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "control folder {} would be in {}, which others can write to and which is not \
                 sticky",
                tmp.0.join("ctl").display(),
                tmp.0.display()
            )),
            "{e}"
        );
        assert!(!tmp.0.join("ctl").exists());
    }

    #[test]
    fn the_users_own_symlinked_parents_are_followed() {
        let base = Scratch::new("layout", 0o755);
        std::fs::create_dir(base.0.join("real")).unwrap();
        std::os::unix::fs::symlink("real", base.0.join("home")).unwrap();
        ensure_private_dir(&base.0.join("home/.cache/prtools/ctl")).unwrap();
        assert_eq!(mode(&base.0.join("real/.cache/prtools/ctl")), 0o700);
    }
}
