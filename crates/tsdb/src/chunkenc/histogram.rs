//! The integer native histogram chunk (encoding 2). After the 3-byte header and the layout, the first sample is
//! its timestamp (`<varbit_int>`), count and zero count (`<varbit_uint>`), the sum's 64 bits and every bucket
//! delta (`<varbit_int>`); the second sample stores deltas to the first, later samples deltas of deltas, and the
//! sum always as `<varbit_xor>`. A stale marker (the sum is the stale NaN) stores no buckets.

use model::{CounterResetHint, Histogram, is_stale_nan};

use super::bstream::{BitReader, BitWriter};
use super::histogram_meta::{
    CounterResetHeader, HEADER_SIZE, Layout, absolute, bucket_count, bucket_indexes,
    buckets_continue, deltas, expand, placement, recode_spans, schema_supported, set_header,
};
use super::varbit::{XorValue, put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint};
use crate::error::Error;

/// What [`HistogramAppender::append`] did with a sample.
#[derive(Debug)]
#[must_use]
pub enum HistogramAppend<A> {
    /// The sample is in this chunk. `recoded` says whether the chunk was first rewritten with buckets the sample
    /// brought (its bytes changed, its sample count and time range did not).
    Appended {
        /// Whether the chunk's existing samples were re-encoded.
        recoded: bool,
    },
    /// The sample does not belong in this chunk (a counter reset, a new schema, zero threshold or custom bounds,
    /// a counter histogram after gauges or the reverse, a full chunk): here is a new chunk holding just it, with
    /// the counter-reset header Prometheus gives it. This chunk is unchanged and complete.
    NewChunk(A),
}

/// Appends [`Histogram`] samples to one integer histogram chunk in Prometheus's encoding, recoding the chunk
/// when a sample brings new buckets as Prometheus does.
#[derive(Debug, Clone)]
pub struct HistogramAppender {
    w: BitWriter,
    layout: Layout,
    count: u16,
    t: i64,
    cnt: u64,
    zcnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    zcnt_delta: i64,
    /// The last sample's bucket deltas (as stored in [`Histogram`]) and their change since the sample before.
    pos: Vec<i64>,
    neg: Vec<i64>,
    pos_change: Vec<i64>,
    neg_change: Vec<i64>,
    sum: XorValue,
}

impl Default for HistogramAppender {
    fn default() -> HistogramAppender {
        HistogramAppender::new()
    }
}

/// Why a histogram cannot be encoded at all.
fn check(h: &Histogram) -> Result<(), Error> {
    let bad = |reason: String| Err(Error::chunk("append histogram", reason));
    if is_stale_nan(h.sum) {
        return Ok(());
    }
    if !schema_supported(h.schema) {
        return bad(format!("unsupported schema {}", h.schema));
    }
    for (spans, buckets, sign) in [
        (&h.positive_spans, &h.positive_buckets, "positive"),
        (&h.negative_spans, &h.negative_buckets, "negative"),
    ] {
        if bucket_count(spans) != buckets.len() as u64 {
            return bad(format!(
                "{} {sign} buckets for spans of {} buckets",
                buckets.len(),
                bucket_count(spans)
            ));
        }
    }
    Ok(())
}

impl HistogramAppender {
    /// An empty chunk.
    pub fn new() -> HistogramAppender {
        HistogramAppender {
            w: BitWriter::from_bytes(vec![0; HEADER_SIZE]),
            layout: Layout::default(),
            count: 0,
            t: 0,
            cnt: 0,
            zcnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            pos: Vec::new(),
            neg: Vec::new(),
            pos_change: Vec::new(),
            neg_change: Vec::new(),
            sum: XorValue::for_writing(0.0),
        }
    }

