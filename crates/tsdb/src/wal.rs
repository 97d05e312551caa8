//! The write-ahead log, in Prometheus's on-disk format (`tsdb/wlog`, `tsdb/record`): numbered 8-digit segment
//! files of 32 KiB pages holding CRC32C-checked record fragments, optionally snappy-compressed, plus
//! `checkpoint.NNNNNNNN` directories. Prometheus 2.42 replays a WAL written here (tested with its `promtool tsdb
//! dump`) as long as only record types 1–8 are logged (9 and 10 are Prometheus 3's), and the golden segment
//! Prometheus 2.42 wrote is reproduced byte for byte.
//!
//! - [`segment`]: page and fragment layout, segment naming and listing.
//! - [`record`]: the record codec.
//! - `writer` (private): packing records into pages, rolling segments.
//! - [`reader`]: reading records back ([`WalReader`], decoded: [`Replay`]), with corruption reports.
//! - [`repair`]: rewriting a damaged segment keeping every intact record.
//! - [`checkpoint`]: writing and reading checkpoints.
//!
//! [`Wal`] ties them together for the head: open (tail fix-up, replay), log, sync policy, segment cut,
//! truncation, checkpoint and repair. It holds no threads and no globals; durability follows [`SyncPolicy`] and
//! the caller's calls of [`Wal::sync_if_due`].

pub mod checkpoint;
pub mod reader;
pub mod record;
pub mod repair;
pub mod segment;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Corruption, Error};

pub use checkpoint::{CheckpointOptions, CheckpointStats};
pub use reader::{RawRecord, ReadOptions, Replay, SegmentRange, WalReader};
pub use record::{
    Record, RecordRef, RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata,
    RefMmapMarker, RefSample, RefSeries, RefTombstone,
};
pub use repair::RepairReport;
pub use segment::{Compression, DEFAULT_SEGMENT_SIZE, PAGE_SIZE, Position};

use segment::{list_segments, parse_index, segment_file, sync_dir};
use writer::LogWriter;

/// When the WAL fsyncs what it wrote. Whatever the policy, every [`Wal::log`] call hands its bytes to the
/// operating system before returning (they survive a crash of the process, not of the machine), and a segment
/// is always fsynced when it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Fsync at the end of every [`Wal::log`] call: nothing acknowledged is lost on power failure.
    Always,
    /// Fsync from [`Wal::sync_if_due`] once this long has passed since the last fsync and data was written
    /// since. With the caller calling it at least that often, at most about this much acknowledged data is lost
    /// on power failure. The default, with 1 s.
    Interval(Duration),
    /// Fsync only when a segment is closed and on [`Wal::sync`] / [`Wal::close`] (Prometheus's behaviour).
    Never,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// Settings of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Maximum segment size: a multiple of [`PAGE_SIZE`], at least one page. Default 128 MiB.
    pub segment_size: u64,
    /// Record compression. Default snappy, like Prometheus 2.20 and later.
    pub compression: Compression,
    /// Fsync policy. Default every second.
    pub sync_policy: SyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            compression: Compression::Snappy,
            sync_policy: SyncPolicy::default(),
        }
    }
}

/// What [`Wal::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenInfo {
    /// Holes in the segment numbering, `(segment before, segment after)`: the missing segments were replaced by
    /// empty ones and the rest is replayed around them (Prometheus refuses to start).
    pub gaps: Vec<(u32, u32)>,
    /// The checkpoint replayed first.
    pub checkpoint: Option<u32>,
    /// The segments replayed after it, `(first, last)`.
    pub replayed_segments: Option<(u32, u32)>,
    /// If the last segment ended in an unfinished write: where its valid data ended. The file was cut there
    /// and zero-padded to the page end.
    pub torn_tail: Option<Position>,
    /// The new segment writing goes to.
    pub active_segment: u32,
}

/// What [`Wal::open_with`] replayed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplaySummary {
    /// Records handed to the callback.
    pub records: u64,
    /// Repairs done on the way.
    pub repairs: Vec<RepairReport>,
}

/// A write-ahead log directory open for writing. See the module docs.
///
/// Like Prometheus, opening never appends to an existing segment: writing starts in a new one.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    writer: LogWriter,
    last_sync: Instant,
    info: OpenInfo,
    buf: Vec<u8>,
    ends: Vec<usize>,
    truncations: u64,
    truncations_failed: u64,
}

