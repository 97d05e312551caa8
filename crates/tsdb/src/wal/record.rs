//! WAL records in Prometheus's byte layout (`tsdb/record`): the first byte is the record type, then a list of
//! entries. Fixed-width integers are big-endian; "varint" is Go's zigzag `PutVarint`, "uvarint" Go's
//! `PutUvarint`, strings are uvarint-length-prefixed bytes.
//!
//! | type | entries |
//! |---|---|
//! | 1 series | `(ref BE64, n uvarint, (name, value)*n)*` |
//! | 2 samples | `base_ref BE64, base_t BE64, (Δref varint, Δt varint, value BE64 float)*`, deltas against the first entry |
//! | 3 tombstones | `(ref BE64, mint varint, maxt varint)*` |
//! | 4 exemplars | like samples, each entry followed by a label set `n uvarint, (name, value)*n` |
//! | 5 mmap markers | `(ref BE64, chunk_ref BE64)*` |
//! | 6 metadata | `(ref uvarint, type u8, n uvarint, (field name, field value)*n)*`; written with `UNIT` then `HELP` |
//! | 7, 9 histograms | like samples with an integer histogram instead of the float value |
//! | 8, 10 float histograms | like samples with a float histogram |
//!
//! Records with no entries are only the type byte (samples-like records then have no base either). Types 9 and 10
//! (custom buckets, Prometheus 3) have the layout of 7 and 8; in every histogram, a `custom_values` list follows
//! the buckets exactly when the schema is -53. Prometheus 2.42 reads types 1–8 only.
//!
//! Decoding is faithful: histograms keep whatever schema they were written with (Prometheus 3 drops unknown
//! schemas and reduces schemas 9–52 while decoding; the head decides that here). Label sets are rebuilt with
//! [`Labels`], which drops empty values; strings that are not UTF-8 are decoded lossily.

use std::sync::Arc;

use model::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram, Histogram, Label, Labels,
    Metadata, MetricType,
};

use crate::error::Error;

/// Record type 1: series definitions.
pub const RECORD_SERIES: u8 = 1;
/// Record type 2: float samples.
pub const RECORD_SAMPLES: u8 = 2;
/// Record type 3: tombstones (deletions).
pub const RECORD_TOMBSTONES: u8 = 3;
/// Record type 4: exemplars.
pub const RECORD_EXEMPLARS: u8 = 4;
/// Record type 5: m-mapped head chunk markers (written to the out-of-order WBL).
pub const RECORD_MMAP_MARKERS: u8 = 5;
/// Record type 6: metric metadata.
pub const RECORD_METADATA: u8 = 6;
/// Record type 7: integer native histogram samples.
pub const RECORD_HISTOGRAM_SAMPLES: u8 = 7;
/// Record type 8: float native histogram samples.
pub const RECORD_FLOAT_HISTOGRAM_SAMPLES: u8 = 8;
/// Record type 9: integer histograms with custom buckets (Prometheus 3; unknown to 2.42).
pub const RECORD_CUSTOM_BUCKETS_HISTOGRAM_SAMPLES: u8 = 9;
/// Record type 10: float histograms with custom buckets (Prometheus 3; unknown to 2.42).
pub const RECORD_CUSTOM_BUCKETS_FLOAT_HISTOGRAM_SAMPLES: u8 = 10;

/// A series definition: the WAL-wide reference and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// Head series reference (Prometheus starts at 1).
    pub series_ref: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// A float sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The value (stale markers included).
    pub v: f64,
}

/// A deletion of the samples of a series in `[mint, maxt]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// Head series reference.
    pub series_ref: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// An exemplar of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The exemplar value.
    pub v: f64,
    /// The exemplar's own labels.
    pub labels: Labels,
}

/// Marks that a series' head chunk was m-mapped to disk at `mmap_ref` (`file << 32 | offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefMmapMarker {
    /// Head series reference.
    pub series_ref: u64,
    /// The chunk's disk reference.
    pub mmap_ref: u64,
}

/// Metadata of a series. Type bytes Prometheus does not define decode as [`MetricType::Unknown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    /// Head series reference.
    pub series_ref: u64,
    /// Type, unit and help.
    pub metadata: Metadata,
}

