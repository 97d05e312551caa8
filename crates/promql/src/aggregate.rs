//! Aggregation operators.

use std::sync::Arc;

use model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME_LABEL};
use promql_syntax::{AggOp, AggregateExpr, Expr};
use rustc_hash::FxHashMap;

use crate::annotations::Anno;
use crate::error::QueryError;
use crate::eval::{Evaluator, Res};
use crate::kahan_hist::{KahanHistogram, KahanMean};
use crate::value::{FPoint, HPoint, Matrix, Sample, Series};

/// Kahan-compensated increment, as Prometheus sums floats.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The output labels of a group.
pub(crate) fn grouping_labels(metric: &Labels, grouping: &[String], without: bool) -> Labels {
    if without {
        let mut b = LabelsBuilder::new();
        b.reset(metric);
        b.del(METRIC_NAME_LABEL);
        for g in grouping {
            b.del(g);
        }
        b.labels()
    } else {
        let mut b = LabelsBuilder::new();
        for l in metric.iter() {
            if grouping.iter().any(|g| g == l.name) {
                b.set(l.name, l.value);
            }
        }
        b.labels()
    }
}

#[derive(Default, Clone)]
struct Group {
    seen: bool,
    f: f64,
    mean: f64,
    kahan: f64,
    count: f64,
    incremental_mean: bool,
    has_float: bool,
    has_hist: bool,
    hist: Option<HistAcc>,
    incompatible: bool,
    values: Vec<f64>,
    drop_name: bool,
    reset_seen: bool,
    not_reset_seen: bool,
    bounds_reconciled: bool,
}

/// Go's `container/heap` over samples, so ties resolve exactly as in Prometheus.
struct SampleHeap {
    v: Vec<Sample>,
    /// true: min-heap by value (NaN smallest); false: max-heap (NaN smallest too, i.e. reverse).
    min: bool,
}

impl SampleHeap {
    fn less(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.v[i].f, self.v[j].f);
        if self.min {
            if a.is_nan() {
                return true;
            }
            a < b
        } else {
            if a.is_nan() {
                return true;
            }
            a > b
        }
    }
    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if i == j || !self.less(j, i) {
                break;
            }
            self.v.swap(i, j);
            j = i;
        }
    }
    fn down(&mut self, i0: usize) {
        let n = self.v.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && self.less(j2, j1) {
                j = j2;
            }
            if !self.less(j, i) {
                break;
            }
            self.v.swap(i, j);
            i = j;
        }
    }
    fn push(&mut self, s: Sample) {
        self.v.push(s);
        let n = self.v.len() - 1;
        self.up(n);
    }
}

impl Evaluator<'_, '_> {
    pub(crate) fn eval_aggregate(&self, a: &AggregateExpr) -> Res<Matrix> {
        let mut grouping = a.grouping.clone();
        grouping.sort();
        if a.op == AggOp::CountValues {
            return self.eval_count_values(a, grouping);
        }
        if crate::fold::foldable(a)
            && let Some(m) = self.fold_aggregate(a, &grouping)?
        {
            return Ok(m);
        }
        let params: Option<Vec<f64>> = match &a.param {
            Some(p) if p.value_type() == promql_syntax::ValueType::Scalar => {
                let m = self.eval(p)?.into_matrix();
                let mut vals = Vec::with_capacity(self.steps());
                let mut ts = self.start;
                let s = m.first();
                let mut i = 0;
                while ts <= self.end {
                    let v = s
                        .and_then(|s| {
                            while i < s.floats.len() && s.floats[i].t < ts {
                                i += 1;
                            }
                            s.floats.get(i).filter(|p| p.t == ts).map(|p| p.f)
                        })
                        .unwrap_or(f64::NAN);
                    vals.push(v);
                    ts += self.interval;
                }
                Some(vals)
            }
            _ => None,
        };
        let input = self.eval(&a.expr)?.into_matrix();
        let pmax = params.as_ref().map(|p| p.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let pmin = params.as_ref().map(|p| p.iter().copied().fold(f64::INFINITY, f64::min));
        let pnan = params.as_ref().is_some_and(|p| p.iter().any(|v| v.is_nan()));
        let ppos = a.param.as_ref().map(|p| p.pos()).unwrap_or_default();
        match a.op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
                if pmax.unwrap_or(0.0) < 1.0 && !pnan {
                    return Ok(Vec::new());
                }
                if pnan {
                    return Err(QueryError::Execution("Parameter value is NaN".into()));
                }
                if let Some(v) = pmin.filter(|v| *v <= i64::MIN as f64) {
                    return Err(QueryError::Execution(format!(
                        "Scalar value {} underflows int64",
                        go_g(v)
                    )));
                }
                if let Some(v) = pmax.filter(|v| *v >= i64::MAX as f64) {
                    return Err(QueryError::Execution(format!(
                        "Scalar value {} overflows int64",
                        go_g(v)
                    )));
                }
            }
            AggOp::LimitRatio => {
                if pmax == Some(0.0) && pmin == Some(0.0) {
                    return Ok(Vec::new());
                }
                if pnan {
                    return Err(QueryError::Execution("Ratio value is NaN".into()));
                }
                if let Some(v) = pmax.filter(|v| *v > 1.0) {
                    self.ctx.annos.borrow_mut().add(Anno::InvalidRatio(v, 1.0), ppos);
                }
                if let Some(v) = pmin.filter(|v| *v < -1.0) {
                    self.ctx.annos.borrow_mut().add(Anno::InvalidRatio(v, -1.0), ppos);
                }
            }
            AggOp::Quantile => {
                if pnan {
                    self.ctx.annos.borrow_mut().add(Anno::InvalidQuantile(f64::NAN), ppos);
                }
                if let Some(v) = pmax.filter(|v| *v > 1.0) {
                    self.ctx.annos.borrow_mut().add(Anno::InvalidQuantile(v), ppos);
                }
                if let Some(v) = pmin.filter(|v| *v < 0.0) {
                    self.ctx.annos.borrow_mut().add(Anno::InvalidQuantile(v), ppos);
                }
            }
            _ => {}
        }

