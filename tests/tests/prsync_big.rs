//! prsync with files larger than the memory it may use: each receiver (the agent of a push,
//! the client of a pull) runs under a limit on its anonymous memory smaller than the file,
//! and must still rebuild it from its old copy and the delta. An interrupted transfer of
//! such a file must leave the old file, whole.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use prtools_tests::{bin, run, spawn, text, wait_for_temp_file, TestCluster};

/// The receiver's limit on anonymous memory (`RLIMIT_DATA`: private writable mappings, the
/// heap, thread stacks; not the mapped pages of the files it reads). The bound.
const LIMIT: u64 = 64 << 20;

/// Larger than [`LIMIT`]: a receiver that held the file would fail.
const SIZE: usize = 160 << 20;

/// `len` bytes that do not repeat (so every block is its own), from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64: fast, and no block of it looks like another.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The new version of `old`: `edits` 4 KiB stretches rewritten, spread over the file.
fn edited(old: &[u8], edits: usize) -> Vec<u8> {
    let mut new = old.to_vec();
    let step = old.len() / edits;
    for (k, at) in (0..edits).map(|k| (k, k * step + step / 3)) {
        new[at..at + 4096].copy_from_slice(&noise(4096, 1000 + k as u64));
    }
    new
}

/// Writes `data` to `path` with an mtime in the past, so that a new version differs.
fn write_old(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap();
    let status = Command::new("touch")
        .args(["-d", "2024-01-02 03:04:05"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `--stats`' `Matched data:` figure.
fn matched(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Matched data:"))
        .unwrap_or_else(|| panic!("no 'Matched data:' in {stdout}"));
    line.trim()
        .trim_end_matches(" bytes")
        .replace(',', "")
        .parse()
        .unwrap()
}

/// Runs `cmd` with its anonymous memory limited to `bytes` (as `prlimit --data`).
fn limit_data(cmd: &mut Command, bytes: u64) {
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; setrlimit is a
    // plain system call on a struct on this stack.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A source folder holding `big.bin` (new) and a node folder holding its old version.
fn setup(tc: &TestCluster, name: &str, new: &[u8], old: &[u8]) -> (PathBuf, PathBuf) {
    let src = tc.scratch(name).join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), new).unwrap();
    let node_dst = tc.cluster.node_tmp(1).join(name);
    std::fs::create_dir_all(&node_dst).unwrap();
    write_old(&node_dst.join("big.bin"), old);
    (src, node_dst)
}

#[test]
fn a_push_rebuilds_a_file_larger_than_the_agents_memory_limit() {
    let tc = TestCluster::start(1);
    let old = noise(SIZE, 7);
    let new = edited(&old, 40);
    let (src, node_dst) = setup(&tc, "push", &new, &old);
    let agent = tc.host_path(&bin("prsync"));
    let limited = format!("prlimit --data={LIMIT} -- {}", agent.display());
    let out = run(tc
        .prsync()
        .args([
            "-a",
            "--no-whole-file",
            "--stats",
            "--remote-path",
            &limited,
        ])
        .arg(format!("{}/", src.display()))
        .arg("node1:/tmp/push/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The old copy was used, not replaced by a whole-file copy.
    assert!(matched(&text(&out.stdout)) > (SIZE / 2) as u64);
    assert!(std::fs::read(node_dst.join("big.bin")).unwrap() == new);
}

#[test]
fn a_pull_rebuilds_a_file_larger_than_the_clients_memory_limit() {
    let tc = TestCluster::start(1);
    let old = noise(SIZE, 11);
    let new = edited(&old, 40);
    // The source is on the node this time, the old copy here.
    let node_src = tc.cluster.node_tmp(1).join("pull-src");
    std::fs::create_dir_all(&node_src).unwrap();
    std::fs::write(node_src.join("big.bin"), &new).unwrap();
    let dst = tc.scratch("pull").join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    write_old(&dst.join("big.bin"), &old);
    let mut cmd = tc.prsync();
    cmd.args(["-a", "--no-whole-file", "--stats"])
        .arg("node1:/tmp/pull-src/")
        .arg(format!("{}/", dst.display()));
    limit_data(&mut cmd, LIMIT);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(matched(&text(&out.stdout)) > (SIZE / 2) as u64);
    assert!(std::fs::read(dst.join("big.bin")).unwrap() == new);
}

#[test]
fn a_push_of_a_big_file_cut_mid_write_leaves_the_old_file_whole() {
    let tc = TestCluster::start(1);
    // The first half is the old file's, the second is new: the host writes the first half
    // at disk speed, then waits on the network for the second.
    let old = noise(64 << 20, 3);
    let mut new = old.clone();
    new[32 << 20..].copy_from_slice(&noise(32 << 20, 5));
    let (src, node_dst) = setup(&tc, "cut", &new, &old);
    let mut child = spawn(
        tc.prsync()
            .args(["-a", "--no-whole-file", "--bwlimit=10M"])
            .arg(format!("{}/", src.display()))
            .arg("node1:/tmp/cut/"),
    );
    // The host is writing the new file's second half: the client dies, its channel closes.
    wait_for_temp_file(&node_dst, ".big.bin.", (33 << 20) as u64);
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while tc
        .cluster
        .processes(1)
        .iter()
        .any(|p| p.contains("--server"))
    {
        assert!(Instant::now() < deadline, "the agent never exited");
        // A poll interval while the agent exits, not a synchronisation.
        std::thread::sleep(Duration::from_millis(5));
    }
    let names: Vec<String> = std::fs::read_dir(&node_dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["big.bin"], "a temp file was left behind");
    assert!(std::fs::read(node_dst.join("big.bin")).unwrap() == old);
}
