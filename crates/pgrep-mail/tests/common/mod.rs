//! What the pgrep-mail test files share: a fresh folder per test and the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fresh, empty folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pgrep-mail-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// pgrep-mail run in `dir`, with no colour, no `$MAILDIR` and nothing on stdin.
pub fn pgrep_mail(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgrep-mail"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MAILDIR")
        .stdin(Stdio::null());
    cmd
}
