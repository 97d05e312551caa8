//! The inverted index: label name → value → sorted series references.

use std::collections::BTreeMap;

use model::{Labels, Matcher};

/// Postings lists for every label pair.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    m: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
}

fn insert_sorted(list: &mut Vec<u64>, r: u64) {
    match list.last() {
        Some(&last) if last < r => list.push(r),
        None => list.push(r),
        _ => {
            if let Err(i) = list.binary_search(&r) {
                list.insert(i, r);
            }
        }
    }
}

/// Intersection of two sorted lists.
pub(crate) fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

impl Postings {
    pub(crate) fn add(&mut self, r: u64, labels: &Labels) {
        for l in labels.iter() {
            let list = self
                .m
                .entry(l.name.to_string())
                .or_default()
                .entry(l.value.to_string())
                .or_default();
            insert_sorted(list, r);
        }
    }

    pub(crate) fn remove(&mut self, r: u64, labels: &Labels) {
        for l in labels.iter() {
            if let Some(values) = self.m.get_mut(l.name) {
                if let Some(list) = values.get_mut(l.value) {
                    if let Ok(i) = list.binary_search(&r) {
                        list.remove(i);
                    }
                    if list.is_empty() {
                        values.remove(l.value);
                    }
                }
                if values.is_empty() {
                    self.m.remove(l.name);
                }
            }
        }
    }

    /// Sorted references of series whose label `m.name` has a non-empty value matching `m`.
    pub(crate) fn for_matcher(&self, m: &Matcher) -> Vec<u64> {
        let Some(values) = self.m.get(&m.name) else { return Vec::new() };
        if m.match_type == model::MatchType::Equal {
            return values.get(&m.value).cloned().unwrap_or_default();
        }
        let lists: Vec<&Vec<u64>> = match m.set_matches() {
            Some(set) => set.iter().filter_map(|v| values.get(*v)).collect(),
            None => values.iter().filter(|(v, _)| m.matches(v)).map(|(_, l)| l).collect(),
        };
        let mut out: Vec<u64> = lists.into_iter().flatten().copied().collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.m.keys().cloned().collect()
    }

    pub(crate) fn values(&self, name: &str) -> Vec<String> {
        self.m.get(name).map(|v| v.keys().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn cardinality(&self, limit: usize) -> super::Cardinality {
        fn top(mut v: Vec<(String, u64)>, limit: usize) -> Vec<(String, u64)> {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        }
        let mut pairs = Vec::new();
        let mut value_counts = Vec::new();
        let mut memory = Vec::new();
        let mut by_metric = Vec::new();
        let mut num_pairs = 0u64;
        for (name, values) in &self.m {
            value_counts.push((name.clone(), values.len() as u64));
            memory.push((name.clone(), values.keys().map(|v| v.len() as u64).sum()));
            for (value, list) in values {
                num_pairs += 1;
                pairs.push((format!("{name}={value}"), list.len() as u64));
                if name == "__name__" {
                    by_metric.push((value.clone(), list.len() as u64));
                }
            }
        }
        super::Cardinality {
            num_label_pairs: num_pairs,
            series_count_by_metric_name: top(by_metric, limit),
            label_value_count_by_label_name: top(value_counts, limit),
            memory_in_bytes_by_label_name: top(memory, limit),
            series_count_by_label_value_pair: top(pairs, limit),
        }
    }
}
