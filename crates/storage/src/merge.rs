//! Reading several storages as one (the TSDB's blocks and head; later remote read): series with the same labels
//! from different queriers become one series whose samples are merged by timestamp, a sample present in several
//! sources (a block and the head both holding it) counted once.

use std::sync::Arc;

use model::{FloatHistogram, Histogram, Labels, Matcher, Timestamp};

use crate::{
    CursorSource, LabelHints, Querier, SampleBatch, SampleCursor, SelectHints, Series, SeriesSet,
    StorageError, ValueKind, Warnings, sorted_limited,
};

/// A querier over several queriers.
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl std::fmt::Debug for MergeQuerier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeQuerier").field("queriers", &self.queriers.len()).finish()
    }
}

impl MergeQuerier {
    /// Merges `queriers` (one querier is passed through unchanged by [`MergeQuerier::boxed`]).
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> MergeQuerier {
        MergeQuerier { queriers }
    }

    /// The merge of `queriers` as a boxed querier, or the only one itself.
    pub fn boxed(mut queriers: Vec<Box<dyn Querier>>) -> Box<dyn Querier> {
        if queriers.len() == 1
            && let Some(q) = queriers.pop()
        {
            return q;
        }
        Box::new(MergeQuerier::new(queriers))
    }
}

impl Querier for MergeQuerier {
    fn select(
        &self,
        _sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        // Merging needs every input in label order, and the output is sorted either way.
        let sets: Vec<Box<dyn SeriesSet>> =
            self.queriers.iter().map(|q| q.select(true, hints, matchers)).collect();
        let limit = hints.map_or(0, |h| h.limit);
        Box::new(MergeSeriesSet::new(sets, limit))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut all = Vec::new();
        let mut warnings = Vec::new();
        for q in &self.queriers {
            let (v, w) = q.label_values(name, hints, matchers)?;
            all.extend(v);
            warnings.extend(w);
        }
        Ok((sorted_limited(all, hints.limit), warnings))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let mut all = Vec::new();
        let mut warnings = Vec::new();
        for q in &self.queriers {
            let (v, w) = q.label_names(hints, matchers)?;
            all.extend(v);
            warnings.extend(w);
        }
        Ok((sorted_limited(all, hints.limit), warnings))
    }
}

/// Merges series sets that are each in label order.
struct MergeSeriesSet {
    sets: Vec<Box<dyn SeriesSet>>,
    heads: Vec<Option<Series>>,
    started: bool,
    left: usize,
    err: Option<StorageError>,
}

impl MergeSeriesSet {
    fn new(sets: Vec<Box<dyn SeriesSet>>, limit: usize) -> MergeSeriesSet {
        let n = sets.len();
        MergeSeriesSet {
            sets,
            heads: vec![None; n],
            started: false,
            left: if limit > 0 { limit } else { usize::MAX },
            err: None,
        }
    }

    fn advance(&mut self, i: usize) {
        self.heads[i] = self.sets[i].next();
        if self.heads[i].is_none()
            && self.err.is_none()
            && let Some(e) = self.sets[i].err()
        {
            self.err = Some(e.clone());
        }
    }
}

impl SeriesSet for MergeSeriesSet {
    fn next(&mut self) -> Option<Series> {
        if !self.started {
            self.started = true;
            for i in 0..self.sets.len() {
                self.advance(i);
            }
        }
        if self.left == 0 || self.err.is_some() {
            return None;
        }
        let min: Labels = self.heads.iter().flatten().map(|s| &s.labels).min()?.clone();
        let mut parts = Vec::new();
        for i in 0..self.heads.len() {
            if self.heads[i].as_ref().is_some_and(|s| s.labels == min) {
                if let Some(s) = self.heads[i].take() {
                    parts.push(s);
                }
                self.advance(i);
            }
        }
        self.left -= 1;
        if parts.len() == 1 {
            return parts.pop();
        }
        Some(Series::new(min, Arc::new(MergeSource { parts })))
    }

    fn err(&self) -> Option<&StorageError> {
        self.err.as_ref()
    }

    fn warnings(&self) -> Warnings {
        self.sets.iter().flat_map(|s| s.warnings()).collect()
    }
}

