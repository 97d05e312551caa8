//! Arithmetic on float histograms: addition and subtraction across schemas, scaling, compaction and bucket
//! iteration with boundaries.

use std::collections::BTreeMap;

use crate::histogram::{BucketSpan, CounterResetHint, FloatHistogram};

/// Why two histograms cannot be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    /// Custom-bucket histograms with different bounds.
    #[error("histograms have incompatible custom buckets")]
    IncompatibleBounds,
    /// An exponential and a custom-bucket histogram.
    #[error(
        "cannot apply this operation to histograms with a mix of exponential and custom bucket schemas"
    )]
    IncompatibleSchema,
}

/// One bucket with its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether the lower bound is included.
    pub lower_inclusive: bool,
    /// Whether the upper bound is included.
    pub upper_inclusive: bool,
    /// Count.
    pub count: f64,
    /// Bucket index.
    pub index: i32,
}

/// Iterates `(index, count)` over spans and absolute counts.
pub fn span_iter<'a>(
    spans: &'a [BucketSpan],
    buckets: &'a [f64],
) -> impl Iterator<Item = (i32, f64)> + 'a {
    let mut idx = 0i32;
    let mut bi = 0usize;
    spans.iter().enumerate().flat_map(move |(si, s)| {
        if si == 0 {
            idx = s.offset;
        } else {
            idx += s.offset;
        }
        let start = idx;
        idx += s.length as i32;
        let b0 = bi;
        bi += s.length as usize;
        (0..s.length as usize)
            .filter_map(move |k| buckets.get(b0 + k).map(|c| (start + k as i32, *c)))
    })
}

/// Builds spans and counts from an index-ordered map, dropping nothing (empty buckets stay).
fn from_map(m: &BTreeMap<i32, f64>) -> (Vec<BucketSpan>, Vec<f64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut buckets = Vec::with_capacity(m.len());
    let mut next: Option<i32> = None;
    for (&i, &c) in m {
        match next {
            Some(n) if n == i => {
                if let Some(last) = spans.last_mut() {
                    last.length += 1;
                }
            }
            Some(n) => spans.push(BucketSpan { offset: i - n, length: 1 }),
            None => spans.push(BucketSpan { offset: i, length: 1 }),
        }
        buckets.push(c);
        next = Some(i + 1);
    }
    (spans, buckets)
}

/// Maps a bucket index from `from` schema to the coarser `to` schema.
pub fn reduce_index(idx: i32, from: i32, to: i32) -> i32 {
    let d = from - to;
    if d <= 0 {
        return idx;
    }
    ((idx - 1) >> d) + 1
}

fn to_map(
    spans: &[BucketSpan],
    buckets: &[f64],
    from: i32,
    to: i32,
    custom: bool,
) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    for (i, c) in span_iter(spans, buckets) {
        let ti = if custom { i } else { reduce_index(i, from, to) };
        *m.entry(ti).or_insert(0.0) += c;
    }
    m
}

impl CounterResetHint {
    /// The hint of the sum or difference of histograms hinted `self` and `other` (as Prometheus sets it): equal
    /// hints stay, a gauge makes a gauge, an unknown makes an unknown, and a reset meeting a non-reset (a
    /// collision, see [`CounterResetHint::collides`]) becomes unknown.
    pub fn combined(self, other: CounterResetHint) -> CounterResetHint {
        use CounterResetHint::*;
        match (self, other) {
            _ if self == other => self,
            (Gauge, _) | (_, Gauge) => Gauge,
            _ => Unknown,
        }
    }

    /// Whether one hint says counter reset and the other says none.
    pub fn collides(self, other: CounterResetHint) -> bool {
        use CounterResetHint::*;
        matches!((self, other), (CounterReset, NotCounterReset) | (NotCounterReset, CounterReset))
    }
}

impl FloatHistogram {
    /// A copy reduced to the coarser `schema` (no-op if not coarser or custom buckets).
    pub fn reduce_resolution(&self, schema: i32) -> FloatHistogram {
        if self.uses_custom_buckets() || schema >= self.schema {
            return self.clone();
        }
        let mut out = self.clone();
        let p = to_map(&self.positive_spans, &self.positive_buckets, self.schema, schema, false);
        let n = to_map(&self.negative_spans, &self.negative_buckets, self.schema, schema, false);
        (out.positive_spans, out.positive_buckets) = from_map(&p);
        (out.negative_spans, out.negative_buckets) = from_map(&n);
        out.schema = schema;
        out
    }

