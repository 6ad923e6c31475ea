//! rsync's SIZE arguments (`--max-size`, `--min-size`): a number, maybe with a fraction, in
//! bytes unless a unit follows: `K`, `M`, `G`, `T`, `P` (or `KiB`...) count in 1024s, `KB`,
//! `MB`... in 1000s, `B` is bytes; a trailing `+1` or `-1` moves the result by one byte, so
//! that `--max-size=1K-1` means "under 1 KiB".

/// The size `text` names, or rsync's own complaint about it, for `flag` (`--max-size`).
pub fn parse(flag: &str, text: &str) -> Result<u64, String> {
    let invalid = || format!("{flag}={text} is invalid; give a size such as 500K, 1.5M or 2GB");
    let (body, offset) = match text.len().checked_sub(2).map(|at| text.split_at(at)) {
        Some((body, "+1")) => (body, 1i128),
        Some((body, "-1")) => (body, -1i128),
        _ => (text, 0),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, unit) = body.split_at(split);
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let lower = unit.to_ascii_lowercase();
    let (letter, rest) = lower.split_at(lower.len().min(1));
    let power = match letter {
        "" | "b" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(invalid()),
    };
    let base: f64 = match (letter, rest) {
        ("" | "b", "") => 1024.0,
        (_, "" | "ib") => 1024.0,
        (_, "b") => 1000.0,
        _ => return Err(invalid()),
    };
    let bytes = (value * base.powi(power)) as i128 + offset;
    if bytes < 0 || bytes > i128::from(i64::MAX) {
        return Err(format!("{flag}={text} is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_sizes_as_rsync_does() {
        for (text, want) in [
            ("1000", 1000),
            ("1000b", 1000),
            ("1k", 1024),
            ("1K", 1024),
            ("1KiB", 1024),
            ("1kb", 1000),
            ("1.5k", 1536),
            ("1k+1", 1025),
            ("1kb-1", 999),
            ("2M", 2 << 20),
            ("1g", 1 << 30),
        ] {
            assert_eq!(parse("--max-size", text), Ok(want), "{text}");
        }
        for bad in ["abc", "", "1x", "k", "1kx"] {
            assert!(
                parse("--max-size", bad).unwrap_err().contains("invalid"),
                "{bad}"
            );
        }
        assert!(parse("--max-size", "-5").is_err());
    }
}
