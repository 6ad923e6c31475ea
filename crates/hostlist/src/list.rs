//! One `-w`/`-x` value, hostfile line or group entry, split into what it names: host
//! expressions, `^files` and `@groups`, each with the user and port written beside it.
//!
//! Nothing is read here; the [resolver](crate::resolver) reads files and groups. Parsing the
//! whole value first means a typo late in a long list is reported before any file is opened.

use std::ops::Range;
use std::path::PathBuf;

use crate::error::{Error, SyntaxKind};
use crate::expand::{check_limit, parse_pattern, split, Pattern};
use crate::host::parse_port;
use crate::MAX_HOSTS;

/// One name of a list with what was written beside it.
#[derive(Debug)]
pub(crate) struct Entry {
    /// `-` before the name: the hosts it names are left out (pdsh's `-w a[1-4],-a2`).
    pub(crate) negate: bool,
    /// `TYPE:` before the name: how to reach its hosts (pdsh's `exec:n[1-4]`).
    pub(crate) rcmd: Option<String>,
    /// `user@` before the name, else the one before the whole list (pdsh's `-w user@a,b`).
    pub(crate) user: Option<String>,
    /// `:port` after the name.
    pub(crate) port: Option<u16>,
    /// What the name stands for.
    pub(crate) target: Target,
}

/// What one name of a list stands for.
#[derive(Debug)]
pub(crate) enum Target {
    /// Host names, `node[1-4]`.
    Hosts(Pattern),
    /// `^FILE`: the hosts listed in a file.
    File(PathBuf),
    /// `@NAME`: the hosts of each group the pattern names (`@rack[1-2]` is two groups).
    Groups(Pattern),
    /// `/REGEX/`: keeps only the hosts whose name matches (with `-`, leaves them out).
    Regex(regex::Regex),
}

/// Parses a list. `allow_files` is false inside hostfiles and groups, which may not name
/// files, so that files can never include each other in a circle.
///
/// A `user@` in front of the whole list applies to every name in it that has none of its own,
/// as in pdsh: `root@a,b` is root on both; `a,root@b` is root on `b` only.
pub(crate) fn parse_list(text: &str, allow_files: bool) -> Result<Vec<Entry>, Error> {
    let (list_user, body) = match text.find('@') {
        Some(at) if at > 0 && !text[..at].contains(|c: char| is_list_char(c)) => {
            (Some(text[..at].to_string()), at + 1..text.len())
        }
        _ => (None, 0..text.len()),
    };
    let mut entries = Vec::new();
    let mut patterns = Vec::new();
    for item in split(text, body)? {
        let entry = parse_item(text, item, allow_files)?;
        if let Target::Hosts(p) | Target::Groups(p) = &entry.target {
            patterns.push(p.clone());
        }
        let user = match entry.target {
            Target::Regex(_) => None,
            _ => entry.user.or_else(|| list_user.clone()),
        };
        entries.push(Entry { user, ..entry });
    }
    check_limit(text, &patterns, MAX_HOSTS)?;
    Ok(entries)
}

/// Parses the group names of a `-g` value: a comma list of names, each with or without `@`,
/// each possibly a range (`rack[1-2]`).
pub(crate) fn parse_group_arg(text: &str) -> Result<Vec<Pattern>, Error> {
    let mut patterns = Vec::new();
    for item in split(text, 0..text.len())? {
        let start = item.start + usize::from(text[item.clone()].starts_with('@'));
        patterns.push(group_pattern(text, start..item.end)?);
    }
    check_limit(text, &patterns, MAX_HOSTS)?;
    Ok(patterns)
}

/// Characters that end a leading `user@`: a `@` after any of them belongs to a later name.
fn is_list_char(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '^' | ':') || c.is_whitespace()
}

/// Parses `[-][TYPE:][user@](^FILE | @GROUP[:port] | HOSTS[:port])` or `[-]/REGEX/`; the
/// operators `-` and `/REGEX/` only where files may be named (`-w` and `-x` values).
fn parse_item(full: &str, item: Range<usize>, allow_files: bool) -> Result<Entry, Error> {
    let mut start = item.start;
    let negate = allow_files && full[item.clone()].len() > 1 && full[start..].starts_with('-');
    start += usize::from(negate);
    let text = &full[start..item.end];
    if allow_files && text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
        let regex = regex::Regex::new(&text[1..text.len() - 1])
            .map_err(|e| Error::syntax(full, start, SyntaxKind::BadRegex(one_line(&e))))?;
        return Ok(Entry {
            negate,
            rcmd: None,
            user: None,
            port: None,
            target: Target::Regex(regex),
        });
    }
    let rcmd = rcmd_prefix(text);
    if let Some(rcmd) = rcmd {
        start += rcmd.len() + 1;
    }
    let entry = parse_name(full, start..item.end, allow_files)?;
    Ok(Entry {
        negate,
        rcmd: rcmd.map(String::from),
        ..entry
    })
}

