//! Router tests with `oneshot` (no socket): JSON shapes, error envelopes and status codes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use model::{Labels, Value};
use storage::{AppendOptions, Appendable, MemStorage};
use tower::ServiceExt;

use super::*;
use crate::retrieve::*;

struct Fake;

impl TargetRetriever for Fake {
    fn active(&self) -> Vec<ActiveTarget> {
        vec![ActiveTarget {
            labels: BTreeMap::from([("job".to_string(), "a".to_string())]),
            scrape_pool: "a".into(),
            scrape_url: "http://x:1/metrics".into(),
            health: "up".into(),
            scrape_interval: "15s".into(),
            scrape_timeout: "10s".into(),
            ..Default::default()
        }]
    }
    fn dropped(&self) -> Vec<DroppedTarget> {
        vec![DroppedTarget { scrape_pool: "a".into(), ..Default::default() }]
    }
    fn metadata(&self) -> Vec<TargetMetadata> {
        let md =
            MetricMetadata { metric_type: "counter".into(), help: "h".into(), unit: String::new() };
        vec![TargetMetadata {
            target: BTreeMap::from([("job".to_string(), "a".to_string())]),
            metric: "m".into(),
            metadata: md,
        }]
    }
}

impl StatusRetriever for Fake {
    fn config_yaml(&self) -> String {
        "global: {}\n".into()
    }
    fn flags(&self) -> Vec<(String, String)> {
        vec![("web.enable-lifecycle".into(), "false".into())]
    }
    fn runtime_info(&self) -> RuntimeInfo {
        RuntimeInfo::default()
    }
    fn tsdb_status(&self, _limit: usize) -> TsdbStatus {
        TsdbStatus { num_series: 2, ..Default::default() }
    }
    fn metrics_text(&self) -> String {
        "up 1\n".into()
    }
    fn external_labels(&self) -> Vec<(String, String)> {
        vec![("cluster".into(), "eu".into()), ("job".into(), "ignored".into())]
    }
}

impl Lifecycle for Fake {
    fn reload(&self) -> Result<(), String> {
        Err("bad".into())
    }
    fn quit(&self) {}
}

fn app(lifecycle: bool) -> Router {
    let mut opts = options_with(".*");
    opts.enable_lifecycle = lifecycle;
    router(opts)
}

fn options_with(cors: &str) -> ApiOptions {
    let store = MemStorage::new();
    let mut a = store.appender();
    for (job, v) in [("a", 1.0), ("b", 0.0)] {
        let l = Labels::from_pairs([("__name__", "up"), ("job", job)]);
        a.append(0, &l, 0, 1000, Value::Float(v), &AppendOptions::default()).unwrap();
    }
    a.commit().unwrap();
    ApiOptions {
        queryable: Arc::new(store),
        targets: Arc::new(Fake),
        status: Arc::new(Fake),
        lifecycle: Arc::new(Fake),
        enable_lifecycle: false,
        ready: Arc::new(AtomicBool::new(true)),
        build_info: BuildInfo { version: "3.14.0".into(), ..Default::default() },
        engine: promql::Engine::default(),
        exemplars: Some(Arc::new(Fake)),
        rules: Some(Arc::new(Fake)),
        admin: None,
        cors_origin: Some(Arc::new(crate::CorsOrigin::new(cors).unwrap())),
    }
}

