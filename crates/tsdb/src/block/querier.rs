//! Reading a block through the `storage` traits: [`Block`] opens the four parts of a block directory and hands out
//! queriers that select series with the index's postings (intersecting the lists of matchers that need a label,
//! subtracting those of matchers that also match an absent label) and decode chunks only when a cursor asks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{Labels, Matcher, Timestamp, Value};
use storage::{
    CursorSource, LabelHints, Querier, Queryable, SampleBatch, SampleCursor, SelectHints, Series,
    SeriesSet, StorageError, ValueKind, Warnings,
};

use super::FloatSeries;
use super::chunks::{ChunkEncoding, ChunkMeta, ChunkReader};
use super::index_reader::IndexReader;
use super::meta::{BlockMeta, META_FILENAME};
use super::tombstones::{Interval, Tombstones};
use crate::chunkenc::{XorIterator, decode_float_histogram, decode_histogram};
use crate::error::Error;

/// An opened, immutable block. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Block {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    meta: BlockMeta,
    meta_size: u64,
    index: IndexReader,
    chunks: ChunkReader,
    tombstones: Tombstones,
}

impl Block {
    /// Opens the block in `dir`: `meta.json`, `index`, `chunks/` and the (optional) `tombstones`.
    pub fn open(dir: &Path) -> Result<Block, Error> {
        let meta = BlockMeta::read(dir)?;
        let meta_path = dir.join(META_FILENAME);
        let meta_size =
            std::fs::metadata(&meta_path).map_err(Error::io("stat block meta", &meta_path))?.len();
        let index = IndexReader::open(&dir.join("index"))?;
        let chunks = ChunkReader::open(&dir.join("chunks"))?;
        let tombstones = Tombstones::read(dir)?;
        Ok(Block {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                meta,
                meta_size,
                index,
                chunks,
                tombstones,
            }),
        })
    }

    /// The block's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    /// The index.
    pub fn index(&self) -> &IndexReader {
        &self.inner.index
    }

    /// The chunk segments.
    pub fn chunks(&self) -> &ChunkReader {
        &self.inner.chunks
    }

    /// The deleted intervals.
    pub fn tombstones(&self) -> &Tombstones {
        &self.inner.tombstones
    }

    /// Bytes on disk: index, chunks, tombstones and meta.json (the SIZE `promtool tsdb list` prints).
    pub fn size(&self) -> u64 {
        let tombstones =
            std::fs::metadata(self.inner.dir.join(super::tombstones::TOMBSTONES_FILENAME))
                .map_or(0, |m| m.len());
        self.inner.index.size() + self.inner.chunks.size() + tombstones + self.inner.meta_size
    }

    /// Marks the samples in `[mint, maxt]` of the series matching `matchers` as deleted: writes the new
    /// `tombstones` file and `meta.json` (both atomically) and returns the reopened block, or `None` when no
    /// series of the block has data there.
    pub fn delete(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Option<Block>, Error> {
        let m = &self.inner.meta;
        if m.min_time > maxt || m.max_time <= mint {
            return Ok(None);
        }
        let mut stones = self.inner.tombstones.clone();
        let mut any = false;
        for r in self.inner.postings_for_matchers(matchers)? {
            let entry = self.inner.index.series(r)?;
            if entry.chunks.iter().any(|c| c.max_time >= mint && c.min_time <= maxt) {
                stones.add(u64::from(r), Interval { mint, maxt });
                any = true;
            }
        }
        if !any {
            return Ok(None);
        }
        let dir = &self.inner.dir;
        stones.write(dir)?;
        let mut meta = m.clone();
        meta.stats.num_tombstones = stones.num_intervals();
        meta.write(dir)?;
        Block::open(dir).map(Some)
    }

    /// Calls `f` with every series and its samples of every kind (tombstones applied), in label order, one series
    /// at a time.
    pub fn for_each_series(
        &self,
        mut f: impl FnMut(&Labels, Vec<(i64, Value)>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for r in self.inner.index.all_postings()? {
            let entry = self.inner.index.series(r)?;
            let deleted = self.inner.tombstones.get(u64::from(r));
            let mut samples = Vec::new();
            for c in &entry.chunks {
                samples.extend(
                    self.inner
                        .decode_chunk(c)?
                        .into_iter()
                        .filter(|(t, _)| !deleted.iter().any(|iv| iv.contains(*t))),
                );
            }
            f(&entry.labels, samples)?;
        }
        Ok(())
    }

    /// Decodes one of the block's chunks (any encoding) after checking its checksum.
    pub fn decode_chunk(&self, c: &ChunkMeta) -> Result<Vec<(i64, Value)>, Error> {
        self.inner.decode_chunk(c)
    }

    /// Every series with its float samples (tombstones applied), in label order. Reads the whole block.
    pub fn read_all(&self) -> Result<Vec<FloatSeries>, Error> {
        let mut out = Vec::new();
        for r in self.inner.index.all_postings()? {
            let entry = self.inner.index.series(r)?;
            let deleted = self.inner.tombstones.get(u64::from(r));
            let mut samples = Vec::new();
            for c in &entry.chunks {
                for (t, v) in self.inner.decode_chunk(c)? {
                    if let Value::Float(v) = v
                        && !deleted.iter().any(|iv| iv.contains(t))
                    {
                        samples.push((t, v));
                    }
                }
            }
            out.push((entry.labels, samples));
        }
        Ok(out)
    }
}

impl Inner {
    /// Decodes one chunk (XOR, histogram or float histogram) after checking its checksum.
    fn decode_chunk(&self, c: &ChunkMeta) -> Result<Vec<(i64, Value)>, Error> {
        let raw = self.chunks.chunk_verified(c.chunk_ref)?;
        let corrupt = |reason: String| {
            Error::corrupt(self.dir.join("chunks"), format!("chunk {:#x}: {reason}", c.chunk_ref))
        };
        match ChunkEncoding::from_u8(raw.encoding) {
            Some(ChunkEncoding::Xor) => {
                let want = match raw.data {
                    [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                    _ => return Err(corrupt("XOR chunk shorter than its header".to_string())),
                };
                let samples: Vec<(i64, Value)> =
                    XorIterator::new(raw.data).map(|(t, v)| (t, Value::Float(v))).collect();
                if samples.len() != want {
                    return Err(corrupt(format!(
                        "XOR chunk decodes {} of its {want} samples",
                        samples.len()
                    )));
                }
                Ok(samples)
            }
            Some(ChunkEncoding::Histogram) => decode_histogram(raw.data)
                .map(|v| v.into_iter().map(|(t, h)| (t, Value::Histogram(Arc::new(h)))).collect())
                .map_err(|e| corrupt(e.to_string())),
            Some(ChunkEncoding::FloatHistogram) => decode_float_histogram(raw.data)
                .map(|v| {
                    v.into_iter().map(|(t, h)| (t, Value::FloatHistogram(Arc::new(h)))).collect()
                })
                .map_err(|e| corrupt(e.to_string())),
            _ => Err(corrupt(format!("unsupported chunk encoding {}", raw.encoding))),
        }
    }

    /// Appends the samples of chunk `c` for which `keep` holds (all of them when `whole`) to `out`: floats straight
    /// from the XOR stream, histograms as float histograms.
    fn read_chunk_into(
        &self,
        c: &ChunkMeta,
        whole: bool,
        keep: impl Fn(i64) -> bool,
        out: &mut SampleBatch,
    ) -> Result<(), Error> {
        let raw = self.chunks.chunk_verified(c.chunk_ref)?;
        if ChunkEncoding::from_u8(raw.encoding) != Some(ChunkEncoding::Xor) {
            for (t, v) in self.decode_chunk(c)? {
                if keep(t) {
                    match v {
                        Value::Float(v) => out.floats.push(model::Sample { t, v }),
                        Value::Histogram(h) => out.hists.push((t, Arc::new(h.to_float()))),
                        Value::FloatHistogram(h) => out.hists.push((t, h)),
                    }
                }
            }
            return Ok(());
        }
        let want = match raw.data {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        };
        let start = out.floats.len();
        let mut n = 0;
        if whole {
            out.floats.reserve(want);
            for (t, v) in XorIterator::new(raw.data) {
                out.floats.push(model::Sample { t, v });
            }
            n = out.floats.len() - start;
        } else {
            for (t, v) in XorIterator::new(raw.data) {
                n += 1;
                if keep(t) {
                    out.floats.push(model::Sample { t, v });
                }
            }
        }
        if n != want || raw.data.len() < 2 {
            out.floats.truncate(start);
            return Err(Error::corrupt(
                self.dir.join("chunks"),
                format!("chunk {:#x}: XOR chunk decodes {n} of its {want} samples", c.chunk_ref),
            ));
        }
        Ok(())
    }

    /// Sorted references of the series matching every matcher.
    fn postings_for_matchers(&self, matchers: &[Matcher]) -> Result<Vec<u32>, Error> {
        let ix = &self.index;
        let mut result: Option<Vec<u32>> = None;
        let mut remove: Vec<Vec<u32>> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                // Also matches series without the label: drop those whose value does not match instead.
                remove.push(self.union_where(&m.name, |v| !m.matches(v))?);
                continue;
            }
            let list = match m.match_type {
                model::MatchType::Equal => ix.postings(&m.name, &m.value)?,
                _ => match m.set_matches() {
                    Some(set) => {
                        let mut lists = Vec::with_capacity(set.len());
                        for v in set {
                            lists.push(ix.postings(&m.name, v)?);
                        }
                        merge(lists)
                    }
                    None => self.union_where(&m.name, |v| m.matches(v))?,
                },
            };
            result = Some(match result {
                None => list,
                Some(cur) => intersect(&cur, &list),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
        }
        let mut result = match result {
            Some(r) => r,
            None => ix.all_postings()?,
        };
        for r in remove {
            result = subtract(&result, &r);
        }
        Ok(result)
    }

    /// The union of the postings of every value of `name` satisfying `keep`.
    fn union_where(&self, name: &str, keep: impl Fn(&str) -> bool) -> Result<Vec<u32>, Error> {
        let mut lists = Vec::new();
        for (value, off) in self.index.label_value_offsets(name) {
            if keep(value) {
                lists.push(self.index.postings_at(*off)?);
            }
        }
        Ok(merge(lists))
    }
}

/// Sorted, deduplicated union of sorted lists.
fn merge(lists: Vec<Vec<u32>>) -> Vec<u32> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out: Vec<u32> = lists.into_iter().flatten().collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter().copied().filter(|x| b.binary_search(x).is_err()).collect()
}

fn storage_error(e: Error) -> StorageError {
    match e {
        Error::BlockCorruption { .. } => StorageError::Corruption(e.to_string()),
        Error::Io { op, path, source } => StorageError::Io {
            context: format!("{op} {}", path.display()),
            message: source.to_string(),
        },
        other => StorageError::Other(other.to_string()),
    }
}

impl Queryable for Block {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(BlockQuerier { block: self.inner.clone(), mint, maxt }))
    }
}

