//! Running `--relay` over a run's hosts: place every agent over the usual fan-out, cut the
//! hosts that are ready into `--relay-width` chains, push down each chain, then serve directly
//! the hosts a broken chain lost.
//!
//! Every host keeps its own task (and connection) from the fan-out; the chains are run by
//! one coordinator that waits until each host of the batch is either ready or finished.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prtools_transport::{
    ssh_argv, Config, Connection, HostError, HostResult, Interrupt, KillHandle, Target,
};
use tokio::sync::{mpsc, oneshot};

use crate::client::{self, AgentAt, PushFlags, Report};
use crate::plan::PushPlan;
use crate::protocol::Hop;
use crate::relay::{push_chain, Outcome};
use crate::{with_agents, Shared};
use prtools_transport::Progress;

/// What a relayed push sends, and how wide.
pub struct Relay {
    /// How many chains this machine feeds.
    pub width: u32,
    /// The sources.
    pub plan: PushPlan,
    /// DEST as typed.
    pub dest: String,
    /// -p, --force, --verify.
    pub flags: PushFlags,
}

/// A host whose agent is in place, waiting for its chain's outcome.
struct Ready {
    target: Target,
    conn: Arc<Connection>,
    agent: String,
    /// The host's kill handle: a chain's head agent dies by it on a second Ctrl-C.
    kill: KillHandle,
    outcome: oneshot::Sender<Outcome>,
}

enum Arrival {
    Ready(Ready),
    Finished(usize),
}

/// Pushes to every target through relay chains, `-f` hosts at a time. Returns each host's
/// result, and the hosts that were served directly after their chain broke, with why.
pub(crate) async fn relay_all(
    targets: &[Target],
    config: &Config,
    interrupt: &Interrupt,
    shared: &Arc<Shared>,
    relay: Relay,
) -> (Vec<HostResult<()>>, Vec<(String, String)>) {
    let relay = Arc::new(relay);
    let reserved = Arc::new(Mutex::new(Vec::new()));
    let mut results = Vec::new();
    for batch in targets.chunks(config.fanout.max(1)) {
        let (arrivals, inbox) = mpsc::unbounded_channel();
        let progress = Arc::new(Progress::new(batch.len(), shared.quiet));
        let coordinator = tokio::spawn(coordinate(
            batch.len(),
            inbox,
            config.clone(),
            relay.clone(),
            shared.clone(),
            progress.clone(),
        ));
        let on_finish = arrivals.clone();
        let (relay_job, reserved_job) = (relay.clone(), reserved.clone());
        let batch_results = with_agents(
            batch,
            config,
            interrupt,
            shared,
            move |conn, shared, progress, kill| {
                let (arrivals, relay, reserved) =
                    (arrivals.clone(), relay_job.clone(), reserved_job.clone());
                async move {
                    // The relay starts the next hosts' agents by path, so each needs one. A
                    // host where it cannot run is served on its own, through sftp, and
                    // never joins a chain.
                    let agent = match crate::agent_path(&conn, &shared).await? {
                        Ok(agent) => agent,
                        Err(cannot) => {
                            let report = Report {
                                totals: &shared.totals,
                                progress: &progress,
                                kill: &kill,
                            };
                            let Relay {
                                plan, dest, flags, ..
                            } = &*relay;
                            return crate::by_sftp_instead(
                                &conn, &shared, cannot, plan, dest, flags, &report,
                            )
                            .await;
                        }
                    };
                    let (tell, outcome) = oneshot::channel();
                    let target = conn.target().clone();
                    let _ = arrivals.send(Arrival::Ready(Ready {
                        target,
                        conn: conn.clone(),
                        agent: agent.clone(),
                        kill: kill.clone(),
                        outcome: tell,
                    }));
                    let why = match outcome.await {
                        Ok(Outcome::Done) => return Ok(()),
                        Ok(Outcome::Failed(e)) => return Err(e),
                        Ok(Outcome::Lost(why)) => why,
                        Err(_) => "the relay coordinator stopped".to_string(),
                    };
                    reserved
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((conn.target().name().to_string(), why));
                    let report = Report {
                        totals: &shared.totals,
                        progress: &progress,
                        kill: &kill,
                    };
                    let Relay {
                        plan, dest, flags, ..
                    } = &*relay;
                    client::push(&conn, AgentAt::Path(&agent), plan, dest, flags, &report)
                        .await
                        .map(|_| ())
                }
            },
            move |target| {
                let _ = on_finish.send(Arrival::Finished(target.rank));
            },
            progress,
        )
        .await;
        let _ = coordinator.await;
        results.extend(batch_results);
    }
    let reserved = std::mem::take(&mut *reserved.lock().unwrap_or_else(|e| e.into_inner()));
    (results, reserved)
}

