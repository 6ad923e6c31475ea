fn main() {
    let cli = match prcp::cli::Cli::try_parse_args() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", prtools_transport::one_line_error("prcp", &e));
            std::process::exit(2);
        }
    };
    match prcp::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("prcp: {e:#}");
            std::process::exit(1);
        }
    }
}
