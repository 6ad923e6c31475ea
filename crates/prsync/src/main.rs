//! prsync: rsync's command line over prtools' file-tree engine. Parsing and exit codes only;
//! the work is in the library, where the tests reach it.

fn main() {
    // A stock rsync client's server (`rsync --rsync-path=prsync`): it always adds options
    // and paths after `--server`, where prsync's own agent has none.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if prsync::rsync_server::is_rsync_request(&args) {
        std::process::exit(prsync::rsync_server::serve(&args));
    }
    // The agent, started by prsync itself on a remote host.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--server") {
        std::process::exit(prsync::remote::server::serve());
    }
    let code = match prsync::cli::parse(std::env::args_os()) {
        Ok(prsync::cli::Parsed::Run(opts)) => {
            // A local copy has no agent to kill and no runtime to tell: a stop signal
            // removes its temp files (keeps them, with --partial) and exits 20, as rsync.
            // Before any thread starts (see the function).
            // So does a run over rsync's protocol with one host (--wire=rsync), whose pull
            // writes here; a push to many has the agent path's own stop (remote::client).
            let one_host = !matches!(&opts.remote, prsync::cli::Remote::Push(h) if h.len() > 1);
            if opts.remote == prsync::cli::Remote::Local
                || (opts.wire == prsync::rsync_peer::Wire::Rsync && one_host)
            {
                if let Err(e) = prtools_sync::remove_temps_on_signal(Some(prsync::exit::SIGNAL)) {
                    eprintln!("prsync: cannot take stop signals: {e}");
                    std::process::exit(prsync::exit::FILE_IO);
                }
            }
            prsync::run(&opts)
        }
        Ok(prsync::cli::Parsed::Exit(code)) => code,
        Err(e) => {
            eprintln!("prsync: {e:#}");
            prsync::exit::SYNTAX
        }
    };
    std::process::exit(code);
}
