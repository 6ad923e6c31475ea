//! The gather job of an agent: send the named paths, files with their bytes.

use std::io::{Read, Write};
use std::path::PathBuf;

use prtools_sync::{scan_with, Kind, Root, ScanOptions};

use super::{path_of, place, Link};
use crate::protocol::{self, Reply, WireEntry};

pub(super) fn gather<R: Read, W: Write>(
    link: &mut Link<'_, R, W>,
    paths: Vec<Vec<u8>>,
    recursive: bool,
    links: bool,
) -> Result<(), String> {
    let options = ScanOptions {
        recursive,
        follow_links: !links,
        ..ScanOptions::default()
    };
    for path in paths.into_iter().map(path_of) {
        let entries = scan_with(&path, &options)
            .map_err(|e| e.to_string())?
            .entries;
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root = Root::open(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in &entries {
            link.send(&Reply::Entry(WireEntry::from(entry)))?;
            if let Kind::File { .. } = entry.kind {
                // Reading through links is what was asked for unless --links: rpdcp sends
                // what they point to. Only writes are confined, and they happen elsewhere.
                let file = if links {
                    root.open_file(&entry.path)
                } else {
                    std::fs::File::open(folder.join(entry.path.as_path()))
                };
                let mut file = file.map_err(|e| place(&folder, &entry.path, e))?;
                let mut buf = protocol::data_buffer();
                loop {
                    let n = file
                        .read(&mut buf[protocol::DATA_START..])
                        .map_err(|e| place(&folder, &entry.path, e))?;
                    if n == 0 {
                        break;
                    }
                    link.send_data(&mut buf[..protocol::DATA_START + n])?;
                }
                link.send(&Reply::EndFile)?;
            }
        }
    }
    link.send(&Reply::EndOfTree)?;
    link.flush()
}
