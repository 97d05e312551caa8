//! The head: the in-memory part of the TSDB holding recent data of every active series.
//!
//! Series live in shards keyed by label set; each holds closed XOR chunks of up to 120 samples plus one open
//! chunk. An inverted index maps every label pair to the sorted references of the series carrying it. Appenders
//! buffer samples and apply them atomically on commit, enforcing Prometheus's ordering rules. With an
//! out-of-order window, older float samples go into per-series out-of-order chunks (`ooo.rs`) logged to the
//! write-behind log (`wbl.rs`).

mod appender;
mod chunk_snapshot;
mod chunks_head;
mod exemplars;
mod index;
mod ooo;
mod query;
mod refs;
mod replay;
mod series;
mod wal_log;
mod wbl;

pub use chunk_snapshot::{ChunkSnapshotStats, SnapshotLoadStats};
pub use chunks_head::ChunksHeadOpenStats;
pub use ooo::DEFAULT_OUT_OF_ORDER_CAP_MAX;
pub(crate) use ooo::OooSeal;
pub use wal_log::{WalReplayStats, WalStats};
pub use wbl::WblReplayStats;

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use model::Labels;
use parking_lot::RwLock;
use storage::{Appendable, Appender, Querier, Queryable, StorageError};

use crate::error::Error;
use crate::metrics::DurationTotals;
use crate::wal::{CheckpointStats, WalOptions};
use index::Postings;
use series::{ChunkCounters, Series};

const SHARDS: usize = 16;

/// Settings of the head.
#[derive(Debug, Clone, Default)]
pub struct HeadOptions {
    /// Maximum number of exemplars kept in the circular exemplar buffer (0 = exemplars are dropped).
    pub max_exemplars: usize,
    /// Threads that apply replayed WAL samples (0 = one per core, at most 8), like Prometheus's
    /// `WALReplayConcurrency`.
    pub replay_concurrency: usize,
    /// How far behind the head's newest sample a float sample may be and still be accepted out of order, in
    /// milliseconds (`storage.tsdb.out_of_order_time_window`; 0 = out-of-order samples are rejected).
    pub out_of_order_time_window: i64,
    /// Samples in a series' out-of-order head chunk before it is closed (Prometheus's `OutOfOrderCapMax`;
    /// 0 = [`DEFAULT_OUT_OF_ORDER_CAP_MAX`]).
    pub out_of_order_cap_max: usize,
    /// Write a memory snapshot on [`Head::shutdown`] and start from it (`--enable-feature=
    /// memory-snapshot-on-shutdown`); see `head/chunk_snapshot.rs`.
    pub memory_snapshot_on_shutdown: bool,
}

/// Counters and gauges the binary exports as `prometheus_tsdb_head_*` metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HeadStats {
    /// Series in the head.
    pub series: u64,
    /// Chunks in the head (closed and open): those started or taken from `chunks_head/` less those dropped.
    pub chunks: u64,
    /// Float samples appended since start.
    pub samples_appended: u64,
    /// Histogram samples appended since start.
    pub histograms_appended: u64,
    /// Series created since start.
    pub series_created: u64,
    /// Series removed by garbage collection since start.
    pub series_removed: u64,
    /// Appenders open now (`prometheus_tsdb_head_active_appenders`).
    pub active_appenders: u64,
    /// Float chunks started since start (`prometheus_tsdb_head_chunks_created_total`).
    pub chunks_created: u64,
    /// Float chunks dropped since start by garbage collection and deletion (`_chunks_removed_total`).
    pub chunks_removed: u64,
    /// Out-of-order float samples rejected since start.
    pub out_of_order_samples: u64,
    /// Out-of-order histogram samples rejected since start.
    pub out_of_order_histograms: u64,
    /// Float samples rejected since start as older than the head's lower bound (out of bounds).
    pub out_of_bound_samples: u64,
    /// Float samples accepted out of order since start (`prometheus_tsdb_head_out_of_order_samples_appended_total`).
    pub out_of_order_appended: u64,
    /// Float samples rejected since start as older than the out-of-order window
    /// (`prometheus_tsdb_too_old_samples_total`).
    pub too_old_samples: u64,
    /// By how many seconds samples that could not go in order were behind the head's newest sample, accepted
    /// or not (`prometheus_tsdb_sample_ooo_delta`).
    pub ooo_delta: crate::metrics::Histogram,
    /// Histogram samples rejected since start as out of bounds.
    pub out_of_bound_histograms: u64,
    /// Garbage collections ([`Head::truncate`]) since start (`prometheus_tsdb_head_truncations_total`).
    pub truncations: u64,
    /// How long the garbage collections took (`prometheus_tsdb_head_gc_duration_seconds`).
    pub gc_duration: DurationTotals,
    /// Lowest timestamp in the head (`i64::MAX` when empty).
    pub min_time: i64,
    /// Highest timestamp in the head (`i64::MIN` when empty).
    pub max_time: i64,
}

