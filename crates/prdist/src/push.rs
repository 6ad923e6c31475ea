//! From an rdist `install` to prsync transfers, and from prsync's `-i` lines back to rdist's
//! names.
//!
//! rdist installs each source under a name of its own; rsync copies a set of sources into
//! one folder. So an install becomes one [`Push`] per destination folder:
//!
//! - no destination: each source goes to the same path on the host, so the sources are
//!   grouped by their folder (`/etc/hosts` and `/etc/motd` both go into `/etc/`);
//! - `whole`: the source's full path is appended to the destination;
//! - one source folder, or a destination ending in `/.`: the folder's contents go into the
//!   destination (`SRC/ DEST/`);
//! - one source file: it is copied under the destination name;
//! - several sources: they go into the destination folder.
//!
//! `except` paths become anchored `--exclude` rules; `except_pat` and `noexec` are decided
//! here, by walking the sources, and become rules too.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::distfile::{Entry, Install};

/// How the names a push itemizes map back to the source and the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Sources copied into `remote_dir`, each under its base name.
    Into {
        /// The folder on the host.
        remote_dir: String,
        /// Base name on the host, path here.
        roots: Vec<(String, String)>,
    },
    /// A folder's contents copied into a folder.
    Contents {
        /// The folder here.
        local: String,
        /// The folder on the host.
        remote: String,
    },
    /// One file copied under another name.
    Solo {
        /// The file here.
        local: String,
        /// Its name on the host.
        remote: String,
    },
}

/// One prsync transfer to every host of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// Where the names go.
    pub layout: Layout,
    /// `--exclude` rules, anchored at the transfer's root.
    pub excludes: Vec<String>,
}

impl Push {
    /// The source operands for prsync.
    pub fn sources(&self) -> Vec<String> {
        match &self.layout {
            Layout::Into { roots, .. } => roots.iter().map(|(_, l)| l.clone()).collect(),
            Layout::Contents { local, .. } => vec![format!("{}/", local.trim_end_matches('/'))],
            Layout::Solo { local, .. } => vec![local.clone()],
        }
    }

    /// The destination operand (after the `:`).
    pub fn dest(&self) -> String {
        match &self.layout {
            Layout::Into { remote_dir, .. } => format!("{}/", remote_dir.trim_end_matches('/')),
            Layout::Contents { remote, .. } => format!("{}/", remote.trim_end_matches('/')),
            Layout::Solo { remote, .. } => remote.clone(),
        }
    }

    /// The folder that must exist on the host before the transfer, if any.
    pub fn parent_needed(&self) -> Option<String> {
        let dir = match &self.layout {
            Layout::Into { remote_dir, .. } => remote_dir.clone(),
            Layout::Contents { remote, .. } | Layout::Solo { remote, .. } => parent(remote),
        };
        (!matches!(dir.as_str(), "" | "." | "/")).then_some(dir)
    }

