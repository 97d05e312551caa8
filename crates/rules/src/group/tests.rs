use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;

use storage::{MemStorage, SampleCursor};

use super::*;
use crate::alerting::AlertState;

/// Answers each expression with the samples scripted for it at each evaluation time.
#[derive(Default)]
struct Script(BTreeMap<(String, i64), Vec<(Labels, f64)>>);

impl QueryFunc for Script {
    fn query(&self, expr: &str, t: i64) -> Result<Vec<crate::RuleSample>, String> {
        if expr == "broken" {
            return Err("boom".into());
        }
        Ok(self
            .0
            .get(&(expr.to_string(), t))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|(labels, f)| crate::RuleSample { labels, t, value: SampleValue::Float(f) })
            .collect())
    }
}

#[derive(Default)]
struct Sent(StdMutex<Vec<(String, Vec<Alert>)>>);

impl Notify for Sent {
    fn send(&self, expr: &str, alerts: &[Alert]) {
        self.0.lock().unwrap().push((expr.to_string(), alerts.to_vec()));
    }
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn samples(store: &MemStorage, name: &str) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let q = store.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(true, None, &[Matcher::equal(METRIC_NAME_LABEL, name)]);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c: Box<dyn SampleCursor> = s.cursor();
        let mut pts = Vec::new();
        while c.next() == ValueKind::Float {
            pts.push(c.at());
        }
        out.push((s.labels.clone(), pts));
    }
    out
}

fn env<'a>(
    q: &'a Arc<dyn QueryFunc>,
    store: &'a MemStorage,
    n: &'a Sent,
    t: &'a TemplateEnv,
) -> EvalEnv<'a> {
    EvalEnv {
        query: q,
        appendable: store,
        notify: Some(n),
        template: t,
        resend_delay: 60_000,
        default_query_offset: 0,
    }
}

#[test]
fn recording_rule_writes_results_and_staleness_markers() {
    let mut script = Script::default();
    script.0.insert(
        ("sum(x)".into(), 0),
        vec![(lbl(&[("job", "a")]), 1.0), (lbl(&[("job", "b")]), 2.0)],
    );
    script.0.insert(("sum(x)".into(), 60_000), vec![(lbl(&[("job", "a")]), 3.0)]);
    let q: Arc<dyn QueryFunc> = Arc::new(script);
    let store = MemStorage::new();
    let sent = Sent::default();
    let t = TemplateEnv::default();
    let mut g = Group::new(
        "g",
        "f.yml",
        60_000,
        0,
        None,
        vec![Rule::Recording(RecordingRule::new("job:x:sum", "sum(x)", lbl(&[("team", "t")])))],
    );
    g.eval(0, &env(&q, &store, &sent, &t));
    g.eval(60_000, &env(&q, &store, &sent, &t));
    let got = samples(&store, "job:x:sum");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, lbl(&[("__name__", "job:x:sum"), ("job", "a"), ("team", "t")]));
    assert_eq!(got[0].1, vec![(0, 1.0), (60_000, 3.0)]);
    assert_eq!(got[1].1.len(), 2);
    assert!(model::is_stale_nan(got[1].1[1].1), "job=b went stale at 60s: {:?}", got[1].1);
    assert_eq!(g.rules()[0].health, Health::Ok);
    assert_eq!(g.stats().evaluations, 2);
    assert_eq!(g.stats().last_samples, 1);
}

#[test]
fn failing_rule_is_unhealthy_and_counted() {
    let q: Arc<dyn QueryFunc> = Arc::new(Script::default());
    let store = MemStorage::new();
    let sent = Sent::default();
    let t = TemplateEnv::default();
    let mut g = Group::new(
        "g",
        "f.yml",
        60_000,
        0,
        None,
        vec![Rule::Recording(RecordingRule::new("r", "broken", Labels::empty()))],
    );
    g.eval(0, &env(&q, &store, &sent, &t));
    assert_eq!(g.rules()[0].health, Health::Err);
    assert_eq!(g.rules()[0].last_error.as_deref(), Some("boom"));
    assert_eq!(g.stats().failures, 1);
}