async fn call(app: Router, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn series_labels_and_values() {
    let cases: &[(&str, &str, &str, StatusCode, &str)] = &[
        (
            "GET",
            "/api/v1/series?match[]=up",
            "",
            StatusCode::OK,
            r#"{"data":[{"__name__":"up","job":"a"},{"__name__":"up","job":"b"}],"status":"success"}"#,
        ),
        (
            "POST",
            "/api/v1/series",
            "match[]=up%7Bjob%3D%22b%22%7D",
            StatusCode::OK,
            r#"{"data":[{"__name__":"up","job":"b"}],"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/series?match[]=up&limit=1",
            "",
            StatusCode::OK,
            r#"{"data":[{"__name__":"up","job":"a"}],"status":"success","warnings":["results truncated due to limit"]}"#,
        ),
        (
            "GET",
            "/api/v1/series",
            "",
            StatusCode::BAD_REQUEST,
            r#"{"error":"no match[] parameter provided","errorType":"bad_data","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/series?match[]=up&start=x",
            "",
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp","errorType":"bad_data","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/series?match[]=up&start=2&end=3",
            "",
            StatusCode::OK,
            r#"{"data":[],"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/labels",
            "",
            StatusCode::OK,
            r#"{"data":["__name__","job"],"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/label/job/values",
            "",
            StatusCode::OK,
            r#"{"data":["a","b"],"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/label/job/values?match[]=up%7Bjob%3D%22a%22%7D",
            "",
            StatusCode::OK,
            r#"{"data":["a"],"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/status/buildinfo",
            "",
            StatusCode::OK,
            r#"{"data":{"branch":"","buildDate":"","buildUser":"","goVersion":"","revision":"","version":"3.14.0"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/status/config",
            "",
            StatusCode::OK,
            r#"{"data":{"yaml":"global: {}\n"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/metadata",
            "",
            StatusCode::OK,
            r#"{"data":{"m":[{"help":"h","type":"counter","unit":""}]},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22a%22%7D",
            "",
            StatusCode::OK,
            r#"{"data":[{"help":"h","metric":"m","target":{"job":"a"},"type":"counter","unit":""}],"status":"success"}"#,
        ),
    ];
    for (method, uri, body, status, want) in cases {
        let (got_status, got) = call(app(false), method, uri, body).await;
        assert_eq!(got_status, *status, "{method} {uri}: {got}");
        let got_json: serde_json::Value = serde_json::from_str(&got).unwrap();
        let want_json: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(got_json, want_json, "{method} {uri}");
    }
}

#[tokio::test]
async fn targets_filters() {
    let (_, body) = call(app(false), "GET", "/api/v1/targets?state=active", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["activeTargets"][0]["scrapePool"], "a");
    assert_eq!(v["data"]["activeTargets"][0]["lastScrape"], "0001-01-01T00:00:00Z");
    assert_eq!(v["data"]["droppedTargets"], serde_json::json!([]));
    assert_eq!(v["data"]["droppedTargetCounts"]["a"], 1);
    let (_, body) = call(app(false), "GET", "/api/v1/targets?state=dropped", "").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["activeTargets"], serde_json::json!([]));
    assert_eq!(v["data"]["droppedTargets"][0]["scrapePool"], "a");
}

