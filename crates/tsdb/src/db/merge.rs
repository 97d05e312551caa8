//! Merging blocks into one, streaming: each input's index is walked in its series order (label order, as every
//! block stores its series), the inputs advance together like a k-way merge, and each label set is written as
//! soon as every input holding it has been read. Memory holds one series entry per input, the chunks (or decoded
//! samples) of the series being merged, each input's list of series references, and what [`BlockWriter`] keeps
//! (symbols; series are spooled to disk).
//!
//! A series whose chunks do not overlap one another, lie inside the output's range and are untouched by
//! tombstones has its chunks copied byte for byte; otherwise (overlapping blocks, deletions) its samples are
//! decoded, merged by time with one sample kept per timestamp (the older block's), deleted samples dropped, and
//! re-encoded with [`cut_chunks`].

use std::path::Path;

use model::{Labels, Value};

use crate::block::{
    Block, BlockDesc, BlockWriter, Chunk, ChunkEncoding, ChunkMeta, Compaction,
    HINT_FROM_OUT_OF_ORDER, Interval, SeriesEntry, Ulid, cut_chunks,
};
use crate::error::Error;

/// The `compaction` section, and the range `[min, max)`, of the block merged from `blocks`: level one above the
/// highest parent's, the parents' sources (sorted, each once), the parents themselves.
pub(crate) fn merged_compaction(blocks: &[Block]) -> (Compaction, i64, i64) {
    let mut level = 0;
    let mut sources: Vec<Ulid> = Vec::new();
    let mut parents = Vec::with_capacity(blocks.len());
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    for b in blocks {
        let m = b.meta();
        level = level.max(m.compaction.level);
        sources.extend(m.compaction.sources.iter().copied());
        parents.push(BlockDesc { ulid: m.ulid, min_time: m.min_time, max_time: m.max_time });
        mint = mint.min(m.min_time);
        maxt = maxt.max(m.max_time);
    }
    sources.sort();
    sources.dedup();
    // As Prometheus: the result is out-of-order data only when every parent is.
    let all_ooo =
        !blocks.is_empty() && blocks.iter().all(|b| b.meta().compaction.from_out_of_order());
    let compaction = Compaction {
        level: level.saturating_add(1),
        sources,
        deletable: false,
        parents,
        failed: false,
        hints: if all_ooo { vec![HINT_FROM_OUT_OF_ORDER.to_string()] } else { Vec::new() },
    };
    (compaction, mint, maxt)
}

/// Counters of one merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Series written.
    pub series: u64,
    /// Chunks copied unchanged.
    pub chunks_copied: u64,
    /// Chunks written from re-encoded samples.
    pub chunks_reencoded: u64,
}

/// Merges `blocks` into a new block in `dir` (see the module docs). Returns its ULID, or `None` when no sample
/// survives (nothing is written then).
pub fn merge_blocks(
    dir: &Path,
    blocks: &[Block],
    chunk_range: i64,
) -> Result<(Option<Ulid>, MergeStats), Error> {
    let (compaction, mint, maxt) = merged_compaction(blocks);
    let mut writer = BlockWriter::new(dir, mint, maxt)?;
    writer.set_smallest_xor_chunks(true);
    writer.set_compaction(compaction);
    let mut inputs = blocks.iter().map(Input::new).collect::<Result<Vec<_>, _>>()?;
    let mut stats = MergeStats::default();
    let mut group: Vec<(&Block, SeriesEntry, &[Interval])> = Vec::with_capacity(blocks.len());
    while let Some(labels) = next_labels(&inputs) {
        group.clear();
        for input in &mut inputs {
            if input.head.as_ref().is_some_and(|(_, e)| e.labels == labels) {
                let (series_ref, entry) = input.advance()?;
                let deleted = input.block.tombstones().get(u64::from(series_ref));
                group.push((input.block, entry, deleted));
            }
        }
        let chunks = merge_series(&labels, &group, mint, maxt, chunk_range, &mut stats)?;
        if !chunks.is_empty() {
            writer.add_series(&labels, &chunks)?;
            stats.series += 1;
        }
    }
    if writer.num_series() == 0 {
        // Dropping the writer removes its temporary directory.
        return Ok((None, stats));
    }
    Ok((Some(writer.finish()?), stats))
}

