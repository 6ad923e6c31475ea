//! The pgrep-mail step of `cargo xtask demo`: a small generated mail tree (a Maildir with a
//! base64 body and an RFC 2047 subject, and a gzipped mbox), searched the grep way and the
//! grepmail way. It needs no cluster.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

const MESSAGES: &[(&str, &str, &str, &str)] = &[
    (
        "alice",
        "Mon, 04 Mar 2024 09:12:00 +0000",
        "Disk quota on /scratch",
        "Your quota on /scratch is 95% used.\n",
    ),
    (
        "bob",
        "Tue, 20 Feb 2024 17:40:00 +0000",
        "=?utf-8?q?R=C3=A9union_de_projet?=",
        "Ordre du jour en pi\u{e8}ce jointe.\n",
    ),
    (
        "billing",
        "Fri, 08 Mar 2024 08:00:00 +0000",
        "Your March invoice",
        "Invoice 2024-03 for 1,200 core-hours is attached.\n",
    ),
];

/// Writes the demo tree into `dir` and runs pgrep-mail (`bin/pgrep-mail`) on it.
pub fn step(bin: &Path, dir: &Path) -> Result<()> {
    crate::cargo(&["build", "--bins", "-p", "pgrep-mail"])?;
    let mail = dir.join("Mail");
    let inbox = mail.join("INBOX");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(inbox.join(sub))?;
    }
    for (i, (from, date, subject, body)) in MESSAGES.iter().enumerate() {
        let mut msg = format!("From: {from} <{from}@example.org>\nDate: {date}\nSubject: {subject}\nMessage-ID: <{i}@example.org>\n");
        if *from == "billing" {
            // The body is stored base64-encoded, as many mailers send it.
            msg.push_str("Content-Transfer-Encoding: base64\n\nSW52b2ljZSAyMDI0LTAzIGZvciAxLDIwMCBjb3JlLWhvdXJzIGlzIGF0dGFjaGVkLgo=\n");
        } else {
            msg.push_str(&format!("\n{body}"));
        }
        std::fs::write(inbox.join("cur").join(format!("{i}.demo:2,S")), msg)?;
    }
    let gz = gzip(
        b"From ops@example.org Mon Jan  8 06:00:00 2024\nSubject: quota report\n\nscratch quota: 12 users over 90%\n\n",
    )?;
    std::fs::File::create(mail.join("archive.mbox.gz"))?.write_all(&gz)?;

    let tool = |args: &[&str]| -> Result<()> {
        println!("\n$ pgrep-mail {}", args.join(" "));
        let status = Command::new(bin.join("pgrep-mail"))
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .status()
            .context("running pgrep-mail")?;
        println!("(exit status {})", status.code().unwrap_or(-1));
        Ok(())
    };
    println!("\n# pgrep-mail: grep a whole mail tree on every core (Maildir and a gzipped mbox)");
    tool(&["-rn", "-i", "quota", "Mail"])?;
    println!("\n# --messages prints whole messages as mbox; base64 bodies are searched decoded");
    tool(&["--messages", "--body", "core-hours", "Mail"])?;
    println!("\n# RFC 2047 subjects are decoded too; --count-messages counts per mailbox file");
    tool(&["--count-messages", "--headers", "R\u{e9}union", "Mail"])?;
    println!("\n# --date picks messages by their Date: header");
    tool(&["--messages", "-l", "--date", "since 2024-03-01", "", "Mail"])?;
    Ok(())
}

/// Gzips `data` with the system's gzip (xtask keeps its own dependencies few).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running gzip")?;
    child
        .stdin
        .take()
        .context("gzip's stdin")?
        .write_all(data)?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "gzip failed");
    Ok(out.stdout)
}
