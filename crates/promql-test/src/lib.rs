//! Runner for PromQL test scripts (the `.test` DSL of Prometheus's `promqltest`): `load`, `load_with_nhcb`, `clear`
//! and `eval instant|range` with `expect` lines, with the harness's semantics: every instant eval is re-run with
//! `@` pinned on every selector at several evaluation times, and as a range query around its time.

mod chunk_hints;
mod compare;
mod nhcb;
mod script;
mod st;

use std::sync::Arc;

use model::{Labels, Value};
use promql::{Engine, EngineOptions, QueryResult, QueryValue};
use promql_syntax::{Expr, ParserOptions, SequenceValue};
use storage::{AppendOptions, Appendable, MemStorage};

use crate::chunk_hints::ChunkHints;
pub use script::{Command, EvalCmd, Expect, ExpectKind, LoadCmd, parse_script};

/// The result of one file.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Evals that passed.
    pub passed: usize,
    /// Failures: `file:line: message`.
    pub failures: Vec<String>,
}

impl Report {
    /// Evals that failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// The engine options Prometheus's harness uses: every experimental feature, delayed name removal.
pub fn test_engine() -> Engine {
    Engine::new(EngineOptions {
        lookback_delta: 5 * 60 * 1000,
        max_samples: 100_000_000,
        timeout: Some(std::time::Duration::from_secs(100)),
        no_step_subquery_interval: 60_000,
        parser: ParserOptions::all(),
        delayed_name_removal: true,
        use_start_timestamps: true,
        ..EngineOptions::default()
    })
}

/// Runs a script; `name` prefixes failure messages.
pub fn run_script(text: &str, name: &str) -> Report {
    let mut report = Report::default();
    let cmds = match parse_script(text) {
        Ok(c) => c,
        Err((line, msg)) => {
            report.failures.push(format!("{name}:{line}: {msg}"));
            return report;
        }
    };
    let engine = test_engine();
    let mut storage = MemStorage::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => storage = MemStorage::new(),
            Command::Load(l) => {
                if let Err(e) = load(&storage, &l) {
                    report.failures.push(format!("{name}:{}: {e}", l.line));
                }
            }
            Command::Eval(ev) => match run_eval(&engine, &storage, &ev) {
                Ok(()) => report.passed += 1,
                Err(e) => report.failures.push(format!("{name}:{}: {e}", ev.line)),
            },
        }
    }
    report
}

fn load(storage: &MemStorage, l: &LoadCmd) -> Result<(), String> {
    let mut app = storage.appender();
    for (labels, vals) in &l.series {
        let mut t = 0i64;
        let mut hints = ChunkHints::default();
        let sts = l.start_timestamps.iter().find(|(s, _)| s == labels).map(|(_, v)| v.as_slice());
        for (i, v) in vals.iter().enumerate() {
            let value = match v {
                SequenceValue::Omitted => None,
                SequenceValue::Float(f) => {
                    hints.float();
                    Some(Value::Float(*f))
                }
                SequenceValue::Histogram(h, _) => {
                    let mut h = (**h).clone();
                    hints.histogram(&mut h);
                    Some(Value::FloatHistogram(Arc::new(h)))
                }
            };
            if let Some(value) = value {
                let st = sts.and_then(|s| s.get(i).copied().flatten()).map_or(0, |o| t + o);
                app.append(0, labels, st, t, value, &AppendOptions::default())
                    .map_err(|e| e.to_string())?;
            }
            t += l.gap;
        }
    }
    if l.with_nhcb {
        for (labels, points) in nhcb::convert(&l.series, l.gap) {
            let mut hints = ChunkHints::default();
            for (t, mut h) in points {
                hints.histogram(&mut h);
                app.append(
                    0,
                    &labels,
                    0,
                    t,
                    Value::FloatHistogram(Arc::new(h)),
                    &AppendOptions::default(),
                )
                .map_err(|e| e.to_string())?;
            }
        }
    }
    app.commit().map_err(|e| e.to_string())
}

fn check_fail(ev: &EvalCmd, err: &str) -> Result<(), String> {
    for e in &ev.expects {
        if e.kind == ExpectKind::Fail && !e.matches(err) {
            return Err(format!(
                "expected error matching {:?} evaluating query {:?}, but got: {err}",
                e.pattern_text(),
                ev.expr
            ));
        }
    }
    Ok(())
}

fn check_annotations(ev: &EvalCmd, expr: &str, res: &QueryResult) -> Result<(), String> {
    let warnings: Vec<&str> =
        res.annotations.iter().filter(|a| a.warning).map(|a| a.text.as_str()).collect();
    let infos: Vec<&str> =
        res.annotations.iter().filter(|a| !a.warning).map(|a| a.text.as_str()).collect();
    for (kind, no_kind, actual, label) in [
        (ExpectKind::Warn, ExpectKind::NoWarn, &warnings, "warn"),
        (ExpectKind::Info, ExpectKind::NoInfo, &infos, "info"),
    ] {
        let expected: Vec<&Expect> = ev.expects.iter().filter(|e| e.kind == kind).collect();
        if !expected.is_empty() {
            if actual.is_empty() {
                return Err(format!(
                    "expected {label} annotations but none were found for query {expr:?}"
                ));
            }
            for e in &expected {
                if !actual.iter().any(|a| e.matches(a)) {
                    return Err(format!(
                        "expected {label} annotation matching {:?} but no matching annotation was found for query {expr:?}, found: {actual:?}",
                        e.pattern_text()
                    ));
                }
            }
            for a in actual.iter() {
                if !expected.iter().any(|e| e.matches(a)) {
                    return Err(format!(
                        "unexpected {label} annotation {a:?} found for query {expr}"
                    ));
                }
            }
        }
        if ev.expects.iter().any(|e| e.kind == no_kind) && !actual.is_empty() {
            return Err(format!(
                "unexpected {label} annotations evaluating query {expr:?}: {actual:?}"
            ));
        }
    }
    Ok(())
}

