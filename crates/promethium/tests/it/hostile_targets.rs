//! Targets that misbehave: garbage bodies, truncated bodies, bodies over the size limit and targets that never
//! answer. Each must leave `up` at 0 with Prometheus's error text while the server stays healthy.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::harness::{enc, eventually};
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

#[test]
fn misbehaving_targets_are_down_with_prometheus_errors() {
    let target = hostile_server();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let mut yml =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for job in ["garbage", "truncated", "huge", "hang"] {
        yml.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /{job}\n    body_size_limit: 10MB\n    static_configs:\n      - targets: ['{target}']\n"
        ));
    }
    std::fs::write(&cfg, yml).unwrap();
    let p = start(dir.path(), &[format!("--config.file={}", cfg.display())]);

    let targets = eventually(Duration::from_secs(30), "all four targets scraped", || {
        let v = p.json("/api/v1/targets");
        let active = v["data"]["activeTargets"].as_array().unwrap().clone();
        let done = active.len() == 4 && active.iter().all(|t| t["health"] == "down");
        done.then_some(active)
    });
    for t in &targets {
        let job = t["labels"]["job"].as_str().unwrap();
        let err = t["lastError"].as_str().unwrap();
        let want = match job {
            "huge" => "body size limit exceeded",
            "hang" => "context deadline exceeded",
            "truncated" => "unexpected EOF",
            _ => "",
        };
        assert!(!err.is_empty(), "{job}: empty lastError");
        assert!(err.contains(want), "{job}: {err:?} lacks {want:?}");
    }
    // `up` exists for every target (its value is checked through the targets' health above).
    let v = p.json(&format!("/api/v1/series?match[]={}", enc("up")));
    assert_eq!(v["data"].as_array().unwrap().len(), 4, "{v}");
    assert_eq!(p.get("/-/healthy").0, 200);
    assert_eq!(p.get("/-/ready").0, 200);
}
