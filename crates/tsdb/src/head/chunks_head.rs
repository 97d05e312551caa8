//! Memory-mapped head chunks: the head's full chunks written to `chunks_head/` in Prometheus's format, so they
//! leave the heap and a restart picks them up instead of rebuilding them from the WAL.
//!
//! A file (`%06d`, at most 128 MiB) is `magic 0x0130BC91 | version 1 | 3 bytes padding` followed by chunks,
//! each `BE64 series ref | BE64 mint | BE64 maxt | encoding | uvarint len | data | BE32 CRC32C` over everything
//! before the CRC. A chunk is addressed by `file << 32 | offset`.
//!
//! The files are a cache of what the WAL holds (a checkpoint keeps every sample the head still covers), so they
//! are written without fsync. What makes the cache safe to trust on restart is that, per series, the chunks in
//! the files are in time order and cover a prefix of the series' data: the head only writes a chunk that starts
//! after the newest chunk it wrote for that series, and on damage everything from the damaged chunk on is
//! dropped (the WAL restores those samples). Files are only ever deleted from the lowest number up, so the
//! numbering has no holes (Prometheus refuses a directory whose numbering has holes).
//!
//! New chunks go to a new file after every start, as Prometheus does. A file being written is mapped at the
//! maximum file size; only bytes that were written successfully are ever read through a mapping, so a full
//! disk fails the write (the chunks stay on the heap) instead of faulting a reader.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};
use parking_lot::{Mutex, RwLock};

use crate::error::Error;

/// Magic number of a head chunk file.
pub(crate) const MAGIC: u32 = 0x0130_BC91;
const VERSION: u8 = 1;
/// Magic, version and padding.
pub(crate) const FILE_HEADER: usize = 8;
/// Largest file, as in Prometheus.
pub(crate) const MAX_FILE_SIZE: u64 = 128 << 20;
/// Series reference, mint, maxt, encoding and the longest length varint Prometheus writes (32 bits).
const MAX_META: usize = 8 + 8 + 8 + 1 + 5;
const CRC: usize = 4;
/// The XOR chunk encoding.
pub(crate) const ENCODING_XOR: u8 = 1;
/// The bit Prometheus sets in the encoding byte of out-of-order chunks.
pub(crate) const OOO_MASK: u8 = 0x80;

/// A mapped file.
#[derive(Debug)]
pub(crate) struct MappedFile {
    pub(crate) index: u32,
    map: Mmap,
}

/// Bytes of a chunk: on the heap, or in a mapped file.
#[derive(Debug, Clone)]
pub(crate) enum ChunkBytes {
    Heap(Arc<[u8]>),
    Mapped { file: Arc<MappedFile>, start: u32, len: u32 },
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Heap(b) => b,
            ChunkBytes::Mapped { file, start, len } => {
                let s = *start as usize;
                &file.map[s..s + *len as usize]
            }
        }
    }
}

impl ChunkBytes {
    pub(crate) fn heap(b: &[u8]) -> ChunkBytes {
        ChunkBytes::Heap(Arc::from(b))
    }

    /// The mapped file holding the chunk, `None` on the heap.
    pub(crate) fn file_index(&self) -> Option<u32> {
        match self {
            ChunkBytes::Heap(_) => None,
            ChunkBytes::Mapped { file, .. } => Some(file.index),
        }
    }

    /// Prometheus's reference of a mapped chunk, `file << 32 | offset of the chunk's first byte` (what the WBL's
    /// m-map markers name); `None` on the heap.
    pub(crate) fn disk_ref(&self) -> Option<u64> {
        match self {
            ChunkBytes::Heap(_) => None,
            ChunkBytes::Mapped { file, start, len } => {
                let header = 8 + 8 + 8 + 1 + uvarint_len(u64::from(*len));
                let at = (*start as usize).checked_sub(header)?;
                Some(u64::from(file.index) << 32 | at as u64)
            }
        }
    }
}

/// A chunk found in the files on open.
#[derive(Debug, Clone)]
pub(crate) struct LoadedChunk {
    pub(crate) series_ref: u64,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// Encoding without the out-of-order bit.
    pub(crate) encoding: u8,
    pub(crate) out_of_order: bool,
    pub(crate) bytes: ChunkBytes,
}

/// What opening the directory found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChunksHeadOpenStats {
    /// Files read.
    pub files: usize,
    /// Chunks read.
    pub chunks: u64,
    /// Damage found (a bad file header, a hole in the numbering, a chunk that is cut short or fails its CRC);
    /// everything from the damage on was dropped (`prometheus_tsdb_mmap_chunk_corruptions_total`).
    pub corruptions: u64,
    /// A description of the first damage.
    pub first_corruption: Option<String>,
}

