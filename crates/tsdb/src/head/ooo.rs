//! Out-of-order samples of one series, as Prometheus's head keeps them (`out_of_order_time_window` > 0): a float
//! sample older than the series' newest one (or older than the head's lower bound) but inside the window goes into
//! the series' out-of-order head chunk, a small sorted buffer of at most `out_of_order_cap_max` samples. A full
//! buffer is XOR-encoded into a closed out-of-order chunk, written to `chunks_head/` with the encoding's 0x80 bit
//! (its reference goes to the WBL as an m-map marker) or kept on the heap when that write fails.
//!
//! Closed chunks may overlap one another and the series' in-order chunks: readers merge them by time, one sample
//! per timestamp (the in-order one first). Out-of-order compaction first *seals* every chunk (the buffer is closed
//! too), writes the sealed samples into blocks, then drops the sealed chunks.
//!
//! A chunk is written to `chunks_head/` while the commit holds the series (not the head's m-map lock, which is
//! taken before series locks): a garbage collection running meanwhile may delete the file before it knows the chunk.
//! The mapping stays readable, and on restart the WBL's samples stand in for the missing chunk.
//!
//! Duplicates are Prometheus's: a timestamp already in the buffer is dropped silently, whatever its value; one that
//! only clashes with a closed chunk or the in-order data is kept and hidden on read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Head;
use super::chunks_head::{ChunkBytes, ENCODING_XOR, LoadedChunk};
use super::series::Series;
use crate::chunkenc::{XorAppender, XorIterator};
use crate::error::Error;

/// Prometheus's default `out_of_order_cap_max`: samples in a series' out-of-order head chunk.
pub const DEFAULT_OUT_OF_ORDER_CAP_MAX: usize = 32;

/// A closed out-of-order chunk.
#[derive(Debug, Clone)]
pub(crate) struct OooChunk {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) bytes: ChunkBytes,
    /// Taken by the running out-of-order compaction (dropped once its blocks are written).
    pub(crate) sealed: bool,
}

/// A series' out-of-order data.
#[derive(Debug, Default)]
pub(crate) struct OooData {
    /// Closed chunks, in the order they were cut.
    pub(crate) closed: Vec<OooChunk>,
    /// The head chunk: samples sorted by time, each timestamp once.
    pub(crate) head: Vec<(i64, f64)>,
}

/// What inserting an out-of-order sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Inserted {
    /// False when the buffer held the timestamp already (the sample is dropped).
    pub(crate) inserted: bool,
    /// The `chunks_head/` reference of the chunk closed to make room, for the WBL's m-map marker.
    pub(crate) marker: Option<u64>,
}

/// XOR-encodes time-sorted samples.
pub(crate) fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut a = XorAppender::new();
    for &(t, v) in samples {
        a.append(t, v);
    }
    a.bytes().to_vec()
}

impl OooData {
    /// Inserts into the head chunk keeping it sorted; false for a timestamp it holds already.
    pub(crate) fn insert_head(&mut self, t: i64, v: f64) -> bool {
        match self.head.last() {
            None => self.head.push((t, v)),
            Some(&(lt, _)) if t > lt => self.head.push((t, v)),
            Some(_) => match self.head.binary_search_by_key(&t, |(st, _)| *st) {
                Ok(_) => return false,
                Err(i) => self.head.insert(i, (t, v)),
            },
        }
        true
    }

    /// Closes the head chunk into a heap chunk (`None` when it is empty).
    pub(crate) fn cut_head(&mut self) -> Option<OooChunk> {
        let (first, last) = (self.head.first()?.0, self.head.last()?.0);
        let bytes = ChunkBytes::heap(&encode(&self.head));
        self.head.clear();
        Some(OooChunk { min_t: first, max_t: last, bytes, sealed: false })
    }

    /// The oldest timestamp held (`i64::MAX` when empty).
    pub(crate) fn min_t(&self) -> i64 {
        let closed = self.closed.iter().map(|c| c.min_t).min().unwrap_or(i64::MAX);
        closed.min(self.head.first().map_or(i64::MAX, |(t, _)| *t))
    }

    /// The newest timestamp held (`i64::MIN` when empty).
    pub(crate) fn max_t(&self) -> i64 {
        let closed = self.closed.iter().map(|c| c.max_t).max().unwrap_or(i64::MIN);
        closed.max(self.head.last().map_or(i64::MIN, |(t, _)| *t))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.head.is_empty()
    }

