//! API behaviour beyond the golden cases: template sets, options, alert expansion, custom functions, and the
//! features newer than the Go release the golden cases were generated with.

use std::collections::BTreeMap;
use std::sync::Arc;

use template::{
    ALERT_PRELUDE, AlertData, ArgType, Error, Expander, Func, FuncMap, MissingKey, Template, Value,
};

fn run(text: &str, data: &Value) -> Result<String, String> {
    let mut t = Template::new("t");
    t.parse(text).map_err(|e| e.to_string())?;
    t.execute(data).map_err(|e| e.to_string())
}

fn check(text: &str, data: &Value, want: &str) {
    assert_eq!(run(text, data).as_deref(), Ok(want), "template {text:?}");
}

fn check_err(text: &str, data: &Value, want: &str) {
    assert_eq!(run(text, data).unwrap_err(), want, "template {text:?}");
}

fn labels() -> Value {
    Value::StringMap(BTreeMap::from([("job".to_string(), "node".to_string())]))
}

#[test]
fn missing_key_options() {
    let data = Value::new_struct("T", vec![("L", labels())]);
    for (mk, want) in [(MissingKey::Default, Ok("<no value>")), (MissingKey::Zero, Ok(""))] {
        let mut t = Template::new("t").missing_key(mk);
        t.parse("{{ .L.nope }}").unwrap();
        assert_eq!(t.execute(&data).as_deref().map_err(|_| ()), want.map_err(|_: ()| ()));
    }
    let mut t = Template::new("t").missing_key(MissingKey::Error);
    t.parse("{{ .L.nope }}").unwrap();
    assert_eq!(
        t.execute(&data).unwrap_err().to_string(),
        r#"template: t:1:5: executing "t" at <.L.nope>: map has no entry for key "nope""#
    );
    t.parse("{{ .Foo }}").unwrap();
    assert_eq!(
        t.execute(&Value::Nil).unwrap_err().to_string(),
        r#"template: t:1:3: executing "t" at <.Foo>: nil data; no entry for key "Foo""#
    );
}

