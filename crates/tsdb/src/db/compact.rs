//! Head compaction: the oldest block range of the head becomes a block, written one series at a time, then the
//! head and its WAL forget what the block now holds.

use std::time::Instant;

use crate::block::{Block, BlockWriter, cut_chunks, cut_xor_chunks};
use crate::error::Error;

use super::Db;

/// What one call of [`Db::compact`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactReport {
    /// Blocks written, with their time ranges `[min, max)`.
    pub blocks: Vec<(crate::block::Ulid, i64, i64)>,
}

/// The end of the block range holding `t` (Prometheus's `rangeForTimestamp`).
fn range_end(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width + width
}

impl Db {
    /// Whether the head spans more than 1.5 block ranges, so [`Db::compact`] would write a block.
    pub fn head_compactable(&self) -> bool {
        let head = &self.inner.head;
        let (mint, maxt) = (head.min_time(), head.max_time());
        mint != i64::MAX
            && maxt != i64::MIN
            && maxt - mint > self.inner.opts.block_range.max(1) / 2 * 3
    }

    /// Writes blocks while the head spans more than 1.5 block ranges (see the module docs), then applies
    /// retention.
    pub fn compact(&self) -> Result<CompactReport, Error> {
        let _m = self.inner.maintenance.lock();
        let mut report = CompactReport::default();
        let range = self.inner.opts.block_range.max(1);
        while self.head_compactable() {
            let head = &self.inner.head;
            let mint = head.min_time();
            let end = range_end(mint, range);
            let started = Instant::now();
            match self.write_head_range(&self.inner.dir.clone(), mint, end) {
                Ok(Some(block)) => {
                    let m = block.meta();
                    report.blocks.push((m.ulid, m.min_time, m.max_time));
                    self.add_block(block);
                }
                Ok(None) => {}
                Err(e) => {
                    self.inner.stats.lock().compactions_failed += 1;
                    return Err(e);
                }
            }
            {
                let mut st = self.inner.stats.lock();
                st.compactions += 1;
                st.head_truncations += 1;
                st.last_compaction_seconds = started.elapsed().as_secs_f64();
            }
            head.truncate(end);
            head.truncate_wal(end)?;
        }
        self.retention_locked()?;
        Ok(report)
    }

    /// Writes the head's samples in `[mint, maxt)` as a block in `parent`; `None` when there are none.
    pub(super) fn write_head_range(
        &self,
        parent: &std::path::Path,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Block>, Error> {
        let head = &self.inner.head;
        let range = self.inner.opts.block_range.max(1);
        let mut writer = BlockWriter::new(parent, mint, maxt)?;
        let mut any = false;
        for s in head.sorted_series() {
            let (floats, hists) = s.samples_in(mint, maxt - 1);
            let chunks = if hists.is_empty() {
                cut_xor_chunks(&floats, range)
            } else {
                // A series that changed between floats and histograms: one time-ordered run of both kinds.
                let mut all: Vec<(i64, model::Value)> =
                    floats.into_iter().map(|(t, v)| (t, model::Value::Float(v))).collect();
                all.extend(hists);
                all.sort_by_key(|(t, _)| *t);
                cut_chunks(&all, range)?
            };
            if chunks.is_empty() {
                continue;
            }
            writer.add_series(&s.labels, &chunks)?;
            any = true;
        }
        if !any {
            // Dropping the writer removes its temporary directory.
            return Ok(None);
        }
        let ulid = writer.finish()?;
        Block::open(&parent.join(ulid.to_string())).map(Some)
    }
}
