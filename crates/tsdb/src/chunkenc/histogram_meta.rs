//! What the integer and float histogram chunks share: the 3-byte header with its counter-reset bits, the layout
//! written once per chunk (zero threshold, schema, positive and negative spans, custom bounds for schema -53),
//! and the bucket-set arithmetic that decides whether a histogram fits a chunk's layout.

use model::{BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint};

use super::bstream::{BitReader, BitWriter};
use super::varbit::{put_varbit_int, put_varbit_uint, read_varbit_int, read_varbit_uint};

/// Bytes before the bit stream: the big-endian sample count and the flags byte.
pub(crate) const HEADER_SIZE: usize = 3;

/// The counter-reset bits of a histogram chunk: the top two bits of its third byte, saying how the chunk's first
/// sample relates to the previous chunk of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CounterResetHeader {
    /// Not known (`00`).
    #[default]
    Unknown,
    /// The chunk was cut because of a counter reset (`10`).
    CounterReset,
    /// The chunk continues the previous one without a reset (`01`).
    NotCounterReset,
    /// The chunk holds gauge histograms (`11`).
    Gauge,
}

impl CounterResetHeader {
    const MASK: u8 = 0b1100_0000;

    /// The header bits as they sit in the flags byte.
    pub fn bits(self) -> u8 {
        match self {
            CounterResetHeader::Unknown => 0,
            CounterResetHeader::CounterReset => 0b1000_0000,
            CounterResetHeader::NotCounterReset => 0b0100_0000,
            CounterResetHeader::Gauge => 0b1100_0000,
        }
    }

    /// The header of a flags byte (the other bits are ignored).
    pub fn from_flags(b: u8) -> CounterResetHeader {
        match b & Self::MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }

    /// The hint a sample read from a chunk with this header gets. `position` is 0 for the chunk's first sample.
    /// As in Prometheus 3, only gauge chunks and samples after the first say anything: the chunk before may be
    /// gone or may have been written later (backfill, out of order), so the first sample's hint is unknown even
    /// when the header records a reset. (Prometheus 2.42 still reported `CounterReset` there.)
    pub fn hint_at(self, position: usize) -> CounterResetHint {
        match self {
            CounterResetHeader::Gauge => CounterResetHint::Gauge,
            _ if position > 0 => CounterResetHint::NotCounterReset,
            _ => CounterResetHint::Unknown,
        }
    }
}

/// Sets the counter-reset bits of the flags byte of `chunk` (at least [`HEADER_SIZE`] bytes long).
pub(crate) fn set_header(chunk: &mut [u8], h: CounterResetHeader) {
    if let Some(b) = chunk.get_mut(2) {
        *b = (*b & !CounterResetHeader::MASK) | h.bits();
    }
}

/// Whether a chunk may hold `schema`: exponential schemas -4..=8 and custom buckets.
pub(crate) fn schema_supported(schema: i32) -> bool {
    (-4..=8).contains(&schema) || schema == CUSTOM_BUCKETS_SCHEMA
}

/// What a histogram chunk fixes for all its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Layout {
    pub(crate) schema: i32,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_spans: Vec<BucketSpan>,
    pub(crate) negative_spans: Vec<BucketSpan>,
    /// Written only for the custom-buckets schema.
    pub(crate) custom_values: Vec<f64>,
}

impl Layout {
    /// Whether a histogram with these parameters fits the layout (spans aside): same schema and zero threshold,
    /// and for custom buckets the same bounds.
    pub(crate) fn fits(&self, schema: i32, zero_threshold: f64, custom_values: &[f64]) -> bool {
        schema == self.schema
            && zero_threshold == self.zero_threshold
            && (schema != CUSTOM_BUCKETS_SCHEMA || custom_values == self.custom_values.as_slice())
    }

