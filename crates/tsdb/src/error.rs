//! The crate's error type. One enum for everything the storage engine reports; the WAL adds its corruption report
//! ([`Corruption`]) as a payload so callers can hand it back to [`crate::wal::Wal::repair`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Errors raised by the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed. `op` is a short present-tense verb phrase ("open segment").
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A WAL segment holds damaged data. Hand the payload to [`crate::wal::Wal::repair`].
    #[error(transparent)]
    WalCorruption(#[from] Corruption),
    /// A WAL segment holds data this implementation cannot read although it is not damaged (zstd compression,
    /// which Prometheus 3 can write).
    #[error("unsupported WAL data in segment {} at offset {offset}: {what}", segment_path(dir, *segment).display())]
    WalUnsupported {
        /// Directory of the segment.
        dir: PathBuf,
        /// Segment number.
        segment: u32,
        /// Byte offset of the fragment in the segment.
        offset: u64,
        /// What was found.
        what: &'static str,
    },
    /// The numbered segments of a WAL directory have a hole.
    #[error("WAL segments in {} are not sequential: {prev:08} is followed by {next:08}", dir.display())]
    WalSegmentGap {
        /// The WAL directory.
        dir: PathBuf,
        /// The segment before the hole.
        prev: u32,
        /// The segment after the hole.
        next: u32,
    },
    /// A record's bytes do not follow the record format (outside of a segment, e.g. when decoding a buffer).
    #[error("decode {record_type} record: {reason}")]
    RecordDecode {
        /// Name of the record type being decoded.
        record_type: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A WAL operation was called with arguments it cannot honour (bad segment size, truncating the active
    /// segment, repairing a checkpoint, ...).
    #[error("{op}: {reason}")]
    WalInvalid {
        /// The operation ("truncate WAL", "repair WAL", ...).
        op: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A block file (meta.json, index, a chunk segment, tombstones) does not follow Prometheus's format: wrong
    /// magic number or version, a checksum mismatch, an offset or length past the end of the file, or bytes that
    /// do not decode.
    #[error("corrupt block file {}: {reason}", path.display())]
    BlockCorruption {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// A chunk's bytes do not decode, or a sample cannot be encoded into a chunk.
    #[error("{op}: {reason}")]
    Chunk {
        /// The operation ("decode histogram chunk", "append histogram", ...).
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A memory snapshot (`chunk_snapshot.N.M/`) holds a record that does not follow the snapshot format, or
    /// one this implementation cannot restore (a histogram head chunk of Prometheus's).
    #[error("corrupt chunk snapshot {}: {reason}", path.display())]
    SnapshotCorruption {
        /// The snapshot directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A block operation was called with arguments it cannot honour (series out of label order, a chunk outside
    /// the block's time range, an index over 64 GiB, ...).
    #[error("{op}: {reason}")]
    BlockInvalid {
        /// The operation ("add series to block", ...).
        op: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl Fn(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path: path.clone(), source }
    }

    /// Builds a [`Error::WalInvalid`].
    pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> Error {
        Error::WalInvalid { op, reason: reason.into() }
    }

    /// Builds an [`Error::BlockCorruption`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::BlockCorruption { path: path.into(), reason: reason.into() }
    }

    /// Builds an [`Error::Chunk`].
    pub(crate) fn chunk(op: &'static str, reason: impl Into<String>) -> Error {
        Error::Chunk { op, reason: reason.into() }
    }

    /// Builds an [`Error::BlockInvalid`].
    pub(crate) fn block_invalid(op: &'static str, reason: impl Into<String>) -> Error {
        Error::BlockInvalid { op, reason: reason.into() }
    }
}

/// Where and how a WAL segment is damaged. `offset` is the byte offset in the segment file of the fragment (or,
/// for [`CorruptionKind::Decode`], of the first fragment of the record) where reading stopped; every record that
/// ends before it was read intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The directory holding the segment: the WAL directory or a `checkpoint.NNNNNNNN` directory inside it.
    pub dir: PathBuf,
    /// The segment number.
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
    /// What is wrong there.
    pub kind: CorruptionKind,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corruption in segment {} at offset {}: {}",
            segment_path(&self.dir, self.segment).display(),
            self.offset,
            self.kind
        )
    }
}

impl std::error::Error for Corruption {}

/// The kinds of damage the WAL reader detects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A fragment's CRC32C does not match its data.
    Checksum {
        /// The checksum stored in the fragment header.
        stored: u32,
        /// The checksum of the data as read.
        computed: u32,
    },
    /// The low three bits of a fragment's type byte are not 1–4 (or are 0 with other bits set).
    InvalidFragmentType(u8),
    /// Fewer than 7 bytes were left in the page, so no header can start here, yet the byte is not zero padding.
    HeaderCrossesPage,
    /// The fragment's length would run past the end of its 32 KiB page.
    FragmentOverflowsPage {
        /// The length from the header.
        len: u16,
    },
    /// The segment file ends inside a fragment header or fragment data.
    TruncatedFragment,
    /// The fragments are out of sequence (a middle or last fragment without a first one, or a new record while
    /// one is still open).
    UnexpectedFragment(&'static str),
    /// The segment ends while a record's fragments are still incomplete.
    IncompleteRecord,
    /// A byte after a page's terminating zero byte is not zero.
    NonZeroPadding,
    /// A snappy-compressed record does not decompress.
    Decompress(String),
    /// A record passed its checksums but does not decode.
    Decode(String),
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptionKind::Checksum { stored, computed } => {
                write!(f, "unexpected checksum {computed:08x}, expected {stored:08x}")
            }
            CorruptionKind::InvalidFragmentType(t) => {
                write!(f, "invalid fragment type byte 0x{t:02x}")
            }
            CorruptionKind::HeaderCrossesPage => {
                f.write_str("fragment header crosses a page boundary")
            }
            CorruptionKind::FragmentOverflowsPage { len } => {
                write!(f, "fragment of {len} bytes would overflow its page")
            }
            CorruptionKind::TruncatedFragment => f.write_str("segment ends inside a fragment"),
            CorruptionKind::UnexpectedFragment(what) => write!(f, "unexpected {what} fragment"),
            CorruptionKind::IncompleteRecord => f.write_str("segment ends inside a record"),
            CorruptionKind::NonZeroPadding => {
                f.write_str("unexpected non-zero byte in page padding")
            }
            CorruptionKind::Decompress(e) => write!(f, "decompress record: {e}"),
            CorruptionKind::Decode(e) => write!(f, "decode record: {e}"),
        }
    }
}

/// The path of segment `index` in `dir`: the index zero-padded to 8 digits, as Prometheus names them.
pub(crate) fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}
