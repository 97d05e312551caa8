//! The head's use of the write-ahead log: every commit is logged before it becomes visible, the log is replayed
//! into an empty head on open (see [`super::replay`]), and head truncation checkpoints the log.
//!
//! Series records are written lazily: the first commit that carries a sample of a series logs the series
//! first, in the same batch. Commits are serialised on the log's lock and applied to memory while it is held,
//! so the in-memory order of every series equals its order in the log, and replay rebuilds exactly the samples
//! that were acknowledged (samples a commit could not apply because a concurrent commit got newer ones in
//! first are skipped identically on replay).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use model::{Exemplar, Value};

use super::Inner;
use super::series::Series;
use crate::error::Error;
use crate::metrics::DurationTotals;
use crate::wal::checkpoint::{self, CheckpointOptions};
use crate::wal::{
    CheckpointStats, RecordRef, RefExemplar, RefFloatHistogramSample, RefHistogramSample,
    RefSample, RefSeries, RefTombstone, Wal, WalWriterStats,
};

/// What opening a head replayed from its WAL (Prometheus logs the same figures on start-up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalReplayStats {
    /// The checkpoint read first.
    pub checkpoint: Option<u32>,
    /// The segments replayed after it, `(first, last)`.
    pub segments: Option<(u32, u32)>,
    /// Records read.
    pub records: u64,
    /// Series created.
    pub series: u64,
    /// Float samples restored.
    pub samples: u64,
    /// Histogram samples restored.
    pub histograms: u64,
    /// Exemplars restored.
    pub exemplars: u64,
    /// Samples and exemplars whose series the log never defined (dropped, as Prometheus does).
    pub unknown_refs: u64,
    /// Samples not newer than their series' previous one (dropped).
    pub out_of_order: u64,
    /// Samples older than the newest block, which holds them already (skipped).
    pub before_blocks: u64,
    /// Chunks taken from `chunks_head/`.
    pub mmapped_chunks: u64,
    /// Samples in the log that those chunks hold already (skipped).
    pub in_mmapped_chunks: u64,
    /// Damaged segments repaired on the way.
    pub repairs: usize,
    /// Segments that were missing from the numbering (replaced by empty ones; what follows was replayed).
    pub missing_segments: u32,
    /// How long the replay took.
    pub duration: Duration,
    /// What replaying the WBL restored, when there is one (replayed after the WAL).
    pub wbl: Option<super::wbl::WblReplayStats>,
    /// What the memory snapshot loaded first did (when the feature is on).
    pub snapshot: super::SnapshotLoadStats,
}

/// Buffers of one commit's records, reused across commits.
#[derive(Debug, Default)]
pub(crate) struct WalBuffers {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    histograms: Vec<RefHistogramSample>,
    float_histograms: Vec<RefFloatHistogramSample>,
    cb_histograms: Vec<RefHistogramSample>,
    cb_float_histograms: Vec<RefFloatHistogramSample>,
    exemplars: Vec<RefExemplar>,
}

impl WalBuffers {
    fn clear(&mut self) {
        self.series.clear();
        self.samples.clear();
        self.histograms.clear();
        self.float_histograms.clear();
        self.cb_histograms.clear();
        self.cb_float_histograms.clear();
        self.exemplars.clear();
    }
}

/// Figures of a head's WAL for the `prometheus_tsdb_wal_*` and `prometheus_tsdb_checkpoint_*` metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalStats {
    /// The segment being written.
    pub segment_current: u32,
    /// Size of the WAL directory (segments and checkpoint) in bytes.
    pub storage_size_bytes: u64,
    /// Commits whose log write failed.
    pub writes_failed: u64,
    /// Page writes, completed pages, fsyncs and segment truncations of the log.
    pub writer: WalWriterStats,
    /// Checkpoint creations attempted (at head truncation, when there were segments to fold in).
    pub checkpoint_creations: u64,
    /// Checkpoint creations that failed.
    pub checkpoint_creations_failed: u64,
    /// Deletions of the checkpoints older than a new one attempted.
    pub checkpoint_deletions: u64,
    /// Deletions of older checkpoints that failed.
    pub checkpoint_deletions_failed: u64,
    /// Durations of the WAL truncations that wrote a checkpoint (checkpoint, segment and checkpoint deletion).
    pub truncate_duration: DurationTotals,
    /// Damage found: segments repaired or missing when the head was opened, checkpoints that failed on
    /// damaged segments.
    pub corruptions: u64,
}

/// The open log of a head.
#[derive(Debug)]
pub(crate) struct HeadWal {
    pub(crate) wal: Wal,
    pub(crate) stats: WalStats,
    bufs: WalBuffers,
    /// Series whose record is being logged by the current commit (their flag is set once the log succeeded).
    newly_logged: Vec<Arc<Series>>,
    /// The write-behind log of out-of-order samples (see [`super::wbl`]), when there is one.
    pub(crate) wbl: Option<super::wbl::HeadWbl>,
}

impl HeadWal {
    pub(crate) fn new(wal: Wal) -> HeadWal {
        HeadWal {
            wal,
            stats: WalStats::default(),
            bufs: WalBuffers::default(),
            newly_logged: Vec::new(),
            wbl: None,
        }
    }

