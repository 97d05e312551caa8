//! Reading segments: [`WalReader`] reassembles records from their fragments across the segments of one or more
//! directories (a checkpoint, then the WAL), checks every CRC, page padding and the fragment sequence, and
//! decompresses snappy records. [`Replay`] decodes what it reads into [`Record`]s.
//!
//! Damage is reported as [`Error::WalCorruption`] with the directory, segment and byte offset, and reading stops
//! there. Segment ends behave like Prometheus's segment reader: a short last page is as good as one padded with
//! zeros, but a record never continues into the next segment.
//!
//! **Torn tail.** With [`ReadOptions::tolerate_torn_tail`], the end of the *last* segment read may be an
//! unfinished write, which ends reading cleanly instead of being an error ([`WalReader::torn_tail`] says where
//! the valid data ends). The cases: the file ends inside a fragment; the file ends while a record's fragments are
//! incomplete; or a fragment fails its checksum and nothing but zero bytes follows it in the file (a crash can
//! leave zero-filled blocks at the end of a file).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Corruption, CorruptionKind, Error, segment_path};
use crate::wal::record::{Record, decode};
use crate::wal::segment::{
    FLAG_SNAPPY, FLAG_ZSTD, FRAG_FIRST, FRAG_FULL, FRAG_KIND_MASK, FRAG_LAST, FRAG_MIDDLE,
    FRAG_PAGE_TERM, HEADER_SIZE, PAGE_SIZE, Position, kind_name, list_segments,
};

/// A run of segments of one directory to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRange {
    /// The directory holding the segments.
    pub dir: PathBuf,
    /// First segment to read (`None`: the lowest present).
    pub first: Option<u32>,
    /// Last segment to read (`None`: the highest present).
    pub last: Option<u32>,
    /// Byte offset to start at in the first segment read; must be a record boundary.
    pub first_offset: u64,
}

impl SegmentRange {
    /// Every segment in `dir`.
    pub fn all(dir: impl Into<PathBuf>) -> SegmentRange {
        SegmentRange { dir: dir.into(), first: None, last: None, first_offset: 0 }
    }

    /// Segments `first..=last` of `dir`, either end open when `None`.
    pub fn new(dir: impl Into<PathBuf>, first: Option<u32>, last: Option<u32>) -> SegmentRange {
        SegmentRange { dir: dir.into(), first, last, first_offset: 0 }
    }
}

/// How a [`WalReader`] treats the end of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Accept an unfinished write at the end of the last segment (see the module docs).
    pub tolerate_torn_tail: bool,
}

/// A record as read: where it is and its decompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Directory of the segment.
    pub dir: &'a Path,
    /// Segment number.
    pub segment: u32,
    /// Offset of the record's first fragment in the segment.
    pub offset: u64,
    /// Offset just past the record's last fragment.
    pub end: u64,
    /// The record's bytes, decompressed.
    pub data: &'a [u8],
}

#[derive(Debug)]
struct Source {
    dir: usize,
    segment: u32,
    start: u64,
}

/// One open segment file, read page by page.
#[derive(Debug)]
struct Cursor {
    dir: usize,
    segment: u32,
    path: PathBuf,
    file: File,
    page: Vec<u8>,
    /// Valid bytes in `page` (less than a page only at the end of the file).
    page_len: usize,
    /// File offset of `page[0]`.
    page_start: u64,
    /// Read position in `page`.
    pos: usize,
    /// Whether this is the last segment of the read, where a torn tail may be tolerated.
    is_tail: bool,
}

/// What [`Cursor::fragment`] found.
enum Frag {
    Data { offset: u64, type_byte: u8, len: usize },
    End,
}

/// Damage found in the fragment structure.
struct Damage {
    offset: u64,
    kind: CorruptionKind,
    /// The file ends inside the fragment.
    truncated: bool,
    /// Where the damaged fragment claims to end, if its length was plausible.
    frag_end: Option<u64>,
}

