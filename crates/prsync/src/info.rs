//! `--info=FLAGS` and `--debug=FLAGS`: rsync's fine-grained output levels.
//!
//! Both take words with an optional level (`name2`, `progress0`, `all`, `none`), comma
//! separated; an unknown word is refused in rsync's words. prsync acts on the `--info`
//! levels that change what a transfer prints (`name`, `progress`, `stats`); the other words,
//! and every `--debug` word, are accepted so that scripts written for rsync run, and change
//! nothing.

/// rsync's `--info` words.
const INFO_WORDS: &[&str] = &[
    "backup", "copy", "del", "flist", "misc", "mount", "name", "nonreg", "progress", "remove",
    "skip", "stats", "symsafe",
];

/// rsync's `--debug` words.
const DEBUG_WORDS: &[&str] = &[
    "acl", "backup", "bind", "chdir", "connect", "cmd", "del", "deltasum", "dup", "exit", "filter",
    "flist", "fuzzy", "genr", "hash", "hlink", "iconv", "io", "nstr", "own", "proto", "recv",
    "send", "time",
];

/// What each `--info` word names, for `--info=help`.
const INFO_HELP: &[(&str, &str)] = &[
    ("BACKUP", "Name each backup made"),
    ("COPY", "Name files copied on the receiving side"),
    ("DEL", "Name deletions on the receiving side"),
    ("FLIST", "Name the building of the file list"),
    ("MISC", "Name other events"),
    ("MOUNT", "Name mounts found or skipped"),
    ("NAME", "1) Name what changes, 2) also what is up to date"),
    ("NONREG", "Name non-regular files skipped"),
    (
        "PROGRESS",
        "1) Progress per file, 2) for the whole transfer",
    ),
    ("REMOVE", "Name files removed on the sending side"),
    ("SKIP", "Name files skipped by the transfer's options"),
    ("STATS", "1) The closing summary, 2) the --stats block"),
    ("SYMSAFE", "Name unsafe symlinks"),
];

/// What each `--debug` word covers, for `--debug=help`; prsync prints no debug output.
const DEBUG_HELP: &[(&str, &str)] = &[
    ("ACL", "ACLs"),
    ("BACKUP", "Backups"),
    ("BIND", "Socket binds"),
    ("CHDIR", "Folder changes"),
    ("CONNECT", "Connections"),
    ("CMD", "Commands run"),
    ("DEL", "Deletions"),
    ("DELTASUM", "Delta checksums"),
    ("DUP", "Duplicate names"),
    ("EXIT", "Exits"),
    ("FILTER", "Filter rules"),
    ("FLIST", "The file list"),
    ("FUZZY", "Fuzzy matching"),
    ("GENR", "The generator"),
    ("HASH", "Hash tables"),
    ("HLINK", "Hard links"),
    ("ICONV", "Character conversion"),
    ("IO", "Input and output"),
    ("NSTR", "Negotiation"),
    ("OWN", "Owners"),
    ("PROTO", "The protocol"),
    ("RECV", "The receiver"),
    ("SEND", "The sender"),
    ("TIME", "Times set"),
];

/// The `--info=help` or `--debug=help` text, when one of `values` asks for it (rsync
/// prints it and exits 0, whatever else the command line says).
pub fn help(values: &[String], option: &str) -> Option<String> {
    let asked = values
        .iter()
        .flat_map(|v| v.split(','))
        .any(|w| w.eq_ignore_ascii_case("help"));
    if !asked {
        return None;
    }
    let table = if option == "--info" {
        INFO_HELP
    } else {
        DEBUG_HELP
    };
    let mut out = "Use OPT or OPT1 for level 1 output, OPT2 for level 2, etc.; OPT0 silences.\n\n"
        .to_string();
    for (word, what) in table {
        out += &format!("{word:<10} {what}\n");
    }
    out += &format!("{:<10} Set every {option} word (e.g. all4)\n", "ALL");
    out += &format!(
        "{:<10} Silence every {option} word (same as all0)\n",
        "NONE"
    );
    out += &format!("{:<10} Print this list\n", "HELP");
    Some(out)
}

