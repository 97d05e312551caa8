//! Extended range selectors (`anchored` and `smoothed`, Prometheus's experimental
//! `promql-extended-range-selectors` feature).
//!
//! Both modifiers widen what a selector reads by the lookback delta so that the window's edges can be given a
//! value even when no sample sits exactly on them:
//!
//! - `anchored` also reads up to one lookback delta before the window's start; the newest sample at or before the
//!   start becomes the value at the start ("anchor"), and the newest sample in the window the value at the end. No
//!   extrapolation happens, so `increase(x[5m] anchored)` is the plain difference between those two values
//!   (corrected for counter resets).
//! - `smoothed` reads one lookback delta before the start and after the end, and linearly interpolates the value at
//!   each edge from the samples around it. On an instant selector it interpolates the value at every step.
//!
//! Only `rate`, `increase` and `delta` (both modifiers) and `changes` and `resets` (`anchored` only) accept these
//! selectors; the evaluator rejects the rest before getting here.

use std::sync::Arc;

use model::{CounterResetHint, FloatHistogram, HistogramError, is_stale_nan};
use promql_syntax::{MatrixSelector, PosRange, VectorSelector};

use crate::annotations::Anno;
use crate::error::QueryError;
use crate::eval::{Evaluator, Res};
use crate::range_fns::{Out, Window};
use crate::value::{FPoint, HPoint, Matrix, Series};

/// How far beyond its own window a selector reads, as `(before the start, after the end)` in ms.
pub(crate) fn reach(vs: &VectorSelector, lookback: i64) -> (i64, i64) {
    if vs.smoothed {
        (lookback, lookback)
    } else if vs.anchored {
        (lookback, 0)
    } else {
        (0, 0)
    }
}

/// The window edges and modifier of one extended range evaluation.
#[derive(Debug, Clone, Copy)]
struct Edges {
    /// Start of the window.
    start: i64,
    /// End of the window.
    end: i64,
    /// Whether the edges are interpolated (`smoothed`) rather than picked (`anchored`).
    smoothed: bool,
}

/// The first index in `0..n` whose `pred` holds (`n` when none does), for a `pred` that holds from some index on.
fn search(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

impl Edges {
    /// The indices of the samples standing for the start and the end of the window, given the timestamps of a
    /// non-empty, time-ordered list: the newest sample at or before the start (the oldest sample when none is),
    /// and, when smoothed, the oldest sample at or after the end (the newest sample when none is).
    fn bounds(&self, n: usize, t: impl Fn(usize) -> i64) -> (usize, usize) {
        let last = n - 1;
        let first = search(last, |i| t(i) > self.start).saturating_sub(1);
        if self.smoothed { (first, search(last, |i| t(i) >= self.end)) } else { (first, last) }
    }

    /// Like [`Edges::bounds`], but `None` when nothing lies after the start, or (smoothed) everything lies after
    /// the end.
    fn indices(&self, n: usize, t: impl Fn(usize) -> i64) -> Option<(usize, usize)> {
        let (first, last) = self.bounds(n, &t);
        if t(last) <= self.start || (self.smoothed && t(first) > self.end) {
            return None;
        }
        Some((first, last))
    }
}

/// The value at `t` on the line through `a` and `b`. For counters, a drop from `a` to `b` is a reset, so the line
/// starts from zero at `a` instead.
fn lerp(a: FPoint, b: FPoint, t: i64, counter: bool) -> f64 {
    let from = if counter && b.f < a.f { 0.0 } else { a.f };
    from + (b.f - from) * (t - a.t) as f64 / (b.t - a.t) as f64
}

/// The histogram at `t` between `a` and `b`, linearly interpolated bucket by bucket. For counters, a reset between
/// the two makes the line start from an empty histogram at `a`.
fn hist_lerp(
    a: &HPoint,
    b: &HPoint,
    t: i64,
    counter: bool,
) -> Result<FloatHistogram, HistogramError> {
    if t == a.t {
        return Ok((*a.h).clone());
    }
    if t == b.t {
        return Ok((*b.h).clone());
    }
    let frac = (t - a.t) as f64 / (b.t - a.t) as f64;
    if counter && b.h.detect_reset(&a.h) {
        return Ok(b.h.scale(frac));
    }
    let diff = FloatHistogram::sub(&b.h, &a.h)?.scale(frac);
    FloatHistogram::add(&diff, &a.h)
}

/// `rate`, `increase` or `delta` of float samples over an extended window: the difference between the values at
/// the window's edges, plus, for counters, the value lost at every reset in between.
fn float_rate(fl: &[FPoint], e: Edges, counter: bool) -> Option<f64> {
    let (first, last) = e.indices(fl.len(), |i| fl[i].t)?;
    let left = if e.smoothed && fl[first].t < e.start {
        lerp(fl[first], fl[first + 1], e.start, counter)
    } else {
        fl[first].f
    };
    let right = if e.smoothed && last > 0 && fl[last].t > e.end {
        lerp(fl[last - 1], fl[last], e.end, counter)
    } else {
        fl[last].f
    };
    let mut result = right - left;
    if counter {
        // Samples on or beyond an edge are represented by the edge value (interpolation already accounts for a
        // reset it spans); only the ones strictly inside are checked for resets.
        let lo = first + usize::from(fl[first].t <= e.start);
        let hi = last + 1 - usize::from(fl[last].t >= e.end);
        let mut prev = left;
        for p in fl.get(lo..hi).unwrap_or(&[]) {
            if p.f < prev {
                result += prev;
            }
            prev = p.f;
        }
        if right < prev {
            result += prev;
        }
    }
    Some(result)
}

/// Where a histogram rate reports its problems.
struct Report<'a> {
    pub(crate) metric: &'a str,
    pub(crate) pos: PosRange,
    pub(crate) annos: &'a mut Vec<(Anno, PosRange)>,
}

