fn main() {
    let cli = match prsh::cli::Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", prtools_transport::one_line_error("prsh", &e));
            std::process::exit(2);
        }
    };
    match prsh::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) if is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            eprintln!("prsh: {e:#}");
            std::process::exit(1);
        }
    }
}

/// `prsh ... | head` closing the pipe early is success, as for any Unix filter.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
