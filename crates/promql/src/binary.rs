//! Binary operators between scalars and vectors, with vector matching and fill modifiers.

use std::sync::Arc;

use model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME_LABEL};
use promql_syntax::{BinOp, BinaryExpr, Cardinality, Expr, PosRange, ValueType, VectorMatching};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::annotations::Anno;
use crate::error::QueryError;
use crate::eval::{Evaluator, Res};
use crate::functions::{bounds_reconciled, hist_equals};
use crate::trim::trim;
use crate::value::{Matrix, Sample, Vector};

fn changes_schema(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow | BinOp::Mod | BinOp::Atan2
    )
}

pub(crate) fn scalar_binop(op: BinOp, l: f64, r: f64) -> f64 {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => l / r,
        BinOp::Pow => l.powf(r),
        BinOp::Mod => go_mod(l, r),
        BinOp::Eql => b(l == r),
        BinOp::Neq => b(l != r),
        BinOp::Gtr => b(l > r),
        BinOp::Lss => b(l < r),
        BinOp::Gte => b(l >= r),
        BinOp::Lte => b(l <= r),
        BinOp::Atan2 => l.atan2(r),
        _ => f64::NAN,
    }
}

/// Go's `math.Mod` (same as Rust's `%` on floats).
fn go_mod(l: f64, r: f64) -> f64 {
    l % r
}

type ElemResult = (f64, Option<Arc<FloatHistogram>>, bool);

/// One element operation. `Err(anno)` reports an incompatible combination.
fn elem_binop(
    op: BinOp,
    l: f64,
    r: f64,
    hl: Option<&Arc<FloatHistogram>>,
    hr: Option<&Arc<FloatHistogram>>,
) -> Result<ElemResult, Anno> {
    let kind = |h: Option<&Arc<FloatHistogram>>| if h.is_some() { "histogram" } else { "float" };
    let incompatible = || Err(Anno::IncompatibleTypesInBinOp(op.as_str(), kind(hl), kind(hr)));
    match (hl, hr) {
        (None, None) => Ok(match op {
            BinOp::Add => (l + r, None, true),
            BinOp::Sub => (l - r, None, true),
            BinOp::Mul => (l * r, None, true),
            BinOp::Div => (l / r, None, true),
            BinOp::Pow => (l.powf(r), None, true),
            BinOp::Mod => (go_mod(l, r), None, true),
            BinOp::Eql => (l, None, l == r),
            BinOp::Neq => (l, None, l != r),
            BinOp::Gtr => (l, None, l > r),
            BinOp::Lss => (l, None, l < r),
            BinOp::Gte => (l, None, l >= r),
            BinOp::Lte => (l, None, l <= r),
            BinOp::Atan2 => (l.atan2(r), None, true),
            _ => return incompatible(),
        }),
        (None, Some(h)) => match op {
            BinOp::Mul => Ok((0.0, Some(Arc::new(h.scale(l).compact())), true)),
            _ => incompatible(),
        },
        (Some(h), None) => match op {
            BinOp::Mul => Ok((0.0, Some(Arc::new(h.scale(r).compact())), true)),
            BinOp::Div => Ok((0.0, Some(Arc::new(div_histogram(h, r).compact())), true)),
            BinOp::TrimUpper => Ok((0.0, Some(Arc::new(trim(h, r, true))), true)),
            BinOp::TrimLower => Ok((0.0, Some(Arc::new(trim(h, r, false))), true)),
            _ => incompatible(),
        },
        (Some(a), Some(b)) => match op {
            BinOp::Add => match a.add(b) {
                Ok(v) => Ok((0.0, Some(Arc::new(v.compact())), true)),
                Err(_) => Err(Anno::IncompatibleBucketLayout(op.as_str())),
            },
            BinOp::Sub => match a.sub(b) {
                Ok(mut v) => {
                    v.counter_reset_hint = model::CounterResetHint::Gauge;
                    Ok((0.0, Some(Arc::new(v.compact())), true))
                }
                Err(_) => Err(Anno::IncompatibleBucketLayout(op.as_str())),
            },
            BinOp::Eql => Ok((0.0, Some(a.clone()), hist_equals(a, b))),
            BinOp::Neq => Ok((0.0, Some(a.clone()), !hist_equals(a, b))),
            _ => incompatible(),
        },
    }
}

