//! Native histograms in Prometheus's sparse representation: integer histograms (bucket counts stored as deltas,
//! the form scrapes and chunks use) and float histograms (absolute counts, the form PromQL computes with).
//!
//! Schemas -4..=8 are exponential (bucket boundaries are powers of `2^(2^-schema)`); schema -53 is NHCB, where
//! `custom_values` holds the explicit upper bounds.

/// Schema number of native histograms with custom buckets (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// A run of consecutive buckets: `offset` is the gap to the previous span's end (or the start index for the first
/// span), `length` the number of buckets in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BucketSpan {
    /// Gap in bucket indexes before this span.
    pub offset: i32,
    /// Number of consecutive buckets in this span.
    pub length: u32,
}

/// What the producer says about counter resets relative to the previous sample of the same series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterResetHint {
    /// Nothing is known.
    #[default]
    Unknown,
    /// This histogram follows a counter reset.
    CounterReset,
    /// This histogram is known not to follow a counter reset.
    NotCounterReset,
    /// A gauge histogram: counter resets do not apply.
    Gauge,
}

/// An integer native histogram. Bucket counts are stored as deltas to the previous bucket of the same sign.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution schema.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Total number of observations.
    pub count: u64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<BucketSpan>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<BucketSpan>,
    /// Positive bucket counts as deltas.
    pub positive_buckets: Vec<i64>,
    /// Negative bucket counts as deltas.
    pub negative_buckets: Vec<i64>,
    /// Upper bounds of custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

/// A float native histogram with absolute bucket counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter-reset hint.
    pub counter_reset_hint: CounterResetHint,
    /// Resolution schema.
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<BucketSpan>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<BucketSpan>,
    /// Positive bucket counts.
    pub positive_buckets: Vec<f64>,
    /// Negative bucket counts.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

impl Histogram {
    /// Whether the schema is the custom-buckets schema.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Converts to a float histogram, turning delta-encoded counts into absolute ones.
    pub fn to_float(&self) -> FloatHistogram {
        fn absolute(deltas: &[i64]) -> Vec<f64> {
            let mut cur = 0i64;
            deltas
                .iter()
                .map(|d| {
                    cur = cur.wrapping_add(*d);
                    cur as f64
                })
                .collect()
        }
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count as f64,
            count: self.count as f64,
            sum: self.sum,
            positive_spans: self.positive_spans.clone(),
            negative_spans: self.negative_spans.clone(),
            positive_buckets: absolute(&self.positive_buckets),
            negative_buckets: absolute(&self.negative_buckets),
            custom_values: self.custom_values.clone(),
        }
    }
}

impl FloatHistogram {
    /// Whether the schema is the custom-buckets schema.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_float_accumulates_deltas() {
        let h = Histogram {
            schema: 0,
            count: 6,
            sum: 10.0,
            positive_spans: vec![BucketSpan { offset: 0, length: 3 }],
            positive_buckets: vec![1, 2, -1],
            ..Default::default()
        };
        let f = h.to_float();
        assert_eq!(f.positive_buckets, vec![1.0, 3.0, 2.0]);
        assert_eq!(f.count, 6.0);
    }
}
