//! Series descriptions, the notation `promtool test rules` and PromQL test files use to write sample sequences:
//! `metric{a="b"} 1+2x3 _ stale {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x2`.

use model::{BucketSpan, CounterResetHint, FloatHistogram, Labels, LabelsBuilder};

use crate::error::ParseError;
use crate::lexer::{Tok, lex};
use crate::parser::parse_number;
use crate::strings::unquote;

/// One position of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SequenceValue {
    /// `_`: no sample at this position.
    Omitted,
    /// A float (`stale` is the staleness marker).
    Float(f64),
    /// A native histogram; the flag tells whether `counter_reset_hint` was written.
    Histogram(Box<FloatHistogram>, bool),
}

/// Parses a label set written as a metric selector with only `=` matchers: `name{a="b"}`, `{__name__="x"}` or
/// `{"name", a="b"}`.
pub fn parse_metric(input: &str) -> Result<Labels, ParseError> {
    let tokens = lex(input)?;
    let mut b = LabelsBuilder::new();
    let mut i = 0;
    let text = |t: crate::lexer::Token| &input[t.start..t.end];
    if tokens[i].tok == Tok::Ident {
        b.set(model::METRIC_NAME_LABEL, text(tokens[i]));
        i += 1;
    }
    if tokens[i].tok == Tok::LBrace {
        i += 1;
        loop {
            let t = tokens[i];
            match t.tok {
                Tok::RBrace => {
                    i += 1;
                    break;
                }
                Tok::Ident | Tok::Str => {
                    let name = if t.tok == Tok::Str {
                        unquote(text(t)).map_err(|e| ParseError::new(t.start, t.end, e))?
                    } else {
                        text(t).to_string()
                    };
                    i += 1;
                    if t.tok == Tok::Str && matches!(tokens[i].tok, Tok::Comma | Tok::RBrace) {
                        b.set(model::METRIC_NAME_LABEL, &name);
                    } else {
                        if tokens[i].tok != Tok::Eql {
                            return Err(ParseError::new(
                                tokens[i].start,
                                tokens[i].end,
                                "unexpected token in label set, expected \"=\"",
                            ));
                        }
                        let v = tokens[i + 1];
                        if v.tok != Tok::Str {
                            return Err(ParseError::new(
                                v.start,
                                v.end,
                                "unexpected token in label set, expected string",
                            ));
                        }
                        let value =
                            unquote(text(v)).map_err(|e| ParseError::new(v.start, v.end, e))?;
                        b.set(&name, &value);
                        i += 2;
                    }
                    if tokens[i].tok == Tok::Comma {
                        i += 1;
                    }
                }
                _ => {
                    return Err(ParseError::new(
                        t.start,
                        t.end,
                        "unexpected token in label set, expected identifier or \"}\"",
                    ));
                }
            }
        }
    }
    if tokens[i].tok != Tok::Eof {
        return Err(ParseError::new(
            tokens[i].start,
            tokens[i].end,
            "unexpected text after label set",
        ));
    }
    Ok(b.labels())
}

/// Splits a series description into its metric and its value items.
fn split_metric(input: &str) -> (&str, &str) {
    let bytes = input.as_bytes();
    let mut in_braces = false;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' if in_braces => quote = Some(c),
                b'{' => in_braces = true,
                b'}' => in_braces = false,
                b' ' | b'\t' if !in_braces => return (&input[..i], &input[i..]),
                _ => {}
            }
        }
        i += 1;
    }
    (input, "")
}

/// Parses a whole series description.
pub fn parse_series_desc(input: &str) -> Result<(Labels, Vec<SequenceValue>), ParseError> {
    let input = input.trim();
    let (metric, values) = split_metric(input);
    let labels = parse_metric(metric)?;
    let off = metric.len();
    let vals = parse_values(values).map_err(|e| ParseError::new(off, input.len(), e))?;
    Ok((labels, vals))
}

