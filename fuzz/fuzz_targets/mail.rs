//! pgrep-mail's readers of mail it did not write (`crates/pgrep-mail`): the mbox splitter
//! (`mbox.rs`, one core and many), a message stored alone as Maildir keeps it
//! (`maildir.rs` decides where; `mbox.rs` reads it and writes it out as mbox), the MIME
//! decoder (`mime.rs`) and the dates (`date.rs`).
//!
//! The input is a mailbox or a message; seeds are real ones (see `cargo xtask fuzz`).
//! Checks: the messages of a split tile the mailbox from the first separator on, in order;
//! the parallel split gives exactly the one-core split; a decoded view keeps its header end
//! inside its text; a message written as mbox reads back as one message; dates never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgrep_mail::date::{from_line_date, parse_date, DateRange};
use pgrep_mail::mbox::{
    header_end, is_mbox, is_single_message, split, split_parallel_from, write_as_mbox, Message,
};
use pgrep_mail::mime;
use pgrep_mail::search::messages::message_date;

/// Messages decoded per input: enough to reach every kind, few enough to stay fast.
const MAX_DECODED: usize = 32;

/// Date specs longer than this are not what a user types.
const MAX_SPEC: usize = 256;

fn check_split(data: &[u8]) -> Vec<Message> {
    let messages = split(data);
    for pair in messages.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "messages do not tile: {pair:?}");
    }
    for m in &messages {
        assert!(
            m.start < m.end && m.start <= m.header_end && m.header_end <= m.end,
            "{m:?}"
        );
    }
    if let Some(last) = messages.last() {
        assert_eq!(last.end, data.len());
    }
    let pieces = 2 + data.len() % 5;
    let parallel: Vec<Message> = split_parallel_from(data, pieces, 0, &|_| ())
        .into_iter()
        .map(|(m, ())| m)
        .collect();
    assert_eq!(parallel, messages, "{pieces} pieces split differently");
    messages
}

fn check_message(raw: &[u8], header_len: usize) {
    if let Some(d) = mime::decode(raw, header_len) {
        assert!(d.header_end <= d.text.len(), "header end past the text");
    }
    let _ = message_date(&raw[..header_len]);
}

fn check_dates(data: &[u8]) {
    let first_line = &data[..memchr_newline(data)];
    let _ = from_line_date(first_line);
    if data.len() <= MAX_SPEC {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = parse_date(text);
            if let Err(e) = DateRange::parse(text) {
                let _ = e.to_string();
            }
        }
    }
}

fn memchr_newline(data: &[u8]) -> usize {
    data.iter().position(|&b| b == b'\n').unwrap_or(data.len())
}

fuzz_target!(|data: &[u8]| {
    check_dates(data);
    if is_mbox(data) {
        for m in check_split(data).iter().take(MAX_DECODED) {
            check_message(&data[m.start..m.end], m.header_end - m.start);
        }
    } else {
        // Not an mbox: split must still tile whatever it finds.
        check_split(data);
    }
    if is_single_message(data) {
        let body = header_end(data, 0, data.len());
        assert!(body <= data.len());
        check_message(data, body);
        let mut mbox = Vec::new();
        write_as_mbox(data, &mut mbox);
        assert!(is_mbox(&mbox), "written as mbox, not read as one");
        let back = split(&mbox);
        assert_eq!(
            back.len(),
            1,
            "one message written as mbox reads as {back:?}"
        );
    }
});
