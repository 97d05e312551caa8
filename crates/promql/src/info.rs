//! The experimental `info(v, [selector])` function: enriches each series of `v` with the data labels of the info
//! series (by default `target_info`) that share its identifying labels (`instance`, `job`).
//!
//! Unlike ordinary functions it reads storage itself: the info series are selected for the identifying label
//! values present in `v`, over the query's time range (or at the `@` time of `v`'s selector), and evaluated with
//! the lookback delta at each step, remembering the timestamp of the sample found so that, when two info series
//! of one metric match, the more recent one wins.

use std::sync::Arc;

use model::{
    FloatHistogram, Labels, LabelsBuilder, METRIC_NAME_LABEL, MatchType, Matcher, is_stale_nan,
};
use promql_syntax::{Call, Expr, SubqueryExpr, VectorSelector};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::QueryError;
use crate::eval::{Evaluator, Res};
use crate::value::{FPoint, HPoint, Matrix, Series};

/// The info metric used when the selector names none.
const DEFAULT_INFO_METRIC: &str = "target_info";

/// The labels identifying the entity an info series describes.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// One info series evaluated over the steps: at each step with a sample in the lookback window, the timestamp
/// of that sample.
struct InfoSeries {
    labels: Labels,
    /// Index into the list of info metric names.
    name: usize,
    /// The identifying labels it carries.
    ident: Labels,
    /// `(step, timestamp of the sample seen at that step)`, by step.
    points: Vec<(i64, i64)>,
}

/// The `@` time and offset that fix when info series are evaluated, taken from the first vector selector in the
/// first argument: its own `@` if set, otherwise that of the nearest enclosing subquery that has one, with the
/// offsets of the selector and the subqueries up to that point added.
fn reference_modifiers(ev: &Evaluator<'_, '_>, arg: &Expr) -> (Option<i64>, i64) {
    fn find<'e>(
        e: &'e Expr,
        path: &mut Vec<&'e SubqueryExpr>,
    ) -> Option<(&'e VectorSelector, Vec<&'e SubqueryExpr>)> {
        match e {
            Expr::VectorSelector(vs) => Some((vs, path.clone())),
            Expr::MatrixSelector(ms) => Some((&ms.vs, path.clone())),
            Expr::Subquery(sq) => {
                path.push(sq);
                let r = find(&sq.expr, path);
                path.pop();
                r
            }
            Expr::Aggregate(a) => {
                find(&a.expr, path).or_else(|| a.param.as_deref().and_then(|p| find(p, path)))
            }
            Expr::Binary(b) => find(&b.lhs, path).or_else(|| find(&b.rhs, path)),
            Expr::Call(c) => c.args.iter().find_map(|a| find(a, path)),
            Expr::Paren(p) => find(&p.expr, path),
            Expr::Unary(u) => find(&u.expr, path),
            Expr::Number(_) | Expr::String(_) => None,
        }
    }
    let Some((vs, path)) = find(arg, &mut Vec::new()) else { return (None, 0) };
    let mut at = ev.at_time(vs.timestamp, vs.at);
    let mut offset = vs.offset.as_ref().map_or(0, |d| ev.dur_ms(d));
    for sq in path.iter().rev() {
        if at.is_some() {
            break;
        }
        offset += sq.offset.as_ref().map_or(0, |d| ev.dur_ms(d));
        at = ev.at_time(sq.timestamp, sq.at);
    }
    (at, offset)
}

/// The `__name__` matchers that select info series: the given ones if one of them is positive; with only
/// negative ones, those restricted to names ending in `_info`; with none, `target_info`.
fn effective_name_matchers(given: &[Matcher]) -> Res<Vec<Matcher>> {
    if given.iter().any(|m| matches!(m.match_type, MatchType::Equal | MatchType::Regexp)) {
        return Ok(given.to_vec());
    }
    if given.is_empty() {
        return Ok(vec![Matcher::equal(METRIC_NAME_LABEL, DEFAULT_INFO_METRIC)]);
    }
    let mut out = vec![regex_matcher(METRIC_NAME_LABEL, ".+_info")?];
    out.extend(given.iter().cloned());
    Ok(out)
}

fn regex_matcher(name: &str, re: &str) -> Res<Matcher> {
    Matcher::new(MatchType::Regexp, name, re).map_err(|e| QueryError::Execution(e.to_string()))
}

/// Escapes the characters RE2 treats specially, as Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The data labels an info series contributes, checked against what earlier info metrics contributed.
fn add_data_labels(
    info: &Labels,
    base: &Labels,
    data_matchers: &FxHashMap<&str, Vec<&Matcher>>,
    added: &mut LabelsBuilder,
) -> Res<()> {
    for l in info.iter() {
        if l.name == METRIC_NAME_LABEL {
            continue;
        }
        if !data_matchers.is_empty() && !data_matchers.contains_key(l.name) {
            continue;
        }
        let cur = added.get(l.name);
        if !cur.is_empty() && cur != l.value {
            return Err(QueryError::Execution(format!("conflicting label: {}", l.name)));
        }
        if base.has(l.name) {
            continue;
        }
        added.set(l.name, l.value);
    }
    Ok(())
}

