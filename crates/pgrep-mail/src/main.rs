//! `pgrep-mail`: parse, run, exit with grep's status (0 match, 1 none, 2 error).

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(argv0) = argv.first() {
        pgrep_mail::set_prog(argv0);
    }
    let prog = pgrep_mail::prog();
    let cli = match pgrep_mail::cli::parse_grep(argv) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => print_or_fail(&e.render().to_string()),
        Err(e) => {
            eprintln!("{}", pgrep_mail::one_line_usage_error(&e));
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    };
    if cli.version {
        print_or_fail(&format!("{}\n", pgrep_mail::version_line()));
    }
    let result = pgrep_mail::config::Config::resolve(cli).and_then(pgrep_mail::run);
    match result {
        Ok(code) => std::process::exit(code),
        // `pgrep-mail ... | head` closing the pipe early is not an error, as for grep.
        Err(e) if pgrep_mail::is_broken_pipe(&e) => std::process::exit(0),
        // Standard output failing (a full disk) is reported as grep reports it.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some() => {
            let io = e
                .downcast_ref::<std::io::Error>()
                .expect("checked just above");
            eprintln!("{prog}: write error: {}", pgrep_mail::strerror(io));
            std::process::exit(pgrep_mail::exit::ERROR);
        }
        Err(e) => {
            eprintln!("{prog}: {e:#}");
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    }
}

/// Prints `--help` or `--version` text and exits: 0, or 2 when standard output cannot
/// take it (`grep --help >/dev/full` fails, as grep's does).
fn print_or_fail(text: &str) -> ! {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!(
                "{}: write error: {}",
                pgrep_mail::prog(),
                pgrep_mail::strerror(&e)
            );
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    }
}
