//! Repairing a damaged segment by rewriting it with every intact record it holds.
//!
//! What is kept, exactly:
//! - every record that ends before the first damage, **byte for byte** (the file is copied up to the end of the
//!   last such record, so their offsets do not change);
//! - after the damage, every record that is intact: its fragments are all present, in sequence and pass their
//!   checksums, it decompresses and it decodes. The reader resynchronises after structural damage (bad
//!   checksum, bad header, bad padding) at the **next page boundary**, so records that start in the rest of the
//!   damaged page are lost; records that merely lost their neighbours (an incomplete record, an undecodable one,
//!   a stray continuation fragment) cost only themselves. Kept records are packed again, with the compression
//!   they were stored with, right after the copied prefix.
//!
//! Later segments are never touched (records never cross segments, so their content is unaffected); if they
//! are damaged as well, reading reports that on its own. Prometheus instead deletes every later segment and
//! everything after the damage.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::Error;
use crate::wal::reader::WalReader;
use crate::wal::record::decode;
use crate::wal::segment::{PAGE_SIZE, Position, segment_file, sync_dir};
use crate::wal::writer::SegmentWriter;

/// What a repair did to a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The segment rewritten.
    pub segment: u32,
    /// Offset of the first damage in the original file.
    pub damaged_at: u64,
    /// Records before the damage, kept byte for byte.
    pub kept_before: usize,
    /// Intact records after the damage, kept.
    pub salvaged_after: usize,
    /// Damaged places found in the segment (each may have cost one or more records).
    pub damaged_places: usize,
    /// Where reading continues in the rewritten segment: the first salvaged record (or its end).
    pub resume: Position,
}

/// The temporary name of a segment being rewritten.
pub(crate) fn repair_tmp(dir: &Path, segment: u32) -> std::path::PathBuf {
    dir.join(format!("{segment:08}.repair"))
}

/// Rewrites segment `segment` of `dir` keeping every intact record (see the module docs). `reported` is the
/// offset a reader reported the corruption at; the repair refuses to act if it finds its first damage anywhere
/// else, as the file then changed since it was read.
pub(crate) fn repair_segment(
    dir: &Path,
    segment: u32,
    reported: u64,
) -> Result<RepairReport, Error> {
    let path = segment_file(dir, segment);
    let tmp = repair_tmp(dir, segment);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(Error::io("remove stale repair file", &tmp)(e));
        }
        _ => {}
    }
    let result = rewrite(dir, segment, &path, &tmp, reported);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn rewrite(
    dir: &Path,
    segment: u32,
    path: &Path,
    tmp: &Path,
    reported: u64,
) -> Result<RepairReport, Error> {
    let mut reader = WalReader::salvage(dir, segment);
    let mut kept_before = 0;
    let mut prefix_end = 0u64;
    let mut decode_damage: Option<u64> = None;
    let mut undecodable_after = 0;
    let mut salvaged = 0;
    let mut writer: Option<SegmentWriter> = None;
    while let Some(raw) = reader.next_record()? {
        let intact = decode(raw.data).is_ok();
        let (offset, end) = (raw.offset, raw.end);
        if reader.damages().is_empty() && decode_damage.is_none() {
            if intact {
                kept_before += 1;
                prefix_end = end;
            } else {
                decode_damage = Some(offset);
            }
            continue;
        }
        if !intact {
            undecodable_after += 1;
            continue;
        }
        if writer.is_none() {
            writer = Some(start_rewrite(path, tmp, segment, prefix_end)?);
        }
        let (stored, flags) = reader.stored();
        writer.as_mut().expect("created above").append(stored, flags)?;
        salvaged += 1;
    }
    let first_damage = match (decode_damage, reader.damages().first()) {
        (Some(d), _) => d,
        (None, Some((d, _))) => *d,
        (None, None) => {
            return Err(Error::invalid(
                "repair WAL",
                format!("no damage found in {}", path.display()),
            ));
        }
    };
    if first_damage != reported {
        return Err(Error::invalid(
            "repair WAL",
            format!(
                "{} is first damaged at offset {first_damage}, not at the reported offset {reported}",
                path.display()
            ),
        ));
    }
    let mut writer = match writer {
        Some(w) => w,
        None => start_rewrite(path, tmp, segment, prefix_end)?,
    };
    writer.finish()?;
    drop(writer);
    fs::rename(tmp, path).map_err(Error::io("replace repaired segment", path))?;
    sync_dir(dir)?;
    Ok(RepairReport {
        segment,
        damaged_at: first_damage,
        kept_before,
        salvaged_after: salvaged,
        damaged_places: reader.damages().len()
            + usize::from(decode_damage.is_some())
            + undecodable_after,
        resume: Position { segment, offset: prefix_end },
    })
}

/// Creates the temporary file holding the original's first `prefix_end` bytes and a writer continuing there.
fn start_rewrite(
    path: &Path,
    tmp: &Path,
    segment: u32,
    prefix_end: u64,
) -> Result<SegmentWriter, Error> {
    let read_err = Error::io("read damaged segment", path);
    let write_err = Error::io("write repaired segment", tmp);
    let mut src = File::open(path).map_err(&read_err)?;
    let mut out = OpenOptions::new().append(true).create_new(true).open(tmp).map_err(&write_err)?;
    let copied = io::copy(&mut (&mut src).take(prefix_end), &mut out).map_err(&write_err)?;
    if copied != prefix_end {
        return Err(read_err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "segment shrank during repair",
        )));
    }
    let in_page = (prefix_end % PAGE_SIZE as u64) as usize;
    let mut last_page = vec![0; in_page];
    src.seek(SeekFrom::Start(prefix_end - in_page as u64)).map_err(&read_err)?;
    src.read_exact(&mut last_page).map_err(read_err)?;
    Ok(SegmentWriter::resume(tmp.to_path_buf(), out, segment, prefix_end, &last_page))
}
