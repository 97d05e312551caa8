//! Loading tests: defaults, inheritance, error messages, and the shared corpus of example and test configs.

use std::path::Path;

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
        ("storage:\n  tsdb:\n    out_of_order_time_window: 30x\n", "not a valid duration string"),
        ("storage:\n  tsdb:\n    out_of_order_time_window: [1]\n", "not a valid duration string"),
        (
            "scrape_configs:\n  - job_name: !!binary /w==\n",
            "t.yml:2:24: !!binary value is not UTF-8 text, which this field cannot hold",
        ),
        (
            "global:\n  scrape_protocols: [PrometheusProto, prometheusproto]\n",
            "duplicated protocol in scrape_protocols, got [PrometheusProto prometheusproto] for global config",
        ),
    ];
    for (text, want) in cases {
        let e = load_str(text, "t.yml").expect_err(text).to_string();
        assert!(e.contains(want), "{text:?}: {e:?} lacks {want:?}");
    }
}

#[test]
fn the_out_of_order_window_is_kept_and_rendered() {
    let c = load_str("storage:\n  tsdb:\n    out_of_order_time_window: 30m\n", "t.yml").unwrap();
    let w = c
        .storage
        .as_ref()
        .and_then(|s| s.get("tsdb"))
        .and_then(|t| t.get("out_of_order_time_window"));
    assert_eq!(w.and_then(|w| w.as_str()), Some("30m"));
    assert!(c.to_yaml_string().contains("out_of_order_time_window: 30m"), "{}", c.to_yaml_string());
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

/// Loads `testdata/<file>` of the corpus as Prometheus's tests do: named by its relative path (messages quote it),
/// with `scrape_config_files` read from the file's directory.
fn load_testdata(dir: &Path, file: &str) -> Result<Config, Error> {
    let path = dir.join("testdata").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    load_at(&text, &format!("testdata/{file}"), path.parent())
}

/// The expected-errors.tsv rows: bad file and the substring of Prometheus's error.
fn tsv_rows(dir: &Path) -> Vec<(String, String)> {
    let tsv = std::fs::read_to_string(dir.join("expected-errors.tsv")).unwrap();
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, w)| (f.to_string(), w.to_string()))
        .collect()
}

