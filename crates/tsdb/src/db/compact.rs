//! Compaction. Head compaction: the oldest block range of the head becomes a block, written one series at a
//! time, then the head and its WAL forget what the block now holds. Block compaction: the blocks the planner
//! (`plan.rs`) picks are merged into one (`merge.rs`), which replaces them: the new block is written (temporary
//! directory, then rename) and added before the parents are deleted, so a crash in between leaves both and the
//! next [`Db::open`] deletes the parents the new block lists.

use std::time::Instant;

use crate::block::{Block, BlockWriter, Ulid, cut_chunks, cut_xor_chunks};
use crate::error::Error;

use super::Db;
use super::merge::{MergeStats, merge_blocks};
use super::plan::{Plan, block_ranges, plan};

/// What one call of [`Db::compact`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactReport {
    /// Blocks written from the head, with their time ranges `[min, max)`.
    pub blocks: Vec<(Ulid, i64, i64)>,
    /// Blocks written from the head's out-of-order data (hint `"from-out-of-order"`), with their ranges.
    pub ooo_blocks: Vec<(Ulid, i64, i64)>,
    /// Block compactions, in the order they ran.
    pub merges: Vec<BlockMerge>,
}

/// One block compaction.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMerge {
    /// The new block; `None` when no sample survived the parents' tombstones (the parents are deleted anyway).
    pub ulid: Option<Ulid>,
    /// Start of the new block's range.
    pub min_time: i64,
    /// End of the new block's range (exclusive).
    pub max_time: i64,
    /// The new block's compaction level.
    pub level: u32,
    /// The merged blocks, oldest first.
    pub parents: Vec<Ulid>,
    /// Whether the parents overlapped (vertical compaction).
    pub vertical: bool,
    /// Series and chunks written.
    pub stats: MergeStats,
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

    /// Compacts the data directory, then applies retention: writes blocks while the head spans more than 1.5
    /// block ranges (see the module docs), then merges blocks while the planner finds some to merge (the head
    /// goes first again whenever it became compactable meanwhile). Retention runs even when a compaction failed;
    /// the failure is returned after it.
    pub fn compact(&self) -> Result<CompactReport, Error> {
        let _m = self.inner.maintenance.lock();
        self.inner.stats.lock().compactions_triggered += 1;
        let mut report = CompactReport::default();
        let compacted = self.compact_locked(&mut report);
        let retained = self.retention_locked();
        compacted?;
        retained?;
        Ok(report)
    }

    fn compact_locked(&self, report: &mut CompactReport) -> Result<(), Error> {
        loop {
            if self.compact_head_locked(report)? {
                // As Prometheus: the out-of-order data follows whenever the head was compacted.
                report.ooo_blocks.extend(self.compact_ooo_locked()?);
            }
            let Some(plan) = self.plan_compaction() else { return Ok(()) };
            report.merges.push(self.merge_planned(&plan)?);
        }
    }

    /// The compaction ranges: `block_range × 3^n` up to `max_block_duration`.
    pub fn compaction_ranges(&self) -> Vec<i64> {
        block_ranges(self.inner.opts.block_range, self.inner.opts.max_block_duration)
    }

    /// The blocks the next block compaction would merge, oldest first, and whether they overlap; `None` when
    /// there is nothing to merge.
    pub fn plan_compaction(&self) -> Option<Plan> {
        let blocks = self.inner.blocks.read();
        let metas: Vec<&crate::block::BlockMeta> = blocks.iter().map(Block::meta).collect();
        plan(&metas, &self.compaction_ranges())
    }

    /// Returns whether the head was cut.
    fn compact_head_locked(&self, report: &mut CompactReport) -> Result<bool, Error> {
        let range = self.inner.opts.block_range.max(1);
        let mut cut = false;
        while self.head_compactable() {
            cut = true;
            let head = &self.inner.head;
            let mint = head.min_time();
            let end = range_end(mint, range);
            if let Some(block) = self.write_head_range(&self.inner.dir.clone(), mint, end)? {
                let m = block.meta();
                report.blocks.push((m.ulid, m.min_time, m.max_time));
                self.add_block(block);
            }
            head.truncate(end);
            head.truncate_wal(end)?;
        }
        Ok(cut)
    }

    /// Merges the planned blocks and swaps the result in (see the module docs). On failure the parents are
    /// marked as failed, so the leveled planner passes over them.
    fn merge_planned(&self, plan: &Plan) -> Result<BlockMerge, Error> {
        let parents: Vec<Block> = {
            let blocks = self.inner.blocks.read();
            plan.blocks
                .iter()
                .filter_map(|u| blocks.iter().find(|b| b.meta().ulid == *u).cloned())
                .collect()
        };
        if parents.len() != plan.blocks.len() {
            return Err(Error::block_invalid("compact blocks", "a planned block is gone"));
        }
        let result = self
            .counted_compaction(|| {
                merge_blocks(&self.inner.dir, &parents, self.inner.opts.block_range.max(1))
            })
            .and_then(|(ulid, stats)| match ulid {
                Some(u) => {
                    // A result that does not open must not replace its parents on the next open either.
                    let dir = self.inner.dir.join(u.to_string());
                    Block::open(&dir).map(|b| (Some(b), stats)).inspect_err(|_| {
                        let _ = std::fs::remove_dir_all(&dir);
                    })
                }
                None => Ok((None, stats)),
            });
        let (merged, stats) = match result {
            Ok(r) => r,
            Err(e) => {
                self.mark_failed(&parents);
                return Err(e);
            }
        };
        let (compaction, min_time, max_time) = super::merge::merged_compaction(&parents);
        let report = BlockMerge {
            ulid: merged.as_ref().map(|b| b.meta().ulid),
            min_time,
            max_time,
            level: compaction.level,
            parents: plan.blocks.clone(),
            vertical: plan.overlapping,
            stats,
        };
        match merged {
            Some(b) => {
                let mut blocks = self.inner.blocks.write();
                blocks.retain(|x| !plan.blocks.contains(&x.meta().ulid));
                blocks.push(b);
                blocks.sort_by_key(|b| b.meta().min_time);
            }
            None => {
                // Nothing survived: mark the parents deletable, so an interrupted deletion finishes on open.
                for p in &parents {
                    let mut meta = p.meta().clone();
                    meta.compaction.deletable = true;
                    meta.write(p.dir())?;
                }
                self.inner.blocks.write().retain(|x| !plan.blocks.contains(&x.meta().ulid));
            }
        }
        for p in &parents {
            super::remove_block_dir(p.dir())?;
        }
        if plan.overlapping {
            self.inner.stats.lock().vertical_compactions += 1;
        }
        Ok(report)
    }

    /// Records in the parents' `meta.json` that compacting them failed and reopens them with it; best effort
    /// (the compaction's own error is what the caller reports).
    fn mark_failed(&self, parents: &[Block]) {
        for p in parents {
            let mut meta = p.meta().clone();
            meta.compaction.failed = true;
            if meta.write(p.dir()).is_err() {
                continue;
            }
            if let Ok(reopened) = Block::open(p.dir()) {
                let mut blocks = self.inner.blocks.write();
                for b in blocks.iter_mut() {
                    if b.meta().ulid == meta.ulid {
                        *b = reopened.clone();
                    }
                }
            }
        }
    }

    /// Runs one block write as a compaction for the metrics: the populating flag while it runs, then its
    /// count, duration and failure (Prometheus counts a compactor run whatever its outcome).
    pub(super) fn counted_compaction<T>(
        &self,
        write: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.inner.stats.lock().populating_block = true;
        let started = Instant::now();
        let res = write();
        let mut st = self.inner.stats.lock();
        st.populating_block = false;
        st.compactions += 1;
        st.compaction_duration.observe(started.elapsed().as_secs_f64());
        if res.is_err() {
            st.compactions_failed += 1;
        }
        res
    }

    /// Writes the head's samples in `[mint, maxt)` as a block in `parent`; `None` when there are none. Counted as
    /// a compaction, its chunks observed as first-compaction chunks (as Prometheus's level-1 compactions are,
    /// snapshots included).
    pub(super) fn write_head_range(
        &self,
        parent: &std::path::Path,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Block>, Error> {
        self.counted_compaction(|| self.write_head_block(parent, mint, maxt))
    }

    fn write_head_block(
        &self,
        parent: &std::path::Path,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Block>, Error> {
        let head = &self.inner.head;
        let range = self.inner.opts.block_range.max(1);
        let mut writer = BlockWriter::new(parent, mint, maxt)?;
        writer.set_smallest_xor_chunks(true);
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
            {
                let mut st = self.inner.stats.lock();
                for c in &chunks {
                    let samples = c.data.get(..2).map_or(0, |n| u16::from_be_bytes([n[0], n[1]]));
                    st.chunk_size_bytes.observe(c.data.len() as f64);
                    st.chunk_samples.observe(f64::from(samples));
                    st.chunk_range.observe((c.max_time - c.min_time) as f64);
                }
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
