//! Head tests: Prometheus's append rules, agreement with the reference in-memory store, garbage collection.

use model::{Labels, MatchType, Matcher, Value, stale_nan};
use storage::{
    AppendError, AppendOptions, Appendable, LabelHints, MemStorage, Queryable, ValueKind,
};

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn f(v: f64) -> Value {
    Value::Float(v)
}

/// Every series matching `matchers` with its float samples.
fn read(
    q: &dyn Queryable,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
) -> Vec<(String, Vec<(i64, u64)>)> {
    let q = q.querier(mint, maxt).unwrap();
    let mut set = q.select(true, None, matchers);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut v = Vec::new();
        while c.next() == ValueKind::Float {
            let (t, x) = c.at();
            v.push((t, x.to_bits()));
        }
        // Like Prometheus's head, a series whose chunk overlaps the range is selected even when no sample falls
        // inside it; compare the data only.
        if !v.is_empty() {
            out.push((s.labels.to_string(), v));
        }
    }
    out
}

#[test]
fn append_rules_match_prometheus() {
    let h = Head::default();
    let a = l(&[("__name__", "a")]);
    let o = AppendOptions::default();
    let mut app = h.appender();
    let r = app.append(0, &a, 0, 1000, f(1.0), &o).unwrap();
    assert_eq!(
        app.append(r, &a, 0, 1000, f(1.0), &o),
        Ok(r),
        "same timestamp and value is accepted"
    );
    assert_eq!(
        app.append(r, &a, 0, 1000, f(2.0), &o),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    assert_eq!(app.append(r, &a, 0, 999, f(2.0), &o), Err(AppendError::OutOfOrderSample));
    app.append(r, &a, 0, 2000, f(stale_nan()), &o).unwrap();
    app.commit().unwrap();
    let mut app = h.appender();
    assert_eq!(app.append(0, &a, 0, 1500, f(1.0), &o), Err(AppendError::OutOfOrderSample));
    assert!(app.append(0, &Labels::empty(), 0, 1, f(1.0), &o).is_err());
    app.rollback().unwrap();
    let got = read(&h, 0, 10_000, &[Matcher::equal("__name__", "a")]);
    assert_eq!(got[0].1, vec![(1000, 1.0f64.to_bits()), (2000, stale_nan().to_bits())]);
    let st = h.stats();
    assert_eq!((st.series, st.samples_appended, st.min_time, st.max_time), (1, 2, 1000, 2000));
}

#[test]
fn uncommitted_samples_are_invisible() {
    let h = Head::default();
    let mut app = h.appender();
    app.append(0, &l(&[("__name__", "x")]), 0, 1, f(1.0), &AppendOptions::default()).unwrap();
    assert!(read(&h, 0, 10, &[Matcher::equal("__name__", "x")]).is_empty());
    app.commit().unwrap();
    assert_eq!(read(&h, 0, 10, &[Matcher::equal("__name__", "x")]).len(), 1);
}

/// Random data through the head and the reference store must read back identically for many selectors and
/// time ranges (chunks are cut every 120 samples, so ranges cross chunk boundaries).
#[test]
fn agrees_with_the_reference_store() {
    let h = Head::default();
    let m = MemStorage::new();
    let mut seed = 42u64;
    let mut rnd = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let jobs = ["api", "db", "web"];
    for step in 0..400i64 {
        let mut a = h.appender();
        let mut b = m.appender();
        for i in 0..30 {
            if rnd(10) == 0 {
                continue;
            }
            let labels = l(&[
                ("__name__", if i % 2 == 0 { "up" } else { "req_total" }),
                ("job", jobs[i % 3]),
                ("i", &i.to_string()),
            ]);
            let t = step * 15_000 + rnd(1000) as i64;
            let v = match rnd(20) {
                0 => stale_nan(),
                1 => f64::NAN,
                _ => (rnd(1_000_000) as f64) / 7.0,
            };
            a.append(0, &labels, 0, t, f(v), &AppendOptions::default()).unwrap();
            b.append(0, &labels, 0, t, f(v), &AppendOptions::default()).unwrap();
        }
        a.commit().unwrap();
        b.commit().unwrap();
    }
    let sels: Vec<Vec<Matcher>> = vec![
        vec![Matcher::equal("__name__", "up")],
        vec![Matcher::new(MatchType::Regexp, "job", "api|db").unwrap()],
        vec![
            Matcher::equal("__name__", "req_total"),
            Matcher::new(MatchType::NotEqual, "job", "web").unwrap(),
        ],
        vec![
            Matcher::new(MatchType::Regexp, "i", "1.*").unwrap(),
            Matcher::new(MatchType::NotRegexp, "job", "a.*").unwrap(),
        ],
        vec![
            Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap(),
            Matcher::equal("nope", ""),
        ],
    ];
    for sel in &sels {
        for (mint, maxt) in [(0, i64::MAX), (1_000_000, 2_000_000), (1_799_999, 1_800_001), (-5, 0)]
        {
            assert_eq!(
                read(&h, mint, maxt, sel),
                read(&m, mint, maxt, sel),
                "{sel:?} [{mint}, {maxt}]"
            );
        }
    }
    let hints = LabelHints::default();
    let hq = h.querier(0, i64::MAX).unwrap();
    let mq = m.querier(0, i64::MAX).unwrap();
    assert_eq!(
        hq.label_values("job", &hints, &[]).unwrap().0,
        mq.label_values("job", &hints, &[]).unwrap().0
    );
    assert_eq!(hq.label_names(&hints, &[]).unwrap().0, mq.label_names(&hints, &[]).unwrap().0);
    let sel = [Matcher::equal("job", "db")];
    assert_eq!(
        hq.label_values("i", &hints, &sel).unwrap().0,
        mq.label_values("i", &hints, &sel).unwrap().0
    );
    assert!(h.stats().chunks > 30, "chunks are cut");
}

#[test]
fn truncation_drops_old_data_and_empty_series() {
    let h = Head::default();
    let o = AppendOptions::default();
    let mut app = h.appender();
    for t in 0..300 {
        app.append(0, &l(&[("__name__", "old")]), 0, t * 1000, f(1.0), &o).unwrap();
    }
    app.append(0, &l(&[("__name__", "new")]), 0, 500_000, f(1.0), &o).unwrap();
    app.commit().unwrap();
    h.truncate(400_000);
    let st = h.stats();
    assert_eq!(st.series, 1);
    assert_eq!(st.series_removed, 1);
    assert_eq!(st.min_time, 500_000);
    let q = h.querier(0, i64::MAX).unwrap();
    assert_eq!(q.label_values("__name__", &LabelHints::default(), &[]).unwrap().0, vec!["new"]);
    let mut app = h.appender();
    assert_eq!(
        app.append(0, &l(&[("__name__", "x")]), 0, 1, f(1.0), &o),
        Err(AppendError::OutOfBounds)
    );
}

#[test]
fn cardinality_stats() {
    let h = Head::default();
    let mut app = h.appender();
    for i in 0..5 {
        app.append(
            0,
            &l(&[("__name__", "a"), ("i", &i.to_string())]),
            0,
            1,
            f(1.0),
            &AppendOptions::default(),
        )
        .unwrap();
    }
    app.append(0, &l(&[("__name__", "b")]), 0, 1, f(1.0), &AppendOptions::default()).unwrap();
    app.commit().unwrap();
    let c = h.cardinality(10);
    assert_eq!(c.series_count_by_metric_name, vec![("a".to_string(), 5), ("b".to_string(), 1)]);
    assert_eq!(c.label_value_count_by_label_name[0], ("i".to_string(), 5));
    assert_eq!(c.num_label_pairs, 7);
}

#[test]
fn exemplars_are_stored_validated_and_selected() {
    use storage::ExemplarQueryable;
    let head = Head::new(HeadOptions { max_exemplars: 10, ..HeadOptions::default() });
    let l = Labels::from_pairs([("__name__", "req_total"), ("job", "a")]);
    let ex = |trace: &str, v: f64, ts: Option<i64>| model::Exemplar {
        labels: Labels::from_pairs([("trace_id", trace)]),
        value: v,
        ts,
    };
    let mut app = head.appender();
    let r = app.append(0, &l, 0, 1000, Value::Float(1.0), &AppendOptions::default()).unwrap();
    app.append_exemplars(r, &l, &[ex("t1", 0.5, None)]).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    let r = app.append(r, &l, 0, 2000, Value::Float(2.0), &AppendOptions::default()).unwrap();
    assert_eq!(
        app.append_exemplars(r, &l, &[ex("t1", 0.5, Some(1000))]),
        Err(storage::AppendError::DuplicateExemplar)
    );
    assert_eq!(
        app.append_exemplars(r, &l, &[ex("t0", 0.1, Some(500))]),
        Err(storage::AppendError::OutOfOrderExemplar)
    );
    app.append_exemplars(r, &l, &[ex("t2", 0.7, Some(1900))]).unwrap();
    app.commit().unwrap();
    assert_eq!(head.num_exemplars(), 2);
    let sel = vec![vec![model::Matcher::equal("__name__", "req_total")]];
    let got = head.select_exemplars(0, 5000, &sel).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, l);
    assert_eq!(got[0].1.iter().map(|e| e.ts).collect::<Vec<_>>(), vec![Some(1000), Some(1900)]);
    assert!(head.select_exemplars(1500, 5000, &sel).unwrap()[0].1.len() == 1);
    // With storage off, exemplars are accepted and dropped.
    let off = Head::default();
    let mut app = off.appender();
    let r = app.append(0, &l, 0, 1000, Value::Float(1.0), &AppendOptions::default()).unwrap();
    app.append_exemplars(r, &l, &[ex("t1", 0.5, None)]).unwrap();
    app.commit().unwrap();
    assert_eq!(off.num_exemplars(), 0);
}