    /// The chunks overlapping `[mint, maxt]` for a reader: the closed ones shared, the head encoded.
    pub(crate) fn chunks_in(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, i64, ChunkBytes)>) {
        for c in self.closed.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt) {
            out.push((c.min_t, c.max_t, c.bytes.clone()));
        }
        if let (Some(&(first, _)), Some(&(last, _))) = (self.head.first(), self.head.last())
            && last >= mint
            && first <= maxt
        {
            out.push((first, last, ChunkBytes::heap(&encode(&self.head))));
        }
    }

    /// Seals every chunk for an out-of-order compaction (the head chunk is closed first); returns the time range
    /// of the sealed data, `None` when there is none.
    pub(crate) fn seal(&mut self) -> Option<(i64, i64)> {
        if let Some(c) = self.cut_head() {
            self.closed.push(c);
        }
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for c in &mut self.closed {
            c.sealed = true;
            min = min.min(c.min_t);
            max = max.max(c.max_t);
        }
        (min <= max).then_some((min, max))
    }

    /// The sealed samples in `[mint, maxt]`, sorted, each timestamp once (the earlier chunk's).
    pub(crate) fn sealed_samples(&self, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in self.closed.iter().filter(|c| c.sealed && c.max_t >= mint && c.min_t <= maxt) {
            out.extend(XorIterator::new(&c.bytes).filter(|(t, _)| *t >= mint && *t <= maxt));
        }
        out.sort_by_key(|(t, _)| *t);
        out.dedup_by_key(|(t, _)| *t);
        out
    }

    /// Drops the sealed chunks; returns how many went.
    pub(crate) fn drop_sealed(&mut self) -> usize {
        let before = self.closed.len();
        self.closed.retain(|c| !c.sealed);
        before - self.closed.len()
    }

    /// WBL replay of an m-map marker: the head chunk's samples went into the chunk `mapped` (read back from
    /// `chunks_head/`). The chunk replaces them; samples it does not hold (replay cut the buffer elsewhere than
    /// the run that wrote the WBL) are kept in a heap chunk. Without the chunk the samples are kept on the heap.
    pub(crate) fn replay_marker(&mut self, mapped: Option<&LoadedChunk>) {
        let Some(m) = mapped.filter(|m| m.encoding == ENCODING_XOR && m.min_t <= m.max_t) else {
            if let Some(c) = self.cut_head() {
                self.closed.push(c);
            }
            return;
        };
        let held: Vec<i64> = XorIterator::new(&m.bytes).map(|(t, _)| t).collect();
        self.head.retain(|(t, _)| held.binary_search(t).is_err());
        if let Some(c) = self.cut_head() {
            self.closed.push(c);
        }
        self.closed.push(OooChunk {
            min_t: m.min_t,
            max_t: m.max_t,
            bytes: m.bytes.clone(),
            sealed: false,
        });
    }

    /// The lowest `chunks_head/` file a chunk lives in.
    pub(crate) fn min_file(&self) -> Option<u32> {
        self.closed.iter().filter_map(|c| c.bytes.file_index()).min()
    }
}

/// The out-of-order data an out-of-order compaction writes (see [`Head::seal_ooo`]).
#[derive(Debug)]
pub(crate) struct OooSeal {
    /// The series with sealed data, sorted by labels.
    pub(crate) series: Vec<Arc<Series>>,
    /// Time range of the sealed data (`i64::MAX`, `i64::MIN` when there is none).
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// The WBL segment started at the seal: the segments below it hold only sealed samples.
    wbl_cut: Option<u32>,
}

