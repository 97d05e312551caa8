//! The configuration structs. Field names and defaults are Prometheus 3.x's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Any;

/// A duration in Prometheus's syntax (`1m30s`), held in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Duration(pub i64);

impl Duration {
    /// As a standard duration (negative values clamp to zero).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&model::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        model::parse_duration(&s).map(Duration).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A byte size in Prometheus's syntax (`512MB`, units powers of 1024), held in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Size(pub u64);

const SIZE_UNITS: [(&str, u64); 7] = [
    ("EB", 1 << 60),
    ("PB", 1 << 50),
    ("TB", 1 << 40),
    ("GB", 1 << 30),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("B", 1),
];

impl Size {
    /// Parses `512MB`; a unit is required, as in Prometheus.
    pub fn parse(s: &str) -> Result<Size, String> {
        if s == "0" {
            return Ok(Size(0));
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = s.split_at(digits);
        let n: u64 = num.parse().map_err(|_| format!("units: invalid size {s:?}"))?;
        let mult = SIZE_UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| format!("units: unknown unit {unit} in {s}"))?;
        n.checked_mul(mult).map(Size).ok_or_else(|| format!("size overflows: {s:?}"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0B");
        }
        for (u, m) in SIZE_UNITS {
            if self.0.is_multiple_of(m) {
                return write!(f, "{}{}", self.0 / m, u);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        let s = String::deserialize(d)?;
        Size::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A secret: kept as given, rendered as `<secret>`.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// A list whose items must not be null; a null item is rejected with `msg`.
fn list_without_nulls<'de, D, T>(d: D, msg: &str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items: Option<Vec<Option<T>>> = Option::deserialize(d)?;
    items
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ok_or_else(|| serde::de::Error::custom(msg)))
        .collect()
}

pub(crate) fn scrape_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ScrapeConfig>, D::Error> {
    list_without_nulls(d, "empty or null scrape config section")
}

fn target_relabel_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<relabel::Config>, D::Error> {
    list_without_nulls(d, "empty or null target relabeling rule")
}

fn metric_relabel_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<relabel::Config>, D::Error> {
    list_without_nulls(d, "empty or null metric relabeling rule")
}

fn static_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StaticConfig>, D::Error> {
    list_without_nulls(d, "empty or null section in static_configs")
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The whole `prometheus.yml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Global defaults.
    #[serde(default, deserialize_with = "null_as_default")]
    pub global: GlobalConfig,
    /// Runtime tuning (accepted; not applicable to Rust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Any>,
    /// Rule file globs.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    /// Globs of files holding more scrape configs.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    /// Scrape jobs: the file's own, then (for files loaded by path) those of `scrape_config_files`, which the
    /// YAML rendering leaves out as Prometheus's does.
    #[serde(
        default,
        deserialize_with = "scrape_list",
        serialize_with = "own_scrape_configs",
        skip_serializing_if = "no_own_scrape_configs"
    )]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Alerting settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<Any>,
    /// Remote write endpoints.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<Any>,
    /// Remote read endpoints.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<Any>,
    /// Storage settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Any>,
    /// Tracing settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Any>,
    /// OTLP receiver settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Any>,
}

fn own_scrape_configs<S: Serializer>(list: &[ScrapeConfig], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().filter(|c| c.included_from.is_none()))
}

fn no_own_scrape_configs(list: &[ScrapeConfig]) -> bool {
    list.iter().all(|c| c.included_from.is_some())
}

fn d_1m() -> Duration {
    Duration(60_000)
}
fn d_10s() -> Duration {
    Duration(10_000)
}

/// Marks a duration not given in the file; loading replaces it.
pub(crate) const UNSET: Duration = Duration(i64::MIN);

fn unset_duration() -> Duration {
    UNSET
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// Default scrape interval (1m).
    #[serde(default = "d_1m")]
    pub scrape_interval: Duration,
    /// Default scrape timeout (10s, or the interval when that is shorter); resolved during loading.
    #[serde(default = "unset_duration")]
    pub scrape_timeout: Duration,
    /// Default scrape protocols.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_protocols: Vec<String>,
    /// Default rule evaluation interval (1m).
    #[serde(default = "d_1m")]
    pub evaluation_interval: Duration,
    /// Default rule query offset.
    #[serde(default, skip_serializing_if = "is_zero_duration")]
    pub rule_query_offset: Duration,
    /// Labels added to alerts, federation and remote write.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub external_labels: BTreeMap<String, String>,
    /// File to log queries to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_log_file: Option<String>,
    /// File to log scrape failures to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<String>,
    /// Per-scrape body size limit.
    #[serde(default, skip_serializing_if = "is_zero_size")]
    pub body_size_limit: Size,
    /// Per-scrape sample limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sample_limit: u64,
    /// Per-sample label count limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_limit: u64,
    /// Label name length limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_name_length_limit: u64,
    /// Label value length limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub label_value_length_limit: u64,
    /// Per-pool target limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub target_limit: u64,
    /// Dropped targets kept per pool.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_dropped_targets: u64,
    /// `utf8` (default) or `legacy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_validation_scheme: Option<String>,
    /// Escaping scheme for names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_escaping_scheme: Option<String>,
    /// Whether to scrape native histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    /// Whether to keep classic histograms alongside native ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    /// Whether to convert classic histograms to NHCB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Whether to add the extra scrape metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_scrape_metrics: Option<bool>,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        let mut g: GlobalConfig =
            serde_json::from_str("{}").expect("an empty global section takes every default");
        g.scrape_timeout = d_10s();
        g
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
fn is_zero_size(v: &Size) -> bool {
    v.0 == 0
}
fn is_zero_duration(v: &Duration) -> bool {
    v.0 == 0
}
fn yes() -> bool {
    true
}
fn metrics_path() -> String {
    "/metrics".into()
}
fn http() -> String {
    "http".into()
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// File with the user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<String>,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File with the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

/// `authorization`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Scheme (default `Bearer`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    /// File with the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// CA certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client key text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Server name for SNI and verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Minimum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// One `static_configs` entry.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` targets.
    #[serde(default, deserialize_with = "null_as_default")]
    pub targets: Vec<String>,
    /// Labels for every target of the group.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

fn d_5m() -> Duration {
    Duration(300_000)
}

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// File globs (`.json`, `.yml`, `.yaml`).
    pub files: Vec<String>,
    /// Re-read interval (5m).
    #[serde(default = "d_5m")]
    pub refresh_interval: Duration,
}

/// One `scrape_configs` entry. Durations left unset inherit from `global` during loading. Unknown keys land in
/// `other_sd_configs` and are rejected by validation unless they name a service discovery mechanism.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ScrapeConfig {
    /// Job name, the `job` label.
    #[serde(default, deserialize_with = "null_as_default")]
    pub job_name: String,
    /// Keep target labels on conflict.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps from the exposition (true).
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    /// Staleness for explicitly timestamped series.
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    /// URL parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    /// Scrape interval (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<Duration>,
    /// Scrape timeout (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<Duration>,
    /// Negotiation order of formats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_protocols: Vec<String>,
    /// Format used when the Content-Type is missing or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<String>,
    /// Whether to ask for gzip (true).
    #[serde(default = "yes")]
    pub enable_compression: bool,
    /// Scrape native histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    /// Keep classic histograms too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    /// Convert classic histograms to NHCB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Native histogram bucket limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub native_histogram_bucket_limit: u64,
    /// Minimum native histogram bucket factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_histogram_min_bucket_factor: Option<f64>,
    /// Extra scrape metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_scrape_metrics: Option<bool>,
    /// Metrics path (`/metrics`).
    #[serde(default = "metrics_path")]
    pub metrics_path: String,
    /// URL scheme (`http`).
    #[serde(default = "http")]
    pub scheme: String,
    /// Body size limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<Size>,
    /// Sample limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_limit: Option<u64>,
    /// Target limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_limit: Option<u64>,
    /// Label count limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_limit: Option<u64>,
    /// Label name length limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_name_length_limit: Option<u64>,
    /// Label value length limit (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_value_length_limit: Option<u64>,
    /// Dropped targets kept (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_dropped_targets: Option<u64>,
    /// Name validation scheme (inherits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_validation_scheme: Option<String>,
    /// Name escaping scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_escaping_scheme: Option<String>,
    /// File to log this job's scrape failures to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<String>,
    /// Whether to convert scraped native histograms with custom buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_classic_histograms: Option<bool>,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Authorization header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// OAuth 2.0 (parsed; not yet supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<Any>,
    /// Deprecated bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// Deprecated bearer token file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Proxy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Hosts not to proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Use the proxy from the environment.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Headers for CONNECT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_connect_header: Option<Any>,
    /// Follow redirects (true).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Use HTTP/2 (true).
    #[serde(default = "yes")]
    pub enable_http2: bool,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<Any>,
    /// Target relabeling.
    #[serde(
        default,
        deserialize_with = "target_relabel_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub relabel_configs: Vec<relabel::Config>,
    /// Sample relabeling.
    #[serde(
        default,
        deserialize_with = "metric_relabel_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub metric_relabel_configs: Vec<relabel::Config>,
    /// Static targets.
    #[serde(default, deserialize_with = "static_list", skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    /// File-based discovery.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Every other service discovery mechanism, by its `<name>_sd_configs` key (parsed, not yet supported).
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_sd_configs: BTreeMap<String, Any>,
    /// The `scrape_config_files` file this config came from (absolute), or `None` for the main file's own.
    #[serde(skip)]
    pub(crate) included_from: Option<String>,
}

impl ScrapeConfig {
    /// The effective scrape interval (set during loading).
    pub fn interval(&self) -> Duration {
        self.scrape_interval.unwrap_or(d_1m())
    }

    /// The file named by `scrape_config_files` this config was read from (absolute), or `None` for a config of
    /// the main file.
    pub fn included_from(&self) -> Option<&str> {
        self.included_from.as_deref()
    }

    /// The effective scrape timeout (set during loading).
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or(d_10s())
    }
}
