//! prcp end to end: the real binary and its agent against a real cluster (DESIGN.md, Testing).

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use prtools_tests::{
    assert_text_eq, describe, remove_agent_cache, run, spawn, text, unique_copy,
    wait_for_temp_file, TestCluster,
};

/// A small tree with what a stage needs to keep: nested files, modes, an empty folder,
/// symlinks (relative and dangling), and set mtimes.
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::create_dir_all(tree.join("data/deep")).unwrap();
    std::fs::write(tree.join("bin/run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(
        tree.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(tree.join("data/deep/big.bin"), vec![7u8; 700_000]).unwrap();
    std::fs::write(tree.join("data/notes with space.txt"), "notes\n").unwrap();
    std::fs::set_permissions(
        tree.join("data/notes with space.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    symlink("bin/run.sh", tree.join("link")).unwrap();
    symlink("nowhere", tree.join("dangling")).unwrap();
    for (i, name) in [
        "bin/run.sh",
        "data/deep/big.bin",
        "data/notes with space.txt",
    ]
    .iter()
    .enumerate()
    {
        let t = filetime_secs(1_600_000_000 + i as i64 * 1000);
        set_mtime(&tree.join(name), t);
    }
    tree
}

fn filetime_secs(secs: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: secs,
        tv_nsec: 123_000_000,
    }
}

fn set_mtime(path: &Path, t: libc::timespec) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let times = [t, t];
    // SAFETY: c is a valid C string and times two valid timespecs, for the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0);
}

fn stats_line<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
        .unwrap_or_else(|| panic!("no '{name}' in {stdout}"))
}

#[test]
fn a_tree_staged_to_tmp_is_identical_on_every_host() {
    let tc = TestCluster::start(8);
    let tree = make_tree(&tc.scratch("src"));
    // As with cp -r, a tree copied into an existing folder lands inside it, under its name,
    // however often it is copied.
    for node in 1..=8 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("stage")).unwrap();
    }
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-8]", "-r", "-p", "--links", "--stats"])
        .arg(&tree)
        .arg("/tmp/stage"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = describe(&tree);
    assert!(expected.len() >= 9, "{expected:?}");
    for node in 1..=8 {
        // The node's private /tmp is what proves the copy arrived on that host.
        let staged = tc.cluster.node_tmp(node).join("stage/tree");
        assert_eq!(describe(&staged), expected, "node{node}");
    }
    let stdout = text(&out.stdout);
    assert_eq!(stats_line(&stdout, "files written:"), "24");

    // A second run finds everything up to date by size and mtime, and sends nothing.
    let again = run(tc
        .tool("prcp")
        .args(["-w", "node[1-8]", "-r", "-p", "--links", "--stats"])
        .arg(&tree)
        .arg("/tmp/stage"));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let stdout = text(&again.stdout);
    assert_eq!(stats_line(&stdout, "files written:"), "0");
    assert_eq!(stats_line(&stdout, "bytes sent:"), "0");
    assert_eq!(stats_line(&stdout, "agents uploaded:"), "0");

    // --force sends again, and --verify checks every copy.
    let forced = run(tc
        .tool("prcp")
        .args([
            "-w",
            "node[1-8]",
            "-r",
            "-p",
            "--links",
            "--force",
            "--verify",
            "--stats",
        ])
        .arg(&tree)
        .arg("/tmp/stage"));
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert_eq!(stats_line(&text(&forced.stdout), "files written:"), "24");
}

#[test]
fn a_tree_copied_to_a_new_name_takes_that_name() {
    let tc = TestCluster::start(2);
    let tree = make_tree(&tc.scratch("src"));
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-2]", "-r", "-p", "--links"])
        .arg(&tree)
        .arg("/tmp/renamed"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for node in 1..=2 {
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("renamed")),
            describe(&tree)
        );
    }
}

#[test]
fn gather_saves_one_file_per_host_named_as_rpdcp_does() {
    let tc = TestCluster::start(8);
    for node in 1..=8 {
        std::fs::write(
            tc.cluster.node_tmp(node).join("report.txt"),
            format!("report of node{node}\n"),
        )
        .unwrap();
    }
    let local = tc.scratch("gathered");
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node[1-8]", "/tmp/report.txt"])
        .arg(&local));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (1..=8).map(|n| format!("report.txt.node{n}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    for node in 1..=8 {
        assert_text_eq!(
            format!("report of node{node}\n"),
            std::fs::read_to_string(local.join(format!("report.txt.node{node}"))).unwrap()
        );
    }

    let per_host = tc.scratch("per-host");
    let out = run(tc
        .tool("prcp")
        .args(["--gather-dirs", "-w", "node[1-2]", "/tmp/report.txt"])
        .arg(&per_host));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        "report of node2\n",
        std::fs::read_to_string(per_host.join("node2/report.txt")).unwrap()
    );
}

