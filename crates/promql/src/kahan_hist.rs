//! Compensated (Kahan–Neumaier) summation of native histograms, for `sum`, `avg`, `sum_over_time` and
//! `avg_over_time`: every count, the sum and every bucket carry a compensation term, so that adding values of
//! very different magnitudes (1e100 and then -1e100, say) does not lose the small ones.
//!
//! Averages are computed from the running sum until it would overflow, and from then on as an incremental mean.

use std::collections::BTreeMap;

use model::{BucketSpan, CounterResetHint, FloatHistogram, HistogramError, exp_upper, span_iter};

use crate::aggregate::kahan_inc;

/// A value and its compensation.
type Comp = (f64, f64);

/// Adds `v` (with its own compensation `vc`) to `acc`.
fn inc(acc: &mut Comp, v: f64, vc: f64) {
    *acc = kahan_inc(v, acc.0, acc.1);
    if vc != 0.0 {
        *acc = kahan_inc(vc, acc.0, acc.1);
    }
}

/// A histogram being summed.
#[derive(Debug, Clone)]
pub(crate) struct KahanHistogram {
    hint: CounterResetHint,
    /// The hint of the compensation terms, fixed by the first addition (`None` before it).
    comp_hint: Option<CounterResetHint>,
    schema: i32,
    zero_threshold: f64,
    custom_values: Vec<f64>,
    zero: Comp,
    count: Comp,
    sum: Comp,
    positive: BTreeMap<i32, Comp>,
    negative: BTreeMap<i32, Comp>,
}

fn buckets(spans: &[BucketSpan], counts: &[f64]) -> BTreeMap<i32, Comp> {
    span_iter(spans, counts).map(|(i, c)| (i, (c, 0.0))).collect()
}

/// Buckets moved to a coarser schema, merging the ones that fall together.
fn reduce(m: &BTreeMap<i32, Comp>, from: i32, to: i32) -> BTreeMap<i32, Comp> {
    let mut out: BTreeMap<i32, Comp> = BTreeMap::new();
    for (&i, &(v, c)) in m {
        let t = model::reduce_index(i, from, to);
        match out.get_mut(&t) {
            Some(acc) => inc(acc, v, c),
            None => {
                out.insert(t, (v, c));
            }
        }
    }
    out
}

/// Custom buckets moved onto a subset of their bounds.
fn rebucket(m: &BTreeMap<i32, Comp>, from: &[f64], to: &[f64]) -> BTreeMap<i32, Comp> {
    let mut out: BTreeMap<i32, Comp> = BTreeMap::new();
    for (&i, &(v, c)) in m {
        let upper = from.get(i as usize).copied().unwrap_or(f64::INFINITY);
        let t = to.iter().position(|b| *b >= upper).unwrap_or(to.len()) as i32;
        match out.get_mut(&t) {
            Some(acc) => inc(acc, v, c),
            None => {
                out.insert(t, (v, c));
            }
        }
    }
    out
}

/// Moves the buckets inside a zero bucket of width `zt` into `zero`.
fn absorb(m: &mut BTreeMap<i32, Comp>, schema: i32, zt: f64, zero: &mut Comp) {
    let inside: Vec<i32> = m.keys().copied().filter(|&i| exp_upper(i, schema) <= zt).collect();
    for i in inside {
        if let Some((v, c)) = m.remove(&i) {
            inc(zero, v, c);
        }
    }
}

fn to_spans(m: &BTreeMap<i32, f64>) -> (Vec<BucketSpan>, Vec<f64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut out = Vec::with_capacity(m.len());
    let mut next = None;
    for (&i, &v) in m {
        match next {
            Some(n) if n == i => {
                if let Some(s) = spans.last_mut() {
                    s.length += 1;
                }
            }
            Some(n) => spans.push(BucketSpan { offset: i - n, length: 1 }),
            None => spans.push(BucketSpan { offset: i, length: 1 }),
        }
        out.push(v);
        next = Some(i + 1);
    }
    (spans, out)
}

impl KahanHistogram {
    /// Starts a sum at `h`.
    pub(crate) fn new(h: &FloatHistogram) -> KahanHistogram {
        KahanHistogram {
            hint: h.counter_reset_hint,
            comp_hint: None,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            custom_values: h.custom_values.clone(),
            zero: (h.zero_count, 0.0),
            count: (h.count, 0.0),
            sum: (h.sum, 0.0),
            positive: buckets(&h.positive_spans, &h.positive_buckets),
            negative: buckets(&h.negative_spans, &h.negative_buckets),
        }
    }

    fn custom(&self) -> bool {
        self.schema == model::CUSTOM_BUCKETS_SCHEMA
    }

