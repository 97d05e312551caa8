//! `meta.json`: the block's identity, time range, statistics and compaction history, in the exact shape Go's
//! `json.MarshalIndent(meta, "", "\t")` gives Prometheus's `BlockMeta` (field order, omitted zero counters, tab
//! indentation, no trailing newline).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Ulid;
use super::encoding::write_file_atomic;
use crate::error::Error;

/// The file name of a block's metadata.
pub const META_FILENAME: &str = "meta.json";

/// The only `version` Prometheus reads.
pub const META_VERSION: u32 = 1;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// A block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ULID (also its directory name).
    pub ulid: Ulid,
    /// Earliest sample timestamp, inclusive (ms).
    pub min_time: i64,
    /// End of the block's range, exclusive (ms): the last sample's timestamp + 1 for a block cut from data.
    pub max_time: i64,
    /// Counters over the block's contents.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction history.
    pub compaction: Compaction,
    /// Format version; always [`META_VERSION`].
    pub version: u32,
}

/// Counters over a block's contents; zero counters are omitted from the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in all chunks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Series in the index.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks in the chunk segments.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Deleted intervals in the tombstones file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A parent block of a compacted block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    /// The parent's ULID.
    pub ulid: Ulid,
    /// The parent's minimum time.
    pub min_time: i64,
    /// The parent's maximum time.
    pub max_time: i64,
}

/// The `compaction` object of `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head, parents' maximum + 1 after compaction.
    pub level: u32,
    /// ULIDs of the level-1 blocks this block's data came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Set on blocks that should be deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks compacted into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Set when compacting this block failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Hints such as `"from-out-of-order"`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// The compaction hint of blocks written from out-of-order data.
pub const HINT_FROM_OUT_OF_ORDER: &str = "from-out-of-order";

impl Compaction {
    /// Whether the block holds only out-of-order data (its hints hold `"from-out-of-order"`).
    pub fn from_out_of_order(&self) -> bool {
        self.hints.iter().any(|h| h == HINT_FROM_OUT_OF_ORDER)
    }
}

impl BlockMeta {
    /// The metadata of a new level-1 block.
    pub fn new_level1(ulid: Ulid, min_time: i64, max_time: i64, stats: BlockStats) -> BlockMeta {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats,
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
                deletable: false,
                parents: Vec::new(),
                failed: false,
                hints: Vec::new(),
            },
            version: META_VERSION,
        }
    }

    /// The file's bytes, as Go's `json.MarshalIndent(meta, "", "\t")` writes them.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Every field is a plain number, string, bool or list of them: serialising into memory cannot fail.
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out
    }

    /// Parses `meta.json` bytes; `path` names the file in errors.
    pub fn from_json(path: &Path, data: &[u8]) -> Result<BlockMeta, Error> {
        let meta: BlockMeta = serde_json::from_slice(data)
            .map_err(|e| Error::corrupt(path, format!("parse meta.json: {e}")))?;
        if meta.version != META_VERSION {
            return Err(Error::corrupt(
                path,
                format!("unexpected meta file version {}", meta.version),
            ));
        }
        Ok(meta)
    }

    /// Reads `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta, Error> {
        let path = dir.join(META_FILENAME);
        let data = std::fs::read(&path).map_err(Error::io("read block meta", &path))?;
        BlockMeta::from_json(&path, &data)
    }

    /// Writes `dir/meta.json` through `meta.json.tmp`, fsync and rename. Returns the file's size.
    pub fn write(&self, dir: &Path) -> Result<u64, Error> {
        let data = self.to_json();
        write_file_atomic(&dir.join(META_FILENAME), &data)?;
        Ok(data.len() as u64)
    }
}
