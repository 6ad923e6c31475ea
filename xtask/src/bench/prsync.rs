//! prsync against rsync and parallel-rsync, the four cases of issue 15, each tool timed in
//! the same run, rounds alternating the tools, medians:
//!
//! - (a) a 1 GiB file with 262 random 4 KiB edits, to one host, `--no-whole-file` both;
//! - (b) nothing changed in a tree of 50,000 files (100 MB), to one host;
//! - (c) that tree to 16 hosts, first copy and nothing changed, against `parallel-rsync -p 16`;
//! - (d) a big file (8 GiB unless `--big-gib N`) with 0.1% of it changed, to one host, with
//!   the peak anonymous memory of the receiving side on the host;
//! - (e) issue 18: case (c)'s tree to 16 hosts that have only rsync, no agent: prsync speaks
//!   rsync's protocol to each host's `rsync --server` (`--wire=rsync`), first copy and
//!   nothing changed, against `parallel-rsync -p 16`;
//! - (f) issue 18: case (a) to a host that has only rsync, over rsync's protocol
//!   (`--wire=rsync`), against rsync.
//!
//! **Cold and warm.** The "cold" rows open a new ssh connection every run, for both tools
//! (rsync's `-e ssh`, prsync without `--persist`). The "warm" rows keep one master
//! connection between runs, for both tools (`PRTOOLS_PERSIST`, and ssh's ControlPersist for
//! rsync), so that they time the transfer, not the handshake.
//!
//! **The big files.** Each case keeps one source (the new version) and one destination per
//! host, shared by the tools: after each run the destination is put back to the old version
//! by writing the old bytes over the edited stretches and its old mtime, which costs a few
//! MB of writes instead of a copy of the file. Peak disk use is about three times the file
//! (source, destination, the receiver's temp file). Everything lives under
//! `/var/tmp/prtools-bench-prsync` and is removed at the end.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use prtools_testcluster::Cluster;

use super::median;

const ROOT: &str = "/var/tmp/prtools-bench-prsync";
const HOSTS: usize = 16;
const EDIT: usize = 4096;
const TREE_FILES: usize = 50_000;
const TREE_DIRS: usize = 500;
const TREE_FILE_BYTES: usize = 2000;
/// The rows of the one-host cases: each prsync row is followed by its peer of the same kind.
/// `--against PATH` adds [`AGAINST`] after them.
const ONE_HOST: [&str; 4] = ["prsync", "rsync", "prsync warm", "rsync warm"];
/// The rows of `--against PATH`'s build, each compared with the rsync row of its kind.
const AGAINST: [&str; 2] = ["B prsync", "B prsync warm"];
/// The mtime of every old version: 2024-01-02, well before any run.
const OLD_MTIME: i64 = 1_704_164_645;

/// What `cargo xtask bench prsync [a] [b] [c] [d] [e] [--big-gib N] [--rounds N] [--against PATH]`
/// asked for.
struct Args {
    /// The cases named; none names all.
    only: Vec<String>,
    big_gib: u64,
    /// Another prsync binary timed in the same rounds (an A/B of two builds under the same
    /// load): its rows follow the others in the one-host cases.
    against: Option<PathBuf>,
    /// Rounds of the big-file cases and of (c) (3 unless `--rounds N`).
    rounds: usize,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut parsed = Args {
        only: Vec::new(),
        big_gib: 8,
        against: None,
        rounds: 3,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--big-gib" => {
                let n = rest.next().context("--big-gib needs a number of GiB")?;
                parsed.big_gib = n
                    .parse()
                    .with_context(|| format!("--big-gib '{n}': not a number"))?;
            }
            "--rounds" => {
                let n = rest.next().context("--rounds needs a number")?;
                parsed.rounds = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .with_context(|| format!("--rounds '{n}': not a number of rounds"))?;
            }
            "--against" => {
                let path = rest.next().context("--against needs a prsync binary")?;
                let path = std::fs::canonicalize(path)
                    .with_context(|| format!("--against '{path}': no such binary"))?;
                parsed.against = Some(path);
            }
            "a" | "b" | "c" | "d" | "e" | "f" => parsed.only.push(arg.clone()),
            other => bail!(
                "bench prsync: unknown argument '{other}': give a case (a, b, c, d, e, f), --big-gib N, --rounds N or --against PATH"
            ),
        }
    }
    Ok(parsed)
}

