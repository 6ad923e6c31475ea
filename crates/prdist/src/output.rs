//! rdist's message logging: each message has a type (`change`, `info`, `notice`,
//! `warning`, `nerror`, `ferror`), and `-l facility=types:...` says which types go where.
//! `stdout` and `file=PATH` are written; `syslog` and `notify` are accepted (notify mail is
//! always built from the change messages). Errors also go to stderr as `prdist: ...`.

use std::fs::File;
use std::io::Write;

/// A message type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Something changed: a file installed, updated, removed; a special run.
    Change,
    /// General information.
    Info,
    /// Information about changes made on the way (folders made).
    Notice,
    /// Something to look at.
    Warning,
    /// An error that does not end the run.
    NError,
    /// An error that ends the run.
    FError,
}

const TYPES: &[(&str, u8)] = &[
    ("change", 1),
    ("info", 2),
    ("notice", 4),
    ("warning", 8),
    ("nerror", 16),
    ("ferror", 32),
    ("debug", 64),
    ("all", 63),
];

fn bit(kind: Kind) -> u8 {
    match kind {
        Kind::Change => 1,
        Kind::Info => 2,
        Kind::Notice => 4,
        Kind::Warning => 8,
        Kind::NError => 16,
        Kind::FError => 32,
    }
}

/// Where messages go.
#[derive(Debug)]
pub struct Output {
    stdout: u8,
    file: Option<(File, u8)>,
    /// How many errors were reported.
    pub errors: usize,
}

impl Output {
    /// Messages of every type on stdout, as rdist's default.
    pub fn new() -> Output {
        Output {
            stdout: 63,
            file: None,
            errors: 0,
        }
    }

    /// Reads `-l` (local) logging options: `stdout=all:file=/tmp/rdist.log=change,nerror`.
    pub fn from_spec(spec: Option<&str>) -> Result<Output, String> {
        let mut out = Output::new();
        let Some(spec) = spec else {
            return Ok(out);
        };
        out.stdout = 0;
        for part in spec.split(':').filter(|p| !p.is_empty()) {
            let (facility, rest) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}': no '=' found; write facility=types"))?;
            match facility {
                "stdout" => out.stdout = types(rest)?,
                "file" => {
                    let (path, types_text) = rest.split_once('=').ok_or_else(|| {
                        format!("'{part}': write file=PATH=types, as in file=/tmp/rdist.log=all")
                    })?;
                    let file = File::create(path)
                        .map_err(|e| format!("cannot open log file '{path}': {e}"))?;
                    out.file = Some((file, types(types_text)?));
                }
                "syslog" | "notify" => {
                    types(rest)?;
                }
                other => {
                    return Err(format!(
                        "'{other}' is not a message facility: use stdout, file, syslog or notify"
                    ))
                }
            }
        }
        Ok(out)
    }

    /// A message of `kind`.
    pub fn msg(&mut self, kind: Kind, line: &str) {
        if self.stdout & bit(kind) != 0 {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        self.log_to_file(kind, line);
    }

    /// An error: on stderr as `prdist: ...`, and in a log file that takes errors.
    pub fn error(&mut self, line: &str) {
        self.errors += 1;
        eprintln!("prdist: {line}");
        self.log_to_file(Kind::NError, line);
    }

    fn log_to_file(&mut self, kind: Kind, line: &str) {
        if let Some((file, mask)) = &mut self.file {
            if *mask & bit(kind) != 0 {
                let _ = writeln!(file, "{line}");
            }
        }
    }
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

/// Checks `-L` (remote logging options): the same syntax; the agent logs nothing itself.
pub fn check_remote(spec: &str) -> Result<(), String> {
    for part in spec.split(':').filter(|p| !p.is_empty()) {
        let (facility, rest) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}': no '=' found; write facility=types"))?;
        match facility {
            "syslog" | "file" | "stdout" | "notify" => {
                let t = rest.rsplit('=').next().unwrap_or(rest);
                types(t)?;
            }
            other => return Err(format!("'{other}' is not a message facility")),
        }
    }
    Ok(())
}

fn types(text: &str) -> Result<u8, String> {
    let mut mask = 0;
    for word in text.split(',') {
        let (_, b) = TYPES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(word))
            .ok_or_else(|| {
                format!(
                    "message type '{word}' is invalid: use change, info, notice, warning, \
                     nerror, ferror, debug or all"
                )
            })?;
        mask |= b;
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let o = Output::from_spec(Some("stdout=change,nerror")).unwrap();
        assert_eq!(o.stdout, 17);
        assert!(Output::from_spec(Some("stdout"))
            .unwrap_err()
            .contains("no '='"));
        assert!(Output::from_spec(Some("bogus=all"))
            .unwrap_err()
            .contains("not a message facility"));
        assert!(Output::from_spec(Some("stdout=loud"))
            .unwrap_err()
            .contains("'loud' is invalid"));
        assert!(check_remote("syslog=all:file=/x=change").is_ok());
    }
}