/// `h / r`; dividing by zero leaves only the (infinite or NaN) totals and zero bucket, as in Prometheus.
fn div_histogram(h: &FloatHistogram, r: f64) -> FloatHistogram {
    let mut out = h.clone();
    out.count /= r;
    out.sum /= r;
    out.zero_count /= r;
    if r == 0.0 {
        out.positive_spans.clear();
        out.negative_spans.clear();
        out.positive_buckets.clear();
        out.negative_buckets.clear();
        return out;
    }
    out.positive_buckets.iter_mut().for_each(|b| *b /= r);
    out.negative_buckets.iter_mut().for_each(|b| *b /= r);
    if r < 0.0 {
        out.counter_reset_hint = model::CounterResetHint::Gauge;
    }
    out
}

/// The matching signature of a series.
fn signature(m: &Labels, matching: &VectorMatching) -> Labels {
    if matching.on {
        m.keep(&matching.matching_labels.iter().map(String::as_str).collect::<Vec<_>>())
    } else {
        let mut names: Vec<&str> = matching.matching_labels.iter().map(String::as_str).collect();
        names.push(METRIC_NAME_LABEL);
        m.drop_names(&names)
    }
}

fn match_labels(m: &Labels, matching: &VectorMatching) -> Labels {
    signature(m, matching)
}

impl Evaluator<'_, '_> {
    pub(crate) fn eval_binary(&self, e: &Expr, b: &BinaryExpr) -> Res<Matrix> {
        let pos = e.pos();
        let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
        let args: [&Expr; 2] = [&b.lhs, &b.rhs];
        match (lt, rt) {
            (ValueType::Scalar, ValueType::Scalar) => self.range_eval(&args, |a, ts| {
                Ok(vec![Sample {
                    metric: Labels::empty(),
                    t: ts,
                    f: scalar_binop(b.op, a[0].scalar(), a[1].scalar()),
                    h: None,
                    drop_name: false,
                }])
            }),
            (ValueType::Vector, ValueType::Vector) => {
                let mut matching = b.matching.clone();
                if b.op.is_set() && matching.card == Cardinality::OneToOne {
                    matching.card = Cardinality::ManyToMany;
                }
                self.range_eval(&args, |a, _ts| match b.op {
                    BinOp::And => Ok(vector_and(a[0].vector(), a[1].vector(), &matching)),
                    BinOp::Or => Ok(vector_or(a[0].vector(), a[1].vector(), &matching)),
                    BinOp::Unless => Ok(vector_unless(a[0].vector(), a[1].vector(), &matching)),
                    _ => self.vector_binop(
                        b.op,
                        a[0].vector(),
                        a[1].vector(),
                        &matching,
                        b.return_bool,
                        pos,
                    ),
                })
            }
            (ValueType::Vector, ValueType::Scalar) => self.range_eval(&args, |a, _| {
                Ok(self.vector_scalar_binop(
                    b.op,
                    a[0].vector(),
                    a[1].scalar(),
                    false,
                    b.return_bool,
                    pos,
                ))
            }),
            (ValueType::Scalar, ValueType::Vector) => self.range_eval(&args, |a, _| {
                Ok(self.vector_scalar_binop(
                    b.op,
                    a[1].vector(),
                    a[0].scalar(),
                    true,
                    b.return_bool,
                    pos,
                ))
            }),
            _ => Err(QueryError::Execution("invalid binary expression operand types".into())),
        }
    }

