//! The scrape manager: one pool per job, one loop per target; reload keeps unchanged pools running.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use discovery::TargetGroup;
use model::{Labels, Metadata};
use parking_lot::Mutex;
use storage::Appendable;
use tokio_util::sync::CancellationToken;

use crate::scrape_loop::{ScrapeLoop, State};
use crate::target::populate_labels;
use crate::{ScrapeOptions, TargetHealth, TargetInfo};

/// Counters the binary exports as `prometheus_target_*` metrics.
#[derive(Debug, Default)]
pub struct ScrapeStats {
    /// Scrapes that hit `sample_limit`.
    pub exceeded_sample_limit: AtomicU64,
    /// Scrapes that hit `native_histogram_bucket_limit`.
    pub exceeded_bucket_limit: AtomicU64,
    /// Samples rejected as out of order.
    pub out_of_order: AtomicU64,
    /// Samples rejected as duplicates for their timestamp.
    pub duplicate_timestamp: AtomicU64,
    /// Samples rejected as out of bounds.
    pub out_of_bounds: AtomicU64,
    /// Where the loops report the time between their scrapes (set once by [`Manager::observe_intervals`]).
    pub(crate) intervals: OnceLock<Arc<dyn IntervalObserver>>,
    /// How far a scrape's timestamp may be moved onto its schedule (set once by [`Manager::align_timestamps`];
    /// Prometheus's default, 2 ms, when unset).
    pub(crate) align_tolerance: OnceLock<Option<std::time::Duration>>,
}

/// Told the actual time between the starts of consecutive scrapes of each target, for
/// `prometheus_target_interval_length_seconds`.
pub trait IntervalObserver: Send + Sync + std::fmt::Debug {
    /// A target whose configured interval is `interval` (Go's duration string, such as `15s` or `1m0s`: the
    /// metric's `interval` label) started a scrape `actual` after the start of its previous one. Not called for a
    /// target's first scrape.
    fn observe(&self, interval: &str, actual: std::time::Duration);
}

impl ScrapeStats {
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

struct LoopHandle {
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
    state: Arc<Mutex<State>>,
    discovered: Labels,
    labels: Labels,
    url: String,
    interval: std::time::Duration,
    timeout: std::time::Duration,
}

struct Pool {
    opts: Arc<ScrapeOptions>,
    client: http_client::Client,
    groups: Vec<TargetGroup>,
    loops: HashMap<(Labels, String), LoopHandle>,
    dropped: Vec<TargetInfo>,
    /// Whether the running loops were started over the target limit.
    limited: bool,
}

/// Runs every scrape pool.
pub struct Manager {
    storage: Arc<dyn Appendable>,
    pools: Mutex<BTreeMap<String, Pool>>,
    stats: Arc<ScrapeStats>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("pools", &self.pools.lock().len()).finish_non_exhaustive()
    }
}

/// The pool's client. A client that cannot be built (an unreadable CA file, bad PEM, …) is logged here and
/// reported as every target's scrape error until its files are fixed.
fn build_client(o: &ScrapeOptions) -> http_client::Client {
    let c = http_client::Client::new(o.http.clone());
    if let Err(e) = c.get() {
        tracing::error!(scrape_pool = %o.job_name, err = %e, "Error creating HTTP client");
    }
    c
}