impl Evaluator<'_, '_> {
    /// `info(v, [selector])`.
    pub(crate) fn eval_info(&self, c: &Call) -> Res<Matrix> {
        let Some(arg) = c.args.first() else {
            return Err(QueryError::Execution("info() requires an argument".into()));
        };
        // The modifiers are read from the tree before evaluation, as they fix the info series' time too.
        let (at, offset) = reference_modifiers(self, arg);
        let base = self.eval(arg)?.into_matrix();

        let selector: &[Matcher] = match c.args.get(1).map(Expr::unparen) {
            Some(Expr::VectorSelector(vs)) => &vs.matchers,
            _ => &[],
        };
        let given_names: Vec<Matcher> =
            selector.iter().filter(|m| m.name == METRIC_NAME_LABEL).cloned().collect();
        let name_matchers = effective_name_matchers(&given_names)?;
        let mut data_matchers: FxHashMap<&str, Vec<&Matcher>> = FxHashMap::default();
        for m in selector.iter().filter(|m| m.name != METRIC_NAME_LABEL) {
            data_matchers.entry(m.name.as_str()).or_default().push(m);
        }

        // Series that are themselves info series of the selected metrics pass through unchanged.
        let ignored: Vec<bool> = base
            .iter()
            .map(|s| {
                let name = s.metric.get(METRIC_NAME_LABEL);
                name_matchers.iter().all(|m| m.matches(name))
            })
            .collect();

        let mut id_values: [FxHashSet<&str>; 2] = Default::default();
        for (s, _) in base.iter().zip(&ignored).filter(|(_, ign)| !**ign) {
            for (i, l) in IDENTIFYING_LABELS.iter().enumerate() {
                let v = s.metric.get(l);
                if !v.is_empty() {
                    id_values[i].insert(v);
                }
            }
        }
        let (names, infos) = if id_values.iter().all(FxHashSet::is_empty) {
            (Vec::new(), Vec::new())
        } else {
            let mut matchers = Vec::new();
            for (i, l) in IDENTIFYING_LABELS.iter().enumerate() {
                if id_values[i].is_empty() {
                    continue;
                }
                let mut vals: Vec<&str> = id_values[i].iter().copied().collect();
                vals.sort_unstable();
                let re: Vec<String> = vals.iter().map(|v| quote_meta(v)).collect();
                matchers.push(regex_matcher(l, &re.join("|"))?);
            }
            matchers.extend(selector.iter().filter(|m| m.name != METRIC_NAME_LABEL).cloned());
            matchers.extend(name_matchers.iter().cloned());
            self.load_info_series(&matchers, at, offset)?
        };

        self.combine_info(base, &ignored, &names, &infos, &data_matchers)
    }

