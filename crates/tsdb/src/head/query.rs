//! Reading the head: postings-based selection and owned cursors over chunk snapshots.

use std::sync::Arc;

use model::{Matcher, Value};
use storage::{
    CursorSource, LabelHints, Querier, SampleCursor, SelectHints, Series as StorageSeries,
    SeriesSet, StorageError, VecCursor, VecSeriesSet, Warnings, matches_all,
};

use super::Inner;
use super::index::intersect;
use super::series::{Series, Snapshot};

pub(crate) struct HeadQuerier {
    head: Arc<Inner>,
    mint: i64,
    maxt: i64,
}

impl HeadQuerier {
    pub(crate) fn new(head: Arc<Inner>, mint: i64, maxt: i64) -> HeadQuerier {
        HeadQuerier { head, mint, maxt }
    }

    /// Series matching every matcher; `None` when no matcher restricts the set (the caller decides).
    pub(crate) fn matching(&self, matchers: &[Matcher]) -> Option<Vec<Arc<Series>>> {
        let mut refs: Option<Vec<u64>> = None;
        {
            let postings = self.head.postings.read();
            for m in matchers.iter().filter(|m| !m.matches_empty()) {
                let list = postings.for_matcher(m);
                refs = Some(match refs {
                    None => list,
                    Some(cur) => intersect(&cur, &list),
                });
            }
        }
        let refs = refs?;
        Some(
            refs.iter()
                .filter_map(|r| self.head.by_ref.get(*r))
                .filter(|s| matches_all(&s.labels, matchers))
                .collect(),
        )
    }

    fn with_data(&self, series: Vec<Arc<Series>>) -> Vec<(Arc<Series>, Snapshot)> {
        series
            .into_iter()
            .filter_map(|s| s.snapshot(self.mint, self.maxt).map(|snap| (s, snap)))
            .collect()
    }
}

impl Querier for HeadQuerier {
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        let Some(mut series) = self.matching(matchers) else {
            return Box::new(VecSeriesSet::default());
        };
        if sorted {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        let limit = hints.map_or(0, |h| h.limit);
        Box::new(LazySeriesSet {
            series: series.into_iter(),
            mint: self.mint,
            maxt: self.maxt,
            left: if limit > 0 { limit } else { usize::MAX },
        })
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let vals = if matchers.is_empty() {
            storage::sorted_limited(self.head.postings.read().values(name), hints.limit)
        } else {
            let series = self.with_data(self.matching(matchers).unwrap_or_default());
            storage::distinct_values(series.iter().map(|(s, _)| &s.labels), name, hints.limit)
        };
        Ok((vals, Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let names = if matchers.is_empty() {
            storage::sorted_limited(self.head.postings.read().names(), hints.limit)
        } else {
            let series = self.with_data(self.matching(matchers).unwrap_or_default());
            storage::distinct_names(series.iter().map(|(s, _)| &s.labels), hints.limit)
        };
        Ok((names, Vec::new()))
    }
}

/// Takes each series' snapshot only when the reader gets to it, so a query that stops early (sample limit,
/// timeout) never copies the rest.
struct LazySeriesSet {
    series: std::vec::IntoIter<Arc<Series>>,
    mint: i64,
    maxt: i64,
    left: usize,
}

impl SeriesSet for LazySeriesSet {
    fn next(&mut self) -> Option<StorageSeries> {
        if self.left == 0 {
            return None;
        }
        for s in self.series.by_ref() {
            if let Some(snap) = s.snapshot(self.mint, self.maxt) {
                self.left -= 1;
                let source = Source { snap, mint: self.mint, maxt: self.maxt };
                return Some(StorageSeries::new(s.labels.clone(), Arc::new(source)));
            }
        }
        None
    }
}

struct Source {
    snap: Snapshot,
    mint: i64,
    maxt: i64,
}

impl CursorSource for Source {
    fn cursor(&self) -> Box<dyn SampleCursor> {
        let mut floats = Vec::new();
        self.snap.decode_floats(self.mint, self.maxt, &mut floats);
        let mut samples: Vec<(i64, Value)> =
            floats.into_iter().map(|(t, v)| (t, Value::Float(v))).collect();
        if !self.snap.hist.is_empty() {
            samples.extend(self.snap.hist.iter().cloned());
            samples.sort_by_key(|(t, _)| *t);
        }
        let n = samples.len();
        Box::new(VecCursor::new(Arc::new(samples), 0, n))
    }
}