/// The `TYPE` of a leading `TYPE:` (`exec:n[1-4]`, `ssh:root@n1`): lowercase letters before
/// a colon that does not start a port (`n1:22`) or an IPv6 address (`fd::1`).
fn rcmd_prefix(text: &str) -> Option<&str> {
    let (word, rest) = text.split_once(':')?;
    let starts_name = rest
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_digit() && c != ':' && c != '[');
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase()) && starts_name)
        .then_some(word)
}

/// The regex crate's reason, on one line.
fn one_line(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("invalid")
        .trim_start_matches("error: ")
        .to_string()
}

/// Parses `[user@](^FILE | @GROUP[:port] | HOSTS[:port])`.
fn parse_name(full: &str, item: Range<usize>, allow_files: bool) -> Result<Entry, Error> {
    let text = &full[item.clone()];
    if let Some(path) = text.strip_prefix('^') {
        if !allow_files {
            return Err(Error::syntax(full, item.start, SyntaxKind::FileNotAllowed));
        }
        if path.is_empty() {
            return Err(Error::syntax(full, item.end, SyntaxKind::MissingFile));
        }
        return Ok(Entry {
            negate: false,
            rcmd: None,
            user: None,
            port: None,
            target: Target::File(PathBuf::from(path)),
        });
    }
    // A user name comes before any bracket; an `@` at the start is a group.
    let (user, start) = match text.find('@') {
        Some(at) if at > 0 && !text[..at].contains('[') => {
            (Some(text[..at].to_string()), item.start + at + 1)
        }
        _ => (None, item.start),
    };
    if let Some(space) = user.as_deref().and_then(|u| u.find(char::is_whitespace)) {
        return Err(Error::syntax(full, item.start + space, SyntaxKind::Space));
    }
    let rest = &full[start..item.end];
    let is_group = rest.starts_with('@');
    let name_start = start + usize::from(is_group);
    let (name_end, port) = match port_colon(rest) {
        Some(colon) => {
            let at = start + colon + 1;
            (
                start + colon,
                Some(parse_port(full, at, &full[at..item.end])?),
            )
        }
        None => (item.end, None),
    };
    if name_start == name_end {
        let kind = if is_group {
            SyntaxKind::MissingGroup
        } else {
            SyntaxKind::MissingHost
        };
        return Err(Error::syntax(full, name_start, kind));
    }
    let target = if is_group {
        Target::Groups(group_pattern(full, name_start..name_end)?)
    } else {
        Target::Hosts(parse_pattern(full, name_start..name_end)?)
    };
    Ok(Entry {
        negate: false,
        rcmd: None,
        user,
        port,
        target,
    })
}

/// The byte offset of the `:` before a port: the one colon outside brackets. With several
/// colons the name is an IPv6 address and has no port.
fn port_colon(text: &str) -> Option<usize> {
    let mut in_bracket = false;
    let mut colons = text.char_indices().filter(|&(_, c)| {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            _ => {}
        }
        c == ':' && !in_bracket
    });
    match (colons.next(), colons.next()) {
        (Some((at, _)), None) => Some(at),
        _ => None,
    }
}

/// Parses a group name, which may hold ranges; outside brackets only letters, digits, `-`,
/// `_` and `.` are allowed, the characters a groups file line may define.
fn group_pattern(full: &str, name: Range<usize>) -> Result<Pattern, Error> {
    if name.is_empty() {
        return Err(Error::syntax(full, name.start, SyntaxKind::MissingGroup));
    }
    let mut in_bracket = false;
    for (i, c) in full[name.clone()].char_indices() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            c if !in_bracket && !is_group_char(c) => {
                return Err(Error::syntax(
                    full,
                    name.start + i,
                    SyntaxKind::BadGroupChar(c),
                ));
            }
            _ => {}
        }
    }
    parse_pattern(full, name)
}

