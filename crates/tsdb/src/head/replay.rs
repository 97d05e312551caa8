//! Replaying the WAL into an empty head, in three stages as Prometheus's head loads its WAL:
//!
//! 1. a reading thread checks, decompresses and decodes the records;
//! 2. the dispatching thread (the caller's) creates the series of series records and splits every other record
//!    by series into one part per shard;
//! 3. one applying thread per shard appends its part's samples, so the cache misses of touching 100,000s of
//!    series per scrape are spread over the cores.
//!
//! Every sample of a series goes to the same shard (the shard of the head series it ends up in, also when the log
//! defined its labels twice under two references), so each series sees its samples, tombstones and exemplars in
//! log order, exactly as a sequential replay applies them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use model::{Exemplar, Labels, Value};
use rustc_hash::FxHashMap as HashMap;

use super::Inner;
use super::chunk_snapshot::Resume;
use super::chunks_head::LoadedChunk;
use super::series::{Appended, Series};
use super::wal_log::WalReplayStats;
use crate::error::Error;
use crate::wal::{Record, RefExemplar, RefSample, RefTombstone, Wal, WalOptions};

/// WAL references to series during a replay. References are dense (Prometheus and we count from 1), so
/// they index a vector: samples come in reference order, and a hash map would turn that into random memory
/// accesses. Unusually large references go to a map.
#[derive(Default)]
struct RefMap {
    dense: Vec<Option<Arc<Series>>>,
    sparse: HashMap<u64, Arc<Series>>,
}

/// References below this index the vector (8 bytes each).
const DENSE_REFS: u64 = 1 << 26;

impl RefMap {
    fn get(&self, r: u64) -> Option<&Arc<Series>> {
        if r < DENSE_REFS {
            self.dense.get(r as usize).and_then(Option::as_ref)
        } else {
            self.sparse.get(&r)
        }
    }

    fn insert(&mut self, r: u64, s: Arc<Series>) {
        if r < DENSE_REFS {
            let i = r as usize;
            if i >= self.dense.len() {
                self.dense.resize(i + 1, None);
            }
            self.dense[i] = Some(s);
        } else {
            self.sparse.insert(r, s);
        }
    }
}

/// Decoded records buffered between the reading and the dispatching thread.
const REPLAY_QUEUE: usize = 64;
/// Record parts buffered between the dispatching thread and each applying thread.
const SHARD_QUEUE: usize = 8;
/// At most this many applying threads.
const MAX_SHARDS: usize = 8;

/// What the dispatching thread hands an applying thread.
enum Work {
    /// Head series, by their head reference.
    Series(Vec<(u64, Arc<Series>)>),
    /// Float samples, by head reference.
    Floats(Vec<RefSample>),
    /// Histogram samples: head reference, timestamp, value.
    Histograms(Vec<(u64, i64, Value)>),
    Exemplars(Vec<RefExemplar>),
    Tombstones(Vec<RefTombstone>),
}

/// The state of one applying thread.
struct Shard<'h> {
    head: &'h Inner,
    min_valid: i64,
    refs: RefMap,
    stats: WalReplayStats,
    min: i64,
    max: i64,
}