    /// Selects the info series and evaluates them at every step, at `at` when set, shifted back by `offset`.
    fn load_info_series(
        &self,
        matchers: &[Matcher],
        at: Option<i64>,
        offset: i64,
    ) -> Res<(Vec<String>, Vec<InfoSeries>)> {
        let lookback = self.ctx.lookback;
        let (first, last) = match at {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let loaded =
            self.load(matchers, first - offset - lookback, last - offset, Some("info"), 0)?;
        let mut names: Vec<String> = Vec::new();
        let mut out = Vec::with_capacity(loaded.len());
        for s in loaded {
            self.check_done()?;
            let mut points = Vec::new();
            let (mut fi, mut hi) = (0usize, 0usize);
            let mut ts = self.start;
            while ts <= self.end {
                let r = at.unwrap_or(ts) - offset;
                if at.is_some() {
                    (fi, hi) = (0, 0);
                }
                while fi < s.floats.len() && s.floats[fi].t <= r {
                    fi += 1;
                }
                while hi < s.hists.len() && s.hists[hi].t <= r {
                    hi += 1;
                }
                let f = fi.checked_sub(1).map(|i| s.floats[i]);
                let h = hi.checked_sub(1).map(|i| &s.hists[i]);
                // The latest sample at or before the reference time: (timestamp, whether it is a float, stale).
                let latest = match (f, h) {
                    (Some(f), h) if h.is_none_or(|h| f.t > h.t) => {
                        Some((f.t, true, is_stale_nan(f.f)))
                    }
                    (_, Some(h)) => Some((h.t, false, is_stale_nan(h.h.sum))),
                    _ => None,
                };
                match latest {
                    Some((t, true, false)) if t > r - lookback => points.push((ts, t)),
                    Some((t, false, false)) if t > r - lookback => {
                        return Err(QueryError::Execution(format!(
                            "this should be an info metric, with float samples: {}",
                            s.labels
                        )));
                    }
                    _ => {}
                }
                ts += self.interval;
            }
            self.add_samples(points.len())?;
            let metric_name = s.labels.get(METRIC_NAME_LABEL);
            let name = match names.iter().position(|n| n == metric_name) {
                Some(i) => i,
                None => {
                    names.push(metric_name.to_string());
                    names.len() - 1
                }
            };
            out.push(InfoSeries {
                ident: s.labels.keep(&IDENTIFYING_LABELS),
                labels: s.labels,
                name,
                points,
            });
        }
        Ok((names, out))
    }

    /// Joins the base series with the info series step by step.
    fn combine_info(
        &self,
        base: Matrix,
        ignored: &[bool],
        names: &[String],
        infos: &[InfoSeries],
        data_matchers: &FxHashMap<&str, Vec<&Matcher>>,
    ) -> Res<Matrix> {
        let require_info = data_matchers.values().flatten().any(|m| !m.matches(""));
        let base_ident: Vec<Labels> =
            base.iter().map(|s| s.metric.keep(&IDENTIFYING_LABELS)).collect();
        let mut out: Matrix = Vec::new();
        let mut index: FxHashMap<Labels, (usize, i64)> = FxHashMap::default();
        let mut base_cur = vec![(0usize, 0usize); base.len()];
        let mut info_cur = vec![0usize; infos.len()];
        // The info series current at a step, by (metric name, identifying labels).
        let mut current: FxHashMap<(usize, &Labels), (usize, i64)> = FxHashMap::default();
        let mut added = LabelsBuilder::new();
        let mut ts = self.start;
        while ts <= self.end {
            self.check_done()?;
            current.clear();
            for (i, info) in infos.iter().enumerate() {
                let c = &mut info_cur[i];
                while *c < info.points.len() && info.points[*c].0 < ts {
                    *c += 1;
                }
                let Some(&(_, orig_t)) = info.points.get(*c).filter(|p| p.0 == ts) else {
                    continue;
                };
                match current.get_mut(&(info.name, &info.ident)) {
                    None => {
                        current.insert((info.name, &info.ident), (i, orig_t));
                    }
                    Some((j, t)) => {
                        if orig_t > *t {
                            (*j, *t) = (i, orig_t);
                        } else if orig_t == *t {
                            return Err(QueryError::Execution(format!(
                                "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                                infos[*j].labels, t, info.labels, orig_t
                            )));
                        }
                    }
                }
            }
            for (bi, s) in base.iter().enumerate() {
                let Some((f, h)) = point_at(s, &mut base_cur[bi], ts) else { continue };
                let metric = if ignored[bi] {
                    s.metric.clone()
                } else {
                    added.clear();
                    let mut seen = false;
                    for name in 0..names.len() {
                        let Some(&(i, _)) = current.get(&(name, &base_ident[bi])) else {
                            continue;
                        };
                        add_data_labels(&infos[i].labels, &s.metric, data_matchers, &mut added)?;
                        seen = true;
                    }
                    if !seen && require_info {
                        continue;
                    }
                    if added.is_empty() {
                        s.metric.clone()
                    } else {
                        let mut b = s.metric.builder();
                        for l in added.iter() {
                            b.set(l.name, l.value);
                        }
                        b.labels()
                    }
                };
                match index.get_mut(&metric) {
                    Some((idx, last)) => {
                        if *last == ts {
                            return Err(QueryError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        *last = ts;
                        push(&mut out[*idx], ts, f, h);
                    }
                    None => {
                        index.insert(metric.clone(), (out.len(), ts));
                        let mut series =
                            Series { metric, drop_name: s.drop_name, ..Default::default() };
                        push(&mut series, ts, f, h);
                        out.push(series);
                    }
                }
            }
            ts += self.interval;
        }
        let n: usize = out.iter().map(|s| s.floats.len() + s.histograms.len()).sum();
        self.add_samples(n)?;
        Ok(out)
    }
}

/// The value of `s` at step `ts`, advancing the cursors `(floats, histograms)`.
fn point_at(
    s: &Series,
    cur: &mut (usize, usize),
    ts: i64,
) -> Option<(f64, Option<Arc<FloatHistogram>>)> {
    while cur.0 < s.floats.len() && s.floats[cur.0].t < ts {
        cur.0 += 1;
    }
    while cur.1 < s.histograms.len() && s.histograms[cur.1].t < ts {
        cur.1 += 1;
    }
    if let Some(p) = s.floats.get(cur.0).filter(|p| p.t == ts) {
        return Some((p.f, None));
    }
    s.histograms.get(cur.1).filter(|p| p.t == ts).map(|p| (0.0, Some(p.h.clone())))
}

fn push(s: &mut Series, t: i64, f: f64, h: Option<Arc<FloatHistogram>>) {
    match h {
        Some(h) => s.histograms.push(HPoint { t, h }),
        None => s.floats.push(FPoint { t, f }),
    }
}