/// Cardinality statistics for `/api/v1/status/tsdb`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Cardinality {
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Top series counts by metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top distinct-value counts by label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Top bytes of label values by label name.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Top series counts by label pair.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

#[derive(Debug, Default)]
struct Counters {
    samples_appended: AtomicU64,
    histograms_appended: AtomicU64,
    series_created: AtomicU64,
    series_removed: AtomicU64,
    /// Appenders created and not yet committed, rolled back or dropped.
    active_appenders: AtomicU64,
    chunks: ChunkCounters,
    /// Out-of-order floats and histograms rejected.
    out_of_order: [AtomicU64; 2],
    /// Out-of-bounds floats and histograms rejected.
    out_of_bounds: [AtomicU64; 2],
    /// Floats accepted out of order.
    ooo_appended: AtomicU64,
    /// Floats and histograms rejected as too old for the out-of-order window.
    too_old: [AtomicU64; 2],
    /// See [`HeadStats::ooo_delta`]; created on first use.
    ooo_delta: parking_lot::Mutex<Option<crate::metrics::Histogram>>,
    /// Garbage collections and their durations.
    gc: parking_lot::Mutex<(u64, DurationTotals)>,
}

impl Counters {
    /// Counts a sample rejected by `counter` (`out_of_order` or `out_of_bounds`) under its value type.
    fn rejected(counter: &[AtomicU64; 2], v: &model::Value) {
        let i = usize::from(!matches!(v, model::Value::Float(_)));
        counter[i].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    shards: Vec<RwLock<HashMap<Labels, Arc<Series>>>>,
    by_ref: refs::SeriesRefs,
    postings: RwLock<Postings>,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    /// Samples older than this are out of bounds (raised by garbage collection).
    min_valid_time: AtomicI64,
    counters: Counters,
    exemplars: parking_lot::Mutex<exemplars::ExemplarStore>,
    /// The write-ahead log, when the head is durable.
    wal: Option<parking_lot::Mutex<wal_log::HeadWal>>,
    /// `chunks_head/`, when the head is durable.
    mapper: Option<chunks_head::ChunkDiskMapper>,
    /// Series that closed a chunk since the last [`Head::mmap_chunks`] (may repeat).
    mmap_pending: parking_lot::Mutex<Vec<Arc<Series>>>,
    /// What writing head chunks did.
    mmap_stats: parking_lot::Mutex<MmapStats>,
    /// Samples of the last large commit, which large appenders reserve room for (see `appender`).
    append_hint: std::sync::atomic::AtomicUsize,
    /// Held while chunks are written out and while garbage collection decides which files to delete, so no
    /// file goes while chunks just written to it are not yet known to their series.
    mmap_lock: parking_lot::Mutex<()>,
    /// See [`HeadOptions::out_of_order_time_window`] (changed on reload).
    ooo_window: AtomicI64,
    /// See [`HeadOptions::out_of_order_cap_max`], resolved.
    ooo_cap: AtomicUsize,
    /// The series holding out-of-order data, by reference.
    ooo_series: parking_lot::Mutex<HashMap<u64, Arc<Series>>>,
    /// The data directory of a durable head (where `wbl/` goes when out-of-order samples are turned on).
    dir: Option<std::path::PathBuf>,
    /// The data directory a memory snapshot is written to on shutdown, when that is enabled.
    snapshot_dir: Option<PathBuf>,
}

/// Figures of the head's `chunks_head/` directory.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MmapStats {
    /// What opening the directory found.
    pub opened: ChunksHeadOpenStats,
    /// Chunks written since start.
    pub chunks_written: u64,
    /// Chunks that could not be written (they stay on the heap and are tried again).
    pub write_failures: u64,
    /// Bytes of the files now (`prometheus_tsdb_head_chunks_storage_size_bytes`).
    pub storage_size_bytes: u64,
    /// Number of files now.
    pub files: usize,
}

