//! prcp to hosts where its agent cannot run (issue 18): a home mounted noexec, a host that
//! reports another machine. They are served through their sftp server, in the same run as
//! the normal hosts, with the same results.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use prtools_testcluster::NodeKind::{self, NoexecHome, Normal, OtherMachine};
use prtools_tests::{describe, run, spawn, text, wait_for_temp_file, TestCluster};

/// A tree with nested files, modes (setuid among them), an empty folder and a symlink, its
/// mtimes whole seconds: SFTP carries no fractions, so only such times can come out the same
/// on every host (see prcp's sftp module).
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::create_dir_all(tree.join("data/deep")).unwrap();
    let files: [(&str, &[u8], u32); 4] = [
        ("bin/run.sh", b"#!/bin/sh\necho run\n", 0o750),
        ("bin/suid", b"not really\n", 0o4755),
        ("data/deep/big.bin", &[7u8; 700_000], 0o644),
        ("data/notes with space.txt", b"notes\n", 0o600),
    ];
    for (i, (name, bytes, mode)) in files.iter().enumerate() {
        let path = tree.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
        set_mtime(&path, 1_600_000_000 + i as i64 * 1000);
    }
    std::fs::set_permissions(tree.join("empty"), std::fs::Permissions::from_mode(0o750)).unwrap();
    symlink("bin/run.sh", tree.join("link")).unwrap();
    tree
}

fn set_mtime(path: &Path, secs: i64) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let t = libc::timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
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

fn stats_line<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name).map(str::trim))
}

/// `describe` without the mtimes, for copies made without -p.
fn modes_and_contents(root: &Path) -> Vec<String> {
    describe(root)
        .into_iter()
        .map(|line| {
            let mut words: Vec<&str> = line.split(' ').collect();
            // `path mode size mtime hash` for files; the mtime is the fourth word from the end.
            if words.len() >= 4 && !line.contains(" -> ") {
                let at = words.len() - 2;
                words.remove(at);
            }
            words.join(" ")
        })
        .collect()
}

/// Temp files (`.NAME.prtools-…`) anywhere below `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(".prtools-") {
                found.push(entry.path().display().to_string());
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found
}

const MIXED: [NodeKind; 4] = [Normal, NoexecHome, OtherMachine, Normal];

#[test]
fn a_mixed_cluster_gets_identical_trees_and_stats_name_the_sftp_hosts() {
    let tc = TestCluster::start_with(&MIXED);
    let tree = make_tree(&tc.scratch("src"));
    for node in 1..=4 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("stage")).unwrap();
    }
    let push = |extra: &[&str], dest: &str| {
        run(tc
            .tool("prcp")
            .args(["-w", "node[1-4]", "-r", "--links", "--stats"])
            .args(extra)
            .arg(&tree)
            .arg(dest))
    };
    let out = push(&["-p"], "/tmp/stage");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(stats_line(&stdout, "served by sftp:"), Some("node[2-3]"));
    assert_eq!(stats_line(&stdout, "files written:"), Some("16"));
    let expected = describe(&tree);
    assert!(expected.len() >= 8, "{expected:?}");
    for node in 1..=4 {
        let staged = tc.cluster.node_tmp(node).join("stage/tree");
        assert_eq!(describe(&staged), expected, "node{node}");
        assert_eq!(temp_files(&staged), Vec::<String>::new(), "node{node}");
    }

    // A second run finds every host up to date, the sftp ones by whole seconds.
    let again = push(&["-p"], "/tmp/stage");
    let stdout = text(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(stats_line(&stdout, "files written:"), Some("0"));
    assert_eq!(stats_line(&stdout, "bytes sent:"), Some("0"));
    // node3 reports another machine and shares the agent cache with node1 and node4, as
    // nodes that share a home do: it sealed nothing there, so theirs still starts as is.
    assert_eq!(stats_line(&stdout, "agents uploaded:"), Some("0"));

    // Without -p the modes are the source's under each host's umask, on every host alike.
    // A missing destination fails every host alike, in the same words.
    let out = push(&[], "/tmp/plain/");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "prcp: node[1-4]: no such folder '/tmp/plain/' (No such file or directory); create it \
         first, e.g. `prsh mkdir -p /tmp/plain/`\n"
    );
    for node in 1..=4 {
        std::fs::create_dir(tc.cluster.node_tmp(node).join("plain")).unwrap();
    }
    let out = push(&["--verify"], "/tmp/plain");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let on_agent = modes_and_contents(&tc.cluster.node_tmp(1).join("plain/tree"));
    assert!(
        on_agent.iter().any(|l| l.starts_with("bin/suid 755 ")),
        "{on_agent:?}"
    );
    for node in 2..=3 {
        let plain = tc.cluster.node_tmp(node).join("plain/tree");
        assert_eq!(modes_and_contents(&plain), on_agent, "node{node}");
    }
}

