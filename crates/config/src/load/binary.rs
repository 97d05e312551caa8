//! `!!binary` scalars whose bytes are not UTF-8. Go keeps such bytes in its strings and rejects them where a label
//! name or value is validated; Rust strings cannot hold them, so the YAML library stops at the scalar. This module
//! finds that scalar in the source text and words the error as Prometheus's validation would.

/// The message Prometheus gives for the non-UTF-8 `!!binary` scalar at `line`:`col` (1-based, as the YAML library
/// reports them), or `None` when the scalar is not a label name or value (Prometheus would keep the bytes there).
pub(super) fn non_utf8_message(text: &str, line: usize, col: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let row = *lines.get(line.checked_sub(1)?)?;
    let start = row.char_indices().nth(col.checked_sub(1)?).map(|(i, _)| i)?;
    let (payload, rest) = scalar_at(&row[start..])?;
    let bytes = decode_base64(payload)?;
    let is_key = rest.trim_start().starts_with(':');
    // The mapping that holds the scalar's key is named on the nearest less indented line above.
    let key_indent = indent(row);
    let holder = parent_key(&lines[..line - 1], key_indent)?;
    let quoted = quote_bytes(&bytes);
    match (is_key, holder) {
        (true, "external_labels" | "labels") => Some(format!("{quoted} is not a valid label name")),
        (false, "external_labels") => Some(format!("{quoted} is not a valid label value")),
        _ => None,
    }
}

/// The content of the scalar that starts `s` (double-quoted, single-quoted or plain) and the text after it.
fn scalar_at(s: &str) -> Option<(&str, &str)> {
    for q in ['"', '\''] {
        if let Some(body) = s.strip_prefix(q) {
            let end = body.find(q)?;
            return Some((&body[..end], &body[end + 1..]));
        }
    }
    let end = [s.find(": "), s.find(" #"), s.strip_suffix(':').map(str::len)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(s.len());
    Some((s[..end].trim_end(), &s[end..]))
}

/// The indentation of a line, counting a sequence entry's `- ` as indentation of the key after it.
fn indent(line: &str) -> usize {
    let spaces = line.len() - line.trim_start().len();
    let mut rest = &line[spaces..];
    let mut n = spaces;
    while let Some(r) = rest.strip_prefix("- ") {
        let pad = r.len() - r.trim_start().len();
        n += 2 + pad;
        rest = &r[pad..];
    }
    n
}

/// The key of the nearest line above, less indented than `below`, that opens a mapping.
fn parent_key<'a>(above: &[&'a str], below: usize) -> Option<&'a str> {
    for l in above.iter().rev() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let n = indent(l);
        if n < below {
            let key = l[n..].split(':').next()?.trim();
            return Some(key.trim_matches(['"', '\'']));
        }
    }
    None
}

/// Standard base64 with padding, whitespace ignored (YAML folds long `!!binary` scalars).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(4) {
        return None;
    }
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(digits.len() / 4 * 3);
    for (i, quad) in digits.chunks(4).enumerate() {
        let last = i == digits.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &quad[..4 - pad] {
            n = n << 6 | value(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Go's `%q` of a byte string: UTF-8 runs quoted as `strconv.Quote` does, other bytes as `\xNN`.
fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let valid = model::gostr::quote(chunk.valid());
        out.push_str(&valid[1..valid.len() - 1]);
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_and_values_are_recognised() {
        let name = "global:\n  external_labels:\n    !!binary \"/w==\": value\n";
        assert_eq!(
            non_utf8_message(name, 3, 14).as_deref(),
            Some("\"\\xff\" is not a valid label name")
        );
        let value = "global:\n  external_labels:\n    name: !!binary \"/w==\"\n";
        assert_eq!(
            non_utf8_message(value, 3, 20).as_deref(),
            Some("\"\\xff\" is not a valid label value")
        );
        let target = "scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels:\n          !!binary YeI=: b\n";
        assert_eq!(
            non_utf8_message(target, 5, 20).as_deref(),
            Some("\"a\\xe2\" is not a valid label name")
        );
        let job = "scrape_configs:\n  - job_name: !!binary \"/w==\"\n";
        assert_eq!(non_utf8_message(job, 2, 24), None, "a job name is not validated");
    }

    #[test]
    fn base64_decodes_with_padding_and_folding() {
        assert_eq!(decode_base64("aGVs bG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("/w==").as_deref(), Some(&[0xff][..]));
        assert_eq!(decode_base64("/w==$1"), None);
        assert_eq!(decode_base64("/w==/w=="), None);
    }
}
