//! Function calls: instant-vector functions evaluated per step, range-vector functions evaluated per series and
//! window, and the label-manipulating functions.

use chrono::{Datelike, TimeZone, Timelike};
use model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME_LABEL, MatchType};
use promql_syntax::{Call, Expr};

use crate::annotations::Anno;
use crate::error::QueryError;
use crate::eval::{Evaluator, Loaded, Res, Sink, StepArg, collect_into, feed, merge_same_labels};
use crate::extended;
use crate::range_fns::{self, Window};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};

/// Functions whose result depends on the evaluation time even when their arguments do not.
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "end",
    "range",
    "start",
    "step",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// Data equality of histograms, as `changes()` and `==` use it (Prometheus's `FloatHistogram.Equals`): values
/// compare by bit pattern (so equal NaNs match), custom bounds only matter for custom buckets, and the
/// counter-reset hint is ignored.
pub(crate) fn hist_equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let (a, b) = (a.compact(), b.compact());
    let bits = |x: &[f64], y: &[f64]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
    };
    a.schema == b.schema
        && a.count.to_bits() == b.count.to_bits()
        && a.sum.to_bits() == b.sum.to_bits()
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && a.zero_count.to_bits() == b.zero_count.to_bits()
        && a.negative_spans == b.negative_spans
        && bits(&a.negative_buckets, &b.negative_buckets)
        && a.positive_spans == b.positive_spans
        && bits(&a.positive_buckets, &b.positive_buckets)
}

/// Whether adding or subtracting `a` and `b` reconciles differing custom bucket bounds (onto the common ones).
pub(crate) fn bounds_reconciled(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.uses_custom_buckets() && b.uses_custom_buckets() && a.custom_values != b.custom_values
}

/// Whether `name` may be a label name: non-empty and UTF-8 (a string literal can carry bytes that are not, see
/// [`promql_syntax::has_invalid_utf8`]).
pub(crate) fn valid_label_name(name: &str) -> bool {
    model::is_valid_label_name(name) && !promql_syntax::has_invalid_utf8(name)
}

/// The `{{…}}` notation of a histogram, used by `count_values`.
pub(crate) fn histogram_string(h: &FloatHistogram) -> String {
    let mut s = format!(
        "{{count:{}, sum:{}",
        promql_syntax::format_number(h.count),
        promql_syntax::format_number(h.sum)
    );
    for b in h.all_buckets() {
        let open = if b.lower_inclusive { '[' } else { '(' };
        let close = if b.upper_inclusive { ']' } else { ')' };
        s.push_str(&format!(", {open}{},{}{close}:{}", b.lower, b.upper, b.count));
    }
    s.push('}');
    s
}

/// Prometheus's `almost.Equal`: relative comparison with NaN equal to NaN.
pub fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

impl Evaluator<'_, '_> {
    pub(crate) fn eval_call(&self, c: &Call) -> Res<Matrix> {
        let mut out = Vec::new();
        self.stream_call(c, &mut collect_into(&mut out))?;
        Ok(out)
    }