/// Runs the cases asked for.
pub fn run(args: &[String]) -> Result<()> {
    let args = parse(args)?;
    crate::cargo(&["build", "--release", "--bins", "-p", "prsync"])?;
    let prsync = crate::target_dir().join("release/prsync");
    let root = PathBuf::from(ROOT);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let want = |case: &str| args.only.is_empty() || args.only.iter().any(|o| o == case);
    let hosts = if want("c") || want("e") { HOSTS } else { 1 };
    println!("starting a {hosts}-host test cluster under {ROOT}");
    let cluster = Cluster::start_temp_in(&root, hosts).context("starting the test cluster")?;
    let bench = Bench {
        prsync,
        against: args.against.clone(),
        client: root.join("client"),
        config: cluster.ssh_config().to_path_buf(),
        cluster: &cluster,
        hosts,
    };
    std::fs::create_dir_all(&bench.client)?;
    let result = (|| -> Result<()> {
        bench.warm_up(want("c"))?;
        if want("a") {
            bench.big_file("(a) 1 GiB, 262 edits", 1 << 30, 262, args.rounds, false)?;
        }
        if want("b") {
            bench.tree_noop()?;
        }
        if want("c") {
            bench.tree_many(args.rounds, Many::Agent)?;
        }
        if want("d") {
            let len = args.big_gib << 30;
            let edits = (len / 1000 / EDIT as u64) as usize;
            let label = format!("(d) {} GiB, 0.1%", args.big_gib);
            bench.big_file(&label, len, edits, args.rounds, false)?;
        }
        if want("e") {
            bench.tree_many(args.rounds, Many::RsyncOnly)?;
        }
        if want("f") {
            let label = "(f) 1 GiB, rsync wire";
            bench.big_file(label, 1 << 30, 262, args.rounds, true)?;
        }
        Ok(())
    })();
    let down = cluster.down().context("stopping the test cluster");
    let _ = std::fs::remove_dir_all(&root);
    result.and(down)
}

struct Bench<'c> {
    prsync: PathBuf,
    against: Option<PathBuf>,
    client: PathBuf,
    config: PathBuf,
    cluster: &'c Cluster,
    hosts: usize,
}

/// One run's figures.
#[derive(Clone, Copy, Default)]
struct Figures {
    wall: Duration,
    /// Total bytes sent + received, from `--stats`.
    bytes: u64,
    /// Peak anonymous memory of the receiving processes on node1, KiB.
    anon_kib: u64,
}

