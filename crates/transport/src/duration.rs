//! Durations as users type them for `--persist`, `-t` and `-u`.

use std::time::Duration;

/// Parses `90`, `90s`, `15m`, `2h` or `1d` (a bare number is seconds, as `ControlPersist`).
///
/// Fractions are accepted for seconds (`0.5`), because `-u 0.5` is a natural way to say
/// "half a second" in a test or a script.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => {
            return Err(format!(
                "bad duration '{text}': unknown unit '{unit}', use s, m, h or d (as in 30s, 10m)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration '{text}': expected a number such as 30 or 10m"))?;
    let seconds = value * scale;
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(format!("bad duration '{text}': too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn errors_name_the_fix() {
        assert_eq!(
            parse_duration("10x").unwrap_err(),
            "bad duration '10x': unknown unit 'x', use s, m, h or d (as in 30s, 10m)"
        );
        assert_eq!(
            parse_duration("m").unwrap_err(),
            "bad duration 'm': expected a number such as 30 or 10m"
        );
    }
}