impl<'h> Shard<'h> {
    fn new(head: &'h Inner, min_valid: i64) -> Shard<'h> {
        Shard {
            head,
            min_valid,
            refs: RefMap::default(),
            stats: WalReplayStats::default(),
            min: i64::MAX,
            max: i64::MIN,
        }
    }

    fn apply(&mut self, w: Work) {
        match w {
            Work::Series(series) => {
                for (r, s) in series {
                    self.refs.insert(r, s);
                }
            }
            Work::Floats(samples) => {
                for (i, x) in samples.iter().enumerate() {
                    // Scrapes touch every series once, so each append starts with a cache miss on the series:
                    // ask for the one PREFETCH samples ahead while this one is appended.
                    if let Some(s) =
                        samples.get(i + PREFETCH).and_then(|n| self.refs.get(n.series_ref))
                    {
                        prefetch(Arc::as_ptr(s));
                    }
                    // Closer ahead, that series is in the cache: ask for the end of its open chunk too.
                    if let Some(p) = samples
                        .get(i + PREFETCH / 3)
                        .and_then(|n| self.refs.get(n.series_ref))
                        .and_then(|s| s.open_chunk_tail())
                    {
                        prefetch(p);
                    }
                    self.sample(x.series_ref, x.t, &Value::Float(x.v));
                }
            }
            Work::Histograms(samples) => {
                for (r, t, v) in samples {
                    self.sample(r, t, &v);
                }
            }
            Work::Exemplars(es) => {
                let mut exemplars = self.head.exemplars.lock();
                for e in es {
                    let Some(s) = self.refs.get(e.series_ref) else {
                        self.stats.unknown_refs += 1;
                        continue;
                    };
                    let ex = Exemplar { labels: e.labels, value: e.v, ts: Some(e.t) };
                    if exemplars.enabled() && exemplars.validate(s.reference, &ex, e.t).is_ok() {
                        exemplars.add(s.reference, ex, e.t);
                        self.stats.exemplars += 1;
                    }
                }
            }
            Work::Tombstones(stones) => {
                for st in stones {
                    if let Some(s) = self.refs.get(st.series_ref) {
                        s.delete_replayed(st.mint, st.maxt);
                    }
                }
            }
        }
    }

    fn sample(&mut self, r: u64, t: i64, v: &Value) {
        let Some(s) = self.refs.get(r) else {
            self.stats.unknown_refs += 1;
            return;
        };
        if t < self.min_valid {
            // Already in a block.
            self.stats.before_blocks += 1;
            return;
        }
        match s.append(t, v, &self.head.counters.chunks) {
            Appended::Yes { cut } => {
                if cut {
                    self.head.chunk_cut(s);
                }
                self.min = self.min.min(t);
                self.max = self.max.max(t);
                if matches!(v, Value::Float(_)) {
                    self.stats.samples += 1;
                } else {
                    self.stats.histograms += 1;
                }
            }
            Appended::InMappedChunk => self.stats.in_mmapped_chunks += 1,
            Appended::NotNewer => self.stats.out_of_order += 1,
        }
    }

    fn run(mut self, rx: Receiver<Work>) -> Shard<'h> {
        for w in rx {
            self.apply(w);
        }
        self
    }
}

/// Records between two writes of closed chunks to `chunks_head/` during a replay.
const MMAP_EVERY_RECORDS: usize = 256;

/// How many samples ahead an applying thread prefetches the series.
const PREFETCH: usize = 12;

/// Hints the CPU to load the memory of `*p` (its first three cache lines) into its caches.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(
        unsafe_code,
        reason = "a prefetch is a hint: the address is never dereferenced and cannot fault"
    )]
    // SAFETY: `_mm_prefetch` reads nothing and has no effect on memory; SSE is part of x86_64.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let b = p.cast::<i8>();
        _mm_prefetch::<_MM_HINT_T0>(b);
        _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(64));
        _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(128));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The dispatching thread: creates series and splits records by shard.
struct Dispatch<'h> {
    head: &'h Inner,
    /// Chunks read from `chunks_head/`, by series reference, until their series is created.
    mapped: HashMap<u64, Vec<LoadedChunk>>,
    min_valid: i64,
    /// Chunks taken from `chunks_head/`, and their time range.
    mapped_taken: u64,
    mapped_min: i64,
    mapped_max: i64,
    /// WAL references whose labels the log had defined before under another reference, to that head series.
    alias: HashMap<u64, u64>,
    /// By head reference, the newest timestamp in the chunks a series took from `chunks_head/`: its float samples
    /// up to there are in those chunks, and are dropped here without touching the series (histogram samples between
    /// those floats are not, see `Series::append`).
    mapped_until: RefTimes,
    /// Samples dropped that way: in taken chunks, or (older) already in a block.
    in_mapped: u64,
    before_blocks: u64,
    /// Series that took chunks from `chunks_head/`, for [`Series::settle_mapped`] at the end.
    settle: Vec<Arc<Series>>,
    series_created: u64,
    n: usize,
}

