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
    let series = eventually(Duration::from_secs(40), "the self-scrape's up series", || {
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