        // Map input series to groups.
        let mut group_index: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut series_group = Vec::with_capacity(input.len());
        let mut group_labels: Vec<Labels> = Vec::new();
        for s in &input {
            let key = grouping_labels(&s.metric, &grouping, a.without);
            let idx = *group_index.entry(key.clone()).or_insert_with(|| {
                group_labels.push(key);
                group_labels.len() - 1
            });
            series_group.push(idx);
        }
        let k_op = matches!(a.op, AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::LimitRatio);
        let mut result: Vec<Series> = if k_op {
            Vec::new()
        } else {
            group_labels
                .iter()
                .map(|l| Series { metric: l.clone(), ..Default::default() })
                .collect()
        };
        let mut k_series: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut cursors = vec![(0usize, 0usize); input.len()];
        let mut ts = self.start;
        let mut step = 0usize;
        while ts <= self.end {
            self.check_done()?;
            let param = params.as_ref().map(|p| p[step]).unwrap_or(f64::NAN);
            // Gather this step's values.
            let mut vals: Vec<(usize, f64, Option<Arc<FloatHistogram>>)> = Vec::new();
            for (si, s) in input.iter().enumerate() {
                let (fi, hi) = &mut cursors[si];
                while *fi < s.floats.len() && s.floats[*fi].t < ts {
                    *fi += 1;
                }
                while *hi < s.histograms.len() && s.histograms[*hi].t < ts {
                    *hi += 1;
                }
                if let Some(p) = s.floats.get(*fi).filter(|p| p.t == ts) {
                    vals.push((si, p.f, None));
                } else if let Some(p) = s.histograms.get(*hi).filter(|p| p.t == ts) {
                    vals.push((si, 0.0, Some(p.h.clone())));
                }
            }
            if k_op {
                let out =
                    self.aggregate_k(a, param, &input, &series_group, group_labels.len(), &vals)?;
                for smp in out {
                    let idx = match k_series.get(&smp.metric) {
                        Some(i) => *i,
                        None => {
                            k_series.insert(smp.metric.clone(), result.len());
                            result.push(Series {
                                metric: smp.metric.clone(),
                                drop_name: smp.drop_name,
                                ..Default::default()
                            });
                            result.len() - 1
                        }
                    };
                    match smp.h {
                        Some(h) => result[idx].histograms.push(HPoint { t: ts, h }),
                        None => result[idx].floats.push(FPoint { t: ts, f: smp.f }),
                    }
                }
            } else {
                self.aggregate_step(a, param, &input, &series_group, &vals, &mut result, ts)?;
            }
            ts += self.interval;
            step += 1;
        }
        result.retain(|s| !s.floats.is_empty() || !s.histograms.is_empty());
        let n: usize = result.iter().map(|s| s.floats.len() + s.histograms.len()).sum();
        self.add_samples(n)?;
        Ok(result)
    }

    #[allow(clippy::too_many_arguments)]
    fn aggregate_step(
        &self,
        a: &AggregateExpr,
        param: f64,
        input: &Matrix,
        series_group: &[usize],
        vals: &[(usize, f64, Option<Arc<FloatHistogram>>)],
        result: &mut [Series],
        ts: i64,
    ) -> Res<()> {
        let epos = a.expr.pos();
        let mut groups: Vec<Group> = vec![Group::default(); result.len()];
        let mut annos = self.ctx.annos.borrow_mut();
        for (si, f, h) in vals {
            let (f, si) = (*f, *si);
            let g = &mut groups[series_group[si]];
            if !g.seen {
                *g = Group {
                    seen: true,
                    f,
                    mean: f,
                    count: 1.0,
                    drop_name: input[si].drop_name,
                    ..Default::default()
                };
                match a.op {
                    AggOp::Avg | AggOp::Sum => match h {
                        None => g.has_float = true,
                        Some(h) => {
                            g.hist = Some(if a.op == AggOp::Avg {
                                HistAcc::Mean(KahanMean::new(h))
                            } else {
                                HistAcc::Sum(KahanHistogram::new(h))
                            });
                            g.has_hist = true;
                            note_hint(g, h);
                        }
                    },
                    AggOp::Stdvar | AggOp::Stddev => {
                        if h.is_some() {
                            g.seen = false;
                            annos.add(Anno::HistogramIgnoredInAggregation(a.op.as_str()), epos);
                        } else if f.is_nan() || f.is_infinite() {
                            g.f = f64::NAN;
                        } else {
                            g.f = 0.0;
                        }
                    }
                    AggOp::Quantile => {
                        if h.is_some() {
                            g.seen = false;
                            annos.add(Anno::HistogramIgnoredInAggregation("quantile"), epos);
                        }
                        g.values = vec![f];
                    }
                    AggOp::Group => g.f = 1.0,
                    AggOp::Min | AggOp::Max if h.is_some() => {
                        g.seen = false;
                        annos.add(Anno::HistogramIgnoredInAggregation(a.op.as_str()), epos);
                    }
                    _ => {}
                }
                continue;
            }
            if g.incompatible {
                continue;
            }
            if input[si].drop_name {
                g.drop_name = true;
            }
            match a.op {
                AggOp::Sum => match h {
                    Some(h) => {
                        if !add_histogram(g, h) {
                            let name = input[si].metric.metric_name().to_string();
                            annos.add(Anno::MixedExponentialCustom(name), epos);
                        }
                    }
                    None => {
                        g.has_float = true;
                        (g.f, g.kahan) = kahan_inc(f, g.f, g.kahan);
                    }
                },
                AggOp::Avg => {
                    g.count += 1.0;
                    match h {
                        Some(h) => {
                            if !add_histogram(g, h) {
                                let name = input[si].metric.metric_name().to_string();
                                annos.add(Anno::MixedExponentialCustom(name), epos);
                            }
                        }
                        None => {
                            g.has_float = true;
                            if !g.incremental_mean {
                                let (nv, nc) = kahan_inc(f, g.f, g.kahan);
                                if !nv.is_infinite() {
                                    g.f = nv;
                                    g.kahan = nc;
                                    continue;
                                }
                                g.incremental_mean = true;
                                g.mean = g.f / (g.count - 1.0);
                                g.kahan /= g.count - 1.0;
                            }
                            let q = (g.count - 1.0) / g.count;
                            (g.mean, g.kahan) = kahan_inc(f / g.count, q * g.mean, q * g.kahan);
                        }
                    }
                }
                AggOp::Group => {}
                AggOp::Max => {
                    if h.is_some() {
                        annos.add(Anno::HistogramIgnoredInAggregation("max"), epos);
                        continue;
                    }
                    if g.f < f || g.f.is_nan() {
                        g.f = f;
                    }
                }
                AggOp::Min => {
                    if h.is_some() {
                        annos.add(Anno::HistogramIgnoredInAggregation("min"), epos);
                        continue;
                    }
                    if g.f > f || g.f.is_nan() {
                        g.f = f;
                    }
                }
                AggOp::Count => g.count += 1.0,
                AggOp::Stdvar | AggOp::Stddev => {
                    if h.is_none() {
                        g.count += 1.0;
                        let delta = f - g.mean;
                        g.mean += delta / g.count;
                        g.f += delta * (f - g.mean);
                    } else {
                        annos.add(Anno::HistogramIgnoredInAggregation(a.op.as_str()), epos);
                    }
                }
                AggOp::Quantile => {
                    if h.is_some() {
                        annos.add(Anno::HistogramIgnoredInAggregation("quantile"), epos);
                        continue;
                    }
                    g.values.push(f);
                }
                _ => {}
            }
        }
        for (ri, g) in groups.into_iter().enumerate() {
            if !g.seen {
                continue;
            }
            let mut f = g.f;
            let mut hist = g.hist.as_ref().map(|acc| match acc {
                HistAcc::Sum(s) => s.finish(),
                HistAcc::Mean(m) => m.finish(),
            });
            match a.op {
                AggOp::Avg | AggOp::Sum => {
                    if g.has_float && g.has_hist {
                        annos.add(Anno::MixedFloatsHistogramsAgg, epos);
                        continue;
                    }
                    if g.incompatible {
                        continue;
                    }
                    if g.has_hist {
                        hist = hist.map(|h| h.compact());
                    } else if a.op == AggOp::Avg {
                        f = if g.incremental_mean {
                            g.mean + g.kahan
                        } else {
                            g.f / g.count + g.kahan / g.count
                        };
                    } else {
                        f = g.f + g.kahan;
                    }
                }
                AggOp::Count => f = g.count,
                AggOp::Stdvar => f = g.f / g.count,
                AggOp::Stddev => f = (g.f / g.count).sqrt(),
                AggOp::Quantile => f = quantile(param, g.values),
                _ => {}
            }
            if g.reset_seen && g.not_reset_seen {
                annos.add(Anno::HistogramCounterResetCollision("aggregation"), epos);
            }
            if g.bounds_reconciled {
                annos.add(Anno::MismatchedCustomBuckets("aggregation"), epos);
            }
            let s = &mut result[ri];
            match hist {
                Some(h) if g.has_hist => s.histograms.push(HPoint { t: ts, h: Arc::new(h) }),
                _ => s.floats.push(FPoint { t: ts, f }),
            }
            s.drop_name = g.drop_name;
        }
        Ok(())
    }

    fn aggregate_k(
        &self,
        a: &AggregateExpr,
        param: f64,
        input: &Matrix,
        series_group: &[usize],
        ngroups: usize,
        vals: &[(usize, f64, Option<Arc<FloatHistogram>>)],
    ) -> Res<Vec<Sample>> {
        let mut heaps: Vec<Option<SampleHeap>> = (0..ngroups).map(|_| None).collect();
        let mut complete = vec![false; ngroups];
        let mut remaining = ngroups;
        let k = (param as i64).min(input.len() as i64);
        let r = param.clamp(-1.0, 1.0);
        let mut annos = self.ctx.annos.borrow_mut();
        for (si, f, h) in vals {
            let s = Sample {
                metric: input[*si].metric.clone(),
                t: 0,
                f: *f,
                h: h.clone(),
                drop_name: input[*si].drop_name,
            };
            match a.op {
                AggOp::Topk | AggOp::Bottomk | AggOp::Limitk if k < 1 => return Ok(Vec::new()),
                AggOp::LimitRatio if param == 0.0 => return Ok(Vec::new()),
                _ => {}
            }
            let gi = series_group[*si];
            let heap = &mut heaps[gi];
            match heap {
                None => {
                    let mut hp = SampleHeap { v: Vec::new(), min: a.op != AggOp::Bottomk };
                    match a.op {
                        AggOp::LimitRatio => {
                            if add_ratio_sample(r, &s) {
                                hp.push(s);
                            }
                        }
                        AggOp::Limitk => hp.v.push(s),
                        _ => {
                            if s.h.is_some() {
                                annos
                                    .add(Anno::HistogramIgnoredInAggregation(a.op.as_str()), a.pos);
                                continue;
                            }
                            hp.push(s);
                        }
                    }
                    *heap = Some(hp);
                    if a.op == AggOp::Limitk && k == 1 && !complete[gi] {
                        complete[gi] = true;
                        remaining -= 1;
                        if remaining == 0 {
                            break;
                        }
                    }
                }
                Some(hp) => match a.op {
                    AggOp::Topk | AggOp::Bottomk => {
                        if s.h.is_some() {
                            annos.add(Anno::HistogramIgnoredInAggregation(a.op.as_str()), a.pos);
                        } else if (hp.v.len() as i64) < k {
                            hp.push(s);
                        } else {
                            let top = hp.v[0].f;
                            let replace = if a.op == AggOp::Topk {
                                top < s.f || (top.is_nan() && !s.f.is_nan())
                            } else {
                                top > s.f || (top.is_nan() && !s.f.is_nan())
                            };
                            if replace {
                                hp.v[0] = s;
                                if k > 1 {
                                    hp.down(0);
                                }
                            }
                        }
                    }
                    AggOp::Limitk => {
                        if (hp.v.len() as i64) < k {
                            hp.push(s);
                        }
                        if !complete[gi] && hp.v.len() as i64 == k {
                            complete[gi] = true;
                            remaining -= 1;
                            if remaining == 0 {
                                break;
                            }
                        }
                    }
                    AggOp::LimitRatio if add_ratio_sample(r, &s) => {
                        hp.push(s);
                    }
                    _ => {}
                },
            }
        }
        let mut out = Vec::new();
        for hp in heaps.into_iter().flatten() {
            let mut v = hp.v;
            match a.op {
                AggOp::Topk => sort_desc_by(&mut v, true),
                AggOp::Bottomk => sort_desc_by(&mut v, false),
                _ => {}
            }
            out.extend(v);
        }
        Ok(out)
    }

    fn eval_count_values(&self, a: &AggregateExpr, mut grouping: Vec<String>) -> Res<Matrix> {
        let label = match a.param.as_deref().map(Expr::unparen) {
            Some(Expr::String(s)) => s.val.clone(),
            _ => {
                return Err(QueryError::Execution(
                    "count_values requires a string parameter".into(),
                ));
            }
        };
        if !crate::functions::valid_label_name(&label) {
            return Err(QueryError::Execution(format!(
                "invalid label name {}",
                promql_syntax::quote(&label)
            )));
        }
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        let without = a.without;
        let expr: &Expr = &a.expr;
        self.range_eval(&[expr], |args, ts| {
            let mut counts: FxHashMap<Labels, (usize, f64)> = FxHashMap::default();
            let mut order = Vec::new();
            for s in args[0].vector() {
                let value = match &s.h {
                    Some(h) => crate::functions::histogram_string(h),
                    None => promql_syntax::format_number(s.f),
                };
                let mut b = LabelsBuilder::new();
                b.reset(&s.metric);
                b.set(&label, &value);
                let m = grouping_labels(&b.labels(), &grouping, without);
                let e = counts.entry(m.clone()).or_insert_with(|| {
                    order.push(m);
                    (0, 0.0)
                });
                e.1 += 1.0;
            }
            Ok(order
                .into_iter()
                .map(|m| {
                    let c = counts[&m].1;
                    Sample { metric: m, t: ts, f: c, h: None, drop_name: false }
                })
                .collect())
        })
    }
}

