//! Alerting rules: the pending → firing → inactive state machine, `for`, `keep_firing_for`, label and
//! annotation templates, and the `ALERTS`/`ALERTS_FOR_STATE` series.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use model::{Labels, LabelsBuilder, METRIC_NAME_LABEL};

use crate::tmpl;
use crate::{QueryFunc, RuleSample, SampleValue};

/// Name of the series recording alert states.
pub const ALERT_METRIC_NAME: &str = "ALERTS";
/// Name of the series recording when alerts became active.
pub const ALERT_FOR_STATE_METRIC_NAME: &str = "ALERTS_FOR_STATE";
/// The label holding the alert name.
pub const ALERT_NAME_LABEL: &str = "alertname";
/// The label holding the alert state in `ALERTS`.
pub const ALERT_STATE_LABEL: &str = "alertstate";

/// How long a resolved alert is still reported (so Alertmanager learns it resolved), ms.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Not active (or resolved).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Firing.
    Firing,
}

impl AlertState {
    /// Prometheus's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule. Times are Unix milliseconds; `None` is Go's zero time.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// State.
    pub state: AlertState,
    /// Labels (the result's labels without the metric name, plus rule labels and `alertname`).
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: Labels,
    /// The value of the expression for this alert at the last evaluation.
    pub value: f64,
    /// When the alert became active.
    pub active_at: i64,
    /// When it started firing.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// When it was last sent to the notifier.
    pub last_sent_at: Option<i64>,
    /// Until when the last notification is valid.
    pub valid_until: Option<i64>,
    /// When the condition ended while `keep_firing_for` keeps it firing.
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        let last = self.last_sent_at;
        if let Some(r) = self.resolved_at
            && last.is_none_or(|l| r > l)
        {
            return true;
        }
        last.is_none_or(|l| l + resend_delay < ts)
    }
}

/// What an alerting rule's templates can see besides the alert itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateEnv {
    /// `global.external_labels`.
    pub external_labels: BTreeMap<String, String>,
    /// `--web.external-url`.
    pub external_url: String,
}

/// An alerting rule and its active alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    pub(crate) name: String,
    pub(crate) expr: String,
    pub(crate) hold_ms: i64,
    pub(crate) keep_firing_for_ms: i64,
    pub(crate) labels: Labels,
    pub(crate) annotations: Labels,
    pub(crate) active: HashMap<Labels, Alert>,
    /// False until the `for` state was restored after a start; no `ALERTS` series are written before.
    pub(crate) restored: bool,
}

impl AlertingRule {
    /// A rule; `labels` and `annotations` are templates.
    pub fn new(
        name: &str,
        expr: &str,
        hold_ms: i64,
        keep_firing_for_ms: i64,
        labels: Labels,
        annotations: Labels,
        restored: bool,
    ) -> AlertingRule {
        AlertingRule {
            name: name.to_string(),
            expr: expr.to_string(),
            hold_ms,
            keep_firing_for_ms,
            labels,
            annotations,
            active: HashMap::new(),
            restored,
        }
    }

    /// The alert name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// `for` in ms.
    pub fn hold_ms(&self) -> i64 {
        self.hold_ms
    }

    /// `keep_firing_for` in ms.
    pub fn keep_firing_for_ms(&self) -> i64 {
        self.keep_firing_for_ms
    }

    /// Label templates.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Annotation templates.
    pub fn annotations(&self) -> &Labels {
        &self.annotations
    }

    /// Active (pending, firing, or recently resolved) alerts, sorted by labels.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The rule's state: the highest state of its alerts.
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// Evaluates the rule at `ts` (queries at `ts - query_offset`) and returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write.
    pub fn eval(
        &mut self,
        ts: i64,
        query_offset: i64,
        query: &Arc<dyn QueryFunc>,
        env: &TemplateEnv,
        limit: i64,
    ) -> Result<Vec<RuleSample>, String> {
        let qt = ts - query_offset;
        let res = query.query(&self.expr, qt)?;
        let mut found: HashMap<Labels, Alert> = HashMap::with_capacity(res.len());
        for s in res {
            let value = match s.value {
                SampleValue::Float(f) => f,
                SampleValue::Histogram(_) => f64::NAN,
            };
            let data = template::AlertData {
                labels: s.labels.without_metric_name().to_vec().into_iter().collect(),
                external_labels: env.external_labels.clone(),
                external_url: env.external_url.clone(),
                value,
            };
            let expand = |text: &str| tmpl::expand_or_error(&self.name, text, &data, ts, query);
            let mut b = LabelsBuilder::new();
            b.reset(&s.labels);
            b.del(METRIC_NAME_LABEL);
            for l in self.labels.iter() {
                b.set(l.name, &expand(l.value));
            }
            b.set(ALERT_NAME_LABEL, &self.name);
            let lbs = b.labels();
            let mut ab = LabelsBuilder::new();
            for l in self.annotations.iter() {
                ab.set(l.name, &expand(l.value));
            }
            let annotations = ab.labels();
            if found.contains_key(&lbs) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .to_string(),
                );
            }
            found.insert(
                lbs.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels: lbs,
                    annotations,
                    value,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }
        let result_keys: std::collections::HashSet<Labels> = found.keys().cloned().collect();
        for (k, a) in found {
            match self.active.get_mut(&k) {
                Some(cur) if cur.state != AlertState::Inactive => {
                    cur.value = a.value;
                    cur.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut num_active = 0i64;
        let mut remove = Vec::new();
        for (k, a) in self.active.iter_mut() {
            if !result_keys.contains(k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < self.keep_firing_for_ms {
                        keep_firing = true;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            num_active += 1;
            if a.state == AlertState::Pending && ts - a.active_at >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                out.push(alert_sample(a, qt));
                out.push(for_state_sample(a, qt));
            }
        }
        for k in remove {
            self.active.remove(&k);
        }
        if limit > 0 && num_active > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {num_active} alerts"));
        }
        Ok(out)
    }

    /// Alerts due for (re)sending at `ts`, with their send bookkeeping updated.
    pub(crate) fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay: i64,
        interval: i64,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(ts, resend_delay) {
                a.last_sent_at = Some(ts);
                let delta = resend_delay.max(interval);
                a.valid_until = Some(ts + 4 * delta);
                out.push(a.clone());
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

fn alert_sample(a: &Alert, t: i64) -> RuleSample {
    let mut b = LabelsBuilder::new();
    b.reset(&a.labels);
    b.set(METRIC_NAME_LABEL, ALERT_METRIC_NAME);
    b.set(ALERT_STATE_LABEL, a.state.as_str());
    RuleSample { labels: b.labels(), t, value: SampleValue::Float(1.0) }
}

fn for_state_sample(a: &Alert, t: i64) -> RuleSample {
    let mut b = LabelsBuilder::new();
    b.reset(&a.labels);
    b.set(METRIC_NAME_LABEL, ALERT_FOR_STATE_METRIC_NAME);
    RuleSample {
        labels: b.labels(),
        t,
        value: SampleValue::Float((a.active_at.div_euclid(1000)) as f64),
    }
}

/// Checks that `text` parses as a template of alerting rule `rule` (rule file validation).
pub(crate) fn check_template(rule: &str, text: &str) -> Result<(), String> {
    tmpl::check(rule, text)
}

#[cfg(test)]
mod tests;
