//! `kill -9` that demonstrably lands while a block is being written (head compaction or block merge: a
//! `<ULID>.tmp-for-creation` directory in the data directory) or while a WAL checkpoint is being built
//! (`wal/checkpoint.NNNNNNNN.tmp`), 20 times each: every restart comes up on its own, has every sample
//! acknowledged before the kill exactly once, and leaves no temporary entry behind.
//!
//! Before the first kill one such write is watched from start to end, so the kills are aimed at this machine's
//! speed. Then, after a random while of ingestion, the data directory is polled every millisecond; once such an
//! entry appears the server is killed after a random delay below half the watched write's length (seeded,
//! printed). A kill counts as landing during the write when the entry is still there after the process died:
//! nothing removes it but the next start.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::crash::{Acked, Leftovers, Rng, entries_named};
use crate::harness::serve_series;
use crate::server::start;

/// Kills per test.
const KILLS: usize = 20;

/// A write a kill is aimed at, and the load that makes it take long enough to hit.
struct CrashPoint {
    /// The test, for the printed seed.
    test: &'static str,
    /// The temporary entries of such writes in a data directory.
    in_progress: fn(&Path) -> Vec<PathBuf>,
    /// Kills that must land during the write.
    min_landed: usize,
    /// Series scraped.
    series: usize,
    /// Their scrape interval.
    scrape_interval: &'static str,
}

fn blocks_being_written(data: &Path) -> Vec<PathBuf> {
    entries_named(data, |n| n.ends_with(".tmp-for-creation"))
}

fn checkpoints_being_written(data: &Path) -> Vec<PathBuf> {
    entries_named(&data.join("wal"), |n| n.starts_with("checkpoint.") && n.ends_with(".tmp"))
}

#[test]
fn kill_9_during_compaction_loses_nothing() {
    kill_during(&CrashPoint {
        test: "kill_9_during_compaction_loses_nothing",
        in_progress: blocks_being_written,
        min_landed: 15,
        series: 20_000,
        scrape_interval: "1s",
    });
}

#[test]
fn kill_9_during_checkpoint_loses_nothing() {
    kill_during(&CrashPoint {
        test: "kill_9_during_checkpoint_loses_nothing",
        in_progress: checkpoints_being_written,
        min_landed: 15,
        series: 20_000,
        scrape_interval: "1s",
    });
}

/// Polls `data` every millisecond for an entry of a write in progress, for up to 60 s.
fn next_entry(point: &CrashPoint, data: &Path, what: &str, log: impl Fn() -> String) -> PathBuf {
    let waited = Instant::now();
    loop {
        if let Some(e) = (point.in_progress)(data).pop() {
            return e;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{what}: nothing like it written in 60 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The lines of a server log at WARN or ERROR level.
fn complaints(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("level=WARN") || l.contains("level=ERROR")).collect()
}

fn kill_during(point: &CrashPoint) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    serve_series(listener, point.series, |k, i| (k * (i as u64 + 1)).to_string());
    let interval = point.scrape_interval;
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\nscrape_configs:\n  - job_name: counters\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    // Blocks of 2 s: the head is compacted about every 2 s, every second compaction checkpoints the WAL.
    let flags = [
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        "--storage.tsdb.min-block-duration=2s".to_string(),
    ];
    let mut rng = Rng::seeded(point.test);
    let mut acked = Acked::default();
    let mut landed = 0;
    let mut write_ms = 0;
    for round in 0..=KILLS {
        let leftovers = Leftovers::scan(&data);
        let p = start(dir.path(), &flags);
        leftovers.assert_gone(round);
        acked.assert_kept(&p, round);
        if round == KILLS {
            break;
        }
        // Ingest a while (a restart compacts at once: the head spans the downtime), note what is acknowledged,
        // then crash in the next such write.
        if round == 0 {
            let watched = next_entry(point, &data, "watching a write", || p.log_text());
            let started = Instant::now();
            while watched.exists() {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{} still there after 60 s",
                    watched.display()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            write_ms = started.elapsed().as_millis() as u64;
            eprintln!(
                "{}: {} took {write_ms} ms; kills land below {} ms",
                point.test,
                watched.display(),
                write_ms / 2
            );
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 2000)));
        acked = Acked::note(&p);
        let delay = rng.range(0, (write_ms / 2).max(1));
        let waited = Instant::now();
        let seen = next_entry(point, &data, &format!("round {round}"), || p.log_text());
        std::thread::sleep(Duration::from_millis(delay));
        let log = p.log_text();
        drop(p); // SIGKILL
        let during = !(point.in_progress)(&data).is_empty();
        landed += usize::from(during);
        eprintln!(
            "round {round}: killed {delay} ms after seeing {} ({} ms after noting the samples): {}",
            seen.file_name().unwrap().to_string_lossy(),
            waited.elapsed().as_millis(),
            if during { "during the write" } else { "after it" },
        );
        assert!(complaints(&log).is_empty(), "round {round}: {:?}", complaints(&log));
    }
    eprintln!("{}: {landed} of {KILLS} kills landed during the write", point.test);
    assert!(landed >= point.min_landed, "only {landed} of {KILLS} kills landed during the write");
    assert!(acked.len() > KILLS, "ingestion went on between the crashes: {} samples", acked.len());
    let blocks = entries_named(&data, |n| n.len() == 26)
        .into_iter()
        .filter(|b| b.join("meta.json").exists());
    assert!(blocks.count() > 0, "no block was written");
}
