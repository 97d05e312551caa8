//! Core data model shared by every Promethium crate: label sets, label matchers, samples, native histograms,
//! exemplars, metric metadata, timestamps and Prometheus's duration syntax.
//!
//! **Architecture Invariant:** this crate does no I/O, is not async and holds no global state. Everything here is
//! plain data plus the pure functions over it.

mod duration;
mod error;
pub mod gostr;
mod histogram;
mod histogram_ops;
mod labels;
mod matcher;
mod metadata;
mod re2;
mod value;

pub use duration::{format_duration, format_go_duration, parse_duration};
pub use error::Error;
pub use histogram::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram,
};
pub use histogram_ops::{Bucket, HistogramError, exp_upper, reduce_index, span_iter};
pub use labels::{
    ALERT_NAME_LABEL, BUCKET_LABEL, INSTANCE_LABEL, Iter as LabelsIter, JOB_LABEL, Label, Labels,
    LabelsBuilder, METRIC_NAME_LABEL, QUANTILE_LABEL, is_valid_label_name,
    is_valid_legacy_label_name, is_valid_legacy_metric_name, is_valid_metric_name,
};
pub use matcher::{MatchType, Matcher};
pub use metadata::{Metadata, MetricType};
pub use re2::translate_re2;
pub use value::{Exemplar, STALE_NAN_BITS, Sample, Timestamp, Value, is_stale_nan, stale_nan};