    /// The source path and the host path of an itemized name (without a trailing `/`).
    pub fn locate(&self, item: &str) -> Option<(String, String)> {
        let item = item.trim_end_matches('/');
        match &self.layout {
            Layout::Into { remote_dir, roots } => {
                let (first, rest) = match item.split_once('/') {
                    Some((f, r)) => (f, Some(r)),
                    None => (item, None),
                };
                let (_, local) = roots.iter().find(|(n, _)| n == first)?;
                let tail = rest.map(|r| format!("/{r}")).unwrap_or_default();
                Some((
                    format!("{local}{tail}"),
                    join(remote_dir, &format!("{first}{tail}")),
                ))
            }
            Layout::Contents { local, remote } => {
                if item == "." || item.is_empty() {
                    return None;
                }
                Some((join(local, item), join(remote, item)))
            }
            Layout::Solo { local, remote } => Some((local.clone(), remote.clone())),
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

fn parent(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => trimmed[..i].to_string(),
        None => ".".into(),
    }
}

fn base(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// A source name as read here: `~` is this user's home.
pub fn local_path(src: &str) -> String {
    match src.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!(
                "{}{rest}",
                crate::distfile::expand::home().trim_end_matches('/')
            )
        }
        _ => src.to_string(),
    }
}

/// A name as the host reads it: `~/x` is `x` in the login's home, where the agent starts.
pub fn remote_path(name: &str) -> String {
    if name == "~" {
        return ".".into();
    }
    match name.strip_prefix("~/") {
        Some(rest) => rest.to_string(),
        None => name.to_string(),
    }
}

/// The transfers of one install command of `entry`, with the errors met (a source that
/// does not exist is named and left out, as rdist does).
pub fn plan_install(
    entry: &Entry,
    install: &Install,
    only: Option<&[String]>,
) -> (Vec<Push>, Vec<String>) {
    let opts = install.opts;
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    for src in &entry.sources {
        if only.is_some_and(|names| !names.contains(src)) {
            continue;
        }
        let local = local_path(src);
        if entry
            .except
            .iter()
            .any(|e| e == src || local_path(e) == local)
        {
            continue;
        }
        let meta = if opts.has("follow") {
            std::fs::metadata(&local)
        } else {
            std::fs::symlink_metadata(&local)
        };
        match meta {
            Ok(m) => sources.push((src.clone(), local, m.is_dir())),
            Err(e) => errors.push(format!("{local}: cannot read it: {}", reason(&e))),
        }
    }
    let whole = opts.has("whole") && install.dest.is_some();
    let mut layouts: Vec<Layout> = Vec::new();
    let mut into: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    // rdist decides "the destination is a folder" from the names listed left of `->`, before
    // any `except` (docmd.c: `ddir = files->n_next != NULL`): two names listed, one of them
    // excepted, still put the other *inside* the destination. Deciding after the except put
    // a folder's contents there instead, and `-oremove` then deleted the rest.
    let listed_one = entry.sources.len() == 1;
    match &install.dest {
        Some(dest) if !whole && listed_one && sources.len() == 1 => {
            let (_, local, is_dir) = &sources[0];
            let dest = remote_path(dest);
            let dot = base(&dest) == ".";
            if *is_dir || dot {
                let remote = if dot { parent(&dest) } else { dest };
                if *is_dir {
                    layouts.push(Layout::Contents {
                        local: local.clone(),
                        remote,
                    });
                } else {
                    into.entry(remote)
                        .or_default()
                        .push((base(local), local.clone()));
                }
            } else {
                layouts.push(Layout::Solo {
                    local: local.clone(),
                    remote: dest,
                });
            }
        }
        Some(dest) if !whole => {
            let dir = remote_path(dest);
            let dir = if base(&dir) == "." { parent(&dir) } else { dir };
            for (_, local, _) in &sources {
                into.entry(dir.clone())
                    .or_default()
                    .push((base(local), local.clone()));
            }
        }
        _ => {
            for (src, local, _) in &sources {
                let remote = if whole {
                    // The whole source path below the destination; for `~/x`, the part after
                    // the home.
                    let rel = match src.strip_prefix("~/") {
                        Some(r) => r.to_string(),
                        None => local.trim_start_matches('/').to_string(),
                    };
                    join(&remote_path(install.dest.as_deref().unwrap_or("")), &rel)
                } else {
                    remote_path(src)
                };
                into.entry(parent(&remote))
                    .or_default()
                    .push((base(&remote), local.clone()));
            }
        }
    }
    for (remote_dir, roots) in into {
        // Two sources with the same base name in one folder: one rsync each, so that the
        // names map back without doubt.
        let mut batches: Vec<Vec<(String, String)>> = Vec::new();
        for root in roots {
            match batches
                .iter_mut()
                .find(|b| b.iter().all(|(n, _)| *n != root.0))
            {
                Some(b) => b.push(root),
                None => batches.push(vec![root]),
            }
        }
        for roots in batches {
            layouts.push(Layout::Into {
                remote_dir: remote_dir.clone(),
                roots,
            });
        }
    }
    let pushes = layouts
        .into_iter()
        .map(|layout| {
            let excludes = excludes(&layout, entry, install);
            Push { layout, excludes }
        })
        .collect();
    (pushes, errors)
}

/// The local roots of a layout: (anchored prefix of the transfer, path here).
fn roots(layout: &Layout) -> Vec<(String, String)> {
    match layout {
        Layout::Into { roots, .. } => roots
            .iter()
            .map(|(n, l)| (format!("/{n}"), l.clone()))
            .collect(),
        Layout::Contents { local, .. } => vec![(String::new(), local.clone())],
        Layout::Solo { local, .. } => vec![(String::new(), local.clone())],
    }
}

/// The `--exclude` rules of a push: `except` paths, and what `except_pat`, `noexec` and
/// `nodescend` leave out.
fn excludes(layout: &Layout, entry: &Entry, install: &Install) -> Vec<String> {
    let opts = install.opts;
    let mut rules = Vec::new();
    let roots = roots(layout);
    for e in &entry.except {
        let e = local_path(e);
        for (anchor, local) in &roots {
            if let Some(rest) = e.strip_prefix(local.as_str()) {
                if rest.starts_with('/') {
                    rules.push(format!("{anchor}{rest}"));
                }
            }
        }
    }
    let walk = !entry.except_pat.is_empty() || opts.has("noexec");
    for (anchor, local) in &roots {
        if opts.has("nodescend") && Path::new(local).is_dir() {
            rules.push(format!("{anchor}/*"));
            continue;
        }
        if !walk {
            continue;
        }
        let mut it = walkdir::WalkDir::new(local)
            .follow_links(opts.has("follow"))
            .sort_by_file_name()
            .into_iter();
        while let Some(Ok(item)) = it.next() {
            let path = item.path().to_string_lossy().into_owned();
            let pattern_hit = entry.except_pat.iter().any(|p| p.regex.is_match(&path));
            let exec_hit =
                opts.has("noexec") && item.file_type().is_file() && is_binary(item.path());
            if pattern_hit || exec_hit {
                let rest = path.strip_prefix(local.as_str()).unwrap_or("");
                let rule = if rest.is_empty() {
                    // The root itself: leave it out whole.
                    if anchor.is_empty() {
                        "/*".to_string()
                    } else {
                        anchor.clone()
                    }
                } else {
                    format!("{anchor}{rest}")
                };
                rules.push(rule);
                if item.file_type().is_dir() {
                    it.skip_current_dir();
                }
            }
        }
    }
    rules
}

/// rdist's `noexec`: an executable in a binary format (ELF, or the a.out magic numbers
/// rdist knew).
fn is_binary(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.permissions().mode() & 0o111 == 0 {
        return false;
    }
    let mut head = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    use std::io::Read;
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    if head == *b"\x7fELF" {
        return true;
    }
    let magic = u16::from_le_bytes([head[0], head[1]]);
    matches!(magic, 0o407 | 0o410 | 0o413)
}

fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// What an itemized line says happened to a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// It did not exist on the host.
    Install,
    /// It differed.
    Update,
    /// It is gone from the source and was removed (`remove`).
    Remove,
    /// Only a folder's times or modes, or nothing: rdist says nothing of it.
    Quiet,
}

