//! Memory snapshots (`--enable-feature=memory-snapshot-on-shutdown`): on a clean shutdown the head writes
//! `chunk_snapshot.NNNNNN.MMMMMMMMMM/` into the data directory, and the next start loads it instead of replaying
//! the WAL up to segment `N`, offset `M`, which is where the snapshot was taken.
//!
//! A snapshot is a directory in the WAL's segment format holding, as Prometheus's `ChunkSnapshot` writes them:
//!
//! 1. one series record per series (type 1): `BE64 ref | labels | BE64 0 (was the chunk range) | uvarint
//!    chunk exists | BE64 mint | BE64 maxt | encoding | uvarint len | chunk | 3 × (BE64 0, BE64 0) | BE64 0 |
//!    BE64 last value`: the open XOR chunk and its last value (the "last 4 samples" of the format document are
//!    written as zeros by Prometheus 2.42 and 3.x alike, and only the last value is read back);
//! 2. one tombstone record (type 2): `uvarint len | version byte 1 | (uvarint ref, varint mint, varint maxt)*`,
//!    every deleted interval (the tombstones file's entries without its magic number and checksum, whatever the
//!    format document says);
//! 3. exemplar records (type 3): a WAL exemplar record with its type byte replaced, in buffer order.
//!
//! The head keeps native histogram samples uncompressed rather than in head chunks, so their samples go into
//! records of Promethium's own (type 128: a WAL histogram-sample record behind the type byte), after the series
//! they belong to. Prometheus does not know the type: it refuses such a snapshot and replays its WAL instead,
//! which loses nothing.
//!
//! Closed chunks are not in the snapshot: they are in `chunks_head/`, which is written out and fsynced first. So
//! a start with a snapshot loads the snapshot, gives every series its chunks from `chunks_head/` (dropping the
//! snapshot's open chunk if a chunk there covers it: the process that loaded the snapshot wrote it out before
//! it crashed), then replays the WAL from the snapshot's position on. The result is the head a full WAL replay
//! builds. The snapshot is only used when the WAL still holds everything after its position and nothing before
//! it was folded into a checkpoint since (otherwise it is deleted, as Prometheus deletes a snapshot newer than
//! the WAL), and when `chunks_head/` was intact; a snapshot that does not read back is deleted and the WAL
//! replayed in full.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use model::{Labels, Value};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::Inner;
use super::chunks_head::{ChunkBytes, ENCODING_XOR, LoadedChunk};
use super::series::{ClosedChunk, Series, value_bits};
use crate::block::encoding::Dec;
use crate::chunkenc::{XorAppender, XorIterator};
use crate::error::Error;
use crate::wal::checkpoint::last_checkpoint;
use crate::wal::record::{decode, put_labels, put_uvarint, put_varint};
use crate::wal::segment::{list_segments, segment_file, sync_dir};
use crate::wal::writer::LogWriter;
use crate::wal::{
    PAGE_SIZE, Position, ReadOptions, Record, RecordRef, RefExemplar, RefFloatHistogramSample,
    RefHistogramSample, SegmentRange, WalOptions, WalReader,
};

const PREFIX: &str = "chunk_snapshot.";
const TMP_SUFFIX: &str = ".tmp";

const RECORD_SERIES: u8 = 1;
const RECORD_TOMBSTONES: u8 = 2;
const RECORD_EXEMPLARS: u8 = 3;
/// The version byte of Prometheus's tombstone encoding.
const TOMBSTONES_FORMAT_V1: u8 = 1;
/// Promethium's record of histogram samples: the type byte, then a WAL record of type 7–10.
const RECORD_HISTOGRAMS: u8 = 128;

/// The type byte of a WAL exemplar record.
const WAL_EXEMPLARS: u8 = 4;
/// Encoded bytes after which series records are handed to the writer.
const FLUSH_BYTES: usize = 1 << 20;
/// Entries per exemplar and histogram record, as Prometheus batches exemplars.
const ENTRIES_PER_RECORD: usize = 10_000;

/// What writing a snapshot did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkSnapshotStats {
    /// The snapshot directory.
    pub dir: PathBuf,
    /// The WAL position it covers.
    pub position: Position,
    /// Series written.
    pub series: u64,
    /// Exemplars written.
    pub exemplars: u64,
    /// How long writing took (head chunks and WAL sync included).
    pub duration: Duration,
    /// Why older snapshots could not be deleted (they are ignored, a newer one exists).
    pub cleanup_error: Option<String>,
}