impl Manager {
    /// A manager writing into `storage`.
    pub fn new(storage: Arc<dyn Appendable>) -> Manager {
        Manager {
            storage,
            pools: Mutex::new(BTreeMap::new()),
            stats: Arc::new(ScrapeStats::default()),
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> Arc<ScrapeStats> {
        self.stats.clone()
    }

    /// Reports the time between each target's scrapes to `o` from now on, for running loops too (only the first
    /// observer set is used).
    pub fn observe_intervals(&self, o: Arc<dyn IntervalObserver>) {
        let _ = self.stats.intervals.set(o);
    }

    /// Sets how scrape timestamps are aligned (`--scrape.adjust-timestamps`, `--scrape.timestamp-tolerance`):
    /// with `Some(tolerance)`, a scrape that starts within `tolerance` (at most 1 % of the interval) of its
    /// scheduled time is stamped with the scheduled time, so timestamps of a series are exactly one interval
    /// apart and cost the chunk encoding one bit each; `None` stamps the actual start. Only the first call counts.
    pub fn align_timestamps(&self, tolerance: Option<std::time::Duration>) {
        let _ = self.stats.align_tolerance.set(tolerance);
    }

    /// Applies a new set of pools: removed pools stop (with staleness markers), changed pools restart their
    /// targets with the new settings, unchanged pools keep running untouched.
    pub fn apply_config(&self, pools: Vec<ScrapeOptions>) {
        let mut cur = self.pools.lock();
        let names: Vec<String> = pools.iter().map(|p| p.job_name.clone()).collect();
        let removed: Vec<String> = cur.keys().filter(|k| !names.contains(k)).cloned().collect();
        for name in removed {
            if let Some(p) = cur.remove(&name) {
                stop_loops(p.loops);
            }
        }
        for opts in pools {
            match cur.get_mut(&opts.job_name) {
                Some(p) if *p.opts == opts => {}
                Some(p) => {
                    stop_loops(std::mem::take(&mut p.loops));
                    p.client = build_client(&opts);
                    p.opts = Arc::new(opts);
                    let groups = p.groups.clone();
                    self.sync_pool(p, groups);
                }
                None => {
                    let name = opts.job_name.clone();
                    let pool = Pool {
                        client: build_client(&opts),
                        opts: Arc::new(opts),
                        groups: Vec::new(),
                        loops: HashMap::new(),
                        dropped: Vec::new(),
                        limited: false,
                    };
                    cur.insert(name, pool);
                }
            }
        }
    }

    /// Replaces the target groups of pool `job` and starts/stops loops to match.
    pub fn sync(&self, job: &str, groups: Vec<TargetGroup>) {
        let mut cur = self.pools.lock();
        if let Some(p) = cur.get_mut(job) {
            self.sync_pool(p, groups);
        }
    }

    fn sync_pool(&self, p: &mut Pool, groups: Vec<TargetGroup>) {
        let mut want: HashMap<
            (Labels, String),
            (Labels, std::time::Duration, std::time::Duration),
        > = HashMap::new();
        p.dropped.clear();
        for g in &groups {
            for t in &g.targets {
                let (res, discovered) = populate_labels(t, &g.labels, &p.opts);
                match res {
                    Ok(Some((labels, url))) => {
                        let interval = parse_label_dur(&discovered, "__scrape_interval__")
                            .unwrap_or(p.opts.interval);
                        let timeout = parse_label_dur(&discovered, "__scrape_timeout__")
                            .unwrap_or(p.opts.timeout);
                        want.insert((labels, url), (discovered, interval, timeout));
                    }
                    Ok(None) => p.dropped.push(dropped_info(&p.opts, discovered, String::new())),
                    Err(e) => {
                        tracing::warn!(scrape_pool = %p.opts.job_name, err = %e, "Creating target failed");
                        p.dropped.push(dropped_info(&p.opts, discovered, e));
                    }
                }
            }
        }
        if p.opts.keep_dropped_targets > 0 {
            p.dropped.truncate(p.opts.keep_dropped_targets as usize);
        }
        p.groups = groups;
        let gone: Vec<(Labels, String)> =
            p.loops.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
        for k in gone {
            if let Some(h) = p.loops.remove(&k) {
                h.cancel.cancel();
            }
        }
        // Over the target limit, every target of the pool fails with the limit error (Prometheus keeps them
        // listed and reports them down).
        let limit = p.opts.target_limit;
        let forced = (limit > 0 && want.len() as u64 > limit)
            .then_some(crate::Error::TargetLimit { targets: want.len(), limit });
        if forced.is_some() != p.limited {
            // Crossing the limit in either direction restarts every loop with the right mode.
            stop_loops(std::mem::take(&mut p.loops));
            p.limited = forced.is_some();
        }
        for ((labels, url), (discovered, interval, timeout)) in want {
            if p.loops.contains_key(&(labels.clone(), url.clone())) {
                continue;
            }
            let mut sl = ScrapeLoop::new(
                labels.clone(),
                url.clone(),
                p.opts.clone(),
                p.client.clone(),
                self.storage.clone(),
                self.stats.clone(),
                interval,
                timeout,
            );
            sl.forced_error = forced.clone();
            let state = sl.state.clone();
            let cancel = CancellationToken::new();
            let join = tokio::spawn(sl.run(cancel.clone()));
            p.loops.insert(
                (labels.clone(), url.clone()),
                LoopHandle { cancel, join, state, discovered, labels, url, interval, timeout },
            );
        }
    }

    /// Active targets, sorted by pool then labels.
    pub fn active_targets(&self) -> Vec<TargetInfo> {
        let cur = self.pools.lock();
        let mut out = Vec::new();
        for (name, p) in cur.iter() {
            let mut ts: Vec<TargetInfo> = p
                .loops
                .values()
                .map(|h| {
                    let st = h.state.lock();
                    TargetInfo {
                        discovered_labels: h.discovered.clone(),
                        labels: h.labels.clone(),
                        scrape_pool: name.clone(),
                        scrape_url: h.url.clone(),
                        last_error: st.last_error.clone(),
                        last_scrape: st.last_scrape,
                        last_scrape_duration: st.last_duration,
                        health: st.health,
                        interval: h.interval,
                        timeout: h.timeout,
                    }
                })
                .collect();
            ts.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.extend(ts);
        }
        out
    }

    /// Targets dropped by relabeling or with invalid labels.
    pub fn dropped_targets(&self) -> Vec<TargetInfo> {
        self.pools.lock().values().flat_map(|p| p.dropped.clone()).collect()
    }

    /// Names of the pools.
    pub fn pool_names(&self) -> Vec<String> {
        self.pools.lock().keys().cloned().collect()
    }

    /// Metadata of `metric` (or every metric when empty) per target: (target labels, family name, metadata).
    pub fn target_metadata(&self) -> Vec<(Labels, String, Metadata)> {
        let cur = self.pools.lock();
        let mut out = Vec::new();
        for p in cur.values() {
            for h in p.loops.values() {
                let st = h.state.lock();
                for (name, md) in &st.metadata {
                    out.push((h.labels.clone(), name.clone(), md.clone()));
                }
            }
        }
        out
    }

    /// Stops every pool and waits for the loops to write their staleness markers.
    pub async fn stop(&self) {
        let pools = std::mem::take(&mut *self.pools.lock());
        let mut joins = Vec::new();
        for (_, p) in pools {
            for (_, h) in p.loops {
                h.cancel.cancel();
                joins.push(h.join);
            }
        }
        for j in joins {
            let _ = j.await;
        }
    }
}

fn stop_loops(loops: HashMap<(Labels, String), LoopHandle>) {
    for (_, h) in loops {
        h.cancel.cancel();
    }
}

fn parse_label_dur(l: &Labels, name: &str) -> Option<std::time::Duration> {
    model::parse_duration(l.get(name))
        .ok()
        .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64))
}

fn dropped_info(o: &ScrapeOptions, discovered: Labels, err: String) -> TargetInfo {
    TargetInfo {
        discovered_labels: discovered,
        labels: Labels::empty(),
        scrape_pool: o.job_name.clone(),
        scrape_url: String::new(),
        last_error: err,
        last_scrape: None,
        last_scrape_duration: std::time::Duration::ZERO,
        health: TargetHealth::Unknown,
        interval: o.interval,
        timeout: o.timeout,
    }
}
