//! `-z` over rsync's own protocol, both ways: prsync's `--wire=rsync` client against the
//! stock rsync on a test host (push and pull), and the stock rsync client against
//! `prsync --server` there (push and pull). Each makes the same trees and `-i` lines as
//! rsync on both ends, at protocol 30 and 32, for a tree of text that deflates well and
//! noise that does not, then for a changed line in a 600 KB file; and each puts fewer
//! bytes on the wire than the same run without `-z`.

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prtools_tests::rsync_wire::{age, big_text};
use prtools_tests::{assert_one_line_error, assert_text_eq, bin, describe, run, text, TestCluster};

/// Text that deflates well (a 600 KB file of numbered lines and a few small ones),
/// 300 KB of noise that does not, a symlink, and mtimes in the past.
fn make_tree(tree: &Path) {
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("etc/big.txt"), big_text(None)).unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let mut rng = fastrand::Rng::with_seed(18);
    let noise: Vec<u8> = (0..300_000).map(|_| rng.u8(..)).collect();
    std::fs::write(tree.join("data/noise.bin"), noise).unwrap();
    symlink("etc/hosts", tree.join("hosts")).unwrap();
    age(tree, "2024-01-02 03:04:05");
}

/// The update: a changed line in the big file and a new file.
fn change(tree: &Path) {
    std::fs::write(tree.join("etc/big.txt"), big_text(Some(40_000))).unwrap();
    std::fs::write(tree.join("etc/new file"), "new\n").unwrap();
    age(tree, "2024-02-03 04:05:06");
}

/// [`describe`] plus every entry's owner, group and mtime.
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = describe(root);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!(
                "{} {}:{} {}",
                path.strip_prefix(root).unwrap().display(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
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

/// The stock rsync client from `from` to `to`, the host running `remote` as its rsync.
fn rsync(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(shell(tc))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

/// prsync over rsync's protocol from `from` to `to`, and the bytes that crossed the
/// remote shell both ways (counted by an `ssh` first on the PATH that tees them).
fn prsync_counted(
    tc: &TestCluster,
    remote: &str,
    args: &[&str],
    from: &str,
    to: &str,
    scratch: &Path,
) -> (Output, u64) {
    let wrappers = scratch.join("bin");
    let counted = scratch.join("counted");
    std::fs::create_dir_all(&wrappers).unwrap();
    std::fs::write(&counted, "").unwrap();
    std::fs::write(counted.with_extension("in"), "").unwrap();
    let script = format!(
        "#!/bin/bash\nset -o pipefail\ntee -a '{out}' | '{ssh}' \"$@\" | tee -a '{out}.in'\n",
        out = counted.display(),
        ssh = which("ssh").display(),
    );
    prtools_tests::write_executable(&wrappers.join("ssh"), script.as_bytes());
    let path = format!(
        "{}:{}",
        wrappers.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(tc
        .prsync()
        .env("PATH", path)
        .arg("--wire=rsync")
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to));
    let size = |p: PathBuf| std::fs::metadata(p).unwrap().len();
    let bytes = size(counted.clone()) + size(counted.with_extension("in"));
    (out, bytes)
}

fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {program} on the PATH"))
}

/// The bytes a stock client's `--stats` says crossed: sent plus received.
fn stats_bytes(out: &str) -> u64 {
    let figure = |label: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no '{label}' in {out}"));
        line[label.len()..].trim().replace(',', "").parse().unwrap()
    };
    figure("Total bytes sent:") + figure("Total bytes received:")
}

/// The `-i` lines of a stock client's output, before `--stats`' block.
fn items(out: &str) -> String {
    out.split("\n\n").next().unwrap_or("").to_string()
}

/// The host's rsync as a prsync client starts it, at `protocol`.
fn host_rsync(protocol: i32) -> String {
    if protocol == 30 {
        "rsync --protocol=30".into()
    } else {
        "rsync".into()
    }
}

/// One run with these arguments: its output, its `-i` lines, the bytes it put on the wire.
type Run<'a> = dyn Fn(&[&str]) -> (Output, String, u64) + 'a;

/// Checks a first run and an update made by `by_rsync` (rsync at both ends) and by
/// `by_prsync` (prsync at one end) with `-z` against each other: `-i` lines, trees, and
/// fewer bytes than `by_prsync` without `-z` (`plain`). Each closure runs one step into
/// its own destination and returns the output, its `-i` lines with the destination's
/// name made the same, and the bytes on the wire.
struct Step<'a> {
    by_rsync: &'a Run<'a>,
    by_prsync: &'a Run<'a>,
    plain: &'a Run<'a>,
    trees: &'a dyn Fn() -> (Vec<String>, Vec<String>),
}

