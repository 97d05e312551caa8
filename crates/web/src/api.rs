//! The router and the handlers of `/api/v1/*`, the lifecycle endpoints and `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use model::Labels;
use serde_json::{Value as Json, json};
use storage::{LabelHints, Queryable, SelectHints};

use crate::params::{MAX_TIME, MIN_TIME, Params};
use crate::retrieve::{BuildInfo, Lifecycle, StatusRetriever, TargetRetriever};
use crate::{ApiError, parse_selector};

/// Everything the API serves from.
#[derive(Clone)]
pub struct ApiOptions {
    /// Series and label reads.
    pub queryable: Arc<dyn Queryable>,
    /// Targets and their metadata.
    pub targets: Arc<dyn TargetRetriever>,
    /// Configuration, flags, runtime and TSDB status, own metrics.
    pub status: Arc<dyn StatusRetriever>,
    /// Reload and quit.
    pub lifecycle: Arc<dyn Lifecycle>,
    /// Whether `/-/reload` and `/-/quit` are enabled.
    pub enable_lifecycle: bool,
    /// Whether the server is ready to serve (`/-/ready`).
    pub ready: Arc<AtomicBool>,
    /// Build information.
    pub build_info: BuildInfo,
    /// The PromQL engine for `/api/v1/query*`.
    pub engine: promql::Engine,
    /// Stored exemplars (`None`: exemplar storage is off).
    pub exemplars: Option<Arc<dyn storage::ExemplarQueryable>>,
    /// Rules, alerts and Alertmanagers (`None` until the rule manager exists).
    pub rules: Option<Arc<dyn crate::rules::RulesRetriever>>,
    /// The admin API's storage operations (`None`: `--web.enable-admin-api` is off).
    pub admin: Option<Arc<dyn crate::admin::TsdbAdmin>>,
    /// Origins allowed to call the API from a browser (`--web.cors.origin`; `None`: no CORS headers).
    pub cors_origin: Option<Arc<crate::cors::CorsOrigin>>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("enable_lifecycle", &self.enable_lifecycle)
            .finish_non_exhaustive()
    }
}

type St = State<Arc<ApiOptions>>;

fn success(data: Json) -> Response {
    ([("Content-Type", "application/json")], json!({"status": "success", "data": data}).to_string())
        .into_response()
}

fn success_warn(data: Json, warnings: Vec<String>) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    ([("Content-Type", "application/json")], body.to_string()).into_response()
}

fn labels_json(l: &Labels) -> Json {
    Json::Object(
        l.iter().map(|x| (x.name.to_string(), Json::String(x.value.to_string()))).collect(),
    )
}

fn map_json(m: &BTreeMap<String, String>) -> Json {
    Json::Object(m.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect())
}

fn rfc3339(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => chrono::DateTime::<chrono::Utc>::from(t)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// Builds the router (without a route prefix; the caller nests it).
pub fn router(opts: ApiOptions) -> Router {
    let cors = opts.cors_origin.clone();
    let state = Arc::new(opts);
    Router::new()
        .route("/api/v1/query", get(crate::query::query).post(crate::query::query))
        .route(
            "/api/v1/query_range",
            get(crate::query::query_range).post(crate::query::query_range),
        )
        .route(
            "/api/v1/format_query",
            get(crate::query::format_query).post(crate::query::format_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(crate::exemplars::query_exemplars).post(crate::exemplars::query_exemplars),
        )
        .route(
            "/api/v1/parse_query",
            get(crate::parse_query::parse_query).post(crate::parse_query::parse_query),
        )
        .route("/api/v1/rules", get(crate::rules::rules).post(crate::rules::rules))
        .route("/api/v1/alerts", get(crate::rules::alerts))
        .route("/api/v1/alertmanagers", get(crate::rules::alertmanagers))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(targets_metadata))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/runtimeinfo", get(status_runtime))
        .route("/api/v1/status/buildinfo", get(status_build))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/status/walreplay", get(status_walreplay))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(crate::admin::delete_series).put(crate::admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(crate::admin::clean_tombstones).put(crate::admin::clean_tombstones),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(crate::admin::snapshot).put(crate::admin::snapshot),
        )
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", any(reload))
        .route("/-/quit", any(quit))
        .route("/metrics", get(metrics))
        .route("/federate", get(crate::federate::federate).post(crate::federate::federate))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(cors, crate::cors::layer))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

fn matcher_sets(p: &Params) -> Result<Vec<Vec<model::Matcher>>, ApiError> {
    p.all("match[]").into_iter().map(|s| parse_selector(s).map_err(ApiError::bad_data)).collect()
}