    fn combine(&self, other: &FloatHistogram, sign: f64) -> Result<FloatHistogram, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let custom = self.uses_custom_buckets();
        let mut custom_values = self.custom_values.clone();
        if custom && self.custom_values != other.custom_values {
            // Prometheus reconciles differing custom bounds by keeping only the common ones.
            let common: Vec<f64> = self
                .custom_values
                .iter()
                .copied()
                .filter(|v| other.custom_values.contains(v))
                .collect();
            let a = self.rebucket_custom(&common);
            let b = other.rebucket_custom(&common);
            let mut r = a.combine(&b, sign)?;
            r.custom_values = common;
            return Ok(r);
        }
        let schema = self.schema.min(other.schema);
        let mut zt = self.zero_threshold;
        let mut zc = self.zero_count + sign * other.zero_count;
        let (mut a_p, mut a_n) = (
            to_map(&self.positive_spans, &self.positive_buckets, self.schema, schema, custom),
            to_map(&self.negative_spans, &self.negative_buckets, self.schema, schema, custom),
        );
        let (b_p, b_n) = (
            to_map(&other.positive_spans, &other.positive_buckets, other.schema, schema, custom),
            to_map(&other.negative_spans, &other.negative_buckets, other.schema, schema, custom),
        );
        if !custom && other.zero_threshold != self.zero_threshold {
            zt = self.zero_threshold.max(other.zero_threshold);
            // Buckets entirely inside the wider zero bucket merge into it.
            zc = 0.0;
            let (mut za, mut zb) = (self.zero_count, other.zero_count);
            absorb(&mut a_p, schema, zt, &mut za);
            absorb(&mut a_n, schema, zt, &mut za);
            let (mut b_p2, mut b_n2) = (b_p.clone(), b_n.clone());
            absorb(&mut b_p2, schema, zt, &mut zb);
            absorb(&mut b_n2, schema, zt, &mut zb);
            zc += za + sign * zb;
            for (i, c) in b_p2 {
                *a_p.entry(i).or_insert(0.0) += sign * c;
            }
            for (i, c) in b_n2 {
                *a_n.entry(i).or_insert(0.0) += sign * c;
            }
        } else {
            for (i, c) in b_p {
                *a_p.entry(i).or_insert(0.0) += sign * c;
            }
            for (i, c) in b_n {
                *a_n.entry(i).or_insert(0.0) += sign * c;
            }
        }
        let (ps, pb) = from_map(&a_p);
        let (ns, nb) = from_map(&a_n);
        if custom {
            custom_values = self.custom_values.clone();
        }
        Ok(FloatHistogram {
            counter_reset_hint: self.counter_reset_hint.combined(other.counter_reset_hint),
            schema,
            zero_threshold: zt,
            zero_count: zc,
            count: self.count + sign * other.count,
            sum: self.sum + sign * other.sum,
            positive_spans: ps,
            negative_spans: ns,
            positive_buckets: pb,
            negative_buckets: nb,
            custom_values,
        })
    }

    /// Re-buckets a custom-bucket histogram onto a subset of its bounds.
    fn rebucket_custom(&self, bounds: &[f64]) -> FloatHistogram {
        let mut m: BTreeMap<i32, f64> = BTreeMap::new();
        for (i, c) in span_iter(&self.positive_spans, &self.positive_buckets) {
            let upper = self.custom_values.get(i as usize).copied().unwrap_or(f64::INFINITY);
            let ti = bounds.iter().position(|b| *b >= upper).unwrap_or(bounds.len()) as i32;
            *m.entry(ti).or_insert(0.0) += c;
        }
        let mut out = self.clone();
        (out.positive_spans, out.positive_buckets) = from_map(&m);
        out.custom_values = bounds.to_vec();
        out
    }

    /// `self + other`, at the coarser of the two schemas.
    pub fn add(&self, other: &FloatHistogram) -> Result<FloatHistogram, HistogramError> {
        self.combine(other, 1.0)
    }

    /// `self - other`, at the coarser of the two schemas.
    pub fn sub(&self, other: &FloatHistogram) -> Result<FloatHistogram, HistogramError> {
        self.combine(other, -1.0)
    }

    /// Multiplies every count and the sum by `f`; a negative factor makes the result a gauge.
    pub fn scale(&self, f: f64) -> FloatHistogram {
        let mut out = self.clone();
        if f < 0.0 {
            out.counter_reset_hint = CounterResetHint::Gauge;
        }
        out.count *= f;
        out.sum *= f;
        out.zero_count *= f;
        out.positive_buckets.iter_mut().for_each(|b| *b *= f);
        out.negative_buckets.iter_mut().for_each(|b| *b *= f);
        out
    }

    /// Removes empty buckets and merges adjacent spans.
    pub fn compact(&self) -> FloatHistogram {
        let mut out = self.clone();
        let p: BTreeMap<i32, f64> = span_iter(&self.positive_spans, &self.positive_buckets)
            .filter(|(_, c)| *c != 0.0)
            .collect();
        let n: BTreeMap<i32, f64> = span_iter(&self.negative_spans, &self.negative_buckets)
            .filter(|(_, c)| *c != 0.0)
            .collect();
        (out.positive_spans, out.positive_buckets) = from_map(&p);
        (out.negative_spans, out.negative_buckets) = from_map(&n);
        out
    }

    /// Upper bound of bucket `idx` (exponential schemas and custom buckets).
    pub fn bucket_upper(&self, idx: i32) -> f64 {
        if self.uses_custom_buckets() {
            return self.custom_values.get(idx as usize).copied().unwrap_or(f64::INFINITY);
        }
        exp_upper(idx, self.schema)
    }

    /// Positive buckets with bounds, ascending.
    pub fn positive_bucket_iter(&self) -> Vec<Bucket> {
        span_iter(&self.positive_spans, &self.positive_buckets)
            .map(|(i, c)| {
                if self.uses_custom_buckets() {
                    let lower = if i == 0 {
                        f64::NEG_INFINITY
                    } else {
                        self.custom_values.get(i as usize - 1).copied().unwrap_or(f64::INFINITY)
                    };
                    Bucket {
                        lower,
                        upper: self.bucket_upper(i),
                        lower_inclusive: false,
                        upper_inclusive: true,
                        count: c,
                        index: i,
                    }
                } else {
                    Bucket {
                        lower: exp_upper(i - 1, self.schema),
                        upper: exp_upper(i, self.schema),
                        lower_inclusive: false,
                        upper_inclusive: true,
                        count: c,
                        index: i,
                    }
                }
            })
            .collect()
    }

    /// Negative buckets with bounds, in ascending order of index (i.e. descending values away from zero).
    pub fn negative_bucket_iter(&self) -> Vec<Bucket> {
        span_iter(&self.negative_spans, &self.negative_buckets)
            .map(|(i, c)| Bucket {
                lower: -exp_upper(i, self.schema),
                upper: -exp_upper(i - 1, self.schema),
                lower_inclusive: true,
                upper_inclusive: false,
                count: c,
                index: i,
            })
            .collect()
    }

    /// All buckets in ascending order of value: negative, zero bucket, positive.
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let mut out: Vec<Bucket> = self.negative_bucket_iter().into_iter().rev().collect();
        if !self.uses_custom_buckets() && (self.zero_count != 0.0 || self.zero_threshold != 0.0) {
            out.push(Bucket {
                lower: -self.zero_threshold,
                upper: self.zero_threshold,
                lower_inclusive: true,
                upper_inclusive: true,
                count: self.zero_count,
                index: 0,
            });
        }
        out.extend(self.positive_bucket_iter());
        out
    }

    /// Whether `self` (the later sample) shows a counter reset relative to `prev`.
    pub fn detect_reset(&self, prev: &FloatHistogram) -> bool {
        if self.counter_reset_hint == CounterResetHint::CounterReset {
            return true;
        }
        if self.counter_reset_hint == CounterResetHint::NotCounterReset
            || self.counter_reset_hint == CounterResetHint::Gauge
        {
            return false;
        }
        if self.count < prev.count {
            return true;
        }
        if self.uses_custom_buckets() != prev.uses_custom_buckets() {
            return true;
        }
        if self.uses_custom_buckets() && self.custom_values != prev.custom_values {
            // Different bounds: compare the buckets both reconcile to on their common bounds.
            let common: Vec<f64> = self
                .custom_values
                .iter()
                .copied()
                .filter(|v| prev.custom_values.contains(v))
                .collect();
            let cur = self.rebucket_custom(&common);
            let old = prev.rebucket_custom(&common);
            let cur: BTreeMap<i32, f64> =
                span_iter(&cur.positive_spans, &cur.positive_buckets).collect();
            return span_iter(&old.positive_spans, &old.positive_buckets)
                .any(|(i, c)| c > cur.get(&i).copied().unwrap_or(0.0));
        }
        if self.schema > prev.schema {
            return true;
        }
        if self.zero_threshold < prev.zero_threshold {
            return true;
        }
        if self.zero_count < prev.zero_count && self.zero_threshold == prev.zero_threshold {
            return true;
        }
        let schema = self.schema;
        let custom = self.uses_custom_buckets();
        let cur_p =
            to_map(&self.positive_spans, &self.positive_buckets, self.schema, schema, custom);
        let prev_p =
            to_map(&prev.positive_spans, &prev.positive_buckets, prev.schema, schema, custom);
        let cur_n =
            to_map(&self.negative_spans, &self.negative_buckets, self.schema, schema, custom);
        let prev_n =
            to_map(&prev.negative_spans, &prev.negative_buckets, prev.schema, schema, custom);
        let dropped = |cur: &BTreeMap<i32, f64>, prev: &BTreeMap<i32, f64>| {
            prev.iter().any(|(i, c)| {
                *c > cur.get(i).copied().unwrap_or(0.0) && {
                    // A bucket absorbed into a wider zero bucket is not a reset.
                    exp_upper(*i, schema) > self.zero_threshold || custom
                }
            })
        };
        dropped(&cur_p, &prev_p) || dropped(&cur_n, &prev_n)
    }
}

