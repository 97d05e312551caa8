//! The server's own metrics, under Prometheus's names, exported on `/metrics` through `prometheus-client`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::duration_metrics::{DurationMetric, IntervalLength, NotificationLatency};
use crate::process::ProcessCollector;

/// Metrics owned by the binary itself (reload state, build info, readiness).
#[derive(Debug, Default)]
pub(crate) struct ServerMetrics {
    pub(crate) config_last_reload_successful: Gauge,
    pub(crate) config_last_reload_success_timestamp_seconds: Gauge<f64, AtomicU64>,
    pub(crate) ready: Gauge,
    build_info: Family<Vec<(String, String)>, Gauge>,
}

impl ServerMetrics {
    /// Records the outcome of a (re)load.
    pub(crate) fn record_reload(&self, ok: bool) {
        self.config_last_reload_successful.set(i64::from(ok));
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            self.config_last_reload_success_timestamp_seconds.set(now);
        }
    }
}

/// The registry behind `/metrics` and the handles the server updates.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) server: Arc<ServerMetrics>,
    /// Rule evaluation durations (`prometheus_rule_evaluation_duration_*`).
    pub(crate) rule_eval: Arc<DurationMetric>,
    /// Rule group evaluation durations (`prometheus_rule_group_duration_*`).
    pub(crate) group_eval: Arc<DurationMetric>,
    /// Alert notification latencies per Alertmanager (`prometheus_notifications_latency_*`).
    pub(crate) notification_latency: Arc<NotificationLatency>,
    /// Actual times between scrapes per configured interval (`prometheus_target_interval_length_*`).
    pub(crate) interval_length: Arc<IntervalLength>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let server = Arc::new(ServerMetrics::default());
        registry.register(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            server.config_last_reload_successful.clone(),
        );
        registry.register(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            server.config_last_reload_success_timestamp_seconds.clone(),
        );
        registry.register("prometheus_ready", "Whether Prometheus startup was fully completed and the server is ready for normal operation.", server.ready.clone());
        registry.register(
            "prometheus_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
            server.build_info.clone(),
        );
        server
            .build_info
            .get_or_create(&vec![
                ("branch".to_string(), "main".to_string()),
                ("goarch".to_string(), std::env::consts::ARCH.to_string()),
                ("goos".to_string(), std::env::consts::OS.to_string()),
                ("goversion".to_string(), "rust".to_string()),
                ("revision".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                ("version".to_string(), crate::VERSION.to_string()),
            ])
            .set(1);
        registry.register_collector(Box::new(ProcessCollector::new()));
        let rule_eval = Arc::new(DurationMetric::new(
            "prometheus_rule_evaluation_duration_seconds",
            "prometheus_rule_evaluation_duration_histogram_seconds",
            "The duration for a rule to execute.",
            &[0.5, 0.9, 0.99],
            &[0.01, 0.1, 1.0, 10.0],
        ));
        let group_eval = Arc::new(DurationMetric::new(
            "prometheus_rule_group_duration_seconds",
            "prometheus_rule_group_duration_histogram_seconds",
            "The duration of rule group evaluations.",
            &[0.01, 0.05, 0.5, 0.9, 0.99],
            &[0.01, 0.1, 1.0, 10.0],
        ));
        Metrics {
            registry,
            server,
            rule_eval,
            group_eval,
            notification_latency: Arc::new(NotificationLatency::default()),
            interval_length: Arc::new(IntervalLength::default()),
        }
    }

    /// Adds a collector for figures owned by other components (head, scrape manager, engine).
    pub(crate) fn register_collector(
        &mut self,
        c: Box<dyn prometheus_client::collector::Collector>,
    ) {
        self.registry.register_collector(c);
    }

    /// The exposition text (OpenMetrics, which Prometheus-text parsers also read).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        // The summaries and histograms written by hand go before the end marker.
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        self.rule_eval.render(&mut out, "", true);
        self.group_eval.render(&mut out, "", true);
        self.notification_latency.render(&mut out);
        self.interval_length.render(&mut out);
        out.push_str("# EOF\n");
        out
    }
}

/// Figures owned by the storage and the scrape manager, read on every scrape of `/metrics`.
#[derive(Debug)]
struct ComponentCollector {
    storage: tsdb::Head,
    db: tsdb::Db,
    replay_seconds: f64,
    scrape: Arc<scrape::ScrapeStats>,
}