#[test]
fn template_sets() {
    let mut t = Template::new("root");
    t.parse_named("common", r#"{{ define "title" }}[{{ .status }}]{{ end }}"#).unwrap();
    t.parse(r#"{{ template "title" . }} {{ block "body" . }}default{{ end }}"#).unwrap();
    let data = Value::Map(BTreeMap::from([("status".to_string(), "firing".into())]));
    assert_eq!(t.execute(&data).unwrap(), "[firing] default");
    // A later definition replaces an earlier one; an empty one does not.
    t.parse_named(
        "override",
        r#"{{ define "body" }}custom{{ end }}{{ define "title" }}   {{ end }}"#,
    )
    .unwrap();
    assert_eq!(t.execute(&data).unwrap(), "[firing] custom");
    assert_eq!(t.execute_template("title", &data).unwrap(), "[firing]");
    assert_eq!(
        t.execute_template("nope", &data).unwrap_err().to_string(),
        r#"template: no template "nope" associated with template "root""#
    );
    assert!(t.template_names().contains(&"common"));
    let empty = Template::new("x");
    assert_eq!(
        empty.execute(&Value::Nil).unwrap_err().to_string(),
        r#"template: x: "x" is an incomplete or empty template"#
    );
}

#[test]
fn newer_go_features() {
    // Go 1.22 ranges over integers; Go 1.23 has {{else with}}.
    check(
        "{{ range 3 }}{{ . }}{{ end }}|{{ range $i := 2 }}{{ $i }}{{ end }}|{{ range 0 }}x{{ else }}none{{ end }}{{ range -5 }}x{{ end }}",
        &Value::Nil,
        "012|01|none",
    );
    check(r#"{{ with "" }}a{{ else with "b" }}{{ . }}{{ else }}c{{ end }}"#, &Value::Nil, "b");
    check_err(
        "{{ range $i, $e := 3 }}{{ end }}",
        &Value::Nil,
        r#"template: t:1:19: executing "t" at <3>: can't use 3 to iterate over more than one variable"#,
    );
}

#[test]
fn time_and_duration_methods() {
    let t = Value::Time(1_435_065_584_128_000_000);
    check(
        r#"{{ .Format "2006-01-02T15:04:05.000Z07:00" }} {{ .Year }} {{ .Weekday }} {{ .UnixMilli }}"#,
        &t,
        "2015-06-23T13:19:44.128Z 2015 Tuesday 1435065584128",
    );
    let d = Value::Duration(90_500_000_000);
    check(
        "{{ .Seconds }} {{ .Minutes }} {{ .String }} {{ printf \"%T\" . }}",
        &d,
        "90.5 1.5083333333333333 1m30.5s time.Duration",
    );
}

#[test]
fn custom_functions_are_type_checked() {
    let mut funcs = FuncMap::new();
    funcs.insert(
        "double",
        Func::new(&[ArgType::Int], |a| match a[0] {
            Value::Int(i) => Ok(Value::Int(i * 2)),
            _ => Err("not an int".into()),
        }),
    );
    funcs.insert(
        "join",
        Func::variadic(&[ArgType::String], ArgType::String, |a| {
            let sep = a[0].as_str().unwrap_or("");
            Ok(Value::String(a[1..].iter().filter_map(Value::as_str).collect::<Vec<_>>().join(sep)))
        }),
    );
    let mut t = Template::new("t").funcs(&funcs);
    t.parse(r#"{{ double 21 }} {{ join "," "a" "b" }} {{ "c" | join "-" "x" }}"#).unwrap();
    assert_eq!(t.execute(&Value::Nil).unwrap(), "42 a,b x-c");
    let mut t = Template::new("t").funcs(&funcs);
    t.parse(r#"{{ double "x" }}"#).unwrap();
    assert_eq!(
        t.execute(&Value::Nil).unwrap_err().to_string(),
        r#"template: t:1:10: executing "t" at <"x">: expected integer; found "x""#
    );
    let mut t = Template::new("t").funcs(&funcs);
    t.parse(r#"{{ double 1 2 }}"#).unwrap();
    assert_eq!(
        t.execute(&Value::Nil).unwrap_err().to_string(),
        r#"template: t:1:3: executing "t" at <double>: wrong number of args for double: want 1 got 2"#
    );
}

fn alert() -> AlertData {
    AlertData {
        labels: BTreeMap::from([
            ("alertname".into(), "Down".into()),
            ("instance".into(), "db1:9100".into()),
        ]),
        external_labels: BTreeMap::from([("dc".into(), "eu".into())]),
        external_url: "http://prom:9090/prom".into(),
        value: 0.5,
    }
}

#[test]
fn alert_expansion_uses_prometheus_prelude() {
    let text = "{{ $labels.instance }} of {{ $externalLabels.dc }} is {{ $value | humanizePercentage }} ({{ $labels.missing }}) {{ $externalURL }} {{ pathPrefix }}";
    let got = Expander::for_alert("Down", text, &alert()).expand().unwrap();
    assert_eq!(got, "db1:9100 of eu is 50% () http://prom:9090/prom /prom");
    // Errors count the prelude in their column, exactly as in Prometheus.
    let err =
        Expander::for_alert("Down", "{{ $labels.instance.x }}", &alert()).expand().unwrap_err();
    // The node's position is that of its first field, `.instance`, as in Go.
    let col = ALERT_PRELUDE.len() + 10;
    assert_eq!(
        err.to_string(),
        format!(
            r#"error executing template __alert_Down: template: __alert_Down:1:{col}: executing "__alert_Down" at <$labels.instance.x>: can't evaluate field x in type string"#
        )
    );
    assert!(matches!(err, Error::ExpandExec { .. }));
    let err = Expander::for_alert("Down", "{{ nope }}", &alert()).expand().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"error parsing template __alert_Down: template: __alert_Down:1: function "nope" not defined"#
    );
    let bare = Expander::for_alert("Down", "{{ nope }}", &alert()).parse_test().unwrap_err();
    assert_eq!(bare.to_string(), r#"template: __alert_Down:1: function "nope" not defined"#);
}

#[test]
fn query_function_and_overrides() {
    let q = |expr: &str| -> Result<Vec<template::QuerySample>, String> {
        Ok(vec![template::QuerySample::new(&model::Labels::from_pairs([("job", expr)]), 3.0)])
    };
    let e = Expander::new(
        r#"{{ with query "up" }}{{ (index . 0).Labels.job }}={{ . | first | value }}{{ end }}"#,
        "q",
        Value::Nil,
    )
    .query(Arc::new(q));
    assert_eq!(e.expand().unwrap(), "up=3");
    let no_query = Expander::new(r#"{{ query "up" }}"#, "q", Value::Nil).expand().unwrap_err();
    assert!(no_query.to_string().contains("error calling query"), "{no_query}");
    let mut funcs = FuncMap::new();
    funcs.insert("humanize", Func::new(&[ArgType::Any], |_| Ok("overridden".into())));
    let e = Expander::new("{{ humanize 1 }}", "o", Value::Nil).funcs(&funcs);
    assert_eq!(e.expand().unwrap(), "overridden");
}

#[test]
fn values_print_like_go() {
    assert_eq!(Value::Float(1e6).to_string(), "1e+06");
    assert_eq!(Value::Float(0.1).to_string(), "0.1");
    assert_eq!(Value::from(vec![Value::Nil, 1.into(), "a".into()]).to_string(), "[<nil> 1 a]");
    assert_eq!(
        template::sprintf("%5.1f|%-4d|%q", &[3.25159.into(), 7.into(), "x".into()]),
        "  3.3|7   |\"x\""
    );
}