impl Head {
    /// Starts an out-of-order compaction (Prometheus's `NewOOOCompactionHead`): while commits wait, the WBL is
    /// cut to a new segment and every series' out-of-order chunks are sealed, so the sealed data is exactly
    /// what the segments before the cut hold. `None` when there is neither out-of-order data nor a WBL.
    pub(crate) fn seal_ooo(&self) -> Result<Option<OooSeal>, Error> {
        let mut log = self.inner.wal.as_ref().map(|w| w.lock());
        let wbl_cut = match log.as_mut().and_then(|w| w.wbl.as_mut()) {
            Some(b) => Some(b.cut()?),
            None => None,
        };
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        let mut series = Vec::new();
        for s in self.inner.ooo_series.lock().values() {
            if let Some((a, b)) = s.seal_ooo() {
                min_t = min_t.min(a);
                max_t = max_t.max(b);
                series.push(s.clone());
            }
        }
        drop(log);
        if series.is_empty() && wbl_cut.is_none() {
            return Ok(None);
        }
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Some(OooSeal { series, min_t, max_t, wbl_cut }))
    }

    /// Ends an out-of-order compaction whose blocks are written: drops the sealed chunks, the series and
    /// `chunks_head/` files left without data, and the WBL segments before the cut.
    pub(crate) fn finish_ooo_compaction(&self, seal: OooSeal) -> Result<(), Error> {
        {
            let mut set = self.inner.ooo_series.lock();
            for s in &seal.series {
                if !s.drop_sealed_ooo() {
                    set.remove(&s.reference);
                }
            }
        }
        self.gc(self.inner.min_valid_time.load(Ordering::Relaxed));
        if let (Some(cut), Some(w)) = (seal.wbl_cut, &self.inner.wal)
            && let Some(b) = w.lock().wbl.as_mut()
        {
            b.truncate(cut)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_chunk_stays_sorted_and_drops_repeated_timestamps() {
        let mut o = OooData::default();
        for (t, v) in [(50, 1.0), (10, 2.0), (30, 3.0), (60, 4.0), (20, 5.0)] {
            assert!(o.insert_head(t, v));
        }
        assert!(!o.insert_head(30, 9.0), "a timestamp held already is dropped whatever its value");
        assert!(!o.insert_head(30, 3.0));
        assert_eq!(o.head, vec![(10, 2.0), (20, 5.0), (30, 3.0), (50, 1.0), (60, 4.0)]);
        let c = o.cut_head().unwrap();
        assert_eq!((c.min_t, c.max_t), (10, 60));
        assert_eq!(XorIterator::new(&c.bytes).collect::<Vec<_>>().len(), 5);
        assert!(o.head.is_empty() && o.cut_head().is_none());
    }

    #[test]
    fn sealing_covers_the_head_chunk_and_later_data_stays() {
        let mut o = OooData::default();
        o.insert_head(10, 1.0);
        o.insert_head(5, 2.0);
        let c = o.cut_head().unwrap();
        o.closed.push(c);
        o.insert_head(7, 3.0);
        o.insert_head(5, 4.0);
        assert_eq!(o.seal(), Some((5, 10)));
        // Inserted after the seal: not part of the compaction.
        o.insert_head(1, 5.0);
        assert_eq!(o.sealed_samples(i64::MIN, i64::MAX), vec![(5, 2.0), (7, 3.0), (10, 1.0)]);
        assert_eq!(o.sealed_samples(6, 9), vec![(7, 3.0)]);
        assert_eq!(o.drop_sealed(), 2);
        assert_eq!(o.head, vec![(1, 5.0)]);
        assert!(o.closed.is_empty() && !o.is_empty());
    }

    #[test]
    fn a_replayed_marker_keeps_samples_the_chunk_lacks() {
        let mut o = OooData::default();
        for t in [1, 2, 3] {
            o.insert_head(t, t as f64);
        }
        let loaded = LoadedChunk {
            series_ref: 1,
            min_t: 2,
            max_t: 4,
            encoding: ENCODING_XOR,
            out_of_order: true,
            bytes: ChunkBytes::heap(&encode(&[(2, 2.0), (3, 3.0), (4, 4.0)])),
        };
        o.replay_marker(Some(&loaded));
        assert!(o.head.is_empty());
        let mut all: Vec<(i64, f64)> =
            o.closed.iter().flat_map(|c| XorIterator::new(&c.bytes).collect::<Vec<_>>()).collect();
        all.sort_by_key(|(t, _)| *t);
        assert_eq!(all, vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
        // Without the chunk (lost from `chunks_head/`), the buffer is kept.
        o.insert_head(9, 9.0);
        o.replay_marker(None);
        assert!(o.head.is_empty());
        assert_eq!(o.closed.last().map(|c| (c.min_t, c.max_t)), Some((9, 9)));
    }
}
