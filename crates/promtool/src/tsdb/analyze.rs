//! `promtool tsdb analyze`: churn, label cardinality and (with `--extended`) chunk fill statistics of one block.
//!
//! Ranked lists are sorted by their figure, largest first; ties keep name order (Prometheus ranks ties in map
//! iteration order for the first three lists, so only the figures are comparable there).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use model::{Labels, Matcher};
use tsdb::Block;

use super::{check_db_dir, format};
use crate::Error;

/// Options of `tsdb analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// The block to analyze; the one with the newest ULID when `None`.
    pub block_id: Option<String>,
    /// How many items each list shows.
    pub limit: i64,
    /// Also print the compaction (chunk fill) analysis.
    pub extended: bool,
    /// A series selector restricting the analysis.
    pub matchers: Option<String>,
}

impl Default for AnalyzeOptions {
    fn default() -> AnalyzeOptions {
        AnalyzeOptions { block_id: None, limit: 20, extended: false, matchers: None }
    }
}

/// Runs `tsdb analyze` on the database in `dir`, writing the report to `out`.
pub fn analyze(dir: &Path, opts: &AnalyzeOptions, out: &mut dyn Write) -> Result<(), Error> {
    let selectors = match opts.matchers.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Some(
            promql_syntax::parse_metric_selector(m).map_err(|e| Error::Selector(e.to_string()))?,
        ),
        None => None,
    };
    check_db_dir(dir)?;
    let block_id = match &opts.block_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => last_block_id(dir)?,
    };
    let block_dir = dir.join(&block_id);
    if !block_dir.exists() {
        return Err(Error::InvalidBlockId(block_id));
    }
    let block = Block::open(&block_dir)?;
    let mut w = String::new();
    report(&block, opts, selectors.as_deref(), &mut w)?;
    out.write_all(w.as_bytes())?;
    Ok(())
}

/// The directory entry named by the ULID with the newest timestamp (the first of equals in name order).
fn last_block_id(dir: &Path) -> Result<String, Error> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::OpenDb { dir: dir.to_path_buf(), message: super::go_io_message(&e) })?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    let mut best: Option<(u64, String)> = None;
    for name in names {
        let Some(ulid) = tsdb::Ulid::parse(&name) else { continue };
        let t = ulid.timestamp_ms();
        if t > best.as_ref().map_or(0, |b| b.0) {
            best = Some((t, name));
        }
    }
    best.map(|b| b.1).ok_or(Error::NoBlocks)
}

fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name)))
}

/// Prints `(figure, key)` pairs largest first, at most `limit` of them.
fn print_ranked(w: &mut String, title: &str, mut items: Vec<(u64, String)>, limit: i64) {
    w.push_str(&format!("\n{title}:\n"));
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    for (i, (n, key)) in items.iter().enumerate() {
        if i as i64 >= limit {
            break;
        }
        w.push_str(&format!("{n} {key}\n"));
    }
}