    pub(crate) fn write(&self, w: &mut BitWriter) {
        put_zero_threshold(w, self.zero_threshold);
        put_varbit_int(w, i64::from(self.schema));
        put_spans(w, &self.positive_spans);
        put_spans(w, &self.negative_spans);
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            put_varbit_uint(w, self.custom_values.len() as u64);
            for v in &self.custom_values {
                put_custom_bound(w, *v);
            }
        }
    }

    pub(crate) fn read(r: &mut BitReader<'_>) -> Result<Layout, String> {
        let zero_threshold = read_zero_threshold(r).ok_or("layout ends in the zero threshold")?;
        let schema = read_varbit_int(r).ok_or("layout ends in the schema")?;
        let schema = i32::try_from(schema)
            .ok()
            .filter(|s| schema_supported(*s))
            .ok_or_else(|| format!("unsupported histogram schema {schema}"))?;
        let positive_spans = read_spans(r)?;
        let negative_spans = read_spans(r)?;
        let mut custom_values = Vec::new();
        if schema == CUSTOM_BUCKETS_SCHEMA {
            let n = read_varbit_uint(r).ok_or("layout ends in the custom bounds")?;
            if n > r.remaining_bits() as u64 {
                return Err(format!("{n} custom bounds cannot fit the chunk"));
            }
            for _ in 0..n {
                custom_values.push(read_custom_bound(r).ok_or("layout ends in the custom bounds")?);
            }
        }
        let layout =
            Layout { schema, zero_threshold, positive_spans, negative_spans, custom_values };
        // Every bucket takes at least one bit per sample.
        let buckets = bucket_count(&layout.positive_spans) + bucket_count(&layout.negative_spans);
        if buckets > r.remaining_bits() as u64 {
            return Err(format!("{buckets} buckets cannot fit the chunk"));
        }
        Ok(layout)
    }
}

fn put_spans(w: &mut BitWriter, spans: &[BucketSpan]) {
    put_varbit_uint(w, spans.len() as u64);
    for s in spans {
        put_varbit_uint(w, u64::from(s.length));
        put_varbit_int(w, i64::from(s.offset));
    }
}

fn read_spans(r: &mut BitReader<'_>) -> Result<Vec<BucketSpan>, String> {
    let n = read_varbit_uint(r).ok_or("layout ends in the spans")?;
    if n > r.remaining_bits() as u64 / 2 {
        return Err(format!("{n} spans cannot fit the chunk"));
    }
    let mut spans = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let length = read_varbit_uint(r).ok_or("layout ends in a span")?;
        let offset = read_varbit_int(r).ok_or("layout ends in a span")?;
        let (Ok(length), Ok(offset)) = (u32::try_from(length), i32::try_from(offset)) else {
            return Err(format!("span length {length} or offset {offset} out of range"));
        };
        spans.push(BucketSpan { offset, length });
    }
    Ok(spans)
}

/// The zero threshold: 0 as one zero byte, a power of two in 2^-243..=2^10 as one byte holding its exponent
/// plus 243 (in Go's `Frexp` sense), anything else as 0xff followed by the 64 float bits.
fn put_zero_threshold(w: &mut BitWriter, v: f64) {
    if v == 0.0 {
        w.write_byte(0);
        return;
    }
    match frexp_half_exponent(v) {
        Some(exp) if (-242..=11).contains(&exp) => w.write_byte((exp + 243) as u8),
        _ => {
            w.write_byte(0xff);
            w.write_bits(v.to_bits(), 64);
        }
    }
}

/// `e` when `v` is exactly `0.5 * 2^e` (a positive power of two, normal), else `None`.
fn frexp_half_exponent(v: f64) -> Option<i32> {
    let bits = v.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1u64 << 52) - 1);
    (v > 0.0 && v.is_finite() && exp_field != 0 && mantissa == 0).then_some(exp_field - 1022)
}

fn read_zero_threshold(r: &mut BitReader<'_>) -> Option<f64> {
    match r.read_byte()? {
        0 => Some(0.0),
        0xff => r.read_bits(64).map(f64::from_bits),
        b => Some(0.5 * 2f64.powi(i32::from(b) - 243)),
    }
}

