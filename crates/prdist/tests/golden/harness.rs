//! The golden comparison with the real rdist 6, shared by `cargo xtask golden rdist` (which
//! runs rdist and writes `CASE.rdist`) and by the `golden` test (which runs prdist on the same
//! inputs and compares). One file, included by both with `#[path]`, so that the two can never
//! set up, run or describe a case differently.
//!
//! A case is `cases/NAME.case`, sections headed `=== name ===`:
//! - `about`: what it covers;
//! - `distfile`: the Distfile, written as `Distfile` in the local folder, where the tool runs;
//! - `before`: the starting trees, one entry a line (see [`Entry`]): `local` is the folder the
//!   tool runs in (sources are named relative to it), `nodeI` the test host's private `/tmp`;
//! - `runs`: one line a run, `run ARGS...` (the tool's own `-P` is added);
//! - `differs` (optional): `STREAM RUN why`, where prdist keeps its own behaviour on purpose,
//!   with the expected prdist text in `prdist STREAM RUN` sections (none: not compared, for
//!   what depends on the machine, such as whether it has a sendmail).
//!
//! `NAME.rdist` holds what rdist did: `provenance`, per run `status N`, `stdout N`, `stderr N`,
//! and `after`, the trees after the last run.
//!
//! Normalised, because they cannot match otherwise: the local folder's absolute path becomes
//! `$LOCAL`, and this machine's name where a line starts with it `$HOST`; output lines are sorted, because rdist updates hosts in parallel and walks
//! folders in readdir order (the order of lines is tested separately, in tests/prdist.rs);
//! mtimes after 2021 (files the run made or touched now) show as `new`; folders' mtimes are left
//! out. Nothing else is changed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file's mtime when the case does not give one: 2020-01-01.
pub const DEFAULT_MTIME: i64 = 1_577_836_800;
/// mtimes at or after this (2021-01-01) were made by the run itself: shown as `new`.
const NEW_AFTER: i64 = 1_609_459_200;
/// How many test hosts every case gets.
pub const NODES: usize = 3;

/// One parsed `.case` or `.rdist` file: its sections, in order.
#[derive(Clone, Debug, Default)]
pub struct Sections(pub Vec<(String, String)>);

impl Sections {
    pub fn parse(text: &str) -> Sections {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            if let Some(name) = bare
                .strip_prefix("=== ")
                .and_then(|l| l.strip_suffix(" ==="))
            {
                out.push((name.to_string(), String::new()));
            } else if let Some((_, body)) = out.last_mut() {
                body.push_str(line);
            }
        }
        Sections(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
    }

    pub fn push(&mut self, name: &str, body: &str) {
        self.0.push((name.to_string(), body.to_string()));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, body) in &self.0 {
            let _ = writeln!(out, "=== {name} ===");
            out.push_str(body);
            if !body.is_empty() && !body.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// A case, as read from `cases/NAME.case`.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub sections: Sections,
    pub distfile: String,
    pub before: Vec<Entry>,
    pub runs: Vec<Vec<String>>,
}

/// The folder holding the cases.
pub fn cases_dir(crate_dir: &Path) -> PathBuf {
    crate_dir.join("tests/golden/cases")
}

/// Every case, sorted by name.
pub fn load_all(dir: &Path) -> Result<Vec<Case>, String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "case"))
        .collect();
    names.sort();
    names.iter().map(|p| Case::load(p)).collect()
}

impl Case {
    pub fn load(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let sections = Sections::parse(&text);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let distfile = sections
            .get("distfile")
            .ok_or_else(|| format!("{name}: no distfile section"))?
            .to_string();
        let before = parse_entries(sections.get("before").unwrap_or(""))
            .map_err(|e| format!("{name}: before: {e}"))?;
        let runs = sections
            .get("runs")
            .unwrap_or("run\n")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut words = l.split_whitespace();
                match words.next() {
                    Some("run") => Ok(words.map(String::from).collect()),
                    _ => Err(format!("{name}: runs: lines start with `run`: {l}")),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Case {
            name,
            sections,
            distfile,
            before,
            runs,
        })
    }

    /// The streams prdist keeps on purpose: (stream, run) -> prdist's expected text, or
    /// `None` where it depends on this machine (is there a sendmail?) and is not compared.
    pub fn differs(&self) -> BTreeMap<(String, usize), Option<String>> {
        let mut out = BTreeMap::new();
        for line in self.sections.get("differs").unwrap_or("").lines() {
            let mut w = line.split_whitespace();
            if let (Some(stream), Some(run)) = (w.next(), w.next().and_then(|n| n.parse().ok())) {
                let body = self
                    .sections
                    .get(&format!("prdist {stream} {run}"))
                    .map(String::from);
                out.insert((stream.to_string(), run), body);
            }
        }
        out
    }
}

