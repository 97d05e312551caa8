//! The head appender: checks Prometheus's ordering rules at append time, buffers, and applies on commit.
//!
//! With an out-of-order window, a float sample that cannot go in order (older than its series' newest sample,
//! or than the head's lower bound) but is not older than the head's newest sample minus the window is accepted
//! and goes into the series' out-of-order data at commit (see [`super::ooo`]); one older than that is a "too old
//! sample". The window and the head's newest timestamp are read once when the appender is made, as Prometheus
//! does. Whether a sample goes in order is decided again at commit, against what other commits applied since.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use model::{Exemplar, Labels, Timestamp, Value};
use storage::{AppendError, AppendOptions, Appender, SeriesRef, StorageError};

use super::series::{Added, OooRules, Series, value_bits};
use super::wbl::WblBatch;
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
    /// The out-of-order window (0 = off) and the head's newest timestamp when the appender was made.
    ooo_window: i64,
    head_maxt: i64,
}

/// Where [`HeadAppender::append`] puts a sample.
enum Verdict {
    /// Newer than the series' newest sample (or its first).
    InOrder,
    /// Within the out-of-order window.
    OutOfOrder,
    /// The newest sample again, same value: accepted and ignored.
    Ignore,
}

impl HeadAppender {
    pub(crate) fn new(head: Arc<Inner>) -> HeadAppender {
        head.counters.active_appenders.fetch_add(1, Ordering::Relaxed);
        let ooo_window = head.ooo_window.load(Ordering::Relaxed);
        let head_maxt = head.max_time.load(Ordering::Relaxed);
        HeadAppender {
            head,
            pending: Vec::new(),
            latest: HashMap::default(),
            exemplars: Vec::new(),
            ooo_window,
            head_maxt,
        }
    }

    /// Prometheus's `appendable`: in order, out of order, or which error.
    fn verdict(
        &self,
        t: i64,
        value: &Value,
        newest: Option<(i64, u64)>,
        min_valid: i64,
    ) -> Result<Verdict, AppendError> {
        if t >= min_valid {
            match newest {
                None => return Ok(Verdict::InOrder),
                Some((lt, _)) if t > lt => return Ok(Verdict::InOrder),
                // The same value again at the same time is accepted and ignored, as in Prometheus.
                Some((lt, lbits)) if t == lt => {
                    return if lbits == value_bits(value) {
                        Ok(Verdict::Ignore)
                    } else {
                        Err(AppendError::DuplicateSampleForTimestamp)
                    };
                }
                Some(_) => {}
            }
        }
        // Out-of-order native histograms are not kept: they follow the rules without a window.
        if self.ooo_window > 0 && matches!(value, Value::Float(_)) {
            if t >= self.head_maxt.saturating_sub(self.ooo_window) {
                return Ok(Verdict::OutOfOrder);
            }
            return Err(AppendError::TooOldSample);
        }
        if t < min_valid {
            return Err(AppendError::OutOfBounds);
        }
        Err(AppendError::OutOfOrderSample)
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
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError> {
        let min_valid = self.head.min_valid_time.load(Ordering::Relaxed);
        // Without a window an out-of-bounds sample fails fast; with one, it may go out of order.
        if self.ooo_window == 0 && t < min_valid {
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
        let counters = &self.head.counters;
        let verdict = self.verdict(t, &value, newest, min_valid);
        if matches!(
            verdict,
            Ok(Verdict::OutOfOrder)
                | Err(AppendError::OutOfOrderSample
                    | AppendError::TooOldSample
                    | AppendError::OutOfBounds)
        ) {
            counters.ooo_delta(self.head_maxt.saturating_sub(t));
        }
        match verdict {
            Ok(Verdict::InOrder) => {
                self.latest.insert(series.reference, (t, value_bits(&value)));
            }
            Ok(Verdict::OutOfOrder) if opts.discard_out_of_order => {
                Counters::rejected(&counters.out_of_order, &value);
                return Err(AppendError::OutOfOrderSample);
            }
            Ok(Verdict::OutOfOrder) => {}
            Ok(Verdict::Ignore) => return Ok(series.reference),
            Err(e) => {
                match e {
                    AppendError::OutOfOrderSample => {
                        Counters::rejected(&counters.out_of_order, &value);
                    }
                    AppendError::OutOfBounds => Counters::rejected(&counters.out_of_bounds, &value),
                    AppendError::TooOldSample => Counters::rejected(&counters.too_old, &value),
                    _ => {}
                }
                return Err(e);
            }
        }
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
        let (h, pending, exemplars, ooo_window, head_maxt) = (
            this.head.clone(),
            std::mem::take(&mut this.pending),
            std::mem::take(&mut this.exemplars),
            this.ooo_window,
            this.head_maxt,
        );
        drop(this);
        if pending.is_empty() && exemplars.is_empty() {
            return Ok(());
        }
        if pending.len() >= RESERVE_AFTER {
            h.append_hint.store(pending.len() + pending.len() / 16, Ordering::Relaxed);
        }
        // With a WAL the commit is logged first and applied while the log's lock is held (see `wal_log`).
        let mut logged = match &h.wal {
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
        let rules = (ooo_window > 0).then(|| OooRules {
            min_valid: h.min_valid_time.load(Ordering::Relaxed),
            ooo_min: head_maxt.saturating_sub(ooo_window),
            cap: h.ooo_cap(),
            mapper: h.mapper.as_ref(),
        });
        let mut wbl = WblBatch::default();
        let (mut ooo, mut too_old) = (0u64, 0u64);
        for (s, t, v) in &pending {
            let done = match (&rules, v) {
                (Some(rules), Value::Float(f)) => {
                    match s.add_float(*t, *f, rules, &h.counters.chunks) {
                        Added::InOrder(done) => done,
                        Added::OutOfOrder { ins, first } => {
                            if first {
                                h.note_ooo_series(s);
                            }
                            if let Some(m) = ins.marker {
                                wbl.marker(s.reference, m);
                            }
                            if ins.inserted {
                                wbl.sample(s.reference, *t, *f);
                                ooo += 1;
                            }
                            continue;
                        }
                        Added::TooOld => {
                            too_old += 1;
                            continue;
                        }
                    }
                }
                _ => s.append(*t, v, &h.counters.chunks),
            };
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
        h.counters.samples_appended.fetch_add(floats + ooo, Ordering::Relaxed);
        h.counters.histograms_appended.fetch_add(hists, Ordering::Relaxed);
        h.counters.ooo_appended.fetch_add(ooo, Ordering::Relaxed);
        h.counters.too_old[0].fetch_add(too_old, Ordering::Relaxed);
        // The out-of-order samples reach the WBL before the commit is acknowledged. They are applied already
        // (only applying tells which samples went out of order), so a failure is reported but not undone.
        let mut res = Ok(());
        if !wbl.is_empty()
            && let Some(b) = logged.as_mut().and_then(|w| w.wbl.as_mut())
        {
            res = b.log(&wbl).map_err(|e| StorageError::Io {
                context: "log out-of-order samples to WBL".to_string(),
                message: e.to_string(),
            });
        }
        if !exemplars.is_empty() {
            let mut store = h.exemplars.lock();
            for (r, e, t) in exemplars {
                store.add(r, e, t);
            }
        }
        drop(logged);
        res
    }

    fn rollback(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }
}
