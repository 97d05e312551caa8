//! Writes the index file in Prometheus's format version 2, byte for byte as Prometheus 2.42 does:
//!
//! ```text
//! magic 0xBAAAD700 | version 2
//! symbols            len | count | (uvarint len, bytes)* | CRC        sorted, "" included
//! series             16-byte aligned entries, sorted by labels; ref = offset / 16
//! label indices      4-byte aligned, one per label name (legacy: 2.42 writes them, readers ignore them)
//! postings           4-byte aligned, len | count | BE32 ref* | CRC; ("", "") = all series first
//! label offset table len | count | (1, name, uvarint offset)* | CRC
//! postings offsets   len | count | (2, name, value, uvarint absolute offset)* | CRC
//! TOC                6 × BE64 section offsets | CRC
//! ```
//!
//! Series stream through: the writer keeps the symbol table and the postings (series references per label pair),
//! never the series entries themselves.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use model::Labels;

use super::chunks::ChunkMeta;
use super::encoding::{padding, put_uvarint, put_uvarint_str, put_varint};
use crate::error::Error;

/// Magic number at the start of the index file.
pub const INDEX_MAGIC: u32 = 0xBAAA_D700;
/// The index format version written.
pub const INDEX_FORMAT_V2: u8 = 2;
/// Bytes of the table of contents at the end of the file.
pub const INDEX_TOC_LEN: u64 = 6 * 8 + 4;

/// Section offsets recorded in the index's table of contents (0 = absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// The first series entry (before its alignment padding).
    pub series: u64,
    /// The legacy label indices.
    pub label_indices: u64,
    /// The legacy label offset table.
    pub label_indices_table: u64,
    /// The postings lists.
    pub postings: u64,
    /// The postings offset table.
    pub postings_table: u64,
}

impl Toc {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INDEX_TOC_LEN as usize);
        for v in [
            self.symbols,
            self.series,
            self.label_indices,
            self.label_indices_table,
            self.postings,
            self.postings_table,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }
}

/// Streams an index file: symbols first (given to [`IndexWriter::new`]), then series in label order with
/// [`IndexWriter::add_series`], then [`IndexWriter::finish`].
#[derive(Debug)]
pub struct IndexWriter {
    path: PathBuf,
    w: BufWriter<File>,
    pos: u64,
    toc: Toc,
    symbols: Vec<String>,
    /// (name symbol, value symbol) → series refs. Symbol numbers follow string order, so the map iterates in
    /// (name, value) order.
    postings: BTreeMap<(u32, u32), Vec<u32>>,
    all: Vec<u32>,
    last: Labels,
    buf: Vec<u8>,
}

const OP_ADD: &str = "add series to index";

impl IndexWriter {
    /// Creates `path` and writes the header and the symbol table. `symbols` must be sorted and unique and hold
    /// every label name and value of the series to come; the empty string is added when missing, as Prometheus's
    /// symbol tables always hold it.
    pub fn new<S: Into<String>>(
        path: &Path,
        symbols: impl IntoIterator<Item = S>,
    ) -> Result<IndexWriter, Error> {
        let mut syms: Vec<String> = vec![String::new()];
        for s in symbols {
            let s = s.into();
            if s.is_empty() {
                continue;
            }
            if syms.last().is_some_and(|last| *last >= s) {
                return Err(Error::block_invalid(
                    "write index symbols",
                    format!("symbol {s:?} out of order"),
                ));
            }
            syms.push(s);
        }
        let f = File::create(path).map_err(Error::io("create index", path))?;
        let mut iw = IndexWriter {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 20, f),
            pos: 0,
            toc: Toc::default(),
            symbols: Vec::new(),
            postings: BTreeMap::new(),
            all: Vec::new(),
            last: Labels::empty(),
            buf: Vec::new(),
        };
        let mut header = INDEX_MAGIC.to_be_bytes().to_vec();
        header.push(INDEX_FORMAT_V2);
        iw.write(&header)?;