/// The in-memory head. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Head {
    inner: Arc<Inner>,
}

impl Default for Head {
    fn default() -> Head {
        Head::new(HeadOptions::default())
    }
}

impl Head {
    /// An empty head that lives in memory only.
    pub fn new(opts: HeadOptions) -> Head {
        Head { inner: Arc::new(Inner::new(&opts)) }
    }

    /// Opens the durable head of the data directory `dir`: replays `dir/wal` (its last checkpoint and the
    /// segments after it, repairing damage on the way) and logs every later commit there before it is
    /// acknowledged. Fsyncs follow `wal.sync_policy`; call [`Head::sync_wal_if_due`] at least that often.
    pub fn open(
        dir: impl AsRef<Path>,
        opts: HeadOptions,
        wal: WalOptions,
    ) -> Result<(Head, WalReplayStats), Error> {
        Head::open_from(dir, opts, wal, i64::MIN)
    }

    /// [`Head::open`] for a head whose data before `min_valid_time` is already in blocks: replay skips those
    /// samples and appending them is refused as out of bounds.
    pub(crate) fn open_from(
        dir: impl AsRef<Path>,
        opts: HeadOptions,
        wal: WalOptions,
        min_valid_time: i64,
    ) -> Result<(Head, WalReplayStats), Error> {
        let mut inner = Inner::new(&opts);
        inner.min_valid_time = AtomicI64::new(min_valid_time);
        inner.dir = Some(dir.as_ref().to_path_buf());
        let (mapper, loaded, opened) =
            chunks_head::ChunkDiskMapper::open(&dir.as_ref().join("chunks_head"))?;
        let chunks_damaged = opened.corruptions > 0;
        inner.mapper = Some(mapper);
        inner.mmap_stats.lock().opened = opened;
        // Out-of-order chunks come back through the WBL's m-map markers, not with their series.
        let (loaded, ooo_loaded): (Vec<_>, Vec<_>) =
            loaded.into_iter().partition(|c| !c.out_of_order);
        // Their references are never handed out again either (Prometheus 2.42 would attach them to the series).
        for c in &ooo_loaded {
            inner.next_ref.fetch_max(c.series_ref.saturating_add(1), Ordering::Relaxed);
        }
        let wal_dir = wal_log::wal_dir(dir.as_ref());
        let (loaded, resume, snapshot) = if opts.memory_snapshot_on_shutdown {
            inner.snapshot_dir = Some(dir.as_ref().to_path_buf());
            chunk_snapshot::restore(&inner, dir.as_ref(), &wal_dir, loaded, chunks_damaged)
        } else {
            (loaded, None, SnapshotLoadStats::default())
        };
        let (log, mut stats, alias) =
            replay::replay(&inner, &wal_dir, wal, opts.replay_concurrency, loaded, resume)?;
        stats.snapshot = snapshot;
        let mut hw = wal_log::HeadWal::new(log);
        hw.stats.corruptions = stats.repairs as u64 + u64::from(stats.missing_segments);
        // As Prometheus: a WBL left by an earlier run is replayed even with out-of-order samples turned off.
        let wbl_dir = wbl::wbl_dir(dir.as_ref());
        if opts.out_of_order_time_window > 0 || wbl_dir.exists() {
            let chunks: HashMap<u64, chunks_head::LoadedChunk> =
                ooo_loaded.into_iter().filter_map(|c| c.bytes.disk_ref().map(|r| (r, c))).collect();
            let (w, wbl_stats) = wbl::replay(&inner, &wbl_dir, wal, chunks, &alias)?;
            hw.wbl = Some(w);
            stats.wbl = Some(wbl_stats);
        }
        inner.wal = Some(parking_lot::Mutex::new(hw));
        Ok((Head { inner: Arc::new(inner) }, stats))
    }

