//! `--enable-feature=memory-snapshot-on-shutdown` on the real binary: a graceful shutdown leaves a complete
//! `chunk_snapshot.*` directory, and a restart from it serves exactly what a full WAL replay of the same data
//! directory serves; Debian's Prometheus 2.42 starts from our snapshot too.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::crash::{WATCHED, count_some, entries_named, samples, tmp_entries};
use crate::harness::{Proc, eventually, free_port, missing_peer, serve_series, system_bin};
use crate::server::start;

const FEATURE: &str = "--enable-feature=memory-snapshot-on-shutdown";

fn stop(mut p: Proc) -> String {
    Command::new("kill").arg("-TERM").arg(p.child.id().to_string()).status().unwrap();
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{}", p.log_text());
    p.log_text()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "lock" {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// What the API serves of the ingested series.
fn served(p: &Proc) -> (Vec<Vec<(i64, String)>>, f64) {
    (WATCHED.iter().map(|s| samples(p, s)).collect(), count_some(p))
}

fn metric(p: &Proc, name: &str) -> Option<f64> {
    let (_, text) = p.get("/metrics");
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok())
}

#[test]
fn a_restart_from_the_memory_snapshot_serves_what_a_wal_replay_serves() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 2000, |k, i| (k * (i as u64 + 1)).to_string());
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: counters\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let flags = [format!("--config.file={}", cfg.display()), FEATURE.to_string()];
    let p = start(dir.path(), &flags);
    // More than a chunk of 120 samples per series, so chunks_head/ holds some of them.
    eventually(Duration::from_secs(60), "150 scrapes", || {
        (samples(&p, WATCHED[0]).len() >= 150).then_some(())
    });
    let log = stop(p);
    assert!(log.contains("chunk snapshot complete"), "{log}");
    let data = dir.path().join("data");
    let snapshots = entries_named(&data, |n| n.starts_with("chunk_snapshot."));
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert!(tmp_entries(&data).is_empty(), "{:?}", tmp_entries(&data));

    // The same data directory replayed from the WAL alone, for comparison.
    let full = tempfile::tempdir().unwrap();
    copy_dir(&data, &full.path().join("data"));
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let idle = [format!("--config.file={}", cfg.display())];
    let wal_replay = start(full.path(), &idle);
    let want = served(&wal_replay);
    drop(wal_replay);
    assert!(want.0[0].len() >= 150 && want.1 > 0.0, "{want:?}");

    let with_snapshot = [idle[0].clone(), FEATURE.to_string()];
    let p = start(dir.path(), &with_snapshot);
    assert_eq!(served(&p), want);
    let log = p.log_text();
    assert!(log.contains("Chunk snapshot loaded"), "{log}");
    assert_eq!(metric(&p, "prometheus_tsdb_snapshot_replay_error_total"), Some(0.0));
    let replay = p.json("/api/v1/status/walreplay");
    assert_eq!(replay["data"]["current"], replay["data"]["max"], "{replay}");
    stop(p);
    // The next shutdown replaced the snapshot.
    let again = entries_named(&data, |n| n.starts_with("chunk_snapshot."));
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(tmp_entries(&data).is_empty());
}

/// Prometheus 2.42 with the feature loads the snapshot we wrote (it logs "chunk snapshot loaded" and replays only
/// the WAL after it) and serves the same samples, deletions included.
#[test]
fn prometheus_2_42_starts_from_our_memory_snapshot() {
    let Some(prom) = system_bin("prometheus") else {
        missing_peer("Debian's prometheus");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, 200, |k, i| (k * (i as u64 + 1)).to_string());
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: counters\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let flags = [
        format!("--config.file={}", cfg.display()),
        FEATURE.to_string(),
        "--web.enable-admin-api".to_string(),
    ];
    let p = start(dir.path(), &flags);
    eventually(Duration::from_secs(60), "130 scrapes", || {
        (samples(&p, WATCHED[0]).len() >= 130).then_some(())
    });
    // A deletion, so the snapshot's tombstone record has an entry. Like Prometheus's, it reaches only up to the
    // newest sample the series has, so a scrape landing between the deletion and the shutdown stays visible.
    let before = samples(&p, WATCHED[0]).last().map(|s| s.0).expect("samples before the deletion");
    let (status, body) =
        p.post("/api/v1/admin/tsdb/delete_series", "match[]=m{i=\"7\"}&start=0&end=1e10");
    assert_eq!(status, 204, "{body}");
    stop(p);
    let data = dir.path().join("data");
    let theirs_dir = tempfile::tempdir().unwrap();
    copy_dir(&data, &theirs_dir.path().join("data"));

    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let ours = start(dir.path(), &[format!("--config.file={}", cfg.display())]);
    let want = served(&ours);
    drop(ours);
    assert!(want.0[0].iter().filter(|s| s.0 <= before).count() >= 130, "{want:?}");
    assert!(want.0[1].iter().all(|s| s.0 > before), "deleted samples served: {want:?}");

    let addr = format!("127.0.0.1:{}", free_port());
    let mut theirs = Proc::start(
        &prom,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", theirs_dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
            FEATURE.to_string(),
        ],
        addr,
        theirs_dir.path().join("prometheus.log"),
    );
    theirs.wait_ready("/-/ready", Duration::from_secs(60));
    let log = theirs.log_text();
    assert!(log.contains("chunk snapshot loaded"), "{log}");
    assert!(!log.contains("Failed to load chunk snapshot"), "{log}");
    assert_eq!(served(&theirs), want);
}