/// The smallest label set among the inputs' next series.
fn next_labels(inputs: &[Input<'_>]) -> Option<Labels> {
    inputs.iter().filter_map(|i| i.head.as_ref().map(|(_, e)| &e.labels)).min().cloned()
}

/// One input block's walk through its series, in index order.
struct Input<'a> {
    block: &'a Block,
    refs: std::vec::IntoIter<u32>,
    /// The next series not yet merged.
    head: Option<(u32, SeriesEntry)>,
}

impl<'a> Input<'a> {
    fn new(block: &'a Block) -> Result<Input<'a>, Error> {
        let refs = block.index().all_postings()?.into_iter();
        let mut input = Input { block, refs, head: None };
        input.head = input.read_next()?;
        Ok(input)
    }

    fn read_next(&mut self) -> Result<Option<(u32, SeriesEntry)>, Error> {
        match self.refs.next() {
            Some(r) => Ok(Some((r, self.block.index().series(r)?))),
            None => Ok(None),
        }
    }

    /// Hands out the current series and reads the next, which must sort after it.
    fn advance(&mut self) -> Result<(u32, SeriesEntry), Error> {
        let next = self.read_next()?;
        let Some(cur) = std::mem::replace(&mut self.head, next) else {
            return Err(Error::block_invalid("merge blocks", "no series left to merge"));
        };
        if let Some((_, n)) = &self.head
            && n.labels <= cur.1.labels
        {
            return Err(Error::corrupt(
                self.block.dir().join("index"),
                format!("series {} does not sort after {}", n.labels, cur.1.labels),
            ));
        }
        Ok(cur)
    }
}

/// Whether a deleted interval touches `[min, max]`.
fn touched(deleted: &[Interval], min: i64, max: i64) -> bool {
    deleted.iter().any(|iv| iv.mint <= max && min <= iv.maxt)
}

/// The output chunks of one label set held by the inputs of `group`.
fn merge_series(
    labels: &Labels,
    group: &[(&Block, SeriesEntry, &[Interval])],
    mint: i64,
    maxt: i64,
    chunk_range: i64,
    stats: &mut MergeStats,
) -> Result<Vec<Chunk>, Error> {
    let mut metas: Vec<(usize, ChunkMeta)> = group
        .iter()
        .enumerate()
        .flat_map(|(i, (_, e, _))| e.chunks.iter().map(move |c| (i, *c)))
        .collect();
    metas.sort_by_key(|(i, c)| (c.min_time, c.max_time, *i));
    let copyable = metas.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time)
        && metas.iter().all(|(i, c)| {
            c.min_time >= mint
                && c.max_time < maxt
                && c.min_time <= c.max_time
                && !touched(group[*i].2, c.min_time, c.max_time)
        });
    if copyable {
        let mut out = Vec::with_capacity(metas.len());
        for (i, c) in &metas {
            let block = group[*i].0;
            let raw = block.chunks().chunk_verified(c.chunk_ref)?;
            let encoding = match ChunkEncoding::from_u8(raw.encoding) {
                Some(
                    e @ (ChunkEncoding::Xor
                    | ChunkEncoding::Histogram
                    | ChunkEncoding::FloatHistogram),
                ) => e,
                _ => {
                    return Err(Error::corrupt(
                        block.dir().join("chunks"),
                        format!(
                            "chunk {:#x} of {labels}: unsupported encoding {}",
                            c.chunk_ref, raw.encoding
                        ),
                    ));
                }
            };
            out.push(Chunk {
                encoding,
                min_time: c.min_time,
                max_time: c.max_time,
                data: raw.data.to_vec(),
            });
        }
        stats.chunks_copied += out.len() as u64;
        return Ok(out);
    }
    // Re-encode: samples of every chunk, ordered by time then by input (older blocks first).
    let mut samples: Vec<(i64, usize, Value)> = Vec::new();
    for (i, c) in &metas {
        let (block, _, deleted) = &group[*i];
        for (t, v) in block.decode_chunk(c)? {
            if t >= mint && t < maxt && !deleted.iter().any(|iv| iv.contains(t)) {
                samples.push((t, *i, v));
            }
        }
    }
    samples.sort_by_key(|(t, i, _)| (*t, *i));
    samples.dedup_by_key(|(t, _, _)| *t);
    let samples: Vec<(i64, Value)> = samples.into_iter().map(|(t, _, v)| (t, v)).collect();
    let out = cut_chunks(&samples, chunk_range)?;
    stats.chunks_reencoded += out.len() as u64;
    Ok(out)
}
