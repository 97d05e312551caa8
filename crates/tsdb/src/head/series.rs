//! One series in the head: closed XOR chunks (on the heap until they are written to `chunks_head/`, then
//! mapped), the open chunk, histogram samples kept as values, and out-of-order float samples (`ooo.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use model::{Labels, Value};
use parking_lot::Mutex;

use super::chunks_head::{ChunkBytes, ChunkDiskMapper, ChunkToWrite, LoadedChunk};
use super::ooo::{Inserted, OooData};
use crate::chunkenc::{SAMPLES_PER_CHUNK, XorAppender, XorIterator};

/// A closed chunk: immutable bytes and its time range. Cloning shares the bytes.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) bytes: ChunkBytes,
}

impl ClosedChunk {
    fn of_open(min_t: i64, a: &XorAppender) -> ClosedChunk {
        ClosedChunk { min_t, max_t: a.last_t(), bytes: ChunkBytes::heap(a.bytes()) }
    }
}

#[derive(Debug)]
pub(crate) struct SeriesData {
    pub(crate) closed: Vec<ClosedChunk>,
    pub(crate) open: Option<(i64, XorAppender)>,
    /// Histogram samples (native histograms are stored uncompressed until their chunk encodings land).
    pub(crate) hist: Vec<(i64, Value)>,
    /// Timestamp and value bits of the newest sample.
    pub(crate) last: Option<(i64, u64)>,
    /// End of the newest chunk of this series in `chunks_head/` (`i64::MIN` when none): only chunks starting
    /// after it are written there, which keeps the files' chunks of a series in time order.
    pub(crate) disk_max_t: i64,
    /// Deleted intervals, sorted (see [`Series::delete`]).
    #[allow(clippy::box_collection, reason = "one word per series: deletions are rare")]
    pub(crate) stones: Option<Box<Vec<(i64, i64)>>>,
    /// Out-of-order samples (see [`super::ooo`]); one word for the many series that have none.
    pub(crate) ooo: Option<Box<OooData>>,
}

/// What [`Series::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Appended; `cut` tells whether a chunk was closed to make room.
    Yes { cut: bool },
    /// Not newer than the newest sample: ignored.
    NotNewer,
    /// Not newer, and inside a chunk read back from `chunks_head/` (a replayed sample that is there already).
    InMappedChunk,
}

impl Appended {
    pub(crate) fn appended(self) -> bool {
        matches!(self, Appended::Yes { .. })
    }
}

/// Where a float sample may go when the head accepts out-of-order samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OooRules<'a> {
    /// Samples before this are out of bounds for the in-order chunks.
    pub(crate) min_valid: i64,
    /// Samples from this on that cannot go in order go into the out-of-order chunk.
    pub(crate) ooo_min: i64,
    /// Samples in the out-of-order head chunk.
    pub(crate) cap: usize,
    /// Where full out-of-order chunks are written (`None` keeps them on the heap).
    pub(crate) mapper: Option<&'a ChunkDiskMapper>,
}

/// What [`Series::add_float`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// Appended in order.
    InOrder(Appended),
    /// Put into the out-of-order data; `first` tells whether the series had none before.
    OutOfOrder { ins: Inserted, first: bool },
    /// Older than the out-of-order window: dropped.
    TooOld,
}

/// A series.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    pub(crate) reference: u64,
    pub(crate) data: Mutex<SeriesData>,
    /// Whether the series' record is in the WAL.
    pub(crate) wal_logged: AtomicBool,
}

/// Head-wide counts of float chunks started and dropped (`prometheus_tsdb_head_chunks_created_total` and
/// `_removed_total`; their difference is the number of chunks in the head).
#[derive(Debug, Default)]
pub(crate) struct ChunkCounters {
    pub(crate) created: AtomicU64,
    pub(crate) removed: AtomicU64,
}

impl ChunkCounters {
    fn created(&self, n: u64) {
        self.created.fetch_add(n, Ordering::Relaxed);
    }

    fn removed(&self, n: u64) {
        self.removed.fetch_add(n, Ordering::Relaxed);
    }
}

/// A series' float samples and histogram samples over a range.
pub(crate) type RangeSamples = (Vec<(i64, f64)>, Vec<(i64, Value)>);

