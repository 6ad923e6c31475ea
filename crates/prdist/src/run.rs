//! Running the steps: each `->` entry is, per install command, a few prsync pushes that
//! reach all of its hosts at once (`-M` at a time), with rdist's messages made from the
//! `-i` lines; then `special` and `cmdspecial` on the hosts where files changed, and
//! `notify`. `::` entries run here, on this machine.
//!
//! A host that cannot be reached is named and left out of the entries after it, as rdist
//! does; the others go on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prtools_hostlist::HostSpec;
use prtools_transport::{failure_lines, Config};

use crate::cli::Args;
use crate::distfile::{Install, Special};
use crate::output::{Kind, Output};
use crate::plan::Step;
use crate::push::{local_path, parse_itemize, plan_install, Change, Layout, Push};
use crate::remote::{quote, run_on_hosts, SHARED_MASTER_LINGER};

/// One change on one host.
#[derive(Clone, Debug)]
struct Changed {
    change: Change,
    /// rsync's kind letter: `f` file, `L` symlink, `d` folder, `D`/`S` devices.
    kind: char,
    /// Compared byte for byte (`compare`): rdist says `REMOTE: updated` then.
    compared: bool,
    local: String,
    remote: String,
}

impl Changed {
    /// What `special` and `$FILES` cover: files and, as in rdist, symlinks.
    fn special_kind(&self) -> bool {
        matches!(self.kind, 'f' | 'L') && self.change != Change::Remove
    }
}

/// The name each host of a step is known by: the host alone, or all that was written
/// (`root@node2`) where two targets share a host, as the transport names them apart.
fn names(hosts: &[HostSpec]) -> Vec<(HostSpec, String)> {
    prtools_transport::Target::from_specs(hosts.to_vec())
        .into_iter()
        .zip(hosts)
        .map(|(t, h)| (h.clone(), t.name().to_string()))
        .collect()
}

/// What the run has learned about the hosts so far.
struct State {
    out: Output,
    /// Hosts that could not be reached, with why: left out from then on.
    failed: BTreeMap<String, String>,
    /// Hosts that have printed `updating host`.
    started: Vec<String>,
    /// Per host, the change messages, for notify mail.
    mail: HashMap<String, Vec<String>>,
}

/// Runs the steps and returns the exit status: 0 when everything was done, 1 otherwise.
pub fn execute(steps: &[Step], args: &Args, out: Output) -> i32 {
    let mut st = State {
        out,
        failed: BTreeMap::new(),
        started: Vec::new(),
        mail: HashMap::new(),
    };
    for step in steps {
        if step.hosts.is_empty() {
            stamp(step, args, &mut st);
        } else {
            arrow(step, args, &mut st);
        }
    }
    if !args.opts.has("quiet") {
        for host in st.started.clone() {
            if !st.failed.contains_key(&host) {
                st.out
                    .msg(Kind::Info, &format!("{host}: updating of {host} finished"));
            }
        }
    }
    let failures: Vec<(String, String)> = st.failed.clone().into_iter().collect();
    for line in failure_lines("prdist", &failures) {
        eprintln!("{line}");
    }
    if st.failed.is_empty() && st.out.errors == 0 {
        0
    } else {
        1
    }
}

/// The prsync command line of one push.
fn prsync_argv(push: &Push, install: &Install, hosts: &[HostSpec], args: &Args) -> Vec<String> {
    let o = install.opts;
    let mut argv: Vec<String> = vec!["prsync".into(), "-rlt".into(), "-i".into()];
    let mut flag = |on: bool, f: &str| {
        if on {
            argv.push(f.to_string());
        }
    };
    flag(!o.has("nochkmode"), "-p");
    flag(!o.has("nochkgroup"), "-g");
    flag(!o.has("nochkowner"), "-o");
    flag(o.has("compare"), "-c");
    flag(o.has("younger"), "-u");
    flag(o.has("follow"), "-L");
    flag(o.has("remove"), "--delete");
    // rsync's --numeric-ids covers owners and groups at once: either option asks for it.
    flag(
        o.has("numchkowner") || o.has("numchkgroup"),
        "--numeric-ids",
    );
    flag(o.has("verify") || args.dry_run, "-n");
    // rdist makes the folders above a destination; rsync only its last one.
    flag(push.parent_needed().is_some(), "--mkpath");
    argv.extend(common_flags(args));
    for h in hosts {
        argv.push("-w".into());
        argv.push(h.to_string());
    }
    for rule in &push.excludes {
        argv.push(format!("--exclude={rule}"));
    }
    argv.push("--".into());
    argv.extend(push.sources());
    argv.push(format!(":{}", push.dest()));
    argv
}

