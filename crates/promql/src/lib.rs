//! The PromQL engine: evaluates parsed expressions against any [`storage::Queryable`].
//!
//! **Architecture Invariant:** the engine depends only on `model`, `promql-syntax` and the `storage` traits; it
//! knows nothing of the TSDB, scraping or HTTP. Evaluation follows Prometheus's model: every node evaluates over a
//! grid of steps, instant queries being range queries of a single step.

mod aggregate;
mod annotations;
mod binary;
mod engine;
mod error;
mod eval;
mod extended;
mod fold;
mod functions;
mod gate;
mod histogram_fns;
mod info;
mod kahan_hist;
mod quantile;
mod range_fns;
mod stats_decoding;
mod trim;
mod value;

pub use annotations::Annotation;
pub use engine::{Engine, EngineOptions, QueryResult, QueryStats};
pub use error::QueryError;
pub use functions::{AT_MODIFIER_UNSAFE_FUNCTIONS, almost_equal};
pub use value::{FPoint, HPoint, Matrix, QueryValue, Sample, Series, Vector};
