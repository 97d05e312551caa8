//! Segment layout shared by the reader and the writer: page and header sizes, fragment types and flags, segment
//! file names and directory listing.
//!
//! A segment is a sequence of 32 KiB pages with no file header. Each page holds fragments
//! `type:u8 | len:u16 BE | crc32c(data):u32 BE | data` and, when fewer than 7 bytes remain (or the writer closes
//! the page), zero padding to the page end. Fragments never cross a page, records never cross a segment.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, segment_path};

/// Size of a page. Fragments never cross a page boundary.
pub const PAGE_SIZE: usize = 32 * 1024;
/// Default maximum size of a segment file (a record larger than that gets a segment of its own).
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 * 1024 * 1024;
/// Size of a fragment header: type byte, big-endian u16 length, big-endian CRC32C.
pub const HEADER_SIZE: usize = 7;

/// Fragment kind: the rest of the page is zero padding.
pub(crate) const FRAG_PAGE_TERM: u8 = 0;
/// Fragment kind: a whole record.
pub(crate) const FRAG_FULL: u8 = 1;
/// Fragment kind: the first fragment of a record.
pub(crate) const FRAG_FIRST: u8 = 2;
/// Fragment kind: a middle fragment of a record.
pub(crate) const FRAG_MIDDLE: u8 = 3;
/// Fragment kind: the last fragment of a record.
pub(crate) const FRAG_LAST: u8 = 4;
/// Mask of the fragment kind in the type byte.
pub(crate) const FRAG_KIND_MASK: u8 = 0x07;
/// Type-byte flag: the record's data is snappy-compressed (block format).
pub(crate) const FLAG_SNAPPY: u8 = 0x08;
/// Type-byte flag: the record's data is zstd-compressed (written by Prometheus 3 only; not supported here).
pub(crate) const FLAG_ZSTD: u8 = 0x10;

/// How record data is compressed in the segments a writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Records are stored as they are.
    None,
    /// Records are compressed with snappy's block format when that makes them smaller; the default of
    /// Prometheus 2.20 and later (`--storage.tsdb.wal-compression`).
    #[default]
    Snappy,
}

/// A byte position in a WAL: a segment number and an offset in that segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment number.
    pub segment: u32,
    /// Byte offset in the segment file.
    pub offset: u64,
}

/// The file name of segment `index`: 8 zero-padded digits.
pub fn segment_name(index: u32) -> String {
    format!("{index:08}")
}

/// The path of segment `index` in `dir`.
pub fn segment_file(dir: &Path, index: u32) -> PathBuf {
    segment_path(dir, index)
}

/// Parses a segment or checkpoint number: ASCII digits only (any count), fitting a `u32`.
pub(crate) fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The segment numbers in `dir`, ascending. Names that are not all digits are ignored. A hole in the numbering
/// is an error, as in Prometheus.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>, Error> {
    let out = list_segment_numbers(dir)?;
    for w in out.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(Error::WalSegmentGap { dir: dir.to_path_buf(), prev: w[0], next: w[1] });
        }
    }
    Ok(out)
}

/// Replaces every missing segment in the numbering by an empty one, so that what remains of a WAL whose middle
/// segment was lost is read around the hole. Returns the holes found, as `(segment before, segment after)`.
pub(crate) fn fill_gaps(dir: &Path) -> Result<Vec<(u32, u32)>, Error> {
    let numbers = list_segment_numbers(dir)?;
    let mut gaps = Vec::new();
    for w in numbers.windows(2) {
        if w[1] != w[0] + 1 {
            gaps.push((w[0], w[1]));
            for missing in w[0] + 1..w[1] {
                let path = segment_file(dir, missing);
                fs::File::create(&path)
                    .map_err(Error::io("create empty segment for a gap", &path))?;
            }
        }
    }
    if !gaps.is_empty() {
        sync_dir(dir)?;
    }
    Ok(gaps)
}

fn list_segment_numbers(dir: &Path) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list segments in", dir))? {
        let entry = entry.map_err(Error::io("list segments in", dir))?;
        let name = entry.file_name();
        let Some(index) = name.to_str().and_then(parse_index) else {
            continue;
        };
        out.push(index);
    }
    out.sort_unstable();
    Ok(out)
}

/// Name of the fragment kind in `type_byte`, for error messages.
pub(crate) fn kind_name(kind: u8) -> &'static str {
    match kind {
        FRAG_FULL => "full",
        FRAG_FIRST => "first",
        FRAG_MIDDLE => "middle",
        FRAG_LAST => "last",
        _ => "zero",
    }
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    let d = fs::File::open(dir).map_err(Error::io("open directory", dir))?;
    d.sync_all().map_err(Error::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(segment_name(0), "00000000");
        assert_eq!(segment_name(123), "00000123");
        assert_eq!(parse_index("00000123"), Some(123));
        assert_eq!(parse_index("000001"), Some(1));
        assert_eq!(parse_index("00000001.repair"), None);
        assert_eq!(parse_index("+1"), None);
        assert_eq!(parse_index(""), None);
    }

    #[test]
    fn listing_requires_sequential_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["00000002", "00000003", "checkpoint.00000001", "x", "00000004.repair"] {
            fs::write(dir.path().join(name), b"").expect("write");
        }
        assert_eq!(list_segments(dir.path()).expect("list"), vec![2, 3]);
        fs::write(dir.path().join("00000005"), b"").expect("write");
        let err = list_segments(dir.path()).expect_err("gap");
        assert!(matches!(err, Error::WalSegmentGap { prev: 3, next: 5, .. }), "{err}");
    }
}