fn first_and_update(s: &Step<'_>, change_source: &dyn Fn()) {
    for update in [false, true] {
        if update {
            change_source();
        }
        let z = ["-ai", "-z", "--no-whole-file"];
        let (want, want_items, _) = (s.by_rsync)(&z);
        assert_eq!(want.status.code(), Some(0), "{}", text(&want.stderr));
        let (got, got_items, zipped) = (s.by_prsync)(&z);
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        assert_text_eq!(want_items, got_items);
        let line = if update {
            "f.st...... etc/big.txt"
        } else {
            "f+++++++++ data/noise.bin"
        };
        assert!(got_items.contains(line), "{got_items}");
        let (want_tree, got_tree) = (s.trees)();
        assert_eq!(got_tree, want_tree);
        let (plain, _, unzipped) = (s.plain)(&["-ai", "--no-whole-file"]);
        assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
        eprintln!("update: {update}: {zipped} bytes with -z, {unzipped} without");
        assert!(
            zipped < unzipped,
            "-z sent {zipped} bytes, and {unzipped} without (update: {update})"
        );
        if !update {
            // The 600 KB of text deflates to far less; the noise stays as it is.
            assert!(
                unzipped - zipped > 300_000,
                "-z sent {zipped} bytes, and {unzipped} without"
            );
        }
    }
}

/// prsync's client pushing to the stock rsync on the host, with `-z`.
fn prsync_push(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("zpush");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let from = format!("{}/", src.display());
    let remote = host_rsync(protocol);
    let by_rsync = |args: &[&str]| {
        let out = rsync(&tc, &remote, args, &from, "node1:/tmp/by-rsync/");
        let items = text(&out.stdout).replace("/tmp/by-rsync", "/tmp/by-DEST");
        (out, items, 0)
    };
    let by_prsync = |args: &[&str]| {
        let (out, n) = prsync_counted(&tc, &remote, args, &from, "node1:/tmp/by-prsync/", &scratch);
        let items = text(&out.stdout).replace("/tmp/by-prsync", "/tmp/by-DEST");
        (out, items, n)
    };
    let plain = |args: &[&str]| {
        let (out, n) = prsync_counted(&tc, &remote, args, &from, "node1:/tmp/plain/", &scratch);
        (out, String::new(), n)
    };
    let trees = || {
        (
            snapshot(&node.join("by-rsync")),
            snapshot(&node.join("by-prsync")),
        )
    };
    let step = Step {
        by_rsync: &by_rsync,
        by_prsync: &by_prsync,
        plain: &plain,
        trees: &trees,
    };
    first_and_update(&step, &|| change(&src));
    assert_eq!(snapshot(&node.join("by-prsync")), snapshot(&src));
}

#[test]
fn prsyncs_client_pushes_with_z_at_protocol_32() {
    prsync_push(32);
}

#[test]
fn prsyncs_client_pushes_with_z_at_protocol_30() {
    prsync_push(30);
}