#[tokio::test]
async fn lifecycle_and_health() {
    assert_eq!(
        call(app(false), "POST", "/-/reload", "").await,
        (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.".into())
    );
    assert_eq!(
        call(app(true), "POST", "/-/reload", "").await,
        (StatusCode::INTERNAL_SERVER_ERROR, "failed to reload config: bad\n".into())
    );
    assert_eq!(call(app(true), "GET", "/-/reload", "").await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(call(app(true), "POST", "/-/quit", "").await.0, StatusCode::OK);
    assert_eq!(
        call(app(false), "GET", "/-/healthy", "").await,
        (StatusCode::OK, "Prometheus Server is Healthy.\n".into())
    );
    assert_eq!(call(app(false), "GET", "/nope", "").await.0, StatusCode::NOT_FOUND);
}

#[test]
fn utf8_label_names_in_paths() {
    assert_eq!(unescape_label_name("U__a_2e_b"), "a.b");
    assert_eq!(unescape_label_name("U__a__b"), "a_b");
    assert_eq!(unescape_label_name("job"), "job");
}

#[tokio::test]
async fn federate_returns_the_newest_sample_with_external_labels() {
    let store = MemStorage::new();
    let now = chrono::Utc::now().timestamp_millis();
    let mut a = store.appender();
    let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
    a.append(0, &l, 0, now - 20_000, Value::Float(0.0), &AppendOptions::default()).unwrap();
    a.append(0, &l, 0, now - 10_000, Value::Float(1.0), &AppendOptions::default()).unwrap();
    let gone = Labels::from_pairs([("__name__", "up"), ("job", "gone")]);
    a.append(
        0,
        &gone,
        0,
        now - 10_000,
        Value::Float(model::stale_nan()),
        &AppendOptions::default(),
    )
    .unwrap();
    a.commit().unwrap();
    let app = router(ApiOptions {
        queryable: Arc::new(store),
        targets: Arc::new(Fake),
        status: Arc::new(Fake),
        lifecycle: Arc::new(Fake),
        enable_lifecycle: false,
        ready: Arc::new(AtomicBool::new(true)),
        build_info: BuildInfo::default(),
        engine: promql::Engine::default(),
        exemplars: None,
        rules: None,
        admin: None,
        cors_origin: None,
    });
    let (status, body) = call(app.clone(), "GET", "/federate?match[]=up", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("# TYPE up untyped\nup{{cluster=\"eu\",job=\"a\"}} 1 {}\n", now - 10_000)
    );
    let (status, _) = call(app, "GET", "/federate?match[]=%7B%7D", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn promql_queries() {
    let cases: &[(&str, &str, &str, StatusCode, &str)] = &[
        (
            "GET",
            "/api/v1/query?query=sum(up)&time=2",
            "",
            StatusCode::OK,
            r#"{"data":{"result":[{"metric":{},"value":[2.0,"1"]}],"resultType":"vector"},"status":"success"}"#,
        ),
        (
            "POST",
            "/api/v1/query",
            "query=up%7Bjob%3D%22a%22%7D&time=1970-01-01T00:00:02Z",
            StatusCode::OK,
            r#"{"data":{"result":[{"metric":{"__name__":"up","job":"a"},"value":[2.0,"1"]}],"resultType":"vector"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/query?query=1%2B1&time=5",
            "",
            StatusCode::OK,
            r#"{"data":{"result":[5.0,"2"],"resultType":"scalar"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/query_range?query=up%7Bjob%3D%22b%22%7D&start=1&end=3&step=1s",
            "",
            StatusCode::OK,
            r#"{"data":{"result":[{"metric":{"__name__":"up","job":"b"},"values":[[1.0,"0"],[2.0,"0"],[3.0,"0"]]}],"resultType":"matrix"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/query?query=sum(",
            "",
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis","errorType":"bad_data","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/query_range?query=up&start=3&end=1&step=1",
            "",
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid parameter \"end\": end timestamp must not be before start time","errorType":"bad_data","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/query_range?query=up%5B5m%5D&start=1&end=3&step=1",
            "",
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid expression type \"range vector\" for range query, must be Scalar or instant Vector","errorType":"bad_data","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/query?query=up%20%2B%20on(job)%20group_left%20up%20%2B%20up&time=2",
            "",
            StatusCode::OK,
            r#"{"data":{"result":[{"metric":{"job":"a"},"value":[2.0,"3"]},{"metric":{"job":"b"},"value":[2.0,"0"]}],"resultType":"vector"},"status":"success"}"#,
        ),
        (
            "GET",
            "/api/v1/query?query=sum(up)&time=2&timeout=0s",
            "",
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"query timed out in expression evaluation","errorType":"timeout","status":"error"}"#,
        ),
        (
            "GET",
            "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)",
            "",
            StatusCode::OK,
            r#"{"data":"sum by (job) (rate(x[5m]))","status":"success"}"#,
        ),
    ];
    for (method, uri, body, status, want) in cases {
        let (got_status, got) = call(app(false), method, uri, body).await;
        let got_json: serde_json::Value = serde_json::from_str(&got).unwrap();
        let want_json: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!((got_status, got_json), (*status, want_json), "{method} {uri}");
    }
}

impl crate::RulesRetriever for Fake {
    fn rule_groups(&self) -> Vec<crate::RuleGroupInfo> {
        use std::time::{Duration, UNIX_EPOCH};
        let t = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let alerting = |name: &str, state: &str| crate::RuleInfo {
            name: name.into(),
            query: "up==0".into(),
            labels: Labels::from_pairs([("severity", "page")]),
            health: "ok".into(),
            last_error: String::new(),
            evaluation_time: Duration::from_millis(2),
            last_evaluation: t,
            kind: crate::RuleKind::Alerting {
                state: state.into(),
                duration: Duration::from_secs(300),
                keep_firing_for: Duration::ZERO,
                annotations: Labels::from_pairs([("summary", "{{ $labels.job }} down")]),
                alerts: vec![crate::AlertInfo {
                    labels: Labels::from_pairs([("alertname", name), ("job", "b")]),
                    annotations: Labels::from_pairs([("summary", "b down")]),
                    state: state.into(),
                    active_at: t,
                    keep_firing_since: None,
                    value: 0.0,
                }],
            },
        };
        vec![
            crate::RuleGroupInfo {
                name: "a".into(),
                file: "/etc/r1.yml".into(),
                interval: Duration::from_secs(15),
                limit: 0,
                rules: vec![
                    crate::RuleInfo {
                        name: "job:up:sum".into(),
                        query: "sum by(job)(up)".into(),
                        labels: Labels::empty(),
                        health: "err".into(),
                        last_error: "boom".into(),
                        evaluation_time: Duration::from_millis(1),
                        last_evaluation: t,
                        kind: crate::RuleKind::Recording,
                    },
                    alerting("Down", "firing"),
                ],
                evaluation_time: Duration::from_millis(3),
                last_evaluation: t,
            },
            crate::RuleGroupInfo {
                name: "b".into(),
                file: "/etc/r2.yml".into(),
                interval: Duration::from_secs(60),
                limit: 5,
                rules: vec![alerting("Slow", "pending")],
                evaluation_time: Duration::ZERO,
                last_evaluation: None,
            },
        ]
    }

    fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        (vec!["http://am:9093/api/v2/alerts".into()], vec![])
    }
}

#[tokio::test]
async fn rules_alerts_and_alertmanagers() {
    let app = app(false);
    let (status, body) = call(app.clone(), "GET", "/api/v1/rules", "").await;
    assert_eq!(status, StatusCode::OK);
    let j: Json = serde_json::from_str(&body).unwrap();
    let g = &j["data"]["groups"];
    assert_eq!(g.as_array().unwrap().len(), 2);
    assert_eq!(
        g[0]["rules"][0],
        json!({"name": "job:up:sum", "query": "sum by (job) (up)", "labels": {}, "health": "err",
               "lastError": "boom", "evaluationTime": 0.001, "lastEvaluation": "2023-11-14T22:13:20Z",
               "type": "recording"})
    );
    assert_eq!(g[0]["rules"][1]["query"], "up == 0");
    assert_eq!(g[0]["rules"][1]["duration"], 300.0);
    assert_eq!(g[0]["rules"][1]["alerts"][0]["value"], "0e+00");
    assert_eq!(g[0]["interval"], 15.0);
    assert_eq!(g[1]["lastEvaluation"], "0001-01-01T00:00:00Z");

    let (_, body) = call(app.clone(), "GET", "/api/v1/rules?type=record", "").await;
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["groups"].as_array().unwrap().len(), 1);
    let (_, body) = call(
        app.clone(),
        "GET",
        "/api/v1/rules?type=alert&exclude_alerts=true&rule_name[]=Slow",
        "",
    )
    .await;
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["groups"][0]["name"], "b");
    assert_eq!(j["data"]["groups"][0]["rules"][0]["alerts"], Json::Null);
    let (_, body) = call(
        app.clone(),
        "GET",
        "/api/v1/rules?file[]=/etc/r2.yml&match[]={severity=%22page%22}",
        "",
    )
    .await;
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["groups"].as_array().unwrap().len(), 1);

    let (_, body) = call(app.clone(), "GET", "/api/v1/rules?group_limit=1", "").await;
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["groups"].as_array().unwrap().len(), 1);
    let token = j["data"]["groupNextToken"].as_str().unwrap().to_string();
    let (_, body) = call(
        app.clone(),
        "GET",
        &format!("/api/v1/rules?group_limit=1&group_next_token={token}"),
        "",
    )
    .await;
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["groups"][0]["name"], "b");
    assert!(j["data"].get("groupNextToken").is_none());

    for (uri, msg) in [
        ("/api/v1/rules?type=foo", "invalid parameter \"type\": not supported value \"foo\""),
        (
            "/api/v1/rules?group_next_token=x",
            "invalid parameter \"group_next_token\": group_limit needs to be present in order to paginate over the groups",
        ),
        (
            "/api/v1/rules?group_limit=0",
            "invalid parameter \"group_limit\": group_limit needs to be greater than 0",
        ),
        (
            "/api/v1/rules?group_limit=1&group_next_token=zz",
            "invalid parameter \"group_next_token\": invalid group_next_token 'zz'. were rule groups changed?",
        ),
    ] {
        let (status, body) = call(app.clone(), "GET", uri, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let j: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(j["error"], msg, "{uri}");
        assert_eq!(j["errorType"], "bad_data");
    }

    let (_, body) = call(app.clone(), "GET", "/api/v1/alerts", "").await;
    let j: Json = serde_json::from_str(&body).unwrap();
    let alerts = j["data"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["labels"]["alertname"], "Down");
    assert_eq!(alerts[0]["activeAt"], "2023-11-14T22:13:20Z");
    let (_, body) = call(app, "GET", "/api/v1/alertmanagers", "").await;
    assert_eq!(
        body,
        r#"{"data":{"activeAlertmanagers":[{"url":"http://am:9093/api/v2/alerts"}],"droppedAlertmanagers":[]},"status":"success"}"#
    );
}

