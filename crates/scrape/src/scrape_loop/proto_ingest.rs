//! The protobuf path of a scrape: the families [`exposition::parse_protobuf_with`] decodes, appended with
//! Prometheus's scrape semantics.
//!
//! The text path keys its series cache on the raw series text and parses labels only on a miss. Protobuf has no
//! such text: the parser builds every series' labels, and the cache key is made from them (each name and value
//! followed by a `0xff` byte, which never occurs in text keys, so the two kinds of key cannot collide). A hit still
//! skips target labels, metric relabeling and the label limits.
//!
//! What Prometheus does and this follows:
//! - a metric timestamp of 0 means "no timestamp" (the protobuf format cannot tell them apart);
//! - a metric's created timestamp is passed to the storage as the start timestamp of each of its series, and no
//!   `_created` series is made;
//! - a native histogram is one sample (counted once in `scrape_samples_scraped`) and comes before the classic
//!   series of the same metric when those are kept;
//! - a series repeated without a timestamp counts as a duplicate and is not appended;
//! - `native_histogram_min_bucket_factor` and `native_histogram_bucket_limit` reduce a histogram's resolution
//!   before the sample limit counts it; limits hit do not stop the scrape from counting the rest, then fail it;
//! - exemplars: a float series' exemplar without a timestamp takes the sample's, a native histogram's exemplars
//!   without one are dropped, the rest are appended oldest first, and their errors never fail the scrape;
//! - any other storage error fails the scrape.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use exposition::{NativeHistogram, ProtoFamily, ProtoOptions};
use model::{
    Exemplar, FloatHistogram, Histogram, Labels, LabelsBuilder, METRIC_NAME_LABEL, Metadata, Value,
};
use storage::{AppendError, AppendOptions, Appender};

use super::{CacheEntry, Counted, Report, SampleKind, ScrapeLoop};
use crate::Error;
use crate::options::{MAX_EXPONENTIAL_SCHEMA, MIN_EXPONENTIAL_SCHEMA};

/// Bounds of the schemas Prometheus reserves for exponential histograms (only -4..=8 are in use).
const RESERVED_EXPONENTIAL_SCHEMAS: std::ops::RangeInclusive<i32> = -9..=52;

/// The state of one protobuf scrape.
struct Ingest {
    iter: u64,
    /// The scrape time, for samples without their own timestamp.
    default_ts: i64,
    report: Report,
    /// Samples that reached the sample limit (duplicates and bucket-limit failures never do).
    limited: u64,
    sample_limit_hit: bool,
    bucket_limit_hit: bool,
    key: Vec<u8>,
    builder: LabelsBuilder,
}

/// The value of one series of a metric, with its exemplars.
#[derive(Clone, Copy)]
enum Sample<'a> {
    Float(f64, Option<&'a Exemplar>),
    Histogram(&'a NativeHistogram, &'a [Exemplar]),
}

impl ScrapeLoop {
    /// Parses a protobuf body and appends it; see the module documentation.
    pub(super) fn append_proto(
        &mut self,
        body: &[u8],
        ts: i64,
    ) -> Result<Report, (Error, Counted)> {
        let popts = ProtoOptions {
            keep_classic_histograms: self.opts.always_scrape_classic_histograms,
            ignore_native_histograms: !self.opts.scrape_native_histograms,
        };
        let families = exposition::parse_protobuf_with(body, popts)
            .map_err(|e| (Error::from(e), Counted::default()))?;
        let storage = self.storage.clone();
        let mut app = storage.appender();
        let mut ing = Ingest {
            iter: self.begin_iteration(),
            default_ts: ts,
            report: Report::default(),
            limited: 0,
            sample_limit_hit: false,
            bucket_limit_hit: false,
            key: Vec::new(),
            builder: LabelsBuilder::new(),
        };
        let mut outcome = self.ingest_families(app.as_mut(), &families, &mut ing);
        // The sample limit takes precedence when both were hit.
        if outcome.is_ok() && ing.sample_limit_hit {
            outcome = Err(Error::SampleLimit);
        } else if outcome.is_ok() && ing.bucket_limit_hit {
            outcome = Err(Error::BucketLimit);
        }
        if let Err(e) = outcome {
            let _ = app.rollback();
            self.abort_iteration(ing.iter);
            return Err((e, ing.report.counted()));
        }
        self.finish_iteration(app, ing.iter, ts).map_err(|e| (e, Counted::default()))?;
        // Every successful protobuf scrape replaces the metadata, also with none.
        let mut report = ing.report;
        report.metadata.get_or_insert_with(Default::default);
        Ok(report)
    }

