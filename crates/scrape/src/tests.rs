//! Scrape tests against real loopback HTTP servers, storing into `storage::MemStorage`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use model::{Labels, MatchType, Matcher, is_stale_nan};
use parking_lot::Mutex;
use storage::{MemStorage, Queryable, ValueKind};

use crate::scrape_loop::ScrapeLoop;
use crate::{Manager, ScrapeOptions};

mod proto;

/// Serves `body` (replaceable) with `ctype` at `/metrics`; returns the address.
async fn serve(body: Arc<Mutex<(u16, String)>>, ctype: &'static str) -> String {
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let body = body.clone();
            async move {
                let (status, text) = body.lock().clone();
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, ctype)],
                    text,
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn opts(yaml_extra: &str) -> ScrapeOptions {
    let c = config::load_str(
        &format!("scrape_configs:\n  - job_name: j\n    scrape_interval: 1s\n{yaml_extra}"),
        "t",
    )
    .unwrap();
    ScrapeOptions::from(&c.scrape_configs[0])
}

fn scrape_loop(addr: &str, o: ScrapeOptions, store: &MemStorage) -> ScrapeLoop {
    let target = Labels::from_pairs([("instance", addr), ("job", "j")]);
    let client = http_client::Client::new(o.http.clone());
    ScrapeLoop::new(
        target,
        format!("http://{addr}/metrics"),
        Arc::new(o),
        client,
        Arc::new(store.clone()),
        Default::default(),
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
}

/// Every sample of series `name` as (t, v).
fn samples(store: &MemStorage, matchers: &[(&str, &str)]) -> Vec<(Labels, Vec<f64>)> {
    let q = store.querier(0, i64::MAX).unwrap();
    let ms: Vec<Matcher> =
        matchers.iter().map(|(n, v)| Matcher::new(MatchType::Equal, *n, *v).unwrap()).collect();
    let mut set = q.select(true, None, &ms);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut vs = Vec::new();
        while c.next() == ValueKind::Float {
            vs.push(c.at().1);
        }
        out.push((s.labels.clone(), vs));
    }
    out
}

#[tokio::test]
async fn scrapes_samples_report_series_and_staleness() {
    let body = Arc::new(Mutex::new((
        200,
        "# TYPE a counter\n# HELP a help a\na_total{x=\"1\"} 5\nb 2\n".to_string(),
    )));
    let addr = serve(body.clone(), "text/plain; version=0.0.4").await;
    let store = MemStorage::new();
    let mut sl = scrape_loop(&addr, opts(""), &store);
    sl.scrape_and_report().await;
    let a = samples(&store, &[("__name__", "a_total")]);
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].0.to_string(),
        format!("{{__name__=\"a_total\", instance=\"{addr}\", job=\"j\", x=\"1\"}}")
    );
    assert_eq!(a[0].1, vec![5.0]);
    assert_eq!(samples(&store, &[("__name__", "up")])[0].1, vec![1.0]);
    assert_eq!(samples(&store, &[("__name__", "scrape_samples_scraped")])[0].1, vec![2.0]);
    assert_eq!(samples(&store, &[("__name__", "scrape_series_added")])[0].1, vec![2.0]);
    assert_eq!(sl.state.lock().metadata["a"].help, "help a");

    // b disappears: it gets a staleness marker.
    tokio::time::sleep(Duration::from_millis(5)).await;
    body.lock().1 = "a_total{x=\"1\"} 6\n".to_string();
    sl.scrape_and_report().await;
    let b = samples(&store, &[("__name__", "b")]);
    assert_eq!(b[0].1.len(), 2);
    assert!(is_stale_nan(b[0].1[1]));
    assert_eq!(samples(&store, &[("__name__", "scrape_series_added")])[0].1, vec![2.0, 0.0]);

    // A failing scrape: up=0, everything stale, error in Prometheus's words.
    tokio::time::sleep(Duration::from_millis(5)).await;
    body.lock().0 = 500;
    sl.scrape_and_report().await;
    assert_eq!(samples(&store, &[("__name__", "up")])[0].1, vec![1.0, 1.0, 0.0]);
    assert!(is_stale_nan(*samples(&store, &[("__name__", "a_total")])[0].1.last().unwrap()));
    assert_eq!(sl.state.lock().last_error, "server returned HTTP status 500 Internal Server Error");
}

