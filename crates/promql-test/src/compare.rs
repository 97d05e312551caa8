//! Comparison of query results with expectations, with the harness's float tolerance.

use std::collections::HashMap;

use model::{FloatHistogram, Labels, span_iter};
use promql::{Matrix, QueryValue, Vector, almost_equal};
use promql_syntax::SequenceValue;

use crate::fmt_labels;
use crate::script::EvalCmd;

const EPSILON: f64 = 0.000001;

fn buckets_match(a: &FloatHistogram, b: &FloatHistogram, neg: bool) -> bool {
    let (sa, ba, sb, bb) = if neg {
        (&a.negative_spans, &a.negative_buckets, &b.negative_spans, &b.negative_buckets)
    } else {
        (&a.positive_spans, &a.positive_buckets, &b.positive_spans, &b.positive_buckets)
    };
    let x: Vec<(i32, f64)> = span_iter(sa, ba).collect();
    let y: Vec<(i32, f64)> = span_iter(sb, bb).collect();
    x.len() == y.len()
        && x.iter().zip(&y).all(|(p, q)| p.0 == q.0 && almost_equal(p.1, q.1, EPSILON))
}

/// Prometheus's `compareNativeHistogram` (both sides compacted).
pub(crate) fn histograms_match(exp: &FloatHistogram, cur: &FloatHistogram, hint_set: bool) -> bool {
    let (exp, cur) = (exp.compact(), cur.compact());
    if exp.schema != cur.schema
        || !almost_equal(exp.count, cur.count, EPSILON)
        || !almost_equal(exp.sum, cur.sum, EPSILON)
    {
        return false;
    }
    if exp.uses_custom_buckets() && exp.custom_values != cur.custom_values {
        return false;
    }
    if exp.zero_threshold != cur.zero_threshold
        || !almost_equal(exp.zero_count, cur.zero_count, EPSILON)
    {
        return false;
    }
    if !buckets_match(&exp, &cur, true) || !buckets_match(&exp, &cur, false) {
        return false;
    }
    !hint_set || exp.counter_reset_hint == cur.counter_reset_hint
}

fn hist_text(h: &FloatHistogram) -> String {
    format!(
        "{{{{schema:{} count:{} sum:{} z_bucket:{} z_bucket_w:{} buckets:{:?} n_buckets:{:?} custom_values:{:?} hint:{:?}}}}}",
        h.schema,
        h.count,
        h.sum,
        h.zero_count,
        h.zero_threshold,
        h.positive_buckets,
        h.negative_buckets,
        h.custom_values,
        h.counter_reset_hint
    )
}

pub(crate) fn check_sorted(m: &Matrix) -> Result<(), String> {
    for w in m.windows(2) {
        if w[0].metric > w[1].metric {
            return Err(format!(
                "matrix results should always be sorted by labels, but matrix is not sorted: {} before {}",
                fmt_labels(&w[0].metric),
                fmt_labels(&w[1].metric)
            ));
        }
    }
    Ok(())
}

