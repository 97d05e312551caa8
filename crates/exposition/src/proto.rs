//! The Prometheus protobuf exposition format: a body is a stream of `io.prometheus.client.MetricFamily`
//! messages, each preceded by its length as a base-128 varint ([`PROTOBUF_CONTENT_TYPE`]).
//!
//! Unlike the text parsers this one is not a pull parser over the scrape buffer: protobuf strings are decoded into
//! owned values anyway, so [`parse_protobuf`] decodes the whole body into [`ProtoFamily`] values. Each metric is
//! expanded into the float series Prometheus derives from it (`_count`, `_sum`, `quantile`/`le` series for
//! summaries and classic histograms, a `+Inf` bucket when it is missing) and, for native histograms, a
//! [`model::Histogram`] or [`model::FloatHistogram`].
//!
//! **Architecture Invariant:** never panics on any input. A length prefix longer than the rest of the body is an
//! error before anything is allocated for the message, and all other input is checked by `prost`'s decoder.

pub mod messages;

use model::{
    BUCKET_LABEL, BucketSpan, CounterResetHint, Exemplar, FloatHistogram, Histogram, Labels,
    LabelsBuilder, METRIC_NAME_LABEL, MetricType, QUANTILE_LABEL,
};
use prost::Message;

use crate::ParseError;
use crate::format_float;

