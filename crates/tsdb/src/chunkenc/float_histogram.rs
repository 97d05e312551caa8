//! The float native histogram chunk (encoding 3): the same header and layout as the integer chunk; the first
//! sample is its timestamp (`<varbit_int>`) and the 64 bits of count, zero count, sum and every absolute bucket
//! count; later samples store the timestamp's delta of deltas and every float XOR-ed with its own predecessor
//! (`<varbit_xor>`, each with its own leading/trailing window). A stale marker stores no buckets.

use model::{CounterResetHint, FloatHistogram, is_stale_nan};

use super::HistogramAppend;
use super::bstream::{BitReader, BitWriter};
use super::histogram_meta::{
    CounterResetHeader, HEADER_SIZE, Layout, bucket_count, bucket_indexes, buckets_continue,
    expand, placement, recode_spans, schema_supported, set_header,
};
use super::varbit::{XorValue, put_varbit_int, read_varbit_int};
use crate::error::Error;

fn check(h: &FloatHistogram) -> Result<(), Error> {
    let bad = |reason: String| Err(Error::chunk("append float histogram", reason));
    if is_stale_nan(h.sum) {
        return Ok(());
    }
    if !schema_supported(h.schema) {
        return bad(format!("unsupported schema {}", h.schema));
    }
    for (spans, n, sign) in [
        (&h.positive_spans, h.positive_buckets.len(), "positive"),
        (&h.negative_spans, h.negative_buckets.len(), "negative"),
    ] {
        if bucket_count(spans) != n as u64 {
            return bad(format!("{n} {sign} buckets for spans of {} buckets", bucket_count(spans)));
        }
    }
    Ok(())
}

/// Appends [`FloatHistogram`] samples to one float histogram chunk in Prometheus's encoding, recoding the
/// chunk when a sample brings new buckets as Prometheus does.
#[derive(Debug, Clone)]
pub struct FloatHistogramAppender {
    w: BitWriter,
    layout: Layout,
    count: u16,
    t: i64,
    t_delta: i64,
    cnt: XorValue,
    zcnt: XorValue,
    sum: XorValue,
    pos: Vec<XorValue>,
    neg: Vec<XorValue>,
}

impl Default for FloatHistogramAppender {
    fn default() -> FloatHistogramAppender {
        FloatHistogramAppender::new()
    }
}

impl FloatHistogramAppender {
    /// An empty chunk.
    pub fn new() -> FloatHistogramAppender {
        FloatHistogramAppender {
            w: BitWriter::from_bytes(vec![0; HEADER_SIZE]),
            layout: Layout::default(),
            count: 0,
            t: 0,
            t_delta: 0,
            cnt: XorValue::for_writing(0.0),
            zcnt: XorValue::for_writing(0.0),
            sum: XorValue::for_writing(0.0),
            pos: Vec::new(),
            neg: Vec::new(),
        }
    }

    /// A new chunk holding `h` at `t`, cut after `prev` (the series' previous float histogram chunk, if any) for
    /// a reason of its own (size, time range), its header set as Prometheus's head sets it.
    pub fn start_after(
        prev: Option<&FloatHistogramAppender>,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<FloatHistogramAppender, Error> {
        check(h)?;
        let mut a = FloatHistogramAppender::new();
        a.append_sample(t, h);
        let header = match h.counter_reset_hint {
            CounterResetHint::Gauge => CounterResetHeader::Gauge,
            CounterResetHint::CounterReset => CounterResetHeader::CounterReset,
            _ => prev.map_or(CounterResetHeader::Unknown, |p| p.counter_reset_against(h)),
        };
        a.set_counter_reset_header(header);
        Ok(a)
    }

    /// Number of samples.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The encoded chunk (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    /// Timestamp of the last sample.
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        CounterResetHeader::from_flags(self.w.bytes[2])
    }

    /// Overwrites the chunk's counter-reset header.
    pub fn set_counter_reset_header(&mut self, h: CounterResetHeader) {
        set_header(&mut self.w.bytes, h);
    }