/// Compares a result with the expectation of `ev`.
pub(crate) fn compare(ev: &EvalCmd, v: &QueryValue) -> Result<(), String> {
    let expected: HashMap<&Labels, (usize, &Vec<SequenceValue>)> =
        ev.expected.iter().enumerate().map(|(i, (l, v))| (l, (i + 1, v))).collect();
    match v {
        QueryValue::String { v, .. } => match &ev.expected_string {
            Some(s) if s == v => Ok(()),
            Some(s) => Err(format!("expected string \"{s}\" but got \"{v}\"")),
            None => Err(format!("unexpected string result {v:?}")),
        },
        QueryValue::Scalar { v, .. } => {
            let Some(exp) = ev.expected_scalar else {
                return Err(format!("expected vector or matrix result, but got scalar {v}"));
            };
            if !almost_equal(exp, *v, EPSILON) {
                return Err(format!("expected scalar {exp} but got {v}"));
            }
            Ok(())
        }
        QueryValue::Vector(vec) => compare_vector(ev, &expected, vec),
        QueryValue::Matrix(m) => {
            if ev.ordered() {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if ev.expected_scalar.is_some() {
                return Err("expected scalar result, but got matrix".into());
            }
            check_sorted(m)?;
            let mut seen = 0;
            for s in m {
                let Some((_, vals)) = expected.get(&s.metric) else {
                    return Err(format!("unexpected metric {} in result", fmt_labels(&s.metric)));
                };
                seen += 1;
                let mut ef = Vec::new();
                let mut eh = Vec::new();
                for (i, e) in vals.iter().enumerate() {
                    let t = ev.start + i as i64 * ev.step;
                    if t > ev.end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            vals.len(),
                            fmt_labels(&s.metric)
                        ));
                    }
                    match e {
                        SequenceValue::Float(f) => ef.push((t, *f)),
                        SequenceValue::Histogram(h, hint) => eh.push((t, h, *hint)),
                        SequenceValue::Omitted => {}
                    }
                }
                if ef.len() != s.floats.len() || eh.len() != s.histograms.len() {
                    return Err(format!(
                        "expected {} float points and {} histogram points for {}, but got {} float points {:?} and {} histogram points",
                        ef.len(),
                        eh.len(),
                        fmt_labels(&s.metric),
                        s.floats.len(),
                        s.floats.iter().map(|p| (p.t, p.f)).collect::<Vec<_>>(),
                        s.histograms.len()
                    ));
                }
                for ((t, f), p) in ef.iter().zip(&s.floats) {
                    if *t != p.t {
                        return Err(format!(
                            "expected float value for {} to have timestamp {t}, but it had timestamp {}",
                            fmt_labels(&s.metric),
                            p.t
                        ));
                    }
                    if !almost_equal(p.f, *f, EPSILON) {
                        return Err(format!(
                            "expected float value at t={} for {} to be {f}, but got {}",
                            p.t,
                            fmt_labels(&s.metric),
                            p.f
                        ));
                    }
                }
                for ((t, h, hint), p) in eh.iter().zip(&s.histograms) {
                    if *t != p.t || !histograms_match(h, &p.h, *hint) {
                        return Err(format!(
                            "expected histogram value at t={t} for {} to be {}, but got {} at t={}",
                            fmt_labels(&s.metric),
                            hist_text(h),
                            hist_text(&p.h),
                            p.t
                        ));
                    }
                }
            }
            if seen != expected.len() {
                for (l, _) in &ev.expected {
                    if !m.iter().any(|s| &s.metric == l) {
                        return Err(format!("expected metric {} not found", fmt_labels(l)));
                    }
                }
            }
            Ok(())
        }
    }
}

fn compare_vector(
    ev: &EvalCmd,
    expected: &HashMap<&Labels, (usize, &Vec<SequenceValue>)>,
    vec: &Vector,
) -> Result<(), String> {
    if ev.expected_scalar.is_some() {
        return Err("expected scalar result, but got vector".into());
    }
    for (pos, s) in vec.iter().enumerate() {
        let Some((epos, vals)) = expected.get(&s.metric) else {
            return Err(match &s.h {
                Some(h) => format!(
                    "unexpected metric {} in result, has value {}",
                    fmt_labels(&s.metric),
                    hist_text(h)
                ),
                None => format!(
                    "unexpected metric {} in result, has value {}",
                    fmt_labels(&s.metric),
                    s.f
                ),
            });
        };
        if ev.ordered() && *epos != pos + 1 {
            return Err(format!(
                "expected metric {} at position {epos} but was at {}",
                fmt_labels(&s.metric),
                pos + 1
            ));
        }
        match (vals.first(), &s.h) {
            (Some(SequenceValue::Histogram(h, hint)), Some(got)) => {
                if !histograms_match(h, got, *hint) {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        hist_text(h),
                        fmt_labels(&s.metric),
                        hist_text(got)
                    ));
                }
            }
            (Some(SequenceValue::Histogram(h, _)), None) => {
                return Err(format!(
                    "expected histogram {} for {} but got float value {}",
                    hist_text(h),
                    fmt_labels(&s.metric),
                    s.f
                ));
            }
            (Some(SequenceValue::Float(f)), None) => {
                if !almost_equal(*f, s.f, EPSILON) {
                    return Err(format!(
                        "expected {f} for {} but got {}",
                        fmt_labels(&s.metric),
                        s.f
                    ));
                }
            }
            (_, Some(got)) => {
                return Err(format!(
                    "expected float value for {} but got histogram {}",
                    fmt_labels(&s.metric),
                    hist_text(got)
                ));
            }
            (_, None) => return Err(format!("no expected value for {}", fmt_labels(&s.metric))),
        }
    }
    for (l, _) in &ev.expected {
        if !vec.iter().any(|s| &s.metric == l) {
            return Err(format!("expected metric {} not found", fmt_labels(l)));
        }
    }
    Ok(())
}