/// Waits until each of `hosts` is ready or finished, then runs the chains and hands every
/// ready host its outcome.
async fn coordinate(
    hosts: usize,
    mut inbox: mpsc::UnboundedReceiver<Arrival>,
    config: Config,
    relay: Arc<Relay>,
    shared: Arc<Shared>,
    progress: Arc<Progress>,
) {
    let mut ready = BTreeMap::new();
    let mut finished = std::collections::BTreeSet::new();
    while ready.len() + finished.len() < hosts {
        match inbox.recv().await {
            Some(Arrival::Ready(host)) => {
                ready.insert(host.target.rank, host);
            }
            Some(Arrival::Finished(rank)) if !ready.contains_key(&rank) => {
                finished.insert(rank);
            }
            Some(Arrival::Finished(_)) => {}
            None => return,
        }
    }
    let ready: Vec<Ready> = ready.into_values().collect();
    if ready.is_empty() {
        return;
    }
    let width = (relay.width as usize).clamp(1, ready.len());
    let length = ready.len().div_ceil(width);
    let mut chains = Vec::new();
    let mut hosts = ready.into_iter().peekable();
    while hosts.peek().is_some() {
        chains.push(hosts.by_ref().take(length).collect::<Vec<_>>());
    }
    let runs = chains.into_iter().map(|chain| {
        let (config, relay, shared, progress) = (
            config.clone(),
            relay.clone(),
            shared.clone(),
            progress.clone(),
        );
        tokio::spawn(async move { run_one(chain, &config, &relay, &shared, &progress).await })
    });
    for run in runs.collect::<Vec<_>>() {
        let _ = run.await;
    }
}

/// Pushes down one chain and tells each of its hosts how it went.
async fn run_one(
    chain: Vec<Ready>,
    config: &Config,
    relay: &Relay,
    shared: &Shared,
    progress: &Progress,
) {
    let hops = chain[1..]
        .iter()
        .map(|host| hop(host, config))
        .collect::<Result<Vec<_>, _>>();
    let outcomes = match hops {
        Ok(hops) => {
            let head = &chain[0];
            let report = Report {
                totals: &shared.totals,
                progress,
                kill: &head.kill,
            };
            push_chain(
                &head.conn,
                &head.agent,
                hops,
                &relay.plan,
                &relay.dest,
                &relay.flags,
                &report,
            )
            .await
        }
        Err(e) => chain
            .iter()
            .map(|_| Outcome::Failed(HostError::Other(e.clone())))
            .collect(),
    };
    for (host, outcome) in chain.into_iter().zip(outcomes) {
        let _ = host.outcome.send(outcome);
    }
}

/// How the host before `host` in its chain reaches it: ssh with this run's settings.
fn hop(host: &Ready, config: &Config) -> Result<Hop, String> {
    let command = format!("{} --server", host.agent);
    let command = ssh_argv(&host.target, config, &command)
        .ok_or_else(|| "--relay needs ssh between the hosts".to_string())?;
    Ok(Hop {
        host: host.target.name().to_string(),
        command,
    })
}
