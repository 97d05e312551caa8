//! The web layer's retriever traits implemented over the running components.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use model::Labels;
use storage::Queryable;

use crate::server::App;

struct Adapter(Arc<App>);

fn map(l: &Labels) -> BTreeMap<String, String> {
    l.iter().map(|x| (x.name.to_string(), x.value.to_string())).collect()
}

impl web::TargetRetriever for Adapter {
    fn active(&self) -> Vec<web::ActiveTarget> {
        self.0
            .scrape
            .active_targets()
            .into_iter()
            .map(|t| web::ActiveTarget {
                discovered_labels: map(&t.discovered_labels),
                labels: map(&t.labels),
                scrape_pool: t.scrape_pool,
                global_url: t.scrape_url.clone(),
                scrape_url: t.scrape_url,
                last_error: t.last_error,
                last_scrape: t.last_scrape,
                last_scrape_duration: t.last_scrape_duration.as_secs_f64(),
                health: t.health.as_str().to_string(),
                scrape_interval: model::format_duration(t.interval.as_millis() as i64),
                scrape_timeout: model::format_duration(t.timeout.as_millis() as i64),
            })
            .collect()
    }

    fn dropped(&self) -> Vec<web::DroppedTarget> {
        self.0
            .scrape
            .dropped_targets()
            .into_iter()
            .map(|t| web::DroppedTarget {
                discovered_labels: map(&t.discovered_labels),
                scrape_pool: t.scrape_pool,
            })
            .collect()
    }

    fn metadata(&self) -> Vec<web::TargetMetadata> {
        self.0
            .scrape
            .target_metadata()
            .into_iter()
            .map(|(target, metric, md)| web::TargetMetadata {
                target: map(&target),
                metric,
                metadata: web::MetricMetadata {
                    metric_type: md.metric_type.as_str().to_string(),
                    help: md.help,
                    unit: md.unit,
                },
            })
            .collect()
    }
}

impl web::StatusRetriever for Adapter {
    fn wal_replay(&self) -> web::WalReplayStatus {
        // The replay finishes before the API starts serving.
        let (min, max) = self.0.replay.segments.unwrap_or((0, 0));
        web::WalReplayStatus { min, max, current: max }
    }

    fn config_yaml(&self) -> String {
        self.0.config_yaml()
    }

    fn flags(&self) -> Vec<(String, String)> {
        self.0.flags()
    }

    fn runtime_info(&self) -> web::RuntimeInfo {
        self.0.runtime_info()
    }

    fn tsdb_status(&self, limit: usize) -> web::TsdbStatus {
        let head = &self.0.storage;
        let st = head.stats();
        let c = head.cardinality(limit);
        web::TsdbStatus {
            num_series: st.series,
            num_label_pairs: c.num_label_pairs,
            chunk_count: st.chunks,
            min_time: st.min_time,
            max_time: st.max_time,
            series_count_by_metric_name: c.series_count_by_metric_name,
            label_value_count_by_label_name: c.label_value_count_by_label_name,
            memory_in_bytes_by_label_name: c.memory_in_bytes_by_label_name,
            series_count_by_label_value_pair: c.series_count_by_label_value_pair,
        }
    }

    fn metrics_text(&self) -> String {
        self.0.metrics.lock().render()
    }

    fn external_labels(&self) -> Vec<(String, String)> {
        self.0.external_labels()
    }
}

impl web::Lifecycle for Adapter {
    fn reload(&self) -> Result<(), String> {
        self.0.reload()
    }

    fn quit(&self) {
        self.0.shutdown.cancel();
    }
}

/// The PromQL engine configured from the server's `--query.*` and `--enable-feature` flags.
pub(crate) fn engine_from_flags(flags: &[(String, String)]) -> promql::Engine {
    let get = |k: &str| flags.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let features: Vec<&str> = get("enable-feature").split(',').map(str::trim).collect();
    let on = |f: &str| features.contains(&f);
    let mut opts = promql::EngineOptions::default();
    if let Ok(ms) = model::parse_duration(get("query.lookback-delta")) {
        opts.lookback_delta = ms;
    }
    if let Ok(ms) = model::parse_duration(get("query.timeout")) {
        opts.timeout = Some(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    if let Ok(n) = get("query.max-samples").parse::<usize>() {
        opts.max_samples = n;
    }
    if let Ok(n) = get("query.max-concurrency").parse::<usize>() {
        opts.max_concurrency = n;
        // Prometheus queues without bound; we refuse beyond ten waiting queries per slot.
        opts.max_queued = n.saturating_mul(10);
    }
    opts.parser.experimental_functions = on("promql-experimental-functions");
    opts.parser.duration_expr = on("promql-duration-expr");
    opts.parser.extended_range_selectors = on("promql-extended-range-selectors");
    opts.parser.fill_modifiers = on("promql-binop-fill-modifiers");
    opts.delayed_name_removal = on("promql-delayed-name-removal");
    // The head does not keep start timestamps yet, so today this only affects storages that return them.
    opts.use_start_timestamps = on("use-start-timestamps");
    promql::Engine::new(opts)
}

/// The web layer's options over `app`.
pub(crate) fn api_options(app: Arc<App>, ready: Arc<AtomicBool>) -> web::ApiOptions {
    let adapter = Arc::new(Adapter(app.clone()));
    let engine = engine_from_flags(&app.flags());
    web::ApiOptions {
        queryable: Arc::new(app.db.clone()) as Arc<dyn Queryable>,
        targets: adapter.clone(),
        status: adapter.clone(),
        lifecycle: adapter,
        enable_lifecycle: app
            .flags()
            .iter()
            .any(|(k, v)| k == "web.enable-lifecycle" && v == "true"),
        ready,
        build_info: web::BuildInfo {
            version: crate::VERSION.to_string(),
            revision: env!("CARGO_PKG_VERSION").to_string(),
            branch: "main".to_string(),
            build_user: "promethium".to_string(),
            build_date: String::new(),
            go_version: "rust".to_string(),
        },
        engine,
        exemplars: Some(Arc::new(app.storage.clone())),
        rules: Some(Arc::new(crate::alerting::RulesAdapter(app.clone()))),
        admin: app
            .flags()
            .iter()
            .any(|(k, v)| k == "web.enable-admin-api" && v == "true")
            .then(|| Arc::new(AdminAdapter(app.db.clone())) as Arc<dyn web::TsdbAdmin>),
        // Checked when the server starts (see `server::web_settings`).
        cors_origin: app
            .flags()
            .iter()
            .find(|(k, _)| k == "web.cors.origin")
            .and_then(|(_, v)| web::CorsOrigin::new(v).ok())
            .map(Arc::new),
    }
}

/// The admin API over the database.
struct AdminAdapter(tsdb::Db);

impl web::TsdbAdmin for AdminAdapter {
    fn delete_series(
        &self,
        matcher_sets: &[Vec<model::Matcher>],
        start: i64,
        end: i64,
    ) -> Result<(), String> {
        for m in matcher_sets {
            self.0.delete(start, end, m).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<(), String> {
        self.0.clean_tombstones().map(|_| ()).map_err(|e| e.to_string())
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, String> {
        // Prometheus's name: UTC time and 16 random hex digits.
        let random = std::collections::hash_map::RandomState::new();
        let n = std::hash::BuildHasher::hash_one(&random, std::time::SystemTime::now())
            & (i64::MAX as u64);
        let name = format!("{}-{n:016x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
        let dir = self.0.dir().join("snapshots").join(&name);
        self.0.snapshot(&dir, skip_head).map_err(|e| format!("create snapshot: {e}"))?;
        Ok(name)
    }
}
