//! Runs `testdata/cases.txt`: one case per line, `DATA<TAB>TEMPLATE<TAB>EXPECTED`, where `\n`, `\t` and `\\`
//! are escapes, DATA names a fixture below and EXPECTED starting with `ERR ` is the expected error message.
//!
//! Every expectation was produced by Go 1.19's `text/template` running Prometheus's template function map with the
//! same fixtures, the same query stub, `missingkey=zero`, timestamp 1353755652000 and external URL
//! `http://testhost:9090/path/prefix`, and the error wrapping of Prometheus's `Expander.Expand`.

use std::collections::BTreeMap;
use std::sync::Arc;

use template::{AlertData, Expander, QuerySample, Value};

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn str_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The data fixtures, identical to the Go side's.
pub(crate) fn fixture(name: &str) -> Value {
    match name {
        "nil" => Value::Nil,
        "map" => map(&[
            ("a", 1.into()),
            ("b", "str".into()),
            ("f", 1.5.into()),
            ("l", Value::List(vec![1.into(), 2.into(), 3.into()])),
            ("m", map(&[("x", "y".into()), ("n", 2.into())])),
            ("t", true.into()),
            ("e", "".into()),
            ("z", 0.into()),
            ("big", 1234567.0.into()),
            ("neg", (-3).into()),
            ("html", "<a href=\"x\">&'</a>".into()),
            ("sl", Value::List(vec!["c".into(), "a".into(), "b".into()])),
            ("lm", Value::StringMap(str_map(&[("k", "v")]))),
            ("nilv", Value::Nil),
            ("el", Value::List(vec![])),
        ]),
        "alert" => AlertData {
            labels: str_map(&[
                ("alertname", "HighLoad"),
                ("instance", "host.example.com:9100"),
                ("job", "node"),
                ("severity", "critical"),
            ]),
            external_labels: str_map(&[("cluster", "eu1")]),
            external_url: "http://prom.example.com:9090/prefix".into(),
            value: 12.345,
        }
        .to_value(),
        "list" => Value::List(vec![3.into(), "x".into(), 1.5.into(), true.into()]),
        "str" => "hello".into(),
        "int" => 42.into(),
        "float" => 1234567.0.into(),
        other => panic!("unknown fixture {other}"),
    }
}

/// The query stub, identical to the Go side's.
pub(crate) fn query(q: &str) -> Result<Vec<QuerySample>, String> {
    match q {
        "empty" => Ok(vec![]),
        "error" => Err("query failed".into()),
        _ => Ok(vec![
            QuerySample {
                labels: str_map(&[("__name__", "metric"), ("instance", "b"), ("job", "x")]),
                value: 21.0,
            },
            QuerySample {
                labels: str_map(&[("__name__", "metric"), ("instance", "a"), ("__value__", "sv")]),
                value: 11.0,
            },
        ]),
    }
}

pub(crate) fn expand(text: &str, data: Value) -> Result<String, String> {
    Expander::new(text, "test", data)
        .timestamp_ms(1353755652000)
        .external_url("http://testhost:9090/path/prefix")
        .query(Arc::new(query))
        .expand()
        .map_err(|e| e.to_string())
}

#[test]
fn golden_cases() {
    let text = include_str!("testdata/cases.txt");
    let mut failures = Vec::new();
    let mut n = 0;
    for (lineno, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (Some(data), Some(tmpl), Some(want)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("line {}: malformed case", lineno + 1);
        };
        n += 1;
        let got = match expand(&unescape(tmpl), fixture(data)) {
            Ok(s) => s,
            Err(e) => format!("ERR {e}"),
        };
        let want = unescape(want);
        if got != want {
            failures
                .push(format!("line {}: {tmpl}\n   want: {want:?}\n    got: {got:?}", lineno + 1));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
