//! Opening the local storage and running its housekeeping: the data directory lock, WAL replay, the fsync ticker,
//! head garbage collection by retention and WAL checkpoints.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tsdb::wal::{Compression, SyncPolicy, WalOptions};
use tsdb::{DirLock, Head, HeadOptions};

use crate::cli::ServerArgs;

/// How often the head is garbage-collected.
const GC_INTERVAL: Duration = Duration::from_secs(60);
/// How often the WAL is checkpointed (Prometheus truncates the head about once per block range).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(3600);

/// The open storage and the lock on its directory.
pub(crate) struct Storage {
    pub(crate) head: Head,
    pub(crate) replay: tsdb::WalReplayStats,
    _lock: Option<DirLock>,
}

/// The WAL settings from the flags.
pub(crate) fn wal_options(args: &ServerArgs) -> anyhow::Result<WalOptions> {
    let interval = model::parse_duration(&args.wal_fsync_interval)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("parse --storage.tsdb.wal-fsync-interval")?;
    let sync_policy = if interval <= 0 {
        SyncPolicy::Always
    } else {
        SyncPolicy::Interval(Duration::from_millis(interval as u64))
    };
    let mut opts = WalOptions {
        compression: if args.wal_compression { Compression::Snappy } else { Compression::None },
        sync_policy,
        ..WalOptions::default()
    };
    if let Some(size) = &args.wal_segment_size {
        let bytes = config::Size::parse(size)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("parse --storage.tsdb.wal-segment-size")?
            .0;
        let page = tsdb::wal::PAGE_SIZE as u64;
        anyhow::ensure!(
            (10 * 1024 * 1024..=256 * 1024 * 1024).contains(&bytes),
            "--storage.tsdb.wal-segment-size must be between 10MB and 256MB"
        );
        opts.segment_size = bytes / page * page;
    }
    Ok(opts)
}

/// Locks the data directory and replays the WAL into the head, logging what the replay found as Prometheus does.
pub(crate) fn open(args: &ServerArgs, max_exemplars: usize) -> anyhow::Result<Storage> {
    let dir: &Path = &args.tsdb_path;
    let lock = if args.no_lockfile {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create data directory {}", dir.display()))?;
        None
    } else {
        Some(DirLock::acquire(dir).context("opening storage failed")?)
    };
    let wal = wal_options(args)?;
    tracing::info!("Replaying WAL, this may take a while");
    let (head, stats) =
        Head::open(dir, HeadOptions { max_exemplars }, wal).context("opening storage failed")?;
    if stats.missing_segments > 0 {
        tracing::warn!(
            missing = stats.missing_segments,
            "WAL segments are missing; replayed the rest around the gap"
        );
    }
    if stats.unknown_refs > 0 {
        tracing::warn!(samples = stats.unknown_refs, "Unknown series references");
    }
    tracing::info!(
        checkpoint = ?stats.checkpoint,
        segments = ?stats.segments,
        repairs = stats.repairs,
        series = stats.series,
        samples = stats.samples + stats.histograms,
        total_replay_duration = ?stats.duration,
        "WAL replay completed"
    );
    Ok(Storage { head, replay: stats, _lock: lock })
}

/// Runs the fsync ticker, retention garbage collection and WAL checkpoints until the runtime stops.
pub(crate) fn spawn_housekeeping(head: Head, wal: &WalOptions, retention_ms: i64) {
    // A quarter of the fsync interval, so a sync is at most a quarter late.
    let tick = match wal.sync_policy {
        SyncPolicy::Interval(d) => (d / 4).max(Duration::from_millis(10)),
        SyncPolicy::Always | SyncPolicy::Never => Duration::from_secs(1),
    };
    let h = head.clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(tick);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            t.tick().await;
            let h = h.clone();
            let res = tokio::task::spawn_blocking(move || h.sync_wal_if_due()).await;
            if let Ok(Err(e)) = res {
                tracing::error!(err = %e, "Syncing WAL failed");
            }
        }
    });
    tokio::spawn(async move {
        let mut t = tokio::time::interval(GC_INTERVAL);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint = tokio::time::Instant::now();
        loop {
            t.tick().await;
            let mint = chrono::Utc::now().timestamp_millis() - retention_ms;
            let checkpoint = last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL;
            if checkpoint {
                last_checkpoint = tokio::time::Instant::now();
            }
            let h = head.clone();
            let res = tokio::task::spawn_blocking(move || {
                h.truncate(mint);
                if checkpoint { h.truncate_wal(mint) } else { Ok(None) }
            })
            .await;
            match res {
                Ok(Ok(Some(stats))) => tracing::info!(
                    dropped_series = stats.dropped_series,
                    dropped_samples = stats.dropped_samples,
                    "WAL checkpoint complete"
                ),
                Ok(Err(e)) => tracing::error!(err = %e, "Creating WAL checkpoint failed"),
                _ => {}
            }
        }
    });
}
