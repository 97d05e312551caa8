//! The notifier against a real HTTP server on loopback standing in for Alertmanager's v2 API.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use config::AlertmanagerConfig;
use discovery::TargetGroup;
use model::Labels;
use notifier::{Alert, Notifier, Options, resolve_targets};
use parking_lot::Mutex;

fn am_config(yaml_json: serde_json::Value) -> AlertmanagerConfig {
    let a =
        config::AlertingConfig::from_value(&serde_json::json!({ "alertmanagers": [yaml_json] }))
            .unwrap();
    a.alertmanagers.into_iter().next().unwrap()
}

fn group(addrs: &[&str]) -> Vec<TargetGroup> {
    vec![TargetGroup {
        source: "0".into(),
        targets: addrs.iter().map(|a| Labels::from_pairs([("__address__", *a)])).collect(),
        labels: Labels::empty(),
    }]
}

type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A stand-in Alertmanager recording each request's `Authorization` header and JSON body.
async fn fake_am(status: StatusCode) -> (String, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/prefix/api/v2/alerts",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                g.lock().push((auth, serde_json::from_str(&body).unwrap()));
                status
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, got)
}

fn alert(name: &str) -> Alert {
    Alert {
        labels: Labels::from_pairs([("alertname", name), ("job", "api")]),
        annotations: Labels::from_pairs([("summary", "it broke")]),
        starts_at: Some(1_700_000_000_000),
        ends_at: Some(1_700_000_240_500),
        generator_url: "http://prom:9090/graph?g0.expr=up&g0.tab=1".into(),
    }
}

#[test]
fn targets_get_path_prefix_default_port_and_relabeling() {
    let cfg = am_config(serde_json::json!({
        "path_prefix": "/am/",
        "relabel_configs": [{"source_labels": ["__address__"], "regex": "drop.*", "action": "drop"}]
    }));
    let (active, dropped) = resolve_targets(&cfg, &group(&["am1:9093", "am2", "drop-me:1"]));
    let urls: Vec<&str> = active.iter().map(|t| t.url.as_str()).collect();
    assert_eq!(urls, ["http://am1:9093/am/api/v2/alerts", "http://am2:80/am/api/v2/alerts"]);
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].labels.get("__address__"), "drop-me:1");
}

#[tokio::test]
async fn sends_v2_json_with_external_labels_and_relabeling() {
    let (addr, got) = fake_am(StatusCode::OK).await;
    let n = Arc::new(Notifier::new(Options::default()));
    let opts = Options {
        external_labels: Labels::from_pairs([("cluster", "eu1"), ("job", "ignored")]),
        relabel: serde_json::from_value(serde_json::json!([
            {"source_labels": ["alertname"], "regex": "Noise", "action": "drop"}
        ]))
        .unwrap(),
        ..Options::default()
    };
    n.apply_config(
        opts,
        &[am_config(serde_json::json!({"path_prefix": "prefix", "authorization": {"credentials": "s3cret"}}))],
    );
    n.set_groups(0, "static", group(&[&addr]));
    n.send(vec![alert("Down"), alert("Noise")]);
    assert_eq!(n.queue_length(), 1);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(n.clone().run(async move {
        let _ = rx.await;
    }));
    for _ in 0..100 {
        if !got.lock().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = tx.send(());
    task.await.unwrap();
    let bodies = got.lock().clone();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].0, "Bearer s3cret");
    assert_eq!(
        bodies[0].1,
        serde_json::json!([{
            "labels": {"alertname": "Down", "cluster": "eu1", "job": "api"},
            "annotations": {"summary": "it broke"},
            "startsAt": "2023-11-14T22:13:20Z",
            "endsAt": "2023-11-14T22:17:20.500Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=up&g0.tab=1"
        }])
    );
    let url = format!("http://{addr}/prefix/api/v2/alerts");
    let per = n.stats().per_am.lock().get(&url).cloned().unwrap();
    assert_eq!(per.sent.load(Ordering::Relaxed), 1);
    assert_eq!(per.errors.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn failures_are_counted_and_queue_overflow_drops_oldest() {
    let (addr, got) = fake_am(StatusCode::INTERNAL_SERVER_ERROR).await;
    let n = Notifier::new(Options::default());
    n.apply_config(
        Options { queue_capacity: 3, ..Options::default() },
        &[am_config(serde_json::json!({"path_prefix": "/prefix"}))],
    );
    n.set_groups(0, "static", group(&[&addr]));
    n.send(vec![alert("A"), alert("B")]);
    n.send(vec![alert("C"), alert("D")]);
    assert_eq!(n.queue_length(), 3);
    assert_eq!(n.stats().dropped.load(Ordering::Relaxed), 1);
    n.send((0..5).map(|i| alert(&format!("X{i}"))).collect());
    assert_eq!(n.queue_length(), 3);
    assert_eq!(n.stats().dropped.load(Ordering::Relaxed), 1 + 2 + 3);
    let ok = n.send_all(&[alert("E")]).await;
    assert!(!ok);
    assert_eq!(got.lock().len(), 1);
    let url = format!("http://{addr}/prefix/api/v2/alerts");
    assert_eq!(n.stats().per_am.lock()[&url].errors.load(Ordering::Relaxed), 1);
}

#[test]
fn table_link() {
    assert_eq!(
        notifier::table_link_for_expression("rate(x{a=\"b\"}[5m]) > 0"),
        "/graph?g0.expr=rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29+%3E+0&g0.tab=1"
    );
}

/// Sends one alert through a fresh notifier to the set `cfg` at `addr` and waits for the outcome.
async fn send_one(cfg: serde_json::Value, addr: &str) -> Arc<Notifier> {
    let n = Arc::new(Notifier::new(Options::default()));
    n.apply_config(Options::default(), &[am_config(cfg)]);
    n.set_groups(0, "static", group(&[addr]));
    n.send(vec![alert("Down")]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let _ = tx.send(());
    // Shut down at once: the queue is drained on shutdown.
    n.clone()
        .run(async move {
            let _ = rx.await;
        })
        .await;
    n
}

#[tokio::test]
async fn sends_over_https_verified_with_the_configured_ca() {
    use http_client::test_util::{Pki, serve};
    let Some(pki) = Pki::generate() else { return };
    let srv = serve(&pki.path("server.crt"), &pki.path("server.key"), None, "").await;
    let addr = format!("localhost:{}", srv.addr.port());
    let url = format!("https://{addr}/api/v2/alerts");

    let n = send_one(
        serde_json::json!({"scheme": "https", "tls_config": {"ca_file": pki.file("ca.crt")}}),
        &addr,
    )
    .await;
    let reqs = srv.requests.lock().clone();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("POST", "/api/v2/alerts"));
    let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(body[0]["labels"]["alertname"], "Down");
    let per = n.stats().per_am.lock().get(&url).cloned().unwrap();
    assert_eq!(per.errors.load(Ordering::Relaxed), 0);

    // Without the CA, or with a CA file that cannot be read, the batch fails and is counted as failed.
    for tls in [serde_json::json!({}), serde_json::json!({"ca_file": pki.file("missing.crt")})] {
        let n = send_one(serde_json::json!({"scheme": "https", "tls_config": tls}), &addr).await;
        let per = n.stats().per_am.lock().get(&url).cloned().unwrap();
        assert_eq!(per.errors.load(Ordering::Relaxed), 1);
    }
    assert_eq!(srv.requests.lock().len(), 1);
}