#[tokio::test]
async fn series_with_own_timestamps_get_no_staleness_markers() {
    let body = Arc::new(Mutex::new((200, String::new())));
    let addr = serve(body.clone(), "text/plain").await;
    for (extra, own_marked) in [("", false), ("    track_timestamps_staleness: true\n", true)] {
        let store = MemStorage::new();
        let mut sl = scrape_loop(&addr, opts(extra), &store);
        body.lock().1 = "own 1 1000\nplain 2\n".to_string();
        sl.scrape_and_report().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        body.lock().1 = "other 3\n".to_string();
        sl.scrape_and_report().await;
        assert!(is_stale_nan(samples(&store, &[("__name__", "plain")])[0].1[1]));
        let own = samples(&store, &[("__name__", "own")]);
        assert_eq!(own[0].1.len() == 2, own_marked, "{extra:?}: {own:?}");
    }
}

#[tokio::test]
async fn honor_labels_and_exported_prefix() {
    let body = Arc::new(Mutex::new((200, "m{job=\"other\",instance=\"i\"} 1\n".to_string())));
    let addr = serve(body, "text/plain").await;
    let store = MemStorage::new();
    scrape_loop(&addr, opts(""), &store).scrape_and_report().await;
    let m = samples(&store, &[("__name__", "m")]);
    assert_eq!(m[0].0.get("exported_job"), "other");
    assert_eq!(m[0].0.get("job"), "j");
    assert_eq!(m[0].0.get("exported_instance"), "i");

    let store = MemStorage::new();
    scrape_loop(&addr, opts("    honor_labels: true\n"), &store).scrape_and_report().await;
    let m = samples(&store, &[("__name__", "m")]);
    assert_eq!((m[0].0.get("job"), m[0].0.get("instance")), ("other", "i"));
}

#[tokio::test]
async fn limits_fail_the_scrape_with_prometheus_errors() {
    let body = Arc::new(Mutex::new((200, "a 1\nb 2\nc 3\n".to_string())));
    let addr = serve(body, "text/plain").await;
    for (extra, want) in [
        ("    sample_limit: 2\n", "sample limit exceeded"),
        ("    body_size_limit: 1B\n", "body size limit exceeded"),
        ("    label_limit: 1\n", "label_limit exceeded (metric: a, number of labels: 3, limit: 1)"),
    ] {
        let store = MemStorage::new();
        let mut sl = scrape_loop(&addr, opts(extra), &store);
        sl.scrape_and_report().await;
        assert_eq!(sl.state.lock().last_error, want, "{extra}");
        assert_eq!(samples(&store, &[("__name__", "up")])[0].1, vec![0.0]);
        assert!(
            samples(&store, &[("__name__", "a")]).is_empty(),
            "{extra}: no partial scrape is committed"
        );
    }
}

#[tokio::test]
async fn metric_relabeling_drops_series() {
    let body = Arc::new(Mutex::new((200, "keep_me 1\ndrop_me 2\n".to_string())));
    let addr = serve(body, "text/plain").await;
    let store = MemStorage::new();
    let o = opts(
        "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_.*\n        action: drop\n",
    );
    scrape_loop(&addr, o, &store).scrape_and_report().await;
    assert!(samples(&store, &[("__name__", "drop_me")]).is_empty());
    assert_eq!(
        samples(&store, &[("__name__", "scrape_samples_post_metric_relabeling")])[0].1,
        vec![1.0]
    );
}

#[tokio::test]
async fn unreachable_target_is_down() {
    let store = MemStorage::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut sl = scrape_loop(&addr, opts(""), &store);
    sl.scrape_and_report().await;
    let err = sl.state.lock().last_error.clone();
    assert_eq!(
        err,
        format!("Get \"http://{addr}/metrics\": dial tcp {addr}: connect: connection refused")
    );
}

