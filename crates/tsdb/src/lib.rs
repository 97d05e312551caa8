//! The storage engine. Today: the in-memory head — series with Gorilla XOR chunks in Prometheus's exact byte
//! encoding, an inverted index, Prometheus's append rules and garbage collection. Durability (WAL, blocks,
//! compaction) plugs in behind the same `storage` traits.
//!
//! **Architecture Invariant:** only this crate knows the chunk and on-disk formats.

pub mod chunkenc;
mod head;

pub use head::{Cardinality, Head, HeadOptions, HeadStats};
