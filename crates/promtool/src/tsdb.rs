//! `promtool tsdb …`: `list`, `analyze`, `dump` and `create-blocks-from openmetrics`, with promtool 3.x's output
//! and error texts. Everything on disk is read and written through the `tsdb` crate's public API (blocks, their
//! index and chunk readers, the WAL reader, [`tsdb::BlockWriter`]); this module only decides what to print.
//!
//! Like Prometheus's read-only database, a database directory is the blocks in it (subdirectories named by a
//! ULID, ordered by their minimum time) and, for `dump`, the head replayed from `wal/`. Unlike Prometheus, the
//! directory is never written to: no sandbox directory, no `chunks_head/`.

mod analyze;
mod backfill;
mod dump;
mod format;

use std::io::Write;
use std::path::Path;

use tsdb::Block;

use crate::Error;

pub use analyze::{AnalyzeOptions, analyze};
pub use backfill::{BackfillOptions, create_blocks_from_openmetrics};
pub use dump::{DEFAULT_MATCH, DumpFormat, DumpOptions, dump};

/// The database path promtool uses when none is given.
pub const DEFAULT_DB_PATH: &str = "data/";

/// Go's text for an I/O error's cause (`no such file or directory`): the OS message without Rust's
/// ` (os error N)` suffix, first letter lowercased.
pub(crate) fn go_io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => s,
    }
}

/// Checks that the database directory exists, as Prometheus's `OpenDBReadOnly` does first.
pub(crate) fn check_db_dir(dir: &Path) -> Result<(), Error> {
    std::fs::metadata(dir)
        .map(|_| ())
        .map_err(|e| Error::OpenDb { dir: dir.to_path_buf(), message: go_io_message(&e) })
}

/// Opens every block of `dir` (subdirectories named by a ULID), ordered by minimum time. A block that fails to
/// open fails the whole call, naming it, unless a block that opened lists it as a compaction parent.
pub(crate) fn open_blocks(dir: &Path) -> Result<Vec<Block>, Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::OpenDb { dir: dir.to_path_buf(), message: go_io_message(&e) })?;
    let mut blocks = Vec::new();
    let mut corrupted = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if tsdb::Ulid::parse(name).is_none() || !entry.path().is_dir() {
            continue;
        }
        match Block::open(&entry.path()) {
            Ok(b) => blocks.push(b),
            Err(source) => corrupted.push((name.to_string(), source)),
        }
    }
    corrupted.retain(|(ulid, _)| {
        !blocks
            .iter()
            .any(|b| b.meta().compaction.parents.iter().any(|p| p.ulid.to_string() == *ulid))
    });
    if let Some((ulid, source)) = corrupted.into_iter().next() {
        return Err(Error::CorruptedBlock { ulid, source });
    }
    blocks.sort_by_key(|b| b.meta().min_time);
    Ok(blocks)
}

/// `promtool tsdb list [-r] <db path>`: the table of blocks.
pub fn list(dir: &Path, human_readable: bool, out: &mut dyn Write) -> Result<(), Error> {
    check_db_dir(dir)?;
    let blocks = open_blocks(dir)?;
    out.write_all(block_table(&blocks, true, human_readable).as_bytes())?;
    Ok(())
}

/// The block table `tsdb list` and `create-blocks-from` print, laid out as Go's tabwriter (minimum width 13,
/// padding 2) does for one call.
pub(crate) fn block_table(blocks: &[Block], header: bool, human_readable: bool) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    if header {
        rows.push(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
    }
    let time = |t: i64| if human_readable { format::go_utc_time(t) } else { t.to_string() };
    for b in blocks {
        let m = b.meta();
        let size = b.size() as i64;
        rows.push(vec![
            m.ulid.to_string(),
            time(m.min_time),
            time(m.max_time),
            format::go_duration(m.max_time.wrapping_sub(m.min_time).wrapping_mul(1_000_000)),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            if human_readable { format::base2_bytes(size) } else { size.to_string() },
        ]);
    }
    format::tabwrite(&rows, 13, 2)
}
