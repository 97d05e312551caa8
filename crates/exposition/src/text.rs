//! The Prometheus text format (0.0.4) and OpenMetrics 1.0 text parser: one line-oriented pull parser, with the
//! OpenMetrics differences (timestamps in seconds, exemplars, `# UNIT`, the mandatory `# EOF`) behind a flag.

use std::borrow::Cow;
use std::ops::Range;

use model::{Exemplar, Labels, LabelsBuilder, METRIC_NAME_LABEL, MetricType};

use crate::{Entry, ParseError, Parser};

/// A label as byte ranges into the buffer; `escaped` says whether the value needs unescaping.
#[derive(Debug, Clone)]
struct RawLabel {
    name: Range<usize>,
    name_escaped: bool,
    value: Range<usize>,
    escaped: bool,
}

/// Parser for the Prometheus text format and OpenMetrics text.
#[derive(Debug)]
pub struct TextParser<'a> {
    buf: &'a [u8],
    /// The whole buffer as text when it is valid UTF-8 (checked once); lines are checked one by one otherwise.
    text_all: Option<&'a str>,
    pos: usize,
    openmetrics: bool,
    seen_eof: bool,
    // Current entry.
    line: Range<usize>,
    series: Range<usize>,
    name: Range<usize>,
    name_escaped: bool,
    labels: Vec<RawLabel>,
    /// The current sample was taken as a known series (see [`Parser::next_known`]): `name` and `labels` were not
    /// filled, and [`Parser::labels`] splits the series text itself.
    deferred: bool,
    value: f64,
    ts: Option<i64>,
    text: Range<usize>,
    metric_type: MetricType,
    exemplar: Option<(Vec<RawLabel>, f64, Option<i64>)>,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

impl<'a> TextParser<'a> {
    /// A parser over `buf`; `openmetrics` selects OpenMetrics rules.
    pub fn new(buf: &'a [u8], openmetrics: bool) -> TextParser<'a> {
        TextParser {
            buf,
            text_all: std::str::from_utf8(buf).ok(),
            pos: 0,
            openmetrics,
            seen_eof: false,
            line: 0..0,
            series: 0..0,
            name: 0..0,
            name_escaped: false,
            labels: Vec::new(),
            deferred: false,
            value: 0.0,
            ts: None,
            text: 0..0,
            metric_type: MetricType::Unknown,
            exemplar: None,
        }
    }

    fn s(&self, r: Range<usize>) -> &'a str {
        // Ranges are only ever built over validated UTF-8 at character boundaries.
        match self.text_all {
            Some(t) => t.get(r).unwrap_or(""),
            None => std::str::from_utf8(self.buf.get(r).unwrap_or_default()).unwrap_or(""),
        }
    }

    fn err(&self, expected: &'static str, at: usize, end: usize) -> ParseError {
        let end = end.min(self.line.end).max(at);
        ParseError::Unexpected {
            expected,
            got: String::from_utf8_lossy(self.buf.get(at..end).unwrap_or_default()).into_owned(),
            line: String::from_utf8_lossy(self.buf.get(self.line.start..end).unwrap_or_default())
                .into_owned(),
        }
    }

    /// The error for a character at `at` that starts no token, as Prometheus's lexers report it: the one character
    /// (Prometheus's byte) and the line up to it.
    fn invalid_token(&self, expected: &'static str, at: usize) -> ParseError {
        let rest = self.buf.get(at..self.line.end).unwrap_or_default();
        // The length of the UTF-8 character its first byte announces.
        let len = match rest.first() {
            None => 0,
            Some(0xc0..=0xdf) => 2,
            Some(0xe0..=0xef) => 3,
            Some(0xf0..=0xf7) => 4,
            Some(_) => 1,
        };
        let len = len.min(rest.len());
        let end = at + len;
        ParseError::InvalidToken {
            expected,
            got: String::from_utf8_lossy(self.buf.get(at..end).unwrap_or_default()).into_owned(),
            line: String::from_utf8_lossy(self.buf.get(self.line.start..end).unwrap_or_default())
                .into_owned(),
        }
    }

