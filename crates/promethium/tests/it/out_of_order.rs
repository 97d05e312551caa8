//! Out-of-order ingestion through the whole server: a target exposing its own timestamps (honoured by default)
//! goes back in time on every other scrape; with `storage.tsdb.out_of_order_time_window` those samples are kept,
//! survive a `kill -9` through the WBL and the out-of-order chunks in `chunks_head/`, and Debian's Prometheus
//! 2.42 (`promtool tsdb dump` and the server) reads the same samples from our data directory. With short blocks,
//! the same goes once they are compacted into out-of-order blocks and merged with the in-order ones.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::{Proc, enc, eventually, free_port, missing_peer, serve_series, system_bin};
use crate::server::start;

type Samples = BTreeMap<String, Vec<(i64, String)>>;

/// `m[10m]` at `time` (seconds), as labels → samples.
fn range_of_m(p: &Proc, time: i64) -> Samples {
    let v = p.json(&format!("/api/v1/query?query={}&time={time}", enc("m[10m]")));
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let key = format!("m{{i=\"{}\"}}", s["metric"]["i"].as_str().unwrap());
        let values = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().to_string())
            })
            .collect();
        out.insert(key, values);
    }
    out
}

fn metric(p: &Proc, series: &str) -> f64 {
    let (_, text) = p.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `promtool tsdb dump` of the `m` series.
fn promtool_dump(promtool: &std::path::Path, data: &std::path::Path) -> Samples {
    let out = Command::new(promtool).args(["tsdb", "dump"]).arg(data).output().unwrap();
    assert!(out.status.success(), "dump: {}", String::from_utf8_lossy(&out.stderr));
    let mut dumped: Samples = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
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

#[test]
fn out_of_order_scraped_samples_survive_kill_9_and_read_back_in_prometheus_2_42() {
    let dir = tempfile::tempdir().unwrap();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // A minute in the past: scrape k is exposed at base + k s, every even one 1.5 s earlier, so it lies
    // 0.5 s before the previous scrape's sample.
    let base = now_ms - 60_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 3, move |k, i| {
        let k = k as i64;
        let t = if k % 2 == 1 { base + k * 1000 } else { base + k * 1000 - 1500 };
        format!("{} {t}", k * 10 + i as i64)
    });
    let storage = "storage:\n  tsdb:\n    out_of_order_time_window: 10m\n";
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\n{storage}scrape_configs:\n  - job_name: g\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let flags = [format!("--config.file={}", cfg.display())];
    let at = base / 1000 + 590;
    let p = start(dir.path(), &flags);
    // 40 out-of-order samples per series: more than one out-of-order chunk (32) each.
    let ooo = "prometheus_tsdb_head_out_of_order_samples_appended_total{type=\"float\"}";
    eventually(Duration::from_secs(60), "120 out-of-order samples", || {
        (metric(&p, ooo) >= 120.0).then_some(())
    });
    assert_eq!(metric(&p, "prometheus_tsdb_too_old_samples_total{type=\"float\"}"), 0.0);
    assert!(metric(&p, "prometheus_tsdb_out_of_order_wbl_storage_size_bytes") > 0.0);
    let acked = range_of_m(&p, at);
    assert_eq!(acked.len(), 3);
    for (k, v) in &acked {
        assert!(v.len() >= 80, "{k}: {} samples", v.len());
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "{k}: sorted, each timestamp once");
        // Both the in-order and the out-of-order scrapes are there.
        assert!(v.iter().any(|(t, _)| (t - base) % 1000 == 500), "{k}");
        assert!(v.iter().any(|(t, _)| (t - base) % 1000 == 0), "{k}");
    }
    drop(p); // SIGKILL

    // Restarted without targets: what was acknowledged comes back from the WAL, the WBL and chunks_head/.
    std::fs::write(&cfg, format!("global:\n  scrape_interval: 1h\n{storage}")).unwrap();
    let mut p = start(dir.path(), &flags);
    let after = range_of_m(&p, at);
    for (k, v) in &acked {
        let got = &after[k];
        let lost: Vec<_> = v.iter().filter(|s| !got.contains(s)).take(5).collect();
        assert!(lost.is_empty(), "{k}: lost {lost:?}");
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{k}");
    }
    assert!(p.log_text().contains("WBL replay completed"), "{}", p.log_text());
    Command::new("kill").arg("-TERM").arg(p.child.id().to_string()).status().unwrap();
    assert!(p.child.wait().unwrap().success(), "{}", p.log_text());

    let (Some(prometheus), Some(promtool)) = (system_bin("prometheus"), system_bin("promtool"))
    else {
        missing_peer("Debian's prometheus and promtool");
        return;
    };
    let data = dir.path().join("data");
    assert_eq!(promtool_dump(&promtool, &data), after, "promtool 2.42 dumps what our API returns");
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
    assert_eq!(range_of_m(&reference, at), after, "Prometheus 2.42 answers differently");
}