/// Timestamps by series reference, dense like [`RefMap`]; `i64::MIN` where none is set.
#[derive(Default)]
struct RefTimes {
    dense: Vec<i64>,
    sparse: HashMap<u64, i64>,
}

impl RefTimes {
    #[inline]
    fn get(&self, r: u64) -> i64 {
        if r < DENSE_REFS {
            self.dense.get(r as usize).copied().unwrap_or(i64::MIN)
        } else {
            self.sparse.get(&r).copied().unwrap_or(i64::MIN)
        }
    }

    fn set(&mut self, r: u64, t: i64) {
        if r < DENSE_REFS {
            let i = r as usize;
            if i >= self.dense.len() {
                self.dense.resize(i + 1, i64::MIN);
            }
            self.dense[i] = t;
        } else {
            self.sparse.insert(r, t);
        }
    }
}

impl Dispatch<'_> {
    /// Whether the float sample of head series `r` at `t` is to be dropped: it is in a chunk taken from
    /// `chunks_head/`, where the series would reject it too.
    #[inline]
    fn in_mapped_chunk(&mut self, r: u64, t: i64) -> bool {
        if t > self.mapped_until.get(r) {
            return false;
        }
        if t < self.min_valid {
            self.before_blocks += 1;
        } else {
            self.in_mapped += 1;
        }
        true
    }

    fn head_ref(&self, r: u64) -> u64 {
        if self.alias.is_empty() { r } else { self.alias.get(&r).copied().unwrap_or(r) }
    }

    fn shard(&self, r: u64) -> usize {
        (r % self.n as u64) as usize
    }

    /// Splits `rec` into one part per shard (`None` for shards it has nothing for).
    fn split(&mut self, rec: Record) -> Vec<Option<Work>> {
        let mut parts: Vec<Option<Work>> = (0..self.n).map(|_| None).collect();
        match rec {
            Record::Series(series) => {
                let mut per: Vec<Vec<(u64, Arc<Series>)>> = vec![Vec::new(); self.n];
                for rs in series {
                    let s = self.head.restore_series(&rs.labels, rs.series_ref);
                    if s.reference == rs.series_ref {
                        self.series_created += 1;
                        self.alias.remove(&rs.series_ref);
                        if let Some(chunks) = self.mapped.remove(&rs.series_ref)
                            && let Some((n, min, max)) = s.attach_mapped(chunks, self.min_valid)
                        {
                            self.mapped_taken += n as u64;
                            self.head
                                .counters
                                .chunks
                                .created
                                .fetch_add(n as u64, Ordering::Relaxed);
                            self.mapped_min = self.mapped_min.min(min);
                            self.mapped_max = self.mapped_max.max(max);
                            self.mapped_until.set(s.reference, max);
                            self.settle.push(s.clone());
                        }
                    } else {
                        self.alias.insert(rs.series_ref, s.reference);
                    }
                    // Every series replayed is in the log already.
                    s.wal_logged.store(true, Ordering::Relaxed);
                    let i = self.shard(s.reference);
                    per[i].push((s.reference, s));
                }
                fill(&mut parts, per, Work::Series);
            }
            Record::Samples(mut samples) => {
                if self.n == 1 {
                    for x in &mut samples {
                        x.series_ref = self.head_ref(x.series_ref);
                    }
                    samples.retain(|x| !self.in_mapped_chunk(x.series_ref, x.t));
                    if !samples.is_empty() {
                        parts[0] = Some(Work::Floats(samples));
                    }
                } else {
                    let mut per = self.buckets(samples.len());
                    for mut x in samples {
                        x.series_ref = self.head_ref(x.series_ref);
                        if !self.in_mapped_chunk(x.series_ref, x.t) {
                            per[self.shard(x.series_ref)].push(x);
                        }
                    }
                    fill(&mut parts, per, Work::Floats);
                }
            }
            Record::HistogramSamples(hs) | Record::CustomBucketsHistogramSamples(hs) => {
                let mut per = self.buckets(hs.len());
                for x in hs {
                    let r = self.head_ref(x.series_ref);
                    per[self.shard(r)].push((r, x.t, Value::Histogram(x.h)));
                }
                fill(&mut parts, per, Work::Histograms);
            }
            Record::FloatHistogramSamples(hs) | Record::CustomBucketsFloatHistogramSamples(hs) => {
                let mut per = self.buckets(hs.len());
                for x in hs {
                    let r = self.head_ref(x.series_ref);
                    per[self.shard(r)].push((r, x.t, Value::FloatHistogram(x.fh)));
                }
                fill(&mut parts, per, Work::Histograms);
            }
            Record::Exemplars(es) => {
                let mut per: Vec<Vec<RefExemplar>> = (0..self.n).map(|_| Vec::new()).collect();
                for mut e in es {
                    e.series_ref = self.head_ref(e.series_ref);
                    per[self.shard(e.series_ref)].push(e);
                }
                fill(&mut parts, per, Work::Exemplars);
            }
            Record::Tombstones(stones) => {
                let mut per: Vec<Vec<RefTombstone>> = vec![Vec::new(); self.n];
                for mut st in stones {
                    st.series_ref = self.head_ref(st.series_ref);
                    per[self.shard(st.series_ref)].push(st);
                }
                fill(&mut parts, per, Work::Tombstones);
            }
            // Metadata and m-map markers are not kept by the head yet.
            Record::MmapMarkers(_) | Record::Metadata(_) | Record::Unknown(_) => {}
        }
        parts
    }

    fn buckets<T>(&self, len: usize) -> Vec<Vec<T>> {
        let each = len / self.n + len / (4 * self.n) + 1;
        (0..self.n).map(|_| Vec::with_capacity(each)).collect()
    }
}

