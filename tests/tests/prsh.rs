//! prsh end to end: the real binary against a real 8-host cluster (DESIGN.md, Testing).

use std::io::Write;
use std::process::Stdio;

use prtools_tests::{assert_one_line_error, assert_text_eq, run, text, LocalUser, TestCluster};

const HOSTS: &str = "node[1-8]";

fn sorted_lines(s: &str) -> Vec<String> {
    let mut lines: Vec<String> = s.lines().map(String::from).collect();
    lines.sort();
    lines
}

#[test]
fn every_host_answers_with_its_own_hostname() {
    let tc = TestCluster::start(8);
    let out = run(tc.tool("prsh").args(["-w", HOSTS, "hostname"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut expected: Vec<String> = (1..=8).map(|i| format!("node{i}: node{i}")).collect();
    expected.sort();
    assert_eq!(sorted_lines(&text(&out.stdout)), expected);
    assert_text_eq!("", text(&out.stderr));
}

#[test]
fn gathered_output_matches_pdsh_and_dshbak() {
    let tc = TestCluster::start(8);
    let command = "echo kernel; case $(hostname) in node3|node7) echo odd one;; esac";
    let ours = run(tc.tool("prsh").args(["-w", HOSTS, "-b", command]));
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));

    let mut pdsh = tc
        .pdsh()
        .args(["-w", HOSTS, command])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("pdsh runs");
    let dshbak = std::process::Command::new("dshbak")
        .arg("-c")
        .stdin(pdsh.stdout.take().expect("pdsh stdout"))
        .output()
        .expect("dshbak runs");
    assert!(pdsh.wait().expect("pdsh exits").success());
    let theirs = text(&dshbak.stdout);
    assert!(theirs.contains("node[3,7]"), "pdsh did not run: {theirs}");
    assert_text_eq!(theirs, text(&ours.stdout));
}

/// As `pdsh | dshbak -c`: -b gathers by output alone, and the exit statuses go to stderr.
#[test]
fn gathering_is_by_output_alone_and_statuses_go_to_stderr() {
    let tc = TestCluster::start(4);
    let out = run(tc.tool("prsh").args([
        "-w",
        "node[1-4]",
        "-b",
        "echo same; [ $(hostname) = node2 ] && exit 3; true",
    ]));
    assert_eq!(out.status.code(), Some(3));
    assert_text_eq!(
        "----------------\nnode[1-4]\n----------------\nsame\n",
        text(&out.stdout)
    );
    assert_text_eq!("prsh: node2: exited with status 3\n", text(&out.stderr));
}

#[test]
fn exit_status_is_the_largest_and_failures_are_named_folded() {
    let tc = TestCluster::start(8);
    let out = run(tc.tool("prsh").args([
        "-w",
        HOSTS,
        "case $(hostname) in node2|node6) exit 3;; node5) exit 7;; esac",
    ]));
    assert_eq!(out.status.code(), Some(7));
    assert_text_eq!(
        "prsh: node[2,6]: exited with status 3\nprsh: node5: exited with status 7\n",
        text(&out.stderr)
    );
}

#[test]
fn a_command_not_found_is_status_127_as_with_ssh() {
    let tc = TestCluster::start(2);
    let out = run(tc
        .tool("prsh")
        .args(["-w", "node[1-2]", "-N", "no-such-command-here"]));
    assert_eq!(out.status.code(), Some(127));
    let stderr = text(&out.stderr);
    assert!(
        stderr.ends_with("prsh: node[1-2]: exited with status 127\n"),
        "{stderr}"
    );
}

#[test]
fn a_stopped_host_is_refused_named_and_the_rest_complete() {
    let tc = TestCluster::start(8);
    tc.cluster.stop_node(3).unwrap();
    let out = run(tc.tool("prsh").args(["-w", HOSTS, "hostname"]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!("prsh: node3: connection refused\n", text(&out.stderr));
    let lines = sorted_lines(&text(&out.stdout));
    assert_eq!(lines.len(), 7);
    assert!(!lines.iter().any(|l| l.starts_with("node3")));
}

#[test]
fn a_frozen_host_times_out_on_connect() {
    let tc = TestCluster::start(8);
    tc.cluster.freeze_node(4).unwrap();
    // 5 s, not less: under a parallel test run a live host can take seconds to connect.
    let out = run(tc.tool("prsh").args(["-w", HOSTS, "-t", "5", "hostname"]));
    tc.cluster.thaw_node(4).unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!(
        "prsh: node4: connect timed out after 5s\n",
        text(&out.stderr)
    );
    assert_eq!(sorted_lines(&text(&out.stdout)).len(), 7);
}

#[test]
fn command_timeout_kills_the_remote_command() {
    let tc = TestCluster::start(2);
    let out = run(tc
        .tool("prsh")
        .args(["-w", "node2", "-u", "1", "sleep 600"]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!(
        "prsh: node2: command timeout (timed out after 1s, killed)\n",
        text(&out.stderr)
    );
    let left: Vec<String> = tc
        .cluster
        .processes(2)
        .into_iter()
        .filter(|p| p.contains("sleep"))
        .collect();
    assert!(left.is_empty(), "left running on node2: {left:?}");
}

#[test]
fn a_one_mebibyte_line_arrives_whole_from_every_host() {
    let tc = TestCluster::start(8);
    let out =
        run(tc
            .tool("prsh")
            .args(["-w", HOSTS, "head -c 1048576 /dev/zero | tr '\\0' a; echo"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 8);
    for line in lines {
        let (host, body) = line.split_once(": ").expect("prefixed");
        assert!(host.starts_with("node"), "{}", &line[..40]);
        assert_eq!(body.len(), 1 << 20, "line from {host} was cut");
        assert!(
            body.bytes().all(|b| b == b'a'),
            "line from {host} was mixed"
        );
    }
}

#[test]
fn output_written_just_before_exit_arrives_complete() {
    let tc = TestCluster::start(8);
    let out = run(tc.tool("prsh").args(["-w", HOSTS, "seq 1 20000"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for i in 1..=8 {
        let prefix = format!("node{i}: ");
        let got: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect();
        let expected: Vec<String> = (1..=20000).map(|n| n.to_string()).collect();
        assert!(got == expected, "node{i} sent {} of 20000 lines", got.len());
    }
}

#[test]
fn stdin_is_sent_to_every_host() {
    let tc = TestCluster::start(8);
    let mut child = tc
        .tool("prsh")
        .args(["-I", "-w", HOSTS, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nworld\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut expected = Vec::new();
    for i in 1..=8 {
        expected.push(format!("node{i}: hello"));
        expected.push(format!("node{i}: world"));
    }
    expected.sort();
    assert_eq!(sorted_lines(&text(&out.stdout)), expected);
}

#[test]
fn stdin_from_a_file_is_sent_too() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("input").join("lines");
    std::fs::write(&file, "from a file\n").unwrap();
    let out = tc
        .tool("prsh")
        .args(["--send-input", "-w", "node[1-2]", "cat"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        sorted_lines(&text(&out.stdout)),
        ["node1: from a file", "node2: from a file"]
    );
}

/// As pdsh: without -I, standard input is not read, so a pipe that never closes holds
/// nothing back; with -I, a command that does not read it is not held back either.
#[test]
fn stdin_that_never_closes_holds_back_no_command() {
    let tc = TestCluster::start(2);
    for args in [
        &["-w", "node[1-2]", "hostname"][..],
        &["-I", "-w", "node[1-2]", "hostname"],
    ] {
        let mut child = tc
            .tool("prsh")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Held open until prsh has ended: a pipe from cron or CI that never closes.
        let open = child.stdin.take();
        let mut stdout = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        let status = child.wait().unwrap();
        drop(open);
        assert_eq!(status.code(), Some(0), "{args:?}");
        assert_eq!(
            sorted_lines(&stdout),
            ["node1: node1", "node2: node2"],
            "{args:?}"
        );
    }
}

#[test]
fn n_keeps_stdin_from_the_hosts() {
    let tc = TestCluster::start(2);
    let mut child = tc
        .tool("prsh")
        .args(["-n", "-w", "node[1-2]", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        sorted_lines(&text(&out.stdout)),
        ["node1: done", "node2: done"]
    );
}

/// sshd's processes for established connections (`sshd: root@notty` and its privileged
/// parent), with their pids, so that a replaced connection does not look like the same one.
fn connection_processes(tc: &TestCluster, node: usize) -> Vec<(u32, String)> {
    let mut found: Vec<(u32, String)> = tc
        .cluster
        .process_table(node)
        .into_iter()
        .filter(|(_, cmdline)| cmdline.starts_with("sshd: root"))
        .collect();
    found.sort();
    found
}

#[test]
fn persist_reuses_the_master_so_a_second_run_opens_no_connection() {
    let tc = TestCluster::start(3);
    let first = run(tc
        .tool("prsh")
        .args(["--persist", "60", "-w", "node[1-3]", "true"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before: Vec<Vec<(u32, String)>> = (1..=3).map(|n| connection_processes(&tc, n)).collect();
    assert!(
        before.iter().all(|p| !p.is_empty()),
        "no master kept: {before:?}"
    );

    let second = run(tc
        .tool("prsh")
        .args(["--persist", "60", "-w", "node[1-3]", "hostname"]));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(
        sorted_lines(&text(&second.stdout)),
        ["node1: node1", "node2: node2", "node3: node3"]
    );
    let after: Vec<Vec<(u32, String)>> = (1..=3).map(|n| connection_processes(&tc, n)).collect();
    assert_eq!(before, after, "the second run opened new connections");
}

#[test]
fn without_persist_no_connection_is_left_open() {
    let tc = TestCluster::start(2);
    let out = run(tc.tool("prsh").args(["-w", "node[1-2]", "true"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // sshd tears its side down after the client's master has exited, so the check waits
    // (bounded) for that instead of looking once; a master left lingering would stay for 60 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for node in 1..=2 {
        while !connection_processes(&tc, node).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "connection left open on node{node}: {:?}",
                connection_processes(&tc, node)
            );
            std::thread::yield_now();
        }
    }
}

#[test]
fn exec_transport_runs_a_local_command_per_host() {
    let tc = TestCluster::start(3);
    let config = tc.cluster.ssh_config().display().to_string();
    let mut cmd = std::process::Command::new(prtools_tests::bin("prsh"));
    tc.isolate(&mut cmd);
    let out = run(cmd.args([
        "-R",
        "exec",
        "-w",
        "node[1-3]",
        "ssh",
        "-F",
        &config,
        "%h",
        "echo",
        "%n",
        "on",
        "$(hostname)",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        sorted_lines(&text(&out.stdout)),
        [
            "node1: 0 on node1",
            "node2: 1 on node2",
            "node3: 2 on node3"
        ]
    );

    let template = format!("exec ssh -F {config} %h");
    let mut cmd = std::process::Command::new(prtools_tests::bin("prsh"));
    tc.isolate(&mut cmd);
    let out = run(cmd.args(["-R", &template, "-w", "node[1-2]", "hostname"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        sorted_lines(&text(&out.stdout)),
        ["node1: node1", "node2: node2"]
    );
}

#[test]
fn output_modes_no_prefix_json_blocks_and_files() {
    let tc = TestCluster::start(2);
    let out = run(tc.tool("prsh").args(["-N", "-w", "node[1-2]", "hostname"]));
    assert_eq!(sorted_lines(&text(&out.stdout)), ["node1", "node2"]);

    let out = run(tc.tool("prsh").args([
        "--json",
        "-w",
        "node[1-2]",
        "hostname; echo warn >&2; [ $(hostname) = node2 ] && exit 4; true",
    ]));
    assert_eq!(out.status.code(), Some(4));
    let mut objects: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    objects.sort_by_key(|o| o["host"].as_str().unwrap().to_string());
    assert_eq!(objects[1]["host"], "node2");
    assert_eq!(objects[1]["status"], 4);
    assert_eq!(objects[1]["stdout"], "node2\n");
    assert_eq!(objects[1]["stderr"], "warn\n");
    assert!(objects[1]["seconds"].as_f64().unwrap() > 0.0);

    let out = run(tc
        .tool("prsh")
        .args(["-i", "-w", "node1", "hostname; echo oops >&2"]));
    let block = text(&out.stdout);
    assert!(block.starts_with("[1] "), "{block}");
    assert!(
        block.contains(" [SUCCESS] node1\nnode1\nStderr: oops\n"),
        "{block}"
    );

    let dir = tc.scratch("outs");
    let (o, e) = (dir.join("out"), dir.join("err"));
    let out = run(tc
        .tool("prsh")
        .args(["-w", "node[1-2]", "-o"])
        .arg(&o)
        .arg("-e")
        .arg(&e)
        .arg("hostname; echo e-$(hostname) >&2"));
    assert_eq!(out.status.code(), Some(0));
    assert_text_eq!("", text(&out.stdout));
    for n in 1..=2 {
        let stdout = std::fs::read_to_string(o.join(format!("node{n}"))).unwrap();
        let stderr = std::fs::read_to_string(e.join(format!("node{n}"))).unwrap();
        assert_eq!(stdout, format!("node{n}\n"));
        assert_eq!(stderr, format!("e-node{n}\n"));
    }
}

#[test]
fn ssh_options_port_and_user_reach_ssh() {
    let tc = TestCluster::start(1);
    // -O comes before the config file, so it overrides the config's Port.
    let out = run(tc
        .tool("prsh")
        .args(["-O", "Port=1", "-w", "node1", "true"]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!("prsh: node1: connection refused\n", text(&out.stderr));

    let out = run(tc.tool("prsh").args(["--port", "1", "-w", "node1", "true"]));
    assert_text_eq!("prsh: node1: connection refused\n", text(&out.stderr));

    // `nobody` may log in with the cluster key, but has no shell.
    let out = run(tc
        .tool("prsh")
        .args(["-l", "nobody", "-w", "node1", "id -un"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_text_eq!(
        "node1: This account is currently not available.\n",
        text(&out.stdout)
    );
}

#[test]
fn a_host_that_would_prompt_fails_fast_with_the_reason() {
    let tc = TestCluster::start(2);
    // An empty known_hosts and `ask` would prompt; batch mode refuses instead of hanging.
    let out = run(tc.tool("prsh").args([
        "-O",
        "UserKnownHostsFile=/dev/null",
        "-O",
        "StrictHostKeyChecking=ask",
        "-w",
        "node[1-2]",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!(
        "prsh: node[1-2]: host key verification failed; run `ssh HOST` once to check and accept the key\n",
        text(&out.stderr)
    );
}

#[test]
fn fanout_bounds_how_many_hosts_run_at_once() {
    let tc = TestCluster::start(6);
    // The hosts share every folder but /tmp, so each command can see the others running.
    let board = tc.scratch("board");
    let command = format!(
        "b={}; touch $b/run.$(hostname); ls $b | grep -c '^run' > $b/seen.$(hostname); \
         sleep 0.3; rm $b/run.$(hostname)",
        board.display()
    );
    let out = run(tc
        .tool("prsh")
        .args(["-f", "2", "-w", "node[1-6]", &command]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for n in 1..=6 {
        let seen: usize = std::fs::read_to_string(board.join(format!("seen.node{n}")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            seen <= 2,
            "node{n} saw {seen} hosts running at once with -f 2"
        );
    }
}

#[test]
fn a_fan_out_past_the_open_file_limit_is_lowered_with_a_notice_or_refused() {
    let tc = TestCluster::start(30);
    let prsh = |soft: u64, hard: u64| {
        let mut cmd = tc.tool("prsh");
        prtools_tests::limit_open_files(&mut cmd, soft, Some(hard));
        run(cmd.args(["-w", "node[1-30]", "-f", "30", "-N", "echo ok"]))
    };
    // A soft limit below what -f 30 needs is raised, silently, when the hard one allows.
    let raised = prsh(100, 4096);
    assert_text_eq!("", text(&raised.stderr));
    assert_eq!(text(&raised.stdout), "ok\n".repeat(30));
    // 264 descriptors fit 20 hosts at once (64 for the tool, 10 a host): all 30 still run,
    // 20 at a time, and one line says so.
    let lowered = prsh(264, 264);
    assert_eq!(lowered.status.code(), Some(0));
    assert_text_eq!(
        "prsh: only 20 hosts at once fit in the open-file limit of 264 (`ulimit -n`): \
         running -f 20 instead of -f 30; raise `ulimit -n` to 364 for -f 30\n",
        text(&lowered.stderr)
    );
    assert_eq!(text(&lowered.stdout), "ok\n".repeat(30));
    // Not even one host fits: one line that names the fix, and nothing runs.
    let refused = prsh(50, 50);
    assert_eq!(refused.status.code(), Some(1));
    assert_text_eq!(
        "prsh: the open-file limit of 50 (`ulimit -n`) is too low for even one host at a \
         time (-f 1 needs 74); raise it with `ulimit -n 364`\n",
        text(&refused.stderr)
    );
    assert_text_eq!("", text(&refused.stdout));
}

#[test]
fn gather_with_stderr_and_s_flag() {
    let tc = TestCluster::start(3);
    let out = run(tc
        .tool("prsh")
        .args(["-S", "-B", "-w", "node[1-3]", "echo out; echo err >&2"]));
    assert_eq!(out.status.code(), Some(0));
    assert_text_eq!(
        "----------------\nnode[1-3]\n----------------\nout\nerr\n",
        text(&out.stdout)
    );
    assert_text_eq!("", text(&out.stderr));

    // Without -B, stderr is not gathered: it streams to stderr with the prefix.
    let out = run(tc
        .tool("prsh")
        .args(["-b", "-w", "node1", "echo out; echo err >&2"]));
    assert_text_eq!(
        "----------------\nnode1\n----------------\nout\n",
        text(&out.stdout)
    );
    assert_text_eq!("node1: err\n", text(&out.stderr));
}

#[test]
fn the_host_prefix_is_coloured_on_a_terminal_unless_no_color() {
    let tc = TestCluster::start(1);
    let prsh = prtools_tests::bin("prsh");
    let line = format!(
        "{} -F {} -w node1 hostname",
        prsh.display(),
        tc.cluster.ssh_config().display()
    );
    // script(1) gives prsh a terminal as its stdout.
    let mut coloured = std::process::Command::new("script");
    tc.isolate(&mut coloured);
    coloured
        .env_remove("NO_COLOR")
        .args(["-qec", &line, "/dev/null"]);
    let out = text(&run(&mut coloured).stdout);
    assert!(out.contains("\u{1b}[36mnode1\u{1b}[0m: node1"), "{out:?}");

    let mut plain = std::process::Command::new("script");
    tc.isolate(&mut plain);
    plain.args(["-qec", &line, "/dev/null"]);
    let out = text(&run(&mut plain).stdout);
    assert!(
        out.contains("node1: node1") && !out.contains('\u{1b}'),
        "{out:?}"
    );
}

#[test]
fn persist_from_the_environment() {
    let tc = TestCluster::start(1);
    let first = run(tc
        .tool("prsh")
        .env("PRTOOLS_PERSIST", "1m")
        .args(["-w", "node1", "true"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let before = connection_processes(&tc, 1);
    assert!(!before.is_empty(), "PRTOOLS_PERSIST kept no master");
    let second = run(tc
        .tool("prsh")
        .env("PRTOOLS_PERSIST", "1m")
        .args(["-w", "node1", "true"]));
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(before, connection_processes(&tc, 1));
}

#[test]
fn a_dead_persistent_master_is_replaced_not_trusted() {
    let tc = TestCluster::start(1);
    let first = run(tc
        .tool("prsh")
        .args(["--persist", "1m", "-w", "node1", "true"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // Kill the master hard, so that its socket file stays behind with nobody listening.
    let sockets: Vec<std::path::PathBuf> = std::fs::read_dir(tc.control_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    let check = run(std::process::Command::new("ssh")
        .arg("-S")
        .arg(&sockets[0])
        .args(["-O", "check", "node1"]));
    let answer = text(&check.stderr);
    let pid: i32 = answer
        .split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no master pid in {answer:?}"));
    // SAFETY: kill(2) has no memory effects; the pid is the master we just asked about.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(sockets[0].exists(), "a killed master leaves its socket");

    let second = run(tc
        .tool("prsh")
        .args(["--persist", "1m", "-w", "node1", "hostname"]));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_text_eq!("node1: node1\n", text(&second.stdout));
}

/// A folder that stands for /tmp (world-writable, sticky) for one test, so that the fixed
/// name `prtools-ctl-<uid>` in it clashes with no other test and goes with the cluster.
fn shared_tmp(tc: &TestCluster) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tc.scratch("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    tmp
}

/// prsh as a user without `$HOME` and `$XDG_RUNTIME_DIR` runs it (cron, `env -i`, some
/// batch systems): its control folder is `prtools-ctl-<uid>` in `$TMPDIR`, here `tmp`.
fn prsh_without_home(tc: &TestCluster, tmp: &std::path::Path) -> std::process::Command {
    let mut cmd = tc.tool("prsh");
    cmd.env_remove("HOME")
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", tmp);
    cmd
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn control_folder_in(tmp: &std::path::Path) -> std::path::PathBuf {
    tmp.join(format!("prtools-ctl-{}", euid()))
}

#[test]
fn a_control_folder_planted_by_another_user_is_refused() {
    let tc = TestCluster::start(1);
    let tmp = shared_tmp(&tc);
    let other = LocalUser::create();
    // The other user makes our folder first, private to them, and could then put a fake
    // master at our socket's name.
    let folder = control_folder_in(&tmp);
    let planted = run(other.command("mkdir").arg("-m700").arg(&folder));
    assert!(planted.status.success(), "{}", text(&planted.stderr));
    let out = run(prsh_without_home(&tc, &tmp).args(["--persist", "5m", "-w", "node1", "echo hi"]));
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert_text_eq!("", text(&out.stdout));
    assert_one_line_error(
        "prsh",
        &text(&out.stderr),
        &format!(
            "prsh: node1: control folder {} belongs to uid {}, not to you (uid {}); hint: \
             remove it, or set XDG_RUNTIME_DIR to a folder of your own",
            folder.display(),
            other.uid(),
            euid()
        ),
    );
    assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);

    // A symlink in its place, to a folder of theirs, is refused as well.
    std::fs::remove_dir(&folder).unwrap();
    let theirs = tmp.join("theirs");
    let planted = run(other.command("mkdir").arg("-m700").arg(&theirs));
    assert!(planted.status.success(), "{}", text(&planted.stderr));
    let planted = run(other.command("ln").arg("-s").arg(&theirs).arg(&folder));
    assert!(planted.status.success(), "{}", text(&planted.stderr));
    let out = run(prsh_without_home(&tc, &tmp).args(["--persist", "5m", "-w", "node1", "echo hi"]));
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
    assert_text_eq!("", text(&out.stdout));
    assert_one_line_error(
        "prsh",
        &text(&out.stderr),
        &format!(
            "prsh: node1: control folder {} is a symlink; hint:",
            folder.display()
        ),
    );
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0);
}

#[test]
fn persist_without_home_keeps_its_masters_in_a_private_folder_in_tmpdir() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let tc = TestCluster::start(1);
    let tmp = shared_tmp(&tc);
    let first = run(prsh_without_home(&tc, &tmp).args(["--persist", "1m", "-w", "node1", "true"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let folder = control_folder_in(&tmp);
    let meta = std::fs::symlink_metadata(&folder).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (euid(), 0o700));
    let sockets: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_type().unwrap())
        .collect();
    assert!(sockets.len() == 1 && sockets[0].is_socket(), "{sockets:?}");
    let before = connection_processes(&tc, 1);
    assert!(!before.is_empty(), "no master kept");

    let second =
        run(prsh_without_home(&tc, &tmp).args(["--persist", "1m", "-w", "node1", "hostname"]));
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_text_eq!("node1: node1\n", text(&second.stdout));
    assert_eq!(
        before,
        connection_processes(&tc, 1),
        "the second run opened a connection"
    );
}

#[test]
fn every_way_of_selecting_hosts_reaches_the_right_hosts() {
    let tc = TestCluster::start(6);
    let home = tc.scratch("home");
    std::fs::create_dir_all(home.join(".config/prtools")).unwrap();
    std::fs::write(
        home.join(".config/prtools/groups"),
        "# racks\nrack1: node[1-3]\nrack2: node[4-6]\n",
    )
    .unwrap();
    let hostfile = tc.scratch("files").join("hosts");
    std::fs::write(&hostfile, "# two hosts\nroot@node2\nnode5\n").unwrap();
    let hosts_of = |args: &[&str], wcoll: Option<&std::path::Path>| -> Vec<String> {
        let mut cmd = tc.tool("prsh");
        cmd.env("HOME", &home)
            .args(["-N"])
            .args(args)
            .arg("hostname");
        if let Some(file) = wcoll {
            cmd.env("WCOLL", file);
        }
        let out = run(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        sorted_lines(&text(&out.stdout))
    };
    assert_eq!(
        hosts_of(&["-w", "node[1-6]", "-x", "node[2-3],node5"], None),
        ["node1", "node4", "node6"]
    );
    assert_eq!(
        hosts_of(&["-w", "node[1-5/2]"], None),
        ["node1", "node3", "node5"]
    );
    let caret = format!("^{}", hostfile.display());
    assert_eq!(hosts_of(&["-w", &caret], None), ["node2", "node5"]);
    assert_eq!(
        hosts_of(&["-h", hostfile.to_str().unwrap(), "-w", "node1"], None),
        ["node1", "node2", "node5"]
    );
    assert_eq!(
        hosts_of(&["-g", "rack2"], None),
        ["node4", "node5", "node6"]
    );
    assert_eq!(
        hosts_of(&["-w", "@rack1", "-x", "node1"], None),
        ["node2", "node3"]
    );
    assert_eq!(hosts_of(&[], Some(&hostfile)), ["node2", "node5"]);
    // WCOLL is only used when nothing else names hosts.
    assert_eq!(hosts_of(&["-w", "node6"], Some(&hostfile)), ["node6"]);
}

/// A command killed by a signal is named so, not as "exited with status 255" (issue 13).
#[test]
fn a_command_killed_by_a_signal_is_named_so() {
    let tc = TestCluster::start(2);
    let out = run(tc.tool("prsh").args(["-w", "node[1-2]", "kill -9 $$"]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!("prsh: node[1-2]: killed by a signal\n", text(&out.stderr));
    // Run here through -R exec, the signal's number is known, as pdsh prints it.
    let out = run(tc
        .tool("prsh")
        .args(["-R", "exec", "-w", "a", "sh", "-c", "kill -9 $$"]));
    assert_eq!(out.status.code(), Some(255));
    assert_text_eq!("prsh: a: killed by signal 9\n", text(&out.stderr));
}
