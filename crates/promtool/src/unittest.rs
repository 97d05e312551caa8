//! `test rules`: promtool's rule unit tests. Input series are loaded, the rule groups evaluated at every
//! `evaluation_interval` from the start time to the last `eval_time`, and firing alerts and PromQL results
//! compared with the expectations, reporting mismatches in promtool's words.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{FloatHistogram, Labels, LabelsBuilder, Value};
use promql_syntax::{ParserOptions, SequenceValue, parse_metric, parse_series_desc};
use rules::file::{ParseOptions, parse_file};
use rules::{EvalEnv, QueryFunc, Rule, SampleValue, TemplateEnv};
use serde::Deserialize;
use storage::{AppendOptions, Appendable};
use tsdb::Head;

use crate::Outcome;
use crate::engine_query::EngineQuery;

/// Options of `test rules`.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Only run test groups whose name matches one of these regular expressions (`--run`).
    pub run: Vec<String>,
    /// Accept unknown keys in test and rule files (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Experimental PromQL accepted.
    pub parser: ParserOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitTestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<config::Duration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<config::Duration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    #[serde(default)]
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTestCase {
    #[serde(default)]
    eval_time: Option<config::Duration>,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTestCase {
    #[serde(default)]
    expr: String,
    #[serde(default)]
    eval_time: Option<config::Duration>,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

/// Loose variant for `--ignore-unknown-fields`: decoded as generic YAML first, unknown keys dropped.
fn decode(text: &str, ignore_unknown: bool) -> Result<UnitTestFile, String> {
    let mut o = serde_saphyr::Options::default();
    o.emit_comments = false;
    o.with_snippet = false;
    if ignore_unknown {
        let v: serde_json::Value =
            serde_saphyr::from_str_with_options(text, o).map_err(|e| yaml_error(&e))?;
        serde_json::from_value(strip_unknown(v, &FILE_KEYS)).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str_with_options(text, o).map_err(|e| yaml_error(&e))
    }
}

struct Keys(&'static [(&'static str, Option<&'static Keys>)]);

static SAMPLE_KEYS: Keys = Keys(&[("labels", None), ("value", None), ("histogram", None)]);
static EXPR_KEYS: Keys =
    Keys(&[("expr", None), ("eval_time", None), ("exp_samples", Some(&SAMPLE_KEYS))]);
static ALERT_KEYS: Keys = Keys(&[("exp_labels", None), ("exp_annotations", None)]);
static ALERT_TEST_KEYS: Keys =
    Keys(&[("eval_time", None), ("alertname", None), ("exp_alerts", Some(&ALERT_KEYS))]);
static SERIES_KEYS: Keys = Keys(&[("series", None), ("values", None)]);
static GROUP_KEYS: Keys = Keys(&[
    ("interval", None),
    ("input_series", Some(&SERIES_KEYS)),
    ("alert_rule_test", Some(&ALERT_TEST_KEYS)),
    ("promql_expr_test", Some(&EXPR_KEYS)),
    ("external_labels", None),
    ("external_url", None),
    ("name", None),
    ("start_timestamp", None),
]);
static FILE_KEYS: Keys = Keys(&[
    ("rule_files", None),
    ("evaluation_interval", None),
    ("group_eval_order", None),
    ("tests", Some(&GROUP_KEYS)),
    ("fuzzy_compare", None),
]);

fn strip_unknown(v: serde_json::Value, keys: &Keys) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| {
                    let (_, sub) = keys.0.iter().find(|(n, _)| *n == k)?;
                    Some((
                        k,
                        match sub {
                            Some(s) => strip_unknown(v, s),
                            None => v,
                        },
                    ))
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(|x| strip_unknown(x, keys)).collect())
        }
        other => other,
    }
}

fn yaml_error(e: &serde_saphyr::Error) -> String {
    rules::file::go_yaml_error(e, |names| {
        if names.contains(&"rule_files") {
            "main.unitTestFile"
        } else if names.contains(&"input_series") {
            "main.testGroup"
        } else if names.contains(&"values") {
            "main.series"
        } else if names.contains(&"alertname") {
            "main.alertTestCase"
        } else if names.contains(&"exp_labels") {
            "main.alert"
        } else if names.contains(&"expr") {
            "main.promqlTestCase"
        } else {
            "main.sample"
        }
    })
}

