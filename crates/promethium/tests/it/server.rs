//! The server on its own: default configuration, lifecycle endpoints, reload semantics.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{Proc, enc, eventually, free_port};

pub(crate) fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_promethium"))
}

/// Starts promethium with `extra` flags on a free port and a temp data dir; waits for `/-/ready`.
pub(crate) fn start(dir: &std::path::Path, extra: &[String]) -> Proc {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec![
        format!("--web.listen-address={addr}"),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::start(&bin(), &args, addr, dir.join("promethium.log"));
    p.wait_ready("/-/ready", Duration::from_secs(30));
    p
}

#[test]
fn default_config_scrapes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let port = p.addr.rsplit(':').next().unwrap().to_string();
    // The first self-scrape lands within one 15 s interval of the start (Prometheus's offset scheme).
    let series = eventually(Duration::from_secs(20), "the self-scrape's up series", || {
        let v = p.json(&format!("/api/v1/series?match[]={}", enc("up")));
        let data = v["data"].as_array().unwrap().clone();
        (!data.is_empty()).then_some(data)
    });
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["job"], "prometheus");
    assert_eq!(series[0]["instance"], format!("localhost:{port}"));
    let v = p.json("/api/v1/targets?state=active");
    let t = &v["data"]["activeTargets"][0];
    assert_eq!(t["scrapePool"], "prometheus");
    assert_eq!(t["health"], "up", "{t}");
    // Our own metrics carry Prometheus's names.
    let (status, metrics) = p.get("/metrics");
    assert_eq!(status, 200);
    for name in ["prometheus_tsdb_head_series ", "prometheus_config_last_reload_successful 1"] {
        assert!(metrics.contains(name), "/metrics lacks {name:?}");
    }
}

/// The `_count` of `prometheus_target_interval_length_seconds{interval="…"}` in a `/metrics` body.
fn interval_count(metrics: &str, interval: &str) -> Option<u64> {
    let prefix =
        format!("prometheus_target_interval_length_seconds_count{{interval=\"{interval}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.parse().unwrap())
}

#[test]
fn scrape_intervals_are_exported_per_configured_interval() {
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap().to_string();
    crate::harness::serve_series(target, 1, |k, _| k.to_string());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fast\n    static_configs:\n      - targets: ['{target_addr}']\n  - job_name: slow\n    scrape_interval: 1500ms\n    static_configs:\n      - targets: ['{target_addr}']\n"
        ),
    )
    .unwrap();
    let p = start(dir.path(), &[format!("--config.file={}", cfg.display())]);
    // The label is the interval as Go prints it; a target's first scrape is not an interval.
    let (fast, slow) = eventually(Duration::from_secs(20), "intervals of both jobs", || {
        let (_, m) = p.get("/metrics");
        let fast = interval_count(&m, "1s")?;
        let slow = interval_count(&m, "1.5s")?;
        (fast >= 2 && slow >= 1).then_some((fast, slow))
    });
    let (_, metrics) = p.get("/metrics");
    let lines: Vec<&str> = metrics.lines().collect();
    for line in [
        "# HELP prometheus_target_interval_length_seconds Actual intervals between scrapes.",
        "# TYPE prometheus_target_interval_length_seconds summary",
    ] {
        assert!(lines.contains(&line), "/metrics lacks {line:?}:\n{metrics}");
    }
    for interval in ["1s", "1.5s"] {
        let configured = if interval == "1s" { 1.0 } else { 1.5 };
        for q in ["0.01", "0.05", "0.5", "0.9", "0.99"] {
            let prefix = format!(
                "prometheus_target_interval_length_seconds{{interval=\"{interval}\",quantile=\"{q}\"}} "
            );
            let v: f64 = lines
                .iter()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("/metrics lacks {prefix:?}:\n{metrics}"))
                .parse()
                .unwrap();
            // Actual intervals stay near the configured one (loose bounds for a loaded machine).
            assert!(v > configured * 0.5 && v < configured * 2.0, "{prefix}{v}");
        }
        let sum_prefix =
            format!("prometheus_target_interval_length_seconds_sum{{interval=\"{interval}\"}} ");
        assert!(lines.iter().any(|l| l.starts_with(&sum_prefix)), "/metrics lacks {sum_prefix:?}");
    }
    // Each further scrape adds an observation.
    eventually(Duration::from_secs(10), "the interval counts to grow", || {
        let (_, m) = p.get("/metrics");
        (interval_count(&m, "1s")? > fast && interval_count(&m, "1.5s")? > slow).then_some(())
    });
}

#[test]
fn lifecycle_endpoints_need_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let (status, body) = p.post("/-/reload", "");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Lifecycle API is not enabled."), "{body}");
    assert_eq!(p.get("/-/healthy").0, 200);
}

