//! prcp as a drop-in for pdcp, rpdcp and scp (issue 13): the installed tools and prcp run on
//! the same input against the same test cluster, and what lands on the hosts is compared.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use prtools_tests::{remove_agent_cache, run, spawn, text, unique_copy, TestCluster};

/// `pdcp` or `rpdcp` over ssh to the cluster's hosts, as `TestCluster::pdsh` reaches them.
fn pdsh_tool(tc: &TestCluster, name: &str) -> Command {
    let mut cmd = Command::new(name);
    cmd.env("PDSH_RCMD_TYPE", "ssh").env(
        "PDSH_SSH_ARGS_APPEND",
        format!("-F {}", tc.cluster.ssh_config().display()),
    );
    cmd
}

/// What a copy must get right, one sorted line an entry: path, kind, and the content of a
/// file or the target of a link (modes and times depend on -p, which these tests leave out).
fn tree_of(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push(format!("{rel} -> {}", target.display()));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                stack.push(path);
            } else {
                out.push(format!("{rel} = {}", text(&std::fs::read(&path).unwrap())));
            }
        }
    }
    out.sort();
    out
}

/// Runs `cmd` with stdin closed and returns its output, or kills it and fails the test when
/// it has not ended within `limit`: a hang must fail the test, never stall the suite.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = spawn(cmd);
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("waiting for the command"),
        Err(_) => {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped (the
            // waiting thread has not returned).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{cmd:?} did not end within {limit:?}: it hangs");
        }
    }
}

/// A tree with the links pdcp follows: one to a file outside the tree (absolute), one to a
/// folder inside it, and a link to a file named on the command line.
fn linked_sources(root: &Path) -> (PathBuf, PathBuf) {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), "a\n").unwrap();
    std::fs::write(src.join("sub/b"), "b\n").unwrap();
    std::fs::write(root.join("outside"), "outside\n").unwrap();
    std::fs::write(root.join("file"), "file\n").unwrap();
    symlink(root.join("outside"), src.join("abslink")).unwrap();
    symlink("sub", src.join("dirlink")).unwrap();
    let toplink = root.join("toplink");
    symlink(root.join("file"), &toplink).unwrap();
    (src, toplink)
}

#[test]
fn symlinks_are_copied_as_what_they_point_to_as_pdcp_does() {
    let tc = TestCluster::start(3);
    let root = tc.scratch("links");
    let (src, toplink) = linked_sources(&root);
    let pdcp = run(pdsh_tool(&tc, "pdcp")
        .args(["-w", "node1", "-r"])
        .arg(&src)
        .arg(&toplink)
        .arg("/tmp/"));
    assert!(pdcp.status.success(), "{}", text(&pdcp.stderr));
    let prcp = run(tc
        .tool("prcp")
        .args(["-w", "node2", "-r"])
        .arg(&src)
        .arg(&toplink)
        .arg("/tmp/"));
    assert_eq!(prcp.status.code(), Some(0), "{}", text(&prcp.stderr));
    let expected = [
        "src/",
        "src/a = a\n",
        "src/abslink = outside\n",
        "src/dirlink/",
        "src/dirlink/b = b\n",
        "src/sub/",
        "src/sub/b = b\n",
        "toplink = file\n",
    ];
    assert_eq!(tree_of(&tc.cluster.node_tmp(1)), expected);
    assert_eq!(tree_of(&tc.cluster.node_tmp(2)), expected);

    // --links keeps them as links, as rsync's -l does.
    let links = run(tc
        .tool("prcp")
        .args(["-w", "node3", "-r", "--links"])
        .arg(&src)
        .arg(&toplink)
        .arg("/tmp/"));
    assert_eq!(links.status.code(), Some(0), "{}", text(&links.stderr));
    let kept = tree_of(&tc.cluster.node_tmp(3));
    assert!(kept.contains(&"src/dirlink -> sub".to_string()), "{kept:?}");
    assert!(
        kept.contains(&format!("toplink -> {}", root.join("file").display())),
        "{kept:?}"
    );

    // A link back up the tree is a loop: one clear line, nothing copied, no hang.
    symlink("..", src.join("sub/up")).unwrap();
    let looped = run_bounded(
        tc.tool("prcp")
            .args(["-w", "node1", "-r"])
            .arg(&src)
            .arg("/tmp/loop/"),
        Duration::from_secs(120),
    );
    assert_eq!(looped.status.code(), Some(1));
    let stderr = text(&looped.stderr);
    prtools_tests::assert_one_line_error("prcp", &stderr, "is a symlink loop");
    assert!(stderr.contains("--links"), "{stderr}");

    // rpdcp sends what a link on the host points to; so does prcp --gather.
    symlink("/tmp/toplink", tc.cluster.node_tmp(1).join("glink")).unwrap();
    let (by_rpdcp, by_prcp) = (tc.scratch("rpdcp"), tc.scratch("gathered"));
    let rpdcp = run(pdsh_tool(&tc, "rpdcp")
        .args(["-w", "node1", "/tmp/glink"])
        .arg(&by_rpdcp));
    assert!(rpdcp.status.success(), "{}", text(&rpdcp.stderr));
    let gather = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node1", "/tmp/glink"])
        .arg(&by_prcp));
    assert_eq!(gather.status.code(), Some(0), "{}", text(&gather.stderr));
    assert_eq!(tree_of(&by_rpdcp), ["glink.node1 = file\n"]);
    assert_eq!(tree_of(&by_prcp), tree_of(&by_rpdcp));
}

