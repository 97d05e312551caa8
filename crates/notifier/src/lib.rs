//! The notifier: a bounded queue of alerts, sent in batches to every discovered Alertmanager through its v2 API,
//! with external labels, alert relabeling, drop accounting and the `prometheus_notifications_*` counters.
//!
//! [`Notifier::send`] never blocks: alerts go into the queue (the oldest are dropped when it is full) and a
//! background task started by [`Notifier::run`] drains it.

mod error;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use config::AlertmanagerConfig;
use discovery::TargetGroup;
use model::{Labels, LabelsBuilder};
use parking_lot::Mutex;
use serde::Serialize;

pub use error::Error;

/// Alerts per request.
pub const MAX_BATCH_SIZE: usize = 256;

/// An alert as sent to Alertmanager. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// When it started firing.
    pub starts_at: Option<i64>,
    /// When it resolved, or until when it is valid.
    pub ends_at: Option<i64>,
    /// Link back to the expression.
    pub generator_url: String,
}

#[derive(Serialize)]
struct WireAlert<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "startsAt", skip_serializing_if = "Option::is_none")]
    starts_at: Option<String>,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// Encodes alerts as the Alertmanager v2 `POST /api/v2/alerts` body.
pub fn encode(alerts: &[Alert]) -> String {
    let wire: Vec<WireAlert<'_>> = alerts
        .iter()
        .map(|a| WireAlert {
            labels: a.labels.iter().map(|l| (l.name, l.value)).collect(),
            annotations: a.annotations.iter().map(|l| (l.name, l.value)).collect(),
            starts_at: a.starts_at.and_then(rfc3339),
            ends_at: a.ends_at.and_then(rfc3339),
            generator_url: &a.generator_url,
        })
        .collect();
    serde_json::to_string(&wire).unwrap_or_else(|_| "[]".to_string())
}

/// Settings of the notifier itself (Prometheus's `--alertmanager.*` flags and `global.external_labels`).
#[derive(Debug, Clone)]
pub struct Options {
    /// `--alertmanager.notification-queue-capacity` (10000).
    pub queue_capacity: usize,
    /// Labels added to alerts that do not have them.
    pub external_labels: Labels,
    /// `alerting.alert_relabel_configs`.
    pub relabel: Vec<relabel::Config>,
    /// `--alertmanager.drain-notification-queue-on-shutdown` (true).
    pub drain_on_shutdown: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            queue_capacity: 10_000,
            external_labels: Labels::empty(),
            relabel: Vec::new(),
            drain_on_shutdown: true,
        }
    }
}

/// Counters per Alertmanager URL.
#[derive(Debug, Default)]
pub struct AmStats {
    /// Alerts sent (successfully or not).
    pub sent: AtomicU64,
    /// Alerts in failed requests.
    pub errors: AtomicU64,
    /// Sum of request latencies (µs).
    pub latency_us_sum: AtomicU64,
    /// Number of requests.
    pub requests: AtomicU64,
}

/// The notifier's counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Alerts dropped (queue overflow, or no Alertmanager to take them).
    pub dropped: AtomicU64,
    /// Per Alertmanager URL.
    pub per_am: Mutex<BTreeMap<String, Arc<AmStats>>>,
}

/// One discovered Alertmanager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The full URL alerts are posted to.
    pub url: String,
    /// Labels after relabeling (or before, for dropped ones).
    pub labels: Labels,
}

struct AmSet {
    cfg: AlertmanagerConfig,
    client: http_client::Client,
    groups: BTreeMap<String, Vec<TargetGroup>>,
    active: Vec<Target>,
    dropped: Vec<Target>,
}

/// The notifier.
pub struct Notifier {
    opts: Mutex<Options>,
    queue: Mutex<VecDeque<Alert>>,
    more: tokio::sync::Notify,
    sets: Mutex<Vec<AmSet>>,
    stats: Stats,
    latency: std::sync::OnceLock<Arc<dyn LatencyObserver>>,
}

/// Told how long each request to an Alertmanager took (for the latency summaries and histograms).
pub trait LatencyObserver: Send + Sync {
    /// A request to `alertmanager` (its URL) took `d`, successful or not.
    fn observe(&self, alertmanager: &str, d: std::time::Duration);
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("queue_length", &self.queue_length())
            .finish_non_exhaustive()
    }
}

/// The set's client. One that cannot be built (an unreadable CA file, bad PEM, …) is logged here, and again with
/// every batch it fails to send, until its files are fixed.
fn build_client(c: &AlertmanagerConfig) -> http_client::Client {
    let client = http_client::Client::new(http_client::ClientSettings {
        user_agent: Some(concat!("Promethium/", env!("CARGO_PKG_VERSION")).to_string()),
        ..http_client::ClientSettings::from_alertmanager_config(c)
    });
    if let Err(e) = client.get() {
        tracing::error!(err = %e, "Error creating HTTP client for Alertmanager");
    }
    client
}