fn run_eval(engine: &Engine, storage: &MemStorage, ev: &EvalCmd) -> Result<(), String> {
    if ev.is_range {
        let res = engine.range_query(storage, &ev.expr, ev.start, ev.end, ev.step, None);
        return check_result(ev, &ev.expr, res, None);
    }
    let mut queries = vec![(ev.expr.clone(), ev.eval_at)];
    queries.extend(at_modifier_cases(engine, &ev.expr, ev.eval_at));
    for (q, t) in queries {
        let res = engine.instant_query(storage, &q, t, None);
        let was_scalar = matches!(res.value, Ok(QueryValue::Scalar { .. }));
        let ok = res.value.is_ok();
        check_result(ev, &q, res, None)?;
        if !ok || ev.exclude_from_range || ev.is_fail() {
            continue;
        }
        if uses_query_context(&q) {
            continue;
        }
        let rres = engine.range_query(storage, &q, t - 60_000, t + 60_000, 60_000, None);
        if ev.ordered() {
            if let Err(e) = &rres.value {
                return Err(format!("error evaluating query {q:?} in range mode: {e}"));
            }
            continue;
        }
        check_result(ev, &q, rres, Some((t, was_scalar)))
            .map_err(|e| format!("{e} (range mode)"))?;
    }
    Ok(())
}

/// Queries using `start()`, `end()`, `range()` or `step()` resolve differently as range queries.
fn uses_query_context(q: &str) -> bool {
    ["start()", "end()", "range()", "step()"].iter().any(|p| q.contains(p))
}

/// `range_mode`: compare only the points at this time, as a vector (or scalar).
fn check_result(
    ev: &EvalCmd,
    expr: &str,
    res: QueryResult,
    range_mode: Option<(i64, bool)>,
) -> Result<(), String> {
    let value = match &res.value {
        Err(e) => {
            if ev.is_fail() && range_mode.is_none() {
                return check_fail(ev, &e.to_string());
            }
            return Err(format!("error evaluating query {expr:?}: {e}"));
        }
        Ok(v) => v,
    };
    if ev.is_fail() && range_mode.is_none() {
        return Err(format!("expected error evaluating query {expr:?} but got none"));
    }
    if range_mode.is_none() {
        check_annotations(ev, expr, &res)?;
    }
    match range_mode {
        None => compare::compare(ev, value),
        Some((t, was_scalar)) => {
            let QueryValue::Matrix(m) = value else {
                return Err("range query did not return a matrix".into());
            };
            compare::check_sorted(m)?;
            let mut vec = Vec::new();
            for s in m {
                if let Some(p) = s.floats.iter().find(|p| p.t == t) {
                    vec.push(promql::Sample {
                        metric: s.metric.clone(),
                        t,
                        f: p.f,
                        h: None,
                        drop_name: false,
                    });
                } else if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
                    vec.push(promql::Sample {
                        metric: s.metric.clone(),
                        t,
                        f: 0.0,
                        h: Some(p.h.clone()),
                        drop_name: false,
                    });
                }
            }
            if was_scalar {
                let v = vec.first().map(|s| s.f).unwrap_or(f64::NAN);
                compare::compare(ev, &QueryValue::Scalar { t, v })
            } else {
                compare::compare(ev, &QueryValue::Vector(vec))
            }
        }
    }
}

/// The harness's `@` re-runs: every selector without `@` (outside subqueries that have one) gets `@ <eval time>`,
/// and the query runs at other times. Queries with time-dependent functions are skipped.
fn at_modifier_cases(engine: &Engine, q: &str, t: i64) -> Vec<(String, i64)> {
    let Ok(mut expr) = engine.parse(q) else { return Vec::new() };
    let mut unsafe_fn = false;
    expr.walk(&mut |e| {
        if let Expr::Call(c) = e
            && promql::AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name)
        {
            unsafe_fn = true;
        }
        true
    });
    if unsafe_fn {
        return Vec::new();
    }
    expr.walk_mut(&mut |e| match e {
        Expr::VectorSelector(vs) => {
            if vs.timestamp.is_none() && vs.at.is_none() {
                vs.timestamp = Some(t);
            }
            true
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.timestamp.is_none() && ms.vs.at.is_none() {
                ms.vs.timestamp = Some(t);
            }
            true
        }
        Expr::Subquery(sq) => {
            if sq.timestamp.is_some() || sq.at.is_some() {
                return false;
            }
            sq.timestamp = Some(t);
            false
        }
        _ => true,
    });
    let new = expr.to_string();
    let times: Vec<i64> =
        if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] };
    times.into_iter().map(|et| (new.clone(), et)).collect()
}

/// Labels of a series description, for error messages.
pub(crate) fn fmt_labels(l: &Labels) -> String {
    let name = l.metric_name();
    let rest: Vec<String> = l
        .iter()
        .filter(|x| x.name != model::METRIC_NAME_LABEL)
        .map(|x| format!("{}={}", x.name, promql_syntax::quote(x.value)))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}
