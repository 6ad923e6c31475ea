//! rsync's `--log-file`: what a run did, appended to a file a line at a time, each line
//! stamped `YYYY/MM/DD HH:MM:SS [PID] `: `building file list`, a line per updated entry in
//! `--log-file-format` (`%i %n%L` by default; names escaped as `-i` escapes them), and the
//! byte counts at the end.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use crate::out_format::OutFormat;

/// An open log.
pub struct LogFile {
    file: File,
    /// The format of an entry's line.
    pub format: OutFormat,
}

impl LogFile {
    /// Opens `path` to append to (made if missing). Another user's symlink on the way is
    /// refused unless `insecure`, as rsync 3.5 refuses an operator path through one.
    pub fn open(path: &Path, format: Option<&str>, insecure: bool) -> Result<LogFile, String> {
        crate::trust::check_operator_path(path, insecure)
            .map_err(|m| format!("--log-file: {m}"))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("failed to open log-file {}: {e}", path.display()))?;
        Ok(LogFile {
            file,
            format: OutFormat::parse(format.unwrap_or("%i %n%L")),
        })
    }

    /// Appends one line, stamped.
    pub fn line(&mut self, text: &[u8]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let stamp = crate::out_format::time_text(now).replacen('-', " ", 1);
        let mut line = format!("{stamp} [{}] ", std::process::id()).into_bytes();
        line.extend_from_slice(text);
        line.push(b'\n');
        // A log that cannot be written must not stop the transfer, as in rsync.
        let _ = self.write_all(&line);
    }

    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        self.file.write_all(line)
    }
}
