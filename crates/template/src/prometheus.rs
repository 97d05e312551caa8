//! Prometheus's template functions (`template/template.go`, `NewTemplateExpander`): `query`, `first`, `label`,
//! `humanize`, `reReplaceAll`, `graphLink` and the rest, with Prometheus's output formats and error texts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::builtins::query_escape;
use crate::float::parse_float;
use crate::funcs::{ArgType, Func, FuncMap};
use crate::gofmt::{self, g4, quote};
use crate::gotime;
use crate::value::{SAMPLE_TYPE, Value};

/// One sample of a query result as templates see it: `.Labels` and `.Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuerySample {
    /// The series labels, including `__name__`.
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

impl QuerySample {
    /// A sample from a label set and a value.
    pub fn new(labels: &model::Labels, value: f64) -> QuerySample {
        QuerySample {
            labels: labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect(),
            value,
        }
    }

    /// The template value: a `*template.sample` struct with `Labels` and `Value` fields.
    pub fn to_value(&self) -> Value {
        Value::new_struct(
            SAMPLE_TYPE,
            vec![
                ("Labels", Value::StringMap(self.labels.clone())),
                ("Value", Value::Float(self.value)),
            ],
        )
    }
}

/// Runs a PromQL instant query for the `query` template function, at the evaluation time the caller chose.
/// Returns the result vector or an error message.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<QuerySample>, String> + Send + Sync>;

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

fn sample_labels(v: &Value) -> Result<&BTreeMap<String, String>, String> {
    match v {
        Value::Struct(s) => match s.field("Labels") {
            Some(Value::StringMap(m)) => Ok(m),
            _ => Err(NIL_DEREF.into()),
        },
        _ => Err(NIL_DEREF.into()),
    }
}

fn string_arg(a: &[Value], i: usize) -> &str {
    a.get(i).and_then(Value::as_str).unwrap_or("")
}

/// Prometheus's `ConvertToFloat`.
pub(crate) fn convert_to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::String(s) => parse_float(s),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(d) => Ok((d / 1_000_000_000) as f64 + (d % 1_000_000_000) as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.go_type())),
    }
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus's `HumanizeDuration` over seconds: `1d 2h 3m 4s`, `1.5s`, `100ms`.
pub(crate) fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Why [`float_to_time`] failed.
enum TimeError {
    NanOrInf,
    Overflow(String),
}

/// Prometheus's `floatToTime`: seconds to a UTC time, truncated to milliseconds.
fn float_to_time(v: f64) -> Result<i64, TimeError> {
    if !v.is_finite() {
        return Err(TimeError::NanOrInf);
    }
    let ts = v * 1e9;
    if !(i64::MIN as f64..=i64::MAX as f64).contains(&ts) {
        return Err(TimeError::Overflow(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::sprint(&[Value::Float(v)])
        )));
    }
    let ns = ts as i64;
    Ok((ns / 1_000_000) * 1_000_000)
}

/// Go's `net.SplitHostPort`.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    let i = hp.rfind(':')?;
    let (host, j, k) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hp[1..end], 1, end + 1)
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hp[j..].contains('[') || hp[k..].contains(']') {
        return None;
    }
    Some((host, &hp[i + 1..]))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
    if host.parse::<IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        return host.to_string();
    }
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Compiles a Go RE2 pattern, returning Go's `regexp.Compile` error text on failure.
fn compile(pattern: &str) -> Result<regex::Regex, String> {
    let translated = model::translate_re2(pattern).map_err(|e| e.to_string())?;
    regex::Regex::new(&translated)
        .map_err(|e| format!("error parsing regexp: {}", go_regex_error(pattern, &e)))
}

