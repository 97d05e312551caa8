//! A simple in-memory storage: a sorted map from label set to samples. It is the reference implementation of the
//! contract, used by the PromQL test runner, `promtool test rules` and unit tests. It is not tuned for size. It keeps
//! the start timestamp given with each sample.

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

/// One series: its samples and, parallel to them, their start timestamps (0 where none was given).
#[derive(Debug, Clone, Default)]
struct MemSeries {
    samples: Samples,
    sts: Arc<Vec<Timestamp>>,
}

/// In-memory storage. Cloning shares the data.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: Arc<RwLock<BTreeMap<Labels, MemSeries>>>,
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
    pending: Vec<(Labels, Timestamp, Timestamp, Value)>,
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        _series_ref: SeriesRef,
        labels: &Labels,
        start_ts: Timestamp,
        t: Timestamp,
        value: Value,
        _opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels("empty label set".to_string()));
        }
        self.pending.push((labels.clone(), start_ts, t, value));
        Ok(0)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut map = self.store.series.write();
        for (labels, st, t, v) in self.pending {
            let entry = map.entry(labels).or_default();
            let samples = Arc::make_mut(&mut entry.samples);
            let sts = Arc::make_mut(&mut entry.sts);
            match samples.binary_search_by_key(&t, |(t, _)| *t) {
                Ok(i) => {
                    samples[i] = (t, v);
                    sts[i] = st;
                }
                Err(i) => {
                    samples.insert(i, (t, v));
                    sts.insert(i, st);
                }
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
    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, MemSeries)> {
        let map = self.store.series.read();
        map.iter()
            .filter(|(l, s)| {
                matches_all(l, matchers)
                    && s.samples.iter().any(|(t, _)| *t >= self.mint && *t <= self.maxt)
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
            .map(|(labels, series)| {
                let src = MemSource { series, mint: self.mint, maxt: self.maxt };
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
    series: MemSeries,
    mint: Timestamp,
    maxt: Timestamp,
}

impl CursorSource for MemSource {
    fn cursor(&self) -> Box<dyn SampleCursor> {
        let samples = &self.series.samples;
        let lo = samples.partition_point(|(t, _)| *t < self.mint);
        let hi = samples.partition_point(|(t, _)| *t <= self.maxt);
        Box::new(VecCursor::with_start_timestamps(samples.clone(), self.series.sts.clone(), lo, hi))
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
    fn start_timestamps_are_kept_per_sample() {
        let s = MemStorage::new();
        let l = Labels::from_pairs([("__name__", "c_total")]);
        let mut app = s.appender();
        for (st, t) in [(500, 2000), (0, 1000), (1500, 3000)] {
            app.append(0, &l, st, t, Value::Float(1.0), &AppendOptions::default()).unwrap();
        }
        app.commit().unwrap();
        let m = [Matcher::new(MatchType::Equal, "__name__", "c_total").unwrap()];
        let mut set = s.querier(1500, 5000).unwrap().select(true, None, &m);
        let mut c = set.next().unwrap().cursor();
        let mut got = Vec::new();
        while c.next() == ValueKind::Float {
            got.push((c.at_st(), c.at_t()));
        }
        assert_eq!(
            got,
            vec![(500, 2000), (1500, 3000)],
            "sorted by time, each sample with its own ST"
        );
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
