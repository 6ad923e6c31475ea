//! prdist end to end: the real binary, its agent and real Distfiles against a test cluster
//! of 8 hosts, and bad Distfiles that must fail with `FILE:LINE:COL` and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use prtools_tests::{run, text, TestCluster};

/// The built prdist; the harness builds the other tools, this file builds prdist too.
fn prdist_bin() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let exe = std::env::current_exe().unwrap();
        let release = exe
            .parent()
            .and_then(Path::parent)
            .is_some_and(|d| d.ends_with("release"));
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--bins", "-p", "prdist"]);
        if release {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "building prdist failed");
    });
    prtools_tests::bin("prdist")
}

/// prdist reaching the cluster through `-P 'ssh -F CONFIG'`.
fn prdist(tc: &TestCluster) -> Command {
    let mut cmd = Command::new(prdist_bin());
    cmd.arg("-P")
        .arg(format!("ssh -F {}", tc.cluster.ssh_config().display()));
    tc.isolate(&mut cmd);
    cmd
}

fn hosts(n: usize) -> String {
    (1..=n)
        .map(|i| format!("node{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A source tree: etc/{hosts,motd,secret,old.bak,sub/app.conf}.
fn make_src(root: &Path) -> PathBuf {
    let etc = root.join("etc");
    std::fs::create_dir_all(etc.join("sub")).unwrap();
    std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(etc.join("motd"), "welcome\n").unwrap();
    std::fs::write(etc.join("secret"), "do not copy\n").unwrap();
    std::fs::write(etc.join("old.bak"), "backup\n").unwrap();
    std::fs::write(etc.join("sub/app.conf"), "x = 1\n").unwrap();
    etc
}

fn write_distfile(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("Distfile");
    std::fs::write(&path, text).unwrap();
    path
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "prdist failed:\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn install_remove_except_specials_and_dry_run_on_8_hosts() {
    let tc = TestCluster::start(8);
    let work = tc.scratch("dist");
    let etc = make_src(&work);
    let e = etc.display();
    let distfile = write_distfile(
        &work,
        &format!(
            r#"HOSTS = ( {hosts} )
etc: {e} -> ${{HOSTS}}
	install -oremove /tmp/etc ;
	except {e}/secret ;
	except_pat ( \\.bak\$ ) ;
	special {e}/hosts "echo $FILE $REMFILE $BASEFILE >> /tmp/special.log" ;
	cmdspecial "echo files=$FILES >> /tmp/cmdspecial.log" ;
other: {e}/motd -> node1
	install /tmp/motd.copy ;
"#,
            hosts = hosts(8)
        ),
    );
    let out = ok(&run(prdist(&tc).arg("-f").arg(&distfile).arg("etc")));
    // rdist's lines only: prsync's itemized ones (a folder's new time) are not passed on.
    assert!(!out.contains("......"), "{out}");
    for n in 1..=8 {
        let node = tc.cluster.node_tmp(n);
        assert_eq!(read(node.join("etc/hosts")), "127.0.0.1 localhost\n");
        assert_eq!(read(node.join("etc/sub/app.conf")), "x = 1\n");
        assert!(!node.join("etc/secret").exists(), "except skips the file");
        assert!(
            !node.join("etc/old.bak").exists(),
            "except_pat skips the file"
        );
        assert_eq!(
            read(node.join("special.log")),
            format!("{e}/hosts /tmp/etc/hosts hosts\n"),
            "special runs with FILE, REMFILE and BASEFILE"
        );
        assert_eq!(read(node.join("cmdspecial.log")).lines().count(), 1);
        assert!(read(node.join("cmdspecial.log")).contains("/tmp/etc/hosts"));
        // The label chose only the first entry.
        assert!(!node.join("motd.copy").exists());
        assert!(
            out.contains(&format!("node{n}: updating host node{n}\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("node{n}: {e}/hosts: installing\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("node{n}: special \"echo $FILE")),
            "{out}"
        );
    }

    // Files gone from the source are removed; special runs only where the file changed.
    for n in 1..=8 {
        std::fs::write(tc.cluster.node_tmp(n).join("etc/stale"), "old\n").unwrap();
    }
    std::fs::write(
        tc.cluster.node_tmp(2).join("etc/hosts"),
        "changed on node2\n",
    )
    .unwrap();
    let out = ok(&run(prdist(&tc).arg("-f").arg(&distfile).arg("etc")));
    // rdist's lines only: prsync's itemized ones (a folder's new time) are not passed on.
    assert!(!out.contains("......"), "{out}");
    for n in 1..=8 {
        let node = tc.cluster.node_tmp(n);
        assert!(
            !node.join("etc/stale").exists(),
            "remove deletes it on node{n}"
        );
        assert!(
            out.contains(&format!("node{n}: /tmp/etc/stale: removed\n")),
            "{out}"
        );
        assert_eq!(read(node.join("etc/hosts")), "127.0.0.1 localhost\n");
        let specials = read(node.join("special.log")).lines().count();
        assert_eq!(specials, if n == 2 { 2 } else { 1 }, "node{n}");
        assert_eq!(
            read(node.join("cmdspecial.log")).lines().count(),
            2,
            "once a run"
        );
    }
    assert!(
        out.contains(&format!("node2: {e}/hosts: updating\n")),
        "{out}"
    );
    assert!(
        !out.contains(&format!("node1: {e}/hosts: updating")),
        "{out}"
    );

    // -n prints what would be done and changes nothing.
    std::fs::write(etc.join("motd"), "new motd\n").unwrap();
    let out = ok(&run(prdist(&tc).arg("-n").arg("-f").arg(&distfile)));
    assert!(out.starts_with(&format!(
        "updating host node1\ninstall -oremove {e} /tmp/etc\nupdating host node1\ninstall -o {e}/motd /tmp/motd.copy\nupdating host node2\n"
    )), "{out}");
    for n in 1..=8 {
        assert_eq!(read(tc.cluster.node_tmp(n).join("etc/motd")), "welcome\n");
    }
    assert!(!tc.cluster.node_tmp(1).join("motd.copy").exists());

    // A label picks its entry; a file renamed by install.
    let out = ok(&run(prdist(&tc).arg("-f").arg(&distfile).arg("other")));
    assert_eq!(read(tc.cluster.node_tmp(1).join("motd.copy")), "new motd\n");
    assert_eq!(read(tc.cluster.node_tmp(1).join("etc/motd")), "welcome\n");
    assert!(
        out.contains(&format!("node1: {e}/motd: installing\n")),
        "{out}"
    );
    assert!(!out.contains("node2"), "{out}");
}

#[test]
fn a_host_that_is_down_is_named_while_the_others_update() {
    let tc = TestCluster::start(8);
    let work = tc.scratch("dist");
    let etc = make_src(&work);
    tc.cluster.stop_node(3).unwrap();
    tc.cluster.stop_node(6).unwrap();
    let distfile = write_distfile(
        &work,
        &format!(
            "{} -> ( {} )\n\tinstall /tmp/etc ;\n",
            etc.display(),
            hosts(8)
        ),
    );
    let out = run(prdist(&tc).arg("-M").arg("8").arg("-f").arg(&distfile));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "prdist: node[3,6]: connection refused\n");
    for n in [1, 2, 4, 5, 7, 8] {
        assert_eq!(
            read(tc.cluster.node_tmp(n).join("etc/motd")),
            "welcome\n",
            "node{n}"
        );
    }
    assert!(!text(&out.stdout).contains("node3"));
}

#[test]
fn stamp_entries_list_only_newer_files() {
    let dir = std::env::temp_dir().join(format!("prdist-stamp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let etc = make_src(&dir);
    let stamp = dir.join("stamp");
    std::fs::write(&stamp, "").unwrap();
    let old = "2020-01-01 00:00:00";
    let touch = |p: &Path, when: &str| {
        assert!(Command::new("touch")
            .arg("-d")
            .arg(when)
            .arg(p)
            .status()
            .unwrap()
            .success());
    };
    for f in ["hosts", "motd", "secret", "old.bak", "sub/app.conf", "sub"] {
        touch(&etc.join(f), old);
    }
    touch(&stamp, "2021-01-01 00:00:00");
    touch(&etc.join("motd"), "2022-01-01 00:00:00");
    let distfile = write_distfile(
        &dir,
        &format!(
            "{} :: {}\n\tspecial \"echo ran $FILE\" ;\n\tcmdspecial \"echo all $FILES\" ;\n",
            etc.display(),
            stamp.display()
        ),
    );
    // -n lists and touches nothing.
    let out = ok(&run(Command::new(prdist_bin())
        .arg("-n")
        .arg("-f")
        .arg(&distfile)));
    assert_eq!(out, format!("comparing dates: {}\n", etc.display()));
    let before = std::fs::metadata(&stamp).unwrap().modified().unwrap();
    let out = ok(&run(Command::new(prdist_bin()).arg("-f").arg(&distfile)));
    let s = stamp.display();
    let m = etc.join("motd");
    let m = m.display();
    assert_eq!(
        out,
        format!(
            "{s}: {m}: file is newer\n{s}: special \"FILE={m};echo ran $FILE\"\n{s}: ran {m}\n\
             {s}: cmdspecial \"FILES={m};echo all $FILES\"\n{s}: all {m}\n\
             {s}: updating of {s} finished\n"
        )
    );
    assert!(
        std::fs::metadata(&stamp).unwrap().modified().unwrap() > before,
        "stamp touched"
    );
    // Now nothing is newer than the stamp: only rdist's closing line.
    let out = ok(&run(Command::new(prdist_bin()).arg("-f").arg(&distfile)));
    assert_eq!(out, format!("{s}: updating of {s} finished\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs prdist on a bad Distfile: exit 1, each line `prdist: Distfile:LINE:COL: ...`.
fn refused(text_of_distfile: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "prdist-bad-{}-{:x}",
        std::process::id(),
        text_of_distfile.len() * 31 + text_of_distfile.bytes().map(usize::from).sum::<usize>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Distfile"), text_of_distfile).unwrap();
    let out = run(Command::new(prdist_bin()).current_dir(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    for line in err.lines() {
        assert!(line.starts_with("prdist: Distfile:"), "{err}");
    }
    err
}

#[test]
fn bad_distfiles_fail_with_their_place() {
    assert_eq!(
        refused("FILES = ( /etc/hosts\n/etc -> node1\n"),
        "prdist: Distfile:1:9: unterminated '(': missing ')' before '->'\n"
    );
    assert_eq!(
        refused("/etc -> node1\n\tinstal /tmp ;\n"),
        "prdist: Distfile:2:2: unknown command 'instal': the commands are install, notify, \
         except, except_pat, special or cmdspecial\n"
    );
    assert_eq!(
        refused("${FILES} -> node1\n"),
        "prdist: Distfile:1:1: undefined variable 'FILES': define it with `FILES = ( ... )` \
         or -d FILES=VALUE\n"
    );
    assert!(refused("/etc -> node1\n\tinstall -oremove,fast ;\n")
        .starts_with("prdist: Distfile:2:19: bad option 'fast' in '-oremove,fast'"));
    assert_eq!(
        refused("/etc -> node1\n\tspecial /etc/hosts ;\n"),
        "prdist: Distfile:2:21: special needs a shell command in double quotes, as in special \
         \"/etc/rc.d/sshd reload\" ; found ';'\n"
    );
    // Several mistakes: all of them.
    assert_eq!(
        refused("/etc -> n\n\tinstal x ;\n\tspecial ;\n")
            .lines()
            .count(),
        2
    );
}

#[test]
fn missing_distfile_and_bad_flags_are_one_line() {
    let dir = std::env::temp_dir().join(format!("prdist-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(Command::new(prdist_bin()).current_dir(&dir));
    assert_eq!(out.status.code(), Some(1));
    prtools_tests::assert_one_line_error("prdist", &text(&out.stderr), "no distfile or Distfile");
    let out = run(Command::new(prdist_bin())
        .args(["-M", "x"])
        .current_dir(&dir));
    prtools_tests::assert_one_line_error("prdist", &text(&out.stderr), "-M 8");
    // An open-file limit that fits not even one host: one line, before any host is reached.
    let mut cmd = Command::new(prdist_bin());
    prtools_tests::limit_open_files(&mut cmd, 50, Some(50));
    let out = run(cmd
        .args(["-c", "/etc/hostname", "node1:/tmp/x"])
        .current_dir(&dir));
    assert_eq!(out.status.code(), Some(1));
    prtools_tests::assert_one_line_error("prdist", &text(&out.stderr), "(-M 1 needs 74)");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// issue 17: notify as rdist has it: printed, in rdist's words, only when files changed, and
/// a mail that cannot be sent fails the run.
#[test]
fn notify_only_when_files_changed_in_rdists_words() {
    let tc = TestCluster::start(1);
    let src = make_src(&tc.scratch("notify"));
    let distfile = write_distfile(
        &tc.scratch("notify-distfile"),
        &format!(
            "{} -> ( node1 )\n\tinstall /tmp/etc ;\n\tnotify ( root ops ) ;\n",
            src.join("motd").display()
        ),
    );
    let sendmail = ["/usr/sbin/sendmail", "/usr/lib/sendmail"]
        .iter()
        .any(|p| Path::new(p).exists());
    let first = run(prdist(&tc).arg("-f").arg(&distfile));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains("node1: notify @node1 ( root ops )\n"),
        "{stdout}"
    );
    if !sendmail {
        assert_eq!(first.status.code(), Some(1), "{}", text(&first.stderr));
        assert!(text(&first.stderr).contains("no sendmail"));
    }
    let again = run(prdist(&tc).arg("-f").arg(&distfile));
    assert!(
        !text(&again.stdout).contains("notify"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
}

#[test]
fn savetargets_keeps_the_replaced_file_itself_and_remove_keeps_no_backup_of_removals() {
    use std::os::unix::fs::MetadataExt;
    let tc = TestCluster::start(1);
    let src = make_src(&tc.scratch("save"));
    let etc = tc.cluster.node_tmp(1).join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("motd"), "old motd\n").unwrap();
    std::fs::write(etc.join("extra"), "extra\n").unwrap();
    std::os::unix::fs::symlink("elsewhere", etc.join("link")).unwrap();
    std::os::unix::fs::symlink("motd", src.join("link")).unwrap();
    let old_inode = std::fs::metadata(etc.join("motd")).unwrap().ino();
    let distfile = write_distfile(
        &tc.scratch("save-distfile"),
        &format!(
            "{} -> ( node1 )\n\tinstall -osavetargets,remove /tmp/etc ;\n",
            src.display()
        ),
    );
    let stdout = ok(&run(prdist(&tc).arg("-f").arg(&distfile)));
    assert!(
        stdout.contains("node1: /tmp/etc/extra: removed\n"),
        "{stdout}"
    );
    // As rdist's rename: FILE.OLD is the replaced file itself, not a copy of it.
    let saved = std::fs::metadata(etc.join("motd.OLD")).unwrap();
    assert_eq!(saved.ino(), old_inode);
    assert_eq!(read(etc.join("motd.OLD")), "old motd\n");
    assert_eq!(read(etc.join("motd")), "welcome\n");
    // rdist keeps nothing of what it removes, nor of a symlink it replaces.
    assert!(!etc.join("extra").exists() && !etc.join("extra.OLD").exists());
    assert!(std::fs::symlink_metadata(etc.join("link.OLD")).is_err());
    assert_eq!(
        std::fs::read_link(etc.join("link")).unwrap(),
        Path::new("motd")
    );
    // A FILE.OLD the source does not have is removed on the next run, as rdist does.
    let again = ok(&run(prdist(&tc).arg("-f").arg(&distfile)));
    assert!(
        again.contains("node1: /tmp/etc/motd.OLD: removed\n"),
        "{again}"
    );
    assert!(!etc.join("motd.OLD").exists());
}

#[test]
fn d_defines_reach_the_quick_form_and_a_distfile_on_stdin() {
    let tc = TestCluster::start(2);
    let src = make_src(&tc.scratch("define"));
    let quick = ok(&run(prdist(&tc)
        .arg("-d")
        .arg(format!("F={}", src.join("motd").display()))
        .args(["-d", "H=node2", "-c", "${F}", "${H}:/tmp/q"])));
    assert!(quick.contains("node2: updating host node2\n"), "{quick}");
    assert_eq!(read(tc.cluster.node_tmp(2).join("q")), "welcome\n");
    assert!(!tc.cluster.node_tmp(1).join("q").exists());
    let mut stdin_form = prdist(&tc);
    stdin_form
        .args(["-d", "H=( node1 )", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = stdin_form.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        write!(
            input,
            "H = ( node2 )\n{} -> ${{H}}\n\tinstall /tmp/s ;\n",
            src.join("hosts").display()
        )
        .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    ok(&out);
    assert_eq!(
        read(tc.cluster.node_tmp(1).join("s")),
        "127.0.0.1 localhost\n"
    );
    assert!(!tc.cluster.node_tmp(2).join("s").exists());
}

/// Issue 18, point 4: prdist reaches hosts where its agent cannot run (a noexec home,
/// another machine) through prsync, which serves them with the host's own rsync, in the
/// same run as a host with the agent: the same files, the same rdist lines, and removals.
#[test]
fn hosts_where_the_agent_cannot_run_are_updated_through_their_rsync() {
    use prtools_testcluster::NodeKind::{NoexecHome, Normal, OtherMachine};
    let tc = TestCluster::start_with(&[Normal, NoexecHome, OtherMachine]);
    let work = tc.scratch("dist-mixed");
    let etc = make_src(&work);
    let e = etc.display();
    let distfile = write_distfile(
        &work,
        &format!(
            "etc: {e} -> ( {hosts} )\n\tinstall -oremove /tmp/etc ;\n\texcept {e}/secret ;\n",
            hosts = hosts(3)
        ),
    );
    let out = ok(&run(prdist(&tc).arg("-f").arg(&distfile)));
    for n in 1..=3 {
        let node = tc.cluster.node_tmp(n);
        assert_eq!(read(node.join("etc/hosts")), "127.0.0.1 localhost\n");
        assert_eq!(read(node.join("etc/sub/app.conf")), "x = 1\n");
        assert!(!node.join("etc/secret").exists(), "except skips the file");
        assert!(
            out.contains(&format!("node{n}: {e}/hosts: installing\n")),
            "{out}"
        );
    }
    for n in 1..=3 {
        std::fs::write(tc.cluster.node_tmp(n).join("etc/stale"), "old\n").unwrap();
    }
    let out = ok(&run(prdist(&tc).arg("-f").arg(&distfile)));
    for n in 1..=3 {
        assert!(
            !tc.cluster.node_tmp(n).join("etc/stale").exists(),
            "node{n}"
        );
        assert!(
            out.contains(&format!("node{n}: /tmp/etc/stale: removed\n")),
            "{out}"
        );
    }
}
