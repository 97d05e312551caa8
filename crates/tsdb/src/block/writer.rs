//! Writing a whole block: chunks stream into `chunks/` as series arrive, series (labels and chunk metadata) are
//! spooled to a temporary file while the symbol set grows, and [`BlockWriter::finish`] writes the index from the
//! spool, then the tombstones and `meta.json`, all inside `<ULID>.tmp-for-creation`, which is fsynced and renamed
//! to `<ULID>`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{FloatHistogram, Histogram, Label, Labels, Value};

use super::chunks::{ChunkEncoding, ChunkMeta, ChunkWriter};
use super::encoding::{Dec, put_uvarint, put_uvarint_str, put_varint, sync_dir};
use super::index_writer::IndexWriter;
use super::meta::{BlockMeta, BlockStats, Compaction, META_VERSION};
use super::tombstones::Tombstones;
use super::{FloatSeries, Ulid, ValueSeries};
use crate::chunkenc::{
    FloatHistogramAppender, HistogramAppend, HistogramAppender, MIN_SAMPLES_PER_HISTOGRAM_CHUNK,
    SAMPLES_PER_CHUNK, TARGET_BYTES_PER_HISTOGRAM_CHUNK, XorAppender, recode_xor,
};
use crate::error::Error;

/// Prometheus's default block duration and head chunk range, 2h in milliseconds.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 60 * 60 * 1000;

/// Suffix of a block directory while it is being written.
pub const TMP_FOR_CREATION_SUFFIX: &str = ".tmp-for-creation";

const SPOOL_FILENAME: &str = "series.spool.tmp";
const OP_ADD: &str = "add series to block";

/// An encoded chunk ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// How `data` is encoded.
    pub encoding: ChunkEncoding,
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// The encoded chunk (starting with its big-endian 16-bit sample count).
    pub data: Vec<u8>,
}

impl Chunk {
    /// The sample count from the chunk's header.
    pub fn num_samples(&self) -> u64 {
        match self.data.as_slice() {
            [a, b, ..] => u64::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }
}

/// Writes one block. Series must be added in strictly increasing label order.
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    ulid: Ulid,
    tmp_dir: PathBuf,
    mint: i64,
    maxt: i64,
    chunks: Option<ChunkWriter>,
    spool: Option<BufWriter<File>>,
    spool_path: PathBuf,
    symbols: BTreeSet<String>,
    last: Labels,
    stats: BlockStats,
    /// The `compaction` section of `meta.json`; `None` for a level-1 block.
    compaction: Option<Compaction>,
    buf: Vec<u8>,
    /// Whether XOR chunks are re-encoded with [`recode_xor`] before they are written.
    smallest_xor: bool,
    done: bool,
}

