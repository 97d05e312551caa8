//! Functions over range vectors (`rate`, `*_over_time`, …), applied to one series' window at one step.

use std::sync::Arc;

use model::{CounterResetHint, FloatHistogram, Labels};
use promql_syntax::PosRange;

use crate::aggregate::{kahan_inc, quantile};
use crate::annotations::Anno;
use crate::extended;
use crate::functions::bounds_reconciled;
use crate::kahan_hist::{KahanHistogram, KahanMean};
use crate::value::{FPoint, HPoint};

/// One series' samples in a window, plus what the function needs to know about the window.
pub(crate) struct Window<'a> {
    pub(crate) floats: &'a [FPoint],
    pub(crate) hists: &'a [HPoint],
    /// Start timestamps of `floats` and `hists`, index for index, when the storage has them (else empty).
    pub(crate) fsts: &'a [i64],
    pub(crate) hsts: &'a [i64],
    /// The caller knows that no float of the window is lower than the one before it (and there are no start
    /// timestamps), so counter-reset corrections can be skipped.
    pub(crate) no_float_drops: bool,
    pub(crate) metric: &'a Labels,
    /// Evaluation time.
    pub(crate) ts: i64,
    /// The step's own time (differs from `ts` under `@`).
    pub(crate) eval_ts: i64,
    /// Selector range (ms).
    pub(crate) range: i64,
    /// Selector offset (ms).
    pub(crate) offset: i64,
    /// Position of the range argument, for annotations.
    pub(crate) pos: PosRange,
    /// The selector is `anchored` (the window then includes samples up to one lookback delta before its start).
    pub(crate) anchored: bool,
    /// The selector is `smoothed` (the window then includes samples up to one lookback delta beyond either end).
    pub(crate) smoothed: bool,
}

pub(crate) type Out = Option<(f64, Option<Arc<FloatHistogram>>)>;

fn f(v: f64) -> Out {
    Some((v, None))
}

fn name(m: &Labels) -> String {
    m.metric_name().to_string()
}

