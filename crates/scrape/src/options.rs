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
    /// The HTTP client settings (`tls_config`, proxies, `http_headers`, redirects, HTTP/2).
    pub http: http_client::ClientSettings,
    /// Add `scrape_timeout_seconds`, `scrape_sample_limit`, `scrape_body_size_bytes`.
    pub extra_scrape_metrics: bool,
    /// Ingest native histograms (`scrape_native_histograms`). Without it a protobuf scrape reads every histogram
    /// as a classic one, as Prometheus does.
    pub scrape_native_histograms: bool,
    /// Also ingest the classic series of histograms that are native (`always_scrape_classic_histograms`).
    pub always_scrape_classic_histograms: bool,
    /// Buckets allowed per native histogram (0 = none): the resolution is reduced until it fits, or the scrape
    /// fails.
    pub native_histogram_bucket_limit: u64,
    /// Highest native histogram schema ingested, from `native_histogram_min_bucket_factor` (8, the finest, when
    /// unset); finer histograms are reduced to it.
    pub native_histogram_max_schema: i32,
    /// Write staleness markers for series exposed with their own timestamps too (`track_timestamps_staleness`).
    pub track_timestamps_staleness: bool,
    /// The `escaping` parameter of the text formats 1.0.0 in the `Accept` header: `allow-utf-8`, `underscores`,
    /// `dots` or `values`.
    pub escaping_scheme: String,
}

/// The finest exponential native histogram schema.
pub(crate) const MAX_EXPONENTIAL_SCHEMA: i32 = 8;
/// The coarsest exponential native histogram schema.
pub(crate) const MIN_EXPONENTIAL_SCHEMA: i32 = -4;

fn protocol(name: &str) -> Option<Format> {
    match name {
        "OpenMetricsText1.0.0" | "OpenMetricsText0.0.1" => Some(Format::OpenMetrics),
        "PrometheusText0.0.4" | "PrometheusText1.0.0" => Some(Format::PrometheusText),
        "PrometheusProto" => Some(Format::PrometheusProto),
        _ => None,
    }
}

/// The media type Prometheus offers for a configured protocol name (validated by the config loader).
fn media_type(protocol: &str) -> &'static str {
    match protocol {
        "PrometheusProto" => {
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
        }
        "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
        "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
        "PrometheusText1.0.0" => "text/plain;version=1.0.0",
        _ => "text/plain;version=0.0.4",
    }
}

/// Number of protocols Prometheus knows: the first offered one gets `q=0.<this + 1>`.
const PROTOCOL_COUNT: usize = 5;

/// The highest schema whose bucket growth factor is at least `factor`, as Prometheus's `pickSchema`.
fn pick_schema(factor: f64) -> i32 {
    let factor = if factor <= 1.0 { 1.00271 } else { factor };
    let floor = (-factor.log2().log2()).floor();
    if floor >= f64::from(MAX_EXPONENTIAL_SCHEMA) {
        MAX_EXPONENTIAL_SCHEMA
    } else if floor <= f64::from(MIN_EXPONENTIAL_SCHEMA) {
        MIN_EXPONENTIAL_SCHEMA
    } else {
        floor as i32
    }
}

/// The escaping scheme of a scrape config as Prometheus resolves it: the job's own, else one implied by the job's
/// validation scheme, else the global one, else one implied by the global validation scheme.
fn escaping_scheme(c: &config::ScrapeConfig, g: &config::GlobalConfig) -> String {
    let implied = |validation: Option<&str>| {
        if validation == Some("legacy") { "underscores" } else { "allow-utf-8" }
    };
    if let Some(s) = &c.metric_name_escaping_scheme {
        return s.clone();
    }
    if c.metric_name_validation_scheme.is_some() {
        return implied(c.metric_name_validation_scheme.as_deref()).to_string();
    }
    match &g.metric_name_escaping_scheme {
        Some(s) => s.clone(),
        None => implied(g.metric_name_validation_scheme.as_deref()).to_string(),
    }
}

impl From<&config::ScrapeConfig> for ScrapeOptions {
    /// The options of a scrape config on its own: settings a job leaves to the `global` section take the global
    /// defaults. [`ScrapeOptions::new`] honours the actual `global` section.
    fn from(c: &config::ScrapeConfig) -> ScrapeOptions {
        ScrapeOptions::new(c, &config::GlobalConfig::default())
    }
}

