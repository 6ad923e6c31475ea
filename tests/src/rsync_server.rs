//! What the tests of `prsync --server` share: the stock rsync client through the cluster's
//! ssh, with the host's rsync or prsync as its far side (`--rsync-path`).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::{bin, run, TestCluster};

/// prsync's path as the host sees it, for `--rsync-path`.
pub fn prsync_there(tc: &TestCluster) -> String {
    tc.host_path(&bin("prsync")).display().to_string()
}

/// The stock rsync client from `from` to `to`, the host running `remote` as its rsync.
pub fn stock_client(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(&mut command(tc, remote, args, from, to))
}

/// [`stock_client`] with `input` on its stdin (a `--files-from=-` list, say).
pub fn stock_client_fed(
    tc: &TestCluster,
    remote: &str,
    args: &[&str],
    from: &str,
    to: &str,
    input: &str,
) -> Output {
    let mut child = command(tc, remote, args, from, to)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rsync starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        // A client that stopped early closes its stdin: that is its own failure to show.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("rsync ends");
    writer.join().expect("the writer does not panic");
    out
}

fn command(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Command {
    let mut cmd = Command::new("rsync");
    cmd.arg("-e")
        .arg(format!("ssh -F {}", tc.cluster.ssh_config().display()))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to);
    cmd
}
