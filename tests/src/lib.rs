//! The harness for end-to-end tests: the real binaries, a real test cluster, and a private
//! folder per test.
//!
//! Each test starts its own cluster ([`Cluster::start_temp`]) and gets commands for the built
//! tools with that cluster's ssh config and a control-socket folder of its own, so tests that
//! run at the same time share no ports, sockets or files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use prtools_testcluster::Cluster;
pub use user::LocalUser;

pub mod rsync_server;
pub mod rsync_wire;
pub mod shrink;
mod user;
pub mod wire_compare;

/// Every tool, as its binary and its package are named.
pub const TOOLS: [&str; 5] = ["prsh", "prcp", "prsync", "prdist", "pgrep-mail"];

/// The folder holding the built binaries: the test executable lives in `target/<profile>/deps`.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// Builds the tools once per test process, so a test never runs a stale binary even when
/// only this package was asked for (`cargo test -p prtools-tests`).
fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let release = bin_dir().ends_with("release");
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--bins"]);
        for tool in TOOLS {
            build.args(["-p", tool]);
        }
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the tools failed");
    });
}

/// The path of a built tool, e.g. `bin("prsh")`.
pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    bin_dir().join(name)
}

/// A test's cluster plus a client-side folder for control sockets and output files.
pub struct TestCluster {
    /// The running test hosts.
    pub cluster: Cluster,
    client: PathBuf,
}

impl TestCluster {
    /// Starts `n` hosts for one test.
    pub fn start(n: usize) -> TestCluster {
        TestCluster::around(Cluster::start_temp(n).expect("the test cluster starts"))
    }

    /// Starts one host of each kind in `kinds` for one test (see `Cluster::start_temp_with`).
    pub fn start_with(kinds: &[prtools_testcluster::NodeKind]) -> TestCluster {
        TestCluster::around(Cluster::start_temp_with(kinds).expect("the test cluster starts"))
    }

    fn around(cluster: Cluster) -> TestCluster {
        let client = cluster.dir().join("client");
        std::fs::create_dir_all(&client).expect("client folder");
        TestCluster { cluster, client }
    }

    /// A folder private to this test, outside /tmp.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.client.join(name);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    /// `local` as the hosts see it: itself, unless it is under `/tmp`, which every node hides
    /// behind its own (a checkout in `/tmp`); then a copy in the cluster's folder, made once.
    /// For scripts that run a built tool on a host.
    pub fn host_path(&self, local: &Path) -> PathBuf {
        let real = local.canonicalize().unwrap_or_else(|_| local.to_path_buf());
        if !real.starts_with("/tmp") {
            return local.to_path_buf();
        }
        let dir = self.client.join("from-tmp");
        std::fs::create_dir_all(&dir).expect("folder for copies");
        let copy = dir.join(local.file_name().expect("a file"));
        if !copy.exists() {
            // Beside, then renamed: tests in parallel threads may ask for the same file.
            let part = dir.join(format!(
                ".{}.{:?}",
                copy.file_name().unwrap().to_string_lossy(),
                std::thread::current().id()
            ));
            std::fs::copy(&real, &part).expect("copy of a file under /tmp");
            std::fs::rename(&part, &copy).expect("copy of a file under /tmp");
        }
        copy
    }

    /// Where this test's tools keep their ssh control sockets (`$XDG_RUNTIME_DIR/prtools`).
    pub fn control_dir(&self) -> PathBuf {
        self.client.join("prtools")
    }

    /// `prsync` reaching this cluster the rsync way, through `-e 'ssh -F CONFIG'` (its `-F` is
    /// rsync's filter flag), with its own control-socket folder.
    pub fn prsync(&self) -> Command {
        let mut cmd = Command::new(bin("prsync"));
        cmd.arg("-e")
            .arg(format!("ssh -F {}", self.cluster.ssh_config().display()));
        self.isolate(&mut cmd);
        cmd
    }

    /// `tool` with this cluster's ssh config and its own control-socket folder.
    pub fn tool(&self, tool: &str) -> Command {
        let mut cmd = Command::new(bin(tool));
        cmd.arg("-F").arg(self.cluster.ssh_config());
        self.isolate(&mut cmd);
        cmd
    }

    /// Points a command's control sockets and colour at this test's own settings.
    pub fn isolate(&self, cmd: &mut Command) {
        cmd.env("XDG_RUNTIME_DIR", &self.client)
            .env_remove("PRTOOLS_PERSIST")
            .env_remove("WCOLL")
            .env("NO_COLOR", "1");
    }

    /// `pdsh -R ssh` reaching the same hosts, for comparisons.
    pub fn pdsh(&self) -> Command {
        let mut cmd = Command::new("pdsh");
        cmd.env("PDSH_RCMD_TYPE", "ssh").env(
            "PDSH_SSH_ARGS_APPEND",
            format!("-F {}", self.cluster.ssh_config().display()),
        );
        cmd
    }
}