impl BlockWriter {
    /// Starts a block covering `[mint, maxt)` in `parent/<ULID>.tmp-for-creation`.
    pub fn new(parent: &Path, mint: i64, maxt: i64) -> Result<BlockWriter, Error> {
        if mint >= maxt {
            return Err(Error::block_invalid(
                "create block",
                format!("empty time range [{mint}, {maxt})"),
            ));
        }
        let ulid = Ulid::new();
        let tmp_dir = parent.join(format!("{ulid}{TMP_FOR_CREATION_SUFFIX}"));
        std::fs::create_dir_all(&tmp_dir).map_err(Error::io("create block directory", &tmp_dir))?;
        let chunks = ChunkWriter::new(&tmp_dir.join("chunks"))?;
        let spool_path = tmp_dir.join(SPOOL_FILENAME);
        let spool =
            File::create(&spool_path).map_err(Error::io("create series spool", &spool_path))?;
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            ulid,
            tmp_dir,
            mint,
            maxt,
            chunks: Some(chunks),
            spool: Some(BufWriter::with_capacity(1 << 20, spool)),
            spool_path,
            symbols: BTreeSet::new(),
            last: Labels::empty(),
            stats: BlockStats::default(),
            compaction: None,
            buf: Vec::new(),
            smallest_xor: false,
            done: false,
        })
    }

    /// The ULID the block will get.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// Writes `compaction` (level, sources, parents of a compacted block) into `meta.json` instead of the
    /// level-1 section whose only source is the block itself.
    pub fn set_compaction(&mut self, compaction: Compaction) {
        self.compaction = Some(compaction);
    }

    /// Re-encodes every XOR chunk added from now on with the cheapest value windows [`recode_xor`] finds: the
    /// same samples in fewer bytes, readable by any Prometheus. Off by default, so that a block written from
    /// given samples has exactly the bytes Prometheus would write.
    pub fn set_smallest_xor_chunks(&mut self, on: bool) {
        self.smallest_xor = on;
    }

    /// Series added so far (those with chunks).
    pub fn num_series(&self) -> u64 {
        self.stats.num_series
    }

    /// Adds a series with its chunks, in time order and inside the block's range. A series without chunks is
    /// skipped, as Prometheus's compactor does.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[Chunk]) -> Result<(), Error> {
        if *labels <= self.last {
            return Err(Error::block_invalid(
                OP_ADD,
                format!("out-of-order series added with label set {labels}"),
            ));
        }
        let mut prev_max = i64::MIN;
        for (i, c) in chunks.iter().enumerate() {
            if c.min_time > c.max_time
                || c.min_time < self.mint
                || c.max_time >= self.maxt
                || (i > 0 && c.min_time <= prev_max)
            {
                return Err(Error::block_invalid(
                    OP_ADD,
                    format!(
                        "chunk [{}, {}] of {labels} is out of order or outside the block range [{}, {})",
                        c.min_time, c.max_time, self.mint, self.maxt
                    ),
                ));
            }
            prev_max = c.max_time;
        }
        self.last = labels.clone();
        if chunks.is_empty() {
            return Ok(());
        }
        let Some(writer) = self.chunks.as_mut() else {
            return Err(Error::block_invalid(OP_ADD, "writer already finished"));
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        put_uvarint(&mut buf, labels.len() as u64);
        for l in labels.iter() {
            put_uvarint_str(&mut buf, l.name);
            put_uvarint_str(&mut buf, l.value);
            for s in [l.name, l.value] {
                if !self.symbols.contains(s) {
                    self.symbols.insert(s.to_string());
                }
            }
        }
        put_uvarint(&mut buf, chunks.len() as u64);
        for c in chunks {
            let recoded = (self.smallest_xor && c.encoding == ChunkEncoding::Xor)
                .then(|| recode_xor(&c.data))
                .flatten();
            let chunk_ref =
                writer.write_chunk(c.encoding, recoded.as_deref().unwrap_or(&c.data))?;
            put_varint(&mut buf, c.min_time);
            put_varint(&mut buf, c.max_time);
            put_uvarint(&mut buf, chunk_ref);
            self.stats.num_chunks += 1;
            self.stats.num_samples += c.num_samples();
        }
        self.stats.num_series += 1;
        let Some(spool) = self.spool.as_mut() else {
            return Err(Error::block_invalid(OP_ADD, "writer already finished"));
        };
        spool
            .write_all(&(buf.len() as u32).to_be_bytes())
            .and_then(|()| spool.write_all(&buf))
            .map_err(Error::io("write series spool", &self.spool_path))?;
        self.buf = buf;
        Ok(())
    }

    /// Writes the index, tombstones and `meta.json`, syncs everything and renames the directory to the block's
    /// ULID. Returns the ULID.
    pub fn finish(mut self) -> Result<Ulid, Error> {
        if let Some(chunks) = self.chunks.take() {
            chunks.close()?;
        }
        let spool = self
            .spool
            .take()
            .ok_or_else(|| Error::block_invalid("finish block", "writer already finished"))?;
        let spool = spool
            .into_inner()
            .map_err(|e| Error::io("write series spool", &self.spool_path)(e.into_error()))?;
        drop(spool);

        let symbols = std::mem::take(&mut self.symbols);
        let mut index = IndexWriter::new(&self.tmp_dir.join("index"), symbols)?;
        let f = File::open(&self.spool_path)
            .map_err(Error::io("open series spool", &self.spool_path))?;
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut len = [0u8; 4];
        let mut rec = Vec::new();
        let mut metas = Vec::new();
        for _ in 0..self.stats.num_series {
            r.read_exact(&mut len).map_err(Error::io("read series spool", &self.spool_path))?;
            rec.resize(u32::from_be_bytes(len) as usize, 0);
            r.read_exact(&mut rec).map_err(Error::io("read series spool", &self.spool_path))?;
            let labels = decode_spooled(&rec, &mut metas)
                .map_err(|e| Error::corrupt(&self.spool_path, e))?;
            index.add_series(&labels, &metas)?;
        }
        drop(r);
        index.finish()?;
        std::fs::remove_file(&self.spool_path)
            .map_err(Error::io("remove series spool", &self.spool_path))?;

        Tombstones::new().write(&self.tmp_dir)?;
        let meta = match self.compaction.take() {
            Some(compaction) => BlockMeta {
                ulid: self.ulid,
                min_time: self.mint,
                max_time: self.maxt,
                stats: self.stats,
                compaction,
                version: META_VERSION,
            },
            None => BlockMeta::new_level1(self.ulid, self.mint, self.maxt, self.stats),
        };
        meta.write(&self.tmp_dir)?;
        sync_dir(&self.tmp_dir)?;
        let dir = self.parent.join(self.ulid.to_string());
        std::fs::rename(&self.tmp_dir, &dir).map_err(Error::io("rename block directory", &dir))?;
        sync_dir(&self.parent)?;
        self.done = true;
        Ok(self.ulid)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            // An abandoned block leaves nothing behind; a failure here leaves a `.tmp-for-creation` directory,
            // which Prometheus removes on open.
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

fn decode_spooled(rec: &[u8], metas: &mut Vec<ChunkMeta>) -> Result<Labels, &'static str> {
    let mut d = Dec::new(rec);
    let n = d.uvarint()?;
    let mut pairs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        pairs.push((d.uvarint_str()?, d.uvarint_str()?));
    }
    let labels = Labels::from_sorted(pairs.iter().map(|&(name, value)| Label { name, value }));
    metas.clear();
    for _ in 0..d.uvarint()? {
        metas.push(ChunkMeta {
            min_time: d.varint()?,
            max_time: d.varint()?,
            chunk_ref: d.uvarint()?,
        });
    }
    Ok(labels)
}

