//! Protobuf scrapes against a loopback server: negotiation, ingestion of every metric type, native histograms,
//! metadata, limits, timestamps and staleness. Bodies are `MetricFamily` messages encoded with `prost`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use exposition::proto::messages as pb;
use model::{
    BucketSpan, CounterResetHint, Exemplar, FloatHistogram, Histogram, Labels, MetricType,
    Timestamp, Value, is_stale_nan,
};
use parking_lot::Mutex;
use prost::Message;
use storage::{
    AppendError, AppendOptions, Appendable, Appender, MemStorage, Queryable, SeriesRef,
    StorageError, ValueKind,
};

use super::{opts, samples};
use crate::ScrapeOptions;
use crate::scrape_loop::ScrapeLoop;

/// What the test server answers: Content-Type and body, replaceable between scrapes.
type Response = Arc<Mutex<(String, Vec<u8>)>>;

/// Serves the current response at `/metrics` and records each request's `Accept` header.
async fn serve(resp: Response, accepts: Arc<Mutex<Vec<String>>>) -> String {
    let app = axum::Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let (resp, accepts) = (resp.clone(), accepts.clone());
            async move {
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
                accepts.lock().push(accept.unwrap_or("").to_string());
                let (ctype, body) = resp.lock().clone();
                (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body)
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

/// What a [`Recording`] storage saw besides samples: start timestamps by series and exemplars.
#[derive(Debug, Default)]
struct Log {
    start_ts: Vec<(String, Timestamp)>,
    exemplars: Vec<(String, Exemplar)>,
}

/// `MemStorage` plus a log of what it does not keep.
#[derive(Clone, Default)]
struct Recording {
    store: MemStorage,
    log: Arc<Mutex<Log>>,
}

impl Appendable for Recording {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(RecordingAppender { inner: self.store.appender(), log: &self.log })
    }
}

struct RecordingAppender<'a> {
    inner: Box<dyn Appender + 'a>,
    log: &'a Mutex<Log>,
}

impl Appender for RecordingAppender<'_> {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        start_ts: Timestamp,
        t: Timestamp,
        value: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        self.log.lock().start_ts.push((labels.to_string(), start_ts));
        self.inner.append(series_ref, labels, start_ts, t, value, opts)
    }

    fn append_exemplars(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplars: &[Exemplar],
    ) -> Result<SeriesRef, AppendError> {
        let mut log = self.log.lock();
        log.exemplars
            .extend(exemplars.iter().map(|e| (labels.metric_name().to_string(), e.clone())));
        Ok(series_ref)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.inner.commit()
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        self.inner.rollback()
    }
}

fn scrape_loop(addr: &str, o: ScrapeOptions, store: &Recording) -> ScrapeLoop {
    ScrapeLoop::new(
        Labels::from_pairs([("instance", addr), ("job", "j")]),
        format!("http://{addr}/metrics"),
        Arc::new(o),
        http_client::Client::new(http_client::ClientSettings::default()),
        Arc::new(store.clone()),
        Default::default(),
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
}

/// Every sample of the series matching `matchers`, histograms included, as (labels, [(t, value)]).
fn values(store: &MemStorage, matchers: &[(&str, &str)]) -> Vec<(Labels, Vec<(i64, Value)>)> {
    let q = store.querier(0, i64::MAX).unwrap();
    let ms: Vec<model::Matcher> =
        matchers.iter().map(|(n, v)| model::Matcher::equal(*n, *v)).collect();
    let mut set = q.select(true, None, &ms);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut vs = Vec::new();
        loop {
            match c.next() {
                ValueKind::None => break,
                ValueKind::Float => {
                    let (t, v) = c.at();
                    vs.push((t, Value::Float(v)));
                }
                ValueKind::Histogram => {
                    let (t, h) = c.at_histogram();
                    vs.push((t, Value::Histogram(h)));
                }
                ValueKind::FloatHistogram => {
                    let (t, h) = c.at_float_histogram();
                    vs.push((t, Value::FloatHistogram(h)));
                }
            }
        }
        out.push((s.labels.clone(), vs));
    }
    out
}

