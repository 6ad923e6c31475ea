//! Where master control sockets live, and how a host's socket is named.
//!
//! A persistent master must be found again by the next run, so its socket name is derived from
//! everything that makes two connections interchangeable (user, host, port, ssh config file,
//! `-o` options). Unix socket paths are limited to 108 bytes, so the name is a short hash, not
//! the host name itself.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::target::Target;

/// `$XDG_RUNTIME_DIR/prtools`, else `~/.cache/prtools/ctl`, else a folder beside the temp dir.
pub fn default_control_dir() -> PathBuf {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(run).join("prtools");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".cache/prtools/ctl");
    }
    std::env::temp_dir().join(format!("prtools-ctl-{}", current_uid()))
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Creates the control folder, private to this user, and refuses one that others can enter:
/// whoever can reach a control socket can run commands as us on the remote host.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
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