/// The end of the chunk range holding `t`, as Prometheus's `rangeForTimestamp`.
fn range_for_timestamp(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

/// Prometheus's `computeChunkEndTime`: once a chunk is a quarter full, the end time that spreads the rest of the
/// range evenly over chunks of about 120 samples.
fn compute_chunk_end_time(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) / ((cur - start + 1) * 4);
    if n <= 1 { max } else { start + (max - start) / n }
}

/// Cuts time-sorted float samples into XOR chunks the way Prometheus 2.42's head does: a new chunk at each
/// `chunk_range` boundary, at the end time predicted once a chunk holds 30 samples (aiming at 120 per chunk), and
/// at the latest after 240 samples. Samples with a timestamp not after the previous one are dropped.
pub fn cut_xor_chunks(samples: &[(i64, f64)], chunk_range: i64) -> Vec<Chunk> {
    let chunk_range = chunk_range.max(1);
    let quarter = SAMPLES_PER_CHUNK / 4;
    let mut out = Vec::new();
    let mut cur: Option<(XorAppender, i64, i64)> = None;
    let mut next_at = i64::MIN;
    let finish = |(app, min_time, max_time): (XorAppender, i64, i64)| Chunk {
        encoding: ChunkEncoding::Xor,
        min_time,
        max_time,
        data: app.bytes().to_vec(),
    };
    for &(t, v) in samples {
        if let Some((app, min_time, max_time)) = cur.as_ref() {
            if t <= *max_time {
                continue;
            }
            let n = app.count();
            if n == quarter {
                next_at = compute_chunk_end_time(*min_time, *max_time, next_at);
            }
            if t >= next_at || n >= SAMPLES_PER_CHUNK * 2 {
                out.extend(cur.take().map(finish));
            }
        }
        let (app, _, max_time) = cur.get_or_insert_with(|| {
            next_at = range_for_timestamp(t, chunk_range);
            (XorAppender::new(), t, t)
        });
        app.append(t, v);
        *max_time = t;
    }
    out.extend(cur.map(finish));
    out
}