async fn series(State(s): St, RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    let sets = matcher_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    let limit = p.limit("limit")?;
    let s2 = s.clone();
    let (series, warnings) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let q = s2.queryable.querier(start, end).map_err(|e| ApiError::internal(e.to_string()))?;
        let hints = SelectHints { start, end, func: Some("series".into()), ..Default::default() };
        let mut all = BTreeSet::new();
        let mut warnings = Vec::new();
        for m in &sets {
            let mut set = q.select(true, Some(&hints), m);
            while let Some(series) = set.next() {
                all.insert(series.labels);
            }
            if let Some(e) = set.err() {
                return Err(ApiError::internal(e.to_string()));
            }
            warnings.extend(set.warnings());
        }
        Ok((all, warnings))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut warnings = warnings;
    let mut out: Vec<Json> = series.iter().map(labels_json).collect();
    if limit > 0 && out.len() > limit {
        out.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    Ok(success_warn(Json::Array(out), warnings))
}

async fn labels(State(s): St, RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), &body);
    label_lookup(s, p, None).await
}

async fn label_values(
    State(s): St,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), b"");
    let name = unescape_label_name(&name);
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    label_lookup(s, p, Some(name)).await
}

/// Label names in paths may use the `U__` escaping of UTF-8 names: `__` is an underscore and `_<hex>_` a code
/// point (`U__a_2e_b` is `a.b`). Anything malformed is taken literally.
fn unescape_label_name(s: &str) -> String {
    let Some(rest) = s.strip_prefix("U__") else { return s.to_string() };
    let mut out = String::new();
    let mut it = rest.chars().peekable();
    while let Some(c) = it.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if it.peek() == Some(&'_') {
            it.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match it.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return s.to_string(),
            }
        }
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(ch) => out.push(ch),
            None => return s.to_string(),
        }
    }
    out
}

