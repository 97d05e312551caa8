//! A rule group: its rules evaluated in order at one timestamp, results written through one appender per rule,
//! staleness markers for series a rule stopped producing, alert notifications, and restoring `for` state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use model::{Labels, LabelsBuilder, METRIC_NAME_LABEL, Matcher, Value};
use storage::{AppendError, AppendOptions, Appendable, Queryable, ValueKind};

use crate::alerting::{
    ALERT_FOR_STATE_METRIC_NAME, ALERT_NAME_LABEL, Alert, AlertingRule, TemplateEnv,
};
use crate::recording::RecordingRule;
use crate::{QueryFunc, SampleValue};

/// A recording or alerting rule.
#[derive(Debug, Clone)]
pub enum Rule {
    /// A recording rule.
    Recording(RecordingRule),
    /// An alerting rule.
    Alerting(AlertingRule),
}

impl Rule {
    /// The record or alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => r.name(),
            Rule::Alerting(a) => a.name(),
        }
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => r.expr(),
            Rule::Alerting(a) => a.expr(),
        }
    }

    /// The rule's labels.
    pub fn labels(&self) -> &Labels {
        match self {
            Rule::Recording(r) => r.labels(),
            Rule::Alerting(a) => a.labels(),
        }
    }

    /// Identity across reloads: name and labels (Prometheus's `nameAndLabels`).
    fn key(&self) -> String {
        format!("{}{}", self.name(), self.labels())
    }
}

/// Whether the last evaluation of a rule worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation worked.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule with its evaluation bookkeeping.
#[derive(Debug, Clone)]
pub struct RuleEntry {
    /// The rule.
    pub rule: Rule,
    /// Health of the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// Wall-clock time of the last evaluation.
    pub last_evaluation: Option<SystemTime>,
    /// Duration of the last evaluation.
    pub evaluation_duration: Duration,
    prev_series: HashSet<Labels>,
}

impl RuleEntry {
    /// Wraps a rule not yet evaluated.
    pub fn new(rule: Rule) -> RuleEntry {
        RuleEntry {
            rule,
            health: Health::Unknown,
            last_error: None,
            last_evaluation: None,
            evaluation_duration: Duration::ZERO,
            prev_series: HashSet::new(),
        }
    }
}

/// Receives alerts that need (re)sending to Alertmanager.
pub trait Notify: Send + Sync {
    /// `expr` is the rule's expression (for the generator URL).
    fn send(&self, expr: &str, alerts: &[Alert]);
}

/// Everything an evaluation needs from outside the group.
#[derive(Clone, Copy)]
pub struct EvalEnv<'a> {
    /// Runs queries.
    pub query: &'a Arc<dyn QueryFunc>,
    /// Where results go.
    pub appendable: &'a dyn Appendable,
    /// Where alerts go.
    pub notify: Option<&'a dyn Notify>,
    /// Template environment.
    pub template: &'a TemplateEnv,
    /// Minimum time between re-sends of a firing alert (ms).
    pub resend_delay: i64,
    /// The global `rule_query_offset` (ms), used when the group sets none.
    pub default_query_offset: i64,
}

impl std::fmt::Debug for EvalEnv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalEnv").field("resend_delay", &self.resend_delay).finish_non_exhaustive()
    }
}

/// Counters of one group, exported as the `prometheus_rule_*` metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// Rule evaluations.
    pub evaluations: u64,
    /// Failed rule evaluations.
    pub failures: u64,
    /// Scheduled iterations (run or missed).
    pub iterations_scheduled: u64,
    /// Missed iterations.
    pub iterations_missed: u64,
    /// Samples produced by the last iteration.
    pub last_samples: u64,
    /// Duration of the last iteration.
    pub last_duration: Duration,
    /// Evaluation timestamp of the last iteration (ms).
    pub last_eval_ts: Option<i64>,
    /// Wall-clock time of the last iteration.
    pub last_evaluation: Option<SystemTime>,
    /// Duration of the last `for` state restoration.
    pub last_restore_duration: Duration,
    /// Sum of the rules' evaluation durations in the last iteration.
    pub last_rule_duration_sum: Duration,
}