/// A querier over `[mint, maxt]` of one block.
struct BlockQuerier {
    block: Arc<Inner>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    /// References of the series `matchers` select; none unless some matcher needs a non-empty value.
    fn selected(&self, matchers: &[Matcher]) -> Result<Vec<u32>, Error> {
        if matchers.iter().all(Matcher::matches_empty) {
            return Ok(Vec::new());
        }
        self.block.postings_for_matchers(matchers)
    }

    /// Label sets of the series matching `matchers` (no time filtering, as Prometheus's block querier).
    fn matching_labels(&self, matchers: &[Matcher]) -> Result<Vec<Labels>, Error> {
        let refs = self.selected(matchers)?;
        refs.into_iter().map(|r| self.block.index.series(r).map(|s| s.labels)).collect()
    }
}

impl Querier for BlockQuerier {
    /// Series are stored in label order, so the result is always sorted. As the `storage` contract says (and
    /// unlike Prometheus's block querier, which starts from all series), a selection whose every matcher matches
    /// the empty string is empty, so head and blocks agree.
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        let limit = hints.map_or(0, |h| h.limit);
        let (refs, err) = match self.selected(matchers) {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(storage_error(e))),
        };
        Box::new(BlockSeriesSet {
            block: self.block.clone(),
            refs: refs.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
            left: if limit > 0 { limit } else { usize::MAX },
            err,
        })
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let vals = if matchers.is_empty() {
            storage::sorted_limited(self.block.index.label_values(name), hints.limit)
        } else {
            let sets = self.matching_labels(matchers).map_err(storage_error)?;
            storage::distinct_values(&sets, name, hints.limit)
        };
        Ok((vals, Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let names = if matchers.is_empty() {
            storage::sorted_limited(self.block.index.label_names(), hints.limit)
        } else {
            let sets = self.matching_labels(matchers).map_err(storage_error)?;
            storage::distinct_names(&sets, hints.limit)
        };
        Ok((names, Vec::new()))
    }
}

