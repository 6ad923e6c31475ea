//! Mail from the `mail` fuzz target's seeds and corpus (`fuzz/fuzz_targets/mail.rs`),
//! replayed on stable with its checks: the messages of a split tile the mailbox in order,
//! the parallel split gives exactly the one-core split, a decoded view keeps its header end
//! inside its text, and a message stored alone, written as mbox, reads back as one message.
//!
//! The real mailboxes are grepmail's test data, read in place from
//! `../shared/data/grepmail/t/mailboxes` (see `../shared/data/README.md`); the test skips
//! them when that folder is not there.

use std::path::PathBuf;

use pgrep_mail::config::Config;
use pgrep_mail::mbox::{
    header_end, is_mbox, is_single_message, split, split_parallel_from, write_as_mbox, Message,
};
use pgrep_mail::mime;
use pgrep_mail::search::{messages, sparse};

/// Splits `data` every way and checks the target's invariants; returns the messages.
fn check(data: &[u8]) -> Vec<Message> {
    let messages = split(data);
    for pair in messages.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "messages do not tile");
    }
    for m in &messages {
        assert!(m.start < m.end && m.start <= m.header_end && m.header_end <= m.end);
        if let Some(d) = mime::decode(&data[m.start..m.end], m.header_end - m.start) {
            assert!(d.header_end <= d.text.len());
        }
    }
    if let Some(last) = messages.last() {
        assert_eq!(last.end, data.len());
    }
    for pieces in 2..=6 {
        let parallel: Vec<Message> = split_parallel_from(data, pieces, 0, &|_| ())
            .into_iter()
            .map(|(m, ())| m)
            .collect();
        assert_eq!(parallel, messages, "{pieces} pieces");
    }
    same_selection_pattern_first(data);
    if is_single_message(data) {
        assert!(header_end(data, 0, data.len()) <= data.len());
        let mut mbox = Vec::new();
        write_as_mbox(data, &mut mbox);
        assert!(is_mbox(&mbox));
        assert_eq!(split(&mbox).len(), 1, "{}", String::from_utf8_lossy(&mbox));
    }
    messages
}

/// The pattern-first message search (`search/sparse.rs`) selects what testing every
/// message of the split selects, on one piece and many, for patterns that hit headers,
/// bodies, decoded text and separator-like lines.
fn same_selection_pattern_first(data: &[u8]) {
    if !is_mbox(data) {
        return;
    }
    for args in [
        &["--messages", "-i", "the"][..],
        &["--messages", "-E", "From|Subject"],
        &["--messages", "--body", "-i", "hello|Handy"],
        &["--messages", "--headers", "-F", "x"],
        &["--messages", "--raw", "-w", "a"],
        // Only inside a forwarded or mboxcl2 message, after a `From ` line that is no
        // separator, or only in decoded text.
        &["--messages", "-w", "hi"],
        &["--messages", "--headers", "inner"],
        &["--messages", "unescaped"],
        &["--messages", "-F", "hello world"],
        &["--messages", "--headers", "J\u{f6}rg"],
    ] {
        let words = ["pgrep-mail"].iter().chain(args).chain(&["box"]);
        let cli = <pgrep_mail::cli::Cli as clap::Parser>::try_parse_from(words).unwrap();
        let cfg = Config::resolve_with(cli, &|_| None, true, false).unwrap();
        assert!(sparse::applies(&cfg), "{args:?}");
        let want: Vec<Message> = split(data)
            .into_iter()
            .filter(|m| messages::matches(&cfg, &data[m.start..m.end], m.header_end - m.start))
            .collect();
        for pieces in 1..=4 {
            for switch_after in [0, usize::MAX] {
                let got = sparse::select_from(&cfg, data, pieces, 0, switch_after, 0);
                assert_eq!(
                    got, want,
                    "{args:?}, {pieces} pieces, switch {switch_after}"
                );
            }
        }
    }
}

/// The corners the target's seeds hold: mboxcl2 lengths over unescaped `From ` lines, a
/// forwarded mailbox inside a multipart message, CRLF with encoded words, and a message
/// stored alone with `From ` lines in its body.
#[test]
fn seed_mailboxes_split_alike_on_one_core_and_many() {
    let cases: [(&[u8], usize); 5] = [
        (
            b"From a@b Wed Jul  1 13:17:17 1998\nContent-Length: 47\nSubject: x\n\nbody\n\n\
              From unescaped Wed Jul  1 13:17:17 1998\n\nFrom c@d Thu Jul  2 10:00 EDT 1998\n\
              Subject: y\n\nsecond\n",
            2,
        ),
        (
            b"From a@b Sat Sep  1 20:58 EDT 2001\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n\
              --XX\nContent-Type: message/rfc822\n\nFrom inner@x Sat Sep  1 20:58:00 2001\n\
              Subject: inner\n\nhi\n--XX--\n\nFrom b@c Sun Sep  2 01:02:03 2001\n\nnext\n",
            2,
        ),
        (
            b"From a@b Mon Jan  1 00:00:00 2024\r\nSubject: =?utf-8?q?J=C3=B6rg?=\r\n\
              Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQK\r\n\r\n\
              From c@d Tue Jan  2 00:00:00 2024\r\n\r\nx\r\n",
            2,
        ),
        (
            b"Return-Path: <ann@example.org>\nDate: Tue, 15 Jul 1998 10:00:00 +0200\n\
              Subject: =?iso-8859-1?q?caf=E9?=\n\nFrom here on\n>From quoted\n",
            0,
        ),
        (b"\n\nFrom x 10:00:00\n\n\nFrom y 10:00:01\nFrom z 1:00:00\n", 2),
    ];
    for (data, count) in cases {
        assert_eq!(
            check(data).len(),
            count,
            "{}",
            String::from_utf8_lossy(data)
        );
    }
}

/// grepmail's own test mailboxes (plain, CRLF, odd separators, an invalid date).
#[test]
fn grepmail_mailboxes_split_alike_on_one_core_and_many() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/grepmail/t/mailboxes");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: no {}", dir.display());
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "txt") {
            let data = std::fs::read(&path).unwrap();
            assert!(!check(&data).is_empty(), "{}", path.display());
        }
    }
}

/// Found by the mail target, minimised from a mutated `mailarc-1-dos.txt`: a
/// `message/rfc822` part whose message is another `message/rfc822` header and nothing else,
/// closed by the outer delimiter, trips a debug assertion in mail-parser 0.11 ("Invalid part
/// ID, could not find multipart"), so debug builds of pgrep-mail panicked while decoding it.
/// The workspace now builds mail-parser without debug assertions, as release does.
#[test]
fn nested_empty_rfc822_parts_decode_without_a_panic() {
    let msg: &[u8] = b"Content-Type: MULTIPART/mixed; BOUNDARY=Troop_of_Baboons_752_000\n\n\
        --Troop_of_Baboons_752_000\nContent-Type: MESSAGE/rfc822; name=Mailbox\n\n\
        Content-Type: MESSAGE/rfc822; name=Maileived: from earth.sun.com by Aus.Sun.COM\n\n\n\
        --Troop_of_Baboons_752_000--\n\
        X-MIME-Autoconverted: from 8bit to quoted-printable by aleve.media.mit.edu\n";
    assert!(is_single_message(msg));
    let crlf: Vec<u8> = msg
        .split(|&b| b == b'\n')
        .flat_map(|l| [l, b"\r\n"].concat())
        .collect();
    for data in [msg, &crlf[..]] {
        let end = header_end(data, 0, data.len());
        if let Some(d) = mime::decode(data, end) {
            assert!(d.header_end <= d.text.len());
        }
        check(data);
    }
}