/// Splits the value part into items, keeping `{{…}}` groups (and their `+{{…}}xN` tails) together.
fn items(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            depth += 1;
            cur.push_str("{{");
            i += 2;
            continue;
        }
        if c == '}' && chars.get(i + 1) == Some(&'}') && depth > 0 {
            depth -= 1;
            cur.push_str("}}");
            i += 2;
            continue;
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unterminated histogram description".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

fn parse_uint(s: &str) -> Result<u64, String> {
    s.parse::<u64>().map_err(|e| format!("invalid repetition in series values: {e}"))
}

fn parse_signed(s: &str) -> Result<f64, String> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "nan" => {}
        _ => {
            if s.trim_start_matches(['+', '-']).starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!(
                    "unexpected identifier {s:?} in series values, expected number or \"stale\""
                ));
            }
        }
    }
    let neg = s.starts_with('-');
    let body = s.trim_start_matches(['+', '-']);
    if s.len() - body.len() > 1 {
        return Err(format!("invalid number {s:?} in series values"));
    }
    let v = match model::parse_duration(body) {
        Ok(ms)
            if body.ends_with(|c: char| c.is_ascii_alphabetic())
                && !body.eq_ignore_ascii_case("inf")
                && !body.eq_ignore_ascii_case("nan") =>
        {
            ms as f64 / 1000.0
        }
        _ => parse_number(body).ok_or_else(|| format!("invalid number {s:?} in series values"))?,
    };
    Ok(if neg { -v } else { v })
}

/// Parses the value items of a series description.
pub fn parse_values(s: &str) -> Result<Vec<SequenceValue>, String> {
    let mut out = Vec::new();
    for item in items(s)? {
        if item.starts_with("{{") {
            parse_histogram_item(&item, &mut out)?;
            continue;
        }
        if item == "_" {
            out.push(SequenceValue::Omitted);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n = parse_uint(n)?;
            out.extend((0..n).map(|_| SequenceValue::Omitted));
            continue;
        }
        if item == "stale" {
            out.push(SequenceValue::Float(model::stale_nan()));
            continue;
        }
        // [sign]base [sign incr] [x N]
        let (head, times) = match item.rfind('x') {
            Some(i) if item[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < item.len() => {
                (&item[..i], Some(parse_uint(&item[i + 1..])?))
            }
            _ => (item.as_str(), None),
        };
        // Find the split between base and increment: a '+'/'-' not at the start and not after an exponent 'e'.
        let hb = head.as_bytes();
        let mut split = None;
        for j in 1..hb.len() {
            if (hb[j] == b'+' || hb[j] == b'-') && !matches!(hb[j - 1], b'e' | b'E') {
                split = Some(j);
                break;
            }
        }
        let (base, incr) = match split {
            Some(j) => (&head[..j], Some(&head[j..])),
            None => (head, None),
        };
        let base_v = if base == "stale" { model::stale_nan() } else { parse_signed(base)? };
        match (incr, times) {
            (None, None) => out.push(SequenceValue::Float(base_v)),
            (None, Some(n)) => out.extend((0..=n).map(|_| SequenceValue::Float(base_v))),
            (Some(inc), Some(n)) => {
                let inc = parse_signed(inc)?;
                let mut v = base_v;
                for _ in 0..=n {
                    out.push(SequenceValue::Float(v));
                    v += inc;
                }
            }
            (Some(_), None) => return Err(format!("unexpected {item:?} in series values")),
        }
    }
    Ok(out)
}

fn parse_histogram_item(item: &str, out: &mut Vec<SequenceValue>) -> Result<(), String> {
    let close = item.find("}}").ok_or("unterminated histogram description")?;
    let (base, base_hint) = parse_histogram(&item[2..close])?;
    let rest = &item[close + 2..];
    if rest.is_empty() {
        out.push(SequenceValue::Histogram(Box::new(base), base_hint));
        return Ok(());
    }
    if let Some(n) = rest.strip_prefix('x') {
        let n = parse_uint(n)?;
        for _ in 0..=n {
            out.push(SequenceValue::Histogram(Box::new(base.clone()), base_hint));
        }
        return Ok(());
    }
    let sub = rest.starts_with('-');
    let rest = rest
        .strip_prefix(['+', '-'])
        .ok_or_else(|| format!("unexpected {rest:?} after histogram"))?;
    let rest = rest.strip_prefix("{{").ok_or("expected histogram after operator")?;
    let close = rest.find("}}").ok_or("unterminated histogram description")?;
    let (inc, inc_hint) = parse_histogram(&rest[..close])?;
    let n = rest[close + 2..].strip_prefix('x').ok_or("expected 'x' after histogram increment")?;
    let n = parse_uint(n)?;
    out.push(SequenceValue::Histogram(Box::new(base.clone()), inc_hint));
    let mut cur = base;
    for _ in 0..n {
        if cur.schema > inc.schema {
            return Err(format!(
                "error combining histograms: cannot merge from schema {} to {}",
                inc.schema, cur.schema
            ));
        }
        cur = if sub { cur.sub(&inc) } else { cur.add(&inc) }.map_err(|e| e.to_string())?;
        out.push(SequenceValue::Histogram(Box::new(cur.clone()), inc_hint));
    }
    Ok(())
}

fn parse_float_list(s: &str) -> Result<Vec<f64>, String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("expected bucket list in brackets, got {s:?}"))?;
    inner.split_whitespace().map(parse_signed).collect()
}