/// Reads each series' index entry only when the caller gets to it.
struct BlockSeriesSet {
    block: Arc<Inner>,
    refs: std::vec::IntoIter<u32>,
    mint: i64,
    maxt: i64,
    left: usize,
    err: Option<StorageError>,
}

impl SeriesSet for BlockSeriesSet {
    fn next(&mut self) -> Option<Series> {
        if self.left == 0 || self.err.is_some() {
            return None;
        }
        for r in self.refs.by_ref() {
            let entry = match self.block.index.series(r) {
                Ok(e) => e,
                Err(e) => {
                    self.err = Some(storage_error(e));
                    return None;
                }
            };
            let deleted = self.block.tombstones.get(u64::from(r)).to_vec();
            let chunks: Vec<ChunkMeta> = entry
                .chunks
                .into_iter()
                .filter(|c| c.max_time >= self.mint && c.min_time <= self.maxt)
                .filter(|c| {
                    !deleted.iter().any(|iv| iv.mint <= c.min_time && c.max_time <= iv.maxt)
                })
                .collect();
            if chunks.is_empty() {
                continue;
            }
            self.left -= 1;
            let source = Source {
                block: self.block.clone(),
                chunks,
                deleted,
                mint: self.mint,
                maxt: self.maxt,
            };
            return Some(Series::new(entry.labels, Arc::new(source)));
        }
        None
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }
}

