//! Writing a whole block: chunks stream into `chunks/` as series arrive, series (labels and chunk metadata) are
//! spooled to a temporary file while the symbol set grows, and [`BlockWriter::finish`] writes the index from the
//! spool, then the tombstones and `meta.json`, all inside `<ULID>.tmp-for-creation`, which is fsynced and renamed
//! to `<ULID>`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use model::{Label, Labels};

use super::chunks::{ChunkEncoding, ChunkMeta, ChunkWriter};
use super::encoding::{Dec, put_uvarint, put_uvarint_str, put_varint, sync_dir};
use super::index_writer::IndexWriter;
use super::meta::{BlockMeta, BlockStats};
use super::tombstones::Tombstones;
use super::{FloatSeries, Ulid};
use crate::chunkenc::{SAMPLES_PER_CHUNK, XorAppender};
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
    buf: Vec<u8>,
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
            buf: Vec::new(),
            done: false,
        })
    }

    /// The ULID the block will get.
    pub fn ulid(&self) -> Ulid {
        self.ulid
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
            let chunk_ref = writer.write_chunk(c.encoding, &c.data)?;
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
        BlockMeta::new_level1(self.ulid, self.mint, self.maxt, self.stats).write(&self.tmp_dir)?;
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
