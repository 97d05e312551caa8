//! Command-line flags. The server's flags carry Prometheus's names (`--config.file`, `--storage.tsdb.path`, …) so
//! existing unit files and scripts work unchanged; `tool` carries promtool's commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::{LogFormat, LogLevel};

/// Promethium: a Prometheus-compatible monitoring system and time-series database.
#[derive(Debug, Parser)]
#[command(name = "promethium", version = crate::VERSION, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the Prometheus-compatible server (the default).
    Server(Box<ServerArgs>),
    /// promtool's commands: check, test, query, tsdb.
    Tool(crate::tool::ToolArgs),
}

/// Flags of the server, named as Prometheus names them.
#[derive(Debug, Args, Clone)]
pub(crate) struct ServerArgs {
    /// Prometheus configuration file path. Without it, an embedded configuration that scrapes this server is used.
    #[arg(long = "config.file")]
    pub(crate) config_file: Option<PathBuf>,
    /// Address to listen on for UI, API, and telemetry.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub(crate) listen_address: String,
    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle")]
    pub(crate) enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api")]
    pub(crate) enable_admin_api: bool,
    /// Enable API endpoint accepting remote write requests.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub(crate) enable_remote_write_receiver: bool,
    /// The URL under which Prometheus is externally reachable.
    #[arg(long = "web.external-url")]
    pub(crate) external_url: Option<String>,
    /// Prefix for the internal routes of web endpoints.
    #[arg(long = "web.route-prefix")]
    pub(crate) route_prefix: Option<String>,
    /// Maximum duration before timing out read of the request, and closing idle connections.
    #[arg(long = "web.read-timeout", default_value = "5m")]
    pub(crate) read_timeout: String,
    /// Maximum number of simultaneous connections across all listeners.
    #[arg(long = "web.max-connections", default_value_t = 512)]
    pub(crate) max_connections: u32,
    /// Document title of Prometheus instance.
    #[arg(
        long = "web.page-title",
        default_value = "Prometheus Time Series Collection and Processing Server"
    )]
    pub(crate) page_title: String,
    /// Regex for CORS origin. It is fully anchored.
    #[arg(long = "web.cors.origin", default_value = ".*")]
    pub(crate) cors_origin: String,
    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    pub(crate) tsdb_path: PathBuf,
    /// How long to retain samples in storage.
    #[arg(long = "storage.tsdb.retention.time")]
    pub(crate) retention_time: Option<String>,
    /// Maximum number of bytes that can be stored for blocks.
    #[arg(long = "storage.tsdb.retention.size")]
    pub(crate) retention_size: Option<String>,
    /// Do not create lockfile in data directory.
    #[arg(long = "storage.tsdb.no-lockfile")]
    pub(crate) no_lockfile: bool,
    /// Minimum duration of a data block before being persisted.
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h", hide = true)]
    pub(crate) min_block_duration: String,
    /// Maximum duration compacted blocks may span.
    #[arg(long = "storage.tsdb.max-block-duration", hide = true)]
    pub(crate) max_block_duration: Option<String>,
    /// Compress the tsdb WAL.
    #[arg(long = "storage.tsdb.wal-compression", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) wal_compression: bool,
    /// How often the WAL is fsynced; at most this much acknowledged data is lost on power failure. 0s fsyncs
    /// every commit.
    #[arg(long = "storage.tsdb.wal-fsync-interval", default_value = "1s")]
    pub(crate) wal_fsync_interval: String,
    /// Size at which to split the tsdb WAL segment files. Example: 100MB
    #[arg(long = "storage.tsdb.wal-segment-size", hide = true)]
    pub(crate) wal_segment_size: Option<String>,
    /// Tolerance of outages for restoring the "for" state of alerts.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h")]
    pub(crate) for_outage_tolerance: String,
    /// Minimum duration between alert and restored "for" state.
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m")]
    pub(crate) for_grace_period: String,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m")]
    pub(crate) resend_delay: String,
    /// Global concurrency limit for independent rules that can run concurrently.
    #[arg(long = "rules.max-concurrent-evals", default_value_t = 4)]
    pub(crate) max_concurrent_evals: u32,
    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = 10000)]
    pub(crate) notification_queue_capacity: u32,
    /// The maximum lookback duration for retrieving metrics during expression evaluations and federation.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    pub(crate) lookback_delta: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    pub(crate) query_timeout: String,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub(crate) query_max_concurrency: u32,
    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub(crate) query_max_samples: u64,
    /// Comma separated feature names to enable.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    pub(crate) enable_feature: Vec<String>,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub(crate) log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub(crate) log_format: LogFormat,
    /// Adjust scrape timestamps by up to `scrape.timestamp-tolerance` to align them to the intended schedule.
    #[arg(long = "scrape.adjust-timestamps", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", hide = true)]
    pub(crate) scrape_adjust_timestamps: bool,
    /// Timestamp tolerance.
    #[arg(long = "scrape.timestamp-tolerance", default_value = "2ms", hide = true)]
    pub(crate) scrape_timestamp_tolerance: String,
    /// Interval used by scrape manager to throttle target groups updates.
    #[arg(long = "scrape.discovery-reload-interval", default_value = "5s", hide = true)]
    pub(crate) discovery_reload_interval: String,
}