/// What looking for a snapshot on open found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotLoadStats {
    /// The snapshot loaded and the WAL position it covers (the WAL was replayed from there).
    pub loaded: Option<(PathBuf, Position)>,
    /// Series restored from it.
    pub series: u64,
    /// Exemplars restored from it.
    pub exemplars: u64,
    /// Deleted intervals restored from it.
    pub tombstones: u64,
    /// How long loading it took.
    pub duration: Duration,
    /// Snapshots that failed to load: 0 or 1 (`prometheus_tsdb_snapshot_replay_error_total`).
    pub replay_errors: u64,
    /// Why a snapshot was not used and deleted (failed to load, older than the WAL's checkpoint, newer than the
    /// WAL, `chunks_head/` damaged); the WAL was replayed in full.
    pub discarded: Option<String>,
}

/// A snapshot's series, for the WAL replay that continues from the snapshot's position.
pub(crate) struct Resume {
    pub(crate) position: Position,
    pub(crate) series: Vec<Arc<Series>>,
}

/// The directory name of a snapshot covering the WAL up to `p`.
fn dir_name(p: Position) -> String {
    format!("{PREFIX}{:06}.{:010}", p.segment, p.offset)
}

/// The position a snapshot directory name gives, `None` for other names (`.tmp` ones included).
fn parse_name(name: &str) -> Option<Position> {
    let (seg, off) = name.strip_prefix(PREFIX)?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seg) || !digits(off) {
        return None;
    }
    Some(Position { segment: seg.parse().ok()?, offset: off.parse().ok()? })
}

/// The snapshots in `data_dir`, oldest first.
pub(crate) fn list(data_dir: &Path) -> Result<Vec<(Position, PathBuf)>, Error> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("list chunk snapshots in", data_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(Error::io("list chunk snapshots in", data_dir))?;
        let Some(p) = entry.file_name().to_str().and_then(parse_name) else { continue };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push((p, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(p, _)| *p);
    Ok(out)
}

/// Deletes the snapshots older than `keep` (every one for `None`) and leftover `.tmp` directories.
fn delete(data_dir: &Path, keep: Option<Position>) -> Result<(), Error> {
    for (p, dir) in list(data_dir)? {
        if keep.is_none_or(|k| p < k) {
            fs::remove_dir_all(&dir).map_err(Error::io("delete chunk snapshot", &dir))?;
        }
    }
    remove_temporary(data_dir)
}

/// Removes `chunk_snapshot.*.tmp` directories an interrupted snapshot left.
pub(crate) fn remove_temporary(data_dir: &Path) -> Result<(), Error> {
    let Ok(entries) = fs::read_dir(data_dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            fs::remove_dir_all(&path)
                .map_err(Error::io("remove temporary chunk snapshot", &path))?;
        }
    }
    Ok(())
}

/// Writes a snapshot of `head` into `data_dir` (see the module docs). Closed chunks are written to
/// `chunks_head/` and fsynced and the WAL is fsynced first; the WAL's lock is held throughout, so the snapshot
/// holds exactly what the WAL holds up to its position. A snapshot is not written if a closed chunk could not
/// go to `chunks_head/`; the WAL is synced anyway.
pub(crate) fn write(head: &Inner, data_dir: &Path) -> Result<ChunkSnapshotStats, Error> {
    const OP: &str = "write chunk snapshot";
    let started = Instant::now();
    let Some(wal) = &head.wal else {
        return Err(Error::invalid(OP, "the head has no WAL"));
    };
    let mut hw = wal.lock();
    let mapped = head.mmap_chunks();
    hw.wal.sync()?;
    mapped?;
    if let Some(m) = &head.mapper {
        m.sync()?;
    }
    // The position must be a page boundary for Prometheus's reader: close the segment unless it is empty.
    if hw.wal.position().offset > 0 {
        hw.wal.next_segment()?;
    }
    let position = hw.wal.position();
    // No garbage collection while the series are walked.
    let _gc = head.mmap_lock.lock();
    remove_temporary(data_dir)?;
    let final_dir = data_dir.join(dir_name(position));
    let tmp = data_dir.join(format!("{}{TMP_SUFFIX}", dir_name(position)));
    fs::create_dir_all(&tmp).map_err(Error::io("create chunk snapshot directory", &tmp))?;
    let (series, exemplars) = match fill(head, &tmp, hw.wal.options()) {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    sync_dir(&tmp)?;
    match fs::remove_dir_all(&final_dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(Error::io("replace chunk snapshot", &final_dir)(e));
        }
        _ => {}
    }
    fs::rename(&tmp, &final_dir)
        .map_err(Error::io("rename chunk snapshot directory", &final_dir))?;
    sync_dir(data_dir)?;
    let cleanup_error = delete(data_dir, Some(position)).err().map(|e| e.to_string());
    Ok(ChunkSnapshotStats {
        dir: final_dir,
        position,
        series,
        exemplars,
        duration: started.elapsed(),
        cleanup_error,
    })
}

