//! Go RE2 compatibility for Rust's `regex` crate.
//!
//! Prometheus compiles regular expressions with Go's `regexp`. Rust's `regex` is the same family but differs in
//! defaults and syntax, so a pattern is translated before it is compiled:
//! - Perl classes `\d \w \s` (and their negations) are ASCII in Go, Unicode in Rust: they become explicit classes.
//! - `\b`/`\B` are ASCII word boundaries in Go.
//! - `\Q…\E` literal quoting exists only in Go: the quoted text is escaped.
//! - Character-class set operations `&&`, `--`, `~~` and nested classes exist only in Rust: the characters are
//!   escaped so they stay literal, as in Go.
//! - Syntax Go rejects but Rust accepts (`\u`, `\U`, the `x`/`u`/`R` flags, repeat counts over 1000) is rejected
//!   with Go's message.

use crate::Error;

fn go_err(code: &str, expr: &str) -> Error {
    Error::Regex(format!("{code}: `{expr}`"))
}

/// Translates a Go RE2 pattern into an equivalent pattern for Rust's `regex` crate, or reports the error Go's
/// `regexp.Compile` would report (`error parsing regexp: …`).
pub fn translate_re2(pat: &str) -> Result<String, Error> {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::with_capacity(pat.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = 0usize;
    let mut in_rep = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                return Err(go_err("trailing backslash at end of expression", ""));
            };
            i += 2;
            match n {
                'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                'D' => out.push_str("[^0-9]"),
                'w' => out.push_str(if in_class { "0-9A-Za-z_" } else { "[0-9A-Za-z_]" }),
                'W' => out.push_str("[^0-9A-Za-z_]"),
                's' => out.push_str(if in_class { "\\t\\n\\x0C\\r " } else { "[\\t\\n\\x0C\\r ]" }),
                'S' => out.push_str("[^\\t\\n\\x0C\\r ]"),
                'b' if !in_class => out.push_str("(?-u:\\b)"),
                'B' if !in_class => out.push_str("(?-u:\\B)"),
                'Q' => {
                    let mut lit = String::new();
                    while i < chars.len() {
                        if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                            i += 2;
                            break;
                        }
                        lit.push(chars[i]);
                        i += 1;
                    }
                    out.push_str(&regex_syntax::escape(&lit));
                }
                'E' => {}
                'u' | 'U' | 'C' | 'Z' | 'c' | 'e' | 'K' | 'G' | 'R' | 'X' | 'h' | 'H' | 'V'
                | 'N' | 'o' => {
                    return Err(go_err("invalid escape sequence", &format!("\\{n}")));
                }
                '1'..='9' => return Err(go_err("invalid escape sequence", &format!("\\{n}"))),
                c if c.is_ascii_alphanumeric() => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_ascii() => {
                    out.push('\\');
                    out.push(c);
                }
                c => return Err(go_err("invalid escape sequence", &format!("\\{c}"))),
            }
            continue;
        }
        if in_class {
            match c {
                ']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                '[' if chars.get(i + 1) == Some(&':') => {
                    // POSIX class like [:alpha:]: copy through to the closing ":]".
                    let rest: String = chars[i..].iter().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push_str(&rest[..end + 2]);
                        i += rest[..end + 2].chars().count();
                        continue;
                    }
                    out.push_str("\\[");
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A leading ']' is a literal in both dialects.
                class_start = i + 1;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                // Flag groups: Go knows only i, m, s, U (and '-').
                let mut j = i + 2;
                if chars.get(j) == Some(&'P') || chars.get(j) == Some(&'<') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                while let Some(&f) = chars.get(j) {
                    if f == ')' || f == ':' {
                        break;
                    }
                    if !matches!(f, 'i' | 'm' | 's' | 'U' | '-') {
                        let upto: String = chars[i..=j.min(chars.len() - 1)].iter().collect();
                        return Err(go_err("invalid or unsupported Perl syntax", &upto));
                    }
                    j += 1;
                }
                out.push(c);
            }
            '{' => {
                // Go caps repeat counts at 1000.
                let rest: String = chars[i..].iter().collect();
                if let Some(end) = rest.find('}') {
                    let inner = &rest[1..end];
                    let parts: Vec<&str> = inner.split(',').collect();
                    let numeric = !inner.is_empty()
                        && parts.len() <= 2
                        && parts.iter().enumerate().all(|(k, p)| {
                            p.chars().all(|d| d.is_ascii_digit()) && (k == 1 || !p.is_empty())
                        });
                    if numeric {
                        for p in &parts {
                            if p.parse::<u64>().is_ok_and(|n| n > 1000) {
                                return Err(go_err("invalid repeat count", &rest[..=end]));
                            }
                        }
                    } else {
                        // Not a repetition: Go treats the brace literally.
                        out.push_str("\\{");
                        i += 1;
                        continue;
                    }
                } else {
                    out.push_str("\\{");
                    i += 1;
                    continue;
                }
                in_rep = true;
                out.push(c);
            }
            '}' if in_rep => {
                in_rep = false;
                out.push('}');
            }
            '}' => out.push_str("\\}"),
            c => out.push(c),
        }
        i += 1;
    }
    if in_class {
        return Err(go_err("missing closing ]", &pat[pat.rfind('[').unwrap_or(0)..]));
    }
    Ok(out)
}

/// Converts a `regex` compile error into Go's wording where the cases line up.
pub(crate) fn go_compile_error(pat: &str, err: &regex::Error) -> Error {
    let msg = err.to_string();
    let code = if msg.contains("unclosed group") {
        "missing closing )"
    } else if msg.contains("unopened group") {
        "unexpected )"
    } else if msg.contains("repetition operator missing expression") {
        "missing argument to repetition operator"
    } else if msg.contains("unclosed character class") {
        "missing closing ]"
    } else if msg.contains("invalid character class range") {
        "invalid character class range"
    } else if msg.contains("exceeds size limit") {
        "expression too large"
    } else if msg.contains("nest") {
        "expression nests too deeply"
    } else {
        return Error::Regex(format!(
            "{}: `{pat}`",
            msg.lines().last().unwrap_or("invalid regexp").trim()
        ));
    };
    go_err(code, pat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, s: &str) -> bool {
        let re = regex::Regex::new(&format!("^(?s:{})$", translate_re2(pat).unwrap())).unwrap();
        re.is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(m(r"\d+", "123"));
        assert!(!m(r"\d", "٣"));
        assert!(!m(r"\w", "é"));
        assert!(m(r"\W", "é"));
        assert!(!m(r"\s", "\u{0b}"));
        assert!(m(r"[\d\s]+", "1 2"));
        assert!(m(r"[^\d]", "a"));
    }

    #[test]
    fn go_literals() {
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"\Qa.b\E", "axb"));
        assert!(m(r"[a&&b]", "&"));
        assert!(m(r"a{", "a{"));
        assert!(m(r"a{2}", "aa"));
        assert!(m(r"a{,2}", "a{,2}"));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for p in [r"\u0041", "(?x)a", "a{1001}", r"\1", "[a"] {
            assert!(translate_re2(p).is_err(), "{p}");
        }
    }
}
