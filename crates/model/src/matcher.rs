//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's fully anchored regex semantics and fast paths for the
//! common regex shapes (literal, alternation of literals, prefix/suffix/contains, `.*`, `.+`).

use std::collections::HashSet;
use std::fmt;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Literal, Look, Repetition};

use crate::Error;
use crate::re2::{go_compile_error, translate_re2};

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regexp,
    /// `!~`
    NotRegexp,
}

impl MatchType {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a regex is evaluated: a fast path when its shape allows, the compiled regex otherwise.
#[derive(Debug, Clone)]
enum Strategy {
    /// Matches everything (`.*`).
    Any,
    /// Matches every non-empty string (`.+`).
    NonEmpty,
    /// Matches exactly one string.
    Literal(String),
    /// Matches one of a set of strings (`a|b|c`).
    Set(HashSet<String>),
    /// `prefix.*`
    Prefix(String),
    /// `.*suffix`
    Suffix(String),
    /// `.*needle.*`
    Contains(String),
    /// Anything else.
    Regex(Regex),
}

/// A label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The operator.
    pub match_type: MatchType,
    /// The label name.
    pub name: String,
    /// The value or pattern as written.
    pub value: String,
    strategy: Option<Strategy>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.match_type == other.match_type && self.name == other.name && self.value == other.value
    }
}

impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.match_type.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

impl Matcher {
    /// Builds a matcher; regex matchers are compiled (anchored at both ends, `.` matching newlines) with Go RE2
    /// semantics.
    pub fn new(
        match_type: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, Error> {
        let value = value.into();
        let strategy = match match_type {
            MatchType::Regexp | MatchType::NotRegexp => Some(compile(&value)?),
            _ => None,
        };
        Ok(Matcher { match_type, name: name.into(), value, strategy })
    }

    /// An equality matcher (never fails).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            match_type: MatchType::Equal,
            name: name.into(),
            value: value.into(),
            strategy: None,
        }
    }

    /// Whether `value` satisfies the matcher. An absent label is matched as the empty string.
    pub fn matches(&self, value: &str) -> bool {
        match self.match_type {
            MatchType::Equal => value == self.value,
            MatchType::NotEqual => value != self.value,
            MatchType::Regexp => self.regex_matches(value),
            MatchType::NotRegexp => !self.regex_matches(value),
        }
    }

    fn regex_matches(&self, v: &str) -> bool {
        match &self.strategy {
            Some(Strategy::Any) => true,
            Some(Strategy::NonEmpty) => !v.is_empty(),
            Some(Strategy::Literal(s)) => v == s,
            Some(Strategy::Set(set)) => set.contains(v),
            Some(Strategy::Prefix(p)) => v.starts_with(p.as_str()),
            Some(Strategy::Suffix(s)) => v.ends_with(s.as_str()),
            Some(Strategy::Contains(s)) => v.contains(s.as_str()),
            Some(Strategy::Regex(re)) => re.is_match(v),
            None => false,
        }
    }

    /// Whether the matcher matches the empty string (so it also selects series lacking the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For regex matchers whose pattern is a finite set of literals, those literals (for postings look-ups).
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        if self.match_type != MatchType::Regexp {
            return None;
        }
        match &self.strategy {
            Some(Strategy::Literal(s)) => Some(vec![s.as_str()]),
            Some(Strategy::Set(set)) => {
                let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
                v.sort_unstable();
                Some(v)
            }
            _ => None,
        }
    }

    /// A literal prefix every matching value must start with, for regex matchers (postings look-ups).
    pub fn prefix(&self) -> Option<&str> {
        match &self.strategy {
            Some(Strategy::Prefix(p)) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for Matcher {
    /// Formats as PromQL would print it: `name="value"`, quoting the name when it is not a legacy name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if crate::is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            crate::labels::write_go_quoted(f, &self.name)?;
        }
        f.write_str(self.match_type.as_str())?;
        crate::labels::write_go_quoted(f, &self.value)
    }
}

fn compile(pat: &str) -> Result<Strategy, Error> {
    let translated = translate_re2(pat)?;
    let anchored = format!("^(?s:{translated})$");
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(&format!("(?s:{translated})"));
    if let Ok(hir) = &hir
        && let Some(s) = fast_strategy(hir)
    {
        // Still validate the full pattern exactly as the slow path would.
        Regex::new(&anchored).map_err(|e| go_compile_error(pat, &e))?;
        return Ok(s);
    }
    let re = regex::RegexBuilder::new(&anchored)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| go_compile_error(pat, &e))?;
    Ok(Strategy::Regex(re))
}

fn literal_of(h: &Hir) -> Option<String> {
    match h.kind() {
        HirKind::Empty => Some(String::new()),
        HirKind::Literal(Literal(b)) => String::from_utf8(b.to_vec()).ok(),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                s.push_str(&literal_of(p)?);
            }
            Some(s)
        }
        HirKind::Capture(c) => literal_of(&c.sub),
        _ => None,
    }
}

