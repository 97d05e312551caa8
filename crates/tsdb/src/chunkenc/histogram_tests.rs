//! Tests of both histogram chunks: property round trips with a stable layout, Prometheus's cutting and recoding
//! rules, stale markers, custom buckets, and damaged bytes.

use model::{BucketSpan, CUSTOM_BUCKETS_SCHEMA, CounterResetHint as H, FloatHistogram, Histogram};
use proptest::prelude::*;

use super::*;
use crate::chunkenc::{FloatHistogramAppender, FloatHistogramIterator, decode_float_histogram};

fn spans(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
    pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
}

/// An integer histogram with absolute positive counts `pos` over `sp`, no negative buckets.
fn hist(sp: &[(i32, u32)], pos: &[i64], zero: u64, hint: H) -> Histogram {
    let buckets = super::super::histogram_meta::deltas(pos);
    Histogram {
        counter_reset_hint: hint,
        schema: 1,
        zero_threshold: 2f64.powi(-128),
        zero_count: zero,
        count: zero + pos.iter().sum::<i64>() as u64,
        sum: pos.iter().sum::<i64>() as f64 * 1.5,
        positive_spans: spans(sp),
        positive_buckets: buckets,
        ..Histogram::default()
    }
}

fn appended<A>(r: Result<HistogramAppend<A>, crate::Error>) -> bool {
    match r.expect("append") {
        HistogramAppend::Appended { recoded } => recoded,
        HistogramAppend::NewChunk(_) => panic!("unexpected new chunk"),
    }
}

fn new_chunk(r: Result<HistogramAppend<HistogramAppender>, crate::Error>) -> HistogramAppender {
    match r.expect("append") {
        HistogramAppend::NewChunk(a) => a,
        HistogramAppend::Appended { .. } => panic!("expected a new chunk"),
    }
}

fn span_strategy() -> impl Strategy<Value = Vec<BucketSpan>> {
    proptest::collection::vec((0i32..4, 0u32..4), 0..4).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (o, l))| BucketSpan { offset: if i == 0 { o - 2 } else { o }, length: l })
            .collect()
    })
}

fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    (any::<i32>(), proptest::collection::vec(1i64..100_000_000, 1..150)).prop_map(|(start, d)| {
        let mut t = i64::from(start);
        d.into_iter()
            .map(|x| {
                t += x;
                t
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Counter histograms with growing counts and a stable layout stay in one chunk and read back equal, the
    /// first unknown and the rest "not a counter reset".
    #[test]
    fn counter_histograms_round_trip(
        schema in -4i32..=8,
        zt in prop_oneof![Just(0.0), Just(2f64.powi(-128)), Just(0.001)],
        pos in span_strategy(),
        neg in span_strategy(),
        ts in timestamps(),
        seed in any::<u64>(),
    ) {
        let (np, nn) = (bucket_count(&pos) as usize, bucket_count(&neg) as usize);
        let mut rng = seed;
        let mut next = |max: u64| { rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (rng >> 33) % max };
        let (mut p, mut n, mut z) = (vec![0i64; np], vec![0i64; nn], 0u64);
        let mut want = Vec::new();
        let mut a = HistogramAppender::new();
        for (i, t) in ts.iter().enumerate() {
            for c in p.iter_mut().chain(n.iter_mut()) {
                let bits = next(40) + 1;
                let keep = next(3) != 0;
                *c += next(1 << bits) as i64 * i64::from(keep);
            }
            z += next(1000);
            let h = Histogram {
                counter_reset_hint: H::Unknown,
                schema, zero_threshold: zt, zero_count: z,
                count: z + p.iter().chain(&n).sum::<i64>() as u64,
                sum: f64::from_bits(next(u64::MAX)) .abs().min(1e300) * (i as f64),
                positive_spans: pos.clone(), negative_spans: neg.clone(),
                positive_buckets: super::super::histogram_meta::deltas(&p),
                negative_buckets: super::super::histogram_meta::deltas(&n),
                custom_values: Vec::new(),
            };
            prop_assert!(!appended(a.append(*t, &h)));
            let mut w = h.clone();
            w.counter_reset_hint = if i == 0 { H::Unknown } else { H::NotCounterReset };
            want.push((*t, w));
        }
        let got = decode_histogram(a.bytes()).expect("decode");
        prop_assert_eq!(got, want);
    }

    /// Gauge float histograms with arbitrary values and a stable layout read back equal, all hinted as gauges.
    #[test]
    fn gauge_float_histograms_round_trip(
        pos in span_strategy(),
        neg in span_strategy(),
        ts in timestamps(),
        values in proptest::collection::vec(-1e12f64..1e12, 64),
        custom in any::<bool>(),
    ) {
        let (np, nn) = (bucket_count(&pos) as usize, bucket_count(&neg) as usize);
        let mut a = FloatHistogramAppender::new();
        let mut want = Vec::new();
        for (i, t) in ts.iter().enumerate() {
            let v = |k: usize| values[(i * 7 + k) % values.len()];
            let h = FloatHistogram {
                counter_reset_hint: H::Gauge,
                schema: if custom { CUSTOM_BUCKETS_SCHEMA } else { 3 },
                zero_threshold: if custom { 0.0 } else { 1e-9 },
                zero_count: v(1),
                count: v(2),
                sum: v(3),
                positive_spans: pos.clone(),
                negative_spans: if custom { Vec::new() } else { neg.clone() },
                positive_buckets: (0..np).map(|k| v(k + 4)).collect(),
                negative_buckets: if custom { Vec::new() } else { (0..nn).map(|k| v(k + 9)).collect() },
                custom_values: if custom { vec![0.1, 0.25, 1.0, 2.5, 10.0, 1e9, 1.0000001] } else { Vec::new() },
            };
            prop_assert!(!appended(a.append(*t, &h)));
            want.push((*t, h));
        }
        prop_assert_eq!(decode_float_histogram(a.bytes()).expect("decode"), want);
    }
}

#[test]
fn counter_reset_cuts_a_chunk_with_the_reset_header() {
    let mut a = HistogramAppender::new();
    assert!(!appended(a.append(1000, &hist(&[(0, 2)], &[3, 4], 1, H::Unknown))));
    assert!(!appended(a.append(2000, &hist(&[(0, 2)], &[5, 4], 1, H::Unknown))));
    // A bucket went down.
    let b = new_chunk(a.append(3000, &hist(&[(0, 2)], &[5, 3], 1, H::Unknown)));
    assert_eq!(b.counter_reset_header(), CounterResetHeader::CounterReset);
    assert_eq!(b.count(), 1);
    assert_eq!(a.count(), 2);
    // The zero bucket went down.
    let c = new_chunk(a.append(3000, &hist(&[(0, 2)], &[5, 4], 0, H::Unknown)));
    assert_eq!(c.counter_reset_header(), CounterResetHeader::CounterReset);
    // A schema change is not known to be a reset.
    let mut h = hist(&[(0, 2)], &[5, 4], 1, H::Unknown);
    h.schema = 0;
    assert_eq!(new_chunk(a.append(3000, &h)).counter_reset_header(), CounterResetHeader::Unknown);
    // The producer's hint is trusted.
    let r = new_chunk(a.append(3000, &hist(&[(0, 2)], &[9, 9], 9, H::CounterReset)));
    assert_eq!(r.counter_reset_header(), CounterResetHeader::CounterReset);
    // A gauge after counters starts a gauge chunk, and a counter after gauges a "not reset" chunk.
    let mut g = new_chunk(a.append(3000, &hist(&[(0, 2)], &[9, 9], 9, H::Gauge)));
    assert_eq!(g.counter_reset_header(), CounterResetHeader::Gauge);
    let c = new_chunk(g.append(4000, &hist(&[(0, 2)], &[9, 9], 9, H::Unknown)));
    assert_eq!(c.counter_reset_header(), CounterResetHeader::NotCounterReset);
    // The first sample of a chunk reads as unknown whatever its header (Prometheus 3).
    let got = decode_histogram(b.bytes()).expect("decode");
    assert_eq!(got[0].1.counter_reset_hint, H::Unknown);
    // A chunk cut for size after `a` records whether the sample continues it.
    let next =
        HistogramAppender::start_after(Some(&a), 5000, &hist(&[(0, 2)], &[6, 4], 1, H::Unknown))
            .expect("start");
    assert_eq!(next.counter_reset_header(), CounterResetHeader::NotCounterReset);
}

#[test]
fn new_buckets_recode_the_chunk_and_missing_empty_buckets_do_not() {
    let mut a = HistogramAppender::new();
    assert!(!appended(a.append(1, &hist(&[(0, 2)], &[0, 4], 0, H::Unknown))));
    assert!(!appended(a.append(2, &hist(&[(0, 2)], &[0, 5], 0, H::Unknown))));
    // Bucket 3 appears: the chunk takes the sample's spans.
    assert!(appended(a.append(3, &hist(&[(0, 2), (1, 1)], &[1, 5, 2], 0, H::Unknown))));
    // Bucket 0 disappears but the chunk's last value for it was 1: a reset.
    let _ = new_chunk(a.append(4, &hist(&[(1, 1), (1, 1)], &[5, 2], 0, H::Unknown)));
    // Bucket 3 disappears; it is not empty, so reset again; bucket 1 only, grown: fine only with 0 and 3 empty.
    let mut b = HistogramAppender::new();
    assert!(!appended(b.append(1, &hist(&[(0, 3)], &[0, 4, 0], 0, H::Unknown))));
    assert!(!appended(b.append(2, &hist(&[(1, 1)], &[6], 0, H::Unknown))));
    let got = decode_histogram(a.bytes()).expect("decode");
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1.positive_spans, spans(&[(0, 2), (1, 1)]));
    assert_eq!(got[0].1.positive_buckets, vec![0, 4, -4]);
    assert_eq!(got[2].1, hist(&[(0, 2), (1, 1)], &[1, 5, 2], 0, H::NotCounterReset));
    let got = decode_histogram(b.bytes()).expect("decode");
    assert_eq!(got[1].1, hist(&[(0, 3)], &[0, 6, 0], 0, H::NotCounterReset));
}

#[test]
fn float_chunk_recodes_and_cuts_like_prometheus() {
    let f = |sp: &[(i32, u32)], pos: &[i64], hint| hist(sp, pos, 0, hint).to_float();
    let mut a = FloatHistogramAppender::new();
    assert!(!appended(a.append(1, &f(&[(0, 1)], &[2], H::Unknown))));
    assert!(appended(a.append(2, &f(&[(0, 1), (2, 1)], &[3, 1], H::Unknown))));
    let got: Vec<_> = FloatHistogramIterator::new(a.bytes()).collect();
    assert_eq!(got[0].1.positive_buckets, vec![2.0, 0.0]);
    assert_eq!(got[1].1, f(&[(0, 1), (2, 1)], &[3, 1], H::NotCounterReset));
    let b = match a.append(3, &f(&[(0, 1), (2, 1)], &[1, 1], H::Unknown)).expect("append") {
        HistogramAppend::NewChunk(b) => b,
        HistogramAppend::Appended { .. } => panic!("expected a reset"),
    };
    assert_eq!(b.counter_reset_header(), CounterResetHeader::CounterReset);
    let mut s = f(&[(0, 1)], &[9], H::Unknown);
    s.schema = 2;
    let c = match a.append(3, &s).expect("append") {
        HistogramAppend::NewChunk(c) => c,
        HistogramAppend::Appended { .. } => panic!("expected a new chunk"),
    };
    assert_eq!(c.counter_reset_header(), CounterResetHeader::Unknown);
}

#[test]
fn stale_markers_store_no_buckets_and_end_the_chunk() {
    let stale = Histogram { sum: model::stale_nan(), ..Histogram::default() };
    let mut a = HistogramAppender::new();
    assert!(!appended(a.append(1, &hist(&[(0, 2)], &[1, 2], 0, H::Unknown))));
    assert!(!appended(a.append(2, &stale)));
    let got = decode_histogram(a.bytes()).expect("decode");
    assert!(model::is_stale_nan(got[1].1.sum) && got[1].1.positive_buckets.is_empty());
    let b = new_chunk(a.append(3, &hist(&[(0, 2)], &[1, 2], 0, H::Unknown)));
    assert_eq!(b.counter_reset_header(), CounterResetHeader::Unknown);
    let mut fa = FloatHistogramAppender::new();
    assert!(!appended(fa.append(1, &hist(&[(0, 2)], &[1, 2], 0, H::Unknown).to_float())));
    assert!(!appended(fa.append(2, &stale.to_float())));
    let got = decode_float_histogram(fa.bytes()).expect("decode");
    assert!(model::is_stale_nan(got[1].1.sum));
}

#[test]
fn custom_bounds_are_part_of_the_layout() {
    let nhcb = |bounds: Vec<f64>, counts: &[i64]| {
        let mut h = hist(&[(0, counts.len() as u32)], counts, 0, H::Unknown);
        h.schema = CUSTOM_BUCKETS_SCHEMA;
        h.zero_threshold = 0.0;
        h.custom_values = bounds;
        h
    };
    let mut a = HistogramAppender::new();
    assert!(!appended(a.append(1, &nhcb(vec![0.5, 1.0, 123.456], &[1, 2, 3, 4]))));
    assert!(!appended(a.append(2, &nhcb(vec![0.5, 1.0, 123.456], &[2, 2, 3, 4]))));
    let got = decode_histogram(a.bytes()).expect("decode");
    assert_eq!(got[1].1.custom_values, vec![0.5, 1.0, 123.456]);
    let b = new_chunk(a.append(3, &nhcb(vec![0.5, 2.0, 123.456], &[2, 2, 3, 4])));
    assert_eq!(b.counter_reset_header(), CounterResetHeader::CounterReset);
}

#[test]
fn invalid_histograms_are_refused() {
    let mut h = hist(&[(0, 2)], &[1, 2], 0, H::Unknown);
    h.positive_buckets.pop();
    assert!(HistogramAppender::new().append(1, &h).is_err());
    let mut h = hist(&[(0, 2)], &[1, 2], 0, H::Unknown);
    h.schema = 9;
    assert!(HistogramAppender::new().append(1, &h).is_err());
}

/// Every truncation of a chunk is an error, and no garbling panics.
#[test]
fn damaged_chunks_give_errors_not_panics() {
    let mut a = HistogramAppender::new();
    let mut fa = FloatHistogramAppender::new();
    for i in 0..40i64 {
        let h = hist(&[(-3, 2), (4, 3)], &[i, 2 * i, i * i, 7 * i, 1], i as u64, H::Unknown);
        assert!(!appended(a.append(i * 15_000 + i % 3, &h)));
        assert!(!appended(fa.append(i * 15_000, &h.to_float())));
    }
    for bytes in [a.bytes().to_vec(), fa.bytes().to_vec()] {
        let float = bytes == fa.bytes();
        let decode = |b: &[u8]| {
            if float {
                decode_float_histogram(b).map(|v| v.len())
            } else {
                decode_histogram(b).map(|v| v.len())
            }
        };
        assert_eq!(decode(&bytes).expect("intact chunk"), 40);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "truncated to {cut} bytes");
        }
        for i in 0..bytes.len() {
            for x in [0x01u8, 0x80, 0xff, 0x3c] {
                let mut g = bytes.clone();
                g[i] ^= x;
                let _ = decode(&g);
            }
        }
    }
    // Layouts claiming absurd sizes are refused before anything is allocated.
    assert!(
        decode_histogram(&[
            0,
            1,
            0,
            0,
            0b1111_1111,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff
        ])
        .is_err()
    );
}
