//! Checkpoints: `checkpoint.NNNNNNNN` directories in the WAL directory, in the WAL's own segment format,
//! holding what is still needed from segments up to `NNNNNNNN` (the last segment folded in) and any earlier
//! checkpoint, so those segments can be deleted.
//!
//! What a checkpoint keeps, as Prometheus's `wlog.Checkpoint`: series for which `keep(ref)` holds; float and
//! histogram samples and exemplars with `t >= mint` (whatever their series); tombstones of kept series with
//! `maxt >= mint`; and for each kept series only its latest metadata, written last (sorted by series ref, where
//! Prometheus's order is random). M-map markers and unknown records are dropped.
//!
//! A checkpoint is built in `checkpoint.NNNNNNNN.tmp`, fsynced, renamed into place and the WAL directory fsynced,
//! so a crash leaves either the old or the new checkpoint; leftover `.tmp` directories are removed on the next
//! checkpoint and on [`crate::wal::Wal::open`].

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::wal::reader::{ReadOptions, Replay, SegmentRange, WalReader};
use crate::wal::record::{Record, RecordRef, RefMetadata};
use crate::wal::segment::{Compression, list_segments, parse_index, sync_dir};
use crate::wal::writer::LogWriter;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";
/// Buffered record bytes after which a checkpoint writes them out, as Prometheus does.
const FLUSH_BYTES: usize = 1024 * 1024;

/// Counts of what a checkpoint processed and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series records entries dropped (`keep` was false).
    pub dropped_series: usize,
    /// Float and histogram samples dropped (`t < mint`).
    pub dropped_samples: usize,
    /// Tombstones dropped.
    pub dropped_tombstones: usize,
    /// Exemplars dropped.
    pub dropped_exemplars: usize,
    /// Metadata entries dropped (not kept, or superseded by a later entry of the same series).
    pub dropped_metadata: usize,
    /// Series entries processed.
    pub total_series: usize,
    /// Float and histogram samples processed.
    pub total_samples: usize,
    /// Tombstones processed.
    pub total_tombstones: usize,
    /// Exemplars processed.
    pub total_exemplars: usize,
    /// Metadata entries processed.
    pub total_metadata: usize,
}

/// How checkpoint segments are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// Segment size inside the checkpoint directory.
    pub segment_size: u64,
    /// Record compression.
    pub compression: Compression,
}

/// The directory of checkpoint `index` in `wal_dir`.
pub fn checkpoint_dir(wal_dir: &Path, index: u32) -> PathBuf {
    wal_dir.join(format!("{PREFIX}{index:08}"))
}

