//! Side by side with Debian's Prometheus 2.42: both scrape the same node-exporter and the same synthetic bench
//! targets, and must end up with the same series. Skips with a notice when the peers are not installed (fails
//! instead under `PROMETHIUM_REQUIRE_PEERS=1`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{
    Proc, enc, eventually, free_port, missing_peer, peers_required, start_node_exporter, system_bin,
};
use crate::server::start;

fn bench_targets_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BENCH_TARGETS_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    [
        "/tmp/bench-targets-target/release/bench-targets",
        "/tmp/bench-targets-target/debug/bench-targets",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Serves each file of `../shared/exposition/testdata` at `/<file name>` with the Content-Type of its format.
fn serve_exposition_files() -> Option<(String, Vec<String>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/exposition/testdata");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    let addr = l.local_addr().ok()?.to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let body = std::fs::read(dir.join(&path)).unwrap_or_default();
                let ctype = if path.contains(".om.") {
                    "application/openmetrics-text; version=1.0.0; charset=utf-8"
                } else {
                    "text/plain; version=0.0.4"
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            });
        }
    });
    Some((addr, names))
}

/// (metric, type, help, unit) of every family the targets of `job` exposed.
fn metadata_set(p: &Proc, job: &str) -> BTreeSet<String> {
    let v = p.json(&format!(
        "/api/v1/targets/metadata?match_target={}",
        enc(&format!("{{job=\"{job}\"}}"))
    ));
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {} {:?} {:?}", m["metric"], m["type"], m["help"], m["unit"]))
        .collect()
}

/// Instant-query results as `labels => value` (histograms as their JSON).
fn query_values(p: &Proc, query: &str, time: f64) -> std::collections::BTreeMap<String, String> {
    let v = p.json(&format!("/api/v1/query?query={}&time={time}", enc(query)));
    assert_eq!(v["status"], "success", "{query}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let value = if s["value"].is_null() {
                s["histogram"][1].to_string()
            } else {
                s["value"][1].as_str().unwrap_or_default().to_string()
            };
            (s["metric"].to_string(), value)
        })
        .collect()
}

fn series_set(p: &Proc, selector: &str) -> BTreeSet<String> {
    let v = p.json(&format!("/api/v1/series?match[]={}", enc(selector)));
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut pairs: Vec<(String, String)> = s
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            pairs.sort();
            format!("{pairs:?}")
        })
        .collect()
}

