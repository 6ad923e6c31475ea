//! `pgrep-mail`: parse, run, exit with grep's status (0 match, 1 none, 2 error).

use clap::Parser;

fn main() {
    let cli = match pgrep_mail::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", pgrep_mail::one_line_usage_error(&e));
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    };
    let result = pgrep_mail::config::Config::resolve(cli).and_then(pgrep_mail::run);
    match result {
        Ok(code) => std::process::exit(code),
        // `pgrep-mail ... | head` closing the pipe early is not an error, as for grep.
        Err(e) if pgrep_mail::is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("pgrep-mail: {e:#}");
            std::process::exit(pgrep_mail::exit::ERROR);
        }
    }
}