/// The names in a folder, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A copy of the built `tool` in `dir` with bytes of its own appended: its hash is new, so
/// its agent cache folder on the hosts is empty whatever other tests have uploaded (the
/// hosts share /root with this machine). Remove it after with [`remove_agent_cache`].
/// It is written as [`write_executable`] writes.
pub fn unique_copy(dir: &Path, tool: &str) -> PathBuf {
    static COPIES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let copy = dir.join(tool);
    let unique = format!(
        "{}-{}-{:?}",
        std::process::id(),
        COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
    );
    let mut bytes = std::fs::read(bin(tool)).expect("the built tool");
    bytes.extend_from_slice(unique.as_bytes());
    write_executable(&copy, &bytes);
    copy
}

/// Writes `bytes` to `path` as an executable (mode 755) that can be started at once.
///
/// A child process writes it: a file this test process held open for writing would be
/// inherited by any child another test thread forks meanwhile, and starting it would then
/// fail with "Text file busy" until that child execs.
pub fn write_executable(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", r#"cat > "$1" && chmod 755 "$1""#, "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let mut stdin = child.stdin.take().expect("a pipe");
    stdin.write_all(bytes).expect("writing to sh");
    drop(stdin);
    let status = child.wait().expect("sh");
    assert!(status.success(), "writing {}", path.display());
}

/// Removes the cache folder (under the shared /root) a [`unique_copy`] was uploaded to.
pub fn remove_agent_cache(exe: &Path) {
    let Some(name) = exe.file_name() else { return };
    let bytes = std::fs::read(exe).expect("the copy");
    let Ok(entries) = std::fs::read_dir("/root/.cache/prtools") else {
        return;
    };
    for entry in entries.flatten() {
        let candidate = entry.path().join(name);
        if std::fs::read(&candidate).ok().as_deref() == Some(&bytes[..]) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Output as text, for assertions.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command and returns its output, stdin closed.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .expect("the command starts")
}

/// Starts a command to be interrupted or cut off mid-run: stdin closed, its output kept for
/// `wait_with_output`.
pub fn spawn(cmd: &mut Command) -> std::process::Child {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts")
}

/// Starts `cmd` with the open-file limit `soft`, as `ulimit -n` (or `prlimit --nofile`) in
/// the user's shell would, and with the hard limit `hard` when given (else the current one;
/// `soft` is capped at whichever applies).
pub fn limit_open_files(cmd: &mut Command, soft: u64, hard: Option<u64>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; getrlimit and
    // setrlimit are plain system calls on a struct on this stack.
    unsafe {
        cmd.pre_exec(move || {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_max = hard.unwrap_or(limit.rlim_max);
            limit.rlim_cur = soft.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Asserts equality and, when it fails, prints both sides whole, one under the other.
#[macro_export]
macro_rules! assert_text_eq {
    ($expected:expr, $got:expr) => {{
        let (expected, got) = (&$expected, &$got);
        if expected != got {
            panic!("\nexpected:\n{expected}\ngot:\n{got}\n");
        }
    }};
}

/// Runs a tool with bad input and returns its exit status and stderr. stdin is closed and
/// WCOLL unset, so nothing but the arguments can select hosts.
pub fn run_refused(exe: &Path, args: &[&str], home: &Path) -> (i32, String) {
    let out = Command::new(exe)
        .args(args)
        .env_remove("WCOLL")
        .env("HOME", home)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the tool runs");
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

/// Asserts that `stderr` is the one line `TOOL: ...` naming `needle`, and no panic.
pub fn assert_one_line_error(tool: &str, stderr: &str, needle: &str) {
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line expected, got:\n{stderr}"
    );
    assert!(stderr.starts_with(&format!("{tool}: ")), "{stderr}");
    assert!(stderr.contains(needle), "'{needle}' not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Everything about a tree that a copy keeping attributes must keep, one sorted line an entry:
/// path, kind, permission bits, size, mtime to the nanosecond, a content hash, link targets.
pub fn describe(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    std::fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/ {:o}", meta.mode() & 0o7777));
                stack.push(path);
            } else {
                let hash = std::fs::read(&path).unwrap().iter().fold(0u64, |h, &b| {
                    h.wrapping_mul(1_000_003).wrapping_add(u64::from(b))
                });
                out.push(format!(
                    "{rel} {:o} {} {}.{:09} {hash:x}",
                    meta.mode() & 0o7777,
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ));
            }
        }
    }
    out.sort();
    out
}

/// Waits until a temp file whose name starts with `prefix` holds at least `bytes` bytes in
/// `dir` (a node's folder seen from here): the host is mid-transfer.
pub fn wait_for_temp_file(dir: &Path, prefix: &str, bytes: u64) {
    assert!(
        temp_file_appears(dir, prefix, bytes),
        "{} never started writing",
        dir.display()
    );
}

/// [`wait_for_temp_file`] that says whether the file came within two minutes instead of
/// failing, so that the caller can say why it did not (what the tool printed).
pub fn temp_file_appears(dir: &Path, prefix: &str, bytes: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_dir(dir).unwrap().any(|e| {
        let e = e.unwrap();
        e.file_name().to_string_lossy().starts_with(prefix)
            && e.metadata().is_ok_and(|m| m.len() >= bytes)
    }) {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        // A poll interval while an external condition comes true, not a synchronisation.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}
