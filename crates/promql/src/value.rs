//! Query results: scalars, strings, instant vectors and matrices.

use std::sync::Arc;

use model::{FloatHistogram, Labels};

/// A float point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FPoint {
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub f: f64,
}

/// A histogram point.
#[derive(Debug, Clone, PartialEq)]
pub struct HPoint {
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub h: Arc<FloatHistogram>,
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels.
    pub metric: Labels,
    /// Timestamp (ms).
    pub t: i64,
    /// Float value (unused when `h` is set).
    pub f: f64,
    /// Histogram value.
    pub h: Option<Arc<FloatHistogram>>,
    /// The metric name is to be dropped when the query finishes (delayed name removal).
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// One series of a matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Labels.
    pub metric: Labels,
    /// Float points, by time.
    pub floats: Vec<FPoint>,
    /// Histogram points, by time.
    pub histograms: Vec<HPoint>,
    /// The metric name is to be dropped when the query finishes.
    pub drop_name: bool,
}

/// A range vector.
pub type Matrix = Vec<Series>;

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// A scalar at a time.
    Scalar {
        /// Timestamp (ms).
        t: i64,
        /// Value.
        v: f64,
    },
    /// A string at a time.
    String {
        /// Timestamp (ms).
        t: i64,
        /// Value.
        v: String,
    },
    /// An instant vector.
    Vector(Vector),
    /// A matrix.
    Matrix(Matrix),
}

impl QueryValue {
    /// The API's `resultType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}
