//! The database of a data directory: the durable head plus the persistent blocks, as Prometheus lays them out
//! (`<ULID>/` blocks, `wal/`), read through one merged querier.
//!
//! - Opening removes what interrupted writes left (`*.tmp-for-creation`, `*.tmp-for-deletion`) and blocks an
//!   interrupted compaction already replaced (listed as parents of another block), opens the blocks, then
//!   replays the WAL into the head skipping what the newest block already holds.
//! - [`Db::compact`] cuts the head into blocks once it spans more than 1.5 block ranges, as Prometheus's head
//!   compaction does: the oldest full range is written as a block, then the head and the WAL are truncated to its
//!   end (`compact.rs`). Then it merges blocks as Prometheus's leveled compactor does: overlapping blocks first
//!   (vertical compaction), then groups of blocks filling a range of `block_range × 3^n` up to
//!   `max_block_duration` (`plan.rs`), streaming one series at a time into the new block (`merge.rs`).
//! - [`Db::apply_retention`] deletes the blocks beyond `retention_ms` (measured from the newest block's end) and,
//!   oldest first, those that make blocks plus WAL exceed `retention_bytes`.
//! - Block deletion renames the block to `<ULID>.tmp-for-deletion` first, so a crash never leaves half a block
//!   that looks whole.

mod admin;
mod compact;
mod merge;
mod ooo_compact;
mod plan;

pub use compact::{BlockMerge, CompactReport};
pub use merge::{MergeStats, merge_blocks};
pub use plan::{Plan, block_ranges, default_max_block_duration};
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::{Labels, Matcher};
use parking_lot::{Mutex, RwLock};
use storage::{
    Appendable, Appender, ExemplarQueryable, MergeQuerier, Querier, Queryable, StorageError,
};

use crate::block::Block;
use crate::error::Error;
use crate::head::{Head, HeadOptions, WalReplayStats};
use crate::metrics::Histogram;
use crate::wal::WalOptions;

/// Prometheus's default block range (and head chunk range): 2 hours.
pub const DEFAULT_BLOCK_RANGE: i64 = 2 * 3600 * 1000;

/// Prometheus's default time retention: 15 days.
const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

const TMP_FOR_CREATION: &str = ".tmp-for-creation";
const TMP_FOR_DELETION: &str = ".tmp-for-deletion";

/// Settings of a [`Db`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Head settings.
    pub head: HeadOptions,
    /// WAL settings.
    pub wal: WalOptions,
    /// Range of the blocks the head is cut into (`--storage.tsdb.min-block-duration`, 2h).
    pub block_range: i64,
    /// Longest range block compaction makes (`--storage.tsdb.max-block-duration`; Prometheus's default is
    /// [`default_max_block_duration`] of the time retention). At most `block_range` disables leveled
    /// compaction; overlapping blocks are merged whatever it is.
    pub max_block_duration: i64,
    /// Time retention in ms (0 = none).
    pub retention_ms: i64,
    /// Size retention in bytes over blocks and WAL (0 = none).
    pub retention_bytes: u64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            head: HeadOptions::default(),
            wal: WalOptions::default(),
            block_range: DEFAULT_BLOCK_RANGE,
            max_block_duration: default_max_block_duration(DEFAULT_RETENTION_MS),
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: 0,
        }
    }
}

/// Counters for the `prometheus_tsdb_*` compaction, block and retention metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct DbStats {
    /// [`Db::compact`] calls (`prometheus_tsdb_compactions_triggered_total`).
    pub compactions_triggered: u64,
    /// Blocks written from the head (by compaction or for a snapshot) and block compactions, failed ones
    /// included (`prometheus_tsdb_compactions_total`).
    pub compactions: u64,
    /// Compactions that failed.
    pub compactions_failed: u64,
    /// Block compactions of overlapping blocks (`prometheus_tsdb_vertical_compactions_total`).
    pub vertical_compactions: u64,
    /// Seconds each compaction took (`prometheus_tsdb_compaction_duration_seconds`, buckets 1 s × 2^n).
    pub compaction_duration: Histogram,
    /// Whether a block is being written now (`prometheus_tsdb_compaction_populating_block`).
    pub populating_block: bool,
    /// Bytes of each chunk written from the head (`prometheus_tsdb_compaction_chunk_size_bytes`).
    pub chunk_size_bytes: Histogram,
    /// Samples of each chunk written from the head (`prometheus_tsdb_compaction_chunk_samples`).
    pub chunk_samples: Histogram,
    /// Time range of each chunk written from the head, in milliseconds as Prometheus observes it despite the
    /// metric's name (`prometheus_tsdb_compaction_chunk_range_seconds`).
    pub chunk_range: Histogram,
    /// Times the block set was re-evaluated: on open and whenever retention ran (after every [`Db::compact`]
    /// and [`Db::apply_retention`]) (`prometheus_tsdb_reloads_total`).
    pub reloads: u64,
    /// Re-evaluations that failed (a block could not be deleted).
    pub reloads_failed: u64,
    /// Retention runs that deleted blocks because of the time limit (once per run, as Prometheus counts).
    pub time_retentions: u64,
    /// Retention runs that deleted blocks because of the size limit.
    pub size_retentions: u64,
}