/// prsync's client pulling from the stock rsync on the host, with `-z`.
fn prsync_pull(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("zpull");
    let node = tc.cluster.node_tmp(1);
    let src = node.join("src");
    make_tree(&src);
    let remote = host_rsync(protocol);
    let (want_dir, got_dir, plain_dir) = (
        scratch.join("by-rsync"),
        scratch.join("by-prsync"),
        scratch.join("plain"),
    );
    let by_rsync = |args: &[&str]| {
        let out = rsync(
            &tc,
            &remote,
            args,
            "node1:/tmp/src/",
            want_dir.to_str().unwrap(),
        );
        let items = text(&out.stdout).replace("by-rsync", "DEST");
        (out, items, 0)
    };
    let by_prsync = |args: &[&str]| {
        let to = got_dir.to_str().unwrap();
        let (out, n) = prsync_counted(&tc, &remote, args, "node1:/tmp/src/", to, &scratch);
        let items = text(&out.stdout).replace("by-prsync", "DEST");
        (out, items, n)
    };
    let plain = |args: &[&str]| {
        let to = plain_dir.to_str().unwrap();
        let (out, n) = prsync_counted(&tc, &remote, args, "node1:/tmp/src/", to, &scratch);
        (out, String::new(), n)
    };
    let trees = || (snapshot(&want_dir), snapshot(&got_dir));
    let step = Step {
        by_rsync: &by_rsync,
        by_prsync: &by_prsync,
        plain: &plain,
        trees: &trees,
    };
    first_and_update(&step, &|| change(&src));
    assert_eq!(snapshot(&got_dir), snapshot(&src));
}

#[test]
fn prsyncs_client_pulls_with_z_at_protocol_32() {
    prsync_pull(32);
}

#[test]
fn prsyncs_client_pulls_with_z_at_protocol_30() {
    prsync_pull(30);
}

/// prsync as the host sees it.
fn prsync_there(tc: &TestCluster) -> String {
    tc.host_path(&bin("prsync")).display().to_string()
}

/// The stock rsync client pushing to `prsync --server`, with `-z`.
fn server_push(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("zspush");
    let src = scratch.join("src");
    make_tree(&src);
    let node = tc.cluster.node_tmp(1);
    let from = format!("{}/", src.display());
    let prsync = prsync_there(&tc);
    let proto = format!("--protocol={protocol}");
    let push = |remote: &str, args: &[&str], dest: &str| {
        let mut all = vec![proto.as_str(), "--stats"];
        all.extend_from_slice(args);
        let out = rsync(&tc, remote, &all, &from, &format!("node1:/tmp/{dest}/"));
        let shown = items(&text(&out.stdout)).replace(dest, "DEST");
        let bytes = stats_bytes(&text(&out.stdout));
        (out, shown, bytes)
    };
    let by_rsync = |args: &[&str]| push("rsync", args, "by-rsync");
    let by_prsync = |args: &[&str]| push(&prsync, args, "by-prsync");
    let plain = |args: &[&str]| push(&prsync, args, "plain");
    let trees = || {
        (
            snapshot(&node.join("by-rsync")),
            snapshot(&node.join("by-prsync")),
        )
    };
    let step = Step {
        by_rsync: &by_rsync,
        by_prsync: &by_prsync,
        plain: &plain,
        trees: &trees,
    };
    first_and_update(&step, &|| change(&src));
    assert_eq!(snapshot(&node.join("by-prsync")), snapshot(&src));
}

#[test]
fn a_stock_client_pushes_with_z_to_prsync_server_at_protocol_32() {
    server_push(32);
}

#[test]
fn a_stock_client_pushes_with_z_to_prsync_server_at_protocol_30() {
    server_push(30);
}

