//! Turning host events into output: streamed `host: line`, gathered (`-b`), per-host blocks
//! (`-i`), JSON, or per-host files.
//!
//! One printer owns stdout and stderr, so lines from different hosts never interleave: each
//! line is written whole, in one piece, whatever its length.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use prtools_transport::{gather, Event, HostError, Stream};

/// How output is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `host: line` as lines arrive (pdsh).
    Stream,
    /// Identical outputs gathered after the run (dshbak -c); `with_stderr` for -B.
    Gather {
        /// Gather stderr together with stdout.
        with_stderr: bool,
    },
    /// One block per host as it finishes (pssh -i).
    Block,
    /// One JSON object per host as it finishes.
    Json,
}

/// Output settings resolved from the command line.
pub struct Settings {
    /// How to show output.
    pub mode: Mode,
    /// Print the `host: ` prefix.
    pub prefix: bool,
    /// Colour the prefix.
    pub color: bool,
    /// Write stdout to DIR/HOST instead of the terminal.
    pub outdir: Option<PathBuf>,
    /// Write stderr to DIR/HOST instead of the terminal.
    pub errdir: Option<PathBuf>,
}

#[derive(Default)]
struct HostOutput {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Consumes events until every host is done.
pub struct Printer {
    settings: Settings,
    names: Vec<String>,
    hosts: Vec<HostOutput>,
    files: HashMap<(usize, Stream), File>,
    finished: Vec<Option<(Result<i32, HostError>, Duration)>>,
    blocks_printed: usize,
}

const ANSI_HOST: &str = "\x1b[36m";
const ANSI_ERR_HOST: &str = "\x1b[31m";
const ANSI_RESET: &str = "\x1b[0m";

impl Printer {
    /// A printer for hosts named `names` (by rank). Creates the output folders.
    pub fn new(settings: Settings, names: Vec<String>) -> io::Result<Printer> {
        for dir in [&settings.outdir, &settings.errdir].into_iter().flatten() {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let count = names.len();
        Ok(Printer {
            settings,
            names,
            hosts: (0..count).map(|_| HostOutput::default()).collect(),
            files: HashMap::new(),
            finished: (0..count).map(|_| None).collect(),
            blocks_printed: 0,
        })
    }

    /// Handles one event, writing what it can now.
    pub fn event(
        &mut self,
        event: Event,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> io::Result<()> {
        match event {
            Event::Line {
                host,
                stream,
                bytes,
            } => self.line(host, stream, bytes, out, err),
            Event::Done {
                host,
                result,
                elapsed,
            } => {
                self.finished[host] = Some((result, elapsed));
                match self.settings.mode {
                    Mode::Block => self.print_block(host, out),
                    Mode::Json => self.print_json(host, out),
                    Mode::Stream | Mode::Gather { .. } => Ok(()),
                }
            }
        }
    }

    /// One line as the host wrote it: byte for byte everywhere but in the prefixed stream,
    /// where a last line without a newline gets one, so that the next host's line starts on
    /// a line of its own.
    fn line(
        &mut self,
        host: usize,
        stream: Stream,
        bytes: Vec<u8>,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> io::Result<()> {
        let dir = match stream {
            Stream::Stdout => &self.settings.outdir,
            Stream::Stderr => &self.settings.errdir,
        };
        if let Some(dir) = dir {
            let file = match self.files.entry((host, stream)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(create_host_file(dir, &self.names[host])?)
                }
            };
            file.write_all(&bytes)?;
            if self.settings.mode != Mode::Json {
                return Ok(());
            }
        }
        let mode = self.settings.mode;
        let collected = &mut self.hosts[host];
        match (mode, stream) {
            (Mode::Stream, _) | (Mode::Gather { with_stderr: false }, Stream::Stderr) => {
                let sink: &mut dyn Write = match stream {
                    Stream::Stdout => out,
                    Stream::Stderr => err,
                };
                self.write_prefixed(sink, host, stream, &bytes)
            }
            (_, Stream::Stdout) => {
                collected.stdout.extend_from_slice(&bytes);
                Ok(())
            }
            (_, Stream::Stderr) => {
                collected.stderr.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    fn write_prefixed(
        &self,
        sink: &mut dyn Write,
        host: usize,
        stream: Stream,
        line: &[u8],
    ) -> io::Result<()> {
        if !self.settings.prefix {
            return sink.write_all(line);
        }
        let newline: &[u8] = if line.ends_with(b"\n") { b"" } else { b"\n" };
        let name = &self.names[host];
        let mut whole = Vec::with_capacity(name.len() + line.len() + 16);
        if self.settings.color {
            let color = match stream {
                Stream::Stdout => ANSI_HOST,
                Stream::Stderr => ANSI_ERR_HOST,
            };
            write!(whole, "{color}{name}{ANSI_RESET}: ")?;
        } else {
            write!(whole, "{name}: ")?;
        }
        whole.extend_from_slice(line);
        whole.extend_from_slice(newline);
        sink.write_all(&whole)
    }

    fn print_block(&mut self, host: usize, out: &mut impl Write) -> io::Result<()> {
        self.blocks_printed += 1;
        let Some((result, _)) = &self.finished[host] else {
            return Ok(());
        };
        let name = &self.names[host];
        let status = match result {
            Ok(0) => format!("[SUCCESS] {name}"),
            Ok(code) => format!("[FAILURE] {name} Exited with error code {code}"),
            Err(e) => format!("[FAILURE] {name} {e}"),
        };
        let collected = std::mem::take(&mut self.hosts[host]);
        let mut block = format!("[{}] {} {status}\n", self.blocks_printed, clock()).into_bytes();
        block.extend_from_slice(&collected.stdout);
        if !collected.stderr.is_empty() {
            block.extend_from_slice(b"Stderr: ");
            block.extend_from_slice(&collected.stderr);
        }
        out.write_all(&block)
    }

    fn print_json(&mut self, host: usize, out: &mut impl Write) -> io::Result<()> {
        let Some((result, elapsed)) = &self.finished[host] else {
            return Ok(());
        };
        let collected = std::mem::take(&mut self.hosts[host]);
        let (status, error) = match result {
            Ok(code) => (*code, None),
            Err(e) => (255, Some(e.to_string())),
        };
        let mut object = serde_json::json!({
            "host": self.names[host],
            "status": status,
            "stdout": String::from_utf8_lossy(&collected.stdout),
            "stderr": String::from_utf8_lossy(&collected.stderr),
            "seconds": elapsed.as_secs_f64(),
            "error": error,
        });
        // JSON strings hold text only: output that is not UTF-8 also goes whole, in base64,
        // so that a script loses nothing.
        for (field, bytes) in [
            ("stdout_base64", &collected.stdout),
            ("stderr_base64", &collected.stderr),
        ] {
            if std::str::from_utf8(bytes).is_err() {
                object[field] = base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into();
            }
        }
        writeln!(out, "{object}")
    }

    /// Prints what is only known once every host is done (the gathered groups of -b).
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        let Mode::Gather { with_stderr } = self.settings.mode else {
            return Ok(());
        };
        // Gathered by output alone, as `pdsh | dshbak -c` gathers: exit statuses are named on
        // stderr, where a script that swaps prsh -b for that pipe finds them too.
        let items: Vec<(String, Vec<u8>)> = self
            .hosts
            .iter_mut()
            .enumerate()
            .filter_map(|(rank, collected)| {
                // Unreachable hosts are named on stderr; they have no output to gather.
                self.finished[rank].as_ref()?.0.as_ref().ok()?;
                // With -B, stderr follows stdout rather than interleaving by arrival: the two
                // pipes race, and hosts with the same output must gather whatever the timing.
                let mut text = std::mem::take(&mut collected.stdout);
                if with_stderr {
                    text.append(&mut collected.stderr);
                }
                Some((self.names[rank].clone(), text))
            })
            .collect();
        for (hosts, text) in gather(&items) {
            let mut block = format!("----------------\n{hosts}\n----------------\n").into_bytes();
            block.extend_from_slice(&text);
            // As dshbak, which reads lines: the next header starts a line of its own.
            if !text.is_empty() && !text.ends_with(b"\n") {
                block.push(b'\n');
            }
            out.write_all(&block)?;
        }
        Ok(())
    }
}

fn create_host_file(dir: &Path, host: &str) -> io::Result<File> {
    let path = dir.join(host);
    File::create(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// Local wall-clock time as `HH:MM:SS`, as pssh prints it in block headers.
fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into `tm`, which lives for the call; a zeroed tm is a
    // valid value to overwrite.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}
