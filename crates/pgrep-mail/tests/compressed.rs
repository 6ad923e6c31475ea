//! Compressed folders are searched as they are decompressed, in bounded memory: a few KiB
//! that expand to GiB (of one endless line, of short lines, of zeros, of messages) are
//! searched, or refused with a clear line, with the child's peak resident memory under
//! [`BOUND`]; and what is printed is what the same folder prints uncompressed.
//!
//! The peak is the child's own `ru_maxrss`, from `wait4` on its pid, taken by a small
//! process that starts it: this test binary, run again as `--peak-of CMD...`. It cannot be
//! taken from the test process itself: a child started by `posix_spawn` (as `Command`
//! starts it) shares the parent's memory until it execs, and Linux then counts the
//! parent's resident memory in the child's `ru_maxrss`; a child forked from a small
//! process starts small. (`RUSAGE_CHILDREN` would also sum every child ever waited for.)
//! So this file has its own `main` rather than libtest's: it runs its tests one after the
//! other, each checked as `#[test]` would, and any name given on the command line picks
//! the tests whose names contain it.
//!
//! The inputs are made here, by streaming into the encoders; where a format allows several
//! members (gzip, bzip2, xz) a member made once is repeated, which decoders read as one
//! stream, to keep the debug build's test time down. Sizes are far above the bound (1 GiB
//! or 4 GiB against 256 MiB) rather than the 4 GiB of the report, for the same reason,
//! except for the one-line bomb, which pgrep-mail stops reading after 32 MiB.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{pgrep_mail, scratch};

/// The most memory a search of compressed input may take, whatever it expands to.
const BOUND: u64 = 256 << 20;

/// A finished run: its exit status, output, and peak resident memory in bytes.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    peak: u64,
}

/// Runs `cmd` through `--peak-of`, its output to files (a pipe the test would have to
/// drain), and reads the peak the wrapper reports.
fn run_measured(cmd: &mut Command, dir: &Path) -> Run {
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    let report = dir.join("peak");
    let mut wrapper = Command::new(std::env::current_exe().unwrap());
    wrapper
        .arg("--peak-of")
        .arg(&report)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MAILDIR")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let status = wrapper.status().expect("the wrapper starts");
    let peak: u64 = std::fs::read_to_string(&report)
        .expect("the wrapper reports the peak")
        .trim()
        .parse()
        .unwrap();
    Run {
        code: status.code(),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        peak,
    }
}

/// `--peak-of REPORT PROGRAM ARGS...`: runs PROGRAM (forked from this small process, so
/// that it starts small), writes its peak resident memory in bytes to REPORT, and exits
/// with its exit status.
fn peak_of(args: &[String]) -> ! {
    let (report, program, rest) = (&args[0], &args[1], &args[2..]);
    let child = Command::new(program)
        .args(rest)
        .spawn()
        .expect("the program starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is this process's own child, not yet reaped (Child::wait is never
    // called); wait4 writes only into the two locals it is given.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    // Linux gives ru_maxrss in KiB.
    std::fs::write(report, format!("{}\n", usage.ru_maxrss as u64 * 1024)).unwrap();
    std::process::exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    });
}

fn zstd_with_a_large_window_is_searched_again_or_refused() {
    // A 16 MiB window is past the 8 MiB the decoder starts with: the file is searched
    // again, from its start, with the larger limit. A 256 MiB window is past zstd's own
    // default limit (128 MiB), and refused with the command that decompresses it.
    let dir = scratch("z-windows");
    let (block, needles) = short_lines();
    for log in [24, 28] {
        let file = std::fs::File::create(dir.join(format!("w{log}.zst"))).unwrap();
        let mut enc = zstd::stream::write::Encoder::new(file, 1).unwrap();
        enc.set_parameter(zstd::zstd_safe::CParameter::WindowLog(log))
            .unwrap();
        enc.write_all(&block).unwrap();
        enc.finish().unwrap();
    }
    let run = run_measured(pgrep_mail(&dir).args(["-c", "needle", "w24.zst"]), &dir);
    assert_bounded(&run, "zstd with a 16 MiB window");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, format!("{needles}\n").into_bytes());
    let run = run_measured(pgrep_mail(&dir).args(["-c", "needle", "w28.zst"]), &dir);
    assert_eq!(run.code, Some(2));
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr,
        "pgrep-mail: w28.zst: made with a zstd window larger than 128 MiB (`zstd --long=28` or more), which takes more memory to decompress than pgrep-mail allows; decompress it (`zstd -dc --long=31 w28.zst > FILE`) and search the result\n"
    );
}