/// An integer native histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogramSample {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The histogram.
    pub h: Arc<Histogram>,
}

/// A float native histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct RefFloatHistogramSample {
    /// Head series reference.
    pub series_ref: u64,
    /// Timestamp in milliseconds.
    pub t: i64,
    /// The histogram.
    pub fh: Arc<FloatHistogram>,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Type 1.
    Series(Vec<RefSeries>),
    /// Type 2.
    Samples(Vec<RefSample>),
    /// Type 3.
    Tombstones(Vec<RefTombstone>),
    /// Type 4.
    Exemplars(Vec<RefExemplar>),
    /// Type 5.
    MmapMarkers(Vec<RefMmapMarker>),
    /// Type 6.
    Metadata(Vec<RefMetadata>),
    /// Type 7.
    HistogramSamples(Vec<RefHistogramSample>),
    /// Type 8.
    FloatHistogramSamples(Vec<RefFloatHistogramSample>),
    /// Type 9.
    CustomBucketsHistogramSamples(Vec<RefHistogramSample>),
    /// Type 10.
    CustomBucketsFloatHistogramSamples(Vec<RefFloatHistogramSample>),
    /// Any other type byte (0, 11 and up, including Prometheus 3's start-timestamp records 11–13) or an empty
    /// record: the raw bytes. Prometheus's head ignores these, and checkpoints drop them.
    Unknown(Vec<u8>),
}