    /// Adds `h`; returns whether differing custom bucket bounds had to be reconciled.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<bool, HistogramError> {
        if self.custom() != h.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        self.hint = self.hint.combined(h.counter_reset_hint);
        self.comp_hint.get_or_insert(self.hint);
        let mut other_pos = buckets(&h.positive_spans, &h.positive_buckets);
        let mut other_neg = buckets(&h.negative_spans, &h.negative_buckets);
        let mut reconciled = false;
        if self.custom() {
            if self.custom_values != h.custom_values {
                reconciled = true;
                let common: Vec<f64> = self
                    .custom_values
                    .iter()
                    .copied()
                    .filter(|v| h.custom_values.contains(v))
                    .collect();
                self.positive = rebucket(&self.positive, &self.custom_values, &common);
                other_pos = rebucket(&other_pos, &h.custom_values, &common);
                self.custom_values = common;
            }
        } else {
            let schema = self.schema.min(h.schema);
            if self.schema > schema {
                self.positive = reduce(&self.positive, self.schema, schema);
                self.negative = reduce(&self.negative, self.schema, schema);
                self.schema = schema;
            }
            if h.schema > schema {
                other_pos = reduce(&other_pos, h.schema, schema);
                other_neg = reduce(&other_neg, h.schema, schema);
            }
            let mut other_zero = (h.zero_count, 0.0);
            if h.zero_threshold > self.zero_threshold {
                self.zero_threshold = h.zero_threshold;
                absorb(&mut self.positive, schema, self.zero_threshold, &mut self.zero);
                absorb(&mut self.negative, schema, self.zero_threshold, &mut self.zero);
            } else if h.zero_threshold < self.zero_threshold {
                absorb(&mut other_pos, schema, self.zero_threshold, &mut other_zero);
                absorb(&mut other_neg, schema, self.zero_threshold, &mut other_zero);
            }
            inc(&mut self.zero, other_zero.0, other_zero.1);
        }
        inc(&mut self.count, h.count, 0.0);
        inc(&mut self.sum, h.sum, 0.0);
        for (mine, other) in [(&mut self.positive, other_pos), (&mut self.negative, other_neg)] {
            for (i, (v, c)) in other {
                match mine.get_mut(&i) {
                    Some(acc) => inc(acc, v, c),
                    None => {
                        mine.insert(i, (v, c));
                    }
                }
            }
        }
        Ok(reconciled)
    }

    /// Applies `f` to every value and compensation.
    fn map(&mut self, f: impl Fn(f64) -> f64) {
        let both = |c: &mut Comp| *c = (f(c.0), f(c.1));
        both(&mut self.zero);
        both(&mut self.count);
        both(&mut self.sum);
        self.positive.values_mut().chain(self.negative.values_mut()).for_each(both);
    }

    /// Whether any value (not compensation) is infinite.
    pub(crate) fn overflowed(&self) -> bool {
        let inf = |c: &Comp| c.0.is_infinite();
        inf(&self.zero)
            || inf(&self.count)
            || inf(&self.sum)
            || self.positive.values().chain(self.negative.values()).any(inf)
    }

    /// The histogram: values plus their compensation, each divided by `divisor` first.
    fn finish_divided(&self, divisor: f64) -> FloatHistogram {
        let total = |c: &Comp| c.0 / divisor + c.1 / divisor;
        let pos: BTreeMap<i32, f64> = self.positive.iter().map(|(i, c)| (*i, total(c))).collect();
        let neg: BTreeMap<i32, f64> = self.negative.iter().map(|(i, c)| (*i, total(c))).collect();
        let (positive_spans, positive_buckets) = to_spans(&pos);
        let (negative_spans, negative_buckets) = to_spans(&neg);
        FloatHistogram {
            counter_reset_hint: match self.comp_hint {
                Some(c) => self.hint.combined(c),
                None => self.hint,
            },
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: total(&self.zero),
            count: total(&self.count),
            sum: total(&self.sum),
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: self.custom_values.clone(),
        }
    }

    /// The sum.
    pub(crate) fn finish(&self) -> FloatHistogram {
        self.finish_divided(1.0)
    }
}

/// A compensated mean of histograms: a running sum while it stays finite, an incremental mean after that.
#[derive(Debug, Clone)]
pub(crate) struct KahanMean {
    acc: KahanHistogram,
    n: f64,
    incremental: bool,
}

impl KahanMean {
    /// Starts a mean at `h`.
    pub(crate) fn new(h: &FloatHistogram) -> KahanMean {
        KahanMean { acc: KahanHistogram::new(h), n: 1.0, incremental: false }
    }

    /// Adds `h`; returns whether differing custom bucket bounds had to be reconciled.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<bool, HistogramError> {
        self.n += 1.0;
        let n = self.n;
        if !self.incremental {
            let mut trial = self.acc.clone();
            let reconciled = trial.add(h)?;
            if !trial.overflowed() {
                self.acc = trial;
                return Ok(reconciled);
            }
            self.incremental = true;
            self.acc.map(|v| v / (n - 1.0));
        }
        let q = (n - 1.0) / n;
        self.acc.map(|v| v * q);
        let mut part = h.clone();
        part.count /= n;
        part.sum /= n;
        part.zero_count /= n;
        part.positive_buckets.iter_mut().for_each(|b| *b /= n);
        part.negative_buckets.iter_mut().for_each(|b| *b /= n);
        self.acc.add(&part)
    }

    /// The mean.
    pub(crate) fn finish(&self) -> FloatHistogram {
        if self.incremental { self.acc.finish() } else { self.acc.finish_divided(self.n) }
    }
}