/// Runs every test file; exit code 1 when any fails.
pub fn test_rules(files: &[&Path], opts: &TestOptions) -> Outcome {
    let mut out = Outcome::default();
    let run: Vec<regex::Regex> =
        opts.run.iter().filter_map(|r| regex::Regex::new(r).ok()).collect();
    for f in files {
        let errs = test_file(f, opts, &run, &mut out);
        if errs.is_empty() {
            let _ = writeln!(out.stdout, "  SUCCESS");
        } else {
            let _ = writeln!(out.stderr, "  FAILED:");
            for e in errs {
                let _ = writeln!(out.stderr, "{e}");
                out.stdout.push('\n');
            }
            out.code = 1;
        }
        out.stdout.push('\n');
    }
    out
}

fn test_file(f: &Path, opts: &TestOptions, run: &[regex::Regex], out: &mut Outcome) -> Vec<String> {
    let text = match std::fs::read_to_string(f) {
        Ok(t) => t,
        Err(e) => return vec![format!("open {}: {e}", f.display())],
    };
    let file = match decode(&text, opts.ignore_unknown_fields) {
        Ok(u) => u,
        Err(e) => return vec![e],
    };
    let base = f.parent().unwrap_or(Path::new(""));
    let mut rule_files = Vec::new();
    for rf in &file.rule_files {
        let matched = rules::expand_globs(base, std::slice::from_ref(rf)).unwrap_or_default();
        if matched.is_empty() {
            let _ = writeln!(
                out.stderr,
                "  WARNING: no file match pattern {}",
                base.join(rf).display()
            );
        }
        rule_files.extend(matched.into_iter().map(PathBuf::from));
    }
    let eval_interval = file.evaluation_interval.map(|d| d.0).filter(|d| *d > 0).unwrap_or(60_000);
    let mut order = BTreeMap::new();
    for (i, g) in file.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let mut errs = Vec::new();
    for tg in &file.tests {
        if !run.is_empty() && !run.iter().any(|r| r.is_match(&tg.name)) {
            continue;
        }
        let ctx = GroupCtx {
            eval_interval,
            order: &order,
            opts,
            fuzzy: file.fuzzy_compare,
            rule_files: &rule_files,
        };
        errs.extend(run_group(tg, &ctx));
    }
    errs
}

struct GroupCtx<'a> {
    eval_interval: i64,
    order: &'a BTreeMap<String, usize>,
    opts: &'a TestOptions,
    fuzzy: bool,
    rule_files: &'a [PathBuf],
}