impl Report<'_> {
    fn warn(&mut self, a: Anno) {
        self.annos.push((a, self.pos));
    }

    fn mixed_schemas<T>(&mut self) -> Option<T> {
        self.warn(Anno::MixedExponentialCustom(self.metric.to_string()));
        None
    }
}

/// The histogram counterpart of [`float_rate`]; the result is a gauge histogram.
fn hist_rate(
    hs: &[HPoint],
    e: Edges,
    counter: bool,
    rep: &mut Report<'_>,
) -> Option<FloatHistogram> {
    let (first, last) = e.indices(hs.len(), |i| hs[i].t)?;
    let used = &hs[first..=last];
    let custom = used[0].h.uses_custom_buckets();
    if used.iter().any(|p| p.h.uses_custom_buckets() != custom) {
        return rep.mixed_schemas();
    }
    if counter && used.iter().any(|p| p.h.counter_reset_hint == CounterResetHint::Gauge) {
        rep.warn(Anno::NotCounter(rep.metric.to_string()));
    }
    let left = if e.smoothed && hs[first].t < e.start {
        hist_lerp(&hs[first], &hs[first + 1], e.start, counter)
    } else {
        Ok((*hs[first].h).clone())
    };
    let right = if e.smoothed && last > 0 && hs[last].t > e.end {
        hist_lerp(&hs[last - 1], &hs[last], e.end, counter)
    } else {
        Ok((*hs[last].h).clone())
    };
    let (Ok(left), Ok(right)) = (left, right) else {
        return rep.mixed_schemas();
    };
    if !counter
        && (left.counter_reset_hint != CounterResetHint::Gauge
            || right.counter_reset_hint != CounterResetHint::Gauge)
    {
        rep.warn(Anno::NotGauge(rep.metric.to_string()));
    }
    let Ok(mut result) = right.sub(&left) else {
        return rep.mixed_schemas();
    };
    if counter && let Some(c) = hist_reset_correction(hs, first, last, &left, &right, e) {
        let Ok(c) = c else {
            return rep.mixed_schemas();
        };
        let Ok(r) = result.add(&c) else {
            return rep.mixed_schemas();
        };
        result = r;
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    Some(result)
}

/// The sum of the histograms lost to counter resets between the window's edge values `left` and `right`, or
/// `None` when there was no reset. The samples at `first` and `last` are represented by the edge values.
fn hist_reset_correction(
    hs: &[HPoint],
    first: usize,
    last: usize,
    left: &FloatHistogram,
    right: &FloatHistogram,
    e: Edges,
) -> Option<Result<FloatHistogram, HistogramError>> {
    let mut lo = first + 1;
    let mut prev = left;
    if e.smoothed && hs[first].t < e.start && hs[first + 1].h.detect_reset(&hs[first].h) {
        // The left edge was interpolated across this reset, which is thereby accounted for; the sample after it
        // is where the next comparison starts.
        prev = &hs[first + 1].h;
        lo += 1;
    }
    if lo > last {
        return None;
    }
    let mut correction: Option<FloatHistogram> = None;
    let add = |c: &mut Option<FloatHistogram>, h: &FloatHistogram| -> Result<(), HistogramError> {
        *c = Some(match c.take() {
            None => h.clone(),
            Some(acc) => FloatHistogram::add(&acc, h)?,
        });
        Ok(())
    };
    for p in &hs[lo..last] {
        if p.h.detect_reset(prev)
            && let Err(err) = add(&mut correction, prev)
        {
            return Some(Err(err));
        }
        prev = &p.h;
    }
    if right.detect_reset(prev)
        && let Err(err) = add(&mut correction, prev)
    {
        return Some(Err(err));
    }
    correction.map(Ok)
}

/// Where `changes` and `resets` over an anchored window start reading the floats and the histograms: at the
/// newest sample of either kind at or before the window's start (the anchor), skipping everything older. `None`
/// when no sample lies after the start.
pub(crate) fn anchored_start(fl: &[FPoint], hs: &[HPoint], start: i64) -> Option<(usize, usize)> {
    let fi = fl.partition_point(|p| p.t <= start);
    let hi = hs.partition_point(|p| p.t <= start);
    if fi >= fl.len() && hi >= hs.len() {
        return None;
    }
    Some(match (fi.checked_sub(1), hi.checked_sub(1)) {
        (None, None) => (0, 0),
        (Some(f), None) => (f, 0),
        (None, Some(h)) => (0, h),
        (Some(f), Some(h)) if fl[f].t >= hs[h].t => (f, h + 1),
        (Some(f), Some(h)) => (f + 1, h),
    })
}

/// `rate`, `increase` or `delta` over the window of an `anchored` or `smoothed` range selector.
pub(crate) fn rate(
    w: &Window<'_>,
    counter: bool,
    per_second: bool,
    annos: &mut Vec<(Anno, PosRange)>,
) -> Out {
    let metric = w.metric.metric_name();
    if !w.floats.is_empty() && !w.hists.is_empty() {
        annos.push((Anno::MixedFloatsHistograms(metric.to_string()), w.pos));
        return None;
    }
    let end = w.ts - w.offset;
    let e = Edges { start: end - w.range, end, smoothed: w.smoothed };
    let secs = w.range as f64 / 1000.0;
    if !w.hists.is_empty() {
        let mut rep = Report { metric, pos: w.pos, annos };
        let mut h = hist_rate(w.hists, e, counter, &mut rep)?;
        if per_second {
            h = h.scale(1.0 / secs);
        }
        return Some((0.0, Some(Arc::new(h.compact()))));
    }
    if w.floats.is_empty() {
        return None;
    }
    let v = float_rate(w.floats, e, counter)?;
    Some((if per_second { v / secs } else { v }, None))
}

/// The samples of a raw extended range selector: the window's samples framed by the values at its start and end
/// (picked or interpolated), each stamped with the edge's time.
fn extend_floats(fl: &[FPoint], e: Edges) -> Vec<FPoint> {
    if fl.is_empty() {
        return Vec::new();
    }
    let (first, last) = e.bounds(fl.len(), |i| fl[i].t);
    if fl[last].t <= e.start {
        return Vec::new();
    }
    let left = if e.smoothed && fl[first].t < e.start {
        lerp(fl[first], fl[first + 1], e.start, false)
    } else {
        fl[first].f
    };
    let right = if e.smoothed && last > 0 && fl[last].t > e.end {
        lerp(fl[last - 1], fl[last], e.end, false)
    } else {
        fl[last].f
    };
    let lo = first + usize::from(fl[first].t <= e.start);
    let hi = last + 1 - usize::from(fl[last].t >= e.end);
    let mut out = Vec::with_capacity(hi.saturating_sub(lo) + 2);
    out.push(FPoint { t: e.start, f: left });
    out.extend_from_slice(fl.get(lo..hi).unwrap_or(&[]));
    out.push(FPoint { t: e.end, f: right });
    out
}

impl Evaluator<'_, '_> {
    /// A raw `anchored` or `smoothed` range selector (an instant query returning a matrix).
    pub(crate) fn eval_extended_matrix_raw(&self, ms: &MatrixSelector) -> Res<Matrix> {
        let vs = &ms.vs;
        let range = self.dur_ms(&ms.range);
        let offset = vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let end = self.at_time(vs.timestamp, vs.at).unwrap_or(self.start) - offset;
        let e = Edges { start: end - range, end, smoothed: vs.smoothed };
        let (before, after) = reach(vs, self.ctx.lookback);
        let loaded = self.load(&vs.matchers, e.start - before, end + after, None, range)?;
        let mut out = Vec::new();
        for s in loaded {
            if s.hists.iter().any(|p| !is_stale_nan(p.h.sum)) {
                let which = if vs.anchored { "anchored" } else { "smoothed" };
                return Err(QueryError::Execution(format!(
                    "{which} modifier is not supported with histograms"
                )));
            }
            let floats: Vec<FPoint> = s.floats.into_iter().filter(|p| !is_stale_nan(p.f)).collect();
            let floats = extend_floats(&floats, e);
            if floats.is_empty() {
                continue;
            }
            self.add_samples(floats.len())?;
            out.push(Series { metric: s.labels, floats, histograms: Vec::new(), drop_name: false });
        }
        Ok(out)
    }

    /// A `smoothed` instant selector: at every step, the value interpolated between the samples around the step's
    /// time (within the lookback delta on either side), or the last value when no later sample exists yet.
    pub(crate) fn eval_smoothed_selector(&self, vs: &VectorSelector) -> Res<Matrix> {
        let offset = vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let at = self.at_time(vs.timestamp, vs.at);
        let lb = self.ctx.lookback;
        let (mint, maxt) = match at {
            Some(a) => (a - offset - lb, a - offset + lb),
            None => (self.start - offset - lb, self.end - offset + lb),
        };
        let loaded = self.load_selector(vs, mint, maxt, None, 0)?;
        let mut annos = Vec::new();
        let mut out = Vec::with_capacity(loaded.len());
        for s in loaded {
            let floats: Vec<FPoint> = s.floats.into_iter().filter(|p| !is_stale_nan(p.f)).collect();
            let hists: Vec<HPoint> =
                s.hists.into_iter().filter(|p| !is_stale_nan(p.h.sum)).collect();
            let mut rep = Report { metric: s.labels.metric_name(), pos: vs.pos, annos: &mut annos };
            let mut series = Series { metric: s.labels.clone(), ..Series::default() };
            let mut ts = self.start;
            while ts <= self.end {
                let t = at.unwrap_or(ts) - offset;
                let fw = window(&floats, |p| p.t, t - lb, t + lb);
                let hw = window(&hists, |p| p.t, t - lb, t + lb);
                if !fw.is_empty() && !hw.is_empty() {
                    rep.warn(Anno::MixedFloatsHistograms(rep.metric.to_string()));
                } else if !hw.is_empty() {
                    if let Some(h) = smoothed_hist(hw, t, &mut rep) {
                        series.histograms.push(HPoint { t: ts, h: Arc::new(h) });
                    }
                } else if let Some(f) = smoothed_float(fw, t) {
                    series.floats.push(FPoint { t: ts, f });
                }
                ts += self.interval;
            }
            let n = series.floats.len() + series.histograms.len();
            if n > 0 {
                self.add_samples(n)?;
                out.push(series);
            }
        }
        let mut a = self.ctx.annos.borrow_mut();
        for (an, p) in annos {
            a.add(an, p);
        }
        Ok(out)
    }
}

/// The part of a time-ordered list in `(lo, hi]`.
fn window<T>(v: &[T], t: impl Fn(&T) -> i64, lo: i64, hi: i64) -> &[T] {
    let a = v.partition_point(|p| t(p) <= lo);
    let b = v.partition_point(|p| t(p) <= hi);
    &v[a..b.max(a)]
}

fn smoothed_float(fl: &[FPoint], t: i64) -> Option<f64> {
    let i = fl.partition_point(|p| p.t < t);
    match (i.checked_sub(1), fl.get(i)) {
        (_, Some(p)) if p.t == t => Some(p.f),
        (Some(prev), Some(next)) => Some(lerp(fl[prev], *next, t, false)),
        (Some(prev), None) => Some(fl[prev].f),
        (None, _) => None,
    }
}

fn smoothed_hist(hs: &[HPoint], t: i64, rep: &mut Report<'_>) -> Option<FloatHistogram> {
    let i = hs.partition_point(|p| p.t < t);
    match (i.checked_sub(1), hs.get(i)) {
        (_, Some(p)) if p.t == t => Some((*p.h).clone()),
        (Some(prev), Some(next)) => {
            let prev = &hs[prev];
            if prev.h.uses_custom_buckets() != next.h.uses_custom_buckets() {
                return rep.mixed_schemas();
            }
            // Treated as a counter unless both samples say gauge.
            let counter = prev.h.counter_reset_hint != CounterResetHint::Gauge
                || next.h.counter_reset_hint != CounterResetHint::Gauge;
            hist_lerp(prev, next, t, counter).ok().or_else(|| rep.mixed_schemas())
        }
        (Some(prev), None) => {
            // The hint describes the step from the previous sample, which no longer applies.
            let mut h = (*hs[prev].h).clone();
            h.counter_reset_hint = CounterResetHint::Unknown;
            Some(h)
        }
        (None, _) => None,
    }
}
