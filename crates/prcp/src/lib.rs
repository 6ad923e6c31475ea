//! prcp: stage files to many hosts at once, and gather them back.
//!
//! Every host gets a copy of prcp started as its agent (`--server`, uploaded and cached when
//! missing, see the transport's bootstrap); the client and the agent then speak the framed
//! [`protocol`]. The file-tree work on both ends (names, quick check, atomic writes,
//! confinement to the destination) is the sync crate's.
#![deny(missing_docs)]

pub mod chains;
pub mod cli;
pub mod client;
pub mod operands;
pub mod plan;
pub mod protocol;
pub mod relay;
pub mod server;
pub mod settings;
mod sftp;

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use prtools_hostlist::Context;
use prtools_transport::{
    failure_lines, fit_fanout, for_each_host, try_ensure_agent, AgentOptions, CannotRun, Config,
    Connection, HostError, HostResult, Interrupt, KillHandle, LocalAgent, Placement, Target,
};

use crate::cli::Cli;
use crate::client::{GatherInto, PushFlags, Served, Totals};
use crate::operands::Operands;
use crate::plan::{PushPlan, Reading};
use prtools_transport::Progress;

/// Runs prcp and returns its exit status.
pub fn run(cli: Cli) -> Result<i32> {
    if cli.server {
        // Before any thread starts (see the function): a kill leaves no temp file behind.
        prtools_sync::remove_temps_on_signal(None).context("cannot take stop signals")?;
        // sshd's pipes to the agent carry the bulk of every push and gather.
        prtools_transport::widen_pipe(&std::io::stdin());
        prtools_transport::widen_pipe(&std::io::stdout());
        let stdin = std::io::stdin().lock();
        let stdout = std::io::stdout();
        return Ok(match server::serve(stdin, stdout) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("prcp agent: {e}");
                1
            }
        });
    }
    let mut config = cli.conn.config().map_err(anyhow::Error::msg)?;
    config.fail_fast = cli.fail_fast;
    config.bulk = true;
    let operands = Operands::parse(&cli)?;
    if cli.keep_setuid {
        // SAFETY: geteuid(2) has no arguments and cannot fail.
        check_keep_setuid(&operands, unsafe { libc::geteuid() } == 0)?;
    }
    if cli.show_settings {
        let hosts = resolve_specs(&cli, operands.hosts().as_deref())?;
        settings::print(&cli, &config, &operands, &hosts)?;
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_operands(&cli, config, operands))
}

/// --keep-setuid makes gathered programs that run as the local user, so only root, who
/// could set the bits by hand anyway, may ask for it; and only a gather drops the bits, so a
/// push has no use for it.
fn check_keep_setuid(operands: &Operands, root: bool) -> Result<()> {
    if let Operands::Push { .. } = operands {
        bail!("--keep-setuid is for gathers; a push with -p keeps setuid and setgid bits already\nhint: drop --keep-setuid");
    }
    if !root {
        bail!("--keep-setuid is for root only; gathered setuid bits would make programs that run as you\nhint: drop --keep-setuid, and set the bits you trust with chmod");
    }
    Ok(())
}

/// Everything a host task needs, shared by every host of the run.
pub(crate) struct Shared {
    local: LocalAgent,
    options: AgentOptions,
    pub(crate) totals: Totals,
    recursive: bool,
    preserve: bool,
    keep_setuid: bool,
    links: bool,
    quiet: bool,
    sftp: SftpUse,
}

/// When a host is served through its sftp server rather than the agent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SftpUse {
    /// Where the agent cannot run (the default).
    Fallback,
    /// On every host (`--sftp`).
    Always,
    /// Never: a host where the agent cannot run fails (`--no-sftp`).
    Never,
}

impl Shared {
    /// Notes a host that sftp served, for --stats.
    fn served_by_sftp(&self, conn: &Connection) {
        self.totals
            .sftp_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn.target().name().to_string());
    }
}

/// Serves a host where the agent cannot run through its sftp server, unless --no-sftp.
pub(crate) async fn by_sftp_instead(
    conn: &Connection,
    shared: &Shared,
    cannot: CannotRun,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &client::Report<'_>,
) -> Result<(), HostError> {
    if shared.sftp == SftpUse::Never {
        return Err(cannot.error(&shared.local));
    }
    sftp::push(conn, plan, dest, flags, report).await?;
    shared.served_by_sftp(conn);
    Ok(())
}