/// Rewords a regex compile failure with the error code and fragment Go's `regexp/syntax` reports.
fn go_regex_error(pattern: &str, err: &regex::Error) -> String {
    use regex_syntax::ast::ErrorKind as K;
    let Err(e) = regex_syntax::ast::parse::Parser::new().parse(pattern) else {
        return match err {
            regex::Error::CompiledTooBig(_) => format!("expression too large: `{pattern}`"),
            other => other.to_string(),
        };
    };
    let span = e.span();
    let frag = pattern.get(span.start.offset..span.end.offset).unwrap_or("");
    let tail = pattern.get(span.start.offset..).unwrap_or("");
    match e.kind() {
        K::GroupUnclosed => format!("missing closing ): `{pattern}`"),
        K::GroupUnopened => format!("unexpected ): `{pattern}`"),
        K::ClassUnclosed => format!("missing closing ]: `{tail}`"),
        K::ClassRangeInvalid | K::UnicodeClassInvalid => {
            format!("invalid character class range: `{frag}`")
        }
        K::EscapeUnexpectedEof => "trailing backslash at end of expression: ``".to_string(),
        K::EscapeUnrecognized
        | K::ClassEscapeInvalid
        | K::EscapeHexEmpty
        | K::EscapeHexInvalid
        | K::EscapeHexInvalidDigit => format!("invalid escape sequence: `{frag}`"),
        K::RepetitionMissing => format!("missing argument to repetition operator: `{frag}`"),
        K::RepetitionCountInvalid
        | K::RepetitionCountUnclosed
        | K::RepetitionCountDecimalEmpty
        | K::DecimalEmpty
        | K::DecimalInvalid => format!("invalid repeat count: `{frag}`"),
        K::GroupNameEmpty
        | K::GroupNameInvalid
        | K::GroupNameUnexpectedEof
        | K::GroupNameDuplicate { .. } => {
            format!("invalid named capture: `{frag}`")
        }
        K::NestLimitExceeded(_) => format!("expression nests too deeply: `{pattern}`"),
        _ => format!("invalid or unsupported Perl syntax: `{frag}`"),
    }
}

