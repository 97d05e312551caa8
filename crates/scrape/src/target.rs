//! Targets: label processing from discovered labels to the final target labels, and the health record the
//! targets API shows.

use std::time::{Duration, SystemTime};

use model::{Labels, LabelsBuilder};

use crate::ScrapeOptions;

/// Health of a target, as the targets API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetHealth {
    /// Not scraped yet.
    #[default]
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl TargetHealth {
    /// `up`, `down` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// A snapshot of one target for the API.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetInfo {
    /// Labels before relabeling (discovered labels).
    pub discovered_labels: Labels,
    /// Final target labels (empty for dropped targets).
    pub labels: Labels,
    /// The pool (job) name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// Last error text, empty if none.
    pub last_error: String,
    /// When the last scrape started.
    pub last_scrape: Option<SystemTime>,
    /// How long the last scrape took.
    pub last_scrape_duration: Duration,
    /// Health.
    pub health: TargetHealth,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
}

/// Result of label processing: the final labels and the scrape URL, or `None` when relabeling dropped the target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Populated {
    pub(crate) labels: Labels,
    pub(crate) url: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

fn parse_dur(s: &str) -> Option<Duration> {
    model::parse_duration(s).ok().map(|ms| Duration::from_millis(ms.max(0) as u64))
}

/// Turns one discovered target (its labels merged over the group's) into target labels as Prometheus's
/// `PopulateLabels` does: defaults for `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
/// `__scrape_timeout__` and `__param_*`, then `relabel_configs`, then `instance` defaulting to `__address__`, and
/// finally every `__`-prefixed label removed. Returns the labels before relabeling too.
pub fn populate_labels(
    target: &Labels,
    group: &Labels,
    opts: &ScrapeOptions,
) -> (Result<Option<(Labels, String)>, String>, Labels) {
    let mut b = LabelsBuilder::new();
    for l in group.iter() {
        b.set(l.name, l.value);
    }
    for l in target.iter() {
        b.set(l.name, l.value);
    }
    let defaults = [
        ("job", opts.job_name.clone()),
        ("__scrape_interval__", model::format_duration(opts.interval.as_millis() as i64)),
        ("__scrape_timeout__", model::format_duration(opts.timeout.as_millis() as i64)),
        ("__metrics_path__", opts.metrics_path.clone()),
        ("__scheme__", opts.scheme.clone()),
    ];
    for (k, v) in defaults {
        if b.get(k).is_empty() {
            b.set(k, &v);
        }
    }
    for (k, vs) in &opts.params {
        let name = format!("__param_{k}");
        if b.get(&name).is_empty()
            && let Some(v) = vs.first()
        {
            b.set(&name, v);
        }
    }
    let discovered = b.labels();
    match populate_after(&mut b, opts) {
        Ok(Some(p)) => (Ok(Some((p.labels, p.url))), discovered),
        Ok(None) => (Ok(None), discovered),
        Err(e) => (Err(e), discovered),
    }
}

pub(crate) fn populate_after(
    b: &mut LabelsBuilder,
    opts: &ScrapeOptions,
) -> Result<Option<Populated>, String> {
    if !relabel::process_builder(b, &opts.relabel_configs) {
        return Ok(None);
    }
    let addr = b.get("__address__").to_string();
    if addr.is_empty() {
        return Err("no address".to_string());
    }
    if addr.contains('/') {
        return Err(format!("invalid address {addr:?}"));
    }
    let interval_s = b.get("__scrape_interval__").to_string();
    let interval = parse_dur(&interval_s).ok_or_else(|| {
        format!("error parsing scrape interval: not a valid duration string: {interval_s:?}")
    })?;
    let timeout_s = b.get("__scrape_timeout__").to_string();
    let timeout = parse_dur(&timeout_s).ok_or_else(|| {
        format!("error parsing scrape timeout: not a valid duration string: {timeout_s:?}")
    })?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_string());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_string());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_s:?} > {interval_s:?})"
        ));
    }
    let mut query = Vec::new();
    let names: Vec<String> = b.iter().map(|l| l.name.to_string()).collect();
    for n in &names {
        if let Some(p) = n.strip_prefix("__param_") {
            query.push(format!("{}={}", encode(p), encode(b.get(n))));
        }
    }
    let mut url = format!("{}://{}{}", b.get("__scheme__"), addr, b.get("__metrics_path__"));
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    b.retain(|n, _| !n.starts_with("__meta_"));
    if b.get("instance").is_empty() {
        b.set("instance", &addr);
    }
    let mut out = LabelsBuilder::new();
    for l in b.iter().filter(|l| !l.name.starts_with("__")) {
        out.set(l.name, l.value);
    }
    Ok(Some(Populated { labels: out.labels(), url, interval, timeout }))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ScrapeOptions {
        let c = config::load_str("scrape_configs:\n  - job_name: node\n    scrape_interval: 15s\n    params:\n      module: [a b]\n", "t").unwrap();
        ScrapeOptions::from(&c.scrape_configs[0])
    }

    #[test]
    fn defaults_instance_and_url() {
        let t = Labels::from_pairs([("__address__", "h:9100"), ("__meta_x", "y")]);
        let g = Labels::from_pairs([("env", "prod")]);
        let (res, discovered) = populate_labels(&t, &g, &opts());
        let (labels, url) = res.unwrap().unwrap();
        assert_eq!(labels.to_string(), r#"{env="prod", instance="h:9100", job="node"}"#);
        assert_eq!(url, "http://h:9100/metrics?module=a%20b");
        assert_eq!(discovered.get("__meta_x"), "y");
        assert_eq!(discovered.get("__scrape_interval__"), "15s");
    }

    #[test]
    fn relabel_drop_and_errors() {
        let mut o = opts();
        o.relabel_configs = vec![
            serde_saphyr::from_str("source_labels: [__address__]\nregex: 'h:.*'\naction: drop")
                .unwrap(),
        ];
        let t = Labels::from_pairs([("__address__", "h:1")]);
        assert_eq!(populate_labels(&t, &Labels::empty(), &o).0, Ok(None));
        let (res, _) = populate_labels(&Labels::empty(), &Labels::empty(), &opts());
        assert_eq!(res, Err("no address".to_string()));
    }
}
