//! Persistent blocks in Prometheus's on-disk format (readable by Prometheus 2.42 and later). A block is a
//! directory named by a [`Ulid`] holding:
//!
//! - `meta.json` ([`BlockMeta`]): time range `[minTime, maxTime)`, statistics, compaction history;
//! - `chunks/000001`, … ([`ChunkWriter`], [`ChunkReader`]): the encoded chunks, at most 512 MiB per segment;
//! - `index` ([`IndexWriter`], [`IndexReader`]): symbols, series with their chunks' metadata, postings, TOC;
//! - `tombstones` ([`Tombstones`]): deleted intervals per series.
//!
//! [`BlockWriter`] writes a block into `<ULID>.tmp-for-creation` and renames it into place once everything is
//! synced; [`write_block_from_samples`] cuts XOR chunks from raw samples the way Prometheus's head does, and
//! [`write_block_from_series`] also cuts native histogram chunks. [`Block`] opens a block and implements
//! `storage::Queryable`, decoding XOR, histogram and float histogram chunks.

mod chunks;
pub(crate) mod encoding;
mod index_reader;
mod index_writer;
mod meta;
mod querier;
mod tombstones;
mod ulid;
mod writer;

#[cfg(test)]
mod tests;

/// A series' labels with its float samples `(timestamp ms, value)`.
pub type FloatSeries = (model::Labels, Vec<(i64, f64)>);

/// A series' labels with samples of any kind `(timestamp ms, value)`.
pub type ValueSeries = (model::Labels, Vec<(i64, model::Value)>);

pub use chunks::{
    CHUNKS_FORMAT_V1, CHUNKS_MAGIC, ChunkEncoding, ChunkMeta, ChunkReader, ChunkRef, ChunkWriter,
    DEFAULT_SEGMENT_SIZE, RawChunk, SEGMENT_HEADER_SIZE,
};
pub use index_reader::{IndexReader, SeriesEntry};
pub use index_writer::{INDEX_FORMAT_V2, INDEX_MAGIC, INDEX_TOC_LEN, IndexWriter, Toc};
pub use meta::{
    BlockDesc, BlockMeta, BlockStats, Compaction, HINT_FROM_OUT_OF_ORDER, META_FILENAME,
    META_VERSION,
};
pub use querier::Block;
pub use tombstones::{Interval, TOMBSTONES_FILENAME, TOMBSTONES_MAGIC, Tombstones};
pub use ulid::Ulid;
pub use writer::{
    BlockWriter, Chunk, DEFAULT_BLOCK_DURATION, TMP_FOR_CREATION_SUFFIX, cut_chunks,
    cut_float_histogram_chunks, cut_histogram_chunks, cut_xor_chunks, write_block_from_samples,
    write_block_from_series,
};
