//! A simple in-memory storage: a sorted map from label set to samples. It is the reference implementation of the
//! contract, used by the PromQL test runner, `promtool test rules` and unit tests. It is not tuned for size.

use std::collections::BTreeMap;
use std::sync::Arc;

use model::{Labels, Matcher, Timestamp, Value};
use parking_lot::RwLock;

use crate::{
    AppendError, AppendOptions, Appendable, Appender, CursorSource, LabelHints, Querier, Queryable,
    SampleCursor, Series, SeriesRef, SeriesSet, StorageError, VecCursor, VecSeriesSet, Warnings,
    matches_all,
};

type Samples = Arc<Vec<(Timestamp, Value)>>;

/// In-memory storage. Cloning shares the data.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: Arc<RwLock<BTreeMap<Labels, Samples>>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.series.write().clear();
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.series.read().len()
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender { store: self, pending: Vec::new() })
    }
}

struct MemAppender<'a> {
    store: &'a MemStorage,
    pending: Vec<(Labels, Timestamp, Value)>,
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        _series_ref: SeriesRef,
        labels: &Labels,
        _start_ts: Timestamp,
        t: Timestamp,
        value: Value,
        _opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels("empty label set".to_string()));
        }
        self.pending.push((labels.clone(), t, value));
        Ok(0)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut map = self.store.series.write();
        for (labels, t, v) in self.pending {
            let entry = map.entry(labels).or_default();
            let samples = Arc::make_mut(entry);
            match samples.binary_search_by_key(&t, |(st, _)| *st) {
                Ok(i) => samples[i] = (t, v),
                Err(i) => samples.insert(i, (t, v)),
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier { store: self.clone(), mint, maxt }))
    }
}

struct MemQuerier {
    store: MemStorage,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, Samples)> {
        let map = self.store.series.read();
        map.iter()
            .filter(|(l, s)| {
                matches_all(l, matchers)
                    && s.iter().any(|(t, _)| *t >= self.mint && *t <= self.maxt)
            })
            .map(|(l, s)| (l.clone(), s.clone()))
            .collect()
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        _sorted: bool,
        _hints: Option<&crate::SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet> {
        if matchers.iter().all(Matcher::matches_empty) {
            return Box::new(VecSeriesSet::default());
        }
        let series = self
            .matching(matchers)
            .into_iter()
            .map(|(labels, samples)| {
                let src = MemSource { samples, mint: self.mint, maxt: self.maxt };
                Series::new(labels, Arc::new(src))
            })
            .collect();
        Box::new(VecSeriesSet::new(series, Vec::new()))
    }

    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let m = self.matching(matchers);
        let vals = crate::distinct_values(m.iter().map(|(l, _)| l), name, hints.limit);
        Ok((vals, Vec::new()))
    }

    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError> {
        let m = self.matching(matchers);
        let names = crate::distinct_names(m.iter().map(|(l, _)| l), hints.limit);
        Ok((names, Vec::new()))
    }
}

struct MemSource {
    samples: Samples,
    mint: Timestamp,
    maxt: Timestamp,
}

impl CursorSource for MemSource {
    fn cursor(&self) -> Box<dyn SampleCursor> {
        let lo = self.samples.partition_point(|(t, _)| *t < self.mint);
        let hi = self.samples.partition_point(|(t, _)| *t <= self.maxt);
        Box::new(VecCursor::new(self.samples.clone(), lo, hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueKind;
    use model::MatchType;

    #[test]
    fn append_commit_select_round_trip() {
        let s = MemStorage::new();
        let l1 = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let l2 = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        let mut app = s.appender();
        for t in [3, 1, 2] {
            app.append(0, &l1, 0, t * 1000, Value::Float(t as f64), &AppendOptions::default())
                .unwrap();
        }
        app.append(0, &l2, 0, 5000, Value::Float(9.0), &AppendOptions::default()).unwrap();
        app.commit().unwrap();

        let q = s.querier(0, 2500).unwrap();
        let m = [Matcher::new(MatchType::Equal, "__name__", "up").unwrap()];
        let mut set = q.select(true, None, &m);
        let series = set.next().unwrap();
        assert_eq!(series.labels, l1);
        let mut c = series.cursor();
        let mut got = Vec::new();
        while c.next() == ValueKind::Float {
            got.push(c.at());
        }
        assert_eq!(got, vec![(1000, 1.0), (2000, 2.0)]);
        assert!(set.next().is_none(), "series b has no samples in range");

        let (vals, _) =
            s.querier(0, 10_000).unwrap().label_values("job", &LabelHints::default(), &[]).unwrap();
        assert_eq!(vals, vec!["a", "b"]);
    }

    #[test]
    fn rollback_discards() {
        let s = MemStorage::new();
        let mut app = s.appender();
        app.append(
            0,
            &Labels::from_pairs([("a", "b")]),
            0,
            1,
            Value::Float(1.0),
            &AppendOptions::default(),
        )
        .unwrap();
        app.rollback().unwrap();
        assert_eq!(s.series_count(), 0);
    }
}