impl Bench<'_> {
    /// The tool commands: `warm` keeps one ssh master between runs, for both tools.
    fn prsync(&self, warm: bool) -> Command {
        self.prsync_of(&self.prsync, warm)
    }

    fn prsync_of(&self, binary: &Path, warm: bool) -> Command {
        let mut cmd = Command::new(binary);
        let dir = self.client.join(if warm { "warm" } else { "cold" });
        let _ = std::fs::create_dir_all(&dir);
        cmd.env("XDG_RUNTIME_DIR", &dir)
            .env_remove("PRTOOLS_PERSIST")
            .arg("-e")
            .arg(format!("ssh -F {}", self.config.display()));
        if warm {
            cmd.env("PRTOOLS_PERSIST", "10m");
        }
        cmd
    }

    /// The names of the one-host rows: [`ONE_HOST`], then [`AGAINST`] with `--against`.
    fn one_host_rows(&self) -> Vec<&'static str> {
        let mut rows = ONE_HOST.to_vec();
        if self.against.is_some() {
            rows.extend(AGAINST);
        }
        rows
    }

    /// The command of row `i` of [`Self::one_host_rows`].
    fn one_host(&self, i: usize) -> Command {
        match (i, &self.against) {
            (0, _) => self.prsync(false),
            (1, _) => self.rsync(false),
            (2, _) => self.prsync(true),
            (4, Some(b)) => self.prsync_of(b, false),
            (5, Some(b)) => self.prsync_of(b, true),
            _ => self.rsync(true),
        }
    }

    fn rsync(&self, warm: bool) -> Command {
        let mut cmd = Command::new("rsync");
        let mut ssh = format!("ssh -F {}", self.config.display());
        if warm {
            ssh += &format!(
                " -o ControlMaster=auto -o ControlPersist=10m -o ControlPath={}/rs-%C",
                self.client.display()
            );
        }
        cmd.arg("-e").arg(ssh);
        cmd
    }

    /// Uploads prsync's agent once, untimed: later runs find it cached, as on a cluster.
    /// Starts the warm rows' masters on node1, so that no timed warm run opens one.
    /// `many`: case (c) will run, and `--against`'s agent goes to every host as well.
    fn warm_up(&self, many: bool) -> Result<()> {
        let src = self.client.join("warm-up");
        std::fs::create_dir_all(&src)?;
        std::fs::write(src.join("x"), "x")?;
        let mut binaries = vec![self.prsync.as_path()];
        if let Some(b) = self.against.as_deref().filter(|_| many) {
            binaries.push(b);
        }
        for binary in binaries {
            for n in 1..=self.hosts {
                let mut cmd = self.prsync_of(binary, false);
                cmd.arg("-a")
                    .arg(format!("{}/", src.display()))
                    .arg(format!("node{n}:/tmp/warm-up/"));
                measure(&mut cmd, None)?;
            }
        }
        let mut cmds = vec![self.prsync(true), self.rsync(true)];
        if let Some(b) = &self.against {
            cmds.extend([self.prsync_of(b, false), self.prsync_of(b, true)]);
        }
        for mut cmd in cmds {
            cmd.arg("-a")
                .arg(format!("{}/", src.display()))
                .arg("node1:/tmp/warm-up/");
            measure(&mut cmd, None)?;
        }
        Ok(())
    }

    /// Cases (a), (d) and (f): a file of `len` bytes with `edits` 4 KiB stretches changed;
    /// `wire`: prsync speaks rsync's protocol to the host's rsync (`--wire=rsync`).
    fn big_file(
        &self,
        label: &str,
        len: u64,
        edits: usize,
        rounds: usize,
        wire: bool,
    ) -> Result<()> {
        println!("writing {label}: {len} bytes, {edits} edits");
        let src_dir = self.client.join("big-src");
        std::fs::create_dir_all(&src_dir)?;
        let src = src_dir.join("big.bin");
        let dest_dir = self.cluster.node_tmp(1).join("big");
        std::fs::create_dir_all(&dest_dir)?;
        let dest = dest_dir.join("big.bin");
        write_noise(&dest, len, 0x9e37_79b9_7f4a_7c15)?;
        let spots = edit_spots(len, edits);
        let old: Vec<Vec<u8>> = read_spots(&dest, &spots)?;
        std::fs::copy(&dest, &src)?;
        {
            let f = File::options().write(true).open(&src)?;
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            let mut edit = vec![0u8; EDIT];
            for &at in &spots {
                fill(&mut edit, &mut state);
                f.write_all_at(&edit, at)?;
            }
        }
        set_mtime(&dest, OLD_MTIME)?;
        let revert = || -> Result<()> {
            let f = File::options().write(true).open(&dest)?;
            for (&at, bytes) in spots.iter().zip(&old) {
                f.write_all_at(bytes, at)?;
            }
            drop(f);
            set_mtime(&dest, OLD_MTIME)
        };
        let rows = self.one_host_rows();
        let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); rows.len()];
        for _ in 0..rounds {
            for (i, name) in rows.iter().enumerate() {
                let mut cmd = self.one_host(i);
                if wire && !name.starts_with("rsync") {
                    cmd.arg("--wire=rsync");
                }
                cmd.args(["-a", "--no-whole-file", "--stats"])
                    .arg(format!("{}/", src_dir.display()))
                    .arg("node1:/tmp/big/");
                runs[i].push(measure(&mut cmd, Some(self.cluster))?);
                anyhow::ensure!(same_file(&src, &dest)?, "{name}: the host's copy differs");
                revert()?;
            }
        }
        report(label, &rows, &runs, true, &one_host_peer);
        std::fs::remove_dir_all(&src_dir)?;
        std::fs::remove_dir_all(&dest_dir)?;
        Ok(())
    }

    fn tree(&self) -> Result<PathBuf> {
        let tree = self.client.join("tree");
        if tree.exists() {
            return Ok(tree);
        }
        println!("writing a tree of {TREE_FILES} files");
        let mut state = 0x1234_5678_9abc_def1_u64;
        let mut body = vec![0u8; TREE_FILE_BYTES];
        for i in 0..TREE_FILES {
            let dir = tree.join(format!("d{:03}", i % TREE_DIRS));
            if i < TREE_DIRS {
                std::fs::create_dir_all(&dir)?;
            }
            fill(&mut body, &mut state);
            std::fs::write(dir.join(format!("f{i:05}")), &body)?;
        }
        Ok(tree)
    }

    /// Case (b): nothing changed, one host.
    fn tree_noop(&self) -> Result<()> {
        let tree = self.tree()?;
        let dest = |i: usize| format!("node1:/tmp/noop{i}/");
        let rows = self.one_host_rows();
        for i in 0..rows.len() {
            let mut cmd = self.one_host(i);
            cmd.arg("-a")
                .arg(format!("{}/", tree.display()))
                .arg(dest(i));
            measure(&mut cmd, None)?;
        }
        let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); rows.len()];
        for _ in 0..5 {
            for (i, run) in runs.iter_mut().enumerate() {
                let mut cmd = self.one_host(i);
                cmd.args(["-a", "--stats"])
                    .arg(format!("{}/", tree.display()))
                    .arg(dest(i));
                run.push(measure(&mut cmd, None)?);
            }
        }
        report("(b) 50k files, no-op", &rows, &runs, false, &one_host_peer);
        for i in 0..rows.len() {
            bury(&self.cluster.node_tmp(1).join(format!("noop{i}")))?;
        }
        Ok(())
    }

    /// Cases (c) and (e): the tree to 16 hosts, first copy then nothing changed; with
    /// `--against`, that build's row follows, also against parallel-rsync.
    fn tree_many(&self, rounds: usize, many: Many) -> Result<()> {
        let tree = self.tree()?;
        let hosts_file = self.client.join("hosts");
        std::fs::write(
            &hosts_file,
            (1..=HOSTS)
                .map(|i| format!("node{i}\n"))
                .collect::<String>(),
        )?;
        let prsync = |binary: &Path, dest: &str| {
            let mut cmd = self.prsync_of(binary, false);
            if many == Many::RsyncOnly {
                cmd.arg("--wire=rsync");
            }
            cmd.args(["-a", "-q", "--hosts", &format!("node[1-{HOSTS}]")])
                .arg(format!("{}/", tree.display()))
                .arg(format!(":/tmp/{dest}/"));
            cmd
        };
        let prs = || {
            let mut cmd = Command::new("parallel-rsync");
            cmd.arg("-h")
                .arg(&hosts_file)
                .args(["-p", &HOSTS.to_string(), "-a", "-S"])
                .arg(format!("-F {}", self.config.display()))
                .arg(format!("{}/", tree.display()))
                .arg("/tmp/many-prs/");
            cmd
        };
        let row = match many {
            Many::Agent => "prsync",
            Many::RsyncOnly => "prsync --wire=rsync",
        };
        let mut names = vec![row, "parallel-rsync"];
        let mut dests = vec!["many-prsync", "many-prs"];
        let a = || prsync(&self.prsync, "many-prsync");
        let b = || prsync(self.against.as_deref().unwrap_or(&self.prsync), "many-b");
        let mut builds: Vec<&dyn Fn() -> Command> = vec![&a, &prs];
        if self.against.is_some() {
            names.push(AGAINST[0]);
            dests.push("many-b");
            builds.push(&b);
        }
        let mut first: Vec<Vec<Figures>> = vec![Vec::new(); names.len()];
        let mut noop: Vec<Vec<Figures>> = vec![Vec::new(); names.len()];
        let remove = |i: usize| -> Result<()> {
            for n in 1..=HOSTS {
                bury(&self.cluster.node_tmp(n).join(dests[i]))?;
            }
            Ok(())
        };
        for i in 0..builds.len() {
            remove(i)?;
        }
        for round in 0..rounds {
            // Each round starts with another tool, so that no tool always follows the same
            // one; each first copy starts with the disk settled (see `settle_disk`).
            for k in 0..builds.len() {
                let i = (round + k) % builds.len();
                settle_disk()?;
                first[i].push(measure(&mut builds[i](), None)?);
                noop[i].push(measure(&mut builds[i](), None)?);
                remove(i)?;
            }
        }
        // Every prsync row against parallel-rsync's.
        let peer = |i: usize| (i != 1).then_some(1);
        let case = match many {
            Many::Agent => "(c) 16 hosts",
            Many::RsyncOnly => "(e) rsync-only",
        };
        report(&format!("{case}, first copy"), &names, &first, false, &peer);
        report(&format!("{case}, no-op"), &names, &noop, false, &peer);
        Ok(())
    }
}

