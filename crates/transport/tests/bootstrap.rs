//! Placing the agent on real hosts: upload once, reuse after, never trust a bad copy, and
//! keep one build of each tool.
//!
//! Every test has a cluster of its own, whose nodes share one `~/.cache/prtools`
//! ([`Cluster::agent_cache`]), as hosts that mount one home folder do.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
    /// The agent's cache folder, as this machine sees it.
    cache: PathBuf,
    /// `$HOME` on the nodes.
    home: PathBuf,
}

impl Setup {
    /// Two hosts and a copy of `/bin/true` posing as prcp.
    fn start() -> Setup {
        let cluster = Cluster::start_temp(2).expect("the test cluster starts");
        let agent = build(&cluster, "prcp", "0.1.0", "/bin/true", "one");
        let cache = cache_of(&cluster, &agent);
        let home = remote_home(&cluster);
        Setup {
            cluster,
            agent,
            cache,
            home,
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

    /// Runs `start_agent` for `agent` on `node` over a fresh connection, waits for the agent
    /// (a copy of `true`) and returns how it was placed and its exit status.
    fn start_with(&self, node: usize, agent: &LocalAgent) -> Result<(Placement, i32), HostError> {
        block_on(async {
            let conn = connect(self, node).await;
            let kill = KillHandle::default();
            let result = start_agent(&conn, agent, &AgentOptions::default(), &kill).await;
            let result = match result {
                Ok(started) => Ok((started.placement, started.process.wait().await?)),
                Err(e) => Err(e),
            };
            conn.close().await;
            result
        })
    }

    fn start_on(&self, node: usize) -> Result<(Placement, i32), HostError> {
        self.start_with(node, &self.agent)
    }

    /// The agent in the cache, as this machine sees it.
    fn installed(&self) -> PathBuf {
        self.cache.join("prcp")
    }

    /// The agent in the cache, as the nodes see it.
    fn remote_installed(&self) -> PathBuf {
        self.home
            .join(".cache/prtools")
            .join(self.cache.file_name().unwrap())
            .join("prcp")
    }
}

/// A new build of `tool`: a copy of `exe` with `tag` appended, so that its hash (and so its
/// cache folder) is its own. An ELF runs the same with bytes appended.
fn build(cluster: &Cluster, tool: &str, version: &str, exe: &str, tag: &str) -> LocalAgent {
    let path = cluster.dir().join(format!("{tool}-{tag}"));
    let mut bytes = fs::read(exe).unwrap();
    bytes.extend_from_slice(format!("\nbuild {tag}\n").as_bytes());
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    LocalAgent::from_file(&path, tool, version).unwrap()
}

/// The cache folder `agent` lands in, as this machine sees it.
fn cache_of(cluster: &Cluster, agent: &LocalAgent) -> PathBuf {
    cluster.agent_cache().join(agent.cache_dir_name())
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

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The agent in place: executable, with the right bytes, and no temp files beside it.
fn assert_installed(setup: &Setup) {
    let installed = setup.installed();
    assert_eq!(sha256_of(&installed), setup.agent.sha256_hex);
    let mode = fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    for name in names(&setup.cache) {
        assert!(
            ["prcp", "prcp.seal", "prcp.lease", "fd"].contains(&name.as_str()),
            "temp file left behind: {name}"
        );
    }
}

/// Starts the agent on `node` until its copy is sealed, and returns the seal. A copy
/// changed in the same tick of the file system's clock as the check is not sealed then
/// (see the bootstrap's docs); the next check, a connection later, seals it.
fn sealed(setup: &Setup, node: usize) -> String {
    let seal = setup.cache.join("prcp.seal");
    for _ in 0..5 {
        if let Ok(text) = fs::read_to_string(&seal) {
            return text;
        }
        assert_eq!(setup.start_on(node).unwrap().1, 0);
    }
    panic!("no seal after five starts: {:?}", names(&setup.cache));
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
    let setup = Setup::start();
    let options = AgentOptions::default();
    let (path, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);
    assert_eq!(path, format!("'{}'", setup.remote_installed().display()));
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
    let setup = Setup::start();
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
    let setup = Setup::start();
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
    let setup = Setup::start();
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
    assert_eq!(names(&setup.cache), Vec::<String>::new(), "temp file left");
}

#[test]
fn no_bootstrap_uses_the_cache_but_never_uploads() {
    let setup = Setup::start();
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
    let setup = Setup::start();
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
    let setup = Setup::start();
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
    let setup = Setup::start();
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Uploaded, 0));
    assert_installed(&setup);
    let seal = setup.cache.join("prcp.seal");
    let first = sealed(&setup, 2);
    let uname = ssh_ok(&setup.cluster, 1, "uname -sm");
    assert!(first.starts_with(uname.trim_end()), "{first}");
    // Device, inode, size, then mtime and ctime to the nanosecond.
    let stamp = first.rsplit(' ').next().unwrap().trim_end();
    let fields: Vec<&str> = stamp.split(':').collect();
    assert_eq!(fields.len(), 5, "{first}");
    for time in &fields[3..] {
        let (_, nanos) = time.split_once('.').expect("sub-second times");
        assert_eq!(nanos.len(), 9, "{first}");
    }
    assert_eq!(setup.start_on(2).unwrap(), (Placement::Cached, 0));
    assert_eq!(fs::read_to_string(&seal).unwrap(), first);

    // The seal vouches for the file it was written for, not for a name: a replaced copy (a
    // new inode, a new ctime) is hashed again, found wrong and uploaded again.
    let installed = setup.installed();
    fs::remove_file(&installed).unwrap();
    fs::write(&installed, b"#!/bin/sh\nexit 7\n").unwrap();
    fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Uploaded, 0));
    assert_installed(&setup);
    assert_ne!(sealed(&setup, 1), first);

    // A stale seal (here: one for another file) only costs the check, which rewrites it.
    let stale = format!("{} 1:2:3:4.000000000:5.000000000\n", uname.trim_end());
    fs::write(&seal, &stale).unwrap();
    assert_eq!(setup.start_on(2).unwrap(), (Placement::Cached, 0));
    let rewritten = fs::read_to_string(&seal).unwrap();
    assert!(rewritten.starts_with(uname.trim_end()), "{rewritten}");
    assert_ne!(rewritten, stale);

    // What the seal trusts, shown by forging one: whoever can write the cache folder can
    // make the sealed start run their file. That is the user (or root), who can as well
    // edit ~/.bashrc, which runs first anyway; the seal guards against accidents, not them.
    fs::write(&installed, b"#!/bin/sh\nexit 7\n").unwrap();
    ssh_ok(
        &setup.cluster,
        1,
        &format!(
            "f={}; printf '%s %s\\n' \"$(uname -sm)\" \
             \"$(stat -L -c %d:%i:%s:%.9Y:%.9Z -- \"$f\")\" >\"$f\".seal",
            setup.remote_installed().display()
        ),
    );
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Cached, 7));
}

