//! prsync across hosts, end to end: the real binary and its agent against a real cluster,
//! compared with what the real rsync does with the same tree on this machine.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use prtools_tests::rsync_wire::{big_text, set_old_times};
use prtools_tests::{assert_text_eq, describe, run, spawn, text, wait_for_temp_file, TestCluster};

/// A tree with what rsync -a keeps: nested files, modes, an empty folder, a symlink, a name
/// with a space, and mtimes well in the past (rsync compares mtimes to the second).
fn make_tree(root: &Path) -> PathBuf {
    let tree = root.join("src");
    std::fs::create_dir_all(tree.join("etc/conf.d")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(tree.join("etc/conf.d/app with space.conf"), "x = 1\n").unwrap();
    std::fs::write(tree.join("etc/big.txt"), big_text(None)).unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(tree.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
    symlink("etc/hosts", tree.join("hosts")).unwrap();
    set_old_times(&tree);
    tree
}

/// `rsync ARGS` on this machine, for the expected output.
fn rsync(args: &[&str], src: &Path, dst: &Path) -> String {
    let mut src = src.as_os_str().to_owned();
    src.push("/");
    let out = run(Command::new("rsync").args(args).arg(src).arg(dst));
    assert!(out.status.success(), "rsync: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The real rsync pushing `SRC/` to `dest` on the test cluster, for the expected output.
fn rsync_push(tc: &TestCluster, args: &[&str], src: &Path, dest: &str) -> String {
    let shell = format!("ssh -F {}", tc.cluster.ssh_config().display());
    let out = run(Command::new("rsync")
        .arg("-e")
        .arg(shell)
        .args(args)
        .arg(with_slash(src))
        .arg(dest));
    assert!(out.status.success(), "rsync: {}", text(&out.stderr));
    text(&out.stdout)
}

fn with_slash(p: &Path) -> String {
    format!("{}/", p.display())
}

/// `prsync ARGS SRC/ DEST` against the test cluster.
fn push(tc: &TestCluster, args: &[&str], src: &Path, dest: &str) -> std::process::Output {
    run(tc.prsync().args(args).arg(with_slash(src)).arg(dest))
}

/// The lines of `output` that `host` printed, without the prefix.
fn lines_of(output: &str, host: &str) -> String {
    let prefix = format!("{host}: ");
    output
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn stat(output: &str, name: &str) -> u64 {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no '{name}' in {output}"));
    line.trim()
        .trim_end_matches(" bytes")
        .replace(',', "")
        .parse()
        .unwrap()
}

#[test]
fn a_push_to_one_host_does_what_rsync_does_and_sends_a_delta() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("push");
    let src = make_tree(&scratch);
    // rsync's own push to the same host is the expected output: what is sent shows as
    // `<f...`, the pushing side's view.
    let expected = rsync_push(&tc, &["-ai"], &src, "node1:/tmp/rsync-dst");
    assert!(expected.contains("<f+++++++++ run.sh"), "{expected}");
    let local = tc.cluster.node_tmp(1).join("rsync-dst");

    let out = push(&tc, &["-ai"], &src, "node1:/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        expected.replace("/tmp/rsync-dst", "/tmp/dst"),
        text(&out.stdout)
    );
    let remote = tc.cluster.node_tmp(1).join("dst");
    assert_eq!(describe(&remote), describe(&local));

    // One changed line of a 600 KB file: the same itemized change as rsync, and a delta of
    // a few KB instead of the file.
    std::fs::write(src.join("etc/big.txt"), big_text(Some(40_000))).unwrap();
    set_old_times(&src);
    let expected = rsync_push(&tc, &["-ai"], &src, "node1:/tmp/rsync-dst");
    let out = push(&tc, &["-ai", "--stats", "-z"], &src, "node1:/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let itemized: String = stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_text_eq!(expected, itemized);
    assert!(stat(&stdout, "Literal data:") < 8_000, "{stdout}");
    assert!(stat(&stdout, "Matched data:") > 500_000, "{stdout}");
    assert_eq!(describe(&remote), describe(&local));
}

#[test]
fn a_users_file_named_like_a_temp_file_survives_a_push() {
    let tc = TestCluster::start(1);
    let src = make_tree(&tc.scratch("push"));
    let dst = tc.cluster.node_tmp(1).join("dst");
    std::fs::create_dir_all(dst.join("etc")).unwrap();
    // Named as prsync's temp files are, unlocked, in a folder the push writes to; only
    // prtools' mark is missing. rsync would leave it, and so must the sweep.
    let own = dst.join("etc/.hosts.prtools-0123456789abcdef");
    std::fs::write(&own, b"the user's own\n").unwrap();
    let out = push(&tc, &["-a"], &src, "node1:/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&own).unwrap(), b"the user's own\n");
}

#[test]
fn a_pull_from_one_host_matches_the_source_and_mkpath_makes_parents() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("pull");
    let src = make_tree(&scratch);
    let staged = tc.cluster.node_tmp(1).join("data");
    let copied = run(Command::new("cp").arg("-a").arg(&src).arg(&staged));
    assert!(copied.status.success());
    let local = scratch.join("rsync-copy");
    let expected = rsync(&["-ai"], &src, &local);
    let pulled = scratch.join("pulled");
    let out = run(tc.prsync().arg("-ai").arg("node1:/tmp/data/").arg(&pulled));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        expected.replace(&local.display().to_string(), &pulled.display().to_string()),
        text(&out.stdout)
    );
    assert_eq!(describe(&pulled), describe(&src));

    // A destination whose parents are missing: refused as rsync does, made with --mkpath.
    let refused = push(&tc, &["-a"], &src, "node1:/tmp/deep/er/dst");
    assert_eq!(refused.status.code(), Some(11), "{}", text(&refused.stderr));
    let made = push(&tc, &["-a", "--mkpath"], &src, "node1:/tmp/deep/er/dst");
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    assert_eq!(
        describe(&tc.cluster.node_tmp(1).join("deep/er/dst")),
        describe(&src)
    );
}

/// As rsync: RSYNC_RSH names the remote shell when `-e` does not, and `-e` wins over it.
#[test]
fn rsync_rsh_names_the_remote_shell_when_e_does_not() {
    let tc = TestCluster::start(1);
    let src = make_tree(&tc.scratch("rsh"));
    let shell = format!("ssh -F {}", tc.cluster.ssh_config().display());
    let mut cmd = Command::new(prtools_tests::bin("prsync"));
    tc.isolate(&mut cmd);
    let out = run(cmd
        .env("RSYNC_RSH", &shell)
        .arg("-a")
        .arg(with_slash(&src))
        .arg("node1:/tmp/by-env/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        describe(&tc.cluster.node_tmp(1).join("by-env")),
        describe(&src)
    );
    let out = run(tc
        .prsync()
        .env("RSYNC_RSH", "/nonexistent/shell")
        .arg("-a")
        .arg(with_slash(&src))
        .arg("node1:/tmp/by-flag/"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        describe(&tc.cluster.node_tmp(1).join("by-flag")),
        describe(&src)
    );
}

#[test]
fn a_push_to_eight_hosts_prefixes_each_hosts_lines_and_deletes_as_rsync() {
    let tc = TestCluster::start(8);
    let scratch = tc.scratch("many");
    let src = make_tree(&scratch);
    let expected = rsync_push(&tc, &["-ai"], &src, "node1:/tmp/rsync-dst");
    let local = tc.cluster.node_tmp(1).join("rsync-dst");
    let out = push(&tc, &["-ai", "-w", "node[1-8]"], &src, ":/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for node in 1..=8 {
        let host = format!("node{node}");
        assert_text_eq!(
            expected.replace("/tmp/rsync-dst", "/tmp/dst"),
            lines_of(&stdout, &host)
        );
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("dst")),
            describe(&local),
            "{host}"
        );
    }

    // One changed line: every host rebuilds the file from its old copy with the one
    // signature of the new file made here, and fetches only the few KB it lacks.
    std::fs::write(src.join("etc/big.txt"), big_text(Some(123))).unwrap();
    set_old_times(&src);
    let out = push(
        &tc,
        &["-a", "--stats", "-w", "node[1-8]"],
        &src,
        ":/tmp/dst",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for node in 1..=8 {
        let host = format!("node{node}");
        let stats = lines_of(&stdout, &host);
        assert!(stat(&stats, "Literal data:") < 8_000, "{host}: {stats}");
        assert!(stat(&stats, "Matched data:") > 500_000, "{host}: {stats}");
        assert_eq!(
            std::fs::read(tc.cluster.node_tmp(node).join("dst/etc/big.txt")).unwrap(),
            big_text(Some(123)).into_bytes(),
            "{host}"
        );
    }
    rsync_push(&tc, &["-a"], &src, "node1:/tmp/rsync-dst");

    // A file gone from the source goes from every host with --delete, itemized as rsync.
    std::fs::remove_file(src.join("run.sh")).unwrap();
    set_old_times(&src);
    let expected = rsync_push(&tc, &["-ai", "--delete"], &src, "node1:/tmp/rsync-dst");
    assert!(expected.contains("*deleting   run.sh"), "{expected}");
    let out = push(
        &tc,
        &["-ai", "--delete", "-w", "node[1-8]"],
        &src,
        ":/tmp/dst",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for node in 1..=8 {
        let host = format!("node{node}");
        assert_text_eq!(expected, lines_of(&stdout, &host));
        assert!(!tc.cluster.node_tmp(node).join("dst/run.sh").exists());
    }
}

#[test]
fn a_host_that_is_down_is_named_and_the_others_complete() {
    let tc = TestCluster::start(3);
    let scratch = tc.scratch("down");
    let src = make_tree(&scratch);
    tc.cluster.stop_node(2).unwrap();
    let out = push(
        &tc,
        &["-a", "-w", "node[1-3]", "--contimeout", "5"],
        &src,
        ":/tmp/dst",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("prsync: node2: "), "{stderr}");
    for node in [1, 3] {
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("dst")),
            describe(&src),
            "node{node}"
        );
    }
}

#[test]
fn a_source_that_cannot_be_listed_is_said_once_even_when_no_host_is_reached() {
    // A push lists its sources while the hosts connect: what the listing met is still said
    // once, before anything a host says, and still makes the run partial.
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("unlisted");
    let src = make_tree(&scratch);
    let missing = scratch.join("missing");
    let said = format!(
        "prsync: link_stat \"{}\" failed: No such file or directory (2) (check the source path)\n",
        missing.display()
    );
    let out = run(tc
        .prsync()
        .args(["-a", "-w", "node[1-2]"])
        .arg(with_slash(&src))
        .arg(&missing)
        .arg(":/tmp/dst/"));
    assert_eq!(out.status.code(), Some(23), "{}", text(&out.stderr));
    assert_text_eq!(said, text(&out.stderr));
    for node in 1..=2 {
        assert_eq!(
            describe(&tc.cluster.node_tmp(node).join("dst")),
            describe(&src),
            "node{node}"
        );
    }
    tc.cluster.stop_node(1).unwrap();
    tc.cluster.stop_node(2).unwrap();
    let out = run(tc
        .prsync()
        .args(["-a", "-w", "node[1-2]", "--contimeout", "2"])
        .arg(with_slash(&src))
        .arg(&missing)
        .arg(":/tmp/dst2/"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.starts_with(&said), "{stderr}");
    assert!(
        stderr
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("prsync: node[1-2]: "),
        "{stderr}"
    );
}

#[test]
fn what_the_agents_say_is_folded_across_hosts() {
    let tc = TestCluster::start(3);
    let src = tc.scratch("said").join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.txt"), "hi\n").unwrap();
    // On two hosts a folder that is not empty stands where the file goes.
    for node in 1..=2 {
        let inner = tc.cluster.node_tmp(node).join("dst/f.txt/inner");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(inner.join("x"), "").unwrap();
    }
    let out = push(&tc, &["-a", "-w", "node[1-3]"], &src, ":/tmp/dst/");
    assert_eq!(out.status.code(), Some(23));
    // Each host named once, with all its agent said; two hosts that said the same, one line.
    assert_text_eq!(
        "prsync: node[1-2]: cannot delete non-empty directory: f.txt; could not make way for \
         new regular file: f.txt (add --force to replace it)\n",
        text(&out.stderr)
    );
    assert_text_eq!(
        "hi\n",
        std::fs::read_to_string(tc.cluster.node_tmp(3).join("dst/f.txt")).unwrap()
    );
}

#[test]
fn operands_that_cannot_work_get_one_line() {
    let home = std::env::temp_dir().join(format!("prsync-refused-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let exe = prtools_tests::bin("prsync");
    for (args, needle) in [
        (&["-a", "-w", "node1", "src", "/tmp"][..], "':PATH'"),
        (&["-a", "a:/x", "b:/y", "dst"][..], "same host"),
        (
            &["-a", "-e", "ssh -L 1:2:3", "src", "h:/x"][..],
            "'-L' is not supported",
        ),
    ] {
        let (code, stderr) = prtools_tests::run_refused(&exe, args, &home);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        prtools_tests::assert_one_line_error("prsync", &stderr, needle);
    }
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn a_fan_out_that_cannot_fit_the_open_file_limit_is_refused_with_one_line() {
    let src = std::env::temp_dir().join(format!("prsync-nofile-{}", std::process::id()));
    std::fs::create_dir_all(&src).unwrap();
    let mut cmd = Command::new(prtools_tests::bin("prsync"));
    prtools_tests::limit_open_files(&mut cmd, 50, Some(50));
    let out = run(cmd
        .args(["-a", "--fanout", "8", "-w", "node[1-8]"])
        .arg(&src)
        .arg(":/tmp/x"));
    assert_eq!(out.status.code(), Some(11));
    assert_text_eq!(
        "prsync: the open-file limit of 50 (`ulimit -n`) is too low for even one host at a \
         time (--fanout 1 needs 74); raise it with `ulimit -n 144`\n",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&src).unwrap();
}

#[test]
fn a_terminal_gets_one_progress_bar_for_many_hosts_and_q_silences_it() {
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("bar");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), vec![5u8; 24 << 20]).unwrap();
    let line = |quiet: &str| {
        format!(
            "{} {quiet} -a -e 'ssh -F {}' -w node[1-2] {} :/tmp/bar{quiet}",
            prtools_tests::bin("prsync").display(),
            tc.cluster.ssh_config().display(),
            with_slash(&src)
        )
    };
    // script(1) gives prsync a terminal.
    let mut shown = Command::new("script");
    tc.isolate(&mut shown);
    shown.args(["-qec", &line(""), "/dev/null"]);
    let out = run(&mut shown);
    let screen = text(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("MiB") && screen.contains("hosts "),
        "{screen:?}"
    );

    let mut quiet = Command::new("script");
    tc.isolate(&mut quiet);
    quiet.args(["-qec", &line("-q"), "/dev/null"]);
    let out = run(&mut quiet);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_text_eq!("", text(&out.stdout));
}

/// Pushes `src` to node1 with `partial` (and a rate limit), cuts the push once the host is
/// writing (the client dies, its channel closes), and waits until the agent has left.
fn cut_push_to_node1(tc: &TestCluster, partial: &str, src: &Path, node_dst: &Path) {
    let mut child = spawn(
        tc.prsync()
            .args(["-a", partial, "--bwlimit=20M"])
            .arg(with_slash(src))
            .arg("node1:/tmp/dst/"),
    );
    wait_for_temp_file(node_dst, ".big.bin.", 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while tc
        .cluster
        .processes(1)
        .iter()
        .any(|p| p.contains("--server"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never exited"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn partial_keeps_what_arrived_of_a_cut_transfer_and_the_next_run_finishes_it() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("partial");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    let big: Vec<u8> = (0..200u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("big.bin"), &big).unwrap();
    let node_dst = tc.cluster.node_tmp(1).join("dst");
    std::fs::create_dir_all(&node_dst).unwrap();
    // The agent sees its input end, keeps the part under the real name, and exits.
    cut_push_to_node1(&tc, "--partial", &src, &node_dst);
    let kept = std::fs::metadata(node_dst.join("big.bin")).unwrap().len();
    assert!(kept > 0 && kept < big.len() as u64, "kept {kept} bytes");
    assert_eq!(
        std::fs::read(node_dst.join("big.bin")).unwrap(),
        big[..kept as usize]
    );

    // The next run sends the rest as a delta against the part.
    let out = push(&tc, &["-a", "--stats"], &src, "node1:/tmp/dst/");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stat(&text(&out.stdout), "Matched data:") > kept / 2);
    assert!(std::fs::read(node_dst.join("big.bin")).unwrap() == big);
}

/// Many small changed files to a host and back: every file ends up as the source's, sent
/// as deltas (the data matched shows it); on the pull, asked for ahead.
#[test]
fn many_small_changed_files_come_as_deltas() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("small-deltas");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    let body = |n: u32, edit: bool| -> Vec<u8> {
        let mut b: Vec<u8> = (0..20_000u32).map(|i| ((i * 7 + n) % 251) as u8).collect();
        if edit {
            b[10_000..10_010].copy_from_slice(b"edited....");
        }
        b
    };
    for n in 0..120 {
        std::fs::write(src.join(format!("f{n:03}")), body(n, false)).unwrap();
    }
    let out = push(&tc, &["-a"], &src, "node1:/tmp/dst/");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Rewritten files of the same size would pass the quick check if written in the second
    // the first copy was made: each set of files gets its own time.
    let dated = |path: std::path::PathBuf, bytes: Vec<u8>, secs: u64| {
        let file = std::fs::File::create(path).unwrap();
        std::io::Write::write_all(&mut &file, &bytes).unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        file.set_modified(when).unwrap();
    };
    for n in 0..120 {
        dated(
            src.join(format!("f{n:03}")),
            body(n, n % 2 == 0),
            1_600_000_000,
        );
    }
    let out = push(&tc, &["-a", "--stats"], &src, "node1:/tmp/dst/");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stat(&text(&out.stdout), "Matched data:") > 60 * 15_000);
    let dst = tc.cluster.node_tmp(1).join("dst");
    for n in 0..120 {
        let name = format!("f{n:03}");
        assert!(
            std::fs::read(dst.join(&name)).unwrap() == body(n, n % 2 == 0),
            "{name}"
        );
    }
    // Pulled back over the first copy: the host's agent offers no signatures, so this
    // side asks for the deltas ahead, each against its own old file.
    let back = scratch.join("back");
    std::fs::create_dir_all(&back).unwrap();
    for n in 0..120 {
        dated(back.join(format!("f{n:03}")), body(n, false), 1_500_000_000);
    }
    let out = run(tc
        .prsync()
        .args(["-a", "--stats", "node1:/tmp/dst/"])
        .arg(with_slash(&back)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stat(&text(&out.stdout), "Matched data:") > 60 * 15_000);
    for n in 0..120 {
        let name = format!("f{n:03}");
        assert!(
            std::fs::read(back.join(&name)).unwrap() == body(n, n % 2 == 0),
            "{name}"
        );
    }
}

/// `-M`/`--remote-option` reaches the far side only: here its `--log-file`, which the
/// agent on the host writes there, as rsync's remote side does.
#[test]
fn remote_option_goes_to_the_far_side_only() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("remote-option");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"data\n").unwrap();
    let out = push(
        &tc,
        &["-a", "-M--log-file=/tmp/remote.log"],
        &src,
        "node1:/tmp/dst/",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(tc.cluster.node_tmp(1).join("remote.log")).unwrap();
    assert!(log.contains("] building file list\n"), "{log}");
    assert!(log.contains("f+++++++++ f\n"), "{log}");
    assert!(
        !scratch.join("remote.log").exists() && !std::path::Path::new("/tmp/remote.log").exists()
    );
}

/// `--partial-dir`: a cut transfer leaves its part in the folder beside the file, never
/// under the real name; the next run builds the file from it and removes the folder.
#[test]
fn partial_dir_keeps_the_part_beside_the_file_and_the_next_run_uses_it() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("partial-dir");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    let big: Vec<u8> = (0..200u32 << 20).map(|i| (i % 241) as u8).collect();
    std::fs::write(src.join("big.bin"), &big).unwrap();
    let node_dst = tc.cluster.node_tmp(1).join("dst");
    std::fs::create_dir_all(&node_dst).unwrap();
    cut_push_to_node1(&tc, "--partial-dir=.part", &src, &node_dst);
    assert!(!node_dst.join("big.bin").exists());
    let part = node_dst.join(".part/big.bin");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < big.len() as u64, "kept {kept} bytes");
    assert_eq!(std::fs::read(&part).unwrap(), big[..kept as usize]);

    let out = push(
        &tc,
        &["-a", "--partial-dir=.part", "--stats"],
        &src,
        "node1:/tmp/dst/",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stat(&text(&out.stdout), "Matched data:") > kept / 2);
    assert!(std::fs::read(node_dst.join("big.bin")).unwrap() == big);
    assert!(!node_dst.join(".part").exists());
}

#[test]
fn a_host_past_its_timeout_is_named_killed_and_left_without_a_partial_file() {
    let tc = TestCluster::start(2);
    let scratch = tc.scratch("timeout");
    let src = scratch.join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("slow.bin"), vec![1u8; 32 << 20]).unwrap();
    // 32 MB at 4 MB/s takes 8 s; the timeout is 2 s.
    let out = push(
        &tc,
        &["-a", "--bwlimit=4M", "--timeout", "2", "-w", "node[1-2]"],
        &src,
        ":/tmp/dst",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("prsync: node[1-2]: "), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    for node in 1..=2 {
        let left = tc.cluster.processes(node);
        assert!(
            !left.iter().any(|p| p.contains("--server")),
            "node{node}: {left:?}"
        );
        assert!(!tc.cluster.node_tmp(node).join("dst/slow.bin").exists());
    }
}

/// `-a` as a user who is not root copies everything, as rsync does: it keeps the group only
/// where the user is a member of it, and neither fails nor skips a folder over it.
#[test]
fn archive_as_a_user_who_is_not_root_copies_everything() {
    use std::os::unix::fs::{chown, MetadataExt};
    let user = prtools_tests::LocalUser::create();
    let dir = std::env::temp_dir().join(format!("prsync-nonroot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    chown(&dir, Some(user.uid()), None).unwrap();
    // The tool where the user can run it, whatever the checkout's folder allows.
    let exe = dir.join("prsync");
    std::fs::copy(prtools_tests::bin("prsync"), &exe).unwrap();
    let src = make_tree(&dir);
    // A group the user is not a member of (daemon, gid 1).
    run(Command::new("chgrp").args(["-R", "-h", "1"]).arg(&src));
    run(Command::new("chmod").args(["-R", "a+rX"]).arg(&src));
    let theirs = run(user
        .command("rsync")
        .arg("-a")
        .arg(with_slash(&src))
        .arg(dir.join("r")));
    assert_eq!(theirs.status.code(), Some(0), "{}", text(&theirs.stderr));
    let ours = run(user
        .command(exe.to_str().unwrap())
        .arg("-a")
        .arg(with_slash(&src))
        .arg(dir.join("p")));
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
    assert_eq!(describe(&dir.join("p")), describe(&dir.join("r")));
    let gid = |p: &Path| std::fs::symlink_metadata(p).unwrap().gid();
    for name in ["etc/conf.d", "etc/hosts", "run.sh", "hosts"] {
        assert_eq!(
            gid(&dir.join("p").join(name)),
            gid(&dir.join("r").join(name)),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C in a local copy, as rsync: exit 20, no temp file left, and with --partial what
/// arrived kept under the file's name (a prefix of the source), for the next run to finish.
/// `--bwlimit` holds the copy mid-file until the signal comes, which the test sends once the
/// temp file has data.
#[test]
fn ctrl_c_in_a_local_copy_leaves_no_temp_file_or_keeps_the_partial_one() {
    let dir = std::env::temp_dir().join(format!("prsync-sigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("src/big"), &data).unwrap();
    for (dest, partial) in [("plain", false), ("partial", true)] {
        std::fs::create_dir(dir.join(dest)).unwrap();
        let mut cmd = Command::new(prtools_tests::bin("prsync"));
        cmd.args(["-a", "--bwlimit=2M"]);
        if partial {
            cmd.arg("--partial");
        }
        let child = spawn(
            cmd.arg(with_slash(&dir.join("src")))
                .arg(with_slash(&dir.join(dest))),
        );
        wait_for_temp_file(&dir.join(dest), ".big.", 1 << 20);
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(20), "{}", text(&out.stderr));
        let left: Vec<String> = std::fs::read_dir(dir.join(dest))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if partial {
            assert_eq!(left, ["big"], "{dest}");
            let kept = std::fs::read(dir.join(dest).join("big")).unwrap();
            assert!(kept.len() >= 1 << 20 && kept.len() < data.len());
            assert_eq!(kept[..], data[..kept.len()]);
        } else {
            assert!(left.is_empty(), "{dest}: {left:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--files-from=host:FILE` reads the list on the transfer's remote host, for a push and
/// for a pull, with rsync's lines; a list on another host is refused with rsync's words.
#[test]
fn files_from_on_the_remote_host_as_rsync() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("files-from-remote");
    let src = make_tree(&scratch);
    let node = tc.cluster.node_tmp(1);
    std::fs::write(node.join("list"), "etc/hosts\nrun.sh\nhosts\nempty/\n").unwrap();
    let expected = rsync_push(
        &tc,
        &["-ai", "--files-from=node1:/tmp/list"],
        &src,
        "node1:/tmp/rsync-dst",
    );
    let out = push(
        &tc,
        &["-ai", "--files-from=node1:/tmp/list"],
        &src,
        "node1:/tmp/dst",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(
        expected.replace("/tmp/rsync-dst", "/tmp/dst"),
        text(&out.stdout)
    );
    assert_eq!(
        describe(&node.join("dst")),
        describe(&node.join("rsync-dst"))
    );

    let copied = run(Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(node.join("data")));
    assert!(copied.status.success());
    let pulled = scratch.join("pulled");
    let out = run(tc
        .prsync()
        .args(["-a", "--files-from=node1:/tmp/list", "node1:/tmp/data/"])
        .arg(&pulled));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(describe(&pulled), describe(&node.join("dst")));

    let out = push(
        &tc,
        &["-a", "--files-from=node2:/tmp/list"],
        &src,
        "node1:/tmp/x",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("prsync: --files-from hostname is not the same as the transfer hostname")
            && err.lines().count() == 1,
        "{err}"
    );
}

/// Each path below `root` with its `user.` attributes (name=value), sorted.
fn user_xattrs(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for item in std::fs::read_dir(&path).unwrap() {
                stack.push(rel.join(item.unwrap().file_name()));
            }
        }
        if meta.file_type().is_symlink() {
            continue;
        }
        for name in xattr::list(&path).unwrap() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("user.") {
                let value = xattr::get(&path, &name).unwrap().unwrap_or_default();
                out.push(format!("{}: {name}={}", rel.display(), text(&value)));
            }
        }
    }
    out.sort();
    out
}

/// -X, -A, -U and --fake-super through the agent: a push itemizes as rsync's own push does and
/// leaves the same attributes and access times; a pull brings them back; a --fake-super
/// push stores another owner and a device in rsync's `user.rsync.%stat`.
#[test]
fn xattrs_atimes_and_fake_super_cross_the_agent_both_ways() {
    let tc = TestCluster::start(1);
    let scratch = tc.scratch("xattrs");
    let src = make_tree(&scratch);
    xattr::set(src.join("etc/hosts"), "user.origin", b"the sender's").unwrap();
    xattr::set(src.join("etc"), "user.folder", b"a folder's").unwrap();
    xattr::set(src.join("run.sh"), "user.long", "x".repeat(3000).as_bytes()).unwrap();
    let acl = "allow::user::read,write\nallow::group::read\nallow::other::read\n\
               allow::user:1234:read,write\nallow::mask::read,write\n";
    exacl::setfacl(
        &[src.join("etc/hosts")],
        &exacl::from_str(acl).unwrap(),
        None,
    )
    .unwrap();
    let acl_of = |p: &Path| {
        let mut entries = exacl::getfacl(p, None).unwrap();
        entries.sort();
        exacl::to_string(&entries).unwrap()
    };
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(981_220_662);
    std::fs::File::options()
        .write(true)
        .open(src.join("run.sh"))
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_accessed(old))
        .unwrap();
    let atime = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).unwrap().atime()
    };

    // prsync first: rsync reads the sources without O_NOATIME, which moves their atime.
    let out = push(&tc, &["-aiXUA", "--open-noatime"], &src, "node1:/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let remote = tc.cluster.node_tmp(1).join("dst");
    assert_eq!(atime(&remote.join("run.sh")), 981_220_662);
    assert_eq!(atime(&src.join("run.sh")), 981_220_662);
    assert_eq!(user_xattrs(&remote), user_xattrs(&src));
    assert_eq!(
        acl_of(&remote.join("etc/hosts")),
        acl_of(&src.join("etc/hosts"))
    );
    let expected = rsync_push(&tc, &["-aiXUA"], &src, "node1:/tmp/rsync-dst");
    assert_text_eq!(
        expected.replace("/tmp/rsync-dst", "/tmp/dst"),
        text(&out.stdout)
    );

    // A changed attribute: one `x` line, as rsync's.
    xattr::set(src.join("etc/hosts"), "user.origin", b"changed").unwrap();
    let expected = rsync_push(&tc, &["-aiX"], &src, "node1:/tmp/rsync-dst");
    assert!(expected.contains(".f........x etc/hosts"), "{expected}");
    let out = push(&tc, &["-aiX"], &src, "node1:/tmp/dst");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_text_eq!(expected, text(&out.stdout));

    let pulled = scratch.join("pulled");
    let out = run(tc.prsync().arg("-aXA").arg("node1:/tmp/dst/").arg(&pulled));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(user_xattrs(&pulled), user_xattrs(&src));
    assert_eq!(
        acl_of(&pulled.join("etc/hosts")),
        acl_of(&src.join("etc/hosts"))
    );

    // (Its mode is 664 now: the ACL's mask is the group's bits.)
    std::os::unix::fs::chown(src.join("etc/hosts"), Some(5000), Some(5002)).unwrap();
    let out = push(&tc, &["-a", "--fake-super"], &src, "node1:/tmp/fake");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stat = xattr::get(
        tc.cluster.node_tmp(1).join("fake/etc/hosts"),
        "user.rsync.%stat",
    )
    .unwrap();
    assert_eq!(stat.as_deref(), Some(&b"100664 0,0 5000:5002"[..]));
}