/// What serves prsync on the 16 hosts of a tree case.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Many {
    /// Its agent: case (c).
    Agent,
    /// Only the host's rsync, spoken to over rsync's protocol: case (e), issue 18.
    RsyncOnly,
}

/// Moves a copy out of the way (into `.graveyard` beside it) instead of deleting it; the
/// whole bench folder goes at the end. ext4 without a journal (this machine's disk) passes
/// over a recently deleted inode's number when it makes a new one (`recently_deleted` in its
/// ialloc.c: 60 s once the inode table is written back, 300 s while it is dirty), and every
/// number it passes costs a buffer lookup: a first copy of case (c) made after a removal of
/// 800,000 inodes spent up to 60% of the machine's CPU in `find_inode_bit` →
/// `recently_deleted` → `find_get_block_common`, and took 32 to 118 s for the same work, so
/// the time measured the last removal, not the tool. A 61 s wait before each copy was not
/// enough. Nothing is deleted while the bench runs, so every new inode is a fresh one.
fn bury(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let graveyard = path
        .parent()
        .context("a copy has a parent")?
        .join(".graveyard");
    std::fs::create_dir_all(&graveyard)?;
    let mut n = 0;
    while graveyard.join(n.to_string()).exists() {
        n += 1;
    }
    std::fs::rename(path, graveyard.join(n.to_string()))
        .with_context(|| format!("moving {} aside", path.display()))
}