    /// Evaluates a call, handing its result series to `sink` one at a time: functions over a range selector
    /// produce them series by series as they read the selector; the others evaluate first and then hand over.
    pub(crate) fn stream_call(&self, c: &Call, sink: &mut Sink<'_>) -> Res<()> {
        let name = c.func.name;
        if name == "timestamp"
            && matches!(c.args.first().map(Expr::unparen), Some(Expr::VectorSelector(_)))
        {
            return feed(self.eval_timestamp_selector(c, false)?, sink);
        }
        if name == "start_timestamp" {
            // Start timestamps come only straight from a selector, and only when they are used at all.
            if self.ctx.use_start_timestamps
                && matches!(c.args.first(), Some(Expr::VectorSelector(_)))
            {
                return feed(self.eval_timestamp_selector(c, true)?, sink);
            }
            return Ok(());
        }
        match name {
            "label_replace" => return feed(self.eval_label_replace(c)?, sink),
            "label_join" => return feed(self.eval_label_join(c)?, sink),
            "info" => return feed(self.eval_info(c)?, sink),
            _ => {}
        }
        if matches!(name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc")
            && self.start != self.end
        {
            self.ctx.annos.borrow_mut().add(Anno::SortInRangeQuery, c.pos);
        }
        let matrix_arg = c
            .args
            .iter()
            .position(|a| matches!(a.unparen(), Expr::MatrixSelector(_) | Expr::Subquery(_)));
        let Some(mi) = matrix_arg else {
            let args: Vec<&Expr> = c.args.iter().collect();
            return feed(self.range_eval(&args, |a, ts| self.instant_function(c, a, ts))?, sink);
        };
        // Scalar arguments, one value per step.
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in c.args.iter().enumerate() {
            if i == mi {
                continue;
            }
            let m = self.eval(a)?.into_matrix();
            let mut vals = Vec::with_capacity(self.steps());
            let mut ts = self.start;
            while ts <= self.end {
                vals.push(
                    m.first()
                        .and_then(|s| s.floats.iter().find(|p| p.t == ts))
                        .map(|p| p.f)
                        .unwrap_or(f64::NAN),
                );
                ts += self.interval;
            }
            params.push(vals);
        }
        let arg = c.args[mi].unparen();
        let (series, range, offset, at, (before, after), (anchored, smoothed)) = match arg {
            Expr::MatrixSelector(ms) => {
                if ms.vs.anchored && !ANCHORED_SAFE.contains(&name) {
                    return Err(QueryError::Execution(format!(
                        "anchored modifier can only be used with: {} - not with {name}",
                        ANCHORED_SAFE.join(", ")
                    )));
                }
                if ms.vs.smoothed && !SMOOTHED_SAFE.contains(&name) {
                    return Err(QueryError::Execution(format!(
                        "smoothed modifier can only be used with: {} - not with {name}",
                        SMOOTHED_SAFE.join(", ")
                    )));
                }
                let range = self.dur_ms(&ms.range);
                let offset = ms.vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
                let at = self.at_time(ms.vs.timestamp, ms.vs.at);
                let (mint, maxt) = match at {
                    Some(a) => (a - offset - range, a - offset),
                    None => (self.start - offset - range, self.end - offset),
                };
                let reach = extended::reach(&ms.vs, self.ctx.lookback);
                // Streamed: one series' samples in memory at a time.
                let loaded: Box<dyn Iterator<Item = Res<Loaded>> + '_> =
                    Box::new(self.load_selector_iter(
                        &ms.vs,
                        mint - reach.0,
                        maxt + reach.1,
                        Some(name),
                        range,
                    )?);
                (loaded, range, offset, at, reach, (ms.vs.anchored, ms.vs.smoothed))
            }
            Expr::Subquery(sq) => {
                let (loaded, at) = self.eval_subquery(sq)?;
                let range = self.dur_ms(&sq.range);
                let offset = sq.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
                let loaded: Box<dyn Iterator<Item = Res<Loaded>> + '_> =
                    Box::new(loaded.into_iter().map(Ok));
                (loaded, range, offset, at, (0, 0), (false, false))
            }
            _ => return Err(QueryError::Execution("expected range vector argument".into())),
        };
        let drop_name = name != "last_over_time" && name != "first_over_time";
        let pos = c.args[mi].pos();
        let mut annos = Vec::new();
        let mut sparams = vec![0.0; params.len()];
        // Steps at which some series has a sample in its window (for `absent_over_time`).
        let mut present = std::collections::BTreeSet::new();
        let steps = self.steps();
        let mut drops: Vec<u32> = Vec::new();
        let (mut wf, mut wh): (Vec<FPoint>, Vec<HPoint>) = (Vec::new(), Vec::new());
        // Start timestamps of the window's samples (empty when the series has none).
        let (mut wfs, mut whs): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
        for s in series {
            let s = s?;
            self.check_done()?;
            let mut res = Series {
                metric: s.labels.clone(),
                floats: Vec::new(),
                histograms: Vec::new(),
                drop_name: drop_name || s.drop_name,
            };
            let mut ts = self.start;
            let mut step = 0;
            let (mut flo, mut fhi, mut hlo, mut hhi) = (0usize, 0usize, 0usize, 0usize);
            let clean = !s.floats.iter().any(|p| model::is_stale_nan(p.f))
                && !s.hists.iter().any(|p| model::is_stale_nan(p.h.sum));
            // For counter functions over clean series: drops[i] counts the floats up to i lower than the one
            // before, so a window without any needs no reset correction.
            drops.clear();
            if clean && s.fsts.is_empty() && matches!(name, "rate" | "increase") {
                let mut n = 0u32;
                drops.push(0);
                for pair in s.floats.windows(2) {
                    n += u32::from(pair[1].f < pair[0].f);
                    drops.push(n);
                }
            }
            while ts <= self.end {
                for (k, p) in params.iter().enumerate() {
                    sparams[k] = p[step];
                }
                let r = at.unwrap_or(ts) - offset;
                let lo = r - range - before;
                let r = r + after;
                let value = {
                    // Windows move forward monotonically unless `@` pins them.
                    if at.is_some() {
                        (flo, fhi, hlo, hhi) = (0, 0, 0, 0);
                    }
                    while fhi < s.floats.len() && s.floats[fhi].t <= r {
                        fhi += 1;
                    }
                    while flo < fhi && s.floats[flo].t <= lo {
                        flo += 1;
                    }
                    while hhi < s.hists.len() && s.hists[hhi].t <= r {
                        hhi += 1;
                    }
                    while hlo < hhi && s.hists[hlo].t <= lo {
                        hlo += 1;
                    }
                    // Series without staleness markers (most) are windowed in place.
                    let (wfl, whl, wfsl, whsl): (&[FPoint], &[HPoint], &[i64], &[i64]) = if clean {
                        (
                            &s.floats[flo..fhi],
                            &s.hists[hlo..hhi],
                            s.fsts.get(flo..fhi).unwrap_or(&[]),
                            s.hsts.get(hlo..hhi).unwrap_or(&[]),
                        )
                    } else {
                        wf.clear();
                        wfs.clear();
                        for (i, p) in s.floats[flo..fhi].iter().enumerate() {
                            if !model::is_stale_nan(p.f) {
                                wf.push(*p);
                                if let Some(st) = s.fsts.get(flo + i) {
                                    wfs.push(*st);
                                }
                            }
                        }
                        wh.clear();
                        whs.clear();
                        for (i, p) in s.hists[hlo..hhi].iter().enumerate() {
                            if !model::is_stale_nan(p.h.sum) {
                                wh.push(p.clone());
                                if let Some(st) = s.hsts.get(hlo + i) {
                                    whs.push(*st);
                                }
                            }
                        }
                        (&wf, &wh, &wfs, &whs)
                    };
                    if wfl.is_empty() && whl.is_empty() {
                        None
                    } else {
                        if name == "absent_over_time" {
                            present.insert(ts);
                        }
                        let no_float_drops = fhi > flo
                            && drops.len() == s.floats.len()
                            && drops[fhi - 1] == drops[flo];
                        let w = Window {
                            floats: wfl,
                            hists: whl,
                            fsts: wfsl,
                            hsts: whsl,
                            no_float_drops,
                            metric: &s.labels,
                            ts: at.unwrap_or(ts),
                            eval_ts: ts,
                            range,
                            offset,
                            pos,
                            anchored,
                            smoothed,
                        };
                        range_fns::call(name, &w, &sparams, &mut annos)
                    }
                };
                if let Some((f, h)) = value {
                    match h {
                        Some(h) => res.histograms.push(HPoint { t: ts, h }),
                        None => {
                            if res.floats.is_empty() {
                                // At most one point per remaining step: no growth slack.
                                res.floats.reserve_exact(steps - step);
                            }
                            res.floats.push(FPoint { t: ts, f });
                        }
                    }
                }
                ts += self.interval;
                step += 1;
            }
            if !res.floats.is_empty() || !res.histograms.is_empty() {
                self.add_samples(res.floats.len() + res.histograms.len())?;
                if (name == "rate" || name == "increase") && !res.floats.is_empty() {
                    let mn = s.labels.metric_name();
                    if !mn.is_empty()
                        && !mn.ends_with("_total")
                        && !mn.ends_with("_sum")
                        && !mn.ends_with("_count")
                        && !mn.ends_with("_bucket")
                    {
                        annos.push((Anno::PossibleNonCounter(mn.to_string()), pos));
                    }
                }
                if name != "absent_over_time" && sink(res)?.is_break() {
                    break;
                }
            }
        }
        {
            let mut a = self.ctx.annos.borrow_mut();
            for (an, p) in annos {
                a.add(an, p);
            }
        }
        if name == "absent_over_time" {
            let steps = self.steps();
            let found = present;
            if found.len() == steps {
                return Ok(());
            }
            let mut floats = Vec::new();
            let mut ts = self.start;
            while ts <= self.end {
                if !found.contains(&ts) {
                    floats.push(FPoint { t: ts, f: 1.0 });
                }
                ts += self.interval;
            }
            return feed(
                vec![Series {
                    metric: absent_labels(&c.args[0]),
                    floats,
                    histograms: Vec::new(),
                    drop_name: true,
                }],
                sink,
            );
        }
        Ok(())
    }

    /// `timestamp(selector)` (the time of the sample each step picks) or, with `start`, `start_timestamp(selector)`
    /// (that sample's start timestamp, 0 when unknown), in seconds.
    fn eval_timestamp_selector(&self, c: &Call, start: bool) -> Res<Matrix> {
        let Some(Expr::VectorSelector(vs)) = c.args.first().map(Expr::unparen) else {
            return Ok(Vec::new());
        };
        let offset = vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let at = self.at_time(vs.timestamp, vs.at);
        let lb = self.ctx.lookback;
        let (mint, maxt) = match at {
            Some(a) => (a - offset - lb, a - offset),
            None => (self.start - offset - lb, self.end - offset),
        };
        let func = if start { Some("start_timestamp") } else { None };
        let loaded = self.load(&vs.matchers, mint, maxt, func, 0)?;
        let mut out = Vec::new();
        for s in loaded {
            let mut res = Series {
                metric: s.labels.clone(),
                floats: Vec::new(),
                histograms: Vec::new(),
                drop_name: true,
            };
            let mut ts = self.start;
            while ts <= self.end {
                let r = at.unwrap_or(ts) - offset;
                // The newest float and histogram at or before r.
                let fi = s.floats.partition_point(|p| p.t <= r).checked_sub(1);
                let hi = s.hists.partition_point(|p| p.t <= r).checked_sub(1);
                let (t, st, stale) = match (fi, hi) {
                    (Some(f), Some(h)) if s.hists[h].t > s.floats[f].t => {
                        let p = &s.hists[h];
                        (p.t, s.hsts.get(h), model::is_stale_nan(p.h.sum))
                    }
                    (Some(f), _) => {
                        let p = s.floats[f];
                        (p.t, s.fsts.get(f), model::is_stale_nan(p.f))
                    }
                    (None, Some(h)) => {
                        let p = &s.hists[h];
                        (p.t, s.hsts.get(h), model::is_stale_nan(p.h.sum))
                    }
                    (None, None) => {
                        ts += self.interval;
                        continue;
                    }
                };
                if t > r - lb && !stale {
                    let v = if start { st.copied().unwrap_or(0) } else { t };
                    res.floats.push(FPoint { t: ts, f: v as f64 / 1000.0 });
                }
                ts += self.interval;
            }
            if !res.floats.is_empty() {
                self.add_samples(res.floats.len())?;
                out.push(res);
            }
        }
        Ok(out)
    }

    fn string_arg(&self, e: &Expr) -> String {
        match e.unparen() {
            Expr::String(s) => s.val.clone(),
            _ => String::new(),
        }
    }

    fn eval_label_replace(&self, c: &Call) -> Res<Matrix> {
        let dst = self.string_arg(&c.args[1]);
        let repl = self.string_arg(&c.args[2]);
        let src = self.string_arg(&c.args[3]);
        let regex_s = self.string_arg(&c.args[4]);
        let re = regex::Regex::new(&format!(
            "^(?s:{})$",
            model::translate_re2(&regex_s).unwrap_or(regex_s.clone())
        ))
        .map_err(|e| {
            QueryError::Execution(format!(
                "invalid regular expression in label_replace(): {regex_s}: {e}"
            ))
        })?;
        if !valid_label_name(&dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut m = self.eval(&c.args[0])?.into_matrix();
        for s in &mut m {
            let v = s.metric.get(&src).to_string();
            if let Some(caps) = re.captures(&v) {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                set_label(s, &dst, &res);
            }
        }
        merge_same_labels(m)
    }

    fn eval_label_join(&self, c: &Call) -> Res<Matrix> {
        let dst = self.string_arg(&c.args[1]);
        let sep = self.string_arg(&c.args[2]);
        let srcs: Vec<String> = c.args[3..].iter().map(|a| self.string_arg(a)).collect();
        for s in &srcs {
            if !valid_label_name(s) {
                return Err(QueryError::Execution(format!(
                    "invalid source label name in label_join(): {s}"
                )));
            }
        }
        if !valid_label_name(&dst) {
            return Err(QueryError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut m = self.eval(&c.args[0])?.into_matrix();
        for s in &mut m {
            let v: Vec<&str> = srcs.iter().map(|n| s.metric.get(n)).collect();
            let joined = v.join(&sep);
            set_label(s, &dst, &joined);
        }
        merge_same_labels(m)
    }

    /// Per-step functions without a range argument.
    fn instant_function(&self, c: &Call, a: &[StepArg], ts: i64) -> Res<Vector> {
        let name = c.func.name;
        let scalar_out = |v: f64| {
            vec![Sample { metric: Labels::empty(), t: ts, f: v, h: None, drop_name: false }]
        };
        let simple = |f: &dyn Fn(f64) -> f64| -> Vector {
            a[0].vector()
                .iter()
                .filter(|s| s.h.is_none())
                .map(|s| Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f: f(s.f),
                    h: None,
                    drop_name: true,
                })
                .collect()
        };
        Ok(match name {
            "time" => scalar_out(ts as f64 / 1000.0),
            "pi" => scalar_out(std::f64::consts::PI),
            "start" => scalar_out(self.ctx.query_start as f64 / 1000.0),
            "end" => scalar_out(self.ctx.query_end as f64 / 1000.0),
            "step" => scalar_out(self.ctx.query_step as f64 / 1000.0),
            "range" => scalar_out((self.ctx.query_end - self.ctx.query_start) as f64 / 1000.0),
            "min_of" => scalar_out(go_min(a[0].scalar(), a[1].scalar())),
            "max_of" => scalar_out(go_max(a[0].scalar(), a[1].scalar())),
            "vector" => vec![Sample {
                metric: Labels::empty(),
                t: ts,
                f: a[0].scalar(),
                h: None,
                drop_name: false,
            }],
            "scalar" => {
                let floats: Vec<f64> =
                    a[0].vector().iter().filter(|s| s.h.is_none()).map(|s| s.f).collect();
                scalar_out(if floats.len() == 1 { floats[0] } else { f64::NAN })
            }
            "abs" => simple(&f64::abs),
            "ceil" => simple(&f64::ceil),
            "floor" => simple(&f64::floor),
            "exp" => simple(&f64::exp),
            "sqrt" => simple(&f64::sqrt),
            "ln" => simple(&f64::ln),
            "log2" => simple(&f64::log2),
            "log10" => simple(&f64::log10),
            "sin" => simple(&f64::sin),
            "cos" => simple(&f64::cos),
            "tan" => simple(&f64::tan),
            "asin" => simple(&f64::asin),
            "acos" => simple(&f64::acos),
            "atan" => simple(&f64::atan),
            "sinh" => simple(&f64::sinh),
            "cosh" => simple(&f64::cosh),
            "tanh" => simple(&f64::tanh),
            "asinh" => simple(&f64::asinh),
            "acosh" => simple(&f64::acosh),
            "atanh" => simple(&f64::atanh),
            "deg" => simple(&|v| v * 180.0 / std::f64::consts::PI),
            "rad" => simple(&|v| v * std::f64::consts::PI / 180.0),
            "sgn" => simple(&|v| {
                if v < 0.0 {
                    -1.0
                } else if v > 0.0 {
                    1.0
                } else {
                    v
                }
            }),
            "round" => {
                let to = if a.len() >= 2 { a[1].scalar() } else { 1.0 };
                let inv = 1.0 / to;
                simple(&|v| (v * inv + 0.5).floor() / inv)
            }
            "clamp" => {
                let (min, max) = (a[1].scalar(), a[2].scalar());
                if max < min {
                    return Ok(Vec::new());
                }
                simple(&|v| go_max(min, go_min(max, v)))
            }
            "clamp_min" => {
                let min = a[1].scalar();
                simple(&|v| go_max(min, v))
            }
            "clamp_max" => {
                let max = a[1].scalar();
                simple(&|v| go_min(max, v))
            }
            "timestamp" => a[0]
                .vector()
                .iter()
                .map(|s| Sample {
                    metric: s.metric.clone(),
                    t: ts,
                    f: s.t as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                })
                .collect(),
            "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour"
            | "minute" | "month" | "year" => {
                let f = |v: f64| date_part(name, v);
                if a.is_empty() { scalar_vec(ts, f(ts as f64 / 1000.0)) } else { simple(&f) }
            }
            "sort" | "sort_desc" => {
                let mut v: Vec<Sample> =
                    a[0].vector().iter().filter(|s| s.h.is_none()).cloned().collect();
                let desc = name == "sort_desc";
                v.sort_by(|x, y| {
                    use std::cmp::Ordering;
                    match (x.f.is_nan(), y.f.is_nan()) {
                        (true, true) => Ordering::Equal,
                        (true, false) => Ordering::Greater,
                        (false, true) => Ordering::Less,
                        _ => {
                            let o = x.f.partial_cmp(&y.f).unwrap_or(Ordering::Equal);
                            if desc { o.reverse() } else { o }
                        }
                    }
                });
                v
            }
            "sort_by_label" | "sort_by_label_desc" => {
                let labels: Vec<String> = a[1..].iter().map(|x| x.string().to_string()).collect();
                let mut v: Vec<Sample> = a[0].vector().to_vec();
                let desc = name == "sort_by_label_desc";
                v.sort_by(|x, y| {
                    for l in &labels {
                        let o = natural_cmp(x.metric.get(l), y.metric.get(l));
                        if o != std::cmp::Ordering::Equal {
                            return if desc { o.reverse() } else { o };
                        }
                    }
                    let o = x.metric.cmp(&y.metric);
                    if desc { o.reverse() } else { o }
                });
                v
            }
            "absent" => {
                if !a[0].vector().is_empty() {
                    Vec::new()
                } else {
                    vec![Sample {
                        metric: absent_labels(&c.args[0]),
                        t: ts,
                        f: 1.0,
                        h: None,
                        drop_name: false,
                    }]
                }
            }
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => a[0]
                .vector()
                .iter()
                .filter_map(|s| {
                    let h = s.h.as_ref()?;
                    let v = match name {
                        "histogram_count" => h.count,
                        "histogram_sum" => h.sum,
                        "histogram_avg" => h.sum / h.count,
                        _ => {
                            let var = hist_variance(h);
                            if name == "histogram_stddev" { var.sqrt() } else { var }
                        }
                    };
                    Some(Sample { metric: s.metric.clone(), t: ts, f: v, h: None, drop_name: true })
                })
                .collect(),
            "histogram_fraction" => {
                self.histogram_fraction(c, a[0].scalar(), a[1].scalar(), a[2].vector(), ts)
            }
            "histogram_quantile" => {
                self.histogram_quantiles(c, &[a[0].scalar()], None, a[1].vector(), ts)
            }
            "histogram_quantiles" => {
                let qs: Vec<f64> = a[2..].iter().map(StepArg::scalar).collect();
                self.histogram_quantiles(c, &qs, Some(a[1].string()), a[0].vector(), ts)
            }
            _ => Vec::new(),
        })
    }
}

/// Go's `math.Max`: NaN if either is NaN.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN if either is NaN.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn scalar_vec(ts: i64, v: f64) -> Vector {
    vec![Sample { metric: Labels::empty(), t: ts, f: v, h: None, drop_name: false }]
}

/// Sets (or, for an empty value, removes) label `name` of a series; writing `__name__` keeps the name.
fn set_label(s: &mut Series, name: &str, value: &str) {
    let mut b = LabelsBuilder::new();
    b.reset(&s.metric);
    if value.is_empty() {
        b.del(name);
    } else {
        b.set(name, value);
    }
    s.metric = b.labels();
    if name == METRIC_NAME_LABEL {
        s.drop_name = false;
    }
}

/// Labels of `absent()`'s result: the equality matchers of a selector argument (not the name), unless a label has
/// several equality matchers.
fn absent_labels(e: &Expr) -> Labels {
    let matchers = match e.unparen() {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers,
        _ => return Labels::empty(),
    };
    let mut b = LabelsBuilder::new();
    let mut empty: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME_LABEL {
            continue;
        }
        if m.match_type == MatchType::Equal
            && b.get(&m.name).is_empty()
            && !empty.contains(&m.name.as_str())
        {
            b.set(&m.name, &m.value);
        } else {
            empty.push(&m.name);
        }
    }
    for n in empty {
        b.del(n);
    }
    b.labels()
}

fn date_part(name: &str, v: f64) -> f64 {
    if v.is_nan() || v.is_infinite() {
        return v;
    }
    let secs = v.floor() as i64;
    let Some(t) = chrono::Utc.timestamp_opt(secs, 0).single() else { return f64::NAN };
    match name {
        "days_in_month" => {
            let (y, m) = (t.year(), t.month());
            let next = if m == 12 {
                chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            let this = chrono::NaiveDate::from_ymd_opt(y, m, 1);
            match (next, this) {
                (Some(n), Some(t)) => (n - t).num_days() as f64,
                _ => f64::NAN,
            }
        }
        "day_of_month" => t.day() as f64,
        "day_of_week" => t.weekday().num_days_from_sunday() as f64,
        "day_of_year" => t.ordinal() as f64,
        "hour" => t.hour() as f64,
        "minute" => t.minute() as f64,
        "month" => t.month() as f64,
        "year" => t.year() as f64,
        _ => f64::NAN,
    }
}

/// Natural ordering: digit runs compare numerically.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        } else {
            let o = ab[i].cmp(&bb[j]);
            if o != std::cmp::Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn hist_variance(h: &FloatHistogram) -> f64 {
    if h.count == 0.0 {
        return f64::NAN;
    }
    let mean = h.sum / h.count;
    let mut var = 0.0;
    let mut c = 0.0;
    for b in h.all_buckets() {
        if b.count == 0.0 {
            continue;
        }
        let val =
            if b.lower <= 0.0 && b.upper >= 0.0 && b.lower != b.upper && !h.uses_custom_buckets() {
                0.0
            } else if h.uses_custom_buckets() {
                if b.upper.is_infinite() {
                    b.lower
                } else if b.lower.is_infinite() {
                    b.upper
                } else {
                    (b.lower + b.upper) / 2.0
                }
            } else if b.upper > 0.0 {
                (b.lower * b.upper).sqrt()
            } else {
                -(b.lower * b.upper).sqrt()
            };
        let d = val - mean;
        (var, c) = crate::aggregate::kahan_inc(b.count * d * d, var, c);
    }
    (var + c) / h.count
}