/// The float values of the single series called `name`.
fn floats(store: &MemStorage, name: &str) -> Vec<f64> {
    let s = samples(store, &[("__name__", name)]);
    assert_eq!(s.len(), 1, "one series {name}: {s:?}");
    s[0].1.clone()
}

fn report(store: &MemStorage, name: &str) -> f64 {
    *floats(store, name).last().expect("a report sample")
}

fn lp(name: &str, value: &str) -> pb::LabelPair {
    pb::LabelPair { name: Some(name.into()), value: Some(value.into()) }
}

fn family(name: &str, t: pb::MetricType, metric: Vec<pb::Metric>) -> pb::MetricFamily {
    pb::MetricFamily {
        name: Some(name.into()),
        help: Some(format!("help of {name}")),
        r#type: Some(t as i32),
        metric,
        unit: None,
    }
}

fn encode(families: &[pb::MetricFamily]) -> Vec<u8> {
    let mut buf = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut buf).expect("a Vec grows as needed");
    }
    buf
}

fn span(offset: i32, length: u32) -> pb::BucketSpan {
    pb::BucketSpan { offset: Some(offset), length: Some(length) }
}

fn gauge(name: &str, v: f64, ts: Option<i64>) -> pb::MetricFamily {
    let m = pb::Metric {
        gauge: Some(pb::Gauge { value: Some(v) }),
        timestamp_ms: ts,
        ..Default::default()
    };
    family(name, pb::MetricType::Gauge, vec![m])
}

/// An integer native histogram with a classic bucket and two exemplars, one without a timestamp.
fn native_histogram() -> pb::MetricFamily {
    let exemplar = |id: &str, v: f64, ts: Option<pb::Timestamp>| pb::Exemplar {
        label: vec![lp("trace_id", id)],
        value: Some(v),
        timestamp: ts,
    };
    let h = pb::Histogram {
        sample_count: Some(7),
        sample_sum: Some(10.5),
        schema: Some(0),
        zero_threshold: Some(0.001),
        zero_count: Some(1),
        positive_span: vec![span(0, 2), span(1, 1)],
        positive_delta: vec![1, 2, -1],
        bucket: vec![pb::Bucket {
            cumulative_count: Some(4),
            upper_bound: Some(2.0),
            ..Default::default()
        }],
        exemplars: vec![
            exemplar("late", 3.0, Some(pb::Timestamp { seconds: 2, nanos: 0 })),
            exemplar("none", 0.5, None),
            exemplar("early", 0.7, Some(pb::Timestamp { seconds: 1, nanos: 500_000_000 })),
        ],
        ..Default::default()
    };
    let m = pb::Metric { histogram: Some(h), ..Default::default() };
    family("latency_seconds", pb::MetricType::Histogram, vec![m])
}

fn native_expected() -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        count: 7,
        sum: 10.5,
        positive_spans: vec![
            BucketSpan { offset: 0, length: 2 },
            BucketSpan { offset: 1, length: 1 },
        ],
        positive_buckets: vec![1, 2, -1],
        ..Histogram::default()
    }
}

/// A float gauge histogram.
fn float_gauge_histogram() -> pb::MetricFamily {
    let h = pb::Histogram {
        sample_count_float: Some(2.5),
        sample_sum: Some(4.0),
        schema: Some(1),
        zero_threshold: Some(0.01),
        positive_span: vec![span(1, 1)],
        positive_count: vec![2.5],
        ..Default::default()
    };
    let m = pb::Metric { histogram: Some(h), label: vec![lp("q", "a")], ..Default::default() };
    family("queue_fill", pb::MetricType::GaugeHistogram, vec![m])
}

