//! The head appender: checks Prometheus's ordering rules at append time, buffers, and applies on commit.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use model::{Exemplar, Labels, Timestamp, Value};
use storage::{AppendError, AppendOptions, Appender, SeriesRef, StorageError};

use super::series::{Series, value_bits};
use super::{Counters, Inner};

/// Appends after which an appender reserves room for a batch as large as the last large commit.
const RESERVE_AFTER: usize = 16;
/// At most this many samples are reserved up front.
const MAX_RESERVE: usize = 8192;

pub(crate) struct HeadAppender {
    head: Arc<Inner>,
    pending: Vec<(Arc<Series>, Timestamp, Value)>,
    /// Newest pending timestamp and value bits per series reference.
    latest: HashMap<u64, (i64, u64)>,
    exemplars: Vec<(u64, Exemplar, i64)>,
}

impl HeadAppender {
    pub(crate) fn new(head: Arc<Inner>) -> HeadAppender {
        head.counters.active_appenders.fetch_add(1, Ordering::Relaxed);
        HeadAppender {
            head,
            pending: Vec::new(),
            latest: HashMap::default(),
            exemplars: Vec::new(),
        }
    }
}

impl Drop for HeadAppender {
    fn drop(&mut self) {
        self.head.counters.active_appenders.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Appender for HeadAppender {
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        _start_ts: Timestamp,
        t: Timestamp,
        value: Value,
        _opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        if t < self.head.min_valid_time.load(Ordering::Relaxed) {
            Counters::rejected(&self.head.counters.out_of_bounds, &value);
            return Err(AppendError::OutOfBounds);
        }
        // A known reference is trusted: references are never handed out twice.
        let series = match self.head.series_by_ref(series_ref) {
            Some(s) => s,
            None => {
                if labels.is_empty() {
                    return Err(AppendError::InvalidLabels("empty label set".to_string()));
                }
                self.head.get_or_create(labels).0
            }
        };
        let newest = match self.latest.get(&series.reference) {
            Some(p) => Some(*p),
            None => series.last(),
        };
        if let Some((lt, lbits)) = newest {
            if t < lt {
                Counters::rejected(&self.head.counters.out_of_order, &value);
                return Err(AppendError::OutOfOrderSample);
            }
            if t == lt {
                // The same value again at the same time is accepted and ignored, as in Prometheus.
                if lbits == value_bits(&value) {
                    return Ok(series.reference);
                }
                return Err(AppendError::DuplicateSampleForTimestamp);
            }
        }
        self.latest.insert(series.reference, (t, value_bits(&value)));
        let r = series.reference;
        self.pending.push((series, t, value));
        if self.pending.len() == RESERVE_AFTER {
            // A large batch (a scrape): make room for as many samples as the last large commit had at once,
            // instead of growing and rehashing step by step.
            // Capped: a huge batch must not make every later medium one allocate as much.
            let hint = self.head.append_hint.load(Ordering::Relaxed).min(MAX_RESERVE);
            if hint > RESERVE_AFTER {
                self.pending.reserve(hint);
                self.latest.reserve(hint);
            }
        }
        Ok(r)
    }

    /// Exemplars are checked against the stored ones and those pending in this batch; one without a timestamp
    /// takes the timestamp of the series' sample in this batch.
    fn append_exemplars(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplars: &[Exemplar],
    ) -> Result<SeriesRef, AppendError> {
        // Trusted as in `append`.
        let series = match self.head.series_by_ref(series_ref) {
            Some(s) => s,
            None => self.head.get_or_create(labels).0,
        };
        let r = series.reference;
        let store = self.head.exemplars.lock();
        if !store.enabled() {
            return Ok(r);
        }
        let default_t = self.latest.get(&r).map(|(t, _)| *t);
        for e in exemplars {
            let Some(t) = e.ts.or(default_t) else { continue };
            if let Some((_, last, lt)) = self.exemplars.iter().rev().find(|(x, _, _)| *x == r) {
                if *lt == t && last.value.to_bits() == e.value.to_bits() && last.labels == e.labels
                {
                    return Err(AppendError::DuplicateExemplar);
                }
                if t <= *lt {
                    return Err(AppendError::OutOfOrderExemplar);
                }
            } else {
                store.validate(r, e, t)?;
            }
            self.exemplars.push((r, e.clone(), t));
        }
        Ok(r)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut this = *self;
        let (h, pending, exemplars) = (
            this.head.clone(),
            std::mem::take(&mut this.pending),
            std::mem::take(&mut this.exemplars),
        );
        drop(this);
        if pending.is_empty() && exemplars.is_empty() {
            return Ok(());
        }
        if pending.len() >= RESERVE_AFTER {
            h.append_hint.store(pending.len() + pending.len() / 16, Ordering::Relaxed);
        }
        // With a WAL the commit is logged first and applied while the log's lock is held (see `wal_log`).
        let _logged = match &h.wal {
            Some(w) => {
                let mut w = w.lock();
                w.log_commit(&pending, &exemplars, |r| h.series_by_ref(r)).map_err(|e| {
                    StorageError::Io {
                        context: "log samples to WAL".to_string(),
                        message: e.to_string(),
                    }
                })?;
                Some(w)
            }
            None => None,
        };
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        let (mut floats, mut hists) = (0u64, 0u64);
        for (s, t, v) in &pending {
            let done = s.append(*t, v, &h.counters.chunks);
            if matches!(done, super::series::Appended::Yes { cut: true }) {
                h.chunk_cut(s);
            }
            if done.appended() {
                min = min.min(*t);
                max = max.max(*t);
                if matches!(v, Value::Float(_)) {
                    floats += 1;
                } else {
                    hists += 1;
                }
            }
        }
        h.min_time.fetch_min(min, Ordering::Relaxed);
        h.max_time.fetch_max(max, Ordering::Relaxed);
        h.counters.samples_appended.fetch_add(floats, Ordering::Relaxed);
        h.counters.histograms_appended.fetch_add(hists, Ordering::Relaxed);
        if !exemplars.is_empty() {
            let mut store = h.exemplars.lock();
            for (r, e, t) in exemplars {
                store.add(r, e, t);
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}