#[test]
fn out_of_order_samples_are_compacted_merged_and_kept_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let base = now_ms - 600_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 3, move |k, i| {
        let k = k as i64;
        let t = if k % 2 == 1 { base + k * 1000 } else { base + k * 1000 - 1500 };
        format!("{} {t}", k * 10 + i as i64)
    });
    let storage = "storage:\n  tsdb:\n    out_of_order_time_window: 10m\n";
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\n{storage}scrape_configs:\n  - job_name: g\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    // Blocks of 2 s of data (the target's clock runs ten times faster): the head is cut while samples keep
    // arriving behind its lower bound, which the window accepts.
    let flags = [
        format!("--config.file={}", cfg.display()),
        "--storage.tsdb.min-block-duration=2s".to_string(),
        "--storage.tsdb.max-block-duration=2s".to_string(),
    ];
    let at = base / 1000 + 590;
    let p = start(dir.path(), &flags);
    let data = dir.path().join("data");
    let ooo = "prometheus_tsdb_head_out_of_order_samples_appended_total{type=\"float\"}";
    eventually(Duration::from_secs(90), "merged out-of-order blocks", || {
        (metric(&p, "prometheus_tsdb_vertical_compactions_total") >= 2.0
            && metric(&p, ooo) >= 120.0)
            .then_some(())
    });
    let acked = range_of_m(&p, at);
    drop(p); // SIGKILL
    for (k, v) in &acked {
        assert!(v.len() >= 40, "{k}: {} samples", v.len());
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "{k}: sorted, each timestamp once");
        assert!(v.iter().any(|(t, _)| (t - base) % 1000 == 500), "{k}: out-of-order samples");
    }

    std::fs::write(&cfg, format!("global:\n  scrape_interval: 1h\n{storage}")).unwrap();
    let mut p = start(dir.path(), &flags);
    let after = range_of_m(&p, at);
    for (k, v) in &acked {
        let got = &after[k];
        let lost: Vec<_> = v.iter().filter(|s| !got.contains(s)).take(5).collect();
        assert!(lost.is_empty(), "{k}: lost {lost:?}");
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{k}");
    }
    Command::new("kill").arg("-TERM").arg(p.child.id().to_string()).status().unwrap();
    assert!(p.child.wait().unwrap().success(), "{}", p.log_text());
    let blocks = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("meta.json").exists())
        .count();
    assert!(blocks > 0);

    let Some(prometheus) = system_bin("prometheus") else {
        missing_peer("Debian's prometheus");
        return;
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let mut reference = Proc::start(
        &prometheus,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--storage.tsdb.min-block-duration=2s".to_string(),
            "--storage.tsdb.max-block-duration=2s".to_string(),
        ],
        addr,
        dir.path().join("prometheus.log"),
    );
    reference.wait_ready("/-/ready", Duration::from_secs(60));
    assert_eq!(range_of_m(&reference, at), after, "Prometheus 2.42 answers differently");
}
