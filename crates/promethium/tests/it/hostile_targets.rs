//! Targets that misbehave: garbage bodies, truncated bodies, bodies over the size limit and targets that never
//! answer. Each must leave `up` at 0 with Prometheus's error text while a healthy target next to them stays up
//! and the server stays healthy.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::harness::{enc, eventually, serve_series};
use crate::server::start;

/// Serves the misbehaving endpoints on a loopback port until the process exits.
fn hostile_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                match path.as_str() {
                    "/garbage" => {
                        let body = "\u{1}\u{2} this is {{{ not metrics\n";
                        let _ = write!(
                            c,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    "/truncated" => {
                        let _ = write!(
                            c,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 100000\r\n\r\nmetric_a 1\nmetric_b 2\nmetr"
                        );
                    }
                    "/huge" => {
                        // 1 GiB of valid lines, streamed; the scraper must give up at its body size limit.
                        let _ = write!(
                            c,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                            1u64 << 30
                        );
                        let line = "huge_metric{a=\"xxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n".repeat(1000);
                        let mut sent = 0u64;
                        while sent < (1 << 30) {
                            if c.write_all(line.as_bytes()).is_err() {
                                break;
                            }
                            sent += line.len() as u64;
                        }
                    }
                    _ => {
                        // "/hang": accept and never answer.
                        std::thread::sleep(Duration::from_secs(120));
                    }
                }
            });
        }
    });
    addr
}

/// `up` per job from an instant query of `expr`.
fn up_by_job(p: &crate::harness::Proc, expr: &str) -> std::collections::BTreeMap<String, String> {
    let v = p.json(&format!("/api/v1/query?query={}", enc(expr)));
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let job = r["metric"]["job"].as_str().unwrap().to_string();
            (job, r["value"][1].as_str().unwrap().to_string())
        })
        .collect()
}

const BAD_JOBS: [&str; 4] = ["garbage", "truncated", "huge", "hang"];

#[test]
fn misbehaving_targets_are_down_with_prometheus_errors() {
    let target = hostile_server();
    let healthy = TcpListener::bind("127.0.0.1:0").unwrap();
    let healthy_addr = healthy.local_addr().unwrap().to_string();
    serve_series(healthy, 3, |k, i| format!("{}", k + i as u64));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let mut yml =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for job in BAD_JOBS {
        yml.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /{job}\n    body_size_limit: 10MB\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    yml.push_str(&format!(
        "  - job_name: healthy\n    body_size_limit: 10MB\n    static_configs:\n      - targets: ['{healthy_addr}']\n"
    ));
    std::fs::write(&cfg, yml).unwrap();
    let p = start(dir.path(), &[format!("--config.file={}", cfg.display())]);

    let targets = eventually(Duration::from_secs(30), "every target scraped", || {
        let v = p.json("/api/v1/targets");
        let active = v["data"]["activeTargets"].as_array().unwrap().clone();
        let done = active.len() == 5
            && active.iter().all(|t| {
                let want = if t["labels"]["job"] == "healthy" { "up" } else { "down" };
                t["health"] == want
            });
        done.then_some(active)
    });
    for t in &targets {
        let job = t["labels"]["job"].as_str().unwrap();
        let err = t["lastError"].as_str().unwrap();
        let want = match job {
            "huge" => "body size limit exceeded",
            "hang" => "context deadline exceeded",
            "truncated" => "unexpected EOF",
            // Prometheus 3's text parser's words for the body's first byte, \x01 (Prometheus 2.42 says
            // `"INVALID" is not a valid start token` for the same bytes).
            "garbage" => {
                assert_eq!(
                    err,
                    r#"expected a valid start token, got "\x01" ("INVALID") while parsing: "\x01""#
                );
                continue;
            }
            _ => {
                assert_eq!(err, "", "healthy target");
                continue;
            }
        };
        assert!(err.contains(want), "{job}: {err:?} lacks {want:?}");
    }
    // `up` is 0 for every bad target and 1 for the healthy one.
    let want: std::collections::BTreeMap<String, String> = BAD_JOBS
        .iter()
        .map(|j| (j.to_string(), "0".to_string()))
        .chain([("healthy".to_string(), "1".to_string())])
        .collect();
    assert_eq!(up_by_job(&p, "up"), want);
    // A few more scrapes later, every `up` sample the healthy target ever had is 1, and every bad target's is 0.
    eventually(Duration::from_secs(20), "three scrapes of the healthy target", || {
        let n = up_by_job(&p, "count_over_time(up{job=\"healthy\"}[5m])");
        n.get("healthy").is_some_and(|n| n.parse::<u64>().unwrap() >= 3).then_some(())
    });
    assert_eq!(up_by_job(&p, "min_over_time(up{job=\"healthy\"}[5m])")["healthy"], "1");
    let max_bad = up_by_job(&p, "max_over_time(up{job!=\"healthy\"}[5m])");
    assert_eq!(max_bad.len(), 4, "{max_bad:?}");
    assert!(max_bad.values().all(|v| v == "0"), "{max_bad:?}");
    // The healthy target's own series are ingested.
    let v = p.json(&format!("/api/v1/series?match[]={}", enc("m{job=\"healthy\"}")));
    assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(p.get("/-/healthy").0, 200);
    assert_eq!(p.get("/-/ready").0, 200);
}
