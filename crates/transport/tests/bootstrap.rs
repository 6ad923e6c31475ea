//! Placing the agent on real hosts: upload once, reuse after, never trust a bad copy.
//!
//! Every test uses a version string of its own, so its cache folder under the (shared, real)
//! home folder is its own too, and removes that folder when it ends, pass or fail.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prtools_hostlist::HostSpec;
use prtools_testcluster::Cluster;
use prtools_transport::{
    ensure_agent, start_agent, AgentOptions, Config, Connection, HostError, KillHandle, LocalAgent,
    Placement, Target,
};

/// A test's cluster, its agent executable and the cache folder that agent lands in.
struct Setup {
    cluster: Cluster,
    agent: LocalAgent,
    /// The agent's cache folder on the hosts (their home folder is this machine's).
    cache: PathBuf,
}

impl Setup {
    /// Two hosts and a copy of `/bin/true` posing as prcp of a version no other test uses.
    fn start(name: &str) -> Setup {
        let cluster = Cluster::start_temp(2).expect("the test cluster starts");
        let exe = cluster.dir().join("agent-exe");
        fs::copy("/bin/true", &exe).unwrap();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let version = format!("test-{name}-{}-{nanos}", std::process::id());
        let agent = LocalAgent::from_file(&exe, "prcp", &version).unwrap();
        let home = remote_home(&cluster);
        let cache = home
            .join(".cache/prtools")
            .join(format!("{version}-{}", &agent.sha256_hex[..16]));
        Setup {
            cluster,
            agent,
            cache,
        }
    }

    fn config(&self) -> Config {
        Config {
            ssh_config: Some(self.cluster.ssh_config().to_path_buf()),
            control_dir: self.cluster.dir().join("ctl"),
            ..Config::default()
        }
    }

    /// Runs `ensure_agent` on `node` over a fresh connection.
    fn ensure(
        &self,
        node: usize,
        agent: &LocalAgent,
        options: &AgentOptions,
    ) -> Result<(String, Placement), HostError> {
        block_on(async {
            let conn = connect(self, node).await;
            let result = ensure_agent(&conn, agent, options).await;
            conn.close().await;
            result
        })
    }

    /// Runs `start_agent` on `node` over a fresh connection, waits for the agent (a copy of
    /// `true`) and returns how it was placed and its exit status.
    fn start_on(&self, node: usize) -> Result<(Placement, i32), HostError> {
        block_on(async {
            let conn = connect(self, node).await;
            let kill = KillHandle::default();
            let result = start_agent(&conn, &self.agent, &AgentOptions::default(), &kill).await;
            let result = match result {
                Ok(started) => Ok((started.placement, started.process.wait().await?)),
                Err(e) => Err(e),
            };
            conn.close().await;
            result
        })
    }

    fn installed(&self) -> PathBuf {
        self.cache.join("prcp")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.cache);
    }
}