#[test]
fn firing_alerts_are_sent_and_restored_after_restart() {
    let mut script = Script::default();
    for t in 0..=17 {
        script.0.insert(
            ("up == 0".into(), t * 60_000),
            vec![(lbl(&[("__name__", "up"), ("job", "a")]), 0.0)],
        );
    }
    let q: Arc<dyn QueryFunc> = Arc::new(script);
    let store = MemStorage::new();
    let sent = Sent::default();
    let tenv = TemplateEnv::default();
    let alert = || {
        Rule::Alerting(AlertingRule::new(
            "Down",
            "up == 0",
            15 * 60_000,
            0,
            lbl(&[("severity", "page")]),
            Labels::empty(),
            true,
        ))
    };
    let mut g = Group::new("g", "f.yml", 60_000, 0, None, vec![alert()]);
    for t in 0..=10 {
        g.eval(t * 60_000, &env(&q, &store, &sent, &tenv));
    }
    // Pending for 10 minutes: nothing sent, ALERTS_FOR_STATE holds the activation time (0 s).
    assert!(sent.0.lock().unwrap().is_empty());
    let fs = samples(&store, "ALERTS_FOR_STATE");
    assert_eq!(fs[0].1.last(), Some(&(600_000, 0.0)));

    // "Restart" 2 minutes later: a new group sees the same condition and restores `for` state.
    let restart = 12 * 60_000;
    let restarted = |grace: i64| {
        let mut g2 = Group::new("g", "f.yml", 60_000, 0, None, vec![alert()]);
        if let Rule::Alerting(a) = &mut g2.rules_mut()[0].rule {
            a.restored = false;
        }
        g2.eval(restart, &env(&q, &store, &Sent::default(), &tenv));
        g2.restore_for_state(restart, &store, 3_600_000, grace);
        g2
    };
    // With the default 10m grace period the 5 minutes left become 10: it fires 10 minutes after the restart.
    let g3 = restarted(600_000);
    let Rule::Alerting(a) = &g3.rules()[0].rule else { unreachable!() };
    assert_eq!(a.alerts()[0].active_at, 7 * 60_000);
    // With a 1m grace period only the outage is added: 10 minutes spent pending count, 2 minutes down do not.
    let mut g2 = restarted(60_000);
    let Rule::Alerting(a) = &g2.rules()[0].rule else { unreachable!() };
    assert_eq!(a.alerts()[0].active_at, 2 * 60_000);
    assert_eq!(a.alerts()[0].state, AlertState::Pending);
    for t in 13..=17 {
        g2.eval(t * 60_000, &env(&q, &store, &sent, &tenv));
    }
    let Rule::Alerting(a) = &g2.rules()[0].rule else { unreachable!() };
    assert_eq!(a.alerts()[0].state, AlertState::Firing);
    assert_eq!(a.alerts()[0].fired_at, Some(17 * 60_000));
    let sent = sent.0.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "up == 0");
    assert_eq!(sent[0].1[0].labels.get("alertname"), "Down");
}

#[test]
fn reload_keeps_alert_state_and_eval_slots_are_stable() {
    let mut script = Script::default();
    script.0.insert(("up == 0".into(), 0), vec![(lbl(&[("job", "a")]), 0.0)]);
    let q: Arc<dyn QueryFunc> = Arc::new(script);
    let store = MemStorage::new();
    let sent = Sent::default();
    let tenv = TemplateEnv::default();
    let rule = || {
        Rule::Alerting(AlertingRule::new(
            "Down",
            "up == 0",
            300_000,
            0,
            Labels::empty(),
            Labels::empty(),
            true,
        ))
    };
    let mut g = Group::new("g", "f.yml", 60_000, 0, None, vec![rule()]);
    g.eval(0, &env(&q, &store, &sent, &tenv));
    let mut changed = Group::new("g", "f.yml", 30_000, 0, None, vec![rule()]);
    assert!(!g.same_definition(&changed));
    assert!(g.same_definition(&Group::new("g", "f.yml", 60_000, 0, None, vec![rule()])));
    changed.copy_state(&g);
    let Rule::Alerting(a) = &changed.rules()[0].rule else { unreachable!() };
    assert_eq!(a.alerts().len(), 1);
    let ts = g.eval_timestamp(1_000_000_000);
    assert!(ts <= 1_000_000_000 && ts > 1_000_000_000 - 60_000);
    assert_eq!(g.eval_timestamp(ts), ts);
    assert_eq!(g.eval_timestamp(ts + 60_000), ts + 60_000);
}