    /// Whether the counter histogram `h` continues this chunk: `(fits, reset)` as Prometheus's `appendable`.
    fn appendable(&self, h: &FloatHistogram) -> (bool, bool) {
        if self.count > 0 && self.counter_reset_header() == CounterResetHeader::Gauge {
            return (false, false);
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return (false, true);
        }
        if is_stale_nan(h.sum) {
            return (true, false);
        }
        if is_stale_nan(self.sum.value) {
            return (false, false);
        }
        if h.count < self.cnt.value {
            return (false, true);
        }
        if h.schema != self.layout.schema || h.zero_threshold != self.layout.zero_threshold {
            return (false, false);
        }
        if !self.layout.fits(h.schema, h.zero_threshold, &h.custom_values) {
            return (false, true);
        }
        if h.zero_count < self.zcnt.value {
            return (false, true);
        }
        let values = |v: &[XorValue]| v.iter().map(|x| x.value).collect::<Vec<f64>>();
        let continues = buckets_continue(
            &bucket_indexes(&self.layout.positive_spans),
            &values(&self.pos),
            &bucket_indexes(&h.positive_spans),
            &h.positive_buckets,
        ) && buckets_continue(
            &bucket_indexes(&self.layout.negative_spans),
            &values(&self.neg),
            &bucket_indexes(&h.negative_spans),
            &h.negative_buckets,
        );
        if continues { (true, false) } else { (false, true) }
    }

    /// The header a chunk starting with the counter histogram `h` gets after this chunk: `CounterReset` or
    /// `NotCounterReset` (Prometheus's float chunks never record "unknown" here).
    pub fn counter_reset_against(&self, h: &FloatHistogram) -> CounterResetHeader {
        if self.appendable(h).1 {
            CounterResetHeader::CounterReset
        } else {
            CounterResetHeader::NotCounterReset
        }
    }

    /// Appends `h` at `t` (after the last sample). Fails only for a histogram that cannot be encoded.
    pub fn append(
        &mut self,
        t: i64,
        h: &FloatHistogram,
    ) -> Result<HistogramAppend<FloatHistogramAppender>, Error> {
        check(h)?;
        if self.count == 0 {
            *self = FloatHistogramAppender::start_after(None, t, h)?;
            return Ok(HistogramAppend::Appended { recoded: false });
        }
        let gauge = h.counter_reset_hint == CounterResetHint::Gauge;
        if self.count == u16::MAX {
            let header =
                if gauge { CounterResetHeader::Gauge } else { self.counter_reset_against(h) };
            return Ok(HistogramAppend::NewChunk(self.cut(t, h, header)));
        }
        if gauge {
            let chunk_gauge = self.counter_reset_header() == CounterResetHeader::Gauge;
            if !chunk_gauge
                || (!is_stale_nan(h.sum)
                    && (is_stale_nan(self.sum.value)
                        || !self.layout.fits(h.schema, h.zero_threshold, &h.custom_values)))
            {
                return Ok(HistogramAppend::NewChunk(self.cut(t, h, CounterResetHeader::Gauge)));
            }
        } else {
            let (ok, reset) = self.appendable(h);
            if !ok || reset {
                let header = if reset {
                    CounterResetHeader::CounterReset
                } else {
                    CounterResetHeader::Unknown
                };
                return Ok(HistogramAppend::NewChunk(self.cut(t, h, header)));
            }
        }
        if is_stale_nan(h.sum) {
            self.append_sample(t, h);
            return Ok(HistogramAppend::Appended { recoded: false });
        }
        let pos = placement(&self.layout.positive_spans, &h.positive_spans);
        let neg = placement(&self.layout.negative_spans, &h.negative_spans);
        let mut h = h.clone();
        h.positive_buckets =
            expand(&bucket_indexes(&h.positive_spans), &h.positive_buckets, &pos.indexes);
        h.negative_buckets =
            expand(&bucket_indexes(&h.negative_spans), &h.negative_buckets, &neg.indexes);
        if !pos.forward && !neg.forward {
            self.append_sample(t, &h);
            return Ok(HistogramAppend::Appended { recoded: false });
        }
        let any_backward = pos.backward || neg.backward;
        let p_spans =
            recode_spans(&pos, &h.positive_spans, if gauge { any_backward } else { pos.backward });
        let n_spans =
            recode_spans(&neg, &h.negative_spans, if gauge { any_backward } else { neg.backward });
        self.recode(&p_spans, &n_spans)?;
        h.positive_spans = p_spans;
        h.negative_spans = n_spans;
        self.append_sample(t, &h);
        Ok(HistogramAppend::Appended { recoded: true })
    }