/// A custom bucket bound: `x * 1000 + 1` as `<varbit_uint>` when `x * 1000` is a whole number in
/// 0..=33554430, else a zero bit and the 64 float bits.
fn put_custom_bound(w: &mut BitWriter, x: f64) {
    let scaled = x * 1000.0;
    let whole = (x * 1000.0).round() as u64 as f64 / 1000.0 == x;
    if !(0.0..=33_554_430.0).contains(&scaled) || !whole {
        w.write_bit(false);
        w.write_bits(x.to_bits(), 64);
        return;
    }
    put_varbit_uint(w, scaled.round() as u64 + 1);
}

fn read_custom_bound(r: &mut BitReader<'_>) -> Option<f64> {
    match read_varbit_uint(r)? {
        0 => r.read_bits(64).map(f64::from_bits),
        v => Some((v - 1) as f64 / 1000.0),
    }
}

/// Number of buckets the spans describe.
pub(crate) fn bucket_count(spans: &[BucketSpan]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// The absolute bucket indexes the spans describe, in order.
pub(crate) fn bucket_indexes(spans: &[BucketSpan]) -> Vec<i64> {
    let mut out = Vec::with_capacity(bucket_count(spans) as usize);
    let mut next = 0i64;
    for s in spans {
        next += i64::from(s.offset);
        for _ in 0..s.length {
            out.push(next);
            next += 1;
        }
    }
    out
}

/// The shortest spans covering sorted, distinct `indexes`.
pub(crate) fn spans_of(indexes: &[i64]) -> Vec<BucketSpan> {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut next: Option<i64> = None;
    for &i in indexes {
        match next {
            Some(n) if n == i => {
                if let Some(last) = spans.last_mut() {
                    last.length += 1;
                }
            }
            Some(n) => spans.push(BucketSpan { offset: (i - n) as i32, length: 1 }),
            None => spans.push(BucketSpan { offset: i as i32, length: 1 }),
        }
        next = Some(i + 1);
    }
    spans
}

/// The sorted union of two sorted index lists.
pub(crate) fn union(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
                *x
            }
            (Some(x), Some(y)) if x < y => {
                i += 1;
                *x
            }
            (Some(x), None) => {
                i += 1;
                *x
            }
            (_, Some(y)) => {
                j += 1;
                *y
            }
            (None, None) => break,
        };
        out.push(next);
    }
    out
}

/// `values` (absolute counts at `from`) placed at their indexes in `to`, a superset of `from`; zero elsewhere.
pub(crate) fn expand<T: Copy + Default>(from: &[i64], values: &[T], to: &[i64]) -> Vec<T> {
    let mut out = Vec::with_capacity(to.len());
    let mut k = 0;
    for idx in to {
        if from.get(k) == Some(idx) {
            out.push(values.get(k).copied().unwrap_or_default());
            k += 1;
        } else {
            out.push(T::default());
        }
    }
    out
}

/// Whether a counter histogram with absolute bucket counts `new` at `new_idx` can follow one with `old` at
/// `old_idx` without a counter reset: no shared bucket decreased, and every bucket the new histogram lacks was
/// empty.
pub(crate) fn buckets_continue<T: Copy + Default + PartialOrd>(
    old_idx: &[i64],
    old: &[T],
    new_idx: &[i64],
    new: &[T],
) -> bool {
    let zero = T::default();
    let mut j = 0;
    for (i, idx) in old_idx.iter().enumerate() {
        let count = old.get(i).copied().unwrap_or_default();
        while new_idx.get(j).is_some_and(|n| n < idx) {
            j += 1;
        }
        if new_idx.get(j) == Some(idx) {
            if count > new.get(j).copied().unwrap_or_default() {
                return false;
            }
        } else if count != zero {
            return false;
        }
    }
    true
}

/// How a sample's buckets of one sign join a chunk's: the union of both index sets, whether the sample brings
/// buckets the chunk lacks (`forward`: the chunk must be recoded) and whether it lacks some of the chunk's
/// (`backward`: the sample gets empty buckets there).
pub(crate) struct Placement {
    pub(crate) indexes: Vec<i64>,
    pub(crate) forward: bool,
    pub(crate) backward: bool,
}

pub(crate) fn placement(chunk: &[BucketSpan], sample: &[BucketSpan]) -> Placement {
    let (a, b) = (bucket_indexes(chunk), bucket_indexes(sample));
    let indexes = union(&a, &b);
    Placement { forward: indexes.len() != a.len(), backward: indexes.len() != b.len(), indexes }
}

