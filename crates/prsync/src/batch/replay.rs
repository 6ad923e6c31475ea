//! `--read-batch`: the recorded transfer, replayed into the destination with the
//! receiver prsync always runs.

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Instant;

use prtools_delta::Signature;

use crate::batch::format::Reader;
use crate::batch::Batch;
use crate::cli::Options;
use crate::exit;
use crate::flist::FileEntry;
use crate::sender::{Sender, Sent};

/// A sender whose files come from a batch.
pub struct BatchSender {
    batch: Reader,
    asked: HashSet<usize>,
    high: crate::itemize::HighBytes,
}

impl BatchSender {
    /// Serves the files of `batch`, naming them as `high` says.
    pub fn new(batch: Reader, high: crate::itemize::HighBytes) -> Self {
        BatchSender {
            batch,
            asked: HashSet::new(),
            high,
        }
    }
}

impl Sender for BatchSender {
    fn file_list(&self) -> &[FileEntry] {
        &self.batch.list
    }

    fn send(
        &mut self,
        index: usize,
        basis: Option<&Signature>,
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        if basis.is_some() {
            return Err(io::Error::other(
                "a batch holds whole files, and cannot send a delta",
            ));
        }
        self.asked.insert(index);
        let n = self.batch.copy_to(index, out)?;
        Ok(Sent {
            literal: n,
            matched: 0,
            wire: n,
            ..Sent::default()
        })
    }

    fn would_send(&mut self, index: usize) -> io::Result<()> {
        self.asked.insert(index);
        Ok(())
    }

    fn settled(&mut self, index: usize) -> Option<String> {
        if !self.batch.has(index) || self.asked.contains(&index) {
            return None;
        }
        let name = crate::itemize::escape(&self.batch.list[index].name, self.high);
        Some(format!(
            "(Skipping batched update for \"{}\")",
            String::from_utf8_lossy(&name)
        ))
    }
}

/// Replays `batch` into `opts.dest`; returns rsync's exit status.
pub fn run(opts: &Options, batch: &Batch) -> i32 {
    let start = Instant::now();
    let reader = match Reader::open(&batch.path, opts.insecure_links) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("prsync: {message}");
            return exit::FILE_IO;
        }
    };
    let mut opts = opts.clone();
    let changed = reader.flags.apply(&mut opts);
    // What the batch holds is whole files (see the module docs).
    opts.whole_file = true;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if opts.verbose > 0 && !opts.quiet {
        for line in changed {
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some(banner) = opts.list_banner(true) {
        let _ = writeln!(out, "{banner}");
    }
    let mut sender = BatchSender::new(reader, opts.more.high_bytes);
    crate::transfer(&opts, &mut sender, &[], &[], start, out)
}