#[test]
fn scp_syntax_for_one_host_and_third_party_copies() {
    let tc = TestCluster::start(8);
    let src = tc.scratch("one").join("hello.txt");
    std::fs::write(&src, "hello\n").unwrap();
    let out = run(tc.tool("prcp").arg(&src).arg("node3:/tmp/hello.txt"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        "hello\n",
        std::fs::read_to_string(tc.cluster.node_tmp(3).join("hello.txt")).unwrap()
    );
    assert!(!tc.cluster.node_tmp(4).join("hello.txt").exists());

    let back = tc.scratch("back");
    let out = run(tc
        .tool("prcp")
        .arg("node3:/tmp/hello.txt")
        .arg(back.join("copy.txt")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        "hello\n",
        std::fs::read_to_string(back.join("copy.txt")).unwrap()
    );

    let out = run(tc
        .tool("prcp")
        .args(["node3:/tmp/hello.txt", "root@node5:/tmp/relayed.txt"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        "hello\n",
        std::fs::read_to_string(tc.cluster.node_tmp(5).join("relayed.txt")).unwrap()
    );
}

#[test]
fn the_agent_is_uploaded_once_then_reused() {
    let tc = TestCluster::start(2);
    let prcp = unique_copy(&tc.scratch("agent"), "prcp");
    let file = tc.scratch("agent").join("f");
    std::fs::write(&file, "x").unwrap();
    let copy = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&prcp);
        tc.isolate(&mut cmd);
        cmd.arg("-F")
            .arg(tc.cluster.ssh_config())
            .args(args)
            .arg(&file)
            .arg("/tmp/f");
        run(&mut cmd)
    };
    let first = copy(&["-w", "node[1-2]", "--stats"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let uploaded: u32 = stats_line(&text(&first.stdout), "agents uploaded:")
        .parse()
        .unwrap();
    // Both hosts share /root, so one or two uploads race to the same cache; both are fine.
    assert!(uploaded >= 1, "{}", text(&first.stdout));
    let second = copy(&["-w", "node[1-2]", "--stats", "--force"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(stats_line(&text(&second.stdout), "agents uploaded:"), "0");
    let no_upload = copy(&["-w", "node1", "--no-bootstrap"]);
    assert_eq!(
        no_upload.status.code(),
        Some(0),
        "{}",
        text(&no_upload.stderr)
    );
    remove_agent_cache(&prcp);
}

#[test]
fn a_missing_remote_destination_is_named() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("m").join("f");
    std::fs::write(&file, "x").unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-2]"])
        .arg(&file)
        .arg("/tmp/no/such/dir/f"));
    assert_eq!(out.status.code(), Some(1));
    assert_text_eq!(
        "prcp: node[1-2]: no such folder '/tmp/no/such/dir' (No such file or directory); create it first, e.g. `prsh mkdir -p /tmp/no/such/dir`\n",
        text(&out.stderr)
    );
}

#[test]
fn a_hostile_agent_cannot_write_outside_the_destination() {
    let tc = TestCluster::start(1);
    let lab = tc.scratch("hostile");
    for (name, evil) in [
        ("dotdot", &b"../../escaped"[..]),
        ("absolute", b"/tmp/escaped-abs"),
    ] {
        let frames = lab.join(format!("{name}.frames"));
        let entry = prcp::protocol::WireEntry {
            path: evil.to_vec(),
            kind: 0,
            size: 4,
            mode: 0o644,
            secs: 0,
            nanos: 0,
            target: vec![],
        };
        let mut stream = Vec::new();
        for payload in [
            prcp::protocol::message(&prcp::protocol::Reply::Entry(entry)),
            prcp::protocol::data(b"evil"),
            prcp::protocol::message(&prcp::protocol::Reply::EndFile),
            prcp::protocol::message(&prcp::protocol::Reply::EndOfTree),
        ] {
            stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            stream.extend_from_slice(&payload);
        }
        std::fs::write(&frames, stream).unwrap();
        let agent = lab.join(format!("{name}.sh"));
        let script = format!("#!/bin/sh\nexec cat '{}'\n", frames.display());
        prtools_tests::write_executable(&agent, script.as_bytes());
        let into = lab.join(format!("{name}-out/a/b"));
        std::fs::create_dir_all(&into).unwrap();
        let out = run(tc
            .tool("prcp")
            .args(["--gather", "-w", "node1", "--remote-path"])
            .arg(&agent)
            .arg("/etc/hostname")
            .arg(&into));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("refused"),
            "{}",
            text(&out.stderr)
        );
        assert!(!lab.join(format!("{name}-out/escaped")).exists());
        assert!(!Path::new("/tmp/escaped-abs").exists());
        assert_eq!(std::fs::read_dir(&into).unwrap().count(), 0);
    }
}

/// Runs `command` inside node `node`'s mount namespace, as a process on that host would.
fn on_node(tc: &TestCluster, node: usize, command: &str) -> std::process::Output {
    run(std::process::Command::new("nsenter")
        .arg("-t")
        .arg(tc.cluster.sshd_pid(node).to_string())
        .args(["-m", "sh", "-c", command]))
}

#[test]
fn a_full_disk_fails_cleanly_and_leaves_no_partial_file() {
    let tc = TestCluster::start(2);
    // node2 gets a 1 MiB tmpfs at /tmp/small; node1 has room.
    for node in 1..=2 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("small")).unwrap();
    }
    let mounted = on_node(&tc, 2, "mount -t tmpfs -o size=1m tmpfs /tmp/small");
    assert!(mounted.status.success(), "{}", text(&mounted.stderr));
    let big = tc.scratch("big").join("big.bin");
    std::fs::write(&big, vec![1u8; 3 << 20]).unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-2]"])
        .arg(&big)
        .arg("/tmp/small/"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("prcp: node2: ") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::metadata(tc.cluster.node_tmp(1).join("small/big.bin"))
            .unwrap()
            .len(),
        3 << 20
    );
    let left = on_node(&tc, 2, "ls -A /tmp/small");
    assert_text_eq!("", text(&left.stdout));
    on_node(&tc, 2, "umount /tmp/small");
}

