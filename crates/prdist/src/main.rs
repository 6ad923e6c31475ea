//! prdist: parsing and exit codes only; the work is in the library, where the tests reach it.

fn main() {
    // The agent: prdist uploads itself to the hosts and serves prsync's protocol there.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--server") {
        std::process::exit(prsync::remote::server::serve());
    }
    let code = match prdist::cli::parse(std::env::args_os()) {
        Ok(prdist::cli::Parsed::Run(args)) => prdist::run(&args),
        Ok(prdist::cli::Parsed::Exit(code)) => code,
        Err(e) => {
            eprintln!("prdist: {e}");
            1
        }
    };
    std::process::exit(code);
}
