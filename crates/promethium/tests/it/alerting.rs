//! Rules and alerting end to end: a firing rule reaches Debian's Alertmanager (checked with `amtool`) with its
//! labels and expanded annotations, and resolves there when the condition ends; `tool check rules` and
//! `tool test rules` agree with Debian's promtool.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Proc, eventually, free_port, missing_peer, system_bin};
use crate::server::{bin, start};

fn amtool_alerts(amtool: &std::path::Path, am: &str) -> Vec<serde_json::Value> {
    let out = Command::new(amtool)
        .args([&format!("--alertmanager.url=http://{am}"), "alert", "query", "-o", "json"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap_or_default()
}

/// Serves `x 1` as a scrape target on `listener` until the test ends.
fn serve_target(listener: TcpListener) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = "x 1\n";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

#[test]
fn firing_rule_reaches_alertmanager_and_resolves() {
    let (Some(am_bin), Some(amtool)) =
        (system_bin("prometheus-alertmanager"), system_bin("amtool"))
    else {
        missing_peer("Debian's prometheus-alertmanager and amtool");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let am_addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("am.yml"),
        "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
    )
    .unwrap();
    let mut am = Proc::start(
        &am_bin,
        &[
            format!("--config.file={}", dir.path().join("am.yml").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".to_string(),
            format!("--storage.path={}", dir.path().join("am-data").display()),
        ],
        am_addr.clone(),
        dir.path().join("am.log"),
    );
    am.wait_ready("/-/ready", Duration::from_secs(30));

    let target_port = free_port();
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: availability
    rules:
      - alert: TargetDown
        expr: up{job="flappy"} == 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is down"
          description: "up is {{ $value }} on {{ $externalLabels.cluster }}"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    cluster: it
rule_files: ["rules.yml"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{am_addr}"]
scrape_configs:
  - job_name: flappy
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
"#
        ),
    )
    .unwrap();
    let p = start(
        dir.path(),
        &[
            format!("--config.file={}", dir.path().join("prometheus.yml").display()),
            "--rules.alert.resend-delay=1s".to_string(),
        ],
    );

    let instance = format!("127.0.0.1:{target_port}");
    let alert = eventually(Duration::from_secs(60), "the alert in Alertmanager", || {
        amtool_alerts(&amtool, &am_addr)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "TargetDown")
    });
    assert_eq!(alert["labels"]["severity"], "page", "{alert}");
    assert_eq!(alert["labels"]["cluster"], "it", "{alert}");
    assert_eq!(alert["labels"]["job"], "flappy", "{alert}");
    assert_eq!(alert["labels"]["instance"], instance.as_str(), "{alert}");
    assert_eq!(alert["annotations"]["summary"], format!("{instance} is down"), "{alert}");
    assert_eq!(alert["annotations"]["description"], "up is 0 on it", "{alert}");
    let gen_url = alert["generatorURL"].as_str().unwrap_or_default();
    assert!(
        gen_url.contains("/graph?g0.expr=up%7Bjob%3D%22flappy%22%7D+%3D%3D+0&g0.tab=1"),
        "{gen_url}"
    );

    let v = p.json("/api/v1/alerts");
    let alerts = v["data"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{v}");
    assert_eq!(alerts[0]["state"], "firing");
    let v = p.json("/api/v1/rules?type=alert");
    assert_eq!(v["data"]["groups"][0]["rules"][0]["state"], "firing", "{v}");
    let v = p.json("/api/v1/alertmanagers");
    assert_eq!(
        v["data"]["activeAlertmanagers"][0]["url"],
        format!("http://{am_addr}/api/v2/alerts")
    );
    let (_, metrics) = p.get("/metrics");
    assert!(
        metrics.contains(&format!(
            "prometheus_notifications_errors_total{{alertmanager=\"http://{am_addr}/api/v2/alerts\"}} 0"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "prometheus_notifications_latency_seconds_count{{alertmanager=\"http://{am_addr}/api/v2/alerts\"}} "
        )) && metrics.contains("# TYPE prometheus_notifications_latency_histogram_seconds histogram"),
        "{metrics}"
    );

    // The target comes up: the alert resolves and Alertmanager no longer lists it as active.
    serve_target(TcpListener::bind(("127.0.0.1", target_port)).unwrap());
    eventually(Duration::from_secs(60), "the alert to resolve in Alertmanager", || {
        let active = amtool_alerts(&amtool, &am_addr);
        (!active.iter().any(|a| a["labels"]["alertname"] == "TargetDown")).then_some(())
    });
    let v = p.json("/api/v1/alerts");
    assert_eq!(v["data"]["alerts"].as_array().unwrap().len(), 0, "{v}");
}

fn run(program: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(program).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shared(dir: &str) -> Option<std::path::PathBuf> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/rules").join(dir);
    p.exists().then_some(p)
}

/// Unit-test files of Prometheus's promtool that Prometheus 2.42 understands (the others use 3.x fields).
const UNIT_TESTS_2_42: &[&str] = &[
    "at-modifier-test.yml",
    "bad-input-series.yml",
    "bad-rules-error-test.yml",
    "bad-rules-syntax-test.yml",
    "failing.yml",
    "long-period.yml",
    "negative-offset-test.yml",
    "rules_run.yml",
    "rules_run_extrafields.yml",
];

/// The project's own rule unit tests (they need no ../shared).
#[test]
fn own_rule_unit_tests_agree_with_promtool() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../promtool/testdata/rules");
    let promtool = system_bin("promtool");
    for (f, code) in [("api.test.yml", 0), ("api-failing.test.yml", 1)] {
        let out = Command::new(bin())
            .args(["tool", "test", "rules", f])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{f}: {stderr}");
        if let Some(promtool) = &promtool {
            let theirs = Command::new(promtool)
                .args(["test", "rules", f])
                .current_dir(&dir)
                .output()
                .unwrap();
            assert_eq!(theirs.status.code(), Some(code), "promtool on {f}");
        }
    }
    let out = Command::new(bin())
        .args(["tool", "test", "rules", "api-failing.test.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "    expr: \"job:http_requests:rate1m\", time: 5m,\n        exp: {__name__=\"job:http_requests:rate1m\", job=\"api\"} 5E+00\n        got: {__name__=\"job:http_requests:rate1m\", job=\"api\"} 2E+00"
        ),
        "{stderr}"
    );
    let (code, stdout, _) =
        run(&bin(), &["tool", "check", "rules", dir.join("api.rules.yml").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("  SUCCESS: 4 rules found\n\n"), "{stdout}");
}

#[test]
fn test_rules_agrees_with_promtool() {
    let Some(dir) = shared("promtool-testdata") else {
        eprintln!("notice: skipping: ../shared/rules is absent");
        return;
    };
    let promtool = system_bin("promtool");
    for f in UNIT_TESTS_2_42 {
        let out = Command::new(bin())
            .args(["tool", "test", "rules", f])
            .current_dir(&dir)
            .output()
            .unwrap();
        let ours =
            (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned());
        let expected_to_pass =
            matches!(*f, "at-modifier-test.yml" | "long-period.yml" | "negative-offset-test.yml");
        assert_eq!(ours.0 == 0, expected_to_pass, "{f}: {ours:?}");
        let Some(promtool) = &promtool else { continue };
        let out =
            Command::new(promtool).args(["test", "rules", f]).current_dir(&dir).output().unwrap();
        let theirs = out.status.code().unwrap_or(-1);
        assert_eq!(ours.0, theirs, "exit code for {f}: ours {ours:?}");
    }
    // 3.x files: the outcome Prometheus 3.x's own tests expect.
    for (f, code) in [
        ("unittest.yml", 0),
        ("start-time-test.yml", 0),
        ("rules_run_fuzzy.yml", 1),
        ("rules_run_no_fuzzy.yml", 1),
    ] {
        let out = Command::new(bin())
            .args(["tool", "test", "rules", f])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{f}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(bin())
        .args(["tool", "test", "rules", "--run", "correct", "rules_run.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_rules_agrees_with_promtool() {
    let (Some(fixtures), Some(testdata)) = (shared("fixtures"), shared("promtool-testdata")) else {
        eprintln!("notice: skipping: ../shared/rules is absent");
        return;
    };
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(&fixtures).unwrap().map(|e| e.unwrap().path()).collect();
    for f in [
        "rules.yml",
        "rules-bad.yml",
        "rules_duplicates.yml",
        "rules_large.yml",
        "bad-rules-syntax.yml",
        "bad-rules-error.yml",
        "bad-promql.yml",
        "at-modifier.yml",
        "negative-offset.yml",
    ] {
        files.push(testdata.join(f));
    }
    files.sort();
    let promtool = system_bin("promtool");
    for f in &files {
        let f = f.to_str().unwrap();
        let ours = run(&bin(), &["tool", "check", "rules", f]);
        if let Some(promtool) = &promtool {
            let theirs = run(promtool, &["check", "rules", f]);
            assert_eq!(ours.0, theirs.0, "exit code for {f}: ours {ours:?}, promtool {theirs:?}");
            if ours.0 == 0 {
                assert_eq!(ours.1, theirs.1, "stdout for {f}");
            }
        }
        let fatal = run(&bin(), &["tool", "check", "rules", "--lint-fatal", f]);
        if f.ends_with("rules_duplicates.yml") {
            assert_eq!(fatal.0, 3, "{fatal:?}");
            assert!(fatal.2.contains("lint error 1 duplicate rule(s) found."), "{fatal:?}");
        }
    }
}
