//! Recording and alerting rules: rule files in Prometheus's format, groups evaluated on their own schedules,
//! alert states with `for`/`keep_firing_for`, the `ALERTS`/`ALERTS_FOR_STATE` series, `for` state restoration
//! after a restart, and hand-off of alerts to a notifier.
//!
//! **Architecture Invariant:** this crate does not know the query engine. It runs queries through [`QueryFunc`],
//! writes through `storage::Appendable`, reads (for restoration) through `storage::Queryable` and sends alerts
//! through [`Notify`]; the binary wires in the PromQL engine, the TSDB and the notifier.

mod alerting;
mod error;
pub mod file;
mod glob;
mod group;
mod manager;
mod recording;
mod tmpl;

use std::sync::Arc;

pub use alerting::{
    ALERT_FOR_STATE_METRIC_NAME, ALERT_METRIC_NAME, ALERT_NAME_LABEL, ALERT_STATE_LABEL, Alert,
    AlertState, AlertingRule, TemplateEnv,
};
pub use error::Error;
pub use glob::{expand_globs, glob_match};
pub use group::{EvalEnv, Group, GroupStats, Health, Notify, Rule, RuleEntry};
pub use manager::{EvalObserver, LoadSettings, Manager, ManagerOptions, build_groups};
pub use recording::RecordingRule;
pub use template::AlertData as TemplateData;
pub use tmpl::expand as expand_template;

use model::{FloatHistogram, Labels};

/// The value of one query result sample.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A float.
    Float(f64),
    /// A native histogram.
    Histogram(Arc<FloatHistogram>),
}

/// One element of a rule's query result (and of what a rule writes).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSample {
    /// Labels.
    pub labels: Labels,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub value: SampleValue,
}

/// Runs an instant query for rules and templates. A scalar result comes back as one sample with no labels;
/// other result types are an error (`rule result is not a vector or scalar`).
pub trait QueryFunc: Send + Sync {
    /// Evaluates `expr` at `t` (ms).
    fn query(&self, expr: &str, t: i64) -> Result<Vec<RuleSample>, String>;
}
