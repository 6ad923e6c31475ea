//! Running a job on many hosts at once, at most `-f N` at a time.
//!
//! Each host goes through connect, job, close inside one task that holds a fan-out permit,
//! so `-f` bounds the number of live ssh masters as well as the number of commands. A host
//! that fails is reported and the others carry on; nothing here ends the run early except an
//! interrupt (see [`Interrupt`]): after the first Ctrl-C no host is started, and the hosts
//! still running are named on stderr so the user knows what a second Ctrl-C would kill.
//! With [`Config::fail_fast`] (pdsh -k) the first failure stops the starts in the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::connect::Connection;
use crate::error::HostError;
use crate::gather::gather;
use crate::interrupt::Interrupt;
use crate::target::Target;

/// The result of one host: what the job returned, or why the host failed, and how long it took.
#[derive(Debug)]
pub struct HostResult<T> {
    /// The host.
    pub target: Target,
    /// The job's value, or the reason the host failed.
    pub result: Result<T, HostError>,
    /// From the start of the connect to the end of the job.
    pub elapsed: Duration,
}

/// Connects to every target (`config.fanout` at a time) and runs `job` on each connection.
/// `on_done` sees each host's result as soon as that host finishes (for output that is
/// printed per host); all results come back in target order, one per target.
pub async fn for_each_host<T, F, Fut, D>(
    targets: &[Target],
    config: &Config,
    interrupt: &Interrupt,
    job: F,
    on_done: D,
) -> Vec<HostResult<T>>
where
    T: Send + 'static,
    D: Fn(&HostResult<T>) + Send + Sync + 'static,
    F: Fn(Arc<Connection>, Interrupt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, HostError>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(config.fanout.max(1)));
    // -k: the first failure closes the gate for every host that has not started yet.
    let failed = Arc::new(AtomicBool::new(false));
    let interrupt = if targets.len() == 1 {
        interrupt.clone().immediate()
    } else {
        interrupt.clone()
    };
    let running = Running::default();
    let status = tokio::spawn(running.clone().report_when_stopped(interrupt.clone()));
    let job = Arc::new(job);
    let on_done = Arc::new(on_done);
    let config = Arc::new(config.clone());
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().cloned().enumerate() {
        let permits = permits.clone();
        let job = job.clone();
        let on_done = on_done.clone();
        let config = config.clone();
        let interrupt = interrupt.clone();
        let running = running.clone();
        let failed = failed.clone();
        tasks.spawn(async move {
            let start = Instant::now();
            let job = |conn, interrupt| {
                let running = running.enter(index, &target);
                let work = job(conn, interrupt);
                async move {
                    let _running = running;
                    work.await
                }
            };
            let result = one_host(&target, &config, &permits, interrupt, &failed, &job).await;
            if result.is_err() && config.fail_fast {
                failed.store(true, Ordering::SeqCst);
            }
            let elapsed = start.elapsed();
            let done = HostResult {
                target,
                result,
                elapsed,
            };
            on_done(&done);
            (index, done)
        });
    }
    let mut results: Vec<Option<HostResult<T>>> = (0..targets.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = Some(result),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    status.abort();
    results
        .into_iter()
        .zip(targets)
        .map(|(result, target)| {
            // Every task reports unless it was cancelled, which nothing here does; still, a
            // host must never silently vanish from the results.
            result.unwrap_or_else(|| HostResult {
                target: target.clone(),
                result: Err(HostError::Other("host task was cancelled".into())),
                elapsed: Duration::ZERO,
            })
        })
        .collect()
}

async fn one_host<T, F, Fut>(
    target: &Target,
    config: &Config,
    permits: &Semaphore,
    mut interrupt: Interrupt,
    failed: &AtomicBool,
    job: &F,
) -> Result<T, HostError>
where
    F: Fn(Arc<Connection>, Interrupt) -> Fut,
    Fut: Future<Output = Result<T, HostError>>,
{
    // Waiting for a permit and connecting are abandoned at the first interrupt: nothing runs
    // on the host yet. Once the job runs, the job itself handles the interrupt, because only
    // it can kill what it started.
    let _permit = tokio::select! {
        biased;
        _ = interrupt.stopped() => return Err(HostError::NotStarted),
        permit = permits.acquire() => permit.map_err(|_| HostError::NotStarted)?,
    };
    if failed.load(Ordering::SeqCst) {
        return Err(HostError::Skipped);
    }
    let conn = tokio::select! {
        biased;
        _ = interrupt.stopped() => return Err(HostError::NotStarted),
        conn = Connection::open(target, config) => Arc::new(conn?),
    };
    let result = job(conn.clone(), interrupt.clone()).await;
    if let Ok(conn) = Arc::try_unwrap(conn) {
        conn.close().await;
    }
    result
}

/// The hosts whose job is running, by target index, for the status line of the first Ctrl-C.
#[derive(Clone, Default)]
struct Running(Arc<Mutex<BTreeMap<usize, String>>>);

impl Running {
    /// Marks a host as running until the returned guard is dropped.
    fn enter(&self, index: usize, target: &Target) -> Leave {
        self.lock().insert(index, target.name().to_string());
        Leave(self.clone(), index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, String>> {
        // A panicking job is re-raised by the fan-out; the map itself is always whole.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// At the first Ctrl-C that does not kill, names the hosts that go on, as pdsh does.
    async fn report_when_stopped(self, mut interrupt: Interrupt) {
        interrupt.stopped().await;
        if interrupt.kills() {
            return;
        }
        let hosts: Vec<(String, ())> = self.lock().values().map(|h| (h.clone(), ())).collect();
        if let Some((names, ())) = gather(&hosts).into_iter().next() {
            eprintln!(
                "{}: interrupt: letting {names} finish; Ctrl-C again to kill them",
                tool_name()
            );
        }
    }
}

/// Ends a host's [`Running`] mark.
struct Leave(Running, usize);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

/// The running tool's name, for the prefix of its messages: the fan-out is shared by all of
/// them and by prdist running prsync's pushes, and the user knows the command they typed.
fn tool_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "prtools".into())
}