/// Histogram samples waiting for their records, by record type.
#[derive(Default)]
struct HistogramBatch {
    int: Vec<RefHistogramSample>,
    float: Vec<RefFloatHistogramSample>,
    custom_int: Vec<RefHistogramSample>,
    custom_float: Vec<RefFloatHistogramSample>,
}

impl HistogramBatch {
    fn push(&mut self, series_ref: u64, t: i64, v: &Value) {
        match v {
            Value::Histogram(h) => {
                let s = RefHistogramSample { series_ref, t, h: h.clone() };
                if h.uses_custom_buckets() { self.custom_int.push(s) } else { self.int.push(s) }
            }
            Value::FloatHistogram(fh) => {
                let s = RefFloatHistogramSample { series_ref, t, fh: fh.clone() };
                if fh.uses_custom_buckets() {
                    self.custom_float.push(s)
                } else {
                    self.float.push(s)
                }
            }
            Value::Float(_) => {}
        }
    }

    fn len(&self) -> usize {
        self.int.len() + self.float.len() + self.custom_int.len() + self.custom_float.len()
    }

    /// Encodes the batch as snapshot records into `buf` (noting where each ends) and empties it.
    fn drain_into(&mut self, buf: &mut Vec<u8>, ends: &mut Vec<usize>) {
        let records = [
            RecordRef::HistogramSamples(&self.int),
            RecordRef::FloatHistogramSamples(&self.float),
            RecordRef::CustomBucketsHistogramSamples(&self.custom_int),
            RecordRef::CustomBucketsFloatHistogramSamples(&self.custom_float),
        ];
        for r in records.iter().filter(|r| !r.is_empty()) {
            buf.push(RECORD_HISTOGRAMS);
            r.encode(buf);
            ends.push(buf.len());
        }
        *self = HistogramBatch::default();
    }
}

/// Writes the records of a snapshot into segments in `dir`; returns the numbers of series and exemplars.
fn fill(head: &Inner, dir: &Path, opts: &WalOptions) -> Result<(u64, u64), Error> {
    let mut w = LogWriter::create(dir, 0, opts.segment_size, opts.compression)?;
    let mut all = head.by_ref.all();
    all.sort_unstable_by_key(|s| s.reference);
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut hist = HistogramBatch::default();
    let mut stones: Vec<(u64, i64, i64)> = Vec::new();
    let mut written: HashSet<u64> = HashSet::default();
    for s in &all {
        // A series the WAL does not know has no acknowledged data; a WAL replay would not create it.
        if !s.wal_logged.load(Ordering::Relaxed) {
            continue;
        }
        let d = s.data.lock();
        if d.closed.iter().any(|c| matches!(c.bytes, ChunkBytes::Heap(_))) {
            return Err(Error::invalid(
                "write chunk snapshot",
                format!("series {} has closed chunks that are not in chunks_head/", s.labels),
            ));
        }
        buf.push(RECORD_SERIES);
        buf.extend_from_slice(&s.reference.to_be_bytes());
        put_labels(&mut buf, &s.labels);
        buf.extend_from_slice(&0i64.to_be_bytes());
        match &d.open {
            None => put_uvarint(&mut buf, 0),
            Some((min_t, a)) => {
                put_uvarint(&mut buf, 1);
                buf.extend_from_slice(&min_t.to_be_bytes());
                buf.extend_from_slice(&a.last_t().to_be_bytes());
                buf.push(ENCODING_XOR);
                put_uvarint(&mut buf, a.bytes().len() as u64);
                buf.extend_from_slice(a.bytes());
                buf.extend_from_slice(&[0; 56]);
                buf.extend_from_slice(&a.last_v().to_bits().to_be_bytes());
            }
        }
        ends.push(buf.len());
        for (t, v) in &d.hist {
            hist.push(s.reference, *t, v);
        }
        if hist.len() >= ENTRIES_PER_RECORD {
            hist.drain_into(&mut buf, &mut ends);
        }
        if let Some(st) = &d.stones {
            stones.extend(st.iter().map(|(a, b)| (s.reference, *a, *b)));
        }
        written.insert(s.reference);
        drop(d);
        if buf.len() > FLUSH_BYTES {
            log_buffered(&mut w, &mut buf, &mut ends)?;
        }
    }
    hist.drain_into(&mut buf, &mut ends);
    buf.push(RECORD_TOMBSTONES);
    let encoded = encode_tombstones(&stones);
    put_uvarint(&mut buf, encoded.len() as u64);
    buf.extend_from_slice(&encoded);
    ends.push(buf.len());
    log_buffered(&mut w, &mut buf, &mut ends)?;

    let exemplars: Vec<RefExemplar> = head
        .exemplars
        .lock()
        .iter()
        .filter(|(r, _, _)| written.contains(r))
        .map(|(r, e, t)| RefExemplar {
            series_ref: *r,
            t: *t,
            v: e.value,
            labels: e.labels.clone(),
        })
        .collect();
    for batch in exemplars.chunks(ENTRIES_PER_RECORD) {
        let start = buf.len();
        RecordRef::Exemplars(batch).encode(&mut buf);
        buf[start] = RECORD_EXEMPLARS;
        ends.push(buf.len());
        if buf.len() > FLUSH_BYTES {
            log_buffered(&mut w, &mut buf, &mut ends)?;
        }
    }
    log_buffered(&mut w, &mut buf, &mut ends)?;
    w.close()?;
    Ok((written.len() as u64, exemplars.len() as u64))
}