async fn run_operands(cli: &Cli, mut config: Config, operands: Operands) -> Result<i32> {
    let interrupt = Interrupt::install().context("cannot install signal handlers")?;
    // pdcp -b: one Ctrl-C kills, as it already does with one host.
    let interrupt = if cli.batch {
        interrupt.immediate()
    } else {
        interrupt
    };
    let shared = Arc::new(Shared {
        local: LocalAgent::current("prcp", env!("CARGO_PKG_VERSION"))
            .context("cannot read this prcp to upload it as the agent")?,
        options: AgentOptions {
            remote_path: cli.remote_path.clone(),
            no_bootstrap: cli.no_bootstrap,
        },
        totals: Totals::default(),
        recursive: cli.recursive,
        preserve: cli.preserve,
        keep_setuid: cli.keep_setuid,
        links: cli.links,
        quiet: cli.quiet,
        sftp: match (cli.sftp, cli.no_sftp) {
            (true, _) => SftpUse::Always,
            (false, true) => SftpUse::Never,
            (false, false) => SftpUse::Fallback,
        },
    });
    let flags = PushFlags {
        preserve: cli.preserve,
        force: cli.force,
        verify: cli.verify,
    };
    let results = match operands {
        Operands::Push {
            hosts,
            sources,
            dest,
        } => {
            let reading = Reading {
                recursive: cli.recursive,
                links: cli.links,
                // pdcp's rule where pdcp's syntax was used; scp syntax names its one host.
                contents: hosts.is_none(),
            };
            let targets = resolve(cli, hosts, &mut config)?;
            let plan = PushPlan::new(&sources, &dest, reading).map_err(anyhow::Error::msg)?;
            if cli.relay {
                if config.method != prtools_transport::Method::Ssh {
                    bail!("--relay needs ssh between the hosts; drop -R or --relay");
                }
                let relay = chains::Relay {
                    width: cli.relay_width,
                    plan,
                    dest,
                    flags,
                };
                let (results, reserved) =
                    chains::relay_all(&targets, &config, &interrupt, &shared, relay).await;
                notice_reserved(&results, &reserved)?;
                results
            } else {
                push_all(&targets, &config, &interrupt, &shared, plan, dest, flags).await
            }
        }
        Operands::Gather {
            hosts,
            paths,
            dir,
            per_host_dirs,
            plain_name,
        } => {
            let targets = resolve(cli, hosts, &mut config)?;
            if !dir.is_dir() {
                bail!(
                    "local folder '{}' does not exist; create it first",
                    dir.display()
                );
            }
            let into = move |host: &str| match (&plain_name, per_host_dirs) {
                (Some(name), _) => GatherInto::Plain {
                    dir: dir.clone(),
                    name: name.clone(),
                },
                (None, true) => GatherInto::HostDir { dir: dir.clone() },
                (None, false) => GatherInto::Suffixed {
                    dir: dir.clone(),
                    host: host.to_string(),
                },
            };
            gather_all(&targets, &config, &interrupt, &shared, paths, into).await
        }
        Operands::ThirdParty {
            from,
            paths,
            to,
            dest,
        } => third_party(&config, &interrupt, &shared, from, paths, to, dest, flags).await?,
    };
    // Interrupted sftp writes leave temp files until these removals have run.
    sftp::finish_cleanups().await;
    let status = report(&results, &interrupt, cli.no_prefix)?;
    if cli.stats {
        let totals = &shared.totals;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "files written: {}\nfiles up to date: {}\nbytes sent: {}\nagents uploaded: {}",
            totals.written.load(Ordering::Relaxed),
            totals.skipped.load(Ordering::Relaxed),
            totals.bytes_sent.load(Ordering::Relaxed),
            totals.uploaded.load(Ordering::Relaxed)
        )?;
        let by_sftp = totals
            .sftp_hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !by_sftp.is_empty() {
            writeln!(
                out,
                "served by sftp: {}",
                prtools_hostlist::fold(by_sftp.iter().map(String::as_str))
            )?;
        }
    }
    Ok(status)
}

