//! Quantiles and fractions of histograms: classic ones (series of `le` buckets) and native ones.
//!
//! For native histograms, values inside a bucket are assumed to spread evenly: linearly for custom buckets and
//! the zero bucket, logarithmically for exponential buckets. The zero bucket is taken to end at zero on the side
//! without populated buckets. Observations of NaN count towards a histogram's count (and make its sum NaN) but
//! sit in no bucket; they are left out, which the results report with an annotation.

use model::{Bucket, FloatHistogram};

use crate::functions::almost_equal;
use crate::trim::fraction_below;

/// Classic buckets sorted by upper bound with equal bounds merged; `None` without a `+Inf` bucket.
fn sorted_buckets(buckets: &mut [(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return None;
    }
    let mut co: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match co.last_mut() {
            Some(l) if l.0 == b.0 => l.1 += b.1,
            _ => co.push(*b),
        }
    }
    Some(co)
}

/// Quantile over classic buckets `(upper bound, cumulative count)`; also reports forced monotonicity.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some(mut co) = sorted_buckets(buckets) else { return (f64::NAN, false) };
    let mut forced = false;
    let mut prev = co[0].1;
    for b in co.iter_mut().skip(1) {
        let cur = b.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.1 = prev;
            continue;
        }
        if cur < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if co.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = co[co.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let b = co[..co.len() - 1].iter().position(|x| x.1 >= rank).unwrap_or(co.len() - 1);
    let v = if b == co.len() - 1 {
        co[co.len() - 2].0
    } else if b == 0 && co[0].0 <= 0.0 {
        co[0].0
    } else {
        let mut start = 0.0;
        let end = co[b].0;
        let mut count = co[b].1;
        if b > 0 {
            start = co[b - 1].0;
            count -= co[b - 1].1;
            rank -= co[b - 1].1;
        }
        start + (end - start) * (rank / count)
    };
    (v, forced)
}

/// Fraction of observations between `lo` and `hi` in classic buckets `(upper bound, cumulative count)`, with
/// linear interpolation inside buckets.
pub(crate) fn bucket_fraction(lo: f64, hi: f64, buckets: &mut [(f64, f64)]) -> f64 {
    let Some(co) = sorted_buckets(buckets) else { return f64::NAN };
    let count = co[co.len() - 1].1;
    if count == 0.0 || lo.is_nan() || hi.is_nan() {
        return f64::NAN;
    }
    if lo >= hi {
        return 0.0;
    }
    let rank_at = |v: f64| -> f64 {
        let mut prev_count = 0.0;
        for (i, (upper, c)) in co.iter().enumerate() {
            let lower = if i == 0 {
                if *upper > 0.0 { 0.0 } else { f64::NEG_INFINITY }
            } else {
                co[i - 1].0
            };
            if v <= lower {
                return prev_count;
            }
            if v < *upper {
                if upper.is_infinite() || lower.is_infinite() {
                    return if upper.is_infinite() { prev_count } else { *c };
                }
                return prev_count + (c - prev_count) * (v - lower) / (upper - lower);
            }
            prev_count = *c;
        }
        count
    };
    (rank_at(hi).min(count) - rank_at(lo).min(count)) / count
}

/// What a native quantile or fraction noticed about NaN observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NanObservations {
    /// The quantile falls among the NaN observations, so it is NaN.
    QuantileIsNaN,
    /// The quantile is computed without the NaN observations and thus too high.
    QuantileSkewed,
    /// The fraction leaves the NaN observations out.
    FractionExcludes,
}

/// The buckets of `h` in ascending order as Prometheus iterates them: the zero bucket only when populated, and
/// bucket bounds inside the zero bucket's range moved to its edge.
fn ascending_buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let zt = h.zero_threshold;
    let clamp = |mut b: Bucket| {
        if b.upper < 0.0 && b.upper > -zt {
            b.upper = -zt;
        } else if b.lower > 0.0 && b.lower < zt {
            b.lower = zt;
        }
        b
    };
    let mut out: Vec<Bucket> = h.negative_bucket_iter().into_iter().rev().map(clamp).collect();
    if h.zero_count > 0.0 {
        out.push(Bucket {
            lower: -zt,
            upper: zt,
            lower_inclusive: true,
            upper_inclusive: true,
            count: h.zero_count,
            index: 0,
        });
    }
    out.extend(h.positive_bucket_iter().into_iter().map(clamp));
    out
}