/// A host of another platform sharing the home folder must not seal a copy it cannot run:
/// its own sealed start would then exec it.
#[test]
fn the_seal_is_written_only_after_the_uname_is_accepted() {
    let setup = Setup::start();
    let options = AgentOptions::default();
    let (_, placement) = setup.ensure(1, &setup.agent, &options).unwrap();
    assert_eq!(placement, Placement::Uploaded);
    let seal = setup.cache.join("prcp.seal");
    let _ = fs::remove_file(&seal);
    // Same bytes, so the hash matches; only the platform is wrong.
    let mut other = setup.agent.clone();
    other.uname = "Plan9 mips".into();
    let err = message(setup.ensure(1, &other, &options));
    assert!(err.starts_with("agent: remote is '"), "{err}");
    assert!(
        !seal.exists(),
        "the check sealed a copy of another platform"
    );
    let err = match setup.start_with(2, &other) {
        Ok(ok) => panic!("expected an error, got {ok:?}"),
        Err(e) => e.to_string(),
    };
    assert!(err.starts_with("agent: remote is '"), "{err}");
    assert!(
        !seal.exists(),
        "the start sealed a copy of another platform"
    );
}

/// The entries of the nodes' `~/.cache/prtools`, as node `node` lists them.
fn remote_cache(setup: &Setup, node: usize) -> Vec<String> {
    let mut names: Vec<String> = ssh_ok(&setup.cluster, node, "ls -A ~/.cache/prtools")
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// One home shared by nodes of two machines (an NFS home on x86_64 and aarch64 nodes): an
/// upload prunes only its own machine's older builds, and the older name without a machine.
#[test]
fn an_upload_keeps_the_builds_of_other_machines() {
    let setup = Setup::start();
    let cache = setup.cluster.agent_cache();
    let agent = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "here");
    assert!(
        agent
            .cache_dir_name()
            .contains(&format!("-{}-", agent.uname.replace(' ', "-"))),
        "{}",
        agent.cache_dir_name()
    );
    let mut other = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "there");
    other.uname = "Linux aarch64".into();
    let older = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "older");
    let unnamed = format!("0.1.0-{}", &older.sha256_hex[..16]);
    for folder in [other.cache_dir_name(), older.cache_dir_name(), unnamed] {
        fs::create_dir(cache.join(&folder)).unwrap();
        fs::write(cache.join(&folder).join("prcp"), "a build").unwrap();
    }
    assert_eq!(
        setup.start_with(1, &agent).unwrap(),
        (Placement::Uploaded, 0)
    );
    let mut expected = vec![agent.cache_dir_name(), other.cache_dir_name()];
    expected.sort();
    assert_eq!(remote_cache(&setup, 1), expected);
}

