//! Exemplar storage: one circular buffer shared by all series, as Prometheus's `CircularExemplarStorage`. The
//! oldest exemplars are overwritten when it is full; per series only newer exemplars are accepted.

use std::collections::VecDeque;

use model::{Exemplar, Labels};
use rustc_hash::FxHashMap as HashMap;
use storage::AppendError;

/// Maximum total length (in characters) of an exemplar's label names and values, as in OpenMetrics.
pub(crate) const MAX_LABEL_SET_LENGTH: usize = 128;

#[derive(Debug, Default)]
pub(crate) struct ExemplarStore {
    cap: usize,
    ring: VecDeque<(u64, Exemplar, i64)>,
    /// Newest exemplar timestamp, value bits and labels per series.
    newest: HashMap<u64, (i64, u64, Labels)>,
}

impl ExemplarStore {
    pub(crate) fn new(cap: usize) -> ExemplarStore {
        ExemplarStore { cap, ring: VecDeque::new(), newest: HashMap::default() }
    }

    /// Changes the capacity, dropping the oldest exemplars that no longer fit.
    pub(crate) fn resize(&mut self, cap: usize) {
        self.cap = cap;
        while self.ring.len() > cap {
            if let Some((r, _, t)) = self.ring.pop_front()
                && self.newest.get(&r).is_some_and(|(nt, _, _)| *nt == t)
            {
                self.newest.remove(&r);
            }
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.cap > 0
    }

    /// Checks an exemplar against Prometheus's rules without storing it.
    pub(crate) fn validate(&self, series: u64, e: &Exemplar, t: i64) -> Result<(), AppendError> {
        let len: usize =
            e.labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
        if len > MAX_LABEL_SET_LENGTH {
            return Err(AppendError::ExemplarLabelLength);
        }
        match self.newest.get(&series) {
            Some((nt, bits, labels))
                if *nt == t && *bits == e.value.to_bits() && *labels == e.labels =>
            {
                Err(AppendError::DuplicateExemplar)
            }
            Some((nt, _, _)) if t <= *nt => Err(AppendError::OutOfOrderExemplar),
            _ => Ok(()),
        }
    }

    /// Stores a validated exemplar at time `t`.
    pub(crate) fn add(&mut self, series: u64, e: Exemplar, t: i64) {
        if self.cap == 0 {
            return;
        }
        if self.ring.len() == self.cap
            && let Some((old_ref, _, old_t)) = self.ring.pop_front()
            && self.newest.get(&old_ref).is_some_and(|(nt, _, _)| *nt == old_t)
        {
            self.newest.remove(&old_ref);
        }
        self.newest.insert(series, (t, e.value.to_bits(), e.labels.clone()));
        self.ring.push_back((series, e, t));
    }

    /// Exemplars of `series` (by reference) in `[start, end]`, oldest first, grouped per series in first-seen
    /// order.
    pub(crate) fn select(
        &self,
        series: &HashMap<u64, Labels>,
        start: i64,
        end: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let mut order: Vec<u64> = Vec::new();
        let mut by_series: HashMap<u64, Vec<Exemplar>> = HashMap::default();
        for (r, e, t) in &self.ring {
            if *t < start || *t > end || !series.contains_key(r) {
                continue;
            }
            let list = by_series.entry(*r).or_insert_with(|| {
                order.push(*r);
                Vec::new()
            });
            list.push(Exemplar { labels: e.labels.clone(), value: e.value, ts: Some(*t) });
        }
        order
            .into_iter()
            .filter_map(|r| Some((series.get(&r)?.clone(), by_series.remove(&r)?)))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Every stored exemplar (series reference, exemplar, timestamp), oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(u64, Exemplar, i64)> {
        self.ring.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(trace: &str, v: f64) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", trace)]), value: v, ts: None }
    }

    #[test]
    fn validation_ring_and_selection() {
        let mut s = ExemplarStore::new(3);
        assert!(s.validate(1, &ex("a", 1.0), 10).is_ok());
        s.add(1, ex("a", 1.0), 10);
        assert_eq!(s.validate(1, &ex("a", 1.0), 10), Err(AppendError::DuplicateExemplar));
        assert_eq!(s.validate(1, &ex("b", 2.0), 5), Err(AppendError::OutOfOrderExemplar));
        let long = "x".repeat(130);
        assert_eq!(s.validate(1, &ex(&long, 1.0), 20), Err(AppendError::ExemplarLabelLength));
        s.add(1, ex("b", 2.0), 20);
        s.add(2, ex("c", 3.0), 20);
        s.add(2, ex("d", 4.0), 30);
        assert_eq!(s.len(), 3);
        let names: HashMap<u64, Labels> = [
            (1, Labels::from_pairs([("__name__", "x")])),
            (2, Labels::from_pairs([("__name__", "y")])),
        ]
        .into_iter()
        .collect();
        let got = s.select(&names, 0, 25);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.len(), 1, "the oldest exemplar was overwritten");
        assert_eq!(got[0].1[0].ts, Some(20));
        assert_eq!(got[1].1[0].labels.get("trace_id"), "c");
    }
}