/// rdist's backup name: `savetargets` renames the file it replaces to FILE.OLD (server.c).
const SAVE_SUFFIX: &str = ".OLD";

/// The prsync command lines of one push, run in turn. `savetargets` is rsync's `--backup`
/// with rdist's suffix: the replaced file itself is kept (a hard link, then the rename), as
/// rdist's rename keeps it. rsync also keeps what `--delete` removes and protects every
/// `*.OLD` from deletion, where rdist removes both; so with `remove` the removals come first,
/// in a round that transfers nothing (`--existing --ignore-existing`), as rdist's `rmchk`
/// comes before the files of each folder.
fn transfer_rounds(
    push: &Push,
    install: &Install,
    hosts: &[HostSpec],
    args: &Args,
) -> Vec<Vec<String>> {
    let argv = prsync_argv(push, install, hosts, args);
    let o = install.opts;
    if !o.has("savetargets") || o.has("verify") {
        return vec![argv];
    }
    let backup = ["--backup".to_string(), format!("--suffix={SAVE_SUFFIX}")];
    if !o.has("remove") {
        let mut saving = argv;
        saving.splice(1..1, backup);
        return vec![saving];
    }
    let mut removing = argv.clone();
    removing.splice(1..1, ["--existing".into(), "--ignore-existing".into()]);
    let mut saving: Vec<String> = argv.into_iter().filter(|a| a != "--delete").collect();
    saving.splice(1..1, backup);
    vec![removing, saving]
}

/// The transport flags every prsync command line of the run gets.
fn common_flags(args: &Args) -> Vec<String> {
    let mut argv = Vec::new();
    if let Some(t) = &args.transport {
        argv.extend(["-e".to_string(), t.clone()]);
    }
    argv.extend(["--fanout".to_string(), args.maxproc.to_string()]);
    if let Some(t) = args.timeout {
        argv.extend(["--contimeout".to_string(), t.as_secs().max(1).to_string()]);
    }
    if let Some(p) = &args.agent_path {
        argv.extend(["--rsync-path".to_string(), p.clone()]);
    }
    argv
}