fn fill<T>(parts: &mut [Option<Work>], per: Vec<Vec<T>>, wrap: fn(Vec<T>) -> Work) {
    for (slot, v) in parts.iter_mut().zip(per) {
        if !v.is_empty() {
            *slot = Some(wrap(v));
        }
    }
}

/// How many applying threads a replay uses: `configured`, or with 0 one per core, at most [`MAX_SHARDS`].
fn shard_count(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_SHARDS),
        n => n,
    }
}

/// Replays the log in `dir` into `head` with `concurrency` applying threads (0: one per core). `mapped` are
/// the chunks read from `chunks_head/`: each series takes its own when its series record is replayed, and the
/// samples they hold are skipped in the log. With `resume` (a memory snapshot was loaded) the log is replayed
/// from the snapshot's position only, onto the snapshot's series.
pub(crate) fn replay(
    head: &Inner,
    dir: &Path,
    opts: WalOptions,
    concurrency: usize,
    mapped: Vec<LoadedChunk>,
    resume: Option<Resume>,
) -> Result<(Wal, WalReplayStats, HashMap<u64, u64>), Error> {
    let started = Instant::now();
    let min_valid = head.min_valid_time.load(Ordering::Relaxed);
    let n = shard_count(concurrency);
    let (tx, rx) = sync_channel::<Record>(REPLAY_QUEUE);
    let dir = dir.to_path_buf();
    let mut by_series: HashMap<u64, Vec<LoadedChunk>> = HashMap::default();
    for c in mapped {
        // A reference in the files is never handed out again, even if its series is gone from the log.
        head.next_ref.fetch_max(c.series_ref.saturating_add(1), Ordering::Relaxed);
        by_series.entry(c.series_ref).or_default().push(c);
    }
    let mut dispatch = Dispatch {
        head,
        mapped: by_series,
        min_valid,
        mapped_taken: 0,
        mapped_min: i64::MAX,
        mapped_max: i64::MIN,
        alias: HashMap::default(),
        mapped_until: RefTimes::default(),
        in_mapped: 0,
        before_blocks: 0,
        settle: Vec::new(),
        series_created: 0,
        n,
    };
    let from = resume.as_ref().map(|r| r.position);
    let (opened, shards) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            Wal::open_with_at(&dir, opts, from, |rec| {
                tx.send(rec).map_err(|_| Error::invalid("replay WAL", "the head stopped applying"))
            })
        });
        let mut senders: Vec<SyncSender<Work>> = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            let (stx, srx) = sync_channel::<Work>(SHARD_QUEUE);
            senders.push(stx);
            let shard = Shard::new(head, min_valid);
            workers.push(scope.spawn(move || shard.run(srx)));
        }
        if let Some(r) = resume {
            let mut per: Vec<Vec<(u64, Arc<Series>)>> = vec![Vec::new(); n];
            dispatch.settle.extend(r.series.iter().cloned());
            for s in r.series {
                per[dispatch.shard(s.reference)].push((s.reference, s));
            }
            for (tx, part) in senders.iter().zip(per) {
                let _ = tx.send(Work::Series(part));
            }
        }
        for (k, rec) in rx.into_iter().enumerate() {
            // Chunks closed while replaying go to `chunks_head/` on the way, so the heap does not hold them all.
            if k % MMAP_EVERY_RECORDS == MMAP_EVERY_RECORDS - 1 {
                let _ = head.mmap_chunks();
            }
            for (i, part) in dispatch.split(rec).into_iter().enumerate() {
                if let Some(w) = part {
                    // A shard only stops early by panicking, which the join below reports.
                    let _ = senders[i].send(w);
                }
            }
        }
        drop(senders);
        let shards: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        (reader.join(), shards)
    });
    let (wal, summary) = match opened {
        Ok(res) => res?,
        Err(_) => return Err(Error::invalid("replay WAL", "the reading thread panicked")),
    };
    let mut stats = WalReplayStats {
        series: dispatch.series_created,
        mmapped_chunks: dispatch.mapped_taken,
        in_mmapped_chunks: dispatch.in_mapped,
        before_blocks: dispatch.before_blocks,
        ..Default::default()
    };
    let (mut min, mut max) = (dispatch.mapped_min, dispatch.mapped_max);
    for shard in shards {
        let Ok(shard) = shard else {
            return Err(Error::invalid("replay WAL", "an applying thread panicked"));
        };
        let s = &shard.stats;
        stats.samples += s.samples;
        stats.histograms += s.histograms;
        stats.exemplars += s.exemplars;
        stats.unknown_refs += s.unknown_refs;
        stats.out_of_order += s.out_of_order;
        stats.before_blocks += s.before_blocks;
        stats.in_mmapped_chunks += s.in_mmapped_chunks;
        min = min.min(shard.min);
        max = max.max(shard.max);
    }
    head.min_time.fetch_min(min, Ordering::Relaxed);
    head.max_time.fetch_max(max, Ordering::Relaxed);
    for s in &dispatch.settle {
        s.settle_mapped();
    }
    let info = wal.open_info();
    stats.missing_segments = info.gaps.iter().map(|(prev, next)| next - prev - 1).sum();
    stats.checkpoint = info.checkpoint;
    stats.segments = info.replayed_segments;
    stats.records = summary.records;
    stats.repairs = summary.repairs.len();
    // Failures leave the chunks on the heap, to be written with the next ones.
    let _ = head.mmap_chunks();
    stats.duration = started.elapsed();
    Ok((wal, stats, dispatch.alias))
}

impl Inner {
    /// The series for `labels` when replaying the series record with WAL reference `r`: an existing series
    /// with these labels, or a new one with reference `r`.
    fn restore_series(&self, labels: &Labels, r: u64) -> Arc<Series> {
        let shard = &self.shards[super::shard_of(labels)];
        let mut w = shard.write();
        if let Some(s) = w.get(labels) {
            return s.clone();
        }
        let s = Arc::new(Series::new(labels.clone(), r));
        w.insert(labels.clone(), s.clone());
        self.by_ref.insert(r, s.clone());
        self.postings.write().add(r, labels);
        self.next_ref.fetch_max(r + 1, Ordering::Relaxed);
        self.counters.series_created.fetch_add(1, Ordering::Relaxed);
        s
    }
}
