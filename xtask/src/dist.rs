//! `cargo xtask dist`: a release tarball with the five tools, their man pages, shell
//! completions (bash, zsh, fish, from the same clap definitions), the README and the
//! LICENSE, in `target/dist/`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use clap_complete::Shell;

/// The shells completions are made for, and where each file goes in the tarball.
const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "completions/bash"),
    (Shell::Zsh, "completions/zsh"),
    (Shell::Fish, "completions/fish"),
];

/// Builds the release binaries and packs the tarball; prints its path.
pub fn run() -> Result<()> {
    let tools = crate::man::tools();
    let mut build = vec!["build", "--release", "--bins"];
    for (name, _) in &tools {
        build.extend(["-p", name]);
    }
    crate::cargo(&build)?;
    let root = crate::workspace_root();
    let name = format!(
        "prtools-{}-{}-linux",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    let dist = crate::target_dir().join("dist");
    let stage = dist.join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(stage.join("bin"))?;
    std::fs::create_dir_all(stage.join("man/man1"))?;
    for (tool, _) in &tools {
        copy(
            &crate::target_dir().join("release").join(tool),
            &stage.join("bin").join(tool),
        )?;
        let page = format!("{tool}.1");
        copy(
            &root.join("man").join(&page),
            &stage.join("man/man1").join(&page),
        )?;
    }
    write_completions(&stage)?;
    for doc in ["README.md", "LICENSE"] {
        copy(&root.join(doc), &stage.join(doc))?;
    }
    let tarball = dist.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&dist)
        .arg(&name)
        .status()
        .context("running tar")?;
    anyhow::ensure!(status.success(), "tar failed to pack {}", stage.display());
    println!("wrote {}", tarball.display());
    Ok(())
}

/// Writes every tool's completion script for every shell below `stage`.
pub fn write_completions(stage: &Path) -> Result<()> {
    for (shell, dir) in SHELLS {
        let dir = stage.join(dir);
        std::fs::create_dir_all(&dir)?;
        for (tool, mut command) in crate::man::tools() {
            let file = match shell {
                Shell::Zsh => format!("_{tool}"),
                Shell::Fish => format!("{tool}.fish"),
                _ => tool.to_string(),
            };
            let mut out = std::fs::File::create(dir.join(&file))
                .with_context(|| format!("writing {}", dir.join(&file).display()))?;
            clap_complete::generate(shell, &mut command, tool, &mut out);
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(drop)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_gets_a_completion_script_for_every_shell() {
        let stage = std::env::temp_dir().join(format!("prtools-dist-{}", std::process::id()));
        write_completions(&stage).unwrap();
        for tool in ["prsh", "prcp", "prsync", "prdist", "pgrep-mail"] {
            let bash = std::fs::read_to_string(stage.join("completions/bash").join(tool)).unwrap();
            assert!(bash.contains(tool), "{tool}");
            let zsh =
                std::fs::read_to_string(stage.join(format!("completions/zsh/_{tool}"))).unwrap();
            assert!(zsh.starts_with(&format!("#compdef {tool}")), "{tool}");
            let fish = std::fs::read_to_string(stage.join(format!("completions/fish/{tool}.fish")))
                .unwrap();
            assert!(fish.contains("complete -c"), "{tool}");
        }
        // Flags each tool is known for are offered.
        let prsync = std::fs::read_to_string(stage.join("completions/bash/prsync")).unwrap();
        assert!(prsync.contains("--delete") && prsync.contains("--hosts"));
        std::fs::remove_dir_all(&stage).unwrap();
    }
}