/// The same series from several sources.
struct MergeSource {
    parts: Vec<Series>,
}

impl CursorSource for MergeSource {
    fn cursor(&self) -> Box<dyn SampleCursor> {
        Box::new(MergeCursor::new(self.parts.iter().map(Series::cursor).collect()))
    }
}

/// Merges cursors by timestamp; of samples with equal timestamps the first source's is used and the others are
/// skipped.
pub struct MergeCursor {
    cursors: Vec<Box<dyn SampleCursor>>,
    kinds: Vec<ValueKind>,
    cur: Option<usize>,
    started: bool,
}

impl std::fmt::Debug for MergeCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeCursor").field("cursors", &self.cursors.len()).finish()
    }
}

impl MergeCursor {
    /// Merges `cursors`, each in timestamp order.
    pub fn new(cursors: Vec<Box<dyn SampleCursor>>) -> MergeCursor {
        let n = cursors.len();
        MergeCursor { cursors, kinds: vec![ValueKind::None; n], cur: None, started: false }
    }

    fn pick(&mut self) -> ValueKind {
        let mut best: Option<(usize, Timestamp)> = None;
        for (i, k) in self.kinds.iter().enumerate() {
            if *k == ValueKind::None {
                continue;
            }
            let t = self.cursors[i].at_t();
            if best.is_none_or(|(_, bt)| t < bt) {
                best = Some((i, t));
            }
        }
        self.cur = best.map(|(i, _)| i);
        best.map_or(ValueKind::None, |(i, _)| self.kinds[i])
    }

    fn current(&self) -> &dyn SampleCursor {
        // Only called while positioned on a sample (the `at*` contract).
        let i = self.cur.unwrap_or(0);
        self.cursors[i].as_ref()
    }
}

impl SampleCursor for MergeCursor {
    fn next(&mut self) -> ValueKind {
        if !self.started {
            self.started = true;
            for (k, c) in self.kinds.iter_mut().zip(self.cursors.iter_mut()) {
                *k = c.next();
            }
            return self.pick();
        }
        let Some(cur) = self.cur else { return ValueKind::None };
        let t = self.cursors[cur].at_t();
        for (k, c) in self.kinds.iter_mut().zip(self.cursors.iter_mut()) {
            if *k != ValueKind::None && c.at_t() == t {
                *k = c.next();
            }
        }
        self.pick()
    }

    fn seek(&mut self, t: Timestamp) -> ValueKind {
        if !self.started {
            self.started = true;
            for (k, c) in self.kinds.iter_mut().zip(self.cursors.iter_mut()) {
                *k = c.seek(t);
            }
            return self.pick();
        }
        let Some(cur) = self.cur else { return ValueKind::None };
        if self.cursors[cur].at_t() >= t {
            return self.kinds[cur];
        }
        for (k, c) in self.kinds.iter_mut().zip(self.cursors.iter_mut()) {
            if *k != ValueKind::None && c.at_t() < t {
                *k = c.seek(t);
            }
        }
        self.pick()
    }

    fn at(&self) -> (Timestamp, f64) {
        self.current().at()
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        self.current().at_histogram()
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        self.current().at_float_histogram()
    }

    fn at_t(&self) -> Timestamp {
        self.current().at_t()
    }

    fn at_st(&self) -> Timestamp {
        self.current().at_st()
    }

    fn read_into(
        &mut self,
        mint: Timestamp,
        maxt: Timestamp,
        with_st: bool,
        out: &mut SampleBatch,
    ) {
        if self.started {
            return crate::cursor::read_by_steps(self, mint, maxt, with_st, out);
        }
        self.started = true;
        self.kinds.fill(ValueKind::None);
        self.cur = None;
        let mut parts: Vec<SampleBatch> = Vec::with_capacity(self.cursors.len());
        for c in &mut self.cursors {
            let mut b = SampleBatch::default();
            c.read_into(mint, maxt, with_st, &mut b);
            parts.push(b);
        }
        merge_batches(parts, with_st, out);
    }

    fn err(&self) -> Option<&StorageError> {
        self.cursors.iter().find_map(|c| c.err())
    }
}