/// The tests, by name.
const TESTS: &[(&str, fn())] = &[
    (
        "zstd_with_a_large_window_is_searched_again_or_refused",
        zstd_with_a_large_window_is_searched_again_or_refused,
    ),
    (
        "zstd_of_one_endless_line_is_refused_in_bounded_memory",
        zstd_of_one_endless_line_is_refused_in_bounded_memory,
    ),
    (
        "zstd_of_short_lines_is_counted_in_bounded_memory",
        zstd_of_short_lines_is_counted_in_bounded_memory,
    ),
    (
        "several_compressed_files_at_once_stay_bounded",
        several_compressed_files_at_once_stay_bounded,
    ),
    (
        "gzip_of_zeros_is_searched_in_bounded_memory",
        gzip_of_zeros_is_searched_in_bounded_memory,
    ),
    (
        "xz_mbox_messages_are_searched_in_bounded_memory",
        xz_mbox_messages_are_searched_in_bounded_memory,
    ),
    (
        "bzip2_mbox_prints_messages_in_bounded_memory",
        bzip2_mbox_prints_messages_in_bounded_memory,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peak-of") {
        peak_of(&args[1..]);
    }
    // libtest's flags (`--nocapture`, `--test-threads=N`, ...) change nothing here.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in chosen {
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
        std::process::exit(101);
    }
    println!("\ntest result: ok");
}

fn assert_bounded(run: &Run, what: &str) {
    println!("{what}: peak resident memory {} MiB", run.peak >> 20);
    assert!(
        run.peak < BOUND,
        "{what}: peak resident memory {} MiB, over the {} MiB bound",
        run.peak >> 20,
        BOUND >> 20
    );
}

/// Writes `unit` `times` times into a zstd encoder, as one frame.
fn zstd_stream(path: &Path, unit: &[u8], times: usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = zstd::stream::write::Encoder::new(file, 1).unwrap();
    for _ in 0..times {
        enc.write_all(unit).unwrap();
    }
    enc.finish().unwrap();
}

/// `member` written `times` times: a gzip, bzip2 or xz file of as many members, which
/// decompresses to the member's contents repeated.
fn repeated(path: &Path, member: &[u8], times: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..times {
        f.write_all(member).unwrap();
    }
    f.flush().unwrap();
}

/// 16 MiB of short lines, one in 1,000 holding "needle".
fn short_lines() -> (Vec<u8>, u64) {
    let mut text = Vec::with_capacity(16 << 20);
    let mut needles = 0;
    let mut i = 0u64;
    while text.len() < (16 << 20) - 64 {
        if i % 1000 == 999 {
            text.extend_from_slice(b"a needle here\n");
            needles += 1;
        } else {
            text.extend_from_slice(format!("line {}\n", i % 97).as_bytes());
        }
        i += 1;
    }
    (text, needles)
}

fn zstd_of_one_endless_line_is_refused_in_bounded_memory() {
    // 4 GiB of `A` and no newline: about 130 KB of zstd.
    let dir = scratch("z-one-line");
    zstd_stream(&dir.join("a.zst"), &vec![b'A'; 1 << 20], 4096);
    assert!(std::fs::metadata(dir.join("a.zst")).unwrap().len() < 1 << 20);
    let run = run_measured(pgrep_mail(&dir).args(["-c", "B", "a.zst"]), &dir);
    assert_bounded(&run, "4 GiB line");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "pgrep-mail: a.zst: the line at byte 0 is longer than 32 MiB, the longest pgrep-mail holds in memory from a compressed file; decompress the file and search the result\n"
    );
}

fn zstd_of_short_lines_is_counted_in_bounded_memory() {
    // 1 GiB of short lines, as one zstd frame.
    let dir = scratch("z-short-lines");
    let (block, needles) = short_lines();
    zstd_stream(&dir.join("lines.zst"), &block, 64);
    let run = run_measured(pgrep_mail(&dir).args(["-c", "needle", "lines.zst"]), &dir);
    assert_bounded(&run, "1 GiB of short lines, -c");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, format!("{}\n", needles * 64).into_bytes());
}

fn several_compressed_files_at_once_stay_bounded() {
    // A folder of 256 gzip files, four of them 256 MiB: the search threads take 64 files
    // at a time, so on 4 threads the four are searched at once. Their matching lines (the
    // output) add up to 16 MiB.
    let dir = scratch("z-several");
    let (block, needles) = short_lines();
    let gz = |data: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    };
    let member = gz(&block);
    let small = gz(b"hay\na needle here\n");
    std::fs::create_dir(dir.join("mail")).unwrap();
    let mut expected = String::new();
    for i in 0..256 {
        let name = format!("mail/{i:03}.gz");
        if i % 64 == 0 {
            repeated(&dir.join(&name), &member, 16);
            expected.push_str(&format!("{name}:{}\n", needles * 16));
        } else {
            std::fs::write(dir.join(&name), &small).unwrap();
            expected.push_str(&format!("{name}:1\n"));
        }
    }
    let run = run_measured(
        pgrep_mail(&dir).args(["--threads=4", "-c", "needle", "mail"]),
        &dir,
    );
    assert_bounded(&run, "4 x 256 MiB of gzip on 4 threads");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(String::from_utf8_lossy(&run.stdout), expected);
    // Printing every needle line: the output waits for its turn on disk, not in memory.
    let run = run_measured(
        pgrep_mail(&dir).args(["--threads=4", "-n", "needle", "mail"]),
        &dir,
    );
    assert_bounded(&run, "4 x 256 MiB of gzip on 4 threads, printing");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines = run.stdout.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(lines, needles * 16 * 4 + 252);
    assert!(run.stdout.starts_with(b"mail/000.gz:1000:a needle here\n"));
    assert!(run.stdout.ends_with(b"mail/255.gz:2:a needle here\n"));
}