/// What a cursor needs: shared closed chunks, a copy of the open chunk and the histogram samples.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) chunks: Vec<ClosedChunk>,
    pub(crate) open: Option<ClosedChunk>,
    pub(crate) hist: Vec<(i64, Value)>,
    /// Deleted intervals of the float samples.
    pub(crate) stones: Vec<(i64, i64)>,
    /// Out-of-order chunks overlapping the range (they may overlap one another and the in-order chunks).
    pub(crate) ooo: Vec<ClosedChunk>,
}

/// Bits identifying a value for the duplicate-sample check (same timestamp, same value is accepted).
pub(crate) fn value_bits(v: &Value) -> u64 {
    match v {
        Value::Float(f) => f.to_bits(),
        Value::Histogram(h) => h.sum.to_bits() ^ h.count,
        Value::FloatHistogram(h) => h.sum.to_bits() ^ h.count.to_bits(),
    }
}

/// The counter-reset hint a histogram sample reads back with, as Prometheus's histogram chunks give it: gauge
/// histograms stay gauges, the first sample of a series is unknown, later ones say whether the data shows a
/// reset against the previous sample (the hint sent by the client is not trusted).
fn with_stored_hint(v: &Value, prev: Option<&Value>) -> Value {
    use model::CounterResetHint as H;
    let as_float = |v: &Value| match v {
        Value::Histogram(h) => Some(h.to_float()),
        Value::FloatHistogram(h) => Some((**h).clone()),
        Value::Float(_) => None,
    };
    let Some(mut cur) = as_float(v) else { return v.clone() };
    let hint = if cur.counter_reset_hint == H::Gauge {
        H::Gauge
    } else {
        match prev.and_then(as_float) {
            None => H::Unknown,
            Some(p) => {
                cur.counter_reset_hint = H::Unknown;
                if cur.detect_reset(&p) { H::CounterReset } else { H::NotCounterReset }
            }
        }
    };
    match v {
        Value::Histogram(h) => {
            let mut h = (**h).clone();
            h.counter_reset_hint = hint;
            Value::Histogram(Arc::new(h))
        }
        Value::FloatHistogram(h) => {
            let mut h = (**h).clone();
            h.counter_reset_hint = hint;
            Value::FloatHistogram(Arc::new(h))
        }
        Value::Float(_) => v.clone(),
    }
}

impl Series {
    pub(crate) fn new(labels: Labels, reference: u64) -> Series {
        Series {
            labels,
            reference,
            data: Mutex::new(SeriesData {
                closed: Vec::new(),
                open: None,
                hist: Vec::new(),
                last: None,
                disk_max_t: i64::MIN,
                stones: None,
                ooo: None,
            }),
            wal_logged: AtomicBool::new(false),
        }
    }

    /// The newest sample's timestamp and value bits.
    pub(crate) fn last(&self) -> Option<(i64, u64)> {
        self.data.lock().last
    }

    /// Where the next float append writes: the last byte of the open chunk (for replay's prefetching; `None`
    /// when the series is busy or has no open chunk).
    pub(crate) fn open_chunk_tail(&self) -> Option<*const u8> {
        let d = self.data.try_lock()?;
        let b = d.open.as_ref()?.1.bytes();
        Some(b.as_ptr().wrapping_add(b.len().saturating_sub(1)))
    }

    /// Appends a sample that has already passed the ordering checks; samples not newer than the last are
    /// ignored (the appender reports those).
    pub(crate) fn append(&self, t: i64, v: &Value, chunks: &ChunkCounters) -> Appended {
        append_locked(&mut self.data.lock(), t, v, chunks)
    }

