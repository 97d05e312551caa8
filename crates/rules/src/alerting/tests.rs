use std::collections::BTreeMap;

use super::*;

/// Answers every query with the samples scripted for its evaluation time.
struct Script(BTreeMap<i64, Vec<(Labels, f64)>>);

impl QueryFunc for Script {
    fn query(&self, _expr: &str, t: i64) -> Result<Vec<RuleSample>, String> {
        Ok(self
            .0
            .get(&t)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|(labels, f)| RuleSample { labels, t, value: SampleValue::Float(f) })
            .collect())
    }
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

const MIN: i64 = 60_000;

fn rule(hold: i64, keep: i64) -> AlertingRule {
    AlertingRule::new(
        "HighErrors",
        "errors > 1",
        hold,
        keep,
        lbl(&[("severity", "page")]),
        Labels::empty(),
        true,
    )
}

fn states(r: &AlertingRule) -> Vec<AlertState> {
    r.alerts().iter().map(|a| a.state).collect()
}

#[test]
fn pending_then_firing_then_resolved() {
    let series = lbl(&[("__name__", "errors"), ("job", "api")]);
    let mut s = BTreeMap::new();
    for t in 0..=5 {
        s.insert(t * MIN, vec![(series.clone(), 5.0)]);
    }
    let q: Arc<dyn QueryFunc> = Arc::new(Script(s));
    let mut r = rule(2 * MIN, 0);
    let env = TemplateEnv::default();
    let out = r.eval(0, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Pending]);
    let a = r.alerts()[0].clone();
    assert_eq!(a.labels, lbl(&[("alertname", "HighErrors"), ("job", "api"), ("severity", "page")]));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].labels.get("alertstate"), "pending");
    assert_eq!(out[0].labels.get("__name__"), "ALERTS");
    assert_eq!(out[1].labels.get("__name__"), "ALERTS_FOR_STATE");
    assert_eq!(out[1].value, SampleValue::Float(0.0));
    r.eval(MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Pending]);
    let out = r.eval(2 * MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Firing]);
    assert_eq!(out[0].labels.get("alertstate"), "firing");
    assert_eq!(r.alerts()[0].fired_at, Some(2 * MIN));
    // Condition ends at 6m: resolved, kept for reporting, no ALERTS samples.
    let out = r.eval(6 * MIN, 0, &q, &env, 0).unwrap();
    assert!(out.is_empty());
    assert_eq!(states(&r), vec![AlertState::Inactive]);
    assert_eq!(r.alerts()[0].resolved_at, Some(6 * MIN));
    // Dropped after the 15m resolved retention.
    r.eval(22 * MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(r.alerts().len(), 0);
}

#[test]
fn pending_alert_disappears_when_condition_ends() {
    let series = lbl(&[("job", "api")]);
    let q: Arc<dyn QueryFunc> = Arc::new(Script(BTreeMap::from([(0, vec![(series, 5.0)])])));
    let mut r = rule(5 * MIN, 0);
    r.eval(0, 0, &q, &TemplateEnv::default(), 0).unwrap();
    r.eval(MIN, 0, &q, &TemplateEnv::default(), 0).unwrap();
    assert!(r.alerts().is_empty());
}

#[test]
fn keep_firing_for_holds_the_alert() {
    let series = lbl(&[("job", "api")]);
    let q: Arc<dyn QueryFunc> = Arc::new(Script(BTreeMap::from([(0, vec![(series, 5.0)])])));
    let mut r = rule(0, 2 * MIN);
    let env = TemplateEnv::default();
    r.eval(0, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Firing]);
    let out = r.eval(MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Firing]);
    assert_eq!(out.len(), 2);
    assert_eq!(r.alerts()[0].keep_firing_since, Some(MIN));
    r.eval(2 * MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Firing]);
    r.eval(3 * MIN, 0, &q, &env, 0).unwrap();
    assert_eq!(states(&r), vec![AlertState::Inactive]);
}

