//! A data directory written by Debian's Prometheus 2.42 while it scraped itself and node-exporter: we open a copy
//! of it, Prometheus 2.42 reopens another, and every query of `../shared/bench/queries-sample.txt` (the everyday
//! queries of such a setup) must give the same answer from both, as instant queries at two times and as a range
//! query. Skips with a notice when the peers are not installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Proc, enc, free_port, missing_peer, start_node_exporter, system_bin};
use crate::server::start;

/// How long Prometheus scrapes: the sample queries reach back at most 2m30s (`[2m:15s]` over `[30s]`).
const SCRAPE_SECONDS: u64 = 170;

/// Queries used when the shared sample file is absent.
const FALLBACK_QUERIES: &[&str] = &[
    "up",
    "sum by (mode) (rate(node_cpu_seconds_total[1m]))",
    "histogram_quantile(0.9, sum by (le, handler) (rate(prometheus_http_request_duration_seconds_bucket[1m])))",
    "max_over_time(rate(process_cpu_seconds_total[30s])[2m:15s])",
    "rate(process_cpu_seconds_total[1m] offset 1m)",
];

fn queries() -> Vec<String> {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/queries-sample.txt");
    match std::fs::read_to_string(&file) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        Err(_) => {
            eprintln!(
                "notice: {} absent; using {} built-in queries",
                file.display(),
                FALLBACK_QUERIES.len()
            );
            FALLBACK_QUERIES.iter().map(|q| q.to_string()).collect()
        }
    }
}

/// A query's result in comparable form: result type and `labels => values` (values as the API's strings, each
/// point `time@value`; histograms as their JSON).
type Answer = (String, BTreeMap<String, Vec<String>>);

fn answer(p: &Proc, path: &str) -> Answer {
    let v = p.json(path);
    assert_eq!(v["status"], "success", "{path}: {v}");
    let ty = v["data"]["resultType"].as_str().unwrap_or_default().to_string();
    let point =
        |pt: &serde_json::Value| format!("{}@{}", pt[0], pt[1].as_str().unwrap_or_default());
    let mut out = BTreeMap::new();
    match ty.as_str() {
        "scalar" | "string" => {
            out.insert(String::new(), vec![point(&v["data"]["result"])]);
        }
        _ => {
            for s in v["data"]["result"].as_array().unwrap() {
                let mut values: Vec<String> = Vec::new();
                for key in ["value", "histogram"] {
                    if !s[key].is_null() {
                        values.push(point(&s[key]));
                    }
                }
                for key in ["values", "histograms"] {
                    for pt in s[key].as_array().into_iter().flatten() {
                        values.push(point(pt));
                    }
                }
                out.insert(s["metric"].to_string(), values);
            }
        }
    }
    (ty, out)
}

/// Whether two answers agree: same series, same timestamps, values equal or within 1e-9 relative (the servers
/// sum in different orders). For `topk`/`bottomk` ties may pick different series, so only the values count.
fn agree(query: &str, a: &Answer, b: &Answer) -> bool {
    let close = |x: &str, y: &str| {
        let (Some((tx, vx)), Some((ty, vy))) = (x.split_once('@'), y.split_once('@')) else {
            return x == y;
        };
        if tx != ty {
            return false;
        }
        match (vx.parse::<f64>(), vy.parse::<f64>()) {
            (Ok(p), Ok(q)) if p.is_finite() && q.is_finite() => {
                (p - q).abs() <= 1e-9 * p.abs().max(q.abs()) || p == q
            }
            _ => vx == vy,
        }
    };
    let same_points = |x: &[String], y: &[String]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q))
    };
    if a.0 != b.0 {
        return false;
    }
    if query.starts_with("topk") || query.starts_with("bottomk") {
        let values = |ans: &Answer| {
            let mut v: Vec<String> = ans.1.values().flatten().map(|p| p.to_string()).collect();
            v.sort();
            v
        };
        return same_points(&values(a), &values(b));
    }
    a.1.len() == b.1.len()
        && a.1.iter().zip(&b.1).all(|((ka, va), (kb, vb))| ka == kb && same_points(va, vb))
}

/// Whether `q` has a subquery: a `[…]` holding a colon.
fn is_subquery(q: &str) -> bool {
    q.split('[').skip(1).any(|rest| rest.split(']').next().is_some_and(|r| r.contains(':')))
}