/// One family of every kind.
fn all_families() -> Vec<pb::MetricFamily> {
    let counter = pb::Metric {
        label: vec![lp("code", "200")],
        counter: Some(pb::Counter {
            value: Some(5.0),
            exemplar: Some(pb::Exemplar {
                label: vec![lp("trace_id", "abc")],
                value: Some(0.25),
                timestamp: None,
            }),
            created_timestamp: Some(pb::Timestamp { seconds: 100, nanos: 0 }),
        }),
        ..Default::default()
    };
    let mut temp = gauge("temp_celsius", 21.5, None);
    temp.unit = Some("celsius".into());
    let untyped = pb::Metric {
        untyped: Some(pb::Untyped { value: Some(1.0) }),
        // 0 means "no timestamp" in the protobuf format.
        timestamp_ms: Some(0),
        ..Default::default()
    };
    let summary = pb::Metric {
        summary: Some(pb::Summary {
            sample_count: Some(3),
            sample_sum: Some(1.5),
            quantile: vec![pb::Quantile { quantile: Some(0.5), value: Some(0.4) }],
            created_timestamp: Some(pb::Timestamp { seconds: 50, nanos: 0 }),
        }),
        ..Default::default()
    };
    let classic = pb::Metric {
        histogram: Some(pb::Histogram {
            sample_count: Some(3),
            sample_sum: Some(700.0),
            bucket: vec![
                pb::Bucket {
                    cumulative_count: Some(1),
                    upper_bound: Some(100.0),
                    ..Default::default()
                },
                pb::Bucket {
                    cumulative_count: Some(2),
                    upper_bound: Some(1000.0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        family("requests_total", pb::MetricType::Counter, vec![counter]),
        temp,
        family("u", pb::MetricType::Untyped, vec![untyped]),
        gauge("timestamped", 9.0, Some(1000)),
        family("rpc_seconds", pb::MetricType::Summary, vec![summary]),
        family("size_bytes", pb::MetricType::Histogram, vec![classic]),
        native_histogram(),
        float_gauge_histogram(),
        family("empty_family", pb::MetricType::Gauge, vec![]),
    ]
}

const PROTO_FIRST_ACCEPT: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

#[tokio::test]
async fn protobuf_scrape_negotiates_and_ingests_every_type() {
    let resp = Arc::new(Mutex::new((
        exposition::PROTOBUF_CONTENT_TYPE.to_string(),
        encode(&all_families()),
    )));
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(resp.clone(), accepts.clone()).await;
    let rec = Recording::default();
    let store = &rec.store;
    let mut sl = scrape_loop(&addr, opts("    scrape_native_histograms: true\n"), &rec);
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "");
    assert_eq!(accepts.lock()[0], PROTO_FIRST_ACCEPT);

    // Float series, with target labels.
    let c = samples(store, &[("__name__", "requests_total")]);
    assert_eq!(
        c[0].0.to_string(),
        format!(r#"{{__name__="requests_total", code="200", instance="{addr}", job="j"}}"#)
    );
    assert_eq!(c[0].1, [5.0]);
    assert_eq!(floats(store, "temp_celsius"), [21.5]);
    assert_eq!(floats(store, "rpc_seconds_count"), [3.0]);
    assert_eq!(floats(store, "rpc_seconds_sum"), [1.5]);
    assert_eq!(samples(store, &[("__name__", "rpc_seconds"), ("quantile", "0.5")])[0].1, [0.4]);
    assert_eq!(floats(store, "size_bytes_count"), [3.0]);
    assert_eq!(floats(store, "size_bytes_sum"), [700.0]);
    let buckets: Vec<(String, Vec<f64>)> = samples(store, &[("__name__", "size_bytes_bucket")])
        .into_iter()
        .map(|(l, v)| (l.get("le").to_string(), v))
        .collect();
    assert_eq!(
        buckets,
        [
            ("+Inf".to_string(), vec![3.0]),
            ("100.0".into(), vec![1.0]),
            ("1000.0".into(), vec![2.0])
        ]
    );
    // A metric timestamp of 0 is no timestamp: the sample is at the scrape time like the others.
    let now = values(store, &[("__name__", "up")])[0].1[0].0;
    assert_eq!(values(store, &[("__name__", "u")])[0].1[0].0, now);
    assert_eq!(values(store, &[("__name__", "timestamped")])[0].1[0].0, 1000, "honor_timestamps");
    // No `_created` series; the created timestamp goes to the storage with each series of the metric.
    assert!(samples(store, &[("__name__", "requests_created")]).is_empty());
    let start_of = |name: &str| {
        let log = rec.log.lock();
        log.start_ts.iter().find(|(l, _)| l.contains(&format!("\"{name}\""))).map(|(_, st)| *st)
    };
    assert_eq!(start_of("requests_total"), Some(100_000));
    assert_eq!(start_of("rpc_seconds_count"), Some(50_000));
    assert_eq!(start_of("temp_celsius"), Some(0));

    // Native histograms, integer and float; the classic buckets of a native histogram are not kept by default.
    let h = values(store, &[("__name__", "latency_seconds")]);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, [(now, Value::Histogram(Arc::new(native_expected())))]);
    assert!(samples(store, &[("__name__", "latency_seconds_bucket")]).is_empty());
    let fh = values(store, &[("__name__", "queue_fill")]);
    let want = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 1,
        zero_threshold: 0.01,
        count: 2.5,
        sum: 4.0,
        positive_spans: vec![BucketSpan { offset: 1, length: 1 }],
        positive_buckets: vec![2.5],
        ..FloatHistogram::default()
    };
    assert_eq!(fh[0].1, [(now, Value::FloatHistogram(Arc::new(want)))]);

    // Exemplars: the counter's takes the sample time; the histogram's without a timestamp is dropped and the
    // others come oldest first.
    let ex: Vec<(String, Option<i64>, String)> = rec
        .log
        .lock()
        .exemplars
        .iter()
        .map(|(n, e)| (n.clone(), e.ts, e.labels.get("trace_id").to_string()))
        .collect();
    assert_eq!(
        ex,
        [
            ("requests_total".to_string(), Some(now), "abc".to_string()),
            ("latency_seconds".into(), Some(1500), "early".into()),
            ("latency_seconds".into(), Some(2000), "late".into()),
        ]
    );

    // Metadata, in the cache the text path fills; an empty family has none.
    {
        let st = sl.state.lock();
        let md = &st.metadata;
        assert_eq!(md["requests_total"].metric_type, MetricType::Counter);
        assert_eq!(md["requests_total"].help, "help of requests_total");
        assert_eq!(md["temp_celsius"].unit, "celsius");
        assert_eq!(md["u"].metric_type, MetricType::Unknown);
        assert_eq!(md["rpc_seconds"].metric_type, MetricType::Summary);
        assert_eq!(md["queue_fill"].metric_type, MetricType::GaugeHistogram);
        assert!(!md.contains_key("empty_family"));
        assert_eq!(md.len(), 8);
    }

    // Counter, gauge, untyped, timestamped, 3 summary series, 5 classic histogram series (with the added
    // +Inf bucket) and one sample per native histogram.
    assert_eq!(report(store, "scrape_samples_scraped"), 14.0);
    assert_eq!(report(store, "scrape_samples_post_metric_relabeling"), 14.0);
    assert_eq!(report(store, "scrape_series_added"), 14.0);

    // The gauge, the timestamped gauge, the untyped metric and both native histograms disappear.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let keep = ["requests_total", "rpc_seconds", "size_bytes"];
    let fams: Vec<_> =
        all_families().into_iter().filter(|f| keep.contains(&f.name.as_deref().unwrap())).collect();
    resp.lock().1 = encode(&fams);
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "");
    assert_eq!(floats(store, "requests_total"), [5.0, 5.0]);
    for gone in ["temp_celsius", "u"] {
        let v = floats(store, gone);
        assert_eq!(v.len(), 2, "{gone}");
        assert!(is_stale_nan(v[1]), "{gone} is marked stale");
    }
    assert_eq!(
        floats(store, "timestamped"),
        [9.0],
        "a series with its own timestamp gets no marker"
    );
    let h = values(store, &[("__name__", "latency_seconds")]);
    assert!(
        matches!(&h[0].1[1].1, Value::Histogram(h) if is_stale_nan(h.sum)),
        "a histogram series gets a histogram staleness marker: {h:?}"
    );
    let fh = values(store, &[("__name__", "queue_fill")]);
    assert!(matches!(&fh[0].1[1].1, Value::FloatHistogram(h) if is_stale_nan(h.sum)));
    assert_eq!(report(store, "scrape_samples_scraped"), 9.0);
    assert_eq!(report(store, "scrape_series_added"), 0.0);
    assert!(!sl.state.lock().metadata.contains_key("temp_celsius"));
}

#[tokio::test]
async fn native_histograms_off_classic_kept_and_bucket_limits() {
    let body = encode(&[native_histogram()]);
    let resp = Arc::new(Mutex::new((exposition::PROTOBUF_CONTENT_TYPE.to_string(), body)));
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(resp.clone(), accepts.clone()).await;
    let classic = [
        ("latency_seconds_count", 7.0),
        ("latency_seconds_sum", 10.5),
        ("latency_seconds_bucket", 4.0),
        ("latency_seconds_bucket", 7.0),
    ];
    let classic_rows = |store: &MemStorage| {
        let mut rows: Vec<(String, f64)> = samples(store, &[("job", "j")])
            .into_iter()
            .filter(|(l, _)| l.metric_name().starts_with("latency_seconds_"))
            .map(|(l, v)| (l.metric_name().to_string(), v[0]))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        rows
    };
    let mut want: Vec<(String, f64)> = classic.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));

    // Protobuf requested explicitly without native histograms: read as a classic histogram.
    let rec = Recording::default();
    let mut sl = scrape_loop(&addr, opts("    scrape_protocols: [PrometheusProto]\n"), &rec);
    sl.scrape_and_report().await;
    assert_eq!(
        accepts.lock()[0],
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5"
    );
    assert!(values(&rec.store, &[("__name__", "latency_seconds")]).is_empty());
    assert_eq!(classic_rows(&rec.store), want);
    assert_eq!(report(&rec.store, "scrape_samples_scraped"), 4.0);

    // Native and classic together.
    let rec = Recording::default();
    let o =
        opts("    scrape_native_histograms: true\n    always_scrape_classic_histograms: true\n");
    scrape_loop(&addr, o, &rec).scrape_and_report().await;
    assert_eq!(values(&rec.store, &[("__name__", "latency_seconds")]).len(), 1);
    assert_eq!(classic_rows(&rec.store), want);
    assert_eq!(
        report(&rec.store, "scrape_samples_scraped"),
        5.0,
        "the native histogram is one sample"
    );

    // A bucket limit of 2 takes two halvings of the resolution (schema -1 still has 3 buckets): at schema -2,
    // bucket 0 (ending at 1) stays apart and the others merge.
    let rec = Recording::default();
    let o = opts("    scrape_native_histograms: true\n    native_histogram_bucket_limit: 2\n");
    scrape_loop(&addr, o, &rec).scrape_and_report().await;
    let h = values(&rec.store, &[("__name__", "latency_seconds")]);
    let Value::Histogram(got) = &h[0].1[0].1 else { panic!("integer histogram expected: {h:?}") };
    assert_eq!((got.schema, got.count, got.zero_count), (-2, 7, 1));
    assert_eq!(got.positive_spans, [BucketSpan { offset: 0, length: 2 }]);
    assert_eq!(got.positive_buckets, [1, 4]);

    // A limit no resolution meets fails the scrape; nothing of it is kept.
    let rec = Recording::default();
    let mut sl = scrape_loop(
        &addr,
        opts("    scrape_native_histograms: true\n    native_histogram_bucket_limit: 1\n"),
        &rec,
    );
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "histogram bucket limit exceeded");
    assert_eq!(crate::ScrapeStats::get(&sl.stats.exceeded_bucket_limit), 1);
    assert!(values(&rec.store, &[("__name__", "latency_seconds")]).is_empty());
    assert_eq!(report(&rec.store, "up"), 0.0);
}

