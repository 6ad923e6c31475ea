//! prsync: rsync's command line over prtools' file-tree engine. Parsing and exit codes only;
//! the work is in the library, where the tests reach it.

fn main() {
    // The agent, started by prsync itself on a remote host.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--server") {
        std::process::exit(prsync::remote::server::serve());
    }
    let code = match prsync::cli::parse(std::env::args_os()) {
        Ok(prsync::cli::Parsed::Run(opts)) => prsync::run(&opts),
        Ok(prsync::cli::Parsed::Exit(code)) => code,
        Err(e) => {
            eprintln!("prsync: {e:#}");
            prsync::exit::SYNTAX
        }
    };
    std::process::exit(code);
}