    fn peek(&self, i: usize) -> Option<u8> {
        if i < self.line.end { self.buf.get(i).copied() } else { None }
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while matches!(self.peek(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    }

    /// Reads a bare name at `i`; returns its end.
    fn bare_name(&self, i: usize, label: bool) -> Option<usize> {
        let first = self.peek(i)?;
        let ok_start =
            if label { first.is_ascii_alphabetic() || first == b'_' } else { is_name_start(first) };
        if !ok_start {
            return None;
        }
        let mut j = i + 1;
        while let Some(c) = self.peek(j) {
            let ok = if label { c.is_ascii_alphanumeric() || c == b'_' } else { is_name_char(c) };
            if !ok {
                break;
            }
            j += 1;
        }
        Some(j)
    }

    /// Reads a double-quoted string starting at the quote `i`; returns (content range, escaped, end after quote).
    fn quoted(&self, i: usize) -> Result<(Range<usize>, bool, usize), ParseError> {
        if self.peek(i) != Some(b'"') {
            return Err(self.err("expected label value", i, i + 1));
        }
        let mut j = i + 1;
        let mut escaped = false;
        loop {
            // Straight to the next quote or backslash (the line ends at `self.line.end`).
            let rest = self.buf.get(j..self.line.end).unwrap_or_default();
            j = memchr::memchr2(b'"', b'\\', rest).map_or(self.line.end, |p| j + p);
            match self.peek(j) {
                None => return Err(self.err("expected closing quote", i, self.line.end)),
                Some(b'\\') => {
                    escaped = true;
                    match self.peek(j + 1) {
                        Some(b'\\' | b'"' | b'n') => j += 2,
                        _ => return Err(self.err("invalid escape sequence", j, j + 2)),
                    }
                }
                Some(b'"') => break,
                Some(_) => j += 1,
            }
        }
        let content = i + 1..j;
        if self.text_all.is_none() && std::str::from_utf8(&self.buf[content.clone()]).is_err() {
            return Err(ParseError::InvalidUtf8(
                String::from_utf8_lossy(&self.buf[content]).into_owned(),
            ));
        }
        Ok((content, escaped, j + 1))
    }

    /// Parses `{name="v", …}` at `i` (which is `{`), pushing into `out`; a quoted first entry without `=` is the
    /// metric name (UTF-8 names), returned with whether it is escaped, and an error if `name_set` says the line
    /// named its metric before the block. Returns the position after `}`.
    #[allow(clippy::type_complexity, reason = "a private helper's plain result")]
    fn label_block(
        &self,
        i: usize,
        out: &mut Vec<RawLabel>,
        allow_name: bool,
        name_set: bool,
    ) -> Result<(usize, Option<(Range<usize>, bool)>), ParseError> {
        let mut j = self.skip_ws(i + 1);
        let mut first = true;
        let mut quoted_name = None;
        loop {
            match self.peek(j) {
                Some(b'}') => return Ok((j + 1, quoted_name)),
                None => return Err(self.err("expected label name or '}'", j, self.line.end)),
                _ => {}
            }
            let was_quoted = self.peek(j) == Some(b'"');
            let (name, name_escaped, after) = if was_quoted {
                self.quoted(j)?
            } else {
                let end = self
                    .bare_name(j, true)
                    .ok_or_else(|| self.err("expected label name", j, j + 1))?;
                (j..end, false, end)
            };
            let k = self.skip_ws(after);
            if allow_name && first && was_quoted && self.peek(k) != Some(b'=') {
                if name_set {
                    return Err(self.err("metric name already set", j, after));
                }
                quoted_name = Some((name, name_escaped));
            } else {
                if self.peek(k) != Some(b'=') {
                    return Err(self.err("expected equal", k, k + 1));
                }
                let v = self.skip_ws(k + 1);
                let (value, escaped, end) = self.quoted(v)?;
                out.push(RawLabel { name, name_escaped, value, escaped });
                j = end;
                first = false;
                j = self.skip_ws(j);
                match self.peek(j) {
                    Some(b',') => j = self.skip_ws(j + 1),
                    Some(b'}') => {}
                    _ => return Err(self.err("expected comma or '}'", j, j + 1)),
                }
                continue;
            }
            first = false;
            j = self.skip_ws(k);
            match self.peek(j) {
                Some(b',') => j = self.skip_ws(j + 1),
                Some(b'}') => {}
                _ => return Err(self.err("expected comma or '}'", j, j + 1)),
            }
        }
    }

    /// Splits the series text at `start` (metric name and label block) into the metric name, whether it is
    /// escaped, and `labels`; returns the position after it.
    #[allow(clippy::type_complexity, reason = "a private helper's plain result")]
    fn series_text(
        &self,
        start: usize,
        labels: &mut Vec<RawLabel>,
    ) -> Result<(usize, Range<usize>, bool), ParseError> {
        let mut i = start;
        let (mut name, mut name_escaped) = (0..0, false);
        if let Some(end) = self.bare_name(i, false) {
            name = i..end;
            i = end;
        } else if self.peek(i) != Some(b'{') {
            return Err(self.invalid_token("expected a valid start token", i));
        }
        if self.peek(i) == Some(b'{') {
            let (end, quoted) = self.label_block(i, labels, true, !name.is_empty())?;
            if let Some((n, esc)) = quoted {
                (name, name_escaped) = (n, esc);
            }
            i = end;
        }
        if name.is_empty() {
            return Err(self.err("metric name not set", start, i));
        }
        Ok((i, name, name_escaped))
    }

    fn token_end(&self, i: usize) -> usize {
        let mut j = i;
        while let Some(c) = self.peek(j) {
            if c == b' ' || c == b'\t' {
                break;
            }
            j += 1;
        }
        j
    }

    fn parse_value(&self, r: Range<usize>) -> Result<f64, ParseError> {
        let s = self.s(r.clone());
        parse_go_float(s).ok_or_else(|| ParseError::InvalidValue(s.to_string()))
    }

    fn parse_ts(&self, r: Range<usize>) -> Result<i64, ParseError> {
        let s = self.s(r);
        if self.openmetrics {
            let v = parse_go_float(s)
                .filter(|v| v.is_finite())
                .ok_or_else(|| ParseError::InvalidTimestamp(s.into()))?;
            Ok((v * 1000.0).round() as i64)
        } else {
            s.parse::<i64>().map_err(|_| ParseError::InvalidTimestamp(s.to_string()))
        }
    }

    fn parse_sample(&mut self, known: Option<&[u8]>) -> Result<Entry, ParseError> {
        let start = self.line.start;
        self.labels.clear();
        self.exemplar = None;
        self.name = 0..0;
        self.name_escaped = false;
        let line = &self.buf[start..self.line.end];
        let i = match known {
            // Text accepted before as a whole series text: parsing one never looks past its last byte, so a line
            // that starts with it and then a blank has exactly this series text.
            Some(k)
                if !k.is_empty()
                    && line.starts_with(k)
                    && matches!(line.get(k.len()), Some(b' ' | b'\t')) =>
            {
                self.deferred = true;
                start + k.len()
            }
            _ => {
                self.deferred = false;
                let mut labels = std::mem::take(&mut self.labels);
                let parsed = self.series_text(start, &mut labels);
                self.labels = labels;
                let (end, name, name_escaped) = parsed?;
                self.name = name;
                self.name_escaped = name_escaped;
                end
            }
        };
        self.series = start..i;
        let v = self.skip_ws(i);
        if v == i || self.peek(v).is_none() {
            return Err(self.err("expected value after metric", v, v + 1));
        }
        let vend = self.token_end(v);
        self.value = self.parse_value(v..vend)?;
        let mut j = self.skip_ws(vend);
        self.ts = None;
        if let Some(c) = self.peek(j)
            && c != b'#'
        {
            let tend = self.token_end(j);
            self.ts = Some(self.parse_ts(j..tend)?);
            j = self.skip_ws(tend);
        }
        if self.peek(j) == Some(b'#') && self.openmetrics {
            j = self.parse_exemplar(j)?;
        }
        if self.peek(j).is_some() {
            return Err(self.err("expected next entry after timestamp", j, self.line.end));
        }
        Ok(Entry::Series)
    }

    fn parse_exemplar(&mut self, i: usize) -> Result<usize, ParseError> {
        let j = self.skip_ws(i + 1);
        if self.peek(j) != Some(b'{') {
            return Err(self.err("expected label set for exemplar", j, j + 1));
        }
        let mut labels = Vec::new();
        let (mut k, _) = self.label_block(j, &mut labels, false, true)?;
        k = self.skip_ws(k);
        let vend = self.token_end(k);
        if vend == k {
            return Err(self.err("expected value after exemplar labels", k, k + 1));
        }
        let v = self.parse_value(k..vend)?;
        let mut k = self.skip_ws(vend);
        let mut ts = None;
        if self.peek(k).is_some() {
            let tend = self.token_end(k);
            ts = Some(self.parse_ts(k..tend)?);
            k = self.skip_ws(tend);
        }
        self.exemplar = Some((labels, v, ts));
        Ok(k)
    }

    fn parse_comment(&mut self) -> Result<Entry, ParseError> {
        let start = self.line.start;
        let rest = self.s(start..self.line.end);
        let mut words = rest.splitn(4, [' ', '\t']);
        let _hash = words.next();
        let kind = words.next().unwrap_or("");
        if self.openmetrics && kind == "EOF" && rest.trim_end() == "# EOF" {
            self.seen_eof = true;
            return Ok(Entry::Comment);
        }
        let entry = match kind {
            "HELP" => Entry::Help,
            "TYPE" => Entry::Type,
            "UNIT" if self.openmetrics => Entry::Unit,
            _ => {
                if self.openmetrics {
                    return Err(self.err("expected HELP, TYPE, UNIT or EOF", start, self.line.end));
                }
                return Ok(Entry::Comment);
            }
        };
        let name_start = start + 2 + kind.len();
        let i = self.skip_ws(name_start);
        let (name, after) = if self.peek(i) == Some(b'"') {
            let (r, esc, end) = self.quoted(i)?;
            self.name_escaped = esc;
            (r, end)
        } else {
            match self.bare_name(i, false) {
                Some(end) => (i..end, end),
                None => {
                    return Err(self.err(
                        "expected metric name after HELP/TYPE/UNIT",
                        i,
                        self.token_end(i),
                    ));
                }
            }
        };
        self.name = name;
        let t = self.skip_ws(after);
        if after < self.line.end && t == after {
            return Err(self.err("expected whitespace after metric name", after, after + 1));
        }
        self.text = t..self.line.end;
        if entry == Entry::Type {
            let word = self.s(t..self.line.end).trim_end();
            self.metric_type = match MetricType::parse(word) {
                Some(MetricType::Unknown) if word == "untyped" && self.openmetrics => {
                    return Err(self.err("invalid metric type", t, self.line.end));
                }
                Some(m) => m,
                None => return Err(self.err("invalid metric type", t, self.line.end)),
            };
        }
        Ok(entry)
    }

    fn raw_label_name(&self, l: &RawLabel) -> Cow<'a, str> {
        let s = self.s(l.name.clone());
        if l.name_escaped { Cow::Owned(unescape(s)) } else { Cow::Borrowed(s) }
    }

    fn raw_label_value(&self, l: &RawLabel) -> Cow<'a, str> {
        let s = self.s(l.value.clone());
        if l.escaped { Cow::Owned(unescape(s)) } else { Cow::Borrowed(s) }
    }
}

