//! The storage engine. Today: the in-memory head — series with Gorilla XOR chunks in Prometheus's exact byte
//! encoding, an inverted index, Prometheus's append rules and garbage collection — and the write-ahead log in
//! Prometheus's segment and record format ([`wal`]). Blocks and compaction plug in behind the same `storage`
//! traits.
//!
//! **Architecture Invariant:** only this crate knows the chunk and on-disk formats.

pub mod chunkenc;
mod error;
mod head;
pub mod wal;

pub use error::{Corruption, CorruptionKind, Error};
pub use head::{Cardinality, Head, HeadOptions, HeadStats};