async fn connect(setup: &Setup, node: usize) -> Connection {
    let target = Target::new(HostSpec::new(format!("node{node}")), node - 1);
    Connection::open(&target, &setup.config())
        .await
        .expect("the node is reachable")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `$HOME` as the nodes see it.
fn remote_home(cluster: &Cluster) -> PathBuf {
    let out = cluster.ssh(1).arg("printf %s \"$HOME\"").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    PathBuf::from(String::from_utf8(out.stdout).unwrap())
}

/// Runs `command` on `node` and returns its stdout; it must succeed.
fn ssh_ok(cluster: &Cluster, node: usize, command: &str) -> String {
    let out = cluster.ssh(node).arg(command).output().unwrap();
    assert!(
        out.status.success(),
        "`{command}` failed on node{node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The agent in place: executable, with the right bytes, and no temp files beside it.
fn assert_installed(setup: &Setup) {
    let installed = setup.installed();
    assert_eq!(sha256_of(&installed), setup.agent.sha256_hex);
    let mode = fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let names: Vec<_> = fs::read_dir(&setup.cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names: Vec<_> = names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["prcp", "prcp.seal"], "temp files left behind");
}

/// The error message of a failed `ensure_agent`.
fn message(result: Result<(String, Placement), HostError>) -> String {
    match result {
        Ok(ok) => panic!("expected an error, got {ok:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn uploads_once_then_reuses() {
    let setup = Setup::start("reuse");
    let options = AgentOptions::default();
    let (path, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);
    assert_eq!(path, format!("'{}'", setup.installed().display()));
    assert_installed(&setup);
    // The path is ready to paste into a command line, and runs.
    assert_eq!(
        ssh_ok(&setup.cluster, 1, &format!("{path} --server && echo ran")),
        "ran\n"
    );

    let (again, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Cached);
    assert_eq!(again, path);
    // node2 shares the home folder, so it finds the same copy.
    let (_, placement) = setup.ensure(2, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Cached);
}

#[test]
fn concurrent_uploads_to_a_shared_home() {
    let setup = Setup::start("race");
    let options = AgentOptions::default();
    let placements = block_on(async {
        let (one, two) = tokio::join!(connect(&setup, 1), connect(&setup, 2));
        let results = tokio::join!(
            ensure_agent(&one, &setup.agent, &options),
            ensure_agent(&two, &setup.agent, &options),
        );
        one.close().await;
        two.close().await;
        [results.0.unwrap().1, results.1.unwrap().1]
    });
    // Both checked before either finished, or one found the other's copy: either way no
    // host failed and one whole copy is in place.
    assert!(placements.contains(&Placement::Uploaded), "{placements:?}");
    assert_installed(&setup);
}

#[test]
fn corrupted_copy_is_uploaded_again() {
    let setup = Setup::start("corrupt");
    let options = AgentOptions::default();
    let (_, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);

    // Same size, executable, wrong bytes: only the hash can tell.
    let len = fs::metadata(setup.installed()).unwrap().len() as usize;
    fs::write(setup.installed(), vec![b'x'; len]).unwrap();
    let (_, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);
    assert_installed(&setup);

    // Right bytes but not executable: not usable either.
    fs::set_permissions(setup.installed(), fs::Permissions::from_mode(0o644)).unwrap();
    let (_, placement) = setup.ensure(2, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);
    assert_installed(&setup);
}

#[test]
fn local_file_changed_since_hashing_is_refused() {
    let setup = Setup::start("changed");
    // The executable was replaced after it was described (a rebuild during the run): the
    // host must refuse the bytes rather than cache them under the old hash.
    let mut agent = setup.agent.clone();
    agent.path = setup.cluster.dir().join("other-exe");
    fs::copy("/bin/false", &agent.path).unwrap();
    let err = message(setup.ensure(1, &agent, &AgentOptions::default()));
    assert!(
        err.starts_with("agent: upload failed: sha256 of the uploaded copy is "),
        "{err}"
    );
    assert!(
        err.ends_with(&format!("expected {}", agent.sha256_hex)),
        "{err}"
    );
    assert!(!setup.installed().exists());
    assert_eq!(
        fs::read_dir(&setup.cache).unwrap().count(),
        0,
        "temp file left"
    );
}

#[test]
fn no_bootstrap_uses_the_cache_but_never_uploads() {
    let setup = Setup::start("nobootstrap");
    let options = AgentOptions {
        no_bootstrap: true,
        ..AgentOptions::default()
    };
    let err = message(setup.ensure(1, &setup.agent, &options));
    assert_eq!(
        err,
        format!(
            "agent: no prcp {} on the host and --no-bootstrap forbids uploading; install it \
             or pass --remote-path PATH",
            setup.agent.version
        )
    );
    assert!(!setup.cache.exists());

    setup
        .ensure(1, &setup.agent, &AgentOptions::default())
        .unwrap();
    let (_, placement) = setup.ensure(2, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Cached);
}

#[test]
fn remote_path_is_taken_as_given() {
    let setup = Setup::start("given");
    let options = AgentOptions {
        remote_path: Some("/opt/prtools/bin/prcp".into()),
        no_bootstrap: false,
    };
    let (path, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Given);
    assert_eq!(path, "/opt/prtools/bin/prcp");
    assert!(!setup.cache.exists());
}

#[test]
fn other_platform_is_refused() {
    let setup = Setup::start("platform");
    let mut agent = setup.agent.clone();
    let remote = agent.uname.clone();
    agent.uname = "Plan9 mips".into();
    let err = message(setup.ensure(1, &agent, &AgentOptions::default()));
    assert_eq!(
        err,
        format!(
            "agent: remote is '{remote}', this prcp is 'Plan9 mips'; install prcp there and \
             pass --remote-path PATH"
        )
    );
    assert!(!setup.cache.exists());
}

/// Failures on the host come back in the host's own words. Run through `-R exec` on this
/// machine, with `$HOME` set to what a broken account could have.
#[test]
fn host_side_failures_are_reported() {
    let exe = std::env::current_exe().unwrap();
    let agent = LocalAgent::from_file(&exe, "prcp", "test-exec").unwrap();
    let ensure_with_home = |home: &str| {
        let config = Config {
            method: prtools_transport::Method::Exec {
                template: vec![
                    "env".into(),
                    format!("HOME={home}"),
                    "sh".into(),
                    "-c".into(),
                ],
            },
            ..Config::default()
        };
        let target = Target::new(HostSpec::new("localhost"), 0);
        block_on(async {
            let conn = Connection::open(&target, &config).await.unwrap();
            ensure_agent(&conn, &agent, &AgentOptions::default()).await
        })
    };

    let err = message(ensure_with_home("/dev/null"));
    assert!(err.starts_with("agent: upload failed: mkdir: "), "{err}");
    assert!(err.contains("Not a directory"), "{err}");

    assert_eq!(
        message(ensure_with_home("")),
        "agent: $HOME is not set on the host, so there is no cache to upload to; \
         pass --remote-path PATH"
    );
}

#[test]
fn a_sealed_copy_starts_in_one_command_and_a_changed_one_is_checked_again() {
    let setup = Setup::start("sealed");
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Uploaded, 0));
    assert_installed(&setup);
    let seal = setup.cache.join("prcp.seal");
    let sealed = fs::read_to_string(&seal).unwrap();
    let uname = ssh_ok(&setup.cluster, 1, "uname -sm");
    assert!(sealed.starts_with(uname.trim_end()), "{sealed}");
    assert_eq!(setup.start_on(2).unwrap(), (Placement::Cached, 0));

    // The seal vouches for the file it was written for, not for a name: a replaced copy (a
    // new inode, a new ctime) is hashed again, found wrong and uploaded again.
    let installed = setup.installed();
    fs::remove_file(&installed).unwrap();
    fs::write(&installed, b"#!/bin/sh\nexit 7\n").unwrap();
    fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Uploaded, 0));
    assert_installed(&setup);
    assert_ne!(fs::read_to_string(&seal).unwrap(), sealed);

    // A stale seal (here: one for another file) only costs the check, which rewrites it.
    fs::write(&seal, "Linux x86_64 1:2:3:4:5\n").unwrap();
    assert_eq!(setup.start_on(2).unwrap(), (Placement::Cached, 0));
    let rewritten = fs::read_to_string(&seal).unwrap();
    assert!(rewritten.starts_with(uname.trim_end()), "{rewritten}");

    // What the seal trusts, shown by forging one: whoever can write the cache folder can
    // make the sealed start run their file. That is the user (or root), who can as well
    // edit ~/.bashrc, which runs first anyway; the seal guards against accidents, not them.
    fs::write(&installed, b"#!/bin/sh\nexit 7\n").unwrap();
    ssh_ok(
        &setup.cluster,
        1,
        &format!(
            "f={}; printf '%s %s\\n' \"$(uname -sm)\" \"$(stat -L -c %d:%i:%s:%Y:%Z -- \"$f\")\" >\"$f\".seal",
            installed.display()
        ),
    );
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Cached, 7));
}
