//! Writing segments: [`SegmentWriter`] packs records into the pages of one segment file exactly the way
//! Prometheus's `wlog.WL.log` does (so the same records give the same bytes), and [`LogWriter`] adds
//! compression and rolling over to the next segment when a record does not fit.
//!
//! Packing rules: a page with fewer than 7 bytes left is zero-padded and written out before anything else; a
//! record is cut into fragments of at most what is left in the current page minus the header (a fragment may be
//! empty when exactly 7 bytes are left, as in Prometheus); a page is written out as soon as it is full, and the
//! partial page only on [`LogWriter::flush`] (done at the end of every batch). Closing a segment zero-pads its
//! last page and fsyncs it.
//!
//! Write errors: the record being written when an I/O error happens is cut off again before anything else is
//! written (the segment is truncated at the record's start, zero-padded and closed, and writing goes on in a new
//! segment), so a failed write never leaves a half record in front of later ones.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::Error;
use crate::metrics::{DurationLog, DurationTotals};
use crate::wal::segment::{
    Compression, FLAG_SNAPPY, FRAG_FIRST, FRAG_FULL, FRAG_LAST, FRAG_MIDDLE, HEADER_SIZE,
    PAGE_SIZE, Position, segment_file, sync_dir,
};

/// What the writers of one log did, across its segments (Prometheus's `prometheus_tsdb_wal_page_flushes_total`,
/// `_completed_pages_total` and `_fsync_duration_seconds`).
#[derive(Debug, Default)]
pub(crate) struct PageCounters {
    /// Writes of the current page to the file: at the end of every batch and whenever a page is complete.
    page_flushes: AtomicU64,
    /// Pages written out to their end (full, or padded before a segment is closed).
    completed_pages: AtomicU64,
    fsyncs: parking_lot::Mutex<DurationLog>,
}

impl PageCounters {
    pub(crate) fn page_flushes(&self) -> u64 {
        self.page_flushes.load(Ordering::Relaxed)
    }

    pub(crate) fn completed_pages(&self) -> u64 {
        self.completed_pages.load(Ordering::Relaxed)
    }

    pub(crate) fn fsync_totals(&self) -> DurationTotals {
        self.fsyncs.lock().totals
    }

    pub(crate) fn take_fsync_durations(&self) -> Vec<(Instant, f64)> {
        self.fsyncs.lock().take_recent()
    }
}

/// One segment file being written, page by page.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    counters: Arc<PageCounters>,
    index: u32,
    path: PathBuf,
    file: File,
    page: Vec<u8>,
    /// Bytes of the current page in use.
    alloc: usize,
    /// Bytes of the current page already written to the file.
    flushed: usize,
    /// Complete pages in the file before the current one.
    done_pages: u64,
}

