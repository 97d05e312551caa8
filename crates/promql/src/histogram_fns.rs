//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over native histograms and classic ones
//! (series with an `le` label), evaluated per step.

use model::{BUCKET_LABEL, Labels, LabelsBuilder, METRIC_NAME_LABEL};
use promql_syntax::{Call, PosRange};
use rustc_hash::FxHashMap;

use crate::annotations::Anno;
use crate::eval::Evaluator;
use crate::quantile::{
    NanObservations, bucket_fraction, bucket_quantile, hist_fraction, hist_quantile,
};
use crate::value::{Sample, Vector};

/// A classic histogram: its labels without `__name__` and `le`, and its `(le, count)` buckets.
struct Classic {
    metric: Labels,
    buckets: Vec<(f64, f64)>,
}

/// The input of a histogram function split into native histograms and classic ones. A native histogram with
/// the same labels as the buckets of a classic one makes both unusable.
struct Histograms<'a> {
    natives: Vec<&'a Sample>,
    classics: Vec<Classic>,
}

/// The label value naming quantile `q` (Prometheus's `FormatOpenMetricsFloat`).
fn quantile_label_value(q: f64) -> String {
    if q == 0.0 {
        return "0.0".into();
    }
    if q.is_nan() {
        return "NaN".into();
    }
    if q.is_infinite() {
        return if q > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Go's shortest `%g`: exponent notation for exponents below -4 and from 6 on.
    let sci = format!("{q:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let s = if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{q}")
    };
    if s.contains(['e', '.']) { s } else { format!("{s}.0") }
}

impl Evaluator<'_, '_> {
    /// Splits `v` as Prometheus does, warning about malformed `le` labels and native histograms that collide
    /// with classic ones (`pos` is the vector argument's).
    fn split_histograms<'a>(&self, v: &'a [Sample], pos: PosRange) -> Histograms<'a> {
        let mut annos = self.ctx.annos.borrow_mut();
        let mut classics: Vec<Classic> = Vec::new();
        // Classic histograms by their labels without `le` (the name included).
        let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut natives = Vec::new();
        for s in v {
            if s.h.is_some() {
                natives.push(s);
                continue;
            }
            let le = s.metric.get(BUCKET_LABEL);
            let Some(upper) = promql_syntax::parse_number(le).filter(|_| !le.is_empty()) else {
                let name = s.metric.metric_name().to_string();
                annos.add(Anno::BadBucketLabel(le.to_string(), name), pos);
                continue;
            };
            let i = *index.entry(s.metric.drop_names(&[BUCKET_LABEL])).or_insert_with(|| {
                classics.push(Classic {
                    metric: s.metric.drop_names(&[BUCKET_LABEL, METRIC_NAME_LABEL]),
                    buckets: Vec::new(),
                });
                classics.len() - 1
            });
            classics[i].buckets.push((upper, s.f));
        }
        natives.retain(|s| {
            let Some(&i) = index.get(&s.metric) else { return true };
            if classics[i].buckets.is_empty() {
                return true;
            }
            annos.add(Anno::MixedClassicNative(s.metric.metric_name().to_string()), pos);
            classics[i].buckets.clear();
            false
        });
        classics.retain(|c| !c.buckets.is_empty());
        Histograms { natives, classics }
    }

    fn note_nans(&self, note: Option<NanObservations>, metric: &Labels, pos: PosRange) {
        if let Some(n) = note {
            let name = metric.metric_name().to_string();
            let a = match n {
                NanObservations::QuantileIsNaN => Anno::QuantileNaNResult(name),
                NanObservations::QuantileSkewed => Anno::QuantileNaNSkew(name),
                NanObservations::FractionExcludes => Anno::FractionNaNs(name),
            };
            self.ctx.annos.borrow_mut().add(a, pos);
        }
    }

    /// `histogram_quantile(q, v)` and `histogram_quantiles(v, label, q...)`: the quantiles `qs` of every
    /// histogram in `v`; with `label`, each result carries its quantile in that label.
    pub(crate) fn histogram_quantiles(
        &self,
        c: &Call,
        qs: &[f64],
        label: Option<&str>,
        v: &[Sample],
        ts: i64,
    ) -> Vector {
        let (vec_arg, first_q) = if label.is_some() { (0, 2) } else { (1, 0) };
        let pos = c.args[vec_arg].pos();
        for (i, &q) in qs.iter().enumerate() {
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                self.ctx
                    .annos
                    .borrow_mut()
                    .add(Anno::InvalidQuantile(q), c.args[first_q + i].pos());
            }
        }
        let Histograms { natives, mut classics } = self.split_histograms(v, pos);
        let labelled = |m: &Labels, q: f64| match label {
            None => m.clone(),
            Some(l) => {
                let mut b = LabelsBuilder::new();
                b.reset(m);
                b.set(l, &quantile_label_value(q));
                b.labels()
            }
        };
        let mut out = Vec::new();
        for &q in qs {
            for s in &natives {
                let Some(h) = &s.h else { continue };
                let (f, note) = hist_quantile(q, h);
                self.note_nans(note, &s.metric, pos);
                let metric = labelled(&s.metric, q);
                out.push(Sample { metric, t: ts, f, h: None, drop_name: true });
            }
            for cl in &mut classics {
                let (f, forced) = bucket_quantile(q, &mut cl.buckets);
                if forced {
                    self.ctx.annos.borrow_mut().add(Anno::ForcedMonotonicity(String::new()), pos);
                }
                let metric = labelled(&cl.metric, q);
                out.push(Sample { metric, t: ts, f, h: None, drop_name: true });
            }
        }
        out
    }

    /// `histogram_fraction(lo, hi, v)`.
    pub(crate) fn histogram_fraction(
        &self,
        c: &Call,
        lo: f64,
        hi: f64,
        v: &[Sample],
        ts: i64,
    ) -> Vector {
        let pos = c.args[2].pos();
        let Histograms { natives, mut classics } = self.split_histograms(v, pos);
        let mut out = Vec::new();
        for s in natives {
            let Some(h) = &s.h else { continue };
            let (f, note) = hist_fraction(lo, hi, h);
            self.note_nans(note, &s.metric, pos);
            out.push(Sample { metric: s.metric.clone(), t: ts, f, h: None, drop_name: true });
        }
        for cl in &mut classics {
            let f = bucket_fraction(lo, hi, &mut cl.buckets);
            out.push(Sample { metric: cl.metric.clone(), t: ts, f, h: None, drop_name: true });
        }
        out
    }
}
