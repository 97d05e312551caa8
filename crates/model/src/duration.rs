//! Prometheus's duration syntax: `1y2w3d4h5m6s7ms`, units in strictly decreasing order, or `0`.

use crate::Error;

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration into milliseconds. Accepts exactly what Prometheus's `model.ParseDuration` accepts: one or more
/// `<digits><unit>` groups with units in decreasing order and each at most once, or the bare `0`.
pub fn parse_duration(s: &str) -> Result<i64, Error> {
    let err = || Error::Duration(s.to_string());
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut last_unit = -1i32;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(err());
        }
        let n: i64 = s[start..i].parse().map_err(|_| err())?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(err)? as i32;
        if idx <= last_unit {
            return Err(err());
        }
        last_unit = idx;
        let ms = n.checked_mul(UNITS[idx as usize].1).ok_or_else(err)?;
        total = total.checked_add(ms).ok_or_else(err)?;
    }
    Ok(total)
}

/// Formats milliseconds the way Prometheus's `model.Duration.String` does (`1h30m`, `0s`, `1d`, `500ms`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    if rest < 0 {
        out.push('-');
        rest = -rest;
    }
    for (unit, mult) in UNITS {
        let n = rest / mult;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * mult;
        }
    }
    out
}

/// Formats a duration the way Go's `time.Duration.String` does (`15s`, `1m0s`, `1h30m0s`, `1.5s`, `500ms`,
/// `0s`): Prometheus uses that form where it prints a `time.Duration`, such as the `interval` label of
/// `prometheus_target_interval_length_seconds`.
pub fn format_go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    // Digits of `n / scale`, with the remainder as a fraction without trailing zeros.
    let fraction = |n: u128, scale: u128| {
        let (int, rem) = (n / scale, n % scale);
        if rem == 0 {
            return int.to_string();
        }
        let width = scale.ilog10() as usize;
        let frac = format!("{rem:0width$}");
        format!("{int}.{}", frac.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", fraction(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", fraction(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let s = fraction(ns % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (s, ms) in [
            ("0s", 0),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("2w", 1_209_600_000),
        ] {
            assert_eq!(parse_duration(s).unwrap(), ms, "{s}");
            assert_eq!(format_duration(ms), s);
        }
        assert_eq!(
            parse_duration("1y2w3d4h5m6s7ms").unwrap(),
            31_536_000_000 + 1_209_600_000 + 273_906_007
        );
        assert_eq!(parse_duration("0").unwrap(), 0);
    }

    #[test]
    fn rejects_bad_forms() {
        for s in ["", "1", "1x", "1s1m", "1m1m", "-1s", "1.5s", "s", "1h "] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn go_duration_strings() {
        use std::time::Duration;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(12_345), "12.345ms"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(61_001), "1m1.001s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_secs(90_061), "25h1m1s"),
        ] {
            assert_eq!(format_go_duration(d), want, "{d:?}");
        }
    }
}
