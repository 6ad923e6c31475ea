//! `--log-file` on the server: the client asked this side to keep rsync's log of what
//! it changed (`-M--log-file=FILE`, or rrsync's pinned `/proc/self/fd/N`). The lines are
//! prsync's own receiver's ([`crate::log_file`]), one per entry the generator itemizes
//! and one per file once its data is in, as rsync's receiving server logs them. Not
//! counted: `%b` shows a received file's length, not the bytes its delta took on the
//! wire, and the totals line's counts leave out the handshake.

use std::sync::Mutex;

use prtools_rsync_wire::flist::Entry;
use prtools_rsync_wire::itemize::{self, Kind, Style};
use prtools_rsync_wire::server_request::ServerRequest;

use crate::itemize::{escape, HighBytes};
use crate::log_file::LogFile;
use crate::out_format::Fields;

/// The open log, shared by the generator and the receiving thread.
pub(super) struct ServerLog {
    log: Mutex<LogFile>,
    style: Style,
}

impl ServerLog {
    /// Opens the log the client named, relative to the folder the server started in;
    /// `Ok(None)` when none was asked for.
    pub(super) fn open(req: &ServerRequest) -> Result<Option<ServerLog>, String> {
        let Some(path) = req.log_file.as_deref() else {
            return Ok(None);
        };
        let path = std::path::Path::new(path);
        if !super::confined(req, path) {
            return Err(format!(
                "--log-file {} is outside the --confine-root folder",
                path.display()
            ));
        }
        let log = LogFile::open(path, req.log_file_format.as_deref(), false)?;
        Ok(Some(ServerLog {
            log: Mutex::new(log),
            style: Style {
                sending: false,
                times: req.times,
                symlink_times: true,
            },
        }))
    }

    /// Logs a line as it is (`receiving file list`, `created directory D`).
    pub(super) fn line(&self, text: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.line(text.as_bytes());
    }

    /// The last line, as rsync's server ends its log: bytes both ways and the size of
    /// what the list holds.
    pub(super) fn totals(&self, sent: u64, received: u64, list: &[Entry]) {
        let size: u64 = list
            .iter()
            .filter(|e| e.is_file() || e.is_link())
            .map(|e| e.size)
            .sum();
        self.line(&format!(
            "sent {sent} bytes  received {received} bytes  total size {size}"
        ));
    }

    /// Logs an entry the generator itemized (`transfer` false) or a file received.
    /// With `%i` in the format only a change that matters is logged, as rsync's
    /// `log_item` on a server; without, only what was sent or made.
    pub(super) fn entry(&self, iflags: u32, e: &Entry, received: bool) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let shown = if log.format.has_item() {
            iflags & itemize::SIGNIFICANT != 0
        } else {
            received || iflags & itemize::IS_NEW != 0
        };
        if !shown {
            return;
        }
        let kind = e.kind();
        let item = itemize::flags_text(iflags, kind, self.style);
        let mut name = escape(&e.name, HighBytes::Escaped);
        if kind == Kind::Dir && !name.ends_with(b"/") {
            name.push(b'/');
        }
        let link = match (&e.link, kind) {
            (Some(t), Kind::Link) => [b" -> ".as_slice(), &escape(t, HighBytes::Escaped)].concat(),
            _ => Vec::new(),
        };
        let line = log.format.render(&Fields {
            item: item.as_bytes(),
            name: &name,
            full_name: &name,
            link: &link,
            length: e.size,
            bytes: received.then_some(e.size),
            checksum: None,
            operation: "recv",
            mtime: e.mtime,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
        });
        log.line(&line);
    }
}