        let mut body = Vec::new();
        body.extend_from_slice(&(syms.len() as u32).to_be_bytes());
        for s in &syms {
            put_uvarint_str(&mut body, s);
        }
        let len = u32::try_from(body.len()).map_err(|_| {
            Error::block_invalid("write index symbols", "symbol table exceeds 4 GiB")
        })?;
        iw.toc.symbols = iw.pos;
        iw.write(&len.to_be_bytes())?;
        iw.write(&body)?;
        iw.write(&crc32c::crc32c(&body).to_be_bytes())?;
        iw.toc.series = iw.pos;
        iw.symbols = syms;
        Ok(iw)
    }

    fn write(&mut self, b: &[u8]) -> Result<(), Error> {
        self.w.write_all(b).map_err(Error::io("write index", &self.path))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, align: u64) -> Result<(), Error> {
        let n = padding(self.pos, align) as usize;
        self.write(&[0u8; 16][..n])
    }

    fn symbol(&self, s: &str) -> Result<u32, Error> {
        self.symbols.binary_search_by(|x| x.as_str().cmp(s)).map(|i| i as u32).map_err(|_| {
            Error::block_invalid(OP_ADD, format!("symbol {s:?} is not in the symbol table"))
        })
    }

    /// Appends a series with its chunks (in time order). Series must come in strictly increasing label order.
    /// Returns the series reference (its offset / 16).
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u32, Error> {
        if *labels <= self.last {
            return Err(Error::block_invalid(
                OP_ADD,
                format!("out-of-order series added with label set {labels}"),
            ));
        }
        self.pad(16)?;
        let series_ref = u32::try_from(self.pos / 16).map_err(|_| {
            Error::block_invalid(OP_ADD, "index exceeds 64 GiB, series references overflow")
        })?;

        let mut entry = std::mem::take(&mut self.buf);
        entry.clear();
        put_uvarint(&mut entry, labels.len() as u64);
        for l in labels.iter() {
            let name = self.symbol(l.name)?;
            let value = self.symbol(l.value)?;
            put_uvarint(&mut entry, u64::from(name));
            put_uvarint(&mut entry, u64::from(value));
            self.postings.entry((name, value)).or_default().push(series_ref);
        }
        put_uvarint(&mut entry, chunks.len() as u64);
        if let Some((first, rest)) = chunks.split_first() {
            put_varint(&mut entry, first.min_time);
            put_uvarint(&mut entry, first.max_time.wrapping_sub(first.min_time) as u64);
            put_uvarint(&mut entry, first.chunk_ref);
            let (mut prev_t, mut prev_ref) = (first.max_time, first.chunk_ref);
            for c in rest {
                put_uvarint(&mut entry, c.min_time.wrapping_sub(prev_t) as u64);
                put_uvarint(&mut entry, c.max_time.wrapping_sub(c.min_time) as u64);
                put_varint(&mut entry, c.chunk_ref.wrapping_sub(prev_ref) as i64);
                prev_t = c.max_time;
                prev_ref = c.chunk_ref;
            }
        }
        let mut len = Vec::with_capacity(5);
        put_uvarint(&mut len, entry.len() as u64);
        let crc = crc32c::crc32c(&entry);
        self.write(&len)?;
        self.write(&entry)?;
        self.write(&crc.to_be_bytes())?;
        self.buf = entry;

        self.all.push(series_ref);
        self.last = labels.clone();
        Ok(series_ref)
    }

    /// Writes a `len | body | CRC` section where the checksum covers the body.
    fn write_section(&mut self, body: &[u8]) -> Result<(), Error> {
        let len = u32::try_from(body.len())
            .map_err(|_| Error::block_invalid("write index", "section exceeds 4 GiB"))?;
        self.write(&len.to_be_bytes())?;
        self.write(body)?;
        self.write(&crc32c::crc32c(body).to_be_bytes())
    }

    /// Writes the label indices, postings, both offset tables and the TOC, then fsyncs the file. Returns the
    /// file's size.
    pub fn finish(mut self) -> Result<u64, Error> {
        let postings = std::mem::take(&mut self.postings);

        // Legacy label indices: one per label name with its value symbols.
        self.toc.label_indices = self.pos;
        let mut label_index_offsets: Vec<(u32, u64)> = Vec::new();
        let mut keys = postings.keys().peekable();
        while let Some(&(name, value)) = keys.next() {
            let mut values = vec![value];
            while let Some(&&(n, v)) = keys.peek() {
                if n != name {
                    break;
                }
                values.push(v);
                keys.next();
            }
            self.pad(4)?;
            label_index_offsets.push((name, self.pos));
            let mut body = Vec::with_capacity(8 + 4 * values.len());
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(&(values.len() as u32).to_be_bytes());
            for v in values {
                body.extend_from_slice(&v.to_be_bytes());
            }
            self.write_section(&body)?;
        }

        // Postings, the all-series list first.
        self.toc.postings = self.pos;
        let mut postings_offsets: Vec<(u32, u32, u64)> = Vec::with_capacity(postings.len() + 1);
        let all = std::mem::take(&mut self.all);
        let lists =
            std::iter::once(((0u32, 0u32), &all)).chain(postings.iter().map(|(k, v)| (*k, v)));
        for ((name, value), refs) in lists {
            self.pad(4)?;
            postings_offsets.push((name, value, self.pos));
            let mut body = Vec::with_capacity(4 + 4 * refs.len());
            body.extend_from_slice(&(refs.len() as u32).to_be_bytes());
            for r in refs {
                body.extend_from_slice(&r.to_be_bytes());
            }
            self.write_section(&body)?;
        }
        drop(postings);

        self.toc.label_indices_table = self.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(label_index_offsets.len() as u32).to_be_bytes());
        for (name, off) in &label_index_offsets {
            put_uvarint(&mut body, 1);
            put_uvarint_str(&mut body, &self.symbols[*name as usize]);
            put_uvarint(&mut body, *off);
        }
        self.write_section(&body)?;

        self.toc.postings_table = self.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(postings_offsets.len() as u32).to_be_bytes());
        for (name, value, off) in &postings_offsets {
            put_uvarint(&mut body, 2);
            put_uvarint_str(&mut body, &self.symbols[*name as usize]);
            put_uvarint_str(&mut body, &self.symbols[*value as usize]);
            put_uvarint(&mut body, *off);
        }
        self.write_section(&body)?;

        let toc = self.toc.encode();
        self.write(&toc)?;
        let path = self.path.clone();
        let f = self.w.into_inner().map_err(|e| Error::io("write index", &path)(e.into_error()))?;
        f.sync_all().map_err(Error::io("sync index", &path))?;
        Ok(self.pos)
    }
}