    fn ingest_families(
        &mut self,
        app: &mut dyn Appender,
        families: &[ProtoFamily],
        ing: &mut Ingest,
    ) -> Result<(), Error> {
        for f in families {
            // Prometheus skips a family without metrics altogether, metadata included.
            if f.metrics.is_empty() {
                continue;
            }
            let meta =
                Metadata { metric_type: f.metric_type, help: f.help.clone(), unit: f.unit.clone() };
            ing.report.metadata.get_or_insert_with(Default::default).insert(f.name.clone(), meta);
            for m in &f.metrics {
                let own_ts =
                    m.timestamp_ms.filter(|t| *t != 0).filter(|_| self.opts.honor_timestamps);
                let start_ts = m.start_timestamp_ms.unwrap_or(0);
                if let Some(h) = &m.histogram {
                    let sample = Sample::Histogram(&h.value, &h.exemplars);
                    self.ingest_series(app, ing, &h.labels, own_ts, start_ts, sample)?;
                }
                for s in &m.samples {
                    let sample = Sample::Float(s.value, s.exemplar.as_ref());
                    self.ingest_series(app, ing, &s.labels, own_ts, start_ts, sample)?;
                }
            }
        }
        Ok(())
    }

    /// Appends one series of a metric. `scraped` are its labels as exposed; `own_ts` its timestamp when it has one
    /// and `honor_timestamps` is set.
    fn ingest_series(
        &mut self,
        app: &mut dyn Appender,
        ing: &mut Ingest,
        scraped: &Labels,
        own_ts: Option<i64>,
        start_ts: i64,
        sample: Sample<'_>,
    ) -> Result<(), Error> {
        ing.report.scraped += 1;
        let t = own_ts.unwrap_or(ing.default_ts);
        series_key(scraped, &mut ing.key);
        let is_new;
        let slot = match self.cache.find(ing.key.as_slice()) {
            Some(i) => {
                is_new = false;
                i
            }
            None => {
                is_new = true;
                let labels = self.final_labels(scraped, &mut ing.builder)?;
                self.cache.insert(ing.key.as_slice(), CacheEntry::new(labels))
            }
        };
        let entry = self.cache.get_mut(slot);
        let repeated = entry.last_seen == ing.iter;
        entry.last_seen = ing.iter;
        let Some(labels) = entry.labels.clone() else { return Ok(()) };
        // Prometheus's "added": every sample kept by relabeling, appended or not.
        ing.report.post_relabel += 1;
        if repeated && own_ts.is_none() {
            self.stats.duplicate_timestamp.fetch_add(1, Ordering::Relaxed);
        } else {
            let value = match sample {
                Sample::Float(v, _) => Value::Float(v),
                Sample::Histogram(h, _) => {
                    let o = &self.opts;
                    match fit_histogram(
                        h,
                        o.native_histogram_bucket_limit,
                        o.native_histogram_max_schema,
                    ) {
                        Some(v) => v,
                        None => {
                            ing.bucket_limit_hit = true;
                            return Ok(());
                        }
                    }
                }
            };
            ing.limited += 1;
            if self.opts.sample_limit > 0 && ing.limited > self.opts.sample_limit {
                ing.sample_limit_hit = true;
                return Ok(());
            }
            let kind = SampleKind::of(&value);
            let aopts = AppendOptions::default();
            match app.append(entry.series_ref, &labels, start_ts, t, value, &aopts) {
                Ok(r) => {
                    let tracked = own_ts.is_none() || self.opts.track_timestamps_staleness;
                    entry.appended(r, kind, ing.iter, tracked);
                    if is_new && !ing.sample_limit_hit && !ing.bucket_limit_hit {
                        ing.report.added += 1;
                    }
                }
                Err(AppendError::OutOfOrderSample) => {
                    self.stats.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                Err(AppendError::DuplicateSampleForTimestamp) => {
                    self.stats.duplicate_timestamp.fetch_add(1, Ordering::Relaxed);
                }
                Err(AppendError::OutOfBounds | AppendError::TooOldSample) => {
                    self.stats.out_of_bounds.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(Error::Storage(e.to_string())),
            }
        }
        append_exemplars(app, entry.series_ref, &labels, t, sample);
        Ok(())
    }

    /// The stored labels of a newly seen series: target labels, metric relabeling (None = dropped), then the
    /// checks Prometheus makes before the first append.
    fn final_labels(
        &self,
        scraped: &Labels,
        b: &mut LabelsBuilder,
    ) -> Result<Option<Labels>, Error> {
        b.reset(scraped);
        self.mutate(b);
        if !relabel::process_builder(b, &self.opts.metric_relabel_configs) {
            return Ok(None);
        }
        let labels = b.labels();
        if labels.is_empty() {
            return Ok(None);
        }
        if !labels.has(METRIC_NAME_LABEL) {
            return Err(Error::InvalidLabels("missing metric name (__name__ label)".to_string()));
        }
        if labels.iter().any(|l| l.name.is_empty()) {
            return Err(Error::InvalidLabels(format!(
                "invalid metric name or label names: {labels}"
            )));
        }
        self.check_label_limits(&labels)?;
        Ok(Some(labels))
    }
}

/// The cache key of a series: each label name and value followed by `0xff`.
fn series_key(labels: &Labels, key: &mut Vec<u8>) {
    key.clear();
    for l in labels.iter() {
        key.extend_from_slice(l.name.as_bytes());
        key.push(0xff);
        key.extend_from_slice(l.value.as_bytes());
        key.push(0xff);
    }
}

/// Appends a sample's exemplars one by one, ignoring their errors as Prometheus does.
fn append_exemplars(
    app: &mut dyn Appender,
    series_ref: storage::SeriesRef,
    labels: &Labels,
    t: i64,
    sample: Sample<'_>,
) {
    match sample {
        Sample::Float(_, Some(e)) => {
            let e = Exemplar { ts: Some(e.ts.unwrap_or(t)), ..e.clone() };
            let _ = app.append_exemplars(series_ref, labels, std::slice::from_ref(&e));
        }
        Sample::Float(_, None) => {}
        Sample::Histogram(_, exemplars) => {
            let mut kept: Vec<&Exemplar> = exemplars.iter().filter(|e| e.ts.is_some()).collect();
            kept.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.value.total_cmp(&b.value)));
            for e in kept {
                let _ = app.append_exemplars(series_ref, labels, std::slice::from_ref(e));
            }
        }
    }
}

