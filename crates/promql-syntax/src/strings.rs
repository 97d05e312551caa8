//! String literals: Go's quoting rules, as PromQL uses them.
//!
//! Go strings are byte strings, so a PromQL literal such as `"a\xc5z"` holds bytes that are not UTF-8. Rust strings
//! cannot, so every byte of such a sequence is carried as the private-use code point `U+10FF00 + byte`.
//! [`quote`] prints these back as `\xNN` (so printed queries re-parse to the same tree) and
//! [`has_invalid_utf8`] lets label-name validation reject them as Prometheus rejects invalid UTF-8.

/// First code point of the range carrying bytes that were not valid UTF-8.
const RAW_BYTE_BASE: u32 = 0x10FF00;

/// The code point carrying raw byte `b`.
fn raw_byte_char(b: u8) -> char {
    char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The raw byte `c` carries, when it stands for a byte that was not valid UTF-8.
fn carried_byte(c: char) -> Option<u8> {
    (c as u32).checked_sub(RAW_BYTE_BASE).and_then(|b| u8::try_from(b).ok())
}

/// Whether `s` came from a literal whose bytes were not valid UTF-8 (see the module documentation).
pub fn has_invalid_utf8(s: &str) -> bool {
    s.chars().any(|c| carried_byte(c).is_some())
}

/// Decodes bytes as UTF-8, carrying every byte of an invalid sequence as a private-use code point.
fn decode_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(chunk.invalid().iter().map(|&b| raw_byte_char(b)));
    }
    out
}

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
    // Escapes produce bytes (`\xNN`, octal) or code points; collect bytes and decode once at the end.
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut buf = [0u8; 4];
    let mut push =
        |out: &mut Vec<u8>, c: char| out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            push(&mut out, c);
            continue;
        }
        let Some(e) = chars.next() else { return Err("escape sequence not terminated".into()) };
        match e {
            'a' => push(&mut out, '\u{7}'),
            'b' => push(&mut out, '\u{8}'),
            'f' => push(&mut out, '\u{c}'),
            'n' => push(&mut out, '\n'),
            'r' => push(&mut out, '\r'),
            't' => push(&mut out, '\t'),
            'v' => push(&mut out, '\u{b}'),
            '\\' => push(&mut out, '\\'),
            '"' if q == b'"' => push(&mut out, '"'),
            '\'' if q == b'\'' => out.push(b'\''),
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
                // Octal and \x escapes are bytes.
                out.push(v as u8);
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
                    out.push(v as u8);
                } else {
                    match char::from_u32(v) {
                        Some(c) => push(&mut out, c),
                        None => {
                            return Err("escape sequence is an invalid Unicode code point".into());
                        }
                    }
                }
            }
            other => return Err(format!("unknown escape sequence {}", go_rune_u(other))),
        }
    }
    Ok(decode_bytes(&out))
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
            c => match carried_byte(c) {
                Some(b) => out.push_str(&format!("\\x{b:02x}")),
                None => out.push(c),
            },
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

    #[test]
    fn invalid_utf8_bytes_survive() {
        let s = unquote(r#""a\xc5z""#).unwrap();
        assert!(has_invalid_utf8(&s));
        assert_eq!(quote(&s), r#""a\xc5z""#);
        // Escaped bytes forming valid UTF-8 decode to the character.
        assert_eq!(unquote(r#""\xc3\xa9\303\251""#).unwrap(), "éé");
        assert!(!has_invalid_utf8("é"));
    }
}
