//! Samples, sample values, exemplars and the staleness marker.

use std::sync::Arc;

use crate::{FloatHistogram, Histogram, Labels};

/// Milliseconds since the Unix epoch, as everywhere in Prometheus.
pub type Timestamp = i64;

/// The bit pattern of Prometheus's staleness marker, a signalling NaN that no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is exactly the staleness marker (any other NaN is a normal value).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Timestamp in milliseconds.
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

/// The value of one sample of any kind. Histograms are shared, as they are immutable once appended.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float sample (including the staleness marker).
    Float(f64),
    /// An integer native histogram.
    Histogram(Arc<Histogram>),
    /// A float native histogram.
    FloatHistogram(Arc<FloatHistogram>),
}

impl Value {
    /// Whether this value is a staleness marker: the stale NaN float, or a histogram whose sum is the stale NaN.
    pub fn is_stale(&self) -> bool {
        match self {
            Value::Float(v) => is_stale_nan(*v),
            Value::Histogram(h) => is_stale_nan(h.sum),
            Value::FloatHistogram(h) => is_stale_nan(h.sum),
        }
    }
}

/// An exemplar attached to a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's own labels (for example a trace ID).
    pub labels: Labels,
    /// The exemplar's value.
    pub value: f64,
    /// Its timestamp in milliseconds, when the exposition gave one.
    pub ts: Option<Timestamp>,
}