async fn label_lookup(
    s: Arc<ApiOptions>,
    p: Params,
    name: Option<String>,
) -> Result<Response, ApiError> {
    let sets = matcher_sets(&p)?;
    let start = p.time("start", MIN_TIME)?;
    let end = p.time("end", MAX_TIME)?;
    let limit = p.limit("limit")?;
    let (mut out, mut warnings) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let q = s.queryable.querier(start, end).map_err(|e| ApiError::internal(e.to_string()))?;
        let hints = LabelHints::default();
        let mut all = BTreeSet::new();
        let mut warnings = Vec::new();
        let sets = if sets.is_empty() { vec![Vec::new()] } else { sets };
        for m in &sets {
            let (vals, w) = match &name {
                Some(n) => q.label_values(n, &hints, m),
                None => q.label_names(&hints, m),
            }
            .map_err(|e| ApiError::internal(e.to_string()))?;
            all.extend(vals);
            warnings.extend(w);
        }
        Ok((all.into_iter().collect::<Vec<String>>(), warnings))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    if limit > 0 && out.len() > limit {
        out.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    Ok(success_warn(json!(out), warnings))
}

async fn targets(State(s): St, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), b"");
    let state = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool = p.get("scrapePool").filter(|v| !v.is_empty());
    let want_active = state == "any" || state == "active" || state.is_empty();
    let want_dropped = state == "any" || state == "dropped" || state.is_empty();
    let active: Vec<Json> = if want_active {
        s.targets
            .active()
            .into_iter()
            .filter(|t| pool.is_none_or(|p| p == t.scrape_pool))
            .map(|t| {
                json!({
                    "discoveredLabels": map_json(&t.discovered_labels),
                    "labels": map_json(&t.labels),
                    "scrapePool": t.scrape_pool,
                    "scrapeUrl": t.scrape_url,
                    "globalUrl": t.global_url,
                    "lastError": t.last_error,
                    "lastScrape": rfc3339(t.last_scrape),
                    "lastScrapeDuration": t.last_scrape_duration,
                    "health": t.health,
                    "scrapeInterval": t.scrape_interval,
                    "scrapeTimeout": t.scrape_timeout,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let dropped_all = s.targets.dropped();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for t in s.targets.active() {
        counts.entry(t.scrape_pool).or_default();
    }
    for d in &dropped_all {
        *counts.entry(d.scrape_pool.clone()).or_default() += 1;
    }
    let dropped: Vec<Json> = if want_dropped {
        dropped_all
            .iter()
            .filter(|t| pool.is_none_or(|p| p == t.scrape_pool))
            .map(|t| json!({"discoveredLabels": map_json(&t.discovered_labels), "scrapePool": t.scrape_pool}))
            .collect()
    } else {
        Vec::new()
    };
    Ok(success(
        json!({"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts}),
    ))
}

async fn targets_metadata(State(s): St, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), b"");
    let limit = p.limit("limit")?;
    let metric = p.get("metric").filter(|m| !m.is_empty());
    let target_matchers = match p.get("match_target").filter(|m| !m.is_empty()) {
        Some(sel) => Some(parse_selector(sel).map_err(ApiError::bad_data)?),
        None => None,
    };
    let mut out = Vec::new();
    for md in s.targets.metadata() {
        if metric.is_some_and(|m| m != md.metric) {
            continue;
        }
        if let Some(ms) = &target_matchers {
            let l = Labels::from_pairs(md.target.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if !storage::matches_all(&l, ms) {
                continue;
            }
        }
        out.push(json!({
            "target": map_json(&md.target),
            "metric": md.metric,
            "type": md.metadata.metric_type,
            "help": md.metadata.help,
            "unit": md.metadata.unit,
        }));
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
    Ok(success(Json::Array(out)))
}

async fn metadata(State(s): St, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), b"");
    let limit = p.limit("limit")?;
    let per_metric = p.limit("limit_per_metric")?;
    let metric = p.get("metric").filter(|m| !m.is_empty());
    let mut by_metric: BTreeMap<String, BTreeSet<crate::MetricMetadata>> = BTreeMap::new();
    for md in s.targets.metadata() {
        if metric.is_some_and(|m| m != md.metric) {
            continue;
        }
        by_metric.entry(md.metric).or_default().insert(md.metadata);
    }
    let mut out = serde_json::Map::new();
    for (name, mds) in by_metric {
        if limit > 0 && out.len() >= limit {
            break;
        }
        let list: Vec<Json> = mds
            .into_iter()
            .take(if per_metric > 0 { per_metric } else { usize::MAX })
            .map(|m| json!({"type": m.metric_type, "help": m.help, "unit": m.unit}))
            .collect();
        out.insert(name, Json::Array(list));
    }
    Ok(success(Json::Object(out)))
}

async fn status_config(State(s): St) -> Response {
    success(json!({"yaml": s.status.config_yaml()}))
}

async fn status_flags(State(s): St) -> Response {
    let m: serde_json::Map<String, Json> =
        s.status.flags().into_iter().map(|(k, v)| (k, Json::String(v))).collect();
    success(Json::Object(m))
}

async fn status_runtime(State(s): St) -> Response {
    let r = s.status.runtime_info();
    success(json!({
        "startTime": rfc3339(r.start_time),
        "CWD": r.cwd,
        "hostname": std::env::var("HOSTNAME").unwrap_or_default(),
        "serverTime": rfc3339(Some(SystemTime::now())),
        "reloadConfigSuccess": r.reload_config_success,
        "lastConfigTime": rfc3339(r.last_config_time),
        "corruptionCount": 0,
        "goroutineCount": r.goroutine_count,
        "GOMAXPROCS": r.gomaxprocs,
        "GOMEMLIMIT": i64::MAX,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": r.storage_retention,
    }))
}

async fn status_build(State(s): St) -> Response {
    let b = &s.build_info;
    success(json!({
        "version": b.version,
        "revision": b.revision,
        "branch": b.branch,
        "buildUser": b.build_user,
        "buildDate": b.build_date,
        "goVersion": b.go_version,
    }))
}

fn pairs(v: &[(String, u64)]) -> Json {
    Json::Array(v.iter().map(|(n, c)| json!({"name": n, "value": c})).collect())
}

async fn status_tsdb(State(s): St, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref(), b"");
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad_data("limit must be a positive number"))?,
    };
    let t = s.status.tsdb_status(limit);
    Ok(success(json!({
        "headStats": {
            "numSeries": t.num_series,
            "numLabelPairs": t.num_label_pairs,
            "chunkCount": t.chunk_count,
            "minTime": t.min_time,
            "maxTime": t.max_time,
        },
        "seriesCountByMetricName": pairs(&t.series_count_by_metric_name),
        "labelValueCountByLabelName": pairs(&t.label_value_count_by_label_name),
        "memoryInBytesByLabelName": pairs(&t.memory_in_bytes_by_label_name),
        "seriesCountByLabelValuePair": pairs(&t.series_count_by_label_value_pair),
    })))
}

async fn status_walreplay(State(s): St) -> Response {
    let w = s.status.wal_replay();
    success(json!({"min": w.min, "max": w.max, "current": w.current}))
}

async fn healthy() -> Response {
    (StatusCode::OK, "Prometheus Server is Healthy.\n").into_response()
}

async fn ready(State(s): St) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "Prometheus Server is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
    }
}

async fn reload(State(s): St, method: Method) -> Response {
    if method != Method::POST && method != Method::PUT {
        return (StatusCode::METHOD_NOT_ALLOWED, "Only POST or PUT requests allowed")
            .into_response();
    }
    if !s.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    let lc = s.lifecycle.clone();
    match tokio::task::spawn_blocking(move || lc.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, "").into_response(),
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n"))
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n"))
            .into_response(),
    }
}

async fn quit(State(s): St, method: Method) -> Response {
    if method != Method::POST && method != Method::PUT {
        return (StatusCode::METHOD_NOT_ALLOWED, "Only POST or PUT requests allowed")
            .into_response();
    }
    if !s.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    s.lifecycle.quit();
    (StatusCode::OK, "Requesting termination... Goodbye!").into_response()
}

async fn metrics(State(s): St) -> Response {
    let text = s.status.metrics_text();
    ([("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

#[cfg(test)]
mod tests;