#[tokio::test]
async fn parse_query_tree_and_errors() {
    let app = app(false);
    let (status, body) =
        call(app.clone(), "GET", "/api/v1/parse_query?query=up%7Bjob%3D%22a%22%7D", "").await;
    assert_eq!(status, StatusCode::OK);
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["data"]["type"], "vectorSelector");
    assert_eq!(j["data"]["name"], "up");
    let (status, body) = call(app, "POST", "/api/v1/parse_query", "query=sum(up").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let j: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(j["errorType"], "bad_data");
    assert_eq!(
        j["error"],
        "invalid parameter \"query\": 1:7: parse error: unclosed left parenthesis"
    );
}

impl storage::ExemplarQueryable for Fake {
    fn select_exemplars(
        &self,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<model::Matcher>],
    ) -> Result<Vec<(Labels, Vec<model::Exemplar>)>, storage::StorageError> {
        let series = Labels::from_pairs([("__name__", "req_total"), ("job", "a")]);
        let wanted =
            matcher_sets.iter().any(|ms| ms.iter().all(|m| m.matches(series.get(&m.name))));
        let ex = model::Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]),
            value: 0.25,
            ts: Some(1_600_096_945_479),
        };
        let in_range = (start..=end).contains(&1_600_096_945_479);
        Ok(if wanted && in_range { vec![(series, vec![ex])] } else { Vec::new() })
    }
}

