//! Go's `time` package as templates see it: `Time.String`, `Time.Format` with Go reference layouts
//! (`2006-01-02 15:04:05`), `Duration.String`, and the few methods templates call on times and durations.
//!
//! Times are UTC instants in nanoseconds since the Unix epoch, the only kind Prometheus's template functions create.

use chrono::{DateTime, Datelike, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: usize,
    day: u32,
    yday: u32,
    weekday: usize,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
}

fn civil(nanos: i64) -> Civil {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let dt = DateTime::from_timestamp(secs, frac).unwrap_or_default();
    Civil {
        year: i64::from(dt.year()),
        month: dt.month0() as usize,
        day: dt.day(),
        yday: dt.ordinal(),
        weekday: dt.weekday().num_days_from_sunday() as usize,
        hour: dt.hour(),
        min: dt.minute(),
        sec: dt.second(),
        nanos: frac,
    }
}

/// Go's `Time.String` for a UTC time: `2015-06-23 13:19:44.128 +0000 UTC`.
pub(crate) fn time_string(nanos: i64) -> String {
    format(nanos, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `Time.Format` for a UTC time.
pub(crate) fn format(nanos: i64, layout: &str) -> String {
    let c = civil(nanos);
    let mut out = String::with_capacity(layout.len() + 10);
    let b = layout.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let (n, text) = std_chunk(rest, &c);
        match text {
            Some(t) => {
                out.push_str(&t);
                i += n;
            }
            None => {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn pad(v: i64, width: usize) -> String {
    if v < 0 { format!("-{:0width$}", -v) } else { format!("{v:0width$}") }
}

/// Recognises one layout element at the start of `s`: the number of bytes it spans and its rendering.
fn std_chunk(s: &str, c: &Civil) -> (usize, Option<String>) {
    let starts = |p: &str| s.starts_with(p);
    let b = s.as_bytes();
    let lower_after = |n: usize| b.get(n).is_some_and(u8::is_ascii_lowercase);
    let month = MONTHS[c.month];
    let day = DAYS[c.weekday];
    let hour12 = if c.hour.is_multiple_of(12) { 12 } else { c.hour % 12 };
    let r = match b[0] {
        b'J' if starts("January") => (7, month.to_string()),
        b'J' if starts("Jan") && !lower_after(3) => (3, month[..3].to_string()),
        b'M' if starts("Monday") => (6, day.to_string()),
        b'M' if starts("Mon") && !lower_after(3) => (3, day[..3].to_string()),
        b'M' if starts("MST") => (3, "UTC".to_string()),
        b'0' if starts("002") => (3, format!("{:03}", c.yday)),
        b'0' if b.len() > 1 && (b'1'..=b'6').contains(&b[1]) => match b[1] {
            b'1' => (2, format!("{:02}", c.month + 1)),
            b'2' => (2, format!("{:02}", c.day)),
            b'3' => (2, format!("{hour12:02}")),
            b'4' => (2, format!("{:02}", c.min)),
            b'5' => (2, format!("{:02}", c.sec)),
            _ => (2, format!("{:02}", c.year.rem_euclid(100))),
        },
        b'1' if starts("15") => (2, format!("{:02}", c.hour)),
        b'1' => (1, (c.month + 1).to_string()),
        b'2' if starts("2006") => (4, pad(c.year, 4)),
        b'2' => (1, c.day.to_string()),
        b'_' if starts("__2") => (3, format!("{:>3}", c.yday)),
        b'_' if starts("_2006") => (5, format!("_{}", pad(c.year, 4))),
        b'_' if starts("_2") => (2, format!("{:>2}", c.day)),
        b'3' => (1, hour12.to_string()),
        b'4' => (1, c.min.to_string()),
        b'5' => (1, c.sec.to_string()),
        b'P' if starts("PM") => (2, if c.hour >= 12 { "PM" } else { "AM" }.to_string()),
        b'p' if starts("pm") => (2, if c.hour >= 12 { "pm" } else { "am" }.to_string()),
        b'-' if starts("-070000") => (7, "+000000".to_string()),
        b'-' if starts("-07:00:00") => (9, "+00:00:00".to_string()),
        b'-' if starts("-0700") => (5, "+0000".to_string()),
        b'-' if starts("-07:00") => (6, "+00:00".to_string()),
        b'-' if starts("-07") => (3, "+00".to_string()),
        b'Z' if starts("Z070000") => (7, "Z".to_string()),
        b'Z' if starts("Z07:00:00") => (9, "Z".to_string()),
        b'Z' if starts("Z0700") => (5, "Z".to_string()),
        b'Z' if starts("Z07:00") => (6, "Z".to_string()),
        b'Z' if starts("Z07") => (3, "Z".to_string()),
        b'.' | b',' if b.len() > 1 && (b[1] == b'0' || b[1] == b'9') => {
            let d = b[1];
            let n = b[1..].iter().take_while(|&&x| x == d).count();
            if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
                return (0, None);
            }
            let digits = format!("{:09}", c.nanos);
            let digits = &digits[..n.min(9)];
            let text = if d == b'0' {
                format!("{}{digits}", char::from(b[0]))
            } else {
                let t = digits.trim_end_matches('0');
                if t.is_empty() { String::new() } else { format!("{}{t}", char::from(b[0])) }
            };
            (1 + n, text)
        }
        _ => return (0, None),
    };
    (r.0, Some(r.1))
}

/// Go's `Duration.String`: `1h2m3.5s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let out;
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = frac_part(u, prec);
        out = format!("{int}{frac}{unit}");
    } else {
        let (frac, secs) = frac_part(u, 9);
        u = secs;
        let s = format!("{}{frac}s", u % 60);
        u /= 60;
        if u > 0 {
            let m = u % 60;
            u /= 60;
            out = if u > 0 { format!("{u}h{m}m{s}") } else { format!("{m}m{s}") };
        } else {
            out = s;
        }
    }
    if neg { format!("-{out}") } else { out }
}

/// Splits `v` into `v / 10^prec` and the fraction `.ddd` with trailing zeros dropped (empty when zero).
fn frac_part(v: u64, prec: u32) -> (String, u64) {
    if prec == 0 {
        return (String::new(), v);
    }
    let p = 10u64.pow(prec);
    let frac = v % p;
    if frac == 0 {
        return (String::new(), v / p);
    }
    let s = format!("{frac:0width$}", width = prec as usize);
    (format!(".{}", s.trim_end_matches('0')), v / p)
}

/// The year, month (1-12), day, hour, minute, second, nanosecond, weekday name and day of the year of a time.
pub(crate) fn component(nanos: i64, name: &str) -> Option<crate::Value> {
    use crate::Value;
    let c = civil(nanos);
    Some(match name {
        "Year" => Value::Int(c.year),
        "Month" => Value::Int(c.month as i64 + 1),
        "Day" => Value::Int(i64::from(c.day)),
        "Hour" => Value::Int(i64::from(c.hour)),
        "Minute" => Value::Int(i64::from(c.min)),
        "Second" => Value::Int(i64::from(c.sec)),
        "Nanosecond" => Value::Int(i64::from(c.nanos)),
        "YearDay" => Value::Int(i64::from(c.yday)),
        "Weekday" => Value::String(DAYS[c.weekday].to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_strings() {
        assert_eq!(time_string(1_435_065_584_128_000_000), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(time_string(-1_000_000_000), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(
            format(1_353_755_652_000_000_000, "Mon Jan 2 15:04:05 2006"),
            "Sat Nov 24 11:14:12 2012"
        );
        assert_eq!(
            format(0, "2006-01-02T15:04:05.000Z07:00 pm _2 __2 002"),
            "1970-01-01T00:00:00.000Z am  1   1 001"
        );
    }

    #[test]
    fn durations() {
        let s = 1_000_000_000;
        assert_eq!(duration_string(1800 * s), "30m0s");
        assert_eq!(duration_string(3661 * s + s / 2), "1h1m1.5s");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(-2_000_000), "-2ms");
        assert_eq!(duration_string(5), "5ns");
    }
}
