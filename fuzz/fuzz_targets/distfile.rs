//! The Distfile reader (`crates/prdist/src/distfile`): lexer, parser and expansion.
//!
//! The input is a Distfile, then optionally a NUL and a `-d NAME=VALUE` definition. Checks:
//! nothing panics; every error is one line and points inside the text; parsing alone finds
//! no more errors than reading.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prdist::distfile::{parse_text, read, ReadOptions};
use prtools_fuzz::{assert_one_line, parts};

/// Globs in sources match files on this machine: run them in an empty folder, with `~` an
/// empty home, so that relative patterns cost nothing and the results do not vary.
fn isolate() {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("prtools-fuzz-distfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        std::env::set_current_dir(&dir).expect("cd scratch folder");
        std::env::set_var("HOME", &dir);
        dir
    });
}

fuzz_target!(|data: &[u8]| {
    isolate();
    let p = parts(data, 2);
    let (Ok(text), Ok(define)) = (std::str::from_utf8(p[0]), std::str::from_utf8(p[1])) else {
        return;
    };
    let lines = text.split('\n').count();
    let (_, syntax) = parse_text(text, "Distfile");
    for e in &syntax {
        assert_one_line(&e.to_string(), text.as_bytes());
        assert!(
            e.pos.line >= 1 && e.pos.line <= lines && e.pos.col >= 1,
            "{e} is outside the {lines} lines"
        );
    }
    let mut options = ReadOptions::default();
    if let Some((name, value)) = define.split_once('=') {
        options.defines.push((name.to_string(), value.to_string()));
    }
    match read(text, "Distfile", &options) {
        Ok(_) => assert!(
            syntax.is_empty(),
            "read accepted what parse refused: {syntax:?}"
        ),
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                let _ = e.to_string();
                assert!(e.pos.line >= 1 && e.pos.col >= 1, "{e}");
            }
        }
    }
});