#[test]
fn an_upload_removes_the_other_builds_of_its_tool_and_nothing_else() {
    let setup = Setup::start();
    let cache = setup.cluster.agent_cache();
    // What must stay: the control sockets' folder, a folder of the user's, another tool's
    // build, and a folder named like a build that holds another tool.
    fs::create_dir(cache.join("ctl")).unwrap();
    fs::create_dir(cache.join("notes")).unwrap();
    fs::write(cache.join("notes/prcp"), "mine").unwrap();
    let prsync = build(&setup.cluster, "prsync", "0.1.0", "/bin/true", "sync");
    assert_eq!(
        setup.start_with(1, &prsync).unwrap(),
        (Placement::Uploaded, 0)
    );
    let old = build(&setup.cluster, "prdist", "0.0.9", "/bin/true", "dist");
    fs::create_dir(cache.join(old.cache_dir_name())).unwrap();
    fs::write(cache.join(old.cache_dir_name()).join("prdist"), "x").unwrap();

    let builds: Vec<LocalAgent> = ["one", "two", "three"]
        .iter()
        .map(|tag| build(&setup.cluster, "prcp", "0.1.0", "/bin/true", tag))
        .collect();
    for (i, agent) in builds.iter().enumerate() {
        // Each build is started on one node and then the other: the second finds it.
        let node = i % 2 + 1;
        assert_eq!(
            setup.start_with(node, agent).unwrap(),
            (Placement::Uploaded, 0)
        );
        assert_eq!(
            setup.start_with(3 - node, agent).unwrap(),
            (Placement::Cached, 0)
        );
    }
    let mut expected = vec![
        builds[2].cache_dir_name(),
        old.cache_dir_name(),
        prsync.cache_dir_name(),
        "ctl".to_string(),
        "notes".to_string(),
    ];
    expected.sort();
    assert_eq!(remote_cache(&setup, 1), expected);
    assert_eq!(
        fs::read_to_string(cache.join("notes/prcp")).unwrap(),
        "mine"
    );
}

