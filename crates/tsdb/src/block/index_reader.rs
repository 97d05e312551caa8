//! Reads an index file of format version 2 (see [`super::index_writer`] for the layout). Opening checks the
//! header, the TOC, the symbol table and the postings offset table; postings lists and series entries are checked
//! (bounds and CRC) when read. Nothing in a damaged file can make the reader panic: every offset and length is
//! checked against the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use model::{Label, Labels};

use super::chunks::ChunkMeta;
use super::encoding::{Dec, checked_section, map_file};
use super::index_writer::{INDEX_FORMAT_V2, INDEX_MAGIC, INDEX_TOC_LEN, Toc};
use crate::error::Error;

/// A series as the index stores it: its labels and its chunks' metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    /// The series' labels.
    pub labels: Labels,
    /// Its chunks, in time order.
    pub chunks: Vec<ChunkMeta>,
}

/// A memory-mapped index file.
#[derive(Debug)]
pub struct IndexReader {
    path: PathBuf,
    data: Mmap,
    toc: Toc,
    /// Offset of each symbol's uvarint length, by symbol number.
    symbol_offsets: Vec<u32>,
    /// Label name → (value, absolute offset of its postings list), values sorted.
    postings_table: BTreeMap<String, Vec<(String, u64)>>,
    /// Where the series section ends (the first section after it, or the TOC).
    series_end: u64,
}

impl IndexReader {
    /// Opens and checks an index file.
    pub fn open(path: &Path) -> Result<IndexReader, Error> {
        let len = std::fs::metadata(path).map_err(Error::io("stat index", path))?.len();
        let min = 5 + INDEX_TOC_LEN;
        if len < min {
            return Err(Error::corrupt(
                path,
                format!("index of {len} bytes is shorter than header and TOC ({min} bytes)"),
            ));
        }
        let data = map_file(path, "map index")?;
        IndexReader::from_map(path, data)
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(&self.path, reason)
    }

    fn from_map(path: &Path, data: Mmap) -> Result<IndexReader, Error> {
        let err = |reason: String| Error::corrupt(path, reason);
        let len = data.len() as u64;
        if len < 5 + INDEX_TOC_LEN {
            return Err(err(format!("index of {len} bytes is too short")));
        }
        let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        if magic != INDEX_MAGIC {
            return Err(err(format!("invalid magic number {magic:x}")));
        }
        if data[4] != INDEX_FORMAT_V2 {
            return Err(err(format!("unsupported index format version {}", data[4])));
        }

        let toc_start = (len - INDEX_TOC_LEN) as usize;
        let toc_bytes = &data[toc_start..];
        let stored =
            u32::from_be_bytes([toc_bytes[48], toc_bytes[49], toc_bytes[50], toc_bytes[51]]);
        let computed = crc32c::crc32c(&toc_bytes[..48]);
        if stored != computed {
            return Err(err(format!(
                "read TOC: checksum mismatch: stored {stored:08x}, computed {computed:08x}"
            )));
        }
        let mut d = Dec::new(&toc_bytes[..48]);
        let mut next = || d.be64().map_err(|e| err(format!("read TOC: {e}")));
        let toc = Toc {
            symbols: next()?,
            series: next()?,
            label_indices: next()?,
            label_indices_table: next()?,
            postings: next()?,
            postings_table: next()?,
        };
        for (name, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("label indices", toc.label_indices),
            ("label offset table", toc.label_indices_table),
            ("postings", toc.postings),
            ("postings offset table", toc.postings_table),
        ] {
            if off > toc_start as u64 {
                return Err(err(format!(
                    "TOC: {name} offset {off} is past the TOC at {toc_start}"
                )));
            }
        }
        // The series section ends where the next present section starts.
        let series_end =
            [toc.label_indices, toc.postings, toc.label_indices_table, toc.postings_table]
                .into_iter()
                .filter(|&o| o > toc.series)
                .min()
                .unwrap_or(toc_start as u64);

        let symbols = checked_section(&data, toc.symbols, "read symbols").map_err(&err)?;
        let mut d = Dec::new(symbols);
        let count = d.be32().map_err(|e| err(format!("read symbols: {e}")))?;
        let mut symbol_offsets = Vec::with_capacity((count as usize).min(symbols.len()));
        let body_start = toc.symbols as usize + 4;
        for i in 0..count {
            let off = body_start + d.position();
            d.uvarint_str().map_err(|e| err(format!("read symbol {i}: {e}")))?;
            let off =
                u32::try_from(off).map_err(|_| err("symbol table exceeds 4 GiB".to_string()))?;
            symbol_offsets.push(off);
        }

        let table = checked_section(&data, toc.postings_table, "read postings offset table")
            .map_err(&err)?;
        let mut d = Dec::new(table);
        let count = d.be32().map_err(|e| err(format!("read postings offset table: {e}")))?;
        let mut postings_table: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for i in 0..count {
            let mut entry = || -> Result<(&str, &str, u64), &'static str> {
                if d.uvarint()? != 2 {
                    return Err("unexpected number of keys");
                }
                Ok((d.uvarint_str()?, d.uvarint_str()?, d.uvarint()?))
            };
            let (name, value, off) =
                entry().map_err(|e| err(format!("read postings offset table entry {i}: {e}")))?;
            postings_table.entry(name.to_string()).or_default().push((value.to_string(), off));
        }
        for values in postings_table.values_mut() {
            values.sort();
        }

