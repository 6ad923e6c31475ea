//! How results look: grep's prefixes (`file:`, `12:`, `-` for context, `--` between
//! groups) and grep's colours (GREP_COLORS defaults: file names magenta, line numbers green,
//! separators cyan, matches bold red, each closed with `ESC[m ESC[K`).

/// Colour escapes, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to colour.
    pub color: bool,
}

const FILE: &[u8] = b"\x1b[35m\x1b[K";
const LINE: &[u8] = b"\x1b[32m\x1b[K";
const SEP: &[u8] = b"\x1b[36m\x1b[K";
const MATCH: &[u8] = b"\x1b[01;31m\x1b[K";
const END: &[u8] = b"\x1b[m\x1b[K";

impl Style {
    fn paint(&self, out: &mut Vec<u8>, color: &[u8], text: &[u8]) {
        if self.color {
            out.extend_from_slice(color);
            out.extend_from_slice(text);
            out.extend_from_slice(END);
        } else {
            out.extend_from_slice(text);
        }
    }

    /// A file name.
    pub fn file(&self, out: &mut Vec<u8>, name: &[u8]) {
        self.paint(out, FILE, name);
    }

    /// A separator, `:` or `-`.
    pub fn sep(&self, out: &mut Vec<u8>, sep: u8) {
        self.paint(out, SEP, &[sep]);
    }

    /// A line number.
    pub fn line_number(&self, out: &mut Vec<u8>, n: u64) {
        if self.color {
            out.extend_from_slice(LINE);
        }
        decimal(out, n);
        if self.color {
            out.extend_from_slice(END);
        }
    }

    /// A match inside a line.
    pub fn matched(&self, out: &mut Vec<u8>, text: &[u8]) {
        self.paint(out, MATCH, text);
    }

    /// The `--` line between groups of context.
    pub fn group_separator(&self, out: &mut Vec<u8>) {
        self.paint(out, SEP, b"--");
        out.push(b'\n');
    }

    /// A file name alone on its line (`-l`, `-L`).
    pub fn file_line(&self, out: &mut Vec<u8>, name: &[u8]) {
        self.file(out, name);
        out.push(b'\n');
    }

    /// `name:N` or `N` (`-c`).
    pub fn count_line(&self, out: &mut Vec<u8>, name: Option<&[u8]>, n: u64) {
        if let Some(name) = name {
            self.file(out, name);
            self.sep(out, b':');
        }
        decimal(out, n);
        out.push(b'\n');
    }
}

/// Appends `n` in decimal, without the `String` that `to_string` would allocate (`-n` and
/// `-c` print one number a line or a file).
fn decimal(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_has_no_escapes() {
        let mut out = Vec::new();
        Style { color: false }.count_line(&mut out, Some(b"f"), 3);
        assert_eq!(out, b"f:3\n");
    }

    #[test]
    fn colour_closes_every_span() {
        let mut out = Vec::new();
        Style { color: true }.matched(&mut out, b"x");
        assert_eq!(out, b"\x1b[01;31m\x1b[Kx\x1b[m\x1b[K");
    }
}