#[test]
fn bad_testdata_configs_are_rejected_with_prometheus_messages() {
    let Some(dir) = shared() else { return };
    let rows = tsv_rows(&dir);
    let (mut pass, mut fail) = (0, Vec::new());
    for (file, want) in &rows {
        match load_testdata(&dir, file) {
            Ok(_) => fail.push(format!("{file}: accepted, want {want:?}")),
            Err(e) if e.to_string().contains(want.as_str()) => pass += 1,
            Err(e) => fail.push(format!("{file}: {e} (want {want:?})")),
        }
    }
    println!("expected-errors.tsv: {pass} of {} passed", rows.len());
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
const FLOOR: usize = 133;

/// Bad files of the corpus that expected-errors.tsv does not list, with what Prometheus's own tests (or, where
/// they do not load the file, its loader) say about them. Every substring must appear in our error.
const UNLISTED_BAD: &[(&str, &[&str])] = &[
    (
        "azure_authentication_method.bad.yml",
        &[
            r#"unknown authentication_type "invalid". Supported types are "OAuth", "ManagedIdentity", "SDK" or "WorkloadIdentity""#,
        ],
    ),
    (
        "metric_name_validation_scheme.bad.yml",
        &[r#"unrecognized ValidationScheme: "invalid_scheme""#],
    ),
    ("otlp_allow_utf8.bad.yml", &[r#"unsupported OTLP translation strategy "Invalid""#]),
    (
        "otlp_allow_utf8.incompatible.yml",
        &[
            r#"OTLP translation strategy "NoUTF8EscapingWithSuffixes" is not allowed when UTF8 is disabled"#,
        ],
    ),
    (
        "otlp_no_translation.incompatible.yml",
        &[r#"OTLP translation strategy "NoTranslation" is not allowed when UTF8 is disabled"#],
    ),
    (
        "otlp_ignore_resource_attributes_without_promote_all.bad.yml",
        &[
            "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
        ],
    ),
    (
        "otlp_promote_all_resource_attributes.bad.yml",
        &[
            "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
        ],
    ),
    (
        "otlp_sanitize_ignore_resource_attributes.bad.yml",
        &[
            "invalid 'ignore_resource_attributes': ",
            r#"duplicated ignored OTel resource attribute "k8s.job.name""#,
            "empty ignored OTel resource attribute",
        ],
    ),
    (
        "otlp_sanitize_promote_resource_attributes.bad.yml",
        &[
            "invalid 'promote_resource_attributes': ",
            r#"duplicated promoted OTel resource attribute "k8s.job.name""#,
            "empty promoted OTel resource attribute",
        ],
    ),
    (
        "scrape_config_files.bad.yml",
        &[
            r#"scrape timeout greater than scrape interval for scrape config with job name "prometheus""#,
        ],
    ),
    (
        "scrape_config_files_double_import.bad.yml",
        &[
            r#"/testdata/scrape_config_files.good.yml": found multiple scrape configs with job name "prometheus", first found in ""#,
        ],
    ),
    (
        "scrape_config_files_duplicate.bad.yml",
        &[
            r#"found multiple scrape configs with job name "prometheus", first found in main config file"#,
        ],
    ),
    (
        "scrape_config_files_global.bad.yml",
        &[
            r#"/testdata/scrape_config_files.bad.yml": scrape timeout greater than scrape interval for scrape config with job name "prometheus""#,
        ],
    ),
    (
        "scrape_config_files_global_duplicate.bad.yml",
        &[
            r#"found multiple scrape configs with job name "prometheus", first found in main config file"#,
        ],
    ),
    ("url_in_targetgroup.bad.yml", &[r#""http://bad" is not a valid hostname"#]),
    (
        "config_with_deprecated_am_api_config.yml",
        &["expected Alertmanager api version to be one of [v2] but got v1"],
    ),
];

#[test]
fn unlisted_bad_testdata_configs_are_rejected() {
    let Some(dir) = shared() else { return };
    let mut fail = Vec::new();
    for (file, wants) in UNLISTED_BAD {
        match load_testdata(&dir, file) {
            Ok(_) => fail.push(format!("{file}: accepted")),
            Err(e) => {
                let e = e.to_string();
                for w in *wants {
                    if !e.contains(w) {
                        fail.push(format!("{file}: {e:?} lacks {w:?}"));
                    }
                }
            }
        }
    }
    assert!(fail.is_empty(), "{}", fail.join("\n"));
}

/// `static_config.bad.yml` is one target group, not a configuration; Prometheus decodes it as one.
#[test]
fn bad_target_group_is_rejected_inside_static_configs() {
    let Some(dir) = shared() else { return };
    let group = std::fs::read_to_string(dir.join("testdata/static_config.bad.yml")).unwrap();
    let body = group.lines().collect::<Vec<_>>().join("\n        ");
    let text = format!("scrape_configs:\n  - job_name: j\n    static_configs:\n      - {body}\n");
    let e = load_str(&text, "t.yml").unwrap_err().to_string();
    assert!(e.contains(r#"t.yml:7:20: "\xff" is not a valid label name"#), "{e}");
}

#[test]
fn binary_and_type_errors_keep_their_position() {
    let Some(dir) = shared() else { return };
    for (file, want) in [
        ("labelname.bad.yml", "testdata/labelname.bad.yml:3:14: "),
        ("labelvalue.bad.yml", "testdata/labelvalue.bad.yml:3:20: "),
        ("labelmap.bad.yml", "testdata/labelmap.bad.yml:5:"),
        (
            "scrape_config_files_fallback_scrape_protocol2.bad.yml",
            "testdata/scrape_config_files_fallback_scrape_protocol2.bad.yml:3:31: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!seq into string",
        ),
    ] {
        let e = load_testdata(&dir, file).unwrap_err().to_string();
        assert!(e.contains(want), "{file}: {e:?} lacks {want:?}");
    }
}

/// Files of the corpus that Prometheus loads without error although their names do not end in `.good.yml`. The
/// `agent_mode.*` files are refused only in agent mode, which this loader does not have.
const UNSUFFIXED_GOOD: &[&str] = &[
    "agent_mode.with_alert_manager.yml",
    "agent_mode.with_alert_relabels.yml",
    "agent_mode.with_remote_reads.yml",
    "agent_mode.with_rule_files.yml",
    "agent_mode.without_remote_writes.yml",
    "otlp_empty.yml",
    "scrape_config_default_validation_mode.yml",
    "scrape_config_global_validation_mode.yml",
    "scrape_config_local_global_validation_mode.yml",
    "scrape_config_local_infer_escaping.yml",
    "scrape_config_local_validation_mode.yml",
];

/// Every file under `testdata/`, relative to it (`scrape_configs/…` included).
fn testdata_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "scrape_configs"] {
        for e in std::fs::read_dir(dir.join("testdata").join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                let name = e.file_name().to_string_lossy().to_string();
                out.push(if sub.is_empty() { name } else { format!("{sub}/{name}") });
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_testdata_file_is_checked() {
    let Some(dir) = shared() else { return };
    let rows = tsv_rows(&dir);
    let unchecked: Vec<String> = testdata_files(&dir)
        .into_iter()
        .filter(|f| {
            !(f.ends_with(".good.yml")
                || f.ends_with(".rules")
                || f == "static_config.bad.yml"
                || UNSUFFIXED_GOOD.contains(&f.as_str())
                || UNLISTED_BAD.iter().any(|(b, _)| b == f)
                || rows.iter().any(|(b, _)| b == f))
        })
        .collect();
    assert!(unchecked.is_empty(), "testdata files no test loads: {unchecked:?}");
}

#[test]
fn every_good_testdata_config_loads() {
    let Some(dir) = shared() else { return };
    let mut failures = Vec::new();
    let mut n = 0;
    for name in testdata_files(&dir) {
        if !name.ends_with(".good.yml") && !UNSUFFIXED_GOOD.contains(&name.as_str()) {
            continue;
        }
        n += 1;
        if let Err(e) = load_file(&dir.join("testdata").join(&name)) {
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

/// The jobs of each configuration that includes others, in Prometheus's order (the file's own first).
#[test]
fn scrape_config_files_are_appended() {
    let Some(dir) = shared() else { return };
    for (file, jobs) in [
        ("scrape_config_files.good.yml", &["prometheus"][..]),
        ("scrape_config_files_only.good.yml", &["prometheus"]),
        ("scrape_config_files_combined.good.yml", &["node", "prometheus", "alertmanager"]),
        ("scrape_config_files_glob.good.yml", &["prometheus", "node"]),
    ] {
        let c = load_testdata(&dir, file).unwrap();
        let got: Vec<&str> = c.scrape_configs.iter().map(|s| s.job_name.as_str()).collect();
        assert_eq!(got, jobs, "{file}");
    }
    let c = load_testdata(&dir, "scrape_config_files_glob.good.yml").unwrap();
    let (prom, node) = (&c.scrape_configs[0], &c.scrape_configs[1]);
    // Each file's relative paths, made relative to the main file's directory.
    assert_eq!(prom.tls_config.cert_file.as_deref(), Some("scrape_configs/valid_cert_file"));
    assert_eq!(node.tls_config.key_file.as_deref(), Some("valid_key_file"));
    assert_eq!(node.interval(), Duration(15_000));
    assert_eq!(prom.timeout(), Duration(10_000), "included configs inherit the main file's global");
    assert!(
        prom.included_from()
            .unwrap()
            .ends_with("testdata/scrape_configs/scrape_config_files1.good.yml")
    );
    let y = c.to_yaml_string();
    assert!(!y.contains("job_name"), "included jobs are not rendered:\n{y}");
    assert!(y.contains("scrape_configs/*.yml"), "{y}");
    let c = load_testdata(&dir, "scrape_config_files_combined.good.yml").unwrap();
    assert!(c.scrape_configs[0].included_from().is_none());
    let y = c.to_yaml_string();
    assert!(y.contains("job_name: node") && !y.contains("job_name: alertmanager"), "{y}");
    // Without a directory nothing is read.
    let text =
        std::fs::read_to_string(dir.join("testdata/scrape_config_files_only.good.yml")).unwrap();
    assert!(load_str(&text, "t.yml").unwrap().scrape_configs.is_empty());
}