fn report(
    block: &Block,
    opts: &AnalyzeOptions,
    selectors: Option<&[Matcher]>,
    w: &mut String,
) -> Result<(), Error> {
    let meta = block.meta();
    let range = meta.max_time.wrapping_sub(meta.min_time);
    let ix = block.index();
    w.push_str(&format!("Block ID: {}\n", meta.ulid));
    w.push_str(&format!("Duration: {}\n", format::go_duration(range.wrapping_mul(1_000_000))));
    w.push_str(&format!("Total Series: {}\n", meta.stats.num_series));
    if let Some(m) = opts.matchers.as_deref().filter(|m| !m.is_empty()) {
        w.push_str(&format!("Matcher: {m}\n"));
    }

    // The series analysed, with their labels and chunk coverage.
    let mut series = Vec::new();
    for r in ix.all_postings()? {
        let entry = ix.series(r)?;
        if selectors.is_none_or(|s| matches_all(s, &entry.labels)) {
            series.push((r, entry));
        }
    }

    let label_names: Vec<String> = match selectors {
        None => ix.label_names(),
        Some(_) => {
            let mut names: Vec<String> = series
                .iter()
                .flat_map(|(_, e)| e.labels.iter().map(|l| l.name.to_string()))
                .collect();
            names.sort();
            names.dedup();
            names
        }
    };
    let values_of = |name: &str| -> Vec<String> {
        match selectors {
            None => ix.label_values(name),
            Some(_) => {
                let mut vs: Vec<String> = series
                    .iter()
                    .filter(|(_, e)| e.labels.has(name))
                    .map(|(_, e)| e.labels.get(name).to_string())
                    .collect();
                vs.sort();
                vs.dedup();
                vs
            }
        }
    };
    w.push_str(&format!("Label names: {}\n", label_names.len()));
    if selectors.is_some() {
        w.push_str(&format!("Matched series: {}\n", series.len()));
    }

    let mut names_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_uncovered: BTreeMap<String, u64> = BTreeMap::new();
    let mut pairs_count: BTreeMap<String, u64> = BTreeMap::new();
    let mut entries = 0u64;
    for (_, e) in &series {
        let covered = match (e.chunks.first(), e.chunks.last()) {
            (Some(first), Some(last)) => last.max_time.wrapping_sub(first.min_time) as u64,
            _ => 0,
        };
        let uncovered = (range as u64).wrapping_sub(covered);
        for l in e.labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            let n = names_uncovered.entry(l.name.to_string()).or_default();
            *n = n.wrapping_add(uncovered);
            let p = pairs_uncovered.entry(key.clone()).or_default();
            *p = p.wrapping_add(uncovered);
            *pairs_count.entry(key).or_default() += 1;
            entries += 1;
        }
    }
    w.push_str(&format!("Postings (unique label pairs): {}\n", pairs_uncovered.len()));
    w.push_str(&format!("Postings entries (total label pairs): {entries}\n"));

    let per_range = |m: u64| (m as f64 / range as f64) as u64;
    let limit = opts.limit;
    print_ranked(
        w,
        "Label pairs most involved in churning",
        pairs_uncovered.iter().map(|(k, &m)| (per_range(m), k.clone())).collect(),
        limit,
    );
    print_ranked(
        w,
        "Label names most involved in churning",
        names_uncovered.iter().map(|(k, &m)| (per_range(m), k.clone())).collect(),
        limit,
    );
    print_ranked(
        w,
        "Most common label pairs",
        pairs_count.iter().map(|(k, &m)| (m, k.clone())).collect(),
        limit,
    );
    let values: Vec<(String, Vec<String>)> =
        label_names.iter().map(|n| (n.clone(), values_of(n))).collect();
    print_ranked(
        w,
        "Label names with highest cumulative label value length",
        values.iter().map(|(n, vs)| (vs.iter().map(|v| v.len() as u64).sum(), n.clone())).collect(),
        limit,
    );
    print_ranked(
        w,
        "Highest cardinality labels",
        values.iter().map(|(n, vs)| (vs.len() as u64, n.clone())).collect(),
        limit,
    );
    let mut metric_names = Vec::new();
    for name in values_of(model::METRIC_NAME_LABEL) {
        let postings = ix.postings(model::METRIC_NAME_LABEL, &name)?;
        let count = match selectors {
            None => postings.len(),
            Some(_) => postings
                .iter()
                .filter(|r| series.binary_search_by_key(*r, |(s, _)| *s).is_ok())
                .count(),
        };
        metric_names.push((count as u64, name));
    }
    print_ranked(w, "Highest cardinality metric names", metric_names, limit);

    if opts.extended {
        compaction_analysis(block, &series, w)?;
    }
    Ok(())
}

