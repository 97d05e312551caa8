//! The `tombstones` file: deleted time ranges per series. `magic 0x0130BA30 BE32 | version 1 | (uvarint series
//! ref, varint mint, varint maxt)* | CRC32C` where the checksum covers the stones only, not the version byte. A
//! missing file means no tombstones.

use std::collections::BTreeMap;
use std::path::Path;

use super::encoding::{Dec, put_uvarint, put_varint, write_file_atomic};
use crate::error::Error;

/// The file name of a block's tombstones.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Magic number at the start of the tombstones file.
pub const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
const TOMBSTONES_FORMAT_V1: u8 = 1;

/// A closed time range `[mint, maxt]` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

impl Interval {
    /// Whether `t` lies in the interval.
    pub fn contains(&self, t: i64) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// Deleted intervals per series reference, each list sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    stones: BTreeMap<u64, Vec<Interval>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Tombstones {
        Tombstones::default()
    }

    /// Marks `iv` deleted for `series_ref`, merging it with overlapping or adjacent intervals.
    pub fn add(&mut self, series_ref: u64, iv: Interval) {
        let list = self.stones.entry(series_ref).or_default();
        list.push(iv);
        list.sort_unstable();
        let mut merged: Vec<Interval> = Vec::with_capacity(list.len());
        for iv in list.drain(..) {
            match merged.last_mut() {
                Some(last) if iv.mint <= last.maxt.saturating_add(1) => {
                    last.maxt = last.maxt.max(iv.maxt);
                }
                _ => merged.push(iv),
            }
        }
        *list = merged;
    }

    /// The deleted intervals of `series_ref` (empty when none).
    pub fn get(&self, series_ref: u64) -> &[Interval] {
        self.stones.get(&series_ref).map_or(&[], Vec::as_slice)
    }

    /// Number of intervals over all series (`numTombstones` in `meta.json`).
    pub fn num_intervals(&self) -> u64 {
        self.stones.values().map(|v| v.len() as u64).sum()
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.stones.is_empty()
    }

    /// Every (series ref, interval), in series order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Interval)> + '_ {
        self.stones.iter().flat_map(|(r, ivs)| ivs.iter().map(move |iv| (*r, *iv)))
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        out.extend_from_slice(&TOMBSTONES_MAGIC.to_be_bytes());
        out.push(TOMBSTONES_FORMAT_V1);
        for (r, iv) in self.iter() {
            put_uvarint(&mut out, r);
            put_varint(&mut out, iv.mint);
            put_varint(&mut out, iv.maxt);
        }
        let crc = crc32c::crc32c(&out[5..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses the file's bytes; `path` names the file in errors.
    pub fn decode(path: &Path, data: &[u8]) -> Result<Tombstones, Error> {
        let err = |reason: String| Error::corrupt(path, reason);
        if data.len() < 9 {
            return Err(err(format!("{} bytes are too few for the 9-byte header", data.len())));
        }
        let (body, crc) = data.split_at(data.len() - 4);
        let mut d = Dec::new(body);
        let magic = d.be32().map_err(|e| err(e.to_string()))?;
        if magic != TOMBSTONES_MAGIC {
            return Err(err(format!("invalid magic number {magic:x}")));
        }
        let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32c::crc32c(&body[5..]);
        if stored != computed {
            return Err(err(format!(
                "checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            )));
        }
        let version = d.byte().map_err(|e| err(e.to_string()))?;
        if version != TOMBSTONES_FORMAT_V1 {
            return Err(err(format!("invalid tombstone format {version:x}")));
        }
        let mut out = Tombstones::new();
        while d.remaining() > 0 {
            let at = d.position();
            let stone = (|| Ok::<_, &'static str>((d.uvarint()?, d.varint()?, d.varint()?)))()
                .map_err(|e| err(format!("decode stone at offset {at}: {e}")))?;
            out.add(stone.0, Interval { mint: stone.1, maxt: stone.2 });
        }
        Ok(out)
    }

    /// Reads `dir/tombstones`; a missing file gives no tombstones.
    pub fn read(dir: &Path) -> Result<Tombstones, Error> {
        let path = dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(data) => Tombstones::decode(&path, &data),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::new()),
            Err(e) => Err(Error::io("read tombstones", &path)(e)),
        }
    }

    /// Writes `dir/tombstones` through a temporary file, fsync and rename. Returns the file's size.
    pub fn write(&self, dir: &Path) -> Result<u64, Error> {
        let data = self.encode();
        write_file_atomic(&dir.join(TOMBSTONES_FILENAME), &data)?;
        Ok(data.len() as u64)
    }
}
