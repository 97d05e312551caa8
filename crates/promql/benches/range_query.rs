//! Engine benchmarks over section A of `../shared/bench/bench-queries.txt`: the queries and the data shape of
//! Prometheus 2.42's `BenchmarkRangeQuery` (promql/bench_test.go), run against the in-memory `tsdb::Head`.
//!
//! Data set (built once, before any benchmark runs):
//! - `a_X` and `b_X` floats and the classic histogram `h_X` (`le` = "0".."9" and "+Inf"), for X = `one`
//!   (no `l` label), `ten` (`l` = 0..9) and `hundred` (`l` = 0..99): 1,443 series.
//! - One sample every 10 s for 8,640 + 10,000 intervals (a day of history, then room for 10,000 steps): 26.9 M
//!   samples. At interval `s` the series at position `i` of the creation order holds `s + i / 1443`, as in
//!   Prometheus's setup, so every series is a slowly growing counter.
//! - When the binary runs in test mode (`cargo test --benches`, no `--bench` argument) only 1,000 intervals are
//!   loaded, so the smoke run stays fast; the figures are meaningless then.
//!
//! Group `range_query`: every A.1 template with X expanded, at steps 1, 10, 100 and 1000 unless the template names
//! its own step count. Like Prometheus, each case is a range query (also for steps=1, which evaluates two points)
//! from `(N - steps) * 10 s` to `N * 10 s` with a 10 s step, where N is the interval count; the IDs follow
//! Prometheus's sub-benchmark names, e.g. `range_query/expr=rate(a_hundred[1m]),steps=100`.
//!
//! Group `instant_query`: each A.2 query string as an instant query at `N * 10 s`.
//!
//! `holt_winters` is gone from Prometheus 3 (whose PromQL we implement); its cases run as
//! `double_exponential_smoothing` with experimental functions enabled, under the renamed expression.
//!
//! Defaults (overridable on the command line): 10 samples, 1 s warm-up, 2 s measurement.
//! `cargo bench -p promql --bench range_query -- 'expr=rate'` runs a subset.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use model::Labels;
use promql::{Engine, EngineOptions, QueryResult};
use promql_syntax::ParserOptions;
use storage::{AppendOptions, Appendable, Queryable};
use tsdb::Head;

/// Scrape interval and query step, in milliseconds.
const INTERVAL_MS: i64 = 10_000;
/// A day at 10 s plus the 10,000 steps of the longest case.
const FULL_INTERVALS: i64 = 8_640 + 10_000;
/// Interval count in test mode.
const SMOKE_INTERVALS: i64 = 1_000;
/// Step counts of templates that do not name their own.
const DEFAULT_STEPS: [i64; 4] = [1, 10, 100, 1000];
/// Metric sizes substituted for `X`.
const SIZES: [&str; 3] = ["one", "ten", "hundred"];

/// Section A.1: the templates, each with the step count it is limited to (`None` = the default four).
const TEMPLATES: &[(&str, Option<i64>)] = &[
    ("a_X", None),
    ("rate(a_X[1m])", None),
    ("rate(a_X[1m])", Some(10_000)),
    ("double_exponential_smoothing(a_X[1d], 0.3, 0.3)", None),
    ("changes(a_X[1d])", None),
    ("rate(a_X[1d])", None),
    ("absent_over_time(a_X[1d])", None),
    ("-a_X", None),
    ("a_X - b_X", None),
    ("a_X - b_X", Some(10_000)),
    ("a_X and b_X{l=~'.*[0-4]$'}", None),
    ("a_X or b_X{l=~'.*[0-4]$'}", None),
    ("a_X unless b_X{l=~'.*[0-4]$'}", None),
    ("a_X and b_X{l='notfound'}", None),
    ("abs(a_X)", None),
    ("label_replace(a_X, 'l2', '$1', 'l', '(.*)')", None),
    ("label_join(a_X, 'l2', '-', 'l', 'l')", None),
    ("sum(a_X)", None),
    ("sum without (l)(h_X)", None),
    ("sum without (le)(h_X)", None),
    ("sum by (l)(h_X)", None),
    ("sum by (le)(h_X)", None),
    ("count_values('value', h_X)", None),
    ("topk(1, a_X)", None),
    ("rate(a_X[1m]) + rate(b_X[1m])", None),
    ("sum without (l)(rate(a_X[1m]))", None),
    ("sum without (l)(rate(a_X[1m])) / sum without (l)(rate(b_X[1m]))", None),
    ("histogram_quantile(0.9, rate(h_X[5m]))", None),
    ("a_X + on(l) group_right a_one", None),
    ("count({__name__!=\"\"})", Some(1)),
    ("count({__name__!=\"\",l=\"\"})", Some(1)),
];