/// One thing in a tree: `HOST f MODE PATH MTIME CONTENT`, `HOST d MODE PATH`,
/// `HOST l - PATH TARGET`. CONTENT is the rest of the line with `\n`, `\t`, `\\` and `\xHH`
/// escapes; MTIME is seconds since the epoch, `-` for [`DEFAULT_MTIME`], or `new`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub host: String,
    pub path: String,
    pub kind: char,
    pub mode: u32,
    pub mtime: Option<i64>,
    pub data: Vec<u8>,
}

pub fn parse_entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut w = line.splitn(5, ' ');
        let host = w.next().unwrap_or("").to_string();
        let kind = w.next().and_then(|k| k.chars().next()).unwrap_or('?');
        let mode = w.next().unwrap_or("-");
        let path = w
            .next()
            .ok_or_else(|| format!("no path: {line}"))?
            .to_string();
        let rest = w.next().unwrap_or("");
        let mode = if mode == "-" {
            0
        } else {
            u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode: {line}"))?
        };
        let (mtime, data) = match kind {
            'f' => {
                let (t, content) = rest.split_once(' ').unwrap_or((rest, ""));
                let mtime = match t {
                    "-" | "" => Some(DEFAULT_MTIME),
                    "new" => None,
                    n => Some(n.parse().map_err(|_| format!("bad mtime: {line}"))?),
                };
                (mtime, unescape(content))
            }
            'l' => (None, rest.as_bytes().to_vec()),
            'd' => (None, Vec::new()),
            _ => return Err(format!("kind is f, d or l: {line}")),
        };
        out.push(Entry {
            host,
            path,
            kind,
            mode,
            mtime,
            data,
        });
    }
    Ok(out)
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn escape(data: &[u8]) -> String {
    let mut out = String::new();
    for &c in data {
        match c {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out
}

pub fn render_entries(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        match e.kind {
            'f' => {
                let t = e.mtime.map_or("new".to_string(), |t| t.to_string());
                let _ = writeln!(
                    out,
                    "{} f {:o} {} {t} {}",
                    e.host,
                    e.mode,
                    e.path,
                    escape(&e.data)
                );
            }
            'd' => {
                let _ = writeln!(out, "{} d {:o} {}", e.host, e.mode, e.path);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{} l - {} {}",
                    e.host,
                    e.path,
                    String::from_utf8_lossy(&e.data)
                );
            }
        }
    }
    out
}

/// Where a case runs: the local folder and each host's `/tmp` as seen from here.
pub struct Place {
    pub local: PathBuf,
    pub node_tmp: Vec<PathBuf>,
}

impl Place {
    fn root_of(&self, host: &str) -> Result<(PathBuf, &'static str), String> {
        if host == "local" {
            return Ok((self.local.clone(), ""));
        }
        let n: usize = host
            .strip_prefix("node")
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=self.node_tmp.len()).contains(n))
            .ok_or_else(|| format!("no host {host}"))?;
        Ok((self.node_tmp[n - 1].clone(), "/tmp"))
    }

    /// Empties the local folder and every host's `/tmp`, then writes the case's trees.
    pub fn set_up(&self, case: &Case) -> Result<(), String> {
        let io = |e: std::io::Error| format!("{}: {e}", case.name);
        for dir in std::iter::once(&self.local).chain(&self.node_tmp) {
            if dir.exists() {
                for item in std::fs::read_dir(dir).map_err(io)? {
                    let p = item.map_err(io)?.path();
                    if p.is_dir() && !p.is_symlink() {
                        std::fs::remove_dir_all(&p).map_err(io)?;
                    } else {
                        std::fs::remove_file(&p).map_err(io)?;
                    }
                }
            }
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(self.local.join("Distfile"), &case.distfile).map_err(io)?;
        let mut dirs = Vec::new();
        for e in &case.before {
            let (root, prefix) = self.root_of(&e.host)?;
            let rel = e
                .path
                .strip_prefix(prefix)
                .unwrap_or(&e.path)
                .trim_start_matches('/');
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            match e.kind {
                'd' => {
                    std::fs::create_dir_all(&path).map_err(io)?;
                    dirs.push((path, e.mode));
                }
                'l' => std::os::unix::fs::symlink(String::from_utf8_lossy(&e.data).as_ref(), &path)
                    .map_err(io)?,
                _ => {
                    std::fs::write(&path, &e.data).map_err(io)?;
                    let mode = if e.mode == 0 { 0o644 } else { e.mode };
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                        .map_err(io)?;
                    let t = UNIX_EPOCH
                        + Duration::from_secs(e.mtime.unwrap_or(DEFAULT_MTIME).max(0) as u64);
                    std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(t))
                        .map_err(io)?;
                }
            }
        }
        for (path, mode) in dirs {
            let mode = if mode == 0 { 0o755 } else { mode };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
        Ok(())
    }

    /// Every tree now, in the case's notation, sorted.
    pub fn snapshot(&self) -> String {
        let mut entries = Vec::new();
        let hosts = std::iter::once(("local".to_string(), self.local.clone(), String::new()))
            .chain(
                self.node_tmp
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("node{}", i + 1), d.clone(), "/tmp".to_string())),
            );
        for (host, root, prefix) in hosts {
            walk(&root, &root, &host, &prefix, &mut entries);
        }
        entries.sort_by(|a, b| (&a.host, &a.path).cmp(&(&b.host, &b.path)));
        render_entries(&entries)
    }
}