/// A native histogram as it is appended: reduced to `max_schema` when finer (only when that is below the finest
/// schema, i.e. a bucket factor was configured), then reduced further until it has at most `bucket_limit` buckets
/// (0 = no limit). `None` when the limit cannot be met: custom buckets, the coarsest schema still has too many, or
/// bucket indexes too far out for any real histogram to be reduced safely.
fn fit_histogram(h: &NativeHistogram, bucket_limit: u64, max_schema: i32) -> Option<Value> {
    let (schema, buckets) = match h {
        NativeHistogram::Integer(x) => {
            (x.schema, x.positive_buckets.len() + x.negative_buckets.len())
        }
        NativeHistogram::Float(x) => {
            (x.schema, x.positive_buckets.len() + x.negative_buckets.len())
        }
    };
    let too_fine = max_schema < MAX_EXPONENTIAL_SCHEMA
        && RESERVED_EXPONENTIAL_SCHEMAS.contains(&schema)
        && schema > max_schema;
    let too_many = bucket_limit > 0 && buckets as u64 > bucket_limit;
    if !too_fine && !too_many {
        return Some(match h {
            NativeHistogram::Integer(x) => Value::Histogram(Arc::new(x.clone())),
            NativeHistogram::Float(x) => Value::FloatHistogram(Arc::new(x.clone())),
        });
    }
    let mut f = match h {
        NativeHistogram::Integer(x) => x.to_float(),
        NativeHistogram::Float(x) => x.clone(),
    };
    if !sane_indexes(&f.positive_spans) || !sane_indexes(&f.negative_spans) {
        return None;
    }
    if too_fine {
        f = f.reduce_resolution(max_schema);
    }
    let count = |f: &FloatHistogram| (f.positive_buckets.len() + f.negative_buckets.len()) as u64;
    if bucket_limit > 0 {
        let exponential = (MIN_EXPONENTIAL_SCHEMA..=MAX_EXPONENTIAL_SCHEMA).contains(&f.schema);
        if count(&f) > bucket_limit && !exponential {
            return None;
        }
        while count(&f) > bucket_limit {
            if f.schema <= MIN_EXPONENTIAL_SCHEMA {
                return None;
            }
            f = f.reduce_resolution(f.schema - 1);
        }
    }
    Some(match h {
        NativeHistogram::Integer(orig) => Value::Histogram(Arc::new(to_integer(&f, orig))),
        NativeHistogram::Float(_) => Value::FloatHistogram(Arc::new(f)),
    })
}