fn log_buffered(w: &mut LogWriter, buf: &mut Vec<u8>, ends: &mut Vec<usize>) -> Result<(), Error> {
    let mut start = 0;
    let b = &*buf;
    w.log(ends.iter().map(|&end| {
        let rec = &b[start..end];
        start = end;
        rec
    }))?;
    buf.clear();
    ends.clear();
    Ok(())
}

/// Prometheus's tombstone encoding for `stones` (series reference, interval), every interval as the head holds
/// it: the format version byte, then the entries as in the tombstones file, without its magic number and
/// checksum (the snapshot's fragments have checksums of their own).
fn encode_tombstones(stones: &[(u64, i64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + stones.len() * 6);
    out.push(TOMBSTONES_FORMAT_V1);
    for (r, mint, maxt) in stones {
        put_uvarint(&mut out, *r);
        put_varint(&mut out, *mint);
        put_varint(&mut out, *maxt);
    }
    out
}

/// Reads [`encode_tombstones`]'s bytes back, every interval as written.
fn decode_tombstones(data: &[u8]) -> Result<Vec<(u64, i64, i64)>, String> {
    match data.first() {
        Some(&TOMBSTONES_FORMAT_V1) => {}
        Some(v) => return Err(format!("invalid tombstone format {v:x}")),
        None => return Err("the tombstones are empty".into()),
    }
    let mut d = Dec::new(&data[1..]);
    let mut out = Vec::new();
    while d.remaining() > 0 {
        let stone = (|| Ok::<_, &'static str>((d.uvarint()?, d.varint()?, d.varint()?)))()
            .map_err(|e| format!("decode tombstone: {e}"))?;
        out.push(stone);
    }
    Ok(out)
}

/// One series as a snapshot holds it.
struct SnapSeries {
    reference: u64,
    labels: Labels,
    /// The open chunk: its first timestamp and an appender continuing it.
    open: Option<(i64, XorAppender)>,
    /// Histogram samples (from Promethium's records), in time order.
    hist: Vec<(i64, Value)>,
}

/// What a snapshot holds.
struct Snapshot {
    series: Vec<SnapSeries>,
    stones: Vec<(u64, i64, i64)>,
    exemplars: Vec<RefExemplar>,
}

/// Reads the snapshot in `dir`; any damage or unexpected content is an error.
fn read(dir: &Path) -> Result<Snapshot, Error> {
    let corrupt = |reason: String| Error::SnapshotCorruption { path: dir.to_path_buf(), reason };
    // A snapshot's segments are closed, so padded to whole pages: a shorter one was cut, maybe between
    // records, which reading alone would not notice.
    for seg in list_segments(dir)? {
        let path = segment_file(dir, seg);
        let len =
            fs::metadata(&path).map_err(Error::io("stat chunk snapshot segment", &path))?.len();
        if len % PAGE_SIZE as u64 != 0 {
            return Err(corrupt(format!("segment {seg} of {len} bytes is cut short")));
        }
    }
    let mut reader = WalReader::new(&[SegmentRange::all(dir)], ReadOptions::default())?;
    let mut snap = Snapshot { series: Vec::new(), stones: Vec::new(), exemplars: Vec::new() };
    let mut index: HashMap<u64, usize> = HashMap::default();
    let mut seen_labels: HashSet<Labels> = HashSet::default();
    let mut tombstones_read = false;
    while let Some(rec) = reader.next_record()? {
        let data = rec.data;
        let kind = data.first().copied().unwrap_or(0);
        match kind {
            RECORD_SERIES | RECORD_HISTOGRAMS if tombstones_read => {
                return Err(corrupt(format!("record of type {kind} after the tombstones")));
            }
            RECORD_SERIES => {
                let s = decode_series(&data[1..]).map_err(|e| corrupt(e.to_string()))?;
                if index.insert(s.reference, snap.series.len()).is_some() {
                    return Err(corrupt(format!("series {} appears twice", s.reference)));
                }
                if !seen_labels.insert(s.labels.clone()) {
                    return Err(corrupt(format!("labels {} appear twice", s.labels)));
                }
                snap.series.push(s);
            }
            RECORD_HISTOGRAMS => {
                let rec = decode(&data[1..]).map_err(|e| corrupt(e.to_string()))?;
                let samples: Vec<(u64, i64, Value)> = match rec {
                    Record::HistogramSamples(v) | Record::CustomBucketsHistogramSamples(v) => {
                        v.into_iter().map(|x| (x.series_ref, x.t, Value::Histogram(x.h))).collect()
                    }
                    Record::FloatHistogramSamples(v)
                    | Record::CustomBucketsFloatHistogramSamples(v) => v
                        .into_iter()
                        .map(|x| (x.series_ref, x.t, Value::FloatHistogram(x.fh)))
                        .collect(),
                    _ => return Err(corrupt("histogram record of another type".into())),
                };
                for (r, t, v) in samples {
                    let Some(&i) = index.get(&r) else {
                        return Err(corrupt(format!("histogram samples of unknown series {r}")));
                    };
                    snap.series[i].hist.push((t, v));
                }
            }
            RECORD_TOMBSTONES if tombstones_read => {
                return Err(corrupt("a second tombstone record".into()));
            }
            RECORD_TOMBSTONES => {
                let mut d = Dec::new(&data[1..]);
                let len = d.uvarint().map_err(|e| corrupt(e.to_string()))?;
                let body = d.bytes(len as usize).map_err(|e| corrupt(e.to_string()))?;
                if d.remaining() > 0 {
                    return Err(corrupt("bytes after the tombstones".into()));
                }
                snap.stones = decode_tombstones(body).map_err(corrupt)?;
                tombstones_read = true;
            }
            RECORD_EXEMPLARS if tombstones_read => {
                let mut b = data.to_vec();
                b[0] = WAL_EXEMPLARS;
                match decode(&b).map_err(|e| corrupt(e.to_string()))? {
                    Record::Exemplars(v) => snap.exemplars.extend(v),
                    _ => return Err(corrupt("exemplar record does not decode".into())),
                }
            }
            _ => return Err(corrupt(format!("unexpected record of type {kind}"))),
        }
    }
    if !tombstones_read {
        return Err(corrupt("the tombstone record is missing (the snapshot is cut short)".into()));
    }
    for s in &mut snap.series {
        s.hist.sort_by_key(|(t, _)| *t);
        if s.hist.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(corrupt(format!(
                "series {} has two histogram samples at one time",
                s.labels
            )));
        }
    }
    Ok(snap)
}

/// Decodes a series record after its type byte.
fn decode_series(b: &[u8]) -> Result<SnapSeries, String> {
    let mut d = Dec::new(b);
    let e = |e: &'static str| format!("decode series record: {e}");
    let reference = d.be64().map_err(e)?;
    let n = d.uvarint().map_err(e)?;
    if n > b.len() as u64 {
        return Err(format!("series {reference}: {n} labels in a record of {} bytes", b.len()));
    }
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let name = d.uvarint_str().map_err(e)?;
        let value = d.uvarint_str().map_err(e)?;
        pairs.push((name, value));
    }
    let labels = Labels::from_pairs(pairs.iter().copied());
    let _chunk_range = d.be64().map_err(e)?;
    let mut s = SnapSeries { reference, labels, open: None, hist: Vec::new() };
    if d.uvarint().map_err(e)? == 0 {
        return trailing(&d).map(|()| s);
    }
    let min_t = d.be64().map_err(e)? as i64;
    let max_t = d.be64().map_err(e)? as i64;
    let encoding = d.byte().map_err(e)?;
    let len = d.uvarint().map_err(e)?;
    let chunk = d.bytes(usize::try_from(len).unwrap_or(usize::MAX)).map_err(e)?;
    if encoding != ENCODING_XOR {
        return Err(format!(
            "series {}: head chunk encoding {encoding} is not restored (only XOR chunks)",
            s.labels
        ));
    }
    for _ in 0..7 {
        d.be64().map_err(e)?;
    }
    let last_v = d.be64().map_err(e)?;
    trailing(&d)?;
    let a = XorAppender::resume(chunk)
        .ok_or_else(|| format!("series {}: the head chunk does not decode", s.labels))?;
    if a.count() > 0 {
        if a.last_t() != max_t || a.last_v().to_bits() != last_v || min_t > max_t {
            return Err(format!(
                "series {}: the head chunk does not match its time range and last value",
                s.labels
            ));
        }
        s.open = Some((min_t, a));
    }
    Ok(s)
}

