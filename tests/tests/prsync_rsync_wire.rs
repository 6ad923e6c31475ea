//! prsync speaking rsync's own protocol (`--wire=rsync`) to the stock rsync on a test host,
//! with no prsync agent there: the same pushes made by the real rsync client and by prsync
//! must leave the same trees and print the same `-i` lines, byte for byte, at protocol 32
//! (rsync 3.2+ on the host) and 30 (rsync 3.0/3.1).

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prtools_tests::{assert_one_line_error, assert_text_eq, describe, run, text, TestCluster};

/// A tree with what `rsync -a` keeps: nested files, modes, owners, an empty folder, a
/// symlink, a name with a space, a 600 KB file for the delta, a folder that a later run
/// deletes, and mtimes in the past.
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("src");
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::create_dir_all(tree.join("old/deeper")).unwrap();
    std::fs::write(tree.join("old/deeper/gone.txt"), "going\n").unwrap();
    std::fs::write(tree.join("old/gone too"), "going\n").unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(tree.join("etc/conf.d/app with space.conf"), "x = 1\n").unwrap();
    std::fs::write(tree.join("etc/big.txt"), big_text(None)).unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(tree.join("owned"), "someone else's\n").unwrap();
    std::os::unix::fs::chown(tree.join("owned"), Some(1234), Some(2345)).unwrap();
    std::fs::set_permissions(tree.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(
        tree.join("etc/conf.d"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    symlink("etc/hosts", tree.join("hosts")).unwrap();
    symlink("nowhere", tree.join("etc/dangling")).unwrap();
    age(&tree, "2024-01-02 03:04:05.123456789");
    tree
}

/// 600 KB of numbered lines; `changed` replaces one of them.
fn big_text(changed: Option<usize>) -> String {
    (0..80_000)
        .map(|i| match changed {
            Some(c) if c == i => "this line changed\n".to_string(),
            _ => format!("line {i}\n"),
        })
        .collect()
}

/// Sets every mtime below `root` (and its own, links' too) to `when`.
fn age(root: &Path, when: &str) {
    let status = Command::new("find")
        .arg(root)
        .args(["-exec", "touch", "-h", "-d", when, "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The update both directions test: a changed line in the big file, a folder gone, a new
/// file, a mode and a time changed.
fn change(src: &Path) {
    std::fs::write(src.join("etc/big.txt"), big_text(Some(40_000))).unwrap();
    std::fs::remove_dir_all(src.join("old")).unwrap();
    std::fs::write(src.join("etc/new file"), "new\n").unwrap();
    std::fs::set_permissions(
        src.join("etc/hosts"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    age(src, "2024-02-03 04:05:06");
}

/// [`describe`] plus what it leaves out and a push must keep too: every entry's owner,
/// group and mtime, folders' and links' included.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = describe(root);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!(
                "{} {}:{} {}.{:09}",
                path.strip_prefix(root).unwrap().display(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn shell(tc: &TestCluster) -> String {
    format!("ssh -F {}", tc.cluster.ssh_config().display())
}

/// The real rsync client pushing `SRC/` to node1:`dest`, running `remote` there.
fn rsync_push(tc: &TestCluster, remote: &str, args: &[&str], src: &Path, dest: &str) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(shell(tc))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(format!("{}/", src.display()))
        .arg(format!("node1:{dest}")))
}

/// prsync over rsync's protocol pushing `SRC/` to node1:`dest`.
fn prsync_push(
    tc: &TestCluster,
    remote: &str,
    args: &[&str],
    src: &Path,
    dest: &str,
    counted: &Path,
) -> Output {
    prsync_wire(
        tc,
        remote,
        args,
        &format!("{}/", src.display()),
        &format!("node1:{dest}"),
        counted,
    )
}

/// prsync over rsync's protocol from `from` to `to`, every byte it sends to the host
/// counted in `counted` and every byte it receives in `counted`.in (through an `ssh`
/// first on the PATH that tees both ways).
fn prsync_wire(
    tc: &TestCluster,
    remote: &str,
    args: &[&str],
    from: &str,
    to: &str,
    counted: &Path,
) -> Output {
    let wrappers = counted.with_extension("bin");
    std::fs::create_dir_all(&wrappers).unwrap();
    let ssh = wrappers.join("ssh");
    let real = which("ssh");
    // Both directions counted; the exit status stays ssh's.
    let script = format!(
        "#!/bin/bash\nset -o pipefail\ntee -a '{}' | '{}' \"$@\" | tee -a '{}.in'\n",
        counted.display(),
        real.display(),
        counted.display()
    );
    prtools_tests::write_executable(&ssh, script.as_bytes());
    let path = format!(
        "{}:{}",
        wrappers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(tc
        .prsync()
        .env("PATH", path)
        .arg("--wire=rsync")
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

/// prsync over rsync's protocol pushing `SRC/` to node1:`dest`, with no counting ssh in
/// between (whose pipes would outlive the remote shell).
fn plain_push(tc: &TestCluster, remote: &str, args: &[&str], src: &Path, dest: &str) -> Output {
    plain_wire(
        tc,
        remote,
        args,
        &format!("{}/", src.display()),
        &format!("node1:{dest}"),
    )
}

/// prsync over rsync's protocol from `from` to `to`.
fn plain_wire(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(tc
        .prsync()
        .arg("--wire=rsync")
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {program} on the PATH"))
}

/// The same first push, update (a changed line in the big file, a folder gone, a new
/// file, a mode and a time changed), and mirror with `--delete`, once by rsync and once
/// by prsync, against the host's rsync started as `remote`.
fn pushes_match_rsync(remote: &str) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("wire");
    let src = make_tree(&scratch);
    let node = tc.cluster.node_tmp(1);
    let counted = scratch.join("sent");

    let want = rsync_push(&tc, remote, &["-ai"], &src, "/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    assert!(
        text(&want.stdout).contains("<f+++++++++ etc/big.txt"),
        "{}",
        text(&want.stdout)
    );
    let got = prsync_push(&tc, remote, &["-ai"], &src, "/tmp/by-prsync/", &counted);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    // The host's rsync names the folder it makes.
    assert_text_eq!(
        text(&want.stdout).replace("/tmp/by-rsync", "/tmp/by-prsync"),
        text(&got.stdout)
    );
    assert_eq!(
        snapshot(&node.join("by-prsync")),
        snapshot(&node.join("by-rsync"))
    );
    if !remote.contains("--protocol=30") {
        // Protocol 30 sends whole seconds only; from 31 the nanoseconds go too.
        assert_eq!(snapshot(&node.join("by-prsync")), snapshot(&src));
    }

    // A run with nothing to do prints nothing, as rsync.
    let again = prsync_push(&tc, remote, &["-ai"], &src, "/tmp/by-prsync/", &counted);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");

    change(&src);
    let args = ["-ai", "--delete", "--no-whole-file"];
    let want = rsync_push(&tc, remote, &args, &src, "/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let want_out = text(&want.stdout);
    assert!(want_out.contains("*deleting   old/"), "{want_out}");
    assert!(want_out.contains("<f.st...... etc/big.txt"), "{want_out}");
    std::fs::write(&counted, "").unwrap();
    let got = prsync_push(&tc, remote, &args, &src, "/tmp/by-prsync/", &counted);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    assert_text_eq!(want_out, text(&got.stdout));
    assert_eq!(
        snapshot(&node.join("by-prsync")),
        snapshot(&node.join("by-rsync"))
    );
    if !remote.contains("--protocol=30") {
        // Protocol 30 sends whole seconds only; from 31 the nanoseconds go too.
        assert_eq!(snapshot(&node.join("by-prsync")), snapshot(&src));
    }
    // The changed 600 KB file went as a delta: all prsync sent is a few KB.
    let sent = std::fs::metadata(&counted).unwrap().len();
    assert!(
        sent < 40_000,
        "prsync sent {sent} bytes for a one-line change"
    );
}

#[test]
fn a_push_over_rsyncs_protocol_32_matches_rsync() {
    pushes_match_rsync("rsync");
}

#[test]
fn a_push_over_rsyncs_protocol_30_matches_rsync() {
    pushes_match_rsync("rsync --protocol=30");
}

#[test]
fn a_host_without_rsync_or_with_an_old_one_gets_one_line() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("none");
    let src = make_tree(&scratch);

    let out = plain_push(&tc, "/nonexistent/rsync", &["-a"], &src, "/tmp/x/");
    assert_eq!(out.status.code(), Some(12));
    assert_eq!(
        text(&out.stderr),
        "prsync: node1: no rsync on the host; hint: install rsync there, or let prsync upload \
         its agent (--wire=agent)\n"
    );

    let out = plain_push(&tc, "rsync --protocol=29", &["-a"], &src, "/tmp/x/");
    assert_eq!(out.status.code(), Some(12));
    assert_one_line_error("prsync", &text(&out.stderr), "speaks rsync protocol 29");
    assert!(!tc.cluster.node_tmp(1).join("x").exists());

    // A source missing on the host: the host's rsync says so, and the exit status is
    // rsync's own.
    let want = rsync_pull(&tc, "rsync", &["-a"], "/tmp/missing/", &scratch.join("a"));
    let got = plain_wire(
        &tc,
        "rsync",
        &["-a"],
        "node1:/tmp/missing/",
        scratch.join("b").to_str().unwrap(),
    );
    assert_eq!(got.status.code(), want.status.code());
    assert_eq!(got.status.code(), Some(23));
    assert!(
        text(&got.stderr).contains("change_dir \"/tmp/missing\" failed: No such file or directory"),
        "{}",
        text(&got.stderr)
    );
    assert!(!text(&got.stderr).contains("panicked"));
}

#[test]
fn options_not_spoken_yet_are_refused_by_name() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("refused");
    let src = make_tree(&scratch);
    for (args, needle) in [
        (
            &["-a", "--super"][..],
            "does not do --super or --no-super yet",
        ),
        (
            &["-a", "--zc=zstd"][..],
            "compression zstd is not spoken here",
        ),
    ] {
        let out = run(tc
            .prsync()
            .arg("--wire=rsync")
            .args(args)
            .arg(format!("{}/", src.display()))
            .arg("node1:/tmp/y/"));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_one_line_error("prsync", &text(&out.stderr), needle);
    }
    // A pull's receiver (this side) does not make backups of files rewritten in place yet.
    let out = run(tc
        .prsync()
        .arg("--wire=rsync")
        .args(["-a", "-b", "--inplace", "node1:/tmp/y/"])
        .arg(scratch.join("pulled")));
    assert_eq!(out.status.code(), Some(1));
    assert_one_line_error(
        "prsync",
        &text(&out.stderr),
        "does not do -b with --inplace yet",
    );
    assert!(!scratch.join("pulled").exists());
    let out = run(tc
        .prsync()
        .arg("--wire=rsync")
        .arg("-a")
        .arg("node1:/tmp/")
        .arg("node2:/tmp/"));
    assert_eq!(out.status.code(), Some(1));
    assert!(!tc.cluster.node_tmp(1).join("y").exists());
}

#[test]
fn a_push_over_rsyncs_protocol_31_matches_rsync() {
    pushes_match_rsync("rsync --protocol=31");
}

/// The real rsync client pulling node1:`src` into `dest` here, running `remote` there.
fn rsync_pull(tc: &TestCluster, remote: &str, args: &[&str], src: &str, dest: &Path) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(shell(tc))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(format!("node1:{src}"))
        .arg(dest))
}

/// A pull's `-i` lines in order, but for deletions, which rsync's generator prints while
/// its receiver prints the rest (two processes: their interleaving is not fixed), so they
/// are compared as a sorted set after the others.
fn pull_lines(out: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut deleted, kept): (Vec<&str>, Vec<&str>) =
        out.lines().partition(|l| l.starts_with("*deleting"));
    deleted.sort_unstable();
    (kept, deleted)
}

/// The same first pull, update and mirror as [`pushes_match_rsync`], from the host.
fn pulls_match_rsync(remote: &str) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull");
    let node = tc.cluster.node_tmp(1);
    let src = make_tree(&node);
    let counted = scratch.join("sent");
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));

    let want = rsync_pull(&tc, remote, &["-ai"], "/tmp/src/", &by_rsync);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    assert!(
        text(&want.stdout).contains(">f+++++++++ etc/big.txt"),
        "{}",
        text(&want.stdout)
    );
    let got = prsync_wire(
        &tc,
        remote,
        &["-ai"],
        "node1:/tmp/src/",
        by_prsync.to_str().unwrap(),
        &counted,
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let want_out = text(&want.stdout).replace("by-rsync", "by-prsync");
    assert!(want_out.contains("cd+++++++++ ./"), "{want_out}");
    assert_eq!(
        pull_lines(&want_out),
        pull_lines(&text(&got.stdout)),
        "{want_out}---\n{}",
        text(&got.stdout)
    );
    assert_eq!(snapshot(&by_prsync), snapshot(&by_rsync));
    if !remote.contains("--protocol=30") {
        assert_eq!(snapshot(&by_prsync), snapshot(&src));
    }

    let again = prsync_wire(
        &tc,
        remote,
        &["-ai"],
        "node1:/tmp/src/",
        by_prsync.to_str().unwrap(),
        &counted,
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");

    change(&src);
    let args = ["-ai", "--delete", "--no-whole-file"];
    let want = rsync_pull(&tc, remote, &args, "/tmp/src/", &by_rsync);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let want_out = text(&want.stdout);
    assert!(want_out.contains("*deleting   old/"), "{want_out}");
    assert!(want_out.contains(">f.st...... etc/big.txt"), "{want_out}");
    std::fs::write(counted.with_extension("in"), "").unwrap();
    let got = prsync_wire(
        &tc,
        remote,
        &args,
        "node1:/tmp/src/",
        by_prsync.to_str().unwrap(),
        &counted,
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    assert_eq!(
        pull_lines(&want_out),
        pull_lines(&text(&got.stdout)),
        "{want_out}---\n{}",
        text(&got.stdout)
    );
    assert_eq!(snapshot(&by_prsync), snapshot(&by_rsync));
    if !remote.contains("--protocol=30") {
        assert_eq!(snapshot(&by_prsync), snapshot(&src));
    }
    // The changed 600 KB file came as a delta.
    let received = std::fs::metadata(counted.with_extension("in"))
        .unwrap()
        .len();
    assert!(
        received < 40_000,
        "prsync received {received} bytes for a one-line change"
    );
}

#[test]
fn a_pull_over_rsyncs_protocol_32_matches_rsync() {
    pulls_match_rsync("rsync");
}

#[test]
fn a_pull_over_rsyncs_protocol_31_matches_rsync() {
    pulls_match_rsync("rsync --protocol=31");
}

#[test]
fn a_pull_over_rsyncs_protocol_30_matches_rsync() {
    pulls_match_rsync("rsync --protocol=30");
}

/// A remote shell that exits while something it started still holds its pipes (as a
/// persistent ssh master does) ends the wait at once, not at the handshake's timeout.
#[test]
fn a_remote_shell_that_exits_ends_the_wait_though_its_pipes_stay_open() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("held");
    let src = make_tree(&scratch);
    let wrappers = scratch.join("bin");
    std::fs::create_dir_all(&wrappers).unwrap();
    let ssh = wrappers.join("ssh");
    prtools_tests::write_executable(&ssh, b"#!/bin/sh\nsleep 5 &\nexit 1\n");
    let path = format!(
        "{}:{}",
        wrappers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(tc
        .prsync()
        .env("PATH", path)
        .args(["--wire=rsync", "-a"])
        .arg(format!("{}/", src.display()))
        .arg("node1:/tmp/z/"));
    assert_eq!(out.status.code(), Some(12));
    assert_one_line_error(
        "prsync",
        &text(&out.stderr),
        "closed the connection before the handshake",
    );
}

/// The lines of a run of many hosts that `host` printed, without its prefix.
fn host_lines(stdout: &str, host: &str) -> String {
    let prefix = format!("{host}: ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The real rsync client's `-i` lines for a push of `src` into a fresh `dest` on node1,
/// the folder it names made generic.
fn rsync_lines(tc: &TestCluster, args: &[&str], src: &Path, dest: &str) -> String {
    let want = rsync_push(tc, "rsync", args, src, dest);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    text(&want.stdout).replace(dest.trim_end_matches('/'), "DEST")
}

/// `--wire=rsync` to three hosts: one process pushes to all of them, each gets the tree
/// and prints rsync's own `-i` lines under its name, a run with nothing to do prints
/// nothing, and an update with `--delete` prints what rsync prints.
#[test]
fn wire_rsync_pushes_to_many_hosts_at_once() {
    let tc = TestCluster::start(3);
    let scratch = tc.scratch("many");
    let src = make_tree(&scratch);
    let push = |args: &[&str]| {
        run(tc
            .prsync()
            .arg("--wire=rsync")
            .args(args)
            .args(["-w", "node[1-3]"])
            .arg(format!("{}/", src.display()))
            .arg(":/tmp/many/"))
    };

    let want = rsync_lines(&tc, &["-ai"], &src, "/tmp/by-rsync/");
    let got = push(&["-ai"]);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let stdout = text(&got.stdout).replace("/tmp/many", "DEST");
    for node in 1..=3 {
        assert_text_eq!(want, host_lines(&stdout, &format!("node{node}")));
        let tree = tc.cluster.node_tmp(node).join("many");
        assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
    }

    let again = push(&["-ai"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");

    change(&src);
    let args = ["-ai", "--delete"];
    let want = rsync_lines(&tc, &args, &src, "/tmp/by-rsync/");
    assert!(want.contains("*deleting   old/"), "{want}");
    let got = push(&args);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let stdout = text(&got.stdout);
    for node in 1..=3 {
        assert_text_eq!(want, host_lines(&stdout, &format!("node{node}")));
        let tree = tc.cluster.node_tmp(node).join("many");
        assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
    }
}

/// A push to many hosts over rsync's protocol where the server's output goes on after its
/// shell has exited (here a line on stderr, said once the host has reaped the server; a
/// server's last frames can come as late). Reading the exit status must not cut the output
/// off: it did, and a host's last frames were lost now and then ("failed to fill whole
/// buffer").
#[test]
fn wire_rsync_reads_a_servers_output_to_its_end_after_the_shell_exits() {
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("late");
    let src = make_tree(&scratch);
    let late = "p=$$; (while kill -0 $p 2>/dev/null; do sleep 0.1; done; echo said late >&2) & \
                exec rsync \"$@\"";
    let got = run(tc
        .prsync()
        .args(["--wire=rsync", "-a"])
        .arg(format!("--rsync-path=sh -c '{late}' sh"))
        .args(["-w", "node[1-2]"])
        .arg(format!("{}/", src.display()))
        .arg(":/tmp/late/"));
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    // Both hosts said it, folded on one line.
    assert_eq!(text(&got.stderr), "prsync: node[1-2]: said late\n");
    for node in 1..=2 {
        let tree = tc.cluster.node_tmp(node).join("late");
        assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
    }
}

/// The default wire to a mix of hosts: a normal one (served by the agent), a noexec home
/// and another machine (the agent cannot run there: served by their rsync), and another
/// machine without rsync, which fails with one line naming what to install while the
/// others are served. Every served host ends with the same tree and rsync's `-i` lines.
#[test]
fn hosts_where_the_agent_cannot_run_are_served_by_their_rsync() {
    use prtools_testcluster::NodeKind::{NoRsync, NoexecHome, Normal, OtherMachine};
    let tc = TestCluster::start_with(&[Normal, NoexecHome, OtherMachine, NoRsync]);
    let scratch = tc.scratch("mixed");
    let src = make_tree(&scratch);
    let push = |args: &[&str], hosts: &str| {
        run(tc
            .prsync()
            .args(args)
            .args(["-w", hosts])
            .arg(format!("{}/", src.display()))
            .arg(":/tmp/mixed/"))
    };

    let want = rsync_lines(&tc, &["-ai"], &src, "/tmp/by-rsync/");
    let got = push(&["-ai"], "node[1-4]");
    assert_eq!(got.status.code(), Some(12), "{}", text(&got.stderr));
    assert_eq!(
        text(&got.stderr),
        format!(
            "prsync: node4: no rsync on the host and prsync's agent cannot run there (remote \
             is 'Linux {}'); hint: install rsync on the host\n",
            prtools_testcluster::other_machine()
        )
    );
    let stdout = text(&got.stdout).replace("/tmp/mixed", "DEST");
    for node in 1..=3 {
        assert_text_eq!(want, host_lines(&stdout, &format!("node{node}")));
        let tree = tc.cluster.node_tmp(node).join("mixed");
        assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
    }
    assert!(!tc.cluster.node_tmp(4).join("mixed").exists());

    change(&src);
    let args = ["-ai", "--delete"];
    let want = rsync_lines(&tc, &args, &src, "/tmp/by-rsync/");
    let got = push(&args, "node[1-3]");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let stdout = text(&got.stdout);
    for node in 1..=3 {
        assert_text_eq!(want, host_lines(&stdout, &format!("node{node}")));
        let tree = tc.cluster.node_tmp(node).join("mixed");
        assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
    }
}

/// A pull from a host where the agent cannot run (another machine) is served by the host's
/// rsync with the default wire, as rsync's own client would pull; from one with no rsync
/// either it fails with one line naming what to install.
#[test]
fn a_pull_from_a_host_where_the_agent_cannot_run_goes_over_rsync() {
    use prtools_testcluster::NodeKind::{NoRsync, OtherMachine};
    let tc = TestCluster::start_with(&[OtherMachine, NoRsync]);
    let scratch = tc.scratch("pull-instead");
    let src = make_tree(&tc.cluster.node_tmp(1));
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));

    let want = rsync_pull(&tc, "rsync", &["-ai"], "/tmp/src/", &by_rsync);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = run(tc
        .prsync()
        .arg("-ai")
        .arg("node1:/tmp/src/")
        .arg(&by_prsync));
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stderr), "");
    let want_out = text(&want.stdout).replace("by-rsync", "by-prsync");
    assert_eq!(pull_lines(&want_out), pull_lines(&text(&got.stdout)));
    assert_eq!(snapshot(&by_prsync), snapshot(&src));

    let got = run(tc
        .prsync()
        .arg("-a")
        .arg("node2:/tmp/src/")
        .arg(scratch.join("none")));
    assert_eq!(got.status.code(), Some(12));
    assert_eq!(
        text(&got.stderr),
        format!(
            "prsync: node2: no rsync on the host and prsync's agent cannot run there (remote \
             is 'Linux {}'); hint: install rsync on the host\n",
            prtools_testcluster::other_machine()
        )
    );
    assert!(!scratch.join("none").exists());
}

/// Puts what a filtered mirror must skip and spare: a source file the rules exclude, and
/// on the destination, files they exclude (kept by `--delete`) beside one they do not.
fn seed_filtered(src: &Path, dest: &Path) {
    std::fs::write(src.join("skip.log"), "not sent\n").unwrap();
    std::fs::write(dest.join("extra.log"), "spared\n").unwrap();
    std::fs::write(dest.join("extra.txt"), "deleted\n").unwrap();
    std::fs::create_dir_all(dest.join("cache")).unwrap();
    std::fs::write(dest.join("cache/kept.log"), "spared\n").unwrap();
    std::fs::write(dest.join("cache/gone.txt"), "deleted\n").unwrap();
    // Both destinations' spared files must compare equal, times included.
    for spared in ["extra.log", "cache/kept.log"] {
        let out = run(Command::new("touch")
            .args(["-d", "2024-03-04 05:06:07"])
            .arg(dest.join(spared)));
        assert!(out.status.success());
    }
}

/// Filter rules over rsync's protocol: a push with `--exclude` and `--delete` skips what
/// the rules exclude and, as the rules reach the host's receiver, spares what they
/// exclude there; a pull hands the rules to the host's sender and spares the same here.
/// Trees and `-i` lines as rsync's.
#[test]
fn filters_go_to_the_host_and_spare_excluded_files() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("filters");
    let node = tc.cluster.node_tmp(1);
    let src = make_tree(&scratch);
    let args = [
        "-ai",
        "--delete",
        "--exclude=*.log",
        "--exclude=etc/conf.d/",
    ];

    for dest in ["by-rsync", "by-prsync"] {
        let out = plain_push(&tc, "rsync", &["-a"], &src, &format!("/tmp/{dest}/"));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    seed_filtered(&src, &node.join("by-rsync"));
    seed_filtered(&src, &node.join("by-prsync"));
    std::fs::remove_dir_all(src.join("etc/conf.d")).unwrap();
    let want = rsync_push(&tc, "rsync", &args, &src, "/tmp/by-rsync/");
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    assert!(text(&want.stdout).contains("*deleting   cache/gone.txt"));
    let got = plain_push(&tc, "rsync", &args, &src, "/tmp/by-prsync/");
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_text_eq!(text(&want.stdout), text(&got.stdout));
    // `cache` is not in the list: its time is when each run deleted in it.
    let listed = |root: &Path| -> Vec<String> {
        snapshot(root)
            .into_iter()
            .filter(|l| !l.starts_with("cache 0:0 "))
            .collect()
    };
    assert_eq!(
        listed(&node.join("by-prsync")),
        listed(&node.join("by-rsync"))
    );
    assert!(node.join("by-prsync/cache/kept.log").exists());
    assert!(node.join("by-prsync/etc/conf.d").exists());
    assert!(!node.join("by-prsync/skip.log").exists());

    // The same from the host.
    let (by_rsync, by_prsync) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
    let from = node.join("pulled");
    std::fs::create_dir_all(&from).unwrap();
    let pulled = make_tree(&from);
    for dest in [&by_rsync, &by_prsync] {
        let out = run(Command::new("cp").arg("-a").arg(&pulled).arg(dest));
        assert!(out.status.success());
    }
    for dest in [&by_rsync, &by_prsync] {
        seed_filtered(&pulled, dest);
    }
    std::fs::remove_dir_all(pulled.join("etc/conf.d")).unwrap();
    let want = rsync_pull(&tc, "rsync", &args, "/tmp/pulled/src/", &by_rsync);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
    let got = plain_wire(
        &tc,
        "rsync",
        &args,
        "node1:/tmp/pulled/src/",
        by_prsync.to_str().unwrap(),
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(
        pull_lines(&text(&want.stdout)),
        pull_lines(&text(&got.stdout))
    );
    assert_eq!(listed(&by_prsync), listed(&by_rsync));
    assert!(by_prsync.join("cache/kept.log").exists());
    assert!(!by_prsync.join("skip.log").exists());
}

/// `--partial` in a push goes to the host's receiving rsync, which is the side that keeps
/// a file cut off (rsync's client passes it on the same way).
#[test]
fn partial_goes_to_the_receiving_server() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("partial");
    let src = make_tree(&scratch);
    let node = tc.cluster.node_tmp(1);
    let recorder = node.join("recording-rsync");
    prtools_tests::write_executable(
        &recorder,
        b"#!/bin/sh\necho \"$@\" > /tmp/args\nexec rsync \"$@\"\n",
    );

    let got = plain_push(
        &tc,
        "/tmp/recording-rsync",
        &["-a", "--partial"],
        &src,
        "/tmp/p/",
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    let args = std::fs::read_to_string(node.join("args")).unwrap();
    assert!(args.contains(" --partial "), "{args}");
    assert_eq!(snapshot(&node.join("p")), snapshot(&src));

    // A pull keeps its own partial files (prsync_rsync_wire_opts.rs stops one midway), in
    // --partial-dir too (prsync_rsync_wire_opts2.rs).
    let got = plain_wire(
        &tc,
        "rsync",
        &["-a", "--partial"],
        "node1:/tmp/p/",
        scratch.join("back").to_str().unwrap(),
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(snapshot(&scratch.join("back")), snapshot(&src));
    let got = plain_wire(
        &tc,
        "rsync",
        &["-a", "--partial-dir=.part"],
        "node1:/tmp/p/",
        scratch.join("back2").to_str().unwrap(),
    );
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(snapshot(&scratch.join("back2")), snapshot(&src));
}

/// `--wire=rsync` through a remote shell that is not ssh (`-e PROGRAM`, as rsync's own
/// suite gives its `lsh.sh`): the program gets the host and the server's command line, as
/// it does from rsync, and the push and the pull leave the same trees and lines as rsync's.
#[test]
fn wire_rsync_runs_through_a_remote_shell_that_is_not_ssh() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("lsh");
    let src = make_tree(&scratch);
    // A "remote shell" that runs the command on this machine, whatever the host.
    let lsh = scratch.join("lsh");
    prtools_tests::write_executable(&lsh, b"#!/bin/sh\nshift\nexec sh -c \"$*\"\n");
    let lsh = lsh.display().to_string();
    let from = format!("{}/", src.display());
    let by_rsync = scratch.join("by-rsync");
    let by_prsync = scratch.join("by-prsync");
    for (round, args) in [&["-ai"][..], &["-ai", "--delete"]].iter().enumerate() {
        if round == 1 {
            change(&src);
        }
        let want = run(Command::new("rsync")
            .args(["-e", &lsh])
            .args(*args)
            .arg(&from)
            .arg(format!("somehost:{}/", by_rsync.display())));
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let got = run(tc
            .prsync()
            .args(["--wire=rsync", "-e", &lsh])
            .args(*args)
            .arg(&from)
            .arg(format!("somehost:{}/", by_prsync.display())));
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_text_eq!(
            text(&want.stdout).replace("by-rsync", "by-prsync"),
            text(&got.stdout)
        );
        assert_eq!(snapshot(&by_prsync), snapshot(&by_rsync));
    }
    let pulled = scratch.join("pulled");
    let got = run(tc
        .prsync()
        .args(["--wire=rsync", "-e", &lsh, "-a"])
        .arg(format!("somehost:{}/", by_rsync.display()))
        .arg(&pulled));
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(snapshot(&pulled), snapshot(&by_rsync));
}
