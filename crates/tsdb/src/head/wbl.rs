//! The write-behind log (`wbl/`): the out-of-order samples of every commit, in the WAL's segment and record
//! format, as Prometheus writes them when `out_of_order_time_window` is set. Series records stay in the WAL (the
//! WAL also holds every sample, the out-of-order ones included; its replay drops those, the WBL restores them).
//!
//! A commit is applied first (only then is it known which samples went out of order), then its out-of-order
//! samples are logged, before the commit returns; both happen under the WAL's lock, so the WBL's order is the
//! order in which the series' out-of-order chunks were filled. When a full out-of-order chunk is written to
//! `chunks_head/`, an m-map marker (record type 5) naming it is logged after the samples it holds and before the
//! next sample of the series. The WAL's fsync policy applies to the WBL as well.
//!
//! Replay runs after the WAL's (series exist by then) and after `chunks_head/` was read: samples go back into
//! the out-of-order head chunks, and a marker swaps a head chunk for the chunk it names (see
//! [`super::ooo::OooData::replay_marker`]). Out-of-order compaction seals the data at a segment boundary (the
//! WBL is cut to a new segment while commits wait) and deletes the segments before it once its blocks are
//! written. Damage is repaired as in the WAL: the intact records around it are kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap as HashMap;

use super::Inner;
use super::chunks_head::LoadedChunk;
use super::wal_log::WalStats;
use crate::error::Error;
use crate::wal::{Record, RecordRef, RefMmapMarker, RefSample, Wal, WalOptions};

/// The WBL directory of a data directory.
pub(crate) fn wbl_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wbl")
}

/// What replaying the WBL restored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WblReplayStats {
    /// The segments replayed, `(first, last)`.
    pub segments: Option<(u32, u32)>,
    /// Records read.
    pub records: u64,
    /// Out-of-order samples restored.
    pub samples: u64,
    /// Out-of-order chunks taken back from `chunks_head/` through m-map markers.
    pub mmapped_chunks: u64,
    /// Samples and markers whose series the WAL does not define (dropped, as Prometheus does).
    pub unknown_refs: u64,
    /// Damaged segments repaired on the way.
    pub repairs: usize,
    /// How long the replay took.
    pub duration: Duration,
}

/// The open WBL of a head.
#[derive(Debug)]
pub(crate) struct HeadWbl {
    pub(crate) wal: Wal,
    pub(crate) stats: WalStats,
}

/// The WBL records of one commit, in order.
#[derive(Debug, Default)]
pub(crate) struct WblBatch {
    records: Vec<BatchRecord>,
}

#[derive(Debug)]
enum BatchRecord {
    Samples(Vec<RefSample>),
    Markers(Vec<RefMmapMarker>),
}

impl WblBatch {
    pub(crate) fn sample(&mut self, series_ref: u64, t: i64, v: f64) {
        let s = RefSample { series_ref, t, v };
        match self.records.last_mut() {
            Some(BatchRecord::Samples(v)) => v.push(s),
            _ => self.records.push(BatchRecord::Samples(vec![s])),
        }
    }

    /// A marker goes after every sample logged so far (those of the chunk it names among them).
    pub(crate) fn marker(&mut self, series_ref: u64, mmap_ref: u64) {
        let m = RefMmapMarker { series_ref, mmap_ref };
        match self.records.last_mut() {
            Some(BatchRecord::Markers(v)) => v.push(m),
            _ => self.records.push(BatchRecord::Markers(vec![m])),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl HeadWbl {
    /// Logs a commit's out-of-order records, then fsyncs if the policy says so.
    pub(crate) fn log(&mut self, batch: &WblBatch) -> Result<(), Error> {
        let refs: Vec<RecordRef<'_>> = batch
            .records
            .iter()
            .map(|r| match r {
                BatchRecord::Samples(v) => RecordRef::Samples(v),
                BatchRecord::Markers(v) => RecordRef::MmapMarkers(v),
            })
            .collect();
        let res = self.wal.log(&refs).and_then(|()| self.wal.sync_if_due().map(|_| ()));
        if res.is_err() {
            self.stats.writes_failed += 1;
        }
        res
    }

    /// Starts a new segment and returns its number: every record logged before is in the segments below it.
    pub(crate) fn cut(&mut self) -> Result<u32, Error> {
        self.wal.next_segment()
    }

    /// Deletes the segments below `before`.
    pub(crate) fn truncate(&mut self, before: u32) -> Result<(), Error> {
        let started = Instant::now();
        let res = self.wal.truncate(before);
        self.stats.truncate_duration.observe(started.elapsed());
        res
    }
}

/// Replays the WBL in `dir` into `head` (whose series the WAL's replay created) and opens it for writing.
/// `ooo_chunks` are the out-of-order chunks read from `chunks_head/` by reference; `alias` maps WAL references
/// whose labels the WAL had defined before under another reference to that series.
pub(crate) fn replay(
    head: &Inner,
    dir: &Path,
    opts: WalOptions,
    mut ooo_chunks: HashMap<u64, LoadedChunk>,
    alias: &HashMap<u64, u64>,
) -> Result<(HeadWbl, WblReplayStats), Error> {
    let started = Instant::now();
    let cap = head.ooo_cap();
    let mut stats = WblReplayStats::default();
    let resolve = |r: u64| alias.get(&r).copied().unwrap_or(r);
    let (wal, summary) = Wal::open_with(dir, opts, |rec| {
        match rec {
            Record::Samples(samples) => {
                for x in samples {
                    let Some(s) = head.series_by_ref(resolve(x.series_ref)) else {
                        stats.unknown_refs += 1;
                        continue;
                    };
                    if let Some(first) = s.replay_ooo(x.t, x.v, cap) {
                        stats.samples += 1;
                        if first {
                            head.note_ooo_series(&s);
                        }
                    }
                }
            }
            Record::MmapMarkers(markers) => {
                for m in markers {
                    let Some(s) = head.series_by_ref(resolve(m.series_ref)) else {
                        stats.unknown_refs += 1;
                        continue;
                    };
                    let chunk =
                        ooo_chunks.remove(&m.mmap_ref).filter(|c| c.series_ref == m.series_ref);
                    stats.mmapped_chunks += u64::from(chunk.is_some());
                    if s.replay_ooo_marker(chunk.as_ref()) {
                        head.note_ooo_series(&s);
                    }
                }
            }
            // Prometheus 3 also logs histogram samples here; this head keeps out-of-order floats only.
            _ => {}
        }
        Ok(())
    })?;
    stats.segments = wal.open_info().replayed_segments;
    stats.records = summary.records;
    stats.repairs = summary.repairs.len();
    stats.duration = started.elapsed();
    let mut hw = HeadWbl { wal, stats: WalStats::default() };
    hw.stats.corruptions = stats.repairs as u64;
    Ok((hw, stats))
}
