//! The checksum over rsync's protocol: varint file-list flags (capability `v`) and the
//! negotiated checksum names, both ways. prsync's `--wire=rsync` client against the
//! stock rsync on a test host (push and pull), and the stock rsync client against
//! `prsync --server` (push and pull), for each checksum forced with `--checksum-choice`
//! (xxh128, xxh3, xxh64, md5): the same trees, `-i` lines and literal/matched counts as
//! rsync at both ends, so that the block sums (seeded, cut to the same length) and the
//! whole-file sums are rsync's. Then what is negotiated with no choice: xxh128, and zlibx
//! for plain `-z`, as between two stock rsyncs.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use prtools_tests::rsync_wire::{age, big_text};
use prtools_tests::{assert_text_eq, bin, describe, run, text, TestCluster};

const CHECKSUMS: [&str; 4] = ["xxh128", "xxh3", "xxh64", "md5"];

/// 600 KB of numbered lines (a delta's worth of blocks), bytes above 0x7f (which rsync's
/// rolling sum counts as negative), a small file, a symlink, a folder; old mtimes.
fn make_tree(tree: &Path) {
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/big.txt"), big_text(None)).unwrap();
    let high: Vec<u8> = (0..200_000u32).map(|i| (i * 131 % 256) as u8).collect();
    std::fs::write(tree.join("etc/high.bin"), high).unwrap();
    std::fs::write(tree.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    symlink("hosts", tree.join("link")).unwrap();
    age(tree, "2024-01-02 03:04:05");
}

/// The update: a changed line in the big file, a new file.
fn change(tree: &Path) {
    std::fs::write(tree.join("etc/big.txt"), big_text(Some(40_000))).unwrap();
    std::fs::write(tree.join("etc/new"), "new\n").unwrap();
    age(tree, "2024-02-03 04:05:06");
}

fn shell(tc: &TestCluster) -> String {
    format!("ssh -F {}", tc.cluster.ssh_config().display())
}

/// The stock rsync client, the host running `remote` as its rsync.
fn rsync(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(Command::new("rsync")
        .arg("-e")
        .arg(shell(tc))
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

/// prsync's client over rsync's protocol, the host running the stock rsync.
fn prsync(tc: &TestCluster, remote: &str, args: &[&str], from: &str, to: &str) -> Output {
    run(tc
        .prsync()
        .arg("--wire=rsync")
        .arg(format!("--rsync-path={remote}"))
        .args(args)
        .arg(from)
        .arg(to))
}

fn prsync_there(tc: &TestCluster) -> String {
    tc.host_path(&bin("prsync")).display().to_string()
}

/// The `-i` lines and `--stats`' literal and matched counts: what says how each file
/// went (the totals of bytes differ by the lists' own sizes, and are left out).
fn how_it_went(out: &Output, dest: &str) -> String {
    text(&out.stdout)
        .replace(dest, "DEST")
        .lines()
        .filter(|l| {
            let item = l.len() > 11
                && l.starts_with(['<', '>', 'c', '.', 'h', '*'])
                && l[1..2].contains(['f', 'd', 'L', 'D', 'S']);
            item || l.starts_with("Literal data:") || l.starts_with("Matched data:")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A first copy and an update, once by `want` (rsync at both ends) and once by `got`
/// (prsync at one end), each into its own destination, with `choice`: the same lines,
/// counts and trees, and the update a delta of the big file.
fn both_ways(
    choice: &str,
    want: &dyn Fn(&[&str]) -> (Output, String),
    got: &dyn Fn(&[&str]) -> (Output, String),
    trees: &dyn Fn() -> (Vec<String>, Vec<String>),
    change_source: &dyn Fn(),
) {
    let cc = format!("--checksum-choice={choice}");
    let args = ["-ai", "--no-whole-file", "--stats", cc.as_str()];
    for update in [false, true] {
        if update {
            change_source();
        }
        let (w, want_lines) = want(&args);
        ok(&w);
        let (g, got_lines) = got(&args);
        ok(&g);
        assert_eq!(text(&g.stderr), "", "{choice}");
        assert_text_eq!(want_lines, got_lines);
        let (want_tree, got_tree) = trees();
        assert_eq!(got_tree, want_tree, "{choice}");
        if update {
            assert!(got_lines.contains("f.st...... etc/big.txt"), "{got_lines}");
            // Most of the 600 KB came from the old copy: the block sums matched.
            let matched = got_lines
                .lines()
                .find_map(|l| l.strip_prefix("Matched data: "))
                .map(|n| n.trim_end_matches(" bytes").replace(',', ""))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            assert!(matched > 500_000, "{choice}: {got_lines}");
        }
    }
}

#[test]
fn prsyncs_client_pushes_and_pulls_as_rsync_with_each_checksum() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    for choice in CHECKSUMS {
        // Push: prsync's client against the stock server.
        let src = tc.scratch(&format!("push-src-{choice}"));
        make_tree(&src);
        let from = format!("{}/", src.display());
        let (w_dest, g_dest) = (format!("by-rsync-{choice}"), format!("by-prsync-{choice}"));
        let want = |args: &[&str]| {
            let out = rsync(&tc, "rsync", args, &from, &format!("node1:/tmp/{w_dest}/"));
            let lines = how_it_went(&out, &w_dest);
            (out, lines)
        };
        let got = |args: &[&str]| {
            let out = prsync(&tc, "rsync", args, &from, &format!("node1:/tmp/{g_dest}/"));
            let lines = how_it_went(&out, &g_dest);
            (out, lines)
        };
        let trees = || (describe(&node.join(&w_dest)), describe(&node.join(&g_dest)));
        both_ways(choice, &want, &got, &trees, &|| change(&src));
        assert_eq!(describe(&node.join(&g_dest)), describe(&src));

        // Pull: prsync's client from the stock sender.
        let there = node.join(format!("pull-src-{choice}"));
        make_tree(&there);
        let from = format!("node1:/tmp/pull-src-{choice}/");
        let scratch = tc.scratch(&format!("pull-{choice}"));
        let (w_dest, g_dest) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
        let want = |args: &[&str]| {
            let out = rsync(&tc, "rsync", args, &from, w_dest.to_str().unwrap());
            let lines = how_it_went(&out, w_dest.to_str().unwrap());
            (out, lines)
        };
        let got = |args: &[&str]| {
            let out = prsync(&tc, "rsync", args, &from, g_dest.to_str().unwrap());
            let lines = how_it_went(&out, g_dest.to_str().unwrap());
            (out, lines)
        };
        let trees = || (describe(&w_dest), describe(&g_dest));
        both_ways(choice, &want, &got, &trees, &|| change(&there));
        assert_eq!(describe(&g_dest), describe(&there));
    }
}

#[test]
fn the_stock_client_pushes_to_and_pulls_from_prsync_server_with_each_checksum() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    let prsync_path = prsync_there(&tc);
    for choice in CHECKSUMS {
        let src = tc.scratch(&format!("push-src-{choice}"));
        make_tree(&src);
        let from = format!("{}/", src.display());
        let (w_dest, g_dest) = (format!("by-rsync-{choice}"), format!("by-prsync-{choice}"));
        let want = |args: &[&str]| {
            let out = rsync(&tc, "rsync", args, &from, &format!("node1:/tmp/{w_dest}/"));
            let lines = how_it_went(&out, &w_dest);
            (out, lines)
        };
        let got = |args: &[&str]| {
            let to = format!("node1:/tmp/{g_dest}/");
            let out = rsync(&tc, &prsync_path, args, &from, &to);
            let lines = how_it_went(&out, &g_dest);
            (out, lines)
        };
        let trees = || (describe(&node.join(&w_dest)), describe(&node.join(&g_dest)));
        both_ways(choice, &want, &got, &trees, &|| change(&src));

        let there = node.join(format!("pull-src-{choice}"));
        make_tree(&there);
        let from = format!("node1:/tmp/pull-src-{choice}/");
        let scratch = tc.scratch(&format!("pull-{choice}"));
        let (w_dest, g_dest) = (scratch.join("by-rsync"), scratch.join("by-prsync"));
        let want = |args: &[&str]| {
            let out = rsync(&tc, "rsync", args, &from, w_dest.to_str().unwrap());
            let lines = how_it_went(&out, w_dest.to_str().unwrap());
            (out, lines)
        };
        let got = |args: &[&str]| {
            let out = rsync(&tc, &prsync_path, args, &from, g_dest.to_str().unwrap());
            let lines = how_it_went(&out, g_dest.to_str().unwrap());
            (out, lines)
        };
        let trees = || (describe(&w_dest), describe(&g_dest));
        both_ways(choice, &want, &got, &trees, &|| change(&there));
        assert_eq!(describe(&g_dest), describe(&there));
    }
}

/// The lines `--debug=NSTR` makes on the named side (`Client` or `Server`).
fn negotiated(out: &[u8]) -> Vec<String> {
    text(out)
        .lines()
        .filter(|l| l.contains(" checksum: ") || l.contains(" compress: "))
        .map(String::from)
        .collect()
}

#[test]
fn xxh128_and_zlibx_are_what_is_negotiated_with_no_choice() {
    let tc = TestCluster::start(1);
    let src = tc.scratch("src");
    make_tree(&src);
    let from = format!("{}/", src.display());
    let prsync_path = prsync_there(&tc);

    // The stock client says what it settled with prsync --server, as with rsync there.
    for z in [false, true] {
        let mut args = vec!["-ai", "--debug=NSTR"];
        if z {
            args.push("-z");
        }
        let want = rsync(&tc, "rsync", &args, &from, "node1:/tmp/nstr-rsync/");
        ok(&want);
        let got = rsync(&tc, &prsync_path, &args, &from, "node1:/tmp/nstr-prsync/");
        ok(&got);
        let checksum = "Client negotiated checksum: xxh128".to_string();
        assert_eq!(negotiated(&want.stdout)[0], checksum);
        let mut lines = vec![checksum];
        if z {
            // Two stock rsyncs take zstd; prsync --server lists zlibx first.
            lines.push("Client negotiated compress: zlibx (level 6)".into());
        }
        assert_eq!(negotiated(&got.stdout), lines);
        assert_eq!(
            describe(&tc.cluster.node_tmp(1).join("nstr-prsync")),
            describe(&src)
        );
    }

    // prsync's client says the same as rsync's would.
    let out = prsync(
        &tc,
        "rsync",
        &["-a", "-z", "--debug=NSTR"],
        &from,
        "node1:/tmp/nstr-own/",
    );
    ok(&out);
    assert_eq!(
        negotiated(&out.stdout),
        [
            "Client negotiated checksum: xxh128",
            "Client negotiated compress: zlibx (level 6)"
        ]
    );
    let out = prsync(
        &tc,
        "rsync",
        &["-a", "--cc=md5", "--debug=NSTR"],
        &from,
        "node1:/tmp/nstr-own/",
    );
    ok(&out);
    assert_eq!(negotiated(&out.stdout), ["Client checksum: md5"]);

    // The stock server says what it settled with prsync's client (its lines at
    // NSTR3 go to the remote shell's stderr, which prsync passes on).
    for z in [false, true] {
        let dest = format!("node1:/tmp/nstr-client-{z}/");
        let mut args = vec!["-a"];
        if z {
            args.push("-z");
        }
        let out = prsync(&tc, "rsync --debug=NSTR3", &args, &from, &dest);
        ok(&out);
        let said = negotiated(&out.stderr);
        assert!(
            said.contains(&"Server negotiated checksum: xxh128".to_string()),
            "{said:?}"
        );
        assert_eq!(
            said.contains(&"Server negotiated compress: zlibx (level 6)".to_string()),
            z,
            "{said:?}"
        );
        assert_eq!(
            describe(&tc.cluster.node_tmp(1).join(format!("nstr-client-{z}"))),
            describe(&src)
        );
    }
}

#[test]
fn a_checksum_name_prsync_does_not_have_is_refused_in_one_line() {
    let tc = TestCluster::start(1);
    let src = tc.scratch("src");
    make_tree(&src);
    let from = format!("{}/", src.display());
    let out = rsync(
        &tc,
        &prsync_there(&tc),
        &["-a", "--checksum-choice=sha1"],
        &from,
        "node1:/tmp/refused/",
    );
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("prsync: --server: checksum sha1 is not spoken here"),
        "{err}"
    );
    assert!(!tc.cluster.node_tmp(1).join("refused").exists());
    let out = prsync(
        &tc,
        "rsync",
        &["-a", "--checksum-choice=sha1"],
        &from,
        "node1:/tmp/r/",
    );
    assert_eq!(out.status.code(), Some(1));
    prtools_tests::assert_one_line_error("prsync", &text(&out.stderr), "--checksum-choice=sha1");
}

/// A push to many hosts encodes the list once for each form it goes in: a host whose
/// rsync is not asked for varint flags (here node2's, its capability `v` taken off the
/// arguments on the way, as an rsync before 3.2 would not know it) gets byte flags and
/// MD5, node1 varint flags and xxh128, and both end with the tree.
#[test]
fn a_push_to_hosts_with_and_without_varint_flags_gives_each_its_own_list() {
    let tc = TestCluster::start(2);
    let src = tc.scratch("src");
    make_tree(&src);
    let no_v = "if [ \"$(hostname)\" = node2 ]; then for a; do shift; \
                case $a in -*e.*v) a=${a%v};; esac; set -- \"$@\" \"$a\"; done; fi; \
                exec rsync \"$@\"";
    let push = || {
        run(tc
            .prsync()
            .args(["--wire=rsync", "-ai", "--debug=NSTR"])
            .arg(format!("--rsync-path=sh -c '{no_v}' sh"))
            .args(["-w", "node[1-2]"])
            .arg(format!("{}/", src.display()))
            .arg(":/tmp/mixed/"))
    };
    let out = push();
    ok(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("node1: Client negotiated checksum: xxh128\n"),
        "{stdout}"
    );
    assert!(stdout.contains("node2: Client checksum: md5\n"), "{stdout}");
    for node in 1..=2 {
        let tree = tc.cluster.node_tmp(node).join("mixed");
        assert_eq!(describe(&tree), describe(&src), "node{node}");
    }
    change(&src);
    let out = push();
    ok(&out);
    assert!(
        text(&out.stdout).contains("node2: <f.st...... etc/big.txt"),
        "{}",
        text(&out.stdout)
    );
    for node in 1..=2 {
        let tree = tc.cluster.node_tmp(node).join("mixed");
        assert_eq!(describe(&tree), describe(&src), "node{node}");
    }
}

/// `-c` against `prsync --server`: the list carries each file's checksum, as long as the
/// session's checksum is (8 bytes for xxh3 and xxh64), and a file of the same size and
/// time but other bytes is found by it alone, both ways, as with rsync there.
#[test]
fn dash_c_finds_a_same_size_same_time_change_with_each_checksum() {
    let tc = TestCluster::start(1);
    let node = tc.cluster.node_tmp(1);
    let prsync_path = prsync_there(&tc);
    let src = tc.scratch("src");
    make_tree(&src);
    let from = format!("{}/", src.display());
    let there = node.join("src");
    make_tree(&there);
    // The same size and mtime as the source's, other bytes.
    let spoil = |dir: &Path| {
        std::fs::write(dir.join("hosts"), "127.0.0.1 localhosT\n").unwrap();
        age(dir, "2024-01-02 03:04:05");
    };
    for choice in ["auto", "xxh128", "xxh3", "xxh64", "md5"] {
        let cc = format!("--checksum-choice={choice}");
        let args = ["-ai", "-c", cc.as_str()];
        // Push.
        let dests = [format!("c-rsync-{choice}"), format!("c-prsync-{choice}")];
        let mut lines = Vec::new();
        for (dest, remote) in dests.iter().zip(["rsync", prsync_path.as_str()]) {
            let out = rsync(&tc, remote, &args, &from, &format!("node1:/tmp/{dest}/"));
            ok(&out);
            spoil(&node.join(dest));
            let out = rsync(&tc, remote, &args, &from, &format!("node1:/tmp/{dest}/"));
            ok(&out);
            lines.push(text(&out.stdout));
            assert_eq!(describe(&node.join(dest)), describe(&src), "{choice}");
        }
        assert_eq!(lines[0], "<fc........ hosts\n", "{choice}");
        assert_text_eq!(lines[0], lines[1]);
        // Pull.
        let mut lines = Vec::new();
        for (i, remote) in ["rsync", prsync_path.as_str()].into_iter().enumerate() {
            let dest = tc.scratch(&format!("c-pull-{choice}-{i}"));
            let to = dest.to_str().unwrap();
            ok(&rsync(&tc, remote, &args, "node1:/tmp/src/", to));
            spoil(&dest);
            let out = rsync(&tc, remote, &args, "node1:/tmp/src/", to);
            ok(&out);
            lines.push(text(&out.stdout));
            assert_eq!(describe(&dest), describe(&there), "{choice}");
        }
        assert_eq!(lines[0], ">fc........ hosts\n", "{choice}");
        assert_text_eq!(lines[0], lines[1]);
    }
}
