//! The settings of one scrape pool, derived from a `scrape_config`.

use std::time::Duration;

use exposition::Format;

/// Settings of one scrape pool.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeOptions {
    /// Job name (`job` label).
    pub job_name: String,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
    /// Path of the metrics endpoint.
    pub metrics_path: String,
    /// `http` or `https`.
    pub scheme: String,
    /// URL parameters.
    pub params: Vec<(String, Vec<String>)>,
    /// Keep scraped labels on conflict with target labels.
    pub honor_labels: bool,
    /// Use timestamps given by the target.
    pub honor_timestamps: bool,
    /// Negotiation order, as config protocol names.
    pub scrape_protocols: Vec<String>,
    /// Format used when the Content-Type is missing or unknown.
    pub fallback_protocol: Option<Format>,
    /// Ask for gzip.
    pub enable_compression: bool,
    /// Body size limit in bytes (0 = none).
    pub body_size_limit: u64,
    /// Sample limit (0 = none).
    pub sample_limit: u64,
    /// Target limit (0 = none).
    pub target_limit: u64,
    /// Dropped targets kept for the API (0 = all).
    pub keep_dropped_targets: u64,
    /// Labels-per-series limit (0 = none).
    pub label_limit: u64,
    /// Label name length limit (0 = none).
    pub label_name_length_limit: u64,
    /// Label value length limit (0 = none).
    pub label_value_length_limit: u64,
    /// Target relabeling.
    pub relabel_configs: Vec<relabel::Config>,
    /// Sample relabeling.
    pub metric_relabel_configs: Vec<relabel::Config>,
    /// Basic auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// Authorization header value (`Bearer xyz`).
    pub authorization: Option<String>,
    /// Skip TLS verification.
    pub insecure_skip_verify: bool,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Add `scrape_timeout_seconds`, `scrape_sample_limit`, `scrape_body_size_bytes`.
    pub extra_scrape_metrics: bool,
}

fn protocol(name: &str) -> Option<Format> {
    match name {
        "OpenMetricsText1.0.0" | "OpenMetricsText0.0.1" => Some(Format::OpenMetrics),
        "PrometheusText0.0.4" | "PrometheusText1.0.0" => Some(Format::PrometheusText),
        _ => None,
    }
}

fn read_secret(inline: Option<&config::Secret>, file: Option<&String>) -> Option<String> {
    if let Some(s) = inline {
        return Some(s.0.clone());
    }
    file.and_then(|f| std::fs::read_to_string(f).ok()).map(|s| s.trim().to_string())
}

impl From<&config::ScrapeConfig> for ScrapeOptions {
    fn from(c: &config::ScrapeConfig) -> ScrapeOptions {
        let authorization = if let Some(a) = &c.authorization {
            let kind = a.kind.clone().unwrap_or_else(|| "Bearer".to_string());
            read_secret(a.credentials.as_ref(), a.credentials_file.as_ref())
                .map(|cred| format!("{kind} {cred}"))
        } else {
            read_secret(c.bearer_token.as_ref(), c.bearer_token_file.as_ref())
                .map(|t| format!("Bearer {t}"))
        };
        let basic_auth = c.basic_auth.as_ref().map(|b| {
            let pw = read_secret(b.password.as_ref(), b.password_file.as_ref()).unwrap_or_default();
            (b.username.clone(), pw)
        });
        ScrapeOptions {
            job_name: c.job_name.clone(),
            interval: c.interval().to_std(),
            timeout: c.timeout().to_std(),
            metrics_path: c.metrics_path.clone(),
            scheme: c.scheme.clone(),
            params: c.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            honor_labels: c.honor_labels,
            honor_timestamps: c.honor_timestamps,
            scrape_protocols: c.scrape_protocols.clone(),
            fallback_protocol: c.fallback_scrape_protocol.as_deref().and_then(protocol),
            enable_compression: c.enable_compression,
            body_size_limit: c.body_size_limit.map_or(0, |s| s.0),
            sample_limit: c.sample_limit.unwrap_or(0),
            target_limit: c.target_limit.unwrap_or(0),
            keep_dropped_targets: c.keep_dropped_targets.unwrap_or(0),
            label_limit: c.label_limit.unwrap_or(0),
            label_name_length_limit: c.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: c.label_value_length_limit.unwrap_or(0),
            relabel_configs: c.relabel_configs.clone(),
            metric_relabel_configs: c.metric_relabel_configs.clone(),
            basic_auth,
            authorization,
            insecure_skip_verify: c.tls_config.insecure_skip_verify,
            follow_redirects: c.follow_redirects,
            extra_scrape_metrics: c.extra_scrape_metrics.unwrap_or(false),
        }
    }
}

/// The `Accept` header Prometheus sends for a protocol list: each in order with decreasing q-values, then `*/*`.
pub(crate) fn accept_header(protocols: &[String]) -> String {
    let mut parts = Vec::new();
    let mut weight = protocols.len() + 1;
    for p in protocols {
        let media = match p.as_str() {
            "PrometheusProto" => continue,
            "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
            "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
            "PrometheusText1.0.0" => "text/plain;version=1.0.0",
            _ => "text/plain;version=0.0.4",
        };
        parts.push(format!("{media};q=0.{weight}"));
        weight = weight.saturating_sub(1).max(1);
    }
    parts.push(format!("*/*;q=0.{}", weight.max(1)));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_orders_by_weight() {
        let p: Vec<String> = [
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText1.0.0",
            "PrometheusText0.0.4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            accept_header(&p),
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
    }
}
