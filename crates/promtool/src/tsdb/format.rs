//! Go's formatting where `promtool tsdb` output depends on it: `text/tabwriter` tables, `time.Duration` and
//! `time.Time` strings, `units.Base2Bytes`, `%g` floats, `strconv.Quote` and `encoding/json` strings.

use model::Labels;

/// Lays out rows as Go's `tabwriter.NewWriter(w, minwidth, 0, padding, ' ', 0)` does when every line has the
/// same number of cells: each cell but the last of a line is padded to its column's width (the widest cell plus
/// `padding`, at least `minwidth`); the last cell is written as is.
pub(crate) fn tabwrite(rows: &[Vec<String>], minwidth: usize, padding: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![minwidth; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + padding);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `time.Duration(ns).String()`: `0s`, `750ms`, `30.001s`, `2h0m0s`.
pub(crate) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, scale) = match u {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        out.push_str(&with_fraction(u, scale));
        out.push_str(unit);
        return out;
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&with_fraction(s * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000));
    out.push('s');
    out
}

/// `v / scale` with its fractional digits, trailing zeros dropped (`scale` is a power of ten).
fn with_fraction(v: u64, scale: u64) -> String {
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let digits = scale.ilog10() as usize;
    let frac = format!("{frac:0digits$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// The time as Go's `time.Unix(ms/1000, 0).UTC().String()` prints it: `2023-11-14 22:13:20 +0000 UTC`.
pub(crate) fn go_utc_time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp(ms / 1000, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => ms.to_string(),
    }
}

/// `units.Base2Bytes(n).String()`: every non-zero power-of-1024 part, largest first (`1KiB5B`, `808B`, `0B`).
pub(crate) fn base2_bytes(n: i64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut parts: Vec<String> = Vec::new();
    let mut n = n;
    for (i, unit) in UNITS.iter().enumerate() {
        if n % 1024 != 0 || (i == 0 && n == 0) {
            let suffix = if i == 0 { "B" } else { "iB" };
            parts.push(format!("{}{unit}{suffix}", n % 1024));
        }
        n /= 1024;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    parts.concat()
}

/// Go's `%g` for a float64 (`NaN`, `+Inf`, `1e+06`, `0.1`).
pub(crate) fn go_g(v: f64) -> String {
    template::sprintf("%g", &[template::Value::Float(v)])
}

/// Go's `strconv.Quote`, as label values are quoted in `Labels.String()`.
pub(crate) fn go_quote(s: &str) -> String {
    let one = Labels::from_pairs([("a", s)]).to_string();
    // `{a="…"}`: keep the quoted value.
    one.get(3..one.len().saturating_sub(1)).unwrap_or_default().to_string()
}

/// A JSON string as Go's `encoding/json` writes it (HTML characters and U+2028/U+2029 escaped).
pub(crate) fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Marshal(labels)`: an object of the label pairs in label order.
pub(crate) fn labels_json(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(l.name, &mut out);
        out.push(':');
        go_json_string(l.value, &mut out);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        let d = |ms: i64| go_duration(ms * 1_000_000);
        assert_eq!(d(0), "0s");
        assert_eq!(d(30_001), "30.001s");
        assert_eq!(d(7_200_000), "2h0m0s");
        assert_eq!(d(7_199_999), "1h59m59.999s");
        assert_eq!(d(60_000), "1m0s");
        assert_eq!(d(750), "750ms");
        assert_eq!(d(-1500), "-1.5s");
        assert_eq!(go_duration(1500), "1.5µs");
        assert_eq!(base2_bytes(808), "808B");
        assert_eq!(base2_bytes(0), "0B");
        assert_eq!(base2_bytes(1024), "1KiB");
        assert_eq!(base2_bytes(1024 * 1024 * 3 + 5), "3MiB5B");
        assert_eq!(go_utc_time(1_700_000_030_001), "2023-11-14 22:13:50 +0000 UTC");
        assert_eq!(go_g(1e6), "1e+06");
        assert_eq!(go_g(123456.0), "123456");
        assert_eq!(go_g(0.1), "0.1");
        assert_eq!(go_g(f64::INFINITY), "+Inf");
        assert_eq!(go_g(f64::NAN), "NaN");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        let l = Labels::from_pairs([("__name__", "x<y>"), ("a", "é\u{1}")]);
        assert_eq!(labels_json(&l), r#"{"__name__":"x\u003cy\u003e","a":"é\u0001"}"#);
    }

    #[test]
    fn tabwriter_pads_all_but_the_last_cell() {
        let rows = vec![
            vec!["BLOCK ULID".to_string(), "DURATION".into(), "SIZE".into()],
            vec!["01M8812ZMGPXCKKXXPMKXJMWAY".to_string(), "30.001s".into(), "808".into()],
        ];
        assert_eq!(
            tabwrite(&rows, 13, 2),
            "BLOCK ULID                  DURATION     SIZE\n01M8812ZMGPXCKKXXPMKXJMWAY  30.001s      808\n"
        );
    }
}
