//! `promtool tsdb dump` and `dump-openmetrics`: every sample of the series some selector matches, over the
//! blocks and the head replayed from the WAL (read-only: samples before the last block's end are dropped, as
//! Prometheus's head does with them, and so are samples not after their series' previous one).
//!
//! Series come out in label order, merged across blocks and the head (samples sharing a timestamp are printed
//! once), except when the head is the only source and there is one selector: then in the head's reference order,
//! as Prometheus's unsorted head selection gives them. Native histogram samples are not decoded yet and are left
//! out.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use model::{Labels, Matcher};
use tsdb::Block;
use tsdb::block::{ChunkEncoding, ChunkMeta};
use tsdb::wal::Record;

use super::{check_db_dir, format, go_io_message, open_blocks};
use crate::Error;

/// The selector `tsdb dump` uses when none is given.
pub const DEFAULT_MATCH: &str = "{__name__=~'(?s:.*)'}";

/// What `tsdb dump` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DumpFormat {
    /// `{labels} value timestamp` per sample (`--format=prom`).
    #[default]
    Prom,
    /// Each series' labels as a JSON object, once (`--format=seriesjson`).
    SeriesJson,
    /// OpenMetrics text with timestamps in seconds, ending in `# EOF` (`tsdb dump-openmetrics`).
    OpenMetrics,
}

/// Options of `tsdb dump`.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Earliest timestamp to dump (ms, inclusive).
    pub min_time: i64,
    /// Latest timestamp to dump (ms, inclusive).
    pub max_time: i64,
    /// Series selectors; a series matching any of them is dumped. Empty means [`DEFAULT_MATCH`].
    pub matchers: Vec<String>,
    /// Output format.
    pub format: DumpFormat,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            min_time: i64::MIN,
            max_time: i64::MAX,
            matchers: vec![DEFAULT_MATCH.to_string()],
            format: DumpFormat::Prom,
        }
    }
}

/// A head series rebuilt from the WAL.
#[derive(Debug)]
struct HeadSeries {
    first_ref: u64,
    labels: Labels,
    samples: Vec<(i64, f64)>,
    deleted: Vec<(i64, i64)>,
}

/// One series of one source, matched by a selector.
enum Found<'a> {
    Block { block: &'a Block, series_ref: u32, chunks: Vec<ChunkMeta> },
    Head(&'a HeadSeries),
}

/// Runs `tsdb dump` on the database in `dir`.
pub fn dump(dir: &Path, opts: &DumpOptions, out: &mut dyn Write) -> Result<(), Error> {
    let (mint, maxt) = (opts.min_time, opts.max_time);
    check_db_dir(dir)?;
    let blocks = open_blocks(dir)?;
    let max_block_time = blocks.iter().map(|b| b.meta().max_time).max().unwrap_or(i64::MIN);
    let head = if max_block_time <= maxt { Some(read_head(dir, max_block_time)?) } else { None };

    let default = [DEFAULT_MATCH.to_string()];
    let selectors = if opts.matchers.is_empty() { &default[..] } else { &opts.matchers[..] };
    let sets = selectors
        .iter()
        .map(|s| promql_syntax::parse_metric_selector(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Selector(e.to_string()))?;
    let selected = |l: &Labels| sets.iter().any(|set| matches_all(set, l));

    let mut sources: Vec<Vec<(Labels, Found<'_>)>> = Vec::new();
    for b in blocks.iter().filter(|b| b.meta().min_time <= maxt && mint < b.meta().max_time) {
        let mut found = Vec::new();
        for r in b.index().all_postings()? {
            let entry = b.index().series(r)?;
            if !selected(&entry.labels) {
                continue;
            }
            let deleted = b.tombstones().get(u64::from(r));
            let chunks: Vec<ChunkMeta> = entry
                .chunks
                .into_iter()
                .filter(|c| c.max_time >= mint && c.min_time <= maxt)
                .filter(|c| !deleted.iter().any(|d| d.mint <= c.min_time && c.max_time <= d.maxt))
                .collect();
            if !chunks.is_empty() {
                found.push((entry.labels, Found::Block { block: b, series_ref: r, chunks }));
            }
        }
        sources.push(found);
    }
    let head_min = head
        .as_ref()
        .and_then(|h| h.iter().filter_map(|s| s.samples.first().map(|x| x.0)).min())
        .unwrap_or(i64::MAX);
    let head_used = head.is_some() && maxt >= head_min;
    if let Some(head) = head.as_ref().filter(|_| head_used) {
        let found = head
            .iter()
            .filter(|s| selected(&s.labels))
            .filter(|s| s.samples.iter().any(|&(t, _)| t >= mint && t <= maxt))
            .map(|s| (s.labels.clone(), Found::Head(s)))
            .collect();
        sources.push(found);
    }
    let sorted = sets.len() > 1 || sources.len() != 1 || !head_used;
    if sorted {
        for s in &mut sources {
            s.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }

    let mut w = BufWriter::new(out);
    let mut seen_json: std::collections::HashSet<String> = Default::default();
    let mut pos = vec![0usize; sources.len()];
    let next = |pos: &[usize]| {
        sources.iter().zip(pos).filter_map(|(s, &p)| s.get(p).map(|(l, _)| l)).min().cloned()
    };
    while let Some(labels) = next(&pos) {
        let mut samples: Vec<(i64, f64)> = Vec::new();
        for (s, p) in sources.iter().zip(pos.iter_mut()) {
            while let Some((l, found)) = s.get(*p) {
                if *l != labels {
                    break;
                }
                samples.extend(found_samples(found, mint, maxt)?);
                *p += 1;
            }
        }
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
        write_series(&mut w, opts.format, &labels, &samples, &mut seen_json)?;
    }
    if opts.format == DumpFormat::OpenMetrics {
        w.write_all(b"# EOF\n")?;
    }
    w.flush()?;
    Ok(())
}

fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name)))
}