#[test]
fn a_noexec_home_falls_back_to_sftp_instead_of_failing() {
    let tc = TestCluster::start_with(&[NoexecHome]);
    let src = tc.scratch("src").join("f");
    std::fs::write(&src, "to a hardened host\n").unwrap();
    let push = |extra: &[&str]| {
        run(tc
            .tool("prcp")
            .args(["-w", "node1", "--stats"])
            .args(extra)
            .arg(&src)
            .arg("/tmp/"))
    };
    let out = push(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stats_line(&text(&out.stdout), "served by sftp:"),
        Some("node1")
    );
    assert_eq!(
        std::fs::read_to_string(tc.cluster.node_tmp(1).join("f")).unwrap(),
        "to a hardened host\n"
    );
    // The copy uploaded into the noexec home stays there; a later run sees it cannot run
    // and goes to sftp without uploading again.
    let copy = "stat -c %i ~/.cache/prtools/*/prcp";
    let inode = run(tc.cluster.ssh(1).arg(copy));
    assert!(inode.status.success(), "{}", text(&inode.stderr));
    std::fs::write(&src, "again\n").unwrap();
    let out = push(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stats_line(&text(&out.stdout), "agents uploaded:"),
        Some("0")
    );
    assert_eq!(
        text(&run(tc.cluster.ssh(1).arg(copy)).stdout),
        text(&inode.stdout)
    );

    // --no-sftp refuses the fallback: the host fails, and says what to do.
    let out = push(&["--no-sftp"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "prcp: node1: agent: cannot run prcp from ~/.cache/prtools on the host (is the home \
         mounted noexec?); install prcp there and pass --remote-path PATH\n"
    );
}

#[test]
fn another_machine_is_served_by_sftp_unless_refused() {
    let tc = TestCluster::start_with(&[OtherMachine]);
    let src = tc.scratch("src").join("f");
    std::fs::write(&src, "cross-arch\n").unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node1", "--no-sftp"])
        .arg(&src)
        .arg("/tmp/"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "prcp: node1: agent: remote is 'Linux {}', this prcp is 'Linux ",
            prtools_testcluster::other_machine()
        )),
        "{stderr}"
    );
    assert!(!tc.cluster.node_tmp(1).join("f").exists());
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node1", "--stats"])
        .arg(&src)
        .arg("/tmp/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stats_line(&text(&out.stdout), "served by sftp:"),
        Some("node1")
    );
    assert_eq!(
        std::fs::read_to_string(tc.cluster.node_tmp(1).join("f")).unwrap(),
        "cross-arch\n"
    );
}