fn run_group(tg: &TestGroup, ctx: &GroupCtx<'_>) -> Vec<String> {
    let interval = tg.interval.map(|d| d.0).filter(|d| *d > 0).unwrap_or(ctx.eval_interval);
    let mint = match &tg.start_timestamp {
        None => 0,
        Some(s) => match parse_time(s) {
            Some(t) => t,
            None => return vec![format!("cannot parse {s:?} to a valid timestamp")],
        },
    };
    let storage = Head::default();
    if let Err(e) = load_series(&storage, &tg.input_series, mint, interval) {
        return vec![e];
    }
    let mut engine_opts = promql::EngineOptions {
        no_step_subquery_interval: ctx.eval_interval,
        ..Default::default()
    };
    engine_opts.parser = ctx.opts.parser;
    let query: Arc<dyn QueryFunc> = Arc::new(EngineQuery {
        engine: promql::Engine::new(engine_opts),
        queryable: Arc::new(storage.clone()),
    });
    let popts = ParseOptions {
        ignore_unknown_fields: ctx.opts.ignore_unknown_fields,
        parser: ctx.opts.parser,
    };
    let mut parsed = Vec::new();
    let mut load_errs = Vec::new();
    for rf in ctx.rule_files {
        match parse_file(rf, &popts) {
            Ok(r) => parsed.push((rf.display().to_string(), r)),
            Err(e) => load_errs.extend(e),
        }
    }
    if !load_errs.is_empty() {
        return load_errs;
    }
    let mut groups = rules::build_groups(&parsed, interval, true);
    groups.sort_by_key(|g| ctx.order.get(g.name()).copied().unwrap_or(0));

    let max_eval = tg
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.map_or(0, |d| d.0))
        .chain(tg.promql_expr_test.iter().map(|p| p.eval_time.map_or(0, |d| d.0)))
        .max()
        .unwrap_or(0);
    let maxt = mint + max_eval;

    for a in &tg.alert_rule_test {
        if a.alertname.is_empty() {
            let in_group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                model::format_duration(a.eval_time.map_or(0, |d| d.0))
            )];
        }
    }
    let mut alert_times: Vec<i64> =
        tg.alert_rule_test.iter().map(|a| a.eval_time.map_or(0, |d| d.0)).collect();
    alert_times.sort_unstable();
    alert_times.dedup();

    let template = TemplateEnv {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
    };
    let env = EvalEnv {
        query: &query,
        appendable: &storage,
        notify: None,
        template: &template,
        resend_delay: 60_000,
        default_query_offset: 0,
    };
    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = mint;
    while ts <= maxt {
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts, &env);
            for r in g.rules() {
                if let Some(e) = &r.last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.rule.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while curr < alert_times.len()
            && ts - mint <= alert_times[curr]
            && alert_times[curr] < ts + ctx.eval_interval - mint
        {
            let t = alert_times[curr];
            for tc in tg.alert_rule_test.iter().filter(|a| a.eval_time.map_or(0, |d| d.0) == t) {
                let mut got: Vec<(Labels, Labels)> = Vec::new();
                for g in &groups {
                    for r in g.rules() {
                        if let Rule::Alerting(a) = &r.rule
                            && a.name() == tc.alertname
                        {
                            for al in a.alerts() {
                                if al.state == rules::AlertState::Firing {
                                    got.push((al.labels.clone(), al.annotations.clone()));
                                }
                            }
                        }
                    }
                }
                let mut exp: Vec<(Labels, Labels)> = tc
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut b = LabelsBuilder::new();
                        for (k, v) in &a.exp_labels {
                            b.set(k, v);
                        }
                        b.set("alertname", &tc.alertname);
                        (b.labels(), Labels::from_pairs(&a.exp_annotations))
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    let name = if tg.name.is_empty() {
                        String::new()
                    } else {
                        format!("    name: {},\n", tg.name)
                    };
                    errs.push(format!(
                        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        tc.alertname,
                        model::format_duration(t),
                        indent(&alerts_string(&exp), "            "),
                        indent(&alerts_string(&got), "            "),
                    ));
                }
            }
            curr += 1;
        }
        ts += ctx.eval_interval;
    }

    'tests: for tc in &tg.promql_expr_test {
        let at = tc.eval_time.map_or(0, |d| d.0);
        let got = match query.query(&tc.expr, mint + at) {
            Ok(v) => v,
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    tc.expr,
                    model::format_duration(at)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64, String)> = got
            .into_iter()
            .map(|s| match s.value {
                SampleValue::Float(f) => (s.labels, f, String::new()),
                SampleValue::Histogram(h) => (s.labels, 0.0, test_expression(&h)),
            })
            .collect();
        let mut exp = Vec::new();
        for s in &tc.exp_samples {
            let res = parse_metric(&s.labels).map_err(|e| e.render(&s.labels)).and_then(|l| {
                if s.histogram.is_empty() {
                    return Ok((l, s.value, String::new()));
                }
                let desc = format!("{{}} {}", s.histogram);
                let (_, vals) = parse_series_desc(&desc).map_err(|e| e.render(&desc))?;
                match vals.as_slice() {
                    [SequenceValue::Histogram(h, _)] => Ok((l, s.value, test_expression(h))),
                    [v] => Err(format!("expected histogram, got {v:?}")),
                    v => Err(format!("expected 1 value, got {}", v.len())),
                }
            });
            match res {
                Ok(x) => exp.push(x),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: labels {:?}: {e}",
                        tc.expr,
                        model::format_duration(at),
                        s.labels
                    ));
                    continue 'tests;
                }
            }
        }
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let same = exp.len() == got.len()
            && exp.iter().zip(&got).all(|(e, g)| {
                e.0 == g.0
                    && e.2 == g.2
                    && (e.1 == g.1 || (ctx.fuzzy && next_after_equal(e.1, g.1)))
            });
        if !same {
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                tc.expr,
                model::format_duration(at),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    errs
}

fn next_after_equal(a: f64, b: f64) -> bool {
    let up = if a == 0.0 {
        f64::from_bits(1)
    } else if a > 0.0 {
        f64::from_bits(a.to_bits() + 1)
    } else {
        f64::from_bits(a.to_bits() - 1)
    };
    let down = if a == 0.0 {
        -f64::from_bits(1)
    } else if a > 0.0 {
        f64::from_bits(a.to_bits() - 1)
    } else {
        f64::from_bits(a.to_bits() + 1)
    };
    b == up || b == down
}

