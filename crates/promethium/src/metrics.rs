//! The server's own metrics, under Prometheus's names, exported on `/metrics` through `prometheus-client`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
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
    /// The storage's summaries, once the storage is registered.
    tsdb_summaries: Option<crate::tsdb_metrics::TsdbSummaries>,
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
            tsdb_summaries: None,
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
        if let Some(t) = &self.tsdb_summaries {
            t.render(&mut out);
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Figures owned by the storage and the scrape manager, read on every scrape of `/metrics`.
#[derive(Debug)]
struct ComponentCollector {
    storage: tsdb::Head,
    db: tsdb::Db,
    replay: tsdb::WalReplayStats,
    scrape: Arc<scrape::ScrapeStats>,
}

impl Collector for ComponentCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        crate::tsdb_metrics::encode(&mut encoder, &self.storage, &self.db, &self.replay)?;
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

/// Registers the collectors of the storage and scrape components.
pub(crate) fn register_components(app: &crate::server::App) {
    let c = ComponentCollector {
        storage: app.storage.clone(),
        db: app.db.clone(),
        replay: app.replay.clone(),
        scrape: app.scrape.stats(),
    };
    app.metrics.lock().register_collector(Box::new(c));
    app.metrics.lock().tsdb_summaries =
        Some(crate::tsdb_metrics::TsdbSummaries::new(app.storage.clone()));
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