/// Runs `job` on every host once its agent is in place, with the run's progress bar: the
/// part every push and gather shares. `job` gets the connection, the run's shared state and
/// progress, and the handle its agent is killed by when the run is interrupted; `finished` hears of each host as it ends, however it ends (also when it never
/// reached `job`).
pub(crate) async fn with_agents<J, Fut>(
    targets: &[Target],
    config: &Config,
    interrupt: &Interrupt,
    shared: &Arc<Shared>,
    job: J,
    finished: impl Fn(&Target) + Send + Sync + 'static,
    progress: Arc<Progress>,
) -> Vec<HostResult<()>>
where
    J: Fn(Arc<Connection>, Arc<Shared>, Arc<Progress>, KillHandle) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HostError>> + Send + 'static,
{
    let job = Arc::new(job);
    let (each, done) = (progress.clone(), progress.clone());
    let shared = shared.clone();
    let limit = config.command_timeout;
    let results = for_each_host(
        targets,
        config,
        interrupt,
        move |conn, mut interrupt| {
            let (job, shared, progress) = (job.clone(), shared.clone(), each.clone());
            async move {
                let kill = KillHandle::default();
                let work = job(conn.clone(), shared, progress, kill.clone());
                // `-u` bounds a host's whole job, placing the agent included: one host that
                // hangs mid-transfer must not hang the run. A timeout or a second Ctrl-C
                // kills the agent, which removes its temp file as it dies.
                conn.bounded(&kill, limit, &mut interrupt, work).await
            }
        },
        move |result| {
            done.host_done(result.result.is_ok());
            finished(&result.target);
        },
    )
    .await;
    progress.finish();
    results
}

async fn push_all(
    targets: &[Target],
    config: &Config,
    interrupt: &Interrupt,
    shared: &Arc<Shared>,
    plan: PushPlan,
    dest: String,
    flags: PushFlags,
) -> Vec<HostResult<()>> {
    let work = Arc::new((plan, dest, flags));
    with_agents(
        targets,
        config,
        interrupt,
        shared,
        move |conn, shared, progress, kill| {
            let work = work.clone();
            async move {
                let (plan, dest, flags) = &*work;
                let report = client::Report {
                    totals: &shared.totals,
                    progress: &progress,
                    kill: &kill,
                };
                if shared.sftp == SftpUse::Always {
                    sftp::push(&conn, plan, dest, flags, &report).await?;
                    shared.served_by_sftp(&conn);
                    return Ok(());
                }
                let at = client::AgentAt::Placed(&shared.local, &shared.options);
                match client::push(&conn, at, plan, dest, flags, &report).await? {
                    Served::ByAgent => Ok(()),
                    Served::CannotRun(cannot) => {
                        by_sftp_instead(&conn, &shared, cannot, plan, dest, flags, &report).await
                    }
                }
            }
        },
        |_| {},
        Arc::new(Progress::new(targets.len(), shared.quiet)),
    )
    .await
}

async fn gather_all(
    targets: &[Target],
    config: &Config,
    interrupt: &Interrupt,
    shared: &Arc<Shared>,
    paths: Vec<String>,
    into: impl Fn(&str) -> GatherInto + Send + Sync + 'static,
) -> Vec<HostResult<()>> {
    let work = Arc::new((paths, into));
    with_agents(
        targets,
        config,
        interrupt,
        shared,
        move |conn, shared, progress, kill| {
            let work = work.clone();
            async move {
                let (paths, into) = &*work;
                let into = into(conn.target().name());
                let report = client::Report {
                    totals: &shared.totals,
                    progress: &progress,
                    kill: &kill,
                };
                let options = client::GatherOptions {
                    recursive: shared.recursive,
                    preserve: shared.preserve,
                    keep_setuid: shared.keep_setuid,
                    links: shared.links,
                };
                if shared.sftp != SftpUse::Always {
                    let at = client::AgentAt::Placed(&shared.local, &shared.options);
                    match client::gather(&conn, at, paths, &options, &into, &report).await? {
                        Served::ByAgent => return Ok(()),
                        Served::CannotRun(cannot) if shared.sftp == SftpUse::Never => {
                            return Err(cannot.error(&shared.local))
                        }
                        Served::CannotRun(_) => {}
                    }
                }
                sftp::gather(&conn, paths, &options, &into, &report).await?;
                shared.served_by_sftp(&conn);
                Ok(())
            }
        },
        |_| {},
        Arc::new(Progress::new(targets.len(), shared.quiet)),
    )
    .await
}

