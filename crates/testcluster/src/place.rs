//! Where a cluster's files can live, wherever the checkout is.
//!
//! A cluster's folder must meet two conditions that a newcomer's checkout may not:
//!
//! - **Not under `/tmp`.** Every node mounts its own folder over `/tmp`, which would hide the
//!   cluster's keys and configs from its sshd. A clone in `/tmp/prtools` is common.
//! - **Reachable by every user.** sshd reads `authorized_keys` as the user who logs in, and the
//!   tests log in as `nobody` too. A clone in root's home (`/root` is 0700 on Debian) hides
//!   the keys from `nobody`.
//!
//! Where the folder the caller prefers (`target/tc`, `target/cluster`) fails either, the
//! cluster lives in `/var/tmp/prtools-tc-HASH` instead, `HASH` naming the preferred
//! folder, so that each checkout keeps its own clusters and finds them again.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where clusters go whose preferred folder cannot hold them.
const FALLBACK_PARENT: &str = "/var/tmp";

/// Why a preferred folder cannot hold a cluster; `None` when it can.
pub(crate) fn unfit(dir: &Path) -> io::Result<Option<String>> {
    let dir = resolve(dir)?;
    if dir.starts_with("/tmp") {
        return Ok(Some(format!(
            "{} is under /tmp, which every node hides behind its own /tmp",
            dir.display()
        )));
    }
    // Only what exists can bar the way; what is missing is created world-readable.
    for ancestor in dir.ancestors() {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        if meta.mode() & 0o001 == 0 {
            return Ok(Some(format!(
                "{} is mode {:o}, so sshd cannot read the cluster's keys there as another user",
                ancestor.display(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(None)
}

/// The folder that holds the clusters meant for `preferred`: `preferred` itself when it can
/// (see the module docs), else a folder of ours under `/var/tmp`, created if need be.
pub fn home_for(preferred: &Path) -> io::Result<PathBuf> {
    if unfit(preferred)?.is_none() {
        return Ok(preferred.to_path_buf());
    }
    let resolved = resolve(preferred)?;
    let mut hasher = DefaultHasher::new();
    resolved.hash(&mut hasher);
    // Short: ssh's control sockets end up a few folders below, and a Unix socket's path may
    // not pass 107 bytes.
    let name = format!("prtools-tc-{:08x}", hasher.finish() as u32);
    let home = Path::new(FALLBACK_PARENT).join(name);
    if let Some(why) = unfit(&home)? {
        return Err(io::Error::other(format!(
            "no place for a test cluster: {why}\nhint: clone prtools outside /tmp, in a folder \
             other users can enter"
        )));
    }
    claim(&home)?;
    Ok(home)
}

/// Makes `dir` in a world-writable parent, or checks that the one there is ours: anyone could
/// have made it first, and whoever owns it could log in to the nodes as root.
fn claim(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", dir.display()),
            ))
        }
    }
    let meta = fs::symlink_metadata(dir)?;
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a folder of ours (owner uid {}, mode {:o}); refusing to keep test \
                 hosts' keys there\nhint: remove it, then start again",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    // A umask of 077 would have made it 0700; `nobody` must enter it.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
}

/// `dir` made absolute with every symbolic link in it resolved, as far as it exists.
fn resolve(dir: &Path) -> io::Result<PathBuf> {
    let dir = std::path::absolute(dir)?;
    let mut rest = Vec::new();
    let mut existing = dir.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Ok(rest.iter().rev().fold(real, |path, part| path.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_keeps_what_does_not_exist() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let resolved = resolve(&here.join("no/such/folder")).unwrap();
        assert_eq!(
            resolved,
            here.canonicalize().unwrap().join("no/such/folder")
        );
    }

    #[test]
    fn tmp_is_unfit() {
        let why = unfit(Path::new("/tmp/prtools/target/tc")).unwrap().unwrap();
        assert!(why.contains("under /tmp"), "{why}");
    }
}
