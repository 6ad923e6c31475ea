//! `--write-batch` and `--only-write-batch`: a sender that records what the receiver asks
//! of the real one.

use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use prtools_delta::{Signature, SignatureOptions};

use crate::batch::format::Writer;
use crate::flist::FileEntry;
use crate::sender::{Prefetch, Sender, Sent};

/// Wraps the sender of a transfer: each file the receiver takes (or, in a dry run, would
/// take) is also written whole to the batch.
pub struct Recorder<'a, S: Sender> {
    inner: &'a mut S,
    batch: Writer,
}

impl<'a, S: Sender> Recorder<'a, S> {
    /// Records what `inner` sends into `batch`, whose header is written already.
    pub fn new(inner: &'a mut S, batch: Writer) -> Self {
        Recorder { inner, batch }
    }

    /// The batch, to finish once the transfer is over.
    pub fn into_batch(self) -> Writer {
        self.batch
    }
}

/// Writes to two places at once: the receiver's stream and the batch's record.
struct Tee<'a, 'b> {
    first: &'a mut dyn Write,
    second: &'a mut crate::batch::format::Record<'b>,
}

impl Write for Tee<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.first.write_all(buf)?;
        self.second.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.first.flush()
    }
}

impl<S: Sender> Sender for Recorder<'_, S> {
    fn file_list(&self) -> &[FileEntry] {
        self.inner.file_list()
    }

    fn send(
        &mut self,
        index: usize,
        basis: Option<&Signature>,
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        match basis {
            None => {
                let mut record = self.batch.record(index)?;
                let sent = self.inner.send(
                    index,
                    None,
                    &mut Tee {
                        first: out,
                        second: &mut record,
                    },
                );
                record.end(sent.is_ok())?;
                sent
            }
            Some(_) => {
                // The batch holds whole files (see the module docs); the receiver here
                // still gets its delta.
                self.would_send(index)?;
                self.inner.send(index, basis, out)
            }
        }
    }

    fn would_send(&mut self, index: usize) -> io::Result<()> {
        let mut record = self.batch.record(index)?;
        let sent = self.inner.send(index, None, &mut record);
        record.end(sent.is_ok())?;
        sent.map(|_| ())
    }

    fn prefetch(&mut self, wanted: Vec<(usize, Prefetch)>) {
        self.inner.prefetch(wanted)
    }

    fn takes_deltas_ahead(&mut self, probe: usize, options: &SignatureOptions) -> bool {
        self.inner.takes_deltas_ahead(probe, options)
    }

    fn signature(
        &mut self,
        _index: usize,
        _options: &SignatureOptions,
    ) -> io::Result<Option<Arc<Signature>>> {
        // None: the receiver then asks for whole files or deltas, which pass through here,
        // never for bare ranges, which would leave the batch without the file.
        Ok(None)
    }

    fn send_ranges(
        &mut self,
        index: usize,
        ranges: &[Range<u64>],
        out: &mut dyn Write,
    ) -> io::Result<Sent> {
        self.inner.send_ranges(index, ranges, out)
    }

    fn remove_source(&mut self, index: usize) -> io::Result<()> {
        self.inner.remove_source(index)
    }
}

/// The receiving half of a transfer ([`crate::transfer`]) that also writes `batch` and
/// its script. Returns rsync's exit status.
pub fn transfer<S: Sender>(
    opts: &crate::cli::Options,
    batch: &crate::batch::Batch,
    sender: &mut S,
    errors: &[String],
    notices: &[String],
    start: std::time::Instant,
    mut out: impl Write,
) -> i32 {
    use crate::exit;
    let mut fail = |code: i32, message: String| {
        let _ = out.flush();
        eprintln!("prsync: {message}");
        code
    };
    // The script first, as rsync: a refused path leaves neither file.
    if let Err(message) = crate::batch::script::write(batch, opts.insecure_links) {
        return fail(exit::SELECT, message);
    }
    let mut writer = match Writer::create(&batch.path, opts.insecure_links) {
        Ok(w) => w,
        Err(message) => return fail(exit::FILE_IO, message),
    };
    let flags = crate::batch::format::Flags::of(opts);
    if let Err(e) = writer.header(flags, sender.file_list()) {
        let message = format!(
            "batch file '{}' write error: {}",
            batch.path.display(),
            crate::sender::os_reason(&e)
        );
        return fail(exit::FILE_IO, message);
    }
    let mut recorder = Recorder::new(sender, writer);
    let code = crate::receive(opts, &mut recorder, errors, notices, start, out);
    match recorder.into_batch().finish() {
        Ok(()) => code,
        Err(message) => {
            eprintln!("prsync: {message}");
            exit::FILE_IO
        }
    }
}