/// rsync's highest level.
const MAX_LEVEL: u8 = 4;

/// The `--info` levels prsync acts on; `None` where the option did not set one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// `name`: 1 names what changes (as `-v`), 2 also what is up to date (as `-vv`).
    pub name: Option<u8>,
    /// `progress`: 1 is `--progress`.
    pub progress: Option<u8>,
    /// `stats`: 1 the closing summary (as `-v`), 2 the `--stats` block.
    pub stats: Option<u8>,
    /// `backup`: 1 names each backup made (`backed up x to x~`), as `-vv` does.
    pub backup: Option<u8>,
    /// `skip`: 1 says why a file was skipped (`x is newer`), as `-vv` does; 2 also how an
    /// existing one differs.
    pub skip: Option<u8>,
}

/// Parses every `--info` value given, in order: a later word wins.
pub fn parse_info(values: &[String]) -> Result<Info, String> {
    let mut info = Info::default();
    for value in values {
        for (word, level) in words(value, "--info", INFO_WORDS)? {
            let all = word.is_none();
            let set = |name: &str, slot: &mut Option<u8>| {
                if all || word == Some(name) {
                    *slot = Some(level);
                }
            };
            set("name", &mut info.name);
            set("progress", &mut info.progress);
            set("stats", &mut info.stats);
            set("backup", &mut info.backup);
            set("skip", &mut info.skip);
        }
    }
    Ok(info)
}

/// Checks every `--debug` value given.
pub fn check_debug(values: &[String]) -> Result<(), String> {
    for value in values {
        words(value, "--debug", DEBUG_WORDS)?;
    }
    Ok(())
}

/// The level `--debug` gives `word` (the last value naming it, or `all`, wins).
pub fn debug_level(values: &[String], word: &str) -> u8 {
    let mut level = 0;
    for value in values {
        for (name, l) in words(value, "--debug", DEBUG_WORDS).unwrap_or_default() {
            if name.is_none_or(|n| n == word) {
                level = l;
            }
        }
    }
    level
}

/// The words of one value with their levels; `None` for `all` and `none` (every word).
fn words(
    value: &str,
    option: &str,
    known: &[&'static str],
) -> Result<Vec<(Option<&'static str>, u8)>, String> {
    let mut out = Vec::new();
    for item in value.split(',').filter(|i| !i.is_empty()) {
        let digits = item.len() - item.bytes().rev().take_while(u8::is_ascii_digit).count();
        // A word of digits alone is taken as a word, as rsync does.
        let (name, level) = match digits {
            0 => (item, ""),
            n => item.split_at(n),
        };
        let level = match level {
            "" => 1,
            l => l
                .parse::<u32>()
                .map_or(MAX_LEVEL, |l| l.min(u32::from(MAX_LEVEL)) as u8),
        };
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "none" => out.push((None, 0)),
            "all" => out.push((None, level)),
            _ => match known.iter().find(|k| **k == lower) {
                Some(k) => out.push((Some(*k), level)),
                None => return Err(format!("Unknown {option} item: \"{name}\"")),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_levels_and_unknown_items() {
        let info = parse_info(&["name2,progress0".into(), "STATS".into()]).unwrap();
        assert_eq!(
            info,
            Info {
                name: Some(2),
                progress: Some(0),
                stats: Some(1),
                backup: None,
                skip: None,
            }
        );
        let none = parse_info(&["all".into(), "none".into()]).unwrap();
        assert_eq!(none.name, Some(0));
        assert_eq!(
            parse_info(&["nam".into()]).unwrap_err(),
            "Unknown --info item: \"nam\""
        );
        assert!(check_debug(&["HLINK5,del2".into()]).is_ok());
        assert!(check_debug(&["bogus".into()]).is_err());
        let help = help(&["name,help".into()], "--info").unwrap();
        assert!(help.lines().any(|l| l.starts_with("NAME ")));
        assert_eq!(super::help(&["name".into()], "--info"), None);
    }
}