fn gzip_of_zeros_is_searched_in_bounded_memory() {
    // 1 GiB of NUL bytes, 1 MiB of gzip: one line, longer than a line may be.
    let dir = scratch("z-zeros");
    let gz = |data: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    };
    repeated(&dir.join("zeros.gz"), &gz(&vec![0u8; 16 << 20]), 64);
    let run = run_measured(pgrep_mail(&dir).args(["needle", "zeros.gz"]), &dir);
    assert_bounded(&run, "1 GiB of zeros");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "pgrep-mail: zeros.gz: the line at byte 0 is longer than 32 MiB, the longest pgrep-mail holds in memory from a compressed file; decompress the file and search the result\n"
    );
    // The same in lines of 4 KiB, and a needle after them: a binary file that matches.
    let mut lines = vec![0u8; 16 << 20];
    for at in (4095..lines.len()).step_by(4096) {
        lines[at] = b'\n';
    }
    repeated(&dir.join("lines.gz"), &gz(&lines), 64);
    let needle = gz(b"needle\n");
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("lines.gz"))
        .unwrap()
        .write_all(&needle)
        .unwrap();
    let run = run_measured(pgrep_mail(&dir).args(["needle", "lines.gz"]), &dir);
    assert_bounded(&run, "1 GiB of zeros in lines");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr, "pgrep-mail: lines.gz: binary file matches\n");
}

fn xz_mbox_messages_are_searched_in_bounded_memory() {
    // 256 MiB of mbox in xz, with one message larger than the 32 MiB a message may hold:
    // it is reported and skipped, and the search goes on with the next one.
    let dir = scratch("z-xz-messages");
    let mut mbox = Vec::new();
    let mut i = 0;
    while mbox.len() < 16 << 20 {
        let subject = if i % 100 == 0 { "needle" } else { "hay" };
        mbox.extend_from_slice(
            format!(
                "From u{i}@x Mon Jan  1 00:00:00 2001\nSubject: {subject} {i}\n\nbody line\n\n"
            )
            .as_bytes(),
        );
        i += 1;
    }
    let per_member = (0..i).filter(|i| i % 100 == 0).count();
    let xz = |data: &[u8]| {
        let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    };
    let member = xz(&mbox);
    let path = dir.join("box.xz");
    repeated(&path, &member, 16);
    let mut big = b"From big@x Mon Jan  1 00:00:00 2001\nSubject: needle too big\n\n".to_vec();
    big.extend_from_slice(&b"x\n".repeat(20 << 20));
    big.extend_from_slice(b"\nFrom last@x Mon Jan  1 00:00:00 2001\nSubject: needle last\n\nend\n");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&xz(&big))
        .unwrap();
    let run = run_measured(
        pgrep_mail(&dir).args(["--count-messages", "needle", "box.xz"]),
        &dir,
    );
    assert_bounded(&run, "256 MiB of xz mbox");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("box.xz: {}\n", per_member * 16 + 1)
    );
    let at = mbox.len() * 16;
    assert_eq!(
        run.stderr,
        format!("pgrep-mail: box.xz: the message at byte {at} is longer than 32 MiB, the longest pgrep-mail holds in memory from a compressed file; it was skipped: decompress the file to search it\n")
    );
}

fn bzip2_mbox_prints_messages_in_bounded_memory() {
    // 256 MiB of mbox in bzip2 (its decoder is the slowest), every message printed.
    let dir = scratch("z-bz2-messages");
    let mut mbox = Vec::new();
    let mut i = 0;
    while mbox.len() < 8 << 20 {
        mbox.extend_from_slice(
            format!("From u{i}@x Mon Jan  1 00:00:00 2001\nSubject: needle {i}\n\nbody\n\n")
                .as_bytes(),
        );
        i += 1;
    }
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    enc.write_all(&mbox).unwrap();
    let member = enc.finish().unwrap();
    repeated(&dir.join("box.bz2"), &member, 32);
    let run = run_measured(
        pgrep_mail(&dir).args(["--messages", "needle", "box.bz2"]),
        &dir,
    );
    assert_bounded(&run, "256 MiB of bzip2 mbox, --messages");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.len(), mbox.len() * 32);
    assert!(run.stdout == mbox.repeat(32), "the messages, as stored");
}
