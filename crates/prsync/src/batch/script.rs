//! `FILE.sh`: the command that replays a batch, made from the command line that wrote it.
//!
//! Every word is single-quoted, so that nothing in a path (a backtick, `$(...)`, a
//! newline) runs when the script does; the destination becomes `${1:-'DEST'}`, so that
//! `sh FILE.sh OTHER` replays into OTHER, as rsync's script does.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use crate::batch::Batch;

/// The script's text.
pub fn text(batch: &Batch) -> Vec<u8> {
    let argv = &batch.argv;
    let mut out = match argv.first() {
        Some(program) => quote(program.as_bytes()),
        None => quote(b"prsync"),
    };
    let mut i = 1;
    while i < argv.len() {
        let arg = argv[i].as_bytes();
        if batch.operands.contains(&i) {
            i += 1;
            continue;
        }
        // The list comes from the batch, not from these names.
        if arg.starts_with(b"--files-from") {
            i += if arg.contains(&b'=') { 1 } else { 2 };
            continue;
        }
        let batch_option = [
            &b"--write-batch"[..],
            b"--only-write-batch",
            b"--read-batch",
        ]
        .into_iter()
        .find(|o| arg == *o || (arg.starts_with(o) && arg[o.len()] == b'='));
        match batch_option {
            Some(o) => {
                let value = match arg.len() > o.len() {
                    true => &arg[o.len() + 1..],
                    false => {
                        i += 1;
                        argv.get(i).map_or(&b""[..], |v| v.as_bytes())
                    }
                };
                out.extend_from_slice(b" --read-batch=");
                out.extend(quote(value));
            }
            None => {
                out.push(b' ');
                out.extend(word(arg));
            }
        }
        i += 1;
    }
    let dest = batch
        .operands
        .last()
        .and_then(|&i| argv.get(i))
        .map_or(&b""[..], |d| d.as_bytes());
    out.extend_from_slice(b" ${1:-");
    out.extend(quote(dest));
    out.extend_from_slice(b"}\n");
    out
}

/// Writes the script beside the batch (`FILE.sh`), executable by its owner.
pub fn write(batch: &Batch, insecure: bool) -> Result<(), String> {
    let mut name = batch.path.as_os_str().to_owned();
    name.push(".sh");
    let path = std::path::PathBuf::from(name);
    let mut file = crate::batch::format::create_checked(&path, 0o700, insecure)?;
    file.write_all(&text(batch)).map_err(|e| {
        format!(
            "batch file '{}' write error: {}",
            path.display(),
            crate::sender::os_reason(&e)
        )
    })
}

/// One word of the command: `--name='value'` when the name is plain, else all quoted.
fn word(arg: &[u8]) -> Vec<u8> {
    if let Some(eq) = arg.iter().position(|&b| b == b'=') {
        let name = &arg[..eq];
        let plain = name.len() > 2
            && name.starts_with(b"--")
            && name[2..]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if plain {
            let mut out = arg[..=eq].to_vec();
            out.extend(quote(&arg[eq + 1..]));
            return out;
        }
    }
    quote(arg)
}

/// `arg` in single quotes, each `'` in it written `'\''`.
fn quote(arg: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in arg {
        match b {
            b'\'' => out.extend_from_slice(b"'\\''"),
            b => out.push(b),
        }
    }
    out.push(b'\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Mode;

    fn script(args: &[&str], operands: &[usize]) -> String {
        let batch = Batch {
            mode: Mode::Write,
            path: "B".into(),
            argv: args.iter().map(|a| a.into()).collect(),
            operands: operands.to_vec(),
        };
        String::from_utf8(text(&batch)).unwrap()
    }

    #[test]
    fn quotes_every_word_as_rsync_does() {
        assert_eq!(
            script(
                &["rsync", "-ai", "--write-batch=B", "src/", "dst/"],
                &[3, 4]
            ),
            "'rsync' '-ai' --read-batch='B' ${1:-'dst/'}\n"
        );
        assert_eq!(
            script(
                &[
                    "p",
                    "--chmod=u+x",
                    "--write-batch",
                    "B",
                    "-e",
                    "ssh",
                    "--",
                    "s/",
                    "-x$(>P)=y/"
                ],
                &[7, 8]
            ),
            "'p' --chmod='u+x' --read-batch='B' '-e' 'ssh' '--' ${1:-'-x$(>P)=y/'}\n"
        );
    }

    #[test]
    fn a_quote_or_odd_option_name_stays_inside_the_quotes() {
        assert_eq!(word(b"it's"), b"'it'\\''s'");
        assert_eq!(word(b"--a$(x)=y"), b"'--a$(x)=y'");
        assert_eq!(word(b"-x=`y`"), b"'-x=`y`'");
    }

    #[test]
    fn files_from_is_left_out() {
        assert_eq!(
            script(
                &["p", "--files-from", "L", "--only-write-batch=B", "s", "d"],
                &[4, 5]
            ),
            "'p' --read-batch='B' ${1:-'d'}\n"
        );
    }
}