#[tokio::test]
async fn query_exemplars() {
    let app = app(false);
    let (status, body) = call(
        app.clone(),
        "GET",
        "/api/v1/query_exemplars?query=rate(req_total%5B5m%5D)&start=1600096900&end=1600097000",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"data":[{"exemplars":[{"labels":{"trace_id":"abc"},"timestamp":1600096945.479,"value":"0.25"}],"seriesLabels":{"__name__":"req_total","job":"a"}}],"status":"success"}"#
    );
    let (_, body) = call(app.clone(), "GET", "/api/v1/query_exemplars?query=1", "").await;
    assert_eq!(body, r#"{"data":null,"status":"success"}"#);
    let (status, body) =
        call(app.clone(), "GET", "/api/v1/query_exemplars?query=up&start=10&end=5", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("end timestamp must not be before start timestamp"), "{body}");
    let (status, body) = call(app, "GET", "/api/v1/query_exemplars?query=sum(", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("parse error"), "{body}");
}

#[tokio::test]
async fn admin_apis_are_unavailable_without_the_flag() {
    for path in ["delete_series?match[]=up", "clean_tombstones", "snapshot"] {
        for method in ["POST", "PUT"] {
            let (status, body) =
                call(app(false), method, &format!("/api/v1/admin/tsdb/{path}"), "").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                v,
                serde_json::json!({"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"})
            );
        }
    }
    let (status, _) = call(app(false), "GET", "/api/v1/admin/tsdb/snapshot", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Prometheus's CORS headers: `*` for the default pattern, the origin itself when a narrower pattern matches,
/// nothing without an `Origin`, and preflights answered on any API path.
#[tokio::test]
async fn cors_headers_follow_the_origin_pattern() {
    async fn headers(
        app: Router,
        method: &str,
        origin: Option<&str>,
    ) -> (StatusCode, Vec<(String, String)>) {
        let mut req = Request::builder().method(method).uri("/api/v1/series?match[]=up");
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let mut h: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("access-control") || k.as_str() == "vary")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        h.sort();
        (resp.status(), h)
    }
    let all = |origin: &str| {
        vec![
            (
                "access-control-allow-headers".to_string(),
                "Accept, Authorization, Content-Type, Origin".to_string(),
            ),
            ("access-control-allow-methods".to_string(), "GET, POST, OPTIONS".to_string()),
            ("access-control-allow-origin".to_string(), origin.to_string()),
            ("access-control-expose-headers".to_string(), "Date".to_string()),
            ("vary".to_string(), "Origin".to_string()),
        ]
    };
    assert_eq!(
        headers(app(false), "GET", Some("http://a.example")).await,
        (StatusCode::OK, all("*"))
    );
    assert_eq!(
        headers(app(false), "GET", None).await,
        (StatusCode::OK, vec![("vary".to_string(), "Origin".to_string())])
    );
    let (status, h) = headers(app(false), "OPTIONS", Some("http://a.example")).await;
    assert_eq!((status, h), (StatusCode::OK, all("*")));
    let narrow = |re: &str| {
        let mut opts = options_with(re);
        opts.enable_lifecycle = false;
        router(opts)
    };
    assert_eq!(
        headers(narrow("https?://a\\.example"), "GET", Some("http://a.example")).await,
        (StatusCode::OK, all("http://a.example"))
    );
    let (_, h) =
        headers(narrow("https?://a\\.example"), "GET", Some("http://a.example.evil")).await;
    assert!(h.iter().all(|(k, _)| k != "access-control-allow-origin"), "{h:?}");
}
