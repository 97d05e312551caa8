//! Counter-reset hints of selectors read only for their histograms' count and sum.
//!
//! When a selector's histograms only feed `histogram_count`, `histogram_sum` or `histogram_avg`, Prometheus reads
//! them through an iterator that skips the buckets and, to keep counter-reset handling right without them,
//! replaces every "unknown" hint by what comparing with the previously read sample shows. The hints are visible:
//! mixing the resulting "reset" and "not a reset" hints in a sum raises the conflicting-counter-resets warning.
//! A subquery, `histogram_quantile(s)`, `histogram_fraction` or a trim operator anywhere above the selector needs
//! the buckets, and then nothing changes.

use std::sync::Arc;

use model::{CounterResetHint, is_stale_nan};
use promql_syntax::{BinOp, Expr, PosRange};
use rustc_hash::FxHashSet;

use crate::value::HPoint;

/// The positions of the selectors in `e` that Prometheus reads with count-and-sum decoding.
pub(crate) fn stats_selectors(e: &Expr) -> FxHashSet<PosRange> {
    let mut out = FxHashSet::default();
    collect(e, false, &mut out);
    out
}

fn collect(e: &Expr, stats: bool, out: &mut FxHashSet<PosRange>) {
    match e {
        Expr::VectorSelector(vs) => {
            if stats {
                out.insert(vs.pos);
            }
        }
        Expr::MatrixSelector(ms) => {
            if stats {
                out.insert(ms.vs.pos);
            }
        }
        Expr::Subquery(_) => {}
        Expr::Call(c) => match c.func.name {
            "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => {}
            name => {
                let stats =
                    stats || matches!(name, "histogram_count" | "histogram_sum" | "histogram_avg");
                c.args.iter().for_each(|a| collect(a, stats, out));
            }
        },
        Expr::Binary(b) => {
            if !matches!(b.op, BinOp::TrimUpper | BinOp::TrimLower) {
                collect(&b.lhs, stats, out);
                collect(&b.rhs, stats, out);
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect(p, stats, out);
            }
            collect(&a.expr, stats, out);
        }
        Expr::Paren(p) => collect(&p.expr, stats, out),
        Expr::Unary(u) => collect(&u.expr, stats, out),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// Replaces the "unknown" hints of a series' histograms, read in time order, by the result of counter-reset
/// detection against the previous histogram (the first one stays unknown; stale markers are skipped).
pub(crate) fn detect_hints(hists: &mut [HPoint]) {
    let mut last: Option<usize> = None;
    for i in 0..hists.len() {
        if is_stale_nan(hists[i].h.sum) {
            continue;
        }
        if hists[i].h.counter_reset_hint == CounterResetHint::Unknown
            && let Some(l) = last
        {
            let reset = hists[i].h.detect_reset(&hists[l].h);
            let mut h = (*hists[i].h).clone();
            h.counter_reset_hint = if reset {
                CounterResetHint::CounterReset
            } else {
                CounterResetHint::NotCounterReset
            };
            hists[i].h = Arc::new(h);
        }
        last = Some(i);
    }
}
