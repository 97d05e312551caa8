//! `promtool tsdb create-blocks-from openmetrics`: backfilling blocks from an OpenMetrics file.
//!
//! As in Prometheus, the input is read once for its time range, then once per block-duration window (aligned to
//! the duration) that may hold samples. The samples of a window go through the head's append rules, in batches of
//! 5000 committed together: a sample older than its series' committed samples fails the command ("out of order
//! sample"), as does a different value at the latest committed timestamp; within a batch such samples are dropped
//! at commit, as Prometheus's head drops them. Each window that kept samples becomes one block covering
//! `[first sample, last sample + 1)`, its chunks cut as a head with a chunk range of twice the block duration
//! cuts them (Prometheus's block writer pretends its blocks are twice as long).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use exposition::{Entry, Parser};
use model::{Labels, LabelsBuilder};
use tsdb::block::DEFAULT_BLOCK_DURATION as DEFAULT_BLOCK_DURATION_MS;
use tsdb::{Block, BlockWriter};

use super::{block_table, go_io_message};
use crate::Error;

/// Samples appended before a commit, as promtool's backfill.
const MAX_SAMPLES_IN_APPENDER: usize = 5000;

/// Options of `tsdb create-blocks-from openmetrics`.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    /// `--max-block-duration` in milliseconds; anything up to 2h (and 0, unset) means 2h.
    pub max_block_duration: i64,
    /// Print times and sizes for humans.
    pub human_readable: bool,
    /// Do not print the created blocks.
    pub quiet: bool,
    /// Labels set on every series (`--label name=value`; an empty value removes the label).
    pub labels: Vec<(String, String)>,
}

/// Reads OpenMetrics from `input` and writes blocks into `output_dir`, printing each block made.
pub fn create_blocks_from_openmetrics(
    input: &Path,
    output_dir: &Path,
    opts: &BackfillOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let file_err = |op: &'static str, e: std::io::Error| Error::File {
        op,
        path: input.to_path_buf(),
        message: go_io_message(&e),
    };
    std::fs::metadata(input).map_err(|e| file_err("stat", e))?;
    let buf = std::fs::read(input).map_err(|e| file_err("open", e))?;
    std::fs::create_dir_all(output_dir).map_err(|e| Error::Backfill {
        context: "create output dir".into(),
        message: format!("mkdir {}: {}", output_dir.display(), go_io_message(&e)),
    })?;
    let (mint, maxt) = time_range(&buf).map_err(|message| Error::Backfill {
        context: "getting min and max timestamp".into(),
        message,
    })?;
    create_blocks(&buf, mint, maxt, output_dir, opts, out).map_err(|e| match e {
        Error::Backfill { context, message } => {
            Error::Backfill { context: format!("block creation: {context}"), message }
        }
        other => other,
    })
}

/// The smallest and largest sample timestamps (0 and 0 without samples).
fn time_range(buf: &[u8]) -> Result<(i64, i64), String> {
    let mut p = exposition::new_parser(buf, exposition::Format::OpenMetrics);
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    while let Some(entry) = p.next().map_err(|e| format!("next: {e}"))? {
        if entry != Entry::Series {
            continue;
        }
        let Some(ts) = p.series().1 else {
            return Err("expected timestamp for series got none".into());
        };
        mint = mint.min(ts);
        maxt = maxt.max(ts);
    }
    Ok((if mint == i64::MAX { 0 } else { mint }, if maxt == i64::MIN { 0 } else { maxt }))
}

/// The block duration for `--max-block-duration`: the largest of 2h·3ⁱ (i < 10) not above it, at least 2h.
fn block_duration(max: i64) -> i64 {
    if max <= DEFAULT_BLOCK_DURATION_MS {
        return DEFAULT_BLOCK_DURATION_MS;
    }
    let ranges: Vec<i64> = (0..10).map(|i| DEFAULT_BLOCK_DURATION_MS * 3i64.pow(i)).collect();
    let idx =
        ranges.iter().position(|&r| r > max).map_or(ranges.len() - 1, |i| i.saturating_sub(1));
    ranges[idx]
}

fn process_err(step: &str, message: impl std::fmt::Display) -> Error {
    Error::Backfill { context: format!("process blocks: {step}"), message: message.to_string() }
}