/// One itemized line: the change, whether it is a regular file, and the name. None for a line
/// that is not an itemized one (a message to pass on).
pub fn parse_itemize(line: &str) -> Option<(Change, bool, String)> {
    if let Some(name) = line.strip_prefix("*deleting") {
        let name = name.trim_start();
        return Some((Change::Remove, !name.ends_with('/'), name.to_string()));
    }
    let code: Vec<char> = line.chars().take(11).collect();
    if code.len() < 11 || line.chars().nth(11) != Some(' ') {
        return None;
    }
    if !"<>ch.".contains(code[0]) || !"fdLDS".contains(code[1]) {
        return None;
    }
    let name: String = line.chars().skip(12).collect();
    let name = match (code[1], name.find(" -> ")) {
        ('L', Some(i)) => name[..i].to_string(),
        _ => name,
    };
    let name = match name.find(" => ") {
        Some(i) if code[0] == 'h' => name[..i].to_string(),
        _ => name,
    };
    let rest: String = code[2..].iter().collect();
    let change = if rest.chars().all(|c| c == '+') {
        Change::Install
    } else if code[0] == '.'
        && (matches!(code[1], 'd' | 'L') || rest.chars().all(|c| c == '.' || c == ' '))
    {
        // rdist compares a symlink by what it points to alone: its times or owner changing
        // is no update.
        Change::Quiet
    } else {
        Change::Update
    };
    Some((change, code[1] == 'f', name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distfile::options::DistOpts;

    fn entry(sources: &[&str]) -> Entry {
        Entry {
            label: None,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            target: crate::distfile::Target::Hosts(vec!["n".into()]),
            installs: vec![],
            notify: vec![],
            except: vec![],
            except_pat: vec![],
            specials: vec![],
            cmdspecials: vec![],
            pos: Default::default(),
        }
    }

    fn install(dest: Option<&str>, opts: &str) -> Install {
        Install {
            opts: if opts.is_empty() {
                DistOpts::default()
            } else {
                DistOpts::parse_list(opts).unwrap()
            },
            dest: dest.map(String::from),
            pos: Default::default(),
        }
    }

    /// A source tree private to one test (tests run in parallel threads of one process).
    fn tree(test: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("prdist-push-{test}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc/sub")).unwrap();
        std::fs::write(dir.join("etc/hosts"), "h").unwrap();
        std::fs::write(dir.join("etc/x.o"), "o").unwrap();
        std::fs::write(dir.join("etc/sub/y"), "y").unwrap();
        dir
    }

    #[test]
    fn layouts_follow_rdist_naming() {
        let dir = tree("layouts_follow_rdist_naming");
        let d = dir.display().to_string();
        let etc = format!("{d}/etc");
        let hosts = format!("{d}/etc/hosts");
        // No destination: the same path on the host.
        let (p, e) = plan_install(&entry(&[&etc]), &install(None, ""), None);
        assert!(e.is_empty());
        assert_eq!(p[0].sources(), std::slice::from_ref(&etc));
        assert_eq!(p[0].dest(), format!("{d}/"));
        assert_eq!(
            p[0].locate("etc/hosts"),
            Some((hosts.clone(), hosts.clone()))
        );
        // A folder and a destination: its contents go there.
        let (p, _) = plan_install(&entry(&[&etc]), &install(Some("/tmp/x"), ""), None);
        assert_eq!(p[0].sources(), [format!("{etc}/")]);
        assert_eq!(p[0].dest(), "/tmp/x/");
        assert_eq!(p[0].parent_needed().as_deref(), Some("/tmp"));
        assert_eq!(p[0].locate("sub/y").unwrap().1, "/tmp/x/sub/y");
        assert_eq!(p[0].locate("./"), None);
        // One file and a destination: renamed.
        let (p, _) = plan_install(&entry(&[&hosts]), &install(Some("/tmp/h2"), ""), None);
        assert_eq!(p[0].dest(), "/tmp/h2");
        assert_eq!(
            p[0].locate("hosts").unwrap(),
            (hosts.clone(), "/tmp/h2".into())
        );
        // whole: the full path below the destination.
        let (p, _) = plan_install(&entry(&[&hosts]), &install(Some("/tmp/w"), "whole"), None);
        assert_eq!(p[0].dest(), format!("/tmp/w{d}/etc/"));
        // Missing sources are named.
        let (_, e) = plan_install(&entry(&["/nonexistent/x"]), &install(None, ""), None);
        assert_eq!(
            e,
            ["/nonexistent/x: cannot read it: no such file or directory"]
        );
        // ~ is the home of the login on the host.
        assert_eq!(remote_path("~/.profile"), ".profile");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// issue 17: `( dirA dirB ) -> h install -oremove /tmp/etc; except dirB;` installs
    /// `/tmp/etc/dirA`, as rdist does, never dirA's contents into `/tmp/etc`.
    #[test]
    fn two_names_listed_go_inside_the_destination_whatever_is_excepted() {
        let dir = tree("two_names_listed");
        std::fs::create_dir_all(dir.join("other")).unwrap();
        let d = dir.display().to_string();
        let (etc, other) = (format!("{d}/etc"), format!("{d}/other"));
        let mut e = entry(&[&etc, &other]);
        e.except = vec![other.clone()];
        let (p, errors) = plan_install(&e, &install(Some("/tmp/etc"), "remove"), None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].sources(), std::slice::from_ref(&etc));
        assert_eq!(p[0].dest(), "/tmp/etc/");
        assert_eq!(p[0].locate("etc/hosts").unwrap().1, "/tmp/etc/etc/hosts");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn excepts_become_anchored_rules() {
        let dir = tree("excepts_become_anchored_rules");
        let d = dir.display().to_string();
        let etc = format!("{d}/etc");
        let mut e = entry(&[&etc]);
        e.except = vec![format!("{etc}/hosts")];
        e.except_pat = vec![crate::distfile::Pattern {
            text: r"\.o$".into(),
            regex: crate::distfile::bre::compile(r"\.o$").unwrap(),
        }];
        let (p, _) = plan_install(&e, &install(None, ""), None);
        assert_eq!(p[0].excludes, ["/etc/hosts", "/etc/x.o"]);
        let (p, _) = plan_install(&e, &install(Some("/tmp/y"), "nodescend"), None);
        assert_eq!(p[0].excludes, ["/hosts", "/*"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn itemized_lines() {
        assert_eq!(
            parse_itemize(">f+++++++++ etc/hosts"),
            Some((Change::Install, true, "etc/hosts".into()))
        );
        assert_eq!(
            parse_itemize(">f.st...... etc/motd"),
            Some((Change::Update, true, "etc/motd".into()))
        );
        // A symlink that points elsewhere is an update; one whose times alone differ is not.
        assert_eq!(
            parse_itemize("cLc.t...... etc/link -> motd"),
            Some((Change::Update, false, "etc/link".into()))
        );
        assert_eq!(
            parse_itemize(".L..t...... etc/link -> motd"),
            Some((Change::Quiet, false, "etc/link".into()))
        );
        assert_eq!(
            parse_itemize("*deleting   etc/old"),
            Some((Change::Remove, true, "etc/old".into()))
        );
        assert_eq!(
            parse_itemize("cd+++++++++ etc/sub/"),
            Some((Change::Install, false, "etc/sub/".into()))
        );
        assert_eq!(
            parse_itemize("cL+++++++++ etc/l -> hosts"),
            Some((Change::Install, false, "etc/l".into()))
        );
        // A folder's new time: itemized, but nothing rdist would print.
        assert_eq!(
            parse_itemize(".d..t...... ./"),
            Some((Change::Quiet, false, "./".into()))
        );
        assert_eq!(parse_itemize("created directory /x"), None);
    }
}