/// The spans a chunk is recoded with when a sample brings new buckets, chosen as Prometheus does: the sample's
/// own spans, or the canonical spans of the union when `canonical` (for counter histograms: this sign has
/// buckets the sample lacks; for gauge histograms: either sign has).
pub(crate) fn recode_spans(
    p: &Placement,
    sample: &[BucketSpan],
    canonical: bool,
) -> Vec<BucketSpan> {
    if canonical { spans_of(&p.indexes) } else { sample.to_vec() }
}

/// Absolute counts from bucket deltas.
pub(crate) fn absolute(deltas: &[i64]) -> Vec<i64> {
    let mut cur = 0i64;
    deltas
        .iter()
        .map(|d| {
            cur = cur.wrapping_add(*d);
            cur
        })
        .collect()
}

/// Bucket deltas from absolute counts.
pub(crate) fn deltas(counts: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    counts
        .iter()
        .map(|c| {
            let d = c.wrapping_sub(prev);
            prev = *c;
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
        pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
    }

    #[test]
    fn layout_round_trips_with_every_threshold_form_and_custom_bounds() {
        for zt in [0.0, 1e-128, 2f64.powi(-243), 2f64.powi(10), 2f64.powi(11), 0.001, 3.0] {
            let l = Layout {
                schema: CUSTOM_BUCKETS_SCHEMA,
                zero_threshold: zt,
                positive_spans: sp(&[(0, 3), (2, 0), (-1, 4)]),
                negative_spans: sp(&[]),
                custom_values: vec![0.005, 0.1, 1.0, 2.5, 33_554.43, 1e9, -3.0, f64::INFINITY],
            };
            let mut w = BitWriter::from_bytes(Vec::new());
            l.write(&mut w);
            w.write_bits(0, 16);
            let got = Layout::read(&mut BitReader::new(&w.bytes, 0)).expect("layout");
            assert_eq!(got, l, "zero threshold {zt}");
        }
    }

    #[test]
    fn zero_threshold_byte_forms_match_prometheus() {
        // The written bits only: like Go's bstream, a whole-byte write leaves an empty byte allocated after it.
        let enc = |v: f64| {
            let mut w = BitWriter::from_bytes(Vec::new());
            put_zero_threshold(&mut w, v);
            let n = w.bit_len().div_ceil(8);
            w.bytes[..n].to_vec()
        };
        assert_eq!(enc(0.0), [0]);
        // Prometheus's default threshold 2^-128 is Frexp(0.5, -127): byte 116.
        assert_eq!(enc(2f64.powi(-128)), [116]);
        assert_eq!(enc(1.0), [244]);
        assert_eq!(enc(1024.0), [254]);
        assert_eq!(enc(2048.0).len(), 9);
        assert_eq!(enc(0.001)[0], 0xff);
    }

    #[test]
    fn placement_follows_prometheus_span_choice() {
        let sample = sp(&[(0, 1), (0, 2)]);
        let p = placement(&sp(&[(0, 2)]), &sample);
        assert!(p.forward && !p.backward);
        assert_eq!(recode_spans(&p, &sample, false), sample);
        let p = placement(&sp(&[(0, 2)]), &sp(&[(1, 1), (1, 1)]));
        assert_eq!(p.indexes, vec![0, 1, 3]);
        assert!(p.forward && p.backward);
        assert_eq!(recode_spans(&p, &sample, true), sp(&[(0, 2), (1, 1)]));
        let p = placement(&sp(&[(0, 3)]), &sp(&[(1, 1)]));
        assert!(!p.forward && p.backward);
        assert_eq!(expand(&[1], &[7i64], &p.indexes), vec![0, 7, 0]);
        assert!(buckets_continue(&[0, 1, 2], &[0i64, 3, 0], &[1], &[3]));
        assert!(!buckets_continue(&[0, 1, 2], &[1i64, 3, 0], &[1], &[3]));
        assert!(!buckets_continue(&[1], &[4i64], &[1], &[3]));
    }
}
