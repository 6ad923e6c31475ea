//! The test cluster against real sshds: each test starts its own, side by side with the others.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Output;
use std::thread;

use prtools_testcluster::Cluster;

/// Runs `cmd` on node `node` through the cluster's ssh config.
fn ssh(cluster: &Cluster, node: usize, cmd: &str) -> Output {
    cluster.ssh(node).arg(cmd).output().expect("cannot run ssh")
}

/// Like [`ssh`], for a command that must succeed; returns its stdout.
fn ssh_ok(cluster: &Cluster, node: usize, cmd: &str) -> String {
    let out = ssh(cluster, node, cmd);
    assert!(
        out.status.success(),
        "`ssh node{node} {cmd}` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Command lines of every process on this machine that mentions `dir`.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_str().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(needle))
        .collect()
}

#[test]
fn nodes_have_their_hostnames() {
    let cluster = Cluster::start_temp(3).unwrap();
    assert_eq!(cluster.len(), 3);
    assert_eq!(cluster.hosts(), ["node1", "node2", "node3"]);
    for node in 1..=3 {
        assert_eq!(ssh_ok(&cluster, node, "hostname"), format!("node{node}\n"));
    }
}

#[test]
fn ssh_config_names_nodes() {
    let cluster = Cluster::start_temp(2).unwrap();
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(cluster.ssh_config())
        .args(["-G", "node2"])
        .output()
        .unwrap();
    let config = String::from_utf8(out.stdout).unwrap();
    assert!(
        config.contains(&format!("\nport {}\n", cluster.port(2))),
        "{config}"
    );
    assert!(config.contains("\nhostkeyalias node2\n"), "{config}");
    assert!(
        config.contains("\nstricthostkeychecking true\n"),
        "{config}"
    );
    assert_ne!(cluster.port(1), cluster.port(2));
    assert!(cluster.ssh_config().starts_with(cluster.dir()));
}

#[test]
fn tmp_is_private_to_each_node() {
    let cluster = Cluster::start_temp(3).unwrap();
    ssh_ok(&cluster, 2, "echo hello > /tmp/greeting");
    assert_eq!(
        fs::read_to_string(cluster.node_tmp(2).join("greeting")).unwrap(),
        "hello\n"
    );
    assert!(!cluster.node_tmp(1).join("greeting").exists());
    assert!(!cluster.node_tmp(3).join("greeting").exists());
    assert_eq!(ssh_ok(&cluster, 1, "ls -A /tmp"), "");
    // The cluster's own files live outside /tmp, so sshd still finds them.
    assert!(!cluster.dir().starts_with("/tmp"));
}

#[test]
fn scp_reaches_node_tmp() {
    // scp speaks sftp since OpenSSH 9.0: the nodes must serve the sftp subsystem.
    let cluster = Cluster::start_temp(1).unwrap();
    let source = cluster.dir().join("scp-source");
    fs::write(&source, "copied\n").unwrap();
    let out = std::process::Command::new("scp")
        .arg("-F")
        .arg(cluster.ssh_config())
        .args(["-o", "BatchMode=yes", "-q"])
        .arg(&source)
        .arg("node1:/tmp/copied")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = cluster.node_tmp(1).join("copied");
    assert_eq!(fs::read_to_string(copied).unwrap(), "copied\n");
}

#[test]
fn bashrc_is_empty_inside_nodes() {
    let cluster = Cluster::start_temp(1).unwrap();
    assert_eq!(ssh_ok(&cluster, 1, "cat ~/.bashrc"), "");
}

#[test]
fn stopped_node_refuses_connections() {
    let cluster = Cluster::start_temp(2).unwrap();
    // A process that outlives its session must die with the node too. The loop returns once
    // the child has become `sleep`, so that the listing below finds it. It reads `comm`, not
    // `cmdline`: the forked shell's cmdline already holds "sleep 600" after a NUL, and grep
    // may take a NUL for a line end.
    ssh_ok(
        &cluster,
        1,
        "sleep 600 </dev/null >/dev/null 2>&1 & \
         until [ \"$(cat /proc/$!/comm)\" = sleep ]; do :; done",
    );
    let before = cluster.processes(1);
    assert!(before.iter().any(|p| p == "sleep 600"), "{before:?}");

    cluster.stop_node(1).unwrap();
    let out = ssh(&cluster, 1, "true");
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert_eq!(cluster.processes(1), Vec::<String>::new());
    // Stopping twice is fine, and the other node is untouched.
    cluster.stop_node(1).unwrap();
    assert_eq!(ssh_ok(&cluster, 2, "hostname"), "node2\n");
}

#[test]
fn processes_lists_sshd() {
    let cluster = Cluster::start_temp(1).unwrap();
    let processes = cluster.processes(1);
    assert_eq!(processes.len(), 1, "{processes:?}");
    assert!(processes[0].contains("sshd"), "{processes:?}");
    let cmdline = fs::read(format!("/proc/{}/cmdline", cluster.sshd_pid(1))).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains("[listener]"));
}