    /// Changes the out-of-order window (`storage.tsdb.out_of_order_time_window` on reload). Turning it on for
    /// a durable head creates `wbl/` if it is not open yet.
    pub fn set_out_of_order_time_window(&self, window_ms: i64) -> Result<(), Error> {
        let window_ms = window_ms.max(0);
        if window_ms > 0
            && let (Some(w), Some(dir)) = (&self.inner.wal, &self.inner.dir)
        {
            let mut w = w.lock();
            if w.wbl.is_none() {
                let opts = *w.wal.options();
                let (wal, _) = crate::wal::Wal::open(wbl::wbl_dir(dir), opts)?;
                w.wbl = Some(wbl::HeadWbl { wal, stats: WalStats::default() });
            }
        }
        self.inner.ooo_window.store(window_ms, Ordering::Relaxed);
        Ok(())
    }

    /// The out-of-order window in milliseconds (0 = off).
    pub fn out_of_order_time_window(&self) -> i64 {
        self.inner.ooo_window.load(Ordering::Relaxed)
    }

    /// The WBL's figures, `None` when the head has none.
    pub fn wbl_stats(&self) -> Option<WalStats> {
        let w = self.inner.wal.as_ref()?;
        let (mut stats, dir) = {
            let w = w.lock();
            let wbl = w.wbl.as_ref()?;
            let mut stats = wbl.stats.clone();
            stats.segment_current = wbl.wal.active_segment();
            stats.writer = wbl.wal.stats();
            (stats, wbl.wal.dir().to_path_buf())
        };
        stats.storage_size_bytes = dir_size(&dir);
        Some(stats)
    }

    /// Takes the WBL fsync durations observed since the last call; empty without a WBL.
    pub fn take_wbl_fsync_durations(&self) -> Vec<(std::time::Instant, f64)> {
        match &self.inner.wal {
            Some(w) => {
                w.lock().wbl.as_mut().map(|b| b.wal.take_fsync_durations()).unwrap_or_default()
            }
            None => Vec::new(),
        }
    }

    /// Fsyncs the WAL if its policy says it is time (see [`crate::wal::Wal::sync_if_due`]); a head without a
    /// WAL does nothing.
    pub fn sync_wal_if_due(&self) -> Result<bool, Error> {
        match &self.inner.wal {
            Some(w) => {
                let mut w = w.lock();
                let wbl = match w.wbl.as_mut() {
                    Some(b) => b.wal.sync_if_due(),
                    None => Ok(false),
                };
                let wal = w.wal.sync_if_due()?;
                Ok(wal | wbl?)
            }
            None => Ok(false),
        }
    }

    /// Writes the head chunks closed since the last call to `chunks_head/`, where they are mapped instead of
    /// kept on the heap (call it about once a second, and on shutdown). Returns how many were written; chunks
    /// that could not be written stay on the heap and are tried again next time. Does nothing for a head
    /// without a data directory.
    pub fn mmap_chunks(&self) -> Result<usize, Error> {
        self.inner.mmap_chunks()
    }

    /// Figures of `chunks_head/`, `None` for a head without one.
    pub fn mmap_stats(&self) -> Option<MmapStats> {
        let m = self.inner.mapper.as_ref()?;
        let mut st = self.inner.mmap_stats.lock().clone();
        st.storage_size_bytes = m.size();
        st.files = m.num_files();
        Some(st)
    }