    /// A new chunk holding `h` at `t`, cut after `prev` (the series' previous histogram chunk, if any) for a
    /// reason of its own (size, time range): its header records whether `h` continues `prev`, as Prometheus's
    /// head sets it.
    pub fn start_after(
        prev: Option<&HistogramAppender>,
        t: i64,
        h: &Histogram,
    ) -> Result<HistogramAppender, Error> {
        check(h)?;
        let mut a = HistogramAppender::new();
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

    /// Appends `h` at `t` (after the last sample). Fails only for a histogram that cannot be encoded (an
    /// unsupported schema, bucket counts that disagree with the spans).
    pub fn append(
        &mut self,
        t: i64,
        h: &Histogram,
    ) -> Result<HistogramAppend<HistogramAppender>, Error> {
        check(h)?;
        if self.count == 0 {
            return HistogramAppender::start_after(None, t, h).map(|a| {
                *self = a;
                HistogramAppend::Appended { recoded: false }
            });
        }
        let gauge = h.counter_reset_hint == CounterResetHint::Gauge;
        let chunk_gauge = self.counter_reset_header() == CounterResetHeader::Gauge;
        if self.count == u16::MAX {
            let header =
                if gauge { CounterResetHeader::Gauge } else { self.counter_reset_against(h) };
            return Ok(HistogramAppend::NewChunk(self.cut(t, h, header)));
        }
        if gauge {
            if !chunk_gauge
                || (!is_stale_nan(h.sum)
                    && (is_stale_nan(self.sum.value)
                        || !self.layout.fits(h.schema, h.zero_threshold, &h.custom_values)))
            {
                return Ok(HistogramAppend::NewChunk(self.cut(t, h, CounterResetHeader::Gauge)));
            }
        } else {
            if chunk_gauge {
                return Ok(HistogramAppend::NewChunk(self.cut(
                    t,
                    h,
                    CounterResetHeader::NotCounterReset,
                )));
            }
            let header = self.counter_reset_against(h);
            if header != CounterResetHeader::NotCounterReset {
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
        h.positive_buckets = deltas(&expand(
            &bucket_indexes(&h.positive_spans),
            &absolute(&h.positive_buckets),
            &pos.indexes,
        ));
        h.negative_buckets = deltas(&expand(
            &bucket_indexes(&h.negative_spans),
            &absolute(&h.negative_buckets),
            &neg.indexes,
        ));
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

    /// The header a chunk starting with the counter histogram `h` gets after this chunk: Prometheus's
    /// `appendable` verdict.
    pub fn counter_reset_against(&self, h: &Histogram) -> CounterResetHeader {
        use CounterResetHeader as C;
        if self.count > 0 && self.counter_reset_header() == C::Gauge {
            return C::NotCounterReset;
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return C::CounterReset;
        }
        if is_stale_nan(h.sum) {
            return C::NotCounterReset;
        }
        if is_stale_nan(self.sum.value) {
            return C::Unknown;
        }
        if h.count < self.cnt {
            return C::CounterReset;
        }
        if h.schema != self.layout.schema || h.zero_threshold != self.layout.zero_threshold {
            return C::Unknown;
        }
        if !self.layout.fits(h.schema, h.zero_threshold, &h.custom_values) {
            return C::CounterReset;
        }
        if h.zero_count < self.zcnt {
            return C::CounterReset;
        }
        let continues = |spans, last: &[i64], new_spans, new: &[i64]| {
            buckets_continue(
                &bucket_indexes(spans),
                &absolute(last),
                &bucket_indexes(new_spans),
                &absolute(new),
            )
        };
        if !continues(
            &self.layout.positive_spans,
            &self.pos,
            &h.positive_spans,
            &h.positive_buckets,
        ) || !continues(
            &self.layout.negative_spans,
            &self.neg,
            &h.negative_spans,
            &h.negative_buckets,
        ) {
            return C::CounterReset;
        }
        C::NotCounterReset
    }

    fn cut(&self, t: i64, h: &Histogram, header: CounterResetHeader) -> HistogramAppender {
        let mut a = HistogramAppender::new();
        a.append_sample(t, h);
        a.set_counter_reset_header(header);
        a
    }

    /// Re-encodes the chunk with new spans (supersets of the current ones), every old sample getting empty
    /// buckets where it had none.
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
        let mut fresh = HistogramAppender::new();
        for (t, mut h) in decode_histogram(self.bytes())? {
            if !is_stale_nan(h.sum) {
                h.positive_spans = p_spans.to_vec();
                h.negative_spans = n_spans.to_vec();
                h.positive_buckets =
                    deltas(&expand(&p_old, &absolute(&h.positive_buckets), &p_new));
                h.negative_buckets =
                    deltas(&expand(&n_old, &absolute(&h.negative_buckets), &n_new));
            }
            fresh.append_sample(t, &h);
        }
        fresh.set_counter_reset_header(header);
        *self = fresh;
        Ok(())
    }

    /// Writes one sample whose buckets match the chunk's layout (or that becomes the layout, for the first).
    fn append_sample(&mut self, t: i64, h: &Histogram) {
        let stale = is_stale_nan(h.sum);
        let empty = Histogram { sum: h.sum, ..Histogram::default() };
        let h = if stale { &empty } else { h };
        let (mut t_delta, mut cnt_delta, mut zcnt_delta) = (0, 0, 0);
        if self.count == 0 {
            self.layout = Layout {
                schema: h.schema,
                zero_threshold: h.zero_threshold,
                positive_spans: h.positive_spans.clone(),
                negative_spans: h.negative_spans.clone(),
                custom_values: h.custom_values.clone(),
            };
            self.layout.write(&mut self.w);
            self.pos = vec![0; h.positive_buckets.len()];
            self.neg = vec![0; h.negative_buckets.len()];
            self.pos_change = self.pos.clone();
            self.neg_change = self.neg.clone();
            put_varbit_int(&mut self.w, t);
            put_varbit_uint(&mut self.w, h.count);
            put_varbit_uint(&mut self.w, h.zero_count);
            self.w.write_bits(h.sum.to_bits(), 64);
            self.sum = XorValue::for_writing(h.sum);
            for b in h.positive_buckets.iter().chain(&h.negative_buckets) {
                put_varbit_int(&mut self.w, *b);
            }
        } else {
            t_delta = t.wrapping_sub(self.t);
            cnt_delta = (h.count as i64).wrapping_sub(self.cnt as i64);
            zcnt_delta = (h.zero_count as i64).wrapping_sub(self.zcnt as i64);
            let (mut cnt_dod, mut zcnt_dod) =
                (cnt_delta.wrapping_sub(self.cnt_delta), zcnt_delta.wrapping_sub(self.zcnt_delta));
            if stale {
                (cnt_dod, zcnt_dod) = (0, 0);
            }
            put_varbit_int(&mut self.w, t_delta.wrapping_sub(self.t_delta));
            put_varbit_int(&mut self.w, cnt_dod);
            put_varbit_int(&mut self.w, zcnt_dod);
            self.sum.write(&mut self.w, h.sum);
            for (new, (last, change)) in [
                (&h.positive_buckets, (&mut self.pos, &mut self.pos_change)),
                (&h.negative_buckets, (&mut self.neg, &mut self.neg_change)),
            ] {
                for (i, b) in new.iter().enumerate() {
                    let (Some(l), Some(c)) = (last.get_mut(i), change.get_mut(i)) else { break };
                    let delta = b.wrapping_sub(*l);
                    put_varbit_int(&mut self.w, delta.wrapping_sub(*c));
                    *c = delta;
                    *l = *b;
                }
            }
        }
        if self.count == 0 {
            self.pos.copy_from_slice(&h.positive_buckets);
            self.neg.copy_from_slice(&h.negative_buckets);
        }
        self.t = t;
        self.cnt = h.count;
        self.zcnt = h.zero_count;
        self.t_delta = t_delta;
        self.cnt_delta = cnt_delta;
        self.zcnt_delta = zcnt_delta;
        self.count += 1;
        self.w.bytes[..2].copy_from_slice(&self.count.to_be_bytes());
    }
}

/// Iterates the samples of an integer histogram chunk. Stops at the end or at the first damage, which
/// [`HistogramIterator::err`] then reports.
#[derive(Debug, Clone)]
pub struct HistogramIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    header: CounterResetHeader,
    layout: Layout,
    t: i64,
    cnt: u64,
    zcnt: u64,
    t_delta: i64,
    cnt_delta: i64,
    zcnt_delta: i64,
    pos: Vec<i64>,
    neg: Vec<i64>,
    pos_change: Vec<i64>,
    neg_change: Vec<i64>,
    sum: XorValue,
    err: Option<String>,
}

impl<'a> HistogramIterator<'a> {
    /// An iterator over `chunk` (header included).
    pub fn new(chunk: &'a [u8]) -> HistogramIterator<'a> {
        let (total, header, err) = match chunk {
            [a, b, flags, ..] => {
                (u16::from_be_bytes([*a, *b]), CounterResetHeader::from_flags(*flags), None)
            }
            _ => (0, CounterResetHeader::Unknown, Some("chunk shorter than its header".into())),
        };
        HistogramIterator {
            r: BitReader::new(chunk, HEADER_SIZE.min(chunk.len())),
            total,
            read: 0,
            header,
            layout: Layout::default(),
            t: 0,
            cnt: 0,
            zcnt: 0,
            t_delta: 0,
            cnt_delta: 0,
            zcnt_delta: 0,
            pos: Vec::new(),
            neg: Vec::new(),
            pos_change: Vec::new(),
            neg_change: Vec::new(),
            sum: XorValue::for_reading(0.0),
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
            self.pos = vec![0; bucket_count(&self.layout.positive_spans) as usize];
            self.neg = vec![0; bucket_count(&self.layout.negative_spans) as usize];
            self.pos_change = self.pos.clone();
            self.neg_change = self.neg.clone();
            self.t = read_varbit_int(r).ok_or_else(|| end("timestamp"))?;
            self.cnt = read_varbit_uint(r).ok_or_else(|| end("count"))?;
            self.zcnt = read_varbit_uint(r).ok_or_else(|| end("zero count"))?;
            self.sum =
                XorValue::for_reading(f64::from_bits(r.read_bits(64).ok_or_else(|| end("sum"))?));
            for b in self.pos.iter_mut().chain(self.neg.iter_mut()) {
                *b = read_varbit_int(r).ok_or_else(|| end("buckets"))?;
            }
            return Ok(());
        }
        let t_dod = read_varbit_int(r).ok_or_else(|| end("timestamp"))?;
        self.t_delta = self.t_delta.wrapping_add(t_dod);
        self.t = self.t.wrapping_add(self.t_delta);
        let cnt_dod = read_varbit_int(r).ok_or_else(|| end("count"))?;
        self.cnt_delta = self.cnt_delta.wrapping_add(cnt_dod);
        self.cnt = (self.cnt as i64).wrapping_add(self.cnt_delta) as u64;
        let zcnt_dod = read_varbit_int(r).ok_or_else(|| end("zero count"))?;
        self.zcnt_delta = self.zcnt_delta.wrapping_add(zcnt_dod);
        self.zcnt = (self.zcnt as i64).wrapping_add(self.zcnt_delta) as u64;
        self.sum.read(r).ok_or_else(|| end("sum"))?;
        if is_stale_nan(self.sum.value) {
            return Ok(());
        }
        for (b, c) in self
            .pos
            .iter_mut()
            .zip(self.pos_change.iter_mut())
            .chain(self.neg.iter_mut().zip(self.neg_change.iter_mut()))
        {
            let dod = read_varbit_int(r).ok_or_else(|| end("buckets"))?;
            *c = c.wrapping_add(dod);
            *b = b.wrapping_add(*c);
        }
        Ok(())
    }

    fn current(&self) -> Histogram {
        if is_stale_nan(self.sum.value) {
            return Histogram { sum: self.sum.value, ..Histogram::default() };
        }
        Histogram {
            counter_reset_hint: self.header.hint_at(usize::from(self.read) - 1),
            schema: self.layout.schema,
            zero_threshold: self.layout.zero_threshold,
            zero_count: self.zcnt,
            count: self.cnt,
            sum: self.sum.value,
            positive_spans: self.layout.positive_spans.clone(),
            negative_spans: self.layout.negative_spans.clone(),
            positive_buckets: self.pos.clone(),
            negative_buckets: self.neg.clone(),
            custom_values: self.layout.custom_values.clone(),
        }
    }
}

impl Iterator for HistogramIterator<'_> {
    type Item = (i64, Histogram);

    fn next(&mut self) -> Option<(i64, Histogram)> {
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

/// Decodes every sample of an integer histogram chunk, or says why it cannot.
pub fn decode_histogram(chunk: &[u8]) -> Result<Vec<(i64, Histogram)>, Error> {
    let mut it = HistogramIterator::new(chunk);
    let out: Vec<(i64, Histogram)> = it.by_ref().collect();
    match it.err() {
        Some(e) => Err(Error::chunk("decode histogram chunk", e)),
        None => Ok(out),
    }
}

#[cfg(test)]
#[path = "histogram_tests.rs"]
mod tests;