#[test]
fn prometheus_2_42_data_directory_answers_the_sample_queries_alike() {
    let (Some(prom), Some(node)) =
        (system_bin("prometheus"), system_bin("prometheus-node-exporter"))
    else {
        missing_peer("Debian's prometheus and prometheus-node-exporter");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (node_proc, node_addr) = start_node_exporter(&node, dir.path());

    // Prometheus 2.42 scrapes itself and node-exporter every second into its own data directory.
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let scrape_yml = dir.path().join("scrape.yml");
    std::fs::write(
        &scrape_yml,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n  \
             - {{job_name: prometheus, static_configs: [{{targets: ['{prom_addr}']}}]}}\n  \
             - {{job_name: node, static_configs: [{{targets: ['{node_addr}']}}]}}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("prometheus-data");
    let mut writer = Proc::start(
        &prom,
        &[
            format!("--config.file={}", scrape_yml.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={prom_addr}"),
        ],
        prom_addr.clone(),
        dir.path().join("prometheus-writer.log"),
    );
    writer.wait_ready("/-/ready", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(SCRAPE_SECONDS));
    // Each target's newest sample time (its scrapes land on the same millisecond of every second), then a clean
    // shutdown, so the WAL is complete.
    let (_, last) = answer(&writer, &format!("/api/v1/query?query={}", enc("timestamp(up)")));
    let last_ms: Vec<i64> = last
        .values()
        .filter_map(|v| v.first()?.split_once('@')?.1.parse::<f64>().ok())
        .map(|t| (t * 1000.0).round() as i64)
        .collect();
    assert_eq!(last_ms.len(), 2, "both targets scraped: {last:?}");
    let status =
        Command::new("kill").arg("-TERM").arg(writer.child.id().to_string()).status().unwrap();
    assert!(status.success());
    let _ = writer.child.wait();
    drop(node_proc);

    // Each server gets its own copy and scrapes nothing more.
    let quiet_yml = dir.path().join("quiet.yml");
    std::fs::write(&quiet_yml, "global: {scrape_interval: 1s}\n").unwrap();
    let copy_to = |to: &Path| {
        let ok = Command::new("cp").arg("-a").arg(&data).arg(to).status().unwrap().success();
        assert!(ok, "copy the data directory to {}", to.display());
    };
    let ref_data = dir.path().join("reference");
    copy_to(&ref_data);
    let ours_dir = dir.path().join("ours");
    std::fs::create_dir(&ours_dir).unwrap();
    copy_to(&ours_dir.join("data"));
    let ref_addr = format!("127.0.0.1:{}", free_port());
    let mut reference = Proc::start(
        &prom,
        &[
            format!("--config.file={}", quiet_yml.display()),
            format!("--storage.tsdb.path={}", ref_data.display()),
            format!("--web.listen-address={ref_addr}"),
        ],
        ref_addr,
        dir.path().join("prometheus-reference.log"),
    );
    reference.wait_ready("/-/ready", Duration::from_secs(60));
    let ours = start(&ours_dir, &[format!("--config.file={}", quiet_yml.display())]);

    // Evaluation times whose millisecond within the second is as far as possible from both targets' scrape
    // milliseconds: every window of the sample queries is whole seconds long, so no window boundary falls on a
    // sample, where Prometheus 3 (left-open ranges, as we) and 2.42 (closed) would differ.
    let millis: Vec<i64> = last_ms.iter().map(|t| t.rem_euclid(1000)).collect();
    let gap = |m: i64| {
        millis.iter().map(|o| (m - o).rem_euclid(1000).min((o - m).rem_euclid(1000))).min()
    };
    let best = (0..1000).max_by_key(|m| gap(*m)).unwrap_or(500);
    let newest = *last_ms.iter().min().unwrap();
    let t1_ms = (newest - 3000).div_euclid(1000) * 1000 + best;
    let (t1, t2) = (t1_ms as f64 / 1000.0, (t1_ms - 29_000) as f64 / 1000.0);
    // Subqueries step on whole multiples of their resolution, so their windows end on whole seconds.
    let subquery_safe = gap(0).unwrap_or(0) > 5;
    let (mut compared, mut with_data, mut differ) = (0, 0, Vec::new());
    for q in queries() {
        if is_subquery(&q) && !subquery_safe {
            eprintln!("notice: a target scrapes on the whole second; skipping the subquery {q}");
            continue;
        }
        let paths = [
            format!("/api/v1/query?query={}&time={t1}", enc(&q)),
            format!("/api/v1/query?query={}&time={t2}", enc(&q)),
            format!("/api/v1/query_range?query={}&start={t2}&end={t1}&step=5", enc(&q)),
        ];
        let mut data = false;
        for path in &paths {
            let (a, b) = (answer(&reference, path), answer(&ours, path));
            compared += 1;
            data |= !b.1.is_empty();
            if !agree(&q, &a, &b) {
                differ.push(format!("{path}\n  prometheus 2.42: {a:?}\n  promethium:      {b:?}"));
            }
        }
        with_data += usize::from(data);
    }
    println!("{compared} answers compared, {with_data} queries with data, {} differ", differ.len());
    assert!(differ.is_empty(), "answers differ:\n{}", differ.join("\n"));
    assert!(with_data * 4 >= queries().len() * 3, "only {with_data} queries returned data");
}
