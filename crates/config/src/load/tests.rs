//! Loading tests: defaults, inheritance, error messages, and the shared corpus of example and test configs.

use super::*;

#[test]
fn defaults_and_inheritance() {
    let c = load_str(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n  - job_name: b\n    scrape_interval: 5s\n",
        "t.yml",
    )
    .unwrap();
    assert_eq!(c.global.scrape_timeout, Duration(10_000));
    assert_eq!(c.global.evaluation_interval, Duration(60_000));
    let a = &c.scrape_configs[0];
    assert_eq!((a.interval(), a.timeout()), (Duration(15_000), Duration(10_000)));
    assert_eq!(a.metrics_path, "/metrics");
    assert!(a.honor_timestamps && a.enable_compression && !a.honor_labels);
    let b = &c.scrape_configs[1];
    assert_eq!(
        (b.interval(), b.timeout()),
        (Duration(5_000), Duration(5_000)),
        "timeout clamps to the interval"
    );
    assert_eq!(a.scrape_protocols[0], "OpenMetricsText1.0.0");
    let c = load_str("global:\n  scrape_interval: 1s\n", "t.yml").unwrap();
    assert_eq!(
        c.global.scrape_timeout,
        Duration(1_000),
        "an unset global timeout clamps to the interval"
    );
}

#[test]
fn errors_in_prometheus_words() {
    let cases: &[(&str, &str)] = &[
        ("scrape_configs:\n  - job_name: ''\n", "job_name is empty"),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
            "scrape timeout greater than scrape interval",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            "field scrape_intervall not found in type config.plain",
        ),
        ("global:\n  scrape_intervall: 5s\n", "t.yml:2:3: "),
        ("global:\n  scrape_interval: 5x\n", "not a valid duration string"),
    ];
    for (text, want) in cases {
        let e = load_str(text, "t.yml").expect_err(text).to_string();
        assert!(e.contains(want), "{text:?}: {e:?} lacks {want:?}");
    }
}

#[test]
fn secrets_are_hidden_in_yaml() {
    let c = load_str(
        "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n",
        "t.yml",
    )
    .unwrap();
    let y = c.to_yaml_string();
    assert!(y.contains("<secret>") && !y.contains("hunter2"), "{y}");
    assert!(y.contains("scrape_interval: 1m"), "{y}");
}

fn shared() -> Option<std::path::PathBuf> {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/configs");
    if d.exists() {
        Some(d)
    } else {
        println!("notice: {} absent; skipping the shared config corpus", d.display());
        None
    }
}

#[test]
fn every_example_config_loads() {
    let Some(dir) = shared() else { return };
    let mut failures = Vec::new();
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("examples")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        // These two are not prometheus.yml files: a web config and a Kubernetes RBAC manifest.
        if name == "web-config.yml"
            || name == "rbac-setup.yml"
            || name == "promtool-http-config-file.yml"
        {
            continue;
        }
        n += 1;
        if let Err(e) = load_file(&p) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} examples failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_testdata_configs_are_rejected_with_prometheus_messages() {
    let Some(dir) = shared() else { return };
    let tsv = std::fs::read_to_string(dir.join("expected-errors.tsv")).unwrap();
    let (mut pass, mut fail) = (0, Vec::new());
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((file, want)) = line.split_once('\t') else { continue };
        // Loaded under the relative name Prometheus's test data was produced with, as messages quote it.
        let text = std::fs::read_to_string(dir.join("testdata").join(file)).unwrap();
        match load_str(&text, &format!("testdata/{file}")) {
            Ok(_) => fail.push(format!("{file}: accepted, want {want:?}")),
            Err(e) if e.to_string().contains(want) => pass += 1,
            Err(e) => fail.push(format!("{file}: {e} (want {want:?})")),
        }
    }
    println!("expected-errors.tsv: {pass} passed, {} failed", fail.len());
    for f in &fail {
        println!("  {f}");
    }
    // The floor rises as validation grows; it must never fall.
    assert!(
        pass >= FLOOR,
        "only {pass} bad configs rejected with Prometheus's message (floor {FLOOR})"
    );
}

/// How many rows of expected-errors.tsv are matched today.
const FLOOR: usize = 126;

#[test]
fn every_good_testdata_config_loads() {
    let Some(dir) = shared() else { return };
    let mut failures = Vec::new();
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("testdata")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".good.yml") {
            continue;
        }
        n += 1;
        if let Err(e) = load_file(&p) {
            failures.push(format!("{name}: {e}"));
        }
    }
    println!("good testdata configs: {} of {n} load", n - failures.len());
    assert!(n > 0);
    assert!(
        failures.is_empty(),
        "{} of {n} good configs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
