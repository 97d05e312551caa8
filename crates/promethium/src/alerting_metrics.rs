//! The `prometheus_rule_*` and `prometheus_notifications_*` metrics, read from the rule manager and the notifier
//! on every scrape of `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};

type Labels = Vec<(String, String)>;

/// Reads the rule manager and the notifier.
#[derive(Debug)]
pub(crate) struct AlertingCollector {
    pub(crate) rules: Arc<rules::Manager>,
    pub(crate) notifier: Arc<notifier::Notifier>,
}

fn counter_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let f = Family::<Labels, Counter>::default();
    for (l, v) in rows {
        f.get_or_create(l).inc_by(*v);
    }
    f.encode(encoder.encode_descriptor(name, help, None, f.metric_type())?)
}

fn gauge_family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Labels, f64)],
) -> Result<(), std::fmt::Error> {
    let f = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for (l, v) in rows {
        f.get_or_create(l).set(*v);
    }
    f.encode(encoder.encode_descriptor(name, help, None, f.metric_type())?)
}

impl Collector for AlertingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let groups: Vec<(String, rules::GroupStats, i64, usize)> = self
            .rules
            .groups()
            .iter()
            .map(|g| {
                let g = g.lock();
                (g.key(), g.stats().clone(), g.interval_ms(), g.rules().len())
            })
            .collect();
        let key = |k: &str| vec![("rule_group".to_string(), k.to_string())];
        type CounterGet = fn(&rules::GroupStats) -> u64;
        let counters: [(&str, &str, CounterGet); 4] = [
            ("prometheus_rule_evaluations", "The total number of rule evaluations.", |s| {
                s.evaluations
            }),
            (
                "prometheus_rule_evaluation_failures",
                "The total number of rule evaluation failures.",
                |s| s.failures,
            ),
            (
                "prometheus_rule_group_iterations",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
                |s| s.iterations_scheduled,
            ),
            (
                "prometheus_rule_group_iterations_missed",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
                |s| s.iterations_missed,
            ),
        ];
        for (name, help, get) in counters {
            let rows: Vec<(Labels, u64)> =
                groups.iter().map(|(k, s, _, _)| (key(k), get(s))).collect();
            counter_family(&mut encoder, name, help, &rows)?;
        }
        type GaugeGet = fn(&rules::GroupStats, i64, usize) -> f64;
        let gauges: [(&str, &str, GaugeGet); 7] = [
            (
                "prometheus_rule_group_interval_seconds",
                "The interval of a rule group.",
                |_, i, _| i as f64 / 1000.0,
            ),
            (
                "prometheus_rule_group_last_duration_seconds",
                "The duration of the last rule group evaluation.",
                |s, _, _| s.last_duration.as_secs_f64(),
            ),
            (
                "prometheus_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last rule group evaluation in seconds.",
                |s, _, _| s.last_eval_ts.map_or(0.0, |t| t as f64 / 1000.0),
            ),
            (
                "prometheus_rule_group_last_evaluation_samples",
                "The number of samples returned during the last rule group evaluation.",
                |s, _, _| s.last_samples as f64,
            ),
            ("prometheus_rule_group_rules", "The number of rules.", |_, _, n| n as f64),
            (
                "prometheus_rule_group_last_rule_duration_sum_seconds",
                "The sum of time in seconds it took to evaluate each rule in the group regardless of concurrency. This should be higher than the group duration if rules are evaluated concurrently.",
                |s, _, _| s.last_rule_duration_sum.as_secs_f64(),
            ),
            (
                "prometheus_rule_group_last_restore_duration_seconds",
                "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE` series.",
                |s, _, _| s.last_restore_duration.as_secs_f64(),
            ),
        ];
        for (name, help, get) in gauges {
            let rows: Vec<(Labels, f64)> =
                groups.iter().map(|(k, s, i, n)| (key(k), get(s, *i, *n))).collect();
            gauge_family(&mut encoder, name, help, &rows)?;
        }

        let n = &self.notifier;
        let (active, _) = n.alertmanagers();
        for (name, help, v) in [
            (
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
                active.len() as f64,
            ),
            (
                "prometheus_notifications_queue_capacity",
                "The capacity of the alert notifications queue.",
                n.queue_capacity() as f64,
            ),
            (
                "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.",
                n.queue_length() as f64,
            ),
        ] {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let c = ConstCounter::new(n.stats().dropped.load(Ordering::Relaxed));
        c.encode(encoder.encode_descriptor(
            "prometheus_notifications_dropped",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            None,
            c.metric_type(),
        )?)?;
        let per: Vec<(String, Arc<notifier::AmStats>)> =
            n.stats().per_am.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let am = |u: &str| vec![("alertmanager".to_string(), u.to_string())];
        let sent: Vec<(Labels, u64)> =
            per.iter().map(|(u, s)| (am(u), s.sent.load(Ordering::Relaxed))).collect();
        counter_family(
            &mut encoder,
            "prometheus_notifications_sent",
            "Total number of alerts sent.",
            &sent,
        )?;
        let errors: Vec<(Labels, u64)> =
            per.iter().map(|(u, s)| (am(u), s.errors.load(Ordering::Relaxed))).collect();
        counter_family(
            &mut encoder,
            "prometheus_notifications_errors",
            "Total number of sent alerts affected by errors.",
            &errors,
        )
    }
}

/// Feeds the rule manager's evaluation durations into the duration summaries and histograms.
pub(crate) struct RuleDurations {
    pub(crate) rule: Arc<crate::duration_metrics::DurationMetric>,
    pub(crate) group: Arc<crate::duration_metrics::DurationMetric>,
}

impl rules::EvalObserver for RuleDurations {
    fn rule_evaluated(&self, d: std::time::Duration) {
        self.rule.observe(d);
    }

    fn group_evaluated(&self, d: std::time::Duration) {
        self.group.observe(d);
    }
}