impl SegmentWriter {
    /// Creates segment file `path` (which must not exist) for writing from offset 0, counting page writes and
    /// fsyncs into `counters`.
    pub(crate) fn create(
        path: PathBuf,
        index: u32,
        counters: Arc<PageCounters>,
    ) -> Result<SegmentWriter, Error> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io("create segment", &path))?;
        Ok(SegmentWriter {
            counters,
            index,
            path,
            file,
            page: vec![0; PAGE_SIZE],
            alloc: 0,
            flushed: 0,
            done_pages: 0,
        })
    }

    /// Continues `file`, whose first `offset` bytes are already written: further records are packed right
    /// after them. `last_page` must end with the bytes of the partial last page (`offset % PAGE_SIZE` of them).
    pub(crate) fn resume(
        path: PathBuf,
        file: File,
        index: u32,
        offset: u64,
        last_page: &[u8],
    ) -> SegmentWriter {
        let alloc = (offset % PAGE_SIZE as u64) as usize;
        let mut page = vec![0; PAGE_SIZE];
        page[..alloc].copy_from_slice(&last_page[last_page.len() - alloc..]);
        SegmentWriter {
            counters: Arc::default(),
            index,
            path,
            file,
            page,
            alloc,
            flushed: alloc,
            done_pages: offset / PAGE_SIZE as u64,
        }
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Byte offset where the next fragment would go (before any padding of a full page).
    pub(crate) fn offset(&self) -> u64 {
        self.done_pages * PAGE_SIZE as u64 + self.alloc as u64
    }

    /// Byte offset up to which the file holds everything written.
    pub(crate) fn flushed_offset(&self) -> u64 {
        self.done_pages * PAGE_SIZE as u64 + self.flushed as u64
    }

    /// Whether nothing was written to this segment yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.done_pages == 0 && self.alloc == 0
    }

    fn page_full(&self) -> bool {
        PAGE_SIZE - self.alloc < HEADER_SIZE
    }

    /// Writes out the rest of the current page and starts a fresh one; everything after `alloc` is zeros.
    fn complete_page(&mut self) -> Result<(), Error> {
        self.alloc = PAGE_SIZE;
        self.counters.page_flushes.fetch_add(1, Ordering::Relaxed);
        self.write_pending()?;
        self.page.fill(0);
        self.alloc = 0;
        self.flushed = 0;
        self.done_pages += 1;
        self.counters.completed_pages.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), Error> {
        if self.flushed < self.alloc {
            self.file
                .write_all(&self.page[self.flushed..self.alloc])
                .map_err(Error::io("write segment", &self.path))?;
            self.flushed = self.alloc;
        }
        Ok(())
    }

    /// Pads and writes out the current page if no fragment header fits into it any more.
    pub(crate) fn pad_if_full(&mut self) -> Result<(), Error> {
        if self.page_full() { self.complete_page() } else { Ok(()) }
    }

    /// Payload bytes that still fit into a segment of `segment_size` bytes, one header per page. Negative once
    /// an oversized record made the segment larger than that. Call after [`SegmentWriter::pad_if_full`].
    pub(crate) fn capacity(&self, segment_size: u64) -> i64 {
        let pages = (segment_size / PAGE_SIZE as u64) as i64;
        let in_page = (PAGE_SIZE - self.alloc - HEADER_SIZE) as i64;
        in_page + (PAGE_SIZE - HEADER_SIZE) as i64 * (pages - self.done_pages as i64 - 1)
    }

    /// Appends one record's (possibly compressed) bytes as fragments; `flags` is OR-ed into every type byte.
    /// Full pages are written out; the partial page stays in memory until [`SegmentWriter::flush`].
    pub(crate) fn append(&mut self, mut data: &[u8], flags: u8) -> Result<(), Error> {
        self.pad_if_full()?;
        let mut first = true;
        loop {
            let room = PAGE_SIZE - self.alloc - HEADER_SIZE;
            let n = data.len().min(room);
            let kind = match (first, n == data.len()) {
                (true, true) => FRAG_FULL,
                (true, false) => FRAG_FIRST,
                (false, true) => FRAG_LAST,
                (false, false) => FRAG_MIDDLE,
            };
            let (part, rest) = data.split_at(n);
            let buf = &mut self.page[self.alloc..self.alloc + HEADER_SIZE + n];
            buf[0] = kind | flags;
            buf[1..3].copy_from_slice(&(n as u16).to_be_bytes());
            buf[3..7].copy_from_slice(&crc32c::crc32c(part).to_be_bytes());
            buf[HEADER_SIZE..].copy_from_slice(part);
            self.alloc += HEADER_SIZE + n;
            self.pad_if_full()?;
            data = rest;
            first = false;
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// Writes the used part of the current page to the file (no fsync).
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.counters.page_flushes.fetch_add(1, Ordering::Relaxed);
        self.write_pending()
    }

    /// Fsyncs the file's data.
    pub(crate) fn sync(&self) -> Result<(), Error> {
        let started = Instant::now();
        let res = self.file.sync_data().map_err(Error::io("sync segment", &self.path));
        self.counters.fsyncs.lock().observe(started.elapsed());
        res
    }

    /// Zero-pads the last page, writes it and fsyncs the file.
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        if self.alloc > 0 {
            self.complete_page()?;
        }
        self.sync()
    }

    /// Cuts the file back to `record_start` after a failed write: the bytes before it stay, the rest of that
    /// page becomes zero padding, later pages are removed, and the file is fsynced. The writer must not be used
    /// for appending afterwards.
    pub(crate) fn abandon_from(&mut self, record_start: u64) -> Result<(), Error> {
        let page = PAGE_SIZE as u64;
        let page_start = record_start / page * page;
        let in_page = (record_start - page_start) as usize;
        let err = Error::io("cut segment after failed write", &self.path);
        if in_page == 0 && page_start >= self.done_pages * page {
            self.file.set_len(page_start).map_err(&err)?;
        } else if page_start == self.done_pages * page {
            // The record starts in the page still held in memory: rewrite that page from its start.
            self.file.set_len(page_start).map_err(&err)?;
            self.page[in_page..].fill(0);
            self.file.write_all(&self.page).map_err(&err)?;
        } else {
            // That page was written in full already: keep the file up to the record and pad.
            self.file.set_len(record_start).map_err(&err)?;
            self.file.write_all(&vec![0; PAGE_SIZE - in_page]).map_err(&err)?;
        }
        self.file.sync_data().map_err(err)?;
        self.done_pages = record_start.div_ceil(page);
        self.page.fill(0);
        self.alloc = 0;
        self.flushed = 0;
        Ok(())
    }
}

