//! Every tool a benchmark times runs in an empty folder of its own, never in the workspace.
//!
//! Issue 12 found an empty file named `default` in the workspace after 16-host benchmarks,
//! and no run of any contender's command line under strace or inotify wrote it again. Running
//! each tool elsewhere keeps whatever a tool (ours or a peer) drops in its working folder out
//! of the checkout, and naming what it left says which tool it was, if it happens again.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

/// The folder: one per benchmark process, below the target folder.
fn folder() -> Result<PathBuf> {
    let dir = crate::target_dir()
        .join("bench-cwd")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Points `cmd` at the empty folder, unless the benchmark chose its own.
pub fn enter(cmd: &mut Command) -> Result<()> {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(folder()?);
    }
    Ok(())
}

/// After `cmd` ran: names on stderr what it left in the folder, and removes it, so that the
/// next tool starts in an empty folder again.
pub fn leave(cmd: &Command) -> Result<()> {
    let dir = folder()?;
    if cmd.get_current_dir() != Some(dir.as_path()) {
        return Ok(());
    }
    let mut left: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        left.push(entry.file_name().to_string_lossy().into_owned());
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    if !left.is_empty() {
        left.sort();
        eprintln!(
            "note: {:?} wrote {} into its working folder (removed)",
            cmd.get_program(),
            left.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_runs_outside_the_workspace_and_what_it_drops_is_removed() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", ": > default; pwd"]);
        enter(&mut cmd).unwrap();
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        let cwd = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert_eq!(cwd, folder().unwrap().canonicalize().unwrap());
        assert!(cwd.join("default").exists());
        leave(&cmd).unwrap();
        assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
        assert!(!crate::workspace_root().join("default").exists());
    }
}