/// An older build in use is kept: while a run holds its folder's lock (an upload or a check
/// in progress), or has leased its path (`ensure_agent`, for a start by path later). It goes
/// with the first upload after that.
#[test]
fn a_build_in_use_is_kept_until_it_is_free() {
    let setup = Setup::start();
    let options = AgentOptions::default();
    let leased = setup.agent.clone();
    assert_eq!(
        setup.ensure(1, &leased, &options).unwrap().1,
        Placement::Uploaded
    );
    let locked = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "locked");
    assert_eq!(
        setup.start_with(1, &locked).unwrap(),
        (Placement::Uploaded, 0)
    );
    let locked_dir = cache_of(&setup.cluster, &locked);
    // An upload of `locked` still in progress, as far as the lock tells.
    let mut holder = std::process::Command::new("flock")
        .arg("-s")
        .arg(&locked_dir)
        .args(["-c", "echo locked; read -r _"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "locked\n");

    let newer = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "newer");
    assert_eq!(
        setup.start_with(2, &newer).unwrap(),
        (Placement::Uploaded, 0)
    );
    assert!(
        setup.cache.join("prcp").exists(),
        "a leased build was removed"
    );
    assert!(
        locked_dir.join("prcp").exists(),
        "a locked build was removed"
    );

    // Free: the lock released, the lease an hour old.
    holder.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(holder.wait().unwrap().success());
    ssh_ok(
        &setup.cluster,
        1,
        &format!(
            "touch -d '-61 minutes' {}.lease",
            setup.remote_installed().display()
        ),
    );
    let newest = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "newest");
    assert_eq!(
        setup.start_with(1, &newest).unwrap(),
        (Placement::Uploaded, 0)
    );
    assert!(!setup.cache.exists());
    assert!(!locked_dir.exists());
    assert!(!cache_of(&setup.cluster, &newer).exists());
    assert!(cache_of(&setup.cluster, &newest).join("prcp").exists());
}

/// Removing a build does not stop its agents: each runs the file it opened, which lives on
/// until it exits.
#[test]
fn a_running_agent_of_a_removed_build_runs_on() {
    let setup = Setup::start();
    let script = setup.cluster.dir().join("echo-agent");
    fs::write(
        &script,
        "#!/bin/sh\nread -r line\necho \"agent heard $line\"\n",
    )
    .unwrap();
    let echo = LocalAgent::from_file(&script, "prcp", "0.1.0").unwrap();
    let newer = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", "newer");
    let heard = block_on(async {
        let conn = connect(&setup, 1).await;
        let kill = KillHandle::default();
        let mut started = start_agent(&conn, &echo, &AgentOptions::default(), &kill)
            .await
            .unwrap();
        assert_eq!(started.placement, Placement::Uploaded);
        // It runs the file it checked, through /proc/self/fd, yet shows under its tool's name.
        // The start marker comes just before the exec, so the shell may still be there a
        // moment: the process table is looked at until the agent shows, within a bound.
        let named = format!("/{}/fd/prcp --server", echo.cache_dir_name());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let processes = setup.cluster.processes(1);
            if processes.iter().any(|p| p.ends_with(&named)) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{processes:?}");
            std::thread::yield_now();
        }
        // Another build's upload removes the running agent's folder.
        let other = connect(&setup, 2).await;
        let placed = start_agent(&other, &newer, &AgentOptions::default(), &kill)
            .await
            .unwrap();
        assert_eq!(placed.process.wait().await.unwrap(), 0);
        other.close().await;
        assert!(!cache_of(&setup.cluster, &echo).exists());

        let mut stdin = started.process.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, b"hello\n")
            .await
            .unwrap();
        drop(stdin);
        let mut out = String::new();
        let mut stdout = started.process.stdout.take().unwrap();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut out)
            .await
            .unwrap();
        assert_eq!(started.process.wait().await.unwrap(), 0);
        conn.close().await;
        out
    });
    assert_eq!(heard, "agent heard hello\n");
}