#[test]
fn a_trailing_slash_copies_what_is_inside_as_pdcp_does_and_scp_syntax_keeps_scps_rule() {
    let tc = TestCluster::start(4);
    let src = tc.scratch("slash").join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), "a\n").unwrap();
    std::fs::write(src.join("sub/b"), "b\n").unwrap();
    for node in 1..=4 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("exist")).unwrap();
    }
    let slashed = format!("{}/", src.display());

    // -w: into the existing folder itself, as pdcp.
    let pdcp = run(pdsh_tool(&tc, "pdcp").args(["-w", "node1", "-r", &slashed, "/tmp/exist"]));
    assert!(pdcp.status.success(), "{}", text(&pdcp.stderr));
    let prcp = run(tc
        .tool("prcp")
        .args(["-w", "node2", "-r", &slashed, "/tmp/exist"]));
    assert_eq!(prcp.status.code(), Some(0), "{}", text(&prcp.stderr));
    let inside = ["a = a\n", "sub/", "sub/b = b\n"];
    assert_eq!(tree_of(&tc.cluster.node_tmp(1).join("exist")), inside);
    assert_eq!(tree_of(&tc.cluster.node_tmp(2).join("exist")), inside);

    // A folder that is not there: pdcp refuses, and so does prcp, each creating nothing.
    let pdcp = run(pdsh_tool(&tc, "pdcp").args(["-w", "node1", "-r", &slashed, "/tmp/missing"]));
    assert!(text(&pdcp.stderr).contains("not a directory"), "{pdcp:?}");
    let prcp = run(tc
        .tool("prcp")
        .args(["-w", "node2", "-r", &slashed, "/tmp/missing"]));
    assert_eq!(prcp.status.code(), Some(1));
    assert!(
        text(&prcp.stderr).contains("no such folder '/tmp/missing'"),
        "{}",
        text(&prcp.stderr)
    );
    for node in 1..=2 {
        assert!(!tc.cluster.node_tmp(node).join("missing").exists());
    }

    // scp syntax: the slash changes nothing, as with scp itself.
    let scp = run(Command::new("scp")
        .arg("-F")
        .arg(tc.cluster.ssh_config())
        .args(["-r", &slashed, "node3:/tmp/exist"]));
    assert!(scp.status.success(), "{}", text(&scp.stderr));
    let prcp = run(tc.tool("prcp").args(["-r", &slashed, "node4:/tmp/exist"]));
    assert_eq!(prcp.status.code(), Some(0), "{}", text(&prcp.stderr));
    let under = ["src/", "src/a = a\n", "src/sub/", "src/sub/b = b\n"];
    assert_eq!(tree_of(&tc.cluster.node_tmp(3).join("exist")), under);
    assert_eq!(tree_of(&tc.cluster.node_tmp(4).join("exist")), under);
}

#[test]
fn the_first_run_through_exec_places_the_agent_without_hanging() {
    let tc = TestCluster::start(11);
    let file = tc.scratch("cold").join("payload");
    std::fs::write(&file, "payload\n").unwrap();
    let exec = format!("exec ssh -F {} %h", tc.cluster.ssh_config().display());
    for (label, hosts, rcmd) in [
        ("exec1", "node1", exec.as_str()),
        ("exec11", "node[1-11]", exec.as_str()),
        ("ssh11", "node[1-11]", "ssh"),
    ] {
        // A copy no host has seen: its cache folder is empty, as on a first run.
        let prcp = unique_copy(&tc.scratch(label), "prcp");
        let mut cmd = Command::new(&prcp);
        tc.isolate(&mut cmd);
        cmd.arg("-F")
            .arg(tc.cluster.ssh_config())
            .args(["-R", rcmd, "-w", hosts, "--stats"])
            .arg(&file)
            .arg(format!("/tmp/{label}"));
        let out = run_bounded(&mut cmd, Duration::from_secs(300));
        remove_agent_cache(&prcp);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(
            !stdout.contains("agents uploaded: 0"),
            "{label}: the cache was not cold: {stdout}"
        );
        let count = if hosts == "node1" { 1 } else { 11 };
        for node in 1..=count {
            let copy = tc.cluster.node_tmp(node).join(label);
            assert_eq!(std::fs::read_to_string(copy).unwrap(), "payload\n");
        }
    }
}

