//! prcp --gather on this machine's side: the names prcp adds to the user's folder are never
//! followed through a planted symlink, and setuid/setgid bits a host sends are not kept
//! unless root asks (SECURITY.md).

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use prtools_tests::{assert_text_eq, bin, names, run, run_refused, text, TestCluster};

/// What a user who can write to a shared drop folder wants root's gather to write to: a
/// folder holding one file that must stay as it is.
fn victim(tc: &TestCluster) -> std::path::PathBuf {
    let victim = tc.scratch("victim");
    std::fs::write(victim.join("precious"), "precious\n").unwrap();
    victim
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn write_reports(tc: &TestCluster, nodes: usize) {
    for node in 1..=nodes {
        std::fs::write(
            tc.cluster.node_tmp(node).join("report.txt"),
            format!("report of node{node}\n"),
        )
        .unwrap();
    }
}

#[test]
fn gather_dirs_refuses_a_host_folder_planted_as_a_symlink_and_the_others_complete() {
    let tc = TestCluster::start(3);
    write_reports(&tc, 3);
    let victim = victim(&tc);
    let drop = tc.scratch("drop");
    symlink(&victim, drop.join("node2")).unwrap();
    // A folder the user made for a host beforehand is used as it is.
    std::fs::create_dir(drop.join("node3")).unwrap();
    std::fs::write(drop.join("node3/mine"), "mine\n").unwrap();

    let out = run(tc
        .tool("prcp")
        .args(["--gather-dirs", "-w", "node[1-3]", "/tmp/report.txt"])
        .arg(&drop));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_text_eq!(
        format!(
            "prcp: node2: {}/node2 is a symbolic link; refusing to gather into it; hint: remove \
             the link, or make it a real directory\n",
            drop.display()
        ),
        text(&out.stderr)
    );
    assert_eq!(names(&victim), ["precious"]);
    assert_eq!(
        std::fs::read_to_string(victim.join("precious")).unwrap(),
        "precious\n"
    );
    assert_eq!(std::fs::read_link(drop.join("node2")).unwrap(), victim);
    assert_eq!(
        std::fs::read_to_string(drop.join("node1/report.txt")).unwrap(),
        "report of node1\n"
    );
    assert_eq!(names(&drop.join("node3")), ["mine", "report.txt"]);
    assert_eq!(
        std::fs::read_to_string(drop.join("node3/report.txt")).unwrap(),
        "report of node3\n"
    );
}

#[test]
fn gather_replaces_a_name_dot_host_symlink_and_refuses_one_planted_for_a_tree() {
    let tc = TestCluster::start(2);
    write_reports(&tc, 2);
    let victim = victim(&tc);
    let drop = tc.scratch("drop");

    // A file: written beside the link and renamed over it, so the link goes and its target
    // stays as it was.
    symlink(victim.join("precious"), drop.join("report.txt.node2")).unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node[1-2]", "/tmp/report.txt"])
        .arg(&drop));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(drop.join("report.txt.node2"))
        .unwrap()
        .is_file());
    assert_eq!(
        std::fs::read_to_string(drop.join("report.txt.node2")).unwrap(),
        "report of node2\n"
    );
    assert_eq!(
        std::fs::read_to_string(victim.join("precious")).unwrap(),
        "precious\n"
    );

    // A tree (-r): its folder is never made through the link.
    for node in 1..=2 {
        let etc = tc.cluster.node_tmp(node).join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("app.conf"), format!("conf of node{node}\n")).unwrap();
    }
    symlink(&victim, drop.join("etc.node2")).unwrap();
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-r", "-w", "node[1-2]", "/tmp/etc"])
        .arg(&drop));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_text_eq!(
        format!(
            "prcp: node2: {}/etc.node2 is a symbolic link; refusing to gather into it; hint: \
             remove the link, or make it a real directory\n",
            drop.display()
        ),
        text(&out.stderr)
    );
    assert_eq!(names(&victim), ["precious"]);
    assert_eq!(std::fs::read_link(drop.join("etc.node2")).unwrap(), victim);
    assert_eq!(
        std::fs::read_to_string(drop.join("etc.node1/app.conf")).unwrap(),
        "conf of node1\n"
    );
}

#[test]
fn gather_p_drops_setuid_and_setgid_unless_root_asks_with_keep_setuid() {
    let tc = TestCluster::start(1);
    let tree = tc.cluster.node_tmp(1).join("tools");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("su-shell"), "#!/bin/sh\n").unwrap();
    // setuid, setgid and sticky on a file; setgid on the folder.
    std::fs::set_permissions(tree.join("su-shell"), PermissionsExt::from_mode(0o7755)).unwrap();
    std::fs::set_permissions(&tree, PermissionsExt::from_mode(0o2775)).unwrap();

    let gather = |name: &str, flags: &[&str]| {
        let into = tc.scratch(name);
        let out = run(tc
            .tool("prcp")
            .args(["--gather", "-r", "-w", "node1"])
            .args(flags)
            .arg("/tmp/tools")
            .arg(&into));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let got = into.join("tools.node1");
        (mode_of(&got), mode_of(&got.join("su-shell")))
    };
    // -p keeps the permission bits and the sticky bit, which grants nothing.
    assert_eq!(gather("p", &["-p"]), (0o775, 0o1755));
    assert_eq!(gather("keep", &["-p", "--keep-setuid"]), (0o2775, 0o7755));
    assert_eq!(gather("plain", &[]), (0o755, 0o755));
}

#[test]
fn keep_setuid_is_refused_without_root_a_gather_or_p() {
    let home = std::env::temp_dir().join(format!("prcp-keep-setuid-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let prcp = bin("prcp");

    let (code, stderr) = run_refused(
        &prcp,
        &[
            "-p",
            "--keep-setuid",
            "-w",
            "node1",
            "/etc/hostname",
            "/tmp",
        ],
        &home,
    );
    assert_eq!(code, 1);
    assert_text_eq!(
        "prcp: --keep-setuid is for gathers; a push with -p keeps setuid and setgid bits \
         already\nhint: drop --keep-setuid\n",
        stderr
    );

    let (code, stderr) = run_refused(
        &prcp,
        &[
            "--gather",
            "--keep-setuid",
            "-w",
            "node1",
            "/etc/hostname",
            "/tmp",
        ],
        &home,
    );
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("prcp: ") && stderr.contains("-p"),
        "{stderr}"
    );

    // As nobody: refused before any host is reached.
    let out = run(std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&prcp)
        .args([
            "--gather",
            "-p",
            "--keep-setuid",
            "-w",
            "node1",
            "/etc/hostname",
        ])
        .arg(&home)
        .env("HOME", &home)
        .env_remove("WCOLL"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_text_eq!(
        "prcp: --keep-setuid is for root only; gathered setuid bits would make programs that \
         run as you\nhint: drop --keep-setuid, and set the bits you trust with chmod\n",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&home).unwrap();
}