/// The stock rsync client pulling from `prsync --server`, with `-z`.
fn server_pull(protocol: i32) {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("zspull");
    let node = tc.cluster.node_tmp(1);
    let src = node.join("src");
    make_tree(&src);
    let prsync = prsync_there(&tc);
    let proto = format!("--protocol={protocol}");
    let pull = |remote: &str, args: &[&str], dest: &str| {
        let mut all = vec![proto.as_str(), "--stats"];
        all.extend_from_slice(args);
        let to = scratch.join(dest);
        let out = rsync(&tc, remote, &all, "node1:/tmp/src/", to.to_str().unwrap());
        let shown = items(&text(&out.stdout)).replace(dest, "DEST");
        let bytes = stats_bytes(&text(&out.stdout));
        (out, shown, bytes)
    };
    let by_rsync = |args: &[&str]| pull("rsync", args, "by-rsync");
    let by_prsync = |args: &[&str]| pull(&prsync, args, "by-prsync");
    let plain = |args: &[&str]| pull(&prsync, args, "plain");
    let trees = || {
        (
            snapshot(&scratch.join("by-rsync")),
            snapshot(&scratch.join("by-prsync")),
        )
    };
    let step = Step {
        by_rsync: &by_rsync,
        by_prsync: &by_prsync,
        plain: &plain,
        trees: &trees,
    };
    first_and_update(&step, &|| change(&src));
    assert_eq!(snapshot(&scratch.join("by-prsync")), snapshot(&src));
}

#[test]
fn a_stock_client_pulls_with_z_from_prsync_server_at_protocol_32() {
    server_pull(32);
}

#[test]
fn a_stock_client_pulls_with_z_from_prsync_server_at_protocol_30() {
    server_pull(30);
}

#[test]
fn a_compression_neither_side_has_ends_with_one_line() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("zrefused");
    let src = scratch.join("src");
    make_tree(&src);
    let from = format!("{}/", src.display());
    let node = tc.cluster.node_tmp(1);

    // prsync's client, asked for what the host's rsync has and it does not.
    for (choice, needle) in [
        ("--zc=zstd", "compression zstd is not spoken here"),
        ("--compress-choice=lz4", "with zlibx or zlib"),
    ] {
        let out = run(tc
            .prsync()
            .args(["--wire=rsync", "-a", choice])
            .arg(&from)
            .arg("node1:/tmp/refused/"));
        assert_eq!(out.status.code(), Some(1), "{choice}");
        assert_one_line_error("prsync", &text(&out.stderr), needle);
    }
    // zlib is rsync's protocol's: prsync's agent says which wire has it.
    let out = run(tc
        .prsync()
        .args(["-a", "--zc=zlib"])
        .arg(&from)
        .arg("node1:/tmp/refused/"));
    assert_eq!(out.status.code(), Some(1));
    assert_one_line_error("prsync", &text(&out.stderr), "--wire=rsync");
    assert!(!node.join("refused").exists());

    // The stock client asking prsync --server for zstd: prsync's line, no transfer.
    let prsync = prsync_there(&tc);
    let out = rsync(
        &tc,
        &prsync,
        &["-a", "--zc=zstd"],
        &from,
        "node1:/tmp/refused/",
    );
    assert_ne!(out.status.code(), Some(0));
    let said = text(&out.stderr);
    assert_eq!(
        said.matches("prsync: --server: compression zstd is not spoken here")
            .count(),
        1,
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    assert!(!node.join("refused").exists());
    let out = rsync(
        &tc,
        &prsync,
        &["-a", "--zc=lz4"],
        "node1:/tmp/",
        scratch.join("back").to_str().unwrap(),
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("compression lz4 is not spoken here"));
    assert!(!scratch.join("back").exists());
}

#[test]
fn prsyncs_client_pushes_with_z_to_many_hosts_at_once() {
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("zmany");
    let src = scratch.join("src");
    make_tree(&src);
    let push = |args: &[&str]| {
        run(tc
            .prsync()
            .args(["--wire=rsync", "-a", "-z", "--compress-choice=zlibx"])
            .args(args)
            .args(["-w", "node[1-2]"])
            .arg(format!("{}/", src.display()))
            .arg(":/tmp/many/"))
    };
    for update in [false, true] {
        if update {
            change(&src);
        }
        let got = push(&["--compress-level=9"]);
        assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
        assert_eq!(text(&got.stderr), "");
        for node in 1..=2 {
            let tree = tc.cluster.node_tmp(node).join("many");
            assert_eq!(snapshot(&tree), snapshot(&src), "node{node}");
        }
    }
}
