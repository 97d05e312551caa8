//! Chunk encodings in Prometheus's byte format. The XOR chunk: a big-endian 16-bit sample count, the first
//! timestamp as a zigzag varint and the first value as 8 raw bytes, the second timestamp as an unsigned varint
//! delta, then bit-packed timestamps as delta-of-deltas in 14/17/20/64-bit buckets and values XOR-ed with their
//! predecessor using Gorilla's leading/trailing-zero windows.

mod bstream;
mod xor;

pub use xor::{XorAppender, XorIterator, decode_xor};

/// Samples per chunk Prometheus aims for before cutting a new one.
pub const SAMPLES_PER_CHUNK: u16 = 120;