/// Parses the inside of `{{…}}`.
fn parse_histogram(s: &str) -> Result<(FloatHistogram, bool), String> {
    let mut h = FloatHistogram::default();
    let mut hint_set = false;
    let mut buckets: Option<Vec<f64>> = None;
    let mut offset = 0i32;
    let mut n_buckets: Option<Vec<f64>> = None;
    let mut n_offset = 0i32;
    // Keys are "name:value"; bracketed lists contain spaces, so scan manually.
    let mut rest = s.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| format!("missing `:` for histogram descriptor in {rest:?}"))?;
        let key = rest[..colon].trim().to_ascii_lowercase();
        rest = rest[colon + 1..].trim_start();
        let value: &str;
        if rest.starts_with('[') {
            let end = rest.find(']').ok_or("unterminated bucket list")?;
            value = &rest[..=end];
            rest = rest[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = &rest[..end];
            rest = rest[end..].trim_start();
        }
        let int =
            |v: &str| v.parse::<i32>().map_err(|_| format!("error parsing {key} number: {v}"));
        match key.as_str() {
            "schema" => h.schema = int(value)?,
            "sum" => h.sum = parse_signed(value)?,
            "count" => h.count = parse_signed(value)?,
            "z_bucket" => h.zero_count = parse_signed(value)?,
            "z_bucket_w" => h.zero_threshold = parse_signed(value)?,
            "custom_values" => h.custom_values = parse_float_list(value)?,
            "buckets" => buckets = Some(parse_float_list(value)?),
            "offset" => offset = int(value)?,
            "n_buckets" => n_buckets = Some(parse_float_list(value)?),
            "n_offset" => n_offset = int(value)?,
            "counter_reset_hint" => {
                hint_set = true;
                h.counter_reset_hint = match value.to_ascii_lowercase().as_str() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("error parsing counter_reset_hint: {other}")),
                };
            }
            other => return Err(format!("bad histogram descriptor found: {other:?}")),
        }
    }
    if let Some(b) = buckets {
        if !b.is_empty() {
            h.positive_spans = vec![BucketSpan { offset, length: b.len() as u32 }];
        }
        h.positive_buckets = b;
    }
    if let Some(b) = n_buckets {
        if !b.is_empty() {
            h.negative_spans = vec![BucketSpan { offset: n_offset, length: b.len() as u32 }];
        }
        h.negative_buckets = b;
    }
    Ok((h, hint_set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[SequenceValue]) -> Vec<Option<f64>> {
        v.iter()
            .map(|s| match s {
                SequenceValue::Float(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expansions() {
        let (l, v) = parse_series_desc(r#"foo{a="b"} 1+2x2 _ 5x1 -1-1x1 _x2 stale"#).unwrap();
        assert_eq!(l.get("a"), "b");
        assert_eq!(l.metric_name(), "foo");
        let f = floats(&v);
        assert_eq!(
            &f[..9],
            &[
                Some(1.0),
                Some(3.0),
                Some(5.0),
                None,
                Some(5.0),
                Some(5.0),
                Some(-1.0),
                Some(-2.0),
                None
            ]
        );
        assert!(model::is_stale_nan(f[10].unwrap()));
        assert_eq!(f.len(), 11);
    }

    #[test]
    fn histograms() {
        let (_, v) = parse_series_desc(
            "h {{schema:1 sum:3 count:22 buckets:[5 10 7]}} {{count:1}}+{{count:2}}x2",
        )
        .unwrap();
        assert_eq!(v.len(), 4);
        match &v[0] {
            SequenceValue::Histogram(h, false) => {
                assert_eq!(h.schema, 1);
                assert_eq!(h.positive_buckets, vec![5.0, 10.0, 7.0]);
            }
            other => panic!("unexpected {other:?}"),
        }
        match &v[3] {
            SequenceValue::Histogram(h, _) => assert_eq!(h.count, 5.0),
            other => panic!("unexpected {other:?}"),
        }
    }
}
