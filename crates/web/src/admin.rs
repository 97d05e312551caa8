//! `/api/v1/admin/tsdb/*` (POST and PUT): `delete_series`, `clean_tombstones`, `snapshot`, answered only with
//! `--web.enable-admin-api`; otherwise 503 `unavailable` "admin APIs disabled", as Prometheus answers.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ErrorType;
use crate::params::{MAX_TIME, MIN_TIME, Params};
use crate::{ApiError, parse_selector};

/// The storage operations behind the admin API.
pub trait TsdbAdmin: Send + Sync {
    /// Deletes the samples in `[start, end]` (ms) of the series matching any of `matcher_sets`.
    fn delete_series(
        &self,
        matcher_sets: &[Vec<model::Matcher>],
        start: i64,
        end: i64,
    ) -> Result<(), String>;
    /// Rewrites blocks without their deleted data.
    fn clean_tombstones(&self) -> Result<(), String>;
    /// Writes a snapshot under the data directory's `snapshots/` and returns its name.
    fn snapshot(&self, skip_head: bool) -> Result<String, String>;
}

type St = State<std::sync::Arc<crate::ApiOptions>>;

fn admin(s: &crate::ApiOptions) -> Result<std::sync::Arc<dyn TsdbAdmin>, ApiError> {
    s.admin.clone().ok_or(ApiError {
        kind: ErrorType::Unavailable,
        message: "admin APIs disabled".to_string(),
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)
}

pub(crate) async fn delete_series(
    State(s): St,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = admin(&s)?;
    let p = Params::parse(q.as_deref(), &body);
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    let sets = selectors
        .into_iter()
        .map(|m| {
            parse_selector(m)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    blocking(move || admin.delete_series(&sets, start, end)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn clean_tombstones(State(s): St) -> Result<Response, ApiError> {
    let admin = admin(&s)?;
    blocking(move || admin.clean_tombstones()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn snapshot(
    State(s): St,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = admin(&s)?;
    let p = Params::parse(q.as_deref(), &body);
    let skip_head = match p.get("skip_head") {
        None | Some("") => false,
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
    };
    let name = blocking(move || admin.snapshot(skip_head)).await?;
    Ok((
        [("Content-Type", "application/json")],
        json!({"status": "success", "data": {"name": name}}).to_string(),
    )
        .into_response())
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