/// Writes a block holding `series` (series and samples in any order) into `parent`, cutting XOR
/// chunks as Prometheus does with its default 2h chunk range; of samples sharing a timestamp the first is kept. The block covers `[first sample, last sample + 1)`,
/// as `promtool tsdb create-blocks-from` makes it. Holds all series in memory to sort them.
pub fn write_block_from_samples(
    parent: &Path,
    series: impl IntoIterator<Item = FloatSeries>,
) -> Result<Ulid, Error> {
    let mut series: Vec<FloatSeries> =
        series.into_iter().filter(|(l, s)| !l.is_empty() && !s.is_empty()).collect();
    for (_, samples) in &mut series {
        samples.sort_by_key(|s| s.0);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    if series.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::block_invalid("write block", "duplicate series"));
    }
    let mint = series.iter().filter_map(|(_, s)| s.first().map(|x| x.0)).min();
    let maxt = series.iter().filter_map(|(_, s)| s.iter().map(|x| x.0).max()).max();
    let (Some(mint), Some(maxt)) = (mint, maxt) else {
        return Err(Error::block_invalid("write block", "no samples"));
    };
    let mut w = BlockWriter::new(parent, mint, maxt.saturating_add(1))?;
    for (labels, samples) in &series {
        w.add_series(labels, &cut_xor_chunks(samples, DEFAULT_BLOCK_DURATION))?;
    }
    w.finish()
}

/// Prometheus's `computeChunkEndTime` for histogram chunks: the chunk is `1/ratio_to_full` of its target size,
/// so spread the rest of the range over equally sized chunks.
fn histogram_chunk_end_time(start: i64, cur: i64, max: i64, ratio_to_full: f64) -> i64 {
    let n = (max - start) as f64 / ((cur - start + 1) as f64 * ratio_to_full);
    if n <= 1.0 { max } else { (start as f64 + (max - start) as f64 / n.floor()) as i64 }
}

/// The two histogram appenders, for [`cut_histogram_run`].
trait HistogramChunkAppender<H>: Sized {
    const ENCODING: ChunkEncoding;
    fn start_after(prev: Option<&Self>, t: i64, h: &H) -> Result<Self, Error>;
    fn append(&mut self, t: i64, h: &H) -> Result<HistogramAppend<Self>, Error>;
    fn count(&self) -> u16;
    fn bytes(&self) -> &[u8];
}

impl HistogramChunkAppender<Histogram> for HistogramAppender {
    const ENCODING: ChunkEncoding = ChunkEncoding::Histogram;
    fn start_after(prev: Option<&Self>, t: i64, h: &Histogram) -> Result<Self, Error> {
        HistogramAppender::start_after(prev, t, h)
    }
    fn append(&mut self, t: i64, h: &Histogram) -> Result<HistogramAppend<Self>, Error> {
        HistogramAppender::append(self, t, h)
    }
    fn count(&self) -> u16 {
        HistogramAppender::count(self)
    }
    fn bytes(&self) -> &[u8] {
        HistogramAppender::bytes(self)
    }
}

