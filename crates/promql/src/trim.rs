//! The histogram trim operators: `h </ x` keeps the observations below `x`, `h >/ x` those above it.
//!
//! Buckets entirely on the kept side stay as they are and buckets entirely on the other side are emptied. The
//! bucket containing `x` keeps the part of its count on the kept side, assuming observations spread evenly inside
//! it: linearly for custom buckets, logarithmically for exponential ones (whose bounds are evenly spaced on a log
//! scale). Buckets with an infinite bound cannot be split that way and are handled case by case.
//!
//! When anything was trimmed, count and sum are recomputed from the surviving buckets, each contributing its count
//! times the midpoint of its surviving interval (the geometric mean for exponential buckets).

use model::{Bucket, FloatHistogram};

/// Which side of the cut survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// `</`: the observations below the cut.
    Below,
    /// `>/`: the observations above the cut.
    Above,
}

/// Applies `</` (`keep_below`) or `>/` with cut `x` to a copy of `h`.
pub(crate) fn trim(h: &FloatHistogram, x: f64, keep_below: bool) -> FloatHistogram {
    let keep = if keep_below { Keep::Below } else { Keep::Above };
    let linear = h.uses_custom_buckets();
    let mut out = h.clone();
    let (mut count, mut sum) = (0.0, 0.0);
    let mut trimmed = false;
    let mut any = [false, false];
    let sides = [(true, h.positive_bucket_iter()), (false, h.negative_bucket_iter())];
    for (positive, buckets) in sides {
        for (i, b) in buckets.iter().enumerate() {
            if b.count == 0.0 {
                continue;
            }
            any[usize::from(!positive)] = true;
            let (kept, mid) = trim_bucket(b, x, keep, positive, linear);
            count += kept;
            sum += mid * kept;
            let slot =
                if positive { &mut out.positive_buckets[i] } else { &mut out.negative_buckets[i] };
            if *slot != kept {
                *slot = kept;
                trimmed = true;
            }
        }
    }
    if h.zero_count > 0.0 {
        let (kept, mid) = trim_zero_bucket(h, x, keep, any[0], any[1]);
        if kept != h.zero_count {
            out.zero_count = kept;
            trimmed = true;
        }
        count += kept;
        sum += mid * kept;
    }
    if !trimmed {
        return out;
    }
    out.count = count;
    out.sum = sum;
    out.compact()
}

/// The surviving count of one bucket and the midpoint of its surviving interval.
fn trim_bucket(b: &Bucket, x: f64, keep: Keep, positive: bool, linear: bool) -> (f64, f64) {
    let whole = match keep {
        Keep::Below => b.upper <= x,
        Keep::Above => b.lower >= x,
    };
    let none = match keep {
        Keep::Below => b.lower >= x,
        Keep::Above => b.upper <= x,
    };
    if whole {
        return (b.count, midpoint(b.lower, b.upper, positive, linear));
    }
    if none {
        return (0.0, 0.0);
    }
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return trim_infinite_bucket(b, x, keep);
    }
    let below = b.count * fraction_below(b, x, linear);
    match keep {
        Keep::Below => (below, midpoint(b.lower, x, positive, linear)),
        Keep::Above => (b.count - below, midpoint(x, b.upper, positive, linear)),
    }
}

/// The share of a finite bucket's width below `x` (inside the bucket), on a log scale for exponential buckets.
pub(crate) fn fraction_below(b: &Bucket, x: f64, linear: bool) -> f64 {
    if x <= b.lower {
        return 0.0;
    }
    if x >= b.upper {
        return 1.0;
    }
    if linear {
        return (x - b.lower) / (b.upper - b.lower);
    }
    let (lo, hi, v) = (b.lower.abs().log2(), b.upper.abs().log2(), x.abs().log2());
    if x > 0.0 { (v - lo) / (hi - lo) } else { 1.0 - (v - hi) / (lo - hi) }
}

/// The midpoint of a surviving interval: arithmetic for custom buckets, geometric (with the bucket's sign) for
/// exponential ones; an infinite bound falls back to the finite one.
fn midpoint(lo: f64, hi: f64, positive: bool, linear: bool) -> f64 {
    match (lo.is_infinite(), hi.is_infinite()) {
        (true, true) => 0.0,
        (true, false) if hi > 0.0 => hi / 2.0,
        (true, false) => hi,
        (false, true) => lo,
        (false, false) if linear => (lo + hi) / 2.0,
        (false, false) => {
            let g = (lo * hi).abs().sqrt();
            if positive { g } else { -g }
        }
    }
}

/// A cut inside a bucket reaching to -Inf or +Inf (custom buckets only). How the observations spread there is
/// unknown, so the bucket is mostly kept or dropped whole; a first bucket with a positive finite upper bound is
/// treated as starting at zero.
fn trim_infinite_bucket(b: &Bucket, x: f64, keep: Keep) -> (f64, f64) {
    let finite = |v: f64| if v.is_infinite() { 0.0 } else { v };
    if b.lower == f64::NEG_INFINITY {
        let finite_upper = b.upper.is_finite();
        return match keep {
            Keep::Below if x >= b.upper => (b.count, 0.0),
            Keep::Below if x > 0.0 && b.upper > 0.0 && finite_upper => {
                (b.count * x / b.upper, x / 2.0)
            }
            Keep::Below if b.upper <= 0.0 => (b.count, x),
            Keep::Above if x <= b.lower => (b.count, 0.0),
            Keep::Above if x >= 0.0 && b.upper > x && finite_upper => {
                (b.count * (1.0 - x / b.upper), (x + b.upper) / 2.0)
            }
            _ => (0.0, finite(b.upper)),
        };
    }
    match keep {
        Keep::Above if x >= b.lower => (b.count, x),
        _ => (0.0, finite(b.lower)),
    }
}

/// The zero bucket's surviving count and midpoint. The bucket is taken to span only its non-negative
/// (non-positive) half when the histogram has only positive (negative) buckets besides it.
fn trim_zero_bucket(
    h: &FloatHistogram,
    x: f64,
    keep: Keep,
    has_positive: bool,
    has_negative: bool,
) -> (f64, f64) {
    let (mut lo, mut hi) = (-h.zero_threshold, h.zero_threshold);
    if has_negative && !has_positive {
        hi = 0.0;
    }
    if has_positive && !has_negative {
        lo = 0.0;
    }
    let whole = (h.zero_count, (lo + hi) / 2.0);
    match keep {
        Keep::Below if x <= lo => (0.0, 0.0),
        Keep::Below if x >= hi => whole,
        Keep::Below => (h.zero_count * (x - lo) / (hi - lo), (lo + x) / 2.0),
        Keep::Above if x <= lo => whole,
        Keep::Above if x >= hi => (0.0, 0.0),
        Keep::Above => (h.zero_count * (hi - x) / (hi - lo), (x + hi) / 2.0),
    }
}