/// A record to encode, borrowing its entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecordRef<'a> {
    /// Type 1.
    Series(&'a [RefSeries]),
    /// Type 2.
    Samples(&'a [RefSample]),
    /// Type 3.
    Tombstones(&'a [RefTombstone]),
    /// Type 4.
    Exemplars(&'a [RefExemplar]),
    /// Type 5.
    MmapMarkers(&'a [RefMmapMarker]),
    /// Type 6.
    Metadata(&'a [RefMetadata]),
    /// Type 7. Prometheus puts histograms with custom buckets (schema -53) into type 9 instead.
    HistogramSamples(&'a [RefHistogramSample]),
    /// Type 8. Prometheus puts histograms with custom buckets into type 10 instead.
    FloatHistogramSamples(&'a [RefFloatHistogramSample]),
    /// Type 9.
    CustomBucketsHistogramSamples(&'a [RefHistogramSample]),
    /// Type 10.
    CustomBucketsFloatHistogramSamples(&'a [RefFloatHistogramSample]),
}

impl Record {
    /// Borrows the record for encoding. `None` for [`Record::Unknown`].
    pub fn as_record_ref(&self) -> Option<RecordRef<'_>> {
        Some(match self {
            Record::Series(v) => RecordRef::Series(v),
            Record::Samples(v) => RecordRef::Samples(v),
            Record::Tombstones(v) => RecordRef::Tombstones(v),
            Record::Exemplars(v) => RecordRef::Exemplars(v),
            Record::MmapMarkers(v) => RecordRef::MmapMarkers(v),
            Record::Metadata(v) => RecordRef::Metadata(v),
            Record::HistogramSamples(v) => RecordRef::HistogramSamples(v),
            Record::FloatHistogramSamples(v) => RecordRef::FloatHistogramSamples(v),
            Record::CustomBucketsHistogramSamples(v) => RecordRef::CustomBucketsHistogramSamples(v),
            Record::CustomBucketsFloatHistogramSamples(v) => {
                RecordRef::CustomBucketsFloatHistogramSamples(v)
            }
            Record::Unknown(_) => return None,
        })
    }
}

impl RecordRef<'_> {
    /// The type byte this record is written with.
    pub fn record_type(&self) -> u8 {
        match self {
            RecordRef::Series(_) => RECORD_SERIES,
            RecordRef::Samples(_) => RECORD_SAMPLES,
            RecordRef::Tombstones(_) => RECORD_TOMBSTONES,
            RecordRef::Exemplars(_) => RECORD_EXEMPLARS,
            RecordRef::MmapMarkers(_) => RECORD_MMAP_MARKERS,
            RecordRef::Metadata(_) => RECORD_METADATA,
            RecordRef::HistogramSamples(_) => RECORD_HISTOGRAM_SAMPLES,
            RecordRef::FloatHistogramSamples(_) => RECORD_FLOAT_HISTOGRAM_SAMPLES,
            RecordRef::CustomBucketsHistogramSamples(_) => RECORD_CUSTOM_BUCKETS_HISTOGRAM_SAMPLES,
            RecordRef::CustomBucketsFloatHistogramSamples(_) => {
                RECORD_CUSTOM_BUCKETS_FLOAT_HISTOGRAM_SAMPLES
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            RecordRef::Series(v) => v.len(),
            RecordRef::Samples(v) => v.len(),
            RecordRef::Tombstones(v) => v.len(),
            RecordRef::Exemplars(v) => v.len(),
            RecordRef::MmapMarkers(v) => v.len(),
            RecordRef::Metadata(v) => v.len(),
            RecordRef::HistogramSamples(v) | RecordRef::CustomBucketsHistogramSamples(v) => v.len(),
            RecordRef::FloatHistogramSamples(v)
            | RecordRef::CustomBucketsFloatHistogramSamples(v) => v.len(),
        }
    }

    /// Whether the record has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the record's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.record_type());
        match *self {
            RecordRef::Series(series) => {
                for s in series {
                    out.extend_from_slice(&s.series_ref.to_be_bytes());
                    put_labels(out, &s.labels);
                }
            }
            RecordRef::Samples(samples) => {
                put_deltas(
                    out,
                    samples,
                    |s| (s.series_ref, s.t),
                    |out, s| out.extend_from_slice(&s.v.to_bits().to_be_bytes()),
                );
            }
            RecordRef::Tombstones(stones) => {
                for s in stones {
                    out.extend_from_slice(&s.series_ref.to_be_bytes());
                    put_varint(out, s.mint);
                    put_varint(out, s.maxt);
                }
            }
            RecordRef::Exemplars(exemplars) => {
                put_deltas(
                    out,
                    exemplars,
                    |e| (e.series_ref, e.t),
                    |out, e| {
                        out.extend_from_slice(&e.v.to_bits().to_be_bytes());
                        put_labels(out, &e.labels);
                    },
                );
            }
            RecordRef::MmapMarkers(markers) => {
                for m in markers {
                    out.extend_from_slice(&m.series_ref.to_be_bytes());
                    out.extend_from_slice(&m.mmap_ref.to_be_bytes());
                }
            }
            RecordRef::Metadata(metadata) => {
                for m in metadata {
                    put_uvarint(out, m.series_ref);
                    out.push(metric_type_byte(m.metadata.metric_type));
                    put_uvarint(out, 2);
                    put_str(out, UNIT_FIELD.as_bytes());
                    put_str(out, m.metadata.unit.as_bytes());
                    put_str(out, HELP_FIELD.as_bytes());
                    put_str(out, m.metadata.help.as_bytes());
                }
            }
            RecordRef::HistogramSamples(hs) | RecordRef::CustomBucketsHistogramSamples(hs) => {
                put_deltas(out, hs, |h| (h.series_ref, h.t), |out, h| put_histogram(out, &h.h));
            }
            RecordRef::FloatHistogramSamples(hs)
            | RecordRef::CustomBucketsFloatHistogramSamples(hs) => {
                put_deltas(
                    out,
                    hs,
                    |h| (h.series_ref, h.t),
                    |out, h| put_float_histogram(out, &h.fh),
                );
            }
        }
    }
}

const UNIT_FIELD: &str = "UNIT";
const HELP_FIELD: &str = "HELP";

/// Name of a record type as Prometheus prints it.
pub fn record_type_name(t: u8) -> &'static str {
    match t {
        RECORD_SERIES => "series",
        RECORD_SAMPLES => "samples",
        RECORD_TOMBSTONES => "tombstones",
        RECORD_EXEMPLARS => "exemplars",
        RECORD_MMAP_MARKERS => "mmapmarkers",
        RECORD_METADATA => "metadata",
        RECORD_HISTOGRAM_SAMPLES => "histogram_samples",
        RECORD_FLOAT_HISTOGRAM_SAMPLES => "float_histogram_samples",
        RECORD_CUSTOM_BUCKETS_HISTOGRAM_SAMPLES => "custom_buckets_histogram_samples",
        RECORD_CUSTOM_BUCKETS_FLOAT_HISTOGRAM_SAMPLES => "custom_buckets_float_histogram_samples",
        _ => "unknown",
    }
}

/// The metadata type byte Prometheus writes for a metric type.
pub fn metric_type_byte(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

/// The metric type of a metadata type byte; bytes Prometheus does not define are [`MetricType::Unknown`].
pub fn metric_type_from_byte(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

fn hint_byte(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_from_byte(b: u8) -> CounterResetHint {
    match b {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

/// Appends Go's `PutUvarint`.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends Go's `PutVarint` (zigzag).
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub(crate) fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.len() as u64);
    for l in labels.iter() {
        put_str(out, l.name.as_bytes());
        put_str(out, l.value.as_bytes());
    }
}

/// The samples-like layout: base ref and time of the first entry, then per entry the signed deltas to them and
/// the entry's payload. Nothing but the type byte for an empty list.
fn put_deltas<T>(
    out: &mut Vec<u8>,
    entries: &[T],
    key: impl Fn(&T) -> (u64, i64),
    mut payload: impl FnMut(&mut Vec<u8>, &T),
) {
    let Some(first) = entries.first() else {
        return;
    };
    let (base_ref, base_t) = key(first);
    out.extend_from_slice(&base_ref.to_be_bytes());
    out.extend_from_slice(&base_t.to_be_bytes());
    for e in entries {
        let (r, t) = key(e);
        put_varint(out, (r as i64).wrapping_sub(base_ref as i64));
        put_varint(out, t.wrapping_sub(base_t));
        payload(out, e);
    }
}

fn put_spans(out: &mut Vec<u8>, spans: &[BucketSpan]) {
    put_uvarint(out, spans.len() as u64);
    for s in spans {
        put_varint(out, i64::from(s.offset));
        put_uvarint(out, u64::from(s.length));
    }
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_be_bytes());
}

fn put_custom_values(out: &mut Vec<u8>, schema: i32, values: &[f64]) {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        put_uvarint(out, values.len() as u64);
        for v in values {
            put_f64(out, *v);
        }
    }
}

fn put_histogram(out: &mut Vec<u8>, h: &Histogram) {
    out.push(hint_byte(h.counter_reset_hint));
    put_varint(out, i64::from(h.schema));
    put_f64(out, h.zero_threshold);
    put_uvarint(out, h.zero_count);
    put_uvarint(out, h.count);
    put_f64(out, h.sum);
    put_spans(out, &h.positive_spans);
    put_spans(out, &h.negative_spans);
    put_uvarint(out, h.positive_buckets.len() as u64);
    for b in &h.positive_buckets {
        put_varint(out, *b);
    }
    put_uvarint(out, h.negative_buckets.len() as u64);
    for b in &h.negative_buckets {
        put_varint(out, *b);
    }
    put_custom_values(out, h.schema, &h.custom_values);
}

fn put_float_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.push(hint_byte(h.counter_reset_hint));
    put_varint(out, i64::from(h.schema));
    put_f64(out, h.zero_threshold);
    put_f64(out, h.zero_count);
    put_f64(out, h.count);
    put_f64(out, h.sum);
    put_spans(out, &h.positive_spans);
    put_spans(out, &h.negative_spans);
    put_uvarint(out, h.positive_buckets.len() as u64);
    for b in &h.positive_buckets {
        put_f64(out, *b);
    }
    put_uvarint(out, h.negative_buckets.len() as u64);
    for b in &h.negative_buckets {
        put_f64(out, *b);
    }
    put_custom_values(out, h.schema, &h.custom_values);
}

/// A cursor over a record's bytes whose reads fail with the record type in the message.
struct Dec<'a> {
    b: &'a [u8],
    what: &'static str,
}

impl<'a> Dec<'a> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::RecordDecode { record_type: self.what, reason: reason.into() }
    }

    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.b.len() < n {
            return Err(self.err(format!("need {n} bytes, {} left", self.b.len())));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.bytes(1)?[0])
    }

    fn be64(&mut self) -> Result<u64, Error> {
        let b = self.bytes(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.be64()?))
    }

    #[inline]
    fn uvarint(&mut self) -> Result<u64, Error> {
        // Most varints in sample records are one byte (time deltas within a scrape).
        if let Some(&c) = self.b.first()
            && c < 0x80
        {
            self.b = &self.b[1..];
            return Ok(u64::from(c));
        }
        let mut v = 0u64;
        for (i, &c) in self.b.iter().enumerate().take(10) {
            if i == 9 && c > 1 {
                break;
            }
            v |= u64::from(c & 0x7f) << (7 * i);
            if c < 0x80 {
                self.b = &self.b[i + 1..];
                return Ok(v);
            }
        }
        Err(self.err("invalid uvarint"))
    }

    fn varint(&mut self) -> Result<i64, Error> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn uvarint32(&mut self) -> Result<u32, Error> {
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| self.err(format!("uvarint {v} overflows 32 bits")))
    }

    /// A list length; each element needs at least `min_elem` bytes, which bounds the allocation.
    fn count(&mut self, min_elem: usize) -> Result<usize, Error> {
        let n = self.uvarint()?;
        if n > (self.b.len() / min_elem.max(1)) as u64 {
            return Err(
                self.err(format!("list of {n} entries exceeds the {} bytes left", self.b.len()))
            );
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<&'a [u8], Error> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| self.err("string length overflows"))?;
        self.bytes(n)
    }

    fn labels(&mut self) -> Result<Labels, Error> {
        let n = self.count(2)?;
        let mut pairs = Vec::with_capacity(n);
        let mut sorted = true;
        for _ in 0..n {
            let name = String::from_utf8_lossy(self.str()?);
            let value = String::from_utf8_lossy(self.str()?);
            if let Some((prev, _)) = pairs.last() {
                sorted &= *prev < name;
            }
            pairs.push((name, value));
        }
        Ok(if sorted {
            Labels::from_sorted(pairs.iter().map(|(n, v)| Label { name: n, value: v }))
        } else {
            Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_ref(), v.as_ref())))
        })
    }

    /// The samples-like layout (see [`put_deltas`]).
    fn deltas<T>(
        &mut self,
        mut entry: impl FnMut(&mut Self, u64, i64) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        // Each entry takes at least two bytes of deltas; sample entries (the common case) ten.
        let mut out = Vec::with_capacity(self.b.len().saturating_sub(16) / 10 + 1);
        let base_ref = self.be64()?;
        let base_t = self.be64()? as i64;
        while !self.is_empty() {
            let dref = self.varint()?;
            let dt = self.varint()?;
            let r = (base_ref as i64).wrapping_add(dref) as u64;
            out.push(entry(self, r, base_t.wrapping_add(dt))?);
        }
        Ok(out)
    }

    fn spans(&mut self) -> Result<Vec<BucketSpan>, Error> {
        let n = self.count(2)?;
        let mut spans = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = self.varint()? as i32;
            let length = self.uvarint32()?;
            spans.push(BucketSpan { offset, length });
        }
        Ok(spans)
    }

    fn custom_values(&mut self, schema: i32) -> Result<Vec<f64>, Error> {
        if schema != CUSTOM_BUCKETS_SCHEMA {
            return Ok(Vec::new());
        }
        let n = self.count(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    fn histogram(&mut self) -> Result<Histogram, Error> {
        let counter_reset_hint = hint_from_byte(self.byte()?);
        let schema = self.varint()? as i32;
        let zero_threshold = self.f64()?;
        let zero_count = self.uvarint()?;
        let count = self.uvarint()?;
        let sum = self.f64()?;
        let positive_spans = self.spans()?;
        let negative_spans = self.spans()?;
        let n = self.count(1)?;
        let positive_buckets = (0..n).map(|_| self.varint()).collect::<Result<_, _>>()?;
        let n = self.count(1)?;
        let negative_buckets = (0..n).map(|_| self.varint()).collect::<Result<_, _>>()?;
        let custom_values = self.custom_values(schema)?;
        Ok(Histogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values,
        })
    }

    fn float_histogram(&mut self) -> Result<FloatHistogram, Error> {
        let counter_reset_hint = hint_from_byte(self.byte()?);
        let schema = self.varint()? as i32;
        let zero_threshold = self.f64()?;
        let zero_count = self.f64()?;
        let count = self.f64()?;
        let sum = self.f64()?;
        let positive_spans = self.spans()?;
        let negative_spans = self.spans()?;
        let n = self.count(8)?;
        let positive_buckets = (0..n).map(|_| self.f64()).collect::<Result<_, _>>()?;
        let n = self.count(8)?;
        let negative_buckets = (0..n).map(|_| self.f64()).collect::<Result<_, _>>()?;
        let custom_values = self.custom_values(schema)?;
        Ok(FloatHistogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values,
        })
    }
}

