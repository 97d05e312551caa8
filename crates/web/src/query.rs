//! `/api/v1/query`, `/api/v1/query_range` and `/api/v1/format_query`: PromQL over HTTP with Prometheus's JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use model::{FloatHistogram, Labels};
use promql::{QueryError, QueryResult, QueryValue};
use serde_json::{Value as Json, json};

use crate::ApiError;
use crate::api::ApiOptions;
use crate::error::ErrorType;
use crate::params::Params;

type St = State<Arc<ApiOptions>>;

/// Sets the flag when dropped while armed: a query whose client went away stops at its next check.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

pub(crate) fn ts_json(t: i64) -> Json {
    let v = t as f64 / 1000.0;
    serde_json::Number::from_f64(v).map(Json::Number).unwrap_or(Json::Null)
}

/// A sample value as Prometheus's API writes it: shortest digits, exponent form below 1e-6 and from 1e21.
pub(crate) fn float_str(v: f64) -> Json {
    let abs = v.abs();
    if v.is_finite() && abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{v:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            return Json::String(format!("{m}e{sign}{digits:0>2}"));
        }
    }
    Json::String(promql_syntax::format_number(v))
}

pub(crate) fn labels_json(l: &Labels) -> Json {
    Json::Object(
        l.iter().map(|x| (x.name.to_string(), Json::String(x.value.to_string()))).collect(),
    )
}

fn histogram_json(h: &FloatHistogram) -> Json {
    let buckets: Vec<Json> = h
        .all_buckets()
        .into_iter()
        .filter(|b| b.count != 0.0)
        .map(|b| {
            let rule = match (b.lower_inclusive, b.upper_inclusive) {
                (false, true) => 0,
                (true, false) => 1,
                (false, false) => 2,
                (true, true) => 3,
            };
            json!([rule, float_str(b.lower), float_str(b.upper), float_str(b.count)])
        })
        .collect();
    let mut o = json!({"count": float_str(h.count), "sum": float_str(h.sum)});
    if !buckets.is_empty() {
        o["buckets"] = Json::Array(buckets);
    }
    o
}

/// The `data` object of a query result.
pub(crate) fn result_json(v: &QueryValue) -> Json {
    let result = match v {
        QueryValue::Scalar { t, v } => json!([ts_json(*t), float_str(*v)]),
        QueryValue::String { t, v } => json!([ts_json(*t), v]),
        QueryValue::Vector(vec) => Json::Array(
            vec.iter()
                .map(|s| match &s.h {
                    Some(h) => json!({"metric": labels_json(&s.metric), "histogram": [ts_json(s.t), histogram_json(h)]}),
                    None => json!({"metric": labels_json(&s.metric), "value": [ts_json(s.t), float_str(s.f)]}),
                })
                .collect(),
        ),
        QueryValue::Matrix(m) => Json::Array(
            m.iter()
                .map(|s| {
                    let mut o = json!({"metric": labels_json(&s.metric)});
                    if !s.floats.is_empty() {
                        o["values"] = Json::Array(s.floats.iter().map(|p| json!([ts_json(p.t), float_str(p.f)])).collect());
                    }
                    if !s.histograms.is_empty() {
                        o["histograms"] = Json::Array(
                            s.histograms.iter().map(|p| json!([ts_json(p.t), histogram_json(&p.h)])).collect(),
                        );
                    }
                    o
                })
                .collect(),
        ),
    };
    json!({"resultType": v.type_name(), "result": result})
}

pub(crate) fn query_error(e: QueryError) -> ApiError {
    let kind = match &e {
        QueryError::Parse(_) | QueryError::BadData(_) => ErrorType::BadData,
        QueryError::Timeout(_) => ErrorType::Timeout,
        QueryError::Canceled(_) => ErrorType::Canceled,
        QueryError::Storage(_) => ErrorType::Internal,
        QueryError::Unavailable(_) => ErrorType::Unavailable,
        _ => ErrorType::Execution,
    };
    let message = match &e {
        QueryError::Parse(m) => format!("invalid parameter \"query\": {m}"),
        other => other.to_string(),
    };
    ApiError { kind, message }
}

