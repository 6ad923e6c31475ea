//! Ctrl-C and SIGTERM, end to end (issue 7): the first Ctrl-C lets running hosts finish and
//! starts no more, naming who still runs, as pdsh does; a second Ctrl-C or a SIGTERM kills
//! everything, and nothing is left on the hosts, neither a process nor a temp file.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout};

use prtools_tests::{spawn, wait_for_temp_file, TestCluster};

/// Sends `signal` to our own child.
fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with the pid of our own child; it touches no memory.
    unsafe { libc::kill(child.id() as i32, signal) };
}

/// Reads stderr up to the line that contains `needle`, and returns everything read.
fn stderr_until(stderr: &mut BufReader<ChildStderr>, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "stderr ended before '{needle}':\n{seen}");
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
}

/// Makes a fifo the remote command blocks on until the test opens it.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Lets the command blocked in `cat FIFO` on a node go on. Opening blocks until the remote
/// `cat` has opened its end, so this is an event, not a guess.
fn release(fifo: &Path) {
    let mut end = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    end.write_all(b"go\n").unwrap();
}

/// Processes on `node` other than its sshd listener: what a run left behind.
fn leftovers(tc: &TestCluster, node: usize, what: &str) -> Vec<String> {
    tc.cluster
        .processes(node)
        .into_iter()
        .filter(|p| p.contains(what))
        .collect()
}

/// Names in a node folder that are temp files of an unfinished copy.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".prtools-"))
        .collect()
}

/// Starts prsh on `hosts` hosts with `args`, and returns once every host has printed its
/// first line, `started`: the command really runs on each before the test signals.
fn prsh_started(
    tc: &TestCluster,
    args: &[&str],
    hosts: usize,
) -> (Child, BufReader<ChildStdout>, BufReader<ChildStderr>) {
    let mut child = spawn(tc.tool("prsh").args(args));
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for _ in 0..hosts {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.ends_with("started\n"), "{line}");
    }
    (child, stdout, stderr)
}

#[test]
fn the_first_ctrl_c_lets_running_hosts_finish_and_starts_no_more() {
    let tc = TestCluster::start(4);
    for node in 1..=4 {
        mkfifo(&tc.cluster.node_tmp(node).join("go"));
    }
    let args = [
        "-f",
        "2",
        "-w",
        "node[1-4]",
        "echo started; touch /tmp/ran; cat /tmp/go; echo done",
    ];
    let (mut child, mut stdout, mut stderr) = prsh_started(&tc, &args, 2);
    signal(&child, libc::SIGINT);
    let said = stderr_until(&mut stderr, "interrupt:");
    assert!(
        said.contains("prsh: interrupt: letting node[1-2] finish; Ctrl-C again to kill them"),
        "{said}"
    );
    for node in 1..=2 {
        release(&tc.cluster.node_tmp(node).join("go"));
    }
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).unwrap();
    assert_eq!(status.code(), Some(130), "{errors}");
    for node in 1..=2 {
        assert!(rest.contains(&format!("node{node}: done")), "{rest}");
    }
    assert!(
        errors.contains("prsh: node[3-4]: not started: interrupted"),
        "{errors}"
    );
    for node in 3..=4 {
        assert!(
            !tc.cluster.node_tmp(node).join("ran").exists(),
            "node{node}"
        );
    }
}

/// Starts a command that never ends by itself on two hosts and stops prsh with `signals`.
fn kill_remote_commands(signals: &[i32], status: i32) {
    let tc = TestCluster::start(2);
    let args = ["-w", "node[1-2]", "echo started; exec sleep 600"];
    let (mut child, _stdout, mut stderr) = prsh_started(&tc, &args, 2);
    for (i, &number) in signals.iter().enumerate() {
        signal(&child, number);
        if i + 1 < signals.len() {
            stderr_until(&mut stderr, "Ctrl-C again to kill them");
        }
    }
    assert_eq!(child.wait().unwrap().code(), Some(status));
    for node in 1..=2 {
        let left = leftovers(&tc, node, "sleep");
        assert!(left.is_empty(), "left running on node{node}: {left:?}");
    }
}

#[test]
fn ctrl_c_twice_kills_remote_commands_and_exits_130() {
    kill_remote_commands(&[libc::SIGINT, libc::SIGINT], 130);
}

#[test]
fn sigterm_kills_at_once_and_exits_143() {
    kill_remote_commands(&[libc::SIGTERM], 143);
}

#[test]
fn ctrl_c_twice_kills_the_prsync_agents_and_their_temp_files() {
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("interrupt");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("slow.bin"), vec![2u8; 64 << 20]).unwrap();
    for node in 1..=2 {
        std::fs::create_dir_all(tc.cluster.node_tmp(node).join("dst")).unwrap();
    }
    let mut child = spawn(
        tc.prsync()
            .args(["-a", "--bwlimit=4M", "-w", "node[1-2]"])
            .arg(format!("{}/", src.display()))
            .arg(":/tmp/dst/"),
    );
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    for node in 1..=2 {
        wait_for_temp_file(&tc.cluster.node_tmp(node).join("dst"), ".slow.bin.", 1);
    }
    signal(&child, libc::SIGINT);
    let said = stderr_until(&mut stderr, "interrupt:");
    assert!(said.contains("letting node[1-2] finish"), "{said}");
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).unwrap();
    assert_eq!(status.code(), Some(130), "{errors}");
    assert!(errors.contains("interrupted"), "{errors}");
    for node in 1..=2 {
        let left = leftovers(&tc, node, "--server");
        assert!(left.is_empty(), "node{node}: {left:?}");
        let dst = tc.cluster.node_tmp(node).join("dst");
        assert!(
            temp_files(&dst).is_empty(),
            "node{node}: {:?}",
            temp_files(&dst)
        );
        assert!(!dst.join("slow.bin").exists(), "node{node}");
    }
}

#[test]
fn ctrl_c_stops_a_one_host_prcp_at_once_and_leaves_no_temp_file() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("prcp-int");
    std::fs::create_dir_all(&scratch).unwrap();
    // Sparse: big enough that the copy is far from done when the signal lands, free to make.
    let big = scratch.join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let mut child = spawn(tc.tool("prcp").args(["-w", "node1"]).arg(&big).arg("/tmp/"));
    let tmp = tc.cluster.node_tmp(1);
    wait_for_temp_file(&tmp, ".big.bin.", 1);
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{errors}");
    assert!(errors.contains("prcp: node1: interrupted"), "{errors}");
    assert!(leftovers(&tc, 1, "--server").is_empty());
    assert!(temp_files(&tmp).is_empty(), "{:?}", temp_files(&tmp));
    assert!(!tmp.join("big.bin").exists());
}

/// `--batch` is pdsh's -b: the first Ctrl-C already kills every host's command.
#[test]
fn batch_mode_kills_at_the_first_ctrl_c() {
    let tc = TestCluster::start(2);
    let args = ["--batch", "-w", "node[1-2]", "echo started; exec sleep 600"];
    let (mut child, _stdout, mut stderr) = prsh_started(&tc, &args, 2);
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).unwrap();
    assert_eq!(status.code(), Some(130), "{errors}");
    assert!(!errors.contains("letting"), "{errors}");
    for node in 1..=2 {
        assert_eq!(leftovers(&tc, node, "sleep 600"), Vec::<String>::new());
    }
}