#[test]
fn bad_reload_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['127.0.0.1:1']\n").unwrap();
    let p = start(
        dir.path(),
        &[format!("--config.file={}", cfg.display()), "--web.enable-lifecycle".into()],
    );
    std::fs::write(&cfg, "scrape_configs:\n  - job_name: a\n    scrape_intervall: 1s\n").unwrap();
    let (status, body) = p.post("/-/reload", "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("field scrape_intervall not found") || body.contains("unknown field"),
        "{body}"
    );
    let (_, metrics) = p.get("/metrics");
    assert!(metrics.contains("prometheus_config_last_reload_successful 0"), "{metrics}");
    let v = p.json("/api/v1/targets");
    assert_eq!(v["data"]["activeTargets"][0]["scrapePool"], "a", "old config must stay active");

    // A good config is picked up and the flag recovers.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: b\n    static_configs:\n      - targets: ['127.0.0.1:2']\n",
    )
    .unwrap();
    let (status, body) = p.post("/-/reload", "");
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = p.get("/metrics");
    assert!(metrics.contains("prometheus_config_last_reload_successful 1"));
    let v = p.json("/api/v1/targets");
    assert_eq!(v["data"]["activeTargets"][0]["scrapePool"], "b");
}

/// SIGHUP reloads the configuration as `/-/reload` does (no lifecycle flag needed): a good file is applied, a
/// bad one keeps the running configuration and sets the reload metric to 0.
#[test]
fn sighup_reloads_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let job = |name: &str| {
        format!(
            "scrape_configs:\n  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:1']\n"
        )
    };
    std::fs::write(&cfg, job("a")).unwrap();
    let p = start(dir.path(), &[format!("--config.file={}", cfg.display())]);
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &p.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let pool =
        |p: &Proc| p.json("/api/v1/targets")["data"]["activeTargets"][0]["scrapePool"].clone();
    assert_eq!(pool(&p), "a");
    std::fs::write(&cfg, job("b")).unwrap();
    hup();
    eventually(Duration::from_secs(10), "job b after SIGHUP", || (pool(&p) == "b").then_some(()));
    std::fs::write(&cfg, "scrape_configs:\n  - job_name: c\n    scrape_intervall: 1s\n").unwrap();
    hup();
    eventually(Duration::from_secs(10), "the failed reload counted", || {
        p.get("/metrics").1.contains("prometheus_config_last_reload_successful 0").then_some(())
    });
    assert_eq!(pool(&p), "b", "the running configuration stays");
    assert_eq!(p.get("/-/healthy").0, 200);
    assert!(p.log_text().contains("scrape_intervall"), "the error is logged");
}

/// `--web.route-prefix` moves every endpoint under the prefix; without it the external URL's path is the
/// prefix, as in Prometheus.
#[test]
fn route_prefix_comes_from_the_flag_or_the_external_url() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, prefix) in [
        ("--web.route-prefix=/prom/".to_string(), "/prom"),
        ("--web.external-url=http://proxy.example:8080/ext".to_string(), "/ext"),
    ] {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let args = vec![
            format!("--web.listen-address={addr}"),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            flag,
        ];
        let mut p = Proc::start(&bin(), &args, addr, dir.path().join("promethium.log"));
        p.wait_ready(&format!("{prefix}/-/ready"), Duration::from_secs(30));
        let (status, body) = p.get(&format!("{prefix}/api/v1/status/buildinfo"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(p.get("/api/v1/status/buildinfo").0, 404);
        drop(p);
    }
}

#[test]
fn quit_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), &["--web.enable-lifecycle".into()]);
    let (status, _) = p.post("/-/quit", "");
    assert_eq!(status, 200);
    let code =
        eventually(Duration::from_secs(20), "exit after /-/quit", || p.child.try_wait().unwrap());
    assert!(code.success(), "exit status {code}");
}

/// Exemplars scraped from an OpenMetrics target are stored with `--enable-feature=exemplar-storage` and served by
/// `/api/v1/query_exemplars`.
#[test]
fn scraped_exemplars_are_queryable() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = format!(
                "# TYPE req counter\nreq_total{{path=\"/\"}} {} # {{trace_id=\"t{i}\"}} 0.5\n# EOF\n",
                i + 1
            );
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ex\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let p = start(
        dir.path(),
        &[
            format!("--config.file={}", cfg.display()),
            "--enable-feature=exemplar-storage".to_string(),
        ],
    );
    let data = eventually(Duration::from_secs(30), "two scraped exemplars", || {
        let v = p.json(&format!("/api/v1/query_exemplars?query={}", enc("rate(req_total[1m])")));
        let d = v["data"].as_array()?.first()?.clone();
        (d["exemplars"].as_array()?.len() >= 2).then_some(d)
    });
    assert_eq!(data["seriesLabels"]["__name__"], "req_total");
    assert_eq!(data["seriesLabels"]["job"], "ex");
    let first = &data["exemplars"][0];
    assert_eq!(first["value"], "0.5");
    assert!(first["labels"]["trace_id"].as_str().unwrap().starts_with('t'), "{first}");
    assert!(first["timestamp"].as_f64().unwrap() > 1e9, "{first}");
}
