//! `/api/v1/query_exemplars`: the exemplars of the series a query selects.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use model::Matcher;
use promql_syntax::Expr;
use serde_json::{Value as Json, json};

use crate::ApiError;
use crate::api::ApiOptions;
use crate::params::{MAX_TIME, MIN_TIME, Params};
use crate::query::{float_str, labels_json, ts_json};

/// The matchers of every selector in `e`, as Prometheus's `ExtractSelectors`.
fn selectors(e: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs.matchers.clone()),
        Expr::MatrixSelector(m) => out.push(m.vs.matchers.clone()),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                selectors(p, out);
            }
            selectors(&a.expr, out);
        }
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Call(c) => c.args.iter().for_each(|a| selectors(a, out)),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// `GET|POST /api/v1/query_exemplars`.
pub(crate) async fn query_exemplars(
    State(s): State<Arc<ApiOptions>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let expr = s
        .engine
        .parse(p.get("query").unwrap_or(""))
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    let mut sets = Vec::new();
    selectors(&expr, &mut sets);
    let data = if sets.is_empty() {
        Json::Null
    } else if let Some(store) = s.exemplars.clone() {
        let found = tokio::task::spawn_blocking(move || store.select_exemplars(start, end, &sets))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Json::Array(
            found
                .iter()
                .map(|(series, list)| {
                    json!({
                        "seriesLabels": labels_json(series),
                        "exemplars": list.iter().map(|e| json!({
                            "labels": labels_json(&e.labels),
                            "value": float_str(e.value),
                            "timestamp": ts_json(e.ts.unwrap_or(0)),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    } else {
        // Exemplar storage is off: like Prometheus's zero-sized buffer, nothing is stored.
        Json::Array(Vec::new())
    };
    Ok((
        [("Content-Type", "application/json")],
        json!({"status": "success", "data": data}).to_string(),
    )
        .into_response())
}
