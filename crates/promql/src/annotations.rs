//! Warnings and infos attached to query results, rendered as Prometheus renders them (with the position of the
//! expression they are about).

use promql_syntax::PosRange;

use crate::aggregate::go_g;

/// An annotation's content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Anno {
    InvalidQuantile(f64),
    InvalidRatio(f64, f64),
    BadBucketLabel(String, String),
    MixedFloatsHistograms(String),
    MixedFloatsHistogramsAgg,
    MixedClassicNative(String),
    NotCounter(String),
    NotGauge(String),
    MixedExponentialCustom(String),
    PossibleNonCounter(String),
    ForcedMonotonicity(String),
    IncompatibleTypesInBinOp(&'static str, &'static str, &'static str),
    HistogramIgnoredInAggregation(&'static str),
    HistogramIgnoredInMixedRange(String),
    IncompatibleBucketLayout(&'static str),
    SortInRangeQuery,
    HistogramCounterResetCollision(&'static str),
    MismatchedCustomBuckets(&'static str),
    QuantileNaNResult(String),
    QuantileNaNSkew(String),
    FractionNaNs(String),
    /// Counted: one per series and step, merged per metric name.
    StartTimeOverlap(String),
}

impl Anno {
    fn is_warning(&self) -> bool {
        !matches!(
            self,
            Anno::PossibleNonCounter(_)
                | Anno::ForcedMonotonicity(_)
                | Anno::IncompatibleTypesInBinOp(..)
                | Anno::HistogramIgnoredInAggregation(_)
                | Anno::HistogramIgnoredInMixedRange(_)
                | Anno::MismatchedCustomBuckets(_)
                | Anno::QuantileNaNResult(_)
                | Anno::QuantileNaNSkew(_)
                | Anno::FractionNaNs(_)
        )
    }

    fn message(&self) -> String {
        let name =
            |m: &str| if m.is_empty() { String::new() } else { format!(" for metric name {m:?}") };
        match self {
            Anno::InvalidQuantile(q) => {
                format!("PromQL warning: quantile value should be between 0 and 1, got {}", go_g(*q))
            }
            Anno::InvalidRatio(q, to) => format!(
                "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                go_g(*q),
                go_g(*to)
            ),
            Anno::BadBucketLabel(label, m) => {
                format!("PromQL warning: bucket label \"le\" is missing or has a malformed value of {label:?}{}", name(m))
            }
            Anno::MixedFloatsHistograms(m) => {
                format!("PromQL warning: encountered a mix of histograms and floats for metric name {m:?}")
            }
            Anno::MixedFloatsHistogramsAgg => {
                "PromQL warning: encountered a mix of histograms and floats for aggregation".into()
            }
            Anno::MixedClassicNative(m) => {
                format!("PromQL warning: vector contains a mix of classic and native histograms{}", name(m))
            }
            Anno::NotCounter(m) => format!("PromQL warning: this native histogram metric is not a counter: {m:?}"),
            Anno::NotGauge(m) => format!("PromQL warning: this native histogram metric is not a gauge: {m:?}"),
            Anno::MixedExponentialCustom(m) => format!(
                "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {m:?}"
            ),
            Anno::PossibleNonCounter(m) => format!(
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {m:?}"
            ),
            Anno::ForcedMonotonicity(m) => format!(
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){}",
                name(m)
            ),
            Anno::IncompatibleTypesInBinOp(op, l, r) => format!(
                "PromQL info: incompatible sample types encountered for binary operator {op:?}: {l} {op} {r}"
            ),
            Anno::HistogramIgnoredInAggregation(a) => format!("PromQL info: ignored histogram in {a} aggregation"),
            Anno::HistogramIgnoredInMixedRange(m) => format!(
                "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {m:?}"
            ),
            Anno::IncompatibleBucketLayout(op) => {
                format!("PromQL warning: incompatible bucket layout encountered for binary operator {op}")
            }
            Anno::SortInRangeQuery => {
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels"
                    .into()
            }
            Anno::HistogramCounterResetCollision(op) => {
                format!("PromQL warning: conflicting counter resets during histogram {op}")
            }
            Anno::QuantileNaNResult(m) => format!(
                "PromQL info: input to histogram_quantile has NaN observations, result is NaN{}",
                name(m)
            ),
            Anno::QuantileNaNSkew(m) => format!(
                "PromQL info: input to histogram_quantile has NaN observations, result is skewed higher{}",
                name(m)
            ),
            Anno::FractionNaNs(m) => format!(
                "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions{}",
                name(m)
            ),
            Anno::MismatchedCustomBuckets(op) => {
                format!("PromQL info: mismatched custom buckets were reconciled during {op}")
            }
            Anno::StartTimeOverlap(m) => format!(
                "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric {m:?}"
            ),
        }
    }
}

/// A rendered annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Warning (true) or info (false).
    pub warning: bool,
    /// The text, ending with the position `(line:col)` when known.
    pub text: String,
}

/// The set of annotations of one query (deduplicated, in insertion order).
#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    /// Annotation, position, occurrences.
    items: Vec<(Anno, PosRange, usize)>,
    raw_warnings: Vec<String>,
}

impl Annotations {
    pub(crate) fn add(&mut self, a: Anno, pos: PosRange) {
        if matches!(a, Anno::StartTimeOverlap(_)) {
            // Prometheus merges these by text without position and counts them.
            if let Some(item) = self.items.iter_mut().find(|(x, ..)| *x == a) {
                item.2 += 1;
            } else {
                self.items.push((a, pos, 1));
            }
        } else if !self.items.iter().any(|(x, p, _)| *x == a && *p == pos) {
            self.items.push((a, pos, 1));
        }
    }

    pub(crate) fn add_raw_warning(&mut self, w: String) {
        if !self.raw_warnings.contains(&w) {
            self.raw_warnings.push(w);
        }
    }

    /// Renders every annotation for `query`.
    pub(crate) fn render(&self, query: &str) -> Vec<Annotation> {
        let mut out: Vec<Annotation> = Vec::new();
        for (a, pos, count) in &self.items {
            let mut text = a.message();
            if *count > 1 {
                text.push_str(&format!(" ({count} occurrences)"));
            }
            {
                let (l, c) = promql_syntax::line_col(query, pos.start);
                text.push_str(&format!(" ({l}:{c})"));
            }
            let an = Annotation { warning: a.is_warning(), text };
            if !out.contains(&an) {
                out.push(an);
            }
        }
        for w in &self.raw_warnings {
            out.push(Annotation { warning: true, text: w.clone() });
        }
        out
    }
}