    fn vector_scalar_binop(
        &self,
        op: BinOp,
        lhs: &[Sample],
        rhs: f64,
        swap: bool,
        return_bool: bool,
        pos: PosRange,
    ) -> Vector {
        let mut out = Vec::with_capacity(lhs.len());
        for s in lhs {
            let (mut lf, mut rf) = (s.f, rhs);
            let (mut lh, mut rh) = (s.h.as_ref(), None);
            if swap {
                std::mem::swap(&mut lf, &mut rf);
                std::mem::swap(&mut lh, &mut rh);
            }
            let (mut f, mut h, mut keep) = match elem_binop(op, lf, rf, lh, rh) {
                Ok(v) => v,
                Err(a) => {
                    self.ctx.annos.borrow_mut().add(a, pos);
                    continue;
                }
            };
            if op.is_comparison() && swap {
                f = rf;
                h = rh.cloned();
            }
            if return_bool {
                f = if keep { 1.0 } else { 0.0 };
                h = None;
                keep = true;
            }
            if keep {
                let mut n = s.clone();
                n.f = f;
                n.h = h;
                if changes_schema(op) || return_bool {
                    n.drop_name = true;
                }
                out.push(n);
            }
        }
        out
    }

    /// The annotations of adding or subtracting two histograms: conflicting counter-reset hints and reconciled
    /// custom bucket bounds.
    fn note_histogram_combination(
        &self,
        op: BinOp,
        a: &FloatHistogram,
        b: &FloatHistogram,
        pos: PosRange,
    ) {
        let what = match op {
            BinOp::Add => "addition",
            BinOp::Sub => "subtraction",
            _ => return,
        };
        let mut annos = self.ctx.annos.borrow_mut();
        if a.counter_reset_hint.collides(b.counter_reset_hint) {
            annos.add(Anno::HistogramCounterResetCollision(what), pos);
        }
        if bounds_reconciled(a, b) {
            annos.add(Anno::MismatchedCustomBuckets(what), pos);
        }
    }

    fn vector_binop(
        &self,
        op: BinOp,
        lhs: &[Sample],
        rhs: &[Sample],
        matching: &VectorMatching,
        return_bool: bool,
        pos: PosRange,
    ) -> Res<Vector> {
        if (lhs.is_empty() && rhs.is_empty())
            || ((lhs.is_empty() || rhs.is_empty())
                && matching.fill_lhs.is_none()
                && matching.fill_rhs.is_none())
        {
            return Ok(Vec::new());
        }
        let one_to_many = matching.card == Cardinality::OneToMany;
        let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
        // As in Prometheus, the fill values are not swapped with the sides for group_right.
        let (fill_for_missing_rhs, fill_for_missing_lhs) = (matching.fill_rhs, matching.fill_lhs);
        let mut right: FxHashMap<Labels, &Sample> = FxHashMap::default();
        let mut right_order: Vec<(Labels, &Sample)> = Vec::new();
        for rs in rhs {
            let sig = signature(&rs.metric, matching);
            if let Some(dup) = right.get(&sig) {
                let one_side = if one_to_many { "left" } else { "right" };
                let (mut d1, mut d2) = (fmt_labels(&rs.metric), fmt_labels(&dup.metric));
                if d1 > d2 {
                    std::mem::swap(&mut d1, &mut d2);
                }
                return Err(QueryError::Execution(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
                    fmt_labels(&match_labels(&rs.metric, matching))
                )));
            }
            right.insert(sig.clone(), rs);
            right_order.push((sig, rs));
        }
        let mut matched_one: FxHashSet<Labels> = FxHashSet::default();
        let mut matched_many: FxHashMap<Labels, FxHashSet<Labels>> = FxHashMap::default();
        let mut out = Vec::new();
        let do_op = |ls: &Sample,
                     rs: &Sample,
                     sig: &Labels,
                     out: &mut Vector,
                     matched_one: &mut FxHashSet<Labels>,
                     matched_many: &mut FxHashMap<Labels, FxHashSet<Labels>>|
         -> Res<()> {
            let (mut fl, mut fr) = (ls.f, rs.f);
            let (mut hl, mut hr) = (ls.h.as_ref(), rs.h.as_ref());
            if one_to_many {
                std::mem::swap(&mut fl, &mut fr);
                std::mem::swap(&mut hl, &mut hr);
            }
            let res = elem_binop(op, fl, fr, hl, hr);
            let (mut f, mut h, keep) = match res {
                Ok(v) => v,
                Err(a) => {
                    self.ctx.annos.borrow_mut().add(a, pos);
                    return Ok(());
                }
            };
            if let (Some(a), Some(b)) = (hl, hr) {
                self.note_histogram_combination(op, a, b, pos);
            }
            if return_bool {
                h = None;
                f = if keep { 1.0 } else { 0.0 };
            }
            let metric = result_metric(&ls.metric, &rs.metric, op, matching);
            if matching.card == Cardinality::OneToOne {
                if !matched_one.insert(sig.clone()) {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .into(),
                    ));
                }
            } else {
                let set = matched_many.entry(sig.clone()).or_default();
                if !set.insert(metric.clone()) {
                    return Err(QueryError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches"
                            .into(),
                    ));
                }
            }
            if !keep && !return_bool {
                return Ok(());
            }
            out.push(Sample { metric, t: ls.t, f, h, drop_name: return_bool });
            Ok(())
        };
        for ls in lhs {
            let sig = signature(&ls.metric, matching);
            let filled;
            let rs = match right.get(&sig) {
                Some(rs) => *rs,
                None => match fill_for_missing_rhs {
                    Some(v) => {
                        filled = Sample {
                            metric: match_labels(&ls.metric, matching),
                            t: ls.t,
                            f: v,
                            h: None,
                            drop_name: false,
                        };
                        &filled
                    }
                    None => continue,
                },
            };
            do_op(ls, rs, &sig, &mut out, &mut matched_one, &mut matched_many)?;
        }
        if let Some(v) = fill_for_missing_lhs {
            for (sig, rs) in &right_order {
                let done = if matching.card == Cardinality::OneToOne {
                    matched_one.contains(sig)
                } else {
                    matched_many.get(sig).is_some_and(|s| !s.is_empty())
                };
                if done {
                    continue;
                }
                let ls = Sample {
                    metric: match_labels(&rs.metric, matching),
                    t: rs.t,
                    f: v,
                    h: None,
                    drop_name: false,
                };
                do_op(&ls, rs, sig, &mut out, &mut matched_one, &mut matched_many)?;
            }
        }
        Ok(out)
    }
}