fn load_series(
    storage: &Head,
    input: &[InputSeries],
    mint: i64,
    interval: i64,
) -> Result<(), String> {
    let mut app = storage.appender();
    for s in input {
        let line = format!("{} {}", s.series, s.values);
        let (labels, vals) = parse_series_desc(&line).map_err(|e| e.render(&line))?;
        let mut t = mint;
        for v in vals {
            let value = match v {
                SequenceValue::Omitted => None,
                SequenceValue::Float(f) => Some(Value::Float(f)),
                SequenceValue::Histogram(h, _) => Some(Value::FloatHistogram(Arc::new(*h))),
            };
            if let Some(value) = value {
                app.append(0, &labels, 0, t, value, &AppendOptions::default())
                    .map_err(|e| e.to_string())?;
            }
            t += interval;
        }
    }
    app.commit().map_err(|e| e.to_string())
}

/// RFC 3339 or Unix seconds.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis())
}

/// Go's `time.Duration.String` for milliseconds: `0s`, `1m0s`, `1h30m0s`, `1.5s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        let _ = write!(out, "{ms}ms");
        return out;
    }
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms % 60_000) as f64 / 1000.0;
    if h > 0 {
        let _ = write!(out, "{h}h{m}m");
    } else if m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}s");
    out
}

fn indent(text: &str, prefix: &str) -> String {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| if i > 0 { format!("{prefix}{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

fn alerts_string(v: &[(Labels, Labels)]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, a)) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let body = format!("\nLabels:{l}\nAnnotations:{a}");
        let _ = write!(s, "\n{i}:{}", indent(&body, "  "));
    }
    s.push_str("\n]");
    s
}

fn samples_string(v: &[(Labels, f64, String)]) -> String {
    if v.is_empty() {
        return "nil".into();
    }
    v.iter()
        .map(
            |(l, f, h)| {
                if h.is_empty() { format!("{l} {}", go_float_e(*f)) } else { format!("{l} {h}") }
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:E}");
    let (mant, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}E{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `%g` for one float.
fn go_g(v: f64) -> String {
    template::sprintf("%g", &[template::Value::Float(v)])
}

/// Prometheus's `FloatHistogram.TestExpression`: the `{{…}}` notation of a compacted histogram.
pub fn test_expression(h: &FloatHistogram) -> String {
    let m = h.compact();
    let mut parts = Vec::new();
    if m.schema != 0 {
        parts.push(format!("schema:{}", m.schema));
    }
    if m.count != 0.0 {
        parts.push(format!("count:{}", go_g(m.count)));
    }
    if m.sum != 0.0 {
        parts.push(format!("sum:{}", go_g(m.sum)));
    }
    if m.zero_count != 0.0 {
        parts.push(format!("z_bucket:{}", go_g(m.zero_count)));
    }
    if m.zero_threshold != 0.0 {
        parts.push(format!("z_bucket_w:{}", go_g(m.zero_threshold)));
    }
    let list =
        |v: &[f64]| format!("[{}]", v.iter().map(|x| go_g(*x)).collect::<Vec<_>>().join(" "));
    if !m.custom_values.is_empty() {
        parts.push(format!("custom_values:{}", list(&m.custom_values)));
    }
    match m.counter_reset_hint {
        model::CounterResetHint::Unknown => {}
        model::CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".into()),
        model::CounterResetHint::NotCounterReset => {
            parts.push("counter_reset_hint:not_reset".into())
        }
        model::CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
    }
    for (spans, buckets, bkey, okey) in [
        (&m.positive_spans, &m.positive_buckets, "buckets", "offset"),
        (&m.negative_spans, &m.negative_buckets, "n_buckets", "n_offset"),
    ] {
        let Some(first) = spans.first() else { continue };
        if first.offset != 0 {
            parts.push(format!("{okey}:{}", first.offset));
        }
        // Spans after the first are joined by the empty buckets between them.
        let mut all = Vec::new();
        let mut it = buckets.iter();
        for (i, s) in spans.iter().enumerate() {
            if i > 0 {
                all.extend(std::iter::repeat_n(0.0, s.offset.max(0) as usize));
            }
            for _ in 0..s.length {
                all.push(it.next().copied().unwrap_or(0.0));
            }
        }
        parts.push(format!("{bkey}:{}", list(&all)));
    }
    format!("{{{{{}}}}}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(3_661_000), "1h1m1s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_float_e(1.0), "1E+00");
        assert_eq!(go_float_e(0.25), "2.5E-01");
        assert_eq!(go_g(123456.0), "123456");
        assert_eq!(go_g(1e6), "1e+06");
        assert_eq!(go_g(1234567.0), "1.234567e+06");
        assert_eq!(go_g(0.00001), "1e-05");
        assert_eq!(go_g(5.1), "5.1");
    }
}