fn trailing(d: &Dec<'_>) -> Result<(), String> {
    match d.remaining() {
        0 => Ok(()),
        n => Err(format!("unexpected {n} bytes left in a series record")),
    }
}

/// Whether the WAL in `wal_dir` holds everything after `p` and nothing before `p` was checkpointed since (then
/// the snapshot plus the WAL from `p` on is the whole head); the reason when not.
fn wal_continues(wal_dir: &Path, p: Position) -> Result<Result<(), String>, Error> {
    if !wal_dir.exists() {
        return Ok(Err("the WAL directory is missing".into()));
    }
    if let Some((cp, _)) = last_checkpoint(wal_dir)?
        && cp >= p.segment
    {
        return Ok(Err(format!(
            "the WAL was checkpointed up to segment {cp} after the snapshot at segment {}",
            p.segment
        )));
    }
    let segments = list_segments(wal_dir)?;
    if segments.first().is_some_and(|&f| f > p.segment) {
        return Ok(Err(format!("the WAL starts after the snapshot's segment {}", p.segment)));
    }
    let path = segment_file(wal_dir, p.segment);
    match fs::metadata(&path) {
        Ok(m) if m.len() >= p.offset => Ok(Ok(())),
        Ok(m) => Ok(Err(format!(
            "WAL segment {} has {} bytes, the snapshot covers {}",
            p.segment,
            m.len(),
            p.offset
        ))),
        // The snapshot was taken at the start of a segment not written yet.
        Err(_) if p.offset == 0 && segments.last().is_none_or(|&l| l + 1 == p.segment) => {
            Ok(Ok(()))
        }
        Err(_) => Ok(Err(format!("the WAL is behind the snapshot at segment {}", p.segment))),
    }
}