#[test]
fn limit_and_duplicates() {
    let q: Arc<dyn QueryFunc> = Arc::new(Script(BTreeMap::from([(
        0,
        vec![(lbl(&[("job", "a")]), 1.0), (lbl(&[("job", "b")]), 1.0)],
    )])));
    let mut r = rule(0, 0);
    let err = r.eval(0, 0, &q, &TemplateEnv::default(), 1).unwrap_err();
    assert_eq!(err, "exceeded limit of 1 with 2 alerts");
    assert!(r.alerts().is_empty());
    let q: Arc<dyn QueryFunc> = Arc::new(Script(BTreeMap::from([(
        0,
        vec![
            (lbl(&[("__name__", "x"), ("job", "a")]), 1.0),
            (lbl(&[("__name__", "y"), ("job", "a")]), 1.0),
        ],
    )])));
    let err = rule(0, 0).eval(0, 0, &q, &TemplateEnv::default(), 0).unwrap_err();
    assert_eq!(err, "vector contains metrics with the same labelset after applying alert labels");
}

#[test]
fn no_alert_series_before_restoration_and_query_offset() {
    let q: Arc<dyn QueryFunc> =
        Arc::new(Script(BTreeMap::from([(MIN - 10_000, vec![(lbl(&[("job", "a")]), 1.0)])])));
    let mut r = rule(0, 0);
    r.restored = false;
    let out = r.eval(MIN, 10_000, &q, &TemplateEnv::default(), 0).unwrap();
    assert!(out.is_empty());
    assert_eq!(states(&r), vec![AlertState::Firing]);
    r.restored = true;
    let q: Arc<dyn QueryFunc> =
        Arc::new(Script(BTreeMap::from([(2 * MIN - 10_000, vec![(lbl(&[("job", "a")]), 1.0)])])));
    let out = r.eval(2 * MIN, 10_000, &q, &TemplateEnv::default(), 0).unwrap();
    assert_eq!(out[0].t, 2 * MIN - 10_000);
}

#[test]
fn sending_respects_resend_delay_and_resolution() {
    let q: Arc<dyn QueryFunc> = Arc::new(Script(BTreeMap::from([
        (0, vec![(lbl(&[("job", "a")]), 1.0)]),
        (MIN, vec![(lbl(&[("job", "a")]), 1.0)]),
    ])));
    let mut r = rule(0, 0);
    let env = TemplateEnv::default();
    r.eval(0, 0, &q, &env, 0).unwrap();
    let sent = r.alerts_to_send(0, MIN, 15_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].valid_until, Some(4 * MIN));
    r.eval(MIN / 2, 0, &q, &env, 0).unwrap_or_default();
    // Resolved at 30s (no data then): sent again at once with resolved_at.
    let sent = r.alerts_to_send(MIN / 2, MIN, 15_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at, Some(MIN / 2));
    assert!(r.alerts_to_send(MIN / 2 + 1, MIN, 15_000).is_empty());
}

#[test]
fn templates_see_labels_value_external_labels_and_query() {
    let series = lbl(&[("__name__", "errors"), ("instance", "web-1:80"), ("job", "api")]);
    let mut s = BTreeMap::new();
    s.insert(0, vec![(series, 0.25)]);
    let q: Arc<dyn QueryFunc> = Arc::new(Script(s));
    let mut r = AlertingRule::new(
        "HighErrors",
        "errors > 0.1",
        0,
        0,
        lbl(&[("severity", "{{ if gt $value 0.2 }}page{{ else }}ticket{{ end }}")]),
        lbl(&[
            ("summary", "{{ $labels.instance }} errors at {{ $value | humanizePercentage }}"),
            ("where", "{{ $externalLabels.cluster }} {{ $externalURL }}"),
            ("count", "{{ with query \"errors > 0.1\" }}{{ . | len }}{{ end }}"),
            ("broken", "{{ $labels.instance | nosuchfunc }}"),
        ]),
        true,
    );
    let env = TemplateEnv {
        external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
        external_url: "http://prom:9090".to_string(),
    };
    r.eval(0, 0, &q, &env, 0).unwrap();
    let a = r.alerts()[0].clone();
    assert_eq!(a.labels.get("severity"), "page");
    assert_eq!(a.annotations.get("summary"), "web-1:80 errors at 25%");
    assert_eq!(a.annotations.get("where"), "eu1 http://prom:9090");
    assert_eq!(a.annotations.get("count"), "1");
    assert!(
        a.annotations.get("broken").starts_with("<error expanding template: "),
        "{}",
        a.annotations.get("broken")
    );
}
