//! prdist: rdist 6's Distfiles over prtools' transport, with rsync's delta transfer.
//!
//! # How a run goes
//!
//! 1. [`cli`] reads rdist's flags; [`distfile`] reads the Distfile (lexer, parser, then the
//!    expansion of variables, set arithmetic, braces and globs), reporting every mistake as
//!    `FILE:LINE:COL: what is wrong`.
//! 2. [`plan`] picks the entries (labels and file names of the command line, `-m` hosts);
//!    `-n` prints rdist's `updating host` / `install` lines from it and stops there.
//! 3. [`run`] turns each install command into prsync pushes ([`push`]): one transfer reaches
//!    every host of the entry at once, `-M` at a time, and hands back rsync's `-i` lines,
//!    from which the rdist messages (`node1: /etc/hosts: updating`) and the `special` runs are
//!    made. Commands on the hosts go through [`remote`]; they share the transfer's ssh master.
//!
//! The running executable is also the agent on the hosts (`prdist --server` serves prsync's
//! protocol), uploaded once per host and version like prsync's own.
#![deny(missing_docs)]

pub mod cli;
pub mod distfile;
pub mod output;
pub mod plan;
pub mod push;
pub mod remote;
pub mod run;

use std::io::Read;

use cli::{Args, Source};

/// Runs prdist with resolved arguments and returns the exit status (0 done, 1 not all done).
pub fn run(args: &Args) -> i32 {
    let out = match output::Output::from_spec(args.local_log.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("prdist: -l: {e}");
            return 1;
        }
    };
    let (text, name) = match &args.source {
        Source::Quick(text) => (text.clone(), "-c".to_string()),
        Source::Stdin => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                eprintln!("prdist: cannot read the Distfile from stdin: {e}");
                return 1;
            }
            (text, "-".to_string())
        }
        Source::File(path) => match std::fs::read_to_string(path) {
            Ok(t) => (t, path.display().to_string()),
            Err(e) => {
                eprintln!("prdist: cannot read {}: {e}", path.display());
                return 1;
            }
        },
    };
    let read_opts = distfile::ReadOptions {
        defines: args.defines.clone(),
        opts: args.opts,
    };
    let dist = match distfile::read(&text, &name, &read_opts) {
        Ok(d) => d,
        Err(errors) => {
            for e in &errors {
                eprintln!("prdist: {e}");
            }
            return 1;
        }
    };
    let steps = match plan::select(&dist, args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("prdist: {e}");
            return 1;
        }
    };
    if args.dry_run {
        for line in plan::dry_run(&steps, args) {
            println!("{line}");
        }
        return 0;
    }
    // -M is the fan-out of every push and command of the run: fit it to the open-file limit
    // once, for the widest step.
    let widest = steps.iter().map(|s| s.hosts.len()).max().unwrap_or(0);
    let mut fit = prtools_transport::Config {
        fanout: args.maxproc,
        ..Default::default()
    };
    match prtools_transport::fit_fanout(&mut fit, widest, "-M") {
        Ok(None) => {}
        Ok(Some(notice)) => eprintln!("prdist: {notice}"),
        Err(why) => {
            eprintln!("prdist: {why}");
            return 1;
        }
    }
    let args = Args {
        maxproc: fit.fanout,
        ..args.clone()
    };
    run::execute(&steps, &args, out)
}
