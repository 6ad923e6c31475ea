//! rsync's batch mode: `--write-batch=FILE` records a transfer so that `--read-batch=FILE`
//! can make the same change to other copies of the destination later, without the source;
//! `--only-write-batch=FILE` records it without touching the destination. Beside FILE goes
//! `FILE.sh`, the command that replays it, each word quoted for the shell.
//!
//! # prsync's own format
//!
//! prsync does not speak rsync's wire protocol, so its batch is not rsync's stream: it is a
//! versioned header ([`format::MAGIC`], [`format::VERSION`]), the options that shape what
//! was sent ([`format::Flags`]), the file list, then one record for each file the receiver
//! asked for, and an end mark that says the batch is whole. A record holds the file's new
//! content in full, not a delta against the old copy: a replay then rebuilds the file
//! whatever the old copy there is, and a batch written against one destination is safe to
//! replay into another. Anything else (rsync's batch, a truncated one, a newer format) is
//! refused before anything changes.
//!
//! # Paths
//!
//! The batch and its script are paths the operator named: another user's symlink on the
//! way is refused ([`crate::trust`]), as rsync 3.5.0 refuses it, and a batch to read must
//! be a regular file (or `-`, standard input), so that nobody can plant what is replayed.

pub mod format;
pub mod record;
pub mod replay;
pub mod script;

use std::path::PathBuf;

/// What `--*-batch` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `--write-batch`: transfer and record.
    Write,
    /// `--only-write-batch`: record what a transfer would send; the destination stays.
    OnlyWrite,
    /// `--read-batch`: replay a recorded transfer.
    Read,
}

/// A batch option, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Which of the three.
    pub mode: Mode,
    /// FILE as typed (`-` reads standard input).
    pub path: PathBuf,
    /// The command line as typed, for `FILE.sh`.
    pub argv: Vec<std::ffi::OsString>,
    /// Which items of `argv` are the source and destination operands.
    pub operands: Vec<usize>,
}

impl Batch {
    /// Whether this batch is written (rather than read).
    pub fn writes(&self) -> bool {
        self.mode != Mode::Read
    }
}

/// `--read-batch`'s command line: the one operand is DEST (rsync ignores any before it),
/// and the options that need a source cannot go with it, in rsync's words.
pub fn check_read_options(
    cli: &crate::cli::Cli,
    paths: &mut Vec<std::ffi::OsString>,
) -> anyhow::Result<()> {
    if cli.files_from.is_some() {
        anyhow::bail!("--read-batch cannot be used with --files-from");
    }
    if cli.remove_source_files {
        anyhow::bail!("--read-batch cannot be used with --remove-source-files");
    }
    match paths.pop() {
        Some(dest) => *paths = vec![dest],
        None => anyhow::bail!(
            "--read-batch needs a destination, as in `prsync -a --read-batch=FILE dst/`"
        ),
    }
    Ok(())
}

/// The batch options against the rest: `-n` writes no batch (as rsync), and what prsync's
/// batch cannot hold is refused before anything is done.
pub fn check_write_options(
    cli: &crate::cli::Cli,
    more: &mut crate::more_options::More,
    remote: &crate::cli::Remote,
) -> anyhow::Result<()> {
    let Some(batch) = &more.batch else {
        return Ok(());
    };
    let local = *remote == crate::cli::Remote::Local;
    if cli.more.append || cli.more.append_verify {
        anyhow::bail!(
            "--append cannot be used with a batch: prsync's batch holds whole files; hint: \
             leave out --append"
        );
    }
    match batch.mode {
        Mode::Read if !local => anyhow::bail!(
            "--read-batch replays into a destination on this machine; hint: copy FILE and \
             FILE.sh to the host and run `sh FILE.sh` there"
        ),
        Mode::Write | Mode::OnlyWrite if cli.dry_run => more.batch = None,
        Mode::Write | Mode::OnlyWrite if matches!(remote, crate::cli::Remote::Push(_)) => {
            anyhow::bail!(
                "--write-batch works on copies into this machine only so far; hint: write \
                 the batch with a local DEST, then replay it on the host with FILE.sh"
            )
        }
        _ => {}
    }
    Ok(())
}