/// A rule group.
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) interval_ms: i64,
    pub(crate) limit: i64,
    pub(crate) query_offset: Option<i64>,
    pub(crate) rules: Vec<RuleEntry>,
    pub(crate) stats: GroupStats,
}

impl Group {
    /// A group of `rules` from `file`.
    pub fn new(
        name: &str,
        file: &str,
        interval_ms: i64,
        limit: i64,
        query_offset: Option<i64>,
        rules: Vec<Rule>,
    ) -> Group {
        Group {
            name: name.to_string(),
            file: file.to_string(),
            interval_ms,
            limit,
            query_offset,
            rules: rules.into_iter().map(RuleEntry::new).collect(),
            stats: GroupStats::default(),
        }
    }

    /// The group name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Evaluation interval (ms).
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Rule result limit (0: none).
    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// The group's own query offset (ms), if set.
    pub fn query_offset(&self) -> Option<i64> {
        self.query_offset
    }

    /// The rules with their state.
    pub fn rules(&self) -> &[RuleEntry] {
        &self.rules
    }

    /// Mutable access to the rules (tests and tooling).
    pub fn rules_mut(&mut self) -> &mut [RuleEntry] {
        &mut self.rules
    }

    /// Counters.
    pub fn stats(&self) -> &GroupStats {
        &self.stats
    }

    /// Prometheus's group key, `file;name`.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// Whether `other` has the same definition (then a reload keeps this group running untouched).
    pub fn same_definition(&self, other: &Group) -> bool {
        self.name == other.name
            && self.file == other.file
            && self.interval_ms == other.interval_ms
            && self.limit == other.limit
            && self.query_offset == other.query_offset
            && self.rules.len() == other.rules.len()
            && self.rules.iter().zip(&other.rules).all(|(a, b)| same_rule(&a.rule, &b.rule))
    }

