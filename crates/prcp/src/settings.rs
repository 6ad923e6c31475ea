//! `-q`: the settings a run would use and its hosts, printed instead of copying, laid out as
//! pdcp -q prints them so that what scripts read from pdcp's table reads the same here.

use std::io::Write;

use anyhow::Result;
use prtools_hostlist::HostSpec;
use prtools_transport::Config;

use crate::cli::Cli;
use crate::operands::Operands;

/// Prints the table on stdout.
pub fn print(cli: &Cli, config: &Config, operands: &Operands, hosts: &[HostSpec]) -> Result<()> {
    let (infiles, outfile) = operands.files();
    let yes = |on: bool| if on { "Yes" } else { "No" };
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "prcp".into());
    let remote = cli
        .remote_path
        .clone()
        .unwrap_or_else(|| "this prcp, uploaded to ~/.cache/prtools/ when missing".to_string());
    let local_user = local_user();
    let remote_user = config.user.clone().unwrap_or_else(|| local_user.clone());
    let named = cli.conn.named_rcmd().unwrap_or_else(|| "ssh".into());
    let rcmd = named.split_whitespace().next().unwrap_or("ssh");
    let command_timeout = config.command_timeout.map_or(0, |d| d.as_secs());
    let targets = prtools_transport::Target::from_specs(hosts.to_vec());
    let nodes = prtools_hostlist::fold(targets.iter().map(|t| t.name()));
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "-- PCP-specific options --\n\
         Infile(s)\t\t{infiles}\n\
         Outfile\t\t\t{outfile}\n\
         Recursive\t\t{recursive}\n\
         Preserve mod time/mode\t{preserve}\n\
         Links as links\t\t{links}\n\
         Full program pathname\t{program}\n\
         Remote program path\t{remote}\n\
         \n\
         -- Generic options --\n\
         Local username\t\t{local_user}\n\
         Local uid     \t\t{uid}\n\
         Remote username\t\t{remote_user}\n\
         Rcmd type\t\t{rcmd}\n\
         one ^C will kill pdsh   {batch}\n\
         Connect timeout (secs)\t{connect}\n\
         Command timeout (secs)\t{command_timeout}\n\
         Fanout\t\t\t{fanout}\n\
         Display hostname labels\tYes\n\
         Debugging       \tNo\n\
         \n\
         -- Target nodes --\n\
         {nodes}\n",
        infiles = infiles.join(", "),
        recursive = yes(cli.recursive),
        preserve = yes(cli.preserve),
        links = yes(cli.links),
        batch = yes(cli.batch),
        connect = config.connect_timeout.as_secs(),
        fanout = config.fanout,
    )?;
    out.flush()?;
    Ok(())
}

/// The name of the user running prcp, as the ssh login defaults to it.
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".into())
}