fn result_metric(lhs: &Labels, rhs: &Labels, op: BinOp, matching: &VectorMatching) -> Labels {
    let mut b = LabelsBuilder::new();
    b.reset(lhs);
    if changes_schema(op) {
        b.del(METRIC_NAME_LABEL);
        b.del("__type__");
        b.del("__unit__");
    }
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            let keep: Vec<&str> = matching.matching_labels.iter().map(String::as_str).collect();
            b.retain(|n, _| keep.contains(&n));
        } else {
            for l in &matching.matching_labels {
                b.del(l);
            }
        }
    }
    for l in &matching.include {
        let v = rhs.get(l);
        if v.is_empty() {
            b.del(l);
        } else {
            b.set(l, v);
        }
    }
    b.labels()
}

fn vector_and(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: FxHashSet<Labels> = rhs.iter().map(|s| signature(&s.metric, m)).collect();
    lhs.iter().filter(|s| right.contains(&signature(&s.metric, m))).cloned().collect()
}

fn vector_or(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching) -> Vector {
    if lhs.is_empty() {
        return rhs.to_vec();
    }
    if rhs.is_empty() {
        return lhs.to_vec();
    }
    let left: FxHashSet<Labels> = lhs.iter().map(|s| signature(&s.metric, m)).collect();
    let mut out = lhs.to_vec();
    out.extend(rhs.iter().filter(|s| !left.contains(&signature(&s.metric, m))).cloned());
    out
}

fn vector_unless(lhs: &[Sample], rhs: &[Sample], m: &VectorMatching) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs.to_vec();
    }
    let right: FxHashSet<Labels> = rhs.iter().map(|s| signature(&s.metric, m)).collect();
    lhs.iter().filter(|s| !right.contains(&signature(&s.metric, m))).cloned().collect()
}

/// Labels as Prometheus prints them: `{a="b", c="d"}` (the name inside the braces).
pub(crate) fn fmt_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|x| {
            let name = if model::is_valid_legacy_label_name(x.name) {
                x.name.to_string()
            } else {
                promql_syntax::quote(x.name)
            };
            format!("{name}={}", promql_syntax::quote(x.value))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}
