//! The web layer's retriever traits implemented over the running components.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use model::Labels;
use storage::{LabelHints, Queryable};

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
        let store = &self.0.storage;
        let mut st =
            web::TsdbStatus { num_series: store.series_count() as u64, ..Default::default() };
        let Ok(q) = store.querier(i64::MIN / 2, i64::MAX / 2) else { return st };
        let hints = LabelHints::default();
        let Ok((names, _)) = q.label_names(&hints, &[]) else { return st };
        let mut value_counts = Vec::new();
        for n in &names {
            if let Ok((vals, _)) = q.label_values(n, &hints, &[]) {
                st.num_label_pairs += vals.len() as u64;
                value_counts.push((n.clone(), vals.len() as u64));
            }
        }
        value_counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        value_counts.truncate(limit);
        st.label_value_count_by_label_name = value_counts;
        st
    }

    fn metrics_text(&self) -> String {
        self.0.metrics.lock().render()
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

/// The web layer's options over `app`.
pub(crate) fn api_options(app: Arc<App>, ready: Arc<AtomicBool>) -> web::ApiOptions {
    let adapter = Arc::new(Adapter(app.clone()));
    web::ApiOptions {
        queryable: Arc::new(app.storage.clone()) as Arc<dyn Queryable>,
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
    }
}