/// Settles the disk before a first copy of case (c), untimed: what earlier runs wrote is
/// written back (`sync`), so that no tool pays for the last one's writeback.
fn settle_disk() -> Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    anyhow::ensure!(status.success(), "sync failed");
    Ok(())
}

/// The row a one-host case's row `i` is compared with: each prsync row with the next row,
/// [`AGAINST`]'s rows with the rsync row of their kind.
fn one_host_peer(i: usize) -> Option<usize> {
    match i {
        0 | 2 => Some(i + 1),
        4 => Some(1),
        5 => Some(3),
        _ => None,
    }
}

/// Prints a case: each tool's medians, and each against its `peer` row, if any.
fn report(
    label: &str,
    names: &[&str],
    runs: &[Vec<Figures>],
    bytes: bool,
    peer: &dyn Fn(usize) -> Option<usize>,
) {
    println!(
        "\n{:<26} {:<16} {:>9} {:>8} {:>14} {:>8} {:>12}",
        "case", "tool", "median", "ratio", "bytes", "ratio", "peak anon"
    );
    let medians: Vec<Figures> = runs
        .iter()
        .map(|r| Figures {
            wall: median(&r.iter().map(|f| f.wall).collect::<Vec<_>>()),
            bytes: median(&r.iter().map(|f| f.bytes).collect::<Vec<_>>()),
            anon_kib: r.iter().map(|f| f.anon_kib).max().unwrap_or(0),
        })
        .collect();
    for (i, (name, m)) in names.iter().zip(&medians).enumerate() {
        let peer = peer(i).and_then(|p| medians.get(p));
        let ratio = |a: f64, b: f64| format!("{:.2}x", a / b);
        println!(
            "{:<26} {:<16} {:>8.3}s {:>8} {:>14} {:>8} {:>12}",
            label,
            name,
            m.wall.as_secs_f64(),
            peer.map_or(String::new(), |p| ratio(
                m.wall.as_secs_f64(),
                p.wall.as_secs_f64()
            )),
            if bytes {
                m.bytes.to_string()
            } else {
                String::new()
            },
            peer.filter(|_| bytes)
                .map_or(String::new(), |p| ratio(m.bytes as f64, p.bytes as f64)),
            if m.anon_kib > 0 {
                format!("{} KiB", m.anon_kib)
            } else {
                String::new()
            },
        );
    }
    // Each run, in the order run: on a loaded machine the spread says how far a median goes.
    for (name, r) in names.iter().zip(runs) {
        let each: Vec<String> = r
            .iter()
            .map(|f| format!("{:.2}", f.wall.as_secs_f64()))
            .collect();
        println!("  runs of {name}: {}s", each.join(" "));
    }
}

