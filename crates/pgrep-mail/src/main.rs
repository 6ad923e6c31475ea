//! `pgrep-mail`: parse, run, exit with grep's status (0 match, 1 none, 2 error).

use clap::Parser;

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(argv0) = argv.first() {
        pgrep_mail::set_prog(argv0);
    }
    let prog = pgrep_mail::prog();
    let cli = match pgrep_mail::cli::Cli::try_parse_from(pgrep_mail::cli::grep_argv(argv)) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", pgrep_mail::one_line_usage_error(&e));
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    };
    if cli.version {
        println!("{}", pgrep_mail::version_line());
        std::process::exit(0);
    }
    let result = pgrep_mail::config::Config::resolve(cli).and_then(pgrep_mail::run);
    match result {
        Ok(code) => std::process::exit(code),
        // `pgrep-mail ... | head` closing the pipe early is not an error, as for grep.
        Err(e) if pgrep_mail::is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("{prog}: {e:#}");
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    }
}
