//! Recording rules: evaluate, rename, relabel, reject duplicate label sets and enforce the group limit.

use std::collections::HashSet;

use model::{Labels, LabelsBuilder, METRIC_NAME_LABEL};

use crate::{QueryFunc, RuleSample};

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) labels: Labels,
}

impl RecordingRule {
    /// A rule writing `expr` as `name` with `labels` added.
    pub fn new(name: &str, expr: &str, labels: Labels) -> RecordingRule {
        RecordingRule { name: name.to_string(), expr: expr.to_string(), labels }
    }

    /// The recorded metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The labels added to results.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Evaluates at `ts - query_offset`; the samples carry that timestamp.
    pub fn eval(
        &self,
        ts: i64,
        query_offset: i64,
        query: &dyn QueryFunc,
        limit: i64,
    ) -> Result<Vec<RuleSample>, String> {
        let mut v = query.query(&self.expr, ts - query_offset)?;
        let mut b = LabelsBuilder::new();
        let mut seen = HashSet::with_capacity(v.len());
        for s in &mut v {
            b.reset(&s.labels);
            b.set(METRIC_NAME_LABEL, &self.name);
            for l in self.labels.iter() {
                b.set(l.name, l.value);
            }
            s.labels = b.labels();
            if !seen.insert(s.labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .to_string(),
                );
            }
        }
        if limit > 0 && v.len() as i64 > limit {
            return Err(format!("exceeded limit of {limit} with {} series", v.len()));
        }
        Ok(v)
    }
}
