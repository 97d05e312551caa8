//! Streaming aggregation: `sum`, `avg`, `count`, `min`, `max` and `group` folded series by series.
//!
//! The general aggregation (see [`crate::aggregate`]) evaluates its whole input matrix and then walks it step by
//! step. For the simple float aggregations over a selector or a function call, the input is instead consumed one
//! series at a time as it is produced, each of its points folded into a per-group, per-step accumulator, so memory
//! holds the groups' accumulators and one input series rather than every input series over every step. The
//! arithmetic per group and step is the general path's, applied in the same (input series) order, so results are
//! bit-identical. Histogram samples need the general path's accumulators and annotations: on the first series with
//! histograms the fold gives up, restores the query's annotations and sample counters, and the caller evaluates the
//! general way.

use std::ops::ControlFlow;

use model::Labels;
use promql_syntax::{AggOp, AggregateExpr, Expr};
use rustc_hash::FxHashMap;

use crate::aggregate::{grouping_labels, kahan_inc};
use crate::eval::{Evaluator, Res};
use crate::value::{FPoint, Matrix, Series};

/// Whether `a` can be folded: a parameterless float aggregation over an input that streams.
pub(crate) fn foldable(a: &AggregateExpr) -> bool {
    a.param.is_none()
        && matches!(
            a.op,
            AggOp::Sum | AggOp::Avg | AggOp::Count | AggOp::Min | AggOp::Max | AggOp::Group
        )
        && matches!(a.expr.unparen(), Expr::VectorSelector(_) | Expr::Call(_))
}

/// The accumulators of one group, one slot per step; only the vectors `op` needs are allocated.
struct GroupAcc {
    labels: Labels,
    drop_name: bool,
    seen: Vec<bool>,
    /// The running value: sum, min, max, or (for `avg`) the sum until it overflows, then the mean.
    v: Vec<f64>,
    /// Kahan compensation (`sum`, `avg`).
    k: Vec<f64>,
    /// Count (`count`, `avg`).
    n: Vec<f64>,
    /// `avg` switched to the incremental mean.
    incremental: Vec<bool>,
}

impl GroupAcc {
    fn new(op: AggOp, labels: Labels, steps: usize) -> GroupAcc {
        let want = |yes: bool| if yes { vec![0.0; steps] } else { Vec::new() };
        GroupAcc {
            labels,
            drop_name: false,
            seen: vec![false; steps],
            v: want(matches!(op, AggOp::Sum | AggOp::Avg | AggOp::Min | AggOp::Max)),
            k: want(matches!(op, AggOp::Sum | AggOp::Avg)),
            n: want(matches!(op, AggOp::Count | AggOp::Avg)),
            incremental: if op == AggOp::Avg { vec![false; steps] } else { Vec::new() },
        }
    }

    /// Folds value `f` into step `i`, exactly as the general path's per-step loop does.
    fn add(&mut self, op: AggOp, i: usize, f: f64) {
        if !self.seen[i] {
            self.seen[i] = true;
            match op {
                AggOp::Sum | AggOp::Min | AggOp::Max => self.v[i] = f,
                AggOp::Avg => {
                    self.v[i] = f;
                    self.n[i] = 1.0;
                }
                AggOp::Count => self.n[i] = 1.0,
                _ => {}
            }
            return;
        }
        match op {
            AggOp::Sum => (self.v[i], self.k[i]) = kahan_inc(f, self.v[i], self.k[i]),
            AggOp::Avg => {
                self.n[i] += 1.0;
                let count = self.n[i];
                if !self.incremental[i] {
                    let (nv, nc) = kahan_inc(f, self.v[i], self.k[i]);
                    if !nv.is_infinite() {
                        (self.v[i], self.k[i]) = (nv, nc);
                        return;
                    }
                    self.incremental[i] = true;
                    self.v[i] /= count - 1.0;
                    self.k[i] /= count - 1.0;
                }
                let q = (count - 1.0) / count;
                (self.v[i], self.k[i]) = kahan_inc(f / count, q * self.v[i], q * self.k[i]);
            }
            AggOp::Max if self.v[i] < f || self.v[i].is_nan() => self.v[i] = f,
            AggOp::Min if self.v[i] > f || self.v[i].is_nan() => self.v[i] = f,
            AggOp::Count => self.n[i] += 1.0,
            _ => {}
        }
    }

    /// The value of step `i`, if any series had a sample there.
    fn result(&self, op: AggOp, i: usize) -> Option<f64> {
        if !self.seen[i] {
            return None;
        }
        Some(match op {
            AggOp::Sum => self.v[i] + self.k[i],
            AggOp::Avg if self.incremental[i] => self.v[i] + self.k[i],
            AggOp::Avg => self.v[i] / self.n[i] + self.k[i] / self.n[i],
            AggOp::Count => self.n[i],
            AggOp::Group => 1.0,
            _ => self.v[i],
        })
    }
}

impl Evaluator<'_, '_> {
    /// Folds `a` over its streamed input; `None` when a histogram sample turned up and the general path must run
    /// (nothing of the attempt is left in the query's annotations or sample counts then).
    pub(crate) fn fold_aggregate(
        &self,
        a: &AggregateExpr,
        grouping: &[String],
    ) -> Res<Option<Matrix>> {
        let steps = self.steps();
        let (start, interval) = (self.start, self.interval);
        let annos = self.ctx.annos.borrow().clone();
        let counters = (self.ctx.current_samples.get(), self.ctx.total_samples.get());
        let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
        let mut groups: Vec<GroupAcc> = Vec::new();
        let mut histograms = false;
        let mut sink = |s: Series| -> Res<ControlFlow<()>> {
            if !s.histograms.is_empty() {
                histograms = true;
                return Ok(ControlFlow::Break(()));
            }
            let key = grouping_labels(&s.metric, grouping, a.without);
            let gi = match index.get(&key) {
                Some(i) => *i,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push(GroupAcc::new(a.op, key, steps));
                    groups.len() - 1
                }
            };
            let g = &mut groups[gi];
            g.drop_name |= s.drop_name;
            for FPoint { t, f } in s.floats {
                let i = ((t - start) / interval) as usize;
                if i < steps {
                    g.add(a.op, i, f);
                }
            }
            Ok(ControlFlow::Continue(()))
        };
        match a.expr.unparen() {
            Expr::VectorSelector(vs) => self.stream_vector_selector(vs, &mut sink)?,
            Expr::Call(c) => self.stream_call(c, &mut sink)?,
            _ => return Ok(None),
        }
        if histograms {
            *self.ctx.annos.borrow_mut() = annos;
            self.ctx.current_samples.set(counters.0);
            self.ctx.total_samples.set(counters.1);
            return Ok(None);
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut n = 0;
        for g in groups {
            let mut floats = Vec::new();
            for i in 0..steps {
                if let Some(f) = g.result(a.op, i) {
                    floats.push(FPoint { t: start + i as i64 * interval, f });
                }
            }
            if !floats.is_empty() {
                n += floats.len();
                out.push(Series {
                    metric: g.labels,
                    floats,
                    histograms: Vec::new(),
                    drop_name: g.drop_name,
                });
            }
        }
        self.add_samples(n)?;
        Ok(Some(out))
    }
}