    /// Adds a float sample by Prometheus's rules when out-of-order samples are accepted: in order when it is
    /// newer than the newest sample and not out of bounds, else into the out-of-order data when it is not older
    /// than `rules.ooo_min`, else not at all.
    pub(crate) fn add_float(
        &self,
        t: i64,
        v: f64,
        rules: &OooRules<'_>,
        chunks: &ChunkCounters,
    ) -> Added {
        let mut d = self.data.lock();
        // The newest timestamp again is the appender's duplicate check's business: never out of order.
        if t >= rules.min_valid && d.last.is_none_or(|(lt, _)| t >= lt) {
            return Added::InOrder(append_locked(&mut d, t, &Value::Float(v), chunks));
        }
        if t < rules.ooo_min {
            return Added::TooOld;
        }
        let first = d.ooo.is_none();
        let o = d.ooo.get_or_insert_with(Box::default);
        let mut ins = Inserted::default();
        if o.head.len() >= rules.cap.max(1)
            && let Some(mut c) = o.cut_head()
        {
            if let Some(m) = rules.mapper {
                let w = ChunkToWrite {
                    series_ref: self.reference,
                    min_t: c.min_t,
                    max_t: c.max_t,
                    data: &c.bytes,
                    out_of_order: true,
                };
                // A failed write keeps the chunk on the heap (and writes no marker): the WBL restores it.
                if let (placed, None) = m.write(&[w])
                    && let Some(Some(at)) = placed.into_iter().next()
                {
                    ins.marker = at.disk_ref();
                    c.bytes = at;
                }
            }
            o.closed.push(c);
        }
        ins.inserted = o.insert_head(t, v);
        Added::OutOfOrder { ins, first }
    }

    /// WBL replay of one out-of-order sample: inserted, the head chunk closed on the heap when full.
    pub(crate) fn replay_ooo(&self, t: i64, v: f64, cap: usize) -> Option<bool> {
        let mut d = self.data.lock();
        let first = d.ooo.is_none();
        let o = d.ooo.get_or_insert_with(Box::default);
        if o.head.len() >= cap.max(1)
            && let Some(c) = o.cut_head()
        {
            o.closed.push(c);
        }
        o.insert_head(t, v).then_some(first)
    }

    /// WBL replay of an m-map marker (see [`OooData::replay_marker`]); true when the series had no
    /// out-of-order data before.
    pub(crate) fn replay_ooo_marker(&self, mapped: Option<&LoadedChunk>) -> bool {
        let mut d = self.data.lock();
        if d.ooo.is_none() && mapped.is_none() {
            return false;
        }
        let first = d.ooo.is_none();
        d.ooo.get_or_insert_with(Box::default).replay_marker(mapped);
        first
    }

    /// Seals the out-of-order data for a compaction (see [`OooData::seal`]).
    pub(crate) fn seal_ooo(&self) -> Option<(i64, i64)> {
        self.data.lock().ooo.as_mut()?.seal()
    }

    /// The sealed out-of-order samples in `[mint, maxt]` that are not deleted, sorted, each timestamp once.
    pub(crate) fn sealed_ooo_samples(&self, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        let d = self.data.lock();
        let Some(o) = d.ooo.as_ref() else { return Vec::new() };
        let mut out = o.sealed_samples(mint, maxt);
        if let Some(stones) = d.stones.as_deref() {
            out.retain(|(t, _)| !deleted(stones, *t));
        }
        out
    }

    /// Drops the sealed out-of-order chunks after their compaction; returns whether out-of-order data is left.
    pub(crate) fn drop_sealed_ooo(&self) -> bool {
        let mut d = self.data.lock();
        let Some(o) = d.ooo.as_mut() else { return false };
        o.drop_sealed();
        if o.is_empty() {
            d.ooo = None;
            return false;
        }
        true
    }
}

/// [`Series::append`] on the locked data.
fn append_locked(d: &mut SeriesData, t: i64, v: &Value, chunks: &ChunkCounters) -> Appended {
    // Float samples up to the end of the chunks in `chunks_head/` are in those chunks (replayed ones; the
    // appender refuses them before). Other samples are ordered against the newest sample appended, which
    // during a replay leaves those chunks out until `settle_mapped`, so that histogram samples between
    // their floats come back.
    if t <= d.disk_max_t && matches!(v, Value::Float(_)) {
        return Appended::InMappedChunk;
    }
    if d.last.is_some_and(|(lt, _)| t <= lt) {
        return if t <= d.disk_max_t { Appended::InMappedChunk } else { Appended::NotNewer };
    }
    d.last = Some((t, value_bits(v)));
    let mut cut = false;
    match v {
        Value::Float(f) => {
            let full = d.open.as_ref().is_some_and(|(_, a)| a.count() >= SAMPLES_PER_CHUNK);
            if full && let Some((min_t, a)) = d.open.take() {
                d.closed.push(ClosedChunk::of_open(min_t, &a));
                cut = true;
            }
            if d.open.is_none() {
                chunks.created(1);
            }
            let (_, a) = d.open.get_or_insert_with(|| (t, XorAppender::new()));
            a.append(t, *f);
        }
        other => {
            let v = with_stored_hint(other, d.hist.last().map(|(_, v)| v));
            d.hist.push((t, v));
        }
    }
    Appended::Yes { cut }
}