impl ServerArgs {
    /// Whether `--enable-feature` names `feature`.
    pub(crate) fn has_feature(&self, feature: &str) -> bool {
        self.enable_feature.iter().any(|v| v.split(',').any(|f| f.trim() == feature))
    }

    /// The flags as Prometheus's `/api/v1/status/flags` reports them: every flag name to its string value.
    pub(crate) fn as_flag_map(&self) -> Vec<(String, String)> {
        let b = |v: bool| v.to_string();
        let mut out = vec![
            (
                "config.file".into(),
                self.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ),
            ("web.listen-address".into(), self.listen_address.clone()),
            ("web.enable-lifecycle".into(), b(self.enable_lifecycle)),
            ("web.enable-admin-api".into(), b(self.enable_admin_api)),
            ("web.enable-remote-write-receiver".into(), b(self.enable_remote_write_receiver)),
            ("web.external-url".into(), self.external_url.clone().unwrap_or_default()),
            ("web.route-prefix".into(), self.route_prefix.clone().unwrap_or_default()),
            ("web.read-timeout".into(), self.read_timeout.clone()),
            ("web.max-connections".into(), self.max_connections.to_string()),
            ("web.page-title".into(), self.page_title.clone()),
            ("web.cors.origin".into(), self.cors_origin.clone()),
            ("storage.tsdb.path".into(), self.tsdb_path.display().to_string()),
            (
                "storage.tsdb.retention.time".into(),
                self.retention_time.clone().unwrap_or_else(|| "0s".into()),
            ),
            (
                "storage.tsdb.retention.size".into(),
                self.retention_size.clone().unwrap_or_else(|| "0B".into()),
            ),
            ("storage.tsdb.no-lockfile".into(), b(self.no_lockfile)),
            ("storage.tsdb.min-block-duration".into(), self.min_block_duration.clone()),
            (
                "storage.tsdb.max-block-duration".into(),
                self.max_block_duration.clone().unwrap_or_default(),
            ),
            ("storage.tsdb.wal-compression".into(), b(self.wal_compression)),
            ("storage.tsdb.wal-fsync-interval".into(), self.wal_fsync_interval.clone()),
            (
                "storage.tsdb.wal-segment-size".into(),
                self.wal_segment_size.clone().unwrap_or_else(|| "0B".into()),
            ),
            ("rules.alert.for-outage-tolerance".into(), self.for_outage_tolerance.clone()),
            ("rules.alert.for-grace-period".into(), self.for_grace_period.clone()),
            ("rules.alert.resend-delay".into(), self.resend_delay.clone()),
            ("rules.max-concurrent-evals".into(), self.max_concurrent_evals.to_string()),
            (
                "alertmanager.notification-queue-capacity".into(),
                self.notification_queue_capacity.to_string(),
            ),
            ("query.lookback-delta".into(), self.lookback_delta.clone()),
            ("query.timeout".into(), self.query_timeout.clone()),
            ("query.max-concurrency".into(), self.query_max_concurrency.to_string()),
            ("query.max-samples".into(), self.query_max_samples.to_string()),
            ("enable-feature".into(), self.enable_feature.join(",")),
            ("log.level".into(), format!("{:?}", self.log_level).to_lowercase()),
            ("log.format".into(), format!("{:?}", self.log_format).to_lowercase()),
            ("scrape.adjust-timestamps".into(), b(self.scrape_adjust_timestamps)),
            ("scrape.timestamp-tolerance".into(), self.scrape_timestamp_tolerance.clone()),
            ("scrape.discovery-reload-interval".into(), self.discovery_reload_interval.clone()),
        ];
        out.sort();
        out
    }
}