impl Default for DbStats {
    fn default() -> Self {
        DbStats {
            compactions_triggered: 0,
            compactions: 0,
            compactions_failed: 0,
            vertical_compactions: 0,
            compaction_duration: Histogram::exponential(1.0, 2.0, 14),
            populating_block: false,
            chunk_size_bytes: Histogram::exponential(32.0, 1.5, 12),
            chunk_samples: Histogram::exponential(4.0, 1.5, 12),
            chunk_range: Histogram::exponential(100.0, 4.0, 10),
            reloads: 0,
            reloads_failed: 0,
            time_retentions: 0,
            size_retentions: 0,
        }
    }
}

/// The database. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    head: Head,
    blocks: RwLock<Vec<Block>>,
    opts: DbOptions,
    /// Serialises compaction and retention.
    maintenance: Mutex<()>,
    stats: Mutex<DbStats>,
}

impl Db {
    /// Opens the data directory `dir` (see the module docs). The caller holds the directory lock.
    pub fn open(dir: impl AsRef<Path>, opts: DbOptions) -> Result<(Db, WalReplayStats), Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(Error::io("create data directory", &dir))?;
        remove_leftovers(&dir)?;
        let blocks = open_blocks(&dir)?;
        // As Prometheus: blocks of out-of-order data do not bound the head (their range may lie ahead of the
        // in-order data the WAL still holds).
        let min_valid = blocks
            .iter()
            .filter(|b| !b.meta().compaction.from_out_of_order())
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let (head, replay) = Head::open_from(&dir, opts.head.clone(), opts.wal, min_valid)?;
        let db = Db {
            inner: Arc::new(Inner {
                dir,
                head,
                blocks: RwLock::new(blocks),
                opts,
                maintenance: Mutex::new(()),
                // Opening loaded the block set once.
                stats: Mutex::new(DbStats { reloads: 1, ..DbStats::default() }),
            }),
        };
        Ok((db, replay))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.inner.head
    }

    /// The blocks, oldest first.
    pub fn blocks(&self) -> Vec<Block> {
        self.inner.blocks.read().clone()
    }

    /// The counters.
    pub fn stats(&self) -> DbStats {
        self.inner.stats.lock().clone()
    }

    /// The settings it was opened with.
    pub fn options(&self) -> &DbOptions {
        &self.inner.opts
    }

    /// Bytes the blocks' symbol tables take in memory.
    pub fn symbol_table_bytes(&self) -> u64 {
        self.inner.blocks.read().iter().map(|b| b.index().symbol_table_size()).sum()
    }

    /// Bytes of the blocks on disk.
    pub fn blocks_bytes(&self) -> u64 {
        self.inner.blocks.read().iter().map(Block::size).sum()
    }

    /// Lowest timestamp stored (blocks or head; `i64::MAX` when empty).
    pub fn min_time(&self) -> i64 {
        let blocks = self.inner.blocks.read().first().map_or(i64::MAX, |b| b.meta().min_time);
        blocks.min(self.inner.head.min_time())
    }

    /// Deletes the blocks that retention no longer keeps; returns how many went.
    pub fn apply_retention(&self) -> Result<usize, Error> {
        let _m = self.inner.maintenance.lock();
        self.retention_locked()
    }

    /// Applies retention, counted as a reload of the block set.
    fn retention_locked(&self) -> Result<usize, Error> {
        let res = self.apply_retention_locked();
        let mut st = self.inner.stats.lock();
        st.reloads += 1;
        if res.is_err() {
            st.reloads_failed += 1;
        }
        res
    }

    /// Prometheus's retention: the blocks newest first by end; by time, the first block (the newest never) whose
    /// end is at least the retention before the newest end goes with every block after it; by size, counting
    /// the WAL and then each block, the block that crosses the limit goes with every block after it.
    fn apply_retention_locked(&self) -> Result<usize, Error> {
        let opts = &self.inner.opts;
        let mut blocks = self.blocks();
        blocks.sort_by_key(|b| std::cmp::Reverse(b.meta().max_time));
        let Some(newest) = blocks.first().map(|b| b.meta().max_time) else {
            return Ok(0);
        };
        let mut doomed_from = blocks.len();
        let (mut by_time, mut by_size) = (false, false);
        if opts.retention_ms > 0
            && let Some(i) =
                blocks.iter().skip(1).position(|b| newest - b.meta().max_time >= opts.retention_ms)
        {
            doomed_from = i + 1;
            by_time = true;
        }
        if opts.retention_bytes > 0 {
            let head = &self.inner.head;
            let mut total = head.wal_stats().map_or(0, |w| w.storage_size_bytes)
                + head.wbl_stats().map_or(0, |w| w.storage_size_bytes)
                + head.mmap_stats().map_or(0, |m| m.storage_size_bytes);
            for (i, b) in blocks.iter().enumerate() {
                total += b.size();
                if total > opts.retention_bytes {
                    doomed_from = doomed_from.min(i);
                    by_size = true;
                    break;
                }
            }
        }
        {
            let mut st = self.inner.stats.lock();
            st.time_retentions += u64::from(by_time);
            st.size_retentions += u64::from(by_size);
        }
        for b in &blocks[doomed_from..] {
            self.delete_block(b)?;
        }
        Ok(blocks.len() - doomed_from)
    }

    /// Removes a block from the set and from disk.
    fn delete_block(&self, b: &Block) -> Result<(), Error> {
        self.inner.blocks.write().retain(|x| x.meta().ulid != b.meta().ulid);
        self.delete_block_files(b)
    }

    /// Removes a block's directory (renamed first, so a crash never leaves half a block that looks whole).
    fn delete_block_files(&self, b: &Block) -> Result<(), Error> {
        remove_block_dir(b.dir())
    }

    fn add_block(&self, b: Block) {
        let mut blocks = self.inner.blocks.write();
        blocks.push(b);
        blocks.sort_by_key(|b| b.meta().min_time);
    }
}

