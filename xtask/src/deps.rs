//! `cargo xtask deps [cluster|tests]`: the system programs the test cluster and the tests need,
//! installed when missing.
//!
//! This is the one list of them: `cargo xtask demo` and `cargo xtask cluster up` install the
//! cluster's part before they start hosts, and `.ci/run` runs `cargo xtask deps tests` before
//! the tests, so a fresh machine gets the same packages whichever a newcomer runs first.
//! As root on a machine with apt-get they are installed; elsewhere the task stops with one line
//! that names the packages and the command that installs them.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// Which work needs a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Starting test hosts: `cargo xtask demo`, `cargo xtask cluster up`, every cluster test.
    Cluster,
    /// The tests, which also compare against the peer tools.
    Tests,
}

/// A program, and the Debian package that provides it.
struct Program {
    /// A command name looked up in `PATH`, or an absolute path.
    command: &'static str,
    package: &'static str,
    need: Need,
}

const PROGRAMS: &[Program] = &[
    // The test hosts: sshd in namespaces, keys made by ssh-keygen, reached by ssh.
    Program {
        command: prtools_testcluster::SSHD,
        package: "openssh-server",
        need: Need::Cluster,
    },
    Program {
        command: "ssh",
        package: "openssh-client",
        need: Need::Cluster,
    },
    Program {
        command: "ssh-keygen",
        package: "openssh-client",
        need: Need::Cluster,
    },
    Program {
        command: "unshare",
        package: "util-linux",
        need: Need::Cluster,
    },
    Program {
        command: "mount",
        package: "mount",
        need: Need::Cluster,
    },
    Program {
        command: "hostname",
        package: "hostname",
        need: Need::Cluster,
    },
    // prsync's -A links libacl (the exacl crate); xtask itself is built without it, so that
    // it can install this before the tools are built.
    Program {
        command: "/usr/include/acl/libacl.h",
        package: "libacl1-dev",
        need: Need::Cluster,
    },
    // The peers the tests compare against.
    Program {
        command: "pdsh",
        package: "pdsh",
        need: Need::Tests,
    },
    Program {
        command: "parallel-ssh",
        package: "pssh",
        need: Need::Tests,
    },
    Program {
        command: "clush",
        package: "clustershell",
        need: Need::Tests,
    },
    Program {
        command: "rsync",
        package: "rsync",
        need: Need::Tests,
    },
    Program {
        command: "grepmail",
        package: "grepmail",
        need: Need::Tests,
    },
    // prsync's no-op test counts its system calls.
    Program {
        command: "strace",
        package: "strace",
        need: Need::Tests,
    },
    // The locale sources (en_US, tr_TR) that pgrep-mail's grep comparison builds with
    // localedef; locale-gen comes in the same package.
    Program {
        command: "locale-gen",
        package: "locales",
        need: Need::Tests,
    },
];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let need = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["tests"] => Need::Tests,
        ["cluster"] => Need::Cluster,
        _ => bail!("usage: cargo xtask deps [cluster|tests]"),
    };
    let missing = ensure(need)?;
    if missing.is_empty() {
        println!(
            "the {} have what they need: {}",
            describe(need),
            packages(need).join(" ")
        );
    }
    Ok(())
}

fn describe(need: Need) -> &'static str {
    match need {
        Need::Cluster => "test hosts",
        Need::Tests => "tests",
    }
}

/// The programs `need` asks for: the tests need the cluster too.
fn programs(need: Need) -> impl Iterator<Item = &'static Program> {
    PROGRAMS
        .iter()
        .filter(move |p| need == Need::Tests || p.need == Need::Cluster)
}

/// The packages `need` asks for, in list order, each once.
pub fn packages(need: Need) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for program in programs(need) {
        if !packages.contains(&program.package) {
            packages.push(program.package);
        }
    }
    packages
}

/// Installs the packages of `need` whose programs are missing; returns them.
pub fn ensure(need: Need) -> anyhow::Result<Vec<&'static str>> {
    let mut missing: Vec<&'static str> = Vec::new();
    for program in programs(need) {
        if !found(program.command) && !missing.contains(&program.package) {
            missing.push(program.package);
        }
    }
    if missing.is_empty() {
        return Ok(missing);
    }
    let list = missing.join(" ");
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !found("apt-get") {
        bail!(
            "the {} need {list}, which are missing\nhint: install them with your package \
             manager, then run this again",
            describe(need)
        );
    }
    if !root {
        bail!(
            "the {} need {list}, which are missing\nhint: run `sudo apt-get install {list}`, \
             then this again",
            describe(need)
        );
    }
    println!("xtask: installing {list} (apt-get)");
    apt_get(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt_get(&install)?;
    if let Some(program) = PROGRAMS
        .iter()
        .find(|p| missing.contains(&p.package) && !found(p.command))
    {
        bail!(
            "{} is still missing after installing {}\nhint: check `apt-get install {}`",
            program.command,
            program.package,
            program.package
        );
    }
    Ok(missing)
}

fn apt_get(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("`apt-get {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `command` (a path, or a name looked up in `PATH` and the sbin folders, which a
/// non-login root shell may lack) is an executable file; a header file, named by its path,
/// need only be there.
fn found(command: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.ends_with(".h") {
        return Path::new(command).is_file();
    }
    if command.contains('/') {
        return executable(Path::new(command));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(Into::into))
        .any(|dir| executable(&dir.join(command)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.ci/run` must take its packages from this list, not keep one of its own that could
    /// drift from what the demo installs.
    #[test]
    fn ci_installs_through_this_list() {
        let ci = std::fs::read_to_string(crate::workspace_root().join(".ci/run")).unwrap();
        assert!(
            ci.lines().any(|l| l.trim() == "cargo xtask deps tests"),
            ".ci/run must run `cargo xtask deps tests`:\n{ci}"
        );
        for package in packages(Need::Tests) {
            assert!(
                !ci.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
                    .any(|word| word == package),
                ".ci/run names the package {package} itself; the list lives in xtask/src/deps.rs"
            );
        }
        assert!(!ci.contains("apt-get"), ".ci/run runs apt-get itself");
    }

    #[test]
    fn tests_need_the_cluster_too() {
        let cluster = packages(Need::Cluster);
        let tests = packages(Need::Tests);
        assert!(cluster.contains(&"openssh-server"));
        assert!(cluster.iter().all(|p| tests.contains(p)));
        assert!(tests.contains(&"pdsh") && !cluster.contains(&"pdsh"));
    }

    #[test]
    fn finds_programs() {
        assert!(found("sh"));
        assert!(found("/bin/sh"));
        assert!(!found("prtools-no-such-program"));
    }
}
