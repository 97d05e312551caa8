//! Durability of the whole server: samples acknowledged before a `kill -9` (also during compactions and WAL
//! checkpoints) are there after the restart, exactly once, and a pending alert keeps its pending time across a
//! restart.

use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crash::{Acked, Leftovers, Rng};
use crate::harness::{Proc, enc, eventually, serve_series};
use crate::server::start;

#[test]
fn acknowledged_samples_survive_kill_9_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 2000, |k, i| (k * (i as u64 + 1)).to_string());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: counters\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    // Blocks of 2 s, so kills also land during compactions and WAL checkpoints (`crash_points` makes sure
    // they do).
    let flags = [
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        "--storage.tsdb.min-block-duration=2s".to_string(),
    ];
    let mut rng = Rng::seeded("acknowledged_samples_survive_kill_9_at_random_points");
    let mut acked = Acked::default();
    for round in 0..20 {
        // What a crash left half-written is gone once the server is up.
        let leftovers = Leftovers::scan(&dir.path().join("data"));
        let p = start(dir.path(), &flags);
        leftovers.assert_gone(round);
        // Everything acknowledged before the last kill is back, once.
        acked.assert_kept(&p, round);
        // Ingest a while, note what is acknowledged, then crash at a random point.
        std::thread::sleep(Duration::from_millis(rng.range(200, 1500)));
        acked = Acked::note(&p);
        drop(p); // SIGKILL
    }
    assert!(acked.len() > 3 * 20, "ingestion went on between the crashes: {}", acked.len());
    let blocks = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("meta.json").exists())
        .count();
    assert!(blocks > 0, "compaction ran between the crashes");
}

#[test]
fn a_pending_alert_keeps_its_pending_time_across_a_restart() {
    // The 10 of 15 minutes, scaled to seconds: pending 10 s of a 15 s `for`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 15s\n        labels:\n          severity: page\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global:\n  evaluation_interval: 1s\nrule_files: [\"rules.yml\"]\n",
    )
    .unwrap();
    let flags = [
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        "--rules.alert.for-grace-period=1s".to_string(),
    ];
    let alert = |p: &Proc| -> Option<(String, f64)> {
        let v = p.json("/api/v1/alerts");
        let a = v["data"]["alerts"].as_array()?.first()?.clone();
        let active = chrono::DateTime::parse_from_rfc3339(a["activeAt"].as_str()?).ok()?;
        Some((a["state"].as_str()?.to_string(), active.timestamp_millis() as f64 / 1000.0))
    };
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();

    let p = start(dir.path(), &flags);
    let (state, active_at) =
        eventually(Duration::from_secs(20), "the alert to be pending", || alert(&p));
    assert_eq!(state, "pending");
    while now() < active_at + 10.0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(alert(&p).unwrap().0, "pending");
    drop(p); // SIGKILL
    let killed = now();

    let p = start(dir.path(), &flags);
    let restarted = now();
    // As in Prometheus, restoration runs after the second evaluation; until then the alert shows a fresh
    // activation.
    std::thread::sleep(Duration::from_millis(3000));
    let (state, restored) = alert(&p).expect("the alert after the restart");
    // Prometheus's restoration: the pending time before the crash counts, the downtime does not (activeAt
    // moves later by the downtime, to whole seconds).
    assert!(
        restored < restarted - 6.0 && restored > active_at - 1.0,
        "activeAt {restored}: was {active_at}, killed at {killed}, restarted at {restarted}"
    );
    assert_eq!(state, "pending");
    // About 5 s of the 15 s are left: it fires well before 15 s after the restart.
    let fired = eventually(Duration::from_secs(12), "the alert to fire", || {
        alert(&p).filter(|(s, _)| s == "firing").map(|_| now())
    });
    assert!(fired - restarted < 10.0, "fired {:.1} s after the restart", fired - restarted);
    // Evaluation durations are exported as Prometheus exports them.
    let (_, metrics) = p.get("/metrics");
    for line in [
        "# TYPE prometheus_rule_evaluation_duration_seconds summary",
        "prometheus_rule_evaluation_duration_seconds{quantile=\"0.99\"} ",
        "# TYPE prometheus_rule_group_duration_histogram_seconds histogram",
        "prometheus_rule_group_duration_histogram_seconds_bucket{le=\"+Inf\"} ",
        "prometheus_rule_group_last_rule_duration_sum_seconds{",
    ] {
        assert!(metrics.contains(line), "/metrics lacks {line:?}");
    }
    let count: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("prometheus_rule_group_duration_seconds_count "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(count >= 5.0, "{count} group evaluations counted");
    // The restoration used ALERTS_FOR_STATE from before the crash, read back from the WAL.
    let v = p.json(&format!("/api/v1/query?query={}", enc("ALERTS_FOR_STATE[1h]")));
    let first = v["data"]["result"][0]["values"][0][0].as_f64().unwrap();
    assert!(first < killed, "{v}");
}