#[test]
fn gather_works_from_sftp_only_hosts() {
    let tc = TestCluster::start_with(&[Normal, OtherMachine, NoexecHome]);
    for node in 1..=3 {
        let tree = make_tree(&tc.cluster.node_tmp(node));
        std::fs::write(tree.join("bin/run.sh"), format!("echo node{node}\n")).unwrap();
        set_mtime(&tree.join("bin/run.sh"), 1_600_000_000);
        std::fs::write(
            tc.cluster.node_tmp(node).join("log"),
            format!("log {node}\n"),
        )
        .unwrap();
    }
    let into = tc.scratch("gathered");
    let out = run(tc
        .tool("prcp")
        .args([
            "--gather",
            "--gather-dirs",
            "-w",
            "node[1-3]",
            "-r",
            "-p",
            "--links",
        ])
        .args(["--stats", "/tmp/tree"])
        .arg(&into));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stats_line(&text(&out.stdout), "served by sftp:"),
        Some("node[2-3]")
    );
    for node in 1..=3 {
        // -p keeps modes but, in a gather, drops setuid.
        let mut expected = describe(&tc.cluster.node_tmp(node).join("tree"));
        for line in &mut expected {
            if line.starts_with("bin/suid 4755 ") {
                *line = line.replacen("4755", "755", 1);
            }
        }
        assert_eq!(
            describe(&into.join(format!("node{node}/tree"))),
            expected,
            "node{node}"
        );
    }

    // rpdcp's names, and a missing file named in the agent's words.
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node[1-3]", "/tmp/log"])
        .arg(&into));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for node in 1..=3 {
        assert_eq!(
            std::fs::read_to_string(into.join(format!("log.node{node}"))).unwrap(),
            format!("log {node}\n")
        );
    }
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node[1-3]", "/tmp/nothing"])
        .arg(&into));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "prcp: node[1-3]: cannot read '/tmp/nothing': No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_failed_sftp_write_leaves_no_temp_file_and_no_partial_target() {
    let tc = TestCluster::start_with(&[Normal, NoexecHome]);
    let src = tc.scratch("src").join("f");
    std::fs::write(&src, vec![1u8; 300_000]).unwrap();
    // A folder holds the file's name on every host: the rename into place must fail.
    for node in 1..=2 {
        let dest = tc.cluster.node_tmp(node).join("dest/f");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("kept"), "kept\n").unwrap();
    }
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-2]", "--stats"])
        .arg(&src)
        .arg("/tmp/dest"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/tmp/dest/f"), "{stderr}");
    assert_eq!(stats_line(&text(&out.stdout), "served by sftp:"), None);
    for node in 1..=2 {
        let dest = tc.cluster.node_tmp(node).join("dest");
        assert_eq!(temp_files(&dest), Vec::<String>::new(), "node{node}");
        assert_eq!(
            std::fs::read_to_string(dest.join("f/kept")).unwrap(),
            "kept\n"
        );
    }
}

#[test]
fn an_interrupted_sftp_write_leaves_no_temp_file_and_no_partial_target() {
    let tc = TestCluster::start_with(&[NoexecHome]);
    let big = tc.scratch("src").join("big.bin");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let block: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..300 {
            out.write_all(&block).unwrap();
        }
    }
    let child = spawn(
        tc.tool("prcp")
            .args(["--quiet", "-w", "node1"])
            .arg(&big)
            .arg("/tmp/"),
    );
    let tmp = tc.cluster.node_tmp(1);
    wait_for_temp_file(&tmp, ".big.bin.prtools-", 1 << 20);
    // SAFETY: kill(2) on our own child's pid; it touches no memory.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(temp_files(&tmp), Vec::<String>::new());
    assert!(!tmp.join("big.bin").exists(), "a partial big.bin");
}

#[test]
fn sftp_can_be_asked_for_on_normal_hosts() {
    let tc = TestCluster::start_with(&[Normal, Normal]);
    let tree = make_tree(&tc.scratch("src"));
    let out = run(tc
        .tool("prcp")
        .args([
            "-w",
            "node[1-2]",
            "-r",
            "-p",
            "--links",
            "--sftp",
            "--stats",
        ])
        .arg(&tree)
        .arg("/tmp/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stats_line(&stdout, "served by sftp:"), Some("node[1-2]"));
    assert_eq!(stats_line(&stdout, "agents uploaded:"), Some("0"));
    for node in 1..=2 {
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("tree")),
            describe(&tree),
            "node{node}"
        );
    }
    // It copies to each host directly, so it cannot relay.
    let out = run(tc
        .tool("prcp")
        .args(["-w", "node[1-2]", "-r", "--sftp", "--relay"])
        .arg(&tree)
        .arg("/tmp/"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("prcp: "), "{stderr}");
    assert!(stderr.contains("'--relay'"), "{stderr}");
}

#[test]
fn a_relay_serves_the_hosts_it_cannot_chain_through_sftp() {
    let tc = TestCluster::start_with(&[Normal, NoexecHome, Normal, OtherMachine, Normal]);
    let tree = make_tree(&tc.scratch("src"));
    let out = run(tc
        .tool("prcp")
        .args([
            "-w",
            "node[1-5]",
            "-r",
            "-p",
            "--links",
            "--relay",
            "--stats",
        ])
        .arg(&tree)
        .arg("/tmp/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(
        stats_line(&text(&out.stdout), "served by sftp:"),
        Some("node[2,4]")
    );
    for node in 1..=5 {
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("tree")),
            describe(&tree),
            "node{node}"
        );
    }
}