/// The finite set of strings `h` matches when it is built only of literals, small classes, alternations and
/// concatenations, with at most `limit` members.
fn literal_set(h: &Hir, limit: usize) -> Option<Vec<String>> {
    match h.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(Literal(b)) => Some(vec![String::from_utf8(b.to_vec()).ok()?]),
        HirKind::Capture(c) => literal_set(&c.sub, limit),
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string());
                    if out.len() > limit {
                        return None;
                    }
                }
            }
            Some(out)
        }
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(literal_set(a, limit)?);
                if out.len() > limit {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => {
            let mut out = vec![String::new()];
            for p in parts {
                let next = literal_set(p, limit)?;
                if out.len() * next.len() > limit {
                    return None;
                }
                out =
                    out.iter().flat_map(|a| next.iter().map(move |b| format!("{a}{b}"))).collect();
            }
            Some(out)
        }
        _ => None,
    }
}

/// Whether `h` is `.*` (`min` 0) or `.+` (`min` 1) over any character.
fn is_dot_star(h: &Hir, min: u32) -> bool {
    match h.kind() {
        HirKind::Repetition(Repetition { min: m, max: None, sub, .. }) if *m == min => {
            match sub.kind() {
                HirKind::Class(Class::Unicode(c)) => {
                    c.ranges().len() == 1
                        && c.ranges()[0].start() == '\0'
                        && c.ranges()[0].end() == '\u{10FFFF}'
                }
                _ => false,
            }
        }
        HirKind::Capture(c) => is_dot_star(&c.sub, min),
        _ => false,
    }
}

fn fast_strategy(h: &Hir) -> Option<Strategy> {
    if let HirKind::Capture(c) = h.kind() {
        return fast_strategy(&c.sub);
    }
    if is_dot_star(h, 0) {
        return Some(Strategy::Any);
    }
    if is_dot_star(h, 1) {
        return Some(Strategy::NonEmpty);
    }
    if let Some(l) = literal_of(h) {
        return Some(Strategy::Literal(l));
    }
    if let Some(set) = literal_set(h, 256) {
        return Some(Strategy::Set(set.into_iter().collect()));
    }
    match h.kind() {
        HirKind::Concat(parts) if parts.len() >= 2 => {
            if parts.iter().any(|p| matches!(p.kind(), HirKind::Look(Look::Start | Look::End))) {
                return None;
            }
            let first_any = is_dot_star(&parts[0], 0);
            let last_any = is_dot_star(&parts[parts.len() - 1], 0);
            let lo = usize::from(first_any);
            let hi = parts.len() - usize::from(last_any);
            if lo >= hi {
                return None;
            }
            let mut lit = String::new();
            for p in &parts[lo..hi] {
                lit.push_str(&literal_of(p)?);
            }
            match (first_any, last_any) {
                (false, true) => Some(Strategy::Prefix(lit)),
                (true, false) => Some(Strategy::Suffix(lit)),
                (true, true) => Some(Strategy::Contains(lit)),
                (false, false) => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pat: &str, yes: &[&str], no: &[&str]) {
        let m = Matcher::new(MatchType::Regexp, "x", pat).unwrap();
        for s in yes {
            assert!(m.matches(s), "{pat} should match {s:?} ({:?})", m.strategy);
        }
        for s in no {
            assert!(!m.matches(s), "{pat} should not match {s:?} ({:?})", m.strategy);
        }
        let n = Matcher::new(MatchType::NotRegexp, "x", pat).unwrap();
        for s in yes {
            assert!(!n.matches(s));
        }
    }

    #[test]
    fn regex_is_fully_anchored() {
        check("foo", &["foo"], &["foobar", "xfoo", ""]);
        check("foo.*", &["foo", "foobar", "foo\nbar"], &["xfoo"]);
        check(".*foo", &["foo", "xfoo"], &["foox"]);
        check(".*foo.*", &["foo", "xfooy"], &["fo"]);
        check(".*", &["", "x", "\n"], &[]);
        check(".+", &["x", "\n"], &[""]);
        check("a|b|cd", &["a", "b", "cd"], &["c", "ab", ""]);
        check("a+b", &["aab"], &["b", "aabx"]);
        check("(?i)foo", &["FOO", "foo"], &["fooo"]);
        check("foo|", &["foo", ""], &["f"]);
        check("^foo$", &["foo"], &["foox"]);
    }

    #[test]
    fn set_matches_and_prefix() {
        let m = Matcher::new(MatchType::Regexp, "x", "b|a").unwrap();
        assert_eq!(m.set_matches(), Some(vec!["a", "b"]));
        let m = Matcher::new(MatchType::Regexp, "x", "abc.*").unwrap();
        assert_eq!(m.prefix(), Some("abc"));
    }

    #[test]
    fn bad_regex_is_error_in_go_words() {
        let e = Matcher::new(MatchType::Regexp, "x", "(").unwrap_err();
        assert_eq!(e.to_string(), "error parsing regexp: missing closing ): `(`");
        let e = Matcher::new(MatchType::Regexp, "x", "*").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("error parsing regexp: missing argument to repetition operator"),
            "{e}"
        );
    }

    #[test]
    fn equality_and_display() {
        let m = Matcher::new(MatchType::NotEqual, "job", "a\"b").unwrap();
        assert!(m.matches("x") && !m.matches("a\"b"));
        assert_eq!(m.to_string(), r#"job!="a\"b""#);
        assert!(Matcher::equal("a", "").matches_empty());
    }
}
