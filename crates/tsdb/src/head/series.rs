//! One series in the head: closed XOR chunks, the open chunk, and histogram samples kept as values.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use model::{Labels, Value};
use parking_lot::Mutex;

use crate::chunkenc::{SAMPLES_PER_CHUNK, XorAppender, XorIterator};

/// A closed chunk: immutable bytes and its time range.
#[derive(Debug)]
pub(crate) struct ClosedChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) bytes: Box<[u8]>,
}

#[derive(Debug)]
pub(crate) struct SeriesData {
    pub(crate) closed: Vec<Arc<ClosedChunk>>,
    pub(crate) open: Option<(i64, XorAppender)>,
    /// Histogram samples (native histograms are stored uncompressed until their chunk encodings land).
    pub(crate) hist: Vec<(i64, Value)>,
    /// Timestamp and value bits of the newest sample.
    pub(crate) last: Option<(i64, u64)>,
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
    pub(crate) chunks: Vec<Arc<ClosedChunk>>,
    pub(crate) open: Option<Arc<ClosedChunk>>,
    pub(crate) hist: Vec<(i64, Value)>,
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
    pub(crate) fn append(&self, t: i64, v: &Value, chunks: &ChunkCounters) -> bool {
        let mut d = self.data.lock();
        if d.last.is_some_and(|(lt, _)| t <= lt) {
            return false;
        }
        d.last = Some((t, value_bits(v)));
        match v {
            Value::Float(f) => {
                let full = d.open.as_ref().is_some_and(|(_, a)| a.count() >= SAMPLES_PER_CHUNK);
                if full && let Some((min_t, a)) = d.open.take() {
                    d.closed.push(Arc::new(ClosedChunk {
                        min_t,
                        max_t: a.last_t(),
                        bytes: a.bytes().into(),
                    }));
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
        true
    }

    pub(crate) fn snapshot(&self, mint: i64, maxt: i64) -> Option<Snapshot> {
        let d = self.data.lock();
        let chunks: Vec<Arc<ClosedChunk>> =
            d.closed.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt).cloned().collect();
        let open = d.open.as_ref().filter(|(min_t, a)| *min_t <= maxt && a.last_t() >= mint).map(
            |(min_t, a)| {
                Arc::new(ClosedChunk { min_t: *min_t, max_t: a.last_t(), bytes: a.bytes().into() })
            },
        );
        let hist: Vec<(i64, Value)> =
            d.hist.iter().filter(|(t, _)| *t >= mint && *t <= maxt).cloned().collect();
        if chunks.is_empty() && open.is_none() && hist.is_empty() {
            return None;
        }
        Some(Snapshot { chunks, open, hist })
    }

    /// Removes the samples in `[mint, maxt]`, re-encoding the float chunks. The newest sample stays the reference
    /// for Prometheus's ordering rules even if it is deleted. Returns whether anything was removed.
    pub(crate) fn delete(&self, mint: i64, maxt: i64, chunks: &ChunkCounters) -> bool {
        let mut d = self.data.lock();
        let hist_before = d.hist.len();
        d.hist.retain(|(t, _)| *t < mint || *t > maxt);
        let mut changed = d.hist.len() != hist_before;
        let mut floats = Vec::new();
        let mut all: Vec<Arc<ClosedChunk>> = d.closed.clone();
        if let Some((min_t, a)) = &d.open {
            all.push(Arc::new(ClosedChunk {
                min_t: *min_t,
                max_t: a.last_t(),
                bytes: a.bytes().into(),
            }));
        }
        if !all.iter().any(|c| c.max_t >= mint && c.min_t <= maxt) {
            return changed;
        }
        decode_floats(&all, i64::MIN, i64::MAX, &mut floats);
        let before = floats.len();
        floats.retain(|(t, _)| *t < mint || *t > maxt);
        changed |= floats.len() != before;
        chunks.removed(all.len() as u64);
        chunks.created(floats.len().div_ceil(usize::from(SAMPLES_PER_CHUNK)) as u64);
        d.closed.clear();
        d.open = None;
        for chunk in floats.chunks(usize::from(SAMPLES_PER_CHUNK)) {
            let mut a = XorAppender::new();
            for (t, v) in chunk {
                a.append(*t, *v);
            }
            let min_t = chunk.first().map_or(0, |p| p.0);
            d.open = Some((min_t, a));
            if chunk.len() == usize::from(SAMPLES_PER_CHUNK)
                && let Some((min_t, a)) = d.open.take()
            {
                d.closed.push(Arc::new(ClosedChunk {
                    min_t,
                    max_t: a.last_t(),
                    bytes: a.bytes().into(),
                }));
            }
        }
        changed
    }

    /// The samples in `[mint, maxt]`, floats and histograms separately, in time order.
    pub(crate) fn samples_in(&self, mint: i64, maxt: i64) -> RangeSamples {
        let Some(snap) = self.snapshot(mint, maxt) else {
            return (Vec::new(), Vec::new());
        };
        let mut floats = Vec::new();
        decode_floats(&snap.chunks, mint, maxt, &mut floats);
        if let Some(open) = &snap.open {
            decode_floats(std::slice::from_ref(open), mint, maxt, &mut floats);
        }
        (floats, snap.hist)
    }

    pub(crate) fn chunk_stats(&self) -> (u64, u64) {
        let d = self.data.lock();
        let mut n = d.closed.len() as u64;
        let mut bytes: u64 = d.closed.iter().map(|c| c.bytes.len() as u64).sum();
        if let Some((_, a)) = &d.open {
            n += 1;
            bytes += a.bytes().len() as u64;
        }
        (n, bytes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        let d = self.data.lock();
        d.closed.is_empty() && d.open.is_none() && d.hist.is_empty()
    }

    /// Drops data older than `mint`; returns the new oldest timestamp, or `None` when nothing is left.
    pub(crate) fn truncate(&self, mint: i64, chunks: &ChunkCounters) -> Option<i64> {
        let mut d = self.data.lock();
        let before = d.closed.len();
        d.closed.retain(|c| c.max_t >= mint);
        chunks.removed((before - d.closed.len()) as u64);
        if d.open.as_ref().is_some_and(|(_, a)| a.last_t() < mint) {
            d.open = None;
            chunks.removed(1);
        }
        d.hist.retain(|(t, _)| *t >= mint);
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
        (min != i64::MAX).then_some(min)
    }
}

/// Decodes every float sample of a snapshot's chunks within `[mint, maxt]`, in time order.
pub(crate) fn decode_floats(
    chunks: &[Arc<ClosedChunk>],
    mint: i64,
    maxt: i64,
    out: &mut Vec<(i64, f64)>,
) {
    for c in chunks {
        out.extend(XorIterator::new(&c.bytes).filter(|(t, _)| *t >= mint && *t <= maxt));
    }
}
