//! The evaluator: walks the tree over a grid of steps. Every instant-vector or scalar node evaluates to a matrix
//! with one point per step (scalars as one series without labels), as in Prometheus's engine, so instant queries
//! are range queries of one step.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use model::{FloatHistogram, Labels, Matcher, is_stale_nan};
use promql_syntax::{
    AtModifier, Duration, Expr, MatrixSelector, PosRange, SubqueryExpr, ValueType, VectorSelector,
};
use rustc_hash::{FxHashMap, FxHashSet};
use storage::{Queryable, SelectHints};

use crate::annotations::Annotations;
use crate::error::QueryError;
use crate::value::{FPoint, HPoint, Matrix, Sample, Series, Vector};

/// State shared by an evaluator and the child evaluators of its subqueries.
pub(crate) struct Ctx<'a> {
    pub(crate) queryable: &'a dyn Queryable,
    pub(crate) lookback: i64,
    pub(crate) max_samples: usize,
    pub(crate) current_samples: Cell<usize>,
    pub(crate) total_samples: Cell<u64>,
    pub(crate) annos: RefCell<Annotations>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<&'a AtomicBool>,
    pub(crate) no_step_subquery_interval: i64,
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) query_step: i64,
    /// Selectors whose histograms are read for count and sum only (see [`crate::stats_decoding`]).
    pub(crate) stats_selectors: FxHashSet<PosRange>,
    /// Read start timestamps for the functions that use them.
    pub(crate) use_start_timestamps: bool,
}

/// A value during evaluation.
#[derive(Debug)]
pub(crate) enum EvalValue {
    Matrix(Matrix),
    String(String),
}

impl EvalValue {
    pub(crate) fn into_matrix(self) -> Matrix {
        match self {
            EvalValue::Matrix(m) => m,
            EvalValue::String(_) => Vec::new(),
        }
    }
}

/// One argument of a per-step function call.
#[derive(Debug, Clone)]
pub(crate) enum StepArg {
    Vector(Vector),
    Scalar(f64),
    String(String),
}

impl StepArg {
    pub(crate) fn vector(&self) -> &[Sample] {
        match self {
            StepArg::Vector(v) => v,
            _ => &[],
        }
    }

    pub(crate) fn scalar(&self) -> f64 {
        match self {
            StepArg::Scalar(v) => *v,
            _ => f64::NAN,
        }
    }

    pub(crate) fn string(&self) -> &str {
        match self {
            StepArg::String(s) => s,
            _ => "",
        }
    }
}

/// Streams [`Loaded`] series out of a storage series set (see [`Evaluator::load_iter`]).
pub(crate) struct LoadIter<'e, 'c, 'a> {
    ev: &'e Evaluator<'c, 'a>,
    _querier: Box<dyn storage::Querier>,
    set: Box<dyn storage::SeriesSet>,
    mint: i64,
    maxt: i64,
    /// Series with data so far (each yields at least one point).
    at_least: usize,
    /// Read each sample's start timestamp too.
    start_timestamps: bool,
    done: bool,
}

impl LoadIter<'_, '_, '_> {
    fn next_series(&mut self) -> Res<Option<Loaded>> {
        let Some(s) = self.set.next() else {
            if let Some(e) = self.set.err() {
                return Err(QueryError::Storage(e.to_string()));
            }
            for w in self.set.warnings() {
                self.ev.ctx.annos.borrow_mut().add_raw_warning(w);
            }
            return Ok(None);
        };
        self.ev.check_done()?;
        let (mint, maxt) = (self.mint, self.maxt);
        let mut cur = s.cursor();
        let mut batch = storage::SampleBatch::default();
        cur.read_into(mint + 1, maxt, self.start_timestamps, &mut batch);
        if let Some(e) = cur.err() {
            return Err(QueryError::Storage(e.to_string()));
        }
        // Same layout: these reuse the batch's allocations.
        let floats: Vec<FPoint> =
            batch.floats.into_iter().map(|s| FPoint { t: s.t, f: s.v }).collect();
        let hists: Vec<HPoint> = batch.hists.into_iter().map(|(t, h)| HPoint { t, h }).collect();
        let (mut fsts, mut hsts) = (batch.float_sts, batch.hist_sts);
        // Without any start timestamp the series reads as if the storage kept none.
        if fsts.iter().all(|st| *st == 0) {
            fsts.clear();
        }
        if hsts.iter().all(|st| *st == 0) {
            hsts.clear();
        }
        // More series with data than the sample limit allows fails the query now, before the rest is read.
        if !floats.is_empty() || !hists.is_empty() {
            self.at_least += 1;
            if self.at_least > self.ev.ctx.max_samples {
                return Err(QueryError::TooManySamples("query execution".into()));
            }
        }
        Ok(Some(Loaded { labels: s.labels, floats, hists, fsts, hsts, drop_name: false }))
    }
}