#[test]
fn a_terminal_gets_one_progress_bar_and_quiet_silences_it() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("progress").join("data.bin");
    std::fs::write(&file, vec![3u8; 8 << 20]).unwrap();
    let line = |quiet: &str| {
        format!(
            "{} {quiet} -F {} -w node[1-2] {} /tmp/",
            prtools_tests::bin("prcp").display(),
            tc.cluster.ssh_config().display(),
            file.display()
        )
    };
    // script(1) gives prcp a terminal.
    let mut shown = std::process::Command::new("script");
    tc.isolate(&mut shown);
    shown.args(["-qec", &line(""), "/dev/null"]);
    let out = run(&mut shown);
    let screen = text(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("MiB") && screen.contains("hosts "),
        "{screen:?}"
    );

    let mut quiet = std::process::Command::new("script");
    tc.isolate(&mut quiet);
    quiet.args(["-qec", &line("--quiet"), "/dev/null"]);
    let out = run(&mut quiet);
    assert!(out.status.success());
    assert_text_eq!("", text(&out.stdout));
}

#[test]
fn a_host_killed_mid_transfer_is_named_and_the_others_complete() {
    let tc = TestCluster::start(8);
    let big = write_big(&tc.scratch("killed"), 200);
    let child = spawn(
        tc.tool("prcp")
            .args(["--quiet", "-w", "node[1-8]"])
            .arg(&big)
            .arg("/tmp/"),
    );
    // Wait until node5 is writing its temp file, then kill every process of that host.
    let victim = tc.cluster.node_tmp(5);
    wait_for_temp_file(&victim, ".big.bin.", 1);
    tc.cluster.stop_node(5).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("prcp: node5: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for node in (1..=8).filter(|&n| n != 5) {
        assert_eq!(
            std::fs::metadata(tc.cluster.node_tmp(node).join("big.bin"))
                .unwrap()
                .len(),
            200 << 20,
            "node{node}"
        );
    }
    // Never a part under the real name; at most the agent's own temp file, which a killed
    // agent cannot remove.
    assert!(
        !victim.join("big.bin").exists(),
        "a partial big.bin on node5"
    );
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `pid` has died: gone, or a zombie its parent has not reaped yet.
fn wait_until_dead(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which is in parentheses and may hold spaces.
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    }) {
        assert!(std::time::Instant::now() < deadline, "{pid} did not die");
        std::thread::yield_now();
    }
}