/// Decodes one record. Unknown and empty records come back as [`Record::Unknown`]; bytes that do not follow
/// the layout of a known type are an [`Error::RecordDecode`].
pub fn decode(rec: &[u8]) -> Result<Record, Error> {
    let Some((&t, body)) = rec.split_first() else {
        return Ok(Record::Unknown(Vec::new()));
    };
    let mut d = Dec { b: body, what: record_type_name(t) };
    let record = match t {
        RECORD_SERIES => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let series_ref = d.be64()?;
                out.push(RefSeries { series_ref, labels: d.labels()? });
            }
            Record::Series(out)
        }
        RECORD_SAMPLES => Record::Samples(
            d.deltas(|d, series_ref, t| Ok(RefSample { series_ref, t, v: d.f64()? }))?,
        ),
        RECORD_TOMBSTONES => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let series_ref = d.be64()?;
                let mint = d.varint()?;
                let maxt = d.varint()?;
                out.push(RefTombstone { series_ref, mint, maxt });
            }
            Record::Tombstones(out)
        }
        RECORD_EXEMPLARS => Record::Exemplars(d.deltas(|d, series_ref, t| {
            let v = d.f64()?;
            Ok(RefExemplar { series_ref, t, v, labels: d.labels()? })
        })?),
        RECORD_MMAP_MARKERS => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let series_ref = d.be64()?;
                out.push(RefMmapMarker { series_ref, mmap_ref: d.be64()? });
            }
            Record::MmapMarkers(out)
        }
        RECORD_METADATA => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let series_ref = d.uvarint()?;
                let metric_type = metric_type_from_byte(d.byte()?);
                let fields = d.count(2)?;
                let mut metadata = Metadata { metric_type, ..Metadata::default() };
                for _ in 0..fields {
                    let name = d.str()?;
                    let value = String::from_utf8_lossy(d.str()?).into_owned();
                    match name {
                        b"UNIT" => metadata.unit = value,
                        b"HELP" => metadata.help = value,
                        _ => {}
                    }
                }
                out.push(RefMetadata { series_ref, metadata });
            }
            Record::Metadata(out)
        }
        RECORD_HISTOGRAM_SAMPLES | RECORD_CUSTOM_BUCKETS_HISTOGRAM_SAMPLES => {
            let hs = d.deltas(|d, series_ref, t| {
                Ok(RefHistogramSample { series_ref, t, h: Arc::new(d.histogram()?) })
            })?;
            if t == RECORD_HISTOGRAM_SAMPLES {
                Record::HistogramSamples(hs)
            } else {
                Record::CustomBucketsHistogramSamples(hs)
            }
        }
        RECORD_FLOAT_HISTOGRAM_SAMPLES | RECORD_CUSTOM_BUCKETS_FLOAT_HISTOGRAM_SAMPLES => {
            let hs = d.deltas(|d, series_ref, t| {
                Ok(RefFloatHistogramSample { series_ref, t, fh: Arc::new(d.float_histogram()?) })
            })?;
            if t == RECORD_FLOAT_HISTOGRAM_SAMPLES {
                Record::FloatHistogramSamples(hs)
            } else {
                Record::CustomBucketsFloatHistogramSamples(hs)
            }
        }
        _ => return Ok(Record::Unknown(rec.to_vec())),
    };
    Ok(record)
}