/// The float samples of one found series in `[mint, maxt]`, deleted intervals removed.
fn found_samples(found: &Found<'_>, mint: i64, maxt: i64) -> Result<Vec<(i64, f64)>, Error> {
    let in_range = |t: i64| t >= mint && t <= maxt;
    match found {
        Found::Head(s) => Ok(s
            .samples
            .iter()
            .copied()
            .filter(|&(t, _)| in_range(t) && !s.deleted.iter().any(|&(a, b)| a <= t && t <= b))
            .collect()),
        Found::Block { block, series_ref, chunks } => {
            let deleted = block.tombstones().get(u64::from(*series_ref));
            let mut out = Vec::new();
            for c in chunks {
                let raw = block.chunks().chunk_verified(c.chunk_ref)?;
                if ChunkEncoding::from_u8(raw.encoding) != Some(ChunkEncoding::Xor) {
                    // Native histogram chunks are not decoded yet.
                    continue;
                }
                out.extend(
                    tsdb::chunkenc::XorIterator::new(raw.data)
                        .filter(|&(t, _)| in_range(t) && !deleted.iter().any(|d| d.contains(t))),
                );
            }
            Ok(out)
        }
    }
}

fn write_series(
    w: &mut dyn Write,
    format: DumpFormat,
    labels: &Labels,
    samples: &[(i64, f64)],
    seen_json: &mut std::collections::HashSet<String>,
) -> Result<(), Error> {
    match format {
        DumpFormat::Prom => {
            for &(t, v) in samples {
                writeln!(w, "{labels} {} {t}", format::go_g(v))?;
            }
        }
        DumpFormat::SeriesJson => {
            let json = format::labels_json(labels);
            if seen_json.insert(json.clone()) {
                writeln!(w, "{json}")?;
            }
        }
        DumpFormat::OpenMetrics => {
            let mut rest = String::from("{");
            for (i, l) in labels.iter().filter(|l| l.name != model::METRIC_NAME_LABEL).enumerate() {
                if i > 0 {
                    rest.push(',');
                }
                rest.push_str(l.name);
                rest.push('=');
                rest.push_str(&format::go_quote(l.value));
            }
            rest.push('}');
            let name = labels.metric_name();
            for &(t, v) in samples {
                writeln!(w, "{name}{rest} {} {:.3}", format::go_g(v), t as f64 / 1000.0)?;
            }
        }
    }
    Ok(())
}

/// Rebuilds the head's series from `dir/wal` without writing anything: samples before `min_valid` and samples
/// not after their series' previous sample are dropped, as the head's WAL replay drops them.
fn read_head(dir: &Path, min_valid: i64) -> Result<Vec<HeadSeries>, Error> {
    let wal_dir = dir.join("wal");
    if let Err(e) = std::fs::read_dir(&wal_dir) {
        return Err(Error::ReadWal(format!(
            "find last checkpoint: open {}: {}",
            wal_dir.display(),
            go_io_message(&e)
        )));
    }
    let replay =
        tsdb::wal::replay_read_only(&wal_dir).map_err(|e| Error::ReadWal(e.to_string()))?;
    let mut series: Vec<HeadSeries> = Vec::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut refs: HashMap<u64, usize> = HashMap::new();
    for rec in replay {
        match rec.map_err(|e| Error::ReadWal(e.to_string()))? {
            Record::Series(list) => {
                for s in list {
                    let idx = *by_labels.entry(s.labels.clone()).or_insert_with(|| {
                        series.push(HeadSeries {
                            first_ref: s.series_ref,
                            labels: s.labels.clone(),
                            samples: Vec::new(),
                            deleted: Vec::new(),
                        });
                        series.len() - 1
                    });
                    refs.insert(s.series_ref, idx);
                }
            }
            Record::Samples(list) => {
                for s in list {
                    let Some(&idx) = refs.get(&s.series_ref) else { continue };
                    let samples = &mut series[idx].samples;
                    if s.t < min_valid || samples.last().is_some_and(|&(t, _)| t >= s.t) {
                        continue;
                    }
                    samples.push((s.t, s.v));
                }
            }
            Record::Tombstones(list) => {
                for t in list {
                    if t.maxt < min_valid {
                        continue;
                    }
                    if let Some(&idx) = refs.get(&t.series_ref) {
                        series[idx].deleted.push((t.mint, t.maxt));
                    }
                }
            }
            _ => {}
        }
    }
    series.sort_by_key(|s| s.first_ref);
    Ok(series)
}
