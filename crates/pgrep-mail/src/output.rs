//! How results look: grep's prefixes (`file:`, `12:`, `-` for context, `--` between
//! groups) and grep's colours (GREP_COLORS defaults: file names magenta, line numbers green,
//! separators cyan, matches bold red, each closed with `ESC[m ESC[K`).

/// Colour escapes, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to colour.
    pub color: bool,
}

const END: &[u8] = b"\x1b[m\x1b[K";

/// The colours in use: grep's defaults, changed by `GREP_COLORS` (`ms=`, `mc=`, `fn=`,
/// `ln=`, `bn=`, `se=`) and the older `GREP_COLOR` (the match colour).
#[derive(Debug, Clone)]
pub struct Colors {
    file: Vec<u8>,
    line: Vec<u8>,
    byte: Vec<u8>,
    sep: Vec<u8>,
    matched: Vec<u8>,
}

fn sgr(code: &str) -> Vec<u8> {
    format!("\x1b[{code}m\x1b[K").into_bytes()
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            file: sgr("35"),
            line: sgr("32"),
            byte: sgr("32"),
            sep: sgr("36"),
            matched: sgr("01;31"),
        }
    }
}

static COLORS: std::sync::OnceLock<Colors> = std::sync::OnceLock::new();

fn colors() -> &'static Colors {
    COLORS.get_or_init(Colors::default)
}

/// Reads `GREP_COLORS` and `GREP_COLOR` once, before anything is printed.
pub fn set_colors(grep_colors: Option<std::ffi::OsString>, grep_color: Option<std::ffi::OsString>) {
    let mut c = Colors::default();
    if let Some(mt) = grep_color.and_then(|v| v.into_string().ok()) {
        if !mt.is_empty() {
            c.matched = sgr(&mt);
        }
    }
    if let Some(spec) = grep_colors.and_then(|v| v.into_string().ok()) {
        for item in spec.split(':') {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let slot = match key {
                "mt" | "ms" => &mut c.matched,
                "fn" => &mut c.file,
                "ln" => &mut c.line,
                "bn" => &mut c.byte,
                "se" => &mut c.sep,
                _ => continue,
            };
            *slot = sgr(value);
        }
    }
    let _ = COLORS.set(c);
}

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
        self.paint(out, &colors().file, name);
    }

    /// A separator, `:` or `-`.
    pub fn sep(&self, out: &mut Vec<u8>, sep: u8) {
        self.paint(out, &colors().sep, &[sep]);
    }

    /// A byte offset (`-b`).
    pub fn byte_offset(&self, out: &mut Vec<u8>, n: u64) {
        if self.color {
            out.extend_from_slice(&colors().byte);
        }
        decimal(out, n);
        if self.color {
            out.extend_from_slice(END);
        }
    }

    /// A line number.
    pub fn line_number(&self, out: &mut Vec<u8>, n: u64) {
        if self.color {
            out.extend_from_slice(&colors().line);
        }
        decimal(out, n);
        if self.color {
            out.extend_from_slice(END);
        }
    }

    /// A match inside a line.
    pub fn matched(&self, out: &mut Vec<u8>, text: &[u8]) {
        self.paint(out, &colors().matched, text);
    }

    /// The line between groups of context (`--`, or `--group-separator`'s).
    pub fn group_separator(&self, out: &mut Vec<u8>, text: &[u8]) {
        self.paint(out, &colors().sep, text);
        out.push(b'\n');
    }

    /// A file name alone on its line (`-l`, `-L`); with `-Z` ended by NUL instead.
    pub fn file_line(&self, out: &mut Vec<u8>, name: &[u8], null: bool) {
        self.file(out, name);
        out.push(if null { 0 } else { b'\n' });
    }

    /// `name:N` or `N` (`-c`); with `-Z` the name is ended by NUL.
    pub fn count_line(&self, out: &mut Vec<u8>, name: Option<&[u8]>, n: u64, null: bool) {
        if let Some(name) = name {
            self.file(out, name);
            if null {
                out.push(0);
            } else {
                self.sep(out, b':');
            }
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
        Style { color: false }.count_line(&mut out, Some(b"f"), 3, false);
        assert_eq!(out, b"f:3\n");
    }

    #[test]
    fn colour_closes_every_span() {
        let mut out = Vec::new();
        Style { color: true }.matched(&mut out, b"x");
        assert_eq!(out, b"\x1b[01;31m\x1b[Kx\x1b[m\x1b[K");
    }
}
