//! The storage engine. Today: the in-memory head — series with Gorilla XOR chunks in Prometheus's exact byte
//! encoding, an inverted index, Prometheus's append rules and garbage collection — the write-ahead log in
//! Prometheus's segment and record format ([`wal`]) and persistent blocks in Prometheus's on-disk format
//! ([`block`]: meta.json, chunk segments, index v2, tombstones; written byte for byte as Prometheus 2.42 writes
//! them and readable through the `storage` traits). Compaction and the merge of head and blocks plug in behind
//! the same traits.
//!
//! **Architecture Invariant:** only this crate knows the chunk and on-disk formats.

pub mod block;
pub mod chunkenc;
mod error;
mod head;
pub mod wal;

pub use block::{Block, BlockMeta, BlockWriter, Ulid, write_block_from_samples};
pub use error::{Corruption, CorruptionKind, Error};
pub use head::{Cardinality, Head, HeadOptions, HeadStats};