/// Unescapes `\\`, `\"` and `\n`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

/// Unescapes help text, where only `\\` and `\n` are escapes.
fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.peek() {
                Some('n') => {
                    it.next();
                    out.push('\n');
                    continue;
                }
                Some('\\') => {
                    it.next();
                    out.push('\\');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts it in exposition formats: decimal and exponent forms,
/// `NaN`, `Inf`, `+Inf`, `-Inf` (case-insensitive, also `infinity`).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return None;
    }
    if body.as_bytes()[0].is_ascii_alphabetic() {
        if body.eq_ignore_ascii_case("nan") {
            return (body.len() == s.len()).then_some(f64::NAN);
        }
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        return None;
    }
    if !body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    s.parse::<f64>().ok()
}

impl<'a> Parser<'a> for TextParser<'a> {
    fn next(&mut self) -> Result<Option<Entry>, ParseError> {
        self.next_known(None)
    }

    fn next_known(&mut self, known: Option<&[u8]>) -> Result<Option<Entry>, ParseError> {
        loop {
            if self.pos >= self.buf.len() {
                if self.openmetrics && !self.seen_eof {
                    return Err(ParseError::MissingEof);
                }
                return Ok(None);
            }
            let start = self.pos;
            let end =
                memchr::memchr(b'\n', &self.buf[start..]).map_or(self.buf.len(), |p| start + p);
            self.pos = end + 1;
            if self.seen_eof {
                return Err(ParseError::DataAfterEof);
            }
            let line = &self.buf[start..end];
            if self.text_all.is_none() && std::str::from_utf8(line).is_err() {
                return Err(ParseError::InvalidUtf8(String::from_utf8_lossy(line).into_owned()));
            }
            // Leading blanks are allowed in the Prometheus text format; blank lines are skipped.
            let mut s = start;
            if !self.openmetrics {
                while s < end && matches!(self.buf[s], b' ' | b'\t') {
                    s += 1;
                }
                if s == end || (end - s == 1 && self.buf[s] == b'\r') {
                    continue;
                }
            } else if s == end {
                self.line = s..end;
                return Err(self.err("unexpected empty line", s, end));
            }
            self.line = s..end;
            let entry = if self.buf[s] == b'#' {
                if !self.openmetrics && !matches!(self.buf.get(s + 1), Some(b' ' | b'\t')) {
                    // "#foo" is a comment in the text format.
                    Entry::Comment
                } else {
                    self.parse_comment()?
                }
            } else {
                self.parse_sample(known)?
            };
            return Ok(Some(entry));
        }
    }

    fn series(&self) -> (&'a [u8], Option<i64>, f64) {
        (self.buf.get(self.series.clone()).unwrap_or_default(), self.ts, self.value)
    }

    fn help(&self) -> (&'a str, Cow<'a, str>) {
        let text = self.s(self.text.clone());
        let help =
            if text.contains('\\') { Cow::Owned(unescape_help(text)) } else { Cow::Borrowed(text) };
        (self.s(self.name.clone()), help)
    }

    fn metric_type(&self) -> (&'a str, MetricType) {
        (self.s(self.name.clone()), self.metric_type)
    }

    fn unit(&self) -> (&'a str, &'a str) {
        (self.s(self.name.clone()), self.s(self.text.clone()).trim_end())
    }

    fn labels(&self, b: &mut LabelsBuilder) {
        b.clear();
        let mut split = Vec::new();
        let (name, name_escaped, labels) = if self.deferred {
            // Text this parser accepted before: splitting it again cannot fail.
            match self.series_text(self.series.start, &mut split) {
                Ok((_, name, escaped)) => (name, escaped, &split),
                Err(_) => return,
            }
        } else {
            (self.name.clone(), self.name_escaped, &self.labels)
        };
        let name_text = self.s(name);
        if name_escaped {
            b.set(METRIC_NAME_LABEL, &unescape(name_text));
        } else {
            b.set(METRIC_NAME_LABEL, name_text);
        }
        for l in labels {
            b.set(&self.raw_label_name(l), &self.raw_label_value(l));
        }
    }

    fn exemplar(&self) -> Option<Exemplar> {
        let (labels, value, ts) = self.exemplar.as_ref()?;
        let labels = Labels::from_pairs(
            labels.iter().map(|l| (self.raw_label_name(l).into_owned(), self.raw_label_value(l))),
        );
        Some(Exemplar { labels, value: *value, ts: *ts })
    }
}

#[cfg(test)]
mod tests;