/// Deletes a block directory: renamed to `<ULID>.tmp-for-deletion` first, so a crash never leaves half a block
/// that looks whole.
fn remove_block_dir(dir: &Path) -> Result<(), Error> {
    let mut doomed = dir.as_os_str().to_owned();
    doomed.push(TMP_FOR_DELETION);
    let doomed = PathBuf::from(doomed);
    fs::rename(dir, &doomed).map_err(Error::io("mark block for deletion", dir))?;
    fs::remove_dir_all(&doomed).map_err(Error::io("delete block", &doomed))
}

/// Removes `*.tmp-for-creation` and `*.tmp-for-deletion` directories left by interrupted writes.
fn remove_leftovers(dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io("list data directory", dir))? {
        let entry = entry.map_err(Error::io("list data directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TMP_FOR_CREATION) || name.ends_with(TMP_FOR_DELETION) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(Error::io("remove leftover directory", &path))?;
        }
    }
    Ok(())
}

/// Opens every block directory, oldest first; deletes blocks another block lists as its parent (a compaction
/// that was interrupted after writing its result) and blocks marked deletable (a compaction whose result was
/// empty).
fn open_blocks(dir: &Path) -> Result<Vec<Block>, Error> {
    let mut blocks = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list data directory", dir))? {
        let entry = entry.map_err(Error::io("list data directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if crate::block::Ulid::parse(name).is_none() || !entry.path().join("meta.json").exists() {
            continue;
        }
        blocks.push(Block::open(&entry.path())?);
    }
    let parents: Vec<crate::block::Ulid> =
        blocks.iter().flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid)).collect();
    let mut kept = Vec::new();
    for b in blocks {
        if parents.contains(&b.meta().ulid) || b.meta().compaction.deletable {
            let path = b.dir().to_path_buf();
            drop(b);
            fs::remove_dir_all(&path).map_err(Error::io("delete replaced block", &path))?;
        } else {
            kept.push(b);
        }
    }
    kept.sort_by_key(|b| b.meta().min_time);
    Ok(kept)
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        self.inner.head.appender()
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        let mut queriers = Vec::new();
        for b in self.inner.blocks.read().iter() {
            let m = b.meta();
            if m.min_time <= maxt && m.max_time > mint {
                queriers.push(b.querier(mint, maxt)?);
            }
        }
        queriers.push(self.inner.head.querier(mint, maxt)?);
        Ok(MergeQuerier::boxed(queriers))
    }
}

impl ExemplarQueryable for Db {
    fn select_exemplars(
        &self,
        start: i64,
        end: i64,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<(Labels, Vec<model::Exemplar>)>, StorageError> {
        self.inner.head.select_exemplars(start, end, matcher_sets)
    }
}