impl Series {
    /// Takes the chunks read back from `chunks_head/` for this series (in file order) while it is replayed into
    /// an empty head. Chunks that end before `min_valid` are in a block already. Nothing is taken unless every
    /// chunk is an in-order XOR chunk strictly after the one before (then the WAL restores the series alone).
    /// Returns the number of chunks taken and their time range.
    pub(crate) fn attach_mapped(
        &self,
        loaded: Vec<LoadedChunk>,
        min_valid: i64,
    ) -> Option<(usize, i64, i64)> {
        let usable: Vec<LoadedChunk> =
            loaded.into_iter().filter(|c| c.max_t >= min_valid).collect();
        let first = usable.first()?;
        let mut prev_max = i64::MIN;
        for c in &usable {
            if c.encoding != super::chunks_head::ENCODING_XOR
                || c.out_of_order
                || c.min_t > c.max_t
                || (prev_max != i64::MIN && c.min_t <= prev_max)
            {
                return None;
            }
            prev_max = c.max_t;
        }
        let last_chunk = usable.last()?;
        // An XOR chunk starts with its sample count; the last one must have a sample to be the newest.
        if last_chunk.bytes.get(..2).is_none_or(|n| n == [0, 0]) {
            return None;
        }
        let (min_t, max_t) = (first.min_t, last_chunk.max_t);
        let mut d = self.data.lock();
        if !d.closed.is_empty() || d.open.is_some() || d.last.is_some() {
            return None;
        }
        let n = usable.len();
        d.closed = usable
            .into_iter()
            .map(|c| ClosedChunk { min_t: c.min_t, max_t: c.max_t, bytes: c.bytes })
            .collect();
        d.disk_max_t = max_t;
        Some((n, min_t, max_t))
    }

    /// Ends a replay that gave the series chunks from `chunks_head/`: the newest sample becomes the newest of
    /// those chunks' if nothing newer was replayed.
    pub(crate) fn settle_mapped(&self) {
        let mut d = self.data.lock();
        let disk_max_t = d.disk_max_t;
        if disk_max_t == i64::MIN || d.last.is_some_and(|(t, _)| t >= disk_max_t) {
            return;
        }
        let newest = d
            .closed
            .iter()
            .rev()
            .find(|c| c.max_t == disk_max_t)
            .and_then(|c| XorIterator::new(&c.bytes).last());
        if let Some((t, v)) = newest {
            d.last = Some((t, v.to_bits()));
        }
    }

    /// The closed chunks still on the heap that may go to `chunks_head/` (those after the newest one there).
    pub(crate) fn chunks_to_map(&self) -> Vec<ClosedChunk> {
        let d = self.data.lock();
        let mut after = d.disk_max_t;
        let mut out = Vec::new();
        for c in &d.closed {
            if matches!(c.bytes, ChunkBytes::Heap(_)) && c.min_t > after {
                out.push(c.clone());
                after = c.max_t;
            }
        }
        out
    }

    /// Records that `written` (from [`Series::chunks_to_map`]) is now in `chunks_head/` at `mapped`, and uses
    /// the mapping instead of the heap copy if the chunk is still there.
    pub(crate) fn mapped(&self, written: &ClosedChunk, mapped: ChunkBytes) {
        let ChunkBytes::Heap(heap) = &written.bytes else { return };
        let mut d = self.data.lock();
        d.disk_max_t = d.disk_max_t.max(written.max_t);
        if let Some(c) = d
            .closed
            .iter_mut()
            .find(|c| matches!(&c.bytes, ChunkBytes::Heap(b) if Arc::ptr_eq(b, heap)))
        {
            c.bytes = mapped;
        }
    }