/// Turns discovered groups into Alertmanager targets: `__scheme__` and `__alerts_path__` are set, the set's
/// `relabel_configs` applied, a default port added.
pub fn resolve_targets(
    cfg: &AlertmanagerConfig,
    groups: &[TargetGroup],
) -> (Vec<Target>, Vec<Target>) {
    let (mut active, mut dropped) = (Vec::new(), Vec::new());
    let prefix = cfg.path_prefix.trim_matches('/');
    let path = if prefix.is_empty() {
        "/api/v2/alerts".to_string()
    } else {
        format!("/{prefix}/api/v2/alerts")
    };
    for g in groups {
        for t in &g.targets {
            let mut b = LabelsBuilder::new();
            for l in g.labels.iter().chain(t.iter()) {
                b.set(l.name, l.value);
            }
            if b.get("__scheme__").is_empty() {
                b.set("__scheme__", &cfg.scheme);
            }
            b.set("__alerts_path__", &path);
            let before = b.labels();
            if !relabel::process_builder(&mut b, &cfg.relabel_configs) {
                dropped.push(Target { url: String::new(), labels: before });
                continue;
            }
            let labels = b.labels();
            let scheme = labels.get("__scheme__");
            let mut addr = labels.get("__address__").to_string();
            if addr.is_empty() || addr.contains('/') {
                tracing::warn!(address = %addr, "Dropping Alertmanager target with invalid address");
                continue;
            }
            if !has_port(&addr) {
                addr.push_str(if scheme == "https" { ":443" } else { ":80" });
            }
            let url = format!("{scheme}://{addr}{}", labels.get("__alerts_path__"));
            if !active.iter().any(|a: &Target| a.url == url) {
                active.push(Target { url, labels });
            }
        }
    }
    (active, dropped)
}

fn has_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

impl Notifier {
    /// A notifier with no Alertmanagers.
    pub fn new(opts: Options) -> Notifier {
        Notifier {
            opts: Mutex::new(opts),
            queue: Mutex::new(VecDeque::new()),
            more: tokio::sync::Notify::new(),
            sets: Mutex::new(Vec::new()),
            stats: Stats::default(),
            latency: std::sync::OnceLock::new(),
        }
    }

    /// Reports request latencies to `o` from now on (only the first observer set is used).
    pub fn observe_latency(&self, o: Arc<dyn LatencyObserver>) {
        let _ = self.latency.set(o);
    }

    /// Applies new settings and Alertmanager sets; discovered targets are kept for sets whose configuration did
    /// not change.
    pub fn apply_config(&self, opts: Options, sets: &[AlertmanagerConfig]) {
        *self.opts.lock() = opts;
        let mut cur = self.sets.lock();
        let mut old = std::mem::take(&mut *cur);
        for cfg in sets {
            if let Some(i) = old.iter().position(|s| &s.cfg == cfg) {
                cur.push(old.remove(i));
                continue;
            }
            cur.push(AmSet {
                cfg: cfg.clone(),
                client: build_client(cfg),
                groups: BTreeMap::new(),
                active: Vec::new(),
                dropped: Vec::new(),
            });
        }
    }

    /// Replaces the groups one provider (`provider`, e.g. `static` or `file/0`) discovered for set `index`.
    pub fn set_groups(&self, index: usize, provider: &str, groups: Vec<TargetGroup>) {
        let mut sets = self.sets.lock();
        let Some(set) = sets.get_mut(index) else { return };
        set.groups.insert(provider.to_string(), groups);
        let all: Vec<TargetGroup> = set.groups.values().flatten().cloned().collect();
        let (active, dropped) = resolve_targets(&set.cfg, &all);
        set.active = active;
        set.dropped = dropped;
    }