/// Encodes a record into a new buffer.
pub fn encode(rec: RecordRef<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    rec.encode(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn varints_match_go() {
        let mut b = Vec::new();
        put_uvarint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        b.clear();
        put_varint(&mut b, -1);
        put_varint(&mut b, 1);
        put_varint(&mut b, -64);
        assert_eq!(b, [0x01, 0x02, 0x7f]);
        b.clear();
        put_uvarint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
        let mut d = Dec { b: &b, what: "test" };
        assert_eq!(d.uvarint().expect("max"), u64::MAX);
        // An 11-byte or overflowing varint is rejected like Go's binary.Uvarint does.
        let bad = [0xff; 10];
        assert!(Dec { b: &bad, what: "test" }.uvarint().is_err());
    }

    #[test]
    fn samples_layout_is_signed_deltas_against_first() {
        let samples = [
            RefSample { series_ref: 10, t: 1000, v: 1.0 },
            RefSample { series_ref: 9, t: 990, v: 2.0 },
        ];
        let b = encode(RecordRef::Samples(&samples));
        let mut want = vec![2u8];
        want.extend_from_slice(&10u64.to_be_bytes());
        want.extend_from_slice(&1000i64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[1, 19]); // zigzag(-1) = 1, zigzag(-10) = 19
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        assert_eq!(b, want);
        assert_eq!(decode(&b).expect("decode"), Record::Samples(samples.to_vec()));
    }

    #[test]
    fn series_and_metadata_layout() {
        let series =
            [RefSeries { series_ref: 1, labels: labels(&[("__name__", "up"), ("job", "a")]) }];
        let b = encode(RecordRef::Series(&series));
        assert_eq!(b, b"\x01\0\0\0\0\0\0\0\x01\x02\x08__name__\x02up\x03job\x01a");
        let md = [RefMetadata {
            series_ref: 300,
            metadata: Metadata {
                metric_type: MetricType::Counter,
                unit: "s".into(),
                help: "h".into(),
            },
        }];
        let b = encode(RecordRef::Metadata(&md));
        assert_eq!(b, b"\x06\xac\x02\x01\x02\x04UNIT\x01s\x04HELP\x01h");
        assert_eq!(decode(&b).expect("decode"), Record::Metadata(md.to_vec()));
    }

    #[test]
    fn empty_and_unknown_records() {
        assert_eq!(encode(RecordRef::Samples(&[])), [2]);
        assert_eq!(decode(&[2]).expect("empty"), Record::Samples(vec![]));
        assert_eq!(decode(&[]).expect("empty"), Record::Unknown(vec![]));
        assert_eq!(decode(&[11, 1, 2]).expect("v2"), Record::Unknown(vec![11, 1, 2]));
    }

    #[test]
    fn unsorted_labels_are_sorted_on_decode() {
        let b = b"\x01\0\0\0\0\0\0\0\x05\x02\x01b\x011\x01a\x012";
        let Record::Series(s) = decode(b).expect("decode") else { panic!("series") };
        assert_eq!(s[0].labels, labels(&[("a", "2"), ("b", "1")]));
    }

    #[test]
    fn truncated_records_fail_to_decode() {
        let samples = [RefSample { series_ref: 1, t: 5, v: 1.5 }];
        let b = encode(RecordRef::Samples(&samples));
        for cut in (2..b.len()).filter(|&c| c != 17) {
            let err = decode(&b[..cut]).expect_err("truncated");
            assert!(matches!(err, Error::RecordDecode { record_type: "samples", .. }), "{err}");
        }
        // A base without entries is an empty record, as in Prometheus.
        assert_eq!(decode(&b[..17]).expect("base only"), Record::Samples(vec![]));
        // A huge list length is rejected before allocating.
        let b = b"\x01\0\0\0\0\0\0\0\x01\xff\xff\xff\xff\x0f";
        assert!(decode(b).is_err());
    }
}
