//! `--relay`: one push carried down a chain of hosts, each writing its copy while it passes
//! the stream on to the next (see [`crate::server`]). This machine sends each byte once per
//! chain instead of once per host.
//!
//! The client still has its own connection to every host, used to place the agents and to
//! serve directly the hosts a broken chain could not reach. A chain reports per host: each
//! agent tags the replies it passes up with their distance down the chain, and a broken link
//! says so (`NextGone`), so the client knows which hosts finished, which failed on their own,
//! and which were lost with the link.

use std::sync::atomic::Ordering;

use prtools_transport::{read_frame, Connection, HostError};

use crate::client::{
    lost, protocol_error, send_files, start_agent, AgentAt, PushFlags, Report, EXITED_EARLY,
};
use crate::plan::{dest_name, PushPlan};
use crate::protocol::{decode, Frame, Hop, Reply, Request, BATCH};

/// How a relay chain ended for one of its hosts.
#[derive(Debug)]
pub enum Outcome {
    /// Its copy is in place.
    Done,
    /// It failed on its own (a full disk, a verify mismatch): not worth serving again.
    Failed(HostError),
    /// The chain broke before it finished, for this reason: serve it directly.
    Lost(String),
}

/// Where each host of a chain is.
#[derive(Default)]
struct Position {
    want: Option<Vec<u32>>,
    end: Option<Outcome>,
}

/// Pushes `plan` down the chain that starts at the host behind `head` and goes on through
/// `hops`; returns an outcome for the head and then each hop, in order.
pub async fn push_chain(
    head: &Connection,
    head_agent: &str,
    hops: Vec<Hop>,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &Report<'_>,
) -> Vec<Outcome> {
    let mut chain: Vec<Position> = (0..=hops.len()).map(|_| Position::default()).collect();
    if let Err(e) = run_chain(
        head, head_agent, hops, plan, dest, flags, report, &mut chain,
    )
    .await
    {
        for position in chain.iter_mut().filter(|p| p.end.is_none()) {
            position.end = Some(Outcome::Lost(e.to_string()));
        }
    }
    chain
        .into_iter()
        .map(|p| {
            p.end
                .unwrap_or_else(|| Outcome::Lost("the relay chain ended early".into()))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn run_chain(
    head: &Connection,
    head_agent: &str,
    hops: Vec<Hop>,
    plan: &PushPlan,
    dest: &str,
    flags: &PushFlags,
    report: &Report<'_>,
    chain: &mut [Position],
) -> Result<(), HostError> {
    let mut agent = start_agent(head, AgentAt::Path(head_agent), report).await?;
    agent
        .send(&Request::Relay {
            header: flags.header(dest, plan),
            rename: dest_name(dest).map(|n| n.as_bytes().to_vec()),
            next: hops,
        })
        .await?;
    for batch in plan.into_dir.chunks(1024) {
        agent.send(&Request::Entries(batch.to_vec())).await?;
    }
    agent.send(&Request::EndOfList).await?;
    agent.flush().await?;

    // Every host says what it wants (or fails, or is lost) before any data goes.
    while chain.iter().any(|p| p.want.is_none() && p.end.is_none()) {
        match read_frame(&mut agent.output).await.map_err(lost)? {
            Some(payload) => apply(chain, payload, plan, flags, report)?,
            None => return Err(HostError::Other(EXITED_EARLY.into())),
        }
    }
    let mut wanted_by = vec![0u64; plan.local.len()];
    for position in chain.iter().filter(|p| p.end.is_none()) {
        for &index in position.want.iter().flatten() {
            wanted_by[index as usize] += 1;
            report.progress.add_total(plan.sizes[index as usize]);
        }
    }
    let union: Vec<u32> = (0..wanted_by.len() as u32)
        .filter(|&i| wanted_by[i as usize] > 0)
        .collect();

    let crate::client::Agent {
        process,
        input,
        mut output,
        stderr,
    } = agent;
    let mut input = tokio::io::BufWriter::with_capacity(BATCH, input);
    let send = async {
        // The progress bar counts every host's copy; the chain makes them from one stream.
        send_files(&mut input, plan, &union, |index, n| {
            report.totals.bytes_sent.fetch_add(n, Ordering::Relaxed);
            report.progress.moved(n * wanted_by[index as usize]);
        })
        .await
    };
    let receive = async {
        loop {
            match read_frame(&mut output).await {
                Ok(Some(payload)) => apply(chain, payload, plan, flags, report)?,
                Ok(None) => return Ok::<(), HostError>(()),
                Err(e) => return Err(lost(e)),
            }
        }
    };
    let (_sent, received) = tokio::join!(send, receive);
    received?;
    drop(input);
    drop(output);
    let _ = process.wait().await;
    let _ = stderr.await;
    Ok(())
}

/// Takes in one reply of the chain.
fn apply(
    chain: &mut [Position],
    payload: Vec<u8>,
    plan: &PushPlan,
    flags: &PushFlags,
    report: &Report<'_>,
) -> Result<(), HostError> {
    let (hop, reply) = match decode::<Reply>(payload).map_err(HostError::Other)? {
        Frame::Message(Reply::Relayed { hop, reply }) => (hop as usize, *reply),
        Frame::Message(reply) => (0, reply),
        Frame::Data(_) => return Err(protocol_error("a reply")),
    };
    if hop >= chain.len() || matches!(reply, Reply::Relayed { .. }) {
        return Err(protocol_error("a host of the chain"));
    }
    let position = &mut chain[hop];
    let finished = position.end.is_some();
    match reply {
        Reply::Ready { .. } => {}
        Reply::Want(want) => {
            plan.check_wanted(&want).map_err(HostError::Other)?;
            position.want = Some(want);
        }
        Reply::Stored { index, hash } if flags.verify && !finished => {
            let expected = plan.hash(index as usize).map_err(HostError::Other)?;
            if hash != Some(expected) {
                let path = plan
                    .into_dir
                    .get(index as usize)
                    .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                    .unwrap_or_default();
                position.end = Some(Outcome::Failed(HostError::Other(format!(
                    "verify failed: {path} differs on the host"
                ))));
            }
        }
        Reply::Stored { .. } => {}
        Reply::Summary { written, skipped } if !finished => {
            report.totals.written.fetch_add(written, Ordering::Relaxed);
            report.totals.skipped.fetch_add(skipped, Ordering::Relaxed);
            position.end = Some(Outcome::Done);
        }
        Reply::Fatal(why) if !finished => {
            position.end = Some(Outcome::Failed(HostError::Other(why)));
        }
        Reply::NextGone(why) => {
            for behind in chain[hop + 1..].iter_mut().filter(|p| p.end.is_none()) {
                behind.end = Some(Outcome::Lost(why.clone()));
            }
        }
        Reply::Summary { .. } | Reply::Fatal(_) => {}
        _ => return Err(protocol_error("a push reply")),
    }
    Ok(())
}
