//! File-based service discovery: JSON or YAML files holding lists of `{targets, labels}` groups, matched by globs,
//! re-read when they change (polled every second) and every `refresh_interval`. A file that fails to parse keeps
//! its previous groups, as in Prometheus.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use model::Labels;
use serde::Deserialize;
use tokio::sync::watch;

use crate::{Error, TargetGroup};

/// Options of one `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSdOptions {
    /// Absolute file patterns; `*` and `?` are allowed in the last path element.
    pub files: Vec<String>,
    /// Full re-read interval.
    pub refresh_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// A running file SD provider; its groups are published on a watch channel.
#[derive(Debug)]
pub struct FileSd {
    rx: watch::Receiver<Vec<TargetGroup>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileSd {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileSd {
    /// Starts watching. Must be called inside a tokio runtime.
    pub fn start(opts: FileSdOptions) -> FileSd {
        let mut state = State::default();
        let initial = state.refresh(&opts, true);
        let (tx, rx) = watch::channel(initial);
        let task = tokio::spawn(async move {
            let mut last_full = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let full = last_full.elapsed() >= opts.refresh_interval;
                if full {
                    last_full = tokio::time::Instant::now();
                }
                let groups = state.refresh(&opts, full);
                tx.send_if_modified(|cur| {
                    if *cur != groups {
                        *cur = groups;
                        true
                    } else {
                        false
                    }
                });
            }
        });
        FileSd { rx, task }
    }

    /// A receiver of the current groups.
    pub fn subscribe(&self) -> watch::Receiver<Vec<TargetGroup>> {
        self.rx.clone()
    }
}

#[derive(Debug, Default)]
struct State {
    files: HashMap<PathBuf, (SystemTime, Vec<TargetGroup>)>,
}

impl State {
    fn refresh(&mut self, opts: &FileSdOptions, force: bool) -> Vec<TargetGroup> {
        let mut seen = Vec::new();
        for pattern in &opts.files {
            for path in glob(pattern) {
                let mtime = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                seen.push(path.clone());
                if !force && self.files.get(&path).is_some_and(|(t, _)| *t == mtime) {
                    continue;
                }
                match read_file(&path) {
                    Ok(groups) => {
                        self.files.insert(path, (mtime, groups));
                    }
                    Err(e) => {
                        tracing::error!(err = %e, "Error reading file");
                        // Keep the last good groups, but do not re-read until the file changes again.
                        if let Some(entry) = self.files.get_mut(&path) {
                            entry.0 = mtime;
                        }
                    }
                }
            }
        }
        self.files.retain(|p, _| seen.contains(p));
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        paths.into_iter().flat_map(|p| self.files[p].1.clone()).collect()
    }
}

/// Expands a pattern whose last element may hold `*`/`?` wildcards.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if p.exists() { vec![p.to_path_buf()] } else { Vec::new() };
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.file_name().is_some_and(|n| wildcard(&name, &n.to_string_lossy())))
        .collect();
    out.sort();
    out
}

fn wildcard(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Reads one SD file into groups; the `__meta_filepath` label names the file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<TargetGroup>, Error> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Read { path: display.clone(), message: e.to_string() })?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let raw: Vec<RawGroup> = match ext.as_str() {
        "json" => serde_json::from_str(&text)
            .map_err(|e| Error::Parse { path: display.clone(), message: e.to_string() })?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_saphyr::from_str(&text)
                    .map_err(|e| Error::Parse { path: display.clone(), message: e.to_string() })?
            }
        }
        _ => {
            return Err(Error::Parse {
                path: display,
                message: "retrieval target groups from file: invalid file extension".to_string(),
            });
        }
    };
    let mut out = Vec::new();
    for (i, g) in raw.into_iter().enumerate() {
        let mut labels: Vec<(String, String)> = g.labels.unwrap_or_default().into_iter().collect();
        for (k, _) in &labels {
            if k.is_empty() {
                return Err(Error::Parse {
                    path: display.clone(),
                    message: format!("invalid label name {k:?}"),
                });
            }
        }
        labels.push(("__meta_filepath".to_string(), display.clone()));
        out.push(TargetGroup {
            source: format!("{display}:{i}"),
            targets: g
                .targets
                .iter()
                .map(|t| Labels::from_pairs([("__address__", t.as_str())]))
                .collect(),
            labels: Labels::from_pairs(labels),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.json", "a.json"));
        assert!(wildcard("t?.yml", "t1.yml"));
        assert!(!wildcard("*.json", "a.yml"));
    }

    #[tokio::test]
    async fn follows_file_changes_and_keeps_groups_on_bad_content() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("targets.json");
        std::fs::write(&f, r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}]"#).unwrap();
        let sd = FileSd::start(FileSdOptions {
            files: vec![dir.path().join("*.json").display().to_string()],
            refresh_interval: Duration::from_secs(300),
        });
        let mut rx = sd.subscribe();
        let groups = rx.borrow().clone();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets.len(), 2);
        assert_eq!(groups[0].labels.get("env"), "prod");
        assert_eq!(groups[0].labels.get("__meta_filepath"), f.display().to_string());

        // A change is picked up.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        std::fs::write(&f, r#"[{"targets": ["c:3"]}]"#).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.unwrap().unwrap();
        assert_eq!(rx.borrow().clone()[0].targets[0].get("__address__"), "c:3");

        // Garbage keeps the last good groups.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        std::fs::write(&f, "not json").unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(rx.borrow().clone()[0].targets[0].get("__address__"), "c:3");
    }

    #[test]
    fn yaml_files_and_bad_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let y = dir.path().join("t.yml");
        std::fs::write(&y, "- targets: ['x:1']\n  labels:\n    a: b\n").unwrap();
        let g = read_file(&y).unwrap();
        assert_eq!(g[0].labels.get("a"), "b");
        let bad = dir.path().join("t.txt");
        std::fs::write(&bad, "[]").unwrap();
        assert!(read_file(&bad).unwrap_err().to_string().contains("invalid file extension"));
    }
}