#[tokio::test]
async fn sample_limit_relabeling_label_limits_and_honor_timestamps() {
    let families = vec![
        gauge("a", 1.0, Some(5000)),
        gauge("b", 2.0, None),
        gauge("drop_me", 3.0, None),
        native_histogram(),
    ];
    let resp =
        Arc::new(Mutex::new((exposition::PROTOBUF_CONTENT_TYPE.to_string(), encode(&families))));
    let addr = serve(resp.clone(), Arc::new(Mutex::new(Vec::new()))).await;

    // Over the sample limit the scrape fails, but every sample is still counted as in Prometheus.
    let rec = Recording::default();
    let o = opts("    scrape_native_histograms: true\n    sample_limit: 2\n");
    let mut sl = scrape_loop(&addr, o, &rec);
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "sample limit exceeded");
    assert_eq!(crate::ScrapeStats::get(&sl.stats.exceeded_sample_limit), 1);
    assert!(samples(&rec.store, &[("__name__", "a")]).is_empty(), "nothing is committed");
    assert_eq!(report(&rec.store, "scrape_samples_scraped"), 4.0);
    assert_eq!(report(&rec.store, "scrape_samples_post_metric_relabeling"), 4.0);
    assert_eq!(report(&rec.store, "scrape_series_added"), 2.0);

    // Relabeling drops a series before the limit counts it; the native histogram counts as one sample.
    let relabel = "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_.*\n        action: drop\n";
    let rec = Recording::default();
    let o = opts(&format!("    scrape_native_histograms: true\n    sample_limit: 3\n{relabel}"));
    let mut sl = scrape_loop(&addr, o, &rec);
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "");
    assert!(samples(&rec.store, &[("__name__", "drop_me")]).is_empty());
    assert_eq!(report(&rec.store, "scrape_samples_scraped"), 4.0);
    assert_eq!(report(&rec.store, "scrape_samples_post_metric_relabeling"), 3.0);
    assert_eq!(values(&rec.store, &[("__name__", "a")])[0].1[0].0, 5000);

    // Without honor_timestamps the exposed timestamp is ignored.
    let rec = Recording::default();
    scrape_loop(&addr, opts("    honor_timestamps: false\n"), &rec).scrape_and_report().await;
    let up_t = values(&rec.store, &[("__name__", "up")])[0].1[0].0;
    assert_eq!(values(&rec.store, &[("__name__", "a")])[0].1[0].0, up_t);

    // Label limits apply to protobuf series too.
    let rec = Recording::default();
    let mut sl = scrape_loop(&addr, opts("    label_limit: 2\n"), &rec);
    sl.scrape_and_report().await;
    assert_eq!(
        sl.state.lock().last_error,
        "label_limit exceeded (metric: a, number of labels: 3, limit: 2)"
    );
}