    fn cut(
        &self,
        t: i64,
        h: &FloatHistogram,
        header: CounterResetHeader,
    ) -> FloatHistogramAppender {
        let mut a = FloatHistogramAppender::new();
        a.append_sample(t, h);
        a.set_counter_reset_header(header);
        a
    }

    /// Re-encodes the chunk with new spans (supersets of the current ones).
    fn recode(
        &mut self,
        p_spans: &[model::BucketSpan],
        n_spans: &[model::BucketSpan],
    ) -> Result<(), Error> {
        let (p_old, n_old) = (
            bucket_indexes(&self.layout.positive_spans),
            bucket_indexes(&self.layout.negative_spans),
        );
        let (p_new, n_new) = (bucket_indexes(p_spans), bucket_indexes(n_spans));
        let header = self.counter_reset_header();
        let mut fresh = FloatHistogramAppender::new();
        for (t, mut h) in decode_float_histogram(self.bytes())? {
            if !is_stale_nan(h.sum) {
                h.positive_spans = p_spans.to_vec();
                h.negative_spans = n_spans.to_vec();
                h.positive_buckets = expand(&p_old, &h.positive_buckets, &p_new);
                h.negative_buckets = expand(&n_old, &h.negative_buckets, &n_new);
            }
            fresh.append_sample(t, &h);
        }
        fresh.set_counter_reset_header(header);
        *self = fresh;
        Ok(())
    }

    fn append_sample(&mut self, t: i64, h: &FloatHistogram) {
        let empty = FloatHistogram { sum: h.sum, ..FloatHistogram::default() };
        let h = if is_stale_nan(h.sum) { &empty } else { h };
        let mut t_delta = 0;
        if self.count == 0 {
            self.layout = Layout {
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                positive_spans: h.positive_spans.clone(),
                negative_spans: h.negative_spans.clone(),
                custom_values: h.custom_values.clone(),
            };
            self.layout.write(&mut self.w);
            put_varbit_int(&mut self.w, t);
            for v in [h.count, h.zero_count, h.sum] {
                self.w.write_bits(v.to_bits(), 64);
            }
            self.cnt = XorValue::for_writing(h.count);
            self.zcnt = XorValue::for_writing(h.zero_count);
            self.sum = XorValue::for_writing(h.sum);
            self.pos = h.positive_buckets.iter().map(|v| XorValue::for_writing(*v)).collect();
            self.neg = h.negative_buckets.iter().map(|v| XorValue::for_writing(*v)).collect();
            for v in h.positive_buckets.iter().chain(&h.negative_buckets) {
                self.w.write_bits(v.to_bits(), 64);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            put_varbit_int(&mut self.w, t_delta.wrapping_sub(self.t_delta));
            self.cnt.write(&mut self.w, h.count);
            self.zcnt.write(&mut self.w, h.zero_count);
            self.sum.write(&mut self.w, h.sum);
            for (x, v) in self.pos.iter_mut().zip(&h.positive_buckets) {
                x.write(&mut self.w, *v);
            }
            for (x, v) in self.neg.iter_mut().zip(&h.negative_buckets) {
                x.write(&mut self.w, *v);
            }
        }
        self.t = t;
        self.t_delta = t_delta;
        self.count += 1;
        self.w.bytes[..2].copy_from_slice(&self.count.to_be_bytes());
    }
}

/// Iterates the samples of a float histogram chunk. Stops at the end or at the first damage, which
/// [`FloatHistogramIterator::err`] then reports.
#[derive(Debug, Clone)]
pub struct FloatHistogramIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    t_delta: i64,
    cnt: XorValue,
    zcnt: XorValue,
    sum: XorValue,
    pos: Vec<XorValue>,
    neg: Vec<XorValue>,
    err: Option<String>,
}