impl HistogramChunkAppender<FloatHistogram> for FloatHistogramAppender {
    const ENCODING: ChunkEncoding = ChunkEncoding::FloatHistogram;
    fn start_after(prev: Option<&Self>, t: i64, h: &FloatHistogram) -> Result<Self, Error> {
        FloatHistogramAppender::start_after(prev, t, h)
    }
    fn append(&mut self, t: i64, h: &FloatHistogram) -> Result<HistogramAppend<Self>, Error> {
        FloatHistogramAppender::append(self, t, h)
    }
    fn count(&self) -> u16 {
        FloatHistogramAppender::count(self)
    }
    fn bytes(&self) -> &[u8] {
        FloatHistogramAppender::bytes(self)
    }
}

/// Cuts histogram samples into chunks the way Prometheus's head does (`histogramsAppendPreprocessor`): a new
/// chunk at each `chunk_range` boundary; once a chunk reaches a quarter of the 1024-byte target, an end time
/// predicted to spread the range evenly; at the latest at twice the target size; but never before 10 samples
/// unless the range ends. A chunk cut this way records whether its first sample continues the previous chunk.
/// The appender also cuts (counter resets, layout changes) and recodes (new buckets) as Prometheus's does.
fn cut_histogram_run<H, A: HistogramChunkAppender<H>>(
    samples: &[(i64, H)],
    chunk_range: i64,
) -> Result<Vec<Chunk>, Error> {
    let chunk_range = chunk_range.max(1);
    let target = TARGET_BYTES_PER_HISTOGRAM_CHUNK;
    let mut out = Vec::new();
    let finish = |a: &A, min_time: i64, max_time: i64| Chunk {
        encoding: A::ENCODING,
        min_time,
        max_time,
        data: a.bytes().to_vec(),
    };
    let mut cur: Option<(A, i64, i64)> = None;
    let (mut next_at, mut computed) = (i64::MIN, false);
    for (t, h) in samples {
        let t = *t;
        let Some((app, min_time, max_time)) = cur.as_mut() else {
            cur = Some((A::start_after(None, t, h)?, t, t));
            (next_at, computed) = (range_for_timestamp(t, chunk_range), false);
            continue;
        };
        if t <= *max_time {
            continue;
        }
        let (n, bytes) = (app.count(), app.bytes().len());
        let range_start =
            if computed { range_for_timestamp(*min_time, chunk_range) } else { next_at };
        if !computed && bytes >= target / 4 {
            next_at = histogram_chunk_end_time(
                *min_time,
                *max_time,
                next_at,
                target as f64 / bytes as f64,
            );
            computed = true;
        }
        if (t >= next_at || bytes >= target * 2)
            && (n >= MIN_SAMPLES_PER_HISTOGRAM_CHUNK || t >= range_start)
        {
            let next = A::start_after(Some(&*app), t, h)?;
            out.push(finish(app, *min_time, *max_time));
            cur = Some((next, t, t));
            (next_at, computed) = (range_for_timestamp(t, chunk_range), false);
            continue;
        }
        match app.append(t, h)? {
            HistogramAppend::Appended { .. } => *max_time = t,
            HistogramAppend::NewChunk(next) => {
                out.push(finish(app, *min_time, *max_time));
                cur = Some((next, t, t));
                next_at = range_for_timestamp(t, chunk_range);
            }
        }
    }
    out.extend(cur.map(|(a, min_time, max_time)| finish(&a, min_time, max_time)));
    Ok(out)
}

/// Cuts time-sorted integer histogram samples into histogram chunks as Prometheus's head does (see
/// [`cut_float_histogram_chunks`] for the float ones): by time range, by size (1024-byte target, at least 10
/// samples) and wherever the appender needs a new chunk (counter reset, schema change, gauge/counter switch).
/// Samples with a timestamp not after the previous one are dropped. Fails for a histogram that cannot be encoded.
pub fn cut_histogram_chunks(
    samples: &[(i64, Histogram)],
    chunk_range: i64,
) -> Result<Vec<Chunk>, Error> {
    cut_histogram_run::<Histogram, HistogramAppender>(samples, chunk_range)
}