fn respond(res: QueryResult, limit: usize, with_stats: bool) -> Result<Response, ApiError> {
    let mut value = res.value.map_err(query_error)?;
    let mut warnings: Vec<String> =
        res.annotations.iter().filter(|a| a.warning).map(|a| a.text.clone()).collect();
    let infos: Vec<String> =
        res.annotations.iter().filter(|a| !a.warning).map(|a| a.text.clone()).collect();
    if limit > 0 {
        let truncated = match &mut value {
            QueryValue::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            QueryValue::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push("results truncated due to limit".into());
        }
    }
    let mut data = result_json(&value);
    if with_stats {
        data["stats"] = json!({"samples": {"totalQueryableSamples": res.stats.total_samples, "peakSamples": res.stats.peak_samples}});
    }
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    Ok(([("Content-Type", "application/json")], body.to_string()).into_response())
}

/// A duration parameter: seconds as a float, or Prometheus's duration syntax. Milliseconds.
fn duration_param(p: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(s) => {
            if let Ok(f) = s.parse::<f64>() {
                let ms = f * 1000.0;
                if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
                    return Err(ApiError::bad_data(format!(
                        "invalid parameter {name:?}: cannot parse {s:?} to a valid duration. It overflows int64"
                    )));
                }
                return Ok(Some(ms.round() as i64));
            }
            model::parse_duration(s).map(Some).map_err(|_| {
                ApiError::bad_data(format!(
                    "invalid parameter {name:?}: cannot parse {s:?} to a valid duration"
                ))
            })
        }
    }
}

async fn run_blocking(
    s: Arc<ApiOptions>,
    q: String,
    start: i64,
    end: i64,
    step: i64,
    lookback: i64,
    timeout: Option<i64>,
) -> Result<QueryResult, ApiError> {
    // A request's `timeout` can only shorten the server's `--query.timeout`.
    let engine = match timeout {
        Some(ms) => {
            let mut o = s.engine.options().clone();
            let t = std::time::Duration::from_millis(ms.max(0) as u64);
            o.timeout = Some(o.timeout.map_or(t, |d| d.min(t)));
            promql::Engine::new(o)
        }
        None => s.engine.clone(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    let res = tokio::task::spawn_blocking(move || {
        engine.run(s.queryable.as_ref(), &q, start, end, step, Some(&cancel), lookback)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()));
    guard.0 = None; // finished: nothing to cancel
    res
}

pub(crate) async fn query(
    State(s): St,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let query = p.get("query").unwrap_or("").to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let t = p.time("time", now)?;
    let limit = p.limit("limit")?;
    let lookback = duration_param(&p, "lookback_delta")?.unwrap_or(0);
    let timeout = duration_param(&p, "timeout")?;
    let stats = p.get("stats").is_some_and(|v| !v.is_empty());
    let res = run_blocking(s, query, t, t, 0, lookback, timeout).await?;
    respond(res, limit, stats)
}

pub(crate) async fn query_range(
    State(s): St,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let query = p.get("query").unwrap_or("").to_string();
    let start = match p.get("start") {
        Some(v) if !v.is_empty() => p.time("start", 0)?,
        _ => {
            return Err(ApiError::bad_data(
                "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
            ));
        }
    };
    let end = match p.get("end") {
        Some(v) if !v.is_empty() => p.time("end", 0)?,
        _ => {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": cannot parse \"\" to a valid timestamp",
            ));
        }
    };
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = match duration_param(&p, "step")? {
        Some(s) => s,
        None => {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": cannot parse \"\" to a valid duration",
            ));
        }
    };
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > 11000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let limit = p.limit("limit")?;
    let lookback = duration_param(&p, "lookback_delta")?.unwrap_or(0);
    let timeout = duration_param(&p, "timeout")?;
    let stats = p.get("stats").is_some_and(|v| !v.is_empty());
    let res = run_blocking(s, query, start, end, step, lookback, timeout).await?;
    respond(res, limit, stats)
}

pub(crate) async fn format_query(
    State(s): St,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let query = p.get("query").unwrap_or("");
    let expr = s.engine.parse(query).map_err(query_error)?;
    Ok((
        [("Content-Type", "application/json")],
        json!({"status": "success", "data": expr.to_string()}).to_string(),
    )
        .into_response())
}