/// prsync's options for `argv`, set to share each host's ssh master across the run.
fn prsync_options(argv: &[String]) -> Result<prsync::cli::Options, String> {
    match prsync::cli::parse(argv) {
        Ok(prsync::cli::Parsed::Run(mut opts)) => {
            if opts.config.persist.is_none() {
                opts.config.persist = Some(SHARED_MASTER_LINGER);
            }
            Ok(*opts)
        }
        Ok(prsync::cli::Parsed::Exit(_)) => Err("the transfer options were not understood".into()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// How remote commands reach the hosts: the same settings as the transfers.
fn transport_config(args: &Args) -> Result<Config, String> {
    let mut argv = vec!["prsync".to_string()];
    argv.extend(common_flags(args));
    argv.extend([
        "-w".into(),
        "localhost".into(),
        "--".into(),
        ".".into(),
        ":.".into(),
    ]);
    let mut config = prsync_options(&argv)?.config;
    config.command_timeout = args.timeout;
    Ok(config)
}

fn arrow(step: &Step, args: &Args, st: &mut State) {
    let named: Vec<(HostSpec, String)> = names(&step.hosts)
        .into_iter()
        .filter(|(_, n)| !st.failed.contains_key(n))
        .collect();
    let hosts: Vec<HostSpec> = named.iter().map(|(h, _)| h.clone()).collect();
    if hosts.is_empty() {
        return;
    }
    let config = match transport_config(args) {
        Ok(c) => c,
        Err(e) => {
            st.out.error(&e);
            return;
        }
    };
    let installs = step.installs(args.opts);
    let mut pushes: Vec<(Install, Push)> = Vec::new();
    for install in &installs {
        if install.opts.has("history") {
            st.out.error(&format!(
                "line {}: the history option is not supported; savetargets keeps one FILE.OLD",
                install.pos.line
            ));
            return;
        }
        let (ps, errors) = plan_install(&step.entry, install, step.only.as_deref());
        for e in errors {
            st.out.error(&e);
        }
        pushes.extend(ps.into_iter().map(|p| (install.clone(), p)));
    }
    let verify = installs.iter().any(|i| i.opts.has("verify"));
    let quiet = installs.iter().all(|i| i.opts.has("quiet"));
    let mut alive = hosts.clone();
    let mut changes: HashMap<String, Vec<Changed>> = HashMap::new();
    // rdist's `DEST: mkdir` lines for the folders a push makes above what it itemizes.
    let made = if quiet || verify {
        HashMap::new()
    } else {
        missing_folders(&pushes, &named, &config, st)
    };
    // A host the folder check could not reach is named once, not tried again.
    alive.retain(|h| {
        named
            .iter()
            .find(|(spec, _)| spec == h)
            .is_some_and(|(_, n)| !st.failed.contains_key(n))
    });
    for (install, push) in &pushes {
        if alive.is_empty() {
            break;
        }
        let protected;
        let push = if install.opts.has("remove") && !step.entry.except_pat.is_empty() && !verify {
            protected = protect_excepted(push, install, &step.entry, &alive, args);
            &protected
        } else {
            push
        };
        let mut relinked: HashMap<String, Vec<String>> = HashMap::new();
        for argv in transfer_rounds(push, install, &alive, args) {
            if args.debug {
                eprintln!("prdist: debug: {}", argv.join(" "));
            }
            let opts = match prsync_options(&argv) {
                Ok(o) => o,
                Err(e) => {
                    st.out.error(&e);
                    continue;
                }
            };
            let lines: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
            let sink_lines = lines.clone();
            let sink: prsync::remote::client::LineSink =
                Arc::new(move |host: &str, line: &[u8]| {
                    let mut map = sink_lines.lock().unwrap_or_else(|e| e.into_inner());
                    map.entry(host.to_string())
                        .or_default()
                        .push(String::from_utf8_lossy(line).into_owned());
                });
            let results = prsync::remote::client::push_with_sink(&opts, sink);
            let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
            for (host, result) in results {
                match result {
                    Err(why) => {
                        st.failed.insert(host.clone(), why);
                    }
                    Ok(0) => {}
                    Ok(code) => st.out.error(&format!(
                        "{host}: some files were not updated (transfer status {code})"
                    )),
                }
                for line in lines.get(&host).into_iter().flatten() {
                    match parse_itemize(line) {
                        Some((Change::Quiet, ..)) => {}
                        Some((change, file, item)) => {
                            let kind = match (change, file) {
                                (_, true) => 'f',
                                (Change::Remove, false) => 'd',
                                _ => line.chars().nth(1).unwrap_or('?'),
                            };
                            if let Some((local, remote)) = push.locate(&item) {
                                if opts.backup.is_some() && kind == 'L' && change == Change::Update
                                {
                                    relinked
                                        .entry(host.clone())
                                        .or_default()
                                        .push(remote.clone());
                                }
                                changes.entry(host.clone()).or_default().push(Changed {
                                    change,
                                    kind,
                                    compared: install.opts.has("compare"),
                                    local,
                                    remote,
                                });
                            }
                        }
                        None if line.starts_with("created directory") || line.is_empty() => {}
                        None => st.out.msg(Kind::Notice, &format!("{host}: {line}")),
                    }
                }
            }
        }
        unsave_links(&relinked, &alive, &config, st);
        alive.retain(|h| {
            named
                .iter()
                .find(|(spec, _)| spec == h)
                .is_some_and(|(_, n)| !st.failed.contains_key(n))
        });
    }
    let alive: Vec<(HostSpec, String)> = named
        .into_iter()
        .filter(|(h, _)| alive.contains(h))
        .collect();
    report(step, &alive, &changes, &made, verify, quiet, &config, st);
}

/// The folders each push's destination needs that a host lacks before the run: rdist
/// prints `DEST: mkdir` for each (and `SRC: installing` where the folder is a source's).
/// One `test -e` per folder over the shared master, skipped with `quiet`.
fn missing_folders(
    pushes: &[(Install, Push)],
    named: &[(HostSpec, String)],
    config: &Config,
    st: &mut State,
) -> HashMap<String, Vec<(Option<String>, String)>> {
    let mut wanted: Vec<(Option<String>, String)> = Vec::new();
    for (_, push) in pushes {
        let (top, source) = match &push.layout {
            Layout::Into { remote_dir, .. } => (remote_dir.clone(), None),
            Layout::Contents { local, remote } => (remote.clone(), Some(local.clone())),
            Layout::Solo { remote, .. } => (parent_of(remote), None),
        };
        let mut chain = vec![(source, top.trim_end_matches('/').to_string())];
        let mut dir = parent_of(&chain[0].1);
        while !matches!(dir.as_str(), "" | "." | "/" | "~") {
            chain.push((None, dir.clone()));
            dir = parent_of(&dir);
        }
        for (src, d) in chain.into_iter().rev() {
            if d.is_empty() || d == "." {
                continue;
            }
            match wanted.iter_mut().find(|(_, w)| *w == d) {
                Some(w) if w.0.is_none() => w.0 = src,
                Some(_) => {}
                None => wanted.push((src, d)),
            }
        }
    }
    if wanted.is_empty() {
        return HashMap::new();
    }
    let script = wanted
        .iter()
        .map(|(_, d)| {
            let q = quote(d);
            format!("[ -e {q} ] || [ -L {q} ] || echo {q};")
        })
        .collect::<String>();
    let jobs: HashMap<String, Vec<String>> = named
        .iter()
        .map(|(_, n)| (n.clone(), vec![script.clone()]))
        .collect();
    let hosts: Vec<HostSpec> = named.iter().map(|(h, _)| h.clone()).collect();
    let mut out = HashMap::new();
    for (host, result) in run_on_hosts(&hosts, config, &jobs) {
        match result {
            Ok(ran) => {
                let missing: Vec<String> = ran.into_iter().flat_map(|r| r.lines).collect();
                let list = wanted
                    .iter()
                    .filter(|(_, d)| missing.iter().any(|m| m == d))
                    .cloned()
                    .collect();
                out.insert(host, list);
            }
            Err(why) => {
                st.failed.insert(host, why);
            }
        }
    }
    out
}

fn parent_of(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((p, _)) => p.into(),
        None => String::new(),
    }
}

/// `remove` with `except_pat`: what the hosts hold and the source does not is removed, except
/// what the patterns protect, as in rdist. A dry run lists the removals; each one whose name
/// here matches a pattern becomes an `--exclude` rule, which rsync's `--delete` leaves alone.
fn protect_excepted(
    push: &Push,
    install: &Install,
    entry: &crate::distfile::Entry,
    hosts: &[HostSpec],
    args: &Args,
) -> Push {
    let mut argv = prsync_argv(push, install, hosts, args);
    argv.insert(1, "-n".into());
    let mut push = push.clone();
    let Ok(opts) = prsync_options(&argv) else {
        return push;
    };
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink_lines = lines.clone();
    let sink: prsync::remote::client::LineSink = Arc::new(move |_: &str, line: &[u8]| {
        sink_lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(String::from_utf8_lossy(line).into_owned());
    });
    prsync::remote::client::push_with_sink(&opts, sink);
    for line in lines.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if let Some((Change::Remove, _, item)) = parse_itemize(line) {
            let Some((local, remote)) = push.locate(&item) else {
                continue;
            };
            let hit = entry
                .except_pat
                .iter()
                .any(|p| p.regex.is_match(&local) || p.regex.is_match(&remote));
            let rule = format!("/{}", item.trim_end_matches('/'));
            if hit && !push.excludes.contains(&rule) {
                push.excludes.push(rule);
            }
        }
    }
    push
}

/// rdist keeps FILE.OLD of regular files alone; rsync's `--backup` also keeps a symlink it
/// replaces. Those backups go again, over the shared master.
fn unsave_links(
    relinked: &HashMap<String, Vec<String>>,
    hosts: &[HostSpec],
    config: &Config,
    st: &mut State,
) {
    let jobs: HashMap<String, Vec<String>> = relinked
        .iter()
        .map(|(host, links)| {
            let script = links
                .iter()
                .map(|r| format!("rm -f -- {};", quote(&format!("{r}{SAVE_SUFFIX}"))))
                .collect::<String>();
            (host.clone(), vec![script])
        })
        .collect();
    for (host, result) in run_on_hosts(hosts, config, &jobs) {
        if let Err(why) = result {
            st.failed.insert(host, why);
        }
    }
}

/// Prints each host's changes, runs the specials where files changed, sends notify mail.
#[allow(clippy::too_many_arguments)]
fn report(
    step: &Step,
    named: &[(HostSpec, String)],
    changes: &HashMap<String, Vec<Changed>>,
    made: &HashMap<String, Vec<(Option<String>, String)>>,
    verify: bool,
    quiet: bool,
    config: &Config,
    st: &mut State,
) {
    let entry = &step.entry;
    // The special commands of each host, with the line announcing each.
    let mut jobs: HashMap<String, Vec<String>> = HashMap::new();
    let mut announced: HashMap<String, Vec<String>> = HashMap::new();
    for (_, name) in named {
        let list = changes.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let mut cmds = Vec::new();
        let mut shown = Vec::new();
        for c in list.iter().filter(|c| c.special_kind()) {
            for sp in entry.specials.iter().filter(|sp| names_match(sp, &c.local)) {
                shown.push(format!("special \"{}\"", sp.command));
                let base = c.remote.rsplit('/').next().unwrap_or(&c.remote);
                cmds.push(format!(
                    "FILE={};REMFILE={};BASEFILE={};export FILE REMFILE BASEFILE;{}",
                    quote(&c.local),
                    quote(&c.remote),
                    quote(base),
                    sp.command
                ));
            }
        }
        if !list.is_empty() {
            for sp in &entry.cmdspecials {
                let files: Vec<&str> = list
                    .iter()
                    .filter(|c| c.special_kind() && names_match(sp, &c.local))
                    .map(|c| c.remote.as_str())
                    .collect();
                shown.push(format!("cmdspecial \"{}\"", sp.command));
                cmds.push(format!(
                    "FILES={};export FILES;{}",
                    quote(&files.join(":")),
                    sp.command
                ));
            }
        }
        if !cmds.is_empty() && !verify {
            jobs.insert(name.clone(), cmds);
        }
        announced.insert(name.clone(), shown);
    }
    let hosts: Vec<HostSpec> = named.iter().map(|(h, _)| h.clone()).collect();
    let mut ran = run_on_hosts(&hosts, config, &jobs);
    for (h, name) in named {
        let host = name;
        if !quiet && !st.started.contains(host) {
            st.out
                .msg(Kind::Info, &format!("{host}: updating host {}", h.host));
            st.started.push(host.clone());
        }
        for (source, dir) in made.get(host).into_iter().flatten() {
            if let Some(src) = source {
                st.out
                    .msg(Kind::Change, &format!("{host}: {src}: installing"));
            }
            st.out.msg(Kind::Change, &format!("{host}: {dir}: mkdir"));
        }
        for c in changes.get(host).into_iter().flatten() {
            if c.kind == 'd' && c.change == Change::Install && !verify && !quiet {
                st.out
                    .msg(Kind::Change, &format!("{host}: {}: mkdir", c.remote));
            }
            let (kind, line) = match (c.change, verify) {
                (Change::Install, false) => (Kind::Change, format!("{}: installing", c.local)),
                // rdist's client names a replaced symlink nowhere; its server says `updated`.
                (Change::Update, false) if c.kind == 'L' || (c.compared && c.kind == 'f') => {
                    (Kind::Change, format!("{}: updated", c.remote))
                }
                (Change::Update, false) => (Kind::Change, format!("{}: updating", c.local)),
                (Change::Remove, false) => (Kind::Notice, format!("{}: removed", c.remote)),
                (Change::Install, true) => (Kind::Info, format!("{}: need to install", c.local)),
                (Change::Update, true) => (Kind::Info, format!("{}: need to update", c.local)),
                (Change::Remove, true) => (Kind::Info, format!("{}: need to remove", c.remote)),
                // Never collected (see `install`).
                (Change::Quiet, _) => continue,
            };
            if quiet && c.change != Change::Remove {
                continue;
            }
            st.mail.entry(host.clone()).or_default().push(line.clone());
            st.out.msg(kind, &format!("{host}: {line}"));
        }
        let shown = announced.remove(host).unwrap_or_default();
        let results = match ran.remove(host) {
            Some(Err(why)) => {
                st.failed.insert(host.clone(), why);
                Vec::new()
            }
            Some(Ok(r)) => r,
            None => Vec::new(),
        };
        for (i, line) in shown.iter().enumerate() {
            st.out.msg(Kind::Change, &format!("{host}: {line}"));
            st.mail.entry(host.clone()).or_default().push(line.clone());
            if let Some(r) = results.get(i) {
                for l in &r.lines {
                    st.out.msg(Kind::Info, &format!("{host}: {l}"));
                }
                if r.status != 0 {
                    // rdist's own line, for scripts that look for it: the shell's wait
                    // status, the exit status times 256.
                    st.out.msg(
                        Kind::Notice,
                        &format!(
                            "{host}: REMOTE ERROR: shell returned {}",
                            r.status.saturating_mul(256)
                        ),
                    );
                    st.out.error(&format!(
                        "{host}: {line} failed with exit status {}",
                        r.status
                    ));
                }
            }
        }
        // As rdist: mail only when files were updated, and say so in rdist's words.
        let updated = st.mail.get(host).is_some_and(|lines| !lines.is_empty());
        if !entry.notify.is_empty() && !verify && updated && !st.failed.contains_key(host) {
            if !quiet {
                st.out.msg(
                    Kind::Info,
                    &format!("{host}: notify @{host} ( {} )", entry.notify.join(" ")),
                );
            }
            let body = st.mail.remove(host).unwrap_or_default();
            let to: Vec<String> = entry
                .notify
                .iter()
                .map(|n| {
                    if n.contains('@') {
                        n.clone()
                    } else {
                        format!("{n}@{host}")
                    }
                })
                .collect();
            let subject = format!(
                "files updated by {} from {} to {host}",
                local_user(),
                local_host()
            );
            notify(&to, &subject, &body, step, st);
        }
    }
}

fn names_match(sp: &Special, local: &str) -> bool {
    sp.names
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| local_path(n) == local))
}