    /// Writes the pending head chunks out and fsyncs the WAL (on shutdown). The chunks are a cache of the WAL: a
    /// failure to write them (a full disk) must not keep the WAL from being synced, so it is not reported here.
    pub fn sync_wal(&self) -> Result<(), Error> {
        let _ = self.inner.mmap_chunks();
        match &self.inner.wal {
            Some(w) => {
                let mut w = w.lock();
                let wbl = w.wbl.as_mut().map_or(Ok(()), |b| b.wal.sync());
                w.wal.sync()?;
                wbl
            }
            None => Ok(()),
        }
    }

    /// Shuts the head's storage down cleanly: writes the pending head chunks out and fsyncs the WAL, then, with
    /// [`HeadOptions::memory_snapshot_on_shutdown`], writes a memory snapshot the next start loads instead of
    /// replaying the WAL (and deletes the older ones). Commits after this go on being logged, after the
    /// snapshot's position. Returns what the snapshot did (`None` when none is written); on error the WAL is
    /// synced all the same unless syncing it is what failed.
    pub fn shutdown(&self) -> Result<Option<ChunkSnapshotStats>, Error> {
        match (&self.inner.snapshot_dir, &self.inner.wal) {
            (Some(dir), Some(_)) => chunk_snapshot::write(&self.inner, dir).map(Some),
            _ => self.sync_wal().map(|()| None),
        }
    }

    /// Checkpoints the WAL at head truncation time `mint` (see Prometheus's head truncation): the lower two
    /// thirds of its closed segments are folded into a checkpoint keeping the live series and the samples from
    /// `mint` on, and deleted. `None` when there was nothing to fold or the head has no WAL.
    pub fn truncate_wal(&self, mint: i64) -> Result<Option<CheckpointStats>, Error> {
        match &self.inner.wal {
            Some(w) => wal_log::truncate(&self.inner, w, mint),
            None => Ok(None),
        }
    }

    /// The WAL's figures, `None` for a head without one.
    pub fn wal_stats(&self) -> Option<WalStats> {
        let w = self.inner.wal.as_ref()?;
        let (mut stats, dir) = {
            let w = w.lock();
            let mut stats = w.stats.clone();
            stats.segment_current = w.wal.active_segment();
            stats.writer = w.wal.stats();
            (stats, w.wal.dir().to_path_buf())
        };
        stats.storage_size_bytes = dir_size(&dir);
        Some(stats)
    }

    /// Takes the WAL fsync durations observed since the last call (see [`crate::wal::Wal::take_fsync_durations`]);
    /// empty for a head without a WAL.
    pub fn take_wal_fsync_durations(&self) -> Vec<(std::time::Instant, f64)> {
        match &self.inner.wal {
            Some(w) => w.lock().wal.take_fsync_durations(),
            None => Vec::new(),
        }
    }

    /// The WAL's first and last segment numbers (`None` without a WAL or segments).
    pub fn wal_segments(&self) -> Result<Option<(u32, u32)>, Error> {
        match &self.inner.wal {
            Some(w) => w.lock().wal.segments(),
            None => Ok(None),
        }
    }
}

impl Inner {
    fn new(opts: &HeadOptions) -> Inner {
        Inner {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            by_ref: refs::SeriesRefs::default(),
            postings: RwLock::new(Postings::default()),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            counters: Counters::default(),
            exemplars: parking_lot::Mutex::new(exemplars::ExemplarStore::new(opts.max_exemplars)),
            wal: None,
            mapper: None,
            mmap_pending: parking_lot::Mutex::new(Vec::new()),
            mmap_stats: parking_lot::Mutex::new(MmapStats::default()),
            mmap_lock: parking_lot::Mutex::new(()),
            append_hint: std::sync::atomic::AtomicUsize::new(0),
            ooo_window: AtomicI64::new(opts.out_of_order_time_window.max(0)),
            ooo_cap: AtomicUsize::new(match opts.out_of_order_cap_max {
                0 => DEFAULT_OUT_OF_ORDER_CAP_MAX,
                n => n,
            }),
            ooo_series: parking_lot::Mutex::new(HashMap::default()),
            dir: None,
            snapshot_dir: None,
        }
    }

