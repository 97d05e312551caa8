//! Wiring of rules and alerting: the rule manager's query, notify and storage hooks, the notifier's
//! Alertmanager discovery, and the web layer's view of rules and Alertmanagers.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use discovery::{FileSd, FileSdOptions, TargetGroup};
use model::Labels;
use notifier::Notifier;

use crate::server::App;

/// Hands alerts due for sending to the notifier in Prometheus's shape.
pub(crate) struct NotifyBridge {
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) external_url: String,
}

impl rules::Notify for NotifyBridge {
    fn send(&self, expr: &str, alerts: &[rules::Alert]) {
        let base = self.external_url.trim_end_matches('/');
        let url = format!("{base}{}", notifier::table_link_for_expression(expr));
        let out = alerts
            .iter()
            .map(|a| notifier::Alert {
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: a.fired_at,
                ends_at: a.resolved_at.or(a.valid_until),
                generator_url: url.clone(),
            })
            .collect();
        self.notifier.send(out);
    }
}

/// `--web.external-url`, or Prometheus's default `http://<hostname>:<port>/`.
pub(crate) fn external_url(flag: Option<&str>, listen: &str) -> String {
    if let Some(u) = flag.filter(|u| !u.is_empty()) {
        return u.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let port = listen.rsplit(':').next().unwrap_or("9090");
    format!("http://{host}:{port}/")
}

/// The rule manager's settings from a configuration.
pub(crate) fn rule_settings(
    cfg: &config::Config,
    base: &Path,
    external_url: &str,
) -> Result<rules::LoadSettings, String> {
    let files = rules::expand_globs(base, &cfg.rule_files)?;
    Ok(rules::LoadSettings {
        interval_ms: cfg.global.evaluation_interval.0,
        query_offset_ms: cfg.global.rule_query_offset.0,
        files,
        template: rules::TemplateEnv {
            external_labels: cfg.global.external_labels.clone(),
            external_url: external_url.to_string(),
        },
    })
}

/// Applies the `alerting` section to the notifier and starts discovery of Alertmanagers; returns the discovery
/// tasks (aborted at the next reload).
pub(crate) fn apply_alerting(
    notifier: &Arc<Notifier>,
    cfg: &config::Config,
    base: &Path,
    queue_capacity: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let alerting = cfg.alerting_config().unwrap_or_default();
    let opts = notifier::Options {
        queue_capacity,
        external_labels: Labels::from_pairs(&cfg.global.external_labels),
        relabel: alerting.alert_relabel_configs.clone(),
        drain_on_shutdown: true,
    };
    notifier.apply_config(opts, &alerting.alertmanagers);
    let mut tasks = Vec::new();
    for (i, am) in alerting.alertmanagers.iter().enumerate() {
        for key in am.other_sd_configs.keys() {
            tracing::warn!(mechanism = %key, "Service discovery mechanism is not supported yet for Alertmanagers; ignored");
        }
        let statics = discovery::static_groups(am.static_configs.iter().map(|s| {
            (s.targets.as_slice(), s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        }));
        notifier.set_groups(i, "static", statics);
        for (j, f) in am.file_sd_configs.iter().enumerate() {
            let sd = FileSd::start(FileSdOptions {
                files: f
                    .files
                    .iter()
                    .map(|p| {
                        if Path::new(p).is_absolute() {
                            p.clone()
                        } else {
                            base.join(p).display().to_string()
                        }
                    })
                    .collect(),
                refresh_interval: f.refresh_interval.to_std(),
            });
            let n = notifier.clone();
            let provider = format!("file/{j}");
            tasks.push(tokio::spawn(async move {
                let mut rx = sd.subscribe();
                loop {
                    let groups: Vec<TargetGroup> = rx.borrow_and_update().clone();
                    n.set_groups(i, &provider, groups);
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
                drop(sd);
            }));
        }
    }
    tasks
}

fn system_time(ms: i64) -> Option<std::time::SystemTime> {
    (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms as u64))
}

/// The web layer's view of rules and Alertmanagers.
pub(crate) struct RulesAdapter(pub(crate) Arc<App>);

impl web::RulesRetriever for RulesAdapter {
    fn rule_groups(&self) -> Vec<web::RuleGroupInfo> {
        self.0
            .rules
            .groups()
            .iter()
            .map(|g| {
                let g = g.lock();
                web::RuleGroupInfo {
                    name: g.name().to_string(),
                    file: g.file().to_string(),
                    interval: Duration::from_millis(g.interval_ms().max(0) as u64),
                    limit: g.limit(),
                    rules: g.rules().iter().map(rule_info).collect(),
                    evaluation_time: g.stats().last_duration,
                    last_evaluation: g.stats().last_evaluation,
                }
            })
            .collect()
    }

    fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        let (active, dropped) = self.0.notifier.alertmanagers();
        let dropped_urls = dropped
            .into_iter()
            .map(|t| {
                format!(
                    "{}://{}{}",
                    t.labels.get("__scheme__"),
                    t.labels.get("__address__"),
                    t.labels.get("__alerts_path__")
                )
            })
            .collect();
        (active.into_iter().map(|t| t.url).collect(), dropped_urls)
    }
}

fn rule_info(e: &rules::RuleEntry) -> web::RuleInfo {
    let kind = match &e.rule {
        rules::Rule::Recording(_) => web::RuleKind::Recording,
        rules::Rule::Alerting(a) => web::RuleKind::Alerting {
            state: a.state().as_str().to_string(),
            duration: Duration::from_millis(a.hold_ms().max(0) as u64),
            keep_firing_for: Duration::from_millis(a.keep_firing_for_ms().max(0) as u64),
            annotations: a.annotations().clone(),
            alerts: a
                .alerts()
                .into_iter()
                .filter(|x| x.state != rules::AlertState::Inactive)
                .map(|x| web::AlertInfo {
                    labels: x.labels.clone(),
                    annotations: x.annotations.clone(),
                    state: x.state.as_str().to_string(),
                    active_at: system_time(x.active_at),
                    keep_firing_since: x.keep_firing_since.and_then(system_time),
                    value: x.value,
                })
                .collect(),
        },
    };
    web::RuleInfo {
        name: e.rule.name().to_string(),
        query: e.rule.expr().to_string(),
        labels: e.rule.labels().clone(),
        health: e.health.as_str().to_string(),
        last_error: e.last_error.clone().unwrap_or_default(),
        evaluation_time: e.evaluation_duration,
        last_evaluation: e.last_evaluation,
        kind,
    }
}