    /// The first evaluation time at or before `now_ms` in this group's slot: `interval`-aligned times shifted by a
    /// per-group offset derived from its name and file, as Prometheus spreads groups.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.interval_ms.max(1);
        let hash = Labels::from_pairs([("file", self.file.as_str()), ("name", self.name.as_str())])
            .stable_hash();
        // Prometheus derives the offset in nanoseconds; whole milliseconds keep our timestamps exact.
        let offset = ((hash % (interval as u64 * 1_000_000)) / 1_000_000) as i64;
        let adj = now_ms - offset;
        adj - adj.rem_euclid(interval) + offset
    }

    /// Takes over state from the group this one replaces: previous series (for staleness) and active alerts of
    /// rules with the same name and labels.
    pub fn copy_state(&mut self, from: &Group) {
        self.stats = from.stats.clone();
        let mut by_key: std::collections::HashMap<String, Vec<&RuleEntry>> = Default::default();
        for r in &from.rules {
            by_key.entry(r.rule.key()).or_default().push(r);
        }
        for r in &mut self.rules {
            let Some(list) = by_key.get_mut(&r.rule.key()) else { continue };
            if list.is_empty() {
                continue;
            }
            let old = list.remove(0);
            r.prev_series = old.prev_series.clone();
            r.health = old.health;
            r.last_error = old.last_error.clone();
            r.last_evaluation = old.last_evaluation;
            r.evaluation_duration = old.evaluation_duration;
            if let (Rule::Alerting(new), Rule::Alerting(old)) = (&mut r.rule, &old.rule) {
                new.active = old.active.clone();
                new.restored = old.restored;
            }
        }
    }

    /// Evaluates every rule at `ts` (ms).
    pub fn eval(&mut self, ts: i64, env: &EvalEnv<'_>) {
        let started = Instant::now();
        let query_offset = self.query_offset.unwrap_or(env.default_query_offset);
        let mut samples = 0u64;
        for (i, entry) in self.rules.iter_mut().enumerate() {
            let rule_started = Instant::now();
            self.stats.evaluations += 1;
            let result = match &mut entry.rule {
                Rule::Recording(r) => r.eval(ts, query_offset, env.query.as_ref(), self.limit),
                Rule::Alerting(a) => a.eval(ts, query_offset, env.query, env.template, self.limit),
            };
            entry.last_evaluation = Some(SystemTime::now());
            let vector = match result {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(group = %self.name, file = %self.file, name = %entry.rule.name(), index = i, err = %e, "Evaluating rule failed");
                    entry.health = Health::Err;
                    entry.last_error = Some(e);
                    self.stats.failures += 1;
                    entry.evaluation_duration = rule_started.elapsed();
                    continue;
                }
            };
            entry.health = Health::Ok;
            entry.last_error = None;
            samples += vector.len() as u64;
            if let Rule::Alerting(a) = &mut entry.rule {
                let alerts = a.alerts_to_send(ts, env.resend_delay, self.interval_ms);
                if let Some(n) = env.notify
                    && !alerts.is_empty()
                {
                    n.send(a.expr(), &alerts);
                }
            }
            let opts = AppendOptions { discard_out_of_order: true };
            let mut app = env.appendable.appender();
            let mut returned = HashSet::with_capacity(entry.prev_series.len());
            let (mut ooo, mut too_old, mut dup) = (0, 0, 0);
            for s in vector {
                let value = match s.value {
                    SampleValue::Float(f) => Value::Float(f),
                    SampleValue::Histogram(h) => Value::FloatHistogram(h),
                };
                match app.append(0, &s.labels, 0, s.t, value, &opts) {
                    Ok(_) => {
                        returned.insert(s.labels);
                    }
                    Err(e) => {
                        entry.health = Health::Err;
                        entry.last_error = Some(e.to_string());
                        match e {
                            AppendError::OutOfOrderSample => ooo += 1,
                            AppendError::TooOldSample | AppendError::OutOfBounds => too_old += 1,
                            AppendError::DuplicateSampleForTimestamp => dup += 1,
                            _ => {
                                tracing::warn!(group = %self.name, name = %entry.rule.name(), err = %e, sample = %s.labels, "Rule evaluation result discarded");
                            }
                        }
                    }
                }
            }
            if ooo > 0 {
                tracing::warn!(group = %self.name, name = %entry.rule.name(), num_dropped = ooo, "Error on ingesting out-of-order result from rule evaluation");
            }
            if too_old > 0 {
                tracing::warn!(group = %self.name, name = %entry.rule.name(), num_dropped = too_old, "Error on ingesting too old result from rule evaluation");
            }
            if dup > 0 {
                tracing::warn!(group = %self.name, name = %entry.rule.name(), num_dropped = dup, "Error on ingesting results from rule evaluation with different value but same timestamp");
            }
            for gone in entry.prev_series.iter().filter(|l| !returned.contains(*l)) {
                match app.append(
                    0,
                    gone,
                    0,
                    ts - query_offset,
                    Value::Float(model::stale_nan()),
                    &opts,
                ) {
                    Ok(_)
                    | Err(
                        AppendError::OutOfOrderSample
                        | AppendError::TooOldSample
                        | AppendError::OutOfBounds
                        | AppendError::DuplicateSampleForTimestamp,
                    ) => {}
                    Err(e) => {
                        tracing::warn!(group = %self.name, sample = %gone, err = %e, "Adding stale sample failed");
                    }
                }
            }
            match app.commit() {
                Ok(()) => entry.prev_series = returned,
                Err(e) => {
                    tracing::warn!(group = %self.name, name = %entry.rule.name(), err = %e, "Rule sample appending failed");
                    entry.health = Health::Err;
                    entry.last_error = Some(e.to_string());
                    self.stats.failures += 1;
                }
            }
            entry.evaluation_duration = rule_started.elapsed();
        }
        self.stats.last_samples = samples;
        self.stats.last_duration = started.elapsed();
        self.stats.last_rule_duration_sum = self.rules.iter().map(|r| r.evaluation_duration).sum();
        self.stats.last_eval_ts = Some(ts);
        self.stats.last_evaluation = Some(SystemTime::now());
    }

    /// Writes staleness markers at `ts` for every series the group's rules produced last time (the group was
    /// removed or the server stops).
    pub fn mark_stale(&mut self, ts: i64, appendable: &dyn Appendable) {
        let opts = AppendOptions { discard_out_of_order: true };
        let mut app = appendable.appender();
        for entry in &mut self.rules {
            for l in entry.prev_series.drain() {
                let _ = app.append(0, &l, 0, ts, Value::Float(model::stale_nan()), &opts);
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(group = %self.name, err = %e, "Writing staleness markers failed");
        }
    }

    /// Restores the `ActiveAt` of active alerts from the `ALERTS_FOR_STATE` series written before a restart, as
    /// Prometheus does: time spent pending before the outage counts, the outage itself does not, and an alert
    /// about to fire gets at least `for_grace_period`.
    pub fn restore_for_state(
        &mut self,
        now_ms: i64,
        queryable: &dyn Queryable,
        outage_tolerance: i64,
        for_grace_period: i64,
    ) {
        let started = Instant::now();
        let querier = match queryable.querier(now_ms - outage_tolerance, now_ms) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(err = %e, "Failed to get Querier");
                return;
            }
        };
        for entry in &mut self.rules {
            let Rule::Alerting(rule) = &mut entry.rule else { continue };
            if rule.hold_ms < for_grace_period || rule.active.is_empty() {
                rule.restored = true;
                continue;
            }
            // Any active alert gives the values of the rule's (possibly templated) labels.
            let Some(any) = rule.active.values().next() else { continue };
            let mut matchers = vec![
                Matcher::equal(METRIC_NAME_LABEL, ALERT_FOR_STATE_METRIC_NAME),
                Matcher::equal(ALERT_NAME_LABEL, rule.name.as_str()),
            ];
            for l in rule.labels.iter() {
                matchers.push(Matcher::equal(l.name, any.labels.get(l.name)));
            }
            let mut set = querier.select(false, None, &matchers);
            let mut last = std::collections::HashMap::new();
            while let Some(s) = set.next() {
                let mut c = s.cursor();
                let mut found = None;
                while c.next() == ValueKind::Float {
                    found = Some(c.at());
                }
                let mut b = LabelsBuilder::new();
                b.reset(&s.labels);
                b.del(METRIC_NAME_LABEL);
                if let Some(f) = found {
                    last.insert(b.labels(), f);
                }
            }
            for a in rule.active.values_mut() {
                let Some(&(t, v)) = last.get(&a.labels) else { continue };
                if model::is_stale_nan(v) {
                    continue;
                }
                let down_at = t.div_euclid(1000) * 1000;
                let mut restored = (v as i64) * 1000;
                let remaining = rule.hold_ms - (down_at - restored);
                if remaining <= 0 {
                    // Already fired before the outage: keep the original activation time.
                } else if remaining < for_grace_period {
                    restored = now_ms + for_grace_period - rule.hold_ms;
                } else {
                    restored += now_ms - down_at;
                }
                a.active_at = restored;
                tracing::debug!(alertname = %rule.name, labels = %a.labels, "'for' state restored");
            }
            rule.restored = true;
        }
        self.stats.last_restore_duration = started.elapsed();
    }
}

#[cfg(test)]
mod tests;

fn same_rule(a: &Rule, b: &Rule) -> bool {
    match (a, b) {
        (Rule::Recording(a), Rule::Recording(b)) => {
            a.name == b.name && a.expr == b.expr && a.labels == b.labels
        }
        (Rule::Alerting(a), Rule::Alerting(b)) => {
            a.name == b.name
                && a.expr == b.expr
                && a.hold_ms == b.hold_ms
                && a.keep_firing_for_ms == b.keep_firing_for_ms
                && a.labels == b.labels
                && a.annotations == b.annotations
        }
        _ => false,
    }
}
