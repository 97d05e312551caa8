//! Chunk encodings in Prometheus's byte format.
//!
//! The XOR chunk: a big-endian 16-bit sample count, the first timestamp as a zigzag varint and the first value
//! as 8 raw bytes, the second timestamp as an unsigned varint delta, then bit-packed timestamps as
//! delta-of-deltas in 14/17/20/64-bit buckets and values XOR-ed with their predecessor using Gorilla's
//! leading/trailing-zero windows.
//!
//! [`recode_xor`] rewrites an XOR chunk with cheaper window choices than Prometheus's appender makes; it decodes
//! to the same samples with any XOR decoder, and the compactor uses it for the chunks it writes into blocks.
//!
//! The native histogram chunks (integer and float): the sample count, a flags byte whose top two bits are the
//! [`CounterResetHeader`], the layout (zero threshold, schema, spans and, for schema -53, the custom bounds),
//! then per sample the timestamp and counts as varbit deltas of deltas (integer chunk) or XOR-ed floats (float
//! chunk). Appenders follow Prometheus's rules for when a sample starts a new chunk and when it recodes the chunk
//! with new buckets.

mod bstream;
mod float_histogram;
mod histogram;
mod histogram_meta;
mod varbit;
mod xor;
mod xor_recode;

pub use float_histogram::{FloatHistogramAppender, FloatHistogramIterator, decode_float_histogram};
pub use histogram::{HistogramAppend, HistogramAppender, HistogramIterator, decode_histogram};
pub use histogram_meta::CounterResetHeader;
pub use xor::{XorAppender, XorIterator, decode_xor};
pub use xor_recode::recode_xor;

/// Samples per chunk Prometheus aims for before cutting a new one.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// Prometheus's size target for a histogram chunk, in bytes.
pub const TARGET_BYTES_PER_HISTOGRAM_CHUNK: usize = 1024;

/// Prometheus's minimum sample count of a histogram chunk before a size or time cut.
pub const MIN_SAMPLES_PER_HISTOGRAM_CHUNK: u16 = 10;