#[test]
fn messages_name_a_path_once_and_a_missing_folder_as_no_such_folder() {
    let tc = TestCluster::start(1);
    let dir = tc.scratch("msg");
    let (f1, f2) = (dir.join("f1"), dir.join("f2"));
    std::fs::write(&f1, "1").unwrap();
    std::fs::write(&f2, "2").unwrap();
    std::fs::create_dir(dir.join("src")).unwrap();
    std::fs::write(tc.cluster.node_tmp(1).join("s3"), "a file").unwrap();
    let check = |sources: &[&Path], dest: &str, recursive: bool, expected: &str| {
        let mut cmd = tc.tool("prcp");
        cmd.args(["-w", "node1"]);
        if recursive {
            cmd.arg("-r");
        }
        let out = run(cmd.args(sources).arg(dest));
        assert_eq!(out.status.code(), Some(1), "{dest}");
        assert_eq!(text(&out.stderr), format!("prcp: node1: {expected}\n"));
    };
    check(
        &[&dir.join("src")],
        "/tmp/s3",
        true,
        "/tmp/s3: exists and is not a directory; remove it first",
    );
    check(
        &[&f1, &f2],
        "/tmp/s3",
        false,
        "'/tmp/s3' exists and is not a directory; name a folder, or remove it first",
    );
    let missing = "no such folder '/tmp/nodir' (No such file or directory); create it first, \
                   e.g. `prsh mkdir -p /tmp/nodir`";
    check(&[&f1, &f2], "/tmp/nodir", false, missing);
    check(&[&f1], "/tmp/nodir/f", false, missing);
    // The words scripts grep pdcp's messages for are in prcp's.
    let pdcp = run(pdsh_tool(&tc, "pdcp")
        .args(["-w", "node1"])
        .arg(&f1)
        .arg("/tmp/nodir/f"));
    assert!(
        text(&pdcp.stderr).contains("No such file or directory"),
        "{}",
        text(&pdcp.stderr)
    );
    let pdcp = run(pdsh_tool(&tc, "pdcp")
        .args(["-w", "node1"])
        .args([&f1, &f2])
        .arg("/tmp/s3"));
    assert!(
        text(&pdcp.stderr).contains("not a directory"),
        "{}",
        text(&pdcp.stderr)
    );
}

/// pdcp -q's table as key and value, split at the tabs (or spaces) after the key.
fn settings(stdout: &str) -> BTreeMap<String, String> {
    let mut table = BTreeMap::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if line == "-- Target nodes --" {
            table.insert("nodes".into(), lines.next().unwrap_or("").to_string());
            break;
        }
        if let Some((key, value)) = line.split_once('\t') {
            table.insert(key.trim().to_string(), value.trim().to_string());
        } else if let Some(value) = line.strip_prefix("one ^C will kill pdsh") {
            table.insert("one ^C".into(), value.trim().to_string());
        }
    }
    table
}

