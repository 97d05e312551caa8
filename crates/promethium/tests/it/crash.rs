//! What the `kill -9` tests share: the acknowledged samples noted before a kill and checked after the restart,
//! the temporary entries a crash may leave, a seeded (and printed) pseudo-random sequence for the kill points.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{Proc, enc};

/// The series of `serve_series` whose every sample is compared across a kill: the first in index order, one
/// more, and the last for 2,000 and for 20,000 series (label values sort as strings).
pub(crate) const WATCHED: [&str; 4] = ["m{i=\"0\"}", "m{i=\"7\"}", "m{i=\"999\"}", "m{i=\"9999\"}"];

/// The samples of the single series selected by `selector` over the last hour, as (ms, value) pairs.
pub(crate) fn samples(p: &Proc, selector: &str) -> Vec<(i64, String)> {
    let v = p.json(&format!("/api/v1/query?query={}", enc(&format!("{selector}[1h]"))));
    let result = v["data"]["result"].as_array().unwrap();
    assert!(result.len() <= 1, "{v}");
    result
        .first()
        .map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    let t = (pair[0].as_f64().unwrap() * 1000.0).round() as i64;
                    (t, pair[1].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The number of samples over the last hour of the 111 series `m{i="1"}`, `m{i="10"}` … `m{i="199"}` (a
/// sample of them: counting every series of a large test takes seconds).
pub(crate) fn count_some(p: &Proc) -> f64 {
    let q = "sum(count_over_time(m{i=~\"1..?\"}[1h]))";
    let v = p.json(&format!("/api/v1/query?query={}", enc(q)));
    v["data"]["result"][0]["value"][1].as_str().map_or(0.0, |s| s.parse().unwrap())
}

/// What the server had acknowledged when it was noted: every sample of the [`WATCHED`] series and the number
/// of samples of the series [`count_some`] counts.
#[derive(Debug, Default)]
pub(crate) struct Acked {
    series: Vec<(&'static str, Vec<(i64, String)>)>,
    total: f64,
}

impl Acked {
    /// Notes what `p` has acknowledged now.
    pub(crate) fn note(p: &Proc) -> Acked {
        Acked {
            series: WATCHED.iter().map(|s| (*s, samples(p, s))).collect(),
            total: count_some(p),
        }
    }

    /// Samples of the watched series noted (the series that exist).
    pub(crate) fn len(&self) -> usize {
        self.series.iter().map(|(_, s)| s.len()).sum()
    }

    /// Asserts that the restarted `p` has every acknowledged sample, once and in order, and that its WAL replay
    /// covered every segment there was.
    pub(crate) fn assert_kept(&self, p: &Proc, round: usize) {
        for (selector, before) in &self.series {
            let after = samples(p, selector);
            assert!(
                after.len() >= before.len() && after[..before.len()] == before[..],
                "round {round}: {selector}: {} samples before the kill, {} after; first difference {:?}",
                before.len(),
                after.len(),
                before.iter().zip(&after).find(|(b, a)| b != a),
            );
            assert!(
                after.windows(2).all(|w| w[0].0 < w[1].0),
                "round {round}: {selector}: duplicated or unordered samples"
            );
        }
        let total = count_some(p);
        assert!(total >= self.total, "round {round}: {total} samples now, {} before", self.total);
        let replay = p.json("/api/v1/status/walreplay");
        assert_eq!(replay["data"]["current"], replay["data"]["max"], "round {round}: {replay}");
    }
}

/// Whether `name` is a temporary entry (`*.tmp`, `*.tmp-for-creation`, `*.tmp-for-deletion`, …).
fn is_tmp(name: &str) -> bool {
    name.ends_with(".tmp") || name.contains(".tmp-")
}

/// Temporary files and directories under `data`, with when each was last modified.
pub(crate) fn tmp_entries(data: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if is_tmp(&e.file_name().to_string_lossy()) {
                out.push((e.path(), meta.modified().unwrap()));
            }
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// The temporary entries a kill left (see [`tmp_entries`]), to check that the restart removed them.
#[derive(Debug)]
pub(crate) struct Leftovers(Vec<(PathBuf, SystemTime)>);

impl Leftovers {
    /// The temporary entries under `data` now (the server is down).
    pub(crate) fn scan(data: &Path) -> Leftovers {
        Leftovers(tmp_entries(data))
    }

    /// Asserts that none is left. An entry of the same name the restarted server is writing now (a checkpoint
    /// of the same segments again) is a new one: it was modified after the scan.
    pub(crate) fn assert_gone(&self, round: usize) {
        for (path, modified) in &self.0 {
            let still = std::fs::metadata(path).ok().and_then(|m| m.modified().ok());
            assert!(
                still.is_none_or(|m| m > *modified),
                "round {round}: the restart left {}",
                path.display()
            );
        }
    }
}

/// The directories directly in `dir` whose name `is` accepts.
pub(crate) fn entries_named(dir: &Path, is: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| is(&e.file_name().to_string_lossy())).map(|e| e.path()).collect()
}

/// A xorshift sequence for the kill points, seeded from `PROMETHIUM_CRASH_SEED` or the clock; the seed is
/// printed so that a failing run can be repeated.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(test: &str) -> Rng {
        let seed = std::env::var("PROMETHIUM_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
            })
            | 1;
        eprintln!("{test}: kill point seed {seed} (PROMETHIUM_CRASH_SEED={seed} repeats it)");
        Rng(seed)
    }

    /// The next number in `lo..hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        lo + *x % (hi - lo)
    }
}