/// `host1:path host2:path`: gathers into a private local folder, then pushes from it, so the
/// hosts need no keys for each other.
#[allow(clippy::too_many_arguments)]
async fn third_party(
    config: &Config,
    interrupt: &Interrupt,
    shared: &Arc<Shared>,
    from: prtools_hostlist::HostSpec,
    paths: Vec<String>,
    to: prtools_hostlist::HostSpec,
    dest: String,
    flags: PushFlags,
) -> Result<Vec<HostResult<()>>> {
    let hop = std::env::temp_dir().join(format!("prcp-hop-{}", std::process::id()));
    std::fs::create_dir(&hop).with_context(|| format!("cannot create {}", hop.display()))?;
    let result = async {
        let names: Vec<PathBuf> = paths
            .iter()
            .map(|p| hop.join(Path::new(p).file_name().unwrap_or(p.as_ref())))
            .collect();
        let into_hop = {
            let hop = hop.clone();
            move |_: &str| GatherInto::Plain {
                dir: hop.clone(),
                name: None,
            }
        };
        let pulled = gather_all(
            &Target::from_specs(vec![from]),
            config,
            interrupt,
            shared,
            paths,
            into_hop,
        )
        .await;
        if pulled.iter().any(|r| r.result.is_err()) {
            return Ok(pulled);
        }
        let reading = Reading {
            recursive: shared.recursive,
            links: shared.links,
            contents: false,
        };
        let plan = PushPlan::new(&names, &dest, reading).map_err(anyhow::Error::msg)?;
        Ok(push_all(
            &Target::from_specs(vec![to]),
            config,
            interrupt,
            shared,
            plan,
            dest,
            flags,
        )
        .await)
    }
    .await;
    let _ = std::fs::remove_dir_all(&hop);
    result
}

/// The agent's path on the host, placed there if need be; or why it cannot run there.
pub(crate) async fn agent_path(
    conn: &Connection,
    shared: &Shared,
) -> Result<Result<String, CannotRun>, HostError> {
    let (path, placement) = match try_ensure_agent(conn, &shared.local, &shared.options).await? {
        Ok(found) => found,
        Err(cannot) => return Ok(Err(cannot)),
    };
    if let Placement::Uploaded = placement {
        shared.totals.uploaded.fetch_add(1, Ordering::Relaxed);
    }
    Ok(Ok(path))
}

/// Says which hosts were served directly, and why, after a broken relay chain lost them;
/// those that then failed are named with the failures instead.
fn notice_reserved(results: &[HostResult<()>], reserved: &[(String, String)]) -> Result<()> {
    let served: Vec<(String, String)> = reserved
        .iter()
        .filter(|(host, _)| {
            results
                .iter()
                .any(|r| r.target.name() == host && r.result.is_ok())
        })
        .map(|(host, why)| (host.clone(), format!("served directly: {why}")))
        .collect();
    let mut err = std::io::stderr().lock();
    for line in failure_lines("prcp", &served) {
        writeln!(err, "{line}")?;
    }
    Ok(())
}

/// The hosts of a run: from -w/-h/-g/WCOLL, or the one host named in scp syntax. The
/// fan-out is fitted to the open-file limit for that many hosts.
fn resolve(
    cli: &Cli,
    hosts: Option<Vec<prtools_hostlist::HostSpec>>,
    config: &mut Config,
) -> Result<Vec<Target>> {
    let specs = resolve_specs(cli, hosts.as_deref())?;
    if let Some(notice) = fit_fanout(config, specs.len(), "-f").map_err(anyhow::Error::msg)? {
        eprintln!("prcp: {notice}");
    }
    Ok(Target::from_specs(specs))
}

/// The host specs of a run: the ones scp syntax named, else the selection.
fn resolve_specs(
    cli: &Cli,
    hosts: Option<&[prtools_hostlist::HostSpec]>,
) -> Result<Vec<prtools_hostlist::HostSpec>> {
    match hosts {
        Some(specs) => Ok(specs.to_vec()),
        None => cli
            .hosts
            .selection()
            .resolve(&Context::from_env())
            .map_err(|e| anyhow::anyhow!("{e}")),
    }
}

/// Names failed hosts on stderr, folded, and computes the exit status: 0, 1 when a copy
/// failed, 255 when a host could not be reached, 128 + N on signal N.
fn report(results: &[HostResult<()>], interrupt: &Interrupt, no_prefix: bool) -> Result<i32> {
    let mut failures = Vec::new();
    let mut status = 0;
    for host in results {
        if let Err(e) = &host.result {
            let code = match e {
                HostError::Other(_) => 1,
                _ => 255,
            };
            status = status.max(code);
            failures.push((host.target.name().to_string(), e.to_string()));
        }
    }
    let mut err = std::io::stderr().lock();
    if no_prefix {
        // pdcp -N: the reasons alone, each once.
        let mut said: Vec<&str> = Vec::new();
        for (_, reason) in &failures {
            if !said.contains(&reason.as_str()) {
                said.push(reason);
                writeln!(err, "prcp: {reason}")?;
            }
        }
    } else {
        for line in failure_lines("prcp", &failures) {
            writeln!(err, "{line}")?;
        }
    }
    Ok(interrupt.exit_status().unwrap_or(status))
}