struct Source {
    block: Arc<Inner>,
    chunks: Vec<ChunkMeta>,
    deleted: Vec<Interval>,
    mint: i64,
    maxt: i64,
}

impl CursorSource for Source {
    fn cursor(&self) -> Box<dyn SampleCursor> {
        Box::new(BlockCursor {
            block: self.block.clone(),
            chunks: self.chunks.clone(),
            next_chunk: 0,
            deleted: self.deleted.clone(),
            mint: self.mint,
            maxt: self.maxt,
            buf: Vec::new(),
            pos: 0,
            started: false,
            err: None,
        })
    }
}

/// A cursor over a series' chunks in one block that decodes a chunk only when it gets there, and reads whole
/// chunks straight into a batch for [`SampleCursor::read_into`]. A chunk that fails to decode ends the iteration
/// and is reported by `err`.
struct BlockCursor {
    block: Arc<Inner>,
    chunks: Vec<ChunkMeta>,
    /// The next chunk to decode.
    next_chunk: usize,
    deleted: Vec<Interval>,
    mint: i64,
    maxt: i64,
    /// The samples of the current chunk that are in range and not deleted.
    buf: Vec<(i64, Value)>,
    pos: usize,
    started: bool,
    err: Option<StorageError>,
}

impl BlockCursor {
    fn keep(&self, t: i64) -> bool {
        t >= self.mint && t <= self.maxt && !self.deleted.iter().any(|iv| iv.contains(t))
    }

    /// Decodes chunks until one has a sample to keep; false when none is left.
    fn load_next(&mut self) -> bool {
        self.buf.clear();
        self.pos = 0;
        while self.err.is_none() && self.next_chunk < self.chunks.len() {
            let c = self.chunks[self.next_chunk];
            self.next_chunk += 1;
            match self.block.decode_chunk(&c) {
                Ok(samples) => {
                    let mut samples = samples;
                    samples.retain(|(t, _)| self.keep(*t));
                    self.buf = samples;
                    if !self.buf.is_empty() {
                        return true;
                    }
                }
                Err(e) => self.err = Some(storage_error(e)),
            }
        }
        false
    }

