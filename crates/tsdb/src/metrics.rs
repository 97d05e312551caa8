//! Aggregates behind the `prometheus_tsdb_*` histograms and summaries. The TSDB observes into them; the binary
//! reads them and renders the metrics (this crate knows no metrics library).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A classic histogram with fixed upper bounds (the `+Inf` bucket is implicit).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, ascending.
    pub bounds: Vec<f64>,
    /// Observations per bucket, not cumulative: one entry per bound, then the `+Inf` bucket.
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Default for Histogram {
    /// No bounds: only the `+Inf` bucket.
    fn default() -> Histogram {
        Histogram::with_bounds(&[])
    }
}

impl Histogram {
    /// `n` bounds `start`, `start × factor`, … (client_golang's `ExponentialBuckets`).
    pub fn exponential(start: f64, factor: f64, n: usize) -> Histogram {
        let bounds: Vec<f64> =
            (0..n).scan(start, |b, _| Some(std::mem::replace(b, *b * factor))).collect();
        Histogram { counts: vec![0; bounds.len() + 1], bounds, sum: 0.0, count: 0 }
    }

    /// A histogram with the given ascending upper bounds.
    pub fn with_bounds(bounds: &[f64]) -> Histogram {
        Histogram { counts: vec![0; bounds.len() + 1], bounds: bounds.to_vec(), sum: 0.0, count: 0 }
    }

    /// Records one observation.
    pub fn observe(&mut self, v: f64) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// Sum and count of durations: a summary without quantiles (Prometheus's head GC and WAL truncation
/// durations).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DurationTotals {
    /// Seconds observed in total.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
}

impl DurationTotals {
    /// Records one duration.
    pub fn observe(&mut self, d: Duration) {
        self.sum_seconds += d.as_secs_f64();
        self.count += 1;
    }
}

/// Most recent observations a [`DurationLog`] keeps until they are taken.
const RECENT_MAX: usize = 4096;

/// Durations for a summary with quantiles: exact totals, plus the recent observations with their times for a
/// consumer that keeps the quantile window (the newest [`RECENT_MAX`] between two takes).
#[derive(Debug, Clone, Default)]
pub struct DurationLog {
    /// Totals since start.
    pub totals: DurationTotals,
    recent: VecDeque<(Instant, f64)>,
}

impl DurationLog {
    /// Records one duration that ended now.
    pub fn observe(&mut self, d: Duration) {
        self.totals.observe(d);
        if self.recent.len() == RECENT_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((Instant::now(), d.as_secs_f64()));
    }

    /// Takes the observations made since the last call, oldest first, with when they were made.
    pub fn take_recent(&mut self) -> Vec<(Instant, f64)> {
        self.recent.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_buckets_as_client_golang() {
        let mut h = Histogram::exponential(1.0, 2.0, 4);
        assert_eq!(h.bounds, vec![1.0, 2.0, 4.0, 8.0]);
        for v in [0.5, 1.0, 3.0, 100.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, vec![2, 0, 1, 0, 1]);
        assert_eq!((h.sum, h.count), (104.5, 4));
    }

    #[test]
    fn duration_log_keeps_totals_and_hands_recent_out_once() {
        let mut l = DurationLog::default();
        for _ in 0..RECENT_MAX + 3 {
            l.observe(Duration::from_millis(2));
        }
        assert_eq!(l.totals.count, (RECENT_MAX + 3) as u64);
        assert_eq!(l.take_recent().len(), RECENT_MAX);
        assert!(l.take_recent().is_empty());
    }
}