/// Narrows the zero bucket (a bucket spanning zero) to its non-negative or non-positive half when the histogram
/// only has buckets on one side of zero.
fn one_sided_zero_bucket(h: &FloatHistogram, b: &mut Bucket) {
    let (neg, pos) = (!h.negative_buckets.is_empty(), !h.positive_buckets.is_empty());
    if pos && !neg {
        b.lower = 0.0;
    } else if neg && !pos {
        b.upper = 0.0;
    }
}

/// The `q` quantile of a native histogram.
pub(crate) fn hist_quantile(q: f64, h: &FloatHistogram) -> (f64, Option<NanObservations>) {
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, None);
    }
    // NaN observations are missing from the buckets, so ranks can only be counted from below then; otherwise
    // the upper half is counted from above, which is more accurate there.
    let from_below = h.sum.is_nan() || q < 0.5;
    let mut buckets = ascending_buckets(h);
    if !from_below {
        buckets.reverse();
    }
    let mut rank = if from_below { q * h.count } else { (1.0 - q) * h.count };
    let mut count = 0.0;
    let mut bucket = Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    };
    let mut next = 0;
    while next < buckets.len() {
        bucket = buckets[next];
        next += 1;
        if bucket.count == 0.0 {
            continue;
        }
        count += bucket.count;
        if count >= rank {
            break;
        }
    }
    let custom = h.uses_custom_buckets();
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        one_sided_zero_bucket(h, &mut bucket);
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, None);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, None);
        }
    }
    count = count.min(h.count);
    if count < rank {
        if h.sum.is_nan() {
            return (f64::NAN, Some(NanObservations::QuantileIsNaN));
        }
        return (bucket.upper, None);
    }
    if from_below {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    let mut note = None;
    if h.sum.is_nan() {
        let in_buckets = count + buckets[next..].iter().map(|b| b.count).sum::<f64>();
        if in_buckets < h.count {
            note = Some(NanObservations::QuantileSkewed);
        }
    }
    let fraction = rank / bucket.count;
    if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return (bucket.lower + (bucket.upper - bucket.lower) * fraction, note);
    }
    let (lo, hi) = (bucket.lower.abs().log2(), bucket.upper.abs().log2());
    let v = if bucket.lower > 0.0 {
        (lo + (hi - lo) * fraction).exp2()
    } else {
        -(hi + (lo - hi) * (1.0 - fraction)).exp2()
    };
    (v, note)
}

/// The fraction of a native histogram's observations between `lo` and `hi`.
pub(crate) fn hist_fraction(
    lo: f64,
    hi: f64,
    h: &FloatHistogram,
) -> (f64, Option<NanObservations>) {
    if h.count == 0.0 || lo.is_nan() || hi.is_nan() {
        return (f64::NAN, None);
    }
    if lo >= hi {
        return (0.0, None);
    }
    let custom = h.uses_custom_buckets();
    let buckets = ascending_buckets(h);
    let (mut count, mut rank) = (0.0, 0.0);
    let (mut lo_rank, mut hi_rank): (Option<f64>, Option<f64>) = (None, None);
    let mut next = 0;
    while next < buckets.len() {
        let mut b = buckets[next];
        next += 1;
        count += b.count;
        let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
        if zero_bucket {
            one_sided_zero_bucket(h, &mut b);
        }
        // The rank at `v` inside this bucket. A bucket reaching to -Inf contributes nothing below its upper
        // bound, like one reaching to +Inf contributes nothing above its lower bound.
        let rank_at = |v: f64| {
            if custom || zero_bucket {
                if b.lower == f64::NEG_INFINITY {
                    return b.count;
                }
                rank + b.count * fraction_below(&b, v, true)
            } else {
                rank + b.count * fraction_below(&b, v, false)
            }
        };
        if lo_rank.is_none() && b.lower >= lo {
            lo_rank = Some(rank);
        }
        if hi_rank.is_none() && b.lower >= hi {
            hi_rank = Some(rank);
        }
        if lo_rank.is_some() && hi_rank.is_some() {
            break;
        }
        if lo_rank.is_none() && b.lower < lo && b.upper > lo {
            lo_rank = Some(rank_at(lo));
        }
        if hi_rank.is_none() && b.lower < hi && b.upper > hi {
            hi_rank = Some(rank_at(hi));
        }
        if lo_rank.is_some() && hi_rank.is_some() {
            break;
        }
        rank += b.count;
    }
    let mut note = None;
    if h.sum.is_nan() {
        count += buckets[next..].iter().map(|b| b.count).sum::<f64>();
        if count < h.count {
            note = Some(NanObservations::FractionExcludes);
        }
    } else {
        count = h.count;
    }
    let clamp = |r: Option<f64>| r.filter(|r| *r <= count).unwrap_or(count);
    ((clamp(hi_rank) - clamp(lo_rank)) / h.count, note)
}
