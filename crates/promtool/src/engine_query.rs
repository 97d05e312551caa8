//! Rule queries on the PromQL engine: the [`rules::QueryFunc`] used by the server and by `test rules`.

use std::sync::Arc;

use promql::{Engine, QueryValue};
use rules::{QueryFunc, RuleSample, SampleValue};
use storage::Queryable;

/// Runs rule and template queries as instant queries on `engine` over `queryable`.
#[derive(Clone)]
pub struct EngineQuery {
    /// The engine.
    pub engine: Engine,
    /// The data.
    pub queryable: Arc<dyn Queryable>,
}

impl std::fmt::Debug for EngineQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineQuery").finish_non_exhaustive()
    }
}

impl QueryFunc for EngineQuery {
    fn query(&self, expr: &str, t: i64) -> Result<Vec<RuleSample>, String> {
        let res = self.engine.instant_query(self.queryable.as_ref(), expr, t, None);
        match res.value.map_err(|e| e.to_string())? {
            QueryValue::Vector(v) => Ok(v
                .into_iter()
                .map(|s| RuleSample {
                    labels: s.metric,
                    t: s.t,
                    value: match s.h {
                        Some(h) => SampleValue::Histogram(h),
                        None => SampleValue::Float(s.f),
                    },
                })
                .collect()),
            QueryValue::Scalar { t, v } => Ok(vec![RuleSample {
                labels: model::Labels::empty(),
                t,
                value: SampleValue::Float(v),
            }]),
            _ => Err("rule result is not a vector or scalar".to_string()),
        }
    }
}