    /// Samples in an out-of-order head chunk.
    fn ooo_cap(&self) -> usize {
        self.ooo_cap.load(Ordering::Relaxed)
    }

    /// Notes that `s` got out-of-order data.
    fn note_ooo_series(&self, s: &Arc<Series>) {
        self.ooo_series.lock().insert(s.reference, s.clone());
    }

    /// Notes that `s` closed a chunk, for the next [`Inner::mmap_chunks`].
    fn chunk_cut(&self, s: &Arc<Series>) {
        if self.mapper.is_some() {
            self.mmap_pending.lock().push(s.clone());
        }
    }

    /// See [`Head::mmap_chunks`].
    fn mmap_chunks(&self) -> Result<usize, Error> {
        let Some(mapper) = &self.mapper else { return Ok(0) };
        let _serial = self.mmap_lock.lock();
        let mut series = std::mem::take(&mut *self.mmap_pending.lock());
        if series.is_empty() {
            return Ok(0);
        }
        series.sort_unstable_by_key(|s| s.reference);
        series.dedup_by_key(|s| s.reference);
        let mut todo: Vec<(usize, series::ClosedChunk)> = Vec::new();
        for (i, s) in series.iter().enumerate() {
            todo.extend(s.chunks_to_map().into_iter().map(|c| (i, c)));
        }
        let writes: Vec<chunks_head::ChunkToWrite<'_>> = todo
            .iter()
            .map(|(i, c)| chunks_head::ChunkToWrite {
                series_ref: series[*i].reference,
                min_t: c.min_t,
                max_t: c.max_t,
                data: &c.bytes,
                out_of_order: false,
            })
            .collect();
        let (placed, err) = mapper.write(&writes);
        drop(writes);
        let mut written = 0;
        let mut retry: Vec<Arc<Series>> = Vec::new();
        for ((i, c), at) in todo.iter().zip(placed) {
            match at {
                Some(at) => {
                    series[*i].mapped(c, at);
                    written += 1;
                }
                None => {
                    if retry.last().is_none_or(|s| s.reference != series[*i].reference) {
                        retry.push(series[*i].clone());
                    }
                }
            }
        }
        {
            let mut st = self.mmap_stats.lock();
            st.chunks_written += written as u64;
            st.write_failures += (todo.len() - written) as u64;
        }
        if !retry.is_empty() {
            self.mmap_pending.lock().extend(retry);
        }
        match err {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }
}

impl Head {
    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.inner.by_ref.len() as u64
    }

    /// Current statistics.
    pub fn stats(&self) -> HeadStats {
        // Counters only: this is read on every scrape of /metrics, and walking 100,000s of series is not free.
        let series = self.num_series();
        let c = &self.inner.counters;
        let (created, removed) =
            (c.chunks.created.load(Ordering::Relaxed), c.chunks.removed.load(Ordering::Relaxed));
        let (truncations, gc_duration) = *c.gc.lock();
        HeadStats {
            series,
            chunks: created.saturating_sub(removed),
            samples_appended: c.samples_appended.load(Ordering::Relaxed),
            histograms_appended: c.histograms_appended.load(Ordering::Relaxed),
            series_created: c.series_created.load(Ordering::Relaxed),
            series_removed: c.series_removed.load(Ordering::Relaxed),
            active_appenders: c.active_appenders.load(Ordering::Relaxed),
            chunks_created: c.chunks.created.load(Ordering::Relaxed),
            chunks_removed: c.chunks.removed.load(Ordering::Relaxed),
            out_of_order_samples: c.out_of_order[0].load(Ordering::Relaxed),
            out_of_order_histograms: c.out_of_order[1].load(Ordering::Relaxed),
            out_of_bound_samples: c.out_of_bounds[0].load(Ordering::Relaxed),
            out_of_bound_histograms: c.out_of_bounds[1].load(Ordering::Relaxed),
            out_of_order_appended: c.ooo_appended.load(Ordering::Relaxed),
            too_old_samples: c.too_old[0].load(Ordering::Relaxed),
            ooo_delta: c.ooo_delta.lock().clone().unwrap_or_else(ooo_delta_histogram),
            truncations,
            gc_duration,
            min_time: self.inner.min_time.load(Ordering::Relaxed),
            max_time: self.inner.max_time.load(Ordering::Relaxed),
        }
    }