impl Cursor {
    fn open(
        path: PathBuf,
        dir: usize,
        segment: u32,
        start: u64,
        is_tail: bool,
    ) -> io::Result<Cursor> {
        let mut file = File::open(&path)?;
        let page_start = start / PAGE_SIZE as u64 * PAGE_SIZE as u64;
        if page_start > 0 {
            file.seek(SeekFrom::Start(page_start))?;
        }
        let mut c = Cursor {
            dir,
            segment,
            path,
            file,
            page: vec![0; PAGE_SIZE],
            page_len: 0,
            page_start,
            pos: 0,
            is_tail,
        };
        c.fill_page()?;
        c.pos = ((start - page_start) as usize).min(c.page_len);
        Ok(c)
    }

    fn offset(&self) -> u64 {
        self.page_start + self.pos as u64
    }

    fn fill_page(&mut self) -> io::Result<()> {
        let mut n = 0;
        while n < PAGE_SIZE {
            match self.file.read(&mut self.page[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.page_len = n;
        Ok(())
    }

    /// Moves to the next page; false at the end of the file.
    fn next_page(&mut self) -> io::Result<bool> {
        if self.page_len < PAGE_SIZE {
            self.pos = self.page_len;
            return Ok(false);
        }
        self.page_start += PAGE_SIZE as u64;
        self.pos = 0;
        self.fill_page()?;
        Ok(self.page_len > 0)
    }

    /// The next fragment header (its data is `page[pos - len..pos]` afterwards), skipping zero padding.
    fn fragment(&mut self) -> io::Result<Result<Frag, Damage>> {
        loop {
            if self.pos >= self.page_len {
                if !self.next_page()? {
                    return Ok(Ok(Frag::End));
                }
                continue;
            }
            let offset = self.offset();
            let type_byte = self.page[self.pos];
            if type_byte == FRAG_PAGE_TERM {
                if self.page[self.pos..self.page_len].iter().any(|&b| b != 0) {
                    return Ok(Err(self.damage(offset, CorruptionKind::NonZeroPadding)));
                }
                self.pos = self.page_len;
                continue;
            }
            if PAGE_SIZE - self.pos < HEADER_SIZE {
                return Ok(Err(self.damage(offset, CorruptionKind::HeaderCrossesPage)));
            }
            if self.page_len - self.pos < HEADER_SIZE {
                let mut d = self.damage(offset, CorruptionKind::TruncatedFragment);
                d.truncated = true;
                return Ok(Err(d));
            }
            let h = &self.page[self.pos..self.pos + HEADER_SIZE];
            let len = u16::from_be_bytes([h[1], h[2]]);
            let stored = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
            let kind = type_byte & FRAG_KIND_MASK;
            if kind == FRAG_PAGE_TERM || kind > FRAG_LAST {
                return Ok(
                    Err(self.damage(offset, CorruptionKind::InvalidFragmentType(type_byte))),
                );
            }
            let data_start = self.pos + HEADER_SIZE;
            let data_end = data_start + len as usize;
            if data_end > PAGE_SIZE {
                return Ok(Err(self.damage(offset, CorruptionKind::FragmentOverflowsPage { len })));
            }
            if data_end > self.page_len {
                let mut d = self.damage(offset, CorruptionKind::TruncatedFragment);
                d.truncated = true;
                return Ok(Err(d));
            }
            let computed = crc32c::crc32c(&self.page[data_start..data_end]);
            if computed != stored {
                let mut d = self.damage(offset, CorruptionKind::Checksum { stored, computed });
                d.frag_end = Some(self.page_start + data_end as u64);
                return Ok(Err(d));
            }
            self.pos = data_end;
            return Ok(Ok(Frag::Data { offset, type_byte, len: len as usize }));
        }
    }

    fn damage(&self, offset: u64, kind: CorruptionKind) -> Damage {
        Damage { offset, kind, truncated: false, frag_end: None }
    }

    /// Whether every byte of the file from `from` (in the current page or later) on is zero. Consumes the rest
    /// of the file.
    fn rest_is_zero(&mut self, from: u64) -> io::Result<bool> {
        let mut start = (from.saturating_sub(self.page_start) as usize).min(self.page_len);
        loop {
            if self.page[start..self.page_len].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            if !self.next_page()? {
                return Ok(true);
            }
            start = 0;
        }
    }

    /// Continues at the start of the next page (after damage).
    fn skip_page(&mut self) {
        self.pos = self.page_len;
    }
}

/// Reads records from a sequence of segments. See the module docs.
#[derive(Debug)]
pub struct WalReader {
    dirs: Vec<PathBuf>,
    sources: Vec<Source>,
    next_source: usize,
    cur: Option<Cursor>,
    opts: ReadOptions,
    /// Keep going after damage, recording it (used by repair).
    salvage: bool,
    damages: Vec<(u64, CorruptionKind)>,
    /// Salvage skipped to a new page after damage and has not seen the start of a record since.
    resyncing: bool,
    /// Fragment data of the record being assembled, as stored.
    stored: Vec<u8>,
    stored_flags: u8,
    /// Offset of the first fragment of the record being assembled.
    in_progress: Option<u64>,
    record: Vec<u8>,
    record_at: (usize, u32, u64, u64),
    snappy: snap::raw::Decoder,
    torn_tail: Option<(PathBuf, Position)>,
    failed: bool,
}

impl WalReader {
    /// Reads every segment of `dir`, accepting a torn tail (for looking at a WAL another process may be
    /// writing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<WalReader, Error> {
        WalReader::new(&[SegmentRange::all(dir)], ReadOptions { tolerate_torn_tail: true })
    }

    /// Reads the given ranges in order. Segment lists are taken now; files are opened as reading reaches them.
    pub fn new(ranges: &[SegmentRange], opts: ReadOptions) -> Result<WalReader, Error> {
        let mut dirs = Vec::new();
        let mut sources = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            dirs.push(r.dir.clone());
            let mut first_read = true;
            for segment in list_segments(&r.dir)? {
                if r.first.is_some_and(|f| segment < f) || r.last.is_some_and(|l| segment > l) {
                    continue;
                }
                let start = if first_read { r.first_offset } else { 0 };
                first_read = false;
                sources.push(Source { dir: i, segment, start });
            }
        }
        Ok(WalReader {
            dirs,
            sources,
            next_source: 0,
            cur: None,
            opts,
            salvage: false,
            damages: Vec::new(),
            resyncing: false,
            stored: Vec::new(),
            stored_flags: 0,
            in_progress: None,
            record: Vec::new(),
            record_at: (0, 0, 0, 0),
            snappy: snap::raw::Decoder::new(),
            torn_tail: None,
            failed: false,
        })
    }

    /// A reader of one segment that never stops at damage: it drops what is damaged, resynchronises at the next
    /// page and records every damage in [`WalReader::damages`].
    pub(crate) fn salvage(dir: &Path, segment: u32) -> WalReader {
        WalReader {
            dirs: vec![dir.to_path_buf()],
            sources: vec![Source { dir: 0, segment, start: 0 }],
            salvage: true,
            ..WalReader::new(&[], ReadOptions::default()).expect("no ranges to list")
        }
    }

    /// Damage met so far in salvage mode: offset and kind, in file order.
    pub(crate) fn damages(&self) -> &[(u64, CorruptionKind)] {
        &self.damages
    }

    /// The stored bytes of the last record returned and whether they are snappy-compressed.
    pub(crate) fn stored(&self) -> (&[u8], u8) {
        (&self.stored, self.stored_flags)
    }

    /// Where the valid data of the last segment ended when a torn tail was accepted: the directory and the
    /// position of the first byte that is not part of a complete record.
    pub fn torn_tail(&self) -> Option<(&Path, Position)> {
        self.torn_tail.as_ref().map(|(d, p)| (d.as_path(), *p))
    }

    /// The segments this reader will read, in order, with their directories.
    pub fn segments(&self) -> impl Iterator<Item = (&Path, u32)> {
        self.sources.iter().map(|s| (self.dirs[s.dir].as_path(), s.segment))
    }

    /// The next record, or `None` at the end. After an error, always `None`.
    pub fn next_record(&mut self) -> Result<Option<RawRecord<'_>>, Error> {
        if self.failed {
            return Ok(None);
        }
        match self.advance() {
            Ok(true) => {
                let (dir, segment, offset, end) = self.record_at;
                Ok(Some(RawRecord {
                    dir: &self.dirs[dir],
                    segment,
                    offset,
                    end,
                    data: &self.record,
                }))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn corruption(&self, c: &Cursor, offset: u64, kind: CorruptionKind) -> Error {
        Error::WalCorruption(Corruption {
            dir: self.dirs[c.dir].clone(),
            segment: c.segment,
            offset,
            kind,
        })
    }

    /// Assembles the next record into `self.record`; false at the end of all segments.
    fn advance(&mut self) -> Result<bool, Error> {
        loop {
            let Some(mut c) = self.cur.take() else {
                let Some(s) = self.sources.get(self.next_source) else {
                    return Ok(false);
                };
                self.next_source += 1;
                let path = segment_path(&self.dirs[s.dir], s.segment);
                let is_tail = self.next_source == self.sources.len();
                let c = Cursor::open(path.clone(), s.dir, s.segment, s.start, is_tail)
                    .map_err(Error::io("open segment", path))?;
                self.in_progress = None;
                self.resyncing = false;
                self.cur = Some(c);
                continue;
            };
            let step = c.fragment().map_err(Error::io("read segment", &c.path))?;
            match self.on_fragment(&mut c, step) {
                Ok(Some(true)) => {
                    let done = self.finish_record(&c);
                    self.cur = Some(c);
                    if done? {
                        return Ok(true);
                    }
                }
                Ok(Some(false)) => self.cur = Some(c),
                // End of this segment (or a tolerated torn tail): go on with the next one.
                Ok(None) => {}
                Err(e) => {
                    self.cur = Some(c);
                    return Err(e);
                }
            }
        }
    }

    /// Handles one step of the fragment walk: `Some(true)` when a record is complete, `Some(false)` to keep
    /// going in this segment, `None` when the segment is done.
    fn on_fragment(
        &mut self,
        c: &mut Cursor,
        step: Result<Frag, Damage>,
    ) -> Result<Option<bool>, Error> {
        let (offset, type_byte, len) = match step {
            Ok(Frag::Data { offset, type_byte, len }) => (offset, type_byte, len),
            Ok(Frag::End) => {
                let Some(start) = self.in_progress.take() else {
                    return Ok(None);
                };
                if self.tolerates_tail(c) {
                    self.set_torn_tail(c, start);
                    return Ok(None);
                }
                return self.damaged(c, start, CorruptionKind::IncompleteRecord).map(|()| None);
            }
            Err(d) => {
                let tail_start = self.in_progress.unwrap_or(d.offset);
                if self.tolerates_tail(c) {
                    let torn = d.truncated
                        || (matches!(d.kind, CorruptionKind::Checksum { .. })
                            && c.rest_is_zero(d.frag_end.unwrap_or(d.offset))
                                .map_err(Error::io("read segment", &c.path))?);
                    if torn {
                        self.in_progress = None;
                        self.set_torn_tail(c, tail_start);
                        return Ok(None);
                    }
                }
                self.damaged(c, d.offset, d.kind)?;
                self.in_progress = None;
                if d.truncated {
                    return Ok(None);
                }
                c.skip_page();
                self.resyncing = true;
                return Ok(Some(false));
            }
        };
        if type_byte & FLAG_ZSTD != 0 {
            return Err(Error::WalUnsupported {
                dir: self.dirs[c.dir].clone(),
                segment: c.segment,
                offset,
                what: "zstd-compressed record",
            });
        }
        let kind = type_byte & FRAG_KIND_MASK;
        let data = &c.page[c.pos - len..c.pos];
        match (kind, self.in_progress) {
            (FRAG_FULL | FRAG_FIRST, Some(_)) => {
                // The open record lost its end; salvage drops it and starts over with this fragment.
                self.damaged(c, offset, CorruptionKind::UnexpectedFragment(kind_name(kind)))?;
                self.in_progress = None;
                return self.on_fragment(c, Ok(Frag::Data { offset, type_byte, len }));
            }
            (FRAG_MIDDLE | FRAG_LAST, None) => {
                // A continuation of a record whose start is lost: salvage skips it. Right after skipping to a
                // new page that is expected and not recorded as more damage.
                if !self.resyncing {
                    self.damaged(c, offset, CorruptionKind::UnexpectedFragment(kind_name(kind)))?;
                }
                return Ok(Some(false));
            }
            (FRAG_FULL | FRAG_FIRST, None) => {
                self.in_progress = Some(offset);
                self.resyncing = false;
                self.stored.clear();
            }
            _ => {}
        }
        self.stored.extend_from_slice(data);
        self.stored_flags = type_byte & FLAG_SNAPPY;
        if kind == FRAG_FULL || kind == FRAG_LAST {
            let start = self.in_progress.take().expect("a record is open");
            self.record_at = (c.dir, c.segment, start, c.offset());
            return Ok(Some(true));
        }
        Ok(Some(false))
    }

    /// Salvage mode records damage and goes on; otherwise it is the error.
    fn damaged(&mut self, c: &Cursor, offset: u64, kind: CorruptionKind) -> Result<(), Error> {
        if !self.salvage {
            return Err(self.corruption(c, offset, kind));
        }
        self.damages.push((offset, kind));
        Ok(())
    }

    fn tolerates_tail(&self, c: &Cursor) -> bool {
        self.opts.tolerate_torn_tail && c.is_tail && !self.salvage
    }

    fn set_torn_tail(&mut self, c: &Cursor, offset: u64) {
        self.torn_tail = Some((self.dirs[c.dir].clone(), Position { segment: c.segment, offset }));
    }

    /// Decompresses the assembled record into `self.record`. False when salvage dropped it.
    fn finish_record(&mut self, c: &Cursor) -> Result<bool, Error> {
        self.record.clear();
        if self.stored_flags & FLAG_SNAPPY == 0 {
            self.record.extend_from_slice(&self.stored);
            return Ok(true);
        }
        let start = self.record_at.2;
        let result =
            snap::raw::decompress_len(&self.stored).map_err(|e| e.to_string()).and_then(|n| {
                // Snappy expands at most ~21x; a larger claim is damage, not a reason to allocate.
                if n > self.stored.len().saturating_mul(32) + 64 {
                    return Err(format!("claimed length {n} is implausible"));
                }
                self.record.resize(n, 0);
                self.snappy.decompress(&self.stored, &mut self.record).map_err(|e| e.to_string())
            });
        match result {
            Ok(n) => {
                self.record.truncate(n);
                Ok(true)
            }
            Err(e) => {
                self.damaged(c, start, CorruptionKind::Decompress(e))?;
                Ok(false)
            }
        }
    }
}

/// Decoded records of a WAL, in log order: the last checkpoint first, then the segments after it. A record that
/// passes its checksums but does not decode is reported as [`CorruptionKind::Decode`] at the record's offset, as
/// Prometheus does, so that [`crate::wal::Wal::repair`] can drop it.
#[derive(Debug)]
pub struct Replay {
    reader: WalReader,
    pub(crate) wal_dir: PathBuf,
    pub(crate) last: Option<u32>,
    checkpoint: Option<u32>,
}

impl Replay {
    pub(crate) fn new(
        reader: WalReader,
        wal_dir: PathBuf,
        last: Option<u32>,
        checkpoint: Option<u32>,
    ) -> Replay {
        Replay { reader, wal_dir, last, checkpoint }
    }

    /// The number of the checkpoint read first, if there was one.
    pub fn checkpoint(&self) -> Option<u32> {
        self.checkpoint
    }

    /// The next record with its position. Prefer the [`Iterator`] implementation unless you need positions.
    pub fn next_with_position(&mut self) -> Option<Result<(Record, Position), Error>> {
        let raw = match self.reader.next_record() {
            Ok(Some(raw)) => raw,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let pos = Position { segment: raw.segment, offset: raw.offset };
        Some(match decode(raw.data) {
            Ok(rec) => Ok((rec, pos)),
            Err(e) => {
                let err = Error::WalCorruption(Corruption {
                    dir: raw.dir.to_path_buf(),
                    segment: raw.segment,
                    offset: raw.offset,
                    kind: CorruptionKind::Decode(e.to_string()),
                });
                self.reader.failed = true;
                Err(err)
            }
        })
    }
}

impl Iterator for Replay {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_position().map(|r| r.map(|(rec, _)| rec))
    }
}
