//! String literals: Go's quoting rules, as PromQL uses them.

/// Unquotes a `"…"`, `'…'` or `` `…` `` literal, resolving Go escape sequences. The error text matches Prometheus's.
pub(crate) fn unquote(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return Err("invalid syntax".into());
    }
    let q = bytes[0];
    if bytes[bytes.len() - 1] != q {
        return Err("invalid syntax".into());
    }
    let body = &s[1..s.len() - 1];
    if q == b'`' {
        return Ok(body.to_string());
    }
    if q != b'"' && q != b'\'' {
        return Err("invalid syntax".into());
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { return Err("escape sequence not terminated".into()) };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' if q == b'"' => out.push('"'),
            '\'' if q == b'\'' => out.push('\''),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars.next().and_then(|c| c.to_digit(8));
                    let Some(d) = d else {
                        return Err("illegal character in escape sequence".into());
                    };
                    v = v * 8 + d;
                }
                if v > 255 {
                    return Err("escape sequence is an invalid Unicode code point".into());
                }
                // Octal and \x escapes are bytes; PromQL strings are UTF-8, so only ASCII survives intact.
                out.push(char::from(v as u8));
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                for _ in 0..n {
                    let Some(d) = chars.next().and_then(|c| c.to_digit(16)) else {
                        return Err("illegal character in escape sequence".into());
                    };
                    v = v * 16 + d;
                }
                if e == 'x' {
                    out.push(char::from(v as u8));
                } else {
                    match char::from_u32(v) {
                        Some(c) => out.push(c),
                        None => {
                            return Err("escape sequence is an invalid Unicode code point".into());
                        }
                    }
                }
            }
            other => return Err(format!("unknown escape sequence {}", go_rune_u(other))),
        }
    }
    Ok(out)
}

fn go_rune_u(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}

/// Quotes `s` as Go's `strconv.Quote` does (used when printing queries).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(unquote(r#""a\"b\n""#).unwrap(), "a\"b\n");
        assert_eq!(unquote(r"'a\'b'").unwrap(), "a'b");
        assert_eq!(unquote("`a\\b`").unwrap(), "a\\b");
        assert_eq!(unquote(r#""\u00e9""#).unwrap(), "é");
        assert!(unquote(r#""\q""#).is_err());
        assert_eq!(quote("a\"b\\"), r#""a\"b\\""#);
    }
}
