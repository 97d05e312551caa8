//! Tests of the protobuf parser: families built with `prost`, encoded delimited, parsed and compared as rows of
//! `labels value` text; plus malformed bodies.

use prost::Message;

use super::messages as pb;
use super::*;

fn lp(name: &str, value: &str) -> pb::LabelPair {
    pb::LabelPair { name: Some(name.into()), value: Some(value.into()) }
}

fn ts(seconds: i64, nanos: i32) -> pb::Timestamp {
    pb::Timestamp { seconds, nanos }
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

/// The float series of every metric as `labels value`, in order.
fn rows(families: &[ProtoFamily]) -> Vec<String> {
    families
        .iter()
        .flat_map(|f| &f.metrics)
        .flat_map(|m| &m.samples)
        .map(|s| format!("{} {}", s.labels, s.value))
        .collect()
}

fn parse_one(f: pb::MetricFamily) -> ProtoFamily {
    let mut out = parse_protobuf(&encode(&[f])).expect("valid body");
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn span(offset: i32, length: u32) -> pb::BucketSpan {
    pb::BucketSpan { offset: Some(offset), length: Some(length) }
}

#[test]
fn counter_with_exemplar_and_created_timestamp() {
    let f = parse_one(family(
        "requests_total",
        pb::MetricType::Counter,
        vec![pb::Metric {
            label: vec![lp("path", "/"), lp("code", "200")],
            counter: Some(pb::Counter {
                value: Some(42.0),
                exemplar: Some(pb::Exemplar {
                    label: vec![lp("trace_id", "abc")],
                    value: Some(1.5),
                    timestamp: Some(ts(1_700_000_000, 123_456_789)),
                }),
                created_timestamp: Some(ts(1_600_000_000, 500_000_000)),
            }),
            timestamp_ms: Some(1234),
            ..Default::default()
        }],
    ));
    assert_eq!(f.name, "requests_total");
    assert_eq!(f.help, "help of requests_total");
    assert_eq!(f.metric_type, MetricType::Counter);
    let m = &f.metrics[0];
    assert_eq!(m.labels.to_string(), r#"{code="200", path="/"}"#);
    assert_eq!(m.timestamp_ms, Some(1234));
    assert_eq!(m.start_timestamp_ms, Some(1_600_000_000_500));
    assert_eq!(
        rows(std::slice::from_ref(&f)),
        [r#"{__name__="requests_total", code="200", path="/"} 42"#]
    );
    let ex = m.samples[0].exemplar.as_ref().expect("exemplar");
    assert_eq!(ex.labels.to_string(), r#"{trace_id="abc"}"#);
    assert_eq!((ex.value, ex.ts), (1.5, Some(1_700_000_000_123)));
    assert!(m.histogram.is_none());
}

#[test]
fn gauge_and_untyped_without_timestamp() {
    let gauge = family(
        "temperature",
        pb::MetricType::Gauge,
        vec![
            pb::Metric {
                gauge: Some(pb::Gauge { value: Some(-3.5) }),
                label: vec![lp("room", "a")],
                ..Default::default()
            },
            // A metric without its value field reads as 0, as with Go's nil-safe getters.
            pb::Metric { label: vec![lp("room", "b")], ..Default::default() },
        ],
    );
    let untyped = family(
        "thing",
        pb::MetricType::Untyped,
        vec![pb::Metric { untyped: Some(pb::Untyped { value: Some(7.0) }), ..Default::default() }],
    );
    let out = parse_protobuf(&encode(&[gauge, untyped])).expect("valid body");
    assert_eq!(out[0].metric_type, MetricType::Gauge);
    assert_eq!(out[1].metric_type, MetricType::Unknown);
    assert_eq!(out[0].metrics[0].timestamp_ms, None);
    assert_eq!(out[0].metrics[0].start_timestamp_ms, None);
    assert_eq!(
        rows(&out),
        [
            r#"{__name__="temperature", room="a"} -3.5"#,
            r#"{__name__="temperature", room="b"} 0"#,
            r#"{__name__="thing"} 7"#,
        ]
    );
}

#[test]
fn summary() {
    let f = parse_one(family(
        "rpc_seconds",
        pb::MetricType::Summary,
        vec![pb::Metric {
            label: vec![lp("svc", "x")],
            summary: Some(pb::Summary {
                sample_count: Some(10),
                sample_sum: Some(2.5),
                quantile: vec![
                    pb::Quantile { quantile: Some(0.5), value: Some(0.1) },
                    pb::Quantile { quantile: Some(1.0), value: Some(0.9) },
                ],
                created_timestamp: Some(ts(100, 0)),
            }),
            ..Default::default()
        }],
    ));
    assert_eq!(f.metrics[0].start_timestamp_ms, Some(100_000));
    assert_eq!(
        rows(&[f]),
        [
            r#"{__name__="rpc_seconds_count", svc="x"} 10"#,
            r#"{__name__="rpc_seconds_sum", svc="x"} 2.5"#,
            r#"{__name__="rpc_seconds", quantile="0.5", svc="x"} 0.1"#,
            r#"{__name__="rpc_seconds", quantile="1.0", svc="x"} 0.9"#,
        ]
    );
}

#[test]
fn classic_histogram_adds_inf_bucket() {
    let bucket = |ub: f64, count: u64| pb::Bucket {
        cumulative_count: Some(count),
        upper_bound: Some(ub),
        ..Default::default()
    };
    let mut b1 = bucket(1.0, 3);
    b1.exemplar =
        Some(pb::Exemplar { label: vec![lp("trace_id", "t1")], value: Some(0.7), timestamp: None });
    let f = parse_one(family(
        "latency_seconds",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count: Some(5),
                sample_sum: Some(12.0),
                bucket: vec![bucket(0.25, 1), b1, bucket(1e-5, 1)],
                created_timestamp: Some(ts(-1, 999_000_000)),
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    let m = &f.metrics[0];
    assert!(m.histogram.is_none());
    assert_eq!(m.start_timestamp_ms, Some(-1));
    assert_eq!(
        rows(std::slice::from_ref(&f)),
        [
            r#"{__name__="latency_seconds_count"} 5"#,
            r#"{__name__="latency_seconds_sum"} 12"#,
            r#"{__name__="latency_seconds_bucket", le="0.25"} 1"#,
            r#"{__name__="latency_seconds_bucket", le="1.0"} 3"#,
            r#"{__name__="latency_seconds_bucket", le="1e-05"} 1"#,
            r#"{__name__="latency_seconds_bucket", le="+Inf"} 5"#,
        ]
    );
    let ex = m.samples[3].exemplar.as_ref().expect("bucket exemplar");
    assert_eq!((ex.value, ex.ts), (0.7, None));
}

#[test]
fn classic_histogram_keeps_explicit_inf_and_float_counts() {
    let f = parse_one(family(
        "h",
        pb::MetricType::GaugeHistogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count: Some(1),
                sample_count_float: Some(2.5),
                sample_sum: Some(1.0),
                bucket: vec![pb::Bucket {
                    cumulative_count: Some(9),
                    cumulative_count_float: Some(2.5),
                    upper_bound: Some(f64::INFINITY),
                    exemplar: None,
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    assert_eq!(f.metric_type, MetricType::GaugeHistogram);
    assert_eq!(
        rows(&[f]),
        [
            r#"{__name__="h_count"} 2.5"#,
            r#"{__name__="h_sum"} 1"#,
            r#"{__name__="h_bucket", le="+Inf"} 2.5"#
        ]
    );
}

fn native_int() -> pb::Histogram {
    pb::Histogram {
        sample_count: Some(7),
        sample_sum: Some(-4.5),
        schema: Some(3),
        zero_threshold: Some(1e-128),
        zero_count: Some(1),
        positive_span: vec![span(-2, 2), span(1, 1)],
        positive_delta: vec![1, 1, -1],
        negative_span: vec![span(0, 1)],
        negative_delta: vec![2],
        exemplars: vec![pb::Exemplar {
            label: vec![lp("trace_id", "n")],
            value: Some(0.3),
            timestamp: Some(ts(5, 0)),
        }],
        ..Default::default()
    }
}

#[test]
fn native_integer_histogram() {
    let f = parse_one(family(
        "native",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            label: vec![lp("a", "b")],
            histogram: Some(native_int()),
            timestamp_ms: Some(99),
            ..Default::default()
        }],
    ));
    let m = &f.metrics[0];
    assert!(m.samples.is_empty(), "native histograms yield no float series by default");
    let h = m.histogram.as_ref().expect("native histogram");
    assert_eq!(h.labels.to_string(), r#"{__name__="native", a="b"}"#);
    assert_eq!(h.exemplars.len(), 1);
    assert_eq!(h.exemplars[0].ts, Some(5000));
    let want = Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: 1,
        count: 7,
        sum: -4.5,
        positive_spans: vec![
            BucketSpan { offset: -2, length: 2 },
            BucketSpan { offset: 1, length: 1 },
        ],
        negative_spans: vec![BucketSpan { offset: 0, length: 1 }],
        positive_buckets: vec![1, 1, -1],
        negative_buckets: vec![2],
        custom_values: vec![],
    };
    assert_eq!(h.value, NativeHistogram::Integer(want));
}

#[test]
fn native_histogram_with_classic_buckets_kept_on_request() {
    let mut h = native_int();
    h.bucket = vec![pb::Bucket {
        cumulative_count: Some(4),
        upper_bound: Some(0.5),
        ..Default::default()
    }];
    let body = encode(&[family(
        "both",
        pb::MetricType::Histogram,
        vec![pb::Metric { histogram: Some(h), ..Default::default() }],
    )]);
    let plain = parse_protobuf(&body).expect("valid body");
    assert!(plain[0].metrics[0].samples.is_empty());
    let opts = ProtoOptions { keep_classic_histograms: true, ..Default::default() };
    let both = parse_protobuf_with(&body, opts).expect("valid body");
    assert!(both[0].metrics[0].histogram.is_some());
    assert_eq!(
        rows(&both),
        [
            r#"{__name__="both_count"} 7"#,
            r#"{__name__="both_sum"} -4.5"#,
            r#"{__name__="both_bucket", le="0.5"} 4"#,
            r#"{__name__="both_bucket", le="+Inf"} 7"#,
        ]
    );
}

#[test]
fn native_float_gauge_histogram() {
    let f = parse_one(family(
        "fh",
        pb::MetricType::GaugeHistogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count_float: Some(6.5),
                sample_sum: Some(3.0),
                schema: Some(-1),
                zero_threshold: Some(0.001),
                zero_count_float: Some(0.5),
                positive_span: vec![span(0, 2)],
                positive_count: vec![2.0, 4.0],
                bucket: vec![pb::Bucket {
                    exemplar: Some(pb::Exemplar {
                        label: vec![lp("id", "1")],
                        value: Some(0.5),
                        timestamp: Some(ts(1, 0)),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    let h = f.metrics[0].histogram.as_ref().expect("native histogram");
    // Without a histogram-level exemplar list, the bucket exemplars are used.
    assert_eq!(h.exemplars.len(), 1);
    let want = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: -1,
        zero_threshold: 0.001,
        zero_count: 0.5,
        count: 6.5,
        sum: 3.0,
        positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
        positive_buckets: vec![2.0, 4.0],
        ..Default::default()
    };
    assert_eq!(h.value, NativeHistogram::Float(want));
}

#[test]
fn empty_native_histogram_is_signalled_by_an_empty_span() {
    let f = parse_one(family(
        "empty",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                schema: Some(0),
                positive_span: vec![span(0, 0)],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    assert!(f.metrics[0].samples.is_empty());
    assert!(matches!(
        f.metrics[0].histogram.as_ref().map(|h| &h.value),
        Some(NativeHistogram::Integer(h)) if h.count == 0
    ));
}

#[test]
fn native_histograms_read_as_classic_when_ignored() {
    let mut h = native_int();
    h.bucket = vec![pb::Bucket {
        cumulative_count: Some(4),
        upper_bound: Some(0.5),
        ..Default::default()
    }];
    let body = encode(&[family(
        "h",
        pb::MetricType::Histogram,
        vec![pb::Metric { histogram: Some(h), ..Default::default() }],
    )]);
    let opts = ProtoOptions { ignore_native_histograms: true, keep_classic_histograms: true };
    let f = parse_protobuf_with(&body, opts).expect("valid body");
    assert!(f[0].metrics[0].histogram.is_none());
    assert_eq!(
        rows(&f),
        [
            r#"{__name__="h_count"} 7"#,
            r#"{__name__="h_sum"} -4.5"#,
            r#"{__name__="h_bucket", le="0.5"} 4"#,
            r#"{__name__="h_bucket", le="+Inf"} 7"#,
        ]
    );
}

#[test]
fn native_histogram_without_classic_buckets_has_no_classic_series() {
    let body = encode(&[family(
        "h",
        pb::MetricType::Histogram,
        vec![pb::Metric { histogram: Some(native_int()), ..Default::default() }],
    )]);
    let opts = ProtoOptions { keep_classic_histograms: true, ..Default::default() };
    let f = parse_protobuf_with(&body, opts).expect("valid body");
    assert!(f[0].metrics[0].histogram.is_some());
    assert!(rows(&f).is_empty(), "Prometheus redoes the classic form only when there are buckets");
}

#[test]
fn native_histograms_are_compacted() {
    let f = parse_one(family(
        "h",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count: Some(5),
                schema: Some(0),
                zero_threshold: Some(0.001),
                // Absolute counts 0, 2, 0, 0, 3 at indexes 1..=5, then an empty span.
                positive_span: vec![span(1, 3), span(0, 2), span(4, 0)],
                positive_delta: vec![0, 2, -2, 0, 3],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    let Some(NativeHistogram::Integer(h)) = f.metrics[0].histogram.as_ref().map(|h| &h.value)
    else {
        panic!("integer histogram expected");
    };
    assert_eq!(
        h.positive_spans,
        [BucketSpan { offset: 2, length: 1 }, BucketSpan { offset: 2, length: 1 }]
    );
    assert_eq!(h.positive_buckets, [2, 1]);

    let f = parse_one(family(
        "fh",
        pb::MetricType::Histogram,
        vec![pb::Metric {
            histogram: Some(pb::Histogram {
                sample_count_float: Some(1.5),
                schema: Some(0),
                positive_span: vec![span(0, 0), span(-1, 2), span(0, 1)],
                positive_count: vec![0.0, 1.0, 0.5],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    let Some(NativeHistogram::Float(h)) = f.metrics[0].histogram.as_ref().map(|h| &h.value) else {
        panic!("float histogram expected");
    };
    assert_eq!(h.positive_spans, [BucketSpan { offset: 0, length: 2 }]);
    assert_eq!(h.positive_buckets, [1.0, 0.5]);
}

#[test]
fn native_histogram_spans_must_match_buckets() {
    let mut h = native_int();
    h.positive_delta.pop();
    let body = encode(&[family(
        "bad",
        pb::MetricType::Histogram,
        vec![pb::Metric { histogram: Some(h), ..Default::default() }],
    )]);
    assert_eq!(
        parse_protobuf(&body).map_err(|e| e.to_string()),
        Err(r#"histogram "bad": positive side: spans require 3 buckets, have 2"#.to_string())
    );
    // Read as classic, the same histogram is fine.
    let opts = ProtoOptions { ignore_native_histograms: true, ..Default::default() };
    assert!(parse_protobuf_with(&body, opts).is_ok());
}

#[test]
fn metric_labels_named_like_derived_labels_are_overridden() {
    let f = parse_one(family(
        "s",
        pb::MetricType::Summary,
        vec![pb::Metric {
            label: vec![lp("__name__", "other"), lp("quantile", "x")],
            summary: Some(pb::Summary {
                quantile: vec![pb::Quantile { quantile: Some(0.9), value: Some(1.0) }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    ));
    assert_eq!(rows(&[f])[2], r#"{__name__="s", quantile="0.9"} 1"#);
}

#[test]
fn empty_body_has_no_families() {
    assert_eq!(parse_protobuf(b""), Ok(vec![]));
}

#[test]
fn truncated_input() {
    let body = encode(&[family("c_total", pb::MetricType::Counter, vec![pb::Metric::default()])]);
    for cut in 1..body.len() {
        let err = parse_protobuf(&body[..cut]).expect_err("truncated body");
        assert!(matches!(err, ParseError::ShortBuffer { .. }), "cut {cut}: {err}");
    }
    let err = parse_protobuf(&body[..body.len() - 1]).expect_err("truncated body");
    assert_eq!(
        err.to_string(),
        format!(
            "protobufparse: insufficient length of buffer, expected at least {} bytes, got {} bytes",
            body.len(),
            body.len() - 1
        )
    );
    // A huge length prefix is rejected before anything is allocated.
    let err = parse_protobuf(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0a])
        .expect_err("oversized prefix");
    assert!(matches!(err, ParseError::ShortBuffer { got: 11, .. }), "{err}");
}

#[test]
fn garbage_input() {
    // A varint that never ends.
    assert_eq!(parse_protobuf(&[0x80, 0x80]), Err(ParseError::InvalidVarint));
    assert_eq!(parse_protobuf(&[0xff; 11]), Err(ParseError::InvalidVarint));
    // Ten bytes whose last overflows 64 bits.
    let mut overflow = vec![0xff; 9];
    overflow.push(0x02);
    assert_eq!(parse_protobuf(&overflow), Err(ParseError::InvalidVarint));
    // A well-framed message that is not a MetricFamily: field 1 (string) with a length past the message end.
    let err = parse_protobuf(&[0x03, 0x0a, 0x05, b'a']).expect_err("bad message");
    assert!(matches!(err, ParseError::ProtobufDecode(_)), "{err}");
    // Text is not protobuf.
    let err = parse_protobuf(b"metric_name 1\n").expect_err("text body");
    assert!(!err.to_string().is_empty());
    // Invalid UTF-8 in a string field.
    let err = parse_protobuf(&[0x03, 0x0a, 0x01, 0xff]).expect_err("bad UTF-8");
    assert!(matches!(err, ParseError::ProtobufDecode(_)), "{err}");
}

#[test]
fn invalid_families() {
    let mut f = family("x", pb::MetricType::Gauge, vec![]);
    f.r#type = Some(17);
    assert_eq!(
        parse_protobuf(&encode(&[f])).map_err(|e| e.to_string()),
        Err(r#"unknown metric type for metric "x": 17"#.to_string())
    );
    let f = pb::MetricFamily::default();
    assert_eq!(parse_protobuf(&encode(&[f])), Err(ParseError::EmptyFamilyName));

    let with_unit = |name: &str, unit: &str, t: pb::MetricType| {
        let mut f = family(name, t, vec![]);
        f.unit = Some(unit.into());
        parse_protobuf(&encode(&[f])).map(|mut v| v.remove(0).unit).map_err(|e| e.to_string())
    };
    assert_eq!(with_unit("a_seconds", "seconds", pb::MetricType::Gauge), Ok("seconds".into()));
    assert_eq!(
        with_unit("a_seconds_total", "seconds", pb::MetricType::Counter),
        Ok("seconds".into())
    );
    assert_eq!(
        with_unit("a_seconds_total", "seconds", pb::MetricType::Gauge),
        Err(r#"unit "seconds" not a suffix of metric "a_seconds_total""#.into())
    );
    assert_eq!(
        with_unit("aseconds_total", "seconds", pb::MetricType::Counter),
        Err(r#"unit "seconds" not a suffix of counter "aseconds_total""#.into())
    );
}

#[test]
fn label_float_formatting() {
    let cases =
        [(1.0, "1.0"), (0.25, "0.25"), (1e21, "1e+21"), (f64::INFINITY, "+Inf"), (-0.0, "-0.0")];
    for (v, want) in cases {
        assert_eq!(format_label_float(v), want, "{v}");
    }
    assert_eq!(format_label_float(f64::NAN), "NaN");
}

#[test]
fn timestamps_round_down_and_saturate() {
    assert_eq!(timestamp_ms(&ts(1, 1_999_999)), 1001);
    assert_eq!(timestamp_ms(&ts(0, -1)), -1);
    assert_eq!(timestamp_ms(&ts(i64::MAX, 0)), i64::MAX);
}

#[test]
fn never_panics_on_mutated_bodies() {
    let body = encode(&[
        family(
            "n",
            pb::MetricType::Histogram,
            vec![pb::Metric { histogram: Some(native_int()), ..Default::default() }],
        ),
        family(
            "c_total",
            pb::MetricType::Counter,
            vec![pb::Metric {
                counter: Some(pb::Counter { value: Some(1.0), ..Default::default() }),
                label: vec![lp("a", "b")],
                timestamp_ms: Some(-5),
                ..Default::default()
            }],
        ),
    ]);
    assert_eq!(parse_protobuf(&body).map(|f| f.len()), Ok(2));
    let mut seed = 0x9e37_79b9_u64;
    for _ in 0..5000 {
        let mut buf = body.clone();
        for _ in 0..1 + (seed >> 60) {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (seed >> 33) as usize % buf.len();
            buf[i] = (seed >> 17) as u8;
        }
        let cut = (seed >> 40) as usize % (buf.len() + 1);
        let keep = ProtoOptions { keep_classic_histograms: true, ..Default::default() };
        let ignore = ProtoOptions { ignore_native_histograms: true, ..Default::default() };
        for opts in [ProtoOptions::default(), keep, ignore] {
            let _ = parse_protobuf_with(&buf, opts);
            let _ = parse_protobuf_with(&buf[..cut], opts);
        }
    }
}