/// The time span of a batch's samples of both kinds.
fn span(b: &SampleBatch) -> Option<(Timestamp, Timestamp)> {
    let first =
        [b.floats.first().map(|s| s.t), b.hists.first().map(|h| h.0)].into_iter().flatten().min();
    let last =
        [b.floats.last().map(|s| s.t), b.hists.last().map(|h| h.0)].into_iter().flatten().max();
    first.zip(last)
}

/// Appends the samples of `parts` (one per source, in source order) to `out` by time, a timestamp held by several
/// sources taken from the first of them, as [`MergeCursor`] steps.
fn merge_batches(mut parts: Vec<SampleBatch>, with_st: bool, out: &mut SampleBatch) {
    parts.retain(|b| !b.is_empty());
    let mut spans: Vec<(Timestamp, Timestamp, usize)> =
        parts.iter().enumerate().filter_map(|(i, b)| span(b).map(|(f, l)| (f, l, i))).collect();
    spans.sort();
    // Sources that follow one another in time (the blocks of a series, then the head) are concatenated.
    if spans.windows(2).all(|w| w[0].1 < w[1].0) {
        for (.., i) in spans {
            let b = std::mem::take(&mut parts[i]);
            out.floats.extend(b.floats);
            out.hists.extend(b.hists);
            if with_st {
                out.float_sts.extend(b.float_sts);
                out.hist_sts.extend(b.hist_sts);
            }
        }
        return;
    }
    // Overlapping sources: a k-way merge over each source's floats and histograms.
    let mut pos: Vec<(usize, usize)> = vec![(0, 0); parts.len()];
    loop {
        let mut best: Option<(Timestamp, usize, bool)> = None;
        for (i, b) in parts.iter().enumerate() {
            let (fi, hi) = pos[i];
            let cand = match (b.floats.get(fi), b.hists.get(hi)) {
                (Some(f), Some(h)) if h.0 < f.t => Some((h.0, false)),
                (Some(f), _) => Some((f.t, true)),
                (None, Some(h)) => Some((h.0, false)),
                (None, None) => None,
            };
            if let Some((t, float)) = cand
                && best.is_none_or(|(bt, ..)| t < bt)
            {
                best = Some((t, i, float));
            }
        }
        let Some((t, i, float)) = best else { return };
        let (fi, hi) = pos[i];
        if float {
            out.floats.push(parts[i].floats[fi]);
            if with_st {
                out.float_sts.push(parts[i].float_sts.get(fi).copied().unwrap_or(0));
            }
        } else {
            out.hists.push(parts[i].hists[hi].clone());
            if with_st {
                out.hist_sts.push(parts[i].hist_sts.get(hi).copied().unwrap_or(0));
            }
        }
        // Every source moves past `t`, so a sample held twice is taken once.
        for (j, b) in parts.iter().enumerate() {
            let (fi, hi) = &mut pos[j];
            while b.floats.get(*fi).is_some_and(|s| s.t <= t) {
                *fi += 1;
            }
            while b.hists.get(*hi).is_some_and(|h| h.0 <= t) {
                *hi += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Appendable, MemStorage, Queryable};
    use model::{MatchType, Value};

    fn store(data: &[(&str, &[(i64, f64)])]) -> MemStorage {
        let s = MemStorage::new();
        let mut app = s.appender();
        for (name, samples) in data {
            let l = Labels::from_pairs([("__name__", *name)]);
            for (t, v) in *samples {
                app.append(0, &l, 0, *t, Value::Float(*v), &Default::default()).unwrap();
            }
        }
        app.commit().unwrap();
        s
    }

    fn read(q: &dyn Querier) -> Vec<(String, Vec<(i64, f64)>)> {
        let m = Matcher::new(MatchType::Regexp, "__name__", ".+").unwrap();
        let mut set = q.select(false, None, &[m]);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let mut c = s.cursor();
            let mut v = Vec::new();
            while c.next() == ValueKind::Float {
                v.push(c.at());
            }
            out.push((s.labels.get("__name__").to_string(), v));
        }
        out
    }

    #[test]
    fn series_are_merged_by_labels_and_samples_by_time_once() {
        let a = store(&[("x", &[(1, 1.0), (2, 2.0), (3, 3.0)]), ("y", &[(1, 9.0)])]);
        let b = store(&[("x", &[(3, 3.0), (4, 4.0)]), ("z", &[(5, 5.0)])]);
        let q = MergeQuerier::boxed(vec![a.querier(0, 10).unwrap(), b.querier(0, 10).unwrap()]);
        assert_eq!(
            read(q.as_ref()),
            vec![
                ("x".to_string(), vec![(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]),
                ("y".to_string(), vec![(1, 9.0)]),
                ("z".to_string(), vec![(5, 5.0)]),
            ]
        );
        let (names, _) = q.label_values("__name__", &LabelHints::default(), &[]).unwrap();
        assert_eq!(names, vec!["x", "y", "z"]);
    }

    #[test]
    fn seek_never_moves_backwards_and_skips_in_every_source() {
        let a = store(&[("x", &[(1, 1.0), (5, 5.0), (9, 9.0)])]);
        let b = store(&[("x", &[(2, 2.0), (5, 5.0), (7, 7.0)])]);
        let q = MergeQuerier::new(vec![a.querier(0, 10).unwrap(), b.querier(0, 10).unwrap()]);
        let m = Matcher::new(MatchType::Equal, "__name__", "x").unwrap();
        let s = q.select(true, None, &[m]).next().unwrap();
        let mut c = s.cursor();
        assert_eq!(c.seek(3), ValueKind::Float);
        assert_eq!(c.at(), (5, 5.0));
        assert_eq!(c.seek(4), ValueKind::Float);
        assert_eq!(c.at_t(), 5);
        assert_eq!(c.next(), ValueKind::Float);
        assert_eq!(c.at(), (7, 7.0));
        assert_eq!(c.next(), ValueKind::Float);
        assert_eq!(c.at(), (9, 9.0));
        assert_eq!(c.next(), ValueKind::None);
        assert_eq!(c.next(), ValueKind::None);
    }

    #[test]
    fn bulk_reads_equal_stepping_for_overlapping_and_consecutive_sources() {
        let h = Arc::new(FloatHistogram { count: 3.0, ..Default::default() });
        let hist_store = |ts: &[i64]| {
            let s = MemStorage::new();
            let mut app = s.appender();
            let l = Labels::from_pairs([("__name__", "x")]);
            for t in ts {
                app.append(
                    0,
                    &l,
                    t * 10,
                    *t,
                    Value::FloatHistogram(h.clone()),
                    &Default::default(),
                )
                .unwrap();
            }
            app.commit().unwrap();
            s
        };
        let cases: Vec<Vec<MemStorage>> = vec![
            // Consecutive (blocks, then the head).
            vec![store(&[("x", &[(1, 1.0), (2, 2.0)])]), store(&[("x", &[(3, 3.0), (4, 4.0)])])],
            // Overlapping, with a timestamp held twice and histograms in between.
            vec![
                store(&[("x", &[(1, 1.0), (5, 5.0), (9, 9.0)])]),
                store(&[("x", &[(2, 2.0), (5, 50.0), (7, 7.0)])]),
                hist_store(&[3, 7, 8]),
            ],
            // One source empty in the range.
            vec![store(&[("x", &[(20, 1.0)])]), store(&[("x", &[(2, 2.0), (3, 3.0)])])],
        ];
        for (n, stores) in cases.iter().enumerate() {
            let cursor = || {
                let q =
                    MergeQuerier::new(stores.iter().map(|s| s.querier(0, 100).unwrap()).collect());
                let m = Matcher::new(MatchType::Equal, "__name__", "x").unwrap();
                q.select(true, None, &[m]).next().unwrap().cursor()
            };
            let (mut bulk, mut steps) = (SampleBatch::default(), SampleBatch::default());
            cursor().read_into(2, 8, true, &mut bulk);
            crate::cursor::read_by_steps(cursor().as_mut(), 2, 8, true, &mut steps);
            assert_eq!(bulk.floats, steps.floats, "case {n}");
            assert_eq!(bulk.float_sts, steps.float_sts, "case {n}");
            assert_eq!(bulk.hist_sts, steps.hist_sts, "case {n}");
            let times = |b: &SampleBatch| b.hists.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(times(&bulk), times(&steps), "case {n}");
            assert!(!bulk.is_empty(), "case {n}");
        }
    }
}
