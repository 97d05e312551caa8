//! The storage engine. Today: the head — series with Gorilla XOR chunks in Prometheus's exact byte encoding, an
//! inverted index, Prometheus's append rules and garbage collection — made durable by the write-ahead log in
//! Prometheus's segment and record format ([`wal`]): [`Head::open`] replays it, every commit is logged before
//! it is acknowledged, head truncation checkpoints it. The data directory is guarded by [`DirLock`]. Persistent
//! blocks are in Prometheus's on-disk format ([`block`]: meta.json, chunk segments, index v2, tombstones; written
//! byte for byte as Prometheus 2.42 writes them and readable through the `storage` traits, native histogram chunks
//! included ([`chunkenc`]). [`Db`] reads blocks and head as one, compacts the head into blocks and merges blocks (leveled and vertical
//! compaction).
//!
//! **Architecture Invariant:** only this crate knows the chunk and on-disk formats.

pub mod block;
pub mod chunkenc;
mod db;
mod error;
mod head;
mod lock;
mod metrics;
pub mod wal;

#[cfg(test)]
mod test_peers;

pub use block::{
    Block, BlockMeta, BlockWriter, Ulid, write_block_from_samples, write_block_from_series,
};
pub use db::{
    BlockMerge, CompactReport, DEFAULT_BLOCK_RANGE, Db, DbOptions, DbStats, MergeStats, Plan,
    block_ranges, default_max_block_duration, merge_blocks,
};
pub use error::{Corruption, CorruptionKind, Error};
pub use head::{
    Cardinality, ChunkSnapshotStats, ChunksHeadOpenStats, DEFAULT_OUT_OF_ORDER_CAP_MAX, Head,
    HeadOptions, HeadStats, MmapStats, SnapshotLoadStats, WalReplayStats, WalStats, WblReplayStats,
};
pub use lock::DirLock;
pub use metrics::{DurationLog, DurationTotals, Histogram};
pub use wal::WalWriterStats;
