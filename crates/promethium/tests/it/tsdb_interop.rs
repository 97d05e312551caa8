//! Our data directory read by Prometheus 2.42: after ingesting and compacting, `promtool tsdb analyze` and `dump`
//! succeed on it and dump exactly the samples our API returns, and the Prometheus 2.42 server started on it
//! answers the same queries.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Proc, enc, eventually, free_port, missing_peer, serve_series, system_bin};
use crate::server::start;

type Samples = BTreeMap<String, Vec<(i64, String)>>;

/// `promtool tsdb dump` of the `m` series, stale markers included (they print as NaN).
fn promtool_dump(promtool: &std::path::Path, data: &std::path::Path) -> Samples {
    let out = Command::new(promtool).args(["tsdb", "dump"]).arg(data).output().unwrap();
    assert!(out.status.success(), "dump: {}", String::from_utf8_lossy(&out.stderr));
    let mut dumped: Samples = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        // `{__name__="m", i="7", instance="…", job="g"} 31.25 1764…`
        if !line.starts_with("{__name__=\"m\"") {
            continue;
        }
        let i = line.split("i=\"").nth(1).unwrap().split('"').next().unwrap();
        let mut rest = line.rsplit(' ');
        let t: i64 = rest.next().unwrap().parse().unwrap();
        let v = rest.next().unwrap().to_string();
        dumped.entry(format!("m{{i=\"{i}\"}}")).or_default().push((t, v));
    }
    for v in dumped.values_mut() {
        v.sort_by_key(|(t, _)| *t);
        v.dedup();
    }
    dumped
}

/// `m[1h]` at `time` (seconds) as labels → samples, from any Prometheus-compatible API.
fn range_of_m(p: &Proc, time: &str) -> Samples {
    let v = p.json(&format!("/api/v1/query?query={}&time={time}", enc("m[1h]")));
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let key = format!("m{{i=\"{}\"}}", s["metric"]["i"].as_str().unwrap());
        let values = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.insert(key, values);
    }
    out
}

#[test]
fn prometheus_2_42_reads_our_compacted_data_directory() {
    let (Some(prometheus), Some(promtool)) = (system_bin("prometheus"), system_bin("promtool"))
    else {
        missing_peer("Debian's prometheus and promtool");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 50, |k, i| format!("{}.25", k * 3 + i as u64));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: g\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    // Blocks of 5 s, so compaction happens within the test.
    let mut ours = start(
        dir.path(),
        &[
            format!("--config.file={}", cfg.display()),
            "--storage.tsdb.min-block-duration=5s".into(),
            // No leveled compaction: the block count below only grows.
            "--storage.tsdb.max-block-duration=5s".into(),
        ],
    );
    eventually(Duration::from_secs(60), "three blocks written", || {
        let (_, metrics) = ours.get("/metrics");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("prometheus_tsdb_blocks_loaded "))
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|n| *n >= 3.0)
    });
    // Stop scraping (graceful shutdown), then compare at a fixed time after the last sample.
    Command::new("kill").arg("-TERM").arg(ours.child.id().to_string()).status().unwrap();
    let status = ours.child.wait().unwrap();
    assert!(status.success(), "{}", ours.log_text());
    let data = dir.path().join("data");
    let blocks = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("meta.json").exists())
        .count();
    assert!(blocks >= 3, "{blocks} blocks");
    let before_restart = promtool_dump(&promtool, &data);
    let stale =
        before_restart.values().filter(|v| v.last().is_some_and(|(_, v)| v == "NaN")).count();
    assert_eq!(stale, 50, "every series ends in the stale marker written at shutdown");

    // Restart ours read-only in effect (no targets) to ask the API.
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let ours = start(dir.path(), &[format!("--config.file={}", cfg.display())]);
    let now = format!(
        "{:.3}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
    );
    let api = range_of_m(&ours, &now);
    assert_eq!(api.len(), 50);
    let total: usize = api.values().map(Vec::len).sum();
    assert!(total > 50 * 20, "{total} samples");
    drop(ours);

    // promtool 2.42 analyzes the newest block and dumps blocks plus WAL: exactly our samples.
    let out = Command::new(&promtool).args(["tsdb", "analyze"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "analyze: {}", String::from_utf8_lossy(&out.stderr));
    let analysis = String::from_utf8_lossy(&out.stdout);
    assert!(analysis.contains("Block ID:") && analysis.contains("Series: "), "{analysis}");
    let dumped = promtool_dump(&promtool, &data);
    assert_eq!(dumped, before_restart, "the restart changed what promtool dumps");
    // The API leaves out the stale markers written at shutdown.
    let dumped: Samples = dumped
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().filter(|(_, v)| v != "NaN").collect()))
        .collect();
    assert_eq!(dumped, api, "promtool tsdb dump differs from our API");

    // Prometheus 2.42 on the same directory answers the same query.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut reference = Proc::start(
        &prometheus,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
        ],
        addr,
        dir.path().join("prometheus.log"),
    );
    reference.wait_ready("/-/ready", Duration::from_secs(60));
    assert_eq!(range_of_m(&reference, &now), api, "Prometheus 2.42 answers differently");
}

#[test]
fn admin_api_deletes_snapshots_and_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 5, |k, i| format!("{}.25", k * 3 + i as u64));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: g\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let p = start(
        dir.path(),
        &[format!("--config.file={}", cfg.display()), "--web.enable-admin-api".into()],
    );
    let count = |p: &Proc, sel: &str| -> Vec<i64> {
        let v = p.json(&format!("/api/v1/query?query={}", enc(&format!("{sel}[1h]"))));
        v["data"]["result"][0]["values"]
            .as_array()
            .map(|a| a.iter().map(|x| (x[0].as_f64().unwrap() * 1000.0).round() as i64).collect())
            .unwrap_or_default()
    };
    eventually(Duration::from_secs(20), "ten samples", || {
        (count(&p, "m{i=\"3\"}").len() >= 10).then_some(())
    });
    let cut = count(&p, "m{i=\"3\"}").last().copied().unwrap();
    let (status, body) = p.post(
        "/api/v1/admin/tsdb/delete_series",
        &format!("match[]={}&end={}", enc("m{i=\"3\"}"), cut as f64 / 1000.0),
    );
    assert_eq!(status, 204, "{body}");
    assert!(count(&p, "m{i=\"3\"}").iter().all(|t| *t > cut), "samples up to the cut are gone");
    assert!(count(&p, "m{i=\"2\"}").iter().any(|t| *t <= cut), "other series are untouched");
    let (status, body) = p.post("/api/v1/admin/tsdb/snapshot", "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let name = v["data"]["name"].as_str().unwrap();
    let snap = dir.path().join("data").join("snapshots").join(name);
    let blocks = std::fs::read_dir(&snap)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("meta.json").exists())
        .count();
    assert_eq!(blocks, 1, "the head is written into the snapshot as a block");
    let (status, body) = p.post("/api/v1/admin/tsdb/clean_tombstones", "");
    assert_eq!(status, 204, "{body}");
    drop(p);

    let p = start(dir.path(), &[format!("--config.file={}", cfg.display())]);
    let (status, body) = p.post("/api/v1/admin/tsdb/snapshot", "");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("admin APIs disabled"), "{body}");
    // The deletion was logged: it holds after the restart.
    let kept = count(&p, "m{i=\"3\"}");
    assert!(kept.iter().all(|t| *t > cut), "{kept:?}");
}