/// Whether every bucket index of `spans` is within ±2^30, far beyond any real histogram (schema 8 reaches 2^4096
/// at index 2^20) and safe for index arithmetic in `i32`.
fn sane_indexes(spans: &[model::BucketSpan]) -> bool {
    const BOUND: i64 = 1 << 30;
    let mut idx = 0i64;
    for s in spans {
        idx += i64::from(s.offset);
        if idx.abs() > BOUND {
            return false;
        }
        idx += i64::from(s.length);
        if idx.abs() > BOUND {
            return false;
        }
    }
    true
}

/// The integer form of `f`, a reduced copy of `orig`: bucket counts delta-encoded again, totals kept from `orig`.
fn to_integer(f: &FloatHistogram, orig: &Histogram) -> Histogram {
    fn deltas(counts: &[f64]) -> Vec<i64> {
        let mut prev = 0i64;
        counts
            .iter()
            .map(|c| {
                let c = *c as i64;
                let d = c.wrapping_sub(prev);
                prev = c;
                d
            })
            .collect()
    }
    Histogram {
        schema: f.schema,
        positive_spans: f.positive_spans.clone(),
        negative_spans: f.negative_spans.clone(),
        positive_buckets: deltas(&f.positive_buckets),
        negative_buckets: deltas(&f.negative_buckets),
        ..orig.clone()
    }
}

#[cfg(test)]
mod tests {
    use model::BucketSpan;

    use super::*;

    fn int_histogram(schema: i32, spans: Vec<BucketSpan>, deltas: Vec<i64>) -> Histogram {
        Histogram {
            schema,
            count: 10,
            sum: 3.0,
            positive_spans: spans,
            positive_buckets: deltas,
            ..Histogram::default()
        }
    }

    #[test]
    fn fit_histogram_reduces_resolution_to_the_limits() {
        // Absolute counts 1, 2, 3, 4 at indexes 0..=3 of schema 1.
        let h = int_histogram(1, vec![BucketSpan { offset: 0, length: 4 }], vec![1, 1, 1, 1]);
        let n = NativeHistogram::Integer(h.clone());
        assert_eq!(fit_histogram(&n, 0, 8), Some(Value::Histogram(Arc::new(h.clone()))));
        assert_eq!(fit_histogram(&n, 4, 8), Some(Value::Histogram(Arc::new(h.clone()))));
        // Schema 0 maps indexes 0 → 0, 1 and 2 → 1, 3 → 2: counts 1, 5, 4.
        let Some(Value::Histogram(r)) = fit_histogram(&n, 3, 8) else { panic!("reduced") };
        assert_eq!((r.schema, r.count, r.sum), (0, 10, 3.0));
        assert_eq!(r.positive_spans, [BucketSpan { offset: 0, length: 3 }]);
        assert_eq!(r.positive_buckets, [1, 4, -1]);
        // The configured maximum schema applies without a bucket limit.
        let Some(Value::Histogram(r)) = fit_histogram(&n, 0, 0) else { panic!("reduced") };
        assert_eq!(r.schema, 0);
        // Schema -1 maps 0 → 0 and 1, 2, 3 → 1: two buckets. Bucket 0 ends at 1 at every schema, so one bucket is
        // out of reach.
        let Some(Value::Histogram(r)) = fit_histogram(&n, 2, 8) else { panic!("reduced") };
        assert_eq!((r.schema, r.positive_buckets.clone()), (-1, vec![1, 8]));
        assert_eq!(fit_histogram(&n, 1, 8), None);
        let far = int_histogram(1, vec![BucketSpan { offset: i32::MAX, length: 2 }], vec![1, 1]);
        assert_eq!(fit_histogram(&NativeHistogram::Integer(far), 1, 8), None);

        let custom = FloatHistogram {
            schema: model::CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
            positive_buckets: vec![1.0, 2.0],
            custom_values: vec![1.0],
            ..FloatHistogram::default()
        };
        assert_eq!(fit_histogram(&NativeHistogram::Float(custom.clone()), 1, 8), None);
        assert_eq!(
            fit_histogram(&NativeHistogram::Float(custom.clone()), 0, 0),
            Some(Value::FloatHistogram(Arc::new(custom))),
            "custom buckets are never reduced to a schema"
        );
    }

    #[test]
    fn series_keys_differ_from_text_keys_and_each_other() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        series_key(&Labels::from_pairs([("__name__", "m"), ("a", "bc")]), &mut a);
        series_key(&Labels::from_pairs([("__name__", "m"), ("ab", "c")]), &mut b);
        assert_ne!(a, b);
        assert!(a.contains(&0xff) && std::str::from_utf8(&a).is_err());
    }
}
