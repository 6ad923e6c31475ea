//! The open-file limit a fan-out needs, raised at startup.
//!
//! Every host in flight holds file descriptors here: the pipes of its command's stdin,
//! stdout and stderr, the socket to its ssh master, a second channel while a command is
//! killed, the agent executable while it is hashed or uploaded. A fan-out of 256 needs about
//! 2600 of them, and many systems start shells with a soft limit (`ulimit -n`) of 1024. Past
//! it, each new channel fails with EMFILE ("Too many open files"), mid-run, on whichever
//! hosts happen to come last: the classic tools (pdsh, pssh) fail exactly so.
//!
//! So every tool fits its fan-out once, before it connects ([`fit_fanout`]):
//!
//! - The soft limit is raised to what the fan-out needs, and no further (children, ssh
//!   among them, inherit it), up to the hard limit, which any process may do.
//! - If the hard limit is too low, the fan-out is lowered to what fits, with a one-line
//!   notice. The fan-out only decides how many hosts run at once, never what is done on
//!   them, so the run still does all that was asked, later: a script that uses `-f 256` on
//!   a workstation keeps working on a login node with a lower limit. GNU parallel does the
//!   same when it lacks file handles for `-j`; clush raises its soft limit the same way.
//! - Only when not even one host fits does the tool stop, with one line naming `ulimit -n`.

use std::io;

use crate::config::Config;

/// File descriptors one host in flight may hold at once, counted on a 256-host run with
/// margin: about 5 while an agent works (pipes, mux socket, the executable being uploaded),
/// 4 more while a command is killed over a second channel.
const FDS_PER_HOST: u64 = 10;

/// File descriptors a tool needs besides its hosts: stdio, the async runtime, signal pipes,
/// the files it reads and writes itself.
const FDS_BASE: u64 = 64;

/// The soft and hard `RLIMIT_NOFILE`.
fn get() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit struct, which `limit` is, and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Sets the soft `RLIMIT_NOFILE`, keeping the hard one.
fn set_soft(soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit(2) only reads the rlimit struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The descriptors a run of `hosts` at once needs.
fn needed(hosts: u64) -> u64 {
    FDS_BASE + FDS_PER_HOST * hosts
}

/// How many hosts fit at once under a limit of `limit` descriptors.
fn hosts_within(limit: u64) -> u64 {
    limit.saturating_sub(FDS_BASE) / FDS_PER_HOST
}

/// What to do about a fan-out of `wanted` hosts at once, under a soft and a hard limit.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// Raise the soft limit to this first, if set.
    raise_to: Option<u64>,
    /// How many hosts run at once: `wanted`, or what fits under the hard limit (maybe 0).
    fanout: u64,
}

fn plan(wanted: u64, soft: u64, hard: u64) -> Plan {
    let need = needed(wanted);
    if need <= soft {
        return Plan {
            raise_to: None,
            fanout: wanted,
        };
    }
    let limit = need.min(hard);
    Plan {
        raise_to: (limit > soft).then_some(limit),
        fanout: wanted.min(hosts_within(limit)),
    }
}

/// Makes room for `config.fanout` hosts at once (no more than `hosts`, the size of the
/// run): raises the soft open-file limit as far as that needs, else lowers
/// `config.fanout` to what the hard limit allows.
///
/// Returns `Ok(None)` when the fan-out fits, `Ok(Some(notice))` when it was lowered, and
/// `Err` when not even one host fits. `flag` is how the tool spells its fan-out flag
/// (`-f`, `--fanout`, `-M`), for the message; the tool prefixes both with its own name.
pub fn fit_fanout(config: &mut Config, hosts: usize, flag: &str) -> Result<Option<String>, String> {
    let wanted = config.fanout.min(hosts).max(1) as u64;
    let Ok((soft, hard)) = get() else {
        // Nothing to go by: run as asked, as the tool did before it looked.
        return Ok(None);
    };
    let mut plan = plan(wanted, soft, hard);
    let mut limit = soft;
    if let Some(raised) = plan.raise_to {
        match set_soft(raised, hard) {
            Ok(()) => limit = raised,
            // The hard limit said yes and the kernel no (fs.nr_open): fit under what we have.
            Err(_) => plan.fanout = wanted.min(hosts_within(soft)),
        }
    }
    if plan.fanout == 0 {
        return Err(format!(
            "the open-file limit of {limit} (`ulimit -n`) is too low for even one host at a \
             time ({flag} 1 needs {}); raise it with `ulimit -n {}`",
            needed(1),
            needed(wanted)
        ));
    }
    if plan.fanout < wanted {
        config.fanout = plan.fanout as usize;
        return Ok(Some(format!(
            "only {fit} hosts at once fit in the open-file limit of {limit} (`ulimit -n`): \
             running {flag} {fit} instead of {flag} {wanted}; raise `ulimit -n` to {} for \
             {flag} {wanted}",
            needed(wanted),
            fit = plan.fanout,
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_within_the_soft_limit_changes_nothing() {
        assert_eq!(
            plan(64, 1024, 4096),
            Plan {
                raise_to: None,
                fanout: 64
            }
        );
    }

    #[test]
    fn the_soft_limit_is_raised_as_far_as_needed_and_no_further() {
        assert_eq!(
            plan(256, 1024, 1 << 20),
            Plan {
                raise_to: Some(needed(256)),
                fanout: 256
            }
        );
    }

    #[test]
    fn a_low_hard_limit_lowers_the_fan_out() {
        assert_eq!(
            plan(256, 1024, 1024),
            Plan {
                raise_to: None,
                fanout: 96
            }
        );
        assert_eq!(
            plan(256, 512, 1024),
            Plan {
                raise_to: Some(1024),
                fanout: 96
            }
        );
        assert_eq!(plan(4, 40, 40).fanout, 0);
    }
}