/// Writes records to the numbered segments of a directory, compressing them and rolling over to the next
/// segment when one is full.
#[derive(Debug)]
pub(crate) struct LogWriter {
    dir: PathBuf,
    segment_size: u64,
    compression: Compression,
    seg: SegmentWriter,
    /// Start of the record whose write failed; it is cut off before the next write.
    failed_record: Option<u64>,
    /// Whether data was written since the last fsync.
    dirty: bool,
    snappy: snap::raw::Encoder,
    compressed: Vec<u8>,
}

impl LogWriter {
    /// Creates segment `index` in `dir` (which must not exist yet) and fsyncs the directory.
    pub(crate) fn create(
        dir: &Path,
        index: u32,
        segment_size: u64,
        compression: Compression,
    ) -> Result<LogWriter, Error> {
        let seg = SegmentWriter::create(segment_file(dir, index), index, Arc::default())?;
        sync_dir(dir)?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            segment_size,
            compression,
            seg,
            failed_record: None,
            dirty: false,
            snappy: snap::raw::Encoder::new(),
            compressed: Vec::new(),
        })
    }

    /// The segment being written.
    pub(crate) fn segment(&self) -> u32 {
        self.seg.index()
    }

    /// Where the next record would start.
    pub(crate) fn position(&self) -> Position {
        Position { segment: self.seg.index(), offset: self.seg.offset() }
    }

    /// Whether data was written since the last fsync.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Page and fsync counts of every segment this writer wrote.
    pub(crate) fn counters(&self) -> &PageCounters {
        &self.seg.counters
    }

    /// Appends `records` in order and writes the partial page out at the end (no fsync).
    pub(crate) fn log<'r>(
        &mut self,
        records: impl IntoIterator<Item = &'r [u8]>,
    ) -> Result<(), Error> {
        self.recover()?;
        for rec in records {
            self.log_one(rec)?;
        }
        self.flush_page()
    }

    /// Writes out the partial page; if that fails, what was not written is cut off before the next write.
    fn flush_page(&mut self) -> Result<(), Error> {
        let unflushed = self.seg.flushed_offset();
        self.seg.flush().inspect_err(|_| self.failed_record = Some(unflushed))
    }

    fn log_one(&mut self, rec: &[u8]) -> Result<(), Error> {
        let mut flags = 0;
        let mut data = rec;
        if self.compression == Compression::Snappy {
            self.compressed.resize(snap::raw::max_compress_len(rec.len()), 0);
            // Only worth it when smaller, as in Prometheus; inputs snappy refuses (4 GiB and up) stay raw.
            if let Ok(n) = self.snappy.compress(rec, &mut self.compressed)
                && n < rec.len()
            {
                flags = FLAG_SNAPPY;
                data = &self.compressed[..n];
            }
        }
        let before = (self.seg.index(), self.seg.offset());
        self.dirty = true;
        let result = Self::place(&self.dir, &mut self.seg, self.segment_size, data.len())
            .and_then(|()| self.seg.append(data, flags));
        if let Err(e) = result {
            // Cut from where this record's padding or segment roll began (the new segment's start if it rolled).
            self.failed_record = Some(if self.seg.index() == before.0 { before.1 } else { 0 });
            return Err(e);
        }
        Ok(())
    }

    /// Pads a full page and rolls to a new segment if a record of `len` bytes does not fit into this one (unless
    /// the segment is empty: then the record gets an oversized segment of its own).
    fn place(
        dir: &Path,
        seg: &mut SegmentWriter,
        segment_size: u64,
        len: usize,
    ) -> Result<(), Error> {
        seg.pad_if_full()?;
        if len as i64 > seg.capacity(segment_size) && !seg.is_empty() {
            Self::roll(dir, seg)?;
        }
        Ok(())
    }

    /// After a failed write: cuts the failed record off and continues in a new segment, or in the same one
    /// again when nothing valid was written to it (so a disk that stays full does not leave a trail of empty
    /// segments).
    fn recover(&mut self) -> Result<(), Error> {
        if let Some(start) = self.failed_record {
            self.seg.abandon_from(start)?;
            self.failed_record = None;
            let mut index = self.seg.index() + 1;
            if start == 0 {
                index -= 1;
                let path = segment_file(&self.dir, index);
                std::fs::remove_file(&path).map_err(Error::io("remove empty segment", &path))?;
            }
            let counters = self.seg.counters.clone();
            let next = SegmentWriter::create(segment_file(&self.dir, index), index, counters)?;
            self.seg = next;
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Closes the current segment (padding + fsync) and creates the next one.
    fn roll(dir: &Path, seg: &mut SegmentWriter) -> Result<(), Error> {
        seg.finish()?;
        let index = seg.index() + 1;
        let counters = seg.counters.clone();
        *seg = SegmentWriter::create(segment_file(dir, index), index, counters)?;
        sync_dir(dir)
    }

    /// Closes the current segment and starts the next one, returning its number.
    pub(crate) fn next_segment(&mut self) -> Result<u32, Error> {
        self.recover()?;
        let before = (self.seg.index(), self.seg.offset());
        if let Err(e) = Self::roll(&self.dir, &mut self.seg) {
            self.failed_record = Some(if self.seg.index() == before.0 { before.1 } else { 0 });
            return Err(e);
        }
        self.dirty = false;
        Ok(self.seg.index())
    }

    /// Writes out the partial page (no fsync).
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.recover()?;
        self.flush_page()
    }

    /// Writes out the partial page and fsyncs the segment.
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        self.flush()?;
        self.seg.sync()?;
        self.dirty = false;
        Ok(())
    }

    /// Pads the last page and fsyncs the segment.
    pub(crate) fn close(mut self) -> Result<(), Error> {
        self.recover()?;
        self.seg.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag_headers(b: &[u8]) -> Vec<(usize, u8, u16)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < b.len() {
            let in_page = pos % PAGE_SIZE;
            if PAGE_SIZE - in_page < HEADER_SIZE || b[pos] == 0 {
                pos += PAGE_SIZE - in_page;
                continue;
            }
            let len = u16::from_be_bytes([b[pos + 1], b[pos + 2]]);
            out.push((pos, b[pos], len));
            pos += HEADER_SIZE + len as usize;
        }
        out
    }

    #[test]
    fn packs_like_prometheus() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000");
        let mut w = SegmentWriter::create(path.clone(), 0, Arc::default()).expect("create");
        // Leaves exactly 7 bytes in the first page: the next record starts with an empty first fragment.
        w.append(&vec![1; PAGE_SIZE - 2 * HEADER_SIZE], 0).expect("append");
        w.append(&[2; 10], 0).expect("append");
        w.append(&vec![3; PAGE_SIZE], 0).expect("append");
        w.finish().expect("finish");
        let b = std::fs::read(&path).expect("read");
        assert_eq!(b.len(), 3 * PAGE_SIZE);
        assert_eq!(
            frag_headers(&b),
            vec![
                (0, FRAG_FULL, (PAGE_SIZE - 14) as u16),
                (PAGE_SIZE - 7, FRAG_FIRST, 0),
                (PAGE_SIZE, FRAG_LAST, 10),
                (PAGE_SIZE + 17, FRAG_FIRST, (PAGE_SIZE - 24) as u16),
                (2 * PAGE_SIZE, FRAG_LAST, 24),
            ]
        );
        assert!(b[2 * PAGE_SIZE + 31..].iter().all(|&c| c == 0));
    }

    #[test]
    fn capacity_counts_one_header_per_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w =
            SegmentWriter::create(dir.path().join("00000000"), 0, Arc::default()).expect("create");
        assert_eq!(w.capacity(2 * PAGE_SIZE as u64), 2 * (PAGE_SIZE - HEADER_SIZE) as i64);
    }

    #[test]
    fn abandon_cuts_the_failed_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000");
        let mut w = SegmentWriter::create(path.clone(), 0, Arc::default()).expect("create");
        w.append(&[1; 100], 0).expect("append");
        let start = w.offset();
        w.append(&vec![2; 2 * PAGE_SIZE], 0).expect("append");
        w.abandon_from(start).expect("abandon");
        let b = std::fs::read(&path).expect("read");
        assert_eq!(b.len(), PAGE_SIZE);
        assert_eq!(frag_headers(&b), vec![(0, FRAG_FULL, 100)]);
        assert!(b[107..].iter().all(|&c| c == 0));
    }
}