fn walk(root: &Path, dir: &Path, host: &str, prefix: &str, out: &mut Vec<Entry>) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.flatten() {
        let path = item.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy();
        let name = if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        };
        if host == "local" && name == "Distfile" {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            out.push(Entry {
                host: host.into(),
                path: name,
                kind: 'l',
                mode: 0,
                mtime: None,
                data: target.to_string_lossy().as_bytes().to_vec(),
            });
        } else if meta.is_dir() {
            out.push(Entry {
                host: host.into(),
                path: name,
                kind: 'd',
                mode,
                mtime: None,
                data: Vec::new(),
            });
            walk(root, &path, host, prefix, out);
        } else {
            let t = meta.mtime();
            out.push(Entry {
                host: host.into(),
                path: name,
                kind: 'f',
                mode,
                mtime: (t < NEW_AFTER).then_some(t),
                data: std::fs::read(&path).unwrap_or_default(),
            });
        }
    }
}

/// What one run printed, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOut {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Sorted lines, with the local folder's path as `$LOCAL` and this machine's name, where a
/// line starts with it (rdist's `vm: LOCAL ERROR: ...`), as `$HOST`.
pub fn normalise(text: &[u8], local: &Path) -> String {
    let text = String::from_utf8_lossy(text).replace(&*local.to_string_lossy(), "$LOCAL");
    let me = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let me = format!("{}: ", me.trim());
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| match l.strip_prefix(me.as_str()) {
            Some(rest) if me.len() > 2 => format!("$HOST: {rest}"),
            _ => l.to_string(),
        })
        .collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Sets up `case`, runs it with `tool` (given the run's arguments, it returns the command,
/// to run in the local folder) and returns what `NAME.rdist` records, without provenance.
pub fn run_case(
    case: &Case,
    place: &Place,
    tool: &dyn Fn(&[String]) -> Command,
) -> Result<Sections, String> {
    place.set_up(case)?;
    let mut out = Sections::default();
    for (i, args) in case.runs.iter().enumerate() {
        let n = i + 1;
        let mut cmd = tool(args);
        cmd.current_dir(&place.local)
            .stdin(std::process::Stdio::null())
            // The run's own time zone and language must not show.
            .env("TZ", "UTC")
            .env("LC_ALL", "C");
        let o = cmd
            .output()
            .map_err(|e| format!("{}: cannot run {:?}: {e}", case.name, cmd.get_program()))?;
        out.push(
            &format!("status {n}"),
            &format!("{}\n", o.status.code().unwrap_or(-1)),
        );
        out.push(&format!("stdout {n}"), &normalise(&o.stdout, &place.local));
        out.push(&format!("stderr {n}"), &normalise(&o.stderr, &place.local));
    }
    out.push("after", &place.snapshot());
    Ok(out)
}

/// The sections of `got` that differ from `want` (a `.rdist` file), with prdist's kept
/// behaviours taken from the case: one readable report, empty when all match.
pub fn compare(case: &Case, want: &Sections, got: &Sections) -> String {
    let differs = case.differs();
    let mut report = String::new();
    for (name, body) in &got.0 {
        let mut words = name.split(' ');
        let stream = words.next().unwrap_or("");
        let run: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let expected = match differs.get(&(stream.to_string(), run)) {
            Some(Some(kept)) => Some(kept.as_str()),
            Some(None) => continue,
            None => want.get(name),
        };
        let Some(expected) = expected else {
            let _ = writeln!(report, "{}: rdist recorded no `{name}`", case.name);
            continue;
        };
        if expected != body {
            let _ = writeln!(
                report,
                "{}: {name} differs\n--- rdist (or the case's kept prdist text)\n{expected}--- prdist\n{body}",
                case.name
            );
        }
    }
    report
}

/// Today's date for provenance, from the system clock, in UTC.
pub fn today() -> String {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = s.div_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