impl Collector for ComponentCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let st = self.storage.stats();
        let gauges = [
            (
                "prometheus_tsdb_head_series",
                "Total number of series in the head block.",
                st.series as f64,
            ),
            (
                "prometheus_tsdb_head_chunks",
                "Total number of chunks in the head block.",
                st.chunks as f64,
            ),
            (
                "prometheus_tsdb_head_min_time",
                "Minimum time bound of the head block.",
                if st.series == 0 { 0.0 } else { st.min_time as f64 },
            ),
            (
                "prometheus_tsdb_head_max_time",
                "Maximum timestamp of the head block.",
                if st.series == 0 { 0.0 } else { st.max_time as f64 },
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let head_counters = [
            (
                "prometheus_tsdb_head_series_created",
                "Total number of series created in the head",
                st.series_created,
            ),
            (
                "prometheus_tsdb_head_series_removed",
                "Total number of series removed in the head",
                st.series_removed,
            ),
            (
                "prometheus_tsdb_out_of_order_samples",
                "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
                st.out_of_order_samples,
            ),
        ];
        for (name, help, v) in head_counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let appended = Family::<Vec<(String, String)>, Counter>::default();
        appended
            .get_or_create(&vec![("type".to_string(), "float".to_string())])
            .inc_by(st.samples_appended);
        appended
            .get_or_create(&vec![("type".to_string(), "histogram".to_string())])
            .inc_by(st.histograms_appended);
        appended.encode(encoder.encode_descriptor(
            "prometheus_tsdb_head_samples_appended",
            "Total number of appended samples.",
            None,
            appended.metric_type(),
        )?)?;
        if let Some(w) = self.storage.wal_stats() {
            encode_wal(&mut encoder, &w, self.replay_seconds)?;
        }
        encode_db(&mut encoder, &self.db)?;
        let counters = [
            (
                "prometheus_target_scrapes_exceeded_sample_limit",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &self.scrape.exceeded_sample_limit,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order",
                "Total number of samples rejected due to not being out of the expected order.",
                &self.scrape.out_of_order,
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                &self.scrape.duplicate_timestamp,
            ),
            (
                "prometheus_target_scrapes_sample_out_of_bounds",
                "Total number of samples rejected due to timestamp falling out of the time bounds.",
                &self.scrape.out_of_bounds,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v.load(Ordering::Relaxed));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        Ok(())
    }
}

/// The `prometheus_tsdb_wal_*` and `prometheus_tsdb_checkpoint_*` metrics.
fn encode_wal(
    encoder: &mut DescriptorEncoder<'_>,
    w: &tsdb::WalStats,
    replay_seconds: f64,
) -> Result<(), std::fmt::Error> {
    let gauges = [
        (
            "prometheus_tsdb_wal_segment_current",
            "Write log segment index that TSDB is currently writing to.",
            i64::from(w.segment_current),
        ),
        (
            "prometheus_tsdb_wal_storage_size_bytes",
            "Size of the write log directory.",
            i64::try_from(w.storage_size_bytes).unwrap_or(i64::MAX),
        ),
    ];
    for (name, help, v) in gauges {
        let g = ConstGauge::new(v);
        g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
    }
    let g = ConstGauge::new(replay_seconds);
    g.encode(encoder.encode_descriptor(
        "prometheus_tsdb_data_replay_duration_seconds",
        "Time taken to replay the data on disk.",
        None,
        g.metric_type(),
    )?)?;
    let counters = [
        (
            "prometheus_tsdb_wal_writes_failed",
            "Total number of write log writes that failed.",
            w.writes_failed,
        ),
        (
            "prometheus_tsdb_wal_truncations",
            "Total number of write log truncations attempted.",
            w.truncations,
        ),
        (
            "prometheus_tsdb_wal_truncations_failed",
            "Total number of write log truncations that failed.",
            w.truncations_failed,
        ),
        (
            "prometheus_tsdb_checkpoint_creations",
            "Total number of checkpoint creations attempted.",
            w.checkpoints_created + w.checkpoints_failed,
        ),
        (
            "prometheus_tsdb_checkpoint_creations_failed",
            "Total number of checkpoint creations that failed.",
            w.checkpoints_failed,
        ),
        ("prometheus_tsdb_wal_corruptions", "Total number of WAL corruptions.", w.corruptions),
    ];
    for (name, help, v) in counters {
        let c = ConstCounter::new(v);
        c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
    }
    Ok(())
}

/// The `prometheus_tsdb_*` block, compaction and retention metrics.
fn encode_db(encoder: &mut DescriptorEncoder<'_>, db: &tsdb::Db) -> Result<(), std::fmt::Error> {
    let st = db.stats();
    let lowest = db.min_time();
    let gauges = [
        (
            "prometheus_tsdb_blocks_loaded",
            "Number of currently loaded data blocks",
            db.blocks().len() as i64,
        ),
        (
            "prometheus_tsdb_storage_blocks_bytes",
            "The number of bytes that are currently used for local storage by all blocks.",
            i64::try_from(db.blocks_bytes()).unwrap_or(i64::MAX),
        ),
        (
            "prometheus_tsdb_lowest_timestamp",
            "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
            if lowest == i64::MAX { 0 } else { lowest },
        ),
    ];
    for (name, help, v) in gauges {
        let g = ConstGauge::new(v);
        g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
    }
    let counters = [
        (
            "prometheus_tsdb_compactions",
            "Total number of compactions that were executed for the partition.",
            st.compactions,
        ),
        (
            "prometheus_tsdb_compactions_failed",
            "Total number of compactions that failed for the partition.",
            st.compactions_failed,
        ),
        (
            "prometheus_tsdb_head_truncations",
            "Total number of head truncations attempted.",
            st.head_truncations,
        ),
        (
            "prometheus_tsdb_time_retentions",
            "The number of times that blocks were deleted because the maximum time limit was exceeded.",
            st.time_retentions,
        ),
        (
            "prometheus_tsdb_size_retentions",
            "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
            st.size_retentions,
        ),
    ];
    for (name, help, v) in counters {
        let c = ConstCounter::new(v);
        c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
    }
    Ok(())
}

/// Registers the collectors of the storage and scrape components.
pub(crate) fn register_components(app: &crate::server::App) {
    let c = ComponentCollector {
        storage: app.storage.clone(),
        db: app.db.clone(),
        replay_seconds: app.replay.duration.as_secs_f64(),
        scrape: app.scrape.stats(),
    };
    app.metrics.lock().register_collector(Box::new(c));
    app.metrics.lock().register_collector(Box::new(crate::alerting_metrics::AlertingCollector {
        rules: app.rules.clone(),
        notifier: app.notifier.clone(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names() {
        let m = Metrics::new();
        m.server.record_reload(true);
        let text = m.render();
        assert!(text.contains("prometheus_config_last_reload_successful 1"), "{text}");
        assert!(text.contains("prometheus_build_info{"), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        m.server.record_reload(false);
        assert!(m.render().contains("prometheus_config_last_reload_successful 0"));
    }
}