    /// Logs one commit: the series not logged yet, then the samples and exemplars. On error nothing of the
    /// commit may be applied.
    pub(crate) fn log_commit(
        &mut self,
        pending: &[(Arc<Series>, i64, Value)],
        exemplars: &[(u64, Exemplar, i64)],
        series_of_exemplars: impl Fn(u64) -> Option<Arc<Series>>,
    ) -> Result<(), Error> {
        let b = &mut self.bufs;
        b.clear();
        self.newly_logged.clear();
        let mut note_series = |s: &Arc<Series>, b: &mut WalBuffers| {
            if !s.wal_logged.swap(true, Ordering::Relaxed) {
                b.series.push(RefSeries { series_ref: s.reference, labels: s.labels.clone() });
                self.newly_logged.push(s.clone());
            }
        };
        for (s, t, v) in pending {
            note_series(s, b);
            let (series_ref, t) = (s.reference, *t);
            match v {
                Value::Float(v) => b.samples.push(RefSample { series_ref, t, v: *v }),
                Value::Histogram(h) => {
                    let rec = RefHistogramSample { series_ref, t, h: h.clone() };
                    if h.uses_custom_buckets() {
                        b.cb_histograms.push(rec);
                    } else {
                        b.histograms.push(rec);
                    }
                }
                Value::FloatHistogram(fh) => {
                    let rec = RefFloatHistogramSample { series_ref, t, fh: fh.clone() };
                    if fh.uses_custom_buckets() {
                        b.cb_float_histograms.push(rec);
                    } else {
                        b.float_histograms.push(rec);
                    }
                }
            }
        }
        for (r, e, t) in exemplars {
            if let Some(s) = series_of_exemplars(*r) {
                note_series(&s, b);
            }
            b.exemplars.push(RefExemplar {
                series_ref: *r,
                t: *t,
                v: e.value,
                labels: e.labels.clone(),
            });
        }
        let records = [
            RecordRef::Series(&b.series),
            RecordRef::Samples(&b.samples),
            RecordRef::HistogramSamples(&b.histograms),
            RecordRef::FloatHistogramSamples(&b.float_histograms),
            RecordRef::CustomBucketsHistogramSamples(&b.cb_histograms),
            RecordRef::CustomBucketsFloatHistogramSamples(&b.cb_float_histograms),
            RecordRef::Exemplars(&b.exemplars),
        ];
        let res = self.wal.log(&records).and_then(|()| self.wal.sync_if_due().map(|_| ()));
        if res.is_err() {
            self.stats.writes_failed += 1;
            // The series records may not have reached the log: log them again with the next commit.
            for s in &self.newly_logged {
                s.wal_logged.store(false, Ordering::Relaxed);
            }
        }
        self.newly_logged.clear();
        res
    }
}

impl HeadWal {
    /// Logs deletions (before they are applied).
    pub(crate) fn log_tombstones(&mut self, stones: &[RefTombstone]) -> Result<(), Error> {
        self.wal.log(&[RecordRef::Tombstones(stones)])?;
        self.wal.sync_if_due().map(|_| ())
    }
}

/// Replays a WAL directory into an empty head.
/// Checkpoints the lower two thirds of the closed segments, as Prometheus's head does when it truncates:
/// series still in the head and samples from `mint` on are kept, then the folded-in segments and older
/// checkpoints are deleted. Returns `None` when there was too little to fold. Commits go on while the
/// checkpoint is written: the log's lock is only taken to cut the segment and to delete the old ones.
pub(crate) fn truncate(
    head: &Inner,
    hw: &parking_lot::Mutex<HeadWal>,
    mint: i64,
) -> Result<Option<CheckpointStats>, Error> {
    let started = Instant::now();
    let (dir, opts, first, last) = {
        let mut hw = hw.lock();
        let Some((first, last)) = hw.wal.segments()? else {
            return Ok(None);
        };
        // Start a new segment so that a quiet head does not keep more log than needed.
        hw.wal.next_segment()?;
        (hw.wal.dir().to_path_buf(), *hw.wal.options(), first, last)
    };
    // The segment that was active stays out: it holds the newest data.
    let Some(last) = last.checked_sub(1) else {
        return Ok(None);
    };
    let last = first + (last.saturating_sub(first)) * 2 / 3;
    if last <= first {
        return Ok(None);
    }
    // Every series whose record is in the folded segments was created before the cut, so a snapshot of the
    // head's series taken now decides correctly which to keep.
    let live: rustc_hash::FxHashSet<u64> = head.by_ref.all().iter().map(|s| s.reference).collect();
    let cp_opts =
        CheckpointOptions { segment_size: opts.segment_size, compression: opts.compression };
    hw.lock().stats.checkpoint_creations += 1;
    let created =
        checkpoint::create_checkpoint(&dir, first, last, |r| live.contains(&r), mint, cp_opts);
    let stats = match created {
        Ok(stats) => stats,
        Err(e) => {
            let mut hw = hw.lock();
            hw.stats.checkpoint_creations_failed += 1;
            if matches!(e, Error::WalCorruption(_)) {
                hw.stats.corruptions += 1;
            }
            return Err(e);
        }
    };
    // As in Prometheus, a failed segment deletion does not keep the older checkpoints: a later truncation
    // deletes what is left, and replay ignores segments a checkpoint supersedes.
    let mut hw = hw.lock();
    let truncated = hw.wal.truncate(last + 1);
    hw.stats.checkpoint_deletions += 1;
    let deleted = checkpoint::delete_checkpoints(&dir, last);
    if deleted.is_err() {
        hw.stats.checkpoint_deletions_failed += 1;
    }
    hw.stats.truncate_duration.observe(started.elapsed());
    truncated.and(deleted)?;
    Ok(Some(stats))
}

/// The WAL directory of a data directory.
pub(crate) fn wal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wal")
}