/// Two builds placed on hosts sharing a home at the same moment each remove the other's
/// folder when they can; whatever the order, both start.
#[test]
fn two_builds_uploading_at_once_both_start() {
    let setup = Setup::start();
    // Some megabytes, so that the uploads overlap.
    let big = |tag: &str| {
        let agent = build(&setup.cluster, "prcp", "0.1.0", "/bin/true", tag);
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&agent.path)
            .unwrap();
        file.write_all(&vec![b'x'; 8 << 20]).unwrap();
        LocalAgent::from_file(&agent.path, "prcp", "0.1.0").unwrap()
    };
    let (one, two) = (big("one"), big("two"));
    let statuses = block_on(async {
        let (a, b) = tokio::join!(connect(&setup, 1), connect(&setup, 2));
        async fn run(conn: &Connection, agent: &LocalAgent) -> i32 {
            let kill = KillHandle::default();
            let started = start_agent(conn, agent, &AgentOptions::default(), &kill)
                .await
                .unwrap();
            started.process.wait().await.unwrap()
        }
        let statuses = tokio::join!(run(&a, &one), run(&b, &two));
        a.close().await;
        b.close().await;
        statuses
    });
    assert_eq!(statuses, (0, 0));
    let left: Vec<String> = names(&setup.cluster.agent_cache());
    assert!(
        left.contains(&one.cache_dir_name()) || left.contains(&two.cache_dir_name()),
        "{left:?}"
    );
}

/// The sealed copy changed in place, one byte, in the same second as the ctime its seal
/// records, with its mtime set back: what a careful attacker or a stray `dd` does. Only the
/// ctime, which nobody can set back, tells, and only to the nanosecond; the next start must
/// upload again rather than run the changed copy.
#[test]
fn a_same_second_change_to_the_sealed_copy_is_caught() {
    use std::os::unix::fs::{FileExt, MetadataExt};

    let setup = Setup::start();
    assert_eq!(setup.start_on(1).unwrap(), (Placement::Uploaded, 0));
    let installed = setup.installed();
    let seal = setup.cache.join("prcp.seal");
    let placement = block_on(async {
        let conn = connect(&setup, 1).await;
        let start = || async {
            let kill = KillHandle::default();
            let started = start_agent(&conn, &setup.agent, &AgentOptions::default(), &kill)
                .await
                .unwrap();
            let placement = started.placement;
            assert_eq!(started.process.wait().await.unwrap(), 0);
            placement
        };
        // The change must land in the second the seal recorded, as an attacker who watches
        // for the seal would make it: a try that falls into the next second is made again.
        let mut in_time = false;
        for _ in 0..20 {
            // A harmless change (a chmod), then the start that checks and seals again (or
            // uploads again, after a try that missed its second).
            fs::set_permissions(&installed, fs::Permissions::from_mode(0o755)).unwrap();
            start().await;
            let Ok(sealed) = fs::read_to_string(&seal) else {
                continue;
            };
            let sealed_ctime = sealed.trim_end().rsplit(':').next().unwrap().to_string();
            let before = fs::metadata(&installed).unwrap();
            let len = before.len();
            let file = fs::OpenOptions::new().write(true).open(&installed).unwrap();
            file.write_at(b"X", len - 1).unwrap();
            drop(file);
            let status = std::process::Command::new("touch")
                .arg("-d")
                .arg(format!("@{}.{:09}", before.mtime(), before.mtime_nsec()))
                .arg(&installed)
                .status()
                .unwrap();
            assert!(status.success());
            let after = fs::metadata(&installed).unwrap();
            assert_eq!(after.mtime_nsec(), before.mtime_nsec());
            if sealed_ctime.split('.').next() == Some(&after.ctime().to_string()) {
                in_time = true;
                break;
            }
        }
        assert!(in_time, "no change landed in its seal's second");
        assert_ne!(sha256_of(&installed), setup.agent.sha256_hex);
        let placement = start().await;
        conn.close().await;
        placement
    });
    assert_eq!(placement, Placement::Uploaded, "the changed copy was run");
    assert_eq!(sha256_of(&installed), setup.agent.sha256_hex);
}