/// One chunk to write: series reference, time range, XOR data, and whether it holds out-of-order samples
/// (written with the encoding's 0x80 bit, as Prometheus marks them).
pub(crate) struct ChunkToWrite<'a> {
    pub(crate) series_ref: u64,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    pub(crate) data: &'a [u8],
    pub(crate) out_of_order: bool,
}

#[derive(Debug)]
struct ActiveFile {
    file: File,
    mapped: Arc<MappedFile>,
    /// Bytes written.
    offset: u64,
}

#[derive(Debug)]
struct Writer {
    /// Number of the newest file (0 when there is none).
    last_seq: u32,
    active: Option<ActiveFile>,
    buf: Vec<u8>,
}

/// The `chunks_head/` directory.
#[derive(Debug)]
pub(crate) struct ChunkDiskMapper {
    dir: PathBuf,
    /// Every file, by number, with its size (the written size for the active one).
    files: RwLock<BTreeMap<u32, (Arc<MappedFile>, u64)>>,
    writer: Mutex<Writer>,
}

fn file_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

fn map_readonly(path: &Path, len: u64) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(Error::io("open head chunk file", path))?;
    #[allow(
        unsafe_code,
        reason = "read-only map of a head chunk file; only written bytes are read, see the module docs"
    )]
    // SAFETY: nothing in this process truncates a mapped file below the bytes handed out as chunks (the one
    // truncation, on open, happens before the file is mapped), and reads stay within bytes already written.
    let map = unsafe { MmapOptions::new().len(len as usize).map(&file) }
        .map_err(Error::io("map head chunk file", path))?;
    Ok(map)
}