#[tokio::test]
async fn manager_runs_pools_and_stops_with_staleness() {
    let body = Arc::new(Mutex::new((200, "m 1\n".to_string())));
    let addr = serve(body, "text/plain").await;
    let store = MemStorage::new();
    let m = Manager::new(Arc::new(store.clone()));
    m.apply_config(vec![opts("")]);
    m.sync(
        "j",
        discovery::static_groups([(
            &[addr.clone()][..],
            vec![("env".to_string(), "x".to_string())],
        )]),
    );
    let t = m.active_targets();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].labels.get("env"), "x");
    assert_eq!(t[0].scrape_url, format!("http://{addr}/metrics"));
    for _ in 0..40 {
        if !samples(&store, &[("__name__", "m")]).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(m.active_targets()[0].health, crate::TargetHealth::Up);
    m.stop().await;
    let s = samples(&store, &[("__name__", "m")]);
    assert!(is_stale_nan(*s[0].1.last().unwrap()), "stopping marks the target's series stale");
}

#[tokio::test]
async fn target_limit_fails_every_target_of_the_pool() {
    let body = Arc::new(Mutex::new((200, "m 1\n".to_string())));
    let addr = serve(body, "text/plain").await;
    let store = MemStorage::new();
    let m = Manager::new(Arc::new(store.clone()));
    m.apply_config(vec![opts("    target_limit: 1\n")]);
    let targets = [addr.clone(), format!("localhost:{}", addr.rsplit(':').next().unwrap())];
    m.sync("j", discovery::static_groups([(&targets[..], vec![])]));
    let mut errs = Vec::new();
    for _ in 0..40 {
        errs = m.active_targets().iter().map(|t| t.last_error.clone()).collect();
        if errs.iter().all(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(errs, vec!["target_limit exceeded (number of targets: 2, limit: 1)"; 2]);
    assert!(samples(&store, &[("__name__", "m")]).is_empty(), "nothing is scraped over the limit");
    assert!(
        samples(&store, &[("__name__", "up")]).iter().all(|(_, v)| v.iter().all(|x| *x == 0.0))
    );
    m.stop().await;
}

/// Serves a fixed body only to requests carrying the expected `Authorization` header, gzip-compressed when the
/// scraper accepts it; records the request headers it saw.
async fn serve_checked(auth: &'static str, seen: Arc<Mutex<Vec<String>>>) -> String {
    use axum::http::HeaderMap;
    use std::io::Write;
    let app = axum::Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let get = |k: &str| {
                    headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
                };
                seen.lock().push(format!(
                    "auth={} enc={} accept={}",
                    get("authorization"),
                    get("accept-encoding"),
                    get("accept")
                ));
                if get("authorization") != auth {
                    return (axum::http::StatusCode::UNAUTHORIZED, HeaderMap::new(), Vec::new());
                }
                let body = b"m 1 1000\n".to_vec();
                let mut h = HeaderMap::new();
                h.insert(header::CONTENT_TYPE, "text/plain; version=0.0.4".parse().unwrap());
                if get("accept-encoding").contains("gzip") {
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    enc.write_all(&body).unwrap();
                    h.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
                    return (axum::http::StatusCode::OK, h, enc.finish().unwrap());
                }
                (axum::http::StatusCode::OK, h, body)
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn basic_auth_gzip_and_honor_timestamps() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    // "u:p" in base64.
    let addr = serve_checked("Basic dTpw", seen.clone()).await;
    let store = MemStorage::new();
    let o = opts("    basic_auth:\n      username: u\n      password: p\n");
    let client = http_client::Client::new(o.http.clone());
    let mut sl = ScrapeLoop::new(
        Labels::from_pairs([("instance", addr.as_str()), ("job", "j")]),
        format!("http://{addr}/metrics"),
        Arc::new(o),
        client,
        Arc::new(store.clone()),
        Default::default(),
        Duration::from_secs(1),
        Duration::from_millis(500),
    );
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "");
    let q = store.querier(0, i64::MAX).unwrap();
    let mut set = q.select(true, None, &[Matcher::equal("__name__", "m")]);
    let mut c = set.next().unwrap().cursor();
    assert_eq!(c.next(), storage::ValueKind::Float);
    assert_eq!(c.at(), (1000, 1.0), "the exposed timestamp is kept (honor_timestamps)");
    let req = seen.lock()[0].clone();
    assert!(req.contains("enc=gzip"), "{req}");
    assert!(
        req.contains(
            "accept=application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6"
        ),
        "{req}"
    );

    // Without credentials the target answers 401, reported in Prometheus's words.
    let mut sl = scrape_loop(&addr, opts("    honor_timestamps: false\n"), &MemStorage::new());
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "server returned HTTP status 401 Unauthorized");
}