impl<'a> FloatHistogramIterator<'a> {
    /// An iterator over `chunk` (header included).
    pub fn new(chunk: &'a [u8]) -> FloatHistogramIterator<'a> {
        let (total, header, err) = match chunk {
            [a, b, flags, ..] => {
                (u16::from_be_bytes([*a, *b]), CounterResetHeader::from_flags(*flags), None)
            }
            _ => (0, CounterResetHeader::Unknown, Some("chunk shorter than its header".into())),
        };
        FloatHistogramIterator {
            r: BitReader::new(chunk, HEADER_SIZE.min(chunk.len())),
            total,
            read: 0,
            header,
            layout: Layout::default(),
            t: 0,
            t_delta: 0,
            cnt: XorValue::for_reading(0.0),
            zcnt: XorValue::for_reading(0.0),
            sum: XorValue::for_reading(0.0),
            pos: Vec::new(),
            neg: Vec::new(),
            err,
        }
    }

    /// The chunk's counter-reset header.
    pub fn counter_reset_header(&self) -> CounterResetHeader {
        self.header
    }

    /// Why iteration stopped before the chunk's sample count, if it did.
    pub fn err(&self) -> Option<&str> {
        self.err.as_deref()
    }

    fn step(&mut self) -> Result<(), String> {
        let r = &mut self.r;
        let end = |what: &str| format!("sample {} ends in its {what}", self.read);
        if self.read == 0 {
            self.layout = Layout::read(r)?;
            self.t = read_varbit_int(r).ok_or_else(|| end("timestamp"))?;
            let raw = |r: &mut BitReader<'_>| {
                r.read_bits(64).map(|b| XorValue::for_reading(f64::from_bits(b)))
            };
            self.cnt = raw(r).ok_or_else(|| end("count"))?;
            self.zcnt = raw(r).ok_or_else(|| end("zero count"))?;
            self.sum = raw(r).ok_or_else(|| end("sum"))?;
            let (np, nn) = (
                bucket_count(&self.layout.positive_spans),
                bucket_count(&self.layout.negative_spans),
            );
            // Layout::read checked one bit per bucket; the first sample needs 64.
            if (np + nn).saturating_mul(64) > r.remaining_bits() as u64 {
                return Err(end("buckets"));
            }
            self.pos =
                (0..np).map(|_| raw(r)).collect::<Option<_>>().ok_or_else(|| end("buckets"))?;
            self.neg =
                (0..nn).map(|_| raw(r)).collect::<Option<_>>().ok_or_else(|| end("buckets"))?;
            return Ok(());
        }
        let t_dod = read_varbit_int(r).ok_or_else(|| end("timestamp"))?;
        self.t_delta = self.t_delta.wrapping_add(t_dod);
        self.t = self.t.wrapping_add(self.t_delta);
        self.cnt.read(r).ok_or_else(|| end("count"))?;
        self.zcnt.read(r).ok_or_else(|| end("zero count"))?;
        self.sum.read(r).ok_or_else(|| end("sum"))?;
        if is_stale_nan(self.sum.value) {
            return Ok(());
        }
        for x in self.pos.iter_mut().chain(self.neg.iter_mut()) {
            x.read(r).ok_or_else(|| end("buckets"))?;
        }
        Ok(())
    }

    fn current(&self) -> FloatHistogram {
        if is_stale_nan(self.sum.value) {
            return FloatHistogram { sum: self.sum.value, ..FloatHistogram::default() };
        }
        FloatHistogram {
            counter_reset_hint: self.header.hint_at(usize::from(self.read) - 1),
            schema: self.layout.schema,
            zero_threshold: self.layout.zero_threshold,
            zero_count: self.zcnt.value,
            count: self.cnt.value,
            sum: self.sum.value,
            positive_spans: self.layout.positive_spans.clone(),
            negative_spans: self.layout.negative_spans.clone(),
            positive_buckets: self.pos.iter().map(|x| x.value).collect(),
            negative_buckets: self.neg.iter().map(|x| x.value).collect(),
            custom_values: self.layout.custom_values.clone(),
        }
    }
}

impl Iterator for FloatHistogramIterator<'_> {
    type Item = (i64, FloatHistogram);

    fn next(&mut self) -> Option<(i64, FloatHistogram)> {
        if self.err.is_some() || self.read >= self.total {
            return None;
        }
        if let Err(e) = self.step() {
            self.err = Some(e);
            return None;
        }
        self.read += 1;
        Some((self.t, self.current()))
    }
}

/// Decodes every sample of a float histogram chunk, or says why it cannot.
pub fn decode_float_histogram(chunk: &[u8]) -> Result<Vec<(i64, FloatHistogram)>, Error> {
    let mut it = FloatHistogramIterator::new(chunk);
    let out: Vec<(i64, FloatHistogram)> = it.by_ref().collect();
    match it.err() {
        Some(e) => Err(Error::chunk("decode float histogram chunk", e)),
        None => Ok(out),
    }
}