    /// Active and dropped Alertmanagers over all sets.
    pub fn alertmanagers(&self) -> (Vec<Target>, Vec<Target>) {
        let sets = self.sets.lock();
        let active = sets.iter().flat_map(|s| s.active.iter().cloned()).collect();
        let dropped = sets.iter().flat_map(|s| s.dropped.iter().cloned()).collect();
        (active, dropped)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Alerts waiting in the queue.
    pub fn queue_length(&self) -> usize {
        self.queue.lock().len()
    }

    /// The queue capacity.
    pub fn queue_capacity(&self) -> usize {
        self.opts.lock().queue_capacity
    }

    /// Queues alerts after adding external labels and applying `alert_relabel_configs`; drops the oldest queued
    /// alerts when the queue would overflow.
    pub fn send(&self, alerts: Vec<Alert>) {
        let opts = self.opts.lock().clone();
        let mut alerts = relabel_alerts(&opts.relabel, &opts.external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        let cap = opts.queue_capacity.max(1);
        if alerts.len() > cap {
            let d = alerts.len() - cap;
            alerts.drain(..d);
            tracing::warn!(
                num_dropped = d,
                "Alert batch larger than queue capacity, dropping alerts"
            );
            self.stats.dropped.fetch_add(d as u64, Ordering::Relaxed);
        }
        let mut q = self.queue.lock();
        let over = (q.len() + alerts.len()).saturating_sub(cap);
        if over > 0 {
            q.drain(..over);
            tracing::warn!(num_dropped = over, "Alert notification queue full, dropping alerts");
            self.stats.dropped.fetch_add(over as u64, Ordering::Relaxed);
        }
        q.extend(alerts);
        drop(q);
        self.more.notify_one();
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut q = self.queue.lock();
        let n = q.len().min(MAX_BATCH_SIZE);
        q.drain(..n).collect()
    }

    /// Sends queued alerts until `shutdown` resolves (then drains the queue once more if configured to).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = self.more.notified() => {}
                _ = &mut shutdown => break,
            }
            loop {
                let batch = self.next_batch();
                if batch.is_empty() {
                    break;
                }
                self.send_all(&batch).await;
            }
        }
        if self.opts.lock().drain_on_shutdown {
            loop {
                let batch = self.next_batch();
                if batch.is_empty() {
                    break;
                }
                self.send_all(&batch).await;
            }
        }
    }

    /// Sends one batch to every Alertmanager; true when at least one accepted it.
    pub async fn send_all(&self, alerts: &[Alert]) -> bool {
        let targets: Vec<(http_client::Client, String, String, Auth)> = {
            let sets = self.sets.lock();
            let mut out = Vec::new();
            for s in sets.iter() {
                let relabeled: Vec<Alert> = if s.cfg.alert_relabel_configs.is_empty() {
                    alerts.to_vec()
                } else {
                    relabel_alerts(&s.cfg.alert_relabel_configs, &Labels::empty(), alerts.to_vec())
                };
                if relabeled.is_empty() {
                    continue;
                }
                let body = encode(&relabeled);
                let auth = Auth {
                    basic: s.cfg.basic_auth.as_ref().map(config::BasicAuth::resolve),
                    header: s.cfg.authorization_header(),
                };
                for t in &s.active {
                    out.push((s.client.clone(), t.url.clone(), body.clone(), auth.clone()));
                }
            }
            out
        };
        if targets.is_empty() {
            self.stats.dropped.fetch_add(alerts.len() as u64, Ordering::Relaxed);
            return false;
        }
        let n = alerts.len() as u64;
        let sends = targets.into_iter().map(|(client, url, body, auth)| async move {
            let stats = self.am_stats(&url);
            let started = Instant::now();
            let res = match client.get() {
                Ok(client) => post(&client, &url, body, &auth).await,
                Err(e) => Err(Error::Client(e)),
            };
            let took = started.elapsed();
            stats.latency_us_sum.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
            if let Some(o) = self.latency.get() {
                o.observe(&url, took);
            }
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats.sent.fetch_add(n, Ordering::Relaxed);
            match res {
                Ok(()) => true,
                Err(e) => {
                    stats.errors.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(alertmanager = %url, count = n, err = %e, "Error sending alerts");
                    false
                }
            }
        });
        let results = futures::future::join_all(sends).await;
        results.into_iter().any(|ok| ok)
    }

    fn am_stats(&self, url: &str) -> Arc<AmStats> {
        self.stats.per_am.lock().entry(url.to_string()).or_default().clone()
    }
}

/// Credentials for one Alertmanager set.
#[derive(Debug, Clone, Default)]
struct Auth {
    basic: Option<(String, String)>,
    header: Option<String>,
}

async fn post(client: &reqwest::Client, url: &str, body: String, auth: &Auth) -> Result<(), Error> {
    let mut req = client.post(url).header("Content-Type", "application/json").body(body);
    if let Some((u, p)) = &auth.basic {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(h) = &auth.header {
        req = req.header("Authorization", h);
    }
    let resp = req.send().await.map_err(|e| Error::Request(e.to_string()))?;
    let status = resp.status();
    if status.is_success() { Ok(()) } else { Err(Error::Status(status.to_string())) }
}

/// Adds external labels an alert lacks, then applies `configs`; alerts relabeled to nothing are dropped.
pub fn relabel_alerts(
    configs: &[relabel::Config],
    external: &Labels,
    alerts: Vec<Alert>,
) -> Vec<Alert> {
    let mut out = Vec::with_capacity(alerts.len());
    for mut a in alerts {
        let mut b = LabelsBuilder::new();
        b.reset(&a.labels);
        for l in external.iter() {
            if a.labels.get(l.name).is_empty() {
                b.set(l.name, l.value);
            }
        }
        if !configs.is_empty() && !relabel::process_builder(&mut b, configs) {
            continue;
        }
        a.labels = b.labels();
        out.push(a);
    }
    out
}

/// Prometheus's `strutil.TableLinkForExpression`: the graph page in table mode for `expr`.
pub fn table_link_for_expression(expr: &str) -> String {
    let mut enc = String::new();
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                enc.push(b as char)
            }
            b' ' => enc.push('+'),
            _ => enc.push_str(&format!("%{b:02X}")),
        }
    }
    format!("/graph?g0.expr={enc}&g0.tab=1")
}