impl Iterator for LoadIter<'_, '_, '_> {
    type Item = Res<Loaded>;

    fn next(&mut self) -> Option<Res<Loaded>> {
        if self.done {
            return None;
        }
        match self.next_series() {
            Ok(Some(l)) => Some(Ok(l)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Raw samples of one series, loaded from storage.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) labels: Labels,
    pub(crate) floats: Vec<FPoint>,
    pub(crate) hists: Vec<HPoint>,
    /// Start timestamps of `floats` and `hists`, index for index; empty when not read or all unknown.
    pub(crate) fsts: Vec<i64>,
    pub(crate) hsts: Vec<i64>,
    pub(crate) drop_name: bool,
}

pub(crate) type Res<T> = Result<T, QueryError>;

/// Where a streaming evaluation hands its result series, one at a time; `Break` stops it early.
pub(crate) type Sink<'s> = dyn FnMut(Series) -> Res<ControlFlow<()>> + 's;

/// A sink that collects every series.
pub(crate) fn collect_into(out: &mut Matrix) -> impl FnMut(Series) -> Res<ControlFlow<()>> + '_ {
    |s| {
        out.push(s);
        Ok(ControlFlow::Continue(()))
    }
}

/// Hands the series of an already evaluated matrix to `sink`.
pub(crate) fn feed(m: Matrix, sink: &mut Sink<'_>) -> Res<()> {
    for s in m {
        if sink(s)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// An evaluator over one step grid.
pub(crate) struct Evaluator<'c, 'a> {
    pub(crate) ctx: &'c Ctx<'a>,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) interval: i64,
}

impl<'c, 'a> Evaluator<'c, 'a> {
    pub(crate) fn steps(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.interval) as usize + 1
        }
    }

    pub(crate) fn check_done(&self) -> Res<()> {
        if let Some(c) = self.ctx.cancel
            && c.load(Ordering::Relaxed)
        {
            return Err(QueryError::Canceled("expression evaluation".into()));
        }
        if let Some(d) = self.ctx.deadline
            && Instant::now() > d
        {
            return Err(QueryError::Timeout("expression evaluation".into()));
        }
        Ok(())
    }

    pub(crate) fn add_samples(&self, n: usize) -> Res<()> {
        let c = self.ctx.current_samples.get() + n;
        self.ctx.current_samples.set(c);
        self.ctx.total_samples.set(self.ctx.total_samples.get() + n as u64);
        if c > self.ctx.max_samples {
            return Err(QueryError::TooManySamples("query execution".into()));
        }
        Ok(())
    }

    /// Milliseconds of a duration, evaluating duration expressions with the query's step and range.
    pub(crate) fn dur_ms(&self, d: &Duration) -> i64 {
        match d {
            Duration::Literal(ms) => *ms,
            Duration::Expr(e) => {
                let step = self.ctx.query_step as f64 / 1000.0;
                let range = (self.ctx.query_end - self.ctx.query_start) as f64 / 1000.0;
                (e.eval(step, range) * 1000.0).round() as i64
            }
        }
    }

    pub(crate) fn at_time(&self, ts: Option<i64>, at: Option<AtModifier>) -> Option<i64> {
        match (ts, at) {
            (Some(t), _) => Some(t),
            (None, Some(AtModifier::Start)) => Some(self.ctx.query_start),
            (None, Some(AtModifier::End)) => Some(self.ctx.query_end),
            (None, None) => None,
        }
    }

    pub(crate) fn eval(&self, e: &Expr) -> Res<EvalValue> {
        self.check_done()?;
        if self.end < self.start {
            return Ok(EvalValue::Matrix(Vec::new()));
        }
        match e {
            Expr::Number(n) => {
                let v = n.val;
                Ok(EvalValue::Matrix(self.scalar_matrix(|_| v)))
            }
            Expr::String(s) => Ok(EvalValue::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => {
                let mut m = self.eval(&u.expr)?.into_matrix();
                if u.neg {
                    for s in &mut m {
                        s.drop_name = true;
                        for p in &mut s.floats {
                            p.f = -p.f;
                        }
                        for p in &mut s.histograms {
                            p.h = Arc::new(p.h.scale(-1.0));
                        }
                    }
                }
                Ok(EvalValue::Matrix(m))
            }
            Expr::VectorSelector(vs) => Ok(EvalValue::Matrix(self.eval_vector_selector(vs)?)),
            Expr::MatrixSelector(ms) => Ok(EvalValue::Matrix(self.eval_matrix_selector_raw(ms)?)),
            Expr::Subquery(sq) => {
                let (m, _) = self.eval_subquery(sq)?;
                Ok(EvalValue::Matrix(m.into_iter().map(loaded_to_series).collect()))
            }
            Expr::Binary(b) => Ok(EvalValue::Matrix(self.eval_binary(e, b)?)),
            Expr::Aggregate(a) => Ok(EvalValue::Matrix(self.eval_aggregate(a)?)),
            Expr::Call(c) => Ok(EvalValue::Matrix(self.eval_call(c)?)),
        }
    }

    pub(crate) fn scalar_matrix(&self, f: impl Fn(i64) -> f64) -> Matrix {
        let mut floats = Vec::with_capacity(self.steps());
        let mut ts = self.start;
        while ts <= self.end {
            floats.push(FPoint { t: ts, f: f(ts) });
            ts += self.interval;
        }
        vec![Series { metric: Labels::empty(), floats, histograms: Vec::new(), drop_name: false }]
    }

    /// Loads the raw samples of every series matching `vs` in `(mint, maxt]`.
    pub(crate) fn load(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        func: Option<&str>,
        range: i64,
    ) -> Res<Vec<Loaded>> {
        self.load_iter(matchers, mint, maxt, func, range)?.collect()
    }

    /// The series of `matchers` with their samples in `(mint, maxt]`, read from storage one series at a time as
    /// the caller consumes them, so only the series being processed is held in memory.
    pub(crate) fn load_iter(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        func: Option<&str>,
        range: i64,
    ) -> Res<LoadIter<'_, 'c, 'a>> {
        let q = self
            .ctx
            .queryable
            .querier(mint + 1, maxt)
            .map_err(|e| QueryError::Storage(e.to_string()))?;
        let hints = SelectHints {
            start: mint + 1,
            end: maxt,
            step: self.interval,
            func: func.map(str::to_string),
            range,
            ..Default::default()
        };
        let set = q.select(false, Some(&hints), matchers);
        let start_timestamps = self.ctx.use_start_timestamps
            && matches!(func, Some("rate" | "increase" | "irate" | "resets" | "start_timestamp"));
        Ok(LoadIter {
            ev: self,
            _querier: q,
            set,
            mint,
            maxt,
            at_least: self.ctx.current_samples.get(),
            start_timestamps,
            done: false,
        })
    }

    /// Loads the series of selector `vs` like [`Evaluator::load`], with the counter-reset hints Prometheus gives
    /// selectors read for count and sum only.
    pub(crate) fn load_selector(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        func: Option<&str>,
        range: i64,
    ) -> Res<Vec<Loaded>> {
        self.load_selector_iter(vs, mint, maxt, func, range)?.collect()
    }

    /// [`Evaluator::load_selector`] one series at a time.
    pub(crate) fn load_selector_iter(
        &self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
        func: Option<&str>,
        range: i64,
    ) -> Res<impl Iterator<Item = Res<Loaded>> + '_> {
        let hints = self.ctx.stats_selectors.contains(&vs.pos);
        Ok(self.load_iter(&vs.matchers, mint, maxt, func, range)?.map(move |l| {
            l.map(|mut s| {
                if hints {
                    crate::stats_decoding::detect_hints(&mut s.hists);
                }
                s
            })
        }))
    }

    fn eval_vector_selector(&self, vs: &VectorSelector) -> Res<Matrix> {
        let mut out = Vec::new();
        self.stream_vector_selector(vs, &mut collect_into(&mut out))?;
        Ok(out)
    }

    /// Evaluates a vector selector series by series, handing each non-empty result to `sink` until it breaks.
    pub(crate) fn stream_vector_selector(
        &self,
        vs: &VectorSelector,
        sink: &mut Sink<'_>,
    ) -> Res<()> {
        if vs.smoothed {
            return feed(self.eval_smoothed_selector(vs)?, sink);
        }
        let offset = vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let at = self.at_time(vs.timestamp, vs.at);
        let lookback = self.ctx.lookback;
        let (mint, maxt) = match at {
            Some(a) => (a - offset - lookback, a - offset),
            None => (self.start - offset - lookback, self.end - offset),
        };
        for s in self.load_selector_iter(vs, mint, maxt, None, 0)? {
            let s = s?;
            let mut series = Series {
                metric: s.labels,
                floats: Vec::new(),
                histograms: Vec::new(),
                drop_name: false,
            };
            let (mut fi, mut hi) = (0usize, 0usize);
            let mut ts = self.start;
            while ts <= self.end {
                let r = at.unwrap_or(ts) - offset;
                if at.is_some() {
                    fi = 0;
                    hi = 0;
                }
                while fi < s.floats.len() && s.floats[fi].t <= r {
                    fi += 1;
                }
                while hi < s.hists.len() && s.hists[hi].t <= r {
                    hi += 1;
                }
                let lf = if fi > 0 { Some(s.floats[fi - 1]) } else { None };
                let lh = if hi > 0 { Some(&s.hists[hi - 1]) } else { None };
                let pick_float = match (lf, lh) {
                    (Some(f), Some(h)) => f.t > h.t,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => {
                        ts += self.interval;
                        continue;
                    }
                };
                if pick_float {
                    let p = lf.unwrap_or(FPoint { t: 0, f: 0.0 });
                    if p.t > r - lookback && !is_stale_nan(p.f) {
                        series.floats.push(FPoint { t: ts, f: p.f });
                    }
                } else if let Some(h) = lh
                    && h.t > r - lookback
                    && !is_stale_nan(h.h.sum)
                {
                    series.histograms.push(HPoint { t: ts, h: h.h.clone() });
                }
                ts += self.interval;
            }
            let n = series.floats.len() + series.histograms.len();
            if n > 0 {
                self.add_samples(n)?;
                if sink(series)?.is_break() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The raw windows of a range selector, for an instant query returning a matrix.
    fn eval_matrix_selector_raw(&self, ms: &MatrixSelector) -> Res<Matrix> {
        if ms.vs.anchored || ms.vs.smoothed {
            return self.eval_extended_matrix_raw(ms);
        }
        let range = self.dur_ms(&ms.range);
        let offset = ms.vs.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let at = self.at_time(ms.vs.timestamp, ms.vs.at);
        let maxt = at.unwrap_or(self.start) - offset;
        let loaded = self.load(&ms.vs.matchers, maxt - range, maxt, None, range)?;
        let mut out = Vec::new();
        for s in loaded {
            let floats: Vec<FPoint> = s.floats.into_iter().filter(|p| !is_stale_nan(p.f)).collect();
            let histograms: Vec<HPoint> =
                s.hists.into_iter().filter(|p| !is_stale_nan(p.h.sum)).collect();
            if floats.is_empty() && histograms.is_empty() {
                continue;
            }
            self.add_samples(floats.len() + histograms.len())?;
            out.push(Series { metric: s.labels, floats, histograms, drop_name: false });
        }
        Ok(out)
    }

    /// Evaluates a subquery; returns its points as loaded series plus the effective `@` time, if any.
    pub(crate) fn eval_subquery(&self, sq: &SubqueryExpr) -> Res<(Vec<Loaded>, Option<i64>)> {
        let offset = sq.offset.as_ref().map(|d| self.dur_ms(d)).unwrap_or(0);
        let range = self.dur_ms(&sq.range);
        let at = self.at_time(sq.timestamp, sq.at);
        let interval = match &sq.step {
            Some(s) => self.dur_ms(s),
            None => self.ctx.no_step_subquery_interval,
        }
        .max(1);
        let (pstart, pend) = match at {
            Some(a) => (a, a),
            None => {
                let pend = self.start + ((self.end - self.start) / self.interval) * self.interval;
                (self.start, pend)
            }
        };
        let end = pend - offset;
        let lo = pstart - offset - range;
        let mut start = interval * lo.div_euclid(interval);
        if start <= lo {
            start += interval;
        }
        let child = Evaluator { ctx: self.ctx, start, end, interval };
        let m = child.eval(&sq.expr)?.into_matrix();
        let out = m
            .into_iter()
            .map(|s| Loaded {
                labels: s.metric,
                floats: s.floats,
                hists: s
                    .histograms
                    .into_iter()
                    .map(|mut p| {
                        if matches!(
                            p.h.counter_reset_hint,
                            model::CounterResetHint::CounterReset
                                | model::CounterResetHint::NotCounterReset
                        ) {
                            let mut h: FloatHistogram = (*p.h).clone();
                            h.counter_reset_hint = model::CounterResetHint::Unknown;
                            p.h = Arc::new(h);
                        }
                        p
                    })
                    .collect(),
                // Subqueries cut the propagation of start timestamps, as in Prometheus.
                fsts: Vec::new(),
                hsts: Vec::new(),
                drop_name: s.drop_name,
            })
            .collect();
        Ok((out, at))
    }

    /// Evaluates `args` and calls `f` once per step with the arguments' values at that step, collecting the
    /// returned vectors into series.
    pub(crate) fn range_eval(
        &self,
        args: &[&Expr],
        mut f: impl FnMut(&[StepArg], i64) -> Res<Vector>,
    ) -> Res<Matrix> {
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            let v = self.eval(a)?;
            vals.push((a.value_type(), v));
        }
        let mut seriess: FxHashMap<Labels, (usize, i64)> = FxHashMap::default();
        let mut out: Matrix = Vec::new();
        let mut cursors: Vec<Vec<usize>> = vals
            .iter()
            .map(|(_, v)| vec![0; if let EvalValue::Matrix(m) = v { m.len() } else { 0 }])
            .collect();
        let mut ts = self.start;
        let mut step_args: Vec<StepArg> = Vec::with_capacity(args.len());
        while ts <= self.end {
            self.check_done()?;
            step_args.clear();
            for (i, (ty, v)) in vals.iter().enumerate() {
                match v {
                    EvalValue::String(s) => step_args.push(StepArg::String(s.clone())),
                    EvalValue::Matrix(m) => {
                        if *ty == ValueType::Scalar {
                            let val = m
                                .first()
                                .and_then(|s| {
                                    let c = &mut cursors[i][0];
                                    while *c < s.floats.len() && s.floats[*c].t < ts {
                                        *c += 1;
                                    }
                                    s.floats.get(*c).filter(|p| p.t == ts).map(|p| p.f)
                                })
                                .unwrap_or(f64::NAN);
                            step_args.push(StepArg::Scalar(val));
                        } else {
                            let mut vec = Vec::new();
                            for (si, s) in m.iter().enumerate() {
                                let c = &mut cursors[i][si];
                                // Floats and histograms are separate lists; use the cursor for floats and search
                                // histograms directly.
                                while *c < s.floats.len() && s.floats[*c].t < ts {
                                    *c += 1;
                                }
                                if let Some(p) = s.floats.get(*c).filter(|p| p.t == ts) {
                                    vec.push(Sample {
                                        metric: s.metric.clone(),
                                        t: ts,
                                        f: p.f,
                                        h: None,
                                        drop_name: s.drop_name,
                                    });
                                } else if !s.histograms.is_empty()
                                    && let Ok(k) = s.histograms.binary_search_by_key(&ts, |p| p.t)
                                {
                                    vec.push(Sample {
                                        metric: s.metric.clone(),
                                        t: ts,
                                        f: 0.0,
                                        h: Some(s.histograms[k].h.clone()),
                                        drop_name: s.drop_name,
                                    });
                                }
                            }
                            step_args.push(StepArg::Vector(vec));
                        }
                    }
                }
            }
            let result = f(&step_args, ts)?;
            if self.start == self.end {
                let n = result.len();
                self.add_samples(n)?;
                return Ok(result.into_iter().map(|s| sample_to_series(s, ts)).collect());
            }
            for s in result {
                match seriess.get_mut(&s.metric) {
                    Some((idx, last)) => {
                        if *last == ts {
                            return Err(QueryError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *last = ts;
                        let series = &mut out[*idx];
                        push_point(series, ts, s.f, s.h);
                    }
                    None => {
                        seriess.insert(s.metric.clone(), (out.len(), ts));
                        let mut series = Series {
                            metric: s.metric,
                            floats: Vec::new(),
                            histograms: Vec::new(),
                            drop_name: s.drop_name,
                        };
                        push_point(&mut series, ts, s.f, s.h);
                        out.push(series);
                    }
                }
            }
            ts += self.interval;
        }
        let n: usize = out.iter().map(|s| s.floats.len() + s.histograms.len()).sum();
        self.add_samples(n)?;
        Ok(out)
    }
}

fn push_point(s: &mut Series, t: i64, f: f64, h: Option<Arc<FloatHistogram>>) {
    match h {
        Some(h) => s.histograms.push(HPoint { t, h }),
        None => s.floats.push(FPoint { t, f }),
    }
}

fn sample_to_series(s: Sample, ts: i64) -> Series {
    let mut series = Series {
        metric: s.metric,
        floats: Vec::new(),
        histograms: Vec::new(),
        drop_name: s.drop_name,
    };
    push_point(&mut series, ts, s.f, s.h);
    series
}

pub(crate) fn loaded_to_series(l: Loaded) -> Series {
    Series { metric: l.labels, floats: l.floats, histograms: l.hists, drop_name: l.drop_name }
}

/// Merges series with equal labels (and the same pending name removal) whose points do not overlap; overlapping
/// ones are Prometheus's "same labelset" error.
pub(crate) fn merge_same_labels(m: Matrix) -> Res<Matrix> {
    let mut seen: FxHashMap<(Labels, bool), usize> = FxHashMap::default();
    let mut out: Matrix = Vec::new();
    for s in m {
        match seen.get(&(s.metric.clone(), s.drop_name)) {
            Some(&i) => {
                let t = &mut out[i];
                let overlap = s.floats.iter().any(|p| t.floats.iter().any(|q| q.t == p.t))
                    || s.histograms.iter().any(|p| t.histograms.iter().any(|q| q.t == p.t));
                if overlap {
                    return Err(QueryError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                t.floats.extend(s.floats);
                t.floats.sort_by_key(|p| p.t);
                t.histograms.extend(s.histograms);
                t.histograms.sort_by_key(|p| p.t);
            }
            None => {
                seen.insert((s.metric.clone(), s.drop_name), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
