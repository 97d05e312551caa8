//! A parser for series selectors (`match[]` parameters): `name`, `name{l="v", …}`, `{__name__=~"x.*"}` and the
//! UTF-8 quoted forms. The full PromQL parser lives in `promql-syntax`; this covers the subset the metadata
//! endpoints accept, with Prometheus's checks (at least one matcher that does not match the empty string).

use model::{MatchType, Matcher};

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with([' ', '\t', '\n', '\r']) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn err(&self, msg: &str) -> String {
        format!("1:{}: parse error: {msg}", self.pos + 1)
    }

    fn ident(&mut self, metric: bool) -> Option<&str> {
        let start = self.pos;
        for (i, c) in self.s[self.pos..].char_indices() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (metric && c == ':')
                || (i > 0 && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos = start + i + c.len_utf8();
        }
        (self.pos > start).then(|| &self.s[start..self.pos])
    }

    fn string(&mut self) -> Result<String, String> {
        let Some(q) = self.peek().filter(|c| matches!(c, '"' | '\'' | '`')) else {
            return Err(self.err("expected string"));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut it = self.s[self.pos..].char_indices();
        while let Some((i, c)) = it.next() {
            if c == q {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && q != '`' {
                let Some((_, e)) = it.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' | '"' | '\'' => out.push(e),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String =
                            (0..n).filter_map(|_| it.next().map(|(_, h)| h)).collect();
                        let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match ch {
                            Some(ch) => out.push(ch),
                            None => return Err(self.err("invalid escape sequence")),
                        }
                    }
                    _ => return Err(self.err(&format!("unknown escape sequence '{e}'"))),
                }
                continue;
            }
            out.push(c);
        }
        Err(self.err("unterminated quoted string"))
    }
}

/// Parses one series selector into its matchers.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let mut lx = Lexer { s, pos: 0 };
    lx.ws();
    let mut matchers = Vec::new();
    if let Some(name) = lx.ident(true) {
        matchers.push(Matcher::equal("__name__", name));
    }
    lx.ws();
    if lx.peek() == Some('{') {
        lx.pos += 1;
        loop {
            lx.ws();
            if lx.peek() == Some('}') {
                lx.pos += 1;
                break;
            }
            let name = if lx.peek() == Some('"') || lx.peek() == Some('\'') {
                lx.string()?
            } else {
                lx.ident(false)
                    .map(str::to_string)
                    .ok_or_else(|| lx.err("unexpected character inside braces"))?
            };
            lx.ws();
            let rest = &lx.s[lx.pos..];
            let op = if rest.starts_with("=~") {
                MatchType::Regexp
            } else if rest.starts_with("!~") {
                MatchType::NotRegexp
            } else if rest.starts_with("!=") {
                MatchType::NotEqual
            } else if rest.starts_with('=') {
                MatchType::Equal
            } else {
                // A bare quoted string is a metric name (UTF-8 syntax).
                if matches!(lx.peek(), Some(',') | Some('}')) {
                    if matchers.iter().any(|m: &Matcher| m.name == "__name__") {
                        return Err(lx.err("metric name must not be set twice"));
                    }
                    matchers.push(Matcher::equal("__name__", name));
                    if lx.peek() == Some(',') {
                        lx.pos += 1;
                    }
                    continue;
                }
                return Err(lx.err(
                    "unexpected character in label matching, expected label matching operator",
                ));
            };
            lx.pos += if op == MatchType::Equal { 1 } else { 2 };
            lx.ws();
            let value = lx.string()?;
            matchers.push(Matcher::new(op, name, value).map_err(|e| lx.err(&e.to_string()))?);
            lx.ws();
            match lx.peek() {
                Some(',') => lx.pos += 1,
                Some('}') => {}
                _ => {
                    return Err(
                        lx.err("unexpected character in label matching, expected \",\" or \"}\"")
                    );
                }
            }
        }
    }
    lx.ws();
    if lx.pos != s.len() {
        return Err(lx.err(&format!("unexpected character: {:?}", lx.peek().unwrap_or(' '))));
    }
    if matchers.is_empty() {
        return Err(lx.err("unexpected end of input"));
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(lx.err("vector selector must contain at least one non-empty matcher"));
    }
    Ok(matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let m = parse_selector(r#"up{job="a\"b", instance=~"x.*",}"#).unwrap();
        let shown: Vec<String> = m.iter().map(ToString::to_string).collect();
        assert_eq!(shown, vec![r#"__name__="up""#, r#"job="a\"b""#, r#"instance=~"x.*""#]);
        let m = parse_selector(r#"{"my.metric", "a.b"='x'}"#).unwrap();
        assert_eq!(m[0].value, "my.metric");
        assert_eq!(m[1].name, "a.b");
        for bad in ["{}", r#"{a=~".*"}"#, "up{", "up{a}", "up extra", r#"{a="b"#] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_selector(r#"{a=""}"#).unwrap_err(),
            "1:7: parse error: vector selector must contain at least one non-empty matcher"
        );
    }
}