/// Applies range function `name` to a window; `params` are the scalar arguments in order.
pub(crate) fn call(
    func: &str,
    w: &Window<'_>,
    params: &[f64],
    annos: &mut Vec<(Anno, PosRange)>,
) -> Out {
    let fl = w.floats;
    let hs = w.hists;
    if w.anchored || w.smoothed {
        match func {
            "rate" => return extended::rate(w, true, true, annos),
            "increase" => return extended::rate(w, true, false, annos),
            "delta" => return extended::rate(w, false, false, annos),
            _ => {}
        }
    }
    match func {
        "rate" => extrapolated_rate(w, true, true, annos),
        "increase" => extrapolated_rate(w, true, false, annos),
        "delta" => extrapolated_rate(w, false, false, annos),
        "irate" => instant_value(w, true, annos),
        "idelta" => instant_value(w, false, annos),
        "count_over_time" => f((fl.len() + hs.len()) as f64),
        "present_over_time" => f(1.0),
        "absent_over_time" => None,
        "last_over_time" => {
            let lf = fl.last();
            let lh = hs.last();
            match (lf, lh) {
                (Some(a), Some(b)) if b.t > a.t => Some((0.0, Some(b.h.clone()))),
                (Some(a), _) => f(a.f),
                (None, Some(b)) => Some((0.0, Some(b.h.clone()))),
                (None, None) => None,
            }
        }
        "first_over_time" => {
            let ff = fl.first();
            let fh = hs.first();
            match (ff, fh) {
                (Some(a), Some(b)) if b.t < a.t => Some((0.0, Some(b.h.clone()))),
                (Some(a), _) => f(a.f),
                (None, Some(b)) => Some((0.0, Some(b.h.clone()))),
                (None, None) => None,
            }
        }
        "ts_of_last_over_time" => {
            let t = fl.last().map(|p| p.t).into_iter().chain(hs.last().map(|p| p.t)).max()?;
            f(t as f64 / 1000.0)
        }
        "ts_of_first_over_time" => {
            let t = fl.first().map(|p| p.t).into_iter().chain(hs.first().map(|p| p.t)).min()?;
            f(t as f64 / 1000.0)
        }
        "sum_over_time" | "avg_over_time" => {
            if !fl.is_empty() && !hs.is_empty() {
                annos.push((Anno::MixedFloatsHistograms(name(w.metric)), w.pos));
                return None;
            }
            if fl.is_empty() {
                return hist_sum_avg(w, func == "avg_over_time", annos);
            }
            if func == "sum_over_time" {
                let (mut sum, mut c) = (0.0, 0.0);
                for p in fl {
                    (sum, c) = kahan_inc(p.f, sum, c);
                }
                f(if sum.is_infinite() { sum } else { sum + c })
            } else {
                f(avg(fl))
            }
        }
        "min_over_time" | "max_over_time" | "ts_of_min_over_time" | "ts_of_max_over_time" => {
            if fl.is_empty() {
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            let max = func.contains("max");
            let ts_of = func.starts_with("ts_of");
            let mut best = fl[0];
            for p in &fl[1..] {
                let better = if max {
                    p.f > best.f || (ts_of && p.f == best.f)
                } else {
                    p.f < best.f || (ts_of && p.f == best.f)
                };
                if better || best.f.is_nan() {
                    best = *p;
                }
            }
            if func.starts_with("ts_of") { f(best.t as f64 / 1000.0) } else { f(best.f) }
        }
        "stddev_over_time" | "stdvar_over_time" => {
            if fl.is_empty() {
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for p in fl {
                count += 1.0;
                let delta = p.f - (mean + cmean);
                (mean, cmean) = kahan_inc(delta / count, mean, cmean);
                (aux, caux) = kahan_inc(delta * (p.f - (mean + cmean)), aux, caux);
            }
            let var = (aux + caux) / count;
            f(if func == "stddev_over_time" { var.sqrt() } else { var })
        }
        "quantile_over_time" => {
            if fl.is_empty() {
                return None;
            }
            let q = params.first().copied().unwrap_or(f64::NAN);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                annos.push((Anno::InvalidQuantile(q), w.pos_param()));
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            f(quantile(q, fl.iter().map(|p| p.f).collect()))
        }
        "mad_over_time" => {
            if fl.is_empty() {
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            let vals: Vec<f64> = fl.iter().map(|p| p.f).collect();
            if vals.iter().any(|v| v.is_nan()) {
                return f(f64::NAN);
            }
            let median = quantile(0.5, vals.clone());
            f(quantile(0.5, vals.iter().map(|v| (v - median).abs()).collect()))
        }
        "changes" | "resets" => changes_resets(w, func == "resets"),
        "deriv" => {
            if fl.len() < 2 {
                if fl.len() == 1 && !hs.is_empty() {
                    annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
                }
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            f(linear_regression(fl, fl[0].t).0)
        }
        "predict_linear" => {
            if fl.len() < 2 {
                if fl.len() == 1 && !hs.is_empty() {
                    annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
                }
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            let d = params.first().copied().unwrap_or(f64::NAN);
            let (slope, intercept) = linear_regression(fl, w.eval_ts);
            f(slope * d + intercept)
        }
        "double_exponential_smoothing" => {
            if fl.len() < 2 {
                if !hs.is_empty() && fl.len() == 1 {
                    annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
                }
                return None;
            }
            if !hs.is_empty() {
                annos.push((Anno::HistogramIgnoredInMixedRange(name(w.metric)), w.pos));
            }
            let sf = params.first().copied().unwrap_or(f64::NAN);
            let tf = params.get(1).copied().unwrap_or(f64::NAN);
            let (mut s0, mut s1) = (0.0, fl[0].f);
            let mut b = fl[1].f - fl[0].f;
            for (i, p) in fl.iter().enumerate().skip(1) {
                if i > 1 {
                    b = tf * (s1 - s0) + (1.0 - tf) * b;
                }
                let x = sf * p.f;
                let y = (1.0 - sf) * (s1 + b);
                s0 = s1;
                s1 = x + y;
            }
            f(s1)
        }
        _ => None,
    }
}

impl Window<'_> {
    fn pos_param(&self) -> PosRange {
        self.pos
    }
}

fn avg(fl: &[FPoint]) -> f64 {
    let (mut sum, mut count) = (fl[0].f, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in fl[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.f / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

fn hist_sum_avg(w: &Window<'_>, is_avg: bool, annos: &mut Vec<(Anno, PosRange)>) -> Out {
    let hs = w.hists;
    let seen = |hint| hs.iter().any(|p| p.h.counter_reset_hint == hint);
    if seen(CounterResetHint::CounterReset) && seen(CounterResetHint::NotCounterReset) {
        annos.push((Anno::HistogramCounterResetCollision("aggregation"), w.pos));
    }
    let mut reconciled = false;
    let result = if is_avg {
        let mut mean = KahanMean::new(&hs[0].h);
        hs[1..]
            .iter()
            .try_for_each(|p| mean.add(&p.h).map(|r| reconciled |= r))
            .map(|_| mean.finish())
    } else {
        let mut sum = KahanHistogram::new(&hs[0].h);
        hs[1..]
            .iter()
            .try_for_each(|p| sum.add(&p.h).map(|r| reconciled |= r))
            .map(|_| sum.finish())
    };
    if reconciled {
        annos.push((Anno::MismatchedCustomBuckets("aggregation"), w.pos));
    }
    match result {
        Ok(h) => Some((0.0, Some(Arc::new(h.compact())))),
        Err(_) => {
            annos.push((Anno::MixedExponentialCustom(name(w.metric)), w.pos));
            None
        }
    }
}

pub(crate) fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.f, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.f, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Whether the start timestamps of two consecutive samples say the counter restarted between them (Prometheus's
/// `isStartTimestampReset`): the current sample's start lies after the previous sample, or exactly at it when the
/// previous sample had a known start of its own (a delta series).
pub(crate) fn st_reset(prev_st: i64, prev_t: i64, cur_st: i64, cur_t: i64) -> bool {
    // Unset, invalid (after the sample) or OTel's "unknown" (at the sample) starts say nothing.
    if cur_st == 0 || cur_st >= cur_t || cur_st < prev_t {
        return false;
    }
    if cur_st > prev_t {
        return true;
    }
    // cur_st == prev_t: a delta point, unless the previous start is unknown (a cumulative series whose first
    // start was not known) or invalid.
    prev_st <= prev_t && prev_st != 0 && prev_st != prev_t
}

/// Whether a sample's start time lies before the previous sample without being the same start (overlapping
/// intervals: bad data, reported once per series).
fn st_overlap(prev_st: i64, prev_t: i64, cur_st: i64) -> bool {
    cur_st != 0 && cur_st < prev_t && cur_st != prev_st
}

/// Start timestamp `i` of a window, 0 when unknown.
fn st_at(sts: &[i64], i: usize) -> i64 {
    sts.get(i).copied().unwrap_or(0)
}

fn changes_resets(w: &Window<'_>, resets: bool) -> Out {
    #[derive(Clone)]
    enum V {
        F(f64),
        H(Arc<FloatHistogram>),
    }
    let (fi, hi) = if w.anchored {
        extended::anchored_start(w.floats, w.hists, w.ts - w.offset - w.range)?
    } else {
        (0, 0)
    };
    // (time, start time, value)
    let mut merged: Vec<(i64, i64, V)> = w.floats[fi..]
        .iter()
        .enumerate()
        .map(|(i, p)| (p.t, st_at(w.fsts, fi + i), V::F(p.f)))
        .collect();
    merged.extend(
        w.hists[hi..]
            .iter()
            .enumerate()
            .map(|(i, p)| (p.t, st_at(w.hsts, hi + i), V::H(p.h.clone()))),
    );
    if merged.is_empty() {
        return None;
    }
    merged.sort_by_key(|(t, ..)| *t);
    let mut n = 0;
    for pair in merged.windows(2) {
        let ((pt, pst, prev), (ct, cst, cur)) = (&pair[0], &pair[1]);
        let restarted = || resets && st_reset(*pst, *pt, *cst, *ct);
        let hit = match (prev, cur) {
            (V::F(a), V::F(b)) => {
                if resets {
                    b < a || restarted()
                } else {
                    a != b && !(a.is_nan() && b.is_nan())
                }
            }
            (V::H(a), V::H(b)) => {
                if resets {
                    restarted() || b.detect_reset(a)
                } else {
                    !crate::functions::hist_equals(a, b)
                }
            }
            _ => true,
        };
        if hit {
            n += 1;
        }
    }
    f(n as f64)
}

fn instant_value(w: &Window<'_>, is_rate: bool, annos: &mut Vec<(Anno, PosRange)>) -> Out {
    #[derive(Clone)]
    struct S {
        t: i64,
        st: i64,
        f: f64,
        h: Option<Arc<FloatHistogram>>,
    }
    if w.floats.len() + w.hists.len() < 2 {
        return None;
    }
    let (f0, h0) = (w.floats.len().saturating_sub(2), w.hists.len().saturating_sub(2));
    let mut ss: Vec<S> = w.floats[f0..]
        .iter()
        .enumerate()
        .map(|(i, p)| S { t: p.t, st: st_at(w.fsts, f0 + i), f: p.f, h: None })
        .collect();
    for (i, p) in w.hists[h0..].iter().enumerate() {
        let s = S { t: p.t, st: st_at(w.hsts, h0 + i), f: 0.0, h: Some(p.h.clone()) };
        match ss.len() {
            0 => ss.push(s),
            1 => {
                if s.t < ss[0].t {
                    ss.insert(0, s);
                } else {
                    ss.push(s);
                }
            }
            _ => {
                if s.t < ss[0].t {
                } else if s.t > ss[1].t {
                    ss[0] = ss[1].clone();
                    ss[1] = s;
                } else {
                    ss[0] = s;
                }
            }
        }
    }
    let (a, b) = (&ss[0], &ss[1]);
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    let mut rf = b.f;
    let mut rh: Option<FloatHistogram> = None;
    match (&a.h, &b.h) {
        (None, None) => {
            // NaN compares false, so a NaN pair is not a reset (as in Prometheus). After a reset the rate is
            // the second value over the interval.
            if !is_rate || !(b.f < a.f || st_reset(a.st, a.t, b.st, b.t)) {
                rf = b.f - a.f;
            }
        }
        (Some(ha), Some(hb)) => {
            if is_rate
                && (hb.counter_reset_hint == CounterResetHint::Gauge
                    || ha.counter_reset_hint == CounterResetHint::Gauge)
            {
                annos.push((Anno::NotCounter(name(w.metric)), w.pos));
            }
            if !is_rate
                && (hb.counter_reset_hint != CounterResetHint::Gauge
                    || ha.counter_reset_hint != CounterResetHint::Gauge)
            {
                annos.push((Anno::NotGauge(name(w.metric)), w.pos));
            }
            let mut r = (**hb).clone();
            if !is_rate || (!st_reset(a.st, a.t, b.st, b.t) && !hb.detect_reset(ha)) {
                if bounds_reconciled(hb, ha) {
                    annos.push((Anno::MismatchedCustomBuckets("subtraction"), w.pos));
                }
                match r.sub(ha) {
                    Ok(v) => r = v,
                    Err(_) => {
                        annos.push((Anno::MixedExponentialCustom(name(w.metric)), w.pos));
                        return None;
                    }
                }
            }
            r.counter_reset_hint = CounterResetHint::Gauge;
            rh = Some(r.compact());
        }
        _ => {
            annos.push((Anno::MixedFloatsHistograms(name(w.metric)), w.pos));
            return None;
        }
    }
    if is_rate {
        let secs = interval as f64 / 1000.0;
        rf /= secs;
        rh = rh.map(|h| h.scale(1.0 / secs));
    }
    Some((rf, rh.map(Arc::new)))
}

fn extrapolated_rate(
    w: &Window<'_>,
    is_counter: bool,
    is_rate: bool,
    annos: &mut Vec<(Anno, PosRange)>,
) -> Out {
    let range_start = w.ts - (w.range + w.offset);
    let range_end = w.ts - w.offset;
    if !w.hists.is_empty() && !w.floats.is_empty() {
        annos.push((Anno::MixedFloatsHistograms(name(w.metric)), w.pos));
        return None;
    }
    let (first_t, last_t, n_minus_one);
    let mut result_f = 0.0;
    let mut result_h: Option<FloatHistogram> = None;
    let first_f;
    if !w.hists.is_empty() {
        n_minus_one = w.hists.len() - 1;
        first_t = w.hists[0].t;
        last_t = w.hists[n_minus_one].t;
        first_f = 0.0;
        if w.hists.len() > 1 {
            result_h = Some(histogram_rate(w, is_counter, annos)?);
        }
    } else if !w.floats.is_empty() {
        n_minus_one = w.floats.len() - 1;
        first_t = w.floats[0].t;
        last_t = w.floats[n_minus_one].t;
        first_f = w.floats[0].f;
        result_f = w.floats[n_minus_one].f - w.floats[0].f;
        if is_counter && !w.no_float_drops {
            let sts = w.fsts;
            let mut overlap = false;
            for (i, pair) in w.floats.windows(2).enumerate() {
                let (prev, cur) = (pair[0], pair[1]);
                if !overlap && i + 1 < sts.len() && st_overlap(sts[i], prev.t, sts[i + 1]) {
                    annos.push((Anno::StartTimeOverlap(name(w.metric)), w.pos));
                    overlap = true;
                }
                if cur.f < prev.f
                    || (i + 1 < sts.len() && st_reset(sts[i], prev.t, sts[i + 1], cur.t))
                {
                    result_f += prev.f;
                }
            }
        }
    } else {
        return None;
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let mut sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = if n_minus_one > 0 { sampled / n_minus_one as f64 } else { 0.0 };
    let threshold = avg_between * 1.1;
    let first_st = if w.hists.is_empty() { st_at(w.fsts, 0) } else { st_at(w.hsts, 0) };
    if is_counter && first_st != 0 && first_st > range_start && first_st < first_t {
        // The first sample's start lies inside the range: the counter was zero then, so the increase runs from
        // that point instead of being extrapolated to the left. With a single sample nothing extrapolates to
        // the right (the threshold is 0).
        to_start = 0.0;
        sampled = (last_t - first_st) as f64 / 1000.0;
        if w.hists.is_empty() {
            result_f += first_f;
        } else {
            let first = &w.hists[0].h;
            result_h = match result_h {
                None => Some((**first).clone()),
                Some(h) => match h.add(first) {
                    Ok(sum) => Some(sum),
                    Err(_) => {
                        annos.push((Anno::MixedExponentialCustom(name(w.metric)), w.pos));
                        return None;
                    }
                },
            };
        }
    } else if n_minus_one == 0 {
        // One sample and no usable start time: nothing to compute.
        return None;
    } else {
        if to_start >= threshold {
            to_start = avg_between / 2.0;
        }
        if is_counter {
            let mut to_zero = to_start;
            if result_f > 0.0 && !w.floats.is_empty() && first_f >= 0.0 {
                to_zero = sampled * (first_f / result_f);
            } else if let Some(h) = &result_h {
                let fc = w.hists[0].h.count;
                if h.count > 0.0 && fc >= 0.0 {
                    to_zero = sampled * (fc / h.count);
                }
            }
            if to_zero < to_start {
                to_start = to_zero;
            }
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = if sampled != 0.0 { (sampled + to_start + to_end) / sampled } else { 1.0 };
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    match result_h {
        None => f(result_f * factor),
        Some(h) => Some((0.0, Some(Arc::new(h.scale(factor))))),
    }
}

fn histogram_rate(
    w: &Window<'_>,
    is_counter: bool,
    annos: &mut Vec<(Anno, PosRange)>,
) -> Option<FloatHistogram> {
    let points = w.hists;
    let mixed = |annos: &mut Vec<(Anno, PosRange)>| {
        annos.push((Anno::MixedExponentialCustom(name(w.metric)), w.pos));
        None
    };
    let is_gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    let last = &points[points.len() - 1].h;
    let mut prev = (*points[0].h).clone();
    if is_counter && (is_gauge(&prev) || is_gauge(last)) {
        annos.push((Anno::NotCounter(name(w.metric)), w.pos));
    }
    let sts = w.hsts;
    if is_counter
        && ((sts.len() > 1 && st_reset(sts[0], points[0].t, sts[1], points[1].t))
            || points[1].h.detect_reset(&prev))
    {
        // The first sample only serves as the base of the increase to the second, which restarts from zero, so
        // its layout does not matter.
        prev = FloatHistogram {
            schema: points[1].h.schema,
            custom_values: points[1].h.custom_values.clone(),
            ..FloatHistogram::default()
        };
    }
    if last.uses_custom_buckets() != prev.uses_custom_buckets() {
        return mixed(annos);
    }
    let mut min_schema = last.schema.min(prev.schema);
    if is_counter {
        for p in &points[1..points.len() - 1] {
            if is_gauge(&p.h) {
                annos.push((Anno::NotCounter(name(w.metric)), w.pos));
            }
            min_schema = min_schema.min(p.h.schema);
            if p.h.uses_custom_buckets() != prev.uses_custom_buckets() {
                return mixed(annos);
            }
        }
    }
    if bounds_reconciled(last, &prev) {
        annos.push((Anno::MismatchedCustomBuckets("subtraction"), w.pos));
    }
    let Ok(mut h) = last.reduce_resolution(min_schema).sub(&prev) else {
        return mixed(annos);
    };
    if is_counter {
        let mut before = &prev;
        let mut overlap = false;
        for (i, p) in points[1..].iter().enumerate() {
            if !overlap && i + 1 < sts.len() && st_overlap(sts[i], points[i].t, sts[i + 1]) {
                annos.push((Anno::StartTimeOverlap(name(w.metric)), w.pos));
                overlap = true;
            }
            let restarted = i + 1 < sts.len() && st_reset(sts[i], points[i].t, sts[i + 1], p.t);
            if restarted || p.h.detect_reset(before) {
                if bounds_reconciled(&h, before) {
                    annos.push((Anno::MismatchedCustomBuckets("addition"), w.pos));
                }
                let Ok(sum) = h.add(before) else {
                    return mixed(annos);
                };
                h = sum;
            }
            before = &p.h;
        }
    } else if !is_gauge(&points[0].h) || !is_gauge(last) {
        annos.push((Anno::NotGauge(name(w.metric)), w.pos));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h.compact())
}