    pub(crate) fn snapshot(&self, mint: i64, maxt: i64) -> Option<Snapshot> {
        let d = self.data.lock();
        let stones = d.stones.as_deref().map_or(&[][..], Vec::as_slice);
        // Chunks wholly deleted are left out, so a series whose samples are all deleted is not selected.
        let live = |min_t: i64, max_t: i64| !stones.iter().any(|(s, e)| *s <= min_t && max_t <= *e);
        let chunks: Vec<ClosedChunk> = d
            .closed
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t <= maxt && live(c.min_t, c.max_t))
            .cloned()
            .collect();
        let open = d
            .open
            .as_ref()
            .filter(|(min_t, a)| *min_t <= maxt && a.last_t() >= mint && live(*min_t, a.last_t()))
            .map(|(min_t, a)| ClosedChunk::of_open(*min_t, a));
        let hist: Vec<(i64, Value)> =
            d.hist.iter().filter(|(t, _)| *t >= mint && *t <= maxt).cloned().collect();
        let mut ooo_chunks = Vec::new();
        if let Some(o) = &d.ooo {
            o.chunks_in(mint, maxt, &mut ooo_chunks);
        }
        let ooo: Vec<ClosedChunk> = ooo_chunks
            .into_iter()
            .filter(|(min_t, max_t, _)| live(*min_t, *max_t))
            .map(|(min_t, max_t, bytes)| ClosedChunk { min_t, max_t, bytes })
            .collect();
        if chunks.is_empty() && open.is_none() && hist.is_empty() && ooo.is_empty() {
            return None;
        }
        let stones = d.stones.as_deref().cloned().unwrap_or_default();
        Some(Snapshot { chunks, open, hist, stones, ooo })
    }

    /// Deletes the samples in `[mint, maxt]`: histogram samples are dropped, float samples are hidden by a
    /// deleted interval (as Prometheus's head tombstones; the chunks, which may live in `chunks_head/`, are
    /// never rewritten). The interval ends at the newest sample, so later samples are not affected. The newest
    /// sample stays the reference for Prometheus's ordering rules even if it is deleted. Returns whether
    /// anything was removed.
    pub(crate) fn delete(&self, mint: i64, maxt: i64) -> bool {
        let mut d = self.data.lock();
        let hist_before = d.hist.len();
        d.hist.retain(|(t, _)| *t < mint || *t > maxt);
        let changed = d.hist.len() != hist_before;
        // During a replay the newest sample leaves out the chunks from chunks_head/ (see `append`).
        let ooo_max = d.ooo.as_ref().map_or(i64::MIN, |o| o.max_t());
        let maxt = maxt.min(d.last.map_or(i64::MIN, |(t, _)| t).max(ooo_max).max(d.disk_max_t));
        if mint > maxt {
            return changed;
        }
        let mut chunks: Vec<ClosedChunk> =
            d.closed.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt).cloned().collect();
        if let Some((min_t, a)) = &d.open
            && *min_t <= maxt
            && a.last_t() >= mint
        {
            chunks.push(ClosedChunk::of_open(*min_t, a));
        }
        if let Some(o) = &d.ooo {
            let mut ooo = Vec::new();
            o.chunks_in(mint, maxt, &mut ooo);
            chunks.extend(ooo.into_iter().map(|(min_t, max_t, bytes)| ClosedChunk {
                min_t,
                max_t,
                bytes,
            }));
        }
        let stones = d.stones.as_deref().map_or(&[][..], Vec::as_slice);
        let visible = chunks.iter().any(|c| {
            XorIterator::new(&c.bytes).any(|(t, _)| t >= mint && t <= maxt && !deleted(stones, t))
        });
        if !visible {
            return changed;
        }
        let stones = d.stones.get_or_insert_with(Box::default);
        stones.push((mint, maxt));
        stones.sort_unstable();
        true
    }

    /// The end [`Series::delete`] gives a deleted interval ending at `maxt`: the newest sample, in order or
    /// out of order.
    pub(crate) fn deletion_end(&self, maxt: i64) -> i64 {
        let d = self.data.lock();
        let ooo_max = d.ooo.as_ref().map_or(i64::MIN, |o| o.max_t());
        maxt.min(d.last.map_or(i64::MIN, |(t, _)| t).max(ooo_max))
    }

    /// Replays a logged deletion (whose end [`Series::deletion_end`] gave): recorded whatever is visible now,
    /// since the out-of-order samples it may cover come back from the WBL only after the WAL. Ends are clamped
    /// to the newest sample again for logs written before the end was.
    pub(crate) fn delete_replayed(&self, mint: i64, maxt: i64) {
        let mut d = self.data.lock();
        d.hist.retain(|(t, _)| *t < mint || *t > maxt);
        let maxt = match d.last {
            Some((t, _)) => maxt.min(t),
            None => maxt,
        };
        if mint > maxt {
            return;
        }
        let stones = d.stones.get_or_insert_with(Box::default);
        stones.push((mint, maxt));
        stones.sort_unstable();
    }

    /// The in-order samples in `[mint, maxt]`, floats and histograms separately, in time order (what head
    /// compaction writes; out-of-order samples have their own compaction).
    pub(crate) fn samples_in(&self, mint: i64, maxt: i64) -> RangeSamples {
        let Some(mut snap) = self.snapshot(mint, maxt) else {
            return (Vec::new(), Vec::new());
        };
        snap.ooo.clear();
        let mut floats = Vec::new();
        snap.decode_floats(mint, maxt, &mut floats);
        (floats, snap.hist)
    }

    #[cfg(test)]
    pub(crate) fn chunk_stats(&self) -> (u64, u64) {
        let d = self.data.lock();
        let mut n = d.closed.len() as u64;
        let mut bytes: u64 = d.closed.iter().map(|c| c.bytes.len() as u64).sum();
        if let Some((_, a)) = &d.open {
            n += 1;
            bytes += a.bytes().len() as u64;
        }
        // Out-of-order chunks are not counted: neither is `HeadStats::chunks` (Prometheus counts them).
        (n, bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        let d = self.data.lock();
        d.closed.is_empty() && d.open.is_none() && d.hist.is_empty() && d.ooo.is_none()
    }

    /// Drops data older than `mint`; returns the new oldest timestamp (`None` when nothing is left) and the
    /// lowest `chunks_head/` file a chunk of the series still lives in.
    pub(crate) fn truncate(&self, mint: i64, chunks: &ChunkCounters) -> (Option<i64>, Option<u32>) {
        let mut d = self.data.lock();
        let before = d.closed.len();
        d.closed.retain(|c| c.max_t >= mint);
        chunks.removed((before - d.closed.len()) as u64);
        if d.open.as_ref().is_some_and(|(_, a)| a.last_t() < mint) {
            d.open = None;
            chunks.removed(1);
        }
        d.hist.retain(|(t, _)| *t >= mint);
        // Deletions of out-of-order data stay until that data is compacted.
        let keep_from = d.ooo.as_ref().map_or(mint, |o| mint.min(o.min_t()));
        if let Some(stones) = &mut d.stones {
            stones.retain(|(_, end)| *end >= keep_from);
            if stones.is_empty() {
                d.stones = None;
            }
        }
        let mut min = i64::MAX;
        if let Some(c) = d.closed.first() {
            min = min.min(c.min_t);
        }
        if let Some((t, _)) = &d.open {
            min = min.min(*t);
        }
        if let Some((t, _)) = d.hist.first() {
            min = min.min(*t);
        }
        // Out-of-order data is not truncated here (its compaction drops it) and does not count for the head's
        // in-order minimum, but its chunks keep their files.
        let ooo_file = d.ooo.as_ref().and_then(|o| o.min_file());
        let file = d.closed.iter().filter_map(|c| c.bytes.file_index()).chain(ooo_file).min();
        ((min != i64::MAX).then_some(min), file)
    }
}

impl Snapshot {
    /// Decodes every float sample within `[mint, maxt]` that is not deleted, in time order.
    pub(crate) fn decode_floats(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let start = out.len();
        for c in self.chunks.iter().chain(&self.open).chain(&self.ooo) {
            let from = out.len();
            out.extend(XorIterator::new(&c.bytes).filter(|(t, _)| *t >= mint && *t <= maxt));
            if !self.stones.is_empty() {
                let mut i = from;
                for j in from..out.len() {
                    if !deleted(&self.stones, out[j].0) {
                        out[i] = out[j];
                        i += 1;
                    }
                }
                out.truncate(i);
            }
        }
        if !self.ooo.is_empty() {
            // Stable: on equal timestamps the in-order sample, decoded first, stays.
            out[start..].sort_by_key(|(t, _)| *t);
            let mut merged: Vec<(i64, f64)> = out.drain(start..).collect();
            merged.dedup_by_key(|(t, _)| *t);
            out.extend(merged);
        }
    }
}

/// Whether `t` lies in one of the sorted intervals.
fn deleted(stones: &[(i64, i64)], t: i64) -> bool {
    stones.iter().take_while(|(s, _)| *s <= t).any(|(_, e)| t <= *e)
}