    /// Chunks in the head, counted series by series (what [`HeadStats::chunks`] keeps count of).
    #[cfg(test)]
    pub(crate) fn count_chunks(&self) -> u64 {
        self.inner.by_ref.all().iter().map(|s| s.chunk_stats().0).sum()
    }

    /// Changes the exemplar buffer's size (`storage.exemplars.max_exemplars` on reload); 0 turns storage off.
    pub fn set_max_exemplars(&self, n: usize) {
        self.inner.exemplars.lock().resize(n);
    }

    /// Exemplars currently stored.
    pub fn num_exemplars(&self) -> usize {
        self.inner.exemplars.lock().len()
    }

    /// Cardinality statistics, each list limited to the top `limit` entries.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        self.inner.postings.read().cardinality(limit)
    }

    /// Garbage collection: drops samples older than `mint` and the series left without samples, and rejects
    /// later appends older than `mint` as out of bounds.
    pub fn truncate(&self, mint: i64) {
        let started = std::time::Instant::now();
        self.gc(mint);
        let mut gc = self.inner.counters.gc.lock();
        gc.0 += 1;
        gc.1.observe(started.elapsed());
    }

    fn gc(&self, mint: i64) {
        let _serial = self.inner.mmap_lock.lock();
        self.inner.min_valid_time.fetch_max(mint, Ordering::Relaxed);
        let all: Vec<Arc<Series>> = self.inner.by_ref.all();
        let mut removed = Vec::new();
        let mut new_min = i64::MAX;
        let mut min_file = u32::MAX;
        for s in all {
            let (min, file) = s.truncate(mint, &self.inner.counters.chunks);
            match min {
                Some(min) => new_min = new_min.min(min),
                None => removed.push(s),
            }
            min_file = min_file.min(file.unwrap_or(u32::MAX));
        }
        if !removed.is_empty() {
            let mut postings = self.inner.postings.write();
            for s in &removed {
                let shard = &self.inner.shards[shard_of(&s.labels)];
                let mut shard = shard.write();
                // The series may have received samples since the check: keep it then.
                if !s.is_empty() {
                    continue;
                }
                shard.remove(&s.labels);
                self.inner.by_ref.remove(s.reference);
                postings.remove(s.reference, &s.labels);
                self.inner.counters.series_removed.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Samples before `mint` left in a chunk that reaches past it no longer count (Prometheus's head minimum
        // is the truncation time).
        let new_min = if new_min == i64::MAX { new_min } else { new_min.max(mint) };
        self.inner.min_time.store(new_min, Ordering::Relaxed);
        // Files no chunk lives in any more go; a failure leaves them for the next truncation.
        if let Some(m) = &self.inner.mapper {
            let _ = m.truncate(min_file);
        }
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers` (the admin API's
    /// `delete_series`); the deletion is logged to the WAL first so it survives a restart. Returns the number of
    /// series that lost samples.
    pub fn delete(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[model::Matcher],
    ) -> Result<usize, Error> {
        let q = query::HeadQuerier::new(self.inner.clone(), i64::MIN, i64::MAX);
        let Some(series) = q.matching(matchers) else { return Ok(0) };
        // Held while deleting, so no commit slips between the log record and the change.
        let _log = match &self.inner.wal {
            Some(w) => {
                let mut w = w.lock();
                // A series the log does not know has no committed samples to delete.
                // Each interval is logged with the end the series gives it, so replay need not know the
                // out-of-order samples (they come back after the WAL).
                let stones: Vec<crate::wal::RefTombstone> = series
                    .iter()
                    .filter(|s| s.wal_logged.load(Ordering::Relaxed))
                    .map(|s| crate::wal::RefTombstone {
                        series_ref: s.reference,
                        mint,
                        maxt: s.deletion_end(maxt),
                    })
                    .filter(|st| st.mint <= st.maxt)
                    .collect();
                if !stones.is_empty() {
                    w.log_tombstones(&stones)?;
                }
                Some(w)
            }
            None => None,
        };
        Ok(series.iter().filter(|s| s.delete(mint, maxt)).count())
    }

    /// The series of the head sorted by labels (for writing a block).
    pub(crate) fn sorted_series(&self) -> Vec<Arc<Series>> {
        let mut all: Vec<Arc<Series>> = self.inner.by_ref.all();
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all
    }

    /// Lowest timestamp in the head (`i64::MAX` when empty).
    pub fn min_time(&self) -> i64 {
        self.inner.min_time.load(Ordering::Relaxed)
    }

    /// Highest timestamp in the head (`i64::MIN` when empty).
    pub fn max_time(&self) -> i64 {
        self.inner.max_time.load(Ordering::Relaxed)
    }
}

/// Prometheus's buckets of `prometheus_tsdb_sample_ooo_delta`: 10 min to 12 h, in seconds.
fn ooo_delta_histogram() -> crate::metrics::Histogram {
    crate::metrics::Histogram::with_bounds(&[
        600.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0,
    ])
}

impl Counters {
    /// Notes a sample `delta_ms` behind the head's newest one.
    fn ooo_delta(&self, delta_ms: i64) {
        if delta_ms > 0 {
            let mut h = self.ooo_delta.lock();
            h.get_or_insert_with(ooo_delta_histogram).observe(delta_ms as f64 / 1000.0);
        }
    }
}

/// Total size of the files under `dir` (0 for what cannot be read).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn shard_of(l: &Labels) -> usize {
    (l.stable_hash() as usize) % SHARDS
}

impl Inner {
    /// The series for `labels`, created if needed; the bool tells whether it was created.
    fn get_or_create(&self, labels: &Labels) -> (Arc<Series>, bool) {
        let shard = &self.shards[shard_of(labels)];
        if let Some(s) = shard.read().get(labels) {
            return (s.clone(), false);
        }
        let mut w = shard.write();
        if let Some(s) = w.get(labels) {
            return (s.clone(), false);
        }
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Series::new(labels.clone(), reference));
        w.insert(labels.clone(), s.clone());
        self.by_ref.insert(reference, s.clone());
        self.postings.write().add(reference, labels);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        (s, true)
    }

    fn series_by_ref(&self, r: u64) -> Option<Arc<Series>> {
        self.by_ref.get(r)
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(appender::HeadAppender::new(self.inner.clone()))
    }
}

impl Queryable for Head {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(query::HeadQuerier::new(self.inner.clone(), mint, maxt)))
    }
}

impl storage::ExemplarQueryable for Head {
    fn select_exemplars(
        &self,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<model::Matcher>],
    ) -> Result<Vec<(Labels, Vec<model::Exemplar>)>, StorageError> {
        let q = query::HeadQuerier::new(self.inner.clone(), start, end);
        let mut series: HashMap<u64, Labels> = HashMap::default();
        for ms in matcher_sets {
            for s in q.matching(ms).unwrap_or_default() {
                series.insert(s.reference, s.labels.clone());
            }
        }
        Ok(self.inner.exemplars.lock().select(&series, start, end))
    }
}

/// Opens a `chunks_head/` directory and counts its out-of-order chunks (for the database's tests).
#[cfg(test)]
pub(crate) fn count_ooo_chunks_for_test(dir: &Path) -> u64 {
    let (_, loaded, _) = chunks_head::ChunkDiskMapper::open(dir).expect("open chunks_head");
    loaded.iter().filter(|c| c.out_of_order).count() as u64
}

#[cfg(test)]
mod chunk_snapshot_tests;
#[cfg(test)]
mod chunks_head_tests;
#[cfg(test)]
mod ooo_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wal_tests;