/// What a user may keep in a folder prcp writes to: a file named as prcp's temp files are,
/// unlocked, unmarked. The sweep must leave it.
const LOOK_ALIKE: &str = ".big.bin.prtools-0123456789abcdef";

#[test]
fn a_killed_agents_temp_file_is_swept_and_a_users_look_alike_is_kept() {
    let tc = TestCluster::start(1);
    let big = write_big(&tc.scratch("src"), 4);
    let stage = tc.cluster.node_tmp(1).join("stage");
    std::fs::create_dir(&stage).unwrap();
    std::fs::write(stage.join(LOOK_ALIKE), b"the user's own\n").unwrap();
    // An agent that gets the first MiB of its input and then nothing more, so that it is
    // caught with part of the file in its temp file.
    std::fs::write(
        tc.cluster.node_tmp(1).join("agent-held"),
        format!(
            "{{ dd bs=64k count=1048576 iflag=count_bytes status=none; cat >/dev/null; true; }} \
             | exec {} \"$@\"\n",
            tc.host_path(&prtools_tests::bin("prcp")).display()
        ),
    )
    .unwrap();
    let child = spawn(
        tc.tool("prcp")
            .args([
                "--quiet",
                "-w",
                "node1",
                "--remote-path",
                "sh /tmp/agent-held",
            ])
            .arg(&big)
            .arg("/tmp/stage/"),
    );
    // More than the look-alike holds: the agent's own temp file.
    wait_for_temp_file(&stage, ".big.bin.prtools-", 65536);
    // SIGKILL, as the OOM killer would: the agent cannot remove its temp file. The agent
    // goes first, and its hold only once it is dead: an agent that saw its input end would
    // remove its temp file itself. The hold must go too, or it keeps the channel open.
    let agent = tc
        .host_path(&prtools_tests::bin("prcp"))
        .display()
        .to_string();
    let table = tc.cluster.process_table(1);
    let agents: Vec<u32> = table
        .iter()
        .filter(|(_, cmdline)| cmdline.starts_with(&agent))
        .map(|(pid, _)| *pid)
        .collect();
    assert_eq!(agents.len(), 1, "{table:?}");
    // SAFETY: kill(2) on a pid just found in the node; it touches no memory.
    unsafe { libc::kill(agents[0] as i32, libc::SIGKILL) };
    wait_until_dead(agents[0]);
    for (pid, cmdline) in tc.cluster.process_table(1) {
        if !cmdline.starts_with("sshd") {
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left = names(&stage);
    assert!(
        left.len() == 2 && left.iter().all(|n| n.starts_with(".big.bin.prtools-")),
        "{left:?}"
    );

    let out = run(tc
        .tool("prcp")
        .args(["--quiet", "-w", "node1"])
        .arg(&big)
        .arg("/tmp/stage/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(names(&stage), [LOOK_ALIKE, "big.bin"]);
    assert_eq!(
        std::fs::read(stage.join(LOOK_ALIKE)).unwrap(),
        b"the user's own\n"
    );
    assert!(std::fs::read(stage.join("big.bin")).unwrap() == std::fs::read(&big).unwrap());
}

#[test]
fn a_filesystem_without_user_xattrs_takes_copies_and_keeps_look_alikes() {
    let tc = TestCluster::start(1);
    // ramfs has locks but no user xattrs, so no temp file there can be marked.
    std::fs::create_dir(tc.cluster.node_tmp(1).join("ram")).unwrap();
    let mounted = on_node(&tc, 1, "mount -t ramfs ramfs /tmp/ram");
    assert!(mounted.status.success(), "{}", text(&mounted.stderr));
    let listed = |command: &str| text(&on_node(&tc, 1, command).stdout);
    let planted = on_node(&tc, 1, &format!("echo mine > /tmp/ram/{LOOK_ALIKE}"));
    assert!(planted.status.success(), "{}", text(&planted.stderr));
    let big = write_big(&tc.scratch("src"), 2);
    let out = run(tc
        .tool("prcp")
        .args(["--quiet", "-w", "node1"])
        .arg(&big)
        .arg("/tmp/ram/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        format!("{LOOK_ALIKE}\nbig.bin\n"),
        listed("LC_ALL=C ls -A /tmp/ram")
    );
    assert_text_eq!("mine\n", listed(&format!("cat /tmp/ram/{LOOK_ALIKE}")));
    let sums = listed(&format!(
        "cmp /tmp/ram/big.bin {} && echo same",
        big.display()
    ));
    assert_text_eq!("same\n", sums);
    on_node(&tc, 1, "umount /tmp/ram");
}

/// A file of `mib` MiB of a repeating pattern, for transfers long enough to interrupt.
fn write_big(dir: &Path, mib: usize) -> PathBuf {
    use std::io::Write;
    let big = dir.join("big.bin");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    let block: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
    for _ in 0..mib {
        out.write_all(&block).unwrap();
    }
    big
}

fn payload_bytes(tree: &Path) -> u64 {
    walk_files(tree)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(walk_files(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}

#[test]
fn a_relayed_stage_is_identical_and_the_source_sends_each_byte_twice() {
    let tc = TestCluster::start(8);
    let tree = make_tree(&tc.scratch("src"));
    for node in 1..=8 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("stage")).unwrap();
    }
    let out = run(tc
        .tool("prcp")
        .args([
            "-w",
            "node[1-8]",
            "-r",
            "-p",
            "--links",
            "--relay",
            "--verify",
            "--stats",
        ])
        .arg(&tree)
        .arg("/tmp/stage"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!("", text(&out.stderr));
    let expected = describe(&tree);
    for node in 1..=8 {
        let staged = tc.cluster.node_tmp(node).join("stage/tree");
        assert_eq!(describe(&staged), expected, "node{node}");
    }
    let stdout = text(&out.stdout);
    assert_eq!(stats_line(&stdout, "files written:"), "24");
    let sent: u64 = stats_line(&stdout, "bytes sent:").parse().unwrap();
    let payload = payload_bytes(&tree);
    // Two chains of four: the source sends the payload twice, not eight times.
    assert_eq!(sent, 2 * payload, "payload {payload}");
    assert!(sent as f64 <= 2.5 * payload as f64);

    // A second relayed run finds everything up to date; a new name renames, as cp does.
    let same = run(tc
        .tool("prcp")
        .args([
            "-w",
            "node[1-8]",
            "-r",
            "-p",
            "--links",
            "--relay",
            "--stats",
        ])
        .arg(&tree)
        .arg("/tmp/stage"));
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert_eq!(stats_line(&text(&same.stdout), "bytes sent:"), "0");
    let renamed = run(tc
        .tool("prcp")
        .args(["-w", "node[1-8]", "-r", "-p", "--links", "--relay"])
        .arg(&tree)
        .arg("/tmp/stage/copy"));
    assert_eq!(renamed.status.code(), Some(0), "{}", text(&renamed.stderr));
    for node in 1..=8 {
        let copy = tc.cluster.node_tmp(node).join("stage/copy");
        assert_eq!(describe(&copy), expected, "node{node}");
    }
}

#[test]
fn hosts_behind_a_broken_relay_are_served_directly() {
    let tc = TestCluster::start(8);
    let big = write_big(&tc.scratch("relay"), 200);
    let child = spawn(
        tc.tool("prcp")
            .args(["--quiet", "-w", "node[1-8]", "--relay"])
            .arg(&big)
            .arg("/tmp/"),
    );
    // Chains node[1-4] and node[5-8]: kill node2, the relay for node3 and node4, mid-transfer.
    let victim = tc.cluster.node_tmp(2);
    wait_for_temp_file(&victim, ".big.bin.", 1);
    tc.cluster.stop_node(2).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines.iter().any(|l| l.starts_with("prcp: node2: ")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("prcp: node[3-4]: served directly: ")),
        "{stderr}"
    );
    for node in (1..=8).filter(|&n| n != 2) {
        assert_eq!(
            std::fs::metadata(tc.cluster.node_tmp(node).join("big.bin"))
                .unwrap()
                .len(),
            200 << 20,
            "node{node}"
        );
    }
    assert!(
        !victim.join("big.bin").exists(),
        "a partial big.bin on node2"
    );
}