        Ok(IndexReader {
            path: path.to_path_buf(),
            data,
            toc,
            symbol_offsets,
            postings_table,
            series_end,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The table of contents.
    pub fn toc(&self) -> Toc {
        self.toc
    }

    /// Number of symbols.
    pub fn num_symbols(&self) -> usize {
        self.symbol_offsets.len()
    }

    /// Bytes the symbol table takes in memory (one offset per symbol; the strings stay in the mapped file).
    pub fn symbol_table_size(&self) -> u64 {
        (self.symbol_offsets.len() * std::mem::size_of::<u32>()) as u64
    }

    /// Symbol number `i`.
    pub fn symbol(&self, i: u32) -> Result<&str, Error> {
        let off = *self.symbol_offsets.get(i as usize).ok_or_else(|| {
            self.corrupt(format!("symbol {i} out of range ({})", self.num_symbols()))
        })?;
        // The offsets were validated when opening.
        Dec::new(&self.data[off as usize..])
            .uvarint_str()
            .map_err(|e| self.corrupt(format!("read symbol {i}: {e}")))
    }

    /// Every symbol, in order.
    pub fn symbols(&self) -> impl Iterator<Item = Result<&str, Error>> + '_ {
        (0..self.symbol_offsets.len() as u32).map(|i| self.symbol(i))
    }

    /// Label names, sorted (without the all-postings key).
    pub fn label_names(&self) -> Vec<String> {
        self.postings_table.keys().filter(|n| !n.is_empty()).cloned().collect()
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings_table
            .get(name)
            .map(|vs| vs.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// Values of `name` with their postings offsets, sorted.
    pub(crate) fn label_value_offsets(&self, name: &str) -> &[(String, u64)] {
        self.postings_table.get(name).map_or(&[], Vec::as_slice)
    }

    /// Series references of label pair `name="value"`, sorted; empty when the pair is absent.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u32>, Error> {
        let Some(values) = self.postings_table.get(name) else { return Ok(Vec::new()) };
        match values.binary_search_by(|(v, _)| v.as_str().cmp(value)) {
            Ok(i) => self.postings_at(values[i].1),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Every series reference (the `("", "")` list).
    pub fn all_postings(&self) -> Result<Vec<u32>, Error> {
        self.postings("", "")
    }

    /// The postings list at an absolute offset.
    pub(crate) fn postings_at(&self, off: u64) -> Result<Vec<u32>, Error> {
        if off < self.toc.postings {
            return Err(self.corrupt(format!(
                "postings offset {off} is before the postings section at {}",
                self.toc.postings
            )));
        }
        let body =
            checked_section(&self.data, off, "read postings").map_err(|e| self.corrupt(e))?;
        let mut d = Dec::new(body);
        let count = d.be32().map_err(|e| self.corrupt(format!("read postings at {off}: {e}")))?;
        if u64::from(count) * 4 != d.remaining() as u64 {
            return Err(self.corrupt(format!(
                "postings at {off}: {count} entries do not fill {} bytes",
                d.remaining()
            )));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(d.be32().map_err(|e| self.corrupt(format!("read postings at {off}: {e}")))?);
        }
        Ok(out)
    }

    /// The series with reference `series_ref` (its offset / 16).
    pub fn series(&self, series_ref: u32) -> Result<SeriesEntry, Error> {
        let off = u64::from(series_ref) * 16;
        if off < self.toc.series || off >= self.series_end {
            return Err(self.corrupt(format!(
                "series reference {series_ref} (offset {off}) is outside the series section [{}, {})",
                self.toc.series, self.series_end
            )));
        }
        let region = &self.data[off as usize..self.series_end as usize];
        let err = |e: &str| self.corrupt(format!("read series at offset {off}: {e}"));
        let mut d = Dec::new(region);
        let len = d.uvarint().map_err(err)?;
        let len = usize::try_from(len).map_err(|_| err("length overflows"))?;
        let body = d.bytes(len).map_err(err)?;
        let crc = d.be32().map_err(err)?;
        let computed = crc32c::crc32c(body);
        if crc != computed {
            return Err(err(&format!(
                "checksum mismatch: stored {crc:08x}, computed {computed:08x}"
            )));
        }
        let mut d = Dec::new(body);
        let nlabels = d.uvarint().map_err(err)?;
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity((nlabels as usize).min(64));
        for _ in 0..nlabels {
            let name = d.uvarint32().map_err(err)?;
            let value = d.uvarint32().map_err(err)?;
            pairs.push((self.symbol(name)?, self.symbol(value)?));
        }
        if pairs.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(err("label names are not sorted and unique"));
        }
        let labels = Labels::from_sorted(pairs.iter().map(|&(name, value)| Label { name, value }));

        let nchunks = d.uvarint().map_err(err)?;
        let mut chunks = Vec::with_capacity((nchunks as usize).min(body.len()));
        if nchunks > 0 {
            let min_time = d.varint().map_err(err)?;
            let max_time = min_time.wrapping_add(d.uvarint().map_err(err)? as i64);
            let chunk_ref = d.uvarint().map_err(err)?;
            chunks.push(ChunkMeta { min_time, max_time, chunk_ref });
            let (mut prev_t, mut prev_ref) = (max_time, chunk_ref);
            for _ in 1..nchunks {
                let min_time = prev_t.wrapping_add(d.uvarint().map_err(err)? as i64);
                let max_time = min_time.wrapping_add(d.uvarint().map_err(err)? as i64);
                let chunk_ref = prev_ref.wrapping_add(d.varint().map_err(err)? as u64);
                chunks.push(ChunkMeta { min_time, max_time, chunk_ref });
                prev_t = max_time;
                prev_ref = chunk_ref;
            }
        }
        if d.remaining() != 0 {
            return Err(err("trailing bytes after the chunk list"));
        }
        Ok(SeriesEntry { labels, chunks })
    }
}
