//! Hosts that share a host name and differ by user or port are different hosts: each keeps a
//! name of its own in every output, and nothing one sends lands under another's name
//! (issue 13: `prcp --gather` kept one file for three hosts and exited 0).

use std::collections::BTreeSet;
use std::process::Command;

use prtools_tests::{assert_text_eq, bin, names, run, text, TestCluster};

#[test]
fn prsh_names_hosts_apart_in_every_output() {
    let dir = std::env::temp_dir().join(format!("prsh-names-{}", std::process::id()));
    let prsh = |extra: &[&str]| {
        let out = run(Command::new(bin("prsh"))
            .args(["-R", "exec", "-w", "a:1,a:2,root@a"])
            .args(extra)
            .args(["echo", "%h"]));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let mut lines: Vec<String> = prsh(&[]).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["a:1: a", "a:2: a", "root@a: a"]);
    assert_text_eq!(
        "----------------\na:[1-2],root@a\n----------------\na\n",
        prsh(&["-b"])
    );
    let hosts: BTreeSet<String> = prsh(&["--json"])
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["host"].to_string())
        .collect();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    prsh(&["-o", dir.to_str().unwrap()]);
    let files = names(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(files, ["a:1", "a:2", "root@a"]);
}

#[test]
fn prcp_gathers_one_copy_per_host_when_hosts_share_a_name() {
    let tc = TestCluster::start(1);
    let into = tc.scratch("back");
    let out = run(tc
        .tool("prcp")
        .args(["--gather", "-w", "node1,root@node1", "/etc/hostname"])
        .arg(&into));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(names(&into), ["hostname.node1", "hostname.root@node1"]);
}
