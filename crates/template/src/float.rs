//! Go's `strconv.FormatFloat` for the `e`, `f` and `g` formats, and `strconv.ParseFloat`.
//!
//! Rust's formatter already produces correctly rounded digits (shortest round-trip, or exact with a precision, ties
//! to even), which is what Go produces too; only the layout differs. So digits come from Rust and this module lays
//! them out with Go's rules: `1e+06`, an exponent of at least two digits, and `%g` switching to exponent form
//! when the exponent is below -4 or at least the precision (6 for the shortest form).

/// The float layouts supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatFmt {
    /// `%e`.
    E,
    /// `%E`.
    UpperE,
    /// `%f`.
    F,
    /// `%g`.
    G,
    /// `%G`.
    UpperG,
}

/// Decimal digits `0.d1d2d3… × 10^dp`, without leading or trailing zeros; no digits means zero.
#[derive(Debug)]
struct Decimal {
    d: Vec<u8>,
    dp: i32,
}

/// Parses Rust's `{:e}` output (`1.2345e-7`) into digits and decimal-point position.
fn from_exp(s: &str) -> Decimal {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    normalize(d, exp + 1)
}

/// Parses Rust's fixed output (`123.4500`).
fn from_fixed(s: &str) -> Decimal {
    let int_len = s.find('.').unwrap_or(s.len()) as i32;
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    normalize(d, int_len)
}

fn normalize(mut d: Vec<u8>, mut dp: i32) -> Decimal {
    let lead = d.iter().take_while(|&&c| c == b'0').count();
    d.drain(..lead);
    dp -= lead as i32;
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        dp = 0;
    }
    Decimal { d, dp }
}

/// Formats like Go's `strconv.FormatFloat(v, fmt, prec, 64)`, where `None` is Go's `-1` (shortest).
pub(crate) fn format(v: f64, fmt: FloatFmt, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let neg = v.is_sign_negative();
    let a = v.abs();
    let upper = matches!(fmt, FloatFmt::UpperE | FloatFmt::UpperG);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let shortest = prec.is_none();
    let (digs, mut prec) = match prec {
        None => {
            let d = from_exp(&format!("{a:e}"));
            let p = match fmt {
                FloatFmt::E | FloatFmt::UpperE => d.d.len().saturating_sub(1),
                FloatFmt::F => (d.d.len() as i32 - d.dp).max(0) as usize,
                FloatFmt::G | FloatFmt::UpperG => d.d.len(),
            };
            (d, p)
        }
        Some(p) => match fmt {
            FloatFmt::E | FloatFmt::UpperE => (from_exp(&format!("{a:.p$e}")), p),
            FloatFmt::F => (from_fixed(&format!("{a:.p$}")), p),
            FloatFmt::G | FloatFmt::UpperG => {
                let p = p.max(1);
                (from_exp(&format!("{a:.prec$e}", prec = p - 1)), p)
            }
        },
    };
    match fmt {
        FloatFmt::E | FloatFmt::UpperE => fmt_e(&mut out, &digs, prec, upper),
        FloatFmt::F => fmt_f(&mut out, &digs, prec),
        FloatFmt::G | FloatFmt::UpperG => {
            let nd = digs.d.len() as i32;
            let mut eprec = prec as i32;
            if eprec > nd && nd >= digs.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > digs.d.len() {
                    prec = digs.d.len();
                }
                fmt_e(&mut out, &digs, prec.saturating_sub(1), upper);
            } else {
                if prec as i32 > digs.dp {
                    prec = digs.d.len();
                }
                fmt_f(&mut out, &digs, (prec as i32 - digs.dp).max(0) as usize);
            }
        }
    }
    out
}

fn fmt_e(out: &mut String, d: &Decimal, prec: usize, upper: bool) {
    out.push(d.d.first().map_or('0', |&c| char::from(c)));
    if prec > 0 {
        out.push('.');
        let avail = d.d.len().saturating_sub(1).min(prec);
        for &c in d.d.get(1..1 + avail).unwrap_or(&[]) {
            out.push(char::from(c));
        }
        for _ in avail..prec {
            out.push('0');
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
}

fn fmt_f(out: &mut String, d: &Decimal, prec: usize) {
    if d.dp > 0 {
        let dp = d.dp as usize;
        let m = d.d.len().min(dp);
        for &c in &d.d[..m] {
            out.push(char::from(c));
        }
        for _ in m..dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = i64::from(d.dp) + i - 1;
            let c =
                if j >= 0 && (j as usize) < d.d.len() { char::from(d.d[j as usize]) } else { '0' };
            out.push(c);
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)`, with Go's error text:
/// `strconv.ParseFloat: parsing "x": invalid syntax` or `…: value out of range`.
pub(crate) fn parse_float(s: &str) -> Result<f64, String> {
    let err =
        |what: &str| format!("strconv.ParseFloat: parsing {}: {what}", crate::gofmt::quote(s));
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return s.parse::<f64>().map_err(|_| err("invalid syntax"));
    }
    let hex = lower.starts_with("0x");
    if hex {
        return parse_hex_float(s).ok_or_else(|| err("invalid syntax"));
    }
    // Go accepts underscores only after a base prefix, and Rust's parser also takes forms Go rejects.
    let valid_chars = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !valid_chars {
        return Err(err("invalid syntax"));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(err("value out of range")),
        Ok(v) => Ok(v),
        Err(_) => Err(err("invalid syntax")),
    }
}

/// Parses a hexadecimal float such as `0x1.8p3` (Go requires the `p` exponent).
fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.get(2..)?.replace('_', "");
    let (mant, exp) = body.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let g = |v| format(v, FloatFmt::G, None);
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(123456.0), "123456");
        assert_eq!(g(0.1), "0.1");
        assert_eq!(g(3.0), "3");
        assert_eq!(g(0.0), "0");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1e-5), "1e-05");
        assert_eq!(g(1.353755652e9), "1.353755652e+09");
        assert_eq!(format(1234.5678, FloatFmt::G, Some(4)), "1235");
        assert_eq!(format(100000.0, FloatFmt::G, Some(4)), "1e+05");
        assert_eq!(format(0.0, FloatFmt::E, Some(6)), "0.000000e+00");
        assert_eq!(format(3720.01, FloatFmt::F, Some(2)), "3720.01");
        assert_eq!(format(0.001, FloatFmt::F, Some(2)), "0.00");
    }

    #[test]
    fn parse() {
        assert_eq!(parse_float("1.5"), Ok(1.5));
        assert_eq!(parse_float(".12"), Ok(0.12));
        assert_eq!(parse_float("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_float("0x1p-2"), Ok(0.25));
        assert_eq!(
            parse_float("one").unwrap_err(),
            r#"strconv.ParseFloat: parsing "one": invalid syntax"#
        );
        assert_eq!(
            parse_float("1e400").unwrap_err(),
            r#"strconv.ParseFloat: parsing "1e400": value out of range"#
        );
    }
}