/// One benchmark case: an expanded expression and its step count.
struct Case {
    expr: String,
    steps: i64,
}

/// Expands `X` in every template (templates without it are kept once), then the default step counts.
fn range_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for &(template, steps) in TEMPLATES {
        let exprs: Vec<String> = if template.contains('X') {
            SIZES.iter().map(|size| template.replace('X', size)).collect()
        } else {
            vec![template.to_string()]
        };
        for expr in exprs {
            match steps {
                Some(n) => out.push(Case { expr: expr.clone(), steps: n }),
                None => {
                    out.extend(DEFAULT_STEPS.iter().map(|&n| Case { expr: expr.clone(), steps: n }))
                }
            }
        }
    }
    out
}

/// Section A.2: the unique expressions of [`range_cases`], in first-seen order.
fn instant_exprs() -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for case in range_cases() {
        if !seen.contains(&case.expr) {
            seen.push(case.expr);
        }
    }
    seen
}

/// The label sets in Prometheus's creation order (the order fixes each series' value offset).
fn series_labels() -> Vec<Labels> {
    let mut out = Vec::new();
    let mut add_group = |size: &str, l: Option<String>| {
        let with_l = |mut pairs: Vec<(String, String)>| {
            if let Some(l) = &l {
                pairs.push(("l".to_string(), l.clone()));
            }
            Labels::from_pairs(pairs)
        };
        for metric in ["a", "b"] {
            out.push(with_l(vec![("__name__".into(), format!("{metric}_{size}"))]));
        }
        let bounds = (0..10).map(|b| b.to_string()).chain(["+Inf".to_string()]);
        for le in bounds {
            out.push(with_l(vec![("__name__".into(), format!("h_{size}")), ("le".into(), le)]));
        }
    };
    add_group("one", None);
    for l in 0..10 {
        add_group("ten", Some(l.to_string()));
    }
    for l in 0..100 {
        add_group("hundred", Some(l.to_string()));
    }
    out
}

/// Fills a fresh head with `intervals` scrapes of every series, one commit per scrape.
fn load(intervals: i64) -> Head {
    let head = Head::default();
    let labels = series_labels();
    let mut refs = vec![0u64; labels.len()];
    let n = labels.len() as f64;
    let opts = AppendOptions::default();
    for s in 0..intervals {
        let mut app = head.appender();
        let t = s * INTERVAL_MS;
        for (i, (ls, r)) in labels.iter().zip(refs.iter_mut()).enumerate() {
            let v = s as f64 + i as f64 / n;
            *r = app.append(*r, ls, 0, t, model::Value::Float(v), &opts).expect("append");
        }
        app.commit().expect("commit");
    }
    head
}

fn engine() -> Engine {
    Engine::new(EngineOptions {
        max_samples: 50_000_000,
        timeout: Some(Duration::from_secs(100)),
        parser: ParserOptions { experimental_functions: true, ..ParserOptions::default() },
        ..EngineOptions::default()
    })
}

/// Fails loudly on an unsupported query instead of timing an error path (a cheap check inside the timed loop).
fn check(id: &str, r: &QueryResult) {
    if let Err(e) = &r.value {
        panic!("{id}: {e}");
    }
}

fn bench_range(c: &mut Criterion, engine: &Engine, head: &dyn Queryable, intervals: i64) {
    let end = intervals * INTERVAL_MS;
    let mut group = c.benchmark_group("range_query");
    for case in range_cases() {
        let start = end - case.steps * INTERVAL_MS;
        let id = format!("expr={},steps={}", case.expr, case.steps);
        group.bench_function(&id, |b| {
            b.iter(|| {
                let r = engine.range_query(head, &case.expr, start, end, INTERVAL_MS, None);
                check(&id, &r);
                black_box(r)
            })
        });
    }
    group.finish();
}

fn bench_instant(c: &mut Criterion, engine: &Engine, head: &dyn Queryable, intervals: i64) {
    let t = intervals * INTERVAL_MS;
    let mut group = c.benchmark_group("instant_query");
    for expr in instant_exprs() {
        let id = format!("expr={expr}");
        group.bench_function(&id, |b| {
            b.iter(|| {
                let r = engine.instant_query(head, &expr, t, None);
                check(&id, &r);
                black_box(r)
            })
        });
    }
    group.finish();
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let intervals = if bench_mode { FULL_INTERVALS } else { SMOKE_INTERVALS };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let began = Instant::now();
    let head = load(intervals);
    eprintln!(
        "loaded {} series x {intervals} samples in {:.1?}",
        series_labels().len(),
        began.elapsed()
    );
    let engine = engine();
    bench_range(&mut c, &engine, &head, intervals);
    bench_instant(&mut c, &engine, &head, intervals);
    c.final_summary();
}