/// Whether a group name may hold `c`.
pub(crate) fn is_group_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A readable form of each entry: `user|port|kind:what`.
    fn show(text: &str, allow_files: bool) -> Vec<String> {
        parse_list(text, allow_files)
            .unwrap()
            .into_iter()
            .map(|e| {
                let what = match e.target {
                    Target::Hosts(p) => {
                        let mut names = Vec::new();
                        p.push_names(&mut names);
                        format!("hosts:{}", names.join(" "))
                    }
                    Target::File(path) => format!("file:{}", path.display()),
                    Target::Groups(p) => {
                        let mut names = Vec::new();
                        p.push_names(&mut names);
                        format!("groups:{}", names.join(" "))
                    }
                    Target::Regex(re) => format!("regex:{re}"),
                };
                format!(
                    "{}{}{}|{}|{what}",
                    if e.negate { "-" } else { "" },
                    e.rcmd.map(|r| r + ":").unwrap_or_default(),
                    e.user.unwrap_or_default(),
                    e.port.map(|p| p.to_string()).unwrap_or_default()
                )
            })
            .collect()
    }

    fn err(text: &str, allow_files: bool) -> String {
        parse_list(text, allow_files).unwrap_err().to_string()
    }

    #[test]
    fn names_files_and_groups() {
        assert_eq!(
            show("a,^/tmp/f,@g,n[1-2]", true),
            ["||hosts:a", "||file:/tmp/f", "||groups:g", "||hosts:n1 n2"]
        );
    }

    #[test]
    fn user_before_the_list_applies_to_every_name() {
        assert_eq!(
            show("root@n[1-2],bob@b,@g", true),
            ["root||hosts:n1 n2", "bob||hosts:b", "root||groups:g"]
        );
        assert_eq!(show("a,root@b", true), ["||hosts:a", "root||hosts:b"]);
        assert_eq!(show("root@@g", true), ["root||groups:g"]);
        assert_eq!(show("root@^f", true), ["root||file:f"]);
    }

    #[test]
    fn ports_per_name() {
        assert_eq!(
            show("n[1-2]:2222,m,@g:22", true),
            ["|2222|hosts:n1 n2", "||hosts:m", "|22|groups:g"]
        );
        assert_eq!(show("fe80::1", true), ["||hosts:fe80::1"]);
    }

    /// pdsh's operators in a `-w` value: exclusion, regex filters, `TYPE:` prefixes.
    #[test]
    fn operators_in_command_line_values() {
        assert_eq!(
            show("foo[9-11],-foo10,/0$/,-/^x/,-^f", true),
            [
                "||hosts:foo9 foo10 foo11",
                "-||hosts:foo10",
                "||regex:0$",
                "-||regex:^x",
                "-||file:f"
            ]
        );
        assert_eq!(
            show("exec:foo[1-2],exec:bar@b,n1:22,fd::1", true),
            [
                "exec:||hosts:foo1 foo2",
                "exec:bar||hosts:b",
                "|22|hosts:n1",
                "||hosts:fd::1"
            ]
        );
        // In hostfiles and groups a leading `-` stays part of the name, as before.
        assert_eq!(show("-a", false), ["||hosts:-a"]);
        assert_eq!(
            err("a,/[/", true),
            "bad host list 'a,/[/': column 3: bad regular expression: unclosed character class"
        );
    }

    #[test]
    fn group_names_may_hold_ranges() {
        assert_eq!(show("@rack[1-2]", true), ["||groups:rack1 rack2"]);
    }

    #[test]
    fn errors_point_into_the_whole_value() {
        assert_eq!(
            err("a,@", true),
            "bad host list 'a,@': column 4: missing group name after '@', write @name"
        );
        assert_eq!(
            err("a,@g!", true),
            "bad host list 'a,@g!': column 5: '!' cannot be part of a group name, \
             use letters, digits, '-', '_' or '.'"
        );
        assert_eq!(
            err("a,^", true),
            "bad host list 'a,^': column 4: missing file name after '^', write ^/path/to/hostfile"
        );
        assert_eq!(
            err("a,^f", false),
            "bad host list 'a,^f': column 3: ^file is read only from -w and -x values, \
             list the hosts here instead"
        );
        assert_eq!(
            err("root@n[1-2]:x", true),
            "bad host list 'root@n[1-2]:x': column 13: port 'x' is not a number from 1 to 65535, \
             write host:22"
        );
        assert_eq!(parse_list("root@", true).unwrap_err().column(), Some(6));
        assert_eq!(parse_list("a,u@:22", true).unwrap_err().column(), Some(5));
        assert_eq!(
            parse_list("x,root@n[5-", true).unwrap_err().column(),
            Some(12)
        );
    }

    #[test]
    fn the_limit_counts_the_whole_list() {
        assert_eq!(
            parse_list("a[1-600000],b[1-600000]", true)
                .unwrap_err()
                .column(),
            Some(14)
        );
    }

    #[test]
    fn group_args() {
        let names: Vec<String> = parse_group_arg("a,@b,r[1-2]")
            .unwrap()
            .iter()
            .flat_map(|p| {
                let mut v = Vec::new();
                p.push_names(&mut v);
                v
            })
            .collect();
        assert_eq!(names, ["a", "b", "r1", "r2"]);
        assert_eq!(parse_group_arg("").unwrap_err().column(), Some(1));
        assert_eq!(parse_group_arg("a,@").unwrap_err().column(), Some(4));
        assert_eq!(parse_group_arg("a b").unwrap_err().column(), Some(2));
    }
}