#[test]
fn frozen_node_hangs_until_thawed() {
    let cluster = Cluster::start_temp(1).unwrap();
    cluster.freeze_node(1).unwrap();
    let stat = fs::read_to_string(format!("/proc/{}/stat", cluster.sshd_pid(1))).unwrap();
    let state = stat[stat.rfind(')').unwrap() + 2..].chars().next();
    assert_eq!(state, Some('T'), "{stat}");
    // The TCP handshake completes in the kernel; sshd never sends its banner.
    let out = cluster
        .ssh(1)
        .args(["-o", "ConnectTimeout=1", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");

    cluster.thaw_node(1).unwrap();
    assert_eq!(ssh_ok(&cluster, 1, "hostname"), "node1\n");

    // A frozen node can still be stopped.
    cluster.freeze_node(1).unwrap();
    cluster.stop_node(1).unwrap();
    assert_eq!(cluster.processes(1), Vec::<String>::new());
    let err = cluster.thaw_node(1).unwrap_err();
    assert_eq!(err.to_string(), "node1 is not running");
}

#[test]
fn clusters_started_together_do_not_meet() {
    let clusters: Vec<Cluster> = thread::scope(|scope| {
        let starts: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| Cluster::start_temp(3).unwrap()))
            .collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let (a, b) = (&clusters[0], &clusters[1]);
    assert_ne!(a.dir(), b.dir());
    for node in 1..=3 {
        assert!((1..=3).all(|other| a.port(node) != b.port(other)));
    }
    thread::scope(|scope| {
        for cluster in &clusters {
            scope.spawn(move || {
                for node in 1..=3 {
                    ssh_ok(cluster, node, &format!("echo {node} > /tmp/n"));
                    assert_eq!(ssh_ok(cluster, node, "hostname"), format!("node{node}\n"));
                    let written = cluster.node_tmp(node).join("n");
                    assert_eq!(fs::read_to_string(written).unwrap(), format!("{node}\n"));
                }
            });
        }
    });
}

#[test]
fn drop_removes_everything() {
    let cluster = Cluster::start_temp(2).unwrap();
    let dir = cluster.dir().to_path_buf();
    assert!(dir.join("node1").is_dir());
    assert_eq!(processes_mentioning(&dir).len(), 2);
    drop(cluster);
    assert!(!dir.exists());
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
}

/// Stops the kept cluster in a folder and removes it, even when the test fails.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(cluster) = Cluster::attach(&self.0) {
            let _ = cluster.down();
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn attach_finds_a_kept_cluster() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tc");
    let dir = prtools_testcluster::home_for(&root)
        .unwrap()
        .join(format!("kept-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());
    let started = Cluster::start(&dir, 2).unwrap();
    let dir = started.dir().to_path_buf();
    let ports = [started.port(1), started.port(2)];
    let pids = [started.sshd_pid(1), started.sshd_pid(2)];
    // Not stopped on drop.
    drop(started);
    assert_eq!(processes_mentioning(&dir).len(), 2);

    let again = Cluster::start(&dir, 2).unwrap_err();
    assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
    assert!(again.to_string().contains("already running"), "{again}");

    let attached = Cluster::attach(&dir).unwrap();
    assert_eq!([attached.port(1), attached.port(2)], ports);
    assert_eq!([attached.sshd_pid(1), attached.sshd_pid(2)], pids);
    assert_eq!(ssh_ok(&attached, 2, "hostname"), "node2\n");
    attached.down().unwrap();
    assert_eq!(processes_mentioning(&dir), Vec::<String>::new());
    // The folder of a kept cluster stays: its owner removes it.
    assert!(dir.join("ssh_config").exists());
}

#[test]
fn refuses_tmp_and_empty_clusters() {
    let err = Cluster::start(Path::new("/tmp/prtools-testcluster"), 1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("is under /tmp"), "{err}");
    assert!(!Path::new("/tmp/prtools-testcluster").exists());

    let err = Cluster::start_temp(0).unwrap_err();
    assert_eq!(err.to_string(), "a test cluster needs at least one node");

    let err = Cluster::attach(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
    assert!(err.to_string().starts_with("no test cluster in "), "{err}");
}

/// A folder of this test's own, removed at the end whatever happens.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(parent: &str, name: &str) -> Scratch {
        let dir = Path::new(parent).join(format!("prtools-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What a newcomer's checkout at `checkout` gives: a temp cluster where the tests would start
/// it, whose nodes serve root and `nobody` alike and keep their own /tmp.
fn serves_a_checkout_at(checkout: &Path) {
    let cluster = Cluster::start_temp_in(&checkout.join("target/tc"), 1).unwrap();
    assert!(!cluster.dir().starts_with("/tmp"), "{:?}", cluster.dir());
    assert_eq!(ssh_ok(&cluster, 1, "hostname"), "node1\n");
    ssh_ok(&cluster, 1, "echo staged > /tmp/staged");
    assert_eq!(
        fs::read_to_string(cluster.node_tmp(1).join("staged")).unwrap(),
        "staged\n"
    );
    // sshd reads authorized_keys as `nobody` here: it must reach it.
    let out = cluster
        .ssh(1)
        .args(["-l", "nobody", "id -un"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "This account is currently not available.\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn serves_a_checkout_in_a_private_home() {
    // As a clone in /root, which is 0700 on Debian.
    let home = Scratch::new("/var/tmp", "home");
    fs::set_permissions(&home.0, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    serves_a_checkout_at(&home.0.join("prtools"));
}

#[test]
fn serves_a_checkout_under_tmp() {
    let clone = Scratch::new("/tmp", "clone");
    serves_a_checkout_at(&clone.0.join("prtools"));
    // And one reached through a link into /tmp, from outside it.
    let link = Scratch::new("/var/tmp", "link");
    std::os::unix::fs::symlink(&clone.0, link.0.join("prtools")).unwrap();
    serves_a_checkout_at(&link.0.join("prtools/prtools"));
}

#[test]
fn refuses_a_private_folder_as_given() {
    let home = Scratch::new("/var/tmp", "private");
    fs::set_permissions(&home.0, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let err = Cluster::start(&home.0.join("c"), 1).unwrap_err();
    assert!(err.to_string().contains("is mode 700"), "{err}");
    assert!(!home.0.join("c").exists());
}

#[test]
fn a_noexec_home_runs_nothing_and_keeps_to_itself() {
    use prtools_testcluster::NodeKind;
    let cluster = Cluster::start_temp_with(&[NodeKind::Normal, NodeKind::NoexecHome]).unwrap();
    assert_eq!(cluster.kind(2), NodeKind::NoexecHome);
    let script = "cp /bin/true ~/t && chmod 755 ~/t && ~/t";
    ssh_ok(&cluster, 1, &format!("{script}; rm -f ~/t"));
    let out = ssh(&cluster, 2, script);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    // Its home is its own: the file is not in this machine's, nor the other node's.
    assert!(!Path::new(&std::env::var("HOME").unwrap())
        .join("t")
        .exists());
    assert_eq!(ssh_ok(&cluster, 1, "test -e ~/t || echo gone"), "gone\n");
    // /tmp still runs programs: only the home is noexec.
    ssh_ok(&cluster, 2, "cp /bin/true /tmp/t && /tmp/t");
}

#[test]
fn another_machine_says_so_in_uname_only() {
    use prtools_testcluster::{other_machine, NodeKind};
    let cluster = Cluster::start_temp_with(&[NodeKind::OtherMachine, NodeKind::Normal]).unwrap();
    let here = String::from_utf8(
        std::process::Command::new("uname")
            .arg("-sm")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let kernel = here.split_whitespace().next().unwrap();
    assert_eq!(
        ssh_ok(&cluster, 1, "uname -sm"),
        format!("{kernel} {}\n", other_machine())
    );
    assert_eq!(ssh_ok(&cluster, 1, "uname -s"), format!("{kernel}\n"));
    assert_eq!(ssh_ok(&cluster, 2, "uname -sm"), here);
    // The shared agent cache is there as on every normal node.
    ssh_ok(&cluster, 1, "test -d ~/.cache/prtools");
}

#[test]
fn every_node_serves_sftp() {
    use prtools_testcluster::NodeKind;
    let cluster = Cluster::start_temp_with(&[NodeKind::NoexecHome]).unwrap();
    fs::write(cluster.node_tmp(1).join("f"), "sftp\n").unwrap();
    let out = std::process::Command::new("sftp")
        .arg("-F")
        .arg(cluster.ssh_config())
        .args(["-b", "-", "node1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"rename /tmp/f /tmp/g\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_to_string(cluster.node_tmp(1).join("g")).unwrap(),
        "sftp\n"
    );
}
