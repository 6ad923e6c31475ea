//! prsh: run one command on many hosts at once.
//!
//! The binary is a thin shell over [`run`]: the flags ([`cli::Cli`]) are resolved into hosts
//! and a transport [`Config`](prtools_transport::Config), every host runs the command through
//! the shared transport, and one [`printer::Printer`] turns the hosts' events into output.
#![deny(missing_docs)]

pub mod cli;
pub mod printer;
mod query;

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use prtools_hostlist::Context;
use prtools_transport::{
    failure_lines, fit_fanout, for_each_host, pdsh_ssh_template, run_command, CommandSpec, Config,
    Event, HostError, Interrupt, Method, StdinFeed, Target,
};
use tokio::sync::mpsc;

use crate::cli::Cli;
use crate::printer::{Mode, Printer, Settings};

/// Runs prsh and returns its exit status: the largest remote exit status, 255 for a host
/// that could not be reached, 128 + N when interrupted by signal N.
///
/// With no command, as pdsh, the commands are read from standard input, one a line, each run
/// on every host in turn (`prsh> ` is the prompt on a terminal).
pub fn run(cli: Cli) -> Result<i32> {
    let specs = cli
        .hosts
        .selection()
        .resolve_with(&Context::from_env(), &mut |warning| {
            eprintln!("prsh: warning: {warning}");
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = cli.conn.config().map_err(anyhow::Error::msg)?;
    if cli.conn.named_rcmd().as_deref() == Some("ssh") {
        let env = |name| std::env::var(name).ok();
        config.method = Method::Exec {
            template: pdsh_ssh_template(
                &config,
                env("PDSH_SSH_ARGS").as_deref(),
                env("PDSH_SSH_ARGS_APPEND").as_deref(),
            ),
        };
    }
    if cli.query || cli.query_hosts {
        print!("{}", query::report(&config, &specs, cli.query_hosts));
        return Ok(0);
    }
    if let Some(notice) = fit_fanout(&mut config, specs.len(), "-f").map_err(anyhow::Error::msg)? {
        eprintln!("prsh: {notice}");
    }
    let targets = Target::from_specs(specs);
    if !cli.command.is_empty() {
        return run_once(&cli, &targets, config, &cli.command);
    }
    let mut status = 0;
    let interactive = io::stdin().is_terminal();
    let mut lines = io::stdin().lines();
    loop {
        if interactive {
            eprint!("prsh> ");
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read commands from standard input")?;
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        match words.first().map(String::as_str) {
            None => continue,
            Some("exit" | "quit") if interactive => break,
            Some(_) => status = status.max(run_once(&cli, &targets, config.clone(), &words)?),
        }
    }
    Ok(status)
}

/// Runs one command on every host.
fn run_once(cli: &Cli, targets: &[Target], mut config: Config, words: &[String]) -> Result<i32> {
    let mut command = words.join(" ");
    // pdsh's DSHPATH: the PATH the remote command runs with.
    if let Some(path) = std::env::var("DSHPATH").ok().filter(|p| !p.is_empty()) {
        command = format!("PATH={path}; {command}");
    }
    // pdsh -R exec (or exec:host): the command words are themselves the per-host command.
    config.exec_words = words.to_vec();
    let settings = Settings {
        mode: if cli.json {
            Mode::Json
        } else if cli.gather || cli.gather_stderr {
            Mode::Gather {
                with_stderr: cli.gather_stderr,
            }
        } else if cli.inline {
            Mode::Block
        } else {
            Mode::Stream
        },
        prefix: !cli.no_prefix,
        color: io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        outdir: cli.outdir.clone(),
        errdir: cli.errdir.clone(),
    };
    let names = targets.iter().map(|t| t.name().to_string()).collect();
    let printer = Printer::new(settings, names)?;
    // As pdsh: standard input is read only when asked for, so that `while read` loops and
    // pipes that never close behave. Commands read from it leave it alone too.
    let stdin = (cli.send_input && !cli.command.is_empty()).then(|| StdinFeed::spawn(io::stdin()));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let interrupt = Interrupt::install().context("cannot install signal handlers")?;
        let interrupt = if cli.batch {
            interrupt.immediate()
        } else {
            interrupt
        };
        let (events, receiver) = mpsc::unbounded_channel();
        let output = std::thread::spawn(move || print_events(printer, receiver));
        let command = Arc::new(command);
        let timeout = config.command_timeout;
        let fail_fast = cli.fail_fast;
        let done_events = events.clone();
        let results = for_each_host(
            targets,
            &config,
            &interrupt,
            move |conn, interrupt| {
                let events = events.clone();
                let command = command.clone();
                let stdin = stdin.clone();
                async move {
                    let spec = CommandSpec {
                        command: &command,
                        stdin,
                        timeout,
                    };
                    let abort = interrupt.clone();
                    let result = run_command(&conn, &spec, &events, interrupt).await;
                    if fail_fast && result != Ok(0) {
                        abort.abort();
                    }
                    result
                }
            },
            move |done| {
                let _ = done_events.send(Event::Done {
                    host: done.target.rank,
                    result: done.result.clone(),
                    elapsed: done.elapsed,
                });
            },
        )
        .await;
        output
            .join()
            .map_err(|_| anyhow::anyhow!("the output thread panicked"))??;
        let status = report(&results, &interrupt)?;
        // pdsh -k: a failure is exit status 1, whatever the hosts said.
        let failed = status != 0 && interrupt.received().is_none();
        Ok(if fail_fast && failed { 1 } else { status })
    })
}

/// Names failed hosts on stderr, folded, and computes the exit status.
fn report(results: &[prtools_transport::HostResult<i32>], interrupt: &Interrupt) -> Result<i32> {
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut status = 0;
    for host in results {
        let name = host.target.name().to_string();
        match &host.result {
            Ok(code) => {
                status = status.max(*code);
                if *code != 0 {
                    failures.push((name, format!("exited with status {code}")));
                }
            }
            Err(HostError::Interrupted) => status = status.max(255),
            // Stopped by -k's abort, not by a signal: say why, as the prcp -k does.
            Err(HostError::NotStarted) if interrupt.received().is_none() => {
                status = status.max(255);
                failures.push((name, HostError::Skipped.to_string()));
            }
            Err(e) => {
                status = status.max(255);
                failures.push((name, e.to_string()));
            }
        }
    }
    let mut err = io::stderr().lock();
    for line in failure_lines("prsh", &failures) {
        writeln!(err, "{line}")?;
    }
    Ok(interrupt.exit_status().unwrap_or(status))
}

/// Writes events as they come, flushing whenever no more are waiting, so that a slow host's
/// lines appear promptly and a fast flood is written in large pieces.
fn print_events(mut printer: Printer, mut events: mpsc::UnboundedReceiver<Event>) -> Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    // Not locked for the whole run: other threads may need to report on stderr meanwhile.
    // Every line is one write_all, which takes the lock for that line.
    let mut err = io::stderr();
    while let Some(event) = events.blocking_recv() {
        printer.event(event, &mut out, &mut err)?;
        if events.is_empty() {
            out.flush()?;
        }
    }
    printer.finish(&mut out)?;
    out.flush()?;
    Ok(())
}