/// Loads the newest snapshot of `data_dir` into the empty `head` if it can be used (see the module docs).
/// `mapped` are the chunks read from `chunks_head/`; the snapshot's series take theirs and the rest are
/// returned for the WAL replay, with what the replay continues from (`None`: replay the whole WAL).
pub(crate) fn restore(
    head: &Inner,
    data_dir: &Path,
    wal_dir: &Path,
    mapped: Vec<LoadedChunk>,
    chunks_damaged: bool,
) -> (Vec<LoadedChunk>, Option<Resume>, SnapshotLoadStats) {
    let started = Instant::now();
    let mut stats = SnapshotLoadStats::default();
    let _ = remove_temporary(data_dir);
    let newest = match list(data_dir) {
        Ok(l) => l.into_iter().next_back(),
        Err(e) => {
            stats.replay_errors = 1;
            stats.discarded = Some(e.to_string());
            None
        }
    };
    let Some((position, dir)) = newest else { return (mapped, None, stats) };
    let discard = |stats: &mut SnapshotLoadStats, why: String| {
        stats.discarded = Some(format!("{}: {why}", dir.display()));
        let _ = delete(data_dir, None);
    };
    if chunks_damaged {
        discard(&mut stats, "head chunk files were damaged".into());
        return (mapped, None, stats);
    }
    match wal_continues(wal_dir, position) {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            discard(&mut stats, why);
            return (mapped, None, stats);
        }
        Err(e) => {
            discard(&mut stats, e.to_string());
            return (mapped, None, stats);
        }
    }
    let snap = match read(&dir) {
        Ok(s) => s,
        Err(e) => {
            stats.replay_errors = 1;
            discard(&mut stats, e.to_string());
            return (mapped, None, stats);
        }
    };
    let min_valid = head.min_valid_time.load(Ordering::Relaxed);
    let mut by_series: HashMap<u64, Vec<LoadedChunk>> = HashMap::default();
    for c in mapped {
        by_series.entry(c.series_ref).or_default().push(c);
    }
    // Every series must be able to take its chunks, or the WAL before the snapshot is needed after all.
    for s in &snap.series {
        if let Some(chunks) = by_series.get(&s.reference)
            && !usable(chunks, min_valid)
        {
            let why = format!("the head chunks of series {} are not in time order", s.labels);
            discard(&mut stats, why);
            return (by_series.into_values().flatten().collect(), None, stats);
        }
    }
    let resume = apply(head, snap, &mut by_series, &mut stats);
    stats.loaded = Some((dir, position));
    stats.duration = started.elapsed();
    let rest: Vec<LoadedChunk> = by_series.into_values().flatten().collect();
    (rest, Some(Resume { position, series: resume }), stats)
}