/// The Content-Type targets send with the delimited protobuf exposition format (client_golang's spelling; a scrape
/// recognises the format by the media type alone, whatever the parameters).
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Options for [`parse_protobuf_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtoOptions {
    /// Also expand the classic buckets of histograms that are native and have classic buckets (Prometheus's
    /// `always_scrape_classic_histograms`). Without it, a native histogram yields no float series.
    pub keep_classic_histograms: bool,
    /// Treat every histogram as classic: no [`ProtoHistogram`] is produced and native histograms yield their
    /// `_count`, `_sum` and bucket series instead (a scrape without `scrape_native_histograms`).
    pub ignore_native_histograms: bool,
}

/// One decoded metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoFamily {
    /// Family name.
    pub name: String,
    /// Help text (empty when absent).
    pub help: String,
    /// The type; `UNTYPED` maps to [`MetricType::Unknown`].
    pub metric_type: MetricType,
    /// Unit (empty when absent).
    pub unit: String,
    /// The family's metrics, in exposition order.
    pub metrics: Vec<ProtoMetric>,
}

/// One metric of a family and the series derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoMetric {
    /// The metric's own labels, without `__name__`.
    pub labels: Labels,
    /// The sample timestamp in milliseconds, when the exposition gave one.
    pub timestamp_ms: Option<i64>,
    /// The created timestamp of counters, summaries and histograms, in milliseconds.
    pub start_timestamp_ms: Option<i64>,
    /// Float series, in Prometheus's order: for summaries and classic histograms `_count`, `_sum`, then the
    /// quantiles or buckets.
    pub samples: Vec<ProtoSample>,
    /// The native histogram, when the metric is one.
    pub histogram: Option<ProtoHistogram>,
}

/// One float series of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoSample {
    /// Full series labels: the metric's labels, `__name__` and any `quantile` or `le` label.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// The exemplar of a counter or classic bucket, if any.
    pub exemplar: Option<Exemplar>,
}

/// A native histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoHistogram {
    /// Full series labels: the metric's labels and `__name__` (the family name).
    pub labels: Labels,
    /// The histogram.
    pub value: NativeHistogram,
    /// The histogram's exemplars: its own list, or the bucket exemplars when that list is empty. Exemplars without
    /// a timestamp are kept; dropping them is the ingester's decision.
    pub exemplars: Vec<Exemplar>,
}

/// A native histogram, with integer or float counts.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeHistogram {
    /// Integer counts, buckets delta-encoded.
    Integer(Histogram),
    /// Float counts, buckets absolute.
    Float(FloatHistogram),
}

/// Parses a delimited protobuf body with default options. See [`parse_protobuf_with`].
pub fn parse_protobuf(body: &[u8]) -> Result<Vec<ProtoFamily>, ParseError> {
    parse_protobuf_with(body, ProtoOptions::default())
}

/// Parses a delimited protobuf body: varint-prefixed `MetricFamily` messages until the body ends.
///
/// Fails on a malformed length prefix, a prefix longer than the rest of the body, a message `prost` cannot decode,
/// a family without a name, an unknown metric type, a unit that is not a suffix of the family name, or a native
/// histogram whose spans do not describe as many buckets as it has.
pub fn parse_protobuf_with(
    body: &[u8],
    opts: ProtoOptions,
) -> Result<Vec<ProtoFamily>, ParseError> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, prefix) = read_uvarint(rest).ok_or(ParseError::InvalidVarint)?;
        let available = rest.len() - prefix;
        let msg_len = match usize::try_from(len) {
            Ok(n) if n <= available => n,
            _ => {
                return Err(ParseError::ShortBuffer {
                    expected: len.saturating_add(prefix as u64),
                    got: rest.len(),
                });
            }
        };
        let msg = &rest[prefix..prefix + msg_len];
        rest = &rest[prefix + msg_len..];
        let mf = messages::MetricFamily::decode(msg)
            .map_err(|e| ParseError::ProtobufDecode(e.to_string()))?;
        out.push(convert_family(mf, opts)?);
    }
    Ok(out)
}

/// Decodes an unsigned varint at the start of `b`: the value and the number of bytes used. `None` when the varint
/// is truncated or longer than ten bytes or overflows 64 bits.
fn read_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        if i == 9 && c > 1 {
            return None;
        }
        v |= u64::from(c & 0x7f) << (7 * i);
        if c & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn convert_family(
    mf: messages::MetricFamily,
    opts: ProtoOptions,
) -> Result<ProtoFamily, ParseError> {
    let name = mf.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ParseError::EmptyFamilyName);
    }
    let raw_type = mf.r#type.unwrap_or(messages::MetricType::Counter as i32);
    let Ok(pt) = messages::MetricType::try_from(raw_type) else {
        return Err(ParseError::UnknownMetricType { name, value: raw_type });
    };
    let unit = mf.unit.unwrap_or_default();
    check_unit(&name, &unit, pt)?;
    let metric_type = match pt {
        messages::MetricType::Counter => MetricType::Counter,
        messages::MetricType::Gauge => MetricType::Gauge,
        messages::MetricType::Summary => MetricType::Summary,
        messages::MetricType::Untyped => MetricType::Unknown,
        messages::MetricType::Histogram => MetricType::Histogram,
        messages::MetricType::GaugeHistogram => MetricType::GaugeHistogram,
    };
    let mut b = LabelsBuilder::new();
    let metrics = mf
        .metric
        .into_iter()
        .map(|m| convert_metric(&name, pt, m, opts, &mut b))
        .collect::<Result<_, _>>()?;
    Ok(ProtoFamily { name, help: mf.help.unwrap_or_default(), metric_type, unit, metrics })
}

/// A non-empty unit must be the last `_`-separated part of the name, before `_total` for counters.
fn check_unit(name: &str, unit: &str, pt: messages::MetricType) -> Result<(), ParseError> {
    if unit.is_empty() {
        return Ok(());
    }
    let is_counter = pt == messages::MetricType::Counter;
    let base = match name.strip_suffix("_total") {
        Some(b) if is_counter => b,
        _ => name,
    };
    let ok = base.strip_suffix(unit).is_some_and(|head| head.ends_with('_'));
    if ok {
        Ok(())
    } else {
        Err(ParseError::UnitNotSuffix {
            unit: unit.to_string(),
            kind: if is_counter && base.len() != name.len() { "counter" } else { "metric" },
            name: name.to_string(),
        })
    }
}

/// Converts one metric; `b` is scratch space for label sets.
fn convert_metric(
    name: &str,
    pt: messages::MetricType,
    m: messages::Metric,
    opts: ProtoOptions,
    b: &mut LabelsBuilder,
) -> Result<ProtoMetric, ParseError> {
    b.clear();
    for lp in &m.label {
        b.set(lp.name.as_deref().unwrap_or(""), lp.value.as_deref().unwrap_or(""));
    }
    let labels = b.labels();
    let mut out = ProtoMetric {
        labels,
        timestamp_ms: m.timestamp_ms,
        start_timestamp_ms: None,
        samples: Vec::new(),
        histogram: None,
    };
    // Each series is the metric's labels plus `__name__` and at most one extra label; later sets win, so a
    // metric label called `__name__`, `le` or `quantile` is overridden as in Prometheus.
    let mut series =
        |suffix: &str, extra: Option<(&str, f64)>, value: f64, ex: Option<Exemplar>| {
            b.reset(&out.labels);
            b.set(METRIC_NAME_LABEL, &format!("{name}{suffix}"));
            if let Some((ln, lv)) = extra {
                b.set(ln, &format_label_float(lv));
            }
            out.samples.push(ProtoSample { labels: b.labels(), value, exemplar: ex });
        };
    match pt {
        messages::MetricType::Counter => {
            let c = m.counter.unwrap_or_default();
            series("", None, c.value.unwrap_or(0.0), c.exemplar.as_ref().map(convert_exemplar));
            out.start_timestamp_ms = c.created_timestamp.as_ref().map(timestamp_ms);
        }
        messages::MetricType::Gauge => {
            series("", None, m.gauge.and_then(|g| g.value).unwrap_or(0.0), None);
        }
        messages::MetricType::Untyped => {
            series("", None, m.untyped.and_then(|u| u.value).unwrap_or(0.0), None);
        }
        messages::MetricType::Summary => {
            let s = m.summary.unwrap_or_default();
            series("_count", None, s.sample_count.unwrap_or(0) as f64, None);
            series("_sum", None, s.sample_sum.unwrap_or(0.0), None);
            for q in &s.quantile {
                let extra = (QUANTILE_LABEL, q.quantile.unwrap_or(0.0));
                series("", Some(extra), q.value.unwrap_or(0.0), None);
            }
            out.start_timestamp_ms = s.created_timestamp.as_ref().map(timestamp_ms);
        }
        messages::MetricType::Histogram | messages::MetricType::GaugeHistogram => {
            let h = m.histogram.unwrap_or_default();
            out.start_timestamp_ms = h.created_timestamp.as_ref().map(timestamp_ms);
            let native = !opts.ignore_native_histograms && is_native(&h);
            if native {
                check_spans(name, &h)?;
            }
            // As in Prometheus, a native histogram's classic series are kept only when it has classic buckets.
            if !native || (opts.keep_classic_histograms && !h.bucket.is_empty()) {
                let count = positive_or(h.sample_count_float, h.sample_count);
                series("_count", None, count, None);
                series("_sum", None, h.sample_sum.unwrap_or(0.0), None);
                let mut has_inf = false;
                for bk in &h.bucket {
                    let ub = bk.upper_bound.unwrap_or(0.0);
                    has_inf |= ub == f64::INFINITY;
                    let v = positive_or(bk.cumulative_count_float, bk.cumulative_count);
                    let ex = bk.exemplar.as_ref().map(convert_exemplar);
                    series("_bucket", Some((BUCKET_LABEL, ub)), v, ex);
                }
                if !has_inf {
                    series("_bucket", Some((BUCKET_LABEL, f64::INFINITY)), count, None);
                }
            }
            if native {
                let gauge = pt == messages::MetricType::GaugeHistogram;
                b.reset(&out.labels);
                b.set(METRIC_NAME_LABEL, name);
                out.histogram = Some(convert_native(h, gauge, b.labels()));
            }
        }
    }
    Ok(out)
}

/// Prometheus's rule: a histogram is native when it has spans, a zero threshold or an (integer) zero count (a native
/// histogram without observations is exposed with an empty span to say so).
fn is_native(h: &messages::Histogram) -> bool {
    !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold.unwrap_or(0.0) > 0.0
        || h.zero_count.unwrap_or(0) > 0
}

/// Whether the counts field used is a float one (Prometheus's rule for float native histograms).
fn is_float_histogram(h: &messages::Histogram) -> bool {
    h.sample_count_float.unwrap_or(0.0) > 0.0 || h.zero_count_float.unwrap_or(0.0) > 0.0
}

/// The spans of each side must describe exactly as many buckets as that side has.
fn check_spans(name: &str, h: &messages::Histogram) -> Result<(), ParseError> {
    let (pos, neg) = if is_float_histogram(h) {
        (h.positive_count.len(), h.negative_count.len())
    } else {
        (h.positive_delta.len(), h.negative_delta.len())
    };
    for (side, spans, have) in
        [("positive", &h.positive_span, pos), ("negative", &h.negative_span, neg)]
    {
        let required: u64 = spans.iter().map(|s| u64::from(s.length.unwrap_or(0))).sum();
        if required != have as u64 {
            return Err(ParseError::HistogramSpans {
                name: name.to_string(),
                side,
                required,
                have,
            });
        }
    }
    Ok(())
}

/// The float field when it is positive, else the integer field.
fn positive_or(float: Option<f64>, int: Option<u64>) -> f64 {
    match float {
        Some(f) if f > 0.0 => f,
        _ => int.unwrap_or(0) as f64,
    }
}

fn convert_native(h: messages::Histogram, gauge: bool, labels: Labels) -> ProtoHistogram {
    let hint = if gauge { CounterResetHint::Gauge } else { CounterResetHint::Unknown };
    let spans = |s: &[messages::BucketSpan]| -> Vec<BucketSpan> {
        s.iter()
            .map(|s| BucketSpan { offset: s.offset.unwrap_or(0), length: s.length.unwrap_or(0) })
            .collect()
    };
    let value = if is_float_histogram(&h) {
        NativeHistogram::Float(FloatHistogram {
            counter_reset_hint: hint,
            schema: h.schema.unwrap_or(0),
            zero_threshold: h.zero_threshold.unwrap_or(0.0),
            zero_count: h.zero_count_float.unwrap_or(0.0),
            count: h.sample_count_float.unwrap_or(0.0),
            sum: h.sample_sum.unwrap_or(0.0),
            positive_spans: spans(&h.positive_span),
            negative_spans: spans(&h.negative_span),
            positive_buckets: h.positive_count,
            negative_buckets: h.negative_count,
            custom_values: Vec::new(),
        })
    } else {
        NativeHistogram::Integer(Histogram {
            counter_reset_hint: hint,
            schema: h.schema.unwrap_or(0),
            zero_threshold: h.zero_threshold.unwrap_or(0.0),
            zero_count: h.zero_count.unwrap_or(0),
            count: h.sample_count.unwrap_or(0),
            sum: h.sample_sum.unwrap_or(0.0),
            positive_spans: spans(&h.positive_span),
            negative_spans: spans(&h.negative_span),
            positive_buckets: h.positive_delta,
            negative_buckets: h.negative_delta,
            custom_values: Vec::new(),
        })
    };
    let value = match value {
        NativeHistogram::Integer(mut ih) => {
            compact_integer(&mut ih);
            NativeHistogram::Integer(ih)
        }
        NativeHistogram::Float(mut fh) => {
            compact_float(&mut fh);
            NativeHistogram::Float(fh)
        }
    };
    let exemplars = if h.exemplars.is_empty() {
        h.bucket.iter().filter_map(|b| b.exemplar.as_ref()).map(convert_exemplar).collect()
    } else {
        h.exemplars.iter().map(convert_exemplar).collect()
    };
    ProtoHistogram { labels, value, exemplars }
}

/// Drops empty buckets and merges adjacent spans of an integer histogram, as Prometheus's parser does with
/// `Compact(0)` (an empty histogram's no-op span disappears). Bucket deltas are recomputed for the kept buckets.
fn compact_integer(h: &mut Histogram) {
    for (spans, deltas) in [
        (&mut h.positive_spans, &mut h.positive_buckets),
        (&mut h.negative_spans, &mut h.negative_buckets),
    ] {
        let mut cur = 0i64;
        let absolute: Vec<i64> = deltas
            .iter()
            .map(|d| {
                cur = cur.wrapping_add(*d);
                cur
            })
            .collect();
        if let Some((s, kept)) = compact_buckets(spans, &absolute, |c| *c == 0) {
            let mut prev = 0i64;
            *deltas = kept
                .iter()
                .map(|c| {
                    let d = c.wrapping_sub(prev);
                    prev = *c;
                    d
                })
                .collect();
            *spans = s;
        }
    }
}

/// [`compact_integer`] for float histograms, whose bucket counts are absolute.
fn compact_float(h: &mut FloatHistogram) {
    for (spans, counts) in [
        (&mut h.positive_spans, &mut h.positive_buckets),
        (&mut h.negative_spans, &mut h.negative_buckets),
    ] {
        if let Some((s, kept)) = compact_buckets(spans, counts, |c| *c == 0.0) {
            *spans = s;
            *counts = kept;
        }
    }
}

/// The spans and counts left after removing the buckets `empty` selects, with adjacent runs merged. `None` when
/// the spans do not fit the counts or an index leaves the `i32` range: the caller then keeps the input as it is.
fn compact_buckets<T: Copy>(
    spans: &[BucketSpan],
    counts: &[T],
    empty: impl Fn(&T) -> bool,
) -> Option<(Vec<BucketSpan>, Vec<T>)> {
    let mut out_spans: Vec<BucketSpan> = Vec::new();
    let mut out = Vec::with_capacity(counts.len());
    let mut it = counts.iter();
    let mut idx = 0i64;
    // Index just past the last kept bucket.
    let mut next: Option<i64> = None;
    for s in spans {
        idx += i64::from(s.offset);
        for _ in 0..s.length {
            let c = it.next()?;
            if !empty(c) {
                match (next, out_spans.last_mut()) {
                    (Some(n), Some(last)) if n == idx => last.length += 1,
                    (n, _) => {
                        let offset = i32::try_from(idx - n.unwrap_or(0)).ok()?;
                        out_spans.push(BucketSpan { offset, length: 1 });
                    }
                }
                out.push(*c);
                next = Some(idx + 1);
            }
            idx += 1;
        }
    }
    if it.next().is_some() {
        return None;
    }
    Some((out_spans, out))
}

fn convert_exemplar(e: &messages::Exemplar) -> Exemplar {
    let labels = Labels::from_pairs(
        e.label.iter().map(|l| (l.name.as_deref().unwrap_or(""), l.value.as_deref().unwrap_or(""))),
    );
    Exemplar { labels, value: e.value.unwrap_or(0.0), ts: e.timestamp.as_ref().map(timestamp_ms) }
}

/// Milliseconds since the epoch, rounding toward negative infinity; saturates instead of overflowing.
fn timestamp_ms(t: &messages::Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos).div_euclid(1_000_000))
}

/// Formats an `le` or `quantile` value as OpenMetrics does, so that `1` is `1.0`: the protobuf format carries
/// floats, and Prometheus picks the OpenMetrics spelling for the labels it derives from them.
fn format_label_float(v: f64) -> String {
    let mut s = format_float(v);
    if !s.contains(['.', 'e', 'I', 'N']) {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests;