#[test]
fn q_lists_the_settings_as_pdcp_and_rpdcp_do_and_copies_nothing() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("q").join("f");
    std::fs::write(&file, "x").unwrap();
    let args = [
        "-q",
        "-b",
        "-w",
        "node[1-2]",
        "-r",
        "-p",
        "-f",
        "5",
        "-t",
        "3",
        "-u",
        "7",
        "-l",
        "root",
        "-e",
        "/opt/x/prcp",
    ];
    let pdcp = run(pdsh_tool(&tc, "pdcp").args(args).arg(&file).arg("/tmp/"));
    let prcp = run(tc.tool("prcp").args(args).arg(&file).arg("/tmp/"));
    assert!(pdcp.status.success(), "{}", text(&pdcp.stderr));
    assert_eq!(prcp.status.code(), Some(0), "{}", text(&prcp.stderr));
    let (theirs, ours) = (settings(&text(&pdcp.stdout)), settings(&text(&prcp.stdout)));
    for key in [
        "Infile(s)",
        "Outfile",
        "Recursive",
        "Preserve mod time/mode",
        "Remote program path",
        "Remote username",
        "Rcmd type",
        "one ^C",
        "Connect timeout (secs)",
        "Command timeout (secs)",
        "Fanout",
        "nodes",
    ] {
        assert_eq!(ours.get(key), theirs.get(key), "{key}: {ours:?}");
    }
    assert!(!tc.cluster.node_tmp(1).join("f").exists(), "-q copied");

    let local = tc.scratch("q-gather");
    let gather = ["-q", "-w", "node1", "/tmp/a", "/tmp/b"];
    let rpdcp = run(pdsh_tool(&tc, "rpdcp").args(gather).arg(&local));
    let prcp = run(tc.tool("prcp").arg("--gather").args(gather).arg(&local));
    let (theirs, ours) = (
        settings(&text(&rpdcp.stdout)),
        settings(&text(&prcp.stdout)),
    );
    for key in ["Infile(s)", "Outfile", "nodes"] {
        assert_eq!(ours.get(key), theirs.get(key), "{key}: {ours:?}");
    }
}

#[test]
fn e_names_the_remote_prcp_and_k_starts_no_host_after_a_failure() {
    let tc = TestCluster::start(3);
    let file = tc.scratch("ek").join("f");
    std::fs::write(&file, "x").unwrap();
    // The hosts share this machine's files outside /tmp: the built prcp is there too.
    let installed = tc.host_path(&prtools_tests::bin("prcp"));
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node1", "-e"])
        .arg(&installed)
        .args(["--stats"])
        .arg(&file)
        .arg("/tmp/f"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("agents uploaded: 0"));
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node1", "-e", "/nonexistent/prcp"])
        .arg(&file)
        .arg("/tmp/g"));
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("/nonexistent/prcp"), "{out:?}");

    // node1 fails (its /tmp/d is a file); with -f 1 and -k the others are never started.
    std::fs::write(tc.cluster.node_tmp(1).join("d"), "a file").unwrap();
    for node in 2..=3 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("d")).unwrap();
    }
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-3]", "-f", "1", "-k"])
        .arg(&file)
        .arg("/tmp/d/"));
    assert_ne!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("prcp: node[2-3]: not started: another host failed (-k)"),
        "{stderr}"
    );
    for node in 2..=3 {
        assert!(
            !tc.cluster.node_tmp(node).join("d/f").exists(),
            "node{node}"
        );
    }
    // Without -k every host is tried, as before.
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-3]", "-f", "1"])
        .arg(&file)
        .arg("/tmp/d/"));
    assert_eq!(out.status.code(), Some(1));
    for node in 2..=3 {
        assert!(tc.cluster.node_tmp(node).join("d/f").exists(), "node{node}");
    }
}

#[test]
fn pdsh_ssh_args_append_reaches_the_hosts_as_with_pdsh() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("env").join("f");
    std::fs::write(&file, "x").unwrap();
    // No -F: the cluster's ssh config comes only from the variable pdsh users set.
    let mut cmd = Command::new(prtools_tests::bin("prcp"));
    tc.isolate(&mut cmd);
    cmd.env(
        "PDSH_SSH_ARGS_APPEND",
        format!("-F {}", tc.cluster.ssh_config().display()),
    )
    .env("PDSH_SSH_ARGS", "-x -a -l%u %h")
    .args(["-w", "node[1-2]"])
    .arg(&file)
    .arg("/tmp/f");
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for node in 1..=2 {
        assert!(tc.cluster.node_tmp(node).join("f").exists());
    }
    // Without it the names mean nothing to ssh: the variable is what reached them.
    let mut cmd = Command::new(prtools_tests::bin("prcp"));
    tc.isolate(&mut cmd);
    cmd.env_remove("PDSH_SSH_ARGS_APPEND")
        .env_remove("PDSH_SSH_ARGS")
        .args(["-w", "node1"])
        .arg(&file)
        .arg("/tmp/g");
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stderr));
}

/// -N leaves the host names out of the failure lines, as pdcp -N drops its labels.
#[test]
fn n_drops_the_host_names_from_failures() {
    let tc = TestCluster::start(2);
    let file = tc.scratch("n").join("f");
    std::fs::write(&file, "x").unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["-N", "-w", "node[1-2]"])
        .arg(&file)
        .arg("/tmp/nodir/f"));
    assert_ne!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("prcp: ") && !stderr.contains("node"),
        "{stderr}"
    );
}