#[test]
fn same_series_as_prometheus_2_42() {
    let (Some(prom), Some(node)) =
        (system_bin("prometheus"), system_bin("prometheus-node-exporter"))
    else {
        missing_peer("Debian's prometheus and prometheus-node-exporter");
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    let (_node_proc, node_addr) = start_node_exporter(&node, dir.path());

    let mut jobs = vec![("node".to_string(), vec![node_addr.clone()])];
    let _bench = match bench_targets_bin() {
        Some(b) => {
            let base = free_port();
            let p = Proc::start(
                &b,
                &[
                    "--targets".into(),
                    "3".into(),
                    "--series".into(),
                    "500".into(),
                    "--base-port".into(),
                    base.to_string(),
                    "--max-runtime".into(),
                    "300".into(),
                ],
                format!("127.0.0.1:{base}"),
                dir.path().join("bench.log"),
            );
            jobs.push((
                "bench".to_string(),
                (0..3).map(|i| format!("127.0.0.1:{}", base + i)).collect(),
            ));
            Some(p)
        }
        None => {
            // `.ci/run` builds them whenever their sources are beside the repository; only then are they
            // required.
            let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/bench/targets/Cargo.toml");
            assert!(
                !(peers_required() && sources.exists()),
                "bench-targets not built (see .ci/run, which exports BENCH_TARGETS_BIN), and PROMETHIUM_REQUIRE_PEERS=1 requires it"
            );
            // Straight to stderr: libtest captures `eprintln!` for passing tests.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"notice: bench-targets not built (see .ci/run); comparing node-exporter only\n",
            );
            None
        }
    };

    let mut yml =
        String::from("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n");
    for (job, targets) in &jobs {
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        yml.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        ));
    }
    // The exposition corpus, one job per file, so both servers' parsers see the same bytes.
    let mut file_jobs = Vec::new();
    match serve_exposition_files() {
        Some((addr, names)) => {
            for (i, name) in names.iter().enumerate() {
                let job = format!("file_{i}");
                yml.push_str(&format!(
                    "  - job_name: {job}\n    metrics_path: /{name}\n    static_configs:\n      - targets: ['{addr}']\n"
                ));
                file_jobs.push((job, name.clone()));
            }
        }
        None => eprintln!(
            "notice: ../shared/exposition/testdata absent; not comparing the exposition corpus"
        ),
    }
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, &yml).unwrap();

    let prom_addr = format!("127.0.0.1:{}", free_port());
    let mut reference = Proc::start(
        &prom,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()),
            format!("--web.listen-address={prom_addr}"),
        ],
        prom_addr,
        dir.path().join("prometheus.log"),
    );
    reference.wait_ready("/-/ready", Duration::from_secs(30));
    let ours = start(dir.path(), &[format!("--config.file={}", cfg.display())]);

    let n_targets: usize = jobs.iter().map(|(_, t)| t.len()).sum::<usize>() + file_jobs.len();
    for p in [&reference, &ours] {
        eventually(Duration::from_secs(30), "every target up", || {
            let v = p.json("/api/v1/targets?state=active");
            let t = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
            (t.len() == n_targets && t.iter().all(|t| t["health"] == "up")).then_some(())
        });
    }
    std::thread::sleep(Duration::from_secs(5));

    for (job, name) in &file_jobs {
        let selector = format!("{{job=\"{job}\"}}");
        let a = series_set(&reference, &selector);
        let b = series_set(&ours, &selector);
        let only_ref: Vec<_> = a.difference(&b).take(5).collect();
        let only_ours: Vec<_> = b.difference(&a).take(5).collect();
        assert!(
            only_ref.is_empty() && only_ours.is_empty(),
            "{name}: {} vs {} series; only in Prometheus: {only_ref:?}; only in ours: {only_ours:?}",
            a.len(),
            b.len()
        );
        let (ma, mb) = (metadata_set(&reference, job), metadata_set(&ours, job));
        let only_ref: Vec<_> = ma.difference(&mb).take(5).collect();
        let only_ours: Vec<_> = mb.difference(&ma).take(5).collect();
        assert!(
            only_ref.is_empty() && only_ours.is_empty(),
            "{name} metadata: only in Prometheus: {only_ref:?}; only in ours: {only_ours:?}"
        );
        // Values: the files are static, so both servers must return the same samples, and PromQL over them must
        // agree.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        for q in [
            format!("{{job=\"{job}\", __name__!~\"scrape_.*\"}}"),
            format!("count by (__name__) ({{job=\"{job}\"}})"),
            format!("sum without (instance) ({{job=\"{job}\", __name__!~\"scrape_.*\"}})"),
        ] {
            let (va, vb) = (query_values(&reference, &q, now), query_values(&ours, &q, now));
            assert_eq!(
                va.keys().collect::<Vec<_>>(),
                vb.keys().collect::<Vec<_>>(),
                "{name}: {q}: result series"
            );
            // Sums may differ in the last digits: Prometheus 3.x (and we) sum with Kahan compensation, 2.42 did not.
            let close = |a: &str, b: &str| {
                a == b
                    || match (a.parse::<f64>(), b.parse::<f64>()) {
                        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                        _ => false,
                    }
            };
            for (k, a) in &va {
                let b = &vb[k];
                assert!(close(a, b), "{name}: {q}: {k}: Prometheus {a}, ours {b}");
            }
        }
        println!(
            "{name}: {} series, their values and {} metadata entries identical to Prometheus 2.42",
            a.len(),
            ma.len()
        );
    }
    for (job, _) in &jobs {
        let selector = format!("{{job=\"{job}\"}}");
        let a = series_set(&reference, &selector);
        let b = series_set(&ours, &selector);
        assert!(a.len() > 10, "reference has too few {job} series: {}", a.len());
        let only_ref: Vec<_> = a.difference(&b).take(10).collect();
        let only_ours: Vec<_> = b.difference(&a).take(10).collect();
        assert!(
            only_ref.is_empty() && only_ours.is_empty(),
            "job {job}: {} vs {} series; only in Prometheus: {only_ref:?}; only in ours: {only_ours:?}",
            a.len(),
            b.len()
        );
    }
}