/// Runs `cmd` to completion: its wall time, the bytes its `--stats` counts, and (given the
/// cluster) the peak anonymous memory of the receiving processes on node1, sampled from /proc.
fn measure(cmd: &mut Command, cluster: Option<&Cluster>) -> Result<Figures> {
    let out_path = std::env::temp_dir().join(format!("prsync-bench-{}.out", std::process::id()));
    let err_path = out_path.with_extension("err");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let mut anon_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        match cluster {
            Some(cluster) => {
                let now: u64 = cluster
                    .process_table(1)
                    .iter()
                    .filter(|(_, line)| line.contains("--server"))
                    .map(|(pid, _)| rss_anon_kib(*pid))
                    .sum();
                anon_kib = anon_kib.max(now);
                std::thread::sleep(Duration::from_millis(5));
            }
            None => break child.wait()?,
        }
    };
    let wall = start.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    if !status.success() {
        bail!("{:?} failed: {}", cmd.get_program(), stderr.trim());
    }
    let stat = |name: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().replace(',', ""))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Ok(Figures {
        wall,
        bytes: stat("Total bytes sent:") + stat("Total bytes received:"),
        anon_kib,
    })
}

fn rss_anon_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// xorshift64 bytes into `buf`: data no compression or deduplication can shortcut.
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

fn write_noise(path: &Path, len: u64, seed: u64) -> Result<()> {
    let mut out = std::io::BufWriter::new(File::create(path)?);
    let mut state = seed;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        fill(&mut block[..n], &mut state);
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// `edits` offsets spread at random over `len` bytes, none overlapping, in order.
fn edit_spots(len: u64, edits: usize) -> Vec<u64> {
    let slot = len / edits as u64;
    let mut state = 0x0bad_cafe_dead_beef_u64;
    (0..edits as u64)
        .map(|k| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            k * slot + state % (slot - EDIT as u64)
        })
        .collect()
}

fn read_spots(path: &Path, spots: &[u64]) -> Result<Vec<Vec<u8>>> {
    let f = File::open(path)?;
    spots
        .iter()
        .map(|&at| {
            let mut buf = vec![0u8; EDIT];
            f.read_exact_at(&mut buf, at)?;
            Ok(buf)
        })
        .collect()
}

fn set_mtime(path: &Path, secs: i64) -> Result<()> {
    let status = Command::new("touch")
        .arg("-d")
        .arg(format!("@{secs}"))
        .arg(path)
        .status()?;
    anyhow::ensure!(status.success(), "touch {} failed", path.display());
    Ok(())
}

/// Whether two files hold the same bytes (`cmp`, which stops at the first difference).
fn same_file(a: &Path, b: &Path) -> Result<bool> {
    Ok(Command::new("cmp")
        .arg("-s")
        .arg(a)
        .arg(b)
        .status()?
        .success())
}