#[tokio::test]
async fn dropped_targets_are_kept_up_to_the_limit() {
    let store = MemStorage::new();
    let m = Manager::new(Arc::new(store));
    let drop_all = "    relabel_configs:\n      - source_labels: [__address__]\n        regex: '.*'\n        action: drop\n";
    m.apply_config(vec![opts(&format!("{drop_all}    keep_dropped_targets: 2\n"))]);
    let targets: Vec<String> = (1..=5).map(|i| format!("h:{i}")).collect();
    m.sync("j", discovery::static_groups([(&targets[..], vec![])]));
    assert!(m.active_targets().is_empty());
    assert_eq!(m.dropped_targets().len(), 2);
    m.apply_config(vec![opts(drop_all)]);
    m.sync("j", discovery::static_groups([(&targets[..], vec![])]));
    assert_eq!(m.dropped_targets().len(), 5, "0 keeps every dropped target");
    m.stop().await;
}

/// Records what the loops report, for the interval-length metric.
#[derive(Debug, Default)]
struct Intervals(Mutex<Vec<(String, Duration)>>);

impl crate::IntervalObserver for Intervals {
    fn observe(&self, interval: &str, actual: Duration) {
        self.0.lock().push((interval.to_string(), actual));
    }
}

#[tokio::test]
async fn every_scrape_after_the_first_reports_its_interval() {
    let addr = serve(Arc::new(Mutex::new((200, "m 1\n".into()))), "text/plain").await;
    let store = MemStorage::new();
    let mut sl = scrape_loop(&addr, opts(""), &store);
    let seen = Arc::new(Intervals::default());
    let stats = Arc::new(crate::ScrapeStats::default());
    let _ = stats.intervals.set(seen.clone());
    sl.stats = stats;
    sl.scrape_and_report().await;
    assert!(seen.0.lock().is_empty(), "the first scrape has no previous one");
    tokio::time::sleep(Duration::from_millis(50)).await;
    sl.scrape_and_report().await;
    // The loop's 1s interval, as Go prints durations.
    let got = seen.0.lock().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "1s");
    assert!(got[0].1 >= Duration::from_millis(50), "{got:?}");
}

#[test]
fn scrape_timestamps_snap_to_the_schedule_within_the_tolerance() {
    use crate::scrape_loop::align_timestamp;
    let (sec, tol) = (Duration::from_secs(1), Duration::from_millis(2));
    // The first scrape sets the schedule.
    assert_eq!(align_timestamp(10_000, None, sec, tol), (10_000, 10_000));
    // Up to 2 ms late or early: the scheduled time; 3 ms late or early: the actual time, schedule kept.
    assert_eq!(align_timestamp(11_002, Some(10_000), sec, tol), (11_000, 11_000));
    assert_eq!(align_timestamp(11_998, Some(11_000), sec, tol), (12_000, 12_000));
    assert_eq!(align_timestamp(12_997, Some(12_000), sec, tol), (12_997, 12_000));
    assert_eq!(align_timestamp(12_003, Some(11_000), sec, tol), (12_003, 12_000));
    // Never the previous scheduled time again, however early.
    assert_eq!(align_timestamp(12_001, Some(12_000), sec, tol), (12_001, 12_000));
    // A skipped tick moves the schedule on by whole intervals.
    assert_eq!(align_timestamp(15_001, Some(12_000), sec, tol), (15_000, 15_000));
    // The tolerance is capped at 1 % of the interval: 1 ms at 100 ms.
    let fast = Duration::from_millis(100);
    assert_eq!(align_timestamp(1_102, Some(1_000), fast, tol), (1_102, 1_100));
    assert_eq!(align_timestamp(1_201, Some(1_100), fast, tol), (1_200, 1_200));
}