/// Adds `h` to the group's histogram (sum and avg); false when the layouts cannot be combined, which marks the
/// group incompatible.
fn add_histogram(g: &mut Group, h: &FloatHistogram) -> bool {
    g.has_hist = true;
    note_hint(g, h);
    let added = match &mut g.hist {
        None => return true,
        Some(HistAcc::Sum(s)) => s.add(h),
        Some(HistAcc::Mean(m)) => m.add(h),
    };
    match added {
        Ok(reconciled) => {
            g.bounds_reconciled |= reconciled;
            true
        }
        Err(_) => {
            g.incompatible = true;
            false
        }
    }
}

/// The histogram of a `sum` or `avg` group so far.
#[derive(Clone)]
enum HistAcc {
    Sum(KahanHistogram),
    Mean(KahanMean),
}

fn note_hint(g: &mut Group, h: &FloatHistogram) {
    match h.counter_reset_hint {
        model::CounterResetHint::CounterReset => g.reset_seen = true,
        model::CounterResetHint::NotCounterReset => g.not_reset_seen = true,
        _ => {}
    }
}

/// Sorts descending (topk) or ascending (bottomk), NaN last, stably.
fn sort_desc_by(v: &mut [Sample], desc: bool) {
    v.sort_by(|a, b| {
        use std::cmp::Ordering;
        match (a.f.is_nan(), b.f.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => {
                let o = a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal);
                if desc { o.reverse() } else { o }
            }
        }
    });
}

/// Whether `limit_ratio(r, …)` keeps this sample: a deterministic choice by the label set's hash.
fn add_ratio_sample(r: f64, s: &Sample) -> bool {
    let offset = s.metric.stable_hash() as f64 / u64::MAX as f64;
    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
}

/// φ-quantile of `values` as Prometheus computes it (linear interpolation between closest ranks).
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| {
        // NaN sorts first, as Go's sort.Float64s.
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `%v`/`%g` for floats in error texts.
pub(crate) fn go_g(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v.is_nan() {
        return "NaN".into();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{v:e}");
        // Rust prints 1e21 as "1e21"; Go prints "1e+21".
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) =
                if let Some(d) = e.strip_prefix('-') { ('-', d) } else { ('+', e) };
            return format!("{m}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{v}")
}
