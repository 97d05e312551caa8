//! `load_with_nhcb`: classic histogram series (`_bucket{le}`, `_count`, `_sum`) converted into native histograms
//! with custom buckets, loaded next to the originals.

use std::collections::BTreeMap;

use model::{
    BucketSpan, CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Labels, LabelsBuilder, METRIC_NAME_LABEL,
};
use promql_syntax::SequenceValue;

#[derive(Default)]
struct Temp {
    buckets: BTreeMap<u64, (f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
}

fn base(labels: &Labels, name: &str) -> Labels {
    let mut b = LabelsBuilder::new();
    b.reset(labels);
    b.set(METRIC_NAME_LABEL, name);
    b.del(model::BUCKET_LABEL);
    b.labels()
}

/// Converts the classic histograms among `series` into NHCB series, sample by sample.
pub(crate) fn convert(
    series: &[(Labels, Vec<SequenceValue>)],
    gap: i64,
) -> Vec<(Labels, Vec<(i64, FloatHistogram)>)> {
    let mut hists: BTreeMap<Labels, BTreeMap<i64, Temp>> = BTreeMap::new();
    for (labels, vals) in series {
        let name = labels.metric_name();
        let (kind, base_name) = if let Some(b) = name.strip_suffix("_bucket") {
            (0, b)
        } else if let Some(b) = name.strip_suffix("_count") {
            (1, b)
        } else if let Some(b) = name.strip_suffix("_sum") {
            (2, b)
        } else {
            continue;
        };
        let le = if kind == 0 {
            match promql_syntax::parse_number(labels.get(model::BUCKET_LABEL)) {
                Some(v) if !v.is_nan() => Some(v),
                _ => continue,
            }
        } else {
            None
        };
        let key = base(labels, base_name);
        let per_ts = hists.entry(key).or_default();
        for (i, v) in vals.iter().enumerate() {
            let SequenceValue::Float(f) = v else { continue };
            let t = i as i64 * gap;
            let temp = per_ts.entry(t).or_default();
            match (kind, le) {
                (0, Some(le)) => {
                    temp.buckets.insert(le.to_bits() ^ sign_flip(le), (le, *f));
                }
                (1, _) => temp.count = Some(*f),
                _ => temp.sum = Some(*f),
            }
        }
    }
    let mut out = Vec::new();
    for (labels, per_ts) in hists {
        let mut points = Vec::new();
        for (t, temp) in per_ts {
            let mut bounds: Vec<(f64, f64)> = temp.buckets.values().copied().collect();
            bounds.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            if bounds.is_empty() {
                continue;
            }
            let mut custom = Vec::new();
            let mut counts = Vec::new();
            let mut prev = 0.0;
            for (le, c) in &bounds {
                if *le != f64::INFINITY {
                    custom.push(*le);
                }
                counts.push(c - prev);
                prev = *c;
            }
            let count = temp.count.unwrap_or(prev);
            let h = FloatHistogram {
                schema: CUSTOM_BUCKETS_SCHEMA,
                count,
                sum: temp.sum.unwrap_or(0.0),
                positive_spans: vec![BucketSpan { offset: 0, length: counts.len() as u32 }],
                positive_buckets: counts,
                custom_values: custom,
                ..Default::default()
            };
            points.push((t, h));
        }
        if !points.is_empty() {
            out.push((labels, points));
        }
    }
    out
}

/// Makes the bit pattern of floats sort like their values (for the bucket map).
fn sign_flip(v: f64) -> u64 {
    if v.is_sign_negative() { u64::MAX } else { 1 << 63 }
}