/// Upper bound of exponential bucket `idx` at `schema`.
pub fn exp_upper(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = (idx as i64) << (-schema);
        if exp > 1024 {
            return f64::INFINITY;
        }
        return 2f64.powi(exp as i32);
    }
    let frac_idx = idx & ((1 << schema) - 1);
    let exp = (idx >> schema) as i64;
    let frac = 2f64.powf(frac_idx as f64 / (1i64 << schema) as f64) / 2.0;
    let v = frac * 2f64.powf(exp as f64 + 1.0);
    if v.is_infinite() { f64::INFINITY } else { v }
}

fn absorb(m: &mut BTreeMap<i32, f64>, schema: i32, zt: f64, zc: &mut f64) {
    let keys: Vec<i32> = m.keys().copied().filter(|i| exp_upper(*i, schema) <= zt).collect();
    for k in keys {
        if let Some(c) = m.remove(&k) {
            *zc += c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::CUSTOM_BUCKETS_SCHEMA;

    fn h(schema: i32, offset: i32, b: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema,
            count: b.iter().sum(),
            positive_spans: vec![BucketSpan { offset, length: b.len() as u32 }],
            positive_buckets: b.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn add_same_and_different_schema() {
        let a = h(0, 0, &[1.0, 2.0]);
        let b = h(0, 1, &[1.0, 1.0]);
        let s = a.add(&b).unwrap();
        assert_eq!(s.positive_buckets, vec![1.0, 3.0, 1.0]);
        let c = h(1, 1, &[1.0, 1.0]);
        let s = a.add(&c).unwrap();
        assert_eq!(s.schema, 0);
        assert_eq!(s.count, 5.0);
        assert_eq!(s.compact().positive_buckets.iter().sum::<f64>(), 5.0);
    }

    #[test]
    fn combined_hints() {
        use CounterResetHint::*;
        let hinted = |hint| FloatHistogram { counter_reset_hint: hint, ..h(0, 0, &[1.0]) };
        let sum = |a, b| hinted(a).add(&hinted(b)).unwrap().counter_reset_hint;
        assert_eq!(sum(NotCounterReset, NotCounterReset), NotCounterReset);
        assert_eq!(sum(NotCounterReset, Gauge), Gauge);
        assert_eq!(sum(Unknown, NotCounterReset), Unknown);
        assert_eq!(sum(CounterReset, NotCounterReset), Unknown);
        assert!(CounterReset.collides(NotCounterReset));
        assert_eq!(hinted(NotCounterReset).scale(-1.0).counter_reset_hint, Gauge);
    }

    #[test]
    fn reset_across_custom_bounds() {
        let nhcb = |bounds: &[f64], b: &[f64]| FloatHistogram {
            custom_values: bounds.to_vec(),
            ..h(CUSTOM_BUCKETS_SCHEMA, 0, b)
        };
        // (-Inf,5] 1, (5,10] 1, (10,+Inf] 1 reconciles to (-Inf,5] 1, (5,+Inf] 2 against bounds [5].
        let prev = nhcb(&[5.0], &[1.0, 2.0]);
        assert!(!nhcb(&[5.0, 10.0], &[1.0, 1.0, 1.0]).detect_reset(&prev));
        assert!(nhcb(&[5.0, 10.0], &[2.0, 0.0, 1.0]).detect_reset(&prev));
    }

    #[test]
    fn bounds() {
        assert_eq!(exp_upper(0, 0), 1.0);
        assert_eq!(exp_upper(1, 0), 2.0);
        assert_eq!(exp_upper(-1, 0), 0.5);
        assert!((exp_upper(1, 1) - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(exp_upper(1, -1), 4.0);
    }
}
