//! The block's chunk segments, `chunks/000001`, `chunks/000002`, …: an 8-byte header (`0x85BD40DD`, version 1,
//! three zero bytes), then per chunk `uvarint len | encoding byte | data | CRC32C(encoding, data)`. A chunk's
//! reference is `segment_index << 32 | offset`, with the segment index 0-based (`000001` is 0).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::encoding::{Dec, map_file, put_uvarint, sync_dir};
use crate::error::Error;

/// Magic number at the start of every chunk segment.
pub const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// The chunk segment format version.
pub const CHUNKS_FORMAT_V1: u8 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_SIZE: u64 = 8;
/// Prometheus's default maximum segment size, 512 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 512 << 20;
/// The most bytes a chunk's length field can take (Go's `binary.MaxVarintLen32`), counted when deciding whether
/// a chunk still fits its segment.
const MAX_CHUNK_LEN_FIELD: u64 = 5;

/// Reference to a chunk in a block: `segment_index << 32 | offset`.
pub type ChunkRef = u64;

/// Chunk encodings of blocks that Prometheus 2.42 reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChunkEncoding {
    /// No encoding (never written).
    None = 0,
    /// The Gorilla XOR float chunk.
    Xor = 1,
    /// The integer native histogram chunk.
    Histogram = 2,
    /// The float native histogram chunk.
    FloatHistogram = 3,
}

impl ChunkEncoding {
    /// The encoding of a byte read from disk.
    pub fn from_u8(b: u8) -> Option<ChunkEncoding> {
        match b {
            0 => Some(ChunkEncoding::None),
            1 => Some(ChunkEncoding::Xor),
            2 => Some(ChunkEncoding::Histogram),
            3 => Some(ChunkEncoding::FloatHistogram),
            _ => None,
        }
    }
}

/// Where a series' chunk lives and which time range it covers (both ends inclusive), as the index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Timestamp of the first sample.
    pub min_time: i64,
    /// Timestamp of the last sample.
    pub max_time: i64,
    /// Where the chunk is.
    pub chunk_ref: ChunkRef,
}

/// The path of segment `seq` (1-based) in `dir`.
fn segment_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

/// Writes chunks into numbered segments, cutting a new one when the next chunk would not fit.
#[derive(Debug)]
pub struct ChunkWriter {
    dir: PathBuf,
    segment_size: u64,
    current: Option<(PathBuf, BufWriter<File>)>,
    /// Segments created so far; the current one is `000{seq}`.
    seq: u32,
    /// Write position in the current segment.
    pos: u64,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer into `dir` (created if missing) with Prometheus's 512 MiB segments.
    pub fn new(dir: &Path) -> Result<ChunkWriter, Error> {
        ChunkWriter::with_segment_size(dir, DEFAULT_SEGMENT_SIZE)
    }

    /// A writer whose segments hold at most `segment_size` bytes, unless a single chunk is larger.
    pub fn with_segment_size(dir: &Path, segment_size: u64) -> Result<ChunkWriter, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("create chunks directory", dir))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            segment_size,
            current: None,
            seq: 0,
            pos: 0,
            buf: Vec::with_capacity(16),
        })
    }

    fn finish_segment(&mut self) -> Result<(), Error> {
        if let Some((path, mut w)) = self.current.take() {
            w.flush().map_err(Error::io("write chunk segment", &path))?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io("write chunk segment", &path)(e.into_error()))?;
            f.sync_all().map_err(Error::io("sync chunk segment", &path))?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), Error> {
        self.finish_segment()?;
        let seq = self
            .seq
            .checked_add(1)
            .ok_or_else(|| Error::block_invalid("write chunk", "too many chunk segments"))?;
        let path = segment_path(&self.dir, seq);
        let f = File::create(&path).map_err(Error::io("create chunk segment", &path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut header = [0u8; SEGMENT_HEADER_SIZE as usize];
        header[..4].copy_from_slice(&CHUNKS_MAGIC.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        w.write_all(&header).map_err(Error::io("write chunk segment", &path))?;
        self.current = Some((path, w));
        self.seq = seq;
        self.pos = SEGMENT_HEADER_SIZE;
        Ok(())
    }

    /// Appends one chunk and returns its reference. Chunks of one series should be written one after the other,
    /// in time order, as the index lists them.
    pub fn write_chunk(&mut self, encoding: ChunkEncoding, data: &[u8]) -> Result<ChunkRef, Error> {
        let size = MAX_CHUNK_LEN_FIELD + 1 + data.len() as u64 + 4;
        let full = self.pos > SEGMENT_HEADER_SIZE && self.pos + size > self.segment_size;
        if self.current.is_none() || full {
            self.cut()?;
        }
        if self.pos > u64::from(u32::MAX) {
            return Err(Error::block_invalid(
                "write chunk",
                format!("segment offset {} does not fit a chunk reference", self.pos),
            ));
        }
        let chunk_ref = (u64::from(self.seq - 1) << 32) | self.pos;
        self.buf.clear();
        put_uvarint(&mut self.buf, data.len() as u64);
        self.buf.push(encoding as u8);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&[encoding as u8]), data);
        let Some((path, w)) = self.current.as_mut() else {
            return Err(Error::block_invalid("write chunk", "no open segment"));
        };
        w.write_all(&self.buf)
            .and_then(|()| w.write_all(data))
            .and_then(|()| w.write_all(&crc.to_be_bytes()))
            .map_err(Error::io("write chunk segment", path.as_path()))?;
        self.pos += self.buf.len() as u64 + data.len() as u64 + 4;
        Ok(chunk_ref)
    }

    /// Flushes and fsyncs the last segment and the directory.
    pub fn close(mut self) -> Result<(), Error> {
        self.finish_segment()?;
        sync_dir(&self.dir)
    }
}

