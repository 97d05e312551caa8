//! Opening the local storage and running its housekeeping: the data directory lock, blocks and WAL replay, the
//! fsync ticker, and every minute head compaction into blocks (which truncates the head and checkpoints the WAL)
//! followed by retention.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tsdb::wal::{Compression, SyncPolicy, WalOptions};
use tsdb::{Db, DbOptions, DirLock, Head, HeadOptions};

use crate::cli::ServerArgs;

/// The `--enable-feature` value that turns memory snapshots on.
pub(crate) const MEMORY_SNAPSHOT: &str = "memory-snapshot-on-shutdown";

/// How often compaction and retention run in any case (Prometheus's block reload interval).
const COMPACT_INTERVAL: Duration = Duration::from_secs(60);
/// How often the head is checked for being compactable (Prometheus checks on every commit).
const COMPACTABLE_CHECK: Duration = Duration::from_secs(1);

/// The open storage and the lock on its directory.
pub(crate) struct Storage {
    pub(crate) db: Db,
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
pub(crate) fn open(
    args: &ServerArgs,
    max_exemplars: usize,
    out_of_order_time_window: i64,
) -> anyhow::Result<Storage> {
    let dir: &Path = &args.tsdb_path;
    let lock = if args.no_lockfile {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create data directory {}", dir.display()))?;
        None
    } else {
        Some(DirLock::acquire(dir).context("opening storage failed")?)
    };
    let wal = wal_options(args)?;
    let retention_ms = retention_ms(args)?;
    let opts = DbOptions {
        head: HeadOptions {
            max_exemplars,
            out_of_order_time_window,
            memory_snapshot_on_shutdown: args.has_feature(MEMORY_SNAPSHOT),
            ..HeadOptions::default()
        },
        wal,
        block_range: parse_ms(&args.min_block_duration, "--storage.tsdb.min-block-duration")?,
        max_block_duration: max_block_duration_ms(args, retention_ms)?,
        retention_ms,
        retention_bytes: match &args.retention_size {
            Some(s) => {
                config::Size::parse(s)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("parse --storage.tsdb.retention.size")?
                    .0
            }
            None => 0,
        },
    };
    if opts.head.memory_snapshot_on_shutdown {
        tracing::info!("Chunk snapshot is enabled, replaying from the snapshot");
    }
    tracing::info!("Replaying WAL, this may take a while");
    let (db, stats) = Db::open(dir, opts).context("opening storage failed")?;
    let head = db.head().clone();
    let snap = &stats.snapshot;
    if let Some(why) = &snap.discarded {
        if snap.replay_errors > 0 {
            tracing::error!(err = %why, "Failed to load chunk snapshot; replayed the WAL instead");
        } else {
            tracing::warn!(reason = %why, "Chunk snapshot not usable, removed it; replayed the WAL instead");
        }
    }
    if let Some((dir, at)) = &snap.loaded {
        tracing::info!(
            dir = %dir.display(),
            num_series = snap.series,
            exemplars = snap.exemplars,
            wal_segment = at.segment,
            wal_offset = at.offset,
            duration = ?snap.duration,
            "Chunk snapshot loaded"
        );
    }
    tracing::info!(blocks = db.blocks().len(), "Blocks loaded");
    if stats.missing_segments > 0 {
        tracing::warn!(
            missing = stats.missing_segments,
            "WAL segments are missing; replayed the rest around the gap"
        );
    }
    if stats.unknown_refs > 0 {
        tracing::warn!(samples = stats.unknown_refs, "Unknown series references");
    }
    if let Some(m) = head.mmap_stats()
        && let Some(why) = &m.opened.first_corruption
    {
        tracing::warn!(
            err = %why,
            corruptions = m.opened.corruptions,
            "Head chunk files were damaged; dropped them from the damage on, the WAL restores those samples"
        );
    }
    tracing::info!(
        checkpoint = ?stats.checkpoint,
        segments = ?stats.segments,
        repairs = stats.repairs,
        series = stats.series,
        samples = stats.samples + stats.histograms,
        mmapped_chunks = stats.mmapped_chunks,
        total_replay_duration = ?stats.duration,
        "WAL replay completed"
    );
    if let Some(w) = &stats.wbl {
        if w.unknown_refs > 0 {
            tracing::warn!(
                samples = w.unknown_refs,
                "Unknown series references for ooo WAL replay"
            );
        }
        tracing::info!(
            segments = ?w.segments,
            repairs = w.repairs,
            samples = w.samples,
            mmapped_chunks = w.mmapped_chunks,
            wbl_replay_duration = ?w.duration,
            "WBL replay completed"
        );
    }
    Ok(Storage { db, head, replay: stats, _lock: lock })
}

fn parse_ms(v: &str, flag: &str) -> anyhow::Result<i64> {
    model::parse_duration(v)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("parse {flag}"))
}