impl ChunkDiskMapper {
    /// Opens (creating it if needed) the directory and reads every chunk in it, in file order. Damage is
    /// repaired by keeping what comes before it: a damaged file is cut at the damaged chunk and later files are
    /// deleted.
    pub(crate) fn open(
        dir: &Path,
    ) -> Result<(ChunkDiskMapper, Vec<LoadedChunk>, ChunksHeadOpenStats), Error> {
        fs::create_dir_all(dir).map_err(Error::io("create head chunks directory", dir))?;
        let mut seqs: Vec<u32> = Vec::new();
        for entry in fs::read_dir(dir).map_err(Error::io("list head chunks directory", dir))? {
            let entry = entry.map_err(Error::io("list head chunks directory", dir))?;
            let name = entry.file_name();
            if let Some(seq) = name.to_str().and_then(|n| n.parse::<u32>().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut stats = ChunksHeadOpenStats::default();
        let mut chunks = Vec::new();
        let mut files = BTreeMap::new();
        let mut damaged_at: Option<usize> = None;
        for (i, &seq) in seqs.iter().enumerate() {
            if i > 0 && seq != seqs[i - 1] + 1 {
                stats.note(format!(
                    "head chunk files {:06} and {seq:06} are not sequential",
                    seqs[i - 1]
                ));
                damaged_at = Some(i);
                break;
            }
            let path = file_path(dir, seq);
            let len = fs::metadata(&path).map_err(Error::io("stat head chunk file", &path))?.len();
            let header = read_header(&path)?;
            if len < FILE_HEADER as u64 || header.0 != MAGIC || header.1 != VERSION {
                // Prometheus deletes an empty last file silently: files are not synced on creation.
                if !(i == seqs.len() - 1 && (len < 4 || header.0 == 0)) {
                    stats.note(format!(
                        "{}: invalid head chunk file header (magic {:08x}, version {})",
                        path.display(),
                        header.0,
                        header.1
                    ));
                }
                damaged_at = Some(i);
                break;
            }
            let map = Arc::new(MappedFile { index: seq, map: map_readonly(&path, len)? });
            let (end, damage) = scan(&map, &mut chunks);
            stats.files += 1;
            if let Some(why) = damage {
                stats.note(format!("{}: {why}", path.display()));
                drop(map);
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(Error::io("open head chunk file", &path))?;
                f.set_len(end as u64).map_err(Error::io("truncate head chunk file", &path))?;
                // Re-map at the new length so no mapping extends past the end of the file.
                let map =
                    Arc::new(MappedFile { index: seq, map: map_readonly(&path, end as u64)? });
                for c in chunks.iter_mut().filter(|c| c.bytes.file_index() == Some(seq)) {
                    if let ChunkBytes::Mapped { file, .. } = &mut c.bytes {
                        *file = map.clone();
                    }
                }
                files.insert(seq, (map, end as u64));
                damaged_at = Some(i + 1);
                break;
            }
            files.insert(seq, (map, len));
        }
        if let Some(from) = damaged_at {
            for &seq in &seqs[from..] {
                let path = file_path(dir, seq);
                fs::remove_file(&path).map_err(Error::io("delete head chunk file", &path))?;
            }
        }
        stats.chunks = chunks.len() as u64;
        let last_seq = files.keys().next_back().copied().unwrap_or(0);
        let m = ChunkDiskMapper {
            dir: dir.to_path_buf(),
            files: RwLock::new(files),
            writer: Mutex::new(Writer { last_seq, active: None, buf: Vec::new() }),
        };
        Ok((m, chunks, stats))
    }

    /// Writes `chunks` in order and returns where each went; `None` for those that could not be written (the
    /// error is returned alongside).
    pub(crate) fn write(
        &self,
        chunks: &[ChunkToWrite<'_>],
    ) -> (Vec<Option<ChunkBytes>>, Option<Error>) {
        let mut w = self.writer.lock();
        let mut out: Vec<Option<ChunkBytes>> = Vec::with_capacity(chunks.len());
        let mut pending: Vec<(u32, u32)> = Vec::new();
        let mut i = 0;
        while i < chunks.len() {
            let need = encoded_len(chunks[i].data.len()) as u64;
            // A fresh file takes any chunk.
            let fits = w.active.as_ref().is_some_and(|a| {
                a.offset + need <= MAX_FILE_SIZE || a.offset == FILE_HEADER as u64
            });
            if !fits && let Err(e) = self.cut(&mut w) {
                out.resize(chunks.len(), None);
                return (out, Some(e));
            }
            // Encode as many as fit into this file, then write them with one call.
            let Writer { active, buf, .. } = &mut *w;
            let Some(a) = active.as_mut() else {
                out.resize(chunks.len(), None);
                return (out, Some(Error::chunk("write head chunks", "no file to write to")));
            };
            buf.clear();
            pending.clear();
            while i < chunks.len() {
                let c = &chunks[i];
                let at = a.offset + buf.len() as u64;
                if !buf.is_empty() && at + encoded_len(c.data.len()) as u64 > MAX_FILE_SIZE {
                    break;
                }
                let start = encode(buf, c);
                pending.push(((at as usize + start) as u32, c.data.len() as u32));
                i += 1;
            }
            if let Err(e) = a.file.write_all_at(buf, a.offset) {
                // Leave the file as it was; the next write goes to the same offset.
                let _ = a.file.set_len(a.offset);
                let path = file_path(&self.dir, a.mapped.index);
                out.resize(chunks.len(), None);
                return (out, Some(Error::Io { op: "write head chunks", path, source: e }));
            }
            a.offset += buf.len() as u64;
            for &(start, len) in &pending {
                out.push(Some(ChunkBytes::Mapped { file: a.mapped.clone(), start, len }));
            }
            if let Some(f) = self.files.write().get_mut(&a.mapped.index) {
                f.1 = a.offset;
            }
        }
        (out, None)
    }

    /// Starts the next file.
    fn cut(&self, w: &mut Writer) -> Result<(), Error> {
        let seq = w.last_seq + 1;
        let path = file_path(&self.dir, seq);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io("create head chunk file", &path))?;
        let mut header = [0u8; FILE_HEADER];
        header[..4].copy_from_slice(&MAGIC.to_be_bytes());
        header[4] = VERSION;
        if let Err(e) = file.write_all_at(&header, 0) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(Error::Io { op: "write head chunk file header", path, source: e });
        }
        let map = match map_readonly(&path, MAX_FILE_SIZE) {
            Ok(m) => m,
            Err(e) => {
                drop(file);
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        let mapped = Arc::new(MappedFile { index: seq, map });
        self.files.write().insert(seq, (mapped.clone(), FILE_HEADER as u64));
        w.last_seq = seq;
        w.active = Some(ActiveFile { file, mapped, offset: FILE_HEADER as u64 });
        Ok(())
    }

    /// Deletes the files numbered below `min_file` (the lowest file a head chunk still lives in), from the lowest
    /// up, never the one being written; the file being written is closed first if it holds chunks, so that it
    /// can go at a later truncation.
    pub(crate) fn truncate(&self, min_file: u32) -> Result<(), Error> {
        let mut w = self.writer.lock();
        let active = w.active.as_ref().map(|a| (a.mapped.index, a.offset));
        if active.is_some_and(|(_, off)| off > FILE_HEADER as u64) {
            w.active = None;
        }
        let doomed: Vec<u32> = {
            let files = self.files.read();
            files
                .keys()
                .copied()
                .take_while(|&seq| {
                    seq < min_file && Some(seq) != w.active.as_ref().map(|a| a.mapped.index)
                })
                .collect()
        };
        for seq in &doomed {
            let path = file_path(&self.dir, *seq);
            fs::remove_file(&path).map_err(Error::io("delete head chunk file", &path))?;
            self.files.write().remove(seq);
        }
        if self.files.read().is_empty() {
            // As in Prometheus: with every file gone the numbering starts again at 1.
            w.last_seq = 0;
        }
        Ok(())
    }

    /// Fsyncs every file and the directory, for when the files must outlive a power failure (a memory
    /// snapshot refers to their chunks instead of holding them).
    pub(crate) fn sync(&self) -> Result<(), Error> {
        let _w = self.writer.lock();
        let seqs: Vec<u32> = self.files.read().keys().copied().collect();
        for seq in seqs {
            let path = file_path(&self.dir, seq);
            let f = File::open(&path).map_err(Error::io("open head chunk file", &path))?;
            f.sync_all().map_err(Error::io("fsync head chunk file", &path))?;
        }
        crate::wal::segment::sync_dir(&self.dir)
    }

    /// Bytes of the files.
    pub(crate) fn size(&self) -> u64 {
        self.files.read().values().map(|(_, len)| *len).sum()
    }

    /// Number of files.
    pub(crate) fn num_files(&self) -> usize {
        self.files.read().len()
    }
}

impl ChunksHeadOpenStats {
    fn note(&mut self, what: String) {
        self.corruptions += 1;
        self.first_corruption.get_or_insert(what);
    }
}

fn read_header(path: &Path) -> Result<(u32, u8), Error> {
    let f = File::open(path).map_err(Error::io("open head chunk file", path))?;
    let mut b = [0u8; 5];
    let mut n = 0;
    while n < b.len() {
        match f.read_at(&mut b[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(Error::Io { op: "read head chunk file", path: path.into(), source: e });
            }
        }
    }
    let magic = if n >= 4 { u32::from_be_bytes([b[0], b[1], b[2], b[3]]) } else { 0 };
    Ok((magic, if n >= 5 { b[4] } else { 0 }))
}

/// Bytes a chunk with `len` bytes of data takes in a file.
fn encoded_len(len: usize) -> usize {
    8 + 8 + 8 + 1 + uvarint_len(len as u64) + len + CRC
}

fn uvarint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends `c` to `buf`; returns the offset of its data from where it starts.
fn encode(buf: &mut Vec<u8>, c: &ChunkToWrite<'_>) -> usize {
    let begin = buf.len();
    buf.extend_from_slice(&c.series_ref.to_be_bytes());
    buf.extend_from_slice(&c.min_t.to_be_bytes());
    buf.extend_from_slice(&c.max_t.to_be_bytes());
    buf.push(if c.out_of_order { ENCODING_XOR | OOO_MASK } else { ENCODING_XOR });
    let mut v = c.data.len() as u64;
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
    let start = buf.len() - begin;
    buf.extend_from_slice(c.data);
    let crc = crc32c::crc32c(&buf[begin..]);
    buf.extend_from_slice(&crc.to_be_bytes());
    start
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Reads the chunks of one file into `out`. Returns where the intact part ends and, on damage, what it was.
fn scan(file: &Arc<MappedFile>, out: &mut Vec<LoadedChunk>) -> (usize, Option<String>) {
    let b: &[u8] = &file.map;
    let end = b.len();
    let mut at = FILE_HEADER;
    while at < end {
        if end - at < MAX_META {
            if b[at..].iter().all(|&x| x == 0) {
                return (at, None);
            }
            return (at, Some(format!("chunk at offset {at} is cut short")));
        }
        let series_ref = be64(b, at);
        let min_t = be64(b, at + 8) as i64;
        let max_t = be64(b, at + 16) as i64;
        if series_ref == 0 && min_t == 0 && max_t == 0 {
            // Prometheus preallocates files: zeros mark the end of the data.
            return (at, None);
        }
        let enc = b[at + 24];
        let (len, n) = match read_uvarint(&b[at + 25..at + MAX_META]) {
            Some(x) => x,
            None => return (at, Some(format!("chunk at offset {at} has a bad length"))),
        };
        let data = at + 25 + n;
        let Some(crc_at) = data.checked_add(len as usize).filter(|e| e + CRC <= end) else {
            return (at, Some(format!("chunk at offset {at} is cut short")));
        };
        let stored = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
        let computed = crc32c::crc32c(&b[at..crc_at]);
        if stored != computed {
            return (
                at,
                Some(format!(
                    "chunk at offset {at}: checksum mismatch: stored {stored:08x}, computed {computed:08x}"
                )),
            );
        }
        out.push(LoadedChunk {
            series_ref,
            min_t,
            max_t,
            encoding: enc & !OOO_MASK,
            out_of_order: enc & OOO_MASK != 0,
            bytes: ChunkBytes::Mapped { file: file.clone(), start: data as u32, len: len as u32 },
        });
        at = crc_at + CRC;
    }
    (at.min(end), None)
}

fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(5) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}
