//! A mail folder cut short by another process while pgrep-mail has it mapped (a mail client
//! compacting an mbox): pgrep-mail died of SIGBUS. GNU grep reads, so it sees the folder as
//! it is; pgrep-mail now searches it again as it is, with the same output and status. The
//! cut is staged by a preloaded library (`prtools_tests::shrink`).

use std::fmt::Write as _;
use std::process::Command;

use prtools_tests::shrink::{self, Shrink};

mod common;
use common::{pgrep_mail, scratch};

/// Messages enough to pass the size from which pgrep-mail maps a file.
fn mailbox(messages: usize) -> String {
    let mut text = String::new();
    for i in 0..messages {
        let _ = write!(
            text,
            "From a@b Mon Jan  1 00:00:00 2024\nSubject: s{i}\n\nbody {i} hello\n\n"
        );
    }
    text
}

#[test]
fn a_mapped_folder_cut_short_is_searched_as_it_is_now() {
    let dir = scratch("cut-short");
    let so = shrink::build(&dir);
    for args in [&["-c", "hello"][..], &["-v", "hello"], &["-l", "hello"]] {
        let mbox = dir.join("mbox");
        std::fs::write(&mbox, mailbox(20_000)).unwrap();
        assert!(std::fs::metadata(&mbox).unwrap().len() > 1 << 20);
        let mut ours = pgrep_mail(&dir);
        ours.args(args).arg("mbox");
        shrink::preload(&mut ours, &so, &mbox, Shrink::OnMap);
        let ours = ours.output().unwrap();
        assert_eq!(
            std::fs::metadata(&mbox).unwrap().len(),
            0,
            "the cut was made"
        );
        let grep = Command::new("grep")
            .args(args)
            .arg("mbox")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            (ours.status.code(), &ours.stdout, &ours.stderr),
            (grep.status.code(), &grep.stdout, &grep.stderr),
            "{args:?}"
        );
    }
}
