//! prsync's wire messages (`crates/prsync/src/remote/wire.rs`) and the agent loop that
//! answers them (`serve_sender` in `remote/peer.rs`), fed what a hostile peer could send.
//!
//! The input's first byte picks the mode (low bit) and how many bytes each read returns;
//! the rest is the stream of frames.
//!
//! - Decode: every message is read; file-list entries, signatures, compressed chunks and the
//!   agent's arguments are checked as the receiving side checks them. A message that decodes
//!   encodes and decodes to the same message; a checked entry has a safe name; a chunk never
//!   inflates past `CHUNK`.
//! - Serve: a real `LocalSender` over a small scratch tree answers the stream as the agent
//!   of a pull does (hostile `Want` signatures, `WantRanges`, indexes); it must end with
//!   `Ok` or an error, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prsync::cli::parse_server_args;
use prsync::remote::peer::serve_sender;
use prsync::remote::wire::{unzip, Link, Msg, Shape, CHUNK};
use prsync::sender::{ListOptions, LocalSender};
use prtools_delta::Signature;
use prtools_fuzz::Trickle;
use prtools_sync::filter::FilterList;
use prtools_transport::Progress;

/// Messages read before the stream is left.
const MAX_MESSAGES: usize = 64;

/// The sender's source tree, made once per process: a file with repeats (so hostile
/// signatures find blocks), an empty one, and one in a folder.
fn sender() -> &'static LocalSender {
    static SENDER: OnceLock<LocalSender> = OnceLock::new();
    SENDER.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("prtools-fuzz-prsync-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("scratch folder");
        let repeats: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8 + b'a').collect();
        std::fs::write(dir.join("a"), repeats).expect("write a");
        std::fs::write(dir.join("empty"), b"").expect("write empty");
        std::fs::write(dir.join("sub/b"), b"hello\n").expect("write b");
        let opts = ListOptions {
            recursive: true,
            links: true,
            devices: false,
            specials: false,
            hard_links: false,
            checksum: false,
            copy_links: false,
            ..ListOptions::default()
        };
        let mut source = dir.into_os_string();
        source.push("/");
        let mut sender = LocalSender::list(&[source], &opts, &FilterList::new());
        sender.share_signatures();
        sender
    })
}

fn check(msg: Msg) {
    let shown = format!("{msg:?}");
    let bytes = postcard::to_allocvec(&msg).expect("messages encode");
    let again: Msg = postcard::from_bytes(&bytes).expect("encoded messages decode");
    assert_eq!(shown, format!("{again:?}"));
    match msg {
        Msg::List(entries) => {
            for entry in entries {
                if let Ok(e) = entry.into_entry() {
                    let name = &e.name[..];
                    assert!(
                        name == b"."
                            || (!name.starts_with(b"/")
                                && !name.contains(&0)
                                && name
                                    .split(|&b| b == b'/')
                                    .all(|c| !c.is_empty() && c != b"." && c != b"..")),
                        "unsafe name accepted: {name:?}"
                    );
                }
            }
        }
        Msg::Want {
            signature: Some(bytes),
            ..
        }
        | Msg::Signature(Some(bytes)) => {
            if let Ok(sig) = Signature::from_bytes(&bytes) {
                assert_eq!(sig.to_bytes(), bytes, "a signature reads back differently");
            }
        }
        Msg::Zdata(z) => {
            if let Ok(plain) = unzip(&z) {
                assert!(plain.len() <= CHUNK);
            }
        }
        Msg::Hello { args, .. } => {
            let _ = parse_server_args(&args);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let step = match first >> 1 {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let mut link = Link::new(Trickle::new(stream, step), std::io::sink());
    if first & 1 == 0 {
        for _ in 0..MAX_MESSAGES {
            match link.receive() {
                Ok(msg) => check(msg),
                Err(_) => break,
            }
        }
    } else {
        let mut sender = sender().clone();
        let progress = Progress::new(1, true);
        let _ = serve_sender(&mut sender, &mut link, Shape::default(), &progress, |_| {});
    }
});
