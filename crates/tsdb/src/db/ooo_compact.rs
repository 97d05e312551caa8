//! Out-of-order compaction, as Prometheus's `compactOOOHead` does it: the head's out-of-order data is sealed
//! (the WBL cut at a segment boundary while commits wait), written as one block per block range it touches
//! (level 1, compaction hint `"from-out-of-order"`), one series at a time, and then dropped from the head
//! together with the WBL segments before the cut. The new blocks overlap the in-order blocks of the same range;
//! vertical compaction (`plan.rs`, `merge.rs`) merges them.
//!
//! It runs after a head compaction wrote or cut something (as in Prometheus) and on
//! [`Db::compact_ooo_head`]. A crash before the WBL is truncated replays the sealed samples again; the blocks
//! they produce the next time overlap the ones written now and are merged, one sample per timestamp.

use crate::block::{Block, BlockWriter, Compaction, HINT_FROM_OUT_OF_ORDER, Ulid, cut_xor_chunks};
use crate::error::Error;
use crate::head::OooSeal;

use super::Db;

impl Db {
    /// Compacts the head's out-of-order data into blocks now (Prometheus's `CompactOOOHead`); returns the blocks
    /// written with their ranges `[min, max)`.
    pub fn compact_ooo_head(&self) -> Result<Vec<(Ulid, i64, i64)>, Error> {
        let _m = self.inner.maintenance.lock();
        self.compact_ooo_locked()
    }

    pub(super) fn compact_ooo_locked(&self) -> Result<Vec<(Ulid, i64, i64)>, Error> {
        let head = &self.inner.head;
        let Some(seal) = head.seal_ooo()? else { return Ok(Vec::new()) };
        let range = self.inner.opts.block_range.max(1);
        let mut written: Vec<Block> = Vec::new();
        if seal.min_t <= seal.max_t {
            let mut t = seal.min_t.div_euclid(range).saturating_mul(range);
            while t <= seal.max_t {
                let end = t.saturating_add(range);
                match self.counted_compaction(|| self.write_ooo_block(&seal, t, end)) {
                    Ok(Some(b)) => written.push(b),
                    Ok(None) => {}
                    Err(e) => {
                        // The sealed data stays in the head (and the WBL) for the next attempt.
                        let dirs: Vec<_> = written.iter().map(|b| b.dir().to_path_buf()).collect();
                        drop(written);
                        for d in dirs {
                            let _ = std::fs::remove_dir_all(d);
                        }
                        return Err(e);
                    }
                }
                if end == i64::MAX {
                    break;
                }
                t = end;
            }
        }
        let out: Vec<(Ulid, i64, i64)> =
            written.iter().map(|b| (b.meta().ulid, b.meta().min_time, b.meta().max_time)).collect();
        for b in written {
            self.add_block(b);
        }
        head.finish_ooo_compaction(seal)?;
        Ok(out)
    }

    /// Writes the sealed out-of-order samples in `[mint, maxt)` as a block; `None` when there are none.
    fn write_ooo_block(
        &self,
        seal: &OooSeal,
        mint: i64,
        maxt: i64,
    ) -> Result<Option<Block>, Error> {
        let dir = &self.inner.dir;
        let range = self.inner.opts.block_range.max(1);
        let mut writer = BlockWriter::new(dir, mint, maxt)?;
        writer.set_smallest_xor_chunks(true);
        let ulid = writer.ulid();
        writer.set_compaction(Compaction {
            level: 1,
            sources: vec![ulid],
            deletable: false,
            parents: Vec::new(),
            failed: false,
            hints: vec![HINT_FROM_OUT_OF_ORDER.to_string()],
        });
        for s in &seal.series {
            let samples = s.sealed_ooo_samples(mint, maxt - 1);
            if samples.is_empty() {
                continue;
            }
            writer.add_series(&s.labels, &cut_xor_chunks(&samples, range))?;
        }
        if writer.num_series() == 0 {
            // Dropping the writer removes its temporary directory.
            return Ok(None);
        }
        let ulid = writer.finish()?;
        Block::open(&dir.join(ulid.to_string())).map(Some)
    }
}