/// Go's `regexp` `ReplaceAllString`, stopping once the result exceeds `cap` bytes.
fn replace_all(re: &regex::Regex, repl: &str, text: &str, cap: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut last = 0;
    let mut last_end: Option<usize> = None;
    for caps in re.captures_iter(text) {
        let m = caps.get(0).map_or(0..0, |m| m.range());
        if m.is_empty() && last_end == Some(m.start) && m.start != 0 {
            continue;
        }
        out.push_str(&text[last..m.start]);
        caps.expand(repl, &mut out);
        last = m.end;
        last_end = Some(m.end);
        if out.len() > cap {
            return Err(format!("result exceeds {cap} bytes"));
        }
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Go's `unicode.ToUpper`/`ToLower` per rune: one-to-one mappings only (`ß` stays `ß`).
fn map_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            if !upper && c == '\u{130}' {
                return 'i';
            }
            let mut it: Box<dyn Iterator<Item = char>> =
                if upper { Box::new(c.to_uppercase()) } else { Box::new(c.to_lowercase()) };
            match (it.next(), it.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first letter of each word in title case (after
/// any leading digits, so `3rd` becomes `3Rd`), the rest untouched. Words are runs of letters, digits, `_` and
/// the in-word punctuation `'` `.` `:` between letters.
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    let mut titled = false;
    for (i, &c) in chars.iter().enumerate() {
        let word_char = c.is_alphanumeric() || c == '_';
        let mid = matches!(c, '\'' | '.' | ':' | '\u{2019}')
            && in_word
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        if word_char && !in_word {
            titled = false;
        }
        if word_char && !titled && c.is_alphabetic() {
            out.push_str(&titlecase(c));
            titled = true;
        } else {
            out.push(c);
        }
        in_word = word_char || mid;
    }
    out
}

fn titlecase(c: char) -> String {
    match c {
        'ǆ' | 'ǅ' | 'Ǆ' => "ǅ".into(),
        'ǉ' | 'ǈ' | 'Ǉ' => "ǈ".into(),
        'ǌ' | 'ǋ' | 'Ǌ' => "ǋ".into(),
        'ǳ' | 'ǲ' | 'Ǳ' => "ǲ".into(),
        'ß' => "Ss".into(),
        c => c.to_uppercase().collect(),
    }
}

/// The URL's path, percent-decoded, as Go's `url.URL.Path`.
fn url_path(u: &str) -> String {
    let u = u.split('#').next().unwrap_or("");
    let u = u.split('?').next().unwrap_or("");
    let path = match u.find("://") {
        Some(i) => {
            let rest = &u[i + 3..];
            rest.find('/').map_or("", |p| &rest[p..])
        }
        None => u,
    };
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function map of Prometheus's `NewTemplateExpander` for evaluation time `timestamp_ms`.
pub fn prometheus_funcs(
    timestamp_ms: i64,
    query: Option<QueryFn>,
    external_url: &str,
    max_bytes: usize,
) -> FuncMap {
    use ArgType::{Any, Sample, SampleList, String as S};
    let mut m = FuncMap::new();
    let f = |a: &[Value], i: usize| convert_to_float(&a[i]);
    m.insert(
        "query",
        Func::new(&[S], move |a| {
            let q = query.as_ref().ok_or_else(|| NIL_DEREF.to_string())?;
            let v = q(string_arg(a, 0))?;
            Ok(Value::List(v.iter().map(QuerySample::to_value).collect()))
        }),
    );
    m.insert(
        "first",
        Func::new(&[SampleList], |a| match &a[0] {
            Value::List(l) if !l.is_empty() => Ok(l[0].clone()),
            _ => Err("first() called on vector with no elements".into()),
        }),
    );
    m.insert(
        "label",
        Func::new(&[S, Sample], |a| {
            Ok(Value::String(
                sample_labels(&a[1])?.get(string_arg(a, 0)).cloned().unwrap_or_default(),
            ))
        }),
    );
    m.insert(
        "value",
        Func::new(&[Sample], |a| match &a[0] {
            Value::Struct(s) => Ok(s.field("Value").cloned().unwrap_or_default()),
            _ => Err(NIL_DEREF.into()),
        }),
    );
    m.insert(
        "strvalue",
        Func::new(&[Sample], |a| {
            Ok(Value::String(sample_labels(&a[0])?.get("__value__").cloned().unwrap_or_default()))
        }),
    );
    m.insert(
        "args",
        Func::variadic(&[], Any, |a| {
            Ok(Value::Map(
                a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect(),
            ))
        }),
    );
    m.insert(
        "reReplaceAll",
        Func::new(&[S, S, S], move |a| {
            let pat = string_arg(a, 0);
            let re = compile(pat).map_err(|e| {
                let q =
                    if !pat.contains('`') && !pat.contains(|c: char| c.is_control() && c != '\t') {
                        format!("`{pat}`")
                    } else {
                        quote(pat)
                    };
                format!("regexp: Compile({q}): {e}")
            })?;
            replace_all(&re, string_arg(a, 1), string_arg(a, 2), max_bytes).map(Value::String)
        }),
    );
    m.insert("safeHtml", Func::new(&[S], |a| Ok(a[0].clone())));
    m.insert(
        "match",
        Func::new(&[S, S], |a| {
            Ok(Value::Bool(compile(string_arg(a, 0))?.is_match(string_arg(a, 1))))
        }),
    );
    m.insert("title", Func::new(&[S], |a| Ok(Value::String(title(string_arg(a, 0))))));
    m.insert("toUpper", Func::new(&[S], |a| Ok(Value::String(map_case(string_arg(a, 0), true)))));
    m.insert("toLower", Func::new(&[S], |a| Ok(Value::String(map_case(string_arg(a, 0), false)))));
    m.insert(
        "graphLink",
        Func::new(&[S], |a| {
            Ok(Value::String(format!("/graph?g0.expr={}&g0.tab=0", query_escape(string_arg(a, 0)))))
        }),
    );
    m.insert(
        "tableLink",
        Func::new(&[S], |a| {
            Ok(Value::String(format!("/graph?g0.expr={}&g0.tab=1", query_escape(string_arg(a, 0)))))
        }),
    );
    m.insert(
        "sortByLabel",
        Func::new(&[S, SampleList], |a| {
            let label = string_arg(a, 0);
            let mut l = match &a[1] {
                Value::List(l) => l.clone(),
                _ => Vec::new(),
            };
            let key = |v: &Value| {
                sample_labels(v).ok().and_then(|m| m.get(label).cloned()).unwrap_or_default()
            };
            l.sort_by_cached_key(key);
            Ok(Value::List(l))
        }),
    );
    m.insert(
        "stripPort",
        Func::new(&[S], |a| {
            let hp = string_arg(a, 0);
            Ok(Value::String(split_host_port(hp).map_or(hp, |(h, _)| h).to_string()))
        }),
    );
    m.insert("stripDomain", Func::new(&[S], |a| Ok(Value::String(strip_domain(string_arg(a, 0))))));
    m.insert("humanize", Func::new(&[Any], move |a| Ok(Value::String(humanize(f(a, 0)?)))));
    m.insert("humanize1024", Func::new(&[Any], move |a| Ok(Value::String(humanize1024(f(a, 0)?)))));
    m.insert(
        "humanizeDuration",
        Func::new(&[Any], move |a| Ok(Value::String(humanize_duration(f(a, 0)?)))),
    );
    m.insert(
        "humanizePercentage",
        Func::new(&[Any], move |a| Ok(Value::String(format!("{}%", g4(f(a, 0)? * 100.0))))),
    );
    m.insert(
        "humanizeTimestamp",
        Func::new(&[Any], move |a| {
            let v = f(a, 0)?;
            match float_to_time(v) {
                Ok(t) => Ok(Value::String(gotime::time_string(t))),
                Err(TimeError::NanOrInf) => Ok(Value::String(g4(v))),
                Err(TimeError::Overflow(e)) => Err(e),
            }
        }),
    );
    m.insert(
        "toTime",
        Func::new(&[Any], move |a| match float_to_time(f(a, 0)?) {
            Ok(t) => Ok(Value::Time(t)),
            Err(TimeError::NanOrInf) => Err("value is NaN or Inf".into()),
            Err(TimeError::Overflow(e)) => Err(e),
        }),
    );
    m.insert(
        "toDuration",
        Func::new(&[Any], move |a| Ok(Value::Duration((f(a, 0)? * 1e9) as i64))),
    );
    m.insert("now", Func::new(&[], move |_| Ok(Value::Float(timestamp_ms as f64 / 1000.0))));
    let path = url_path(external_url);
    m.insert("pathPrefix", Func::new(&[], move |_| Ok(Value::String(path.clone()))));
    let url = external_url.to_string();
    m.insert("externalURL", Func::new(&[], move |_| Ok(Value::String(url.clone()))));
    m.insert(
        "parseDuration",
        Func::new(&[S], |a| {
            let s = string_arg(a, 0);
            let (neg, body) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            if body.is_empty() {
                return Err("empty duration string".into());
            }
            let ms = model::parse_duration(body).map_err(|e| e.to_string())?;
            let ns =
                ms.checked_mul(1_000_000).ok_or_else(|| "duration out of range".to_string())?;
            let secs = ns as f64 / 1e9;
            Ok(Value::Float(if neg { -secs } else { secs }))
        }),
    );
    m.insert(
        "urlQueryEscape",
        Func::new(&[S], |a| Ok(Value::String(query_escape(string_arg(a, 0))))),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("[::1]:1"), Some(("::1", "1")));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]::1"), None);
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
    }

    #[test]
    fn humanizers() {
        assert_eq!(humanize(1_234_567.0), "1.235M");
        assert_eq!(humanize(0.12), "120m");
        assert_eq!(humanize1024(1_048_576.0), "1Mi");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(0.12345), "123.5ms");
    }

    #[test]
    fn paths_and_titles() {
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://h:9090"), "");
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(map_case("straße", true), "STRAßE");
    }
}