/// [`cut_histogram_chunks`] for float histograms.
pub fn cut_float_histogram_chunks(
    samples: &[(i64, FloatHistogram)],
    chunk_range: i64,
) -> Result<Vec<Chunk>, Error> {
    cut_histogram_run::<FloatHistogram, FloatHistogramAppender>(samples, chunk_range)
}

/// Cuts time-sorted samples of any kind: each run of one kind (floats, histograms, float histograms) gets its
/// own chunks, as Prometheus's head cuts a chunk whenever the encoding changes.
pub fn cut_chunks(samples: &[(i64, Value)], chunk_range: i64) -> Result<Vec<Chunk>, Error> {
    let mut out = Vec::new();
    let mut rest = samples;
    while let Some((_, first)) = rest.first() {
        let kind = std::mem::discriminant(first);
        let len =
            rest.iter().position(|(_, v)| std::mem::discriminant(v) != kind).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(len);
        rest = tail;
        match first {
            Value::Float(_) => {
                let floats: Vec<(i64, f64)> = run
                    .iter()
                    .filter_map(
                        |(t, v)| if let Value::Float(f) = v { Some((*t, *f)) } else { None },
                    )
                    .collect();
                out.extend(cut_xor_chunks(&floats, chunk_range));
            }
            Value::Histogram(_) => {
                let hs: Vec<(i64, Histogram)> = run
                    .iter()
                    .filter_map(|(t, v)| match v {
                        Value::Histogram(h) => Some((*t, (**h).clone())),
                        _ => None,
                    })
                    .collect();
                out.extend(cut_histogram_chunks(&hs, chunk_range)?);
            }
            Value::FloatHistogram(_) => {
                let hs: Vec<(i64, FloatHistogram)> = run
                    .iter()
                    .filter_map(|(t, v)| match v {
                        Value::FloatHistogram(h) => Some((*t, (**h).clone())),
                        _ => None,
                    })
                    .collect();
                out.extend(cut_float_histogram_chunks(&hs, chunk_range)?);
            }
        }
    }
    // A run's first sample may share the previous run's last timestamp: keep the earlier chunk's.
    let mut kept: Vec<Chunk> = Vec::with_capacity(out.len());
    for c in out {
        if kept.last().is_some_and(|p| c.min_time <= p.max_time) {
            continue;
        }
        kept.push(c);
    }
    Ok(kept)
}

/// [`write_block_from_samples`] for series holding any kind of sample (floats, histograms, float histograms):
/// samples are sorted by time, of samples sharing a timestamp the first is kept, and chunks are cut with
/// [`cut_chunks`].
pub fn write_block_from_series(
    parent: &Path,
    series: impl IntoIterator<Item = ValueSeries>,
) -> Result<Ulid, Error> {
    let mut series: Vec<ValueSeries> =
        series.into_iter().filter(|(l, s)| !l.is_empty() && !s.is_empty()).collect();
    for (_, samples) in &mut series {
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    if series.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::block_invalid("write block", "duplicate series"));
    }
    let mint = series.iter().filter_map(|(_, s)| s.first().map(|x| x.0)).min();
    let maxt = series.iter().filter_map(|(_, s)| s.last().map(|x| x.0)).max();
    let (Some(mint), Some(maxt)) = (mint, maxt) else {
        return Err(Error::block_invalid("write block", "no samples"));
    };
    let mut w = BlockWriter::new(parent, mint, maxt.saturating_add(1))?;
    for (labels, samples) in &series {
        w.add_series(labels, &cut_chunks(samples, DEFAULT_BLOCK_DURATION)?)?;
    }
    w.finish()
}