    fn kind(&self) -> ValueKind {
        match self.buf.get(self.pos) {
            Some((_, Value::Float(_))) => ValueKind::Float,
            Some((_, Value::Histogram(_))) => ValueKind::Histogram,
            Some((_, Value::FloatHistogram(_))) => ValueKind::FloatHistogram,
            None => ValueKind::None,
        }
    }
}

impl SampleCursor for BlockCursor {
    fn next(&mut self) -> ValueKind {
        if !self.started {
            self.started = true;
            self.load_next();
        } else if self.pos < self.buf.len() {
            self.pos += 1;
            if self.pos == self.buf.len() {
                self.load_next();
            }
        }
        self.kind()
    }

    fn seek(&mut self, t: Timestamp) -> ValueKind {
        if !self.started {
            self.started = true;
            // Chunks that end before t need no decoding.
            while self.chunks.get(self.next_chunk).is_some_and(|c| c.max_time < t) {
                self.next_chunk += 1;
            }
            self.load_next();
        }
        loop {
            while self.buf.get(self.pos).is_some_and(|(st, _)| *st < t) {
                self.pos += 1;
            }
            if self.pos < self.buf.len() {
                return self.kind();
            }
            while self.chunks.get(self.next_chunk).is_some_and(|c| c.max_time < t) {
                self.next_chunk += 1;
            }
            if !self.load_next() {
                return ValueKind::None;
            }
        }
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.buf.get(self.pos) {
            Some((t, Value::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, f64::NAN),
            None => (0, f64::NAN),
        }
    }

    fn at_histogram(&self) -> (Timestamp, Arc<model::Histogram>) {
        match self.buf.get(self.pos) {
            Some((t, Value::Histogram(h))) => (*t, h.clone()),
            Some((t, _)) => (*t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<model::FloatHistogram>) {
        match self.buf.get(self.pos) {
            Some((t, Value::FloatHistogram(h))) => (*t, h.clone()),
            Some((t, Value::Histogram(h))) => (*t, Arc::new(h.to_float())),
            Some((t, _)) => (*t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.buf.get(self.pos).map_or(0, |(t, _)| *t)
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }

    fn read_into(
        &mut self,
        mint: Timestamp,
        maxt: Timestamp,
        with_st: bool,
        out: &mut SampleBatch,
    ) {
        let (lo, hi) = (mint.max(self.mint), maxt.min(self.maxt));
        let in_range = |t: i64| t >= lo && t <= hi;
        // What is left of a chunk already decoded by stepping.
        if self.started {
            for (t, v) in self.buf.drain(self.pos.min(self.buf.len())..) {
                if !in_range(t) {
                    continue;
                }
                match v {
                    Value::Float(v) => out.floats.push(model::Sample { t, v }),
                    Value::Histogram(h) => out.hists.push((t, Arc::new(h.to_float()))),
                    Value::FloatHistogram(h) => out.hists.push((t, h)),
                }
            }
        }
        self.started = true;
        self.buf.clear();
        self.pos = 0;
        while self.err.is_none() && self.next_chunk < self.chunks.len() {
            let c = self.chunks[self.next_chunk];
            self.next_chunk += 1;
            if c.max_time < lo {
                continue;
            }
            if c.min_time > hi {
                self.next_chunk = self.chunks.len();
                break;
            }
            let whole = c.min_time >= lo && c.max_time <= hi && self.deleted.is_empty();
            let keep = |t: i64| in_range(t) && !self.deleted.iter().any(|iv| iv.contains(t));
            if let Err(e) = self.block.read_chunk_into(&c, whole, keep, out) {
                self.err = Some(storage_error(e));
            }
        }
        if with_st {
            // Blocks keep no start timestamps.
            out.float_sts.resize(out.floats.len(), 0);
            out.hist_sts.resize(out.hists.len(), 0);
        }
    }
}