impl ScrapeOptions {
    /// The options of scrape config `c` loaded with global section `g`. The loader already resolved the
    /// interval, timeout, limits and protocols; the native-histogram switches and the escaping scheme a job leaves
    /// unset are taken from `g` here, as Prometheus does when it validates a scrape config.
    pub fn new(c: &config::ScrapeConfig, g: &config::GlobalConfig) -> ScrapeOptions {
        let authorization = config::authorization_header(
            c.authorization.as_ref(),
            c.bearer_token.as_ref(),
            c.bearer_token_file.as_ref(),
        );
        let basic_auth = c.basic_auth.as_ref().map(config::BasicAuth::resolve);
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
            http: http_client::ClientSettings {
                max_idle_per_host: Some(4),
                ..http_client::ClientSettings::from_scrape_config(c)
            },
            extra_scrape_metrics: c.extra_scrape_metrics.unwrap_or(false),
            scrape_native_histograms: c
                .scrape_native_histograms
                .or(g.scrape_native_histograms)
                .unwrap_or(false),
            always_scrape_classic_histograms: c
                .always_scrape_classic_histograms
                .or(g.always_scrape_classic_histograms)
                .unwrap_or(false),
            native_histogram_bucket_limit: c.native_histogram_bucket_limit,
            native_histogram_max_schema: pick_schema(
                c.native_histogram_min_bucket_factor.unwrap_or(0.0),
            ),
            track_timestamps_staleness: c.track_timestamps_staleness,
            escaping_scheme: escaping_scheme(c, g),
        }
    }
}

/// The `Accept` header Prometheus sends for a protocol list: each protocol in order, the text formats 1.0.0 with
/// the `escaping` parameter, with q-values counting down from `0.6` (one more than the number of protocols
/// Prometheus knows, however many are offered), then `*/*` with the next lower one.
pub(crate) fn accept_header(protocols: &[String], escaping: &str) -> String {
    let mut parts = Vec::new();
    let mut weight = PROTOCOL_COUNT + 1;
    for p in protocols {
        let media = media_type(p);
        if p == "PrometheusText1.0.0" || p == "OpenMetricsText1.0.0" {
            parts.push(format!("{media};escaping={escaping};q=0.{weight}"));
        } else {
            parts.push(format!("{media};q=0.{weight}"));
        }
        weight = weight.saturating_sub(1).max(1);
    }
    parts.push(format!("*/*;q=0.{weight}"));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(yaml: &str) -> ScrapeOptions {
        let c = config::load_str(yaml, "t").expect("valid config");
        ScrapeOptions::new(&c.scrape_configs[0], &c.global)
    }

    /// The expectations are those of Prometheus's own `acceptHeader` tests.
    #[test]
    fn accept_header_orders_by_weight() {
        let p = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let text = [
            "OpenMetricsText1.0.0",
            "OpenMetricsText0.0.1",
            "PrometheusText1.0.0",
            "PrometheusText0.0.4",
        ];
        assert_eq!(
            accept_header(&p(&text), "allow-utf-8"),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
        let proto_first: Vec<&str> = std::iter::once("PrometheusProto").chain(text).collect();
        assert_eq!(
            accept_header(&p(&proto_first), "dots"),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=dots;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=dots;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
        assert_eq!(
            accept_header(&p(&["PrometheusProto"]), "allow-utf-8"),
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5"
        );
    }

    #[test]
    fn native_histogram_settings_inherit_from_global() {
        let o = opts("scrape_configs:\n  - job_name: j\n");
        assert!(!o.scrape_native_histograms && !o.always_scrape_classic_histograms);
        assert_eq!(o.scrape_protocols[0], "OpenMetricsText1.0.0");
        assert_eq!(o.native_histogram_max_schema, 8);
        assert_eq!(o.escaping_scheme, "allow-utf-8");

        let o = opts(
            "global:\n  scrape_native_histograms: true\n  always_scrape_classic_histograms: true\n  metric_name_validation_scheme: legacy\nscrape_configs:\n  - job_name: j\n    native_histogram_bucket_limit: 10\n    native_histogram_min_bucket_factor: 1.1\n",
        );
        assert!(o.scrape_native_histograms && o.always_scrape_classic_histograms);
        assert_eq!(o.scrape_protocols[0], "PrometheusProto");
        assert_eq!(o.native_histogram_bucket_limit, 10);
        // Schema 2 grows buckets by 2^(2^-2) ≈ 1.19, schema 3 by ≈ 1.09: 2 is the finest growing by at least 1.1.
        assert_eq!(o.native_histogram_max_schema, 2);
        assert_eq!(o.escaping_scheme, "underscores");

        let o = opts(
            "global:\n  scrape_native_histograms: true\nscrape_configs:\n  - job_name: j\n    scrape_native_histograms: false\n    metric_name_escaping_scheme: dots\n",
        );
        assert!(!o.scrape_native_histograms, "the job's own setting wins");
        assert_eq!(o.escaping_scheme, "dots");
        assert_eq!(
            protocol("PrometheusProto"),
            Some(Format::PrometheusProto),
            "PrometheusProto is a valid fallback protocol"
        );
    }

    #[test]
    fn pick_schema_matches_prometheus() {
        for (factor, want) in
            [(0.0, 8), (1.0, 8), (1.00271, 8), (1.1, 2), (2.0, 0), (4.0, -1), (1e9, -4)]
        {
            assert_eq!(pick_schema(factor), want, "{factor}");
        }
    }
}