/// `--extended`: distributions of samples and bytes per chunk.
fn compaction_analysis(
    block: &Block,
    series: &[(u32, tsdb::block::SeriesEntry)],
    w: &mut String,
) -> Result<(), Error> {
    let mut total = 0usize;
    let (mut float_samples, mut float_bytes) = (Vec::new(), Vec::new());
    for (_, e) in series {
        for c in &e.chunks {
            let raw = block.chunks().chunk(c.chunk_ref)?;
            let samples = match raw.data {
                [a, b, ..] => i64::from(u16::from_be_bytes([*a, *b])),
                _ => 0,
            };
            match tsdb::block::ChunkEncoding::from_u8(raw.encoding) {
                Some(tsdb::block::ChunkEncoding::Xor) => {
                    float_samples.push(samples);
                    float_bytes.push(raw.data.len() as i64);
                }
                Some(
                    tsdb::block::ChunkEncoding::Histogram
                    | tsdb::block::ChunkEncoding::FloatHistogram,
                ) => {
                    return Err(Error::Unsupported(
                        "the extended analysis of native histogram chunks".into(),
                    ));
                }
                _ => {}
            }
            total += 1;
        }
    }
    w.push_str("\nCompaction analysis:\n\n");
    display_histogram(w, "samples per float chunk", float_samples, total);
    display_histogram(w, "bytes per float chunk", float_bytes, total);
    for name in
        ["samples per histogram chunk", "bytes per histogram chunk", "buckets per histogram chunk"]
    {
        display_histogram(w, name, Vec::new(), total);
    }
    Ok(())
}

/// A text histogram of `data` in buckets of a power-of-ten width, bars as percentages of `total`.
fn display_histogram(w: &mut String, what: &str, mut data: Vec<i64>, total: usize) {
    let (Some(&min), Some(&max)) = (data.iter().min(), data.iter().max()) else {
        w.push_str(&format!("{what}: N/A\n\n"));
        return;
    };
    data.sort_unstable();
    let (start, end, step) = bucket_bounds(min, max);
    let mut buckets = vec![0i64; ((end - start) / step + 1) as usize];
    let mut max_count = 0;
    let mut sum = 0i64;
    for &c in &data {
        sum += c;
        let b = &mut buckets[((c - start) / step) as usize];
        *b += 1;
        max_count = max_count.max(*b);
    }
    let avg = sum / data.len() as i64;
    w.push_str(&format!("{what} (min/avg/max): {min}/{avg}/{max}\n"));
    let left = end.to_string().len();
    let right = (end + step).to_string().len();
    let count_w = max_count.to_string().len();
    let total = total.max(1) as i64;
    for (i, &count) in buckets.iter().enumerate() {
        let i = i as i64;
        let pct = 100 * count / total;
        w.push_str(&format!(
            "[{:>left$}, {:>right$}]: {count:>count_w$} {}\n",
            i * step + start + 1,
            (i + 1) * step + start,
            "#".repeat(pct.max(0) as usize),
        ));
    }
    w.push('\n');
}

/// Bucket range and width: the width is the smallest power of ten (at least 10, at most 100000) not below a
/// tenth of the spread; the range is `min` and `max` rounded outwards to it.
fn bucket_bounds(min: i64, max: i64) -> (i64, i64, i64) {
    let s = (max - min) / 10;
    let mut step = 10;
    while step < s && step <= 10000 {
        step *= 10;
    }
    (min - min % step, max - max % step + step, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_text() {
        let mut w = String::new();
        display_histogram(&mut w, "samples per float chunk", vec![3, 3, 120], 3);
        let want = format!(
            "samples per float chunk (min/avg/max): 3/42/120\n[  1, 100]: 2 {}\n[101, 200]: 1 {}\n[201, 300]: 0 \n\n",
            "#".repeat(66),
            "#".repeat(33)
        );
        assert_eq!(w, want);
        let mut w = String::new();
        display_histogram(&mut w, "bytes per histogram chunk", Vec::new(), 3);
        assert_eq!(w, "bytes per histogram chunk: N/A\n\n");
    }
}
