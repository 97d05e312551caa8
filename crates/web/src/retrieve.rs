//! The narrow traits through which the API reads the rest of the system, and their plain DTOs. The binary
//! implements them over the scrape manager, the TSDB head and the configuration.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// An active target as `/api/v1/targets` shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActiveTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// Final target labels.
    pub labels: BTreeMap<String, String>,
    /// The pool (job) name.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The URL with the host name resolved for links.
    pub global_url: String,
    /// Last error, empty if none.
    pub last_error: String,
    /// Start of the last scrape.
    pub last_scrape: Option<SystemTime>,
    /// Duration of the last scrape in seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    /// Scrape interval as a duration string.
    pub scrape_interval: String,
    /// Scrape timeout as a duration string.
    pub scrape_timeout: String,
}

/// A dropped target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DroppedTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// The pool (job) name.
    pub scrape_pool: String,
}

/// Metadata of one metric family seen on one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetMetadata {
    /// The target's labels.
    pub target: BTreeMap<String, String>,
    /// The family name.
    pub metric: String,
    /// The metadata.
    pub metadata: MetricMetadata,
}

/// Type, help and unit of a metric family.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct MetricMetadata {
    /// Type name (`counter`, …).
    pub metric_type: String,
    /// Help text.
    pub help: String,
    /// Unit.
    pub unit: String,
}

/// Reads targets and their metadata.
pub trait TargetRetriever: Send + Sync {
    /// Active targets.
    fn active(&self) -> Vec<ActiveTarget>;
    /// Dropped targets.
    fn dropped(&self) -> Vec<DroppedTarget>;
    /// Metadata of every family on every target.
    fn metadata(&self) -> Vec<TargetMetadata>;
}

/// `/api/v1/status/runtimeinfo`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeInfo {
    /// Process start.
    pub start_time: Option<SystemTime>,
    /// Working directory.
    pub cwd: String,
    /// Whether the last reload succeeded.
    pub reload_config_success: bool,
    /// When the configuration was last (re)loaded successfully.
    pub last_config_time: Option<SystemTime>,
    /// Number of threads (reported as goroutineCount).
    pub goroutine_count: u64,
    /// Parallelism (GOMAXPROCS).
    pub gomaxprocs: u64,
    /// Retention description (`15d`, …).
    pub storage_retention: String,
}

/// `/api/v1/status/walreplay`: the WAL segments replayed at start-up and how far the replay got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalReplayStatus {
    /// First segment replayed.
    pub min: u32,
    /// Last segment to replay.
    pub max: u32,
    /// Segment being replayed (equal to `max` once done).
    pub current: u32,
}

/// `/api/v1/status/tsdb`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TsdbStatus {
    /// Head series.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Head chunks.
    pub chunk_count: u64,
    /// Oldest sample in ms.
    pub min_time: i64,
    /// Newest sample in ms.
    pub max_time: i64,
    /// Top series counts by metric name.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Top label-value counts by label name.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    /// Top memory by label name.
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    /// Top series counts by label pair.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// `/api/v1/status/buildinfo`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildInfo {
    /// Version (a Prometheus 3.x-style version so clients treat us as Prometheus 3).
    pub version: String,
    /// Revision.
    pub revision: String,
    /// Branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When it was built.
    pub build_date: String,
    /// Toolchain.
    pub go_version: String,
}

/// Configuration, flags and process status.
pub trait StatusRetriever: Send + Sync {
    /// The current configuration as YAML.
    fn config_yaml(&self) -> String;
    /// Every flag and its value.
    fn flags(&self) -> Vec<(String, String)>;
    /// Runtime information.
    fn runtime_info(&self) -> RuntimeInfo;
    /// Head cardinality statistics, limited to the top `limit` entries per list.
    fn tsdb_status(&self, limit: usize) -> TsdbStatus;
    /// The server's own metrics in the text exposition format.
    fn metrics_text(&self) -> String;
    /// The configured external labels, added to federated series.
    fn external_labels(&self) -> Vec<(String, String)>;
    /// Progress of the WAL replay (all zeros without a WAL).
    fn wal_replay(&self) -> WalReplayStatus {
        WalReplayStatus::default()
    }
}

/// Reload and shutdown.
pub trait Lifecycle: Send + Sync {
    /// Reloads the configuration; the error text is returned to the client.
    fn reload(&self) -> Result<(), String>;
    /// Starts a graceful shutdown.
    fn quit(&self);
}
