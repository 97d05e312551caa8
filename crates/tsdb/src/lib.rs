//! The storage engine. Today: the head — series with Gorilla XOR chunks in Prometheus's exact byte encoding, an
//! inverted index, Prometheus's append rules and garbage collection — made durable by the write-ahead log in
//! Prometheus's segment and record format ([`wal`]): [`Head::open`] replays it, every commit is logged before
//! it is acknowledged, head truncation checkpoints it. The data directory is guarded by [`DirLock`]. Blocks and
//! compaction plug in behind the same `storage` traits.
//!
//! **Architecture Invariant:** only this crate knows the chunk and on-disk formats.

pub mod chunkenc;
mod error;
mod head;
mod lock;
pub mod wal;

pub use error::{Corruption, CorruptionKind, Error};
pub use head::{Cardinality, Head, HeadOptions, HeadStats, WalReplayStats, WalStats};
pub use lock::DirLock;