#[tokio::test]
async fn text_response_is_parsed_when_protobuf_was_requested() {
    let resp = Arc::new(Mutex::new((
        "text/plain; version=0.0.4".to_string(),
        b"# HELP m help of m\n# TYPE m gauge\nm{x=\"1\"} 3\n".to_vec(),
    )));
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(resp.clone(), accepts.clone()).await;
    let rec = Recording::default();
    let mut sl = scrape_loop(&addr, opts("    scrape_native_histograms: true\n"), &rec);
    sl.scrape_and_report().await;
    assert_eq!(accepts.lock()[0], PROTO_FIRST_ACCEPT);
    assert_eq!(sl.state.lock().last_error, "");
    assert_eq!(samples(&rec.store, &[("__name__", "m"), ("x", "1")])[0].1, [3.0]);
    assert_eq!(sl.state.lock().metadata["m"].help, "help of m");

    // The target switches to protobuf: the text series that is gone goes stale.
    tokio::time::sleep(Duration::from_millis(5)).await;
    *resp.lock() =
        (exposition::PROTOBUF_CONTENT_TYPE.to_string(), encode(&[gauge("n", 1.0, None)]));
    sl.scrape_and_report().await;
    assert_eq!(sl.state.lock().last_error, "");
    assert_eq!(floats(&rec.store, "n"), [1.0]);
    assert!(is_stale_nan(floats(&rec.store, "m")[1]));

    // A body that is not protobuf under the protobuf Content-Type fails the scrape with the parser's error.
    *resp.lock() = (exposition::PROTOBUF_CONTENT_TYPE.to_string(), b"m 1\n".to_vec());
    sl.scrape_and_report().await;
    assert!(
        sl.state.lock().last_error.starts_with("protobufparse"),
        "{}",
        sl.state.lock().last_error
    );
}