/// Whether `chunks` (of one series, in file order) can be taken: in-order XOR chunks, each after the one
/// before, counting only those not wholly before `min_valid`.
fn usable(chunks: &[LoadedChunk], min_valid: i64) -> bool {
    let mut prev = i64::MIN;
    for c in chunks.iter().filter(|c| c.max_t >= min_valid) {
        if c.encoding != ENCODING_XOR
            || c.out_of_order
            || c.min_t > c.max_t
            || (prev != i64::MIN && c.min_t <= prev)
            || XorIterator::new(&c.bytes).last().is_none()
        {
            return false;
        }
        prev = c.max_t;
    }
    true
}

/// Puts the snapshot's series, tombstones and exemplars into the empty `head`, each series with its chunks from
/// `chunks_head/` (taken out of `by_series`). Returns the series.
fn apply(
    head: &Inner,
    snap: Snapshot,
    by_series: &mut HashMap<u64, Vec<LoadedChunk>>,
    stats: &mut SnapshotLoadStats,
) -> Vec<Arc<Series>> {
    let min_valid = head.min_valid_time.load(Ordering::Relaxed);
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    let mut out: Vec<Arc<Series>> = Vec::with_capacity(snap.series.len());
    let mut refs: HashMap<u64, usize> = HashMap::default();
    refs.reserve(snap.series.len());
    for s in snap.series {
        let series = Arc::new(Series::new(s.labels, s.reference));
        series.wal_logged.store(true, Ordering::Relaxed);
        {
            let mut d = series.data.lock();
            let chunks: Vec<LoadedChunk> = by_series
                .remove(&s.reference)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.max_t >= min_valid)
                .collect();
            // The newest sample leaves the chunks from chunks_head/ out until the WAL after the snapshot is
            // replayed (see `Series::settle_mapped`).
            let mut last: Option<(i64, u64)> = None;
            if let Some(c) = chunks.last() {
                d.disk_max_t = c.max_t;
                max = max.max(c.max_t);
            }
            d.closed = chunks
                .into_iter()
                .map(|c| ClosedChunk { min_t: c.min_t, max_t: c.max_t, bytes: c.bytes })
                .collect();
            // A chunk written out after the snapshot holds the snapshot's open chunk (and more).
            let open = s.open.filter(|(min_t, a)| a.last_t() >= min_valid && *min_t > d.disk_max_t);
            if let Some((_, a)) = &open {
                last = Some((a.last_t(), a.last_v().to_bits()));
            }
            d.open = open;
            d.hist = s.hist.into_iter().filter(|(t, _)| *t >= min_valid).collect();
            if let Some((t, v)) = d.hist.last()
                && last.is_none_or(|(lt, _)| *t > lt)
            {
                last = Some((*t, value_bits(v)));
            }
            d.last = last;
            let n = d.closed.len() as u64 + u64::from(d.open.is_some());
            head.counters.chunks.created.fetch_add(n, Ordering::Relaxed);
            let first = [
                d.closed.first().map(|c| c.min_t),
                d.open.as_ref().map(|(t, _)| *t),
                d.hist.first().map(|(t, _)| *t),
            ];
            if let Some(f) = first.into_iter().flatten().min() {
                min = min.min(f);
            }
            if let Some((t, _)) = d.last {
                max = max.max(t);
            }
        }
        let shard = &head.shards[super::shard_of(&series.labels)];
        shard.write().insert(series.labels.clone(), series.clone());
        head.by_ref.insert(series.reference, series.clone());
        head.postings.write().add(series.reference, &series.labels);
        head.next_ref.fetch_max(series.reference.saturating_add(1), Ordering::Relaxed);
        head.counters.series_created.fetch_add(1, Ordering::Relaxed);
        refs.insert(series.reference, out.len());
        out.push(series);
    }
    head.min_time.fetch_min(min, Ordering::Relaxed);
    head.max_time.fetch_max(max, Ordering::Relaxed);
    stats.series = out.len() as u64;
    for (r, mint, maxt) in snap.stones {
        if let Some(&i) = refs.get(&r) {
            let mut d = out[i].data.lock();
            let stones = d.stones.get_or_insert_with(Box::default);
            stones.push((mint, maxt));
            stones.sort_unstable();
            stats.tombstones += 1;
        }
    }
    let mut exemplars = head.exemplars.lock();
    if exemplars.enabled() {
        for e in snap.exemplars {
            if !refs.contains_key(&e.series_ref) {
                continue;
            }
            let ex = model::Exemplar { labels: e.labels, value: e.v, ts: Some(e.t) };
            if exemplars.validate(e.series_ref, &ex, e.t).is_ok() {
                exemplars.add(e.series_ref, ex, e.t);
                stats.exemplars += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_not_snapshots() {
        let p = Position { segment: 12, offset: 32768 };
        assert_eq!(dir_name(p), "chunk_snapshot.000012.0000032768");
        assert_eq!(parse_name(&dir_name(p)), Some(p));
        for other in [
            "chunk_snapshot.000012.0000032768.tmp",
            "chunk_snapshot.12",
            "chunk_snapshot.a.1",
            "chunk_snapshot..1",
            "chunk_snapshot.1.-1",
            "wal",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn tombstones_keep_every_interval_and_reject_what_does_not_decode() {
        let stones = vec![(1, 0, 10), (1, 5, 20), (7, -3, i64::MAX)];
        let b = encode_tombstones(&stones);
        assert_eq!(decode_tombstones(&b).unwrap(), stones);
        assert_eq!(decode_tombstones(&encode_tombstones(&[])).unwrap(), vec![]);
        assert_eq!(b[0], 1, "format version");
        assert!(decode_tombstones(&b[..b.len() - 1]).is_err(), "cut inside an entry");
        assert!(decode_tombstones(&[]).is_err());
        let mut bad = b.clone();
        bad[0] = 2;
        assert!(decode_tombstones(&bad).is_err(), "unknown version");
    }

    #[test]
    fn series_records_reject_what_they_cannot_restore() {
        let mut a = XorAppender::new();
        a.append(1000, 1.5);
        a.append(2000, 2.5);
        let record = |encoding: u8, max_t: i64, last_v: f64| {
            let mut b = Vec::new();
            b.extend_from_slice(&5u64.to_be_bytes());
            put_labels(&mut b, &Labels::from_pairs([("__name__", "m")]));
            b.extend_from_slice(&0i64.to_be_bytes());
            put_uvarint(&mut b, 1);
            b.extend_from_slice(&1000i64.to_be_bytes());
            b.extend_from_slice(&max_t.to_be_bytes());
            b.push(encoding);
            put_uvarint(&mut b, a.bytes().len() as u64);
            b.extend_from_slice(a.bytes());
            b.extend_from_slice(&[0; 56]);
            b.extend_from_slice(&last_v.to_bits().to_be_bytes());
            b
        };
        let good = record(ENCODING_XOR, 2000, 2.5);
        let s = decode_series(&good).unwrap();
        assert_eq!(
            (s.reference, s.open.as_ref().map(|(t, a)| (*t, a.count()))),
            (5, Some((1000, 2)))
        );
        assert!(decode_series(&record(2, 2000, 2.5)).is_err(), "histogram chunk");
        assert!(decode_series(&record(ENCODING_XOR, 1999, 2.5)).is_err(), "wrong maxt");
        assert!(decode_series(&record(ENCODING_XOR, 2000, 9.0)).is_err(), "wrong last value");
        let mut long = good.clone();
        long.push(0);
        assert!(decode_series(&long).is_err(), "trailing byte");
        for cut in 0..good.len() {
            assert!(decode_series(&good[..cut]).is_err(), "cut at {cut}");
        }
    }
}
