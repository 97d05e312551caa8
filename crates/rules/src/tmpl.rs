//! Alert label and annotation templates, expanded with the `template` crate (Go `text/template` semantics and
//! Prometheus's functions).

use std::sync::Arc;

use crate::{QueryFunc, SampleValue};

/// Expands an alert template of rule `rule` (named `__alert_<rule>` in errors) at evaluation time `ts`; the
/// `query` function runs instant queries at `ts`.
pub fn expand(
    rule: &str,
    text: &str,
    data: &template::AlertData,
    ts: i64,
    query: Option<Arc<dyn QueryFunc>>,
) -> Result<String, String> {
    let mut e = template::Expander::for_alert(rule, text, data).timestamp_ms(ts);
    if let Some(q) = query {
        let f: template::QueryFn = Arc::new(move |expr: &str| {
            let v = q.query(expr, ts)?;
            Ok(v.into_iter()
                .map(|s| {
                    let value = match s.value {
                        SampleValue::Float(f) => f,
                        SampleValue::Histogram(_) => f64::NAN,
                    };
                    template::QuerySample::new(&s.labels, value)
                })
                .collect())
        });
        e = e.query(f);
    }
    e.expand().map_err(|e| e.to_string())
}

/// Expands, turning an error into Prometheus's `<error expanding template: …>` text (and a warning log).
pub(crate) fn expand_or_error(
    rule: &str,
    text: &str,
    data: &template::AlertData,
    ts: i64,
    query: &Arc<dyn QueryFunc>,
) -> String {
    match expand(rule, text, data, ts, Some(query.clone())) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(alert = %rule, err = %e, "Expanding alert template failed");
            format!("<error expanding template: {e}>")
        }
    }
}

/// Checks that `text` parses as a template of alerting rule `rule` (Prometheus's `ParseTest`).
pub(crate) fn check(rule: &str, text: &str) -> Result<(), String> {
    template::Expander::for_alert(rule, text, &template::AlertData::default())
        .parse_test()
        .map_err(|e| e.to_string())
}