/// `sources :: stamp`: the files newer than the stamp file, specials run here, the stamp
/// touched (unless -n or verify).
fn stamp(step: &Step, args: &Args, st: &mut State) {
    let crate::distfile::Target::Stamp(stamp) = &step.entry.target else {
        return;
    };
    let entry = &step.entry;
    let stamp_path = local_path(stamp);
    if args.dry_run {
        for f in step.files() {
            st.out.msg(Kind::Info, &format!("comparing dates: {f}"));
        }
        return;
    }
    let last = match std::fs::metadata(&stamp_path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) => {
            st.out.error(&format!(
                "{stamp_path}: cannot read the time stamp file: {e}"
            ));
            return;
        }
    };
    let verify = args.opts.has("verify");
    if !verify {
        if let Err(e) = std::fs::File::options()
            .append(true)
            .open(&stamp_path)
            .and_then(|f| f.set_modified(SystemTime::now()))
        {
            st.out.error(&format!("{stamp_path}: cannot touch it: {e}"));
        }
    }
    let last_secs = secs(last);
    let mut newer = Vec::new();
    for src in step.files() {
        let root = local_path(&src);
        let mut it = walkdir::WalkDir::new(&root).sort_by_file_name().into_iter();
        while let Some(item) = it.next() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    st.out.error(&format!("{root}: cannot read it: {e}"));
                    continue;
                }
            };
            let path = item.path().to_string_lossy().into_owned();
            let excluded = entry.except.iter().any(|e| local_path(e) == path)
                || entry.except_pat.iter().any(|p| p.regex.is_match(&path));
            if excluded {
                if item.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            // rdist lists symlinks too, by their own time.
            if !item.file_type().is_file() && !item.file_type().is_symlink() {
                continue;
            }
            let mtime = item.metadata().ok().and_then(|m| m.modified().ok());
            if mtime.is_some_and(|m| secs(m) > last_secs) {
                newer.push(path);
            }
        }
    }
    let tag = stamp.clone();
    let mut body = Vec::new();
    for f in &newer {
        let line = format!("{f}: file is newer");
        st.out.msg(Kind::Info, &format!("{tag}: {line}"));
        body.push(line);
        for sp in entry.specials.iter().filter(|sp| names_match(sp, f)) {
            let cmd = format!("FILE={};{}", quote(f), sp.command);
            st.out
                .msg(Kind::Change, &format!("{tag}: special \"{cmd}\""));
            if !verify {
                local_command(&cmd, &tag, st);
            }
        }
    }
    if !newer.is_empty() {
        for sp in &entry.cmdspecials {
            let files: Vec<&str> = newer
                .iter()
                .filter(|f| names_match(sp, f))
                .map(String::as_str)
                .collect();
            let cmd = format!("FILES={};{}", quote(&files.join(":")), sp.command);
            st.out
                .msg(Kind::Change, &format!("{tag}: cmdspecial \"{cmd}\""));
            if !verify {
                local_command(&cmd, &tag, st);
            }
        }
    }
    if !entry.notify.is_empty() && !verify && !body.is_empty() {
        st.out.msg(
            Kind::Info,
            &format!("{tag}: notify  ( {} )", entry.notify.join(" ")),
        );
        let subject = format!("files updated after {}", http_date(last));
        notify(&entry.notify, &subject, &body, step, st);
    }
    if !args.opts.has("quiet") {
        st.out
            .msg(Kind::Info, &format!("{tag}: updating of {tag} finished"));
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A date for a mail subject, in UTC.
fn http_date(t: SystemTime) -> String {
    let s = secs(t) as i64;
    let days = s.div_euclid(86_400);
    let rem = s.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Runs a `::` entry's special here, with `sh -c`, printing its output.
fn local_command(cmd: &str, tag: &str, st: &mut State) {
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => {
            for l in String::from_utf8_lossy(&o.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
            {
                st.out.msg(Kind::Info, &format!("{tag}: {l}"));
            }
            if !o.status.success() {
                st.out.error(&format!(
                    "{tag}: \"{cmd}\" failed with exit status {}",
                    o.status.code().unwrap_or(-1)
                ));
            }
        }
        Err(e) => st.out.error(&format!("cannot run /bin/sh: {e}")),
    }
}

fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}

fn local_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Mails `body` to `to` with sendmail, as rdist does; without sendmail, says so.
fn notify(to: &[String], subject: &str, body: &[String], step: &Step, st: &mut State) {
    if body.is_empty() {
        return;
    }
    let sendmail = ["/usr/sbin/sendmail", "/usr/lib/sendmail"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    // A mail that could not be sent is an error: the run's exit status says so.
    let Some(sendmail) = sendmail else {
        st.out.error(&format!(
            "notify: no sendmail on this machine; not mailed to {}; install an MTA (apt-get \
             install postfix) or remove the notify",
            to.join(", ")
        ));
        return;
    };
    let opts = step
        .entry
        .installs
        .first()
        .map(|i| i.opts.list())
        .unwrap_or_default();
    let mail = format!(
        "Auto-Submitted: auto-generated\nFrom: prdist (Remote distribution program)\nTo: {}\nSubject: {subject}\n\nOptions: {opts}\n\n{}\n",
        to.join(", "),
        body.join("\n")
    );
    let child = std::process::Command::new(sendmail)
        .args(["-oi", "-t"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut c) => {
            if let Some(mut stdin) = c.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(mail.as_bytes());
            }
            match c.wait() {
                Ok(s) if s.success() => {}
                _ => st.out.error(&format!(
                    "notify: {sendmail} failed; not mailed to {}",
                    to.join(", ")
                )),
            }
        }
        Err(e) => st.out.error(&format!("notify: cannot run {sendmail}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_at_host_and_host_are_two_names() {
        let specs: Vec<HostSpec> = ["root@node2", "node2", "node1"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        let got: Vec<String> = names(&specs).into_iter().map(|(_, n)| n).collect();
        assert_eq!(got, ["root@node2", "node2", "node1"]);
    }

    #[test]
    fn folders_above_a_destination() {
        assert_eq!(parent_of("/tmp/etc/sub"), "/tmp/etc");
        assert_eq!(parent_of("/tmp/"), "/");
        assert_eq!(parent_of("etc"), "");
    }

    /// The prsync command lines of the first entry of `distfile`, `-o` options added.
    fn rounds(distfile: &str, cli: &[&str]) -> Vec<Vec<String>> {
        let argv = ["prdist", "-f", "Distfile"].iter().chain(cli);
        let args = match crate::cli::parse(argv).unwrap() {
            crate::cli::Parsed::Run(a) => *a,
            crate::cli::Parsed::Exit(_) => panic!("no run"),
        };
        let read = crate::distfile::ReadOptions {
            defines: vec![],
            opts: args.opts,
        };
        let dist = crate::distfile::read(distfile, "Distfile", &read).unwrap();
        let step = crate::plan::select(&dist, &args).unwrap().remove(0);
        let install = step.installs(args.opts).remove(0);
        let (pushes, _) = plan_install(&step.entry, &install, None);
        transfer_rounds(&pushes[0], &install, &step.hosts, &args)
    }

    #[test]
    fn savetargets_is_a_backup_with_rdists_suffix() {
        let got = rounds("src -> node1 install -osavetargets /tmp/etc ;", &[]);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains(&"--backup".to_string()), "{got:?}");
        assert!(got[0].contains(&"--suffix=.OLD".to_string()), "{got:?}");
        // Without savetargets, nothing is kept.
        let plain = rounds("src -> node1 install /tmp/etc ;", &[]);
        assert!(!plain[0].contains(&"--backup".to_string()), "{plain:?}");
    }

    #[test]
    fn savetargets_with_remove_removes_first_and_keeps_no_backup_of_removals() {
        let got = rounds("src -> node1 install -osavetargets,remove /tmp/etc ;", &[]);
        assert_eq!(got.len(), 2, "{got:?}");
        let has = |round: &[String], flag: &str| round.iter().any(|a| a == flag);
        assert!(has(&got[0], "--delete") && has(&got[0], "--existing"));
        assert!(has(&got[0], "--ignore-existing") && !has(&got[0], "--backup"));
        assert!(has(&got[1], "--backup") && !has(&got[1], "--delete"));
        // -o on the command line counts as in the Distfile.
        let cli = rounds("src -> node1 install /tmp/etc ;", &["-osavetargets,remove"]);
        assert_eq!(cli.len(), 2, "{cli:?}");
    }

    #[test]
    fn numchkowner_and_numchkgroup_match_ids_by_number() {
        for opt in ["numchkowner", "numchkgroup"] {
            let got = rounds(&format!("src -> node1 install -o{opt} /tmp/etc ;"), &[]);
            assert!(
                got[0].contains(&"--numeric-ids".to_string()),
                "{opt}: {got:?}"
            );
        }
        let plain = rounds("src -> node1 install /tmp/etc ;", &[]);
        assert!(
            !plain[0].contains(&"--numeric-ids".to_string()),
            "{plain:?}"
        );
    }

    #[test]
    fn dates() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_704_164_645);
        assert_eq!(http_date(t), "2024-01-02 03:04:05 UTC");
    }
}