fn create_blocks(
    buf: &[u8],
    mint: i64,
    maxt: i64,
    output_dir: &Path,
    opts: &BackfillOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let duration = block_duration(opts.max_block_duration);
    let mut t = duration * (mint / duration);
    let mut wrote_header = false;
    let mut next_sample = i64::MAX;
    let mut lb = LabelsBuilder::new();
    while t <= maxt {
        let upper = t.saturating_add(duration);
        if next_sample != i64::MAX && next_sample >= upper {
            t = match t.checked_add(duration) {
                Some(n) => n,
                None => break,
            };
            continue;
        }
        next_sample = i64::MAX;
        let mut head = HeadSim::default();
        let mut p = exposition::new_parser(buf, exposition::Format::OpenMetrics);
        let mut pending = 0usize;
        while let Some(entry) = p.next().map_err(|e| process_err("parse", e))? {
            if entry != Entry::Series {
                continue;
            }
            let (_, ts, v) = p.series();
            let Some(ts) = ts else {
                p.labels(&mut lb);
                let message = format!("expected timestamp for series {}, got none", lb.labels());
                return Err(Error::Backfill { context: "process blocks".into(), message });
            };
            if ts < t {
                continue;
            }
            if ts >= upper {
                next_sample = next_sample.min(ts);
                continue;
            }
            p.labels(&mut lb);
            for (name, value) in &opts.labels {
                lb.set(name, value);
            }
            head.append(lb.labels(), ts, v).map_err(|e| process_err("add sample", e))?;
            pending += 1;
            if pending >= MAX_SAMPLES_IN_APPENDER {
                head.commit();
                pending = 0;
            }
        }
        head.commit();
        if let Some(ulid) = head.write_block(output_dir, duration)?
            && !opts.quiet
        {
            let dir = output_dir.join(ulid.to_string());
            let block = Block::open(&dir).map_err(|e| process_err("get blocks", e))?;
            out.write_all(block_table(&[block], !wrote_header, opts.human_readable).as_bytes())?;
            wrote_header = true;
        }
        t = match t.checked_add(duration) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(())
}

/// Why the head refused a sample, in Prometheus's words.
#[derive(Debug)]
enum AppendError {
    OutOfOrder,
    Duplicate { t: i64, existing: f64, new: f64 },
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::OutOfOrder => f.write_str("out of order sample"),
            AppendError::Duplicate { t: 0, .. } => f.write_str("duplicate sample for timestamp"),
            AppendError::Duplicate { t, existing, new } => write!(
                f,
                "duplicate sample for timestamp {t}; overrides not allowed: existing {}, new value {}",
                super::format::go_g(*existing),
                super::format::go_g(*new)
            ),
        }
    }
}

/// The part of Prometheus's head a backfill window needs: committed samples per series, and the samples
/// appended since the last commit.
#[derive(Debug, Default)]
struct HeadSim {
    index: HashMap<Labels, usize>,
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    pending: Vec<(usize, i64, f64)>,
}

impl HeadSim {
    /// Whether `(t, v)` may follow the committed samples of series `idx`.
    fn appendable(&self, idx: usize, t: i64, v: f64) -> Result<(), AppendError> {
        match self.series[idx].1.last() {
            None => Ok(()),
            Some(&(last, _)) if t > last => Ok(()),
            Some(&(last, existing)) if t == last => {
                if existing.to_bits() == v.to_bits() {
                    Ok(())
                } else {
                    Err(AppendError::Duplicate { t, existing, new: v })
                }
            }
            Some(_) => Err(AppendError::OutOfOrder),
        }
    }

    fn append(&mut self, labels: Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let next = self.series.len();
        let idx = *self.index.entry(labels.clone()).or_insert(next);
        if idx == next {
            self.series.push((labels, Vec::new()));
        }
        self.appendable(idx, t, v)?;
        self.pending.push((idx, t, v));
        Ok(())
    }

    /// Applies the pending samples in order, dropping those that no longer fit (out of order or duplicate
    /// within the batch).
    fn commit(&mut self) {
        for (idx, t, v) in std::mem::take(&mut self.pending) {
            let samples = &mut self.series[idx].1;
            if samples.last().is_none_or(|&(last, _)| t > last) {
                samples.push((t, v));
            }
        }
    }

    /// Writes the committed samples as one block; `None` when there are none.
    fn write_block(&self, dir: &Path, duration: i64) -> Result<Option<tsdb::Ulid>, Error> {
        let mut series: Vec<&(Labels, Vec<(i64, f64)>)> =
            self.series.iter().filter(|(_, s)| !s.is_empty()).collect();
        if series.is_empty() {
            return Ok(None);
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mint = series.iter().filter_map(|(_, s)| s.first().map(|x| x.0)).min().unwrap_or(0);
        let maxt = series.iter().filter_map(|(_, s)| s.last().map(|x| x.0)).max().unwrap_or(0);
        let mut w = BlockWriter::new(dir, mint, maxt.saturating_add(1))
            .map_err(|e| process_err("block writer", e))?;
        let chunk_range = duration.saturating_mul(2);
        for (labels, samples) in series {
            w.add_series(labels, &tsdb::block::cut_xor_chunks(samples, chunk_range))
                .map_err(|e| process_err("flush", e))?;
        }
        w.finish().map(Some).map_err(|e| process_err("flush", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_durations_follow_prometheus_ranges() {
        let h = 3_600_000;
        assert_eq!(block_duration(0), 2 * h);
        assert_eq!(block_duration(h), 2 * h);
        assert_eq!(block_duration(5 * h), 2 * h);
        assert_eq!(block_duration(6 * h), 6 * h);
        assert_eq!(block_duration(24 * h), 18 * h);
        assert_eq!(block_duration(i64::MAX), 2 * h * 3i64.pow(9));
    }

    #[test]
    fn head_rules() {
        let l = Labels::from_pairs([("__name__", "x")]);
        let mut h = HeadSim::default();
        h.append(l.clone(), 10, 1.0).unwrap();
        h.append(l.clone(), 5, 1.0).unwrap(); // dropped at commit
        h.commit();
        assert_eq!(h.series[0].1, vec![(10, 1.0)]);
        h.append(l.clone(), 10, 1.0).unwrap();
        assert_eq!(h.append(l.clone(), 9, 1.0).unwrap_err().to_string(), "out of order sample");
        assert_eq!(
            h.append(l, 10, 2.0).unwrap_err().to_string(),
            "duplicate sample for timestamp 10; overrides not allowed: existing 1, new value 2"
        );
    }
}