/// The checkpoints in `wal_dir`, ascending by number. A non-directory named like a checkpoint is an error, as
/// in Prometheus; `.tmp` directories are not listed.
pub fn list_checkpoints(wal_dir: &Path) -> Result<Vec<(u32, PathBuf)>, Error> {
    let mut out = Vec::new();
    for entry in fs::read_dir(wal_dir).map_err(Error::io("list checkpoints in", wal_dir))? {
        let entry = entry.map_err(Error::io("list checkpoints in", wal_dir))?;
        let name = entry.file_name();
        let Some(num) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(index) = parse_index(num) else {
            continue;
        };
        let path = entry.path();
        if !entry.file_type().map_err(Error::io("stat checkpoint", &path))?.is_dir() {
            return Err(Error::invalid(
                "list checkpoints",
                format!("{} is not a directory", path.display()),
            ));
        }
        out.push((index, path));
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// The newest checkpoint in `wal_dir`.
pub fn last_checkpoint(wal_dir: &Path) -> Result<Option<(u32, PathBuf)>, Error> {
    Ok(list_checkpoints(wal_dir)?.pop())
}

/// Deletes the checkpoints numbered below `below`.
pub fn delete_checkpoints(wal_dir: &Path, below: u32) -> Result<(), Error> {
    for (index, path) in list_checkpoints(wal_dir)? {
        if index >= below {
            break;
        }
        fs::remove_dir_all(&path).map_err(Error::io("delete checkpoint", &path))?;
    }
    Ok(())
}

/// Removes `checkpoint.*.tmp` directories left behind by an interrupted checkpoint.
pub(crate) fn delete_temp_checkpoints(wal_dir: &Path) -> Result<(), Error> {
    for entry in fs::read_dir(wal_dir).map_err(Error::io("list checkpoints in", wal_dir))? {
        let entry = entry.map_err(Error::io("list checkpoints in", wal_dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(Error::io("remove temporary checkpoint", &path))?;
        }
    }
    Ok(())
}

/// Reads a checkpoint directory back: every record of every segment in it. Damage is an error (a checkpoint
/// is written completely before it is renamed into place, so there is no torn tail to tolerate).
pub fn read_checkpoint(dir: &Path) -> Result<Replay, Error> {
    let reader = WalReader::new(&[SegmentRange::all(dir)], ReadOptions::default())?;
    let index = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(PREFIX))
        .and_then(parse_index);
    Ok(Replay::new(reader, dir.to_path_buf(), None, index))
}

/// Writes checkpoint `to` from the last checkpoint (if any) and segments `from..=to` of `wal_dir` (`from` is
/// raised to just after the last checkpoint), then deletes older checkpoints. Segments are left alone; the
/// caller truncates them (see [`crate::wal::Wal::checkpoint`]).
pub fn write_checkpoint(
    wal_dir: &Path,
    from: u32,
    to: u32,
    keep: impl FnMut(u64) -> bool,
    mint: i64,
    opts: CheckpointOptions,
) -> Result<CheckpointStats, Error> {
    let stats = create_checkpoint(wal_dir, from, to, keep, mint, opts)?;
    delete_checkpoints(wal_dir, to)?;
    Ok(stats)
}

/// [`write_checkpoint`] without deleting the older checkpoints (the head deletes them as a step of its own,
/// counted apart as Prometheus does).
pub(crate) fn create_checkpoint(
    wal_dir: &Path,
    from: u32,
    to: u32,
    mut keep: impl FnMut(u64) -> bool,
    mint: i64,
    opts: CheckpointOptions,
) -> Result<CheckpointStats, Error> {
    const OP: &str = "create checkpoint";
    let mut ranges = Vec::new();
    let mut from = from;
    if let Some((index, dir)) = last_checkpoint(wal_dir)? {
        let next = index.saturating_add(1);
        if from > next {
            return Err(Error::invalid(
                OP,
                format!(
                    "unexpected gap to the last checkpoint: expected segment {next}, requested {from}"
                ),
            ));
        }
        from = next;
        ranges.push(SegmentRange::all(dir));
    }
    if to < from {
        return Err(Error::invalid(OP, format!("no segments to fold in: from {from} to {to}")));
    }
    let segments = list_segments(wal_dir)?;
    if !segments.contains(&from) || !segments.contains(&to) {
        return Err(Error::invalid(OP, format!("segments {from}..={to} are not all present")));
    }
    ranges.push(SegmentRange::new(wal_dir, Some(from), Some(to)));
    let reader = Replay::new(
        WalReader::new(&ranges, ReadOptions::default())?,
        wal_dir.to_path_buf(),
        Some(to),
        None,
    );

    delete_temp_checkpoints(wal_dir)?;
    let final_dir = checkpoint_dir(wal_dir, to);
    let mut tmp = final_dir.clone().into_os_string();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    fs::create_dir_all(&tmp).map_err(Error::io("create checkpoint directory", &tmp))?;
    let result = fill(&tmp, reader, &mut keep, mint, opts);
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    sync_dir(&tmp)?;
    match fs::remove_dir_all(&final_dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(Error::io("replace checkpoint", &final_dir)(e));
        }
        _ => {}
    }
    fs::rename(&tmp, &final_dir).map_err(Error::io("rename checkpoint directory", &final_dir))?;
    sync_dir(wal_dir)?;
    Ok(stats)
}

fn fill(
    tmp: &Path,
    reader: Replay,
    keep: &mut impl FnMut(u64) -> bool,
    mint: i64,
    opts: CheckpointOptions,
) -> Result<CheckpointStats, Error> {
    let mut w = LogWriter::create(tmp, 0, opts.segment_size, opts.compression)?;
    let mut st = CheckpointStats::default();
    let mut latest_metadata: BTreeMap<u64, RefMetadata> = BTreeMap::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    for rec in reader {
        let rec = rec?;
        let start = buf.len();
        match rec {
            Record::Series(mut v) => {
                let n = v.len();
                v.retain(|s| keep(s.series_ref));
                count(&mut st.total_series, &mut st.dropped_series, n, v.len());
                encode_nonempty(&mut buf, RecordRef::Series(&v));
            }
            Record::Samples(v) => {
                let v = since(&mut st, v, mint, |s| s.t);
                encode_nonempty(&mut buf, RecordRef::Samples(&v));
            }
            Record::HistogramSamples(v) => {
                let v = since(&mut st, v, mint, |h| h.t);
                encode_nonempty(&mut buf, RecordRef::HistogramSamples(&v));
            }
            Record::CustomBucketsHistogramSamples(v) => {
                let v = since(&mut st, v, mint, |h| h.t);
                encode_nonempty(&mut buf, RecordRef::CustomBucketsHistogramSamples(&v));
            }
            Record::FloatHistogramSamples(v) => {
                let v = since(&mut st, v, mint, |h| h.t);
                encode_nonempty(&mut buf, RecordRef::FloatHistogramSamples(&v));
            }
            Record::CustomBucketsFloatHistogramSamples(v) => {
                let v = since(&mut st, v, mint, |h| h.t);
                encode_nonempty(&mut buf, RecordRef::CustomBucketsFloatHistogramSamples(&v));
            }
            Record::Tombstones(mut v) => {
                let n = v.len();
                v.retain(|t| keep(t.series_ref) && t.maxt >= mint);
                count(&mut st.total_tombstones, &mut st.dropped_tombstones, n, v.len());
                encode_nonempty(&mut buf, RecordRef::Tombstones(&v));
            }
            Record::Exemplars(mut v) => {
                let n = v.len();
                v.retain(|e| e.t >= mint);
                count(&mut st.total_exemplars, &mut st.dropped_exemplars, n, v.len());
                encode_nonempty(&mut buf, RecordRef::Exemplars(&v));
            }
            Record::Metadata(v) => {
                // Only the latest entry per kept series survives; superseded ones count as dropped.
                let n = v.len();
                let mut new = 0;
                for m in v {
                    if keep(m.series_ref) && latest_metadata.insert(m.series_ref, m).is_none() {
                        new += 1;
                    }
                }
                count(&mut st.total_metadata, &mut st.dropped_metadata, n, new);
            }
            Record::MmapMarkers(_) | Record::Unknown(_) => {}
        }
        if buf.len() > start {
            ends.push(buf.len());
        }
        if buf.len() > FLUSH_BYTES {
            log_buffered(&mut w, &buf, &ends)?;
            buf.clear();
            ends.clear();
        }
    }
    log_buffered(&mut w, &buf, &ends)?;
    if !latest_metadata.is_empty() {
        let md: Vec<RefMetadata> = latest_metadata.into_values().collect();
        buf.clear();
        RecordRef::Metadata(&md).encode(&mut buf);
        w.log([buf.as_slice()])?;
    }
    w.close()?;
    Ok(st)
}

/// Keeps the samples-like entries with `t >= mint`, counting them as samples.
fn since<T>(st: &mut CheckpointStats, mut v: Vec<T>, mint: i64, t: impl Fn(&T) -> i64) -> Vec<T> {
    let n = v.len();
    v.retain(|e| t(e) >= mint);
    count(&mut st.total_samples, &mut st.dropped_samples, n, v.len());
    v
}

fn count(total: &mut usize, dropped: &mut usize, before: usize, after: usize) {
    *total += before;
    *dropped += before - after;
}

fn encode_nonempty(buf: &mut Vec<u8>, rec: RecordRef<'_>) {
    if !rec.is_empty() {
        rec.encode(buf);
    }
}

fn log_buffered(w: &mut LogWriter, buf: &[u8], ends: &[usize]) -> Result<(), Error> {
    let mut start = 0;
    w.log(ends.iter().map(|&end| {
        let rec = &buf[start..end];
        start = end;
        rec
    }))
}