/// Read access to a block's chunk segments, memory-mapped.
#[derive(Debug)]
pub struct ChunkReader {
    segments: Vec<(PathBuf, Mmap)>,
    size: u64,
}

/// One chunk as stored: its encoding byte and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawChunk<'a> {
    /// The encoding byte (see [`ChunkEncoding::from_u8`]).
    pub encoding: u8,
    /// The encoded chunk.
    pub data: &'a [u8],
}

impl ChunkReader {
    /// Opens every numbered segment in `dir` and checks each one's header.
    pub fn open(dir: &Path) -> Result<ChunkReader, Error> {
        let mut numbered = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io("read chunks directory", dir))? {
            let entry = entry.map_err(Error::io("read chunks directory", dir))?;
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
                numbered.push((n, entry.path()));
            }
        }
        numbered.sort();
        let mut segments = Vec::with_capacity(numbered.len());
        let mut size = 0;
        for (_, path) in numbered {
            let len =
                std::fs::metadata(&path).map_err(Error::io("stat chunk segment", &path))?.len();
            if len < SEGMENT_HEADER_SIZE {
                return Err(Error::corrupt(
                    &path,
                    format!("segment of {len} bytes is shorter than its 8-byte header"),
                ));
            }
            let map = map_file(&path, "map chunk segment")?;
            let mut d = Dec::new(&map);
            let magic = d.be32().map_err(|e| Error::corrupt(&path, e))?;
            if magic != CHUNKS_MAGIC {
                return Err(Error::corrupt(&path, format!("invalid magic number {magic:x}")));
            }
            let version = d.byte().map_err(|e| Error::corrupt(&path, e))?;
            if version != CHUNKS_FORMAT_V1 {
                return Err(Error::corrupt(
                    &path,
                    format!("invalid chunk format version {version}"),
                ));
            }
            size += len;
            segments.push((path, map));
        }
        Ok(ChunkReader { segments, size })
    }

    /// Total bytes of the segment files.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of segment files.
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// The chunk at `chunk_ref`, bounds-checked but without verifying its checksum.
    pub fn chunk(&self, chunk_ref: ChunkRef) -> Result<RawChunk<'_>, Error> {
        self.locate(chunk_ref).map(|(chunk, _, _)| chunk)
    }

    /// The chunk at `chunk_ref` after checking its CRC32C.
    pub fn chunk_verified(&self, chunk_ref: ChunkRef) -> Result<RawChunk<'_>, Error> {
        let (chunk, stored, path) = self.locate(chunk_ref)?;
        let computed = crc32c::crc32c_append(crc32c::crc32c(&[chunk.encoding]), chunk.data);
        if stored != computed {
            return Err(Error::corrupt(
                path,
                format!(
                    "checksum mismatch in chunk at offset {}: stored {stored:08x}, computed {computed:08x}",
                    chunk_ref & 0xffff_ffff
                ),
            ));
        }
        Ok(chunk)
    }

    fn locate(&self, chunk_ref: ChunkRef) -> Result<(RawChunk<'_>, u32, &Path), Error> {
        let seg = (chunk_ref >> 32) as usize;
        let off = (chunk_ref & 0xffff_ffff) as usize;
        let Some((path, map)) = self.segments.get(seg) else {
            return Err(Error::corrupt(
                self.segments.first().map_or(Path::new("chunks"), |(p, _)| p.as_path()),
                format!(
                    "chunk reference {chunk_ref:#x} names segment {} of {}",
                    seg + 1,
                    self.segments.len()
                ),
            ));
        };
        let err = |reason: String| Error::corrupt(path, reason);
        if off < SEGMENT_HEADER_SIZE as usize || off >= map.len() {
            return Err(err(format!(
                "chunk offset {off} is outside the segment ({} bytes)",
                map.len()
            )));
        }
        let (encoding, data, crc) = parse_chunk(&map[off..])
            .map_err(|e| err(format!("read chunk at offset {off}: {e}")))?;
        Ok((RawChunk { encoding, data }, crc, path))
    }
}

/// `uvarint len | encoding | data | CRC` at the start of `b`.
fn parse_chunk(b: &[u8]) -> Result<(u8, &[u8], u32), &'static str> {
    let mut d = Dec::new(b);
    let len = d.uvarint()?;
    let len = usize::try_from(len).map_err(|_| "chunk length overflows")?;
    let encoding = d.byte()?;
    let data = d.bytes(len)?;
    let crc = d.be32()?;
    Ok((encoding, data, crc))
}