/// `--storage.tsdb.max-block-duration`; when unset (or 0), a tenth of the time retention, at most 31 days, as in
/// Prometheus.
fn max_block_duration_ms(args: &ServerArgs, retention_ms: i64) -> anyhow::Result<i64> {
    let set = match &args.max_block_duration {
        Some(v) => parse_ms(v, "--storage.tsdb.max-block-duration")?,
        None => 0,
    };
    Ok(if set > 0 { set } else { tsdb::default_max_block_duration(retention_ms) })
}

/// `--storage.tsdb.retention.time`; 15 days when neither it nor the size retention is given, as in Prometheus.
pub(crate) fn retention_ms(args: &ServerArgs) -> anyhow::Result<i64> {
    match &args.retention_time {
        Some(t) => parse_ms(t, "--storage.tsdb.retention.time"),
        None if args.retention_size.is_some() => Ok(0),
        None => Ok(15 * 24 * 3600 * 1000),
    }
}

/// A recurring operation's health, logged when it starts failing and when it works again.
struct Failing {
    failing: bool,
    failed: &'static str,
    recovered: &'static str,
}

impl Failing {
    fn new(failed: &'static str, recovered: &'static str) -> Failing {
        Failing { failing: false, failed, recovered }
    }

    fn note<T>(&mut self, r: Result<T, tsdb::Error>) {
        match r {
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::error!(err = %e, "{}", self.failed);
            }
            Ok(_) if self.failing => {
                self.failing = false;
                tracing::info!("{}", self.recovered);
            }
            _ => {}
        }
    }
}

/// Runs the fsync ticker, and head compaction with retention, until the runtime stops.
pub(crate) fn spawn_housekeeping(db: Db, wal: &WalOptions) {
    // A quarter of the fsync interval, so a sync is at most a quarter late.
    let tick = match wal.sync_policy {
        SyncPolicy::Interval(d) => (d / 4).max(Duration::from_millis(10)),
        SyncPolicy::Always | SyncPolicy::Never => Duration::from_secs(1),
    };
    let head = db.head().clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(tick);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Logged when syncing (or writing head chunks) starts failing and when it recovers, not on every tick.
        let mut sync = Failing::new("Syncing WAL failed", "Syncing WAL works again");
        let mut mmap = Failing::new(
            "Writing head chunks failed; they stay in memory",
            "Writing head chunks works again",
        );
        loop {
            t.tick().await;
            let h = head.clone();
            let Ok((synced, mapped)) =
                tokio::task::spawn_blocking(move || (h.sync_wal_if_due(), h.mmap_chunks())).await
            else {
                continue;
            };
            sync.note(synced);
            mmap.note(mapped);
        }
    });
    tokio::spawn(async move {
        let mut t = tokio::time::interval(COMPACTABLE_CHECK);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = tokio::time::Instant::now();
        loop {
            t.tick().await;
            if !db.head_compactable() && last.elapsed() < COMPACT_INTERVAL {
                continue;
            }
            last = tokio::time::Instant::now();
            let db = db.clone();
            match tokio::task::spawn_blocking(move || db.compact()).await {
                Ok(Ok(report)) => {
                    for (ulid, mint, maxt) in &report.blocks {
                        tracing::info!(ulid = %ulid, mint, maxt, "write block");
                    }
                    if !report.ooo_blocks.is_empty() {
                        let ulids: Vec<String> =
                            report.ooo_blocks.iter().map(|(u, _, _)| u.to_string()).collect();
                        tracing::info!(ulids = ?ulids, "out-of-order compaction completed");
                    }
                }
                Ok(Err(e)) => tracing::error!(err = %e, "compaction failed"),
                Err(_) => {}
            }
        }
    });
}