/// What a [`Wal`] did since it was opened (Prometheus's `prometheus_tsdb_wal_*` writer metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WalWriterStats {
    /// Writes of the current page to the segment file: at the end of every batch and whenever a page is
    /// complete.
    pub page_flushes: u64,
    /// Pages written out to their end (full, or padded when a segment is closed).
    pub completed_pages: u64,
    /// Fsyncs of segments and how long they took.
    pub fsync: crate::metrics::DurationTotals,
    /// [`Wal::truncate`] calls.
    pub truncations: u64,
    /// [`Wal::truncate`] calls that failed.
    pub truncations_failed: u64,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` and returns it with a lazy [`Replay`] of its content: the
    /// last checkpoint, then the segments after it that existed at open. Before that, an unfinished write at
    /// the end of the last segment is cut off (see [`OpenInfo::torn_tail`]), leftover temporary files of
    /// an interrupted repair or checkpoint are removed, and missing segments are replaced by empty ones (see
    /// [`OpenInfo::gaps`]).
    ///
    /// The replay stops at the first damage with [`Error::WalCorruption`]; pass it to [`Wal::repair`] and go
    /// on with [`Replay::resume`], or use [`Wal::open_with`], which does that.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<(Wal, Replay), Error> {
        Wal::open_at(dir, opts, None)
    }

    /// [`Wal::open`], but the replay starts at `from` (a record boundary, as a memory snapshot names it) and
    /// leaves out the checkpoint and everything before `from`.
    pub fn open_at(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        from: Option<Position>,
    ) -> Result<(Wal, Replay), Error> {
        let dir = dir.as_ref().to_path_buf();
        if opts.segment_size < PAGE_SIZE as u64
            || !opts.segment_size.is_multiple_of(PAGE_SIZE as u64)
        {
            return Err(Error::invalid(
                "open WAL",
                format!(
                    "segment size {} is not a positive multiple of {PAGE_SIZE}",
                    opts.segment_size
                ),
            ));
        }
        fs::create_dir_all(&dir).map_err(Error::io("create WAL directory", &dir))?;
        remove_leftovers(&dir)?;
        let gaps = segment::fill_gaps(&dir)?;
        let segments = list_segments(&dir)?;
        let checkpoint = checkpoint::last_checkpoint(&dir)?;
        let torn_tail = match segments.last() {
            Some(&last) => cut_torn_tail(&dir, last)?,
            None => None,
        };
        let start = checkpoint.as_ref().map(|(i, _)| i.saturating_add(1));
        let mut last = segments.last().copied();
        let mut active = last.map_or(0, |l| l + 1).max(start.unwrap_or(0));
        // An empty last segment (a previous run wrote nothing) is reused rather than followed by another one.
        if let Some(l) = last
            && l + 1 == active
            && segment_is_empty(&dir, l)?
        {
            let path = segment_file(&dir, l);
            fs::remove_file(&path).map_err(Error::io("remove empty segment", &path))?;
            active = l;
            last = l.checked_sub(1).filter(|&p| segments.first().is_some_and(|&f| p >= f));
        }

        let mut ranges = Vec::new();
        let checkpoint = checkpoint.filter(|_| from.is_none());
        if let Some((_, cp_dir)) = &checkpoint {
            ranges.push(SegmentRange::all(cp_dir));
        }
        let first = match from {
            Some(p) => Some(p.segment),
            None => segments.first().copied().map(|f| start.map_or(f, |s| s.max(f))),
        };
        let replayed_segments = match (first, last) {
            (Some(f), Some(l)) if f <= l => {
                let mut range = SegmentRange::new(&dir, Some(f), Some(l));
                range.first_offset = from.map_or(0, |p| p.offset);
                ranges.push(range);
                Some((f, l))
            }
            _ => None,
        };
        let reader = WalReader::new(&ranges, ReadOptions::default())?;
        let replay = Replay::new(reader, dir.clone(), last, checkpoint.as_ref().map(|(i, _)| *i));

        let writer = LogWriter::create(&dir, active, opts.segment_size, opts.compression)?;
        let info = OpenInfo {
            gaps,
            checkpoint: checkpoint.map(|(i, _)| i),
            replayed_segments,
            torn_tail,
            active_segment: active,
        };
        let wal = Wal {
            dir,
            opts,
            writer,
            last_sync: Instant::now(),
            info,
            buf: Vec::new(),
            ends: Vec::new(),
            truncations: 0,
            truncations_failed: 0,
        };
        Ok((wal, replay))
    }

    /// Opens the WAL and replays it into `apply`, repairing damaged segments on the way (as Prometheus's head
    /// does on start-up, but keeping the intact records after the damage). Damage in a checkpoint and errors
    /// from `apply` end the replay with that error.
    pub fn open_with(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        apply: impl FnMut(Record) -> Result<(), Error>,
    ) -> Result<(Wal, ReplaySummary), Error> {
        Wal::open_with_at(dir, opts, None, apply)
    }

    /// [`Wal::open_with`] replaying from `from` (see [`Wal::open_at`]).
    pub fn open_with_at(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        from: Option<Position>,
        mut apply: impl FnMut(Record) -> Result<(), Error>,
    ) -> Result<(Wal, ReplaySummary), Error> {
        let (mut wal, mut replay) = Wal::open_at(dir, opts, from)?;
        let mut summary = ReplaySummary::default();
        // Each repair rewrites one segment so that it reads cleanly; more repairs than segments means a loop.
        let max_repairs = wal.info.replayed_segments.map_or(0, |(f, l)| (l - f) as usize + 1);
        while let Some(next) = replay.next() {
            match next {
                Ok(rec) => {
                    summary.records += 1;
                    apply(rec)?;
                }
                Err(Error::WalCorruption(c))
                    if c.dir == wal.dir && summary.repairs.len() < max_repairs =>
                {
                    let report = wal.repair(&c)?;
                    replay = replay.resume(&report)?;
                    summary.repairs.push(report);
                }
                Err(e) => return Err(e),
            }
        }
        Ok((wal, summary))
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// What opening found.
    pub fn open_info(&self) -> &OpenInfo {
        &self.info
    }

    /// What the log did since it was opened.
    pub fn stats(&self) -> WalWriterStats {
        let c = self.writer.counters();
        WalWriterStats {
            page_flushes: c.page_flushes(),
            completed_pages: c.completed_pages(),
            fsync: c.fsync_totals(),
            truncations: self.truncations,
            truncations_failed: self.truncations_failed,
        }
    }

    /// Takes the fsync durations observed since the last call (the newest few thousand), oldest first, with when
    /// each fsync ended: for a summary's quantile window.
    pub fn take_fsync_durations(&mut self) -> Vec<(std::time::Instant, f64)> {
        self.writer.counters().take_fsync_durations()
    }

    /// The segment being written.
    pub fn active_segment(&self) -> u32 {
        self.writer.segment()
    }

    /// The end of the log: the active segment and the offset where the next record would start (Prometheus's
    /// `LastSegmentAndOffset`, e.g. for naming a snapshot).
    pub fn position(&self) -> Position {
        self.writer.position()
    }

    /// Appends `records`, in order, as one batch: records with no entries are skipped, each record is
    /// snappy-compressed if enabled and smaller, a record that does not fit into the active segment goes to a
    /// new one, and the partial last page is written out at the end. With [`SyncPolicy::Always`] the segment
    /// is then fsynced.
    ///
    /// On error, records of the batch written before the failing one stay in the log, the failing one is cut
    /// off before the next write, and writing continues in a new segment.
    pub fn log(&mut self, records: &[RecordRef<'_>]) -> Result<(), Error> {
        self.buf.clear();
        self.ends.clear();
        for r in records.iter().filter(|r| !r.is_empty()) {
            r.encode(&mut self.buf);
            self.ends.push(self.buf.len());
        }
        let mut start = 0;
        let buf = &self.buf;
        self.writer.log(self.ends.iter().map(|&end| {
            let rec = &buf[start..end];
            start = end;
            rec
        }))?;
        self.after_write()
    }

    /// Appends already encoded records as one batch (see [`Wal::log`]).
    pub fn log_raw(&mut self, records: &[&[u8]]) -> Result<(), Error> {
        self.writer.log(records.iter().copied())?;
        self.after_write()
    }

    fn after_write(&mut self) -> Result<(), Error> {
        if self.opts.sync_policy == SyncPolicy::Always { self.sync() } else { Ok(()) }
    }

    /// Writes out the partial last page (done by every [`Wal::log`] anyway; no fsync).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush()
    }

    /// Writes out the partial page and fsyncs the active segment, whatever the policy.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.writer.sync()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Fsyncs if the policy says it is time: with [`SyncPolicy::Interval`] when data was written since the
    /// last fsync and the interval has passed since it, with [`SyncPolicy::Always`] when data was written
    /// since. Returns whether it synced. Call it periodically (and/or after each commit); the WAL has no timer
    /// of its own.
    pub fn sync_if_due(&mut self) -> Result<bool, Error> {
        let due = match self.opts.sync_policy {
            SyncPolicy::Never => false,
            SyncPolicy::Always => self.writer.is_dirty(),
            SyncPolicy::Interval(d) => self.writer.is_dirty() && self.last_sync.elapsed() >= d,
        };
        if due {
            self.sync()?;
        }
        Ok(due)
    }

    /// When the last fsync happened (or the WAL was opened).
    pub fn last_sync(&self) -> Instant {
        self.last_sync
    }

    /// Whether data was written since the last fsync.
    pub fn has_unsynced_data(&self) -> bool {
        self.writer.is_dirty()
    }

    /// Closes the active segment (zero-padded and fsynced) and starts the next one; returns its number.
    /// Prometheus's head cuts a segment before truncation so that everything up to it can be checkpointed.
    pub fn next_segment(&mut self) -> Result<u32, Error> {
        let n = self.writer.next_segment()?;
        self.last_sync = Instant::now();
        Ok(n)
    }

    /// The first and last segment numbers present, `None` when there are none.
    pub fn segments(&self) -> Result<Option<(u32, u32)>, Error> {
        let s = list_segments(&self.dir)?;
        Ok(s.first().zip(s.last()).map(|(f, l)| (*f, *l)))
    }

    /// Deletes the segments numbered below `before` (oldest first). `before` may not exceed the active
    /// segment.
    pub fn truncate(&mut self, before: u32) -> Result<(), Error> {
        self.truncations += 1;
        let res = self.truncate_segments(before);
        if res.is_err() {
            self.truncations_failed += 1;
        }
        res
    }

    fn truncate_segments(&mut self, before: u32) -> Result<(), Error> {
        if before > self.active_segment() {
            return Err(Error::invalid(
                "truncate WAL",
                format!("segment {before} is after the active segment {}", self.active_segment()),
            ));
        }
        for index in list_segments(&self.dir)? {
            if index >= before {
                break;
            }
            let path = segment_file(&self.dir, index);
            fs::remove_file(&path).map_err(Error::io("delete segment", &path))?;
        }
        sync_dir(&self.dir)
    }

    /// Writes checkpoint `to` from the last checkpoint and the segments after it up to `to`, keeping what
    /// [`checkpoint`] describes, and deletes older checkpoints. `to` must be a closed segment (below the active
    /// one). Afterwards the caller deletes the folded-in segments with `truncate(to + 1)`, as Prometheus's head
    /// does; replay skips them anyway.
    pub fn checkpoint(
        &mut self,
        to: u32,
        keep: impl FnMut(u64) -> bool,
        mint: i64,
    ) -> Result<CheckpointStats, Error> {
        if to >= self.active_segment() {
            return Err(Error::invalid(
                "create checkpoint",
                format!("segment {to} is not closed (active segment {})", self.active_segment()),
            ));
        }
        let first = list_segments(&self.dir)?.first().copied().unwrap_or(0);
        let opts = CheckpointOptions {
            segment_size: self.opts.segment_size,
            compression: self.opts.compression,
        };
        checkpoint::write_checkpoint(&self.dir, first, to, keep, mint, opts)
    }

    /// Repairs the segment a [`Replay`] (or [`WalReader`] over this directory) reported damaged, keeping every
    /// intact record as [`repair`] describes, and says where to resume reading ([`Replay::resume`]). Refuses
    /// damage in a checkpoint (which is written atomically, so damage there is not a torn write and needs a
    /// human) and in the active segment.
    pub fn repair(&mut self, corruption: &Corruption) -> Result<RepairReport, Error> {
        if corruption.dir != self.dir {
            return Err(Error::invalid(
                "repair WAL",
                format!("{corruption} is not in a segment of {}", self.dir.display()),
            ));
        }
        if corruption.segment >= self.active_segment() {
            return Err(Error::invalid(
                "repair WAL",
                format!("segment {} is being written", corruption.segment),
            ));
        }
        repair::repair_segment(&self.dir, corruption.segment, corruption.offset)
    }

    /// Pads the last page, fsyncs and closes the active segment.
    pub fn close(self) -> Result<(), Error> {
        self.writer.close()
    }
}

impl Replay {
    /// Continues reading after [`Wal::repair`]: from the report's resume position to the last segment this
    /// replay covered.
    pub fn resume(self, report: &RepairReport) -> Result<Replay, Error> {
        let range = SegmentRange {
            dir: self.wal_dir.clone(),
            first: Some(report.resume.segment),
            last: self.last,
            first_offset: report.resume.offset,
        };
        let reader = WalReader::new(&[range], ReadOptions::default())?;
        let checkpoint = self.checkpoint();
        Ok(Replay::new(reader, self.wal_dir, self.last, checkpoint))
    }
}

/// Reads the WAL in `dir` without changing anything on disk, for tools that look at a database another process
/// may own (`promtool tsdb dump`): the last checkpoint, then the segments after it. An unfinished write at the
/// end of the last segment is skipped rather than reported; other damage ends the replay with an error.
pub fn replay_read_only(dir: &Path) -> Result<Replay, Error> {
    let checkpoint = checkpoint::last_checkpoint(dir)?;
    let segments = list_segments(dir)?;
    let start = checkpoint.as_ref().map(|(i, _)| i.saturating_add(1));
    let mut ranges = Vec::new();
    if let Some((_, cp_dir)) = &checkpoint {
        ranges.push(SegmentRange::all(cp_dir));
    }
    let first = segments.first().copied().map(|f| start.map_or(f, |s| s.max(f)));
    let last = segments.last().copied();
    if let (Some(f), Some(l)) = (first, last)
        && f <= l
    {
        ranges.push(SegmentRange::new(dir, Some(f), Some(l)));
    }
    let reader = WalReader::new(&ranges, ReadOptions { tolerate_torn_tail: true })?;
    Ok(Replay::new(reader, dir.to_path_buf(), last, checkpoint.map(|(i, _)| i)))
}

/// Removes `NNNNNNNN.repair` files and `checkpoint.*.tmp` directories left by an interrupted repair or
/// checkpoint.
fn remove_leftovers(dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io("list WAL directory", dir))? {
        let entry = entry.map_err(Error::io("list WAL directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.strip_suffix(".repair").and_then(parse_index).is_some() {
            let path = entry.path();
            fs::remove_file(&path).map_err(Error::io("remove leftover repair file", &path))?;
        }
    }
    checkpoint::delete_temp_checkpoints(dir)
}

fn segment_is_empty(dir: &Path, index: u32) -> Result<bool, Error> {
    let path = segment_file(dir, index);
    Ok(fs::metadata(&path).map_err(Error::io("stat segment", &path))?.len() == 0)
}

/// Cuts an unfinished write off the end of segment `last`: reads it with torn-tail tolerance and, if its valid
/// data ends early, truncates the file there and zero-pads to the page end. Damage elsewhere is left for the
/// replay to report.
fn cut_torn_tail(dir: &Path, last: u32) -> Result<Option<Position>, Error> {
    let range = SegmentRange::new(dir, Some(last), Some(last));
    let mut reader = WalReader::new(&[range], ReadOptions { tolerate_torn_tail: true })?;
    loop {
        match reader.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(Error::WalCorruption(_) | Error::WalUnsupported { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let Some((_, pos)) = reader.torn_tail() else {
        return Ok(None);
    };
    let path = segment_file(dir, last);
    let err = Error::io("cut torn tail of segment", &path);
    let file = fs::OpenOptions::new().write(true).open(&path).map_err(&err)?;
    let page = PAGE_SIZE as u64;
    let padded = pos.offset.div_ceil(page) * page;
    // Truncating then extending leaves zeros from the cut to the page end.
    file.set_len(pos.offset).map_err(&err)?;
    file.set_len(padded).map_err(&err)?;
    file.sync_all().map_err(err)?;
    Ok(Some(pos))
}
